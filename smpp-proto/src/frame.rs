//! Framing: cutting a byte stream into whole PDUs before any decoding.
//!
//! `command_length` is checked as soon as its four octets arrive — below 16 or above the
//! configured maximum is an error before a single body octet is buffered — and each frame is then
//! decoded on its own, so a malformed body never desynchronises the stream.

use bytes::{Buf, Bytes, BytesMut};

use super::pdu::{HEADER_LEN, Header};

/// The default maximum `command_length`: 64 KiB of `message_payload` plus 1 KiB of the rest.
pub const DEFAULT_MAX_PDU_LEN: u32 = 64 * 1024 + 1024;

/// What kind of bytes broke the framing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameErrorKind {
    /// `command_length` below 16.
    TooShort,
    /// `command_length` above the maximum.
    TooLong,
    /// Not SMPP at all: an HTTP request or other text protocol.
    Text,
    /// Not SMPP at all: a TLS ClientHello (a client speaking TLS to the plaintext port).
    Tls,
}

/// The stream cannot be framed: answer `generic_nack` + `ESME_RINVCMDLEN` (for `TooShort` and
/// `TooLong`) and close, because no later frame boundary can be trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unframeable input ({kind:?}, command_length {command_length})")]
pub struct FrameError {
    /// What was wrong.
    pub kind: FrameErrorKind,
    /// The length read from the stream.
    pub command_length: u32,
    /// The header's sequence number if 16 octets had arrived, else 0.
    pub sequence_number: u32,
}

impl FrameError {
    /// Whether the peer is speaking another protocol (close without answering).
    pub fn is_foreign(&self) -> bool {
        matches!(self.kind, FrameErrorKind::Text | FrameErrorKind::Tls)
    }
}

/// Cuts whole frames off the front of a receive buffer.
#[derive(Clone, Copy, Debug)]
pub struct FrameDecoder {
    max_len: u32,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_PDU_LEN)
    }
}

impl FrameDecoder {
    /// A decoder accepting frames of up to `max_len` octets (at least 16).
    pub fn new(max_len: u32) -> Self {
        Self {
            max_len: max_len.max(HEADER_LEN as u32),
        }
    }

    /// The maximum frame length.
    pub fn max_len(&self) -> u32 {
        self.max_len
    }

    /// Takes the next whole frame off `buf` (no copy: the frame shares `buf`'s allocation), or
    /// `Ok(None)` when more octets are needed. After an error the stream is unusable.
    pub fn decode(&self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        if buf.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
        if len < HEADER_LEN as u32 || len > self.max_len {
            let kind = classify(buf, len);
            return Err(FrameError {
                kind,
                command_length: len,
                sequence_number: Header::peek(buf).map_or(0, |h| h.sequence_number),
            });
        }
        if buf.len() < len as usize {
            // Reserve room for the rest of this frame only: bounded by the maximum length.
            buf.reserve(len as usize - buf.len());
            return Ok(None);
        }
        Ok(Some(buf.split_to(len as usize).freeze()))
    }

    /// Discards `n` octets (used by fuzzers and tests that resynchronise by hand).
    pub fn skip(buf: &mut BytesMut, n: usize) {
        buf.advance(n.min(buf.len()));
    }
}

/// Recognises other protocols on the port: a TLS record header, or printable ASCII such as
/// `GET `, `POST`, `HTTP` or `AMQP` (seen as lengths 1213486160 and 1095586128 in the wild).
fn classify(buf: &[u8], len: u32) -> FrameErrorKind {
    if buf[0] == 0x16 && buf[1] == 0x03 {
        return FrameErrorKind::Tls;
    }
    if buf[..4].iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        return FrameErrorKind::Text;
    }
    if len < HEADER_LEN as u32 {
        FrameErrorKind::TooShort
    } else {
        FrameErrorKind::TooLong
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_for_whole_frames_and_splits_them() {
        let d = FrameDecoder::default();
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&[0, 0, 0, 16, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0]);
        assert_eq!(d.decode(&mut buf), Ok(None));
        buf.extend_from_slice(&[0, 1, 0xAA]);
        let f = d.decode(&mut buf).unwrap().unwrap();
        assert_eq!(f.len(), 16);
        assert_eq!(buf.len(), 1);
    }

    #[test]
    fn rejects_bad_lengths_before_buffering() {
        let d = FrameDecoder::new(1024);
        let mut short = BytesMut::from(&[0u8, 0, 0, 8][..]);
        assert_eq!(
            d.decode(&mut short).unwrap_err().kind,
            FrameErrorKind::TooShort
        );
        let mut long = BytesMut::from(&[0u8, 0, 0x10, 0][..]);
        let e = d.decode(&mut long).unwrap_err();
        assert_eq!(
            (e.kind, e.command_length, e.sequence_number),
            (FrameErrorKind::TooLong, 4096, 0)
        );
        assert!(long.capacity() < 4096);
        let mut with_header =
            BytesMut::from(&[0u8, 0, 0, 5, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 9][..]);
        assert_eq!(d.decode(&mut with_header).unwrap_err().sequence_number, 9);
    }

    #[test]
    fn recognises_foreign_protocols() {
        let d = FrameDecoder::default();
        let mut http = BytesMut::from(&b"GET / HTTP/1.1\r\n"[..]);
        assert_eq!(d.decode(&mut http).unwrap_err().kind, FrameErrorKind::Text);
        let mut amqp = BytesMut::from(&b"AMQP\x00\x00\x09\x01"[..]);
        assert!(d.decode(&mut amqp).unwrap_err().is_foreign());
        let mut tls = BytesMut::from(&[0x16u8, 0x03, 0x01, 0x02, 0x00, 0x01][..]);
        assert_eq!(d.decode(&mut tls).unwrap_err().kind, FrameErrorKind::Tls);
    }
}
