//! The `deliver_sm`s the stand-in sends: delivery receipts in the common text format, with the
//! `receipted_message_id` and `message_state` TLVs or without ([`ReceiptForm`]), and
//! mobile-originated messages.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::hub::{Item, Kind};
use super::{IdFormat, ReceiptForm};
use smpp_router::smpp::pdu::{Pdu, Sm};
use smpp_router::smpp::receipt::{ReceiptDate, ReceiptFields};
use smpp_router::smpp::tlv::{TlvsBuilder, tag};
use smpp_router::smpp::values::{EsmClass, MessageState};

/// Room for a `u64` in decimal (20 digits) or hex (16), or a random-looking id (32 hex).
pub(super) type IdBuf = [u8; 32];

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A bijection on `u64` that scatters neighbouring values (SplitMix64's finaliser).
fn scramble(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Writes carrier id `n` into `buf` in `format` and returns it.
pub(super) fn format_id(n: u64, format: IdFormat, buf: &mut IdBuf) -> &str {
    let base: u64 = match format {
        IdFormat::Hex => 16,
        IdFormat::Decimal => 10,
        IdFormat::Random => {
            // Unique because `scramble` is a bijection; the second half only adds length.
            let id = (u128::from(scramble(n)) << 64) | u128::from(scramble(!n));
            for (i, b) in buf.iter_mut().enumerate() {
                *b = HEX[((id >> (124 - 4 * i)) & 0xf) as usize];
            }
            return std::str::from_utf8(buf).unwrap_or("0");
        }
    };
    let digits = HEX;
    let mut i = buf.len();
    let mut v = n;
    loop {
        i -= 1;
        buf[i] = digits[(v % base) as usize];
        v /= base;
        if v == 0 || i == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    std::str::from_utf8(&buf[i..]).unwrap_or("0")
}

/// Seconds since the Unix epoch, now.
pub(super) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The `deliver_sm` for `item`.
pub(super) fn deliver_sm(item: &Item, format: IdFormat, form: ReceiptForm) -> Pdu {
    match &item.kind {
        Kind::Receipt {
            id,
            submitted,
            state,
        } => receipt(item, *id, *submitted, *state, format, form),
        Kind::Mo { text } => Pdu::DeliverSm(Sm {
            source: item.source.clone(),
            dest: item.dest.clone(),
            short_message: text.clone(),
            ..Sm::default()
        }),
    }
}

fn receipt(
    item: &Item,
    id: u64,
    submitted: u64,
    state: MessageState,
    format: IdFormat,
    form: ReceiptForm,
) -> Pdu {
    let mut buf = IdBuf::default();
    let id = format_id(id, format, &mut buf);
    let delivered = state == MessageState::DELIVERED;
    let text = Bytes::from(
        ReceiptFields {
            id,
            submitted: 1,
            delivered: u32::from(delivered),
            submit_date: ReceiptDate::from_unix(submitted),
            done_date: ReceiptDate::from_unix(unix_now()),
            state,
            err: if delivered { "000" } else { "001" },
            text: "",
        }
        .to_text(),
    );
    let (short_message, tlvs) = match form {
        ReceiptForm::Tlv => (
            text,
            TlvsBuilder::new()
                .push_cstr(tag::RECEIPTED_MESSAGE_ID, id.as_bytes())
                .push_u8(tag::MESSAGE_STATE, state.0)
                .build(),
        ),
        ReceiptForm::Text => (text, Default::default()),
        ReceiptForm::Payload => (
            Bytes::new(),
            TlvsBuilder::new().push(tag::MESSAGE_PAYLOAD, &text).build(),
        ),
    };
    Pdu::DeliverSm(Sm {
        source: item.source.clone(),
        dest: item.dest.clone(),
        esm_class: EsmClass(EsmClass::MC_DELIVERY_RECEIPT),
        short_message,
        tlvs,
        ..Sm::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_in_both_formats() {
        let mut buf = IdBuf::default();
        assert_eq!(
            format_id(0x1a2b3c4d5e, IdFormat::Hex, &mut buf),
            "1a2b3c4d5e"
        );
        assert_eq!(
            format_id(112_568_516_958, IdFormat::Decimal, &mut buf),
            "112568516958"
        );
        assert_eq!(format_id(0, IdFormat::Hex, &mut buf), "0");
        assert_eq!(
            format_id(u64::MAX, IdFormat::Decimal, &mut buf),
            u64::MAX.to_string()
        );
        assert_eq!(
            format_id(u64::MAX, IdFormat::Hex, &mut buf),
            "ffffffffffffffff"
        );
        let a = format_id(1, IdFormat::Random, &mut buf).to_string();
        let b = format_id(2, IdFormat::Random, &mut buf).to_string();
        assert_eq!((a.len(), b.len()), (32, 32));
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a[..16], b[..16]);
    }
}
