//! What a pack is built from: the payment's events, the rail decisions and the operator actions.
//!
//! These types are both the builder's input and, serialised, the pack's `rail_decisions` and
//! `operator_actions` elements, so what the caller hands in is exactly what the auditor reads.

use core_npp::{
    ApprovalId, AttemptId, FreeText, OperatorId, PaymentEvent, PaymentIntentId, Timestamp,
};
use serde::{Deserialize, Serialize};

use crate::digest::Sha256Digest;
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
    /// The version of the policy in force when they approved; `None` when unknown (actions
    /// derived from an event history). Schema version 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_version: Option<FreeText>,
    /// SHA-256 of that policy document; `None` when unknown or not recorded (approvals recorded
    /// before policies were held in the store). Schema version 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_sha256: Option<Sha256Digest>,
}

impl ApprovalRecord {
    /// An approval whose policy is not known.
    pub fn new(approved_by: OperatorId, approved_at: Timestamp) -> Self {
        Self {
            approved_by,
            approved_at,
            policy_version: None,
            policy_sha256: None,
        }
    }
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
        /// The version of the policy in force when it was rejected, when known. Schema
        /// version 2.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        policy_version: Option<FreeText>,
        /// SHA-256 of that policy document, when recorded. Schema version 2.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        policy_sha256: Option<Sha256Digest>,
    },
    /// Approved, but when the action ran the domain core refused it (the payment had moved on):
    /// the approvals are recorded, no event was produced. Schema version 2; nobody rejected it.
    RefusedOnExecution {
        /// Every approval, in order; the last is the one whose execution was refused.
        approvals: Vec<ApprovalRecord>,
        /// When the core refused the action.
        refused_at: Timestamp,
        /// The core's rule id, e.g. `identity/attempt-id-never-reused`.
        rule: FreeText,
        /// The core's explanation.
        why: FreeText,
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
    /// The external name of the outcome: APPROVED, REJECTED, REFUSED_ON_EXECUTION, LAPSED or
    /// PENDING.
    pub const fn name(&self) -> &'static str {
        match self {
            Decision::Approved { .. } => "APPROVED",
            Decision::Rejected { .. } => "REJECTED",
            Decision::RefusedOnExecution { .. } => "REFUSED_ON_EXECUTION",
            Decision::Lapsed { .. } => "LAPSED",
            Decision::Pending => "PENDING",
        }
    }
}

/// One operator request, its decision, and the policy it was made under (and, in schema
/// version 2, the policy of each approval and of a rejection).
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
    /// The version of the approval policy the request was made under (and pinned to).
    pub policy_version: FreeText,
    /// SHA-256 of that policy document; `None` when unknown (actions derived from an event
    /// history) or not recorded (requests recorded before policies were held in the store).
    /// Schema version 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_sha256: Option<Sha256Digest>,
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
/// requester, approver, time and reason, no `requested_at` (the events do not record it), the
/// policy version [`UNKNOWN_POLICY_VERSION`] and no policy hash. Rejected, lapsed or pending requests leave no
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
            policy_sha256: None,
            decision: Decision::Approved {
                approvals: vec![ApprovalRecord::new(
                    approval.approved_by(),
                    approval.approved_at(),
                )],
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
