//! SQLite-specific guarantees: append-only triggers, durability across SIGKILL, tamper evidence,
//! and refusing files that are not (or not yet) ours without writing to them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use event_store::{AppendOutcome, EventStore, StoreError, check_stream_chain};
use rusqlite::Connection;
use store::{OpenMode, SqliteStore};
use support::*;

fn scratch() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("npp.db");
    (dir, path)
}

fn seeded_store(path: &Path) {
    let store = SqliteStore::open(path, OpenMode::CreateIfMissing).unwrap();
    store
        .append(request("pay-1", 0, 3).with_idempotency(claim("key-1", 1)))
        .unwrap();
    store
        .append(request("pay-2", 0, 2).with_rail_message("MSG-1").unwrap())
        .unwrap();
}

#[test]
fn triggers_refuse_update_and_delete_of_events_and_claims() {
    let (_dir, path) = scratch();
    seeded_store(&path);
    let conn = Connection::open(&path).unwrap();
    for sql in [
        "UPDATE events SET payload = '{}' WHERE version = 1",
        "DELETE FROM events WHERE version = 1",
        "UPDATE idempotency_keys SET version = 9",
        "DELETE FROM rail_messages",
    ] {
        let message = conn.execute(sql, []).unwrap_err().to_string();
        assert!(message.contains("append-only"), "{sql}: {message}");
    }
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 5);
}

#[test]
fn events_survive_a_reopen_with_their_chain() {
    let (_dir, path) = scratch();
    seeded_store(&path);
    let store = SqliteStore::open(&path, OpenMode::MustExist).unwrap();
    let events = store.read_stream(&stream("pay-1")).unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(check_stream_chain(&events), Ok(()));
    assert!(matches!(
        store.append(request("pay-1", 3, 1)),
        Ok(AppendOutcome::Committed(_))
    ));
}

#[test]
fn a_changed_payload_byte_breaks_the_chain_at_that_version() {
    let (_dir, path) = scratch();
    seeded_store(&path);
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("DROP TRIGGER events_no_update").unwrap();
        conn.execute(
            "UPDATE events SET payload = replace(payload, '2', '7') WHERE stream_id = 'pay-1' AND version = 2",
            [],
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path, OpenMode::MustExist).unwrap();
    let events = store.read_stream(&stream("pay-1")).unwrap();
    let broken = check_stream_chain(&events).unwrap_err();
    assert_eq!(broken.version, 2);
    assert_eq!(
        check_stream_chain(&store.read_stream(&stream("pay-2")).unwrap()),
        Ok(())
    );
}

fn file_bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

#[test]
fn a_file_that_is_not_sqlite_is_refused_and_left_alone() {
    let (_dir, path) = scratch();
    std::fs::write(
        &path,
        b"this is a payments spreadsheet, not a database\n".repeat(100),
    )
    .unwrap();
    let before = file_bytes(&path);
    let error = SqliteStore::open(&path, OpenMode::CreateIfMissing)
        .err()
        .unwrap();
    assert!(
        matches!(error, StoreError::NotAnEventStore { .. }),
        "{error}"
    );
    assert!(
        error.to_string().contains("not an SQLite database"),
        "{error}"
    );
    assert_eq!(file_bytes(&path), before);
}

#[test]
fn a_truncated_file_is_refused_and_left_alone() {
    let (_dir, path) = scratch();
    {
        let store = SqliteStore::open(&path, OpenMode::CreateIfMissing).unwrap();
        for n in 0..200 {
            store.append(request(&format!("pay-{n}"), 0, 5)).unwrap();
        }
    }
    let full = file_bytes(&path);
    std::fs::write(&path, &full[..full.len() / 3]).unwrap();
    let before = file_bytes(&path);
    let error = SqliteStore::open(&path, OpenMode::MustExist).err().unwrap();
    assert!(
        matches!(error, StoreError::NotAnEventStore { .. }),
        "{error}"
    );
    assert_eq!(file_bytes(&path), before);
}

#[test]
fn another_applications_database_is_refused() {
    let (_dir, path) = scratch();
    Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE members (id INTEGER)")
        .unwrap();
    let before = file_bytes(&path);
    let error = SqliteStore::open(&path, OpenMode::CreateIfMissing)
        .err()
        .unwrap();
    assert!(error.to_string().contains("another application"), "{error}");
    assert_eq!(file_bytes(&path), before);
}

