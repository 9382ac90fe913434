//! The contract every PDU body implements, and the field helpers that map a bad field to the
//! status the session answers with (a bad body gets its own `*_resp`).

use bytes::BytesMut;

use crate::status::CommandStatus;
use crate::tlv::Tlvs;
use crate::wire::{EncodeError, FieldError, Reader};

/// Why a body could not be decoded: the status to answer with, and a short reason for logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyError {
    /// The status the `*_resp` carries.
    pub status: CommandStatus,
    /// What was wrong, for logs (never contains message content).
    pub reason: &'static str,
}

/// A PDU body: the fields after the 16-octet header.
pub trait Body: Sized {
    /// Decodes the body from `r`, which holds exactly the octets after the header.
    fn decode(r: &mut Reader) -> Result<Self, BodyError>;
    /// Appends the body to `out`.
    fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError>;
}

/// The three largest bodies (`replace_sm`, `submit_multi`, `broadcast_sm`: 200–224 bytes) are
/// rare and kept out of line, so that every [`super::Pdu`] is the size of a `submit_sm` (176
/// bytes) and cheaper to move: decoding one of them costs an allocation.
const _: () = assert!(
    std::mem::size_of::<super::Pdu>() <= std::mem::size_of::<super::Sm>() + 8,
    "a body larger than submit_sm's makes every PDU larger: box it"
);

impl<T: Body> Body for Box<T> {
    fn decode(r: &mut Reader) -> Result<Self, BodyError> {
        T::decode(r).map(Box::new)
    }

    fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        T::encode(self, out)
    }
}

/// Maps a field error: a field that overruns the PDU is a length error, an over-long C-string
/// gets the field's own status.
pub fn field<T>(
    res: Result<T, FieldError>,
    too_long: CommandStatus,
    name: &'static str,
) -> Result<T, BodyError> {
    res.map_err(|e| match e {
        FieldError::Truncated => BodyError {
            status: CommandStatus::RINVCMDLEN,
            reason: name,
        },
        FieldError::TooLong => BodyError {
            status: too_long,
            reason: name,
        },
    })
}

/// Reads an integer field; running out of body is a length error.
pub fn int<T>(res: Result<T, FieldError>, name: &'static str) -> Result<T, BodyError> {
    field(res, CommandStatus::RINVCMDLEN, name)
}

/// Reads the rest of the body as a TLV area.
pub fn tlvs(r: &mut Reader) -> Result<Tlvs, BodyError> {
    r.tlvs().map_err(|_| BodyError {
        status: CommandStatus::RINVTLVSTREAM,
        reason: "TLV overruns the PDU",
    })
}
