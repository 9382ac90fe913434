//! [`ShortStr`]: a short C-octet-string value kept inline.
//!
//! `service_type` (`COS(6)`: 5 octets) and the two times of `submit_sm` (`COSF(17)`: 16 octets)
//! are nearly always empty, and never long. Inline they cost no reference count to decode or to
//! drop, and make a `submit_sm` 45 bytes smaller to move than three [`bytes::Bytes`] handles
//! would (`cargo bench -p smpp-router --bench codec`).

use std::fmt;
use std::ops::Deref;

/// At most `N` octets, inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ShortStr<const N: usize> {
    len: u8,
    buf: [u8; N],
}

impl<const N: usize> ShortStr<N> {
    /// An empty value.
    pub const EMPTY: Self = Self {
        len: 0,
        buf: [0; N],
    };

    /// Copies `value`; `None` when it is longer than `N` octets.
    pub fn new(value: &[u8]) -> Option<Self> {
        if value.len() > N || N > u8::MAX as usize {
            return None;
        }
        let mut buf = [0u8; N];
        buf[..value.len()].copy_from_slice(value);
        Some(Self {
            len: value.len() as u8,
            buf,
        })
    }

    /// The octets.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }

    /// The whole inline room and the value's length in it, for a fixed-size copy.
    #[inline]
    pub(crate) fn window(&self) -> (&[u8; N], usize) {
        (&self.buf, usize::from(self.len))
    }
}

impl<const N: usize> Default for ShortStr<N> {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl<const N: usize> Deref for ShortStr<N> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl<const N: usize> AsRef<[u8]> for ShortStr<N> {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl<const N: usize> fmt::Debug for ShortStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b\"{}\"", self.as_slice().escape_ascii())
    }
}

impl<const N: usize> PartialEq<[u8]> for ShortStr<N> {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_slice() == other
    }
}

impl<const N: usize> PartialEq<&str> for ShortStr<N> {
    fn eq(&self, other: &&str) -> bool {
        self.as_slice() == other.as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_up_to_n_octets() {
        let t = ShortStr::<16>::new(b"000001120000000R").unwrap();
        assert_eq!(t, "000001120000000R");
        assert_eq!(t.len(), 16);
        assert!(ShortStr::<5>::new(b"TOOLONG").is_none());
        assert!(ShortStr::<5>::default().is_empty());
        assert_eq!(
            format!("{:?}", ShortStr::<5>::new(b"WAP").unwrap()),
            "b\"WAP\""
        );
    }
}
