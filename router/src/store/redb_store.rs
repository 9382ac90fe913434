//! [`RedbStore`]: the durable store, one redb file, written by one group-committing thread.
//!
//! Tables (all in one file):
//!
//! | table | key | value |
//! |---|---|---|
//! | `messages` | (created, router id) | encoded record ([`super::codec`]) |
//! | `messages_by_channel` | (channel, carrier id) | (created, router id) |
//! | `unindexed` | commit number | keys of the records that commit wrote, not yet in `messages_by_channel` |
//! | `pending` | key | encoded delivery (account, expires, PDU) |
//! | `pending_by_account` | (account, key) | expires |
//! | `pending_by_expiry` | (expires, key) | — (for expiry) |
//! | `events` | (router id as a number, key) | an event of the message's history ([`super::history`]) |
//! | `spool` | key | a finished message for the record sinks (record and final receipt) |
//! | `meta` | name | `u64` (`schema`, `next_key`, `spool:<sink>` marks) |
//!
//! Records are keyed by their creation time first, so that expiry reads them oldest first from
//! the table itself (no separate time index), and each commit appends them. The carrier-id index
//! is not written with the record but later, in key order, many entries at a time
//! ([`deferred`]): carrier ids in no order (UUIDs) would otherwise cost a page write each. Files
//! of schema 1 (records keyed by router id, a `records_by_time` index) are migrated in place when
//! opened, in one transaction; schema 2 lacked only `unindexed`.
//!
//! Lookups by carrier id look first in [`super::recent::Recent`], a bounded copy of the newest
//! records kept in memory: most receipts follow their message within seconds.
//!
//! The writer thread owns every write transaction. Callers send it operations over a channel;
//! it takes the first one waiting plus everything else already queued (up to [`MAX_BATCH`]),
//! applies them in order in one transaction, commits it durably (one fsync), and then completes
//! each caller's future. While it is committing, new operations pile up and form the next batch,
//! so the batch size follows the load by itself: one operation per commit when idle, thousands
//! under load. Right after a large commit its callers are about to send their next operations,
//! so the writer lingers (at most [`LINGER`]) until the batch is as large as the last one, rather
//! than commit a sliver of them alone; when the load is light the last batch was small and there
//! is no wait. The journal's writer (histories and the spool, which nothing on the message path
//! waits for) instead gathers for [`JOURNAL_GATHER`] and commits what came meanwhile at once.
//!
//! If a batch fails, it is retried without carrier-id index entries (those wait a second), and
//! if it fails again its operations are retried one transaction each, so that one failing
//! operation does not fail its neighbours. A retry is harmless even if the failed commit did
//! reach the disk: every operation is idempotent (a record overwrites itself, an enqueue gets the
//! same key again, removals of what is gone are no-ops). The thread exits once the store is
//! dropped, after committing everything queued.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use bytes::Bytes;
use redb::{
    Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, Table, TableDefinition,
    WriteTransaction,
};
use tokio::sync::oneshot;

mod deferred;
mod fault;
#[cfg(test)]
pub(crate) mod faults;
mod unwritten;
pub(super) mod v1;

use super::codec::{
    decode_finished, decode_keys, decode_pending, decode_record, encode_finished, encode_pending,
    encode_record, pending_head,
};
use super::history::{self, Event, EventKind};
use super::recent::Recent;
use super::{
    Finished, MessageRecord, PendingDelivery, Store, StoreError, StoreFuture, StoreHealth,
    StoreStats,
};
use deferred::Deferred;
use fault::{Fault, HealthCell, Held};

/// The most operations one write transaction takes.
pub const MAX_BATCH: usize = 4096;

/// How long the writer waits at most for a batch to grow to the size of the previous one.
const LINGER: Duration = Duration::from_micros(2000);
/// How often the lingering writer looks for more operations: each look is a sleep and a wake-up
/// (at 25 µs they were 3–4 % of the router's CPU at 20,000 msg/s), and a batch that has grown
/// while it slept is committed about this late (a sleep lasts at least its step).
const LINGER_STEP: Duration = Duration::from_micros(100);

/// How long the journal's writer gathers operations before it commits them: nothing on the
/// message path waits for the journal (a note is readable before it is written), so it takes
/// them in few large transactions, waking up some 50 times a second instead of at every
/// operation. (A flush, or a records sink marking its progress, waits this long at most.)
const JOURNAL_GATHER: Duration = Duration::from_millis(20);

/// How many entries one expiry pass deletes in one transaction.
const EXPIRE_CHUNK: usize = 2048;

/// How long the writer leaves the carrier-id index alone after a transaction with index entries
/// failed (the client's operations are retried without them meanwhile).
const INDEX_RETRY: Duration = Duration::from_secs(1);

/// How long an idle writer waits before it indexes the records still waiting for the index.
const IDLE: Duration = Duration::from_secs(1);

const SCHEMA: u64 = 4;

/// A record's key: (created, router id).
pub(in crate::store) type RecordKey<'a> = (u64, &'a str);

/// A record's key, owned.
type OwnedRecordKey = (u64, String);

pub(in crate::store) const RECORDS: TableDefinition<RecordKey, &[u8]> =
    TableDefinition::new("messages");
pub(in crate::store) const RECORDS_BY_CHANNEL: TableDefinition<(&str, &str), RecordKey> =
    TableDefinition::new("messages_by_channel");
pub(in crate::store) const UNINDEXED: TableDefinition<u64, &[u8]> =
    TableDefinition::new("unindexed");
pub(in crate::store) const PENDING: TableDefinition<u64, &[u8]> = TableDefinition::new("pending");
const PENDING_BY_ACCOUNT: TableDefinition<(&str, u64), u64> =
    TableDefinition::new("pending_by_account");
const PENDING_BY_EXPIRY: TableDefinition<(u64, u64), ()> =
    TableDefinition::new("pending_by_expiry");
pub(in crate::store) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const EVENTS: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("events");
const SPOOL: TableDefinition<u64, &[u8]> = TableDefinition::new("spool");

/// An engine error: [`StoreError::Unavailable`] when the file cannot be written or read for now
/// (an I/O error, a full disk; redb then refuses everything until the file is closed and opened
/// again), [`StoreError::Engine`] otherwise.
fn engine_error(storage: Option<&redb::StorageError>, message: String) -> StoreError {
    match storage {
        Some(
            redb::StorageError::Io(_)
            | redb::StorageError::PreviousIo
            | redb::StorageError::DatabaseClosed,
        ) => StoreError::Unavailable(message),
        _ => StoreError::Engine(message),
    }
}

impl From<redb::StorageError> for StoreError {
    fn from(e: redb::StorageError) -> Self {
        let message = e.to_string();
        engine_error(Some(&e), message)
    }
}

