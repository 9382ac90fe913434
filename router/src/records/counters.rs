//! What the record pipeline counts.

use crate::metrics::{Family, Kind};
use crate::store::Store;

/// Delivery records written, by sink.
pub static WRITTEN: Family = Family {
    name: "smpp_router_records_written_total",
    help: "Delivery records written, by sink (file, postgres).",
    kind: Kind::Counter,
    labels: &["sink"],
};

/// Failed writes, by sink.
pub static FAILED: Family = Family {
    name: "smpp_router_records_write_failures_total",
    help: "Writes of a batch of delivery records that failed, by sink (the batch stays in the spool and is written again).",
    kind: Kind::Counter,
    labels: &["sink"],
};

/// Records a sink refused on their own and skipped.
pub static REJECTED: Family = Family {
    name: "smpp_router_records_rejected_total",
    help: "Delivery records a sink refused on their own (PostgreSQL: a data error) and skipped; the rest of their batch was written.",
    kind: Kind::Counter,
    labels: &["sink"],
};

pub static FAMILIES: &[&Family] = &[&WRITTEN, &FAILED, &REJECTED];

static SPOOLED: Family = Family {
    name: "smpp_router_records_spooled",
    help: "Finished messages in the store's spool whose delivery records not every sink has written yet.",
    kind: Kind::Gauge,
    labels: &[],
};

static DROPPED: Family = Family {
    name: "smpp_router_records_dropped_total",
    help: "Finished messages whose delivery record was not kept because the spool was full (10 million waiting).",
    kind: Kind::Counter,
    labels: &[],
};

/// Writes the spool's figures (at scrape time).
pub fn write_metrics(store: &dyn Store, out: &mut String) {
    let stats = store.stats();
    let none: [&str; 0] = [];
    SPOOLED.write(out, [(none, stats.spooled)]);
    DROPPED.write(out, [(none, stats.spool_dropped)]);
}
