//! Counters for `/metrics` (Prometheus text format), kept in one process-wide registry.
//!
//! The hot path touches one small mutex-guarded map per message (a few tens of nanoseconds,
//! measured against the 6 µs a message costs end to end); gauges (sessions, channels, store) are
//! read at scrape time from their owners instead of being counted.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

/// Upper bounds of the message latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The outcome of one message, as counted.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct MessageKey {
    account: String,
    route: String,
    /// The channel that accepted it, or `-` when it was rejected.
    channel: String,
    /// The status the client got, e.g. `0x00000000`.
    status: String,
}

#[derive(Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Inner {
    messages: BTreeMap<MessageKey, u64>,
    failovers: BTreeMap<(String, String), u64>,
    latency: BTreeMap<String, Histogram>,
    attempts: BTreeMap<(String, String), u64>,
    receipts_from_channels: BTreeMap<String, u64>,
    deliveries: BTreeMap<(String, &'static str), u64>,
    unroutable: BTreeMap<String, u64>,
    binds: BTreeMap<(String, String), u64>,
    throttled: BTreeMap<String, u64>,
}

/// The registry.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

static GLOBAL: LazyLock<Metrics> = LazyLock::new(Metrics::default);

/// The process-wide registry.
pub fn global() -> &'static Metrics {
    &GLOBAL
}

impl Metrics {
    fn with(&self, f: impl FnOnce(&mut Inner)) {
        if let Ok(mut inner) = self.inner.lock() {
            f(&mut inner);
        }
    }

    /// A message finished: accepted by `channel` (`None`: rejected with `status`), after
    /// `attempts` attempts (more than one is a failover or retry), taking `latency`.
    pub fn message(
        &self,
        account: &str,
        route: &str,
        channel: Option<&str>,
        status: u32,
        attempts: &[(String, String)],
        latency: Duration,
    ) {
        self.with(|m| {
            let key = MessageKey {
                account: account.to_string(),
                route: route.to_string(),
                channel: channel.unwrap_or("-").to_string(),
                status: format!("0x{status:08X}"),
            };
            *m.messages.entry(key).or_default() += 1;
            let channels: Vec<&String> = attempts.iter().map(|(c, _)| c).collect();
            if channels.windows(2).any(|w| w[0] != w[1]) {
                *m.failovers
                    .entry((account.to_string(), route.to_string()))
                    .or_default() += 1;
            }
            for (channel, outcome) in attempts {
                *m.attempts
                    .entry((channel.clone(), outcome.clone()))
                    .or_default() += 1;
            }
            let h = m.latency.entry(route.to_string()).or_default();
            let secs = latency.as_secs_f64();
            for (i, bound) in BUCKETS.iter().enumerate() {
                if secs <= *bound {
                    h.buckets[i] += 1;
                }
            }
            h.count += 1;
            h.sum += secs;
        });
    }

    /// A bind was answered with `status`; the account is named only for known accounts (an
    /// unknown system_id must not create a label).
    pub fn bind(&self, account: Option<&str>, status: u32) {
        self.with(|m| {
            let key = (
                account.unwrap_or("-").to_string(),
                format!("0x{status:08X}"),
            );
            *m.binds.entry(key).or_default() += 1;
        });
    }

    /// A submit was answered `ESME_RTHROTTLED` (the account's TPS).
    pub fn throttled(&self, account: &str) {
        self.with(|m| *m.throttled.entry(account.to_string()).or_default() += 1);
    }

    /// A message matched no route.
    pub fn unroutable(&self, account: &str) {
        self.with(|m| *m.unroutable.entry(account.to_string()).or_default() += 1);
    }

    /// A channel relayed a receipt (or MO) from its carrier.
    pub fn receipt_from_channel(&self, channel: &str) {
        self.with(|m| {
            *m.receipts_from_channels
                .entry(channel.to_string())
                .or_default() += 1
        });
    }

    /// A receipt or MO for `account` was delivered at once, stored, or delivered from the store.
    pub fn delivery(&self, account: &str, how: &'static str) {
        self.with(|m| *m.deliveries.entry((account.to_string(), how)).or_default() += 1);
    }

