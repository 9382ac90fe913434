//! Shared helpers for the end-to-end tests in `tests/`: they start the real router on loopback
//! ports and drive it with real peers — the third-party clients Python `smpplib` and npm `smpp`
//! (installed by `.ci/install-peers`) and raw sockets.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use argon2::password_hash::{PasswordHasher, SaltString};
use serde_json::Value;
use smpp_router::app::Running;
use smpp_router::config::{RouterConfig, RoutesFile};
use smpp_router::server::{FixedAccounts, Registry, Server, Services, SubmitHandler, tls};

/// A router running in this process on loopback ports chosen by the OS.
pub struct TestRouter {
    /// The server.
    pub server: Server,
    /// The plaintext SMPP address.
    pub plain: SocketAddr,
    /// The TLS SMPP address, when started with TLS.
    pub tls: Option<SocketAddr>,
    /// A scratch folder for this router's files.
    pub dir: PathBuf,
}

/// A unique scratch folder. A test cannot know when the routers and peers it started have let
/// go of their files, so folders stay until the test process is gone: the first call in each
/// process removes those of earlier test processes that no longer run.
pub fn scratch_dir(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    static SWEPT: std::sync::Once = std::sync::Once::new();
    SWEPT.call_once(remove_scratch_of_ended_processes);
    let dir = std::env::temp_dir().join(format!(
        "smpp-router-test-{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Removes `smpp-router-test-<pid>-…` folders whose process has ended (Linux: no `/proc/<pid>`;
/// elsewhere nothing is removed).
fn remove_scratch_of_ended_processes() {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("smpp-router-test-"))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new("/proc").join(pid.to_string()).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// An argon2 hash with tiny parameters, so that tests bind fast. (Production hashes come from
/// `smpp-router hash-password` with the default, expensive parameters.)
pub fn fast_hash(password: &str) -> String {
    let params = argon2::Params::new(8, 1, 1, None).unwrap();
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = SaltString::encode_b64(b"smpp-router-test").unwrap();
    a.hash_password(password.as_bytes(), &salt)
        .unwrap()
        .to_string()
}

/// An `[[account]]` entry with a fast hash of `password` and extra settings appended.
pub fn account(system_id: &str, password: &str, extra: &str) -> String {
    format!(
        "[[account]]\nsystem_id = \"{system_id}\"\npassword_hash = \"{}\"\n{extra}\n",
        fast_hash(password)
    )
}

impl TestRouter {
    /// Starts a router with `router_toml` (listeners are forced to port 0), the accounts of
    /// `routes_toml`, and `handler`; with `tls` a self-signed certificate is made.
    pub async fn start(
        router_toml: &str,
        routes_toml: &str,
        handler: Arc<dyn SubmitHandler>,
        tls: bool,
    ) -> Self {
        let dir = scratch_dir("router");
        let mut config = RouterConfig::parse(Path::new("router.toml"), router_toml).unwrap();
        config.listen.plain = "127.0.0.1:0".into();
        config.listen.tls = if tls {
            "127.0.0.1:0".into()
        } else {
            "off".into()
        };
        let routes = RoutesFile::parse(
            Path::new("routes.toml"),
            routes_toml,
            &smpp_router::channels::ChannelKinds::builtin(),
        )
        .unwrap();
        let acceptor = tls.then(|| {
            let (cert, key) = tls::self_signed(&dir).unwrap();
            tls::acceptor(&cert, &key).unwrap()
        });
        let services = Services {
            accounts: FixedAccounts::new(routes.accounts),
            handler,
            registry: Arc::new(Registry::new(config.limits.response_timeout)),
            delivery: None,
            metrics: Arc::default(),
            shards: Arc::new(smpp_router::shards::Shards::none()),
            cluster: None,
        };
        let server = Server::start(&config, services, acceptor).await.unwrap();
        Self {
            plain: server.plain_addr().unwrap(),
            tls: server.tls_addr(),
            server,
            dir,
        }
    }
}

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

fn run_plan(mut cmd: Command, what: &str) -> Vec<Value> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stdout.lines().rev().find(|l| l.starts_with('[')).unwrap_or_else(|| {
        panic!("{what} printed no result (are the test peers installed? ./test.sh installs them and runs the tests)\nstdout: {stdout}\nstderr: {stderr}")
    });
    serde_json::from_str(line).unwrap()
}

/// Runs a plan with the Python `smpplib` client (see `tests/clients/smpplib_plan.py`).
pub async fn smpplib(addr: SocketAddr, tls: bool, steps: Value) -> Vec<Value> {
    let plan = serde_json::json!({"host": addr.ip().to_string(), "port": addr.port(), "tls": tls, "steps": steps});
    let mut cmd = Command::new("python3");
    cmd.arg(clients_dir().join("smpplib_plan.py"))
        .arg(plan.to_string());
    tokio::task::spawn_blocking(move || run_plan(cmd, "python3 smpplib_plan.py"))
        .await
        .unwrap()
}

/// Runs a plan with the npm `smpp` client (see `tests/clients/node_plan.js`), over TLS with `tls`.
pub async fn node_smpp(addr: SocketAddr, tls: bool, steps: Value) -> Vec<Value> {
    let plan = serde_json::json!({"host": addr.ip().to_string(), "port": addr.port(), "tls": tls, "steps": steps});
    let mut cmd = Command::new("node");
    cmd.arg(clients_dir().join("node_plan.js"))
        .arg(plan.to_string())
        .env("NODE_PATH", clients_dir().join("node_modules"));
    tokio::task::spawn_blocking(move || run_plan(cmd, "node node_plan.js"))
        .await
        .unwrap()
}

/// Runs a plan with the Perl `Net::SMPP` client (see `tests/clients/netsmpp_plan.pl`).
pub async fn net_smpp(addr: SocketAddr, steps: Value) -> Vec<Value> {
    let plan =
        serde_json::json!({"host": addr.ip().to_string(), "port": addr.port(), "steps": steps});
    let mut cmd = Command::new("perl");
    cmd.arg(clients_dir().join("netsmpp_plan.pl"))
        .arg(plan.to_string());
    tokio::task::spawn_blocking(move || run_plan(cmd, "perl netsmpp_plan.pl"))
        .await
        .unwrap()
}

/// The count of responses with status `status` in a submit step's result.
pub fn count(step: &Value, status: u32) -> u64 {
    step["statuses"][status.to_string()].as_u64().unwrap_or(0)
}

/// The ids a submit step got back from the router.
pub fn sent_ids(sent: &Value) -> Vec<&str> {
    sent["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap())
        .collect()
}

/// Asserts that a `wait_receipts` step got `n` receipts (esm_class 4), each naming one of the
/// router ids of the `submit` step in `receipted_message_id` and at the start of its text, with
/// `stat:STAT`.
pub fn assert_receipts(sent: &Value, receipts: &Value, n: usize, stat: &str) {
    assert_eq!(receipts["receipts"], n, "{receipts:?}");
    let ids = sent_ids(sent);
    let mut seen = std::collections::HashSet::new();
    for r in receipts["items"].as_array().unwrap() {
        assert_eq!(r["esm_class"], 4, "{r:?}");
        let id = r["id"].as_str().unwrap();
        assert!(ids.contains(&id), "receipt for {id}, sent {ids:?}");
        assert!(seen.insert(id), "a second receipt for {id}");
        let text = r["text"].as_str().unwrap();
        assert!(
            text.starts_with(&format!("id:{id} ")),
            "the text carries the router id: {text}"
        );
        assert!(text.contains(&format!("stat:{stat}")), "{text}");
    }
}

/// A raw SMPP connection for the cases no well-behaved client produces.
pub struct Raw {
    stream: tokio::net::TcpStream,
    buf: bytes::BytesMut,
}

impl Raw {
    /// Connects to `addr`.
    pub async fn connect(addr: SocketAddr) -> Self {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        Self {
            stream,
            buf: bytes::BytesMut::new(),
        }
    }

    /// Wraps an already connected stream.
    pub fn from_stream(stream: tokio::net::TcpStream) -> Self {
        Self {
            stream,
            buf: bytes::BytesMut::new(),
        }
    }

    /// Writes raw bytes.
    pub async fn write(&mut self, bytes: &[u8]) {
        use tokio::io::AsyncWriteExt;
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Writes a command.
    pub async fn send(&mut self, cmd: &smpp_router::smpp::Command) {
        self.write(&cmd.to_bytes().unwrap()).await;
    }

    /// Reads the next command, or `None` when the router closed the connection (or nothing came
    /// within 5 seconds).
    pub async fn recv(&mut self) -> Option<smpp_router::smpp::Command> {
        use tokio::io::AsyncReadExt;
        let framer = smpp_router::smpp::FrameDecoder::default();
        loop {
            if let Some(frame) = framer.decode(&mut self.buf).unwrap() {
                return Some(smpp_router::smpp::Command::decode(frame).unwrap());
            }
            let read = tokio::time::timeout(
                std::time::Duration::from_secs(5),
                self.stream.read_buf(&mut self.buf),
            );
            match read.await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return None,
            }
        }
    }

    /// Waits up to `secs` for the router to close the connection; true if it did.
    pub async fn closed_within(&mut self, secs: u64) -> bool {
        use tokio::io::AsyncReadExt;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let mut scratch = [0u8; 1024];
            match tokio::time::timeout_at(deadline, self.stream.read(&mut scratch)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => {}
                Err(_) => return false,
            }
        }
    }
}

/// The whole router in this process, started by the same composition root as
/// `smpp-router run` (`smpp_router::app::start`): the routes file at `path` (accounts, channels
/// and routes), its store beside it, the server on loopback ports chosen by the OS, the file
/// watcher. Derefs to [`Running`] (`router`, `server`, `store`, `outbox`, `admin`).
pub struct LiveRouter {
    running: Running,
    /// The plaintext SMPP address.
    pub plain: SocketAddr,
    /// The TLS SMPP address, when started with TLS.
    pub tls: Option<SocketAddr>,
}

impl std::ops::Deref for LiveRouter {
    type Target = Running;

    fn deref(&self) -> &Running {
        &self.running
    }
}

impl LiveRouter {
    /// Loads `path` and starts serving; panics when the file has errors.
    pub async fn start(path: &Path) -> Self {
        Self::start_with(path, "").await
    }

    /// The same with `router_toml` (its listeners are replaced by loopback ports; the admin
    /// interface is off unless it has an `[admin]` section).
    pub async fn start_with(path: &Path, router_toml: &str) -> Self {
        Self::start_full(path, router_toml, false).await
    }

    /// The same, with a TLS listener too (a self-signed certificate beside the routes file)
    /// when `tls`.
    pub async fn start_full(path: &Path, router_toml: &str, tls: bool) -> Self {
        // Each router of a test process mints its own ids (one router per process is what
        // production runs; several here must not hand out the same ids).
        static INSTANCE: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(100);
        let instance = INSTANCE.fetch_add(1, Ordering::Relaxed);
        let dir = path.parent().unwrap();
        let mut config = RouterConfig::parse(Path::new("router.toml"), router_toml).unwrap();
        config.routes = path.to_path_buf();
        config.data_dir = dir.to_path_buf();
        config.store.path = dir.join("store.redb");
        config.listen.plain = "127.0.0.1:0".into();
        config.listen.tls = if tls { "127.0.0.1:0" } else { "off" }.into();
        if !router_toml.contains("[admin]") {
            config.admin.listen = "off".into();
        }
        let ids = Arc::new(smpp_router::ids::IdMinter::new(instance));
        let running = smpp_router::app::start(&config, ids).await.unwrap();
        Self {
            plain: running.server.plain_addr().unwrap(),
            tls: running.server.tls_addr(),
            running,
        }
    }

    /// Stops it as `smpp-router run` does on SIGTERM (see `Running::shutdown`).
    pub async fn shutdown(self, grace: std::time::Duration) {
        self.running.shutdown(grace).await;
    }
}

/// Waits until `done` holds, checking every 10 ms; panics with `what` after 5 seconds.
pub async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let t0 = std::time::Instant::now();
    while !done() {
        assert!(t0.elapsed() < std::time::Duration::from_secs(5), "{what}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// A loopback port that was free a moment ago (for a router process started by a test).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Stops a router process started with piped stdout and stderr as an operator would (SIGTERM:
/// it drains and exits) and returns how it exited and everything it wrote (stderr, then
/// stdout).
pub fn terminate(mut child: std::process::Child) -> (std::process::ExitStatus, String) {
    use std::io::Read;
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    let status = child.wait().expect("the router exits");
    let mut log = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut log);
    }
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut log);
    }
    (status, log)
}

