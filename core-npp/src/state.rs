//! The seven payment states, the failure reasons, and which of them are final.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where a payment is in its life. Upper-case names are the external form.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentState {
    /// The intent is recorded; nothing has been checked yet.
    Created,
    /// Policy checks passed and funds are earmarked; ready to send (or re-send after a retry).
    Authorised,
    /// The current attempt was handed to the rail; its outcome is unknown.
    Sent,
    /// The rail acknowledged the current attempt. Not settlement: it may still fail.
    Acknowledged,
    /// Funds moved. Final.
    Settled,
    /// The payment failed; final except for an approved operator retry of a retryable failure.
    Failed,
    /// The intent passed its deadline before being sent. Final.
    Expired,
}

impl PaymentState {
    /// Every state, in lifecycle order.
    pub const ALL: [PaymentState; 7] = [
        PaymentState::Created,
        PaymentState::Authorised,
        PaymentState::Sent,
        PaymentState::Acknowledged,
        PaymentState::Settled,
        PaymentState::Failed,
        PaymentState::Expired,
    ];

    /// The external, upper-case name.
    pub const fn name(self) -> &'static str {
        match self {
            PaymentState::Created => "CREATED",
            PaymentState::Authorised => "AUTHORISED",
            PaymentState::Sent => "SENT",
            PaymentState::Acknowledged => "ACKNOWLEDGED",
            PaymentState::Settled => "SETTLED",
            PaymentState::Failed => "FAILED",
            PaymentState::Expired => "EXPIRED",
        }
    }

    /// Parses the upper-case name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// SETTLED and EXPIRED never change; FAILED changes only by an approved retry.
    pub const fn is_terminal(self) -> bool {
        match self {
            PaymentState::Settled | PaymentState::Expired | PaymentState::Failed => true,
            PaymentState::Created
            | PaymentState::Authorised
            | PaymentState::Sent
            | PaymentState::Acknowledged => false,
        }
    }

    /// Whether the payment has been handed to the rail, after which it is irrevocable.
    pub const fn is_in_flight(self) -> bool {
        match self {
            PaymentState::Sent | PaymentState::Acknowledged => true,
            PaymentState::Created
            | PaymentState::Authorised
            | PaymentState::Settled
            | PaymentState::Failed
            | PaymentState::Expired => false,
        }
    }

    /// A stable one-byte tag for the state hash. Never renumber.
    pub(crate) const fn tag(self) -> u8 {
        match self {
            PaymentState::Created => 1,
            PaymentState::Authorised => 2,
            PaymentState::Sent => 3,
            PaymentState::Acknowledged => 4,
            PaymentState::Settled => 5,
            PaymentState::Failed => 6,
            PaymentState::Expired => 7,
        }
    }

    pub(crate) const fn index(self) -> usize {
        self.tag() as usize - 1
    }
}

impl fmt::Display for PaymentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a payment failed.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FailureReason {
    /// The rail or payee bank rejected the attempt (pacs.002 RJCT; the ISO code goes in `detail`).
    RailRejected,
    /// No outcome arrived in time (AB05, AB06).
    RailTimeout,
    /// The rail could not be reached.
    RailUnavailable,
    /// The payer's available funds did not cover the amount.
    InsufficientFunds,
    /// Our own policy checks declined the payment.
    PolicyDeclined,
    /// An operator, with a second operator's approval, marked a sent payment failed.
    OperatorMarkedFailed,
    /// Cancelled by an approved operator action before sending. Only `PaymentCancelled` sets it.
    Cancelled,
}

impl FailureReason {
    /// Every reason.
    pub const ALL: [FailureReason; 7] = [
        FailureReason::RailRejected,
        FailureReason::RailTimeout,
        FailureReason::RailUnavailable,
        FailureReason::InsufficientFunds,
        FailureReason::PolicyDeclined,
        FailureReason::OperatorMarkedFailed,
        FailureReason::Cancelled,
    ];

    /// The external, upper-case name.
    pub const fn name(self) -> &'static str {
        match self {
            FailureReason::RailRejected => "RAIL_REJECTED",
            FailureReason::RailTimeout => "RAIL_TIMEOUT",
            FailureReason::RailUnavailable => "RAIL_UNAVAILABLE",
            FailureReason::InsufficientFunds => "INSUFFICIENT_FUNDS",
            FailureReason::PolicyDeclined => "POLICY_DECLINED",
            FailureReason::OperatorMarkedFailed => "OPERATOR_MARKED_FAILED",
            FailureReason::Cancelled => "CANCELLED",
        }
    }

    /// Whether an approved operator retry may reopen a payment that failed for this reason.
    pub const fn is_retryable(self) -> bool {
        match self {
            FailureReason::RailTimeout
            | FailureReason::RailUnavailable
            | FailureReason::OperatorMarkedFailed => true,
            FailureReason::RailRejected
            | FailureReason::InsufficientFunds
            | FailureReason::PolicyDeclined
            | FailureReason::Cancelled => false,
        }
    }

    /// Whether a `PaymentFailed` with this reason may be recorded in `state`: reasons about our own
    /// checks belong before sending, reasons about the rail's answer after it.
    pub const fn allowed_in(self, state: PaymentState) -> bool {
        let before_send = matches!(state, PaymentState::Created | PaymentState::Authorised);
        let after_send = state.is_in_flight();
        match self {
            FailureReason::PolicyDeclined | FailureReason::InsufficientFunds => before_send,
            FailureReason::RailUnavailable => {
                after_send || matches!(state, PaymentState::Authorised)
            }
            FailureReason::RailRejected
            | FailureReason::RailTimeout
            | FailureReason::OperatorMarkedFailed => after_send,
            FailureReason::Cancelled => false,
        }
    }

    /// A stable one-byte tag for the state hash. Never renumber.
    pub(crate) const fn tag(self) -> u8 {
        match self {
            FailureReason::RailRejected => 1,
            FailureReason::RailTimeout => 2,
            FailureReason::RailUnavailable => 3,
            FailureReason::InsufficientFunds => 4,
            FailureReason::PolicyDeclined => 5,
            FailureReason::OperatorMarkedFailed => 6,
            FailureReason::Cancelled => 7,
        }
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
