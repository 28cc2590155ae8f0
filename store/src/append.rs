//! The append algorithm, written once for every adapter: expected versions, claims before
//! events, the hash chain, the outbox, and refusal isolation. What differs per database (how a
//! head is read, how rows and claims are inserted, how a transaction and a savepoint are spelt)
//! is the [`Engine`] trait; the rules are [`write_batch`].
//!
//! A batch is a list of *units*; a unit is one append, or an atomic group of appends that commit
//! together or not at all. The batch first runs as one transaction with every step set-wise (all
//! heads read at once, all claims in one insert, all events in one insert, all outbox rows in
//! one insert). If anything in it is unusual (a claim taken, a version taken, a value refused),
//! that transaction is rolled back and the batch runs again with a savepoint per unit, so one
//! refusal never takes a neighbour with it and each refusal is reported exactly.

use std::collections::HashMap;

use core_npp::Timestamp;
use event_store::{
    AppendRequest, Committed, EventHash, GroupOutcome, NewEvent, OutboxMessage, PriorResult,
    StoreError, StreamId,
};

use crate::heads::Heads;

/// One event row to insert, sealed into its stream's chain.
pub(crate) struct EventRow<'a> {
    pub(crate) stream: &'a StreamId,
    pub(crate) version: u32,
    pub(crate) event: &'a NewEvent,
    pub(crate) recorded_at: Timestamp,
    pub(crate) prev: EventHash,
    pub(crate) hash: EventHash,
}

/// A claim on a rail message id or an idempotency key, pointing at the append that made it.
pub(crate) struct ClaimRow<'a> {
    /// The message id or the key.
    pub(crate) key: &'a str,
    /// The idempotency fingerprint; `None` for a rail message.
    pub(crate) fingerprint: Option<&'a [u8; 32]>,
    /// The raw rail message kept with its claim; `None` for an idempotency key, and for a rail
    /// message given without one.
    pub(crate) payload: Option<&'a str>,
    pub(crate) stream: &'a StreamId,
    /// The stream's version after the append.
    pub(crate) version: u32,
    pub(crate) recorded_at: Timestamp,
}

/// One outbox row, committed with the append that caused it.
pub(crate) struct OutboxRow<'a> {
    pub(crate) message: &'a OutboxMessage,
    pub(crate) stream: &'a StreamId,
    /// The stream's version after the append.
    pub(crate) version: u32,
    pub(crate) recorded_at: Timestamp,
}

