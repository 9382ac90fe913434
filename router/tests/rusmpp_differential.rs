//! Differential tests of our SMPP codec against the `rusmpp` crate: the same PDUs, generated within
//! the spec's limits, are encoded by each library and decoded by the other, field by field, and
//! both encoders must produce the very same octets.
//!
//! Every generated case is a neutral model (plain octets and integers). From it we build our
//! `Command` and rusmpp's `Command`; decoded PDUs of either library are turned back into the model
//! so that one `assert_eq!` compares every field.
//!
//! What the generators leave out, and why (rusmpp is stricter than the spec or than we are):
//! - C-octet strings hold printable ASCII only. rusmpp rejects any octet ≥ 0x80 in a C-octet string
//!   (`NotAscii`), while the spec only says "ASCII" and real peers send Latin-1 — we accept those
//!   (`eight_bit_octets_in_c_strings_are_accepted` in our unit tests).
//! - TLVs always carry the length their type defines, and C-string TLVs include their NUL. rusmpp
//!   decodes typed TLVs by their type, not by the TLV length (for example `receipted_message_id`
//!   reads up to a NUL, `message_state` one octet), so a peer's wrong length desynchronises it. We
//!   keep every TLV as (tag, raw value), so only well-formed TLVs give comparable results.
//! - Response bodies are generated only with `command_status` 0: v3.4 sends no body with an error
//!   response and we encode it header-only, while rusmpp always encodes its body (see
//!   `error_submit_sm_resp_framing_differs`, which pins that difference down).
//! - `bind_*_resp` carries at most `sc_interface_version`: rusmpp's type has room for that TLV only.

#![allow(clippy::unwrap_used)]

use bytes::{BufMut, Bytes, BytesMut};
use proptest::prelude::*;
use rusmpp::decode::DecodeWithLength;
use rusmpp::encode::Length;
use rusmpp::pdus as rp;
use rusmpp::tlvs::{
    MessageDeliveryRequestTlvValue as DlvTlv, MessageSubmissionRequestTlvValue as SubTlv,
    MessageSubmissionResponseTlvValue as SubRespTlv, Tlv as RTlv, TlvTag, TlvValue,
};
use rusmpp::types::{AnyOctetString, COctetString, EmptyOrFullCOctetString, OctetString};
use rusmpp::values as rv;
use smpp_router::smpp::pdu::{Address, Bind, BindResp, Sm, SmResp};
use smpp_router::smpp::short::ShortStr;
use smpp_router::smpp::tlv::{Tlvs, TlvsBuilder, tag};
use smpp_router::smpp::values::{EsmClass, RegisteredDelivery};
use smpp_router::smpp::{Command, CommandId, CommandStatus, Pdu};

// ---------------------------------------------------------------------------------------------
// The two codecs, wrapped the same way: frame in, command out; command in, frame out.
// ---------------------------------------------------------------------------------------------

fn ours_encode(cmd: &Command) -> Bytes {
    let mut out = BytesMut::with_capacity(256);
    cmd.encode(&mut out).unwrap();
    out.freeze()
}

fn ours_decode(frame: &[u8]) -> Command {
    Command::decode(Bytes::copy_from_slice(frame)).unwrap()
}

/// rusmpp's `Command` encodes everything after `command_length`; its codec prefixes the length.
fn rusmpp_encode(cmd: &rusmpp::Command) -> Bytes {
    let mut out = BytesMut::with_capacity(256);
    out.put_u32((4 + cmd.length()) as u32);
    rusmpp::encode::owned::Encode::encode(cmd, &mut out);
    out.freeze()
}

/// rusmpp decodes from a `BytesMut` holding the frame without its `command_length`.
fn rusmpp_decode(frame: &[u8]) -> rusmpp::Command {
    let declared = u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
    assert_eq!(declared, frame.len(), "command_length of the frame");
    let mut buf = BytesMut::from(&frame[4..]);
    let len = buf.len();
    let (cmd, used) = <rusmpp::Command as DecodeWithLength>::decode(&mut buf, len)
        .unwrap_or_else(|e| panic!("rusmpp cannot decode {frame:02X?}: {e:?}"));
    assert_eq!(used, len, "rusmpp left octets unread");
    cmd
}

// ---------------------------------------------------------------------------------------------
// rusmpp value helpers.
// ---------------------------------------------------------------------------------------------

fn r_cos<const MIN: usize, const MAX: usize>(v: &[u8]) -> COctetString<MIN, MAX> {
    let mut with_nul = v.to_vec();
    with_nul.push(0);
    COctetString::from_vec(with_nul).unwrap()
}

fn r_time(v: &[u8]) -> EmptyOrFullCOctetString<17> {
    let mut with_nul = v.to_vec();
    with_nul.push(0);
    EmptyOrFullCOctetString::from_vec(with_nul).unwrap()
}

/// The value of a C-octet string without its NUL.
fn strip_nul(v: &[u8]) -> Vec<u8> {
    v.strip_suffix(&[0]).unwrap_or(v).to_vec()
}

/// (tag, value octets) of a rusmpp TLV, checking its declared length against its value.
fn r_raw_tlv(t: &RTlv) -> RawTlv {
    let mut value = BytesMut::new();
    if let Some(v) = t.value() {
        rusmpp::encode::owned::Encode::encode(v, &mut value);
    }
    assert_eq!(usize::from(t.value_length()), value.len(), "TLV length");
    (u16::from(t.tag()), value.to_vec())
}

fn our_raw_tlvs(t: &Tlvs) -> Vec<RawTlv> {
    t.iter().map(|t| (t.tag, t.value.to_vec())).collect()
}

type RawTlv = (u16, Vec<u8>);

// ---------------------------------------------------------------------------------------------
// The model: TLVs.
// ---------------------------------------------------------------------------------------------

/// A TLV of a type both libraries know, or a vendor TLV, always with its spec length.
#[derive(Clone, Debug, PartialEq, Eq)]
enum MTlv {
    UserMessageReference(u16),
    SourcePort(u16),
    DestPort(u16),
    SarMsgRefNum(u16),
    SarTotalSegments(u8),
    SarSegmentSeqnum(u8),
    PayloadType(u8),
    MessagePayload(Vec<u8>),
    ReceiptedMessageId(Vec<u8>),
    MessageState(u8),
    NetworkErrorCode(u8, u16),
    DeliveryFailureReason(u8),
    Vendor(u16, Vec<u8>),
}

impl MTlv {
    fn tag(&self) -> u16 {
        match self {
            Self::UserMessageReference(_) => tag::USER_MESSAGE_REFERENCE,
            Self::SourcePort(_) => tag::SOURCE_PORT,
            Self::DestPort(_) => tag::DESTINATION_PORT,
            Self::SarMsgRefNum(_) => tag::SAR_MSG_REF_NUM,
            Self::SarTotalSegments(_) => tag::SAR_TOTAL_SEGMENTS,
            Self::SarSegmentSeqnum(_) => tag::SAR_SEGMENT_SEQNUM,
            Self::PayloadType(_) => tag::PAYLOAD_TYPE,
            Self::MessagePayload(_) => tag::MESSAGE_PAYLOAD,
            Self::ReceiptedMessageId(_) => tag::RECEIPTED_MESSAGE_ID,
            Self::MessageState(_) => tag::MESSAGE_STATE,
            Self::NetworkErrorCode(..) => tag::NETWORK_ERROR_CODE,
            Self::DeliveryFailureReason(_) => tag::DELIVERY_FAILURE_REASON,
            Self::Vendor(t, _) => *t,
        }
    }

