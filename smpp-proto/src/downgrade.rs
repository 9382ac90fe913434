//! A `submit_sm` for a v3.3 peer, which takes no TLVs (the session drops them all):
//! what the TLVs carry moves into the fields first — a `message_payload` into
//! `short_message`, the SAR triple into a user data header with a 16-bit reference.

use bytes::{BufMut, Bytes, BytesMut};

use super::pdu::Sm;
use super::tlv::tag;
use super::values::EsmClass;

/// The most octets `short_message` carries.
pub const SHORT_MESSAGE_MAX: usize = 254;

/// Why a message cannot go to a v3.3 peer as it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{len} octets do not fit in short_message ({SHORT_MESSAGE_MAX} at most) for a v3.3 peer")]
pub struct TooLong {
    /// The octets `short_message` would need.
    pub len: usize,
}

/// Moves `sm`'s payload and SAR into `short_message` and a user data header; on an error `sm`
/// is left as it was.
pub fn to_v33(sm: &mut Sm) -> Result<(), TooLong> {
    let sar = sm.tlvs.sar().filter(|_| !sm.esm_class.has_udhi());
    let payload = sm
        .tlvs
        .message_payload()
        .filter(|_| sm.short_message.is_empty())
        .map(Bytes::copy_from_slice);
    if sar.is_none() && payload.is_none() {
        return Ok(());
    }
    let text = payload.unwrap_or_else(|| sm.short_message.clone());
    let udh_len = if sar.is_some() { 7 } else { 0 };
    let len = udh_len + text.len();
    if len > SHORT_MESSAGE_MAX {
        return Err(TooLong { len });
    }
    let mut out = BytesMut::with_capacity(len);
    if let Some(s) = sar {
        // UDH length 6; element 0x08 (16-bit reference), length 4: reference, total, number.
        out.put_slice(&[6, 0x08, 4]);
        out.put_u16(s.reference);
        out.put_slice(&[s.total, s.seqnum]);
        sm.esm_class = EsmClass(sm.esm_class.0 | EsmClass::UDHI);
    }
    out.put_slice(&text);
    sm.short_message = out.freeze();
    sm.tlvs = sm
        .tlvs
        .to_builder()
        .remove(tag::MESSAGE_PAYLOAD)
        .remove(tag::SAR_MSG_REF_NUM)
        .remove(tag::SAR_TOTAL_SEGMENTS)
        .remove(tag::SAR_SEGMENT_SEQNUM)
        .build();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::concat::part_of;
    use crate::tlv::TlvsBuilder;

    #[test]
    fn a_payload_moves_into_short_message() {
        let sm = Sm {
            tlvs: TlvsBuilder::new()
                .push(tag::MESSAGE_PAYLOAD, &[b'a'; 200])
                .build(),
            ..Sm::default()
        };
        let mut out = sm;
        to_v33(&mut out).unwrap();
        assert_eq!(out.short_message.as_ref(), &[b'a'; 200][..]);
        assert!(out.tlvs.message_payload().is_none());
        let long = Sm {
            tlvs: TlvsBuilder::new()
                .push(tag::MESSAGE_PAYLOAD, &[b'a'; 300])
                .build(),
            ..Sm::default()
        };
        let mut same = long.clone();
        assert_eq!(to_v33(&mut same), Err(TooLong { len: 300 }));
        assert_eq!(same, long, "left as it was");
    }

    #[test]
    fn sar_becomes_a_user_data_header() {
        let sm = Sm {
            short_message: Bytes::from_static(b"second half"),
            tlvs: TlvsBuilder::new()
                .push_u16(tag::SAR_MSG_REF_NUM, 0x1234)
                .push_u8(tag::SAR_TOTAL_SEGMENTS, 2)
                .push_u8(tag::SAR_SEGMENT_SEQNUM, 2)
                .build(),
            ..Sm::default()
        };
        let mut out = sm;
        to_v33(&mut out).unwrap();
        assert!(out.esm_class.has_udhi());
        assert_eq!(&out.short_message[..7], &[6, 0x08, 4, 0x12, 0x34, 2, 2]);
        assert_eq!(&out.short_message[7..], b"second half");
        assert!(out.tlvs.sar().is_none());
        let p = part_of(&out).unwrap();
        assert_eq!((p.reference, p.total, p.seqnum), (0x1234, 2, 2));
    }

    #[test]
    fn a_plain_message_is_left_alone() {
        let sm = Sm {
            short_message: Bytes::from_static(b"Your code is 1234"),
            ..Sm::default()
        };
        let mut out = sm.clone();
        to_v33(&mut out).unwrap();
        assert_eq!(out, sm);
    }
}
