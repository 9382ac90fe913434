//! The return path of a cluster instance: [`ClusterDelivery`] is the [`Delivery`] the channels,
//! the router and the server use when `[cluster]` is set. It hands a receipt to a session of
//! its account here when there is one (through the local outbox, as a single router does), and
//! otherwise adds it to the account's stream in Redis, where an instance with a session reads
//! it ([`super::receiver`]).

use std::sync::Arc;
use std::time::Duration;

use crate::delivery::outbox::{Outbox, encode};
use crate::delivery::receipts::unix_now;
use crate::delivery::registry::Registry;
use crate::delivery::{
    ChannelReceipt, Delivery, DeliveryFuture, Relayed, Resender, answers::AnswerGate,
};
use crate::smpp::pdu::Sm;
use crate::store::{MessageRecord, Store, StoreError};

use super::Cluster;

/// The waits before each look in Redis for a receipt's message not found here: its record may
/// still be on its way from the instance that accepted it (its carrier answered a moment ago,
/// its pipeline to Redis is behind) — 1.25 s in all before it is unknown.
const PUBLISH_RACE: [Duration; 3] = [
    Duration::ZERO,
    Duration::from_millis(250),
    Duration::from_millis(1000),
];

/// How often receipts kept here for accounts bound elsewhere are handed over to the cluster.
const HAND_OVER_EVERY: Duration = Duration::from_secs(1);

/// The cluster's return path (see the module's documentation).
pub struct ClusterDelivery {
    /// This instance's outbox: its store, its sessions.
    local: Arc<Outbox>,
    registry: Arc<Registry>,
    cluster: Arc<Cluster>,
    ttl: Duration,
}

impl ClusterDelivery {
    /// The return path over `local` (this instance's outbox and `registry`) and `cluster`;
    /// receipts handed to the cluster expire after `ttl`.
    pub fn new(
        local: Arc<Outbox>,
        registry: Arc<Registry>,
        cluster: Arc<Cluster>,
        ttl: Duration,
    ) -> Arc<Self> {
        Arc::new(Self {
            local,
            registry,
            cluster,
            ttl,
        })
    }

    /// Hands `sm` to `account`: to a session here when there is one, else to the account's
    /// stream; while Redis cannot take it, it is kept in the local store (handed over later).
    async fn push_any(
        &self,
        account: &str,
        sm: Sm,
        resender: Resender,
        router_id: Option<&str>,
    ) -> Result<(), StoreError> {
        if !self.registry.can_receive(account) && self.cluster.up() {
            let Some(pdu) = encode(&sm) else {
                tracing::error!(%account, "a deliver_sm that cannot be re-encoded was dropped");
                return Ok(());
            };
            let expires = unix_now() + self.ttl.as_secs();
            if self
                .cluster
                .hand_off(account, &[(pdu, expires, router_id)])
                .await
                .is_ok()
            {
                return Ok(());
            }
        }
        Delivery::push(&*self.local, account, sm, resender).await
    }
}

impl Delivery for ClusterDelivery {
    fn push<'a>(
        &'a self,
        account: &'a str,
        sm: Sm,
        resender: Resender,
    ) -> DeliveryFuture<'a, Result<(), StoreError>> {
        Box::pin(self.push_any(account, sm, resender, None))
    }

    fn keep<'a>(
        &'a self,
        account: &'a str,
        sm: Sm,
        resender: Resender,
    ) -> DeliveryFuture<'a, Result<(), StoreError>> {
        // Refused for now by a client here: kept here; handed over if the client leaves.
        Delivery::keep(&*self.local, account, sm, resender)
    }

    fn relay(&self, receipt: ChannelReceipt) -> DeliveryFuture<'_, Relayed> {
        Box::pin(
            self.local
                .relay_through(receipt, move |record, sm, resender| async move {
                    let (account, id) = (&record.account, Some(record.router_id.as_str()));
                    self.push_any(account, sm, resender, id).await
                }),
        )
    }

    fn answers(&self) -> &AnswerGate {
        self.local.answers()
    }

    fn store(&self) -> &Arc<dyn Store> {
        self.local.store()
    }

    fn record(&self, rec: MessageRecord) -> DeliveryFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let published = self.cluster.publish(&rec);
            let kept = self.local.store().record(rec.clone());
            let (_, kept) = tokio::join!(published, kept);
            kept
        })
    }

    fn lookup<'a>(
        &'a self,
        channel: &'a str,
        channel_id: &'a str,
    ) -> DeliveryFuture<'a, Result<Option<Arc<MessageRecord>>, StoreError>> {
        Box::pin(async move {
            if let Some(rec) = self.local.store().lookup(channel, channel_id)? {
                return Ok(Some(rec));
            }
            for wait in PUBLISH_RACE {
                tokio::time::sleep(wait).await;
                match self.cluster.find(channel, channel_id).await {
                    Ok(Some(rec)) => return Ok(Some(Arc::new(rec))),
                    Ok(None) => {}
                    Err(e) => {
                        // Redis is away: the receipt cannot be matched now; its carrier resends.
                        return Err(StoreError::Unavailable(format!("cluster: {e}")));
                    }
                }
            }
            if self.cluster.unsure() {
                return Err(StoreError::Unavailable(
                    "cluster: Redis was unavailable a moment ago; the message's record may not be published yet".into(),
                ));
            }
            Ok(None)
        })
    }
}

/// Every second while Redis answers: the records held while it was away are published, and
/// the receipts this instance kept for accounts with no session here (Redis was away, or the
/// client left) go to the accounts' streams.
pub fn spawn_hand_over(local: &Arc<Outbox>, cluster: &Arc<Cluster>) {
    let (local, cluster) = (Arc::downgrade(local), Arc::downgrade(cluster));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(HAND_OVER_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let (Some(local), Some(cluster)) = (local.upgrade(), cluster.upgrade()) else {
                return;
            };
            // While Redis is away nothing else may ask it (new records are held without
            // trying): a ping each second notices it is back.
            if !cluster.up() && !cluster.ping().await {
                continue;
            }
            cluster.publish_held().await;
            for account in local.waiting_elsewhere() {
                let send = |batch: Vec<crate::store::PendingDelivery>| {
                    let cluster = cluster.clone();
                    let account = account.clone();
                    async move {
                        let items: Vec<_> = batch
                            .into_iter()
                            .map(|i| (i.pdu, i.expires, None))
                            .collect();
                        cluster.hand_off(&account, &items).await.is_ok()
                    }
                };
                local.hand_over(&account, send).await;
            }
        }
    });
}
