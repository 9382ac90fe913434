//! The parts of one concatenated message take one channel (DESIGN §3, reference §5.6): the first
//! part of a group to arrive is routed through the plan, and the others wait for its decision and
//! go to the channel that took it. Channels that cannot carry parts ([`Channel::carries_parts`]:
//! iMessage, where an OTP is one whole text) are left out of a part's plan.
//!
//! A group is known by its account, source, destination, reference and number of parts; it is
//! forgotten once all its parts have come, or [`GROUP_TTL`] after its first part.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::channel::Channel;
use crate::smpp::pdu::Sm;
use crate::smpp::tlv::Sar;

/// How long a group whose parts have not all come is remembered.
pub const GROUP_TTL: Duration = Duration::from_secs(600);

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
        let decision = channel.map_or(Decision::Open, |c| Decision::Channel(c.to_string()));
        let _ = self.0.send(decision);
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    account: String,
    source: Vec<u8>,
    dest: Vec<u8>,
    reference: u16,
    total: u8,
}

struct Entry {
    decision: watch::Receiver<Decision>,
    seen: u8,
    since: Instant,
}

/// The groups whose parts are coming in.
#[derive(Default)]
pub struct Groups {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    groups: HashMap<Key, Entry>,
    /// The groups in the order they began, for forgetting the incomplete ones.
    order: VecDeque<(Instant, Key)>,
}

impl Groups {
    /// The role of part `part` of `account`'s message `sm`.
    pub fn join(&self, account: &str, sm: &Sm, part: Sar) -> Role {
        let key = Key {
            account: account.to_string(),
            source: sm.source.addr.as_slice().to_vec(),
            dest: sm.dest.addr.as_slice().to_vec(),
            reference: part.reference,
            total: part.total,
        };
        let now = Instant::now();
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.forget_older_than(now, GROUP_TTL);
        if let Some(entry) = inner.groups.get_mut(&key) {
            entry.seen = entry.seen.saturating_add(1);
            let decision = entry.decision.clone();
            if entry.seen >= part.total {
                inner.groups.remove(&key);
            }
            return Role::Follow(decision);
        }
        let (tx, rx) = watch::channel(Decision::Pending);
        if part.total > 1 {
            inner.groups.insert(
                key.clone(),
                Entry {
                    decision: rx,
                    seen: 1,
                    since: now,
                },
            );
            inner.order.push_back((now, key));
        }
        Role::Lead(Lead(tx))
    }

    /// Groups remembered now (tests).
    pub fn len(&self) -> usize {
        self.inner.lock().map(|i| i.groups.len()).unwrap_or(0)
    }

    /// Whether no group is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Inner {
    fn forget_older_than(&mut self, now: Instant, ttl: Duration) {
        while let Some((since, _)) = self.order.front() {
            if now.duration_since(*since) < ttl {
                break;
            }
            if let Some((since, key)) = self.order.pop_front()
                && self.groups.get(&key).is_some_and(|e| e.since == since)
            {
                self.groups.remove(&key);
            }
        }
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
        assert!(matches!(
            g.join("acme", &sm("2"), part(1, 2, 1)),
            Role::Lead(_)
        ));
        assert_eq!(g.len(), 1, "the incomplete group expired");
    }
}
