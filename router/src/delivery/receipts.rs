//! Building the delivery receipts the router sends its clients (the format our
//! clients were promised): `deliver_sm` with esm_class 0x04, addresses swapped, `receipted_message_id` and
//! `message_state` TLVs, and the canonical text.

use bytes::Bytes;

use crate::smpp::pdu::{Address, Sm};
use crate::smpp::receipt::{ReceiptDate, ReceiptFields, format_receipt};
use crate::smpp::tlv::{TlvsBuilder, tag};
use crate::smpp::values::{EsmClass, MessageState};

/// What a receipt reports.
#[derive(Clone, Copy, Debug)]
pub struct ReceiptInfo<'a> {
    /// The router's message id, as given in `submit_sm_resp`.
    pub message_id: &'a str,
    /// The final (or intermediate) state.
    pub state: MessageState,
    /// The `err:` field, e.g. `000`.
    pub err: &'a str,
    /// When the message was submitted (Unix seconds).
    pub submitted_unix: u64,
    /// When it reached `state` (Unix seconds).
    pub done_unix: u64,
}

/// A receipt `deliver_sm` for `original` (the client's `submit_sm`).
pub fn build(original: &Sm, info: &ReceiptInfo<'_>) -> Sm {
    let delivered = u32::from(info.state == MessageState::DELIVERED);
    let mut text = String::with_capacity(128);
    format_receipt(
        &mut text,
        &ReceiptFields {
            id: info.message_id,
            submitted: 1,
            delivered,
            submit_date: ReceiptDate::from_unix(info.submitted_unix),
            done_date: ReceiptDate::from_unix(info.done_unix),
            state: info.state,
            err: info.err,
            text: "",
        },
    );
    let tlvs = TlvsBuilder::new()
        .push_cstr(tag::RECEIPTED_MESSAGE_ID, info.message_id.as_bytes())
        .push_u8(tag::MESSAGE_STATE, info.state.0)
        .build();
    Sm {
        source: Address {
            ton: original.dest.ton,
            npi: original.dest.npi,
            addr: original.dest.addr.clone(),
        },
        dest: Address {
            ton: original.source.ton,
            npi: original.source.npi,
            addr: original.source.addr.clone(),
        },
        esm_class: EsmClass(EsmClass::MC_DELIVERY_RECEIPT),
        short_message: Bytes::from(text),
        tlvs,
        ..Sm::default()
    }
}

/// Unix seconds now.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipt_in_the_seed_format() {
        let original = Sm {
            source: Address::new(5, 0, "MyBank"),
            dest: Address::new(1, 1, "14155551234"),
            ..Sm::default()
        };
        let info = ReceiptInfo {
            message_id: "123456",
            state: MessageState::DELIVERED,
            err: "000",
            submitted_unix: 1_770_906_600, // 2026-02-12 14:30 UTC
            done_unix: 1_770_906_600,
        };
        let r = build(&original, &info);
        assert_eq!(
            &r.short_message[..],
            b"id:123456 sub:001 dlvrd:001 submit date:2602121430 done date:2602121430 stat:DELIVRD err:000 text:"
        );
        assert_eq!(r.source.addr, "14155551234");
        assert_eq!(r.dest.addr, "MyBank");
        assert!(r.esm_class.is_receipt());
        assert_eq!(r.tlvs.receipted_message_id(), Some(&b"123456"[..]));
        assert_eq!(r.tlvs.message_state(), Some(MessageState::DELIVERED));
    }
}
