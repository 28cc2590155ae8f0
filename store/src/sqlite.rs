//! The SQLite adapter, the embedded default: WAL, `synchronous=FULL`, group commit through one
//! writer thread, triggers that refuse UPDATE and DELETE, versioned migrations.

use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

use core_npp::Timestamp;
use event_store::{
    AppendOutcome, AppendRequest, Attempt, EventHash, EventStore, GroupOutcome, MAX_OUTBOX_PAGE,
    OutboxClaim, OutboxEntry, OutboxItem, OutboxQuery, PriorResult, RailMessageRecord,
    RecordedEvent, StoreError, StreamId, outbox_error,
};
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, params};

use crate::SCHEMA_VERSION;
use crate::append::{ClaimRow, Engine, EventRow, OutboxRow, UnitResult, write_batch};
use crate::checkpoint::Checkpointer;
use crate::group_commit::{BatchWriter, GroupCommit};
use crate::heads::Heads;
use crate::row::{
    OUTBOX_ENTRY_COLUMNS, OutboxColumns, RailMessageColumns, RawRow, at, build_recorded,
    corrupt_row, count_from_db, event_row, fingerprint_from_db, nanos, outbox_item,
    outbox_status_sql, prior_from_db, stream_from_db, timestamp_from_db, version_from_db,
};

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
    // The numbering is shared with PostgreSQL, whose version 4 adds a function SQLite needs not.
    (4, "npp_claims_free (PostgreSQL only)", "SELECT 1"),
    (
        5,
        "outbox deliveries given up on, their attempts and last error",
        V5,
    ),
    (
        6,
        "rail messages keep their raw payload, listed by stream",
        V6,
    ),
];

/// A rail message claim keeps the message as received, in a table of its own: the claims table
/// is `WITHOUT ROWID`, keyed by message id, where rows of kilobytes inserted at random keys would
/// split pages on every commit (measured: a sixth off the end-to-end rate), while this one is
/// appended to in rowid order. A claim made before, or by a rail that gives no message, has no
/// row here. A stream's claims and outbox messages are found by an index instead of a scan.
const V6: &str = "
CREATE TABLE rail_message_payloads (
    message_id  TEXT    NOT NULL UNIQUE,
    payload     TEXT    NOT NULL
);
CREATE TRIGGER rail_message_payloads_no_update BEFORE UPDATE ON rail_message_payloads
    BEGIN SELECT RAISE(ABORT, 'rail message claims are append-only'); END;
CREATE TRIGGER rail_message_payloads_no_delete BEFORE DELETE ON rail_message_payloads
    BEGIN SELECT RAISE(ABORT, 'rail message claims are append-only'); END;
CREATE INDEX rail_messages_by_stream ON rail_messages (stream_id, version);
CREATE INDEX outbox_by_stream ON outbox (stream_id, version);
";

/// A delivery can be given up on (`failed_at`) and keeps what its last attempt said.
const V5: &str = "
ALTER TABLE outbox ADD COLUMN failed_at INTEGER;
ALTER TABLE outbox ADD COLUMN last_error TEXT;
ALTER TABLE outbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
DROP INDEX outbox_undelivered;
CREATE INDEX outbox_pending ON outbox (destination, seq) WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX outbox_failed ON outbox (seq) WHERE failed_at IS NOT NULL;
";

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
    /// Refuse a missing file; migrate an older schema (operator commands that write).
    MustExist,
    /// Read only, for verification and inspection: nothing is created, migrated or written, so a
    /// read-only copy (an auditor's) can be checked and a missing, empty or foreign file is
    /// refused as it is.
    ReadOnly,
}

#[derive(Default)]
struct ReaderPool {
    idle: Vec<Connection>,
    opened: usize,
}

/// The SQLite event store.
pub struct SqliteStore {
    path: PathBuf,
    /// `None` when opened read-only.
    writer: Option<GroupCommit<SqliteWriter>>,
    _checkpointer: Option<Checkpointer>,
    readers: Mutex<ReaderPool>,
    reader_freed: Condvar,
    /// How readers open: normally, or read-only (possibly immutable, see `open_read_only`).
    reader_access: Access,
}

