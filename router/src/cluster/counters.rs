//! What cluster mode counts.

use crate::metrics::{Family, Kind};

/// Failed Redis commands (unreachable, timed out, connection dropped).
pub static REDIS_ERRORS: Family = Family {
    name: "smpp_router_cluster_redis_errors_total",
    help: "Redis commands that failed (unreachable, timed out, connection dropped).",
    kind: Kind::Counter,
    labels: &[],
};

/// Receipts through the cluster's streams, by what happened.
pub static RECEIPTS: Family = Family {
    name: "smpp_router_cluster_receipts_total",
    help: "Receipts and MO through the cluster: handed_off (added to the account's stream for an instance with a session), delivered (read from the stream and acknowledged by a client here), claimed (taken over from an instance that did not acknowledge them in cluster.claim_after), expired (older than store.receipt_ttl), refused (the client refused it for good), or unreadable.",
    kind: Kind::Counter,
    labels: &["what"],
};

/// Message records published for the other instances.
pub static RECORDS: Family = Family {
    name: "smpp_router_cluster_records_total",
    help: "Message records not published at once: held (Redis unavailable; kept in memory), published_late (once Redis was back), dropped (more held than the limit).",
    kind: Kind::Counter,
    labels: &["what"],
};

static REDIS_UP: Family = Family {
    name: "smpp_router_cluster_redis_up",
    help: "1 while the cluster's Redis answers, 0 while it is unavailable (receipts for accounts bound elsewhere wait in the local store).",
    kind: Kind::Gauge,
    labels: &[],
};

static INSTANCES: Family = Family {
    name: "smpp_router_cluster_instances",
    help: "The cluster's instances alive at the last look (this one included).",
    kind: Kind::Gauge,
    labels: &[],
};

static ROUTES_AGREE: Family = Family {
    name: "smpp_router_cluster_routes_agree",
    help: "1 when every live instance serves the same routes.toml (the same digest), 0 when they differ (GET /cluster shows which).",
    kind: Kind::Gauge,
    labels: &[],
};

impl super::Cluster {
    /// Writes the cluster's gauges (at scrape time).
    pub fn write_metrics(&self, out: &mut String) {
        let none: [&str; 0] = [];
        REDIS_UP.write(out, [(none, u8::from(self.up()))]);
        INSTANCES.write(out, [(none, self.alive_nodes())]);
        let agree = self.routes_agree.load(std::sync::atomic::Ordering::Relaxed);
        ROUTES_AGREE.write(out, [(none, u8::from(agree))]);
    }
}

/// The cluster's families, for the registry.
pub static FAMILIES: &[&Family] = &[&REDIS_ERRORS, &RECEIPTS, &RECORDS];
