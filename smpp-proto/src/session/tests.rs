//! Deterministic session tests: an ESME and an MC session stepped against each other on
//! simulated time (no sockets, no sleeping), and single sessions fed raw PDUs from misbehaving
//! peers. An `Instant` is needed as the time base; the sessions never read the clock themselves.

#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::*;
use crate::pdu::{Address, Sm, SmResp};

const SEC: Duration = Duration::from_secs(1);

fn submit(text: &'static str) -> Pdu {
    Pdu::SubmitSm(Sm {
        source: Address::new(5, 0, "MyBank"),
        dest: Address::new(1, 1, "14155551234"),
        short_message: Bytes::from_static(text.as_bytes()),
        ..Sm::default()
    })
}

fn creds() -> Bind {
    Bind {
        system_id: "acme".into(),
        password: "secret".into(),
        ..Bind::default()
    }
}

/// Two sessions connected back to back.
struct Pair {
    now: Instant,
    esme: Session,
    mc: Session,
    esme_events: Vec<Event>,
    mc_events: Vec<Event>,
}

impl Pair {
    fn new(esme: SessionConfig, mc: SessionConfig) -> Self {
        let now = Instant::now();
        Self {
            now,
            esme: Session::new(esme, now),
            mc: Session::new(mc, now),
            esme_events: Vec::new(),
            mc_events: Vec::new(),
        }
    }

    fn default() -> Self {
        Self::new(SessionConfig::esme(), SessionConfig::mc())
    }

    /// Moves bytes both ways until nothing moves; the MC accepts every bind.
    fn drive(&mut self) {
        loop {
            let mut moved = false;
            let mut buf = BytesMut::new();
            if self.esme.poll_transmit(&mut buf) {
                self.mc.handle_input(self.now, &mut buf);
                moved = true;
            }
            let mut buf = BytesMut::new();
            if self.mc.poll_transmit(&mut buf) {
                self.esme.handle_input(self.now, &mut buf);
                moved = true;
            }
            while let Some(e) = self.mc.poll_event() {
                if let Event::BindRequest { .. } = e {
                    self.mc.accept_bind(self.now, b"router").unwrap();
                }
                self.mc_events.push(e);
                moved = true;
            }
            while let Some(e) = self.esme.poll_event() {
                self.esme_events.push(e);
                moved = true;
            }
            if !moved {
                break;
            }
        }
    }

    /// Advances simulated time by `d`, firing every timer on the way.
    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            let next = [self.esme.poll_timeout(), self.mc.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.esme.handle_timeout(self.now);
                    self.mc.handle_timeout(self.now);
                    self.drive();
                }
                _ => break,
            }
        }
        self.now = end;
    }

    fn bind(&mut self, mode: BindMode) {
        self.esme.bind(self.now, mode, creds()).unwrap();
        self.drive();
    }

    fn mc_requests(&self) -> Vec<&Command> {
        self.mc_events
            .iter()
            .filter_map(|e| match e {
                Event::Request(c) => Some(c),
                _ => None,
            })
            .collect()
    }
}

/// Feeds `cmds` to `s` as raw bytes and returns what `s` wrote back.
fn exchange(s: &mut Session, now: Instant, cmds: &[Command]) -> Vec<Command> {
    let mut buf = BytesMut::new();
    for c in cmds {
        c.encode(&mut buf).unwrap();
    }
    s.handle_input(now, &mut buf);
    written(s)
}

fn written(s: &mut Session) -> Vec<Command> {
    let mut out = BytesMut::new();
    s.poll_transmit(&mut out);
    let framer = FrameDecoder::default();
    let mut cmds = Vec::new();
    while let Some(f) = framer.decode(&mut out).unwrap() {
        cmds.push(Command::decode(f).unwrap());
    }
    cmds
}

fn bound_mc(mode: BindMode) -> (Session, Instant) {
    let now = Instant::now();
    let mut mc = Session::new(SessionConfig::mc(), now);
    let bind = match mode {
        BindMode::Transmitter => Pdu::BindTransmitter(creds()),
        BindMode::Receiver => Pdu::BindReceiver(creds()),
        BindMode::Transceiver => Pdu::BindTransceiver(creds()),
    };
    exchange(&mut mc, now, &[Command::new(1, bind)]);
    mc.accept_bind(now, b"router").unwrap();
    written(&mut mc);
    while mc.poll_event().is_some() {}
    (mc, now)
}

