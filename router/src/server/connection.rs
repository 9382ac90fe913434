//! One client connection: a task that owns the socket and the sans-IO [`Session`], and does
//! only IO and dispatch — reads feed the session, the session's output is written in batches,
//! binds are authorised, submissions go to the handler (many at once, answered as each
//! finishes), and `deliver_sm` jobs from the registry go out within the window.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use futures_util::FutureExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
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
use crate::quick_ack::{QuickAck, Unacked};
use crate::smpp::pdu::{Command, Pdu, SmResp, error_response};
use crate::smpp::session::{BindMode, Event, Session};
use crate::smpp::values::interface_version;
use crate::smpp::{CommandId, CommandStatus};

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

fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
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
    } = accepted;
    let (mut rd, mut wr) = tokio::io::split(io);
    let id = shared.registry.next_session_id();
    let session = Session::new(shared.session_config(crowded), now());
    let (deliver_tx, mut deliver_rx) = mpsc::channel(64);
    let mut c = Conn {
        shared,
        peer,
        id,
        session,
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
    };
    let mut rbuf = BytesMut::with_capacity(4 * 1024);
    let mut wbuf = BytesMut::with_capacity(4 * 1024);
    let mut draining = *shutdown.borrow();
    tracing::debug!(session = id, %peer, "connection opened");
    let mut requests = std::collections::VecDeque::new();
    let mut yielded = false;
    let mut inputs = 0;
    let mut unacked = Unacked::new(ack);
    let mut linger: Option<tokio::time::Instant> = None;
    let mut accounts_changed = c.shared.book.changes();
    loop {
        c.follow_account();
        c.on_events(&mut requests).await;
        if draining && c.session.inbound_in_flight() == 0 && c.session.bind_mode().is_some() {
            let _ = c.session.unbind(now());
        }
        c.deliver_local_receipts();
        c.session.poll_transmit(&mut wbuf);
        unacked.settle(!wbuf.is_empty());
        if wbuf.is_empty() {
            c.release_answered();
            inputs = 0;
        }
        let closed = c.session.is_closed();
        if closed {
            // Their answers can no longer go out, but the messages are routed all the same.
            c.detach_submissions();
            if wbuf.is_empty() {
                break;
            }
        }
        // Output is written once nothing else is ready: first the other tasks ready on this
        // worker run (carrier answers, store commits: the submissions they complete are taken
        // below and join this write), then every input ready now is taken (the `biased` order
        // below puts the write last). One `write` then carries many PDUs instead of one or two.
        // A connection kept busy writes anyway after `INPUTS_PER_WRITE` inputs or `FLUSH_AT`.
        if !wbuf.is_empty() && !yielded {
            yielded = true;
            tokio::task::yield_now().await;
            continue;
        }
        if !wbuf.is_empty()
            && (inputs >= INPUTS_PER_WRITE || wbuf.len() >= FLUSH_AT)
            && let Some(r) = wr.write_buf(&mut wbuf).now_or_never()
        {
            (yielded, inputs) = (false, 0);
            c.on_written(r, &mut wbuf);
            continue;
        }
        let deadline = if closed {
            Some(*linger.get_or_insert_with(|| tokio::time::Instant::now() + LINGER))
        } else {
            c.session.poll_timeout().map(tokio::time::Instant::from_std)
        };
        let can_deliver = c.bound.is_some()
            && c.session.bind_mode().is_some()
            && c.session.has_room()
            && !draining;
        tokio::select! {
            biased;
            _ = sleep_until(deadline), if deadline.is_some() => {
                if closed {
                    wbuf.clear(); // The peer stopped reading: give up flushing.
                } else {
                    c.session.handle_timeout(now());
                }
            }
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
                c.finish(seq, request, outcome);
                // Take the answers ready with it too, so that they go out in one write.
                for _ in 1..BATCH {
                    let Some((seq, request, outcome)) = c.submissions.ready() else { break };
                    c.finish(seq, request, outcome);
                }
            }
            Some(job) = deliver_rx.recv(), if can_deliver => {
                inputs = inputs.saturating_add(1);
                c.deliver(job);
                for _ in 1..BATCH {
                    if !c.session.has_room() {
                        break;
                    }
                    let Ok(job) = deliver_rx.try_recv() else { break };
                    c.deliver(job);
                }
            }
            Ok(slot) = c.receipt_slots.clone().acquire_owned(), if !c.receipts.is_empty() && !c.receives() => c.send_receipt(slot),
            r = rd.read_buf(&mut rbuf), if !closed && rbuf.len() < BUFFER_CAP && wbuf.len() < FLUSH_AT => {
                inputs = inputs.saturating_add(1);
                match r {
                    Ok(0) | Err(_) => c.session.handle_eof(),
                    Ok(_) => {
                        unacked.read();
                        c.session.handle_input(now(), &mut rbuf)
                    }
                }
            }
            r = wr.write_buf(&mut wbuf), if !wbuf.is_empty() => {
                (yielded, inputs) = (false, 0);
                c.on_written(r, &mut wbuf);
            }
        }
    }
    let _ = tokio::time::timeout(LINGER, wr.shutdown()).await;
    c.release_answered();
    c.cleanup(&mut deliver_rx);
    c.detach_submissions();
    tracing::debug!(session = id, %peer, "connection closed");
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

