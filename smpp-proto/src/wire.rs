//! Reading and writing the SMPP wire types: big-endian integers, C-octet strings
//! with a maximum size including the NUL, and octet strings whose length comes from elsewhere.
//!
//! The reader slices the frame's [`Bytes`] (a reference-count increment, no copy, no allocation);
//! the writer appends to the caller's [`BytesMut`].

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Why a field could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldError {
    /// The body ended before the field did.
    Truncated,
    /// A C-octet string ran past its maximum size without a NUL.
    TooLong,
}

/// A cursor over one frame's body.
#[derive(Clone, Debug)]
pub struct Reader {
    buf: Bytes,
    pos: usize,
}

impl Reader {
    /// A reader over `buf`, starting at its first octet.
    pub fn new(buf: Bytes) -> Self {
        Self { buf, pos: 0 }
    }

    /// A reader over `buf`, starting at octet `pos` (no new slice, so no reference count).
    pub fn at(buf: Bytes, pos: usize) -> Self {
        let pos = pos.min(buf.len());
        Self { buf, pos }
    }

    /// Octets not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Reads an `Int1`.
    pub fn u8(&mut self) -> Result<u8, FieldError> {
        let v = *self.buf.get(self.pos).ok_or(FieldError::Truncated)?;
        self.pos += 1;
        Ok(v)
    }

    /// Reads an `Int2`, big-endian.
    pub fn u16(&mut self) -> Result<u16, FieldError> {
        let s = self.take(2)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }

