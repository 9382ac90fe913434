//! Codec tests: hand-checked encodings, a round trip for every PDU, and the lenient cases real
//! peers need.

use bytes::Bytes;

use super::*;
use crate::short::ShortStr;
use crate::tlv::{Tlvs, TlvsBuilder, tag};
use crate::values::{EsmClass, RegisteredDelivery};

fn otp_submit() -> Sm {
    Sm {
        source: Address::new(5, 0, "MyBank"),
        dest: Address::new(1, 1, "14155551234"),
        registered_delivery: RegisteredDelivery(1),
        short_message: Bytes::from_static(b"482910"),
        ..Sm::default()
    }
}

#[test]
fn bind_transmitter_byte_exact() {
    let cmd = Command::new(
        1,
        Pdu::BindTransmitter(Bind {
            system_id: "ab".into(),
            password: "pw".into(),
            interface_version: 0x34,
            ..Bind::default()
        }),
    );
    let expected: &[u8] = &[
        0, 0, 0, 27, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, // header
        b'a', b'b', 0, b'p', b'w', 0, 0, 0x34, 0, 0, 0,
    ];
    assert_eq!(&cmd.to_bytes().unwrap()[..], expected);
    assert_eq!(Command::decode(Bytes::from_static(expected)).unwrap(), cmd);
}

#[test]
fn submit_sm_byte_exact() {
    let cmd = Command::new(7, Pdu::SubmitSm(otp_submit()));
    let mut expected = vec![0, 0, 0, 56, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 7];
    expected.push(0); // service_type
    expected.extend_from_slice(b"\x05\x00MyBank\0");
    expected.extend_from_slice(b"\x01\x0114155551234\0");
    expected.extend_from_slice(&[0, 0, 0]); // esm_class, protocol_id, priority_flag
    expected.extend_from_slice(&[0, 0]); // schedule, validity
    expected.extend_from_slice(&[1, 0, 0, 0, 6]); // regdel, replace, dcs, default id, sm_length
    expected.extend_from_slice(b"482910");
    assert_eq!(&cmd.to_bytes().unwrap()[..], &expected[..]);
    assert_eq!(Command::decode(Bytes::from(expected)).unwrap(), cmd);
}

#[test]
fn error_responses_go_header_only_and_parse_either_way() {
    let resp = Command {
        status: CommandStatus::RSUBMITFAIL,
        sequence_number: 3,
        pdu: Pdu::SubmitSmResp(SmResp::default()),
    };
    let bytes = resp.to_bytes().unwrap();
    assert_eq!(bytes.len(), 16);
    assert_eq!(Command::decode(bytes).unwrap(), resp);
    // A carrier that sends a body with the error (smppex #6): accepted, id kept.
    let with_body: &[u8] = &[
        0, 0, 0, 20, 0x80, 0, 0, 4, 0, 0, 0, 0x0B, 0, 0, 0, 3, b'x', b'y', b'z', 0,
    ];
    let c = Command::decode(Bytes::from_static(with_body)).unwrap();
    assert_eq!(c.status, CommandStatus::RINVDSTADR);
    assert_eq!(c.pdu, Pdu::SubmitSmResp(SmResp::new("xyz")));
    // bind_transceiver_resp error without body (smpp.pdu PR #6).
    let bind: &[u8] = &[0, 0, 0, 16, 0x80, 0, 0, 9, 0, 0, 0, 0x0E, 0, 0, 0, 1];
    let c = Command::decode(Bytes::from_static(bind)).unwrap();
    assert_eq!(c.pdu, Pdu::BindTransceiverResp(BindResp::default()));
}

#[test]
fn deliver_sm_resp_id_ignored_in_and_empty_out() {
    let with_id: &[u8] = &[
        0, 0, 0, 19, 0x80, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 9, b'4', b'2', 0,
    ];
    let c = Command::decode(Bytes::from_static(with_id)).unwrap();
    let out = Command::new(9, c.pdu).to_bytes().unwrap();
    assert_eq!(
        &out[..],
        &[0, 0, 0, 17, 0x80, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 9, 0]
    );
}