/// Waits until something accepts connections on every loopback port in `ports` (a router
/// process starting up); panics after 30 seconds.
pub async fn wait_listening(ports: &[u16]) {
    let t0 = std::time::Instant::now();
    while ports
        .iter()
        .any(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_err())
    {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(30),
            "nothing listens on {ports:?}: the router did not start"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The plugin crates the end-to-end tests load, built together on first use.
const PLUGIN_PACKAGES: [&str; 5] = [
    "smpp-router-plugin-simulated",
    "smpp-router-plugin-webhook",
    "test-plugin-faulty",
    "test-plugin-wrong-abi",
    "test-plugin-not-a-plugin",
];

/// The built shared library of plugin `package` (one of [`PLUGIN_PACKAGES`]): the first call
/// runs `cargo build` for all of them (a no-op when they are up to date), so that a plain
/// `cargo test` tests the libraries as the router loads them.
pub fn plugin_library(package: &str) -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    assert!(
        PLUGIN_PACKAGES.contains(&package),
        "unknown plugin {package}"
    );
    let dir = BUILT.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(root).args(["build", "--quiet"]);
        for p in PLUGIN_PACKAGES {
            cmd.args(["-p", p]);
        }
        let status = cmd.status().expect("cannot run cargo to build the plugins");
        assert!(status.success(), "building the plugins failed");
        std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| root.join("target"), PathBuf::from)
            .join("debug")
    });
    dir.join(format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        package.replace('-', "_"),
        std::env::consts::DLL_SUFFIX
    ))
}

