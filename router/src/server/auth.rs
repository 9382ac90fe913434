//! Bind authorisation: brute-force lockout per source IP, constant-time password checks (also
//! for unknown `system_id`s), allowed networks and bind modes — with the seed's statuses.
//!
//! An argon2 check costs ~20 ms and 19 MiB by design, which a reconnect storm of hundreds of
//! sessions would pay in full. So a password that verified once is remembered as an HMAC under a
//! key drawn at start (never stored, never logged): the same `system_id`, hash and password bind
//! again without argon2. Only a correct password takes that path; anything else still runs
//! argon2, so timing tells an attacker nothing new.
//!
//! Checks are paced per address: one address has at most one argon2 check under way or queued
//! for the shared verifiers, and its other binds wait behind it (at most
//! [`MAX_WAITING_PER_ADDRESS`]; beyond that they are refused at once). The block is looked at
//! again right before each check, so binds sent all at once get no more full checks than
//! `max_bind_failures` — and a first bind from another address waits for at most one check per
//! address ahead of it, not for one address's whole queue.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Argon2, PasswordHash, PasswordVerifier};
use tokio::sync::Semaphore;

use crate::config::router::Security;
use crate::config::{Account, Accounts};
use crate::server::shared_limits::{Lockout, SharedLimits};
use crate::smpp::CommandStatus;
use crate::smpp::session::BindMode;

/// The client an address stands for, in the per-address limits (lockout, the line of password
/// checks, unbound connections): an IPv4 address (also written IPv4-mapped), or an IPv6 /64 —
/// one subscriber's usual allocation, so that a client cannot take a fresh address per attempt.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Binds from one address that may wait for their password check; beyond it they are refused
/// (`ESME_RBINDFAIL`) without one.
pub const MAX_WAITING_PER_ADDRESS: u32 = 64;

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
    /// Argon2 uses ~19 MiB per check, which the allocator keeps per thread afterwards: as many at
    /// once as there are cores, at most 4 (correct passwords are remembered, so this only paces
    /// first binds and failures). Fair: first come, first served.
    permits: Semaphore,
    /// One check at a time per address, so that one address cannot fill the queue for
    /// `permits` (see the module docs).
    addresses: Mutex<HashMap<IpAddr, AddressTurn>>,
    /// Full password checks done (argon2 runs).
    checks: AtomicU64,
    /// Binds refused for their address's full line: logged at most this often.
    full_line_log: crate::log_every::LogEvery,
    /// Checked against when the `system_id` is unknown, so both cases cost the same.
    dummy_hash: String,
    /// Passwords that verified: system_id → (the PHC hash they verified against, HMAC).
    verified: Mutex<HashMap<String, (String, ring::hmac::Tag)>>,
    hmac_key: ring::hmac::Key,
    /// In cluster mode, the lockout shared with the other instances.
    shared: Option<Arc<dyn SharedLimits>>,
}

impl BindGuard {
    /// A guard with the given lockout policy.
    pub fn new(security: Security) -> Self {
        Self {
            security,
            failures: Mutex::new(HashMap::new()),
            permits: Semaphore::new(
                std::thread::available_parallelism().map_or(1, |n| n.get().min(4)),
            ),
            addresses: Mutex::new(HashMap::new()),
            checks: AtomicU64::new(0),
            full_line_log: crate::log_every::LogEvery::new(std::time::Duration::from_secs(10)),
            dummy_hash: hash_password("not a real password").unwrap_or_default(),
            verified: Mutex::new(HashMap::new()),
            hmac_key: hmac_key(),
            shared: None,
        }
    }

    /// The same, also counting failures and blocks across a cluster through `shared`.
    pub fn shared(mut self, shared: Option<Arc<dyn SharedLimits>>) -> Self {
        self.shared = shared;
        self
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
        map.get(&client_key(ip))
            .and_then(|f| f.blocked_until)
            .is_some_and(|until| now < until)
    }

