//! The SMPP carrier channel (`kind = "smpp"`): the router as an SMPP client of an SMS carrier
//! (tyntec-style binds), built on the async ESME driver in [`crate::esme`].
//!
//! - **Binds.** `binds` transceivers, or with `bind = "tx+rx"` as many transmitter + receiver
//!   pairs, each kept up by its own task: bind, and after any loss rebind with exponential
//!   backoff and jitter between `reconnect_min` and `reconnect_max`. The ESME driver answers the
//!   carrier's `enquire_link`, sends its own every `enquire_link` and closes a session whose
//!   requests go unanswered, so a dead link is found and replaced.
//! - **Submits** go round-robin to a bound transmitting session, except that the parts of a
//!   concatenated message (UDH reference or SAR TLVs) always take the same bind. The channel is
//!   down (skipped by routes) while no bind is up. `ESME_ROK` → accepted with the carrier's id;
//!   an error status → refused with it; `ESME_RTHROTTLED` also pauses the whole channel for a
//!   moment; never written → not sent; written without an answer (timeout, the link died) →
//!   outcome unknown, never resent here.
//! - **Receipts** (`deliver_sm` with a receipt `esm_class`): the carrier's id, from
//!   `receipted_message_id` or the text, is keyed per `receipt_ids` and looked up in the store;
//!   the ids in the TLV and the text are rewritten to the router's id; the receipt is kept in the
//!   outbox durably and only then answered `ESME_ROK`, so a carrier resends what the router did
//!   not keep (at-least-once). A receipt for an unknown id is answered and logged.
//! - **MO** (other `deliver_sm`): handed to the account that `mo` maps its destination to (longest
//!   prefix), through the outbox like a receipt; answered and logged when no account claims it.

mod in_flight;
mod settings;

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

pub use settings::{BindStyle, Settings};

use crate::channels::counters;
use crate::channels::leases::{BindLeases, Renewed};
use crate::channels::{
    Attempt, AttemptFuture, Channel, ChannelContext, ChannelKind, Message, SetupError, StopFuture,
};
use crate::delivery::{ChannelReceipt, Delivery, Relayed, Resender};
use crate::esme::{self, EsmeEvent, EsmeHandle, InboundRequest, TlsClientSettings};
use crate::log_every::LogEvery;
use crate::smpp::pdu::{Pdu, Sm};
use crate::smpp::receipt;
use crate::smpp::session::BindMode;
use crate::smpp::tlv::tag;
use crate::smpp::values::{interface_version, ton};
use crate::smpp::{CommandId, CommandStatus};
use in_flight::InFlight;

/// How long `ESME_RTHROTTLED` pauses the channel.
const THROTTLE_PAUSE: Duration = Duration::from_millis(200);
/// How long a receipt whose message is not found waits at most for the submits that were under
/// way when it came (see [`in_flight`]): a receipt can overtake the handling of its own
/// `submit_sm_resp`.
const RACE_LIMIT: Duration = Duration::from_millis(1300);

/// How long after a submit's answer its record may take to reach the store's memory (the same
/// step of the routing task: microseconds; a thousandfold margin).
const RECORD_AFTER_ANSWER: Duration = Duration::from_millis(2);

/// `kind = "smpp"`: a carrier reached as an SMPP client (settings: [`Settings`]).
pub struct Kind;

impl ChannelKind for Kind {
    fn name(&self) -> &'static str {
        "smpp"
    }

    /// Validates the settings without connecting.
    fn check(&self, settings: &toml::Table) -> Result<(), SetupError> {
        Settings::parse(settings).map(|_| ())
    }

    fn start(
        &self,
        name: &str,
        settings: &toml::Table,
        ctx: &ChannelContext,
    ) -> Result<Arc<dyn Channel>, SetupError> {
        Ok(Arc::new(start(name, Settings::parse(settings)?, ctx)?))
    }
}

