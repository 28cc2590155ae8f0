//! The in-memory adapter: the same semantics as the SQL adapters, for tests and benchmarks.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use core_npp::Timestamp;
use event_store::{
    AppendOutcome, AppendRequest, Committed, EventHash, EventStore, OutboxItem, OutboxMessage,
    PriorResult, RecordedEvent, StoreError, StreamId,
};

#[derive(Default)]
struct Inner {
    log: Vec<RecordedEvent>,
    streams: BTreeMap<StreamId, Vec<usize>>,
    idempotency: HashMap<String, (PriorResult, [u8; 32])>,
    rail_messages: HashMap<String, PriorResult>,
    outbox: Vec<OutboxRow>,
    outbox_ids: HashMap<String, usize>,
}

struct OutboxRow {
    message: OutboxMessage,
    claims: u32,
    lease: Option<(String, Timestamp)>,
    delivered: bool,
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
}

impl Inner {
    fn append(&mut self, request: &AppendRequest) -> Result<AppendOutcome, StoreError> {
        if let Some(prior) = request
            .rail_message_id()
            .and_then(|id| self.rail_messages.get(id))
        {
            return Ok(AppendOutcome::AlreadyApplied(prior.clone()));
        }
        if let Some(claim) = request.idempotency()
            && let Some((prior, fingerprint)) = self.idempotency.get(claim.key())
        {
            if fingerprint != claim.fingerprint() {
                return Err(StoreError::IdempotencyConflict {
                    key: claim.key().to_owned(),
                    stream: prior.stream.clone(),
                });
            }
            return Ok(AppendOutcome::AlreadyApplied(prior.clone()));
        }
        if let Some(dup) = request
            .outbox()
            .iter()
            .find(|m| self.outbox_ids.contains_key(m.id()))
        {
            return Err(StoreError::InvalidAppend(format!(
                "outbox id {} is already used",
                dup.id()
            )));
        }
        let stream = request.stream();
        let indices = self
            .streams
            .get(stream)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let actual = u32::try_from(indices.len()).unwrap_or(u32::MAX);
        if actual != request.expected_version() {
            return Err(StoreError::Conflict {
                stream: stream.clone(),
                expected: request.expected_version(),
                actual,
            });
        }
        let mut prev = indices
            .last()
            .and_then(|i| self.log.get(*i))
            .map_or(EventHash::GENESIS, |e| *e.hash());
        let mut new_indices = Vec::with_capacity(request.events().len());
        for (version, event) in (actual + 1..).zip(request.events()) {
            let (hash, recorded) = event.seal(stream, version, request.recorded_at(), &prev);
            let position = self.log.len() as u64 + 1;
            new_indices.push(self.log.len());
            self.log.push(recorded.at_position(position));
            prev = hash;
        }
        self.streams
            .entry(stream.clone())
            .or_default()
            .extend(new_indices);
        let prior = PriorResult {
            stream: stream.clone(),
            version: request.final_version(),
        };
        if let Some(claim) = request.idempotency() {
            self.idempotency.insert(
                claim.key().to_owned(),
                (prior.clone(), *claim.fingerprint()),
            );
        }
        if let Some(id) = request.rail_message_id() {
            self.rail_messages.insert(id.to_owned(), prior);
        }
        for message in request.outbox() {
            self.outbox_ids
                .insert(message.id().to_owned(), self.outbox.len());
            self.outbox.push(OutboxRow {
                message: message.clone(),
                claims: 0,
                lease: None,
                delivered: false,
            });
        }
        Ok(AppendOutcome::Committed(Committed {
            stream: stream.clone(),
            first_version: actual + 1,
            last_version: request.final_version(),
        }))
    }
}

impl EventStore for MemoryStore {
    fn append(&self, request: AppendRequest) -> Result<AppendOutcome, StoreError> {
        self.lock()?.append(&request)
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
        let streams = inner
            .streams
            .keys()
            .filter(|s| after.is_none_or(|a| *s > a));
        Ok(streams.take(limit).cloned().collect())
    }

    fn find_idempotency(&self, key: &str) -> Result<Option<(PriorResult, [u8; 32])>, StoreError> {
        Ok(self.lock()?.idempotency.get(key).cloned())
    }

    fn find_rail_message(&self, message_id: &str) -> Result<Option<PriorResult>, StoreError> {
        Ok(self.lock()?.rail_messages.get(message_id).cloned())
    }

    fn claim_outbox(
        &self,
        owner: &str,
        now: Timestamp,
        lease_nanos: i64,
        limit: usize,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let mut inner = self.lock()?;
        let until = now.plus_nanos(lease_nanos).unwrap_or(now);
        let free = |row: &OutboxRow| {
            !row.delivered
                && row
                    .lease
                    .as_ref()
                    .is_none_or(|(holder, until)| *until <= now || holder == owner)
        };
        let mut claimed = Vec::new();
        for row in inner.outbox.iter_mut().filter(|row| free(row)).take(limit) {
            row.claims = row.claims.saturating_add(1);
            row.lease = Some((owner.to_owned(), until));
            claimed.push(OutboxItem {
                message: row.message.clone(),
                claims: row.claims,
            });
        }
        Ok(claimed)
    }

    fn complete_outbox(&self, id: &str, owner: &str, _now: Timestamp) -> Result<bool, StoreError> {
        let mut inner = self.lock()?;
        let Some(index) = inner.outbox_ids.get(id).copied() else {
            return Ok(false);
        };
        let Some(row) = inner.outbox.get_mut(index) else {
            return Ok(false);
        };
        let holds = row
            .lease
            .as_ref()
            .is_some_and(|(holder, _)| holder == owner);
        if holds && !row.delivered {
            row.delivered = true;
            return Ok(true);
        }
        Ok(false)
    }

    fn pending_outbox(&self) -> Result<usize, StoreError> {
        Ok(self
            .lock()?
            .outbox
            .iter()
            .filter(|row| !row.delivered)
            .count())
    }
}