/// How a connection opens the file.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Access {
    ReadWrite,
    ReadOnly,
    /// Read-only on a file nothing may write meanwhile (`immutable=1`): for a read-only copy
    /// whose directory does not let SQLite create the WAL index beside it.
    Immutable,
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
        if mode != OpenMode::CreateIfMissing {
            must_be_a_file(path)?;
        } else if path.is_dir() {
            return Err(not_ours(path, "is a directory, not a database file"));
        }
        if mode == OpenMode::ReadOnly {
            return Self::open_read_only(path);
        }
        let create = mode == OpenMode::CreateIfMissing;
        let conn = open_connection(path, Access::ReadWrite, create)?;
        // Wait for another process opening the same file at the same moment, never fail on it.
        conn.busy_timeout(BUSY_TIMEOUT).map_err(unavailable)?;
        inspect(&conn, path, false)?;
        configure_waiting(&conn).map_err(|e| classify_open_error(path, e))?;
        migrate(&conn, path)?;
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
        let checkpointing = open_connection(path, Access::ReadWrite, false)?;
        // Checkpoints copy frames straight from the WAL; they need no page cache to speak of.
        // FULL: the database file is fsynced before the WAL may be reused.
        checkpointing
            .execute_batch("PRAGMA cache_size = -64; PRAGMA synchronous = FULL")
            .map_err(unavailable)?;
        let checkpointer = Checkpointer::spawn(checkpointing)?;
        Ok(Self {
            path: path.to_owned(),
            writer: Some(writer),
            _checkpointer: Some(checkpointer),
            readers: Mutex::new(ReaderPool::default()),
            reader_freed: Condvar::new(),
            reader_access: Access::ReadWrite,
        })
    }

    /// Opens for reading only: no writer, no checkpointer, no migration, no pragma that writes.
    fn open_read_only(path: &Path) -> Result<Self, StoreError> {
        let mut access = Access::ReadOnly;
        let conn = open_connection(path, access, false)?;
        let checked = inspect(&conn, path, true);
        let checked = match checked {
            // A WAL database needs its index file beside it; where that cannot be made (a
            // read-only directory), read the file as immutable instead.
            Err(StoreError::Unavailable(_)) | Err(StoreError::NotAnEventStore { .. })
                if cannot_make_wal_index(&conn) =>
            {
                access = Access::Immutable;
                let conn = open_connection(path, access, false)?;
                inspect(&conn, path, true)
            }
            other => other,
        };
        checked?;
        Ok(Self {
            path: path.to_owned(),
            writer: None,
            _checkpointer: None,
            readers: Mutex::new(ReaderPool::default()),
            reader_freed: Condvar::new(),
            reader_access: access,
        })
    }

    fn writer(&self) -> Result<&GroupCommit<SqliteWriter>, StoreError> {
        self.writer
            .as_ref()
            .ok_or_else(|| StoreError::ReadOnly(self.path.display().to_string()))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs one of the outbox's lease-holder updates (`?1` id, `?2` owner, `?3` a time, `?4`
    /// why, `?5` the attempts to count) on the writer's connection; whether it changed the row.
    fn outbox_update(
        &self,
        sql: &'static str,
        id: &str,
        owner: &str,
        at: i64,
        why: &str,
        attempt: Attempt,
    ) -> Result<bool, StoreError> {
        let counted = attempt.counted();
        let writer = self.writer()?;
        let (id, owner, why) = (
            id.to_owned(),
            owner.to_owned(),
            outbox_error(why).to_owned(),
        );
        writer.run_task(move |w: &mut SqliteWriter| {
            w.conn
                .prepare_cached(sql)
                .and_then(|mut s| s.execute(params![id, owner, at, why, counted]))
                .map(|changed| changed == 1)
                .map_err(unavailable)
        })
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
        let conn = open_connection(&self.path, self.reader_access, false)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(unavailable)?;
        if self.reader_access != Access::ReadWrite {
            return Ok(conn);
        }
        // A small page cache each: the OS page cache holds the hot pages anyway. Readers do not
        // write (outbox leases run on the writer's thread); should one ever commit, it gets the
        // writer's checkpoint backstop, not SQLite's.
        conn.execute_batch(&format!(
            "PRAGMA cache_size = -256; PRAGMA wal_autocheckpoint = {CHECKPOINT_BACKSTOP_PAGES}"
        ))
        .map_err(unavailable)?;
        Ok(conn)
    }
}

/// How long a connection waits for another process's lock (a migration at first use, a
/// checkpoint) before giving up.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

fn must_be_a_file(path: &Path) -> Result<(), StoreError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Err(not_ours(path, "is a directory, not a database file")),
        Ok(meta) if meta.len() == 0 => Err(not_ours(
            path,
            "the file is empty (0 bytes): it holds no event store",
        )),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(not_ours(path, "no such file")),
        Err(e) => Err(not_ours(path, format!("cannot read it: {e}"))),
    }
}

/// `path` as an SQLite URI with `immutable=1`.
fn immutable_uri(path: &Path) -> String {
    let mut uri = String::from("file:");
    for c in path.display().to_string().chars() {
        match c {
            '?' | '#' | '%' | ' ' => uri.push_str(&format!("%{:02X}", u32::from(c))),
            other => uri.push(other),
        }
    }
    uri.push_str("?immutable=1");
    uri
}

/// Whether reading failed because SQLite could not create the WAL index (`-shm`) beside a
/// read-only database.
fn cannot_make_wal_index(conn: &Connection) -> bool {
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |row| {
        row.get::<_, i64>(0)
    })
    .err()
    .and_then(|e| e.sqlite_error_code())
    .is_some_and(|code| matches!(code, ErrorCode::CannotOpen | ErrorCode::ReadOnly))
}

fn open_connection(path: &Path, access: Access, create: bool) -> Result<Connection, StoreError> {
    let opened = match access {
        Access::ReadWrite => {
            let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            if create {
                flags |= OpenFlags::SQLITE_OPEN_CREATE;
            }
            Connection::open_with_flags(path, flags)
        }
        Access::ReadOnly => Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        ),
        Access::Immutable => Connection::open_with_flags(
            immutable_uri(path),
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        ),
    };
    let conn = opened.map_err(|e| classify_open_error(path, e))?;
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

