//! A stand-in for the OTP Blue API v1.1 (`smpp-router sim otpblue --listen ADDR`): the send
//! endpoint with the platform's authentication, validation, answers and error codes, plus knobs
//! for the things real life does — recipients without iMessage, latency, capacity limits,
//! server errors, requests that never get an answer and connections that drop.
//!
//! Whether a number has iMessage is **deterministic** (a hash of its digits against
//! `no_imessage_share`), so tests can pick numbers that fail over with [`has_imessage`].
//! Every request is counted in [`Stats`].

mod handler;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The send path.
pub const SEND_PATH: &str = "/imsg/api/v1.1/otp/send/";

/// Latency of an answer (the `[sim]` section of router.toml names it too).
pub use smpp_router::config::router::Latency;

/// What the stand-in does.
#[derive(Clone, Debug)]
pub struct Knobs {
    /// The key it accepts (`Authorization` header, or `apikey` in the GET form).
    pub api_key: String,
    /// Share of numbers without iMessage (answer 150), 0.0–1.0, decided by the digits.
    pub no_imessage_share: f64,
    /// Delay before answering requests that passed validation.
    pub latency: Latency,
    /// Requests in flight beyond which it answers 720 (out of capacity); 0 = unlimited.
    pub capacity: usize,
    /// Share of requests answered HTTP 500.
    pub error_share: f64,
    /// Share of requests never answered (the connection stays open).
    pub timeout_share: f64,
    /// Share of requests whose connection is closed without an answer.
    pub drop_share: f64,
    /// Regions (ISO 3166 alpha-2) answered 1155; the platform never serves CN and AR.
    pub unsupported_regions: Vec<String>,
    /// Languages answered 1230 although valid (as for an account without those templates).
    pub unsupported_languages: Vec<String>,
    /// The counters; clone the `Arc` before starting to read them.
    pub stats: Arc<Stats>,
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            api_key: "test-key".into(),
            no_imessage_share: 0.5,
            latency: Latency::default(),
            capacity: 0,
            error_share: 0.0,
            timeout_share: 0.0,
            drop_share: 0.0,
            unsupported_regions: vec!["CN".into(), "AR".into()],
            unsupported_languages: Vec::new(),
            stats: Arc::default(),
        }
    }
}

/// What the stand-in saw. Counts every request, answered or not.
#[derive(Debug, Default)]
pub struct Stats {
    connections: AtomicU64,
    requests: AtomicU64,
    delivered: AtomicU64,
    injected_errors: AtomicU64,
    unanswered: AtomicU64,
    dropped: AtomicU64,
    by_code: Mutex<BTreeMap<i64, u64>>,
    last_request: Mutex<Option<serde_json::Value>>,
}

impl Stats {
    /// TCP connections accepted.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }
    /// Requests received on the send endpoint.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
    /// Requests answered "delivered".
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }
    /// Requests answered with an injected HTTP 500.
    pub fn injected_errors(&self) -> u64 {
        self.injected_errors.load(Ordering::Relaxed)
    }
    /// Requests left without an answer on purpose.
    pub fn unanswered(&self) -> u64 {
        self.unanswered.load(Ordering::Relaxed)
    }
    /// Requests whose connection was closed on purpose.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
    /// Failure answers with platform code `code`.
    pub fn code(&self, code: i64) -> u64 {
        self.by_code
            .lock()
            .map(|m| m.get(&code).copied().unwrap_or(0))
            .unwrap_or(0)
    }
    /// Failure answers by platform code.
    pub fn by_code(&self) -> BTreeMap<i64, u64> {
        self.by_code.lock().map(|m| m.clone()).unwrap_or_default()
    }
    /// The fields of the last request that passed authentication (`contact`, `code`, `sender`,
    /// `language`; never the key).
    pub fn last_request(&self) -> Option<serde_json::Value> {
        self.last_request.lock().ok().and_then(|v| v.clone())
    }

    fn count_code(&self, code: i64) {
        if let Ok(mut m) = self.by_code.lock() {
            *m.entry(code).or_default() += 1;
        }
    }
}

