//! Parts of a concatenated message: a `submit_sm` that is one part of a longer
//! message, marked by a user data header (information element 0x00 with an 8-bit reference, or
//! 0x08 with a 16-bit one) or by the SAR TLVs.

use super::pdu::Sm;
use super::tlv::Sar;

/// The user data of `sm` without its user data header, when `esm_class` says it has one (the
/// text of a part); empty when the header claims more octets than there are.
pub fn without_udh(sm: &Sm) -> &[u8] {
    let data = sm.payload();
    if !sm.esm_class.has_udhi() {
        return data;
    }
    match data.first() {
        Some(&len) => data.get(1 + usize::from(len)..).unwrap_or_default(),
        None => data,
    }
}

/// The part `sm` is — its group's reference, the number of parts and its own number — or `None`
/// when it is a whole message.
pub fn part_of(sm: &Sm) -> Option<Sar> {
    if !sm.esm_class.has_udhi() {
        return sm.tlvs.sar();
    }
    let udh = sm.short_message.as_ref();
    let len = usize::from(*udh.first()?);
    let mut ies = udh.get(1..1 + len)?;
    let mut found = None;
    while let [iei, l, rest @ ..] = ies {
        let l = usize::from(*l);
        let data = rest.get(..l)?;
        match (iei, data) {
            (0x00, &[r, total, seqnum]) => {
                found = Some(Sar {
                    reference: u16::from(r),
                    total,
                    seqnum,
                })
            }
            (0x08, &[hi, lo, total, seqnum]) => {
                found = Some(Sar {
                    reference: u16::from_be_bytes([hi, lo]),
                    total,
                    seqnum,
                })
            }
            _ => {}
        }
        ies = rest.get(l..)?;
    }
    found.or_else(|| sm.tlvs.sar())
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::tlv::{TlvsBuilder, tag};
    use crate::values::EsmClass;

    fn with_udh(udh: &[u8]) -> Sm {
        let mut payload = udh.to_vec();
        payload.extend_from_slice(b"text");
        Sm {
            esm_class: EsmClass(0x40),
            short_message: Bytes::from(payload),
            ..Sm::default()
        }
    }

    #[test]
    fn a_parts_text_follows_its_header() {
        assert_eq!(without_udh(&with_udh(&[5, 0x00, 3, 0xA7, 2, 1])), b"text");
        assert_eq!(
            without_udh(&with_udh(&[6, 0x08, 4, 0x12, 0x34, 3, 2])),
            b"text"
        );
        // A header longer than the data: no text rather than header bytes as text.
        assert_eq!(without_udh(&with_udh(&[40, 0x00])), b"");
        let plain = Sm {
            short_message: Bytes::from_static(b"\x05hello"),
            ..Sm::default()
        };
        assert_eq!(without_udh(&plain), b"\x05hello", "no UDHI, no header");
    }

    #[test]
    fn reads_udh_and_sar_parts() {
        let p = part_of(&with_udh(&[5, 0x00, 3, 0xA7, 2, 1])).unwrap();
        assert_eq!((p.reference, p.total, p.seqnum), (0xA7, 2, 1));
        let p = part_of(&with_udh(&[6, 0x08, 4, 0x12, 0x34, 3, 2])).unwrap();
        assert_eq!((p.reference, p.total, p.seqnum), (0x1234, 3, 2));
        // Another element before the concatenation one.
        let p = part_of(&with_udh(&[8, 0x24, 1, 0x01, 0x00, 3, 9, 2, 2])).unwrap();
        assert_eq!((p.reference, p.total, p.seqnum), (9, 2, 2));
        let sar = Sm {
            tlvs: TlvsBuilder::new()
                .push_u16(tag::SAR_MSG_REF_NUM, 77)
                .push_u8(tag::SAR_TOTAL_SEGMENTS, 2)
                .push_u8(tag::SAR_SEGMENT_SEQNUM, 2)
                .build(),
            ..Sm::default()
        };
        let p = part_of(&sar).unwrap();
        assert_eq!((p.reference, p.total, p.seqnum), (77, 2, 2));
    }

    #[test]
    fn whole_messages_and_broken_headers_are_not_parts() {
        assert!(part_of(&Sm::default()).is_none());
        assert!(
            part_of(&with_udh(&[4, 0x24, 1, 0x01])).is_none(),
            "no 0x00/0x08 element"
        );
        assert!(
            part_of(&with_udh(&[200, 0x00])).is_none(),
            "header longer than the text"
        );
        assert!(
            part_of(&with_udh(&[5, 0x00, 9, 1, 2, 1])).is_none(),
            "element overruns"
        );
    }
}
