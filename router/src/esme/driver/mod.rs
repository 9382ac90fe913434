//! The connection task: owns the socket halves and the [`Session`], and does only IO and
//! dispatch. Each turn of the loop takes the session's output for one batched write, hands the
//! session's events out, then waits on whichever comes first: the write progressing, bytes to
//! read, operations from the handles, room in the event queue, or the session's next timer.
//! Reading and writing are both in that one `select!`, so a peer that reads slowly never stops
//! us reading its responses.

mod dispatch;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};

use super::{BoundInfo, ConnectError, Disconnect, EsmeEvent, EsmeEvents, EsmeHandle, SubmitError};
use crate::fast_map::{FastMap, FastState};
use crate::session_io::{IoConfig, SessionIo, now};
use crate::smpp::pdu::{Bind, Command, Pdu};
use crate::smpp::session::{BindMode, CloseReason, Session, SessionConfig};

/// Read in chunks of this size.
const READ_CHUNK: usize = 64 * 1024;
/// Stop reading while this much output waits to be written: the peer is not reading.
const WBUF_CAP: usize = 1024 * 1024;
/// Operations applied per wake-up before writing, so one write carries many PDUs.
const OPS_BATCH: usize = 256;
/// How long a closed session may spend flushing its last output.
const LINGER: Duration = Duration::from_secs(2);

type Reply = oneshot::Sender<Result<Command, SubmitError>>;

/// What the handles and responders ask of the task.
#[derive(Debug)]
pub(super) enum Op {
    /// Send a request; the permit holds its place in the window until it resolves.
    Submit {
        pdu: Pdu,
        reply: Reply,
        permit: OwnedSemaphorePermit,
    },
    /// Answer one of the MC's requests.
    Respond(Command),
    /// Start the unbind handshake.
    Unbind,
}

/// The connection's life as the handles see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Life {
    /// Bound (or binding): requests may be sent.
    Bound,
    /// Unbinding, or the session closed and the socket is being flushed.
    Unbinding,
    /// The socket is closed.
    Closed,
}

/// A request of ours awaiting its response.
struct InFlight {
    reply: Reply,
    _permit: OwnedSemaphorePermit,
    /// The output batch that carries it: written (or being written) once `taken >= batch`.
    batch: u64,
    deadline: Instant,
}

/// A connection whose bind is on its way.
pub(super) struct Started {
    bound: oneshot::Receiver<Result<BoundInfo, ConnectError>>,
    ops: mpsc::Sender<Op>,
    window: Arc<Semaphore>,
    life: watch::Receiver<Life>,
    events: mpsc::Receiver<EsmeEvent>,
}

impl Started {
    /// Waits for the bind's outcome.
    pub(super) async fn bound(self) -> Result<(EsmeHandle, EsmeEvents), ConnectError> {
        let gone = ConnectError::Closed(Disconnect::Session(CloseReason::Local));
        let info = self.bound.await.unwrap_or(Err(gone))?;
        let handle = EsmeHandle {
            ops: self.ops,
            window: self.window,
            life: self.life,
            info: Arc::new(info),
        };
        Ok((handle, EsmeEvents { rx: self.events }))
    }
}

/// A window size usable for a semaphore and channel capacities.
fn bounded(n: usize) -> usize {
    n.clamp(1, 1 << 20)
}

/// How a carrier bind's stream is driven (the caller adds its quick ACKs and TLS).
pub(super) fn io_config() -> IoConfig {
    IoConfig {
        read_chunk: READ_CHUNK,
        linger: LINGER,
        ..IoConfig::default()
    }
}

/// Sends the bind and spawns the connection task.
pub(super) fn start<R, W>(
    io: SessionIo<R, W>,
    mode: BindMode,
    bind: Bind,
    config: SessionConfig,
) -> Result<Started, ConnectError>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let t = now();
    let mut session = Session::new(config.clone(), t);
    session.bind(t, mode, bind).map_err(ConnectError::Bind)?;
    let window = bounded(config.window);
    let inbound = bounded(config.inbound_window);
    let window = Arc::new(Semaphore::new(window));
    // Submits are bounded by the window, answers by the MC's requests in flight.
    let (ops_tx, ops) = mpsc::channel(window.available_permits() + inbound + 4);
    let outbox_cap = inbound + 2;
    let (events, events_rx) = mpsc::channel(outbox_cap);
    let (bound_tx, bound) = oneshot::channel();
    let (life, life_rx) = watch::channel(Life::Bound);
    let driver = Driver {
        session,
        io,
        ops,
        ops_weak: ops_tx.downgrade(),
        ops_open: true,
        events,
        outbox: VecDeque::new(),
        outbox_cap,
        in_flight: FastMap::with_capacity_and_hasher(config.window.min(4096), FastState::default()),
        taken: 0,
        bound_tx: Some(bound_tx),
        life,
        window: window.clone(),
        response_timeout: config.response_timeout,
        yielded: false,
    };
    tokio::spawn(driver.run());
    Ok(Started {
        bound,
        ops: ops_tx,
        window,
        life: life_rx,
        events: events_rx,
    })
}

