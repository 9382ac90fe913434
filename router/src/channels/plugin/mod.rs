//! Plugin channels (`kind = "plugin"` in routes.toml): a channel implemented by a shared library
//! through the C ABI of `smpp-router-plugin-api`.
//!
//! ```toml
//! [[channel]]
//! name = "partner"
//! kind = "plugin"
//! path = "plugins/libpartner.so"   # relative to the working directory, like every path
//! timeout = "10s"                  # a submit not completed by then: outcome unknown
//! max_in_flight = 1000             # submits beyond this fail over at once (not sent)
//! [channel.config]                 # handed to the plugin as JSON
//! url = "http://127.0.0.1:9000/messages"
//! ```
//!
//! - The library is opened and its ABI checked when the routes file is checked; a missing file,
//!   a missing entry symbol or another ABI version rejects the file with the path and reason.
//! - An instance is created per channel when the table is built (again when its settings
//!   change); a `create` failure rejects the reload and the old table keeps serving.
//! - A plugin that panics (caught by its SDK) is disabled: skipped like a channel that is down,
//!   so its messages fail over. `health` is polled every second; a plugin that reports itself
//!   down is skipped the same way until it reports up again.
//! - When a reload replaces or removes the channel, the old instance finishes the calls it has
//!   (every submit holds it), then is drained and destroyed on a thread of its own. The
//!   library stays loaded.

mod host;
mod library;

use std::ffi::c_void;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use serde::Deserialize;
use smpp_router_plugin_api::abi::{self, SrpHost, SrpMessage, SrpStr};
use smpp_router_plugin_api::{Outcome, Receipt};

use self::host::HostCtx;
use self::library::Library;
use crate::outbox::Outbox;
use crate::receipts::{self, ReceiptInfo};
use crate::routing::{Attempt, AttemptFuture, Channel, Message};
use crate::smpp::CommandStatus;
use crate::smpp::pdu::{Address, Sm};
use crate::smpp::values::{MessageState, RegisteredDelivery};

/// Waits before looking a receipt's message up again: a plugin may emit the receipt before the
/// router has recorded the message it just accepted.
const LOOKUP_RETRIES: [u64; 5] = [0, 10, 50, 250, 1000];
/// How often `health` is polled.
const HEALTH_EVERY: Duration = Duration::from_secs(1);
/// Room for `create`'s error text.
const ERROR_CAP: usize = 1024;
/// Timeouts in a row after which a plugin is skipped for [`SKIP_FOR`], like a channel that is
/// down; then it is tried again (one more timeout skips it again, a completion resets it).
const TIMEOUTS_TO_SKIP: u32 = 3;
/// How long a plugin that keeps timing out is skipped.
const SKIP_FOR: Duration = Duration::from_secs(5);

/// Plugin instances alive now, for [`drain_all`] at shutdown.
static LIVE: std::sync::Mutex<Vec<Weak<Instance>>> = std::sync::Mutex::new(Vec::new());
/// Receipts being relayed now (looked up and stored), for [`drain_all`].
static RELAYING: AtomicUsize = AtomicUsize::new(0);

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
    pub fn parse(table: &toml::Table) -> Result<Self, String> {
        let raw: Raw = crate::config::channel_settings(table)?;
        let timeout = match raw.timeout.as_deref() {
            None => Duration::from_secs(10),
            Some(s) => humantime::parse_duration(s).map_err(|e| format!("timeout: {e}"))?,
        };
        if timeout.is_zero() {
            return Err("timeout: must be more than 0".into());
        }
        let max_in_flight = raw.max_in_flight.unwrap_or(1000);
        if !(1..=1_000_000).contains(&max_in_flight) {
            return Err(format!(
                "max_in_flight: {max_in_flight} is not between 1 and 1000000"
            ));
        }
        let config = serde_json::to_string(&raw.config).map_err(|e| format!("config: {e}"))?;
        Ok(Self {
            path: PathBuf::from(raw.path),
            timeout,
            max_in_flight: max_in_flight as usize,
            config,
        })
    }
}

