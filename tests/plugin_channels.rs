//! Plugin channels end to end: the example plugins, built as the shared libraries the router
//! loads, configured in routes.toml and reached by a real SMPP client (`smpplib`); failover when
//! a plugin refuses, panics, times out or reports itself down; libraries of the wrong ABI or
//! without the entry symbol refused with clear errors; plugins added and replaced by editing
//! routes.toml while messages flow.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use smpp_router::config::RoutesFile;
use smpp_router_e2e::{
    LiveRouter, account, assert_receipts, count, free_port, plugin_library, scratch_dir, smpplib,
    wait_listening,
};

/// A `[[channel]]` of kind plugin for the library of `package`.
fn plugin(name: &str, package: &str, settings: &str, config: &str) -> String {
    plugin_at(name, &plugin_library(package), settings, config)
}

fn plugin_at(name: &str, path: &Path, settings: &str, config: &str) -> String {
    format!(
        "[[channel]]\nname = \"{name}\"\nkind = \"plugin\"\npath = \"{}\"\n{settings}\n[channel.config]\n{config}\n\n",
        path.display()
    )
}

fn routes_file(body: &str) -> String {
    format!(
        "{}{body}",
        account("acme", "pw", "tps = 100000\nwindow = 100")
    )
}

async fn router(body: &str) -> (LiveRouter, PathBuf) {
    let path = scratch_dir("plugins").join("routes.toml");
    std::fs::write(&path, routes_file(body)).unwrap();
    (LiveRouter::start(&path).await, path)
}

/// What `/metrics` shows of this router's counters.
fn metrics(live: &LiveRouter) -> String {
    let mut out = String::new();
    live.metrics.render(&mut out);
    out
}

fn submit_plan(n: usize, to: &str, window: usize) -> Value {
    json!([
        {"op": "bind", "mode": "trx", "system_id": "acme", "password": "pw"},
        {"op": "submit", "count": n, "window": window, "to": to, "registered_delivery": 1,
         "text": "Hello through a plugin", "all_ids": true},
        {"op": "wait_receipts", "count": n, "show": n, "timeout": 30},
        {"op": "unbind"},
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulated_plugin_delivers_and_its_receipts_reach_the_client() {
    let (live, _) = router(&format!(
        "{}[[route]]\nname = \"r\"\nchannels = [\"sim\"]\n",
        plugin(
            "sim",
            "smpp-router-plugin-simulated",
            "",
            "latency = \"5ms\"\nreceipt_delay = \"20ms\"\nundeliverable_prefixes = [\"+1415\"]"
        )
    ))
    .await;
    let out = smpplib(live.plain, false, submit_plan(5, "447911123456", 5)).await;
    assert_eq!(count(&out[1], 0), 5, "{out:?}");
    assert_receipts(&out[1], &out[2], 5, "DELIVRD");
    let id = out[1]["ids"][0].as_str().unwrap();
    let record = live.store.by_router_id(id).unwrap().unwrap();
    assert_eq!(record.channel, "sim");
    assert!(record.channel_id.starts_with("sim-"), "{record:?}");

    let out = smpplib(live.plain, false, submit_plan(2, "14155551234", 2)).await;
    assert_eq!(count(&out[1], 0), 2, "{out:?}");
    assert_receipts(&out[1], &out[2], 2, "UNDELIV");
    assert!(metrics(&live).contains("smpp_router_plugin_up{channel=\"sim\"} 1"));
}

/// A webhook receiver: answers `{"id": "wh-N"}` and keeps the JSON bodies.
fn webhook_server() -> (String, Arc<Mutex<Vec<Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/messages", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let kept = kept.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut len = 0;
                    loop {
                        line.clear();
                        reader.read_line(&mut line).unwrap();
                        if line == "\r\n" {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; len];
                    reader.read_exact(&mut body).unwrap();
                    let n = {
                        let mut seen = kept.lock().unwrap();
                        seen.push(serde_json::from_slice(&body).unwrap());
                        seen.len()
                    };
                    let answer = format!(r#"{{"id":"wh-{n}"}}"#);
                    let mut s = &stream;
                    let _ = write!(
                        s,
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
                        answer.len()
                    );
                }
            });
        }
    });
    (url, seen)
}

