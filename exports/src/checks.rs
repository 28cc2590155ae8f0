//! The checks that building and verifying share: replay with faults named by JSON path, operator
//! actions against the events they produced, rail decisions against the attempts, and the
//! one-form rule for every element (parse it, write it back, compare).

use core_npp::{
    Approval, ApprovalId, DomainError, EventKind, Payment, PaymentEvent, PaymentIntentId, Replay,
    ReplayError, Timestamp, rebuild_from_events,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{ExportError, JsonPath};
use crate::model::{ActionKind, ApprovalRecord, Decision, OperatorAction, RailDecision, action_of};

/// The longest value an error message quotes, in characters.
const MAX_QUOTED_CHARS: usize = 160;

/// `lifecycle_events`, `rail_decisions`, `operator_actions`: where each list lives in a pack.
pub(crate) fn events_path() -> JsonPath {
    JsonPath::root().key("lifecycle_events")
}
pub(crate) fn decisions_path() -> JsonPath {
    JsonPath::root().key("rail_decisions")
}
pub(crate) fn actions_path() -> JsonPath {
    JsonPath::root().key("operator_actions")
}

/// Replays `events` through the core; a rejection names the event and, where the rule is about
/// one field, that field (`lifecycle_events[4].funds_transferred`).
pub(crate) fn replay(events: &[PaymentEvent]) -> Result<Replay, ExportError> {
    rebuild_from_events(events).map_err(|error| match error {
        ReplayError::EmptyHistory => ExportError::EmptyHistory {
            path: events_path(),
        },
        ReplayError::Rejected {
            index,
            event,
            error,
        } => rule_broken(index, event, &error),
    })
}

fn rule_broken(number: usize, event: EventKind, error: &DomainError) -> ExportError {
    let path = rule_field(error).iter().fold(
        events_path().index(number.saturating_sub(1)),
        |path, key| path.key(key),
    );
    ExportError::RuleBroken {
        path,
        number,
        event,
        rule: error.rule(),
        message: error.to_string(),
    }
}

/// The event field a broken rule is about; empty when it is about the event as a whole.
fn rule_field(error: &DomainError) -> &'static [&'static str] {
    match error {
        DomainError::HistoryMustStartWithIntent { .. }
        | DomainError::IntentAlreadyCreated
        | DomainError::TerminalState { .. }
        | DomainError::FailedIsFinal { .. }
        | DomainError::IllegalTransition { .. }
        | DomainError::CancelAfterSend { .. }
        | DomainError::ExpireAfterSend { .. }
        | DomainError::NotRetryable { .. }
        | DomainError::SettledTwice
        | DomainError::AttemptLimitReached { .. } => &["type"],
        DomainError::PolicyChecksNotPassed => &["policy_checks_passed"],
        DomainError::FailureReasonNotAllowed { .. } => &["reason"],
        DomainError::NonPositiveAmount { .. } | DomainError::AmountTooLarge { .. } => &["amount"],
        DomainError::UnsupportedCurrency { .. } => &["currency"],
        DomainError::EarmarkMismatch { .. } => &["funds_earmarked"],
        DomainError::TransferMismatch { .. } => &["funds_transferred"],
        DomainError::WrongStream { .. } => &["payment_intent_id"],
        DomainError::TimeWentBackwards { .. } => &["occurred_at"],
        DomainError::IdempotencyKeyChanged { .. } => &["idempotency_key"],
        DomainError::AttemptIdRequired { .. }
        | DomainError::NoAttemptOpen { .. }
        | DomainError::NotCurrentAttempt { .. }
        | DomainError::AttemptIdReused { .. }
        | DomainError::AlreadySent { .. }
        | DomainError::AttemptNotSent { .. }
        | DomainError::OutcomeConflict { .. } => &["attempt_id"],
        DomainError::SelfApproval { .. } => &["approval", "approved_by"],
        DomainError::ApprovalReused { .. } => &["approval", "approval_id"],
        DomainError::ApprovalMissing { .. } | DomainError::UnexpectedApproval { .. } => {
            &["approval"]
        }
        DomainError::ApprovedAfterEvent { .. } | DomainError::ApprovedBeforeIntent { .. } => {
            &["approval", "approved_at"]
        }
        DomainError::StateInvariant { .. } => &[],
    }
}

