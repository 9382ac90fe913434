//! `query_sm`: a client asks for the state of one of its messages. Answered from the store —
//! the message's record and the receipts kept in its history ([`crate::store::history`]); a
//! message of another account, or one the router does not know (any longer), is
//! `ESME_RQUERYFAIL`. The body is the same in v3.4 and v5.0.

use bytes::Bytes;

use super::Conn;
use crate::smpp::pdu::{Command, Pdu, QuerySm, QuerySmResp};
use crate::smpp::receipt::ReceiptDate;
use crate::smpp::values::MessageState;
use crate::smpp::{CommandId, CommandStatus};
use crate::store::{Store, history};

impl Conn {
    pub(super) fn on_query(&mut self, seq: u32, query: QuerySm) {
        let Some((account, _)) = &self.bound else {
            return self.answer(seq, CommandId::QUERY_SM, CommandStatus::RINVBNDSTS);
        };
        let answer = self
            .shared
            .store()
            .and_then(|store| state_of(store, &account.system_id, &query.message_id));
        match answer {
            Some(resp) => {
                let _ = self
                    .session
                    .respond(Command::new(seq, Pdu::QuerySmResp(resp)));
            }
            None => self.answer(seq, CommandId::QUERY_SM, CommandStatus::RQUERYFAIL),
        }
    }
}

/// The answer to `system_id`'s query for `message_id`; `None` when it is not one of its
/// messages the store knows.
pub(crate) fn state_of(
    store: &dyn Store,
    system_id: &str,
    message_id: &[u8],
) -> Option<QuerySmResp> {
    let id = std::str::from_utf8(message_id).ok()?;
    // Only ids the router minted (one read each); anything else is not one of its messages.
    let key = history::key_of(id)?;
    let record = store.by_router_id(id).ok()??;
    if record.account != system_id {
        return None;
    }
    let events = store.history(key).unwrap_or_default();
    // The latest final state (a carrier may follow UNKNOWN with DELIVERED).
    let finished = events.iter().rev().find_map(|e| e.final_receipt());
    Some(match finished {
        Some((state, at_ms, err)) => QuerySmResp {
            message_id: Bytes::copy_from_slice(message_id),
            final_date: Bytes::from(ReceiptDate::from_unix(at_ms / 1000).to_smpp_utc()),
            message_state: MessageState(state),
            error_code: err.trim().parse::<u8>().unwrap_or(0),
        },
        None => QuerySmResp {
            message_id: Bytes::copy_from_slice(message_id),
            final_date: Bytes::new(),
            message_state: MessageState::ENROUTE,
            error_code: 0,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_the_accounts_own_router_minted_ids_are_answered() {
        use crate::store::{Event, MemoryStore, MessageRecord};
        let store = MemoryStore::new();
        let id = crate::ids::IdMinter::new(0).next();
        let key: u64 = id.parse().unwrap_or_default();
        let rec = MessageRecord {
            router_id: id.clone(),
            account: "acme".into(),
            created: crate::ids::unix_secs(key),
            ..MessageRecord::default()
        };
        store.record(rec).await.ok();
        let enroute = state_of(&store, "acme", id.as_bytes()).map(|r| r.message_state);
        assert_eq!(enroute, Some(MessageState::ENROUTE));
        for (state, err) in [(7, "000"), (2, "011")] {
            store.note(key, Event::receipt(state, err, "c"), None);
        }
        let done = state_of(&store, "acme", id.as_bytes());
        let done = done.map(|r| (r.message_state, r.error_code, r.final_date.len()));
        assert_eq!(
            done,
            Some((MessageState::DELIVERED, 11, 16)),
            "the latest final state"
        );
        assert!(state_of(&store, "rival", id.as_bytes()).is_none());
        assert!(
            state_of(&store, "acme", b"R1").is_none(),
            "not an id the router minted"
        );
        assert!(state_of(&store, "acme", b"\xff").is_none());
    }

    #[test]
    fn final_dates_are_absolute_times_in_utc() {
        let at = |unix| ReceiptDate::from_unix(unix).to_smpp_utc();
        assert_eq!(at(0), "700101000000000+");
        assert_eq!(at(1_770_906_645), "260212143045000+");
        assert_eq!(at(951_782_400), "000229000000000+");
    }
}
