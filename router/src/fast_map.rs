//! Hash maps for the per-message paths: the standard `HashMap` with foldhash instead of SipHash.
//! foldhash is several times faster on the small keys used here (sequence numbers, router ids)
//! and, seeded at random per process like SipHash, keeps a peer from choosing colliding keys in
//! advance. Maps whose keys a peer controls are also bounded by a window.

use std::collections::HashMap;

/// The hasher builder: randomly seeded per process.
pub type FastState = foldhash::fast::RandomState;

/// A `HashMap` hashed with [`FastState`].
pub type FastMap<K, V> = HashMap<K, V, FastState>;