#[test]
fn a_newer_schema_is_refused_and_left_alone() {
    let (_dir, path) = scratch();
    seeded_store(&path);
    Connection::open(&path)
        .unwrap()
        .execute(
            "INSERT INTO schema_migrations (version, description) VALUES (99, 'from the future')",
            [],
        )
        .unwrap();
    let before = file_bytes(&path);
    let error = SqliteStore::open(&path, OpenMode::MustExist).err().unwrap();
    assert_eq!(
        error,
        StoreError::SchemaTooNew {
            found: 99,
            supported: store::SCHEMA_VERSION
        }
    );
    assert_eq!(file_bytes(&path), before);
}

/// The rail message claims and the outbox as schema version 5 left them: no payloads, no indexes
/// by stream.
const V5_RAIL_MESSAGES: &str = "
DROP INDEX rail_messages_by_stream;
DROP INDEX outbox_by_stream;
DROP TABLE rail_message_payloads;
DELETE FROM schema_migrations WHERE version >= 6;
";

#[test]
fn a_version_5_database_migrates_keeping_its_rail_message_claims() {
    // Given a store at schema version 5 holding a rail message claim
    let (_dir, path) = scratch();
    seeded_store(&path);
    Connection::open(&path)
        .unwrap()
        .execute_batch(V5_RAIL_MESSAGES)
        .unwrap();
    // When this binary opens it
    let store = SqliteStore::open(&path, OpenMode::MustExist).unwrap();
    // Then the claim answers as before, listed by its stream without a payload
    assert_eq!(
        store.find_rail_message("MSG-1").unwrap().unwrap().stream,
        stream("pay-2")
    );
    let listed = store.rail_messages(&stream("pay-2")).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].message_id.as_str(), listed[0].version),
        ("MSG-1", 2)
    );
    assert_eq!(listed[0].payload, None);
    // And a new claim keeps its payload, and a repeat is still recognised
    store
        .append(
            request("pay-2", 2, 1)
                .with_rail_message_payload("MSG-2", Some("<Document/>"))
                .unwrap(),
        )
        .unwrap();
    let listed = store.rail_messages(&stream("pay-2")).unwrap();
    assert_eq!(listed[1].payload.as_deref(), Some("<Document/>"));
    let repeat = store.append(request("pay-9", 0, 1).with_rail_message("MSG-1").unwrap());
    assert!(
        matches!(repeat, Ok(AppendOutcome::AlreadyApplied(_))),
        "{repeat:?}"
    );
    drop(store);
    // And the claims are found by the new index, still append-only, at the current version
    let conn = Connection::open(&path).unwrap();
    let plan: Vec<String> = conn
        .prepare(
            "EXPLAIN QUERY PLAN
             SELECT message_id, stream_id, version, recorded_at FROM rail_messages
             WHERE stream_id = 'pay-2' ORDER BY version",
        )
        .unwrap()
        .query_map([], |r| r.get::<_, String>(3))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let plan = plan.join("; ");
    assert!(plan.contains("rail_messages_by_stream"), "{plan}");
    for sql in [
        "UPDATE rail_messages SET version = 9",
        "DELETE FROM rail_messages",
        "UPDATE rail_message_payloads SET payload = 'changed'",
        "DELETE FROM rail_message_payloads",
    ] {
        let message = conn.execute(sql, []).unwrap_err().to_string();
        assert!(message.contains("append-only"), "{sql}: {message}");
    }
    let version: u32 = conn
        .query_row("SELECT max(version) FROM schema_migrations", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(version, store::SCHEMA_VERSION);
}

