//! Bind authorisation: brute-force lockout per source IP, constant-time password checks (also
//! for unknown `system_id`s), allowed networks and bind modes — with the seed's statuses.
//!
//! An argon2 check costs ~20 ms and 19 MiB by design, which a reconnect storm of hundreds of
//! sessions would pay in full. So a password that verified once is remembered as an HMAC under a
//! key drawn at start (never stored, never logged): the same `system_id`, hash and password bind
//! again without argon2. Only a correct password takes that path; anything else still runs
//! argon2, so timing tells an attacker nothing new.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Argon2, PasswordHash, PasswordVerifier};
use tokio::sync::Semaphore;

use crate::config::router::Security;
use crate::config::{Account, Accounts};
use crate::smpp::CommandStatus;
use crate::smpp::session::BindMode;

/// Failed binds from one address.
#[derive(Clone, Copy, Debug)]
struct Failures {
    count: u32,
    since: Instant,
    blocked_until: Option<Instant>,
}

/// Decides binds.
pub struct BindGuard {
    security: Security,
    failures: Mutex<HashMap<IpAddr, Failures>>,
    /// Argon2 uses ~19 MiB per check, which the allocator keeps per thread afterwards: one at a
    /// time (correct passwords are remembered, so this only paces first binds and failures).
    permits: Semaphore,
    /// Checked against when the `system_id` is unknown, so both cases cost the same.
    dummy_hash: String,
    /// Passwords that verified: system_id → (the PHC hash they verified against, HMAC).
    verified: Mutex<HashMap<String, (String, ring::hmac::Tag)>>,
    hmac_key: ring::hmac::Key,
}

impl BindGuard {
    /// A guard with the given lockout policy.
    pub fn new(security: Security) -> Self {
        Self {
            security,
            failures: Mutex::new(HashMap::new()),
            permits: Semaphore::new(1),
            dummy_hash: hash_password("not a real password").unwrap_or_default(),
            verified: Mutex::new(HashMap::new()),
            hmac_key: hmac_key(),
        }
    }

    /// Whether `password` is the one that verified last time for this account and hash.
    fn remembered(&self, account: &Account, password: &[u8]) -> bool {
        let map = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&account.system_id)
            .filter(|(hash, _)| *hash == account.password_hash)
            .is_some_and(|(_, tag)| {
                ring::hmac::verify(&self.hmac_key, password, tag.as_ref()).is_ok()
            })
    }

    fn remember(&self, account: &Account, password: &[u8]) {
        let tag = ring::hmac::sign(&self.hmac_key, password);
        let mut map = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(
            account.system_id.clone(),
            (account.password_hash.clone(), tag),
        );
    }

    /// Whether `ip` is locked out at `now`.
    pub fn is_blocked(&self, ip: IpAddr, now: Instant) -> bool {
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&ip)
            .and_then(|f| f.blocked_until)
            .is_some_and(|until| now < until)
    }

    fn record_failure(&self, ip: IpAddr, now: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let f = map.entry(ip).or_insert(Failures {
            count: 0,
            since: now,
            blocked_until: None,
        });
        if now.duration_since(f.since) > self.security.bind_failure_window {
            *f = Failures {
                count: 0,
                since: now,
                blocked_until: None,
            };
        }
        f.count += 1;
        if f.count >= self.security.max_bind_failures {
            f.blocked_until = Some(now + self.security.block_duration);
            tracing::warn!(%ip, failures = f.count, "bind source blocked after repeated failures");
        }
        // Keep the table bounded under a spray of addresses: forget stale entries.
        if map.len() > 100_000 {
            let window = self
                .security
                .bind_failure_window
                .max(self.security.block_duration);
            map.retain(|_, f| now.duration_since(f.since) < window);
        }
    }

    fn record_success(&self, ip: IpAddr) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&ip);
    }

    /// Authorises a bind; the error is the status of the `bind_*_resp`.
    pub async fn authorize(
        &self,
        accounts: &Accounts,
        system_id: &[u8],
        password: &[u8],
        mode: BindMode,
        ip: IpAddr,
        now: Instant,
    ) -> Result<Arc<Account>, CommandStatus> {
        if self.is_blocked(ip, now) {
            return Err(CommandStatus::RBINDFAIL);
        }
        let account = std::str::from_utf8(system_id)
            .ok()
            .and_then(|id| accounts.get(id))
            .cloned();
        // An address outside the account's allowlist is refused before the password is looked
        // at: its answer must not tell a right password from a wrong one.
        if account.as_ref().is_some_and(|a| !a.ip_allowed(ip)) {
            self.record_failure(ip, now);
            return Err(CommandStatus::RBINDFAIL);
        }
        if let Some(a) = account.as_ref().filter(|a| self.remembered(a, password)) {
            return self.admit(a.clone(), mode, ip);
        }
        let hash = account
            .as_ref()
            .map_or(self.dummy_hash.clone(), |a| a.password_hash.clone());
        let plain = password.to_vec();
        let verified = {
            let _permit = self
                .permits
                .acquire()
                .await
                .map_err(|_| CommandStatus::RSYSERR)?;
            // A bind of the same account may have verified while this one waited.
            if let Some(a) = account.as_ref().filter(|a| self.remembered(a, password)) {
                return self.admit(a.clone(), mode, ip);
            }
            tokio::task::spawn_blocking(move || verify_password(&plain, &hash))
                .await
                .unwrap_or(false)
        };
        let Some(account) = account.filter(|_| verified) else {
            self.record_failure(ip, now);
            return Err(CommandStatus::RINVPASWD);
        };
        self.remember(&account, password);
        self.admit(account, mode, ip)
            .inspect_err(|_| self.record_failure(ip, now))
    }

    /// The checks after the password: network and bind mode.
    fn admit(
        &self,
        account: Arc<Account>,
        mode: BindMode,
        ip: IpAddr,
    ) -> Result<Arc<Account>, CommandStatus> {
        if !account.ip_allowed(ip) || !account.mode_allowed(mode) {
            return Err(CommandStatus::RBINDFAIL);
        }
        self.record_success(ip);
        Ok(account)
    }
}