/// Every rail decision that names an attempt must name one the payment had.
pub(crate) fn check_rail_decision(
    index: usize,
    decision: &RailDecision,
    payment: &Payment,
) -> Result<(), ExportError> {
    match decision.attempt_id {
        Some(id) if !payment.attempts().iter().any(|a| a.attempt_id() == id) => {
            Err(ExportError::UnknownAttempt {
                path: decisions_path().index(index).key("attempt_id"),
                attempt_id: id.to_string(),
            })
        }
        Some(_) | None => Ok(()),
    }
}

/// Checks operator actions one by one against the events, then (in [`ActionChecker::finish`])
/// that every approval an event carries has its action.
pub(crate) struct ActionChecker<'a> {
    events: &'a [PaymentEvent],
    payment_intent_id: PaymentIntentId,
    seen: Vec<ApprovalId>,
    approved: Vec<ApprovalId>,
}

/// An event that carries an approval, with its place in the history.
struct Produced<'a> {
    index: usize,
    event: &'a PaymentEvent,
    approval: &'a Approval,
}

impl<'a> ActionChecker<'a> {
    pub(crate) fn new(events: &'a [PaymentEvent], payment_intent_id: PaymentIntentId) -> Self {
        Self {
            events,
            payment_intent_id,
            seen: Vec::new(),
            approved: Vec::new(),
        }
    }

    /// Checks the action at `index` of the pack's `operator_actions`.
    pub(crate) fn check(
        &mut self,
        index: usize,
        action: &OperatorAction,
    ) -> Result<(), ExportError> {
        let path = actions_path().index(index);
        if action.payment_intent_id != self.payment_intent_id {
            return Err(ExportError::ActionForOtherPayment {
                path: path.key("payment_intent_id"),
                expected: self.payment_intent_id.to_string(),
                found: action.payment_intent_id.to_string(),
            });
        }
        if let Some(first) = self.seen.iter().position(|id| *id == action.request_id) {
            return Err(ExportError::DuplicateRequest {
                path: path.key("request_id"),
                request_id: action.request_id.to_string(),
                first: actions_path().index(first),
            });
        }
        self.seen.push(action.request_id);
        let produced = self.produced_by(action.request_id);
        let decision_path = path.key("decision");
        let unapproved_at = match &action.decision {
            Decision::Approved { approvals } => {
                check_approvals(&decision_path, action, approvals)?;
                let Some(produced) = produced else {
                    return Err(ExportError::ApprovedActionWithoutEvent {
                        path,
                        request_id: action.request_id.to_string(),
                    });
                };
                check_against_event(&path, action, approvals, &produced)?;
                self.approved.push(action.request_id);
                return Ok(());
            }
            Decision::RefusedOnExecution {
                approvals,
                refused_at,
                ..
            } => {
                check_approvals(&decision_path, action, approvals)?;
                check_refused_after_approval(&decision_path, approvals, *refused_at)?;
                Some((*refused_at, "refused_at"))
            }
            Decision::Rejected { rejected_at, .. } => Some((*rejected_at, "rejected_at")),
            Decision::Lapsed { at } => Some((*at, "at")),
            Decision::Pending => None,
        };
        if let Some((at, field)) = unapproved_at {
            check_not_before(decision_path.key(field), at, action.requested_at)?;
        }
        match produced {
            None => Ok(()),
            Some(produced) => Err(ExportError::UnapprovedActionProducedEvent {
                path: decision_path.key("outcome"),
                request_id: action.request_id.to_string(),
                decision: action.decision.name(),
                event_path: events_path().index(produced.index).key("approval"),
            }),
        }
    }

    /// Every event that carries an approval must have its approved action in the pack.
    pub(crate) fn finish(self) -> Result<(), ExportError> {
        for (index, event) in self.events.iter().enumerate() {
            if let Some(approval) = event.approval()
                && !self.approved.contains(&approval.approval_id())
            {
                return Err(ExportError::ApprovalWithoutAction {
                    path: events_path().index(index).key("approval"),
                    approval_id: approval.approval_id().to_string(),
                });
            }
        }
        Ok(())
    }

    fn produced_by(&self, request_id: ApprovalId) -> Option<Produced<'a>> {
        self.events.iter().enumerate().find_map(|(index, event)| {
            event
                .approval()
                .filter(|a| a.approval_id() == request_id)
                .map(|approval| Produced {
                    index,
                    event,
                    approval,
                })
        })
    }
}

