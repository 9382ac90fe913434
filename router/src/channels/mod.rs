//! Delivery channels built into the router. Each implements [`crate::routing::Channel`] and is
//! created from its `[[channel]]` table in routes.toml.

pub mod imessage;
pub mod smpp;
