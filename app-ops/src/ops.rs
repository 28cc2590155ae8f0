//! Operator actions under maker-checker: one operator requests (retry, cancel, mark failed), a
//! different one approves or rejects; approval executes the action. Each request is a stream of
//! its own (`ops-<request_id>`), so the evidence pack can show who asked, who approved and when.
//!
//! An approval is bound to its action, payment and attempt, is single use (its id is the request
//! id, which the core refuses to see twice on a payment), and lapses after the policy's time. A
//! request is pinned to the policy in force when it was made (the store's, see `stored_policy`);
//! the last approval, the execution and the payment event are one atomic commit.

use core_npp::{
    Applied, Approval, ApprovalId, AttemptId, Cancelled, Failed, FailureReason, FreeText,
    OperatorId, Payment, PaymentEvent, PaymentIntentId, RetryApproved, Timestamp,
};
use event_store::{
    AppendOutcome, AppendRequest, EventStore, GroupOutcome, MAX_CONFLICT_RETRIES, NewEvent,
    RecordedEvent, StoreError, StreamId, StreamKind, streams_of,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::commands::{Effect, Outcome, Payments};
use crate::error::AppError;
use crate::load::{Loaded, load_payment};
use crate::policy::{OpsAction, PolicyGate};
use crate::stored_policy::ensure_in_force;

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
        /// The policy in force, which the request is pinned to.
        policy_version: String,
        /// SHA-256 of that policy document (absent in requests recorded before policies were
        /// held in the store).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        policy_sha256: Option<String>,
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
        /// SHA-256 of that policy document.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        policy_sha256: Option<String>,
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
        /// SHA-256 of that policy document.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        policy_sha256: Option<String>,
    },
    /// Nobody approved in time.
    OperatorActionLapsed {
        /// The request.
        request_id: ApprovalId,
        /// When the lapse was recorded.
        at: Timestamp,
    },
    /// The approved action was applied to the payment, in the same commit as the last approval.
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
    /// The approved action could not be applied (the payment moved on); recorded in the same
    /// commit as the last approval.
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

/// The rule that refuses a decision on a request not approved within the policy's time.
const LAPSED_RULE: &str = "ops/approval-lapsed";

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

    fn request_id(&self) -> ApprovalId {
        match self {
            OpsEvent::OperatorActionRequested { request_id, .. }
            | OpsEvent::OperatorActionApproved { request_id, .. }
            | OpsEvent::OperatorActionRejected { request_id, .. }
            | OpsEvent::OperatorActionLapsed { request_id, .. }
            | OpsEvent::OperatorActionExecuted { request_id, .. }
            | OpsEvent::OperatorActionFailed { request_id, .. } => *request_id,
        }
    }
}

/// Where a request stands.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum RequestStatus {
    /// Waiting for (more) approvals.
    Pending,
    /// Fully approved but not applied: only in stores written before approval and execution
    /// were one commit. Approving it again (by another allowed operator) executes it.
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

