//! `npp store verify` end to end against real SQLite files: clean, tampered, illegal, unopenable.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod support;

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

/// Edits the example store behind its back with `sql` (triggers dropped, CHECK constraints off),
/// then verifies it.
fn verify_after_editing(sql: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let path = database_with_examples(dir.path());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("DROP TRIGGER events_no_update; PRAGMA ignore_check_constraints = ON;")
        .unwrap();
    conn.execute_batch(sql).unwrap();
    drop(conn);
    verify(&path)
}

#[test]
fn rows_edited_behind_the_stores_back_exit_1_naming_stream_and_version() {
    // Each edit bypasses the store (and its CHECK constraints); each must be reported as
    // corruption of that stream and version: exit 1, never 0, 2 or a panic.
    let cases = [
        (
            "UPDATE events SET version = -1 WHERE stream_id = 'payment-pay_002' AND version = 3",
            "version -1",
        ),
        (
            "UPDATE events SET version = 1099511627776 WHERE stream_id = 'payment-pay_002' AND version = 3",
            "version 1099511627776",
        ),
        (
            "UPDATE events SET hash = x'0102' WHERE stream_id = 'payment-pay_002' AND version = 3",
            "version 3",
        ),
        (
            "UPDATE events SET payload = 'not json' WHERE stream_id = 'payment-pay_002' AND version = 3",
            "version 3",
        ),
        (
            "UPDATE events SET event_type = 'PaymentTeleported' WHERE stream_id = 'payment-pay_002' AND version = 3",
            "version 3",
        ),
        (
            "UPDATE events SET occurred_at = 'yesterday' WHERE stream_id = 'payment-pay_002' AND version = 3",
            "version 3",
        ),
    ];
    for (sql, named) in cases {
        let output = verify_after_editing(sql);
        let message = text(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{sql}: {message}");
        assert!(
            message.contains("payment-pay_002") && message.contains(named),
            "{sql}: {message}"
        );
        assert!(message.contains("corrupt"), "{sql}: {message}");
        assert!(!message.contains("panicked"), "{sql}: {message}");
    }
}

#[test]
fn an_empty_file_or_empty_database_is_not_a_healthy_store() {
    let dir = tempfile::tempdir().unwrap();
    // A backup truncated to nothing
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    let output = verify(&empty);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("empty"),
        "{}",
        text(&output.stderr)
    );
    // And verification created nothing: the file is still 0 bytes, with no WAL beside it
    assert_eq!(std::fs::metadata(&empty).unwrap().len(), 0);
    assert!(!dir.path().join("empty.db-wal").exists());
    // An SQLite database with no store in it
    let bare = dir.path().join("bare.db");
    rusqlite::Connection::open(&bare)
        .unwrap()
        .execute_batch("CREATE TABLE t (x); DROP TABLE t;")
        .unwrap();
    let output = verify(&bare);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    // A directory
    let output = verify(dir.path());
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("directory"),
        "{}",
        text(&output.stderr)
    );
}

/// `npp` with `args`, as an unprivileged user when the tests run as root (root ignores file
/// permissions, so a read-only file would not be read-only to it).
/// The binary is copied into `dir` first: the build's own directory may not be reachable for
/// the unprivileged user (a checkout under /root, say).
#[cfg(unix)]
fn npp_unprivileged(dir: &Path, args: &[&str]) -> Output {
    let binary = dir.join("npp");
    if !binary.exists() {
        std::fs::copy(env!("CARGO_BIN_EXE_npp"), &binary).unwrap();
    }
    let uid = Command::new("id").arg("-u").output().unwrap();
    let root = String::from_utf8_lossy(&uid.stdout).trim() == "0";
    let mut command = if root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
            .arg(&binary);
        c
    } else {
        Command::new(&binary)
    };
    command.args(args).output().unwrap()
}

#[cfg(unix)]
#[test]
fn a_read_only_copy_can_be_verified_and_shown() {
    use std::os::unix::fs::PermissionsExt;
    // Given an auditor's copy of a store: the file alone, read-only, in a read-only directory
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let original = database_with_examples(dir.path());
    // Checkpoint the WAL into the file so the copy is whole.
    rusqlite::Connection::open(&original)
        .unwrap()
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();
    let audit = dir.path().join("audit");
    std::fs::create_dir(&audit).unwrap();
    let copy = audit.join("npp.db");
    std::fs::copy(&original, &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o444)).unwrap();
    std::fs::set_permissions(&audit, std::fs::Permissions::from_mode(0o555)).unwrap();
    let db = copy.to_str().unwrap();
    // When someone who may not write it verifies it and shows a payment
    let verified = npp_unprivileged(dir.path(), &["store", "verify", "--db", db]);
    let shown = npp_unprivileged(dir.path(), &["payment", "show", "pay_002", "--db", db]);
    let listed = npp_unprivileged(dir.path(), &["ops", "list", "--db", db]);
    std::fs::set_permissions(&audit, std::fs::Permissions::from_mode(0o755)).unwrap();
    // Then each works, and nothing was written beside the copy
    assert_eq!(
        verified.status.code(),
        Some(0),
        "{}",
        text(&verified.stderr)
    );
    assert_eq!(shown.status.code(), Some(0), "{}", text(&shown.stderr));
    assert_eq!(listed.status.code(), Some(0), "{}", text(&listed.stderr));
    assert!(text(&shown.stdout).contains("payment pay_002"));
    let beside: Vec<_> = std::fs::read_dir(&audit).unwrap().collect();
    assert_eq!(beside.len(), 1, "{beside:?}");
}

