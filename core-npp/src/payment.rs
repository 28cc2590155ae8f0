//! The payment aggregate: an immutable value that events turn into new values or typed errors.
//!
//! Applying an event is split in two: `decide` checks every rule against the current value and
//! changes nothing; `evolve` builds the next value and cannot fail. The new value is then checked
//! against every state invariant before it is returned, so a defect in `evolve` surfaces as an
//! error instead of a wrong state.

use crate::error::{DomainError, cents};
use crate::event::{
    Approval, AttemptLimit, EventKind, Failed, IntentCreated, PaymentEvent, RetryApproved, Settled,
};
use crate::ids::{
    AccountId, ApprovalId, AttemptId, EndToEndId, FreeText, IdempotencyKey, PartyName,
    PaymentIntentId, SettlementRef,
};
use crate::money::{Currency, Money};
use crate::state::{FailureReason, PaymentState};
use crate::timestamp::Timestamp;
use crate::transitions::next_state;

/// The authorisation of a payment: the earmark placed on the payer's funds.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Authorisation {
    pub(crate) funds_earmarked: Money,
    pub(crate) at: Timestamp,
}

impl Authorisation {
    /// The earmarked amount (always the payment's amount).
    pub fn funds_earmarked(&self) -> Money {
        self.funds_earmarked
    }
    /// When the payment was authorised.
    pub fn at(&self) -> Timestamp {
        self.at
    }
}

/// How an attempt ended.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum AttemptOutcome {
    /// Funds moved.
    Settled {
        /// The rail's settlement reference.
        settlement_ref: SettlementRef,
        /// The amount moved (always the payment's amount).
        funds_transferred: Money,
        /// When.
        at: Timestamp,
    },
    /// The attempt failed.
    Failed {
        /// Why.
        reason: FailureReason,
        /// Free text such as the ISO 20022 reason code.
        detail: Option<FreeText>,
        /// When.
        at: Timestamp,
    },
}

impl AttemptOutcome {
    fn describe(&self) -> String {
        match self {
            AttemptOutcome::Settled { .. } => "SETTLED".to_owned(),
            AttemptOutcome::Failed { reason, .. } => format!("FAILED {reason}"),
        }
    }
}

/// One attempt to move the money on the rail.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Attempt {
    pub(crate) attempt_id: AttemptId,
    pub(crate) opened_at: Timestamp,
    pub(crate) opened_by: Option<ApprovalId>,
    pub(crate) sent_at: Option<Timestamp>,
    pub(crate) acknowledged_at: Option<Timestamp>,
    pub(crate) outcome: Option<AttemptOutcome>,
}

impl Attempt {
    /// The attempt's id.
    pub fn attempt_id(&self) -> AttemptId {
        self.attempt_id
    }
    /// When it was opened (first send, or the approved retry).
    pub fn opened_at(&self) -> Timestamp {
        self.opened_at
    }
    /// The retry approval that opened it; `None` for the first attempt.
    pub fn opened_by(&self) -> Option<ApprovalId> {
        self.opened_by
    }
    /// When it was sent to the rail.
    pub fn sent_at(&self) -> Option<Timestamp> {
        self.sent_at
    }
    /// When the rail acknowledged it.
    pub fn acknowledged_at(&self) -> Option<Timestamp> {
        self.acknowledged_at
    }
    /// How it ended, if it has.
    pub fn outcome(&self) -> Option<&AttemptOutcome> {
        self.outcome.as_ref()
    }
}

/// The most recent failure of the payment.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct FailureRecord {
    pub(crate) reason: FailureReason,
    pub(crate) attempt_id: Option<AttemptId>,
    pub(crate) cancel_reason: Option<FreeText>,
    pub(crate) detail: Option<FreeText>,
    pub(crate) approval_id: Option<ApprovalId>,
    pub(crate) at: Timestamp,
}

