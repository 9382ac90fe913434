//! What the channels count: receipts relayed and unknown, requests refused, and the plugins'
//! health, trouble and metrics of their own.

use crate::metrics::{Family, Kind};

/// Receipts and MO relayed from a channel.
pub static RECEIPTS: Family = Family {
    name: "smpp_router_channel_receipts_total",
    help: "Receipts and MO relayed from each channel's carrier.",
    kind: Kind::Counter,
    labels: &["channel"],
};

/// Receipts for messages the router has no record of.
pub static RECEIPTS_UNKNOWN: Family = Family {
    name: "smpp_router_channel_receipts_unknown_total",
    help: "Receipts from each channel's carrier for messages the router has no record of (answered and dropped: records past retention, a replaced store).",
    kind: Kind::Counter,
    labels: &["channel"],
};

/// Requests from a carrier refused for the bind they came on.
pub static REQUESTS_REFUSED: Family = Family {
    name: "smpp_router_channel_requests_refused_total",
    help: "Requests from a channel's carrier refused for the bind they came on (ESME_RINVBNDSTS), e.g. receipts on a transmitter bind: see receipts_on_any_bind.",
    kind: Kind::Counter,
    labels: &["channel", "command"],
};

/// A plugin's health as last polled.
pub static PLUGIN_UP: Family = Family {
    name: "smpp_router_plugin_up",
    help: "Plugin channels: 1 when the plugin reports itself up, 0 when down or disabled.",
    kind: Kind::Gauge,
    labels: &["channel"],
};

/// Trouble at a plugin's boundary.
pub static PLUGIN_EVENTS: Family = Family {
    name: "smpp_router_plugin_events_total",
    help: "Trouble at a plugin's boundary: panic, timeout, at_capacity, refused_call.",
    kind: Kind::Counter,
    labels: &["channel", "event"],
};

/// Metrics plugins report.
pub static PLUGIN_METRIC: Family = Family {
    name: "smpp_router_plugin_metric",
    help: "Metrics reported by plugins (counters and gauges of their own).",
    kind: Kind::Untyped,
    labels: &["channel", "name"],
};

/// The channels' families, for the registry.
pub static FAMILIES: &[&Family] = &[
    &RECEIPTS,
    &RECEIPTS_UNKNOWN,
    &REQUESTS_REFUSED,
    &PLUGIN_UP,
    &PLUGIN_EVENTS,
    &PLUGIN_METRIC,
];
