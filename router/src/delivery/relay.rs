//! Relaying a channel's receipt to its client: the steps every channel kind shares, on top of
//! the outbox. The channel finds the message (by its own id for it) and builds the receipt the
//! client gets; then [`Outbox::relay`] recognises a resend of a receipt already handed on, waits
//! for the message's `submit_sm_resp`, and pushes the receipt.

use std::sync::Arc;

use super::outbox::Outbox;
use super::resends::Claim;
use crate::smpp::pdu::Sm;
use crate::store::{Event, MessageRecord, StoreError, history};

/// Keeps a channel's receipt for the message of `record` in the message's history; the store
/// lets the first final one finish the message (its delivery record goes to the spool for the
/// record sinks). Queued, not waited for: the store reads it back at once (a client that got
/// the receipt and then asks with `query_sm` sees its state), and the receipt does not wait
/// for a commit.
pub fn note_receipt(
    store: &dyn crate::store::Store,
    record: &Arc<MessageRecord>,
    state: u8,
    err: &str,
    from: &str,
) {
    let Some(key) = history::key_of(&record.router_id) else {
        return;
    };
    let finish = history::is_final(state).then(|| record.clone());
    let event = Event::receipt(state, err, from);
    store.note(key, event, finish);
}

/// Who sends a `deliver_sm` again when the router answers it with an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resender {
    /// The channel does (an SMPP carrier resends what it got a temporary error for): a failing
    /// store fails the push at once, and the channel answers with a temporary error.
    Channel,
    /// Nobody does (the router's own receipts, a plugin's): a failing store is waited for.
    Nobody,
}

/// A receipt from a channel for the message of `record`, rewritten for the client (its id the
/// router's).
#[derive(Debug)]
pub struct ChannelReceipt {
    /// The message's record: its router id and the account that sent it.
    pub record: Arc<MessageRecord>,
    /// The delivery state it reports (a resend is recognised by id and state).
    pub state: u8,
    /// The `deliver_sm` for the client.
    pub sm: Sm,
    /// Whether the channel would send it again.
    pub resender: Resender,
}

/// What became of a relayed receipt.
#[derive(Debug)]
pub enum Relayed {
    /// Safe: acknowledged by the client, or kept until it is.
    Kept,
    /// The same receipt was handed on before: nothing more to do.
    AlreadyHandedOn,
    /// A copy of it is being handed on right now: the channel may send it again later.
    InProgress,
    /// It could not be kept: the store failed.
    Failed(StoreError),
}

impl Outbox {
    /// The one relay of a channel's receipt (see the module's documentation).
    pub async fn relay(&self, receipt: ChannelReceipt) -> Relayed {
        self.relay_through(receipt, |record, sm, resender| async move {
            match resender {
                Resender::Channel => self.push(&record.account, sm).await,
                Resender::Nobody => self.push_own(&record.account, sm).await,
            }
        })
        .await
    }

    /// [`Outbox::relay`], handing the receipt on with `push` (a cluster hands it to whichever
    /// instance has the account bound): this outbox recognises resends and holds the receipt
    /// until its message's answer.
    pub async fn relay_through<F, Fut>(&self, receipt: ChannelReceipt, push: F) -> Relayed
    where
        F: FnOnce(Arc<MessageRecord>, Sm, Resender) -> Fut,
        Fut: std::future::Future<Output = Result<(), StoreError>>,
    {
        let ChannelReceipt {
            record,
            state,
            sm,
            resender,
        } = receipt;
        let router_id = &record.router_id;
        match self.resends().claim(router_id, state) {
            Claim::New => {}
            Claim::Delivered => return Relayed::AlreadyHandedOn,
            Claim::InProgress => return Relayed::InProgress,
        }
        self.answers().wait(router_id).await;
        let pushed = push(record.clone(), sm, resender).await;
        self.resends().handed_on(router_id, state, pushed.is_ok());
        match pushed {
            Ok(()) => Relayed::Kept,
            Err(e) => Relayed::Failed(e),
        }
    }
}

impl super::Delivery for Outbox {
    fn push<'a>(
        &'a self,
        account: &'a str,
        sm: Sm,
        resender: Resender,
    ) -> super::DeliveryFuture<'a, Result<(), StoreError>> {
        match resender {
            Resender::Channel => Box::pin(Outbox::push(self, account, sm)),
            Resender::Nobody => Box::pin(self.push_own(account, sm)),
        }
    }

    fn keep<'a>(
        &'a self,
        account: &'a str,
        sm: Sm,
        resender: Resender,
    ) -> super::DeliveryFuture<'a, Result<(), StoreError>> {
        match resender {
            Resender::Channel => Box::pin(Outbox::keep(self, account, sm)),
            Resender::Nobody => Box::pin(self.keep_own(account, sm)),
        }
    }

    fn relay(&self, receipt: ChannelReceipt) -> super::DeliveryFuture<'_, Relayed> {
        Box::pin(Outbox::relay(self, receipt))
    }

    fn answers(&self) -> &super::answers::AnswerGate {
        Outbox::answers(self)
    }

    fn store(&self) -> &Arc<dyn crate::store::Store> {
        Outbox::store(self)
    }
}
