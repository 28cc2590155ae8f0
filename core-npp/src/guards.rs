//! State guards for operator actions: whether an action could apply now, asked before anyone is
//! asked to approve it. They state the same rules `apply` enforces, so they never disagree.

use crate::error::DomainError;
use crate::event::EventKind;
use crate::payment::Payment;
use crate::state::{FailureReason, PaymentState};

impl Payment {
    /// Whether an approved retry could open a new attempt now: FAILED, for a retryable reason,
    /// under the attempt limit.
    pub fn can_retry(&self) -> Result<(), DomainError> {
        let event = EventKind::PaymentRetryApproved;
        match self.state {
            PaymentState::Failed => self.retry_allowed(),
            PaymentState::Settled | PaymentState::Expired => Err(DomainError::TerminalState {
                state: self.state,
                event,
            }),
            PaymentState::Created
            | PaymentState::Authorised
            | PaymentState::Sent
            | PaymentState::Acknowledged => Err(DomainError::IllegalTransition {
                state: self.state,
                event,
            }),
        }
    }

    /// Whether the payment could be cancelled now: only before it is sent.
    pub fn can_cancel(&self) -> Result<(), DomainError> {
        let event = EventKind::PaymentCancelled;
        match self.state {
            PaymentState::Created | PaymentState::Authorised => Ok(()),
            PaymentState::Sent | PaymentState::Acknowledged => {
                Err(DomainError::CancelAfterSend { state: self.state })
            }
            PaymentState::Settled | PaymentState::Expired => Err(DomainError::TerminalState {
                state: self.state,
                event,
            }),
            PaymentState::Failed => Err(DomainError::FailedIsFinal { event }),
        }
    }

    /// Whether an operator could mark the payment failed now: only once sent (an external rail
    /// failure the rail did not report).
    pub fn can_mark_failed(&self) -> Result<(), DomainError> {
        let event = EventKind::PaymentFailed;
        match self.state {
            PaymentState::Sent | PaymentState::Acknowledged => Ok(()),
            PaymentState::Created | PaymentState::Authorised => {
                Err(DomainError::FailureReasonNotAllowed {
                    reason: FailureReason::OperatorMarkedFailed,
                    state: self.state,
                })
            }
            PaymentState::Settled | PaymentState::Expired => Err(DomainError::TerminalState {
                state: self.state,
                event,
            }),
            PaymentState::Failed => Err(DomainError::FailedIsFinal { event }),
        }
    }

    /// The retry rules that do not depend on the retry event itself.
    pub(crate) fn retry_allowed(&self) -> Result<(), DomainError> {
        let Some(failure) = self.failures.last() else {
            return Err(DomainError::StateInvariant {
                category: crate::error::InvariantCategory::Lifecycle,
                what: "a FAILED payment has a failure record",
            });
        };
        if !failure.reason.is_retryable() {
            return Err(DomainError::NotRetryable {
                reason: failure.reason,
            });
        }
        self.check_attempt_limit()
    }
}
