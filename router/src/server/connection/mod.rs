//! One client connection: a task that owns the socket and the sans-IO [`Session`], and does
//! only IO and dispatch — reads feed the session, the session's output is written in batches.
//! What it dispatches to is in the files beside this one, after the path: [`bind`] (binds are
//! authorised), [`submit`] (submissions go to the handler, many at once, answered as each
//! finishes), [`deliver`] (receipts and `deliver_sm` jobs from the registry go out within the
//! window).

use std::net::SocketAddr;
use std::sync::Arc;

use futures_util::FutureExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot, watch};

use super::Shared;
use super::handler::{Outcome, Submission};
use super::runtime::AccountRuntime;
use super::submissions::Submissions;
use super::validate;
use crate::config::Account;
use crate::delivery::registry::{DeliverError, DeliverJob, SessionInfo};
use crate::fast_map::FastMap;
use crate::phone::Masked;
use crate::quick_ack::QuickAck;
use crate::session_io::{IoConfig, IoEvent, SessionIo, now};
use crate::smpp::pdu::{Command, Pdu, SmResp, error_response};
use crate::smpp::session::{BindMode, Event, Session};
use crate::smpp::values::interface_version;
use crate::smpp::{CommandId, CommandStatus};

mod bind;
mod deliver;
mod query;
mod submit;

/// Read no more while this much is buffered unprocessed.
const BUFFER_CAP: usize = 256 * 1024;

/// The most answers (or deliveries) taken in one go before writing: one `write` for many PDUs
/// instead of one each.
const BATCH: usize = 256;

/// Output of this size is written before any more input is taken (see the loop in [`serve`]).
const FLUSH_AT: usize = 32 * 1024;

/// Inputs taken (reads, batches of answers or deliveries) while output waits before it is
/// written anyway: a bound on how long a busy connection holds its answers back.
const INPUTS_PER_WRITE: u32 = 16;

/// How long a closed connection keeps trying to write what it has left.
const LINGER: std::time::Duration = std::time::Duration::from_secs(2);

/// Receipts of this connection's messages on their way to the account: beyond this many, new
/// submissions are answered `ESME_RMSGQFUL` until receipts drain (flow control, not a queue without
/// bound). Reading goes on (while output drains), so the client's `deliver_sm_resp` keep
/// draining them.
const RECEIPT_BACKLOG: usize = 2048;

type Reply = oneshot::Sender<Result<CommandStatus, DeliverError>>;

struct Conn {
    shared: Arc<Shared>,
    peer: SocketAddr,
    id: u64,
    session: Session,
    bound: Option<(Arc<Account>, Arc<AccountRuntime>)>,
    /// Submissions being routed, polled by this task.
    submissions: Submissions,
    deliver_tx: mpsc::Sender<DeliverJob>,
    deliveries: FastMap<u32, Reply>,
    /// Receipts waiting for a delivery slot, in the order their responses went out.
    receipts: std::collections::VecDeque<Box<crate::smpp::pdu::Sm>>,
    /// Delivery slots: one per receipt being delivered through the registry.
    receipt_slots: Arc<tokio::sync::Semaphore>,
    /// Receipts sent on this very session, by sequence number, kept until answered so that a
    /// failure hands them to the registry (another session, retries).
    local_receipts: FastMap<u32, Box<crate::smpp::pdu::Sm>>,
    /// Router ids whose `submit_sm_resp` is queued but not yet written to the socket: their
    /// receipts may go out (see `answers`) once it is.
    answered: Vec<Option<u64>>,
    /// The accounts reload this session's account was last looked at for.
    accounts_seen: u64,
    /// Counted against its address until the session binds.
    unbound: Option<super::Unbound>,
}

/// What the listener knows of a connection it accepted.
pub struct Accepted {
    /// Its TCP socket (see [`QuickAck`]).
    pub ack: QuickAck,
    /// The client's address.
    pub peer: SocketAddr,
    /// Its place among its address's connections that have not bound yet.
    pub unbound: super::Unbound,
    /// Accepted while nearly every connection slot was taken: it must bind sooner.
    pub crowded: bool,
    /// Whether the stream is TLS (it is then flushed once everything is written).
    pub tls: bool,
}

