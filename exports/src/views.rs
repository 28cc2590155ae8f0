//! The pack's `intent` and `final_state`: readable views derived from the replayed payment.
//!
//! They hold nothing the events do not imply, so verification rebuilds them from the events and
//! compares; they exist so that an auditor can read the outcome without replaying anything.

use core_npp::{
    AccountId, Approval, ApprovalId, Attempt, AttemptId, AttemptLimit, AttemptOutcome, Currency,
    EndToEndId, FailureReason, FailureRecord, FreeText, IdempotencyKey, Money, PartyName, Payment,
    PaymentIntentId, PaymentState, Replay, SettlementRef, Timestamp,
};
use serde::Serialize;

/// The payment intent: what was asked for, by whom, to whom; the payment details (schema
/// version 3) only when the intent carries them.
#[derive(Serialize)]
pub(crate) struct IntentView {
    payment_intent_id: PaymentIntentId,
    amount: Money,
    currency: Currency,
    idempotency_key: IdempotencyKey,
    from_account_id: AccountId,
    to_account_id: AccountId,
    max_attempts: AttemptLimit,
    created_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    debtor_name: Option<PartyName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    creditor_name: Option<PartyName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remittance_information: Option<FreeText>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_to_end_id: Option<EndToEndId>,
}

impl IntentView {
    pub(crate) fn of(payment: &Payment) -> Self {
        Self {
            payment_intent_id: payment.payment_intent_id(),
            amount: payment.amount(),
            currency: payment.currency(),
            idempotency_key: payment.idempotency_key(),
            from_account_id: payment.from_account_id(),
            to_account_id: payment.to_account_id(),
            max_attempts: payment.max_attempts(),
            created_at: payment.created_at(),
            debtor_name: payment.debtor_name().cloned(),
            creditor_name: payment.creditor_name().cloned(),
            remittance_information: payment.remittance_information().cloned(),
            end_to_end_id: payment.end_to_end_id().cloned(),
        }
    }
}

/// Where the payment ended, with every attempt, failure and approval used: with `intent`, exactly
/// what the state hash covers (docs/ARCHITECTURE.md, "State hash encoding"), plus the count of
/// duplicates ignored.
#[derive(Serialize)]
pub(crate) struct FinalStateView {
    state: PaymentState,
    version: u32,
    duplicates_ignored: usize,
    last_occurred_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    authorisation: Option<AuthorisationView>,
    attempts: Vec<AttemptView>,
    failures: Vec<FailureView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expired_at: Option<Timestamp>,
    approvals: Vec<Approval>,
}

#[derive(Serialize)]
struct AuthorisationView {
    funds_earmarked: Money,
    at: Timestamp,
}

#[derive(Serialize)]
struct AttemptView {
    attempt_id: AttemptId,
    opened_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    opened_by: Option<ApprovalId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sent_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    acknowledged_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<OutcomeView>,
}

#[derive(Serialize)]
#[serde(tag = "result", rename_all = "SCREAMING_SNAKE_CASE")]
enum OutcomeView {
    Settled {
        settlement_ref: SettlementRef,
        funds_transferred: Money,
        at: Timestamp,
    },
    Failed {
        reason: FailureReason,
        #[serde(skip_serializing_if = "Option::is_none")]
        detail: Option<FreeText>,
        at: Timestamp,
    },
}

#[derive(Serialize)]
struct FailureView {
    reason: FailureReason,
    #[serde(skip_serializing_if = "Option::is_none")]
    attempt_id: Option<AttemptId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cancel_reason: Option<FreeText>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<FreeText>,
    #[serde(skip_serializing_if = "Option::is_none")]
    approval_id: Option<ApprovalId>,
    at: Timestamp,
}

impl FinalStateView {
    pub(crate) fn of(replay: &Replay) -> Self {
        let payment = replay.payment();
        Self {
            state: payment.state(),
            version: payment.version(),
            duplicates_ignored: replay.duplicates_ignored(),
            last_occurred_at: payment.last_occurred_at(),
            authorisation: payment.authorisation().map(|a| AuthorisationView {
                funds_earmarked: a.funds_earmarked(),
                at: a.at(),
            }),
            attempts: payment.attempts().iter().map(AttemptView::of).collect(),
            failures: payment.failures().iter().map(FailureView::of).collect(),
            expired_at: payment.expired_at(),
            approvals: payment.approvals().to_vec(),
        }
    }
}

impl AttemptView {
    fn of(attempt: &Attempt) -> Self {
        Self {
            attempt_id: attempt.attempt_id(),
            opened_at: attempt.opened_at(),
            opened_by: attempt.opened_by(),
            sent_at: attempt.sent_at(),
            acknowledged_at: attempt.acknowledged_at(),
            outcome: attempt.outcome().map(|outcome| match outcome {
                AttemptOutcome::Settled {
                    settlement_ref,
                    funds_transferred,
                    at,
                } => OutcomeView::Settled {
                    settlement_ref: *settlement_ref,
                    funds_transferred: *funds_transferred,
                    at: *at,
                },
                AttemptOutcome::Failed { reason, detail, at } => OutcomeView::Failed {
                    reason: *reason,
                    detail: detail.clone(),
                    at: *at,
                },
            }),
        }
    }
}

impl FailureView {
    fn of(failure: &FailureRecord) -> Self {
        Self {
            reason: failure.reason(),
            attempt_id: failure.attempt_id(),
            cancel_reason: failure.cancel_reason().cloned(),
            detail: failure.detail().cloned(),
            approval_id: failure.approval_id(),
            at: failure.at(),
        }
    }
}
