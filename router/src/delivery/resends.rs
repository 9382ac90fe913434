//! Receipts a carrier sends again are delivered once.
//!
//! A carrier resends a `deliver_sm` it has no answer for (tyntec: "resends otherwise"), and an
//! answer can be lost with the link that carried it, after the router had already delivered the
//! receipt to its client. The router remembers, for a few minutes, which (message, state) pairs
//! it has safely handed on, and answers a repeat without delivering it again. The memory is
//! bounded: forgetting only means the old at-least-once behaviour for that receipt.
//!
//! The memory dies with the process. So that a receipt the router had stored just before it was
//! killed (its answer to the carrier lost with the process) is not delivered twice when the
//! carrier sends it again, the receipts stored last are remembered at start ([`stored`]).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::smpp::pdu::Sm;
use crate::smpp::receipt;

/// How long a delivered receipt is remembered.
const REMEMBER: Duration = Duration::from_secs(300);
/// How long a claim in progress holds off copies (a store write takes milliseconds).
const CLAIM_TIMEOUT: Duration = Duration::from_secs(30);
const SHARDS: usize = 64;
/// Buckets per shard; a bucket holds [`WAYS`] receipts in one cache line.
const BUCKETS: usize = 4096;
const WAYS: usize = 4;
// 64 shards x 4,096 buckets x 4 ways: about 1M receipts remembered, 16 MB, allocated once.
const _: () = assert!(std::mem::size_of::<Bucket>() == 64);

/// One remembered receipt; `id == 0` is an empty slot (router ids are never 0).
#[derive(Clone, Copy, Default)]
struct Slot {
    id: u64,
    /// Seconds since [`EPOCH`] when it was claimed (or handed on).
    at: u32,
    state: u8,
    delivered: bool,
}

#[derive(Clone, Copy, Default)]
#[repr(align(64))]
struct Bucket([Slot; WAYS]);

/// A set-associative table: a receipt lives in one bucket, found with one memory access, and
/// a full bucket forgets its oldest receipt. No growth, rehashing or pruning scans.
struct Shard(Box<[Bucket]>);

/// The receipts one router has handed on (part of its delivery layer, see
/// [`super::outbox::Outbox::resends`]).
pub struct Resends {
    shards: Box<[Mutex<Shard>]>,
    /// Slots keep seconds since this.
    epoch: Instant,
}

impl Default for Resends {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(Shard(vec![Bucket::default(); BUCKETS].into())))
                .collect(),
            epoch: Instant::now(),
        }
    }
}

impl Shard {
    fn find(&mut self, bucket: usize, id: u64, state: u8) -> Option<&mut Slot> {
        self.0[bucket]
            .0
            .iter_mut()
            .find(|s| s.id == id && s.state == state)
    }

    /// The slot for a new receipt: an empty one, else the oldest.
    fn vacant(&mut self, bucket: usize) -> &mut Slot {
        let ways = &mut self.0[bucket].0;
        let mut pick = 0;
        for (i, s) in ways.iter().enumerate() {
            if s.id == 0 {
                pick = i;
                break;
            }
            if s.at < ways[pick].at {
                pick = i;
            }
        }
        &mut ways[pick]
    }
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

impl Resends {
    fn now_secs(&self) -> u32 {
        u32::try_from(self.epoch.elapsed().as_secs()).unwrap_or(u32::MAX)
    }

    /// The shard and the bucket of a router id (all the states of one message share its
    /// bucket).
    fn place(&self, id: u64) -> (&Mutex<Shard>, usize) {
        // Router ids are time, instance and sequence: mix them so that neighbours spread out.
        let h = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let h = h ^ (h >> 29);
        (
            &self.shards[(h as usize) % SHARDS],
            ((h >> 8) as usize) % BUCKETS,
        )
    }

    /// Claims the receipt of `router_id` with `state`.
    pub fn claim(&self, router_id: &str, state: u8) -> Claim {
        let Ok(id) = router_id.parse::<u64>() else {
            return Claim::New;
        };
        if id == 0 {
            return Claim::New;
        }
        let (shard, bucket) = self.place(id);
        let Ok(mut s) = shard.lock() else {
            return Claim::New;
        };
        let now = self.now_secs();
        let age = |at: u32| Duration::from_secs(u64::from(now.saturating_sub(at)));
        if let Some(slot) = s.find(bucket, id, state) {
            match slot.delivered {
                true if age(slot.at) < REMEMBER => return Claim::Delivered,
                false if age(slot.at) < CLAIM_TIMEOUT => return Claim::InProgress,
                _ => {
                    *slot = Slot {
                        id,
                        at: now,
                        state,
                        delivered: false,
                    };
                    return Claim::New;
                }
            }
        }
        *s.vacant(bucket) = Slot {
            id,
            at: now,
            state,
            delivered: false,
        };
        Claim::New
    }

