//! Operator actions under maker-checker: one operator requests (retry, cancel, mark failed), a
//! different one approves or rejects; approval executes the action. Each request is a stream of
//! its own (`ops-<request_id>`), so the evidence pack can show who asked, who approved and when.
//!
//! An approval is bound to its action, payment and attempt, is single use (its id is the request
//! id, which the core refuses to see twice on a payment), and lapses after the policy's time.

use core_npp::{
    Approval, ApprovalId, AttemptId, Cancelled, Failed, FailureReason, FreeText, OperatorId,
    Payment, PaymentEvent, PaymentIntentId, RetryApproved, Timestamp,
};
use event_store::{
    AppendOutcome, AppendRequest, EventStore, NewEvent, StoreError, StreamId, StreamKind,
    streams_of,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::commands::{Outcome, Payments};
use crate::error::AppError;
use crate::load::load_payment;
use crate::policy::{OpsAction, PolicyGate};

const OPS_SCHEMA_VERSION: u16 = 1;

/// The events of an operator request's stream.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum OpsEvent {
    /// An operator asked for an action.
    OperatorActionRequested {
        /// The request (and future approval) id.
        request_id: ApprovalId,
        /// What is asked for.
        action: OpsAction,
        /// On which payment.
        payment_intent_id: PaymentIntentId,
        /// The attempt the request is bound to, if any.
        attempt_id: Option<AttemptId>,
        /// The maker.
        requested_by: OperatorId,
        /// Why.
        reason: FreeText,
        /// When.
        requested_at: Timestamp,
        /// The policy in force.
        policy_version: String,
        /// Distinct approvers needed.
        approvals_required: u8,
    },
    /// A checker approved.
    OperatorActionApproved {
        /// The request.
        request_id: ApprovalId,
        /// The checker.
        approved_by: OperatorId,
        /// When.
        approved_at: Timestamp,
        /// The policy in force.
        policy_version: String,
    },
    /// A checker rejected; nothing is executed.
    OperatorActionRejected {
        /// The request.
        request_id: ApprovalId,
        /// The checker.
        rejected_by: OperatorId,
        /// When.
        rejected_at: Timestamp,
        /// Why.
        reason: FreeText,
        /// The policy in force.
        policy_version: String,
    },
    /// Nobody approved in time.
    OperatorActionLapsed {
        /// The request.
        request_id: ApprovalId,
        /// When the lapse was recorded.
        at: Timestamp,
    },
    /// The approved action was applied to the payment.
    OperatorActionExecuted {
        /// The request.
        request_id: ApprovalId,
        /// When.
        at: Timestamp,
        /// The payment's stream version after the action.
        payment_version: u32,
        /// The payment event recorded.
        event_type: String,
    },
    /// The approved action could not be applied (the payment moved on).
    OperatorActionFailed {
        /// The request.
        request_id: ApprovalId,
        /// When.
        at: Timestamp,
        /// The rule that refused it.
        rule: String,
        /// Why.
        why: String,
    },
}

impl OpsEvent {
    fn type_name(&self) -> &'static str {
        match self {
            OpsEvent::OperatorActionRequested { .. } => "OperatorActionRequested",
            OpsEvent::OperatorActionApproved { .. } => "OperatorActionApproved",
            OpsEvent::OperatorActionRejected { .. } => "OperatorActionRejected",
            OpsEvent::OperatorActionLapsed { .. } => "OperatorActionLapsed",
            OpsEvent::OperatorActionExecuted { .. } => "OperatorActionExecuted",
            OpsEvent::OperatorActionFailed { .. } => "OperatorActionFailed",
        }
    }

    fn at(&self) -> Timestamp {
        match self {
            OpsEvent::OperatorActionRequested {
                requested_at: at, ..
            }
            | OpsEvent::OperatorActionApproved {
                approved_at: at, ..
            }
            | OpsEvent::OperatorActionRejected {
                rejected_at: at, ..
            }
            | OpsEvent::OperatorActionLapsed { at, .. }
            | OpsEvent::OperatorActionExecuted { at, .. }
            | OpsEvent::OperatorActionFailed { at, .. } => *at,
        }
    }
}

/// Where a request stands.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum RequestStatus {
    /// Waiting for (more) approvals.
    Pending,
    /// Fully approved; the action has not been applied yet (approving again resumes it).
    Approved,
    /// Applied to the payment.
    Executed,
    /// Rejected by a checker.
    Rejected,
    /// Not approved in time.
    Lapsed,
    /// Approved, but the payment had moved on and the action was refused.
    Failed,
}