    /// Appends the TLV with our builder (C-string TLVs through `push_cstr`, which adds the NUL).
    fn push_ours(&self, b: &mut TlvsBuilder) {
        let t = self.tag();
        match self {
            Self::UserMessageReference(v)
            | Self::SourcePort(v)
            | Self::DestPort(v)
            | Self::SarMsgRefNum(v) => b.push_u16(t, *v),
            Self::SarTotalSegments(v)
            | Self::SarSegmentSeqnum(v)
            | Self::PayloadType(v)
            | Self::MessageState(v)
            | Self::DeliveryFailureReason(v) => b.push_u8(t, *v),
            Self::MessagePayload(v) | Self::Vendor(_, v) => b.push(t, v),
            Self::ReceiptedMessageId(v) => b.push_cstr(t, v),
            Self::NetworkErrorCode(net, err) => {
                let e = err.to_be_bytes();
                b.push(t, &[*net, e[0], e[1]])
            }
        };
    }

    /// The TLV as rusmpp's general value type, built through its typed variants.
    fn rusmpp(&self) -> TlvValue {
        match self {
            Self::UserMessageReference(v) => {
                TlvValue::UserMessageReference(rv::UserMessageReference::new(*v))
            }
            Self::SourcePort(v) => TlvValue::SourcePort(*v),
            Self::DestPort(v) => TlvValue::DestPort(*v),
            Self::SarMsgRefNum(v) => TlvValue::SarMsgRefNum(*v),
            Self::SarTotalSegments(v) => TlvValue::SarTotalSegments(*v),
            Self::SarSegmentSeqnum(v) => TlvValue::SarSegmentSeqnum(*v),
            Self::PayloadType(v) => TlvValue::PayloadType(rv::PayloadType::from(*v)),
            Self::MessagePayload(v) => {
                TlvValue::MessagePayload(rv::MessagePayload::new(AnyOctetString::from_slice(v)))
            }
            Self::ReceiptedMessageId(v) => TlvValue::ReceiptedMessageId(r_cos(v)),
            Self::MessageState(v) => TlvValue::MessageState(rv::MessageState::from(*v)),
            Self::NetworkErrorCode(net, err) => TlvValue::NetworkErrorCode(
                rv::NetworkErrorCode::new(rv::ErrorCodeNetworkType::from(*net), *err),
            ),
            Self::DeliveryFailureReason(v) => {
                TlvValue::DeliveryFailureReason(rv::DeliveryFailureReason::from(*v))
            }
            Self::Vendor(t, v) => TlvValue::Other {
                tag: TlvTag::from(*t),
                value: AnyOctetString::from_slice(v),
            },
        }
    }

    /// The TLV as rusmpp's `submit_sm` TLV type (only the kinds a submit_sm may carry).
    fn rusmpp_submit(&self) -> SubTlv {
        match self.rusmpp() {
            TlvValue::UserMessageReference(v) => SubTlv::UserMessageReference(v),
            TlvValue::SourcePort(v) => SubTlv::SourcePort(v),
            TlvValue::DestPort(v) => SubTlv::DestPort(v),
            TlvValue::SarMsgRefNum(v) => SubTlv::SarMsgRefNum(v),
            TlvValue::SarTotalSegments(v) => SubTlv::SarTotalSegments(v),
            TlvValue::SarSegmentSeqnum(v) => SubTlv::SarSegmentSeqnum(v),
            TlvValue::PayloadType(v) => SubTlv::PayloadType(v),
            TlvValue::MessagePayload(v) => SubTlv::MessagePayload(v),
            TlvValue::Other { tag, value } => SubTlv::Other { tag, value },
            other => panic!("not a submit_sm TLV: {other:?}"),
        }
    }

    /// The TLV as rusmpp's `deliver_sm` TLV type.
    fn rusmpp_deliver(&self) -> DlvTlv {
        match self.rusmpp() {
            TlvValue::UserMessageReference(v) => DlvTlv::UserMessageReference(v),
            TlvValue::SourcePort(v) => DlvTlv::SourcePort(v),
            TlvValue::DestPort(v) => DlvTlv::DestPort(v),
            TlvValue::SarMsgRefNum(v) => DlvTlv::SarMsgRefNum(v),
            TlvValue::SarTotalSegments(v) => DlvTlv::SarTotalSegments(v),
            TlvValue::SarSegmentSeqnum(v) => DlvTlv::SarSegmentSeqnum(v),
            TlvValue::PayloadType(v) => DlvTlv::PayloadType(v),
            TlvValue::MessagePayload(v) => DlvTlv::MessagePayload(v),
            TlvValue::ReceiptedMessageId(v) => DlvTlv::ReceiptedMessageId(v),
            TlvValue::MessageState(v) => DlvTlv::MessageState(v),
            TlvValue::NetworkErrorCode(v) => DlvTlv::NetworkErrorCode(v),
            TlvValue::Other { tag, value } => DlvTlv::Other { tag, value },
            other => panic!("not a deliver_sm TLV: {other:?}"),
        }
    }

    /// The TLV as rusmpp's `submit_sm_resp` TLV type.
    fn rusmpp_submit_resp(&self) -> SubRespTlv {
        match self.rusmpp() {
            TlvValue::NetworkErrorCode(v) => SubRespTlv::NetworkErrorCode(v),
            TlvValue::DeliveryFailureReason(v) => SubRespTlv::DeliveryFailureReason(v),
            TlvValue::Other { tag, value } => SubRespTlv::Other { tag, value },
            other => panic!("not a submit_sm_resp TLV: {other:?}"),
        }
    }

    fn raw(&self) -> RawTlv {
        let mut b = TlvsBuilder::new();
        self.push_ours(&mut b);
        let t = b.build();
        let one = t.iter().next().unwrap();
        (one.tag, one.value.to_vec())
    }
}

fn our_tlvs(list: &[MTlv]) -> Tlvs {
    let mut b = TlvsBuilder::new();
    for t in list {
        t.push_ours(&mut b);
    }
    b.build()
}

// ---------------------------------------------------------------------------------------------
// The model: PDUs.
// ---------------------------------------------------------------------------------------------

/// Every field of `submit_sm`/`deliver_sm` as plain values; C-strings without their NUL.
#[derive(Clone, Debug, PartialEq, Eq)]
struct SmView {
    sequence_number: u32,
    service_type: Vec<u8>,
    source: (u8, u8, Vec<u8>),
    dest: (u8, u8, Vec<u8>),
    esm_class: u8,
    protocol_id: u8,
    priority_flag: u8,
    schedule_delivery_time: Vec<u8>,
    validity_period: Vec<u8>,
    registered_delivery: u8,
    replace_if_present_flag: u8,
    data_coding: u8,
    sm_default_msg_id: u8,
    short_message: Vec<u8>,
    tlvs: Vec<RawTlv>,
}

/// A generated `submit_sm` or `deliver_sm`: the view without TLVs, and the typed TLVs.
#[derive(Clone, Debug)]
struct SmCase {
    deliver: bool,
    fields: SmView,
    tlvs: Vec<MTlv>,
}

impl SmCase {
    fn expected(&self) -> SmView {
        SmView {
            tlvs: self.tlvs.iter().map(MTlv::raw).collect(),
            ..self.fields.clone()
        }
    }