#[test]
fn a_rail_message_row_holding_what_the_store_never_writes_is_corruption() {
    // Given a rail message claim edited behind the store's back, one column at a time
    for (column, value) in [
        ("version", "-1"),
        ("version", "0"),
        ("version", "4294967296"),
        ("recorded_at", "'yesterday'"),
        ("payload", "x'00ff'"),
    ] {
        let (_dir, path) = scratch();
        seeded_store(&path);
        {
            let conn = Connection::open(&path).unwrap();
            let edit = if column == "payload" {
                // A payload lives in a table of its own: one that is not text is corrupt
                format!(
                    "INSERT INTO rail_message_payloads (message_id, payload) VALUES ('MSG-1', {value})"
                )
            } else {
                conn.execute_batch("DROP TRIGGER rail_messages_no_update")
                    .unwrap();
                format!("UPDATE rail_messages SET {column} = {value} WHERE message_id = 'MSG-1'")
            };
            conn.execute(&edit, []).unwrap();
        }
        let store = SqliteStore::open(&path, OpenMode::MustExist).unwrap();
        // When its stream's rail messages are read, Then the row is named as corrupt, never
        // defaulted or left out
        let read = store.rail_messages(&stream("pay-2"));
        let Err(error) = read else {
            panic!("{column} = {value} was read as {read:?}");
        };
        assert!(error.is_corruption(), "{column} = {value}: {error}");
        let named = error.to_string();
        assert!(
            named.contains("MSG-1") && named.contains(column),
            "{column} = {value}: {named}"
        );
    }
}

/// The claims tables as schema version 2 left them: rowid tables, each with its key's index.
const V2_CLAIMS: &str = "
DROP TRIGGER idempotency_no_update; DROP TRIGGER idempotency_no_delete;
DROP TRIGGER rail_messages_no_update; DROP TRIGGER rail_messages_no_delete;
ALTER TABLE idempotency_keys RENAME TO old_keys;
CREATE TABLE idempotency_keys (key TEXT PRIMARY KEY, stream_id TEXT NOT NULL,
    version INTEGER NOT NULL, fingerprint BLOB NOT NULL CHECK (length(fingerprint) = 32),
    recorded_at INTEGER NOT NULL);
INSERT INTO idempotency_keys SELECT * FROM old_keys; DROP TABLE old_keys;
ALTER TABLE rail_messages RENAME TO old_messages;
CREATE TABLE rail_messages (message_id TEXT PRIMARY KEY, stream_id TEXT NOT NULL,
    version INTEGER NOT NULL, recorded_at INTEGER NOT NULL);
INSERT INTO rail_messages SELECT message_id, stream_id, version, recorded_at FROM old_messages;
DROP TABLE old_messages;
CREATE TRIGGER idempotency_no_update BEFORE UPDATE ON idempotency_keys
    BEGIN SELECT RAISE(ABORT, 'idempotency keys are append-only'); END;
CREATE TRIGGER idempotency_no_delete BEFORE DELETE ON idempotency_keys
    BEGIN SELECT RAISE(ABORT, 'idempotency keys are append-only'); END;
CREATE TRIGGER rail_messages_no_update BEFORE UPDATE ON rail_messages
    BEGIN SELECT RAISE(ABORT, 'rail message claims are append-only'); END;
CREATE TRIGGER rail_messages_no_delete BEFORE DELETE ON rail_messages
    BEGIN SELECT RAISE(ABORT, 'rail message claims are append-only'); END;
DROP INDEX outbox_pending; DROP INDEX outbox_failed; DROP INDEX outbox_by_stream;
DROP TABLE rail_message_payloads;
ALTER TABLE outbox DROP COLUMN failed_at; ALTER TABLE outbox DROP COLUMN last_error;
ALTER TABLE outbox DROP COLUMN attempts;
CREATE INDEX outbox_undelivered ON outbox (seq) WHERE delivered_at IS NULL;
DELETE FROM schema_migrations WHERE version >= 3;
";

