//! PostgreSQL as an append [`Engine`]: every step of a batch in one round trip, however many
//! appends it holds (claims, events and outbox rows each as one `INSERT ... SELECT FROM
//! unnest(...)`, every missing head in one `SELECT ... JOIN unnest(...)`). Each transaction first
//! takes the append lock, so positions commit in order across processes (ARCHITECTURE.md).

use std::collections::HashMap;

use event_store::{EventHash, PriorResult, RailMessageRecord, StoreError, StreamId};
use postgres::error::SqlState;
use postgres::{Client, Row, Statement, ToStatement};

use crate::append::{ClaimRow, Engine, EventRow, OutboxRow, SetRows};
use crate::row::{
    RailMessageColumns, corrupt_row, fingerprint_from_db, int, nanos, prior_from_db,
    version_from_db,
};

/// Opens a batch's transaction holding the append lock, advisory lock 0x4E50_5031 ("NPP1"),
/// which serialises appending transactions across every process sharing the database, so that
/// global positions commit in order and a catching-up reader never skips one (ARCHITECTURE.md).
/// One round trip: the simple protocol runs both statements from one message.
const BEGIN_LOCKED: &str = "BEGIN; SELECT pg_advisory_xact_lock(1313886257)";

/// A set-wise batch's every row in one statement: rail and idempotency claims (a taken key is
/// skipped, so the counts tell), events in the batch's order, outbox rows. A data-modifying CTE
/// always runs in full; no table refers to another, so none needs to see another's rows.
const INSERT_SET: &str = "WITH rail AS (
    INSERT INTO rail_messages (message_id, stream_id, version, recorded_at, payload)
    SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[], $5::text[])
    ON CONFLICT (message_id) DO NOTHING RETURNING 1
), keys AS (
    INSERT INTO idempotency_keys (key, stream_id, version, fingerprint, recorded_at)
    SELECT * FROM unnest($6::text[], $7::text[], $8::int[], $9::bytea[], $10::bigint[])
    ON CONFLICT (key) DO NOTHING RETURNING 1
), ev AS (
    INSERT INTO events (stream_id, version, event_type, schema_version,
        occurred_at, recorded_at, correlation_id, causation_id, payload, prev_hash, hash)
    SELECT s, v, t, sv, o, r, c, ca, p, ph, h
    FROM unnest($11::text[], $12::int[], $13::text[], $14::int[], $15::bigint[], $16::bigint[],
                $17::text[], $18::text[], $19::text[], $20::bytea[], $21::bytea[])
         WITH ORDINALITY AS u(s, v, t, sv, o, r, c, ca, p, ph, h, n)
    ORDER BY n RETURNING 1
), ob AS (
    INSERT INTO outbox (id, destination, payload, stream_id, version, created_at)
    SELECT i, d, p, s, v, c
    FROM unnest($22::text[], $23::text[], $24::text[], $25::text[], $26::int[], $27::bigint[])
         WITH ORDINALITY AS u(i, d, p, s, v, c, n)
    ORDER BY n RETURNING 1
)
SELECT (SELECT count(*) FROM rail), (SELECT count(*) FROM keys),
       (SELECT count(*) FROM ev), (SELECT count(*) FROM ob)";

