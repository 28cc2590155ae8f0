//! The `EventStore` trait and the chain check every adapter's reads can be verified with.

use crate::error::StoreError;
use crate::hash::EventHash;
use core_npp::Timestamp;

use crate::model::{
    AppendOutcome, AppendRequest, Attempt, GroupOutcome, OutboxClaim, OutboxEntry, OutboxItem,
    OutboxQuery, PriorResult, RailMessageRecord, RecordedEvent, StreamId, StreamKind,
};

/// An append-only, hash-chained event store. No method updates or deletes an event.
///
/// Appends from many threads may share one transaction and one fsync (group commit); each
/// append is still atomic and checked against its expected version on its own.
pub trait EventStore: Send + Sync {
    /// Appends atomically, or refuses with [`StoreError::Conflict`] when the stream is not at the
    /// expected version. A repeated idempotency key (same fingerprint) or rail message id returns
    /// [`AppendOutcome::AlreadyApplied`] and appends nothing; a key reused for a different request
    /// is [`StoreError::IdempotencyConflict`].
    fn append(&self, request: AppendRequest) -> Result<AppendOutcome, StoreError>;

    /// Appends independent requests, one result each, in order: each is atomic and checked on
    /// its own exactly as [`EventStore::append`] would, so one refused append never takes
    /// another with it. Adapters with group commit take the whole group in one hand-off to the
    /// writer, which is the point: a caller with many payments to move pays one wait, not many.
    fn append_batch(&self, requests: Vec<AppendRequest>) -> Vec<Result<AppendOutcome, StoreError>> {
        requests.into_iter().map(|r| self.append(r)).collect()
    }

    /// Appends to several streams in one commit: every request of the group is committed, or
    /// none is. Each is checked exactly as [`EventStore::append`] would check it; the first one
    /// refused refuses the whole group with its error, and the first whose claim was applied
    /// before makes the group [`GroupOutcome::AlreadyApplied`]. For facts that must never be
    /// recorded apart (an operator's approval and the payment event it allows).
    fn append_atomic(&self, requests: Vec<AppendRequest>) -> Result<GroupOutcome, StoreError>;

    /// The stream's current version (0 for an unknown stream), without reading its events.
    fn stream_version(&self, stream: &StreamId) -> Result<u32, StoreError>;

    /// Whether appending many requests in one hand-off ([`EventStore::append_batch`]) costs less
    /// than appending them one by one: true for stores that commit to disk (one transaction and
    /// one fsync for the lot); false for one whose appends cost nothing to share (in memory),
    /// where callers are better off not waiting for each other.
    fn batches_pay(&self) -> bool {
        true
    }

    /// Every event of a stream, in version order (empty for an unknown stream).
    fn read_stream(&self, stream: &StreamId) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Up to `limit` events with a global position above `after`, in position order. A reader
    /// that advances to the last position it saw never skips an event: positions become visible
    /// in order (see docs/ARCHITECTURE.md, "Event store").
    fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Up to `limit` stream ids after `after` (exclusive), in order, for walking every stream.
    fn list_streams(
        &self,
        after: Option<&StreamId>,
        limit: usize,
    ) -> Result<Vec<StreamId>, StoreError>;

    /// What the append that claimed `key` did, with its request fingerprint.
    fn find_idempotency(&self, key: &str) -> Result<Option<(PriorResult, [u8; 32])>, StoreError>;

    /// What the append that claimed rail message `message_id` did.
    fn find_rail_message(&self, message_id: &str) -> Result<Option<PriorResult>, StoreError>;

    /// Every rail message claimed by an append to `stream`, in version order, each with the raw
    /// message kept with its claim (empty for a stream that claimed none): for an auditor or an
    /// operator, the status reports that changed a payment, as they arrived.
    fn rail_messages(&self, stream: &StreamId) -> Result<Vec<RailMessageRecord>, StoreError>;

