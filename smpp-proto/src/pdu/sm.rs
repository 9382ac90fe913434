//! `submit_sm` and `deliver_sm` (same layout) and the `message_id` responses
//! shared by `submit_sm_resp`, `deliver_sm_resp`, `data_sm_resp` and the broadcast responses.

use bytes::{BufMut, Bytes, BytesMut};

use super::body::{Body, BodyError, field, int, tlvs};
use crate::addr::AddrBytes;
use crate::head::Head;
use crate::short::ShortStr;
use crate::status::CommandStatus;
use crate::tlv::Tlvs;
use crate::values::{EsmClass, RegisteredDelivery};
use crate::wire::{EncodeError, Reader, check_cstr, check_time, put_cstr};

/// A TON/NPI/address triple.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Address {
    /// Type of number.
    pub ton: u8,
    /// Numbering plan indicator.
    pub npi: u8,
    /// The address octets, without the NUL.
    pub addr: AddrBytes,
}

impl Address {
    /// An address from its parts.
    pub fn new(ton: u8, npi: u8, addr: impl AsRef<[u8]>) -> Self {
        Self {
            ton,
            npi,
            addr: AddrBytes::new(addr.as_ref()),
        }
    }

    /// Reads TON, NPI and a `COS(max)` address.
    #[inline]
    pub fn decode(
        r: &mut Reader,
        max: usize,
        status: CommandStatus,
        name: &'static str,
    ) -> Result<Self, BodyError> {
        Ok(Self {
            ton: int(r.u8(), name)?,
            npi: int(r.u8(), name)?,
            addr: field(r.cstr_inline(max), status, name)?,
        })
    }

    /// Writes TON, NPI and the address as a `COS(max)`.
    pub fn encode(
        &self,
        out: &mut BytesMut,
        max: usize,
        name: &'static str,
    ) -> Result<(), EncodeError> {
        out.put_u8(self.ton);
        out.put_u8(self.npi);
        put_cstr(out, name, &self.addr, max)
    }

    /// Writes TON, NPI and the address into `head`; the caller has checked the address (so from
    /// `Sm::encode` it is always inline: a value on the heap is longer than `COS(21)` allows).
    #[inline(always)]
    fn write_head(&self, head: &mut Head) {
        head.u8(self.ton);
        head.u8(self.npi);
        match self.addr.window() {
            Some((window, len)) => head.cstr_window(window, len),
            None => head.cstr(&self.addr),
        }
    }
}

/// The body of `submit_sm` and `deliver_sm`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sm {
    /// `service_type`, `COS(6)`; usually empty.
    pub service_type: ShortStr<5>,
    /// The originator (an alphanumeric brand with TON 5).
    pub source: Address,
    /// The recipient.
    pub dest: Address,
    /// Mode, type and UDHI bits.
    pub esm_class: EsmClass,
    /// GSM TP-PID, normally 0.
    pub protocol_id: u8,
    /// Priority, 0–3 (v5: 0–4).
    pub priority_flag: u8,
    /// `COSF(17)`: empty or 16 characters. Empty in `deliver_sm`.
    pub schedule_delivery_time: ShortStr<16>,
    /// `COSF(17)`: empty or 16 characters. Empty in `deliver_sm`.
    pub validity_period: ShortStr<16>,
    /// Which receipts the sender wants.
    pub registered_delivery: RegisteredDelivery,
    /// 0 or 1; 0 in `deliver_sm`.
    pub replace_if_present_flag: u8,
    /// How `short_message` is encoded.
    pub data_coding: u8,
    /// 0, or a canned message id.
    pub sm_default_msg_id: u8,
    /// Up to 255 octets, found by `sm_length` — it may contain `0x00` (the GSM `@`).
    pub short_message: Bytes,
    /// Every TLV in wire order.
    pub tlvs: Tlvs,
}

/// Address fields of `submit_sm`/`deliver_sm` are `COS(21)`.
const ADDR_MAX: usize = 21;

impl Sm {
    /// The message content: `short_message`, or `message_payload` when `short_message` is empty.
    pub fn payload(&self) -> &[u8] {
        if self.short_message.is_empty() {
            self.tlvs.message_payload().unwrap_or(&[])
        } else {
            &self.short_message
        }
    }
}

