//! The conformance list (the session rules, the answers to malformed PDUs, and the
//! mistakes common in other stacks): one test per row, each against the real router over loopback. The manual's
//! "Conformance" table (docs/conformance.md) names the test behind every row.
//!
//! Client side (the router as MC) with raw sockets, so that each case is exactly the bytes of the
//! row; carrier side (the router as ESME) against a scripted carrier written here, so that each
//! answer is exactly the one the row names.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use smpp_router::smpp::pdu::{
    Address, Bind, BindResp, CancelSm, Command, DataSm, Pdu, QuerySm, Sm, SmResp,
};
use smpp_router::smpp::tlv::TlvsBuilder;
use smpp_router::smpp::{CommandId, CommandStatus};
use smpp_router_e2e::{LiveRouter, Raw, account, scratch_dir};

const ROUTES: &str = "[[channel]]\nname = \"sink\"\nkind = \"test\"\noutcomes = [\"delivered\"]\n\n[[route]]\nname = \"all\"\nchannels = [\"sink\"]\n";

async fn router_with(routes: &str) -> LiveRouter {
    let path = scratch_dir("conformance").join("routes.toml");
    std::fs::write(
        &path,
        format!("{}{routes}", account("acme", "pw", "tps = 100000")),
    )
    .unwrap();
    LiveRouter::start(&path).await
}

async fn router() -> LiveRouter {
    router_with(ROUTES).await
}

fn creds() -> Bind {
    Bind {
        system_id: "acme".into(),
        password: "pw".into(),
        interface_version: 0x34,
        ..Bind::default()
    }
}

async fn bound(addr: SocketAddr, as_pdu: fn(Bind) -> Pdu) -> Raw {
    let mut raw = Raw::connect(addr).await;
    raw.send(&Command::new(1, as_pdu(creds()))).await;
    assert_eq!(raw.recv().await.unwrap().status, CommandStatus::ROK);
    raw
}

fn submit(to: &str) -> Sm {
    Sm {
        source: Address::new(5, 0, "MyBank"),
        dest: Address::new(1, 1, to),
        short_message: Bytes::from_static(b"hello"),
        registered_delivery: smpp_router::smpp::values::RegisteredDelivery(1),
        ..Sm::default()
    }
}

/// The 16-octet header of a PDU with `len`, `id`, `status`, `seq`.
fn header(len: u32, id: u32, status: u32, seq: u32) -> Vec<u8> {
    [len, id, status, seq]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect()
}

