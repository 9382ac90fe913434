//! Stand-ins for the services the router talks to, for local work, demos and tests
//! (`smpp-router sim …`).

pub mod carrier;
pub mod otpblue;

use std::time::Duration;

use anyhow::Context;
use tokio::net::{TcpListener, TcpStream};

/// The next connection on `listener`, with `TCP_NODELAY` set (without it a lone response waits
/// for the previous segment's ACK). Transient accept errors (a reset before accept, out of file
/// descriptors) pause briefly and retry; any other error ends the stand-in named `what`.
pub(crate) async fn accept(listener: &TcpListener, what: &str) -> anyhow::Result<TcpStream> {
    loop {
        match listener.accept().await {
            Ok((tcp, _peer)) => {
                let _ = tcp.set_nodelay(true);
                return Ok(tcp);
            }
            Err(e) if is_transient(&e) => {
                tracing::warn!(error = %e, "{what}: accept failed; pausing");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return Err(e).with_context(|| format!("{what}: accept")),
        }
    }
}

fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock
    ) || e.raw_os_error().is_some_and(|c| c == 23 || c == 24) // ENFILE, EMFILE
}
