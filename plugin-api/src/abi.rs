//! The C ABI between the router (the host) and a channel plugin, version 1.1.
//!
//! 1.1 added [`SrpPlugin::declines`] ("not for me": the route's next channel takes the message,
//! and it is not a failure of this one) and the host service [`SrpHost::otp_code`] (the
//! router's one-time-code extraction).
//!
//! Everything that crosses the boundary is a `#[repr(C)]` struct, a plain integer or an
//! `extern "C"` function pointer. Status codes are integers with the constants below, never Rust
//! enums. Every pointer says who owns it and how long it lives; a buffer is freed by the side
//! that allocated it.
//!
//! # Loading
//!
//! The host opens the library and looks up one symbol, [`ENTRY_SYMBOL`]
//! (`smpp_router_plugin_entry`), of type [`EntryFn`]. It returns a pointer to a static
//! [`SrpPlugin`] descriptor. The host reads `struct_size`, `abi_major` and `abi_minor` first and
//! refuses the library unless:
//!
//! - `abi_major == ABI_MAJOR` (a different major is a different ABI), and
//! - `abi_minor <= ABI_MINOR` of the host (a plugin built for a newer minor may call what this
//!   host does not have), and
//! - `struct_size` covers every field of the descriptor of that minor.
//!
//! # Compatibility policy
//!
//! Within one major version, a new minor only **appends** fields at the end of structs and adds
//! constants; nothing is removed, reordered or re-typed. Every struct starts with `struct_size`
//! so that each side can tell which fields the other filled in. A plugin built against 1.0 keeps
//! loading in every 1.x host; a plugin built against 1.3 is refused by a 1.2 host with an error
//! naming both versions. A change that cannot be made by appending is a new major, and the host
//! refuses plugins of any other major.
//!
//! # Life cycle
//!
//! `validate` whenever the routes file is checked or reloaded → `create` once per `[[channel]]`
//! of kind `plugin` (again after a reload that changes the
//! channel's settings) → any number of `submit`/`health` calls, from several host threads at once
//! → `drain` (stop taking work, finish or hand back what is in flight, flush receipts) →
//! `destroy`. After `destroy` returns the plugin must not call the host again: join the threads
//! you started before returning from `destroy`.
//!
//! # Threads
//!
//! The host calls `submit` on its own async runtime threads: it must not block. The plugin does
//! its work on threads or a runtime it owns (a tokio runtime inside a plugin is not the host's;
//! `tokio::spawn` without one panics) and reports with [`SrpHost::complete`], from any thread,
//! exactly once per submit. The host callbacks never block.
//!
//! # Panics
//!
//! A Rust panic must never unwind out of an `extern "C"` function: the process aborts. The SDK
//! ([`crate::export_plugin!`]) catches every panic and returns [`SRP_PANICKED`]; the host then
//! disables the plugin and fails its messages over.

use std::ffi::{c_char, c_void};

/// The ABI major version of this crate (and of hosts built with it).
pub const ABI_MAJOR: u16 = 1;
/// The ABI minor version of this crate.
pub const ABI_MINOR: u16 = 1;
/// The one symbol the host looks up, NUL-terminated.
pub const ENTRY_SYMBOL: &[u8] = b"smpp_router_plugin_entry\0";

/// The type of the entry symbol. Returns a pointer to a static descriptor.
///
/// OWNERSHIP: the descriptor and the strings it points to are owned by the plugin and must live
/// as long as the library is loaded (a `static`).
pub type EntryFn = unsafe extern "C" fn() -> *const SrpPlugin;

// ---- Status codes -------------------------------------------------------------------------

/// The call succeeded.
pub const SRP_OK: i32 = 0;
/// The call failed; for `create`, the error text says why.
pub const SRP_ERROR: i32 = 1;
/// The plugin panicked inside the call (caught by the SDK). The host disables the instance.
pub const SRP_PANICKED: i32 = -1;
/// [`SrpPlugin::declines`] (ABI 1.1): the channel does not take this message; the route's next
/// channel does, without an attempt here.
pub const SRP_DECLINED: i32 = 2;

