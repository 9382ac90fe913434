//! The return path: how a receipt (or MO) from a channel reaches a client session.
//!
//! - [`Delivery`]: the return path as the rest of the router uses it — hand a `deliver_sm` to
//!   an account, relay a channel's receipt, the answer gate, the store of message records.
//!   [`outbox::Outbox`] is the implementation for one node (its store, its sessions); a cluster
//!   plugs in another behind the same trait;
//! - [`registry`]: the bound sessions that can receive, and delivery to one of them;
//! - [`answers`]: a receipt never overtakes its message's `submit_sm_resp`;
//! - [`resends`]: a carrier's resend of a receipt already handed on is not delivered twice;
//! - [`outbox`]: durable delivery — to a bound receiver at once, or kept in the store and swept
//!   out when one binds; [`relay`] is the one way a channel's receipt goes there;
//! - [`receipts`]: the receipts the router builds itself.
//!
//! The server registers its sessions here; nothing here knows the server.

pub mod answers;
pub mod counters;
pub mod outbox;
pub mod receipts;
pub mod registry;
pub mod relay;
pub mod resends;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::smpp::pdu::Sm;
use crate::store::{MessageRecord, Store, StoreError};

pub use relay::{ChannelReceipt, Relayed, Resender};

/// The future of a [`Delivery`] call.
pub type DeliveryFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The return path, as channels, the router and the server use it.
pub trait Delivery: Send + Sync + 'static {
    /// Hands `sm` to `account`. Resolves once it is safe: a bound client acknowledged it, or it
    /// is kept (durably) until one does. `resender` says whether anyone sends it again after an
    /// error: if nobody does, a failing store is waited for instead of failing at once.
    fn push<'a>(
        &'a self,
        account: &'a str,
        sm: Sm,
        resender: Resender,
    ) -> DeliveryFuture<'a, Result<(), StoreError>>;
    /// Keeps `sm` for `account` without offering it now (its client refused it for now); it is
    /// offered again within a second or so.
    fn keep<'a>(
        &'a self,
        account: &'a str,
        sm: Sm,
        resender: Resender,
    ) -> DeliveryFuture<'a, Result<(), StoreError>>;
    /// Hands a channel's receipt for one of the router's messages to the account that sent it:
    /// once (a resend is recognised), and never before the message's `submit_sm_resp`.
    fn relay(&self, receipt: ChannelReceipt) -> DeliveryFuture<'_, Relayed>;
    /// The ids whose `submit_sm_resp` is not written yet: their receipts wait.
    fn answers(&self) -> &answers::AnswerGate;
    /// The store of message records (router id ↔ channel id ↔ account).
    fn store(&self) -> &Arc<dyn Store>;
    /// Keeps the record of an accepted message, so that its receipts find it (on every
    /// instance, in a cluster); resolves once it is durable here.
    fn record(&self, rec: MessageRecord) -> DeliveryFuture<'_, Result<(), StoreError>> {
        self.store().record(rec)
    }
    /// The record of a channel's message by the channel's id for it (wherever it was
    /// accepted, in a cluster).
    fn lookup<'a>(
        &'a self,
        channel: &'a str,
        channel_id: &'a str,
    ) -> DeliveryFuture<'a, Result<Option<Arc<MessageRecord>>, StoreError>> {
        Box::pin(std::future::ready(self.store().lookup(channel, channel_id)))
    }
}
