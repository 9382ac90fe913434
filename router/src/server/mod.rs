//! The inbound SMPP server that aggregators bind to: plaintext and TLS listeners, a global
//! connection limit, one task per connection driving the sans-IO session, account
//! authorisation, throttling, validation, and delivery of `deliver_sm` back to clients.
//!
//! What happens to a valid message is decided by a [`SubmitHandler`] (the routing core).

pub mod accept_all;
pub mod auth;
mod connection;
pub mod counters;
pub mod handler;
pub mod proxy;
pub mod runtime;
pub mod shared_limits;
mod submissions;
pub mod tls;
pub mod validate;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

pub use crate::delivery::registry::{DeliverError, Registry, SessionInfo};
pub use handler::{Outcome, OutcomeFuture, Submission, SubmitHandler};

use crate::config::Accounts;
use crate::config::router::{Limits, RouterConfig};
use crate::delivery::{Delivery, Resender};
use crate::log_every::LogEvery;
use crate::quick_ack::QuickAck;
use crate::shards::Shards;
use crate::smpp::session::{Role, SessionConfig};
use auth::BindGuard;
use runtime::Runtimes;

/// Where the server reads the accounts clients bind as, and learns that they changed (the
/// router's table: one snapshot of routes, channels and accounts).
pub trait AccountBook: Send + Sync + 'static {
    /// The accounts in service.
    fn accounts(&self) -> Arc<Accounts>;
    /// Bumped after every change: bound sessions look at their account again (it wakes them).
    fn changes(&self) -> watch::Receiver<u64>;
}

/// Accounts that never change (tests, benchmarks).
pub struct FixedAccounts {
    accounts: Arc<Accounts>,
    changes: watch::Sender<u64>,
}

impl FixedAccounts {
    /// `accounts`, for good.
    pub fn new(accounts: Accounts) -> Arc<Self> {
        Arc::new(Self {
            accounts: Arc::new(accounts),
            changes: watch::channel(0).0,
        })
    }
}

impl AccountBook for FixedAccounts {
    fn accounts(&self) -> Arc<Accounts> {
        self.accounts.clone()
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }
}

/// What the server is built from: the services it calls, made before it (see `app`).
pub struct Services {
    /// The accounts clients bind as.
    pub accounts: Arc<dyn AccountBook>,
    /// Where valid messages go.
    pub handler: Arc<dyn SubmitHandler>,
    /// Bound sessions, for deliveries (shared with the outbox).
    pub registry: Arc<Registry>,
    /// Where receipts the router makes itself go when the session that sent the message cannot
    /// take them: durably, through the store. Without one they go to a bound session or are lost.
    pub delivery: Option<Arc<dyn Delivery>>,
    /// The router's counters.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The data-path threads connections are served on.
    pub shards: Arc<Shards>,
    /// In cluster mode, the lockout and bind counts shared with the other instances.
    pub cluster: Option<Arc<dyn shared_limits::SharedLimits>>,
}

/// What every connection shares.
pub struct Shared {
    /// The accounts clients bind as.
    pub book: Arc<dyn AccountBook>,
    /// The book's changes, for the generation sessions compare with theirs.
    accounts_changed: watch::Receiver<u64>,
    /// Bind authorisation and lockout.
    pub guard: BindGuard,
    /// In cluster mode, the bind counts shared with the other instances.
    pub cluster: Option<Arc<dyn shared_limits::SharedLimits>>,
    /// The router's counters.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Per-account limiters and counts.
    pub runtimes: Runtimes,
    /// Bound sessions, for deliveries.
    pub registry: Arc<Registry>,
    /// Where valid messages go.
    pub handler: Arc<dyn SubmitHandler>,
    /// The `system_id` the router answers binds with.
    pub system_id: String,
    /// The largest message accepted.
    pub max_message_len: usize,
    /// Work connections handed to other tasks (submissions of closed connections, receipts on
    /// their way), which shutdown waits for.
    detached: submissions::Detached,
    /// Where receipts the router makes itself go when the session cannot take them.
    delivery: Option<Arc<dyn Delivery>>,
    limits: Limits,
    /// Load balancers whose connections open with a PROXY protocol header.
    proxies: Vec<ipnet::IpNet>,
    /// Connections not bound yet, by address (see [`Unbound`]).
    unbound: Mutex<HashMap<IpAddr, usize>>,
    /// Connections closed at once because their address had too many unbound.
    refused_log: LogEvery,
    /// Set when a shutdown starts: sessions are being drained (`/readyz` says so).
    draining: std::sync::atomic::AtomicBool,
}