/// One approval of a request: who, when, and under which policy.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ApprovalEntry {
    /// The checker.
    pub approved_by: OperatorId,
    /// When.
    pub approved_at: Timestamp,
    /// The policy version in force.
    pub policy_version: String,
    /// SHA-256 of that policy (absent in approvals recorded before policies were stored).
    pub policy_sha256: Option<String>,
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
    /// The policy in force when requested; the request is pinned to it.
    pub policy_version: String,
    /// SHA-256 of that policy (absent in requests recorded before policies were stored).
    pub policy_sha256: Option<String>,
    /// Distinct approvers needed.
    pub approvals_required: u8,
    /// Approvals so far.
    pub approvals: Vec<ApprovalEntry>,
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

    /// Folds a request's events; the first must be the request and no later one may be.
    fn fold(events: Vec<OpsEvent>) -> Result<Self, String> {
        let Some(OpsEvent::OperatorActionRequested {
            request_id,
            action,
            payment_intent_id,
            attempt_id,
            requested_by,
            reason,
            requested_at,
            policy_version,
            policy_sha256,
            approvals_required,
        }) = events.first().cloned()
        else {
            return Err("the stream does not start with OperatorActionRequested".into());
        };
        let version = u32::try_from(events.len())
            .map_err(|_| "more events than a stream holds".to_owned())?;
        let mut request = OpsRequest {
            request_id,
            action,
            payment_intent_id,
            attempt_id,
            requested_by,
            reason,
            requested_at,
            policy_version,
            policy_sha256,
            approvals_required,
            approvals: Vec::new(),
            status: RequestStatus::Pending,
            version,
            events: Vec::new(),
        };
        for event in events.iter().skip(1) {
            if event.request_id() != request_id {
                return Err(format!(
                    "an event of request {} in the stream of request {request_id}",
                    event.request_id()
                ));
            }
            request.status = match event {
                OpsEvent::OperatorActionRequested { .. } => {
                    return Err("a second OperatorActionRequested".into());
                }
                OpsEvent::OperatorActionApproved {
                    approved_by,
                    approved_at,
                    policy_version,
                    policy_sha256,
                    ..
                } => {
                    request.approvals.push(ApprovalEntry {
                        approved_by: *approved_by,
                        approved_at: *approved_at,
                        policy_version: policy_version.clone(),
                        policy_sha256: policy_sha256.clone(),
                    });
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
        Ok(request)
    }

    fn pinned_to(&self, policy: &dyn PolicyGate) -> bool {
        match &self.policy_sha256 {
            Some(sha256) => sha256 == policy.sha256(),
            None => self.policy_version == policy.version(),
        }
    }
}

/// The result of an approval.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Approved {
    /// Recorded; the policy needs more approvers before the action runs.
    AwaitingMoreApprovals(OpsRequest),
    /// The action ran, in the same commit as the approval: the payment after it.
    Executed(OpsRequest, Box<Outcome>),
}

/// Operator actions over the command handlers and a policy gate. Every action first makes sure
/// the gate is the policy the store holds (a store with none takes it), so the store's policy
/// decides, never an operator's own file.
pub struct OperatorActions<'a> {
    payments: &'a Payments<'a>,
    policy: &'a dyn PolicyGate,
}