    /// Claims up to `claim.limit` undelivered outbox messages of `claim.destination`, committed
    /// with a stream whose id starts with `claim.streams`, whose lease is free, expired at
    /// `claim.now`, or already `claim.owner`'s (a restarted process resumes its own), leasing them
    /// to the owner for `claim.lease_nanos`. A process that dies loses its leases when they
    /// expire, so nothing stays unclaimed; two live processes (with distinct names) never hold the
    /// same message; a process that delivers to one destination, or works on some payments only,
    /// never takes another's messages.
    fn claim_outbox(&self, claim: &OutboxClaim<'_>) -> Result<Vec<OutboxItem>, StoreError>;

    /// Marks a claimed message delivered; `false` if `owner` no longer holds its lease.
    fn complete_outbox(&self, id: &str, owner: &str, now: Timestamp) -> Result<bool, StoreError>;

    /// Marks many claimed messages delivered, in one commit where the adapter can: for each id
    /// (in order) whether `owner` still held its lease, exactly as [`Self::complete_outbox`]
    /// one by one would answer.
    fn complete_outbox_batch(
        &self,
        ids: &[&str],
        owner: &str,
        now: Timestamp,
    ) -> Result<Vec<bool>, StoreError> {
        ids.iter()
            .map(|id| self.complete_outbox(id, owner, now))
            .collect()
    }

    /// Gives a claimed message back, not to be claimed again before `until` (a later attempt),
    /// keeping `why` (cut to [`crate::MAX_OUTBOX_ERROR_BYTES`]) as its last error and counting
    /// `attempt`; `false` if `owner` no longer holds its lease.
    fn defer_outbox(
        &self,
        id: &str,
        owner: &str,
        until: Timestamp,
        why: &str,
        attempt: Attempt,
    ) -> Result<bool, StoreError>;

    /// Gives up on a claimed message at `now`: it is [`crate::OutboxStatus::Failed`], never
    /// claimed again unless reopened, with `why` as its last error; `false` if `owner` no longer
    /// holds its lease.
    fn fail_outbox(
        &self,
        id: &str,
        owner: &str,
        now: Timestamp,
        why: &str,
        attempt: Attempt,
    ) -> Result<bool, StoreError>;

    /// Makes a delivered or failed message pending again (a person asked for it to be sent
    /// again), free to be claimed at once; `false` if there is no such message or it is still
    /// pending. Its claim count is kept, so its deliverer knows it may have been sent before.
    fn reopen_outbox(&self, id: &str) -> Result<bool, StoreError>;

    /// Outbox messages as they stand (see [`OutboxQuery`]).
    fn list_outbox(&self, query: &OutboxQuery<'_>) -> Result<Vec<OutboxEntry>, StoreError>;

    /// How many outbox messages are not yet delivered (failed ones are not counted).
    fn pending_outbox(&self) -> Result<usize, StoreError>;

    /// When the oldest undelivered outbox message was written (its append's `recorded_at`);
    /// `None` when every message is delivered. For the outbox-age metric.
    fn oldest_pending_outbox(&self) -> Result<Option<Timestamp>, StoreError>;
}

/// Where a stream's chain breaks.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ChainBreak {
    /// The first bad version.
    pub version: u32,
    /// What is wrong with it.
    pub why: String,
}

/// Checks that `events` are versions 1, 2, 3, ... of one stream, each linked to its predecessor
/// and carrying the hash of its own stored fields.
pub fn check_stream_chain(events: &[RecordedEvent]) -> Result<(), ChainBreak> {
    let mut prev = EventHash::GENESIS;
    for (expected, event) in (1u32..).zip(events) {
        let version = event.version();
        if version != expected {
            return Err(ChainBreak {
                version,
                why: format!("expected version {expected}"),
            });
        }
        if *event.prev_hash() != prev {
            return Err(ChainBreak {
                version,
                why: format!(
                    "prev_hash {} does not match version {}'s hash {prev}",
                    event.prev_hash(),
                    expected - 1
                ),
            });
        }
        let recomputed = event.recompute_hash();
        if recomputed != *event.hash() {
            return Err(ChainBreak {
                version,
                why: format!(
                    "stored hash {} but its fields hash to {recomputed}",
                    event.hash()
                ),
            });
        }
        prev = *event.hash();
    }
    Ok(())
}

/// How many times an append at a stream's head is tried again after another writer took the
/// version first, before giving up with the last conflict.
pub const MAX_CONFLICT_RETRIES: u32 = 8;

/// Appends at the stream's current head: reads its version, builds the request for it with
/// `request`, and tries again on a version conflict, at most [`MAX_CONFLICT_RETRIES`] times. For
/// streams that many writers add to without deciding anything on their contents (rail facts,
/// anomalies, what a participant received).
pub fn append_at_head(
    store: &dyn EventStore,
    stream: &StreamId,
    request: impl Fn(u32) -> Result<AppendRequest, StoreError>,
) -> Result<AppendOutcome, StoreError> {
    let mut last = None;
    for _ in 0..MAX_CONFLICT_RETRIES {
        let version = store.stream_version(stream)?;
        match store.append(request(version)?) {
            Err(conflict @ StoreError::Conflict { .. }) => last = Some(conflict),
            other => return other,
        }
    }
    Err(last.unwrap_or_else(|| StoreError::Unavailable("no append was tried".into())))
}

/// How many stream ids [`streams_of`] asks for per page.
const STREAM_PAGE: usize = 1_000;

/// Every stream of `kind`, in id order.
pub fn streams_of(store: &dyn EventStore, kind: StreamKind) -> Result<Vec<StreamId>, StoreError> {
    let mut out = Vec::new();
    // Ids of a kind share its prefix, so they sort together: start just before the prefix.
    let mut after: Option<StreamId> = StreamId::parse(kind.prefix()).ok();
    if kind == StreamKind::Policy {
        let policy = StreamId::policy();
        let exists = store.stream_version(&policy)? > 0;
        return Ok(if exists { vec![policy] } else { Vec::new() });
    }
    loop {
        let page = store.list_streams(after.as_ref(), STREAM_PAGE)?;
        let Some(last) = page.last().cloned() else {
            return Ok(out);
        };
        out.extend(page.into_iter().filter(|s| s.kind() == Some(kind)));
        if !last.as_str().starts_with(kind.prefix()) {
            return Ok(out);
        }
        after = Some(last);
    }
}