/// Sends `cmd` and asserts the answer: `want`'s command id and status, `cmd`'s sequence number.
async fn answered(raw: &mut Raw, cmd: Command, want: (CommandId, CommandStatus)) {
    let seq = cmd.sequence_number;
    raw.send(&cmd).await;
    let resp = raw.recv().await.unwrap();
    assert_eq!(
        (resp.command_id(), resp.status, resp.sequence_number),
        (want.0, want.1, seq)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enquire_link_before_bind_is_answered() {
    let r = router().await;
    let mut raw = Raw::connect(r.plain).await;
    raw.send(&Command::new(7, Pdu::EnquireLink)).await;
    let resp = raw.recv().await.unwrap();
    assert_eq!(
        (resp.pdu, resp.status, resp.sequence_number),
        (Pdu::EnquireLinkResp, CommandStatus::ROK, 7)
    );
    // Other requests before a bind: their own response with ESME_RINVBNDSTS.
    answered(
        &mut raw,
        Command::new(8, Pdu::SubmitSm(submit("14155551234"))),
        (CommandId::SUBMIT_SM_RESP, CommandStatus::RINVBNDSTS),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bind_while_bound_is_refused_with_alybnd_and_the_session_stays_bound() {
    let r = router().await;
    let mut raw = bound(r.plain, Pdu::BindTransceiver).await;
    answered(
        &mut raw,
        Command::new(2, Pdu::BindTransmitter(creds())),
        (CommandId::BIND_TRANSMITTER_RESP, CommandStatus::RALYBND),
    )
    .await;
    answered(
        &mut raw,
        Command::new(3, Pdu::SubmitSm(submit("14155551234"))),
        (CommandId::SUBMIT_SM_RESP, CommandStatus::ROK),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_on_a_receiver_bind_gets_invbndsts() {
    let r = router().await;
    let mut raw = bound(r.plain, Pdu::BindReceiver).await;
    answered(
        &mut raw,
        Command::new(2, Pdu::SubmitSm(submit("14155551234"))),
        (CommandId::SUBMIT_SM_RESP, CommandStatus::RINVBNDSTS),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_command_id_gets_generic_nack_and_the_session_stays_up() {
    let r = router().await;
    let mut raw = bound(r.plain, Pdu::BindTransceiver).await;
    for (seq, id) in [(2, 0x0000_0010), (3, 0x0001_0200)] {
        raw.write(&header(16, id, 0, seq)).await;
        let nack = raw.recv().await.unwrap();
        assert_eq!(
            (nack.pdu, nack.status, nack.sequence_number),
            (Pdu::GenericNack, CommandStatus::RINVCMDID, seq)
        );
    }
    raw.send(&Command::new(4, Pdu::EnquireLink)).await;
    assert_eq!(raw.recv().await.unwrap().pdu, Pdu::EnquireLinkResp);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_length_under_16_gets_generic_nack_then_close() {
    let r = router().await;
    let mut raw = bound(r.plain, Pdu::BindTransceiver).await;
    raw.write(&header(8, 0x15, 0, 9)).await;
    let nack = raw.recv().await.unwrap();
    assert_eq!(
        (nack.pdu, nack.status),
        (Pdu::GenericNack, CommandStatus::RINVCMDLEN)
    );
    assert!(raw.closed_within(5).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_length_over_the_maximum_gets_generic_nack_then_close_without_buffering() {
    let r = router().await;
    let mut raw = bound(r.plain, Pdu::BindTransceiver).await;
    // 16 MiB declared; only the header is sent. The router answers at once (it does not wait
    // for, or allocate, the body).
    raw.write(&header(16 << 20, 0x04, 0, 10)).await;
    let nack = raw.recv().await.unwrap();
    assert_eq!(
        (nack.pdu, nack.status),
        (Pdu::GenericNack, CommandStatus::RINVCMDLEN)
    );
    assert!(raw.closed_within(5).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_request_or_a_tls_client_hello_on_the_port_is_closed() {
    let r = router().await;
    let mut raw = Raw::connect(r.plain).await;
    raw.write(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await;
    assert!(raw.closed_within(5).await, "HTTP on the SMPP port");
    let mut raw = Raw::connect(r.plain).await;
    let mut hello = vec![
        0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00, 0x00, 0xc4, 0x03, 0x03,
    ];
    hello.extend_from_slice(&[0u8; 64]);
    raw.write(&hello).await;
    assert!(raw.closed_within(5).await, "TLS on the plaintext port");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_with_an_unknown_sequence_number_is_dropped_silently() {
    let r = router().await;
    let mut raw = bound(r.plain, Pdu::BindTransceiver).await;
    raw.send(&Command {
        status: CommandStatus::ROK,
        sequence_number: 999,
        pdu: Pdu::DeliverSmResp(SmResp::default()),
    })
    .await;
    raw.write(&header(16, 0x8000_0000, 0x08, 998)).await;
    raw.send(&Command::new(5, Pdu::EnquireLink)).await;
    // The first thing the router says is the answer to the enquire_link: nothing for the strays.
    let resp = raw.recv().await.unwrap();
    assert_eq!((resp.pdu, resp.sequence_number), (Pdu::EnquireLinkResp, 5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequence_numbers_at_the_wrap_are_echoed() {
    let r = router().await;
    let mut raw = bound(r.plain, Pdu::BindTransmitter).await;
    for seq in [0x7FFF_FFFE, 0x7FFF_FFFF, 1] {
        raw.send(&Command::new(seq, Pdu::SubmitSm(submit("14155551234"))))
            .await;
        let resp = raw.recv().await.unwrap();
        assert_eq!(
            (resp.command_id(), resp.status, resp.sequence_number),
            (CommandId::SUBMIT_SM_RESP, CommandStatus::ROK, seq)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stray_trailing_bytes_are_tolerated() {
    let r = router().await;
    let mut raw = bound(r.plain, Pdu::BindTransmitter).await;
    // enquire_link with two stray octets.
    let mut pdu = header(18, 0x15, 0, 3);
    pdu.extend_from_slice(&[0, 0]);
    raw.write(&pdu).await;
    assert_eq!(raw.recv().await.unwrap().pdu, Pdu::EnquireLinkResp);
    // submit_sm with one stray 0x00 after short_message (praekelt/python-smpp PR #7).
    let body = Command::new(4, Pdu::SubmitSm(submit("14155551234")))
        .to_bytes()
        .unwrap();
    let mut long = body.to_vec();
    long.push(0);
    let len = (long.len() as u32).to_be_bytes();
    long[..4].copy_from_slice(&len);
    raw.write(&long).await;
    let resp = raw.recv().await.unwrap();
    assert_eq!(
        (resp.command_id(), resp.status, resp.sequence_number),
        (CommandId::SUBMIT_SM_RESP, CommandStatus::ROK, 4)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_sm_from_a_client_is_routed_and_answered_with_data_sm_resp() {
    let r = router().await;
    let mut raw = bound(r.plain, Pdu::BindTransceiver).await;
    let data = DataSm {
        source: Address::new(5, 0, "MyBank"),
        dest: Address::new(1, 1, "14155551234"),
        registered_delivery: smpp_router::smpp::values::RegisteredDelivery(1),
        tlvs: TlvsBuilder::new()
            .push(0x0424, b"Your code is 482910")
            .build(),
        ..DataSm::default()
    };
    raw.send(&Command::new(2, Pdu::DataSm(data))).await;
    let resp = raw.recv().await.unwrap();
    let Pdu::DataSmResp(body) = &resp.pdu else {
        panic!("expected data_sm_resp, got {resp:?}");
    };
    assert_eq!(resp.status, CommandStatus::ROK);
    assert!(!body.message_id.is_empty());
    // Its receipt comes like any message's.
    let receipt = raw.recv().await.unwrap();
    let Pdu::DeliverSm(sm) = receipt.pdu else {
        panic!("expected the receipt, got {receipt:?}");
    };
    assert_eq!(sm.tlvs.receipted_message_id(), Some(&body.message_id[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_sm_and_cancel_sm_are_answered_with_their_own_failure_status() {
    let r = router().await;
    let mut raw = bound(r.plain, Pdu::BindTransceiver).await;
    raw.send(&Command::new(
        2,
        Pdu::QuerySm(QuerySm {
            message_id: "123".into(),
            source: Address::new(5, 0, "MyBank"),
        }),
    ))
    .await;
    let resp = raw.recv().await.unwrap();
    assert_eq!(
        (resp.command_id(), resp.status, resp.sequence_number),
        (CommandId::QUERY_SM_RESP, CommandStatus::RQUERYFAIL, 2)
    );
    raw.send(&Command::new(
        3,
        Pdu::CancelSm(CancelSm {
            message_id: "123".into(),
            source: Address::new(5, 0, "MyBank"),
            dest: Address::new(1, 1, "14155551234"),
            ..CancelSm::default()
        }),
    ))
    .await;
    let resp = raw.recv().await.unwrap();
    assert_eq!(
        (resp.command_id(), resp.status, resp.sequence_number),
        (CommandId::CANCEL_SM_RESP, CommandStatus::RCANCELFAIL, 3)
    );
    raw.send(&Command::new(4, Pdu::EnquireLink)).await;
    assert_eq!(raw.recv().await.unwrap().pdu, Pdu::EnquireLinkResp);
}

/// How the scripted carrier answers the n-th submit_sm.
#[derive(Clone, Copy)]
enum Answer {
    /// `ESME_ROK` with a message id.
    Ok,
    /// An error status, header only (no body).
    ErrorNoBody(u32),
    /// An error status with an (empty) body.
    ErrorWithBody(u32),
    /// `ESME_ROK`, then a DELIVRD receipt sent twice (as a carrier resends one it thinks was
    /// not answered).
    OkThenReceiptTwice,
}

/// A carrier that binds anyone, answers enquire_link, keeps every submit_sm and answers them
/// by `script` (the last answer repeats).
async fn scripted_carrier(script: Vec<Answer>) -> (SocketAddr, Arc<Mutex<Vec<Sm>>>) {
    scripted_carrier_v(script, true).await
}

/// The same; without `v34` its bind answer has no `sc_interface_version` (a v3.3 MC).
async fn scripted_carrier_v(script: Vec<Answer>, v34: bool) -> (SocketAddr, Arc<Mutex<Vec<Sm>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let kept = kept.clone();
            let script = script.clone();
            tokio::spawn(async move {
                let mut raw = Raw::from_stream(stream);
                while let Some(cmd) = raw.recv().await {
                    let seq = cmd.sequence_number;
                    match cmd.pdu {
                        Pdu::BindTransceiver(_) => {
                            raw.send(&Command::new(
                                seq,
                                Pdu::BindTransceiverResp(BindResp {
                                    system_id: "scripted".into(),
                                    // A v3.4 MC; without it the router would send no TLVs
                                    // at all (a v3.3 MC).
                                    tlvs: if v34 {
                                        TlvsBuilder::new().push_u8(0x0210, 0x34).build()
                                    } else {
                                        Default::default()
                                    },
                                }),
                            ))
                            .await;
                        }
                        Pdu::EnquireLink => {
                            raw.send(&Command::new(seq, Pdu::EnquireLinkResp)).await;
                        }
                        Pdu::SubmitSm(sm) => {
                            let n = {
                                let mut k = kept.lock().unwrap();
                                k.push(sm);
                                k.len()
                            };
                            let answer = script[(n - 1).min(script.len() - 1)];
                            match answer {
                                Answer::Ok => {
                                    raw.send(&Command::new(
                                        seq,
                                        Pdu::SubmitSmResp(SmResp::new(format!("C{n}"))),
                                    ))
                                    .await;
                                }
                                Answer::OkThenReceiptTwice => {
                                    raw.send(&Command::new(
                                        seq,
                                        Pdu::SubmitSmResp(SmResp::new(format!("C{n}"))),
                                    ))
                                    .await;
                                    let receipt = Sm {
                                        esm_class: smpp_router::smpp::values::EsmClass(0x04),
                                        short_message: format!(
                                            "id:C{n} sub:001 dlvrd:001 submit date:2612011200 done date:2612011200 stat:DELIVRD err:000 text:"
                                        )
                                        .into(),
                                        ..Sm::default()
                                    };
                                    for again in [0, 1] {
                                        raw.send(&Command::new(
                                            1000 + again,
                                            Pdu::DeliverSm(receipt.clone()),
                                        ))
                                        .await;
                                    }
                                }
                                Answer::ErrorNoBody(status) => {
                                    raw.write(&header(16, 0x8000_0004, status, seq)).await;
                                }
                                Answer::ErrorWithBody(status) => {
                                    let mut pdu = header(17, 0x8000_0004, status, seq);
                                    pdu.push(0);
                                    raw.write(&pdu).await;
                                }
                            }
                        }
                        Pdu::Unbind => {
                            raw.send(&Command::new(seq, Pdu::UnbindResp)).await;
                            return;
                        }
                        _ => {}
                    }
                }
            });
        }
    });
    (addr, seen)
}

async fn router_to(carrier: SocketAddr) -> LiveRouter {
    let r = router_with(&format!(
        "[[channel]]\nname = \"scripted\"\nkind = \"smpp\"\nhost = \"127.0.0.1\"\nport = {}\nsystem_id = \"router\"\npassword = \"pw\"\n\n[[route]]\nname = \"all\"\nchannels = [\"scripted\"]\n",
        carrier.port()
    ))
    .await;
    let t0 = std::time::Instant::now();
    while !r.router.table().channels["scripted"].is_up() {
        assert!(t0.elapsed() < Duration::from_secs(5), "carrier bind not up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carrier_error_responses_with_and_without_a_body_reach_the_client() {
    let (carrier, _) = scripted_carrier(vec![
        Answer::ErrorNoBody(0x0B),
        Answer::ErrorWithBody(0x0B),
        Answer::Ok,
    ])
    .await;
    let r = router_to(carrier).await;
    let mut raw = bound(r.plain, Pdu::BindTransmitter).await;
    for (seq, want) in [
        (2, CommandStatus::RINVDSTADR),
        (3, CommandStatus::RINVDSTADR),
        (4, CommandStatus::ROK),
    ] {
        raw.send(&Command::new(seq, Pdu::SubmitSm(submit("14155551234"))))
            .await;
        let resp = raw.recv().await.unwrap();
        assert_eq!((resp.sequence_number, resp.status), (seq, want));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_vendor_tlvs_and_an_at_sign_reach_the_carrier_unchanged() {
    let (carrier, seen) = scripted_carrier(vec![Answer::Ok]).await;
    let r = router_to(carrier).await;
    let mut raw = bound(r.plain, Pdu::BindTransmitter).await;
    let tlvs = TlvsBuilder::new()
        .push(0x1401, b"vendor")
        .push(0x0777, &[1, 2, 3])
        .push(0x0204, &[0, 42])
        .build();
    let sm = Sm {
        // GSM 7-bit "@" is 0x00: inside short_message it is a character, not a terminator.
        short_message: Bytes::from_static(b"Code 4829 \x00 Home"),
        tlvs: tlvs.clone(),
        ..submit("14155551234")
    };
    raw.send(&Command::new(2, Pdu::SubmitSm(sm))).await;
    assert_eq!(raw.recv().await.unwrap().status, CommandStatus::ROK);
    let got = seen.lock().unwrap()[0].clone();
    assert_eq!(&got.short_message[..], b"Code 4829 \x00 Home");
    assert_eq!(
        got.tlvs.as_bytes(),
        tlvs.as_bytes(),
        "same TLVs, same order"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_carrier_without_sc_interface_version_gets_no_tlvs() {
    let (carrier, seen) = scripted_carrier_v(vec![Answer::Ok], false).await;
    let r = router_to(carrier).await;
    let mut raw = bound(r.plain, Pdu::BindTransmitter).await;
    let sm = Sm {
        tlvs: TlvsBuilder::new().push(0x1401, b"vendor").build(),
        ..submit("14155551234")
    };
    raw.send(&Command::new(2, Pdu::SubmitSm(sm))).await;
    assert_eq!(raw.recv().await.unwrap().status, CommandStatus::ROK);
    assert!(
        seen.lock().unwrap()[0].tlvs.is_empty(),
        "a v3.3 MC takes no TLVs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_client_is_pinged_and_dropped_when_it_does_not_answer() {
    let path = scratch_dir("conformance-idle").join("routes.toml");
    std::fs::write(
        &path,
        format!("{}{ROUTES}", account("acme", "pw", "tps = 100000")),
    )
    .unwrap();
    let r = LiveRouter::start_with(
        &path,
        "[limits]\nenquire_link_interval = \"1s\"\nresponse_timeout = \"1s\"\n",
    )
    .await;
    let mut raw = bound(r.plain, Pdu::BindTransceiver).await;
    // Answered pings keep the session up.
    for _ in 0..2 {
        let ping = raw.recv().await.unwrap();
        assert_eq!(ping.pdu, Pdu::EnquireLink);
        raw.send(&Command::new(ping.sequence_number, Pdu::EnquireLinkResp))
            .await;
    }
    // An unanswered one closes it.
    assert_eq!(raw.recv().await.unwrap().pdu, Pdu::EnquireLink);
    assert!(
        raw.closed_within(5).await,
        "an unanswered ping drops the session"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_sm_from_a_client_reaches_even_a_v33_carrier_with_its_text() {
    let (carrier, seen) = scripted_carrier_v(vec![Answer::Ok], false).await;
    let r = router_to(carrier).await;
    let mut raw = bound(r.plain, Pdu::BindTransmitter).await;
    let data = DataSm {
        source: Address::new(5, 0, "MyBank"),
        dest: Address::new(1, 1, "14155551234"),
        tlvs: TlvsBuilder::new()
            .push(0x0424, b"Your code is 482910")
            .build(),
        ..DataSm::default()
    };
    raw.send(&Command::new(2, Pdu::DataSm(data))).await;
    let resp = raw.recv().await.unwrap();
    assert_eq!(
        (resp.command_id(), resp.status),
        (CommandId::DATA_SM_RESP, CommandStatus::ROK)
    );
    let got = seen.lock().unwrap()[0].clone();
    assert_eq!(&got.short_message[..], b"Your code is 482910");
}

/// A v3.3 carrier takes no TLVs: a `message_payload` moves into `short_message` and SAR into a
/// user data header; a payload too long for `short_message` is refused `ESME_RINVMSGLEN`, not
/// sent empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payload_and_sar_reach_a_v33_carrier_in_the_fields() {
    let (carrier, seen) = scripted_carrier_v(vec![Answer::Ok, Answer::Ok], false).await;
    let r = router_to(carrier).await;
    let mut raw = bound(r.plain, Pdu::BindTransmitter).await;
    let part = Sm {
        source: Address::new(5, 0, "MyBank"),
        dest: Address::new(1, 1, "14155551234"),
        tlvs: TlvsBuilder::new()
            .push(0x0424, b"second half of the text")
            .push_u16(0x020C, 0x0102)
            .push_u8(0x020E, 2)
            .push_u8(0x020F, 2)
            .build(),
        ..Sm::default()
    };
    raw.send(&Command::new(2, Pdu::SubmitSm(part))).await;
    assert_eq!(raw.recv().await.unwrap().status, CommandStatus::ROK);
    let got = seen.lock().unwrap()[0].clone();
    assert!(got.esm_class.has_udhi(), "{got:?}");
    assert_eq!(
        &got.short_message[..],
        b"\x06\x08\x04\x01\x02\x02\x02second half of the text"
    );
    let long = Sm {
        source: Address::new(5, 0, "MyBank"),
        dest: Address::new(1, 1, "14155551234"),
        tlvs: TlvsBuilder::new().push(0x0424, &[b'a'; 300]).build(),
        ..Sm::default()
    };
    raw.send(&Command::new(3, Pdu::SubmitSm(long))).await;
    let resp = raw.recv().await.unwrap();
    assert_eq!(
        (resp.sequence_number, resp.status),
        (3, CommandStatus::RINVMSGLEN)
    );
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "nothing empty reached the carrier"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_the_carrier_sends_twice_reaches_the_client_once() {
    let (carrier, _) = scripted_carrier(vec![Answer::OkThenReceiptTwice]).await;
    let r = router_to(carrier).await;
    let mut raw = bound(r.plain, Pdu::BindTransceiver).await;
    raw.send(&Command::new(2, Pdu::SubmitSm(submit("14155551234"))))
        .await;
    let resp = raw.recv().await.unwrap();
    assert_eq!((resp.sequence_number, resp.status), (2, CommandStatus::ROK));
    let receipt = raw.recv().await.unwrap();
    assert!(matches!(receipt.pdu, Pdu::DeliverSm(_)), "{receipt:?}");
    raw.send(&Command {
        status: CommandStatus::ROK,
        sequence_number: receipt.sequence_number,
        pdu: Pdu::DeliverSmResp(SmResp::default()),
    })
    .await;
    // Had the second copy come through, it would arrive before this answer.
    tokio::time::sleep(Duration::from_millis(500)).await;
    raw.send(&Command::new(3, Pdu::EnquireLink)).await;
    let next = raw.recv().await.unwrap();
    assert_eq!(
        next.pdu,
        Pdu::EnquireLinkResp,
        "a second receipt came: {next:?}"
    );
}
