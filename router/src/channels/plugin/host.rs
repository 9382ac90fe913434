//! The router's side of the plugin ABI: the callbacks a plugin calls (log, metric, complete,
//! receipt), from any thread. None of them blocks or panics across the boundary.

use std::collections::HashMap;
use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use smpp_router_plugin_api::abi::{self, SrpHost, SrpReceipt, SrpResult, SrpStr};
use smpp_router_plugin_api::{Outcome, Receipt};
use tokio::sync::{mpsc, oneshot};

/// Receipts a plugin may have queued before the router takes them; beyond this the plugin is
/// told to emit them again later (`SRP_RECEIPT_RETRY`).
const RECEIPT_QUEUE: usize = 65_536;

/// What the callbacks reach through `ctx`: one per plugin instance.
///
/// The context and the table that points to it are **never freed** (a few hundred bytes per
/// instance, and instances are only made at start and reload): a plugin written without
/// `unsafe` can still keep a `Host` in a thread it forgot to join, and a callback after
/// `destroy` must find a closed context, not freed memory. [`HostCtx::close`] makes every later
/// callback a no-op and lets the receipt task end.
pub struct HostCtx {
    /// The channel's name, for logs and metrics.
    pub channel: String,
    /// The router's counters (a plugin's own metrics go there).
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    /// The host's count of receipts on their way (see [`super::Plugins`]).
    relaying: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// Submits waiting for their completion, by token.
    pending: Mutex<HashMap<u64, oneshot::Sender<Outcome>>>,
    next: AtomicU64,
    /// Receipts on their way to the receipt task; `None` once closed.
    receipts: Mutex<Option<mpsc::Sender<Receipt>>>,
    closed: AtomicBool,
}

impl HostCtx {
    /// A context for `channel` and the table that points to it (both live for the rest of the
    /// process), and the receiving end of its receipts.
    pub fn new(
        channel: &str,
        metrics: std::sync::Arc<crate::metrics::Metrics>,
        relaying: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    ) -> (&'static Self, &'static SrpHost, mpsc::Receiver<Receipt>) {
        let (tx, rx) = mpsc::channel(RECEIPT_QUEUE);
        let ctx: &'static Self = Box::leak(Box::new(Self {
            channel: channel.to_string(),
            metrics,
            relaying,
            pending: Mutex::new(HashMap::new()),
            next: AtomicU64::new(1),
            receipts: Mutex::new(Some(tx)),
            closed: AtomicBool::new(false),
        }));
        let table: &'static SrpHost = Box::leak(Box::new(ctx.table()));
        (ctx, table, rx)
    }

    /// After `destroy` (or a failed `create`): later callbacks do nothing, waiting submits end,
    /// and the receipt task finishes what it has and stops.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        if let Ok(mut r) = self.receipts.lock() {
            r.take();
        }
        if let Ok(mut p) = self.pending.lock() {
            p.clear();
        }
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn table(&self) -> SrpHost {
        SrpHost {
            struct_size: abi::size_of_u32::<SrpHost>(),
            abi_major: abi::ABI_MAJOR,
            abi_minor: abi::ABI_MINOR,
            ctx: std::ptr::from_ref(self).cast_mut().cast(),
            log: on_log,
            metric: on_metric,
            complete: on_complete,
            receipt: on_receipt,
            otp_code: Some(on_otp_code),
        }
    }

    /// Registers a submit; its outcome arrives on the receiver.
    pub fn register(&self) -> (u64, oneshot::Receiver<Outcome>) {
        let token = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        if let Ok(mut p) = self.pending.lock() {
            p.insert(token, tx);
        }
        (token, rx)
    }

    /// Forgets a submit (it timed out, or the plugin refused it); a late completion is ignored.
    pub fn forget(&self, token: u64) {
        if let Ok(mut p) = self.pending.lock() {
            p.remove(&token);
        }
    }

    fn complete(&self, token: u64, outcome: Outcome) {
        let waiter = self.pending.lock().ok().and_then(|mut p| p.remove(&token));
        match waiter {
            Some(tx) => {
                let _ = tx.send(outcome);
            }
            None => {
                tracing::debug!(channel = %self.channel, token, "a late or repeated completion was ignored");
            }
        }
    }
}

/// The context behind a callback's `ctx`.
///
/// # Safety
/// `ctx` is the pointer [`HostCtx::new`] put in the table (never freed).
unsafe fn ctx<'a>(ctx: *mut c_void) -> &'a HostCtx {
    // SAFETY: per the function's contract.
    unsafe { &*ctx.cast::<HostCtx>() }
}

