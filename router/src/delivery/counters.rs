//! What the delivery layer counts (deliveries to clients, by how) and shows at scrape time
//! (bound sessions).

use super::registry::Registry;
use crate::metrics::{Family, Kind};

/// Receipts and MO to clients, by how they went.
pub static DELIVERIES: Family = Family {
    name: "smpp_router_deliveries_total",
    help: "Receipts and MO to clients: direct (acknowledged at once), stored, direct_late (acknowledged after it was stored), from_store, handed_over (moved to the cluster for an account bound on another instance), or refused (the client answered ESME_RX_P_APPN or ESME_RX_R_APPN: not offered again).",
    kind: Kind::Counter,
    labels: &["account", "how"],
};

static SESSIONS: Family = Family {
    name: "smpp_router_sessions",
    help: "Bound client sessions by account and mode.",
    kind: Kind::Gauge,
    labels: &["account", "mode"],
};

/// The delivery layer's families, for the registry.
pub static FAMILIES: &[&Family] = &[&DELIVERIES];

impl Registry {
    /// Writes the bound sessions by account and mode.
    pub fn write_metrics(&self, out: &mut String) {
        let mut counts: std::collections::BTreeMap<(String, &str), u64> = Default::default();
        for s in self.sessions() {
            *counts.entry((s.system_id, s.mode.as_str())).or_default() += 1;
        }
        SESSIONS.write(
            out,
            counts
                .into_iter()
                .map(|((account, mode), n)| ([account, mode.to_string()], n)),
        );
    }
}
