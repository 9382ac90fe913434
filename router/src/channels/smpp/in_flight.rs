//! The channel's submits under way, for receipts whose message is not found.
//!
//! A carrier can send a receipt before the router has handled the `submit_sm_resp` of its
//! message (on another bind, or right behind the answer): its record is not written yet. Such a
//! receipt only has to wait for the submits that were under way when it came — once they are
//! done, their records are in the store's memory — not for a fixed time. A receipt whose
//! message is simply unknown (records past their retention, a replaced store) is then answered
//! after a few milliseconds, and a flood of them no longer holds the carrier's window.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;

/// Submits under way on one channel, numbered in the order they started.
#[derive(Debug, Default)]
pub(super) struct InFlight {
    state: Mutex<State>,
    done: Notify,
}

#[derive(Debug, Default)]
struct State {
    /// The number the next submit gets.
    next: u64,
    /// Those not done yet.
    open: BTreeSet<u64>,
}

/// One submit under way; done when dropped.
pub(super) struct Ticket<'a> {
    owner: &'a InFlight,
    number: u64,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if let Ok(mut s) = self.owner.state.lock() {
            s.open.remove(&self.number);
        }
        self.owner.done.notify_waiters();
    }
}

impl InFlight {
    /// A submit starts.
    pub(super) fn start(&self) -> Ticket<'_> {
        let number = match self.state.lock() {
            Ok(mut s) => {
                let n = s.next;
                s.next += 1;
                s.open.insert(n);
                n
            }
            Err(_) => u64::MAX,
        };
        Ticket {
            owner: self,
            number,
        }
    }

    /// Waits (at most `limit`) until every submit that had started when this was called is
    /// done; whether they all are.
    pub(super) async fn settle(&self, limit: Duration) -> bool {
        let horizon = match self.state.lock() {
            Ok(s) => s.next,
            Err(_) => return true,
        };
        let settled = || {
            self.state
                .lock()
                .map_or(true, |s| s.open.first().is_none_or(|&n| n >= horizon))
        };
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
        let f = InFlight::default();
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
    }
}
