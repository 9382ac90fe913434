//! Names the commit the binary is built from, for `smpp-router --version`: `SMPP_ROUTER_COMMIT`
//! from the environment when set (a package built from a source tarball), else `git rev-parse`
//! of the checkout, else `unknown`.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=SMPP_ROUTER_COMMIT");
    let from_git = || {
        let out = Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .output()
            .ok()
            .filter(|o| o.status.success())?;
        let text = String::from_utf8(out.stdout).ok()?;
        Some(text.trim().to_string()).filter(|s| !s.is_empty())
    };
    let commit = std::env::var("SMPP_ROUTER_COMMIT")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(from_git)
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=SMPP_ROUTER_COMMIT={commit}");
    // A new commit or another branch changes these: the name is taken again.
    for path in ["../.git/HEAD", "../.git/refs/heads", "../.git/packed-refs"] {
        if Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}