/// What an adapter provides: transactions, savepoints, and set-wise reads and inserts. An insert
/// returns `Ok(false)` when a unique key it writes is already taken (nothing else is an answer:
/// any other failure is an error). Errors inside a unit refuse that unit; an error of the
/// transaction-control methods fails the whole batch.
pub(crate) trait Engine {
    fn begin(&mut self) -> Result<(), StoreError>;
    fn commit(&mut self) -> Result<(), StoreError>;
    fn rollback(&mut self) -> Result<(), StoreError>;
    fn savepoint(&mut self) -> Result<(), StoreError>;
    fn release_savepoint(&mut self) -> Result<(), StoreError>;
    fn rollback_to_savepoint(&mut self) -> Result<(), StoreError>;
    /// The hash of each (stream, version), where that event exists.
    fn read_heads(
        &mut self,
        wanted: &[(&StreamId, u32)],
    ) -> Result<Vec<Option<EventHash>>, StoreError>;
    fn stream_version(&mut self, stream: &StreamId) -> Result<u32, StoreError>;
    /// Inserts rail message claims; `false` if any id was claimed before.
    fn claim_rail_messages(&mut self, claims: &[ClaimRow<'_>]) -> Result<bool, StoreError>;
    fn find_rail_message(&mut self, message_id: &str) -> Result<Option<PriorResult>, StoreError>;
    /// Inserts idempotency claims; `false` if any key was claimed before.
    fn claim_idempotency_keys(&mut self, claims: &[ClaimRow<'_>]) -> Result<bool, StoreError>;
    fn find_idempotency(
        &mut self,
        key: &str,
    ) -> Result<Option<(PriorResult, [u8; 32])>, StoreError>;
    /// Inserts events; `false` if any (stream, version) is taken.
    fn insert_events(&mut self, rows: &[EventRow<'_>]) -> Result<bool, StoreError>;
    /// Inserts outbox rows; `false` if any id is taken.
    fn insert_outbox(&mut self, rows: &[OutboxRow<'_>]) -> Result<bool, StoreError>;
    /// Everything a set-wise batch writes: claims, events and outbox rows; `false` if any key is
    /// taken (the caller then rolls the whole transaction back). One step each by default; an
    /// engine whose steps are round trips writes them in one.
    fn insert_set(&mut self, set: &SetRows<'_>) -> Result<bool, StoreError> {
        Ok(
            (set.rail.is_empty() || self.claim_rail_messages(&set.rail)?)
                && (set.keys.is_empty() || self.claim_idempotency_keys(&set.keys)?)
                && self.insert_events(&set.events)?
                && (set.outbox.is_empty() || self.insert_outbox(&set.outbox)?),
        )
    }
}

/// The rows of one set-wise batch.
pub(crate) struct SetRows<'a> {
    pub(crate) rail: Vec<ClaimRow<'a>>,
    pub(crate) keys: Vec<ClaimRow<'a>>,
    pub(crate) events: Vec<EventRow<'a>>,
    pub(crate) outbox: Vec<OutboxRow<'a>>,
}

/// The result of one unit.
pub(crate) type UnitResult = Result<GroupOutcome, StoreError>;

/// Writes `units` through `engine`: one result per unit, in order. `Err` only when the database
/// itself failed, in which case nothing of the batch was written.
pub(crate) fn write_batch<E: Engine, U: AsRef<[AppendRequest]>>(
    engine: &mut E,
    heads: &mut Heads,
    units: &[U],
) -> Result<Vec<UnitResult>, StoreError> {
    debug_assert!(
        units.iter().all(|u| !u.as_ref().is_empty()),
        "a unit has an append"
    );
    engine.begin()?;
    match write_set_wise(engine, heads, units) {
        Ok(written) => {
            engine.commit()?;
            // A later append of a stream supersedes an earlier one: noted in batch order.
            for (request, last) in units.iter().flat_map(AsRef::as_ref).zip(&written.lasts) {
                if let Start::Known(last) = last {
                    heads.note(request.stream(), request.final_version(), *last);
                }
            }
            Ok(written.outcomes)
        }
        Err(_) => {
            engine.rollback()?;
            write_isolated(engine, heads, units)
        }
    }
}

/// Where an append's chain starts.
#[derive(Clone, Copy)]
enum Start {
    Known(EventHash),
    /// After the append at this index of the batch.
    After(usize),
    /// Read from the database: this slot of the read.
    Read(usize),
}

/// Heads written in the open transaction, by stream: (version, hash).
type Written<'a> = HashMap<&'a StreamId, (u32, EventHash)>;

struct SetWise {
    outcomes: Vec<UnitResult>,
    /// Each append's last hash (`Start::Known`, once sealed), in batch order.
    lasts: Vec<Start>,
}

/// Why the set-wise path handed the batch back: anything at all, since the isolated path
/// finds out what exactly and answers for it.
struct Fallback;

impl From<StoreError> for Fallback {
    fn from(_: StoreError) -> Self {
        Fallback
    }
}

fn ok_or_fallback(done: bool) -> Result<(), Fallback> {
    if done { Ok(()) } else { Err(Fallback) }
}

fn write_set_wise<E: Engine, U: AsRef<[AppendRequest]>>(
    engine: &mut E,
    heads: &Heads,
    units: &[U],
) -> Result<SetWise, Fallback> {
    // A single append (the common hand-off) needs no list of its own.
    let single: [&AppendRequest; 1];
    let collected: Vec<&AppendRequest>;
    let requests: &[&AppendRequest] = match (units, units.first().map(AsRef::as_ref)) {
        ([_], Some([only])) => {
            single = [only];
            &single
        }
        _ => {
            collected = units.iter().flat_map(AsRef::as_ref).collect();
            &collected
        }
    };
    let mut starts = plan_starts(heads, requests)?;
    let wanted: Vec<(&StreamId, u32)> = requests
        .iter()
        .zip(&starts)
        .filter(|(_, start)| matches!(start, Start::Read(_)))
        .map(|(r, _)| (r.stream(), r.expected_version()))
        .collect();
    let read = if wanted.is_empty() {
        Vec::new()
    } else {
        engine.read_heads(&wanted)?
    };
    let rail = claims(requests, ClaimKind::Rail)?;
    let keys = claims(requests, ClaimKind::Idempotency)?;
    let events: usize = requests.iter().map(|r| r.events().len()).sum();
    let mut rows = Vec::with_capacity(events);
    // Each start becomes its append's last hash in place: an append chained after an earlier
    // one of the batch finds that one's last hash where its start was.
    for index in 0..requests.len() {
        let (Some(request), Some(start)) = (requests.get(index), starts.get(index).copied()) else {
            return Err(Fallback);
        };
        let prev = match start {
            Start::Known(hash) => hash,
            Start::After(earlier) => match starts.get(earlier) {
                Some(Start::Known(last)) => *last,
                Some(Start::After(_) | Start::Read(_)) | None => return Err(Fallback),
            },
            Start::Read(slot) => read.get(slot).copied().flatten().ok_or(Fallback)?,
        };
        let last = seal(request, prev, &mut rows);
        if let Some(slot) = starts.get_mut(index) {
            *slot = Start::Known(last);
        }
    }
    let outbox: Vec<OutboxRow<'_>> = requests.iter().flat_map(|r| outbox_rows(r)).collect();
    ok_or_fallback(engine.insert_set(&SetRows {
        rail,
        keys,
        events: rows,
        outbox,
    })?)?;
    let mut committed = requests.iter().map(|r| committed(r));
    let outcomes = units
        .iter()
        .map(|unit| {
            let count = unit.as_ref().len();
            Ok(GroupOutcome::Committed(
                committed.by_ref().take(count).collect(),
            ))
        })
        .collect();
    Ok(SetWise {
        outcomes,
        lasts: starts,
    })
}

/// Where each append's chain starts, without reading anything: genesis, a remembered head, an
/// earlier append of the batch, or a slot of one read. An append that expects a version another
/// append of the batch has moved past is a conflict: handed back.
fn plan_starts(heads: &Heads, requests: &[&AppendRequest]) -> Result<Vec<Start>, Fallback> {
    if let [only] = requests {
        // One append: nothing earlier in the batch to chain from.
        let start = match only.expected_version() {
            0 => Start::Known(EventHash::GENESIS),
            expected => heads
                .get(only.stream(), expected)
                .map_or(Start::Read(0), Start::Known),
        };
        return Ok(vec![start]);
    }
    let mut latest = Latest::with_capacity(requests.len());
    let mut reads = 0usize;
    let mut starts = Vec::with_capacity(requests.len());
    for (index, request) in requests.iter().enumerate() {
        let expected = request.expected_version();
        let start = match latest.get(request.stream()) {
            Some((version, earlier)) if *version == expected => Start::After(*earlier),
            Some(_) => return Err(Fallback),
            None if expected == 0 => Start::Known(EventHash::GENESIS),
            None => match heads.get(request.stream(), expected) {
                Some(hash) => Start::Known(hash),
                None => {
                    reads += 1;
                    Start::Read(reads - 1)
                }
            },
        };
        latest.insert(request.stream(), (request.final_version(), index));
        starts.push(start);
    }
    Ok(starts)
}

/// The latest (version, index) each stream reached in the batch so far: a scan for the small
/// batches a single caller hands over, a hash map for the large ones group commit gathers.
enum Latest<'a> {
    Few(Vec<(&'a StreamId, (u32, usize))>),
    Many(HashMap<&'a StreamId, (u32, usize)>),
}

/// Past this many appends a batch indexes its streams instead of scanning them.
const SCAN_LIMIT: usize = 16;

impl<'a> Latest<'a> {
    fn with_capacity(n: usize) -> Self {
        if n <= SCAN_LIMIT {
            Latest::Few(Vec::with_capacity(n))
        } else {
            Latest::Many(HashMap::with_capacity(n))
        }
    }

    fn get(&self, stream: &StreamId) -> Option<&(u32, usize)> {
        match self {
            Latest::Few(pairs) => pairs
                .iter()
                .rev()
                .find(|(s, _)| *s == stream)
                .map(|(_, v)| v),
            Latest::Many(map) => map.get(stream),
        }
    }

    fn insert(&mut self, stream: &'a StreamId, value: (u32, usize)) {
        match self {
            Latest::Few(pairs) => pairs.push((stream, value)),
            Latest::Many(map) => {
                map.insert(stream, value);
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ClaimKind {
    Rail,
    Idempotency,
}

fn claim_of(request: &AppendRequest, kind: ClaimKind) -> Option<ClaimRow<'_>> {
    let (key, fingerprint, payload) = match kind {
        ClaimKind::Rail => (
            request.rail_message_id()?,
            None,
            request.rail_message_payload(),
        ),
        ClaimKind::Idempotency => {
            let claim = request.idempotency()?;
            (claim.key(), Some(claim.fingerprint()), None)
        }
    };
    Some(ClaimRow {
        key,
        fingerprint,
        payload,
        stream: request.stream(),
        version: request.final_version(),
        recorded_at: request.recorded_at(),
    })
}

/// Every claim of `kind` in the batch; a key claimed twice within it is handed back (the second
/// must be answered with the first's result).
fn claims<'a>(
    requests: &[&'a AppendRequest],
    kind: ClaimKind,
) -> Result<Vec<ClaimRow<'a>>, Fallback> {
    let rows: Vec<ClaimRow<'a>> = requests.iter().filter_map(|r| claim_of(r, kind)).collect();
    let unique = if rows.len() <= SCAN_LIMIT {
        rows.iter()
            .enumerate()
            .all(|(i, row)| rows.iter().take(i).all(|earlier| earlier.key != row.key))
    } else {
        let mut seen = std::collections::HashSet::with_capacity(rows.len());
        rows.iter().all(|row| seen.insert(row.key))
    };
    if unique { Ok(rows) } else { Err(Fallback) }
}

/// Seals `request`'s events after `prev` into `rows`; returns the last hash.
fn seal<'a>(
    request: &'a AppendRequest,
    prev: EventHash,
    rows: &mut Vec<EventRow<'a>>,
) -> EventHash {
    let stream = request.stream();
    let recorded_at = request.recorded_at();
    let mut prev = prev;
    for (version, event) in (request.expected_version() + 1..).zip(request.events()) {
        let hash = event.chain_hash(stream, version, recorded_at, &prev);
        rows.push(EventRow {
            stream,
            version,
            event,
            recorded_at,
            prev,
            hash,
        });
        prev = hash;
    }
    prev
}

fn outbox_rows(request: &AppendRequest) -> impl Iterator<Item = OutboxRow<'_>> {
    request.outbox().iter().map(move |message| OutboxRow {
        message,
        stream: request.stream(),
        version: request.final_version(),
        recorded_at: request.recorded_at(),
    })
}

fn committed(request: &AppendRequest) -> Committed {
    Committed {
        stream: request.stream().clone(),
        first_version: request.expected_version() + 1,
        last_version: request.final_version(),
    }
}

fn note_heads(heads: &mut Heads, written: &Written<'_>) {
    for (stream, (version, hash)) in written {
        heads.note(stream, *version, *hash);
    }
}

/// Why one append of a unit did not commit.
enum Refusal {
    Store(StoreError),
    /// Its claim was applied before: the group is answered with that result.
    AlreadyApplied(PriorResult),
    /// The stream is not at the expected version; the real version is read after the unit's
    /// savepoint is rolled back.
    VersionTaken(usize),
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        Refusal::Store(e)
    }
}

fn write_isolated<E: Engine, U: AsRef<[AppendRequest]>>(
    engine: &mut E,
    heads: &mut Heads,
    units: &[U],
) -> Result<Vec<UnitResult>, StoreError> {
    engine.begin()?;
    let mut written = Written::new();
    let mut results = Vec::with_capacity(units.len());
    for unit in units {
        let unit = unit.as_ref();
        engine.savepoint()?;
        let mut mine = Written::new();
        match append_unit(engine, heads, &written, &mut mine, unit) {
            Ok(outcomes) => {
                engine.release_savepoint()?;
                written.extend(mine);
                results.push(Ok(GroupOutcome::Committed(outcomes)));
            }
            Err(refusal) => {
                engine.rollback_to_savepoint()?;
                engine.release_savepoint()?;
                results.push(match refusal {
                    Refusal::Store(e) => Err(e),
                    Refusal::AlreadyApplied(prior) => Ok(GroupOutcome::AlreadyApplied(prior)),
                    Refusal::VersionTaken(index) => Err(conflict(engine, unit, index)?),
                });
            }
        }
    }
    engine.commit()?;
    note_heads(heads, &written);
    Ok(results)
}

fn conflict<E: Engine>(
    engine: &mut E,
    unit: &[AppendRequest],
    index: usize,
) -> Result<StoreError, StoreError> {
    let request = unit
        .get(index)
        .ok_or_else(|| StoreError::Unavailable("a refused append is not in its unit".into()))?;
    let actual = engine.stream_version(request.stream())?;
    Ok(StoreError::Conflict {
        stream: request.stream().clone(),
        expected: request.expected_version(),
        actual,
    })
}

/// One unit inside its savepoint: each append in turn, claims first.
fn append_unit<'a, E: Engine>(
    engine: &mut E,
    heads: &Heads,
    before: &Written<'a>,
    mine: &mut Written<'a>,
    unit: &'a [AppendRequest],
) -> Result<Vec<Committed>, Refusal> {
    let mut outcomes = Vec::with_capacity(unit.len());
    for (index, request) in unit.iter().enumerate() {
        let Some(prev) = predecessor(engine, heads, before, mine, request)? else {
            return Err(Refusal::VersionTaken(index));
        };
        claim_one(engine, request)?;
        let mut rows = Vec::with_capacity(request.events().len());
        let last = seal(request, prev, &mut rows);
        if !engine.insert_events(&rows)? {
            return Err(Refusal::VersionTaken(index));
        }
        for row in outbox_rows(request) {
            if !engine.insert_outbox(std::slice::from_ref(&row))? {
                return Err(Refusal::Store(StoreError::InvalidAppend(format!(
                    "outbox id {} is already used",
                    row.message.id()
                ))));
            }
        }
        mine.insert(request.stream(), (request.final_version(), last));
        outcomes.push(committed(request));
    }
    Ok(outcomes)
}

/// The hash the append's chain starts from, or `None` when the stream is not at the expected
/// version (shorter, or moved on within this batch).
fn predecessor<E: Engine>(
    engine: &mut E,
    heads: &Heads,
    before: &Written<'_>,
    mine: &Written<'_>,
    request: &AppendRequest,
) -> Result<Option<EventHash>, StoreError> {
    let expected = request.expected_version();
    if let Some((version, hash)) = mine.get(request.stream()).or(before.get(request.stream())) {
        // Written in this transaction: the head is known exactly.
        return Ok((*version == expected).then_some(*hash));
    }
    if expected == 0 {
        return Ok(Some(EventHash::GENESIS));
    }
    if let Some(hash) = heads.get(request.stream(), expected) {
        return Ok(Some(hash));
    }
    let read = engine.read_heads(&[(request.stream(), expected)])?;
    Ok(read.into_iter().next().flatten())
}

/// Takes the append's claims; a claim taken before answers with the append that took it.
fn claim_one<E: Engine>(engine: &mut E, request: &AppendRequest) -> Result<(), Refusal> {
    if let Some(claim) = claim_of(request, ClaimKind::Rail)
        && !engine.claim_rail_messages(std::slice::from_ref(&claim))?
    {
        let prior = engine
            .find_rail_message(claim.key)?
            .ok_or_else(|| StoreError::Unavailable("a rail message claim vanished".into()))?;
        return Err(Refusal::AlreadyApplied(prior));
    }
    if let Some(claim) = claim_of(request, ClaimKind::Idempotency)
        && !engine.claim_idempotency_keys(std::slice::from_ref(&claim))?
    {
        let (prior, fingerprint) = engine
            .find_idempotency(claim.key)?
            .ok_or_else(|| StoreError::Unavailable("an idempotency claim vanished".into()))?;
        if Some(&fingerprint) != claim.fingerprint {
            return Err(Refusal::Store(StoreError::IdempotencyConflict {
                key: claim.key.to_owned(),
                stream: prior.stream,
            }));
        }
        return Err(Refusal::AlreadyApplied(prior));
    }
    Ok(())
}