/// Checks the settings and the library's ABI without creating an instance.
/// Checks the settings, the library's ABI and, through the plugin's `validate`, its `config`
/// table — without creating an instance.
pub fn check(table: &toml::Table) -> Result<(), String> {
    let settings = Settings::parse(table)?;
    let library = library::open(&settings.path)?;
    validate(&library, &settings)
}

fn validate(library: &Library, settings: &Settings) -> Result<(), String> {
    let mut error = vec![0u8; ERROR_CAP];
    let mut error_len = 0usize;
    // SAFETY: the descriptor was checked at open; the buffers are ours for the call.
    let rc = unsafe {
        (library.descriptor.validate)(
            SrpStr::new(settings.config.as_bytes()),
            error.as_mut_ptr(),
            error.len(),
            &mut error_len,
        )
    };
    if rc == abi::SRP_OK {
        return Ok(());
    }
    error.truncate(error_len.min(ERROR_CAP));
    Err(format!(
        "plugin {} ({}): config: {}",
        settings.path.display(),
        library.name,
        reason(&error)
    ))
}

/// A plugin's error text, or a placeholder when it gave none.
fn reason(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if text.is_empty() {
        "no reason given".into()
    } else {
        text.into_owned()
    }
}

/// Opens the library and creates the channel's instance.
pub fn start(
    name: &str,
    table: &toml::Table,
    outbox: Arc<Outbox>,
) -> Result<PluginChannel, String> {
    let settings = Settings::parse(table)?;
    let library = library::open(&settings.path)?;
    validate(&library, &settings)?;
    let (ctx, receipts) = HostCtx::new(name);
    let ctx = Box::new(ctx);
    let table = Box::new(ctx.table());
    let mut raw: *mut c_void = std::ptr::null_mut();
    let mut error = vec![0u8; ERROR_CAP];
    let mut error_len = 0usize;
    // SAFETY: the descriptor was checked at open; the table and the context stay at their
    // addresses (boxed) until destroy; the error buffer is ours for the call.
    let rc = unsafe {
        (library.descriptor.create)(
            &*table,
            SrpStr::new(settings.config.as_bytes()),
            &mut raw,
            error.as_mut_ptr(),
            error.len(),
            &mut error_len,
        )
    };
    if rc != abi::SRP_OK || raw.is_null() {
        error.truncate(error_len.min(ERROR_CAP));
        return Err(format!(
            "plugin {}: create failed: {}",
            settings.path.display(),
            reason(&error)
        ));
    }
    tracing::info!(channel = %name, plugin = %library.name, version = %library.version, "plugin channel started");
    let instance = Arc::new(Instance {
        name: name.to_string(),
        parts: Some(Parts {
            raw,
            ctx,
            table,
            library,
        }),
        timeout: settings.timeout,
        max_in_flight: settings.max_in_flight,
        in_flight: AtomicUsize::new(0),
        up: AtomicBool::new(true),
        disabled: AtomicBool::new(false),
        drained: AtomicBool::new(false),
        timeouts: AtomicU32::new(0),
        skip_until: std::sync::Mutex::new(None),
    });
    if let Ok(mut live) = LIVE.lock() {
        live.retain(|w| w.strong_count() > 0);
        live.push(Arc::downgrade(&instance));
    }
    crate::metrics::global().plugin_up(name, true);
    tokio::spawn(poll_health(Arc::downgrade(&instance)));
    tokio::spawn(relay_receipts(name.to_string(), receipts, outbox));
    Ok(PluginChannel { inner: instance })
}

/// What must stay together until the instance is destroyed.
struct Parts {
    raw: *mut c_void,
    ctx: Box<HostCtx>,
    table: Box<SrpHost>,
    library: Arc<Library>,
}

// SAFETY: `raw` is only passed back to the plugin, whose instances must be usable from any
// thread (ABI contract); the rest is Send.
unsafe impl Send for Parts {}

/// One created plugin instance.
struct Instance {
    name: String,
    parts: Option<Parts>,
    timeout: Duration,
    max_in_flight: usize,
    in_flight: AtomicUsize,
    up: AtomicBool,
    disabled: AtomicBool,
    /// `drain` was called (at shutdown); not called again at destroy.
    drained: AtomicBool,
    /// Timeouts in a row.
    timeouts: AtomicU32,
    /// Skipped until then after [`TIMEOUTS_TO_SKIP`] timeouts in a row.
    skip_until: std::sync::Mutex<Option<std::time::Instant>>,
}

