//! The one error type of the store port; every adapter reports the same facts the same way.

use crate::model::StreamId;

/// Why a store operation did not happen. Nothing was written when any of these is returned.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum StoreError {
    /// The stream was not at the expected version: another writer appended first.
    #[error("stream {stream} is at version {actual}, not the expected {expected}")]
    Conflict {
        /// The stream.
        stream: StreamId,
        /// The version the caller expected.
        expected: u32,
        /// The version the stream is at.
        actual: u32,
    },
    /// The idempotency key was used before for a different request.
    #[error("idempotency key {key:?} was already used for a different request (stream {stream})")]
    IdempotencyConflict {
        /// The key.
        key: String,
        /// The stream the key belongs to.
        stream: StreamId,
    },
    /// A request the store refuses before touching the database (empty batch, limits).
    #[error("invalid append: {0}")]
    InvalidAppend(String),
    /// A value the database cannot represent (for example a time after 2262).
    #[error("cannot store {what}: {why}")]
    Unrepresentable {
        /// The value.
        what: &'static str,
        /// Why.
        why: String,
    },
    /// The file is not a database of ours, or is damaged.
    #[error("{path} is not a usable event store: {why}")]
    NotAnEventStore {
        /// The file or URL.
        path: String,
        /// What was wrong.
        why: String,
    },
    /// The database was written by a newer version of this software.
    #[error(
        "the database schema is version {found}, newer than the {supported} this binary knows; upgrade npp"
    )]
    SchemaTooNew {
        /// The schema version found.
        found: u32,
        /// The newest version this binary knows.
        supported: u32,
    },
    /// A stored event no longer matches its hash chain or cannot be decoded.
    #[error("stream {stream} version {version} is corrupt: {what}")]
    Corrupt {
        /// The stream.
        stream: StreamId,
        /// The version.
        version: u32,
        /// What is wrong.
        what: String,
    },
    /// A stored row holds a value this software never writes (edited behind the store's back,
    /// or damaged): reported by table, column and row, never defaulted or clamped.
    #[error("corrupt row in {table} ({row}): column {column} {what}")]
    CorruptRow {
        /// The table.
        table: &'static str,
        /// The column.
        column: &'static str,
        /// Which row: its key, and the stream and version when the row names them.
        row: String,
        /// What the column holds and why that is wrong.
        what: String,
    },
    /// The store was opened read-only (for verification or inspection).
    #[error("{0} was opened read-only: nothing can be appended or claimed")]
    ReadOnly(String),
    /// The database could not be reached or failed; the operation may be retried.
    #[error("event store unavailable: {0}")]
    Unavailable(String),
}

impl StoreError {
    /// Whether a stored value is wrong (a corrupt event or row), as opposed to a refusal of
    /// something asked or a store that cannot be reached.
    pub fn is_corruption(&self) -> bool {
        match self {
            StoreError::Corrupt { .. } | StoreError::CorruptRow { .. } => true,
            StoreError::Conflict { .. }
            | StoreError::IdempotencyConflict { .. }
            | StoreError::InvalidAppend(_)
            | StoreError::Unrepresentable { .. }
            | StoreError::NotAnEventStore { .. }
            | StoreError::SchemaTooNew { .. }
            | StoreError::ReadOnly(_)
            | StoreError::Unavailable(_) => false,
        }
    }
}
