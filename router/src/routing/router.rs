//! The router: the [`SubmitHandler`] that routes each message from one table snapshot and runs
//! its channel plan, and the single reload path that swaps the snapshot.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;

use super::channel::Message;
use super::engine::{self, Verdict};
use super::groups::{self, Decision, Groups, Role};
use super::table::{RouteInput, RouteTable};
use crate::config::Accounts;
use crate::config::{Diagnostic, RoutesFile};
use crate::delivery::outbox::Outbox;
use crate::delivery::receipts::{self, ReceiptInfo};
use crate::ids::IdMinter;
use crate::log_every::LogEvery;
use crate::metrics::Metrics;
use crate::phone::Masked;
use crate::server::{AccountBook, Outcome, OutcomeFuture, Submission, SubmitHandler};
use crate::smpp::CommandStatus;
use crate::store::MessageRecord;

/// The result of the last reload, for logs, `check` and the admin API.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ReloadStatus {
    /// The generation in service.
    pub generation: u64,
    /// The errors of the last rejected attempt (empty when it succeeded).
    pub errors: Vec<Diagnostic>,
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
    /// The store and the way receipts reach clients (needed by carrier channels); `None` runs
    /// without a store (tests of routing alone).
    outbox: Option<Arc<Outbox>>,
    /// The router's counters.
    metrics: Arc<Metrics>,
    /// Concatenated messages whose parts are coming in: all take one channel.
    groups: Groups,
    /// Messages refused while the store cannot write: logged at most this often.
    store_refusals: LogEvery,
}

