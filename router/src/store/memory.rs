//! [`MemoryStore`]: the [`Store`] behaviour in memory, for tests and `store = "memory"`. Nothing
//! survives a restart; every write is "durable" as soon as it is applied.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;

use super::history::{self, Event};
use super::{
    Finished, MAX_SPOOL, MessageRecord, PendingDelivery, Store, StoreError, StoreFuture, StoreStats,
};

/// An in-memory [`Store`].
#[derive(Debug)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    ops: AtomicU64,
    /// Whether finished messages go into the spool (off when no record sink takes them).
    spool_on: bool,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self {
            inner: Mutex::default(),
            ops: AtomicU64::new(0),
            spool_on: true,
        }
    }
}

#[derive(Debug)]
struct Inner {
    /// By (created, router id), oldest first, as in the file.
    records: BTreeMap<(u64, String), MessageRecord>,
    /// channel → carrier id → (created, router id).
    by_channel: HashMap<String, HashMap<String, (u64, String)>>,
    pending: BTreeMap<u64, PendingDelivery>,
    by_account: HashMap<String, BTreeSet<u64>>,
    by_expiry: BTreeSet<(u64, u64)>,
    next_key: u64,
    /// (router id as a number, key) → event.
    events: BTreeMap<(u64, u64), Event>,
    spool: BTreeMap<u64, Finished>,
    spool_marks: HashMap<String, u64>,
    spool_dropped: u64,
}

impl Default for Inner {
    fn default() -> Self {
        Self {
            records: BTreeMap::new(),
            by_channel: HashMap::new(),
            pending: BTreeMap::new(),
            by_account: HashMap::new(),
            by_expiry: BTreeSet::new(),
            next_key: 1,
            events: BTreeMap::new(),
            spool: BTreeMap::new(),
            spool_marks: HashMap::new(),
            spool_dropped: 0,
        }
    }
}

impl Inner {
    fn unindex_record(&mut self, old: &MessageRecord) {
        if let Some(ids) = self.by_channel.get_mut(&old.channel) {
            if ids
                .get(&old.channel_id)
                .is_some_and(|(created, id)| *created == old.created && *id == old.router_id)
            {
                ids.remove(&old.channel_id);
            }
            if ids.is_empty() {
                self.by_channel.remove(&old.channel);
            }
        }
    }

    fn next_key(&mut self) -> u64 {
        let key = self.next_key;
        self.next_key = key.saturating_add(1);
        key
    }

    fn spool_finished(&mut self, record: MessageRecord, outcome: Option<Event>) {
        if self.spool.len() as u64 >= MAX_SPOOL {
            self.spool_dropped += 1;
            return;
        }
        let seq = self.next_key();
        self.spool.insert(
            seq,
            Finished {
                seq,
                record,
                outcome,
                history: Vec::new(),
            },
        );
    }

