//! The in-memory adapter: the same semantics as the SQL adapters, for tests and benchmarks.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};

use core_npp::Timestamp;
use event_store::{
    AppendOutcome, AppendRequest, Attempt, EventHash, EventStore, GroupOutcome, MAX_OUTBOX_PAGE,
    OutboxClaim, OutboxEntry, OutboxItem, OutboxMessage, OutboxQuery, OutboxStatus, PriorResult,
    RailMessageRecord, RecordedEvent, StoreError, StreamId, outbox_error,
};

use crate::append::{
    ClaimRow, Engine, EventRow, OutboxRow as NewOutboxRow, UnitResult, write_batch,
};
use crate::group_commit::single;
use crate::heads::Heads;

#[derive(Default)]
struct Inner {
    log: Vec<RecordedEvent>,
    streams: BTreeMap<StreamId, Vec<usize>>,
    idempotency: HashMap<String, (PriorResult, [u8; 32])>,
    rail_messages: HashMap<String, RailMessageRecord>,
    /// The rail message ids each stream's appends claimed, in the order they were claimed (which
    /// is version order: a stream's later append has a later version).
    rail_by_stream: HashMap<StreamId, Vec<String>>,
    outbox: Vec<OutboxRow>,
    outbox_ids: HashMap<String, usize>,
    /// The open write's undo log, kept between writes so it allocates once.
    undo: Vec<Undo>,
}

struct OutboxRow {
    message: OutboxMessage,
    stream: StreamId,
    version: u32,
    created_at: Timestamp,
    claims: u32,
    attempts: u32,
    lease: Option<(String, Timestamp)>,
    /// Deferred: not claimed before this.
    not_before: Option<Timestamp>,
    status: OutboxStatus,
    finished_at: Option<Timestamp>,
    last_error: Option<String>,
}

impl OutboxRow {
    fn held_by(&self, owner: &str) -> bool {
        self.status == OutboxStatus::Pending
            && self
                .lease
                .as_ref()
                .is_some_and(|(holder, _)| holder == owner)
    }

    fn entry(&self, position: usize) -> OutboxEntry {
        OutboxEntry {
            position: position as u64 + 1,
            message: self.message.clone(),
            status: self.status,
            claims: self.claims,
            attempts: self.attempts,
            version: self.version,
            created_at: self.created_at,
            finished_at: self.finished_at,
            not_before: match self.status {
                OutboxStatus::Pending => self.lease.as_ref().map(|(_, t)| *t).or(self.not_before),
                OutboxStatus::Delivered | OutboxStatus::Failed => None,
            },
            last_error: self.last_error.clone(),
        }
    }
}

