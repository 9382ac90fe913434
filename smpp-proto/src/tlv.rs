//! Optional parameters (TLVs), kept exactly as they came: every TLV, known or not, in wire order.
//!
//! A decoded PDU holds its TLV area as one [`Bytes`] slice of the frame, checked once at decode
//! time; typed accessors read the tags the router acts on, and a relayed message re-emits the area
//! unchanged. [`TlvsBuilder`] makes new areas and edits relayed ones.

use bytes::{BufMut, Bytes, BytesMut};

use super::values::MessageState;

/// The tags the router reads or writes. Any other tag is kept raw.
pub mod tag {
    /// `dest_addr_subunit`.
    pub const DEST_ADDR_SUBUNIT: u16 = 0x0005;
    /// `source_addr_subunit`.
    pub const SOURCE_ADDR_SUBUNIT: u16 = 0x000D;
    /// `qos_time_to_live`.
    pub const QOS_TIME_TO_LIVE: u16 = 0x0017;
    /// `payload_type`.
    pub const PAYLOAD_TYPE: u16 = 0x0019;
    /// `additional_status_info_text`: free text describing an error.
    pub const ADDITIONAL_STATUS_INFO_TEXT: u16 = 0x001D;
    /// `receipted_message_id`: the MC id of the message a receipt is about.
    pub const RECEIPTED_MESSAGE_ID: u16 = 0x001E;
    /// `privacy_indicator`.
    pub const PRIVACY_INDICATOR: u16 = 0x0201;
    /// `user_message_reference`: the sender's own reference, relayed both ways.
    pub const USER_MESSAGE_REFERENCE: u16 = 0x0204;
    /// `source_port`.
    pub const SOURCE_PORT: u16 = 0x020A;
    /// `destination_port`.
    pub const DESTINATION_PORT: u16 = 0x020B;
    /// `sar_msg_ref_num`: concatenation reference.
    pub const SAR_MSG_REF_NUM: u16 = 0x020C;
    /// `language_indicator`.
    pub const LANGUAGE_INDICATOR: u16 = 0x020D;
    /// `sar_total_segments`.
    pub const SAR_TOTAL_SEGMENTS: u16 = 0x020E;
    /// `sar_segment_seqnum`.
    pub const SAR_SEGMENT_SEQNUM: u16 = 0x020F;
    /// `sc_interface_version`: the MC's version, in `bind_*_resp`.
    pub const SC_INTERFACE_VERSION: u16 = 0x0210;
    /// `callback_num`.
    pub const CALLBACK_NUM: u16 = 0x0381;
    /// `dpf_result`.
    pub const DPF_RESULT: u16 = 0x0420;
    /// `set_dpf`.
    pub const SET_DPF: u16 = 0x0421;
    /// `ms_availability_status`.
    pub const MS_AVAILABILITY_STATUS: u16 = 0x0422;
    /// `network_error_code`: network type octet plus a two-octet error.
    pub const NETWORK_ERROR_CODE: u16 = 0x0423;
    /// `message_payload`: the whole message, instead of `short_message`.
    pub const MESSAGE_PAYLOAD: u16 = 0x0424;
    /// `delivery_failure_reason`.
    pub const DELIVERY_FAILURE_REASON: u16 = 0x0425;
    /// `more_messages_to_send`.
    pub const MORE_MESSAGES_TO_SEND: u16 = 0x0426;
    /// `message_state`.
    pub const MESSAGE_STATE: u16 = 0x0427;
    /// v5 `congestion_state`: the load of the peer that sent it, 0–100.
    pub const CONGESTION_STATE: u16 = 0x0428;
    /// `ussd_service_op`.
    pub const USSD_SERVICE_OP: u16 = 0x0501;
    /// `alert_on_message_delivery`.
    pub const ALERT_ON_MESSAGE_DELIVERY: u16 = 0x130C;
    /// `its_session_info`.
    pub const ITS_SESSION_INFO: u16 = 0x1383;
    /// v5 `billing_identification`.
    pub const BILLING_IDENTIFICATION: u16 = 0x060B;
    /// First tag of the vendor-specific range.
    pub const VENDOR_FIRST: u16 = 0x1400;
    /// Last tag of the vendor-specific range.
    pub const VENDOR_LAST: u16 = 0x3FFF;
}

