//! The parts of one concatenated message take one channel: the first
//! part of a group to arrive is routed through the plan, and the others wait for its decision and
//! go to the channel that took it. Channels that cannot carry parts ([`Channel::carries_parts`]:
//! iMessage, where an OTP is one whole text) are left out of a part's plan.
//!
//! A group is known by its account, source, destination, reference and number of parts (hashed
//! with a per-process key: no allocation per part); it is forgotten once all its parts have come,
//! or [`GROUP_TTL`] after its first part (a sweep at most once a second drops those). Groups are
//! spread over [`SHARDS`] locks, so that parts on different threads seldom wait for each other.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::channels::Channel;
use crate::smpp::pdu::Sm;
use crate::smpp::tlv::Sar;

/// How long a group whose parts have not all come is remembered.
pub const GROUP_TTL: Duration = Duration::from_secs(120);
/// How many locks the groups are spread over.
pub const SHARDS: usize = 16;
/// How often a shard drops the groups older than [`GROUP_TTL`].
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// What the first part of a group made of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Still being routed.
    Pending,
    /// This channel took it: the other parts go there.
    Channel(String),
    /// No channel took it: each other part goes through the plan by itself.
    Open,
}

/// A part's place in its group.
pub enum Role {
    /// The first part: it decides ([`Lead::decide`]).
    Lead(Lead),
    /// A later part: it follows the first one's decision ([`follow`]).
    Follow(watch::Receiver<Decision>),
}

/// The first part's handle on its group's decision. Dropped without deciding, the group is
/// [`Decision::Open`].
pub struct Lead(watch::Sender<Decision>);

impl Lead {
    /// Tells the group's other parts which channel took the first one (`None`: none did).
    pub fn decide(self, channel: Option<&str>) {
        self.tell(Decision::of(channel));
    }

    /// Tells the group's other parts here what was decided (by another instance's part).
    pub fn tell(self, decision: Decision) {
        let _ = self.0.send(decision);
    }
}

impl Decision {
    /// The decision of a first part that `channel` took (`None`: none did).
    pub fn of(channel: Option<&str>) -> Self {
        channel.map_or(Self::Open, |c| Self::Channel(c.to_string()))
    }
}

/// The future of a [`SharedGroups`] call.
pub type GroupFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// What a claim on a group across a cluster found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claimed {
    /// This part is the group's first anywhere: it decides.
    Lead,
    /// A part on another instance decided (or was deciding, and did within the deadline).
    Decided(Decision),
}

/// The parts of one message arriving at several instances of a cluster: the first part anywhere
/// decides the channel, and the parts on other instances follow it. A single router has none
/// (its [`Groups`] see every part).
pub trait SharedGroups: Send + Sync + 'static {
    /// Claims group `key` (see [`shared_key`]) for this part; waits until `deadline` for a
    /// decision another instance's part is making.
    fn claim<'a>(&'a self, key: &'a str, deadline: Instant) -> GroupFuture<'a, Claimed>;
    /// Tells the other instances what the first part made of group `key`.
    fn decide<'a>(&'a self, key: &'a str, decision: &'a Decision) -> GroupFuture<'a, ()>;
}

/// The key of `account`'s group of part `part` of `sm`, the same on every instance: a digest of
/// what identifies the group, so that no number is written out.
pub fn shared_key(account: &str, sm: &Sm, part: Sar) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for field in [
        account.as_bytes(),
        sm.source.addr.as_slice(),
        sm.dest.addr.as_slice(),
        &part.reference.to_be_bytes(),
        &[part.total],
    ] {
        ctx.update(&(field.len() as u32).to_be_bytes());
        ctx.update(field);
    }
    ctx.finish().as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

struct Entry {
    decision: watch::Receiver<Decision>,
    seen: u8,
    since: Instant,
}

struct Shard {
    groups: HashMap<u64, Entry>,
    swept: Instant,
}

/// The groups whose parts are coming in.
pub struct Groups {
    shards: Vec<Mutex<Shard>>,
    /// Keyed per process: a client cannot aim its references at one shard's bucket.
    hasher: RandomState,
}

impl Default for Groups {
    fn default() -> Self {
        let now = Instant::now();
        Self {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        groups: HashMap::new(),
                        swept: now,
                    })
                })
                .collect(),
            hasher: RandomState::new(),
        }
    }
}

impl Groups {
    /// The role of part `part` of `account`'s message `sm`. A "part" of a message of one part
    /// is a whole message: the caller does not ask for it.
    pub fn join(&self, account: &str, sm: &Sm, part: Sar) -> Role {
        let key = self.hasher.hash_one((
            account,
            sm.source.addr.as_slice(),
            sm.dest.addr.as_slice(),
            part.reference,
            part.total,
        ));
        let now = Instant::now();
        let shard = &self.shards[(key as usize) % SHARDS];
        let mut shard = shard.lock().unwrap_or_else(|p| p.into_inner());
        if now.duration_since(shard.swept) >= SWEEP_EVERY {
            shard.swept = now;
            shard
                .groups
                .retain(|_, e| now.duration_since(e.since) < GROUP_TTL);
        }
        if let Some(entry) = shard.groups.get_mut(&key) {
            entry.seen = entry.seen.saturating_add(1);
            let decision = entry.decision.clone();
            if entry.seen >= part.total {
                shard.groups.remove(&key);
            }
            return Role::Follow(decision);
        }
        let (tx, rx) = watch::channel(Decision::Pending);
        if part.total > 1 {
            shard.groups.insert(
                key,
                Entry {
                    decision: rx,
                    seen: 1,
                    since: now,
                },
            );
        }
        Role::Lead(Lead(tx))
    }

