//! An HTTP webhook channel, as an smpp-router plugin: each message is POSTed as JSON to a
//! configured URL; the HTTP answer becomes the SMPP outcome ([`answer`] has the table), and
//! receipts come from the answer (a final `status`) or later from a status callback the plugin
//! listens for. It is the generic bridge a partner starts from.
//!
//! ```toml
//! [[channel]]
//! name = "partner"
//! kind = "plugin"
//! path = "target/release/libsmpp_router_plugin_webhook.so"
//! [channel.config]
//! url = "http://127.0.0.1:9000/messages"     # http:// only (put a TLS proxy in front for https)
//! timeout = "5s"                             # per request; a timeout is an unknown outcome
//! headers = { Authorization = "env:PARTNER_TOKEN" }  # values may be env:NAME
//! receipt_listen = "127.0.0.1:9001"          # optional: POST {"id","status","error"} here
//! ```
//!
//! The request body: `{"id", "account", "from", "to", "text", "data_coding",
//! "receipt_requested"}`. The plugin runs its own tokio runtime (two worker threads): the
//! router's runtime is not reachable from a plugin.

pub mod answer;
mod callback;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use smpp_router_plugin_api::{
    Completion, Health, Host, Level, Message, Outcome, Plugin, export_plugin,
};

/// The largest answer body read.
const MAX_ANSWER: usize = 64 * 1024;
/// Consecutive connection failures after which the channel reports itself down…
const DOWN_AFTER: u32 = 5;
/// …for this long after the last one, so that it is tried again.
const DOWN_FOR: Duration = Duration::from_secs(10);
/// How long `drain` waits for requests in flight.
const DRAIN_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    url: String,
    #[serde(default = "default_timeout")]
    timeout: String,
    #[serde(default)]
    headers: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    receipt_listen: Option<String>,
}

fn default_timeout() -> String {
    "5s".into()
}

#[derive(serde::Serialize)]
struct Request<'a> {
    id: &'a str,
    account: &'a str,
    from: &'a str,
    to: &'a str,
    text: &'a str,
    data_coding: u8,
    receipt_requested: bool,
}

struct Inner {
    host: Host,
    url: http::Uri,
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
    timeout: Duration,
    client: Client<HttpConnector, Full<Bytes>>,
    in_flight: AtomicU64,
    failures: AtomicU32,
    last_failure: Mutex<Option<Instant>>,
}

/// The webhook channel.
pub struct Webhook {
    inner: Arc<Inner>,
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
    handle: tokio::runtime::Handle,
    /// Where status callbacks are taken, when configured.
    pub callback_addr: Option<SocketAddr>,
}

fn resolve(value: &str) -> Result<String, String> {
    match value.strip_prefix("env:") {
        Some(name) => {
            std::env::var(name).map_err(|_| format!("environment variable {name} is not set"))
        }
        None => Ok(value.to_string()),
    }
}

/// The validated configuration.
struct Settings {
    url: http::Uri,
    timeout: Duration,
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
    receipt_listen: Option<SocketAddr>,
}

impl Settings {
    fn parse(config: &str) -> Result<Self, String> {
        let config: Config =
            serde_json::from_str(config).map_err(|e| format!("configuration: {e}"))?;
        let url: http::Uri = config
            .url
            .parse()
            .map_err(|e| format!("url {:?}: {e}", config.url))?;
        if url.scheme_str() != Some("http") {
            return Err(format!(
                "url {:?}: only http:// is supported (put a TLS-terminating proxy in front for https)",
                config.url
            ));
        }
        let timeout = humantime::parse_duration(&config.timeout)
            .map_err(|e| format!("timeout {:?}: {e}", config.timeout))?;
        let mut headers = Vec::new();
        for (name, value) in &config.headers {
            let name = http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| format!("header {name:?}: {e}"))?;
            let value = http::HeaderValue::from_str(&resolve(value)?)
                .map_err(|e| format!("header {name}: {e}"))?;
            headers.push((name, value));
        }
        let receipt_listen = match &config.receipt_listen {
            Some(a) => Some(
                a.parse()
                    .map_err(|e| format!("receipt_listen {a:?}: {e} (an IP:port)"))?,
            ),
            None => None,
        };
        Ok(Self {
            url,
            timeout,
            headers,
            receipt_listen,
        })
    }
}

