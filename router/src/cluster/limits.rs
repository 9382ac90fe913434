//! The cluster's side of [`SharedLimits`]: the bind-failure lockout, an account's bind count
//! and its `tps` budget in Redis.
//!
//! - A failed bind increments `fail:<address>` (expiring after the failure window); the one that
//!   reaches `max_bind_failures` sets `block:<address>` for the block's duration, which every
//!   instance checks before a bind.
//! - Each bound session is a member `<node>:<session>` of the sorted set `binds:<account>`,
//!   scored with when its lease ends (Redis's clock): a bind is admitted while fewer than
//!   `max_binds` leases are live. Instances renew their sessions' leases every few seconds, so
//!   the binds of an instance that died stop counting within [`LEASE`].
//! - An account's messages per second are counted in `tps:<account>:<unix second>` (Redis's
//!   clock, kept two seconds); instances lease batches from it (see `server::runtime`).

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use super::Cluster;
use super::node::LEASE;
use crate::server::shared_limits::{LimitFuture, Lockout, SharedLimits};

/// Counts a failure (KEYS[1], window ARGV[1] ms); at ARGV[2] failures sets KEYS[2] for ARGV[3] ms.
const FAILED: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
if n >= tonumber(ARGV[2]) then redis.call('SET', KEYS[2], '1', 'PX', ARGV[3]) end
return n";

/// Admits member ARGV[1] to the set KEYS[1] while fewer than ARGV[2] leases are live; each
/// lease lasts ARGV[3] ms.
const TAKE_BIND: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) == false
   and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1";

/// Renews the leases of members ARGV[2..] of KEYS[1] for ARGV[1] ms (only those still there: a
/// session that unbound meanwhile is not brought back).
const RENEW_BINDS: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return #ARGV - 1";

/// Grants up to ARGV[1] of ARGV[2] per second from the counter of the current second (Redis's
/// clock) of KEYS[1]: how many.
const LEASE_RATE: &str = r"
local t = redis.call('TIME')
local key = KEYS[1] .. ':' .. t[1]
local used = tonumber(redis.call('GET', key) or '0')
local grant = math.min(tonumber(ARGV[1]), math.max(0, tonumber(ARGV[2]) - used))
if grant > 0 then
  redis.call('INCRBY', key, grant)
  redis.call('EXPIRE', key, 2)
end
return grant";

/// The sessions bound here, by account, whose binds this instance keeps leased.
#[derive(Default)]
pub struct Bound(std::sync::Mutex<HashMap<String, HashSet<u64>>>);

impl Cluster {
    fn member(&self, session: u64) -> String {
        format!("{}:{session}", self.node_id())
    }

    /// Renews the leases of the sessions bound here (the heartbeat does, every few seconds).
    pub(super) async fn renew_binds(&self) {
        let bound: Vec<(String, Vec<u64>)> = {
            let map = self.bound.0.lock().unwrap_or_else(|p| p.into_inner());
            map.iter()
                .filter(|(_, s)| !s.is_empty())
                .map(|(a, s)| (a.clone(), s.iter().copied().collect()))
                .collect()
        };
        for (account, sessions) in bound {
            let script = redis::Script::new(RENEW_BINDS);
            let mut call = script.prepare_invoke();
            call.key(self.key(&["binds", &account]))
                .arg(LEASE.as_millis() as u64);
            for s in sessions {
                call.arg(self.member(s));
            }
            let r: Result<i64, _> = call.invoke_async(&mut self.conn.clone()).await;
            self.note(&r);
        }
    }
}

impl SharedLimits for Cluster {
    fn blocked(&self, client: IpAddr) -> LimitFuture<'_, bool> {
        Box::pin(async move {
            if !self.up() {
                return false; // The local lockout still applies.
            }
            let mut cmd = redis::cmd("EXISTS");
            cmd.arg(self.key(&["block", &client.to_string()]));
            self.run::<bool>(&cmd).await.unwrap_or(false)
        })
    }

    fn failed(&self, client: IpAddr, lockout: Lockout) -> LimitFuture<'_, ()> {
        Box::pin(async move {
            let at = client.to_string();
            let r: Result<i64, _> = redis::Script::new(FAILED)
                .key(self.key(&["fail", &at]))
                .key(self.key(&["block", &at]))
                .arg(lockout.window.as_millis().max(1) as u64)
                .arg(lockout.max_failures.max(1))
                .arg(lockout.block.as_millis().max(1) as u64)
                .invoke_async(&mut self.conn.clone())
                .await;
            self.note(&r);
        })
    }

    fn take_bind<'a>(&'a self, account: &'a str, session: u64, max: u32) -> LimitFuture<'a, bool> {
        Box::pin(async move {
            if !self.up() {
                return true; // The local count still applies.
            }
            let r: Result<i64, _> = redis::Script::new(TAKE_BIND)
                .key(self.key(&["binds", account]))
                .arg(self.member(session))
                .arg(max)
                .arg(LEASE.as_millis() as u64)
                .invoke_async(&mut self.conn.clone())
                .await;
            self.note(&r);
            let taken = !matches!(r, Ok(0));
            if taken {
                let mut map = self.bound.0.lock().unwrap_or_else(|p| p.into_inner());
                map.entry(account.to_string()).or_default().insert(session);
            }
            taken
        })
    }

    fn lease_rate<'a>(
        &'a self,
        account: &'a str,
        want: u32,
        tps: u32,
    ) -> LimitFuture<'a, Option<u32>> {
        Box::pin(async move {
            if !self.up() {
                return None; // Each instance takes its share.
            }
            let r: Result<u32, _> = redis::Script::new(LEASE_RATE)
                .key(self.key(&["tps", account]))
                .arg(want)
                .arg(tps)
                .invoke_async(&mut self.conn.clone())
                .await;
            self.note(&r);
            r.ok()
        })
    }

    fn instances(&self) -> usize {
        self.alive_nodes()
    }

    fn release_bind<'a>(&'a self, account: &'a str, session: u64) -> LimitFuture<'a, ()> {
        Box::pin(async move {
            {
                let mut map = self.bound.0.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(s) = map.get_mut(account) {
                    s.remove(&session);
                    if s.is_empty() {
                        map.remove(account);
                    }
                }
            }
            let mut cmd = redis::cmd("ZREM");
            cmd.arg(self.key(&["binds", account]))
                .arg(self.member(session));
            let _ = self.run::<i64>(&cmd).await;
        })
    }
}
