//! The `EventStore` trait and the chain check every adapter's reads can be verified with.

use crate::error::StoreError;
use crate::hash::EventHash;
use core_npp::Timestamp;

use crate::model::{
    AppendOutcome, AppendRequest, OutboxItem, PriorResult, RecordedEvent, StreamId,
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

    /// Claims up to `limit` undelivered outbox messages whose lease is free, expired at `now`, or
    /// already `owner`'s (a restarted process resumes its own), leasing them to `owner` for
    /// `lease_nanos`. A process that dies loses its leases when they expire, so nothing stays
    /// unclaimed; two live processes (with distinct names) never hold the same message.
    fn claim_outbox(
        &self,
        owner: &str,
        now: Timestamp,
        lease_nanos: i64,
        limit: usize,
    ) -> Result<Vec<OutboxItem>, StoreError>;

    /// Marks a claimed message delivered; `false` if `owner` no longer holds its lease.
    fn complete_outbox(&self, id: &str, owner: &str, now: Timestamp) -> Result<bool, StoreError>;

    /// How many outbox messages are not yet delivered.
    fn pending_outbox(&self) -> Result<usize, StoreError>;
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
