//! Delivery channels: the ones built into the router, and the loader of plugin channels. Each implements [`crate::routing::Channel`] and is
//! created from its `[[channel]]` table in routes.toml.

pub mod imessage;
pub mod plugin;
pub mod smpp;

use std::sync::Arc;

/// What a channel that relays receipts is started with: the router's delivery layer (the store,
/// and the way receipts reach clients) and its counters.
#[derive(Clone)]
pub struct ChannelContext {
    /// Receipts and MO go here.
    pub outbox: Arc<crate::delivery::outbox::Outbox>,
    /// The router's counters.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The router's plugin host.
    pub plugins: Arc<plugin::Plugins>,
}
