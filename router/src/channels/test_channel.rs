//! A scripted channel (`kind = "test"` in routes.toml): it answers from a list of outcomes, one
//! per attempt, after a fixed latency, and can be marked down. Tests use it to assert exact
//! attempt sequences; operators can use it to dry-run a routing table.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use std::sync::Arc;

use super::ChannelContext;
use super::channel::{Attempt, AttemptFuture, Channel, Message};
use super::kind::{ChannelKind, SetupError};
use crate::smpp::CommandStatus;
use crate::smpp::values::MessageState;

/// A scripted outcome, as written in routes.toml: `"ok"`, `"delivered"`, `"0x45"`,
/// `"not_sent"`, `"unknown"`, `"hang"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Script {
    /// Accepted, receipt later.
    Ok,
    /// Accepted and known delivered (a receipt follows at once).
    Delivered,
    /// Refused with this status.
    Refuse(CommandStatus),
    /// Nothing sent.
    NotSent,
    /// Written, no answer.
    Unknown,
    /// Never answers (the deadline decides).
    Hang,
    /// Nothing sent, and the channel goes down (as a plugin that panicked is disabled).
    Down,
}

impl Script {
    /// Parses one outcome word.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "ok" => Self::Ok,
            "delivered" => Self::Delivered,
            "not_sent" => Self::NotSent,
            "unknown" => Self::Unknown,
            "hang" => Self::Hang,
            "down" => Self::Down,
            hex => Self::Refuse(CommandStatus(
                u32::from_str_radix(hex.strip_prefix("0x")?, 16).ok()?,
            )),
        })
    }
}

/// `kind = "test"`: `outcomes` (words of [`Script::parse`]) and `latency`.
pub struct Kind;

impl ChannelKind for Kind {
    fn name(&self) -> &'static str {
        "test"
    }

    fn check(&self, settings: &toml::Table) -> Result<(), SetupError> {
        parse(settings).map(|_| ())
    }

    fn start(
        &self,
        name: &str,
        settings: &toml::Table,
        _ctx: &ChannelContext,
    ) -> Result<Arc<dyn Channel>, SetupError> {
        let (script, latency) = parse(settings)?;
        Ok(Arc::new(TestChannel::new(name, script, latency)))
    }
}

/// The script and the latency of a test channel's settings.
fn parse(settings: &toml::Table) -> Result<(Vec<Script>, Duration), SetupError> {
    let mut script = Vec::new();
    let mut latency = Duration::ZERO;
    for (key, value) in settings {
        match (key.as_str(), value) {
            ("outcomes", toml::Value::Array(items)) => {
                for item in items {
                    let word = item.as_str().unwrap_or_default();
                    script.push(Script::parse(word).ok_or_else(|| {
                        SetupError::invalid(
                            "outcomes",
                            format!(
                                "`{word}` is not ok, delivered, 0xNN, not_sent, unknown or hang"
                            ),
                        )
                    })?);
                }
            }
            ("latency", toml::Value::String(s)) => {
                latency =
                    humantime::parse_duration(s).map_err(|e| SetupError::invalid("latency", e))?;
            }
            (other, _) => {
                return Err(SetupError::Shape {
                    key: Some(other.to_string()),
                    message: format!(
                        "unknown setting `{other}` for a test channel (outcomes, latency)"
                    ),
                });
            }
        }
    }
    if script.is_empty() {
        script.push(Script::Ok);
    }
    Ok((script, latency))
}

/// A channel answering from a script; the last outcome repeats.
pub struct TestChannel {
    name: String,
    script: Vec<Script>,
    latency: Duration,
    up: AtomicBool,
    calls: AtomicUsize,
    seen: Mutex<Vec<String>>,
}

impl TestChannel {
    /// A channel named `name` answering `script` after `latency`.
    pub fn new(name: &str, script: Vec<Script>, latency: Duration) -> Self {
        Self {
            name: name.to_string(),
            script,
            latency,
            up: AtomicBool::new(true),
            calls: AtomicUsize::new(0),
            seen: Mutex::new(Vec::new()),
        }
    }

    /// Marks the channel up or down.
    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::Relaxed);
    }

    /// Attempts so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }

    /// The router ids of the messages attempted, in order.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl Channel for TestChannel {
    fn name(&self) -> &str {
        &self.name
    }

    fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    fn submit(&self, message: &Message) -> AttemptFuture {
        let n = self.calls.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut seen) = self.seen.lock()
            && seen.len() < 100_000
        {
            seen.push(message.id.clone());
        }
        let script = self
            .script
            .get(n)
            .or(self.script.last())
            .copied()
            .unwrap_or(Script::Ok);
        if script == Script::Down {
            self.set_up(false);
        }
        let latency = self.latency;
        let channel_id = format!("{}-{n}", self.name);
        Box::pin(async move {
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            match script {
                Script::Ok => Attempt::Accepted {
                    channel_id,
                    final_state: None,
                },
                Script::Delivered => Attempt::Accepted {
                    channel_id,
                    final_state: Some(MessageState::DELIVERED),
                },
                Script::Refuse(s) => Attempt::Refused(s),
                Script::NotSent | Script::Down => Attempt::NotSent,
                Script::Unknown => Attempt::Unknown,
                Script::Hang => std::future::pending().await,
            }
        })
    }
}
