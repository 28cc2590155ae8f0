//! The PostgreSQL adapter, for production: group commit through one writer connection, a pool
//! of reader connections, an advisory lock that makes positions visible in order, triggers that
//! refuse UPDATE, DELETE and TRUNCATE, versioned migrations.

use event_store::{
    AppendOutcome, AppendRequest, Committed, EventHash, EventStore, OutboxItem, OutboxMessage,
    PriorResult, RecordedEvent, StoreError, StreamId,
};
use postgres::error::SqlState;

use postgres::{Client, GenericClient, NoTls, Row, Statement};
use r2d2_postgres::PostgresConnectionManager;

use crate::SCHEMA_VERSION;
use crate::group_commit::{BatchWriter, GroupCommit};
use crate::heads::Heads;
use crate::postgres_batch::{Fallback, SetStatements, simple_shape, write_set};
use crate::row::{RawRow, build_recorded, nanos};

/// Serialises appending transactions across every process sharing the database, so that global
/// positions commit in order and a catching-up reader never skips one (see ARCHITECTURE.md).
const APPEND_LOCK: i64 = 0x4E50_5031;
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
];

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

const INSERT_EVENT: &str =
    "INSERT INTO events (stream_id, version, event_type, schema_version, occurred_at,
    recorded_at, correlation_id, causation_id, payload, prev_hash, hash)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

const SELECT_EVENT: &str = "SELECT stream_id, version, global_position, event_type, schema_version,
    occurred_at, recorded_at, correlation_id, causation_id, payload, prev_hash, hash FROM events";

/// Where and how to connect.
#[derive(Clone, Debug)]
pub struct PostgresConfig {
    /// A libpq-style URL, e.g. `postgres://postgres@127.0.0.1:5432/npp`.
    pub url: String,
    /// The schema holding the tables (created if missing): `npp` by default.
    pub schema: String,
    /// Reader connections kept in the pool.
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
    writer: GroupCommit,
    readers: r2d2::Pool<PostgresConnectionManager<NoTls>>,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// `postgres::Error` displays as "db error" alone; the server's message is what an operator needs.
pub(crate) fn pg(e: postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => {
            StoreError::Unavailable(format!("PostgreSQL {}: {}", db.code().code(), db.message()))
        }
        None => StoreError::Unavailable(e.to_string()),
    }
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
        let mut client = pg_config.connect(NoTls).map_err(pg)?;
        migrate(&mut client, &config.schema)?;
        let manager = PostgresConnectionManager::new(pg_config, NoTls);
        let readers = r2d2::Pool::builder()
            .max_size(config.readers.max(1))
            .min_idle(Some(0))
            .build(manager)
            .map_err(unavailable)?;
        let insert_event = client.prepare(INSERT_EVENT).map_err(pg)?;
        let set = SetStatements::prepare(&mut client).map_err(pg)?;
        let writer = GroupCommit::spawn(
            "npp-postgres-writer",
            PgWriter {
                client,
                insert_event,
                set,
                heads: Heads::default(),
            },
        )?;
        Ok(Self { writer, readers })
    }

    fn reader(
        &self,
    ) -> Result<r2d2::PooledConnection<PostgresConnectionManager<NoTls>>, StoreError> {
        self.readers.get().map_err(unavailable)
    }
}

fn migrate(client: &mut Client, schema: &str) -> Result<(), StoreError> {
    let mut tx = client.transaction().map_err(pg)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(pg)?;
    tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
        .map_err(pg)?;
    let exists: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM information_schema.tables
                            WHERE table_schema = $1 AND table_name = 'schema_migrations')",
            &[&schema],
        )
        .map_err(pg)?
        .get(0);
    let current: i32 = if exists {
        tx.query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )
        .map_err(pg)?
        .get(0)
    } else {
        0
    };
    let current = u32::try_from(current).unwrap_or(0);
    if current > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found: current,
            supported: SCHEMA_VERSION,
        });
    }
    for (version, description, sql) in MIGRATIONS.iter().filter(|(v, _, _)| *v > current) {
        tx.batch_execute(sql).map_err(pg)?;
        let version = i32::try_from(*version).unwrap_or(i32::MAX);
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
    insert_event: Statement,
    set: SetStatements,
    heads: Heads,
}

