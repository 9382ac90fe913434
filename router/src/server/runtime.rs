//! Per-account state that outlives configuration reloads: the TPS limiter shared by all of an
//! account's sessions, and its bind count.
//!
//! In cluster mode an account's `tps` holds across the instances: besides its own limiter (the
//! whole `tps`, so one instance never goes over it alone), an instance takes messages from a
//! budget it leases from the cluster in batches of a twentieth of the `tps` (Redis counts what
//! each second has handed out, by its own clock). The budget is asked for again when half a
//! batch is left, so Redis stays off the message's path; while a lease is on its way the
//! instance may go one batch into credit, which the lease pays back. So the cluster as a whole
//! goes over `tps` by at most one batch per instance per second (`tps × instances / 20`), and
//! what is left of a second's budget is not carried into the next. While the cluster cannot be
//! reached each instance takes its share (`tps / instances`).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::config::Account;
use crate::server::shared_limits::SharedLimits;

/// The live state of one account.
pub struct AccountRuntime {
    tps: AtomicU32,
    limiter: ArcSwap<DefaultDirectRateLimiter>,
    /// Sessions currently bound.
    pub bound: AtomicU32,
    /// In cluster mode, the budget leased from the cluster.
    shared: Option<Arc<SharedRate>>,
}

impl AccountRuntime {
    fn new(tps: u32) -> Self {
        Self {
            tps: AtomicU32::new(tps),
            limiter: ArcSwap::from_pointee(limiter(tps)),
            bound: AtomicU32::new(0),
            shared: None,
        }
    }

    /// Takes one message from the account's rate; `false` means `ESME_RTHROTTLED`.
    pub fn allow(&self) -> bool {
        if self.limiter.load().check().is_err() {
            return false;
        }
        match &self.shared {
            None => true,
            Some(rate) => rate.take(self.tps.load(Ordering::Relaxed)),
        }
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

/// An account's budget leased from the cluster (see the module's documentation).
struct SharedRate {
    cluster: Arc<dyn SharedLimits>,
    account: String,
    state: Mutex<Budget>,
}

/// What an instance may still take this second.
#[derive(Default)]
struct Budget {
    /// The Unix second it is for.
    second: u64,
    /// Messages left; below 0 while in credit.
    left: i64,
    /// A lease is on its way.
    asking: bool,
    /// Taken this second while the cluster could not be reached.
    alone: u64,
    /// The cluster has nothing left for this second: no more asking until the next.
    exhausted: bool,
}

impl SharedRate {
    /// Takes one message; asks for more when half a batch is left.
    fn take(self: &Arc<Self>, tps: u32) -> bool {
        if tps == 0 {
            return true;
        }
        let batch = i64::from(tps.div_ceil(20));
        let second = crate::delivery::receipts::unix_now();
        let mut b = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if b.second != second {
            // A new second: what was left, or owed, of the last one goes.
            *b = Budget {
                second,
                asking: b.asking,
                ..Budget::default()
            };
        }
        let allowed = b.left > -batch;
        if allowed {
            b.left -= 1;
        }
        if b.left < batch / 2 && !b.asking && !b.exhausted {
            b.asking = true;
            let want = u32::try_from(batch - b.left.min(0)).unwrap_or(u32::MAX);
            let me = self.clone();
            tokio::spawn(async move { me.lease(second, want, tps).await });
        }
        allowed
    }

    /// Leases `want` for `second` and adds what was granted.
    async fn lease(&self, second: u64, want: u32, tps: u32) {
        let granted = self.cluster.lease_rate(&self.account, want, tps).await;
        let mut b = self.state.lock().unwrap_or_else(|p| p.into_inner());
        b.asking = false;
        // A lease for a second gone by is of no use; a share (the cluster was away) counts for
        // the second it is now.
        if b.second != second && granted.is_some() {
            return;
        }
        let granted = match granted {
            Some(n) => {
                b.exhausted = n < want;
                u64::from(n)
            }
            None => {
                // The cluster cannot be reached: this instance's share of the second.
                let share = u64::from(tps).div_ceil(self.cluster.instances().max(1) as u64);
                let n = share.saturating_sub(b.alone).min(u64::from(want));
                b.alone += n;
                n
            }
        };
        b.left += granted as i64;
    }
}

/// Every account's runtime, by `system_id`.
#[derive(Default)]
pub struct Runtimes {
    map: Mutex<HashMap<String, Arc<AccountRuntime>>>,
    /// In cluster mode, where `tps` budgets are leased.
    cluster: Option<Arc<dyn SharedLimits>>,
}

impl Runtimes {
    /// The runtimes of a router; in cluster mode they lease `tps` budgets from `cluster`.
    pub fn new(cluster: Option<Arc<dyn SharedLimits>>) -> Self {
        Self {
            map: Mutex::default(),
            cluster,
        }
    }

    /// The runtime of `account`, created on first use and updated to its current settings.
    pub fn get(&self, account: &Account) -> Arc<AccountRuntime> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let rt = map.entry(account.system_id.clone()).or_insert_with(|| {
            let mut rt = AccountRuntime::new(account.tps);
            rt.shared = self.cluster.clone().map(|cluster| {
                Arc::new(SharedRate {
                    cluster,
                    account: account.system_id.clone(),
                    state: Mutex::default(),
                })
            });
            Arc::new(rt)
        });
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
