//! The channel when the platform misbehaves: no answer, dropped connections, server errors,
//! nothing listening, no free request slot, the circuit breaker, keep-alive reuse — and the
//! throughput check (`#[ignore]`, run in release mode; see the test's documentation).

use std::time::Duration;

use tokio::time::Instant;

use super::common::{account, channel, message, number, stand_in};
use smpp_router::channels::imessage::*;
use smpp_router::channels::{Attempt, Channel};
use smpp_router::smpp::CommandStatus;
use smpp_router_tools::sim::otpblue::{Knobs, Latency};

const TEXT: &str = "Your code is 482913";

#[tokio::test]
async fn no_answer_is_unknown_after_the_timeout_with_exactly_one_request() {
    let knobs = Knobs {
        timeout_share: 1.0,
        ..Knobs::default()
    };
    let to = number(&knobs, "1415555", 11, true);
    let (addr, stats) = stand_in(knobs).await;
    let ch = channel(addr, "timeout = \"300ms\"");
    let t0 = Instant::now();
    let got = ch
        .submit(&message(&account("acme", None), &to, TEXT, None))
        .await;
    assert_eq!(got, Attempt::Unknown);
    assert!(t0.elapsed() >= Duration::from_millis(300));
    // Give a (wrong) resend every chance to show up.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(stats.requests(), 1);
    assert_eq!(stats.unanswered(), 1);
}

#[tokio::test]
async fn dropped_connections_and_server_errors_are_unknown_never_resent() {
    for knobs in [
        Knobs {
            drop_share: 1.0,
            ..Knobs::default()
        },
        Knobs {
            error_share: 1.0,
            ..Knobs::default()
        },
    ] {
        let to = number(&knobs, "1415555", 11, true);
        let (addr, stats) = stand_in(knobs).await;
        let ch = channel(addr, "");
        let got = ch
            .submit(&message(&account("acme", None), &to, TEXT, None))
            .await;
        assert_eq!(got, Attempt::Unknown);
        assert_eq!(stats.requests(), 1);
    }
}

#[tokio::test]
async fn nothing_listening_is_not_sent_and_opens_the_circuit() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        l.local_addr().unwrap_or_else(|e| panic!("{e}"))
    };
    let ch = channel(port, "");
    let m = message(&account("acme", None), "14155551234", TEXT, None);
    for _ in 0..breaker::FAILURES - 1 {
        assert_eq!(ch.submit(&m).await, Attempt::NotSent);
    }
    assert!(ch.is_up());
    assert_eq!(ch.submit(&m).await, Attempt::NotSent);
    assert!(
        !ch.is_up(),
        "open after {} failures in a row",
        breaker::FAILURES
    );
}

/// Requests that hang past the route's deadline are cut short by it, not by the channel's
/// timeout: they count as failures all the same, and open the circuit.
#[tokio::test]
async fn requests_cut_short_by_the_route_deadline_open_the_circuit() {
    let knobs = Knobs {
        timeout_share: 1.0,
        ..Knobs::default()
    };
    let to = number(&knobs, "1415555", 11, true);
    let (addr, _stats) = stand_in(knobs).await;
    let ch = channel(addr, "timeout = \"10s\"");
    let m = message(&account("acme", None), &to, TEXT, None);
    for _ in 0..breaker::FAILURES {
        let cut = tokio::time::timeout(Duration::from_millis(30), ch.submit(&m)).await;
        assert!(cut.is_err(), "the request hangs");
    }
    assert!(
        !ch.is_up(),
        "open after {} requests cut short",
        breaker::FAILURES
    );
}

#[tokio::test]
async fn no_free_slot_before_the_timeout_is_not_sent() {
    let knobs = Knobs {
        latency: Latency::fixed(Duration::from_millis(600)),
        ..Knobs::default()
    };
    let to = number(&knobs, "1415555", 11, true);
    let (addr, stats) = stand_in(knobs).await;
    let ch = channel(addr, "timeout = \"300ms\"\nmax_concurrent = 1");
    let acc = account("acme", None);
    let (a, b) = tokio::join!(
        ch.submit(&message(&acc, &to, TEXT, None)),
        ch.submit(&message(&acc, &to, TEXT, None))
    );
    let mut got = [a, b];
    got.sort_by_key(|a| *a == Attempt::Unknown);
    assert_eq!(got, [Attempt::NotSent, Attempt::Unknown]);
    assert_eq!(stats.requests(), 1);
}

