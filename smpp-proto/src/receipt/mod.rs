//! Delivery receipts (DLRs): reading the receipt text of any carrier leniently,
//! combining it with the receipt TLVs, writing the canonical text the router sends its own
//! clients, and keying message ids so that a receipt finds its submission.
//!
//! Sans-IO: no clock (times come in as arguments), no I/O, and no panic on any input.
//!
//! - [`parse`] reads `id:… sub:… dlvrd:… submit date:… done date:… stat:… err:… text:…` into a
//!   [`ReceiptText`] of slices of the input; every field is optional.
//! - [`Receipt::from_parts`] combines it with `receipted_message_id`, `message_state` and
//!   `network_error_code`, TLVs first.
//! - [`format_receipt`] writes the canonical text; [`rewrite_id`] swaps the id of a relayed
//!   one and leaves every other byte alone.
//! - [`ReceiptDate`] handles the 10-, 12- and 14-digit dates and converts from Unix time.
//! - [`normalize_id`], [`hex_to_decimal`], [`decimal_to_hex`] and [`IdMatch`] key ids.
//!
//! Labels are found case-insensitively, in any order, and only before the first `text:` label,
//! so that the user text cannot inject labels. A label counts only at the start of the text or
//! after a character that is not an ASCII letter, digit or `_` (so `msgid:` is not `id:`). A
//! field's value is the first whitespace-separated token between its label and the next label;
//! `text` is everything after `text:`, verbatim.

pub(crate) mod date;
mod id;

use std::borrow::Cow;
use std::fmt::Write as _;

pub use date::ReceiptDate;
pub use id::{IdMatch, decimal_to_hex, hex_to_decimal, normalize_id};

use crate::values::MessageState;

/// The labels looked for before `text:`; indexes are the `L_*` constants.
const LABELS: [&str; 7] = [
    "id:",
    "sub:",
    "dlvrd:",
    "submit date:",
    "done date:",
    "stat:",
    "err:",
];
const L_ID: usize = 0;
const L_SUB: usize = 1;
const L_DLVRD: usize = 2;
const L_SUBMIT: usize = 3;
const L_DONE: usize = 4;
const L_STAT: usize = 5;
const L_ERR: usize = 6;
/// The label after which everything is user text.
const TEXT_LABEL: &str = "text:";

/// The fields of a receipt's text, each a slice of the input or a value read from one.
///
/// A label that is missing, or whose value is empty, gives `None` (except `text`, which is
/// `Some("")` for an empty `text:`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReceiptText<'a> {
    /// `id:`: the MC's message id, as written (any alphabet, any length).
    pub id: Option<&'a str>,
    /// `sub:` read as an integer (leading digits, saturating); `None` when it has none.
    pub sub: Option<u32>,
    /// `dlvrd:` read as an integer (leading digits, saturating); `None` when it has none.
    pub dlvrd: Option<u32>,
    /// `submit date:` as written.
    pub submit_date_raw: Option<&'a str>,
    /// `submit date:` read by [`ReceiptDate::parse`]; `None` when all zeros or unreadable.
    pub submit_date: Option<ReceiptDate>,
    /// `done date:` as written.
    pub done_date_raw: Option<&'a str>,
    /// `done date:` read by [`ReceiptDate::parse`]; `None` when all zeros or unreadable.
    pub done_date: Option<ReceiptDate>,
    /// `stat:` as written.
    pub stat: Option<&'a str>,
    /// `stat:` mapped by [`MessageState::from_stat_text`] (unknown words give `UNKNOWN`).
    pub state: Option<MessageState>,
    /// `err:` as written: a string of one or more characters, not an SMPP status.
    pub err: Option<&'a str>,
    /// Everything after the first `text:` label (any case), verbatim; `None` without the label.
    pub text: Option<&'a str>,
}

