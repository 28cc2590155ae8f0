//! What the API answers with: payments, attempts, operator requests, pages. Every field is
//! derived from stored events; money is integer cents, times RFC 3339 UTC.

use serde::Serialize;
use utoipa::ToSchema;

use app_ops::{OpsRequest, RequestStatus};
use core_npp::{Attempt, AttemptOutcome, Payment};

/// A party as the payment names it: BSB, account and (when the channel gave one) the name.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, ToSchema)]
pub struct PartyView {
    /// The branch, `NNN-NNN`.
    pub bsb: String,
    /// The account number.
    pub account: String,
    /// The account holder's name, when the intent carries one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// One attempt on the rail.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, ToSchema)]
pub struct AttemptView {
    /// The attempt (ISO 20022 TxId).
    pub attempt_id: String,
    /// When it was opened.
    pub opened_at: String,
    /// The approval that opened it (a retry), if one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opened_by: Option<String>,
    /// When it was handed to the rail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<String>,
    /// When the rail acknowledged it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledged_at: Option<String>,
    /// `SETTLED` or `FAILED`, once it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// Why it failed, if it did (e.g. `RAIL_REJECTED`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// The rail's words (e.g. the ISO 20022 reason code), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The settlement reference, if it settled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settlement_ref: Option<String>,
    /// When it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
}

/// A payment, folded from its events.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, ToSchema)]
pub struct PaymentView {
    /// The payment's id (the stream of its events).
    pub payment_id: String,
    /// `CREATED`, `AUTHORISED`, `SENT`, `ACKNOWLEDGED`, `SETTLED`, `FAILED` or `EXPIRED`.
    pub state: String,
    /// The amount in cents.
    pub amount: i64,
    /// `AUD`.
    pub currency: String,
    /// The payer.
    pub debtor: PartyView,
    /// The payee.
    pub creditor: PartyView,
    /// Up to 280 characters for the payee, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remittance_information: Option<String>,
    /// The channel's end-to-end id (ISO 20022 EndToEndId), when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_to_end_id: Option<String>,
    /// The attempts, oldest first.
    pub attempts: Vec<AttemptView>,
    /// Why it failed, when it is FAILED.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// The number of events: the stream's version.
    pub version: u32,
    /// SHA-256 of the payment's canonical state, as evidence packs and `npp replay` print it.
    pub state_hash: String,
    /// When the intent was recorded.
    pub created_at: String,
    /// When the last event occurred.
    pub updated_at: String,
}

fn party(account: core_npp::AccountId, name: Option<String>) -> PartyView {
    let (bsb, number) = match account.as_str().split_once(':') {
        Some((bsb, number)) => {
            let digits: String = bsb.chars().filter(char::is_ascii_digit).collect();
            let bsb = match (digits.get(..3), digits.get(3..)) {
                (Some(a), Some(b)) if digits.len() == 6 => format!("{a}-{b}"),
                _ => bsb.to_owned(),
            };
            (bsb, number.to_owned())
        }
        None => (String::new(), account.as_str().to_owned()),
    };
    PartyView {
        bsb,
        account: number,
        name,
    }
}

fn attempt(attempt: &Attempt) -> AttemptView {
    let mut view = AttemptView {
        attempt_id: attempt.attempt_id().to_string(),
        opened_at: attempt.opened_at().to_string(),
        opened_by: attempt.opened_by().map(|a| a.to_string()),
        sent_at: attempt.sent_at().map(|t| t.to_string()),
        acknowledged_at: attempt.acknowledged_at().map(|t| t.to_string()),
        outcome: None,
        failure_reason: None,
        detail: None,
        settlement_ref: None,
        ended_at: None,
    };
    match attempt.outcome() {
        Some(AttemptOutcome::Settled {
            settlement_ref, at, ..
        }) => {
            view.outcome = Some("SETTLED".into());
            view.settlement_ref = Some(settlement_ref.to_string());
            view.ended_at = Some(at.to_string());
        }
        Some(AttemptOutcome::Failed { reason, detail, at }) => {
            view.outcome = Some("FAILED".into());
            view.failure_reason = Some(reason.name().to_owned());
            view.detail = detail.as_ref().map(|d| d.as_str().to_owned());
            view.ended_at = Some(at.to_string());
        }
        None => {}
    }
    view
}

impl PaymentView {
    /// The view of `payment`.
    pub fn of(payment: &Payment) -> Self {
        let names = crate::intent::names(payment);
        Self {
            payment_id: payment.payment_intent_id().to_string(),
            state: payment.state().name().to_owned(),
            amount: payment.amount().minor_units(),
            currency: payment.currency().as_str().to_owned(),
            debtor: party(payment.from_account_id(), names.debtor),
            creditor: party(payment.to_account_id(), names.creditor),
            remittance_information: names.remittance,
            end_to_end_id: names.end_to_end_id,
            attempts: payment.attempts().iter().map(attempt).collect(),
            failure_reason: (payment.state() == core_npp::PaymentState::Failed)
                .then(|| payment.last_failure().map(|f| f.reason().name().to_owned()))
                .flatten(),
            version: payment.version(),
            state_hash: payment.state_hash().to_hex(),
            created_at: payment.created_at().to_string(),
            updated_at: payment.last_occurred_at().to_string(),
        }
    }
}

/// One page of payments, oldest first.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, ToSchema)]
pub struct PaymentPage {
    /// The payments.
    pub payments: Vec<PaymentSummary>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// A payment in a list.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, ToSchema)]
pub struct PaymentSummary {
    /// The payment's id.
    pub payment_id: String,
    /// Its state.
    pub state: String,
    /// The amount in cents.
    pub amount: i64,
    /// The number of events.
    pub version: u32,
    /// When the intent was recorded.
    pub created_at: String,
    /// When the last event occurred.
    pub updated_at: String,
}

/// One approval of an operator request.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, ToSchema)]
pub struct ApprovalView {
    /// The checker.
    pub approved_by: String,
    /// When.
    pub approved_at: String,
    /// The policy version in force.
    pub policy_version: String,
}

/// An operator request (maker-checker).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, ToSchema)]
pub struct OperatorRequestView {
    /// The request's id.
    pub request_id: String,
    /// `retry`, `cancel` or `mark-failed`.
    pub action: String,
    /// The payment.
    pub payment_id: String,
    /// The attempt it is bound to, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt_id: Option<String>,
    /// The maker: the key that asked.
    pub requested_by: String,
    /// Why.
    pub reason: String,
    /// When.
    pub requested_at: String,
    /// `pending`, `approved`, `executed`, `rejected`, `lapsed` or `failed`.
    pub status: String,
    /// Distinct approvals the policy needs.
    pub approvals_required: u8,
    /// Approvals so far.
    pub approvals: Vec<ApprovalView>,
    /// The policy version the request is pinned to.
    pub policy_version: String,
}

impl OperatorRequestView {
    /// The view of `request`.
    pub fn of(request: &OpsRequest) -> Self {
        Self {
            request_id: request.request_id.to_string(),
            action: request.action.to_string(),
            payment_id: request.payment_intent_id.to_string(),
            attempt_id: request.attempt_id.map(|a| a.to_string()),
            requested_by: request.requested_by.to_string(),
            reason: request.reason.as_str().to_owned(),
            requested_at: request.requested_at.to_string(),
            status: status_name(&request.status).to_owned(),
            approvals_required: request.approvals_required,
            approvals: request
                .approvals
                .iter()
                .map(|a| ApprovalView {
                    approved_by: a.approved_by.to_string(),
                    approved_at: a.approved_at.to_string(),
                    policy_version: a.policy_version.clone(),
                })
                .collect(),
            policy_version: request.policy_version.clone(),
        }
    }
}

fn status_name(status: &RequestStatus) -> &'static str {
    status.name()
}

/// The result of an approval: the request and, when the action ran, the payment after it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, ToSchema)]
pub struct ApprovalResult {
    /// The request after the approval.
    pub request: OperatorRequestView,
    /// Whether the action ran (the policy's approvals are complete).
    pub executed: bool,
    /// The payment after the action, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment: Option<PaymentView>,
}

/// Operator requests, oldest first.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, ToSchema)]
pub struct OperatorRequestList {
    /// The requests.
    pub requests: Vec<OperatorRequestView>,
}

/// A payment waiting for a person, and why.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, ToSchema)]
pub struct QueueItem {
    /// The payment.
    pub payment_id: String,
    /// Its state.
    pub state: String,
    /// The amount in cents.
    pub amount: i64,
    /// Why a person is needed, and what they can do.
    pub why: String,
    /// Pending operator requests on it, awaiting a checker.
    pub pending_requests: Vec<String>,
    /// When the last event occurred (for a failed webhook delivery: when it was given up on).
    pub since: String,
    /// The webhook delivery given up on, when that is why (redeliver it with
    /// `POST /v1/webhook-deliveries/{id}/redeliver`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_delivery: Option<String>,
}

/// The operator queue.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, ToSchema)]
pub struct OperatorQueue {
    /// The payments, oldest first.
    pub items: Vec<QueueItem>,
}

/// `GET /readyz`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready`.
    pub status: String,
    /// The store, as described to operators.
    pub store: String,
    /// The policy version in force.
    pub policy_version: String,
}

