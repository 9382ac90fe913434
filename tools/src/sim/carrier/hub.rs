//! What the connections of one stand-in share: the accounts (one per `system_id`), each with its
//! queue of `deliver_sm`s waiting for a receiver bind and its submit rate limit, and the message
//! id counter.
//!
//! A receipt is queued on the submitter's account with the instant it falls due; any bound
//! receiver or transceiver of that account takes the due ones when its window has room. Each
//! receiver registers a wake-up channel, poked when a push makes the queue's head earlier, and
//! otherwise sleeps until the head falls due — one timer per connection, no task per message.

use std::cmp::Ordering as CmpOrdering;
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;

use smpp_router::smpp::pdu::Address;
use smpp_router::smpp::values::MessageState;

/// A `deliver_sm` the carrier owes an account.
#[derive(Clone, Debug)]
pub(super) struct Item {
    /// The `deliver_sm`'s source (for a receipt: the original recipient).
    pub source: Address,
    /// The `deliver_sm`'s destination (for a receipt: the original sender).
    pub dest: Address,
    /// Receipt or mobile-originated message.
    pub kind: Kind,
    /// How many times it was sent without a successful `deliver_sm_resp`.
    pub attempts: u32,
}

/// What a queued `deliver_sm` carries.
#[derive(Clone, Debug)]
pub(super) enum Kind {
    /// A delivery receipt for carrier message `id`.
    Receipt {
        /// The carrier's message id (formatted per the id format when sent).
        id: u64,
        /// When the message was submitted, Unix seconds.
        submitted: u64,
        /// The final state reported.
        state: MessageState,
    },
    /// A mobile-originated message.
    Mo {
        /// The text (GSM default alphabet, unpacked).
        text: Bytes,
    },
}

/// An item with the instant it falls due; ordered so that `BinaryHeap` pops the earliest first
/// (and, among equals, the first pushed).
struct Queued {
    due: Instant,
    order: u64,
    item: Item,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.order) == (other.due, other.order)
    }
}

impl Eq for Queued {}

impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl Ord for Queued {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        (other.due, other.order).cmp(&(self.due, self.order))
    }
}

#[derive(Default)]
struct Queue {
    heap: BinaryHeap<Queued>,
    order: u64,
    /// Wake-up channels of the account's bound receivers, by connection number.
    receivers: Vec<(u64, mpsc::Sender<()>)>,
}

/// A token bucket holding up to one second of submits.
struct Bucket {
    tokens: f64,
    last: Option<Instant>,
}

