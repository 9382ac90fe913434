//! Routing decisions against a table of 1,000 prefix routes plus a default (target: < 1 µs a
//! decision). Run: `cargo bench -p smpp-router --bench routing`.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use smpp_router::channels::Channel;
use smpp_router::channels::test_channel::TestChannel;
use smpp_router::config::Accounts;
use smpp_router::config::route::RouteSpec;
use smpp_router::phone;
use smpp_router::routing::Policy;
use smpp_router::routing::table::{Route, RouteInput, RouteTable};
use smpp_router::smpp::pdu::{Address, Sm};

fn spec(name: String, prefixes: Vec<String>, content: Option<&str>) -> RouteSpec {
    RouteSpec {
        name,
        line: 1,
        accounts: vec![],
        prefixes,
        regions: vec![],
        calling_codes: vec![],
        source: None,
        content: content.map(|c| regex::Regex::new(c).unwrap()),
        channels: vec!["c".into()],
        deadline: Duration::from_secs(10),
        policy: Policy::default(),
    }
}

fn table() -> RouteTable {
    let c: Arc<dyn Channel> = Arc::new(TestChannel::new("c", vec![], Duration::ZERO));
    let mut specs: Vec<RouteSpec> = (0..1000)
        .map(|i| {
            spec(
                format!("r{i}"),
                vec![format!("{}{:03}", 1 + i % 9, i)],
                None,
            )
        })
        .collect();
    specs.insert(0, spec("otp".into(), vec!["44".into()], Some("(?i)code")));
    specs.push(spec("default".into(), vec![], None));
    let routes = specs
        .into_iter()
        .map(|spec| Route {
            spec,
            plan: vec![c.clone()],
        })
        .collect();
    RouteTable::new(1, Accounts::default(), HashMap::new(), routes)
}

fn bench(c: &mut Criterion) {
    let t = table();
    let cases = [
        ("prefix hit", "14155551234", "Hello"),
        ("default (no prefix matches)", "33612345678", "Hello"),
        ("content regex", "447911123456", "Your code is 123456"),
    ];
    let mut g = c.benchmark_group("route decision, 1,002 routes");
    for (name, to, text) in cases {
        let sm = Sm {
            source: Address::new(5, 0, "MyBank"),
            dest: Address::new(1, 1, to),
            short_message: Bytes::from_static(text.as_bytes()),
            ..Sm::default()
        };
        let dest = phone::validate(to.as_bytes()).unwrap();
        assert!(t.route(&RouteInput::new("acme", &sm, dest)).is_some());
        g.bench_function(name, |b| {
            b.iter(|| t.route_index(&RouteInput::new("acme", std::hint::black_box(&sm), dest)))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
