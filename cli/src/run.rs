//! `smpp-router run`: loads `router.toml`, starts the stand-ins it asks for (`[sim]`), starts the
//! router (`smpp_router::app::start`) and handles signals — SIGHUP reloads `routes.toml`, SIGTERM
//! drains gracefully, SIGINT stops fast.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use smpp_router::app::{diagnostics_error, init_logging, start};
use smpp_router::config::RouterConfig;
use smpp_router::ids::IdMinter;
use smpp_router::routing::watch::{Reloads, Trigger};
use smpp_router_tools::sim;

/// Runs the router until a signal stops it.
pub async fn run(config_path: &Path) -> anyhow::Result<()> {
    let config =
        RouterConfig::load(config_path).map_err(|d| diagnostics_error("router.toml", d))?;
    init_logging(&config.log.format, &config.log.level);
    start_stand_ins(&config).await?;
    // Message ids carry the instance's number: unique across a cluster's instances.
    let instance = config.cluster.as_ref().map_or(0, |c| c.node_id);
    let running = start(&config, Arc::new(IdMinter::new(instance))).await?;
    let mut ids: Vec<String> = running
        .router
        .table()
        .accounts
        .iter()
        .map(|a| a.system_id.clone())
        .collect();
    ids.sort();
    println!(
        "smpp-router: {} account(s): {}{}",
        ids.len(),
        ids.join(", "),
        if ids.iter().any(|i| i == "demo") {
            " (the repository's demo account: system_id demo, password demo)"
        } else {
            ""
        }
    );
    if let Some(local) = running.admin {
        println!(
            "smpp-router: admin HTTP on http://{local} (/metrics, /healthz, /readyz, /routes, /sessions, POST /reload)"
        );
    }
    if let Some(a) = running.server.plain_addr() {
        println!("smpp-router: SMPP on {a} (plaintext)");
    }
    if let Some(a) = running.server.tls_addr() {
        println!("smpp-router: SMPP on {a} (TLS)");
    }
    let fast = wait_for_signals(&running.reloads).await?;
    let grace = if fast {
        Duration::from_secs(1)
    } else {
        config.limits.shutdown_grace
    };
    let store = running.store.clone();
    running.shutdown(grace).await;
    let st = store.stats();
    println!(
        "smpp-router: stopped; store: {} commits (fsyncs) for {} writes, {} receipts waiting",
        st.commits, st.ops, st.queue_depth
    );
    Ok(())
}

/// Starts the stand-ins `[sim]` asks for, before the routes that point at them load.
async fn start_stand_ins(config: &RouterConfig) -> anyhow::Result<()> {
    let sim = &config.sim;
    if let Some(addr) = sim_addr(&sim.otpblue, "otpblue")? {
        let knobs = sim::otpblue::Knobs {
            api_key: sim.otpblue_api_key.clone(),
            no_imessage_share: sim.otpblue_no_imessage_share,
            latency: sim.otpblue_latency.parse().map_err(anyhow::Error::msg)?,
            ..Default::default()
        };
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("stand-in OTP Blue API on {addr}"))?;
        println!(
            "smpp-router: stand-in OTP Blue API on http://{addr} ({:.0}% of numbers have no iMessage)",
            sim.otpblue_no_imessage_share * 100.0
        );
        tokio::spawn(sim::otpblue::serve(listener, knobs));
    }
    if let Some(addr) = sim_addr(&sim.carrier, "carrier")? {
        let knobs = sim::carrier::Knobs {
            receipt_delay: sim
                .carrier_receipt_delay
                .parse()
                .map_err(anyhow::Error::msg)?,
            ..Default::default()
        };
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("stand-in carrier on {addr}"))?;
        println!("smpp-router: stand-in carrier SMSC on {addr}");
        tokio::spawn(sim::carrier::serve(listener, knobs));
    }
    Ok(())
}

fn sim_addr(value: &str, key: &str) -> anyhow::Result<Option<std::net::SocketAddr>> {
    if value.eq_ignore_ascii_case("off") || value.is_empty() {
        return Ok(None);
    }
    value
        .parse()
        .map(Some)
        .map_err(|_| anyhow::anyhow!("sim.{key} `{value}` is not an address"))
}

/// Waits for SIGTERM (returns false: drain) or SIGINT (returns true: fast); SIGHUP reloads.
#[cfg(unix)]
async fn wait_for_signals(reloads: &Reloads) -> anyhow::Result<bool> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    loop {
        tokio::select! {
            _ = term.recv() => {
                tracing::info!("SIGTERM: draining");
                return Ok(false);
            }
            _ = int.recv() => {
                tracing::info!("SIGINT: stopping");
                return Ok(true);
            }
            _ = hup.recv() => reloads.request(Trigger::Signal),
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signals(_reloads: &Reloads) -> anyhow::Result<bool> {
    tokio::signal::ctrl_c().await?;
    Ok(true)
}
