//! docs/ISO20022.md agrees with the code: its status and reason tables list every code with the
//! meaning, verdict and core failure reason the code gives it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use rail_npp::*;

fn doc() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/ISO20022.md");
    std::fs::read_to_string(path).unwrap()
}

/// The cells of the table row whose first cell is `code`.
fn row(doc: &str, code: &str) -> Vec<String> {
    let prefix = format!("| {code} |");
    let rows: Vec<&str> = doc.lines().filter(|l| l.starts_with(&prefix)).collect();
    assert_eq!(
        rows.len(),
        1,
        "docs/ISO20022.md needs one table row for {code}"
    );
    rows[0]
        .trim_matches('|')
        .split('|')
        .map(|cell| cell.trim().to_owned())
        .collect()
}

#[test]
fn every_status_code_is_documented_with_its_meaning_and_verdict() {
    let doc = doc();
    for status in TransactionStatus::ALL {
        let cells = row(&doc, status.code());
        assert_eq!(cells[1], status.meaning(), "{status}");
        let verdict = if status.is_settlement() {
            "`Settled { settlement_ref }`"
        } else if status.is_rejection() {
            "`Rejected { reason }`"
        } else {
            "`Acknowledged`"
        };
        assert_eq!(cells[2], verdict, "{status}");
    }
}

#[test]
fn every_reason_code_is_documented_with_its_meaning_and_failure_reason() {
    let doc = doc();
    for reason in ReasonCode::ALL {
        let cells = row(&doc, reason.code());
        assert_eq!(cells[1], reason.meaning(), "{reason}");
        let failure = reason.failure_reason();
        assert_eq!(cells[2], format!("`{}`", failure.name()), "{reason}");
        let retryable = if failure.is_retryable() { "yes" } else { "no" };
        assert_eq!(cells[3], retryable, "{reason}");
    }
}