#[test]
fn at_sign_inside_short_message_survives() {
    let mut sm = otp_submit();
    sm.short_message = Bytes::from_static(b"code\x00is\x00 1234");
    let cmd = Command::new(1, Pdu::SubmitSm(sm.clone()));
    let back = Command::decode(cmd.to_bytes().unwrap()).unwrap();
    assert_eq!(back.pdu, Pdu::SubmitSm(sm));
}

#[test]
fn stray_trailing_octets_are_tolerated() {
    let mut bytes = Command::new(1, Pdu::SubmitSm(otp_submit()))
        .to_bytes()
        .unwrap()
        .to_vec();
    bytes.push(0); // python-smpp PR #7: a NUL after short_message
    let len = bytes.len() as u32;
    bytes[..4].copy_from_slice(&len.to_be_bytes());
    let c = Command::decode(Bytes::from(bytes)).unwrap();
    assert_eq!(c.pdu, Pdu::SubmitSm(otp_submit()));
}

#[test]
fn eight_bit_octets_in_c_strings_are_accepted() {
    let mut sm = otp_submit();
    sm.source = Address::new(5, 0, Bytes::from_static(b"Caf\xe9"));
    let c = Command::decode(
        Command::new(1, Pdu::SubmitSm(sm.clone()))
            .to_bytes()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(c.pdu, Pdu::SubmitSm(sm));
}

#[test]
fn bad_bodies_carry_header_and_specific_status() {
    let cases: &[(&[u8], CommandStatus)] = &[
        // submit_sm whose destination has no NUL within 21 octets
        (
            b"\0\x05\x00MyBank\0\x01\x01123456789012345678901234567890",
            CommandStatus::RINVDSTADR,
        ),
        // sm_length says 10, only 3 octets follow
        (
            b"\0\x05\x00A\0\x01\x011\0\0\0\0\0\0\0\0\0\0\x0aabc",
            CommandStatus::RINVMSGLEN,
        ),
        // body ends in the middle of the mandatory fields
        (b"\0\x05\x00A\0\x01", CommandStatus::RINVCMDLEN),
        // a TLV that runs past the end
        (
            b"\0\x05\x00A\0\x01\x011\0\0\0\0\0\0\0\0\0\0\x00\x04\x24\x00\x10ab",
            CommandStatus::RINVTLVSTREAM,
        ),
    ];
    for (body, status) in cases {
        let mut frame = vec![0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0x12, 0x34];
        frame.extend_from_slice(body);
        let len = frame.len() as u32;
        frame[..4].copy_from_slice(&len.to_be_bytes());
        let e = Command::decode(Bytes::from(frame)).unwrap_err();
        assert_eq!(e.status, *status, "{}", e.reason);
        assert_eq!(e.header.sequence_number, 0x1234);
        assert_eq!(e.header.command_id, CommandId::SUBMIT_SM);
        let answer = error_response(e.header.command_id, 0x1234, e.status).unwrap();
        assert_eq!(answer.command_id(), CommandId::SUBMIT_SM_RESP);
    }
}

#[test]
fn unknown_ids_decode_raw_and_get_generic_nack() {
    let frame: &[u8] = &[0, 0, 0, 18, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0xAA, 0xBB];
    let c = Command::decode(Bytes::from_static(frame)).unwrap();
    assert_eq!(
        c.pdu,
        Pdu::Other {
            command_id: CommandId(0x0001_0200),
            body: Bytes::from_static(&[0xAA, 0xBB])
        }
    );
    assert_eq!(&c.to_bytes().unwrap()[..], frame);
    let nack = error_response(CommandId(0x0001_0200), 5, CommandStatus::RINVCMDID).unwrap();
    assert_eq!(nack.pdu, Pdu::GenericNack);
    assert_eq!(
        error_response(CommandId(0x8001_0200), 5, CommandStatus::RINVCMDID),
        None
    );
    assert_eq!(
        error_response(CommandId::GENERIC_NACK, 5, CommandStatus::RINVCMDID),
        None
    );
    assert_eq!(
        error_response(CommandId::ALERT_NOTIFICATION, 5, CommandStatus::RINVCMDID),
        None
    );
}

#[test]
fn strict_encoding_refuses_over_long_fields() {
    let mut sm = otp_submit();
    sm.dest.addr = b"123456789012345678901".into();
    assert!(Command::new(1, Pdu::SubmitSm(sm)).to_bytes().is_err());
    let bind = Bind {
        password: "123456789".into(),
        ..Bind::default()
    };
    assert!(
        Command::new(1, Pdu::BindTransceiver(bind))
            .to_bytes()
            .is_err()
    );
}

fn every_pdu() -> Vec<Pdu> {
    let mut tlvs = TlvsBuilder::new();
    tlvs.push_cstr(tag::RECEIPTED_MESSAGE_ID, b"abc")
        .push_u8(tag::MESSAGE_STATE, 2)
        .push(0x1400, b"vendor");
    let tlvs = tlvs.build();
    let bind = Bind {
        system_id: "acme".into(),
        password: "secret".into(),
        system_type: "OTP".into(),
        interface_version: 0x50,
        addr_ton: 1,
        addr_npi: 1,
        address_range: "^44".into(),
    };
    let bind_resp = BindResp {
        system_id: "router".into(),
        tlvs: TlvsBuilder::new()
            .push_u8(tag::SC_INTERFACE_VERSION, 0x34)
            .build(),
    };
    let sm = Sm {
        service_type: ShortStr::new(b"CMT").unwrap(),
        esm_class: EsmClass(0x40),
        protocol_id: 1,
        priority_flag: 2,
        schedule_delivery_time: ShortStr::new(b"250315143000004+").unwrap(),
        validity_period: ShortStr::new(b"000001120000000R").unwrap(),
        replace_if_present_flag: 1,
        data_coding: 8,
        sm_default_msg_id: 3,
        tlvs: tlvs.clone(),
        ..otp_submit()
    };
    let resp = SmResp {
        message_id: "0123456789abcdef".into(),
        tlvs: TlvsBuilder::new()
            .push_u8(tag::CONGESTION_STATE, 85)
            .build(),
    };
    let src = Address::new(1, 1, "447700900123");
    vec![
        Pdu::BindReceiver(bind.clone()),
        Pdu::BindTransmitter(bind.clone()),
        Pdu::BindTransceiver(bind),
        Pdu::BindReceiverResp(bind_resp.clone()),
        Pdu::BindTransmitterResp(bind_resp.clone()),
        Pdu::BindTransceiverResp(bind_resp),
        Pdu::Outbind(Outbind {
            system_id: "mc".into(),
            password: "pw".into(),
        }),
        Pdu::QuerySm(QuerySm {
            message_id: "m1".into(),
            source: src.clone(),
        }),
        Pdu::QuerySmResp(QuerySmResp {
            message_id: "m1".into(),
            final_date: "250315143000004+".into(),
            message_state: crate::values::MessageState::DELIVERED,
            error_code: 0,
        }),
        Pdu::SubmitSm(sm.clone()),
        Pdu::SubmitSmResp(resp.clone()),
        Pdu::DeliverSm(sm.clone()),
        Pdu::DeliverSmResp(SmResp {
            message_id: Bytes::new(),
            tlvs: TlvsBuilder::new()
                .push_u8(tag::DELIVERY_FAILURE_REASON, 1)
                .build(),
        }),
        Pdu::ReplaceSm(Box::new(ReplaceSm {
            message_id: "m1".into(),
            source: src.clone(),
            schedule_delivery_time: Bytes::new(),
            validity_period: "000001120000000R".into(),
            registered_delivery: RegisteredDelivery(1),
            sm_default_msg_id: 0,
            short_message: "new".into(),
            tlvs: Tlvs::new(),
        })),
        Pdu::CancelSm(CancelSm {
            service_type: Bytes::new(),
            message_id: "m1".into(),
            source: src.clone(),
            dest: Address::new(1, 1, "14155551234"),
        }),
        Pdu::SubmitMulti(Box::new(SubmitMulti {
            source: src.clone(),
            dests: vec![
                Dest::Sme(Address::new(1, 1, "14155551234")),
                Dest::List("friends".into()),
            ],
            short_message: "hello".into(),
            tlvs: tlvs.clone(),
            ..SubmitMulti::default()
        })),
        Pdu::SubmitMultiResp(SubmitMultiResp {
            message_id: "m2".into(),
            unsuccess: vec![Unsuccess {
                dest: Address::new(1, 1, "14155551234"),
                error_status_code: CommandStatus::RINVDSTADR,
            }],
            tlvs: Tlvs::new(),
        }),
        Pdu::AlertNotification(AlertNotification {
            source: src.clone(),
            esme: Address::new(0, 0, "esme"),
            tlvs: TlvsBuilder::new()
                .push_u8(tag::MS_AVAILABILITY_STATUS, 0)
                .build(),
        }),
        Pdu::DataSm(DataSm {
            service_type: "WAP".into(),
            source: src.clone(),
            dest: Address::new(1, 1, "1".repeat(60)),
            esm_class: EsmClass(0),
            registered_delivery: RegisteredDelivery(1),
            data_coding: 4,
            tlvs: TlvsBuilder::new()
                .push(tag::MESSAGE_PAYLOAD, &[0u8; 300])
                .build(),
        }),
        Pdu::DataSmResp(resp.clone()),
        Pdu::BroadcastSm(Box::new(BroadcastSm {
            message_id: Bytes::new(),
            source: src.clone(),
            tlvs: TlvsBuilder::new().push(0x0606, b"\x00area").build(),
            ..BroadcastSm::default()
        })),
        Pdu::BroadcastSmResp(resp.clone()),
        Pdu::QueryBroadcastSm(QueryBroadcastSm {
            message_id: "b1".into(),
            source: src.clone(),
            tlvs: Tlvs::new(),
        }),
        Pdu::QueryBroadcastSmResp(resp),
        Pdu::CancelBroadcastSm(CancelBroadcastSm {
            service_type: Bytes::new(),
            message_id: "b1".into(),
            source: src,
            tlvs: Tlvs::new(),
        }),
        Pdu::GenericNack,
        Pdu::Unbind,
        Pdu::UnbindResp,
        Pdu::ReplaceSmResp,
        Pdu::CancelSmResp,
        Pdu::EnquireLink,
        Pdu::EnquireLinkResp,
        Pdu::CancelBroadcastSmResp,
        Pdu::Other {
            command_id: CommandId(0x0001_0201),
            body: Bytes::from_static(b"vendor body"),
        },
    ]
}

#[test]
fn every_pdu_round_trips() {
    let all = every_pdu();
    assert_eq!(all.len(), 34); // 25 with a body, 8 header-only, 1 unknown
    for (i, pdu) in all.into_iter().enumerate() {
        let cmd = Command {
            status: CommandStatus::ROK,
            sequence_number: 0x7FFF_FFF0 + i as u32,
            pdu,
        };
        let bytes = cmd.to_bytes().unwrap();
        assert_eq!(
            bytes.len() as u32,
            u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
        );
        let back = Command::decode(bytes.clone()).unwrap();
        assert_eq!(back, cmd, "{}", cmd.command_id());
        assert_eq!(back.to_bytes().unwrap(), bytes);
    }
}

#[test]
fn length_mismatch_is_reported() {
    let mut bytes = Command::new(1, Pdu::EnquireLink)
        .to_bytes()
        .unwrap()
        .to_vec();
    bytes.extend_from_slice(&[0, 0]);
    let e = Command::decode(Bytes::from(bytes)).unwrap_err();
    assert_eq!(e.status, CommandStatus::RINVCMDLEN);
    assert!(Command::decode(Bytes::from_static(&[0, 0, 0])).is_err());
}

#[test]
fn header_only_pdus_ignore_a_stray_body() {
    let frame: &[u8] = &[0, 0, 0, 18, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0];
    let c = Command::decode(Bytes::from_static(frame)).unwrap();
    assert_eq!(c.pdu, Pdu::EnquireLink);
}
