//! The requests this side has sent and awaits answers for: sequence numbers, the window limit and
//! response deadlines.
//!
//! Deadlines are pushed in send order with one fixed timeout, so the earliest live deadline is at
//! the front of a queue; entries answered early are skipped lazily. Everything is O(1) amortised.

use std::collections::VecDeque;

use crate::fast_map::{FastMap, FastState};
use std::time::Instant;

use crate::command_id::CommandId;

/// The highest sequence number; the counter wraps back to 1.
pub const MAX_SEQUENCE: u32 = 0x7FFF_FFFF;

/// A request awaiting its response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pending {
    /// The request's id.
    pub command_id: CommandId,
    /// When it times out.
    pub deadline: Instant,
    /// Sent by the session itself (its keep-alive), not by the application.
    pub internal: bool,
}

/// Outstanding requests and the sequence counter.
#[derive(Debug)]
pub struct Window {
    next: u32,
    limit: usize,
    pending: FastMap<u32, Pending>,
    deadlines: VecDeque<(Instant, u32)>,
    app_in_flight: usize,
}

impl Window {
    /// An empty window admitting `limit` application requests (internal ones are extra).
    pub fn new(limit: usize) -> Self {
        Self {
            next: 1,
            limit: limit.max(1),
            pending: FastMap::with_capacity_and_hasher(limit.min(1024), FastState::default()),
            deadlines: VecDeque::with_capacity(limit.min(1024)),
            app_in_flight: 0,
        }
    }

    /// Starts the counter elsewhere (tests of the wrap).
    pub fn set_next_sequence(&mut self, next: u32) {
        self.next = next.clamp(1, MAX_SEQUENCE);
    }

    /// Application requests outstanding.
    pub fn in_flight(&self) -> usize {
        self.app_in_flight
    }

    /// Whether another application request fits.
    pub fn has_room(&self) -> bool {
        self.app_in_flight < self.limit
    }

    fn forget(&mut self, p: &Pending) {
        if !p.internal {
            self.app_in_flight -= 1;
        }
    }

    /// Records a request and returns its sequence number: the next in 1..=0x7FFFFFFF that is not
    /// still pending.
    pub fn open(&mut self, command_id: CommandId, deadline: Instant, internal: bool) -> u32 {
        let mut seq = self.next;
        while self.pending.contains_key(&seq) {
            seq = following(seq);
        }
        self.next = following(seq);
        if !internal {
            self.app_in_flight += 1;
        }
        self.pending.insert(
            seq,
            Pending {
                command_id,
                deadline,
                internal,
            },
        );
        self.deadlines.push_back((deadline, seq));
        seq
    }

    /// Takes the pending request `seq` if a response with `response_id` (or a `generic_nack`)
    /// answers it.
    pub fn close(&mut self, seq: u32, response_id: CommandId) -> Option<Pending> {
        let p = self.pending.get(&seq)?;
        if response_id != CommandId::GENERIC_NACK && p.command_id.response() != response_id {
            return None;
        }
        let p = self.pending.remove(&seq)?;
        self.forget(&p);
        Some(p)
    }

    /// The earliest deadline of a pending request.
    pub fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(&(deadline, seq)) = self.deadlines.front() {
            match self.pending.get(&seq) {
                Some(p) if p.deadline == deadline => return Some(deadline),
                _ => {
                    self.deadlines.pop_front();
                }
            }
        }
        None
    }

    /// Removes and returns one request whose deadline has passed.
    pub fn pop_expired(&mut self, now: Instant) -> Option<(u32, Pending)> {
        let deadline = self.next_deadline()?;
        if deadline > now {
            return None;
        }
        let (_, seq) = self.deadlines.pop_front()?;
        let p = self.pending.remove(&seq)?;
        self.forget(&p);
        Some((seq, p))
    }

    /// Removes every pending request (the session is closing).
    pub fn drain(&mut self) -> impl Iterator<Item = (u32, Pending)> + '_ {
        self.deadlines.clear();
        self.app_in_flight = 0;
        self.pending.drain()
    }
}

fn following(seq: u32) -> u32 {
    if seq >= MAX_SEQUENCE { 1 } else { seq + 1 }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // a time base for the tests
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn sequence_wraps_to_one_and_skips_pending() {
        let now = Instant::now();
        let mut w = Window::new(10);
        w.set_next_sequence(MAX_SEQUENCE);
        assert_eq!(w.open(CommandId::SUBMIT_SM, now, false), MAX_SEQUENCE);
        assert_eq!(w.open(CommandId::SUBMIT_SM, now, false), 1);
        w.set_next_sequence(1);
        assert_eq!(w.open(CommandId::SUBMIT_SM, now, false), 2);
    }

    #[test]
    fn responses_match_by_sequence_and_id() {
        let now = Instant::now();
        let mut w = Window::new(2);
        let a = w.open(CommandId::SUBMIT_SM, now, false);
        assert!(w.close(a, CommandId::DELIVER_SM_RESP).is_none());
        assert!(w.close(a + 7, CommandId::SUBMIT_SM_RESP).is_none());
        assert!(w.close(a, CommandId::SUBMIT_SM_RESP).is_some());
        let b = w.open(CommandId::SUBMIT_SM, now, false);
        assert!(w.close(b, CommandId::GENERIC_NACK).is_some());
    }

    #[test]
    fn deadlines_expire_in_order_and_skip_answered() {
        let t0 = Instant::now();
        let mut w = Window::new(3);
        let a = w.open(CommandId::SUBMIT_SM, t0 + Duration::from_secs(1), false);
        let b = w.open(CommandId::SUBMIT_SM, t0 + Duration::from_secs(2), false);
        assert_eq!(w.in_flight(), 2);
        assert!(w.has_room());
        let _c = w.open(CommandId::SUBMIT_SM, t0 + Duration::from_secs(3), false);
        assert!(!w.has_room());
        w.close(a, CommandId::SUBMIT_SM_RESP);
        assert_eq!(w.next_deadline(), Some(t0 + Duration::from_secs(2)));
        assert!(w.pop_expired(t0 + Duration::from_secs(1)).is_none());
        assert_eq!(
            w.pop_expired(t0 + Duration::from_secs(3)).map(|(s, _)| s),
            Some(b)
        );
        assert_eq!(w.in_flight(), 1);
    }
}
