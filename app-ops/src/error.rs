//! The application layer's one error type.

use event_store::{StoreError, StreamId};

/// Why a command or a check could not complete.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum AppError {
    /// The event store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored payload is not a valid event of its type.
    #[error("stream {stream} version {version} cannot be decoded: {why}")]
    Undecodable {
        /// The stream.
        stream: StreamId,
        /// The version.
        version: u32,
        /// What the decoder said.
        why: String,
    },
    /// An event could not be encoded for storage.
    #[error("cannot encode an event: {0}")]
    Unencodable(String),
}