/// Serves one accepted connection until it closes.
pub async fn serve<S>(
    io: S,
    accepted: Accepted,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let Accepted {
        ack,
        peer,
        unbound,
        crowded,
        tls,
    } = accepted;
    let (rd, wr) = tokio::io::split(io);
    let mut io = SessionIo::new(
        rd,
        wr,
        IoConfig {
            read_chunk: 4 * 1024,
            linger: LINGER,
            flushes: tls,
            quick_ack: ack,
            reads_first: true,
        },
    );
    let (deliver_tx, mut deliver_rx) = mpsc::channel(64);
    let mut c = Conn::new(shared, peer, crowded, unbound, deliver_tx);
    let id = c.id;
    let mut draining = *shutdown.borrow();
    tracing::debug!(session = id, %peer, "connection opened");
    let mut requests = std::collections::VecDeque::new();
    let mut yielded = false;
    let mut inputs = 0;
    let mut accounts_changed = c.shared.book.changes();
    loop {
        c.turn(&mut requests, draining).await;
        io.take_output(&mut c.session);
        if io.wbuf.is_empty() {
            c.release_answered();
            inputs = 0;
        }
        let closed = c.session.is_closed();
        if closed {
            // Their answers can no longer go out, but the messages are routed all the same.
            c.detach_submissions();
            if io.finished(&c.session) {
                break;
            }
        }
        // Output is written once nothing else is ready: first the other tasks ready on this
        // worker run (carrier answers, store commits: the submissions they complete are taken
        // below and join this write), then every input ready now is taken (the `biased` order
        // below puts the IO last). One `write` then carries many PDUs instead of one or two.
        // A connection kept busy writes anyway after `INPUTS_PER_WRITE` inputs or `FLUSH_AT`.
        if !io.wbuf.is_empty() && !yielded {
            yielded = true;
            tokio::task::yield_now().await;
            continue;
        }
        if !io.wbuf.is_empty()
            && (inputs >= INPUTS_PER_WRITE || io.wbuf.len() >= FLUSH_AT)
            && io.write_now(&mut c.session)
        {
            (yielded, inputs) = (false, 0);
            continue;
        }
        io.arm(&mut c.session, None);
        let can_deliver = c.bound.is_some()
            && c.session.bind_mode().is_some()
            && c.session.has_room()
            && !draining;
        let read = !closed && io.rbuf.len() < BUFFER_CAP && io.wbuf.len() < FLUSH_AT;
        tokio::select! {
            biased;
            _ = shutdown.changed(), if !draining => {
                draining = true;
                if c.session.bind_mode().is_none() {
                    c.session.close_now();
                }
            }
            // A reload of the accounts: looked at at the top of the loop.
            Ok(()) = accounts_changed.changed(), if c.bound.is_some() => {}
            // Submissions and deliveries are bounded by the windows: taken even while output
            // waits, so that a client slow to read does not hold up the routing of its messages.
            (seq, request, outcome) = c.submissions.next(), if !c.submissions.is_empty() => {
                inputs = inputs.saturating_add(1);
                c.finish_ready(seq, request, outcome);
            }
            Some(job) = deliver_rx.recv(), if can_deliver => {
                inputs = inputs.saturating_add(1);
                c.deliver_ready(job, &mut deliver_rx);
            }
            Ok(slot) = c.receipt_slots.clone().acquire_owned(), if !c.receipts.is_empty() && !c.receives() => c.send_receipt(slot),
            // The stream and the session's timer (see `session_io`), last: the session's
            // deadlines (response timeouts, enquire_link, the linger) wait for the arms above,
            // each bounded by a window or finite once the session is closed.
            event = io.next(read) => {
                match &event {
                    IoEvent::Read(_) => inputs = inputs.saturating_add(1),
                    IoEvent::Written(_) => (yielded, inputs) = (false, 0),
                    _ => {}
                }
                io.apply(event, &mut c.session, now());
            }
        }
    }
    io.shutdown().await;
    c.release_answered();
    c.cleanup(&mut deliver_rx);
    c.detach_submissions();
    tracing::debug!(session = id, %peer, "connection closed");
}

