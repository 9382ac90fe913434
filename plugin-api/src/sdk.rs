//! The safe side of the ABI: what a plugin author implements and calls. No `unsafe` needed.

use crate::abi::{self, SrpHost, SrpMessage, SrpReceipt, SrpResult, SrpStr};

/// A channel plugin. Implement it and name the type in [`crate::export_plugin!`].
///
/// The host calls `submit` and `health` from several threads at once; `submit` must not block:
/// hand the work to threads (or a runtime) the plugin owns and complete it from there.
pub trait Plugin: Send + Sync + Sized + 'static {
    /// Builds the channel from its `config` table in `routes.toml`, given as JSON text (`{}`
    /// when the table is absent). Keep `host` to log, count and emit receipts. An `Err` rejects
    /// the routes file with this text as the reason.
    fn create(config: &str, host: Host) -> Result<Self, String>;

    /// Checks `config` without starting anything (no threads, no sockets, no network calls):
    /// `smpp-router check` and every reload call it, so a mistake in `[channel.config]` is
    /// reported with the file's other errors before anything changes. The default accepts
    /// everything; `create` may still refuse.
    fn validate(config: &str) -> Result<(), String> {
        let _ = config;
        Ok(())
    }

    /// Sends `message` and reports the outcome through `completion`, now or later, from any
    /// thread. Dropping `completion` without completing reports [`Outcome::Unknown`].
    fn submit(&self, message: Message<'_>, completion: Completion);

    /// Whether this channel declines `message` — "not for me": no code in the text, a part of
    /// a long message, a destination it does not serve. `Some(status)` sends the message to
    /// the route's next channel without an attempt here (not counted as this channel's
    /// failure); the client gets `status` (an SMPP command status; 0: `ESME_RSUBMITFAIL`) only
    /// when no later channel answers. Asked before every submit, on the router's message path:
    /// be quick and never block. The default takes every message. (ABI 1.1.)
    fn declines(&self, message: &Message<'_>) -> Option<u32> {
        let _ = message;
        None
    }

    /// Whether the channel takes messages now. Called about once a second.
    fn health(&self) -> Health {
        Health::Up
    }

    /// Stops taking work and finishes what is in flight; called once before the instance is
    /// dropped (after a reload that replaced the channel, or at shutdown). May block briefly.
    fn drain(&self) {}
}

/// A channel's health.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// Taking messages.
    Up,
    /// Not taking messages; the router skips the channel without an attempt.
    Down,
}

/// The message to send; borrowed for the `submit` call.
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    /// The router's id (the id the client got).
    pub id: &'a str,
    /// The sending account's `system_id`.
    pub account: &'a str,
    /// The sender.
    pub source: &'a str,
    /// The recipient in E.164 with a leading `+`.
    pub destination: &'a str,
    /// The text as UTF-8 (empty for binary messages).
    pub text: &'a str,
    /// The raw message bytes.
    pub payload: &'a [u8],
    /// SMPP `data_coding`.
    pub data_coding: u8,
    /// SMPP `esm_class`.
    pub esm_class: u8,
    /// SMPP `registered_delivery`.
    pub registered_delivery: u8,
}

impl<'a> Message<'a> {
    /// Reads a message from the ABI.
    ///
    /// # Safety
    /// `m` and its strings must be valid for `'a`.
    pub(crate) unsafe fn from_abi(m: &'a SrpMessage) -> Self {
        // SAFETY: the host guarantees the strings are valid for the call ('a).
        let s = |v: SrpStr| std::str::from_utf8(unsafe { v.as_bytes() }).unwrap_or("");
        Self {
            id: s(m.id),
            account: s(m.account),
            source: s(m.source),
            destination: s(m.destination),
            text: s(m.text),
            // SAFETY: as above.
            payload: unsafe { m.payload.as_bytes() },
            data_coding: m.data_coding,
            esm_class: m.esm_class,
            registered_delivery: m.registered_delivery,
        }
    }

