//! [`Head`]: the mandatory fields of a PDU body assembled on the stack, then appended to the
//! output in one copy.
//!
//! Appending field by field costs a capacity check and a call to `memcpy` per field — seven for
//! the mandatory part of a `submit_sm`, most of them a handful of octets. Inline values
//! ([`crate::addr::AddrBytes`], [`crate::short::ShortStr`]) are instead copied whole
//! into a stack buffer — a copy of a size known at compile time, done in registers — and the
//! cursor moves on by the value's length plus its NUL, so the next field overwrites what lay
//! beyond (`cargo bench -p smpp-router --bench codec`).

use crate::wire::EncodeError;

/// Room for the largest mandatory part the router assembles here (`submit_sm`: 94 octets, whose
/// furthest whole-window copy ends at octet 88) with slack to spare.
const CAP: usize = 128;

/// A stack buffer and a cursor. Writing past the room is not a panic: the write is dropped and
/// [`Head::octets`] reports the body as too large.
pub(crate) struct Head {
    buf: [u8; CAP],
    len: usize,
    overflow: bool,
}

impl Head {
    /// An empty head.
    #[inline]
    pub fn new() -> Self {
        Self {
            buf: [0; CAP],
            len: 0,
            overflow: false,
        }
    }

    /// Appends one octet.
    #[inline]
    pub fn u8(&mut self, v: u8) {
        match self.buf.get_mut(self.len) {
            Some(b) => *b = v,
            None => self.overflow = true,
        }
        self.len += 1;
    }

    /// Appends the first `len` octets of `window` and a NUL, copying all `W` octets of `window`
    /// (the octets past `len` are overwritten by whatever comes next). `len` must not exceed `W`.
    #[inline]
    pub fn cstr_window<const W: usize>(&mut self, window: &[u8; W], len: usize) {
        let end = self.len + W;
        match self.buf.get_mut(self.len..end) {
            Some(dst) => dst.copy_from_slice(window),
            None => self.overflow = true,
        }
        self.len += len.min(W);
        self.u8(0);
    }

    /// Appends `value` and a NUL with a copy of `value`'s length (for values not kept inline).
    pub fn cstr(&mut self, value: &[u8]) {
        let end = self.len + value.len();
        match self.buf.get_mut(self.len..end) {
            Some(dst) => dst.copy_from_slice(value),
            None => self.overflow = true,
        }
        self.len = end;
        self.u8(0);
    }

    /// What was written.
    #[inline]
    pub fn octets(&self) -> Result<&[u8], EncodeError> {
        match self.buf.get(..self.len) {
            Some(octets) if !self.overflow => Ok(octets),
            _ => Err(EncodeError::TooLarge),
        }
    }
}

impl Default for Head {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_follow_each_other() {
        let mut h = Head::new();
        h.u8(7);
        h.cstr_window(b"abcXXXXX", 3);
        h.cstr(b"de");
        h.cstr_window(&[0u8; 4], 0);
        h.u8(9);
        assert_eq!(h.octets().unwrap(), b"\x07abc\0de\0\0\x09");
    }

    #[test]
    fn overflow_is_an_error_not_a_panic() {
        let mut h = Head::new();
        for _ in 0..CAP {
            h.cstr_window(&[1u8; 22], 22);
        }
        h.cstr(&[2u8; 300]);
        assert_eq!(h.octets(), Err(EncodeError::TooLarge));
        // A whole-window copy that does not fit is an error even when the value would.
        let mut h = Head::new();
        h.cstr(&[1u8; CAP - 10]);
        h.cstr_window(&[3u8; 22], 2);
        assert_eq!(h.octets(), Err(EncodeError::TooLarge));
    }
}
