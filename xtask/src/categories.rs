//! The four test categories of the seed's blocking checks, as data: each is one test binary of
//! one package. A category whose package or test binary does not exist yet is skipped with a
//! note; one whose binary exists but runs no test fails, so a category cannot pass by being
//! emptied.

use anyhow::{Context, Result, bail};

use crate::ci::Outcome;
use crate::run;

/// One category of tests.
pub struct Category {
    /// The short name (`cargo xtask tests <name>`).
    pub name: &'static str,
    /// The package whose test binary it is.
    pub package: &'static str,
    /// The test binary (`tests/<binary>.rs`).
    pub binary: &'static str,
}

impl Category {
    /// The row name in the ci table.
    pub fn check_name(&self) -> String {
        format!("{}-tests", self.name)
    }
}

/// The categories, in table order.
pub const CATEGORIES: &[Category] = &[
    Category {
        name: "invariants",
        package: "core-npp",
        binary: "invariants",
    },
    Category {
        name: "replay",
        package: "core-npp",
        binary: "replay",
    },
    Category {
        name: "ops",
        package: "app-ops",
        binary: "ops",
    },
    Category {
        name: "evidence",
        package: "exports",
        binary: "evidence",
    },
];

/// Every category name.
pub fn names() -> Vec<&'static str> {
    CATEGORIES.iter().map(|c| c.name).collect()
}

/// Runs the category called `name`.
pub fn run_named(name: &str) -> Result<Outcome> {
    let Some(category) = CATEGORIES.iter().find(|c| c.name == name) else {
        bail!(
            "unknown test category {name:?}; expected one of {}",
            names().join(", ")
        );
    };
    run(category)
}

/// Runs one category: skipped if its package or binary does not exist, failed if the binary
/// fails or runs zero tests.
pub fn run(category: &Category) -> Result<Outcome> {
    let workspace = guardrails::metadata::load(&run::root().join("Cargo.toml"))
        .context("cannot read the workspace")?;
    let Some(package) = workspace.crate_named(category.package) else {
        return Ok(Outcome::Skipped(format!(
            "package {} is not in the workspace yet",
            category.package
        )));
    };
    if !package.test_targets.iter().any(|t| t == category.binary) {
        return Ok(Outcome::Skipped(format!(
            "package {} has no {} tests yet (tests/{}.rs)",
            category.package, category.name, category.binary
        )));
    }
    let count = if run::has_nextest() {
        nextest(category)?
    } else {
        cargo_test(category)?
    };
    if count == 0 {
        bail!(
            "{} tests: test binary {} of {} runs no test",
            category.name,
            category.binary,
            category.package
        );
    }
    eprintln!("{} tests: {count} passed", category.name);
    Ok(Outcome::Passed)
}

fn nextest(category: &Category) -> Result<usize> {
    let mut command = run::cargo_command();
    command.args([
        "nextest",
        "run",
        "--locked",
        "--no-fail-fast",
        "--no-tests=pass",
        "-p",
        category.package,
        "--test",
        category.binary,
    ]);
    let output = run::output(command)?;
    let text = String::from_utf8_lossy(&output.stderr).into_owned()
        + &String::from_utf8_lossy(&output.stdout);
    eprint!("{text}");
    if !output.status.success() {
        bail!("{} tests failed ({})", category.name, output.status);
    }
    nextest_count(&text).context("cannot find the test count in nextest's summary")
}

/// The number of tests run, from nextest's `Summary [ 0.1s] 12 tests run: 12 passed` line.
fn nextest_count(text: &str) -> Option<usize> {
    let line = text
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with("Summary"))?;
    let after = line.split(']').nth(1)?;
    let mut words = after.split_whitespace();
    let count = words.next()?.parse().ok()?;
    matches!(words.next(), Some("test" | "tests")).then_some(count)
}

fn cargo_test(category: &Category) -> Result<usize> {
    let mut command = run::cargo_command();
    command.args([
        "test",
        "--locked",
        "-p",
        category.package,
        "--test",
        category.binary,
    ]);
    let output = run::output(command)?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    eprint!("{}{text}", String::from_utf8_lossy(&output.stderr));
    if !output.status.success() {
        bail!("{} tests failed ({})", category.name, output.status);
    }
    Ok(cargo_test_count(&text))
}

/// The number of tests that passed, from libtest's `test result: ok. 12 passed; ...` lines.
fn cargo_test_count(text: &str) -> usize {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("test result: ok. "))
        .filter_map(|rest| rest.split_whitespace().next()?.parse::<usize>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nextest_summaries_give_the_count() {
        let text = "   Starting 3 tests across 1 binary\n\
                    ────────────\n     Summary [   0.012s] 35 tests run: 35 passed, 0 skipped\n";
        assert_eq!(nextest_count(text), Some(35));
        let one = "     Summary [   0.002s] 1 test run: 1 passed, 0 skipped";
        assert_eq!(nextest_count(one), Some(1));
        let none = "     Summary [   0.000s] 0 tests run: 0 passed, 0 skipped";
        assert_eq!(nextest_count(none), Some(0));
        assert_eq!(nextest_count("no summary here"), None);
    }

    #[test]
    fn libtest_results_are_summed() {
        let text = "running 2 tests\ntest a ... ok\ntest b ... ok\n\n\
                    test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out\n";
        assert_eq!(cargo_test_count(text), 2);
        assert_eq!(cargo_test_count("test result: ok. 0 passed; 0 failed"), 0);
    }

    #[test]
    fn categories_name_distinct_rows() {
        let rows: std::collections::BTreeSet<String> =
            CATEGORIES.iter().map(Category::check_name).collect();
        assert_eq!(rows.len(), 4);
        assert_eq!(names(), ["invariants", "replay", "ops", "evidence"]);
    }
}