    fn ours(&self) -> Command {
        let f = &self.fields;
        let sm = Sm {
            service_type: ShortStr::new(&f.service_type).unwrap(),
            source: Address::new(f.source.0, f.source.1, f.source.2.clone()),
            dest: Address::new(f.dest.0, f.dest.1, f.dest.2.clone()),
            esm_class: EsmClass(f.esm_class),
            protocol_id: f.protocol_id,
            priority_flag: f.priority_flag,
            schedule_delivery_time: ShortStr::new(&f.schedule_delivery_time).unwrap(),
            validity_period: ShortStr::new(&f.validity_period).unwrap(),
            registered_delivery: RegisteredDelivery(f.registered_delivery),
            replace_if_present_flag: f.replace_if_present_flag,
            data_coding: f.data_coding,
            sm_default_msg_id: f.sm_default_msg_id,
            short_message: Bytes::from(f.short_message.clone()),
            tlvs: our_tlvs(&self.tlvs),
        };
        let pdu = if self.deliver {
            Pdu::DeliverSm(sm)
        } else {
            Pdu::SubmitSm(sm)
        };
        Command::new(f.sequence_number, pdu)
    }

    /// Every field set explicitly: rusmpp's defaults are not all zero (`EsmClass::default()`
    /// encodes 0x08), so nothing may come from `Default`.
    fn rusmpp(&self) -> rusmpp::Command {
        let f = &self.fields;
        let short_message = OctetString::from_vec(f.short_message.clone()).unwrap();
        let pdu: rusmpp::Pdu = if self.deliver {
            rp::DeliverSm::new(
                rv::ServiceType::new(r_cos(&f.service_type)),
                rv::Ton::from(f.source.0),
                rv::Npi::from(f.source.1),
                r_cos(&f.source.2),
                rv::Ton::from(f.dest.0),
                rv::Npi::from(f.dest.1),
                r_cos(&f.dest.2),
                rv::EsmClass::from(f.esm_class),
                f.protocol_id,
                rv::PriorityFlag::from(f.priority_flag),
                r_time(&f.schedule_delivery_time),
                r_time(&f.validity_period),
                rv::RegisteredDelivery::from(f.registered_delivery),
                rv::ReplaceIfPresentFlag::from(f.replace_if_present_flag),
                rv::DataCoding::from(f.data_coding),
                f.sm_default_msg_id,
                short_message,
                self.tlvs.iter().map(MTlv::rusmpp_deliver).collect(),
            )
            .into()
        } else {
            rp::SubmitSm::new(
                rv::ServiceType::new(r_cos(&f.service_type)),
                rv::Ton::from(f.source.0),
                rv::Npi::from(f.source.1),
                r_cos(&f.source.2),
                rv::Ton::from(f.dest.0),
                rv::Npi::from(f.dest.1),
                r_cos(&f.dest.2),
                rv::EsmClass::from(f.esm_class),
                f.protocol_id,
                rv::PriorityFlag::from(f.priority_flag),
                r_time(&f.schedule_delivery_time),
                r_time(&f.validity_period),
                rv::RegisteredDelivery::from(f.registered_delivery),
                rv::ReplaceIfPresentFlag::from(f.replace_if_present_flag),
                rv::DataCoding::from(f.data_coding),
                f.sm_default_msg_id,
                short_message,
                self.tlvs.iter().map(MTlv::rusmpp_submit).collect(),
            )
            .into()
        };
        rusmpp::Command::new(rusmpp::CommandStatus::EsmeRok, f.sequence_number, pdu)
    }
}

fn addr_view(a: &Address) -> (u8, u8, Vec<u8>) {
    (a.ton, a.npi, a.addr.to_vec())
}

fn view_of_ours(cmd: &Command) -> SmView {
    assert_eq!(cmd.status, CommandStatus::ROK);
    let (Pdu::SubmitSm(sm) | Pdu::DeliverSm(sm)) = &cmd.pdu else {
        panic!("not a submit_sm/deliver_sm: {cmd:?}");
    };
    SmView {
        sequence_number: cmd.sequence_number,
        service_type: sm.service_type.to_vec(),
        source: addr_view(&sm.source),
        dest: addr_view(&sm.dest),
        esm_class: sm.esm_class.0,
        protocol_id: sm.protocol_id,
        priority_flag: sm.priority_flag,
        schedule_delivery_time: sm.schedule_delivery_time.to_vec(),
        validity_period: sm.validity_period.to_vec(),
        registered_delivery: sm.registered_delivery.0,
        replace_if_present_flag: sm.replace_if_present_flag,
        data_coding: sm.data_coding,
        sm_default_msg_id: sm.sm_default_msg_id,
        short_message: sm.short_message.to_vec(),
        tlvs: our_raw_tlvs(&sm.tlvs),
    }
}

/// Builds the view from a rusmpp `SubmitSm` or `DeliverSm` (same fields, two types).
macro_rules! view_of_rusmpp_sm {
    ($seq:expr, $s:expr) => {{
        let s = $s;
        SmView {
            sequence_number: $seq,
            service_type: strip_nul(s.service_type.value()),
            source: (
                u8::from(s.source_addr_ton),
                u8::from(s.source_addr_npi),
                strip_nul(&s.source_addr),
            ),
            dest: (
                u8::from(s.dest_addr_ton),
                u8::from(s.dest_addr_npi),
                strip_nul(&s.destination_addr),
            ),
            esm_class: u8::from(s.esm_class),
            protocol_id: s.protocol_id,
            priority_flag: u8::from(s.priority_flag),
            schedule_delivery_time: strip_nul(&s.schedule_delivery_time),
            validity_period: strip_nul(&s.validity_period),
            registered_delivery: u8::from(s.registered_delivery),
            replace_if_present_flag: u8::from(s.replace_if_present_flag),
            data_coding: u8::from(s.data_coding),
            sm_default_msg_id: s.sm_default_msg_id,
            short_message: s.short_message().to_vec(),
            tlvs: s.tlvs().iter().map(r_raw_tlv).collect(),
        }
    }};
}

fn view_of_rusmpp(cmd: &rusmpp::Command, deliver: bool) -> SmView {
    assert_eq!(cmd.status(), rusmpp::CommandStatus::EsmeRok);
    match (cmd.pdu(), deliver) {
        (Some(rusmpp::Pdu::SubmitSm(s)), false) => {
            assert_eq!(usize::from(s.sm_length()), s.short_message().len());
            view_of_rusmpp_sm!(cmd.sequence_number(), s)
        }
        (Some(rusmpp::Pdu::DeliverSm(s)), true) => {
            assert_eq!(usize::from(s.sm_length()), s.short_message().len());
            view_of_rusmpp_sm!(cmd.sequence_number(), s)
        }
        (other, _) => panic!("rusmpp decoded something else: {other:?}"),
    }
}

/// The typed reading of a receipt's TLVs must agree too, not only the raw octets.
fn check_receipt_tlvs(case: &SmCase, ours: &Command, theirs: &rusmpp::Command) {
    let id = case.tlvs.iter().find_map(|t| match t {
        MTlv::ReceiptedMessageId(v) => Some(v.clone()),
        _ => None,
    });
    let state = case.tlvs.iter().find_map(|t| match t {
        MTlv::MessageState(v) => Some(*v),
        _ => None,
    });
    let Pdu::DeliverSm(sm) = &ours.pdu else {
        panic!("not a deliver_sm")
    };
    assert_eq!(sm.tlvs.receipted_message_id().map(<[u8]>::to_vec), id);
    assert_eq!(sm.tlvs.message_state().map(|s| s.0), state);
    let Some(rusmpp::Pdu::DeliverSm(d)) = theirs.pdu() else {
        panic!("rusmpp: not a deliver_sm")
    };
    let r_id = d.tlvs().iter().find_map(|t| match t.value() {
        Some(TlvValue::ReceiptedMessageId(v)) => Some(strip_nul(v)),
        _ => None,
    });
    let r_state = d.tlvs().iter().find_map(|t| match t.value() {
        Some(TlvValue::MessageState(v)) => Some(u8::from(*v)),
        _ => None,
    });
    assert_eq!(r_id, id);
    assert_eq!(r_state, state);
}