/// [`SrpResult::kind`]: the channel took the message; `message_id` is its id for it.
pub const SRP_ACCEPTED: i32 = 0;
/// [`SrpResult::kind`]: the channel answered with a refusal (`smpp_status` says which): a
/// definite outcome, safe to fail over from.
pub const SRP_REFUSED: i32 = 1;
/// [`SrpResult::kind`]: nothing was sent (not connected, queue full): safe to retry elsewhere.
pub const SRP_NOT_SENT: i32 = 2;
/// [`SrpResult::kind`]: the message may or may not have gone out (sent, no answer). The host
/// never resends it to this channel.
pub const SRP_UNKNOWN: i32 = 3;

/// `health` answer: taking messages.
pub const SRP_UP: i32 = 0;
/// `health` answer: not taking messages now; the host skips the channel without an attempt.
pub const SRP_DOWN: i32 = 1;

/// Log levels for [`SrpHost::log`].
pub const SRP_LOG_ERROR: i32 = 1;
/// Log level warn.
pub const SRP_LOG_WARN: i32 = 2;
/// Log level info.
pub const SRP_LOG_INFO: i32 = 3;
/// Log level debug.
pub const SRP_LOG_DEBUG: i32 = 4;
/// Log level trace.
pub const SRP_LOG_TRACE: i32 = 5;

/// Metric kind for [`SrpHost::metric`]: add `value` to a counter.
pub const SRP_METRIC_COUNTER: i32 = 0;
/// Metric kind for [`SrpHost::metric`]: set a gauge to `value`.
pub const SRP_METRIC_GAUGE: i32 = 1;

/// [`SrpHost::receipt`] answer: the host queued the receipt (it becomes durable within a few
/// milliseconds and reaches the client at least once).
pub const SRP_RECEIPT_QUEUED: i32 = 0;
/// [`SrpHost::receipt`] answer: malformed (no message id, unknown state); dropped.
pub const SRP_RECEIPT_INVALID: i32 = 1;
/// [`SrpHost::receipt`] answer: the host is shutting down or overloaded; emit it again later.
pub const SRP_RECEIPT_RETRY: i32 = 2;

/// Message states for [`SrpResult::final_state`] and [`SrpReceipt::state`], as SMPP's
/// `message_state`: 0 means "not known yet".
pub const SRP_STATE_NONE: u8 = 0;
/// Delivered to the handset.
pub const SRP_STATE_DELIVERED: u8 = 2;
/// Validity period expired.
pub const SRP_STATE_EXPIRED: u8 = 3;
/// Deleted.
pub const SRP_STATE_DELETED: u8 = 4;
/// Undeliverable.
pub const SRP_STATE_UNDELIVERABLE: u8 = 5;
/// Accepted (read by a person, or taken by the far side).
pub const SRP_STATE_ACCEPTED: u8 = 6;
/// Unknown.
pub const SRP_STATE_UNKNOWN: u8 = 7;
/// Rejected.
pub const SRP_STATE_REJECTED: u8 = 8;

// ---- Data ---------------------------------------------------------------------------------

/// A borrowed byte string (UTF-8 where the field says so), not NUL-terminated.
///
/// OWNERSHIP: borrowed from the side that passes it, valid only for the duration of the call it
/// is passed to. Copy what you keep.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SrpStr {
    /// Start of the bytes; may be null when `len` is 0.
    pub ptr: *const u8,
    /// Number of bytes.
    pub len: usize,
}

impl SrpStr {
    /// Borrows `bytes` for a call.
    pub fn new(bytes: &[u8]) -> Self {
        Self {
            ptr: bytes.as_ptr(),
            len: bytes.len(),
        }
    }

