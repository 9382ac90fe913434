//! One connection: a task that owns the socket and an MC-role [`Session`], and does IO and
//! dispatch only. Each turn it hands the session's events to [`Conn`], moves new receipts to the
//! account's queue (one lock), takes the `deliver_sm`s due on this bind (one lock), writes all
//! the output in one write, then waits on whichever comes first: the write progressing, bytes to
//! read, a wake-up from the account's queue, or the earliest of the session's and the queue's
//! deadlines.

mod deliver;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::hub::{Account, Item, Kind, address};
use super::receipts::{IdBuf, format_id, unix_now};
use super::{Accepted, Knobs, Stats};
use smpp_router::session_io::{IoConfig, SessionIo, now};
use smpp_router::smpp::pdu::{Address, Bind, Command, Pdu, SmResp, error_response};
use smpp_router::smpp::session::{BindMode, Event, Session, SessionConfig};
use smpp_router::smpp::tlv::Sar;
use smpp_router::smpp::values::{MessageState, RegisteredDelivery};
use smpp_router::smpp::{CommandId, CommandStatus};

/// Read in chunks of this size.
const READ_CHUNK: usize = 64 * 1024;
/// Stop reading while this much output waits to be written: the peer is not reading.
const WBUF_CAP: usize = 1024 * 1024;
/// How long a closed session may spend flushing its last output.
const LINGER: Duration = Duration::from_secs(2);

/// What every connection of one server reads.
pub(super) struct Shared {
    pub knobs: Knobs,
    config: SessionConfig,
}

impl Shared {
    pub(super) fn new(knobs: Knobs) -> Self {
        let config = SessionConfig {
            interface_version: knobs.interface_version,
            window: knobs.deliver_window.max(1),
            inbound_window: knobs.window.max(1),
            response_timeout: knobs.response_timeout,
            enquire_link_interval: knobs.enquire_link_interval,
            // A carrier keeps quiet binds open (tyntec probes every 90 minutes).
            inactivity_timeout: None,
            max_session: None,
            ..SessionConfig::mc()
        };
        Self { knobs, config }
    }
}

fn chance(share: f64) -> bool {
    share > 0.0 && rand::random::<f64>() < share
}

