//! SMPP PDUs: one type per body family, the [`Pdu`] enum over all of them, and [`Command`] — a
//! PDU with its header — with decode and encode.
//!
//! Decoding is zero-copy: string and octet fields are [`Bytes`] slices of the frame, and TLVs stay
//! one slice in wire order. A malformed body yields a [`DecodeError`] that carries the header, so
//! the session answers the right PDU with the right status; [`error_response`] builds that answer.

mod bind;
mod body;
mod broadcast;
mod data_sm;
mod multi;
mod query;
mod sm;

use bytes::{BufMut, Bytes, BytesMut};

pub use bind::{Bind, BindResp, Outbind};
pub use body::{Body, BodyError};
pub use broadcast::{BroadcastSm, CancelBroadcastSm, QueryBroadcastSm};
pub use data_sm::{AlertNotification, DataSm};
pub use multi::{Dest, SubmitMulti, SubmitMultiResp, Unsuccess};
pub use query::{CancelSm, QuerySm, QuerySmResp, ReplaceSm};
pub use sm::{Address, Sm, SmResp};

use super::command_id::CommandId;
use super::status::CommandStatus;
use super::tlv::Tlvs;
use super::wire::{EncodeError, Reader};

/// The length of the SMPP header.
pub const HEADER_LEN: usize = 16;

/// The 16-octet header of every PDU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Total PDU length, header included.
    pub command_length: u32,
    /// Which PDU this is.
    pub command_id: CommandId,
    /// 0 in requests; the result in responses.
    pub command_status: CommandStatus,
    /// Chosen by the requester, echoed by the response.
    pub sequence_number: u32,
}

impl Header {
    /// Reads a header from the first 16 octets of `buf`, `None` if there are fewer.
    pub fn peek(buf: &[u8]) -> Option<Self> {
        let h = buf.get(..HEADER_LEN)?;
        let word = |i: usize| u32::from_be_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        Some(Self {
            command_length: word(0),
            command_id: CommandId(word(4)),
            command_status: CommandStatus(word(8)),
            sequence_number: word(12),
        })
    }
}

