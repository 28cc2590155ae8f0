//! The PostgreSQL writer's set-based path: a whole batch of appends in a fixed handful of round
//! trips (claims, events and outbox each as one `INSERT ... SELECT FROM unnest(...)`), whatever
//! its size. Anything unusual in the batch (a repeated claim, a taken version, two appends to one
//! stream) sends it back to the per-append path, which isolates each append in a savepoint.

use std::collections::{HashMap, HashSet};

use event_store::{AppendOutcome, AppendRequest, Committed, EventHash, StoreError};
use postgres::{Client, Statement, Transaction};

use crate::heads::Heads;
use crate::row::nanos;

/// The statements of the set-based path, prepared once per writer connection.
pub(crate) struct SetStatements {
    heads: Statement,
    rail_claims: Statement,
    idempotency_claims: Statement,
    events: Statement,
    outbox: Statement,
}

const HEADS: &str = "SELECT e.stream_id, e.version, e.hash FROM events e
    JOIN unnest($1::text[], $2::int[]) AS w(stream_id, version)
      ON e.stream_id = w.stream_id AND e.version = w.version";

const RAIL_CLAIMS: &str = "INSERT INTO rail_messages (message_id, stream_id, version, recorded_at)
    SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[])
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

impl SetStatements {
    pub(crate) fn prepare(client: &mut Client) -> Result<Self, postgres::Error> {
        Ok(Self {
            heads: client.prepare(HEADS)?,
            rail_claims: client.prepare(RAIL_CLAIMS)?,
            idempotency_claims: client.prepare(IDEMPOTENCY_CLAIMS)?,
            events: client.prepare(EVENTS)?,
            outbox: client.prepare(OUTBOX)?,
        })
    }
}

/// Why the set-based path handed the batch back.
pub(crate) enum Fallback {
    /// The batch needs the per-append path (a refusal to isolate, or a shape it does not take).
    PerAppend,
    /// The database failed; every append of the batch fails.
    Store(StoreError),
}

impl From<postgres::Error> for Fallback {
    fn from(e: postgres::Error) -> Self {
        // The server refused something in the batch (a taken claim or version, a value it will
        // not store): the per-append path finds which append and refuses that one alone. Only a
        // failure to talk to the server fails the batch.
        if e.as_db_error().is_some() {
            Fallback::PerAppend
        } else {
            Fallback::Store(crate::postgres_store::pg(e))
        }
    }
}

impl From<StoreError> for Fallback {
    // An append the batch cannot even encode (a time past 2262) is refused alone, too.
    fn from(_: StoreError) -> Self {
        Fallback::PerAppend
    }
}

/// One committed append and the hash of its last event.
pub(crate) type Written = (AppendOutcome, EventHash);

fn int(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

/// Whether the batch has the shape the set-based path takes: every stream, claim and outbox id
/// at most once. Repeats within one batch are left to the per-append path.
pub(crate) fn simple_shape(batch: &[AppendRequest]) -> bool {
    let mut streams = HashSet::with_capacity(batch.len());
    let mut claims = HashSet::new();
    let mut outbox = HashSet::new();
    batch.iter().all(|r| {
        streams.insert(r.stream().as_str())
            && r.rail_message_id().is_none_or(|m| claims.insert(("m", m)))
            && r.idempotency()
                .is_none_or(|c| claims.insert(("k", c.key())))
            && r.outbox().iter().all(|m| outbox.insert(m.id()))
    })
}

/// Writes a batch of `simple_shape` inside `tx` (which holds the append lock); the caller
/// commits.
pub(crate) fn write_set(
    tx: &mut Transaction<'_>,
    statements: &SetStatements,
    batch: &[AppendRequest],
    heads: &Heads,
) -> Result<Vec<Written>, Fallback> {
    let prevs = predecessors(tx, statements, batch, heads)?;
    claim_rail_messages(tx, statements, batch)?;
    claim_idempotency_keys(tx, statements, batch)?;
    let written = insert_events(tx, statements, batch, &prevs)?;
    insert_outbox(tx, statements, batch)?;
    Ok(written)
}

/// The hash each append chains from: genesis, remembered, or read in one query for all.
fn predecessors(
    tx: &mut Transaction<'_>,
    statements: &SetStatements,
    batch: &[AppendRequest],
    heads: &Heads,
) -> Result<Vec<EventHash>, Fallback> {
    let remembered = |r: &AppendRequest| -> Option<EventHash> {
        if r.expected_version() == 0 {
            return Some(EventHash::GENESIS);
        }
        heads.get(r.stream(), r.expected_version())
    };
    let missing: Vec<&AppendRequest> = batch.iter().filter(|r| remembered(r).is_none()).collect();
    let mut found = HashMap::new();
    if !missing.is_empty() {
        let streams: Vec<&str> = missing.iter().map(|r| r.stream().as_str()).collect();
        let versions: Vec<i32> = missing.iter().map(|r| int(r.expected_version())).collect();
        for row in tx.query(&statements.heads, &[&streams, &versions])? {
            let hash: Vec<u8> = row.try_get(2)?;
            let hash = EventHash::from_slice(&hash).ok_or(Fallback::PerAppend)?;
            found.insert(row.try_get::<_, String>(0)?, hash);
        }
    }
    batch
        .iter()
        .map(|r| {
            remembered(r)
                .or_else(|| found.get(r.stream().as_str()).copied())
                // The stream is shorter than expected: a conflict, reported per append.
                .ok_or(Fallback::PerAppend)
        })
        .collect()
}

fn claim_rail_messages(
    tx: &mut Transaction<'_>,
    statements: &SetStatements,
    batch: &[AppendRequest],
) -> Result<(), Fallback> {
    let (mut ids, mut streams, mut versions, mut times) = (vec![], vec![], vec![], vec![]);
    for r in batch {
        if let Some(message_id) = r.rail_message_id() {
            ids.push(message_id);
            streams.push(r.stream().as_str());
            versions.push(int(r.final_version()));
            times.push(nanos(r.recorded_at(), "recorded_at")?);
        }
    }
    if ids.is_empty() {
        return Ok(());
    }
    let inserted = tx.execute(
        &statements.rail_claims,
        &[&ids, &streams, &versions, &times],
    )?;
    // A repeated message is answered with its original result by the per-append path.
    if inserted == ids.len() as u64 {
        Ok(())
    } else {
        Err(Fallback::PerAppend)
    }
}

fn claim_idempotency_keys(
    tx: &mut Transaction<'_>,
    statements: &SetStatements,
    batch: &[AppendRequest],
) -> Result<(), Fallback> {
    let (mut keys, mut streams, mut versions, mut prints, mut times) =
        (vec![], vec![], vec![], vec![], vec![]);
    for r in batch {
        if let Some(claim) = r.idempotency() {
            keys.push(claim.key());
            streams.push(r.stream().as_str());
            versions.push(int(r.final_version()));
            prints.push(&claim.fingerprint()[..]);
            times.push(nanos(r.recorded_at(), "recorded_at")?);
        }
    }
    if keys.is_empty() {
        return Ok(());
    }
    let inserted = tx.execute(
        &statements.idempotency_claims,
        &[&keys, &streams, &versions, &prints, &times],
    )?;
    if inserted == keys.len() as u64 {
        Ok(())
    } else {
        Err(Fallback::PerAppend)
    }
}

/// The columns of every event of the batch, one vector per column.
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
    prev_hashes: Vec<Vec<u8>>,
    hashes: Vec<Vec<u8>>,
}

