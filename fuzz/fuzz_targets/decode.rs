//! Fuzz target `decode`: arbitrary bytes through `FrameDecoder` and `Command::decode`, frame by
//! frame. Nothing may panic, and what decodes must survive a round trip:
//!
//! - a frame that decodes re-encodes without error, or with an `EncodeError` only where lenient
//!   decoding accepted what strict encoding refuses (an over-long field, a time field that is not
//!   0 or 16 characters, a response id taken whole because it had no NUL);
//! - the re-encoded frame decodes, its encoding is a fixed point (encode ∘ decode ∘ encode gives
//!   the same octets), and it decodes to the first command up to the normalisation decoding does
//!   on purpose: `deliver_sm_resp` always goes out with an empty `message_id`;
//! - a frame that does not decode gets an answer (`error_response`) that encodes and decodes.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use smpp_router::smpp::pdu::error_response;
use smpp_router::smpp::{Command, FrameDecoder, Pdu};

/// What encoding the first decode must give back: `deliver_sm_resp` loses its `message_id`.
fn normalised(mut cmd: Command) -> Command {
    if let Pdu::DeliverSmResp(r) = &mut cmd.pdu {
        r.message_id = bytes::Bytes::new();
    }
    cmd
}

fn check_frame(frame: bytes::Bytes) {
    let first = match Command::decode(frame) {
        Ok(cmd) => cmd,
        Err(e) => {
            if let Some(answer) =
                error_response(e.header.command_id, e.header.sequence_number, e.status)
            {
                let bytes = answer.to_bytes().expect("an error response always encodes");
                let back = Command::decode(bytes).expect("an error response always decodes");
                assert_eq!(back, answer);
            }
            return;
        }
    };
    let Ok(encoded) = first.to_bytes() else {
        // Lenient in, strict out: the value cannot go on the wire as it came.
        return;
    };
    let second = Command::decode(encoded.clone()).expect("our own encoding must decode");
    let again = second.to_bytes().expect("a decoded encoding must encode again");
    assert_eq!(again, encoded, "encoding is not a fixed point");
    assert_eq!(second, normalised(first), "round trip changed the command");
}

fuzz_target!(|data: &[u8]| {
    let decoder = FrameDecoder::default();
    let mut buf = BytesMut::from(data);
    // After a framing error the stream cannot be trusted: stop, as the session closes.
    while let Ok(Some(frame)) = decoder.decode(&mut buf) {
        check_frame(frame);
    }
});
