//! The SQLite adapter, the embedded default: WAL, `synchronous=FULL`, group commit through one
//! writer thread, triggers that refuse UPDATE and DELETE, versioned migrations.

use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

use core_npp::Timestamp;
use event_store::{
    AppendOutcome, AppendRequest, Committed, EventHash, EventStore, OutboxItem, OutboxMessage,
    PriorResult, RecordedEvent, StoreError, StreamId,
};
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior, params};

use crate::SCHEMA_VERSION;
use crate::checkpoint::Checkpointer;
use crate::group_commit::{BatchWriter, GroupCommit};
use crate::heads::Heads;
use crate::row::{RawRow, build_recorded, nanos};

/// `PRAGMA application_id` of an npp event store ("NPP1"), so a stranger's SQLite file is
/// recognised and left alone.
const APPLICATION_ID: i32 = 0x4E50_5031;
/// Reader connections per store. More would only contend for two cores; opening one costs a
/// schema parse and fresh statement caches, so callers wait for a free one instead.
const MAX_READERS: usize = 8;
/// WAL pages after which a committing connection checkpoints itself: a backstop only, since the
/// checkpointer thread copies frames back every few milliseconds (40 MB of 4 KB pages).
const CHECKPOINT_BACKSTOP_PAGES: u32 = 10_000;

/// Versioned migrations: (version, description, SQL). Never edit a released one; add the next.
const MIGRATIONS: &[(u32, &str, &str)] = &[
    (1, "events, claims and append-only triggers", V1),
    (2, "transactional outbox", V2),
    (3, "claims tables without rowid", V3),
];

