//! Deliveries to the client: receipts of its own messages sent on this session, `deliver_sm`
//! jobs from the registry within the window, their answers and timeouts, and what is handed on
//! when the session cannot take them.

use super::*;

impl Conn {
    /// The client answered one of our `deliver_sm`.
    pub(super) fn on_deliver_answer(&mut self, seq: u32, status: CommandStatus) {
        if let Some(reply) = self.deliveries.remove(&seq) {
            let _ = reply.send(Ok(status));
        } else if let Some(sm) = self.local_receipts.remove(&seq) {
            if status.is_ok() {
                // In the message's history, as the outbox keeps it for the receipts it hands
                // out (queued; nothing waits for it).
                if let (Some(store), Some(key)) = (
                    self.shared.store(),
                    crate::delivery::outbox::history_key(&sm),
                ) {
                    let event = crate::store::Event {
                        at_ms: crate::store::history::now_ms(),
                        kind: crate::store::EventKind::delivered("direct", self.id),
                    };
                    store.note(key, event, None);
                }
                if let Some((account, _)) = &self.bound {
                    self.shared.metrics.add(
                        &crate::delivery::counters::DELIVERIES,
                        &[&account.system_id, "direct"],
                        1,
                    );
                }
                return;
            }
            if DeliverError::Refused(status).is_final() {
                // The client will never take it (ESME_RX_P_APPN / ESME_RX_R_APPN).
                if let Some((account, _)) = &self.bound {
                    tracing::warn!(session = self.id, system_id = %account.system_id, %status, "the client refused a receipt for good; it is not offered again");
                    self.shared.metrics.add(
                        &crate::delivery::counters::DELIVERIES,
                        &[&account.system_id, "refused"],
                        1,
                    );
                }
            } else {
                self.hand_on(sm, true);
            }
        }
    }

    /// One of our `deliver_sm` got no answer in time.
    pub(super) fn on_deliver_timeout(&mut self, seq: u32) {
        if let Some(reply) = self.deliveries.remove(&seq) {
            let _ = reply.send(Err(DeliverError::Timeout));
        } else if let Some(sm) = self.local_receipts.remove(&seq) {
            self.hand_on(sm, false);
        }
    }

    /// Whether this session itself can take receipts (a receiver or transceiver bind).
    pub(super) fn receives(&self) -> bool {
        self.session.bind_mode().is_some_and(BindMode::can_deliver)
    }

    /// Sends waiting receipts on this session while its window has room: the common case of a
    /// transceiver client, without a task or a lock per receipt.
    pub(super) fn deliver_local_receipts(&mut self) {
        while self.receives() && self.session.has_room() {
            let Some(sm) = self.receipts.pop_front() else {
                break;
            };
            match self.session.send(now(), Pdu::DeliverSm((*sm).clone())) {
                Ok(seq) => {
                    self.local_receipts.insert(seq, sm);
                }
                Err(_) => {
                    self.hand_on(sm, false);
                    break;
                }
            }
        }
    }

    /// Gives a receipt this session could not deliver to the account's other sessions, or to
    /// the store until one binds (see [`Shared::deliver_receipt`]).
    pub(super) fn hand_on(&self, sm: Box<crate::smpp::pdu::Sm>, refused: bool) {
        let Some((account, _)) = &self.bound else {
            return;
        };
        let shared = self.shared.clone();
        let system_id = account.system_id.clone();
        // Counted, so that a shutdown (which closes this session) waits for it to be stored.
        let working = shared.detached.enter();
        tokio::spawn(async move {
            if refused {
                // Refused for now: offered again a second later, not at once.
                shared.keep_receipt(&system_id, *sm).await;
            } else {
                shared.deliver_receipt(&system_id, *sm).await;
            }
            drop(working);
        });
    }

    /// Hands the oldest waiting receipt on (see [`Shared::deliver_receipt`]), holding `slot`
    /// until it is delivered or stored.
    pub(super) fn send_receipt(&mut self, slot: tokio::sync::OwnedSemaphorePermit) {
        let (Some(sm), Some((account, _))) = (self.receipts.pop_front(), &self.bound) else {
            return;
        };
        let shared = self.shared.clone();
        let system_id = account.system_id.clone();
        let working = shared.detached.enter();
        tokio::spawn(async move {
            let _slot = slot;
            shared.deliver_receipt(&system_id, *sm).await;
            drop(working);
        });
    }

    pub(super) fn deliver(&mut self, job: DeliverJob) {
        match self.session.send(now(), Pdu::DeliverSm(job.sm)) {
            Ok(seq) => {
                self.deliveries.insert(seq, job.done);
            }
            Err(_) => {
                let _ = job.done.send(Err(DeliverError::Closed));
            }
        }
    }

    pub(super) fn cleanup(&mut self, deliver_rx: &mut mpsc::Receiver<DeliverJob>) {
        if let Some((account, _)) = &self.bound {
            self.shared.registry.unregister(&account.system_id, self.id);
            super::bind::release_bind(&self.shared, &account.system_id, self.id);
        }
        for (_, reply) in self.deliveries.drain() {
            let _ = reply.send(Err(DeliverError::Closed));
        }
        // Receipts this session did not get to deliver go to the account's other sessions.
        let unsent: Vec<_> = self
            .local_receipts
            .drain()
            .map(|(_, sm)| sm)
            .chain(self.receipts.drain(..))
            .collect();
        for sm in unsent {
            self.hand_on(sm, false);
        }
        deliver_rx.close();
        while let Ok(job) = deliver_rx.try_recv() {
            let _ = job.done.send(Err(DeliverError::Closed));
        }
    }
}