/// redb's per-operation errors: a storage error inside is classified by [`engine_error`].
macro_rules! engine_errors {
    ($($t:ident),*) => {$(
        impl From<redb::$t> for StoreError {
            fn from(e: redb::$t) -> Self {
                let message = e.to_string();
                match &e {
                    redb::$t::Storage(s) => engine_error(Some(s), message),
                    _ => engine_error(None, message),
                }
            }
        }
    )*};
}
engine_errors!(TransactionError, TableError, CommitError);

impl From<redb::Error> for StoreError {
    fn from(e: redb::Error) -> Self {
        let message = e.to_string();
        match &e {
            redb::Error::Io(_) | redb::Error::PreviousIo | redb::Error::DatabaseClosed => {
                StoreError::Unavailable(message)
            }
            _ => StoreError::Engine(message),
        }
    }
}

impl From<redb::DatabaseError> for StoreError {
    fn from(e: redb::DatabaseError) -> Self {
        let message = e.to_string();
        match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse,
            redb::DatabaseError::Storage(s) => engine_error(Some(&s), message),
            _ => StoreError::Engine(message),
        }
    }
}

/// Options of [`RedbStore::open_with`].
#[derive(Clone, Debug)]
pub struct RedbOptions {
    /// The most memory redb's page cache may use.
    pub cache_bytes: usize,
    /// Verify every page's checksum when opening (reads the whole file once; on by default).
    /// redb always checks and repairs a file that was not closed cleanly (after a crash), but
    /// trusts one that was; a cleanly closed file damaged since (a bad disk, a stray write) can
    /// then make redb panic on a later read instead of failing to open. Turn it off only to
    /// shorten the start of a very large store.
    pub check_integrity: bool,
    /// How many of the newest records are also kept in memory, so that their receipts are
    /// matched without reading the file. A quarter of it is how many records the carrier-id
    /// index takes at a time; records not yet indexed stay in memory on top of this many.
    pub recent_records: usize,
    /// While the file cannot be written (disk full, I/O errors), how many operations are held
    /// in memory to be written once it can: records of messages already sent, removals of
    /// delivered receipts. Beyond it they fail.
    pub max_held: usize,
    /// Whether finished messages go into the spool for the delivery-record sinks (off when no
    /// sink is configured: nothing would take them out).
    pub spool: bool,
    /// Whether messages' histories and the spool live in a file of their own beside the store
    /// (`<name>.journal.redb`, with its own writer): their commits then do not lengthen the
    /// commits a message's answer waits for. On by default.
    pub journal: bool,
    /// Tests: storage whose writes can be made to fail.
    #[cfg(test)]
    pub(crate) faults: Option<Arc<faults::Faults>>,
}

impl Default for RedbOptions {
    fn default() -> Self {
        Self {
            cache_bytes: 256 * 1024 * 1024,
            check_integrity: true,
            recent_records: super::recent::DEFAULT_CAPACITY,
            max_held: DEFAULT_MAX_HELD,
            spool: true,
            journal: true,
            #[cfg(test)]
            faults: None,
        }
    }
}

/// The default [`RedbOptions::max_held`]: well above every session's window together.
pub const DEFAULT_MAX_HELD: usize = 100_000;

/// Opens the file, at start and again after a failure.
struct Opener {
    path: PathBuf,
    options: RedbOptions,
}

impl Opener {
    fn open(&self) -> Result<Arc<Database>, StoreError> {
        self.open_checking(self.options.check_integrity)
    }

    /// Opens the file again after a failure: redb repairs a file that was not closed cleanly
    /// anyway, so the full integrity check (which reads every page) is skipped.
    fn reopen(&self) -> Result<Arc<Database>, StoreError> {
        self.open_checking(false)
    }

    fn open_checking(&self, check_integrity: bool) -> Result<Arc<Database>, StoreError> {
        let mut builder = Database::builder();
        builder
            .set_cache_size(self.options.cache_bytes)
            .set_check_integrity_on_open(check_integrity);
        #[cfg(test)]
        if let Some(faults) = &self.options.faults {
            return Ok(Arc::new(faults.open(&builder, &self.path)?));
        }
        Ok(Arc::new(builder.create(&self.path)?))
    }
}

/// What the writer does with one operation.
enum Op {
    Record {
        rec: Arc<MessageRecord>,
        /// Its sequence number in [`Recent`].
        seq: u64,
        /// Keeps the record readable by router id until the operation is done with (read by
        /// its `Drop`).
        _ticket: Option<unwritten::RecordTicket>,
        done: oneshot::Sender<Result<(), StoreError>>,
    },
    Enqueue {
        account: String,
        pdu: Bytes,
        expires: u64,
        done: oneshot::Sender<Result<u64, StoreError>>,
    },
    Dequeue {
        key: u64,
        done: oneshot::Sender<Result<(), StoreError>>,
    },
    Expire {
        now: u64,
        records_before: u64,
        limit: usize,
        done: mpsc::SyncSender<Result<usize, StoreError>>,
    },
    Flush {
        done: oneshot::Sender<Result<(), StoreError>>,
    },
    Note {
        key: u64,
        event: Event,
        finish: Option<Arc<MessageRecord>>,
        /// Keeps the event readable until the operation is done with (read by its `Drop`).
        _ticket: Option<unwritten::Ticket>,
    },
    /// Records that expired without a final receipt (from the store this journal serves): they
    /// end now, in the spool.
    Ended {
        records: Vec<Arc<MessageRecord>>,
        done: mpsc::SyncSender<Result<usize, StoreError>>,
    },
    SpoolDone {
        sink: String,
        upto: u64,
        remove_upto: u64,
        done: oneshot::Sender<Result<(), StoreError>>,
    },
}

impl Op {
    fn writes(&self) -> bool {
        !matches!(self, Op::Flush { .. })
    }

    /// Hands the caller its outcome. A caller that stopped waiting is not an error.
    fn complete(self, outcome: Result<Effect, StoreError>) {
        match self {
            Op::Record { done, .. }
            | Op::Dequeue { done, .. }
            | Op::Flush { done }
            | Op::SpoolDone { done, .. } => {
                let _ = done.send(outcome.map(|_| ()));
            }
            Op::Enqueue { done, .. } => {
                let _ = done.send(outcome.map(|e| e.key));
            }
            // Nobody waits for a note.
            Op::Note { .. } => {}
            Op::Expire { done, .. } | Op::Ended { done, .. } => {
                let _ = done.send(outcome.map(|e| e.count));
            }
        }
    }
}

/// What applying one operation did, reported once its transaction committed.
#[derive(Clone, Copy, Default)]
struct Effect {
    key: u64,
    count: usize,
    depth: i64,
    /// Entries the spool gained (or lost).
    spooled: i64,
    /// Finished messages the full spool could not take.
    dropped: u64,
}

struct Counters {
    commits: AtomicU64,
    ops: AtomicU64,
    depth: AtomicU64,
    backlog: AtomicU64,
    write_micros: AtomicU64,
    unindexed: AtomicU64,
    spooled: AtomicU64,
    spool_dropped: AtomicU64,
}

