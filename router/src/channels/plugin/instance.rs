//! A created plugin instance: the raw pointer and what must outlive it, the state the router
//! keeps about it (health, disabled after a panic, skipped after timeouts, in flight), its drain
//! and destroy off the runtime, and the drain of every live instance at shutdown.

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use smpp_router_plugin_api::abi::{self, SrpHost};

use super::host::HostCtx;
use super::library::Library;
use crate::channels::counters::{PLUGIN_EVENTS, PLUGIN_UP};

/// How often `health` is polled.
const HEALTH_EVERY: Duration = Duration::from_secs(1);
/// Timeouts in a row after which a plugin is skipped for [`SKIP_FOR`], like a channel that is
/// down; then it is tried again (one more timeout skips it again, a completion resets it).
const TIMEOUTS_TO_SKIP: u32 = 3;
/// How long a plugin that keeps timing out is skipped.
const SKIP_FOR: Duration = Duration::from_secs(5);

/// What must stay together until the instance is destroyed.
pub(super) struct Parts {
    pub(super) raw: *mut c_void,
    pub(super) ctx: &'static HostCtx,
    pub(super) table: &'static SrpHost,
    pub(super) library: Arc<Library>,
}

// SAFETY: `raw` is only passed back to the plugin, whose instances must be usable from any
// thread (ABI contract); the rest is Send.
unsafe impl Send for Parts {}

/// One created plugin instance.
pub(super) struct Instance {
    pub(super) name: String,
    pub(super) parts: Option<Parts>,
    pub(super) timeout: Duration,
    pub(super) max_in_flight: usize,
    pub(super) in_flight: AtomicUsize,
    up: AtomicBool,
    pub(super) disabled: AtomicBool,
    /// `drain` was called (at shutdown); not called again at destroy.
    drained: AtomicBool,
    /// Timeouts in a row.
    timeouts: AtomicU32,
    /// Skipped until then after [`TIMEOUTS_TO_SKIP`] timeouts in a row.
    skip_until: Mutex<Option<Instant>>,
    /// The router's counters.
    pub(super) metrics: Arc<crate::metrics::Metrics>,
}

// SAFETY: the plugin ABI requires instances to be callable from any thread at once; the raw
// pointer is only ever passed back to the plugin's own functions.
unsafe impl Send for Instance {}
// SAFETY: as above.
unsafe impl Sync for Instance {}

impl Instance {
    /// A live instance of `parts` for channel `name`: registered for [`super::Plugins::drain_all`], its health
    /// polled every second.
    pub(super) fn start(
        name: &str,
        parts: Parts,
        timeout: Duration,
        max_in_flight: usize,
        metrics: Arc<crate::metrics::Metrics>,
        plugins: &super::Plugins,
    ) -> Arc<Self> {
        let instance = Arc::new(Self {
            name: name.to_string(),
            parts: Some(parts),
            timeout,
            max_in_flight,
            in_flight: AtomicUsize::new(0),
            up: AtomicBool::new(true),
            disabled: AtomicBool::new(false),
            drained: AtomicBool::new(false),
            timeouts: AtomicU32::new(0),
            skip_until: Mutex::new(None),
            metrics,
        });
        plugins.register(&instance);
        instance.metrics.set(&PLUGIN_UP, &[name], 1.0);
        tokio::spawn(poll_health(Arc::downgrade(&instance)));
        instance
    }

    /// Whether the channel takes messages now: up, not disabled, not skipped after timeouts.
    pub(super) fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire) && !self.disabled.load(Ordering::Acquire) && !self.skipped()
    }

    /// Counts a timeout; the third in a row skips the plugin for a while.
    pub(super) fn timed_out(&self) {
        self.metrics
            .add(&PLUGIN_EVENTS, &[&self.name, "timeout"], 1);
        if self.timeouts.fetch_add(1, Ordering::AcqRel) + 1 >= TIMEOUTS_TO_SKIP
            && let Ok(mut until) = self.skip_until.lock()
        {
            *until = Some(Instant::now() + SKIP_FOR);
            tracing::warn!(channel = %self.name, skip_ms = SKIP_FOR.as_millis() as u64, "plugin keeps timing out; skipped for a while");
        }
    }

    /// A completion arrived: the plugin answers again.
    pub(super) fn answered(&self) {
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
            .is_some_and(|u| Instant::now() < u)
    }

    /// Calls the plugin's `drain` once (at shutdown, or before destroy).
    pub(super) fn drain_once(&self) {
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

    pub(super) fn disable(&self, during: &str) {
        if !self.disabled.swap(true, Ordering::AcqRel) {
            tracing::error!(channel = %self.name, "plugin panicked in {during}; disabled until its channel is reloaded with a change or the router restarts");
            self.metrics.set(&PLUGIN_UP, &[&self.name], 0.0);
        }
        self.metrics.add(&PLUGIN_EVENTS, &[&self.name, "panic"], 1);
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
                // SAFETY: no call is in flight (every submit holds the instance) and the
                // instance is destroyed once. The table and the context are never freed, so a
                // plugin thread that outlives destroy finds a closed context.
                unsafe {
                    if !drained {
                        (library.descriptor.drain)(raw);
                    }
                    (library.descriptor.destroy)(raw);
                }
                let _ = table;
                ctx.close();
                tracing::info!(channel = %name, "plugin instance drained and destroyed");
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start a thread to drain a plugin; it stays alive");
        }
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
        inst.metrics
            .set(&PLUGIN_UP, &[&inst.name], f64::from(u8::from(up)));
    }
}
