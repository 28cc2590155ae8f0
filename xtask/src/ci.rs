//! `cargo xtask ci`: every check, in one run, with one summary table. Every check runs even after
//! one fails, so a single run shows everything that is wrong.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;

use crate::{categories, guard, run, tools};

/// How a check ended, when it did not fail.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Outcome {
    /// It ran and passed.
    Passed,
    /// It could not apply yet (for example its package does not exist); the note says why.
    Skipped(String),
}

/// One line of the summary table.
struct Row {
    name: String,
    result: Result<Outcome>,
    seconds: f64,
}

/// A check of the table, run on its own.
struct Check {
    name: &'static str,
    run: fn() -> Result<Outcome>,
}

/// The checks that are one command each, in the order they run.
const CHECKS: &[Check] = &[
    Check {
        name: "fmt",
        run: run::fmt,
    },
    Check {
        name: "clippy",
        run: run::clippy,
    },
    Check {
        name: "test",
        run: run::test,
    },
    Check {
        name: "docs",
        run: run::docs,
    },
    Check {
        name: "deny",
        run: tools::deny,
    },
    Check {
        name: "workflow",
        run: tools::workflow,
    },
    Check {
        name: "api",
        run: crate::api::api,
    },
    Check {
        name: "fuzz-smoke",
        run: crate::fuzz::smoke,
    },
];

fn timed(name: impl Into<String>, check: impl FnOnce() -> Result<Outcome>) -> Row {
    let name = name.into();
    eprintln!("==> xtask {name}");
    let started = Instant::now();
    let result = check();
    let seconds = started.elapsed().as_secs_f64();
    if let Err(e) = &result {
        eprintln!("xtask {name}: {e:#}");
    }
    Row {
        name,
        result,
        seconds,
    }
}

/// Runs everything and prints the table; fails if any check failed.
pub fn ci() -> ExitCode {
    let started = Instant::now();
    let mut rows: Vec<Row> = CHECKS.iter().map(|c| timed(c.name, c.run)).collect();
    for category in categories::CATEGORIES {
        rows.push(timed(category.check_name(), || categories::run(category)));
    }
    eprintln!("==> xtask guardrails");
    for (name, result, seconds) in guard::rows() {
        rows.push(Row {
            name,
            result,
            seconds,
        });
    }
    print_table(&rows, started.elapsed().as_secs_f64());
    if rows.iter().all(|r| r.result.is_ok()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn print_table(rows: &[Row], wall: f64) {
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(5).max(5);
    println!(
        "\n{:<width$}  {:<8}  {:>7}  note",
        "check", "result", "seconds"
    );
    for row in rows {
        let (result, note) = match &row.result {
            Ok(Outcome::Passed) => ("ok", String::new()),
            Ok(Outcome::Skipped(note)) => ("skipped", note.clone()),
            Err(e) => ("FAILED", first_line(&format!("{e:#}"))),
        };
        println!(
            "{:<width$}  {result:<8}  {:>7.1}  {note}",
            row.name, row.seconds
        );
    }
    let failed = rows.iter().filter(|r| r.result.is_err()).count();
    let skipped = rows
        .iter()
        .filter(|r| matches!(r.result, Ok(Outcome::Skipped(_))))
        .count();
    println!(
        "{:<width$}  {:<8}  {wall:>7.1}  {} checks, {failed} failed, {skipped} skipped",
        "total",
        if failed == 0 { "ok" } else { "FAILED" },
        rows.len()
    );
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_owned()
}
