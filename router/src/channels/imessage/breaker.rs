//! A small circuit breaker: after [`FAILURES`] consecutive transport failures (no answer: not
//! sent, or outcome unknown) the channel reports itself down for [`OPEN_FOR`], so routes skip it
//! without an attempt and fail over at once instead of waiting out timeouts.
//!
//! After the open period the channel is up again but the failure count is kept (half-open): the
//! next failure reopens the circuit at once, and any definite answer — delivered or refused —
//! closes it and resets the count.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Consecutive failures that open the circuit.
pub const FAILURES: u32 = 20;
/// How long the circuit stays open.
pub const OPEN_FOR: Duration = Duration::from_secs(5);

/// The breaker's state; lock-free.
#[derive(Debug)]
pub struct Breaker {
    epoch: Instant,
    consecutive: AtomicU32,
    /// Milliseconds since `epoch` until which the circuit is open; 0 when closed.
    open_until_ms: AtomicU64,
    threshold: u32,
    open_for: Duration,
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
            threshold: threshold.max(1),
            open_for,
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether the circuit is closed (or half-open) now.
    pub fn is_closed(&self) -> bool {
        self.now_ms() >= self.open_until_ms.load(Ordering::Relaxed)
    }

    /// Records a definite answer.
    pub fn success(&self) {
        if self.consecutive.load(Ordering::Relaxed) != 0 {
            self.consecutive.store(0, Ordering::Relaxed);
        }
    }

    /// Records a transport failure; returns true when this one opened the circuit.
    pub fn failure(&self) -> bool {
        let n = self
            .consecutive
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        if n >= self.threshold && self.is_closed() {
            let until = self
                .now_ms()
                .saturating_add(u64::try_from(self.open_for.as_millis()).unwrap_or(u64::MAX));
            self.open_until_ms.store(until, Ordering::Relaxed);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_and_half_opens() {
        let b = Breaker::new(3, Duration::from_millis(50));
        assert!(!b.failure());
        assert!(!b.failure());
        b.success();
        assert!(!b.failure());
        assert!(!b.failure());
        assert!(b.is_closed());
        assert!(b.failure(), "the third in a row opens");
        assert!(!b.is_closed());
        std::thread::sleep(Duration::from_millis(60));
        assert!(b.is_closed(), "half-open after the period");
        assert!(b.failure(), "one more failure reopens at once");
        assert!(!b.is_closed());
        std::thread::sleep(Duration::from_millis(60));
        b.success();
        assert!(!b.failure(), "a definite answer closed it");
        assert!(b.is_closed());
    }
}
