//! The durable message store: what the router must not forget.
//!
//! - **Message records**: router id ↔ (channel, carrier id) ↔ client account, so that a carrier's
//!   receipt, which names the carrier's id, finds the router id the client was given and the
//!   account whose sessions must receive it.
//! - **Pending deliveries**: receipts (and MO) waiting for a receiver session of an account,
//!   queued durably, handed out oldest first, removed on `deliver_sm_resp`, expired after a
//!   configurable time.
//!
//! Everything sits behind the object-safe [`Store`] trait, so that a shared engine (Redis, say)
//! can later back several router instances without the router changing. Two implementations:
//!
//! - [`RedbStore`]: one file on disk, written by [`redb`]. redb was chosen because it is pure
//!   Rust (no C toolchain in CI, unlike a bundled SQLite), keeps everything in one file, makes
//!   every commit durable with an fsync, and lets many readers run alongside the one writer. The
//!   writes go through a **group commit**: one writer thread takes everything waiting (up to
//!   [`MAX_BATCH`] operations), applies it in one write transaction, commits once, and only then
//!   completes every waiter. At 40,000 records/s that is a few hundred fsyncs a second, not
//!   40,000, while each record is still durable before its future resolves — so a mapping is
//!   durable before the client hears `ESME_ROK`.
//! - [`MemoryStore`]: the same behaviour in memory, for tests and `store = "memory"`; nothing
//!   survives a restart.
//!
//! Writes ([`Store::record`], [`Store::enqueue`], [`Store::dequeue`]) are queued when the method
//! is called, not when the returned future is first polled; dropping the future does not cancel
//! the write, it only stops waiting for it. Reads are synchronous and cheap (a read transaction
//! on a snapshot, microseconds), so they may be called from async code. [`Store::expire`] is
//! synchronous and waits for commits: call it from a blocking thread
//! (`tokio::task::spawn_blocking`) or a dedicated timer thread, not on a runtime worker.
//!
//! Nothing here panics on any input: bad bytes in an entry surface as [`StoreError::Corrupt`],
//! engine failures (disk full, I/O errors) as [`StoreError::Engine`]. A damaged file is refused
//! at open by redb's integrity check ([`RedbOptions::check_integrity`], on by default) rather
//! than trusted, since redb may panic reading a damaged page of a file it had closed cleanly.
//!
//! The router's `[store]` keys: `engine = "redb" | "memory"`, `path` (default
//! `<data dir>/store.redb`), `receipt_ttl` (how long a pending delivery waits, default 72 h,
//! becomes `expires`), `retention` (how long a record is kept for late receipts, default 72 h,
//! becomes `records_before = now - retention`; [`Store::expire`] runs once a minute),
//! `recent_records` ([`RedbOptions::recent_records`]) and `cache_mb`
//! ([`RedbOptions::cache_bytes`]).

pub(crate) mod codec;
pub mod counters;
pub mod history;
mod memory;
mod recent;
mod redb_store;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;

pub use history::{Event, EventKind};
pub use memory::MemoryStore;
pub use recent::DEFAULT_CAPACITY as DEFAULT_RECENT_RECORDS;
#[cfg(test)]
pub(crate) use redb_store::faults::Faults;
pub use redb_store::{DEFAULT_MAX_HELD, MAX_BATCH, RedbOptions, RedbStore};

/// What the router keeps per accepted message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MessageRecord {
    /// The id the client got in `submit_sm_resp`.
    pub router_id: String,
    /// `system_id` of the client account.
    pub account: String,
    /// Channel name from `routes.toml`.
    pub channel: String,
    /// The carrier's message id, already normalised by the caller.
    pub channel_id: String,
    /// Unix seconds.
    pub created: u64,
    /// The attempt history: channel, outcome and latency of every attempt, in order
    /// (`imessage refused_0x45 51ms; carrier accepted 3ms`).
    pub attempts: String,
    /// For channels whose receipts the router builds itself (plugins, which report only an id
    /// and a state): what the receipt needs from the client's message. `None` for carriers,
    /// whose receipts arrive as whole `deliver_sm`s.
    pub receipt_to: Option<ReceiptTo>,
    /// The route that took it (empty in records of older builds).
    pub route: String,
    /// The server-wide id of the client session it came on (0 in records of older builds).
    pub session: u64,
    /// The destination in E.164, as validated. Kept for the admin's explicit lookup; every
    /// other output shows it masked.
    pub to: String,
    /// The destination's region (ISO 3166, `GB`).
    pub region: String,
}

/// The parts of a client's message its receipt is built from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiptTo {
    /// The client's source address (TON, NPI, address): the receipt's destination.
    pub source: (u8, u8, String),
    /// The client's destination address: the receipt's source.
    pub dest: (u8, u8, String),
    /// The client's `registered_delivery`.
    pub registered_delivery: u8,
}

