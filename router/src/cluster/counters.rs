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

/// The cluster's families, for the registry.
pub static FAMILIES: &[&Family] = &[&REDIS_ERRORS, &RECEIPTS, &RECORDS];
