//! Messages from the client: `submit_sm` and `data_sm` validated and handed to the router,
//! answered as each finishes (many at once), and the answers' release to the answer gate.

use super::*;
use crate::metrics::Hex;
use crate::server::counters::{MESSAGES, THROTTLED};

impl Conn {
    /// Lets the submissions still being routed finish on their own task: their answers will
    /// never be written, so their receipts need not wait for them (see `answers`), and a receipt
    /// the channel produced at once goes to the account's other sessions.
    pub(super) fn detach_submissions(&mut self) {
        let submissions = std::mem::take(&mut self.submissions);
        if submissions.is_empty() {
            return;
        }
        let shared = self.shared.clone();
        let system_id = self.bound.as_ref().map(|(a, _)| a.system_id.clone());
        submissions.finish_detached(&self.shared.detached, move |(_, _, outcome)| {
            let Outcome::Accepted {
                message_id,
                receipt,
            } = outcome
            else {
                return;
            };
            shared.answered(crate::delivery::answers::key(&message_id));
            if let (Some(sm), Some(system_id)) = (receipt, system_id.clone()) {
                let shared = shared.clone();
                let working = shared.detached.enter();
                tokio::spawn(async move {
                    shared.deliver_receipt(&system_id, *sm).await;
                    drop(working);
                });
            }
        });
    }

    pub(super) fn on_request(&mut self, cmd: Command) {
        let seq = cmd.sequence_number;
        // data_sm carries a message like submit_sm (its content in message_payload): it is
        // routed the same way and answered with data_sm_resp.
        let (sm, request) = match cmd.pdu {
            Pdu::SubmitSm(sm) => (sm, CommandId::SUBMIT_SM),
            Pdu::DataSm(d) => (d.into_sm(), CommandId::DATA_SM),
            Pdu::QuerySm(q) => return self.on_query(seq, q),
            other => return self.answer_unsupported(other.command_id(), seq),
        };
        let (Some((account, rt)), Some(_)) = (&self.bound, self.session.bind_mode()) else {
            // Not bound, or unbinding (the account changed under the session).
            return self.answer(seq, request, CommandStatus::RINVBNDSTS);
        };
        if !rt.allow() {
            self.shared
                .metrics
                .add(&THROTTLED, &[&account.system_id], 1);
            return self.answer(seq, request, CommandStatus::RTHROTTLED);
        }
        let backlog = self.receipts.len()
            + self.local_receipts.len()
            + (RECEIPT_BACKLOG - self.receipt_slots.available_permits());
        if backlog >= RECEIPT_BACKLOG {
            tracing::debug!(
                queued = self.receipts.len(),
                local = self.local_receipts.len(),
                slots = self.receipt_slots.available_permits(),
                room = self.session.has_room(),
                in_flight = self.session.in_flight(),
                "receipt backlog full"
            );
            return self.answer(seq, request, CommandStatus::RMSGQFUL);
        }
        let checked = match validate::check(&sm, account, self.shared.max_message_len) {
            Ok(c) => c,
            Err(status) => {
                tracing::debug!(session = self.id, to = %Masked(&sm.dest.addr), %status, "submit_sm refused");
                self.shared.metrics.add(
                    &MESSAGES,
                    &[&account.system_id, "-", "-", Hex(status.0).label().as_str()],
                    1,
                );
                return self.answer(seq, request, status);
            }
        };
        let submission = Submission {
            account: account.clone(),
            session_id: self.id,
            sm,
            destination: checked.destination,
            sender: checked.sender,
            received_at: now(),
        };
        let mut fut = self.shared.handler.submit(submission);
        // A handler that answers at once (a cached decision, a refusal) is answered here; the
        // others are polled with the connection's other submissions.
        match (&mut fut).now_or_never() {
            Some(outcome) => self.finish(seq, request, outcome),
            None => self.submissions.push(seq, request, fut),
        }
    }

    /// Answers the client and hands any immediate receipt to the registry, which queues it
    /// behind this response.
    pub(super) fn finish(&mut self, seq: u32, request: CommandId, outcome: Outcome) {
        match outcome {
            Outcome::Accepted {
                message_id,
                receipt,
            } => {
                let answered = crate::delivery::answers::key(&message_id);
                let body = SmResp::new(message_id);
                let pdu = if request == CommandId::DATA_SM {
                    Pdu::DataSmResp(body)
                } else {
                    Pdu::SubmitSmResp(body)
                };
                let resp = Command::new(seq, pdu);
                let _ = self.session.respond(resp);
                self.answered.push(answered);
                if let Some(sm) = receipt {
                    self.receipts.push_back(sm);
                }
            }
            Outcome::Rejected(status) => self.answer(seq, request, status),
        }
    }

    pub(super) fn answer(&mut self, seq: u32, request: CommandId, status: CommandStatus) {
        if let Some(resp) = error_response(request, seq, status) {
            let _ = self.session.respond(resp);
        }
    }

    /// The router accepts messages only as `submit_sm`; other operations get a clear refusal.
    pub(super) fn answer_unsupported(&mut self, request: CommandId, seq: u32) {
        let status = match request {
            CommandId::CANCEL_SM => CommandStatus::RCANCELFAIL,
            CommandId::REPLACE_SM => CommandStatus::RREPLACEFAIL,
            _ if self.session.interface_version() >= interface_version::V50 => {
                CommandStatus::RPROHIBITED
            }
            _ => CommandStatus::RINVCMDID,
        };
        let answer = error_response(request, seq, status);
        if let Some(mut resp) = answer {
            // Only generic_nack may carry RINVCMDID for a known request in v3.4.
            if status == CommandStatus::RINVCMDID {
                resp.pdu = Pdu::GenericNack;
            }
            let _ = self.session.respond(resp);
        }
    }

    /// The answers queued so far are written: their receipts may go out on any session.
    pub(super) fn release_answered(&mut self) {
        for key in self.answered.drain(..) {
            self.shared.answered(key);
        }
    }
}
