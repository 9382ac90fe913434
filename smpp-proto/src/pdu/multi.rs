//! `submit_multi` and `submit_multi_resp`.

use bytes::{BufMut, Bytes, BytesMut};

use super::body::{Body, BodyError, field, int, tlvs};
use super::sm::Address;
use crate::status::CommandStatus;
use crate::tlv::Tlvs;
use crate::values::{EsmClass, RegisteredDelivery};
use crate::wire::{EncodeError, Reader, put_cstr, put_time};

/// One destination of a `submit_multi`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dest {
    /// `dest_flag` 1: an SME address.
    Sme(Address),
    /// `dest_flag` 2: a distribution list name.
    List(Bytes),
}

/// `submit_multi`: one message to up to 254 destinations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubmitMulti {
    /// `service_type`, `COS(6)`.
    pub service_type: Bytes,
    /// The originator.
    pub source: Address,
    /// 1–254 destinations.
    pub dests: Vec<Dest>,
    /// Mode, type and UDHI bits.
    pub esm_class: EsmClass,
    /// GSM TP-PID.
    pub protocol_id: u8,
    /// Priority.
    pub priority_flag: u8,
    /// `COSF(17)`.
    pub schedule_delivery_time: Bytes,
    /// `COSF(17)`.
    pub validity_period: Bytes,
    /// Which receipts the sender wants.
    pub registered_delivery: RegisteredDelivery,
    /// 0 or 1.
    pub replace_if_present_flag: u8,
    /// How `short_message` is encoded.
    pub data_coding: u8,
    /// 0, or a canned message id.
    pub sm_default_msg_id: u8,
    /// The content.
    pub short_message: Bytes,
    /// Every TLV in wire order.
    pub tlvs: Tlvs,
}

impl Body for SubmitMulti {
    fn decode(r: &mut Reader) -> Result<Self, BodyError> {
        let service_type = field(r.cstr(6), CommandStatus::RINVSERTYP, "service_type")?;
        let source = Address::decode(r, 21, CommandStatus::RINVSRCADR, "source_addr")?;
        let n = int(r.u8(), "number_of_dests")?;
        if n == 0 || n == 255 {
            return Err(BodyError {
                status: CommandStatus::RINVNUMDESTS,
                reason: "number_of_dests",
            });
        }
        let mut dests = Vec::with_capacity(n as usize);
        for _ in 0..n {
            dests.push(match int(r.u8(), "dest_flag")? {
                1 => Dest::Sme(Address::decode(
                    r,
                    21,
                    CommandStatus::RINVDSTADR,
                    "destination_addr",
                )?),
                2 => Dest::List(field(r.cstr(21), CommandStatus::RINVDLNAME, "dl_name")?),
                _ => {
                    return Err(BodyError {
                        status: CommandStatus::RINVDESTFLAG,
                        reason: "dest_flag",
                    });
                }
            });
        }
        let esm_class = EsmClass(int(r.u8(), "esm_class")?);
        let protocol_id = int(r.u8(), "protocol_id")?;
        let priority_flag = int(r.u8(), "priority_flag")?;
        let schedule_delivery_time = field(
            r.cstr(17),
            CommandStatus::RINVSCHED,
            "schedule_delivery_time",
        )?;
        let validity_period = field(r.cstr(17), CommandStatus::RINVEXPIRY, "validity_period")?;
        let registered_delivery = RegisteredDelivery(int(r.u8(), "registered_delivery")?);
        let replace_if_present_flag = int(r.u8(), "replace_if_present_flag")?;
        let data_coding = int(r.u8(), "data_coding")?;
        let sm_default_msg_id = int(r.u8(), "sm_default_msg_id")?;
        let sm_length = int(r.u8(), "sm_length")?;
        let short_message = r.octets(sm_length as usize).map_err(|_| BodyError {
            status: CommandStatus::RINVMSGLEN,
            reason: "short_message",
        })?;
        Ok(Self {
            service_type,
            source,
            dests,
            esm_class,
            protocol_id,
            priority_flag,
            schedule_delivery_time,
            validity_period,
            registered_delivery,
            replace_if_present_flag,
            data_coding,
            sm_default_msg_id,
            short_message,
            tlvs: tlvs(r)?,
        })
    }

    fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        put_cstr(out, "service_type", &self.service_type, 6)?;
        self.source.encode(out, 21, "source_addr")?;
        let n = u8::try_from(self.dests.len())
            .ok()
            .filter(|n| (1..=254).contains(n))
            .ok_or(EncodeError::TooLong {
                field: "number_of_dests",
                len: self.dests.len(),
                max: 254,
            })?;
        out.put_u8(n);
        for d in &self.dests {
            match d {
                Dest::Sme(a) => {
                    out.put_u8(1);
                    a.encode(out, 21, "destination_addr")?;
                }
                Dest::List(name) => {
                    out.put_u8(2);
                    put_cstr(out, "dl_name", name, 21)?;
                }
            }
        }
        out.put_u8(self.esm_class.0);
        out.put_u8(self.protocol_id);
        out.put_u8(self.priority_flag);
        put_time(out, "schedule_delivery_time", &self.schedule_delivery_time)?;
        put_time(out, "validity_period", &self.validity_period)?;
        out.put_u8(self.registered_delivery.0);
        out.put_u8(self.replace_if_present_flag);
        out.put_u8(self.data_coding);
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

/// A destination a `submit_multi` could not reach.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsuccess {
    /// The destination.
    pub dest: Address,
    /// Why it failed.
    pub error_status_code: CommandStatus,
}

/// `submit_multi_resp`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubmitMultiResp {
    /// The id the MC gave the message.
    pub message_id: Bytes,
    /// The destinations that failed.
    pub unsuccess: Vec<Unsuccess>,
    /// v5 TLVs.
    pub tlvs: Tlvs,
}

impl Body for SubmitMultiResp {
    fn decode(r: &mut Reader) -> Result<Self, BodyError> {
        if r.remaining() == 0 {
            return Ok(Self::default());
        }
        let message_id = field(r.cstr(65), CommandStatus::RINVMSGID, "message_id")?;
        let n = if r.remaining() == 0 {
            0
        } else {
            int(r.u8(), "no_unsuccess")?
        };
        let mut unsuccess = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let dest = Address::decode(r, 21, CommandStatus::RINVDSTADR, "destination_addr")?;
            let error_status_code = CommandStatus(int(r.u32(), "error_status_code")?);
            unsuccess.push(Unsuccess {
                dest,
                error_status_code,
            });
        }
        Ok(Self {
            message_id,
            unsuccess,
            tlvs: tlvs(r).unwrap_or_default(),
        })
    }

    fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        put_cstr(out, "message_id", &self.message_id, 65)?;
        let n = u8::try_from(self.unsuccess.len()).map_err(|_| EncodeError::TooLong {
            field: "no_unsuccess",
            len: self.unsuccess.len(),
            max: 254,
        })?;
        out.put_u8(n);
        for u in &self.unsuccess {
            u.dest.encode(out, 21, "destination_addr")?;
            out.put_u32(u.error_status_code.0);
        }
        out.put_slice(self.tlvs.as_bytes());
        Ok(())
    }
}
