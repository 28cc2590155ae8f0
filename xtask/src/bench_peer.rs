//! `cargo xtask bench-peer`: npp beside the peer a Rust team would build on instead (cqrs-es 0.5
//! on its MemStore and on postgres-es 0.5, `../shared/bench/peer-cqrs`), on the same store, the
//! same payments and the same concurrency, one after the other in one run; prints a Markdown table
//! with the ratio of payments per second, for docs/PERFORMANCE.md.
//!
//! Both sides are built in release first (the peer in its own target directory under `target/`),
//! so the runs measure the binaries, not the compiler.

// Figures and ratios for people to read, never money.
#![allow(clippy::float_arithmetic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::ci::Outcome;
use crate::run;

/// The usage line of `cargo xtask bench-peer`.
pub const USAGE: &str = "usage: cargo xtask bench-peer [--memory-payments N] \
                         [--postgres-payments N] [--database-url URL] [--peer DIR] [--skip-postgres]";

/// The peer's directory, relative to the workspace root, unless `--peer` names another.
const DEFAULT_PEER: &str = "../shared/bench/peer-cqrs";
/// The PostgreSQL both sides use, unless `--database-url` names another.
const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// The concurrencies compared on each store: the peer's README runs these.
const MEMORY_CONCURRENCY: [u64; 3] = [1, 8, 64];
const POSTGRES_CONCURRENCY: [u64; 2] = [8, 64];

/// What `cargo xtask bench-peer` was asked to do.
#[derive(Debug, PartialEq, Eq)]
pub struct Args {
    pub memory_payments: u64,
    pub postgres_payments: u64,
    pub database_url: String,
    pub peer: PathBuf,
    pub postgres: bool,
}

/// Parses the flags; the error is a usage message.
pub fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut parsed = Args {
        memory_payments: 200_000,
        postgres_payments: 20_000,
        database_url: DEFAULT_URL.to_owned(),
        peer: run::root().join(DEFAULT_PEER),
        postgres: true,
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        if flag == "--skip-postgres" {
            parsed.postgres = false;
            continue;
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let count = || {
            value
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=10_000_000).contains(n))
                .ok_or_else(|| format!("{flag} {value:?}: a number of payments, 1 to 10000000"))
        };
        match flag.as_str() {
            "--memory-payments" => parsed.memory_payments = count()?,
            "--postgres-payments" => parsed.postgres_payments = count()?,
            "--database-url" => value.clone_into(&mut parsed.database_url),
            "--peer" => parsed.peer = PathBuf::from(value),
            _ => return Err(format!("unknown flag {flag:?}")),
        }
    }
    Ok(parsed)
}

/// One row of the table.
struct Row {
    store: &'static str,
    concurrency: String,
    payments: u64,
    npp: f64,
    peer: f64,
}

pub fn run(args: &Args) -> Result<Outcome> {
    let manifest = args.peer.join("Cargo.toml");
    if !manifest.is_file() {
        bail!(
            "the peer is not at {} (pass --peer DIR)",
            args.peer.display()
        );
    }
    run::cargo(&["build", "--release", "-p", "npp"])?;
    let peer_target = run::target_dir().join("peer-cqrs");
    let mut build = run::cargo_command();
    build
        .args(["build", "--release", "--manifest-path"])
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", &peer_target);
    run::status(build)?;
    let npp = run::target_dir().join("release/npp");
    let peer = peer_target.join("release/peer-cqrs");
    let mut rows = Vec::new();
    for concurrency in MEMORY_CONCURRENCY {
        let c = concurrency.to_string();
        let flags = ["--store", "memory", "--concurrency", &c];
        rows.push(Row {
            store: "memory",
            concurrency: c.clone(),
            payments: args.memory_payments,
            npp: npp_run(&npp, &flags, args.memory_payments, None)?,
            peer: peer_run(&peer, &flags, args.memory_payments, None)?,
        });
    }
    // npp's defaults against the peer at its best of the concurrencies above.
    let best = rows.iter().map(|r| r.peer).fold(0.0, f64::max);
    rows.push(Row {
        store: "memory",
        concurrency: "npp default vs peer's best".to_owned(),
        payments: args.memory_payments,
        npp: npp_run(&npp, &["--store", "memory"], args.memory_payments, None)?,
        peer: best,
    });
    if args.postgres {
        let url = Some(args.database_url.as_str());
        for concurrency in POSTGRES_CONCURRENCY {
            let c = concurrency.to_string();
            let flags = ["--store", "postgres", "--concurrency", &c];
            rows.push(Row {
                store: "postgres",
                concurrency: c.clone(),
                payments: args.postgres_payments,
                npp: npp_run(&npp, &flags, args.postgres_payments, url)?,
                peer: peer_run(&peer, &flags, args.postgres_payments, url)?,
            });
        }
    }
    print_table(&rows);
    Ok(Outcome::Passed)
}

fn npp_run(binary: &Path, flags: &[&str], payments: u64, url: Option<&str>) -> Result<f64> {
    let mut command = Command::new(binary);
    command
        .arg("loadtest")
        .args(flags)
        .args(["--payments", &payments.to_string(), "--json"]);
    if let Some(url) = url {
        command.args(["--database-url", url]);
    }
    measured(command)
}

fn peer_run(binary: &Path, flags: &[&str], payments: u64, url: Option<&str>) -> Result<f64> {
    let mut command = Command::new(binary);
    command
        .args(flags)
        .args(["--payments", &payments.to_string(), "--json"]);
    if let Some(url) = url {
        command.env("PEER_DATABASE_URL", url);
    }
    measured(command)
}

/// Runs one side and reads `payments_per_sec` from the JSON object it prints.
fn measured(command: Command) -> Result<f64> {
    let shown = format!("{command:?}");
    eprintln!("bench-peer: {shown}");
    let output = run::output(command)?;
    if !output.status.success() {
        bail!(
            "{shown} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)
        .with_context(|| format!("{shown} printed no JSON object"))?;
    report
        .get("payments_per_sec")
        .and_then(serde_json::Value::as_f64)
        .with_context(|| format!("{shown} printed no payments_per_sec: {report}"))
}

fn print_table(rows: &[Row]) {
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    println!("{cores} cores; `cargo xtask bench-peer`; payments per second, higher is better\n");
    println!("| store | concurrency | payments | npp | peer (cqrs-es 0.5) | ratio |");
    println!("|---|---|---|---|---|---|");
    for row in rows {
        let ratio = if row.peer > 0.0 {
            row.npp / row.peer
        } else {
            0.0
        };
        println!(
            "| {} | {} | {} | {:.0} | {:.0} | {ratio:.2}x |",
            row.store, row.concurrency, row.payments, row.npp, row.peer
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn flags_are_read_and_bad_ones_named() {
        let args = parse_args(&strings(&["--memory-payments", "500", "--skip-postgres"])).unwrap();
        assert_eq!(args.memory_payments, 500);
        assert!(!args.postgres);
        let e = parse_args(&strings(&["--postgres-payments", "0"])).unwrap_err();
        assert!(e.contains("--postgres-payments"), "{e}");
        let e = parse_args(&strings(&["--peer"])).unwrap_err();
        assert!(e.contains("needs a value"), "{e}");
        let e = parse_args(&strings(&["--fast"])).unwrap_err();
        assert!(e.contains("--fast"), "{e}");
    }
}
