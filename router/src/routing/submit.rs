//! One message through the router, after [`super::router::Router`] decided its route: run
//! through the route's channels (the failover engine), then settled — recorded before the
//! client hears `ESME_ROK` when a receipt will follow, counted, logged, and answered (with the
//! receipt the router makes itself when the channel reported a final state).

use std::sync::Arc;
use std::time::Duration;

use super::counters;
use super::engine::{self, Verdict};
use super::groups::{self, Decision, Role};
use super::table::{Route, RouteTable};
use crate::channels::AttemptRecord;
use crate::channels::Message;
use crate::delivery::Delivery;
use crate::delivery::receipts::{self, ReceiptInfo};
use crate::metrics::Metrics;
use crate::server::{Outcome, Submission};
use crate::smpp::CommandStatus;
use crate::smpp::values::MessageState;
use crate::store::{Event, MessageRecord, history};

/// What every message's later stages use: one shared handle, so that a message takes one
/// reference count of the router's, not one per service.
pub(super) struct Stages {
    /// The delivery layer (records, the answer gate); `None` when channels are only checked.
    pub(super) delivery: Option<Arc<dyn Delivery>>,
    /// The router's counters.
    pub(super) metrics: Arc<Metrics>,
    /// In cluster mode, the long-message groups shared with the other instances.
    pub(super) groups: Option<Arc<dyn groups::SharedGroups>>,
}

/// A message whose route is decided: what the later stages need.
pub(super) struct Decided {
    pub(super) table: Arc<RouteTable>,
    /// The route in `table`.
    pub(super) index: usize,
    /// The router id the client will be given.
    pub(super) id: String,
    /// Its part in a long message, if it is one.
    pub(super) role: Option<Role>,
    pub(super) stages: Arc<Stages>,
}

impl Decided {
    /// The message as channels see it, made from the client's submission (before the
    /// message's future is made: the submission is not kept in it as well).
    pub(super) fn message(&mut self, s: Submission) -> Message {
        Message {
            id: std::mem::take(&mut self.id),
            account: s.account,
            sm: s.sm,
            destination: s.destination,
            sender: s.sender,
            session: s.session_id,
        }
    }

    /// Runs the message through its route and settles it.
    pub(super) async fn finish(mut self, mut message: Message) -> Outcome {
        let submitted = receipts::unix_now();
        // The client waits for all of it: attempts, the waits between retries, the record.
        let routing = tokio::time::Instant::now();
        let role = self.role.take();
        let (mut verdict, history) = self.run(&message, role).await;
        let attempts = engine::describe(&history);
        // Recorded before the client hears ESME_ROK, so that a receipt that follows finds it
        // (and the trace and `query_sm` find the message).
        if let Verdict::Accepted {
            channel,
            channel_id,
            final_state,
        } = &mut verdict
        {
            let channel_id = std::mem::take(channel_id);
            let keep = final_state.is_some();
            let record = self
                .record(&message, channel, channel_id, submitted, &attempts, keep)
                .await;
            if let (Some(state), Some(record), Some(delivery)) =
                (final_state, record, &self.stages.delivery)
                && let Some(key) = history::key_of(&message.id)
            {
                // The channel knew the outcome at once (iMessage): that is the message's end.
                // Queued, not waited for (the store reads it back at once).
                let event = Event::receipt(state.0, "000", channel);
                delivery.store().note(key, event, Some(record));
            }
        }
        self.settle(
            &mut message,
            submitted,
            verdict,
            (&history, routing.elapsed()),
            &attempts,
        )
    }

    fn route(&self) -> &Route {
        &self.table.routes[self.index]
    }

    /// The route's plan (for a part of a long message: the channel its group took), with its
    /// failover policy, within the route's deadline.
    async fn run(&self, message: &Message, role: Option<Role>) -> (Verdict, Vec<AttemptRecord>) {
        let route = self.route();
        let deadline = tokio::time::Instant::now() + route.deadline();
        let (lead, part_plan) = match role {
            None => (None, None),
            Some(Role::Lead(lead)) => match self.claim_shared(message, deadline).await {
                // Another instance's part decided: the parts here follow it.
                Some((_, groups::Claimed::Decided(decision))) => {
                    lead.tell(decision.clone());
                    (None, Some(decision))
                }
                Some((key, groups::Claimed::Lead)) => {
                    (Some((lead, Some(key))), Some(Decision::Open))
                }
                None => (Some((lead, None)), Some(Decision::Open)),
            },
            Some(Role::Follow(decision)) => (None, Some(groups::follow(decision, deadline).await)),
        };
        let part_plan = part_plan
            .map(|decision| groups::plan_for_part(&route.plan, &self.table.channels, &decision));
        let plan = part_plan.as_deref().unwrap_or(&route.plan);
        let (verdict, history) = if plan.is_empty() {
            // A part, and no channel of the route carries parts (iMessage only).
            (Verdict::Rejected(CommandStatus::RSUBMITFAIL), Vec::new())
        } else {
            engine::run(plan, route.policy(), message, deadline).await
        };
        if let Some((lead, key)) = lead {
            let decision = Decision::of(match &verdict {
                Verdict::Accepted { channel, .. } => Some(channel),
                Verdict::Rejected(_) => None,
            });
            if let (Some(shared), Some(key)) = (&self.stages.groups, key) {
                shared.decide(&key, &decision).await;
            }
            lead.tell(decision);
        }
        (verdict, history)
    }

