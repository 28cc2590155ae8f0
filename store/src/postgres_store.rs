//! The PostgreSQL adapter, for production: group commit through one writer connection, a pool
//! of reader connections, an advisory lock that makes positions visible in order, triggers that
//! refuse UPDATE, DELETE and TRUNCATE, versioned migrations.

use event_store::{
    AppendOutcome, AppendRequest, Attempt, EventStore, GroupOutcome, MAX_OUTBOX_PAGE, OutboxClaim,
    OutboxEntry, OutboxItem, OutboxQuery, OutboxStatus, PriorResult, RailMessageRecord,
    RecordedEvent, StoreError, StreamId, outbox_error,
};

use postgres::{Client, NoTls, Row, Statement};

use crate::SCHEMA_VERSION;
use crate::append::{UnitResult, write_batch};
use crate::group_commit::{BatchWriter, GroupCommit};
use crate::heads::Heads;
use crate::pg_pool::{Lent, MAX_READERS, ReaderPool};
use crate::postgres_engine::{
    FIND_IDEMPOTENCY, FIND_RAIL_MESSAGE, PgEngine, RAIL_MESSAGES, STREAM_VERSION, Statements, Tx,
    column, find_idempotency, find_rail_message, pg, rail_messages, stream_version,
};
use crate::row::{
    OUTBOX_ENTRY_COLUMNS, OutboxColumns, RawRow, build_recorded, count_from_db, event_row, nanos,
    outbox_item, outbox_status_sql, stream_from_db, timestamp_from_db, version_from_db,
};
/// Serialises migrations across processes starting together.
const MIGRATION_LOCK: i64 = 0x4E50_5032;