// SAFETY: the plugin ABI requires instances to be callable from any thread at once; the raw
// pointer is only ever passed back to the plugin's own functions.
unsafe impl Send for Instance {}
// SAFETY: as above.
unsafe impl Sync for Instance {}

impl Instance {
    /// Counts a timeout; the third in a row skips the plugin for a while.
    fn timed_out(&self) {
        crate::metrics::global().plugin_event(&self.name, "timeout");
        if self.timeouts.fetch_add(1, Ordering::AcqRel) + 1 >= TIMEOUTS_TO_SKIP
            && let Ok(mut until) = self.skip_until.lock()
        {
            *until = Some(std::time::Instant::now() + SKIP_FOR);
            tracing::warn!(channel = %self.name, skip_ms = SKIP_FOR.as_millis() as u64, "plugin keeps timing out; skipped for a while");
        }
    }

    /// A completion arrived: the plugin answers again.
    fn answered(&self) {
        if self.timeouts.swap(0, Ordering::AcqRel) > 0
            && let Ok(mut until) = self.skip_until.lock()
        {
            *until = None;
        }
    }

    fn skipped(&self) -> bool {
        self.skip_until
            .lock()
            .ok()
            .and_then(|u| *u)
            .is_some_and(|u| std::time::Instant::now() < u)
    }

    /// Calls the plugin's `drain` once (at shutdown, or before destroy).
    fn drain_once(&self) {
        if self.drained.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(p) = &self.parts {
            // SAFETY: the instance is alive; `drain` may be called while submits are in flight
            // (the plugin completes them).
            let rc = unsafe { (p.library.descriptor.drain)(p.raw) };
            if rc == abi::SRP_PANICKED {
                self.disable("drain");
            }
        }
    }