    /// Remembers `sm`, a receipt already stored for its client (its id the router's), as handed on;
    /// false when it is not a receipt or names no id.
    pub fn stored(&self, sm: &Sm) -> bool {
        if !sm.esm_class.is_receipt() {
            return false;
        }
        let text = String::from_utf8_lossy(sm.payload());
        let id = match sm.tlvs.receipted_message_id() {
            Some(id) => String::from_utf8_lossy(id).into_owned(),
            None => match receipt::parse(&text).id {
                Some(id) => id.to_string(),
                None => return false,
            },
        };
        self.handed_on(&id, state_of(sm, &text), true);
        true
    }

    /// Ends a [`Claim::New`]: `ok` when the receipt is safe (delivered or stored), else the claim
    /// is dropped so that the carrier's resend is taken.
    pub fn handed_on(&self, router_id: &str, state: u8, ok: bool) {
        let Ok(id) = router_id.parse::<u64>() else {
            return;
        };
        let (shard, bucket) = self.place(id);
        let Ok(mut s) = shard.lock() else {
            return;
        };
        let now = self.now_secs();
        if let Some(slot) = s.find(bucket, id, state) {
            if ok {
                slot.delivered = true;
                slot.at = now;
            } else {
                *slot = Slot::default();
            }
        } else if ok && id != 0 {
            *s.vacant(bucket) = Slot {
                id,
                at: now,
                state,
                delivered: true,
            };
        }
    }
}

/// The state a receipt is remembered under: its `message_state`, else the `stat:` of its text,
/// else 0.
pub fn state_of(sm: &Sm, text: &str) -> u8 {
    sm.tlvs
        .message_state()
        .or_else(|| receipt::parse(text).state)
        .map_or(0, |s| s.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_wait_for_the_first_and_are_dropped_once_it_is_safe() {
        let r = Resends::default();
        let (claim, handed_on) = (
            |id, st| r.claim(id, st),
            |id, st, ok| r.handed_on(id, st, ok),
        );
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

    #[test]
    fn receipts_stored_before_a_restart_are_known_for_copies() {
        use bytes::Bytes;

        use crate::smpp::tlv::{TlvsBuilder, tag};
        use crate::smpp::values::{EsmClass, MessageState};

        let r = Resends::default();
        let (claim, stored) = (|id, st| r.claim(id, st), |sm: &Sm| r.stored(sm));
        let receipt = |text: &str| Sm {
            esm_class: EsmClass(EsmClass::MC_DELIVERY_RECEIPT),
            short_message: Bytes::from(text.to_owned()),
            ..Sm::default()
        };
        // The id and state from the TLVs.
        let mut sm = receipt("id:1 stat:UNDELIV");
        sm.tlvs = TlvsBuilder::new()
            .push_cstr(tag::RECEIPTED_MESSAGE_ID, b"386190000000000101")
            .push_u8(tag::MESSAGE_STATE, MessageState::DELIVERED.0)
            .build();
        assert!(stored(&sm));
        assert_eq!(claim("386190000000000101", 2), Claim::Delivered);
        assert_eq!(claim("386190000000000101", 5), Claim::New);
        // From the text when there are none.
        let sm = receipt("id:386190000000000102 sub:001 dlvrd:001 stat:DELIVRD err:000 text:");
        assert_eq!(state_of(&sm, "id:386190000000000102 stat:DELIVRD"), 2);
        assert!(stored(&sm));
        assert_eq!(claim("386190000000000102", 2), Claim::Delivered);
        // Not a receipt, or no id: nothing remembered.
        let mut mo = receipt("id:386190000000000103 stat:DELIVRD");
        mo.esm_class = EsmClass(0);
        assert!(!stored(&mo));
        assert_eq!(claim("386190000000000103", 2), Claim::New);
        assert!(!stored(&receipt("delivered")));
    }

    #[test]
    fn a_full_bucket_forgets_its_oldest_receipt() {
        let mut shard = Shard(vec![Bucket::default(); 2].into());
        for (i, at) in [5, 1, 7, 3].into_iter().enumerate() {
            let slot = shard.vacant(1);
            assert_eq!(slot.id, 0, "an empty slot is taken first");
            *slot = Slot {
                id: 10 + i as u64,
                at,
                state: 2,
                delivered: true,
            };
        }
        assert_eq!(shard.vacant(1).id, 11, "the oldest (at 1) goes");
        assert!(shard.find(1, 12, 2).is_some());
        assert!(
            shard.find(1, 12, 5).is_none(),
            "another state is another receipt"
        );
        assert_eq!(shard.vacant(0).id, 0, "buckets are separate");
    }
}
