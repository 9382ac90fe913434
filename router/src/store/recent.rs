//! [`Recent`]: the latest records, kept in memory in front of [`super::RedbStore`]'s lookups.
//!
//! Most receipts come within seconds of their message (an OTP is delivered or not at once), and
//! looking each one up in redb costs a read transaction, two B-tree searches and a decode — a
//! twentieth of the router's CPU on the carrier path (a third more CPU per message when receipts
//! come 2 s late at 40,000 msg/s and miss a too small copy). The newest records
//! ([`DEFAULT_CAPACITY`], or `store.recent_records`) are also kept here, from the moment they are written (so that a receipt that overtakes its record's
//! commit finds it at once; it still waits for the client's answer, see `answers`), and a lookup
//! that finds its record here never touches the file. Older records come from the file as
//! before. The file stays the truth: what is here is the record written (or being written) to it,
//! shared with the write rather than copied, replaced and expired along with it.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::{Arc, Mutex};

use super::MessageRecord;

/// How many records are kept by default (about 430 bytes each: ~110 MB). At 40,000 msg/s that
/// covers receipts up to ~6 s after their message; at 1,000 msg/s, four minutes.
pub const DEFAULT_CAPACITY: usize = 262_144;

/// The newest records by (channel, carrier id).
pub struct Recent {
    inner: Mutex<Inner>,
    capacity: usize,
    /// SipHash: the keys include the carrier's message ids, which a carrier chooses.
    hasher: RandomState,
}

/// The maps' keys are already hashes (keyed with [`Recent`]'s random state): used as they are.
#[derive(Default)]
struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed here; fold anything else in rather than lose it.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type ByHash<V> = HashMap<u64, V, BuildHasherDefault<PreHashed>>;

#[derive(Default)]
struct Inner {
    /// By the hash of (channel, carrier id); a lookup checks the record's own fields, so a
    /// collision only means a trip to the file. Shared with the write queued for the file.
    by_key: ByHash<Arc<MessageRecord>>,
    /// Keys in insertion order with the record inserted (its address), for eviction: a key whose
    /// record was replaced since is not evicted by its older entry here.
    order: VecDeque<(u64, usize)>,
}

impl Recent {
    /// Keeps at most `capacity` records (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            capacity: capacity.max(1),
            hasher: RandomState::new(),
        }
    }

    fn key(&self, channel: &str, channel_id: &str) -> u64 {
        self.hasher.hash_one((channel, channel_id))
    }

    /// Keeps `rec` (shared with its queued write, not copied), replacing an older record with
    /// its carrier id; returns the key it is kept under (for [`Recent::forget`]).
    pub fn insert(&self, rec: &Arc<MessageRecord>) -> u64 {
        let key = self.key(&rec.channel, &rec.channel_id);
        let Ok(mut inner) = self.inner.lock() else {
            return key;
        };
        inner.by_key.insert(key, Arc::clone(rec));
        inner.order.push_back((key, Arc::as_ptr(rec) as usize));
        while inner.order.len() > self.capacity {
            let Some((gone, addr)) = inner.order.pop_front() else {
                break;
            };
            if inner
                .by_key
                .get(&gone)
                .is_some_and(|r| Arc::as_ptr(r) as usize == addr)
            {
                inner.by_key.remove(&gone);
            }
        }
        key
    }

    /// Drops `rec`, kept under `key`, unless a newer record took its place (its write failed).
    pub fn forget(&self, key: u64, rec: &Arc<MessageRecord>) {
        if let Ok(mut inner) = self.inner.lock()
            && inner.by_key.get(&key).is_some_and(|r| Arc::ptr_eq(r, rec))
        {
            inner.by_key.remove(&key);
        }
    }

    /// The record for a carrier id on a channel, if it is here.
    pub fn get(&self, channel: &str, channel_id: &str) -> Option<Arc<MessageRecord>> {
        let key = self.key(channel, channel_id);
        let inner = self.inner.lock().ok()?;
        inner
            .by_key
            .get(&key)
            .filter(|r| r.channel == channel && r.channel_id == channel_id)
            .cloned()
    }

    /// Forgets records created before `before` (they were expired from the file).
    pub fn expire(&self, before: u64) {
        if let Ok(mut inner) = self.inner.lock() {
            let Inner { by_key, order } = &mut *inner;
            by_key.retain(|_, r| r.created >= before);
            order.retain(|(k, addr)| {
                by_key
                    .get(k)
                    .is_some_and(|r| Arc::as_ptr(r) as usize == *addr)
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPACITY: usize = 1000;

    fn rec(router_id: &str, channel_id: &str, created: u64) -> Arc<MessageRecord> {
        Arc::new(MessageRecord {
            router_id: router_id.into(),
            account: "acme".into(),
            channel: "c".into(),
            channel_id: channel_id.into(),
            created,
            attempts: String::new(),
            receipt_to: None,
        })
    }

    #[test]
    fn keeps_the_newest_and_expires() {
        let r = Recent::new(CAPACITY);
        r.insert(&rec("R1", "a", 1));
        assert_eq!(r.get("c", "a").unwrap().router_id, "R1");
        assert!(r.get("c", "b").is_none());
        assert!(r.get("other", "a").is_none());
        // A carrier id reused: the newest record.
        r.insert(&rec("R2", "a", 3));
        assert_eq!(r.get("c", "a").unwrap().router_id, "R2");
        r.expire(4);
        assert!(r.get("c", "a").is_none());
        let failed = rec("R3", "c", 5);
        let key = r.insert(&failed);
        r.forget(key, &failed);
        assert!(r.get("c", "c").is_none());
        // A failed write does not drop the newer record that took its carrier id.
        let failed = rec("R4", "d", 6);
        let key = r.insert(&failed);
        r.insert(&rec("R5", "d", 6));
        r.forget(key, &failed);
        assert_eq!(r.get("c", "d").unwrap().router_id, "R5");
    }

    #[test]
    fn a_replaced_record_is_not_evicted_by_its_older_entry() {
        let r = Recent::new(CAPACITY);
        r.insert(&rec("R1", "a", 1));
        r.insert(&rec("R2", "a", 2));
        // The oldest entry (R1's) goes first; R2 under the same key stays.
        for i in 0..CAPACITY - 1 {
            r.insert(&rec(&format!("X{i}"), &format!("x{i}"), 3));
        }
        assert_eq!(r.get("c", "a").unwrap().router_id, "R2");
        assert!(r.get("c", "x0").is_some());
    }

    #[test]
    fn holds_at_most_its_capacity() {
        let r = Recent::new(CAPACITY);
        for i in 0..CAPACITY + 10 {
            r.insert(&rec(&format!("R{i}"), &format!("{i}"), 1));
        }
        assert!(r.get("c", "0").is_none());
        assert!(r.get("c", "9").is_none());
        assert!(r.get("c", "10").is_some());
        let inner = r.inner.lock().unwrap();
        assert_eq!(inner.by_key.len(), CAPACITY);
        assert_eq!(inner.order.len(), CAPACITY);
    }
}