#[test]
fn verifying_a_postgresql_schema_that_does_not_exist_creates_nothing() {
    let Some(url) = support::database_url() else {
        return;
    };
    let schema = format!("verify_missing_{}", std::process::id());
    let output = Command::new(env!("CARGO_BIN_EXE_npp"))
        .args([
            "store",
            "verify",
            "--database-url",
            &url,
            "--schema",
            &schema,
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("does not exist"),
        "{}",
        text(&output.stderr)
    );
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let exists: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM information_schema.schemata WHERE schema_name = $1)",
            &[&schema],
        )
        .unwrap()
        .get(0);
    assert!(!exists, "verification created schema {schema}");
}

#[test]
fn an_event_no_stream_kind_allows_exits_1_even_with_a_sound_chain() {
    // Given a store whose events chain correctly but say what this software never writes
    let cases = [
        ("rail-pay_001", "RailDecisionRecorded", "{\"rail\":\"NPP\"}"),
        ("ops-req-000001", "OperatorActionApproved", "{}"),
        ("anomaly-pay_001", "RailOutcomeRefused", "not json"),
        ("sim-M0001", "SimTransferReceived", "{}"),
        ("policy", "PolicyLoaded", "{}"),
        ("unknown-kind-1", "Whatever", "{}"),
    ];
    for (stream, kind, payload) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = database_with_examples(dir.path());
        let store = SqliteStore::open(&path, OpenMode::MustExist).unwrap();
        let at = Timestamp::parse("2025-12-17T23:00:00Z").unwrap();
        let event = event_store::NewEvent::new(kind, 1, at, payload.to_owned()).unwrap();
        store
            .append(
                AppendRequest::new(StreamId::parse(stream).unwrap(), 0, vec![event], at).unwrap(),
            )
            .unwrap();
        drop(store);
        // When it is verified, Then it exits 1 naming the stream and version
        let output = verify(&path);
        let message = text(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stream}: {message}");
        assert!(
            message.contains(stream) && message.contains("version 1"),
            "{stream}: {message}"
        );
    }
}

#[test]
fn postgresql_rows_edited_behind_the_stores_back_exit_1_naming_stream_and_version() {
    let Some(url) = support::database_url() else {
        return;
    };
    // Each edit bypasses the store: its append-only triggers disabled and the CHECK constraint
    // in the way dropped, as someone with the database's owner rights could
    let cases = [
        (
            "ALTER TABLE events DROP CONSTRAINT events_version_check; \
             UPDATE events SET version = -1 WHERE stream_id = 'payment-pay_001' AND version = 3",
            "version -1",
        ),
        (
            "ALTER TABLE events DROP CONSTRAINT events_hash_check; \
             UPDATE events SET hash = '\\x0102' WHERE stream_id = 'payment-pay_001' AND version = 3",
            "version 3",
        ),
        (
            "UPDATE events SET payload = 'not json' WHERE stream_id = 'payment-pay_001' AND version = 3",
            "version 3",
        ),
        (
            "UPDATE events SET event_type = 'PaymentTeleported' WHERE stream_id = 'payment-pay_001' AND version = 3",
            "version 3",
        ),
    ];
    for (n, (sql, named)) in cases.iter().enumerate() {
        let schema = format!("verify_edited_{}_{n}", std::process::id());
        let npp = |args: &[&str]| {
            Command::new(env!("CARGO_BIN_EXE_npp"))
                .args(args)
                .args(["--database-url", &url, "--schema", &schema])
                .output()
                .unwrap()
        };
        let settled = examples().join("settled.jsonl");
        let imported = npp(&["payment", "import", settled.to_str().unwrap()]);
        assert_eq!(
            imported.status.code(),
            Some(0),
            "{}",
            text(&imported.stderr)
        );
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        client
            .batch_execute(&format!(
                "SET search_path TO {schema}; ALTER TABLE events DISABLE TRIGGER USER; {sql}"
            ))
            .unwrap();
        let output = npp(&["store", "verify"]);
        let _ = client.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"));
        let message = text(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{sql}: {message}");
        assert!(
            message.contains("payment-pay_001") && message.contains(named),
            "{sql}: {message}"
        );
        assert!(message.contains("corrupt"), "{sql}: {message}");
        assert!(!message.contains("panicked"), "{sql}: {message}");
    }
}