/// What one append needs from the batch: the prepared insert and the remembered heads.
struct Prepared<'a> {
    insert_event: &'a Statement,
    heads: &'a Heads,
}

/// Why one append of a batch did not commit.
enum Refusal {
    Store(StoreError),
    /// The unique (stream, version) constraint fired: another writer took the version.
    VersionTaken,
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        Refusal::Store(e)
    }
}

impl BatchWriter for PgWriter {
    fn write_batch(&mut self, batch: &[AppendRequest]) -> Vec<Result<AppendOutcome, StoreError>> {
        // The set-based path writes the whole batch in a fixed number of round trips; if any
        // append is refused or unusual, the batch is rolled back and run again with a savepoint
        // per append, so refusals stay isolated.
        let results = match self.write_set(batch) {
            Ok(written) => Ok(written
                .into_iter()
                .map(|(outcome, hash)| Ok((outcome, Some(hash))))
                .collect()),
            Err(Fallback::PerAppend) => write_batch(
                &mut self.client,
                batch,
                &prepared_for(&self.insert_event, &self.heads),
            ),
            Err(Fallback::Store(e)) => Err(e),
        };
        match results {
            Ok(results) => {
                self.remember(batch, &results);
                results
                    .into_iter()
                    .map(|r| r.map(|(outcome, _)| outcome))
                    .collect()
            }
            Err(e) => batch.iter().map(|_| Err(e.clone())).collect(),
        }
    }
}

fn prepared_for<'a>(insert_event: &'a Statement, heads: &'a Heads) -> Prepared<'a> {
    Prepared {
        insert_event,
        heads,
    }
}

impl PgWriter {
    fn write_set(
        &mut self,
        batch: &[AppendRequest],
    ) -> Result<Vec<crate::postgres_batch::Written>, Fallback> {
        if !simple_shape(batch) {
            return Err(Fallback::PerAppend);
        }
        let mut tx = self
            .client
            .transaction()
            .map_err(|e| Fallback::Store(pg(e)))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&APPEND_LOCK])
            .map_err(|e| Fallback::Store(pg(e)))?;
        match write_set(&mut tx, &self.set, batch, &self.heads) {
            Ok(written) => {
                tx.commit().map_err(|e| Fallback::Store(pg(e)))?;
                Ok(written)
            }
            Err(fallback) => {
                // An aborted transaction rolls back on drop as well; a failed rollback is
                // reported by the next transaction's BEGIN.
                let _ = tx.rollback();
                Err(fallback)
            }
        }
    }

    fn remember(
        &mut self,
        batch: &[AppendRequest],
        results: &[Result<(AppendOutcome, Option<EventHash>), StoreError>],
    ) {
        for (request, result) in batch.iter().zip(results) {
            if let Ok((AppendOutcome::Committed(c), Some(hash))) = result {
                self.heads.note(request.stream(), c.last_version, *hash);
            }
        }
        self.heads.commit();
    }
}

type Written = Result<(AppendOutcome, Option<EventHash>), StoreError>;

fn write_batch(
    client: &mut Client,
    batch: &[AppendRequest],
    prepared: &Prepared<'_>,
) -> Result<Vec<Written>, StoreError> {
    let mut tx = client.transaction().map_err(pg)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&APPEND_LOCK])
        .map_err(pg)?;
    let mut results = Vec::with_capacity(batch.len());
    for request in batch {
        let mut savepoint = tx.transaction().map_err(pg)?;
        match append_one(&mut savepoint, request, prepared) {
            Ok(outcome) => {
                savepoint.commit().map_err(pg)?;
                results.push(Ok(outcome));
            }
            Err(refusal) => {
                savepoint.rollback().map_err(pg)?;
                results.push(Err(match refusal {
                    Refusal::Store(e) => e,
                    Refusal::VersionTaken => conflict(&mut tx, request)?,
                }));
            }
        }
    }
    tx.commit().map_err(pg)?;
    Ok(results)
}

