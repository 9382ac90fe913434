//! Delivery records: one per message when it reaches a final state, or when its record expires
//! without one. The store puts the finished message into its spool in the transaction that
//! keeps the final receipt (or expires the record), so nothing the data path does waits for a
//! sink; here one task per sink reads the spool in order, writes a batch, and only then marks
//! it written (in the store, so a restart goes on from there). An entry leaves the spool once
//! every sink has written it. While a sink fails (PostgreSQL away) its entries wait in the
//! spool, durably, and are written when it is back; the spool holds 10 million at most
//! ([`crate::store::MAX_SPOOL`]; beyond, records are counted as dropped).
//!
//! Sinks: JSON-lines files (`file.rs`, on unless `records.dir = "off"`) and PostgreSQL
//! (`postgres.rs`, with `records.postgres`). A record is read [`SETTLE`] after its final
//! receipt, so that it says how the receipt reached the client.

pub mod cdr;
pub mod counters;
mod file;
mod postgres;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::config::RouterConfig;
use crate::log_every::LogEvery;
use crate::metrics::Metrics;
use crate::store::{Store, history};

/// How long after its final receipt a record is written (its receipt's way to the client is
/// in it by then, most of the time).
pub const SETTLE: Duration = Duration::from_secs(2);

/// How long a sink with nothing to write waits before it looks again.
const IDLE: Duration = Duration::from_millis(250);

/// The longest wait between attempts of a failing sink.
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Where records go.
enum Sink {
    /// Shared with the blocking thread that writes them.
    Files(Arc<std::sync::Mutex<file::Files>>),
    Postgres(Box<postgres::Postgres>),
}

impl Sink {
    fn name(&self) -> &'static str {
        match self {
            Sink::Files(_) => "file",
            Sink::Postgres(_) => "postgres",
        }
    }

    /// Writes `lines`; how many of them the sink refused on their own (skipped).
    async fn write(&mut self, lines: Vec<String>) -> Result<u64, String> {
        match self {
            Sink::Files(files) => {
                // Blocking file IO (append and sync), off the runtime's threads.
                let files = files.clone();
                tokio::task::spawn_blocking(move || match files.lock() {
                    Ok(mut files) => files.write(&lines).map(|()| 0).map_err(|e| e.to_string()),
                    Err(_) => Err("the records file writer failed earlier".to_string()),
                })
                .await
                .map_err(|e| e.to_string())?
            }
            Sink::Postgres(pg) => pg.write(&lines).await.map(|w| w.rejected),
        }
    }
}