macro_rules! pdus {
    (
        with_body { $($bv:ident($bt:ty) = $bid:ident,)* }
        header_only { $($hv:ident = $hid:ident,)* }
    ) => {
        /// Every SMPP 3.4 and 5.0 PDU, plus [`Pdu::Other`] for ids the router does not know.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum Pdu {
            $(#[doc = concat!("`", stringify!($bid), "`")] $bv($bt),)*
            $(#[doc = concat!("`", stringify!($hid), "` (header only)")] $hv,)*
            /// An id the router does not know (reserved, vendor or future), body kept raw.
            Other {
                /// The id as received.
                command_id: CommandId,
                /// The body octets.
                body: Bytes,
            },
        }

        impl Pdu {
            /// The `command_id` of this PDU.
            pub fn command_id(&self) -> CommandId {
                match self {
                    $(Self::$bv(_) => CommandId::$bid,)*
                    $(Self::$hv => CommandId::$hid,)*
                    Self::Other { command_id, .. } => *command_id,
                }
            }

            /// Decodes the body of `frame`, which starts after its 16-octet header.
            fn decode_body(id: CommandId, frame: Bytes) -> Result<Self, BodyError> {
                let mut r = Reader::at(frame, HEADER_LEN);
                Ok(match id {
                    $(CommandId::$bid => Self::$bv(<$bt>::decode(&mut r)?),)*
                    // Header-only PDUs: a stray body is ignored (lenient in what we accept).
                    $(CommandId::$hid => Self::$hv,)*
                    command_id => Self::Other { command_id, body: r.rest() },
                })
            }

            fn encode_body(&self, status: CommandStatus, out: &mut BytesMut) -> Result<(), EncodeError> {
                // The special cases come first; the generic arms after them repeat some variants.
                #[allow(unreachable_patterns)]
                match self {
                    // v3.4 sends no body with an error response; keep it that way when there is
                    // nothing to say. A v5 error response with TLVs keeps its body.
                    Self::SubmitSmResp(b) | Self::DataSmResp(b) if !status.is_ok() && b.is_empty() => Ok(()),
                    Self::BindTransmitterResp(b) | Self::BindReceiverResp(b)
                    | Self::BindTransceiverResp(b) if !status.is_ok() && b.is_empty() => Ok(()),
                    // deliver_sm_resp's message_id is always empty on the wire.
                    Self::DeliverSmResp(b) => {
                        out.put_u8(0);
                        out.put_slice(b.tlvs.as_bytes());
                        Ok(())
                    }
                    $(Self::$bv(b) => b.encode(out),)*
                    $(Self::$hv => Ok(()),)*
                    Self::Other { body, .. } => {
                        out.put_slice(body);
                        Ok(())
                    }
                }
            }
        }
    };
}

pdus! {
    with_body {
        BindReceiver(Bind) = BIND_RECEIVER,
        BindReceiverResp(BindResp) = BIND_RECEIVER_RESP,
        BindTransmitter(Bind) = BIND_TRANSMITTER,
        BindTransmitterResp(BindResp) = BIND_TRANSMITTER_RESP,
        BindTransceiver(Bind) = BIND_TRANSCEIVER,
        BindTransceiverResp(BindResp) = BIND_TRANSCEIVER_RESP,
        Outbind(Outbind) = OUTBIND,
        QuerySm(QuerySm) = QUERY_SM,
        QuerySmResp(QuerySmResp) = QUERY_SM_RESP,
        SubmitSm(Sm) = SUBMIT_SM,
        SubmitSmResp(SmResp) = SUBMIT_SM_RESP,
        DeliverSm(Sm) = DELIVER_SM,
        DeliverSmResp(SmResp) = DELIVER_SM_RESP,
        ReplaceSm(Box<ReplaceSm>) = REPLACE_SM,
        CancelSm(CancelSm) = CANCEL_SM,
        SubmitMulti(Box<SubmitMulti>) = SUBMIT_MULTI,
        SubmitMultiResp(SubmitMultiResp) = SUBMIT_MULTI_RESP,
        AlertNotification(AlertNotification) = ALERT_NOTIFICATION,
        DataSm(DataSm) = DATA_SM,
        DataSmResp(SmResp) = DATA_SM_RESP,
        BroadcastSm(Box<BroadcastSm>) = BROADCAST_SM,
        BroadcastSmResp(SmResp) = BROADCAST_SM_RESP,
        QueryBroadcastSm(QueryBroadcastSm) = QUERY_BROADCAST_SM,
        QueryBroadcastSmResp(SmResp) = QUERY_BROADCAST_SM_RESP,
        CancelBroadcastSm(CancelBroadcastSm) = CANCEL_BROADCAST_SM,
    }
    header_only {
        GenericNack = GENERIC_NACK,
        Unbind = UNBIND,
        UnbindResp = UNBIND_RESP,
        ReplaceSmResp = REPLACE_SM_RESP,
        CancelSmResp = CANCEL_SM_RESP,
        EnquireLink = ENQUIRE_LINK,
        EnquireLinkResp = ENQUIRE_LINK_RESP,
        CancelBroadcastSmResp = CANCEL_BROADCAST_SM_RESP,
    }
}

macro_rules! tlv_access {
    ($($v:ident),*) => {
        impl Pdu {
            /// The TLV area, for PDUs that have one.
            pub fn tlvs(&self) -> Option<&Tlvs> {
                match self {
                    $(Self::$v(b) => Some(&b.tlvs),)*
                    _ => None,
                }
            }

            fn tlvs_mut(&mut self) -> Option<&mut Tlvs> {
                match self {
                    $(Self::$v(b) => Some(&mut b.tlvs),)*
                    _ => None,
                }
            }
        }
    };
}

tlv_access!(
    BindReceiverResp,
    BindTransmitterResp,
    BindTransceiverResp,
    SubmitSm,
    DeliverSm,
    SubmitSmResp,
    DeliverSmResp,
    DataSmResp,
    BroadcastSmResp,
    QueryBroadcastSmResp,
    ReplaceSm,
    SubmitMulti,
    SubmitMultiResp,
    AlertNotification,
    DataSm,
    BroadcastSm,
    QueryBroadcastSm,
    CancelBroadcastSm
);

impl Pdu {
    /// Whether the PDU carries any TLV.
    pub fn has_tlvs(&self) -> bool {
        self.tlvs().is_some_and(|t| !t.is_empty())
    }

    /// Drops every TLV (for a v3.3 session, which has none).
    pub fn clear_tlvs(&mut self) {
        if let Some(t) = self.tlvs_mut() {
            *t = Tlvs::new();
        }
    }
}

/// A PDU with the header fields that are not implied by it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// `command_status`: 0 in requests.
    pub status: CommandStatus,
    /// `sequence_number`.
    pub sequence_number: u32,
    /// The PDU.
    pub pdu: Pdu,
}

/// A frame that could not be decoded: its header, the status to answer with, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot decode {} (seq {}): {reason} → {status}", header.command_id, header.sequence_number)]
pub struct DecodeError {
    /// The frame's header, so the session can answer the right PDU.
    pub header: Header,
    /// The status the answer carries.
    pub status: CommandStatus,
    /// What was wrong (a field name or a short phrase; never message content).
    pub reason: &'static str,
}

