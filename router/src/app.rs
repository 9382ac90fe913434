//! `smpp-router run`: loads both configuration files, starts the server, and handles signals —
//! SIGHUP reloads `routes.toml`, SIGTERM drains gracefully, SIGINT stops fast.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::config::{Diagnostic, RouterConfig, RoutesFile};
use crate::ids::IdMinter;
use crate::server::accept_all::AcceptAll;
use crate::server::{Server, tls};

/// Turns configuration diagnostics into one error listing every line.
pub fn diagnostics_error(what: &str, diags: Vec<Diagnostic>) -> anyhow::Error {
    let lines: Vec<String> = diags.iter().map(ToString::to_string).collect();
    anyhow::anyhow!("{what} has {} error(s):\n{}", diags.len(), lines.join("\n"))
}

/// Sets up `tracing` as `router.toml` asks (text or JSON); `RUST_LOG` overrides the level.
pub fn init_logging(format: &str, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
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

/// Runs the router until a signal stops it.
pub async fn run(config_path: &Path) -> anyhow::Result<()> {
    let config =
        RouterConfig::load(config_path).map_err(|d| diagnostics_error("router.toml", d))?;
    init_logging(&config.log.format, &config.log.level);
    let routes = RoutesFile::load(&config.routes)
        .map_err(|d| diagnostics_error(&config.routes.display().to_string(), d))?;
    let acceptor = match config.listen.tls_addr().map_err(anyhow::Error::msg)? {
        None => None,
        Some(_) => {
            let (cert, key) = match (&config.listen.tls_cert, &config.listen.tls_key) {
                (Some(c), Some(k)) => (c.clone(), k.clone()),
                _ => {
                    let pair = tls::self_signed(&config.data_dir)?;
                    tracing::warn!(cert = %pair.0.display(), "no TLS certificate configured; using a self-signed one");
                    pair
                }
            };
            Some(tls::acceptor(&cert, &key)?)
        }
    };
    let ids = Arc::new(IdMinter::new(0));
    let server = Server::start(
        &config,
        routes.accounts,
        Arc::new(AcceptAll::new(ids)),
        acceptor,
    )
    .await
    .context("starting the SMPP server")?;
    if let Some(a) = server.plain_addr() {
        println!("smpp-router: SMPP on {a} (plaintext)");
    }
    if let Some(a) = server.tls_addr() {
        println!("smpp-router: SMPP on {a} (TLS)");
    }
    wait_for_signals(&server, &config).await?;
    Ok(())
}

#[cfg(unix)]
async fn wait_for_signals(server: &Server, config: &RouterConfig) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    loop {
        tokio::select! {
            _ = term.recv() => {
                tracing::info!("SIGTERM: draining");
                return Ok(());
            }
            _ = int.recv() => {
                tracing::info!("SIGINT: stopping");
                return Ok(());
            }
            _ = hup.recv() => match RoutesFile::load(&config.routes) {
                Ok(routes) => {
                    server.shared().reload_accounts(routes.accounts);
                    tracing::info!("routes reloaded");
                }
                Err(diags) => {
                    for d in diags {
                        tracing::error!("{d}");
                    }
                    tracing::error!("reload rejected; the previous routes keep serving");
                }
            },
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signals(_server: &Server, _config: &RouterConfig) -> anyhow::Result<()> {
    tokio::signal::ctrl_c().await?;
    Ok(())
}

/// How long SIGTERM waits for in-flight work.
pub fn drain_grace(config: &RouterConfig) -> Duration {
    config.limits.shutdown_grace
}
