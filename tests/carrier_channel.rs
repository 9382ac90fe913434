//! The SMPP carrier channel end to end: a real client (`smpplib`) binds to the real router, which
//! binds as a client to the stand-in carrier SMSC; the carrier's receipts come back to the
//! client with the router's message id, through the durable store.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use smpp_router_e2e::{LiveRouter, account, assert_receipts, count, scratch_dir, smpplib};
use smpp_router_tools::sim::carrier::{self, IdFormat, Knobs, ReceiptForm};
use smpp_router_tools::sim::otpblue;

fn carrier_channel(name: &str, addr: SocketAddr, extra: &str) -> String {
    format!(
        "[[channel]]\nname = \"{name}\"\nkind = \"smpp\"\nhost = \"127.0.0.1\"\nport = {}\n\
         system_id = \"router\"\npassword = \"secret\"\nreconnect_min = \"50ms\"\nreconnect_max = \"200ms\"\n{extra}\n",
        addr.port()
    )
}

async fn start_carrier(knobs: Knobs) -> (SocketAddr, Arc<carrier::Stats>) {
    let stats = knobs.stats.clone();
    let (addr, _task) = carrier::start(knobs).await.unwrap();
    (addr, stats)
}

/// A router whose one route sends everything to a carrier channel named `carrier` at `addr`
/// (`extra`: more channel settings).
async fn router_via_carrier(addr: SocketAddr, extra: &str) -> LiveRouter {
    router(format!(
        "{}[[route]]\nname = \"sms\"\nchannels = [\"carrier\"]\n",
        carrier_channel("carrier", addr, extra)
    ))
    .await
}

