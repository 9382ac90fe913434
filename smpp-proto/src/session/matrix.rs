//! The operation matrix: which PDUs each side may send in each state.
//!
//! The router follows v3.4 with the v5 leniencies: `enquire_link` and `generic_nack` in any
//! connected state, `replace_sm` on transceiver binds.

use super::config::{BindMode, Role};
use crate::command_id::CommandId;

/// Where a session is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// Connected, not bound.
    Open,
    /// ESME: a bind request is outstanding.
    Binding(BindMode),
    /// Bound in this mode.
    Bound(BindMode),
    /// An unbind was sent or received; the connection is about to close.
    Unbound,
    /// Closed: nothing more is sent or received.
    Closed,
}

/// Why a request may not be sent in a state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A bind in a bound session.
    AlreadyBound,
    /// Not bound, or bound in a mode that does not allow it, or the wrong direction.
    WrongState,
}

/// Whether `sender` may send the request `id` while the session is in `state`.
pub const fn check(sender: Role, state: State, id: CommandId) -> Result<(), Refusal> {
    use CommandId as C;
    let bound = match state {
        State::Bound(mode) => Some(mode),
        _ => None,
    };
    let ok = match id {
        C::ENQUIRE_LINK | C::GENERIC_NACK => !matches!(state, State::Closed),
        C::BIND_TRANSMITTER | C::BIND_RECEIVER | C::BIND_TRANSCEIVER => {
            if bound.is_some() {
                return Err(Refusal::AlreadyBound);
            }
            matches!(sender, Role::Esme) && matches!(state, State::Open)
        }
        C::OUTBIND => matches!(sender, Role::Mc) && matches!(state, State::Open),
        C::UNBIND => bound.is_some(),
        C::SUBMIT_SM
        | C::SUBMIT_MULTI
        | C::QUERY_SM
        | C::CANCEL_SM
        | C::REPLACE_SM
        | C::BROADCAST_SM
        | C::QUERY_BROADCAST_SM
        | C::CANCEL_BROADCAST_SM => {
            matches!(sender, Role::Esme) && matches!(bound, Some(m) if m.can_submit())
        }
        C::DELIVER_SM | C::ALERT_NOTIFICATION => {
            matches!(sender, Role::Mc) && matches!(bound, Some(m) if m.can_deliver())
        }
        C::DATA_SM => match (sender, bound) {
            (Role::Esme, Some(m)) => m.can_submit(),
            (Role::Mc, Some(m)) => m.can_deliver(),
            _ => false,
        },
        // Unknown ids are not refused by state; they are answered with generic_nack.
        _ => true,
    };
    if ok { Ok(()) } else { Err(Refusal::WrongState) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use BindMode::*;

    #[test]
    fn matrix_rows() {
        let e = Role::Esme;
        let m = Role::Mc;
        assert_eq!(check(e, State::Open, CommandId::ENQUIRE_LINK), Ok(()));
        assert_eq!(check(e, State::Open, CommandId::BIND_TRANSCEIVER), Ok(()));
        assert_eq!(
            check(e, State::Bound(Transmitter), CommandId::BIND_TRANSMITTER),
            Err(Refusal::AlreadyBound)
        );
        assert_eq!(
            check(e, State::Open, CommandId::SUBMIT_SM),
            Err(Refusal::WrongState)
        );
        assert_eq!(
            check(e, State::Bound(Receiver), CommandId::SUBMIT_SM),
            Err(Refusal::WrongState)
        );
        assert_eq!(
            check(e, State::Bound(Transceiver), CommandId::REPLACE_SM),
            Ok(())
        );
        assert_eq!(
            check(m, State::Bound(Receiver), CommandId::DELIVER_SM),
            Ok(())
        );
        assert_eq!(
            check(m, State::Bound(Transmitter), CommandId::DELIVER_SM),
            Err(Refusal::WrongState)
        );
        assert_eq!(
            check(e, State::Bound(Transceiver), CommandId::DELIVER_SM),
            Err(Refusal::WrongState)
        );
        assert_eq!(check(m, State::Bound(Receiver), CommandId::DATA_SM), Ok(()));
        assert_eq!(
            check(e, State::Bound(Transmitter), CommandId::DATA_SM),
            Ok(())
        );
        assert_eq!(
            check(e, State::Open, CommandId::UNBIND),
            Err(Refusal::WrongState)
        );
        assert_eq!(check(e, State::Unbound, CommandId::ENQUIRE_LINK), Ok(()));
        assert_eq!(
            check(e, State::Unbound, CommandId::SUBMIT_SM),
            Err(Refusal::WrongState)
        );
    }
}
