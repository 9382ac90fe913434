//! A host for tests: drives a plugin through the same C ABI the router uses, in-process, so a
//! plugin can be tested without the router.
//!
//! ```ignore
//! use smpp_router_plugin_api::testing::{TestHost, TestMessage};
//!
//! let host = TestHost::start::<MyChannel>(r#"{"url": "http://127.0.0.1:9"}"#).unwrap();
//! let outcome = host.submit(&TestMessage::new("+447700900123", "hello")).unwrap();
//! let receipt = host.wait_receipt(std::time::Duration::from_secs(1));
//! ```

use std::collections::HashMap;
use std::ffi::{CStr, c_void};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::abi::{self, SrpHost, SrpMessage, SrpPlugin, SrpReceipt, SrpResult, SrpStr};
use crate::sdk::{Health, Level, Outcome, Plugin, Receipt};

/// A `submit` call that takes longer than this is counted by [`TestHost::slow_submits`].
pub const SLOW_SUBMIT: Duration = Duration::from_millis(10);

/// A message to submit; fields default to a plain GSM text from `TEST` to the destination.
#[derive(Clone, Debug)]
pub struct TestMessage {
    /// The router id.
    pub id: String,
    /// The account.
    pub account: String,
    /// The sender.
    pub source: String,
    /// The recipient (E.164 with `+`).
    pub destination: String,
    /// The text.
    pub text: String,
    /// `registered_delivery` (1: receipt wanted).
    pub registered_delivery: u8,
    /// `data_coding` (0: GSM default alphabet).
    pub data_coding: u8,
    /// `esm_class`.
    pub esm_class: u8,
    /// The raw message bytes; `None`: the text's UTF-8 bytes.
    pub payload: Option<Vec<u8>>,
}

impl TestMessage {
    /// Hands `f` the message as the router gives it to a plugin.
    fn with_abi<R>(&self, f: impl FnOnce(&SrpMessage) -> R) -> R {
        let payload = self.payload.as_deref().unwrap_or(self.text.as_bytes());
        let raw = SrpMessage {
            struct_size: abi::size_of_u32::<SrpMessage>(),
            data_coding: self.data_coding,
            esm_class: self.esm_class,
            registered_delivery: self.registered_delivery,
            reserved: 0,
            id: SrpStr::new(self.id.as_bytes()),
            account: SrpStr::new(self.account.as_bytes()),
            source: SrpStr::new(self.source.as_bytes()),
            destination: SrpStr::new(self.destination.as_bytes()),
            text: SrpStr::new(self.text.as_bytes()),
            payload: SrpStr::new(payload),
        };
        f(&raw)
    }

    /// A text message to `destination` with a receipt requested and a fresh id.
    pub fn new(destination: &str, text: &str) -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self {
            id: format!("test-{n}"),
            account: "test".into(),
            source: "TEST".into(),
            destination: destination.into(),
            text: text.into(),
            registered_delivery: 1,
            data_coding: 0,
            esm_class: 0,
            payload: None,
        }
    }
}

/// Why a test-host call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TestError {
    /// The plugin's descriptor is not compatible.
    Abi(abi::AbiMismatch),
    /// `create` failed with this reason.
    Create(String),
    /// The plugin panicked (caught at the boundary).
    Panicked,
    /// `submit` returned this code instead of taking the message.
    Rejected(i32),
    /// No completion within the wait.
    Timeout,
    /// The plugin completed with a kind the ABI does not define.
    BadResult,
}

impl std::fmt::Display for TestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Abi(e) => write!(f, "{e}"),
            Self::Create(why) => write!(f, "create failed: {why}"),
            Self::Panicked => write!(f, "the plugin panicked"),
            Self::Rejected(rc) => write!(f, "submit returned {rc} instead of taking the message"),
            Self::Timeout => write!(f, "no completion in time"),
            Self::BadResult => write!(
                f,
                "the plugin completed with an outcome the ABI does not define"
            ),
        }
    }
}