// ---------------------------------------------------------------------------------------------
// Generators, within the field limits of SMPP 3.4/5.0 (sizes, TLVs, times).
// ---------------------------------------------------------------------------------------------

fn printable(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(0x20u8..=0x7E, 0..=max)
}

fn alnum(min: usize, max: usize) -> impl Strategy<Value = Vec<u8>> {
    let chars: Vec<u8> = (b'0'..=b'9')
        .chain(b'A'..=b'Z')
        .chain(b'a'..=b'z')
        .collect();
    prop::collection::vec(prop::sample::select(chars), min..=max)
}

fn digits(min: usize, max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(b'0'..=b'9', min..=max)
}

fn sequence_number() -> impl Strategy<Value = u32> {
    1u32..=0x7FFF_FFFF
}

fn known_npi() -> impl Strategy<Value = u8> {
    prop::sample::select(vec![0u8, 1, 3, 4, 6, 8, 9, 10, 14, 18])
}

/// `COS(21)` addresses: E.164 digits, an alphanumeric brand (TON 5, at most 11 characters), or
/// anything printable up to 20 characters under any TON/NPI.
fn address() -> impl Strategy<Value = (u8, u8, Vec<u8>)> {
    prop_oneof![
        digits(7, 15).prop_map(|d| (1u8, 1u8, d)),
        alnum(1, 11).prop_map(|a| (5u8, 0u8, a)),
        digits(3, 6).prop_map(|d| (6u8, 0u8, d)),
        (0u8..=6, known_npi(), printable(20)),
    ]
}

fn service_type() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::sample::select(vec![
            "", "CMT", "CPT", "VMN", "VMA", "WAP", "USSD", "CBS", "GUTS"
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        alnum(0, 5),
    ]
}

/// `COSF(17)`: empty, absolute `YYMMDDhhmmsstnnp` or relative `YYMMDDhhmmss000R`.
fn time_field() -> impl Strategy<Value = Vec<u8>> {
    let absolute = (
        0u32..100,
        1u32..=12,
        1u32..=28,
        0u32..24,
        0u32..60,
        0u32..60,
        0u32..10,
        0u32..=48,
        prop::bool::ANY,
    )
        .prop_map(|(y, mo, d, h, mi, s, t, nn, ahead)| {
            let p = if ahead { '+' } else { '-' };
            format!("{y:02}{mo:02}{d:02}{h:02}{mi:02}{s:02}{t}{nn:02}{p}").into_bytes()
        });
    let relative = (0u32..100, 0u32..12, 0u32..31, 0u32..24, 0u32..60, 0u32..60).prop_map(
        |(y, mo, d, h, mi, s)| format!("{y:02}{mo:02}{d:02}{h:02}{mi:02}{s:02}000R").into_bytes(),
    );
    prop_oneof![Just(Vec::new()), absolute, relative]
}

fn vendor_tlv() -> impl Strategy<Value = MTlv> {
    (
        tag::VENDOR_FIRST..=tag::VENDOR_LAST,
        prop::collection::vec(any::<u8>(), 0..=32),
    )
        .prop_map(|(t, v)| MTlv::Vendor(t, v))
}

/// TLVs a `submit_sm` or plain `deliver_sm` may carry, vendor ones included.
fn message_tlv() -> impl Strategy<Value = MTlv> {
    prop_oneof![
        any::<u16>().prop_map(MTlv::UserMessageReference),
        any::<u16>().prop_map(MTlv::SourcePort),
        any::<u16>().prop_map(MTlv::DestPort),
        any::<u16>().prop_map(MTlv::SarMsgRefNum),
        (1u8..=255).prop_map(MTlv::SarTotalSegments),
        (1u8..=255).prop_map(MTlv::SarSegmentSeqnum),
        (0u8..=1).prop_map(MTlv::PayloadType),
        vendor_tlv(),
    ]
}

/// At most one TLV per tag (most TLVs appear at most once).
fn unique_tags(mut list: Vec<MTlv>) -> Vec<MTlv> {
    let mut seen = std::collections::HashSet::new();
    list.retain(|t| seen.insert(t.tag()));
    list
}

/// The mandatory fields of a `submit_sm`, with `short_message` 0–255 octets (v5 allows 255).
fn submit_fields() -> impl Strategy<Value = SmView> {
    (
        (sequence_number(), service_type(), address(), address()),
        (
            any::<u8>(),
            any::<u8>(),
            0u8..=4,
            time_field(),
            time_field(),
        ),
        (0u8..=0x1F, 0u8..=1, any::<u8>(), 0u8..=254),
        prop::collection::vec(any::<u8>(), 0..=255),
    )
        .prop_map(
            |((seq, st, src, dst), (esm, pid, prio, sched, valid), (rd, rip, dc, dflt), sm)| {
                SmView {
                    sequence_number: seq,
                    service_type: st,
                    source: src,
                    dest: dst,
                    esm_class: esm,
                    protocol_id: pid,
                    priority_flag: prio,
                    schedule_delivery_time: sched,
                    validity_period: valid,
                    registered_delivery: rd,
                    replace_if_present_flag: rip,
                    data_coding: dc,
                    sm_default_msg_id: dflt,
                    short_message: sm,
                    tlvs: Vec::new(),
                }
            },
        )
}

/// `message_payload` only when `short_message` is empty (never both).
fn with_payload(fields: SmView, tlvs: Vec<MTlv>, payload: Option<Vec<u8>>) -> (SmView, Vec<MTlv>) {
    let mut tlvs = unique_tags(tlvs);
    if let Some(p) = payload.filter(|_| fields.short_message.is_empty()) {
        tlvs.push(MTlv::MessagePayload(p));
    }
    (fields, tlvs)
}

fn submit_sm() -> impl Strategy<Value = SmCase> {
    (
        submit_fields(),
        prop::collection::vec(message_tlv(), 0..=5),
        prop::option::of(prop::collection::vec(any::<u8>(), 0..=600)),
    )
        .prop_map(|(fields, tlvs, payload)| {
            let (fields, tlvs) = with_payload(fields, tlvs, payload);
            SmCase {
                deliver: false,
                fields,
                tlvs,
            }
        })
}

/// A `deliver_sm` keeps the rules of the spec: both times NUL, replace flag 0, no canned
/// message.
fn deliver_fields(esm_class: impl Strategy<Value = u8>) -> impl Strategy<Value = SmView> {
    (submit_fields(), esm_class).prop_map(|(mut f, esm)| {
        f.esm_class = esm;
        f.schedule_delivery_time.clear();
        f.validity_period.clear();
        f.replace_if_present_flag = 0;
        f.sm_default_msg_id = 0;
        f
    })
}

fn plain_deliver_sm() -> impl Strategy<Value = SmCase> {
    (
        deliver_fields(prop::sample::select(vec![0x00u8, 0x40, 0x80, 0xC0])),
        prop::collection::vec(message_tlv(), 0..=5),
        prop::option::of(prop::collection::vec(any::<u8>(), 0..=600)),
    )
        .prop_map(|(fields, tlvs, payload)| {
            let (fields, tlvs) = with_payload(fields, tlvs, payload);
            SmCase {
                deliver: true,
                fields,
                tlvs,
            }
        })
}

/// The receipt text carriers send (the SMPP 3.4 appendix's format).
fn receipt_text(id: &[u8]) -> impl Strategy<Value = Vec<u8>> + use<> {
    let id = String::from_utf8_lossy(id).into_owned();
    (
        0u32..=1,
        digits(10, 10),
        digits(10, 10),
        prop::sample::select(vec![
            "DELIVRD", "EXPIRED", "DELETED", "UNDELIV", "ACCEPTD", "UNKNOWN", "REJECTD",
        ]),
        0u32..=999,
        alnum(0, 20),
    )
        .prop_map(move |(d, sub, done, stat, err, text)| {
            let mut s = format!(
                "id:{id} sub:001 dlvrd:{d:03} submit date:{} done date:{} stat:{stat} err:{err:03} text:",
                String::from_utf8_lossy(&sub),
                String::from_utf8_lossy(&done),
            )
            .into_bytes();
            s.extend_from_slice(&text);
            s.truncate(255);
            s
        })
}

