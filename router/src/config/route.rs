//! `[[channel]]` and `[[route]]` entries of `routes.toml`: their schema and validation. Every
//! error carries its line; a route that names an unknown channel, a bad regex, country or policy
//! is reported where it is written.

use std::collections::HashSet;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::diag::Source;
use super::policy::{Action, FinalStatus, Policy, Then};
use crate::smpp::CommandStatus;

/// One `[[channel]]` entry: a name, a kind, and the kind's own settings (kept as TOML so each
/// channel kind validates its own table).
#[derive(Clone, Debug, Deserialize)]
pub struct ChannelConfig {
    /// The name routes refer to.
    pub name: Spanned<String>,
    /// `imessage`, `smpp`, `plugin` or `test`.
    pub kind: Spanned<String>,
    /// The remaining keys, for the kind to interpret.
    #[serde(flatten)]
    pub settings: toml::Table,
}

/// One `[[route]]` entry as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    name: Spanned<String>,
    #[serde(default)]
    accounts: Vec<Spanned<String>>,
    #[serde(default)]
    prefixes: Vec<Spanned<String>>,
    #[serde(default)]
    countries: Vec<Spanned<String>>,
    #[serde(default)]
    source: Option<Spanned<String>>,
    #[serde(default)]
    content: Option<Spanned<String>>,
    channels: Spanned<Vec<String>>,
    #[serde(default, with = "humantime_serde::option")]
    deadline: Option<Duration>,
    #[serde(default)]
    final_status: Option<Spanned<String>>,
    #[serde(default)]
    next_after_unknown: bool,
    #[serde(default)]
    not_sent: Option<Spanned<String>>,
    #[serde(default)]
    on_status: Option<Spanned<toml::Table>>,
}

/// A validated route, before its channels are bound to instances.
#[derive(Clone, Debug)]
pub struct RouteSpec {
    /// The route's name (for logs, metrics, `explain`).
    pub name: String,
    /// The line it starts on, for `explain`.
    pub line: usize,
    /// Accounts it applies to; empty means all.
    pub accounts: Vec<String>,
    /// Destination prefixes (digits); empty means any.
    pub prefixes: Vec<String>,
    /// ISO regions (`US`) from `countries`; with `calling_codes`, one of them must match (both
    /// empty means any country).
    pub regions: Vec<[u8; 2]>,
    /// Calling codes (`33`) from `countries`: the destination starts with one of them.
    pub calling_codes: Vec<String>,
    /// A regex on `source_addr`.
    pub source: Option<regex::Regex>,
    /// A regex on the decoded message text.
    pub content: Option<regex::Regex>,
    /// The channel plan, by name, in order.
    pub channels: Vec<String>,
    /// The per-message deadline.
    pub deadline: Duration,
    /// The failover policy.
    pub policy: Policy,
}

/// The default per-message deadline.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(10);

/// Validates routes against the known channel names; records errors and returns the good routes.
pub fn validate_routes(
    src: &mut Source<'_>,
    routes: Vec<(RouteConfig, usize)>,
    channels: &HashSet<String>,
    accounts: &HashSet<String>,
) -> Vec<RouteSpec> {
    let mut names = HashSet::new();
    let mut out = Vec::with_capacity(routes.len());
    for (r, base) in routes {
        let at = |s: std::ops::Range<usize>| base + s.start..base + s.end;
        let errors_before = src.error_count();
        if !names.insert(r.name.get_ref().clone()) {
            src.error(
                at(r.name.span()),
                format!("route `{}` is defined more than once", r.name.get_ref()),
            );
        }
        for c in r.channels.get_ref() {
            if !channels.contains(c) {
                src.error(
                    at(r.channels.span()),
                    format!(
                        "route `{}` names channel `{c}`, which is not defined",
                        r.name.get_ref()
                    ),
                );
            }
        }
        for a in &r.accounts {
            if !accounts.contains(a.get_ref()) {
                src.error(
                    at(a.span()),
                    format!(
                        "route `{}` names account `{}`, which is not defined (system_ids are case-sensitive)",
                        r.name.get_ref(),
                        a.get_ref()
                    ),
                );
            }
        }
        if r.channels.get_ref().is_empty() {
            src.error(at(r.channels.span()), "a route needs at least one channel");
        }
        for p in &r.prefixes {
            if p.get_ref().is_empty() || !p.get_ref().bytes().all(|b| b.is_ascii_digit()) {
                src.error(
                    at(p.span()),
                    format!("prefix `{}` must be digits, such as 44", p.get_ref()),
                );
            }
        }
        let prefixes: Vec<String> = r.prefixes.iter().map(|p| p.get_ref().clone()).collect();
        let mut regions = Vec::new();
        let mut calling_codes = Vec::new();
        for c in &r.countries {
            match country(c.get_ref()) {
                Some(Country::Region(reg)) => regions.push(reg),
                Some(Country::CallingCode(code)) => calling_codes.push(code),
                None => src.error(
                    at(c.span()),
                    format!(
                        "country `{}` is neither a known ISO region (GB, not UK) nor an assigned calling code (+44)",
                        c.get_ref()
                    ),
                ),
            }
        }
        let source = compile(src, &r.source, &at);
        let content = compile(src, &r.content, &at);
        let policy = policy(src, &r, &at);
        if src.error_count() > errors_before {
            continue;
        }
        out.push(RouteSpec {
            name: r.name.get_ref().clone(),
            line: src.position(base).0,
            accounts: r.accounts.iter().map(|a| a.get_ref().clone()).collect(),
            prefixes,
            regions,
            calling_codes,
            source,
            content,
            channels: r.channels.get_ref().clone(),
            deadline: r.deadline.unwrap_or(DEFAULT_DEADLINE),
            policy,
        });
    }
    out
}