impl FailureRecord {
    /// Why it failed; `CANCELLED` for a cancellation.
    pub fn reason(&self) -> FailureReason {
        self.reason
    }
    /// The attempt that failed, if one was open.
    pub fn attempt_id(&self) -> Option<AttemptId> {
        self.attempt_id
    }
    /// The operator's reason for a cancellation.
    pub fn cancel_reason(&self) -> Option<&FreeText> {
        self.cancel_reason.as_ref()
    }
    /// Free-text detail.
    pub fn detail(&self) -> Option<&FreeText> {
        self.detail.as_ref()
    }
    /// The approval behind an operator-marked failure or a cancellation.
    pub fn approval_id(&self) -> Option<ApprovalId> {
        self.approval_id
    }
    /// When.
    pub fn at(&self) -> Timestamp {
        self.at
    }
}

/// What applying one event did.
// Boxing the payment would cost an allocation on every applied event to save stack bytes on the
// rare duplicate.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Applied {
    /// The event moved the payment to this new value.
    Changed(Payment),
    /// The event exactly repeats an outcome already applied; nothing changed.
    Duplicate,
}

enum Decision {
    Apply(PaymentState),
    Duplicate,
}

/// An NPP payment, as its events made it. Immutable: `apply` returns a new value.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Payment {
    pub(crate) intent: IntentCreated,
    pub(crate) state: PaymentState,
    pub(crate) version: u32,
    pub(crate) last_occurred_at: Timestamp,
    pub(crate) authorisation: Option<Authorisation>,
    pub(crate) attempts: Vec<Attempt>,
    pub(crate) failures: Vec<FailureRecord>,
    pub(crate) expired_at: Option<Timestamp>,
    pub(crate) approvals: Vec<Approval>,
}

impl Payment {
    /// Creates a payment from its intent, the only event that can start a stream.
    pub fn create(event: &PaymentEvent) -> Result<Payment, DomainError> {
        let PaymentEvent::PaymentIntentCreated(intent) = event else {
            return Err(DomainError::HistoryMustStartWithIntent {
                found: event.kind(),
            });
        };
        if !intent.amount().is_positive() {
            return Err(DomainError::NonPositiveAmount {
                amount: cents(*intent.amount()),
            });
        }
        if *intent.amount() > Money::MAX_PAYMENT {
            return Err(DomainError::AmountTooLarge {
                amount: cents(*intent.amount()),
                max: cents(Money::MAX_PAYMENT),
            });
        }
        if *intent.currency() != Currency::AUD {
            return Err(DomainError::UnsupportedCurrency {
                currency: *intent.currency(),
            });
        }
        let payment = Payment {
            intent: intent.clone(),
            state: PaymentState::Created,
            version: 1,
            last_occurred_at: intent.occurred_at(),
            authorisation: None,
            attempts: Vec::new(),
            failures: Vec::new(),
            expired_at: None,
            approvals: Vec::new(),
        };
        payment.check_invariants()?;
        Ok(payment)
    }

    /// Applies one event: a new payment, `Duplicate` for an exact repeat of an applied outcome,
    /// or the rule it breaks. `self` is never changed.
    pub fn apply(&self, event: &PaymentEvent) -> Result<Applied, DomainError> {
        match self.decide(event)? {
            Decision::Duplicate => Ok(Applied::Duplicate),
            Decision::Apply(to) => {
                let next = self.clone().evolve(event, to);
                next.check_invariants()?;
                Ok(Applied::Changed(next))
            }
        }
    }

    /// Like [`Payment::apply`], but consumes the value to avoid a copy; used when folding a
    /// history, where the old value is never needed again. Returns `(payment, was_duplicate)`.
    pub fn apply_owned(self, event: &PaymentEvent) -> Result<(Payment, bool), DomainError> {
        match self.decide(event)? {
            Decision::Duplicate => Ok((self, true)),
            Decision::Apply(to) => {
                let next = self.evolve(event, to);
                next.check_invariants()?;
                Ok((next, false))
            }
        }
    }

    // ----- accessors -----

