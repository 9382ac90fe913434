use super::*;

static HITS: Family = Family {
    name: "test_hits_total",
    help: "Hits.",
    kind: Kind::Counter,
    labels: &["who", "status"],
};

static SECONDS: Family = Family {
    name: "test_seconds",
    help: "Seconds.",
    kind: Kind::Histogram(&[0.01, 0.1]),
    labels: &["route"],
};

static LEVEL: Family = Family {
    name: "test_level",
    help: "A level.",
    kind: Kind::Gauge,
    labels: &["who"],
};

static NEVER: Family = Family {
    name: "test_never_total",
    help: "Registered, never counted.",
    kind: Kind::Counter,
    labels: &[],
};

#[test]
fn renders_counters_gauges_and_histograms_escaped_and_sorted() {
    let m = Metrics::new([&NEVER, &HITS]);
    m.add(&HITS, &["b\"q", Hex(0x45).label().as_str()], 2);
    m.add(&HITS, &["a", Hex(0).label().as_str()], 1);
    m.add(&HITS, &["a", Hex(0).label().as_str()], 1);
    m.batch(|c| {
        c.observe(&SECONDS, &["otp"], 0.005);
        c.observe(&SECONDS, &["otp"], 0.05);
    });
    m.set(&LEVEL, &["x"], 3.0);
    m.set(&LEVEL, &["x"], 7.0);
    m.increase(&LEVEL, &["y"], 1.5);
    m.increase(&LEVEL, &["y"], 1.5);
    let mut out = String::new();
    m.render(&mut out);
    let want = "# HELP test_never_total Registered, never counted.\n# TYPE test_never_total counter\n\
        # HELP test_hits_total Hits.\n# TYPE test_hits_total counter\n\
        test_hits_total{who=\"a\",status=\"0x00000000\"} 2\n\
        test_hits_total{who=\"b\\\"q\",status=\"0x00000045\"} 2\n\
        # HELP test_level A level.\n# TYPE test_level gauge\n\
        test_level{who=\"x\"} 7\ntest_level{who=\"y\"} 3\n\
        # HELP test_seconds Seconds.\n# TYPE test_seconds histogram\n\
        test_seconds_bucket{route=\"otp\",le=\"0.01\"} 1\n\
        test_seconds_bucket{route=\"otp\",le=\"0.1\"} 2\n\
        test_seconds_bucket{route=\"otp\",le=\"+Inf\"} 2\n\
        test_seconds_sum{route=\"otp\"} 0.055\n\
        test_seconds_count{route=\"otp\"} 2\n";
    assert_eq!(out, want);
}

/// Counts made on several data-path threads and on others add up in one scrape; a gauge
/// shows the value set last, wherever it was set.
#[test]
fn counts_of_every_thread_add_up() {
    let m = std::sync::Arc::new(Metrics::new([&HITS]));
    let (shards, threads) = crate::shards::Shards::start(3).expect("shards");
    fn count(m: &Metrics) {
        m.add(&HITS, &["acme", Hex(0).label().as_str()], 1);
        m.batch(|c| c.observe(&SECONDS, &["sms"], 0.002));
        m.increase(&LEVEL, &["sent"], 1.5);
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
    let (tx, rx) = std::sync::mpsc::channel();
    let on_shard = m.clone();
    shards.spawn_on(2, async move {
        on_shard.set(&LEVEL, &["queue"], 100.0);
        let _ = tx.send(());
    });
    rx.recv().expect("set");
    threads.stop();
    m.set(&LEVEL, &["queue"], 7.0);
    let mut out = String::new();
    m.render(&mut out);
    // 1 here + 1 + 2 + 3 on the shards.
    for line in [
        "test_hits_total{who=\"acme\",status=\"0x00000000\"} 7",
        "test_seconds_count{route=\"sms\"} 7",
        "test_seconds_bucket{route=\"sms\",le=\"0.01\"} 7",
        "test_level{who=\"sent\"} 10.5",
        "test_level{who=\"queue\"} 7",
    ] {
        assert!(out.contains(line), "missing {line}\n{out}");
    }
}
