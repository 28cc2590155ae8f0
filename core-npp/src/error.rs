//! Errors: a broken domain rule (`DomainError`, by invariant category), bad input to a newtype
//! (`ParseError`), and a rejected history (`ReplayError`, with the event's 1-based index).

use std::fmt;

use crate::event::EventKind;
use crate::ids::{ApprovalId, AttemptId, IdempotencyKey, OperatorId, PaymentIntentId};
use crate::money::{Currency, Money};
use crate::state::{FailureReason, PaymentState};
use crate::timestamp::Timestamp;

/// The four invariant categories; every domain rule belongs to exactly one.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum InvariantCategory {
    /// Legal transitions, the terminal rule, one intent per stream.
    Lifecycle,
    /// Positive integer amounts in AUD, earmark and transfer equal the amount, one settlement.
    Money,
    /// The stream's id on every event, time never goes backwards, attempt and approval identity.
    IdentityOrdering,
    /// One send and one outcome per attempt, duplicates and conflicts, the attempt limit.
    AttemptsDuplicates,
}

impl InvariantCategory {
    /// Every category.
    pub const ALL: [InvariantCategory; 4] = [
        InvariantCategory::Lifecycle,
        InvariantCategory::Money,
        InvariantCategory::IdentityOrdering,
        InvariantCategory::AttemptsDuplicates,
    ];

    /// The category's name as used in rule ids.
    pub const fn name(self) -> &'static str {
        match self {
            InvariantCategory::Lifecycle => "lifecycle",
            InvariantCategory::Money => "money",
            InvariantCategory::IdentityOrdering => "identity",
            InvariantCategory::AttemptsDuplicates => "attempts",
        }
    }
}

