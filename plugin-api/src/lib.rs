//! The plugin ABI for smpp-router channels.
//!
//! Partners write new channels (a WhatsApp or RCS bridge, a local carrier's HTTP API) as shared
//! libraries that the router loads at run time. The ABI, the safe SDK and the test host arrive with
//! the plugin work; this crate reserves the name and its place in the workspace.

/// The major version of the plugin ABI. A plugin loads only when its major equals the host's.
pub const ABI_VERSION_MAJOR: u32 = 0;
/// The minor version of the plugin ABI. A plugin loads when its minor is at most the host's.
pub const ABI_VERSION_MINOR: u32 = 0;
