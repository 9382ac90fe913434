//! Channel kinds: what `kind = "…"` in a `[[channel]]` table names. Each kind checks its
//! settings without starting anything (`smpp-router check`, every reload) and starts a channel
//! from them; the app registers the kinds it offers in a [`ChannelKinds`], which the route table
//! is built with. A new kind is one module under `channels/` and one line in
//! [`ChannelKinds::builtin`].

use std::path::PathBuf;
use std::sync::Arc;

use super::ChannelContext;
use super::channel::{Attempt, AttemptFuture, Channel, Message};
use crate::config::route::ChannelConfig;
use crate::config::routes::{ChannelCheck, KeyedError};

/// Why a `[[channel]]` table could not be checked or a channel not started. Where one key is at
/// fault the error names it, and `routes.toml` errors point at that key's line. No variant
/// carries a secret's value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    /// `kind` names no registered kind.
    #[error("unknown kind `{kind}` ({known})")]
    UnknownKind {
        /// What was written.
        kind: String,
        /// The registered kinds, for the message.
        known: String,
    },
    /// The table does not have the kind's shape: an unknown or a missing key, a value of the
    /// wrong type (serde's words; values are left out).
    #[error("{message}")]
    Shape {
        /// The key serde named, if any.
        key: Option<String>,
        /// One line.
        message: String,
    },
    /// A setting's value cannot be used.
    #[error("{key}: {problem}")]
    Invalid {
        /// The key (dotted for nested tables: `accounts.bank.sender`).
        key: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A plugin library could not be opened (missing, not a plugin, another ABI, a copy that
    /// could not be written).
    #[error("{problem}")]
    Library {
        /// The `path` setting.
        path: PathBuf,
        /// What went wrong.
        problem: String,
    },
    /// The plugin refused its `config` table, or could not create its instance.
    #[error("plugin {path} ({plugin}): {stage}: {reason}", path = path.display())]
    Plugin {
        /// The `path` setting.
        path: PathBuf,
        /// The plugin's own name.
        plugin: String,
        /// `config` (validation) or `create failed`.
        stage: &'static str,
        /// The plugin's text.
        reason: String,
    },
    /// The kind starts tasks and was asked to start outside the router's runtime.
    #[error("a {kind} channel needs the router's runtime")]
    NoRuntime {
        /// The kind.
        kind: &'static str,
    },
}

impl SetupError {
    /// A setting whose value cannot be used.
    pub fn invalid(key: impl Into<String>, problem: impl std::fmt::Display) -> Self {
        Self::Invalid {
            key: key.into(),
            problem: problem.to_string(),
        }
    }
}

impl KeyedError for SetupError {
    fn key(&self) -> Option<&str> {
        match self {
            Self::Shape { key, .. } => key.as_deref(),
            Self::Invalid { key, .. } => Some(key),
            Self::Library { .. } => Some("path"),
            Self::Plugin { stage, .. } if *stage == "config" => Some("config"),
            _ => None,
        }
    }
}

/// Reads a channel's settings table into `T`; the error is one line, naming the key where serde
/// does and never a value (see [`crate::config::redact_value`]).
pub fn settings<T: serde::de::DeserializeOwned>(table: &toml::Table) -> Result<T, SetupError> {
    toml::Value::Table(table.clone())
        .try_into()
        .map_err(|e: toml::de::Error| {
            let one_line = e
                .to_string()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            let key = ["unknown field `", "missing field `", "in `"]
                .iter()
                .find_map(|lead| {
                    let rest = one_line.split_once(lead)?.1;
                    rest.split_once('`').map(|(key, _)| key.to_string())
                });
            SetupError::Shape {
                message: crate::config::redact_value(&one_line, None),
                key,
            }
        })
}

/// One kind of channel.
pub trait ChannelKind: Send + Sync + 'static {
    /// The name written as `kind = "…"`.
    fn name(&self) -> &'static str;
    /// Validates the settings (`kind` and `name` removed) without starting anything.
    fn check(&self, settings: &toml::Table) -> Result<(), SetupError>;
    /// Builds the channel named `name` and starts what it runs (binds, plugin instances).
    fn start(
        &self,
        name: &str,
        settings: &toml::Table,
        ctx: &ChannelContext,
    ) -> Result<Arc<dyn Channel>, SetupError>;
}

/// The kinds a router offers.
#[derive(Clone, Default)]
pub struct ChannelKinds {
    kinds: Vec<Arc<dyn ChannelKind>>,
}

impl ChannelKinds {
    /// The kinds built into the router: `imessage`, `smpp`, `plugin` and `test`.
    pub fn builtin() -> Self {
        Self::default()
            .with(super::imessage::Kind)
            .with(super::smpp::Kind)
            .with(super::plugin::Kind)
            .with(super::test_channel::Kind)
    }