/// A delivery receipt: esm_class 0x04 (or 0x20, intermediate), `receipted_message_id` (`COS≤65`)
/// and `message_state` (0–9) in either order, sometimes `network_error_code`, other TLVs around.
fn receipt_deliver_sm() -> impl Strategy<Value = SmCase> {
    (
        deliver_fields(prop::sample::select(vec![0x04u8, 0x20])),
        alnum(1, 64),
        0u8..=9,
        prop::option::of((1u8..=8, any::<u16>())),
        prop::collection::vec(message_tlv(), 0..=3),
    )
        .prop_flat_map(|(fields, id, state, nec, extra)| {
            let mut tlvs = vec![
                MTlv::ReceiptedMessageId(id.clone()),
                MTlv::MessageState(state),
            ];
            if let Some((net, err)) = nec {
                tlvs.push(MTlv::NetworkErrorCode(net, err));
            }
            tlvs.extend(extra);
            let tlvs = unique_tags(tlvs);
            (Just(fields), receipt_text(&id), Just(tlvs).prop_shuffle())
        })
        .prop_map(|(mut fields, text, tlvs)| {
            fields.short_message = text;
            SmCase {
                deliver: true,
                fields,
                tlvs,
            }
        })
}

// ---------------------------------------------------------------------------------------------
// The three checks, shared by every kind of PDU.
// ---------------------------------------------------------------------------------------------

fn check_sm(case: &SmCase) {
    let expected = case.expected();
    let ours_bytes = ours_encode(&case.ours());
    let theirs_bytes = rusmpp_encode(&case.rusmpp());

    // Ours → rusmpp.
    let theirs = rusmpp_decode(&ours_bytes);
    assert_eq!(view_of_rusmpp(&theirs, case.deliver), expected);
    // rusmpp → ours.
    let ours = ours_decode(&theirs_bytes);
    assert_eq!(view_of_ours(&ours), expected);
    // Same PDU, same octets.
    assert_eq!(ours_bytes, theirs_bytes);
    if case.tlvs.iter().any(|t| matches!(t, MTlv::MessageState(_))) {
        check_receipt_tlvs(case, &ours, &theirs);
    }
}

/// `bind_receiver`, `bind_transmitter`, `bind_transceiver`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct BindView {
    kind: u8,
    sequence_number: u32,
    system_id: Vec<u8>,
    password: Vec<u8>,
    system_type: Vec<u8>,
    interface_version: u8,
    addr_ton: u8,
    addr_npi: u8,
    address_range: Vec<u8>,
}

impl BindView {
    fn ours(&self) -> Command {
        let b = Bind {
            system_id: Bytes::from(self.system_id.clone()),
            password: Bytes::from(self.password.clone()),
            system_type: Bytes::from(self.system_type.clone()),
            interface_version: self.interface_version,
            addr_ton: self.addr_ton,
            addr_npi: self.addr_npi,
            address_range: Bytes::from(self.address_range.clone()),
        };
        let pdu = match self.kind {
            0 => Pdu::BindReceiver(b),
            1 => Pdu::BindTransmitter(b),
            _ => Pdu::BindTransceiver(b),
        };
        Command::new(self.sequence_number, pdu)
    }

    fn rusmpp(&self) -> rusmpp::Command {
        macro_rules! bind {
            ($t:ident) => {
                rp::$t::new(
                    r_cos(&self.system_id),
                    r_cos(&self.password),
                    r_cos(&self.system_type),
                    rv::InterfaceVersion::from(self.interface_version),
                    rv::Ton::from(self.addr_ton),
                    rv::Npi::from(self.addr_npi),
                    r_cos(&self.address_range),
                )
                .into()
            };
        }
        let pdu: rusmpp::Pdu = match self.kind {
            0 => bind!(BindReceiver),
            1 => bind!(BindTransmitter),
            _ => bind!(BindTransceiver),
        };
        rusmpp::Command::new(rusmpp::CommandStatus::EsmeRok, self.sequence_number, pdu)
    }

    fn of_ours(cmd: &Command) -> Self {
        let (kind, b) = match &cmd.pdu {
            Pdu::BindReceiver(b) => (0, b),
            Pdu::BindTransmitter(b) => (1, b),
            Pdu::BindTransceiver(b) => (2, b),
            other => panic!("not a bind: {other:?}"),
        };
        Self {
            kind,
            sequence_number: cmd.sequence_number,
            system_id: b.system_id.to_vec(),
            password: b.password.to_vec(),
            system_type: b.system_type.to_vec(),
            interface_version: b.interface_version,
            addr_ton: b.addr_ton,
            addr_npi: b.addr_npi,
            address_range: b.address_range.to_vec(),
        }
    }

    fn of_rusmpp(cmd: &rusmpp::Command) -> Self {
        macro_rules! view {
            ($kind:expr, $b:expr) => {
                Self {
                    kind: $kind,
                    sequence_number: cmd.sequence_number(),
                    system_id: strip_nul(&$b.system_id),
                    password: strip_nul(&$b.password),
                    system_type: strip_nul(&$b.system_type),
                    interface_version: u8::from($b.interface_version),
                    addr_ton: u8::from($b.addr_ton),
                    addr_npi: u8::from($b.addr_npi),
                    address_range: strip_nul(&$b.address_range),
                }
            };
        }
        match cmd.pdu() {
            Some(rusmpp::Pdu::BindReceiver(b)) => view!(0, b),
            Some(rusmpp::Pdu::BindTransmitter(b)) => view!(1, b),
            Some(rusmpp::Pdu::BindTransceiver(b)) => view!(2, b),
            other => panic!("rusmpp: not a bind: {other:?}"),
        }
    }
}

/// Binds within the field limits: system_id ≤ 15, password ≤ 8, system_type ≤ 12,
/// address_range ≤ 40 characters; interface_version 0x00–0x34 or 0x50.
fn bind() -> impl Strategy<Value = BindView> {
    (
        (0u8..=2, sequence_number(), alnum(1, 15), printable(8)),
        (printable(12), prop_oneof![0u8..=0x34, Just(0x50u8)]),
        (0u8..=6, known_npi(), printable(40)),
    )
        .prop_map(
            |((kind, seq, id, pw), (st, iv), (ton, npi, range))| BindView {
                kind,
                sequence_number: seq,
                system_id: id,
                password: pw,
                system_type: st,
                interface_version: iv,
                addr_ton: ton,
                addr_npi: npi,
                address_range: range,
            },
        )
}

/// `bind_*_resp` with status 0: system_id and an optional `sc_interface_version`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct BindRespView {
    kind: u8,
    sequence_number: u32,
    system_id: Vec<u8>,
    sc_interface_version: Option<u8>,
}

impl BindRespView {
    fn ours(&self) -> Command {
        let mut tlvs = TlvsBuilder::new();
        if let Some(v) = self.sc_interface_version {
            tlvs.push_u8(tag::SC_INTERFACE_VERSION, v);
        }
        let b = BindResp {
            system_id: Bytes::from(self.system_id.clone()),
            tlvs: tlvs.build(),
        };
        let pdu = match self.kind {
            0 => Pdu::BindReceiverResp(b),
            1 => Pdu::BindTransmitterResp(b),
            _ => Pdu::BindTransceiverResp(b),
        };
        Command::new(self.sequence_number, pdu)
    }