/// The durable store: one redb file, written by one thread that group-commits everything
/// waiting (up to [`MAX_BATCH`] operations) in one durable transaction, and read by any thread
/// through read transactions. Dropping the last handle commits what is queued, stops the thread
/// and closes the file. See [`crate::store`].
pub struct RedbStore {
    /// `None` while the writer closes and opens the file again after a failure.
    db: Arc<ArcSwapOption<Database>>,
    health: Arc<HealthCell>,
    recent: Recent,
    unwritten: Arc<unwritten::Unwritten>,
    /// Where histories and the spool live, when in a file of their own
    /// ([`RedbOptions::journal`]).
    journal: Option<Arc<RedbStore>>,
    counters: Arc<Counters>,
    ops: Option<mpsc::Sender<Op>>,
    writer: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl RedbStore {
    /// Opens (or creates) the store file at `path`, creating its parent directories, with the
    /// default [`RedbOptions`].
    pub fn open(path: &Path) -> Result<Arc<RedbStore>, StoreError> {
        Self::open_with(path, &RedbOptions::default())
    }

    /// Opens (or creates) the store file at `path` with `options`.
    pub fn open_with(path: &Path, options: &RedbOptions) -> Result<Arc<RedbStore>, StoreError> {
        Self::open_as(path, options, false)
    }

    /// Opens the store, or (`is_journal`) the journal of another.
    fn open_as(
        path: &Path,
        options: &RedbOptions,
        is_journal: bool,
    ) -> Result<Arc<RedbStore>, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let opener = Opener {
            path: path.to_owned(),
            options: options.clone(),
        };
        let journal = if options.journal {
            let name = path
                .file_stem()
                .map_or_else(|| "store".into(), |s| s.to_string_lossy().into_owned());
            let journal_options = RedbOptions {
                journal: false,
                recent_records: 1,
                cache_bytes: options.cache_bytes / 4,
                ..options.clone()
            };
            Some(RedbStore::open_as(
                &path.with_file_name(format!("{name}.journal.redb")),
                &journal_options,
                true,
            )?)
        } else {
            None
        };
        let db = opener.open()?;
        let (next_key, depth, spooled) = prepare(&db)?;
        let recent = Recent::new(options.recent_records);
        let (unindexed, next_log) = read_unindexed(&db)?;
        if !unindexed.is_empty() {
            tracing::info!(
                records = unindexed.len(),
                "store: indexing the carrier ids of records written before the last stop"
            );
        }
        let unindexed = unindexed
            .into_iter()
            .map(|rec| {
                let rec = Arc::new(rec);
                let (_, seq) = recent.insert(&rec, |seq| seq);
                (rec, seq)
            })
            .collect();
        let deferred = Deferred::new(
            unindexed,
            next_log,
            options.recent_records / 4,
            recent.index_progress(),
        );
        let shared = Arc::new(ArcSwapOption::from(Some(db.clone())));
        let health = Arc::new(HealthCell::default());
        let counters = Arc::new(Counters {
            commits: AtomicU64::new(0),
            ops: AtomicU64::new(0),
            depth: AtomicU64::new(depth),
            backlog: AtomicU64::new(0),
            write_micros: AtomicU64::new(0),
            unindexed: AtomicU64::new(deferred.waiting()),
            spooled: AtomicU64::new(spooled),
            spool_dropped: AtomicU64::new(0),
        });
        let (tx, rx) = mpsc::channel();
        let writer = Writer {
            db: Some(db),
            shared: shared.clone(),
            opener,
            health: health.clone(),
            fault: None,
            held: Vec::new(),
            counters: counters.clone(),
            next_key,
            deferred,
            index_retry_at: None,
            gather: is_journal.then_some(JOURNAL_GATHER),
        };
        let handle = std::thread::Builder::new()
            // Told apart in `top -H` and in a profile.
            .name(
                if is_journal {
                    "store-journal"
                } else {
                    "store-writer"
                }
                .into(),
            )
            .spawn(move || writer.run(rx))?;
        Ok(Arc::new(RedbStore {
            db: shared,
            health,
            recent,
            unwritten: Arc::default(),
            journal,
            counters,
            ops: Some(tx),
            writer: Some(handle),
        }))
    }

    /// How many records the in-memory copy holds (tests).
    #[cfg(test)]
    pub(super) fn recent_kept(&self) -> usize {
        self.recent.kept()
    }

    /// Waits until every write submitted before the call is committed. Same as
    /// [`Store::flush`]; the store stays usable.
    pub async fn close(&self) -> Result<(), StoreError> {
        self.flush().await
    }

    /// The records expiring before `records_before` (up to `limit` after `from`) that have no
    /// final receipt in the journal: they end there, without one. The last key read.
    fn unfinished_before(
        &self,
        journal: &RedbStore,
        records_before: u64,
        from: Option<OwnedRecordKey>,
        limit: usize,
    ) -> Result<(Vec<Arc<MessageRecord>>, Option<OwnedRecordKey>), StoreError> {
        let old = self.read(|txn| {
            let records = txn.open_table(RECORDS)?;
            let mut out = Vec::new();
            let start = from.as_ref().map_or((0, ""), |(c, id)| (*c, id.as_str()));
            for entry in records.range(start..(records_before, ""))? {
                let (k, v) = entry?;
                let (created, id) = k.value();
                if from.as_ref().is_some_and(|(c, i)| *c == created && i == id) {
                    continue;
                }
                out.push((created, id.to_owned(), decode_record(id, v.value())));
                if out.len() >= limit {
                    break;
                }
            }
            Ok(out)
        })?;
        let last = old.last().map(|(c, id, _)| (*c, id.clone()));
        let old: Vec<(u64, MessageRecord)> = old
            .into_iter()
            .filter_map(|(_, id, rec)| Some((history::key_of(&id)?, rec.ok()?)))
            .collect();
        // One read of the journal for the whole chunk, not one per record.
        let keys: Vec<u64> = old.iter().map(|(key, _)| *key).collect();
        let finished = journal.finished(&keys)?;
        let unfinished = old
            .into_iter()
            .zip(finished)
            .filter(|(_, finished)| !finished)
            .map(|((_, rec), _)| Arc::new(rec))
            .collect();
        Ok((unfinished, last))
    }

    /// Whether each message of `keys` has a final receipt in its history (read in one
    /// transaction; those not committed yet count too).
    fn finished(&self, keys: &[u64]) -> Result<Vec<bool>, StoreError> {
        let is_final = |events: &[Event]| events.iter().any(|e| e.final_receipt().is_some());
        let in_file = self.read(|txn| {
            let events = txn.open_table(EVENTS)?;
            keys.iter()
                .map(|key| events_of(&events, *key).map(|h| is_final(&h)))
                .collect::<Result<Vec<bool>, StoreError>>()
        })?;
        Ok(keys
            .iter()
            .zip(in_file)
            .map(|(key, done)| done || is_final(&self.unwritten.of(*key)))
            .collect())
    }