#[tokio::test]
async fn connections_are_kept_alive() {
    let knobs = Knobs::default();
    let to = number(&knobs, "1415555", 11, true);
    let (addr, stats) = stand_in(knobs).await;
    let ch = channel(addr, "");
    for _ in 0..5 {
        let got = ch
            .submit(&message(&account("acme", None), &to, TEXT, None))
            .await;
        assert!(matches!(got, Attempt::Accepted { .. }));
    }
    assert_eq!(stats.connections(), 1);
    assert_eq!(ch.idle_connections(), 1);
}

#[test]
fn https_without_a_ca_bundle_is_a_configuration_error() {
    let t: toml::Table = "api_key = \"k\"\nca_file = \"/nonexistent/ca.pem\""
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    match from_settings("imessage", &t) {
        Ok(_) => panic!("accepted"),
        Err(e) => assert!(e.to_string().starts_with("ca_file:"), "{e}"),
    }
}

/// Throughput: 900 concurrent senders against the stand-in answering in 250 ms (half the numbers
/// with iMessage), counting the answers that arrive in a 5 s window after a 1 s warm-up (the
/// ceiling is 900 / 0.25 s = 3,600 requests/s). Client and stand-in share the process.
///
/// `cargo test --release -p smpp-router -j2 --test imessage_stand_in -- --ignored --nocapture imessage_throughput`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, run in release mode"]
async fn imessage_throughput() {
    use std::sync::atomic::{AtomicU64, Ordering};
    let knobs = Knobs {
        latency: Latency::fixed(Duration::from_millis(250)),
        no_imessage_share: 0.5,
        ..Knobs::default()
    };
    let with = number(&knobs, "1415555", 11, true);
    let without = number(&knobs, "1415555", 11, false);
    let (addr, stats) = stand_in(knobs).await;
    let ch = std::sync::Arc::new(channel(addr, ""));
    let acc = account("acme", None);
    let warm = Instant::now() + Duration::from_secs(1);
    let until = warm + Duration::from_secs(5);
    let counted = std::sync::Arc::new(AtomicU64::new(0));
    let failed = std::sync::Arc::new(AtomicU64::new(0));
    let cpu_before = cpu_seconds();
    let mut tasks = Vec::new();
    for i in 0..900 {
        let (ch, counted, failed) = (ch.clone(), counted.clone(), failed.clone());
        let m = message(&acc, if i % 2 == 0 { &with } else { &without }, TEXT, None);
        tasks.push(tokio::spawn(async move {
            while Instant::now() < until {
                let got = ch.submit(&m).await;
                let now = Instant::now();
                if !matches!(
                    got,
                    Attempt::Accepted { .. } | Attempt::Refused(CommandStatus::RSUBMITFAIL)
                ) {
                    failed.fetch_add(1, Ordering::Relaxed);
                } else if now >= warm && now < until {
                    counted.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let cpu = cpu_seconds() - cpu_before;
    let n = counted.load(Ordering::Relaxed);
    println!(
        "imessage throughput: {:.0} requests/s over 5 s at 250 ms latency, 900 concurrent \
         ({} failed; stand-in saw {} requests on {} connections; {:.1} µs CPU per request, \
         client and stand-in together)",
        n as f64 / 5.0,
        failed.load(Ordering::Relaxed),
        stats.requests(),
        stats.connections(),
        cpu * 1e6 / stats.requests().max(1) as f64,
    );
    assert_eq!(failed.load(Ordering::Relaxed), 0);
}

/// User + system CPU time of this process (Linux; 0 elsewhere).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<f64> = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    f.iter().sum::<f64>() / 100.0
}