impl Plugin for Webhook {
    fn validate(config: &str) -> Result<(), String> {
        Settings::parse(config).map(|_| ())
    }

    fn create(config: &str, host: Host) -> Result<Self, String> {
        let Settings {
            url,
            timeout,
            headers,
            receipt_listen,
        } = Settings::parse(config)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("webhook-plugin")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the plugin's runtime: {e}"))?;
        let handle = runtime.handle().clone();
        let client = {
            let _guard = runtime.enter();
            let mut connector = HttpConnector::new();
            connector.set_nodelay(true);
            connector.set_connect_timeout(Some(timeout));
            Client::builder(TokioExecutor::new()).build(connector)
        };
        let callback_addr = match receipt_listen {
            Some(addr) => Some(callback::start(&handle, addr, host)?),
            None => None,
        };
        if let Some(addr) = callback_addr {
            host.log(Level::Info, &format!("status callbacks on http://{addr}/"));
        }
        Ok(Self {
            inner: Arc::new(Inner {
                host,
                url,
                headers,
                timeout,
                client,
                in_flight: AtomicU64::new(0),
                failures: AtomicU32::new(0),
                last_failure: Mutex::new(None),
            }),
            runtime: Mutex::new(Some(runtime)),
            handle,
            callback_addr,
        })
    }

    fn submit(&self, message: Message<'_>, completion: Completion) {
        let body = serde_json::to_vec(&Request {
            id: message.id,
            account: message.account,
            from: message.source,
            to: message.destination,
            text: message.text,
            data_coding: message.data_coding,
            receipt_requested: message.wants_receipt(),
        })
        .unwrap_or_default();
        let inner = self.inner.clone();
        inner.in_flight.fetch_add(1, Ordering::AcqRel);
        self.handle.spawn(async move {
            let outcome = inner.post(body).await;
            inner.in_flight.fetch_sub(1, Ordering::AcqRel);
            completion.complete(outcome);
        });
    }

    fn health(&self) -> Health {
        let recent = self
            .inner
            .last_failure
            .lock()
            .ok()
            .and_then(|t| *t)
            .is_some_and(|t| t.elapsed() < DOWN_FOR);
        if self.inner.failures.load(Ordering::Acquire) >= DOWN_AFTER && recent {
            Health::Down
        } else {
            Health::Up
        }
    }

    fn drain(&self) {
        let deadline = Instant::now() + DRAIN_WAIT;
        while self.inner.in_flight.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.lock().ok().and_then(|mut r| r.take()) {
            rt.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

impl Inner {
    async fn post(&self, body: Vec<u8>) -> Outcome {
        let mut req = http::Request::post(self.url.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)));
        if let Ok(r) = &mut req {
            for (name, value) in &self.headers {
                r.headers_mut().insert(name.clone(), value.clone());
            }
        }
        let Ok(req) = req else {
            return Outcome::NotSent;
        };
        let answer = tokio::time::timeout(self.timeout, async {
            let resp = self.client.request(req).await?;
            let status = resp.status().as_u16();
            let body = Limited::new(resp.into_body(), MAX_ANSWER)
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            Ok::<_, hyper_util::client::legacy::Error>((status, body))
        })
        .await;
        match answer {
            Ok(Ok((status, body))) => {
                self.failures.store(0, Ordering::Release);
                if matches!(status, 401 | 403) {
                    self.host.log(
                        Level::Error,
                        &format!("the webhook refused our credentials (HTTP {status})"),
                    );
                }
                self.host.count("http_answers", 1.0);
                answer::outcome(status, &body)
            }
            Ok(Err(e)) if e.is_connect() => {
                self.failures.fetch_add(1, Ordering::AcqRel);
                if let Ok(mut t) = self.last_failure.lock() {
                    *t = Some(Instant::now());
                }
                self.host
                    .log(Level::Warn, &format!("cannot reach the webhook: {e}"));
                Outcome::NotSent
            }
            Ok(Err(e)) => {
                self.host.log(
                    Level::Warn,
                    &format!("the webhook connection failed after sending: {e}"),
                );
                Outcome::Unknown
            }
            Err(_) => {
                self.host
                    .log(Level::Warn, "the webhook did not answer in time");
                self.host.count("timeouts", 1.0);
                Outcome::Unknown
            }
        }
    }
}

export_plugin!(Webhook);
