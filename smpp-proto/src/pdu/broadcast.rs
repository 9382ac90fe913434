//! The v5 cell-broadcast requests. The router does not offer broadcast, but
//! it decodes and encodes them exactly so that it can answer and relay them correctly.

use bytes::{BufMut, Bytes, BytesMut};

use super::body::{Body, BodyError, field, int, tlvs};
use super::sm::Address;
use crate::status::CommandStatus;
use crate::tlv::Tlvs;
use crate::wire::{EncodeError, Reader, put_cstr, put_time};

/// `broadcast_sm`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BroadcastSm {
    /// `service_type`, `COS(6)`.
    pub service_type: Bytes,
    /// The originator.
    pub source: Address,
    /// `COS(65)`.
    pub message_id: Bytes,
    /// Priority, 0–4.
    pub priority_flag: u8,
    /// `COSF(17)`.
    pub schedule_delivery_time: Bytes,
    /// `COSF(17)`.
    pub validity_period: Bytes,
    /// 0 or 1.
    pub replace_if_present_flag: u8,
    /// How the payload is encoded.
    pub data_coding: u8,
    /// 0, or a canned message id.
    pub sm_default_msg_id: u8,
    /// The mandatory broadcast TLVs and `message_payload`.
    pub tlvs: Tlvs,
}

impl Body for BroadcastSm {
    fn decode(r: &mut Reader) -> Result<Self, BodyError> {
        Ok(Self {
            service_type: field(r.cstr(6), CommandStatus::RINVSERTYP, "service_type")?,
            source: Address::decode(r, 21, CommandStatus::RINVSRCADR, "source_addr")?,
            message_id: field(r.cstr(65), CommandStatus::RINVMSGID, "message_id")?,
            priority_flag: int(r.u8(), "priority_flag")?,
            schedule_delivery_time: field(
                r.cstr(17),
                CommandStatus::RINVSCHED,
                "schedule_delivery_time",
            )?,
            validity_period: field(r.cstr(17), CommandStatus::RINVEXPIRY, "validity_period")?,
            replace_if_present_flag: int(r.u8(), "replace_if_present_flag")?,
            data_coding: int(r.u8(), "data_coding")?,
            sm_default_msg_id: int(r.u8(), "sm_default_msg_id")?,
            tlvs: tlvs(r)?,
        })
    }

    fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        put_cstr(out, "service_type", &self.service_type, 6)?;
        self.source.encode(out, 21, "source_addr")?;
        put_cstr(out, "message_id", &self.message_id, 65)?;
        out.put_u8(self.priority_flag);
        put_time(out, "schedule_delivery_time", &self.schedule_delivery_time)?;
        put_time(out, "validity_period", &self.validity_period)?;
        out.put_u8(self.replace_if_present_flag);
        out.put_u8(self.data_coding);
        out.put_u8(self.sm_default_msg_id);
        out.put_slice(self.tlvs.as_bytes());
        Ok(())
    }
}

/// `query_broadcast_sm`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueryBroadcastSm {
    /// The id of the broadcast.
    pub message_id: Bytes,
    /// The originator.
    pub source: Address,
    /// Optional `user_message_reference`.
    pub tlvs: Tlvs,
}

impl Body for QueryBroadcastSm {
    fn decode(r: &mut Reader) -> Result<Self, BodyError> {
        Ok(Self {
            message_id: field(r.cstr(65), CommandStatus::RINVMSGID, "message_id")?,
            source: Address::decode(r, 21, CommandStatus::RINVSRCADR, "source_addr")?,
            tlvs: tlvs(r)?,
        })
    }

    fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        put_cstr(out, "message_id", &self.message_id, 65)?;
        self.source.encode(out, 21, "source_addr")?;
        out.put_slice(self.tlvs.as_bytes());
        Ok(())
    }
}

/// `cancel_broadcast_sm`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CancelBroadcastSm {
    /// `service_type`, `COS(6)`.
    pub service_type: Bytes,
    /// The id of the broadcast.
    pub message_id: Bytes,
    /// The originator.
    pub source: Address,
    /// Optional `broadcast_content_type`, `user_message_reference`.
    pub tlvs: Tlvs,
}

impl Body for CancelBroadcastSm {
    fn decode(r: &mut Reader) -> Result<Self, BodyError> {
        Ok(Self {
            service_type: field(r.cstr(6), CommandStatus::RINVSERTYP, "service_type")?,
            message_id: field(r.cstr(65), CommandStatus::RINVMSGID, "message_id")?,
            source: Address::decode(r, 21, CommandStatus::RINVSRCADR, "source_addr")?,
            tlvs: tlvs(r)?,
        })
    }

    fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        put_cstr(out, "service_type", &self.service_type, 6)?;
        put_cstr(out, "message_id", &self.message_id, 65)?;
        self.source.encode(out, 21, "source_addr")?;
        out.put_slice(self.tlvs.as_bytes());
        Ok(())
    }
}
