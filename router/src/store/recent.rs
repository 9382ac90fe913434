//! [`Recent`]: the latest records, kept in memory in front of [`super::RedbStore`]'s lookups.
//!
//! Most receipts come within seconds of their message (an OTP is delivered or not at once), and
//! looking each one up in redb costs a read transaction, two B-tree searches and a decode — a
//! twentieth of the router's CPU on the carrier path (a third more CPU per message when receipts
//! come 2 s late at 40,000 msg/s and miss a too small copy). The newest records
//! ([`DEFAULT_CAPACITY`], or `store.recent_records`) are also kept here, from the moment they are
//! written (so that a receipt that overtakes its record's commit finds it at once; it still waits
//! for the client's answer, see `answers`), and a lookup that finds its record here never touches
//! the file. Older records come from the file as before. The file stays the truth: what is here
//! is the record written (or being written) to it, shared with the write rather than copied,
//! replaced and expired along with it.
//!
//! It is also where records wait for the file's carrier-id index, which the writer fills late
//! and in key order (see `redb_store::deferred`): each record gets a sequence number, and one is
//! evicted only once the writer reports it indexed ([`Recent::index_progress`]), so a record is always
//! found either here or through the file's index. Until the writer catches up this may hold more
//! than its capacity.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::MessageRecord;

/// How many records are kept by default (about 550 bytes each: ~145 MB; records not yet in the
/// file's index stay on top, at most about half as many again). At 40,000 msg/s that covers
/// receipts up to ~6 s after their message; at 1,000 msg/s, four minutes.
pub const DEFAULT_CAPACITY: usize = 262_144;

/// The most records the maps are sized for at the start (larger capacities grow as they fill).
const PRESIZE_LIMIT: usize = 1 << 20;

/// The newest records by (channel, carrier id).
pub struct Recent {
    inner: Mutex<Inner>,
    capacity: usize,
    /// Records with sequence numbers up to this one are in the file's carrier-id index (shared
    /// with the writer, which raises it).
    indexed: Arc<AtomicU64>,
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

/// A record kept here, with its sequence number.
struct Entry {
    rec: Arc<MessageRecord>,
    seq: u64,
    /// The record this one replaced under the same key, while that one is not yet in the file's
    /// index: if this one's write fails, or the two only share a hash, it is still found. One
    /// level only (a carrier that reuses one id for many messages makes no chain).
    prev: Option<(Arc<MessageRecord>, u64)>,
}

#[derive(Default)]
struct Inner {
    /// By the hash of (channel, carrier id); a lookup checks the record's own fields, so a
    /// collision only means a trip to the file. Shared with the write queued for the file.
    by_key: ByHash<Entry>,
    /// Keys in insertion order with the sequence number of the record inserted, for eviction: a
    /// key whose record was replaced since is not evicted by its older entry here, and nothing
    /// is evicted past a record not yet in the file's index.
    order: VecDeque<(u64, u64)>,
    /// The sequence number of the last record inserted.
    seq: u64,
}

impl Recent {
    /// Keeps `capacity` records (at least one), and those not yet in the file's index on top.
    pub fn new(capacity: usize) -> Self {
        // Sized for the capacity at once (up to a limit): growing a map of this size rehashes
        // everything under the lock, a pause of milliseconds for every lookup, several times
        // over while a fresh router fills it.
        let presize = capacity.min(PRESIZE_LIMIT);
        Self {
            inner: Mutex::new(Inner {
                by_key: ByHash::with_capacity_and_hasher(presize, BuildHasherDefault::default()),
                order: VecDeque::with_capacity(presize),
                seq: 0,
            }),
            capacity: capacity.max(1),
            indexed: Arc::new(AtomicU64::new(0)),
            hasher: RandomState::new(),
        }
    }

    fn key(&self, channel: &str, channel_id: &str) -> u64 {
        self.hasher.hash_one((channel, channel_id))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Nothing panics while holding it; if something did, the maps are still consistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How far the file's carrier-id index has come: the writer stores there the sequence number
    /// up to which every record it committed is indexed.
    pub fn index_progress(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.indexed)
    }