fn conflict(
    client: &mut impl GenericClient,
    request: &AppendRequest,
) -> Result<StoreError, StoreError> {
    let actual = stream_version(client, request.stream())?;
    Ok(StoreError::Conflict {
        stream: request.stream().clone(),
        expected: request.expected_version(),
        actual,
    })
}

fn stream_version(client: &mut impl GenericClient, stream: &StreamId) -> Result<u32, StoreError> {
    let row = client
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM events WHERE stream_id = $1",
            &[&stream.as_str()],
        )
        .map_err(pg)?;
    Ok(u32::try_from(row.get::<_, i32>(0)).unwrap_or(0))
}

fn int(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

fn append_one(
    client: &mut impl GenericClient,
    request: &AppendRequest,
    prepared: &Prepared<'_>,
) -> Result<(AppendOutcome, Option<EventHash>), Refusal> {
    let stream = request.stream().as_str();
    let final_version = int(request.final_version());
    let recorded_at = nanos(request.recorded_at(), "recorded_at")?;
    if let Some(message_id) = request.rail_message_id() {
        let inserted = client
            .execute(
                "INSERT INTO rail_messages (message_id, stream_id, version, recorded_at)
                 VALUES ($1, $2, $3, $4) ON CONFLICT (message_id) DO NOTHING",
                &[&message_id, &stream, &final_version, &recorded_at],
            )
            .map_err(pg)?;
        if inserted == 0 {
            let prior = find_rail_message(client, message_id)?;
            return prior
                .map(|p| (AppendOutcome::AlreadyApplied(p), None))
                .ok_or_else(|| Refusal::Store(unavailable("rail message claim vanished")));
        }
    }
    if let Some(claim) = request.idempotency() {
        let inserted = client
            .execute(
                "INSERT INTO idempotency_keys (key, stream_id, version, fingerprint, recorded_at)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key) DO NOTHING",
                &[
                    &claim.key(),
                    &stream,
                    &final_version,
                    &&claim.fingerprint()[..],
                    &recorded_at,
                ],
            )
            .map_err(pg)?;
        if inserted == 0 {
            let Some((prior, fingerprint)) = find_idempotency(client, claim.key())? else {
                return Err(Refusal::Store(unavailable("idempotency claim vanished")));
            };
            if fingerprint != *claim.fingerprint() {
                return Err(Refusal::Store(StoreError::IdempotencyConflict {
                    key: claim.key().to_owned(),
                    stream: prior.stream,
                }));
            }
            return Ok((AppendOutcome::AlreadyApplied(prior), None));
        }
    }
    insert_events(client, request, recorded_at, prepared)
}

fn insert_events(
    client: &mut impl GenericClient,
    request: &AppendRequest,
    recorded_at: i64,
    prepared: &Prepared<'_>,
) -> Result<(AppendOutcome, Option<EventHash>), Refusal> {
    let stream = request.stream();
    let expected = request.expected_version();
    let mut prev = if expected == 0 {
        EventHash::GENESIS
    } else if let Some(hash) = prepared.heads.get(stream, expected) {
        hash
    } else {
        let row = client
            .query_opt(
                "SELECT hash FROM events WHERE stream_id = $1 AND version = $2",
                &[&stream.as_str(), &int(expected)],
            )
            .map_err(pg)?;
        // The stream is shorter than expected; reported with its real version by the caller.
        let Some(row) = row else {
            return Err(Refusal::VersionTaken);
        };
        let bytes: Vec<u8> = row.get(0);
        EventHash::from_slice(&bytes).ok_or_else(|| StoreError::Corrupt {
            stream: stream.clone(),
            version: expected,
            why: "hash is not 32 bytes".into(),
        })?
    };
    let insert = prepared.insert_event;
    for (version, event) in (expected + 1..).zip(request.events()) {
        let (hash, _) = event.seal(stream, version, request.recorded_at(), &prev);
        let occurred_at = nanos(event.occurred_at(), "occurred_at")?;
        let inserted = client.execute(
            insert,
            &[
                &stream.as_str(),
                &int(version),
                &event.event_type(),
                &i32::from(event.schema_version()),
                &occurred_at,
                &recorded_at,
                &event.correlation_id(),
                &event.causation_id(),
                &event.payload(),
                &&prev.as_bytes()[..],
                &&hash.as_bytes()[..],
            ],
        );
        match inserted {
            Ok(_) => prev = hash,
            // The unique (stream_id, version) constraint is what detects a concurrent writer.
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                return Err(Refusal::VersionTaken);
            }
            Err(e) => return Err(Refusal::Store(pg(e))),
        }
    }
    insert_outbox(client, request, recorded_at)?;
    let committed = Committed {
        stream: stream.clone(),
        first_version: expected + 1,
        last_version: request.final_version(),
    };
    Ok((AppendOutcome::Committed(committed), Some(prev)))
}

