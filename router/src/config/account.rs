//! Client accounts, as `[[account]]` entries of `routes.toml`: credentials, allowed bind modes
//! and networks, limits, default sender and language.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use serde::Deserialize;
use toml::Spanned;

use super::diag::Source;
use crate::smpp::session::BindMode;

/// One `[[account]]` entry as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    system_id: Spanned<String>,
    password_hash: Spanned<String>,
    #[serde(default)]
    bind_modes: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    allowed_cidrs: Option<Vec<Spanned<String>>>,
    #[serde(default = "default_max_binds")]
    max_binds: u32,
    #[serde(default = "default_tps")]
    tps: u32,
    #[serde(default = "default_window")]
    window: Spanned<u32>,
    #[serde(default)]
    default_sender: Option<Spanned<String>>,
    #[serde(default)]
    language: Option<Spanned<String>>,
}

fn default_max_binds() -> u32 {
    10
}
fn default_tps() -> u32 {
    100
}
fn default_window() -> Spanned<u32> {
    Spanned::new(0..0, 100)
}

/// A client account, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// The SMPP `system_id`.
    pub system_id: String,
    /// The argon2 PHC string of the password.
    pub password_hash: String,
    /// Allowed modes: transmitter, receiver, transceiver.
    pub bind_modes: [bool; 3],
    /// Networks binds may come from; empty means any.
    pub allowed_cidrs: Vec<IpNet>,
    /// Concurrent binds allowed.
    pub max_binds: u32,
    /// Messages per second across all the account's sessions.
    pub tps: u32,
    /// `submit_sm` in flight per session.
    pub window: u32,
    /// Sender used when a message's `source_addr` is numeric.
    pub default_sender: Option<String>,
    /// Template language for iMessage, two letters; `None` picks by destination.
    pub language: Option<String>,
}

impl Account {
    /// Whether `mode` is allowed for this account.
    pub fn mode_allowed(&self, mode: BindMode) -> bool {
        self.bind_modes[mode_index(mode)]
    }

    /// Whether a bind from `ip` is allowed.
    pub fn ip_allowed(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.allowed_cidrs.is_empty() || self.allowed_cidrs.iter().any(|n| n.contains(&ip))
    }
}

fn mode_index(mode: BindMode) -> usize {
    match mode {
        BindMode::Transmitter => 0,
        BindMode::Receiver => 1,
        BindMode::Transceiver => 2,
    }
}

/// Every account by `system_id`.
#[derive(Clone, Debug, Default)]
pub struct Accounts {
    by_id: HashMap<String, Arc<Account>>,
}

impl Accounts {
    /// The account with `system_id`.
    pub fn get(&self, system_id: &str) -> Option<&Arc<Account>> {
        self.by_id.get(system_id)
    }

    /// All accounts.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Account>> {
        self.by_id.values()
    }

    /// How many accounts there are.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Validates parsed entries (each with the byte offset of its slice), recording errors.
    pub fn build(src: &mut Source<'_>, configs: Vec<(AccountConfig, usize)>) -> Self {
        let mut by_id = HashMap::new();
        for (c, base) in configs {
            let at = |s: &std::ops::Range<usize>| base + s.start..base + s.end;
            if let Some(a) = validate(src, &c, &at) {
                if by_id.contains_key(&a.system_id) {
                    src.error(
                        at(&c.system_id.span()),
                        format!("account `{}` is defined more than once", a.system_id),
                    );
                } else {
                    by_id.insert(a.system_id.clone(), Arc::new(a));
                }
            }
        }
        Self { by_id }
    }
}

fn validate(
    src: &mut Source<'_>,
    c: &AccountConfig,
    at: &dyn Fn(&std::ops::Range<usize>) -> std::ops::Range<usize>,
) -> Option<Account> {
    let mut ok = true;
    let system_id = c.system_id.get_ref();
    if system_id.is_empty() || system_id.len() > 15 || !system_id.is_ascii() {
        src.error(
            at(&c.system_id.span()),
            "system_id must be 1 to 15 ASCII characters",
        );
        ok = false;
    }
    if argon2::PasswordHash::new(c.password_hash.get_ref()).is_err() {
        src.error(
            at(&c.password_hash.span()),
            "password_hash is not an argon2 hash; make one with `smpp-router hash-password`",
        );
        ok = false;
    }
    let mut bind_modes = [true; 3];
    if let Some(modes) = &c.bind_modes {
        bind_modes = [false; 3];
        for m in modes.get_ref() {
            match m.as_str() {
                "tx" => bind_modes[0] = true,
                "rx" => bind_modes[1] = true,
                "trx" => bind_modes[2] = true,
                other => {
                    src.error(
                        at(&modes.span()),
                        format!("bind mode `{other}` is not one of tx, rx, trx"),
                    );
                    ok = false;
                }
            }
        }
    }
    let mut allowed_cidrs = Vec::new();
    for cidr in c.allowed_cidrs.iter().flatten() {
        let text = cidr.get_ref();
        let parsed = text
            .parse::<IpNet>()
            .or_else(|_| text.parse::<IpAddr>().map(IpNet::from));
        match parsed {
            Ok(net) => allowed_cidrs.push(net),
            Err(_) => {
                src.error(
                    at(&cidr.span()),
                    format!("`{text}` is not an IP network such as 10.0.0.0/8"),
                );
                ok = false;
            }
        }
    }
    if !(1..=10_000).contains(c.window.get_ref()) {
        src.error(at(&c.window.span()), "window must be between 1 and 10000");
        ok = false;
    }
    if let Some(s) = &c.default_sender
        && (s.get_ref().is_empty() || s.get_ref().chars().count() > 11)
    {
        src.error(at(&s.span()), "default_sender must be 1 to 11 characters");
        ok = false;
    }
    if let Some(l) = &c.language
        && crate::otp::normalize(l.get_ref()).is_none()
    {
        src.error(
            at(&l.span()),
            format!(
                "language `{}` is not one of the iMessage templates' languages ({})",
                l.get_ref(),
                crate::otp::LANGUAGES.join(", ")
            ),
        );
        ok = false;
    }
    ok.then(|| Account {
        system_id: system_id.clone(),
        password_hash: c.password_hash.get_ref().clone(),
        bind_modes,
        allowed_cidrs,
        max_binds: c.max_binds,
        tps: c.tps,
        window: *c.window.get_ref(),
        default_sender: c.default_sender.as_ref().map(|s| s.get_ref().clone()),
        language: c.language.as_ref().map(|s| s.get_ref().clone()),
    })
}
