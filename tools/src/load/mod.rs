//! `smpp-router load`: the load generator and benchmark driver.
//!
//! It binds `--sessions` ESME sessions (built on [`smpp_router::esme`]), sends `submit_sm` through
//! each with up to `--window` in flight, paced to `--rate` or as fast as the window allows,
//! acknowledges every `deliver_sm` and counts receipts, and reports throughput, statuses,
//! receipts and submit → `submit_sm_resp` latency ([`LoadReport`]). One task per session; each
//! message is a clone of one template (shared `Bytes`), so the generator stays cheap next to
//! the server it measures.

mod report;
mod worker;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use futures_util::future::join_all;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

pub use report::LoadReport;

use report::{Tally, Timing};
use smpp_router::esme::{self, TlsClientSettings};
use smpp_router::smpp::pdu::{Address, Bind, Sm};
use smpp_router::smpp::session::{BindMode, SessionConfig};
use smpp_router::smpp::tlv::{TlvsBuilder, tag};
use smpp_router::smpp::values::{RegisteredDelivery, data_coding, npi, ton};
use worker::{Limit, Plan, Shared, Wiring};

/// How many messages a run sends when neither `--count` nor `--duration` is given.
const DEFAULT_COUNT: u64 = 10_000;

/// The bind mode, as given on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LoadMode {
    /// bind_transmitter: submit only.
    Tx,
    /// bind_receiver: receive (and count) receipts only.
    Rx,
    /// bind_transceiver: both.
    Trx,
}

impl From<LoadMode> for BindMode {
    fn from(m: LoadMode) -> Self {
        match m {
            LoadMode::Tx => Self::Transmitter,
            LoadMode::Rx => Self::Receiver,
            LoadMode::Trx => Self::Transceiver,
        }
    }
}

/// Options of `smpp-router load`.
#[derive(Clone, Debug, clap::Args)]
pub struct LoadArgs {
    /// The MC to load, `host:port`.
    #[arg(long, default_value = "127.0.0.1:2775")]
    pub addr: String,
    /// Connect over TLS, verifying the server against --tls-ca.
    #[arg(long)]
    pub tls: bool,
    /// Connect over TLS and accept any server certificate (tests and local benchmarks only).
    #[arg(long)]
    pub tls_insecure: bool,
    /// PEM file of the CA certificates to trust with --tls.
    #[arg(long, value_name = "PEM")]
    pub tls_ca: Option<PathBuf>,
    /// The bind's system_id (default: the repository's demo account).
    #[arg(long, default_value = "demo")]
    pub system_id: String,
    /// The bind's password.
    #[arg(long, default_value = "demo")]
    pub password: String,
    /// Bind mode.
    #[arg(long, value_enum, default_value = "trx")]
    pub mode: LoadMode,
    /// Sessions to bind in parallel.
    #[arg(long, default_value_t = 1)]
    pub sessions: usize,
    /// Submits in flight per session.
    #[arg(long, default_value_t = 10)]
    pub window: usize,
    /// Messages to send over all sessions (default 10000; with --mode rx: receipts to wait for).
    #[arg(long, conflicts_with = "duration")]
    pub count: Option<u64>,
    /// Send for this long instead of a count (`10s`, `2m`).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Messages per second over all sessions; 0 sends as fast as the window allows.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// The destination number (international, digits).
    #[arg(long, default_value = "14155550000")]
    pub to: String,
    /// Add the message index to --to so that every message has its own destination.
    #[arg(long)]
    pub vary_to: bool,
    /// The sender: digits give TON 1 (international), anything else TON 5 (alphanumeric).
    #[arg(long)]
    pub from: Option<String>,
    /// The message text (non-ASCII text is sent as UCS-2).
    #[arg(long, default_value = "Your verification code is 482910")]
    pub text: String,
    /// registered_delivery of every submit (1: ask for a receipt).
    #[arg(long, default_value_t = 0)]
    pub registered_delivery: u8,
    /// After the last response, wait until receipts stop arriving for this long.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub wait_receipts: Duration,
    /// Append a line per answer (`S <status> <id>`), per submit without one (`N <why>`) and per
    /// receipt (`R <id> <stat>`) to this file; `bench/soak.sh` checks them.
    #[arg(long)]
    pub ledger: Option<std::path::PathBuf>,
}