impl RequestStatus {
    /// The lower-case name shown by the CLI.
    pub fn name(&self) -> &'static str {
        match self {
            RequestStatus::Pending => "pending",
            RequestStatus::Approved => "approved",
            RequestStatus::Executed => "executed",
            RequestStatus::Rejected => "rejected",
            RequestStatus::Lapsed => "lapsed",
            RequestStatus::Failed => "failed",
        }
    }
}

/// An operator request, folded from its stream.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct OpsRequest {
    /// The request id (also the approval id recorded on the payment).
    pub request_id: ApprovalId,
    /// The action.
    pub action: OpsAction,
    /// The payment.
    pub payment_intent_id: PaymentIntentId,
    /// The attempt it is bound to.
    pub attempt_id: Option<AttemptId>,
    /// The maker.
    pub requested_by: OperatorId,
    /// Why.
    pub reason: FreeText,
    /// When.
    pub requested_at: Timestamp,
    /// The policy in force when requested.
    pub policy_version: String,
    /// Distinct approvers needed.
    pub approvals_required: u8,
    /// Approvals so far: who and when.
    pub approvals: Vec<(OperatorId, Timestamp)>,
    /// Where it stands.
    pub status: RequestStatus,
    /// Every event of the request's stream, in order.
    pub events: Vec<OpsEvent>,
    /// The stream's version.
    pub version: u32,
}

impl OpsRequest {
    /// Whether it is still waiting but past its approval deadline.
    pub fn is_overdue(&self, now: Timestamp, lapse_nanos: i64) -> bool {
        self.status == RequestStatus::Pending
            && self
                .requested_at
                .plus_nanos(lapse_nanos)
                .is_none_or(|deadline| now > deadline)
    }

    fn fold(events: Vec<OpsEvent>) -> Option<Self> {
        let Some(OpsEvent::OperatorActionRequested {
            request_id,
            action,
            payment_intent_id,
            attempt_id,
            requested_by,
            reason,
            requested_at,
            policy_version,
            approvals_required,
        }) = events.first().cloned()
        else {
            return None;
        };
        let mut request = OpsRequest {
            request_id,
            action,
            payment_intent_id,
            attempt_id,
            requested_by,
            reason,
            requested_at,
            policy_version,
            approvals_required,
            approvals: Vec::new(),
            status: RequestStatus::Pending,
            version: u32::try_from(events.len()).unwrap_or(u32::MAX),
            events: Vec::new(),
        };
        for event in events.iter().skip(1) {
            request.status = match event {
                OpsEvent::OperatorActionRequested { .. } => request.status.clone(),
                OpsEvent::OperatorActionApproved {
                    approved_by,
                    approved_at,
                    ..
                } => {
                    request.approvals.push((*approved_by, *approved_at));
                    if request.approvals.len() >= usize::from(request.approvals_required) {
                        RequestStatus::Approved
                    } else {
                        RequestStatus::Pending
                    }
                }
                OpsEvent::OperatorActionRejected { .. } => RequestStatus::Rejected,
                OpsEvent::OperatorActionLapsed { .. } => RequestStatus::Lapsed,
                OpsEvent::OperatorActionExecuted { .. } => RequestStatus::Executed,
                OpsEvent::OperatorActionFailed { .. } => RequestStatus::Failed,
            };
        }
        request.events = events;
        Some(request)
    }
}

/// The result of an approval.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Approved {
    /// Recorded; the policy needs more approvers before the action runs.
    AwaitingMoreApprovals(OpsRequest),
    /// The action ran: the payment after it.
    Executed(OpsRequest, Box<Outcome>),
}

/// Operator actions over the command handlers and a policy gate.
pub struct OperatorActions<'a> {
    payments: &'a Payments<'a>,
    policy: &'a dyn PolicyGate,
}

fn ops_stream(request_id: ApprovalId) -> Result<StreamId, AppError> {
    Ok(StreamId::ops(request_id))
}

/// The attempt an action is bound to: the failed attempt for a retry, the open one otherwise.
fn binding(payment: &Payment, action: OpsAction) -> Option<AttemptId> {
    match action {
        OpsAction::Retry => payment.attempts().last().map(core_npp::Attempt::attempt_id),
        OpsAction::Cancel | OpsAction::MarkFailed => {
            payment.open_attempt().map(core_npp::Attempt::attempt_id)
        }
    }
}

