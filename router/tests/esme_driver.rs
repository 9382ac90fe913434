//! The ESME driver against the test MC over real loopback sockets.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use bytes::Bytes;
use futures_util::future::join_all;

use smpp_router::esme::*;
use smpp_router::smpp::CommandStatus;
use smpp_router::smpp::pdu::{Address, Bind, Pdu, Sm};
use smpp_router::smpp::session::{BindMode, CloseReason, SessionConfig};
use smpp_router_tools::test_mc::{McOptions, McReport, TestMc};

fn creds() -> Bind {
    Bind {
        system_id: "acme".into(),
        password: "secret".into(),
        ..Bind::default()
    }
}

fn config(window: usize) -> SessionConfig {
    SessionConfig {
        window,
        ..SessionConfig::esme()
    }
}

fn submit(text: String) -> Pdu {
    Pdu::SubmitSm(Sm {
        source: Address::new(5, 0, "MyBank"),
        dest: Address::new(1, 1, "14155551234"),
        short_message: Bytes::from(text),
        ..Sm::default()
    })
}

async fn bind(mc: &TestMc, window: usize) -> (EsmeHandle, EsmeEvents) {
    connect(
        &mc.addr(),
        None,
        BindMode::Transceiver,
        creds(),
        config(window),
    )
    .await
    .unwrap()
}

