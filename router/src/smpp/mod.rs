//! The SMPP 3.4 / 5.0 protocol, sans-IO: no sockets and no clock.
//!
//! - [`values`]: typed views of the one-octet fields the router interprets.
pub mod values;
pub mod receipt;
pub mod text;