    /// Appends the counters in Prometheus text format.
    pub fn render(&self, out: &mut String) {
        let Ok(m) = self.inner.lock() else { return };
        header(
            out,
            "smpp_router_messages_total",
            "counter",
            "Messages answered, by account, route, accepting channel and status.",
        );
        for (k, v) in &m.messages {
            let _ = writeln!(
                out,
                "smpp_router_messages_total{{account=\"{}\",route=\"{}\",channel=\"{}\",status=\"{}\"}} {v}",
                esc(&k.account),
                esc(&k.route),
                esc(&k.channel),
                k.status
            );
        }
        header(
            out,
            "smpp_router_failovers_total",
            "counter",
            "Messages that tried more than one channel.",
        );
        for ((account, route), v) in &m.failovers {
            let _ = writeln!(
                out,
                "smpp_router_failovers_total{{account=\"{}\",route=\"{}\"}} {v}",
                esc(account),
                esc(route)
            );
        }
        header(
            out,
            "smpp_router_channel_attempts_total",
            "counter",
            "Attempts by channel and outcome.",
        );
        for ((channel, outcome), v) in &m.attempts {
            let _ = writeln!(
                out,
                "smpp_router_channel_attempts_total{{channel=\"{}\",outcome=\"{}\"}} {v}",
                esc(channel),
                esc(outcome)
            );
        }
        header(
            out,
            "smpp_router_message_seconds",
            "histogram",
            "Time from routing to the client's answer, by route.",
        );
        for (route, h) in &m.latency {
            let route = esc(route);
            for (i, bound) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "smpp_router_message_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {}",
                    h.buckets[i]
                );
            }
            let _ = writeln!(
                out,
                "smpp_router_message_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "smpp_router_message_seconds_sum{{route=\"{route}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "smpp_router_message_seconds_count{{route=\"{route}\"}} {}",
                h.count
            );
        }
        header(
            out,
            "smpp_router_unroutable_total",
            "counter",
            "Messages that matched no route (answered ESME_RINVDSTADR).",
        );
        for (account, v) in &m.unroutable {
            let _ = writeln!(
                out,
                "smpp_router_unroutable_total{{account=\"{}\"}} {v}",
                esc(account)
            );
        }
        header(
            out,
            "smpp_router_binds_total",
            "counter",
            "Bind answers by account (- when refused before the account was known) and status.",
        );
        for ((account, status), v) in &m.binds {
            let _ = writeln!(
                out,
                "smpp_router_binds_total{{account=\"{}\",status=\"{status}\"}} {v}",
                esc(account)
            );
        }
        header(
            out,
            "smpp_router_throttled_total",
            "counter",
            "Submits answered ESME_RTHROTTLED (over the account's tps).",
        );
        for (account, v) in &m.throttled {
            let _ = writeln!(
                out,
                "smpp_router_throttled_total{{account=\"{}\"}} {v}",
                esc(account)
            );
        }
        header(
            out,
            "smpp_router_channel_receipts_total",
            "counter",
            "Receipts and MO relayed from each channel's carrier.",
        );
        for (channel, v) in &m.receipts_from_channels {
            let _ = writeln!(
                out,
                "smpp_router_channel_receipts_total{{channel=\"{}\"}} {v}",
                esc(channel)
            );
        }
        header(
            out,
            "smpp_router_deliveries_total",
            "counter",
            "Receipts and MO to clients: direct (acknowledged at once), stored, or from_store.",
        );
        for ((account, how), v) in &m.deliveries {
            let _ = writeln!(
                out,
                "smpp_router_deliveries_total{{account=\"{}\",how=\"{how}\"}} {v}",
                esc(account)
            );
        }
    }
}

/// Writes the `# HELP` and `# TYPE` lines of a metric.
pub fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Escapes a label value.
pub fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::default();
        let attempts = vec![
            ("imessage".to_string(), "refused_0x45".to_string()),
            ("carrier".to_string(), "accepted".to_string()),
        ];
        m.message(
            "acme",
            "otp",
            Some("carrier"),
            0,
            &attempts,
            Duration::from_millis(30),
        );
        m.message(
            "acme",
            "otp",
            None,
            0x45,
            &attempts[..1],
            Duration::from_millis(3),
        );
        m.unroutable("acme");
        m.delivery("acme", "direct");
        let mut out = String::new();
        m.render(&mut out);
        assert!(out.contains("smpp_router_messages_total{account=\"acme\",route=\"otp\",channel=\"carrier\",status=\"0x00000000\"} 1"), "{out}");
        assert!(
            out.contains("channel=\"-\",status=\"0x00000045\"} 1"),
            "{out}"
        );
        assert!(
            out.contains("smpp_router_failovers_total{account=\"acme\",route=\"otp\"} 1"),
            "{out}"
        );
        assert!(
            out.contains("smpp_router_message_seconds_bucket{route=\"otp\",le=\"0.05\"} 2"),
            "{out}"
        );
        assert!(
            out.contains("smpp_router_message_seconds_bucket{route=\"otp\",le=\"0.025\"} 1"),
            "{out}"
        );
        assert!(
            out.contains("smpp_router_unroutable_total{account=\"acme\"} 1"),
            "{out}"
        );
        assert_eq!(esc("a\"b\\c"), "a\\\"b\\\\c");
    }
}