/// A receipt (or MO) waiting for a client session of `account`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingDelivery {
    /// Store-assigned, increasing (never reused, also across restarts of a durable store).
    pub key: u64,
    pub account: String,
    /// The encoded `deliver_sm` body or command, opaque to the store.
    pub pdu: Bytes,
    /// Unix seconds; the delivery is expired once `now >= expires`.
    pub expires: u64,
}

/// Counters of a store, cheap to read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Durable commits (fsyncs) so far. Always 0 for [`MemoryStore`].
    pub commits: u64,
    /// Write operations committed so far (records, enqueues, dequeues, expiry passes).
    pub ops: u64,
    /// Pending deliveries currently queued, all accounts together (expired ones included until
    /// [`Store::expire`] removes them).
    pub queue_depth: u64,
    /// Write operations submitted but not yet committed (the group-commit backlog).
    pub backlog: u64,
    /// Time spent in write transactions (applying and committing), microseconds; divided by
    /// `commits` it is the mean commit latency. Always 0 for [`MemoryStore`].
    pub write_micros: u64,
    /// Records committed but not yet in the carrier-id index (found in memory meanwhile; a
    /// quarter of `recent_records` at most while the writer keeps up). Always 0 for
    /// [`MemoryStore`].
    pub unindexed: u64,
    /// Finished messages in the spool, waiting for the record sinks.
    pub spooled: u64,
    /// Finished messages not spooled because the spool was full ([`MAX_SPOOL`]).
    pub spool_dropped: u64,
}

/// The most finished messages the spool holds while the record sinks cannot keep up (a
/// database away for long); beyond it new ones are counted as dropped, not kept.
pub const MAX_SPOOL: u64 = 10_000_000;

/// A message that reached its end, waiting in the spool for the record sinks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finished {
    /// The spool's sequence number (increasing).
    pub seq: u64,
    pub record: MessageRecord,
    /// Its final receipt; `None` when the record expired without one.
    pub outcome: Option<Event>,
    /// Its history as it was read from the spool (filled by [`Store::spooled`]).
    pub history: Vec<Event>,
}

impl Finished {
    /// Whether it ended at or before `at_ms` (one that expired without a final receipt has).
    pub fn ended_by(&self, at_ms: u64) -> bool {
        self.outcome.as_ref().is_none_or(|e| e.at_ms <= at_ms)
    }
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Creating the data directory or another file operation failed.
    #[error("store I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The storage engine failed (disk full, I/O error during commit, …). The operation did not
    /// happen.
    #[error("store engine error: {0}")]
    Engine(String),
    /// Another process (or another store in this one) has the database file open.
    #[error("the store file is already open elsewhere")]
    InUse,
    /// An entry in the store could not be decoded.
    #[error("corrupt store entry: {0}")]
    Corrupt(String),
    /// The file was written by an incompatible version of the router.
    #[error("store schema version {found} is not supported (this build reads version {expected})")]
    Schema { found: u64, expected: u64 },
    /// The store was closed (its writer is gone); nothing was written.
    #[error("the store is closed")]
    Closed,
    /// The store cannot write for now (disk full, an I/O error): the operation did not happen
    /// and is not held. The store recovers by itself when writes succeed again; see
    /// [`Store::health`].
    #[error("the store cannot write for now: {0}")]
    Unavailable(String),
}

impl Clone for StoreError {
    fn clone(&self) -> Self {
        match self {
            Self::Io(e) => Self::Io(std::io::Error::new(e.kind(), e.to_string())),
            Self::Engine(m) => Self::Engine(m.clone()),
            Self::InUse => Self::InUse,
            Self::Corrupt(m) => Self::Corrupt(m.clone()),
            Self::Schema { found, expected } => Self::Schema {
                found: *found,
                expected: *expected,
            },
            Self::Closed => Self::Closed,
            Self::Unavailable(m) => Self::Unavailable(m.clone()),
        }
    }
}

/// Whether a store can write, as the data path and `/readyz` see it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreHealth {
    /// Why writes fail, since when; `None` while the store writes.
    pub fault: Option<StoreFault>,
    /// Operations accepted while the store could not write, held in memory until it can
    /// (records of messages already sent, removals of delivered receipts).
    pub held: u64,
}

/// A store that cannot write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreFault {
    /// The engine's error, as last seen.
    pub reason: String,
    /// When writes began to fail.
    pub since: std::time::Instant,
}

impl StoreHealth {
    /// Whether writes succeed (new messages may be taken).
    pub fn writable(&self) -> bool {
        self.fault.is_none()
    }
}