const V1: &str = "
CREATE TABLE schema_migrations (
    version     INTEGER PRIMARY KEY,
    description TEXT NOT NULL,
    applied_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE events (
    global_position BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream_id       TEXT    NOT NULL,
    version         INTEGER NOT NULL CHECK (version >= 1),
    event_type      TEXT    NOT NULL,
    schema_version  INTEGER NOT NULL,
    occurred_at     BIGINT  NOT NULL,
    recorded_at     BIGINT  NOT NULL,
    correlation_id  TEXT,
    causation_id    TEXT,
    payload         TEXT    NOT NULL,
    prev_hash       BYTEA   NOT NULL CHECK (length(prev_hash) = 32),
    hash            BYTEA   NOT NULL CHECK (length(hash) = 32),
    CONSTRAINT events_stream_version UNIQUE (stream_id, version)
);
CREATE TABLE idempotency_keys (
    key         TEXT    PRIMARY KEY,
    stream_id   TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    fingerprint BYTEA   NOT NULL CHECK (length(fingerprint) = 32),
    recorded_at BIGINT  NOT NULL
);
CREATE TABLE rail_messages (
    message_id  TEXT    PRIMARY KEY,
    stream_id   TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    recorded_at BIGINT  NOT NULL
);
CREATE FUNCTION npp_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
END $$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION npp_refuse_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION npp_refuse_change();
CREATE TRIGGER idempotency_append_only BEFORE UPDATE OR DELETE ON idempotency_keys
    FOR EACH ROW EXECUTE FUNCTION npp_refuse_change();
CREATE TRIGGER idempotency_no_truncate BEFORE TRUNCATE ON idempotency_keys
    FOR EACH STATEMENT EXECUTE FUNCTION npp_refuse_change();
CREATE TRIGGER rail_messages_append_only BEFORE UPDATE OR DELETE ON rail_messages
    FOR EACH ROW EXECUTE FUNCTION npp_refuse_change();
CREATE TRIGGER rail_messages_no_truncate BEFORE TRUNCATE ON rail_messages
    FOR EACH STATEMENT EXECUTE FUNCTION npp_refuse_change();
";

const MIGRATIONS: &[(u32, &str, &str)] = &[
    (1, "events, claims and append-only triggers", V1),
    (2, "transactional outbox", V2),
    // The numbering is shared with SQLite, whose version 3 rebuilds its claims tables without
    // rowids; PostgreSQL's tables need no such change.
    (3, "claims tables without rowid (SQLite only)", "SELECT 1"),
    (4, "npp_claims_free, for one-statement batches", V4),
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

/// A rail message claim keeps the message as received (`NULL` for claims made before, and for
/// rails that give none), and a stream's claims and outbox messages are found by an index instead
/// of a scan. The
/// append-only triggers (row and TRUNCATE) stay as they are: adding a column does not touch them.
const V6: &str = "
ALTER TABLE rail_messages ADD COLUMN payload TEXT;
CREATE INDEX rail_messages_by_stream ON rail_messages (stream_id, version);
CREATE INDEX outbox_by_stream ON outbox (stream_id, version);
";

/// A delivery can be given up on (`failed_at`) and keeps what its last attempt said.
const V5: &str = "
ALTER TABLE outbox ADD COLUMN failed_at BIGINT, ADD COLUMN last_error TEXT,
    ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
DROP INDEX outbox_undelivered;
CREATE INDEX outbox_pending ON outbox (destination, seq) WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX outbox_failed ON outbox (seq) WHERE failed_at IS NOT NULL;
";

/// Lets a batch's one statement refuse itself: raised, the error rolls back everything the
/// statement wrote (see `INSERT_SET_ALONE`).
const V4: &str = "
CREATE FUNCTION npp_claims_free(every_row_went_in boolean) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT every_row_went_in THEN
        RAISE EXCEPTION 'a rail message or idempotency key of the batch is already claimed'
            USING ERRCODE = 'NPP01';
    END IF;
    RETURN true;
END $$;
";

const V2: &str = "
CREATE TABLE outbox (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id           TEXT    NOT NULL UNIQUE,
    destination  TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    stream_id    TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    created_at   BIGINT  NOT NULL,
    claims       INTEGER NOT NULL DEFAULT 0,
    lease_owner  TEXT,
    lease_until  BIGINT,
    delivered_at BIGINT
);
CREATE INDEX outbox_undelivered ON outbox (seq) WHERE delivered_at IS NULL;
";

/// The columns of an event row, in the order `decode` reads them.
macro_rules! select_event {
    () => {
        "SELECT stream_id, version, global_position, event_type, schema_version,
    occurred_at, recorded_at, correlation_id, causation_id, payload, prev_hash, hash FROM events"
    };
}

// The readers' statements: each is prepared once per reader connection.
const READ_STREAM: &str = concat!(select_event!(), " WHERE stream_id = $1 ORDER BY version");
const READ_ALL: &str = concat!(
    select_event!(),
    " WHERE global_position > $1 ORDER BY global_position LIMIT $2"
);
const LIST_STREAMS: &str =
    "SELECT DISTINCT stream_id FROM events WHERE stream_id > $1 ORDER BY stream_id LIMIT $2";
// SKIP LOCKED: two processes claiming at once take different rows, never the same one.
const CLAIM_OUTBOX: &str = "UPDATE outbox SET lease_owner = $1, lease_until = $2, claims = claims + 1
    WHERE seq IN (SELECT seq FROM outbox
                  WHERE delivered_at IS NULL AND failed_at IS NULL AND (lease_until IS NULL OR lease_until <= $3 OR lease_owner = $1)
                    AND destination = $6 AND left(stream_id, length($5)) = $5
                  ORDER BY seq LIMIT $4 FOR UPDATE SKIP LOCKED)
    RETURNING id, destination, payload, claims, attempts";
/// Marks messages delivered in one statement (one round trip, one commit): the ids whose lease
/// `$2` still held.
const COMPLETE_OUTBOX_BATCH: &str = "UPDATE outbox SET delivered_at = $3
    WHERE id = ANY($1) AND lease_owner = $2 AND delivered_at IS NULL RETURNING id";
const PENDING_OUTBOX: &str =
    "SELECT count(*) FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL";
const OLDEST_OUTBOX: &str =
    "SELECT min(created_at) FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL";
const DEFER_OUTBOX: &str = "UPDATE outbox SET lease_owner = NULL, lease_until = $3, last_error = $4, attempts = attempts + $5
    WHERE id = $1 AND lease_owner = $2 AND delivered_at IS NULL AND failed_at IS NULL";
const FAIL_OUTBOX: &str =
    "UPDATE outbox SET lease_owner = NULL, lease_until = NULL, failed_at = $3, last_error = $4, attempts = attempts + $5
    WHERE id = $1 AND lease_owner = $2 AND delivered_at IS NULL AND failed_at IS NULL";
const REOPEN_OUTBOX: &str = "UPDATE outbox
    SET delivered_at = NULL, failed_at = NULL, lease_owner = NULL, lease_until = NULL
    WHERE id = $1 AND (delivered_at IS NOT NULL OR failed_at IS NOT NULL)";

/// The listing statements, one per status filter, for any stream and for one stream (prepared
/// once each per connection; one stream's are found through `outbox_by_stream`).
struct ListOutbox {
    any: [&'static str; 2],
    pending: [&'static str; 2],
    delivered: [&'static str; 2],
    failed: [&'static str; 2],
}

fn list_outbox_sql(status: Option<OutboxStatus>, one_stream: bool) -> &'static str {
    static SQL: std::sync::OnceLock<ListOutbox> = std::sync::OnceLock::new();
    let statement = |status, stream: &str| -> &'static str {
        Box::leak(
            format!(
                "SELECT {OUTBOX_ENTRY_COLUMNS} FROM outbox
                 WHERE seq > $1 AND destination = $2 AND left(id, length($3)) = $3 AND {} AND {stream}
                 ORDER BY seq LIMIT $4",
                outbox_status_sql(status)
            )
            .into_boxed_str(),
        )
    };
    let both = |status| {
        [
            statement(status, "$5::text IS NULL"),
            statement(status, "stream_id = $5"),
        ]
    };
    let sql = SQL.get_or_init(|| ListOutbox {
        any: both(None),
        pending: both(Some(OutboxStatus::Pending)),
        delivered: both(Some(OutboxStatus::Delivered)),
        failed: both(Some(OutboxStatus::Failed)),
    });
    let [all, one] = match status {
        None => sql.any,
        Some(OutboxStatus::Pending) => sql.pending,
        Some(OutboxStatus::Delivered) => sql.delivered,
        Some(OutboxStatus::Failed) => sql.failed,
    };
    if one_stream { one } else { all }
}

/// Where and how to connect.
#[derive(Clone, Debug)]
pub struct PostgresConfig {
    /// A libpq-style URL, e.g. `postgres://postgres@127.0.0.1:5432/npp`.
    pub url: String,
    /// The schema holding the tables (created if missing): `npp` by default.
    pub schema: String,
    /// Reader connections the store may open (1 to 64; they open as reads need them).
    pub readers: u32,
}

impl PostgresConfig {
    /// The defaults for `url`: schema `npp`, four readers.
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            schema: "npp".to_owned(),
            readers: 4,
        }
    }
}

/// The PostgreSQL event store.
pub struct PostgresStore {
    /// `None` when connected read-only.
    writer: Option<GroupCommit<PgWriter>>,
    readers: ReaderPool,
    describe: String,
}

fn valid_schema(schema: &str) -> bool {
    let mut chars = schema.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && schema.len() <= 63
}

impl PostgresStore {
    /// Connects, creates the schema if missing, applies pending migrations, and refuses a schema
    /// newer than this binary knows.
    pub fn connect(config: &PostgresConfig) -> Result<Self, StoreError> {
        let (pg_config, mut client) = Self::client(config)?;
        migrate(&mut client, &config.schema)?;
        client
            .execute(
                "SELECT set_config('application_name', $1, false)",
                &[&application_name("writer", &config.schema)],
            )
            .map_err(pg)?;
        let readers = Self::readers(config, pg_config)?;
        let statements = Statements::prepare(&mut client).map_err(pg)?;
        let writer = GroupCommit::spawn(
            "npp-postgres-writer",
            PgWriter {
                client,
                statements,
                heads: Heads::default(),
            },
        )?;
        Ok(Self {
            writer: Some(writer),
            readers,
            describe: describe(config),
        })
    }

    /// Connects for reading only: nothing is created or migrated, and a schema that does not
    /// exist or holds no event store is refused as it is (for verification and inspection).
    pub fn connect_read_only(config: &PostgresConfig) -> Result<Self, StoreError> {
        let (pg_config, mut client) = Self::client(config)?;
        let not_ours = |why: String| StoreError::NotAnEventStore {
            path: describe(config),
            why,
        };
        let found = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM information_schema.schemata WHERE schema_name = $1),
                        EXISTS (SELECT 1 FROM information_schema.tables
                                WHERE table_schema = $1 AND table_name = 'schema_migrations')",
                &[&config.schema],
            )
            .map_err(pg)?;
        let describe_schema = || config.schema.clone();
        let schema_exists: bool = column(
            &found,
            0,
            "information_schema.schemata",
            "exists",
            &describe_schema,
        )?;
        let store_exists: bool = column(
            &found,
            1,
            "information_schema.tables",
            "exists",
            &describe_schema,
        )?;
        if !schema_exists {
            return Err(not_ours(format!("schema {} does not exist", config.schema)));
        }
        if !store_exists {
            return Err(not_ours(format!(
                "schema {} holds no event store",
                config.schema
            )));
        }
        let current = applied_version(&mut client)?;
        if current > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                found: current,
                supported: SCHEMA_VERSION,
            });
        }
        Ok(Self {
            writer: None,
            readers: Self::readers(config, pg_config)?,
            describe: describe(config),
        })
    }

    fn client(config: &PostgresConfig) -> Result<(postgres::Config, Client), StoreError> {
        if !(1..=MAX_READERS).contains(&config.readers) {
            return Err(StoreError::Unrepresentable {
                what: "reader connections",
                why: format!("{} is not 1 to {MAX_READERS}", config.readers),
            });
        }
        if !valid_schema(&config.schema) {
            return Err(StoreError::InvalidAppend(format!(
                "schema name {:?} is not [a-z_][a-z0-9_]*",
                config.schema
            )));
        }
        let mut pg_config: postgres::Config =
            config
                .url
                .parse()
                .map_err(|e| StoreError::NotAnEventStore {
                    path: config.url.clone(),
                    why: format!("not a PostgreSQL URL: {e}"),
                })?;
        pg_config.options(&format!("-c search_path={}", config.schema));
        let client = pg_config.connect(NoTls).map_err(pg)?;
        Ok((pg_config, client))
    }

    fn readers(
        config: &PostgresConfig,
        pg_config: postgres::Config,
    ) -> Result<ReaderPool, StoreError> {
        let mut pg_config = pg_config;
        pg_config.application_name(&application_name("reader", &config.schema));
        ReaderPool::new(pg_config, config.readers)
    }

    fn writer(&self) -> Result<&GroupCommit<PgWriter>, StoreError> {
        self.writer
            .as_ref()
            .ok_or_else(|| StoreError::ReadOnly(self.describe.clone()))
    }

    fn reader(&self) -> Result<Lent<'_>, StoreError> {
        self.readers.get()
    }

    /// Runs a read (a statement that changes nothing) on a reader connection; should the server
    /// have ended that connection (a restart, an idle timeout), once more on a new one.
    fn read<T>(
        &self,
        sql: &'static str,
        read: impl Fn(&mut Client, &Statement) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut reader = self.reader()?;
        let first = {
            let (client, statement) = reader.prepared(sql)?;
            read(client, &statement)
        };
        match first {
            Err(_) if reader.is_broken() => {
                drop(reader);
                let mut reader = self.reader()?;
                let (client, statement) = reader.prepared(sql)?;
                read(client, &statement)
            }
            done => done,
        }
    }
}

