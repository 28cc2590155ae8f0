//! Checks that need a tool besides cargo: cargo-deny (licences, bans, sources, advisories) and
//! check-jsonschema (the GitHub workflow). Each tool is installed when missing, so `cargo xtask
//! ci` needs nothing but cargo and Python's pip.

use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::ci::Outcome;
use crate::guard::SEED_RULES;
use crate::{categories, run};

/// The workflow that runs these checks in GitHub Actions, relative to the workspace root.
pub const WORKFLOW: &str = ".github/workflows/npp-guardrails.yml";

fn ensure_cargo_deny() -> Result<()> {
    let installed = run::cargo_command()
        .args(["deny", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if installed {
        return Ok(());
    }
    eprintln!(
        "cargo-deny not found; installing it with `cargo install cargo-deny --locked` \
         (compiling it can take several minutes)"
    );
    run::cargo(&["install", "cargo-deny", "--locked"]).context("cannot install cargo-deny")
}

/// The browser the console's tests drive: Debian's Chromium and ChromeDriver.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// The driver the console's tests start.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Installs Debian's `chromium` and `chromium-driver` when either is missing (as root, with
/// apt-get), for the console's browser tests. A failed install is reported, not fatal here: the
/// browser test then fails under `CI`, naming what is missing.
pub fn ensure_chromium() {
    let present = |path: &str| std::path::Path::new(path).exists();
    if present(CHROMIUM) && present(CHROMEDRIVER) {
        return;
    }
    eprintln!(
        "chromium or chromedriver not found; installing Debian's chromium and chromium-driver"
    );
    let mut update = Command::new("apt-get");
    update.args(["update", "-qq"]);
    let mut install = Command::new("apt-get");
    install
        .args(["install", "-y", "-qq", "chromium", "chromium-driver"])
        .env("DEBIAN_FRONTEND", "noninteractive");
    let installed = run::status(update).and_then(|()| run::status(install));
    if let Err(e) = installed {
        eprintln!("could not install chromium: {e:#}; the console's browser test will say so");
    }
}

/// Licences, bans and sources: everything cargo-deny can check without the network.
pub fn deny() -> Result<Outcome> {
    ensure_cargo_deny()?;
    run::cargo(&["deny", "--offline", "check", "licenses", "bans", "sources"])?;
    Ok(Outcome::Passed)
}

/// Security advisories: needs the RustSec database, so it runs where there is network (CI).
pub fn advisories() -> Result<Outcome> {
    ensure_cargo_deny()?;
    run::cargo(&["deny", "check", "advisories"])?;
    Ok(Outcome::Passed)
}

fn ensure_check_jsonschema() -> Result<()> {
    if run::has_program("check-jsonschema", &["--version"]) {
        return Ok(());
    }
    eprintln!(
        "check-jsonschema not found; installing it with `python3 -m pip install check-jsonschema`"
    );
    let mut pip = Command::new("python3");
    pip.args(["-m", "pip", "install", "--quiet", "check-jsonschema"]);
    run::status(pip).context("cannot install check-jsonschema (is python3 with pip installed?)")?;
    if !run::has_program("check-jsonschema", &["--version"]) {
        bail!("check-jsonschema was installed but is not on PATH");
    }
    Ok(())
}

/// The `cargo xtask` commands the workflow must run, one job each: the general checks, every test
/// category and every seed rule, so a check added here cannot be forgotten in CI.
fn required_commands() -> Vec<String> {
    let general = [
        "fmt",
        "clippy",
        "test",
        "docs",
        "deny",
        "advisories",
        "workflow",
        "api",
        "fuzz --seconds 15",
    ];
    let mut commands: Vec<String> = general.iter().map(|c| format!("cargo xtask {c}")).collect();
    commands.extend(
        categories::names()
            .iter()
            .map(|c| format!("cargo xtask tests {c}")),
    );
    commands.extend(
        SEED_RULES
            .iter()
            .map(|r| format!("cargo xtask guardrails {}", r.id)),
    );
    commands
}

/// The GitHub workflow against the schema GitHub publishes (vendored in check-jsonschema, so no
/// network is needed), and against the list of checks it must run.
pub fn workflow() -> Result<Outcome> {
    let path = run::root().join(WORKFLOW);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let runs: Vec<&str> = text
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("- run:")
                .or_else(|| l.trim().strip_prefix("run:"))
        })
        .map(str::trim)
        .collect();
    let missing: Vec<String> = required_commands()
        .into_iter()
        .filter(|c| !runs.contains(&c.as_str()))
        .collect();
    if !missing.is_empty() {
        bail!("{WORKFLOW} runs no job for: {}", missing.join(", "));
    }
    ensure_check_jsonschema()?;
    let mut check = Command::new("check-jsonschema");
    check
        .current_dir(run::root())
        .args(["--builtin-schema", "vendor.github-workflows", WORKFLOW]);
    run::status(check)?;
    Ok(Outcome::Passed)
}