fn ops_stream(request_id: ApprovalId) -> StreamId {
    StreamId::ops(request_id)
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

fn encode(request_id: ApprovalId, event: &OpsEvent) -> Result<NewEvent, AppError> {
    let payload = serde_json::to_string(event).map_err(|e| AppError::Unencodable(e.to_string()))?;
    Ok(
        NewEvent::new(event.type_name(), OPS_SCHEMA_VERSION, event.at(), payload)?
            .with_correlation(request_id.as_str())?,
    )
}

/// What one try at an approval or rejection came to.
enum Tried<T> {
    Done(T),
    /// Another decision or payment event landed first: look again.
    Raced,
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

    fn in_force(&self) -> Result<(), AppError> {
        ensure_in_force(self.store(), self.policy, self.now())
    }

    /// Records a request, after the policy and the core's state guards allow it.
    pub fn request(
        &self,
        action: OpsAction,
        payment_id: PaymentIntentId,
        by: OperatorId,
        reason: FreeText,
    ) -> Result<OpsRequest, AppError> {
        self.in_force()?;
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
                policy_sha256: Some(self.policy.sha256().to_owned()),
                approvals_required,
            };
            match self.append(request_id, 0, &[event]) {
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

    fn ops_append(
        &self,
        request_id: ApprovalId,
        expected: u32,
        events: &[OpsEvent],
    ) -> Result<AppendRequest, AppError> {
        let envelopes = events
            .iter()
            .map(|e| encode(request_id, e))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(AppendRequest::new(
            ops_stream(request_id),
            expected,
            envelopes,
            self.now(),
        )?)
    }

    fn append(
        &self,
        request_id: ApprovalId,
        expected: u32,
        events: &[OpsEvent],
    ) -> Result<(), AppError> {
        let request = self.ops_append(request_id, expected, events)?;
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
        self.in_force()?;
        self.decide(request_id, |request| {
            let event = OpsEvent::OperatorActionRejected {
                request_id,
                rejected_by: by,
                rejected_at: self.now(),
                reason: reason.clone(),
                policy_version: self.policy.version().to_owned(),
                policy_sha256: Some(self.policy.sha256().to_owned()),
            };
            let request = self.decidable(request, by)?;
            match self.append(request_id, request.version, &[event]) {
                Ok(()) => Ok(Tried::Done(self.load(request_id)?)),
                Err(AppError::Store(StoreError::Conflict { .. })) => Ok(Tried::Raced),
                Err(e) => Err(e),
            }
        })
    }

    /// Tries `attempt` on the freshest request until it is decided or refused; a lost race is
    /// tried again on what the winner left (a second approver's approval still counts).
    fn decide<T>(
        &self,
        request_id: ApprovalId,
        attempt: impl Fn(OpsRequest) -> Result<Tried<T>, AppError>,
    ) -> Result<T, AppError> {
        for _ in 0..MAX_CONFLICT_RETRIES {
            match attempt(self.load(request_id)?)? {
                Tried::Done(done) => return Ok(done),
                Tried::Raced => {}
            }
        }
        Err(AppError::Contention {
            stream: ops_stream(request_id),
            attempts: MAX_CONFLICT_RETRIES,
        })
    }

    /// The request, if `by` may decide it now under the policy it is pinned to; lapses it if
    /// overdue (the refusal [`OperatorActions::may_decide`] gives it).
    fn decidable(&self, request: OpsRequest, by: OperatorId) -> Result<OpsRequest, AppError> {
        let allowed = self.may_decide(&request, by);
        if let Err(AppError::Refused {
            rule: LAPSED_RULE, ..
        }) = &allowed
        {
            let lapsed = OpsEvent::OperatorActionLapsed {
                request_id: request.request_id,
                at: self.now(),
            };
            // Recording the lapse is best effort: a concurrent decision may have closed it first.
            let _ = self.append(request.request_id, request.version, &[lapsed]);
        }
        allowed.map(|()| request)
    }

    /// Whether `by` may approve or reject `request` now, under the policy it is pinned to: the
    /// refusal a decision would meet, without recording anything (an overdue request is refused
    /// as lapsed; deciding it records the lapse). Pages ask this before offering a decision.
    pub fn may_decide(&self, request: &OpsRequest, by: OperatorId) -> Result<(), AppError> {
        let request_id = request.request_id;
        if !matches!(
            request.status,
            RequestStatus::Pending | RequestStatus::Approved
        ) {
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
            return Err(AppError::refused(
                LAPSED_RULE,
                format!(
                    "request {request_id} was not approved within the policy's time and has lapsed; request it again"
                ),
            ));
        }
        if by.is_same_operator(&request.requested_by) {
            return Err(AppError::refused(
                "ops/four-eyes",
                format!("{by} requested {request_id} and cannot also decide it"),
            ));
        }
        if request
            .approvals
            .iter()
            .any(|a| a.approved_by.is_same_operator(&by))
        {
            return Err(AppError::refused(
                "ops/distinct-approvers",
                format!("{by} already approved {request_id}"),
            ));
        }
        if !request.pinned_to(self.policy) {
            return Err(AppError::refused(
                "ops/policy-changed",
                format!(
                    "request {request_id} was made under policy {:?} (sha256 {}); the policy in \
                     force is {:?} (sha256 {}); request it again under the policy in force",
                    request.policy_version,
                    request.policy_sha256.as_deref().unwrap_or("not recorded"),
                    self.policy.version(),
                    self.policy.sha256()
                ),
            ));
        }
        if now < request.requested_at {
            return Err(AppError::refused(
                "ops/approval-before-request",
                format!(
                    "this clock says {now}, before request {request_id} was made at {}; \
                     an approval cannot precede its request",
                    request.requested_at
                ),
            ));
        }
        self.policy.check_approve(by, request.action)
    }

    /// Approves. When the last required approval arrives, the action runs on the payment in the
    /// same commit as the approval: an approval is never recorded without its execution (or the
    /// refusal that stopped it), so nothing is left for anyone to run later.
    pub fn approve(&self, request_id: ApprovalId, by: OperatorId) -> Result<Approved, AppError> {
        self.in_force()?;
        self.decide(request_id, |request| self.try_approve(request, by))
    }

    fn try_approve(
        &self,
        request: OpsRequest,
        by: OperatorId,
    ) -> Result<Tried<Approved>, AppError> {
        let request = self.decidable(request, by)?;
        let request_id = request.request_id;
        let loaded = load_payment(self.store(), request.payment_intent_id)?
            .ok_or(AppError::UnknownPayment(request.payment_intent_id))?;
        self.check_binding(&request, &loaded.payment)?;
        guard(&loaded.payment, request.action)?;
        let now = self.now();
        let approval_event = OpsEvent::OperatorActionApproved {
            request_id,
            approved_by: by,
            approved_at: now,
            policy_version: self.policy.version().to_owned(),
            policy_sha256: Some(self.policy.sha256().to_owned()),
        };
        if request.approvals.len() + 1 < usize::from(request.approvals_required) {
            return match self.append(request_id, request.version, &[approval_event]) {
                Ok(()) => Ok(Tried::Done(Approved::AwaitingMoreApprovals(
                    self.load(request_id)?,
                ))),
                Err(AppError::Store(StoreError::Conflict { .. })) => Ok(Tried::Raced),
                Err(e) => Err(e),
            };
        }
        let approval = Approval::new(
            request_id,
            request.requested_by,
            by,
            now,
            request.reason.clone(),
        );
        let at = now.max(loaded.payment.last_occurred_at());
        let event = action_event(&request, &loaded.payment, at, approval)?;
        match loaded.payment.apply(&event) {
            Ok(Applied::Changed(next)) => {
                self.execute(&request, approval_event, &loaded, &event, next)
            }
            Ok(Applied::Duplicate) => Err(AppError::refused(
                "ops/execution",
                format!("request {request_id}'s action is already on the payment"),
            )),
            Err(rule) => {
                let failed = OpsEvent::OperatorActionFailed {
                    request_id,
                    at: now,
                    rule: rule.rule().to_owned(),
                    why: rule.to_string(),
                };
                match self.append(request_id, request.version, &[approval_event, failed]) {
                    Ok(()) => Err(AppError::Rule(rule)),
                    Err(AppError::Store(StoreError::Conflict { .. })) => Ok(Tried::Raced),
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// The last approval, its execution and the payment event, in one commit.
    fn execute(
        &self,
        request: &OpsRequest,
        approval: OpsEvent,
        loaded: &Loaded,
        event: &PaymentEvent,
        next: Payment,
    ) -> Result<Tried<Approved>, AppError> {
        let request_id = request.request_id;
        let payment_version = loaded.version + 1;
        let executed = OpsEvent::OperatorActionExecuted {
            request_id,
            at: self.now(),
            payment_version,
            event_type: event.kind().name().to_owned(),
        };
        let ops = self.ops_append(request_id, request.version, &[approval, executed])?;
        let payment = self
            .payments
            .event_request(&next, loaded.version, event, None, &[])?;
        match self.store().append_atomic(vec![ops, payment]) {
            Ok(GroupOutcome::Committed(_)) => {
                self.payments.remember(&next, payment_version);
                Ok(Tried::Done(Approved::Executed(
                    self.load(request_id)?,
                    Box::new(Outcome {
                        payment: next,
                        version: payment_version,
                        effect: Effect::Appended,
                    }),
                )))
            }
            Ok(GroupOutcome::AlreadyApplied(_)) => Err(AppError::refused(
                "ops/already-decided",
                "this request was already decided",
            )),
            Err(StoreError::Conflict { .. }) => {
                self.payments.forget_payment(request.payment_intent_id);
                Ok(Tried::Raced)
            }
            Err(e) => Err(e.into()),
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

    /// Every request, oldest first; only the pending ones if asked.
    pub fn list(&self, pending_only: bool) -> Result<Vec<OpsRequest>, AppError> {
        list_requests(self.store(), pending_only)
    }

    /// Every request about one payment, in request order.
    pub fn for_payment(&self, id: PaymentIntentId) -> Result<Vec<OpsRequest>, AppError> {
        requests_for_payment(self.store(), id)
    }
}

// The read side needs no policy and no clock: listing and evidence read requests as recorded.

fn decode_ops_event(recorded: &RecordedEvent) -> Result<OpsEvent, String> {
    let event: OpsEvent = serde_json::from_str(recorded.event().payload())
        .map_err(|e| format!("not an operator request event: {e}"))?;
    if event.type_name() != recorded.event().event_type() {
        return Err(format!(
            "the envelope says {} but the payload is {}",
            recorded.event().event_type(),
            event.type_name()
        ));
    }
    Ok(event)
}

/// Checks one ops stream as verification does: every event decodes, the stream folds into one
/// request, and that request is the one the stream's id names.
pub(crate) fn check_request_stream(events: &[RecordedEvent]) -> Result<(), (u32, String)> {
    let mut decoded = Vec::with_capacity(events.len());
    for recorded in events {
        decoded.push(decode_ops_event(recorded).map_err(|why| (recorded.version(), why))?);
    }
    let request = OpsRequest::fold(decoded).map_err(|why| (1, why))?;
    let named = events.first().and_then(|e| e.stream_id().request_id());
    if named != Some(request.request_id) {
        return Err((
            1,
            format!(
                "the stream holds request {}, not the one its id names",
                request.request_id
            ),
        ));
    }
    Ok(())
}

/// A request by id, folded from its stream.
pub fn load_request(
    store: &dyn EventStore,
    request_id: ApprovalId,
) -> Result<OpsRequest, AppError> {
    let stream = ops_stream(request_id);
    let recorded = store.read_stream(&stream)?;
    if recorded.is_empty() {
        return Err(AppError::refused(
            "ops/unknown-request",
            format!("no request {request_id}"),
        ));
    }
    let mut events = Vec::with_capacity(recorded.len());
    for r in &recorded {
        events.push(decode_ops_event(r).map_err(|why| AppError::Undecodable {
            stream: stream.clone(),
            version: r.version(),
            why,
        })?);
    }
    OpsRequest::fold(events).map_err(|why| AppError::Undecodable {
        stream,
        version: 1,
        why,
    })
}

/// Every request, oldest first (by the time it was made); only the pending ones if asked.
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
    out.sort_by(|a, b| {
        (a.requested_at, a.request_id.as_str()).cmp(&(b.requested_at, b.request_id.as_str()))
    });
    Ok(out)
}

/// Every request about one payment, in request order.
pub fn requests_for_payment(
    store: &dyn EventStore,
    id: PaymentIntentId,
) -> Result<Vec<OpsRequest>, AppError> {
    Ok(list_requests(store, false)?
        .into_iter()
        .filter(|r| r.payment_intent_id == id)
        .collect())
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
            let attempt = next_attempt_id(payment)?;
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

/// The id of the attempt a retry opens: `att_<n>` for the first n past the attempts so far that
/// the payment has not used (an imported history may have named its attempts otherwise), so a
/// retry never collides with an earlier attempt's id.
fn next_attempt_id(payment: &Payment) -> Result<AttemptId, AppError> {
    let used = |id: AttemptId| payment.attempts().iter().any(|a| a.attempt_id() == id);
    let first = payment.attempts().len() + 1;
    for n in first..first + core_npp::MAX_ATTEMPT_LIMIT as usize + 1 {
        let id = AttemptId::parse(&format!("att_{n}"))
            .map_err(|e| AppError::refused("ops/attempt-id", e.to_string()))?;
        if !used(id) {
            return Ok(id);
        }
    }
    Err(AppError::refused(
        "ops/attempt-id",
        "every attempt id a retry could take is used",
    ))
}
