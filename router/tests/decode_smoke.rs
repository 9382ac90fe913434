//! Stable stand-in for the `decode` fuzz target (`fuzz/fuzz_targets/decode.rs`), for CI without
//! nightly: byte streams through `FrameDecoder` and `Command::decode` must never panic, and what
//! decodes must round-trip.
//!
//! Four kinds of input: arbitrary byte streams; frames with a valid header and a random body for
//! every known `command_id` (and some unknown ones); the same with bodies built from SMPP-shaped
//! pieces (C-strings, integers, TLVs) so that decoding gets past the first fields; and valid frames
//! with a few octets changed.
//!
//! A frame that decodes must encode again, except where lenient decoding accepted what strict
//! encoding refuses. Those cases, and only those, may give an `EncodeError`:
//! - `BadTime` for `schedule_delivery_time`, `validity_period` and `final_date`: decoded as any
//!   `COS(17)`, encoded only empty or 16 characters;
//! - `TooLong` for `cancel_sm`'s `destination_addr`: accepted up to 65 octets (as Kannel
//!   sends), emitted at most 20 characters as the spec says;
//! - `TooLong` for the `system_id` of `bind_*_resp` and the `message_id` of the `message_id`
//!   responses: with no NUL within the field's limit the rest of the body is taken whole
//!   (responses are parsed leniently), and may be longer than the field allows.
//!
//! What encodes must decode again to the same command — up to the one normalisation decoding does
//! on purpose, the empty `message_id` of `deliver_sm_resp` — and encoding must be a fixed point.

#![allow(clippy::unwrap_used)]

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use smpp_router::smpp::pdu::error_response;
use smpp_router::smpp::wire::EncodeError;
use smpp_router::smpp::{Command, CommandId, FrameDecoder, Pdu};

/// Every `command_id` the codec knows, and a few it does not.
const IDS: &[u32] = &[
    0x8000_0000,
    0x0000_0001,
    0x8000_0001,
    0x0000_0002,
    0x8000_0002,
    0x0000_0003,
    0x8000_0003,
    0x0000_0004,
    0x8000_0004,
    0x0000_0005,
    0x8000_0005,
    0x0000_0006,
    0x8000_0006,
    0x0000_0007,
    0x8000_0007,
    0x0000_0008,
    0x8000_0008,
    0x0000_0009,
    0x8000_0009,
    0x0000_000B,
    0x0000_0015,
    0x8000_0015,
    0x0000_0021,
    0x8000_0021,
    0x0000_0102,
    0x0000_0103,
    0x8000_0103,
    0x0000_0111,
    0x8000_0111,
    0x0000_0112,
    0x8000_0112,
    0x0000_0113,
    0x8000_0113,
    // Unknown: reserved, vendor, and a response of neither.
    0x0000_000A,
    0x0001_0200,
    0x8001_02FF,
];

/// What the first decode must come back as after encoding: `deliver_sm_resp` loses its id.
fn normalised(mut cmd: Command) -> Command {
    if let Pdu::DeliverSmResp(r) = &mut cmd.pdu {
        r.message_id = Bytes::new();
    }
    cmd
}

/// Whether `err` is one of the documented "lenient in, strict out" cases for `cmd`.
fn refusal_is_expected(cmd: &Command, err: &EncodeError) -> bool {
    match (err, &cmd.pdu) {
        (
            EncodeError::BadTime {
                field: "schedule_delivery_time" | "validity_period",
                ..
            },
            Pdu::SubmitSm(_)
            | Pdu::DeliverSm(_)
            | Pdu::SubmitMulti(_)
            | Pdu::ReplaceSm(_)
            | Pdu::BroadcastSm(_),
        ) => true,
        (
            EncodeError::BadTime {
                field: "final_date",
                ..
            },
            Pdu::QuerySmResp(_),
        ) => true,
        (
            EncodeError::TooLong {
                field: "destination_addr",
                len,
                ..
            },
            Pdu::CancelSm(c),
        ) => *len == c.dest.addr.len() && (21..65).contains(len),
        (
            EncodeError::TooLong {
                field: "system_id", ..
            },
            Pdu::BindReceiverResp(_) | Pdu::BindTransmitterResp(_) | Pdu::BindTransceiverResp(_),
        ) => true,
        (
            EncodeError::TooLong {
                field: "message_id",
                ..
            },
            Pdu::SubmitSmResp(_)
            | Pdu::DataSmResp(_)
            | Pdu::BroadcastSmResp(_)
            | Pdu::QueryBroadcastSmResp(_),
        ) => true,
        _ => false,
    }
}