    /// Whether the client asked for a delivery receipt.
    pub fn wants_receipt(&self) -> bool {
        self.registered_delivery & 0x03 != 0
    }
}

/// A message state, as SMPP's `message_state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Delivered to the handset.
    Delivered,
    /// Validity period expired.
    Expired,
    /// Deleted.
    Deleted,
    /// Cannot be delivered.
    Undeliverable,
    /// Taken by the far side.
    Accepted,
    /// Unknown.
    Unknown,
    /// Rejected.
    Rejected,
}

impl State {
    /// The ABI value.
    pub fn to_abi(self) -> u8 {
        match self {
            Self::Delivered => abi::SRP_STATE_DELIVERED,
            Self::Expired => abi::SRP_STATE_EXPIRED,
            Self::Deleted => abi::SRP_STATE_DELETED,
            Self::Undeliverable => abi::SRP_STATE_UNDELIVERABLE,
            Self::Accepted => abi::SRP_STATE_ACCEPTED,
            Self::Unknown => abi::SRP_STATE_UNKNOWN,
            Self::Rejected => abi::SRP_STATE_REJECTED,
        }
    }

    /// From the ABI value; `None` for 0 and values that are not final states.
    pub fn from_abi(v: u8) -> Option<Self> {
        Some(match v {
            abi::SRP_STATE_DELIVERED => Self::Delivered,
            abi::SRP_STATE_EXPIRED => Self::Expired,
            abi::SRP_STATE_DELETED => Self::Deleted,
            abi::SRP_STATE_UNDELIVERABLE => Self::Undeliverable,
            abi::SRP_STATE_ACCEPTED => Self::Accepted,
            abi::SRP_STATE_UNKNOWN => Self::Unknown,
            abi::SRP_STATE_REJECTED => Self::Rejected,
            _ => return None,
        })
    }
}

/// The outcome of a submit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Taken. `message_id` is the channel's id for it (receipts name it, so it must be unique
    /// across restarts; empty: the router's id). `final_state` when the outcome is known at once; otherwise emit a receipt later.
    Accepted {
        /// The channel's id, at most 64 bytes.
        message_id: String,
        /// The delivery state, when already known.
        final_state: Option<State>,
    },
    /// Refused with this SMPP command status (e.g. `0x0B`, `0x45`, `0x58`): safe to fail over.
    Refused(u32),
    /// Nothing was sent: safe to fail over.
    NotSent,
    /// It may have gone out: never resent to this channel.
    Unknown,
}

/// A delivery receipt for an earlier message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The id the plugin gave in [`Outcome::Accepted`] (or the router's id if it gave none).
    pub message_id: String,
    /// The state reached.
    pub state: State,
    /// The network error code (0–999), the receipt's `err:` field.
    pub error: u16,
}

/// Why the host did not take a receipt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceiptError {
    /// The receipt is malformed; dropped.
    Invalid,
    /// The host is busy or stopping; emit it again later.
    Retry,
}

/// Log levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Error.
    Error,
    /// Warning.
    Warn,
    /// Information.
    Info,
    /// Debug.
    Debug,
    /// Trace.
    Trace,
}

/// The host's services, cheap to clone and usable from any thread until the plugin is dropped.
#[derive(Clone, Copy)]
pub struct Host {
    raw: &'static SrpHost,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("abi", &(self.raw.abi_major, self.raw.abi_minor))
            .finish()
    }
}

impl Host {
    /// Wraps the host's table.
    ///
    /// # Safety
    /// `raw` must stay valid until the plugin instance is destroyed; the SDK never lets a `Host`
    /// outlive that when the plugin joins its threads in `Drop`.
    pub(crate) unsafe fn from_raw(raw: *const SrpHost) -> Self {
        // SAFETY: the host keeps the table alive until destroy returns (ABI contract).
        Self {
            raw: unsafe { &*raw },
        }
    }