struct Driver<R, W> {
    session: Session,
    /// The stream, its buffers and the session's timer.
    io: SessionIo<R, W>,
    ops: mpsc::Receiver<Op>,
    /// For responders: they must not keep the task alive once every handle is gone.
    ops_weak: mpsc::WeakSender<Op>,
    ops_open: bool,
    events: mpsc::Sender<EsmeEvent>,
    /// Events the application has not taken yet; reading stops when it is full.
    outbox: VecDeque<EsmeEvent>,
    outbox_cap: usize,
    in_flight: FastMap<u32, InFlight>,
    /// How many output batches have been taken for writing.
    taken: u64,
    bound_tx: Option<oneshot::Sender<Result<BoundInfo, ConnectError>>>,
    life: watch::Sender<Life>,
    window: Arc<Semaphore>,
    response_timeout: Duration,
    /// Whether the loop has let other tasks run since it last took output.
    yielded: bool,
}

async fn reserve(
    events: Option<mpsc::Sender<EsmeEvent>>,
) -> Result<mpsc::OwnedPermit<EsmeEvent>, ()> {
    match events {
        Some(tx) => tx.reserve_owned().await.map_err(|_| ()),
        None => std::future::pending().await,
    }
}

impl<R, W> Driver<R, W>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    async fn run(mut self) {
        loop {
            // Before taking output, let the tasks ready on this worker run and take the
            // operations they queued: their PDUs join this write (one `write` for many PDUs
            // instead of one or two).
            if self.io.wbuf.is_empty() && self.session.has_output() && !self.yielded {
                self.yielded = true;
                tokio::task::yield_now().await;
                if self.ops_open
                    && !self.session.is_closed()
                    && let Ok(op) = self.ops.try_recv()
                {
                    self.on_ops(Some(op));
                }
            }
            // Take output before handing out events: a request still in the session's buffer
            // when it closes is then known never to have been written.
            if self.io.wbuf.is_empty() && self.io.take_output(&mut self.session) {
                self.taken += 1;
                self.yielded = false;
            }
            while let Some(event) = self.session.poll_event() {
                self.on_event(event);
            }
            self.flush_outbox();
            let closed = self.session.is_closed();
            if self.io.finished(&self.session) {
                break;
            }
            self.io.arm(&mut self.session, None);
            let read =
                !closed && self.io.wbuf.len() < WBUF_CAP && self.outbox.len() < self.outbox_cap;
            // Only when the queue was full: an owned permit keeps `self` free in the handlers.
            let blocked = (!self.outbox.is_empty()).then(|| self.events.clone());
            tokio::select! {
                event = self.io.next(read) => self.io.apply(event, &mut self.session, now()),
                op = self.ops.recv(), if self.ops_open && !closed => self.on_ops(op),
                permit = reserve(blocked), if !self.outbox.is_empty() => match permit {
                    Ok(p) => {
                        if let Some(ev) = self.outbox.pop_front() {
                            p.send(ev);
                        }
                    }
                    // Nobody listens: dropped responders answer ESME_RX_T_APPN.
                    Err(_) => self.outbox.clear(),
                },
            }
        }
        self.finish().await;
    }

    fn on_ops(&mut self, op: Option<Op>) {
        let Some(op) = op else {
            // Every handle is gone: nobody will send again.
            self.ops_open = false;
            let _ = self.session.unbind(now());
            return;
        };
        let t = now();
        self.apply(t, op);
        for _ in 0..OPS_BATCH {
            match self.ops.try_recv() {
                Ok(op) => self.apply(t, op),
                Err(_) => break,
            }
        }
    }

    async fn finish(mut self) {
        self.io.shutdown().await;
        self.ops.close();
        while let Ok(op) = self.ops.try_recv() {
            if let Op::Submit { reply, .. } = op {
                let _ = reply.send(Err(SubmitError::Closed { written: false }));
            }
        }
        for (_, f) in self.in_flight.drain() {
            let _ = f.reply.send(Err(SubmitError::Closed { written: true }));
        }
        let Self {
            io,
            events,
            outbox,
            life,
            ..
        } = self;
        drop(io);
        let _ = life.send(Life::Closed);
        // The application still gets the last events (the Closed notice above all).
        for ev in outbox {
            if events.send(ev).await.is_err() {
                break;
            }
        }
    }
}
