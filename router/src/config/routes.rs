//! `routes.toml`: the live file — accounts now; channels and routes join it with the routing
//! core. Parsing collects every error with its line: each `[[section]]` entry is re-parsed on its
//! own slice of the file, so one bad entry never hides the errors of the next.

use std::ops::Range;
use std::path::Path;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::account::{AccountConfig, Accounts};
use super::diag::{Diagnostic, Source};
use super::route::{ChannelConfig, RouteConfig, RouteSpec, validate_routes};

/// An error about one channel's settings that may name the key at fault.
pub trait KeyedError: std::fmt::Display {
    /// The key (dotted for nested tables), if one is at fault.
    fn key(&self) -> Option<&str>;
}

/// What checks each `[[channel]]`'s kind and settings while the file is parsed: the router's
/// registered channel kinds (`channels::ChannelKinds`). Config itself knows no kind.
pub trait ChannelCheck {
    /// The error a check gives.
    type Error: KeyedError;
    /// Checks one channel without starting it.
    fn check(&self, channel: &ChannelConfig) -> Result<(), Self::Error>;
}

/// Everything `routes.toml` holds, validated.
#[derive(Clone, Debug, Default)]
pub struct RoutesFile {
    /// The client accounts.
    pub accounts: Accounts,
    /// The channels, with the line each starts on.
    pub channels: Vec<(ChannelConfig, usize)>,
    /// The routes, in file order.
    pub routes: Vec<RouteSpec>,
}

/// The top level, with each entry kept raw and spanned.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    account: Vec<toml::Spanned<toml::Table>>,
    #[serde(default)]
    channel: Vec<toml::Spanned<toml::Table>>,
    #[serde(default)]
    route: Vec<toml::Spanned<toml::Table>>,
}

/// One entry re-parsed from its own slice (which starts with its `[[name]]` header).
#[derive(Deserialize)]
struct One<T> {
    #[serde(alias = "account")]
    entry: Vec<T>,
}

/// Parses each spanned entry of section `name` as a `T`, recording errors; returns the entries
/// that parsed with the byte offset of their slice.
pub fn parse_entries<T: DeserializeOwned>(
    src: &mut Source<'_>,
    name: &str,
    entries: &[toml::Spanned<toml::Table>],
    starts: &[usize],
) -> Vec<(T, usize)> {
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        // An entry runs to the next entry of any section: its span stops before sub-tables
        // such as `[route.on_status]`, which belong to it all the same.
        let start = entry.span().start;
        let end = starts
            .iter()
            .copied()
            .find(|&s| s > start)
            .unwrap_or(src.text().len());
        let span: Range<usize> = start..end;
        let Some(slice) = src.text().get(span.clone()) else {
            continue;
        };
        // Rename the headers so the generic wrapper can read any section (sub-tables such as
        // `[route.on_status]` included).
        let renamed = slice
            .replacen(&format!("[[{name}]]"), "[[entry]]", 1)
            .replace(&format!("[{name}."), "[entry.");
        let shift = renamed.len() as isize - slice.len() as isize;
        match toml::from_str::<One<T>>(&renamed) {
            Ok(mut one) => {
                if let Some(v) = one.entry.pop() {
                    out.push((v, span.start));
                }
            }
            Err(e) => {
                // Spans after the header moved by the rename; move them back.
                let fixed = e.span().map(|s| {
                    let back = |x: usize| (x as isize - shift).max(0) as usize;
                    back(s.start)..back(s.end)
                });
                let at = fixed.map_or(span.start, |s| span.start + s.start);
                let message = with_key(src.text(), at, e.message().trim());
                let message = super::redact_value(&message, key_named_by(&message));
                src.error(at..at, message);
            }
        }
    }
    out
}

/// Prefixes a value error with the key written on its line (`tps: invalid type: …`), since
/// serde's message does not name it.
fn with_key(text: &str, at: usize, message: &str) -> String {
    match super::diag::key_on_line(text, at) {
        Some(key) if !message.contains("field") => format!("{key}: {message}"),
        _ => message.to_string(),
    }
}

/// The key an error message starts with (`timeout: …`, `accounts.acme.sender: …`): its last
/// part, as written on its line.
fn key_named_by(message: &str) -> Option<&str> {
    let (key, _) = message.split_once(':')?;
    let ok = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-');
    ok.then(|| key.rsplit('.').next().unwrap_or(key))
}

