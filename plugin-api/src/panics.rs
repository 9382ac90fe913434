//! How a plugin's panics are reported. A plugin carries its own copy of the standard library,
//! so its panics go through its own panic hook, not the router's: left alone, that is Rust's
//! default hook, which writes to stderr outside the router's log format and, with
//! `RUST_BACKTRACE=1` in the router's environment, spends 100–200 ms capturing a backtrace on
//! the router's thread that called the plugin.
//!
//! The SDK installs its own hook the first time the router calls the plugin. A panic inside a
//! call from the router is kept (text and place) for the call's guard, which reports it once
//! through the router's log, without a backtrace unless `SMPP_ROUTER_PLUGIN_BACKTRACE=1` is
//! set. A panic elsewhere — on a thread the plugin started, or in a test of the plugin — goes to
//! the hook that was there before (Rust's default: stderr), and is also logged through the host
//! of a live instance. A plugin that sets a hook of its own replaces this.

use std::cell::{Cell, RefCell};
use std::panic::PanicHookInfo;
use std::sync::{Mutex, Once, PoisonError};

use crate::sdk::{Host, Level};

thread_local! {
    /// Set while a call from the router runs on this thread (inside its guard).
    static GUARDED: Cell<bool> = const { Cell::new(false) };
    /// The last panic of a guarded call on this thread, for its guard to report.
    static CAUGHT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The hosts of the live instances, to report panics of the plugin's own threads through.
static HOSTS: Mutex<Vec<(usize, Host)>> = Mutex::new(Vec::new());

/// Installs the hook (once per library).
pub(crate) fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let before = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !on_panic(info) {
                before(info);
            }
        }));
    });
}

/// An instance (known by its address) is alive: its host can take reports.
pub(crate) fn host_alive(id: usize, host: Host) {
    HOSTS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push((id, host));
}

/// The instance is gone: its host no longer takes reports.
pub(crate) fn host_gone(id: usize) {
    HOSTS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .retain(|(i, _)| *i != id);
}

/// Runs `f` as a call from the router: a panic in it is kept for [`take`] instead of logged.
pub(crate) fn guarded<R>(f: impl FnOnce() -> R) -> R {
    let outer = GUARDED.with(|g| g.replace(true));
    let out = f();
    GUARDED.with(|g| g.set(outer));
    out
}

/// What the hook kept about the last panic of a guarded call on this thread.
pub(crate) fn take() -> Option<String> {
    CAUGHT.with(|c| c.borrow_mut().take())
}

/// Keeps or logs a panic; whether that was all (else the hook from before reports it too).
fn on_panic(info: &PanicHookInfo<'_>) -> bool {
    let text = crate::export::panic_text(info.payload());
    let mut report = match info.location() {
        Some(at) => format!("{text} (at {}:{}:{})", at.file(), at.line(), at.column()),
        None => text.to_string(),
    };
    if GUARDED.with(Cell::get) {
        if std::env::var_os("SMPP_ROUTER_PLUGIN_BACKTRACE").is_some_and(|v| v == "1") {
            report.push_str(&format!("\n{}", std::backtrace::Backtrace::force_capture()));
        }
        CAUGHT.with(|c| *c.borrow_mut() = Some(report));
        return true;
    }
    let thread = std::thread::current();
    let line = format!(
        "a plugin thread ({}) panicked: {report}",
        thread.name().unwrap_or("unnamed")
    );
    // `try_lock`: a panic while the list is held (it never is for long) must not deadlock.
    let host = HOSTS
        .try_lock()
        .ok()
        .and_then(|hosts| hosts.first().map(|(_, h)| *h));
    if let Some(host) = host {
        host.log(Level::Error, &line);
    }
    false
}
