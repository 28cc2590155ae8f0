//! `cargo xtask`: the project's automation. `cargo xtask ci` runs every check and prints a table.

use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, Result, bail};

const USAGE: &str = "usage: cargo xtask <ci|fmt|clippy|test|docs>

  ci      run every check below and print a summary table
  fmt     cargo fmt --check
  clippy  cargo clippy --workspace --all-targets -- -D warnings
  test    the test suite (cargo nextest, or cargo test when nextest is missing) and doc tests
  docs    rustdoc with warnings denied";

/// One named check and how to run it.
struct Check {
    name: &'static str,
    run: fn() -> Result<()>,
}

const CHECKS: &[Check] = &[
    Check {
        name: "fmt",
        run: fmt,
    },
    Check {
        name: "clippy",
        run: clippy,
    },
    Check {
        name: "test",
        run: test,
    },
    Check {
        name: "docs",
        run: docs,
    },
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(task) = args.first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    if task == "ci" {
        return ci();
    }
    match CHECKS.iter().find(|c| c.name == task) {
        Some(check) => match (check.run)() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("xtask {}: {e:#}", check.name);
                ExitCode::FAILURE
            }
        },
        None => {
            eprintln!("unknown task {task:?}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// Runs every check, even after one fails, so one run shows everything that is wrong.
fn ci() -> ExitCode {
    let mut rows = Vec::new();
    for check in CHECKS {
        eprintln!("==> xtask {}", check.name);
        let started = Instant::now();
        let result = (check.run)();
        let seconds = started.elapsed().as_secs_f64();
        if let Err(e) = &result {
            eprintln!("xtask {}: {e:#}", check.name);
        }
        rows.push((check.name, result.is_ok(), seconds));
    }
    println!("\n{:<12} {:<6} {:>9}", "check", "result", "seconds");
    for (name, ok, seconds) in &rows {
        println!(
            "{name:<12} {:<6} {seconds:>9.1}",
            if *ok { "ok" } else { "FAILED" }
        );
    }
    let total: f64 = rows.iter().map(|(_, _, s)| s).sum();
    println!("{:<12} {:<6} {total:>9.1}", "total", "");
    if rows.iter().all(|(_, ok, _)| *ok) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn cargo(args: &[&str]) -> Result<()> {
    let status = Command::new(env!("CARGO"))
        .args(args)
        .status()
        .with_context(|| format!("cannot run cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(())
}

fn fmt() -> Result<()> {
    cargo(&["fmt", "--all", "--check"])
}

fn clippy() -> Result<()> {
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ])
}

fn has_nextest() -> bool {
    Command::new(env!("CARGO"))
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn test() -> Result<()> {
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
    cargo(&["test", "--workspace", "--locked", "--doc"])
}

fn docs() -> Result<()> {
    let status = Command::new(env!("CARGO"))
        .args(["doc", "--workspace", "--no-deps", "--locked"])
        .env("RUSTDOCFLAGS", "-D warnings")
        .status()
        .context("cannot run cargo doc")?;
    if !status.success() {
        bail!("cargo doc failed ({status})");
    }
    Ok(())
}
