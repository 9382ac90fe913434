//! A stand-in SMS carrier SMSC (`smpp-router sim carrier --listen ADDR`): the MC side of SMPP
//! that the router's carrier channel binds to, modelled on tyntec's interface (seed 000) — the
//! peer of the end-to-end tests and the benchmarks.
//!
//! - Binds as transmitter, receiver or transceiver, with optional credentials, v3.4 or v5.0.
//! - Answers `submit_sm` and `data_sm` with a fresh carrier message id (lowercase hex or
//!   decimal), subject to a per-account rate limit (`ESME_RTHROTTLED` beyond it).
//! - Sends a delivery receipt (`deliver_sm`, esm_class 0x04, `receipted_message_id` and
//!   `message_state` TLVs, the usual `id:… stat:…` text) after a delay, for every submit that
//!   asks for one, on **any** receiver or transceiver bind of the same `system_id` — as tyntec
//!   does on the receiver of a tx+rx pair. Receipts wait for such a bind, and are resent until a
//!   `deliver_sm_resp` with status 0 comes (at least once), up to a bound on those queued.
//! - Faults for tests: refused binds, connections dropped on the n-th submit, submits never
//!   answered or answered `ESME_RSYSERR`, and mobile-originated messages on demand.
//!
//! Everything is counted in [`Stats`]; [`Control`] injects MOs and shows what is queued.
//! Each connection is one task around the sans-IO [`Session`](smpp_router::smpp::session::Session):
//! all its output goes out in one write per turn, and the receipts due on it are timed by one
//! timer, not a task per message.

mod hub;
mod receipts;
mod session;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use crate::sim::otpblue::Latency;
pub use hub::Control;

use smpp_router::smpp::values::interface_version;

/// How carrier message ids look.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum IdFormat {
    /// Lowercase hex, e.g. `1a2b3c4d5e`.
    #[default]
    Hex,
    /// Decimal digits, e.g. `112568516958`.
    Decimal,
    /// 32 hex digits in no order, e.g. `a29f6845555647139e5c8f3b817f2c9a`, as carriers that hand
    /// out UUID-like ids do (a scramble of a counter, so still unique).
    Random,
}

/// Where a receipt's fields go.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ReceiptForm {
    /// The text in `short_message`, with the `receipted_message_id` and `message_state` TLVs.
    #[default]
    Tlv,
    /// The text in `short_message` and no TLVs: the id is only in the text.
    Text,
    /// The text in `message_payload` (`short_message` empty) and no other TLV.
    Payload,
}

/// What the stand-in does.
#[derive(Clone, Debug)]
pub struct Knobs {
    /// The only `system_id` accepted (`ESME_RINVSYSID` otherwise); `None` accepts any.
    pub system_id: Option<String>,
    /// The only password accepted (`ESME_RINVPASWD` otherwise); `None` accepts any.
    pub password: Option<String>,
    /// Refuse every bind with `ESME_RBINDFAIL`.
    pub reject_binds: bool,
    /// The `system_id` the stand-in answers binds with.
    pub mc_system_id: String,
    /// The highest interface version it speaks (`0x34` like tyntec, or `0x50`); a client asking
    /// for more gets this one, a v3.3 client gets no TLVs.
    pub interface_version: u8,
    /// How message ids look.
    pub id_format: IdFormat,
    /// Where a receipt's fields go.
    pub receipt_form: ReceiptForm,
    /// Delay between the `submit_sm_resp` and the receipt.
    pub receipt_delay: Latency,
    /// Share of messages whose receipt says `UNDELIV` (the rest `DELIVRD`), 0.0–1.0.
    pub undeliv_share: f64,
    /// Submits a second per `system_id` beyond which it answers `ESME_RTHROTTLED`; 0 = no limit.
    pub tps: u32,
    /// Submits per connection that may await an answer (beyond: `ESME_RMSGQFUL`).
    pub window: usize,
    /// `deliver_sm`s per connection that may await a `deliver_sm_resp`.
    pub deliver_window: usize,
    /// How long a `deliver_sm` waits for its response before it is resent.
    pub response_timeout: Duration,
    /// Delay before resending a `deliver_sm` answered with an error.
    pub retry_delay: Duration,
    /// `deliver_sm`s queued per `system_id` (waiting, due or to resend) beyond which new
    /// receipts are discarded.
    pub max_pending: usize,
    /// Send `enquire_link` after this long without traffic; `None`: never.
    pub enquire_link_interval: Option<Duration>,
    /// Close the connection, unanswered, on its n-th submit.
    pub drop_after: Option<usize>,
    /// Share of submits never answered.
    pub ignore_share: f64,
    /// Share of submits answered `ESME_RSYSERR`.
    pub reject_share: f64,
    /// Mobile-originated messages queued for the account on every receiver/transceiver bind.
    pub mo_on_bind: usize,
    /// Accepted messages kept for [`Stats::messages`] (the most recent); 0 keeps none.
    pub keep_messages: usize,
    /// The counters; clone the `Arc` before starting to read them.
    pub stats: Arc<Stats>,
    /// Shared state and injection; clone the `Arc` before starting to use it.
    pub control: Arc<Control>,
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            system_id: None,
            password: None,
            reject_binds: false,
            mc_system_id: "sim-carrier".into(),
            interface_version: interface_version::V34,
            id_format: IdFormat::Hex,
            receipt_form: ReceiptForm::Tlv,
            receipt_delay: Latency::default(),
            undeliv_share: 0.0,
            tps: 0,
            window: 1000,
            deliver_window: 100,
            response_timeout: Duration::from_secs(10),
            retry_delay: Duration::from_secs(1),
            max_pending: 200_000,
            enquire_link_interval: None,
            drop_after: None,
            ignore_share: 0.0,
            reject_share: 0.0,
            mo_on_bind: 0,
            keep_messages: 0,
            stats: Arc::default(),
            control: Arc::default(),
        }
    }
}