    fn rusmpp(&self) -> rusmpp::Command {
        let id = r_cos(&self.system_id);
        let v = self.sc_interface_version.map(rv::InterfaceVersion::from);
        let pdu: rusmpp::Pdu = match self.kind {
            0 => rp::BindReceiverResp::new(id, v).into(),
            1 => rp::BindTransmitterResp::new(id, v).into(),
            _ => rp::BindTransceiverResp::new(id, v).into(),
        };
        rusmpp::Command::new(rusmpp::CommandStatus::EsmeRok, self.sequence_number, pdu)
    }

    fn of_ours(cmd: &Command) -> Self {
        let (kind, b) = match &cmd.pdu {
            Pdu::BindReceiverResp(b) => (0, b),
            Pdu::BindTransmitterResp(b) => (1, b),
            Pdu::BindTransceiverResp(b) => (2, b),
            other => panic!("not a bind_resp: {other:?}"),
        };
        assert!(
            b.tlvs
                .iter()
                .all(|t| t.tag == tag::SC_INTERFACE_VERSION && t.value.len() == 1)
        );
        Self {
            kind,
            sequence_number: cmd.sequence_number,
            system_id: b.system_id.to_vec(),
            sc_interface_version: b.tlvs.sc_interface_version(),
        }
    }

    fn of_rusmpp(cmd: &rusmpp::Command) -> Self {
        let (kind, id, v) = match cmd.pdu() {
            Some(rusmpp::Pdu::BindReceiverResp(b)) => (0, &b.system_id, b.sc_interface_version()),
            Some(rusmpp::Pdu::BindTransmitterResp(b)) => {
                (1, &b.system_id, b.sc_interface_version())
            }
            Some(rusmpp::Pdu::BindTransceiverResp(b)) => {
                (2, &b.system_id, b.sc_interface_version())
            }
            other => panic!("rusmpp: not a bind_resp: {other:?}"),
        };
        Self {
            kind,
            sequence_number: cmd.sequence_number(),
            system_id: strip_nul(id),
            sc_interface_version: v.map(u8::from),
        }
    }
}

fn bind_resp() -> impl Strategy<Value = BindRespView> {
    (
        0u8..=2,
        sequence_number(),
        alnum(0, 15),
        prop::option::of(prop_oneof![Just(0x33u8), Just(0x34), Just(0x50)]),
    )
        .prop_map(|(kind, seq, id, v)| BindRespView {
            kind,
            sequence_number: seq,
            system_id: id,
            sc_interface_version: v,
        })
}

/// `submit_sm_resp` with status 0: `message_id` (`COS(65)`) and the v5 response TLVs.
#[derive(Clone, Debug)]
struct SubmitRespCase {
    sequence_number: u32,
    message_id: Vec<u8>,
    tlvs: Vec<MTlv>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct SubmitRespView {
    sequence_number: u32,
    message_id: Vec<u8>,
    tlvs: Vec<RawTlv>,
}

impl SubmitRespCase {
    fn expected(&self) -> SubmitRespView {
        SubmitRespView {
            sequence_number: self.sequence_number,
            message_id: self.message_id.clone(),
            tlvs: self.tlvs.iter().map(MTlv::raw).collect(),
        }
    }

    fn ours(&self) -> Command {
        Command::new(
            self.sequence_number,
            Pdu::SubmitSmResp(SmResp {
                message_id: Bytes::from(self.message_id.clone()),
                tlvs: our_tlvs(&self.tlvs),
            }),
        )
    }

    fn rusmpp(&self) -> rusmpp::Command {
        let pdu = rp::SubmitSmResp::new(
            r_cos(&self.message_id),
            self.tlvs.iter().map(MTlv::rusmpp_submit_resp).collect(),
        );
        rusmpp::Command::new(rusmpp::CommandStatus::EsmeRok, self.sequence_number, pdu)
    }
}

fn submit_resp_of_ours(cmd: &Command) -> SubmitRespView {
    assert_eq!(cmd.status, CommandStatus::ROK);
    let Pdu::SubmitSmResp(r) = &cmd.pdu else {
        panic!("not a submit_sm_resp: {cmd:?}");
    };
    SubmitRespView {
        sequence_number: cmd.sequence_number,
        message_id: r.message_id.to_vec(),
        tlvs: our_raw_tlvs(&r.tlvs),
    }
}

fn submit_resp_of_rusmpp(cmd: &rusmpp::Command) -> SubmitRespView {
    assert_eq!(cmd.status(), rusmpp::CommandStatus::EsmeRok);
    let Some(rusmpp::Pdu::SubmitSmResp(r)) = cmd.pdu() else {
        panic!("rusmpp: not a submit_sm_resp: {cmd:?}");
    };
    SubmitRespView {
        sequence_number: cmd.sequence_number(),
        message_id: strip_nul(r.message_id()),
        tlvs: r.tlvs().iter().map(r_raw_tlv).collect(),
    }
}

/// Message ids as MCs make them: hex, decimal, UUID-like; up to 64 characters.
fn message_id() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        alnum(0, 64),
        digits(1, 20),
        prop::collection::vec(prop::sample::select(b"0123456789abcdef-".to_vec()), 1..=36),
    ]
}

fn submit_sm_resp() -> impl Strategy<Value = SubmitRespCase> {
    let tlv = prop_oneof![
        (0u8..=3).prop_map(MTlv::DeliveryFailureReason),
        (1u8..=8, any::<u16>()).prop_map(|(n, e)| MTlv::NetworkErrorCode(n, e)),
        vendor_tlv(),
    ];
    (
        sequence_number(),
        message_id(),
        prop::collection::vec(tlv, 0..=3),
    )
        .prop_map(|(seq, id, tlvs)| SubmitRespCase {
            sequence_number: seq,
            message_id: id,
            tlvs: unique_tags(tlvs),
        })
}

/// The header-only PDUs, with any status where the spec allows one (`generic_nack`).
fn header_only() -> impl Strategy<Value = (u32, u32, u32)> {
    (
        prop::sample::select(vec![
            CommandId::ENQUIRE_LINK.0,
            CommandId::ENQUIRE_LINK_RESP.0,
            CommandId::UNBIND.0,
            CommandId::UNBIND_RESP.0,
            CommandId::GENERIC_NACK.0,
        ]),
        sequence_number(),
        any::<u32>(),
    )
        .prop_map(|(id, seq, status)| {
            let status = if id == CommandId::GENERIC_NACK.0 {
                status
            } else {
                0
            };
            (id, seq, status)
        })
}

fn our_header_only(id: u32) -> Pdu {
    match CommandId(id) {
        CommandId::ENQUIRE_LINK => Pdu::EnquireLink,
        CommandId::ENQUIRE_LINK_RESP => Pdu::EnquireLinkResp,
        CommandId::UNBIND => Pdu::Unbind,
        CommandId::UNBIND_RESP => Pdu::UnbindResp,
        _ => Pdu::GenericNack,
    }
}

