//! The application layer's one error type: every refusal names the rule and the reason.

use core_npp::{DomainError, PaymentIntentId};
use event_store::{StoreError, StreamId};

/// Why a command or a check did not complete. Nothing was appended when any of these returns.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum AppError {
    /// The event store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The core refused the event this command would record.
    #[error("refused by rule {rule}: {error}", rule = .0.rule(), error = .0)]
    Rule(DomainError),
    /// An application rule (policy, maker-checker, binding, lapse) refused the command.
    #[error("refused by rule {rule}: {why}")]
    Refused {
        /// A stable id of the rule, e.g. `ops/four-eyes`.
        rule: &'static str,
        /// A sentence saying why.
        why: String,
    },
    /// No payment has this id.
    #[error("no payment {0}")]
    UnknownPayment(PaymentIntentId),
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
    /// A stored payment history breaks a core rule: the store needs `npp store verify`.
    #[error("stream {stream} version {version} breaks rule {rule}; run `npp store verify`")]
    StoredHistoryIllegal {
        /// The stream.
        stream: StreamId,
        /// The rejected version.
        version: u32,
        /// The rule.
        rule: &'static str,
    },
    /// An event could not be encoded for storage.
    #[error("cannot encode an event: {0}")]
    Unencodable(String),
    /// Other writers kept winning the race for the stream.
    #[error("gave up on stream {stream} after {attempts} version conflicts; try again")]
    Contention {
        /// The stream.
        stream: StreamId,
        /// How many times it tried.
        attempts: u32,
    },
    /// The policy file is missing or malformed.
    #[error("policy: {0}")]
    Policy(String),
    /// A derived figure left the range of an i64 of cents.
    #[error("{0} overflowed")]
    Overflow(&'static str),
}

impl AppError {
    /// A refusal by an application rule.
    pub fn refused(rule: &'static str, why: impl Into<String>) -> Self {
        AppError::Refused {
            rule,
            why: why.into(),
        }
    }

    /// Whether the command was refused by a rule (as opposed to failing to run).
    pub fn is_refusal(&self) -> bool {
        match self {
            AppError::Rule(_) | AppError::Refused { .. } | AppError::UnknownPayment(_) => true,
            AppError::Store(StoreError::IdempotencyConflict { .. }) => true,
            AppError::Store(_)
            | AppError::Undecodable { .. }
            | AppError::StoredHistoryIllegal { .. }
            | AppError::Unencodable(_)
            | AppError::Contention { .. }
            | AppError::Policy(_)
            | AppError::Overflow(_) => false,
        }
    }
}
