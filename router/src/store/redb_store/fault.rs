//! The writer while the file cannot be written: a full disk, an I/O error. After an I/O error
//! redb refuses every later transaction until the file is closed and opened again, so:
//!
//! - the writer lets go of the file (readers get [`StoreError::Unavailable`] meanwhile; the
//!   newest records stay findable in memory, see [`super::Recent`]), and [`HealthCell`] tells
//!   the router, which refuses new messages and reports it on `/readyz`;
//! - records of messages already sent and removals of delivered receipts are **held** in memory
//!   (up to [`super::RedbOptions::max_held`]) and their callers told they are done: the message
//!   is with its channel and the record is in memory, where its receipt finds it; everything else
//!   (a receipt to keep for a client, expiry, a barrier) fails with `Unavailable`, so that its
//!   caller answers the carrier with a temporary error and the carrier resends it;
//! - every second the writer opens the file again, proves that a write which needs room in it
//!   commits, writes what it held, and serves again: no restart. The outage is logged with its
//!   length.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use redb::{Database, TableDefinition};
use tokio::sync::oneshot;

use super::{MAX_BATCH, Op, Writer, prepare};
use crate::log_every::LogEvery;
use crate::store::{Event, MessageRecord, StoreError, StoreFault, StoreHealth};

/// How soon a failing store first tries to open its file again; each failed try doubles the
/// wait, up to [`RETRY_MAX`] (each try reopens and repairs the file, which reads it).
const RETRY: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(8);

/// How often the writer says again that it still cannot write.
const REMIND: Duration = Duration::from_secs(30);

/// Bytes the recovery probe writes: a write that needs room in the file, not only the header.
const PROBE_BYTES: usize = 64 * 1024;

const PROBE: TableDefinition<&str, &[u8]> = TableDefinition::new("probe");

/// The store's health as the data path reads it: one atomic load while all is well.
#[derive(Debug, Default)]
pub(super) struct HealthCell {
    faulted: AtomicBool,
    held: AtomicU64,
    fault: Mutex<Option<StoreFault>>,
}

impl HealthCell {
    pub(super) fn get(&self) -> StoreHealth {
        let held = self.held.load(Ordering::Relaxed);
        if !self.faulted.load(Ordering::Acquire) {
            return StoreHealth { fault: None, held };
        }
        let fault = self.fault.lock().ok().and_then(|f| f.clone());
        StoreHealth { fault, held }
    }

    fn set(&self, fault: Option<StoreFault>) {
        let faulted = fault.is_some();
        if let Ok(mut f) = self.fault.lock() {
            *f = fault;
        }
        self.faulted.store(faulted, Ordering::Release);
    }
}

/// What the writer knows of a failure under way.
pub(super) struct Fault {
    since: Instant,
    reason: String,
    retry_at: Instant,
    /// The wait before the next try.
    backoff: Duration,
    /// The file as it was: it must be gone (readers done with it) before it can be opened again.
    old: Option<Weak<Database>>,
    remind: LogEvery,
}

impl Fault {
    pub(super) fn until_retry(&self) -> Duration {
        self.retry_at.saturating_duration_since(Instant::now())
    }
}

/// An operation accepted while the file could not be written.
pub(super) enum Held {
    Record {
        rec: Arc<MessageRecord>,
        seq: u64,
    },
    Dequeue {
        key: u64,
    },
    Note {
        key: u64,
        event: Event,
        finish: Option<Arc<MessageRecord>>,
    },
}

impl Held {
    /// The operation to write; nobody waits for its outcome any more.
    fn op(&self) -> Op {
        match self {
            Held::Record { rec, seq } => Op::Record {
                rec: rec.clone(),
                seq: *seq,
                _ticket: None,
                done: oneshot::channel().0,
            },
            Held::Dequeue { key } => Op::Dequeue {
                key: *key,
                done: oneshot::channel().0,
            },
            Held::Note { key, event, finish } => Op::Note {
                key: *key,
                event: event.clone(),
                finish: finish.clone(),
                _ticket: None,
            },
        }
    }
}

