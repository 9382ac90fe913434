//! Plugin channels (`kind = "plugin"` in routes.toml): a channel implemented by a shared library
//! through the C ABI of `smpp-router-plugin-api`.
//!
//! ```toml
//! [[channel]]
//! name = "partner"
//! kind = "plugin"
//! path = "plugins/libpartner.so"   # relative to the working directory, like every path
//! timeout = "5s"                   # a submit not completed by then: outcome unknown
//! max_in_flight = 1000             # submits beyond this fail over at once (not sent)
//! [channel.config]                 # handed to the plugin as JSON
//! url = "http://127.0.0.1:9000/messages"
//! ```
//!
//! - The library is opened, its ABI checked and its `config` given to the plugin's `validate`
//!   when the routes file is checked; a missing file, a missing entry symbol, another ABI
//!   version or a refused config rejects the file with the path and reason (`library.rs`).
//! - An instance is created per channel when the table is built (again when its settings
//!   change); a `create` failure rejects the reload and the old table keeps serving.
//! - A plugin that panics (caught by its SDK) is disabled: skipped like a channel that is down,
//!   so its messages fail over. `health` is polled every second; a plugin that reports itself
//!   down, or timed out three times in a row, is skipped the same way (`instance.rs`).
//! - When a reload replaces or removes the channel, the old instance finishes the calls it has
//!   (every submit holds it), then is drained and destroyed on a thread of its own; at shutdown
//!   every instance is drained first. The library stays loaded.
//! - The plugin's callbacks (`host.rs`) and its receipts, built by the router from the store
//!   (`receipts.rs`).

mod host;
mod instance;
mod library;
mod plugins;
mod receipts;
mod settings;

use std::ffi::c_void;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use smpp_router_plugin_api::Outcome;
use smpp_router_plugin_api::abi::{self, SrpMessage, SrpStr};

use self::host::HostCtx;
use self::instance::{Instance, Parts};
use self::library::Library;
use crate::channels::counters::PLUGIN_EVENTS;
use crate::channels::{
    Attempt, AttemptFuture, Channel, ChannelContext, ChannelKind, Message, SetupError,
};
use crate::smpp::CommandStatus;
use crate::smpp::values::MessageState;

/// Room for the plugin's error text.
const ERROR_CAP: usize = 1024;

pub use self::plugins::Plugins;

/// Removes the copies this process made of plugin libraries to check them (`check`, `explain`,
/// a reload's validation) — a folder under the system's temporary one. Loaded libraries stay
/// loaded; a later check copies again.
pub fn remove_check_copies() {
    let _ = std::fs::remove_dir_all(library::scratch_copy_dir());
}
pub use self::settings::Settings;

/// `kind = "plugin"`: a channel in a dynamic library (settings: [`Settings`]).
pub struct Kind;

impl ChannelKind for Kind {
    fn name(&self) -> &'static str {
        "plugin"
    }

    /// Checks the settings, the library's ABI and, through the plugin's `validate`, its
    /// `config` table — without creating an instance.
    fn check(&self, table: &toml::Table) -> Result<(), SetupError> {
        let settings = Settings::parse(table)?;
        let library = open(&settings, &library::scratch_copy_dir())?;
        validate(&library, &settings)
    }

    fn start(
        &self,
        name: &str,
        settings: &toml::Table,
        ctx: &ChannelContext,
    ) -> Result<Arc<dyn Channel>, SetupError> {
        Ok(Arc::new(start(name, settings, ctx)?))
    }
}

/// Opens the library of `settings` (a private copy in `copies`).
fn open(settings: &Settings, copies: &std::path::Path) -> Result<Arc<Library>, SetupError> {
    library::open(&settings.path, copies).map_err(|problem| SetupError::Library {
        path: settings.path.clone(),
        problem,
    })
}

fn validate(library: &Library, settings: &Settings) -> Result<(), SetupError> {
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
    Err(SetupError::Plugin {
        path: settings.path.clone(),
        plugin: library.name.clone(),
        stage: "config",
        reason: reason(&error),
    })
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
    ctx: &ChannelContext,
) -> Result<PluginChannel, SetupError> {
    let ChannelContext {
        delivery,
        metrics,
        plugins,
        ..
    } = ctx.clone();
    let settings = Settings::parse(table)?;
    let library = open(&settings, plugins.copy_dir())?;
    validate(&library, &settings)?;
    let (ctx, table, receipts) = HostCtx::new(name, metrics.clone(), plugins.relaying.clone());
    let mut raw: *mut c_void = std::ptr::null_mut();
    let mut error = vec![0u8; ERROR_CAP];
    let mut error_len = 0usize;
    // SAFETY: the descriptor was checked at open; the table and the context are never freed;
    // the error buffer is ours for the call.
    let rc = unsafe {
        (library.descriptor.create)(
            table,
            SrpStr::new(settings.config.as_bytes()),
            &mut raw,
            error.as_mut_ptr(),
            error.len(),
            &mut error_len,
        )
    };
    if rc != abi::SRP_OK || raw.is_null() {
        // A plugin that failed may still have started threads holding the host.
        ctx.close();
        error.truncate(error_len.min(ERROR_CAP));
        return Err(SetupError::Plugin {
            path: settings.path.clone(),
            plugin: library.name.clone(),
            stage: "create failed",
            reason: reason(&error),
        });
    }
    tracing::info!(channel = %name, plugin = %library.name, version = %library.version, "plugin channel started");
    let parts = Parts {
        raw,
        ctx,
        table,
        library,
    };
    let instance = Instance::start(
        name,
        parts,
        settings.timeout,
        settings.max_in_flight,
        metrics.clone(),
        &plugins,
    );
    tokio::spawn(receipts::relay_receipts(
        name.to_string(),
        receipts,
        delivery,
        metrics,
        plugins.relaying.clone(),
    ));
    Ok(PluginChannel { inner: instance })
}

