//! The orchestrator's one error type.

use app_ops::AppError;
use event_store::StoreError;

/// Why an orchestration step failed. Steps are retried on the next tick.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum OrchestratorError {
    /// A command failed or was refused.
    #[error(transparent)]
    App(#[from] AppError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The rail adapter failed (it could not build, deliver or read a message).
    #[error("rail: {0}")]
    Rail(String),
}
