//! The composition root: [`start`] builds every service of a router in dependency order and
//! returns it [`Running`]. `smpp-router run` (the `smpp-router-cli` crate) and the end-to-end
//! tests start a router here.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::channels::plugin::Plugins;
use crate::channels::{ChannelContext, ChannelKinds};
use crate::cluster::Cluster;
use crate::config::{Diagnostic, RouterConfig};
use crate::delivery::Delivery;
use crate::delivery::outbox::Outbox;
use crate::delivery::registry::Registry;
use crate::ids::IdMinter;
use crate::metrics::Metrics;
use crate::routing::router::Router;
use crate::routing::watch::{self, Reloads};
use crate::server::{Server, Services, tls};
use crate::shards::{Shards, Threads};
use crate::store::{MemoryStore, RedbOptions, RedbStore, Store};

/// Turns configuration diagnostics into one error listing every line.
pub fn diagnostics_error(what: &str, diags: Vec<Diagnostic>) -> anyhow::Error {
    let lines: Vec<String> = diags.iter().map(ToString::to_string).collect();
    anyhow::anyhow!("{what} has {} error(s):\n{}", diags.len(), lines.join("\n"))
}

/// Third-party crates whose log lines are never shown, whatever the level: the number-parsing
/// library's trace lines carry whole phone numbers, and the file watcher's would report the
/// router's own log file when it sits beside `routes.toml` — each line a new event, logged again.
const SILENCED: [&str; 3] = ["rlibphonenumber=off", "phonenumber=off", "notify=off"];

/// Sets up `tracing` as `router.toml` asks (text or JSON); `RUST_LOG` overrides the level.
pub fn init_logging(format: &str, level: &str) {
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    for directive in SILENCED {
        if let Ok(d) = directive.parse() {
            filter = filter.add_directive(d);
        }
    }
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi);
    let _ = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// A router built and serving: what [`start`] returns. Dropping it stops nothing gracefully;
/// call [`Running::shutdown`].
pub struct Running {
    /// The routing core: the table in service and the one reload path.
    pub router: Arc<Router>,
    /// The SMPP server.
    pub server: Server,
    /// The message store.
    pub store: Arc<dyn Store>,
    /// Receipts on their way to clients.
    pub outbox: Arc<Outbox>,
    /// Its counters (what `/metrics` shows).
    pub metrics: Arc<Metrics>,
    /// Its plugin host.
    pub plugins: Arc<Plugins>,
    /// Its link to the cluster, in cluster mode.
    pub cluster: Option<Arc<Cluster>>,
    /// Asks for a reload (SIGHUP, the admin API and the file watcher use it).
    pub reloads: Reloads,
    /// The admin interface's address, when it listens.
    pub admin: Option<SocketAddr>,
    /// The data-path threads: stopped by [`Running::shutdown`], or when this is dropped.
    threads: Threads,
    /// The delivery-record sinks (stopped when this is dropped).
    _records: crate::records::Records,
    _watcher: notify::RecommendedWatcher,
}