impl Body for Sm {
    #[inline]
    fn decode(r: &mut Reader) -> Result<Self, BodyError> {
        let service_type = field(r.cstr_short(), CommandStatus::RINVSERTYP, "service_type")?;
        let source = Address::decode(r, ADDR_MAX, CommandStatus::RINVSRCADR, "source_addr")?;
        let dest = Address::decode(r, ADDR_MAX, CommandStatus::RINVDSTADR, "destination_addr")?;
        let [esm_class, protocol_id, priority_flag] =
            int(r.array(), "esm_class, protocol_id or priority_flag")?;
        let schedule_delivery_time = field(
            r.cstr_short(),
            CommandStatus::RINVSCHED,
            "schedule_delivery_time",
        )?;
        let validity_period = field(r.cstr_short(), CommandStatus::RINVEXPIRY, "validity_period")?;
        let [
            registered_delivery,
            replace_if_present_flag,
            data_coding,
            sm_default_msg_id,
            sm_length,
        ] = int(r.array(), "registered_delivery .. sm_length")?;
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
            service_type,
            source,
            dest,
            esm_class: EsmClass(esm_class),
            protocol_id,
            priority_flag,
            schedule_delivery_time,
            validity_period,
            registered_delivery: RegisteredDelivery(registered_delivery),
            replace_if_present_flag,
            data_coding,
            sm_default_msg_id,
            short_message,
            tlvs: tlvs(r)?,
        })
    }

    /// The fields are checked first, the mandatory part is assembled on the stack ([`Head`]),
    /// then it, the message and the TLVs are appended after one capacity check.
    fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        check_cstr("service_type", &self.service_type, 6)?;
        check_cstr("source_addr", &self.source.addr, ADDR_MAX)?;
        check_cstr("destination_addr", &self.dest.addr, ADDR_MAX)?;
        check_time("schedule_delivery_time", &self.schedule_delivery_time)?;
        check_time("validity_period", &self.validity_period)?;
        let sm_length =
            u8::try_from(self.short_message.len()).map_err(|_| EncodeError::TooLong {
                field: "short_message",
                len: self.short_message.len(),
                max: 255,
            })?;

        let mut head = Head::new();
        let (window, len) = self.service_type.window();
        head.cstr_window(window, len);
        self.source.write_head(&mut head);
        self.dest.write_head(&mut head);
        head.u8(self.esm_class.0);
        head.u8(self.protocol_id);
        head.u8(self.priority_flag);
        let (window, len) = self.schedule_delivery_time.window();
        head.cstr_window(window, len);
        let (window, len) = self.validity_period.window();
        head.cstr_window(window, len);
        head.u8(self.registered_delivery.0);
        head.u8(self.replace_if_present_flag);
        head.u8(self.data_coding);
        head.u8(self.sm_default_msg_id);
        head.u8(sm_length);
        let head = head.octets()?;

        let tlvs = self.tlvs.as_bytes();
        out.reserve(head.len() + self.short_message.len() + tlvs.len());
        out.put_slice(head);
        out.put_slice(&self.short_message);
        out.put_slice(tlvs);
        Ok(())
    }
}

/// A response carrying a `message_id` (`COS(65)`) and TLVs: `submit_sm_resp`, `data_sm_resp`,
/// `deliver_sm_resp` (whose id is always empty), `broadcast_sm_resp`, `query_broadcast_sm_resp`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SmResp {
    /// The id the MC gave the message; empty on errors and in `deliver_sm_resp`.
    pub message_id: Bytes,
    /// v5 (and `data_sm_resp`) TLVs.
    pub tlvs: Tlvs,
}

impl SmResp {
    /// A response with `message_id` and no TLVs.
    pub fn new(message_id: impl Into<Bytes>) -> Self {
        Self {
            message_id: message_id.into(),
            tlvs: Tlvs::new(),
        }
    }

    /// Whether the body carries nothing, so an error response can go header-only as v3.4 wants.
    pub fn is_empty(&self) -> bool {
        self.message_id.is_empty() && self.tlvs.is_empty()
    }
}

impl Body for SmResp {
    /// Lenient: an empty body means no id (error responses often have none), an id without its
    /// NUL is taken whole, and a TLV area that does not parse is dropped rather than failing the
    /// response — a response is never answered, so there is nobody to tell.
    fn decode(r: &mut Reader) -> Result<Self, BodyError> {
        if r.remaining() == 0 {
            return Ok(Self::default());
        }
        let message_id = match r.cstr_lenient(65) {
            Ok(id) => id,
            Err(_) => r.rest(),
        };
        let tlvs = tlvs(r).unwrap_or_default();
        Ok(Self { message_id, tlvs })
    }

    fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        put_cstr(out, "message_id", &self.message_id, 65)?;
        out.put_slice(self.tlvs.as_bytes());
        Ok(())
    }
}
