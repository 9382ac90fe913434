//! The cluster's side of [`BindLeases`]: each place of a carrier channel's binds is a key
//! `bind:<channel>:<mode>:<place>` holding the lease token of the instance bound on it, expiring
//! [`LEASE`] after its last renewal — so the places of an instance that died are free within
//! that time, and another instance binds on them.
//!
//! An instance takes at most its share of a channel's places (the places divided by the live
//! instances, rounded up) and gives back a place beyond its share at renewal, so that the binds
//! spread over the instances: an instance without a bind cannot send through the carrier.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use super::Cluster;
use super::node::{BEAT, LEASE, TAKE_OR_RENEW};
use crate::channels::leases::{BindLeases, LeaseFuture, Renewed};

/// Takes the first free key of KEYS for ARGV[1] (token) for ARGV[2] ms: its position (0-based),
/// or -1.
const TAKE_FREE: &str = r"
for i, key in ipairs(KEYS) do
  if redis.call('SET', key, ARGV[1], 'NX', 'PX', ARGV[2]) then
    return i - 1
  end
end
return -1";

/// Deletes KEYS[1] when it holds ARGV[1].
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0";

/// The places this instance holds, by channel and mode.
#[derive(Default)]
pub struct Held(Mutex<HashMap<(String, String), HashSet<usize>>>);

impl Held {
    fn count(&self, channel: &str, mode: &str) -> usize {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&(channel.to_string(), mode.to_string()))
            .map_or(0, HashSet::len)
    }

    fn set(&self, channel: &str, mode: &str, place: usize, held: bool) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let places = map
            .entry((channel.to_string(), mode.to_string()))
            .or_default();
        if held {
            places.insert(place);
        } else {
            places.remove(&place);
        }
    }
}

impl Cluster {
    fn place_key(&self, channel: &str, mode: &str, place: usize) -> String {
        self.key(&["bind", channel, mode, &place.to_string()])
    }

    /// This instance's share of `places`.
    fn share(&self, places: usize) -> usize {
        places.div_ceil(self.alive_nodes().max(1))
    }
}

impl BindLeases for Cluster {
    fn take<'a>(
        &'a self,
        channel: &'a str,
        mode: &'a str,
        places: usize,
    ) -> LeaseFuture<'a, Option<usize>> {
        Box::pin(async move {
            if places == 0 || self.held.count(channel, mode) >= self.share(places) {
                return None;
            }
            // Each instance looks from another place first, so that they do not all race for
            // the same one.
            let first = usize::from(self.node_id()) % places;
            let order: Vec<usize> = (0..places).map(|i| (first + i) % places).collect();
            let take = redis::Script::new(TAKE_FREE);
            let mut script = take.prepare_invoke();
            for &p in &order {
                script.key(self.place_key(channel, mode, p));
            }
            script.arg(&self.token).arg(LEASE.as_millis() as u64);
            let r: Result<i64, _> = script.invoke_async(&mut self.conn.clone()).await;
            self.note(&r);
            let at = usize::try_from(r.ok()?).ok()?;
            let place = *order.get(at)?;
            self.held.set(channel, mode, place, true);
            Some(place)
        })
    }

    fn renew<'a>(
        &'a self,
        channel: &'a str,
        mode: &'a str,
        place: usize,
        places: usize,
    ) -> LeaseFuture<'a, Renewed> {
        Box::pin(async move {
            let places_here = self.held.count(channel, mode);
            let r: Result<i64, _> = redis::Script::new(TAKE_OR_RENEW)
                .key(self.place_key(channel, mode, place))
                .arg(&self.token)
                .arg(LEASE.as_millis() as u64)
                .invoke_async(&mut self.conn.clone())
                .await;
            self.note(&r);
            match r {
                Ok(1) => {}
                Ok(_) => return Renewed::Lost,
                Err(_) => return Renewed::Unknown,
            }
            // More than this instance's share (another instance came up): the highest place
            // goes back for it.
            let highest = {
                let map = self.held.0.lock().unwrap_or_else(|p| p.into_inner());
                map.get(&(channel.to_string(), mode.to_string()))
                    .and_then(|s| s.iter().max().copied())
            };
            if places_here > self.share(places) && highest == Some(place) {
                return Renewed::Lost;
            }
            Renewed::Held
        })
    }

    fn release<'a>(&'a self, channel: &'a str, mode: &'a str, place: usize) -> LeaseFuture<'a, ()> {
        Box::pin(async move {
            self.held.set(channel, mode, place, false);
            let r: Result<i64, _> = redis::Script::new(RELEASE)
                .key(self.place_key(channel, mode, place))
                .arg(&self.token)
                .invoke_async(&mut self.conn.clone())
                .await;
            self.note(&r);
        })
    }

    fn every(&self) -> Duration {
        BEAT
    }
}
