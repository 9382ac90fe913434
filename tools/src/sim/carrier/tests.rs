//! The stand-in carrier driven by the project's own ESME client over loopback sockets.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::join_all;

use super::*;
use smpp_router::esme::{ConnectError, EsmeEvent, EsmeEvents, EsmeHandle, InboundRequest, connect};
use smpp_router::smpp::pdu::{Address, Bind, DataSm, Pdu, Sm};
use smpp_router::smpp::receipt;
use smpp_router::smpp::session::{BindMode, SessionConfig};
use smpp_router::smpp::tlv::TlvsBuilder;
use smpp_router::smpp::values::{MessageState, RegisteredDelivery};
use smpp_router::smpp::{Command, CommandStatus};

const WAIT: Duration = Duration::from_secs(2);

fn creds(system_id: &str, password: &str) -> Bind {
    Bind {
        system_id: Bytes::copy_from_slice(system_id.as_bytes()),
        password: Bytes::copy_from_slice(password.as_bytes()),
        ..Bind::default()
    }
}

fn esme_config() -> SessionConfig {
    SessionConfig {
        window: 32,
        response_timeout: Duration::from_secs(2),
        ..SessionConfig::esme()
    }
}

async fn try_bind(
    addr: SocketAddr,
    mode: BindMode,
    system_id: &str,
    password: &str,
) -> Result<(EsmeHandle, EsmeEvents), ConnectError> {
    let bind = creds(system_id, password);
    connect(&addr.to_string(), None, mode, bind, esme_config()).await
}

async fn bind(addr: SocketAddr, mode: BindMode, system_id: &str) -> (EsmeHandle, EsmeEvents) {
    try_bind(addr, mode, system_id, "pw").await.unwrap()
}

fn submit_sm(to: &str, registered_delivery: u8) -> Pdu {
    Pdu::SubmitSm(Sm {
        source: Address::new(5, 0, "MyBank"),
        dest: Address::new(1, 1, to),
        registered_delivery: RegisteredDelivery(registered_delivery),
        short_message: Bytes::from_static(b"Your code is 123456"),
        ..Sm::default()
    })
}

/// Submits and returns the message id of a successful answer.
async fn submit_ok(esme: &EsmeHandle, pdu: Pdu) -> String {
    let resp = esme.submit(pdu).await.unwrap();
    assert_eq!(resp.status, CommandStatus::ROK, "{resp:?}");
    match resp.pdu {
        Pdu::SubmitSmResp(r) | Pdu::DataSmResp(r) => {
            String::from_utf8(r.message_id.to_vec()).unwrap()
        }
        other => panic!("not a submit answer: {other:?}"),
    }
}

async fn next_request(events: &mut EsmeEvents) -> InboundRequest {
    match tokio::time::timeout(WAIT, events.recv()).await {
        Ok(Some(EsmeEvent::Request(req))) => req,
        other => panic!("expected a request from the carrier: {other:?}"),
    }
}