#[test]
fn a_version_2_database_migrates_keeping_every_claim() {
    // Given a store at schema version 2 holding an idempotency key and a rail message claim
    let (_dir, path) = scratch();
    seeded_store(&path);
    Connection::open(&path)
        .unwrap()
        .execute_batch(V2_CLAIMS)
        .unwrap();
    // When this binary opens it
    let store = SqliteStore::open(&path, OpenMode::MustExist).unwrap();
    // Then both claims answer as before, and a repeat is still recognised
    assert_eq!(store.find_idempotency("key-1").unwrap().unwrap().1, [1; 32]);
    assert_eq!(
        store.find_rail_message("MSG-1").unwrap().unwrap().stream,
        stream("pay-2")
    );
    let repeat = store.append(request("pay-9", 0, 1).with_rail_message("MSG-1").unwrap());
    assert!(
        matches!(repeat, Ok(AppendOutcome::AlreadyApplied(_))),
        "{repeat:?}"
    );
    drop(store);
    // And the claims tables are one B-tree each, still append-only, at the current version
    let conn = Connection::open(&path).unwrap();
    for table in ["idempotency_keys", "rail_messages"] {
        let sql: String = conn
            .query_row(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [table],
                |r| r.get(0),
            )
            .unwrap();
        assert!(sql.contains("WITHOUT ROWID"), "{sql}");
        let message = conn
            .execute(&format!("DELETE FROM {table}"), [])
            .unwrap_err()
            .to_string();
        assert!(message.contains("append-only"), "{table}: {message}");
    }
    let version: u32 = conn
        .query_row("SELECT max(version) FROM schema_migrations", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(version, store::SCHEMA_VERSION);
}

#[test]
fn must_exist_does_not_create_a_file() {
    let (_dir, path) = scratch();
    assert!(SqliteStore::open(&path, OpenMode::MustExist).is_err());
    assert!(!path.exists());
}

const CHILD_DB: &str = "NPP_CRASH_CHILD_DB";
const WRITER_THREADS: usize = 4;

/// In the child: append forever from several threads, printing each commit once it returned.
/// The parent kills it; the writers never return.
fn run_child(db: &str) -> ! {
    let store =
        std::sync::Arc::new(SqliteStore::open(Path::new(db), OpenMode::CreateIfMissing).unwrap());
    let stdout = std::sync::Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let threads: Vec<_> = (0..WRITER_THREADS)
        .map(|t| {
            let (store, stdout) = (store.clone(), stdout.clone());
            std::thread::spawn(move || {
                let name = format!("crash-{t}");
                let mut version = store.read_stream(&stream(&name)).unwrap().len() as u32;
                #[allow(clippy::infinite_loop)]
                loop {
                    let count = 1 + version % 4;
                    store.append(request(&name, version, count)).unwrap();
                    version += count;
                    let mut out = stdout.lock().unwrap();
                    writeln!(out, "committed {name} {version}").unwrap();
                    out.flush().unwrap();
                }
            })
        })
        .collect();
    drop(threads);
    loop {
        std::thread::park();
    }
}

fn next_random(state: &mut u64) -> u64 {
    // xorshift64: a seeded, dependency-free sequence of kill delays.
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn sqlite_keeps_every_reported_commit_across_sigkill() {
    if let Ok(db) = std::env::var(CHILD_DB) {
        run_child(&db);
    }
    let (_dir, path) = scratch();
    let mut seed = 0x5EED_2025_u64;
    let mut reported: BTreeMap<String, u32> = BTreeMap::new();
    for round in 0..20 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "sqlite_keeps_every_reported_commit_across_sigkill",
                "--exact",
                "--nocapture",
            ])
            .env(CHILD_DB, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<String>>()
        });
        std::thread::sleep(Duration::from_millis(30 + next_random(&mut seed) % 250));
        child.kill().unwrap();
        child.wait().unwrap();
        for line in reader.join().unwrap() {
            if let Some(rest) = line.strip_prefix("committed ") {
                let (name, version) = rest.split_once(' ').unwrap();
                let version: u32 = version.parse().unwrap();
                let entry = reported.entry(name.to_owned()).or_default();
                *entry = (*entry).max(version);
            }
        }
        let store = SqliteStore::open(&path, OpenMode::MustExist)
            .unwrap_or_else(|e| panic!("round {round}: cannot reopen after SIGKILL: {e}"));
        for (name, version) in &reported {
            let events = store.read_stream(&stream(name)).unwrap();
            assert_eq!(
                check_stream_chain(&events),
                Ok(()),
                "round {round}, stream {name}"
            );
            assert!(
                events.len() as u32 >= *version,
                "round {round}: {name} lost commits up to {version}"
            );
        }
    }
    assert!(
        reported.values().sum::<u32>() > 0,
        "the child never committed anything"
    );
}