/// One TLV as it appeared on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The tag.
    pub tag: u16,
    /// The value octets (for C-string TLVs this includes the NUL, when the peer sent one).
    pub value: &'a [u8],
}

/// The TLV area of a PDU: zero or more TLVs in wire order. Cheap to clone.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Tlvs(Bytes);

/// Why a TLV area was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlvError {
    /// A TLV's length runs past the end of the PDU.
    Overrun,
}

/// The concatenation triple of the SAR TLVs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sar {
    /// `sar_msg_ref_num`.
    pub reference: u16,
    /// `sar_total_segments`.
    pub total: u8,
    /// `sar_segment_seqnum`, 1-based.
    pub seqnum: u8,
}

impl Tlvs {
    /// An empty area.
    pub fn new() -> Self {
        Self(Bytes::new())
    }

    /// Checks an area read off the wire. Up to 3 stray octets after the last whole TLV are
    /// tolerated and dropped (some MCs append a NUL after `short_message`); a TLV whose length
    /// runs past the end is an error.
    pub fn parse(area: Bytes) -> Result<Self, TlvError> {
        let whole = Self::whole_len(&area)?;
        Ok(Self(area.slice(..whole)))
    }

    /// How many octets of `area` are whole TLVs (the rest, at most 3 octets, is stray).
    pub(crate) fn whole_len(area: &[u8]) -> Result<usize, TlvError> {
        let mut pos = 0;
        while area.len() - pos >= 4 {
            let len = u16::from_be_bytes([area[pos + 2], area[pos + 3]]) as usize;
            let end = pos + 4 + len;
            if end > area.len() {
                return Err(TlvError::Overrun);
            }
            pos = end;
        }
        Ok(pos)
    }

    /// An area already checked by [`Tlvs::whole_len`].
    pub(crate) fn from_checked(area: Bytes) -> Self {
        Self(area)
    }

