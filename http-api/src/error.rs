//! The crate's errors: keys files and starting or running the server. What a request gets back
//! when it is refused is a [`crate::problem::Problem`], not one of these.

use std::path::PathBuf;

/// A keys file could not be read, changed or written.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// The file could not be read or written.
    #[error("keys file {path}: {why}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        why: String,
    },
    /// The file is not a keys file.
    #[error("not a valid keys file: {0}")]
    Malformed(String),
    /// A key of that name exists (names compare without case).
    #[error("a key named {0} exists already; revoke it or choose another name")]
    NameTaken(String),
    /// No key has that name.
    #[error("no key is named {0}")]
    UnknownName(String),
    /// The key was revoked before.
    #[error("the key named {0} is already revoked")]
    AlreadyRevoked(String),
    /// The operating system gave no random bytes for a token.
    #[error("no randomness for a new token: {0}")]
    NoRandomness(String),
}

/// The server could not start or stopped on a failure.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The keys file.
    #[error(transparent)]
    Keys(#[from] KeysError),
    /// The address could not be listened on.
    #[error("cannot listen on {addr}: {why}")]
    Listen {
        /// The address.
        addr: String,
        /// What the system said.
        why: String,
    },
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(String),
    /// The application layer refused to start (the policy, the store).
    #[error("{0}")]
    App(#[from] app_ops::AppError),
    /// The signing key could not be read.
    #[error("signing key: {0}")]
    SigningKey(String),
    /// The server stopped on an I/O failure.
    #[error("the server failed: {0}")]
    Io(String),
    /// The orchestrator stopped on a failure.
    #[error("the orchestrator stopped: {0}")]
    Orchestrator(String),
}