fn guard(payment: &Payment, action: OpsAction) -> Result<(), AppError> {
    match action {
        OpsAction::Retry => payment.can_retry(),
        OpsAction::Cancel => payment.can_cancel(),
        OpsAction::MarkFailed => payment.can_mark_failed(),
    }
    .map_err(AppError::Rule)
}

impl<'a> OperatorActions<'a> {
    /// Operator actions with `policy` deciding who may do what.
    pub fn new(payments: &'a Payments<'a>, policy: &'a dyn PolicyGate) -> Self {
        Self { payments, policy }
    }

    fn store(&self) -> &'a dyn EventStore {
        self.payments.store()
    }

    fn now(&self) -> Timestamp {
        self.payments.clock().now()
    }

    /// Records a request, after the policy and the core's state guards allow it.
    pub fn request(
        &self,
        action: OpsAction,
        payment_id: PaymentIntentId,
        by: OperatorId,
        reason: FreeText,
    ) -> Result<OpsRequest, AppError> {
        self.policy.check_request(by, action)?;
        let loaded =
            load_payment(self.store(), payment_id)?.ok_or(AppError::UnknownPayment(payment_id))?;
        guard(&loaded.payment, action)?;
        let now = self.now();
        let attempt_id = binding(&loaded.payment, action);
        let approvals_required = self
            .policy
            .approvals_required(action, loaded.payment.amount());
        // Two requests can share every field and the same instant; a salt keeps their ids apart.
        for salt in 0u32..16 {
            let digest = Sha256::digest(
                format!(
                    "{action}|{payment_id}|{by}|{}|{reason}|{salt}",
                    now.unix_nanos()
                )
                .as_bytes(),
            );
            let suffix: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
            let request_id = ApprovalId::parse(&format!("req-{suffix}"))
                .map_err(|e| AppError::refused("ops/request-id", e.to_string()))?;
            let event = OpsEvent::OperatorActionRequested {
                request_id,
                action,
                payment_intent_id: payment_id,
                attempt_id,
                requested_by: by,
                reason: reason.clone(),
                requested_at: now,
                policy_version: self.policy.version().to_owned(),
                approvals_required,
            };
            match self.append(request_id, 0, &event) {
                Ok(()) => return self.load(request_id),
                Err(AppError::Store(StoreError::Conflict { .. })) => {}
                Err(e) => return Err(e),
            }
        }
        Err(AppError::refused(
            "ops/request-id",
            "could not find a free request id; try again",
        ))
    }

    /// A request by id.
    pub fn load(&self, request_id: ApprovalId) -> Result<OpsRequest, AppError> {
        load_request(self.store(), request_id)
    }

    fn append(
        &self,
        request_id: ApprovalId,
        expected: u32,
        event: &OpsEvent,
    ) -> Result<(), AppError> {
        let payload =
            serde_json::to_string(event).map_err(|e| AppError::Unencodable(e.to_string()))?;
        let envelope = NewEvent::new(event.type_name(), OPS_SCHEMA_VERSION, event.at(), payload)?
            .with_correlation(request_id.as_str())?;
        let request = AppendRequest::new(
            ops_stream(request_id)?,
            expected,
            vec![envelope],
            self.now(),
        )?;
        match self.store().append(request)? {
            AppendOutcome::Committed(_) => Ok(()),
            AppendOutcome::AlreadyApplied(_) => Err(AppError::refused(
                "ops/already-decided",
                "this request was already decided",
            )),
        }
    }

    /// Rejects a pending request; the checker must differ from the maker and may approve it.
    pub fn reject(
        &self,
        request_id: ApprovalId,
        by: OperatorId,
        reason: FreeText,
    ) -> Result<OpsRequest, AppError> {
        let request = self.pending(request_id, by)?;
        self.policy.check_approve(by, request.action)?;
        let event = OpsEvent::OperatorActionRejected {
            request_id,
            rejected_by: by,
            rejected_at: self.now(),
            reason,
            policy_version: self.policy.version().to_owned(),
        };
        self.append_decision(&request, &event)?;
        self.load(request_id)
    }

    fn append_decision(&self, request: &OpsRequest, event: &OpsEvent) -> Result<(), AppError> {
        match self.append(request.request_id, request.version, event) {
            Err(AppError::Store(StoreError::Conflict { .. })) => Err(AppError::refused(
                "ops/already-decided",
                format!(
                    "request {} was decided by someone else at the same moment; look again",
                    request.request_id
                ),
            )),
            other => other,
        }
    }

    /// The request, if it is still waiting for `by`'s decision; lapses it if overdue.
    fn pending(&self, request_id: ApprovalId, by: OperatorId) -> Result<OpsRequest, AppError> {
        let request = self.load(request_id)?;
        if request.status != RequestStatus::Pending {
            return Err(AppError::refused(
                "ops/already-decided",
                format!(
                    "request {request_id} is {}, not pending",
                    request.status.name()
                ),
            ));
        }
        let now = self.now();
        if request.is_overdue(now, self.policy.approval_lapse_nanos()) {
            let lapsed = OpsEvent::OperatorActionLapsed {
                request_id,
                at: now,
            };
            // Recording the lapse is best effort: a concurrent decision may have closed it first.
            let _ = self.append(request_id, request.version, &lapsed);
            return Err(AppError::refused(
                "ops/approval-lapsed",
                format!(
                    "request {request_id} was not approved within the policy's time and has lapsed; request it again"
                ),
            ));
        }
        if by == request.requested_by {
            return Err(AppError::refused(
                "ops/four-eyes",
                format!("{by} requested {request_id} and cannot also decide it"),
            ));
        }
        if request
            .approvals
            .iter()
            .any(|(approver, _)| *approver == by)
        {
            return Err(AppError::refused(
                "ops/distinct-approvers",
                format!("{by} already approved {request_id}"),
            ));
        }
        Ok(request)
    }

    /// Approves; when the last required approval arrives, the action runs on the payment.
    /// Approving a fully approved request whose action did not run (a crash in between) resumes it.
    pub fn approve(&self, request_id: ApprovalId, by: OperatorId) -> Result<Approved, AppError> {
        let current = self.load(request_id)?;
        if current.status == RequestStatus::Approved {
            return self.execute(&current);
        }
        let request = self.pending(request_id, by)?;
        self.policy.check_approve(by, request.action)?;
        let loaded = load_payment(self.store(), request.payment_intent_id)?
            .ok_or(AppError::UnknownPayment(request.payment_intent_id))?;
        self.check_binding(&request, &loaded.payment)?;
        guard(&loaded.payment, request.action)?;
        let event = OpsEvent::OperatorActionApproved {
            request_id,
            approved_by: by,
            approved_at: self.now(),
            policy_version: self.policy.version().to_owned(),
        };
        self.append_decision(&request, &event)?;
        let approved = self.load(request_id)?;
        match approved.status {
            RequestStatus::Approved => self.execute(&approved),
            RequestStatus::Pending
            | RequestStatus::Executed
            | RequestStatus::Rejected
            | RequestStatus::Lapsed
            | RequestStatus::Failed => Ok(Approved::AwaitingMoreApprovals(approved)),
        }
    }

    fn check_binding(&self, request: &OpsRequest, payment: &Payment) -> Result<(), AppError> {
        let now_bound = binding(payment, request.action);
        if now_bound != request.attempt_id {
            let show =
                |a: Option<AttemptId>| a.map_or_else(|| "no attempt".to_owned(), |a| a.to_string());
            return Err(AppError::refused(
                "ops/bound-to-attempt",
                format!(
                    "request {} was for {} of payment {}, which is now at {}; request again",
                    request.request_id,
                    show(request.attempt_id),
                    request.payment_intent_id,
                    show(now_bound)
                ),
            ));
        }
        Ok(())
    }

    fn execute(&self, request: &OpsRequest) -> Result<Approved, AppError> {
        let Some((approver, approved_at)) = request.approvals.last().copied() else {
            return Err(AppError::refused(
                "ops/not-approved",
                "the request has no approval",
            ));
        };
        let approval = Approval::new(
            request.request_id,
            request.requested_by,
            approver,
            approved_at,
            request.reason.clone(),
        );
        let outcome = self
            .payments
            .execute(request.payment_intent_id, None, |payment, now| {
                if payment
                    .approvals()
                    .iter()
                    .any(|a| a.approval_id() == request.request_id)
                {
                    return Ok(None);
                }
                self.check_binding(request, payment)?;
                let at = now.max(payment.last_occurred_at());
                Ok(Some(action_event(request, payment, at, approval.clone())?))
            });
        let now = self.now();
        match outcome {
            Ok(outcome) => {
                let event_type = action_event_type(request.action);
                let executed = OpsEvent::OperatorActionExecuted {
                    request_id: request.request_id,
                    at: now,
                    payment_version: outcome.version,
                    event_type: event_type.to_owned(),
                };
                self.append(request.request_id, request.version, &executed)?;
                Ok(Approved::Executed(
                    self.load(request.request_id)?,
                    Box::new(outcome),
                ))
            }
            Err(error) if error.is_refusal() => {
                let (rule, why) = match &error {
                    AppError::Rule(e) => (e.rule().to_owned(), e.to_string()),
                    AppError::Refused { rule, why } => ((*rule).to_owned(), why.clone()),
                    other => ("ops/execution".to_owned(), other.to_string()),
                };
                let failed = OpsEvent::OperatorActionFailed {
                    request_id: request.request_id,
                    at: now,
                    rule,
                    why,
                };
                self.append(request.request_id, request.version, &failed)?;
                Err(error)
            }
            Err(error) => Err(error),
        }
    }

    /// Every request, oldest stream id first; only the pending ones if asked.
    pub fn list(&self, pending_only: bool) -> Result<Vec<OpsRequest>, AppError> {
        list_requests(self.store(), pending_only)
    }

    /// Every request about one payment, in request order.
    pub fn for_payment(&self, id: PaymentIntentId) -> Result<Vec<OpsRequest>, AppError> {
        requests_for_payment(self.store(), id)
    }
}