/// Waits (briefly) until `cond` holds.
async fn eventually(what: &str, cond: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// A receipt's parts: TLV id, TLV state, and the text.
fn receipt_parts(cmd: &Command) -> (String, MessageState, String, Sm) {
    let Pdu::DeliverSm(sm) = &cmd.pdu else {
        panic!("not a deliver_sm: {cmd:?}");
    };
    assert!(sm.esm_class.is_receipt(), "esm_class {:?}", sm.esm_class);
    let id = String::from_utf8(sm.tlvs.receipted_message_id().unwrap().to_vec()).unwrap();
    let state = sm.tlvs.message_state().unwrap();
    let text = String::from_utf8(sm.short_message.to_vec()).unwrap();
    (id, state, text, sm.clone())
}

fn is_hex_id(id: &str) -> bool {
    id.len() == 10
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[tokio::test]
async fn trx_submit_gets_a_hex_id_and_a_receipt_carrying_it() {
    let knobs = Knobs {
        keep_messages: 10,
        ..Knobs::default()
    };
    let stats = knobs.stats.clone();
    let (addr, _server) = start(knobs).await.unwrap();
    let (esme, mut events) = bind(addr, BindMode::Transceiver, "acme").await;
    assert_eq!(esme.info().system_id, Bytes::from_static(b"sim-carrier"));
    assert_eq!(esme.info().interface_version, 0x34);

    let id = submit_ok(&esme, submit_sm("14155551234", 1)).await;
    assert!(is_hex_id(&id), "{id}");
    let req = next_request(&mut events).await;
    let (tlv_id, state, text, sm) = receipt_parts(&req.command);
    assert_eq!(tlv_id, id);
    assert_eq!(state, MessageState::DELIVERED);
    assert_eq!(sm.source.addr.as_slice(), b"14155551234");
    assert_eq!(sm.dest.addr.as_slice(), b"MyBank");
    let fields = receipt::parse(&text);
    assert_eq!(fields.id, Some(id.as_str()));
    assert_eq!((fields.sub, fields.dlvrd), (Some(1), Some(1)));
    assert_eq!(fields.stat, Some("DELIVRD"));
    assert_eq!(fields.err, Some("000"));
    assert_eq!(fields.text, Some(""));
    assert_eq!(fields.submit_date_raw.map(str::len), Some(10));
    assert!(fields.done_date.is_some());
    req.reply.ack(CommandStatus::ROK).await.unwrap();

    // data_sm too; and no receipt when none is asked for.
    let data_sm = Pdu::DataSm(DataSm {
        source: Address::new(5, 0, "MyBank"),
        dest: Address::new(1, 1, "14155550000"),
        registered_delivery: RegisteredDelivery(1),
        tlvs: TlvsBuilder::new().push(0x0424, b"hello").build(),
        ..DataSm::default()
    });
    let data_id = submit_ok(&esme, data_sm).await;
    let req = next_request(&mut events).await;
    assert_eq!(receipt_parts(&req.command).0, data_id);
    req.reply.ack(CommandStatus::ROK).await.unwrap();
    let quiet_id = submit_ok(&esme, submit_sm("14155550001", 0)).await;

    eventually("two receipts acknowledged", || stats.receipts_acked() == 2).await;
    assert_eq!(stats.receipts_sent(), 2);
    assert_eq!(
        (stats.submits(), stats.accepted(), stats.binds()),
        (3, 3, 1)
    );
    assert_eq!(stats.ids(), [id, data_id, quiet_id]);
    let kept = stats.messages();
    assert_eq!(kept[0].system_id, "acme");
    assert_eq!(kept[0].dest, "14155551234");
    assert_eq!(kept[0].registered_delivery, 1);
    assert!(events.try_recv().is_none());
}

#[tokio::test]
async fn receipt_goes_to_the_receiver_of_a_tx_rx_pair_and_nowhere_else() {
    let (addr, _server) = start(Knobs::default()).await.unwrap();
    let (tx, mut tx_events) = bind(addr, BindMode::Transmitter, "acme").await;
    let (_rx, mut rx_events) = bind(addr, BindMode::Receiver, "acme").await;
    let (_other, mut other_events) = bind(addr, BindMode::Receiver, "globex").await;

    let id = submit_ok(&tx, submit_sm("447700900123", 1)).await;
    let req = next_request(&mut rx_events).await;
    assert_eq!(receipt_parts(&req.command).0, id);
    req.reply.ack(CommandStatus::ROK).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(tx_events.try_recv().is_none());
    assert!(other_events.try_recv().is_none());
}

#[tokio::test]
async fn receipts_are_held_until_a_receiver_binds() {
    let knobs = Knobs::default();
    let (stats, control) = (knobs.stats.clone(), knobs.control.clone());
    let (addr, _server) = start(knobs).await.unwrap();
    let (tx, _tx_events) = bind(addr, BindMode::Transmitter, "acme").await;
    let mut ids = BTreeSet::new();
    for i in 0..3 {
        ids.insert(submit_ok(&tx, submit_sm(&format!("1415555000{i}"), 1)).await);
    }
    // Queued as the answers went out.
    assert_eq!(control.pending("acme"), 3);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(stats.receipts_sent(), 0);

    let (_rx, mut rx_events) = bind(addr, BindMode::Receiver, "acme").await;
    let mut got = BTreeSet::new();
    for _ in 0..3 {
        let req = next_request(&mut rx_events).await;
        got.insert(receipt_parts(&req.command).0);
        req.reply.ack(CommandStatus::ROK).await.unwrap();
    }
    assert_eq!(got, ids);
    eventually("three receipts acknowledged", || {
        stats.receipts_acked() == 3
    })
    .await;
    assert_eq!(control.pending("acme"), 0);
}

#[tokio::test]
async fn refused_or_unanswered_receipts_are_resent_until_acknowledged() {
    let knobs = Knobs {
        response_timeout: Duration::from_millis(150),
        retry_delay: Duration::from_millis(10),
        ..Knobs::default()
    };
    let stats = knobs.stats.clone();
    let (addr, _server) = start(knobs).await.unwrap();
    let (esme, mut events) = bind(addr, BindMode::Transceiver, "acme").await;
    let id = submit_ok(&esme, submit_sm("14155551234", 1)).await;

    let first = next_request(&mut events).await;
    assert_eq!(receipt_parts(&first.command).0, id);
    first.reply.ack(CommandStatus::RX_T_APPN).await.unwrap();
    let second = next_request(&mut events).await; // Kept, never answered.
    assert_eq!(receipt_parts(&second.command).0, id);
    let third = next_request(&mut events).await;
    assert_eq!(receipt_parts(&third.command).0, id);
    third.reply.ack(CommandStatus::ROK).await.unwrap();

    eventually("the receipt acknowledged", || stats.receipts_acked() == 1).await;
    assert_eq!(stats.receipts_sent(), 3);
    assert_eq!(stats.receipts_retried(), 2);
    drop(second);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(events.try_recv().is_none());
}

#[tokio::test]
async fn a_receipt_in_flight_when_its_bind_goes_is_sent_on_another() {
    let knobs = Knobs::default();
    let stats = knobs.stats.clone();
    let (addr, _server) = start(knobs).await.unwrap();
    let (tx, _tx_events) = bind(addr, BindMode::Transmitter, "acme").await;
    let (rx1, mut rx1_events) = bind(addr, BindMode::Receiver, "acme").await;
    let id = submit_ok(&tx, submit_sm("14155551234", 1)).await;
    let unanswered = next_request(&mut rx1_events).await;
    assert_eq!(receipt_parts(&unanswered.command).0, id);
    rx1.unbind().await;

    let (_rx2, mut rx2_events) = bind(addr, BindMode::Receiver, "acme").await;
    let req = next_request(&mut rx2_events).await;
    assert_eq!(receipt_parts(&req.command).0, id);
    req.reply.ack(CommandStatus::ROK).await.unwrap();
    eventually("the receipt acknowledged", || stats.receipts_acked() == 1).await;
    assert_eq!((stats.receipts_sent(), stats.receipts_retried()), (2, 1));
    drop(unanswered);
}

#[tokio::test]
async fn submits_beyond_tps_are_throttled() {
    let knobs = Knobs {
        tps: 5,
        ..Knobs::default()
    };
    let stats = knobs.stats.clone();
    let (addr, _server) = start(knobs).await.unwrap();
    let (esme, _events) = bind(addr, BindMode::Transceiver, "acme").await;
    let answers = join_all((0..20).map(|_| esme.submit(submit_sm("14155551234", 0)))).await;
    let statuses: Vec<_> = answers.into_iter().map(|a| a.unwrap().status).collect();
    let ok = statuses
        .iter()
        .filter(|s| **s == CommandStatus::ROK)
        .count();
    let throttled = statuses
        .iter()
        .filter(|s| **s == CommandStatus::RTHROTTLED)
        .count();
    assert_eq!((ok, throttled), (5, 15), "{statuses:?}");
    assert_eq!(stats.throttled(), 15);
}

#[tokio::test]
async fn wrong_credentials_and_refused_binds() {
    let knobs = Knobs {
        system_id: Some("acme".into()),
        password: Some("secret".into()),
        ..Knobs::default()
    };
    let stats = knobs.stats.clone();
    let (addr, _server) = start(knobs).await.unwrap();
    let refused = |r: Result<(EsmeHandle, EsmeEvents), ConnectError>| match r {
        Err(ConnectError::BindRejected(status)) => status,
        other => panic!("expected a refused bind: {other:?}"),
    };
    let r = try_bind(addr, BindMode::Transceiver, "acme", "wrong").await;
    assert_eq!(refused(r), CommandStatus::RINVPASWD);
    let r = try_bind(addr, BindMode::Transmitter, "intruder", "secret").await;
    assert_eq!(refused(r), CommandStatus::RINVSYSID);
    assert!(
        try_bind(addr, BindMode::Receiver, "acme", "secret")
            .await
            .is_ok()
    );
    assert_eq!((stats.bind_refusals(), stats.binds()), (2, 1));

    let knobs = Knobs {
        reject_binds: true,
        ..Knobs::default()
    };
    let (addr, _server) = start(knobs).await.unwrap();
    let r = try_bind(addr, BindMode::Transceiver, "acme", "pw").await;
    assert_eq!(refused(r), CommandStatus::RBINDFAIL);
}

#[tokio::test]
async fn decimal_ids_and_undeliverable_receipts() {
    let knobs = Knobs {
        id_format: IdFormat::Decimal,
        undeliv_share: 1.0,
        receipt_delay: Latency::fixed(Duration::from_millis(30)),
        ..Knobs::default()
    };
    let (addr, _server) = start(knobs).await.unwrap();
    let (esme, mut events) = bind(addr, BindMode::Transceiver, "acme").await;
    let id = submit_ok(&esme, submit_sm("14155551234", 1)).await;
    assert!(
        id.len() >= 11 && id.bytes().all(|b| b.is_ascii_digit()),
        "{id}"
    );
    let sent = tokio::time::Instant::now();
    let req = next_request(&mut events).await;
    assert!(sent.elapsed() >= Duration::from_millis(25));
    let (tlv_id, state, text, _) = receipt_parts(&req.command);
    assert_eq!(tlv_id, id);
    assert_eq!(state, MessageState::UNDELIVERABLE);
    let fields = receipt::parse(&text);
    assert_eq!(fields.id, Some(id.as_str()));
    assert_eq!((fields.stat, fields.dlvrd), (Some("UNDELIV"), Some(0)));
    req.reply.ack(CommandStatus::ROK).await.unwrap();
    // Receipt on failure only (registered_delivery 2) is sent too.
    let id = submit_ok(&esme, submit_sm("14155551234", 2)).await;
    assert_eq!(
        receipt_parts(&next_request(&mut events).await.command).0,
        id
    );
}

#[tokio::test]
async fn faults_drop_reject_and_ignore() {
    let knobs = Knobs {
        drop_after: Some(2),
        ..Knobs::default()
    };
    let stats = knobs.stats.clone();
    let (addr, _server) = start(knobs).await.unwrap();
    let (esme, _events) = bind(addr, BindMode::Transceiver, "acme").await;
    submit_ok(&esme, submit_sm("14155551234", 0)).await;
    let err = esme.submit(submit_sm("14155551234", 0)).await.unwrap_err();
    assert!(err.written(), "{err:?}");
    esme.closed().await;
    assert_eq!((stats.dropped(), stats.accepted()), (1, 1));

    let knobs = Knobs {
        reject_share: 1.0,
        ..Knobs::default()
    };
    let (addr, _server) = start(knobs).await.unwrap();
    let (esme, _events) = bind(addr, BindMode::Transceiver, "acme").await;
    let resp = esme.submit(submit_sm("14155551234", 1)).await.unwrap();
    assert_eq!(resp.status, CommandStatus::RSYSERR);

    let knobs = Knobs {
        ignore_share: 1.0,
        ..Knobs::default()
    };
    let stats = knobs.stats.clone();
    let (addr, _server) = start(knobs).await.unwrap();
    let config = SessionConfig {
        response_timeout: Duration::from_millis(100),
        ..esme_config()
    };
    let bind = creds("acme", "pw");
    let (esme, _events) = connect(&addr.to_string(), None, BindMode::Transceiver, bind, config)
        .await
        .unwrap();
    let err = esme.submit(submit_sm("14155551234", 1)).await.unwrap_err();
    assert!(err.written(), "{err:?}");
    assert_eq!(stats.ignored(), 1);
}

#[tokio::test]
async fn mobile_originated_messages_on_bind_and_injected() {
    let knobs = Knobs {
        mo_on_bind: 2,
        ..Knobs::default()
    };
    let (stats, control) = (knobs.stats.clone(), knobs.control.clone());
    let (addr, _server) = start(knobs).await.unwrap();
    control.inject_mo("acme", "+14155550199", "ACME", "STOP");
    let (_esme, mut events) = bind(addr, BindMode::Transceiver, "acme").await;
    let mut texts = BTreeSet::new();
    for _ in 0..3 {
        let req = next_request(&mut events).await;
        let Pdu::DeliverSm(sm) = &req.command.pdu else {
            panic!("not a deliver_sm: {:?}", req.command);
        };
        assert!(!sm.esm_class.is_receipt());
        texts.insert(String::from_utf8(sm.short_message.to_vec()).unwrap());
        req.reply.ack(CommandStatus::ROK).await.unwrap();
    }
    assert_eq!(
        texts,
        BTreeSet::from(["MO 0".into(), "MO 1".into(), "STOP".into()])
    );
    eventually("three MOs acknowledged", || stats.mo_acked() == 3).await;
    assert_eq!(stats.mo_sent(), 3);
}

#[test]
fn interface_versions_and_arguments() {
    assert_eq!(parse_interface_version("0x34"), Ok(0x34));
    assert_eq!(parse_interface_version("5.0"), Ok(0x50));
    assert_eq!(parse_interface_version("34"), Ok(0x34));
    assert!(parse_interface_version("0x99").is_err());
    assert!(parse_interface_version("x").is_err());

    use clap::Parser;
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: CarrierArgs,
    }
    let cli = Cli::try_parse_from([
        "carrier",
        "--listen",
        "127.0.0.1:0",
        "--id-format",
        "decimal",
        "--receipt-delay",
        "1s..3s",
        "--tps",
        "100",
        "--interface-version",
        "0x50",
        "--enquire-link-interval",
        "30s",
    ])
    .unwrap();
    let k = cli.args.knobs().unwrap();
    assert_eq!(k.id_format, IdFormat::Decimal);
    assert_eq!(k.receipt_delay.max, Duration::from_secs(3));
    assert_eq!((k.tps, k.interface_version), (100, 0x50));
    assert_eq!(k.enquire_link_interval, Some(Duration::from_secs(30)));
    let bad = Cli::try_parse_from(["carrier", "--undeliv-share", "2"]).unwrap();
    assert!(bad.args.knobs().is_err());
}