/// [`INSERT_SET`] as a transaction by itself, in one round trip: the append lock is taken before
/// any row is made (every insert waits on it through a one-time filter), and `npp_claims_free`
/// (schema version 4) raises [`CLAIM_TAKEN`] unless every row went in, so nothing commits unless
/// all of it does.
const INSERT_SET_ALONE: &str = "WITH lock AS MATERIALIZED (
    SELECT 1 AS taken FROM pg_advisory_xact_lock(1313886257)
), rail AS (
    INSERT INTO rail_messages (message_id, stream_id, version, recorded_at, payload)
    SELECT m, s, v, r, p
    FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[], $5::text[]) AS u(m, s, v, r, p)
    WHERE EXISTS (SELECT 1 FROM lock)
    ON CONFLICT (message_id) DO NOTHING RETURNING 1
), keys AS (
    INSERT INTO idempotency_keys (key, stream_id, version, fingerprint, recorded_at)
    SELECT k, s, v, f, r
    FROM unnest($6::text[], $7::text[], $8::int[], $9::bytea[], $10::bigint[]) AS u(k, s, v, f, r)
    WHERE EXISTS (SELECT 1 FROM lock)
    ON CONFLICT (key) DO NOTHING RETURNING 1
), ev AS (
    INSERT INTO events (stream_id, version, event_type, schema_version,
        occurred_at, recorded_at, correlation_id, causation_id, payload, prev_hash, hash)
    SELECT s, v, t, sv, o, r, c, ca, p, ph, h
    FROM unnest($11::text[], $12::int[], $13::text[], $14::int[], $15::bigint[], $16::bigint[],
                $17::text[], $18::text[], $19::text[], $20::bytea[], $21::bytea[])
         WITH ORDINALITY AS u(s, v, t, sv, o, r, c, ca, p, ph, h, n)
    WHERE EXISTS (SELECT 1 FROM lock)
    ORDER BY n RETURNING 1
), ob AS (
    INSERT INTO outbox (id, destination, payload, stream_id, version, created_at)
    SELECT i, d, p, s, v, c
    FROM unnest($22::text[], $23::text[], $24::text[], $25::text[], $26::int[], $27::bigint[])
         WITH ORDINALITY AS u(i, d, p, s, v, c, n)
    WHERE EXISTS (SELECT 1 FROM lock)
    ORDER BY n RETURNING 1
)
SELECT npp_claims_free((SELECT count(*) FROM rail) = $28 AND (SELECT count(*) FROM keys) = $29
    AND (SELECT count(*) FROM ev) = $30 AND (SELECT count(*) FROM ob) = $31)";

const HEADS: &str = "SELECT e.stream_id, e.version, e.hash FROM events e
    JOIN unnest($1::text[], $2::int[]) AS w(stream_id, version)
      ON e.stream_id = w.stream_id AND e.version = w.version";

const RAIL_CLAIMS: &str =
    "INSERT INTO rail_messages (message_id, stream_id, version, recorded_at, payload)
    SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[], $5::text[])
    ON CONFLICT (message_id) DO NOTHING";

const IDEMPOTENCY_CLAIMS: &str =
    "INSERT INTO idempotency_keys (key, stream_id, version, fingerprint, recorded_at)
    SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::bytea[], $5::bigint[])
    ON CONFLICT (key) DO NOTHING";

// WITH ORDINALITY and ORDER BY: global positions are assigned in the batch's order.
const EVENTS: &str = "INSERT INTO events (stream_id, version, event_type, schema_version,
        occurred_at, recorded_at, correlation_id, causation_id, payload, prev_hash, hash)
    SELECT s, v, t, sv, o, r, c, ca, p, ph, h
    FROM unnest($1::text[], $2::int[], $3::text[], $4::int[], $5::bigint[], $6::bigint[],
                $7::text[], $8::text[], $9::text[], $10::bytea[], $11::bytea[])
         WITH ORDINALITY AS u(s, v, t, sv, o, r, c, ca, p, ph, h, n)
    ORDER BY n";

const OUTBOX: &str = "INSERT INTO outbox (id, destination, payload, stream_id, version, created_at)
    SELECT i, d, p, s, v, c
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::bigint[])
         WITH ORDINALITY AS u(i, d, p, s, v, c, n)
    ORDER BY n";

pub(crate) const STREAM_VERSION: &str =
    "SELECT COALESCE(MAX(version), 0) FROM events WHERE stream_id = $1";

pub(crate) const FIND_RAIL_MESSAGE: &str =
    "SELECT stream_id, version FROM rail_messages WHERE message_id = $1";