fn check_approvals(
    decision_path: &JsonPath,
    action: &OperatorAction,
    approvals: &[ApprovalRecord],
) -> Result<(), ExportError> {
    if approvals.is_empty() {
        return Err(ExportError::NoApprovals {
            path: decision_path.key("approvals"),
        });
    }
    for (index, approval) in approvals.iter().enumerate() {
        let path = decision_path.key("approvals").index(index);
        if approval.approved_by.is_same_operator(&action.requested_by) {
            return Err(ExportError::SelfApproval {
                path: path.key("approved_by"),
                operator: approval.approved_by.to_string(),
            });
        }
        check_not_before(
            path.key("approved_at"),
            approval.approved_at,
            action.requested_at,
        )?;
    }
    Ok(())
}

/// An action is refused when it runs, which is when its last approval arrives: never before.
fn check_refused_after_approval(
    decision_path: &JsonPath,
    approvals: &[ApprovalRecord],
    refused_at: Timestamp,
) -> Result<(), ExportError> {
    match approvals.last() {
        Some(last) if refused_at < last.approved_at => Err(ExportError::RefusedBeforeApproval {
            path: decision_path.key("refused_at"),
            at: refused_at.to_string(),
            approved_at: last.approved_at.to_string(),
        }),
        Some(_) | None => Ok(()),
    }
}

/// Refuses an action holding a member or outcome that schema version `version` does not have.
/// Version 1 has no policy hashes, no approval or rejection policies and no
/// `REFUSED_ON_EXECUTION`; version 2 and later have everything an operator action holds.
pub(crate) fn check_schema_version(
    path: &JsonPath,
    action: &OperatorAction,
    version: u32,
) -> Result<(), ExportError> {
    const ADDED: u32 = 2;
    if version >= ADDED {
        return Ok(());
    }
    match first_version_2_member(path, action) {
        Some(path) => Err(ExportError::NotInSchemaVersion {
            path,
            version,
            added: ADDED,
        }),
        None => Ok(()),
    }
}

/// The first member of schema version 2 in `action`, in the order of the canonical form
/// (members sorted by key): a refusal's outcome, then a policy in the decision, then the
/// request's policy hash.
fn first_version_2_member(path: &JsonPath, action: &OperatorAction) -> Option<JsonPath> {
    let decision = path.key("decision");
    let policy = |at: JsonPath, sha256: bool, version: bool| {
        if sha256 {
            Some(at.key("policy_sha256"))
        } else if version {
            Some(at.key("policy_version"))
        } else {
            None
        }
    };
    let in_decision = match &action.decision {
        Decision::Approved { approvals } => {
            approvals.iter().enumerate().find_map(|(index, approval)| {
                policy(
                    decision.key("approvals").index(index),
                    approval.policy_sha256.is_some(),
                    approval.policy_version.is_some(),
                )
            })
        }
        Decision::RefusedOnExecution { .. } => Some(decision.key("outcome")),
        Decision::Rejected {
            policy_version,
            policy_sha256,
            ..
        } => policy(
            decision.clone(),
            policy_sha256.is_some(),
            policy_version.is_some(),
        ),
        Decision::Lapsed { .. } | Decision::Pending => None,
    };
    in_decision.or_else(|| {
        action
            .policy_sha256
            .is_some()
            .then(|| path.key("policy_sha256"))
    })
}

fn check_not_before(
    path: JsonPath,
    at: Timestamp,
    requested_at: Option<Timestamp>,
) -> Result<(), ExportError> {
    match requested_at {
        Some(requested_at) if at < requested_at => Err(ExportError::DecidedBeforeRequest {
            path,
            at: at.to_string(),
            requested_at: requested_at.to_string(),
        }),
        Some(_) | None => Ok(()),
    }
}

/// An approved action and the event carrying its approval must tell the same story: the same
/// kind of action, requester, final approver and approval time, reason and attempt.
fn check_against_event(
    path: &JsonPath,
    action: &OperatorAction,
    approvals: &[ApprovalRecord],
    produced: &Produced<'_>,
) -> Result<(), ExportError> {
    let event_path = events_path().index(produced.index);
    let approval_path = event_path.key("approval");
    let carried = produced.approval;
    let event_action = action_of(produced.event);
    agree(
        event_action == Some(action.action),
        (path.key("action"), action.action.name()),
        (
            event_path.key("type"),
            event_action.map_or(produced.event.kind().name(), ActionKind::name),
        ),
    )?;
    agree(
        action.requested_by == carried.requested_by(),
        (path.key("requested_by"), action.requested_by),
        (approval_path.key("requested_by"), carried.requested_by()),
    )?;
    let last_index = approvals.len().saturating_sub(1);
    let last_path = path.key("decision").key("approvals").index(last_index);
    let Some(last) = approvals.last() else {
        return Err(ExportError::NoApprovals {
            path: path.key("decision").key("approvals"),
        });
    };
    agree(
        last.approved_by == carried.approved_by(),
        (last_path.key("approved_by"), last.approved_by),
        (approval_path.key("approved_by"), carried.approved_by()),
    )?;
    agree(
        last.approved_at == carried.approved_at(),
        (last_path.key("approved_at"), last.approved_at),
        (approval_path.key("approved_at"), carried.approved_at()),
    )?;
    agree(
        action.reason == *carried.reason(),
        (path.key("reason"), &action.reason),
        (approval_path.key("reason"), carried.reason()),
    )?;
    agree(
        action.attempt_id.is_none() || action.attempt_id == produced.event.attempt_id(),
        (path.key("attempt_id"), describe_attempt(action.attempt_id)),
        (
            event_path.key("attempt_id"),
            describe_attempt(produced.event.attempt_id()),
        ),
    )
}

