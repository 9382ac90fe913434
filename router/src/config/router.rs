//! `router.toml`: the static configuration, read once at start — listeners, TLS, limits,
//! security, paths. Every key has a default, so an empty file is a valid loopback setup.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

use super::diag::{Diagnostic, Source};

/// The whole of `router.toml`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouterConfig {
    /// The live routing file, relative to `router.toml`'s folder.
    pub routes: PathBuf,
    /// Where the store and generated certificates live, relative to `router.toml`'s folder.
    pub data_dir: PathBuf,
    /// SMPP listeners.
    pub listen: Listen,
    /// Timeouts and sizes.
    pub limits: Limits,
    /// Bind protection.
    pub security: Security,
    /// Logging.
    pub log: Log,
    /// The message store.
    pub store: Store,
    /// The admin HTTP interface.
    pub admin: Admin,
    /// Stand-ins started inside the router, for local work and demos.
    pub sim: Sim,
    /// Cluster mode: several routers sharing one Redis; absent for a single router.
    pub cluster: Option<Cluster>,
    /// Delivery records: one per message at its end, to files and optionally PostgreSQL.
    pub records: Records,
}

/// Delivery records (`[records]`): one per message when it reaches a final state (or its record
/// expires without one), written from a durable spool in the store to JSON-lines files and,
/// when set, to PostgreSQL. The data path never waits for them.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Records {
    /// The folder of the JSON-lines files (one per UTC day, `records-YYYY-MM-DD.jsonl`),
    /// relative to `data_dir`; `"off"` for none.
    pub dir: String,
    /// How long the daily files are kept.
    #[serde(with = "humantime_serde")]
    pub keep: Duration,
    /// `postgres://user:password@host:port/db`, or `env:NAME` / `file:PATH` holding one; none
    /// by default.
    pub postgres: Option<String>,
    /// The PostgreSQL table (created, and migrated, by the router).
    pub table: String,
    /// The most records one write takes (one `COPY`, one append to the file).
    pub batch: usize,
}

impl Default for Records {
    fn default() -> Self {
        Self {
            dir: "records".into(),
            keep: Duration::from_secs(30 * 24 * 3600),
            postgres: None,
            table: "delivery_records".into(),
            batch: 1000,
        }
    }
}

/// Cluster mode (`[cluster]`): routers with the same `routes.toml` and the same Redis serve as
/// one — a receipt reaches its client whichever instance it is bound to.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Cluster {
    /// `redis://[user:password@]host:port[/db]`, `rediss://…` for TLS, or `env:NAME` /
    /// `file:PATH` holding such an address (it may carry a password).
    pub redis: String,
    /// This instance's number, 0–1023, unique in the cluster: it is part of every message id,
    /// and a second instance with the same number refuses to start.
    pub node_id: u16,
    /// What every Redis key starts with (several clusters may share one Redis).
    pub prefix: String,
    /// How long a Redis command may take before Redis counts as unavailable.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// How long a receipt handed to an instance may stay unacknowledged before another instance
    /// with a session of the account takes it over (the instance died, or its client left).
    #[serde(with = "humantime_serde")]
    pub claim_after: Duration,
    /// The address `GET /cluster` shows for this instance; `listen.plain` by default.
    pub advertise: Option<String>,
}

impl Default for Cluster {
    fn default() -> Self {
        Self {
            redis: "redis://127.0.0.1:6379".into(),
            node_id: 0,
            prefix: "smpp-router:".into(),
            timeout: Duration::from_secs(2),
            claim_after: Duration::from_secs(30),
            advertise: None,
        }
    }
}

/// The highest `cluster.node_id` (message ids carry it in 10 bits).
pub const MAX_NODE_ID: u16 = 1023;

/// The admin HTTP interface: health, readiness, metrics, routes, sessions, reload.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Admin {
    /// Address, or `"off"`.
    pub listen: String,
    /// A bearer token every request must carry (`env:NAME`, `file:PATH` or literal); none by
    /// default, which is why the default address is loopback.
    pub token: Option<String>,
}

