//! Server lifecycle over real sockets: graceful shutdown answers in-flight messages before
//! unbinding (and waits for the messages of clients that left), a client that stops reading holds
//! up no one and loses no answer, a `deliver_sm` a client does not answer is retried on another
//! session, and a receipt the router makes itself waits in the store for a receiver.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use smpp_router::server::{Outcome, OutcomeFuture, Submission, SubmitHandler};
use smpp_router::smpp::pdu::{Address, Bind, Command, Pdu, Sm, SmResp};
use smpp_router::smpp::{CommandId, CommandStatus};
use smpp_router_e2e::{LiveRouter, Raw, TestRouter, account, eventually, scratch_dir};

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

/// A transmitter-only client of `acme`, bound, that has sent one message asking for a receipt.
async fn transmitter_with_a_message(r: &LiveRouter) -> Raw {
    let mut bind = bind_as(b't');
    if let Pdu::BindTransceiver(b) = bind.pdu {
        bind.pdu = Pdu::BindTransmitter(b);
    }
    let mut tx = Raw::connect(r.plain).await;
    tx.send(&bind).await;
    assert_eq!(tx.recv().await.unwrap().status, CommandStatus::ROK);
    tx.send(&submit_with_receipt(2)).await;
    tx
}

fn submit_with_receipt(seq: u32) -> Command {
    let mut c = submit(seq);
    if let Pdu::SubmitSm(sm) = &mut c.pdu {
        sm.registered_delivery = smpp_router::smpp::values::RegisteredDelivery(1);
    }
    c
}

/// The whole router (store and outbox included) with one channel that reports the message
/// delivered after `latency` — a final state, so the router makes the receipt itself.
async fn delivering_router(name: &str, latency: &str) -> LiveRouter {
    delivering_router_for(name, latency, "").await
}

/// The same, with `extra` settings for the account.
async fn delivering_router_for(name: &str, latency: &str, extra: &str) -> LiveRouter {
    let path = scratch_dir(name).join("routes.toml");
    std::fs::write(
        &path,
        format!(
            "{}\n[[channel]]\nname = \"sink\"\nkind = \"test\"\noutcomes = [\"delivered\"]\n\
             latency = \"{latency}\"\n\n[[route]]\nname = \"all\"\nchannels = [\"sink\"]\n",
            account("acme", "pw", extra)
        ),
    )
    .unwrap();
    LiveRouter::start(&path).await
}

