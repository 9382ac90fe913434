//! Fuzz target: arbitrary byte streams and clock steps driven into an SMPP session of either role,
//! acting as a plain application (accept binds, answer every request). Nothing may panic, the
//! inbound window holds, and everything the session writes is itself valid SMPP.
//! Stable twin: `router/tests/session_smoke.rs`.

#![no_main]

use std::time::{Duration, Instant};

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use smpp_router::smpp::pdu::error_response;
use smpp_router::smpp::session::{Event, Session, SessionConfig};
use smpp_router::smpp::{Command, CommandStatus, FrameDecoder, Pdu};

fuzz_target!(|data: &[u8]| {
    let Some((&role, mut rest)) = data.split_first() else {
        return;
    };
    let config = if role & 1 == 0 { SessionConfig::mc() } else { SessionConfig::esme() };
    let window = config.inbound_window;
    let mut now = Instant::now();
    let mut s = Session::new(config, now);
    let mut input = BytesMut::new();
    let framer = FrameDecoder::default();
    // Each step: an op byte; even ops feed up to 64 following bytes, odd ops move the clock.
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        if op & 1 == 0 {
            let n = ((op >> 1) as usize).min(rest.len());
            input.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            s.handle_input(now, &mut input);
        } else {
            now += Duration::from_millis(u64::from(op) * 997);
            s.handle_timeout(now);
        }
        while let Some(e) = s.poll_event() {
            match e {
                Event::BindRequest { .. } => {
                    let _ = s.accept_bind(now, b"fuzz");
                }
                Event::Request(cmd) => {
                    if let Some(mut answer) = error_response(cmd.command_id(), cmd.sequence_number, CommandStatus::ROK) {
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
        let mut out = BytesMut::new();
        s.poll_transmit(&mut out);
        while let Some(frame) = framer.decode(&mut out).expect("the session writes valid frames") {
            Command::decode(frame).expect("the session writes decodable PDUs");
        }
        assert!(out.is_empty());
    }
});
