//! Delivery channels: the interface every channel implements ([`Channel`]), the kinds a
//! `[[channel]]` table can name ([`ChannelKinds`]: the iMessage channel, SMPP carriers, plugins,
//! the scripted test channel), and what a started channel is given ([`ChannelContext`]).

pub mod channel;
pub mod counters;
pub mod imessage;
pub mod kind;
pub mod leases;
pub mod plugin;
pub mod smpp;
pub mod test_channel;

use std::sync::Arc;

pub use channel::{Attempt, AttemptFuture, AttemptRecord, Channel, Message, StopFuture};
pub use kind::{ChannelKind, ChannelKinds, SetupError};

/// What a channel that relays receipts is started with: the router's delivery layer (the store,
/// and the way receipts reach clients) and its counters.
#[derive(Clone)]
pub struct ChannelContext {
    /// Receipts and MO go here.
    pub delivery: Arc<dyn crate::delivery::Delivery>,
    /// The router's counters.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The router's plugin host.
    pub plugins: Arc<plugin::Plugins>,
    /// The router's data-path threads, where carrier binds live.
    pub shards: Arc<crate::shards::Shards>,
    /// In cluster mode, the places of carrier binds shared with the other instances.
    pub leases: Option<Arc<dyn leases::BindLeases>>,
}