async fn woken(rx: Option<&mut mpsc::Receiver<()>>) -> Option<()> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Serves one accepted connection until it closes.
pub(super) async fn run(tcp: TcpStream, shared: Arc<Shared>) {
    let (rd, wr) = tcp.into_split();
    let mut c = Conn::new(shared, now());
    let mut io = SessionIo::new(
        rd,
        wr,
        IoConfig {
            read_chunk: READ_CHUNK,
            linger: LINGER,
            ..IoConfig::default()
        },
    );
    loop {
        c.turn(now());
        io.take_output(&mut c.s);
        if io.finished(&c.s) {
            break;
        }
        let closed = c.s.is_closed();
        io.arm(&mut c.s, c.next_due);
        let read = !closed && io.wbuf.len() < WBUF_CAP;
        let listening = c.wake.is_some() && !closed;
        tokio::select! {
            event = io.next(read) => io.apply(event, &mut c.s, now()),
            w = woken(c.wake.as_mut()), if listening => {
                if w.is_none() {
                    c.wake = None;
                }
            }
        }
    }
    c.finish(now());
    if c.bound {
        c.stats()
            .bound_now
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
    io.shutdown().await;
}

/// A submit's fields that outlive its answer.
struct Submitted {
    source: Address,
    dest: Address,
    registered_delivery: RegisteredDelivery,
    part: Option<Sar>,
}

/// The connection's state apart from the socket.
struct Conn {
    /// Whether it bound (counted in `Stats::bound_now` until it closes).
    bound: bool,
    s: Session,
    shared: Arc<Shared>,
    /// This connection's number, for the account's list of receivers.
    id: u64,
    system_id: Bytes,
    account: Option<Arc<Account>>,
    /// Poked by the account's queue; set while bound as receiver or transceiver.
    wake: Option<mpsc::Receiver<()>>,
    /// Submits received on this connection.
    submits: usize,
    /// Items for the account's queue, moved there once per turn.
    outbox: Vec<(Instant, Item)>,
    /// Our `deliver_sm`s awaiting their response, by sequence number.
    in_flight: HashMap<u32, Item>,
    /// Scratch space for the items taken from the queue.
    batch: Vec<Item>,
    /// When the next queued item falls due, if this bind should wake for it.
    next_due: Option<Instant>,
}

impl Conn {
    fn new(shared: Arc<Shared>, now: Instant) -> Self {
        let s = Session::new(shared.config.clone(), now);
        let id = shared.knobs.control.next_conn();
        let window = shared.config.window.min(4096);
        Self {
            bound: false,
            s,
            shared,
            id,
            system_id: Bytes::new(),
            account: None,
            wake: None,
            submits: 0,
            outbox: Vec::new(),
            in_flight: HashMap::with_capacity(window),
            batch: Vec::with_capacity(window),
            next_due: None,
        }
    }

    fn knobs(&self) -> &Knobs {
        &self.shared.knobs
    }

    fn stats(&self) -> &Stats {
        &self.shared.knobs.stats
    }

    /// Handles the session's events and moves `deliver_sm`s between the queue and the wire.
    fn turn(&mut self, now: Instant) {
        while let Some(event) = self.s.poll_event() {
            self.on_event(now, event);
        }
        self.flush_outbox();
        self.deliver_due(now);
        self.flush_outbox();
    }

    fn on_event(&mut self, now: Instant, event: Event) {
        match event {
            Event::BindRequest { mode, bind, .. } => self.on_bind(now, mode, &bind),
            Event::Bound {
                mode, system_id, ..
            } => self.on_bound(now, mode, system_id),
            Event::Request(cmd) => self.on_request(now, cmd),
            Event::Response {
                request: CommandId::DELIVER_SM,
                command,
            } => {
                let ok = command.status.is_ok() && matches!(command.pdu, Pdu::DeliverSmResp(_));
                self.on_deliver_answer(now, command.sequence_number, ok);
            }
            Event::Timeout {
                request: CommandId::DELIVER_SM,
                sequence_number,
            } => self.on_deliver_answer(now, sequence_number, false),
            // No new deliver_sm after an unbind; those in flight may still be answered.
            Event::Unbound { by_peer } => {
                if by_peer {
                    Stats::count(&self.stats().unbinds);
                }
                self.leave_receivers();
            }
            Event::Closed(reason) => {
                tracing::debug!(conn = self.id, ?reason, "stand-in carrier: session closed");
            }
            _ => {}
        }
    }

    fn on_bind(&mut self, now: Instant, mode: BindMode, bind: &Bind) {
        let k = self.knobs();
        let mismatch =
            |want: &Option<String>, got: &[u8]| want.as_ref().is_some_and(|w| w.as_bytes() != got);
        let refusal = if k.reject_binds {
            Some(CommandStatus::RBINDFAIL)
        } else if mismatch(&k.system_id, &bind.system_id) {
            Some(CommandStatus::RINVSYSID)
        } else if mismatch(&k.password, &bind.password) {
            Some(CommandStatus::RINVPASWD)
        } else {
            None
        };
        match refusal {
            Some(status) => {
                Stats::count(&self.stats().bind_refusals);
                tracing::debug!(conn = self.id, mode = mode.as_str(), %status, "stand-in carrier: bind refused");
                self.s.reject_bind(status);
            }
            None => {
                let shared = self.shared.clone();
                let _ = self
                    .s
                    .accept_bind(now, shared.knobs.mc_system_id.as_bytes());
            }
        }
    }

    fn on_bound(&mut self, now: Instant, mode: BindMode, system_id: Bytes) {
        Stats::count(&self.stats().binds);
        self.stats().count_bound();
        self.bound = true;
        let account = self.knobs().control.account(&system_id);
        if mode.can_deliver() {
            self.wake = Some(account.register(self.id));
            for i in 0..self.knobs().mo_on_bind {
                let item = Item {
                    source: address("15555550100"),
                    dest: address("4000"),
                    kind: Kind::Mo {
                        text: Bytes::from(format!("MO {i}")),
                    },
                    attempts: 0,
                };
                self.outbox.push((now, item));
            }
        }
        self.system_id = system_id;
        self.account = Some(account);
    }

    fn on_request(&mut self, now: Instant, cmd: Command) {
        if self.s.is_closed() {
            return; // Dropped on purpose: what followed is never looked at.
        }
        let seq = cmd.sequence_number;
        match cmd.pdu {
            Pdu::SubmitSm(sm) => {
                let m = Submitted {
                    part: smpp_router::smpp::concat::part_of(&sm),
                    source: sm.source,
                    dest: sm.dest,
                    registered_delivery: sm.registered_delivery,
                };
                self.on_submit(now, seq, CommandId::SUBMIT_SM, m);
            }
            Pdu::DataSm(d) => {
                let m = Submitted {
                    part: d.tlvs.sar(),
                    source: d.source,
                    dest: d.dest,
                    registered_delivery: d.registered_delivery,
                };
                self.on_submit(now, seq, CommandId::DATA_SM, m);
            }
            other => {
                let id = other.command_id();
                let status = match id {
                    CommandId::QUERY_SM => CommandStatus::RQUERYFAIL,
                    CommandId::CANCEL_SM => CommandStatus::RCANCELFAIL,
                    CommandId::REPLACE_SM => CommandStatus::RREPLACEFAIL,
                    _ => CommandStatus::RINVCMDID,
                };
                self.answer(id, seq, status);
            }
        }
    }

    fn answer(&mut self, request: CommandId, seq: u32, status: CommandStatus) {
        if let Some(answer) = error_response(request, seq, status) {
            let _ = self.s.respond(answer);
        }
    }

    fn on_submit(&mut self, now: Instant, seq: u32, request: CommandId, m: Submitted) {
        let shared = self.shared.clone();
        let (k, stats) = (&shared.knobs, &shared.knobs.stats);
        Stats::count(&stats.submits);
        self.submits += 1;
        if k.drop_after == Some(self.submits) {
            Stats::count(&stats.dropped);
            tracing::debug!(conn = self.id, "stand-in carrier: dropping the connection");
            return self.s.close_now();
        }
        if chance(k.ignore_share) {
            return Stats::count(&stats.ignored);
        }
        if k.tps > 0 && self.account.as_ref().is_some_and(|a| !a.admit(k.tps, now)) {
            Stats::count(&stats.throttled);
            return self.answer(request, seq, CommandStatus::RTHROTTLED);
        }
        if chance(k.reject_share) || k.control.draining() {
            Stats::count(&stats.rejected);
            return self.answer(request, seq, CommandStatus::RSYSERR);
        }
        self.accept(now, seq, request, m);
    }

    /// Answers a submit with a fresh message id and schedules its receipt.
    fn accept(&mut self, now: Instant, seq: u32, request: CommandId, m: Submitted) {
        let shared = self.shared.clone();
        let (k, stats) = (&shared.knobs, &shared.knobs.stats);
        let n = k.control.next_message_id();
        let mut buf = IdBuf::default();
        let id = format_id(n, k.id_format, &mut buf);
        let body = SmResp::new(Bytes::copy_from_slice(id.as_bytes()));
        let pdu = if request == CommandId::DATA_SM {
            Pdu::DataSmResp(body)
        } else {
            Pdu::SubmitSmResp(body)
        };
        if self.s.respond(Command::new(seq, pdu)).is_err() {
            return;
        }
        Stats::count(&stats.accepted);
        if k.keep_messages > 0 {
            let text = |a: &Address| String::from_utf8_lossy(&a.addr).into_owned();
            let accepted = Accepted {
                id: id.to_string(),
                system_id: String::from_utf8_lossy(&self.system_id).into_owned(),
                source: text(&m.source),
                dest: text(&m.dest),
                registered_delivery: m.registered_delivery.0,
                submitted: std::time::SystemTime::now(),
                connection: self.id,
                part: m.part,
            };
            stats.keep(k.keep_messages, accepted);
        }
        let state = if chance(k.undeliv_share) {
            MessageState::UNDELIVERABLE
        } else {
            MessageState::DELIVERED
        };
        if m.registered_delivery
            .wants_receipt(state == MessageState::DELIVERED)
        {
            let item = Item {
                source: m.dest,
                dest: m.source,
                kind: Kind::Receipt {
                    id: n,
                    submitted: unix_now(),
                    state,
                },
                attempts: 0,
            };
            self.outbox.push((now + k.receipt_delay.draw(), item));
        }
    }
}
