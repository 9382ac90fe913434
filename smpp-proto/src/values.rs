//! Typed views of the one-octet fields whose values the router acts on: message state, esm_class,
//! registered_delivery, data_coding, TON/NPI and the interface version.
//!
//! Each keeps the raw octet so that unknown values relay unchanged; the helpers only interpret.

/// `message_state` (TLV 0x0427, `query_sm_resp`): the state of a message at the MC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MessageState(pub u8);

impl MessageState {
    /// v5 only: waiting for its scheduled time.
    pub const SCHEDULED: Self = Self(0);
    /// In the MC, in transit or being retried.
    pub const ENROUTE: Self = Self(1);
    /// Reached the handset.
    pub const DELIVERED: Self = Self(2);
    /// The validity period ran out.
    pub const EXPIRED: Self = Self(3);
    /// Cancelled or deleted.
    pub const DELETED: Self = Self(4);
    /// Permanent delivery failure.
    pub const UNDELIVERABLE: Self = Self(5);
    /// Accepted (often used as "accepted by the carrier").
    pub const ACCEPTED: Self = Self(6);
    /// Invalid or unknown state.
    pub const UNKNOWN: Self = Self(7);
    /// Rejected.
    pub const REJECTED: Self = Self(8);
    /// v5 only: accepted but never transmitted.
    pub const SKIPPED: Self = Self(9);

    /// The state's name in the protocol (`DELIVERED`, `UNDELIVERABLE`, …), as records and
    /// traces show it.
    pub fn name(self) -> &'static str {
        match self.0 {
            0 => "SCHEDULED",
            1 => "ENROUTE",
            2 => "DELIVERED",
            3 => "EXPIRED",
            4 => "DELETED",
            5 => "UNDELIVERABLE",
            6 => "ACCEPTED",
            8 => "REJECTED",
            9 => "SKIPPED",
            _ => "UNKNOWN",
        }
    }

    /// The seven-letter `stat:` word of the receipt text for this state.
    pub fn stat_text(self) -> &'static str {
        match self.0 {
            0 => "SCHEDLD",
            1 => "ENROUTE",
            2 => "DELIVRD",
            3 => "EXPIRED",
            4 => "DELETED",
            5 => "UNDELIV",
            6 => "ACCEPTD",
            8 => "REJECTD",
            9 => "SKIPPED",
            _ => "UNKNOWN",
        }
    }

    /// Maps a receipt's `stat:` word to a state, case-insensitively, including the non-standard
    /// words real carriers send (`FAILED`, `ACKED`, `BUFFRED`, …). Unknown words give `UNKNOWN`.
    pub fn from_stat_text(word: &str) -> Self {
        const WORDS: &[(&str, MessageState)] = &[
            ("DELIVRD", MessageState::DELIVERED),
            ("DELIVERED", MessageState::DELIVERED),
            ("EXPIRED", MessageState::EXPIRED),
            ("DELETED", MessageState::DELETED),
            ("UNDELIV", MessageState::UNDELIVERABLE),
            ("UNDELIVERABLE", MessageState::UNDELIVERABLE),
            ("FAILED", MessageState::UNDELIVERABLE),
            ("ACCEPTD", MessageState::ACCEPTED),
            ("ACCEPTED", MessageState::ACCEPTED),
            ("REJECTD", MessageState::REJECTED),
            ("REJECTED", MessageState::REJECTED),
            ("ENROUTE", MessageState::ENROUTE),
            ("ACKED", MessageState::ENROUTE),
            ("BUFFRED", MessageState::ENROUTE),
            ("BUFFERD", MessageState::ENROUTE),
            ("SCHEDLD", MessageState::SCHEDULED),
            ("SKIPPED", MessageState::SKIPPED),
        ];
        WORDS
            .iter()
            .find(|(w, _)| w.eq_ignore_ascii_case(word))
            .map_or(Self::UNKNOWN, |&(_, s)| s)
    }

    /// Whether the state is final: no later receipt is expected for the message.
    pub fn is_final(self) -> bool {
        matches!(self.0, 2 | 3 | 4 | 5 | 6 | 8 | 9)
    }
}

/// `esm_class`: messaging mode (bits 1–0), message type (bits 5–2) and GSM features (bits 7–6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EsmClass(pub u8);

impl EsmClass {
    /// Mask of the message-type bits.
    pub const TYPE_MASK: u8 = 0x3C;
    /// Message type: MC delivery receipt.
    pub const MC_DELIVERY_RECEIPT: u8 = 0x04;
    /// Message type: SME delivery acknowledgement.
    pub const SME_DELIVERY_ACK: u8 = 0x08;
    /// Message type: SME manual/user acknowledgement.
    pub const SME_MANUAL_ACK: u8 = 0x10;
    /// Message type: intermediate delivery notification.
    pub const INTERMEDIATE_NOTIFICATION: u8 = 0x20;
    /// GSM feature: the short message starts with a user data header.
    pub const UDHI: u8 = 0x40;
    /// GSM feature: reply path.
    pub const REPLY_PATH: u8 = 0x80;

