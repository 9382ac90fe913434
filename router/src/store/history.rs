//! What happened to a message after it was accepted: the receipts its channel sent, and how
//! they reached the client. Kept beside the message's record (keyed by the numeric router id)
//! for as long as the record, read back by the trace (`GET /messages/{id}`) and by `query_sm`.
//!
//! A message keeps at most [`MAX_EVENTS`] events (a carrier that resends a receipt endlessly
//! does not grow it without end); its first final receipt finishes it.
//!
//! Encoding of one event: format byte `1`, kind (`1` receipt, `2` delivered, `3` stored), time
//! (Unix ms, `u64` LE), then per kind: a receipt's state byte, error text and the bind it came
//! from; a delivery's way (`direct`, `late`, `swept`) and session id (`u64` LE).

use super::StoreError;
use super::codec::{Reader, put_str};

/// One thing that happened to a message after it was accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Unix milliseconds.
    pub at_ms: u64,
    pub kind: EventKind,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// The channel reported a state (a carrier's `deliver_sm`, a plugin's report, the iMessage
    /// channel's answer).
    Receipt {
        /// `message_state` (SMPP values: 2 delivered, 3 expired, 5 undeliverable, …).
        state: u8,
        /// The receipt's `err:` field as the channel sent it.
        err: String,
        /// Where it came from: the channel, and its bind (`tyntec#1`).
        from: String,
    },
    /// A client session acknowledged the receipt.
    Delivered {
        /// `direct` (at once), `late` (after a wait), `swept` (from the store, later).
        how: String,
        /// The session that took it.
        session: u64,
    },
    /// No session of the account could take it at once: kept in the store for a later bind.
    Stored,
}

impl EventKind {
    /// A delivery to session `session`, `how`.
    pub fn delivered(how: &str, session: u64) -> Self {
        Self::Delivered {
            how: how.to_owned(),
            session,
        }
    }
}

impl Event {
    /// A receipt event now. Control characters in the carrier's text (a NUL in `err:`) are
    /// dropped: the records sinks must take every event.
    pub fn receipt(state: u8, err: &str, from: &str) -> Self {
        let clean = |s: &str| s.chars().filter(|c| !c.is_control()).take(64).collect();
        Self {
            at_ms: now_ms(),
            kind: EventKind::Receipt {
                state,
                err: clean(err),
                from: clean(from),
            },
        }
    }

    /// `(state, at_ms, err)` when this is a receipt in a final state.
    pub fn final_receipt(&self) -> Option<(u8, u64, &str)> {
        match &self.kind {
            EventKind::Receipt { state, err, .. } if is_final(*state) => {
                Some((*state, self.at_ms, err))
            }
            _ => None,
        }
    }
}

/// The most events one message keeps.
pub const MAX_EVENTS: usize = 32;

/// Whether an SMPP `message_state` ends the message: the protocol's final states (DELIVERED,
/// EXPIRED, DELETED, UNDELIVERABLE, ACCEPTED, REJECTED, SKIPPED) and UNKNOWN, which a carrier
/// sends when it will not say more.
pub fn is_final(state: u8) -> bool {
    let state = crate::smpp::values::MessageState(state);
    state.is_final() || state == crate::smpp::values::MessageState::UNKNOWN
}

/// Unix milliseconds now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

const FORMAT: u8 = 1;

pub(super) fn encode(event: &Event) -> Vec<u8> {
    let mut out = Vec::with_capacity(48);
    out.push(FORMAT);
    let kind = match &event.kind {
        EventKind::Receipt { .. } => 1,
        EventKind::Delivered { .. } => 2,
        EventKind::Stored => 3,
    };
    out.push(kind);
    out.extend_from_slice(&event.at_ms.to_le_bytes());
    match &event.kind {
        EventKind::Receipt { state, err, from } => {
            out.push(*state);
            put_str(&mut out, err);
            put_str(&mut out, from);
        }
        EventKind::Delivered { how, session } => {
            put_str(&mut out, how);
            out.extend_from_slice(&session.to_le_bytes());
        }
        EventKind::Stored => {}
    }
    out
}

pub(super) fn decode(data: &[u8]) -> Result<Event, StoreError> {
    let mut r = Reader::new(data, "message event");
    r.format()?;
    let kind = r.u8()?;
    let at_ms = r.u64()?;
    let kind = match kind {
        1 => EventKind::Receipt {
            state: r.u8()?,
            err: r.str()?.to_owned(),
            from: r.str()?.to_owned(),
        },
        2 => EventKind::Delivered {
            how: r.str()?.to_owned(),
            session: r.u64()?,
        },
        3 => EventKind::Stored,
        other => return Err(r.bad(&format!("unknown event kind {other}"))),
    };
    Ok(Event { at_ms, kind })
}

/// The numeric form of a router id, the key of its events; `None` for ids the router did not
/// mint (tests' `r1`).
pub fn key_of(router_id: &str) -> Option<u64> {
    router_id.parse().ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn events_round_trip_and_garbage_is_refused() {
        let events = [
            Event::receipt(2, "000", "carrier#1"),
            Event {
                at_ms: 7,
                kind: EventKind::Delivered {
                    how: "direct".into(),
                    session: 42,
                },
            },
            Event {
                at_ms: u64::MAX,
                kind: EventKind::Stored,
            },
        ];
        for e in &events {
            let bytes = encode(e);
            assert_eq!(&decode(&bytes).unwrap(), e);
            for cut in 0..bytes.len() {
                assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
            }
        }
        assert!(decode(&[1, 9, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(decode(&[2]).is_err());
        assert_eq!(events[0].final_receipt().map(|f| f.0), Some(2));
        assert!(Event::receipt(1, "000", "c").final_receipt().is_none());
        assert!(Event::receipt(7, "000", "c").final_receipt().is_some());
        assert_eq!(
            Event::receipt(2, "0\u{0}1", "c").kind,
            EventKind::Receipt {
                state: 2,
                err: "01".into(),
                from: "c".into()
            }
        );
    }
}
