//! The inbound SMPP server against real clients (Python `smpplib`, npm `smpp`) and raw sockets:
//! binds in every mode, the seed's statuses, lockout, timeouts, TLS, limits, throttling and the
//! window-1 receipt path that Nagle's algorithm used to stall.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use smpp_router::ids::IdMinter;
use smpp_router::server::accept_all::AcceptAll;
use smpp_router::smpp::pdu::{Address, Bind, Command, Pdu, Sm};
use smpp_router::smpp::{CommandId, CommandStatus};
use smpp_router_e2e::{Raw, TestRouter, account, count, node_smpp, smpplib};

fn sink() -> Arc<AcceptAll> {
    Arc::new(AcceptAll::new(Arc::new(IdMinter::new(1))))
}

fn creds(id: &str) -> Bind {
    Bind {
        system_id: id.to_string().into(),
        password: "pw".into(),
        interface_version: 0x34,
        ..Bind::default()
    }
}

fn bind(mode: &str, id: &str, pw: &str) -> serde_json::Value {
    json!({"op": "bind", "mode": mode, "system_id": id, "password": pw})
}

async fn router(router_toml: &str, routes: &str) -> TestRouter {
    TestRouter::start(router_toml, routes, sink(), false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smpplib_binds_in_every_mode_submits_and_receives_receipts() {
    let r = router("", &account("acme", "pw", "tps = 10000")).await;
    // Transceiver: submit and receive the receipts on the same session.
    let out = smpplib(
        r.plain,
        false,
        json!([
            bind("trx", "acme", "pw"),
            {"op": "submit", "count": 20, "window": 5, "registered_delivery": 1},
            {"op": "wait_receipts", "count": 20},
            {"op": "enquire_link"},
            {"op": "unbind"},
        ]),
    )
    .await;
    assert_eq!(out[0]["status"], 0, "{out:?}");
    assert_eq!(count(&out[1], 0), 20, "{out:?}");
    assert_eq!(out[2]["receipts"], 20, "{out:?}");
    let receipt = &out[2]["items"][0];
    let id = out[1]["ids"][0].as_str().unwrap();
    assert_eq!(receipt["id"], id);
    assert_eq!(receipt["esm_class"], 4);
    assert!(
        receipt["text"]
            .as_str()
            .unwrap()
            .starts_with(&format!("id:{id} sub:001 dlvrd:001 submit date:"))
    );
    assert_eq!(out[3]["command"], "enquire_link_resp");
    assert_eq!(out[4]["status"], 0);

    // Receiver + transmitter: receipts for the transmitter's messages reach the receiver.
    let rx = tokio::spawn(smpplib(
        r.plain,
        false,
        json!([
            bind("rx", "acme", "pw"),
            {"op": "wait_receipts", "count": 5, "timeout": 10},
            {"op": "unbind"},
        ]),
    ));
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let tx = smpplib(
        r.plain,
        false,
        json!([
            bind("tx", "acme", "pw"),
            {"op": "submit", "count": 5, "window": 5, "registered_delivery": 1},
            {"op": "unbind"},
        ]),
    )
    .await;
    assert_eq!(count(&tx[1], 0), 5, "{tx:?}");
    let rx = rx.await.unwrap();
    assert_eq!(rx[1]["receipts"], 5, "{rx:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_smpp_binds_submits_and_receives_receipts() {
    let r = router("", &account("acme", "pw", "tps = 10000")).await;
    let out = node_smpp(
        r.plain,
        false,
        json!([
            bind("trx", "acme", "pw"),
            {"op": "submit", "count": 30, "window": 10, "registered_delivery": 1},
            {"op": "wait_receipts", "count": 30},
            {"op": "enquire_link"},
            {"op": "unbind"},
        ]),
    )
    .await;
    assert_eq!(out[0]["status"], 0, "{out:?}");
    assert_eq!(count(&out[1], 0), 30, "{out:?}");
    assert_eq!(out[2]["receipts"], 30, "{out:?}");
    assert_eq!(out[3]["status"], 0);
    assert_eq!(out[4]["status"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_statuses_follow_the_seed() {
    let routes = format!(
        "{}{}{}",
        account("acme", "pw", ""),
        account("walled", "pw", "allowed_cidrs = [\"10.0.0.0/8\"]"),
        account("txonly", "pw", "bind_modes = [\"tx\"]\nmax_binds = 1"),
    );
    let r = router("", &routes).await;
    // Wrong password, unknown system_id: ESME_RINVPASWD.
    let out = smpplib(r.plain, false, json!([bind("trx", "acme", "nope")])).await;
    assert_eq!(out[0]["status"], 0x0E, "{out:?}");
    let out = smpplib(r.plain, false, json!([bind("trx", "ghost", "pw")])).await;
    assert_eq!(out[0]["status"], 0x0E, "{out:?}");
    // Address not allowed, mode not allowed: ESME_RBINDFAIL. From an address outside the
    // allowlist a wrong password gets the same answer, so the answer tells nothing about it.
    let out = smpplib(r.plain, false, json!([bind("trx", "walled", "pw")])).await;
    assert_eq!(out[0]["status"], 0x0D, "{out:?}");
    let out = smpplib(r.plain, false, json!([bind("trx", "walled", "nope")])).await;
    assert_eq!(out[0]["status"], 0x0D, "{out:?}");
    let out = smpplib(r.plain, false, json!([bind("rx", "txonly", "pw")])).await;
    assert_eq!(out[0]["status"], 0x0D, "{out:?}");
    // A second bind on a bound session: ESME_RALYBND (smpplib refuses to send it, so raw).
    let mut raw = Raw::connect(r.plain).await;
    raw.send(&Command::new(1, Pdu::BindTransceiver(creds("acme"))))
        .await;
    assert_eq!(raw.recv().await.unwrap().status, CommandStatus::ROK);
    raw.send(&Command::new(2, Pdu::BindTransmitter(creds("acme"))))
        .await;
    let again = raw.recv().await.unwrap();
    assert_eq!(
        (again.command_id(), again.status),
        (CommandId::BIND_TRANSMITTER_RESP, CommandStatus::RALYBND)
    );
    // Beyond the account's bind limit: ESME_RALYBND.
    let held = tokio::spawn(smpplib(
        r.plain,
        false,
        json!([bind("tx", "txonly", "pw"), {"op": "idle", "seconds": 2}]),
    ));
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let out = smpplib(r.plain, false, json!([bind("tx", "txonly", "pw")])).await;
    assert_eq!(out[0]["status"], 0x05, "{out:?}");
    assert_eq!(held.await.unwrap()[0]["status"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_statuses_follow_the_seed() {
    let r = router("", &account("acme", "pw", "tps = 10000")).await;
    // submit_sm on a receiver bind (smpplib refuses to send it, so raw).
    let mut rx = Raw::connect(r.plain).await;
    rx.send(&Command::new(1, Pdu::BindReceiver(creds("acme"))))
        .await;
    assert_eq!(rx.recv().await.unwrap().status, CommandStatus::ROK);
    rx.send(&Command::new(
        2,
        Pdu::SubmitSm(Sm {
            dest: Address::new(1, 1, "14155551234"),
            ..Sm::default()
        }),
    ))
    .await;
    let resp = rx.recv().await.unwrap();
    assert_eq!(
        (resp.command_id(), resp.status),
        (CommandId::SUBMIT_SM_RESP, CommandStatus::RINVBNDSTS)
    );
    let out = smpplib(
        r.plain,
        false,
        json!([
            bind("trx", "acme", "pw"),
            {"op": "submit", "count": 1, "to": "123"},
            {"op": "submit", "count": 1, "to": "4470090012"},
            {"op": "submit", "count": 1, "from": "TwelveCharsX"},
            {"op": "submit", "count": 1, "text": "x".repeat(200)},
            {"op": "submit", "count": 1, "validity_period": "2503151430"},
            {"op": "submit", "count": 1, "schedule_delivery_time": "251315143000004+"},
            {"op": "submit", "count": 1, "validity_period": "000001120000000R",
             "schedule_delivery_time": "250315143000004+"},
        ]),
    )
    .await;
    assert_eq!(count(&out[5], 0x62), 1, "a 10-character validity: {out:?}");
    assert_eq!(count(&out[6], 0x61), 1, "month 13: {out:?}");
    assert_eq!(count(&out[7], 0), 1, "times in the format: {out:?}");
    assert_eq!(count(&out[1], 0x0B), 1, "short number: {out:?}");
    assert_eq!(count(&out[2], 0x0B), 1, "invalid number: {out:?}");
    assert_eq!(
        count(&out[3], 0x0A),
        1,
        "sender over 11 characters: {out:?}"
    );
    assert_eq!(count(&out[4], 0), 1, "200 octets fit: {out:?}");

    // Before any bind, and a message over 512 octets (only message_payload can carry it).
    let mut raw = Raw::connect(r.plain).await;
    let submit = Command::new(
        2,
        Pdu::SubmitSm(Sm {
            dest: Address::new(1, 1, "14155551234"),
            ..Sm::default()
        }),
    );
    raw.send(&submit).await;
    let resp = raw.recv().await.unwrap();
    assert_eq!(
        (resp.command_id(), resp.status),
        (CommandId::SUBMIT_SM_RESP, CommandStatus::RINVBNDSTS)
    );
    raw.send(&Command::new(3, Pdu::BindTransceiver(creds("acme"))))
        .await;
    assert_eq!(raw.recv().await.unwrap().status, CommandStatus::ROK);
    let long = Sm {
        dest: Address::new(1, 1, "14155551234"),
        tlvs: smpp_router::smpp::tlv::TlvsBuilder::new()
            .push(0x0424, &[b'a'; 600])
            .build(),
        ..Sm::default()
    };
    raw.send(&Command::new(4, Pdu::SubmitSm(long))).await;
    assert_eq!(raw.recv().await.unwrap().status, CommandStatus::RINVMSGLEN);
    // Unknown command: generic_nack, and the session stays up.
    raw.send(&Command::new(
        5,
        Pdu::Other {
            command_id: CommandId(0x0001_0200),
            body: bytes::Bytes::new(),
        },
    ))
    .await;
    let nack = raw.recv().await.unwrap();
    assert_eq!(
        (nack.pdu, nack.status, nack.sequence_number),
        (Pdu::GenericNack, CommandStatus::RINVCMDID, 5)
    );
    raw.send(&Command::new(6, Pdu::EnquireLink)).await;
    assert_eq!(raw.recv().await.unwrap().pdu, Pdu::EnquireLinkResp);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_lock_the_address_out() {
    let r = router(
        "[security]\nmax_bind_failures = 3\n",
        &account("acme", "pw", ""),
    )
    .await;
    for _ in 0..3 {
        let out = smpplib(r.plain, false, json!([bind("trx", "acme", "wrong")])).await;
        assert_eq!(out[0]["status"], 0x0E, "{out:?}");
    }
    // Now even the right password gets ESME_RBINDFAIL, without a password check.
    let out = smpplib(r.plain, false, json!([bind("trx", "acme", "pw")])).await;
    assert_eq!(out[0]["status"], 0x0D, "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pre_bind_and_inactivity_timeouts_close_sessions() {
    let r = router(
        "[limits]\npre_bind_timeout = \"1s\"\ninactivity_timeout = \"1s\"\nenquire_link_interval = \"10s\"\n",
        &account("acme", "pw", ""),
    )
    .await;
    let started = Instant::now();
    let mut idle = Raw::connect(r.plain).await;
    assert!(
        idle.closed_within(4).await,
        "an unbound connection must be closed"
    );
    assert!(started.elapsed().as_millis() >= 900);

    let mut quiet = Raw::connect(r.plain).await;
    quiet
        .send(&Command::new(1, Pdu::BindTransceiver(creds("acme"))))
        .await;
    assert_eq!(quiet.recv().await.unwrap().status, CommandStatus::ROK);
    assert!(
        quiet.closed_within(4).await,
        "a silent bound session must be closed"
    );

    // enquire_link keeps a session alive past the inactivity timeout.
    let out = smpplib(r.plain, false, json!([bind("trx", "acme", "pw"), {"op": "enquire_link"}, {"op": "enquire_link"}, {"op": "unbind"}])).await;
    assert_eq!(out[3]["status"], 0, "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_bind_with_a_generated_certificate() {
    let r = TestRouter::start("", &account("acme", "pw", ""), sink(), true).await;
    let out = smpplib(
        r.tls.unwrap(),
        true,
        json!([
            bind("trx", "acme", "pw"),
            {"op": "submit", "count": 3, "window": 3, "registered_delivery": 1},
            {"op": "wait_receipts", "count": 3},
            {"op": "unbind"},
        ]),
    )
    .await;
    assert_eq!(out[0]["status"], 0, "{out:?}");
    assert_eq!(count(&out[1], 0), 3, "{out:?}");
    assert_eq!(out[2]["receipts"], 3, "{out:?}");
    // Plaintext bytes on the TLS port are not SMPP to it: the handshake fails and it closes.
    let mut raw = Raw::connect(r.tls.unwrap()).await;
    raw.send(&Command::new(1, Pdu::EnquireLink)).await;
    assert!(raw.closed_within(12).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_limit_are_closed_at_once() {
    let r = router(
        "[limits]\nmax_connections = 2\n",
        &account("acme", "pw", ""),
    )
    .await;
    let mut a = Raw::connect(r.plain).await;
    let mut b = Raw::connect(r.plain).await;
    a.send(&Command::new(1, Pdu::EnquireLink)).await;
    b.send(&Command::new(1, Pdu::EnquireLink)).await;
    assert_eq!(a.recv().await.unwrap().pdu, Pdu::EnquireLinkResp);
    assert_eq!(b.recv().await.unwrap().pdu, Pdu::EnquireLinkResp);
    let mut c = Raw::connect(r.plain).await;
    assert!(
        c.closed_within(2).await,
        "the third connection must be closed"
    );
    drop(a);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut d = Raw::connect(r.plain).await;
    d.send(&Command::new(1, Pdu::EnquireLink)).await;
    assert_eq!(
        d.recv().await.unwrap().pdu,
        Pdu::EnquireLinkResp,
        "a freed slot is usable again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_shared_by_an_accounts_sessions() {
    let r = router("", &account("acme", "pw", "tps = 10")).await;
    let plan = json!([bind("trx", "acme", "pw"), {"op": "submit", "count": 15, "window": 15}]);
    let (a, b) = tokio::join!(
        smpplib(r.plain, false, plan.clone()),
        smpplib(r.plain, false, plan)
    );
    let ok = count(&a[1], 0) + count(&b[1], 0);
    let throttled = count(&a[1], 0x58) + count(&b[1], 0x58);
    assert_eq!(ok + throttled, 30, "{a:?} {b:?}");
    // One second's worth (10) passes, plus at most what refills while the two clients run.
    assert!((10..=16).contains(&ok), "ok {ok}: {a:?} {b:?}");
    assert!(throttled >= 14, "{a:?} {b:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn window_one_client_gets_every_receipt_without_stalling() {
    let r = router("", &account("acme", "pw", "tps = 100000")).await;
    let out = smpplib(
        r.plain,
        false,
        json!([
            bind("trx", "acme", "pw"),
            {"op": "submit", "count": 200, "window": 1, "registered_delivery": 1},
            {"op": "wait_receipts", "count": 200, "timeout": 20},
            {"op": "unbind"},
        ]),
    )
    .await;
    assert_eq!(count(&out[1], 0), 200, "{out:?}");
    assert_eq!(out[2]["receipts"], 200, "{out:?}");
    // The rate is reported, not asserted (see the issue notes): it was ~45 msg/s with Nagle on.
    eprintln!(
        "smpplib window 1 with receipts: {:.0} msg/s",
        out[1]["rate"].as_f64().unwrap()
    );
}

/// Binds a transceiver, sends one message asking for a receipt, and answers each offer of the
/// receipt with the next of `answers` (then `ESME_ROK`) until nothing comes for 2.5 s; when
/// each offer came.
async fn receipt_offers(answers: &[CommandStatus]) -> Vec<Instant> {
    let r = router("", &account("acme", "pw", "tps = 10000")).await;
    let mut raw = Raw::connect(r.plain).await;
    raw.send(&Command::new(1, Pdu::BindTransceiver(creds("acme"))))
        .await;
    assert_eq!(raw.recv().await.unwrap().status, CommandStatus::ROK);
    let submit = Sm {
        source: Address::new(5, 0, "MyBank"),
        dest: Address::new(1, 1, "14155551234"),
        short_message: bytes::Bytes::from_static(b"Your code is 482910"),
        registered_delivery: smpp_router::smpp::values::RegisteredDelivery(1),
        ..Sm::default()
    };
    raw.send(&Command::new(2, Pdu::SubmitSm(submit))).await;
    let mut offers = Vec::new();
    while let Ok(Some(cmd)) =
        tokio::time::timeout(std::time::Duration::from_millis(2500), raw.recv()).await
    {
        if let Pdu::DeliverSm(_) = cmd.pdu {
            let status = answers
                .get(offers.len())
                .copied()
                .unwrap_or(CommandStatus::ROK);
            offers.push(Instant::now());
            raw.send(&Command {
                status,
                sequence_number: cmd.sequence_number,
                pdu: Pdu::DeliverSmResp(Default::default()),
            })
            .await;
        }
    }
    offers
}

/// A client that answers a receipt with `ESME_RX_P_APPN` (stop retrying) does not get it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_refused_for_good_is_not_offered_again() {
    let offers = receipt_offers(&[CommandStatus::RX_P_APPN]).await;
    assert_eq!(offers.len(), 1, "the receipt was offered once");
}

/// A client that answers a receipt with `ESME_RX_T_APPN` (try later) gets it again, a second
/// later rather than at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_refused_for_now_comes_again_a_second_later() {
    let offers = receipt_offers(&[CommandStatus::RX_T_APPN]).await;
    assert_eq!(offers.len(), 2, "offered again once, then taken");
    let gap = offers[1] - offers[0];
    assert!(
        gap >= std::time::Duration::from_millis(500),
        "not offered again at once: {gap:?}"
    );
}