/// Whether the stand-in treats `digits` (with or without `+`) as having iMessage: a stable hash
/// of the digits compared with `no_imessage_share`.
pub fn has_imessage(knobs: &Knobs, digits: &str) -> bool {
    // FNV-1a, then a splitmix64 finaliser for a well-spread 53-bit fraction.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in digits.bytes().filter(u8::is_ascii_digit) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    let fraction = (h >> 11) as f64 / (1u64 << 53) as f64;
    fraction >= knobs.no_imessage_share
}

/// `smpp-router sim otpblue`: the stand-in OTP Blue API.
#[derive(clap::Args, Clone, Debug)]
pub struct OtpBlueArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8787")]
    pub listen: SocketAddr,
    /// The API key it accepts.
    #[arg(long, default_value = "test-key")]
    pub api_key: String,
    /// Share of numbers without iMessage (code 150), 0.0–1.0; decided by the digits.
    #[arg(long, default_value_t = 0.5)]
    pub no_imessage_share: f64,
    /// Answer latency: fixed ("250ms") or a uniform range ("100ms..400ms").
    #[arg(long, default_value = "0ms")]
    pub latency: Latency,
    /// Requests in flight beyond which it answers 720; 0 = unlimited.
    #[arg(long, default_value_t = 0)]
    pub capacity: usize,
    /// Share of requests answered HTTP 500.
    #[arg(long, default_value_t = 0.0)]
    pub error_share: f64,
    /// Share of requests never answered.
    #[arg(long, default_value_t = 0.0)]
    pub timeout_share: f64,
    /// Share of requests whose connection is closed without an answer.
    #[arg(long, default_value_t = 0.0)]
    pub drop_share: f64,
    /// Regions answered 1155 (comma-separated ISO codes).
    #[arg(long, value_delimiter = ',', default_value = "CN,AR")]
    pub unsupported_regions: Vec<String>,
    /// Valid languages answered 1230 anyway (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub unsupported_languages: Vec<String>,
}

impl OtpBlueArgs {
    /// The knobs these arguments describe, checked.
    pub fn knobs(&self) -> anyhow::Result<Knobs> {
        for (name, v) in [
            ("--no-imessage-share", self.no_imessage_share),
            ("--error-share", self.error_share),
            ("--timeout-share", self.timeout_share),
            ("--drop-share", self.drop_share),
        ] {
            anyhow::ensure!(
                (0.0..=1.0).contains(&v),
                "{name} {v} is not between 0 and 1"
            );
        }
        Ok(Knobs {
            api_key: self.api_key.clone(),
            no_imessage_share: self.no_imessage_share,
            latency: self.latency,
            capacity: self.capacity,
            error_share: self.error_share,
            timeout_share: self.timeout_share,
            drop_share: self.drop_share,
            unsupported_regions: self
                .unsupported_regions
                .iter()
                .map(|r| r.trim().to_ascii_uppercase())
                .filter(|r| !r.is_empty())
                .collect(),
            unsupported_languages: self.unsupported_languages.clone(),
            stats: Arc::default(),
        })
    }

    /// Binds `--listen` and serves until the process ends.
    pub async fn run(&self) -> anyhow::Result<()> {
        let knobs = self.knobs()?;
        let listener = TcpListener::bind(self.listen)
            .await
            .with_context(|| format!("cannot listen on {}", self.listen))?;
        tracing::info!(listen = %self.listen, "stand-in OTP Blue API: POST http://{}{SEND_PATH}", self.listen);
        serve(listener, knobs).await
    }
}

/// Serves the stand-in on `listener` until an accept error that is not transient.
pub async fn serve(listener: TcpListener, knobs: Knobs) -> anyhow::Result<()> {
    let stats = knobs.stats.clone();
    let state = Arc::new(handler::State::new(knobs));
    loop {
        let tcp = super::accept(&listener, "stand-in OTP Blue").await?;
        stats.connections.fetch_add(1, Ordering::Relaxed);
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let state = state.clone();
                async move { handler::handle(&state, req).await }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service);
            if let Err(e) = conn.await {
                tracing::trace!(error = %e, "stand-in OTP Blue: connection ended");
            }
        });
    }
}

/// Starts the stand-in on an ephemeral loopback port, in this process.
pub async fn start(knobs: Knobs) -> anyhow::Result<(SocketAddr, JoinHandle<anyhow::Result<()>>)> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("stand-in OTP Blue: bind")?;
    let addr = listener.local_addr()?;
    Ok((addr, tokio::spawn(serve(listener, knobs))))
}