pub(crate) const RAIL_MESSAGES: &str =
    "SELECT message_id, stream_id, version, recorded_at, payload FROM rail_messages
    WHERE stream_id = $1 ORDER BY version";

pub(crate) const FIND_IDEMPOTENCY: &str =
    "SELECT stream_id, version, fingerprint FROM idempotency_keys WHERE key = $1";

/// The writer's statements, prepared once per connection.
pub(crate) struct Statements {
    heads: Statement,
    rail_claims: Statement,
    idempotency_claims: Statement,
    events: Statement,
    outbox: Statement,
    set: Statement,
    set_alone: Statement,
}

impl Statements {
    pub(crate) fn prepare(client: &mut Client) -> Result<Self, postgres::Error> {
        Ok(Self {
            heads: client.prepare(HEADS)?,
            rail_claims: client.prepare(RAIL_CLAIMS)?,
            idempotency_claims: client.prepare(IDEMPOTENCY_CLAIMS)?,
            events: client.prepare(EVENTS)?,
            outbox: client.prepare(OUTBOX)?,
            set: client.prepare(INSERT_SET)?,
            set_alone: client.prepare(INSERT_SET_ALONE)?,
        })
    }
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

fn is_unique_violation(e: &postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

/// `npp_claims_free` found a claim's key taken (schema version 4).
fn is_claim_taken(e: &postgres::Error) -> bool {
    e.code().is_some_and(|c| c.code() == CLAIM_TAKEN)
}

/// The SQLSTATE `npp_claims_free` raises.
pub(crate) const CLAIM_TAKEN: &str = "NPP01";

/// A row count as PostgreSQL's BIGINT.
fn count(rows: usize) -> Result<i64, StoreError> {
    i64::try_from(rows).map_err(|_| StoreError::Unrepresentable {
        what: "row count",
        why: format!("{rows} is over i64"),
    })
}

/// One column of `row`, of the type this store writes there; anything else is corruption.
pub(crate) fn column<'r, T: postgres::types::FromSql<'r>>(
    row: &'r Row,
    index: usize,
    table: &'static str,
    name: &'static str,
    describe: &dyn Fn() -> String,
) -> Result<T, StoreError> {
    row.try_get::<_, T>(index)
        .map_err(|e| corrupt_row(table, name, describe(), format!("cannot be read: {e}")))
}

pub(crate) fn stream_version<S: ToStatement + ?Sized>(
    client: &mut Client,
    statement: &S,
    stream: &StreamId,
) -> Result<u32, StoreError> {
    let describe = || format!("stream {stream}");
    let row = client
        .query_one(statement, &[&stream.as_str()])
        .map_err(pg)?;
    let raw: i32 = column(&row, 0, "events", "version", &describe)?;
    version_from_db(i64::from(raw), true, "events", &describe)
}

pub(crate) fn find_rail_message<S: ToStatement + ?Sized>(
    client: &mut Client,
    statement: &S,
    message_id: &str,
) -> Result<Option<PriorResult>, StoreError> {
    let Some(row) = client.query_opt(statement, &[&message_id]).map_err(pg)? else {
        return Ok(None);
    };
    let describe = || format!("key {message_id:?}");
    let stream: String = column(&row, 0, "rail_messages", "stream_id", &describe)?;
    let version: i32 = column(&row, 1, "rail_messages", "version", &describe)?;
    prior_from_db("rail_messages", message_id, &stream, i64::from(version)).map(Some)
}

pub(crate) fn rail_messages<S: ToStatement + ?Sized>(
    client: &mut Client,
    statement: &S,
    stream: &StreamId,
) -> Result<Vec<RailMessageRecord>, StoreError> {
    let table = "rail_messages";
    let rows = client.query(statement, &[&stream.as_str()]).map_err(pg)?;
    rows.iter()
        .map(|row| {
            let describe = || format!("a rail message of {stream}");
            let message_id: String = column(row, 0, table, "message_id", &describe)?;
            let describe = || format!("key {message_id:?}");
            let version: i32 = column(row, 2, table, "version", &describe)?;
            RailMessageColumns {
                stream: column(row, 1, table, "stream_id", &describe)?,
                version: i64::from(version),
                recorded_at: column(row, 3, table, "recorded_at", &describe)?,
                payload: column(row, 4, table, "payload", &describe)?,
                message_id,
            }
            .record()
        })
        .collect()
}

pub(crate) fn find_idempotency<S: ToStatement + ?Sized>(
    client: &mut Client,
    statement: &S,
    key: &str,
) -> Result<Option<(PriorResult, [u8; 32])>, StoreError> {
    let Some(row) = client.query_opt(statement, &[&key]).map_err(pg)? else {
        return Ok(None);
    };
    let describe = || format!("key {key:?}");
    let table = "idempotency_keys";
    let stream: String = column(&row, 0, table, "stream_id", &describe)?;
    let version: i32 = column(&row, 1, table, "version", &describe)?;
    let fingerprint: Vec<u8> = column(&row, 2, table, "fingerprint", &describe)?;
    Ok(Some((
        prior_from_db(table, key, &stream, i64::from(version))?,
        fingerprint_from_db(key, &fingerprint)?,
    )))
}

/// Where the writer connection is in one batch's transaction. `begin` only marks it due: a
/// batch that needs nothing but its inserts writes them in one statement that is a transaction by
/// itself (one round trip), and anything else opens the transaction first.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) enum Tx {
    /// No transaction.
    #[default]
    Idle,
    /// `begin` was called; nothing has been sent yet.
    Due,
    /// `BEGIN` (with the lock) was sent.
    Open,
    /// The batch committed in one statement.
    Committed,
}

/// The writer connection inside one batch's transaction.
pub(crate) struct PgEngine<'a> {
    pub(crate) client: &'a mut Client,
    pub(crate) statements: &'a Statements,
    pub(crate) tx: Tx,
}