impl Writer {
    /// Writes failed with `e`: lets go of the file and holds or fails `batch`.
    pub(super) fn enter_fault(&mut self, e: StoreError, batch: &mut Vec<Op>) {
        let reason = reason(e);
        match &mut self.fault {
            Some(fault) => fault.reason = reason.clone(),
            None => {
                tracing::error!(
                    error = %reason,
                    "operator alarm: the store cannot write. New messages are refused with ESME_RMSGQFUL (clients resend them later), records of messages already sent are held in memory, carriers' receipts that cannot be delivered at once are answered with a temporary error (carriers resend them); trying again after 1 s, then 2, 4 and every 8 s"
                );
                let since = Instant::now();
                self.fault = Some(Fault {
                    since,
                    reason: reason.clone(),
                    retry_at: since + RETRY,
                    backoff: RETRY,
                    old: self.db.take().map(|db| Arc::downgrade(&db)),
                    remind: LogEvery::new(REMIND),
                });
                // Readers stop using the file too, so that it can be closed.
                self.shared.store(None);
                self.health.set(Some(StoreFault {
                    reason: reason.clone(),
                    since,
                }));
            }
        }
        for op in batch.drain(..) {
            self.hold(op);
        }
    }

    /// An operation that arrived while writes fail.
    pub(super) fn while_faulted(&mut self, op: Op) {
        self.hold(op);
        if self
            .fault
            .as_ref()
            .is_some_and(|f| f.until_retry().is_zero())
        {
            self.try_recover();
        }
    }

    /// Holds a record or a removal (its caller is done), fails anything else with the fault's
    /// reason.
    fn hold(&mut self, op: Op) {
        let room = self.held.len() < self.opener.options.max_held;
        if op.writes() {
            self.counters.backlog.fetch_sub(1, Ordering::Relaxed);
        }
        let held = |me: &mut Self, op: Held| {
            me.held.push(op);
            me.health
                .held
                .store(me.held.len() as u64, Ordering::Relaxed);
        };
        match op {
            Op::Record { rec, seq, done, .. } if room => {
                held(self, Held::Record { rec, seq });
                let _ = done.send(Ok(()));
            }
            Op::Dequeue { key, done } if room => {
                held(self, Held::Dequeue { key });
                let _ = done.send(Ok(()));
            }
            // A message's end is held; other events (how a receipt reached the client) are not
            // worth a place records need.
            Op::Note {
                key,
                event,
                finish: finish @ Some(_),
                ..
            } if room => {
                held(self, Held::Note { key, event, finish });
            }
            op => {
                let reason = self.fault.as_ref().map_or("", |f| f.reason.as_str());
                let why = if room {
                    reason.to_string()
                } else {
                    format!(
                        "{reason}; and {} operations are held in memory already (store.max_held)",
                        self.held.len()
                    )
                };
                op.complete(Err(StoreError::Unavailable(why)));
            }
        }
    }

    /// Opens the file again, proves it takes writes, writes what was held; on success the store
    /// serves again.
    pub(super) fn try_recover(&mut self) {
        let Some(fault) = &mut self.fault else {
            return;
        };
        fault.retry_at = Instant::now() + fault.backoff;
        fault.backoff = (fault.backoff * 2).min(RETRY_MAX);
        if fault.old.as_ref().is_some_and(|old| old.strong_count() > 0) {
            return; // A reader still has the old file: next time.
        }
        fault.old = None;
        let db = match self.opener.reopen() {
            Ok(db) => db,
            Err(e) => return self.still_failing(e),
        };
        match self.reopen(&db) {
            Ok(written) => {
                let Some(fault) = self.fault.take() else {
                    return;
                };
                self.db = Some(db.clone());
                self.shared.store(Some(db));
                self.health.set(None);
                self.health.held.store(0, Ordering::Relaxed);
                tracing::info!(
                    outage_seconds = format!("{:.1}", fault.since.elapsed().as_secs_f64()),
                    held_written = written,
                    "store: writable again; what was held in memory is written"
                );
            }
            Err(e) => {
                // Let go of this handle too before the next try.
                self.db = None;
                if let Some(fault) = &mut self.fault {
                    fault.old = Some(Arc::downgrade(&db));
                }
                drop(db);
                self.still_failing(e);
            }
        }
    }

