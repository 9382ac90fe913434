//! Counters for `/metrics` (Prometheus text format), kept in one process-wide registry.
//!
//! The hot path touches one small mutex-guarded map per message (a few tens of nanoseconds,
//! measured against the 6 µs a message costs end to end). Each data-path thread (see
//! [`crate::shards`]) counts in a slot of its own, so threads never wait on one another's lock
//! or pull its cache line over; a scrape adds the slots up. Gauges (sessions, channels, store)
//! are read at scrape time from their owners instead of being counted.

use crate::fast_map::FastMap;
use std::fmt::Write as _;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Duration;

use crate::routing::Attempt;
use crate::routing::engine::AttemptRecord;

/// Upper bounds of the message latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A map keyed by name whose lookups do not allocate once the key exists.
type Named<V> = FastMap<String, V>;

/// Runs `f` on the value of `key`, inserting a default first if needed; allocates the key only
/// the first time.
fn bump<V: Default>(map: &mut Named<V>, key: &str, f: impl FnOnce(&mut V)) {
    if let Some(v) = map.get_mut(key) {
        return f(v);
    }
    let mut v = V::default();
    f(&mut v);
    map.insert(key.to_owned(), v);
}

/// Adds `from` into `into`, key by key, with `add` for the values.
fn add_map<K: Clone + Eq + Hash, V: Default>(
    into: &mut FastMap<K, V>,
    from: &FastMap<K, V>,
    add: &impl Fn(&mut V, &V),
) {
    for (k, v) in from {
        add(into.entry(k.clone()).or_default(), v);
    }
}

fn add_u64(into: &mut u64, from: &u64) {
    *into += from;
}

/// The outcome of an attempt, as counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Outcome {
    Accepted,
    Refused(u32),
    NotSent,
    Unknown,
    Down,
}

impl Outcome {
    fn of(record: &AttemptRecord) -> Self {
        match &record.outcome {
            None => Self::Down,
            Some(Attempt::Accepted { .. }) => Self::Accepted,
            Some(Attempt::Refused(status)) => Self::Refused(status.0),
            Some(Attempt::NotSent) => Self::NotSent,
            Some(Attempt::Unknown) => Self::Unknown,
        }
    }

    fn label(self) -> String {
        match self {
            Self::Accepted => "accepted".into(),
            Self::Refused(status) => format!("refused_0x{status:02X}"),
            Self::NotSent => "not_sent".into(),
            Self::Unknown => "unknown".into(),
            Self::Down => "down".into(),
        }
    }
}

#[derive(Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Inner {
    /// account → route → accepting channel (`-`: rejected) → status → count.
    messages: Named<Named<Named<FastMap<u32, u64>>>>,
    /// account → route → count.
    failovers: Named<Named<u64>>,
    latency: Named<Histogram>,
    attempts: Named<FastMap<Outcome, u64>>,
    receipts_from_channels: Named<u64>,
    /// channel → receipts for messages it has no record of (answered and dropped).
    receipts_unknown: Named<u64>,
    deliveries: Named<FastMap<&'static str, u64>>,
    unroutable: Named<u64>,
    binds: Named<FastMap<u32, u64>>,
    throttled: Named<u64>,
    /// channel → command → requests from its carrier refused for the bind they came on.
    channel_refused: Named<FastMap<&'static str, u64>>,
    /// channel → 1 (up) / 0 (down or disabled).
    plugin_up: Named<u8>,
    /// channel → event (`panic`, `timeout`, `at_capacity`, `refused_call`) → count.
    plugin_events: Named<FastMap<&'static str, u64>>,
    /// channel → plugin-defined name → (is a gauge, value).
    plugin_metrics: Named<Named<(bool, f64)>>,
}

