//! The channel's HTTP/1.1 client: a pool of keep-alive connections (plain TCP or TLS), one request
//! per connection at a time, TCP_NODELAY on every socket.
//!
//! Built on hyper's connection API rather than a ready-made client because the channel must know
//! exactly whether a request may have reached the platform: [`Failure::NotSent`] means no byte of
//! the request was written (connect or TLS failed, or a pooled connection turned out closed before
//! the request was handed to it — such a request is retried once on a fresh connection), and
//! [`Failure::Unknown`] means it may have been (the answer never came, or came broken). The
//! caller must never resend after `Unknown`: the user could get the code twice.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST, USER_AGENT};
use http::{HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::ServerName;

use super::settings::Endpoint;

/// The largest answer body read; the platform's answers are a few hundred bytes.
const MAX_ANSWER: usize = 64 * 1024;
/// Stale pooled connections tried before insisting on a fresh one.
const STALE_RETRIES: u32 = 2;

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Nothing of the request was written; safe to try again.
    #[error("not sent: {0}")]
    NotSent(String),
    /// The request may have reached the platform; the outcome is unknown.
    #[error("outcome unknown: {0}")]
    Unknown(String),
}

/// Why the client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The CA bundle could not be read or held no certificate.
    #[error("ca_file: {0}")]
    Roots(String),
    /// rustls refused the configuration.
    #[error("tls: {0}")]
    Tls(String),
    /// The host is not a valid TLS server name.
    #[error("base_url: `{0}` is not a valid TLS server name")]
    ServerName(String),
}

impl From<ClientError> for crate::channels::SetupError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Roots(why) => Self::invalid("ca_file", why),
            ClientError::Tls(why) => Self::invalid("ca_file", format!("tls: {why}")),
            ClientError::ServerName(host) => Self::invalid(
                "base_url",
                format!("`{host}` is not a valid TLS server name"),
            ),
        }
    }
}

type Conn = SendRequest<Full<Bytes>>;

/// A pooled HTTP/1.1 client for one endpoint.
pub struct Client {
    endpoint: Endpoint,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    idle: Mutex<Vec<Conn>>,
    max_idle: usize,
}

impl Client {
    /// A client for `endpoint` keeping up to `max_idle` idle connections. For https, `ca_file`
    /// (default: the system bundle) holds the trusted roots. Starts nothing.
    pub fn new(
        endpoint: Endpoint,
        max_idle: usize,
        ca_file: Option<&std::path::Path>,
    ) -> Result<Self, ClientError> {
        let tls = if endpoint.tls {
            let config = tls_config(ca_file)?;
            let name = ServerName::try_from(endpoint.host.clone())
                .map_err(|_| ClientError::ServerName(endpoint.host.clone()))?;
            Some((TlsConnector::from(Arc::new(config)), name))
        } else {
            None
        };
        Ok(Self {
            endpoint,
            tls,
            idle: Mutex::new(Vec::new()),
            max_idle,
        })
    }

    /// POSTs `body` as JSON to the send path with `Authorization: key`, finishing by `deadline`.
    pub async fn post(
        &self,
        body: Bytes,
        key: &HeaderValue,
        deadline: Instant,
    ) -> Result<(StatusCode, Bytes), Failure> {
        let mut stale = 0;
        loop {
            let pooled = if stale < STALE_RETRIES {
                self.checkout(deadline).await
            } else {
                None
            };
            let reused = pooled.is_some();
            let mut conn = match pooled {
                Some(c) => c,
                None => match timeout_at(deadline, self.connect()).await {
                    Ok(Ok(c)) => c,
                    Ok(Err(e)) => return Err(Failure::NotSent(e)),
                    Err(_) => return Err(Failure::NotSent("connect timed out".into())),
                },
            };
            let request = self.request(body.clone(), key)?;
            let response = match timeout_at(deadline, conn.try_send_request(request)).await {
                Err(_) => return Err(Failure::Unknown("no answer before the timeout".into())),
                Ok(Ok(r)) => r,
                Ok(Err(e)) if e.message().is_some() => {
                    // Handed back unsent: the connection closed before taking the request.
                    if reused {
                        stale += 1;
                        continue;
                    }
                    return Err(Failure::NotSent(e.into_error().to_string()));
                }
                Ok(Err(e)) => return Err(Failure::Unknown(e.into_error().to_string())),
            };
            let status = response.status();
            let collected = timeout_at(
                deadline,
                Limited::new(response.into_body(), MAX_ANSWER).collect(),
            )
            .await;
            let bytes = match collected {
                Err(_) => return Err(Failure::Unknown("answer body timed out".into())),
                Ok(Err(e)) => return Err(Failure::Unknown(format!("answer body: {e}"))),
                Ok(Ok(c)) => c.to_bytes(),
            };
            self.checkin(conn);
            return Ok((status, bytes));
        }
    }