    /// The bytes.
    ///
    /// # Safety
    /// `ptr` must point to `len` readable bytes that stay valid for `'a` (or `len` is 0).
    pub unsafe fn as_bytes<'a>(self) -> &'a [u8] {
        if self.ptr.is_null() || self.len == 0 {
            return &[];
        }
        // SAFETY: the caller guarantees `ptr` points to `len` bytes valid for 'a.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// A message handed to [`SrpPlugin::submit`].
///
/// OWNERSHIP: the struct and every string in it are owned by the host and valid only during the
/// `submit` call. Copy what the work needs.
#[repr(C)]
#[derive(Debug)]
pub struct SrpMessage {
    /// `size_of::<SrpMessage>()` of the host.
    pub struct_size: u32,
    /// SMPP `data_coding` of the client's message.
    pub data_coding: u8,
    /// SMPP `esm_class`.
    pub esm_class: u8,
    /// SMPP `registered_delivery` (bit 0/1: the client wants a receipt).
    pub registered_delivery: u8,
    /// Reserved, 0.
    pub reserved: u8,
    /// The router's id for the message (UTF-8): the id the client got.
    pub id: SrpStr,
    /// The sending account's `system_id` (UTF-8).
    pub account: SrpStr,
    /// The sender as the client gave it, or rewritten by the route (UTF-8).
    pub source: SrpStr,
    /// The recipient in E.164, with a leading `+` (UTF-8).
    pub destination: SrpStr,
    /// The text, decoded from `data_coding` to UTF-8; empty for binary messages.
    pub text: SrpStr,
    /// The raw message bytes (`short_message` or `message_payload`).
    pub payload: SrpStr,
}

/// The outcome of one submit, given to [`SrpHost::complete`].
///
/// OWNERSHIP: owned by the plugin, valid only during the `complete` call; the host copies it.
#[repr(C)]
#[derive(Debug)]
pub struct SrpResult {
    /// `size_of::<SrpResult>()` of the plugin.
    pub struct_size: u32,
    /// [`SRP_ACCEPTED`], [`SRP_REFUSED`], [`SRP_NOT_SENT`] or [`SRP_UNKNOWN`].
    pub kind: i32,
    /// For [`SRP_REFUSED`]: the SMPP command status the channel's refusal maps to (for example
    /// `0x0B` invalid destination, `0x58` throttled, `0x45` submit failed).
    pub smpp_status: u32,
    /// For [`SRP_ACCEPTED`]: the final state when the channel knows it at once
    /// ([`SRP_STATE_DELIVERED`], …), else [`SRP_STATE_NONE`] and a receipt follows later
    /// through [`SrpHost::receipt`].
    pub final_state: u8,
    /// For [`SRP_ACCEPTED`]: the channel's id for the message (UTF-8, at most 64 bytes), which
    /// later receipts name. Empty means "use the router's id".
    pub message_id: SrpStr,
}

/// A delivery receipt for a message accepted earlier, given to [`SrpHost::receipt`].
///
/// OWNERSHIP: owned by the plugin, valid only during the call; the host copies it.
#[repr(C)]
#[derive(Debug)]
pub struct SrpReceipt {
    /// `size_of::<SrpReceipt>()` of the plugin.
    pub struct_size: u32,
    /// The state reached ([`SRP_STATE_DELIVERED`], [`SRP_STATE_UNDELIVERABLE`], …).
    pub state: u8,
    /// The network error code for the receipt's `err:` field (0–999).
    pub error: u16,
    /// The id the plugin gave in [`SrpResult::message_id`] (or the router's id if it gave none).
    pub message_id: SrpStr,
}

/// What the host offers the plugin. Passed to `create`.
///
/// OWNERSHIP: owned by the host; the pointer stays valid until `destroy` returns. The callbacks
/// may be called from any thread, never block, and borrow their arguments only for the call.
#[repr(C)]
#[derive(Debug)]
pub struct SrpHost {
    /// `size_of::<SrpHost>()` of the host.
    pub struct_size: u32,
    /// The host's [`ABI_MAJOR`].
    pub abi_major: u16,
    /// The host's [`ABI_MINOR`].
    pub abi_minor: u16,
    /// Opaque; passed back as the first argument of every callback.
    pub ctx: *mut c_void,
    /// Writes a log line (UTF-8) at `level` ([`SRP_LOG_ERROR`] … [`SRP_LOG_TRACE`]), tagged with
    /// the channel's name. Never log OTP codes, passwords or full phone numbers.
    pub log: unsafe extern "C" fn(ctx: *mut c_void, level: i32, message: SrpStr),
    /// Records a metric named `name` (`[a-z0-9_]`, at most 64 bytes) of `kind`
    /// ([`SRP_METRIC_COUNTER`] adds, [`SRP_METRIC_GAUGE`] sets), exported as
    /// `smpp_router_plugin_metric{channel, name}`.
    pub metric: unsafe extern "C" fn(ctx: *mut c_void, kind: i32, name: SrpStr, value: f64),
    /// Completes the submit that was given `completion`. Call exactly once per submit, from any
    /// thread, also from inside `submit`. Later calls for the same token are ignored.
    pub complete: unsafe extern "C" fn(ctx: *mut c_void, completion: u64, result: *const SrpResult),
    /// Emits a receipt for a message accepted earlier. Returns [`SRP_RECEIPT_QUEUED`],
    /// [`SRP_RECEIPT_INVALID`] or [`SRP_RECEIPT_RETRY`].
    pub receipt: unsafe extern "C" fn(ctx: *mut c_void, receipt: *const SrpReceipt) -> i32,
    // ---- ABI 1.1 ----
    /// Finds the one-time code in `text` (UTF-8) by the router's built-in rules — those its
    /// iMessage channel uses, without an account's own patterns: writes the code (4–10 ASCII
    /// digits) into `out` (at most `cap` bytes) and its length into `*len` and returns
    /// [`SRP_OK`], or returns [`SRP_ERROR`] when the text holds no code (or `cap` is too
    /// small). Never blocks; callable from `declines` and `submit`.
    ///
    /// OWNERSHIP: `text` borrowed for the call; `out` and `len` are the plugin's.
    pub otp_code: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            text: SrpStr,
            out: *mut u8,
            cap: usize,
            len: *mut usize,
        ) -> i32,
    >,
}

/// The plugin's descriptor, returned by the entry symbol.
///
/// OWNERSHIP: a `static` of the plugin, with `'static` strings.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SrpPlugin {
    /// `size_of::<SrpPlugin>()` of the plugin.
    pub struct_size: u32,
    /// The plugin's [`ABI_MAJOR`].
    pub abi_major: u16,
    /// The plugin's [`ABI_MINOR`].
    pub abi_minor: u16,
    /// The plugin's name, NUL-terminated UTF-8.
    pub name: *const c_char,
    /// The plugin's version, NUL-terminated UTF-8.
    pub version: *const c_char,
    /// Creates an instance. `config` is the channel's `config` table from `routes.toml` as JSON
    /// (UTF-8). On success writes the instance to `*instance` and returns [`SRP_OK`]. On failure
    /// returns [`SRP_ERROR`] and writes a reason (UTF-8, at most `error_cap` bytes) into
    /// `error`, its length into `*error_len`.
    ///
    /// OWNERSHIP: `host` as in [`SrpHost`]; `config` borrowed for the call; `error` is a
    /// host-owned buffer of `error_cap` bytes; `*instance` is owned by the plugin until
    /// `destroy`.
    pub create: unsafe extern "C" fn(
        host: *const SrpHost,
        config: SrpStr,
        instance: *mut *mut c_void,
        error: *mut u8,
        error_cap: usize,
        error_len: *mut usize,
    ) -> i32,
    /// Starts sending `message`. Returns [`SRP_OK`] when the plugin took the work; it then calls
    /// [`SrpHost::complete`] with `completion` exactly once. [`SRP_PANICKED`]: the host disables
    /// the instance but still waits for the completion (the SDK reports one for every submit:
    /// "not sent" when the panic dropped it inside `submit`). Any other return means the plugin
    /// will not complete it (the host treats it as not sent). Must not block.
    pub submit: unsafe extern "C" fn(
        instance: *mut c_void,
        message: *const SrpMessage,
        completion: u64,
    ) -> i32,
    /// [`SRP_UP`] or [`SRP_DOWN`]. Called about once a second; must be cheap.
    pub health: unsafe extern "C" fn(instance: *mut c_void) -> i32,
    /// Stops taking work and finishes what is in flight (completing every submit), flushing
    /// receipts. May block for a bounded time (a few seconds).
    pub drain: unsafe extern "C" fn(instance: *mut c_void) -> i32,
    /// Frees the instance. Called once, after `drain`, with no call in flight.
    pub destroy: unsafe extern "C" fn(instance: *mut c_void),
    /// Checks a configuration without creating anything (no threads, no sockets): what
    /// `smpp-router check` and every reload run before `create`. Returns [`SRP_OK`], or
    /// [`SRP_ERROR`] with a reason written as in `create`.
    ///
    /// OWNERSHIP: `config` borrowed for the call; `error` is a host-owned buffer.
    pub validate: unsafe extern "C" fn(
        config: SrpStr,
        error: *mut u8,
        error_cap: usize,
        error_len: *mut usize,
    ) -> i32,
    // ---- ABI 1.1 ----
    /// Whether the channel takes `message` at all, asked before every submit ("not for me":
    /// no code in the text, a part of a long message, a destination it does not serve).
    /// Returns [`SRP_OK`] to take it, or [`SRP_DECLINED`] with the SMPP status for the client
    /// in `*status` (0: `ESME_RSUBMITFAIL`): the message then goes to the route's next channel
    /// without an attempt here, not counted as this channel's failure, and the client gets
    /// that status only when no later channel answers. [`SRP_PANICKED`]: the host disables
    /// the instance. Must be quick and must not block (it runs on the message path); null
    /// (and every 1.0 plugin) takes everything.
    ///
    /// OWNERSHIP: `message` as in `submit`; `status` is the host's, for the call.
    pub declines: Option<
        unsafe extern "C" fn(
            instance: *mut c_void,
            message: *const SrpMessage,
            status: *mut u32,
        ) -> i32,
    >,
}

