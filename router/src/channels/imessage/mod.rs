//! The built-in iMessage channel (`kind = "imessage"`): it extracts the OTP code from the
//! message, hands it to the OTP Blue API (`reference/otpblue-api.md`) and maps the synchronous
//! answer to an [`Attempt`].
//!
//! - No code in the text → `ESME_RINVMSGLEN` 0x01 at once, with no HTTP request.
//! - Delivered → `Accepted` with `final_state: DELIVERED`, so the receipt follows at once.
//! - Refusals map per [`answer`] (150/1155 → 0x45 so the route fails over to SMS at once).
//! - 1160/1230 (language refused) → resent once in English, then 0x08.
//! - 1110/1250 (key refused) → 0x08 and an error log `operator alarm: OTP Blue API key rejected`.
//! - No answer: [`Attempt::NotSent`] when nothing was written (connection refused, DNS, no free
//!   slot with a fifth of the timeout still left), [`Attempt::Unknown`] once the request may have been written
//!   (timeout, reset, 5xx). An unknown outcome is never resent: a user must not get a code twice.
//! - A [`breaker::Breaker`] takes the channel down for 5 s after 20 transport failures in a row
//!   (a request cut short by the route's deadline counts), then lets one probe through at a time.
//!
//! OTP codes and API keys are never logged; numbers only masked.

pub mod answer;
pub mod breaker;
pub mod http;
pub mod settings;

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::Semaphore;
use tokio::time::{Instant, timeout_at};

use self::answer::Answer;
use self::breaker::Breaker;
use self::http::{Client, Failure};
pub use self::settings::Settings;
use crate::channels::{
    Attempt, AttemptFuture, Channel, ChannelContext, ChannelKind, Message, SetupError,
};
use crate::otp;
use crate::phone::Masked;
use crate::smpp::CommandStatus;
use crate::smpp::values::MessageState;

/// The iMessage channel: one pooled HTTP client and a bound on requests in flight.
pub struct ImessageChannel {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    settings: Settings,
    client: Client,
    permits: Semaphore,
    breaker: Breaker,
}

/// `kind = "imessage"`: the OTP Blue platform (settings: [`Settings`]).
pub struct Kind;

impl ChannelKind for Kind {
    fn name(&self) -> &'static str {
        "imessage"
    }

    fn check(&self, settings: &toml::Table) -> Result<(), SetupError> {
        from_settings("", settings).map(|_| ())
    }

    fn start(
        &self,
        name: &str,
        settings: &toml::Table,
        _ctx: &ChannelContext,
    ) -> Result<Arc<dyn Channel>, SetupError> {
        Ok(Arc::new(from_settings(name, settings)?))
    }
}

/// Builds a channel named `name` from its routes.toml table (`kind` and `name` removed). Starts
/// nothing: connections open on the first message. Errors name the key.
pub fn from_settings(name: &str, settings: &toml::Table) -> Result<ImessageChannel, SetupError> {
    ImessageChannel::new(name, Settings::parse(settings)?)
}

/// One message, ready to send.
struct Prepared {
    id: String,
    to: String,
    contact: String,
    code: String,
    sender: Option<String>,
    language: &'static str,
}

#[derive(serde::Serialize)]
struct SendBody<'a> {
    contact: &'a str,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sender: Option<&'a str>,
    language: &'a str,
}

impl ImessageChannel {
    /// A channel from validated settings.
    pub fn new(name: &str, settings: Settings) -> Result<Self, SetupError> {
        let client = Client::new(
            settings.endpoint.clone(),
            settings.max_concurrent,
            settings.ca_file.as_deref(),
        )?;
        Ok(Self {
            inner: Arc::new(Inner {
                name: name.to_string(),
                permits: Semaphore::new(settings.max_concurrent),
                // A probe may take two requests (a refused language is resent once in `en`).
                breaker: Breaker::default()
                    .with_probe_for(settings.timeout * 2 + std::time::Duration::from_secs(1)),
                settings,
                client,
            }),
        })
    }

    /// The settings in use.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// Idle pooled connections (for tests and metrics).
    pub fn idle_connections(&self) -> usize {
        self.inner.client.idle()
    }
}

