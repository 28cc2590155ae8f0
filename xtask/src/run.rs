//! Running commands from the workspace root, and the plain cargo checks (fmt, clippy, the test
//! suite, docs).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, Result, bail};

use crate::ci::Outcome;

/// The workspace root: xtask lives one directory below it.
pub fn root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// Where cargo puts what it builds: `CARGO_TARGET_DIR` when set (relative to the workspace
/// root if relative), `target/` under the root otherwise.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root().join(dir),
        _ => root().join("target"),
    }
}

/// `cargo`, as the one that runs xtask (so the toolchain matches).
pub fn cargo_command() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(root());
    command
}

/// Runs a command with inherited output and fails unless it succeeds.
pub fn status(mut command: Command) -> Result<()> {
    let shown = show(&command);
    let status = command
        .status()
        .with_context(|| format!("cannot run {shown}"))?;
    if !status.success() {
        bail!("{shown} failed ({status})");
    }
    Ok(())
}

/// Runs a command, capturing its output, and fails only if it cannot start.
pub fn output(mut command: Command) -> Result<Output> {
    let shown = show(&command);
    command
        .output()
        .with_context(|| format!("cannot run {shown}"))
}

/// `cargo <args>` with inherited output.
pub fn cargo(args: &[&str]) -> Result<()> {
    let mut command = cargo_command();
    command.args(args);
    status(command)
}

fn show(command: &Command) -> String {
    // `cargo`, not the toolchain's full path, so the message fits in the summary table.
    let program = Path::new(command.get_program());
    let name = program.file_name().unwrap_or(program.as_os_str());
    let mut words = vec![name.to_string_lossy().into_owned()];
    words.extend(command.get_args().map(|a| a.to_string_lossy().into_owned()));
    format!("`{}`", words.join(" "))
}

/// Whether a program answers `--version` (so it is installed).
pub fn has_program(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether `cargo nextest` is available.
pub fn has_nextest() -> bool {
    cargo_command()
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

pub fn fmt() -> Result<Outcome> {
    cargo(&["fmt", "--all", "--check"])?;
    Ok(Outcome::Passed)
}

pub fn clippy() -> Result<Outcome> {
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ])?;
    Ok(Outcome::Passed)
}

pub fn test() -> Result<Outcome> {
    crate::tools::ensure_chromium();
    if has_nextest() {
        cargo(&[
            "nextest",
            "run",
            "--workspace",
            "--locked",
            "--no-fail-fast",
        ])?;
    } else {
        eprintln!("cargo-nextest not found; running cargo test instead");
        cargo(&[
            "test",
            "--workspace",
            "--locked",
            "--no-fail-fast",
            "--lib",
            "--bins",
            "--tests",
        ])?;
    }
    // nextest does not run doc tests; they are examples a reader copies, so they must work.
    cargo(&["test", "--workspace", "--locked", "--doc"])?;
    Ok(Outcome::Passed)
}

pub fn docs() -> Result<Outcome> {
    let mut command = cargo_command();
    command
        .args(["doc", "--workspace", "--no-deps", "--locked"])
        .env("RUSTDOCFLAGS", "-D warnings");
    status(command)?;
    Ok(Outcome::Passed)
}