/// A fresh random HMAC key for this process.
fn hmac_key() -> ring::hmac::Key {
    let mut bytes = [0u8; 32];
    rand::Rng::fill(&mut rand::rng(), &mut bytes[..]);
    ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &bytes)
}

/// Checks `password` against an argon2 PHC string, in constant time for the comparison.
pub fn verify_password(password: &[u8], hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password, &h).is_ok())
}

/// Hashes a password with argon2id and the crate's default (OWASP) parameters and a random salt.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let mut salt = [0u8; 16];
    rand::Rng::fill(&mut rand::rng(), &mut salt[..]);
    let salt = SaltString::encode_b64(&salt)?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify() {
        let h = hash_password("s3cret").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(b"s3cret", &h));
        assert!(!verify_password(b"other", &h));
        assert!(!verify_password(b"s3cret", "garbage"));
    }

    fn accounts(hash: &str) -> Accounts {
        let text = format!("[[account]]\nsystem_id = \"acme\"\npassword_hash = \"{hash}\"\n");
        crate::config::RoutesFile::parse(std::path::Path::new("routes.toml"), &text)
            .unwrap()
            .accounts
    }

    fn cheap_hash(password: &str) -> String {
        let params = argon2::Params::new(8, 1, 1, None).unwrap();
        let a = Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        a.hash_password(password.as_bytes(), &salt)
            .unwrap()
            .to_string()
    }

    #[tokio::test]
    async fn remembered_passwords_follow_the_configured_hash() {
        let g = BindGuard::new(Security::default());
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let now = Instant::now();
        let old = accounts(&cheap_hash("old"));
        let bind = |acc, pw: &'static str| {
            g.authorize(acc, b"acme", pw.as_bytes(), BindMode::Transceiver, ip, now)
        };
        assert!(bind(&old, "old").await.is_ok());
        assert!(bind(&old, "old").await.is_ok(), "remembered");
        assert_eq!(
            bind(&old, "wrong").await.unwrap_err(),
            CommandStatus::RINVPASWD
        );
        // The operator changes the password: the remembered one no longer binds.
        let new = accounts(&cheap_hash("new"));
        assert_eq!(
            bind(&new, "old").await.unwrap_err(),
            CommandStatus::RINVPASWD
        );
        assert!(bind(&new, "new").await.is_ok());
    }

    #[test]
    fn lockout_after_repeated_failures() {
        let g = BindGuard::new(Security {
            max_bind_failures: 3,
            ..Security::default()
        });
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let now = Instant::now();
        for _ in 0..2 {
            g.record_failure(ip, now);
        }
        assert!(!g.is_blocked(ip, now));
        g.record_failure(ip, now);
        assert!(g.is_blocked(ip, now));
        assert!(!g.is_blocked(ip, now + std::time::Duration::from_secs(901)));
    }
}
