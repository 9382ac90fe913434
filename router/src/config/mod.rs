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

/// Reads a channel's settings table into `T`; the error is one line naming the key.
pub fn channel_settings<T: serde::de::DeserializeOwned>(table: &toml::Table) -> Result<T, String> {
    toml::Value::Table(table.clone())
        .try_into()
        .map_err(|e: toml::de::Error| {
            e.to_string()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
}
