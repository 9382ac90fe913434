//! The plugin ABI and SDK for smpp-router channels.
//!
//! Partners write new channels (a WhatsApp or RCS bridge, a local carrier's HTTP API) as shared
//! libraries that the router loads at run time. Rust has no stable ABI, so the boundary is plain
//! C ([`abi`]); this crate also holds the safe side a plugin author writes against:
//!
//! - implement [`Plugin`] (create from config, submit, health, drain; `Drop` destroys),
//! - export it with [`export_plugin!`] from a crate built as a `cdylib`,
//! - test it with [`testing::TestHost`], which drives it through the same C ABI in-process.
//!
//! No `unsafe` is needed in a plugin: every exported function catches panics and reports
//! [`abi::SRP_PANICKED`] instead of unwinding into the router (which would abort it).
//!
//! ```ignore
//! use smpp_router_plugin_api::{Completion, Host, Message, Outcome, Plugin, export_plugin};
//!
//! struct Echo;
//!
//! impl Plugin for Echo {
//!     fn create(_config: &str, _host: Host) -> Result<Self, String> {
//!         Ok(Echo)
//!     }
//!     fn submit(&self, message: Message<'_>, completion: Completion) {
//!         completion.accepted(message.id);
//!     }
//! }
//!
//! export_plugin!(Echo);
//! ```

pub mod abi;
#[doc(hidden)]
pub mod export;
mod panics;
mod sdk;
pub mod testing;

pub use sdk::{
    Completion, Health, Host, Level, Message, Outcome, Plugin, Receipt, ReceiptError, State,
};