impl Inner {
    /// Adds another slot's counts (gauges are only ever in the first slot: its value).
    fn add(&mut self, o: &Inner) {
        add_map(&mut self.messages, &o.messages, &|a, b| {
            add_map(a, b, &|a, b| add_map(a, b, &|a, b| add_map(a, b, &add_u64)))
        });
        add_map(&mut self.failovers, &o.failovers, &|a, b| {
            add_map(a, b, &add_u64)
        });
        add_map(&mut self.latency, &o.latency, &|a, b| {
            for (x, y) in a.buckets.iter_mut().zip(&b.buckets) {
                *x += y;
            }
            a.count += b.count;
            a.sum += b.sum;
        });
        add_map(&mut self.attempts, &o.attempts, &|a, b| {
            add_map(a, b, &add_u64)
        });
        add_map(
            &mut self.receipts_from_channels,
            &o.receipts_from_channels,
            &add_u64,
        );
        add_map(&mut self.receipts_unknown, &o.receipts_unknown, &add_u64);
        add_map(&mut self.deliveries, &o.deliveries, &|a, b| {
            add_map(a, b, &add_u64)
        });
        add_map(&mut self.unroutable, &o.unroutable, &add_u64);
        add_map(&mut self.binds, &o.binds, &|a, b| add_map(a, b, &add_u64));
        add_map(&mut self.throttled, &o.throttled, &add_u64);
        add_map(&mut self.channel_refused, &o.channel_refused, &|a, b| {
            add_map(a, b, &add_u64)
        });
        add_map(&mut self.plugin_up, &o.plugin_up, &|a, b| *a = *b);
        add_map(&mut self.plugin_events, &o.plugin_events, &|a, b| {
            add_map(a, b, &add_u64)
        });
        add_map(&mut self.plugin_metrics, &o.plugin_metrics, &|a, b| {
            add_map(a, b, &|a, b| {
                a.0 = b.0;
                a.1 = if b.0 { b.1 } else { a.1 + b.1 };
            })
        });
    }
}

/// Slots of the registry: one for threads that are not data-path threads, and one per data-path
/// thread (beyond this many threads, slots are shared).
const SLOTS: usize = 65;

/// The registry.
pub struct Metrics {
    slots: Box<[Mutex<Inner>]>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            slots: (0..SLOTS).map(|_| Mutex::default()).collect(),
        }
    }
}

impl Metrics {
    fn with(&self, f: impl FnOnce(&mut Inner)) {
        let slot = crate::shards::current().map_or(0, |i| 1 + i % (SLOTS - 1));
        if let Ok(mut inner) = self.slots[slot].lock() {
            f(&mut inner);
        }
    }

    /// For gauges: always the first slot, whatever the thread, so that the last value set is
    /// the one shown (set rarely; never on the per-message path).
    fn with_gauges(&self, f: impl FnOnce(&mut Inner)) {
        if let Ok(mut inner) = self.slots[0].lock() {
            f(&mut inner);
        }
    }

    /// A message finished: accepted by `channel` (`None`: rejected with `status`) after the
    /// attempts in `history` (a change of channel is a failover), taking `latency`.
    pub fn message(
        &self,
        account: &str,
        route: &str,
        channel: Option<&str>,
        status: u32,
        history: &[AttemptRecord],
        latency: Duration,
    ) {
        self.with(|m| {
            bump(&mut m.messages, account, |by_route| {
                bump(by_route, route, |by_channel| {
                    bump(by_channel, channel.unwrap_or("-"), |by_status| {
                        *by_status.entry(status).or_default() += 1;
                    })
                })
            });
            if history.windows(2).any(|w| w[0].channel != w[1].channel) {
                bump(&mut m.failovers, account, |by_route| {
                    bump(by_route, route, |n| *n += 1)
                });
            }
            for record in history {
                bump(&mut m.attempts, &record.channel, |by_outcome| {
                    *by_outcome.entry(Outcome::of(record)).or_default() += 1;
                });
            }
            bump(&mut m.latency, route, |h| {
                let secs = latency.as_secs_f64();
                for (i, bound) in BUCKETS.iter().enumerate() {
                    if secs <= *bound {
                        h.buckets[i] += 1;
                    }
                }
                h.count += 1;
                h.sum += secs;
            });
        });
    }

    /// A message refused before routing (validation: destination, sender, length, times): counted
    /// under route and channel `-`.
    pub fn refused(&self, account: &str, status: u32) {
        self.with(|m| {
            bump(&mut m.messages, account, |by_route| {
                bump(by_route, "-", |by_channel| {
                    bump(by_channel, "-", |by_status| {
                        *by_status.entry(status).or_default() += 1;
                    })
                })
            })
        });
    }

    /// A bind was answered with `status`; the account is named only for known accounts (an
    /// unknown system_id must not create a label).
    pub fn bind(&self, account: Option<&str>, status: u32) {
        self.with(|m| {
            bump(&mut m.binds, account.unwrap_or("-"), |by_status| {
                *by_status.entry(status).or_default() += 1;
            })
        });
    }