    /// Connections open and idle in the pool (for tests and metrics).
    pub fn idle(&self) -> usize {
        self.idle.lock().map(|v| v.len()).unwrap_or(0)
    }

    fn request(&self, body: Bytes, key: &HeaderValue) -> Result<Request<Full<Bytes>>, Failure> {
        Request::builder()
            .method(Method::POST)
            .uri(self.endpoint.send_path.as_str())
            .header(HOST, self.endpoint.authority.as_str())
            .header(AUTHORIZATION, key.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(
                USER_AGENT,
                concat!("smpp-router/", env!("CARGO_PKG_VERSION")),
            )
            .body(Full::new(body))
            .map_err(|e| Failure::NotSent(format!("request: {e}")))
    }

    /// An idle connection that is ready for a request, if any.
    async fn checkout(&self, deadline: Instant) -> Option<Conn> {
        loop {
            let mut conn = self.idle.lock().ok()?.pop()?;
            if conn.is_closed() {
                continue;
            }
            // Usually ready at once; a just-returned connection may need its task to catch up.
            match timeout_at(deadline, conn.ready()).await {
                Ok(Ok(())) => return Some(conn),
                // Closed meanwhile: drop it and look at the next one.
                Ok(Err(_)) => continue,
                // Out of time: keep the connection for others; the caller fails on the deadline.
                Err(_) => {
                    self.checkin(conn);
                    return None;
                }
            }
        }
    }

    fn checkin(&self, conn: Conn) {
        if conn.is_closed() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < self.max_idle
        {
            idle.push(conn);
        }
    }

    /// A fresh connection; every error here means nothing was written.
    async fn connect(&self) -> Result<Conn, String> {
        let tcp = TcpStream::connect((self.endpoint.host.as_str(), self.endpoint.port))
            .await
            .map_err(|e| format!("connect to {}: {e}", self.endpoint.authority))?;
        tcp.set_nodelay(true)
            .map_err(|e| format!("TCP_NODELAY: {e}"))?;
        match &self.tls {
            None => handshake(tcp).await,
            Some((connector, name)) => {
                let tls = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| format!("TLS with {}: {e}", self.endpoint.authority))?;
                handshake(tls).await
            }
        }
    }
}

async fn handshake<T>(io: T) -> Result<Conn, String>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (send, conn) = http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("HTTP handshake: {e}"))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "OTP Blue connection ended");
        }
    });
    Ok(send)
}

/// The system CA bundles tried when `ca_file` is not set (after `SSL_CERT_FILE`).
const SYSTEM_BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
    "/etc/ssl/ca-bundle.pem",
];

fn tls_config(ca_file: Option<&std::path::Path>) -> Result<rustls::ClientConfig, ClientError> {
    let path = match ca_file {
        Some(p) => p.to_path_buf(),
        None => std::env::var_os("SSL_CERT_FILE")
            .map(std::path::PathBuf::from)
            .or_else(|| {
                SYSTEM_BUNDLES
                    .iter()
                    .map(std::path::PathBuf::from)
                    .find(|p| p.exists())
            })
            .ok_or_else(|| {
                ClientError::Roots("no system CA bundle found; set ca_file".to_string())
            })?,
    };
    let pem = std::fs::read(&path)
        .map_err(|e| ClientError::Roots(format!("cannot read `{}`: {e}", path.display())))?;
    let mut reader = pem.as_slice();
    let certs = rustls_pemfile::certs(&mut reader).filter_map(Result::ok);
    let mut roots = rustls::RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(ClientError::Roots(format!(
            "`{}` holds no usable certificate",
            path.display()
        )));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