impl Conn {
    fn new(
        shared: Arc<Shared>,
        peer: SocketAddr,
        crowded: bool,
        unbound: super::Unbound,
        deliver_tx: mpsc::Sender<DeliverJob>,
    ) -> Self {
        Self {
            id: shared.registry.next_session_id(),
            session: Session::new(shared.session_config(crowded), now()),
            shared,
            peer,
            bound: None,
            submissions: Submissions::default(),
            deliver_tx,
            deliveries: FastMap::default(),
            receipts: std::collections::VecDeque::new(),
            receipt_slots: Arc::new(tokio::sync::Semaphore::new(RECEIPT_BACKLOG)),
            local_receipts: FastMap::default(),
            answered: Vec::new(),
            accounts_seen: 0,
            unbound: Some(unbound),
        }
    }

    /// The start of a turn of the loop: the account's changes, the session's events, the unbind
    /// of a drain once nothing is owed, the router's own receipts for this session.
    async fn turn(&mut self, requests: &mut std::collections::VecDeque<Event>, draining: bool) {
        self.follow_account();
        self.on_events(requests).await;
        if draining && self.session.inbound_in_flight() == 0 && self.session.bind_mode().is_some() {
            let _ = self.session.unbind(now());
        }
        self.deliver_local_receipts();
    }

    /// Answers a finished submission, and those ready with it, so that they go out in one write.
    fn finish_ready(&mut self, seq: u32, request: CommandId, outcome: Outcome) {
        self.finish(seq, request, outcome);
        for _ in 1..BATCH {
            let Some((seq, request, outcome)) = self.submissions.ready() else {
                break;
            };
            self.finish(seq, request, outcome);
        }
    }

    /// Sends a delivery job, and those waiting with it while the window has room.
    fn deliver_ready(&mut self, job: DeliverJob, rx: &mut mpsc::Receiver<DeliverJob>) {
        self.deliver(job);
        for _ in 1..BATCH {
            if !self.session.has_room() {
                break;
            }
            let Ok(job) = rx.try_recv() else { break };
            self.deliver(job);
        }
    }

    /// Handles every event the session has. Answers to our `deliver_sm` go before the requests
    /// that came in the same read: a read can hold hundreds of `submit_sm`, and the receipt
    /// whose answer sits behind them would otherwise wait for all of them to be routed (the
    /// carrier is not answered until then, and its receipt window stays full).
    async fn on_events(&mut self, requests: &mut std::collections::VecDeque<Event>) {
        loop {
            while let Some(event) = self.session.poll_event() {
                match event {
                    Event::Response { .. } | Event::Timeout { .. } => self.on_event(event).await,
                    other => requests.push_back(other),
                }
            }
            let Some(event) = requests.pop_front() else {
                return;
            };
            self.on_event(event).await;
        }
    }

    async fn on_event(&mut self, event: Event) {
        match event {
            Event::BindRequest { mode, bind, .. } => {
                self.on_bind(mode, &bind.system_id, &bind.password).await
            }
            Event::Request(cmd) => self.on_request(cmd),
            Event::Response {
                request: CommandId::DELIVER_SM,
                command,
            } => self.on_deliver_answer(command.sequence_number, command.status),
            Event::Timeout {
                request: CommandId::DELIVER_SM,
                sequence_number,
            } => self.on_deliver_timeout(sequence_number),
            Event::Closed(reason) => {
                tracing::info!(session = self.id, peer = %self.peer, ?reason, "session closed");
            }
            Event::Stray {
                command_id,
                sequence_number,
                status,
            } => {
                tracing::debug!(session = self.id, %command_id, sequence_number, %status, "stray PDU dropped");
            }
            Event::Refused {
                command_id, status, ..
            } => {
                tracing::debug!(session = self.id, %command_id, %status, "request refused for the bind state");
            }
            _ => {}
        }
    }
}
