//! Checks on every `submit_sm` before it reaches the handler (the seed's "Input limits"): message
//! length, time fields, destination, sender.

use crate::config::Account;
use crate::phone::{self, Destination};
use crate::smpp::CommandStatus;
use crate::smpp::pdu::Sm;
use crate::smpp::time;
use crate::smpp::values::ton;

/// A submission's checked parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked {
    /// The validated destination.
    pub destination: Destination,
    /// The sender to present.
    pub sender: Option<String>,
}

/// Validates `sm` for `account`; the error is the status the client gets.
pub fn check(sm: &Sm, account: &Account, max_message_len: usize) -> Result<Checked, CommandStatus> {
    let payload = sm.tlvs.message_payload();
    if payload.is_some() && !sm.short_message.is_empty() {
        // Never both: the spec allows the text in `short_message` or in `message_payload`.
        return Err(CommandStatus::RINVMSGLEN);
    }
    if sm.payload().len() > max_message_len {
        return Err(CommandStatus::RINVMSGLEN);
    }
    if time::parse(&sm.schedule_delivery_time).is_none() {
        return Err(CommandStatus::RINVSCHED);
    }
    if time::parse(&sm.validity_period).is_none() {
        return Err(CommandStatus::RINVEXPIRY);
    }
    let destination = phone::validate(&sm.dest.addr).map_err(|_| CommandStatus::RINVDSTADR)?;
    Ok(Checked {
        destination,
        sender: sender(sm, account)?,
    })
}

/// An alphanumeric `source_addr` (TON 5) is the sender, at most 11 characters; any other
/// sender falls back to the account's default.
fn sender(sm: &Sm, account: &Account) -> Result<Option<String>, CommandStatus> {
    if sm.source.ton == ton::ALPHANUMERIC && !sm.source.addr.is_empty() {
        let text = String::from_utf8_lossy(&sm.source.addr);
        if text.chars().count() > 11 {
            return Err(CommandStatus::RINVSRCADR);
        }
        return Ok(Some(text.into_owned()));
    }
    Ok(account.default_sender.clone())
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::smpp::pdu::Address;
    use crate::smpp::short::ShortStr;
    use crate::smpp::tlv::{TlvsBuilder, tag};

    fn account() -> Account {
        Account {
            system_id: "acme".into(),
            password_hash: String::new(),
            bind_modes: [true; 3],
            allowed_cidrs: vec![],
            max_binds: 1,
            tps: 1,
            window: 1,
            default_sender: Some("Acme".into()),
            language: None,
        }
    }

    fn sm(dest: &'static str, text: &'static [u8]) -> Sm {
        Sm {
            source: Address::new(5, 0, "MyBank"),
            dest: Address::new(1, 1, dest),
            short_message: Bytes::from_static(text),
            ..Sm::default()
        }
    }

    #[test]
    fn input_limits() {
        let a = account();
        let ok = check(&sm("14155551234", b"Code 482910"), &a, 512).unwrap();
        assert_eq!(ok.sender.as_deref(), Some("MyBank"));
        assert_eq!(
            check(&sm("12", b"x"), &a, 512),
            Err(CommandStatus::RINVDSTADR)
        );
        assert_eq!(
            check(&sm("1415555abc", b"x"), &a, 512),
            Err(CommandStatus::RINVDSTADR)
        );
        let mut long = sm("14155551234", b"");
        long.tlvs = TlvsBuilder::new()
            .push(tag::MESSAGE_PAYLOAD, &[b'a'; 513])
            .build();
        assert_eq!(check(&long, &a, 512), Err(CommandStatus::RINVMSGLEN));
        let mut both = sm("14155551234", b"x");
        both.tlvs = TlvsBuilder::new().push(tag::MESSAGE_PAYLOAD, b"y").build();
        assert_eq!(check(&both, &a, 512), Err(CommandStatus::RINVMSGLEN));
    }

    #[test]
    fn time_fields_are_in_the_format() {
        let a = account();
        let mut m = sm("14155551234", b"Code 482910");
        m.validity_period = ShortStr::new(b"000001120000000R").unwrap();
        m.schedule_delivery_time = ShortStr::new(b"250315143000004+").unwrap();
        assert!(check(&m, &a, 512).is_ok());
        m.validity_period = ShortStr::new(b"2503151430").unwrap();
        assert_eq!(check(&m, &a, 512), Err(CommandStatus::RINVEXPIRY));
        m.validity_period = ShortStr::default();
        m.schedule_delivery_time = ShortStr::new(b"250315143000004?").unwrap();
        assert_eq!(check(&m, &a, 512), Err(CommandStatus::RINVSCHED));
    }

    #[test]
    fn numeric_senders_fall_back_to_the_default() {
        let a = account();
        let mut m = sm("14155551234", b"1234");
        m.source = Address::new(1, 1, "447911123456");
        assert_eq!(check(&m, &a, 512).unwrap().sender.as_deref(), Some("Acme"));
        m.source = Address::new(5, 0, "TwelveCharsX");
        assert_eq!(check(&m, &a, 512), Err(CommandStatus::RINVSRCADR));
    }
}
