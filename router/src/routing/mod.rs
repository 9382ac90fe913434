//! The routing core: the channel interface, failover policy and engine, and the route table.
//!
//! A message's route is decided once from an immutable [`table::RouteTable`] snapshot; its
//! channel plan is then run by [`engine::run`] under the route's [`Policy`].

pub mod build;
pub mod channel;
pub mod engine;
pub mod groups;
pub mod router;
mod submit;
pub mod table;
pub mod test_channel;
pub mod watch;

pub use crate::config::policy::{Action, FinalStatus, Policy, Then};
pub use channel::{Attempt, AttemptFuture, Channel, Message, StopFuture};
pub use engine::{AttemptRecord, Verdict};
