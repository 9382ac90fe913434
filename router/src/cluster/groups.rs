//! The cluster's side of [`SharedGroups`]: a long message's group is the key `grp:<digest>`
//! (see `routing::groups::shared_key`), kept two minutes. The first part anywhere sets it to
//! `?` (`SET … NX`) while it is routed, then to the channel that took it (or `-` when none did);
//! a part of the group on another instance that finds it waits for that and follows it. While
//! Redis cannot be reached each instance decides its parts itself, as a single router does.

use std::time::Duration;

use tokio::time::Instant;

use super::Cluster;
use crate::routing::groups::{Claimed, Decision, GroupFuture, SharedGroups};

/// How long a group is remembered (the local groups' time, `routing::groups::GROUP_TTL`).
const KEEP_S: u64 = 120;
/// How often a part that follows looks for its first part's decision.
const LOOK_EVERY: Duration = Duration::from_millis(10);
const DECIDING: &str = "?";
const NONE_TOOK_IT: &str = "-";

impl SharedGroups for Cluster {
    fn claim<'a>(&'a self, key: &'a str, deadline: Instant) -> GroupFuture<'a, Claimed> {
        Box::pin(async move {
            if !self.up() {
                return Claimed::Lead; // Each instance decides its parts itself.
            }
            let key = self.key(&["grp", key]);
            let mut set = redis::cmd("SET");
            set.arg(&key).arg(DECIDING).arg("NX").arg("EX").arg(KEEP_S);
            match self.run::<Option<String>>(&set).await {
                Ok(Some(_)) | Err(_) => return Claimed::Lead,
                Ok(None) => {}
            }
            loop {
                let mut get = redis::cmd("GET");
                get.arg(&key);
                match self.run::<Option<String>>(&get).await {
                    Ok(Some(v)) if v == NONE_TOOK_IT => return Claimed::Decided(Decision::Open),
                    Ok(Some(v)) if v != DECIDING => return Claimed::Decided(Decision::Channel(v)),
                    // Gone (expired): this part goes its own way.
                    Ok(None) | Err(_) => return Claimed::Decided(Decision::Open),
                    Ok(Some(_)) => {}
                }
                if Instant::now() + LOOK_EVERY >= deadline {
                    return Claimed::Decided(Decision::Open);
                }
                tokio::time::sleep(LOOK_EVERY).await;
            }
        })
    }

    fn decide<'a>(&'a self, key: &'a str, decision: &'a Decision) -> GroupFuture<'a, ()> {
        Box::pin(async move {
            if !self.up() {
                return;
            }
            let value = match decision {
                Decision::Channel(c) => c.as_str(),
                Decision::Open | Decision::Pending => NONE_TOOK_IT,
            };
            let mut set = redis::cmd("SET");
            set.arg(self.key(&["grp", key]))
                .arg(value)
                .arg("XX")
                .arg("EX")
                .arg(KEEP_S);
            let _ = self.run::<Option<String>>(&set).await;
        })
    }
}
