//! The route table: an immutable snapshot of accounts, channels and routes, swapped whole on
//! reload, and the routing decision — first matching route in file order.
//!
//! Routes with destination prefixes sit in a digit trie, routes by ISO region in a map, and the
//! rest in a list; a decision walks the destination's digits once, gathers the candidates and
//! checks them in file order, so it costs about the same with 1 route or 1,000.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::channels::Channel;
use crate::config::Accounts;
use crate::config::policy::Policy;
use crate::config::route::RouteSpec;
use crate::phone::Destination;
use crate::smpp::pdu::Sm;

/// A route ready to use.
pub struct Route {
    /// Its specification from routes.toml.
    pub spec: RouteSpec,
    /// Its channel plan, in order.
    pub plan: Vec<Arc<dyn Channel>>,
}

impl Route {
    /// The failover policy.
    pub fn policy(&self) -> &Policy {
        &self.spec.policy
    }

    /// The per-message deadline.
    pub fn deadline(&self) -> Duration {
        self.spec.deadline
    }
}

/// What a routing decision looks at.
pub struct RouteInput<'a> {
    /// The sending account's `system_id`.
    pub account: &'a str,
    /// The destination digits.
    pub dest: &'a [u8],
    /// The validated destination.
    pub destination: Destination,
    /// The message, for its source and (decoded on demand) its text.
    pub sm: &'a Sm,
    text: OnceLock<String>,
}

impl<'a> RouteInput<'a> {
    /// The input for `sm` from `account`.
    pub fn new(account: &'a str, sm: &'a Sm, destination: Destination) -> Self {
        let dest = sm.dest.addr.strip_prefix(b"+").unwrap_or(&sm.dest.addr);
        Self {
            account,
            dest,
            destination,
            sm,
            text: OnceLock::new(),
        }
    }

    fn text(&self) -> &str {
        self.text
            .get_or_init(|| crate::smpp::text::decode(self.sm.data_coding, self.sm.payload()))
    }
}

#[derive(Default)]
struct Node {
    children: [u32; 10],
    routes: Vec<u32>,
}

/// The immutable snapshot one `ArcSwap` holds.
pub struct RouteTable {
    /// Increases with every successful reload.
    pub generation: u64,
    /// The accounts (shared with the server, which binds against this snapshot's).
    pub accounts: Arc<Accounts>,
    /// The channels by name.
    pub channels: HashMap<String, Arc<dyn Channel>>,
    /// The routes in file order.
    pub routes: Vec<Route>,
    /// Each channel's configuration fingerprint, to keep unchanged channels across reloads.
    pub channel_configs: HashMap<String, String>,
    trie: Vec<Node>,
    by_region: HashMap<[u8; 2], Vec<u32>>,
    wildcard: Vec<u32>,
}

impl RouteTable {
    /// Builds the table and its indexes.
    pub fn new(
        generation: u64,
        accounts: Accounts,
        channels: HashMap<String, Arc<dyn Channel>>,
        routes: Vec<Route>,
    ) -> Self {
        let mut t = Self {
            generation,
            accounts: Arc::new(accounts),
            channels,
            routes,
            channel_configs: HashMap::new(),
            trie: vec![Node::default()],
            by_region: HashMap::new(),
            wildcard: Vec::new(),
        };
        for i in 0..t.routes.len() {
            let idx = i as u32;
            let spec = &t.routes[i].spec;
            if !spec.prefixes.is_empty() {
                let prefixes = spec.prefixes.clone();
                for p in prefixes {
                    let node = t.node_for(p.as_bytes());
                    t.trie[node].routes.push(idx);
                }
            } else if !spec.regions.is_empty() || !spec.calling_codes.is_empty() {
                // A country is a region or a calling code: the route is a candidate by either.
                for r in spec.regions.clone() {
                    t.by_region.entry(r).or_default().push(idx);
                }
                for code in spec.calling_codes.clone() {
                    let node = t.node_for(code.as_bytes());
                    t.trie[node].routes.push(idx);
                }
            } else {
                t.wildcard.push(idx);
            }
        }
        t
    }

    fn node_for(&mut self, digits: &[u8]) -> usize {
        let mut node = 0usize;
        for d in digits {
            let d = (d - b'0') as usize;
            let next = self.trie[node].children[d];
            node = if next == 0 {
                self.trie.push(Node::default());
                let n = self.trie.len() - 1;
                self.trie[node].children[d] = n as u32;
                n
            } else {
                next as usize
            };
        }
        node
    }

    /// An empty table: no accounts, no routes.
    pub fn empty() -> Self {
        Self::new(0, Accounts::default(), HashMap::new(), Vec::new())
    }

    /// The first route, in file order, that matches `input`.
    pub fn route(&self, input: &RouteInput<'_>) -> Option<&Route> {
        self.route_index(input).map(|i| &self.routes[i])
    }

    /// The index of the first route, in file order, that matches `input`.
    pub fn route_index(&self, input: &RouteInput<'_>) -> Option<usize> {
        let mut candidates: Vec<u32> = Vec::with_capacity(8);
        let mut node = 0usize;
        candidates.extend_from_slice(&self.trie[0].routes);
        for d in input.dest {
            let Some(d) = d.checked_sub(b'0').filter(|d| *d < 10) else {
                break;
            };
            match self.trie[node].children[d as usize] {
                0 => break,
                next => {
                    node = next as usize;
                    candidates.extend_from_slice(&self.trie[node].routes);
                }
            }
        }
        if let Some(v) = self.by_region.get(&input.destination.region) {
            candidates.extend_from_slice(v);
        }
        candidates.extend_from_slice(&self.wildcard);
        candidates.sort_unstable();
        candidates.dedup();
        candidates
            .into_iter()
            .map(|i| i as usize)
            .find(|&i| matches(&self.routes[i].spec, input))
    }
}

/// Whether every criterion of `spec` holds (prefixes were matched by the index, but a route
/// indexed by prefix may also have regions, so those are checked here).
fn matches(spec: &RouteSpec, input: &RouteInput<'_>) -> bool {
    mismatch(spec, input).is_none()
}

/// The first criterion of `spec` that `input` fails, named as in `routes.toml`; `None` when the
/// route matches.
pub fn mismatch(spec: &RouteSpec, input: &RouteInput<'_>) -> Option<&'static str> {
    if !(spec.accounts.is_empty() || spec.accounts.iter().any(|a| a == input.account)) {
        return Some("accounts");
    }
    if !(spec.prefixes.is_empty()
        || spec
            .prefixes
            .iter()
            .any(|p| input.dest.starts_with(p.as_bytes())))
    {
        return Some("prefixes");
    }
    if !((spec.regions.is_empty() && spec.calling_codes.is_empty())
        || spec.regions.contains(&input.destination.region)
        || spec
            .calling_codes
            .iter()
            .any(|c| input.dest.starts_with(c.as_bytes())))
    {
        return Some("countries");
    }
    if !spec
        .source
        .as_ref()
        .is_none_or(|re| re.is_match(&String::from_utf8_lossy(&input.sm.source.addr)))
    {
        return Some("source");
    }
    if !spec
        .content
        .as_ref()
        .is_none_or(|re| re.is_match(input.text()))
    {
        return Some("content");
    }
    None
}

#[cfg(test)]
mod tests;
