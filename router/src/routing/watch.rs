//! Watching `routes.toml` for edits. The watch is on the file's directory, not the file: editors
//! save by writing a temporary file and renaming it over the original, and a watch on the file
//! itself goes dead after the first such save. Bursts of events are debounced into one reload.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::router::Router;

/// What asked for a reload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// The file changed.
    File,
    /// SIGHUP.
    Signal,
    /// The admin API.
    Api,
}

/// Feeds reload requests from every source into the one reload path.
#[derive(Clone)]
pub struct Reloads {
    tx: mpsc::Sender<Trigger>,
}

impl Reloads {
    /// Asks for a reload (coalesced with any already pending).
    pub fn request(&self, trigger: Trigger) {
        let _ = self.tx.try_send(trigger);
    }
}

/// Starts the reload task and the file watcher; returns the handle other sources use, and the
/// watcher, which must be kept alive.
pub fn start(
    router: Arc<Router>,
    path: &Path,
    debounce: Duration,
) -> notify::Result<(Reloads, notify::RecommendedWatcher)> {
    let (tx, mut rx) = mpsc::channel::<Trigger>(4);
    let reloads = Reloads { tx: tx.clone() };
    let file_name = path.file_name().map(|n| n.to_os_string());
    let dir: PathBuf = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if event.kind.is_access() {
            return;
        }
        let ours = event
            .paths
            .iter()
            .any(|p| p.file_name().map(|n| n.to_os_string()) == file_name);
        if ours {
            let _ = tx.try_send(Trigger::File);
        }
    })?;
    watcher.watch(&dir, RecursiveMode::NonRecursive)?;
    tokio::spawn(async move {
        while let Some(trigger) = rx.recv().await {
            // Let the burst of events of one save settle, then take them all as one.
            tokio::time::sleep(debounce).await;
            while rx.try_recv().is_ok() {}
            let router = router.clone();
            let result = tokio::task::spawn_blocking(move || router.reload()).await;
            if let Ok(Ok(applied)) = result {
                tracing::info!(?trigger, generation = applied.generation, "reloaded");
            }
        }
    });
    Ok((reloads, watcher))
}