    /// Reads an `Int4`, big-endian.
    pub fn u32(&mut self) -> Result<u32, FieldError> {
        let s = self.take(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }

    /// Reads `N` consecutive `Int1` fields at once (one bounds check instead of `N`).
    #[inline]
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], FieldError> {
        let end = self.pos.checked_add(N).ok_or(FieldError::Truncated)?;
        let s: [u8; N] = self
            .buf
            .get(self.pos..end)
            .and_then(|s| s.try_into().ok())
            .ok_or(FieldError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    fn take(&mut self, n: usize) -> Result<&[u8], FieldError> {
        let end = self.pos.checked_add(n).ok_or(FieldError::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(FieldError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    /// Reads an `OS(n)`: exactly `n` octets, which may contain `0x00`. When they end the body
    /// (a `short_message` without TLVs after it), the reader hands over its own handle on the
    /// frame instead of taking another (no reference count on either side).
    pub fn octets(&mut self, n: usize) -> Result<Bytes, FieldError> {
        let end = self.pos.checked_add(n).ok_or(FieldError::Truncated)?;
        if end > self.buf.len() {
            return Err(FieldError::Truncated);
        }
        if n == 0 {
            // Holds nothing, so keeps no frame (nor the read buffer it shares) alive.
            return Ok(Bytes::new());
        }
        if end == self.buf.len() {
            let mut v = std::mem::take(&mut self.buf);
            v.advance(self.pos);
            self.pos = 0;
            return Ok(v);
        }
        let v = self.buf.slice(self.pos..end);
        self.pos = end;
        Ok(v)
    }

    /// Reads a `COS(max)`: octets up to a NUL, at most `max` octets including the NUL. The
    /// value excludes the NUL. Octets ≥ 0x80 are accepted (real peers send them).
    pub fn cstr(&mut self, max: usize) -> Result<Bytes, FieldError> {
        let n = self.cstr_len(max)?;
        let v = self.buf.slice(self.pos..self.pos + n);
        self.pos += n + 1;
        Ok(v)
    }

    /// The length of the `COS(max)` value at the cursor, without its NUL.
    fn cstr_len(&self, max: usize) -> Result<usize, FieldError> {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        let window = &rest[..rest.len().min(max)];
        match window.iter().position(|&b| b == 0) {
            Some(n) => Ok(n),
            None if rest.len() < max => Err(FieldError::Truncated),
            None => Err(FieldError::TooLong),
        }
    }

    /// Reads a `COS(max)` like [`Reader::cstr`], copying the value (for addresses, kept inline).
    #[inline]
    pub fn cstr_inline(&mut self, max: usize) -> Result<crate::addr::AddrBytes, FieldError> {
        let n = self.cstr_len(max)?;
        let v = crate::addr::AddrBytes::from_prefix(&self.buf[self.pos..], n);
        self.pos += n + 1;
        Ok(v)
    }

    /// Reads a `COS(N + 1)` into a [`ShortStr`] (no reference count).
    pub fn cstr_short<const N: usize>(&mut self) -> Result<crate::short::ShortStr<N>, FieldError> {
        let n = self.cstr_len(N + 1)?;
        let v = crate::short::ShortStr::new(&self.buf[self.pos..self.pos + n])
            .ok_or(FieldError::TooLong)?;
        self.pos += n + 1;
        Ok(v)
    }

    /// Reads a C-octet string leniently, for peers that leave the NUL out of a last field: up to a
    /// NUL, or to the end of the body, at most `max - 1` octets of value.
    pub fn cstr_lenient(&mut self, max: usize) -> Result<Bytes, FieldError> {
        match self.cstr(max) {
            Err(FieldError::Truncated) => Ok(self.rest()),
            other => other,
        }
    }

    /// The TLV area: everything not yet read, checked by [`crate::tlv::Tlvs::parse`]
    /// on the borrowed octets and then sliced once (one reference count, not two).
    pub fn tlvs(&mut self) -> Result<crate::tlv::Tlvs, crate::tlv::TlvError> {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        let whole = crate::tlv::Tlvs::whole_len(rest)?;
        let area = self.buf.slice(self.pos..self.pos + whole);
        self.pos = self.buf.len();
        Ok(crate::tlv::Tlvs::from_checked(area))
    }

    /// Everything not yet read.
    pub fn rest(&mut self) -> Bytes {
        let v = self.buf.slice(self.pos..);
        self.pos = self.buf.len();
        v
    }
}

/// Why a field could not be written: the router is strict in what it emits.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A C-octet string is longer than its field allows.
    #[error("{field} is {len} octets; at most {max} allowed")]
    TooLong {
        /// The field's spec name.
        field: &'static str,
        /// Its length in octets, without the NUL.
        len: usize,
        /// The most octets allowed, without the NUL.
        max: usize,
    },
    /// A C-octet string contains a NUL, which would cut it short on the wire.
    #[error("{field} contains a NUL octet")]
    EmbeddedNul {
        /// The field's spec name.
        field: &'static str,
    },
    /// A time field is neither empty nor 16 characters.
    #[error("{field} must be empty or 16 characters, not {len}")]
    BadTime {
        /// The field's spec name.
        field: &'static str,
        /// Its length.
        len: usize,
    },
    /// The PDU would exceed the 32-bit `command_length`.
    #[error("the PDU is too large to encode")]
    TooLarge,
}

/// Writes a `COS(max)`: the value then a NUL, checking the limit.
pub fn put_cstr(
    out: &mut BytesMut,
    field: &'static str,
    value: &[u8],
    max: usize,
) -> Result<(), EncodeError> {
    check_cstr(field, value, max)?;
    out.put_slice(value);
    out.put_u8(0);
    Ok(())
}

/// Checks that `value` fits a `COS(max)`: shorter than `max` and without a NUL.
pub fn check_cstr(field: &'static str, value: &[u8], max: usize) -> Result<(), EncodeError> {
    if value.len() >= max {
        return Err(EncodeError::TooLong {
            field,
            len: value.len(),
            max: max - 1,
        });
    }
    if value.contains(&0) {
        return Err(EncodeError::EmbeddedNul { field });
    }
    Ok(())
}

/// Writes a `COSF(17)` time field: a lone NUL, or 16 characters and a NUL.
pub fn put_time(out: &mut BytesMut, field: &'static str, value: &[u8]) -> Result<(), EncodeError> {
    check_time(field, value)?;
    out.put_slice(value);
    out.put_u8(0);
    Ok(())
}

/// Checks that `value` fits a `COSF(17)` time field: empty, or 16 characters without a NUL.
pub fn check_time(field: &'static str, value: &[u8]) -> Result<(), EncodeError> {
    if !value.is_empty() && value.len() != 16 {
        return Err(EncodeError::BadTime {
            field,
            len: value.len(),
        });
    }
    check_cstr(field, value, 17)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octets_ending_the_body_take_the_frame() {
        let mut r = Reader::new(Bytes::from_static(b"ab\0xyz"));
        assert_eq!(r.cstr(3).unwrap(), Bytes::from_static(b"ab"));
        assert_eq!(r.octets(4), Err(FieldError::Truncated));
        assert_eq!(r.octets(1).unwrap(), Bytes::from_static(b"x"));
        assert_eq!(r.octets(2).unwrap(), Bytes::from_static(b"yz"));
        assert_eq!(r.remaining(), 0);
        assert_eq!(r.octets(0).unwrap(), Bytes::new());
        assert_eq!(r.u8(), Err(FieldError::Truncated));
        assert_eq!(r.rest(), Bytes::new());
    }

    #[test]
    fn empty_octets_keep_no_frame_alive() {
        let frame = Bytes::from(b"ab".to_vec());
        let mut r = Reader::at(frame.clone(), 2);
        let empty = r.octets(0).unwrap();
        drop(r);
        assert!(empty.is_empty());
        assert!(
            frame.is_unique(),
            "the empty value holds no reference to the frame"
        );
    }

    #[test]
    fn cstr_limits() {
        let mut r = Reader::new(Bytes::from_static(b"abc\0def\0"));
        assert_eq!(r.cstr(4).unwrap(), Bytes::from_static(b"abc"));
        assert_eq!(r.cstr(3), Err(FieldError::TooLong));
        let mut r = Reader::new(Bytes::from_static(b"ab"));
        assert_eq!(r.cstr(10), Err(FieldError::Truncated));
        let mut r = Reader::new(Bytes::from_static(b"\0"));
        assert_eq!(r.cstr(1).unwrap(), Bytes::new());
        let mut r = Reader::new(Bytes::from_static(b"id-without-nul"));
        assert_eq!(
            r.cstr_lenient(65).unwrap(),
            Bytes::from_static(b"id-without-nul")
        );
    }

    #[test]
    fn put_cstr_is_strict() {
        let mut out = BytesMut::new();
        assert!(put_cstr(&mut out, "f", b"12345678", 9).is_ok());
        assert!(put_cstr(&mut out, "f", b"123456789", 9).is_err());
        assert!(put_cstr(&mut out, "f", b"a\0b", 9).is_err());
        assert!(put_time(&mut out, "t", b"2503151430000").is_err());
        assert!(put_time(&mut out, "t", b"250315143000004+").is_ok());
    }
}
