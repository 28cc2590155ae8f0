//! `npp becs validate`: exit 0 for a valid ABA file, 1 listing every error as
//! FILE:LINE:COLUMN: error[aba/FIELD], 2 for a file that cannot be read; `--json` and
//! `--strict` as documented.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/payroll.aba")
}

fn validate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_npp"))
        .args(["becs", "validate"])
        .args(args)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn a_valid_file_passes_with_its_totals() {
    let path = example();
    let output = validate(&[path.to_str().unwrap(), "--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["valid"], true);
    assert_eq!(report["count"], 3);
    assert_eq!(report["credit_total_cents"], 439_125);
    assert_eq!(report["debit_total_cents"], 439_125);
    assert_eq!(report["net_total_cents"], 0);
    assert_eq!(report["errors"], Value::Array(vec![]));
    let records = report["records"].as_array().unwrap();
    assert_eq!(records.len(), 5);
    assert_eq!(records[0]["processing_date"], "2026-12-01");
    assert_eq!(records[1]["bsb"], "062-000");
    assert_eq!(records[1]["amount_cents"], 250_075);
    assert_eq!(records[1]["lodgement_reference"], "PAY 2026-12-01");
    assert_eq!(records[4]["type"], "7");
    let plain = validate(&[path.to_str().unwrap()]);
    assert_eq!(plain.status.code(), Some(0));
    assert!(stdout(&plain).contains("valid: 3 items, credits 439125 cents"));
}

#[test]
fn every_error_is_listed_with_file_line_column_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(example()).unwrap();
    let mut lines: Vec<String> = text.split("\r\n").map(str::to_owned).collect();
    lines[1].replace_range(1..8, "062000 ");
    lines[2].replace_range(18..20, "77");
    let broken = dir.path().join("broken.aba");
    std::fs::write(&broken, lines.join("\r\n")).unwrap();
    let output = validate(&[broken.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    let at = |line: usize, column: usize, field: &str| {
        format!("{}:{line}:{column}: error[aba/{field}]", broken.display())
    };
    assert!(text.contains(&at(2, 2, "bsb")), "{text}");
    assert!(text.contains(&at(3, 19, "transaction_code")), "{text}");
    assert!(text.contains("INVALID"), "{text}");
    let json = validate(&[broken.to_str().unwrap(), "--json"]);
    assert_eq!(json.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["valid"], false);
    let errors = report["errors"].as_array().unwrap();
    assert!(errors.len() >= 2, "{errors:?}");
    for key in ["line", "column", "field", "message"] {
        assert!(errors[0].get(key).is_some(), "{key} in {}", errors[0]);
    }
}

#[test]
fn short_lines_warn_unless_strict_and_an_unreadable_file_is_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(example()).unwrap();
    let stripped: String = text
        .lines()
        .map(|l| format!("{}\n", l.trim_end()))
        .collect();
    let path = dir.path().join("stripped.aba");
    std::fs::write(&path, stripped).unwrap();
    let lenient = validate(&[path.to_str().unwrap()]);
    assert_eq!(lenient.status.code(), Some(0), "{}", stdout(&lenient));
    assert!(
        stdout(&lenient).contains(":1:81: warning[aba/record]"),
        "{}",
        stdout(&lenient)
    );
    let strict = validate(&[path.to_str().unwrap(), "--strict"]);
    assert_eq!(strict.status.code(), Some(1));
    assert!(stdout(&strict).contains(":1:81: error[aba/record]"));
    let missing = validate(&[dir.path().join("none.aba").to_str().unwrap()]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("none.aba"));
    let directory = validate(&[dir.path().to_str().unwrap()]);
    assert_eq!(directory.status.code(), Some(2));
}