    fn record_failure(&self, ip: IpAddr, now: Instant) {
        if let Some(shared) = self.shared.clone() {
            let lockout = Lockout {
                max_failures: self.security.max_bind_failures,
                window: self.security.bind_failure_window,
                block: self.security.block_duration,
            };
            let client = client_key(ip);
            tokio::spawn(async move { shared.failed(client, lockout).await });
        }
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let f = map.entry(client_key(ip)).or_insert(Failures {
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
        if let Some(shared) = &self.shared
            && shared.blocked(client_key(ip)).await
        {
            tracing::info!(%ip, "bind refused: the address is blocked by another instance of the cluster");
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
        let arrived = Instant::now();
        let later = || now + arrived.elapsed();
        // This address's turn: its earlier binds are checked first, one at a time, and each
        // outcome (a failure that may block the address) is recorded before the next one's turn.
        let Some(turn) = self.queue(ip) else {
            if let Some(also) = self.full_line_log.allow(Instant::now()) {
                tracing::warn!(%ip, waiting = MAX_WAITING_PER_ADDRESS, also_since_last_line = also, "too many binds from one address waiting for their password check; refused");
            }
            return Err(CommandStatus::RBINDFAIL);
        };
        let _turn = turn.acquire().await.map_err(|_| CommandStatus::RSYSERR)?;
        let verified = {
            let _permit = self
                .permits
                .acquire()
                .await
                .map_err(|_| CommandStatus::RSYSERR)?;
            // The binds ahead of this one may have failed enough to block the address, or
            // verified the same password.
            if self.is_blocked(ip, later()) {
                return Err(CommandStatus::RBINDFAIL);
            }
            if let Some(a) = account.as_ref().filter(|a| self.remembered(a, password)) {
                return self.admit(a.clone(), mode, ip);
            }
            self.checks.fetch_add(1, Ordering::Relaxed);
            tokio::task::spawn_blocking(move || verify_password(&plain, &hash))
                .await
                .unwrap_or(false)
        };
        let now = later();
        let Some(account) = account.filter(|_| verified) else {
            self.record_failure(ip, now);
            return Err(CommandStatus::RINVPASWD);
        };
        self.remember(&account, password);
        self.admit(account, mode, ip)
            .inspect_err(|_| self.record_failure(ip, now))
    }

    /// Full password checks (argon2 runs) so far.
    pub fn checks(&self) -> u64 {
        self.checks.load(Ordering::Relaxed)
    }

    /// A place in `ip`'s line for a password check, or `None` when too many of its binds wait.
    fn queue(&self, ip: IpAddr) -> Option<Turn<'_>> {
        let mut map = self.addresses.lock().unwrap_or_else(|p| p.into_inner());
        let ip = client_key(ip);
        let entry = map.entry(ip).or_insert_with(|| AddressTurn {
            line: Arc::new(Semaphore::new(1)),
            waiting: 0,
        });
        if entry.waiting >= MAX_WAITING_PER_ADDRESS {
            return None;
        }
        entry.waiting += 1;
        Some(Turn {
            guard: self,
            ip,
            line: entry.line.clone(),
        })
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
        // A success does not clear the address's failures (they expire with their window):
        // otherwise binds to one's own account between guesses at another would never block.
        Ok(account)
    }
}

/// The binds of one address waiting for (or in) their password check.
struct AddressTurn {
    /// One permit: the address's check under way.
    line: Arc<Semaphore>,
    waiting: u32,
}

/// A bind's place in its address's line; leaving it (drop) frees the place.
struct Turn<'a> {
    guard: &'a BindGuard,
    ip: IpAddr,
    line: Arc<Semaphore>,
}

impl Turn<'_> {
    async fn acquire(&self) -> Result<tokio::sync::SemaphorePermit<'_>, tokio::sync::AcquireError> {
        self.line.acquire().await
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut map = self
            .guard
            .addresses
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = map.get_mut(&self.ip) {
            entry.waiting = entry.waiting.saturating_sub(1);
            if entry.waiting == 0 {
                map.remove(&self.ip);
            }
        }
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
        crate::config::RoutesFile::parse(
            std::path::Path::new("routes.toml"),
            &text,
            &crate::channels::ChannelKinds::builtin(),
        )
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

    /// 900 wrong binds from one address sent at once get no more full checks than
    /// `max_bind_failures` (the block is looked at again before each), and a first bind from
    /// another address meanwhile waits for at most the one check under way per address.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_wrong_binds_get_no_more_checks_than_the_lockout_allows() {
        let g = Arc::new(BindGuard::new(Security::default()));
        let acc = Arc::new(accounts(&cheap_hash("right")));
        let attacker: IpAddr = "192.0.2.66".parse().unwrap();
        let now = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..900 {
            let (g, acc) = (g.clone(), acc.clone());
            tasks.push(tokio::spawn(async move {
                g.authorize(
                    &acc,
                    b"acme",
                    b"wrong",
                    BindMode::Transceiver,
                    attacker,
                    now,
                )
                .await
                .unwrap_err()
            }));
        }
        let other: IpAddr = "198.51.100.1".parse().unwrap();
        let ok = g
            .authorize(&acc, b"acme", b"right", BindMode::Transceiver, other, now)
            .await;
        assert!(ok.is_ok());
        let mut statuses = std::collections::BTreeMap::new();
        for t in tasks {
            *statuses.entry(t.await.unwrap().0).or_insert(0u32) += 1;
        }
        let wrong_checked = statuses
            .get(&CommandStatus::RINVPASWD.0)
            .copied()
            .unwrap_or(0);
        assert!(
            wrong_checked <= Security::default().max_bind_failures,
            "{statuses:?}"
        );
        // The good bind's check, and the wrong ones that were answered ESME_RINVPASWD.
        assert_eq!(g.checks(), u64::from(wrong_checked) + 1, "{statuses:?}");
        assert!(g.is_blocked(attacker, Instant::now()));
        assert!(g.addresses.lock().unwrap().is_empty(), "every line is gone");
    }

    #[test]
    fn an_ipv6_client_is_its_64_and_a_mapped_ipv4_is_itself() {
        let key = |s: &str| client_key(s.parse().unwrap()).to_string();
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::");
        assert_eq!(key("2001:db8:1:2:bbbb::9"), "2001:db8:1:2::");
        assert_eq!(key("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(key("192.0.2.7"), "192.0.2.7");
        // The lockout counts the /64 as one client.
        let g = BindGuard::new(Security {
            max_bind_failures: 2,
            ..Security::default()
        });
        let now = Instant::now();
        g.record_failure("2001:db8::1".parse().unwrap(), now);
        g.record_failure("2001:db8::2".parse().unwrap(), now);
        assert!(g.is_blocked("2001:db8::3".parse().unwrap(), now));
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