/// A Redis server of its own for a test (Debian's `redis-server`, installed by
/// `.ci/install-peers`): on a free loopback port, its files in a scratch folder, appending every
/// write to its log and syncing it before answering (`appendfsync always`), as the cluster's
/// Redis is meant to run. Killed when dropped.
pub struct Redis {
    child: std::process::Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its data folder (the append-only file survives a kill there).
    pub dir: PathBuf,
}

impl Redis {
    /// Starts one and waits until it answers.
    pub async fn start() -> Self {
        let dir = scratch_dir("redis");
        Self::start_in(dir, free_port()).await
    }

    /// Starts one that takes only TLS connections (a self-signed certificate in its folder);
    /// its address for `[cluster] redis` is [`Redis::tls_url`].
    pub async fn start_tls() -> Self {
        let dir = scratch_dir("redis-tls");
        let (cert, key) = smpp_router::server::tls::self_signed(&dir).unwrap();
        let port = free_port();
        let tls = [
            "--port".into(),
            "0".into(),
            "--tls-port".into(),
            port.to_string(),
            "--tls-cert-file".into(),
            cert.display().to_string(),
            "--tls-key-file".into(),
            key.display().to_string(),
            "--tls-ca-cert-file".into(),
            cert.display().to_string(),
            "--tls-auth-clients".into(),
            "no".into(),
        ];
        Self::spawn(dir, port, &tls).await
    }

