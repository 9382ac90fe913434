//! `query_sm`, `query_sm_resp`, `cancel_sm` and `replace_sm`.

use bytes::{BufMut, Bytes, BytesMut};

use super::body::{Body, BodyError, field, int, tlvs};
use super::sm::Address;
use crate::status::CommandStatus;
use crate::tlv::Tlvs;
use crate::values::{MessageState, RegisteredDelivery};
use crate::wire::{EncodeError, Reader, put_cstr, put_time};

/// `query_sm`: the state of an earlier message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuerySm {
    /// The id the MC gave the message.
    pub message_id: Bytes,
    /// The message's originator.
    pub source: Address,
}

impl Body for QuerySm {
    fn decode(r: &mut Reader) -> Result<Self, BodyError> {
        Ok(Self {
            message_id: field(r.cstr(65), CommandStatus::RINVMSGID, "message_id")?,
            source: Address::decode(r, 21, CommandStatus::RINVSRCADR, "source_addr")?,
        })
    }

    fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        put_cstr(out, "message_id", &self.message_id, 65)?;
        self.source.encode(out, 21, "source_addr")
    }
}

/// `query_sm_resp`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuerySmResp {
    /// The id queried.
    pub message_id: Bytes,
    /// `COSF(17)`: when the message reached a final state, or empty.
    pub final_date: Bytes,
    /// The message's state.
    pub message_state: MessageState,
    /// A network-specific error code.
    pub error_code: u8,
}

impl Default for MessageState {
    fn default() -> Self {
        Self::UNKNOWN
    }
}

impl Body for QuerySmResp {
    /// Lenient like every response: an error response may come without a body.
    fn decode(r: &mut Reader) -> Result<Self, BodyError> {
        if r.remaining() == 0 {
            return Ok(Self::default());
        }
        Ok(Self {
            message_id: field(r.cstr(65), CommandStatus::RINVMSGID, "message_id")?,
            final_date: field(r.cstr(17), CommandStatus::RINVCMDLEN, "final_date")?,
            message_state: MessageState(int(r.u8(), "message_state")?),
            error_code: int(r.u8(), "error_code")?,
        })
    }

    fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        put_cstr(out, "message_id", &self.message_id, 65)?;
        put_time(out, "final_date", &self.final_date)?;
        out.put_u8(self.message_state.0);
        out.put_u8(self.error_code);
        Ok(())
    }
}

/// `cancel_sm`: cancel an earlier message (or all from `source` to `dest` when the id is empty).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CancelSm {
    /// `service_type`, `COS(6)`.
    pub service_type: Bytes,
    /// The id the MC gave the message.
    pub message_id: Bytes,
    /// The originator.
    pub source: Address,
    /// The recipient (accepted up to 65 octets on input, as Kannel defines it).
    pub dest: Address,
}

impl Body for CancelSm {
    fn decode(r: &mut Reader) -> Result<Self, BodyError> {
        Ok(Self {
            service_type: field(r.cstr(6), CommandStatus::RINVSERTYP, "service_type")?,
            message_id: field(r.cstr(65), CommandStatus::RINVMSGID, "message_id")?,
            source: Address::decode(r, 21, CommandStatus::RINVSRCADR, "source_addr")?,
            dest: Address::decode(r, 65, CommandStatus::RINVDSTADR, "destination_addr")?,
        })
    }

    fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        put_cstr(out, "service_type", &self.service_type, 6)?;
        put_cstr(out, "message_id", &self.message_id, 65)?;
        self.source.encode(out, 21, "source_addr")?;
        self.dest.encode(out, 21, "destination_addr")
    }
}

/// `replace_sm`: replace an earlier message's content (note: no `service_type`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplaceSm {
    /// The id the MC gave the message.
    pub message_id: Bytes,
    /// The originator.
    pub source: Address,
    /// `COSF(17)`.
    pub schedule_delivery_time: Bytes,
    /// `COSF(17)`.
    pub validity_period: Bytes,
    /// Which receipts the sender wants.
    pub registered_delivery: RegisteredDelivery,
    /// 0, or a canned message id.
    pub sm_default_msg_id: u8,
    /// The new content.
    pub short_message: Bytes,
    /// v5: may carry `message_payload`.
    pub tlvs: Tlvs,
}

impl Body for ReplaceSm {
    fn decode(r: &mut Reader) -> Result<Self, BodyError> {
        let message_id = field(r.cstr(65), CommandStatus::RINVMSGID, "message_id")?;
        let source = Address::decode(r, 21, CommandStatus::RINVSRCADR, "source_addr")?;
        let schedule_delivery_time = field(
            r.cstr(17),
            CommandStatus::RINVSCHED,
            "schedule_delivery_time",
        )?;
        let validity_period = field(r.cstr(17), CommandStatus::RINVEXPIRY, "validity_period")?;
        let registered_delivery = RegisteredDelivery(int(r.u8(), "registered_delivery")?);
        let sm_default_msg_id = int(r.u8(), "sm_default_msg_id")?;
        let sm_length = int(r.u8(), "sm_length")?;
        let short_message = field(
            r.octets(sm_length as usize),
            CommandStatus::RINVMSGLEN,
            "short_message",
        )
        .map_err(|e| BodyError {
            status: CommandStatus::RINVMSGLEN,
            ..e
        })?;
        Ok(Self {
            message_id,
            source,
            schedule_delivery_time,
            validity_period,
            registered_delivery,
            sm_default_msg_id,
            short_message,
            tlvs: tlvs(r)?,
        })
    }

    fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        put_cstr(out, "message_id", &self.message_id, 65)?;
        self.source.encode(out, 21, "source_addr")?;
        put_time(out, "schedule_delivery_time", &self.schedule_delivery_time)?;
        put_time(out, "validity_period", &self.validity_period)?;
        out.put_u8(self.registered_delivery.0);
        out.put_u8(self.sm_default_msg_id);
        let len = u8::try_from(self.short_message.len()).map_err(|_| EncodeError::TooLong {
            field: "short_message",
            len: self.short_message.len(),
            max: 255,
        })?;
        out.put_u8(len);
        out.put_slice(&self.short_message);
        out.put_slice(self.tlvs.as_bytes());
        Ok(())
    }
}
