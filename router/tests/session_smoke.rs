//! Stable stand-in for the `session` fuzz target: arbitrary byte streams and clock steps fed to
//! sessions of both roles must never panic, and the session's invariants must hold throughout.

use std::time::{Duration, Instant};

use bytes::BytesMut;
use proptest::prelude::*;
use smpp_router::smpp::pdu::error_response;
use smpp_router::smpp::session::{Event, Session, SessionConfig};
use smpp_router::smpp::{Command, CommandStatus, FrameDecoder, Pdu};

/// One step of the peer: some bytes (possibly a valid PDU), or the clock moving on.
#[derive(Debug, Clone)]
enum Step {
    Raw(Vec<u8>),
    Pdu { id: u32, seq: u32, body: Vec<u8> },
    Wait(u64),
}

fn step() -> impl Strategy<Value = Step> {
    let ids = prop_oneof![
        Just(0x0000_0001u32),
        Just(0x0000_0002),
        Just(0x0000_0004),
        Just(0x0000_0005),
        Just(0x0000_0006),
        Just(0x0000_0009),
        Just(0x0000_0015),
        Just(0x0000_0103),
        Just(0x8000_0004),
        Just(0x8000_0005),
        Just(0x8000_0009),
        Just(0x8000_0015),
        Just(0x8000_0000),
        any::<u32>(),
    ];
    // Well-formed bodies, so that sessions get bound and carry traffic, not only errors.
    let bind = (1u32..=9, any::<u32>()).prop_map(|(id, seq)| Step::Pdu {
        id: [1, 2, 9][id as usize % 3],
        seq,
        body: b"acme\0pw\0\0\x34\0\0\0".to_vec(),
    });
    let submit = (any::<u32>(), any::<bool>()).prop_map(|(seq, deliver)| Step::Pdu {
        id: if deliver { 5 } else { 4 },
        seq,
        body: b"\0\x05\0MyBank\0\x01\x0114155551234\0\0\0\0\0\0\x01\0\0\0\x06482910".to_vec(),
    });
    prop_oneof![
        2 => bind,
        4 => submit,
        1 => proptest::collection::vec(any::<u8>(), 0..64).prop_map(Step::Raw),
        2 => (ids, any::<u32>(), proptest::collection::vec(any::<u8>(), 0..96))
            .prop_map(|(id, seq, body)| Step::Pdu { id, seq, body }),
        2 => (0u64..200_000).prop_map(Step::Wait),
    ]
}

fn frame(id: u32, seq: u32, body: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(16 + body.len());
    f.extend_from_slice(&((16 + body.len()) as u32).to_be_bytes());
    f.extend_from_slice(&id.to_be_bytes());
    f.extend_from_slice(&0u32.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(body);
    f
}

fn run(config: SessionConfig, steps: &[Step]) {
    let mut now = Instant::now();
    let window = config.inbound_window;
    let mut s = Session::new(config, now);
    let mut input = BytesMut::new();
    let framer = FrameDecoder::default();
    for st in steps {
        match st {
            Step::Raw(b) => input.extend_from_slice(b),
            Step::Pdu { id, seq, body } => input.extend_from_slice(&frame(*id, *seq, body)),
            Step::Wait(ms) => {
                now += Duration::from_millis(*ms);
                s.handle_timeout(now);
            }
        }
        s.handle_input(now, &mut input);
        // Act as a plain application: accept binds, answer every request.
        while let Some(e) = s.poll_event() {
            match e {
                Event::BindRequest { .. } => {
                    let _ = s.accept_bind(now, b"router");
                }
                Event::Request(cmd) => {
                    let answer =
                        error_response(cmd.command_id(), cmd.sequence_number, CommandStatus::ROK);
                    if let Some(mut answer) = answer {
                        if let Pdu::SubmitSmResp(r) = &mut answer.pdu {
                            r.message_id = "1".into();
                        }
                        let _ = s.respond(answer);
                    }
                }
                _ => {}
            }
        }
        assert!(s.inbound_in_flight() <= window);
        // Everything the session writes must itself be well-formed SMPP.
        let mut out = BytesMut::new();
        s.poll_transmit(&mut out);
        while let Some(f) = framer
            .decode(&mut out)
            .expect("the session writes valid frames")
        {
            Command::decode(f).expect("the session writes decodable PDUs");
        }
        assert!(out.is_empty());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn mc_session_survives_any_stream(steps in proptest::collection::vec(step(), 1..40)) {
        run(SessionConfig::mc(), &steps);
    }

    #[test]
    fn esme_session_survives_any_stream(steps in proptest::collection::vec(step(), 1..40)) {
        run(SessionConfig::esme(), &steps);
    }
}