    /// The message-type bits (mask 0x3C).
    pub fn message_type(self) -> u8 {
        self.0 & Self::TYPE_MASK
    }

    /// Whether this marks a delivery receipt (MC receipt or intermediate notification), tested
    /// under the type mask so that `0x44` (UDHI + receipt) counts.
    pub fn is_receipt(self) -> bool {
        matches!(
            self.message_type(),
            Self::MC_DELIVERY_RECEIPT | Self::INTERMEDIATE_NOTIFICATION
        )
    }

    /// Whether the UDH indicator is set.
    pub fn has_udhi(self) -> bool {
        self.0 & Self::UDHI != 0
    }
}

/// `registered_delivery`: which receipts and acknowledgements the sender asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RegisteredDelivery(pub u8);

impl RegisteredDelivery {
    /// Whether an MC delivery receipt should be sent for a message that ended in `success`
    /// (bits 1–0: 01 always, 10 on failure, 11 on success — the last is v5).
    pub fn wants_receipt(self, success: bool) -> bool {
        match self.0 & 0x03 {
            1 => true,
            2 => !success,
            3 => success,
            _ => false,
        }
    }

    /// Whether intermediate notifications were requested (bit 4, value 0x10).
    pub fn wants_intermediate(self) -> bool {
        self.0 & 0x10 != 0
    }
}

/// `data_coding` values the router interprets. Others relay unchanged.
pub mod data_coding {
    /// MC default alphabet: GSM 03.38 7-bit, unpacked (one septet per octet).
    pub const DEFAULT: u8 = 0x00;
    /// IA5 / ASCII.
    pub const IA5: u8 = 0x01;
    /// 8-bit binary (TDMA/CDMA).
    pub const BINARY_2: u8 = 0x02;
    /// Latin-1 (ISO-8859-1).
    pub const LATIN1: u8 = 0x03;
    /// 8-bit binary (all technologies).
    pub const BINARY: u8 = 0x04;
    /// UCS-2, in practice UTF-16BE.
    pub const UCS2: u8 = 0x08;
}

/// Type of number.
pub mod ton {
    /// Unknown.
    pub const UNKNOWN: u8 = 0;
    /// International: digits with the country code, no `+`.
    pub const INTERNATIONAL: u8 = 1;
    /// National.
    pub const NATIONAL: u8 = 2;
    /// Network-specific.
    pub const NETWORK_SPECIFIC: u8 = 3;
    /// Subscriber number.
    pub const SUBSCRIBER: u8 = 4;
    /// Alphanumeric (a brand name as sender, at most 11 characters).
    pub const ALPHANUMERIC: u8 = 5;
    /// Abbreviated (short code).
    pub const ABBREVIATED: u8 = 6;
}

/// Numbering plan indicator.
pub mod npi {
    /// Unknown.
    pub const UNKNOWN: u8 = 0;
    /// ISDN / E.164.
    pub const ISDN: u8 = 1;
}

/// `interface_version` of a bind and `sc_interface_version` of its response.
pub mod interface_version {
    /// SMPP 3.3 (and anything lower).
    pub const V33: u8 = 0x33;
    /// SMPP 3.4.
    pub const V34: u8 = 0x34;
    /// SMPP 5.0.
    pub const V50: u8 = 0x50;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_words_round_trip_and_tolerate_variants() {
        for v in 0..=9u8 {
            let s = MessageState(v);
            if v != 7 {
                assert_eq!(MessageState::from_stat_text(s.stat_text()), s);
            }
        }
        assert_eq!(
            MessageState::from_stat_text("delivrd"),
            MessageState::DELIVERED
        );
        assert_eq!(
            MessageState::from_stat_text("FAILED"),
            MessageState::UNDELIVERABLE
        );
        assert_eq!(
            MessageState::from_stat_text("WHATEVER"),
            MessageState::UNKNOWN
        );
    }

    #[test]
    fn receipt_bits_are_tested_under_the_mask() {
        assert!(EsmClass(0x04).is_receipt());
        assert!(EsmClass(0x44).is_receipt());
        assert!(EsmClass(0x20).is_receipt());
        assert!(!EsmClass(0x40).is_receipt());
        assert!(!EsmClass(0x08).is_receipt());
    }

    #[test]
    fn registered_delivery_bits() {
        assert!(RegisteredDelivery(1).wants_receipt(true));
        assert!(RegisteredDelivery(1).wants_receipt(false));
        assert!(!RegisteredDelivery(2).wants_receipt(true));
        assert!(RegisteredDelivery(2).wants_receipt(false));
        assert!(RegisteredDelivery(3).wants_receipt(true));
        assert!(!RegisteredDelivery(0).wants_receipt(true));
        assert!(RegisteredDelivery(0x11).wants_intermediate());
    }
}
