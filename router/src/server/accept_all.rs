//! A handler that accepts every message and, when asked, answers with a DELIVRD receipt at
//! once. It is the `sink` the benchmarks measure the server with, and what `smpp-router run`
//! uses until a routing table is configured.

use std::sync::Arc;

use super::handler::{Outcome, OutcomeFuture, Submission, SubmitHandler};
use crate::delivery::receipts::{self, ReceiptInfo};
use crate::ids::IdMinter;
use crate::smpp::values::MessageState;

/// Accepts everything.
pub struct AcceptAll {
    ids: Arc<IdMinter>,
}

impl AcceptAll {
    /// A handler minting ids with `ids`.
    pub fn new(ids: Arc<IdMinter>) -> Self {
        Self { ids }
    }
}

impl SubmitHandler for AcceptAll {
    fn submit(&self, s: Submission) -> OutcomeFuture {
        let message_id = self.ids.next();
        let receipt = s.sm.registered_delivery.wants_receipt(true).then(|| {
            let now = receipts::unix_now();
            Box::new(receipts::build(
                &s.sm,
                &ReceiptInfo {
                    message_id: &message_id,
                    state: MessageState::DELIVERED,
                    err: "000",
                    submitted_unix: now,
                    done_unix: now,
                },
            ))
        });
        Box::pin(std::future::ready(Outcome::Accepted {
            message_id,
            receipt,
        }))
    }
}