enum Country {
    Region([u8; 2]),
    CallingCode(String),
}

fn country(s: &str) -> Option<Country> {
    let digits = s.strip_prefix('+').unwrap_or(s);
    if !digits.is_empty() && digits.len() <= 3 && digits.bytes().all(|b| b.is_ascii_digit()) {
        return crate::phone::is_known_calling_code(digits)
            .then(|| Country::CallingCode(digits.to_string()));
    }
    let b = s.as_bytes();
    (b.len() == 2 && b.iter().all(u8::is_ascii_alphabetic) && crate::phone::is_known_region(s))
        .then(|| Country::Region([b[0].to_ascii_uppercase(), b[1].to_ascii_uppercase()]))
}

fn compile(
    src: &mut Source<'_>,
    re: &Option<Spanned<String>>,
    at: &dyn Fn(std::ops::Range<usize>) -> std::ops::Range<usize>,
) -> Option<regex::Regex> {
    let re = re.as_ref()?;
    match regex::Regex::new(re.get_ref()) {
        Ok(r) => Some(r),
        Err(e) => {
            let first = e
                .to_string()
                .lines()
                .last()
                .unwrap_or("invalid")
                .trim()
                .to_string();
            src.error(at(re.span()), format!("invalid regex: {first}"));
            None
        }
    }
}

fn policy(
    src: &mut Source<'_>,
    r: &RouteConfig,
    at: &dyn Fn(std::ops::Range<usize>) -> std::ops::Range<usize>,
) -> Policy {
    let mut p = Policy {
        next_after_unknown: r.next_after_unknown,
        ..Policy::default()
    };
    if let Some(fs) = &r.final_status {
        match fs.get_ref().as_str() {
            "most_telling" => p.final_status = FinalStatus::MostTelling,
            "first" => p.final_status = FinalStatus::First,
            "last" => p.final_status = FinalStatus::Last,
            other => src.error(
                at(fs.span()),
                format!("final_status `{other}` is not most_telling, first or last"),
            ),
        }
    }
    if let Some(ns) = &r.not_sent {
        match parse_action(ns.get_ref()) {
            Ok(a) => p.not_sent = a,
            Err(e) => src.error(at(ns.span()), e),
        }
    }
    if let Some(table) = &r.on_status {
        for (key, value) in table.get_ref() {
            let status = key
                .strip_prefix("0x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .map(CommandStatus);
            let action = value
                .as_str()
                .ok_or_else(|| "an action is a string".to_string())
                .and_then(parse_action);
            match (status, action) {
                (Some(s), Ok(a)) => p.overrides.push((s, a)),
                (None, _) => src.error(
                    at(table.span()),
                    format!("on_status key `{key}` is not a status such as \"0x45\""),
                ),
                (_, Err(e)) => src.error(at(table.span()), format!("on_status.\"{key}\": {e}")),
            }
        }
    }
    p
}

/// Parses `next`, `stop`, or `retry N [BACKOFF] [then next|stop]`.
pub fn parse_action(s: &str) -> Result<Action, String> {
    let words: Vec<&str> = s.split_whitespace().collect();
    match words.as_slice() {
        ["next"] => Ok(Action::Next),
        ["stop"] => Ok(Action::Stop),
        ["retry", rest @ ..] => {
            let mut count = 2;
            let mut backoff = Duration::from_millis(100);
            let mut then = Then::Next;
            let mut it = rest.iter().peekable();
            if let Some(n) = it.peek().and_then(|w| w.parse::<u32>().ok()) {
                count = n;
                it.next();
            }
            if let Some(d) = it.peek().and_then(|w| humantime::parse_duration(w).ok()) {
                backoff = d;
                it.next();
            }
            match (it.next(), it.next(), it.next()) {
                (None, None, None) => {}
                (Some(&"then"), Some(&"next"), None) => then = Then::Next,
                (Some(&"then"), Some(&"stop"), None) => then = Then::Stop,
                _ => return Err(format!("`{s}` is not `retry N BACKOFF then next|stop`")),
            }
            Ok(Action::Retry {
                count,
                backoff,
                then,
            })
        }
        _ => Err(format!(
            "`{s}` is not next, stop, or `retry N BACKOFF then next|stop`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_parse() {
        assert_eq!(parse_action("next"), Ok(Action::Next));
        assert_eq!(
            parse_action("retry 3 250ms then stop"),
            Ok(Action::Retry {
                count: 3,
                backoff: Duration::from_millis(250),
                then: Then::Stop
            })
        );
        assert_eq!(
            parse_action("retry"),
            Ok(Action::Retry {
                count: 2,
                backoff: Duration::from_millis(100),
                then: Then::Next
            })
        );
        assert!(parse_action("retry twice").is_err());
        assert!(parse_action("later").is_err());
    }
}
