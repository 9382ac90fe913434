//! The router: the [`SubmitHandler`] that routes each message from one table snapshot and runs
//! its channel plan, and the single reload path that swaps the snapshot.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;

use super::build::ChannelChanges;
use super::groups::Groups;
use super::submit::{Decided, Stages};
use super::table::{RouteInput, RouteTable};
use crate::channels::{ChannelContext, ChannelKinds};
use crate::config::Accounts;
use crate::config::{Diagnostic, RoutesFile};
use crate::delivery::Delivery;
use crate::ids::IdMinter;
use crate::log_every::LogEvery;
use crate::metrics::Metrics;
use crate::phone::Masked;
use crate::server::{AccountBook, Outcome, OutcomeFuture, Submission, SubmitHandler};
use crate::smpp::CommandStatus;

/// A reload that swapped the table in: the generation now in service and what happened to each
/// channel.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Applied {
    /// The generation now in service.
    pub generation: u64,
    /// The first 12 hex digits of the SHA-256 of the `routes.toml` text now in service: the
    /// same digest on two instances means the same table.
    pub digest: String,
    /// Channels kept, added, rebuilt and removed.
    #[serde(flatten)]
    pub channels: ChannelChanges,
}

/// A reload that was refused: every error with its line. The table in service stays.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Rejected {
    /// Every error found.
    pub errors: Vec<Diagnostic>,
}

/// What a reload did: what the log, `smpp-router check`, `GET /routes` and `POST /reload`
/// report.
pub type ReloadOutcome = Result<Applied, Rejected>;

/// The reloads so far, for the admin API.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ReloadStatus {
    /// The generation in service.
    pub generation: u64,
    /// The digest of the `routes.toml` text in service (see [`Applied::digest`]).
    pub digest: String,
    /// The errors of the last rejected attempt (empty when it succeeded).
    pub errors: Vec<Diagnostic>,
    /// What the last applied reload did to the channels.
    pub channels: ChannelChanges,
    /// Reloads that succeeded.
    pub succeeded: u64,
    /// Reloads that were rejected.
    pub rejected: u64,
}

/// Routes messages.
pub struct Router {
    table: ArcSwap<RouteTable>,
    ids: Arc<IdMinter>,
    routes_path: PathBuf,
    generation: AtomicU64,
    status: Mutex<ReloadStatus>,
    /// Serialises reloads from the file watcher, SIGHUP and the admin API.
    reload_lock: Mutex<()>,
    /// Bumped after each reload swapped the table: sessions look at their account again.
    accounts_changed: tokio::sync::watch::Sender<u64>,
    /// The channel kinds `routes.toml` may name.
    kinds: ChannelKinds,
    /// What channels are started with: the delivery layer (the store and the way receipts
    /// reach clients), the counters, the plugin host; `None` validates channels without
    /// starting them (`check`, `explain`).
    channels: Option<ChannelContext>,
    /// The router's counters.
    metrics: Arc<Metrics>,
    /// What a message's later stages use (the delivery layer, the counters).
    stages: Arc<Stages>,
    /// Concatenated messages whose parts are coming in: all take one channel.
    groups: Groups,
    /// Messages refused while the store cannot write: logged at most this often.
    store_refusals: LogEvery,
}

impl Router {
    /// A router with an empty table that reads `routes_path` on [`Router::reload`]. With
    /// `channels` (the delivery layer, counters and plugin host) carrier and plugin channels are
    /// started and relay receipts, and every message a channel accepts without a final state is
    /// recorded before the client hears `ESME_ROK`; without, channels are only validated.
    pub fn new(
        routes_path: &Path,
        ids: Arc<IdMinter>,
        kinds: ChannelKinds,
        channels: Option<ChannelContext>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            kinds,
            table: ArcSwap::from_pointee(RouteTable::empty()),
            ids,
            routes_path: routes_path.to_path_buf(),
            generation: AtomicU64::new(0),
            status: Mutex::new(ReloadStatus::default()),
            reload_lock: Mutex::new(()),
            accounts_changed: tokio::sync::watch::channel(0).0,
            groups: Groups::default(),
            stages: Arc::new(Stages {
                delivery: channels.as_ref().map(|c| c.delivery.clone()),
                metrics: metrics.clone(),
                groups: None,
            }),
            channels,
            metrics,
            store_refusals: LogEvery::new(Duration::from_secs(10)),
        }
    }

    /// In cluster mode: the parts of a long message arriving at several instances take the
    /// channel the first one took anywhere. Call before the router is shared.
    pub fn with_shared_groups(
        mut self,
        groups: Option<Arc<dyn super::groups::SharedGroups>>,
    ) -> Self {
        if let Some(stages) = Arc::get_mut(&mut self.stages) {
            stages.groups = groups;
        }
        self
    }

    fn delivery(&self) -> Option<&Arc<dyn Delivery>> {
        self.stages.delivery.as_ref()
    }

    /// The table in service.
    pub fn table(&self) -> Arc<RouteTable> {
        self.table.load_full()
    }

    /// Stops the channels in service for a shutdown (an SMPP carrier's binds unbind), waiting
    /// up to `within`; whether they all ended in time.
    pub async fn stop_channels(&self, within: Duration) -> bool {
        let table = self.table();
        let stopping: Vec<_> = table.channels.values().map(|c| c.stop()).collect();
        tokio::time::timeout(within, futures_util::future::join_all(stopping))
            .await
            .is_ok()
    }

    /// The outcome of the last reload.
    pub fn status(&self) -> ReloadStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The one reload path: parse, validate (every error with its line), build a complete table,
    /// swap it in with one store. On any error the table in service stays.
    pub fn reload(&self) -> ReloadOutcome {
        let _serial = self.reload_lock.lock().unwrap_or_else(|p| p.into_inner());
        let outcome = self.try_reload();
        let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
        match &outcome {
            Ok(applied) => {
                status.generation = applied.generation;
                status.digest = applied.digest.clone();
                status.errors.clear();
                status.channels = applied.channels.clone();
                status.succeeded += 1;
                let c = &applied.channels;
                tracing::info!(
                    generation = applied.generation,
                    kept = ?c.kept,
                    added = ?c.added,
                    rebuilt = ?c.rebuilt,
                    removed = ?c.removed,
                    "routes loaded"
                );
            }
            Err(rejected) => {
                status.errors = rejected.errors.clone();
                status.rejected += 1;
                for e in &rejected.errors {
                    tracing::error!("{e}");
                }
                if status.generation == 0 {
                    tracing::error!("routes rejected; there is no earlier table to serve");
                } else {
                    tracing::error!(
                        generation = status.generation,
                        "routes rejected; the previous table keeps serving"
                    );
                }
            }
        }
        outcome
    }

    fn try_reload(&self) -> ReloadOutcome {
        let path = &self.routes_path;
        let text = std::fs::read_to_string(path).map_err(|e| Rejected {
            errors: vec![Diagnostic {
                file: path.clone(),
                line: 0,
                column: 0,
                message: format!("cannot read: {e}"),
            }],
        })?;
        let rejected = |errors| Rejected { errors };
        let file = RoutesFile::parse(path, &text, &self.kinds).map_err(rejected)?;
        let generation = self.generation.load(Ordering::Relaxed) + 1;
        let previous = self.table.load();
        let (table, channels) = super::build::build(
            &file,
            &previous,
            generation,
            (path, &text),
            &self.kinds,
            self.channels.as_ref(),
        )
        .map_err(rejected)?;
        // One swap: routes, channels and accounts together; then bound sessions are woken to
        // look at their account in it.
        self.table.store(Arc::new(table));
        self.generation.store(generation, Ordering::Relaxed);
        self.accounts_changed.send_modify(|g| *g += 1);
        Ok(Applied {
            generation,
            digest: digest_of(&text),
            channels,
        })
    }
}

