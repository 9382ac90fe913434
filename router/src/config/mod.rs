//! Configuration: `router.toml` (static, read at start) and `routes.toml` (live: accounts,
//! channels, routes). Both report every error with its file, line and column.

pub mod account;
pub mod diag;
pub mod policy;
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

/// Whether a settings key holds a secret (passwords, hashes, API keys, tokens): its name is
/// then given with the error, as "a secret".
pub fn is_secret_key(key: &str) -> bool {
    let key = key.rsplit('.').next().unwrap_or(key).to_ascii_lowercase();
    [
        "password",
        "passwd",
        "secret",
        "token",
        "api_key",
        "apikey",
        "credential",
        "auth",
        "private",
        "bearer",
    ]
    .iter()
    .any(|s| key.contains(s))
        || key.ends_with("_key")
        || ["key", "pin", "pwd", "pass"].contains(&key.as_str())
}

/// serde's message about a wrong value ("invalid type: integer `98765432`, expected a
/// string"), with the value itself left out — always: the key a value belongs to cannot always
/// be told from the message (inline tables, arrays), and it may be a secret. What remains says
/// the kind of value found and what was expected; for a secret key (`key`, or one serde names
/// in backquotes, `` in `password` ``) the message is led by the key and says so. Other
/// messages are returned as they are.
pub fn redact_value(message: &str, key: Option<&str>) -> String {
    let Some((start, kind)) = ["invalid type: ", "invalid value: "]
        .iter()
        .filter_map(|k| message.find(k).map(|at| (at, *k)))
        .min()
    else {
        return message.to_string();
    };
    // serde's word for what it found (`integer`, `string`, …), never the value.
    let found = message[start + kind.len()..]
        .split([' ', ','])
        .next()
        .filter(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
        .unwrap_or("value");
    let expected = message.rfind(", expected").map_or("", |at| &message[at..]);
    let prefix = &message[..start];
    let named = message
        .split('`')
        .skip(1)
        .step_by(2)
        .find(|name| is_secret_key(name));
    let Some(name) = key.filter(|k| is_secret_key(k)).or(named) else {
        return format!("{prefix}{kind}{found} (not repeated){expected}");
    };
    let name = name.rsplit('.').next().unwrap_or(name);
    let expected = expected
        .strip_suffix(&format!(" in `{name}`"))
        .unwrap_or(expected);
    // Led by the key, as the other settings errors are (it also places the error on its line).
    let lead = if prefix.is_empty() {
        format!("{name}: ")
    } else {
        prefix.to_string()
    };
    format!("{lead}wrong type or value (not shown: it is a secret){expected}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_never_repeated_in_errors() {
        // A secret named by serde.
        assert_eq!(
            redact_value(
                "invalid type: integer `98765432`, expected a string in `password`",
                None
            ),
            "password: wrong type or value (not shown: it is a secret), expected a string"
        );
        // A secret in an inline table: the key on the line is the table's, not the secret's.
        let m = redact_value(
            "invalid type: integer `31415926`, expected a string",
            Some("admin"),
        );
        assert!(!m.contains("31415926"), "{m}");
        assert_eq!(m, "invalid type: integer (not repeated), expected a string");
        // A string value that itself contains the words serde uses.
        let m = redact_value(
            "invalid value: string \"abc, expected x\", expected one of `a`, `b`",
            Some("mode"),
        );
        assert!(!m.contains("abc"), "{m}");
        // Other messages pass.
        assert_eq!(redact_value("unknown field `x`", None), "unknown field `x`");
        assert!(is_secret_key("tyntec.password") && is_secret_key("pin") && !is_secret_key("spin"));
    }
}