// The read side needs no policy and no clock: listing and evidence read requests as recorded.

/// A request by id, folded from its stream.
pub fn load_request(
    store: &dyn EventStore,
    request_id: ApprovalId,
) -> Result<OpsRequest, AppError> {
    let stream = ops_stream(request_id)?;
    let recorded = store.read_stream(&stream)?;
    let mut events = Vec::with_capacity(recorded.len());
    for r in &recorded {
        events.push(serde_json::from_str(r.event().payload()).map_err(|e| {
            AppError::Undecodable {
                stream: stream.clone(),
                version: r.version(),
                why: e.to_string(),
            }
        })?);
    }
    OpsRequest::fold(events)
        .ok_or_else(|| AppError::refused("ops/unknown-request", format!("no request {request_id}")))
}

/// Every request, oldest stream id first; only the pending ones if asked.
pub fn list_requests(
    store: &dyn EventStore,
    pending_only: bool,
) -> Result<Vec<OpsRequest>, AppError> {
    let mut out = Vec::new();
    for stream in streams_of(store, StreamKind::Ops)? {
        let Some(id) = stream.request_id() else {
            return Err(AppError::Undecodable {
                stream,
                version: 0,
                why: "an ops stream whose id is not a request id".into(),
            });
        };
        let request = load_request(store, id)?;
        if !pending_only || request.status == RequestStatus::Pending {
            out.push(request);
        }
    }
    Ok(out)
}

