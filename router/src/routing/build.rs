//! Building a complete [`RouteTable`] from a parsed `routes.toml`, reconciling channels with the
//! table in service: a channel whose configuration did not change keeps its instance (and its
//! connections); a changed one gets a new instance while in-flight messages finish on the old;
//! a removed one is dropped once its last message is done.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use super::table::{Route, RouteTable};
use crate::channels::{Channel, ChannelContext, ChannelKinds};
use crate::config::diag::Source;
use crate::config::route::ChannelConfig;
use crate::config::{Diagnostic, RoutesFile};

/// What a reload did to the channels, by name (each list sorted).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ChannelChanges {
    /// Unchanged: the instance in service (and its connections) carries on.
    pub kept: Vec<String>,
    /// New in the file: started.
    pub added: Vec<String>,
    /// Changed (settings, a rotated secret, a new library build): a new instance; messages in
    /// flight finish on the old one.
    pub rebuilt: Vec<String>,
    /// Gone from the file: dropped once its last message is done.
    pub removed: Vec<String>,
}

/// Builds the next table with `kinds`; `previous` lends the channels whose configuration is
/// unchanged. With `ctx` channels are started, without they are only checked.
pub fn build(
    file: &RoutesFile,
    previous: &RouteTable,
    generation: u64,
    (path, text): (&Path, &str),
    kinds: &ChannelKinds,
    ctx: Option<&ChannelContext>,
) -> Result<(RouteTable, ChannelChanges), Vec<Diagnostic>> {
    let mut src = Source::new(path, text);
    let mut channels: HashMap<String, Arc<dyn Channel>> = HashMap::new();
    let mut changes = ChannelChanges::default();
    for (config, base) in &file.channels {
        let name = config.name.get_ref().clone();
        let fingerprint = fingerprint(config);
        let unchanged = previous.channel_configs.get(&name) == Some(&fingerprint);
        if let Some(ch) = previous.channels.get(&name).filter(|_| unchanged) {
            changes.kept.push(name.clone());
            channels.insert(name, ch.clone());
            continue;
        }
        match kinds.make(config, ctx) {
            Ok(ch) => {
                match previous.channels.contains_key(&name) {
                    true => changes.rebuilt.push(name.clone()),
                    false => changes.added.push(name.clone()),
                }
                channels.insert(name, ch);
            }
            Err(e) => {
                let at = base + config.kind.span().start;
                src.error(at..at, format!("channel `{name}`: {e}"));
            }
        }
    }
    if src.has_errors() {
        return Err(src.finish());
    }
    changes.removed = previous
        .channels
        .keys()
        .filter(|name| !channels.contains_key(*name))
        .cloned()
        .collect();
    for list in [
        &mut changes.kept,
        &mut changes.added,
        &mut changes.rebuilt,
        &mut changes.removed,
    ] {
        list.sort();
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
    Ok((table, changes))
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const HASH: &str =
        "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$3Ct7EVCGIS7Cic1y/7JKyOT/Y3/8SF0VTzUekYt1xU0";

    fn file(a_outcome: &str) -> String {
        format!(
            "[[account]]\nsystem_id = \"x\"\npassword_hash = \"{HASH}\"\n[[channel]]\nname = \"a\"\nkind = \"test\"\noutcomes = [\"{a_outcome}\"]\n[[channel]]\nname = \"b\"\nkind = \"test\"\n[[route]]\nname = \"r\"\nchannels = [\"a\", \"b\"]\n"
        )
    }

    /// The table `text` builds after `previous`, with the built-in kinds, checked only.
    fn table(text: &str, previous: &RouteTable) -> (RouteTable, ChannelChanges) {
        let path = Path::new("routes.toml");
        let kinds = ChannelKinds::builtin();
        let file = RoutesFile::parse(path, text, &kinds).unwrap();
        build(
            &file,
            previous,
            previous.generation + 1,
            (path, text),
            &kinds,
            None,
        )
        .unwrap()
    }

    #[test]
    fn unchanged_channels_keep_their_instance_changed_ones_are_replaced() {
        let (first, changes) = table(&file("ok"), &RouteTable::empty());
        assert_eq!(changes.added, ["a", "b"]);
        let (second, changes) = table(&file("0x45"), &first);
        assert_eq!(
            changes,
            ChannelChanges {
                kept: vec!["b".into()],
                rebuilt: vec!["a".into()],
                ..ChannelChanges::default()
            }
        );
        let (_, changes) = table(
            &file("0x45")
                .replace("[[channel]]\nname = \"b\"\nkind = \"test\"\n", "")
                .replace(", \"b\"", ""),
            &second,
        );
        assert_eq!(
            changes,
            ChannelChanges {
                kept: vec!["a".into()],
                removed: vec!["b".into()],
                ..ChannelChanges::default()
            }
        );
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

    /// The manual's example (docs/configuration.md), `countries = ["GB", "+33"]`: numbers of both countries take it.
    #[test]
    fn countries_mix_regions_and_calling_codes() {
        let text = format!(
            "[[account]]\nsystem_id = \"x\"\npassword_hash = \"{HASH}\"\n[[channel]]\nname = \"a\"\nkind = \"test\"\n\
             [[route]]\nname = \"gb-fr\"\ncountries = [\"GB\", \"+33\"]\nchannels = [\"a\"]\n"
        );
        let (t, _) = table(&text, &RouteTable::empty());
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
            let kinds = ChannelKinds::builtin();
            let f = RoutesFile::parse(Path::new("routes.toml"), &text, &kinds).unwrap();
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
