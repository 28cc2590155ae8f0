//! Test support for evidence packs: the example histories, event and action builders, packs to
//! tamper with, and the JSON path of a verification failure.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::path::{Path, PathBuf};

use core_npp::*;
use exports::*;
use serde_json::Value;

pub fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// The events of `examples/<name>`.
pub fn example(name: &str) -> Vec<PaymentEvent> {
    std::fs::read_to_string(examples().join(name))
        .unwrap()
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// The pack of a bare event history.
pub fn pack_of_events(events: Vec<PaymentEvent>) -> EvidencePack {
    build_pack(&EvidenceInput::from_event_history(events).unwrap()).unwrap()
}

/// The pack of `examples/<name>`, as JSON.
pub fn example_pack(name: &str) -> Value {
    pack_of_events(example(name)).value().clone()
}

/// The first six events of the retried example: intent, authorised, sent, failed on a timeout,
/// an approved retry, sent again. Six events, one operator action.
pub fn six_events_one_action() -> Vec<PaymentEvent> {
    example("retried.jsonl").into_iter().take(6).collect()
}

/// What verification says about `pack`.
pub fn verify(pack: &Value) -> Result<VerifiedPack, ExportError> {
    verify_pack(pack, None)
}

/// The JSON path of the first bad element; panics if the pack verifies.
pub fn failure_path(pack: &Value) -> String {
    match verify(pack) {
        Ok(verified) => panic!("expected the pack to fail, but it verified: {verified:?}"),
        Err(error) => match error.path() {
            Some(path) => path.as_str().to_owned(),
            None => panic!("expected a failure with a path, got {error}"),
        },
    }
}

/// 2025-12-17T09:00:00Z plus `seconds`.
pub fn at(seconds: i64) -> Timestamp {
    Timestamp::from_unix_nanos((1_765_962_000 + i128::from(seconds)) * 1_000_000_000).unwrap()
}
pub fn pid(id: &str) -> PaymentIntentId {
    PaymentIntentId::parse(id).unwrap()
}
pub fn att(id: &str) -> AttemptId {
    AttemptId::parse(id).unwrap()
}
pub fn op(id: &str) -> OperatorId {
    OperatorId::parse(id).unwrap()
}
pub fn apr(id: &str) -> ApprovalId {
    ApprovalId::parse(id).unwrap()
}
pub fn text(s: &str) -> FreeText {
    FreeText::parse(s).unwrap()
}

pub const AMOUNT: i64 = 50_000;

pub fn intent(id: &str, t: i64) -> PaymentEvent {
    PaymentEvent::PaymentIntentCreated(IntentCreated::new(
        pid(id),
        at(t),
        Money::from_minor_units(AMOUNT),
        Currency::AUD,
        IdempotencyKey::parse(&format!("idem_{id}")).unwrap(),
        AccountId::parse("acc_from").unwrap(),
        AccountId::parse("acc_to").unwrap(),
        AttemptLimit::default(),
    ))
}
pub fn authorised(id: &str, t: i64) -> PaymentEvent {
    PaymentEvent::PaymentAuthorised(Authorised::new(
        pid(id),
        at(t),
        true,
        Money::from_minor_units(AMOUNT),
    ))
}
pub fn sent(id: &str, t: i64, attempt: &str) -> PaymentEvent {
    PaymentEvent::PaymentSentToRail(SentToRail::new(pid(id), at(t), att(attempt)))
}
pub fn acked(id: &str, t: i64, attempt: &str) -> PaymentEvent {
    PaymentEvent::PaymentAcknowledged(Acknowledged::new(pid(id), at(t), att(attempt)))
}
pub fn settled(id: &str, t: i64, attempt: &str) -> PaymentEvent {
    PaymentEvent::PaymentSettled(Settled::new(
        pid(id),
        at(t),
        att(attempt),
        SettlementRef::parse(&format!("settle_{attempt}")).unwrap(),
        Money::from_minor_units(AMOUNT),
    ))
}
pub fn timed_out(id: &str, t: i64, attempt: &str) -> PaymentEvent {
    PaymentEvent::PaymentFailed(Failed::new(
        pid(id),
        at(t),
        Some(att(attempt)),
        FailureReason::RailTimeout,
        Some(text("AB05")),
        None,
    ))
}
pub fn approval(approval_id: &str, by: &str, approver: &str, t: i64) -> Approval {
    Approval::new(
        apr(approval_id),
        op(by),
        op(approver),
        at(t),
        text("operator action under test"),
    )
}
pub fn marked_failed(id: &str, t: i64, attempt: &str, approval: Approval) -> PaymentEvent {
    PaymentEvent::PaymentFailed(Failed::new(
        pid(id),
        at(t),
        Some(att(attempt)),
        FailureReason::OperatorMarkedFailed,
        Some(text("rail confirmed the payment never arrived")),
        Some(approval),
    ))
}
pub fn retry(id: &str, t: i64, attempt: &str, approval: Approval) -> PaymentEvent {
    PaymentEvent::PaymentRetryApproved(RetryApproved::new(pid(id), at(t), att(attempt), approval))
}
pub fn cancelled(id: &str, t: i64, approval: Approval) -> PaymentEvent {
    PaymentEvent::PaymentCancelled(Cancelled::new(
        pid(id),
        at(t),
        text("member asked to stop the payment"),
        Some(text("CUST")),
        approval,
    ))
}
pub fn expired(id: &str, t: i64) -> PaymentEvent {
    PaymentEvent::PaymentExpired(Expired::new(pid(id), at(t)))
}

/// A sent payment an operator marked failed (with approval) and then retried (with another
/// approval), and that settled on the second attempt.
pub fn marked_failed_then_retried(id: &str) -> Vec<PaymentEvent> {
    vec![
        intent(id, 0),
        authorised(id, 1),
        sent(id, 2, "att_1"),
        marked_failed(id, 600, "att_1", approval("apr_mf", "alice", "bob", 590)),
        retry(id, 700, "att_2", approval("apr_rt", "carol", "dave", 690)),
        sent(id, 701, "att_2"),
        acked(id, 702, "att_2"),
        settled(id, 703, "att_2"),
    ]
}

/// An operator action that was not approved (rejected, lapsed or pending).
pub fn unapproved_action(request_id: &str, payment: &str, decision: Decision) -> OperatorAction {
    OperatorAction {
        request_id: apr(request_id),
        action: ActionKind::Cancel,
        payment_intent_id: pid(payment),
        attempt_id: None,
        requested_by: op("erin"),
        requested_at: Some(at(100)),
        reason: text("member asked to stop the payment"),
        policy_version: text("policy-2025-12"),
        policy_sha256: None,
        decision,
    }
}

/// A rejection as version 1 wrote it: no policy.
pub fn rejected() -> Decision {
    Decision::Rejected {
        rejected_by: op("frank"),
        rejected_at: at(120),
        reason: text("already sent; ask for a recall instead"),
        policy_version: None,
        policy_sha256: None,
    }
}

/// The version and SHA-256 of the policy the schema-version-2 actions of the corpus name.
pub const POLICY_VERSION: &str = "policy-2025-12";
pub fn policy_sha256() -> Sha256Digest {
    Sha256Digest::of(b"version = \"policy-2025-12\"\n")
}

/// An approval given under [`POLICY_VERSION`].
pub fn approval_under_policy(by: &str, t: i64) -> ApprovalRecord {
    ApprovalRecord {
        policy_version: Some(text(POLICY_VERSION)),
        policy_sha256: Some(policy_sha256()),
        ..ApprovalRecord::new(op(by), at(t))
    }
}

/// A rejection that records the policy it was decided under (schema version 2).
pub fn rejected_under_policy() -> Decision {
    Decision::Rejected {
        rejected_by: op("frank"),
        rejected_at: at(130),
        reason: text("the payee bank asked us to wait"),
        policy_version: Some(text(POLICY_VERSION)),
        policy_sha256: Some(policy_sha256()),
    }
}

/// An approved retry that the core refused when it ran (schema version 2).
pub fn refused_on_execution() -> Decision {
    Decision::RefusedOnExecution {
        approvals: vec![approval_under_policy("bob", 110)],
        refused_at: at(110),
        rule: text("identity/attempt-id-never-reused"),
        why: text("attempt att_2 was already used; an attempt id is never reused"),
    }
}

/// A request of schema version 2: its policy hash recorded.
pub fn action_under_policy(request_id: &str, decision: Decision) -> OperatorAction {
    OperatorAction {
        policy_sha256: Some(policy_sha256()),
        ..unapproved_action(request_id, "pay_002", decision)
    }
}

pub fn rail_decision(attempt: Option<&str>, t: i64) -> RailDecision {
    RailDecision {
        rail: text("NPP"),
        decided_at: at(t),
        reason: text("payee account reachable by Osko; amount under the NPP limit"),
        attempt_id: attempt.map(att),
    }
}

/// A pack with every kind of element: the retried example's events, a rail decision per
/// attempt, and besides the derived approved retry a rejected, a lapsed and a pending request
/// (as version 1 wrote them), then the members of schema version 2: a rejection under a
/// recorded policy and a retry refused on execution, both requests with their policy hash.
pub fn rich_input() -> EvidenceInput {
    let mut input = EvidenceInput::from_event_history(example("retried.jsonl")).unwrap();
    input.rail_decisions = vec![
        rail_decision(Some("att_1"), 0),
        rail_decision(Some("att_2"), 300),
        rail_decision(None, 0),
    ];
    let mut refused = action_under_policy("req_refused", refused_on_execution());
    refused.action = ActionKind::Retry;
    input.operator_actions.extend([
        unapproved_action("req_rejected", "pay_002", rejected()),
        unapproved_action("req_lapsed", "pay_002", Decision::Lapsed { at: at(4000) }),
        unapproved_action("req_pending", "pay_002", Decision::Pending),
        action_under_policy("req_rejected_v2", rejected_under_policy()),
        refused,
    ]);
    input
}

/// The bare retried history with its approved retry under a recorded policy (schema version 2):
/// the request's policy hash, and the approval's policy version and hash.
pub fn approved_under_policy_input() -> EvidenceInput {
    let mut input = EvidenceInput::from_event_history(example("retried.jsonl")).unwrap();
    let action = &mut input.operator_actions[0];
    action.policy_version = text(POLICY_VERSION);
    action.policy_sha256 = Some(policy_sha256());
    action.requested_at = Some(Timestamp::parse("2025-12-17T10:04:00Z").unwrap());
    if let Decision::Approved { approvals } = &mut action.decision {
        approvals[0].policy_version = Some(text(POLICY_VERSION));
        approvals[0].policy_sha256 = Some(policy_sha256());
    }
    input
}

/// A version-1 fixture under `exports/tests/fixtures/`, written by the code before schema
/// version 2 (see fixtures/README.md).
pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .unwrap()
}

/// Sets the member at `path` (keys and indexes) of `value`.
pub fn set(value: &mut Value, path: &[&str], new: Value) {
    *pointer(value, path) = new;
}

/// The member at `path`; a segment that parses as a number is an array index.
pub fn pointer<'a>(value: &'a mut Value, path: &[&str]) -> &'a mut Value {
    path.iter()
        .fold(value, |value, segment| match segment.parse::<usize>() {
            Ok(index) => &mut value[index],
            Err(_) => &mut value[*segment],
        })
}
