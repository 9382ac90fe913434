//! Receipts a plugin emits, turned into `deliver_sm`s for the accounts that sent the messages:
//! the message is found in the store by the plugin's id for it, the receipt is built in the
//! usual format with the router's id and the client's addresses, and relayed through the
//! delivery layer (once, after the client has its `submit_sm_resp`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use smpp_router_plugin_api::Receipt;

use crate::delivery::receipts::{self, ReceiptInfo};
use crate::delivery::{ChannelReceipt, Delivery, Relayed, Resender};
use crate::smpp::pdu::{Address, Sm};
use crate::smpp::values::{MessageState, RegisteredDelivery};

/// Waits before looking a receipt's message up again: a plugin may emit the receipt before the
/// router has recorded the message it just accepted.
const LOOKUP_RETRIES: [u64; 5] = [0, 10, 50, 250, 1000];

/// Turns the plugin's receipts into `deliver_sm`s for the accounts that sent the messages.
pub(super) async fn relay_receipts(
    channel: String,
    mut receipts: tokio::sync::mpsc::Receiver<Receipt>,
    delivery: Arc<dyn Delivery>,
    metrics: Arc<crate::metrics::Metrics>,
    relaying: Arc<AtomicUsize>,
) {
    while let Some(receipt) = receipts.recv().await {
        let channel = channel.clone();
        let delivery = delivery.clone();
        let metrics = metrics.clone();
        let relaying = relaying.clone();
        tokio::spawn(async move {
            relay_one(&channel, receipt, &delivery, &metrics).await;
            relaying.fetch_sub(1, Ordering::AcqRel);
        });
    }
}

async fn relay_one(
    channel: &str,
    receipt: Receipt,
    delivery: &Arc<dyn Delivery>,
    metrics: &crate::metrics::Metrics,
) {
    let mut record = None;
    for wait in LOOKUP_RETRIES {
        if wait > 0 {
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
        // While the store cannot be read (it is failing), wait for it: nobody sends this again.
        let found =
            crate::delivery::outbox::patiently(|| delivery.lookup(channel, &receipt.message_id))
                .await;
        match found {
            Ok(Some(r)) => {
                record = Some(r);
                break;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(%channel, error = %e, "store: receipt lookup failed; receipt dropped");
                return;
            }
        }
    }
    let Some(record) = record else {
        tracing::warn!(%channel, id = %receipt.message_id, "plugin receipt for an unknown message dropped");
        return;
    };
    let Some(to) = &record.receipt_to else {
        tracing::warn!(%channel, id = %record.router_id, "plugin receipt for a message recorded without addresses dropped");
        return;
    };
    let state = MessageState(receipt.state.to_abi());
    let err = format!("{:03}", receipt.error.min(999));
    crate::delivery::relay::note_receipt(&**delivery.store(), &record, state.0, &err, channel);
    if !RegisteredDelivery(to.registered_delivery).wants_receipt(state == MessageState::DELIVERED) {
        tracing::debug!(%channel, id = %record.router_id, "receipt not requested by the client");
        return;
    }
    let original = Sm {
        source: Address::new(to.source.0, to.source.1, to.source.2.as_bytes()),
        dest: Address::new(to.dest.0, to.dest.1, to.dest.2.as_bytes()),
        ..Sm::default()
    };
    let sm = receipts::build(
        &original,
        &ReceiptInfo {
            message_id: &record.router_id,
            state,
            err: &err,
            submitted_unix: record.created,
            done_unix: receipts::unix_now(),
        },
    );
    // The record stays readable for the log lines (an Arc, not a copy of the id).
    let logged = record.clone();
    let relayed = delivery.relay(ChannelReceipt {
        record,
        state: state.0,
        sm,
        resender: Resender::Nobody,
    });
    let relayed = relayed.await;
    if matches!(relayed, Relayed::Kept | Relayed::AlreadyHandedOn) {
        // Counted as the carrier channel counts: a receipt taken (a resend too).
        metrics.add(&crate::channels::counters::RECEIPTS, &[channel], 1);
    }
    match relayed {
        Relayed::Kept => {}
        Relayed::AlreadyHandedOn | Relayed::InProgress => {
            tracing::debug!(%channel, id = %logged.router_id, "plugin emitted a receipt again; not delivered twice");
        }
        Relayed::Failed(e) => {
            tracing::error!(%channel, id = %logged.router_id, error = %e, "store: cannot keep a plugin receipt; dropped");
        }
    }
}