/// What `pg_stat_activity.application_name` shows for a connection of this store: the role
/// ("writer" or "reader") and the schema, so an operator can tell whose connections are whose.
pub fn application_name(role: &str, schema: &str) -> String {
    // PostgreSQL keeps 63 bytes; a schema name is at most 63 ASCII characters.
    format!("npp-{role} {schema}").chars().take(63).collect()
}

fn describe(config: &PostgresConfig) -> String {
    format!("{} (schema {})", config.url, config.schema)
}

/// The newest migration applied (the table must exist).
fn applied_version(client: &mut impl postgres::GenericClient) -> Result<u32, StoreError> {
    let describe = || "the newest migration".to_owned();
    let row = client
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )
        .map_err(pg)?;
    let raw: i32 = column(&row, 0, "schema_migrations", "version", &describe)?;
    version_from_db(i64::from(raw), true, "schema_migrations", &describe)
}

fn migrate(client: &mut Client, schema: &str) -> Result<(), StoreError> {
    let mut tx = client.transaction().map_err(pg)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(pg)?;
    tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
        .map_err(pg)?;
    let exists = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM information_schema.tables
                            WHERE table_schema = $1 AND table_name = 'schema_migrations')",
            &[&schema],
        )
        .map_err(pg)?;
    let exists: bool = column(&exists, 0, "information_schema.tables", "exists", &|| {
        schema.to_owned()
    })?;
    let current = if exists { applied_version(&mut tx)? } else { 0 };
    if current > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found: current,
            supported: SCHEMA_VERSION,
        });
    }
    for (version, description, sql) in MIGRATIONS.iter().filter(|(v, _, _)| *v > current) {
        tx.batch_execute(sql).map_err(pg)?;
        let version = crate::row::int(*version, "migration version")?;
        tx.execute(
            "INSERT INTO schema_migrations (version, description) VALUES ($1, $2)",
            &[&version, description],
        )
        .map_err(pg)?;
    }
    tx.commit().map_err(pg)
}