/// Builds the channel and starts its binds.
pub fn start(
    name: &str,
    settings: Settings,
    ctx: &ChannelContext,
) -> Result<SmppChannel, SetupError> {
    let ChannelContext {
        delivery,
        metrics,
        shards,
        leases,
        ..
    } = ctx.clone();
    let tls = match &settings.tls {
        None => None,
        Some(t) => {
            let base = if t.insecure {
                TlsClientSettings::insecure()
            } else {
                TlsClientSettings::with_ca_file(&t.ca_file)
            }
            .map_err(|e| SetupError::invalid("tls", e))?;
            Some(match &t.server_name {
                Some(n) => base
                    .with_server_name(n)
                    .map_err(|e| SetupError::invalid("tls", e))?,
                None => base,
            })
        }
    };
    tokio::runtime::Handle::try_current().map_err(|_| SetupError::NoRuntime { kind: "smpp" })?;
    let (stop, stopped) = watch::channel(false);
    // Each bind task holds a sender: the receiver ends once every one of them has.
    let (alive, done) = mpsc::channel::<()>(1);
    let inner = Arc::new(Inner {
        name: name.to_string(),
        slots: (0..settings.binds).map(|_| Mutex::new(None)).collect(),
        rr: AtomicUsize::new(0),
        paused_until_ms: AtomicU64::new(0),
        epoch: Instant::now(),
        next_slot_at: Mutex::new(Instant::now()),
        tls,
        first_shard: shards.deal(settings.binds),
        shard_count: shards.count(),
        settings,
        delivery,
        metrics,
        refused_log: LogEvery::new(Duration::from_secs(10)),
        in_flight: InFlight::new(shards.count()),
        unknown_log: LogEvery::new(Duration::from_secs(10)),
        leases,
        places_held: AtomicUsize::new(0),
    });
    for slot in 0..inner.settings.binds {
        let modes: &[BindMode] = match inner.settings.style {
            BindStyle::Trx => &[BindMode::Transceiver],
            BindStyle::TxRx => &[BindMode::Transmitter, BindMode::Receiver],
        };
        for &mode in modes {
            // Bind `slot` lives on shard `first_shard + slot` (modulo their count): see `pick`.
            shards.spawn_on(
                inner.first_shard.wrapping_add(slot),
                keep_bound(inner.clone(), slot, mode, stopped.clone(), alive.clone()),
            );
        }
    }
    Ok(SmppChannel {
        inner,
        stop,
        done: Mutex::new(Some(done)),
    })
}

/// A running carrier channel; dropping the last reference unbinds its sessions.
pub struct SmppChannel {
    inner: Arc<Inner>,
    stop: watch::Sender<bool>,
    /// Ends once every bind task has (see [`Channel::stop`]).
    done: Mutex<Option<mpsc::Receiver<()>>>,
}

impl Drop for SmppChannel {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

struct Inner {
    name: String,
    settings: Settings,
    tls: Option<TlsClientSettings>,
    /// The transmitting session of each bind, when up.
    slots: Vec<Mutex<Option<EsmeHandle>>>,
    rr: AtomicUsize,
    paused_until_ms: AtomicU64,
    epoch: Instant,
    /// The TPS limit: the earliest time the next submit may go.
    next_slot_at: Mutex<Instant>,
    delivery: Arc<dyn Delivery>,
    /// Bind slot `s` runs on shard `first_shard + s` (modulo their count).
    first_shard: usize,
    /// How many data-path threads the router runs (0 without).
    shard_count: usize,
    /// The router's counters.
    metrics: Arc<crate::metrics::Metrics>,
    /// Requests the carrier sent on a bind that may not carry them: logged at most this often.
    refused_log: LogEvery,
    /// Submits under way, for receipts that overtake their message's record.
    in_flight: InFlight,
    /// Receipts for unknown messages: logged at most this often.
    unknown_log: LogEvery,
    /// In cluster mode, the places of the channel's binds in the whole cluster.
    leases: Option<Arc<dyn BindLeases>>,
    /// In cluster mode, the places this instance holds for binds that submit: its share of
    /// the channel's `tps` is `tps × held / binds`.
    places_held: AtomicUsize,
}

impl Channel for SmppChannel {
    fn name(&self) -> &str {
        &self.inner.name
    }

