//! `evidence_from_store` over a real store: the operator actions of app-ops (`OperatorActions`
//! under a `TomlPolicy`, a memory store, a manual clock) become a pack that records the policy
//! of every request, approval and rejection, and an approved request the core refused when it
//! ran as `REFUSED_ON_EXECUTION`, never as a rejection.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

mod support;

use app_ops::{
    AppError, Approved, ManualClock, OperatorActions, OpsAction, OpsEvent, Payments, PolicyGate,
    RequestStatus, TomlPolicy,
};
use core_npp::{PaymentEvent, Timestamp};
use event_store::{AppendRequest, EventStore, NewEvent, StreamId};
use exports::*;
use serde_json::Value;
use store::MemoryStore;
use support::{apr, op, pid, text};

const POLICY: &str = include_str!("../../examples/policy.toml");
const SECOND: i64 = 1_000_000_000;

/// One store, a clock at 2025-12-17T09:00:00Z and the example policy.
struct World {
    store: MemoryStore,
    clock: ManualClock,
    policy: TomlPolicy,
}

impl World {
    fn new() -> Self {
        Self {
            store: MemoryStore::new(),
            clock: ManualClock::new(Timestamp::parse("2025-12-17T09:00:00Z").unwrap()),
            policy: TomlPolicy::parse(POLICY).unwrap(),
        }
    }

    /// Loads a history through the production import, one JSON event per line.
    fn import(&self, lines: &[String]) {
        let events: Vec<PaymentEvent> = lines
            .iter()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        Payments::new(&self.store, &self.clock)
            .import_history(&events)
            .unwrap();
    }

    fn evidence(&self, id: &str) -> EvidenceInput {
        evidence_from_store(&self.store, pid(id)).unwrap().unwrap()
    }
}

/// A payment sent as `attempt` at 08:00 and failed on a timeout: retryable.
fn timed_out_history(id: &str, attempt: &str) -> Vec<String> {
    timed_out_history_at(id, attempt, "08")
}

