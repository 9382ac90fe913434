//! smpp-router: an edge SMPP router for SMS aggregators.
//!
//! Aggregators bind to the router over SMPP and submit OTP and other SMS. Every message goes
//! through a live routing table whose first route is normally the built-in iMessage OTP channel;
//! when the recipient has no iMessage the router fails over to SMS carriers it reaches as an SMPP
//! client, and delivery receipts find their way back to the client that sent the message.
//!
//! The crate is layered:
//! - [`smpp`]: the SMPP 3.4/5.0 protocol, sans-IO — PDU codec, framing, the session state machine,
//!   delivery receipts and SMS text encodings. No sockets, no clock.

/// The SMPP protocol, sans-IO: the `smpp-proto` crate.
pub use smpp_proto as smpp;
/// Hash maps for the per-message paths (from `smpp-proto`, which uses them too).
pub use smpp_proto::fast_map;

pub mod admin;
pub mod app;
pub mod channels;
pub mod cluster;
pub mod config;
pub mod delivery;
pub mod esme;
pub mod ids;
pub mod log_every;
pub mod metrics;
pub mod otp;
pub mod phone;
pub mod quick_ack;
pub mod records;
pub mod routing;
pub mod server;
pub mod session_io;
pub mod shards;
pub mod store;