/// Where the labels of a receipt text are: byte offsets of each label's start.
struct Layout {
    /// Start of each of [`LABELS`], first occurrence before `text:`.
    labels: [Option<usize>; 7],
    /// Start of the `text:` label.
    text: Option<usize>,
    /// End of the part searched for labels: the `text:` label's start, or the end.
    prefix_end: usize,
}

impl Layout {
    /// One pass over the text: at each word boundary, is a label starting here? The first
    /// `text:` ends the search; each other label counts at its first place before it.
    fn of(s: &str) -> Self {
        let bytes = s.as_bytes();
        let mut labels = [None; 7];
        let mut text = None;
        let mut after_word = false;
        for (i, &b) in bytes.iter().enumerate() {
            let class = BYTE_CLASS[usize::from(b)];
            let at_boundary = !after_word;
            after_word = class & WORD != 0;
            // Every label starts with one of a few letters: skip the rest cheaply.
            if !(at_boundary && class & LABEL_START != 0) {
                continue;
            }
            let first = b.to_ascii_lowercase();
            let here = bytes.get(i..).unwrap_or_default();
            if first == b't' && starts_with_label(here, TEXT_LABEL) {
                text = Some(i);
                break;
            }
            for (found, label) in labels.iter_mut().zip(LABELS) {
                if found.is_none()
                    && label.as_bytes().first() == Some(&first)
                    && starts_with_label(here, label)
                {
                    *found = Some(i);
                }
            }
        }
        Self {
            labels,
            text,
            prefix_end: text.unwrap_or(bytes.len()),
        }
    }

    /// Byte range of label `k`'s value token; empty (at the label's end) when the value is.
    fn token(&self, s: &str, k: usize) -> Option<(usize, usize)> {
        let own = (*self.labels.get(k)?)?;
        let start = own + LABELS.get(k)?.len();
        // Labels cannot overlap, so every other label starts before `own` or at/after `start`.
        let end = self
            .labels
            .iter()
            .flatten()
            .copied()
            .filter(|&p| p > own)
            .min()
            .unwrap_or(self.prefix_end);
        let run = s.get(start..end)?;
        let value = run.trim_start();
        let lead = run.len() - value.len();
        let len = value.find(char::is_whitespace).unwrap_or(value.len());
        if len == 0 {
            return Some((start, start));
        }
        Some((start + lead, start + lead + len))
    }

    /// Label `k`'s value token, `None` when missing or empty.
    fn value<'a>(&self, s: &'a str, k: usize) -> Option<&'a str> {
        let (a, b) = self.token(s, k)?;
        s.get(a..b).filter(|v| !v.is_empty())
    }
}

/// [`BYTE_CLASS`] bit: the byte continues a word (ASCII letter, digit or `_`), so a label
/// cannot start right after it.
const WORD: u8 = 1;
/// [`BYTE_CLASS`] bit: a label (or `text:`) may start with the byte, in either case.
const LABEL_START: u8 = 2;

/// The class of every byte, so that the scan for labels reads one table entry per byte.
const BYTE_CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_alphanumeric() || c == b'_' {
            table[b] |= WORD;
        }
        if matches!(c.to_ascii_lowercase(), b'i' | b's' | b'd' | b'e' | b't') {
            table[b] |= LABEL_START;
        }
        b += 1;
    }
    table
};

/// Whether `hay` starts with `label` (ASCII, matched case-insensitively).
fn starts_with_label(hay: &[u8], label: &str) -> bool {
    hay.get(..label.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(label.as_bytes()))
}

/// Reads the leading ASCII digits of `s` as an integer, saturating; `None` without any.
fn lenient_u32(s: &str) -> Option<u32> {
    let digits = s.bytes().take_while(u8::is_ascii_digit);
    let mut any = false;
    let mut n = 0u32;
    for b in digits {
        any = true;
        n = n.saturating_mul(10).saturating_add(u32::from(b - b'0'));
    }
    any.then_some(n)
}