    fn is_up(&self) -> bool {
        self.inner.slots.iter().any(|s| {
            s.lock()
                .map(|h| h.as_ref().is_some_and(|h| !h.is_closed()))
                .unwrap_or(false)
        })
    }

    fn submit(&self, message: &Message) -> AttemptFuture {
        let inner = self.inner.clone();
        let sm = inner.outgoing(&message.sm);
        let pin = concat_key(&message.sm);
        let id = message.id.clone();
        Box::pin(async move { inner.send(sm, pin, &id).await })
    }

    fn stop(&self) -> StopFuture {
        let _ = self.stop.send(true);
        let done = self.done.lock().ok().and_then(|mut d| d.take());
        Box::pin(async move {
            if let Some(mut done) = done {
                while done.recv().await.is_some() {}
            }
        })
    }
}

impl Inner {
    /// The carrier sent a request that the bind it came on may not carry (SMPP: receipts only on
    /// receiver and transceiver binds); the session answered it `status`. Counted, and logged at
    /// most every 10 s, since the carrier will not resend it to another bind by itself.
    fn refused(&self, slot: usize, mode: BindMode, command_id: CommandId, status: CommandStatus) {
        let command = command_id.name().unwrap_or("other");
        self.metrics
            .add(&counters::REQUESTS_REFUSED, &[&self.name, command], 1);
        if let Some(held_back) = self.refused_log.allow(std::time::Instant::now()) {
            let hint = if matches!(command_id, CommandId::DELIVER_SM | CommandId::DATA_SM) {
                "; if this carrier sends receipts on any bind, set receipts_on_any_bind = true on the channel"
            } else {
                ""
            };
            tracing::warn!(channel = %self.name, slot, ?mode, command, %status, also_since_last_line = held_back, "the carrier sent a request this bind may not carry; it was refused{hint}");
        }
    }

    /// The `submit_sm` as the carrier gets it: the client's, with the source rewritten if set.
    fn outgoing(&self, sm: &Sm) -> Sm {
        let mut sm = sm.clone();
        if let Some(source) = &self.settings.source {
            sm.source.addr = source.as_str().into();
        }
        if let Some((t, n)) = self.settings.source_ton_npi
            && sm.source.ton != ton::ALPHANUMERIC
        {
            sm.source.ton = t;
            sm.source.npi = n;
        }
        sm
    }

    fn pick(&self, pin: Option<u64>) -> Option<EsmeHandle> {
        let n = self.slots.len();
        if pin.is_none()
            && let Some(handle) = self.pick_on_this_shard()
        {
            return Some(handle);
        }
        let start = match pin {
            Some(k) => k as usize % n,
            None => self.rr.fetch_add(1, Ordering::Relaxed) % n,
        };
        (0..n).find_map(|i| {
            let slot = self.slots.get((start + i) % n)?;
            slot.lock()
                .ok()?
                .as_ref()
                .filter(|h| !h.is_closed())
                .cloned()
        })
    }

    /// A bind on the caller's shard that is up and has room in its window, in turn: the
    /// message's work stays on this core. None when the shard has no such bind (a busy client
    /// then spreads over every bind, as without shards).
    fn pick_on_this_shard(&self) -> Option<EsmeHandle> {
        let shards = self.shard_count;
        let here = crate::shards::current()?;
        if shards < 2 {
            return None;
        }
        let turn = crate::shards::turn();
        // The slots here are those of shard `here - first_shard` if the channel started at 0.
        let relative = (here + shards - self.first_shard % shards) % shards;
        slots_on_shard(relative, shards, self.slots.len(), turn).find_map(|slot| {
            self.slots
                .get(slot)?
                .lock()
                .ok()?
                .as_ref()
                .filter(|h| !h.is_closed() && h.available() > 0)
                .cloned()
        })
    }

