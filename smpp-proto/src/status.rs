//! `command_status`: a raw `u32` with names for the codes of SMPP 3.4 and 5.0.
//!
//! Unknown values are never rejected: carriers emit vendor codes and values outside every range.

use std::fmt;

/// A `command_status` value. Kept raw; [`CommandStatus::name`] gives the spec name when known.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommandStatus(pub u32);

macro_rules! statuses {
    ($($name:ident = $value:expr, $doc:literal;)*) => {
        impl CommandStatus {
            $(#[doc = $doc] pub const $name: Self = Self($value);)*

            /// The spec name of a known status (`"ESME_ROK"`, …), `None` for other values.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($value => Some(concat!("ESME_", stringify!($name))),)*
                    _ => None,
                }
            }
        }
    };
}

statuses! {
    ROK = 0x00, "Success.";
    RINVMSGLEN = 0x01, "Message length invalid.";
    RINVCMDLEN = 0x02, "command_length invalid.";
    RINVCMDID = 0x03, "Unknown or unsupported command_id.";
    RINVBNDSTS = 0x04, "Wrong bind state for this command.";
    RALYBND = 0x05, "Already bound (also: too many binds).";
    RINVPRTFLG = 0x06, "Invalid priority_flag.";
    RINVREGDLVFLG = 0x07, "Invalid registered_delivery.";
    RSYSERR = 0x08, "System error (transient).";
    RINVSRCADR = 0x0A, "Invalid source address.";
    RINVDSTADR = 0x0B, "Invalid destination address.";
    RINVMSGID = 0x0C, "Invalid message_id.";
    RBINDFAIL = 0x0D, "Bind failed.";
    RINVPASWD = 0x0E, "Invalid password.";
    RINVSYSID = 0x0F, "Invalid system_id.";
    RCANCELFAIL = 0x11, "cancel_sm failed.";
    RREPLACEFAIL = 0x13, "replace_sm failed.";
    RMSGQFUL = 0x14, "Message queue full.";
    RINVSERTYP = 0x15, "Invalid service_type.";
    RINVNUMDESTS = 0x33, "Invalid number_of_dests.";
    RINVDLNAME = 0x34, "Invalid distribution list name.";
    RINVDESTFLAG = 0x40, "Invalid dest_flag.";
    RINVSUBREP = 0x42, "Submit-with-replace not allowed.";
    RINVESMCLASS = 0x43, "Invalid esm_class.";
    RCNTSUBDL = 0x44, "Cannot submit to a distribution list.";
    RSUBMITFAIL = 0x45, "Submission failed (for iMessage: the recipient has no iMessage).";
    RINVSRCTON = 0x48, "Invalid source TON.";
    RINVSRCNPI = 0x49, "Invalid source NPI.";
    RINVDSTTON = 0x50, "Invalid destination TON.";
    RINVDSTNPI = 0x51, "Invalid destination NPI.";
    RINVSYSTYP = 0x53, "Invalid system_type.";
    RINVREPFLAG = 0x54, "Invalid replace_if_present_flag.";
    RINVNUMMSGS = 0x55, "Invalid number of messages.";
    RTHROTTLED = 0x58, "Throttled: the sender exceeded its rate.";
    RINVSCHED = 0x61, "Invalid schedule_delivery_time.";
    RINVEXPIRY = 0x62, "Invalid validity_period.";
    RINVDFTMSGID = 0x63, "Invalid predefined message id.";
    RX_T_APPN = 0x64, "Receiver temporary application error.";
    RX_P_APPN = 0x65, "Receiver permanent application error.";
    RX_R_APPN = 0x66, "Receiver rejects the message.";
    RQUERYFAIL = 0x67, "query_sm failed.";
    RINVTLVSTREAM = 0xC0, "Corrupt TLV area (v3.4 ESME_RINVOPTPARSTREAM).";
    RTLVNOTALLWD = 0xC1, "TLV not allowed here.";
    RINVTLVLEN = 0xC2, "Invalid TLV length.";
    RMISSINGTLV = 0xC3, "A required TLV is missing.";
    RINVTLVVAL = 0xC4, "Invalid TLV value.";
    RDELIVERYFAILURE = 0xFE, "Transaction-mode delivery failed.";
    RUNKNOWNERR = 0xFF, "Unknown error.";
    RSERTYPUNAUTH = 0x100, "v5: not authorised for this service_type.";
    RPROHIBITED = 0x101, "v5: operation prohibited for this ESME.";
    RSERTYPUNAVAIL = 0x102, "v5: service_type temporarily unavailable.";
    RSERTYPDENIED = 0x103, "v5: service_type denied.";
    RINVDCS = 0x104, "v5: invalid data_coding.";
    RINVSRCADDRSUBUNIT = 0x105, "v5: invalid source_addr_subunit.";
    RINVDSTADDRSUBUNIT = 0x106, "v5: invalid dest_addr_subunit.";
    RINVBCASTFREQINT = 0x107, "v5: invalid broadcast_frequency_interval.";
    RINVBCASTALIAS_NAME = 0x108, "v5: invalid broadcast alias name.";
    RINVBCASTAREAFMT = 0x109, "v5: invalid broadcast area format.";
    RINVNUMBCAST_AREAS = 0x10A, "v5: invalid number of broadcast areas.";
    RINVBCASTCNTTYPE = 0x10B, "v5: invalid broadcast_content_type.";
    RINVBCASTMSGCLASS = 0x10C, "v5: invalid broadcast_message_class.";
    RBCASTFAIL = 0x10D, "v5: broadcast_sm failed.";
    RBCASTQUERYFAIL = 0x10E, "v5: query_broadcast_sm failed.";
    RBCASTCANCELFAIL = 0x10F, "v5: cancel_broadcast_sm failed.";
    RINVBCAST_REP = 0x110, "v5: invalid broadcast_rep_num.";
    RINVBCASTSRVGRP = 0x111, "v5: invalid broadcast_service_group.";
    RINVBCASTCHANIND = 0x112, "v5: invalid broadcast_channel_indicator.";
}

impl CommandStatus {
    /// Whether this is `ESME_ROK`.
    pub fn is_ok(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Debug for CommandStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for CommandStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} (0x{:02X})", self.0),
            None => write!(f, "0x{:08X}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_display() {
        assert_eq!(CommandStatus::RSUBMITFAIL.name(), Some("ESME_RSUBMITFAIL"));
        assert_eq!(CommandStatus(0x45), CommandStatus::RSUBMITFAIL);
        assert_eq!(CommandStatus(0x0400_0001).name(), None);
        assert_eq!(
            CommandStatus::RTHROTTLED.to_string(),
            "ESME_RTHROTTLED (0x58)"
        );
        assert_eq!(CommandStatus(0x0400_0001).to_string(), "0x04000001");
    }
}