    /// Keeps `rec` (shared with its queued write, not copied), replacing an older record with
    /// its carrier id, and calls `then` with its sequence number while no other record can be
    /// inserted, so that records reach the writer in sequence. Returns the key it is kept under
    /// (for [`Recent::forget`]) and what `then` returned.
    pub fn insert<R>(&self, rec: &Arc<MessageRecord>, then: impl FnOnce(u64) -> R) -> (u64, R) {
        let key = self.key(&rec.channel, &rec.channel_id);
        let indexed = self.indexed.load(Ordering::Acquire);
        let mut inner = self.lock();
        inner.seq += 1;
        let seq = inner.seq;
        let prev = inner
            .by_key
            .remove(&key)
            .filter(|old| old.seq > indexed)
            .map(|old| (old.rec, old.seq));
        inner.by_key.insert(
            key,
            Entry {
                rec: Arc::clone(rec),
                seq,
                prev,
            },
        );
        inner.order.push_back((key, seq));
        while inner.order.len() > self.capacity {
            let Some(&(gone, gone_seq)) = inner.order.front() else {
                break;
            };
            if gone_seq > indexed {
                // Not in the file's index yet: only here can it be found.
                break;
            }
            inner.order.pop_front();
            if inner.by_key.get(&gone).is_some_and(|e| e.seq == gone_seq) {
                inner.by_key.remove(&gone);
            }
        }
        let out = then(seq);
        (key, out)
    }

    /// Drops `rec`, kept under `key` (its write failed); the record it replaced comes back if
    /// that one is not in the file's index yet.
    pub fn forget(&self, key: u64, rec: &Arc<MessageRecord>) {
        let indexed = self.indexed.load(Ordering::Acquire);
        let mut inner = self.lock();
        let Some(entry) = inner.by_key.get_mut(&key) else {
            return;
        };
        if Arc::ptr_eq(&entry.rec, rec) {
            match entry.prev.take().filter(|(_, seq)| *seq > indexed) {
                Some((rec, seq)) => {
                    *entry = Entry {
                        rec,
                        seq,
                        prev: None,
                    }
                }
                None => {
                    inner.by_key.remove(&key);
                }
            }
        } else if entry
            .prev
            .as_ref()
            .is_some_and(|(p, _)| Arc::ptr_eq(p, rec))
        {
            entry.prev = None;
        }
    }

    /// The record for a carrier id on a channel, if it is here.
    pub fn get(&self, channel: &str, channel_id: &str) -> Option<Arc<MessageRecord>> {
        let key = self.key(channel, channel_id);
        let inner = self.lock();
        let entry = inner.by_key.get(&key)?;
        let matches = |r: &Arc<MessageRecord>| r.channel == channel && r.channel_id == channel_id;
        if matches(&entry.rec) {
            return Some(Arc::clone(&entry.rec));
        }
        // Two carrier ids with one hash: the other one may be the one kept beneath.
        entry
            .prev
            .as_ref()
            .filter(|(r, _)| matches(r))
            .map(|(r, _)| Arc::clone(r))
    }

    /// Forgets records created before `before` (they were expired from the file).
    pub fn expire(&self, before: u64) {
        let indexed = self.indexed.load(Ordering::Acquire);
        let mut inner = self.lock();
        let Inner { by_key, order, .. } = &mut *inner;
        by_key.retain(|_, e| {
            if e.prev.as_ref().is_some_and(|(r, _)| r.created < before) {
                e.prev = None;
            }
            e.rec.created >= before
        });
        order.retain(|(k, seq)| *seq > indexed || by_key.get(k).is_some_and(|e| e.seq == *seq));
    }