/// Read-only checks before anything is written: is this SQLite, is it ours, is it too new? An
/// empty database is fine to create a store in, but not to read one from (`must_hold_store`).
fn inspect(conn: &Connection, path: &Path, must_hold_store: bool) -> Result<(), StoreError> {
    // One read transaction, so every answer comes from the same snapshot: read one by one, a
    // process creating the store at this moment could commit between the application id (still
    // 0) and the table count (no longer 0), and a store being born would look like a stranger's.
    conn.execute_batch("BEGIN DEFERRED")
        .map_err(|e| classify_open_error(path, e))?;
    let checked = inspect_snapshot(conn, path, must_hold_store);
    let ended = conn.execute_batch("COMMIT");
    checked?;
    ended.map_err(|e| classify_open_error(path, e))
}

fn inspect_snapshot(
    conn: &Connection,
    path: &Path,
    must_hold_store: bool,
) -> Result<(), StoreError> {
    let read = |sql: &str| conn.query_row(sql, [], |row| row.get::<_, i64>(0));
    let app_id = read("PRAGMA application_id").map_err(|e| classify_open_error(path, e))?;
    let tables =
        read("SELECT count(*) FROM sqlite_master").map_err(|e| classify_open_error(path, e))?;
    if app_id == 0 && tables == 0 {
        return if must_hold_store {
            Err(not_ours(
                path,
                "an empty SQLite database: it holds no event store",
            ))
        } else {
            Ok(())
        };
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

/// [`configure`], waiting up to [`BUSY_TIMEOUT`] while another process holds the lock: switching
/// to WAL takes it, and SQLite answers busy at once there instead of calling the busy handler
/// (processes opening a new file together met it).
fn configure_waiting(conn: &Connection) -> Result<(), rusqlite::Error> {
    let started = std::time::Instant::now();
    loop {
        match configure(conn) {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == ErrorCode::DatabaseBusy && started.elapsed() < BUSY_TIMEOUT =>
            {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            other => return other,
        }
    }
}

fn configure(conn: &Connection) -> Result<(), rusqlite::Error> {
    conn.query_row("PRAGMA journal_mode = WAL", [], |row| {
        row.get::<_, String>(0)
    })?;
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
}

/// The newest migration applied, read inside the caller's transaction.
fn applied_version(conn: &Connection, path: &Path) -> Result<u32, StoreError> {
    let has_table: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
            [],
            |row| row.get(0),
        )
        .map_err(|e| classify_open_error(path, e))?;
    if has_table == 0 {
        return Ok(0);
    }
    let describe = || "the newest migration".to_owned();
    let raw: i64 = conn
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            [],
            |row| row.get(0),
        )
        .map_err(|e| read_failure(e, "schema_migrations", "version", &describe))?;
    version_from_db(raw, true, "schema_migrations", &describe)
}

/// Applies every pending migration in one exclusive transaction. The version is read inside it,
/// so processes opening a new file at the same moment queue on the lock and each finds the work
/// done by the first, instead of racing to create the same tables.
fn migrate(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let failed = |e| classify_open_error(path, e);
    conn.execute_batch("BEGIN EXCLUSIVE").map_err(failed)?;
    let applied = (|| {
        let current = applied_version(conn, path)?;
        if current > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                found: current,
                supported: SCHEMA_VERSION,
            });
        }
        for (version, description, sql) in MIGRATIONS.iter().filter(|(v, _, _)| *v > current) {
            conn.execute_batch(sql).map_err(failed)?;
            conn.execute(
                "INSERT INTO schema_migrations (version, description) VALUES (?1, ?2)",
                params![version, description],
            )
            .map_err(failed)?;
            conn.execute_batch(&format!("PRAGMA application_id = {APPLICATION_ID}"))
                .map_err(failed)?;
        }
        Ok(())
    })();
    match applied {
        Ok(()) => conn.execute_batch("COMMIT").map_err(failed),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

struct SqliteWriter {
    conn: Connection,
    heads: Heads,
}

impl BatchWriter for SqliteWriter {
    fn write_batch(&mut self, units: &[Vec<AppendRequest>]) -> Vec<UnitResult> {
        if !self.conn.is_autocommit() {
            // A backstop: nothing may carry a transaction from one hand-off into the next.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        let mut engine = SqliteEngine { conn: &self.conn };
        match write_batch(&mut engine, &mut self.heads, units) {
            Ok(results) => results,
            Err(e) => {
                // Whatever failed, leave no transaction open for the next batch.
                let _ = self.conn.execute_batch("ROLLBACK");
                units.iter().map(|_| Err(e.clone())).collect()
            }
        }
    }
}

/// SQLite as an append [`Engine`]: one connection, `BEGIN IMMEDIATE`, one savepoint level.
struct SqliteEngine<'a> {
    conn: &'a Connection,
}

impl SqliteEngine<'_> {
    fn run(&self, sql: &str) -> Result<(), StoreError> {
        self.conn.execute_batch(sql).map_err(unavailable)
    }

    /// Runs `insert` for each row; `false` at the first unique-key violation.
    fn insert_each<R>(
        &self,
        sql: &str,
        rows: &[R],
        insert: impl Fn(&mut rusqlite::CachedStatement<'_>, &R) -> rusqlite::Result<usize>,
    ) -> Result<bool, StoreError> {
        let mut statement = self.conn.prepare_cached(sql).map_err(unavailable)?;
        for row in rows {
            match insert(&mut statement, row) {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => return Ok(false),
                Err(e) => return Err(unavailable(e)),
            }
        }
        Ok(true)
    }

    /// Runs `insert ... ON CONFLICT DO NOTHING` for each claim; `false` if any was there.
    fn claim_each(
        &self,
        sql: &str,
        claims: &[ClaimRow<'_>],
        values: impl Fn(&ClaimRow<'_>, i64) -> Vec<rusqlite::types::Value>,
    ) -> Result<bool, StoreError> {
        let mut statement = self.conn.prepare_cached(sql).map_err(unavailable)?;
        for claim in claims {
            let at = nanos(claim.recorded_at, "recorded_at")?;
            let inserted = statement
                .execute(rusqlite::params_from_iter(values(claim, at)))
                .map_err(unavailable)?;
            if inserted == 0 {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

fn text(value: &str) -> rusqlite::types::Value {
    rusqlite::types::Value::Text(value.to_owned())
}

impl Engine for SqliteEngine<'_> {
    fn begin(&mut self) -> Result<(), StoreError> {
        self.run("BEGIN IMMEDIATE")
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        self.run("COMMIT")
    }

    fn rollback(&mut self) -> Result<(), StoreError> {
        self.run("ROLLBACK")
    }

    fn savepoint(&mut self) -> Result<(), StoreError> {
        self.run("SAVEPOINT npp_unit")
    }

    fn release_savepoint(&mut self) -> Result<(), StoreError> {
        self.run("RELEASE npp_unit")
    }

    fn rollback_to_savepoint(&mut self) -> Result<(), StoreError> {
        self.run("ROLLBACK TO npp_unit")
    }

    fn read_heads(
        &mut self,
        wanted: &[(&StreamId, u32)],
    ) -> Result<Vec<Option<EventHash>>, StoreError> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT hash FROM events WHERE stream_id = ?1 AND version = ?2")
            .map_err(unavailable)?;
        wanted
            .iter()
            .map(|(stream, version)| {
                let stored: Option<Vec<u8>> = statement
                    .query_row(params![stream.as_str(), version], |row| row.get(0))
                    .optional()
                    .map_err(|e| read_failure(e, "events", "hash", &|| at(stream, *version)))?;
                stored
                    .map(|bytes| {
                        EventHash::from_slice(&bytes).ok_or_else(|| StoreError::Corrupt {
                            stream: (*stream).clone(),
                            version: *version,
                            what: format!("hash is {} bytes, not 32", bytes.len()),
                        })
                    })
                    .transpose()
            })
            .collect()
    }

    fn stream_version(&mut self, stream: &StreamId) -> Result<u32, StoreError> {
        stream_version(self.conn, stream)
    }

    fn claim_rail_messages(&mut self, claims: &[ClaimRow<'_>]) -> Result<bool, StoreError> {
        let claimed = self.claim_each(
            "INSERT INTO rail_messages (message_id, stream_id, version, recorded_at)
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (message_id) DO NOTHING",
            claims,
            |c, at| {
                vec![
                    text(c.key),
                    text(c.stream.as_str()),
                    rusqlite::types::Value::Integer(i64::from(c.version)),
                    rusqlite::types::Value::Integer(at),
                ]
            },
        )?;
        if !claimed {
            return Ok(false);
        }
        // Every claim above is new, so its message id has no payload row yet.
        let mut statement = self
            .conn
            .prepare_cached(
                "INSERT INTO rail_message_payloads (message_id, payload) VALUES (?1, ?2)",
            )
            .map_err(unavailable)?;
        for claim in claims {
            if let Some(payload) = claim.payload {
                statement
                    .execute(params![claim.key, payload])
                    .map_err(unavailable)?;
            }
        }
        Ok(true)
    }

    fn find_rail_message(&mut self, message_id: &str) -> Result<Option<PriorResult>, StoreError> {
        find_rail_message(self.conn, message_id)
    }

    fn claim_idempotency_keys(&mut self, claims: &[ClaimRow<'_>]) -> Result<bool, StoreError> {
        if claims.iter().any(|c| c.fingerprint.is_none()) {
            return Err(StoreError::InvalidAppend(
                "an idempotency claim without a fingerprint".into(),
            ));
        }
        self.claim_each(
            "INSERT INTO idempotency_keys (key, stream_id, version, fingerprint, recorded_at)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (key) DO NOTHING",
            claims,
            |c, at| {
                vec![
                    text(c.key),
                    text(c.stream.as_str()),
                    rusqlite::types::Value::Integer(i64::from(c.version)),
                    rusqlite::types::Value::Blob(
                        c.fingerprint.map(|f| f.to_vec()).unwrap_or_default(),
                    ),
                    rusqlite::types::Value::Integer(at),
                ]
            },
        )
    }

    fn find_idempotency(
        &mut self,
        key: &str,
    ) -> Result<Option<(PriorResult, [u8; 32])>, StoreError> {
        find_idempotency(self.conn, key)
    }

    fn insert_events(&mut self, rows: &[EventRow<'_>]) -> Result<bool, StoreError> {
        let mut encoded = Vec::with_capacity(rows.len());
        for row in rows {
            encoded.push((
                nanos(row.event.occurred_at(), "occurred_at")?,
                nanos(row.recorded_at, "recorded_at")?,
            ));
        }
        self.insert_each(
            "INSERT INTO events (stream_id, version, event_type, schema_version, occurred_at,
                recorded_at, correlation_id, causation_id, payload, prev_hash, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            &rows.iter().zip(encoded).collect::<Vec<_>>(),
            |statement, (row, (occurred_at, recorded_at))| {
                statement.execute(params![
                    row.stream.as_str(),
                    row.version,
                    row.event.event_type(),
                    row.event.schema_version(),
                    occurred_at,
                    recorded_at,
                    row.event.correlation_id(),
                    row.event.causation_id(),
                    row.event.payload(),
                    &row.prev.as_bytes()[..],
                    &row.hash.as_bytes()[..],
                ])
            },
        )
    }

    fn insert_outbox(&mut self, rows: &[OutboxRow<'_>]) -> Result<bool, StoreError> {
        let mut encoded = Vec::with_capacity(rows.len());
        for row in rows {
            encoded.push((row, nanos(row.recorded_at, "recorded_at")?));
        }
        self.insert_each(
            "INSERT INTO outbox (id, destination, payload, stream_id, version, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            &encoded,
            |statement, (row, at)| {
                statement.execute(params![
                    row.message.id(),
                    row.message.destination(),
                    row.message.payload(),
                    row.stream.as_str(),
                    row.version,
                    at
                ])
            },
        )
    }
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation)
}

/// A read that failed on a value of the wrong type is corruption of that row; any other failure
/// is the database's.
fn read_failure(
    e: rusqlite::Error,
    table: &'static str,
    column: &'static str,
    row: &dyn Fn() -> String,
) -> StoreError {
    match e {
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::IntegralValueOutOfRange(..)
        | rusqlite::Error::Utf8Error(..) => corrupt_row(
            table,
            column,
            row(),
            format!("holds a value this store never writes ({e})"),
        ),
        other => unavailable(other),
    }
}

/// One column of `row`, of the type this store writes there.
fn column<T: rusqlite::types::FromSql>(
    row: &rusqlite::Row<'_>,
    index: usize,
    table: &'static str,
    name: &'static str,
    describe: &dyn Fn() -> String,
) -> Result<T, StoreError> {
    row.get::<_, T>(index)
        .map_err(|e| read_failure(e, table, name, describe))
}

fn stream_version(conn: &Connection, stream: &StreamId) -> Result<u32, StoreError> {
    let describe = || format!("stream {stream}");
    let raw: i64 = conn
        .prepare_cached("SELECT COALESCE(MAX(version), 0) FROM events WHERE stream_id = ?1")
        .and_then(|mut s| s.query_row([stream.as_str()], |row| row.get(0)))
        .map_err(|e| read_failure(e, "events", "version", &describe))?;
    version_from_db(raw, true, "events", &describe)
}

fn find_rail_message(
    conn: &Connection,
    message_id: &str,
) -> Result<Option<PriorResult>, StoreError> {
    let describe = || format!("key {message_id:?}");
    let mut statement = conn
        .prepare_cached("SELECT stream_id, version FROM rail_messages WHERE message_id = ?1")
        .map_err(unavailable)?;
    let mut rows = statement.query([message_id]).map_err(unavailable)?;
    let Some(row) = rows.next().map_err(unavailable)? else {
        return Ok(None);
    };
    let stream: String = column(row, 0, "rail_messages", "stream_id", &describe)?;
    let version: i64 = column(row, 1, "rail_messages", "version", &describe)?;
    prior_from_db("rail_messages", message_id, &stream, version).map(Some)
}

fn rail_messages(
    conn: &Connection,
    stream: &StreamId,
) -> Result<Vec<RailMessageRecord>, StoreError> {
    let table = "rail_messages";
    let mut statement = conn
        .prepare_cached(
            "SELECT r.message_id, r.stream_id, r.version, r.recorded_at, p.payload
             FROM rail_messages r LEFT JOIN rail_message_payloads p ON p.message_id = r.message_id
             WHERE r.stream_id = ?1 ORDER BY r.version",
        )
        .map_err(unavailable)?;
    let mut rows = statement.query([stream.as_str()]).map_err(unavailable)?;
    let mut records = Vec::new();
    while let Some(row) = rows.next().map_err(unavailable)? {
        let describe = || format!("a rail message of {stream}");
        let message_id: String = column(row, 0, table, "message_id", &describe)?;
        let describe = || format!("key {message_id:?}");
        let columns = RailMessageColumns {
            stream: column(row, 1, table, "stream_id", &describe)?,
            version: column(row, 2, table, "version", &describe)?,
            recorded_at: column(row, 3, table, "recorded_at", &describe)?,
            payload: column(row, 4, table, "payload", &describe)?,
            message_id,
        };
        records.push(columns.record()?);
    }
    Ok(records)
}

fn find_idempotency(
    conn: &Connection,
    key: &str,
) -> Result<Option<(PriorResult, [u8; 32])>, StoreError> {
    let describe = || format!("key {key:?}");
    let table = "idempotency_keys";
    let mut statement = conn
        .prepare_cached(
            "SELECT stream_id, version, fingerprint FROM idempotency_keys WHERE key = ?1",
        )
        .map_err(unavailable)?;
    let mut rows = statement.query([key]).map_err(unavailable)?;
    let Some(row) = rows.next().map_err(unavailable)? else {
        return Ok(None);
    };
    let stream: String = column(row, 0, table, "stream_id", &describe)?;
    let version: i64 = column(row, 1, table, "version", &describe)?;
    let fingerprint: Vec<u8> = column(row, 2, table, "fingerprint", &describe)?;
    Ok(Some((
        prior_from_db(table, key, &stream, version)?,
        fingerprint_from_db(key, &fingerprint)?,
    )))
}

/// One stored event row, decoded; a value this store never writes is reported as corrupt,
/// naming the row.
fn decode(row: &rusqlite::Row<'_>) -> Result<RecordedEvent, StoreError> {
    let position: i64 = column(row, 2, "events", "global_position", &|| {
        "an event row".to_owned()
    })?;
    let at_position = || format!("global position {position}");
    let stream: String = column(row, 0, "events", "stream_id", &at_position)?;
    let version: i64 = column(row, 1, "events", "version", &|| {
        format!("global position {position}, stream {stream:?}")
    })?;
    let describe = || event_row(position, &stream, version);
    let col =
        |index, name| -> Result<i64, StoreError> { column(row, index, "events", name, &describe) };
    let text = |index, name| -> Result<String, StoreError> {
        column(row, index, "events", name, &describe)
    };
    let optional = |index, name| -> Result<Option<String>, StoreError> {
        column(row, index, "events", name, &describe)
    };
    let blob = |index, name| -> Result<Vec<u8>, StoreError> {
        column(row, index, "events", name, &describe)
    };
    let raw = RawRow {
        event_type: text(3, "event_type")?,
        schema_version: col(4, "schema_version")?,
        occurred_at: col(5, "occurred_at")?,
        recorded_at: col(6, "recorded_at")?,
        correlation: optional(7, "correlation_id")?,
        causation: optional(8, "causation_id")?,
        payload: text(9, "payload")?,
        prev_hash: blob(10, "prev_hash")?,
        hash: blob(11, "hash")?,
        stream,
        version,
        position,
    };
    build_recorded(raw)
}

fn query_events(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let mut statement = conn.prepare_cached(sql).map_err(unavailable)?;
    let mut rows = statement.query(params).map_err(unavailable)?;
    let mut events = Vec::new();
    while let Some(row) = rows.next().map_err(unavailable)? {
        events.push(decode(row)?);
    }
    Ok(events)
}

/// An integer argument for SQLite (which takes i64); a position or limit past i64 is asked of
/// nobody, so it is refused rather than clamped.
fn sql_int(value: u64, what: &'static str) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::Unrepresentable {
        what,
        why: format!("{value} is over i64"),
    })
}

impl SqliteStore {
    /// Hand-offs waiting for the writer thread right now: the group-commit queue's depth
    /// (bounded; callers wait when it is full).
    pub fn writer_queue_depth(&self) -> usize {
        self.writer.as_ref().map_or(0, GroupCommit::depth)
    }
}

impl EventStore for SqliteStore {
    fn append(&self, request: AppendRequest) -> Result<AppendOutcome, StoreError> {
        self.writer()?.append(request)
    }

    fn append_batch(&self, requests: Vec<AppendRequest>) -> Vec<Result<AppendOutcome, StoreError>> {
        match self.writer() {
            Ok(writer) => writer.append_batch(requests),
            Err(e) => requests.iter().map(|_| Err(e.clone())).collect(),
        }
    }

    fn append_atomic(&self, requests: Vec<AppendRequest>) -> Result<GroupOutcome, StoreError> {
        self.writer()?.append_atomic(requests)
    }

    fn stream_version(&self, stream: &StreamId) -> Result<u32, StoreError> {
        self.with_reader(|conn| stream_version(conn, stream))
    }

    fn read_stream(&self, stream: &StreamId) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!("{SELECT_EVENT} WHERE stream_id = ?1 ORDER BY version");
        self.with_reader(|conn| query_events(conn, &sql, [stream.as_str()]))
    }

    fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql =
            format!("{SELECT_EVENT} WHERE global_position > ?1 ORDER BY global_position LIMIT ?2");
        let after = sql_int(after, "position")?;
        let limit = sql_int(limit as u64, "limit")?;
        self.with_reader(|conn| query_events(conn, &sql, params![after, limit]))
    }

    fn list_streams(
        &self,
        after: Option<&StreamId>,
        limit: usize,
    ) -> Result<Vec<StreamId>, StoreError> {
        let after = after.map_or("", StreamId::as_str).to_owned();
        let limit = sql_int(limit as u64, "limit")?;
        self.with_reader(|conn| {
            let mut statement = conn
                .prepare_cached(
                    "SELECT DISTINCT stream_id FROM events WHERE stream_id > ?1 ORDER BY stream_id LIMIT ?2",
                )
                .map_err(unavailable)?;
            let mut rows = statement.query(params![after, limit]).map_err(unavailable)?;
            let mut streams = Vec::new();
            while let Some(row) = rows.next().map_err(unavailable)? {
                let describe = || "a stream listed in events".to_owned();
                let raw: String = column(row, 0, "events", "stream_id", &describe)?;
                streams.push(stream_from_db(&raw, "events", &|| format!("stream_id {raw:?}"))?);
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

    fn rail_messages(&self, stream: &StreamId) -> Result<Vec<RailMessageRecord>, StoreError> {
        self.with_reader(|conn| rail_messages(conn, stream))
    }

    fn claim_outbox(&self, claim: &OutboxClaim<'_>) -> Result<Vec<OutboxItem>, StoreError> {
        let writer = self.writer()?;
        let now_nanos = nanos(claim.now, "now")?;
        let until = now_nanos.saturating_add(claim.lease_nanos);
        let limit = sql_int(claim.limit as u64, "limit")?;
        let (owner, streams, destination) = (
            claim.owner.to_owned(),
            claim.streams.to_owned(),
            claim.destination.to_owned(),
        );
        // On the writer's thread and connection, between its batches: never a second writer
        // waiting in SQLite's busy handler for the first.
        writer.run_task(move |w: &mut SqliteWriter| {
            let mut statement = w
                .conn
                .prepare_cached(
                    "UPDATE outbox SET lease_owner = ?1, lease_until = ?2, claims = claims + 1
                     WHERE seq IN (SELECT seq FROM outbox
                                   WHERE delivered_at IS NULL AND failed_at IS NULL AND (lease_until IS NULL OR lease_until <= ?3 OR lease_owner = ?1)
                                     AND destination = ?6 AND substr(stream_id, 1, length(?5)) = ?5
                                   ORDER BY seq LIMIT ?4)
                     RETURNING id, destination, payload, claims, attempts",
                )
                .map_err(unavailable)?;
            let mut rows = statement
                .query(params![owner, until, now_nanos, limit, streams, destination])
                .map_err(unavailable)?;
            let mut items = Vec::new();
            while let Some(row) = rows.next().map_err(unavailable)? {
                let describe = || "a claimed outbox row".to_owned();
                let id: String = column(row, 0, "outbox", "id", &describe)?;
                let describe = || format!("id {id:?}");
                let destination: String = column(row, 1, "outbox", "destination", &describe)?;
                let payload: String = column(row, 2, "outbox", "payload", &describe)?;
                let claims: i64 = column(row, 3, "outbox", "claims", &describe)?;
                let attempts: i64 = column(row, 4, "outbox", "attempts", &describe)?;
                items.push(outbox_item(&id, &destination, payload, claims, attempts)?);
            }
            Ok(items)
        })
    }

    fn complete_outbox(&self, id: &str, owner: &str, now: Timestamp) -> Result<bool, StoreError> {
        self.complete_outbox_batch(&[id], owner, now)?
            .pop()
            .ok_or_else(|| StoreError::Unavailable("the writer answered no completion".into()))
    }

    fn complete_outbox_batch(
        &self,
        ids: &[&str],
        owner: &str,
        now: Timestamp,
    ) -> Result<Vec<bool>, StoreError> {
        let writer = self.writer()?;
        let now = nanos(now, "now")?;
        let ids: Vec<String> = ids.iter().map(|id| (*id).to_owned()).collect();
        let owner = owner.to_owned();
        writer.run_task(move |w: &mut SqliteWriter| {
            let conn = &w.conn;
            // One transaction, so one commit (and one fsync) for every message of the batch.
            conn.execute_batch("BEGIN IMMEDIATE").map_err(unavailable)?;
            let marked = ids
                .iter()
                .map(|id| {
                    conn.prepare_cached(
                        "UPDATE outbox SET delivered_at = ?3 WHERE id = ?1 AND lease_owner = ?2 AND delivered_at IS NULL",
                    )
                    .and_then(|mut s| s.execute(params![id, owner, now]))
                    .map(|changed| changed == 1)
                    .map_err(unavailable)
                })
                .collect::<Result<Vec<bool>, StoreError>>();
            let ended = match &marked {
                Ok(_) => conn.execute_batch("COMMIT"),
                Err(_) => conn.execute_batch("ROLLBACK"),
            };
            // Whatever failed, leave no transaction open on the writer's connection for the
            // next batch or task (SQLite does not always end one on a failed COMMIT).
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            let marked = marked?;
            ended.map_err(unavailable)?;
            Ok(marked)
        })
    }

    fn defer_outbox(
        &self,
        id: &str,
        owner: &str,
        until: Timestamp,
        why: &str,
        attempt: Attempt,
    ) -> Result<bool, StoreError> {
        let until = nanos(until, "until")?;
        self.outbox_update(
            "UPDATE outbox SET lease_owner = NULL, lease_until = ?3, last_error = ?4, attempts = attempts + ?5
             WHERE id = ?1 AND lease_owner = ?2 AND delivered_at IS NULL AND failed_at IS NULL",
            id,
            owner,
            until,
            why,
            attempt,
        )
    }

    fn fail_outbox(
        &self,
        id: &str,
        owner: &str,
        now: Timestamp,
        why: &str,
        attempt: Attempt,
    ) -> Result<bool, StoreError> {
        let now = nanos(now, "now")?;
        self.outbox_update(
            "UPDATE outbox SET lease_owner = NULL, lease_until = NULL, failed_at = ?3, last_error = ?4, attempts = attempts + ?5
             WHERE id = ?1 AND lease_owner = ?2 AND delivered_at IS NULL AND failed_at IS NULL",
            id,
            owner,
            now,
            why,
            attempt,
        )
    }

    fn reopen_outbox(&self, id: &str) -> Result<bool, StoreError> {
        let writer = self.writer()?;
        let id = id.to_owned();
        writer.run_task(move |w: &mut SqliteWriter| {
            w.conn
                .prepare_cached(
                    "UPDATE outbox SET delivered_at = NULL, failed_at = NULL, lease_owner = NULL, lease_until = NULL
                     WHERE id = ?1 AND (delivered_at IS NOT NULL OR failed_at IS NOT NULL)",
                )
                .and_then(|mut s| s.execute(params![id]))
                .map(|changed| changed == 1)
                .map_err(unavailable)
        })
    }

    fn list_outbox(&self, query: &OutboxQuery<'_>) -> Result<Vec<OutboxEntry>, StoreError> {
        // A stream's messages are found through outbox_by_stream, not by scanning the outbox.
        let sql = format!(
            "SELECT {OUTBOX_ENTRY_COLUMNS} FROM outbox
             WHERE seq > ?1 AND destination = ?2 AND substr(id, 1, length(?3)) = ?3 AND {} AND {}
             ORDER BY seq LIMIT ?4",
            outbox_status_sql(query.status),
            if query.stream.is_some() {
                "stream_id = ?5"
            } else {
                "?5 IS NULL"
            }
        );
        let after = sql_int(query.after, "after")?;
        let limit = sql_int(query.limit.min(MAX_OUTBOX_PAGE) as u64, "limit")?;
        let stream = query.stream.map(StreamId::as_str);
        self.with_reader(|conn| {
            let mut statement = conn.prepare_cached(&sql).map_err(unavailable)?;
            let mut rows = statement
                .query(params![
                    after,
                    query.destination,
                    query.id_prefix,
                    limit,
                    stream
                ])
                .map_err(unavailable)?;
            let mut entries = Vec::new();
            while let Some(row) = rows.next().map_err(unavailable)? {
                entries.push(outbox_columns(row)?.entry()?);
            }
            Ok(entries)
        })
    }

    fn pending_outbox(&self) -> Result<usize, StoreError> {
        self.with_reader(|conn| {
            let count = conn
                .query_row(
                    "SELECT count(*) FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL",
                    [],
                    |row| row.get::<_, i64>(0),
                )
                .map_err(unavailable)?;
            count_from_db(count, "outbox messages")
        })
    }

    fn oldest_pending_outbox(&self) -> Result<Option<Timestamp>, StoreError> {
        self.with_reader(|conn| {
            let oldest = conn
                .query_row(
                    "SELECT min(created_at) FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL",
                    [],
                    |row| row.get::<_, Option<i64>>(0),
                )
                .map_err(unavailable)?;
            oldest
                .map(|nanos| {
                    timestamp_from_db(nanos, "outbox", "created_at", "the oldest undelivered")
                })
                .transpose()
        })
    }
}

/// One row of an outbox listing (columns in [`OUTBOX_ENTRY_COLUMNS`] order).
fn outbox_columns(row: &rusqlite::Row<'_>) -> Result<OutboxColumns, StoreError> {
    let describe = || "a listed outbox row".to_owned();
    let id: String = column(row, 1, "outbox", "id", &describe)?;
    let describe = || format!("id {id:?}");
    Ok(OutboxColumns {
        seq: column(row, 0, "outbox", "seq", &describe)?,
        destination: column(row, 2, "outbox", "destination", &describe)?,
        payload: column(row, 3, "outbox", "payload", &describe)?,
        claims: column(row, 4, "outbox", "claims", &describe)?,
        created_at: column(row, 5, "outbox", "created_at", &describe)?,
        delivered_at: column(row, 6, "outbox", "delivered_at", &describe)?,
        failed_at: column(row, 7, "outbox", "failed_at", &describe)?,
        lease_until: column(row, 8, "outbox", "lease_until", &describe)?,
        last_error: column(row, 9, "outbox", "last_error", &describe)?,
        attempts: column(row, 10, "outbox", "attempts", &describe)?,
        version: column(row, 11, "outbox", "version", &describe)?,
        id,
    })
}
