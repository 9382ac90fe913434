//! The return path: how a receipt (or MO) from a channel reaches a client session.
//!
//! - [`registry`]: the bound sessions that can receive, and delivery to one of them;
//! - [`answers`]: a receipt never overtakes its message's `submit_sm_resp`;
//! - [`resends`]: a carrier's resend of a receipt already handed on is not delivered twice;
//! - [`outbox`]: durable delivery — to a bound receiver at once, or kept in the store and swept
//!   out when one binds;
//! - [`receipts`]: the receipts the router builds itself.
//!
//! The server registers its sessions here; nothing here knows the server.

pub mod answers;
pub mod outbox;
pub mod receipts;
pub mod registry;
pub mod resends;