// SAFETY: the descriptor is immutable static data (function pointers and pointers to static
// strings), so sharing it between threads is sound.
unsafe impl Sync for SrpPlugin {}
// SAFETY: as above (a copy of the descriptor points at the same static data).
unsafe impl Send for SrpPlugin {}
// SAFETY: as above; `ctx` is only ever passed back to the host's own callbacks, which the host
// writes to be callable from any thread.
unsafe impl Sync for SrpHost {}
// SAFETY: as above.
unsafe impl Send for SrpHost {}

/// Whether `name` is a metric name the host accepts: 1–64 bytes of `[a-z0-9_]`. Others are
/// dropped.
pub fn valid_metric_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
}

/// The longest channel message id a host takes ([`SrpResult::message_id`], [`SrpReceipt`]).
pub const MAX_MESSAGE_ID: usize = 64;

/// `size_of::<SrpPlugin>()` in ABI 1.0: what every 1.x descriptor covers at least (the fields
/// up to `validate`).
pub const PLUGIN_SIZE_1_0: u32 = std::mem::offset_of!(SrpPlugin, declines) as u32;

/// `size_of::<SrpPlugin>()` in ABI 1.1 (up to `declines`).
pub const PLUGIN_SIZE_1_1: u32 = size_of_u32::<SrpPlugin>();