/// Parses a receipt's text leniently; never fails, every field is optional.
pub fn parse(text: &str) -> ReceiptText<'_> {
    let layout = Layout::of(text);
    let value = |k| layout.value(text, k);
    let stat = value(L_STAT);
    let submit_date_raw = value(L_SUBMIT);
    let done_date_raw = value(L_DONE);
    ReceiptText {
        id: value(L_ID),
        sub: value(L_SUB).and_then(lenient_u32),
        dlvrd: value(L_DLVRD).and_then(lenient_u32),
        submit_date_raw,
        submit_date: submit_date_raw.and_then(ReceiptDate::parse),
        done_date_raw,
        done_date: done_date_raw.and_then(ReceiptDate::parse),
        stat,
        state: stat.map(MessageState::from_stat_text),
        err: value(L_ERR),
        text: layout.text.and_then(|p| text.get(p + TEXT_LABEL.len()..)),
    }
}

/// Whether the text has both an `id:` and a `stat:` label before `text:` (the per-upstream
/// fallback for MCs that send receipts with esm_class 0; spoofable by MO text).
pub fn looks_like_receipt(text: &str) -> bool {
    let layout = Layout::of(text);
    layout.labels[L_ID].is_some() && layout.labels[L_STAT].is_some()
}

/// Replaces the value of the first `id:` label before `text:` with `new_id`, leaving every other
/// byte unchanged — also bytes that are not UTF-8 (a Latin-1 `text:`); an empty value gets
/// `new_id` right after the label. `None` without the label.
pub fn rewrite_id(text: &[u8], new_id: &str) -> Option<Vec<u8>> {
    // The labels are ASCII: any other byte stands in as one `?`, which keeps the offsets.
    let ascii: Cow<'_, str> = match std::str::from_utf8(text) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => Cow::Owned(
            text.iter()
                .map(|&b| if b.is_ascii() { char::from(b) } else { '?' })
                .collect(),
        ),
    };
    let (a, b) = Layout::of(&ascii).token(&ascii, L_ID)?;
    let mut out = Vec::with_capacity(text.len() + new_id.len());
    out.extend_from_slice(text.get(..a)?);
    out.extend_from_slice(new_id.as_bytes());
    out.extend_from_slice(text.get(b..)?);
    Some(out)
}

/// The decoded `network_error_code` TLV (0x0423).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NetworkError {
    /// The network type octet (1 = ANSI-136, 2 = IS-95, 3 = GSM, …); `None` for the ASCII form.
    pub network_type: Option<u8>,
    /// The network-specific error code.
    pub error_code: u16,
}

impl NetworkError {
    /// Decodes the TLV value: a type octet and a big-endian Int2 (3 octets), or the malformed
    /// ASCII-digit form some MCs send (`"000"`; trailing NULs ignored).
    pub fn decode(value: &[u8]) -> Option<Self> {
        let mut digits = value;
        while let [rest @ .., 0] = digits {
            digits = rest;
        }
        if !digits.is_empty() && digits.len() <= 5 && digits.iter().all(u8::is_ascii_digit) {
            let n = digits
                .iter()
                .fold(0u32, |n, &b| n * 10 + u32::from(b - b'0'));
            return u16::try_from(n).ok().map(|error_code| Self {
                network_type: None,
                error_code,
            });
        }
        match *value {
            [t, hi, lo] => Some(Self {
                network_type: Some(t),
                error_code: u16::from_be_bytes([hi, lo]),
            }),
            _ => None,
        }
    }
}

/// A received receipt: its text fields combined with its TLVs, TLVs taking precedence.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Receipt<'a> {
    fields: ReceiptText<'a>,
    tlv_id: Option<&'a str>,
    tlv_state: Option<MessageState>,
    network_error: Option<NetworkError>,
}

