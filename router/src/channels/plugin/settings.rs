//! The settings of a `kind = "plugin"` channel, from its `[[channel]]` table in routes.toml.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::channels::SetupError;

/// A validated `kind = "plugin"` table.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The library.
    pub path: PathBuf,
    /// How long a submit may take.
    pub timeout: Duration,
    /// Submits in flight at most.
    pub max_in_flight: usize,
    /// The `config` table as JSON.
    pub config: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    path: String,
    timeout: Option<String>,
    max_in_flight: Option<i64>,
    #[serde(default)]
    config: toml::Table,
}

impl Settings {
    /// Validates a channel's table; the error is one line naming the key.
    pub fn parse(table: &toml::Table) -> Result<Self, SetupError> {
        let raw: Raw = crate::channels::kind::settings(table)?;
        let timeout = match raw.timeout.as_deref() {
            None => Duration::from_secs(5),
            Some(s) => {
                humantime::parse_duration(s).map_err(|e| SetupError::invalid("timeout", e))?
            }
        };
        if timeout.is_zero() {
            return Err(SetupError::invalid("timeout", "must be more than 0"));
        }
        let max_in_flight = raw.max_in_flight.unwrap_or(1000);
        if !(1..=1_000_000).contains(&max_in_flight) {
            return Err(SetupError::invalid(
                "max_in_flight",
                format!("{max_in_flight} is not between 1 and 1000000"),
            ));
        }
        let config =
            serde_json::to_string(&raw.config).map_err(|e| SetupError::invalid("config", e))?;
        Ok(Self {
            path: PathBuf::from(raw.path),
            timeout,
            max_in_flight: max_in_flight as usize,
            config,
        })
    }
}