impl fmt::Display for InvariantCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A domain rule that an event (or a state) breaks. Nothing was changed.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum DomainError {
    // --- lifecycle ---
    /// The first event of a stream is not the intent.
    #[error("a payment history must start with PaymentIntentCreated, not {found}")]
    HistoryMustStartWithIntent {
        /// The first event's kind.
        found: EventKind,
    },
    /// A second intent in one stream.
    #[error("the stream already holds its one PaymentIntentCreated")]
    IntentAlreadyCreated,
    /// SETTLED or EXPIRED received an event.
    #[error("{state} is final and never changes; {event} cannot apply")]
    TerminalState {
        /// The final state.
        state: PaymentState,
        /// The refused event.
        event: EventKind,
    },
    /// FAILED received something other than an approved retry.
    #[error("FAILED is final for {event}; its only exit is an approved PaymentRetryApproved")]
    FailedIsFinal {
        /// The refused event.
        event: EventKind,
    },
    /// The matrix has no such move.
    #[error("illegal transition: {event} is not allowed in state {state}")]
    IllegalTransition {
        /// The current state.
        state: PaymentState,
        /// The refused event.
        event: EventKind,
    },
    /// Cancelling after the payment was handed to the rail.
    #[error(
        "cannot cancel a {state} payment: NPP payments are irrevocable once sent; \
         ask the payee bank for a recall (camt.056) instead"
    )]
    CancelAfterSend {
        /// SENT or ACKNOWLEDGED.
        state: PaymentState,
    },
    /// Expiring after the payment was handed to the rail.
    #[error(
        "cannot expire a {state} payment: it was sent and the money may have moved; \
         enquire with the rail or escalate to an operator instead"
    )]
    ExpireAfterSend {
        /// SENT or ACKNOWLEDGED.
        state: PaymentState,
    },
    /// An authorisation that did not pass policy.
    #[error(
        "PaymentAuthorised with policy_checks_passed false; record PaymentFailed POLICY_DECLINED instead"
    )]
    PolicyChecksNotPassed,
    /// A failure reason that does not fit the state.
    #[error("failure reason {reason} cannot be recorded in state {state}")]
    FailureReasonNotAllowed {
        /// The reason given.
        reason: FailureReason,
        /// The current state.
        state: PaymentState,
    },
    /// A retry of a failure that is not retryable.
    #[error("a payment that failed with {reason} is not retryable")]
    NotRetryable {
        /// The failure's reason.
        reason: FailureReason,
    },

    // --- money ---
    /// The amount is zero or negative.
    #[error("amount must be a positive number of cents, got {amount}")]
    NonPositiveAmount {
        /// The amount given.
        amount: i64,
    },
    /// Over the largest amount one payment may carry.
    #[error(
        "amount {amount} cents is over the largest payment, {max} cents (A$10 billion); \
         split it or use another rail"
    )]
    AmountTooLarge {
        /// The amount given.
        amount: i64,
        /// The limit, `Money::MAX_PAYMENT`.
        max: i64,
    },
    /// Not AUD.
    #[error("currency must be AUD on NPP, got {currency}")]
    UnsupportedCurrency {
        /// The currency given.
        currency: Currency,
    },
    /// Earmark differs from the amount.
    #[error("funds_earmarked {earmarked} must equal the amount {amount} (cents)")]
    EarmarkMismatch {
        /// Earmarked cents.
        earmarked: i64,
        /// The intent's amount.
        amount: i64,
    },
    /// Transfer differs from the amount.
    #[error("funds_transferred {transferred} must equal the amount {amount} (cents)")]
    TransferMismatch {
        /// Transferred cents.
        transferred: i64,
        /// The intent's amount.
        amount: i64,
    },
    /// More than one settlement.
    #[error("the payment is already settled; funds move at most once")]
    SettledTwice,

    // --- identity and ordering ---
    /// The event belongs to another stream.
    #[error("event is for payment {found}, but this stream is payment {expected}")]
    WrongStream {
        /// This stream's payment.
        expected: PaymentIntentId,
        /// The event's payment.
        found: PaymentIntentId,
    },
    /// Time went backwards.
    #[error("occurred_at {occurred_at} is earlier than the previous event's {previous}")]
    TimeWentBackwards {
        /// The previous event's time.
        previous: Timestamp,
        /// This event's time.
        occurred_at: Timestamp,
    },
    /// A second intent with another key.
    #[error("idempotency key {original} cannot change to {found}")]
    IdempotencyKeyChanged {
        /// The key fixed by the intent.
        original: IdempotencyKey,
        /// The key in the later event.
        found: IdempotencyKey,
    },
    /// An outcome without an attempt id while an attempt is open.
    #[error("{event} must name the current attempt {current}")]
    AttemptIdRequired {
        /// The event.
        event: EventKind,
        /// The open attempt.
        current: AttemptId,
    },
    /// An attempt id where no attempt exists yet.
    #[error("attempt {attempt_id} does not exist: no attempt has been opened")]
    NoAttemptOpen {
        /// The id named.
        attempt_id: AttemptId,
    },
    /// An attempt id that is not the current attempt.
    #[error("attempt {attempt_id} is not the current attempt {current}")]
    NotCurrentAttempt {
        /// The id named.
        attempt_id: AttemptId,
        /// The current attempt.
        current: AttemptId,
    },
    /// A new attempt reusing an old id.
    #[error(
        "attempt id {attempt_id} was already used in this payment; attempt ids are never reused"
    )]
    AttemptIdReused {
        /// The reused id.
        attempt_id: AttemptId,
    },
    /// Maker and checker are one person.
    #[error("operator {operator} cannot approve their own request")]
    SelfApproval {
        /// The operator.
        operator: OperatorId,
    },
    /// An approval used twice.
    #[error("approval {approval_id} was already used; an approval is single use")]
    ApprovalReused {
        /// The approval.
        approval_id: ApprovalId,
    },
    /// An operator action without approval.
    #[error("{event} needs an operator approval")]
    ApprovalMissing {
        /// The event.
        event: EventKind,
    },
    /// A rail or system failure carrying an approval.
    #[error("an approval belongs only to operator actions, not to a {reason} failure")]
    UnexpectedApproval {
        /// The failure's reason.
        reason: FailureReason,
    },
    /// Approved after the event it allowed.
    #[error("approval at {approved_at} is later than the event it allowed at {occurred_at}")]
    ApprovedAfterEvent {
        /// When approved.
        approved_at: Timestamp,
        /// The event's time.
        occurred_at: Timestamp,
    },

    /// Approved before the payment existed.
    #[error(
        "approval at {approved_at} is earlier than the payment itself, created at {created_at}"
    )]
    ApprovedBeforeIntent {
        /// When approved.
        approved_at: Timestamp,
        /// When the intent was created.
        created_at: Timestamp,
    },

    // --- attempts and duplicates ---
    /// A second send of one attempt.
    #[error("attempt {attempt_id} was already sent; an attempt is sent at most once")]
    AlreadySent {
        /// The attempt.
        attempt_id: AttemptId,
    },
    /// An outcome for an attempt that was never sent.
    #[error("attempt {attempt_id} was never sent, so the rail cannot report on it")]
    AttemptNotSent {
        /// The attempt.
        attempt_id: AttemptId,
    },
    /// A different outcome for an attempt that already has one.
    #[error(
        "attempt {attempt_id} already ended {recorded}; a different {conflicting} conflicts with it"
    )]
    OutcomeConflict {
        /// The attempt.
        attempt_id: AttemptId,
        /// What was recorded (e.g. `SETTLED`, `FAILED RAIL_REJECTED`).
        recorded: String,
        /// The conflicting event.
        conflicting: EventKind,
    },
    /// The retry would exceed the limit.
    #[error("attempt limit reached: {used} of {limit} attempts used")]
    AttemptLimitReached {
        /// Attempts opened so far.
        used: usize,
        /// The intent's limit.
        limit: u8,
    },
    /// A state that breaks an invariant: a defect in the core itself, never in the input alone.
    #[error("state invariant broken ({category}): {what}")]
    StateInvariant {
        /// Which category the broken invariant belongs to.
        category: InvariantCategory,
        /// Which invariant.
        what: &'static str,
    },
}