impl<'a> Receipt<'a> {
    /// Combines the decoded text (`short_message`, or `message_payload` when that is empty) with
    /// the `receipted_message_id`, `message_state` and `network_error_code` TLVs, any absent.
    pub fn from_parts(
        text: Option<&'a str>,
        receipted_message_id: Option<&'a str>,
        message_state: Option<u8>,
        network_error_code: Option<&[u8]>,
    ) -> Self {
        Self {
            fields: text.map(parse).unwrap_or_default(),
            tlv_id: receipted_message_id
                .map(|s| s.trim_matches(|c: char| c.is_whitespace() || c == '\0'))
                .filter(|s| !s.is_empty()),
            tlv_state: message_state.map(MessageState),
            network_error: network_error_code.and_then(NetworkError::decode),
        }
    }

    /// The receipted message id: the TLV when present and not blank, else the text's `id:`.
    pub fn id(&self) -> Option<&'a str> {
        self.tlv_id.or(self.fields.id)
    }

    /// The message state: the `message_state` TLV when present (raw octet kept), else `stat:`.
    pub fn state(&self) -> Option<MessageState> {
        self.tlv_state.or(self.fields.state)
    }

    /// The error as a string: the text's `err:` as written, else the TLV's code in decimal
    /// (`03 08 02` gives `"2050"`).
    pub fn err(&self) -> Option<Cow<'a, str>> {
        match (self.fields.err, self.network_error) {
            (Some(e), _) => Some(Cow::Borrowed(e)),
            (None, Some(n)) => Some(Cow::Owned(n.error_code.to_string())),
            (None, None) => None,
        }
    }

    /// The decoded `network_error_code` TLV, if present and well formed.
    pub fn network_error(&self) -> Option<NetworkError> {
        self.network_error
    }

    /// The fields parsed from the text (all `None` when there was no text).
    pub fn fields(&self) -> &ReceiptText<'a> {
        &self.fields
    }
}

/// What goes into a receipt the router sends to its own clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceiptFields<'a> {
    /// The router's message id, as given in its `submit_sm_resp` (must not contain whitespace).
    pub id: &'a str,
    /// `sub:`, printed with at least 3 digits.
    pub submitted: u32,
    /// `dlvrd:`, printed with at least 3 digits.
    pub delivered: u32,
    /// `submit date:`, printed as `YYMMDDhhmm`.
    pub submit_date: ReceiptDate,
    /// `done date:`, printed as `YYMMDDhhmm`.
    pub done_date: ReceiptDate,
    /// `stat:`, printed as its seven-letter word.
    pub state: MessageState,
    /// `err:`: zero-padded to 3 when all digits and shorter, otherwise as is.
    pub err: &'a str,
    /// `text:`: the first up to 20 characters are printed.
    pub text: &'a str,
}

/// Appends the canonical receipt text: `id:<id> sub:001 dlvrd:001 submit date:YYMMDDhhmm
/// done date:YYMMDDhhmm stat:DELIVRD err:000 text:<up to 20 characters>`.
pub fn format_receipt(out: &mut String, f: &ReceiptFields<'_>) {
    let _ = write!(
        out,
        "id:{} sub:{:03} dlvrd:{:03} submit date:",
        f.id, f.submitted, f.delivered
    );
    f.submit_date.write_yymmddhhmm(out);
    out.push_str(" done date:");
    f.done_date.write_yymmddhhmm(out);
    out.push_str(" stat:");
    out.push_str(f.state.stat_text());
    out.push_str(" err:");
    if f.err.len() < 3 && f.err.bytes().all(|b| b.is_ascii_digit()) {
        out.extend(std::iter::repeat_n('0', 3 - f.err.len()));
    }
    out.push_str(f.err);
    out.push_str(" text:");
    out.extend(f.text.chars().take(20));
}

impl ReceiptFields<'_> {
    /// The canonical receipt text as a new string (see [`format_receipt`]).
    pub fn to_text(&self) -> String {
        let mut out = String::with_capacity(120);
        format_receipt(&mut out, self);
        out
    }
}

#[cfg(test)]
mod tests;