    /// The payment's id (its stream id).
    pub fn payment_intent_id(&self) -> PaymentIntentId {
        self.intent.payment_intent_id()
    }
    /// The current state.
    pub fn state(&self) -> PaymentState {
        self.state
    }
    /// Events applied so far, duplicates excluded: the stream version this value reflects.
    pub fn version(&self) -> u32 {
        self.version
    }
    /// The amount in minor units.
    pub fn amount(&self) -> Money {
        *self.intent.amount()
    }
    /// The currency (always AUD).
    pub fn currency(&self) -> Currency {
        *self.intent.currency()
    }
    /// The caller's idempotency key.
    pub fn idempotency_key(&self) -> IdempotencyKey {
        *self.intent.idempotency_key()
    }
    /// The payer's account.
    pub fn from_account_id(&self) -> AccountId {
        *self.intent.from_account_id()
    }
    /// The payee's account.
    pub fn to_account_id(&self) -> AccountId {
        *self.intent.to_account_id()
    }
    /// The attempt limit.
    pub fn max_attempts(&self) -> AttemptLimit {
        *self.intent.max_attempts()
    }
    /// When the intent was created.
    pub fn created_at(&self) -> Timestamp {
        self.intent.occurred_at()
    }
    /// The payer's name, if the intent gave it.
    pub fn debtor_name(&self) -> Option<&PartyName> {
        self.intent.debtor_name()
    }
    /// The payee's name, if the intent gave it.
    pub fn creditor_name(&self) -> Option<&PartyName> {
        self.intent.creditor_name()
    }
    /// The remittance text for the payee, if the intent gave it.
    pub fn remittance_information(&self) -> Option<&FreeText> {
        self.intent.remittance_information()
    }
    /// The payer's end-to-end id, if the intent gave one (the rail then carries it instead of
    /// the payment id).
    pub fn end_to_end_id(&self) -> Option<&EndToEndId> {
        self.intent.end_to_end_id()
    }
    /// The intent the payment was created from.
    pub fn intent(&self) -> &IntentCreated {
        &self.intent
    }
    /// When the latest applied event happened.
    pub fn last_occurred_at(&self) -> Timestamp {
        self.last_occurred_at
    }
    /// The authorisation, once authorised.
    pub fn authorisation(&self) -> Option<&Authorisation> {
        self.authorisation.as_ref()
    }
    /// Every attempt, oldest first, with its outcome.
    pub fn attempts(&self) -> &[Attempt] {
        &self.attempts
    }
    /// The most recent failure (kept after a retry, for the record).
    pub fn last_failure(&self) -> Option<&FailureRecord> {
        self.failures.last()
    }
    /// Every failure, oldest first: one per failed attempt, plus any before the first send.
    pub fn failures(&self) -> &[FailureRecord] {
        &self.failures
    }
    /// When it expired.
    pub fn expired_at(&self) -> Option<Timestamp> {
        self.expired_at
    }
    /// Every operator approval used, in order.
    pub fn approvals(&self) -> &[Approval] {
        &self.approvals
    }
    /// The attempt that settled, if any.
    pub fn settled_attempt(&self) -> Option<&Attempt> {
        self.attempts
            .iter()
            .find(|a| matches!(a.outcome, Some(AttemptOutcome::Settled { .. })))
    }
    /// The last attempt if it has no outcome yet.
    pub fn open_attempt(&self) -> Option<&Attempt> {
        self.attempts.last().filter(|a| a.outcome.is_none())
    }
    fn attempt(&self, attempt_id: AttemptId) -> Option<&Attempt> {
        self.attempts.iter().find(|a| a.attempt_id == attempt_id)
    }

    // ----- decide: every rule, nothing changed -----

    fn decide(&self, event: &PaymentEvent) -> Result<Decision, DomainError> {
        self.check_stream(event)?;
        if self.is_exact_repeat(event) {
            return Ok(Decision::Duplicate);
        }
        self.check_terminal(event)?;
        let to = self.check_transition(event.kind())?;
        if event.occurred_at() < self.last_occurred_at {
            return Err(DomainError::TimeWentBackwards {
                previous: self.last_occurred_at,
                occurred_at: event.occurred_at(),
            });
        }
        self.check_event_rules(event)?;
        Ok(Decision::Apply(to))
    }