/// The future a write returns.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// The router's message store. See the [module docs](self).
pub trait Store: Send + Sync + 'static {
    /// Keeps `rec`; resolves once it is durable (group-committed with whatever else is waiting).
    ///
    /// Each message is recorded once, under a router id of its own. A second record with the
    /// same (channel, carrier id) takes over that carrier id: its receipts find the newer record.
    fn record(&self, rec: MessageRecord) -> StoreFuture<'_, ()>;

    /// [`Store::record`] for a record nobody waits for (the message's outcome is known already):
    /// queued, and readable by [`Store::by_router_id`] at once, before it is committed.
    fn record_queued(&self, rec: MessageRecord) {
        drop(self.record(rec));
    }

    /// The record for a carrier id on a channel.
    fn lookup(
        &self,
        channel: &str,
        channel_id: &str,
    ) -> Result<Option<std::sync::Arc<MessageRecord>>, StoreError>;

    /// The record for a router id. A router-minted id names its second, and records are keyed
    /// by their second first: a point read (ids the router did not mint are searched for).
    fn by_router_id(&self, router_id: &str) -> Result<Option<MessageRecord>, StoreError>;

    /// Appends `event` to the history of message `key` (its numeric router id), unless the
    /// message has [`history::MAX_EVENTS`] already. With `finish` (the message's record), when
    /// `event` is the message's first final receipt, the message also goes into the spool for
    /// the record sinks, in the same transaction. Nobody waits for it: readable by
    /// [`Store::history`] at once, durable by the end of the next [`Store::flush`]. While the
    /// store cannot write, an event with `finish` is held in memory like a record; others are
    /// let go.
    fn note(&self, key: u64, event: Event, finish: Option<std::sync::Arc<MessageRecord>>);

    /// The events of message `key`, oldest first.
    fn history(&self, key: u64) -> Result<Vec<Event>, StoreError>;

    /// Up to `limit` finished messages in the spool after sequence `after`, oldest first, that
    /// ended by `ended_by` ([`Finished::ended_by`]): the reading stops at the first younger one,
    /// and only those returned have their history read. An entry that cannot be decoded is
    /// skipped with a warning.
    fn spooled(&self, after: u64, limit: usize, ended_by: u64)
    -> Result<Vec<Finished>, StoreError>;

    /// Sink `sink` has written the spool up to `upto` (kept, read back by
    /// [`Store::spool_mark`]); entries up to `remove_upto` (what every sink has written) go.
    fn spool_done(&self, sink: &str, upto: u64, remove_upto: u64) -> StoreFuture<'_, ()>;

    /// How far sink `sink` has written the spool (0: nothing yet).
    fn spool_mark(&self, sink: &str) -> Result<u64, StoreError>;

    /// Queues a delivery durably; resolves with its key once durable.
    fn enqueue(&self, account: &str, pdu: Bytes, expires: u64) -> StoreFuture<'_, u64>;

    /// Removes a delivery once the client acknowledged it (durable before resolving). Removing a
    /// key that is not there (already removed or expired) is not an error.
    fn dequeue(&self, key: u64) -> StoreFuture<'_, ()>;

    /// Whether delivery `key` is still queued (not yet dequeued or expired).
    fn is_pending(&self, key: u64) -> Result<bool, StoreError>;

    /// Up to `limit` pending deliveries of `account`, oldest first, not expired at `now`.
    fn pending(
        &self,
        account: &str,
        now: u64,
        limit: usize,
    ) -> Result<Vec<PendingDelivery>, StoreError>;

    /// The `limit` deliveries queued last, all accounts together, newest first (expired ones
    /// included). At start, so that a carrier's resend of a receipt stored just before a crash
    /// is known for a copy.
    fn newest_pending(&self, limit: usize) -> Result<Vec<PendingDelivery>, StoreError>;

    /// Deletes expired deliveries (`expires <= now`) and records older than `records_before`
    /// (`created < records_before`); returns how many entries went, both kinds together.
    ///
    /// Blocks until the deletions are committed, in bounded chunks so that writers keep going:
    /// call it from a blocking thread.
    fn expire(&self, now: u64, records_before: u64) -> Result<usize, StoreError>;

    /// Counters: commits (fsyncs) so far, operations committed, queue depth.
    fn stats(&self) -> StoreStats;

    /// Whether the store can write now. While it cannot, [`Store::record`] and
    /// [`Store::dequeue`] are held in memory (up to a bound) and written once it can again,
    /// everything else fails with [`StoreError::Unavailable`].
    fn health(&self) -> StoreHealth {
        StoreHealth::default()
    }

    /// Resolves once every write submitted before the call is durable (a barrier, e.g. for
    /// shutdown). Writes are durable when their own futures resolve anyway.
    fn flush(&self) -> StoreFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
}
