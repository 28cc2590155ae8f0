//! Gathers a payment's evidence from the store: its lifecycle events, its rail decisions (the
//! `rail-<payment>` stream) and every operator request about it (the `ops-<request>` streams),
//! so `npp evidence export` and any embedding application build the same pack from a store.
//!
//! Every request carries the policy it was made under (version and SHA-256), every approval
//! the policy it was given under, a rejection the policy it was decided under, and a request
//! approved but refused by the core when it ran is `REFUSED_ON_EXECUTION` with the core's rule
//! and explanation. Text is recorded whole or refused naming the field; never clipped.

use app_ops::{
    ApprovalEntry, OpsAction, OpsEvent, OpsRequest, RequestStatus, decode_payment_event,
};
use core_npp::{FreeText, PaymentEvent, PaymentIntentId};
use event_store::{EventStore, StreamId};
use orchestrator::{RailStreamEvent, rail_stream};

use crate::digest::Sha256Digest;
use crate::error::ExportError;
use crate::model::{
    ActionKind, ApprovalRecord, Decision, EvidenceInput, OperatorAction, RailDecision,
};

impl From<OpsAction> for ActionKind {
    /// The one mapping between an operator request's action and the pack's action kind.
    fn from(action: OpsAction) -> Self {
        match action {
            OpsAction::Retry => ActionKind::Retry,
            OpsAction::Cancel => ActionKind::Cancel,
            OpsAction::MarkFailed => ActionKind::MarkFailed,
        }
    }
}

/// Everything the store knows about one payment, as evidence input; `None` if no such payment.
pub fn evidence_from_store(
    store: &dyn EventStore,
    id: PaymentIntentId,
) -> Result<Option<EvidenceInput>, ExportError> {
    let recorded = store.read_stream(&StreamId::payment(id)).map_err(source)?;
    if recorded.is_empty() {
        return Ok(None);
    }
    let lifecycle_events: Vec<PaymentEvent> = recorded
        .iter()
        .map(decode_payment_event)
        .collect::<Result<_, _>>()
        .map_err(source)?;
    let rail_decisions = rail_decisions(store, id)?;
    let requests = app_ops::requests_for_payment(store, id).map_err(source)?;
    let operator_actions = requests
        .iter()
        .map(|r| operator_action(r, &lifecycle_events))
        .collect::<Result<_, _>>()?;
    Ok(Some(EvidenceInput {
        lifecycle_events,
        rail_decisions,
        operator_actions,
        software_version: crate::SOFTWARE_VERSION.to_owned(),
    }))
}

fn source(e: impl std::fmt::Display) -> ExportError {
    ExportError::Source {
        reason: e.to_string(),
    }
}

/// Text for a pack field: recorded whole, or refused naming the field; never clipped.
fn text(field: &str, raw: &str) -> Result<FreeText, ExportError> {
    FreeText::parse(raw).map_err(|e| ExportError::Source {
        reason: format!("{field} {raw:?} cannot be recorded in a pack: {e}"),
    })
}

/// A policy's recorded SHA-256 for a pack field: 64 lower-case hex characters, or refused
/// naming the field.
fn policy_hash(field: &str, raw: Option<&str>) -> Result<Option<Sha256Digest>, ExportError> {
    raw.map(|raw| {
        Sha256Digest::parse_hex(raw).ok_or_else(|| ExportError::Source {
            reason: format!(
                "{field} {raw:?} cannot be recorded in a pack: not a SHA-256 digest (64 lower-case hex characters)"
            ),
        })
    })
    .transpose()
}

fn rail_decisions(
    store: &dyn EventStore,
    id: PaymentIntentId,
) -> Result<Vec<RailDecision>, ExportError> {
    let mut decisions = Vec::new();
    for recorded in store.read_stream(&rail_stream(id)).map_err(source)? {
        if let RailStreamEvent::RailDecisionRecorded {
            attempt_id,
            rail,
            reason,
            decided_at,
            ..
        } = RailStreamEvent::decode(&recorded).map_err(source)?
        {
            decisions.push(RailDecision {
                rail: text("rail", &rail)?,
                decided_at,
                reason: text("rail decision reason", &reason)?,
                attempt_id,
            });
        }
    }
    Ok(decisions)
}