    fn check_stream(&self, event: &PaymentEvent) -> Result<(), DomainError> {
        let expected = self.payment_intent_id();
        if event.payment_intent_id() != expected {
            return Err(DomainError::WrongStream {
                expected,
                found: event.payment_intent_id(),
            });
        }
        if let PaymentEvent::PaymentIntentCreated(again) = event {
            let original = self.idempotency_key();
            if *again.idempotency_key() != original {
                return Err(DomainError::IdempotencyKeyChanged {
                    original,
                    found: *again.idempotency_key(),
                });
            }
            return Err(DomainError::IntentAlreadyCreated);
        }
        Ok(())
    }

    /// The duplicate rule: an event is a duplicate only when it repeats the outcome the payment
    /// *currently* stands on for that attempt (same type, attempt and fields; `occurred_at` may
    /// differ, because a rail resends with a new timestamp). A failure that names no attempt
    /// repeats only the failure the payment now stands FAILED with. Anything else is a new fact,
    /// applied or refused by the rules that follow.
    fn is_exact_repeat(&self, event: &PaymentEvent) -> bool {
        match event {
            PaymentEvent::PaymentAcknowledged(e) => self
                .attempt(*e.attempt_id())
                .is_some_and(|a| a.acknowledged_at.is_some()),
            PaymentEvent::PaymentSettled(e) => self.attempt(*e.attempt_id()).is_some_and(|a| {
                matches!(&a.outcome, Some(AttemptOutcome::Settled { settlement_ref, funds_transferred, .. })
                    if settlement_ref == e.settlement_ref() && funds_transferred == e.funds_transferred())
            }),
            PaymentEvent::PaymentFailed(e) => {
                let standing = match e.attempt_id() {
                    // The failure recorded for that attempt (there is at most one: an attempt
                    // has one outcome), whatever happened since.
                    Some(id) => self
                        .attempt(*id)
                        .filter(|a| matches!(a.outcome, Some(AttemptOutcome::Failed { .. })))
                        .and_then(|_| self.failures.iter().rev().find(|f| f.attempt_id == Some(*id))),
                    // No attempt: only the failure the payment stands FAILED with right now.
                    None => self
                        .failures
                        .last()
                        .filter(|_| self.state == PaymentState::Failed),
                };
                standing.is_some_and(|f| {
                    f.attempt_id == *e.attempt_id()
                        && f.reason == *e.reason()
                        && f.detail == *e.detail()
                        && f.cancel_reason.is_none()
                        && f.approval_id == e.approval().as_ref().map(Approval::approval_id)
                        && self.approval_matches(e.approval().as_ref())
                })
            }
            PaymentEvent::PaymentIntentCreated(_)
            | PaymentEvent::PaymentAuthorised(_)
            | PaymentEvent::PaymentSentToRail(_)
            | PaymentEvent::PaymentExpired(_)
            | PaymentEvent::PaymentRetryApproved(_)
            | PaymentEvent::PaymentCancelled(_) => false,
        }
    }

    fn approval_matches(&self, approval: Option<&Approval>) -> bool {
        match approval {
            None => true,
            Some(given) => self.approvals.iter().any(|a| a == given),
        }
    }

    /// The terminal rule, checked before any other rule that could move the payment.
    fn check_terminal(&self, event: &PaymentEvent) -> Result<(), DomainError> {
        let kind = event.kind();
        match self.state {
            PaymentState::Settled | PaymentState::Expired => Err(self
                .conflict_with_recorded(event)
                .unwrap_or(DomainError::TerminalState {
                    state: self.state,
                    event: kind,
                })),
            PaymentState::Failed => {
                if kind == EventKind::PaymentRetryApproved {
                    Ok(())
                } else {
                    Err(self
                        .conflict_with_recorded(event)
                        .unwrap_or(DomainError::FailedIsFinal { event: kind }))
                }
            }
            PaymentState::Created
            | PaymentState::Authorised
            | PaymentState::Sent
            | PaymentState::Acknowledged => Ok(()),
        }
    }

