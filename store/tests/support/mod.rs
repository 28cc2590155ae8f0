//! Test support: a store of each kind behind one interface, with its own scratch space.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::sync::atomic::{AtomicU32, Ordering};

use core_npp::Timestamp;
use event_store::{AppendRequest, EventStore, IdempotencyClaim, NewEvent, StreamId};
use store::{MemoryStore, OpenMode, PostgresConfig, PostgresStore, SqliteStore};

pub const DEFAULT_TEST_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

pub fn test_database_url() -> String {
    std::env::var("NPP_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_TEST_URL.to_owned())
}

/// A store under test and whatever keeps its scratch space alive.
pub struct Harness {
    pub store: Box<dyn EventStore>,
    pub sqlite_dir: Option<tempfile::TempDir>,
    pub pg_schema: Option<(String, String)>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some((url, schema)) = self.pg_schema.take()
            && let Ok(mut client) = postgres::Client::connect(&url, postgres::NoTls)
        {
            let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
        }
    }
}

pub fn memory() -> Option<Harness> {
    Some(Harness {
        store: Box::new(MemoryStore::new()),
        sqlite_dir: None,
        pg_schema: None,
    })
}

pub fn sqlite() -> Option<Harness> {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("npp.db"), OpenMode::CreateIfMissing).unwrap();
    Some(Harness {
        store: Box::new(store),
        sqlite_dir: Some(dir),
        pg_schema: None,
    })
}

static SCHEMA_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A fresh schema name, unique across processes and runs.
pub fn fresh_schema() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "t_{}_{}_{nanos}",
        std::process::id(),
        SCHEMA_COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A PostgreSQL store in a schema of its own, or `None` (loudly) when no server answers and CI
/// is not set. Under CI a missing server fails the test.
pub fn postgres() -> Option<Harness> {
    let url = test_database_url();
    if postgres::Client::connect(&url, postgres::NoTls).is_err() {
        let message = format!("PostgreSQL is not reachable at {url} (set NPP_TEST_DATABASE_URL)");
        if std::env::var_os("CI").is_some() {
            panic!("{message}; CI is set, so this is a failure");
        }
        eprintln!("SKIPPING POSTGRESQL TEST: {message}");
        return None;
    }
    let schema = fresh_schema();
    let mut config = PostgresConfig::new(&url);
    config.schema = schema.clone();
    let store = PostgresStore::connect(&config).unwrap();
    Some(Harness {
        store: Box::new(store),
        sqlite_dir: None,
        pg_schema: Some((url, schema)),
    })
}

pub fn at(seconds: i64) -> Timestamp {
    Timestamp::from_unix_nanos(i128::from(1_765_962_000 + seconds) * 1_000_000_000 + 123).unwrap()
}

pub fn stream(name: &str) -> StreamId {
    StreamId::parse(name).unwrap()
}

pub fn event(n: u32) -> NewEvent {
    NewEvent::new("TestEvent", 1, at(i64::from(n)), format!("{{\"n\":{n}}}")).unwrap()
}

pub fn events(from: u32, count: u32) -> Vec<NewEvent> {
    (from..from + count).map(event).collect()
}

pub fn request(stream_name: &str, expected: u32, count: u32) -> AppendRequest {
    AppendRequest::new(
        stream(stream_name),
        expected,
        events(expected + 1, count),
        at(1000),
    )
    .unwrap()
}

pub fn claim(key: &str, fingerprint_byte: u8) -> IdempotencyClaim {
    IdempotencyClaim::new(key, [fingerprint_byte; 32]).unwrap()
}
