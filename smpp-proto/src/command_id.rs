//! `command_id`: which PDU a frame holds. Bit 31 marks a response.

use std::fmt;

/// A `command_id` value, kept raw so that unknown and vendor ids survive.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommandId(pub u32);

macro_rules! command_ids {
    ($($name:ident = $value:expr;)*) => {
        impl CommandId {
            $(#[doc = concat!("`", stringify!($name), "`")] pub const $name: Self = Self($value);)*

            /// The lower-case spec name of a known id, `None` otherwise.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($value => Some(command_id_name(stringify!($name))),)*
                    _ => None,
                }
            }
        }
    };
}

/// Turns a const name such as `SUBMIT_SM_RESP` into its spec spelling at compile time would need
/// a const lower-caser; a small match on the names we use is simpler.
fn command_id_name(upper: &'static str) -> &'static str {
    match upper {
        "GENERIC_NACK" => "generic_nack",
        "BIND_RECEIVER" => "bind_receiver",
        "BIND_RECEIVER_RESP" => "bind_receiver_resp",
        "BIND_TRANSMITTER" => "bind_transmitter",
        "BIND_TRANSMITTER_RESP" => "bind_transmitter_resp",
        "QUERY_SM" => "query_sm",
        "QUERY_SM_RESP" => "query_sm_resp",
        "SUBMIT_SM" => "submit_sm",
        "SUBMIT_SM_RESP" => "submit_sm_resp",
        "DELIVER_SM" => "deliver_sm",
        "DELIVER_SM_RESP" => "deliver_sm_resp",
        "UNBIND" => "unbind",
        "UNBIND_RESP" => "unbind_resp",
        "REPLACE_SM" => "replace_sm",
        "REPLACE_SM_RESP" => "replace_sm_resp",
        "CANCEL_SM" => "cancel_sm",
        "CANCEL_SM_RESP" => "cancel_sm_resp",
        "BIND_TRANSCEIVER" => "bind_transceiver",
        "BIND_TRANSCEIVER_RESP" => "bind_transceiver_resp",
        "OUTBIND" => "outbind",
        "ENQUIRE_LINK" => "enquire_link",
        "ENQUIRE_LINK_RESP" => "enquire_link_resp",
        "SUBMIT_MULTI" => "submit_multi",
        "SUBMIT_MULTI_RESP" => "submit_multi_resp",
        "ALERT_NOTIFICATION" => "alert_notification",
        "DATA_SM" => "data_sm",
        "DATA_SM_RESP" => "data_sm_resp",
        "BROADCAST_SM" => "broadcast_sm",
        "BROADCAST_SM_RESP" => "broadcast_sm_resp",
        "QUERY_BROADCAST_SM" => "query_broadcast_sm",
        "QUERY_BROADCAST_SM_RESP" => "query_broadcast_sm_resp",
        "CANCEL_BROADCAST_SM" => "cancel_broadcast_sm",
        "CANCEL_BROADCAST_SM_RESP" => "cancel_broadcast_sm_resp",
        other => other,
    }
}

command_ids! {
    GENERIC_NACK = 0x8000_0000;
    BIND_RECEIVER = 0x0000_0001;
    BIND_RECEIVER_RESP = 0x8000_0001;
    BIND_TRANSMITTER = 0x0000_0002;
    BIND_TRANSMITTER_RESP = 0x8000_0002;
    QUERY_SM = 0x0000_0003;
    QUERY_SM_RESP = 0x8000_0003;
    SUBMIT_SM = 0x0000_0004;
    SUBMIT_SM_RESP = 0x8000_0004;
    DELIVER_SM = 0x0000_0005;
    DELIVER_SM_RESP = 0x8000_0005;
    UNBIND = 0x0000_0006;
    UNBIND_RESP = 0x8000_0006;
    REPLACE_SM = 0x0000_0007;
    REPLACE_SM_RESP = 0x8000_0007;
    CANCEL_SM = 0x0000_0008;
    CANCEL_SM_RESP = 0x8000_0008;
    BIND_TRANSCEIVER = 0x0000_0009;
    BIND_TRANSCEIVER_RESP = 0x8000_0009;
    OUTBIND = 0x0000_000B;
    ENQUIRE_LINK = 0x0000_0015;
    ENQUIRE_LINK_RESP = 0x8000_0015;
    SUBMIT_MULTI = 0x0000_0021;
    SUBMIT_MULTI_RESP = 0x8000_0021;
    ALERT_NOTIFICATION = 0x0000_0102;
    DATA_SM = 0x0000_0103;
    DATA_SM_RESP = 0x8000_0103;
    BROADCAST_SM = 0x0000_0111;
    BROADCAST_SM_RESP = 0x8000_0111;
    QUERY_BROADCAST_SM = 0x0000_0112;
    QUERY_BROADCAST_SM_RESP = 0x8000_0112;
    CANCEL_BROADCAST_SM = 0x0000_0113;
    CANCEL_BROADCAST_SM_RESP = 0x8000_0113;
}

impl CommandId {
    /// Bit 31: set on every response.
    pub const RESPONSE_BIT: u32 = 0x8000_0000;

    /// Whether this id is a response (bit 31 set).
    pub fn is_response(self) -> bool {
        self.0 & Self::RESPONSE_BIT != 0
    }

    /// The response id of a request id (`id | 0x80000000`).
    pub fn response(self) -> Self {
        Self(self.0 | Self::RESPONSE_BIT)
    }

    /// Whether a request of this id expects a response (all but `outbind` and
    /// `alert_notification`).
    pub fn expects_response(self) -> bool {
        !self.is_response() && self != Self::OUTBIND && self != Self::ALERT_NOTIFICATION
    }
}

impl fmt::Debug for CommandId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for CommandId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "command 0x{:08X}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_bits() {
        assert_eq!(CommandId::SUBMIT_SM.response(), CommandId::SUBMIT_SM_RESP);
        assert!(CommandId::GENERIC_NACK.is_response());
        assert_eq!(CommandId::DATA_SM_RESP.name(), Some("data_sm_resp"));
        assert_eq!(CommandId(0x0001_0200).to_string(), "command 0x00010200");
        assert!(!CommandId::OUTBIND.expects_response());
        assert!(CommandId::ENQUIRE_LINK.expects_response());
    }
}