    /// Its address over TLS, for [`Redis::start_tls`] (its certificate is self-signed, so the
    /// address asks the client not to verify it: tests only).
    pub fn tls_url(&self) -> String {
        format!("rediss://127.0.0.1:{}/#insecure", self.port)
    }

    /// Starts one on `port` over the files in `dir` (to restart a killed one).
    pub async fn start_in(dir: PathBuf, port: u16) -> Self {
        Self::spawn(dir, port, &["--port".into(), port.to_string()]).await
    }

    async fn spawn(dir: PathBuf, port: u16, listen: &[String]) -> Self {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1"])
            .args(listen)
            .arg("--dir")
            .arg(&dir)
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .args(["--daemonize", "no", "--loglevel", "warning"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is not installed: ./test.sh installs the test peers");
        let redis = Self { child, port, dir };
        wait_listening(&[port]).await;
        redis
    }

    /// Its address for `[cluster] redis`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills it (SIGKILL): what it acknowledged is in its append-only file.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One plain HTTP/1.1 request to `127.0.0.1:port` (the router's admin interface, Kannel's HTTP
/// interfaces), with `Authorization: Bearer` when `token` is given: the status (0 when nothing
/// answers) and the body.
pub fn http(port: u16, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let _ = write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A PostgreSQL server from Debian's packages (`postgresql`, installed by
/// `.ci/install-peers`), made by `initdb` in a scratch folder and run by `pg_ctl` on a free
/// loopback port (its socket in the same folder), trusting local connections as user `smpp`.
/// PostgreSQL refuses to run as root: when the tests do, it runs as the `postgres` user the
/// package creates (or `nobody`).
pub struct Postgres {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its data folder.
    pub dir: PathBuf,
    bin: PathBuf,
    user: Option<(u32, u32)>,
}

impl Postgres {
    /// Makes a database cluster and starts it; waits until it takes connections.
    pub async fn start() -> Self {
        let bin = postgres_bin();
        let dir = scratch_dir("postgres").join("data");
        std::fs::create_dir_all(&dir).unwrap();
        let user = postgres_user();
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(dir.parent().unwrap(), Some(uid), Some(gid)).unwrap();
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).unwrap();
        }
        let pg = Self {
            port: free_port(),
            dir,
            bin,
            user,
        };
        let out = pg
            .command("initdb")
            .args(["-A", "trust", "-U", "smpp", "-E", "UTF8", "--no-sync", "-D"])
            .arg(&pg.dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        pg.start_again().await;
        pg
    }

    fn command(&self, tool: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(tool));
        if let Some((uid, gid)) = self.user {
            use std::os::unix::process::CommandExt;
            cmd.uid(uid).gid(gid);
        }
        cmd.current_dir(&self.dir)
            .stdout(std::process::Stdio::null());
        cmd
    }

    /// Starts it (again) on its files and port; waits until it takes connections.
    pub async fn start_again(&self) {
        let options = format!(
            "-p {} -h 127.0.0.1 -k {} -c fsync=off -c full_page_writes=off",
            self.port,
            self.dir.display()
        );
        let out = self
            .command("pg_ctl")
            .args(["start", "-w", "-t", "60", "-D"])
            .arg(&self.dir)
            .args(["-l"])
            .arg(self.dir.join("server.log"))
            .args(["-o", &options])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
        );
        wait_listening(&[self.port]).await;
    }

    /// Stops it at once (`immediate`: like a crash, connections cut).
    pub fn stop(&self) {
        let _ = self
            .command("pg_ctl")
            .args(["stop", "-m", "immediate", "-w", "-D"])
            .arg(&self.dir)
            .output();
    }

    /// Its address for `[records] postgres`.
    pub fn url(&self) -> String {
        format!("postgres://smpp@127.0.0.1:{}/postgres", self.port)
    }

    /// A connection for the test's own queries.
    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(&self.url(), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The folder of Debian's PostgreSQL programs (`/usr/lib/postgresql/<version>/bin`, newest
/// first), or the one `initdb` is found in on `PATH`.
fn postgres_bin() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    if let Some(newest) = versions.pop() {
        return newest;
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .find(|p| p.join("initdb").exists())
        .expect("PostgreSQL is not installed (initdb not found): ./test.sh installs the test peers")
}

/// Who PostgreSQL runs as: `None` (this user) unless the tests run as root, then the
/// `postgres` user (or `nobody`).
fn postgres_user() -> Option<(u32, u32)> {
    use std::os::unix::fs::MetadataExt;
    let me = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(0);
    if me != 0 {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let find = |name: &str| -> Option<(u32, u32)> {
        passwd.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.first() != Some(&name) {
                return None;
            }
            Some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?))
        })
    };
    Some(
        find("postgres")
            .or_else(|| find("nobody"))
            .unwrap_or((65534, 65534)),
    )
}