    /// A submit was answered `ESME_RTHROTTLED` (the account's TPS).
    pub fn throttled(&self, account: &str) {
        self.with(|m| bump(&mut m.throttled, account, |n| *n += 1));
    }

    /// A message matched no route.
    pub fn unroutable(&self, account: &str) {
        self.with(|m| bump(&mut m.unroutable, account, |n| *n += 1));
    }

    /// A receipt from `channel`'s carrier named a message the router has no record of.
    pub fn receipt_unknown(&self, channel: &str) {
        self.with(|m| bump(&mut m.receipts_unknown, channel, |n| *n += 1));
    }

    /// A channel relayed a receipt (or MO) from its carrier.
    pub fn receipt_from_channel(&self, channel: &str) {
        self.with(|m| bump(&mut m.receipts_from_channels, channel, |n| *n += 1));
    }

    /// A request from `channel`'s carrier (`command`) was refused for the bind it came on.
    pub fn channel_refused(&self, channel: &str, command: &'static str) {
        self.with(|m| {
            bump(&mut m.channel_refused, channel, |by_command| {
                *by_command.entry(command).or_default() += 1;
            })
        });
    }

    /// A receipt or MO for `account` was delivered at once, stored, or delivered from the store.
    pub fn delivery(&self, account: &str, how: &'static str) {
        self.with(|m| {
            bump(&mut m.deliveries, account, |by_how| {
                *by_how.entry(how).or_default() += 1;
            })
        });
    }

    /// A plugin channel's health, as last polled (false also when disabled after a panic).
    pub fn plugin_up(&self, channel: &str, up: bool) {
        self.with_gauges(|m| bump(&mut m.plugin_up, channel, |v| *v = u8::from(up)));
    }

    /// Something went wrong at a plugin's boundary: `panic`, `timeout`, `at_capacity`,
    /// `refused_call`.
    pub fn plugin_event(&self, channel: &str, event: &'static str) {
        self.with(|m| {
            bump(&mut m.plugin_events, channel, |by_event| {
                *by_event.entry(event).or_default() += 1;
            })
        });
    }

    /// A metric a plugin reported: a gauge set, or a counter added to.
    pub fn plugin_metric(&self, channel: &str, name: &str, gauge: bool, value: f64) {
        self.with_gauges(|m| {
            bump(&mut m.plugin_metrics, channel, |by_name| {
                bump(by_name, name, |slot| {
                    slot.0 = gauge;
                    slot.1 = if gauge { value } else { slot.1 + value };
                })
            })
        });
    }

