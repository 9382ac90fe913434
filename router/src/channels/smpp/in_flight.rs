//! The channel's submits under way, for receipts whose message is not found.
//!
//! A carrier can send a receipt before the router has handled the `submit_sm_resp` of its
//! message (on another bind, or right behind the answer): its record is not written yet. Such a
//! receipt only has to wait for the submits that were under way when it came — once they are
//! done, their records are in the store's memory — not for a fixed time. A receipt whose
//! message is simply unknown (records past their retention, a replaced store) is then answered
//! after a few milliseconds, and a flood of them no longer holds the carrier's window.
//!
//! Submits are counted per data-path thread (each has its own lock, so the message path does
//! not contend across cores); a receipt takes a snapshot of every thread's next number and waits
//! until each thread's oldest open submit is past it.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// Submits under way on one channel, numbered per data-path thread in the order they started.
#[derive(Debug)]
pub(super) struct InFlight {
    lanes: Box<[Mutex<Lane>]>,
    /// Receipts waiting in [`InFlight::settle`]: only then does a finished submit wake anyone.
    waiting: AtomicUsize,
    done: Notify,
}

#[derive(Debug, Default)]
struct Lane {
    /// The number the next submit gets.
    next: u64,
    /// Those not done yet.
    open: BTreeSet<u64>,
}

/// One submit under way; done when dropped.
pub(super) struct Ticket<'a> {
    owner: &'a InFlight,
    lane: usize,
    number: u64,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if let Ok(mut lane) = self.owner.lanes[self.lane].lock() {
            lane.open.remove(&self.number);
        }
        if self.owner.waiting.load(Ordering::Acquire) > 0 {
            self.owner.done.notify_waiters();
        }
    }
}

impl InFlight {
    /// One lane per data-path thread (`shards`; at least one).
    pub(super) fn new(shards: usize) -> Self {
        let lanes = shards.max(1);
        Self {
            lanes: (0..lanes).map(|_| Mutex::default()).collect(),
            waiting: AtomicUsize::new(0),
            done: Notify::new(),
        }
    }

    /// A submit starts.
    pub(super) fn start(&self) -> Ticket<'_> {
        let lane = crate::shards::current().unwrap_or(0) % self.lanes.len();
        let number = match self.lanes[lane].lock() {
            Ok(mut l) => {
                let n = l.next;
                l.next += 1;
                l.open.insert(n);
                n
            }
            Err(_) => u64::MAX,
        };
        Ticket {
            owner: self,
            lane,
            number,
        }
    }

    /// Waits (at most `limit`) until every submit that had started when this was called is
    /// done; whether they all are.
    pub(super) async fn settle(&self, limit: Duration) -> bool {
        let horizon: Vec<u64> = self
            .lanes
            .iter()
            .map(|l| l.lock().map_or(0, |l| l.next))
            .collect();
        let settled = || {
            self.lanes.iter().zip(&horizon).all(|(lane, &h)| {
                lane.lock()
                    .map_or(true, |l| l.open.first().is_none_or(|&n| n >= h))
            })
        };
        if settled() {
            return true;
        }
        // Counted while this waits, also when the wait is cancelled (a guard, not a decrement at
        // the end).
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        self.waiting.fetch_add(1, Ordering::AcqRel);
        let _waiting = Waiting(&self.waiting);
        let wait = async {
            loop {
                let done = self.done.notified();
                if settled() {
                    return;
                }
                done.await;
            }
        };
        tokio::time::timeout(limit, wait).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_only_for_the_submits_under_way_when_asked() {
        let f = InFlight::new(1);
        assert!(
            f.settle(Duration::from_millis(1)).await,
            "nothing under way"
        );
        let first = f.start();
        assert!(!f.settle(Duration::from_millis(5)).await);
        let waiting = async { f.settle(Duration::from_secs(5)).await };
        let finishing = async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            // One that starts after the wait began is not waited for.
            let later = f.start();
            drop(first);
            tokio::time::sleep(Duration::from_millis(10)).await;
            drop(later);
        };
        let (settled, ()) = tokio::join!(waiting, finishing);
        assert!(settled);
        assert_eq!(f.waiting.load(Ordering::Relaxed), 0);
    }
}