/// One B-tree per claims table instead of two (a rowid table and its key's index): a third fewer
/// B-tree inserts per payment. Dropping a table drops its triggers, so they are created again.
const V3: &str = "
DROP TRIGGER idempotency_no_update;
DROP TRIGGER idempotency_no_delete;
CREATE TABLE idempotency_keys_v3 (
    key         TEXT    PRIMARY KEY,
    stream_id   TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    fingerprint BLOB    NOT NULL CHECK (length(fingerprint) = 32),
    recorded_at INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO idempotency_keys_v3 (key, stream_id, version, fingerprint, recorded_at)
    SELECT key, stream_id, version, fingerprint, recorded_at FROM idempotency_keys;
DROP TABLE idempotency_keys;
ALTER TABLE idempotency_keys_v3 RENAME TO idempotency_keys;
CREATE TRIGGER idempotency_no_update BEFORE UPDATE ON idempotency_keys
    BEGIN SELECT RAISE(ABORT, 'idempotency keys are append-only'); END;
CREATE TRIGGER idempotency_no_delete BEFORE DELETE ON idempotency_keys
    BEGIN SELECT RAISE(ABORT, 'idempotency keys are append-only'); END;
DROP TRIGGER rail_messages_no_update;
DROP TRIGGER rail_messages_no_delete;
CREATE TABLE rail_messages_v3 (
    message_id  TEXT    PRIMARY KEY,
    stream_id   TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO rail_messages_v3 (message_id, stream_id, version, recorded_at)
    SELECT message_id, stream_id, version, recorded_at FROM rail_messages;
DROP TABLE rail_messages;
ALTER TABLE rail_messages_v3 RENAME TO rail_messages;
CREATE TRIGGER rail_messages_no_update BEFORE UPDATE ON rail_messages
    BEGIN SELECT RAISE(ABORT, 'rail message claims are append-only'); END;
CREATE TRIGGER rail_messages_no_delete BEFORE DELETE ON rail_messages
    BEGIN SELECT RAISE(ABORT, 'rail message claims are append-only'); END;
";

const V2: &str = "
CREATE TABLE outbox (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT    NOT NULL UNIQUE,
    destination TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    stream_id   TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    claims      INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until INTEGER,
    delivered_at INTEGER
);
CREATE INDEX outbox_undelivered ON outbox (seq) WHERE delivered_at IS NULL;
";

const V1: &str = "
CREATE TABLE schema_migrations (
    version     INTEGER PRIMARY KEY,
    description TEXT    NOT NULL,
    applied_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE TABLE events (
    global_position INTEGER PRIMARY KEY AUTOINCREMENT,
    stream_id       TEXT    NOT NULL,
    version         INTEGER NOT NULL CHECK (version >= 1),
    event_type      TEXT    NOT NULL,
    schema_version  INTEGER NOT NULL,
    occurred_at     INTEGER NOT NULL,
    recorded_at     INTEGER NOT NULL,
    correlation_id  TEXT,
    causation_id    TEXT,
    payload         TEXT    NOT NULL,
    prev_hash       BLOB    NOT NULL CHECK (length(prev_hash) = 32),
    hash            BLOB    NOT NULL CHECK (length(hash) = 32),
    UNIQUE (stream_id, version)
);
CREATE TABLE idempotency_keys (
    key         TEXT    PRIMARY KEY,
    stream_id   TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    fingerprint BLOB    NOT NULL CHECK (length(fingerprint) = 32),
    recorded_at INTEGER NOT NULL
);
CREATE TABLE rail_messages (
    message_id  TEXT    PRIMARY KEY,
    stream_id   TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL
);
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'events are append-only: UPDATE refused'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'events are append-only: DELETE refused'); END;
CREATE TRIGGER idempotency_no_update BEFORE UPDATE ON idempotency_keys
    BEGIN SELECT RAISE(ABORT, 'idempotency keys are append-only'); END;
CREATE TRIGGER idempotency_no_delete BEFORE DELETE ON idempotency_keys
    BEGIN SELECT RAISE(ABORT, 'idempotency keys are append-only'); END;
CREATE TRIGGER rail_messages_no_update BEFORE UPDATE ON rail_messages
    BEGIN SELECT RAISE(ABORT, 'rail message claims are append-only'); END;
CREATE TRIGGER rail_messages_no_delete BEFORE DELETE ON rail_messages
    BEGIN SELECT RAISE(ABORT, 'rail message claims are append-only'); END;
";

const SELECT_EVENT: &str = "SELECT stream_id, version, global_position, event_type, schema_version,
    occurred_at, recorded_at, correlation_id, causation_id, payload, prev_hash, hash FROM events";

/// Whether `open` may create a new database.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum OpenMode {
    /// Create the file and schema if missing (the orchestrator).
    CreateIfMissing,
    /// Refuse a missing file (verification, inspection).
    MustExist,
}

#[derive(Default)]
struct ReaderPool {
    idle: Vec<Connection>,
    opened: usize,
}

/// The SQLite event store.
pub struct SqliteStore {
    path: PathBuf,
    writer: GroupCommit,
    _checkpointer: Checkpointer,
    readers: Mutex<ReaderPool>,
    reader_freed: Condvar,
}

fn unavailable(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn not_ours(path: &Path, why: impl Into<String>) -> StoreError {
    StoreError::NotAnEventStore {
        path: path.display().to_string(),
        why: why.into(),
    }
}

impl SqliteStore {
    /// Opens (or creates) the store at `path`, refusing a file that is not an npp event store or
    /// whose schema is newer than this binary; such a file is left exactly as it was.
    pub fn open(path: &Path, mode: OpenMode) -> Result<Self, StoreError> {
        if mode == OpenMode::MustExist && !path.is_file() {
            return Err(not_ours(path, "no such file"));
        }
        let conn = open_connection(path, mode)?;
        inspect(&conn, path)?;
        configure(&conn).map_err(|e| classify_open_error(path, e))?;
        migrate(&conn).map_err(|e| classify_open_error(path, e))?;
        // Checkpoints run on their own thread; the writer's automatic one is only a backstop
        // for a WAL that grows past 40 MB.
        conn.execute_batch(&format!(
            "PRAGMA wal_autocheckpoint = {CHECKPOINT_BACKSTOP_PAGES}"
        ))
        .map_err(unavailable)?;
        let writer = GroupCommit::spawn(
            "npp-sqlite-writer",
            SqliteWriter {
                conn,
                heads: Heads::default(),
            },
        )?;
        let checkpointing = open_connection(path, OpenMode::MustExist)?;
        // Checkpoints copy frames straight from the WAL; they need no page cache to speak of.
        // FULL: the database file is fsynced before the WAL may be reused.
        checkpointing
            .execute_batch("PRAGMA cache_size = -64; PRAGMA synchronous = FULL")
            .map_err(unavailable)?;
        let checkpointer = Checkpointer::spawn(checkpointing)?;
        Ok(Self {
            path: path.to_owned(),
            writer,
            _checkpointer: checkpointer,
            readers: Mutex::new(ReaderPool::default()),
            reader_freed: Condvar::new(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn with_reader<T>(
        &self,
        read: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = self.take_reader()?;
        let result = read(&conn);
        if let Ok(mut pool) = self.readers.lock() {
            pool.idle.push(conn);
        }
        self.reader_freed.notify_one();
        result
    }

    fn take_reader(&self) -> Result<Connection, StoreError> {
        let poisoned = || StoreError::Unavailable("reader pool lock poisoned".into());
        let mut pool = self.readers.lock().map_err(|_| poisoned())?;
        loop {
            if let Some(conn) = pool.idle.pop() {
                return Ok(conn);
            }
            if pool.opened < MAX_READERS {
                pool.opened += 1;
                drop(pool);
                return self.open_reader().inspect_err(|_| {
                    if let Ok(mut pool) = self.readers.lock() {
                        pool.opened -= 1;
                    }
                });
            }
            pool = self.reader_freed.wait(pool).map_err(|_| poisoned())?;
        }
    }

    fn open_reader(&self) -> Result<Connection, StoreError> {
        let conn = open_connection(&self.path, OpenMode::MustExist)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(unavailable)?;
        // A small page cache each: the OS page cache holds the hot pages anyway. Readers also
        // write (outbox leases), so they get the writer's checkpoint backstop, not SQLite's.
        conn.execute_batch(&format!(
            "PRAGMA cache_size = -256; PRAGMA wal_autocheckpoint = {CHECKPOINT_BACKSTOP_PAGES}"
        ))
        .map_err(unavailable)?;
        Ok(conn)
    }
}

fn open_connection(path: &Path, mode: OpenMode) -> Result<Connection, StoreError> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if mode == OpenMode::CreateIfMissing {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn =
        Connection::open_with_flags(path, flags).map_err(|e| classify_open_error(path, e))?;
    // Query-planner stability: without it, this SQLite (STAT4, `LIMIT ?`) marks bound parameters
    // as plan-changing and re-parses the statement on every execution; a profile of the load
    // test showed a fifth of the CPU in that re-parse. Our statements have one good plan each.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )
    .map_err(unavailable)?;
    Ok(conn)
}

fn classify_open_error(path: &Path, e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => not_ours(path, "not an SQLite database"),
        Some(ErrorCode::DatabaseCorrupt) => not_ours(path, format!("damaged or truncated: {e}")),
        Some(ErrorCode::CannotOpen) => not_ours(path, format!("cannot open: {e}")),
        _ => unavailable(e),
    }
}

/// Read-only checks before anything is written: is this SQLite, is it ours, is it too new?
fn inspect(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let read = |sql: &str| conn.query_row(sql, [], |row| row.get::<_, i64>(0));
    let app_id = read("PRAGMA application_id").map_err(|e| classify_open_error(path, e))?;
    let tables =
        read("SELECT count(*) FROM sqlite_master").map_err(|e| classify_open_error(path, e))?;
    if app_id == 0 && tables == 0 {
        return Ok(());
    }
    if app_id != i64::from(APPLICATION_ID) {
        return Err(not_ours(
            path,
            format!("a SQLite database of another application (application_id {app_id:#x})"),
        ));
    }
    let found = read("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
        .map_err(|e| classify_open_error(path, e))?;
    let found = u32::try_from(found).map_err(|_| not_ours(path, "schema version out of range"))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    // Touch every page of the catalogue so a truncated file is refused here, not mid-run.
    conn.query_row("PRAGMA quick_check(1)", [], |row| row.get::<_, String>(0))
        .map_err(|e| classify_open_error(path, e))
        .and_then(|verdict| {
            if verdict == "ok" {
                Ok(())
            } else {
                Err(not_ours(path, verdict))
            }
        })
}

fn configure(conn: &Connection) -> Result<(), rusqlite::Error> {
    conn.query_row("PRAGMA journal_mode = WAL", [], |row| {
        row.get::<_, String>(0)
    })?;
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
}

fn migrate(conn: &Connection) -> Result<(), rusqlite::Error> {
    let has_table: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
        [],
        |row| row.get(0),
    )?;
    let current: u32 = if has_table == 0 {
        0
    } else {
        conn.query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            [],
            |row| row.get(0),
        )?
    };
    for (version, description, sql) in MIGRATIONS.iter().filter(|(v, _, _)| *v > current) {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let applied = conn
            .execute_batch(sql)
            .and_then(|()| {
                conn.execute(
                    "INSERT INTO schema_migrations (version, description) VALUES (?1, ?2)",
                    params![version, description],
                )
            })
            .and_then(|_| conn.execute_batch(&format!("PRAGMA application_id = {APPLICATION_ID}")));
        match applied {
            Ok(()) => conn.execute_batch("COMMIT")?,
            Err(e) => {
                conn.execute_batch("ROLLBACK")?;
                return Err(e);
            }
        }
    }
    Ok(())
}

struct SqliteWriter {
    conn: Connection,
    heads: Heads,
}

impl BatchWriter for SqliteWriter {
    fn write_batch(&mut self, batch: &[AppendRequest]) -> Vec<Result<AppendOutcome, StoreError>> {
        // The fast path runs the whole batch in one transaction without savepoints; if any
        // append is refused, it is rolled back and the batch runs again with a savepoint per
        // append, so a refusal never takes its neighbours with it.
        let results = match self.write_fast(batch) {
            Ok(Some(results)) => Ok(results),
            Ok(None) => self.write_isolated(batch),
            Err(e) => Err(e),
        };
        match results {
            Ok(results) => {
                self.heads.commit();
                results
            }
            Err(e) => {
                self.heads.roll_back();
                batch.iter().map(|_| Err(unavailable_text(&e))).collect()
            }
        }
    }
}

impl SqliteWriter {
    fn write_fast(
        &mut self,
        batch: &[AppendRequest],
    ) -> Result<Option<Vec<Result<AppendOutcome, StoreError>>>, rusqlite::Error> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut results = Vec::with_capacity(batch.len());
        for request in batch {
            match append_one(&tx, request, &mut self.heads) {
                Ok(outcome) => results.push(Ok(outcome)),
                Err(_) => {
                    self.heads.roll_back();
                    tx.rollback()?;
                    return Ok(None);
                }
            }
        }
        tx.commit()?;
        Ok(Some(results))
    }

    fn write_isolated(
        &mut self,
        batch: &[AppendRequest],
    ) -> Result<Vec<Result<AppendOutcome, StoreError>>, rusqlite::Error> {
        let mut tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut results = Vec::with_capacity(batch.len());
        for request in batch {
            let mut sp = tx.savepoint()?;
            // A refused append leaves `pending` untouched: heads are noted only on success.
            match append_one(&sp, request, &mut self.heads) {
                Ok(outcome) => {
                    sp.commit()?;
                    results.push(Ok(outcome));
                }
                Err(e) => {
                    sp.rollback()?;
                    results.push(Err(e));
                }
            }
        }
        tx.commit()?;
        Ok(results)
    }
}

fn unavailable_text(e: &rusqlite::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation)
}

fn append_one(
    conn: &Connection,
    request: &AppendRequest,
    heads: &mut Heads,
) -> Result<AppendOutcome, StoreError> {
    let stream = request.stream();
    let final_version = request.final_version();
    let recorded_at = nanos(request.recorded_at(), "recorded_at")?;
    if let Some(message_id) = request.rail_message_id() {
        let inserted = conn
            .prepare_cached(
                "INSERT INTO rail_messages (message_id, stream_id, version, recorded_at)
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (message_id) DO NOTHING",
            )
            .and_then(|mut s| {
                s.execute(params![
                    message_id,
                    stream.as_str(),
                    final_version,
                    recorded_at
                ])
            })
            .map_err(unavailable)?;
        if inserted == 0 {
            let prior = find_rail_message(conn, message_id)?;
            return prior
                .map(AppendOutcome::AlreadyApplied)
                .ok_or_else(|| StoreError::Unavailable("rail message claim vanished".into()));
        }
    }
    if let Some(claim) = request.idempotency() {
        let inserted = conn
            .prepare_cached(
                "INSERT INTO idempotency_keys (key, stream_id, version, fingerprint, recorded_at)
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (key) DO NOTHING",
            )
            .and_then(|mut s| {
                s.execute(params![
                    claim.key(),
                    stream.as_str(),
                    final_version,
                    &claim.fingerprint()[..],
                    recorded_at
                ])
            })
            .map_err(unavailable)?;
        if inserted == 0 {
            let Some((prior, fingerprint)) = find_idempotency(conn, claim.key())? else {
                return Err(StoreError::Unavailable("idempotency claim vanished".into()));
            };
            if fingerprint != *claim.fingerprint() {
                return Err(StoreError::IdempotencyConflict {
                    key: claim.key().to_owned(),
                    stream: prior.stream,
                });
            }
            return Ok(AppendOutcome::AlreadyApplied(prior));
        }
    }
    insert_events(conn, request, recorded_at, heads)
}

fn insert_events(
    conn: &Connection,
    request: &AppendRequest,
    recorded_at: i64,
    heads: &mut Heads,
) -> Result<AppendOutcome, StoreError> {
    let stream = request.stream();
    let expected = request.expected_version();
    let conflict = |conn: &Connection| -> StoreError {
        match stream_version(conn, stream) {
            Ok(actual) => StoreError::Conflict {
                stream: stream.clone(),
                expected,
                actual,
            },
            Err(e) => e,
        }
    };
    let mut prev = match predecessor(conn, stream, expected, heads)? {
        Some(hash) => hash,
        None => return Err(conflict(conn)),
    };
    let mut insert = conn
        .prepare_cached(
            "INSERT INTO events (stream_id, version, event_type, schema_version, occurred_at,
                recorded_at, correlation_id, causation_id, payload, prev_hash, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )
        .map_err(unavailable)?;
    for (version, event) in (expected + 1..).zip(request.events()) {
        let (hash, _) = event.seal(stream, version, request.recorded_at(), &prev);
        let inserted = insert.execute(params![
            stream.as_str(),
            version,
            event.event_type(),
            event.schema_version(),
            nanos(event.occurred_at(), "occurred_at")?,
            recorded_at,
            event.correlation_id(),
            event.causation_id(),
            event.payload(),
            &prev.as_bytes()[..],
            &hash.as_bytes()[..],
        ]);
        match inserted {
            Ok(_) => prev = hash,
            // The unique (stream_id, version) constraint is what detects a concurrent writer.
            Err(e) if is_unique_violation(&e) => return Err(conflict(conn)),
            Err(e) => return Err(unavailable(e)),
        }
    }
    insert_outbox(conn, request, recorded_at)?;
    heads.note(stream, request.final_version(), prev);
    Ok(AppendOutcome::Committed(Committed {
        stream: stream.clone(),
        first_version: expected + 1,
        last_version: request.final_version(),
    }))
}

/// The hash version `expected` of `stream` ends with (genesis for a new stream), remembered or
/// read back; `None` when the stream is shorter than that.
fn predecessor(
    conn: &Connection,
    stream: &StreamId,
    expected: u32,
    heads: &Heads,
) -> Result<Option<EventHash>, StoreError> {
    if expected == 0 {
        return Ok(Some(EventHash::GENESIS));
    }
    if let Some(hash) = heads.get(stream, expected) {
        return Ok(Some(hash));
    }
    let stored: Option<Vec<u8>> = conn
        .prepare_cached("SELECT hash FROM events WHERE stream_id = ?1 AND version = ?2")
        .and_then(|mut s| {
            s.query_row(params![stream.as_str(), expected], |row| row.get(0))
                .optional()
        })
        .map_err(unavailable)?;
    stored
        .map(|bytes| {
            EventHash::from_slice(&bytes)
                .ok_or_else(|| corrupt(stream, expected, "hash is not 32 bytes"))
        })
        .transpose()
}

fn insert_outbox(
    conn: &Connection,
    request: &AppendRequest,
    recorded_at: i64,
) -> Result<(), StoreError> {
    for message in request.outbox() {
        let inserted = conn
            .prepare_cached(
                "INSERT INTO outbox (id, destination, payload, stream_id, version, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    message.id(),
                    message.destination(),
                    message.payload(),
                    request.stream().as_str(),
                    request.final_version(),
                    recorded_at
                ])
            });
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::InvalidAppend(format!(
                    "outbox id {} is already used",
                    message.id()
                )));
            }
            Err(e) => return Err(unavailable(e)),
        }
    }
    Ok(())
}

