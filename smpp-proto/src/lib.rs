//! The SMPP 3.4 / 5.0 protocol, sans-IO: no sockets and no clock. The router (`smpp-router`)
//! re-exports this crate as `smpp_router::smpp`; it depends on no runtime, and the clock is
//! banned here (`clippy.toml`): every step takes the time as an argument.
//!
//! - [`frame`] cuts a byte stream into frames, checking `command_length` before buffering;
//! - [`pdu`] decodes a frame into a [`Command`] (zero-copy) and encodes commands;
//! - [`tlv`] keeps every optional parameter in wire order, with typed accessors;
//! - [`session`] is the session state machine for both roles, driven by `handle_*`/`poll_*`;
//! - [`receipt`] parses and builds delivery-receipt text; [`text`] decodes and counts SMS text;
//! - [`time`] reads the time fields (`schedule_delivery_time`, `validity_period`);
//! - [`status`], [`command_id`] and [`values`] name the raw numbers.

pub mod addr;
pub mod command_id;
pub mod concat;
pub mod downgrade;
pub mod fast_map;
pub mod frame;
pub(crate) mod head;
pub mod pdu;
pub mod receipt;
pub mod session;
pub mod short;
pub mod status;
pub mod text;
pub mod time;
pub mod tlv;
pub mod values;
pub mod wire;

pub use command_id::CommandId;
pub use frame::{FrameDecoder, FrameError};
pub use pdu::{Command, DecodeError, Pdu};
pub use status::CommandStatus;