/// The running sinks; dropping it stops them (what they had not marked is written again by
/// the next start).
pub struct Records {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Records {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Whether `config` names any sink (else the store spools nothing: see [`start`]).
pub fn enabled(config: &RouterConfig) -> bool {
    config.records.dir != "off" || config.records.postgres.is_some()
}

/// Starts a task per configured sink, on the current runtime. The PostgreSQL address is
/// resolved here (`env:`/`file:`); the database itself may be away (its records wait). With
/// no sink, what an earlier run left in the spool is let go (nothing would take it out).
pub async fn start(
    config: &RouterConfig,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
) -> Result<Records, String> {
    let settings = &config.records;
    let mut sinks = Vec::new();
    if settings.dir != "off" {
        let dir = config.data_dir.join(Path::new(&settings.dir));
        sinks.push(Sink::Files(Arc::new(std::sync::Mutex::new(
            file::Files::new(dir, settings.keep),
        ))));
    }
    if let Some(spec) = &settings.postgres {
        let url =
            crate::config::resolve_secret(spec).map_err(|e| format!("records.postgres: {e}"))?;
        sinks.push(Sink::Postgres(Box::new(postgres::Postgres::new(
            url,
            settings.table.clone(),
        ))));
    }
    if sinks.is_empty() {
        if store.stats().spooled > 0 {
            tracing::info!("records: no sink configured; the spool of an earlier run is let go");
            store
                .spool_done("none", u64::MAX, u64::MAX)
                .await
                .map_err(|e| format!("records: cannot clear the spool: {e}"))?;
        }
        return Ok(Records { tasks: Vec::new() });
    }
    let mut marks = Vec::with_capacity(sinks.len());
    for sink in &sinks {
        let mark = store
            .spool_mark(sink.name())
            .map_err(|e| format!("records: cannot read the spool: {e}"))?;
        marks.push(AtomicU64::new(mark));
    }
    let marks: Arc<[AtomicU64]> = marks.into();
    let tasks = sinks
        .into_iter()
        .enumerate()
        .map(|(i, sink)| {
            let run = Runner {
                sink,
                index: i,
                marks: marks.clone(),
                store: store.clone(),
                metrics: metrics.clone(),
                batch: settings.batch,
            };
            tokio::spawn(run.run())
        })
        .collect();
    Ok(Records { tasks })
}

struct Runner {
    sink: Sink,
    /// This sink's place in `marks`.
    index: usize,
    /// How far each sink has written the spool.
    marks: Arc<[AtomicU64]>,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    batch: usize,
}

impl Runner {
    async fn run(mut self) {
        let name = self.sink.name();
        let mut backoff = Duration::from_secs(1);
        let complain = LogEvery::new(Duration::from_secs(60));
        let mut failing = false;
        loop {
            let mark = self
                .marks
                .get(self.index)
                .map_or(0, |m| m.load(Ordering::Acquire));
            // Reading the spool and the histories and making the lines is blocking work (store
            // reads): off the runtime's threads.
            let (store, batch) = (self.store.clone(), self.batch);
            let read = tokio::task::spawn_blocking(move || next_lines(&*store, mark, batch)).await;
            let (last, lines, full) = match read {
                Ok(Ok(Some(next))) => next,
                Ok(Ok(None)) => {
                    tokio::time::sleep(IDLE).await;
                    continue;
                }
                Ok(Err(e)) => {
                    tracing::debug!(sink = name, error = %e, "records: the spool cannot be read now");
                    tokio::time::sleep(IDLE * 4).await;
                    continue;
                }
                Err(_) => {
                    tokio::time::sleep(IDLE * 4).await;
                    continue;
                }
            };
            let n = lines.len() as u64;
            match self.sink.write(lines).await {
                Ok(rejected) => {
                    if rejected > 0 {
                        self.metrics.add(&counters::REJECTED, &[name], rejected);
                    }
                    if failing {
                        tracing::info!(sink = name, "records: writing again");
                        failing = false;
                    }
                    backoff = Duration::from_secs(1);
                    if let Some(m) = self.marks.get(self.index) {
                        m.store(last, Ordering::Release);
                    }
                    let everyone = self
                        .marks
                        .iter()
                        .map(|m| m.load(Ordering::Acquire))
                        .min()
                        .unwrap_or(last);
                    if let Err(e) = self.store.spool_done(name, last, everyone).await {
                        // Written again after a restart: the file gets them twice, PostgreSQL
                        // ignores them.
                        tracing::warn!(sink = name, error = %e, "records: cannot mark records written");
                    }
                    self.metrics
                        .add(&counters::WRITTEN, &[name], n.saturating_sub(rejected));
                    if !full {
                        // What follows has not settled yet: a pause makes the next batch
                        // larger instead of reading the same young entries again and again.
                        tokio::time::sleep(IDLE).await;
                    }
                }
                Err(e) => {
                    self.metrics.add(&counters::FAILED, &[name], 1);
                    if let Some(also) = complain.allow(std::time::Instant::now()) {
                        tracing::warn!(sink = name, error = %e, failures_since_last_line = also, "records: cannot write delivery records; they wait in the spool");
                    }
                    failing = true;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
    }
}

/// The next batch after `mark` that is ready (ended [`SETTLE`] ago or more; the spool is in
/// order, so it stops at the first younger entry): the last sequence number in it, its lines,
/// and whether it is a whole batch (more may be ready). `None` when nothing is ready.
fn next_lines(
    store: &dyn Store,
    mark: u64,
    batch: usize,
) -> Result<Option<(u64, Vec<String>, bool)>, crate::store::StoreError> {
    let ready = store.spooled(mark, batch, settled_by(history::now_ms()))?;
    let Some(last) = ready.last().map(|f| f.seq) else {
        return Ok(None);
    };
    let full = ready.len() >= batch;
    let lines = ready.iter().map(|f| cdr::line(f, &f.history)).collect();
    Ok(Some((last, lines, full)))
}

/// The newest end a record may have to be written at `now_ms`.
fn settled_by(now_ms: u64) -> u64 {
    now_ms.saturating_sub(u64::try_from(SETTLE.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Event, Finished, MessageRecord};

    fn finished(seq: u64, at_ms: Option<u64>) -> Finished {
        Finished {
            seq,
            record: MessageRecord::default(),
            outcome: at_ms.map(|at_ms| Event {
                at_ms,
                ..Event::receipt(2, "000", "c")
            }),
            history: Vec::new(),
        }
    }

    #[test]
    fn a_record_waits_two_seconds_after_its_final_receipt() {
        let now = 100_000;
        let by = settled_by(now);
        assert!(finished(1, Some(now - 5_000)).ended_by(by));
        assert!(finished(2, Some(now - 2_000)).ended_by(by));
        assert!(!finished(3, Some(now - 1_999)).ended_by(by));
        assert!(finished(4, None).ended_by(by), "expired without one: ready");
    }
}