fn corrupt(stream: &StreamId, version: u32, why: &str) -> StoreError {
    StoreError::Corrupt {
        stream: stream.clone(),
        version,
        why: why.to_owned(),
    }
}

fn stream_version(conn: &Connection, stream: &StreamId) -> Result<u32, StoreError> {
    conn.prepare_cached("SELECT COALESCE(MAX(version), 0) FROM events WHERE stream_id = ?1")
        .and_then(|mut s| s.query_row([stream.as_str()], |row| row.get(0)))
        .map_err(unavailable)
}

fn prior(stream: String, version: u32) -> Result<PriorResult, StoreError> {
    Ok(PriorResult {
        stream: StreamId::parse(&stream)?,
        version,
    })
}

fn find_rail_message(
    conn: &Connection,
    message_id: &str,
) -> Result<Option<PriorResult>, StoreError> {
    let row: Option<(String, u32)> = conn
        .prepare_cached("SELECT stream_id, version FROM rail_messages WHERE message_id = ?1")
        .and_then(|mut s| {
            s.query_row([message_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(unavailable)?;
    row.map(|(stream, version)| prior(stream, version))
        .transpose()
}

fn find_idempotency(
    conn: &Connection,
    key: &str,
) -> Result<Option<(PriorResult, [u8; 32])>, StoreError> {
    let row: Option<(String, u32, Vec<u8>)> = conn
        .prepare_cached(
            "SELECT stream_id, version, fingerprint FROM idempotency_keys WHERE key = ?1",
        )
        .and_then(|mut s| {
            s.query_row([key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()
        })
        .map_err(unavailable)?;
    let Some((stream, version, fingerprint)) = row else {
        return Ok(None);
    };
    let fingerprint = <[u8; 32]>::try_from(fingerprint.as_slice()).map_err(|_| {
        StoreError::Unavailable(format!("idempotency key {key:?} has a damaged fingerprint"))
    })?;
    Ok(Some((prior(stream, version)?, fingerprint)))
}

/// One stored row, decoded. A row that cannot be decoded is reported as corrupt, naming it.
fn decode(row: &rusqlite::Row<'_>) -> Result<Result<RecordedEvent, StoreError>, rusqlite::Error> {
    let stream: String = row.get(0)?;
    let version: u32 = row.get(1)?;
    let position: i64 = row.get(2)?;
    let event_type: String = row.get(3)?;
    let schema_version: u16 = row.get(4)?;
    let occurred_at: i64 = row.get(5)?;
    let recorded_at: i64 = row.get(6)?;
    let correlation: Option<String> = row.get(7)?;
    let causation: Option<String> = row.get(8)?;
    let payload: String = row.get(9)?;
    let prev_hash: Vec<u8> = row.get(10)?;
    let hash: Vec<u8> = row.get(11)?;
    Ok(build_recorded(RawRow {
        stream,
        version,
        position,
        event_type,
        schema_version,
        occurred_at,
        recorded_at,
        correlation,
        causation,
        payload,
        prev_hash,
        hash,
    }))
}

fn query_events(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let mut statement = conn.prepare_cached(sql).map_err(unavailable)?;
    let rows = statement.query_map(params, decode).map_err(unavailable)?;
    let mut events = Vec::new();
    for row in rows {
        events.push(row.map_err(unavailable)??);
    }
    Ok(events)
}

impl EventStore for SqliteStore {
    fn append(&self, request: AppendRequest) -> Result<AppendOutcome, StoreError> {
        self.writer.append(request)
    }

    fn append_batch(&self, requests: Vec<AppendRequest>) -> Vec<Result<AppendOutcome, StoreError>> {
        self.writer.append_batch(requests)
    }

    fn read_stream(&self, stream: &StreamId) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!("{SELECT_EVENT} WHERE stream_id = ?1 ORDER BY version");
        self.with_reader(|conn| query_events(conn, &sql, [stream.as_str()]))
    }

    fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql =
            format!("{SELECT_EVENT} WHERE global_position > ?1 ORDER BY global_position LIMIT ?2");
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with_reader(|conn| query_events(conn, &sql, params![after, limit]))
    }

    fn list_streams(
        &self,
        after: Option<&StreamId>,
        limit: usize,
    ) -> Result<Vec<StreamId>, StoreError> {
        let after = after.map_or("", StreamId::as_str).to_owned();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with_reader(|conn| {
            let mut statement = conn
                .prepare_cached(
                    "SELECT DISTINCT stream_id FROM events WHERE stream_id > ?1 ORDER BY stream_id LIMIT ?2",
                )
                .map_err(unavailable)?;
            let rows = statement.query_map(params![after, limit], |row| row.get::<_, String>(0)).map_err(unavailable)?;
            let mut streams = Vec::new();
            for row in rows {
                streams.push(StreamId::parse(&row.map_err(unavailable)?)?);
            }
            Ok(streams)
        })
    }

    fn find_idempotency(&self, key: &str) -> Result<Option<(PriorResult, [u8; 32])>, StoreError> {
        self.with_reader(|conn| find_idempotency(conn, key))
    }

    fn find_rail_message(&self, message_id: &str) -> Result<Option<PriorResult>, StoreError> {
        self.with_reader(|conn| find_rail_message(conn, message_id))
    }

    fn claim_outbox(
        &self,
        owner: &str,
        now: Timestamp,
        lease_nanos: i64,
        limit: usize,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let now_nanos = nanos(now, "now")?;
        let until = now_nanos.saturating_add(lease_nanos);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with_reader(|conn| {
            let mut statement = conn
                .prepare_cached(
                    "UPDATE outbox SET lease_owner = ?1, lease_until = ?2, claims = claims + 1
                     WHERE seq IN (SELECT seq FROM outbox
                                   WHERE delivered_at IS NULL AND (lease_until IS NULL OR lease_until <= ?3 OR lease_owner = ?1)
                                   ORDER BY seq LIMIT ?4)
                     RETURNING id, destination, payload, claims",
                )
                .map_err(unavailable)?;
            let rows = statement
                .query_map(params![owner, until, now_nanos, limit], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?, row.get::<_, u32>(3)?))
                })
                .map_err(unavailable)?;
            let mut items = Vec::new();
            for row in rows {
                let (id, destination, payload, claims) = row.map_err(unavailable)?;
                items.push(OutboxItem { message: OutboxMessage::new(&id, &destination, payload)?, claims });
            }
            Ok(items)
        })
    }

    fn complete_outbox(&self, id: &str, owner: &str, now: Timestamp) -> Result<bool, StoreError> {
        let now = nanos(now, "now")?;
        self.with_reader(|conn| {
            conn.prepare_cached(
                "UPDATE outbox SET delivered_at = ?3 WHERE id = ?1 AND lease_owner = ?2 AND delivered_at IS NULL",
            )
            .and_then(|mut s| s.execute(params![id, owner, now]))
            .map(|changed| changed == 1)
            .map_err(unavailable)
        })
    }

    fn pending_outbox(&self) -> Result<usize, StoreError> {
        self.with_reader(|conn| {
            conn.query_row(
                "SELECT count(*) FROM outbox WHERE delivered_at IS NULL",
                [],
                |row| row.get::<_, i64>(0),
            )
            .map(|n| usize::try_from(n).unwrap_or(0))
            .map_err(unavailable)
        })
    }
}
