//! The pure, deterministic domain core of an NPP payment.
//!
//! Seven states, nine events, one legal-transition matrix ([`TRANSITIONS`]), four categories of
//! invariants checked on every event, terminal states that never change, and a canonical SHA-256
//! state hash. No I/O, no clock, no randomness, no floats: time, ids and approvals arrive inside
//! events, so the same history always folds to the same payment and the same hash.
//!
//! ```
//! use core_npp::{PaymentEvent, PaymentState, rebuild_from_events};
//!
//! let history: Vec<PaymentEvent> = [
//!     r#"{"type":"PaymentIntentCreated","payment_intent_id":"pay_001","occurred_at":"2025-12-17T09:30:00Z","amount":50000,"currency":"AUD","idempotency_key":"idem_001","from_account_id":"acc_from","to_account_id":"acc_to"}"#,
//!     r#"{"type":"PaymentAuthorised","payment_intent_id":"pay_001","occurred_at":"2025-12-17T09:30:01Z","policy_checks_passed":true,"funds_earmarked":50000}"#,
//! ]
//! .iter()
//! .map(|line| serde_json::from_str(line).unwrap())
//! .collect();
//! let replay = rebuild_from_events(&history).unwrap();
//! assert_eq!(replay.payment().state(), PaymentState::Authorised);
//! assert_eq!(replay.payment().state_hash().to_hex().len(), 64);
//! ```

mod error;
mod event;
mod guards;
mod hash;
mod history;
mod ids;
mod invariants;
mod money;
mod payment;
mod replay;
mod state;
mod timestamp;
mod transitions;

pub use error::{DomainError, InvariantCategory, ParseError, ReplayError};
pub use event::{
    Acknowledged, Approval, AttemptLimit, Authorised, Cancelled, DEFAULT_ATTEMPT_LIMIT, EventKind,
    Expired, Failed, INTENT_DETAIL_FIELDS, IntentCreated, MAX_ATTEMPT_LIMIT, PaymentEvent,
    RetryApproved, SentToRail, Settled,
};
pub use hash::{
    OLDEST_STATE_ENCODING_VERSION, STATE_ENCODING_MAGIC, STATE_ENCODING_VERSION, StateHash,
};
pub use history::{HistoryError, HistoryParser, MAX_EVENTS, MAX_LINE_BYTES, parse_history_with};
pub use ids::{
    AccountId, ApprovalId, AttemptId, EndToEndId, FreeText, IdempotencyKey, MAX_END_TO_END_ID_LEN,
    MAX_ID_LEN, MAX_NAME_CHARS, MAX_TEXT_CHARS, OperatorId, PartyName, PaymentIntentId,
    SettlementRef,
};
pub use money::{Currency, Money};
pub use payment::{Applied, Attempt, AttemptOutcome, Authorisation, FailureRecord, Payment};
pub use replay::{Replay, rebuild_from_events};
pub use state::{FailureReason, PaymentState};
pub use timestamp::Timestamp;
pub use transitions::{TRANSITIONS, Transition, next_state};
