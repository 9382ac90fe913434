//! The status-callback listener: the webhook's service POSTs `{"id", "status", "error"}` here
//! when it knows a message's fate, and the plugin emits the receipt to the router. Answers
//! 200 when the router took it, 400 for a malformed callback, 503 when the router asks for a
//! retry (the service should send it again).

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use smpp_router_plugin_api::{Host, Level, Receipt, ReceiptError};

use crate::answer::{Callback, state_of};

/// Binds `addr` now (so a bad address fails `create`) and serves callbacks on `runtime`.
pub fn start(
    runtime: &tokio::runtime::Handle,
    addr: SocketAddr,
    host: Host,
) -> Result<SocketAddr, String> {
    let err = |e: std::io::Error| format!("receipt_listen {addr}: {e}");
    let listener = {
        let _guard = runtime.enter();
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()
        } else {
            tokio::net::TcpSocket::new_v6()
        }
        .map_err(err)?;
        // A reload that changes this channel starts the new instance while the old one still
        // listens: both share the port until the old one is dropped.
        socket.set_reuseaddr(true).map_err(err)?;
        #[cfg(unix)]
        socket.set_reuseport(true).map_err(err)?;
        socket.bind(addr).map_err(err)?;
        socket.listen(1024).map_err(err)?
    };
    let local = listener.local_addr().map_err(err)?;
    runtime.spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    host.log(Level::Warn, &format!("status callback accept failed: {e}"));
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            tokio::spawn(async move {
                let service = service_fn(move |req| handle(req, host));
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(local)
}

async fn handle(
    req: hyper::Request<Incoming>,
    host: Host,
) -> Result<hyper::Response<Full<Bytes>>, std::convert::Infallible> {
    let reply = |status: u16, text: &'static str| {
        let mut r = hyper::Response::new(Full::new(Bytes::from_static(text.as_bytes())));
        *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or_default();
        Ok(r)
    };
    if req.method() != hyper::Method::POST {
        return reply(405, "POST a JSON status callback\n");
    }
    let Ok(body) = Limited::new(req.into_body(), 16 * 1024).collect().await else {
        return reply(400, "body too large or unreadable\n");
    };
    let Ok(callback) = serde_json::from_slice::<Callback>(&body.to_bytes()) else {
        return reply(
            400,
            "expected {\"id\": \"…\", \"status\": \"delivered\", \"error\": 0}\n",
        );
    };
    let Some(state) = state_of(&callback.status) else {
        return reply(400, "status is not a final state\n");
    };
    let receipt = Receipt {
        message_id: callback.id,
        state,
        error: callback.error,
    };
    match host.emit_receipt(&receipt) {
        Ok(()) => {
            host.count("status_callbacks", 1.0);
            reply(200, "{\"ok\":true}\n")
        }
        Err(ReceiptError::Invalid) => reply(400, "the router refused the receipt\n"),
        Err(ReceiptError::Retry) => reply(503, "try again later\n"),
    }
}