/// The checks of the fuzz target, for one frame.
fn check_frame(frame: Bytes) -> Result<(), TestCaseError> {
    let first = match Command::decode(frame) {
        Ok(cmd) => cmd,
        Err(e) => {
            // Every refused frame gets an answer that can go on the wire.
            if let Some(answer) =
                error_response(e.header.command_id, e.header.sequence_number, e.status)
            {
                let back = Command::decode(answer.to_bytes().unwrap()).unwrap();
                prop_assert_eq!(back, answer);
            }
            return Ok(());
        }
    };
    let encoded = match first.to_bytes() {
        Ok(b) => b,
        Err(e) => {
            prop_assert!(
                refusal_is_expected(&first, &e),
                "unexpected {:?} for {:?}",
                e,
                first
            );
            return Ok(());
        }
    };
    let second = Command::decode(encoded.clone());
    prop_assert!(second.is_ok(), "our encoding does not decode: {:?}", second);
    let second = second.unwrap();
    prop_assert_eq!(second.to_bytes().unwrap(), encoded, "not a fixed point");
    prop_assert_eq!(second, normalised(first));
    Ok(())
}

/// Feeds a stream through the frame decoder, checking every frame; stops at a framing error as
/// the session does.
fn check_stream(data: &[u8]) -> Result<usize, TestCaseError> {
    let decoder = FrameDecoder::default();
    let mut buf = BytesMut::from(data);
    let mut frames = 0;
    while let Ok(Some(frame)) = decoder.decode(&mut buf) {
        check_frame(frame)?;
        frames += 1;
    }
    Ok(frames)
}

fn frame(id: u32, status: u32, seq: u32, body: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(16 + body.len());
    f.extend_from_slice(&((16 + body.len()) as u32).to_be_bytes());
    f.extend_from_slice(&id.to_be_bytes());
    f.extend_from_slice(&status.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(body);
    f
}

/// Octets biased towards what SMPP bodies are made of: NULs, digits, small integers.
fn octet() -> impl Strategy<Value = u8> {
    prop_oneof![
        3 => Just(0u8),
        3 => b'0'..=b'9',
        2 => 1u8..=9,
        4 => any::<u8>(),
    ]
}

/// One SMPP-shaped piece of a body.
fn piece() -> impl Strategy<Value = Vec<u8>> {
    let tags = prop::sample::select(vec![
        0x0005u16, 0x000D, 0x0010, 0x001D, 0x001E, 0x0204, 0x020C, 0x020E, 0x020F, 0x0210, 0x0381,
        0x0423, 0x0424, 0x0425, 0x0427, 0x0428, 0x0606, 0x130C, 0x1400, 0x3FFF,
    ]);
    prop_oneof![
        // A C-string of up to 70 characters (crossing every field limit), with its NUL.
        prop::collection::vec(0x20u8..=0x7E, 0..=70).prop_map(|mut v| {
            v.push(0);
            v
        }),
        // A 16-character time, or a NUL.
        Just(b"250315143000004+\0".to_vec()),
        Just(vec![0u8]),
        // Integers.
        prop::collection::vec(octet(), 1..=4),
        // A TLV whose length is right, or off by a little.
        (tags, prop::collection::vec(any::<u8>(), 0..=12), -2i32..=2).prop_map(|(t, v, skew)| {
            let len = (v.len() as i32 + skew).max(0) as u16;
            let mut out = t.to_be_bytes().to_vec();
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&v);
            out
        }),
    ]
}

fn known_id() -> impl Strategy<Value = u32> {
    prop::sample::select(IDS.to_vec())
}

/// A status: mostly 0, sometimes an error (responses change shape with it).
fn status() -> impl Strategy<Value = u32> {
    prop_oneof![3 => Just(0u32), 1 => any::<u32>(), 1 => 1u32..=0x112]
}