impl Default for Admin {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:9775".into(),
            token: None,
        }
    }
}

/// The message store: router id ↔ carrier id ↔ account, and receipts waiting for clients.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Store {
    /// `"redb"` (durable, the default) or `"memory"` (lost at exit; tests and demos).
    pub engine: String,
    /// The database file, relative to `data_dir`.
    pub path: PathBuf,
    /// How long a receipt waits for its client to bind before it is dropped.
    #[serde(with = "humantime_serde")]
    pub receipt_ttl: Duration,
    /// How long message records are kept for matching late receipts.
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
    /// How many of the newest message records are also kept in memory (about 550 bytes each),
    /// so that their receipts are matched without reading the file.
    pub recent_records: usize,
    /// The store file's page cache in memory, in MiB.
    pub cache_mb: usize,
    /// While the store cannot write (disk full, I/O errors), how many writes it holds in memory
    /// to write once it can: records of messages already sent, removals of delivered receipts.
    pub max_held: usize,
}

impl Default for Store {
    fn default() -> Self {
        Self {
            engine: "redb".into(),
            path: "store.redb".into(),
            receipt_ttl: Duration::from_secs(72 * 3600),
            retention: Duration::from_secs(72 * 3600),
            recent_records: crate::store::DEFAULT_RECENT_RECORDS,
            cache_mb: 256,
            max_held: crate::store::DEFAULT_MAX_HELD,
        }
    }
}

/// Stand-ins the router can start in-process, so that a fresh clone works without real
/// accounts at OTP Blue or a carrier.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Sim {
    /// Address of the in-process stand-in OTP Blue API, or `"off"`.
    pub otpblue: String,
    /// Share of numbers the stand-in says have no iMessage (decided by the digits).
    pub otpblue_no_imessage_share: f64,
    /// The stand-in's answer latency, e.g. `"50ms"` or `"100ms..400ms"`.
    pub otpblue_latency: String,
    /// The API key the stand-in accepts.
    pub otpblue_api_key: String,
    /// Address of the in-process stand-in carrier SMSC, or `"off"`.
    pub carrier: String,
    /// How long the stand-in carrier waits before sending a receipt (`"1s"`, `"1s..3s"`).
    pub carrier_receipt_delay: String,
}

impl Default for Sim {
    fn default() -> Self {
        Self {
            otpblue: "off".into(),
            otpblue_no_imessage_share: 0.5,
            otpblue_latency: "50ms".into(),
            otpblue_api_key: "test-key".into(),
            carrier: "off".into(),
            carrier_receipt_delay: "1s".into(),
        }
    }
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            routes: "routes.toml".into(),
            data_dir: "data".into(),
            listen: Listen::default(),
            limits: Limits::default(),
            security: Security::default(),
            log: Log::default(),
            store: Store::default(),
            admin: Admin::default(),
            sim: Sim::default(),
            cluster: None,
            records: Records::default(),
        }
    }
}

/// The SMPP listeners.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Listen {
    /// Plaintext SMPP address, or `"off"`.
    pub plain: String,
    /// TLS SMPP address, or `"off"`.
    pub tls: String,
    /// PEM certificate chain for the TLS listener.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for the TLS listener.
    pub tls_key: Option<PathBuf>,
    /// Load balancers (addresses or CIDRs) whose connections open with a PROXY protocol header
    /// (v1 or v2) naming the client; none by default.
    pub proxy_protocol_from: Vec<String>,
}

impl Default for Listen {
    fn default() -> Self {
        Self {
            plain: "127.0.0.1:2775".into(),
            tls: "127.0.0.1:2776".into(),
            tls_cert: None,
            tls_key: None,
            proxy_protocol_from: Vec::new(),
        }
    }
}

impl Listen {
    /// The plaintext address, `None` when switched off.
    pub fn plain_addr(&self) -> Result<Option<SocketAddr>, String> {
        parse_listen(&self.plain)
    }

    /// The TLS address, `None` when switched off.
    pub fn tls_addr(&self) -> Result<Option<SocketAddr>, String> {
        parse_listen(&self.tls)
    }