/// `Ok` when the action and the event agree on one fact, else the disagreement, named on both
/// sides.
fn agree(
    agrees: bool,
    (path, in_action): (JsonPath, impl std::fmt::Display),
    (event_path, in_event): (JsonPath, impl std::fmt::Display),
) -> Result<(), ExportError> {
    if agrees {
        return Ok(());
    }
    Err(ExportError::ActionDisagreesWithEvent {
        path,
        event_path,
        in_action: in_action.to_string(),
        in_event: in_event.to_string(),
    })
}

fn describe_attempt(attempt: Option<core_npp::AttemptId>) -> String {
    attempt.map_or_else(|| "no attempt".to_owned(), |a| a.to_string())
}

/// `value` as JSON, or the reason it cannot be.
pub(crate) fn to_json<T: Serialize>(value: &T, path: &JsonPath) -> Result<Value, ExportError> {
    serde_json::to_value(value).map_err(|e| ExportError::Unserialisable {
        path: path.clone(),
        reason: e.to_string(),
    })
}

/// Reads `value` as a `T` and insists that it is written exactly as this software writes a `T`:
/// one meaning, one form, so that the hashes over the form are hashes over the meaning.
pub(crate) fn parse_in_normal_form<T: DeserializeOwned + Serialize>(
    value: &Value,
    path: &JsonPath,
) -> Result<T, ExportError> {
    let parsed = T::deserialize(value).map_err(|e| ExportError::Malformed {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let normal = to_json(&parsed, path)?;
    match first_difference(&normal, value, path) {
        None => Ok(parsed),
        Some(difference) => Err(ExportError::NotCanonicalForm {
            path: difference.path,
            expected: quote(difference.expected),
            found: quote(difference.actual),
        }),
    }
}

/// Where two JSON values first differ (members in key order, then elements in order).
pub(crate) struct Difference<'a> {
    pub(crate) path: JsonPath,
    pub(crate) expected: Option<&'a Value>,
    pub(crate) actual: Option<&'a Value>,
}

/// The first place where `actual` differs from `expected`, if any.
pub(crate) fn first_difference<'a>(
    expected: &'a Value,
    actual: &'a Value,
    path: &JsonPath,
) -> Option<Difference<'a>> {
    match (expected, actual) {
        (Value::Object(left), Value::Object(right)) => {
            let mut keys: Vec<&String> = left.keys().chain(right.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().find_map(|key| {
                let path = path.key(key);
                match (left.get(key), right.get(key)) {
                    (Some(l), Some(r)) => first_difference(l, r, &path),
                    (l, r) => Some(Difference {
                        path,
                        expected: l,
                        actual: r,
                    }),
                }
            })
        }
        (Value::Array(left), Value::Array(right)) => {
            (0..left.len().max(right.len())).find_map(|index| {
                let path = path.index(index);
                match (left.get(index), right.get(index)) {
                    (Some(l), Some(r)) => first_difference(l, r, &path),
                    (l, r) => Some(Difference {
                        path,
                        expected: l,
                        actual: r,
                    }),
                }
            })
        }
        _ if expected == actual => None,
        _ => Some(Difference {
            path: path.clone(),
            expected: Some(expected),
            actual: Some(actual),
        }),
    }
}

/// A value for an error message: compact JSON, shortened, or `(absent)`.
pub(crate) fn quote(value: Option<&Value>) -> String {
    match value {
        None => "(absent)".to_owned(),
        Some(value) => {
            let text = value.to_string();
            if text.chars().count() > MAX_QUOTED_CHARS {
                let short: String = text.chars().take(MAX_QUOTED_CHARS).collect();
                format!("{short}...")
            } else {
                text
            }
        }
    }
}