fn insert_events(
    tx: &mut Transaction<'_>,
    statements: &SetStatements,
    batch: &[AppendRequest],
    prevs: &[EventHash],
) -> Result<Vec<Written>, Fallback> {
    let mut c = EventColumns::default();
    let mut written = Vec::with_capacity(batch.len());
    for (request, prev) in batch.iter().zip(prevs) {
        let stream = request.stream();
        let recorded_at = nanos(request.recorded_at(), "recorded_at")?;
        let mut prev = *prev;
        for (version, event) in (request.expected_version() + 1..).zip(request.events()) {
            let (hash, _) = event.seal(stream, version, request.recorded_at(), &prev);
            c.streams.push(stream.as_str());
            c.versions.push(int(version));
            c.types.push(event.event_type());
            c.schema_versions.push(i32::from(event.schema_version()));
            c.occurred.push(nanos(event.occurred_at(), "occurred_at")?);
            c.recorded.push(recorded_at);
            c.correlations.push(event.correlation_id());
            c.causations.push(event.causation_id());
            c.payloads.push(event.payload());
            c.prev_hashes.push(prev.as_bytes().to_vec());
            c.hashes.push(hash.as_bytes().to_vec());
            prev = hash;
        }
        let committed = Committed {
            stream: stream.clone(),
            first_version: request.expected_version() + 1,
            last_version: request.final_version(),
        };
        written.push((AppendOutcome::Committed(committed), prev));
    }
    let inserted = tx.execute(
        &statements.events,
        &[
            &c.streams,
            &c.versions,
            &c.types,
            &c.schema_versions,
            &c.occurred,
            &c.recorded,
            &c.correlations,
            &c.causations,
            &c.payloads,
            &c.prev_hashes,
            &c.hashes,
        ],
    )?;
    if inserted == c.streams.len() as u64 {
        Ok(written)
    } else {
        Err(Fallback::Store(StoreError::Unavailable(format!(
            "inserted {inserted} of {} events",
            c.streams.len()
        ))))
    }
}

fn insert_outbox(
    tx: &mut Transaction<'_>,
    statements: &SetStatements,
    batch: &[AppendRequest],
) -> Result<(), Fallback> {
    let (mut ids, mut destinations, mut payloads, mut streams, mut versions, mut times) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for r in batch {
        for message in r.outbox() {
            ids.push(message.id());
            destinations.push(message.destination());
            payloads.push(message.payload());
            streams.push(r.stream().as_str());
            versions.push(int(r.final_version()));
            times.push(nanos(r.recorded_at(), "recorded_at")?);
        }
    }
    if ids.is_empty() {
        return Ok(());
    }
    tx.execute(
        &statements.outbox,
        &[&ids, &destinations, &payloads, &streams, &versions, &times],
    )?;
    Ok(())
}
