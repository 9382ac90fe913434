//! Server lifecycle over real sockets: graceful shutdown answers in-flight messages before
//! unbinding, and a `deliver_sm` a client does not answer is retried on another session.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use smpp_router::server::{Outcome, OutcomeFuture, Submission, SubmitHandler};
use smpp_router::smpp::pdu::{Address, Bind, Command, Pdu, Sm, SmResp};
use smpp_router::smpp::{CommandId, CommandStatus};
use smpp_router_e2e::{Raw, TestRouter, account};

/// Accepts every message after a delay, like a slow channel.
struct Slow(Duration);

impl SubmitHandler for Slow {
    fn submit(&self, _s: Submission) -> OutcomeFuture {
        let d = self.0;
        Box::pin(async move {
            tokio::time::sleep(d).await;
            Outcome::Accepted {
                message_id: "slow-1".into(),
                receipt: None,
            }
        })
    }
}

fn bind_as(mode: u8) -> Command {
    let b = Bind {
        system_id: "acme".into(),
        password: "pw".into(),
        interface_version: 0x34,
        ..Bind::default()
    };
    Command::new(
        1,
        match mode {
            b'r' => Pdu::BindReceiver(b),
            _ => Pdu::BindTransceiver(b),
        },
    )
}

fn submit(seq: u32) -> Command {
    Command::new(
        seq,
        Pdu::SubmitSm(Sm {
            dest: Address::new(1, 1, "14155551234"),
            short_message: "code 1234".into(),
            ..Sm::default()
        }),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_answers_in_flight_messages_then_unbinds() {
    let r = TestRouter::start(
        "",
        &account("acme", "pw", ""),
        Arc::new(Slow(Duration::from_millis(400))),
        false,
    )
    .await;
    let mut c = Raw::connect(r.plain).await;
    c.send(&bind_as(b't')).await;
    assert_eq!(c.recv().await.unwrap().status, CommandStatus::ROK);
    for seq in 2..5 {
        c.send(&submit(seq)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let plain = r.plain;
    let stopping = tokio::spawn(r.server.shutdown(Duration::from_secs(5)));
    // The three messages in flight are answered first ...
    let mut answered = Vec::new();
    for _ in 0..3 {
        let resp = c.recv().await.unwrap();
        assert_eq!(
            (resp.command_id(), resp.status),
            (CommandId::SUBMIT_SM_RESP, CommandStatus::ROK)
        );
        answered.push(resp.sequence_number);
    }
    answered.sort();
    assert_eq!(answered, [2, 3, 4]);
    // ... then the router unbinds.
    let unbind = c.recv().await.unwrap();
    assert_eq!(unbind.pdu, Pdu::Unbind);
    c.send(&Command::new(unbind.sequence_number, Pdu::UnbindResp))
        .await;
    assert!(c.closed_within(3).await);
    tokio::time::timeout(Duration::from_secs(5), stopping)
        .await
        .unwrap()
        .unwrap();
    // No new connections are served.
    let late = tokio::net::TcpStream::connect(plain).await;
    if let Ok(stream) = late {
        let mut raw = Raw::from_stream(stream);
        raw.send(&Command::new(1, Pdu::EnquireLink)).await;
        assert!(raw.recv().await.is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_deliver_sm_is_retried_on_another_session() {
    let r = TestRouter::start(
        "[limits]\nresponse_timeout = \"1s\"\n",
        &account("acme", "pw", ""),
        Arc::new(Slow(Duration::ZERO)),
        false,
    )
    .await;
    let mut deaf = Raw::connect(r.plain).await;
    deaf.send(&bind_as(b'r')).await;
    assert_eq!(deaf.recv().await.unwrap().status, CommandStatus::ROK);
    let registry = r.server.shared().clone();
    let receipt = Sm {
        esm_class: smpp_router::smpp::values::EsmClass(4),
        short_message: "id:1 stat:DELIVRD".into(),
        ..Sm::default()
    };
    let delivery = tokio::spawn(async move { registry.registry.deliver("acme", receipt).await });
    // The first session gets it and stays silent.
    let first = deaf.recv().await.unwrap();
    assert_eq!(first.command_id(), CommandId::DELIVER_SM);
    // A second receiver binds; after the timeout the retry goes there.
    let mut good = Raw::connect(r.plain).await;
    good.send(&bind_as(b'r')).await;
    assert_eq!(good.recv().await.unwrap().status, CommandStatus::ROK);
    let again = good.recv().await.unwrap();
    assert_eq!(again.command_id(), CommandId::DELIVER_SM);
    assert_eq!(again.pdu, first.pdu);
    good.send(&Command::new(
        again.sequence_number,
        Pdu::DeliverSmResp(SmResp::default()),
    ))
    .await;
    assert_eq!(delivery.await.unwrap(), Ok(()));
}
