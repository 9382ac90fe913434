//! Events and records queued for the writer but not committed yet, readable at once: a client
//! that got a receipt (or the answer to a message whose outcome was known at once) and asks
//! with `query_sm` a moment later sees it without having waited for a commit. Each queued one
//! carries a [`Ticket`]; when the operation is done with (committed, failed, or held while the
//! disk fails), the ticket goes and takes it out.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::store::{Event, MessageRecord};

#[derive(Default)]
pub(crate) struct Unwritten {
    events: Mutex<HashMap<u64, Vec<(u64, Event)>>>,
    records: Mutex<HashMap<u64, Arc<MessageRecord>>>,
    next: AtomicU64,
}

impl Unwritten {
    /// Adds `event` of message `key`; it stays readable until the ticket is dropped.
    pub(crate) fn add(self: &Arc<Self>, key: u64, event: &Event) -> Ticket {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key)
            .or_default()
            .push((id, event.clone()));
        Ticket {
            of: self.clone(),
            key,
            id,
        }
    }

    /// Adds the record of message `key`; it stays readable until the ticket is dropped.
    pub(crate) fn add_record(self: &Arc<Self>, key: u64, rec: &Arc<MessageRecord>) -> RecordTicket {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, rec.clone());
        RecordTicket {
            of: self.clone(),
            key,
        }
    }

    /// The record of message `key`, when it is not committed yet.
    pub(crate) fn record(&self, key: u64) -> Option<Arc<MessageRecord>> {
        let records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        records.get(&key).cloned()
    }

    /// The events of message `key` not committed yet, oldest first.
    pub(crate) fn of(&self, key: u64) -> Vec<Event> {
        let events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        events
            .get(&key)
            .map(|v| v.iter().map(|(_, e)| e.clone()).collect())
            .unwrap_or_default()
    }
}

/// Keeps one record readable while its operation is under way.
pub(crate) struct RecordTicket {
    of: Arc<Unwritten>,
    key: u64,
}

impl Drop for RecordTicket {
    fn drop(&mut self) {
        let mut records = self
            .of
            .records
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        records.remove(&self.key);
    }
}

/// Keeps one event readable while its operation is under way.
pub(crate) struct Ticket {
    of: Arc<Unwritten>,
    key: u64,
    id: u64,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut events = self
            .of
            .events
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(list) = events.get_mut(&self.key) {
            list.retain(|(id, _)| *id != self.id);
            if list.is_empty() {
                events.remove(&self.key);
            }
        }
    }
}