    /// The networks in `proxy_protocol_from`.
    pub fn proxies(&self) -> Result<Vec<ipnet::IpNet>, String> {
        self.proxy_protocol_from
            .iter()
            .map(|t| {
                t.parse::<ipnet::IpNet>()
                    .or_else(|_| t.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| format!("`{t}` is not an address or a CIDR"))
            })
            .collect()
    }
}

fn parse_listen(s: &str) -> Result<Option<SocketAddr>, String> {
    if s.eq_ignore_ascii_case("off") || s.is_empty() {
        return Ok(None);
    }
    s.parse()
        .map(Some)
        .map_err(|_| format!("`{s}` is not an address like 127.0.0.1:2775 (or \"off\")"))
}

/// Timeouts and sizes of client sessions (the seed's connection table).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Connections beyond this are closed at once.
    pub max_connections: usize,
    /// Connections from one address that have not bound yet; more are closed at once, so that
    /// one address cannot take the slots other clients need to come back.
    pub max_unbound_per_address: usize,
    /// A connection must bind within this time.
    #[serde(with = "humantime_serde")]
    pub pre_bind_timeout: Duration,
    /// The pre-bind timeout of connections accepted while nine tenths of `max_connections` are
    /// in use (at most `pre_bind_timeout`).
    #[serde(with = "humantime_serde")]
    pub crowded_pre_bind_timeout: Duration,
    /// A session that sends nothing for this long is closed.
    #[serde(with = "humantime_serde")]
    pub inactivity_timeout: Duration,
    /// Sessions are unbound after this long.
    #[serde(with = "humantime_serde")]
    pub max_session: Duration,
    /// The router sends `enquire_link` to a client idle this long.
    #[serde(with = "humantime_serde")]
    pub enquire_link_interval: Duration,
    /// How long a `deliver_sm` to a client waits for `deliver_sm_resp`.
    #[serde(with = "humantime_serde")]
    pub response_timeout: Duration,
    /// `deliver_sm` (receipts, MO) in flight to one client session.
    pub deliver_window: usize,
    /// The largest PDU accepted, checked before buffering.
    pub max_pdu_len: u32,
    /// The largest message (`short_message` or `message_payload`), in octets.
    pub max_message_len: usize,
    /// On shutdown, how long in-flight messages may take before connections are dropped.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// Regions whose numbering rules are compiled at start (`["all"]` for every region, ~130 MB).
    pub phone_warm_up: Vec<String>,
    /// Threads serving SMPP connections and carrier binds, one event loop each; 0 = one per core.
    pub threads: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 1000,
            max_unbound_per_address: 16,
            pre_bind_timeout: Duration::from_secs(30),
            crowded_pre_bind_timeout: Duration::from_secs(5),
            inactivity_timeout: Duration::from_secs(90),
            max_session: Duration::from_secs(24 * 3600),
            enquire_link_interval: Duration::from_secs(60),
            response_timeout: Duration::from_secs(30),
            deliver_window: 100,
            max_pdu_len: crate::smpp::frame::DEFAULT_MAX_PDU_LEN,
            max_message_len: 512,
            shutdown_grace: Duration::from_secs(10),
            phone_warm_up: crate::phone::DEFAULT_WARM_UP
                .iter()
                .map(|s| s.to_string())
                .collect(),
            threads: 0,
        }
    }
}

/// Brute-force protection of binds.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Security {
    /// Failed binds from one IP that trigger a block.
    pub max_bind_failures: u32,
    /// The window in which failures are counted.
    #[serde(with = "humantime_serde")]
    pub bind_failure_window: Duration,
    /// How long a blocked IP gets `ESME_RBINDFAIL` without a password check.
    #[serde(with = "humantime_serde")]
    pub block_duration: Duration,
}

impl Default for Security {
    fn default() -> Self {
        Self {
            max_bind_failures: 10,
            bind_failure_window: Duration::from_secs(300),
            block_duration: Duration::from_secs(900),
        }
    }
}