impl DomainError {
    /// The invariant category of the broken rule.
    pub const fn category(&self) -> InvariantCategory {
        use InvariantCategory as C;
        match self {
            DomainError::HistoryMustStartWithIntent { .. }
            | DomainError::IntentAlreadyCreated
            | DomainError::TerminalState { .. }
            | DomainError::FailedIsFinal { .. }
            | DomainError::IllegalTransition { .. }
            | DomainError::CancelAfterSend { .. }
            | DomainError::ExpireAfterSend { .. }
            | DomainError::PolicyChecksNotPassed
            | DomainError::FailureReasonNotAllowed { .. }
            | DomainError::NotRetryable { .. } => C::Lifecycle,
            DomainError::NonPositiveAmount { .. }
            | DomainError::AmountTooLarge { .. }
            | DomainError::UnsupportedCurrency { .. }
            | DomainError::EarmarkMismatch { .. }
            | DomainError::TransferMismatch { .. }
            | DomainError::SettledTwice => C::Money,
            DomainError::WrongStream { .. }
            | DomainError::TimeWentBackwards { .. }
            | DomainError::IdempotencyKeyChanged { .. }
            | DomainError::AttemptIdRequired { .. }
            | DomainError::NoAttemptOpen { .. }
            | DomainError::NotCurrentAttempt { .. }
            | DomainError::AttemptIdReused { .. }
            | DomainError::SelfApproval { .. }
            | DomainError::ApprovalReused { .. }
            | DomainError::ApprovalMissing { .. }
            | DomainError::UnexpectedApproval { .. }
            | DomainError::ApprovedAfterEvent { .. }
            | DomainError::ApprovedBeforeIntent { .. } => C::IdentityOrdering,
            DomainError::AlreadySent { .. }
            | DomainError::AttemptNotSent { .. }
            | DomainError::OutcomeConflict { .. }
            | DomainError::AttemptLimitReached { .. } => C::AttemptsDuplicates,
            DomainError::StateInvariant { category, .. } => *category,
        }
    }

    /// A stable rule id, `category/rule`, for logs, CLIs and docs.
    pub const fn rule(&self) -> &'static str {
        match self {
            DomainError::HistoryMustStartWithIntent { .. } => "lifecycle/starts-with-intent",
            DomainError::IntentAlreadyCreated => "lifecycle/one-intent",
            DomainError::TerminalState { .. } => "lifecycle/terminal-state",
            DomainError::FailedIsFinal { .. } => "lifecycle/failed-is-final",
            DomainError::IllegalTransition { .. } => "lifecycle/legal-transition",
            DomainError::CancelAfterSend { .. } => "lifecycle/cancel-before-send",
            DomainError::ExpireAfterSend { .. } => "lifecycle/expire-before-send",
            DomainError::PolicyChecksNotPassed => "lifecycle/policy-checks-passed",
            DomainError::FailureReasonNotAllowed { .. } => "lifecycle/failure-reason-fits-state",
            DomainError::NotRetryable { .. } => "lifecycle/retry-only-retryable",
            DomainError::NonPositiveAmount { .. } => "money/positive-amount",
            DomainError::AmountTooLarge { .. } => "money/amount-within-limit",
            DomainError::UnsupportedCurrency { .. } => "money/currency-aud",
            DomainError::EarmarkMismatch { .. } => "money/earmark-equals-amount",
            DomainError::TransferMismatch { .. } => "money/transfer-equals-amount",
            DomainError::SettledTwice => "money/settled-at-most-once",
            DomainError::WrongStream { .. } => "identity/same-payment",
            DomainError::TimeWentBackwards { .. } => "identity/time-never-goes-backwards",
            DomainError::IdempotencyKeyChanged { .. } => "identity/idempotency-key-fixed",
            DomainError::AttemptIdRequired { .. } => "identity/attempt-id-required",
            DomainError::NoAttemptOpen { .. } => "identity/attempt-exists",
            DomainError::NotCurrentAttempt { .. } => "identity/current-attempt",
            DomainError::AttemptIdReused { .. } => "identity/attempt-id-never-reused",
            DomainError::SelfApproval { .. } => "identity/four-eyes",
            DomainError::ApprovalReused { .. } => "identity/approval-single-use",
            DomainError::ApprovalMissing { .. } => "identity/approval-required",
            DomainError::UnexpectedApproval { .. } => "identity/approval-only-for-operator-actions",
            DomainError::ApprovedAfterEvent { .. } => "identity/approval-precedes-action",
            DomainError::ApprovedBeforeIntent { .. } => "identity/approval-after-intent",
            DomainError::AlreadySent { .. } => "attempts/one-send-per-attempt",
            DomainError::AttemptNotSent { .. } => "attempts/outcome-after-send",
            DomainError::OutcomeConflict { .. } => "attempts/one-outcome-per-attempt",
            DomainError::AttemptLimitReached { .. } => "attempts/attempt-limit",
            DomainError::StateInvariant { .. } => "state/invariant",
        }
    }
}

