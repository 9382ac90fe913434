//! Commands to Redis in pipelines: the records, receipts and record look-ups of many messages
//! at once go to Redis in one round trip, so that a busy instance sends a few hundred pipelines
//! a second rather than a command per message. The first command waiting goes at once; those that arrive while
//! a pipeline is on its way go in the next one.

use std::sync::Weak;

use tokio::sync::{mpsc, oneshot};

use super::Cluster;

/// Commands in one pipeline, at most.
const MAX_PIPELINE: usize = 512;
/// Commands waiting for a pipeline, at most (beyond it callers wait for room).
const QUEUE: usize = 65_536;

type Done = oneshot::Sender<Result<redis::Value, redis::RedisError>>;

/// The sending side: [`Batcher::send`] resolves once Redis took the command.
pub struct Batcher(mpsc::Sender<(redis::Cmd, Done)>);

impl Batcher {
    /// A batcher and the receiver its task drains ([`run`]).
    pub fn new() -> (Self, mpsc::Receiver<(redis::Cmd, Done)>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (Self(tx), rx)
    }

    /// Sends `cmd` in the next pipeline; resolves with Redis's answer to it.
    pub async fn send(&self, cmd: redis::Cmd) -> Result<redis::Value, redis::RedisError> {
        let (done, answer) = oneshot::channel();
        let closed =
            || redis::RedisError::from(std::io::Error::other("the cluster link is closed"));
        self.0.send((cmd, done)).await.map_err(|_| closed())?;
        answer.await.unwrap_or_else(|_| Err(closed()))
    }
}

/// Sends what arrives in `rx` in pipelines until the cluster link is dropped.
pub async fn run(cluster: Weak<Cluster>, mut rx: mpsc::Receiver<(redis::Cmd, Done)>) {
    let mut batch = Vec::with_capacity(MAX_PIPELINE);
    while rx.recv_many(&mut batch, MAX_PIPELINE).await > 0 {
        let Some(cluster) = cluster.upgrade() else {
            return;
        };
        let mut pipe = redis::pipe();
        let mut waiting = Vec::with_capacity(batch.len());
        for (cmd, done) in batch.drain(..) {
            pipe.add_command(cmd);
            waiting.push(done);
        }
        let answers = match cluster.run_pipe::<Vec<redis::Value>>(&pipe).await {
            Ok(values) if values.len() == waiting.len() => values.into_iter().map(Ok).collect(),
            Ok(_) => {
                let e = redis::RedisError::from(std::io::Error::other(
                    "a pipeline's answers do not match its commands",
                ));
                vec![Err(e); waiting.len()]
            }
            Err(e) => vec![Err(e); waiting.len()],
        };
        for (done, answer) in waiting.into_iter().zip(answers) {
            let _ = done.send(answer);
        }
    }
}
