//! Gathers a payment's evidence from the store: its lifecycle events, its rail decisions (the
//! `rail-<payment>` stream) and every operator request about it (the `ops-<request>` streams),
//! so `npp evidence export` and any embedding application build the same pack from a store.

use app_ops::{OpsAction, OpsEvent, OpsRequest, RequestStatus, decode_payment_event};
use core_npp::{FreeText, PaymentEvent, PaymentIntentId};
use event_store::{EventStore, StreamId};
use orchestrator::{RailStreamEvent, rail_stream};

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
    let approvals = || {
        request
            .approvals
            .iter()
            .map(|a| ApprovalRecord {
                approved_by: a.approved_by,
                approved_at: a.approved_at,
            })
            .collect()
    };
    let decision = match (&request.status, produced) {
        (_, Some(_)) => Decision::Approved {
            approvals: approvals(),
        },
        (RequestStatus::Rejected, None) => rejection(request)?,
        (RequestStatus::Lapsed, None) => Decision::Lapsed {
            at: closing_time(request),
        },
        (RequestStatus::Failed, None) => failure(request)?,
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
        policy_version: text("policy version", &request.policy_version)?,
        decision,
    })
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
                ..
            } = e
            else {
                return None;
            };
            Some(Decision::Rejected {
                rejected_by: *rejected_by,
                rejected_at: *rejected_at,
                reason: reason.clone(),
            })
        })
        .ok_or_else(|| {
            source(format!(
                "request {} is rejected but has no rejection",
                request.request_id
            ))
        })
}

/// An approved request the payment had moved past: no event was produced, which the pack
/// records as a rejection by the rule that refused it.
fn failure(request: &OpsRequest) -> Result<Decision, ExportError> {
    let (by, at) = request
        .approvals
        .last()
        .map(|a| (a.approved_by, a.approved_at))
        .ok_or_else(|| source("a failed request has no approval"))?;
    let why = request.events.iter().find_map(|e| {
        let OpsEvent::OperatorActionFailed { rule, why, .. } = e else {
            return None;
        };
        Some(format!("approved, then refused when run by {rule}: {why}"))
    });
    Ok(Decision::Rejected {
        rejected_by: by,
        rejected_at: at,
        reason: text("refusal", &why.unwrap_or_else(|| "refused when run".into()))?,
    })
}