/// Builds the router's services in dependency order — store, delivery (registry and outbox),
/// router (its channels and routes), server, file watcher, admin — and starts serving. This is
/// the one place the services are wired: `smpp-router run` and the end-to-end tests both start
/// here. `ids` mints the message ids (one minter per router).
///
/// Process-wide, not per router: only the plugin libraries opened (`channels/plugin/library.rs`:
/// code once loaded is never unloaded).
pub async fn start(config: &RouterConfig, ids: Arc<IdMinter>) -> anyhow::Result<Running> {
    // What can fail without side effects first: nothing is listening yet.
    let admin_token = match &config.admin.token {
        Some(spec) => Some(
            crate::config::resolve_secret(spec).map_err(|e| anyhow::anyhow!("admin.token: {e}"))?,
        ),
        None => None,
    };
    let admin_listen = admin_addr(&config.admin.listen)?;
    // Each module lists the families it counts; all show from the start.
    let metrics = Arc::new(Metrics::new(
        [
            crate::server::counters::FAMILIES,
            crate::routing::counters::FAMILIES,
            crate::channels::counters::FAMILIES,
            crate::delivery::counters::FAMILIES,
            crate::cluster::counters::FAMILIES,
            crate::records::counters::FAMILIES,
        ]
        .concat(),
    ));
    let store = open_store(&config.store, crate::records::enabled(config))?;
    // The data path's threads, before anything that serves connections or binds to carriers.
    let threads = match config.limits.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let (shards, threads) = Shards::start(threads).context("starting the shard threads")?;
    let shards = Arc::new(shards);
    let registry = Arc::new(Registry::new(config.limits.response_timeout));
    let outbox = Outbox::new(
        store.clone(),
        registry.clone(),
        metrics.clone(),
        config.store.receipt_ttl,
        Vec::<String>::new(),
    );
    // Before the carrier channels bind: a carrier that sends again a receipt stored just before
    // the last stop is answered without a second delivery.
    outbox.remember_stored();
    // In cluster mode receipts go to whichever instance has their account bound.
    let cluster = match &config.cluster {
        None => None,
        Some(settings) => Some(
            Cluster::connect(
                settings,
                &config.data_dir,
                config.store.retention,
                metrics.clone(),
            )
            .await?,
        ),
    };
    let delivery: Arc<dyn Delivery> = match &cluster {
        None => outbox.clone(),
        Some(cluster) => crate::cluster::delivery::ClusterDelivery::new(
            outbox.clone(),
            registry.clone(),
            cluster.clone(),
            config.store.receipt_ttl,
        ),
    };
    // Plugin libraries are opened from private copies kept here (see `channels::plugin`).
    let plugins = Plugins::new(config.data_dir.join("plugins"));
    let channels = ChannelContext {
        delivery: delivery.clone(),
        metrics: metrics.clone(),
        plugins: plugins.clone(),
        shards: shards.clone(),
        leases: cluster
            .clone()
            .map(|c| c as Arc<dyn crate::channels::leases::BindLeases>),
    };
    // The channel kinds routes.toml may name.
    let kinds = ChannelKinds::builtin();
    let router = Arc::new(
        Router::new(&config.routes, ids, kinds, Some(channels), metrics.clone())
            .with_shared_groups(
                cluster
                    .clone()
                    .map(|c| c as Arc<dyn crate::routing::groups::SharedGroups>),
            ),
    );
    router
        .reload()
        .map_err(|r| diagnostics_error(&config.routes.display().to_string(), r.errors))?;
    // Receipts left from an earlier run go out as soon as their clients bind.
    outbox.recheck(router.table().accounts.iter().map(|a| a.system_id.clone()));
    outbox.start_sweeper();
    if let Some(cluster) = &cluster {
        crate::cluster::receiver::spawn_receiver(
            cluster,
            registry.clone(),
            &outbox,
            metrics.clone(),
        );
        crate::cluster::delivery::spawn_hand_over(&outbox, cluster);
    }
    let services = Services {
        accounts: router.clone(),
        handler: router.clone(),
        registry: registry.clone(),
        delivery: Some(delivery),
        metrics: metrics.clone(),
        shards: shards.clone(),
        cluster: cluster
            .clone()
            .map(|c| c as Arc<dyn crate::server::shared_limits::SharedLimits>),
    };
    let server = Server::start(config, services, tls_acceptor(config)?)
        .await
        .context("starting the SMPP server")?;
    spawn_expiry(Arc::downgrade(&store), config.store.retention);
    let records = crate::records::start(config, store.clone(), metrics.clone())
        .await
        .map_err(anyhow::Error::msg)?;
    if let Some(cluster) = &cluster {
        let address = match &cluster.settings().advertise {
            Some(a) => a.clone(),
            None => config.listen.plain.clone(),
        };
        let (router, registry) = (Arc::downgrade(&router), registry.clone());
        cluster.spawn_heartbeat(move || {
            let (generation, digest, channels_up) = match router.upgrade() {
                Some(r) => {
                    let status = r.status();
                    let table = r.table();
                    let mut up: Vec<String> = table
                        .channels
                        .iter()
                        .filter(|(_, c)| c.is_up())
                        .map(|(n, _)| n.clone())
                        .collect();
                    up.sort();
                    (status.generation, status.digest, up)
                }
                None => (0, String::new(), Vec::new()),
            };
            crate::cluster::node::Report {
                address: address.clone(),
                sessions: registry.sessions().len(),
                channels_up,
                generation,
                digest,
            }
        });
    }
    let (reloads, watcher) =
        watch::start(router.clone(), &config.routes, Duration::from_millis(200))
            .context("watching routes.toml")?;
    let admin = match admin_listen {
        None => None,
        Some(addr) => {
            let token = admin_token;
            let admin = crate::admin::Admin {
                router: router.clone(),
                server: server.shared().clone(),
                store: store.clone(),
                metrics: metrics.clone(),
                token,
                shards: shards.clone(),
                cluster: cluster.clone(),
            };
            Some(crate::admin::start(addr, admin).await?)
        }
    };
    Ok(Running {
        router,
        server,
        store,
        outbox,
        metrics,
        plugins,
        cluster,
        reloads,
        admin,
        threads,
        _records: records,
        _watcher: watcher,
    })
}