fn post_callback(port: u16, body: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "POST /status HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
}

/// Parts of a long message reach a plugin with their text after the user data header, not the
/// header decoded as text (a UCS-2 part with a header arrived as garbage).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_parts_of_a_long_message_reach_a_plugin_as_text() {
    let (url, seen) = webhook_server();
    let (live, _) = router(&format!(
        "{}[[route]]\nname = \"r\"\nchannels = [\"partner\"]\n",
        plugin(
            "partner",
            "smpp-router-plugin-webhook",
            "timeout = \"5s\"",
            &format!("url = \"{url}\"\ntimeout = \"2s\"")
        )
    ))
    .await;
    let text = "Ваш код подтверждения 482910. Никому его не сообщайте, даже сотрудникам банка.";
    let out = smpplib(
        live.plain,
        false,
        json!([
            {"op": "bind", "mode": "tx", "system_id": "acme", "password": "pw"},
            {"op": "submit", "count": 1, "parts": true, "to": "447911123456", "text": text},
            {"op": "unbind"},
        ]),
    )
    .await;
    assert_eq!(count(&out[1], 0), 2, "two UCS-2 parts: {out:?}");
    let bodies = seen.lock().unwrap().clone();
    let parts: Vec<&str> = bodies.iter().map(|b| b["text"].as_str().unwrap()).collect();
    assert_eq!(parts.len(), 2, "{bodies:?}");
    assert_eq!(
        parts.concat(),
        text,
        "each part's text, in order, is the message"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_plugin_posts_messages_and_status_callbacks_become_receipts() {
    let (url, seen) = webhook_server();
    let callbacks = free_port();
    let (live, _) = router(&format!(
        "{}[[route]]\nname = \"r\"\nchannels = [\"partner\"]\n",
        plugin(
            "partner",
            "smpp-router-plugin-webhook",
            "timeout = \"5s\"",
            &format!(
                "url = \"{url}\"\ntimeout = \"2s\"\nreceipt_listen = \"127.0.0.1:{callbacks}\"\nheaders = {{ x-api-key = \"k\" }}"
            )
        )
    ))
    .await;
    let plan = tokio::spawn(smpplib(
        live.plain,
        false,
        submit_plan(3, "447911123456", 3),
    ));
    // The partner's service reports each message delivered once it has seen it.
    let t0 = Instant::now();
    while seen.lock().unwrap().len() < 3 {
        assert!(t0.elapsed() < Duration::from_secs(10), "webhook not called");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for n in 1..=3 {
        let answer = tokio::task::spawn_blocking(move || {
            post_callback(
                callbacks,
                &format!(r#"{{"id":"wh-{n}","status":"delivered"}}"#),
            )
        })
        .await
        .unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    let out = plan.await.unwrap();
    assert_eq!(count(&out[1], 0), 3, "{out:?}");
    assert_receipts(&out[1], &out[2], 3, "DELIVRD");
    let bodies = seen.lock().unwrap().clone();
    let ids: Vec<&str> = bodies.iter().map(|b| b["id"].as_str().unwrap()).collect();
    for id in out[1]["ids"].as_array().unwrap() {
        assert!(
            ids.contains(&id.as_str().unwrap()),
            "the webhook got the router id"
        );
    }
    assert_eq!(bodies[0]["to"], "+447911123456");
    assert_eq!(bodies[0]["text"], "Hello through a plugin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_fail_over_when_a_plugin_refuses_panics_or_times_out() {
    let (live, _) = router(&format!(
        "{}{}{}[[route]]\nname = \"slow\"\nprefixes = [\"1212\"]\nchannels = [\"hangs\", \"fallback\"]\nnext_after_unknown = true\n\
         [[route]]\nname = \"r\"\nchannels = [\"faulty\", \"fallback\"]\n",
        plugin(
            "faulty",
            "test-plugin-faulty",
            "",
            "refuse = \"+4479\"\npanic = \"+1415\""
        ),
        plugin(
            "hangs",
            "test-plugin-faulty",
            "timeout = \"300ms\"",
            "hang = \"+1212\""
        ),
        plugin(
            "fallback",
            "smpp-router-plugin-simulated",
            "",
            "latency = \"1ms\"\nreceipt_delay = \"1ms\""
        ),
    ))
    .await;
    let fallback = |out: &[Value]| {
        let id = out[1]["ids"][0].as_str().unwrap().to_string();
        live.store.by_router_id(&id).unwrap().unwrap()
    };
    // Refused: a definite answer, the next channel takes it.
    let out = smpplib(live.plain, false, submit_plan(1, "447911123456", 1)).await;
    assert_eq!(count(&out[1], 0), 1, "{out:?}");
    let r = fallback(&out);
    assert_eq!(r.channel, "fallback");
    assert!(
        r.attempts.starts_with("faulty refused_0x45"),
        "{}",
        r.attempts
    );

    // No completion within the plugin's timeout: unknown; this route allows the next channel.
    // The third timeout in a row skips the plugin for a while.
    for n in 1..=3 {
        let out = smpplib(live.plain, false, submit_plan(1, "12125551234", 1)).await;
        assert_eq!(count(&out[1], 0), 1, "{out:?}");
        let r = fallback(&out);
        assert!(
            r.attempts.starts_with("hangs unknown 3"),
            "{n}: {}",
            r.attempts
        );
    }
    assert!(
        metrics(&live)
            .contains("smpp_router_plugin_events_total{channel=\"hangs\",event=\"timeout\"} 3")
    );
    assert!(
        !live.router.table().channels["hangs"].is_up(),
        "skipped after three timeouts"
    );
    let out = smpplib(live.plain, false, submit_plan(1, "12125551234", 1)).await;
    assert!(fallback(&out).attempts.starts_with("hangs down"), "{out:?}");

    // A panic: caught at the boundary, the message fails over and the plugin is disabled.
    let out = smpplib(live.plain, false, submit_plan(1, "14155551234", 1)).await;
    assert_eq!(count(&out[1], 0), 1, "{out:?}");
    assert_eq!(fallback(&out).channel, "fallback");
    assert!(!live.router.table().channels["faulty"].is_up());
    let m = metrics(&live);
    assert!(
        m.contains("smpp_router_plugin_events_total{channel=\"faulty\",event=\"panic\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("smpp_router_plugin_up{channel=\"faulty\"} 0"),
        "{m}"
    );

    // Disabled: skipped without an attempt, even for a message it would have accepted.
    let out = smpplib(live.plain, false, submit_plan(1, "33612345678", 1)).await;
    assert_eq!(count(&out[1], 0), 1, "{out:?}");
    let r = fallback(&out);
    assert!(r.attempts.starts_with("faulty down"), "{}", r.attempts);
    assert_receipts(&out[1], &out[2], 1, "DELIVRD");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_that_reports_itself_down_is_skipped() {
    let (live, _) = router(&format!(
        "{}{}[[route]]\nname = \"r\"\nchannels = [\"sleepy\", \"backup\"]\n",
        plugin("sleepy", "test-plugin-faulty", "", "down = true"),
        plugin(
            "backup",
            "smpp-router-plugin-simulated",
            "",
            "latency = \"1ms\""
        ),
    ))
    .await;
    let t0 = Instant::now();
    while live.router.table().channels["sleepy"].is_up() {
        assert!(t0.elapsed() < Duration::from_secs(5), "health not polled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let out = smpplib(live.plain, false, submit_plan(2, "447911123456", 2)).await;
    assert_eq!(count(&out[1], 0), 2, "{out:?}");
    let id = out[1]["ids"][0].as_str().unwrap();
    let r = live.store.by_router_id(id).unwrap().unwrap();
    assert_eq!(r.channel, "backup");
    assert!(r.attempts.starts_with("sleepy down"), "{}", r.attempts);
    assert!(metrics(&live).contains("smpp_router_plugin_up{channel=\"sleepy\"} 0"));
}

fn errors_of(body: &str) -> String {
    let text = routes_file(body);
    let errors = RoutesFile::parse(
        Path::new("routes.toml"),
        &text,
        &smpp_router::channels::ChannelKinds::builtin(),
    )
    .unwrap_err();
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libraries_of_another_abi_or_without_the_entry_symbol_are_refused_clearly() {
    let route = "[[route]]\nname = \"r\"\nchannels = [\"x\"]\n";
    let wrong = plugin_library("test-plugin-wrong-abi");
    let e = errors_of(&format!(
        "{}{route}",
        plugin("x", "test-plugin-wrong-abi", "", "")
    ));
    assert!(e.contains(&wrong.display().to_string()), "{e}");
    assert!(
        e.contains("plugin ABI 2.0 is not compatible with this router's ABI 1.1"),
        "{e}"
    );
    assert!(e.contains("routes.toml:"), "errors carry their line: {e}");

    let none = plugin_library("test-plugin-not-a-plugin");
    let e = errors_of(&format!(
        "{}{route}",
        plugin("x", "test-plugin-not-a-plugin", "", "")
    ));
    assert!(e.contains(&none.display().to_string()), "{e}");
    assert!(e.contains("no `smpp_router_plugin_entry` symbol"), "{e}");

    let e = errors_of(&format!(
        "{}{route}",
        plugin_at("x", Path::new("/nonexistent/libnothing.so"), "", "")
    ));
    assert!(
        e.contains("/nonexistent/libnothing.so") && e.contains("No such file"),
        "{e}"
    );

    // A config the plugin's validate refuses: found by `check`, with the file's other errors.
    let e = errors_of(&format!(
        "{}{route}",
        plugin("x", "smpp-router-plugin-simulated", "", "latncy = \"1ms\"")
    ));
    assert!(
        e.contains("config: configuration: unknown field `latncy`"),
        "{e}"
    );

    // A plugin whose create fails (here: its callback port is taken) rejects a reload; the old
    // table keeps serving.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let (live, path) = router(&format!(
        "{}[[route]]\nname = \"r\"\nchannels = [\"sim\"]\n",
        plugin(
            "sim",
            "smpp-router-plugin-simulated",
            "",
            "latency = \"1ms\""
        )
    ))
    .await;
    let generation = live.router.status().generation;
    std::fs::write(
        &path,
        routes_file(&format!(
            "{}{}[[route]]\nname = \"r\"\nchannels = [\"sim\"]\n",
            plugin(
                "sim",
                "smpp-router-plugin-simulated",
                "",
                "latency = \"1ms\""
            ),
            plugin(
                "hook",
                "smpp-router-plugin-webhook",
                "",
                &format!(
                    "url = \"http://127.0.0.1:9/\"\nreceipt_listen = \"{}\"",
                    taken.local_addr().unwrap()
                )
            ),
        )),
    )
    .unwrap();
    let errors = live.router.reload().unwrap_err();
    let text = format!("{errors:?}");
    assert!(
        text.contains("create failed") && text.contains("receipt_listen"),
        "{text}"
    );
    assert_eq!(live.router.status().generation, generation);
    let out = smpplib(live.plain, false, submit_plan(1, "447911123456", 1)).await;
    assert_eq!(count(&out[1], 0), 1, "the old table still serves: {out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_are_added_and_replaced_by_editing_routes_under_load_without_losing_a_message() {
    let sim = plugin_library("smpp-router-plugin-simulated");
    let dir = scratch_dir("plugin-swap");
    // A second build of the plugin, installed under a new path as an operator would.
    let v2 = dir.join("libsim-v2.so");
    std::fs::copy(&sim, &v2).unwrap();
    let config = |prefix: &str| {
        format!("latency = \"5ms\"\nreceipt_delay = \"5ms\"\nid_prefix = \"{prefix}\"")
    };
    let (live, path) = router(&format!(
        "{}[[route]]\nname = \"r\"\nchannels = [\"a\"]\n",
        plugin_at("a", &sim, "", &config("a1-"))
    ))
    .await;
    let n = 600;
    let plan = tokio::spawn(smpplib(
        live.plain,
        false,
        submit_plan(n, "447911123456", 1),
    ));
    let edits = [
        // Hot-add channel b and route to it first.
        format!(
            "{}{}[[route]]\nname = \"r\"\nchannels = [\"b\", \"a\"]\n",
            plugin_at("a", &sim, "", &config("a1-")),
            plugin_at("b", &sim, "", &config("b1-"))
        ),
        // Replace b with the new library (a new path) and a changed configuration.
        format!(
            "{}{}[[route]]\nname = \"r\"\nchannels = [\"b\", \"a\"]\n",
            plugin_at("a", &sim, "", &config("a1-")),
            plugin_at("b", &v2, "", &config("b2-"))
        ),
        // Remove a.
        format!(
            "{}[[route]]\nname = \"r\"\nchannels = [\"b\"]\n",
            plugin_at("b", &v2, "", &config("b2-"))
        ),
    ];
    // Edit only once messages flow (the client takes a while to start on a loaded machine).
    let t0 = Instant::now();
    while !metrics(&live)
        .contains("smpp_router_channel_attempts_total{channel=\"a\",outcome=\"accepted\"}")
    {
        assert!(t0.elapsed() < Duration::from_secs(30), "no traffic");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut generations = vec![live.router.status().generation];
    for edit in edits {
        tokio::time::sleep(Duration::from_millis(300)).await;
        std::fs::write(&path, routes_file(&edit)).unwrap();
        let t0 = Instant::now();
        while live.router.status().generation == *generations.last().unwrap() {
            assert!(
                t0.elapsed() < Duration::from_secs(5),
                "reload not picked up"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        generations.push(live.router.status().generation);
    }
    assert!(
        !plan.is_finished(),
        "every edit happened while messages were flowing"
    );
    let out = plan.await.unwrap();
    assert_eq!(
        count(&out[1], 0),
        n as u64,
        "every submit accepted: {:?}",
        out[1]["statuses"]
    );
    assert_receipts(&out[1], &out[2], n, "DELIVRD");
    let prefixes = |out: &[Value]| -> std::collections::BTreeSet<String> {
        out[1]["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|id| {
                let r = live
                    .store
                    .by_router_id(id.as_str().unwrap())
                    .unwrap()
                    .unwrap();
                r.channel_id[..3].to_string()
            })
            .collect()
    };
    assert!(prefixes(&out).contains("a1-"), "{:?}", prefixes(&out));
    // After the edits, messages go to the replacement library.
    let after = smpplib(live.plain, false, submit_plan(20, "447911123456", 5)).await;
    assert_receipts(&after[1], &after[2], 20, "DELIVRD");
    assert_eq!(
        prefixes(&after),
        std::collections::BTreeSet::from(["b2-".to_string()])
    );
    assert!(live.router.status().errors.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_at_its_in_flight_cap_takes_no_more_and_messages_fail_over() {
    let (live, _) = router(&format!(
        "{}{}[[route]]\nname = \"r\"\nchannels = [\"capped\", \"spare\"]\nnext_after_unknown = true\n",
        plugin(
            "capped",
            "test-plugin-faulty",
            "timeout = \"1s\"\nmax_in_flight = 1",
            "hang = \"+1212\""
        ),
        plugin("spare", "smpp-router-plugin-simulated", "", "latency = \"1ms\""),
    ))
    .await;
    // Two at once: the first holds the only slot until its timeout; the second finds the
    // plugin full, is not sent there, and goes to the next channel.
    let out = smpplib(live.plain, false, submit_plan(2, "12125551234", 2)).await;
    assert_eq!(count(&out[1], 0), 2, "{out:?}");
    let attempts: Vec<String> = out[1]["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| {
            live.store
                .by_router_id(id.as_str().unwrap())
                .unwrap()
                .unwrap()
                .attempts
        })
        .collect();
    assert!(
        attempts.iter().any(|a| a.starts_with("capped unknown")),
        "{attempts:?}"
    );
    assert!(
        attempts.iter().any(|a| a.starts_with("capped not_sent")),
        "{attempts:?}"
    );
    assert!(
        metrics(&live)
            .contains("smpp_router_plugin_events_total{channel=\"capped\",event=\"at_capacity\"}")
    );
}

/// An operator copies a new build over the installed library (`cp`, in place) while the router
/// runs it: the router is not hurt — it runs a private copy of each build — and the next reload
/// takes the new build.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_library_overwritten_in_place_does_not_hurt_and_the_next_reload_takes_it() {
    let sim = plugin_library("smpp-router-plugin-simulated");
    let other = plugin_library("smpp-router-plugin-webhook");
    let installed = scratch_dir("plugin-overwrite").join("libchannel.so");
    std::fs::copy(&sim, &installed).unwrap();
    let config = "latency = \"5ms\"\nreceipt_delay = \"5ms\"";
    let body = format!(
        "{}[[route]]\nname = \"r\"\nchannels = [\"a\"]\n",
        plugin_at("a", &installed, "", config)
    );
    let (live, _path) = router(&body).await;
    let out = smpplib(live.plain, false, submit_plan(3, "447911123456", 3)).await;
    assert_eq!(count(&out[1], 0), 3, "{out:?}");
    // Overwritten in place with another library altogether, while loaded.
    std::fs::write(&installed, std::fs::read(&other).unwrap()).unwrap();
    let out = smpplib(live.plain, false, submit_plan(3, "447911123456", 3)).await;
    assert_eq!(
        count(&out[1], 0),
        3,
        "the running build is untouched: {out:?}"
    );
    // A new build of the plugin (the same code, one more byte) at the same path: a reload
    // replaces the channel with it.
    let mut rebuilt = std::fs::read(&sim).unwrap();
    rebuilt.push(0);
    std::fs::write(&installed, rebuilt).unwrap();
    let before = live.router.table().channels["a"].clone();
    live.router.reload().unwrap();
    let after = live.router.table().channels["a"].clone();
    assert!(!Arc::ptr_eq(&before, &after), "the new build is loaded");
    let out = smpplib(live.plain, false, submit_plan(3, "447911123456", 3)).await;
    assert_eq!(count(&out[1], 0), 3, "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_declines_messages_not_for_it_and_the_route_goes_on() {
    let (live, _) = router(&format!(
        "{}{}[[route]]\nname = \"only\"\nprefixes = [\"1646\"]\nchannels = [\"picky\"]\n\
         [[route]]\nname = \"r\"\nchannels = [\"picky\", \"fallback\"]\n",
        plugin(
            "picky",
            "smpp-router-plugin-simulated",
            "",
            "latency = \"1ms\"\nid_prefix = \"picky-\"\ndecline_prefixes = [\"+1212\", \"+1646\"]"
        ),
        plugin(
            "fallback",
            "smpp-router-plugin-simulated",
            "",
            "latency = \"1ms\"\nreceipt_delay = \"1ms\""
        ),
    ))
    .await;
    // Not for it: the next channel takes it, without an attempt on the plugin and without
    // counting against it.
    let out = smpplib(live.plain, false, submit_plan(2, "12125551234", 2)).await;
    assert_eq!(count(&out[1], 0), 2, "{out:?}");
    assert_receipts(&out[1], &out[2], 2, "DELIVRD");
    let id = out[1]["ids"][0].as_str().unwrap();
    let r = live.store.by_router_id(id).unwrap().unwrap();
    assert_eq!(r.channel, "fallback");
    assert!(
        r.attempts
            .starts_with("picky refused_0x0B 0ms; fallback accepted"),
        "{}",
        r.attempts
    );
    // For it: taken.
    let out = smpplib(live.plain, false, submit_plan(1, "447911123456", 1)).await;
    let id = out[1]["ids"][0].as_str().unwrap();
    assert_eq!(
        live.store.by_router_id(id).unwrap().unwrap().channel,
        "picky"
    );
    // Nobody else on the route: the client gets the plugin's status.
    let out = smpplib(
        live.plain,
        false,
        json!([
            {"op": "bind", "mode": "trx", "system_id": "acme", "password": "pw"},
            {"op": "submit", "count": 1, "to": "16465551234", "text": "x"},
            {"op": "unbind"},
        ]),
    )
    .await;
    assert_eq!(count(&out[1], 0x0B), 1, "{out:?}");
    let m = metrics(&live);
    assert!(
        m.contains("smpp_router_plugin_up{channel=\"picky\"} 1"),
        "{m}"
    );
    assert!(
        !m.contains("channel=\"picky\",event="),
        "a decline is no trouble: {m}"
    );
}

/// The router's own process with `RUST_BACKTRACE=1`: a plugin's panic is one line of the
/// router's log, with where it happened, and no backtrace (capturing one stalled the router's
/// thread for 100-200 ms) nor Rust's raw panic message on stderr.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_panic_is_one_line_of_the_router_log_without_a_backtrace() {
    let dir = scratch_dir("plugin-panic");
    let smpp = free_port();
    std::fs::write(
        dir.join("router.toml"),
        format!(
            "data_dir = \"{}\"\n[listen]\nplain = \"127.0.0.1:{smpp}\"\ntls = \"off\"\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("routes.toml"),
        routes_file(&format!(
            "{}{}[[route]]\nname = \"r\"\nchannels = [\"faulty\", \"fallback\"]\n",
            plugin("faulty", "test-plugin-faulty", "", "panic = \"+1415\""),
            plugin(
                "fallback",
                "smpp-router-plugin-simulated",
                "",
                "latency = \"1ms\""
            ),
        )),
    )
    .unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_smpp-router-under-test"))
        .args(["run", "--config"])
        .arg(dir.join("router.toml"))
        .env("RUST_BACKTRACE", "1")
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_listening(&[smpp]).await;
    let addr = format!("127.0.0.1:{smpp}").parse().unwrap();
    let out = smpplib(addr, false, submit_plan(1, "14155551234", 1)).await;
    let (_, log) = smpp_router_e2e::terminate(child);
    assert_eq!(count(&out[1], 0), 1, "failed over: {out:?}\n{log}");
    let line = log
        .lines()
        .find(|l| l.contains("plugin panicked in submit"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        line.contains("faulty plugin: panic requested (at tests/plugins/faulty/src/lib.rs:")
            && line.contains("faulty"),
        "{line}"
    );
    assert!(!log.contains("stack backtrace"), "{log}");
    assert!(
        !log.contains("panicked at"),
        "Rust's own panic message: {log}"
    );
}

/// A plugin asks the router for the one-time code (a host service, ABI 1.1) and declines texts
/// without one, as the iMessage channel does: the router's own extraction answers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_finds_codes_with_the_routers_extraction() {
    let (live, _) = router(&format!(
        "{}{}[[route]]\nname = \"r\"\nchannels = [\"coded\", \"fallback\"]\n",
        plugin(
            "coded",
            "smpp-router-plugin-simulated",
            "",
            "latency = \"1ms\"\nneeds_code = true"
        ),
        plugin(
            "fallback",
            "smpp-router-plugin-simulated",
            "",
            "latency = \"1ms\""
        ),
    ))
    .await;
    let plan = |text: &str| {
        json!([
            {"op": "bind", "mode": "trx", "system_id": "acme", "password": "pw"},
            {"op": "submit", "count": 1, "to": "447911123456", "text": text, "all_ids": true,
             "parts": true},
            {"op": "unbind"},
        ])
    };
    let channel_of = |out: &[Value]| {
        let id = out[1]["ids"][0].as_str().unwrap().to_string();
        live.store.by_router_id(&id).unwrap().unwrap()
    };
    // A code the router finds (Arabic-Indic digits read as ASCII, not the amount): for it.
    let out = smpplib(
        live.plain,
        false,
        plan("Your code is ٤٨٢٩١٠. Pay €25 by 12/02"),
    )
    .await;
    assert_eq!(count(&out[1], 0), 1, "{out:?}");
    assert_eq!(channel_of(&out).channel, "coded");
    // A phone number is not a code: not for it.
    let out = smpplib(live.plain, false, plan("Call us on +1 415 555 1234")).await;
    let r = channel_of(&out);
    assert_eq!(r.channel, "fallback");
    assert!(
        r.attempts.starts_with("coded refused_0x01 0ms"),
        "{}",
        r.attempts
    );
}
