//! What a pack is built from: the payment's events, the rail decisions and the operator actions.
//!
//! These types are both the builder's input and, serialised, the pack's `rail_decisions` and
//! `operator_actions` elements, so what the caller hands in is exactly what the auditor reads.

use core_npp::{
    ApprovalId, AttemptId, FreeText, OperatorId, PaymentEvent, PaymentIntentId, Timestamp,
};
use serde::{Deserialize, Serialize};

use crate::error::{ExportError, JsonPath};

/// The policy version recorded for operator actions derived from an event history, where the
/// policy that allowed them is not known.
pub const UNKNOWN_POLICY_VERSION: &str = "unknown (from event history)";

/// Which rail was chosen (for an attempt, or for the payment as a whole) and why.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RailDecision {
    /// The rail, e.g. `NPP`.
    pub rail: FreeText,
    /// When the decision was made.
    pub decided_at: Timestamp,
    /// Why this rail.
    pub reason: FreeText,
    /// The attempt the decision was for, if it was made for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt_id: Option<AttemptId>,
}

/// What an operator asked for.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionKind {
    /// Retry a retryable failed payment (produces `PaymentRetryApproved`).
    Retry,
    /// Cancel a payment before it is sent (produces `PaymentCancelled`).
    Cancel,
    /// Mark a sent payment failed (produces `PaymentFailed` with `OPERATOR_MARKED_FAILED`).
    MarkFailed,
}

impl ActionKind {
    /// The external name: `retry`, `cancel` or `mark-failed`.
    pub const fn name(self) -> &'static str {
        match self {
            ActionKind::Retry => "retry",
            ActionKind::Cancel => "cancel",
            ActionKind::MarkFailed => "mark-failed",
        }
    }
}

/// One approval of an operator request by a second operator.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRecord {
    /// The approving operator; never the requester.
    pub approved_by: OperatorId,
    /// When they approved.
    pub approved_at: Timestamp,
}

/// How an operator request was decided.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(
    tag = "outcome",
    rename_all = "SCREAMING_SNAKE_CASE",
    deny_unknown_fields
)]
pub enum Decision {
    /// Approved; the last approval is the one the resulting event carries.
    Approved {
        /// Every approval, in order.
        approvals: Vec<ApprovalRecord>,
    },
    /// Rejected by a second operator; no event was produced.
    Rejected {
        /// Who rejected it.
        rejected_by: OperatorId,
        /// When.
        rejected_at: Timestamp,
        /// Why.
        reason: FreeText,
    },
    /// Not approved in time; no event was produced.
    Lapsed {
        /// When it lapsed.
        at: Timestamp,
    },
    /// Still waiting for approval when the pack was built; no event was produced.
    Pending,
}

impl Decision {
    /// The external name of the outcome: APPROVED, REJECTED, LAPSED or PENDING.
    pub const fn name(&self) -> &'static str {
        match self {
            Decision::Approved { .. } => "APPROVED",
            Decision::Rejected { .. } => "REJECTED",
            Decision::Lapsed { .. } => "LAPSED",
            Decision::Pending => "PENDING",
        }
    }
}

/// One operator request, its approval or rejection, and the policy it was decided under.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorAction {
    /// The request's id. An approved request's event carries it as its `approval_id`.
    pub request_id: ApprovalId,
    /// What was asked for.
    pub action: ActionKind,
    /// The payment.
    pub payment_intent_id: PaymentIntentId,
    /// The attempt the resulting event names: the new attempt of a retry, the attempt marked
    /// failed. `None` when the request named none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt_id: Option<AttemptId>,
    /// The operator who asked (the maker).
    pub requested_by: OperatorId,
    /// When they asked; `None` when unknown (actions derived from an event history).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_at: Option<Timestamp>,
    /// Why they asked.
    pub reason: FreeText,
    /// The version of the approval policy the request was decided under.
    pub policy_version: FreeText,
    /// The decision.
    pub decision: Decision,
}

/// Everything a pack is built from.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct EvidenceInput {
    /// The payment's events, in stream order.
    pub lifecycle_events: Vec<PaymentEvent>,
    /// The rail decisions, in the order they were made.
    pub rail_decisions: Vec<RailDecision>,
    /// Every operator request about the payment, decided or not.
    pub operator_actions: Vec<OperatorAction>,
    /// The producing software's version, recorded in the pack but outside the proof.
    pub software_version: String,
}

impl EvidenceInput {
    /// The input for a bare event history: no rail decisions, and one approved operator action
    /// per event that carries an approval (see [`operator_actions_from_events`]).
    pub fn from_event_history(lifecycle_events: Vec<PaymentEvent>) -> Result<Self, ExportError> {
        let operator_actions = operator_actions_from_events(&lifecycle_events)?;
        Ok(Self {
            lifecycle_events,
            rail_decisions: Vec::new(),
            operator_actions,
            software_version: crate::SOFTWARE_VERSION.to_owned(),
        })
    }
}

/// The operator actions an event history proves on its own: each event that carries an approval
/// yields one approved action whose `request_id` is the approval id, with the approval's
/// requester, approver, time and reason, no `requested_at` (the events do not record it) and the
/// policy version [`UNKNOWN_POLICY_VERSION`]. Rejected, lapsed or pending requests leave no
/// event, so they cannot be derived; the operator-action streams hold them.
pub fn operator_actions_from_events(
    events: &[PaymentEvent],
) -> Result<Vec<OperatorAction>, ExportError> {
    let unknown_policy =
        FreeText::parse(UNKNOWN_POLICY_VERSION).map_err(|e| ExportError::Malformed {
            path: JsonPath::root().key("operator_actions"),
            reason: format!("the policy version placeholder is not valid text: {e}"),
        })?;
    let mut actions = Vec::new();
    for event in events {
        let (Some(approval), Some(action)) = (event.approval(), action_of(event)) else {
            continue;
        };
        actions.push(OperatorAction {
            request_id: approval.approval_id(),
            action,
            payment_intent_id: event.payment_intent_id(),
            attempt_id: event.attempt_id(),
            requested_by: approval.requested_by(),
            requested_at: None,
            reason: approval.reason().clone(),
            policy_version: unknown_policy.clone(),
            decision: Decision::Approved {
                approvals: vec![ApprovalRecord {
                    approved_by: approval.approved_by(),
                    approved_at: approval.approved_at(),
                }],
            },
        });
    }
    Ok(actions)
}

/// The operator action an event carries out, if it is one.
pub(crate) fn action_of(event: &PaymentEvent) -> Option<ActionKind> {
    match event {
        PaymentEvent::PaymentRetryApproved(_) => Some(ActionKind::Retry),
        PaymentEvent::PaymentCancelled(_) => Some(ActionKind::Cancel),
        PaymentEvent::PaymentFailed(failed) => (*failed.reason()
            == core_npp::FailureReason::OperatorMarkedFailed)
            .then_some(ActionKind::MarkFailed),
        PaymentEvent::PaymentIntentCreated(_)
        | PaymentEvent::PaymentAuthorised(_)
        | PaymentEvent::PaymentSentToRail(_)
        | PaymentEvent::PaymentAcknowledged(_)
        | PaymentEvent::PaymentSettled(_)
        | PaymentEvent::PaymentExpired(_) => None,
    }
}
