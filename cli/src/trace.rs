//! `smpp-router trace`: asks a running router's admin interface where a message went
//! (`GET /messages/…`) and prints the answer for a person, or as JSON with `--json`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use smpp_router::config::RouterConfig;

/// What to look up and where.
pub struct TraceArgs<'a> {
    /// A router id, or `None` with `carrier` set.
    pub router_id: Option<&'a str>,
    /// `(channel, carrier id)`.
    pub carrier: Option<(&'a str, &'a str)>,
    /// Destination unmasked (the admin interface must have a token).
    pub full_numbers: bool,
    /// `host:port` of the admin interface; from `router.toml` when `None`.
    pub admin: Option<&'a str>,
    pub json: bool,
}

pub fn trace(config_file: &Path, args: &TraceArgs<'_>) -> anyhow::Result<String> {
    let (addr, token) = admin_of(config_file, args.admin)?;
    let mut path = match (args.router_id, args.carrier) {
        (Some(id), _) => format!("/messages/{}?", encode(id)),
        (None, Some((channel, id))) => format!(
            "/messages?channel={}&carrier_id={}&",
            encode(channel),
            encode(id)
        ),
        (None, None) => anyhow::bail!("give a router id, or --channel and --carrier-id"),
    };
    if args.full_numbers {
        path.push_str("numbers=full");
    }
    let (status, body) = get(&addr, &path, token.as_deref())?;
    let value: Value = serde_json::from_str(&body).map_err(|_| {
        anyhow::anyhow!(
            "the admin interface at {addr} answered {status}: {}",
            body.trim()
        )
    })?;
    if status != 200 {
        let why = value["error"].as_str().unwrap_or(body.trim());
        anyhow::bail!("{why} (HTTP {status} from {addr})");
    }
    Ok(if args.json {
        format!("{value:#}\n")
    } else {
        render(&value)
    })
}

/// The admin address and token: `--admin`, else `router.toml`'s `admin.listen` (a wildcard
/// address asked on loopback) and `admin.token`.
fn admin_of(config_file: &Path, admin: Option<&str>) -> anyhow::Result<(String, Option<String>)> {
    let config = if config_file.exists() {
        RouterConfig::load(config_file).map_err(|errors| {
            let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
            anyhow::anyhow!("{}", lines.join("\n"))
        })?
    } else {
        RouterConfig::default()
    };
    let token = match &config.admin.token {
        Some(spec) => Some(
            smpp_router::config::resolve_secret(spec)
                .map_err(|e| anyhow::anyhow!("admin.token: {e}"))?,
        ),
        None => None,
    };
    let addr = match admin {
        Some(a) => a
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string(),
        None if config.admin.listen == "off" => {
            anyhow::bail!(
                "admin.listen is off in {}: give --admin HOST:PORT",
                config_file.display()
            )
        }
        None => config
            .admin
            .listen
            .replace("0.0.0.0:", "127.0.0.1:")
            .replace("[::]:", "[::1]:"),
    };
    Ok((addr, token))
}

/// One HTTP/1.1 GET; the status and body.
fn get(addr: &str, path: &str, token: Option<&str>) -> anyhow::Result<(u16, String)> {
    let mut tcp = TcpStream::connect(addr).map_err(|e| {
        anyhow::anyhow!("cannot reach the admin interface at {addr}: {e} (is the router running?)")
    })?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        tcp,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    Ok((
        status,
        if chunked {
            dechunk(body)
        } else {
            body.to_string()
        },
    ))
}

/// The body of a chunked response.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 {
            break;
        }
        out.push_str(rest.get(..n).unwrap_or(rest));
        body = rest.get(n + 2..).unwrap_or("");
    }
    out
}

/// Percent-encodes what is not unreserved.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The trace for a person.
fn render(v: &Value) -> String {
    let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
    let mut out = format!(
        "message {}\n  account {}  session {}  route {}\n  to {} ({})  submitted {}\n  state {}\n  attempts:\n",
        s("router_id"),
        s("account"),
        v["session"],
        s("route"),
        s("destination"),
        s("country"),
        s("submitted_at"),
        s("state"),
    );
    for a in v["attempts"].as_array().into_iter().flatten() {
        let channel = a["channel"].as_str().unwrap_or("");
        let took = channel == s("channel") && a["outcome"].as_str() == Some("accepted");
        out.push_str(&format!(
            "    {:<16} {:<16} {:>6} ms{}\n",
            channel,
            a["outcome"].as_str().unwrap_or(""),
            a["latency_ms"]
                .as_u64()
                .map_or("?".into(), |l| l.to_string()),
            if took {
                format!("   carrier id {}", s("carrier_id"))
            } else {
                String::new()
            }
        ));
    }
    out.push_str("  events:\n");
    let events = v["events"].as_array().cloned().unwrap_or_default();
    if events.is_empty() {
        out.push_str("    (none yet: no receipt)\n");
    }
    for e in events {
        let f = |k: &str| e[k].as_str().unwrap_or("").to_string();
        let line = match f("what").as_str() {
            "receipt" => format!(
                "receipt {} err {} from {}",
                f("state"),
                f("error"),
                f("from")
            ),
            "delivered_to_client" => format!(
                "delivered to the client ({}) on session {}",
                f("how"),
                e["session"]
            ),
            "stored_for_client" => "stored for the client (no session could take it)".to_string(),
            other => other.to_string(),
        };
        out.push_str(&format!("    {}  {}\n", f("at"), line));
    }
    out
}