/// Valid frames of the shapes the router sees most, to mutate.
fn valid_frames() -> Vec<Vec<u8>> {
    let cstr = |s: &[u8]| {
        let mut v = s.to_vec();
        v.push(0);
        v
    };
    let mut submit = cstr(b"");
    submit.extend_from_slice(&[5, 0]);
    submit.extend(cstr(b"MyBank"));
    submit.extend_from_slice(&[1, 1]);
    submit.extend(cstr(b"14155551234"));
    submit.extend_from_slice(&[0, 0, 0]);
    submit.extend(cstr(b""));
    submit.extend(cstr(b"000001120000000R"));
    submit.extend_from_slice(&[1, 0, 0, 0, 6]);
    submit.extend_from_slice(b"482910");
    submit.extend_from_slice(&[0x02, 0x04, 0x00, 0x02, 0x00, 0x07]);
    let mut receipt = submit.clone();
    receipt.extend_from_slice(&[0x00, 0x1E, 0x00, 0x04, b'a', b'b', b'c', 0]);
    receipt.extend_from_slice(&[0x04, 0x27, 0x00, 0x01, 0x02]);
    let mut bind = cstr(b"acme");
    bind.extend(cstr(b"secret"));
    bind.extend(cstr(b""));
    bind.extend_from_slice(&[0x34, 0, 0]);
    bind.extend(cstr(b""));
    let mut multi = cstr(b"");
    multi.extend_from_slice(&[1, 1]);
    multi.extend(cstr(b"447"));
    multi.extend_from_slice(&[2, 1, 1, 1]);
    multi.extend(cstr(b"1415"));
    multi.push(2);
    multi.extend(cstr(b"friends"));
    multi.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0, 0, 0, 2]);
    multi.extend_from_slice(b"hi");
    vec![
        frame(CommandId::SUBMIT_SM.0, 0, 1, &submit),
        frame(CommandId::DELIVER_SM.0, 0, 2, &receipt),
        frame(CommandId::BIND_TRANSCEIVER.0, 0, 3, &bind),
        frame(CommandId::SUBMIT_MULTI.0, 0, 4, &multi),
        frame(
            CommandId::SUBMIT_SM_RESP.0,
            0,
            5,
            &cstr(b"0123456789abcdef"),
        ),
        frame(
            CommandId::BIND_TRANSCEIVER_RESP.0,
            0,
            6,
            b"mc\0\x02\x10\x00\x01\x34",
        ),
        frame(
            CommandId::QUERY_SM_RESP.0,
            0,
            7,
            b"m1\x00250315143000004+\0\x02\x00",
        ),
        frame(CommandId::ENQUIRE_LINK.0, 0, 8, b""),
    ]
}

/// One change to a frame: overwrite, insert or remove an octet, or cut the frame short.
#[derive(Clone, Debug)]
enum Mutation {
    Set(usize, u8),
    Insert(usize, u8),
    Remove(usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), octet()).prop_map(|(i, b)| Mutation::Set(i, b)),
        2 => (any::<usize>(), octet()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        2 => any::<usize>().prop_map(Mutation::Remove),
        1 => any::<usize>().prop_map(Mutation::Truncate),
    ]
}

/// Applies the mutations to the body (octets 16 onwards), then sets `command_length` again when
/// `fix_length` (otherwise the frame decoder sees whatever length is left).
fn mutate(mut f: Vec<u8>, muts: &[Mutation], fix_length: bool) -> Vec<u8> {
    for m in muts {
        let n = f.len();
        match *m {
            Mutation::Set(i, b) => f[i % n] = b,
            Mutation::Insert(i, b) => f.insert(16 + i % (n - 15), b),
            Mutation::Remove(i) if n > 16 => {
                f.remove(16 + i % (n - 16));
            }
            Mutation::Truncate(i) if n > 16 => f.truncate(16 + i % (n - 16)),
            Mutation::Remove(_) | Mutation::Truncate(_) => {}
        }
    }
    if fix_length && f.len() >= 4 {
        let len = (f.len() as u32).to_be_bytes();
        f[..4].copy_from_slice(&len);
    }
    f
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn arbitrary_streams(data in prop::collection::vec(any::<u8>(), 0..=1024)) {
        check_stream(&data)?;
    }

    #[test]
    fn random_bodies_for_every_command_id(
        id in known_id(),
        status in status(),
        seq in any::<u32>(),
        body in prop::collection::vec(octet(), 0..=300),
    ) {
        let f = frame(id, status, seq, &body);
        prop_assert_eq!(check_stream(&f)?, 1);
    }

    #[test]
    fn smpp_shaped_bodies_for_every_command_id(
        id in known_id(),
        status in status(),
        seq in any::<u32>(),
        pieces in prop::collection::vec(piece(), 0..=24),
    ) {
        let f = frame(id, status, seq, &pieces.concat());
        prop_assert_eq!(check_stream(&f)?, 1);
    }

    #[test]
    fn mutated_valid_frames(
        which in any::<prop::sample::Index>(),
        muts in prop::collection::vec(mutation(), 1..=4),
        fix_length in prop::bool::weighted(0.8),
        tail in prop::collection::vec(any::<u8>(), 0..=20),
    ) {
        let frames = valid_frames();
        let mut data = mutate(which.get(&frames).clone(), &muts, fix_length);
        // Another frame after it, then noise: a bad length must not take the next frame along.
        data.extend_from_slice(&frames[0]);
        data.extend_from_slice(&tail);
        check_stream(&data)?;
    }
}

#[test]
fn seed_frames_are_valid_and_round_trip() {
    for f in valid_frames() {
        let cmd = Command::decode(Bytes::from(f.clone())).unwrap();
        assert_eq!(&cmd.to_bytes().unwrap()[..], &f[..], "{}", cmd.command_id());
    }
}
