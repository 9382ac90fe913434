//! [`AddrBytes`]: the octets of an SMPP address, kept inline.
//!
//! Keeping addresses inline instead of as a slice of the frame saves two atomic reference-count
//! operations per address per PDU (one when decoding, one when dropping), which were a third of
//! the time to decode a `submit_sm` (`cargo bench -p smpp-router --bench codec`). The inline
//! room is sized for the addresses that occur — E.164 numbers have at most 15 digits, alphanumeric
//! senders at most 11 characters, `submit_sm`/`deliver_sm` allow 20 — and kept small, because
//! every `submit_sm` carries two of them and a larger PDU costs more to move: 22 octets, so that
//! an [`AddrBytes`] is 24 bytes. A longer value (only `data_sm` and a few rare PDUs allow up to
//! 64 octets) is kept on the heap.

use std::fmt;
use std::ops::Deref;

/// The most octets kept inline.
pub const INLINE_MAX: usize = 22;

/// An address's octets, without the NUL.
#[derive(Clone)]
pub struct AddrBytes(Repr);

#[derive(Clone)]
enum Repr {
    Inline { len: u8, buf: [u8; INLINE_MAX] },
    Heap(Box<[u8]>),
}

impl AddrBytes {
    /// Copies `value`.
    pub fn new(value: &[u8]) -> Self {
        if value.len() <= INLINE_MAX {
            let mut buf = [0u8; INLINE_MAX];
            buf[..value.len()].copy_from_slice(value);
            Self(Repr::Inline {
                len: value.len() as u8,
                buf,
            })
        } else {
            Self(Repr::Heap(value.into()))
        }
    }

    /// The first `len` octets of `window`, which may hold more (the rest of the frame): when it
    /// holds [`INLINE_MAX`] octets, they are copied whole — a fixed-size copy, cheaper than one of
    /// `len` octets; what lies beyond `len` is never read.
    #[inline]
    pub(crate) fn from_prefix(window: &[u8], len: usize) -> Self {
        match window.get(..INLINE_MAX) {
            Some(fixed) if len <= INLINE_MAX => {
                let mut buf = [0u8; INLINE_MAX];
                buf.copy_from_slice(fixed);
                Self(Repr::Inline {
                    len: len as u8,
                    buf,
                })
            }
            _ => Self::new(&window[..len]),
        }
    }

    /// The whole inline room and the value's length in it, for a fixed-size copy; `None` for a
    /// value on the heap. Octets past the length are whatever the frame held there: a caller
    /// must never let them out (`Head` overwrites them with the next field).
    #[inline]
    pub(crate) fn window(&self) -> Option<(&[u8; INLINE_MAX], usize)> {
        match &self.0 {
            Repr::Inline { len, buf } => Some((buf, usize::from(*len))),
            Repr::Heap(_) => None,
        }
    }

    /// The octets.
    pub fn as_slice(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, buf } => &buf[..usize::from(*len)],
            Repr::Heap(b) => b,
        }
    }
}

impl Default for AddrBytes {
    fn default() -> Self {
        Self::new(&[])
    }
}

impl Deref for AddrBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for AddrBytes {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl fmt::Debug for AddrBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b\"{}\"", self.as_slice().escape_ascii())
    }
}

impl PartialEq for AddrBytes {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for AddrBytes {}

impl std::hash::Hash for AddrBytes {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl PartialEq<[u8]> for AddrBytes {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_slice() == other
    }
}

impl PartialEq<str> for AddrBytes {
    fn eq(&self, other: &str) -> bool {
        self.as_slice() == other.as_bytes()
    }
}

impl PartialEq<&str> for AddrBytes {
    fn eq(&self, other: &&str) -> bool {
        self.as_slice() == other.as_bytes()
    }
}

impl PartialEq<&[u8]> for AddrBytes {
    fn eq(&self, other: &&[u8]) -> bool {
        self.as_slice() == *other
    }
}

macro_rules! from_bytes_like {
    ($($t:ty),*) => {$(
        impl From<$t> for AddrBytes {
            fn from(v: $t) -> Self {
                Self::new(AsRef::<[u8]>::as_ref(&v))
            }
        }
    )*};
}

from_bytes_like!(&str, String, &String, &[u8], Vec<u8>, bytes::Bytes);

impl<const N: usize> From<&[u8; N]> for AddrBytes {
    fn from(v: &[u8; N]) -> Self {
        Self::new(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_and_heap_compare_by_content() {
        let short = AddrBytes::from("14155551234");
        assert_eq!(short, "14155551234");
        assert_eq!(&*short, b"14155551234");
        let long = vec![b'7'; 100];
        let heap = AddrBytes::from(long.clone());
        assert_eq!(heap.len(), 100);
        assert_eq!(heap, long.as_slice());
        assert_eq!(AddrBytes::from(&long[..64]).len(), 64);
        assert_eq!(format!("{:?}", AddrBytes::from("a\"b")), "b\"a\\\"b\"");
        assert!(AddrBytes::default().is_empty());
    }
}
