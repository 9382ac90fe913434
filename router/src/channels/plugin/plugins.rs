//! One router's plugin host: where it keeps the private copies of plugin libraries, its live
//! instances (for the drain at shutdown), and the plugin receipts on their way. Libraries
//! themselves are opened once per process ([`super::library`]): a dynamic library is a
//! process-wide thing.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use super::instance::Instance;

/// The plugin host of one router.
pub struct Plugins {
    copy_dir: PathBuf,
    live: Mutex<Vec<Weak<Instance>>>,
    /// Receipts taken from plugins and not yet stored or delivered.
    pub(super) relaying: Arc<AtomicUsize>,
}

impl Plugins {
    /// A host keeping the copies of plugin builds in `copy_dir` (`data_dir/plugins`). The
    /// copies an earlier run left there go (each build in use is copied again when loaded), so
    /// that they do not pile up across restarts.
    pub fn new(copy_dir: PathBuf) -> Arc<Self> {
        let removed = std::fs::read_dir(&copy_dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter(|e| std::fs::remove_file(e.path()).is_ok())
            .count();
        if removed > 0 {
            tracing::info!(dir = %copy_dir.display(), removed, "plugin copies of an earlier run removed");
        }
        Arc::new(Self {
            copy_dir,
            live: Mutex::new(Vec::new()),
            relaying: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Where the private copies of plugin builds go.
    pub(super) fn copy_dir(&self) -> &Path {
        &self.copy_dir
    }

    /// Registers a live instance for [`Plugins::drain_all`].
    pub(super) fn register(&self, instance: &Arc<Instance>) {
        if let Ok(mut live) = self.live.lock() {
            live.retain(|w| w.strong_count() > 0);
            live.push(Arc::downgrade(instance));
        }
    }

    /// At shutdown, after the clients' messages are answered: lets every live plugin finish its
    /// work (`drain`: pending completions and receipts), then waits until the receipts it
    /// emitted are stored or delivered — within `wait`.
    pub async fn drain_all(&self, wait: Duration) {
        let live: Vec<Arc<Instance>> = self
            .live
            .lock()
            .map(|l| l.iter().filter_map(Weak::upgrade).collect())
            .unwrap_or_default();
        if live.is_empty() {
            return;
        }
        let deadline = tokio::time::Instant::now() + wait;
        // A plain thread, not spawn_blocking: a drain that never returns must not keep the
        // runtime (and so the process) from stopping.
        let (done, drained) = tokio::sync::oneshot::channel();
        let spawned = std::thread::Builder::new()
            .name("plugin-drain-all".into())
            .spawn(move || {
                for instance in &live {
                    instance.drain_once();
                }
                let _ = done.send(());
            });
        if spawned.is_err() || tokio::time::timeout_at(deadline, drained).await.is_err() {
            tracing::warn!("plugins did not finish draining in time");
            return;
        }
        // Receipts emitted during the drain are on their way through the relay.
        tokio::time::sleep(Duration::from_millis(20)).await;
        while self.relaying.load(Ordering::Acquire) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn copies_of_an_earlier_run_are_removed_at_start() {
        let dir = std::env::temp_dir().join(format!("plugin-copies-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for name in ["libsim-0123456789ab.so", "libsim-ba9876543210.so"] {
            std::fs::write(dir.join(name), b"old build").unwrap();
        }
        let _plugins = Plugins::new(dir.clone());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        // A folder that is not there yet is fine.
        let _ = Plugins::new(dir.join("missing"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
