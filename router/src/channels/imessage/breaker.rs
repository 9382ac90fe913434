//! A small circuit breaker: after [`FAILURES`] consecutive transport failures (no answer: not
//! sent, or outcome unknown) the channel reports itself down for [`OPEN_FOR`], so routes skip it
//! without an attempt and fail over at once instead of waiting out timeouts.
//!
//! After the open period the circuit is half-open: one request at a time goes through as a
//! probe ([`Breaker::admit`]) while the channel reports itself down to everything else, so that
//! an outage where requests hang costs one message a period, not every message of a timeout.
//! The probe's failure reopens the circuit at once; any definite answer — delivered or refused —
//! closes it and resets the count. A probe that never reports (its request dropped mid-way) is
//! given up after the probe timeout.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Consecutive failures that open the circuit.
pub const FAILURES: u32 = 20;
/// How long the circuit stays open.
pub const OPEN_FOR: Duration = Duration::from_secs(5);
/// How long a half-open circuit waits for its probe by default.
pub const PROBE_FOR: Duration = Duration::from_secs(30);

/// The breaker's state; lock-free.
#[derive(Debug)]
pub struct Breaker {
    epoch: Instant,
    consecutive: AtomicU32,
    /// Milliseconds since `epoch` until which the circuit is open; 0 when closed.
    open_until_ms: AtomicU64,
    /// Milliseconds since `epoch` (plus one) when the half-open circuit's probe went out; 0
    /// when none is out.
    probe_since_ms: AtomicU64,
    threshold: u32,
    open_for: Duration,
    probe_for: Duration,
}

impl Default for Breaker {
    fn default() -> Self {
        Self::new(FAILURES, OPEN_FOR)
    }
}

impl Breaker {
    /// A breaker opening after `threshold` failures for `open_for`.
    pub fn new(threshold: u32, open_for: Duration) -> Self {
        Self {
            epoch: Instant::now(),
            consecutive: AtomicU32::new(0),
            open_until_ms: AtomicU64::new(0),
            probe_since_ms: AtomicU64::new(0),
            threshold: threshold.max(1),
            open_for,
            probe_for: PROBE_FOR,
        }
    }

    /// The same, giving a probe up after `probe_for` (the channel's request timeout and a margin).
    pub fn with_probe_for(mut self, probe_for: Duration) -> Self {
        self.probe_for = probe_for;
        self
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn half_open(&self) -> bool {
        self.consecutive.load(Ordering::Relaxed) >= self.threshold
    }

    /// Whether a probe is out and not yet given up, at `now` (ms).
    fn probing(&self, now: u64) -> bool {
        let since = self.probe_since_ms.load(Ordering::Relaxed);
        let limit = u64::try_from(self.probe_for.as_millis()).unwrap_or(u64::MAX);
        since != 0 && now.saturating_add(1).saturating_sub(since) < limit
    }

    /// Whether the channel takes requests now: closed, or half-open with no probe out.
    pub fn is_closed(&self) -> bool {
        let now = self.now_ms();
        if now < self.open_until_ms.load(Ordering::Relaxed) {
            return false;
        }
        !self.half_open() || !self.probing(now)
    }

    /// Whether a request may go out now; in a half-open circuit only the one probe may (the
    /// caller then reports its outcome with [`Breaker::success`] or [`Breaker::failure`]).
    pub fn admit(&self) -> bool {
        let now = self.now_ms();
        if now < self.open_until_ms.load(Ordering::Relaxed) {
            return false;
        }
        if !self.half_open() {
            return true;
        }
        let since = self.probe_since_ms.load(Ordering::Relaxed);
        !self.probing(now)
            && self
                .probe_since_ms
                .compare_exchange(
                    since,
                    now.saturating_add(1),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
    }

    /// Records a definite answer.
    pub fn success(&self) {
        if self.consecutive.load(Ordering::Relaxed) != 0 {
            self.consecutive.store(0, Ordering::Relaxed);
        }
        if self.probe_since_ms.load(Ordering::Relaxed) != 0 {
            self.probe_since_ms.store(0, Ordering::Relaxed);
        }
    }

    /// Records a transport failure; returns true when this one opened the circuit.
    pub fn failure(&self) -> bool {
        let n = self
            .consecutive
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        let now = self.now_ms();
        if n >= self.threshold && now >= self.open_until_ms.load(Ordering::Relaxed) {
            let until =
                now.saturating_add(u64::try_from(self.open_for.as_millis()).unwrap_or(u64::MAX));
            self.open_until_ms.store(until, Ordering::Relaxed);
            self.probe_since_ms.store(0, Ordering::Relaxed);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_and_half_opens_for_one_probe() {
        let b = Breaker::new(3, Duration::from_millis(50));
        assert!(!b.failure());
        assert!(!b.failure());
        b.success();
        assert!(!b.failure());
        assert!(!b.failure());
        assert!(b.is_closed() && b.admit());
        assert!(b.failure(), "the third in a row opens");
        assert!(!b.is_closed() && !b.admit());
        std::thread::sleep(Duration::from_millis(60));
        assert!(b.is_closed(), "half-open after the period");
        assert!(b.admit(), "one probe goes out");
        assert!(!b.is_closed() && !b.admit(), "the others wait for it");
        assert!(b.failure(), "the probe's failure reopens at once");
        assert!(!b.is_closed());
        std::thread::sleep(Duration::from_millis(60));
        assert!(b.admit());
        b.success();
        assert!(
            b.is_closed() && b.admit() && b.admit(),
            "a definite answer closed it"
        );
        assert!(!b.failure(), "and reset the count");
    }

    #[test]
    fn a_probe_that_never_reports_is_given_up() {
        let b =
            Breaker::new(1, Duration::from_millis(10)).with_probe_for(Duration::from_millis(40));
        assert!(b.failure());
        std::thread::sleep(Duration::from_millis(20));
        assert!(b.admit());
        assert!(!b.admit());
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            b.is_closed() && b.admit(),
            "a new probe after the probe timeout"
        );
    }
}