    /// The one-time code in `text` as the router finds it (its iMessage channel's built-in
    /// rules: 4–10 digits, not a phone number, an amount, a date or a reference; local digits
    /// read as ASCII), or `None` when there is none. ABI 1.1; quick, never blocks.
    pub fn otp_code(&self, text: &str) -> Option<String> {
        // A 1.1 plugin only loads in a 1.1 router or later, whose table has the field; a
        // table too short for it is answered with `None` all the same.
        if self.raw.abi_minor < 1 || self.raw.struct_size < abi::size_of_u32::<SrpHost>() {
            return None;
        }
        let find = self.raw.otp_code?;
        let mut out = [0u8; 16];
        let mut len = 0usize;
        // SAFETY: the callback is valid while the host table is; `text` is borrowed and `out`,
        // `len` are ours for the call.
        let rc = unsafe {
            find(
                self.raw.ctx,
                SrpStr::new(text.as_bytes()),
                out.as_mut_ptr(),
                out.len(),
                &mut len,
            )
        };
        let code = out.get(..len).filter(|_| rc == abi::SRP_OK)?;
        std::str::from_utf8(code).ok().map(str::to_owned)
    }

    /// Writes a log line at `level`, tagged with the channel. Never log OTP codes, passwords
    /// or full phone numbers.
    pub fn log(&self, level: Level, message: &str) {
        let level = match level {
            Level::Error => abi::SRP_LOG_ERROR,
            Level::Warn => abi::SRP_LOG_WARN,
            Level::Info => abi::SRP_LOG_INFO,
            Level::Debug => abi::SRP_LOG_DEBUG,
            Level::Trace => abi::SRP_LOG_TRACE,
        };
        // SAFETY: the callback is valid while the host table is; the string is borrowed for
        // the call.
        unsafe { (self.raw.log)(self.raw.ctx, level, SrpStr::new(message.as_bytes())) }
    }

    /// Adds `value` to the counter `name` (`smpp_router_plugin_metric{channel, name}`).
    pub fn count(&self, name: &str, value: f64) {
        // SAFETY: as in `log`.
        unsafe {
            (self.raw.metric)(
                self.raw.ctx,
                abi::SRP_METRIC_COUNTER,
                SrpStr::new(name.as_bytes()),
                value,
            )
        }
    }

    /// Sets the gauge `name` to `value`.
    pub fn gauge(&self, name: &str, value: f64) {
        // SAFETY: as in `log`.
        unsafe {
            (self.raw.metric)(
                self.raw.ctx,
                abi::SRP_METRIC_GAUGE,
                SrpStr::new(name.as_bytes()),
                value,
            )
        }
    }

    /// Emits a receipt for a message accepted earlier; the router rewrites it to the router's
    /// id and delivers it to the account that sent the message, at least once.
    pub fn emit_receipt(&self, receipt: &Receipt) -> Result<(), ReceiptError> {
        let raw = SrpReceipt {
            struct_size: abi::size_of_u32::<SrpReceipt>(),
            state: receipt.state.to_abi(),
            error: receipt.error,
            message_id: SrpStr::new(receipt.message_id.as_bytes()),
        };
        // SAFETY: as in `log`; `raw` lives for the call.
        match unsafe { (self.raw.receipt)(self.raw.ctx, &raw) } {
            abi::SRP_RECEIPT_QUEUED => Ok(()),
            abi::SRP_RECEIPT_INVALID => Err(ReceiptError::Invalid),
            _ => Err(ReceiptError::Retry),
        }
    }

    pub(crate) fn complete_raw(&self, token: u64, outcome: &Outcome) {
        let (kind, smpp_status, final_state, id) = match outcome {
            Outcome::Accepted {
                message_id,
                final_state,
            } => (
                abi::SRP_ACCEPTED,
                0,
                final_state.map_or(abi::SRP_STATE_NONE, State::to_abi),
                message_id.as_bytes(),
            ),
            Outcome::Refused(status) => (abi::SRP_REFUSED, *status, 0, &[][..]),
            Outcome::NotSent => (abi::SRP_NOT_SENT, 0, 0, &[][..]),
            Outcome::Unknown => (abi::SRP_UNKNOWN, 0, 0, &[][..]),
        };
        let raw = SrpResult {
            struct_size: abi::size_of_u32::<SrpResult>(),
            kind,
            smpp_status,
            final_state,
            message_id: SrpStr::new(id),
        };
        // SAFETY: as in `log`; `raw` lives for the call.
        unsafe { (self.raw.complete)(self.raw.ctx, token, &raw) }
    }
}