impl PgEngine<'_> {
    fn run(&mut self, sql: &str) -> Result<(), StoreError> {
        self.client.batch_execute(sql).map_err(pg)
    }

    /// Sends the due `BEGIN` (with the lock), before any statement that needs the transaction.
    fn open(&mut self) -> Result<(), StoreError> {
        if self.tx == Tx::Due {
            // One round trip: the simple protocol runs both statements from one message.
            self.run(BEGIN_LOCKED)?;
            self.tx = Tx::Open;
        }
        Ok(())
    }

    /// Runs an insert; `false` when a unique key was taken.
    fn insert(
        &mut self,
        statement: &Statement,
        params: &[&(dyn postgres::types::ToSql + Sync)],
        expected: usize,
    ) -> Result<bool, StoreError> {
        match self.client.execute(statement, params) {
            Ok(inserted) if inserted == expected as u64 => Ok(true),
            Ok(inserted) => Err(StoreError::Unavailable(format!(
                "inserted {inserted} of {expected} rows"
            ))),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(pg(e)),
        }
    }

    /// Runs an `ON CONFLICT DO NOTHING` claim insert; `false` when any key was there.
    fn claim(
        &mut self,
        statement: &Statement,
        params: &[&(dyn postgres::types::ToSql + Sync)],
        expected: usize,
    ) -> Result<bool, StoreError> {
        let inserted = self.client.execute(statement, params).map_err(pg)?;
        Ok(inserted == expected as u64)
    }
}

/// The columns of claims, one vector per column: keys, streams, versions, times.
type ClaimColumns<'a> = (Vec<&'a str>, Vec<&'a str>, Vec<i32>, Vec<i64>);