    /// Whether there are no TLVs.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The encoded area, as it goes on the wire.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Every TLV in wire order.
    pub fn iter(&self) -> TlvIter<'_> {
        TlvIter { rest: &self.0 }
    }

    /// The value of the first TLV with `tag`.
    pub fn get(&self, tag: u16) -> Option<&[u8]> {
        self.iter().find(|t| t.tag == tag).map(|t| t.value)
    }

    /// Whether a TLV with `tag` is present.
    pub fn contains(&self, tag: u16) -> bool {
        self.get(tag).is_some()
    }

    /// A one-octet TLV, `None` when absent or of another length.
    pub fn get_u8(&self, tag: u16) -> Option<u8> {
        match self.get(tag)? {
            [v] => Some(*v),
            _ => None,
        }
    }

    /// A two-octet TLV, `None` when absent or of another length.
    pub fn get_u16(&self, tag: u16) -> Option<u16> {
        match self.get(tag)? {
            [a, b] => Some(u16::from_be_bytes([*a, *b])),
            _ => None,
        }
    }

    /// A C-string TLV without its NUL (peers that omit the NUL are accepted).
    pub fn get_cstr(&self, tag: u16) -> Option<&[u8]> {
        let v = self.get(tag)?;
        Some(match v.iter().position(|&b| b == 0) {
            Some(n) => &v[..n],
            None => v,
        })
    }

    /// `message_payload`.
    pub fn message_payload(&self) -> Option<&[u8]> {
        self.get(tag::MESSAGE_PAYLOAD)
    }

    /// `receipted_message_id`, without its NUL.
    pub fn receipted_message_id(&self) -> Option<&[u8]> {
        self.get_cstr(tag::RECEIPTED_MESSAGE_ID)
    }

    /// `message_state`.
    pub fn message_state(&self) -> Option<MessageState> {
        self.get_u8(tag::MESSAGE_STATE).map(MessageState)
    }

    /// `network_error_code` (3 octets: network type, then the error as `Int2`).
    pub fn network_error_code(&self) -> Option<&[u8]> {
        self.get(tag::NETWORK_ERROR_CODE)
    }

    /// `user_message_reference`.
    pub fn user_message_reference(&self) -> Option<u16> {
        self.get_u16(tag::USER_MESSAGE_REFERENCE)
    }

    /// `sc_interface_version`.
    pub fn sc_interface_version(&self) -> Option<u8> {
        self.get_u8(tag::SC_INTERFACE_VERSION)
    }

    /// `congestion_state`.
    pub fn congestion_state(&self) -> Option<u8> {
        self.get_u8(tag::CONGESTION_STATE)
    }

    /// The SAR triple; `None` unless all three are present with the right sizes.
    pub fn sar(&self) -> Option<Sar> {
        Some(Sar {
            reference: self.get_u16(tag::SAR_MSG_REF_NUM)?,
            total: self.get_u8(tag::SAR_TOTAL_SEGMENTS)?,
            seqnum: self.get_u8(tag::SAR_SEGMENT_SEQNUM)?,
        })
    }

    /// Whether any SAR TLV is present (complete or not).
    pub fn has_any_sar(&self) -> bool {
        self.iter().any(|t| {
            matches!(
                t.tag,
                tag::SAR_MSG_REF_NUM | tag::SAR_TOTAL_SEGMENTS | tag::SAR_SEGMENT_SEQNUM
            )
        })
    }

    /// A builder starting from this area, to add, replace or drop TLVs when relaying.
    pub fn to_builder(&self) -> TlvsBuilder {
        let mut b = TlvsBuilder::default();
        b.buf.extend_from_slice(&self.0);
        b
    }
}

impl std::fmt::Debug for Tlvs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut list = f.debug_list();
        for t in self.iter() {
            list.entry(&format_args!("0x{:04X}={:02X?}", t.tag, t.value));
        }
        list.finish()
    }
}

/// Iterator over a [`Tlvs`] area.
#[derive(Clone, Debug)]
pub struct TlvIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for TlvIter<'a> {
    type Item = Tlv<'a>;

    fn next(&mut self) -> Option<Tlv<'a>> {
        // The area was checked by `Tlvs::parse` or built by `TlvsBuilder`, so every header and
        // value is whole; `get` keeps this safe even if that ever changed.
        let header = self.rest.get(..4)?;
        let tag = u16::from_be_bytes([header[0], header[1]]);
        let len = u16::from_be_bytes([header[2], header[3]]) as usize;
        let value = self.rest.get(4..4 + len)?;
        self.rest = &self.rest[4 + len..];
        Some(Tlv { tag, value })
    }
}

/// Builds a TLV area.
#[derive(Clone, Debug, Default)]
pub struct TlvsBuilder {
    buf: BytesMut,
}