/// Every request about one payment, in request order.
pub fn requests_for_payment(
    store: &dyn EventStore,
    id: PaymentIntentId,
) -> Result<Vec<OpsRequest>, AppError> {
    let mut requests: Vec<OpsRequest> = list_requests(store, false)?
        .into_iter()
        .filter(|r| r.payment_intent_id == id)
        .collect();
    requests.sort_by_key(|r| r.requested_at);
    Ok(requests)
}

fn action_event_type(action: OpsAction) -> &'static str {
    match action {
        OpsAction::Retry => "PaymentRetryApproved",
        OpsAction::Cancel => "PaymentCancelled",
        OpsAction::MarkFailed => "PaymentFailed",
    }
}

fn action_event(
    request: &OpsRequest,
    payment: &Payment,
    at: Timestamp,
    approval: Approval,
) -> Result<PaymentEvent, AppError> {
    let id = payment.payment_intent_id();
    Ok(match request.action {
        OpsAction::Retry => {
            let next = payment.attempts().len() + 1;
            let attempt = AttemptId::parse(&format!("att_{next}"))
                .map_err(|e| AppError::refused("ops/attempt-id", e.to_string()))?;
            PaymentEvent::PaymentRetryApproved(RetryApproved::new(id, at, attempt, approval))
        }
        OpsAction::Cancel => PaymentEvent::PaymentCancelled(Cancelled::new(
            id,
            at,
            request.reason.clone(),
            None,
            approval,
        )),
        OpsAction::MarkFailed => PaymentEvent::PaymentFailed(Failed::new(
            id,
            at,
            payment.open_attempt().map(core_npp::Attempt::attempt_id),
            FailureReason::OperatorMarkedFailed,
            Some(request.reason.clone()),
            Some(approval),
        )),
    })
}
