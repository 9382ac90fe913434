//! `bind_transmitter` / `bind_receiver` / `bind_transceiver`, their responses, and `outbind`.

use bytes::{BufMut, Bytes, BytesMut};

use super::body::{Body, BodyError, field, int, tlvs};
use crate::status::CommandStatus;
use crate::tlv::Tlvs;
use crate::wire::{EncodeError, Reader, put_cstr};

/// The body shared by the three bind requests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bind {
    /// The account name, `COS(16)`.
    pub system_id: Bytes,
    /// The password, `COS(9)`: at most 8 characters.
    pub password: Bytes,
    /// `COS(13)`, often empty.
    pub system_type: Bytes,
    /// `0x34` for v3.4, `0x50` for v5.0, lower for v3.3.
    pub interface_version: u8,
    /// TON of the address range.
    pub addr_ton: u8,
    /// NPI of the address range.
    pub addr_npi: u8,
    /// `COS(41)`, legacy, usually empty.
    pub address_range: Bytes,
}

impl Body for Bind {
    fn decode(r: &mut Reader) -> Result<Self, BodyError> {
        Ok(Self {
            system_id: field(r.cstr(16), CommandStatus::RINVSYSID, "system_id")?,
            password: field(r.cstr(9), CommandStatus::RINVPASWD, "password")?,
            system_type: field(r.cstr(13), CommandStatus::RINVSYSTYP, "system_type")?,
            interface_version: int(r.u8(), "interface_version")?,
            addr_ton: int(r.u8(), "addr_ton")?,
            addr_npi: int(r.u8(), "addr_npi")?,
            // Some clients leave the last field's NUL out; nothing follows it, so accept that.
            address_range: field(
                r.cstr_lenient(41),
                CommandStatus::RBINDFAIL,
                "address_range",
            )?,
        })
    }

    fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        put_cstr(out, "system_id", &self.system_id, 16)?;
        put_cstr(out, "password", &self.password, 9)?;
        put_cstr(out, "system_type", &self.system_type, 13)?;
        out.put_u8(self.interface_version);
        out.put_u8(self.addr_ton);
        out.put_u8(self.addr_npi);
        put_cstr(out, "address_range", &self.address_range, 41)
    }
}

/// The body of the three bind responses: the MC's `system_id` and `sc_interface_version`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BindResp {
    /// The MC's identifier; may be absent on errors.
    pub system_id: Bytes,
    /// TLVs, normally `sc_interface_version`.
    pub tlvs: Tlvs,
}

impl BindResp {
    /// Whether the body carries nothing (an error response then goes header-only).
    pub fn is_empty(&self) -> bool {
        self.system_id.is_empty() && self.tlvs.is_empty()
    }
}

impl Body for BindResp {
    /// Lenient: an error response may have no body at all, or an unterminated system_id.
    fn decode(r: &mut Reader) -> Result<Self, BodyError> {
        if r.remaining() == 0 {
            return Ok(Self::default());
        }
        let system_id = match r.cstr_lenient(16) {
            Ok(id) => id,
            Err(_) => r.rest(),
        };
        Ok(Self {
            system_id,
            tlvs: tlvs(r).unwrap_or_default(),
        })
    }

    fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        put_cstr(out, "system_id", &self.system_id, 16)?;
        out.put_slice(self.tlvs.as_bytes());
        Ok(())
    }
}

/// `outbind`: the MC asks the ESME to bind back on this connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outbind {
    /// The MC's identifier.
    pub system_id: Bytes,
    /// The password the ESME checks.
    pub password: Bytes,
}

impl Body for Outbind {
    fn decode(r: &mut Reader) -> Result<Self, BodyError> {
        Ok(Self {
            system_id: field(r.cstr(16), CommandStatus::RINVSYSID, "system_id")?,
            password: field(r.cstr_lenient(9), CommandStatus::RINVPASWD, "password")?,
        })
    }

    fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        put_cstr(out, "system_id", &self.system_id, 16)?;
        put_cstr(out, "password", &self.password, 9)
    }
}
