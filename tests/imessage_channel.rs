//! The built-in iMessage channel end to end: a real client (`smpplib`) binds to the real router,
//! which talks HTTP to the stand-in OTP Blue API on a loopback port and fails over to a second
//! channel. The stand-in counts every request, so the tests can tell "refused without a request"
//! from "refused by the platform" and prove that nothing is sent twice.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use smpp_router_e2e::{LiveRouter, account, assert_receipts, count, scratch_dir, smpplib};
use smpp_router_tools::sim::otpblue::{self, Knobs, Latency, Stats};

const ROK: u32 = 0x00;
const RINVMSGLEN: u32 = 0x01;
const RSYSERR: u32 = 0x08;
const RINVDSTADR: u32 = 0x0B;
const RSUBMITFAIL: u32 = 0x45;

/// A US number the stand-in treats as having iMessage (`with = true`) or not.
fn us_number(knobs: &Knobs, with: bool) -> String {
    (14155551200u64..)
        .map(|n| n.to_string())
        .find(|n| otpblue::has_imessage(knobs, n) == with)
        .unwrap()
}

/// A German mobile number with iMessage.
fn german_number(knobs: &Knobs) -> String {
    (4915123456700u64..)
        .map(|n| n.to_string())
        .find(|n| otpblue::has_imessage(knobs, n))
        .unwrap()
}

struct Setup {
    live: LiveRouter,
    stats: Arc<Stats>,
    knobs: Knobs,
}

