//! Per-account state that outlives configuration reloads: the TPS limiter shared by all of an
//! account's sessions, and its bind count.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::config::Account;

/// The live state of one account.
pub struct AccountRuntime {
    tps: AtomicU32,
    limiter: ArcSwap<DefaultDirectRateLimiter>,
    /// Sessions currently bound.
    pub bound: AtomicU32,
}

impl AccountRuntime {
    fn new(tps: u32) -> Self {
        Self {
            tps: AtomicU32::new(tps),
            limiter: ArcSwap::from_pointee(limiter(tps)),
            bound: AtomicU32::new(0),
        }
    }

    /// Takes one message from the account's rate; `false` means `ESME_RTHROTTLED`.
    pub fn allow(&self) -> bool {
        self.limiter.load().check().is_ok()
    }

    /// Applies a changed TPS at once (a reload).
    fn set_tps(&self, tps: u32) {
        if self.tps.swap(tps, Ordering::Relaxed) != tps {
            self.limiter.store(Arc::new(limiter(tps)));
        }
    }
}

/// A limiter of `tps` per second with a burst of one second's worth; 0 means unlimited.
fn limiter(tps: u32) -> DefaultDirectRateLimiter {
    let tps = NonZeroU32::new(tps).unwrap_or(NonZeroU32::MAX);
    RateLimiter::direct(Quota::per_second(tps))
}

/// Every account's runtime, by `system_id`.
#[derive(Default)]
pub struct Runtimes {
    map: Mutex<HashMap<String, Arc<AccountRuntime>>>,
}

impl Runtimes {
    /// The runtime of `account`, created on first use and updated to its current settings.
    pub fn get(&self, account: &Account) -> Arc<AccountRuntime> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let rt = map
            .entry(account.system_id.clone())
            .or_insert_with(|| Arc::new(AccountRuntime::new(account.tps)));
        rt.set_tps(account.tps);
        rt.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_rate_and_live_changes() {
        let rt = AccountRuntime::new(5);
        let allowed = (0..20).filter(|_| rt.allow()).count();
        assert_eq!(allowed, 5);
        rt.set_tps(50);
        assert!(rt.allow());
    }
}