    /// [`Store::record`]; with `readable`, the record can be read by router id before it is
    /// committed (nobody waits for it).
    fn record_with(&self, rec: MessageRecord, readable: bool) -> StoreFuture<'_, ()> {
        let rec = Arc::new(rec);
        let queued = Arc::clone(&rec);
        let ticket = history::key_of(&rec.router_id)
            .filter(|_| readable)
            .map(|key| self.unwritten.add_record(key, &rec));
        let (cached, written) = self.recent.insert(&rec, |seq| {
            self.queue(move |done| Op::Record {
                rec: queued,
                seq,
                _ticket: ticket,
                done,
            })
        });
        Box::pin(async move {
            let result = written.await;
            if result.is_err() {
                // Not in the file, so not here either.
                self.recent.forget(cached, &rec);
            }
            result
        })
    }

    fn submit(&self, op: Op) -> Result<(), StoreError> {
        let sender = self.ops.as_ref().ok_or(StoreError::Closed)?;
        let counts = op.writes();
        if counts {
            self.counters.backlog.fetch_add(1, Ordering::Relaxed);
        }
        sender.send(op).map_err(|_| {
            if counts {
                self.counters.backlog.fetch_sub(1, Ordering::Relaxed);
            }
            StoreError::Closed
        })
    }

    /// Queues the operation now; the future resolves with its outcome once committed.
    fn queue<T: Send + 'static>(
        &self,
        op: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Op,
    ) -> impl std::future::Future<Output = Result<T, StoreError>> + Send + 'static {
        let (tx, rx) = oneshot::channel();
        let sent = self.submit(op(tx));
        async move {
            sent?;
            rx.await.map_err(|_| StoreError::Closed)?
        }
    }

    fn write<T: Send + 'static>(
        &self,
        op: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Op,
    ) -> StoreFuture<'_, T> {
        Box::pin(self.queue(op))
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&redb::ReadTransaction) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let Some(db) = self.db.load_full() else {
            return Err(StoreError::Unavailable(
                "the store file is being opened again after a failure".into(),
            ));
        };
        // The handle is kept until the read is over: the writer waits for every handle to go
        // before it opens the file again after a failure.
        let txn = db.begin_read()?;
        let read = f(&txn);
        drop(txn);
        drop(db);
        read
    }
}

impl Drop for RedbStore {
    fn drop(&mut self) {
        // Closing the channel lets the writer commit what is queued and exit; joining it releases
        // its handle on the file, so that the same file can be opened again at once.
        drop(self.ops.take());
        if let Some(handle) = self.writer.take() {
            let _ = handle.join();
        }
    }
}

/// Creates the tables, checks the schema version, and reads the next key, the queue depth and
/// the spool's length.
fn prepare(db: &Database) -> Result<(u64, u64, u64), StoreError> {
    let txn = db.begin_write()?;
    let (next_key, depth, spooled) = {
        let mut meta = txn.open_table(META)?;
        let schema = meta.get("schema")?.map(|v| v.value());
        match schema {
            None => {
                meta.insert("schema", SCHEMA)?;
            }
            Some(SCHEMA) => {}
            Some(3) => {
                // Schema 4 adds the `events` and `spool` tables (created below) and a record
                // block older versions cannot read: they refuse the file from now on.
                meta.insert("schema", SCHEMA)?;
                tracing::info!("store file migrated from schema 3 to {SCHEMA}");
            }
            Some(2) => {
                // Schema 3 adds the `unindexed` log (created below); nothing else changes.
                meta.insert("schema", SCHEMA)?;
                tracing::info!("store file migrated from schema 2 to {SCHEMA}");
            }
            Some(1) => {
                tracing::info!(
                    "store file of schema 1: migrating to {SCHEMA} (one transaction; it rewrites every record)"
                );
                let moved = v1::migrate(&txn)?;
                meta.insert("schema", SCHEMA)?;
                tracing::info!(
                    records = moved,
                    "store file migrated from schema 1 to {SCHEMA}"
                );
            }
            Some(found) => {
                return Err(StoreError::Schema {
                    found,
                    expected: SCHEMA,
                });
            }
        }
        txn.open_table(RECORDS)?;
        txn.open_table(RECORDS_BY_CHANNEL)?;
        txn.open_table(UNINDEXED)?;
        txn.open_table(PENDING_BY_ACCOUNT)?;
        txn.open_table(PENDING_BY_EXPIRY)?;
        txn.open_table(EVENTS)?;
        let spooled = txn.open_table(SPOOL)?.len()?;
        let pending = txn.open_table(PENDING)?;
        let last = pending.last()?.map(|(k, _)| k.value());
        let stored = meta.get("next_key")?.map(|v| v.value());
        let next = stored
            .unwrap_or(1)
            .max(last.map_or(1, |k| k.saturating_add(1)));
        (next, pending.len()?, spooled)
    };
    txn.commit()?;
    Ok((next_key, depth, spooled))
}

/// The records the `unindexed` log names (those still in `messages`), oldest commit first, and
/// the key of the next log entry. A log entry that cannot be decoded is skipped with a warning:
/// its records stay in the file but their receipts may not find them.
fn read_unindexed(db: &Database) -> Result<(Vec<MessageRecord>, u64), StoreError> {
    let txn = db.begin_read()?;
    let log = txn.open_table(UNINDEXED)?;
    let records = txn.open_table(RECORDS)?;
    let mut out = Vec::new();
    let mut next_log = 0;
    for entry in log.iter()? {
        let (k, v) = entry?;
        next_log = k.value().saturating_add(1);
        let keys = match decode_keys(v.value()) {
            Ok(keys) => keys,
            Err(e) => {
                tracing::warn!(entry = k.value(), error = %e, "store: an undecodable entry of the unindexed log");
                continue;
            }
        };
        for (created, router_id) in keys {
            if let Some(v) = records.get((created, router_id.as_str()))? {
                match decode_record(&router_id, v.value()) {
                    Ok(rec) => out.push(rec),
                    Err(e) => tracing::warn!(error = %e, "store: an undecodable record"),
                }
            }
        }
    }
    Ok((out, next_log))
}

struct Writer {
    /// `None` while the file cannot be used (see [`fault`]).
    db: Option<Arc<Database>>,
    /// The readers' handle on the file.
    shared: Arc<ArcSwapOption<Database>>,
    opener: Opener,
    health: Arc<HealthCell>,
    /// Set while writes fail.
    fault: Option<Fault>,
    /// Operations accepted while writes fail, to write once they succeed.
    held: Vec<Held>,
    counters: Arc<Counters>,
    next_key: u64,
    /// The carrier-id index entries still to write.
    deferred: Deferred,
    /// Set when a transaction with index entries failed: until then, transactions carry none.
    index_retry_at: Option<Instant>,
    /// Set for a journal's writer ([`JOURNAL_GATHER`]).
    gather: Option<Duration>,
}

impl Writer {
    fn db(&self) -> Result<&Database, StoreError> {
        self.db
            .as_deref()
            .ok_or_else(|| StoreError::Unavailable("the store file is not open".into()))
    }