/// Logging.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Log {
    /// `text` or `json`.
    pub format: String,
    /// A `tracing` filter such as `info` or `smpp_router=debug`.
    pub level: String,
}

impl Default for Log {
    fn default() -> Self {
        Self {
            format: "text".into(),
            level: "info".into(),
        }
    }
}

/// Where the line setting `key` starts in `text` (`key = …` or `limits.key = …`), for an
/// error's position; the start of the file when there is none.
fn key_offset(text: &str, key: &str) -> usize {
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim_start();
        let rest = t.strip_prefix("limits.").unwrap_or(t);
        if rest
            .strip_prefix(key)
            .is_some_and(|r| r.trim_start().starts_with('='))
        {
            return at + (line.len() - t.len());
        }
        at += line.len();
    }
    0
}

/// The most data-path threads `limits.threads` may ask for.
pub const MAX_THREADS: usize = 256;

impl RouterConfig {
    /// Parses `router.toml` text, collecting every error.
    pub fn parse(file: &Path, text: &str) -> Result<Self, Vec<Diagnostic>> {
        let mut src = Source::new(file, text);
        let config: Self = match toml::from_str(text) {
            Ok(c) => c,
            Err(e) => {
                src.toml_error(0, &e);
                return Err(src.finish());
            }
        };
        for (key, value) in [("plain", &config.listen.plain), ("tls", &config.listen.tls)] {
            if let Err(msg) = parse_listen(value) {
                let at = key_offset(text, key);
                src.error(at..at, format!("listen.{key}: {msg}"));
            }
        }
        if let Err(msg) = config.listen.proxies() {
            let at = key_offset(text, "proxy_protocol_from");
            src.error(at..at, format!("listen.proxy_protocol_from: {msg}"));
        }
        if config.listen.tls_cert.is_some() != config.listen.tls_key.is_some() {
            let key = if config.listen.tls_cert.is_some() {
                "tls_cert"
            } else {
                "tls_key"
            };
            let at = key_offset(text, key);
            src.error(at..at, "listen.tls_cert and listen.tls_key go together");
        }
        if config.store.cache_mb == 0 || config.store.cache_mb > 1 << 20 {
            let at = key_offset(text, "cache_mb");
            src.error(at..at, "store.cache_mb: 1 to 1048576 (MiB)");
        }
        if config.store.max_held == 0 || config.store.max_held > 100_000_000 {
            let at = key_offset(text, "max_held");
            src.error(at..at, "store.max_held: 1 to 100000000 (writes)");
        }
        if !["redb", "memory"].contains(&config.store.engine.as_str()) {
            let at = key_offset(text, "engine");
            src.error(at..at, "store.engine must be \"redb\" or \"memory\"");
        }
        // Addresses `run` binds: `off`, or host:port with an IP.
        for (key, name, value) in [
            ("listen", "admin.listen", &config.admin.listen),
            ("otpblue", "sim.otpblue", &config.sim.otpblue),
            ("carrier", "sim.carrier", &config.sim.carrier),
        ] {
            if !value.eq_ignore_ascii_case("off")
                && !value.is_empty()
                && value.parse::<std::net::SocketAddr>().is_err()
            {
                let at = key_offset(text, key);
                src.error(
                    at..at,
                    format!("{name}: `{value}` is not an IP address and port, or \"off\""),
                );
            }
        }
        for (key, value) in [
            ("otpblue_latency", &config.sim.otpblue_latency),
            ("carrier_receipt_delay", &config.sim.carrier_receipt_delay),
        ] {
            if let Err(e) = value.parse::<Latency>() {
                let at = key_offset(text, key);
                src.error(at..at, format!("sim.{key}: {e}"));
            }
        }
        if config.limits.threads > MAX_THREADS {
            let at = key_offset(text, "threads");
            src.error(
                at..at,
                format!("limits.threads: at most {MAX_THREADS} (0 = one per core)"),
            );
        }
        if let Some(cluster) = &config.cluster {
            if cluster.node_id > MAX_NODE_ID {
                let at = key_offset(text, "node_id");
                src.error(at..at, format!("cluster.node_id: 0 to {MAX_NODE_ID}"));
            }
            let r = cluster.redis.as_str();
            if !["redis://", "rediss://", "env:", "file:"]
                .iter()
                .any(|p| r.starts_with(p))
            {
                let at = key_offset(text, "redis");
                src.error(
                    at..at,
                    "cluster.redis: `redis://host:port`, `rediss://host:port`, `env:NAME` or `file:PATH`",
                );
            }
            if cluster.timeout.is_zero() || cluster.claim_after < cluster.timeout * 2 {
                let at = key_offset(text, "claim_after");
                src.error(
                    at..at,
                    "cluster.timeout must be above 0 and cluster.claim_after at least twice it",
                );
            }
        }
        if let Some(pg) = &config.records.postgres
            && !["postgres://", "postgresql://", "env:", "file:"]
                .iter()
                .any(|p| pg.starts_with(p))
        {
            let at = key_offset(text, "postgres");
            src.error(
                at..at,
                "records.postgres: `postgres://user:password@host:port/db`, `env:NAME` or `file:PATH`",
            );
        }
        let table = &config.records.table;
        if table.is_empty()
            || table.len() > 63
            || !table
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            || table.as_bytes().first().is_some_and(u8::is_ascii_digit)
        {
            let at = key_offset(text, "table");
            src.error(
                at..at,
                "records.table: a plain SQL name (lower-case letters, digits and `_`, at most 63)",
            );
        }
        if config.records.batch == 0 || config.records.batch > 100_000 {
            let at = key_offset(text, "batch");
            src.error(at..at, "records.batch: 1 to 100000");
        }
        if !["text", "json"].contains(&config.log.format.as_str()) {
            let at = key_offset(text, "format");
            src.error(at..at, "log.format must be \"text\" or \"json\"");
        }
        if src.has_errors() {
            Err(src.finish())
        } else {
            Ok(config)
        }
    }