fn insert_outbox(
    client: &mut impl GenericClient,
    request: &AppendRequest,
    recorded_at: i64,
) -> Result<(), Refusal> {
    for message in request.outbox() {
        let inserted = client.execute(
            "INSERT INTO outbox (id, destination, payload, stream_id, version, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &message.id(),
                &message.destination(),
                &message.payload(),
                &request.stream().as_str(),
                &int(request.final_version()),
                &recorded_at,
            ],
        );
        match inserted {
            Ok(_) => {}
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                return Err(Refusal::Store(StoreError::InvalidAppend(format!(
                    "outbox id {} is already used",
                    message.id()
                ))));
            }
            Err(e) => return Err(Refusal::Store(pg(e))),
        }
    }
    Ok(())
}

fn find_rail_message(
    client: &mut impl GenericClient,
    message_id: &str,
) -> Result<Option<PriorResult>, StoreError> {
    let row = client
        .query_opt(
            "SELECT stream_id, version FROM rail_messages WHERE message_id = $1",
            &[&message_id],
        )
        .map_err(pg)?;
    row.map(|r| prior(r.get(0), r.get(1))).transpose()
}

fn find_idempotency(
    client: &mut impl GenericClient,
    key: &str,
) -> Result<Option<(PriorResult, [u8; 32])>, StoreError> {
    let row = client
        .query_opt(
            "SELECT stream_id, version, fingerprint FROM idempotency_keys WHERE key = $1",
            &[&key],
        )
        .map_err(pg)?;
    let Some(row) = row else { return Ok(None) };
    let bytes: Vec<u8> = row.get(2);
    let fingerprint = <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| unavailable(format!("idempotency key {key:?} has a damaged fingerprint")))?;
    Ok(Some((prior(row.get(0), row.get(1))?, fingerprint)))
}

fn prior(stream: String, version: i32) -> Result<PriorResult, StoreError> {
    Ok(PriorResult {
        stream: StreamId::parse(&stream)?,
        version: u32::try_from(version).unwrap_or(0),
    })
}

fn decode(row: &Row) -> Result<RecordedEvent, StoreError> {
    let raw = RawRow {
        stream: row.try_get(0).map_err(pg)?,
        version: u32::try_from(row.try_get::<_, i32>(1).map_err(pg)?).unwrap_or(0),
        position: row.try_get(2).map_err(pg)?,
        event_type: row.try_get(3).map_err(pg)?,
        schema_version: u16::try_from(row.try_get::<_, i32>(4).map_err(pg)?).unwrap_or(u16::MAX),
        occurred_at: row.try_get(5).map_err(pg)?,
        recorded_at: row.try_get(6).map_err(pg)?,
        correlation: row.try_get(7).map_err(pg)?,
        causation: row.try_get(8).map_err(pg)?,
        payload: row.try_get(9).map_err(pg)?,
        prev_hash: row.try_get(10).map_err(pg)?,
        hash: row.try_get(11).map_err(pg)?,
    };
    build_recorded(raw)
}

