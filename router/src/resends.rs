//! Receipts a carrier sends again are delivered once.
//!
//! A carrier resends a `deliver_sm` it has no answer for (tyntec: "resends otherwise"), and an
//! answer can be lost with the link that carried it, after the router had already delivered the
//! receipt to its client. The router remembers, for a few minutes, which (message, state) pairs
//! it has safely handed on, and answers a repeat without delivering it again. The memory is
//! bounded: forgetting only means the old at-least-once behaviour for that receipt.

use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

/// How long a delivered receipt is remembered.
const REMEMBER: Duration = Duration::from_secs(300);
/// How long a claim in progress holds off copies (a store write takes milliseconds).
const CLAIM_TIMEOUT: Duration = Duration::from_secs(30);
/// Inserts into a shard between two prunings.
const PRUNE_EVERY: u32 = 4096;
/// At most this many remembered receipts per shard (64 shards: about 1M in all, ~40 MB).
const SHARD_CAP: usize = 16_384;
const SHARDS: usize = 64;

#[derive(Default)]
struct Shard {
    /// (router id, state) → when it was claimed, and whether it was handed on.
    seen: crate::fast_map::FastMap<(u64, u8), (Instant, bool)>,
    inserts: u32,
}

static SEEN: LazyLock<[Mutex<Shard>; SHARDS]> =
    LazyLock::new(|| std::array::from_fn(|_| Mutex::new(Shard::default())));

fn shard(id: u64) -> &'static Mutex<Shard> {
    let mixed = id ^ (id >> 22);
    &SEEN[(mixed % SHARDS as u64) as usize]
}

/// What to do with a receipt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// Not seen: hand it on, then call [`handed_on`].
    New,
    /// A copy is being handed on right now: answer the carrier with a temporary error so that
    /// it resends once that copy is safe (or failed).
    InProgress,
    /// Already handed on: answer and drop it.
    Delivered,
}

/// Claims the receipt of `router_id` with `state`.
pub fn claim(router_id: &str, state: u8) -> Claim {
    let Ok(id) = router_id.parse::<u64>() else {
        return Claim::New;
    };
    let Ok(mut s) = shard(id).lock() else {
        return Claim::New;
    };
    let now = Instant::now();
    match s.seen.get(&(id, state)) {
        Some((t, true)) if now.duration_since(*t) < REMEMBER => return Claim::Delivered,
        Some((t, false)) if now.duration_since(*t) < CLAIM_TIMEOUT => return Claim::InProgress,
        _ => {}
    }
    s.inserts = s.inserts.wrapping_add(1);
    if s.inserts % PRUNE_EVERY == 0 || s.seen.len() >= SHARD_CAP {
        s.seen.retain(|_, (t, _)| now.duration_since(*t) < REMEMBER);
        if s.seen.len() >= SHARD_CAP {
            s.seen.clear();
        }
    }
    s.seen.insert((id, state), (now, false));
    Claim::New
}

/// Ends a [`Claim::New`]: `ok` when the receipt is safe (delivered or stored), else the claim
/// is dropped so that the carrier's resend is taken.
pub fn handed_on(router_id: &str, state: u8, ok: bool) {
    let Ok(id) = router_id.parse::<u64>() else {
        return;
    };
    if let Ok(mut s) = shard(id).lock() {
        if ok {
            s.seen.insert((id, state), (Instant::now(), true));
        } else {
            s.seen.remove(&(id, state));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_wait_for_the_first_and_are_dropped_once_it_is_safe() {
        let id = "386190000000000001";
        assert_eq!(claim(id, 2), Claim::New);
        assert_eq!(claim(id, 2), Claim::InProgress);
        assert_eq!(claim(id, 5), Claim::New, "another state is another receipt");
        handed_on(id, 2, true);
        assert_eq!(claim(id, 2), Claim::Delivered);
        handed_on(id, 5, false);
        assert_eq!(
            claim(id, 5),
            Claim::New,
            "a failed copy does not hold off the resend"
        );
        assert_eq!(claim("not-a-router-id", 2), Claim::New);
        assert_eq!(claim("not-a-router-id", 2), Claim::New);
    }
}