    /// Reads and parses `router.toml`; paths inside it are made relative to its folder.
    pub fn load(file: &Path) -> Result<Self, Vec<Diagnostic>> {
        let text = std::fs::read_to_string(file).map_err(|e| {
            vec![Diagnostic {
                file: file.to_path_buf(),
                line: 0,
                column: 0,
                message: format!("cannot read: {e}"),
            }]
        })?;
        let mut config = Self::parse(file, &text)?;
        let base = file.parent().unwrap_or(Path::new("."));
        config.routes = base.join(&config.routes);
        config.data_dir = base.join(&config.data_dir);
        config.store.path = config.data_dir.join(&config.store.path);
        config.listen.tls_cert = config.listen.tls_cert.map(|p| base.join(p));
        config.listen.tls_key = config.listen.tls_key.map(|p| base.join(p));
        Ok(config)
    }
}

/// A stand-in's latency (`[sim]`): fixed (`"250ms"`) or uniform in a range (`"100ms..400ms"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Latency {
    /// The shortest.
    pub min: Duration,
    /// The longest.
    pub max: Duration,
}

impl Latency {
    /// A fixed latency.
    pub fn fixed(d: Duration) -> Self {
        Self { min: d, max: d }
    }

    /// One draw.
    pub fn draw(&self) -> Duration {
        if self.max <= self.min {
            return self.min;
        }
        let span = (self.max - self.min).as_micros() as u64;
        self.min + Duration::from_micros(rand::random_range(0..=span))
    }
}