    /// In cluster mode, the first part here of a long message claims its group across the
    /// instances: its key, and whether it leads or follows a part elsewhere.
    async fn claim_shared(
        &self,
        message: &Message,
        deadline: tokio::time::Instant,
    ) -> Option<(String, groups::Claimed)> {
        let shared = self.stages.groups.as_ref()?;
        let part = crate::smpp::concat::part_of(&message.sm)?;
        let key = groups::shared_key(&message.account.system_id, &message.sm, part);
        let claimed = shared.claim(&key, deadline).await;
        Some((key, claimed))
    }

    /// Counts, logs and answers (the record is made before, when one is needed); `latency` is
    /// the time the routing took, the waits between retries included. Not async: nothing of it
    /// is kept in the message's future.
    fn settle(
        &self,
        message: &mut Message,
        submitted: u64,
        verdict: Verdict,
        (history, latency): (&[AttemptRecord], Duration),
        attempts: &str,
    ) -> Outcome {
        let route = &self.route().spec.name;
        let account = &message.account.system_id;
        match verdict {
            Verdict::Accepted {
                channel,
                final_state,
                ..
            } => {
                tracing::info!(id = %message.id, %account, %route, %channel, %attempts, latency_ms = latency.as_millis() as u64, "accepted");
                counters::message(
                    &self.stages.metrics,
                    account,
                    route,
                    Some(&channel),
                    0,
                    history,
                    latency,
                );
                let receipt = final_state.and_then(|state| own_receipt(message, state, submitted));
                Outcome::Accepted {
                    message_id: std::mem::take(&mut message.id),
                    receipt,
                }
            }
            Verdict::Rejected(status) => {
                if let Some(delivery) = &self.stages.delivery {
                    delivery
                        .answers()
                        .close(crate::delivery::answers::key(&message.id));
                }
                tracing::info!(id = %message.id, %account, %route, %status, %attempts, latency_ms = latency.as_millis() as u64, "rejected");
                counters::message(
                    &self.stages.metrics,
                    account,
                    route,
                    None,
                    status.0,
                    history,
                    latency,
                );
                Outcome::Rejected(status)
            }
        }
    }

    /// Makes the mapping durable before the client hears `ESME_ROK`, so that the channel's
    /// receipt finds its way back even across a restart. With `keep` (the channel knew the
    /// outcome at once), the record is queued, not waited for, and returned.
    async fn record(
        &self,
        message: &Message,
        channel: &str,
        channel_id: String,
        submitted: u64,
        attempts: &str,
        keep: bool,
    ) -> Option<Arc<MessageRecord>> {
        let delivery = self.stages.delivery.as_ref()?;
        // Kept under the second its id names, so that a lookup by id is one read.
        let created = history::key_of(&message.id).map_or(submitted, crate::ids::unix_secs);
        let receipt_to = self
            .table
            .channels
            .get(channel)
            .is_some_and(|c| c.builds_receipts())
            .then(|| receipt_to(&message.sm));
        let record = MessageRecord {
            receipt_to,
            router_id: message.id.clone(),
            account: message.account.system_id.clone(),
            channel: channel.to_string(),
            channel_id,
            created,
            attempts: attempts.to_string(),
            route: self.route().spec.name.clone(),
            session: message.session,
            to: message.destination.e164(),
            region: message.destination.region_str().to_owned(),
        };
        if keep {
            // The outcome is known already (iMessage): no receipt will look for this record,
            // so the answer does not wait for it; it is kept here only, for the trace and
            // `query_sm` (the store reads it back before it is committed).
            let kept = Arc::new(record.clone());
            delivery.store().record_queued(record);
            return Some(kept);
        }
        match delivery.record(record).await {
            Ok(()) => None,
            Err(e) => {
                // The carrier has the message: answering an error would make the client send it
                // again. Its receipt will not find the client.
                tracing::error!(id = %message.id, error = %e, "store: cannot record an accepted message; its receipt will be lost");
                None
            }
        }
    }
}

/// The receipt the router makes itself for a channel's final `state`, when the client asked
/// for one.
fn own_receipt(
    message: &Message,
    state: MessageState,
    submitted: u64,
) -> Option<Box<crate::smpp::pdu::Sm>> {
    let wanted = message
        .sm
        .registered_delivery
        .wants_receipt(state == MessageState::DELIVERED);
    wanted.then(|| {
        Box::new(receipts::build(
            &message.sm,
            &ReceiptInfo {
                message_id: &message.id,
                state,
                err: "000",
                submitted_unix: submitted,
                done_unix: receipts::unix_now(),
            },
        ))
    })
}

/// What a receipt built by the router needs from the client's message.
fn receipt_to(sm: &crate::smpp::pdu::Sm) -> crate::store::ReceiptTo {
    let part = |a: &crate::smpp::pdu::Address| {
        (
            a.ton,
            a.npi,
            String::from_utf8_lossy(a.addr.as_slice()).into_owned(),
        )
    };
    crate::store::ReceiptTo {
        source: part(&sm.source),
        dest: part(&sm.dest),
        registered_delivery: sm.registered_delivery.0,
    }
}
