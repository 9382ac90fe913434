//! The receiving side of a connection: moving `deliver_sm`s between this bind and its account's
//! queue, and putting back whatever was not acknowledged (at least once).

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::Conn;
use crate::sim::carrier::Stats;
use crate::sim::carrier::hub::{Item, Kind};
use crate::sim::carrier::receipts::deliver_sm;
use smpp_router::smpp::session::{BindMode, SendError};

impl Conn {
    /// A `deliver_sm` of ours was answered (`ok`: with status 0) or will never be.
    pub(super) fn on_deliver_answer(&mut self, now: Instant, seq: u32, ok: bool) {
        let Some(item) = self.in_flight.remove(&seq) else {
            return;
        };
        let receipt = matches!(item.kind, Kind::Receipt { .. });
        if ok {
            let stats = self.stats();
            Stats::count(if receipt {
                &stats.receipts_acked
            } else {
                &stats.mo_acked
            });
        } else {
            self.retry(now, item);
        }
    }

    /// Queues `item` to be sent again: at once elsewhere when this connection is gone, after
    /// the retry delay otherwise.
    fn retry(&mut self, now: Instant, mut item: Item) {
        if matches!(item.kind, Kind::Receipt { .. }) {
            Stats::count(&self.stats().receipts_retried);
        }
        item.attempts = item.attempts.saturating_add(1);
        let due = if self.s.is_closed() {
            now
        } else {
            now + self.knobs().retry_delay
        };
        self.outbox.push((due, item));
    }

    /// Moves the outbox to the account's queue.
    pub(super) fn flush_outbox(&mut self) {
        if self.outbox.is_empty() {
            return;
        }
        let Some(account) = &self.account else {
            self.outbox.clear();
            return;
        };
        let discarded = account.push(self.outbox.drain(..), self.shared.knobs.max_pending);
        if discarded > 0 {
            let stats = &self.shared.knobs.stats;
            stats
                .receipts_discarded
                .fetch_add(discarded, Ordering::Relaxed);
        }
    }

    /// Sends the `deliver_sm`s due now that fit in the window.
    pub(super) fn deliver_due(&mut self, now: Instant) {
        self.next_due = None;
        if !self.s.bind_mode().is_some_and(BindMode::can_deliver) {
            return;
        }
        let Some(account) = self.account.clone() else {
            return;
        };
        let room = self.shared.config.window.saturating_sub(self.s.in_flight());
        if room == 0 {
            return; // A response makes room and another turn.
        }
        self.next_due = account.take_due(now, room, &mut self.batch);
        let mut batch = std::mem::take(&mut self.batch);
        for item in batch.drain(..) {
            self.send(now, item);
        }
        self.batch = batch;
    }

    fn send(&mut self, now: Instant, item: Item) {
        let pdu = deliver_sm(&item, self.knobs().id_format, self.knobs().receipt_form);
        let receipt = matches!(item.kind, Kind::Receipt { .. });
        match self.s.send(now, pdu) {
            Ok(seq) => {
                let stats = self.stats();
                Stats::count(if receipt {
                    &stats.receipts_sent
                } else {
                    &stats.mo_sent
                });
                self.in_flight.insert(seq, item);
            }
            Err(SendError::Encode(e)) => {
                tracing::debug!(conn = self.id, error = %e, "stand-in carrier: deliver_sm cannot be encoded");
                if receipt {
                    Stats::count(&self.stats().receipts_discarded);
                }
            }
            Err(_) => self.retry(now, item),
        }
    }

    /// Gives back what this connection still owed its account, and leaves the receivers.
    pub(super) fn finish(&mut self, now: Instant) {
        while let Some(event) = self.s.poll_event() {
            self.on_event(now, event);
        }
        let owed: Vec<_> = self.in_flight.drain().map(|(_, item)| item).collect();
        for item in owed {
            self.retry(now, item);
        }
        self.flush_outbox();
        self.leave_receivers();
    }

    /// Stops taking `deliver_sm`s from the account's queue.
    pub(super) fn leave_receivers(&mut self) {
        if self.wake.take().is_some()
            && let Some(account) = &self.account
        {
            account.unregister(self.id);
        }
    }
}