fn operator_action(
    request: &OpsRequest,
    events: &[PaymentEvent],
) -> Result<OperatorAction, ExportError> {
    let produced = events.iter().find(|e| {
        e.approval()
            .is_some_and(|a| a.approval_id() == request.request_id)
    });
    let decision = match (&request.status, produced) {
        (_, Some(_)) => Decision::Approved {
            approvals: approvals(request)?,
        },
        (RequestStatus::Rejected, None) => rejection(request)?,
        (RequestStatus::Lapsed, None) => Decision::Lapsed {
            at: closing_time(request),
        },
        (RequestStatus::Failed, None) => refusal(request)?,
        (RequestStatus::Pending | RequestStatus::Approved | RequestStatus::Executed, None) => {
            Decision::Pending
        }
    };
    Ok(OperatorAction {
        request_id: request.request_id,
        action: ActionKind::from(request.action),
        payment_intent_id: request.payment_intent_id,
        attempt_id: produced.map_or(request.attempt_id, PaymentEvent::attempt_id),
        requested_by: request.requested_by,
        requested_at: Some(request.requested_at),
        reason: request.reason.clone(),
        policy_version: text(&field(request, "policy_version"), &request.policy_version)?,
        policy_sha256: policy_hash(
            &field(request, "policy_sha256"),
            request.policy_sha256.as_deref(),
        )?,
        decision,
    })
}

/// Every approval of `request`, each with the policy it was given under.
fn approvals(request: &OpsRequest) -> Result<Vec<ApprovalRecord>, ExportError> {
    request
        .approvals
        .iter()
        .enumerate()
        .map(|(index, approval)| approval_record(request, index, approval))
        .collect()
}

fn approval_record(
    request: &OpsRequest,
    index: usize,
    approval: &ApprovalEntry,
) -> Result<ApprovalRecord, ExportError> {
    let member = |name: &str| field(request, &format!("decision.approvals[{index}].{name}"));
    Ok(ApprovalRecord {
        approved_by: approval.approved_by,
        approved_at: approval.approved_at,
        policy_version: Some(text(&member("policy_version"), &approval.policy_version)?),
        policy_sha256: policy_hash(&member("policy_sha256"), approval.policy_sha256.as_deref())?,
    })
}

/// A field of a request's operator action, named as the pack names it, for a refusal.
fn field(request: &OpsRequest, member: &str) -> String {
    format!("request {}: {member}", request.request_id)
}

fn closing_time(request: &OpsRequest) -> core_npp::Timestamp {
    request
        .events
        .last()
        .map_or(request.requested_at, |e| match e {
            OpsEvent::OperatorActionLapsed { at, .. }
            | OpsEvent::OperatorActionFailed { at, .. } => *at,
            OpsEvent::OperatorActionRejected { rejected_at, .. } => *rejected_at,
            OpsEvent::OperatorActionApproved { approved_at, .. } => *approved_at,
            OpsEvent::OperatorActionExecuted { at, .. } => *at,
            OpsEvent::OperatorActionRequested { requested_at, .. } => *requested_at,
        })
}

fn rejection(request: &OpsRequest) -> Result<Decision, ExportError> {
    request
        .events
        .iter()
        .find_map(|e| {
            let OpsEvent::OperatorActionRejected {
                rejected_by,
                rejected_at,
                reason,
                policy_version,
                policy_sha256,
                ..
            } = e
            else {
                return None;
            };
            Some((
                rejected_by,
                rejected_at,
                reason,
                policy_version,
                policy_sha256,
            ))
        })
        .ok_or_else(|| {
            source(format!(
                "request {} is rejected but has no rejection",
                request.request_id
            ))
        })
        .and_then(|(by, at, reason, version, sha256)| {
            Ok(Decision::Rejected {
                rejected_by: *by,
                rejected_at: *at,
                reason: reason.clone(),
                policy_version: Some(text(&field(request, "decision.policy_version"), version)?),
                policy_sha256: policy_hash(
                    &field(request, "decision.policy_sha256"),
                    sha256.as_deref(),
                )?,
            })
        })
}

/// A request approved, then refused by the core when its action ran (the payment had moved
/// on): no event was produced and nobody rejected it. The refusal records the core's rule and
/// explanation, whole.
fn refusal(request: &OpsRequest) -> Result<Decision, ExportError> {
    let (refused_at, rule, why) = request
        .events
        .iter()
        .find_map(|e| match e {
            OpsEvent::OperatorActionFailed { at, rule, why, .. } => Some((*at, rule, why)),
            OpsEvent::OperatorActionRequested { .. }
            | OpsEvent::OperatorActionApproved { .. }
            | OpsEvent::OperatorActionRejected { .. }
            | OpsEvent::OperatorActionLapsed { .. }
            | OpsEvent::OperatorActionExecuted { .. } => None,
        })
        .ok_or_else(|| {
            source(format!(
                "request {} failed but records no OperatorActionFailed",
                request.request_id
            ))
        })?;
    if request.approvals.is_empty() {
        return Err(source(format!(
            "request {} was refused on execution but records no approval",
            request.request_id
        )));
    }
    Ok(Decision::RefusedOnExecution {
        approvals: approvals(request)?,
        refused_at,
        rule: text(&field(request, "decision.rule"), rule)?,
        why: text(&field(request, "decision.why"), why)?,
    })
}
