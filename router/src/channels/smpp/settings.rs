//! The settings of a `kind = "smpp"` channel, from its `[[channel]]` table in routes.toml.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;

use crate::channels::SetupError;

use crate::smpp::pdu::Bind;
use crate::smpp::receipt::IdMatch;
use crate::smpp::session::SessionConfig;

/// How the channel binds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindStyle {
    /// One transceiver per bind.
    Trx,
    /// A transmitter for submits and a receiver for receipts per bind (tyntec offers both).
    TxRx,
}

/// A validated channel configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `host:port`.
    pub addr: String,
    /// TLS towards the carrier.
    pub tls: Option<Tls>,
    /// Credentials and bind fields.
    pub bind: Bind,
    /// `trx` or `tx+rx`.
    pub style: BindStyle,
    /// Binds (pairs with `tx+rx`) kept open.
    pub binds: usize,
    /// Session settings: window, timeouts, enquire_link.
    pub session: SessionConfig,
    /// Submits per second over all binds; 0 = no limit.
    pub tps: u32,
    /// Reconnect backoff: first wait and cap (exponential with jitter between).
    pub reconnect_min: Duration,
    /// The cap.
    pub reconnect_max: Duration,
    /// How receipt ids relate to `submit_sm_resp` ids.
    pub id_match: IdMatch,
    /// Source TON/NPI rewriting: `(ton, npi)` for alphanumeric and numeric senders.
    pub source_ton_npi: Option<(u8, u8)>,
    /// A fixed source address replacing the client's.
    pub source: Option<String>,
    /// Where mobile-originated messages go: (destination prefix, account), longest prefix
    /// first; the prefix `""` matches every destination.
    pub mo: Vec<(String, String)>,
}

impl Settings {
    /// The account that takes an MO message sent to `dest`.
    pub fn mo_account(&self, dest: &[u8]) -> Option<&str> {
        let digits = dest.strip_prefix(b"+").unwrap_or(dest);
        self.mo
            .iter()
            .find(|(prefix, _)| digits.starts_with(prefix.as_bytes()))
            .map(|(_, account)| account.as_str())
    }
}

/// TLS settings.
#[derive(Clone, Debug)]
pub struct Tls {
    /// The CA certificates to trust (PEM); default the system bundle.
    pub ca_file: PathBuf,
    /// SNI / verification name when it differs from the host.
    pub server_name: Option<String>,
    /// Accept any certificate (tests only).
    pub insecure: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    host: String,
    port: u16,
    #[serde(default)]
    tls: bool,
    tls_ca_file: Option<String>,
    tls_server_name: Option<String>,
    #[serde(default)]
    tls_insecure: bool,
    system_id: String,
    password: String,
    #[serde(default)]
    system_type: String,
    interface_version: Option<String>,
    bind: Option<String>,
    binds: Option<i64>,
    window: Option<i64>,
    tps: Option<i64>,
    enquire_link: Option<String>,
    response_timeout: Option<String>,
    reconnect_min: Option<String>,
    reconnect_max: Option<String>,
    receipt_ids: Option<String>,
    source_ton: Option<u8>,
    source_npi: Option<u8>,
    source: Option<String>,
    #[serde(default)]
    mo: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    receipts_on_any_bind: bool,
}

fn duration(v: Option<&str>, key: &str, default: Duration) -> Result<Duration, SetupError> {
    match v {
        None => Ok(default),
        Some(s) => humantime::parse_duration(s).map_err(|e| SetupError::invalid(key, e)),
    }
}

fn count(v: Option<i64>, key: &str, default: i64, max: i64) -> Result<i64, SetupError> {
    let n = v.unwrap_or(default);
    if (0..=max).contains(&n) {
        Ok(n)
    } else {
        Err(SetupError::invalid(
            key,
            format!("{n} is not between 0 and {max}"),
        ))
    }
}

/// Resolves `env:NAME`, `file:PATH` or a literal secret.
fn secret(spec: &str, key: &str) -> Result<String, SetupError> {
    crate::config::resolve_secret(spec).map_err(|e| SetupError::invalid(key, e))
}