    fn remove_pending(&mut self, key: u64) -> bool {
        let Some(d) = self.pending.remove(&key) else {
            return false;
        };
        self.by_expiry.remove(&(d.expires, key));
        if let Some(keys) = self.by_account.get_mut(&d.account) {
            keys.remove(&key);
            if keys.is_empty() {
                self.by_account.remove(&d.account);
            }
        }
        true
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store whose finished messages are not spooled (no delivery-record sink).
    pub fn without_spool() -> Self {
        Self {
            spool_on: false,
            ..Self::default()
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every mutation leaves the maps consistent before it can panic, so a poisoned lock
        // still guards usable data.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn done<T: Send + 'static>(&self, value: T) -> StoreFuture<'_, T> {
        self.ops.fetch_add(1, Ordering::Relaxed);
        Box::pin(async move { Ok(value) })
    }
}

impl Store for MemoryStore {
    fn record(&self, rec: MessageRecord) -> StoreFuture<'_, ()> {
        {
            let mut inner = self.lock();
            let key = (rec.created, rec.router_id.clone());
            inner
                .by_channel
                .entry(rec.channel.clone())
                .or_default()
                .insert(rec.channel_id.clone(), key.clone());
            inner.records.insert(key, rec);
        }
        self.done(())
    }

    fn lookup(
        &self,
        channel: &str,
        channel_id: &str,
    ) -> Result<Option<Arc<MessageRecord>>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .by_channel
            .get(channel)
            .and_then(|ids| ids.get(channel_id))
            .and_then(|key| inner.records.get(key))
            .cloned()
            .map(Arc::new))
    }

    fn by_router_id(&self, router_id: &str) -> Result<Option<MessageRecord>, StoreError> {
        let inner = self.lock();
        if let Some(id) = history::key_of(router_id) {
            let minted = crate::ids::unix_secs(id);
            let found = (minted..minted.saturating_add(3))
                .find_map(|created| inner.records.get(&(created, router_id.to_owned())));
            return Ok(found.cloned());
        }
        Ok(inner
            .records
            .iter()
            .find(|((_, id), _)| id == router_id)
            .map(|(_, rec)| rec.clone()))
    }

    fn note(&self, key: u64, event: Event, finish: Option<Arc<MessageRecord>>) {
        let mut inner = self.lock();
        let so_far = inner.events.range((key, 0)..=(key, u64::MAX));
        let kept = so_far.clone().count();
        let finished = so_far.into_iter().any(|(_, e)| e.final_receipt().is_some());
        if kept < history::MAX_EVENTS {
            let seq = inner.next_key();
            if let Some(rec) =
                finish.filter(|_| self.spool_on && !finished && event.final_receipt().is_some())
            {
                inner.spool_finished((*rec).clone(), Some(event.clone()));
            }
            inner.events.insert((key, seq), event);
        }
    }

    fn history(&self, key: u64) -> Result<Vec<Event>, StoreError> {
        Ok(self
            .lock()
            .events
            .range((key, 0)..=(key, u64::MAX))
            .map(|(_, e)| e.clone())
            .collect())
    }

    fn spooled(
        &self,
        after: u64,
        limit: usize,
        ended_by: u64,
    ) -> Result<Vec<Finished>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .spool
            .range(after.saturating_add(1)..)
            .take(limit)
            .take_while(|(_, f)| f.ended_by(ended_by))
            .map(|(_, f)| {
                let mut f = f.clone();
                if let Some(key) = history::key_of(&f.record.router_id) {
                    f.history = inner
                        .events
                        .range((key, 0)..=(key, u64::MAX))
                        .map(|(_, e)| e.clone())
                        .collect();
                }
                f
            })
            .collect())
    }

    fn spool_done(&self, sink: &str, upto: u64, remove_upto: u64) -> StoreFuture<'_, ()> {
        {
            let mut inner = self.lock();
            inner.spool_marks.insert(sink.to_owned(), upto);
            inner.spool.retain(|seq, _| *seq > remove_upto);
        }
        self.done(())
    }

    fn spool_mark(&self, sink: &str) -> Result<u64, StoreError> {
        Ok(self.lock().spool_marks.get(sink).copied().unwrap_or(0))
    }

    fn enqueue(&self, account: &str, pdu: Bytes, expires: u64) -> StoreFuture<'_, u64> {
        let key = {
            let mut inner = self.lock();
            let key = inner.next_key();
            inner.pending.insert(
                key,
                PendingDelivery {
                    key,
                    account: account.to_owned(),
                    pdu,
                    expires,
                },
            );
            inner
                .by_account
                .entry(account.to_owned())
                .or_default()
                .insert(key);
            inner.by_expiry.insert((expires, key));
            key
        };
        self.done(key)
    }

    fn dequeue(&self, key: u64) -> StoreFuture<'_, ()> {
        self.lock().remove_pending(key);
        self.done(())
    }

    fn is_pending(&self, key: u64) -> Result<bool, StoreError> {
        Ok(self.lock().pending.contains_key(&key))
    }

    fn pending(
        &self,
        account: &str,
        now: u64,
        limit: usize,
    ) -> Result<Vec<PendingDelivery>, StoreError> {
        let inner = self.lock();
        let Some(keys) = inner.by_account.get(account) else {
            return Ok(Vec::new());
        };
        Ok(keys
            .iter()
            .filter_map(|k| inner.pending.get(k))
            .filter(|d| d.expires > now)
            .take(limit)
            .cloned()
            .collect())
    }

    fn newest_pending(&self, limit: usize) -> Result<Vec<PendingDelivery>, StoreError> {
        Ok(self
            .lock()
            .pending
            .values()
            .rev()
            .take(limit)
            .cloned()
            .collect())
    }

    fn expire(&self, now: u64, records_before: u64) -> Result<usize, StoreError> {
        let mut inner = self.lock();
        let due: Vec<(u64, u64)> = inner.by_expiry.range(..=(now, u64::MAX)).copied().collect();
        let mut count = 0usize;
        for (expires, key) in due {
            inner.by_expiry.remove(&(expires, key));
            inner.remove_pending(key);
            count += 1;
        }
        let old: Vec<(u64, String)> = inner
            .records
            .range(..(records_before, String::new()))
            .map(|(k, _)| k.clone())
            .collect();
        for key in old {
            if let Some(rec) = inner.records.remove(&key) {
                inner.unindex_record(&rec);
                if let Some(id) = history::key_of(&rec.router_id) {
                    let keys: Vec<_> = inner
                        .events
                        .range((id, 0)..=(id, u64::MAX))
                        .map(|(k, _)| *k)
                        .collect();
                    let mut finished = false;
                    for k in keys {
                        finished |= inner
                            .events
                            .remove(&k)
                            .is_some_and(|e| e.final_receipt().is_some());
                    }
                    if !finished && self.spool_on {
                        inner.spool_finished(rec, None);
                    }
                }
            }
            count += 1;
        }
        // Events whose record is not here (in a cluster, receipts for messages another
        // instance accepted) go by their id's age.
        let floor = crate::ids::first_at(records_before);
        let before = inner.events.len();
        inner.events.retain(|(id, _), _| *id >= floor);
        count += before - inner.events.len();
        drop(inner);
        self.ops.fetch_add(1, Ordering::Relaxed);
        Ok(count)
    }

    fn stats(&self) -> StoreStats {
        let inner = self.lock();
        StoreStats {
            commits: 0,
            ops: self.ops.load(Ordering::Relaxed),
            queue_depth: inner.pending.len() as u64,
            backlog: 0,
            write_micros: 0,
            unindexed: 0,
            spooled: inner.spool.len() as u64,
            spool_dropped: inner.spool_dropped,
        }
    }
}