/// A connection from `ip` that has not bound yet: counted against its address until it binds
/// or closes.
pub struct Unbound {
    shared: Arc<Shared>,
    ip: IpAddr,
}

impl Drop for Unbound {
    fn drop(&mut self) {
        let mut map = self
            .shared
            .unbound
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

impl Shared {
    /// Logs (at most every ten seconds) that a connection was closed because its address has
    /// `limits.max_unbound_per_address` connections that have not bound.
    fn too_many_unbound(&self, ip: IpAddr) {
        if let Some(also) = self.refused_log.allow(std::time::Instant::now()) {
            tracing::warn!(%ip, limit = self.limits.max_unbound_per_address, also_since_last_line = also, "too many connections from one address that have not bound; closing new ones (limits.max_unbound_per_address)");
        }
    }

    /// A slot for an unbound connection from `ip`, or `None` when its address has
    /// `max_unbound_per_address` already.
    fn unbound(self: &Arc<Self>, ip: IpAddr) -> Option<Unbound> {
        let ip = auth::client_key(ip);
        let mut map = self.unbound.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(ip).or_insert(0);
        if *n >= self.limits.max_unbound_per_address.max(1) {
            return None;
        }
        *n += 1;
        Some(Unbound {
            shared: self.clone(),
            ip,
        })
    }

    /// The session settings of a new connection; `crowded` when nearly every connection slot
    /// is taken: it must then bind sooner.
    fn session_config(&self, crowded: bool) -> SessionConfig {
        let l = &self.limits;
        let pre_bind = if crowded {
            l.pre_bind_timeout.min(l.crowded_pre_bind_timeout)
        } else {
            l.pre_bind_timeout
        };
        SessionConfig {
            role: Role::Mc,
            max_pdu_len: l.max_pdu_len,
            window: l.deliver_window.max(1),
            inbound_window: 1,
            response_timeout: l.response_timeout,
            bind_timeout: pre_bind,
            enquire_link_interval: Some(l.enquire_link_interval),
            inactivity_timeout: Some(l.inactivity_timeout),
            max_session: Some(l.max_session),
            ..SessionConfig::mc()
        }
    }

    /// The `submit_sm_resp` of the message with `key` is written (or never will be): its
    /// receipts may go out.
    pub(crate) fn answered(&self, key: Option<u64>) {
        if let Some(delivery) = &self.delivery {
            delivery.answers().close(key);
        }
    }

    /// The message store, when there is one (`query_sm` reads it).
    pub(crate) fn store(&self) -> Option<&dyn crate::store::Store> {
        self.delivery.as_ref().map(|d| &**d.store())
    }

    /// Hands a receipt for `system_id` on: through the delivery layer (to a receiving session at
    /// once, or kept until one binds), or without one straight to a session.
    pub(crate) async fn deliver_receipt(&self, system_id: &str, sm: crate::smpp::pdu::Sm) {
        let failed = match self.delivery.as_ref() {
            Some(delivery) => delivery
                .push(system_id, sm, Resender::Nobody)
                .await
                .err()
                .map(|e| e.to_string()),
            None => self
                .registry
                .deliver(system_id, sm)
                .await
                .err()
                .map(|e| e.to_string()),
        };
        if let Some(error) = failed {
            tracing::warn!(%system_id, %error, "receipt not delivered");
        }
    }

    /// Keeps a receipt the client refused for now, to be offered again a second later: in the
    /// store when there is one.
    pub(crate) async fn keep_receipt(&self, system_id: &str, sm: crate::smpp::pdu::Sm) {
        let failed = match self.delivery.as_ref() {
            Some(delivery) => delivery
                .keep(system_id, sm, Resender::Nobody)
                .await
                .err()
                .map(|e| e.to_string()),
            None => {
                tokio::time::sleep(Duration::from_secs(1)).await;
                self.registry
                    .deliver(system_id, sm)
                    .await
                    .err()
                    .map(|e| e.to_string())
            }
        };
        if let Some(error) = failed {
            tracing::warn!(%system_id, %error, "receipt not delivered");
        }
    }

    /// Whether a shutdown has started: sessions are being drained and no new ones accepted.
    pub fn draining(&self) -> bool {
        self.draining.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The number of account reloads so far.
    fn accounts_generation(&self) -> u64 {
        *self.accounts_changed.borrow()
    }
}

/// A running server.
pub struct Server {
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    connections: Arc<Semaphore>,
    max_connections: u32,
    plain: Option<SocketAddr>,
    tls: Option<SocketAddr>,
    listeners: Vec<JoinHandle<()>>,
    /// Where accepted connections go (held by the listeners, not by the connections).
    shards: Arc<Shards>,
}

impl Server {
    /// Binds the listeners of `config` (port 0 picks a free port) and starts serving.
    pub async fn start(
        config: &RouterConfig,
        services: Services,
        tls: Option<TlsAcceptor>,
    ) -> anyhow::Result<Self> {
        let Services {
            accounts,
            handler,
            registry,
            delivery,
            metrics,
            shards,
            cluster,
        } = services;
        // Compile the main markets' numbering rules off the data path; a message that arrives
        // first (or for another country) compiles its country itself, once (3–4 ms).
        let regions = config.limits.phone_warm_up.clone();
        std::thread::spawn(move || crate::phone::warm_up(&regions));
        let limits = config.limits.clone();
        let shared = Arc::new(Shared {
            accounts_changed: accounts.changes(),
            book: accounts,
            guard: BindGuard::new(config.security.clone()).shared(cluster.clone()),
            runtimes: Runtimes::new(cluster.clone()),
            cluster,
            metrics,
            registry,
            handler,
            system_id: "smpp-router".into(),
            max_message_len: limits.max_message_len,
            detached: submissions::Detached::default(),
            delivery,
            limits,
            proxies: config.listen.proxies().map_err(anyhow::Error::msg)?,
            unbound: Mutex::new(HashMap::new()),
            refused_log: LogEvery::new(Duration::from_secs(10)),
            draining: std::sync::atomic::AtomicBool::new(false),
        });
        let max = config
            .limits
            .max_connections
            .clamp(1, Semaphore::MAX_PERMITS) as u32;
        let connections = Arc::new(Semaphore::new(max as usize));
        let (shutdown, _) = watch::channel(false);
        let mut server = Self {
            shared,
            shutdown,
            connections,
            max_connections: max,
            plain: None,
            tls: None,
            listeners: Vec::new(),
            shards,
        };
        if let Some(addr) = config.listen.plain_addr().map_err(anyhow::Error::msg)? {
            server.plain = Some(server.listen(addr, None).await?);
        }
        if let (Some(addr), Some(acceptor)) =
            (config.listen.tls_addr().map_err(anyhow::Error::msg)?, tls)
        {
            server.tls = Some(server.listen(addr, Some(acceptor)).await?);
        }
        Ok(server)
    }

    async fn listen(
        &mut self,
        addr: SocketAddr,
        tls: Option<TlsAcceptor>,
    ) -> anyhow::Result<SocketAddr> {
        // A backlog as deep as the connection limit: a burst of connections is answered (or
        // closed) rather than left complete on the client's side and never served.
        let backlog = self.max_connections.max(128);
        let listener =
            listen(addr, backlog).map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
        let local = listener.local_addr()?;
        tracing::info!(addr = %local, tls = tls.is_some(), "SMPP listener up");
        let task = tokio::spawn(accept_loop(
            listener,
            tls,
            self.shared.clone(),
            self.shards.clone(),
            self.connections.clone(),
            self.shutdown.subscribe(),
        ));
        self.listeners.push(task);
        Ok(local)
    }

    /// The plaintext listener's address.
    pub fn plain_addr(&self) -> Option<SocketAddr> {
        self.plain
    }

    /// The TLS listener's address.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls
    }

    /// What the connections share (registry, accounts).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Connections open now.
    pub fn connections(&self) -> usize {
        (self.max_connections as usize).saturating_sub(self.connections.available_permits())
    }

    /// Stops accepting, unbinds every session once its in-flight messages are answered, and
    /// waits up to `grace` for the connections to finish — and for the messages of clients
    /// that left before their answers, which are routed (and recorded) all the same.
    pub async fn shutdown(self, grace: Duration) {
        self.shared
            .draining
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = self.shutdown.send(true);
        for l in &self.listeners {
            l.abort();
        }
        let deadline = tokio::time::Instant::now() + grace;
        let all = self.connections.acquire_many(self.max_connections);
        if tokio::time::timeout_at(deadline, all).await.is_err() {
            tracing::warn!(
                open = self.connections(),
                "shutdown grace over; dropping connections"
            );
        }
        let detached = &self.shared.detached;
        if tokio::time::timeout_at(deadline, detached.idle())
            .await
            .is_err()
        {
            tracing::warn!(
                left = detached.count(),
                "shutdown grace over; dropping messages of closed connections still being routed and receipts not yet stored"
            );
        }
    }
}

/// A listening socket on `addr` with `backlog` (the kernel caps it at `net.core.somaxconn`).
fn listen(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    shards: Arc<Shards>,
    connections: Arc<Semaphore>,
    shutdown: watch::Receiver<bool>,
) {
    loop {
        let (sock, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "connection limit reached; closing new connection");
            drop(sock);
            continue;
        };
        // Counted against its address at once, in the order connections come (a balancer's
        // connections once its header names the client, below).
        let proxied = shared.proxies.iter().any(|n| n.contains(&peer.ip()));
        let unbound = match proxied {
            true => None,
            false => match shared.unbound(peer.ip()) {
                Some(u) => Some(u),
                None => {
                    shared.too_many_unbound(peer.ip());
                    continue;
                }
            },
        };
        // Nine tenths of the slots taken: new connections must bind sooner.
        let crowded = connections.available_permits() * 10 < shared.limits.max_connections;
        let _ = sock.set_nodelay(true);
        // The socket moves to the shard that serves the connection (its own event loop).
        let sock = match sock.into_std() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "cannot hand the connection over; closing it");
                continue;
            }
        };
        let shared = shared.clone();
        let shutdown = shutdown.clone();
        let tls = tls.clone();
        shards.spawn(async move {
            let _permit = permit;
            let mut sock = match TcpStream::from_std(sock) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "cannot serve the connection");
                    return;
                }
            };
            // Behind a load balancer: the client's address, from the PROXY protocol header.
            let mut peer = peer;
            let unbound = match unbound {
                Some(u) => u,
                None => {
                    match proxy::read_header(&mut sock).await {
                        Ok(proxy::Source::Client(client)) => peer = client,
                        Ok(proxy::Source::Local) => {}
                        Err(e) => {
                            tracing::info!(%peer, error = %e, "connection from a load balancer closed");
                            return;
                        }
                    }
                    match shared.unbound(peer.ip()) {
                        Some(u) => u,
                        None => return shared.too_many_unbound(peer.ip()),
                    }
                }
            };
            // SAFETY: `ack` goes to `serve` with the stream, which owns it until it returns.
            let ack = unsafe { QuickAck::of(&sock) };
            let accepted = connection::Accepted {
                ack,
                peer,
                unbound,
                crowded,
                tls: tls.is_some(),
            };
            match tls {
                None => connection::serve(sock, accepted, shared, shutdown).await,
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(sock));
                    match handshake.await {
                        Ok(Ok(stream)) => {
                            connection::serve(stream, accepted, shared, shutdown).await
                        }
                        Ok(Err(e)) => tracing::info!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::info!(%peer, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
}