    /// How many records are kept (tests).
    #[cfg(test)]
    pub fn kept(&self) -> usize {
        self.lock().by_key.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPACITY: usize = 1000;

    /// A `Recent` whose records all count as indexed in the file.
    fn indexed(capacity: usize) -> Recent {
        let r = Recent::new(capacity);
        r.index_progress().store(u64::MAX, Ordering::Release);
        r
    }

    fn put(r: &Recent, rec: &Arc<MessageRecord>) -> u64 {
        r.insert(rec, |_| ()).0
    }

    fn rec(router_id: &str, channel_id: &str, created: u64) -> Arc<MessageRecord> {
        Arc::new(MessageRecord {
            router_id: router_id.into(),
            account: "acme".into(),
            channel: "c".into(),
            channel_id: channel_id.into(),
            created,
            attempts: String::new(),
            ..MessageRecord::default()
        })
    }

    #[test]
    fn keeps_the_newest_and_expires() {
        let r = indexed(CAPACITY);
        put(&r, &rec("R1", "a", 1));
        assert_eq!(r.get("c", "a").unwrap().router_id, "R1");
        assert!(r.get("c", "b").is_none());
        assert!(r.get("other", "a").is_none());
        // A carrier id reused: the newest record.
        put(&r, &rec("R2", "a", 3));
        assert_eq!(r.get("c", "a").unwrap().router_id, "R2");
        r.expire(4);
        assert!(r.get("c", "a").is_none());
        let failed = rec("R3", "c", 5);
        let key = put(&r, &failed);
        r.forget(key, &failed);
        assert!(r.get("c", "c").is_none());
        // A failed write does not drop the newer record that took its carrier id.
        let failed = rec("R4", "d", 6);
        let key = put(&r, &failed);
        put(&r, &rec("R5", "d", 6));
        r.forget(key, &failed);
        assert_eq!(r.get("c", "d").unwrap().router_id, "R5");
    }

    #[test]
    fn a_replaced_record_is_not_evicted_by_its_older_entry() {
        let r = indexed(CAPACITY);
        put(&r, &rec("R1", "a", 1));
        put(&r, &rec("R2", "a", 2));
        // The oldest entry (R1's) goes first; R2 under the same key stays.
        for i in 0..CAPACITY - 1 {
            put(&r, &rec(&format!("X{i}"), &format!("x{i}"), 3));
        }
        assert_eq!(r.get("c", "a").unwrap().router_id, "R2");
        assert!(r.get("c", "x0").is_some());
    }

    #[test]
    fn holds_at_most_its_capacity() {
        let r = indexed(CAPACITY);
        for i in 0..CAPACITY + 10 {
            put(&r, &rec(&format!("R{i}"), &format!("{i}"), 1));
        }
        assert!(r.get("c", "0").is_none());
        assert!(r.get("c", "9").is_none());
        assert!(r.get("c", "10").is_some());
        let inner = r.lock();
        assert_eq!(inner.by_key.len(), CAPACITY);
        assert_eq!(inner.order.len(), CAPACITY);
    }

    #[test]
    fn records_not_yet_indexed_stay() {
        let r = Recent::new(2);
        let seqs: Vec<u64> = (0..5)
            .map(|i| {
                r.insert(&rec(&format!("R{i}"), &format!("{i}"), 1), |seq| seq)
                    .1
            })
            .collect();
        assert_eq!(seqs, [1, 2, 3, 4, 5]);
        for i in 0..5 {
            assert!(r.get("c", &format!("{i}")).is_some(), "{i} was evicted");
        }
        // The writer has indexed the first three: they may go, down to the capacity.
        r.index_progress().store(3, Ordering::Release);
        put(&r, &rec("R5", "5", 1));
        assert!(r.get("c", "0").is_none());
        assert!(r.get("c", "2").is_none());
        for i in 3..6 {
            assert!(r.get("c", &format!("{i}")).is_some(), "{i} was evicted");
        }
    }

    #[test]
    fn a_failed_write_brings_back_the_record_it_replaced_until_that_is_indexed() {
        let r = Recent::new(CAPACITY);
        put(&r, &rec("OLD", "a", 1));
        let new = rec("NEW", "a", 2);
        let key = put(&r, &new);
        assert_eq!(r.get("c", "a").unwrap().router_id, "NEW");
        r.forget(key, &new);
        assert_eq!(r.get("c", "a").unwrap().router_id, "OLD");
        // Once OLD is in the file's index, a failed successor just goes (the file has OLD).
        r.index_progress().store(3, Ordering::Release);
        let new = rec("NEW2", "a", 3);
        let key = put(&r, &new);
        r.forget(key, &new);
        assert!(r.get("c", "a").is_none());
    }
}