/// A value that could not be parsed into one of the core's newtypes.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum ParseError {
    /// An empty identifier.
    #[error("{field} must not be empty")]
    EmptyId {
        /// The field.
        field: &'static str,
    },
    /// An identifier over 35 characters.
    #[error("{field} is {len} characters long; at most {max} are allowed")]
    IdTooLong {
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A character outside `[A-Za-z0-9._:-]`.
    #[error("{field} contains {character:?}; only letters, digits and . _ : - are allowed")]
    IdCharacter {
        /// The field.
        field: &'static str,
        /// The offending character.
        character: char,
    },
    /// Empty or blank text.
    #[error("{field} must not be blank")]
    EmptyText {
        /// The field.
        field: &'static str,
    },
    /// Text over 280 characters.
    #[error("{field} is {chars} characters long; at most {max} are allowed")]
    TextTooLong {
        /// The field.
        field: &'static str,
        /// Its length in characters.
        chars: usize,
        /// The limit.
        max: usize,
    },
    /// A control character in text.
    #[error("{field} contains control character U+{code_point:04X}")]
    TextControlCharacter {
        /// The field.
        field: &'static str,
        /// The code point.
        code_point: u32,
    },
    /// U+FFFE or U+FFFF in text bound for an ISO 20022 message, which XML 1.0 cannot carry.
    #[error(
        "{field} contains U+{code_point:04X}, which is not a character an ISO 20022 message (XML 1.0) can carry"
    )]
    TextNonCharacter {
        /// The field.
        field: &'static str,
        /// The code point.
        code_point: u32,
    },
    /// Not a three-letter upper-case code.
    #[error("currency {value:?} is not a three-letter upper-case ISO 4217 code")]
    Currency {
        /// The value (first 16 characters).
        value: String,
    },
    /// Not RFC 3339.
    #[error("{value:?} is not an RFC 3339 timestamp: {reason}")]
    Timestamp {
        /// The value (first 40 characters).
        value: String,
        /// What the parser said.
        reason: String,
    },
    /// More than nine fractional digits: finer than the nanoseconds the core keeps.
    #[error(
        "{value:?} has {digits} fractional digits; times are kept to the nanosecond (at most 9)"
    )]
    TimestampTooPrecise {
        /// The value (first 40 characters).
        value: String,
        /// How many fractional digits it has.
        digits: usize,
    },
    /// Not UTC.
    #[error("{value:?} is not in UTC; write it with Z or +00:00")]
    TimestampNotUtc {
        /// The value (first 40 characters).
        value: String,
    },
    /// Before 1970 or after 9999.
    #[error("year {year} is outside 1970..=9999")]
    TimestampOutOfRange {
        /// The year.
        year: i32,
    },
    /// Attempt limit out of range.
    #[error("max_attempts {limit} must be between 1 and {max}")]
    AttemptLimit {
        /// The limit given.
        limit: u8,
        /// The largest allowed.
        max: u8,
    },
}

/// Why a history could not be replayed.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum ReplayError {
    /// No events at all.
    #[error("the history is empty: a payment starts with PaymentIntentCreated")]
    EmptyHistory,
    /// The event at `index` (1-based) broke a rule.
    #[error("event {index} ({event}) breaks rule {}: {error}", error.rule())]
    Rejected {
        /// 1-based position of the rejected event in the history.
        index: usize,
        /// The rejected event's kind.
        event: EventKind,
        /// The rule it broke.
        error: DomainError,
    },
}

/// Money helper for error construction, kept here so call sites stay short.
pub(crate) fn cents(money: Money) -> i64 {
    money.minor_units()
}
