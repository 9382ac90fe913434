//! `data_sm` and `alert_notification`: the PDUs whose addresses are
//! `COS(65)` and whose content lives only in TLVs.

use bytes::{BufMut, Bytes, BytesMut};

use super::body::{Body, BodyError, field, int, tlvs};
use super::sm::Address;
use crate::status::CommandStatus;
use crate::tlv::Tlvs;
use crate::values::{EsmClass, RegisteredDelivery};
use crate::wire::{EncodeError, Reader, put_cstr};

/// `data_sm`: a message with its content in `message_payload`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DataSm {
    /// `service_type`, `COS(6)`.
    pub service_type: Bytes,
    /// The originator, `COS(65)`.
    pub source: Address,
    /// The recipient, `COS(65)`.
    pub dest: Address,
    /// Mode, type and UDHI bits.
    pub esm_class: EsmClass,
    /// Which receipts the sender wants.
    pub registered_delivery: RegisteredDelivery,
    /// How the payload is encoded.
    pub data_coding: u8,
    /// Every TLV in wire order; the content is `message_payload`.
    pub tlvs: Tlvs,
}

impl Body for DataSm {
    fn decode(r: &mut Reader) -> Result<Self, BodyError> {
        Ok(Self {
            service_type: field(r.cstr(6), CommandStatus::RINVSERTYP, "service_type")?,
            source: Address::decode(r, 65, CommandStatus::RINVSRCADR, "source_addr")?,
            dest: Address::decode(r, 65, CommandStatus::RINVDSTADR, "destination_addr")?,
            esm_class: EsmClass(int(r.u8(), "esm_class")?),
            registered_delivery: RegisteredDelivery(int(r.u8(), "registered_delivery")?),
            data_coding: int(r.u8(), "data_coding")?,
            tlvs: tlvs(r)?,
        })
    }

    fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        put_cstr(out, "service_type", &self.service_type, 6)?;
        self.source.encode(out, 65, "source_addr")?;
        self.dest.encode(out, 65, "destination_addr")?;
        out.put_u8(self.esm_class.0);
        out.put_u8(self.registered_delivery.0);
        out.put_u8(self.data_coding);
        out.put_slice(self.tlvs.as_bytes());
        Ok(())
    }
}

impl DataSm {
    /// The same message as a `submit_sm`, so that a router can route a `data_sm` like any
    /// submission: a `message_payload` that fits (≤ 254 octets) becomes `short_message` — what
    /// every peer reads, also a v3.3 one that takes no TLVs — and a longer one stays a TLV.
    pub fn into_sm(self) -> super::Sm {
        let mut tlvs = self.tlvs;
        let mut short_message = Bytes::new();
        if let Some(payload) = tlvs.message_payload().filter(|p| p.len() <= 254) {
            short_message = Bytes::copy_from_slice(payload);
            tlvs = tlvs
                .to_builder()
                .remove(crate::tlv::tag::MESSAGE_PAYLOAD)
                .build();
        }
        super::Sm {
            // A decoded service_type has at most 5 octets; a longer one built in code could not
            // be encoded anyway.
            service_type: crate::short::ShortStr::new(&self.service_type).unwrap_or_default(),
            source: self.source,
            dest: self.dest,
            esm_class: self.esm_class,
            registered_delivery: self.registered_delivery,
            data_coding: self.data_coding,
            short_message,
            tlvs,
            ..super::Sm::default()
        }
    }
}

/// `alert_notification`: the MC tells the ESME a handset became available. No response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlertNotification {
    /// The handset, `COS(65)`.
    pub source: Address,
    /// The ESME address, `COS(65)`.
    pub esme: Address,
    /// Normally `ms_availability_status`.
    pub tlvs: Tlvs,
}

impl Body for AlertNotification {
    fn decode(r: &mut Reader) -> Result<Self, BodyError> {
        Ok(Self {
            source: Address::decode(r, 65, CommandStatus::RINVSRCADR, "source_addr")?,
            esme: Address::decode(r, 65, CommandStatus::RINVDSTADR, "esme_addr")?,
            tlvs: tlvs(r)?,
        })
    }

    fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        self.source.encode(out, 65, "source_addr")?;
        self.esme.encode(out, 65, "esme_addr")?;
        out.put_slice(self.tlvs.as_bytes());
        Ok(())
    }
}