impl EventStore for PostgresStore {
    fn append(&self, request: AppendRequest) -> Result<AppendOutcome, StoreError> {
        self.writer.append(request)
    }

    fn append_batch(&self, requests: Vec<AppendRequest>) -> Vec<Result<AppendOutcome, StoreError>> {
        self.writer.append_batch(requests)
    }

    fn read_stream(&self, stream: &StreamId) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!("{SELECT_EVENT} WHERE stream_id = $1 ORDER BY version");
        let rows = self
            .reader()?
            .query(sql.as_str(), &[&stream.as_str()])
            .map_err(pg)?;
        rows.iter().map(decode).collect()
    }

    fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql =
            format!("{SELECT_EVENT} WHERE global_position > $1 ORDER BY global_position LIMIT $2");
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .reader()?
            .query(sql.as_str(), &[&after, &limit])
            .map_err(pg)?;
        rows.iter().map(decode).collect()
    }

    fn list_streams(
        &self,
        after: Option<&StreamId>,
        limit: usize,
    ) -> Result<Vec<StreamId>, StoreError> {
        let after = after.map_or("", StreamId::as_str);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .reader()?
            .query(
                "SELECT DISTINCT stream_id FROM events WHERE stream_id > $1 ORDER BY stream_id LIMIT $2",
                &[&after, &limit],
            )
            .map_err(pg)?;
        rows.iter().map(|r| StreamId::parse(r.get(0))).collect()
    }

    fn find_idempotency(&self, key: &str) -> Result<Option<(PriorResult, [u8; 32])>, StoreError> {
        find_idempotency(&mut *self.reader()?, key)
    }

    fn find_rail_message(&self, message_id: &str) -> Result<Option<PriorResult>, StoreError> {
        find_rail_message(&mut *self.reader()?, message_id)
    }

    fn claim_outbox(
        &self,
        owner: &str,
        now: core_npp::Timestamp,
        lease_nanos: i64,
        limit: usize,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let now = nanos(now, "now")?;
        let until = now.saturating_add(lease_nanos);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // SKIP LOCKED: two processes claiming at once take different rows, never the same one.
        let rows = self
            .reader()?
            .query(
                "UPDATE outbox SET lease_owner = $1, lease_until = $2, claims = claims + 1
                 WHERE seq IN (SELECT seq FROM outbox
                               WHERE delivered_at IS NULL AND (lease_until IS NULL OR lease_until <= $3 OR lease_owner = $1)
                               ORDER BY seq LIMIT $4 FOR UPDATE SKIP LOCKED)
                 RETURNING id, destination, payload, claims",
                &[&owner, &until, &now, &limit],
            )
            .map_err(pg)?;
        rows.iter()
            .map(|row| {
                let claims: i32 = row.get(3);
                Ok(OutboxItem {
                    message: OutboxMessage::new(row.get(0), row.get(1), row.get(2))?,
                    claims: u32::try_from(claims).unwrap_or(0),
                })
            })
            .collect()
    }

    fn complete_outbox(
        &self,
        id: &str,
        owner: &str,
        now: core_npp::Timestamp,
    ) -> Result<bool, StoreError> {
        let now = nanos(now, "now")?;
        let changed = self
            .reader()?
            .execute(
                "UPDATE outbox SET delivered_at = $3 WHERE id = $1 AND lease_owner = $2 AND delivered_at IS NULL",
                &[&id, &owner, &now],
            )
            .map_err(pg)?;
        Ok(changed == 1)
    }

    fn pending_outbox(&self) -> Result<usize, StoreError> {
        let row = self
            .reader()?
            .query_one(
                "SELECT count(*) FROM outbox WHERE delivered_at IS NULL",
                &[],
            )
            .map_err(pg)?;
        Ok(usize::try_from(row.get::<_, i64>(0)).unwrap_or(0))
    }
}
