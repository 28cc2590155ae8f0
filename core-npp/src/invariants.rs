//! The state invariants of the four categories, asserted on every value `apply` returns.
//!
//! `decide` refuses events that would break a rule; these checks assert that the value built
//! afterwards really holds every invariant. Input alone never trips them: a failure here is a
//! defect in the core, reported as `DomainError::StateInvariant` rather than a wrong state.

use crate::error::{DomainError, InvariantCategory};
use crate::money::{Currency, Money};
use crate::payment::{AttemptOutcome, Payment};
use crate::state::PaymentState;

fn ensure(ok: bool, category: InvariantCategory, what: &'static str) -> Result<(), DomainError> {
    if ok {
        Ok(())
    } else {
        Err(DomainError::StateInvariant { category, what })
    }
}

impl Payment {
    /// Checks every invariant of every category on this value.
    pub fn check_invariants(&self) -> Result<(), DomainError> {
        self.check_lifecycle_invariants()?;
        self.check_money_invariants()?;
        self.check_identity_invariants()?;
        self.check_attempt_invariants()
    }

    fn check_lifecycle_invariants(&self) -> Result<(), DomainError> {
        use InvariantCategory::Lifecycle as L;
        let open = self.open_attempt();
        let open_unsent = open.is_some_and(|a| a.sent_at.is_none());
        let open_sent = open.is_some_and(|a| a.sent_at.is_some());
        let last_settled = self
            .attempts
            .last()
            .is_some_and(|a| matches!(a.outcome, Some(AttemptOutcome::Settled { .. })));
        match self.state {
            PaymentState::Created => ensure(
                self.authorisation.is_none()
                    && self.attempts.is_empty()
                    && self.failures.is_empty(),
                L,
                "CREATED has no authorisation, attempt or failure",
            ),
            PaymentState::Authorised => ensure(
                self.authorisation.is_some() && (self.attempts.is_empty() || open_unsent),
                L,
                "AUTHORISED is authorised and its attempt, if any, is open and unsent",
            ),
            PaymentState::Sent => ensure(
                open_sent && open.is_some_and(|a| a.acknowledged_at.is_none()),
                L,
                "SENT has an open, sent, unacknowledged attempt",
            ),
            PaymentState::Acknowledged => ensure(
                open_sent && open.is_some_and(|a| a.acknowledged_at.is_some()),
                L,
                "ACKNOWLEDGED has an open, sent, acknowledged attempt",
            ),
            PaymentState::Settled => ensure(last_settled, L, "SETTLED ends with a settled attempt"),
            PaymentState::Failed => ensure(
                !self.failures.is_empty() && open.is_none(),
                L,
                "FAILED has a failure record and no open attempt",
            ),
            PaymentState::Expired => ensure(
                self.expired_at.is_some() && !open_sent,
                L,
                "EXPIRED has an expiry time and no attempt in flight",
            ),
        }
    }

    fn check_money_invariants(&self) -> Result<(), DomainError> {
        use InvariantCategory::Money as M;
        let amount = self.amount();
        ensure(amount.is_positive(), M, "amount is positive")?;
        ensure(
            amount <= Money::MAX_PAYMENT,
            M,
            "amount is within the limit",
        )?;
        ensure(self.currency() == Currency::AUD, M, "currency is AUD")?;
        ensure(
            self.authorisation
                .as_ref()
                .is_none_or(|a| a.funds_earmarked == amount),
            M,
            "funds earmarked equal the amount",
        )?;
        let mut settled = 0usize;
        for attempt in &self.attempts {
            if let Some(AttemptOutcome::Settled {
                funds_transferred, ..
            }) = &attempt.outcome
            {
                settled += 1;
                ensure(
                    *funds_transferred == amount,
                    M,
                    "funds transferred equal the amount",
                )?;
            }
        }
        ensure(settled <= 1, M, "settled at most once")
    }

    fn check_identity_invariants(&self) -> Result<(), DomainError> {
        use InvariantCategory::IdentityOrdering as I;
        for (i, attempt) in self.attempts.iter().enumerate() {
            let later = self.attempts.iter().skip(i + 1);
            ensure(
                later.clone().all(|b| b.attempt_id != attempt.attempt_id),
                I,
                "attempt ids are unique",
            )?;
            let times = [
                Some(attempt.opened_at),
                attempt.sent_at,
                attempt.acknowledged_at,
                attempt.outcome.as_ref().map(outcome_at),
            ];
            let mut previous = self.created_at();
            for at in times.into_iter().flatten() {
                ensure(at >= previous, I, "attempt times never go backwards")?;
                previous = at;
            }
            ensure(
                previous <= self.last_occurred_at,
                I,
                "no attempt time after the last event",
            )?;
        }
        for (i, approval) in self.approvals.iter().enumerate() {
            ensure(
                !approval
                    .approved_by()
                    .is_same_operator(&approval.requested_by()),
                I,
                "every approval has two people",
            )?;
            ensure(
                self.approvals
                    .iter()
                    .skip(i + 1)
                    .all(|b| b.approval_id() != approval.approval_id()),
                I,
                "approval ids are single use",
            )?;
        }
        ensure(
            self.created_at() <= self.last_occurred_at,
            I,
            "time never goes backwards",
        )
    }

    fn check_attempt_invariants(&self) -> Result<(), DomainError> {
        use InvariantCategory::AttemptsDuplicates as A;
        ensure(
            self.attempts.len() <= usize::from(self.max_attempts().get()),
            A,
            "attempts stay within the limit",
        )?;
        let before_last = self.attempts.len().saturating_sub(1);
        ensure(
            self.attempts
                .iter()
                .take(before_last)
                .all(|a| matches!(a.outcome, Some(AttemptOutcome::Failed { .. }))),
            A,
            "every attempt before the last one failed",
        )?;
        ensure(
            self.attempts
                .iter()
                .all(|a| a.acknowledged_at.is_none() || a.sent_at.is_some()),
            A,
            "only a sent attempt is acknowledged",
        )?;
        ensure(
            self.attempts.iter().all(|a| {
                !matches!(a.outcome, Some(AttemptOutcome::Settled { .. })) || a.sent_at.is_some()
            }),
            A,
            "only a sent attempt settles",
        )
    }
}

fn outcome_at(outcome: &AttemptOutcome) -> crate::timestamp::Timestamp {
    match outcome {
        AttemptOutcome::Settled { at, .. } | AttemptOutcome::Failed { at, .. } => *at,
    }
}