impl LoadArgs {
    fn tls(&self) -> anyhow::Result<Option<TlsClientSettings>> {
        if self.tls_insecure {
            return Ok(Some(TlsClientSettings::insecure()?));
        }
        if !self.tls {
            return Ok(None);
        }
        let ca = self
            .tls_ca
            .as_deref()
            .context("--tls needs --tls-ca PEM (or use --tls-insecure)")?;
        Ok(Some(TlsClientSettings::with_ca_file(ca)?))
    }

    fn plan(&self, start: Instant) -> anyhow::Result<Plan> {
        anyhow::ensure!(self.sessions > 0, "--sessions must be at least 1");
        anyhow::ensure!(self.window > 0, "--window must be at least 1");
        let to = self.to.trim_start_matches('+');
        anyhow::ensure!(
            !to.is_empty() && to.len() <= 20 && to.bytes().all(|b| b.is_ascii_digit()),
            "--to must be a number of at most 20 digits"
        );
        let vary_to = match self.vary_to {
            true => Some(
                to.parse::<u64>()
                    .context("--to is too large for --vary-to")?,
            ),
            false => None,
        };
        let limit = match (self.count, self.duration) {
            (_, Some(d)) => Limit::Until(start + d),
            (n, None) => Limit::Count(n.unwrap_or(DEFAULT_COUNT)),
        };
        let registered_delivery = RegisteredDelivery(self.registered_delivery);
        Ok(Plan {
            template: self.template(to, registered_delivery)?,
            vary_to,
            limit,
            rate: self.rate as f64 / self.sessions as f64,
            window: self.window,
            wants_receipts: registered_delivery.wants_receipt(true),
        })
    }

    fn template(&self, to: &str, registered_delivery: RegisteredDelivery) -> anyhow::Result<Sm> {
        let source = match self.from.as_deref().map(|f| f.trim_start_matches('+')) {
            None | Some("") => Address::default(),
            Some(f) if f.bytes().all(|b| b.is_ascii_digit()) => {
                Address::new(ton::INTERNATIONAL, npi::ISDN, f)
            }
            Some(f) => Address::new(ton::ALPHANUMERIC, npi::UNKNOWN, f),
        };
        let (coding, body) = if self.text.is_ascii() {
            (data_coding::DEFAULT, Bytes::from(self.text.clone()))
        } else {
            let ucs2: Vec<u8> = self
                .text
                .encode_utf16()
                .flat_map(u16::to_be_bytes)
                .collect();
            (data_coding::UCS2, Bytes::from(ucs2))
        };
        anyhow::ensure!(body.len() <= 65_000, "--text is too long");
        let mut sm = Sm {
            source,
            dest: Address::new(ton::INTERNATIONAL, npi::ISDN, to),
            registered_delivery,
            data_coding: coding,
            ..Sm::default()
        };
        if body.len() <= 255 {
            sm.short_message = body;
        } else {
            sm.tlvs = TlvsBuilder::new().push(tag::MESSAGE_PAYLOAD, &body).build();
        }
        Ok(sm)
    }

    fn session_config(&self) -> SessionConfig {
        SessionConfig {
            window: self.window,
            // Receipts come in bursts; they are acknowledged at once, never queued for long.
            inbound_window: self.window.max(256),
            ..SessionConfig::esme()
        }
    }
}

