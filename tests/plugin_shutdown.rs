//! At shutdown the router lets plugins finish: receipts a plugin still holds are emitted during
//! its drain and stored for the client. (Its own test binary: the drain reaches every plugin in
//! the process.)

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::json;
use smpp_router_e2e::{LiveRouter, account, count, plugin_library, scratch_dir, smpplib};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_plugins_at_shutdown_keeps_the_receipts_they_still_hold() {
    let path = scratch_dir("plugin-drain").join("routes.toml");
    std::fs::write(
        &path,
        format!(
            "{}[[channel]]\nname = \"slow-receipts\"\nkind = \"plugin\"\npath = \"{}\"\n[channel.config]\nlatency = \"1ms\"\nreceipt_delay = \"4s\"\n\n[[route]]\nname = \"r\"\nchannels = [\"slow-receipts\"]\n",
            account("acme", "pw", ""),
            plugin_library("smpp-router-plugin-simulated").display()
        ),
    )
    .unwrap();
    let live = LiveRouter::start(&path).await;
    // A transmitter sends and leaves; the receipts are still inside the plugin.
    let out = smpplib(
        live.plain,
        false,
        json!([
            {"op": "bind", "mode": "tx", "system_id": "acme", "password": "pw"},
            {"op": "submit", "count": 3, "window": 3, "to": "447911123456", "registered_delivery": 1, "text": "hi"},
            {"op": "unbind"},
        ]),
    )
    .await;
    assert_eq!(count(&out[1], 0), 3, "{out:?}");
    assert_eq!(live.store.stats().queue_depth, 0);
    live.plugins.drain_all(Duration::from_secs(10)).await;
    assert_eq!(
        live.store.stats().queue_depth,
        3,
        "the receipts the plugin held are stored for the client"
    );
}