/// A message the stand-in accepted (kept when [`Knobs::keep_messages`] allows).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The carrier message id given in the answer.
    pub id: String,
    /// The submitting bind's `system_id`.
    pub system_id: String,
    /// `source_addr`.
    pub source: String,
    /// `destination_addr`.
    pub dest: String,
    /// `registered_delivery`.
    pub registered_delivery: u8,
    /// When it was accepted.
    pub submitted: SystemTime,
    /// The connection (bind) it came over, numbered from 1 in the order they opened.
    pub connection: u64,
    /// Which part of a concatenated message it is, if one (UDH or SAR).
    pub part: Option<smpp_router::smpp::tlv::Sar>,
}

/// What the stand-in saw and did.
#[derive(Debug, Default)]
pub struct Stats {
    connections: AtomicU64,
    binds: AtomicU64,
    bound_now: AtomicU64,
    bound_most: AtomicU64,
    bind_refusals: AtomicU64,
    unbinds: AtomicU64,
    submits: AtomicU64,
    accepted: AtomicU64,
    throttled: AtomicU64,
    rejected: AtomicU64,
    ignored: AtomicU64,
    dropped: AtomicU64,
    receipts_sent: AtomicU64,
    receipts_acked: AtomicU64,
    receipts_retried: AtomicU64,
    receipts_discarded: AtomicU64,
    mo_sent: AtomicU64,
    mo_acked: AtomicU64,
    messages: Mutex<VecDeque<Accepted>>,
}