/// Where the line setting `key` starts within `range` of `text`.
fn line_of_key(text: &str, range: std::ops::Range<usize>, key: &str) -> Option<usize> {
    let section = text.get(range.clone())?;
    let mut at = range.start;
    for line in section.split_inclusive('\n') {
        let t = line.trim_start();
        if t.strip_prefix(key)
            .is_some_and(|r| r.trim_start().starts_with('='))
        {
            return Some(at + (line.len() - t.len()));
        }
        at += line.len();
    }
    None
}

impl RoutesFile {
    /// Parses and validates `routes.toml` text, collecting every error; `checks` validates
    /// each channel's settings for its kind.
    pub fn parse(
        file: &Path,
        text: &str,
        checks: &impl ChannelCheck,
    ) -> Result<Self, Vec<Diagnostic>> {
        let mut src = Source::new(file, text);
        let raw: RawFile = match toml::from_str(text) {
            Ok(r) => r,
            Err(e) => {
                src.toml_error(0, &e);
                return Err(src.finish());
            }
        };
        let mut starts: Vec<usize> = [&raw.account, &raw.channel, &raw.route]
            .iter()
            .flat_map(|v| v.iter().map(|e| e.span().start))
            .collect();
        starts.sort_unstable();
        let configs: Vec<(AccountConfig, usize)> =
            parse_entries(&mut src, "account", &raw.account, &starts);
        // Every system_id written, also of accounts with errors (already reported): a route
        // naming one is not reported again.
        let account_names: std::collections::HashSet<String> = raw
            .account
            .iter()
            .filter_map(|t| t.get_ref().get("system_id")?.as_str().map(str::to_string))
            .collect();
        let accounts = Accounts::build(&mut src, configs);
        let channels: Vec<(ChannelConfig, usize)> =
            parse_entries(&mut src, "channel", &raw.channel, &starts);
        let mut names = std::collections::HashSet::new();
        for (c, base) in &channels {
            if !names.insert(c.name.get_ref().clone()) {
                let at = base + c.name.span().start;
                src.error(
                    at..at,
                    format!("channel `{}` is defined more than once", c.name.get_ref()),
                );
            }
        }
        for (c, base) in &channels {
            if let Err(e) = checks.check(c) {
                // At the line of the key the error names, else at the channel's `kind`.
                let end = starts
                    .iter()
                    .copied()
                    .find(|&s| s > *base)
                    .unwrap_or(text.len());
                let at = e
                    .key()
                    .map(|key| key.rsplit('.').next().unwrap_or(key))
                    .and_then(|key| line_of_key(text, *base..end, key))
                    .unwrap_or(base + c.kind.span().start);
                src.error(at..at, format!("channel `{}`: {e}", c.name.get_ref()));
            }
            // Per-account overrides (`[channel.accounts.X]`) for accounts that exist.
            if let Some(toml::Value::Table(overrides)) = c.settings.get("accounts") {
                for name in overrides.keys().filter(|n| !account_names.contains(*n)) {
                    let at = base + c.kind.span().start;
                    src.error(
                        at..at,
                        format!(
                            "channel `{}`: [channel.accounts.{name}] names an account that is not defined",
                            c.name.get_ref()
                        ),
                    );
                }
            }
        }
        let routes: Vec<(RouteConfig, usize)> =
            parse_entries(&mut src, "route", &raw.route, &starts);
        let routes = validate_routes(&mut src, routes, &names, &account_names);
        if src.has_errors() {
            return Err(src.finish());
        }
        Ok(Self {
            accounts,
            channels,
            routes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses with the router's own channel kinds.
    fn parse(text: &str) -> Result<RoutesFile, Vec<Diagnostic>> {
        RoutesFile::parse(
            Path::new("routes.toml"),
            text,
            &crate::channels::ChannelKinds::builtin(),
        )
    }

    const HASH: &str =
        "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$3Ct7EVCGIS7Cic1y/7JKyOT/Y3/8SF0VTzUekYt1xU0";

    #[test]
    fn parses_accounts() {
        let text = format!(
            "[[account]]\nsystem_id = \"acme\"\npassword_hash = \"{HASH}\"\ntps = 50\nallowed_cidrs = [\"10.0.0.0/8\", \"127.0.0.1\"]\n"
        );
        let f = parse(&text).unwrap();
        let a = f.accounts.get("acme").unwrap();
        assert_eq!(a.tps, 50);
        assert!(a.ip_allowed("127.0.0.1".parse().unwrap()));
        assert!(!a.ip_allowed("192.0.2.1".parse().unwrap()));
    }

    #[test]
    fn every_error_is_reported_with_its_line() {
        let text = format!(
            "[[account]]\nsystem_id = \"a\"\npassword_hash = \"{HASH}\"\ntpss = 5\n\n[[account]]\nsystem_id = \"b\"\npassword_hash = \"plain\"\nbind_modes = [\"trx\", \"xx\"]\nallowed_cidrs = [\"10.0.0.0/33\"]\n\n[[account]]\nsystem_id = \"c\"\npassword_hash = \"{HASH}\"\n[[account]]\nsystem_id = \"c\"\npassword_hash = \"{HASH}\"\n"
        );
        let e = parse(&text).unwrap_err();
        let lines: Vec<usize> = e.iter().map(|d| d.line).collect();
        assert_eq!(lines, [4, 8, 9, 10, 16], "{e:#?}");
        assert!(e[0].message.contains("tpss"));
        assert!(e[4].message.contains("more than once"));
    }

    #[test]
    fn a_channel_setting_error_points_at_its_key() {
        let text = "[[channel]]\nname = \"imessage\"\nkind = \"imessage\"\napi_key = \"k\"\ntimeout = \"soon\"\n";
        let e = parse(text).unwrap_err();
        assert_eq!(e[0].line, 5, "{e:#?}");
        assert!(e[0].message.contains("timeout"), "{e:#?}");
        let text = "[[channel]]\nname = \"imessage\"\nkind = \"imessage\"\napi_key = \"k\"\ntimeuot = \"5s\"\n";
        let e = parse(text).unwrap_err();
        assert_eq!(e[0].line, 5, "an unknown key's own line: {e:#?}");
    }

    #[test]
    fn an_account_with_an_error_is_not_reported_again_by_its_routes() {
        let text = format!(
            "[[account]]\nsystem_id = \"demo\"\npassword_hash = \"{HASH}\"\nmax_bind = 10\n\n\
             [[channel]]\nname = \"sink\"\nkind = \"test\"\n\n\
             [[route]]\nname = \"r\"\naccounts = [\"demo\"]\nchannels = [\"sink\"]\n"
        );
        let e = parse(&text).unwrap_err();
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(e[0].message.contains("max_bind"), "{e:#?}");
    }

    /// Typos that would otherwise leave a route or a setting silently unused.
    #[test]
    fn names_that_match_nothing_are_errors() {
        let text = format!(
            "[[account]]\nsystem_id = \"acme\"\npassword_hash = \"{HASH}\"\nlanguage = \"gr\"\n\n\
             [[channel]]\nname = \"sink\"\nkind = \"test\"\n\n\
             [[channel]]\nname = \"imessage\"\nkind = \"imessage\"\napi_key = \"k\"\n\
             [channel.accounts.Acme]\nsender = \"Acme\"\n\n\
             [[route]]\nname = \"uk\"\naccounts = [\"Acme\"]\ncountries = [\"UK\", \"+999\", \"+44\"]\nchannels = [\"sink\"]\n"
        );
        let e = parse(&text).unwrap_err();
        let said: Vec<(usize, &str)> = e.iter().map(|d| (d.line, d.message.as_str())).collect();
        assert_eq!(said.len(), 5, "{said:#?}");
        assert!(
            said[4].0 == 20 && said[4].1.contains("country `+999`"),
            "{said:#?}"
        );
        assert!(
            said[0].0 == 4 && said[0].1.contains("language `gr`"),
            "{said:#?}"
        );
        assert!(
            said[1].0 == 12 && said[1].1.contains("[channel.accounts.Acme]"),
            "{said:#?}"
        );
        assert!(
            said[2].0 == 19 && said[2].1.contains("account `Acme`"),
            "{said:#?}"
        );
        assert!(
            said[3].0 == 20 && said[3].1.contains("country `UK`"),
            "{said:#?}"
        );
    }
}
