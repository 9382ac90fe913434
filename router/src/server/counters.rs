//! What the server counts: messages answered, bind answers, throttled submits.

use crate::metrics::{Family, Kind};

/// Messages answered (by the server when refused before routing, by the router otherwise).
pub static MESSAGES: Family = Family {
    name: "smpp_router_messages_total",
    help: "Messages answered, by account, route (- when refused before routing), accepting channel (- when rejected) and status.",
    kind: Kind::Counter,
    labels: &["account", "route", "channel", "status"],
};

/// Bind answers.
pub static BINDS: Family = Family {
    name: "smpp_router_binds_total",
    help: "Bind answers by account (- when refused before the account was known) and status.",
    kind: Kind::Counter,
    labels: &["account", "status"],
};

/// Submits over the account's TPS.
pub static THROTTLED: Family = Family {
    name: "smpp_router_throttled_total",
    help: "Submits answered ESME_RTHROTTLED (over the account's tps).",
    kind: Kind::Counter,
    labels: &["account"],
};

/// The server's families, for the registry.
pub static FAMILIES: &[&Family] = &[&MESSAGES, &BINDS, &THROTTLED];