    /// Checks the file, proves a write commits, and writes the held operations (with the
    /// carrier-id index's log, as any record); how many.
    fn reopen(&mut self, db: &Arc<Database>) -> Result<usize, StoreError> {
        let (next_key, depth, _) = prepare(db)?;
        self.next_key = self.next_key.max(next_key);
        probe(db)?;
        self.db = Some(db.clone());
        let mut held = std::mem::take(&mut self.held);
        match self.write_held(&held, depth) {
            Ok(()) => Ok(held.len()),
            Err((written, e)) => {
                // The rest is kept for the next try; what was committed is not written again
                // (a message's events would repeat).
                held.drain(..written.min(held.len()));
                self.held = held;
                Err(e)
            }
        }
    }

    /// Writes `held` in batches; the queue depth is `depth` before them. On failure, how many
    /// of them were committed.
    fn write_held(&mut self, held: &[Held], depth: u64) -> Result<(), (usize, StoreError)> {
        let mut depth = i64::try_from(depth).unwrap_or(i64::MAX);
        let mut written = 0;
        for chunk in held.chunks(MAX_BATCH) {
            let ops: Vec<Op> = chunk.iter().map(Held::op).collect();
            let effects = match self.transact(&ops, false) {
                Ok(effects) => effects,
                Err(e @ StoreError::Unavailable(_)) => return Err((written, e)),
                // One of them fails on its own (not the disk): one transaction each, and the
                // ones that fail are dropped (logged) rather than hold the store faulted.
                Err(_) => self.one_by_one(chunk).map_err(|e| (written, e))?,
            };
            written += chunk.len();
            depth += effects.iter().map(|e| e.depth).sum::<i64>();
            self.counters.commits.fetch_add(1, Ordering::Relaxed);
            self.counters
                .ops
                .fetch_add(effects.len() as u64, Ordering::Relaxed);
        }
        self.counters
            .depth
            .store(u64::try_from(depth).unwrap_or(0), Ordering::Relaxed);
        Ok(())
    }

    /// Writes `held` one transaction each; the effects of those that were written.
    fn one_by_one(&mut self, held: &[Held]) -> Result<Vec<super::Effect>, StoreError> {
        let mut effects = Vec::with_capacity(held.len());
        for h in held {
            match self.transact(&[h.op()], false) {
                Ok(mut e) => effects.append(&mut e),
                Err(e @ StoreError::Unavailable(_)) => return Err(e),
                Err(e) => {
                    tracing::error!(error = %e, "store: a write held during the outage cannot be written; dropped");
                }
            }
        }
        Ok(effects)
    }

    fn still_failing(&mut self, e: StoreError) {
        let Some(fault) = &mut self.fault else {
            return;
        };
        // The old file still open in this process (a read under way) says nothing new about
        // the disk: keep the reason the operator needs.
        if !matches!(e, StoreError::InUse) {
            fault.reason = reason(e);
        }
        self.health.set(Some(StoreFault {
            reason: fault.reason.clone(),
            since: fault.since,
        }));
        if let Some(also) = fault.remind.allow(Instant::now()) {
            tracing::error!(
                error = %fault.reason,
                failing_seconds = fault.since.elapsed().as_secs(),
                held = self.held.len(),
                tries_since_last_line = also,
                "operator alarm: the store still cannot write; new messages are refused"
            );
        }
    }
}

/// Writes a block that needs room in the file and removes it: a file that takes this takes the
/// held operations.
fn probe(db: &Database) -> Result<(), StoreError> {
    let block = vec![0u8; PROBE_BYTES];
    let txn = db.begin_write()?;
    txn.open_table(PROBE)?.insert("room", block.as_slice())?;
    txn.commit()?;
    let txn = db.begin_write()?;
    txn.open_table(PROBE)?.remove("room")?;
    txn.commit()?;
    Ok(())
}

/// What went wrong, without the "cannot write for now" every fault says.
fn reason(e: StoreError) -> String {
    match e {
        StoreError::Unavailable(m) => m,
        e => e.to_string(),
    }
}
