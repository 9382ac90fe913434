//! The submissions a client connection is waiting on, polled by the connection's own task
//! rather than one task each: no spawn, no channel and no extra wake-up per message, and the
//! answers that finish together go out in one write.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::FutureExt;
use futures_util::stream::{FuturesUnordered, StreamExt};

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

    /// Lets the submissions of a closed connection finish on their own task: the messages
    /// are routed (and recorded) all the same; `answered` is told of each outcome, which can no
    /// longer be written.
    pub fn finish_detached(self, answered: impl Fn(Done) + Send + 'static) {
        if self.0.is_empty() {
            return;
        }
        let mut rest = self.0;
        tokio::spawn(async move {
            while let Some(done) = rest.next().await {
                answered(done);
            }
        });
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
    async fn submissions_of_a_closed_connection_still_finish() {
        let mut s = Submissions::default();
        let (tx, fut) = accepted_later("7");
        s.push(7, CommandId::SUBMIT_SM, fut);
        let seen = Arc::new(AtomicUsize::new(0));
        let counter = seen.clone();
        s.finish_detached(move |(seq, _, _)| {
            assert_eq!(seq, 7);
            counter.fetch_add(1, Ordering::SeqCst);
        });
        tx.send(()).unwrap();
        for _ in 0..100 {
            if seen.load(Ordering::SeqCst) == 1 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the detached submission did not finish");
    }
}