/// Starts the stand-in with `knobs`, then the router with an `imessage` channel pointed at it,
/// a test `sms` channel that delivers everything, and `routes` (the `[[route]]` entries).
async fn setup(knobs: Knobs, channel_extra: &str, routes: &str) -> Setup {
    let stats = knobs.stats.clone();
    let (api, _task) = otpblue::start(knobs.clone()).await.unwrap();
    let text = format!(
        "{acme}{paris}
[[channel]]
name = \"imessage\"
kind = \"imessage\"
base_url = \"http://{api}\"
api_key = \"{key}\"
{channel_extra}

[channel.accounts.paris]
language = \"fr\"

[[channel]]
name = \"sms\"
kind = \"test\"
outcomes = [\"delivered\"]

{routes}",
        acme = account(
            "acme",
            "pw",
            "tps = 100000\nwindow = 100\ndefault_sender = \"Acme\""
        ),
        paris = account("paris", "pw", "tps = 100000"),
        key = knobs.api_key,
    );
    let path = scratch_dir("imessage").join("routes.toml");
    std::fs::write(&path, text).unwrap();
    Setup {
        live: LiveRouter::start(&path).await,
        stats,
        knobs,
    }
}

const OTP_THEN_SMS: &str = "[[route]]\nname = \"otp\"\nchannels = [\"imessage\", \"sms\"]\n";

/// Binds `system_id` and runs one submit step with `submit`'s fields; returns the submit's
/// result and, when receipts were asked for, the receipts' result.
async fn submit(addr: SocketAddr, system_id: &str, submit: Value) -> (Value, Value) {
    let n = submit["count"].as_u64().unwrap_or(1);
    let mut step = json!({"op": "submit", "window": n});
    step.as_object_mut()
        .unwrap()
        .extend(submit.as_object().unwrap().clone());
    let wants_receipts = submit["registered_delivery"] == 1;
    let mut steps = vec![
        json!({"op": "bind", "mode": "trx", "system_id": system_id, "password": "pw"}),
        step,
    ];
    if wants_receipts {
        steps.push(json!({"op": "wait_receipts", "count": n, "show": n}));
    }
    steps.push(json!({"op": "unbind"}));
    let out = smpplib(addr, false, Value::Array(steps)).await;
    assert_eq!(out[0]["status"], 0, "bind: {out:?}");
    let receipts = if wants_receipts {
        out[2].clone()
    } else {
        Value::Null
    };
    (out[1].clone(), receipts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otp_is_delivered_over_imessage_with_a_receipt() {
    let s = setup(Knobs::default(), "", OTP_THEN_SMS).await;
    let to = us_number(&s.knobs, true);
    let (sent, receipts) = submit(
        s.live.plain,
        "acme",
        json!({"count": 3, "to": to, "from": "MyBank", "registered_delivery": 1,
               "text": "Your verification code is 482910"}),
    )
    .await;
    assert_eq!(count(&sent, ROK), 3, "{sent:?}");
    assert_receipts(&sent, &receipts, 3, "DELIVRD");
    assert_eq!((s.stats.requests(), s.stats.delivered()), (3, 3));
    let req = s.stats.last_request().unwrap();
    assert_eq!(req["contact"], format!("+{to}"));
    assert_eq!(req["code"], "482910");
    assert_eq!(
        req["sender"], "MyBank",
        "an alphanumeric sender is the subject"
    );
    assert_eq!(req["language"], "en", "a US number gets English");
    // Each message's history has the outcome and the receipt's way to the session that sent it.
    for id in sent["ids"].as_array().unwrap() {
        let key: u64 = id.as_str().unwrap().parse().unwrap();
        let delivered = |h: &[smpp_router::store::Event]| {
            h.iter().any(|e| {
                matches!(&e.kind, smpp_router::store::EventKind::Delivered { how, .. } if how == "direct")
            })
        };
        smpp_router_e2e::eventually("the receipt's delivery in the history", || {
            s.live.store.history(key).is_ok_and(|h| delivered(&h))
        })
        .await;
        let h = s.live.store.history(key).unwrap();
        assert!(h.iter().any(|e| e.final_receipt().is_some()), "{h:?}");
    }

    // Every seed example reaches the platform with its stated code.
    for (text, code) in [
        ("OTP: 123456", "123456"),
        ("Use code 482910 to verify your account", "482910"),
        ("482910", "482910"),
        ("Your PIN is 9821", "9821"),
        ("code: 482-910", "482910"),
    ] {
        let (sent, _) = submit(s.live.plain, "acme", json!({"to": to, "text": text})).await;
        assert_eq!(count(&sent, ROK), 1, "{text}: {sent:?}");
        assert_eq!(s.stats.last_request().unwrap()["code"], code, "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sender_and_language_follow_the_account_and_the_country() {
    let s = setup(Knobs::default(), "", OTP_THEN_SMS).await;
    let us = us_number(&s.knobs, true);
    let de = german_number(&s.knobs);

    // A numeric sender falls back to the account's default sender.
    let (sent, _) = submit(
        s.live.plain,
        "acme",
        json!({"to": us, "from": "447700900123"}),
    )
    .await;
    assert_eq!(count(&sent, ROK), 1, "{sent:?}");
    assert_eq!(s.stats.last_request().unwrap()["sender"], "Acme");

    // The language follows the destination's country...
    let (sent, _) = submit(s.live.plain, "acme", json!({"to": de})).await;
    assert_eq!(count(&sent, ROK), 1, "{sent:?}");
    assert_eq!(s.stats.last_request().unwrap()["language"], "de");

    // ...unless the account sets one in the channel's settings.
    let (sent, _) = submit(s.live.plain, "paris", json!({"to": de})).await;
    assert_eq!(count(&sent, ROK), 1, "{sent:?}");
    assert_eq!(s.stats.last_request().unwrap()["language"], "fr");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_imessage_fails_over_to_the_next_channel() {
    let only_imessage =
        "[[route]]\nname = \"imessage-only\"\nsource = \"^OnlyIM$\"\nchannels = [\"imessage\"]\n\n";
    let s = setup(
        Knobs::default(),
        "",
        &format!("{only_imessage}{OTP_THEN_SMS}"),
    )
    .await;
    let to = us_number(&s.knobs, false);
    let (sent, receipts) = submit(
        s.live.plain,
        "acme",
        json!({"count": 4, "to": to, "registered_delivery": 1}),
    )
    .await;
    assert_eq!(count(&sent, ROK), 4, "{sent:?}");
    assert_eq!(receipts["receipts"], 4, "{receipts:?}");
    assert!(
        receipts["items"][0]["text"]
            .as_str()
            .unwrap()
            .contains("stat:DELIVRD")
    );
    assert_eq!((s.stats.requests(), s.stats.code(150)), (4, 4));

    // With no channel after iMessage the client hears "no iMessage".
    let (sent, _) = submit(
        s.live.plain,
        "acme",
        json!({"count": 2, "to": to, "from": "OnlyIM"}),
    )
    .await;
    assert_eq!(count(&sent, RSUBMITFAIL), 2, "{sent:?}");
    assert_eq!(s.stats.requests(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_numbers_and_texts_without_a_code_never_reach_the_platform() {
    let s = setup(
        Knobs::default(),
        "",
        "[[route]]\nname = \"otp\"\nchannels = [\"imessage\"]\n",
    )
    .await;
    let to = us_number(&s.knobs, true);
    let (sent, _) = submit(s.live.plain, "acme", json!({"to": "1415"})).await;
    assert_eq!(count(&sent, RINVDSTADR), 1, "{sent:?}");
    for text in [
        "Hello, see you at 10",
        "Call 0800 123 456",
        "Your code is 12",
    ] {
        let (sent, _) = submit(s.live.plain, "acme", json!({"to": to, "text": text})).await;
        assert_eq!(count(&sent, RINVMSGLEN), 1, "{text}: {sent:?}");
    }
    assert_eq!(s.stats.requests(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_timeout_sends_the_request_once() {
    let knobs = Knobs {
        timeout_share: 1.0,
        ..Knobs::default()
    };
    let s = setup(knobs, "timeout = \"300ms\"", OTP_THEN_SMS).await;
    let to = us_number(&s.knobs, true);
    let (sent, _) = submit(s.live.plain, "acme", json!({"count": 3, "to": to})).await;
    // The outcome is unknown: no resend to the platform, and by default no other channel either.
    assert_eq!(count(&sent, RSYSERR), 3, "{sent:?}");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!((s.stats.requests(), s.stats.unanswered()), (3, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_capacity_retries_then_fails_over() {
    // One request at a time, each taking 800 ms: of three concurrent messages, one is delivered
    // over iMessage and two hear 720 (0x58), retry once, hear 720 again and go to SMS.
    let knobs = Knobs {
        capacity: 1,
        latency: Latency::fixed(Duration::from_millis(800)),
        ..Knobs::default()
    };
    let routes = "[[route]]\nname = \"otp\"\nchannels = [\"imessage\", \"sms\"]\n\
                  [route.on_status]\n\"0x58\" = \"retry 1 50ms then next\"\n";
    let s = setup(knobs, "", routes).await;
    let to = us_number(&s.knobs, true);
    let (sent, _) = submit(s.live.plain, "acme", json!({"count": 3, "to": to})).await;
    assert_eq!(count(&sent, ROK), 3, "{sent:?}");
    assert_eq!(
        (s.stats.requests(), s.stats.delivered(), s.stats.code(720)),
        (5, 1, 4)
    );
}
