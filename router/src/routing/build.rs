//! Building a complete [`RouteTable`] from a parsed `routes.toml`, reconciling channels with the
//! table in service: a channel whose configuration did not change keeps its instance (and its
//! connections); a changed one gets a new instance while in-flight messages finish on the old;
//! a removed one is dropped once its last message is done.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::channel::Channel;
use super::table::{Route, RouteTable};
use super::test_channel::{Script, TestChannel};
use crate::channels::ChannelContext;
use crate::config::diag::Source;
use crate::config::route::ChannelConfig;
use crate::config::{Diagnostic, RoutesFile};

/// Builds the next table; `previous` lends the channels whose configuration is unchanged.
pub fn build(
    file: &RoutesFile,
    previous: &RouteTable,
    generation: u64,
    path: &Path,
    text: &str,
    ctx: Option<&ChannelContext>,
) -> Result<RouteTable, Vec<Diagnostic>> {
    let mut src = Source::new(path, text);
    let mut channels: HashMap<String, Arc<dyn Channel>> = HashMap::new();
    for (config, base) in &file.channels {
        let name = config.name.get_ref().clone();
        let fingerprint = fingerprint(config);
        let unchanged = previous.channel_configs.get(&name) == Some(&fingerprint);
        if let Some(ch) = previous.channels.get(&name).filter(|_| unchanged) {
            channels.insert(name, ch.clone());
            continue;
        }
        match make_channel(config, ctx) {
            Ok(ch) => {
                channels.insert(name, ch);
            }
            Err(msg) => {
                let at = base + config.kind.span().start;
                src.error(at..at, format!("channel `{name}`: {msg}"));
            }
        }
    }
    if src.has_errors() {
        return Err(src.finish());
    }
    let routes = file
        .routes
        .iter()
        .map(|spec| Route {
            plan: spec
                .channels
                .iter()
                .filter_map(|c| channels.get(c).cloned())
                .collect(),
            spec: spec.clone(),
        })
        .collect();
    let configs = file
        .channels
        .iter()
        .map(|(c, _)| (c.name.get_ref().clone(), fingerprint(c)))
        .collect();
    let mut table = RouteTable::new(generation, file.accounts.clone(), channels, routes);
    table.channel_configs = configs;
    Ok(table)
}

/// What identifies a channel's configuration: its kind and settings, as canonical TOML, and a
/// digest of what the settings point to — the secrets behind `env:` and `file:` values, the
/// files named by `*_file` keys (CA bundles) and by `path` (a plugin's library) — so that a
/// reload after rotating a secret or a certificate, or installing a new build of a plugin,
/// rebuilds the channel. The digest keeps the secrets themselves out of the table.
fn fingerprint(c: &ChannelConfig) -> String {
    let mut outside = ring::digest::Context::new(&ring::digest::SHA256);
    fn walk(value: &toml::Value, key: &str, out: &mut ring::digest::Context) {
        match value {
            toml::Value::String(s) if s.starts_with("env:") || s.starts_with("file:") => {
                let resolved = crate::config::resolve_secret(s).unwrap_or_default();
                out.update(key.as_bytes());
                out.update(resolved.as_bytes());
            }
            toml::Value::String(path) if key.ends_with("_file") || key == "path" => {
                out.update(key.as_bytes());
                out.update(&std::fs::read(path).unwrap_or_default());
            }
            toml::Value::Table(t) => t.iter().for_each(|(k, v)| walk(v, k, out)),
            toml::Value::Array(a) => a.iter().for_each(|v| walk(v, key, out)),
            _ => {}
        }
    }
    c.settings
        .iter()
        .for_each(|(k, v)| walk(v, k, &mut outside));
    let digest = outside.finish();
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("{}\n{}\n{hex}", c.kind.get_ref(), c.settings)
}

/// A channel whose settings are valid but which was not started (no store: `check`, `explain`,
/// and tables built without one).
struct NotStarted(String);

impl Channel for NotStarted {
    fn name(&self) -> &str {
        &self.0
    }

    fn is_up(&self) -> bool {
        false
    }

    fn submit(&self, _message: &super::channel::Message) -> super::channel::AttemptFuture {
        Box::pin(std::future::ready(super::channel::Attempt::NotSent))
    }
}

/// Checks a channel's kind and settings without starting anything (for `check` and parsing).
pub fn check_channel(c: &ChannelConfig) -> Result<(), String> {
    match c.kind.get_ref().as_str() {
        "test" => test_channel(c.name.get_ref(), &c.settings).map(|_| ()),
        "smpp" => crate::channels::smpp::check(&c.settings),
        "plugin" => crate::channels::plugin::check(&c.settings),
        _ => make_channel(c, None).map(|_| ()),
    }
}

/// Makes a channel instance for one `[[channel]]` entry.
fn make_channel(
    c: &ChannelConfig,
    ctx: Option<&ChannelContext>,
) -> Result<Arc<dyn Channel>, String> {
    let name = c.name.get_ref();
    match c.kind.get_ref().as_str() {
        "test" => test_channel(name, &c.settings).map(|t| Arc::new(t) as Arc<dyn Channel>),
        "imessage" => crate::channels::imessage::from_settings(name, &c.settings)
            .map(|ch| Arc::new(ch) as Arc<dyn Channel>),
        "smpp" => match ctx {
            Some(ctx) => crate::channels::smpp::start(name, &c.settings, ctx.clone())
                .map(|ch| Arc::new(ch) as Arc<dyn Channel>),
            // `check` and `explain` read the table without a store: validate, do not connect.
            None => crate::channels::smpp::check(&c.settings)
                .map(|()| Arc::new(NotStarted(name.clone())) as Arc<dyn Channel>),
        },
        "plugin" => match ctx {
            Some(ctx) => crate::channels::plugin::start(name, &c.settings, ctx.clone())
                .map(|ch| Arc::new(ch) as Arc<dyn Channel>),
            None => crate::channels::plugin::check(&c.settings)
                .map(|()| Arc::new(NotStarted(name.clone())) as Arc<dyn Channel>),
        },
        other => Err(format!(
            "unknown kind `{other}` (imessage, smpp, plugin or test)"
        )),
    }
}