/// An event store in memory. Appends are serialised by one lock, which is all the atomicity a
/// single process needs.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>, StoreError> {
        self.inner
            .lock()
            .map_err(|_| StoreError::Unavailable("memory store lock poisoned".into()))
    }

    /// Applies `change` to message `id` if `owner` holds its lease; whether it did.
    fn with_held(
        &self,
        id: &str,
        owner: &str,
        change: impl FnOnce(&mut OutboxRow),
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock()?;
        let Some(index) = inner.outbox_ids.get(id).copied() else {
            return Ok(false);
        };
        match inner.outbox.get_mut(index) {
            Some(row) if row.held_by(owner) => {
                change(row);
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

/// What the open transaction changed, to undo on rollback.
enum Undo {
    /// This many events appended to the log (each one's stream index with it).
    Events(usize),
    RailClaim(String),
    IdempotencyClaim(String),
    Outbox(String),
}

/// The memory store as an [`Engine`]: writes go straight into `Inner` and are undone from a
/// log on rollback, so the one append algorithm runs here exactly as on the SQL engines.
struct MemoryEngine<'a> {
    inner: &'a mut Inner,
    savepoints: Vec<usize>,
}

impl MemoryEngine<'_> {
    fn undo_to(&mut self, mark: usize) {
        while self.inner.undo.len() > mark {
            match self.inner.undo.pop() {
                Some(Undo::Events(count)) => {
                    for _ in 0..count {
                        let Some(event) = self.inner.log.pop() else {
                            break;
                        };
                        let stream = event.stream_id();
                        if let Some(indices) = self.inner.streams.get_mut(stream) {
                            indices.pop();
                            if indices.is_empty() {
                                self.inner.streams.remove(stream);
                            }
                        }
                    }
                }
                Some(Undo::RailClaim(id)) => {
                    if let Some(record) = self.inner.rail_messages.remove(&id)
                        && let Some(ids) = self.inner.rail_by_stream.get_mut(&record.stream)
                    {
                        if let Some(at) = ids.iter().rposition(|claimed| *claimed == id) {
                            ids.remove(at);
                        }
                        if ids.is_empty() {
                            self.inner.rail_by_stream.remove(&record.stream);
                        }
                    }
                }
                Some(Undo::IdempotencyClaim(key)) => {
                    self.inner.idempotency.remove(&key);
                }
                Some(Undo::Outbox(id)) => {
                    self.inner.outbox.pop();
                    self.inner.outbox_ids.remove(&id);
                }
                None => {}
            }
        }
    }

    fn version_of(&self, stream: &StreamId) -> Result<u32, StoreError> {
        let count = self.inner.streams.get(stream).map_or(0, Vec::len);
        u32::try_from(count).map_err(|_| StoreError::Corrupt {
            stream: stream.clone(),
            version: u32::MAX,
            what: format!("{count} events are more than a stream can hold"),
        })
    }
}

impl MemoryEngine<'_> {
    /// Appends one stream's run of rows; `false` (nothing written) when the first row's version
    /// is not the stream's next, as the SQL engines' unique (stream, version) key would refuse it.
    fn insert_run(&mut self, stream: &StreamId, rows: &[EventRow<'_>]) -> Result<bool, StoreError> {
        let start = self.inner.log.len();
        let indices = self.inner.streams.get_mut(stream);
        let current = indices.as_ref().map_or(0, |i| i.len());
        let sequential = rows
            .iter()
            .zip(current..)
            .all(|(row, before)| usize::try_from(row.version).is_ok_and(|v| v == before + 1));
        if !sequential {
            return Ok(false);
        }
        let positions = start..start + rows.len();
        match indices {
            Some(indices) => indices.extend(positions),
            None => {
                self.inner
                    .streams
                    .insert(stream.clone(), positions.collect());
            }
        }
        for (offset, row) in rows.iter().enumerate() {
            self.inner.log.push(RecordedEvent::from_parts(
                stream.clone(),
                row.version,
                (start + offset) as u64 + 1,
                row.event.clone(),
                row.recorded_at,
                row.prev,
                row.hash,
            ));
        }
        self.inner.undo.push(Undo::Events(rows.len()));
        Ok(true)
    }
}

impl Engine for MemoryEngine<'_> {
    fn begin(&mut self) -> Result<(), StoreError> {
        self.inner.undo.clear();
        self.savepoints.clear();
        Ok(())
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        self.inner.undo.clear();
        self.savepoints.clear();
        Ok(())
    }

    fn rollback(&mut self) -> Result<(), StoreError> {
        self.undo_to(0);
        self.savepoints.clear();
        Ok(())
    }

    fn savepoint(&mut self) -> Result<(), StoreError> {
        self.savepoints.push(self.inner.undo.len());
        Ok(())
    }

    fn release_savepoint(&mut self) -> Result<(), StoreError> {
        self.savepoints.pop();
        Ok(())
    }

    fn rollback_to_savepoint(&mut self) -> Result<(), StoreError> {
        let mark = self.savepoints.last().copied().unwrap_or(0);
        self.undo_to(mark);
        Ok(())
    }

    fn read_heads(
        &mut self,
        wanted: &[(&StreamId, u32)],
    ) -> Result<Vec<Option<EventHash>>, StoreError> {
        Ok(wanted
            .iter()
            .map(|(stream, version)| {
                let index = usize::try_from(*version).ok()?.checked_sub(1)?;
                let position = *self.inner.streams.get(*stream)?.get(index)?;
                self.inner.log.get(position).map(|e| *e.hash())
            })
            .collect())
    }

    fn stream_version(&mut self, stream: &StreamId) -> Result<u32, StoreError> {
        self.version_of(stream)
    }

    fn claim_rail_messages(&mut self, claims: &[ClaimRow<'_>]) -> Result<bool, StoreError> {
        for claim in claims {
            if self.inner.rail_messages.contains_key(claim.key) {
                return Ok(false);
            }
            let record = RailMessageRecord {
                message_id: claim.key.to_owned(),
                stream: claim.stream.clone(),
                version: claim.version,
                recorded_at: claim.recorded_at,
                payload: claim.payload.map(str::to_owned),
            };
            self.inner
                .rail_by_stream
                .entry(claim.stream.clone())
                .or_default()
                .push(claim.key.to_owned());
            self.inner
                .rail_messages
                .insert(claim.key.to_owned(), record);
            self.inner.undo.push(Undo::RailClaim(claim.key.to_owned()));
        }
        Ok(true)
    }

    fn find_rail_message(&mut self, message_id: &str) -> Result<Option<PriorResult>, StoreError> {
        Ok(self.inner.rail_messages.get(message_id).map(prior_of))
    }

    fn claim_idempotency_keys(&mut self, claims: &[ClaimRow<'_>]) -> Result<bool, StoreError> {
        for claim in claims {
            let Some(fingerprint) = claim.fingerprint else {
                return Err(StoreError::InvalidAppend(
                    "an idempotency claim without a fingerprint".into(),
                ));
            };
            if self.inner.idempotency.contains_key(claim.key) {
                return Ok(false);
            }
            let prior = PriorResult {
                stream: claim.stream.clone(),
                version: claim.version,
            };
            self.inner
                .idempotency
                .insert(claim.key.to_owned(), (prior, *fingerprint));
            self.inner
                .undo
                .push(Undo::IdempotencyClaim(claim.key.to_owned()));
        }
        Ok(true)
    }

    fn find_idempotency(
        &mut self,
        key: &str,
    ) -> Result<Option<(PriorResult, [u8; 32])>, StoreError> {
        Ok(self.inner.idempotency.get(key).cloned())
    }

    fn insert_events(&mut self, rows: &[EventRow<'_>]) -> Result<bool, StoreError> {
        // Rows come in runs of one stream (one append's events): one index lookup per run.
        let mut rest = rows;
        while let Some(first) = rest.first() {
            let run = rest.iter().take_while(|r| r.stream == first.stream).count();
            let (these, later) = rest.split_at(run);
            if !self.insert_run(first.stream, these)? {
                return Ok(false);
            }
            rest = later;
        }
        Ok(true)
    }

    fn insert_outbox(&mut self, rows: &[NewOutboxRow<'_>]) -> Result<bool, StoreError> {
        for row in rows {
            let id = row.message.id();
            if self.inner.outbox_ids.contains_key(id) {
                return Ok(false);
            }
            self.inner
                .outbox_ids
                .insert(id.to_owned(), self.inner.outbox.len());
            self.inner.outbox.push(OutboxRow {
                message: row.message.clone(),
                stream: row.stream.clone(),
                version: row.version,
                created_at: row.recorded_at,
                claims: 0,
                attempts: 0,
                lease: None,
                not_before: None,
                status: OutboxStatus::Pending,
                finished_at: None,
                last_error: None,
            });
            self.inner.undo.push(Undo::Outbox(id.to_owned()));
        }
        Ok(true)
    }
}

/// What the append that claimed a rail message did.
fn prior_of(record: &RailMessageRecord) -> PriorResult {
    PriorResult {
        stream: record.stream.clone(),
        version: record.version,
    }
}

impl MemoryStore {
    fn write<U: AsRef<[AppendRequest]>>(&self, units: &[U]) -> Vec<UnitResult> {
        let mut guard = match self.lock() {
            Ok(inner) => inner,
            Err(e) => return units.iter().map(|_| Err(e.clone())).collect(),
        };
        let mut engine = MemoryEngine {
            inner: &mut guard,
            savepoints: Vec::new(),
        };
        // Reads cost nothing here, so no head is remembered.
        match write_batch(&mut engine, &mut Heads::disabled(), units) {
            Ok(results) => results,
            Err(e) => units.iter().map(|_| Err(e.clone())).collect(),
        }
    }
}

impl EventStore for MemoryStore {
    fn append(&self, request: AppendRequest) -> Result<AppendOutcome, StoreError> {
        self.write(&[std::slice::from_ref(&request)])
            .pop()
            .map_or_else(|| Err(StoreError::Unavailable("no result".into())), single)
    }

    fn append_batch(&self, requests: Vec<AppendRequest>) -> Vec<Result<AppendOutcome, StoreError>> {
        let units: Vec<Vec<AppendRequest>> = requests.into_iter().map(|r| vec![r]).collect();
        self.write(&units).into_iter().map(single).collect()
    }

    fn append_atomic(&self, requests: Vec<AppendRequest>) -> Result<GroupOutcome, StoreError> {
        if requests.is_empty() {
            return Err(StoreError::InvalidAppend(
                "an atomic group needs at least one append".into(),
            ));
        }
        self.write(&[requests])
            .pop()
            .unwrap_or_else(|| Err(StoreError::Unavailable("no result".into())))
    }

    fn batches_pay(&self) -> bool {
        false
    }

    fn stream_version(&self, stream: &StreamId) -> Result<u32, StoreError> {
        let count = self.lock()?.streams.get(stream).map_or(0, Vec::len);
        u32::try_from(count).map_err(|_| StoreError::Corrupt {
            stream: stream.clone(),
            version: u32::MAX,
            what: format!("{count} events are more than a stream can hold"),
        })
    }

    fn read_stream(&self, stream: &StreamId) -> Result<Vec<RecordedEvent>, StoreError> {
        let inner = self.lock()?;
        let indices = inner
            .streams
            .get(stream)
            .map(Vec::as_slice)
            .unwrap_or_default();
        Ok(indices
            .iter()
            .filter_map(|i| inner.log.get(*i).cloned())
            .collect())
    }

    fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let inner = self.lock()?;
        let start = usize::try_from(after).unwrap_or(usize::MAX);
        Ok(inner.log.iter().skip(start).take(limit).cloned().collect())
    }

    fn list_streams(
        &self,
        after: Option<&StreamId>,
        limit: usize,
    ) -> Result<Vec<StreamId>, StoreError> {
        let inner = self.lock()?;
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        let streams = inner.streams.range::<StreamId, _>((from, Bound::Unbounded));
        Ok(streams.take(limit).map(|(s, _)| s.clone()).collect())
    }

    fn find_idempotency(&self, key: &str) -> Result<Option<(PriorResult, [u8; 32])>, StoreError> {
        Ok(self.lock()?.idempotency.get(key).cloned())
    }

    fn find_rail_message(&self, message_id: &str) -> Result<Option<PriorResult>, StoreError> {
        Ok(self.lock()?.rail_messages.get(message_id).map(prior_of))
    }

    fn rail_messages(&self, stream: &StreamId) -> Result<Vec<RailMessageRecord>, StoreError> {
        let inner = self.lock()?;
        let ids = inner
            .rail_by_stream
            .get(stream)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut records: Vec<RailMessageRecord> = ids
            .iter()
            .filter_map(|id| inner.rail_messages.get(id).cloned())
            .collect();
        // Claimed in version order already; sorted anyway, as the SQL adapters' ORDER BY does.
        records.sort_by_key(|r| r.version);
        Ok(records)
    }

    fn claim_outbox(&self, claim: &OutboxClaim<'_>) -> Result<Vec<OutboxItem>, StoreError> {
        let mut inner = self.lock()?;
        let (owner, now, limit) = (claim.owner, claim.now, claim.limit);
        let until = now.plus_nanos(claim.lease_nanos).unwrap_or(now);
        let free = |row: &OutboxRow| {
            row.status == OutboxStatus::Pending
                && row.not_before.is_none_or(|t| t <= now)
                && row.message.destination() == claim.destination
                && row.stream.as_str().starts_with(claim.streams)
                && row
                    .lease
                    .as_ref()
                    .is_none_or(|(holder, until)| *until <= now || holder == owner)
        };
        let mut claimed = Vec::new();
        for row in inner.outbox.iter_mut().filter(|row| free(row)).take(limit) {
            row.claims = row.claims.saturating_add(1);
            row.lease = Some((owner.to_owned(), until));
            row.not_before = None;
            claimed.push(OutboxItem {
                message: row.message.clone(),
                claims: row.claims,
                attempts: row.attempts,
            });
        }
        Ok(claimed)
    }

    fn complete_outbox(&self, id: &str, owner: &str, now: Timestamp) -> Result<bool, StoreError> {
        self.with_held(id, owner, |row| {
            row.status = OutboxStatus::Delivered;
            row.finished_at = Some(now);
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
        self.with_held(id, owner, |row| {
            row.attempts = row.attempts.saturating_add(u32::from(attempt.counted()));
            row.lease = None;
            row.not_before = Some(until);
            row.last_error = Some(outbox_error(why).to_owned());
        })
    }

    fn fail_outbox(
        &self,
        id: &str,
        owner: &str,
        now: Timestamp,
        why: &str,
        attempt: Attempt,
    ) -> Result<bool, StoreError> {
        self.with_held(id, owner, |row| {
            row.attempts = row.attempts.saturating_add(u32::from(attempt.counted()));
            row.status = OutboxStatus::Failed;
            row.finished_at = Some(now);
            row.lease = None;
            row.last_error = Some(outbox_error(why).to_owned());
        })
    }

    fn reopen_outbox(&self, id: &str) -> Result<bool, StoreError> {
        let mut inner = self.lock()?;
        let Some(index) = inner.outbox_ids.get(id).copied() else {
            return Ok(false);
        };
        let Some(row) = inner.outbox.get_mut(index) else {
            return Ok(false);
        };
        if row.status == OutboxStatus::Pending {
            return Ok(false);
        }
        row.status = OutboxStatus::Pending;
        row.finished_at = None;
        row.lease = None;
        row.not_before = None;
        Ok(true)
    }

    fn list_outbox(&self, query: &OutboxQuery<'_>) -> Result<Vec<OutboxEntry>, StoreError> {
        let inner = self.lock()?;
        let skip = usize::try_from(query.after).unwrap_or(usize::MAX);
        Ok(inner
            .outbox
            .iter()
            .enumerate()
            .skip(skip)
            .filter(|(_, row)| {
                row.message.destination() == query.destination
                    && row.message.id().starts_with(query.id_prefix)
                    && query.status.is_none_or(|status| status == row.status)
                    && query.stream.is_none_or(|stream| *stream == row.stream)
            })
            .take(query.limit.min(MAX_OUTBOX_PAGE))
            .map(|(index, row)| row.entry(index))
            .collect())
    }

    fn pending_outbox(&self) -> Result<usize, StoreError> {
        Ok(self
            .lock()?
            .outbox
            .iter()
            .filter(|row| row.status == OutboxStatus::Pending)
            .count())
    }

    fn oldest_pending_outbox(&self) -> Result<Option<Timestamp>, StoreError> {
        Ok(self
            .lock()?
            .outbox
            .iter()
            .filter(|row| row.status == OutboxStatus::Pending)
            .map(|row| row.created_at)
            .min())
    }
}
