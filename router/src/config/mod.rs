//! Configuration: `router.toml` (static, read at start) and `routes.toml` (live: accounts,
//! channels, routes). Both report every error with its file, line and column.

pub mod account;
pub mod diag;
pub mod route;
pub mod router;
pub mod routes;

pub use account::{Account, Accounts};
pub use diag::Diagnostic;
pub use router::RouterConfig;
pub use routes::RoutesFile;

/// Resolves a secret written as `env:NAME`, `file:PATH` or a literal; surrounding whitespace
/// (a file's trailing newline) is dropped. The error names the variable or file, never the value.
pub fn resolve_secret(spec: &str) -> Result<String, String> {
    let value = if let Some(name) = spec.strip_prefix("env:") {
        std::env::var(name).map_err(|_| format!("environment variable `{name}` is not set"))?
    } else if let Some(path) = spec.strip_prefix("file:") {
        std::fs::read_to_string(path).map_err(|e| format!("cannot read `{path}`: {e}"))?
    } else {
        spec.to_string()
    };
    Ok(value.trim().to_string())
}

/// Reads a channel's settings table into `T`; the error is one line naming the key, without
/// the value when the key holds a secret.
pub fn channel_settings<T: serde::de::DeserializeOwned>(table: &toml::Table) -> Result<T, String> {
    toml::Value::Table(table.clone())
        .try_into()
        .map_err(|e: toml::de::Error| {
            let one_line = e
                .to_string()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            redact_value(&one_line, None)
        })
}

/// Whether a settings key holds a secret (passwords, hashes, API keys, tokens): its value is
/// never repeated in an error.
pub fn is_secret_key(key: &str) -> bool {
    let key = key.rsplit('.').next().unwrap_or(key).to_ascii_lowercase();
    [
        "password",
        "secret",
        "token",
        "api_key",
        "apikey",
        "credential",
        "auth",
    ]
    .iter()
    .any(|s| key.contains(s))
        || key.ends_with("_key")
        || key == "key"
}

/// serde's message about a value ("invalid type: integer `98765432`, expected a string"),
/// without the value when it belongs to a secret key — `key`, or the key serde names in
/// backquotes (`` in `password` ``). Other messages are returned as they are.
pub fn redact_value(message: &str, key: Option<&str>) -> String {
    let about_a_value = ["invalid type", "invalid value", "invalid length"]
        .iter()
        .any(|m| message.contains(m));
    if !about_a_value {
        return message.to_string();
    }
    let named = message
        .split('`')
        .skip(1)
        .step_by(2)
        .find(|name| is_secret_key(name));
    let Some(name) = key.filter(|k| is_secret_key(k)).or(named) else {
        return message.to_string();
    };
    let name = name.rsplit('.').next().unwrap_or(name);
    // Keep what precedes serde's text (a key prefix such as `password: `) and what is expected.
    let start = ["invalid type", "invalid value", "invalid length"]
        .iter()
        .filter_map(|m| message.find(m))
        .min()
        .unwrap_or(0);
    let expected = message.find(", expected").map_or("", |at| &message[at..]);
    let expected = expected
        .strip_suffix(&format!(" in `{name}`"))
        .unwrap_or(expected);
    // Led by the key, as the other settings errors are (it also places the error on its line).
    let prefix = &message[..start];
    let lead = if prefix.is_empty() {
        format!("{name}: ")
    } else {
        prefix.to_string()
    };
    format!("{lead}wrong type or value (not shown: it is a secret){expected}")
}