fn claim_columns<'a>(claims: &[ClaimRow<'a>]) -> Result<ClaimColumns<'a>, StoreError> {
    let (mut keys, mut streams, mut versions, mut times) = (vec![], vec![], vec![], vec![]);
    for claim in claims {
        keys.push(claim.key);
        streams.push(claim.stream.as_str());
        versions.push(int(claim.version, "claim version")?);
        times.push(nanos(claim.recorded_at, "recorded_at")?);
    }
    Ok((keys, streams, versions, times))
}

impl Engine for PgEngine<'_> {
    fn begin(&mut self) -> Result<(), StoreError> {
        debug_assert_eq!(self.tx, Tx::Idle, "a batch's transaction is already open");
        self.tx = Tx::Due;
        Ok(())
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        let was = std::mem::take(&mut self.tx);
        match was {
            Tx::Open => self.run("COMMIT"),
            Tx::Idle | Tx::Due | Tx::Committed => Ok(()),
        }
    }

    fn rollback(&mut self) -> Result<(), StoreError> {
        let was = std::mem::take(&mut self.tx);
        match was {
            Tx::Open => self.run("ROLLBACK"),
            // A one-statement batch that failed was rolled back by the server.
            Tx::Idle | Tx::Due => Ok(()),
            // Nothing may follow a one-statement commit but the outcomes: rolling back now
            // would have the isolated path write the batch again.
            Tx::Committed => Err(StoreError::Unavailable(
                "a batch asked to roll back after it committed in one statement".into(),
            )),
        }
    }

    fn savepoint(&mut self) -> Result<(), StoreError> {
        self.open()?;
        self.run("SAVEPOINT npp_unit")
    }

    fn release_savepoint(&mut self) -> Result<(), StoreError> {
        self.run("RELEASE SAVEPOINT npp_unit")
    }

    fn rollback_to_savepoint(&mut self) -> Result<(), StoreError> {
        self.run("ROLLBACK TO SAVEPOINT npp_unit")
    }

    fn read_heads(
        &mut self,
        wanted: &[(&StreamId, u32)],
    ) -> Result<Vec<Option<EventHash>>, StoreError> {
        self.open()?;
        let streams: Vec<&str> = wanted.iter().map(|(s, _)| s.as_str()).collect();
        let versions = wanted
            .iter()
            .map(|(_, v)| int(*v, "version"))
            .collect::<Result<Vec<i32>, _>>()?;
        let rows = self
            .client
            .query(&self.statements.heads.clone(), &[&streams, &versions])
            .map_err(pg)?;
        let mut found: HashMap<(String, i32), Vec<u8>> = HashMap::with_capacity(rows.len());
        for row in &rows {
            let describe = || "a head read back".to_owned();
            let stream: String = column(row, 0, "events", "stream_id", &describe)?;
            let version: i32 = column(row, 1, "events", "version", &describe)?;
            let hash: Vec<u8> = column(row, 2, "events", "hash", &describe)?;
            found.insert((stream, version), hash);
        }
        wanted
            .iter()
            .zip(&versions)
            .map(|((stream, version), as_int)| {
                found
                    .get(&(stream.as_str().to_owned(), *as_int))
                    .map(|bytes| {
                        EventHash::from_slice(bytes).ok_or_else(|| StoreError::Corrupt {
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
        self.open()?;
        stream_version(self.client, STREAM_VERSION, stream)
    }

    fn claim_rail_messages(&mut self, claims: &[ClaimRow<'_>]) -> Result<bool, StoreError> {
        self.open()?;
        let (ids, streams, versions, times) = claim_columns(claims)?;
        let payloads = payloads(claims);
        let statements = self.statements;
        let statement = &statements.rail_claims;
        self.claim(
            statement,
            &[&ids, &streams, &versions, &times, &payloads],
            claims.len(),
        )
    }

    fn find_rail_message(&mut self, message_id: &str) -> Result<Option<PriorResult>, StoreError> {
        self.open()?;
        find_rail_message(self.client, FIND_RAIL_MESSAGE, message_id)
    }

    fn claim_idempotency_keys(&mut self, claims: &[ClaimRow<'_>]) -> Result<bool, StoreError> {
        self.open()?;
        let (keys, streams, versions, times) = claim_columns(claims)?;
        let prints = fingerprints(claims)?;
        let statements = self.statements;
        let statement = &statements.idempotency_claims;
        self.claim(
            statement,
            &[&keys, &streams, &versions, &prints, &times],
            claims.len(),
        )
    }

    fn find_idempotency(
        &mut self,
        key: &str,
    ) -> Result<Option<(PriorResult, [u8; 32])>, StoreError> {
        self.open()?;
        find_idempotency(self.client, FIND_IDEMPOTENCY, key)
    }

    fn insert_events(&mut self, rows: &[EventRow<'_>]) -> Result<bool, StoreError> {
        self.open()?;
        let c = EventColumns::of(rows)?;
        let statements = self.statements;
        self.insert(&statements.events, &c.params(), rows.len())
    }

    fn insert_outbox(&mut self, rows: &[OutboxRow<'_>]) -> Result<bool, StoreError> {
        self.open()?;
        let c = OutboxColumns::of(rows)?;
        let statements = self.statements;
        self.insert(&statements.outbox, &c.params(), rows.len())
    }

    fn insert_set(&mut self, set: &SetRows<'_>) -> Result<bool, StoreError> {
        let (rail_ids, rail_streams, rail_versions, rail_times) = claim_columns(&set.rail)?;
        let rail_payloads = payloads(&set.rail);
        let (keys, key_streams, key_versions, key_times) = claim_columns(&set.keys)?;
        let prints = fingerprints(&set.keys)?;
        let events = EventColumns::of(&set.events)?;
        let outbox = OutboxColumns::of(&set.outbox)?;
        let mut params: Vec<&(dyn postgres::types::ToSql + Sync)> = vec![
            &rail_ids,
            &rail_streams,
            &rail_versions,
            &rail_times,
            &rail_payloads,
            &keys,
            &key_streams,
            &key_versions,
            &prints,
            &key_times,
        ];
        params.extend(events.params());
        params.extend(outbox.params());
        let expected = [
            count(set.rail.len())?,
            count(set.keys.len())?,
            count(set.events.len())?,
            count(set.outbox.len())?,
        ];
        if self.tx == Tx::Due {
            params.extend(
                expected
                    .iter()
                    .map(|n| n as &(dyn postgres::types::ToSql + Sync)),
            );
        }
        let alone = self.tx == Tx::Due;
        let statement = if alone {
            &self.statements.set_alone
        } else {
            &self.statements.set
        };
        let row = match self.client.query_one(statement, &params) {
            Ok(row) => row,
            Err(e) if is_unique_violation(&e) || is_claim_taken(&e) => {
                if alone {
                    // The server rolled the one-statement transaction back.
                    self.tx = Tx::Idle;
                }
                return Ok(false);
            }
            Err(e) => {
                if alone {
                    self.tx = Tx::Idle;
                }
                return Err(pg(e));
            }
        };
        if alone {
            // Every count was checked by the statement itself, which then committed.
            self.tx = Tx::Committed;
            return Ok(true);
        }
        let describe = || "the counts of a batch's inserts".to_owned();
        let counts = [
            (0, "rail", set.rail.len()),
            (1, "keys", set.keys.len()),
            (2, "events", set.events.len()),
            (3, "outbox", set.outbox.len()),
        ];
        for (index, name, expected) in counts {
            let inserted: i64 = column(&row, index, "batch", name, &describe)?;
            if usize::try_from(inserted).ok() != Some(expected) {
                // A claim found its key taken: the isolated path says which.
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// The raw messages kept with rail message claims, one per claim (`None` where none was given).
fn payloads<'a>(claims: &[ClaimRow<'a>]) -> Vec<Option<&'a str>> {
    claims.iter().map(|c| c.payload).collect()
}

fn fingerprints<'a>(claims: &[ClaimRow<'a>]) -> Result<Vec<&'a [u8]>, StoreError> {
    claims
        .iter()
        .map(|c| {
            c.fingerprint.map(|f| &f[..]).ok_or_else(|| {
                StoreError::InvalidAppend("an idempotency claim without a fingerprint".into())
            })
        })
        .collect()
}

/// The columns of outbox rows, one vector per column.
struct OutboxColumns<'a> {
    ids: Vec<&'a str>,
    destinations: Vec<&'a str>,
    payloads: Vec<&'a str>,
    streams: Vec<&'a str>,
    versions: Vec<i32>,
    times: Vec<i64>,
}

impl<'a> OutboxColumns<'a> {
    fn of(rows: &[OutboxRow<'a>]) -> Result<Self, StoreError> {
        let mut c = Self {
            ids: Vec::with_capacity(rows.len()),
            destinations: Vec::with_capacity(rows.len()),
            payloads: Vec::with_capacity(rows.len()),
            streams: Vec::with_capacity(rows.len()),
            versions: Vec::with_capacity(rows.len()),
            times: Vec::with_capacity(rows.len()),
        };
        for row in rows {
            c.ids.push(row.message.id());
            c.destinations.push(row.message.destination());
            c.payloads.push(row.message.payload());
            c.streams.push(row.stream.as_str());
            c.versions.push(int(row.version, "version")?);
            c.times.push(nanos(row.recorded_at, "recorded_at")?);
        }
        Ok(c)
    }

    fn params(&self) -> [&(dyn postgres::types::ToSql + Sync); 6] {
        [
            &self.ids,
            &self.destinations,
            &self.payloads,
            &self.streams,
            &self.versions,
            &self.times,
        ]
    }
}

/// The columns of every event of a batch, one vector per column.
#[derive(Default)]
struct EventColumns<'a> {
    streams: Vec<&'a str>,
    versions: Vec<i32>,
    types: Vec<&'a str>,
    schema_versions: Vec<i32>,
    occurred: Vec<i64>,
    recorded: Vec<i64>,
    correlations: Vec<Option<&'a str>>,
    causations: Vec<Option<&'a str>>,
    payloads: Vec<&'a str>,
    prev_hashes: Vec<&'a [u8]>,
    hashes: Vec<&'a [u8]>,
}

impl<'a> EventColumns<'a> {
    fn of(rows: &'a [EventRow<'a>]) -> Result<Self, StoreError> {
        let mut c = Self::default();
        for row in rows {
            c.streams.push(row.stream.as_str());
            c.versions.push(int(row.version, "version")?);
            c.types.push(row.event.event_type());
            c.schema_versions
                .push(i32::from(row.event.schema_version()));
            c.occurred
                .push(nanos(row.event.occurred_at(), "occurred_at")?);
            c.recorded.push(nanos(row.recorded_at, "recorded_at")?);
            c.correlations.push(row.event.correlation_id());
            c.causations.push(row.event.causation_id());
            c.payloads.push(row.event.payload());
            c.prev_hashes.push(&row.prev.as_bytes()[..]);
            c.hashes.push(&row.hash.as_bytes()[..]);
        }
        Ok(c)
    }

    fn params(&self) -> [&(dyn postgres::types::ToSql + Sync); 11] {
        [
            &self.streams,
            &self.versions,
            &self.types,
            &self.schema_versions,
            &self.occurred,
            &self.recorded,
            &self.correlations,
            &self.causations,
            &self.payloads,
            &self.prev_hashes,
            &self.hashes,
        ]
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_opening_statement_takes_the_append_lock() {
        assert_eq!(
            super::BEGIN_LOCKED,
            format!("BEGIN; SELECT pg_advisory_xact_lock({})", 0x4E50_5031_i64)
        );
    }
}
