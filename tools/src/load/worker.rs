//! One task per session: keeps the window full (or paced to the rate), times every submit,
//! and acknowledges whatever the MC delivers, counting receipts.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::{mpsc, watch};

use super::report::Tally;
use smpp_router::esme::{EsmeEvent, EsmeEvents, EsmeHandle, InboundRequest, SubmitError};
use smpp_router::smpp::pdu::Sm;
use smpp_router::smpp::{Command, CommandStatus, Pdu};

/// When the run stops sending.
#[derive(Clone, Copy, Debug)]
pub(super) enum Limit {
    /// After this many messages over all sessions.
    Count(u64),
    /// At this instant.
    Until(Instant),
}

/// What every session sends, fixed for the run.
pub(super) struct Plan {
    /// The message; each submit is a clone (shared `Bytes`, no copy).
    pub template: Sm,
    /// Add the message index to this number for the destination.
    pub vary_to: Option<u64>,
    pub limit: Limit,
    /// Messages per second per session; 0 for as fast as the window allows.
    pub rate: f64,
    pub window: usize,
    /// Whether an accepted submit asks for a receipt.
    pub wants_receipts: bool,
}

impl Plan {
    fn message(&self, index: u64) -> Pdu {
        let mut sm = self.template.clone();
        if let Some(base) = self.vary_to {
            sm.dest.addr = base.saturating_add(index).to_string().into();
        }
        Pdu::SubmitSm(sm)
    }

    /// The index of the next message to send, if the run is not over.
    fn take_index(&self, shared: &Shared) -> Option<u64> {
        match self.limit {
            Limit::Count(n) => {
                let i = shared.next.fetch_add(1, Ordering::Relaxed);
                (i < n).then_some(i)
            }
            Limit::Until(end) => {
                (Instant::now() < end).then(|| shared.next.fetch_add(1, Ordering::Relaxed))
            }
        }
    }

    /// When the next message of a session that started at `start` and sent `sent` may go, if
    /// not now.
    fn pace(&self, start: Instant, sent: u64) -> Option<Instant> {
        if self.rate <= 0.0 {
            return None;
        }
        let due = start + Duration::from_secs_f64(sent as f64 / self.rate);
        (due > Instant::now()).then_some(due)
    }
}

/// Counters shared by all sessions.
pub(super) struct Shared {
    /// Where every answer and receipt is written, one line each, when asked (`--ledger`).
    pub ledger: Option<Ledger>,
    /// The next message index.
    pub next: AtomicU64,
    pub receipts: AtomicU64,
    /// Accepted submits that asked for a receipt.
    pub expected: AtomicU64,
    /// When the last receipt came, in µs after `t0`.
    pub last_receipt_us: AtomicU64,
    pub t0: Instant,
}

impl Shared {
    pub fn new(t0: Instant, ledger: Option<Ledger>) -> Self {
        Self {
            ledger,
            next: AtomicU64::new(0),
            receipts: AtomicU64::new(0),
            expected: AtomicU64::new(0),
            last_receipt_us: AtomicU64::new(0),
            t0,
        }
    }
}

/// How a worker is wired to the run.
pub(super) struct Wiring {
    pub plan: Arc<Plan>,
    pub shared: Arc<Shared>,
    /// Told once this session has nothing more to send and nothing in flight.
    pub done: mpsc::Sender<()>,
    /// Set when the run ends.
    pub stop: watch::Receiver<bool>,
    /// Whether this session submits (not on a receiver bind).
    pub submits: bool,
}

async fn timed(esme: &EsmeHandle, pdu: Pdu) -> (Result<Command, SubmitError>, Instant) {
    let started = Instant::now();
    (esme.submit(pdu).await, started)
}