    /// Adds a kind (replacing one of the same name).
    pub fn with(mut self, kind: impl ChannelKind) -> Self {
        self.kinds.retain(|k| k.name() != kind.name());
        self.kinds.push(Arc::new(kind));
        self
    }

    /// The kind named `kind`.
    pub fn get(&self, kind: &str) -> Result<&dyn ChannelKind, SetupError> {
        self.kinds
            .iter()
            .find(|k| k.name() == kind)
            .map(|k| k.as_ref())
            .ok_or_else(|| SetupError::UnknownKind {
                kind: kind.to_string(),
                known: self.names(),
            })
    }

    /// `a, b, c or d`.
    fn names(&self) -> String {
        let names: Vec<&str> = self.kinds.iter().map(|k| k.name()).collect();
        match names.split_last() {
            None => "none are registered".into(),
            Some((last, [])) => (*last).to_string(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        }
    }

    /// Starts the channel of `config` with `ctx`; without one (`check`, `explain`) only checks
    /// it and stands in a channel that is never up.
    pub fn make(
        &self,
        config: &ChannelConfig,
        ctx: Option<&ChannelContext>,
    ) -> Result<Arc<dyn Channel>, SetupError> {
        let kind = self.get(config.kind.get_ref())?;
        let name = config.name.get_ref();
        match ctx {
            Some(ctx) => kind.start(name, &config.settings, ctx),
            None => kind
                .check(&config.settings)
                .map(|()| Arc::new(NotStarted(name.clone())) as Arc<dyn Channel>),
        }
    }
}

impl ChannelCheck for ChannelKinds {
    type Error = SetupError;

    fn check(&self, config: &ChannelConfig) -> Result<(), SetupError> {
        self.get(config.kind.get_ref())?.check(&config.settings)
    }
}

/// A channel whose settings are valid but which was not started (`check`, `explain`).
struct NotStarted(String);

impl Channel for NotStarted {
    fn name(&self) -> &str {
        &self.0
    }

    fn is_up(&self) -> bool {
        false
    }

    fn submit(&self, _message: &Message) -> AttemptFuture {
        Box::pin(std::future::ready(Attempt::NotSent))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::RoutesFile;

    fn table(text: &str) -> toml::Table {
        text.parse().unwrap()
    }

    #[test]
    fn an_unknown_kind_names_the_registered_ones() {
        let kinds = ChannelKinds::builtin();
        let Err(e) = kinds.get("smtp") else {
            panic!("smtp is no kind")
        };
        assert_eq!(
            e.to_string(),
            "unknown kind `smtp` (imessage, smpp, plugin or test)"
        );
    }

    #[test]
    fn errors_name_the_key_at_fault_and_never_a_value() {
        let smpp = super::super::smpp::Kind;
        let base = "host = \"127.0.0.1\"\nport = 2775\nsystem_id = \"s\"\npassword = \"pw\"\n";
        let e = smpp
            .check(&table(&format!("{base}windw = 5\n")))
            .unwrap_err();
        assert_eq!(e.key(), Some("windw"), "{e}");
        let e = smpp
            .check(&table(&format!("{base}window = 99999\n")))
            .unwrap_err();
        assert_eq!(e.key(), Some("window"), "{e}");
        let e = smpp
            .check(&table(
                "host = \"h\"\nport = 1\nsystem_id = \"s\"\npassword = 12345678\n",
            ))
            .unwrap_err();
        assert!(!e.to_string().contains("12345678"), "{e}");
    }

    /// A kind the app registers is one `with`: routes.toml may then name it.
    #[test]
    fn a_registered_kind_can_be_named_in_routes_toml() {
        struct Echo;
        impl ChannelKind for Echo {
            fn name(&self) -> &'static str {
                "echo"
            }
            fn check(&self, settings: &toml::Table) -> Result<(), SetupError> {
                match settings.keys().next() {
                    None => Ok(()),
                    Some(k) => Err(SetupError::invalid(k.as_str(), "echo takes no settings")),
                }
            }
            fn start(
                &self,
                name: &str,
                _: &toml::Table,
                _: &ChannelContext,
            ) -> Result<Arc<dyn Channel>, SetupError> {
                Ok(Arc::new(NotStarted(name.to_string())))
            }
        }
        let text = "[[channel]]\nname = \"e\"\nkind = \"echo\"\n";
        let path = Path::new("routes.toml");
        assert!(RoutesFile::parse(path, text, &ChannelKinds::builtin()).is_err());
        let kinds = ChannelKinds::builtin().with(Echo);
        assert!(RoutesFile::parse(path, text, &kinds).is_ok());
        let errors =
            RoutesFile::parse(path, &format!("{text}\nloud = true\n"), &kinds).unwrap_err();
        assert_eq!(errors[0].line, 5, "at the key's own line: {errors:?}");
    }
}