/// One sample of what the console plots.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, ToSchema)]
pub struct StatsSample {
    /// When it was taken.
    pub at: String,
    /// Payments in each state (every state named, zero included).
    pub payments: std::collections::BTreeMap<String, u64>,
    /// Payments that settled since the sample before.
    pub settled: u64,
    /// Their median intent-to-settled latency, in milliseconds (within about 25% above);
    /// absent when none settled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settle_p50_ms: Option<u64>,
    /// Their 99th percentile intent-to-settled latency, in milliseconds; absent when none
    /// settled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settle_p99_ms: Option<u64>,
    /// Outbox messages not yet delivered (rail and webhooks).
    pub outbox_pending: u64,
}

/// `GET /v1/stats`: the samples this server took since it started, oldest first.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, ToSchema)]
pub struct StatsView {
    /// Milliseconds between samples.
    pub interval_ms: u64,
    /// The most samples kept; the oldest goes first.
    pub max_samples: u32,
    /// The samples.
    pub samples: Vec<StatsSample>,
}

/// One event of a payment's timeline.
#[derive(Clone, PartialEq, Debug, Serialize, ToSchema)]
pub struct TimelineEvent {
    /// The payment's version after it.
    pub version: u32,
    /// The event's type (`PaymentSettled`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// When it happened.
    pub occurred_at: String,
    /// When the store recorded it.
    pub recorded_at: String,
    /// Who caused it: a channel's request, the orchestrator, the rail, or the operators who
    /// asked and approved.
    pub who: String,
    /// Why, when the event says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// The request (`X-Request-Id`) that caused it, when one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// The rail message applied by it, when one was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rail_message_id: Option<String>,
    /// The event as recorded.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

/// A fact about how the payment met its rail: a routing decision, an enquiry, an escalation.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, ToSchema)]
pub struct RailFactView {
    /// `RailDecisionRecorded`, `RailEnquirySent` or `RailEscalatedToOperator`.
    #[serde(rename = "type")]
    pub kind: String,
    /// When.
    pub at: String,
    /// The attempt, when the fact is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt_id: Option<String>,
    /// What it says.
    pub detail: String,
}

/// A message exchanged with the rail about the payment.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, ToSchema)]
pub struct RailMessageView {
    /// Its message id.
    pub message_id: String,
    /// `sent` (to the rail, through the outbox) or `received` (from it).
    pub direction: String,
    /// `pacs.008` or `pacs.002`.
    pub kind: String,
    /// When it was committed (sent: with the payment's `PaymentSentToRail`; received: with the
    /// event it caused).
    pub at: String,
    /// The payment's version it goes with.
    pub version: u32,
    /// For a sent message: `pending`, `delivered` or `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The message as sent or received; absent for a received one whose rail kept no body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xml: Option<String>,
}

/// The payer's funds position, derived from every payment's events (never stored).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, ToSchema)]
pub struct FundsView {
    /// The account.
    pub account: String,
    /// Every earmark ever placed, in cents.
    pub earmarked: i64,
    /// Earmarks consumed by settlement, in cents.
    pub settled_out: i64,
    /// Earmarks released by failure, expiry or cancellation, in cents.
    pub released: i64,
    /// Still earmarked, in cents.
    pub outstanding: i64,
}

/// `GET /v1/payments/{id}/timeline`: one payment's whole story, for the console.
#[derive(Clone, PartialEq, Debug, Serialize, ToSchema)]
pub struct TimelineView {
    /// The payment as it stands.
    pub payment: PaymentView,
    /// Its events, oldest first.
    pub events: Vec<TimelineEvent>,
    /// How it met its rail, oldest first.
    pub rail: Vec<RailFactView>,
    /// Its rail messages, in the order committed.
    pub messages: Vec<RailMessageView>,
    /// Operator requests about it, oldest first.
    pub requests: Vec<OperatorRequestView>,
    /// The payer's funds position.
    pub funds: FundsView,
    /// The operator actions the caller may ask for now (`retry`, `cancel`, `mark-failed`): the
    /// payment's state allows them and the policy lets the caller ask; a request for any other is
    /// refused.
    pub allowed_actions: Vec<String>,
    /// The requests about it the caller may approve or reject now (pending, not the caller's
    /// own, not already approved by the caller, not lapsed, and the policy lets the caller
    /// approve their action).
    pub decidable: Vec<String>,
}

/// `GET /v1/me`: who the token belongs to.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, ToSchema)]
pub struct CallerView {
    /// The key's name: the operator id the policy knows.
    pub name: String,
    /// `channel`, `operator`, `auditor` or `admin`.
    pub role: String,
}

/// What verifying an evidence pack found.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, ToSchema)]
pub struct VerificationView {
    /// Whether every hash, the replay and the signature check out.
    pub verified: bool,
    /// One line for a person: what was checked, or what failed.
    pub summary: String,
    /// `unsigned`, `trusted` (signed by this server's key) or `self-consistent` (signed by the
    /// key inside the pack, not this server's); absent when the pack did not verify.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// The first element at fault, as a JSON path; when it did not verify.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}