/// One `system_id`'s shared state.
pub(super) struct Account {
    queue: Mutex<Queue>,
    bucket: Mutex<Bucket>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere cannot leave these structures half-updated in a harmful way.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Account {
    fn new() -> Self {
        Self {
            queue: Mutex::new(Queue::default()),
            bucket: Mutex::new(Bucket {
                tokens: 0.0,
                last: None,
            }),
        }
    }

    /// Queues `items` (each with its due instant), keeping at most `max` queued; returns how many
    /// were discarded for lack of room. Wakes the receivers when the earliest due moved earlier.
    pub(super) fn push(&self, items: impl Iterator<Item = (Instant, Item)>, max: usize) -> u64 {
        let mut q = lock(&self.queue);
        let head = q.heap.peek().map(|h| h.due);
        let mut discarded = 0;
        for (due, item) in items {
            if q.heap.len() >= max {
                discarded += 1;
                continue;
            }
            q.order += 1;
            let order = q.order;
            q.heap.push(Queued { due, order, item });
        }
        let new_head = q.heap.peek().map(|h| h.due);
        if new_head.is_some() && (head.is_none() || new_head < head) {
            // A full channel already holds a wake-up; a closed one belongs to a gone receiver.
            q.receivers.retain(|(_, tx)| {
                !matches!(tx.try_send(()), Err(mpsc::error::TrySendError::Closed(_)))
            });
        }
        discarded
    }

    /// Moves up to `room` items due at `now` into `out`. Returns when the next remaining item
    /// falls due, or `None` when there is none or `room` ran out first (the caller looks again
    /// once its window has room).
    pub(super) fn take_due(
        &self,
        now: Instant,
        room: usize,
        out: &mut Vec<Item>,
    ) -> Option<Instant> {
        let mut q = lock(&self.queue);
        let mut taken = 0;
        while let Some(head) = q.heap.peek() {
            if head.due > now {
                return Some(head.due);
            }
            if taken == room {
                return None;
            }
            if let Some(Queued { item, .. }) = q.heap.pop() {
                out.push(item);
                taken += 1;
            }
        }
        None
    }

    /// Registers connection `conn` as a receiver; the returned channel is poked when new items
    /// fall due earlier than the queue's head did.
    pub(super) fn register(&self, conn: u64) -> mpsc::Receiver<()> {
        let (tx, rx) = mpsc::channel(1);
        let _ = tx.try_send(()); // Look at the queue once right away.
        lock(&self.queue).receivers.push((conn, tx));
        rx
    }

    /// Forgets receiver `conn`.
    pub(super) fn unregister(&self, conn: u64) {
        lock(&self.queue).receivers.retain(|(c, _)| *c != conn);
    }

    /// Items queued and not yet sent.
    pub(super) fn pending(&self) -> usize {
        lock(&self.queue).heap.len()
    }

    /// Takes one submit from the rate limit of `tps` a second; `false` means: throttled.
    pub(super) fn admit(&self, tps: u32, now: Instant) -> bool {
        let rate = f64::from(tps);
        let mut b = lock(&self.bucket);
        let elapsed = b
            .last
            .map_or(Duration::from_secs(1), |l| now.saturating_duration_since(l));
        b.tokens = (b.tokens + elapsed.as_secs_f64() * rate).min(rate);
        b.last = Some(now);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The stand-in's shared state, and the way in for tests: inject mobile-originated messages and
/// look at what is queued. Shared by every server started with the same [`super::Knobs`].
pub struct Control {
    accounts: Mutex<HashMap<Bytes, Arc<Account>>>,
    next_id: AtomicU64,
    next_conn: AtomicU64,
    draining: std::sync::atomic::AtomicBool,
}

impl Default for Control {
    fn default() -> Self {
        // Ten hex digits, different on every start, as a real carrier's ids would be.
        let start = 0x10_0000_0000 + rand::random_range(0..0x80_0000_0000_u64);
        Self {
            accounts: Mutex::default(),
            next_id: AtomicU64::new(start),
            next_conn: AtomicU64::new(1),
            draining: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("accounts", &lock(&self.accounts).len())
            .finish_non_exhaustive()
    }
}

impl Control {
    /// The account of `system_id`, created on first use.
    pub(super) fn account(&self, system_id: &[u8]) -> Arc<Account> {
        let mut accounts = lock(&self.accounts);
        if let Some(a) = accounts.get(system_id) {
            return a.clone();
        }
        let a = Arc::new(Account::new());
        accounts.insert(Bytes::copy_from_slice(system_id), a.clone());
        a
    }

    /// Stops taking submits (they are answered `ESME_RSYSERR`) while queued receipts still go
    /// out: a carrier going down for maintenance without losing what it owes.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::Release);
    }

    /// Whether [`Control::drain`] was called.
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Receipts and MO queued for every account and not yet sent.
    pub fn pending_total(&self) -> usize {
        lock(&self.accounts).values().map(|a| a.pending()).sum()
    }

    /// A fresh carrier message id.
    pub(super) fn next_message_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// A fresh connection number.
    pub(super) fn next_conn(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// Queues a mobile-originated `deliver_sm` (esm_class 0) from `from` to `to` for account
    /// `system_id`: sent on one of its receiver or transceiver binds — held until one binds,
    /// resent until answered, like a receipt. Addresses get TON 1, NPI 1 when all digits, else
    /// TON 5 (alphanumeric), NPI 0.
    pub fn inject_mo(&self, system_id: &str, from: &str, to: &str, text: &str) {
        let item = Item {
            source: address(from),
            dest: address(to),
            kind: Kind::Mo {
                text: Bytes::copy_from_slice(text.as_bytes()),
            },
            attempts: 0,
        };
        let now = tokio::time::Instant::now().into_std();
        self.account(system_id.as_bytes())
            .push(std::iter::once((now, item)), usize::MAX);
    }

    /// Queues `n` DELIVRD receipts for ids this carrier never gave out, for account
    /// `system_id`: what a router meets after losing its records (a replaced store, records
    /// past their retention). Sent like any receipt.
    pub fn inject_unknown_receipts(&self, system_id: &str, n: usize) {
        let now = tokio::time::Instant::now().into_std();
        let submitted = super::receipts::unix_now();
        let items = (0..n as u64).map(|i| {
            let item = Item {
                source: address("447911123456"),
                dest: address("MyBank"),
                kind: Kind::Receipt {
                    id: 0xF0_0000_0000_u64 + i,
                    submitted,
                    state: smpp_router::smpp::values::MessageState::DELIVERED,
                },
                attempts: 0,
            };
            (now, item)
        });
        self.account(system_id.as_bytes()).push(items, usize::MAX);
    }

    /// `deliver_sm`s (receipts and MOs) queued for `system_id` and not yet sent: those held
    /// for lack of a receiver bind, not yet due, or waiting to be resent.
    pub fn pending(&self, system_id: &str) -> usize {
        lock(&self.accounts)
            .get(system_id.as_bytes())
            .map_or(0, |a| a.pending())
    }
}

/// An address with TON/NPI guessed from its characters.
pub(super) fn address(s: &str) -> Address {
    let digits = s.strip_prefix('+').unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        Address::new(1, 1, digits)
    } else {
        Address::new(5, 0, s)
    }
}