fn test_channel(name: &str, settings: &toml::Table) -> Result<TestChannel, String> {
    let mut script = Vec::new();
    let mut latency = Duration::ZERO;
    for (key, value) in settings {
        match (key.as_str(), value) {
            ("outcomes", toml::Value::Array(items)) => {
                for item in items {
                    let word = item.as_str().unwrap_or_default();
                    script.push(Script::parse(word).ok_or_else(|| {
                        format!(
                            "outcome `{word}` is not ok, delivered, 0xNN, not_sent, unknown or hang"
                        )
                    })?);
                }
            }
            ("latency", toml::Value::String(s)) => {
                latency = humantime::parse_duration(s).map_err(|e| format!("latency: {e}"))?;
            }
            (other, _) => {
                return Err(format!(
                    "unknown setting `{other}` for a test channel (outcomes, latency)"
                ));
            }
        }
    }
    if script.is_empty() {
        script.push(Script::Ok);
    }
    Ok(TestChannel::new(name, script, latency))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const HASH: &str =
        "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$3Ct7EVCGIS7Cic1y/7JKyOT/Y3/8SF0VTzUekYt1xU0";

    fn file(a_outcome: &str) -> (RoutesFile, String) {
        let text = format!(
            "[[account]]\nsystem_id = \"x\"\npassword_hash = \"{HASH}\"\n[[channel]]\nname = \"a\"\nkind = \"test\"\noutcomes = [\"{a_outcome}\"]\n[[channel]]\nname = \"b\"\nkind = \"test\"\n[[route]]\nname = \"r\"\nchannels = [\"a\", \"b\"]\n"
        );
        (
            RoutesFile::parse(Path::new("routes.toml"), &text).unwrap(),
            text,
        )
    }

    #[test]
    fn unchanged_channels_keep_their_instance_changed_ones_are_replaced() {
        let (f1, t1) = file("ok");
        let first = build(
            &f1,
            &RouteTable::empty(),
            1,
            Path::new("routes.toml"),
            &t1,
            None,
        )
        .unwrap();
        let (f2, t2) = file("0x45");
        let second = build(&f2, &first, 2, Path::new("routes.toml"), &t2, None).unwrap();
        assert!(
            !Arc::ptr_eq(&first.channels["a"], &second.channels["a"]),
            "a changed"
        );
        assert!(
            Arc::ptr_eq(&first.channels["b"], &second.channels["b"]),
            "b did not"
        );
        assert!(Arc::ptr_eq(
            &second.routes[0].plan[1],
            &second.channels["b"]
        ));
    }

    /// The README's example, `countries = ["GB", "+33"]`: numbers of both countries take it.
    #[test]
    fn countries_mix_regions_and_calling_codes() {
        let text = format!(
            "[[account]]\nsystem_id = \"x\"\npassword_hash = \"{HASH}\"\n[[channel]]\nname = \"a\"\nkind = \"test\"\n\
             [[route]]\nname = \"gb-fr\"\ncountries = [\"GB\", \"+33\"]\nchannels = [\"a\"]\n"
        );
        let f = RoutesFile::parse(Path::new("routes.toml"), &text).unwrap();
        let t = build(
            &f,
            &RouteTable::empty(),
            1,
            Path::new("routes.toml"),
            &text,
            None,
        )
        .unwrap();
        let routed = |to: &str| {
            let sm = crate::smpp::pdu::Sm {
                dest: crate::smpp::pdu::Address::new(1, 1, to),
                ..Default::default()
            };
            let destination = crate::phone::validate(to.as_bytes()).unwrap();
            t.route_index(&crate::routing::table::RouteInput::new(
                "x",
                &sm,
                destination,
            ))
        };
        assert_eq!(routed("447400123456"), Some(0), "GB");
        assert_eq!(routed("33612345678"), Some(0), "France by its calling code");
        assert_eq!(routed("4915112345678"), None, "Germany is neither");
    }

    #[test]
    fn a_rotated_secret_file_changes_the_fingerprint_without_showing_in_it() {
        let dir = std::env::temp_dir().join(format!("fingerprint-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = dir.join("otpblue-key");
        let text = format!(
            "[[channel]]\nname = \"imessage\"\nkind = \"imessage\"\napi_key = \"file:{}\"\n",
            key.display()
        );
        let fp = || {
            let f = RoutesFile::parse(Path::new("routes.toml"), &text).unwrap();
            fingerprint(&f.channels[0].0)
        };
        std::fs::write(&key, "first-secret-value\n").unwrap();
        let before = fp();
        assert_eq!(before, fp(), "the same secret, the same fingerprint");
        std::fs::write(&key, "second-secret-value\n").unwrap();
        let after = fp();
        assert_ne!(before, after, "a rotated secret rebuilds the channel");
        assert!(!after.contains("secret-value"), "{after}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
