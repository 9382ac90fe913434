//! The routing core: the route table, the failover engine and the reload that builds the table
//! from `routes.toml` with the registered channel kinds.
//!
//! A message's route is decided once from an immutable [`table::RouteTable`] snapshot; its
//! channel plan is then run by [`engine::run`] under the route's [`Policy`].

pub mod build;
pub mod counters;
pub mod engine;
pub mod groups;
pub mod router;
mod submit;
pub mod table;
pub mod watch;

pub use crate::channels::{Attempt, AttemptFuture, AttemptRecord, Channel, Message, StopFuture};
pub use crate::config::policy::{Action, FinalStatus, Policy, Then};
pub use engine::Verdict;