fn rusmpp_header_only(id: u32) -> rusmpp::Pdu {
    match CommandId(id) {
        CommandId::ENQUIRE_LINK => rusmpp::Pdu::EnquireLink,
        CommandId::ENQUIRE_LINK_RESP => rusmpp::Pdu::EnquireLinkResp,
        CommandId::UNBIND => rusmpp::Pdu::Unbind,
        CommandId::UNBIND_RESP => rusmpp::Pdu::UnbindResp,
        _ => rusmpp::Pdu::GenericNack,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn submit_sm_agrees(case in submit_sm()) {
        check_sm(&case);
    }

    #[test]
    fn plain_deliver_sm_agrees(case in plain_deliver_sm()) {
        check_sm(&case);
    }

    #[test]
    fn receipt_deliver_sm_agrees(case in receipt_deliver_sm()) {
        check_sm(&case);
    }

    #[test]
    fn submit_sm_resp_agrees(case in submit_sm_resp()) {
        let ours_bytes = ours_encode(&case.ours());
        let theirs_bytes = rusmpp_encode(&case.rusmpp());
        prop_assert_eq!(submit_resp_of_rusmpp(&rusmpp_decode(&ours_bytes)), case.expected());
        prop_assert_eq!(submit_resp_of_ours(&ours_decode(&theirs_bytes)), case.expected());
        prop_assert_eq!(ours_bytes, theirs_bytes);
    }

    #[test]
    fn bind_agrees(view in bind()) {
        let ours_bytes = ours_encode(&view.ours());
        let theirs_bytes = rusmpp_encode(&view.rusmpp());
        prop_assert_eq!(BindView::of_rusmpp(&rusmpp_decode(&ours_bytes)), view.clone());
        prop_assert_eq!(BindView::of_ours(&ours_decode(&theirs_bytes)), view);
        prop_assert_eq!(ours_bytes, theirs_bytes);
    }

    #[test]
    fn bind_resp_agrees(view in bind_resp()) {
        let ours_bytes = ours_encode(&view.ours());
        let theirs_bytes = rusmpp_encode(&view.rusmpp());
        prop_assert_eq!(BindRespView::of_rusmpp(&rusmpp_decode(&ours_bytes)), view.clone());
        prop_assert_eq!(BindRespView::of_ours(&ours_decode(&theirs_bytes)), view);
        prop_assert_eq!(ours_bytes, theirs_bytes);
    }

    #[test]
    fn header_only_agrees((id, seq, status) in header_only()) {
        let ours = Command { status: CommandStatus(status), sequence_number: seq, pdu: our_header_only(id) };
        let theirs = rusmpp::Command::new(rusmpp::CommandStatus::from(status), seq, rusmpp_header_only(id));
        let ours_bytes = ours_encode(&ours);
        let theirs_bytes = rusmpp_encode(&theirs);
        prop_assert_eq!(ours_bytes.len(), 16);

        let r = rusmpp_decode(&ours_bytes);
        prop_assert_eq!(u32::from(r.id()), id);
        prop_assert_eq!(u32::from(r.status()), status);
        prop_assert_eq!(r.sequence_number(), seq);
        prop_assert_eq!(r.pdu(), Some(&rusmpp_header_only(id)));

        prop_assert_eq!(ours_decode(&theirs_bytes), ours);
        prop_assert_eq!(ours_bytes, theirs_bytes);
    }
}

/// The 127-octet OTP `submit_sm` of the benchmark, checked once with hand-picked values.
#[test]
fn otp_submit_sm_is_byte_identical() {
    let mut text = b"Your verification code is 482910. Do not share this code.".to_vec();
    text.resize(127 - 50, b' ');
    let case = SmCase {
        deliver: false,
        fields: SmView {
            sequence_number: 1,
            service_type: Vec::new(),
            source: (5, 0, b"MyBank".to_vec()),
            dest: (1, 1, b"14155551234".to_vec()),
            esm_class: 0,
            protocol_id: 0,
            priority_flag: 0,
            schedule_delivery_time: Vec::new(),
            validity_period: Vec::new(),
            registered_delivery: 1,
            replace_if_present_flag: 0,
            data_coding: 0,
            sm_default_msg_id: 0,
            short_message: text,
            tlvs: Vec::new(),
        },
        tlvs: Vec::new(),
    };
    check_sm(&case);
    assert_eq!(ours_encode(&case.ours()).len(), 127);
}

/// A known difference, not a bug on either side: an error `submit_sm_resp` without a message id.
/// v3.4 sends no body when `command_status ≠ 0`; we encode it header-only,
/// rusmpp always writes the body (one NUL for the empty id). Each decodes the other's form.
#[test]
fn error_submit_sm_resp_framing_differs() {
    let ours = Command {
        status: CommandStatus::RSUBMITFAIL,
        sequence_number: 9,
        pdu: Pdu::SubmitSmResp(SmResp::default()),
    };
    let theirs = rusmpp::Command::new(
        rusmpp::CommandStatus::from(CommandStatus::RSUBMITFAIL.0),
        9,
        rp::SubmitSmResp::new(COctetString::empty(), Vec::new()),
    );
    let ours_bytes = ours_encode(&ours);
    let theirs_bytes = rusmpp_encode(&theirs);
    assert_eq!(ours_bytes.len(), 16);
    assert_eq!(theirs_bytes.len(), 17);
    assert_eq!(ours_decode(&theirs_bytes), ours);
    let r = rusmpp_decode(&ours_bytes);
    assert_eq!(u32::from(r.status()), CommandStatus::RSUBMITFAIL.0);
    assert_eq!(r.pdu(), None);
}

// ---------------------------------------------------------------------------------------------
// Inputs the two libraries treat differently. Each case pins both behaviours down; the comment
// says which side the reference (`smpp.md`) supports.
// ---------------------------------------------------------------------------------------------

/// What rusmpp made of a frame.
#[derive(Debug, PartialEq, Eq)]
enum Theirs {
    /// Decoded, every octet of the frame used.
    Whole,
    /// Decoded, but this many octets of the frame were left unread. Its tokio codec does not skip
    /// them (rusmpp-core 0.4.0 `tokio_codec/mod.rs`), so they become the start of the next frame.
    LeavesUnread(usize),
    /// Refused.
    Rejected,
}

fn theirs(frame: &[u8]) -> Theirs {
    let mut buf = BytesMut::from(&frame[4..]);
    let len = buf.len();
    match <rusmpp::Command as DecodeWithLength>::decode(&mut buf, len) {
        Ok((_, used)) if used == len => Theirs::Whole,
        Ok((_, used)) => Theirs::LeavesUnread(len - used),
        Err(_) => Theirs::Rejected,
    }
}

fn frame(id: CommandId, status: u32, body: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(16 + body.len());
    f.extend_from_slice(&((16 + body.len()) as u32).to_be_bytes());
    f.extend_from_slice(&id.0.to_be_bytes());
    f.extend_from_slice(&status.to_be_bytes());
    f.extend_from_slice(&7u32.to_be_bytes());
    f.extend_from_slice(body);
    f
}

/// A `submit_sm`/`deliver_sm` body: source TON 5, destination TON 1, registered_delivery 1.
fn sm_body(src: &[u8], dst: &[u8], schedule: &[u8], sm: &[u8], tail: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8, 5, 0];
    b.extend_from_slice(src);
    b.extend_from_slice(&[0, 1, 1]);
    b.extend_from_slice(dst);
    b.extend_from_slice(&[0, 0, 0, 0]);
    b.extend_from_slice(schedule);
    b.extend_from_slice(&[0, 0, 1, 0, 0, 0, sm.len() as u8]);
    b.extend_from_slice(sm);
    b.extend_from_slice(tail);
    b
}