    /// Appends the counters in Prometheus text format, series sorted by their labels.
    pub fn render(&self, out: &mut String) {
        let mut m = Inner::default();
        for slot in &self.slots {
            if let Ok(counts) = slot.lock() {
                m.add(&counts);
            }
        }
        let mut lines: Vec<String> = Vec::new();
        let section = |out: &mut String, lines: &mut Vec<String>, name, kind, help| {
            header(out, name, kind, help);
            lines.sort();
            for l in lines.drain(..) {
                out.push_str(&l);
                out.push('\n');
            }
        };
        for (account, by_route) in &m.messages {
            for (route, by_channel) in by_route {
                for (channel, by_status) in by_channel {
                    for (status, v) in by_status {
                        lines.push(format!(
                            "smpp_router_messages_total{{account=\"{}\",route=\"{}\",channel=\"{}\",status=\"0x{status:08X}\"}} {v}",
                            esc(account),
                            esc(route),
                            esc(channel)
                        ));
                    }
                }
            }
        }
        section(
            out,
            &mut lines,
            "smpp_router_messages_total",
            "counter",
            "Messages answered, by account, route (- when refused before routing), accepting channel (- when rejected) and status.",
        );
        for (account, by_route) in &m.failovers {
            for (route, v) in by_route {
                lines.push(format!(
                    "smpp_router_failovers_total{{account=\"{}\",route=\"{}\"}} {v}",
                    esc(account),
                    esc(route)
                ));
            }
        }
        section(
            out,
            &mut lines,
            "smpp_router_failovers_total",
            "counter",
            "Messages that tried more than one channel.",
        );
        for (channel, by_outcome) in &m.attempts {
            for (outcome, v) in by_outcome {
                lines.push(format!(
                    "smpp_router_channel_attempts_total{{channel=\"{}\",outcome=\"{}\"}} {v}",
                    esc(channel),
                    outcome.label()
                ));
            }
        }
        section(
            out,
            &mut lines,
            "smpp_router_channel_attempts_total",
            "counter",
            "Attempts by channel and outcome.",
        );
        header(
            out,
            "smpp_router_message_seconds",
            "histogram",
            "Time from routing to the client's answer, by route.",
        );
        let mut routes: Vec<_> = m.latency.iter().collect();
        routes.sort_by(|a, b| a.0.cmp(b.0));
        for (route, h) in routes {
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
        for (account, v) in &m.unroutable {
            lines.push(format!(
                "smpp_router_unroutable_total{{account=\"{}\"}} {v}",
                esc(account)
            ));
        }
        section(
            out,
            &mut lines,
            "smpp_router_unroutable_total",
            "counter",
            "Messages that matched no route (answered ESME_RINVDSTADR).",
        );
        for (account, by_status) in &m.binds {
            for (status, v) in by_status {
                lines.push(format!(
                    "smpp_router_binds_total{{account=\"{}\",status=\"0x{status:08X}\"}} {v}",
                    esc(account)
                ));
            }
        }
        section(
            out,
            &mut lines,
            "smpp_router_binds_total",
            "counter",
            "Bind answers by account (- when refused before the account was known) and status.",
        );
        for (account, v) in &m.throttled {
            lines.push(format!(
                "smpp_router_throttled_total{{account=\"{}\"}} {v}",
                esc(account)
            ));
        }
        section(
            out,
            &mut lines,
            "smpp_router_throttled_total",
            "counter",
            "Submits answered ESME_RTHROTTLED (over the account's tps).",
        );
        for (channel, v) in &m.receipts_from_channels {
            lines.push(format!(
                "smpp_router_channel_receipts_total{{channel=\"{}\"}} {v}",
                esc(channel)
            ));
        }
        section(
            out,
            &mut lines,
            "smpp_router_channel_receipts_total",
            "counter",
            "Receipts and MO relayed from each channel's carrier.",
        );
        for (channel, v) in &m.receipts_unknown {
            lines.push(format!(
                "smpp_router_channel_receipts_unknown_total{{channel=\"{}\"}} {v}",
                esc(channel)
            ));
        }
        section(
            out,
            &mut lines,
            "smpp_router_channel_receipts_unknown_total",
            "counter",
            "Receipts from each channel's carrier for messages the router has no record of (answered and dropped: records past retention, a replaced store).",
        );
        for (channel, by_command) in &m.channel_refused {
            for (command, v) in by_command {
                lines.push(format!(
                    "smpp_router_channel_requests_refused_total{{channel=\"{}\",command=\"{command}\"}} {v}",
                    esc(channel)
                ));
            }
        }
        section(
            out,
            &mut lines,
            "smpp_router_channel_requests_refused_total",
            "counter",
            "Requests from a channel's carrier refused for the bind they came on (ESME_RINVBNDSTS), e.g. receipts on a transmitter bind: see receipts_on_any_bind.",
        );
        for (account, by_how) in &m.deliveries {
            for (how, v) in by_how {
                lines.push(format!(
                    "smpp_router_deliveries_total{{account=\"{}\",how=\"{how}\"}} {v}",
                    esc(account)
                ));
            }
        }
        section(
            out,
            &mut lines,
            "smpp_router_deliveries_total",
            "counter",
            "Receipts and MO to clients: direct (acknowledged at once), stored, direct_late (acknowledged after it was stored), from_store, or refused (the client answered ESME_RX_P_APPN or ESME_RX_R_APPN: not offered again).",
        );
        for (channel, v) in &m.plugin_up {
            lines.push(format!(
                "smpp_router_plugin_up{{channel=\"{}\"}} {v}",
                esc(channel)
            ));
        }
        section(
            out,
            &mut lines,
            "smpp_router_plugin_up",
            "gauge",
            "Plugin channels: 1 when the plugin reports itself up, 0 when down or disabled.",
        );
        for (channel, by_event) in &m.plugin_events {
            for (event, v) in by_event {
                lines.push(format!(
                    "smpp_router_plugin_events_total{{channel=\"{}\",event=\"{event}\"}} {v}",
                    esc(channel)
                ));
            }
        }
        section(
            out,
            &mut lines,
            "smpp_router_plugin_events_total",
            "counter",
            "Trouble at a plugin's boundary: panic, timeout, at_capacity, refused_call.",
        );
        for (channel, by_name) in &m.plugin_metrics {
            for (name, (_, v)) in by_name {
                lines.push(format!(
                    "smpp_router_plugin_metric{{channel=\"{}\",name=\"{}\"}} {v}",
                    esc(channel),
                    esc(name)
                ));
            }
        }
        section(
            out,
            &mut lines,
            "smpp_router_plugin_metric",
            "untyped",
            "Metrics reported by plugins (counters and gauges of their own).",
        );
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

    /// An attempt `channel` accepted.
    fn accepted_by(channel: &str) -> AttemptRecord {
        AttemptRecord {
            channel: channel.into(),
            outcome: Some(Attempt::Accepted {
                channel_id: "1".into(),
                final_state: None,
            }),
            latency: Duration::ZERO,
        }
    }

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::default();
        let attempts = vec![
            AttemptRecord {
                channel: "imessage".into(),
                outcome: Some(Attempt::Refused(crate::smpp::CommandStatus::RSUBMITFAIL)),
                latency: Duration::ZERO,
            },
            accepted_by("carrier"),
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
        assert!(out.contains("smpp_router_channel_attempts_total{channel=\"imessage\",outcome=\"refused_0x45\"} 2"), "{out}");
        assert_eq!(esc("a\"b\\c"), "a\\\"b\\\\c");
    }

    /// Counts made on several data-path threads and on others add up in one scrape; a gauge
    /// shows its value.
    #[test]
    fn counts_of_every_thread_add_up() {
        let m = std::sync::Arc::new(Metrics::default());
        let shards = crate::shards::Shards::start(3).expect("shards");
        fn count(m: &Metrics) {
            let attempt = [accepted_by("carrier")];
            m.message(
                "acme",
                "sms",
                Some("carrier"),
                0,
                &attempt,
                Duration::from_millis(2),
            );
            m.receipt_from_channel("carrier");
            m.delivery("acme", "direct");
            m.bind(Some("acme"), 0);
            m.throttled("acme");
            m.plugin_event("hook", "timeout");
            m.plugin_metric("hook", "sent", false, 1.5);
        }
        count(&m);
        for shard in 0..3 {
            let (tx, rx) = std::sync::mpsc::channel();
            let m = m.clone();
            shards.spawn_on(shard, async move {
                for _ in 0..=shard {
                    count(&m);
                }
                let _ = tx.send(());
            });
            rx.recv().expect("counted");
        }
        // A gauge set on a data-path thread and later elsewhere shows the later value.
        let (tx, rx) = std::sync::mpsc::channel();
        let on_shard = m.clone();
        shards.spawn_on(2, async move {
            on_shard.plugin_up("hook", false);
            on_shard.plugin_metric("hook", "queue", true, 100.0);
            let _ = tx.send(());
        });
        rx.recv().expect("set");
        shards.stop();
        m.plugin_up("hook", true);
        m.plugin_metric("hook", "queue", true, 7.0);
        let mut out = String::new();
        m.render(&mut out);
        // 1 here + 1 + 2 + 3 on the shards.
        for line in [
            "smpp_router_messages_total{account=\"acme\",route=\"sms\",channel=\"carrier\",status=\"0x00000000\"} 7",
            "smpp_router_message_seconds_count{route=\"sms\"} 7",
            "smpp_router_message_seconds_bucket{route=\"sms\",le=\"0.005\"} 7",
            "smpp_router_channel_attempts_total{channel=\"carrier\",outcome=\"accepted\"} 7",
            "smpp_router_channel_receipts_total{channel=\"carrier\"} 7",
            "smpp_router_deliveries_total{account=\"acme\",how=\"direct\"} 7",
            "smpp_router_binds_total{account=\"acme\",status=\"0x00000000\"} 7",
            "smpp_router_throttled_total{account=\"acme\"} 7",
            "smpp_router_plugin_events_total{channel=\"hook\",event=\"timeout\"} 7",
            "smpp_router_plugin_metric{channel=\"hook\",name=\"sent\"} 10.5",
            "smpp_router_plugin_metric{channel=\"hook\",name=\"queue\"} 7",
            "smpp_router_plugin_up{channel=\"hook\"} 1",
        ] {
            assert!(out.contains(line), "missing {line}\n{out}");
        }
    }
}
