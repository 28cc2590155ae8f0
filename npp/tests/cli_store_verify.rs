//! `npp store verify` end to end against real SQLite files: clean, tampered, illegal, unopenable.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use app_ops::encode_payment_event;
use core_npp::{PaymentEvent, Timestamp};
use event_store::{AppendRequest, EventStore, StreamId};
use store::{OpenMode, SqliteStore};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

fn history(path: &Path) -> Vec<PaymentEvent> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn store_history(store: &SqliteStore, events: &[PaymentEvent]) {
    let id = events[0].payment_intent_id();
    let encoded = events
        .iter()
        .map(|e| encode_payment_event(e).unwrap())
        .collect();
    let recorded_at = Timestamp::parse("2025-12-17T23:00:00Z").unwrap();
    let request = AppendRequest::new(StreamId::payment(id), 0, encoded, recorded_at).unwrap();
    store.append(request).unwrap();
}

fn database_with_examples(dir: &Path) -> PathBuf {
    let path = dir.join("npp.db");
    let store = SqliteStore::open(&path, OpenMode::CreateIfMissing).unwrap();
    for name in ["settled.jsonl", "retried.jsonl", "cancelled.jsonl"] {
        store_history(&store, &history(&examples().join(name)));
    }
    path
}

fn verify(path: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_npp"))
        .args(["store", "verify", "--db", path.to_str().unwrap()])
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_clean_store_exits_0_with_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let path = database_with_examples(dir.path());
    let output = verify(&path);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let summary = text(&output.stdout);
    assert!(
        summary.contains("3 streams") && summary.contains("3 payments"),
        "{summary}"
    );
    assert!(
        summary.contains("SETTLED 2") && summary.contains("FAILED 1"),
        "{summary}"
    );
}

#[test]
fn a_tampered_payload_exits_1_naming_stream_and_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = database_with_examples(dir.path());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("DROP TRIGGER events_no_update").unwrap();
    conn.execute(
        "UPDATE events SET payload = replace(payload, '125075', '925075')
         WHERE stream_id = 'payment-pay_002' AND version = 8",
        [],
    )
    .unwrap();
    drop(conn);
    let output = verify(&path);
    assert_eq!(output.status.code(), Some(1));
    let message = text(&output.stderr);
    assert!(
        message.contains("payment-pay_002") && message.contains("version 8"),
        "{message}"
    );
    assert!(message.contains("corrupt"), "{message}");
}

#[test]
fn an_illegal_history_exits_1_naming_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("npp.db");
    let store = SqliteStore::open(&path, OpenMode::CreateIfMissing).unwrap();
    store_history(
        &store,
        &history(&examples().join("invalid/settle-after-expiry.jsonl")),
    );
    drop(store);
    let output = verify(&path);
    assert_eq!(output.status.code(), Some(1));
    let message = text(&output.stderr);
    assert!(message.contains("payment-pay_005 version 3"), "{message}");
    assert!(message.contains("lifecycle/terminal-state"), "{message}");
}

#[test]
fn a_file_that_cannot_be_opened_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing = verify(&dir.path().join("missing.db"));
    assert_eq!(missing.status.code(), Some(2));
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"not a database at all, just some bytes ".repeat(50)).unwrap();
    let output = verify(&junk);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("not an SQLite database"),
        "{}",
        text(&output.stderr)
    );
}