    /// Groups remembered now (tests).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map(|s| s.groups.len()).unwrap_or(0))
            .sum()
    }

    /// Whether no group is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Waits (until `deadline`) for the first part's decision.
pub async fn follow(mut decision: watch::Receiver<Decision>, deadline: Instant) -> Decision {
    let wait = async {
        loop {
            let now = decision.borrow_and_update().clone();
            if now != Decision::Pending {
                return now;
            }
            if decision.changed().await.is_err() {
                return Decision::Open;
            }
        }
    };
    tokio::time::timeout_at(deadline, wait)
        .await
        .unwrap_or(Decision::Open)
}

/// The plan for a part: the channel its group was decided for, when it is in `channels`; else
/// the route's plan without the channels that cannot carry parts.
pub fn plan_for_part(
    plan: &[Arc<dyn Channel>],
    channels: &HashMap<String, Arc<dyn Channel>>,
    decision: &Decision,
) -> Vec<Arc<dyn Channel>> {
    if let Decision::Channel(name) = decision
        && let Some(c) = channels.get(name)
    {
        return vec![c.clone()];
    }
    plan.iter().filter(|c| c.carries_parts()).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smpp::pdu::Address;

    fn sm(dest: &str) -> Sm {
        Sm {
            source: Address::new(5, 0, "Bank"),
            dest: Address::new(1, 1, dest),
            ..Sm::default()
        }
    }

    fn part(reference: u16, total: u8, seqnum: u8) -> Sar {
        Sar {
            reference,
            total,
            seqnum,
        }
    }

    #[tokio::test]
    async fn later_parts_follow_the_first_and_the_group_is_forgotten_when_complete() {
        let g = Groups::default();
        let Role::Lead(lead) = g.join("acme", &sm("14155551234"), part(7, 3, 2)) else {
            panic!("the first part to come leads");
        };
        let Role::Follow(second) = g.join("acme", &sm("14155551234"), part(7, 3, 1)) else {
            panic!("a later part follows");
        };
        // Another destination, account or reference is another group.
        assert!(matches!(
            g.join("acme", &sm("447911123456"), part(7, 3, 1)),
            Role::Lead(_)
        ));
        assert!(matches!(
            g.join("other", &sm("14155551234"), part(7, 3, 1)),
            Role::Lead(_)
        ));
        assert_eq!(g.len(), 3);
        let deadline = Instant::now() + Duration::from_secs(5);
        let waiting = tokio::spawn(follow(second, deadline));
        tokio::task::yield_now().await;
        lead.decide(Some("carrier"));
        assert_eq!(waiting.await.unwrap(), Decision::Channel("carrier".into()));
        let Role::Follow(third) = g.join("acme", &sm("14155551234"), part(7, 3, 3)) else {
            panic!("the last part follows");
        };
        assert_eq!(
            follow(third, deadline).await,
            Decision::Channel("carrier".into())
        );
        assert_eq!(g.len(), 2, "a complete group is forgotten");
    }

    #[tokio::test]
    async fn a_lead_that_ends_without_deciding_leaves_the_group_open() {
        let g = Groups::default();
        let Role::Lead(lead) = g.join("acme", &sm("1"), part(1, 2, 1)) else {
            panic!()
        };
        let Role::Follow(other) = g.join("acme", &sm("1"), part(1, 2, 2)) else {
            panic!()
        };
        drop(lead);
        let deadline = Instant::now() + Duration::from_secs(5);
        assert_eq!(follow(other, deadline).await, Decision::Open);
    }

    #[tokio::test(start_paused = true)]
    async fn a_follower_waits_no_longer_than_its_deadline_and_old_groups_are_forgotten() {
        let g = Groups::default();
        let Role::Lead(_lead) = g.join("acme", &sm("1"), part(1, 3, 1)) else {
            panic!()
        };
        let Role::Follow(other) = g.join("acme", &sm("1"), part(1, 3, 2)) else {
            panic!()
        };
        let deadline = Instant::now() + Duration::from_secs(1);
        assert_eq!(follow(other, deadline).await, Decision::Open);
        tokio::time::advance(GROUP_TTL).await;
        // The incomplete group expired: its last part now starts a group of its own.
        assert!(matches!(
            g.join("acme", &sm("1"), part(1, 3, 3)),
            Role::Lead(_)
        ));
        assert_eq!(g.len(), 1);
    }
}