/// The same, with the payment's events in hour `hour` of the day.
fn timed_out_history_at(id: &str, attempt: &str, hour: &str) -> Vec<String> {
    let head = format!(r#""payment_intent_id":"{id}""#);
    vec![
        format!(
            r#"{{"type":"PaymentIntentCreated",{head},"occurred_at":"2025-12-17T{hour}:00:00Z","amount":50000,"currency":"AUD","idempotency_key":"idem_{id}","from_account_id":"payer","to_account_id":"payee"}}"#
        ),
        format!(
            r#"{{"type":"PaymentAuthorised",{head},"occurred_at":"2025-12-17T{hour}:00:01Z","policy_checks_passed":true,"funds_earmarked":50000}}"#
        ),
        format!(
            r#"{{"type":"PaymentSentToRail",{head},"occurred_at":"2025-12-17T{hour}:00:02Z","attempt_id":"{attempt}"}}"#
        ),
        format!(
            r#"{{"type":"PaymentFailed",{head},"occurred_at":"2025-12-17T{hour}:00:17Z","attempt_id":"{attempt}","reason":"RAIL_TIMEOUT","detail":"AB05"}}"#
        ),
    ]
}

fn policy_hash(policy: &TomlPolicy) -> Sha256Digest {
    Sha256Digest::parse_hex(policy.sha256()).unwrap()
}

#[test]
fn requests_approvals_and_rejections_carry_their_policy() {
    // given a timed-out payment, a retry request rejected by carol and another approved by bob
    let world = World::new();
    world.import(&timed_out_history("pay_ok", "att_1"));
    let payments = Payments::new(&world.store, &world.clock);
    let ops = OperatorActions::new(&payments, &world.policy);
    let first = ops
        .request(
            OpsAction::Retry,
            pid("pay_ok"),
            op("alice"),
            text("timed out"),
        )
        .unwrap();
    world.clock.advance(30 * SECOND);
    ops.reject(
        first.request_id,
        op("carol"),
        text("ask the payee bank first"),
    )
    .unwrap();
    world.clock.advance(30 * SECOND);
    let second = ops
        .request(
            OpsAction::Retry,
            pid("pay_ok"),
            op("alice"),
            text("payee bank confirms nothing arrived"),
        )
        .unwrap();
    world.clock.advance(30 * SECOND);
    let approved = ops.approve(second.request_id, op("bob")).unwrap();
    assert!(matches!(approved, Approved::Executed(..)), "{approved:?}");

    // when its evidence is gathered and packed
    let input = world.evidence("pay_ok");
    let pack = build_pack(&input).unwrap();
    let verified = verify_pack_bytes(&pack.to_file_bytes(), None).unwrap();

    // then every request names the policy it was made under, by version and hash
    let version = text(world.policy.version());
    let sha256 = policy_hash(&world.policy);
    assert_eq!(input.operator_actions.len(), 2);
    for action in &input.operator_actions {
        assert_eq!(action.policy_version, version);
        assert_eq!(action.policy_sha256, Some(sha256));
    }
    // and the rejection its own
    assert_eq!(
        input.operator_actions[0].decision,
        Decision::Rejected {
            rejected_by: op("carol"),
            rejected_at: first.requested_at.plus_nanos(30 * SECOND).unwrap(),
            reason: text("ask the payee bank first"),
            policy_version: Some(version.clone()),
            policy_sha256: Some(sha256),
        }
    );
    // and the approval its own
    let Decision::Approved { approvals } = &input.operator_actions[1].decision else {
        panic!("{:?}", input.operator_actions[1].decision);
    };
    assert_eq!(approvals.len(), 1);
    assert_eq!(approvals[0].approved_by, op("bob"));
    assert_eq!(approvals[0].policy_version, Some(version));
    assert_eq!(approvals[0].policy_sha256, Some(sha256));
    // and the pack says so in JSON, and its summary names the policy
    let json = &pack.value()["operator_actions"];
    assert_eq!(json[1]["policy_sha256"], world.policy.sha256());
    assert_eq!(
        json[1]["decision"]["approvals"][0]["policy_sha256"],
        world.policy.sha256()
    );
    assert_eq!(
        json[0]["decision"]["policy_version"],
        world.policy.version()
    );
    assert_eq!(verified.schema_version(), 2);
    assert_eq!(
        verified.policies(),
        [PolicySeen {
            version: world.policy.version().to_owned(),
            sha256: Some(sha256),
        }]
    );
    assert!(
        verified.summary().contains(world.policy.sha256()),
        "{}",
        verified.summary()
    );
}

#[test]
fn an_approved_request_the_core_refused_is_refused_on_execution_not_rejected() {
    // given a payment recorded by another process whose clock runs ahead: its events are dated
    // 10:00 while this process's clock says 09:00, so an approval given now predates the
    // payment: the guards allow the retry, the core refuses its event
    let world = World::new();
    world.import(&timed_out_history_at("pay_refused", "att_1", "10"));
    let payments = Payments::new(&world.store, &world.clock);
    let ops = OperatorActions::new(&payments, &world.policy);
    let request = ops
        .request(
            OpsAction::Retry,
            pid("pay_refused"),
            op("alice"),
            text("timed out"),
        )
        .unwrap();
    world.clock.advance(45 * SECOND);
    // when bob approves it, then the core refuses the action and the request is failed
    let refused = ops.approve(request.request_id, op("bob"));
    let Err(AppError::Rule(rule)) = refused else {
        panic!("expected the core to refuse the retry, got {refused:?}");
    };
    assert_eq!(rule.rule(), "identity/approval-after-intent");
    let failed = ops.load(request.request_id).unwrap();
    assert_eq!(failed.status, RequestStatus::Failed);
    let approved_at = world.clock_now();

    // when its evidence is gathered and packed
    let input = world.evidence("pay_refused");
    let pack = build_pack(&input).unwrap();
    let verified = verify_pack_bytes(&pack.to_file_bytes(), None).unwrap();

    // then the request is REFUSED_ON_EXECUTION with bob's approval, the core's rule and its
    // whole explanation, at the time it ran; nobody rejected it
    let version = text(world.policy.version());
    let sha256 = policy_hash(&world.policy);
    assert_eq!(input.operator_actions.len(), 1);
    assert_eq!(
        input.operator_actions[0].decision,
        Decision::RefusedOnExecution {
            approvals: vec![ApprovalRecord {
                approved_by: op("bob"),
                approved_at,
                policy_version: Some(version),
                policy_sha256: Some(sha256),
            }],
            refused_at: approved_at,
            rule: text("identity/approval-after-intent"),
            why: text(&rule.to_string()),
        }
    );
    let decision = &pack.value()["operator_actions"][0]["decision"];
    assert_eq!(decision["outcome"], "REFUSED_ON_EXECUTION");
    assert_eq!(decision["rule"], "identity/approval-after-intent");
    assert!(decision.get("rejected_by").is_none());
    // and the pack verifies: no event carries the approval
    assert_eq!(verified.operator_actions(), 1);
    assert_eq!(
        pack.value()["lifecycle_events"].as_array().unwrap().len(),
        4
    );
}

#[test]
fn a_text_that_does_not_fit_is_refused_naming_the_field_never_clipped() {
    // given a request stream, written by hand, whose refusal explanation is longer than a
    // pack's text allows (app-ops records the core's message as it is)
    let world = World::new();
    world.import(&timed_out_history("pay_long", "att_1"));
    let request_id = apr("req-longwhy");
    let at = Timestamp::parse("2025-12-17T09:00:00Z").unwrap();
    let long_why = "w".repeat(core_npp::MAX_TEXT_CHARS + 1);
    let events = [
        OpsEvent::OperatorActionRequested {
            request_id,
            action: OpsAction::Retry,
            payment_intent_id: pid("pay_long"),
            attempt_id: None,
            requested_by: op("alice"),
            reason: text("timed out"),
            requested_at: at,
            policy_version: world.policy.version().to_owned(),
            policy_sha256: Some(world.policy.sha256().to_owned()),
            approvals_required: 1,
        },
        OpsEvent::OperatorActionApproved {
            request_id,
            approved_by: op("bob"),
            approved_at: at,
            policy_version: world.policy.version().to_owned(),
            policy_sha256: Some(world.policy.sha256().to_owned()),
        },
        OpsEvent::OperatorActionFailed {
            request_id,
            at,
            rule: "identity/attempt-id-never-reused".to_owned(),
            why: long_why.clone(),
        },
    ];
    append_ops(&world.store, request_id, &events, at);
    // when its evidence is gathered
    let error = evidence_from_store(&world.store, pid("pay_long")).unwrap_err();
    // then it is refused, naming the request and the field, and nothing was shortened
    let message = error.to_string();
    assert!(matches!(error, ExportError::Source { .. }), "{error:?}");
    assert!(message.contains("req-longwhy"), "{message}");
    assert!(message.contains("decision.why"), "{message}");
    assert!(
        message.contains(&long_why),
        "the whole text is quoted: {message}"
    );
}

#[test]
fn a_policy_hash_that_is_not_a_sha256_is_refused_naming_the_field() {
    // given a request recorded with a policy hash that is not 64 lower-case hex characters
    let world = World::new();
    world.import(&timed_out_history("pay_hash", "att_1"));
    let request_id = apr("req-badhash");
    let at = Timestamp::parse("2025-12-17T09:00:00Z").unwrap();
    let request = OpsEvent::OperatorActionRequested {
        request_id,
        action: OpsAction::Retry,
        payment_intent_id: pid("pay_hash"),
        attempt_id: None,
        requested_by: op("alice"),
        reason: text("timed out"),
        requested_at: at,
        policy_version: world.policy.version().to_owned(),
        policy_sha256: Some(world.policy.sha256().to_uppercase()),
        approvals_required: 1,
    };
    append_ops(&world.store, request_id, &[request], at);
    // when its evidence is gathered, then the hash is refused by its field
    let message = evidence_from_store(&world.store, pid("pay_hash"))
        .unwrap_err()
        .to_string();
    assert!(message.contains("req-badhash: policy_sha256"), "{message}");
}

#[test]
fn a_legacy_request_without_a_policy_hash_is_exported_without_one() {
    // given a request recorded before policies were held in the store: a version, no hash
    let world = World::new();
    world.import(&timed_out_history("pay_legacy", "att_1"));
    let request_id = apr("req-legacy");
    let at = Timestamp::parse("2025-12-17T09:00:00Z").unwrap();
    let request = OpsEvent::OperatorActionRequested {
        request_id,
        action: OpsAction::Retry,
        payment_intent_id: pid("pay_legacy"),
        attempt_id: None,
        requested_by: op("alice"),
        reason: text("timed out"),
        requested_at: at,
        policy_version: "example-2025-06-01".to_owned(),
        policy_sha256: None,
        approvals_required: 1,
    };
    append_ops(&world.store, request_id, &[request], at);
    // when its pack is built
    let pack = build_pack(&world.evidence("pay_legacy")).unwrap();
    // then the request keeps its version and has no hash member at all
    let action = &pack.value()["operator_actions"][0];
    assert_eq!(action["policy_version"], "example-2025-06-01");
    assert!(action.get("policy_sha256").is_none(), "{action}");
    assert_eq!(
        action["decision"],
        serde_json::json!({"outcome": "PENDING"})
    );
    verify_pack_bytes(&pack.to_file_bytes(), None).unwrap();
}

#[test]
fn a_payment_created_with_details_and_one_from_an_older_store_both_export() {
    // Given a payment created with every payment detail (written in payment event schema
    // version 2), and one whose events an older version wrote in schema version 1
    let world = World::new();
    let payments = Payments::new(&world.store, &world.clock);
    let intent = app_ops::NewIntent::new(
        pid("pay_new"),
        core_npp::Money::from_minor_units(12_550),
        core_npp::Currency::AUD,
        core_npp::IdempotencyKey::parse("idem-new").unwrap(),
        core_npp::AccountId::parse("062000:12345678").unwrap(),
        core_npp::AccountId::parse("633000:00123456").unwrap(),
        core_npp::AttemptLimit::default(),
    )
    .with_debtor_name(core_npp::PartyName::parse("Zoë Nguyen").unwrap())
    .with_creditor_name(core_npp::PartyName::parse("O'Brien & Sons").unwrap())
    .with_remittance_information(core_npp::FreeText::parse_remittance("Invoice 117").unwrap())
    .with_end_to_end_id(core_npp::EndToEndId::parse("INV 2025/117").unwrap())
    .with_correlation_id("req-1");
    payments.create_intent(&intent).unwrap();
    let at = Timestamp::parse("2025-12-17T08:00:00Z").unwrap();
    let old = r#"{"type":"PaymentIntentCreated","payment_intent_id":"pay_old","occurred_at":"2025-12-17T08:00:00Z","amount":50000,"currency":"AUD","idempotency_key":"idem-old","from_account_id":"payer","to_account_id":"payee"}"#;
    world
        .store
        .append(
            AppendRequest::new(
                StreamId::payment(pid("pay_old")),
                0,
                vec![NewEvent::new("PaymentIntentCreated", 1, at, old.to_owned()).unwrap()],
                at,
            )
            .unwrap(),
        )
        .unwrap();
    // When each is exported from the store and verified
    let new = build_pack(&world.evidence("pay_new")).unwrap();
    let old = build_pack(&world.evidence("pay_old")).unwrap();
    let new_verified = verify_pack_bytes(&new.to_file_bytes(), None).unwrap();
    let old_verified = verify_pack_bytes(&old.to_file_bytes(), None).unwrap();
    // Then the detailed one is a version-3 pack carrying its details, the old one a version-2
    // pack as before
    assert_eq!(new_verified.schema_version(), 3);
    assert_eq!(new.value()["intent"]["end_to_end_id"], "INV 2025/117");
    assert_eq!(
        new.value()["lifecycle_events"][0]["debtor_name"],
        "Zoë Nguyen"
    );
    assert_eq!(old_verified.schema_version(), 2);
    assert_eq!(old.value()["proof"]["state_encoding_version"], 1);
}

/// Writes operator-request events to their stream as app-ops does.
fn append_ops(
    store: &MemoryStore,
    request_id: core_npp::ApprovalId,
    events: &[OpsEvent],
    at: Timestamp,
) {
    let envelopes = events
        .iter()
        .map(|event| {
            let payload = serde_json::to_string(event).unwrap();
            let kind = serde_json::from_str::<Value>(&payload).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned();
            NewEvent::new(&kind, 1, at, payload)
                .unwrap()
                .with_correlation(request_id.as_str())
                .unwrap()
        })
        .collect();
    store
        .append(AppendRequest::new(StreamId::ops(request_id), 0, envelopes, at).unwrap())
        .unwrap();
}

impl World {
    fn clock_now(&self) -> Timestamp {
        app_ops::Clock::now(&self.clock)
    }
}