impl TlvsBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a TLV. Values longer than 65535 octets are cut to fit the two-octet length.
    pub fn push(&mut self, tag: u16, value: &[u8]) -> &mut Self {
        let value = &value[..value.len().min(u16::MAX as usize)];
        self.buf.put_u16(tag);
        self.buf.put_u16(value.len() as u16);
        self.buf.put_slice(value);
        self
    }

    /// Appends a one-octet TLV.
    pub fn push_u8(&mut self, tag: u16, value: u8) -> &mut Self {
        self.push(tag, &[value])
    }

    /// Appends a two-octet TLV.
    pub fn push_u16(&mut self, tag: u16, value: u16) -> &mut Self {
        self.push(tag, &value.to_be_bytes())
    }

    /// Appends a C-string TLV, adding the NUL (the router always emits it).
    pub fn push_cstr(&mut self, tag: u16, value: &[u8]) -> &mut Self {
        let len = (value.len() + 1).min(u16::MAX as usize);
        self.buf.put_u16(tag);
        self.buf.put_u16(len as u16);
        self.buf.put_slice(&value[..len - 1]);
        self.buf.put_u8(0);
        self
    }

    /// Drops every TLV with `tag`, keeping the order of the others.
    pub fn remove(&mut self, tag: u16) -> &mut Self {
        let old = Tlvs(std::mem::take(&mut self.buf).freeze());
        for t in old.iter().filter(|t| t.tag != tag) {
            self.push(t.tag, t.value);
        }
        self
    }

    /// Replaces the first TLV with `tag` in place (keeping wire order) or appends it.
    pub fn set(&mut self, tag: u16, value: &[u8]) -> &mut Self {
        let old = Tlvs(std::mem::take(&mut self.buf).freeze());
        let mut done = false;
        for t in old.iter() {
            if t.tag == tag {
                if !done {
                    self.push(tag, value);
                    done = true;
                }
            } else {
                self.push(t.tag, t.value);
            }
        }
        if !done {
            self.push(tag, value);
        }
        self
    }

    /// The finished area.
    pub fn build(&mut self) -> Tlvs {
        Tlvs(std::mem::take(&mut self.buf).freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_unknown_tags_in_wire_order() {
        let area = Bytes::from_static(&[
            0x14, 0x00, 0x00, 0x02, 0xAB, 0xCD, // vendor 0x1400
            0x04, 0x27, 0x00, 0x01, 0x02, // message_state
            0x00, 0x1E, 0x00, 0x04, b'a', b'b', b'c', 0, // receipted_message_id
        ]);
        let tlvs = Tlvs::parse(area.clone()).unwrap();
        let tags: Vec<u16> = tlvs.iter().map(|t| t.tag).collect();
        assert_eq!(tags, [0x1400, 0x0427, 0x001E]);
        assert_eq!(tlvs.message_state(), Some(MessageState::DELIVERED));
        assert_eq!(tlvs.receipted_message_id(), Some(&b"abc"[..]));
        assert_eq!(tlvs.as_bytes(), &area[..]);
    }

    #[test]
    fn stray_octets_tolerated_overrun_rejected() {
        let t = Tlvs::parse(Bytes::from_static(&[
            0x02, 0x04, 0x00, 0x02, 0x00, 0x07, 0x00,
        ]))
        .unwrap();
        assert_eq!(t.user_message_reference(), Some(7));
        assert_eq!(t.as_bytes().len(), 6);
        assert_eq!(
            Tlvs::parse(Bytes::from_static(&[0x02, 0x04, 0x00, 0x05, 0x00])),
            Err(TlvError::Overrun)
        );
    }

    #[test]
    fn builder_set_and_remove_keep_order() {
        let mut b = TlvsBuilder::new();
        b.push_u8(0x0427, 2)
            .push_cstr(0x001E, b"old")
            .push(0x1401, b"x");
        let t = b.build();
        let t2 = t.to_builder().set(0x001E, b"new\0").remove(0x0427).build();
        let tags: Vec<u16> = t2.iter().map(|t| t.tag).collect();
        assert_eq!(tags, [0x001E, 0x1401]);
        assert_eq!(t2.receipted_message_id(), Some(&b"new"[..]));
    }

    #[test]
    fn sar_needs_all_three() {
        let mut b = TlvsBuilder::new();
        b.push_u16(tag::SAR_MSG_REF_NUM, 0x1234)
            .push_u8(tag::SAR_TOTAL_SEGMENTS, 3);
        let partial = b.build();
        assert_eq!(partial.sar(), None);
        assert!(partial.has_any_sar());
        let full = partial
            .to_builder()
            .push_u8(tag::SAR_SEGMENT_SEQNUM, 2)
            .build();
        assert_eq!(
            full.sar(),
            Some(Sar {
                reference: 0x1234,
                total: 3,
                seqnum: 2
            })
        );
    }
}