    /// Waits for the channel's pace: the TPS limit and a throttling pause.
    async fn pace(&self) {
        let paused = self.paused_until_ms.load(Ordering::Relaxed);
        if paused > 0 {
            tokio::time::sleep_until(self.epoch + Duration::from_millis(paused)).await;
        }
        if self.settings.tps == 0 {
            return;
        }
        let tps = match &self.leases {
            None => self.settings.tps,
            // In a cluster, this instance's share: as many parts of the channel's `tps` as it
            // holds of its binds, so that all instances together stay within it.
            Some(_) => {
                let held = self.places_held.load(Ordering::Relaxed) as u64;
                let binds = (self.settings.binds as u64).max(1);
                (u64::from(self.settings.tps) * held / binds).clamp(1, u64::from(u32::MAX)) as u32
            }
        };
        let gap = Duration::from_secs(1) / tps;
        let at = {
            let Ok(mut next) = self.next_slot_at.lock() else {
                return;
            };
            let now = Instant::now();
            // Allow a burst of up to a tenth of a second's worth.
            let at = (*next).max(now - Duration::from_millis(100).min(now - self.epoch));
            *next = at + gap;
            at
        };
        tokio::time::sleep_until(at).await;
    }

    async fn send(&self, sm: Sm, pin: Option<u64>, id: &str) -> Attempt {
        // For the logs only, masked when one is written (not formatted per message).
        let to = sm.dest.addr.clone();
        let to = crate::phone::Masked(&to);
        self.pace().await;
        let Some(handle) = self.pick(pin) else {
            tracing::warn!(channel = %self.name, %id, %to, "no bind is up; not sent");
            return Attempt::NotSent;
        };
        // A v3.3 carrier gets no TLVs: the payload and SAR move into the fields first.
        let mut sm = sm;
        if handle.info().interface_version < interface_version::V34
            && let Err(e) = crate::smpp::downgrade::to_v33(&mut sm)
        {
            tracing::warn!(channel = %self.name, %id, error = %e, "refused: the carrier speaks SMPP 3.3");
            return Attempt::Refused(CommandStatus::RINVMSGLEN);
        }
        let _under_way = self.in_flight.start();
        match handle.submit(Pdu::SubmitSm(sm)).await {
            Ok(resp) if resp.status.is_ok() => match resp.pdu {
                Pdu::SubmitSmResp(r) => {
                    let carrier_id = String::from_utf8_lossy(&r.message_id).into_owned();
                    tracing::debug!(channel = %self.name, %id, %to, "accepted by the carrier");
                    Attempt::Accepted {
                        channel_id: self.settings.id_match.resp_key(&carrier_id),
                        final_state: None,
                    }
                }
                _ => {
                    tracing::warn!(channel = %self.name, %id, "the carrier answered with another PDU; outcome unknown");
                    Attempt::Unknown
                }
            },
            Ok(resp) => {
                if resp.status == CommandStatus::RTHROTTLED {
                    let until = self.epoch.elapsed() + THROTTLE_PAUSE;
                    self.paused_until_ms
                        .store(until.as_millis() as u64, Ordering::Relaxed);
                    tracing::info!(channel = %self.name, pause_ms = THROTTLE_PAUSE.as_millis() as u64, "the carrier throttles; pausing the channel");
                }
                tracing::debug!(channel = %self.name, %id, %to, status = %resp.status, "refused by the carrier");
                Attempt::Refused(resp.status)
            }
            Err(e) if e.written() => {
                tracing::warn!(channel = %self.name, %id, %to, error = %e, "outcome unknown; not resending");
                Attempt::Unknown
            }
            Err(e) => {
                tracing::warn!(channel = %self.name, %id, %to, error = %e, "not sent");
                Attempt::NotSent
            }
        }
    }