    /// A more precise error when the event contradicts what an attempt already recorded.
    fn conflict_with_recorded(&self, event: &PaymentEvent) -> Option<DomainError> {
        let conflict = |attempt: &Attempt| {
            attempt
                .outcome
                .as_ref()
                .map(|o| DomainError::OutcomeConflict {
                    attempt_id: attempt.attempt_id,
                    recorded: o.describe(),
                    conflicting: event.kind(),
                })
        };
        match event {
            PaymentEvent::PaymentSettled(e) => match self.settled_attempt() {
                Some(s) if s.attempt_id != *e.attempt_id() => Some(DomainError::SettledTwice),
                Some(s) => conflict(s),
                None => self.attempt(*e.attempt_id()).and_then(conflict),
            },
            PaymentEvent::PaymentFailed(e) => e
                .attempt_id()
                .and_then(|id| self.attempt(id))
                .and_then(conflict),
            PaymentEvent::PaymentSentToRail(e) => self
                .attempt(*e.attempt_id())
                .filter(|a| a.sent_at.is_some())
                .map(|a| DomainError::AlreadySent {
                    attempt_id: a.attempt_id,
                }),
            PaymentEvent::PaymentIntentCreated(_)
            | PaymentEvent::PaymentAuthorised(_)
            | PaymentEvent::PaymentAcknowledged(_)
            | PaymentEvent::PaymentExpired(_)
            | PaymentEvent::PaymentRetryApproved(_)
            | PaymentEvent::PaymentCancelled(_) => None,
        }
    }

    fn check_transition(&self, kind: EventKind) -> Result<PaymentState, DomainError> {
        if let Some(to) = next_state(self.state, kind) {
            return Ok(to);
        }
        let state = self.state;
        Err(
            if state.is_in_flight() && kind == EventKind::PaymentCancelled {
                DomainError::CancelAfterSend { state }
            } else if state.is_in_flight() && kind == EventKind::PaymentExpired {
                DomainError::ExpireAfterSend { state }
            } else if state.is_in_flight() && kind == EventKind::PaymentSentToRail {
                self.open_attempt()
                    .map(|a| DomainError::AlreadySent {
                        attempt_id: a.attempt_id,
                    })
                    .unwrap_or(DomainError::IllegalTransition { state, event: kind })
            } else {
                DomainError::IllegalTransition { state, event: kind }
            },
        )
    }

    fn check_event_rules(&self, event: &PaymentEvent) -> Result<(), DomainError> {
        let amount = self.amount();
        match event {
            PaymentEvent::PaymentIntentCreated(_) => Err(DomainError::IntentAlreadyCreated),
            PaymentEvent::PaymentAuthorised(e) => {
                if !*e.policy_checks_passed() {
                    return Err(DomainError::PolicyChecksNotPassed);
                }
                if *e.funds_earmarked() != amount {
                    return Err(DomainError::EarmarkMismatch {
                        earmarked: cents(*e.funds_earmarked()),
                        amount: cents(amount),
                    });
                }
                Ok(())
            }
            PaymentEvent::PaymentSentToRail(e) => self.check_send(*e.attempt_id()),
            PaymentEvent::PaymentAcknowledged(e) => {
                self.check_current_sent(EventKind::PaymentAcknowledged, *e.attempt_id())
            }
            PaymentEvent::PaymentSettled(e) => self.check_settled(e),
            PaymentEvent::PaymentFailed(e) => self.check_failed(e),
            PaymentEvent::PaymentExpired(_) => Ok(()),
            PaymentEvent::PaymentRetryApproved(e) => self.check_retry(e),
            PaymentEvent::PaymentCancelled(e) => self.check_approval(e.approval(), e.occurred_at()),
        }
    }

    fn check_send(&self, attempt_id: AttemptId) -> Result<(), DomainError> {
        match self.open_attempt() {
            Some(open) if open.attempt_id != attempt_id => Err(DomainError::NotCurrentAttempt {
                attempt_id,
                current: open.attempt_id,
            }),
            Some(open) if open.sent_at.is_some() => Err(DomainError::AlreadySent { attempt_id }),
            Some(_) => Ok(()),
            None if self.attempt(attempt_id).is_some() => {
                Err(DomainError::AttemptIdReused { attempt_id })
            }
            None => self.check_attempt_limit(),
        }
    }

