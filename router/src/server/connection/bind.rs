//! Binds: the password and lockout check, the account's bind count, and following the account
//! through reloads.

use super::*;
use crate::metrics::Hex;
use crate::server::counters::BINDS;

impl Conn {
    pub(super) async fn on_bind(&mut self, mode: BindMode, system_id: &[u8], password: &[u8]) {
        let shared = self.shared.clone();
        let accounts = shared.book.accounts();
        let result = shared
            .guard
            .authorize(&accounts, system_id, password, mode, self.peer.ip(), now())
            .await;
        let account = match result {
            Ok(a) => a,
            Err(status) => {
                tracing::info!(session = self.id, peer = %self.peer, system_id = %String::from_utf8_lossy(system_id), %status, "bind refused");
                let label = Hex(status.0).label();
                self.shared.metrics.add(&BINDS, &["-", label.as_str()], 1);
                return self.session.reject_bind(status);
            }
        };
        let rt = shared.runtimes.get(&account);
        let info = SessionInfo {
            id: self.id,
            system_id: account.system_id.clone(),
            mode,
            peer: self.peer,
            thread: crate::shards::current(),
        };
        let max = account.max_binds as usize;
        // In a cluster, one of the account's binds across all instances first.
        let in_cluster = match &shared.cluster {
            Some(c) => {
                c.take_bind(&account.system_id, self.id, account.max_binds)
                    .await
            }
            None => true,
        };
        if !in_cluster
            || !shared
                .registry
                .register_within(info, self.deliver_tx.clone(), max)
        {
            if in_cluster {
                release_bind(&shared, &account.system_id, self.id);
            }
            tracing::info!(session = self.id, system_id = %account.system_id, "bind refused: too many binds");
            let status = Hex(CommandStatus::RALYBND.0).label();
            self.shared
                .metrics
                .add(&BINDS, &[&account.system_id, status.as_str()], 1);
            return self.session.reject_bind(CommandStatus::RALYBND);
        }
        self.session.set_inbound_window(account.window as usize);
        if self
            .session
            .accept_bind(now(), shared.system_id.as_bytes())
            .is_err()
        {
            shared.registry.unregister(&account.system_id, self.id);
            release_bind(&shared, &account.system_id, self.id);
            return;
        }
        tracing::info!(session = self.id, peer = %self.peer, system_id = %account.system_id, mode = mode.as_str(), version = format_args!("{:#x}", self.session.interface_version()), "bound");
        self.shared
            .metrics
            .add(&BINDS, &[&account.system_id, Hex(0).label().as_str()], 1);
        self.bound = Some((account, rt));
        self.unbound = None;
    }

    /// After a reload of the accounts: takes the account's new settings, or unbinds when the
    /// account is gone or this session would no longer be allowed to bind (password, address,
    /// bind mode). The client may bind again, and is checked against the new settings then.
    pub(super) fn follow_account(&mut self) {
        let generation = self.shared.accounts_generation();
        if generation == self.accounts_seen {
            return;
        }
        self.accounts_seen = generation;
        let (Some((old, _)), Some(mode)) = (&self.bound, self.session.bind_mode()) else {
            return;
        };
        let accounts = self.shared.book.accounts();
        match accounts.get(&old.system_id) {
            Some(new)
                if new.password_hash == old.password_hash
                    && new.ip_allowed(self.peer.ip())
                    && new.mode_allowed(mode) =>
            {
                if !Arc::ptr_eq(new, old) {
                    self.session.set_inbound_window(new.window as usize);
                    // The account's TPS limiter (shared by its sessions) takes the new rate.
                    let rt = self.shared.runtimes.get(new);
                    self.bound = Some((new.clone(), rt));
                }
            }
            _ => {
                tracing::info!(session = self.id, system_id = %old.system_id, "the account was removed, or its password or allowed networks or bind modes changed: unbinding the session");
                let _ = self.session.unbind(now());
            }
        }
    }
}

/// Gives a session's bind back to the cluster (in cluster mode), without waiting.
pub(super) fn release_bind(shared: &Arc<Shared>, account: &str, session: u64) {
    if let Some(cluster) = shared.cluster.clone() {
        let account = account.to_string();
        tokio::spawn(async move { cluster.release_bind(&account, session).await });
    }
}