/// A plugin channel in a route table.
pub struct PluginChannel {
    inner: Arc<Instance>,
}

/// Releases a submit's slot (and its token, if it never completed) however its future ends.
struct Slot {
    inner: Arc<Instance>,
    token: u64,
    /// The submit ended with an answer (or was never taken). A slot dropped unfinished — the
    /// route's deadline cancelled the wait — counts as a timeout of the plugin.
    finished: bool,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(p) = &self.inner.parts {
            p.ctx.forget(self.token);
        }
        self.inner.in_flight.fetch_sub(1, Ordering::AcqRel);
        if !self.finished {
            self.inner.timed_out();
        }
    }
}

impl Channel for PluginChannel {
    fn name(&self) -> &str {
        &self.inner.name
    }

    fn is_up(&self) -> bool {
        self.inner.is_up()
    }

    fn builds_receipts(&self) -> bool {
        true
    }

    /// A plugin of ABI 1.1 is asked whether it takes the message at all ("not for me").
    fn refuses(&self, message: &Message) -> Option<CommandStatus> {
        let inner = &self.inner;
        let parts = inner.parts.as_ref()?;
        let declines = parts.library.descriptor.declines_fn()?;
        if inner.disabled.load(Ordering::Acquire) {
            return None;
        }
        let mut status = 0u32;
        // SAFETY: the instance is alive (we hold it); the message and `status` live for the
        // call.
        let rc = with_abi_message(message, |raw| unsafe {
            declines(parts.raw, raw, &mut status)
        });
        match rc {
            abi::SRP_DECLINED if status == 0 => Some(CommandStatus::RSUBMITFAIL),
            abi::SRP_DECLINED => Some(CommandStatus(status)),
            abi::SRP_PANICKED => {
                // Disabled: its submit answers "not sent" and the message fails over.
                inner.disable("declines");
                None
            }
            _ => None,
        }
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
            inner
                .metrics
                .add(&PLUGIN_EVENTS, &[&inner.name, "at_capacity"], 1);
            return Box::pin(std::future::ready(Attempt::NotSent));
        }
        let (token, rx) = parts.ctx.register();
        let mut slot = Slot {
            inner: inner.clone(),
            token,
            finished: false,
        };
        let submit = parts.library.descriptor.submit;
        // SAFETY: the instance is alive (we hold it); `raw` and its strings live for the call.
        let rc = with_abi_message(message, |raw| unsafe { submit(parts.raw, raw, token) });
        if rc == abi::SRP_PANICKED {
            // Disabled for what follows. This message's outcome still comes through its
            // completion: "not sent" when the panic dropped it inside submit (nothing could
            // have gone out: submit must not block), whatever a worker reports when the plugin
            // had already handed it over — never a guess that could send an OTP twice.
            inner.disable("submit");
        } else if rc != abi::SRP_OK {
            inner
                .metrics
                .add(&PLUGIN_EVENTS, &[&inner.name, "refused_call"], 1);
            slot.finished = true;
            drop(slot);
            return Box::pin(std::future::ready(Attempt::NotSent));
        }
        let router_id = message.id.clone();
        let timeout = inner.timeout;
        Box::pin(async move {
            let attempt = match tokio::time::timeout(timeout, rx).await {
                Ok(Ok(outcome)) => {
                    slot.finished = true;
                    slot.inner.answered();
                    attempt_of(outcome, router_id)
                }
                Ok(Err(_)) => {
                    slot.finished = true;
                    Attempt::Unknown
                }
                Err(_) => {
                    tracing::warn!(channel = %slot.inner.name, id = %router_id, timeout_ms = timeout.as_millis() as u64, "plugin did not complete in time; outcome unknown");
                    Attempt::Unknown
                }
            };
            drop(slot);
            attempt
        })
    }
}

/// Hands `f` the message as the ABI gives it to a plugin (borrowed for the call).
fn with_abi_message<R>(message: &Message, f: impl FnOnce(&SrpMessage) -> R) -> R {
    let sm = &message.sm;
    // A part's text is what follows its user data header (`payload` keeps the header).
    let text = crate::smpp::text::decode(sm.data_coding, crate::smpp::concat::without_udh(sm));
    // E.164 as validated: a national prefix after the calling code is left out.
    let mut to = [0u8; crate::phone::E164_MAX];
    let to = message.destination.write_e164(&mut to).as_bytes();
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
        payload: SrpStr::new(sm.payload()),
    };
    f(&raw)
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