    fn run(mut self, rx: mpsc::Receiver<Op>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        let mut last = 0usize;
        loop {
            if let Some(wait) = self.fault.as_ref().map(Fault::until_retry) {
                match rx.recv_timeout(wait) {
                    Ok(op) => self.while_faulted(op),
                    Err(mpsc::RecvTimeoutError::Timeout) => self.try_recover(),
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                }
                continue;
            }
            let op = if self.deferred.is_empty() {
                rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected)
            } else {
                rx.recv_timeout(IDLE)
            };
            let op = match op {
                Ok(op) => op,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if self.index_all() {
                        self.index_retry_at = None;
                    }
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            batch.push(op);
            if let Some(gather) = self.gather {
                std::thread::sleep(gather);
            }
            let deadline = Instant::now() + LINGER;
            loop {
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(op) => batch.push(op),
                        Err(_) => break,
                    }
                }
                // The callers of the last batch are likely about to send their next operation:
                // wait a moment for them rather than commit a sliver of the load on its own.
                if self.gather.is_some()
                    || batch.len() >= last.min(MAX_BATCH)
                    || Instant::now() >= deadline
                {
                    break;
                }
                std::thread::sleep(LINGER_STEP);
            }
            last = batch.len();
            if let Some(at) = self.index_retry_at
                && Instant::now() >= at
            {
                self.index_retry_at = (!self.index_all()).then(|| Instant::now() + INDEX_RETRY);
            }
            self.commit(&mut batch);
        }
        if self.fault.is_some() {
            self.try_recover();
            if self.fault.is_some() {
                tracing::error!(
                    held = self.held.len(),
                    "store: closing while it cannot write; the operations held in memory are lost (their receipts may not find their clients)"
                );
                return;
            }
        }
        // Closing: index what is left, so that the next open has nothing to catch up on.
        while !self.deferred.is_empty() {
            if !self.index_all() {
                break;
            }
        }
    }

    /// Indexes everything waiting (or the rest of the generation under way) in one transaction;
    /// whether it worked. A failure is logged: the entries stay waiting, and the log keeps them
    /// across a restart.
    fn index_all(&mut self) -> bool {
        let result = (|| -> Result<usize, StoreError> {
            let txn = self.db()?.begin_write()?;
            let taken = {
                let records = txn.open_table(RECORDS)?;
                let mut index = txn.open_table(RECORDS_BY_CHANNEL)?;
                let mut log = txn.open_table(UNINDEXED)?;
                self.deferred
                    .write(&records, &mut index, &mut log, usize::MAX, 0)?
            };
            txn.commit()?;
            Ok(taken)
        })();
        match result {
            Ok(taken) => {
                self.deferred.committed(taken, None, std::iter::empty(), 0);
                self.counters
                    .unindexed
                    .store(self.deferred.waiting(), Ordering::Relaxed);
                true
            }
            Err(e @ StoreError::Unavailable(_)) => {
                self.enter_fault(e, &mut Vec::new());
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, "store: indexing carrier ids failed; will retry");
                false
            }
        }
    }

    /// Applies and commits `batch` (emptying it) and completes its operations.
    fn commit(&mut self, batch: &mut Vec<Op>) {
        let writes = batch.iter().filter(|op| op.writes()).count() as u64;
        if writes == 0 {
            // Only barriers: everything before them is committed already.
            for op in batch.drain(..) {
                op.complete(Ok(Effect::default()));
            }
            return;
        }
        let first_key = self.next_key;
        let with_index = self.deferred.due() && self.index_retry_at.is_none();
        match self.transact(batch, with_index) {
            Ok(effects) => {
                let depth: i64 = effects.iter().map(|e| e.depth).sum();
                self.account(writes, depth);
                let spooled: i64 = effects.iter().map(|e| e.spooled).sum();
                let dropped: u64 = effects.iter().map(|e| e.dropped).sum();
                add_signed(&self.counters.spooled, spooled);
                self.counters
                    .spool_dropped
                    .fetch_add(dropped, Ordering::Relaxed);
                for (op, effect) in batch.drain(..).zip(effects) {
                    op.complete(Ok(effect));
                }
            }
            Err(e @ StoreError::Unavailable(_)) => {
                // The file needs closing and opening again: hold what can be held meanwhile.
                self.next_key = first_key;
                self.enter_fault(e, batch);
            }
            Err(e) => {
                self.next_key = first_key;
                if with_index {
                    // Perhaps the index entries failed it: the clients' operations go first.
                    tracing::warn!(error = %e, "store: a transaction with carrier-id index entries failed; retrying without them");
                    self.index_retry_at = Some(Instant::now() + INDEX_RETRY);
                    self.commit(batch);
                    return;
                }
                if batch.len() == 1 {
                    self.counters.backlog.fetch_sub(writes, Ordering::Relaxed);
                    for op in batch.drain(..) {
                        op.complete(Err(e.clone()));
                    }
                    return;
                }
                tracing::warn!(error = %e, ops = batch.len(), "store batch failed; retrying one by one");
                for op in std::mem::take(batch) {
                    let mut one = vec![op];
                    self.commit(&mut one);
                }
            }
        }
    }

    fn account(&self, writes: u64, depth: i64) {
        let c = &self.counters;
        c.commits.fetch_add(1, Ordering::Relaxed);
        c.ops.fetch_add(writes, Ordering::Relaxed);
        c.backlog.fetch_sub(writes, Ordering::Relaxed);
        add_signed(&c.depth, depth);
    }

    /// Applies `batch` in one transaction, with the next chunk of carrier-id index entries if
    /// `with_index`, and commits it.
    fn transact(&mut self, batch: &[Op], with_index: bool) -> Result<Vec<Effect>, StoreError> {
        let t0 = Instant::now();
        let txn = self.db()?.begin_write()?;
        let records = || {
            batch.iter().filter_map(|op| match op {
                Op::Record { rec, seq, .. } => Some((rec, *seq)),
                _ => None,
            })
        };
        let expired_before = batch
            .iter()
            .filter_map(|op| match op {
                Op::Expire { records_before, .. } => Some(*records_before),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        let expires = expired_before > 0;
        let (effects, log, taken) = {
            let mut t = Tables::open(&txn, self.opener.options.spool)?;
            let mut effects = Vec::with_capacity(batch.len());
            for op in batch {
                effects.push(t.apply(op, &mut self.next_key)?);
            }
            if expires
                || batch
                    .iter()
                    .any(|op| matches!(op, Op::Enqueue { .. } | Op::Note { .. } | Op::Ended { .. }))
            {
                t.meta.insert("next_key", self.next_key)?;
            }
            let log = self
                .deferred
                .log(&mut t.log, records().map(|(rec, _)| &**rec))?;
            let taken = if with_index {
                self.deferred.write(
                    &t.records,
                    &mut t.by_channel,
                    &mut t.log,
                    deferred::CHUNK,
                    expired_before,
                )?
            } else {
                0
            };
            (effects, log, taken)
        };
        txn.commit()?;
        self.deferred.committed(
            taken,
            log,
            records().map(|(rec, seq)| (Arc::clone(rec), seq)),
            expired_before,
        );
        self.counters
            .unindexed
            .store(self.deferred.waiting(), Ordering::Relaxed);
        let micros = u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.counters
            .write_micros
            .fetch_add(micros, Ordering::Relaxed);
        Ok(effects)
    }
}

/// Adds `delta` to a gauge that never goes below 0.
fn add_signed(gauge: &AtomicU64, delta: i64) {
    if delta >= 0 {
        gauge.fetch_add(delta.unsigned_abs(), Ordering::Relaxed);
    } else {
        let down = delta.unsigned_abs();
        let _ = gauge.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |d| {
            Some(d.saturating_sub(down))
        });
    }
}