async fn router(routes: String) -> LiveRouter {
    let path = scratch_dir("carrier").join("routes.toml");
    std::fs::write(
        &path,
        format!(
            "{}{routes}",
            account("acme", "pw", "tps = 100000\nwindow = 100")
        ),
    )
    .unwrap();
    let live = LiveRouter::start(&path).await;
    // The channel binds in the background; wait until the table's channels are up.
    let t0 = Instant::now();
    while !live.router.table().channels.values().all(|c| c.is_up()) {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "carrier binds not up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    live
}

async fn submit_with_receipts(addr: SocketAddr, n: usize, to: &str) -> (Value, Value) {
    let out = smpplib(
        addr,
        false,
        json!([
            {"op": "bind", "mode": "trx", "system_id": "acme", "password": "pw"},
            {"op": "submit", "count": n, "window": n, "to": to, "registered_delivery": 1,
             "text": "Hello from the carrier test"},
            {"op": "wait_receipts", "count": n, "show": n},
            {"op": "unbind"},
        ]),
    )
    .await;
    assert_eq!(out[0]["status"], 0, "{out:?}");
    (out[1].clone(), out[2].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trx_bind_submits_and_relays_receipts_with_the_router_id() {
    let (addr, stats) = start_carrier(Knobs {
        system_id: Some("router".into()),
        password: Some("secret".into()),
        ..Knobs::default()
    })
    .await;
    let live = router_via_carrier(addr, "").await;
    let (sent, receipts) = submit_with_receipts(live.plain, 5, "14155551234").await;
    assert_eq!(count(&sent, 0), 5, "{sent:?}");
    assert_receipts(&sent, &receipts, 5, "DELIVRD");
    assert_eq!(stats.submits(), 5);
}

/// Carriers that put a receipt's id only in its text, or the whole text in `message_payload`:
/// the router finds the id there and rewrites it there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_with_the_id_only_in_the_text_or_in_message_payload_are_relayed() {
    for form in [ReceiptForm::Text, ReceiptForm::Payload] {
        let (addr, _stats) = start_carrier(Knobs {
            receipt_form: form,
            ..Knobs::default()
        })
        .await;
        let live = router_via_carrier(addr, "").await;
        let (sent, receipts) = submit_with_receipts(live.plain, 3, "14155551234").await;
        assert_eq!(count(&sent, 0), 3, "{form:?}: {sent:?}");
        assert_receipts(&sent, &receipts, 3, "DELIVRD");
        for r in receipts["items"].as_array().unwrap() {
            assert_eq!(
                r["in_payload"],
                form == ReceiptForm::Payload,
                "{form:?}: the text stays where the carrier put it: {r:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tx_rx_binds_with_decimal_ids_relay_receipts() {
    let (addr, stats) = start_carrier(Knobs {
        id_format: IdFormat::Decimal,
        ..Knobs::default()
    })
    .await;
    let live = router_via_carrier(
        addr,
        "bind = \"tx+rx\"\nbinds = 2\ninterface_version = \"5.0\"",
    )
    .await;
    let (sent, receipts) = submit_with_receipts(live.plain, 5, "447911123456").await;
    assert_eq!(count(&sent, 0), 5, "{sent:?}");
    assert_receipts(&sent, &receipts, 5, "DELIVRD");
    assert_eq!(stats.submits(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_imessage_fails_over_to_the_carrier_and_its_receipt_comes_back() {
    let (carrier, stats) = start_carrier(Knobs::default()).await;
    let knobs = otpblue::Knobs::default();
    let to = (14155551200u64..)
        .map(|n| n.to_string())
        .find(|n| !otpblue::has_imessage(&knobs, n))
        .unwrap();
    let api_stats = knobs.stats.clone();
    let (api, _task) = otpblue::start(knobs).await.unwrap();
    let live = router(format!(
        "[[channel]]\nname = \"imessage\"\nkind = \"imessage\"\nbase_url = \"http://{api}\"\napi_key = \"test-key\"\n\n{}\
         [[route]]\nname = \"otp\"\nchannels = [\"imessage\", \"carrier\"]\n",
        carrier_channel("carrier", carrier, "")
    ))
    .await;
    let out = smpplib(
        live.plain,
        false,
        json!([
            {"op": "bind", "mode": "trx", "system_id": "acme", "password": "pw"},
            {"op": "submit", "count": 3, "window": 3, "to": to, "registered_delivery": 1,
             "text": "Your code is 482910"},
            {"op": "wait_receipts", "count": 3, "show": 3},
            {"op": "unbind"},
        ]),
    )
    .await;
    assert_eq!(count(&out[1], 0), 3, "{out:?}");
    assert_receipts(&out[1], &out[2], 3, "DELIVRD");
    assert_eq!((api_stats.code(150), stats.submits()), (3, 3));
    // The attempt history is kept with the message.
    let id = out[1]["ids"][0].as_str().unwrap();
    let record = live.store.by_router_id(id).unwrap().unwrap();
    assert_eq!(
        (record.account.as_str(), record.channel.as_str()),
        ("acme", "carrier")
    );
    assert!(
        record.attempts.starts_with("imessage refused_0x45 ")
            && record.attempts.contains("; carrier accepted "),
        "{}",
        record.attempts
    );
}

/// Long messages cut into parts (UDH), to numbers that have iMessage: every part skips iMessage
/// (an OTP there is one whole text) and goes to the carrier, all parts of one message over one
/// bind of the four, each with its receipt; a short OTP to the same number still goes over
/// iMessage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_messages_skip_imessage_and_keep_to_one_bind() {
    let (carrier, stats) = start_carrier(Knobs {
        keep_messages: 1000,
        ..Knobs::default()
    })
    .await;
    let knobs = otpblue::Knobs::default();
    let to = (14155551200u64..)
        .find(|n| (0..4).all(|i| otpblue::has_imessage(&knobs, &(n + i).to_string())))
        .unwrap();
    let api_stats = knobs.stats.clone();
    let (api, _task) = otpblue::start(knobs).await.unwrap();
    let live = router(format!(
        "[[channel]]\nname = \"imessage\"\nkind = \"imessage\"\nbase_url = \"http://{api}\"\napi_key = \"test-key\"\n\n{}\
         [[route]]\nname = \"imessage-only\"\nprefixes = [\"44\"]\nchannels = [\"imessage\"]\n\n\
         [[route]]\nname = \"otp\"\nchannels = [\"imessage\", \"carrier\"]\n",
        carrier_channel("carrier", carrier, "binds = 4")
    ))
    .await;
    // Cyrillic: UCS-2, 67 characters a part, so three parts each.
    let text = "Ваш код подтверждения 482910. Никому его не сообщайте, даже сотрудникам банка. \
                Код действует пять минут. Если вы не запрашивали код, позвоните нам.";
    let out = smpplib(
        live.plain,
        false,
        json!([
            {"op": "bind", "mode": "trx", "system_id": "acme", "password": "pw"},
            {"op": "submit", "count": 4, "window": 12, "to": to.to_string(), "vary_to": true,
             "parts": true, "registered_delivery": 1, "text": text},
            {"op": "wait_receipts", "count": 12, "show": 12},
            {"op": "submit", "count": 1, "to": to.to_string(), "text": "Your code is 482910"},
            {"op": "submit", "count": 1, "to": "447911123456", "parts": true, "text": text},
            {"op": "submit", "count": 1, "to": to.to_string(),
             "text": "Your password was changed. If this was not you, call us."},
            {"op": "unbind"},
        ]),
    )
    .await;
    assert_eq!(count(&out[1], 0), 12, "every part accepted: {out:?}");
    assert_eq!(
        count(&out[4], 0x45),
        3,
        "a route with no SMS channel cannot take parts: {out:?}"
    );
    assert_eq!(
        count(&out[5], 0),
        1,
        "a text without a code goes to the carrier: {out:?}"
    );
    assert_eq!(out[2]["receipts"], 12, "a receipt for every part: {out:?}");
    assert_eq!(count(&out[3], 0), 1, "{out:?}");
    assert_eq!(
        api_stats.requests(),
        1,
        "only the short OTP went to iMessage"
    );
    let kept = stats.messages();
    assert_eq!(
        kept.len(),
        13,
        "the parts (and the text without a code) reached the carrier"
    );
    let mut binds = std::collections::HashMap::new();
    for m in kept.iter().filter(|m| m.part.is_some()) {
        let part = m.part.expect("a part");
        assert_eq!(part.total, 3);
        binds
            .entry((m.dest.clone(), part.reference))
            .or_insert_with(Vec::new)
            .push((m.connection, part.seqnum));
    }
    assert_eq!(binds.len(), 4, "four messages: {binds:?}");
    for (message, parts) in &binds {
        assert_eq!(parts.len(), 3, "{message:?}: {parts:?}");
        assert!(
            parts.iter().all(|(c, _)| *c == parts[0].0),
            "the parts of {message:?} went over one bind: {parts:?}"
        );
    }
}

/// A transmitter sends `n` messages and leaves before their receipts come: they wait in the
/// store. Returns once the router has taken all `n` from the carrier.
async fn receipts_for_a_client_that_is_away(
    live: &LiveRouter,
    stats: &carrier::Stats,
    n: usize,
) -> Value {
    let out = smpplib(
        live.plain,
        false,
        json!([
            {"op": "bind", "mode": "tx", "system_id": "acme", "password": "pw"},
            {"op": "submit", "count": n, "window": n, "registered_delivery": 1, "text": "hi"},
            {"op": "unbind"},
        ]),
    )
    .await;
    assert_eq!(count(&out[1], 0), n as u64, "{out:?}");
    let t0 = Instant::now();
    while stats.receipts_acked() < n as u64 {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "the router took the receipts"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        live.store.stats().queue_depth,
        n as u64,
        "kept for the client"
    );
    out[1].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_wait_in_the_store_for_a_client_that_is_away() {
    let (addr, stats) = start_carrier(Knobs::default()).await;
    let live = router_via_carrier(addr, "").await;
    receipts_for_a_client_that_is_away(&live, &stats, 4).await;
    // The client binds a receiver later and gets all four.
    let later = smpplib(
        live.plain,
        false,
        json!([
            {"op": "bind", "mode": "rx", "system_id": "acme", "password": "pw"},
            {"op": "wait_receipts", "count": 4, "show": 4},
            {"op": "unbind"},
        ]),
    )
    .await;
    assert_eq!(later[1]["receipts"], 4, "{later:?}");
    let t0 = Instant::now();
    while live.store.stats().queue_depth > 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(2),
            "acknowledged receipts leave the store"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_carrier_that_is_down_is_skipped_and_a_throttling_one_slows_down() {
    // Throttling: 20 messages/s at the carrier; the route retries 0x58, so nothing fails.
    let (addr, stats) = start_carrier(Knobs {
        tps: 20,
        ..Knobs::default()
    })
    .await;
    let live = router(format!(
        "{}[[channel]]\nname = \"backup\"\nkind = \"test\"\noutcomes = [\"ok\"]\n\n\
         [[route]]\nname = \"sms\"\nchannels = [\"carrier\", \"backup\"]\ndeadline = \"30s\"\n\
         [route.on_status]\n\"0x58\" = \"retry 100 100ms then next\"\n",
        carrier_channel("carrier", addr, "")
    ))
    .await;
    let out = smpplib(
        live.plain,
        false,
        json!([
            {"op": "bind", "mode": "trx", "system_id": "acme", "password": "pw"},
            {"op": "submit", "count": 40, "window": 40, "text": "hi"},
            {"op": "unbind"},
        ]),
    )
    .await;
    assert_eq!(count(&out[1], 0), 40, "{out:?}");
    assert_eq!(stats.accepted(), 40, "all went through the carrier");
    eprintln!(
        "throttled {} times; client rate {:.0} msg/s",
        stats.throttled(),
        out[1]["rate"].as_f64().unwrap_or(0.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_carrier_that_drops_the_link_mid_window_loses_nothing_and_is_rebound() {
    // The carrier closes each connection on its 5th submit without answering it; the messages
    // in flight then have an unknown outcome. With `next_after_unknown` the route hands them to
    // the backup channel; the channel rebinds and carries on.
    let (addr, stats) = start_carrier(Knobs {
        drop_after: Some(5),
        ..Knobs::default()
    })
    .await;
    let live = router(format!(
        "{}[[channel]]\nname = \"backup\"\nkind = \"test\"\noutcomes = [\"ok\"]\n\n\
         [[route]]\nname = \"sms\"\nchannels = [\"carrier\", \"backup\"]\nnext_after_unknown = true\n",
        carrier_channel("carrier", addr, "")
    ))
    .await;
    let out = smpplib(
        live.plain,
        false,
        json!([
            {"op": "bind", "mode": "trx", "system_id": "acme", "password": "pw"},
            {"op": "submit", "count": 30, "window": 10, "text": "hi"},
            {"op": "unbind"},
        ]),
    )
    .await;
    assert_eq!(
        count(&out[1], 0),
        30,
        "every message answered ESME_ROK: {out:?}"
    );
    assert!(stats.dropped() >= 1, "the link was dropped");
    // The channel rebinds and the carrier takes messages again.
    let t0 = Instant::now();
    while !(stats.binds() >= 2 && live.router.table().channels["carrier"].is_up()) {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "rebound: {} binds",
            stats.binds()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Every 5th submit on a connection is dropped, so keep sending one message at a time (each
    // answered ESME_ROK, by the carrier or the backup) until the carrier accepts one again.
    let before = stats.accepted();
    for _ in 0..10 {
        let again = smpplib(
            live.plain,
            false,
            json!([
                {"op": "bind", "mode": "trx", "system_id": "acme", "password": "pw"},
                {"op": "submit", "count": 1, "window": 1, "text": "hi"},
                {"op": "unbind"},
            ]),
        )
        .await;
        assert_eq!(count(&again[1], 0), 1, "{again:?}");
        if stats.accepted() > before {
            return;
        }
        let t0 = Instant::now();
        while !live.router.table().channels["carrier"].is_up() {
            assert!(t0.elapsed() < Duration::from_secs(5), "rebound");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    panic!("the rebound channel never carried a message again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mobile_originated_messages_reach_the_account_of_their_destination() {
    let knobs = Knobs::default();
    let control = knobs.control.clone();
    let (addr, stats) = start_carrier(knobs).await;
    let live = router_via_carrier(addr, "mo = { \"447911\" = \"acme\" }").await;
    // One MO for acme's number range, one that nobody claims.
    control.inject_mo("router", "14155550001", "447911123456", "STOP");
    control.inject_mo("router", "14155550002", "33612345678", "hello");
    let t0 = Instant::now();
    while stats.mo_acked() < 2 {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "the router answers both"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let out = smpplib(
        live.plain,
        false,
        json!([
            {"op": "bind", "mode": "rx", "system_id": "acme", "password": "pw"},
            {"op": "wait_receipts", "count": 1, "show": 2, "timeout": 5},
            {"op": "idle", "seconds": 0.5},
            {"op": "unbind"},
        ]),
    )
    .await;
    assert_eq!(out[1]["receipts"], 1, "{out:?}");
    let mo = &out[1]["items"][0];
    assert_eq!(mo["esm_class"], 0, "{mo:?}");
    assert_eq!(mo["text"], "STOP");
    assert_eq!(mo["source"], "14155550001");
    assert_eq!(
        out[2]["receipts"], 1,
        "the unclaimed MO is not delivered: {out:?}"
    );
}

/// A client slower than the router's direct-delivery wait (250 ms) gets each receipt once: the
/// receipt is stored so that the carrier can be answered, but the delivery already sent is still
/// awaited, and the client's late answer removes the stored copy unsent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_gets_its_receipt_once() {
    use bytes::Bytes;
    use smpp_router::smpp::CommandId;
    use smpp_router::smpp::pdu::{Address, Command, Pdu, Sm};
    use smpp_router::smpp::values::RegisteredDelivery;

    let (addr, stats) = start_carrier(Knobs::default()).await;
    let live = router_via_carrier(addr, "").await;
    let mut raw = bound(live.plain, Pdu::BindTransceiver).await;
    let sm = Sm {
        source: Address::new(5, 0, "MyBank"),
        dest: Address::new(1, 1, "14155551234"),
        short_message: Bytes::from_static(b"Your code is 123456"),
        registered_delivery: RegisteredDelivery(1),
        ..Sm::default()
    };
    raw.send(&Command::new(2, Pdu::SubmitSm(sm))).await;
    let resp = raw.recv().await.unwrap();
    let Pdu::SubmitSmResp(resp) = resp.pdu else {
        panic!("expected submit_sm_resp, got {resp:?}")
    };
    let id = String::from_utf8(resp.message_id.to_vec()).unwrap();

    let receipt = raw.recv().await.unwrap();
    let Pdu::DeliverSm(dlr) = &receipt.pdu else {
        panic!("expected the receipt, got {receipt:?}")
    };
    assert!(
        String::from_utf8_lossy(&dlr.short_message).contains(&format!("id:{id} ")),
        "{dlr:?}"
    );
    // Answer late: the router stores the receipt meanwhile and answers the carrier.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let stored = live.store.stats();
    assert_eq!(stored.queue_depth, 1, "stored while the client was slow");
    raw.send(&Command::new(
        receipt.sequence_number,
        Pdu::DeliverSmResp(Default::default()),
    ))
    .await;
    // The sweeper runs every second: nothing comes again, and the stored copy is gone.
    let again = tokio::time::timeout(Duration::from_millis(2500), raw.recv()).await;
    match again {
        Err(_) | Ok(None) => {}
        Ok(Some(cmd)) => assert_ne!(
            cmd.command_id(),
            CommandId::DELIVER_SM,
            "the receipt came twice: {cmd:?}"
        ),
    }
    assert_eq!(live.store.stats().queue_depth, 0, "the stored copy removed");
    assert_eq!(stats.receipts_acked(), 1);
}

/// Stored receipts and a client that refuses some: `ESME_RX_T_APPN` keeps that one for a later
/// attempt without holding up the others; `ESME_RX_P_APPN` (or `ESME_RX_R_APPN`) means "never":
/// it leaves the store and does not come again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_the_client_refuses_does_not_hold_up_the_others() {
    use smpp_router::smpp::pdu::{Command, Pdu};
    use smpp_router::smpp::{CommandId, CommandStatus};
    use smpp_router_e2e::Raw;

    let (addr, stats) = start_carrier(Knobs::default()).await;
    let live = router_via_carrier(addr, "").await;
    let sent = receipts_for_a_client_that_is_away(&live, &stats, 4).await;
    let ids = smpp_router_e2e::sent_ids(&sent);
    let mut raw = bound(live.plain, Pdu::BindReceiver).await;
    // Answers the next receipt with `status`; its router id.
    async fn answer(raw: &mut Raw, status: CommandStatus) -> String {
        loop {
            let cmd = tokio::time::timeout(Duration::from_secs(5), raw.recv())
                .await
                .expect("a receipt in time")
                .expect("the session is open");
            if cmd.command_id() == CommandId::ENQUIRE_LINK {
                raw.send(&Command::new(cmd.sequence_number, Pdu::EnquireLinkResp))
                    .await;
                continue;
            }
            let Pdu::DeliverSm(sm) = &cmd.pdu else {
                panic!("expected a receipt, got {cmd:?}")
            };
            let text = String::from_utf8_lossy(&sm.short_message).into_owned();
            raw.send(&Command {
                status,
                sequence_number: cmd.sequence_number,
                pdu: Pdu::DeliverSmResp(Default::default()),
            })
            .await;
            return text[3..].split(' ').next().unwrap().to_string();
        }
    }
    let later = answer(&mut raw, CommandStatus::RX_T_APPN).await;
    let never = answer(&mut raw, CommandStatus::RX_P_APPN).await;
    let mut taken = vec![
        answer(&mut raw, CommandStatus::ROK).await,
        answer(&mut raw, CommandStatus::ROK).await,
    ];
    // The one refused for now comes again at a later sweep; the one refused for good does not.
    taken.push(answer(&mut raw, CommandStatus::ROK).await);
    assert_eq!(taken[2], later, "the receipt refused for now comes again");
    let mut all = taken.clone();
    all.push(never.clone());
    all.sort();
    let mut expected: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(
        all, expected,
        "each receipt offered, none twice but the one refused for now"
    );
    let again = tokio::time::timeout(Duration::from_millis(2500), raw.recv()).await;
    if let Ok(Some(cmd)) = again {
        assert_ne!(
            cmd.command_id(),
            CommandId::DELIVER_SM,
            "a receipt came again: {cmd:?}"
        );
    }
    assert_eq!(
        live.store.stats().queue_depth,
        0,
        "nothing left in the store"
    );
}

/// A raw connection bound as `acme` with `bind` (`Pdu::BindTransceiver`, `Pdu::BindReceiver`).
async fn bound(
    addr: SocketAddr,
    bind: fn(smpp_router::smpp::pdu::Bind) -> smpp_router::smpp::pdu::Pdu,
) -> smpp_router_e2e::Raw {
    use smpp_router::smpp::CommandStatus;
    use smpp_router::smpp::pdu::{Bind, Command};
    let mut raw = smpp_router_e2e::Raw::connect(addr).await;
    let creds = Bind {
        system_id: "acme".into(),
        password: "pw".into(),
        interface_version: 0x34,
        ..Bind::default()
    };
    raw.send(&Command::new(1, bind(creds))).await;
    assert_eq!(raw.recv().await.unwrap().status, CommandStatus::ROK);
    raw
}