impl AccountBook for Router {
    fn accounts(&self) -> Arc<Accounts> {
        self.table.load().accounts.clone()
    }

    fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.accounts_changed.subscribe()
    }
}

impl SubmitHandler for Router {
    /// One message, in three stages (see [`super::submit`]): decided here at once (no route,
    /// a store that cannot write), then run through the route's channels and settled.
    fn submit(&self, s: Submission) -> OutcomeFuture {
        match self.decide(&s) {
            Ok(mut decided) => {
                // The message is made here, not in the future: the submission is not kept in
                // the future beside it (the future is boxed and moved once per message).
                let message = decided.message(s);
                Box::pin(decided.finish(message))
            }
            Err(status) => Box::pin(std::future::ready(Outcome::Rejected(status))),
        }
    }
}

impl Router {
    /// The first stage: the route, or a refusal before any channel sees the message (no route;
    /// the store cannot write); then the router id, the message's part in a long message, and
    /// the answer gate opened for its receipts.
    fn decide(&self, s: &Submission) -> Result<Decided, CommandStatus> {
        let table = self.table.load_full();
        let input = RouteInput::new(&s.account.system_id, &s.sm, s.destination);
        let Some(index) = table.route_index(&input) else {
            tracing::info!(account = %s.account.system_id, to = %Masked(&s.sm.dest.addr), "no route");
            self.metrics
                .add(&super::counters::UNROUTABLE, &[&s.account.system_id], 1);
            // Not ESME_RSYSERR, which makes clients resend.
            return Err(CommandStatus::RINVDSTADR);
        };
        let delivery = self.delivery();
        if let Some(delivery) = delivery
            && let health = delivery.store().health()
            && let Some(fault) = &health.fault
        {
            // Fail closed: a message sent now could not be recorded, so its receipt could not
            // find the client. ESME_RMSGQFUL is temporary: clients (Kannel, smpplib users, the
            // SMPP libraries' retry policies) send it again later, as for a full queue.
            let status = crate::metrics::Hex(CommandStatus::RMSGQFUL.0).label();
            let labels = [s.account.system_id.as_str(), "-", "-", status.as_str()];
            self.metrics
                .add(&crate::server::counters::MESSAGES, &labels, 1);
            if let Some(also) = self.store_refusals.allow(std::time::Instant::now()) {
                tracing::warn!(account = %s.account.system_id, error = %fault.reason, refused_since_last_line = also, "the store cannot write: message refused with ESME_RMSGQFUL");
            }
            return Err(CommandStatus::RMSGQFUL);
        }
        let id = self.ids.next();
        // The parts of a concatenated message all take the channel the first one took.
        let role = crate::smpp::concat::part_of(&s.sm)
            .filter(|part| part.total > 1)
            .map(|part| self.groups.join(&s.account.system_id, &s.sm, part));
        // Receipts for this id wait until the client has its answer (see `answers`).
        if let Some(delivery) = delivery {
            delivery.answers().open(&id);
        }
        Ok(Decided {
            table,
            index,
            id,
            role,
            stages: self.stages.clone(),
        })
    }
}

/// The first 12 hex digits of the SHA-256 of `text`.
fn digest_of(text: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    d.as_ref()[..6].iter().map(|b| format!("{b:02x}")).collect()
}