impl Channel for ImessageChannel {
    fn name(&self) -> &str {
        &self.inner.name
    }

    fn is_up(&self) -> bool {
        self.inner.breaker.is_closed()
    }

    /// An OTP over iMessage is one whole text: a part of a concatenated SMS goes to SMS.
    fn carries_parts(&self) -> bool {
        false
    }

    /// A text without a code cannot go over iMessage: the next channel of the route takes it
    /// (an SMS carrier: "Your password was changed"), and only without one does the client get
    /// `ESME_RINVMSGLEN`.
    fn refuses(&self, message: &Message) -> Option<CommandStatus> {
        if self.inner.code(message).is_some() {
            return None;
        }
        tracing::debug!(channel = %self.inner.name, id = %message.id, "no OTP code in the text; not for iMessage");
        Some(CommandStatus::RINVMSGLEN)
    }

    fn submit(&self, message: &Message) -> AttemptFuture {
        let inner = self.inner.clone();
        match inner.prepare(message) {
            Ok(p) => Box::pin(async move { inner.send(p).await }),
            Err(a) => Box::pin(std::future::ready(a)),
        }
    }
}

/// The text of a `submit_sm` without its user data header.
fn text(message: &Message) -> String {
    let sm = &message.sm;
    let mut payload = sm.payload();
    if sm.esm_class.has_udhi()
        && let Some(&udhl) = payload.first()
    {
        payload = payload.get(1 + usize::from(udhl)..).unwrap_or(&[]);
    }
    crate::smpp::text::decode(sm.data_coding, payload)
}

impl Inner {
    /// The OTP code in the message's text, by the account's patterns and then the built-in rule.
    fn code(&self, message: &Message) -> Option<String> {
        let account = self.settings.accounts.get(&message.account.system_id);
        let custom = account.map(|a| a.patterns.as_slice()).unwrap_or(&[]);
        otp::extract(&text(message), custom)
    }

    fn prepare(&self, message: &Message) -> Result<Prepared, Attempt> {
        let addr = &message.sm.dest.addr;
        let to = Masked(addr).to_string();
        if !addr.iter().any(u8::is_ascii_digit) {
            tracing::info!(channel = %self.name, id = %message.id, %to, "no destination digits");
            return Err(Attempt::Refused(CommandStatus::RINVDSTADR));
        }
        let account = self.settings.accounts.get(&message.account.system_id);
        let Some(code) = self.code(message) else {
            tracing::info!(channel = %self.name, id = %message.id, %to, "no OTP code in the text");
            return Err(Attempt::Refused(CommandStatus::RINVMSGLEN));
        };
        let sender = message
            .sender
            .clone()
            .or_else(|| account.and_then(|a| a.sender.clone()))
            .or_else(|| self.settings.sender.clone());
        let wanted = account
            .and_then(|a| a.language)
            .or(message.account.language.as_deref())
            .or(self.settings.language);
        let language = otp::choose(
            wanted,
            message.destination.country_code,
            message.destination.region_str(),
        );
        Ok(Prepared {
            id: message.id.clone(),
            to,
            // E.164 as validated: a national prefix after the calling code is left out.
            contact: message.destination.e164(),
            code,
            sender,
            language,
        })
    }

