//! Codec benchmark, ours and rusmpp side by side in one run: encode, decode and encode+decode of
//! a 127-octet OTP `submit_sm` and of a delivery-receipt `deliver_sm`; and (ours only) reading a
//! receipt's text and rewriting its id, as the carrier channel does for every receipt.
//!
//! Run with `cargo bench -p smpp-router -j2 --bench codec`.
//!
//! How each library is driven, as its API allows:
//! - encode: both write into one reusable `BytesMut`, cleared each iteration (rusmpp's `Command`
//!   encodes everything after `command_length`, so the length goes first, as its codec does);
//! - decode: ours takes a prepared `Bytes` frame (a clone is a reference-count increment);
//!   rusmpp decodes from a `BytesMut` that it consumes, so each iteration refills a reusable
//!   `BytesMut` with the frame (after `command_length`) first. `ours/decode_from_read_buf` does
//!   the same for us — refill, cut the frame with `FrameDecoder`, decode — for a like-for-like row;
//! - encode+decode: encode into the reusable buffer, then decode what was written.

#![allow(clippy::unwrap_used)]

use std::hint::black_box;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use criterion::{Criterion, criterion_group, criterion_main};
use rusmpp::decode::DecodeWithLength;
use rusmpp::encode::Length;
use rusmpp::pdus as rp;
use rusmpp::tlvs::MessageDeliveryRequestTlvValue as DlvTlv;
use rusmpp::types::{COctetString, EmptyOrFullCOctetString, OctetString};
use rusmpp::values as rv;
use smpp_router::smpp::pdu::{Address, Sm};
use smpp_router::smpp::tlv::{TlvsBuilder, tag};
use smpp_router::smpp::values::{EsmClass, MessageState, RegisteredDelivery};
use smpp_router::smpp::{Command, FrameDecoder, Pdu};

const OTP_TEXT: &[u8] = b"Your verification code is 482910. Do not share this code.";
/// The 16-octet header plus the 34 mandatory octets around `short_message` with these addresses.
const OTP_OVERHEAD: usize = 50;
const RECEIPT_ID: &str = "7f3c9a1e5b2d4c80";

fn otp_text() -> Vec<u8> {
    let mut text = OTP_TEXT.to_vec();
    text.resize(127 - OTP_OVERHEAD, b' ');
    text
}

fn receipt_text() -> String {
    format!(
        "id:{RECEIPT_ID} sub:001 dlvrd:001 submit date:2602121430 done date:2602121430 stat:DELIVRD err:000 text:"
    )
}

fn ours_otp() -> Command {
    Command::new(
        0x0000_2A01,
        Pdu::SubmitSm(Sm {
            source: Address::new(5, 0, "MyBank"),
            dest: Address::new(1, 1, "14155551234"),
            registered_delivery: RegisteredDelivery(1),
            short_message: Bytes::from(otp_text()),
            ..Sm::default()
        }),
    )
}

fn ours_receipt() -> Command {
    Command::new(
        0x0000_2A02,
        Pdu::DeliverSm(Sm {
            source: Address::new(1, 1, "14155551234"),
            dest: Address::new(5, 0, "MyBank"),
            esm_class: EsmClass(EsmClass::MC_DELIVERY_RECEIPT),
            short_message: Bytes::from(receipt_text()),
            tlvs: TlvsBuilder::new()
                .push_cstr(tag::RECEIPTED_MESSAGE_ID, RECEIPT_ID.as_bytes())
                .push_u8(tag::MESSAGE_STATE, MessageState::DELIVERED.0)
                .build(),
            ..Sm::default()
        }),
    )
}

fn cos<const MIN: usize, const MAX: usize>(s: &str) -> COctetString<MIN, MAX> {
    COctetString::from_string(s.to_owned()).unwrap()
}

/// The same `submit_sm` for rusmpp, every field set (its `EsmClass::default()` is 0x08, not 0).
fn rusmpp_otp() -> rusmpp::Command {
    let pdu = rp::SubmitSm::new(
        rv::ServiceType::null(),
        rv::Ton::Alphanumeric,
        rv::Npi::Unknown,
        cos("MyBank"),
        rv::Ton::International,
        rv::Npi::Isdn,
        cos("14155551234"),
        rv::EsmClass::from(0u8),
        0,
        rv::PriorityFlag::from(0u8),
        EmptyOrFullCOctetString::empty(),
        EmptyOrFullCOctetString::empty(),
        rv::RegisteredDelivery::from(1u8),
        rv::ReplaceIfPresentFlag::DoNotReplace,
        rv::DataCoding::McSpecific,
        0,
        OctetString::from_vec(otp_text()).unwrap(),
        Vec::new(),
    );
    rusmpp::Command::new(rusmpp::CommandStatus::EsmeRok, 0x0000_2A01, pdu)
}

