//! `smpp-router check` and `explain` on good and bad files, through the real binary.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use smpp_router_e2e::{account, plugin_library, scratch_dir};

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_smpp-router-under-test")
}

fn setup(routes: &str) -> std::path::PathBuf {
    let dir = scratch_dir("check");
    std::fs::write(dir.join("router.toml"), "routes = \"routes.toml\"\n").unwrap();
    std::fs::write(dir.join("routes.toml"), routes).unwrap();
    dir.join("router.toml")
}

fn run(config: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(binary())
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const GOOD_CHANNELS: &str = "[[channel]]\nname = \"imessage\"\nkind = \"test\"\noutcomes = [\"0x45\"]\n\n[[channel]]\nname = \"sms\"\nkind = \"test\"\n\n[[route]]\nname = \"uk-otp\"\nprefixes = [\"44\"]\ncontent = \"(?i)code\"\nchannels = [\"imessage\", \"sms\"]\n\n[[route]]\nname = \"fallback\"\nchannels = [\"sms\"]\n";

/// `check` and `explain` copy a plugin library to load it, and leave no copy behind.
#[test]
fn check_and_explain_leave_no_plugin_copy_behind() {
    let routes = format!(
        "{}[[channel]]\nname = \"sim\"\nkind = \"plugin\"\npath = \"{}\"\n\n[[route]]\nname = \"all\"\nchannels = [\"sim\"]\n",
        account("acme", "pw", ""),
        plugin_library("smpp-router-plugin-simulated").display()
    );
    let config = setup(&routes);
    for args in [
        &["check"][..],
        &["explain", "--account", "acme", "--to", "447400123456"][..],
    ] {
        let child = Command::new(binary())
            .arg("--config")
            .arg(&config)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let copies = std::env::temp_dir().join(format!("smpp-router-plugins-{}", child.id()));
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!copies.exists(), "{args:?} left {}", copies.display());
    }
}

#[test]
fn check_summarises_a_good_file() {
    let config = setup(&format!("{}{GOOD_CHANNELS}", account("acme", "pw", "")));
    let (ok, out, err) = run(&config, &["check"]);
    assert!(ok, "{err}");
    assert!(out.contains("accounts (1): acme"), "{out}");
    assert!(out.contains("channels (2): imessage, sms"), "{out}");
    assert!(
        out.contains("uk-otp") && out.contains("imessage -> sms"),
        "{out}"
    );
}

#[test]
fn check_lists_every_error_with_its_line_and_fails() {
    let bad = format!(
        "{}[[channel]]\nname = \"sms\"\nkind = \"test\"\noutcomes = [\"perhaps\"]\n\n[[route]]\nname = \"r\"\nchannels = [\"sms\", \"ghost\"]\nsource = \"[\"\n\n[[route]]\nname = \"r\"\nchannels = [\"sms\"]\nwhatever = 1\n",
        account("acme", "pw", "tps = \"fast\"")
    );
    let config = setup(&bad);
    let (ok, _out, err) = run(&config, &["check"]);
    assert!(!ok);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 5, "{err}");
    for l in &lines {
        let mut parts = l.splitn(4, ':');
        assert!(parts.next().unwrap().ends_with("routes.toml"), "{l}");
        assert!(parts.next().unwrap().parse::<usize>().unwrap() > 0, "{l}");
        assert!(parts.next().unwrap().parse::<usize>().is_ok(), "{l}");
    }
    assert!(err.contains(":4:") && err.contains("tps"), "{err}");
    assert!(
        err.contains("perhaps")
            && err.contains("ghost")
            && err.contains("regex")
            && err.contains("whatever"),
        "{err}"
    );
}

