//! The per-message cost of the plugin boundary (issue target: ≤ 2 µs): one submit through a
//! plugin channel — the example `simulated` plugin loaded from its shared library, completing
//! inside `submit` — against an equivalent built-in channel that accepts at once. Both run the
//! same `Channel::submit(..).await` on the same runtime; the difference is the boundary (the
//! `SrpMessage` built from the PDU, the text decoded to UTF-8, the C call, the completion token,
//! the oneshot back).
//!
//! Since ABI 1.1 the engine also asks the plugin whether it declines the message (one more C
//! call, with the message built again): `plugin` measures both, `plugin_submit_only` the submit.
//!
//! Run: `cargo bench -p smpp-router --bench plugin` (it builds the plugin in release first).

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use smpp_router::channels::{Attempt, AttemptFuture, Channel, Message};
use smpp_router::config::Account;
use smpp_router::delivery::outbox::Outbox;
use smpp_router::smpp::pdu::{Address, Sm};
use smpp_router::store::MemoryStore;

/// A built-in channel doing what the plugin does: accept at once with a fresh channel id.
struct Accepting(AtomicU64);

impl Channel for Accepting {
    fn name(&self) -> &str {
        "builtin"
    }

    fn submit(&self, _message: &Message) -> AttemptFuture {
        let n = self.0.fetch_add(1, Ordering::Relaxed);
        Box::pin(std::future::ready(Attempt::Accepted {
            channel_id: format!("b-{n:x}"),
            final_state: None,
        }))
    }
}

fn plugin_path() -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let ok = Command::new(cargo)
        .current_dir(&root)
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "smpp-router-plugin-simulated",
        ])
        .status()
        .unwrap()
        .success();
    assert!(ok, "building the simulated plugin failed");
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), Into::into)
        .join("release")
        .join(format!(
            "{}smpp_router_plugin_simulated{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        ))
}

fn message() -> Message {
    let mut sm = Sm {
        source: Address::new(5, 0, b"MyBank"),
        dest: Address::new(1, 1, b"447911123456"),
        short_message: bytes::Bytes::from_static(b"Your code is 482910. Do not share it."),
        ..Sm::default()
    };
    sm.registered_delivery.0 = 0;
    Message {
        id: "386184034172039168".into(),
        account: Arc::new(Account {
            system_id: "acme".into(),
            password_hash: String::new(),
            bind_modes: [true; 3],
            allowed_cidrs: vec![],
            max_binds: 1,
            tps: 1,
            window: 1,
            default_sender: None,
            language: None,
        }),
        sm,
        destination: smpp_router::phone::Destination {
            country_code: 44,
            region: *b"GB",
            national_number: 7700900123,
            leading_zeros: 0,
        },
        sender: None,
        session: 1,
    }
}

fn bench(c: &mut Criterion) {
    let path = plugin_path();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let outbox = Outbox::new(
        Arc::new(MemoryStore::new()),
        Arc::new(smpp_router::delivery::registry::Registry::new(
            Duration::from_secs(30),
        )),
        Arc::default(),
        Duration::from_secs(3600),
        Vec::<String>::new(),
    );
    let table: toml::Table = format!(
        "path = \"{}\"\n[config]\nlatency = \"0\"\nreceipt_delay = \"0\"\n",
        path.display()
    )
    .parse()
    .unwrap();
    let plugin = smpp_router::channels::plugin::start(
        "sim",
        &table,
        &smpp_router::channels::ChannelContext {
            delivery: outbox,
            metrics: Arc::default(),
            plugins: smpp_router::channels::plugin::Plugins::new(
                std::env::temp_dir().join("smpp-router-bench-plugins"),
            ),
            shards: Arc::new(smpp_router::shards::Shards::none()),
            leases: None,
        },
    )
    .unwrap();
    let builtin = Accepting(AtomicU64::new(0));
    let msg = message();
    let mut g = c.benchmark_group("channel_submit");
    // As the routing engine does: may the channel take it at all (a plugin of ABI 1.1 is asked,
    // `declines`), then the submit.
    g.bench_function("builtin", |b| {
        b.iter(|| {
            assert!(std::hint::black_box(builtin.refuses(&msg)).is_none());
            rt.block_on(builtin.submit(&msg))
        });
    });
    g.bench_function("plugin", |b| {
        b.iter(|| {
            assert!(std::hint::black_box(plugin.refuses(&msg)).is_none());
            rt.block_on(plugin.submit(&msg))
        });
    });
    // The submit alone (what a 1.0 plugin costs: it is never asked whether it declines).
    g.bench_function("plugin_submit_only", |b| {
        b.iter(|| rt.block_on(plugin.submit(&msg)));
    });
    g.finish();
    let Attempt::Accepted { channel_id, .. } = rt.block_on(plugin.submit(&msg)) else {
        panic!("the plugin did not accept");
    };
    assert!(channel_id.starts_with("sim-"));
}

criterion_group!(benches, bench);
criterion_main!(benches);
