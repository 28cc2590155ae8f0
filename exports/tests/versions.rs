//! Pack schema versions: a version-1 pack written before version 2 existed still verifies,
//! byte for byte as it was written; the members and the outcome version 2 added verify and are
//! tamper-evident; and a pack that declares version 1 but holds any of them is refused, naming
//! the member.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

mod support;

use core_npp::{FreeText, Timestamp};
use exports::*;
use serde_json::{Value, json};
use support::*;

const V1_FIXTURES: [&str; 3] = [
    "v1-rich-signed.evidence.json",
    "v1-marked-failed-then-retried.evidence.json",
    "v1-cancelled.evidence.json",
];

fn v1_key() -> PackPublicKey {
    PackPublicKey::from_hex(&String::from_utf8(fixture("v1-signing-key.pub")).unwrap()).unwrap()
}

fn v1_rich() -> Value {
    serde_json::from_slice(&fixture("v1-rich-signed.evidence.json")).unwrap()
}

/// Recomputes the operator-action hashes of the proof, as anyone following docs/EVIDENCE.md
/// can, and drops the signature they cannot remake.
fn reseal_actions(pack: &mut Value) {
    let hashes: Vec<Value> = pack["operator_actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|action| json!(Sha256Digest::of(canonical_json(action).unwrap().as_bytes()).to_hex()))
        .collect();
    pack["proof"]["operator_action_hashes"] = Value::Array(hashes);
    pack.as_object_mut().unwrap().remove("signature");
}

fn error_of(pack: &Value) -> ExportError {
    match verify_pack_bytes(&serde_json::to_vec(pack).unwrap(), None) {
        Ok(verified) => panic!(
            "expected a refusal, but it verified: {}",
            verified.summary()
        ),
        Err(error) => error,
    }
}

// ----- version 1 packs verify for ever -----

#[test]
fn a_version_1_pack_written_before_version_2_still_verifies() {
    for name in V1_FIXTURES {
        // given a pack as version 1 wrote it, its bytes unchanged since
        let bytes = fixture(name);
        let value: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(value["schema_version"], 1, "{name}");
        // when this version verifies it, with the signer's key when it is signed
        let trusted = value.get("signature").map(|_| v1_key());
        let verified =
            verify_pack_bytes(&bytes, trusted.as_ref()).unwrap_or_else(|e| panic!("{name}: {e}"));
        // then it is valid, read as version 1
        assert_eq!(verified.schema_version(), 1, "{name}");
        assert!(verified.summary().contains("schema version 1"), "{name}");
        if trusted.is_some() {
            assert_eq!(verified.signature(), SignatureStatus::Trusted(v1_key()));
        }
    }
}

#[test]
fn a_bare_history_packs_as_version_1_did_but_for_the_version_number() {
    for (name, events) in [
        (
            "v1-marked-failed-then-retried.evidence.json",
            marked_failed_then_retried("pay_mf"),
        ),
        ("v1-cancelled.evidence.json", example("cancelled.jsonl")),
    ] {
        // given the version-1 pack of a bare history, and the pack this version builds of it
        let old: Value = serde_json::from_slice(&fixture(name)).unwrap();
        let new = pack_of_events(events);
        // then the new one is version 2 and otherwise the same: the same proof, the same
        // operator actions (no policy members where the policy is unknown), the same content
        assert_eq!(new.value()["schema_version"], 2, "{name}");
        assert_eq!(new.value()["proof"], old["proof"], "{name}");
        let mut relabelled = new.value().clone();
        relabelled["schema_version"] = json!(1);
        assert_eq!(relabelled, old, "{name}");
    }
}

#[test]
fn a_version_1_pack_with_a_version_2_member_is_refused_naming_it() {
    let refused = serde_json::to_value(refused_on_execution()).unwrap();
    for (path, new, named) in [
        (
            &["operator_actions", "1", "policy_sha256"][..],
            json!(policy_sha256().to_hex()),
            "operator_actions[1].policy_sha256",
        ),
        (
            &[
                "operator_actions",
                "0",
                "decision",
                "approvals",
                "0",
                "policy_version",
            ][..],
            json!(POLICY_VERSION),
            "operator_actions[0].decision.approvals[0].policy_version",
        ),
        (
            &[
                "operator_actions",
                "0",
                "decision",
                "approvals",
                "0",
                "policy_sha256",
            ][..],
            json!(policy_sha256().to_hex()),
            "operator_actions[0].decision.approvals[0].policy_sha256",
        ),
        (
            &["operator_actions", "1", "decision", "policy_sha256"][..],
            json!(policy_sha256().to_hex()),
            "operator_actions[1].decision.policy_sha256",
        ),
        (
            &["operator_actions", "3", "decision"][..],
            refused.clone(),
            "operator_actions[3].decision.outcome",
        ),
    ] {
        // given the version-1 fixture with one member of version 2 added, and its hashes
        // recomputed so that only the version can tell
        let mut pack = v1_rich();
        set(&mut pack, path, new);
        reseal_actions(&mut pack);
        // when it is verified, then it is refused, naming the member
        let error = error_of(&pack);
        assert_eq!(error.path().unwrap().as_str(), named, "{error}");
        assert!(
            matches!(error, ExportError::NotInSchemaVersion { version: 1, .. }),
            "{error:?}"
        );
        assert!(
            error.to_string().contains("not part of schema version 1"),
            "{error}"
        );
        assert!(!error.is_unreadable());
        // and the same content declared as version 2 verifies: the version is what refused it
        pack["schema_version"] = json!(2);
        verify_pack_bytes(&serde_json::to_vec(&pack).unwrap(), None)
            .unwrap_or_else(|e| panic!("{named}: {e}"));
    }
}

#[test]
fn a_version_2_pack_relabelled_1_is_refused_unless_it_means_the_same_in_both() {
    // given a signed version-2 pack with version-2 members, relabelled as version 1: the
    // version is outside the proof, so only the version rule can refuse it
    let key = PackSigningKey::from_seed([61; 32]);
    let pack = build_pack(&rich_input()).unwrap().sign(&key).unwrap();
    let mut relabelled = pack.value().clone();
    relabelled["schema_version"] = json!(1);
    let error = verify_pack_bytes(
        &serde_json::to_vec(&relabelled).unwrap(),
        Some(&key.public_key()),
    )
    .unwrap_err();
    assert_eq!(
        error.path().unwrap().as_str(),
        "operator_actions[4].decision.policy_sha256"
    );
    // given a version-2 pack that holds nothing version 1 lacks, relabelled: it means the same
    // in both versions, and verifies as either
    let plain = pack_of_events(example("retried.jsonl")).sign(&key).unwrap();
    let mut relabelled = plain.value().clone();
    relabelled["schema_version"] = json!(1);
    let verified = verify_pack_bytes(
        &serde_json::to_vec(&relabelled).unwrap(),
        Some(&key.public_key()),
    )
    .unwrap();
    assert_eq!(verified.schema_version(), 1);
}

// ----- the members and outcome of version 2 -----

#[test]
fn version_2_members_and_outcome_are_written_as_documented() {
    // given the rich pack and the retry approved under a recorded policy
    let rich = build_pack(&rich_input()).unwrap();
    let approved = build_pack(&approved_under_policy_input()).unwrap();
    let hash = policy_sha256().to_hex();
    // then the request names its policy's hash, the approval its policy, the rejection its
    // policy, and the refused request its approvals, time, rule and explanation
    let actions = &rich.value()["operator_actions"];
    assert_eq!(
        actions[4],
        json!({
            "action": "cancel",
            "decision": {
                "outcome": "REJECTED",
                "policy_sha256": hash,
                "policy_version": POLICY_VERSION,
                "reason": "the payee bank asked us to wait",
                "rejected_at": "2025-12-17T09:02:10Z",
                "rejected_by": "frank"
            },
            "payment_intent_id": "pay_002",
            "policy_sha256": hash,
            "policy_version": POLICY_VERSION,
            "reason": "member asked to stop the payment",
            "request_id": "req_rejected_v2",
            "requested_at": "2025-12-17T09:01:40Z",
            "requested_by": "erin"
        })
    );
    assert_eq!(
        actions[5]["decision"],
        json!({
            "approvals": [{
                "approved_at": "2025-12-17T09:01:50Z",
                "approved_by": "bob",
                "policy_sha256": hash,
                "policy_version": POLICY_VERSION
            }],
            "outcome": "REFUSED_ON_EXECUTION",
            "refused_at": "2025-12-17T09:01:50Z",
            "rule": "identity/attempt-id-never-reused",
            "why": "attempt att_2 was already used; an attempt id is never reused"
        })
    );
    assert_eq!(
        approved.value()["operator_actions"][0]["decision"]["approvals"][0]["policy_sha256"],
        json!(hash)
    );
    // and a version-1 rejection is written as version 1 wrote it: no policy members
    assert!(actions[1]["decision"].get("policy_version").is_none());
    assert!(actions[1].get("policy_sha256").is_none());
    // and both packs verify, naming the policies they saw
    for pack in [&rich, &approved] {
        let verified = verify_pack_bytes(&pack.to_file_bytes(), None).unwrap();
        assert_eq!(verified.schema_version(), 2);
        assert!(verified.policies().contains(&PolicySeen {
            version: POLICY_VERSION.to_owned(),
            sha256: Some(policy_sha256()),
        }));
        let summary = verified.summary();
        assert!(
            summary.contains(&format!("\"{POLICY_VERSION}\" (sha256 {hash})")),
            "{summary}"
        );
        assert!(summary.contains("schema version 2"), "{summary}");
    }
}

#[test]
fn a_changed_policy_hash_or_refusal_is_named_by_its_action() {
    let rich = build_pack(&rich_input()).unwrap().value().clone();
    let approved = build_pack(&approved_under_policy_input())
        .unwrap()
        .value()
        .clone();
    let other = json!(Sha256Digest::of(b"another policy").to_hex());
    for (original, path, new, named) in [
        (
            &rich,
            &["operator_actions", "5", "policy_sha256"][..],
            other.clone(),
            "operator_actions[5]",
        ),
        (
            &rich,
            &["operator_actions", "5", "decision", "rule"][..],
            json!("lifecycle/attempt-limit"),
            "operator_actions[5]",
        ),
        (
            &rich,
            &["operator_actions", "5", "decision", "why"][..],
            json!("nothing went wrong"),
            "operator_actions[5]",
        ),
        (
            &rich,
            &["operator_actions", "4", "decision", "policy_sha256"][..],
            other.clone(),
            "operator_actions[4]",
        ),
        (
            &approved,
            &[
                "operator_actions",
                "0",
                "decision",
                "approvals",
                "0",
                "policy_sha256",
            ][..],
            other.clone(),
            "operator_actions[0]",
        ),
        (
            &approved,
            &[
                "operator_actions",
                "0",
                "decision",
                "approvals",
                "0",
                "policy_version",
            ][..],
            json!("policy-2026-01"),
            "operator_actions[0]",
        ),
    ] {
        // given one version-2 member changed to another valid value
        let mut pack = original.clone();
        set(&mut pack, path, new);
        // then the action's hash no longer matches, and the action is named
        let error = error_of(&pack);
        assert_eq!(error.path().unwrap().as_str(), named, "{error}");
        assert!(
            matches!(error, ExportError::HashMismatch { .. }),
            "{error:?}"
        );
    }
    // and a policy hash in another spelling is refused even with the hashes recomputed
    let mut upper = rich;
    set(
        &mut upper,
        &["operator_actions", "5", "policy_sha256"],
        json!(policy_sha256().to_hex().to_uppercase()),
    );
    reseal_actions(&mut upper);
    assert_eq!(
        error_of(&upper).path().unwrap().as_str(),
        "operator_actions[5]"
    );
}

#[test]
fn a_resealed_change_to_a_signed_version_2_pack_fails_its_signature() {
    // given a signed rich pack whose refusal rule a forger changed, resealing the hashes
    let key = PackSigningKey::from_seed([62; 32]);
    let signed = build_pack(&rich_input()).unwrap().sign(&key).unwrap();
    let mut pack = signed.value().clone();
    let signature = pack["signature"].clone();
    set(
        &mut pack,
        &["operator_actions", "5", "decision", "rule"],
        json!("lifecycle/attempt-limit"),
    );
    reseal_actions(&mut pack);
    // then the unsigned result is consistent, but with the genuine signature it fails
    verify_pack_bytes(&serde_json::to_vec(&pack).unwrap(), None).unwrap();
    pack["signature"] = signature;
    let error = verify_pack_bytes(&serde_json::to_vec(&pack).unwrap(), Some(&key.public_key()))
        .unwrap_err();
    assert_eq!(error.path().unwrap().as_str(), "signature.value");
}

// ----- REFUSED_ON_EXECUTION is checked like an approval -----

/// The rich input with its refused request's decision replaced.
fn with_refusal(decision: Decision) -> EvidenceInput {
    let mut input = rich_input();
    input.operator_actions[5].decision = decision;
    input
}

fn refusal_parts() -> (Vec<ApprovalRecord>, Timestamp, FreeText, FreeText) {
    match refused_on_execution() {
        Decision::RefusedOnExecution {
            approvals,
            refused_at,
            rule,
            why,
        } => (approvals, refused_at, rule, why),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_refusal_needs_approvals_none_by_the_requester() {
    let (approvals, refused_at, rule, why) = refusal_parts();
    // no approval at all
    let error = build_pack(&with_refusal(Decision::RefusedOnExecution {
        approvals: vec![],
        refused_at,
        rule: rule.clone(),
        why: why.clone(),
    }))
    .unwrap_err();
    assert!(matches!(error, ExportError::NoApprovals { .. }), "{error}");
    assert_eq!(
        error.path().unwrap().as_str(),
        "operator_actions[5].decision.approvals"
    );
    // an approval by the requester, written in other letter case
    let mut own = approvals.clone();
    own.push(approval_under_policy("Erin", 110));
    let error = build_pack(&with_refusal(Decision::RefusedOnExecution {
        approvals: own,
        refused_at,
        rule,
        why,
    }))
    .unwrap_err();
    assert!(matches!(error, ExportError::SelfApproval { .. }), "{error}");
    assert_eq!(
        error.path().unwrap().as_str(),
        "operator_actions[5].decision.approvals[1].approved_by"
    );
}

#[test]
fn a_refusal_comes_after_the_request_and_the_last_approval() {
    let (approvals, _, rule, why) = refusal_parts();
    // refused before the last approval (at 110)
    let error = build_pack(&with_refusal(Decision::RefusedOnExecution {
        approvals: approvals.clone(),
        refused_at: at(105),
        rule: rule.clone(),
        why: why.clone(),
    }))
    .unwrap_err();
    assert!(
        matches!(error, ExportError::RefusedBeforeApproval { .. }),
        "{error}"
    );
    assert_eq!(
        error.path().unwrap().as_str(),
        "operator_actions[5].decision.refused_at"
    );
    // approved (and so refused) before the request (at 100)
    let error = build_pack(&with_refusal(Decision::RefusedOnExecution {
        approvals: vec![approval_under_policy("bob", 90)],
        refused_at: at(90),
        rule,
        why,
    }))
    .unwrap_err();
    assert!(
        matches!(error, ExportError::DecidedBeforeRequest { .. }),
        "{error}"
    );
    assert_eq!(
        error.path().unwrap().as_str(),
        "operator_actions[5].decision.approvals[0].approved_at"
    );
}

#[test]
fn a_refused_request_produced_no_event() {
    // given the retried example's approved retry recorded instead as refused on execution,
    // though an event carries its approval
    let mut input = EvidenceInput::from_event_history(example("retried.jsonl")).unwrap();
    let (_, _, rule, why) = refusal_parts();
    input.operator_actions[0].decision = Decision::RefusedOnExecution {
        approvals: vec![ApprovalRecord::new(
            op("bob"),
            Timestamp::parse("2025-12-17T10:04:30Z").unwrap(),
        )],
        refused_at: Timestamp::parse("2025-12-17T10:04:30Z").unwrap(),
        rule,
        why,
    };
    // then the builder refuses it, naming the outcome and the event
    let error = build_pack(&input).unwrap_err();
    assert_eq!(
        error.path().unwrap().as_str(),
        "operator_actions[0].decision.outcome"
    );
    let message = error.to_string();
    assert!(message.contains("REFUSED_ON_EXECUTION"), "{message}");
    assert!(
        message.contains("lifecycle_events[4].approval"),
        "{message}"
    );
}

#[test]
fn verification_compares_operators_without_regard_to_case() {
    // given a pack whose refused request (by erin) a forger says ERIN approved, resealed
    let mut pack = build_pack(&rich_input()).unwrap().value().clone();
    set(
        &mut pack,
        &[
            "operator_actions",
            "5",
            "decision",
            "approvals",
            "0",
            "approved_by",
        ],
        json!("ERIN"),
    );
    reseal_actions(&mut pack);
    // then verification refuses the self-approval
    let error = error_of(&pack);
    assert!(matches!(error, ExportError::SelfApproval { .. }), "{error}");
    assert_eq!(
        error.path().unwrap().as_str(),
        "operator_actions[5].decision.approvals[0].approved_by"
    );
    // and so for an approved request (alice's, in the events), approved by Alice
    let mut input = EvidenceInput::from_event_history(example("retried.jsonl")).unwrap();
    if let Decision::Approved { approvals } = &mut input.operator_actions[0].decision {
        approvals.insert(0, ApprovalRecord::new(op("Alice"), at(0)));
    }
    let error = build_pack(&input).unwrap_err();
    assert_eq!(
        error.path().unwrap().as_str(),
        "operator_actions[0].decision.approvals[0].approved_by"
    );
}

// ----- the payment details of version 3 -----

/// The pack of the example whose intent carries every payment detail.
fn detailed_pack() -> EvidencePack {
    pack_of_events(example("settled-with-details.jsonl"))
}

#[test]
fn a_payment_with_details_packs_as_version_3_with_state_encoding_2() {
    // given the example whose intent names both parties, the remittance and its end-to-end id
    let pack = detailed_pack();
    let value = pack.value();
    // then its pack is version 3, its intent holds every detail, and its state hash is the
    // version-2 encoding's
    assert_eq!(value["schema_version"], 3);
    assert_eq!(value["proof"]["state_encoding_version"], 2);
    assert_eq!(value["intent"]["debtor_name"], "Zoë Nguyen");
    assert_eq!(value["intent"]["creditor_name"], "O'Brien & Sons Pty Ltd");
    assert_eq!(
        value["intent"]["remittance_information"],
        "Invoice 2025-117: kitchen <plumbing> & tiling"
    );
    assert_eq!(value["intent"]["end_to_end_id"], "INV 2025/117");
    assert_eq!(
        value["proof"]["state_hash"],
        "b25f7b82c7d051193ee2b15f36048007368ac5b8778f9a99a2004c0bcac46d5e"
    );
    // and it verifies from its file bytes, read as version 3
    let verified = verify_pack_bytes(&pack.to_file_bytes(), None).unwrap();
    assert_eq!(verified.schema_version(), 3);
    assert!(verified.summary().contains("schema version 3"));
}

#[test]
fn a_payment_without_details_still_packs_as_version_2_with_state_encoding_1() {
    for name in ["settled.jsonl", "retried.jsonl", "cancelled.jsonl"] {
        let pack = example_pack(name);
        assert_eq!(pack["schema_version"], 2, "{name}");
        assert_eq!(pack["proof"]["state_encoding_version"], 1, "{name}");
        for detail in core_npp::INTENT_DETAIL_FIELDS {
            assert!(pack["intent"].get(detail).is_none(), "{name}: {detail}");
        }
    }
}

#[test]
fn a_version_3_pack_relabelled_2_or_1_is_refused_naming_the_detail() {
    for declared in [2, 1] {
        // given the detailed pack, signed, declaring an older version (outside the proof)
        let key = PackSigningKey::from_seed([62; 32]);
        let mut relabelled = detailed_pack().sign(&key).unwrap().value().clone();
        relabelled["schema_version"] = json!(declared);
        // when it is verified, then it is refused naming the first detail of its intent
        let error = verify_pack_bytes(
            &serde_json::to_vec(&relabelled).unwrap(),
            Some(&key.public_key()),
        )
        .unwrap_err();
        assert_eq!(
            error.path().unwrap().as_str(),
            "lifecycle_events[0].debtor_name"
        );
        assert!(
            matches!(
                error,
                ExportError::NotInSchemaVersion { version, added: 3, .. } if version == declared
            ),
            "{error:?}"
        );
        assert!(!error.is_unreadable());
    }
}

#[test]
fn a_version_2_pack_relabelled_3_means_the_same() {
    // given a signed pack of a payment without details, relabelled as version 3
    let key = PackSigningKey::from_seed([63; 32]);
    let pack = pack_of_events(example("retried.jsonl")).sign(&key).unwrap();
    let mut relabelled = pack.value().clone();
    relabelled["schema_version"] = json!(3);
    // then it verifies as version 3 with the same proof: nothing it holds reads otherwise
    let verified = verify_pack_bytes(
        &serde_json::to_vec(&relabelled).unwrap(),
        Some(&key.public_key()),
    )
    .unwrap();
    assert_eq!(verified.schema_version(), 3);
    assert_eq!(verified.chain_head(), pack.proof().chain_head());
}

#[test]
fn a_changed_detail_is_named_where_it_was_changed() {
    let original = detailed_pack().value().clone();
    // given the intent's copy of a detail changed: the derived view no longer matches
    let mut pack = original.clone();
    pack["intent"]["creditor_name"] = json!("Someone Else");
    assert_eq!(failure_path(&pack), "intent.creditor_name");
    // given a detail dropped from the intent's copy
    let mut pack = original.clone();
    pack["intent"]
        .as_object_mut()
        .unwrap()
        .remove("end_to_end_id");
    assert_eq!(failure_path(&pack), "intent.end_to_end_id");
    // given the event's detail changed: its link no longer matches
    let mut pack = original.clone();
    pack["lifecycle_events"][0]["remittance_information"] = json!("Invoice 2025-118");
    assert_eq!(failure_path(&pack), "lifecycle_events[0]");
    // given the state encoding version changed: it is not the payment's
    let mut pack = original;
    pack["proof"]["state_encoding_version"] = json!(1);
    assert_eq!(failure_path(&pack), "proof.state_encoding_version");
    pack["proof"]["state_encoding_version"] = json!(3);
    let error = verify(&pack).unwrap_err();
    assert!(error.to_string().contains("1 to 2"), "{error}");
}

#[test]
fn a_detail_no_message_could_carry_is_refused_in_a_pack() {
    // given the detailed pack with a name over 140 characters in the event and its intent
    let mut pack = detailed_pack().value().clone();
    let long = "x".repeat(141);
    pack["lifecycle_events"][0]["debtor_name"] = json!(long);
    pack["intent"]["debtor_name"] = json!(long);
    // then it is refused at the event, naming the field
    let error = verify(&pack).unwrap_err();
    assert_eq!(
        error.path().unwrap().as_str(),
        "lifecycle_events[0]",
        "{error}"
    );
    assert!(error.to_string().contains("debtor_name"), "{error}");
}