/// Receives the next `deliver_sm` (answering enquire_links meanwhile), acknowledges it, and
/// returns its `receipted_message_id`.
async fn take_receipt(c: &mut Raw) -> String {
    loop {
        let cmd = c.recv().await.expect("a receipt");
        match cmd.pdu {
            Pdu::DeliverSm(sm) => {
                c.send(&Command::new(
                    cmd.sequence_number,
                    Pdu::DeliverSmResp(SmResp::default()),
                ))
                .await;
                let id = sm
                    .tlvs
                    .receipted_message_id()
                    .expect("receipted_message_id");
                return String::from_utf8_lossy(id)
                    .trim_end_matches('\0')
                    .to_string();
            }
            Pdu::EnquireLink => {
                c.send(&Command::new(cmd.sequence_number, Pdu::EnquireLinkResp))
                    .await;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
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
    assert!(delivery.await.unwrap().is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_the_router_makes_waits_for_a_receiver() {
    let r = delivering_router("own-receipt", "0ms").await;
    // A transmitter-only client: its receipts must reach its receiver bind, which binds later.
    let mut tx = transmitter_with_a_message(&r).await;
    let resp = tx.recv().await.unwrap();
    assert_eq!(resp.status, CommandStatus::ROK);
    let Pdu::SubmitSmResp(SmResp { message_id, .. }) = resp.pdu else {
        panic!("{resp:?}")
    };
    // Nobody receives yet: the receipt is kept in the store.
    eventually("receipt stored", || r.store.stats().queue_depth == 1).await;
    let mut rx = Raw::connect(r.plain).await;
    rx.send(&bind_as(b'r')).await;
    assert_eq!(rx.recv().await.unwrap().status, CommandStatus::ROK);
    assert_eq!(take_receipt(&mut rx).await, message_id);
    eventually("receipt removed once acknowledged", || {
        r.store.stats().queue_depth == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_for_the_messages_of_clients_that_left() {
    let r = delivering_router("left", "600ms").await;
    let tx = transmitter_with_a_message(&r).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The client leaves before its answer; the router is stopped while the message is routed.
    drop(tx);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let store = r.store.clone();
    tokio::time::timeout(Duration::from_secs(10), r.shutdown(Duration::from_secs(5)))
        .await
        .unwrap();
    // The message was still routed, and its receipt kept for the client's next bind.
    assert_eq!(store.stats().queue_depth, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_keeps_the_receipts_a_client_left_unanswered() {
    let r = delivering_router("unanswered", "0ms").await;
    let mut c = Raw::connect(r.plain).await;
    c.send(&bind_as(b't')).await;
    assert_eq!(c.recv().await.unwrap().status, CommandStatus::ROK);
    c.send(&submit_with_receipt(2)).await;
    // The answer, then the receipt, which this client never acknowledges.
    let mut got_receipt = false;
    while !got_receipt {
        let cmd = c.recv().await.expect("the answer and the receipt");
        got_receipt = cmd.command_id() == CommandId::DELIVER_SM;
    }
    let store = r.store.clone();
    let stopping = tokio::spawn(r.shutdown(Duration::from_secs(5)));
    loop {
        let Some(cmd) = c.recv().await else { break };
        if cmd.pdu == Pdu::Unbind {
            c.send(&Command::new(cmd.sequence_number, Pdu::UnbindResp))
                .await;
        }
    }
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .unwrap()
        .unwrap();
    // Kept for the client's next bind rather than lost with the session.
    assert_eq!(store.stats().queue_depth, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_holds_up_no_one_and_loses_nothing() {
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let r = delivering_router_for("deaf", "0ms", "tps = 1000000\nwindow = 10000").await;
    // A transceiver with a tiny receive buffer that stops reading once bound.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut deaf = socket.connect(r.plain).await.unwrap();
    deaf.write_all(&bind_as(b't').to_bytes().unwrap())
        .await
        .unwrap();
    let mut head = [0u8; 4];
    deaf.read_exact(&mut head).await.unwrap();
    let mut rest = vec![0u8; u32::from_be_bytes(head) as usize - 4];
    deaf.read_exact(&mut rest).await.unwrap();
    let (mut deaf_rd, mut deaf_wr) = deaf.into_split();
    // It keeps submitting (each asking for a receipt) until the router stops reading it.
    let sent = Arc::new(AtomicU32::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let flood = tokio::spawn({
        let (sent, stop) = (sent.clone(), stop.clone());
        async move {
            let mut seq = 2;
            while !stop.load(Ordering::SeqCst) {
                let pdu = submit_with_receipt(seq).to_bytes().unwrap();
                deaf_wr.write_all(&pdu).await.unwrap();
                sent.fetch_add(1, Ordering::SeqCst);
                seq += 1;
            }
            deaf_wr
        }
    });
    let mut last = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = sent.load(Ordering::SeqCst);
        if now == last && now > 0 {
            break;
        }
        last = now;
    }
    // Stalled: its writes block, so the router has stopped reading it. Another session of the
    // same account is served meanwhile, answers and receipts both.
    let mut ok = Raw::connect(r.plain).await;
    ok.send(&bind_as(b't')).await;
    assert_eq!(ok.recv().await.unwrap().status, CommandStatus::ROK);
    for seq in 2..52 {
        ok.send(&submit_with_receipt(seq)).await;
    }
    let (mut answers, mut receipts) = (0, 0);
    while answers < 50 || receipts < 50 {
        let cmd = ok.recv().await.expect("the other session is served");
        match cmd.pdu {
            Pdu::SubmitSmResp(_) => {
                assert_eq!(cmd.status, CommandStatus::ROK);
                answers += 1;
            }
            Pdu::DeliverSm(_) => {
                ok.send(&Command::new(
                    cmd.sequence_number,
                    Pdu::DeliverSmResp(SmResp::default()),
                ))
                .await;
                receipts += 1;
            }
            _ => {}
        }
    }
    // Once it reads again, every one of its submits gets exactly one answer.
    stop.store(true, Ordering::SeqCst);
    let reader = tokio::spawn(async move {
        let mut buf = bytes::BytesMut::new();
        let framer = smpp_router::smpp::FrameDecoder::default();
        let mut answered = std::collections::HashSet::new();
        let mut acks = Vec::new();
        loop {
            while let Some(frame) = framer.decode(&mut buf).unwrap() {
                let cmd = Command::decode(frame).unwrap();
                match cmd.command_id() {
                    CommandId::SUBMIT_SM_RESP => {
                        assert!(answered.insert(cmd.sequence_number), "answered twice");
                    }
                    CommandId::DELIVER_SM => acks.push(cmd.sequence_number),
                    _ => {}
                }
            }
            let read = tokio::time::timeout(Duration::from_secs(2), deaf_rd.read_buf(&mut buf));
            match read.await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return (answered, acks.len()),
            }
        }
    });
    let deaf_wr = tokio::time::timeout(Duration::from_secs(10), flood)
        .await
        .expect("its last write completes once it reads")
        .unwrap();
    let (answered, receipts) = reader.await.unwrap();
    let sent = sent.load(Ordering::SeqCst);
    assert!(sent > 100, "only {sent} submits before the stall");
    assert_eq!(answered.len() as u32, sent);
    assert!(receipts > 0);
    drop(deaf_wr);
}

/// Two routers in one process, each built by the composition root (`app::start`) on port 0
/// from its own files, each with an admin interface: each serves its own accounts, its
/// messages get their receipts, and a reload of one leaves the other's table as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_routers_live_side_by_side_in_one_process() {
    let routes = |system_id: &str| {
        let path = scratch_dir(&format!("two-{system_id}")).join("routes.toml");
        std::fs::write(
            &path,
            format!(
                "{}\n[[channel]]\nname = \"sink\"\nkind = \"test\"\noutcomes = [\"delivered\"]\n\n\
                 [[route]]\nname = \"all\"\nchannels = [\"sink\"]\n",
                account(system_id, "pw", "")
            ),
        )
        .unwrap();
        path
    };
    let (a_path, b_path) = (routes("alpha"), routes("beta"));
    let admin = "[admin]\nlisten = \"127.0.0.1:0\"\n";
    let a = LiveRouter::start_with(&a_path, admin).await;
    let b = LiveRouter::start_with(&b_path, admin).await;
    assert_ne!(a.plain, b.plain);
    assert_ne!(a.admin, b.admin);
    for (router, mine, other) in [(&a, "alpha", "beta"), (&b, "beta", "alpha")] {
        let mut c = Raw::connect(router.plain).await;
        c.send(&Command::new(1, Pdu::BindTransceiver(creds(mine))))
            .await;
        assert_eq!(c.recv().await.unwrap().status, CommandStatus::ROK, "{mine}");
        c.send(&submit_with_receipt(2)).await;
        let answer = c.recv().await.unwrap();
        assert_eq!(answer.status, CommandStatus::ROK);
        let Pdu::SubmitSmResp(resp) = answer.pdu else {
            panic!("{answer:?}")
        };
        let id = String::from_utf8_lossy(&resp.message_id).into_owned();
        assert_eq!(take_receipt(&mut c).await, id, "{mine}: its receipt");
        let mut c = Raw::connect(router.plain).await;
        c.send(&Command::new(1, Pdu::BindTransceiver(creds(other))))
            .await;
        assert_eq!(
            c.recv().await.unwrap().status,
            CommandStatus::RINVPASWD,
            "{other} is not an account of this router"
        );
    }
    std::fs::write(
        &a_path,
        std::fs::read_to_string(&a_path).unwrap() + "\n# edited\n",
    )
    .unwrap();
    let generation = a.router.reload().unwrap().generation;
    assert!(generation >= 2);
    assert_eq!(b.router.status().generation, 1, "b's table untouched");
}

fn creds(system_id: &str) -> Bind {
    Bind {
        system_id: system_id.as_bytes().to_vec().into(),
        password: b"pw".to_vec().into(),
        interface_version: 0x34,
        ..Bind::default()
    }
}

/// `GET /readyz` of the admin interface at `addr`: the status and the body.
async fn readyz(addr: std::net::SocketAddr) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).await.unwrap();
    let status = raw.split(' ').nth(1).unwrap().parse().unwrap();
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b.to_string());
    (status, body.unwrap_or_default())
}

/// From the start of a shutdown, `/readyz` says the instance is draining (503), so that a load
/// balancer stops sending it clients while its sessions finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_says_draining_from_the_start_of_a_shutdown() {
    let path = scratch_dir("readyz-drain").join("routes.toml");
    std::fs::write(
        &path,
        format!(
            "{}\n[[channel]]\nname = \"sink\"\nkind = \"test\"\n\n[[route]]\nname = \"all\"\nchannels = [\"sink\"]\n",
            account("acme", "pw", "")
        ),
    )
    .unwrap();
    let r = LiveRouter::start_with(&path, "[admin]\nlisten = \"127.0.0.1:0\"\n").await;
    let admin = r.admin.expect("the admin interface listens");
    assert_eq!(readyz(admin).await, (200, "ready\n".to_string()));
    // A bound client keeps the drain going until it answers the unbind.
    let mut c = Raw::connect(r.plain).await;
    c.send(&bind_as(b't')).await;
    assert_eq!(c.recv().await.unwrap().status, CommandStatus::ROK);
    let stopping = tokio::spawn(r.shutdown(Duration::from_secs(5)));
    let unbind = c.recv().await.expect("the router unbinds the client");
    assert_eq!(unbind.pdu, Pdu::Unbind);
    let (status, body) = readyz(admin).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("draining"), "{body}");
    c.send(&Command::new(unbind.sequence_number, Pdu::UnbindResp))
        .await;
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .unwrap()
        .unwrap();
}