    fn disable(&self, during: &str) {
        if !self.disabled.swap(true, Ordering::AcqRel) {
            tracing::error!(channel = %self.name, "plugin panicked in {during}; disabled until its channel is reloaded with a change or the router restarts");
            crate::metrics::global().plugin_up(&self.name, false);
        }
        crate::metrics::global().plugin_event(&self.name, "panic");
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let Some(parts) = self.parts.take() else {
            return;
        };
        let name = std::mem::take(&mut self.name);
        let drained = self.drained.load(Ordering::Acquire);
        // Drain may block for a while: never on a runtime thread.
        let spawned = std::thread::Builder::new()
            .name("plugin-drain".into())
            .spawn(move || {
                // Taken whole (closures capture single fields otherwise, and `raw` is not Send).
                let parts = parts;
                let Parts {
                    raw,
                    ctx,
                    table,
                    library,
                } = parts;
                // SAFETY: no call is in flight (every submit holds the instance); the
                // instance is destroyed once, after which neither the table nor the context is
                // used by the plugin.
                unsafe {
                    if !drained {
                        (library.descriptor.drain)(raw);
                    }
                    (library.descriptor.destroy)(raw);
                }
                drop(table);
                drop(ctx);
                tracing::info!(channel = %name, "plugin instance drained and destroyed");
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start a thread to drain a plugin; it stays alive");
        }
    }
}

/// A plugin channel in a route table.
pub struct PluginChannel {
    inner: Arc<Instance>,
}

/// Releases a submit's slot (and its token, if it never completed) however its future ends.
struct Slot {
    inner: Arc<Instance>,
    token: u64,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(p) = &self.inner.parts {
            p.ctx.forget(self.token);
        }
        self.inner.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Channel for PluginChannel {
    fn name(&self) -> &str {
        &self.inner.name
    }

    fn is_up(&self) -> bool {
        self.inner.up.load(Ordering::Acquire)
            && !self.inner.disabled.load(Ordering::Acquire)
            && !self.inner.skipped()
    }

    fn builds_receipts(&self) -> bool {
        true
    }

    fn submit(&self, message: &Message) -> AttemptFuture {
        let inner = &self.inner;
        let Some(parts) = &inner.parts else {
            return Box::pin(std::future::ready(Attempt::NotSent));
        };
        if inner.disabled.load(Ordering::Acquire) {
            return Box::pin(std::future::ready(Attempt::NotSent));
        }
        if inner.in_flight.fetch_add(1, Ordering::AcqRel) >= inner.max_in_flight {
            inner.in_flight.fetch_sub(1, Ordering::AcqRel);
            crate::metrics::global().plugin_event(&inner.name, "at_capacity");
            return Box::pin(std::future::ready(Attempt::NotSent));
        }
        let (token, rx) = parts.ctx.register();
        let slot = Slot {
            inner: inner.clone(),
            token,
        };
        let sm = &message.sm;
        let payload = sm.payload();
        let text = crate::smpp::text::decode(sm.data_coding, payload);
        let mut to = [0u8; 24];
        let to = e164(sm.dest.addr.as_slice(), &mut to);
        let raw = SrpMessage {
            struct_size: abi::size_of_u32::<SrpMessage>(),
            data_coding: sm.data_coding,
            esm_class: sm.esm_class.0,
            registered_delivery: sm.registered_delivery.0,
            reserved: 0,
            id: SrpStr::new(message.id.as_bytes()),
            account: SrpStr::new(message.account.system_id.as_bytes()),
            source: SrpStr::new(
                message
                    .sender
                    .as_deref()
                    .map_or(sm.source.addr.as_slice(), str::as_bytes),
            ),
            destination: SrpStr::new(to),
            text: SrpStr::new(text.as_bytes()),
            payload: SrpStr::new(payload),
        };
        // SAFETY: the instance is alive (we hold it); `raw` and its strings live for the call.
        let rc = unsafe { (parts.library.descriptor.submit)(parts.raw, &raw, token) };
        if rc != abi::SRP_OK {
            if rc == abi::SRP_PANICKED {
                inner.disable("submit");
            } else {
                crate::metrics::global().plugin_event(&inner.name, "refused_call");
            }
            drop(slot);
            return Box::pin(std::future::ready(Attempt::NotSent));
        }
        let router_id = message.id.clone();
        let timeout = inner.timeout;
        Box::pin(async move {
            let attempt = match tokio::time::timeout(timeout, rx).await {
                Ok(Ok(outcome)) => {
                    slot.inner.answered();
                    attempt_of(outcome, router_id)
                }
                Ok(Err(_)) => Attempt::Unknown,
                Err(_) => {
                    tracing::warn!(channel = %slot.inner.name, id = %router_id, timeout_ms = timeout.as_millis() as u64, "plugin did not complete in time; outcome unknown");
                    slot.inner.timed_out();
                    Attempt::Unknown
                }
            };
            drop(slot);
            attempt
        })
    }
}

/// The destination as E.164 with a leading `+`, in `buf`.
fn e164<'a>(addr: &[u8], buf: &'a mut [u8; 24]) -> &'a [u8] {
    let digits = addr.strip_prefix(b"+").unwrap_or(addr);
    let n = digits.len().min(buf.len() - 1);
    buf[0] = b'+';
    buf[1..=n].copy_from_slice(&digits[..n]);
    &buf[..=n]
}

fn attempt_of(outcome: Outcome, router_id: String) -> Attempt {
    match outcome {
        Outcome::Accepted {
            message_id,
            final_state,
        } => Attempt::Accepted {
            // An id longer than the ABI allows could never be named by a receipt: the router's
            // id is kept instead (and the plugin's receipts for it are refused as invalid).
            channel_id: if message_id.is_empty() || message_id.len() > abi::MAX_MESSAGE_ID {
                router_id
            } else {
                message_id
            },
            final_state: final_state.map(|s| MessageState(s.to_abi())),
        },
        Outcome::Refused(0) => Attempt::Refused(CommandStatus::RSYSERR),
        Outcome::Refused(status) => Attempt::Refused(CommandStatus(status)),
        Outcome::NotSent => Attempt::NotSent,
        Outcome::Unknown => Attempt::Unknown,
    }
}

