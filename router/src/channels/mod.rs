//! Delivery channels: the ones built into the router, and the loader of plugin channels. Each implements [`crate::routing::Channel`] and is
//! created from its `[[channel]]` table in routes.toml.

pub mod imessage;
pub mod plugin;
pub mod smpp;
