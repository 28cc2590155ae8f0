//! The event store port: what every adapter (memory, SQLite, PostgreSQL) promises.
//!
//! Streams are append-only and hash-chained; an append is atomic and guarded by an expected
//! version; idempotency keys and rail message ids are claimed in the same commit as the events
//! they produced, so a repeat or a concurrent duplicate can never append twice.

mod error;
mod hash;
mod model;
mod port;

pub use error::StoreError;
pub use hash::{EventHash, chain_hash};
pub use model::{
    AppendOutcome, AppendRequest, Attempt, Committed, GroupOutcome, IdempotencyClaim,
    MAX_EVENTS_PER_APPEND, MAX_OUTBOX_ERROR_BYTES, MAX_OUTBOX_PAGE, MAX_PAYLOAD_BYTES,
    MAX_RAIL_MESSAGE_BYTES, NewEvent, OutboxClaim, OutboxEntry, OutboxItem, OutboxMessage,
    OutboxQuery, OutboxStatus, PriorResult, RailMessageRecord, RecordedEvent, StreamId, StreamKind,
    outbox_error,
};
pub use port::{
    ChainBreak, EventStore, MAX_CONFLICT_RETRIES, append_at_head, check_stream_chain, streams_of,
};
