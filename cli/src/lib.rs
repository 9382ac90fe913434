//! The `smpp-router` command line: `run` (the default), `check`, `explain`, `trace`,
//! `hash-password`, and
//! the tools `load` and `sim` (from `smpp-router-tools`). The binary's `main` is this crate's
//! [`main`], so tests can build the same command line into their own binary target.

mod inspect;
mod run;
mod trace;

pub use inspect::{check, explain};

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// What `--version` says: the release, the commit it was built from, and the plugin ABI it
/// loads (a plugin's major must be the same, its minor at most this one).
pub fn version_text() -> String {
    use smpp_router_plugin_api::abi;
    format!(
        "{} (commit {}, plugin ABI {}.{})",
        env!("CARGO_PKG_VERSION"),
        env!("SMPP_ROUTER_COMMIT"),
        abi::ABI_MAJOR,
        abi::ABI_MINOR
    )
}

/// An edge SMPP router for SMS aggregators: iMessage OTP first, SMS carriers on failover.
#[derive(Parser)]
#[command(name = "smpp-router")]
struct Cli {
    /// The static configuration file.
    #[arg(long, short, global = true, default_value = "router.toml")]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the router (the default).
    Run,
    /// Validate router.toml and routes.toml: every error as file:line:column, or a summary.
    Check,
    /// Show which route and channel plan a message would get, without sending anything.
    Explain {
        /// The sending account's system_id.
        #[arg(long)]
        account: String,
        /// The destination number, international digits.
        #[arg(long)]
        to: String,
        /// The sender (alphanumeric or digits).
        #[arg(long)]
        from: Option<String>,
        /// The message text.
        #[arg(long)]
        text: Option<String>,
    },
    /// Where did a message go: asks the running router (its admin interface) for the route,
    /// the attempts, the carrier's id, the receipts and how they reached the client.
    Trace {
        /// The router's message id (as the client got it in submit_sm_resp).
        router_id: Option<String>,
        /// Look up by the carrier's id instead: the channel's name.
        #[arg(long, requires = "carrier_id")]
        channel: Option<String>,
        /// Look up by the carrier's id instead: the id.
        #[arg(long, requires = "channel")]
        carrier_id: Option<String>,
        /// Show the destination unmasked (the admin interface must have a token).
        #[arg(long)]
        full_numbers: bool,
        /// The admin interface, host:port (default: admin.listen in router.toml).
        #[arg(long)]
        admin: Option<String>,
        /// Print the admin interface's JSON.
        #[arg(long)]
        json: bool,
    },
    /// A fast windowed SMPP client: the benchmark driver and an operator's smoke test.
    Load(smpp_router_tools::load::LoadArgs),
    /// Run a stand-in for local work and tests.
    #[command(subcommand)]
    Sim(Sim),
    /// Print an argon2 hash of a password for `password_hash` in routes.toml (reads the
    /// password from standard input when not given).
    HashPassword {
        /// The password; prefer standard input so it stays out of the shell history.
        password: Option<String>,
    },
}

/// Parses the command line and runs the command.
pub fn main() -> ExitCode {
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let cli = match Cli::command()
        .version(VERSION.get_or_init(version_text).as_str())
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m))
    {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let result = match cli.command.unwrap_or(Command::Run) {
        Command::Run => runtime().and_then(|rt| rt.block_on(crate::run::run(&cli.config))),
        Command::HashPassword { password } => hash_password(password),
        Command::Load(args) => runtime().and_then(|rt| {
            rt.block_on(async {
                let report = smpp_router_tools::load::run(args).await?;
                println!("{report}");
                Ok(())
            })
        }),
        Command::Sim(Sim::Otpblue(args)) => runtime().and_then(|rt| rt.block_on(args.run())),
        Command::Sim(Sim::Carrier(args)) => runtime().and_then(|rt| rt.block_on(args.run())),
        Command::Check => {
            let checked = inspect::check(&cli.config);
            remove_check_copies();
            match checked {
                Ok(summary) => {
                    print!("{summary}");
                    Ok(())
                }
                Err(errors) => {
                    eprintln!("{errors}");
                    return ExitCode::FAILURE;
                }
            }
        }
        Command::Trace {
            router_id,
            channel,
            carrier_id,
            full_numbers,
            admin,
            json,
        } => trace::trace(
            &cli.config,
            &trace::TraceArgs {
                router_id: router_id.as_deref(),
                carrier: channel.as_deref().zip(carrier_id.as_deref()),
                full_numbers,
                admin: admin.as_deref(),
                json,
            },
        )
        .map(|s| print!("{s}")),
        Command::Explain {
            account,
            to,
            from,
            text,
        } => {
            let explained =
                inspect::explain(&cli.config, &account, &to, from.as_deref(), text.as_deref());
            remove_check_copies();
            explained.map(|s| print!("{s}")).map_err(anyhow::Error::msg)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("smpp-router: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `check` and `explain` leave no copy of a plugin library behind.
fn remove_check_copies() {
    smpp_router::channels::plugin::remove_check_copies();
}

/// The stand-ins.
#[derive(Subcommand)]
enum Sim {
    /// The OTP Blue HTTP API behind the iMessage channel.
    Otpblue(smpp_router_tools::sim::otpblue::OtpBlueArgs),
    /// An SMS carrier SMSC (tyntec-style) behind the SMPP carrier channel.
    Carrier(smpp_router_tools::sim::carrier::CarrierArgs),
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn hash_password(password: Option<String>) -> anyhow::Result<()> {
    let password = match password {
        Some(p) => p,
        None => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    anyhow::ensure!(!password.is_empty(), "the password is empty");
    anyhow::ensure!(
        password.len() <= 8,
        "SMPP passwords are at most 8 characters (the bind PDU has room for no more)"
    );
    let hash = smpp_router::server::auth::hash_password(&password)
        .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))?;
    println!("{hash}");
    Ok(())
}
