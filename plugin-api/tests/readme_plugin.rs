//! The plugin and the test in the manual's "Writing a channel plugin" (docs/plugins.md), compiled and run as
//! written: the test below also checks that the manual still shows exactly this code.

#![allow(clippy::unwrap_used)]

// README-BEGIN plugin
use smpp_router_plugin_api::{
    Completion, Health, Host, Message, Outcome, Plugin, Receipt, State, export_plugin,
};
use std::sync::Mutex;

pub struct MyChannel {
    host: Host,
    // your client, threads or runtime; a worker thread and its queue, say:
    work: Mutex<Option<std::sync::mpsc::Sender<(String, bool, Completion)>>>,
    worker: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Plugin for MyChannel {
    /// `smpp-router check` and every reload call this first: parse, start nothing.
    fn validate(config: &str) -> Result<(), String> {
        serde_json::from_str::<serde_json::Value>(config)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// `config` is the channel's `[channel.config]` table as JSON. An Err rejects the reload.
    fn create(config: &str, host: Host) -> Result<Self, String> {
        Self::validate(config)?;
        let (tx, rx) = std::sync::mpsc::channel::<(String, bool, Completion)>();
        let worker = std::thread::spawn(move || {
            for (id, wants_receipt, completion) in rx {
                // ... hand the message to the far side here ...
                completion.accepted(id.clone()); // the id receipts will name (≤ 64 bytes)
                if wants_receipt {
                    // later, when the far side knows; the router waits for its own answer first
                    let _ = host.emit_receipt(&Receipt {
                        message_id: id,
                        state: State::Delivered,
                        error: 0,
                    });
                }
            }
        });
        Ok(MyChannel {
            host,
            work: Mutex::new(Some(tx)),
            worker: Mutex::new(Some(worker)),
        })
    }

    /// Must not block: hand the work to your own threads and complete from there, exactly once.
    fn submit(&self, message: Message<'_>, completion: Completion) {
        // message.id, .account, .source, .destination, .text, .payload, .data_coding,
        // .esm_class, .registered_delivery (see "The message" below)
        let id = format!("my-{}", message.id);
        match self.work.lock().unwrap().as_ref() {
            Some(tx) => {
                let _ = tx.send((id, message.wants_receipt(), completion));
            }
            None => completion.complete(Outcome::NotSent),
        }
    }

    fn health(&self) -> Health {
        Health::Up
    } // polled every second

    /// No submit arrives during or after drain: finish what is in flight.
    fn drain(&self) {
        self.work.lock().unwrap().take(); // closes the queue; the worker ends
        if let Some(w) = self.worker.lock().unwrap().take() {
            let _ = w.join();
        }
        self.host.count("drained", 1.0);
    }
}
// Drop is the destroy. After it the `Host` must not be used: stop and join every thread that
// holds one (here `drain` already did).

export_plugin!(MyChannel);
// README-END plugin

// README-BEGIN test
#[test]
fn accepts_and_reports_delivery() {
    use smpp_router_plugin_api::testing::{TestHost, TestMessage};
    use smpp_router_plugin_api::{Outcome, State};
    assert!(TestHost::validate::<MyChannel>("not json").is_err());
    let host = TestHost::start::<MyChannel>("{}").unwrap();
    let msg = TestMessage::new("+447911123456", "hello");
    let outcome = host.submit(&msg).unwrap();
    assert_eq!(
        outcome,
        Outcome::Accepted {
            message_id: format!("my-{}", msg.id),
            final_state: None
        }
    );
    let receipt = host
        .wait_receipt(std::time::Duration::from_secs(1))
        .unwrap();
    assert_eq!(receipt.state, State::Delivered);
    assert_eq!(host.invalid_metrics(), 0);
}
// README-END test

#[test]
fn the_manual_shows_this_code() {
    let manual = include_str!("../../docs/plugins.md");
    let me = include_str!("readme_plugin.rs");
    for part in ["plugin", "test"] {
        let begin = format!("// README-BEGIN {part}\n");
        let start = me.find(&begin).unwrap() + begin.len();
        let end = me.find(&format!("// README-END {part}")).unwrap();
        let code = &me[start..end];
        assert!(
            manual.contains(&format!("```rust\n{code}```")),
            "docs/plugins.md's {part} block differs from plugin-api/tests/readme_plugin.rs"
        );
    }
}
