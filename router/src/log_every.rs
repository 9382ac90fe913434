//! Rate-limited log lines: something that can happen thousands of times a second (a carrier
//! misbehaving on every receipt, a failing disk on every write) is logged at most once per
//! interval, with how many times it happened in between.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Lets one log line through per interval and counts the ones held back.
#[derive(Debug)]
pub struct LogEvery {
    interval: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    last: Option<Instant>,
    held_back: u64,
}

impl LogEvery {
    /// At most one line per `interval`.
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            state: Mutex::default(),
        }
    }

    /// Whether to log now: `Some(n)` with the number of occurrences not logged since the last
    /// line, or `None` to stay quiet (counted for the next line).
    pub fn allow(&self, now: Instant) -> Option<u64> {
        let Ok(mut s) = self.state.lock() else {
            return Some(0);
        };
        if s.last
            .is_some_and(|last| now.saturating_duration_since(last) < self.interval)
        {
            s.held_back += 1;
            return None;
        }
        s.last = Some(now);
        Some(std::mem::take(&mut s.held_back))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_with_the_count_held_back() {
        let every = LogEvery::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(every.allow(t0), Some(0));
        assert_eq!(every.allow(t0 + Duration::from_secs(1)), None);
        assert_eq!(every.allow(t0 + Duration::from_secs(9)), None);
        assert_eq!(every.allow(t0 + Duration::from_secs(10)), Some(2));
        assert_eq!(every.allow(t0 + Duration::from_secs(11)), None);
        assert_eq!(every.allow(t0 + Duration::from_secs(30)), Some(1));
    }
}