async fn next_report(mc: &mut TestMc) -> McReport {
    tokio::time::timeout(Duration::from_secs(5), mc.reports.recv())
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn windowed_submits_answered_out_of_order_find_their_requests() {
    let mut mc = TestMc::start(McOptions {
        hold: 7,
        echo_text_as_id: true,
        ..McOptions::default()
    })
    .await;
    let (esme, _events) = bind(&mc, 10).await;
    assert_eq!(next_report(&mut mc).await, McReport::Bound("acme".into()));
    assert_eq!(esme.info().system_id, Bytes::from_static(b"test-mc"));
    assert_eq!(esme.info().mode, BindMode::Transceiver);

    let submits = (0..50).map(|i| {
        let esme = esme.clone();
        async move { (i, esme.submit(submit(format!("message {i}"))).await) }
    });
    for (i, result) in join_all(submits).await {
        let resp = result.unwrap();
        assert_eq!(resp.status, CommandStatus::ROK);
        let Pdu::SubmitSmResp(body) = resp.pdu else {
            panic!("not a submit_sm_resp: {resp:?}");
        };
        assert_eq!(body.message_id, Bytes::from(format!("message {i}")));
    }
    assert_eq!(esme.available(), 10);
    esme.unbind().await;
    assert!(esme.is_closed());
}

#[tokio::test]
async fn deliver_sm_is_surfaced_and_answered_when_the_application_says() {
    let mut mc = TestMc::start(McOptions {
        deliver_on_bind: 2,
        ..McOptions::default()
    })
    .await;
    let (_esme, mut events) = bind(&mc, 10).await;
    let mut answers = Vec::new();
    for _ in 0..2 {
        let Some(EsmeEvent::Request(req)) = events.recv().await else {
            panic!("expected a request");
        };
        let Pdu::DeliverSm(sm) = &req.command.pdu else {
            panic!("expected deliver_sm: {:?}", req.command);
        };
        assert!(sm.short_message.starts_with(b"hello "));
        assert!(req.reply.needs_answer());
        if sm.short_message.as_ref() == b"hello 0" {
            req.reply.ack(CommandStatus::ROK).await.unwrap();
        } else {
            drop(req); // Unanswered: the MC is told to retry later.
        }
    }
    assert_eq!(next_report(&mut mc).await, McReport::Bound("acme".into()));
    for _ in 0..2 {
        let McReport::DeliverAnswered(status) = next_report(&mut mc).await else {
            panic!("expected a deliver_sm_resp");
        };
        answers.push(status);
    }
    answers.sort();
    assert_eq!(answers, [CommandStatus::ROK, CommandStatus::RX_T_APPN]);
}

#[tokio::test]
async fn a_refused_bind_is_a_typed_error() {
    let mc = TestMc::start(McOptions {
        reject_bind: Some(CommandStatus::RINVPASWD),
        ..McOptions::default()
    })
    .await;
    let err = connect(&mc.addr(), None, BindMode::Transmitter, creds(), config(1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ConnectError::BindRejected(CommandStatus::RINVPASWD)),
        "{err:?}"
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn a_dropped_connection_resolves_in_flight_submits_as_written() {
    let mc = TestMc::start(McOptions {
        hold: 100,
        flush_after: None,
        drop_after: Some(3),
        ..McOptions::default()
    })
    .await;
    let (esme, mut events) = bind(&mc, 10).await;
    let submits = (0..3).map(|i| esme.submit(submit(format!("m{i}"))));
    for result in join_all(submits).await {
        let err = result.unwrap_err();
        assert_eq!(err, SubmitError::Closed { written: true });
        assert!(!err.safe_to_resend());
    }
    let Some(EsmeEvent::Closed(why)) = events.recv().await else {
        panic!("expected the close notice");
    };
    assert_eq!(why, Disconnect::Session(CloseReason::PeerClosed));
    esme.closed().await;
    assert!(esme.is_closed());
    let err = esme.submit(submit("late".into())).await.unwrap_err();
    assert_eq!(err, SubmitError::Closed { written: false });
    assert!(err.safe_to_resend());
}

#[tokio::test]
async fn submits_on_a_receiver_bind_are_refused_unsent() {
    let mc = TestMc::start(McOptions::default()).await;
    let (esme, _events) = connect(&mc.addr(), None, BindMode::Receiver, creds(), config(2))
        .await
        .unwrap();
    let err = esme.submit(submit("x".into())).await.unwrap_err();
    assert!(matches!(err, SubmitError::NotSent(_)), "{err:?}");
    assert!(!err.written());
    assert_eq!(esme.available(), 2);
}

#[tokio::test]
async fn tls_with_the_insecure_verifier_binds_and_submits() {
    let dir = std::env::temp_dir().join(format!("esme-tls-{}", std::process::id()));
    let (cert, key) = smpp_router::server::tls::self_signed(&dir).unwrap();
    let acceptor = smpp_router::server::tls::acceptor(&cert, &key).unwrap();
    let mc = TestMc::start(McOptions {
        tls: Some(acceptor),
        ..McOptions::default()
    })
    .await;
    let tls = TlsClientSettings::insecure().unwrap();
    let (esme, _events) = connect(
        &mc.addr(),
        Some(tls),
        BindMode::Transmitter,
        creds(),
        config(4),
    )
    .await
    .unwrap();
    let resp = esme.submit(submit("over TLS".into())).await.unwrap();
    assert_eq!(resp.status, CommandStatus::ROK);
    // The same certificate as a CA file verifies for real (it names 127.0.0.1).
    let verified = TlsClientSettings::with_ca_file(&cert).unwrap();
    let (esme2, _e) = connect(
        &mc.addr(),
        Some(verified),
        BindMode::Transmitter,
        creds(),
        config(1),
    )
    .await
    .unwrap();
    assert!(!esme2.is_closed());
    esme.unbind().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn an_unanswered_submit_times_out_and_frees_its_window_slot() {
    let mc = TestMc::start(McOptions {
        hold: 100,
        flush_after: None,
        ..McOptions::default()
    })
    .await;
    let config = SessionConfig {
        response_timeout: Duration::from_millis(100),
        ..config(1)
    };
    let (esme, _events) = connect(&mc.addr(), None, BindMode::Transmitter, creds(), config)
        .await
        .unwrap();
    let err = esme.submit(submit("lost".into())).await.unwrap_err();
    assert_eq!(err, SubmitError::Timeout);
    assert!(err.written());
    assert_eq!(esme.available(), 1);
    assert!(!esme.is_closed());
}

#[tokio::test]
async fn dropping_every_handle_unbinds() {
    let mc = TestMc::start(McOptions::default()).await;
    let (esme, mut events) = bind(&mc, 1).await;
    drop(esme);
    let closed = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .unwrap();
    let Some(EsmeEvent::Closed(why)) = closed else {
        panic!("expected the close notice: {closed:?}");
    };
    assert_eq!(why, Disconnect::Session(CloseReason::Unbound));
}