/// Runs a callback body; a panic in the router's own code must not unwind into the plugin.
fn guarded<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(fallback)
}

unsafe extern "C" fn on_otp_code(
    _c: *mut c_void,
    text: SrpStr,
    out: *mut u8,
    cap: usize,
    len: *mut usize,
) -> i32 {
    guarded(abi::SRP_ERROR, || {
        // SAFETY: the text is borrowed for the call.
        let text = String::from_utf8_lossy(unsafe { text.as_bytes() });
        match crate::otp::extract(&text, &[]) {
            Some(code) if code.len() <= cap && !out.is_null() && !len.is_null() => {
                // SAFETY: the plugin's buffer of `cap` bytes and its length slot (ABI).
                unsafe {
                    std::ptr::copy_nonoverlapping(code.as_ptr(), out, code.len());
                    *len = code.len();
                }
                abi::SRP_OK
            }
            _ => abi::SRP_ERROR,
        }
    })
}

unsafe extern "C" fn on_log(c: *mut c_void, level: i32, message: SrpStr) {
    guarded((), || {
        // SAFETY: ctx per the ABI; the message is borrowed for the call.
        let (c, bytes) = unsafe { (ctx(c), message.as_bytes()) };
        if c.is_closed() {
            return;
        }
        let text = String::from_utf8_lossy(bytes);
        let channel = c.channel.as_str();
        match level {
            abi::SRP_LOG_ERROR => tracing::error!(%channel, "plugin: {text}"),
            abi::SRP_LOG_WARN => tracing::warn!(%channel, "plugin: {text}"),
            abi::SRP_LOG_INFO => tracing::info!(%channel, "plugin: {text}"),
            abi::SRP_LOG_DEBUG => tracing::debug!(%channel, "plugin: {text}"),
            _ => tracing::trace!(%channel, "plugin: {text}"),
        }
    });
}

unsafe extern "C" fn on_metric(c: *mut c_void, kind: i32, name: SrpStr, value: f64) {
    guarded((), || {
        // SAFETY: ctx per the ABI; the name is borrowed for the call.
        let (c, name) = unsafe { (ctx(c), name.as_bytes()) };
        if c.is_closed() {
            return;
        }
        if !abi::valid_metric_name(name) || !value.is_finite() {
            return;
        }
        let name = std::str::from_utf8(name).unwrap_or_default();
        let family = &crate::channels::counters::PLUGIN_METRIC;
        match kind == abi::SRP_METRIC_GAUGE {
            true => c.metrics.set(family, &[&c.channel, name], value),
            false => c.metrics.increase(family, &[&c.channel, name], value),
        }
    });
}

unsafe extern "C" fn on_complete(c: *mut c_void, token: u64, result: *const SrpResult) {
    guarded((), || {
        // SAFETY: ctx per the ABI; the result is borrowed for the call.
        let c = unsafe { ctx(c) };
        if c.is_closed() {
            return;
        }
        let outcome = unsafe { result.as_ref() }.and_then(|r| unsafe { Outcome::from_abi(r) });
        match outcome {
            Some(outcome) => c.complete(token, outcome),
            None => {
                tracing::warn!(channel = %c.channel, "plugin completed with an outcome this ABI does not define; taken as unknown");
                c.complete(token, Outcome::Unknown);
            }
        }
    });
}

unsafe extern "C" fn on_receipt(c: *mut c_void, receipt: *const SrpReceipt) -> i32 {
    guarded(abi::SRP_RECEIPT_RETRY, || {
        // SAFETY: ctx per the ABI; the receipt is borrowed for the call.
        let c = unsafe { ctx(c) };
        let Some(receipt) =
            (unsafe { receipt.as_ref() }).and_then(|r| unsafe { Receipt::from_abi(r) })
        else {
            tracing::warn!(channel = %c.channel, "plugin emitted a malformed receipt (no id, or not a final state)");
            return abi::SRP_RECEIPT_INVALID;
        };
        let sent = c
            .receipts
            .lock()
            .ok()
            .and_then(|r| r.as_ref().map(|tx| tx.try_send(receipt)));
        match sent {
            Some(Ok(())) => {
                // Counted from the plugin's call on (see `Plugins::drain_all`).
                c.relaying.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
                abi::SRP_RECEIPT_QUEUED
            }
            Some(Err(mpsc::error::TrySendError::Full(_))) => {
                tracing::warn!(channel = %c.channel, "plugin receipts are coming faster than they are stored; asked to retry");
                abi::SRP_RECEIPT_RETRY
            }
            // Closed: the instance is gone; nothing can take it any more.
            _ => abi::SRP_RECEIPT_RETRY,
        }
    })
}
