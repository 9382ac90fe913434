//! What a load run measured: per-session tallies kept without locks on the hot path, merged
//! into one [`LoadReport`] at the end.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use smpp_router::esme::SubmitError;
use smpp_router::smpp::{Command, CommandStatus};

/// The highest latency the histogram keeps exactly (larger values are clamped): one minute.
const MAX_LATENCY_US: u64 = 60_000_000;

/// One session's counts.
pub(super) struct Tally {
    pub sent: u64,
    pub latency: Histogram<u64>,
    pub statuses: HashMap<CommandStatus, u64>,
    pub errors: HashMap<&'static str, u64>,
}

impl Tally {
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self {
            sent: 0,
            latency: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)?,
            statuses: HashMap::new(),
            errors: HashMap::new(),
        })
    }

    /// Counts one resolved submit that started at `started`; `Some(status)` for a response.
    pub fn record(
        &mut self,
        result: &Result<Command, SubmitError>,
        started: Instant,
    ) -> Option<CommandStatus> {
        match result {
            Ok(resp) => {
                let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                self.latency.saturating_record(us.max(1));
                *self.statuses.entry(resp.status).or_default() += 1;
                Some(resp.status)
            }
            Err(e) => {
                let name = match e {
                    SubmitError::Timeout => "timeout",
                    SubmitError::Closed { written: true } => "closed, outcome unknown",
                    SubmitError::Closed { written: false } => "closed, not sent",
                    _ => "not sent",
                };
                *self.errors.entry(name).or_default() += 1;
                None
            }
        }
    }

    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: Tally) {
        self.sent += other.sent;
        // Both histograms have the same bounds, so adding cannot fail.
        let _ = self.latency.add(&other.latency);
        for (s, n) in other.statuses {
            *self.statuses.entry(s).or_default() += n;
        }
        for (e, n) in other.errors {
            *self.errors.entry(e).or_default() += n;
        }
    }
}

/// The outcome of a load run.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadReport {
    /// Sessions bound.
    pub sessions: usize,
    /// The window of each session.
    pub window: usize,
    /// `submit_sm`s handed to the sessions.
    pub sent: u64,
    /// Responses received, whatever their status.
    pub responses: u64,
    /// Responses by status name (`ESME_ROK`, …; unnamed codes in hex).
    pub statuses: BTreeMap<String, u64>,
    /// Submits without a response, by kind (`timeout`, `closed, outcome unknown`, …).
    pub errors: BTreeMap<String, u64>,
    /// From the first submit to the last response.
    pub elapsed: Duration,
    /// `sent / elapsed`, in messages per second.
    pub submit_rate: f64,
    /// Delivery receipts received (and acknowledged).
    pub receipts: u64,
    /// Receipts asked for and accepted (`ESME_ROK` responses to submits wanting one).
    pub receipts_expected: u64,
    /// From the first submit to the last receipt.
    pub receipts_elapsed: Duration,
    /// Latency of submit → `submit_sm_resp`, median, in microseconds.
    pub p50_us: u64,
    /// 90th percentile, µs.
    pub p90_us: u64,
    /// 99th percentile, µs.
    pub p99_us: u64,
    /// Maximum, µs.
    pub max_us: u64,
}

/// The inputs of [`LoadReport::new`] that do not come from the tallies.
pub(super) struct Timing {
    pub sessions: usize,
    pub window: usize,
    pub elapsed: Duration,
    pub receipts: u64,
    pub receipts_expected: u64,
    pub receipts_elapsed: Duration,
}

impl LoadReport {
    pub(super) fn new(t: Tally, timing: Timing) -> Self {
        let statuses: BTreeMap<String, u64> = t
            .statuses
            .iter()
            .map(|(s, n)| (status_name(*s), *n))
            .collect();
        let secs = timing.elapsed.as_secs_f64();
        Self {
            sessions: timing.sessions,
            window: timing.window,
            sent: t.sent,
            responses: t.statuses.values().sum(),
            statuses,
            errors: t.errors.iter().map(|(e, n)| (e.to_string(), *n)).collect(),
            elapsed: timing.elapsed,
            submit_rate: if secs > 0.0 {
                t.sent as f64 / secs
            } else {
                0.0
            },
            receipts: timing.receipts,
            receipts_expected: timing.receipts_expected,
            receipts_elapsed: timing.receipts_elapsed,
            p50_us: t.latency.value_at_quantile(0.50),
            p90_us: t.latency.value_at_quantile(0.90),
            p99_us: t.latency.value_at_quantile(0.99),
            max_us: t.latency.max(),
        }
    }

    /// Receipts per second, from the first submit to the last receipt.
    pub fn receipt_rate(&self) -> f64 {
        let secs = self.receipts_elapsed.as_secs_f64();
        if secs > 0.0 {
            self.receipts as f64 / secs
        } else {
            0.0
        }
    }
}

fn status_name(s: CommandStatus) -> String {
    s.name()
        .map_or_else(|| format!("0x{:08X}", s.0), str::to_string)
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "sent       {} submit_sm in {:.3} s over {} session(s), window {}: {:.0} msg/s",
            self.sent,
            self.elapsed.as_secs_f64(),
            self.sessions,
            self.window,
            self.submit_rate
        )?;
        write!(f, "statuses  ")?;
        if self.statuses.is_empty() {
            write!(f, " none")?;
        }
        for (name, n) in &self.statuses {
            write!(f, " {name} {n}")?;
        }
        writeln!(f)?;
        if !self.errors.is_empty() {
            write!(f, "no answer ")?;
            for (name, n) in &self.errors {
                write!(f, " {name}: {n}")?;
            }
            writeln!(f)?;
        }
        writeln!(
            f,
            "receipts   {} of {} expected, {:.0}/s",
            self.receipts,
            self.receipts_expected,
            self.receipt_rate()
        )?;
        write!(
            f,
            "latency    p50 {} µs  p90 {} µs  p99 {} µs  max {} µs",
            self.p50_us, self.p90_us, self.p99_us, self.max_us
        )
    }
}
