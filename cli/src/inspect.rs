//! `smpp-router check` and `smpp-router explain`: what an operator runs before and after editing
//! `routes.toml`.

use std::fmt::Write;
use std::path::Path;
use std::sync::Arc;

use smpp_router::channels::ChannelKinds;
use smpp_router::config::RouterConfig;
use smpp_router::ids::IdMinter;
use smpp_router::routing::router::Router;
use smpp_router::routing::table::RouteInput;
use smpp_router::smpp::pdu::{Address, Sm};
use smpp_router::smpp::values::ton;

/// Validates both files. `Err` holds every error as `file:line:column: message`; `Ok` a
/// one-screen summary.
pub fn check(config_path: &Path) -> Result<String, String> {
    let (config, table) = load(config_path)?;
    let mut out = String::new();
    let _ = writeln!(out, "{}: ok", config_path.display());
    let _ = writeln!(out, "{}: ok", config.routes.display());
    let mut accounts: Vec<_> = table.accounts.iter().map(|a| a.system_id.clone()).collect();
    accounts.sort();
    let _ = writeln!(
        out,
        "accounts ({}): {}",
        accounts.len(),
        accounts.join(", ")
    );
    let mut channels: Vec<_> = table.channels.keys().cloned().collect();
    channels.sort();
    let _ = writeln!(
        out,
        "channels ({}): {}",
        channels.len(),
        channels.join(", ")
    );
    let _ = writeln!(out, "routes ({}):", table.routes.len());
    for r in &table.routes {
        let _ = writeln!(
            out,
            "  {:<20} line {:<4} {}",
            r.spec.name,
            r.spec.line,
            r.spec.channels.join(" -> ")
        );
    }
    Ok(out)
}

/// Both files, checked: the configuration and the table its routes make (channels checked,
/// not started). `Err` holds every error as `file:line:column: message`.
fn load(
    config_path: &Path,
) -> Result<(RouterConfig, Arc<smpp_router::routing::table::RouteTable>), String> {
    let config = RouterConfig::load(config_path).map_err(|d| join(&d))?;
    let router = Router::new(
        &config.routes,
        Arc::new(IdMinter::new(0)),
        ChannelKinds::builtin(),
        None,
        Arc::default(),
    );
    router.reload().map_err(|r| join(&r.errors))?;
    Ok((config, router.table()))
}

fn join(d: &[smpp_router::config::Diagnostic]) -> String {
    d.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// What a message would do, without sending anything.
pub fn explain(
    config_path: &Path,
    account: &str,
    to: &str,
    from: Option<&str>,
    text: Option<&str>,
) -> Result<String, String> {
    let (config, table) = load(config_path)?;
    if table.accounts.get(account).is_none() {
        return Err(format!(
            "no account `{account}` in {}",
            config.routes.display()
        ));
    }
    let from = from.unwrap_or("");
    let sm = Sm {
        source: Address::new(
            if from.bytes().all(|b| b.is_ascii_digit()) {
                ton::INTERNATIONAL
            } else {
                ton::ALPHANUMERIC
            },
            0,
            from,
        ),
        dest: Address::new(ton::INTERNATIONAL, 1, to),
        short_message: text.unwrap_or("").as_bytes().to_vec().into(),
        ..Sm::default()
    };
    let destination = smpp_router::phone::validate(to.as_bytes())
        .map_err(|e| format!("{to}: {e} — the client would get ESME_RINVDSTADR"))?;
    let input = RouteInput::new(account, &sm, destination);
    let Some(route) = table.route(&input) else {
        let mut out = format!(
            "destination {to} ({}, +{}) from account {account}: no route matches — the client gets ESME_RINVDSTADR\n",
            destination.region_str(),
            destination.country_code
        );
        for r in &table.routes {
            let why = smpp_router::routing::table::mismatch(&r.spec, &input).unwrap_or("?");
            let _ = writeln!(
                out,
                "    {} (line {}): `{why}` does not match",
                r.spec.name, r.spec.line
            );
        }
        return Ok(out);
    };
    let s = &route.spec;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "destination {to}: {} (+{})",
        destination.region_str(),
        destination.country_code
    );
    let _ = writeln!(
        out,
        "route: {} (routes.toml line {}), the first in file order that matches:",
        s.name, s.line
    );
    let crit = |name: &str, v: String| {
        if v.is_empty() {
            String::new()
        } else {
            format!("    {name}: {v}\n")
        }
    };
    out += &crit("accounts", s.accounts.join(", "));
    out += &crit("prefixes", s.prefixes.join(", "));
    out += &crit(
        "countries",
        s.regions
            .iter()
            .map(|r| String::from_utf8_lossy(r).into_owned())
            .chain(s.calling_codes.iter().map(|c| format!("+{c}")))
            .collect::<Vec<_>>()
            .join(", "),
    );
    out += &crit(
        "source",
        s.source
            .as_ref()
            .map(|r| r.as_str().to_string())
            .unwrap_or_default(),
    );
    out += &crit(
        "content",
        s.content
            .as_ref()
            .map(|r| r.as_str().to_string())
            .unwrap_or_default(),
    );
    if s.accounts.is_empty()
        && s.prefixes.is_empty()
        && s.regions.is_empty()
        && s.calling_codes.is_empty()
        && s.source.is_none()
        && s.content.is_none()
    {
        out += "    (no criteria: a default route)\n";
    }
    let _ = writeln!(out, "channel plan: {}", s.channels.join(" -> "));
    let _ = writeln!(out, "deadline: {}", humantime::format_duration(s.deadline));
    let _ = writeln!(out, "policy: {}", describe_policy(&s.policy));
    Ok(out)
}

fn describe_policy(p: &smpp_router::routing::Policy) -> String {
    let mut parts = vec![
        "defaults: 0x45 next; 0x58, 0x08, 0x14 retry 2 100ms then next; other errors stop"
            .to_string(),
    ];
    for (status, action) in &p.overrides {
        parts.push(format!("{status}: {action}"));
    }
    parts.push(format!("not sent: {}", p.not_sent));
    parts.push(format!(
        "unknown outcome: {}",
        if p.next_after_unknown {
            "next channel"
        } else {
            "stop (no resend)"
        }
    ));
    parts.push(format!("final status: {}", p.final_status));
    parts.join("; ")
}