impl SrpPlugin {
    /// [`SrpPlugin::declines`] when the plugin has it: a plugin of ABI 1.1 or later whose
    /// descriptor covers the field and set it.
    pub fn declines_fn(
        &self,
    ) -> Option<unsafe extern "C" fn(*mut c_void, *const SrpMessage, *mut u32) -> i32> {
        if self.abi_minor >= 1 && self.struct_size >= PLUGIN_SIZE_1_1 {
            self.declines
        } else {
            None
        }
    }
}

/// The size of `T` as the `u32` the structs carry.
pub const fn size_of_u32<T>() -> u32 {
    std::mem::size_of::<T>() as u32
}

/// Why a descriptor is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AbiMismatch {
    /// The entry symbol returned a null pointer.
    Null,
    /// A different major version.
    Major {
        /// The plugin's.
        plugin: (u16, u16),
    },
    /// A newer minor version than the host's.
    Minor {
        /// The plugin's.
        plugin: (u16, u16),
    },
    /// `struct_size` too small for the fields of its version.
    Size {
        /// The plugin's `struct_size`.
        plugin: u32,
    },
}

impl std::fmt::Display for AbiMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = (ABI_MAJOR, ABI_MINOR);
        match self {
            Self::Null => write!(f, "the entry symbol returned no descriptor"),
            Self::Major { plugin } => write!(
                f,
                "plugin ABI {}.{} is not compatible with this router's ABI {}.{} (the major versions differ; rebuild the plugin against the plugin-api of this router's release, whose abi::ABI_MAJOR is {})",
                plugin.0, plugin.1, host.0, host.1, host.0
            ),
            Self::Minor { plugin } => write!(
                f,
                "plugin ABI {}.{} is newer than this router's ABI {}.{}; upgrade the router, or rebuild the plugin against the plugin-api of this router's release (ABI {}.{})",
                plugin.0, plugin.1, host.0, host.1, host.0, host.1
            ),
            Self::Size { plugin } => write!(
                f,
                "the plugin descriptor is {plugin} bytes, smaller than ABI {}.0 requires ({})",
                host.0, PLUGIN_SIZE_1_0
            ),
        }
    }
}