struct PgWriter {
    client: Client,
    statements: Statements,
    heads: Heads,
}

impl BatchWriter for PgWriter {
    fn write_batch(&mut self, units: &[Vec<AppendRequest>]) -> Vec<UnitResult> {
        let mut engine = PgEngine {
            client: &mut self.client,
            statements: &self.statements,
            tx: Tx::Idle,
        };
        match write_batch(&mut engine, &mut self.heads, units) {
            Ok(results) => results,
            Err(e) => {
                // Whatever failed, leave no transaction open for the next batch.
                let _ = self.client.batch_execute("ROLLBACK");
                units.iter().map(|_| Err(e.clone())).collect()
            }
        }
    }
}

fn decode(row: &Row) -> Result<RecordedEvent, StoreError> {
    let position: i64 = column(row, 2, "events", "global_position", &|| {
        "an event row".to_owned()
    })?;
    let at_position = || format!("global position {position}");
    let stream: String = column(row, 0, "events", "stream_id", &at_position)?;
    let version: i32 = column(row, 1, "events", "version", &|| {
        format!("global position {position}, stream {stream:?}")
    })?;
    let describe = || event_row(position, &stream, i64::from(version));
    let int =
        |index, name| -> Result<i64, StoreError> { column(row, index, "events", name, &describe) };
    let raw = RawRow {
        event_type: column(row, 3, "events", "event_type", &describe)?,
        schema_version: i64::from(column::<i32>(
            row,
            4,
            "events",
            "schema_version",
            &describe,
        )?),
        occurred_at: int(5, "occurred_at")?,
        recorded_at: int(6, "recorded_at")?,
        correlation: column(row, 7, "events", "correlation_id", &describe)?,
        causation: column(row, 8, "events", "causation_id", &describe)?,
        payload: column(row, 9, "events", "payload", &describe)?,
        prev_hash: column(row, 10, "events", "prev_hash", &describe)?,
        hash: column(row, 11, "events", "hash", &describe)?,
        stream,
        version: i64::from(version),
        position,
    };
    build_recorded(raw)
}