#[test]
fn known_disagreements() {
    let data_sm_long_dest = {
        let mut b = b"\0\x01\x0144770090012\0\x01\x01".to_vec();
        b.extend_from_slice(&[b'1'; 30]);
        b.extend_from_slice(&[0, 0, 1, 0]);
        b
    };
    let cancel_sm_long_dest = {
        let mut b = b"\0m1\0\x01\x01447\0\x01\x01".to_vec();
        b.extend_from_slice(&[b'1'; 30]);
        b.push(0);
        b
    };
    let data_sm_telematics_int1 = {
        let mut b = b"\0\x01\x01447\0\x01\x011415\0\0\x01\0".to_vec();
        b.extend_from_slice(&[0x00, 0x10, 0x00, 0x01, 0x05]); // source_telematics_id, Int1
        b.extend_from_slice(&[0x02, 0x04, 0x00, 0x02, 0x00, 0x07]); // user_message_reference
        b
    };
    let submit_multi_no_dests = b"\0\x01\x01447\0\0\0\0\0\0\0\x01\0\0\0\x02hi".to_vec();
    // receipted_message_id "abc" without its NUL, then message_state 2.
    let receipt_no_nul = [
        0x00, 0x1E, 0x00, 0x03, b'a', b'b', b'c', 0x04, 0x27, 0x00, 0x01, 0x02,
    ];
    // sc_interface_version then congestion_state (v5: any response may carry it).
    let bind_resp_two_tlvs = [
        b'm', b'c', 0, 0x02, 0x10, 0x00, 0x01, 0x50, 0x04, 0x28, 0x00, 0x01, 0x10,
    ];

    #[rustfmt::skip]
    let cases: Vec<(&str, Vec<u8>, bool, Theirs)> = vec![
        // The spec says C-octet strings are ASCII: rusmpp keeps to the letter; we accept 8-bit octets from real peers.
        ("Latin-1 octet in source_addr",
         frame(CommandId::SUBMIT_SM, 0, &sm_body(b"Caf\xe9", b"1415", b"", b"hi", b"")), true, Theirs::Rejected),
        // data_sm addresses are COS(65) ("Rusmpp caps this at 21. Accept 65"). We are right.
        ("data_sm destination_addr of 30 digits", frame(CommandId::DATA_SM, 0, &data_sm_long_dest), true, Theirs::Rejected),
        // Accept cancel_sm destination_addr up to 65 (Kannel). We are right.
        ("cancel_sm destination_addr of 30 digits", frame(CommandId::CANCEL_SM, 0, &cancel_sm_long_dest), true, Theirs::Rejected),
        // Accept C-string TLVs with or without the NUL. We are right; rusmpp reads past
        // the TLV looking for a NUL and fails the whole receipt.
        ("receipted_message_id without its NUL",
         frame(CommandId::DELIVER_SM, 0, &sm_body(b"1415", b"MyBank", b"", b"id:abc", &receipt_no_nul)), true, Theirs::Rejected),
        // source_telematics_id is Int1 in v3.4, rusmpp reads Int2; accept 1 or 2. We are right.
        ("source_telematics_id as Int1", frame(CommandId::DATA_SM, 0, &data_sm_telematics_int1), true, Theirs::Rejected),
        // A TLV of the wrong length may be dropped (Kannel) or the PDU refused with 0xC2; we
        // keep it raw (the typed accessor gives None), rusmpp misreads the TLV stream.
        ("message_state of 2 octets",
         frame(CommandId::DELIVER_SM, 0, &sm_body(b"1415", b"MyBank", b"", b"x", &[0x04, 0x27, 0x00, 0x02, 0x00, 0x02])), true, Theirs::Rejected),
        // (Jasmin #218) Clients append a NUL after short_message. We tolerate up to 3 stray
        // octets after the TLVs, rusmpp refuses the PDU.
        ("NUL after short_message",
         frame(CommandId::SUBMIT_SM, 0, &sm_body(b"MyBank", b"1415", b"", b"hello", &[0])), true, Theirs::Rejected),
        ("two stray octets after the TLVs",
         frame(CommandId::SUBMIT_SM, 0, &sm_body(b"MyBank", b"1415", b"", b"hi", &[0x02, 0x04, 0x00, 0x02, 0x00, 0x07, 0, 0])), true, Theirs::Rejected),
        // A 12-character time must be answered ESME_RINVSCHED (or allowed per client). We keep
        // the raw value for that check; rusmpp fails decoding, so it cannot say which field.
        ("12-character schedule_delivery_time",
         frame(CommandId::SUBMIT_SM, 0, &sm_body(b"MyBank", b"1415", b"250315143000", b"hi", b"")), true, Theirs::Rejected),
        // Parse responses leniently. We are right.
        ("submit_sm_resp message_id without NUL", frame(CommandId::SUBMIT_SM_RESP, 0, b"abc"), true, Theirs::Rejected),
        ("submit_multi_resp without no_unsuccess", frame(CommandId::SUBMIT_MULTI_RESP, 0, b"m1\0"), true, Theirs::Rejected),
        // Not in the reference; we accept a last C-string without its NUL.
        ("bind address_range without NUL",
         frame(CommandId::BIND_TRANSMITTER, 0, b"acme\0pw\0\0\x34\0\0^44"), true, Theirs::Rejected),
        ("outbind password without NUL", frame(CommandId::OUTBIND, 0, b"mc\0pw"), true, Theirs::Rejected),
        // In v5.0 any response may carry TLVs. rusmpp's bind_*_resp holds one TLV and leaves the
        // rest of the frame unread. We are right.
        ("bind_transmitter_resp with two TLVs", frame(CommandId::BIND_TRANSMITTER_RESP, 0, &bind_resp_two_tlvs), true, Theirs::LeavesUnread(5)),
        // Header-only PDUs with a stray body: both accept; rusmpp leaves the body unread.
        ("enquire_link with a stray body", frame(CommandId::ENQUIRE_LINK, 0, &[0, 0]), true, Theirs::LeavesUnread(2)),
        ("generic_nack with a stray body", frame(CommandId::GENERIC_NACK, 3, &[0, 0]), true, Theirs::LeavesUnread(2)),
        // number_of_dests is 1–254. We answer ESME_RINVNUMDESTS; rusmpp accepts 0.
        ("submit_multi with 0 destinations", frame(CommandId::SUBMIT_MULTI, 0, &submit_multi_no_dests), false, Theirs::Whole),
        // A response TLV whose length runs past the PDU: we drop the TLV area (a response is never
        // answered); rusmpp keeps a TLV whose declared length (5) exceeds its value (1 octet).
        ("submit_sm_resp TLV overrunning the PDU", frame(CommandId::SUBMIT_SM_RESP, 0, b"m1\0\x04\x25\x00\x05\x01"), true, Theirs::Whole),
    ];
    for (name, f, ours_ok, expected) in cases {
        let ours = Command::decode(Bytes::from(f.clone()));
        assert_eq!(ours.is_ok(), ours_ok, "{name}: ours gave {ours:?}");
        assert_eq!(theirs(&f), expected, "{name}: rusmpp");
    }

    // The receipt without NUL still reads right on our side.
    let f = frame(
        CommandId::DELIVER_SM,
        0,
        &sm_body(b"1415", b"MyBank", b"", b"id:abc", &receipt_no_nul),
    );
    let Pdu::DeliverSm(sm) = Command::decode(Bytes::from(f)).unwrap().pdu else {
        panic!("not a deliver_sm");
    };
    assert_eq!(sm.tlvs.receipted_message_id(), Some(&b"abc"[..]));
    assert_eq!(sm.tlvs.message_state().map(|s| s.0), Some(2));
}

/// `callback_num_pres_ind` is `0000ppss` — presentation in bits 3–2, screening in bits 1–0.
/// rusmpp puts them the other way round. We relay the octet untouched and do not interpret it.
#[test]
fn rusmpp_callback_num_pres_ind_bits_are_swapped() {
    let restricted_not_screened = rv::CallbackNumPresInd::new(
        rv::Presentation::PresentationRestricted,
        rv::Screening::NotScreened,
    );
    let spec = 0b0000_0100u8; // pp = 01 (restricted), ss = 00 (not screened)
    assert_eq!(u8::from(restricted_not_screened), 0b0000_0001);
    assert_ne!(u8::from(restricted_not_screened), spec);
}
