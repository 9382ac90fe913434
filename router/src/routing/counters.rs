//! What routing counts — failovers, attempts per channel, the time to answer, unroutable
//! messages — and what it shows at scrape time: channels up, reloads, the generation.

use std::time::Duration;

use super::router::Router;
use crate::channels::AttemptRecord;
use crate::metrics::{Family, Hex, Kind, Label, Metrics};
use crate::server::counters::MESSAGES;

/// Upper bounds of the message latency histogram, in seconds.
const BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Messages that tried more than one channel.
pub static FAILOVERS: Family = Family {
    name: "smpp_router_failovers_total",
    help: "Messages that tried more than one channel.",
    kind: Kind::Counter,
    labels: &["account", "route"],
};

/// Attempts by channel and outcome.
pub static ATTEMPTS: Family = Family {
    name: "smpp_router_channel_attempts_total",
    help: "Attempts by channel and outcome.",
    kind: Kind::Counter,
    labels: &["channel", "outcome"],
};

/// Time from routing to the client's answer.
pub static MESSAGE_SECONDS: Family = Family {
    name: "smpp_router_message_seconds",
    help: "Time from routing to the client's answer, by route.",
    kind: Kind::Histogram(BUCKETS),
    labels: &["route"],
};

/// Messages no route matched.
pub static UNROUTABLE: Family = Family {
    name: "smpp_router_unroutable_total",
    help: "Messages that matched no route (answered ESME_RINVDSTADR).",
    kind: Kind::Counter,
    labels: &["account"],
};

static CHANNEL_UP: Family = Family {
    name: "smpp_router_channel_up",
    help: "1 when a channel can take messages.",
    kind: Kind::Gauge,
    labels: &["channel"],
};

static RELOADS: Family = Family {
    name: "smpp_router_reloads_total",
    help: "routes.toml reloads by outcome.",
    kind: Kind::Counter,
    labels: &["outcome"],
};

static GENERATION: Family = Family {
    name: "smpp_router_routes_generation",
    help: "The generation of the table in service.",
    kind: Kind::Gauge,
    labels: &[],
};

/// Counts a finished message: accepted by `channel` (`None`: rejected with `status`) after the
/// attempts in `history` (a change of channel is a failover), taking `latency`.
pub fn message(
    metrics: &Metrics,
    account: &str,
    route: &str,
    channel: Option<&str>,
    status: u32,
    history: &[AttemptRecord],
    latency: Duration,
) {
    metrics.batch(|c| {
        let channel = channel.unwrap_or("-");
        let status = Hex(status).label();
        c.add(&MESSAGES, &[account, route, channel, status.as_str()], 1);
        if history.windows(2).any(|w| w[0].channel != w[1].channel) {
            c.add(&FAILOVERS, &[account, route], 1);
        }
        for attempt in history {
            let (channel, outcome) = attempt.counted();
            c.add(&ATTEMPTS, &[channel, Label::of(outcome).as_str()], 1);
        }
        c.observe(&MESSAGE_SECONDS, &[route], latency.as_secs_f64());
    });
}

/// Routing's counted families, for the registry.
pub static FAMILIES: &[&Family] = &[&FAILOVERS, &ATTEMPTS, &MESSAGE_SECONDS, &UNROUTABLE];

impl Router {
    /// Writes what the router shows at scrape time: channels up, reloads, the generation.
    pub fn write_metrics(&self, out: &mut String) {
        let table = self.table();
        CHANNEL_UP.write(
            out,
            table
                .channels
                .iter()
                .map(|(name, c)| ([name.as_str()], u8::from(c.is_up()))),
        );
        let status = self.status();
        RELOADS.write(
            out,
            [(["ok"], status.succeeded), (["rejected"], status.rejected)],
        );
        GENERATION.write(out, [([] as [&str; 0], status.generation)]);
    }
}