impl FromStr for Latency {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let parse = |p: &str| {
            humantime::parse_duration(p.trim()).map_err(|e| format!("latency `{p}`: {e}"))
        };
        match s.split_once("..") {
            Some((a, b)) => {
                let (min, max) = (parse(a)?, parse(b)?);
                if max < min {
                    return Err(format!("latency `{s}`: the range is reversed"));
                }
                Ok(Self { min, max })
            }
            None => parse(s).map(Self::fixed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_loopback_defaults() {
        let c = RouterConfig::parse(Path::new("router.toml"), "").unwrap();
        assert_eq!(
            c.listen.plain_addr().unwrap(),
            Some("127.0.0.1:2775".parse().unwrap())
        );
        assert_eq!(c.limits.max_connections, 1000);
        assert_eq!(c.limits.pre_bind_timeout, Duration::from_secs(30));
        assert_eq!(c.store.recent_records, crate::store::DEFAULT_RECENT_RECORDS);
        let c = RouterConfig::parse(Path::new("router.toml"), "[store]\nrecent_records = 1000\n")
            .unwrap();
        assert_eq!(c.store.recent_records, 1000);
    }

    #[test]
    fn errors_have_lines() {
        let text = "[limits]\nmax_connections = 10\npre_bind_timeout = \"soon\"\n";
        let e = RouterConfig::parse(Path::new("router.toml"), text).unwrap_err();
        assert_eq!(e[0].line, 3, "{}", e[0]);
        let text = "[listen]\nplain = \"off\"\ntls = \"nowhere\"\n";
        let e = RouterConfig::parse(Path::new("router.toml"), text).unwrap_err();
        assert_eq!((e[0].line, e[0].column), (3, 1), "{}", e[0]);
        let text = "[limits]\nmax_connections = 10\nthreads = 100000\n";
        let e = RouterConfig::parse(Path::new("router.toml"), text).unwrap_err();
        assert_eq!(e[0].line, 3, "{}", e[0]);
        assert!(e[0].message.contains("limits.threads"), "{}", e[0]);
        let text = "# threads: see the README\n[limits]\n  threads = 999\n";
        let e = RouterConfig::parse(Path::new("router.toml"), text).unwrap_err();
        assert_eq!((e[0].line, e[0].column), (3, 3), "{}", e[0]);
        // A comment that mentions the key is not its line.
        let text = "# plain = the port clients use\n[listen]\nplain = \"nowhere\"\n";
        let e = RouterConfig::parse(Path::new("router.toml"), text).unwrap_err();
        assert_eq!(e[0].line, 3, "{}", e[0]);
    }

    /// Everything `run` would refuse at start, `check` refuses with its line.
    #[test]
    fn what_run_needs_is_checked_with_lines() {
        let text = "[listen]\ntls_cert = \"c.pem\"\n\n[store]\nengine = \"sqlite\"\n\n[log]\nformat = \"xml\"\n\n\
                    [admin]\nlisten = \"localhost:9775\"\n\n[sim]\ncarrier = \"here\"\n\
                    otpblue_latency = \"fast\"\n";
        let e = RouterConfig::parse(Path::new("router.toml"), text).unwrap_err();
        let said: Vec<(usize, &str)> = e.iter().map(|d| (d.line, d.message.as_str())).collect();
        let lines: Vec<usize> = said.iter().map(|s| s.0).collect();
        assert_eq!(lines, [2, 5, 8, 11, 14, 15], "{said:#?}");
        assert!(said[3].1.contains("admin.listen"), "{said:#?}");
        assert!(said[4].1.contains("sim.carrier"), "{said:#?}");
    }

    #[test]
    fn store_cache_size() {
        let c = RouterConfig::parse(Path::new("router.toml"), "").unwrap();
        assert_eq!(c.store.cache_mb, 256);
        let c = RouterConfig::parse(Path::new("router.toml"), "[store]\ncache_mb = 64\n").unwrap();
        assert_eq!(c.store.cache_mb, 64);
        let e =
            RouterConfig::parse(Path::new("router.toml"), "[store]\ncache_mb = 0\n").unwrap_err();
        assert_eq!(e[0].line, 2, "{}", e[0]);
    }

    #[test]
    fn threads_default_to_one_per_core() {
        let c = RouterConfig::parse(Path::new("router.toml"), "").unwrap();
        assert_eq!(c.limits.threads, 0);
        let c = RouterConfig::parse(Path::new("router.toml"), "[limits]\nthreads = 3\n").unwrap();
        assert_eq!(c.limits.threads, 3);
    }
}