impl Running {
    /// Stops serving: sessions unbind once their messages are answered, plugins and carrier
    /// binds finish what they hold, all within `grace` (at least a second for each step).
    pub async fn shutdown(self, grace: Duration) {
        let started = tokio::time::Instant::now();
        self.server.shutdown(grace).await;
        let left = || {
            grace
                .saturating_sub(started.elapsed())
                .max(Duration::from_secs(1))
        };
        // Plugins finish their own work (pending receipts go to the store) in what is left.
        self.plugins.drain_all(left()).await;
        // The carrier binds unbind (a receipt they still hold is stored and answered first, or
        // resent by its carrier at the next bind).
        if !self.router.stop_channels(left()).await {
            tracing::warn!("shutdown grace over; closing carrier binds without unbind");
        }
        // What is left on the data path is dropped here.
        let threads = self.threads;
        let _ = tokio::task::spawn_blocking(move || threads.stop()).await;
        // The copies made to check plugin libraries at each reload.
        crate::channels::plugin::remove_check_copies();
    }
}

/// The TLS listener's acceptor: the configured certificate, or a self-signed one made in the
/// data directory; `None` when the TLS listener is off.
fn tls_acceptor(config: &RouterConfig) -> anyhow::Result<Option<tokio_rustls::TlsAcceptor>> {
    if config
        .listen
        .tls_addr()
        .map_err(anyhow::Error::msg)?
        .is_none()
    {
        return Ok(None);
    }
    let (cert, key) = match (&config.listen.tls_cert, &config.listen.tls_key) {
        (Some(c), Some(k)) => (c.clone(), k.clone()),
        _ => {
            let pair = tls::self_signed(&config.data_dir)?;
            tracing::warn!(cert = %pair.0.display(), "no TLS certificate configured; using a self-signed one");
            pair
        }
    };
    Ok(Some(tls::acceptor(&cert, &key)?))
}

/// Opens the store `[store]` asks for; `spool`: whether finished messages are kept for the
/// delivery-record sinks.
fn open_store(
    config: &crate::config::router::Store,
    spool: bool,
) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match config.engine.as_str() {
        "memory" if spool => Arc::new(MemoryStore::new()),
        "memory" => Arc::new(MemoryStore::without_spool()),
        _ => RedbStore::open_with(
            &config.path,
            &RedbOptions {
                recent_records: config.recent_records,
                cache_bytes: config.cache_mb.saturating_mul(1024 * 1024),
                max_held: config.max_held,
                spool,
                ..RedbOptions::default()
            },
        )
        .with_context(|| format!("opening the store {}", config.path.display()))?,
    })
}

/// Deletes expired receipts and old message records once a minute, until the store is gone.
fn spawn_expiry(store: std::sync::Weak<dyn Store>, retention: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            let now = crate::delivery::receipts::unix_now();
            let Some(store) = store.upgrade() else { return };
            let before = now.saturating_sub(retention.as_secs());
            match tokio::task::spawn_blocking(move || store.expire(now, before)).await {
                Ok(Ok(n)) if n > 0 => tracing::info!(removed = n, "store: expired entries removed"),
                Ok(Err(e)) => tracing::error!(error = %e, "store: expiry failed"),
                _ => {}
            }
        }
    });
}

fn admin_addr(value: &str) -> anyhow::Result<Option<std::net::SocketAddr>> {
    if value.eq_ignore_ascii_case("off") || value.is_empty() {
        return Ok(None);
    }
    value
        .parse()
        .map(Some)
        .map_err(|_| anyhow::anyhow!("admin.listen `{value}` is not an address"))
}