impl Router {
    /// A router with an empty table that reads `routes_path` on [`Router::reload`]. With an
    /// `outbox` (the store, and the way receipts reach clients) carrier channels can relay
    /// receipts, and every message a channel accepts without a final state is recorded before
    /// the client hears `ESME_ROK`.
    pub fn new(
        routes_path: &Path,
        ids: Arc<IdMinter>,
        outbox: Option<Arc<Outbox>>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            table: ArcSwap::from_pointee(RouteTable::empty()),
            ids,
            routes_path: routes_path.to_path_buf(),
            generation: AtomicU64::new(0),
            status: Mutex::new(ReloadStatus::default()),
            reload_lock: Mutex::new(()),
            accounts_changed: tokio::sync::watch::channel(0).0,
            groups: Groups::default(),
            outbox,
            metrics,
            store_refusals: LogEvery::new(Duration::from_secs(10)),
        }
    }

    fn outbox(&self) -> Option<Arc<Outbox>> {
        self.outbox.clone()
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
    pub fn reload(&self) -> Result<u64, Vec<Diagnostic>> {
        let _serial = self.reload_lock.lock().unwrap_or_else(|p| p.into_inner());
        let result = self.try_reload();
        let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
        match &result {
            Ok(generation) => {
                status.generation = *generation;
                status.errors.clear();
                status.succeeded += 1;
                tracing::info!(generation, "routes loaded");
            }
            Err(errors) => {
                status.errors = errors.clone();
                status.rejected += 1;
                for e in errors {
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
        result
    }

    fn try_reload(&self) -> Result<u64, Vec<Diagnostic>> {
        let text = std::fs::read_to_string(&self.routes_path).map_err(|e| {
            vec![Diagnostic {
                file: self.routes_path.clone(),
                line: 0,
                column: 0,
                message: format!("cannot read: {e}"),
            }]
        })?;
        let file = RoutesFile::parse(&self.routes_path, &text)?;
        let generation = self.generation.load(Ordering::Relaxed) + 1;
        let previous = self.table.load();
        let ctx = self.outbox().map(|outbox| crate::channels::ChannelContext {
            outbox,
            metrics: self.metrics.clone(),
        });
        let table = super::build::build(
            &file,
            &previous,
            generation,
            &self.routes_path,
            &text,
            ctx.as_ref(),
        )?;
        // One swap: routes, channels and accounts together; then bound sessions are woken to
        // look at their account in it.
        self.table.store(Arc::new(table));
        self.generation.store(generation, Ordering::Relaxed);
        self.accounts_changed.send_modify(|g| *g += 1);
        Ok(generation)
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
    fn submit(&self, s: Submission) -> OutcomeFuture {
        let table = self.table.load_full();
        let input = RouteInput::new(&s.account.system_id, &s.sm, s.destination);
        let Some(index) = table.route_index(&input) else {
            tracing::info!(account = %s.account.system_id, to = %Masked(&s.sm.dest.addr), "no route");
            self.metrics.unroutable(&s.account.system_id);
            // Not ESME_RSYSERR, which makes clients resend.
            return Box::pin(std::future::ready(Outcome::Rejected(
                CommandStatus::RINVDSTADR,
            )));
        };
        let outbox = self.outbox();
        if let Some(outbox) = &outbox
            && let health = outbox.store().health()
            && let Some(fault) = &health.fault
        {
            // Fail closed: a message sent now could not be recorded, so its receipt could not
            // find the client. ESME_RMSGQFUL is temporary: clients (Kannel, smpplib users, the
            // SMPP libraries' retry policies) send it again later, as for a full queue.
            self.metrics
                .refused(&s.account.system_id, CommandStatus::RMSGQFUL.0);
            if let Some(also) = self.store_refusals.allow(std::time::Instant::now()) {
                tracing::warn!(account = %s.account.system_id, error = %fault.reason, refused_since_last_line = also, "the store cannot write: message refused with ESME_RMSGQFUL");
            }
            return Box::pin(std::future::ready(Outcome::Rejected(
                CommandStatus::RMSGQFUL,
            )));
        }
        let id = self.ids.next();
        // The parts of a concatenated message all take the channel the first one took.
        let role = crate::smpp::concat::part_of(&s.sm)
            .filter(|part| part.total > 1)
            .map(|part| self.groups.join(&s.account.system_id, &s.sm, part));
        // Receipts for this id wait until the client has its answer (see `answers`).
        if let Some(outbox) = &outbox {
            outbox.answers().open(&id);
        }
        let metrics = self.metrics.clone();
        Box::pin(async move {
            let route = &table.routes[index];
            let deadline = tokio::time::Instant::now() + route.deadline();
            let message = Message {
                id,
                account: s.account,
                sm: s.sm,
                destination: s.destination,
                sender: s.sender,
            };
            let submitted = receipts::unix_now();
            let (lead, part_plan) = match role {
                None => (None, None),
                Some(Role::Lead(lead)) => (Some(lead), Some(Decision::Open)),
                Some(Role::Follow(decision)) => {
                    (None, Some(groups::follow(decision, deadline).await))
                }
            };
            let part_plan = part_plan
                .map(|decision| groups::plan_for_part(&route.plan, &table.channels, &decision));
            let plan = part_plan.as_deref().unwrap_or(&route.plan);
            let (verdict, history) = if plan.is_empty() {
                // A part, and no channel of the route carries parts (iMessage only).
                (Verdict::Rejected(CommandStatus::RSUBMITFAIL), Vec::new())
            } else {
                engine::run(plan, route.policy(), &message, deadline).await
            };
            if let Some(lead) = lead {
                lead.decide(match &verdict {
                    Verdict::Accepted { channel, .. } => Some(channel),
                    Verdict::Rejected(_) => None,
                });
            }
            let latency: Duration = history.iter().map(|h| h.latency).sum();
            match verdict {
                Verdict::Accepted {
                    channel,
                    channel_id,
                    final_state,
                } => {
                    if final_state.is_none()
                        && let Some(outbox) = &outbox
                    {
                        // The mapping is durable before the client hears ESME_ROK, so that the
                        // carrier's receipt finds its way back even across a restart.
                        let receipt_to = table
                            .channels
                            .get(&channel)
                            .is_some_and(|c| c.builds_receipts())
                            .then(|| receipt_to(&message.sm));
                        let record = MessageRecord {
                            receipt_to,
                            router_id: message.id.clone(),
                            account: message.account.system_id.clone(),
                            channel: channel.clone(),
                            channel_id,
                            created: submitted,
                            attempts: crate::routing::engine::describe(&history),
                        };
                        if let Err(e) = outbox.store().record(record).await {
                            // The carrier has the message: answering an error would make the
                            // client send it again. Its receipt will not find the client.
                            tracing::error!(id = %message.id, error = %e, "store: cannot record an accepted message; its receipt will be lost");
                        }
                    }
                    tracing::info!(id = %message.id, account = %message.account.system_id, route = %route.spec.name, %channel, attempts = %crate::routing::engine::describe(&history), latency_ms = latency.as_millis() as u64, "accepted");
                    metrics.message(
                        &message.account.system_id,
                        &route.spec.name,
                        Some(&channel),
                        0,
                        &history,
                        latency,
                    );
                    let receipt = final_state
                        .filter(|st| {
                            message
                                .sm
                                .registered_delivery
                                .wants_receipt(*st == crate::smpp::values::MessageState::DELIVERED)
                        })
                        .map(|state| {
                            Box::new(receipts::build(
                                &message.sm,
                                &ReceiptInfo {
                                    message_id: &message.id,
                                    state,
                                    err: "000",
                                    submitted_unix: submitted,
                                    done_unix: receipts::unix_now(),
                                },
                            ))
                        });
                    Outcome::Accepted {
                        message_id: message.id,
                        receipt,
                    }
                }
                Verdict::Rejected(status) => {
                    if let Some(outbox) = &outbox {
                        outbox
                            .answers()
                            .close(crate::delivery::answers::key(&message.id));
                    }
                    tracing::info!(id = %message.id, account = %message.account.system_id, route = %route.spec.name, %status, attempts = %crate::routing::engine::describe(&history), latency_ms = latency.as_millis() as u64, "rejected");
                    metrics.message(
                        &message.account.system_id,
                        &route.spec.name,
                        None,
                        status.0,
                        &history,
                        latency,
                    );
                    Outcome::Rejected(status)
                }
            }
        })
    }
}

/// What a receipt built by the router needs from the client's message.
fn receipt_to(sm: &crate::smpp::pdu::Sm) -> crate::store::ReceiptTo {
    let part = |a: &crate::smpp::pdu::Address| {
        (
            a.ton,
            a.npi,
            String::from_utf8_lossy(a.addr.as_slice()).into_owned(),
        )
    };
    crate::store::ReceiptTo {
        source: part(&sm.source),
        dest: part(&sm.dest),
        registered_delivery: sm.registered_delivery.0,
    }
}