    /// The event must name the open attempt, and that attempt must have been sent.
    fn check_current_sent(
        &self,
        kind: EventKind,
        attempt_id: AttemptId,
    ) -> Result<(), DomainError> {
        let Some(open) = self.open_attempt() else {
            return Err(self.not_current(kind, attempt_id, None));
        };
        if open.attempt_id != attempt_id {
            return Err(self.not_current(kind, attempt_id, Some(open.attempt_id)));
        }
        if open.sent_at.is_none() {
            return Err(DomainError::AttemptNotSent { attempt_id });
        }
        Ok(())
    }

    fn not_current(
        &self,
        kind: EventKind,
        attempt_id: AttemptId,
        current: Option<AttemptId>,
    ) -> DomainError {
        let recorded = self.attempt(attempt_id).and_then(|a| {
            a.outcome.as_ref().map(|o| DomainError::OutcomeConflict {
                attempt_id,
                recorded: o.describe(),
                conflicting: kind,
            })
        });
        match (recorded, current) {
            (Some(conflict), _) => conflict,
            (None, Some(current)) => DomainError::NotCurrentAttempt {
                attempt_id,
                current,
            },
            (None, None) => DomainError::NoAttemptOpen { attempt_id },
        }
    }

    fn check_settled(&self, e: &Settled) -> Result<(), DomainError> {
        self.check_current_sent(EventKind::PaymentSettled, *e.attempt_id())?;
        if *e.funds_transferred() != self.amount() {
            return Err(DomainError::TransferMismatch {
                transferred: cents(*e.funds_transferred()),
                amount: cents(self.amount()),
            });
        }
        Ok(())
    }

    fn check_failed(&self, e: &Failed) -> Result<(), DomainError> {
        let reason = *e.reason();
        if !reason.allowed_in(self.state) {
            return Err(DomainError::FailureReasonNotAllowed {
                reason,
                state: self.state,
            });
        }
        match (self.open_attempt(), *e.attempt_id()) {
            // An attempt opened by a retry but never sent may fail without naming it (the rail
            // was down again): nothing reached the rail, so nothing is ambiguous.
            (Some(open), None) if open.sent_at.is_none() => {}
            (Some(open), None) => {
                return Err(DomainError::AttemptIdRequired {
                    event: EventKind::PaymentFailed,
                    current: open.attempt_id,
                });
            }
            (Some(open), Some(id)) if open.attempt_id != id => {
                return Err(self.not_current(EventKind::PaymentFailed, id, Some(open.attempt_id)));
            }
            (None, Some(id)) => return Err(self.not_current(EventKind::PaymentFailed, id, None)),
            (Some(_), Some(_)) | (None, None) => {}
        }
        match (reason == FailureReason::OperatorMarkedFailed, e.approval()) {
            (true, Some(approval)) => self.check_approval(approval, e.occurred_at()),
            (true, None) => Err(DomainError::ApprovalMissing {
                event: EventKind::PaymentFailed,
            }),
            (false, Some(_)) => Err(DomainError::UnexpectedApproval { reason }),
            (false, None) => Ok(()),
        }
    }

    fn check_retry(&self, e: &RetryApproved) -> Result<(), DomainError> {
        self.retry_allowed()?;
        if self.attempt(*e.attempt_id()).is_some() {
            return Err(DomainError::AttemptIdReused {
                attempt_id: *e.attempt_id(),
            });
        }
        self.check_approval(e.approval(), e.occurred_at())
    }

    pub(crate) fn check_attempt_limit(&self) -> Result<(), DomainError> {
        let limit = self.max_attempts().get();
        if self.attempts.len() >= usize::from(limit) {
            return Err(DomainError::AttemptLimitReached {
                used: self.attempts.len(),
                limit,
            });
        }
        Ok(())
    }