/// Runs one session until the run stops; returns its counts.
pub(super) async fn run(
    esme: EsmeHandle,
    mut events: EsmeEvents,
    w: Wiring,
    mut tally: Tally,
) -> Tally {
    let Wiring {
        plan,
        shared,
        done,
        mut stop,
        submits,
    } = w;
    let mut in_flight = FuturesUnordered::new();
    let mut issuing = submits;
    let mut events_open = true;
    let mut told_done = false;
    let start = Instant::now();
    loop {
        let mut pace = None;
        while issuing && in_flight.len() < plan.window {
            if esme.is_closed() {
                issuing = false;
            } else if let Some(due) = plan.pace(start, tally.sent) {
                pace = Some(tokio::time::Instant::from_std(due));
                break;
            } else if let Some(i) = plan.take_index(&shared) {
                in_flight.push(timed(&esme, plan.message(i)));
                tally.sent += 1;
            } else {
                issuing = false;
            }
        }
        if !issuing && in_flight.is_empty() && !told_done {
            told_done = true;
            let _ = done.try_send(());
        }
        tokio::select! {
            Some((result, started)) = in_flight.next(), if !in_flight.is_empty() => {
                let status = tally.record(&result, started);
                if let Some(ledger) = &shared.ledger {
                    ledger.answer(&result);
                }
                if plan.wants_receipts && status == Some(CommandStatus::ROK) {
                    shared.expected.fetch_add(1, Ordering::Relaxed);
                }
            }
            ev = events.recv(), if events_open => match ev {
                Some(EsmeEvent::Request(req)) => on_request(req, &shared).await,
                Some(EsmeEvent::Refused { .. }) => {}
                Some(EsmeEvent::Closed(_)) | None => events_open = false,
            },
            () = sleep_until(pace), if pace.is_some() => {}
            _ = stopped(&mut stop) => break,
        }
    }
    tally
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not Send: drop it here, not across the select.
    let _ = stop.wait_for(|s| *s).await.map(|_| ());
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Counts a receipt and acknowledges every request with `ESME_ROK`.
async fn on_request(req: InboundRequest, shared: &Shared) {
    if let Pdu::DeliverSm(sm) = &req.command.pdu
        && sm.esm_class.is_receipt()
    {
        if let Some(ledger) = &shared.ledger {
            ledger.receipt(sm);
        }
        shared.receipts.fetch_add(1, Ordering::Relaxed);
        let us = u64::try_from(shared.t0.elapsed().as_micros()).unwrap_or(u64::MAX);
        shared.last_receipt_us.fetch_max(us, Ordering::Relaxed);
    }
    let _ = req.reply.ack(CommandStatus::ROK).await;
}

/// The soak ledger: `S <status> <id>` per answer, `N <why>` per submit without one,
/// `R <id> <stat>` per receipt (written before it is acknowledged).
pub(super) struct Ledger(std::sync::Mutex<std::io::BufWriter<std::fs::File>>);

impl Ledger {
    /// Appends to `path`.
    pub fn open(path: &std::path::Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Self(std::sync::Mutex::new(std::io::BufWriter::new(file))))
    }

    fn line(&self, args: std::fmt::Arguments<'_>) {
        use std::io::Write as _;
        if let Ok(mut w) = self.0.lock() {
            let _ = w.write_fmt(args);
        }
    }

    fn answer(&self, result: &Result<Command, SubmitError>) {
        match result {
            Ok(resp) => {
                let id = match &resp.pdu {
                    Pdu::SubmitSmResp(r) if !r.message_id.is_empty() => {
                        String::from_utf8_lossy(&r.message_id).into_owned()
                    }
                    _ => "-".into(),
                };
                self.line(format_args!("S {:08X} {id}\n", resp.status.0));
            }
            Err(e) => self.line(format_args!("N {e:?}\n")),
        }
    }

    fn receipt(&self, sm: &smpp_router::smpp::pdu::Sm) {
        let text = String::from_utf8_lossy(&sm.short_message);
        let parsed = smpp_router::smpp::receipt::parse(&text);
        let id = sm
            .tlvs
            .receipted_message_id()
            .map(|b| {
                String::from_utf8_lossy(b)
                    .trim_end_matches('\0')
                    .to_string()
            })
            .or_else(|| parsed.id.map(str::to_string))
            .unwrap_or_else(|| "-".into());
        let stat = text
            .split_whitespace()
            .find_map(|w| w.strip_prefix("stat:"))
            .unwrap_or("-")
            .to_string();
        self.line(format_args!("R {id} {stat}\n"));
    }

    /// Writes what is buffered.
    pub fn flush(&self) {
        use std::io::Write as _;
        if let Ok(mut w) = self.0.lock() {
            let _ = w.flush();
        }
    }
}
