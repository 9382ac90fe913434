//! Hash maps for the per-message paths: the standard `HashMap` with foldhash instead of SipHash,
//! several times faster on the small keys used here. foldhash is seeded at random per process but
//! only minimally resistant to chosen collisions, so these maps hold keys the router makes
//! (sequence numbers, router ids, names from the configuration) or maps a window bounds (the
//! peer's sequence numbers). Keys a peer chooses freely (carrier message ids) keep SipHash.

use std::collections::HashMap;

/// The hasher builder: randomly seeded per process.
pub type FastState = foldhash::fast::RandomState;

/// A `HashMap` hashed with [`FastState`].
pub type FastMap<K, V> = HashMap<K, V, FastState>;