fn rusmpp_receipt() -> rusmpp::Command {
    let pdu = rp::DeliverSm::new(
        rv::ServiceType::null(),
        rv::Ton::International,
        rv::Npi::Isdn,
        cos("14155551234"),
        rv::Ton::Alphanumeric,
        rv::Npi::Unknown,
        cos("MyBank"),
        rv::EsmClass::from(0x04u8),
        0,
        rv::PriorityFlag::from(0u8),
        EmptyOrFullCOctetString::empty(),
        EmptyOrFullCOctetString::empty(),
        rv::RegisteredDelivery::from(0u8),
        rv::ReplaceIfPresentFlag::DoNotReplace,
        rv::DataCoding::McSpecific,
        0,
        OctetString::from_vec(receipt_text().into_bytes()).unwrap(),
        vec![
            DlvTlv::ReceiptedMessageId(cos(RECEIPT_ID)),
            DlvTlv::MessageState(rv::MessageState::Delivered),
        ],
    );
    rusmpp::Command::new(rusmpp::CommandStatus::EsmeRok, 0x0000_2A02, pdu)
}

/// rusmpp's encode, as its codec does it: `command_length`, then the command.
fn rusmpp_encode(cmd: &rusmpp::Command, out: &mut BytesMut) {
    out.put_u32((4 + cmd.length()) as u32);
    rusmpp::encode::owned::Encode::encode(cmd, out);
}

/// rusmpp's decode of a buffer holding one frame without its `command_length`.
fn rusmpp_decode(body: &mut BytesMut) -> rusmpp::Command {
    let len = body.len();
    <rusmpp::Command as DecodeWithLength>::decode(body, len)
        .unwrap()
        .0
}

fn bench_pdu(c: &mut Criterion, name: &str, ours: &Command, theirs: &rusmpp::Command) {
    let frame = ours.to_bytes().unwrap();
    let mut check = BytesMut::new();
    rusmpp_encode(theirs, &mut check);
    assert_eq!(
        &check[..],
        &frame[..],
        "{name}: both encoders give the same octets"
    );
    assert_eq!(&Command::decode(frame.clone()).unwrap(), ours);
    assert_eq!(&rusmpp_decode(&mut BytesMut::from(&frame[4..])), theirs);

    let mut group = c.benchmark_group(name);
    let mut buf = BytesMut::with_capacity(4096);

    group.bench_function("ours/encode", |b| {
        b.iter(|| {
            buf.clear();
            black_box(ours).encode(&mut buf).unwrap();
            black_box(buf.len())
        })
    });
    group.bench_function("rusmpp/encode", |b| {
        b.iter(|| {
            buf.clear();
            rusmpp_encode(black_box(theirs), &mut buf);
            black_box(buf.len())
        })
    });

    group.bench_function("ours/decode", |b| {
        b.iter(|| Command::decode(black_box(&frame).clone()).unwrap())
    });
    let decoder = FrameDecoder::default();
    group.bench_function("ours/decode_from_read_buf", |b| {
        b.iter(|| {
            buf.clear();
            buf.extend_from_slice(black_box(&frame));
            let f = decoder.decode(&mut buf).unwrap().unwrap();
            Command::decode(f).unwrap()
        })
    });
    group.bench_function("rusmpp/decode_from_read_buf", |b| {
        b.iter(|| {
            buf.clear();
            buf.extend_from_slice(&black_box(&frame)[4..]);
            rusmpp_decode(&mut buf)
        })
    });

    group.bench_function("ours/encode+decode", |b| {
        b.iter(|| {
            buf.clear();
            black_box(ours).encode(&mut buf).unwrap();
            Command::decode(buf.split().freeze()).unwrap()
        })
    });
    group.bench_function("rusmpp/encode+decode", |b| {
        b.iter(|| {
            buf.clear();
            rusmpp_encode(black_box(theirs), &mut buf);
            buf.advance(4);
            rusmpp_decode(&mut buf)
        })
    });
    group.finish();
}

fn codec(c: &mut Criterion) {
    let otp = ours_otp();
    assert_eq!(
        otp.to_bytes().unwrap().len(),
        127,
        "the OTP submit_sm is 127 octets"
    );
    bench_pdu(c, "submit_sm_otp_127B", &otp, &rusmpp_otp());

    let receipt = ours_receipt();
    bench_pdu(c, "deliver_sm_receipt", &receipt, &rusmpp_receipt());

    let text = receipt_text();
    let mut group = c.benchmark_group("receipt_text");
    group.bench_function("parse", |b| {
        b.iter(|| black_box(smpp_router::smpp::receipt::parse(black_box(&text))))
    });
    group.bench_function("rewrite_id", |b| {
        b.iter(|| {
            black_box(smpp_router::smpp::receipt::rewrite_id(
                black_box(text.as_bytes()),
                "7312458712345678901",
            ))
        })
    });
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
