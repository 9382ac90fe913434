//! What the store shows at scrape time: commits, writes, what waits, whether it can write.

use super::Store;
use crate::metrics::{Family, Kind};

/// `(name, kind, help)` of the store's series, none labelled.
const SERIES: [(&str, Kind, &str); 7] = [
    (
        "smpp_router_store_commits_total",
        Kind::Counter,
        "Durable store commits (fsyncs).",
    ),
    (
        "smpp_router_store_writes_total",
        Kind::Counter,
        "Store writes committed.",
    ),
    (
        "smpp_router_store_queue_depth",
        Kind::Gauge,
        "Receipts and MO waiting in the store for their clients.",
    ),
    (
        "smpp_router_store_backlog",
        Kind::Gauge,
        "Store writes waiting for their commit.",
    ),
    (
        "smpp_router_store_unindexed",
        Kind::Gauge,
        "Message records not yet in the store's carrier-id index (kept in memory meanwhile).",
    ),
    (
        "smpp_router_store_writable",
        Kind::Gauge,
        "1 while the store can write; 0 while it cannot (new messages are refused with ESME_RMSGQFUL until it recovers by itself).",
    ),
    (
        "smpp_router_store_held",
        Kind::Gauge,
        "Store writes held in memory while the store cannot write (records of messages already sent, removals of delivered receipts).",
    ),
];

/// Writes the store's figures.
pub fn write_metrics(store: &dyn Store, out: &mut String) {
    let st = store.stats();
    let health = store.health();
    let values = [
        st.commits,
        st.ops,
        st.queue_depth,
        st.backlog,
        st.unindexed,
        u64::from(health.writable()),
        health.held,
    ];
    for ((name, kind, help), value) in SERIES.into_iter().zip(values) {
        let family = Family {
            name,
            help,
            kind,
            labels: &[],
        };
        family.write(out, [([] as [&str; 0], value)]);
    }
}