struct Tables<'txn> {
    records: Table<'txn, RecordKey<'static>, &'static [u8]>,
    by_channel: Table<'txn, (&'static str, &'static str), RecordKey<'static>>,
    log: Table<'txn, u64, &'static [u8]>,
    pending: Table<'txn, u64, &'static [u8]>,
    by_account: Table<'txn, (&'static str, u64), u64>,
    by_expiry: Table<'txn, (u64, u64), ()>,
    meta: Table<'txn, &'static str, u64>,
    events: Table<'txn, (u64, u64), &'static [u8]>,
    spool: Table<'txn, u64, &'static [u8]>,
    /// Whether finished messages go into the spool.
    spool_on: bool,
}

impl<'txn> Tables<'txn> {
    fn open(txn: &'txn WriteTransaction, spool_on: bool) -> Result<Self, StoreError> {
        Ok(Self {
            records: txn.open_table(RECORDS)?,
            by_channel: txn.open_table(RECORDS_BY_CHANNEL)?,
            log: txn.open_table(UNINDEXED)?,
            pending: txn.open_table(PENDING)?,
            by_account: txn.open_table(PENDING_BY_ACCOUNT)?,
            by_expiry: txn.open_table(PENDING_BY_EXPIRY)?,
            meta: txn.open_table(META)?,
            events: txn.open_table(EVENTS)?,
            spool: txn.open_table(SPOOL)?,
            spool_on,
        })
    }

    fn apply(&mut self, op: &Op, next_key: &mut u64) -> Result<Effect, StoreError> {
        match op {
            Op::Record { rec, .. } => {
                self.put_record(rec)?;
                Ok(Effect::default())
            }
            Op::Enqueue {
                account,
                pdu,
                expires,
                ..
            } => {
                let key = *next_key;
                *next_key = key.saturating_add(1);
                self.pending
                    .insert(key, encode_pending(account, *expires, pdu).as_slice())?;
                self.by_account.insert((account.as_str(), key), *expires)?;
                self.by_expiry.insert((*expires, key), ())?;
                Ok(Effect {
                    key,
                    depth: 1,
                    ..Effect::default()
                })
            }
            Op::Dequeue { key, .. } => {
                let removed = self.remove_pending(*key)?;
                Ok(Effect {
                    depth: -i64::from(removed),
                    ..Effect::default()
                })
            }
            Op::Expire {
                now,
                records_before,
                limit,
                ..
            } => self.expire(*now, *records_before, *limit, next_key),
            Op::Flush { .. } => Ok(Effect::default()),
            Op::Note {
                key, event, finish, ..
            } => {
                // For a receipt, what the message has so far (in this transaction too): a
                // carrier that resends a receipt again and again does not grow it without end,
                // and only its first final receipt finishes it. (How a receipt reached the
                // client happens once per receipt delivered: no read for those.)
                let (mut kept, mut finished) = (0usize, false);
                if matches!(event.kind, EventKind::Receipt { .. }) {
                    for entry in self.events.range((*key, 0)..=(*key, u64::MAX))? {
                        let (_, v) = entry?;
                        kept += 1;
                        finished |=
                            history::decode(v.value()).is_ok_and(|e| e.final_receipt().is_some());
                    }
                }
                if kept >= history::MAX_EVENTS {
                    return Ok(Effect::default());
                }
                let seq = *next_key;
                *next_key = seq.saturating_add(1);
                self.events
                    .insert((*key, seq), history::encode(event).as_slice())?;
                match finish {
                    Some(rec) if !finished && event.final_receipt().is_some() => {
                        self.spool_finished(seq, rec, Some(event))
                    }
                    _ => Ok(Effect::default()),
                }
            }
            Op::Ended { records, .. } => {
                let mut effect = Effect::default();
                for rec in records {
                    let seq = *next_key;
                    *next_key = seq.saturating_add(1);
                    let e = self.spool_finished(seq, rec, None)?;
                    effect.spooled += e.spooled;
                    effect.dropped += e.dropped;
                    effect.count += 1;
                }
                Ok(effect)
            }
            Op::SpoolDone {
                sink,
                upto,
                remove_upto,
                ..
            } => {
                self.meta.insert(spool_mark_key(sink).as_str(), *upto)?;
                let done = self
                    .spool
                    .range(..=*remove_upto)?
                    .map(|entry| entry.map(|(k, _)| k.value()))
                    .collect::<Result<Vec<u64>, _>>()?;
                let gone = i64::try_from(done.len()).unwrap_or(i64::MAX);
                for seq in done {
                    self.spool.remove(seq)?;
                }
                Ok(Effect {
                    spooled: -gone,
                    ..Effect::default()
                })
            }
        }
    }

    /// Puts a finished message into the spool under `seq`, unless the spool is full.
    fn spool_finished(
        &mut self,
        seq: u64,
        rec: &MessageRecord,
        outcome: Option<&Event>,
    ) -> Result<Effect, StoreError> {
        if !self.spool_on {
            return Ok(Effect::default());
        }
        if self.spool.len()? >= super::MAX_SPOOL {
            return Ok(Effect {
                dropped: 1,
                ..Effect::default()
            });
        }
        self.spool
            .insert(seq, encode_finished(rec, outcome).as_slice())?;
        Ok(Effect {
            spooled: 1,
            ..Effect::default()
        })
    }

    /// Writes the record; its carrier-id entry comes later ([`deferred`]).
    fn put_record(&mut self, rec: &MessageRecord) -> Result<(), StoreError> {
        let key = (rec.created, rec.router_id.as_str());
        self.records.insert(key, encode_record(rec).as_slice())?;
        Ok(())
    }

    /// Removes the carrier-id entry of `old` if it still names it (a newer record with the same
    /// carrier id took it over otherwise).
    fn unindex_record(&mut self, old: &MessageRecord) -> Result<(), StoreError> {
        let channel_key = (old.channel.as_str(), old.channel_id.as_str());
        let ours = self.by_channel.get(channel_key)?.is_some_and(|v| {
            let (created, router_id) = v.value();
            created == old.created && router_id == old.router_id
        });
        if ours {
            self.by_channel.remove(channel_key)?;
        }
        Ok(())
    }