impl std::error::Error for AbiMismatch {}

/// Checks a descriptor returned by an entry symbol against this host's ABI (see the
/// compatibility policy above) and returns a copy of it: the fields of an older minor's
/// descriptor, the newer ones empty (a 1.0 descriptor's `declines` is `None`). Only the
/// `struct_size` bytes the plugin declared are read.
///
/// # Safety
/// `ptr` is null or points to a descriptor whose first three fields (`struct_size`,
/// `abi_major`, `abi_minor`) are readable, and then `struct_size` readable bytes.
pub unsafe fn check_descriptor(ptr: *const SrpPlugin) -> Result<SrpPlugin, AbiMismatch> {
    if ptr.is_null() {
        return Err(AbiMismatch::Null);
    }
    // Read only the head until the version is known to be ours.
    #[repr(C)]
    struct Head {
        struct_size: u32,
        abi_major: u16,
        abi_minor: u16,
    }
    // SAFETY: every ABI version starts with these fields (caller's contract).
    let head = unsafe { &*ptr.cast::<Head>() };
    let plugin = (head.abi_major, head.abi_minor);
    if head.abi_major != ABI_MAJOR {
        return Err(AbiMismatch::Major { plugin });
    }
    if head.abi_minor > ABI_MINOR {
        return Err(AbiMismatch::Minor { plugin });
    }
    // Every 1.x descriptor holds at least the 1.0 fields; a host of a later minor reads the
    // fields added since only when `struct_size` covers them.
    if head.struct_size < PLUGIN_SIZE_1_0 {
        return Err(AbiMismatch::Size {
            plugin: head.struct_size,
        });
    }
    // Every field of the host's descriptor the plugin's does not cover is an `Option` of a
    // function pointer appended by a later minor: `None` (all zero bytes) until copied over.
    let mut out = std::mem::MaybeUninit::<SrpPlugin>::zeroed();
    let n = (head.struct_size as usize).min(std::mem::size_of::<SrpPlugin>());
    // SAFETY: the plugin declared `struct_size` readable bytes (caller's contract) and we copy
    // at most that many into our own descriptor; what they cover has the same layout in both
    // (same major, fields only ever appended), and they cover at least the 1.0 fields, the only
    // ones that may not be zero. The rest stays zero: `None` for every later field.
    Ok(unsafe {
        std::ptr::copy_nonoverlapping(ptr.cast::<u8>(), out.as_mut_ptr().cast::<u8>(), n);
        out.assume_init()
    })
}