impl Command {
    /// A request or response with status 0.
    pub fn new(sequence_number: u32, pdu: Pdu) -> Self {
        Self {
            status: CommandStatus::ROK,
            sequence_number,
            pdu,
        }
    }

    /// The `command_id`.
    pub fn command_id(&self) -> CommandId {
        self.pdu.command_id()
    }

    /// Decodes one whole frame (header included), as [`super::frame::FrameDecoder`] yields it.
    pub fn decode(frame: Bytes) -> Result<Self, DecodeError> {
        let Some(header) = Header::peek(&frame) else {
            let header = Header {
                command_length: frame.len() as u32,
                command_id: CommandId(0),
                command_status: CommandStatus::ROK,
                sequence_number: 0,
            };
            return Err(DecodeError {
                header,
                status: CommandStatus::RINVCMDLEN,
                reason: "shorter than a header",
            });
        };
        if header.command_length as usize != frame.len() {
            return Err(DecodeError {
                header,
                status: CommandStatus::RINVCMDLEN,
                reason: "command_length disagrees with the frame",
            });
        }
        let pdu = Pdu::decode_body(header.command_id, frame).map_err(|e| DecodeError {
            header,
            status: e.status,
            reason: e.reason,
        })?;
        Ok(Self {
            status: header.command_status,
            sequence_number: header.sequence_number,
            pdu,
        })
    }

    /// Appends the encoded PDU to `out`. On error `out` is left as it was.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let start = out.len();
        // The header in one append; command_length is filled in once the body is written.
        let mut header = [0u8; HEADER_LEN];
        header[4..8].copy_from_slice(&self.command_id().0.to_be_bytes());
        header[8..12].copy_from_slice(&self.status.0.to_be_bytes());
        header[12..16].copy_from_slice(&self.sequence_number.to_be_bytes());
        out.put_slice(&header);
        if let Err(e) = self.pdu.encode_body(self.status, out) {
            out.truncate(start);
            return Err(e);
        }
        let Ok(len) = u32::try_from(out.len() - start) else {
            out.truncate(start);
            return Err(EncodeError::TooLarge);
        };
        out[start..start + 4].copy_from_slice(&len.to_be_bytes());
        Ok(())
    }

    /// Encodes into a new buffer (convenient in tests and tools; the data path reuses buffers).
    pub fn to_bytes(&self) -> Result<Bytes, EncodeError> {
        let mut out = BytesMut::with_capacity(64);
        self.encode(&mut out)?;
        Ok(out.freeze())
    }
}

/// The answer to a request that is refused with `status`: its own `*_resp` with an empty body,
/// or `generic_nack` for ids without a response form the router knows. `None` for responses and
/// for requests that have no response (`outbind`, `alert_notification`, `generic_nack`).
pub fn error_response(
    command_id: CommandId,
    sequence_number: u32,
    status: CommandStatus,
) -> Option<Command> {
    let pdu = match command_id {
        CommandId::BIND_RECEIVER => Pdu::BindReceiverResp(BindResp::default()),
        CommandId::BIND_TRANSMITTER => Pdu::BindTransmitterResp(BindResp::default()),
        CommandId::BIND_TRANSCEIVER => Pdu::BindTransceiverResp(BindResp::default()),
        CommandId::QUERY_SM => Pdu::QuerySmResp(QuerySmResp::default()),
        CommandId::SUBMIT_SM => Pdu::SubmitSmResp(SmResp::default()),
        CommandId::DELIVER_SM => Pdu::DeliverSmResp(SmResp::default()),
        CommandId::UNBIND => Pdu::UnbindResp,
        CommandId::REPLACE_SM => Pdu::ReplaceSmResp,
        CommandId::CANCEL_SM => Pdu::CancelSmResp,
        CommandId::ENQUIRE_LINK => Pdu::EnquireLinkResp,
        CommandId::SUBMIT_MULTI => Pdu::SubmitMultiResp(SubmitMultiResp::default()),
        CommandId::DATA_SM => Pdu::DataSmResp(SmResp::default()),
        CommandId::BROADCAST_SM => Pdu::BroadcastSmResp(SmResp::default()),
        CommandId::QUERY_BROADCAST_SM => Pdu::QueryBroadcastSmResp(SmResp::default()),
        CommandId::CANCEL_BROADCAST_SM => Pdu::CancelBroadcastSmResp,
        id if id.is_response() || !id.expects_response() => return None,
        _ => Pdu::GenericNack,
    };
    Some(Command {
        status,
        sequence_number,
        pdu,
    })
}

#[cfg(test)]
mod tests;