/// Reports the outcome of one submit, exactly once, from any thread.
#[derive(Debug)]
pub struct Completion {
    host: Host,
    token: u64,
    done: bool,
}

impl Completion {
    pub(crate) fn new(host: Host, token: u64) -> Self {
        Self {
            host,
            token,
            done: false,
        }
    }

    /// Reports `outcome`.
    pub fn complete(mut self, outcome: Outcome) {
        self.finish(&outcome);
    }

    /// A shorthand for [`Outcome::Accepted`] with a later receipt.
    pub fn accepted(self, message_id: impl Into<String>) {
        self.complete(Outcome::Accepted {
            message_id: message_id.into(),
            final_state: None,
        });
    }

    fn finish(&mut self, outcome: &Outcome) {
        if !self.done {
            self.done = true;
            self.host.complete_raw(self.token, outcome);
        }
    }
}

thread_local! {
    /// Set while the plugin's `submit` runs on this thread (by the exported shim).
    static IN_SUBMIT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks this thread as running `submit` until dropped.
pub(crate) struct InSubmit(bool);

impl InSubmit {
    pub(crate) fn enter() -> Self {
        Self(IN_SUBMIT.with(|f| f.replace(true)))
    }
}

impl Drop for InSubmit {
    fn drop(&mut self) {
        let was = self.0;
        IN_SUBMIT.with(|f| f.set(was));
    }
}

impl Drop for Completion {
    /// A completion dropped without an outcome is reported. Dropped by a panic inside `submit`
    /// (which must not block, so nothing went out yet): not sent, and the router fails the
    /// message over. Anywhere else — a worker that panicked after sending, a completion
    /// forgotten — unknown: the message may have gone out and is never sent again.
    fn drop(&mut self) {
        if std::thread::panicking() && IN_SUBMIT.with(std::cell::Cell::get) {
            self.finish(&Outcome::NotSent);
        } else {
            self.finish(&Outcome::Unknown);
        }
    }
}

impl Outcome {
    /// Reads a plugin's result on the host side; `None` for a kind this ABI does not define.
    ///
    /// # Safety
    /// `r.message_id` must be valid for the call.
    pub unsafe fn from_abi(r: &SrpResult) -> Option<Self> {
        Some(match r.kind {
            abi::SRP_ACCEPTED => Self::Accepted {
                // SAFETY: per the function's contract.
                message_id: String::from_utf8_lossy(unsafe { r.message_id.as_bytes() })
                    .into_owned(),
                final_state: State::from_abi(r.final_state),
            },
            abi::SRP_REFUSED => Self::Refused(r.smpp_status),
            abi::SRP_NOT_SENT => Self::NotSent,
            abi::SRP_UNKNOWN => Self::Unknown,
            _ => return None,
        })
    }
}

impl Receipt {
    /// Reads a plugin's receipt on the host side; `None` when it has no id or no valid state.
    ///
    /// # Safety
    /// `r.message_id` must be valid for the call.
    pub unsafe fn from_abi(r: &SrpReceipt) -> Option<Self> {
        // SAFETY: per the function's contract.
        let id = unsafe { r.message_id.as_bytes() };
        if id.is_empty() || id.len() > abi::MAX_MESSAGE_ID {
            return None;
        }
        Some(Self {
            message_id: std::str::from_utf8(id).ok()?.to_owned(),
            state: State::from_abi(r.state)?,
            error: r.error.min(999),
        })
    }
}