/// An integer argument for PostgreSQL's BIGINT; nobody asks for a position or limit past i64,
/// so it is refused rather than clamped.
impl PostgresStore {
    /// Runs one of the outbox's single-row updates; whether it changed the row.
    fn outbox_update(
        &self,
        sql: &'static str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<bool, StoreError> {
        self.writer()?;
        let mut reader = self.reader()?;
        let (client, statement) = reader.prepared(sql)?;
        let changed = client.execute(&statement, params).map_err(pg)?;
        Ok(changed == 1)
    }
}

fn big(value: u64, what: &'static str) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::Unrepresentable {
        what,
        why: format!("{value} is over i64"),
    })
}

impl PostgresStore {
    /// Hand-offs waiting for the writer thread right now: the group-commit queue's depth
    /// (bounded; callers wait when it is full).
    pub fn writer_queue_depth(&self) -> usize {
        self.writer.as_ref().map_or(0, GroupCommit::depth)
    }
}

impl EventStore for PostgresStore {
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
        self.read(STREAM_VERSION, |client, statement| {
            stream_version(client, statement, stream)
        })
    }

    fn read_stream(&self, stream: &StreamId) -> Result<Vec<RecordedEvent>, StoreError> {
        self.read(READ_STREAM, |client, statement| {
            let rows = client.query(statement, &[&stream.as_str()]).map_err(pg)?;
            rows.iter().map(decode).collect()
        })
    }

    fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let after = big(after, "position")?;
        let limit = big(limit as u64, "limit")?;
        self.read(READ_ALL, |client, statement| {
            let rows = client.query(statement, &[&after, &limit]).map_err(pg)?;
            rows.iter().map(decode).collect()
        })
    }

    fn list_streams(
        &self,
        after: Option<&StreamId>,
        limit: usize,
    ) -> Result<Vec<StreamId>, StoreError> {
        let after = after.map_or("", StreamId::as_str);
        let limit = big(limit as u64, "limit")?;
        let rows = self.read(LIST_STREAMS, |client, statement| {
            client.query(statement, &[&after, &limit]).map_err(pg)
        })?;
        rows.iter()
            .map(|row| {
                let describe = || "a stream listed in events".to_owned();
                let raw: String = column(row, 0, "events", "stream_id", &describe)?;
                stream_from_db(&raw, "events", &|| format!("stream_id {raw:?}"))
            })
            .collect()
    }

    fn find_idempotency(&self, key: &str) -> Result<Option<(PriorResult, [u8; 32])>, StoreError> {
        self.read(FIND_IDEMPOTENCY, |client, statement| {
            find_idempotency(client, statement, key)
        })
    }

    fn find_rail_message(&self, message_id: &str) -> Result<Option<PriorResult>, StoreError> {
        self.read(FIND_RAIL_MESSAGE, |client, statement| {
            find_rail_message(client, statement, message_id)
        })
    }

    fn rail_messages(&self, stream: &StreamId) -> Result<Vec<RailMessageRecord>, StoreError> {
        self.read(RAIL_MESSAGES, |client, statement| {
            rail_messages(client, statement, stream)
        })
    }

    fn claim_outbox(&self, claim: &OutboxClaim<'_>) -> Result<Vec<OutboxItem>, StoreError> {
        self.writer()?;
        let (owner, streams, destination) = (claim.owner, claim.streams, claim.destination);
        let now = nanos(claim.now, "now")?;
        let until = now.saturating_add(claim.lease_nanos);
        let limit = big(claim.limit as u64, "limit")?;
        let mut reader = self.reader()?;
        let (client, statement) = reader.prepared(CLAIM_OUTBOX)?;
        let rows = client
            .query(
                &statement,
                &[&owner, &until, &now, &limit, &streams, &destination],
            )
            .map_err(pg)?;
        rows.iter()
            .map(|row| {
                let describe = || "a claimed outbox row".to_owned();
                let id: String = column(row, 0, "outbox", "id", &describe)?;
                let describe = || format!("id {id:?}");
                let destination: String = column(row, 1, "outbox", "destination", &describe)?;
                let payload: String = column(row, 2, "outbox", "payload", &describe)?;
                let claims: i32 = column(row, 3, "outbox", "claims", &describe)?;
                let attempts: i32 = column(row, 4, "outbox", "attempts", &describe)?;
                outbox_item(
                    &id,
                    &destination,
                    payload,
                    i64::from(claims),
                    i64::from(attempts),
                )
            })
            .collect()
    }

    fn complete_outbox(
        &self,
        id: &str,
        owner: &str,
        now: core_npp::Timestamp,
    ) -> Result<bool, StoreError> {
        self.complete_outbox_batch(&[id], owner, now)?
            .pop()
            .ok_or_else(|| StoreError::Unavailable("no answer for the completion".into()))
    }

    fn complete_outbox_batch(
        &self,
        ids: &[&str],
        owner: &str,
        now: core_npp::Timestamp,
    ) -> Result<Vec<bool>, StoreError> {
        self.writer()?;
        let now = nanos(now, "now")?;
        let mut reader = self.reader()?;
        let (client, statement) = reader.prepared(COMPLETE_OUTBOX_BATCH)?;
        let rows = client
            .query(&statement, &[&ids, &owner, &now])
            .map_err(pg)?;
        let mut marked = std::collections::HashSet::with_capacity(rows.len());
        for row in &rows {
            let id: String = column(row, 0, "outbox", "id", &|| "completed".to_owned())?;
            marked.insert(id);
        }
        // An id listed twice is marked once: the first time, as one-by-one calls would answer.
        Ok(ids.iter().map(|id| marked.remove(*id)).collect())
    }

    fn defer_outbox(
        &self,
        id: &str,
        owner: &str,
        until: core_npp::Timestamp,
        why: &str,
        attempt: Attempt,
    ) -> Result<bool, StoreError> {
        let until = nanos(until, "until")?;
        let counted = i32::from(attempt.counted());
        self.outbox_update(
            DEFER_OUTBOX,
            &[&id, &owner, &until, &outbox_error(why), &counted],
        )
    }

    fn fail_outbox(
        &self,
        id: &str,
        owner: &str,
        now: core_npp::Timestamp,
        why: &str,
        attempt: Attempt,
    ) -> Result<bool, StoreError> {
        let now = nanos(now, "now")?;
        let counted = i32::from(attempt.counted());
        self.outbox_update(
            FAIL_OUTBOX,
            &[&id, &owner, &now, &outbox_error(why), &counted],
        )
    }

    fn reopen_outbox(&self, id: &str) -> Result<bool, StoreError> {
        self.outbox_update(REOPEN_OUTBOX, &[&id])
    }

    fn list_outbox(&self, query: &OutboxQuery<'_>) -> Result<Vec<OutboxEntry>, StoreError> {
        let after = big(query.after, "after")?;
        let limit = big(query.limit.min(MAX_OUTBOX_PAGE) as u64, "limit")?;
        let stream = query.stream.map(StreamId::as_str);
        let sql = list_outbox_sql(query.status, stream.is_some());
        let rows = self.read(sql, |client, statement| {
            client
                .query(
                    statement,
                    &[
                        &after,
                        &query.destination,
                        &query.id_prefix,
                        &limit,
                        &stream,
                    ],
                )
                .map_err(pg)
        })?;
        rows.iter()
            .map(|row| outbox_columns(row)?.entry())
            .collect()
    }

    fn pending_outbox(&self) -> Result<usize, StoreError> {
        let row = self.read(PENDING_OUTBOX, |client, statement| {
            client.query_one(statement, &[]).map_err(pg)
        })?;
        let count: i64 = column(&row, 0, "outbox", "count", &|| "undelivered".to_owned())?;
        count_from_db(count, "outbox messages")
    }

    fn oldest_pending_outbox(&self) -> Result<Option<core_npp::Timestamp>, StoreError> {
        let row = self.read(OLDEST_OUTBOX, |client, statement| {
            client.query_one(statement, &[]).map_err(pg)
        })?;
        let describe = || "the oldest undelivered".to_owned();
        let oldest: Option<i64> = column(&row, 0, "outbox", "created_at", &describe)?;
        oldest
            .map(|nanos| timestamp_from_db(nanos, "outbox", "created_at", "the oldest undelivered"))
            .transpose()
    }
}