impl std::error::Error for TestError {}

#[derive(Default)]
struct State {
    outcomes: HashMap<u64, Option<Outcome>>,
    receipts: Vec<Receipt>,
    /// The message id of every receipt queued so far, taken or not.
    receipt_ids: Vec<String>,
    logs: Vec<(Level, String)>,
    metrics: HashMap<String, f64>,
    bad_receipts: usize,
    bad_metrics: usize,
    stray_completions: usize,
    /// The router's id of each submit in flight, by token.
    router_ids: HashMap<u64, String>,
    /// Ids messages were accepted with, as the router keeps them.
    accepted_ids: std::collections::HashSet<String>,
    long_ids: usize,
    slow_submits: usize,
}

/// How the test host answers [`crate::Host::otp_code`].
type OtpAnswer = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

#[derive(Default)]
struct Shared {
    otp: Mutex<Option<OtpAnswer>>,
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A plugin instance under test. Dropping it drains and destroys the instance.
pub struct TestHost {
    plugin: &'static SrpPlugin,
    instance: *mut c_void,
    shared: Arc<Shared>,
    // Kept alive (and at a fixed address) until the instance is destroyed.
    _table: Box<SrpHost>,
    next: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for TestHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (name, version) = self.name_and_version();
        f.debug_struct("TestHost")
            .field("plugin", &name)
            .field("version", &version)
            .finish()
    }
}

// SAFETY: the plugin ABI requires instances to be callable from any thread.
unsafe impl Send for TestHost {}
// SAFETY: as above.
unsafe impl Sync for TestHost {}

