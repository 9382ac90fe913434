//! The carrier-id index, written late and in key order.
//!
//! Carrier ids are often in no order at all (UUIDs): inserted one by one as messages are
//! recorded, each lands on its own leaf of the index, and every commit rewrites about one 4 KB
//! page per message — the disk, not the CPU, then set the router's rate (≈ 28,000 msg/s on the
//! benchmark machine, against ≈ 65,000 with ordered ids). So a record's commit writes only the
//! record itself (keyed by time, appended) and its key in the **log** (one entry per commit,
//! listing the keys of the records it wrote). The writer gathers the committed records in
//! memory; once a **generation** of them is large enough (a quarter of `recent_records`) or the
//! store is idle, it sorts them by (channel, carrier id) and inserts them into the index a chunk
//! per commit, so neighbouring entries share their pages. When the last chunk of a generation is
//! committed, the same transaction deletes the log entries it covered, and the generation's
//! records may leave [`Recent`](super::super::recent::Recent), which keeps every record not yet
//! indexed (a lookup finds a record there or through the index, never neither).
//!
//! After a crash the log names every record that may be missing from the index: opening the file
//! reads them back into memory (and into `Recent`), and they are indexed like new ones. Indexing
//! a record twice is harmless (the same entry is written again). A record expired (deleted from
//! `messages`) before its turn comes is not indexed.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use redb::{ReadableTable, Table};

use super::super::codec::encode_keys;
use super::super::{MessageRecord, StoreError};
use super::RecordKey;

/// How many index entries one write transaction inserts at most while messages are coming in
/// (an idle store finishes the generation under way, or indexes everything waiting, at once).
pub(super) const CHUNK: usize = 4096;

/// A committed record with its sequence number in `Recent`.
pub(super) type Logged = (Arc<MessageRecord>, u64);

/// The records committed but not yet in the carrier-id index. Owned by the writer thread.
pub(super) struct Deferred {
    /// Committed records gathering for the next generation, in commit order.
    fresh: Vec<Logged>,
    /// The generation being indexed, sorted by (channel, carrier id, sequence), not yet written.
    frozen: VecDeque<Logged>,
    /// The highest sequence number in the generation being indexed.
    frozen_seq: u64,
    /// The last log entry the generation being indexed covers.
    frozen_log: Option<u64>,
    /// The key of the next log entry.
    next_log: u64,
    /// How many records make a generation.
    generation: usize,
    /// The highest expiry cutoff so far: records created before it may be gone.
    expired_before: u64,
    /// Shared with `Recent`: every record up to this sequence number is indexed.
    indexed: Arc<AtomicU64>,
}

impl Deferred {
    /// `pending`: the records the log names at open (with their `Recent` sequence numbers), the
    /// next log key, and `Recent`'s progress counter.
    pub(super) fn new(
        pending: Vec<Logged>,
        next_log: u64,
        generation: usize,
        indexed: Arc<AtomicU64>,
    ) -> Self {
        Self {
            fresh: pending,
            frozen: VecDeque::new(),
            frozen_seq: 0,
            frozen_log: None,
            next_log,
            generation: generation.max(1),
            expired_before: 0,
            indexed,
        }
    }

    /// How many records wait to be indexed.
    pub(super) fn waiting(&self) -> u64 {
        (self.fresh.len() + self.frozen.len()) as u64
    }

    /// Whether anything waits to be indexed.
    pub(super) fn is_empty(&self) -> bool {
        self.fresh.is_empty() && self.frozen.is_empty()
    }

    /// Writes the log entry for the records a transaction writes; returns its key (`None`
    /// without records).
    pub(super) fn log<'r>(
        &self,
        log: &mut Table<'_, u64, &'static [u8]>,
        recs: impl Iterator<Item = &'r MessageRecord> + Clone,
    ) -> Result<Option<u64>, StoreError> {
        if recs.clone().next().is_none() {
            return Ok(None);
        }
        log.insert(self.next_log, encode_keys(recs).as_slice())?;
        Ok(Some(self.next_log))
    }

    /// Inserts the next (at most `limit`) entries of the generation into `index`, skipping
    /// records that are no longer in `records` (expired, perhaps in this very transaction: only
    /// those created before an expiry's cutoff, `expired_before` or an earlier one, are looked
    /// for); deletes the generation's log entries if that completes it. Returns how many entries
    /// it took, for [`Deferred::committed`].
    pub(super) fn write(
        &mut self,
        records: &Table<'_, RecordKey<'static>, &'static [u8]>,
        index: &mut Table<'_, (&'static str, &'static str), RecordKey<'static>>,
        log: &mut Table<'_, u64, &'static [u8]>,
        limit: usize,
        expired_before: u64,
    ) -> Result<usize, StoreError> {
        if self.frozen.is_empty() {
            self.freeze(0);
        }
        let cutoff = expired_before.max(self.expired_before);
        let take = limit.min(self.frozen.len());
        for (rec, _) in self.frozen.iter().take(take) {
            let key = (rec.created, rec.router_id.as_str());
            if rec.created < cutoff && records.get(key)?.is_none() {
                continue;
            }
            index.insert((rec.channel.as_str(), rec.channel_id.as_str()), key)?;
        }
        if take == self.frozen.len()
            && let Some(last) = self.frozen_log
        {
            log.retain_in(..=last, |_, _| false)?;
        }
        Ok(take)
    }

    /// After a commit: `taken` entries of the generation are in the index, `logged` are the
    /// records the transaction wrote (its log entry is `log`), records created before
    /// `expired_before` were expired.
    pub(super) fn committed(
        &mut self,
        taken: usize,
        log: Option<u64>,
        logged: impl Iterator<Item = Logged>,
        expired_before: u64,
    ) {
        self.expired_before = self.expired_before.max(expired_before);
        if taken > 0 {
            self.frozen.drain(..taken.min(self.frozen.len()));
            if self.frozen.is_empty() {
                self.indexed.store(self.frozen_seq, Ordering::Release);
                self.frozen_log = None;
            }
        }
        if let Some(key) = log {
            self.fresh.extend(logged);
            self.next_log = key.saturating_add(1);
        }
        if self.frozen.is_empty() {
            self.freeze(self.generation);
        }
    }

    /// Whether a transaction should index entries now: a generation is under way.
    pub(super) fn due(&self) -> bool {
        !self.frozen.is_empty()
    }

    /// Makes the fresh records the generation to index, if there are at least `min` of them.
    fn freeze(&mut self, min: usize) {
        if self.fresh.is_empty() || self.fresh.len() < min {
            return;
        }
        let mut batch = std::mem::take(&mut self.fresh);
        self.frozen_seq = batch.iter().map(|(_, seq)| *seq).max().unwrap_or(0);
        // The log entries written so far cover exactly these records (and older, indexed ones).
        self.frozen_log = self.next_log.checked_sub(1);
        // By key, and for one key the newest record last, so that it is the one indexed.
        batch.sort_unstable_by(|(a, sa), (b, sb)| {
            (a.channel.as_str(), a.channel_id.as_str(), sa).cmp(&(
                b.channel.as_str(),
                b.channel_id.as_str(),
                sb,
            ))
        });
        self.frozen = batch.into();
    }
}