/// Runs the load described by `args` and reports what it measured.
pub async fn run(args: LoadArgs) -> anyhow::Result<LoadReport> {
    let tls = args.tls()?;
    let mut plan = args.plan(Instant::now())?;
    let mode = BindMode::from(args.mode);
    let bind = Bind {
        system_id: Bytes::from(args.system_id.clone()),
        password: Bytes::from(args.password.clone()),
        ..Bind::default()
    };
    let config = args.session_config();
    let binds = (0..args.sessions)
        .map(|_| esme::connect(&args.addr, tls.clone(), mode, bind.clone(), config.clone()));
    let mut sessions = Vec::with_capacity(args.sessions);
    for (i, bound) in join_all(binds).await.into_iter().enumerate() {
        sessions.push(bound.with_context(|| format!("session {i} to {}", args.addr))?);
    }

    let t0 = Instant::now();
    if let Limit::Until(_) = plan.limit {
        plan.limit = Limit::Until(t0 + args.duration.unwrap_or_default());
    }
    let plan = Arc::new(plan);
    let ledger = match &args.ledger {
        Some(path) => Some(
            worker::Ledger::open(path)
                .with_context(|| format!("cannot open the ledger {}", path.display()))?,
        ),
        None => None,
    };
    let shared = Arc::new(Shared::new(t0, ledger));
    let (done_tx, mut done_rx) = mpsc::channel(args.sessions);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut handles = Vec::with_capacity(args.sessions);
    for (esme, events) in sessions {
        let wiring = Wiring {
            plan: plan.clone(),
            shared: shared.clone(),
            done: done_tx.clone(),
            stop: stop_rx.clone(),
            submits: mode.can_submit(),
        };
        handles.push(esme.clone());
        tasks.spawn(worker::run(esme, events, wiring, Tally::new()?));
    }
    drop(done_tx);
    for _ in 0..args.sessions {
        if done_rx.recv().await.is_none() {
            break;
        }
    }
    let elapsed = t0.elapsed();
    wait_for_receipts(&args, &plan, &shared).await;
    let _ = stop_tx.send(true);

    let mut total = Tally::new()?;
    while let Some(tally) = tasks.join_next().await {
        total.merge(tally.context("a session task failed")?);
    }
    join_all(
        handles
            .iter()
            .map(|h| tokio::time::timeout(Duration::from_secs(2), h.unbind())),
    )
    .await;
    if let Some(ledger) = &shared.ledger {
        ledger.flush();
    }
    let timing = Timing {
        sessions: args.sessions,
        window: args.window,
        elapsed,
        receipts: shared.receipts.load(Ordering::Relaxed),
        receipts_expected: shared.expected.load(Ordering::Relaxed),
        receipts_elapsed: Duration::from_micros(shared.last_receipt_us.load(Ordering::Relaxed)),
    };
    Ok(LoadReport::new(total, timing))
}

/// Waits for receipts: in `trx` mode until every expected one came, in `rx` mode until
/// `--count` came or `--duration` passed; either way giving up once none has arrived for
/// `--wait-receipts`.
async fn wait_for_receipts(args: &LoadArgs, plan: &Plan, shared: &Shared) {
    let (target, end) = match (args.mode, plan.limit) {
        (LoadMode::Tx, _) => return,
        (LoadMode::Trx, _) if !plan.wants_receipts => return,
        (LoadMode::Trx, _) => (Some(shared.expected.load(Ordering::Relaxed)), None),
        (LoadMode::Rx, Limit::Count(n)) => (Some(n), None),
        (LoadMode::Rx, Limit::Until(end)) => (None, Some(end)),
    };
    let mut seen = shared.receipts.load(Ordering::Relaxed);
    let mut quiet_since = Instant::now();
    loop {
        let now = Instant::now();
        let got = shared.receipts.load(Ordering::Relaxed);
        if target.is_some_and(|t| got >= t) || end.is_some_and(|e| now >= e) {
            return;
        }
        if got != seen {
            seen = got;
            quiet_since = now;
        } else if end.is_none() && now.duration_since(quiet_since) >= args.wait_receipts {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