    fn check_approval(
        &self,
        approval: &Approval,
        occurred_at: Timestamp,
    ) -> Result<(), DomainError> {
        if approval
            .approved_by()
            .is_same_operator(&approval.requested_by())
        {
            return Err(DomainError::SelfApproval {
                operator: approval.approved_by(),
            });
        }
        if self
            .approvals
            .iter()
            .any(|a| a.approval_id() == approval.approval_id())
        {
            return Err(DomainError::ApprovalReused {
                approval_id: approval.approval_id(),
            });
        }
        if approval.approved_at() > occurred_at {
            return Err(DomainError::ApprovedAfterEvent {
                approved_at: approval.approved_at(),
                occurred_at,
            });
        }
        if approval.approved_at() < self.created_at() {
            return Err(DomainError::ApprovedBeforeIntent {
                approved_at: approval.approved_at(),
                created_at: self.created_at(),
            });
        }
        Ok(())
    }

    // ----- evolve: build the next value; every rule was checked in `decide` -----

    fn evolve(mut self, event: &PaymentEvent, to: PaymentState) -> Payment {
        let at = event.occurred_at();
        self.state = to;
        self.version = self.version.saturating_add(1);
        self.last_occurred_at = at;
        match event {
            // `decide` refuses a second intent, so there is nothing to evolve.
            PaymentEvent::PaymentIntentCreated(_) => {}
            PaymentEvent::PaymentAuthorised(e) => {
                self.authorisation = Some(Authorisation {
                    funds_earmarked: *e.funds_earmarked(),
                    at,
                });
            }
            PaymentEvent::PaymentSentToRail(e) => self.record_send(*e.attempt_id(), at),
            PaymentEvent::PaymentAcknowledged(_) => {
                if let Some(open) = self.open_attempt_mut() {
                    open.acknowledged_at = Some(at);
                }
            }
            PaymentEvent::PaymentSettled(e) => {
                if let Some(open) = self.open_attempt_mut() {
                    open.outcome = Some(AttemptOutcome::Settled {
                        settlement_ref: *e.settlement_ref(),
                        funds_transferred: *e.funds_transferred(),
                        at,
                    });
                }
            }
            PaymentEvent::PaymentFailed(e) => self.record_failure(
                FailureRecord {
                    reason: *e.reason(),
                    attempt_id: *e.attempt_id(),
                    cancel_reason: None,
                    detail: e.detail().clone(),
                    approval_id: e.approval().as_ref().map(Approval::approval_id),
                    at,
                },
                e.approval().as_ref(),
            ),
            PaymentEvent::PaymentExpired(_) => self.expired_at = Some(at),
            PaymentEvent::PaymentRetryApproved(e) => {
                self.attempts.push(Attempt {
                    attempt_id: *e.attempt_id(),
                    opened_at: at,
                    opened_by: Some(e.approval().approval_id()),
                    sent_at: None,
                    acknowledged_at: None,
                    outcome: None,
                });
                self.approvals.push(e.approval().clone());
            }
            PaymentEvent::PaymentCancelled(e) => {
                let attempt_id = self.open_attempt().map(|a| a.attempt_id);
                let record = FailureRecord {
                    reason: FailureReason::Cancelled,
                    attempt_id,
                    cancel_reason: Some(e.reason().clone()),
                    detail: e.detail().clone(),
                    approval_id: Some(e.approval().approval_id()),
                    at,
                };
                self.record_failure(record, Some(e.approval()));
            }
        }
        self
    }

    fn open_attempt_mut(&mut self) -> Option<&mut Attempt> {
        self.attempts.last_mut().filter(|a| a.outcome.is_none())
    }

    fn record_send(&mut self, attempt_id: AttemptId, at: Timestamp) {
        match self.open_attempt_mut() {
            Some(open) => open.sent_at = Some(at),
            None => self.attempts.push(Attempt {
                attempt_id,
                opened_at: at,
                opened_by: None,
                sent_at: Some(at),
                acknowledged_at: None,
                outcome: None,
            }),
        }
    }

    fn record_failure(&mut self, record: FailureRecord, approval: Option<&Approval>) {
        if let Some(open) = self.open_attempt_mut() {
            open.outcome = Some(AttemptOutcome::Failed {
                reason: record.reason,
                detail: record.detail.clone(),
                at: record.at,
            });
        }
        if let Some(approval) = approval {
            self.approvals.push(approval.clone());
        }
        self.failures.push(record);
    }
}
