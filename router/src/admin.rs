//! The admin HTTP interface (loopback by default, optional bearer token):
//!
//! | request | answer |
//! |---|---|
//! | `GET /healthz` | `200 ok` while the process serves |
//! | `GET /readyz` | `200` once routes are loaded and a listener is up and the store can write, else `503` with the reason |
//! | `GET /metrics` | Prometheus text: message counters and latency, sessions, channels, reloads, store |
//! | `GET /routes` | JSON: the table in service (routes, channels and whether each is up) and the last reload's outcome with its errors |
//! | `GET /sessions` | JSON: bound client sessions |
//! | `POST /reload` | reloads `routes.toml`: `200` with the generation, or `422` with every error |

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;

use crate::metrics::{esc, header as metric_header};
use crate::routing::router::Router;
use crate::server::Shared;
use crate::store::Store;

/// What the admin interface reads.
pub struct Admin {
    /// The router (table, reloads).
    pub router: Arc<Router>,
    /// The server (sessions).
    pub server: Arc<Shared>,
    /// The store (its counters).
    pub store: Arc<dyn Store>,
    /// The router's counters.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The bearer token every request must carry, if set.
    pub token: Option<String>,
}

/// Binds `addr` and serves the admin interface until the process ends.
pub async fn start(addr: SocketAddr, admin: Admin) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("admin HTTP on {addr}"))?;
    let local = listener.local_addr()?;
    let admin = Arc::new(admin);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            };
            let admin = admin.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let admin = admin.clone();
                    async move { Ok::<_, std::convert::Infallible>(admin.handle(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    Ok(local)
}

fn reply(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    if let Ok(v) = header::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

fn json_reply(status: StatusCode, value: &serde_json::Value) -> Response<Full<Bytes>> {
    reply(status, "application/json", format!("{value}\n"))
}

impl Admin {
    fn authorised(&self, req: &Request<Incoming>) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        given.as_bytes().ct_eq(token.as_bytes()).into()
    }

    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<Full<Bytes>> {
        if !self.authorised(&req) {
            return reply(
                StatusCode::UNAUTHORIZED,
                "text/plain",
                "bearer token required\n".into(),
            );
        }
        match (req.method(), req.uri().path()) {
            (&Method::GET, "/healthz") => reply(StatusCode::OK, "text/plain", "ok\n".into()),
            (&Method::GET, "/readyz") => self.ready(),
            (&Method::GET, "/metrics") => {
                reply(StatusCode::OK, "text/plain; version=0.0.4", self.metrics())
            }
            (&Method::GET, "/routes") => self.routes(),
            (&Method::GET, "/sessions") => self.sessions(),
            (&Method::POST, "/reload") => {
                let router = self.router.clone();
                match tokio::task::spawn_blocking(move || router.reload()).await {
                    Ok(Ok(generation)) => {
                        json_reply(StatusCode::OK, &json!({"generation": generation}))
                    }
                    Ok(Err(errors)) => json_reply(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        &json!({"errors": errors.iter().map(ToString::to_string).collect::<Vec<_>>()}),
                    ),
                    Err(_) => reply(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "text/plain",
                        "reload failed\n".into(),
                    ),
                }
            }
            (_, "/healthz" | "/readyz" | "/metrics" | "/routes" | "/sessions" | "/reload") => {
                reply(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "text/plain",
                    "method not allowed\n".into(),
                )
            }
            _ => reply(
                StatusCode::NOT_FOUND,
                "text/plain",
                "not found: try /healthz, /readyz, /metrics, /routes, /sessions, POST /reload\n"
                    .into(),
            ),
        }
    }

    fn ready(&self) -> Response<Full<Bytes>> {
        let loaded = self.router.status().generation > 0;
        let health = self.store.health();
        if let Some(fault) = &health.fault {
            let body = format!(
                "store cannot write for {} s ({}); new messages are refused with ESME_RMSGQFUL, {} operations held in memory\n",
                fault.since.elapsed().as_secs(),
                fault.reason,
                health.held
            );
            reply(StatusCode::SERVICE_UNAVAILABLE, "text/plain", body)
        } else if loaded {
            reply(StatusCode::OK, "text/plain", "ready\n".into())
        } else {
            reply(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                "routes not loaded\n".into(),
            )
        }
    }

    fn routes(&self) -> Response<Full<Bytes>> {
        let table = self.router.table();
        let mut channels: Vec<_> = table
            .channels
            .iter()
            .map(|(name, c)| json!({"name": name, "up": c.is_up()}))
            .collect();
        channels.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        let routes: Vec<_> = table
            .routes
            .iter()
            .map(|r| {
                let s = &r.spec;
                json!({
                    "name": s.name,
                    "line": s.line,
                    "accounts": s.accounts,
                    "prefixes": s.prefixes,
                    "countries": s.regions.iter().map(|r| String::from_utf8_lossy(r).into_owned()).chain(s.calling_codes.iter().map(|c| format!("+{c}"))).collect::<Vec<_>>(),
                    "source": s.source.as_ref().map(|r| r.as_str()),
                    "content": s.content.as_ref().map(|r| r.as_str()),
                    "channels": s.channels,
                    "deadline_ms": s.deadline.as_millis() as u64,
                })
            })
            .collect();
        json_reply(
            StatusCode::OK,
            &json!({
                "generation": table.generation,
                "routes": routes,
                "channels": channels,
                "last_reload": self.router.status(),
            }),
        )
    }

    fn sessions(&self) -> Response<Full<Bytes>> {
        let sessions: Vec<_> = self
            .server
            .registry
            .sessions()
            .into_iter()
            .map(|s| {
                json!({"id": s.id, "system_id": s.system_id, "mode": s.mode.as_str(), "peer": s.peer.to_string(), "thread": s.thread})
            })
            .collect();
        json_reply(StatusCode::OK, &json!({"sessions": sessions}))
    }

    fn metrics(&self) -> String {
        let mut out = String::new();
        self.metrics.render(&mut out);
        metric_header(
            &mut out,
            "smpp_router_sessions",
            "gauge",
            "Bound client sessions by account and mode.",
        );
        let mut counts: std::collections::BTreeMap<(String, &str), u64> = Default::default();
        for s in self.server.registry.sessions() {
            *counts.entry((s.system_id, s.mode.as_str())).or_default() += 1;
        }
        for ((account, mode), n) in counts {
            let _ = writeln!(
                out,
                "smpp_router_sessions{{account=\"{}\",mode=\"{mode}\"}} {n}",
                esc(&account)
            );
        }
        metric_header(
            &mut out,
            "smpp_router_channel_up",
            "gauge",
            "1 when a channel can take messages.",
        );
        let table = self.router.table();
        let mut names: Vec<_> = table.channels.keys().collect();
        names.sort();
        for name in names {
            let up = table.channels.get(name).is_some_and(|c| c.is_up());
            let _ = writeln!(
                out,
                "smpp_router_channel_up{{channel=\"{}\"}} {}",
                esc(name),
                u8::from(up)
            );
        }
        let status = self.router.status();
        metric_header(
            &mut out,
            "smpp_router_reloads_total",
            "counter",
            "routes.toml reloads by outcome.",
        );
        let _ = writeln!(
            out,
            "smpp_router_reloads_total{{outcome=\"ok\"}} {}",
            status.succeeded
        );
        let _ = writeln!(
            out,
            "smpp_router_reloads_total{{outcome=\"rejected\"}} {}",
            status.rejected
        );
        metric_header(
            &mut out,
            "smpp_router_routes_generation",
            "gauge",
            "The generation of the table in service.",
        );
        let _ = writeln!(out, "smpp_router_routes_generation {}", status.generation);
        let st = self.store.stats();
        metric_header(
            &mut out,
            "smpp_router_store_commits_total",
            "counter",
            "Durable store commits (fsyncs).",
        );
        let _ = writeln!(out, "smpp_router_store_commits_total {}", st.commits);
        metric_header(
            &mut out,
            "smpp_router_store_writes_total",
            "counter",
            "Store writes committed.",
        );
        let _ = writeln!(out, "smpp_router_store_writes_total {}", st.ops);
        metric_header(
            &mut out,
            "smpp_router_store_queue_depth",
            "gauge",
            "Receipts and MO waiting in the store for their clients.",
        );
        let _ = writeln!(out, "smpp_router_store_queue_depth {}", st.queue_depth);
        metric_header(
            &mut out,
            "smpp_router_store_backlog",
            "gauge",
            "Store writes waiting for their commit.",
        );
        let _ = writeln!(out, "smpp_router_store_backlog {}", st.backlog);
        metric_header(
            &mut out,
            "smpp_router_store_unindexed",
            "gauge",
            "Message records not yet in the store's carrier-id index (kept in memory meanwhile).",
        );
        let _ = writeln!(out, "smpp_router_store_unindexed {}", st.unindexed);
        let health = self.store.health();
        metric_header(
            &mut out,
            "smpp_router_store_writable",
            "gauge",
            "1 while the store can write; 0 while it cannot (new messages are refused with ESME_RMSGQFUL until it recovers by itself).",
        );
        let _ = writeln!(
            out,
            "smpp_router_store_writable {}",
            u8::from(health.writable())
        );
        metric_header(
            &mut out,
            "smpp_router_store_held",
            "gauge",
            "Store writes held in memory while the store cannot write (records of messages already sent, removals of delivered receipts).",
        );
        let _ = writeln!(out, "smpp_router_store_held {}", health.held);
        metric_header(
            &mut out,
            "smpp_router_thread_connections",
            "gauge",
            "Client connections on each data-path thread (limits.threads).",
        );
        for (thread, n) in crate::shards::connections().into_iter().enumerate() {
            let _ = writeln!(
                out,
                "smpp_router_thread_connections{{thread=\"{thread}\"}} {n}"
            );
        }
        out
    }
}