    /// Handles one request from the carrier.
    async fn on_request(self: Arc<Self>, req: InboundRequest) {
        let InboundRequest { command, reply } = req;
        let sm = match command.pdu {
            Pdu::DeliverSm(sm) => sm,
            // Some carriers send receipts and MO as data_sm: the same handling, answered with
            // data_sm_resp.
            Pdu::DataSm(d) => d.into_sm(),
            other => {
                tracing::info!(channel = %self.name, command = ?other.command_id(), "request from the carrier answered and ignored");
                let _ = reply.ack(CommandStatus::ROK).await;
                return;
            }
        };
        let relayed = if sm.esm_class.is_receipt() {
            self.relay_receipt(sm).await
        } else {
            self.relay_mo(sm).await
        };
        let status = match relayed {
            Ok(()) => {
                self.metrics.add(&counters::RECEIPTS, &[&self.name], 1);
                CommandStatus::ROK
            }
            Err(status) => status,
        };
        let _ = reply.ack(status).await;
    }

    /// Hands a mobile-originated message to the account its destination belongs to.
    async fn relay_mo(&self, sm: Sm) -> Result<(), CommandStatus> {
        let from = crate::phone::Masked(&sm.source.addr).to_string();
        let Some(account) = self.settings.mo_account(&sm.dest.addr).map(str::to_string) else {
            tracing::info!(channel = %self.name, %from, "mobile-originated message for no account; answered and dropped");
            return Ok(());
        };
        let kept = self.delivery.push(&account, sm, Resender::Channel);
        kept.await.map_err(|e| {
            tracing::error!(channel = %self.name, error = %e, "store: cannot keep an MO message; the carrier will resend");
            CommandStatus::RX_T_APPN
        })?;
        tracing::debug!(channel = %self.name, %from, %account, "MO message kept for the client");
        Ok(())
    }

