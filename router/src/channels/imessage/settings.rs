//! The settings of an `imessage` channel, read from its `[[channel]]` table in routes.toml:
//!
//! ```toml
//! [[channel]]
//! name = "imessage"
//! kind = "imessage"
//! base_url = "https://api.otpblue.com"   # default; http:// works for the local stand-in
//! api_key = "env:OTPBLUE_API_KEY"        # or "file:/run/secrets/otpblue"; a literal works but
//!                                        # puts a secret in routes.toml — avoid it
//! timeout = "5s"                          # per HTTP request; the route's deadline bounds the whole message
//! max_concurrent = 1024                   # requests in flight; beyond it (until the timeout) → not sent
//! sender = "MyBrand"                      # when the message has no alphanumeric sender
//! language = "en"                         # default template language; unset = by destination country
//! ca_file = "/etc/ssl/certs/ca-certificates.crt"  # https only; default: the system bundle
//!
//! [channel.accounts.acme]                 # per account (SMPP system_id)
//! sender = "Acme"
//! language = "de"
//! patterns = ['code:\s*(\d{4,10})']       # tried before the built-in OTP extraction
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use http::HeaderValue;
use regex::Regex;
use serde::Deserialize;

use crate::channels::SetupError;
use crate::otp::{LANGUAGES, normalize};

/// The production API.
pub const DEFAULT_BASE_URL: &str = "https://api.otpblue.com";
/// The longest sender the platform takes.
pub const MAX_SENDER_LEN: usize = 16;
/// Requests in flight by default: 3,500 requests/s at 250 ms is ~900 in flight, plus headroom.
pub const DEFAULT_MAX_CONCURRENT: usize = 1024;
/// The per-request timeout by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    base_url: Option<String>,
    api_key: Option<String>,
    timeout: Option<String>,
    max_concurrent: Option<i64>,
    sender: Option<String>,
    language: Option<String>,
    ca_file: Option<String>,
    #[serde(default)]
    accounts: BTreeMap<String, RawAccount>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccount {
    sender: Option<String>,
    language: Option<String>,
    #[serde(default)]
    patterns: Vec<String>,
}

/// The API key, kept out of `Debug` output and marked sensitive as a header.
#[derive(Clone)]
pub struct ApiKey(pub(crate) HeaderValue);

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

/// Where the API lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Whether to speak TLS.
    pub tls: bool,
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// `host[:port]` for the `Host` header.
    pub authority: String,
    /// The send path, e.g. `/imsg/api/v1.1/otp/send/`.
    pub send_path: String,
}

/// Per-account overrides.
#[derive(Clone, Debug, Default)]
pub struct AccountSettings {
    /// Sender when the message has none.
    pub sender: Option<String>,
    /// Template language.
    pub language: Option<&'static str>,
    /// OTP patterns tried before the built-in extraction.
    pub patterns: Vec<Regex>,
}

/// A channel's validated settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The API's address.
    pub endpoint: Endpoint,
    /// The resolved key.
    pub api_key: ApiKey,
    /// Per HTTP request.
    pub timeout: Duration,
    /// Requests in flight at most.
    pub max_concurrent: usize,
    /// Default sender.
    pub sender: Option<String>,
    /// Default language; `None` picks by destination.
    pub language: Option<&'static str>,
    /// CA bundle for https.
    pub ca_file: Option<PathBuf>,
    /// Overrides by SMPP `system_id`.
    pub accounts: HashMap<String, AccountSettings>,
}

