//! Limits shared with the other instances of a cluster: the bind-failure lockout (an address
//! blocked by one instance is blocked by all), an account's `max_binds` counted over every
//! instance, and an account's `tps` (leased in batches: see `server::runtime`). A single router has none: its `BindGuard` and registry are the whole truth. When
//! the shared state cannot be reached, each instance's own limits still apply.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::time::Duration;

/// The future of a shared-limit call.
pub type LimitFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The lockout policy, as the shared side applies it.
#[derive(Clone, Copy, Debug)]
pub struct Lockout {
    /// Failures within `window` that block the address.
    pub max_failures: u32,
    /// The window.
    pub window: Duration,
    /// How long a block lasts.
    pub block: Duration,
}

/// Limits shared across a cluster (see the module's documentation).
pub trait SharedLimits: Send + Sync + 'static {
    /// Whether `client` (an address as `auth::client_key` groups them) is blocked by any
    /// instance; `false` when that cannot be known now.
    fn blocked(&self, client: IpAddr) -> LimitFuture<'_, bool>;
    /// Counts a failed bind from `client`; the cluster blocks it as `lockout` says.
    fn failed(&self, client: IpAddr, lockout: Lockout) -> LimitFuture<'_, ()>;
    /// Takes one of `account`'s `max` binds in the whole cluster for session `session`; `false`
    /// when all are taken, `true` when that cannot be known now (the instance's own count
    /// still applies).
    fn take_bind<'a>(&'a self, account: &'a str, session: u64, max: u32) -> LimitFuture<'a, bool>;
    /// Gives the bind of session `session` back.
    fn release_bind<'a>(&'a self, account: &'a str, session: u64) -> LimitFuture<'a, ()>;
    /// Leases up to `want` of `account`'s `tps` messages for the current second (the shared
    /// clock's): how many were granted, `None` when that cannot be known now.
    fn lease_rate<'a>(
        &'a self,
        account: &'a str,
        want: u32,
        tps: u32,
    ) -> LimitFuture<'a, Option<u32>>;
    /// The instances alive now, this one included: while the shared rate cannot be reached,
    /// each takes this share of it.
    fn instances(&self) -> usize;
}