    /// Removes delivery `key` and its index entries; whether it was there.
    fn remove_pending(&mut self, key: u64) -> Result<bool, StoreError> {
        let head = match self.pending.remove(key)? {
            None => return Ok(false),
            Some(v) => pending_head(v.value()).map(|(a, e)| (a.to_owned(), e)),
        };
        match head {
            Ok((account, expires)) => {
                self.by_account.remove((account.as_str(), key))?;
                self.by_expiry.remove((expires, key))?;
            }
            Err(e) => tracing::warn!(key, error = %e, "removed an undecodable pending delivery"),
        }
        Ok(true)
    }

    fn expire(
        &mut self,
        now: u64,
        records_before: u64,
        limit: usize,
        next_key: &mut u64,
    ) -> Result<Effect, StoreError> {
        let mut count = 0usize;
        let mut depth = 0i64;
        let mut spooled = Effect::default();
        let due = self
            .by_expiry
            .range(..=(now, u64::MAX))?
            .take(limit)
            .map(|entry| entry.map(|(k, _)| k.value()))
            .collect::<Result<Vec<(u64, u64)>, _>>()?;
        for (expires, key) in due {
            self.by_expiry.remove((expires, key))?;
            if self.remove_pending(key)? {
                depth -= 1;
            }
            count += 1;
        }
        if count < limit && records_before > 0 {
            let old = self
                .records
                .range(..(records_before, ""))?
                .take(limit - count)
                .map(|entry| entry.map(|(k, _)| (k.value().0, k.value().1.to_owned())))
                .collect::<Result<Vec<(u64, String)>, _>>()?;
            for (created, router_id) in old {
                let rec = self
                    .records
                    .remove((created, router_id.as_str()))?
                    .map(|v| decode_record(&router_id, v.value()));
                match rec {
                    Some(Ok(rec)) => {
                        self.unindex_record(&rec)?;
                        if let Some(id) = history::key_of(&rec.router_id) {
                            let events = self.take_events(id)?;
                            if !events.iter().any(|e| e.final_receipt().is_some()) {
                                // It ends here, without a final receipt.
                                let seq = *next_key;
                                *next_key = seq.saturating_add(1);
                                let e = self.spool_finished(seq, &rec, None)?;
                                spooled.spooled += e.spooled;
                                spooled.dropped += e.dropped;
                            }
                        }
                    }
                    Some(Err(e)) => {
                        // Its carrier-id entry, if any, stays: a lookup finds no record for it.
                        tracing::warn!(error = %e, "expired an undecodable record");
                    }
                    None => {}
                }
                count += 1;
            }
        }
        if count < limit && records_before > 0 {
            // Events whose record is not here (in a cluster, receipts for messages another
            // instance accepted) go by their id's age.
            let floor = crate::ids::first_at(records_before);
            let old = self
                .events
                .range(..(floor, 0))?
                .take(limit - count)
                .map(|entry| entry.map(|(k, _)| k.value()))
                .collect::<Result<Vec<(u64, u64)>, _>>()?;
            for key in old {
                self.events.remove(key)?;
                count += 1;
            }
        }
        Ok(Effect {
            count,
            depth,
            ..spooled
        })
    }

    /// Removes the events of message `id`; what they were.
    fn take_events(&mut self, id: u64) -> Result<Vec<Event>, StoreError> {
        let keys = self
            .events
            .range((id, 0)..=(id, u64::MAX))?
            .map(|entry| entry.map(|(k, v)| (k.value(), history::decode(v.value()))))
            .collect::<Result<Vec<_>, _>>()?;
        let mut events = Vec::with_capacity(keys.len());
        for (key, event) in keys {
            self.events.remove(key)?;
            if let Ok(e) = event {
                events.push(e);
            }
        }
        Ok(events)
    }
}

/// The events of message `key` in the file, oldest first (an undecodable one is skipped).
fn events_of(
    table: &impl ReadableTable<(u64, u64), &'static [u8]>,
    key: u64,
) -> Result<Vec<Event>, StoreError> {
    let mut out = Vec::new();
    for entry in table.range((key, 0)..=(key, u64::MAX))? {
        let (_, v) = entry?;
        match history::decode(v.value()) {
            Ok(e) => out.push(e),
            Err(e) => tracing::warn!(error = %e, "store: an undecodable message event"),
        }
    }
    Ok(out)
}

fn spool_mark_key(sink: &str) -> String {
    format!("spool:{sink}")
}