/// One row of an outbox listing (columns in [`OUTBOX_ENTRY_COLUMNS`] order).
fn outbox_columns(row: &postgres::Row) -> Result<OutboxColumns, StoreError> {
    let describe = || "a listed outbox row".to_owned();
    let id: String = column(row, 1, "outbox", "id", &describe)?;
    let describe = || format!("id {id:?}");
    let claims: i32 = column(row, 4, "outbox", "claims", &describe)?;
    Ok(OutboxColumns {
        seq: column(row, 0, "outbox", "seq", &describe)?,
        destination: column(row, 2, "outbox", "destination", &describe)?,
        payload: column(row, 3, "outbox", "payload", &describe)?,
        claims: i64::from(claims),
        created_at: column(row, 5, "outbox", "created_at", &describe)?,
        delivered_at: column(row, 6, "outbox", "delivered_at", &describe)?,
        failed_at: column(row, 7, "outbox", "failed_at", &describe)?,
        lease_until: column(row, 8, "outbox", "lease_until", &describe)?,
        last_error: column(row, 9, "outbox", "last_error", &describe)?,
        attempts: i64::from(column::<i32>(row, 10, "outbox", "attempts", &describe)?),
        version: i64::from(column::<i32>(row, 11, "outbox", "version", &describe)?),
        id,
    })
}