/// Polls the plugin's health every second while the instance lives.
async fn poll_health(instance: Weak<Instance>) {
    let mut tick = tokio::time::interval(HEALTH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(inst) = instance.upgrade() else {
            return;
        };
        let Some(parts) = &inst.parts else { return };
        if inst.disabled.load(Ordering::Acquire) {
            continue;
        }
        // SAFETY: the instance is alive (we hold it).
        let rc = unsafe { (parts.library.descriptor.health)(parts.raw) };
        if rc == abi::SRP_PANICKED {
            inst.disable("health");
            continue;
        }
        let up = rc == abi::SRP_UP;
        if inst.up.swap(up, Ordering::AcqRel) != up {
            if up {
                tracing::info!(channel = %inst.name, "plugin reports itself up");
            } else {
                tracing::warn!(channel = %inst.name, "plugin reports itself down; skipped until it is up");
            }
        }
        crate::metrics::global().plugin_up(&inst.name, up);
    }
}

/// At shutdown, after the clients' messages are answered: lets every live plugin finish its
/// work (`drain`: pending completions and receipts), then waits until the receipts it emitted
/// are stored or delivered — within `wait`.
pub async fn drain_all(wait: Duration) {
    let live: Vec<Arc<Instance>> = LIVE
        .lock()
        .map(|l| l.iter().filter_map(Weak::upgrade).collect())
        .unwrap_or_default();
    if live.is_empty() {
        return;
    }
    let deadline = tokio::time::Instant::now() + wait;
    let drains = tokio::task::spawn_blocking(move || {
        for instance in &live {
            instance.drain_once();
        }
    });
    if tokio::time::timeout_at(deadline, drains).await.is_err() {
        tracing::warn!("plugins did not finish draining in time");
        return;
    }
    // Receipts emitted during the drain are on their way through the relay.
    tokio::time::sleep(Duration::from_millis(20)).await;
    while RELAYING.load(Ordering::Acquire) > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Turns the plugin's receipts into `deliver_sm`s for the accounts that sent the messages.
async fn relay_receipts(
    channel: String,
    mut receipts: tokio::sync::mpsc::UnboundedReceiver<Receipt>,
    outbox: Arc<Outbox>,
) {
    while let Some(receipt) = receipts.recv().await {
        let channel = channel.clone();
        let outbox = outbox.clone();
        RELAYING.fetch_add(1, Ordering::AcqRel);
        tokio::spawn(async move {
            relay_one(&channel, receipt, &outbox).await;
            RELAYING.fetch_sub(1, Ordering::AcqRel);
        });
    }
}

async fn relay_one(channel: &str, receipt: Receipt, outbox: &Arc<Outbox>) {
    let store = outbox.store();
    let mut record = None;
    for wait in LOOKUP_RETRIES {
        if wait > 0 {
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
        match store.lookup(channel, &receipt.message_id) {
            Ok(Some(r)) => {
                record = Some(r);
                break;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(%channel, error = %e, "store: receipt lookup failed; receipt dropped");
                return;
            }
        }
    }
    let Some(record) = record else {
        tracing::warn!(%channel, id = %receipt.message_id, "plugin receipt for an unknown message dropped");
        return;
    };
    let Some(to) = &record.receipt_to else {
        tracing::warn!(%channel, id = %record.router_id, "plugin receipt for a message recorded without addresses dropped");
        return;
    };
    let state = MessageState(receipt.state.to_abi());
    if !RegisteredDelivery(to.registered_delivery).wants_receipt(state == MessageState::DELIVERED) {
        tracing::debug!(%channel, id = %record.router_id, "receipt not requested by the client");
        return;
    }
    let original = Sm {
        source: Address::new(to.source.0, to.source.1, to.source.2.as_bytes()),
        dest: Address::new(to.dest.0, to.dest.1, to.dest.2.as_bytes()),
        ..Sm::default()
    };
    let err = format!("{:03}", receipt.error.min(999));
    let sm = receipts::build(
        &original,
        &ReceiptInfo {
            message_id: &record.router_id,
            state,
            err: &err,
            submitted_unix: record.created,
            done_unix: receipts::unix_now(),
        },
    );
    crate::metrics::global().receipt_from_channel(channel);
    crate::answers::gate().wait(&record.router_id).await;
    if let Err(e) = outbox.push(&record.account, sm).await {
        tracing::error!(%channel, id = %record.router_id, error = %e, "store: cannot keep a plugin receipt; dropped");
    }
}