impl Store for RedbStore {
    fn record(&self, rec: MessageRecord) -> StoreFuture<'_, ()> {
        self.record_with(rec, false)
    }

    fn record_queued(&self, rec: MessageRecord) {
        drop(self.record_with(rec, true));
    }

    fn lookup(
        &self,
        channel: &str,
        channel_id: &str,
    ) -> Result<Option<Arc<MessageRecord>>, StoreError> {
        if let Some(rec) = self.recent.get(channel, channel_id) {
            return Ok(Some(rec));
        }
        self.read(|txn| {
            let index = txn.open_table(RECORDS_BY_CHANNEL)?;
            let Some(key) = index.get((channel, channel_id))? else {
                return Ok(None);
            };
            let key = key.value();
            let records = txn.open_table(RECORDS)?;
            let Some(value) = records.get(key)? else {
                return Ok(None);
            };
            let rec = decode_record(key.1, value.value())?;
            // The entry names its record; check anyway rather than hand back another message's
            // record.
            Ok((rec.channel == channel && rec.channel_id == channel_id).then(|| Arc::new(rec)))
        })
    }

    fn by_router_id(&self, router_id: &str) -> Result<Option<MessageRecord>, StoreError> {
        if let Some(rec) = history::key_of(router_id).and_then(|key| self.unwritten.record(key)) {
            return Ok(Some((*rec).clone()));
        }
        self.read(|txn| {
            let records = txn.open_table(RECORDS)?;
            if let Some(id) = history::key_of(router_id) {
                // Recorded in the second the id names, or (older builds: when the attempts
                // began) a moment later.
                let minted = crate::ids::unix_secs(id);
                for created in minted..minted.saturating_add(3) {
                    if let Some(v) = records.get((created, router_id))? {
                        return decode_record(router_id, v.value()).map(Some);
                    }
                }
                return Ok(None);
            }
            for entry in records.iter()? {
                let (key, value) = entry?;
                if key.value().1 == router_id {
                    return decode_record(router_id, value.value()).map(Some);
                }
            }
            Ok(None)
        })
    }

    fn note(&self, key: u64, event: Event, finish: Option<Arc<MessageRecord>>) {
        if let Some(journal) = &self.journal {
            return journal.note(key, event, finish);
        }
        let ticket = Some(self.unwritten.add(key, &event));
        // A store that is closing lets it go (nobody waits for it).
        let _ = self.submit(Op::Note {
            key,
            event,
            finish,
            _ticket: ticket,
        });
    }

    fn history(&self, key: u64) -> Result<Vec<Event>, StoreError> {
        if let Some(journal) = &self.journal {
            return journal.history(key);
        }
        // The queued ones are taken first, then the file: an event committed meanwhile is in
        // both, and shows once.
        let queued = self.unwritten.of(key);
        let mut out = self.read(|txn| events_of(&txn.open_table(EVENTS)?, key))?;
        for e in queued {
            if !out.contains(&e) {
                out.push(e);
            }
        }
        Ok(out)
    }

    fn spooled(
        &self,
        after: u64,
        limit: usize,
        ended_by: u64,
    ) -> Result<Vec<Finished>, StoreError> {
        if let Some(journal) = &self.journal {
            return journal.spooled(after, limit, ended_by);
        }
        self.read(|txn| {
            let mut out = Vec::new();
            let spool = txn.open_table(SPOOL)?;
            let events = txn.open_table(EVENTS)?;
            for entry in spool.range(after.saturating_add(1)..)?.take(limit) {
                let (k, v) = entry?;
                match decode_finished(k.value(), v.value()) {
                    Ok(f) if !f.ended_by(ended_by) => break,
                    Ok(mut f) => {
                        if let Some(key) = history::key_of(&f.record.router_id) {
                            f.history = events_of(&events, key)?;
                        }
                        out.push(f);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "store: an undecodable spool entry skipped")
                    }
                }
            }
            Ok(out)
        })
    }

    fn spool_done(&self, sink: &str, upto: u64, remove_upto: u64) -> StoreFuture<'_, ()> {
        if let Some(journal) = &self.journal {
            return journal.spool_done(sink, upto, remove_upto);
        }
        let sink = sink.to_owned();
        self.write(|done| Op::SpoolDone {
            sink,
            upto,
            remove_upto,
            done,
        })
    }

    fn spool_mark(&self, sink: &str) -> Result<u64, StoreError> {
        if let Some(journal) = &self.journal {
            return journal.spool_mark(sink);
        }
        self.read(|txn| {
            let meta = txn.open_table(META)?;
            Ok(meta
                .get(spool_mark_key(sink).as_str())?
                .map_or(0, |v| v.value()))
        })
    }

    fn enqueue(&self, account: &str, pdu: Bytes, expires: u64) -> StoreFuture<'_, u64> {
        let account = account.to_owned();
        self.write(|done| Op::Enqueue {
            account,
            pdu,
            expires,
            done,
        })
    }

    fn dequeue(&self, key: u64) -> StoreFuture<'_, ()> {
        self.write(|done| Op::Dequeue { key, done })
    }

    fn is_pending(&self, key: u64) -> Result<bool, StoreError> {
        self.read(|txn| Ok(txn.open_table(PENDING)?.get(key)?.is_some()))
    }

    fn pending(
        &self,
        account: &str,
        now: u64,
        limit: usize,
    ) -> Result<Vec<PendingDelivery>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.read(|txn| {
            let index = txn.open_table(PENDING_BY_ACCOUNT)?;
            let pending = txn.open_table(PENDING)?;
            let mut out = Vec::new();
            for entry in index.range((account, 0u64)..=(account, u64::MAX))? {
                let (k, expires) = entry?;
                if expires.value() <= now {
                    continue;
                }
                let key = k.value().1;
                // Both tables come from one snapshot, so a missing delivery means a damaged
                // file; skip it rather than fail the whole read.
                if let Some(v) = pending.get(key)? {
                    // A damaged entry is skipped rather than hold up the account's other
                    // deliveries forever; expiry removes it in time.
                    match decode_pending(key, v.value()) {
                        Ok(d) => out.push(d),
                        Err(e) => {
                            tracing::warn!(key, error = %e, "store: an undecodable pending delivery skipped");
                            continue;
                        }
                    }
                    if out.len() >= limit {
                        break;
                    }
                }
            }
            Ok(out)
        })
    }

    fn newest_pending(&self, limit: usize) -> Result<Vec<PendingDelivery>, StoreError> {
        self.read(|txn| {
            let mut out = Vec::new();
            for entry in txn.open_table(PENDING)?.iter()?.rev().take(limit) {
                let (k, v) = entry?;
                // One damaged entry does not hide the others (expiry removes it in time).
                match decode_pending(k.value(), v.value()) {
                    Ok(d) => out.push(d),
                    Err(e) => tracing::warn!(key = k.value(), error = %e, "store: an undecodable pending delivery"),
                }
            }
            Ok(out)
        })
    }

    fn expire(&self, now: u64, records_before: u64) -> Result<usize, StoreError> {
        let mut total = 0usize;
        if let Some(journal) = &self.journal {
            // The records about to go that never got a final receipt end now, in the
            // journal's spool; then the journal lets go of the histories as old as them.
            let mut from = None;
            loop {
                let (unfinished, last) =
                    self.unfinished_before(journal, records_before, from, EXPIRE_CHUNK)?;
                if !unfinished.is_empty() {
                    let (tx, rx) = mpsc::sync_channel(1);
                    journal.submit(Op::Ended {
                        records: unfinished,
                        done: tx,
                    })?;
                    rx.recv().map_err(|_| StoreError::Closed)??;
                }
                match last {
                    Some(last) => from = Some(last),
                    None => break,
                }
            }
            total = total.saturating_add(journal.expire(now, records_before)?);
        }
        loop {
            let (tx, rx) = mpsc::sync_channel(1);
            self.submit(Op::Expire {
                now,
                records_before,
                limit: EXPIRE_CHUNK,
                done: tx,
            })?;
            let n = rx.recv().map_err(|_| StoreError::Closed)??;
            total = total.saturating_add(n);
            if n < EXPIRE_CHUNK {
                self.recent.expire(records_before);
                return Ok(total);
            }
        }
    }

    fn stats(&self) -> StoreStats {
        let c = &self.counters;
        StoreStats {
            commits: c.commits.load(Ordering::Relaxed),
            ops: c.ops.load(Ordering::Relaxed),
            queue_depth: c.depth.load(Ordering::Relaxed),
            backlog: c.backlog.load(Ordering::Relaxed),
            write_micros: c.write_micros.load(Ordering::Relaxed),
            unindexed: c.unindexed.load(Ordering::Relaxed),
            spooled: self.journal.as_ref().map_or_else(
                || c.spooled.load(Ordering::Relaxed),
                |j| j.counters.spooled.load(Ordering::Relaxed),
            ),
            spool_dropped: self.journal.as_ref().map_or_else(
                || c.spool_dropped.load(Ordering::Relaxed),
                |j| j.counters.spool_dropped.load(Ordering::Relaxed),
            ),
        }
    }

    fn flush(&self) -> StoreFuture<'_, ()> {
        let here = self.write(|done| Op::Flush { done });
        Box::pin(async move {
            if let Some(journal) = &self.journal {
                journal.flush().await?;
            }
            here.await
        })
    }

    fn health(&self) -> StoreHealth {
        self.health.get()
    }
}
