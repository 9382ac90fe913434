//! What happened to a message after it was accepted: the receipts its channel sent, and how
//! they reached the client. Kept beside the message's record (keyed by the numeric router id)
//! for as long as the record, read back by the trace (`GET /messages/{id}`) and by `query_sm`.
//!
//! Encoding of one event: format byte `1`, kind (`1` receipt, `2` delivered, `3` stored), time
//! (Unix ms, `u64` LE), then per kind: a receipt's state byte, error text and the bind it came
//! from; a delivery's way (`direct`, `late`, `swept`, `elsewhere`) and session id (`u64` LE).

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
        /// `direct` (at once), `late` (after a wait), `swept` (from the store, later),
        /// `elsewhere` (by another instance of the cluster).
        how: String,
        /// The session that took it (0 when another instance delivered it).
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
    /// A receipt event now.
    pub fn receipt(state: u8, err: &str, from: &str) -> Self {
        Self {
            at_ms: now_ms(),
            kind: EventKind::Receipt {
                state,
                err: err.to_owned(),
                from: from.to_owned(),
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

/// Whether an SMPP `message_state` is final (not ENROUTE, ACCEPTED, SCHEDULED or SKIPPED).
pub fn is_final(state: u8) -> bool {
    matches!(state, 2..=5 | 7 | 8)
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
    }
}
