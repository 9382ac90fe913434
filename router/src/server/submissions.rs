//! The submissions a client connection is waiting on, polled by the connection's own task
//! rather than one task each: no spawn, no channel and no extra wake-up per message, and the
//! answers that finish together go out in one write.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use futures_util::FutureExt;
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::Notify;

use super::handler::{Outcome, OutcomeFuture};
use crate::smpp::{CommandId, CommandStatus};

/// A finished submission: the request's sequence number and kind, and its outcome.
pub type Done = (u32, CommandId, Outcome);

/// One submission, tagged with the request it answers.
struct Tagged {
    seq: u32,
    request: CommandId,
    fut: OutcomeFuture,
}

impl Future for Tagged {
    type Output = Done;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Done> {
        // A panic in a handler fails its own message (ESME_RSYSERR), not the connection.
        let polled = std::panic::catch_unwind(AssertUnwindSafe(|| self.fut.poll_unpin(cx)));
        let outcome = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(outcome)) => outcome,
            Err(panic) => {
                let why = panic
                    .downcast_ref::<&str>()
                    .copied()
                    .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
                    .unwrap_or("?");
                tracing::error!(
                    seq = self.seq,
                    request = %self.request,
                    why,
                    "a submission failed unexpectedly; answered ESME_RSYSERR"
                );
                Outcome::Rejected(CommandStatus::RSYSERR)
            }
        };
        Poll::Ready((self.seq, self.request, outcome))
    }
}

/// The connection's submissions in flight.
#[derive(Default)]
pub struct Submissions(FuturesUnordered<Tagged>);

impl Submissions {
    pub fn push(&mut self, seq: u32, request: CommandId, fut: OutcomeFuture) {
        self.0.push(Tagged { seq, request, fut });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The next submission to finish; pending while none is in flight.
    pub async fn next(&mut self) -> Done {
        match self.0.next().await {
            Some(done) => done,
            None => std::future::pending().await,
        }
    }

    /// A submission that has finished already, without waiting. It polls with a no-op waker,
    /// so the caller must await [`Submissions::next`] again before it sleeps (the connection's
    /// loop does, whenever submissions are in flight).
    pub fn ready(&mut self) -> Option<Done> {
        self.0.next().now_or_never().flatten()
    }

    /// Lets the submissions of a closed connection finish on their own task, counted by
    /// `detached` (so that a shutdown waits for them): the messages are routed (and recorded)
    /// all the same; `answered` is told of each outcome, which can no longer be written.
    pub fn finish_detached(self, detached: &Detached, answered: impl Fn(Done) + Send + 'static) {
        if self.0.is_empty() {
            return;
        }
        let mut rest = self.0;
        let working = detached.enter();
        tokio::spawn(async move {
            while let Some(done) = rest.next().await {
                answered(done);
            }
            drop(working);
        });
    }
}

/// Work a connection hands to other tasks — the submissions of a closed connection still being
/// routed, receipts on their way to the account's other sessions or to the store — counted so
/// that a shutdown can wait for it rather than drop it.
#[derive(Clone, Default)]
pub struct Detached(Arc<DetachedInner>);

#[derive(Default)]
struct DetachedInner {
    count: AtomicUsize,
    idle: Notify,
}

impl Detached {
    /// Counts one piece of work until the returned guard (or the last of its clones) drops.
    pub fn enter(&self) -> Working {
        self.0.count.fetch_add(1, Ordering::AcqRel);
        Working(self.0.clone())
    }

    /// Pieces of work not finished yet.
    pub fn count(&self) -> usize {
        self.0.count.load(Ordering::Acquire)
    }

    /// Resolves once no work is left.
    pub async fn idle(&self) {
        loop {
            let notified = self.0.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.count() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// One piece of detached work in progress; see [`Detached::enter`].
pub struct Working(Arc<DetachedInner>);

impl Clone for Working {
    fn clone(&self) -> Self {
        self.0.count.fetch_add(1, Ordering::AcqRel);
        Working(self.0.clone())
    }
}

impl Drop for Working {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn accepted(id: &str) -> Outcome {
        Outcome::Accepted {
            message_id: id.into(),
            receipt: None,
        }
    }

    /// A submission accepted as `id` once the returned sender fires.
    fn accepted_later(id: &'static str) -> (tokio::sync::oneshot::Sender<()>, OutcomeFuture) {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let fut = Box::pin(async move {
            let _ = rx.await;
            accepted(id)
        });
        (tx, fut)
    }

    #[tokio::test]
    async fn answers_in_finishing_order_and_a_panic_fails_only_its_message() {
        let mut s = Submissions::default();
        let (tx, fut) = accepted_later("1");
        s.push(1, CommandId::SUBMIT_SM, fut);
        s.push(2, CommandId::DATA_SM, Box::pin(async { panic!("boom") }));
        s.push(3, CommandId::SUBMIT_SM, Box::pin(async { accepted("3") }));
        let mut first = [s.next().await, s.next().await];
        first.sort_by_key(|d| d.0);
        assert!(matches!(
            first[0],
            (
                2,
                CommandId::DATA_SM,
                Outcome::Rejected(CommandStatus::RSYSERR)
            )
        ));
        assert!(
            matches!(&first[1], (3, _, Outcome::Accepted { message_id, .. }) if message_id == "3")
        );
        assert!(s.ready().is_none(), "submission 1 is still waiting");
        tx.send(()).unwrap();
        assert!(matches!(
            s.next().await,
            (1, CommandId::SUBMIT_SM, Outcome::Accepted { .. })
        ));
        assert!(s.is_empty());
    }

    #[tokio::test]
    async fn submissions_of_a_closed_connection_still_finish_and_are_counted() {
        let mut s = Submissions::default();
        let (tx, fut) = accepted_later("7");
        s.push(7, CommandId::SUBMIT_SM, fut);
        let seen = Arc::new(AtomicUsize::new(0));
        let counter = seen.clone();
        let detached = Detached::default();
        s.finish_detached(&detached, move |(seq, _, _)| {
            assert_eq!(seq, 7);
            counter.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(detached.count(), 1);
        let idle = tokio::spawn({
            let detached = detached.clone();
            async move { detached.idle().await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!idle.is_finished(), "idle while a submission is in flight");
        tx.send(()).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), idle)
            .await
            .expect("idle once the submission finished")
            .unwrap();
        assert_eq!(seen.load(Ordering::SeqCst), 1);
        assert_eq!(detached.count(), 0);
    }

    #[tokio::test]
    async fn detached_work_counts_every_clone_of_its_guard() {
        let detached = Detached::default();
        detached.idle().await;
        let a = detached.enter();
        let b = a.clone();
        drop(a);
        assert_eq!(detached.count(), 1);
        drop(b);
        assert_eq!(detached.count(), 0);
        detached.idle().await;
    }
}