impl Settings {
    /// Validates a channel's table; errors are one line and name the key.
    pub fn parse(table: &toml::Table) -> Result<Self, SetupError> {
        let raw: Raw = crate::channels::kind::settings(table)?;
        if raw.system_id.is_empty() || raw.system_id.len() > 15 {
            return Err(SetupError::invalid(
                "system_id",
                "must be 1 to 15 characters",
            ));
        }
        let password = secret(&raw.password, "password")?;
        if password.len() > 8 {
            return Err(SetupError::invalid(
                "password",
                "SMPP passwords are at most 8 characters",
            ));
        }
        if raw.system_type.len() > 12 {
            return Err(SetupError::invalid("system_type", "at most 12 characters"));
        }
        let interface_version = match raw.interface_version.as_deref().unwrap_or("3.4") {
            "3.4" => 0x34,
            "5.0" => 0x50,
            other => {
                return Err(SetupError::invalid(
                    "interface_version",
                    format!("`{other}` is not 3.4 or 5.0"),
                ));
            }
        };
        let style = match raw.bind.as_deref().unwrap_or("trx") {
            "trx" => BindStyle::Trx,
            "tx+rx" => BindStyle::TxRx,
            other => {
                return Err(SetupError::invalid(
                    "bind",
                    format!("`{other}` is not trx or tx+rx"),
                ));
            }
        };
        let binds = count(raw.binds, "binds", 1, 64)?.max(1) as usize;
        let window = count(raw.window, "window", 10, 10_000)?.max(1) as usize;
        let tps = count(raw.tps, "tps", 0, 1_000_000)? as u32;
        let mut session = SessionConfig::esme();
        session.interface_version = interface_version;
        session.window = window;
        // Receipts in flight from the carrier per bind: each waits for a store commit before
        // its answer, so allow many at once (the carrier's own window is the real limit).
        session.inbound_window = 1000;
        // For carriers that send receipts on the transmitter bind of a tx+rx pair too.
        session.deliveries_on_any_bind = raw.receipts_on_any_bind;
        // tyntec's interface: enquire_link every 90 minutes.
        let enquire = duration(
            raw.enquire_link.as_deref(),
            "enquire_link",
            Duration::from_secs(90 * 60),
        )?;
        if enquire < Duration::from_secs(1) {
            return Err(SetupError::invalid("enquire_link", "at least 1s"));
        }
        session.enquire_link_interval = Some(enquire);
        session.response_timeout = duration(
            raw.response_timeout.as_deref(),
            "response_timeout",
            Duration::from_secs(30),
        )?;
        let reconnect_min = duration(
            raw.reconnect_min.as_deref(),
            "reconnect_min",
            Duration::from_secs(1),
        )?;
        let reconnect_max = duration(
            raw.reconnect_max.as_deref(),
            "reconnect_max",
            Duration::from_secs(60),
        )?
        .max(reconnect_min);
        let id_match = match raw.receipt_ids.as_deref().unwrap_or("same") {
            "same" => IdMatch::SameBase,
            "hex-resp-decimal-dlr" => IdMatch::HexInRespDecimalInDlr,
            "decimal-resp-hex-dlr" => IdMatch::DecimalInRespHexInDlr,
            other => {
                return Err(SetupError::invalid(
                    "receipt_ids",
                    format!("`{other}` is not same, hex-resp-decimal-dlr or decimal-resp-hex-dlr"),
                ));
            }
        };
        let tls = (raw.tls || raw.tls_insecure || raw.tls_ca_file.is_some()).then(|| Tls {
            ca_file: PathBuf::from(
                raw.tls_ca_file
                    .as_deref()
                    .unwrap_or("/etc/ssl/certs/ca-certificates.crt"),
            ),
            server_name: raw.tls_server_name,
            insecure: raw.tls_insecure,
        });
        if raw
            .source
            .as_ref()
            .is_some_and(|s| s.is_empty() || s.len() > 20)
        {
            return Err(SetupError::invalid("source", "1 to 20 characters"));
        }
        let mut mo: Vec<(String, String)> = raw.mo.into_iter().collect();
        if let Some((p, _)) = mo
            .iter()
            .find(|(p, _)| !p.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(SetupError::invalid(
                "mo",
                format!("`{p}` is not a destination prefix (digits)"),
            ));
        }
        mo.sort_by_key(|m| std::cmp::Reverse(m.0.len()));
        Ok(Self {
            addr: format!("{}:{}", raw.host, raw.port),
            tls,
            bind: Bind {
                system_id: Bytes::from(raw.system_id),
                password: Bytes::from(password),
                system_type: Bytes::from(raw.system_type),
                interface_version,
                ..Bind::default()
            },
            style,
            binds,
            session,
            tps,
            reconnect_min,
            reconnect_max,
            id_match,
            source_ton_npi: match (raw.source_ton, raw.source_npi) {
                (None, None) => None,
                (t, n) => Some((t.unwrap_or(1), n.unwrap_or(1))),
            },
            source: raw.source,
            mo,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Settings, String> {
        Settings::parse(&text.parse::<toml::Table>().map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_follow_the_carrier_interface() {
        let s = parse("host = \"127.0.0.1\"\nport = 2775\nsystem_id = \"acme\"\npassword = \"pw\"")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.addr, "127.0.0.1:2775");
        assert_eq!(s.style, BindStyle::Trx);
        assert_eq!(s.binds, 1);
        assert_eq!(s.session.window, 10);
        assert_eq!(
            s.session.enquire_link_interval,
            Some(Duration::from_secs(5400))
        );
        assert_eq!(s.bind.interface_version, 0x34);
        assert!(s.tls.is_none());
    }

    #[test]
    fn mo_goes_to_the_longest_prefix() {
        let s = parse(
            "host = \"h\"\nport = 1\nsystem_id = \"a\"\npassword = \"p\"\n\
             mo = { \"\" = \"any\", \"4479\" = \"uk\", \"447911\" = \"acme\" }",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.mo_account(b"447911123456"), Some("acme"));
        assert_eq!(s.mo_account(b"+447900000000"), Some("uk"));
        assert_eq!(s.mo_account(b"14155551234"), Some("any"));
        assert!(parse("host = \"h\"\nport = 1\nsystem_id = \"a\"\npassword = \"p\"\nmo = { \"x\" = \"a\" }").is_err());
    }

    #[test]
    fn errors_name_the_key() {
        let base = "host = \"h\"\nport = 1\nsystem_id = \"a\"\n";
        for (extra, key) in [
            ("password = \"123456789\"", "password"),
            ("password = \"p\"\nbind = \"rx\"", "bind"),
            (
                "password = \"p\"\ninterface_version = \"3.3\"",
                "interface_version",
            ),
            ("password = \"p\"\nwindow = -1", "window"),
            ("password = \"p\"\nenquire_link = \"10ms\"", "enquire_link"),
            (
                "password = \"env:SMPP_ROUTER_NOT_SET_ANYWHERE\"",
                "password",
            ),
            ("password = \"p\"\nreceipt_ids = \"x\"", "receipt_ids"),
            ("password = \"p\"\ncolour = 1", "colour"),
        ] {
            let e = parse(&format!("{base}{extra}")).err().unwrap_or_default();
            assert!(e.contains(key), "{extra}: {e}");
        }
    }
}