impl Settings {
    /// Validates a channel's table; errors are one line and name the key.
    pub fn parse(settings: &toml::Table) -> Result<Self, SetupError> {
        let raw: Raw = crate::channels::kind::settings(settings)?;
        let base_url = raw.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL);
        let endpoint = endpoint(base_url).map_err(|e| SetupError::invalid("base_url", e))?;
        let api_key = match raw.api_key.as_deref() {
            Some(spec) => resolve_key(spec).map_err(|e| SetupError::invalid("api_key", e))?,
            None => {
                return Err(SetupError::invalid(
                    "api_key",
                    "missing (use \"env:NAME\" or \"file:PATH\")",
                ));
            }
        };
        let timeout = match raw.timeout.as_deref() {
            Some(s) => {
                humantime::parse_duration(s).map_err(|e| SetupError::invalid("timeout", e))?
            }
            None => DEFAULT_TIMEOUT,
        };
        if timeout.is_zero() {
            return Err(SetupError::invalid("timeout", "must be more than zero"));
        }
        let max_concurrent = match raw.max_concurrent {
            None => DEFAULT_MAX_CONCURRENT,
            Some(n) if (1..=65_536).contains(&n) => n as usize,
            Some(n) => {
                return Err(SetupError::invalid(
                    "max_concurrent",
                    format!("{n} is not between 1 and 65536"),
                ));
            }
        };
        let mut accounts = HashMap::new();
        for (name, a) in raw.accounts {
            let key = format!("accounts.{name}");
            let patterns = a
                .patterns
                .iter()
                .map(|p| {
                    Regex::new(p).map_err(|e| {
                        SetupError::invalid(format!("{key}.patterns"), one_line(&e.to_string()))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            accounts.insert(
                name,
                AccountSettings {
                    sender: sender(a.sender, &format!("{key}.sender"))?,
                    language: lang(a.language, &format!("{key}.language"))?,
                    patterns,
                },
            );
        }
        Ok(Self {
            endpoint,
            api_key,
            timeout,
            max_concurrent,
            sender: sender(raw.sender, "sender")?,
            language: lang(raw.language, "language")?,
            ca_file: raw.ca_file.map(PathBuf::from),
            accounts,
        })
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn sender(value: Option<String>, key: &str) -> Result<Option<String>, SetupError> {
    match value {
        Some(s) if s.is_empty() || s.chars().count() > MAX_SENDER_LEN => Err(SetupError::invalid(
            key,
            format!("must be 1 to {MAX_SENDER_LEN} characters"),
        )),
        other => Ok(other),
    }
}

fn lang(value: Option<String>, key: &str) -> Result<Option<&'static str>, SetupError> {
    value
        .map(|v| {
            normalize(&v).ok_or_else(|| {
                SetupError::invalid(
                    key,
                    format!(
                        "`{v}` is not one of the platform's languages ({})",
                        LANGUAGES.join(", ")
                    ),
                )
            })
        })
        .transpose()
}

fn endpoint(base_url: &str) -> Result<Endpoint, String> {
    let uri: http::Uri = base_url
        .parse()
        .map_err(|e| format!("`{base_url}` is not a URL: {e}"))?;
    let tls = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(format!("`{base_url}` must start with http:// or https://")),
    };
    let host = uri
        .host()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("`{base_url}` has no host"))?;
    if uri.query().is_some() {
        return Err(format!("`{base_url}` must not have a query"));
    }
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let authority = uri
        .authority()
        .map(|a| a.as_str().to_string())
        .unwrap_or_else(|| host.to_string());
    if authority.contains('@') {
        return Err(format!("`{base_url}` must not carry credentials"));
    }
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let base_path = uri.path().trim_end_matches('/');
    Ok(Endpoint {
        tls,
        host,
        port,
        authority,
        send_path: format!("{base_path}/imsg/api/v1.1/otp/send/"),
    })
}

/// `env:NAME`, `file:PATH` or a literal key. The key itself never appears in an error.
fn resolve_key(spec: &str) -> Result<ApiKey, String> {
    let key = if let Some(name) = spec.strip_prefix("env:") {
        std::env::var(name).map_err(|_| format!("environment variable `{name}` is not set"))?
    } else if let Some(path) = spec.strip_prefix("file:") {
        std::fs::read_to_string(path).map_err(|e| format!("cannot read `{path}`: {e}"))?
    } else {
        spec.to_string()
    };
    let key = key.trim();
    if key.is_empty() {
        return Err("the key is empty".into());
    }
    let mut value = HeaderValue::from_str(key)
        .map_err(|_| "the key has characters not allowed in an HTTP header".to_string())?;
    value.set_sensitive(true);
    Ok(ApiKey(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Settings, String> {
        Settings::parse(&text.parse::<toml::Table>().map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_overrides() {
        let s =
            parse("api_key = \"k\"\n[accounts.acme]\nlanguage = \"ko\"\npatterns = ['(\\d{6})']")
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.endpoint.host, "api.otpblue.com");
        assert_eq!(s.endpoint.port, 443);
        assert!(s.endpoint.tls);
        assert_eq!(s.endpoint.send_path, "/imsg/api/v1.1/otp/send/");
        assert_eq!(s.timeout, DEFAULT_TIMEOUT);
        assert_eq!(s.max_concurrent, DEFAULT_MAX_CONCURRENT);
        assert_eq!(s.accounts["acme"].language, Some("kr"));
        assert_eq!(s.accounts["acme"].patterns.len(), 1);
        assert!(!format!("{:?}", s.api_key).contains('k'));
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            ("api_key = \"k\"\nbogus = 1", "bogus"),
            ("timeout = \"5s\"", "api_key"),
            ("api_key = \"env:SMPP_ROUTER_TEST_SURELY_UNSET\"", "api_key"),
            ("api_key = \"k\"\ntimeout = \"soon\"", "timeout"),
            ("api_key = \"k\"\nmax_concurrent = 0", "max_concurrent"),
            ("api_key = \"k\"\nlanguage = \"xx\"", "language"),
            ("api_key = \"k\"\nsender = \"ABCDEFGHIJKLMNOPQ\"", "sender"),
            ("api_key = \"k\"\nbase_url = \"ftp://x\"", "base_url"),
            (
                "api_key = \"k\"\n[accounts.a]\npatterns = ['(']",
                "accounts.a.patterns",
            ),
            ("api_key = \"k\"\n[accounts.a]\ncolour = 'red'", "colour"),
        ];
        for (text, key) in cases {
            match parse(text) {
                Ok(_) => panic!("`{text}` was accepted"),
                Err(e) => {
                    assert!(e.contains(key), "`{e}` does not name `{key}`");
                    assert!(!e.contains('\n'), "`{e}` is not one line");
                }
            }
        }
    }

    #[test]
    fn plain_http_base_url_with_a_path() {
        let s = parse("api_key = \"k\"\nbase_url = \"http://127.0.0.1:8787/stand-in/\"");
        let s = s.unwrap_or_else(|e| panic!("{e}"));
        assert!(!s.endpoint.tls);
        assert_eq!(s.endpoint.port, 8787);
        assert_eq!(s.endpoint.authority, "127.0.0.1:8787");
        assert_eq!(s.endpoint.send_path, "/stand-in/imsg/api/v1.1/otp/send/");
    }
}