    /// Maps a carrier receipt to its message and keeps it for the client; the error is the
    /// status to answer the carrier with.
    async fn relay_receipt(&self, sm: Sm) -> Result<(), CommandStatus> {
        // The text is in short_message, or in message_payload when short_message is empty.
        let text = String::from_utf8_lossy(sm.payload()).into_owned();
        let carrier_id = sm
            .tlvs
            .receipted_message_id()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .or_else(|| receipt::parse(&text).id.map(str::to_string));
        let Some(carrier_id) = carrier_id else {
            tracing::warn!(channel = %self.name, "a receipt without a message id was answered and dropped");
            return Ok(());
        };
        let key = self.settings.id_match.dlr_key(&carrier_id);
        let failed = |e: crate::store::StoreError| {
            tracing::error!(channel = %self.name, error = %e, "store: receipt lookup failed; the carrier will resend");
            CommandStatus::RX_T_APPN
        };
        // Here first: most receipts follow a message this instance sent (in a cluster, the
        // other instances are asked only after the wait below).
        let local = self.delivery.store().lookup(&self.name, &key);
        let mut record = local.map_err(failed)?;
        if record.is_none() {
            // Its submit_sm_resp may still be in hand: once the submits under way now are
            // done, their records are in the store (in memory at once, durable at the flush).
            // A submit is done when its answer is in; the router records it right after, in
            // the same step of its task — microseconds, waited out with a wide margin here.
            self.in_flight.settle(RACE_LIMIT).await;
            tokio::time::sleep(RECORD_AFTER_ANSWER).await;
            let _ = self.delivery.store().flush().await;
            record = self
                .delivery
                .lookup(&self.name, &key)
                .await
                .map_err(failed)?;
        }
        let Some(record) = record else {
            self.metrics
                .add(&counters::RECEIPTS_UNKNOWN, &[&self.name], 1);
            if let Some(also) = self.unknown_log.allow(std::time::Instant::now()) {
                tracing::warn!(channel = %self.name, carrier_id = %key, also_since_last_line = also, "a receipt for an unknown message was answered and dropped");
            }
            return Ok(());
        };
        let state = crate::delivery::resends::state_of(&sm, &text);
        let err = receipt::parse(&text).err.unwrap_or_default();
        crate::delivery::relay::note_receipt(
            &**self.delivery.store(),
            &record,
            state,
            err,
            &self.name,
        );
        let out = with_router_id(sm, &record.router_id);
        // The record stays readable for the log lines (an Arc, not a copy of the id).
        let logged = record.clone();
        let relayed = self.delivery.relay(ChannelReceipt {
            record,
            state,
            sm: out,
            resender: Resender::Channel,
        });
        match relayed.await {
            Relayed::Kept => {
                tracing::debug!(channel = %self.name, id = %logged.router_id, "receipt kept for the client");
                Ok(())
            }
            Relayed::AlreadyHandedOn => {
                tracing::debug!(channel = %self.name, id = %logged.router_id, "the carrier sent a receipt again; answered, not delivered twice");
                Ok(())
            }
            Relayed::InProgress => {
                tracing::debug!(channel = %self.name, id = %logged.router_id, "a copy of this receipt is being handed on; the carrier will resend");
                Err(CommandStatus::RX_T_APPN)
            }
            Relayed::Failed(e) => {
                tracing::error!(channel = %self.name, error = %e, "store: cannot keep a receipt; the carrier will resend");
                Err(CommandStatus::RX_T_APPN)
            }
        }
    }
}

/// A carrier's receipt as the client gets it: the router's id in `receipted_message_id` (when
/// the carrier gave one) and in the receipt text.
fn with_router_id(mut sm: Sm, router_id: &str) -> Sm {
    let mut tlvs = sm.tlvs.to_builder();
    if sm.tlvs.receipted_message_id().is_some() {
        let mut v = router_id.as_bytes().to_vec();
        v.push(0);
        tlvs.set(tag::RECEIPTED_MESSAGE_ID, &v);
    }
    match receipt::rewrite_id(sm.payload(), router_id) {
        Some(text) if sm.short_message.is_empty() => {
            tlvs.set(tag::MESSAGE_PAYLOAD, &text);
        }
        Some(text) => sm.short_message = text.into(),
        None => {}
    }
    sm.tlvs = tlvs.build();
    sm
}

/// Keeps one session of bind `slot` up until the channel stops.
async fn keep_bound(
    inner: Arc<Inner>,
    slot: usize,
    mode: BindMode,
    mut stop: watch::Receiver<bool>,
    alive: mpsc::Sender<()>,
) {
    let s = &inner.settings;
    let mut backoff = s.reconnect_min;
    loop {
        if *stop.borrow() {
            return;
        }
        // In a cluster, a place among the channel's binds first (see `channels::leases`).
        let place = match &inner.leases {
            None => None,
            Some(leases) => {
                let taken = tokio::select! {
                    p = leases.take(&inner.name, mode.as_str(), s.binds) => p,
                    _ = stop.changed() => return,
                };
                if taken.is_none() {
                    tokio::select! {
                        _ = tokio::time::sleep(leases.every()) => {}
                        _ = stop.changed() => return,
                    }
                    continue;
                }
                if mode.can_submit() {
                    inner.places_held.fetch_add(1, Ordering::Relaxed);
                }
                taken
            }
        };
        let every = inner
            .leases
            .as_ref()
            .map_or(Duration::from_secs(3600), |l| l.every());
        let mut renewals = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        let connected = tokio::select! {
            r = esme::connect(&s.addr, inner.tls.clone(), mode, s.bind.clone(), s.session.clone()) => r,
            _ = stop.changed() => {
                release(&inner, mode, place).await;
                return;
            }
        };
        match connected {
            Ok((handle, mut events)) => {
                tracing::info!(channel = %inner.name, slot, ?mode, "bound to the carrier");
                backoff = s.reconnect_min;
                if mode.can_submit()
                    && let Some(cell) = inner.slots.get(slot)
                    && let Ok(mut cell) = cell.lock()
                {
                    *cell = Some(handle.clone());
                }
                // The carrier's requests (receipts, MO) are handled here, many at once, rather
                // than on a task each.
                let mut handling = FuturesUnordered::new();
                let end = loop {
                    tokio::select! {
                        Some(()) = handling.next(), if !handling.is_empty() => {}
                        ev = events.recv() => match ev {
                            Some(EsmeEvent::Request(req)) => {
                                handling.push(handle_request(inner.clone(), req));
                            }
                            Some(EsmeEvent::Refused { command_id, status }) => {
                                inner.refused(slot, mode, command_id, status);
                            }
                            Some(EsmeEvent::Closed(why)) => {
                                tracing::warn!(channel = %inner.name, slot, ?mode, reason = ?why, "carrier session closed; rebinding");
                                break End::Closed;
                            }
                            None => break End::Closed,
                        },
                        _ = stop.changed() => break End::Stop,
                        _ = renewals.tick(), if place.is_some() => {
                            if let (Some(leases), Some(p)) = (&inner.leases, place)
                                && leases.renew(&inner.name, mode.as_str(), p, s.binds).await == Renewed::Lost
                            {
                                tracing::warn!(channel = %inner.name, slot, ?mode, place = p, "another instance holds this bind's place now; unbinding");
                                break End::Lost;
                            }
                        }
                    }
                };
                // Requests still in hand finish on their own: a receipt being stored is kept
                // (its answer may no longer reach the carrier, which then resends it).
                if !handling.is_empty() {
                    let alive = alive.clone();
                    tokio::spawn(async move {
                        let _alive = alive;
                        while handling.next().await.is_some() {}
                    });
                }
                if mode.can_submit()
                    && let Some(cell) = inner.slots.get(slot)
                    && let Ok(mut cell) = cell.lock()
                {
                    *cell = None;
                }
                if end != End::Closed {
                    handle.unbind().await;
                }
                if end == End::Stop {
                    release(&inner, mode, place).await;
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(channel = %inner.name, slot, ?mode, error = %e, retry_in_ms = backoff.as_millis() as u64, "cannot bind to the carrier");
            }
        }
        release(&inner, mode, place).await;
        let jitter = rand::random_range(0.5..1.0);
        tokio::select! {
            _ = tokio::time::sleep(backoff.mul_f64(jitter)) => {}
            _ = stop.changed() => return,
        }
        backoff = (backoff * 2).min(s.reconnect_max);
    }
}

/// Why a bind's session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// The channel stops.
    Stop,
    /// The session closed (the carrier, the network).
    Closed,
    /// Another instance took the bind's place in the cluster.
    Lost,
}

/// Gives a bind's place in the cluster back, if it held one.
async fn release(inner: &Inner, mode: BindMode, place: Option<usize>) {
    if let (Some(leases), Some(p)) = (&inner.leases, place) {
        if mode.can_submit() {
            inner.places_held.fetch_sub(1, Ordering::Relaxed);
        }
        leases.release(&inner.name, mode.as_str(), p).await;
    }
}

/// The bind slots on shard `here` of `shards` (slot `i` runs on shard `i % shards`) among `n`,
/// starting with the `turn`-th of them.
fn slots_on_shard(
    here: usize,
    shards: usize,
    n: usize,
    turn: usize,
) -> impl Iterator<Item = usize> {
    let local = if here < shards {
        n.saturating_sub(here).div_ceil(shards)
    } else {
        0
    };
    (0..local).map(move |k| here + (turn + k) % local * shards)
}

/// Handles one request from the carrier; a panic fails that request only (answered
/// `ESME_RX_T_APPN`, so the carrier resends it), not the bind.
async fn handle_request(inner: Arc<Inner>, req: InboundRequest) {
    let handled = AssertUnwindSafe(inner.clone().on_request(req))
        .catch_unwind()
        .await;
    if handled.is_err() {
        tracing::error!(channel = %inner.name, "a request from the carrier failed unexpectedly; answered ESME_RX_T_APPN");
    }
}

/// A key that keeps the parts of one concatenated message on one bind: the destination and the
/// concatenation reference (UDH IE 0x00 or 0x08, or the SAR TLVs).
fn concat_key(sm: &Sm) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let part = crate::smpp::concat::part_of(sm)?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    sm.dest.addr.hash(&mut h);
    part.reference.hash(&mut h);
    Some(h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smpp::pdu::Address;
    use crate::smpp::tlv::TlvsBuilder;
    use crate::smpp::values::EsmClass;

    fn part(dest: &str, udh: &[u8], text: &str) -> Sm {
        let mut payload = udh.to_vec();
        payload.extend_from_slice(text.as_bytes());
        Sm {
            dest: Address::new(1, 1, dest),
            esm_class: EsmClass(0x40),
            short_message: payload.into(),
            ..Sm::default()
        }
    }

    #[test]
    fn slots_on_a_shard_in_turn() {
        let on = |here, shards, n, turn| slots_on_shard(here, shards, n, turn).collect::<Vec<_>>();
        assert_eq!(on(0, 2, 4, 0), [0, 2]);
        assert_eq!(on(0, 2, 4, 1), [2, 0]);
        assert_eq!(on(1, 2, 4, 0), [1, 3]);
        assert_eq!(on(1, 2, 5, 3), [3, 1]);
        assert_eq!(on(0, 2, 5, 0), [0, 2, 4]);
        assert_eq!(
            on(2, 3, 2, 0),
            Vec::<usize>::new(),
            "fewer binds than shards"
        );
        assert_eq!(on(1, 3, 2, 7), [1]);
        assert_eq!(on(3, 2, 8, 0), Vec::<usize>::new(), "not a shard");
        // Every slot is on exactly one shard.
        for shards in 1..5 {
            for n in 0..9 {
                let mut all: Vec<_> = (0..shards).flat_map(|h| on(h, shards, n, 5)).collect();
                all.sort();
                assert_eq!(all, (0..n).collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn parts_of_one_message_share_a_bind_key() {
        // 8-bit reference 0x2A, parts 1 and 2 of 2; then a 16-bit reference.
        let a1 = part("14155551234", &[5, 0x00, 3, 0x2A, 2, 1], "first half ");
        let a2 = part("14155551234", &[5, 0x00, 3, 0x2A, 2, 2], "second half");
        let b1 = part("14155551234", &[6, 0x08, 4, 0x01, 0x2B, 2, 1], "other");
        let other_dest = part("447911123456", &[5, 0x00, 3, 0x2A, 2, 1], "x");
        let (ka1, ka2) = (concat_key(&a1), concat_key(&a2));
        assert!(ka1.is_some());
        assert_eq!(ka1, ka2);
        assert_ne!(ka1, concat_key(&b1));
        assert_ne!(ka1, concat_key(&other_dest));
        // SAR TLVs.
        let mut s1 = Sm {
            dest: Address::new(1, 1, "14155551234"),
            ..Sm::default()
        };
        let mut s2 = s1.clone();
        s1.tlvs = TlvsBuilder::new()
            .push_u16(tag::SAR_MSG_REF_NUM, 7)
            .push_u8(tag::SAR_TOTAL_SEGMENTS, 2)
            .push_u8(tag::SAR_SEGMENT_SEQNUM, 1)
            .build();
        s2.tlvs = TlvsBuilder::new()
            .push_u16(tag::SAR_MSG_REF_NUM, 7)
            .push_u8(tag::SAR_TOTAL_SEGMENTS, 2)
            .push_u8(tag::SAR_SEGMENT_SEQNUM, 2)
            .build();
        assert!(concat_key(&s1).is_some());
        assert_eq!(concat_key(&s1), concat_key(&s2));
        // A plain message has no key (round-robin), and a malformed UDH never panics.
        assert_eq!(concat_key(&Sm::default()), None);
        assert_eq!(concat_key(&part("1", &[200, 0x00], "")), None);
    }
}