macro_rules! counters {
    ($($name:ident: $doc:literal,)*) => {
        impl Stats {
            $(#[doc = $doc] pub fn $name(&self) -> u64 { self.$name.load(Ordering::Relaxed) })*
        }
    };
}

counters! {
    connections: "TCP connections accepted.",
    binds: "Binds accepted (any mode).",
    bound_now: "Sessions bound now.",
    bound_most: "The most sessions bound at once so far.",
    bind_refusals: "Binds refused (credentials or `reject_binds`).",
    unbinds: "`unbind`s from the client, answered.",
    submits: "`submit_sm` and `data_sm` received, whatever became of them.",
    accepted: "Submits answered with a message id.",
    throttled: "Submits answered `ESME_RTHROTTLED`.",
    rejected: "Submits answered `ESME_RSYSERR` on purpose.",
    ignored: "Submits left unanswered on purpose.",
    dropped: "Connections closed on purpose (`drop_after`).",
    receipts_sent: "Receipt `deliver_sm`s written, resends included.",
    receipts_acked: "Receipts answered with a successful `deliver_sm_resp`.",
    receipts_retried: "Receipts to send again: answered with an error, unanswered in time, or \
                       in flight when their connection closed.",
    receipts_discarded: "Receipts discarded: the account's queue was full, or unencodable.",
    mo_sent: "Mobile-originated `deliver_sm`s written, resends included.",
    mo_acked: "Mobile-originated messages answered with a successful `deliver_sm_resp`.",
}

impl Stats {
    /// Counts a session that bound in `bound_now` and `bound_most`.
    fn count_bound(&self) {
        let now = self.bound_now.fetch_add(1, Ordering::Relaxed) + 1;
        self.bound_most.fetch_max(now, Ordering::Relaxed);
    }

    /// The most recent accepted messages, oldest first (see [`Knobs::keep_messages`]).
    pub fn messages(&self) -> Vec<Accepted> {
        self.messages
            .lock()
            .map(|m| m.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The counters on one line (printed on `SIGUSR1`).
    pub fn summary(&self) -> String {
        format!(
            "stand-in carrier: submits {} accepted {} throttled {} rejected {} ignored {} dropped {}; receipts sent {} acked {} retried {} discarded {}; mo sent {} acked {}",
            self.submits(),
            self.accepted(),
            self.throttled(),
            self.rejected(),
            self.ignored(),
            self.dropped(),
            self.receipts_sent(),
            self.receipts_acked(),
            self.receipts_retried(),
            self.receipts_discarded(),
            self.mo_sent(),
            self.mo_acked(),
        )
    }

    /// The ids of [`Stats::messages`].
    pub fn ids(&self) -> Vec<String> {
        self.messages
            .lock()
            .map(|m| m.iter().map(|a| a.id.clone()).collect())
            .unwrap_or_default()
    }

    fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn keep(&self, max: usize, message: Accepted) {
        if let Ok(mut m) = self.messages.lock() {
            while m.len() >= max {
                m.pop_front();
            }
            m.push_back(message);
        }
    }
}

/// Parses an interface version: `0x34`, `34`, `3.4`, `0x50`, `50`, `5.0`, …
pub fn parse_interface_version(s: &str) -> Result<u8, String> {
    let s = s.trim();
    let digits = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .map_or_else(|| s.replace('.', ""), str::to_string);
    match u8::from_str_radix(&digits, 16) {
        Ok(v) if (0x33..=0x50).contains(&v) => Ok(v),
        _ => Err(format!(
            "interface version `{s}`: expected 0x33, 0x34 or 0x50"
        )),
    }
}

/// `smpp-router sim carrier`: the stand-in carrier SMSC.
#[derive(clap::Args, Clone, Debug)]
pub struct CarrierArgs {
    /// Address to listen on (not the router's 2775, nor the 2875 of the stand-in `router.toml`
    /// starts in-process).
    #[arg(long, default_value = "127.0.0.1:2885")]
    pub listen: SocketAddr,
    /// The only system_id accepted (default: any).
    #[arg(long)]
    pub system_id: Option<String>,
    /// The only password accepted (default: any).
    #[arg(long)]
    pub password: Option<String>,
    /// Refuse every bind with ESME_RBINDFAIL.
    #[arg(long)]
    pub reject_binds: bool,
    /// The system_id it answers binds with.
    #[arg(long, default_value = "sim-carrier")]
    pub mc_system_id: String,
    /// The highest interface version it speaks: 0x34 or 0x50.
    #[arg(long, default_value = "0x34", value_parser = parse_interface_version)]
    pub interface_version: u8,
    /// How message ids look.
    #[arg(long, value_enum, default_value_t = IdFormat::Hex)]
    pub id_format: IdFormat,
    /// Where a receipt's fields go: tlv (text plus receipted_message_id and message_state),
    /// text (the text alone), payload (the text alone, in message_payload).
    #[arg(long, value_enum, default_value_t = ReceiptForm::Tlv)]
    pub receipt_form: ReceiptForm,
    /// Delay before a receipt: fixed ("2s") or a uniform range ("500ms..3s").
    #[arg(long, default_value = "0ms")]
    pub receipt_delay: Latency,
    /// Share of receipts saying UNDELIV (the rest DELIVRD), 0.0–1.0.
    #[arg(long, default_value_t = 0.0)]
    pub undeliv_share: f64,
    /// Submits a second per system_id beyond which it answers ESME_RTHROTTLED; 0 = no limit.
    #[arg(long, default_value_t = 0)]
    pub tps: u32,
    /// Submits per connection that may await an answer.
    #[arg(long, default_value_t = 1000)]
    pub window: usize,
    /// deliver_sm per connection that may await a deliver_sm_resp.
    #[arg(long, default_value_t = 100)]
    pub deliver_window: usize,
    /// How long a deliver_sm waits for its response before it is resent.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub response_timeout: Duration,
    /// Delay before resending a deliver_sm answered with an error.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub retry_delay: Duration,
    /// deliver_sm queued per system_id beyond which new receipts are discarded.
    #[arg(long, default_value_t = 200_000)]
    pub max_pending: usize,
    /// Send enquire_link after this long without traffic (default: never).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub enquire_link_interval: Option<Duration>,
    /// Close the connection, unanswered, on its n-th submit.
    #[arg(long)]
    pub drop_after: Option<usize>,
    /// Share of submits never answered.
    #[arg(long, default_value_t = 0.0)]
    pub ignore_share: f64,
    /// Share of submits answered ESME_RSYSERR.
    #[arg(long, default_value_t = 0.0)]
    pub reject_share: f64,
    /// Mobile-originated messages sent after every receiver/transceiver bind.
    #[arg(long, default_value_t = 0)]
    pub mo_on_bind: usize,
}

impl CarrierArgs {
    /// The knobs these arguments describe, checked.
    pub fn knobs(&self) -> anyhow::Result<Knobs> {
        for (name, v) in [
            ("--undeliv-share", self.undeliv_share),
            ("--ignore-share", self.ignore_share),
            ("--reject-share", self.reject_share),
        ] {
            anyhow::ensure!(
                (0.0..=1.0).contains(&v),
                "{name} {v} is not between 0 and 1"
            );
        }
        anyhow::ensure!(self.window > 0, "--window must be at least 1");
        anyhow::ensure!(
            self.deliver_window > 0,
            "--deliver-window must be at least 1"
        );
        anyhow::ensure!(self.drop_after != Some(0), "--drop-after counts from 1");
        Ok(Knobs {
            system_id: self.system_id.clone(),
            password: self.password.clone(),
            reject_binds: self.reject_binds,
            mc_system_id: self.mc_system_id.clone(),
            interface_version: self.interface_version,
            id_format: self.id_format,
            receipt_form: self.receipt_form,
            receipt_delay: self.receipt_delay,
            undeliv_share: self.undeliv_share,
            tps: self.tps,
            window: self.window,
            deliver_window: self.deliver_window,
            response_timeout: self.response_timeout,
            retry_delay: self.retry_delay,
            max_pending: self.max_pending,
            enquire_link_interval: self.enquire_link_interval,
            drop_after: self.drop_after,
            ignore_share: self.ignore_share,
            reject_share: self.reject_share,
            mo_on_bind: self.mo_on_bind,
            keep_messages: 0,
            stats: Arc::default(),
            control: Arc::default(),
        })
    }

    /// Binds `--listen` and serves until the process ends. SIGTERM drains: submits are refused
    /// (`ESME_RSYSERR`) while the receipts owed go out, then the process exits (within 30 s);
    /// SIGINT and SIGKILL stop at once.
    pub async fn run(&self) -> anyhow::Result<()> {
        let knobs = self.knobs()?;
        let control = knobs.control.clone();
        let listener = TcpListener::bind(self.listen)
            .await
            .with_context(|| format!("cannot listen on {}", self.listen))?;
        println!("smpp-router: stand-in carrier SMSC on {}", self.listen);
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let stats = knobs.stats.clone();
        let mut usr1 =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())?;
        tokio::spawn(async move {
            while usr1.recv().await.is_some() {
                println!("{}", stats.summary());
            }
        });
        tokio::select! {
            served = serve(listener, knobs) => served,
            _ = term.recv() => {
                control.drain();
                tracing::info!(pending = control.pending_total(), "stand-in carrier: SIGTERM, sending what is owed before stopping");
                let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
                while control.pending_total() > 0 && tokio::time::Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                // Answers to the last deliveries.
                tokio::time::sleep(Duration::from_secs(1)).await;
                tracing::info!(left = control.pending_total(), "stand-in carrier: stopped");
                Ok(())
            }
        }
    }
}

/// Serves the stand-in on `listener` until an accept error that is not transient.
pub async fn serve(listener: TcpListener, knobs: Knobs) -> anyhow::Result<()> {
    let shared = Arc::new(session::Shared::new(knobs));
    loop {
        let tcp = super::accept(&listener, "stand-in carrier").await?;
        Stats::count(&shared.knobs.stats.connections);
        tokio::spawn(session::run(tcp, shared.clone()));
    }
}

/// Starts the stand-in on an ephemeral loopback port, in this process.
pub async fn start(knobs: Knobs) -> anyhow::Result<(SocketAddr, JoinHandle<anyhow::Result<()>>)> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("stand-in carrier: bind")?;
    let addr = listener.local_addr()?;
    Ok((addr, tokio::spawn(serve(listener, knobs))))
}
