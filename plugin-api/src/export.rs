//! The `extern "C"` functions behind [`crate::export_plugin!`]: each turns the raw ABI call into a
//! call of the safe [`Plugin`] trait, and none lets a panic escape (a panic unwinding out of an
//! `extern "C"` function aborts the whole router). A caught panic returns
//! [`SRP_PANICKED`](crate::abi::SRP_PANICKED) and is logged through the host.

use std::any::Any;
use std::ffi::{c_char, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::abi::{self, SrpHost, SrpMessage, SrpPlugin, SrpStr};
use crate::sdk::{Completion, Health, Host, Level, Message, Plugin};

/// What the host's `*mut c_void` instance points to.
struct Instance<T> {
    host: Host,
    plugin: T,
}

/// The descriptor for plugin type `T`; used by [`crate::export_plugin!`] and the test host.
pub const fn descriptor<T: Plugin>(name: *const c_char, version: *const c_char) -> SrpPlugin {
    SrpPlugin {
        struct_size: abi::size_of_u32::<SrpPlugin>(),
        abi_major: abi::ABI_MAJOR,
        abi_minor: abi::ABI_MINOR,
        name,
        version,
        create: create::<T>,
        submit: submit::<T>,
        health: health::<T>,
        drain: drain::<T>,
        destroy: destroy::<T>,
        validate: validate::<T>,
        declines: Some(declines::<T>),
    }
}

/// The text of a panic payload.
pub(crate) fn panic_text(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// Runs `f`, turning a panic into [`abi::SRP_PANICKED`] and one log line through `host` (with
/// the panic's place: see [`crate::panics`]).
fn guard(host: Option<Host>, what: &str, f: impl FnOnce() -> i32) -> i32 {
    crate::panics::install();
    match crate::panics::guarded(|| catch_unwind(AssertUnwindSafe(f))) {
        Ok(rc) => rc,
        Err(payload) => {
            let kept = crate::panics::take();
            if let Some(host) = host {
                let text = kept.unwrap_or_else(|| panic_text(payload.as_ref()).to_string());
                // Logging may itself fail in a broken host; never let that unwind either.
                let _ = catch_unwind(AssertUnwindSafe(|| {
                    host.log(Level::Error, &format!("plugin panicked in {what}: {text}"))
                }));
            }
            abi::SRP_PANICKED
        }
    }
}

/// The instance behind `ptr`, if any.
///
/// # Safety
/// `ptr` is null or was returned by `create::<T>` and not yet destroyed.
unsafe fn instance<'a, T>(ptr: *mut c_void) -> Option<&'a Instance<T>> {
    // SAFETY: per the function's contract.
    unsafe { ptr.cast::<Instance<T>>().as_ref() }
}

/// Writes `why` into the host's error buffer (at most `cap` bytes, on a character boundary).
///
/// # Safety
/// `error` is null or points to `cap` writable bytes; `len` is null or writable.
unsafe fn write_error(why: &str, error: *mut u8, cap: usize, len: *mut usize) {
    if error.is_null() || len.is_null() {
        return;
    }
    let n = floor_char_boundary(why, cap);
    // SAFETY: per the function's contract.
    unsafe {
        std::ptr::copy_nonoverlapping(why.as_ptr(), error, n);
        *len = n;
    }
}

unsafe extern "C" fn validate<T: Plugin>(
    config: SrpStr,
    error: *mut u8,
    error_cap: usize,
    error_len: *mut usize,
) -> i32 {
    // SAFETY: `config` is borrowed for this call.
    let Ok(config) = std::str::from_utf8(unsafe { config.as_bytes() }) else {
        // SAFETY: the host's buffer (ABI contract).
        unsafe {
            write_error(
                "the configuration is not UTF-8",
                error,
                error_cap,
                error_len,
            )
        };
        return abi::SRP_ERROR;
    };
    let mut reason = String::new();
    let rc = guard(None, "validate", || match T::validate(config) {
        Ok(()) => abi::SRP_OK,
        Err(why) => {
            reason = why;
            abi::SRP_ERROR
        }
    });
    if rc == abi::SRP_PANICKED {
        reason = "the plugin panicked while checking its configuration".into();
    }
    if rc != abi::SRP_OK {
        // SAFETY: the host's buffer (ABI contract).
        unsafe { write_error(&reason, error, error_cap, error_len) };
    }
    rc
}

unsafe extern "C" fn create<T: Plugin>(
    host: *const SrpHost,
    config: SrpStr,
    out: *mut *mut c_void,
    error: *mut u8,
    error_cap: usize,
    error_len: *mut usize,
) -> i32 {
    let fail = |why: &str| {
        // SAFETY: the host gave a buffer of `error_cap` bytes and a length slot.
        unsafe { write_error(why, error, error_cap, error_len) };
        abi::SRP_ERROR
    };
    if host.is_null() || out.is_null() {
        return fail("create called without a host or an output slot");
    }
    // SAFETY: the host table outlives the instance (ABI contract).
    let host = unsafe { Host::from_raw(host) };
    // SAFETY: `config` is borrowed for this call.
    let Ok(config) = std::str::from_utf8(unsafe { config.as_bytes() }) else {
        return fail("the configuration is not UTF-8");
    };
    let mut reason = String::new();
    let rc = guard(Some(host), "create", || match T::create(config, host) {
        Ok(plugin) => {
            let boxed = Box::new(Instance { host, plugin });
            let raw = Box::into_raw(boxed);
            crate::panics::host_alive(raw as usize, host);
            // SAFETY: `out` is a valid slot (checked above).
            unsafe { *out = raw.cast() };
            abi::SRP_OK
        }
        Err(why) => {
            reason = why;
            abi::SRP_ERROR
        }
    });
    match rc {
        abi::SRP_OK => abi::SRP_OK,
        abi::SRP_PANICKED => {
            fail("the plugin panicked while starting");
            abi::SRP_PANICKED
        }
        _ => fail(&reason),
    }
}

unsafe extern "C" fn submit<T: Plugin>(
    ptr: *mut c_void,
    message: *const SrpMessage,
    token: u64,
) -> i32 {
    // SAFETY: the host passes the instance `create` gave it.
    let Some(inst) = (unsafe { instance::<T>(ptr) }) else {
        return abi::SRP_ERROR;
    };
    // SAFETY: the host's message is valid for the call.
    let Some(raw) = (unsafe { message.as_ref() }) else {
        return abi::SRP_ERROR;
    };
    guard(Some(inst.host), "submit", || {
        // SAFETY: valid for the call, which outlives `msg`.
        let msg = unsafe { Message::from_abi(raw) };
        let _in_submit = crate::sdk::InSubmit::enter();
        inst.plugin.submit(msg, Completion::new(inst.host, token));
        abi::SRP_OK
    })
}

unsafe extern "C" fn health<T: Plugin>(ptr: *mut c_void) -> i32 {
    // SAFETY: the host passes the instance `create` gave it.
    let Some(inst) = (unsafe { instance::<T>(ptr) }) else {
        return abi::SRP_ERROR;
    };
    guard(Some(inst.host), "health", || match inst.plugin.health() {
        Health::Up => abi::SRP_UP,
        Health::Down => abi::SRP_DOWN,
    })
}

unsafe extern "C" fn drain<T: Plugin>(ptr: *mut c_void) -> i32 {
    // SAFETY: the host passes the instance `create` gave it.
    let Some(inst) = (unsafe { instance::<T>(ptr) }) else {
        return abi::SRP_ERROR;
    };
    guard(Some(inst.host), "drain", || {
        inst.plugin.drain();
        abi::SRP_OK
    })
}

unsafe extern "C" fn destroy<T: Plugin>(ptr: *mut c_void) {
    if ptr.is_null() {
        return;
    }
    // SAFETY: `ptr` came from `Box::into_raw` in `create` and the host destroys it once.
    let boxed = unsafe { Box::from_raw(ptr.cast::<Instance<T>>()) };
    let host = boxed.host;
    guard(Some(host), "destroy", || {
        drop(boxed);
        abi::SRP_OK
    });
    crate::panics::host_gone(ptr as usize);
}

unsafe extern "C" fn declines<T: Plugin>(
    ptr: *mut c_void,
    message: *const SrpMessage,
    status: *mut u32,
) -> i32 {
    // SAFETY: the host passes the instance `create` gave it.
    let Some(inst) = (unsafe { instance::<T>(ptr) }) else {
        return abi::SRP_OK;
    };
    // SAFETY: the host's message is valid for the call.
    let Some(raw) = (unsafe { message.as_ref() }) else {
        return abi::SRP_OK;
    };
    guard(Some(inst.host), "declines", || {
        // SAFETY: valid for the call, which outlives `msg`.
        let msg = unsafe { Message::from_abi(raw) };
        match inst.plugin.declines(&msg) {
            None => abi::SRP_OK,
            Some(code) => {
                if !status.is_null() {
                    // SAFETY: the host's slot, for the call (ABI contract).
                    unsafe { *status = code };
                }
                abi::SRP_DECLINED
            }
        }
    })
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn floor_char_boundary(s: &str, max: usize) -> usize {
    if s.len() <= max {
        return s.len();
    }
    (0..=max)
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0)
}

/// Exports `$plugin` (a type implementing [`Plugin`](crate::Plugin)) as the library's plugin:
/// defines the entry symbol `smpp_router_plugin_entry` returning its descriptor, named after
/// the crate and its version. Use it once, in a crate built as a `cdylib`.
///
/// ```ignore
/// smpp_router_plugin_api::export_plugin!(MyChannel);
/// ```
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        // The generated functions catch a plugin's panics so that they fail one call, not the
        // router; with `panic = "abort"` nothing can be caught and a panic ends the router.
        #[cfg(panic = "abort")]
        compile_error!(
            "an smpp-router plugin must be built with panic = \"unwind\" (the default): with panic = \"abort\" a panic in the plugin would end the whole router"
        );
        /// The plugin entry point (smpp-router plugin ABI).
        #[unsafe(no_mangle)]
        pub extern "C" fn smpp_router_plugin_entry() -> *const $crate::abi::SrpPlugin {
            static DESCRIPTOR: $crate::abi::SrpPlugin = $crate::export::descriptor::<$plugin>(
                concat!(env!("CARGO_PKG_NAME"), "\0").as_ptr().cast(),
                concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast(),
            );
            &DESCRIPTOR
        }
    };
}