impl TestHost {
    /// Creates an instance of `T` from `config` (JSON), through its exported ABI functions.
    pub fn start<T: Plugin>(config: &str) -> Result<Self, TestError> {
        let descriptor: &'static SrpPlugin = Box::leak(Box::new(crate::export::descriptor::<T>(
            c"test".as_ptr(),
            c"0".as_ptr(),
        )));
        Self::with_descriptor(descriptor, config)
    }

    /// Runs `T`'s `validate` on `config` through the ABI, as `smpp-router check` does.
    pub fn validate<T: Plugin>(config: &str) -> Result<(), TestError> {
        let d = crate::export::descriptor::<T>(c"test".as_ptr(), c"0".as_ptr());
        let mut error = vec![0u8; 1024];
        let mut len = 0usize;
        // SAFETY: the buffers are ours for the call.
        let rc = unsafe {
            (d.validate)(
                SrpStr::new(config.as_bytes()),
                error.as_mut_ptr(),
                error.len(),
                &mut len,
            )
        };
        match rc {
            abi::SRP_OK => Ok(()),
            abi::SRP_PANICKED => Err(TestError::Panicked),
            _ => {
                error.truncate(len.min(1024));
                Err(TestError::Create(
                    String::from_utf8_lossy(&error).into_owned(),
                ))
            }
        }
    }

    /// Creates an instance through a plugin's exported entry function (the
    /// `smpp_router_plugin_entry` that [`crate::export_plugin!`] defines), checking its ABI
    /// version like the router does: the closest test to loading the library.
    pub fn from_entry(
        entry: extern "C" fn() -> *const SrpPlugin,
        config: &str,
    ) -> Result<Self, TestError> {
        // SAFETY: an entry function returns its static descriptor (or null).
        let plugin = unsafe { abi::check_descriptor(entry()) }.map_err(TestError::Abi)?;
        Self::with_descriptor(Box::leak(Box::new(plugin)), config)
    }

    fn with_descriptor(plugin: &'static SrpPlugin, config: &str) -> Result<Self, TestError> {
        let shared = Arc::new(Shared::default());
        let table = Box::new(SrpHost {
            struct_size: abi::size_of_u32::<SrpHost>(),
            abi_major: abi::ABI_MAJOR,
            abi_minor: abi::ABI_MINOR,
            ctx: Arc::as_ptr(&shared).cast_mut().cast(),
            log: on_log,
            metric: on_metric,
            complete: on_complete,
            receipt: on_receipt,
            otp_code: Some(on_otp_code),
        });
        let mut instance = std::ptr::null_mut();
        let mut error = vec![0u8; 1024];
        let mut error_len = 0usize;
        // SAFETY: every pointer is valid for the call; the table outlives the instance.
        let rc = unsafe {
            (plugin.create)(
                &*table,
                SrpStr::new(config.as_bytes()),
                &mut instance,
                error.as_mut_ptr(),
                error.len(),
                &mut error_len,
            )
        };
        if rc != abi::SRP_OK || instance.is_null() {
            error.truncate(error_len.min(error.len()));
            return Err(match rc {
                abi::SRP_PANICKED => TestError::Panicked,
                _ => TestError::Create(String::from_utf8_lossy(&error).into_owned()),
            });
        }
        Ok(Self {
            plugin,
            instance,
            shared,
            _table: table,
            next: std::sync::atomic::AtomicU64::new(1),
        })
    }

    /// The plugin's name and version from its descriptor.
    pub fn name_and_version(&self) -> (String, String) {
        // SAFETY: the descriptor's strings are static and NUL-terminated (ABI contract).
        let s = |p| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
        (s(self.plugin.name), s(self.plugin.version))
    }

    /// Submits `message` and waits up to 10 s for its outcome.
    pub fn submit(&self, message: &TestMessage) -> Result<Outcome, TestError> {
        self.submit_within(message, Duration::from_secs(10))
    }

    /// Submits `message` and waits up to `wait` for its outcome.
    pub fn submit_within(
        &self,
        message: &TestMessage,
        wait: Duration,
    ) -> Result<Outcome, TestError> {
        let token = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        {
            let mut state = self.shared.lock();
            state.outcomes.insert(token, None);
            state.router_ids.insert(token, message.id.clone());
        }
        let called = Instant::now();
        // SAFETY: the instance is alive; `raw` lives for the call.
        let rc = message.with_abi(|raw| unsafe { (self.plugin.submit)(self.instance, raw, token) });
        // A panicking call is reported as a panic; its time (a backtrace, with
        // RUST_BACKTRACE=1) is not the plugin blocking.
        if called.elapsed() > SLOW_SUBMIT && rc != abi::SRP_PANICKED {
            self.shared.lock().slow_submits += 1;
        }
        if rc != abi::SRP_OK {
            let mut state = self.shared.lock();
            state.outcomes.remove(&token);
            state.router_ids.remove(&token);
            drop(state);
            return Err(match rc {
                abi::SRP_PANICKED => TestError::Panicked,
                other => TestError::Rejected(other),
            });
        }
        let deadline = Instant::now() + wait;
        let mut state = self.shared.lock();
        loop {
            match state.outcomes.get(&token) {
                Some(Some(_)) => {
                    return state
                        .outcomes
                        .remove(&token)
                        .flatten()
                        .ok_or(TestError::BadResult);
                }
                None => return Err(TestError::BadResult),
                Some(None) => {}
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                state.outcomes.remove(&token);
                return Err(TestError::Timeout);
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    /// Sets what the host answers when the plugin asks for the one-time code of a text
    /// ([`crate::Host::otp_code`]); until then it finds none. The router answers by its own
    /// rules: here the test says what they find (`|t| t.contains("482910").then(|| "482910".into())`),
    /// and the plugin's handling of the answer is what is tested.
    pub fn set_otp_codes(&self, answer: impl Fn(&str) -> Option<String> + Send + Sync + 'static) {
        *self.shared.otp.lock().unwrap_or_else(|p| p.into_inner()) = Some(Box::new(answer));
    }

    /// Whether the plugin declines `message` ("not for me", ABI 1.1), as the router asks before
    /// every submit: `Some(status)` when it does (the SMPP status it gave; 0 when it gave
    /// none), `None` when it takes it.
    pub fn declines(&self, message: &TestMessage) -> Result<Option<u32>, TestError> {
        let Some(declines) = self.plugin.declines_fn() else {
            return Ok(None);
        };
        let mut status = 0u32;
        // SAFETY: the instance is alive; `raw` and `status` live for the call.
        let rc = message.with_abi(|raw| unsafe { declines(self.instance, raw, &mut status) });
        match rc {
            abi::SRP_OK => Ok(None),
            abi::SRP_DECLINED => Ok(Some(status)),
            abi::SRP_PANICKED => Err(TestError::Panicked),
            other => Err(TestError::Rejected(other)),
        }
    }

    /// The plugin's health.
    pub fn health(&self) -> Result<Health, TestError> {
        // SAFETY: the instance is alive.
        match unsafe { (self.plugin.health)(self.instance) } {
            abi::SRP_UP => Ok(Health::Up),
            abi::SRP_DOWN => Ok(Health::Down),
            abi::SRP_PANICKED => Err(TestError::Panicked),
            other => Err(TestError::Rejected(other)),
        }
    }

    /// Waits up to `wait` for the next receipt and takes it.
    pub fn wait_receipt(&self, wait: Duration) -> Option<Receipt> {
        let deadline = Instant::now() + wait;
        let mut state = self.shared.lock();
        loop {
            if !state.receipts.is_empty() {
                return Some(state.receipts.remove(0));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    /// The log lines so far.
    pub fn logs(&self) -> Vec<(Level, String)> {
        self.shared.lock().logs.clone()
    }

    /// The value of metric `name` (counters summed, gauges last set).
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.shared.lock().metrics.get(name).copied()
    }

    /// Receipts the host refused as malformed (no id, an id over 64 bytes, not a final state).
    pub fn invalid_receipts(&self) -> usize {
        self.shared.lock().bad_receipts
    }

    /// Completions the router would ignore: a second one for the same submit, or one that came
    /// after the wait gave up (a timeout).
    pub fn stray_completions(&self) -> usize {
        self.shared.lock().stray_completions
    }

    /// Metrics the router would drop: a name that is not 1–64 bytes of `[a-z0-9_]`, or a value
    /// that is not finite.
    pub fn invalid_metrics(&self) -> usize {
        self.shared.lock().bad_metrics
    }

    /// Messages accepted with an id over [`abi::MAX_MESSAGE_ID`] bytes: the router keeps its own
    /// id for them instead, so the plugin's receipts for them are refused.
    pub fn invalid_message_ids(&self) -> usize {
        self.shared.lock().long_ids
    }

    /// Receipts queued so far whose id no message was accepted with (the id from
    /// [`Outcome::Accepted`], or the router's id when that was empty): the router drops them as
    /// receipts for an unknown message. Receipts taken with [`TestHost::wait_receipt`] still
    /// count.
    pub fn unknown_receipts(&self) -> usize {
        let state = self.shared.lock();
        state
            .receipt_ids
            .iter()
            .filter(|id| !state.accepted_ids.contains(*id))
            .count()
    }

    /// `submit` calls that took longer than [`SLOW_SUBMIT`]. The router calls `submit` on its
    /// event-loop threads: a call that blocks holds up every message on that thread. Hand the
    /// work to your own threads and complete from there.
    pub fn slow_submits(&self) -> usize {
        self.shared.lock().slow_submits
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        // SAFETY: the instance is alive and nothing else calls into it now.
        unsafe {
            (self.plugin.drain)(self.instance);
            (self.plugin.destroy)(self.instance);
        }
    }
}

/// The shared state behind a callback's `ctx`.
///
/// # Safety
/// `ctx` is the pointer the test host put in its table, alive until destroy returns.
unsafe fn shared<'a>(ctx: *mut c_void) -> &'a Shared {
    // SAFETY: per the function's contract.
    unsafe { &*ctx.cast::<Shared>() }
}

unsafe extern "C" fn on_log(ctx: *mut c_void, level: i32, message: SrpStr) {
    let level = match level {
        abi::SRP_LOG_ERROR => Level::Error,
        abi::SRP_LOG_WARN => Level::Warn,
        abi::SRP_LOG_INFO => Level::Info,
        abi::SRP_LOG_DEBUG => Level::Debug,
        _ => Level::Trace,
    };
    // SAFETY: the message is borrowed for the call; ctx per `shared`.
    let text = String::from_utf8_lossy(unsafe { message.as_bytes() }).into_owned();
    // SAFETY: as above.
    unsafe { shared(ctx) }.lock().logs.push((level, text));
}

unsafe extern "C" fn on_metric(ctx: *mut c_void, kind: i32, name: SrpStr, value: f64) {
    // SAFETY: the name is borrowed for the call; ctx per `shared`.
    let bytes = unsafe { name.as_bytes() };
    // SAFETY: as above.
    let mut state = unsafe { shared(ctx) }.lock();
    if !abi::valid_metric_name(bytes) || !value.is_finite() {
        state.bad_metrics += 1;
        return;
    }
    let name = String::from_utf8_lossy(bytes).into_owned();
    let slot = state.metrics.entry(name).or_insert(0.0);
    if kind == abi::SRP_METRIC_GAUGE {
        *slot = value;
    } else {
        *slot += value;
    }
}

unsafe extern "C" fn on_complete(ctx: *mut c_void, token: u64, result: *const SrpResult) {
    // SAFETY: the result is borrowed for the call.
    let outcome = unsafe { result.as_ref() }.and_then(|r| unsafe { Outcome::from_abi(r) });
    // SAFETY: ctx per `shared`.
    let shared = unsafe { shared(ctx) };
    let mut state = shared.lock();
    let router_id = state.router_ids.remove(&token).unwrap_or_default();
    if let Some(Outcome::Accepted { message_id, .. }) = &outcome {
        if message_id.len() > abi::MAX_MESSAGE_ID {
            state.long_ids += 1;
        } else if message_id.is_empty() {
            state.accepted_ids.insert(router_id);
        } else {
            state.accepted_ids.insert(message_id.clone());
        }
    }
    match state.outcomes.get_mut(&token) {
        // An outcome the ABI does not define is reported as bad.
        Some(slot @ None) => match outcome {
            Some(o) => *slot = Some(o),
            None => {
                state.outcomes.remove(&token);
            }
        },
        // A second completion, or one after the wait gave up: the router ignores it.
        _ => state.stray_completions += 1,
    }
    drop(state);
    shared.changed.notify_all();
}

unsafe extern "C" fn on_otp_code(
    ctx: *mut c_void,
    text: SrpStr,
    out: *mut u8,
    cap: usize,
    len: *mut usize,
) -> i32 {
    // SAFETY: ctx per `shared`; the text is borrowed for the call.
    let (shared, text) = unsafe { (shared(ctx), text.as_bytes()) };
    let text = String::from_utf8_lossy(text);
    // A panicking answer must not unwind into the plugin's frames (that aborts): none found.
    let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let answer = shared.otp.lock().unwrap_or_else(|p| p.into_inner());
        answer.as_ref().and_then(|f| f(&text))
    }))
    .ok()
    .flatten();
    match code {
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
}

unsafe extern "C" fn on_receipt(ctx: *mut c_void, receipt: *const SrpReceipt) -> i32 {
    // SAFETY: the receipt is borrowed for the call.
    let parsed = unsafe { receipt.as_ref() }.and_then(|r| unsafe { Receipt::from_abi(r) });
    // SAFETY: ctx per `shared`.
    let shared = unsafe { shared(ctx) };
    let rc = {
        let mut state = shared.lock();
        match parsed {
            Some(r) => {
                state.receipt_ids.push(r.message_id.clone());
                state.receipts.push(r);
                abi::SRP_RECEIPT_QUEUED
            }
            None => {
                state.bad_receipts += 1;
                abi::SRP_RECEIPT_INVALID
            }
        }
    };
    shared.changed.notify_all();
    rc
}