impl Conn {
    /// Lets the submissions still being routed finish on their own task: their answers will
    /// never be written, so their receipts need not wait for them (see `answers`), and a receipt
    /// the channel produced at once goes to the account's other sessions.
    fn detach_submissions(&mut self) {
        let submissions = std::mem::take(&mut self.submissions);
        if submissions.is_empty() {
            return;
        }
        let shared = self.shared.clone();
        let system_id = self.bound.as_ref().map(|(a, _)| a.system_id.clone());
        submissions.finish_detached(&self.shared.detached, move |(_, _, outcome)| {
            let Outcome::Accepted {
                message_id,
                receipt,
            } = outcome
            else {
                return;
            };
            shared.answered(crate::delivery::answers::key(&message_id));
            if let (Some(sm), Some(system_id)) = (receipt, system_id.clone()) {
                let shared = shared.clone();
                let working = shared.detached.enter();
                tokio::spawn(async move {
                    shared.deliver_receipt(&system_id, *sm).await;
                    drop(working);
                });
            }
        });
    }

    fn on_written(&mut self, r: std::io::Result<usize>, wbuf: &mut BytesMut) {
        if r.is_err() || matches!(r, Ok(0)) {
            self.session.handle_eof();
            wbuf.clear();
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
            } => {
                let seq = command.sequence_number;
                if let Some(reply) = self.deliveries.remove(&seq) {
                    let _ = reply.send(Ok(command.status));
                } else if let Some(sm) = self.local_receipts.remove(&seq) {
                    if command.status.is_ok() {
                        if let Some((account, _)) = &self.bound {
                            self.shared.metrics.delivery(&account.system_id, "direct");
                        }
                        return;
                    }
                    if DeliverError::Refused(command.status).is_final() {
                        // The client will never take it (ESME_RX_P_APPN / ESME_RX_R_APPN).
                        if let Some((account, _)) = &self.bound {
                            tracing::warn!(session = self.id, system_id = %account.system_id, status = %command.status, "the client refused a receipt for good; it is not offered again");
                            self.shared.metrics.delivery(&account.system_id, "refused");
                        }
                    } else {
                        self.hand_on(sm, true);
                    }
                }
            }
            Event::Timeout {
                request: CommandId::DELIVER_SM,
                sequence_number,
            } => {
                if let Some(reply) = self.deliveries.remove(&sequence_number) {
                    let _ = reply.send(Err(DeliverError::Timeout));
                } else if let Some(sm) = self.local_receipts.remove(&sequence_number) {
                    self.hand_on(sm, false);
                }
            }
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

    async fn on_bind(&mut self, mode: BindMode, system_id: &[u8], password: &[u8]) {
        let shared = self.shared.clone();
        let accounts = shared.book.accounts();
        let result = shared
            .guard
            .authorize(&accounts, system_id, password, mode, self.peer.ip(), now())
            .await;
        let account = match result {
            Ok(a) => a,
            Err(status) => {
                tracing::info!(session = self.id, peer = %self.peer, system_id = %String::from_utf8_lossy(system_id), %status, "bind refused");
                self.shared.metrics.bind(None, status.0);
                return self.session.reject_bind(status);
            }
        };
        let rt = shared.runtimes.get(&account);
        let info = SessionInfo {
            id: self.id,
            system_id: account.system_id.clone(),
            mode,
            peer: self.peer,
            thread: crate::shards::current(),
        };
        let max = account.max_binds as usize;
        if !shared
            .registry
            .register_within(info, self.deliver_tx.clone(), max)
        {
            tracing::info!(session = self.id, system_id = %account.system_id, "bind refused: too many binds");
            self.shared
                .metrics
                .bind(Some(&account.system_id), CommandStatus::RALYBND.0);
            return self.session.reject_bind(CommandStatus::RALYBND);
        }
        self.session.set_inbound_window(account.window as usize);
        if self
            .session
            .accept_bind(now(), shared.system_id.as_bytes())
            .is_err()
        {
            shared.registry.unregister(&account.system_id, self.id);
            return;
        }
        tracing::info!(session = self.id, peer = %self.peer, system_id = %account.system_id, mode = mode.as_str(), version = format_args!("{:#x}", self.session.interface_version()), "bound");
        self.shared.metrics.bind(Some(&account.system_id), 0);
        self.bound = Some((account, rt));
        self.unbound = None;
    }

    /// After a reload of the accounts: takes the account's new settings, or unbinds when the
    /// account is gone or this session would no longer be allowed to bind (password, address,
    /// bind mode). The client may bind again, and is checked against the new settings then.
    fn follow_account(&mut self) {
        let generation = self.shared.accounts_generation();
        if generation == self.accounts_seen {
            return;
        }
        self.accounts_seen = generation;
        let (Some((old, _)), Some(mode)) = (&self.bound, self.session.bind_mode()) else {
            return;
        };
        let accounts = self.shared.book.accounts();
        match accounts.get(&old.system_id) {
            Some(new)
                if new.password_hash == old.password_hash
                    && new.ip_allowed(self.peer.ip())
                    && new.mode_allowed(mode) =>
            {
                if !Arc::ptr_eq(new, old) {
                    self.session.set_inbound_window(new.window as usize);
                    // The account's TPS limiter (shared by its sessions) takes the new rate.
                    let rt = self.shared.runtimes.get(new);
                    self.bound = Some((new.clone(), rt));
                }
            }
            _ => {
                tracing::info!(session = self.id, system_id = %old.system_id, "the account was removed, or its password or allowed networks or bind modes changed: unbinding the session");
                let _ = self.session.unbind(now());
            }
        }
    }

    fn on_request(&mut self, cmd: Command) {
        let seq = cmd.sequence_number;
        // data_sm carries a message like submit_sm (its content in message_payload): it is
        // routed the same way and answered with data_sm_resp.
        let (sm, request) = match cmd.pdu {
            Pdu::SubmitSm(sm) => (sm, CommandId::SUBMIT_SM),
            Pdu::DataSm(d) => (d.into_sm(), CommandId::DATA_SM),
            other => return self.answer_unsupported(other.command_id(), seq),
        };
        let (Some((account, rt)), Some(_)) = (&self.bound, self.session.bind_mode()) else {
            // Not bound, or unbinding (the account changed under the session).
            return self.answer(seq, request, CommandStatus::RINVBNDSTS);
        };
        if !rt.allow() {
            self.shared.metrics.throttled(&account.system_id);
            return self.answer(seq, request, CommandStatus::RTHROTTLED);
        }
        let backlog = self.receipts.len()
            + self.local_receipts.len()
            + (RECEIPT_BACKLOG - self.receipt_slots.available_permits());
        if backlog >= RECEIPT_BACKLOG {
            tracing::debug!(
                queued = self.receipts.len(),
                local = self.local_receipts.len(),
                slots = self.receipt_slots.available_permits(),
                room = self.session.has_room(),
                in_flight = self.session.in_flight(),
                "receipt backlog full"
            );
            return self.answer(seq, request, CommandStatus::RMSGQFUL);
        }
        let checked = match validate::check(&sm, account, self.shared.max_message_len) {
            Ok(c) => c,
            Err(status) => {
                tracing::debug!(session = self.id, to = %Masked(&sm.dest.addr), %status, "submit_sm refused");
                self.shared.metrics.refused(&account.system_id, status.0);
                return self.answer(seq, request, status);
            }
        };
        let submission = Submission {
            account: account.clone(),
            session_id: self.id,
            sm,
            destination: checked.destination,
            sender: checked.sender,
            received_at: now(),
        };
        let mut fut = self.shared.handler.submit(submission);
        // A handler that answers at once (a cached decision, a refusal) is answered here; the
        // others are polled with the connection's other submissions.
        match (&mut fut).now_or_never() {
            Some(outcome) => self.finish(seq, request, outcome),
            None => self.submissions.push(seq, request, fut),
        }
    }

    /// Answers the client and hands any immediate receipt to the registry, which queues it
    /// behind this response.
    fn finish(&mut self, seq: u32, request: CommandId, outcome: Outcome) {
        match outcome {
            Outcome::Accepted {
                message_id,
                receipt,
            } => {
                let answered = crate::delivery::answers::key(&message_id);
                let body = SmResp::new(message_id);
                let pdu = if request == CommandId::DATA_SM {
                    Pdu::DataSmResp(body)
                } else {
                    Pdu::SubmitSmResp(body)
                };
                let resp = Command::new(seq, pdu);
                let _ = self.session.respond(resp);
                self.answered.push(answered);
                if let Some(sm) = receipt {
                    self.receipts.push_back(sm);
                }
            }
            Outcome::Rejected(status) => self.answer(seq, request, status),
        }
    }

    /// Whether this session itself can take receipts (a receiver or transceiver bind).
    fn receives(&self) -> bool {
        self.session.bind_mode().is_some_and(BindMode::can_deliver)
    }

    /// Sends waiting receipts on this session while its window has room: the common case of a
    /// transceiver client, without a task or a lock per receipt.
    fn deliver_local_receipts(&mut self) {
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
    fn hand_on(&self, sm: Box<crate::smpp::pdu::Sm>, refused: bool) {
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
    fn send_receipt(&mut self, slot: tokio::sync::OwnedSemaphorePermit) {
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

    fn answer(&mut self, seq: u32, request: CommandId, status: CommandStatus) {
        if let Some(resp) = error_response(request, seq, status) {
            let _ = self.session.respond(resp);
        }
    }

    /// The router accepts messages only as `submit_sm`; other operations get a clear refusal.
    fn answer_unsupported(&mut self, request: CommandId, seq: u32) {
        let status = match request {
            CommandId::QUERY_SM => CommandStatus::RQUERYFAIL,
            CommandId::CANCEL_SM => CommandStatus::RCANCELFAIL,
            CommandId::REPLACE_SM => CommandStatus::RREPLACEFAIL,
            _ if self.session.interface_version() >= interface_version::V50 => {
                CommandStatus::RPROHIBITED
            }
            _ => CommandStatus::RINVCMDID,
        };
        let answer = error_response(request, seq, status);
        if let Some(mut resp) = answer {
            // Only generic_nack may carry RINVCMDID for a known request in v3.4.
            if status == CommandStatus::RINVCMDID {
                resp.pdu = Pdu::GenericNack;
            }
            let _ = self.session.respond(resp);
        }
    }

    fn deliver(&mut self, job: DeliverJob) {
        match self.session.send(now(), Pdu::DeliverSm(job.sm)) {
            Ok(seq) => {
                self.deliveries.insert(seq, job.done);
            }
            Err(_) => {
                let _ = job.done.send(Err(DeliverError::Closed));
            }
        }
    }

    /// The answers queued so far are written: their receipts may go out on any session.
    fn release_answered(&mut self) {
        for key in self.answered.drain(..) {
            self.shared.answered(key);
        }
    }

    fn cleanup(&mut self, deliver_rx: &mut mpsc::Receiver<DeliverJob>) {
        if let Some((account, _)) = &self.bound {
            self.shared.registry.unregister(&account.system_id, self.id);
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
