//! The admin HTTP interface (loopback by default, optional bearer token):
//!
//! | request | answer |
//! |---|---|
//! | `GET /healthz` | `200 ok` while the process serves |
//! | `GET /readyz` | `200` once routes are loaded and a listener is up and the store can write, else `503` with the reason |
//! | `GET /metrics` | Prometheus text: message counters and latency, sessions, channels, reloads, store |
//! | `GET /routes` | JSON: the table in service (routes, channels and whether each is up) and the last reload's outcome with its errors |
//! | `GET /sessions` | JSON: bound client sessions |
//! | `GET /cluster` | JSON, in cluster mode: the instances (address, uptime, sessions, channels up, the digest and generation of their routes), whether their routes agree, and whether Redis answers |
//! | `GET /messages/{router_id}`, `GET /messages?channel=…&carrier_id=…` | JSON: where the message went ([`messages`]); `&numbers=full` shows the destination unmasked (only with a token) |
//! | `POST /reload` | reloads `routes.toml`: `200` with the generation and the channels kept, added, rebuilt and removed, or `422` with every error |

mod messages;

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

use crate::routing::router::Router;
use crate::server::Shared;
use crate::store::Store;

/// How the data-path threads share the client connections.
static THREAD_CONNECTIONS: crate::metrics::Family = crate::metrics::Family {
    name: "smpp_router_thread_connections",
    help: "Client connections on each data-path thread (limits.threads).",
    kind: crate::metrics::Kind::Gauge,
    labels: &["thread"],
};

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
    /// The data-path threads (connections per thread).
    pub shards: Arc<crate::shards::Shards>,
    /// The link to the cluster, in cluster mode.
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
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
        let path = req.uri().path();
        if path == "/messages" || path.starts_with("/messages/") {
            if req.method() != Method::GET {
                return reply(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "text/plain",
                    "method not allowed\n".into(),
                );
            }
            let query = messages::Query {
                router_id: path.strip_prefix("/messages/"),
                params: req.uri().query().unwrap_or(""),
                token_set: self.token.is_some(),
            };
            let (status, body) = messages::lookup(&*self.store, &query);
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return json_reply(status, &body);
        }
        match (req.method(), req.uri().path()) {
            (&Method::GET, "/healthz") => reply(StatusCode::OK, "text/plain", "ok\n".into()),
            (&Method::GET, "/readyz") => self.ready(),
            (&Method::GET, "/metrics") => {
                reply(StatusCode::OK, "text/plain; version=0.0.4", self.metrics())
            }
            (&Method::GET, "/routes") => self.routes(),
            (&Method::GET, "/sessions") => self.sessions(),
            (&Method::GET, "/cluster") => match &self.cluster {
                Some(cluster) => {
                    json_reply(StatusCode::OK, &crate::cluster::node::overview(cluster).await)
                }
                None => json_reply(
                    StatusCode::NOT_FOUND,
                    &json!({"error": "not in cluster mode ([cluster] is not set in router.toml)"}),
                ),
            },
            (&Method::POST, "/reload") => {
                let router = self.router.clone();
                match tokio::task::spawn_blocking(move || router.reload()).await {
                    Ok(Ok(applied)) => json_reply(StatusCode::OK, &json!(applied)),
                    Ok(Err(rejected)) => json_reply(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        &json!({"errors": rejected.errors.iter().map(ToString::to_string).collect::<Vec<_>>()}),
                    ),
                    Err(_) => reply(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "text/plain",
                        "reload failed\n".into(),
                    ),
                }
            }
            (_, "/healthz" | "/readyz" | "/metrics" | "/routes" | "/sessions" | "/cluster" | "/reload") => {
                reply(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "text/plain",
                    "method not allowed\n".into(),
                )
            }
            _ => reply(
                StatusCode::NOT_FOUND,
                "text/plain",
                "not found: try /healthz, /readyz, /metrics, /routes, /sessions, /cluster, /messages/ID, POST /reload\n"
                    .into(),
            ),
        }
    }

    fn ready(&self) -> Response<Full<Bytes>> {
        let loaded = self.router.status().generation > 0;
        let health = self.store.health();
        if self.server.draining() {
            // A load balancer takes the instance out while its sessions finish.
            reply(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                "draining: shutting down, sessions finishing\n".into(),
            )
        } else if let Some(fault) = &health.fault {
            let body = format!(
                "store cannot write for {} s ({}); new messages are refused with ESME_RMSGQFUL, {} operations held in memory\n",
                fault.since.elapsed().as_secs(),
                fault.reason,
                health.held
            );
            reply(StatusCode::SERVICE_UNAVAILABLE, "text/plain", body)
        } else if self.cluster.as_ref().is_some_and(|c| c.node_lost()) {
            reply(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                "another process holds this instance's cluster.node_id: message ids may repeat; stop one of them\n".into(),
            )
        } else if let (true, Some((reason, since))) =
            (loaded, self.cluster.as_ref().and_then(|c| c.fault()))
        {
            // Still serving: receipts for sessions here go out; the rest waits in the store.
            let body = format!(
                "ready, degraded: the cluster's Redis is unavailable for {} s ({reason}); receipts for sessions on other instances are kept here until it is back\n",
                since.as_secs()
            );
            reply(StatusCode::OK, "text/plain", body)
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

    /// The counters, then what the services show at scrape time.
    fn metrics(&self) -> String {
        let mut out = String::new();
        self.metrics.render(&mut out);
        self.server.registry.write_metrics(&mut out);
        self.router.write_metrics(&mut out);
        crate::store::counters::write_metrics(&*self.store, &mut out);
        crate::records::counters::write_metrics(&*self.store, &mut out);
        if let Some(cluster) = &self.cluster {
            cluster.write_metrics(&mut out);
        }
        THREAD_CONNECTIONS.write(
            &mut out,
            self.shards
                .connections()
                .into_iter()
                .enumerate()
                .map(|(thread, n)| ([thread], n)),
        );
        out
    }
}