    async fn send(&self, p: Prepared) -> Attempt {
        let started = Instant::now();
        let deadline = started + self.settings.timeout;
        let Ok(Ok(_permit)) = timeout_at(deadline, self.permits.acquire()).await else {
            tracing::warn!(channel = %self.name, id = %p.id, to = %p.to, max_concurrent = self.settings.max_concurrent, "no free request slot before the timeout; not sent");
            return Attempt::NotSent;
        };
        // A request started with almost no time left would nearly always end "outcome unknown",
        // which rules out a retry; not sending it keeps the retry and the failover open.
        if deadline.saturating_duration_since(Instant::now()) < self.settings.timeout / 5 {
            tracing::warn!(channel = %self.name, id = %p.id, to = %p.to, "a request slot came free too close to the timeout; not sent");
            return Attempt::NotSent;
        }
        // In a half-open circuit only one request goes out, as a probe.
        if !self.breaker.admit() {
            tracing::debug!(channel = %self.name, id = %p.id, "circuit half-open and its probe is out; not sent");
            return Attempt::NotSent;
        }
        // Counts the request as a failure if it is dropped before its answer (the route's
        // deadline ran out first): an outage where requests hang must open the circuit too.
        let mut inflight = Inflight(Some(self));
        let mut answer = self.exchange(&p, p.language, deadline).await;
        if let Ok(Answer::WrongLanguage { code }) = answer {
            if p.language == "en" {
                tracing::warn!(channel = %self.name, id = %p.id, code, "the platform refused language en");
            } else {
                tracing::info!(channel = %self.name, id = %p.id, code, language = p.language, "language refused; resending once in en");
                let again = Instant::now() + self.settings.timeout;
                answer = self.exchange(&p, "en", again).await;
            }
        }
        let attempt = self.outcome(&p, answer, started);
        inflight.0 = None;
        match attempt {
            Attempt::NotSent | Attempt::Unknown => self.failed(),
            _ => self.breaker.success(),
        }
        attempt
    }

    /// Counts a transport failure towards the circuit breaker.
    fn failed(&self) {
        if self.breaker.failure() {
            tracing::error!(channel = %self.name, failures = breaker::FAILURES, open_for = ?breaker::OPEN_FOR, "circuit open: OTP Blue is not answering; the channel is down");
        }
    }

    async fn exchange(
        &self,
        p: &Prepared,
        language: &str,
        deadline: Instant,
    ) -> Result<Answer, Failure> {
        let body = SendBody {
            contact: &p.contact,
            code: &p.code,
            sender: p.sender.as_deref(),
            language,
        };
        let body = serde_json::to_vec(&body)
            .map_err(|e| Failure::NotSent(format!("encoding the request: {e}")))?;
        let (status, bytes) = self
            .client
            .post(Bytes::from(body), &self.settings.api_key.0, deadline)
            .await?;
        Ok(answer::classify(status, &bytes))
    }

    fn outcome(&self, p: &Prepared, answer: Result<Answer, Failure>, started: Instant) -> Attempt {
        let ms = started.elapsed().as_millis() as u64;
        let (name, id, to) = (&self.name, &p.id, &p.to);
        match answer {
            Ok(Answer::Delivered { message_id }) => {
                tracing::debug!(channel = %name, %id, %to, ms, "delivered over iMessage");
                Attempt::Accepted {
                    channel_id: message_id,
                    final_state: Some(MessageState::DELIVERED),
                }
            }
            Ok(Answer::Refused { status, code }) => {
                tracing::debug!(channel = %name, %id, %to, ?code, %status, ms, "refused");
                Attempt::Refused(status)
            }
            Ok(Answer::WrongLanguage { code }) => {
                tracing::warn!(channel = %name, %id, code, ms, "language refused again");
                Attempt::Refused(CommandStatus::RSYSERR)
            }
            Ok(Answer::KeyRejected { code }) => {
                tracing::error!(channel = %name, %id, ?code, "operator alarm: OTP Blue API key rejected");
                Attempt::Refused(CommandStatus::RSYSERR)
            }
            Ok(Answer::Unknown { http }) => {
                tracing::warn!(channel = %name, %id, %to, http, ms, "answer without a verdict; outcome unknown, not resending");
                Attempt::Unknown
            }
            Err(Failure::NotSent(reason)) => {
                tracing::warn!(channel = %name, %id, %to, %reason, ms, "not sent");
                Attempt::NotSent
            }
            Err(Failure::Unknown(reason)) => {
                tracing::warn!(channel = %name, %id, %to, %reason, ms, "outcome unknown; not resending");
                Attempt::Unknown
            }
        }
    }
}

/// A request on its way; dropped before its answer (see [`Inner::send`]), it counts as a
/// transport failure.
struct Inflight<'a>(Option<&'a Inner>);

impl Drop for Inflight<'_> {
    fn drop(&mut self) {
        if let Some(inner) = self.0.take() {
            inner.failed();
        }
    }
}