#[test]
fn binds_in_every_mode() {
    for mode in [
        BindMode::Transmitter,
        BindMode::Receiver,
        BindMode::Transceiver,
    ] {
        let mut p = Pair::default();
        p.bind(mode);
        assert_eq!(p.esme.state(), State::Bound(mode));
        assert_eq!(p.mc.state(), State::Bound(mode));
        assert!(p.esme_events.contains(&Event::Bound {
            mode,
            interface_version: 0x34,
            system_id: "router".into()
        }));
        match &p.mc_events[0] {
            Event::BindRequest { bind, .. } => assert_eq!(bind.system_id, "acme"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn interface_versions_are_negotiated() {
    let mut esme = SessionConfig::esme();
    esme.interface_version = 0x50;
    let mut p = Pair::new(esme, SessionConfig::mc());
    p.bind(BindMode::Transceiver);
    assert_eq!(
        (p.esme.interface_version(), p.mc.interface_version()),
        (0x50, 0x50)
    );

    // A v3.3 client gets no sc_interface_version, and no TLVs afterwards.
    let now = Instant::now();
    let mut mc = Session::new(SessionConfig::mc(), now);
    let bind = Bind {
        interface_version: 0x33,
        ..creds()
    };
    exchange(&mut mc, now, &[Command::new(1, Pdu::BindReceiver(bind))]);
    mc.accept_bind(now, b"router").unwrap();
    let resp = written(&mut mc);
    assert_eq!(
        resp[0].pdu,
        Pdu::BindReceiverResp(BindResp {
            system_id: "router".into(),
            tlvs: Default::default()
        })
    );
    assert_eq!(mc.interface_version(), 0x33);
    let receipt = Sm {
        tlvs: TlvsBuilder::new().push_u8(tag::MESSAGE_STATE, 2).build(),
        ..Sm::default()
    };
    mc.send(now, Pdu::DeliverSm(receipt)).unwrap();
    match &written(&mut mc)[0].pdu {
        Pdu::DeliverSm(sm) => assert!(sm.tlvs.is_empty()),
        other => panic!("{other:?}"),
    }
    // A receipt whose text is in message_payload reaches it in short_message, not empty.
    let text = b"id:7 sub:001 dlvrd:001 submit date:2501011200 done date:2501011200 stat:DELIVRD err:000 text:";
    let receipt = Sm {
        tlvs: TlvsBuilder::new().push(tag::MESSAGE_PAYLOAD, text).build(),
        ..Sm::default()
    };
    mc.send(now, Pdu::DeliverSm(receipt)).unwrap();
    match &written(&mut mc)[0].pdu {
        Pdu::DeliverSm(sm) => {
            assert!(sm.tlvs.is_empty());
            assert_eq!(&sm.short_message[..], &text[..]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn windowed_submits_are_answered_out_of_order() {
    let mut p = Pair::default();
    p.bind(BindMode::Transmitter);
    let seqs: Vec<u32> = (0..5)
        .map(|_| p.esme.send(p.now, submit("Code 1234")).unwrap())
        .collect();
    p.drive();
    let requests: Vec<u32> = p.mc_requests().iter().map(|c| c.sequence_number).collect();
    assert_eq!(requests, seqs);
    assert_eq!(p.mc.inbound_in_flight(), 5);
    for &seq in seqs.iter().rev() {
        let resp = Command::new(seq, Pdu::SubmitSmResp(SmResp::new(format!("id{seq}"))));
        p.mc.respond(resp).unwrap();
    }
    p.drive();
    let answered: Vec<u32> = p
        .esme_events
        .iter()
        .filter_map(|e| match e {
            Event::Response {
                request: CommandId::SUBMIT_SM,
                command,
            } => Some(command.sequence_number),
            _ => None,
        })
        .collect();
    assert_eq!(answered, seqs.iter().rev().copied().collect::<Vec<_>>());
    assert_eq!(p.esme.in_flight(), 0);
    assert_eq!(
        p.mc.respond(Command::new(seqs[0], Pdu::SubmitSmResp(SmResp::default()))),
        Err(RespondError::UnknownRequest(seqs[0]))
    );
}

#[test]
fn the_window_limits_outstanding_requests() {
    let mut p = Pair::default();
    p.bind(BindMode::Transmitter);
    for _ in 0..10 {
        p.esme.send(p.now, submit("1234")).unwrap();
    }
    assert_eq!(
        p.esme.send(p.now, submit("1234")),
        Err(SendError::WindowFull)
    );
    p.drive();
    let first = p.mc_requests()[0].sequence_number;
    p.mc.respond(Command::new(first, Pdu::SubmitSmResp(SmResp::new("a"))))
        .unwrap();
    p.drive();
    assert!(p.esme.send(p.now, submit("1234")).is_ok());
}

#[test]
fn beyond_the_inbound_window_the_mc_answers_queue_full() {
    let mut cfg = SessionConfig::mc();
    cfg.inbound_window = 2;
    let now = Instant::now();
    let mut mc = Session::new(cfg, now);
    exchange(
        &mut mc,
        now,
        &[Command::new(1, Pdu::BindTransmitter(creds()))],
    );
    mc.accept_bind(now, b"r").unwrap();
    written(&mut mc);
    let out = exchange(
        &mut mc,
        now,
        &[
            Command::new(2, submit("1")),
            Command::new(3, submit("2")),
            Command::new(4, submit("3")),
        ],
    );
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].sequence_number, out[0].status),
        (4, CommandStatus::RMSGQFUL)
    );
    assert_eq!(mc.inbound_in_flight(), 2);
}

#[test]
fn mc_answers_wrong_state_pdus() {
    let now = Instant::now();
    let mut mc = Session::new(SessionConfig::mc(), now);
    // enquire_link before bind is answered; submit before bind is refused.
    let out = exchange(
        &mut mc,
        now,
        &[
            Command::new(1, Pdu::EnquireLink),
            Command::new(2, submit("1234")),
        ],
    );
    assert_eq!(out[0].pdu, Pdu::EnquireLinkResp);
    assert_eq!(
        (out[1].command_id(), out[1].status),
        (CommandId::SUBMIT_SM_RESP, CommandStatus::RINVBNDSTS)
    );

    // submit_sm on a receiver bind; bind while bound; deliver_sm from the client.
    let (mut mc, now) = bound_mc(BindMode::Receiver);
    let out = exchange(
        &mut mc,
        now,
        &[
            Command::new(5, submit("1234")),
            Command::new(6, Pdu::BindTransceiver(creds())),
            Command::new(7, Pdu::DeliverSm(Sm::default())),
        ],
    );
    assert_eq!(
        (out[0].command_id(), out[0].status),
        (CommandId::SUBMIT_SM_RESP, CommandStatus::RINVBNDSTS)
    );
    assert_eq!(
        (out[1].command_id(), out[1].status),
        (CommandId::BIND_TRANSCEIVER_RESP, CommandStatus::RALYBND)
    );
    assert_eq!(
        (out[2].command_id(), out[2].status),
        (CommandId::DELIVER_SM_RESP, CommandStatus::RINVBNDSTS)
    );
    assert_eq!(mc.state(), State::Bound(BindMode::Receiver));
}

#[test]
fn unknown_ids_get_generic_nack_and_the_session_stays() {
    let (mut mc, now) = bound_mc(BindMode::Transceiver);
    let vendor = Command::new(
        9,
        Pdu::Other {
            command_id: CommandId(0x0001_0200),
            body: Bytes::from_static(b"x"),
        },
    );
    let reserved = Command::new(
        10,
        Pdu::Other {
            command_id: CommandId(0x0000_0016),
            body: Bytes::new(),
        },
    );
    let out = exchange(&mut mc, now, &[vendor, reserved]);
    assert_eq!(out.len(), 2);
    for (o, seq) in out.iter().zip([9, 10]) {
        assert_eq!(
            (o.pdu.clone(), o.status, o.sequence_number),
            (Pdu::GenericNack, CommandStatus::RINVCMDID, seq)
        );
    }
    assert_eq!(mc.state(), State::Bound(BindMode::Transceiver));
}

#[test]
fn stray_responses_are_dropped_not_answered() {
    let (mut mc, now) = bound_mc(BindMode::Transceiver);
    let out = exchange(
        &mut mc,
        now,
        &[
            Command::new(77, Pdu::DeliverSmResp(SmResp::default())),
            Command {
                status: CommandStatus::RINVCMDID,
                sequence_number: 0,
                pdu: Pdu::GenericNack,
            },
        ],
    );
    assert!(out.is_empty());
    let strays: Vec<Event> = std::iter::from_fn(|| mc.poll_event()).collect();
    assert_eq!(strays.len(), 2);
    assert!(matches!(
        strays[0],
        Event::Stray {
            sequence_number: 77,
            ..
        }
    ));
}

#[test]
fn malformed_bodies_get_their_own_response() {
    let (mut mc, now) = bound_mc(BindMode::Transmitter);
    // submit_sm with sm_length 200 and 3 octets of message: the frame is fine, the body is not.
    let mut frame = vec![0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 42];
    frame.extend_from_slice(b"\0\x05\x00A\0\x01\x011\0\0\0\0\0\0\0\0\0\0\xc8abc");
    let len = frame.len() as u32;
    frame[..4].copy_from_slice(&len.to_be_bytes());
    let mut buf = BytesMut::from(&frame[..]);
    mc.handle_input(now, &mut buf);
    let out = written(&mut mc);
    assert_eq!(
        (out[0].command_id(), out[0].status, out[0].sequence_number),
        (CommandId::SUBMIT_SM_RESP, CommandStatus::RINVMSGLEN, 42)
    );
    // The stream stays in sync: the next PDU is answered normally.
    let out = exchange(&mut mc, now, &[Command::new(43, Pdu::EnquireLink)]);
    assert_eq!(out[0].pdu, Pdu::EnquireLinkResp);
}

#[test]
fn bad_lengths_are_nacked_and_close_foreign_protocols_just_close() {
    for (bytes, nacked) in [
        (
            &[0u8, 0, 0, 4, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 3][..],
            true,
        ),
        (
            &[0u8, 0x7F, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 3][..],
            true,
        ),
        (&b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..], false),
        (
            &[
                0x16u8, 0x03, 0x01, 0x00, 0xA5, 0x01, 0x00, 0x00, 0xA1, 0x03, 0x03,
            ][..],
            false,
        ),
    ] {
        let now = Instant::now();
        let mut mc = Session::new(SessionConfig::mc(), now);
        let mut buf = BytesMut::from(bytes);
        mc.handle_input(now, &mut buf);
        let out = written(&mut mc);
        if nacked {
            assert_eq!(
                (out[0].pdu.clone(), out[0].status),
                (Pdu::GenericNack, CommandStatus::RINVCMDLEN)
            );
            assert_eq!(out[0].sequence_number, 3);
        } else {
            assert!(out.is_empty());
        }
        assert!(mc.is_closed());
        assert!(
            std::iter::from_fn(|| mc.poll_event())
                .any(|e| matches!(e, Event::Closed(CloseReason::Framing(_))))
        );
    }
}

#[test]
fn response_timeouts_report_unknown_outcomes() {
    let mut p = Pair::default();
    p.bind(BindMode::Transmitter);
    let seq = p.esme.send(p.now, submit("1234")).unwrap();
    p.drive();
    p.advance(31 * SEC);
    assert!(p.esme_events.contains(&Event::Timeout {
        request: CommandId::SUBMIT_SM,
        sequence_number: seq
    }));
    assert_eq!(p.esme.in_flight(), 0);
    // The late answer is a stray, not a second outcome.
    p.mc.respond(Command::new(seq, Pdu::SubmitSmResp(SmResp::new("late"))))
        .unwrap();
    p.drive();
    assert!(matches!(p.esme_events.last(), Some(Event::Stray { .. })));
}

#[test]
fn keepalive_is_sent_when_idle_and_answered() {
    let mut p = Pair::default();
    p.bind(BindMode::Transceiver);
    p.advance(10 * 60 * SEC);
    assert_eq!(p.esme.state(), State::Bound(BindMode::Transceiver));
    assert_eq!(p.mc.state(), State::Bound(BindMode::Transceiver));
    assert!(!p.esme_events.iter().any(|e| matches!(e, Event::Closed(_))));
}

#[test]
fn an_unanswered_keepalive_means_a_dead_link() {
    let now = Instant::now();
    let mut esme = Session::new(SessionConfig::esme(), now);
    esme.bind(now, BindMode::Transceiver, creds()).unwrap();
    written(&mut esme);
    let ok = Command::new(
        1,
        Pdu::BindTransceiverResp(BindResp {
            system_id: "mc".into(),
            tlvs: TlvsBuilder::new()
                .push_u8(tag::SC_INTERFACE_VERSION, 0x34)
                .build(),
        }),
    );
    exchange(&mut esme, now, &[ok]);
    assert_eq!(esme.state(), State::Bound(BindMode::Transceiver));
    let t = esme.poll_timeout().unwrap();
    assert_eq!(t, now + 30 * SEC);
    esme.handle_timeout(t);
    assert_eq!(written(&mut esme)[0].pdu, Pdu::EnquireLink);
    let t2 = esme.poll_timeout().unwrap();
    esme.handle_timeout(t2);
    assert!(esme.is_closed());
    assert!(
        std::iter::from_fn(|| esme.poll_event()).any(|e| e == Event::Closed(CloseReason::LinkDead))
    );
}

#[test]
fn pre_bind_and_inactivity_timeouts_close() {
    let now = Instant::now();
    let mut mc = Session::new(SessionConfig::mc(), now);
    assert_eq!(mc.poll_timeout(), Some(now + 30 * SEC));
    mc.handle_timeout(now + 30 * SEC);
    assert!(
        std::iter::from_fn(|| mc.poll_event())
            .any(|e| e == Event::Closed(CloseReason::BindTimeout))
    );

    // A bound client that falls silent: the MC's own keep-alive gets no answer either way, and
    // the session ends by 90 s of silence at the latest.
    let (mut mc, now) = bound_mc(BindMode::Transceiver);
    let mut t = now;
    while let Some(next) = mc.poll_timeout() {
        t = next;
        mc.handle_timeout(t);
        written(&mut mc);
    }
    assert!(mc.is_closed());
    assert!(t <= now + 90 * SEC);
}

#[test]
fn esme_bind_timeout_and_rejection() {
    let now = Instant::now();
    let mut esme = Session::new(SessionConfig::esme(), now);
    esme.bind(now, BindMode::Transmitter, creds()).unwrap();
    esme.handle_timeout(now + 10 * SEC);
    assert!(
        std::iter::from_fn(|| esme.poll_event())
            .any(|e| e == Event::Closed(CloseReason::BindTimeout))
    );

    let mut p = Pair::default();
    p.esme.bind(p.now, BindMode::Transmitter, creds()).unwrap();
    let mut buf = BytesMut::new();
    p.esme.poll_transmit(&mut buf);
    p.mc.handle_input(p.now, &mut buf);
    p.mc.poll_event();
    p.mc.reject_bind(CommandStatus::RINVPASWD);
    let mut buf = BytesMut::new();
    p.mc.poll_transmit(&mut buf);
    p.esme.handle_input(p.now, &mut buf);
    let events: Vec<Event> = std::iter::from_fn(|| p.esme.poll_event()).collect();
    assert_eq!(
        events,
        [
            Event::BindRejected {
                status: CommandStatus::RINVPASWD
            },
            Event::Closed(CloseReason::BindRejected(CommandStatus::RINVPASWD))
        ]
    );
    assert!(p.mc.is_closed());
}

#[test]
fn maximum_session_time_unbinds() {
    let mut p = Pair::default();
    p.bind(BindMode::Transceiver);
    p.advance(24 * 3600 * SEC + SEC);
    assert!(p.mc_events.contains(&Event::Unbound { by_peer: false }));
    assert!(p.esme_events.contains(&Event::Unbound { by_peer: true }));
    assert!(p.mc.is_closed());
}

/// The ESME's submit, then the MC's answer, then its unbind: the order the ESME sees them in.
fn esme_saw_answer_before_unbind(p: &Pair, seq: u32) -> bool {
    let answered = p.esme_events.iter().position(
        |e| matches!(e, Event::Response { command, .. } if command.sequence_number == seq),
    );
    let unbound = p
        .esme_events
        .iter()
        .position(|e| *e == Event::Unbound { by_peer: true });
    matches!((answered, unbound), (Some(a), Some(u)) if a < u)
}

#[test]
fn maximum_session_time_waits_for_the_answers_owed() {
    let mut p = Pair::default();
    p.bind(BindMode::Transceiver);
    p.advance(24 * 3600 * SEC - SEC);
    let seq = p.esme.send(p.now, submit("1234")).unwrap();
    p.drive();
    // Time is up while the submit is being routed: no unbind yet.
    p.advance(2 * SEC);
    assert!(!p.mc_events.contains(&Event::Unbound { by_peer: false }));
    assert_eq!(p.mc.state(), State::Bound(BindMode::Transceiver));
    p.mc.respond(Command::new(seq, Pdu::SubmitSmResp(SmResp::new("7"))))
        .unwrap();
    p.drive();
    p.advance(Duration::from_millis(1));
    assert!(
        esme_saw_answer_before_unbind(&p, seq),
        "{:?}",
        p.esme_events
    );
    assert!(p.mc.is_closed());
}

#[test]
fn maximum_session_time_waits_for_answers_only_so_long() {
    let mut p = Pair::default();
    p.bind(BindMode::Transceiver);
    p.advance(24 * 3600 * SEC - SEC);
    let seq = p.esme.send(p.now, submit("1234")).unwrap();
    p.drive();
    // Never answered: the unbind goes out after the unbind timeout (5 s) all the same, and the
    // submit ends with an unknown outcome on the ESME's side.
    p.advance(5 * SEC);
    assert!(!p.mc_events.contains(&Event::Unbound { by_peer: false }));
    p.advance(2 * SEC);
    assert!(p.mc_events.contains(&Event::Unbound { by_peer: false }));
    // Still owing the answer, the MC closes at the unbind deadline.
    p.advance(6 * SEC);
    assert!(p.mc.is_closed() && p.esme.is_closed());
    assert!(p.esme_events.contains(&Event::Timeout {
        request: CommandId::SUBMIT_SM,
        sequence_number: seq
    }));
}

#[test]
fn an_unbind_answered_while_answers_are_owed_closes_once_they_are_given() {
    let mut p = Pair::default();
    p.bind(BindMode::Transceiver);
    let seq = p.esme.send(p.now, submit("1234")).unwrap();
    p.drive();
    // The MC unbinds with the submit still being routed; the ESME answers the unbind at once.
    p.mc.unbind(p.now).unwrap();
    p.drive();
    assert!(p.mc_events.contains(&Event::Unbound { by_peer: false }));
    assert!(!p.mc.is_closed(), "an answer is still owed");
    p.mc.respond(Command::new(seq, Pdu::SubmitSmResp(SmResp::new("7"))))
        .unwrap();
    assert!(p.mc.is_closed());
    let mut buf = BytesMut::new();
    assert!(p.mc.poll_transmit(&mut buf), "the answer is still written");
}

#[test]
fn unbind_handshake_and_requests_after_it() {
    let mut p = Pair::default();
    p.bind(BindMode::Transceiver);
    let seq = p.esme.send(p.now, submit("1234")).unwrap();
    p.drive();
    p.esme.unbind(p.now).unwrap();
    p.drive();
    assert!(p.mc_events.contains(&Event::Unbound { by_peer: true }));
    assert!(p.esme_events.contains(&Event::Unbound { by_peer: false }));
    assert!(p.esme_events.contains(&Event::Closed(CloseReason::Unbound)));
    // The submit that was in flight ended with an unknown outcome, never silently.
    assert!(p.esme_events.contains(&Event::Timeout {
        request: CommandId::SUBMIT_SM,
        sequence_number: seq
    }));
    // The MC may still answer what it had; new requests are refused.
    assert!(
        p.mc.respond(Command::new(seq, Pdu::SubmitSmResp(SmResp::new("x"))))
            .is_ok()
    );
    let out = exchange(&mut p.mc, p.now, &[Command::new(99, submit("late"))]);
    assert_eq!(out.len(), 2);
    assert_eq!(
        (out[0].sequence_number, out[0].status),
        (seq, CommandStatus::ROK)
    );
    assert_eq!(
        (out[1].sequence_number, out[1].status),
        (99, CommandStatus::RINVBNDSTS)
    );
    // The MC closes by itself if the client does not.
    p.advance(6 * SEC);
    assert!(p.mc.is_closed());
}

#[test]
fn unbind_race_both_sides_at_once() {
    let mut p = Pair::default();
    p.bind(BindMode::Transceiver);
    p.esme.unbind(p.now).unwrap();
    p.mc.unbind(p.now).unwrap();
    p.drive();
    assert!(p.esme.is_closed());
    assert!(p.mc.is_closed());
    assert!(p.esme_events.contains(&Event::Closed(CloseReason::Unbound)));
    assert!(p.mc_events.contains(&Event::Closed(CloseReason::Unbound)));
}

#[test]
fn sequence_numbers_wrap_to_one() {
    let mut p = Pair::default();
    p.bind(BindMode::Transmitter);
    p.esme.set_next_sequence(MAX_SEQUENCE);
    assert_eq!(p.esme.send(p.now, submit("1")).unwrap(), MAX_SEQUENCE);
    assert_eq!(p.esme.send(p.now, submit("2")).unwrap(), 1);
    p.drive();
    let seqs: Vec<u32> = p.mc_requests().iter().map(|c| c.sequence_number).collect();
    assert_eq!(seqs, [MAX_SEQUENCE, 1]);
}

#[test]
fn peers_reusing_a_sequence_number_get_every_answer() {
    let (mut mc, now) = bound_mc(BindMode::Transmitter);
    exchange(
        &mut mc,
        now,
        &[
            Command::new(5, submit("part 1")),
            Command::new(5, submit("part 2")),
        ],
    );
    assert_eq!(mc.inbound_in_flight(), 2);
    for id in ["a", "b"] {
        mc.respond(Command::new(5, Pdu::SubmitSmResp(SmResp::new(id))))
            .unwrap();
    }
    assert_eq!(written(&mut mc).len(), 2);
}

#[test]
fn sending_in_the_wrong_state_is_refused_locally() {
    let mut p = Pair::default();
    assert_eq!(
        p.esme.send(p.now, submit("1")),
        Err(SendError::WrongState(CommandId::SUBMIT_SM))
    );
    p.bind(BindMode::Receiver);
    assert_eq!(
        p.esme.send(p.now, submit("1")),
        Err(SendError::WrongState(CommandId::SUBMIT_SM))
    );
    assert_eq!(
        p.mc.send(p.now, Pdu::DeliverSm(Sm::default())).map(|_| ()),
        Ok(())
    );
    assert!(p.esme.bind(p.now, BindMode::Transmitter, creds()).is_err());
}

#[test]
fn an_answer_that_breaks_a_limit_becomes_a_system_error() {
    let (mut mc, now) = bound_mc(BindMode::Transmitter);
    exchange(&mut mc, now, &[Command::new(8, submit("1"))]);
    let too_long = SmResp::new("x".repeat(80));
    assert!(
        mc.respond(Command::new(8, Pdu::SubmitSmResp(too_long)))
            .is_err()
    );
    let out = written(&mut mc);
    assert_eq!(
        (out[0].command_id(), out[0].status),
        (CommandId::SUBMIT_SM_RESP, CommandStatus::RSYSERR)
    );
}

#[test]
fn a_receipt_on_a_transmitter_bind_is_refused_and_told_unless_taken_on_any_bind() {
    for any_bind in [false, true] {
        let esme = SessionConfig {
            deliveries_on_any_bind: any_bind,
            ..SessionConfig::esme()
        };
        let mut p = Pair::new(esme, SessionConfig::mc());
        p.bind(BindMode::Transmitter);
        p.esme_events.clear();
        let out = exchange(
            &mut p.esme,
            p.now,
            &[Command::new(9, Pdu::DeliverSm(Sm::default()))],
        );
        let events: Vec<Event> = std::iter::from_fn(|| p.esme.poll_event()).collect();
        if any_bind {
            assert!(out.is_empty(), "answered by the application: {out:?}");
            assert!(
                matches!(&events[..], [Event::Request(c)] if c.sequence_number == 9),
                "{events:?}"
            );
        } else {
            assert_eq!(
                (out[0].command_id(), out[0].status),
                (CommandId::DELIVER_SM_RESP, CommandStatus::RINVBNDSTS)
            );
            assert!(
                matches!(
                    &events[..],
                    [Event::Refused {
                        command_id: CommandId::DELIVER_SM,
                        sequence_number: 9,
                        status: CommandStatus::RINVBNDSTS,
                    }]
                ),
                "{events:?}"
            );
        }
    }
}
