//! Tests: a redb file whose writes can be made to fail, as a full disk or a failing one does —
//! `ENOSPC` on growing the file, `EIO` on writing or syncing it — at any point of a commit.

use std::fs::OpenOptions;
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use redb::backends::FileBackend;
use redb::{BackendError, Builder, Database, StorageBackend};

use crate::store::StoreError;

/// The switch shared by the test and every file opened with it.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    failing: AtomicBool,
    /// Writes let through after `fail_after` before failing (an error mid-commit).
    budget: AtomicU64,
    /// How many writes failed.
    pub(crate) failed: AtomicU64,
}

impl Faults {
    /// From now on every write fails.
    pub(crate) fn fail(&self) {
        self.fail_after(0);
    }

    /// After `n` more successful writes (or syncs), every write fails.
    pub(crate) fn fail_after(&self, n: u64) {
        self.budget.store(n, Ordering::SeqCst);
        self.failing.store(true, Ordering::SeqCst);
    }

    /// Writes succeed again.
    pub(crate) fn heal(&self) {
        self.failing.store(false, Ordering::SeqCst);
    }

    fn check(&self, what: std::io::ErrorKind) -> Result<(), std::io::Error> {
        if !self.failing.load(Ordering::SeqCst) {
            return Ok(());
        }
        let left = self
            .budget
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |b| b.checked_sub(1));
        if left.is_ok() {
            return Ok(());
        }
        self.failed.fetch_add(1, Ordering::Relaxed);
        Err(std::io::Error::new(what, "injected by the test"))
    }

    pub(super) fn open(
        self: &Arc<Self>,
        builder: &Builder,
        path: &Path,
    ) -> Result<Database, StoreError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let inner = FileBackend::new(file)?;
        Ok(builder.create_with_backend(Faulty {
            inner,
            faults: self.clone(),
        })?)
    }
}

#[derive(Debug)]
struct Faulty {
    inner: FileBackend,
    faults: Arc<Faults>,
}

impl StorageBackend for Faulty {
    fn len(&self) -> Result<u64, std::io::Error> {
        self.inner.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        self.inner.read(offset, out)
    }

    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        self.faults.check(std::io::ErrorKind::StorageFull)?;
        self.inner.set_len(len)
    }

    fn sync_data(&self) -> Result<(), std::io::Error> {
        self.faults.check(std::io::ErrorKind::Other)?;
        self.inner.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        self.faults.check(std::io::ErrorKind::Other)?;
        self.inner.write(offset, data)
    }

    fn close(&self) -> Result<(), std::io::Error> {
        self.inner.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.inner.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.query_lock_range(start, end)
    }
}