#[test]
fn explain_shows_the_route_and_plan() {
    let config = setup(&format!("{}{GOOD_CHANNELS}", account("acme", "pw", "")));
    let (ok, out, err) = run(
        &config,
        &[
            "explain",
            "--account",
            "acme",
            "--to",
            "447911123456",
            "--text",
            "Your code is 1234",
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains("route: uk-otp"), "{out}");
    assert!(out.contains("channel plan: imessage -> sms"), "{out}");
    let (_, out, _) = run(
        &config,
        &[
            "explain",
            "--account",
            "acme",
            "--to",
            "447911123456",
            "--text",
            "hello",
        ],
    );
    assert!(out.contains("route: fallback"), "{out}");
    let (ok, _, err) = run(&config, &["explain", "--account", "acme", "--to", "123"]);
    assert!(!ok && err.contains("ESME_RINVDSTADR"), "{err}");
    // No route: each route says which of its criteria the message fails.
    let only_uk = setup(&format!(
        "{}{}",
        account("acme", "pw", ""),
        GOOD_CHANNELS.replace("[[route]]\nname = \"fallback\"\nchannels = [\"sms\"]\n", "")
    ));
    let (_, out, _) = run(
        &only_uk,
        &[
            "explain",
            "--account",
            "acme",
            "--to",
            "14155551234",
            "--text",
            "code 1234",
        ],
    );
    assert!(out.contains("no route matches"), "{out}");
    assert!(
        out.contains("uk-otp (line") && out.contains("`prefixes` does not match"),
        "{out}"
    );
}

#[test]
fn check_and_explain_work_on_the_repositorys_own_files_without_connecting() {
    // The repository's routes.toml has an imessage and an smpp channel; check reads them,
    // validates their settings and connects to nothing.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (ok, out, err) = run(&root.join("router.toml"), &["check"]);
    assert!(ok, "{err}");
    assert!(out.contains("carrier") && out.contains("imessage"), "{out}");
    let (ok, out, err) = run(
        &root.join("router.toml"),
        &[
            "explain",
            "--account",
            "demo",
            "--to",
            "14155551234",
            "--text",
            "Your code is 1234",
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains("imessage -> carrier"), "{out}");
}

#[test]
fn check_reports_bad_carrier_settings_with_their_line() {
    let routes = format!(
        "{}[[channel]]\nname = \"carrier\"\nkind = \"smpp\"\nhost = \"127.0.0.1\"\nport = 2775\nsystem_id = \"r\"\npassword = \"waytoolongpassword\"\n\n[[route]]\nname = \"r\"\nchannels = [\"carrier\"]\n",
        account("acme", "pw", "")
    );
    let (ok, _out, err) = run(&setup(&routes), &["check"]);
    assert!(!ok);
    assert!(
        err.contains("routes.toml:") && err.contains("password"),
        "{err}"
    );
}

#[test]
fn the_production_examples_pass_check() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let dir = scratch_dir("examples");
    std::fs::copy(root.join("router.production.toml"), dir.join("router.toml")).unwrap();
    std::fs::copy(root.join("routes.production.toml"), dir.join("routes.toml")).unwrap();
    let out = Command::new(binary())
        .args(["check", "--config"])
        .arg(dir.join("router.toml"))
        .env("SMPP_ROUTER_ADMIN_TOKEN", "t")
        .env("OTPBLUE_API_KEY", "k")
        .env("TYNTEC_PASSWORD", "p")
        .env("BACKUP_PASSWORD", "p")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("channels (3): backup-carrier, imessage, tyntec"),
        "{stdout}"
    );
}

#[test]
fn version_names_the_release_the_commit_and_the_plugin_abi() {
    let out = Command::new(binary()).arg("--version").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.trim();
    let rest = line
        .strip_prefix("smpp-router 0.1.0 (commit ")
        .unwrap_or_else(|| panic!("{line}"));
    let (commit, abi) = rest.split_once(", ").unwrap_or_else(|| panic!("{line}"));
    assert!(
        commit == "unknown"
            || (commit.len() == 12 && commit.bytes().all(|b| b.is_ascii_hexdigit())),
        "{line}"
    );
    assert_eq!(abi, "plugin ABI 1.1)", "{line}");
}
