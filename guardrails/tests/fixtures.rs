//! Every rule, shown to fail and to pass on small fake workspaces.
//!
//! Each `tests/fixtures/<rule-id>/<case>/` holds a `fixture.toml` (crates, dependencies, the
//! external graph), the crates' files, and for `fail*` cases an `expected.txt` with the exact
//! diagnostic lines (`path:line:col: error[rule-id]: message`, paths relative to the case). Only
//! the case's rule runs (parse errors always do). `pass*` cases must report nothing. Set
//! `GUARDRAILS_BLESS=1` to rewrite the `expected.txt` files from the current output, then review
//! the diff.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::fs;
use std::path::{Path, PathBuf};

use guardrails::rules::{self, RULES};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Every `(rule, case directory)`, sorted.
fn cases() -> Vec<(String, PathBuf)> {
    let mut cases = Vec::new();
    for rule in fs::read_dir(fixtures()).unwrap() {
        let rule = rule.unwrap().path();
        let id = rule.file_name().unwrap().to_string_lossy().into_owned();
        for case in fs::read_dir(&rule).unwrap() {
            cases.push((id.clone(), case.unwrap().path()));
        }
    }
    cases.sort();
    cases
}

fn is_failing(case: &Path) -> bool {
    case.file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("fail")
}

fn run(rule_id: &str, case: &Path) -> Vec<String> {
    let rule = rules::find(rule_id).unwrap_or_else(|| panic!("{} is no rule id", case.display()));
    let workspace = guardrails::fixture::load(case).unwrap();
    guardrails::check(&workspace, &[rule])
        .iter()
        .map(guardrails::Diagnostic::headline)
        .collect()
}

fn expected(case: &Path) -> Vec<String> {
    fs::read_to_string(case.join("expected.txt"))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_rule_has_a_failing_and_a_passing_fixture() {
    let cases = cases();
    for rule in RULES {
        let of_rule: Vec<&PathBuf> = cases
            .iter()
            .filter(|(id, _)| id == rule.id)
            .map(|(_, case)| case)
            .collect();
        assert!(
            of_rule
                .iter()
                .any(|c| is_failing(c) && !expected(c).is_empty()),
            "{} has no failing fixture with expected diagnostics",
            rule.id
        );
        assert!(
            of_rule.iter().any(|c| !is_failing(c)),
            "{} has no passing fixture",
            rule.id
        );
    }
    for (id, case) in &cases {
        let name = case.file_name().unwrap().to_string_lossy();
        assert!(
            rules::find(id).is_some(),
            "fixture directory {id} is no rule id"
        );
        assert!(
            name.starts_with("fail") || name.starts_with("pass"),
            "{}",
            case.display()
        );
    }
}

#[test]
fn fixtures_report_exactly_the_expected_diagnostics() {
    let bless = std::env::var_os("GUARDRAILS_BLESS").is_some();
    let mut mismatches = Vec::new();
    for (id, case) in cases() {
        let actual = run(&id, &case);
        if bless && is_failing(&case) {
            fs::write(case.join("expected.txt"), actual.join("\n") + "\n").unwrap();
            continue;
        }
        let expected = if is_failing(&case) {
            expected(&case)
        } else {
            Vec::new()
        };
        for line in &actual {
            assert!(line.contains(&format!(": error[{id}]: ")), "{line}");
        }
        if actual != expected {
            mismatches.push(format!(
                "{}:\n  expected:\n    {}\n  actual:\n    {}",
                case.display(),
                expected.join("\n    "),
                actual.join("\n    ")
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n\n"));
}

#[test]
fn a_diagnostic_prints_its_place_rule_message_and_help() {
    let case = fixtures().join("module-doc/fail");
    let workspace = guardrails::fixture::load(&case).unwrap();
    let diagnostics = guardrails::check(&workspace, &[&rules::MODULE_DOC]);
    let text = diagnostics[0].to_string();
    let (headline, help) = text.split_once('\n').unwrap();
    assert_eq!(headline, diagnostics[0].headline());
    assert!(headline.starts_with("app-ops/src/"), "{headline}");
    assert!(headline.contains(":1:1: error[module-doc]: "), "{headline}");
    assert_eq!(help, format!("  = help: {}", rules::MODULE_DOC.help));
}

#[test]
fn diagnostics_are_sorted_by_path_line_column_and_rule() {
    let case = fixtures().join("no-stored-state/fail");
    let workspace = guardrails::fixture::load(&case).unwrap();
    let diagnostics = guardrails::check(&workspace, &[]);
    let keys: Vec<(String, usize, usize, &str)> = diagnostics
        .iter()
        .map(|d| (d.path().to_owned(), d.line(), d.column(), d.rule().id))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert!(keys.len() > 5);
}

#[test]
fn a_file_that_does_not_parse_is_reported_whatever_rules_are_selected() {
    let case = fixtures().join("parse-error/fail");
    let workspace = guardrails::fixture::load(&case).unwrap();
    let diagnostics = guardrails::check(&workspace, &[&rules::NO_FLOAT_MONEY]);
    assert!(!diagnostics.is_empty());
    assert!(diagnostics.iter().all(|d| d.rule().id == "parse-error"));
}
