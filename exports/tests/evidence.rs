//! Evidence packs: what a pack holds, that its proof verifies with nothing but the file, that the
//! same events give the same bytes, and that any change to the attested content is caught and
//! named by its JSON path.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

mod support;

use core_npp::{PaymentState, rebuild_from_events};
use exports::*;
use proptest::prelude::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::*;

const EXAMPLES: [&str; 8] = [
    "settled.jsonl",
    "settled-with-details.jsonl",
    "retried.jsonl",
    "cancelled.jsonl",
    "late-failure-with-duplicate.jsonl",
    "authorised.jsonl",
    "stuck-in-sent.jsonl",
    "timed-out.jsonl",
];

// ----- the seed's evidence tests -----

#[test]
fn pack_contains_intent_decisions_events_and_actions() {
    // given the retried payment with rail decisions and four operator requests
    let input = rich_input();
    // when its pack is built
    let pack = build_pack(&input).unwrap();
    let value = pack.value();
    // then it holds the intent, the decisions, every event in order and every action
    assert_eq!(value["format"], "npp-evidence-pack");
    assert_eq!(value["schema_version"], 2);
    assert_eq!(value["intent"]["payment_intent_id"], "pay_002");
    assert_eq!(value["intent"]["amount"], 125_075);
    assert_eq!(value["intent"]["currency"], "AUD");
    assert_eq!(value["rail_decisions"].as_array().unwrap().len(), 3);
    assert_eq!(value["rail_decisions"][1]["attempt_id"], "att_2");
    let events = value["lifecycle_events"].as_array().unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "PaymentIntentCreated",
            "PaymentAuthorised",
            "PaymentSentToRail",
            "PaymentFailed",
            "PaymentRetryApproved",
            "PaymentSentToRail",
            "PaymentAcknowledged",
            "PaymentSettled"
        ]
    );
    let outcomes: Vec<&str> = value["operator_actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["decision"]["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        [
            "APPROVED",
            "REJECTED",
            "LAPSED",
            "PENDING",
            "REJECTED",
            "REFUSED_ON_EXECUTION"
        ]
    );
    assert_eq!(value["final_state"]["state"], "SETTLED");
    assert_eq!(value["proof"]["event_count"], 8);
    assert_eq!(pack.state(), PaymentState::Settled);
}

#[test]
fn proof_verifies_for_every_example() {
    for name in EXAMPLES {
        // given the pack of an example history
        let events = example(name);
        let replay = rebuild_from_events(&events).unwrap();
        let pack = pack_of_events(events.clone());
        // when it is verified from its file bytes
        let verified = verify_pack_bytes(&pack.to_file_bytes(), None)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // then it verifies, and its proof is the replay's state hash and a chain over every event
        assert_eq!(verified.event_count(), events.len(), "{name}");
        assert_eq!(
            verified.state_hash().to_hex(),
            replay.payment().state_hash().to_hex(),
            "{name}"
        );
        assert_eq!(verified.chain_head(), pack.proof().chain_head(), "{name}");
        assert_eq!(verified.signature(), SignatureStatus::Unsigned);
    }
}

#[test]
fn the_settled_example_proves_the_golden_state_hash() {
    let pack = example_pack("settled.jsonl");
    assert_eq!(
        pack["proof"]["state_hash"],
        "d3ef3d3ea4d5e9635f4bffd60aef825fd79b830de6fd4b24bf6b143e2a18fbf0"
    );
}

#[test]
fn deterministic_export_whatever_the_input_spelling() {
    // given the same history twice: once as in the file, once with every event's keys in another
    // order, extra whitespace and timestamps written with trailing zeros and +00:00
    let lines = std::fs::read_to_string(examples().join("retried.jsonl")).unwrap();
    let respelled: Vec<core_npp::PaymentEvent> = lines
        .lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line).unwrap();
            let respelled = reverse_keys_pretty(&value, 0).replace("Z\"", "+00:00\"");
            serde_json::from_str(&respelled).unwrap()
        })
        .collect();
    // when both are exported
    let plain = pack_of_events(example("retried.jsonl"));
    let other = pack_of_events(respelled);
    // then the packs are byte for byte the same
    assert_eq!(plain.to_file_bytes(), other.to_file_bytes());
}

#[test]
fn tampered_event_is_detected() {
    let original = example_pack("retried.jsonl");
    // given a settlement reference changed to another legal value
    let mut pack = original.clone();
    set(
        &mut pack,
        &["lifecycle_events", "7", "settlement_ref"],
        json!("settle_999"),
    );
    // then the chain no longer holds at that event
    assert_eq!(failure_path(&pack), "lifecycle_events[7]");
    // given the transferred amount changed, which also breaks a money rule
    let mut pack = original;
    set(
        &mut pack,
        &["lifecycle_events", "7", "funds_transferred"],
        json!(1),
    );
    // then the failure names the field
    let error = verify(&pack).unwrap_err();
    assert_eq!(
        error.path().unwrap().as_str(),
        "lifecycle_events[7].funds_transferred"
    );
    assert!(
        error.to_string().contains("money/transfer-equals-amount"),
        "{error}"
    );
}

#[test]
fn tampered_state_hash_is_detected() {
    let mut pack = example_pack("settled.jsonl");
    set(
        &mut pack,
        &["proof", "state_hash"],
        json!("0000000000000000000000000000000000000000000000000000000000000000"),
    );
    let error = verify(&pack).unwrap_err();
    assert_eq!(error.path().unwrap().as_str(), "proof.state_hash");
    assert!(matches!(error, ExportError::StateHashMismatch { .. }));
}

#[test]
fn operator_action_is_included() {
    // given the retried example, whose retry carries approval apr_001
    let pack = example_pack("retried.jsonl");
    // then the pack holds that approved action, derived from the event
    let actions = pack["operator_actions"].as_array().unwrap();
    assert_eq!(actions.len(), 1);
    let action = &actions[0];
    assert_eq!(action["request_id"], "apr_001");
    assert_eq!(action["action"], "retry");
    assert_eq!(action["attempt_id"], "att_2");
    assert_eq!(action["requested_by"], "alice");
    assert_eq!(action["decision"]["outcome"], "APPROVED");
    assert_eq!(action["decision"]["approvals"][0]["approved_by"], "bob");
    assert_eq!(action["policy_version"], UNKNOWN_POLICY_VERSION);
    assert!(
        action.get("requested_at").is_none(),
        "the events do not record it"
    );
    assert_eq!(
        pack["final_state"]["approvals"][0]["approval_id"],
        "apr_001"
    );
}

#[test]
fn json_export_round_trip() {
    // given a signed rich pack written to bytes
    let key = PackSigningKey::from_seed([3; 32]);
    let pack = build_pack(&rich_input()).unwrap().sign(&key).unwrap();
    let bytes = pack.to_file_bytes();
    // when the bytes are read back
    let read: Value = serde_json::from_slice(&bytes).unwrap();
    // then they are the same canonical JSON, the same events, and they verify
    assert_eq!(canonical_json(&read).unwrap(), pack.canonical_json());
    assert_eq!(&read, pack.value());
    let events: Vec<core_npp::PaymentEvent> =
        serde_json::from_value(read["lifecycle_events"].clone()).unwrap();
    assert_eq!(events, rich_input().lifecycle_events);
    let actions: Vec<OperatorAction> =
        serde_json::from_value(read["operator_actions"].clone()).unwrap();
    assert_eq!(actions, rich_input().operator_actions);
    let verified = verify_pack_bytes(&bytes, Some(&key.public_key())).unwrap();
    assert_eq!(verified.operator_actions(), 6);
    assert_eq!(verified.rail_decisions(), 3);
    assert!(bytes.ends_with(b"}\n") && !bytes[..bytes.len() - 1].contains(&b'\n'));
}

// ----- determinism and canonical form -----

#[test]
fn export_twice_gives_identical_bytes() {
    for name in EXAMPLES {
        let first = pack_of_events(example(name)).to_file_bytes();
        let second = pack_of_events(example(name)).to_file_bytes();
        assert_eq!(first, second, "{name}");
        let text = String::from_utf8(first).unwrap();
        assert!(
            !text.trim_end().contains(['\n', '\t']),
            "{name}: no whitespace"
        );
    }
}

#[test]
fn the_software_version_is_recorded_outside_the_proof() {
    // given one history exported by this version and by a later one, both signed
    let key = PackSigningKey::from_seed([5; 32]);
    let now = build_pack(&rich_input()).unwrap().sign(&key).unwrap();
    let mut later_input = rich_input();
    later_input.software_version = "9.9.9".to_owned();
    let later = build_pack(&later_input).unwrap().sign(&key).unwrap();
    // then they differ only in producer.version: same proof, same signature
    assert_eq!(now.value()["producer"]["version"], SOFTWARE_VERSION);
    assert_eq!(later.value()["producer"]["version"], "9.9.9");
    assert_eq!(now.proof(), later.proof());
    assert_eq!(now.value()["signature"], later.value()["signature"]);
    let mut same = later.value().clone();
    same["producer"]["version"] = json!(SOFTWARE_VERSION);
    assert_eq!(&same, now.value());
    // and both verify
    assert!(verify_pack(later.value(), Some(&key.public_key())).is_ok());
}

#[test]
fn reordered_keys_and_added_whitespace_still_verify() {
    // given a valid signed pack rewritten with every object's keys reversed and indentation
    let key = PackSigningKey::from_seed([9; 32]);
    let pack = build_pack(&rich_input()).unwrap().sign(&key).unwrap();
    let scrambled = reverse_keys_pretty(pack.value(), 0);
    assert_ne!(scrambled.as_bytes(), pack.canonical_json().as_bytes());
    assert!(scrambled.contains("\n  "));
    // when it is verified
    let verified = verify_pack_bytes(scrambled.as_bytes(), Some(&key.public_key())).unwrap();
    // then it verifies as the canonical pack does: the proof is over the canonical form
    assert_eq!(verified.chain_head(), pack.proof().chain_head());
    let reparsed: Value = serde_json::from_str(&scrambled).unwrap();
    assert_eq!(canonical_json(&reparsed).unwrap(), pack.canonical_json());
}

#[test]
fn the_proof_covers_values_so_an_escaped_spelling_verifies_alike() {
    // given a signed pack, and the same file with every "bob" written "\u0062ob" and "/" as "\/"
    let key = PackSigningKey::from_seed([10; 32]);
    let pack = build_pack(&rich_input()).unwrap().sign(&key).unwrap();
    let text = pack.canonical_json();
    assert!(text.contains("\"bob\""));
    let respelled = text
        .replace("\"bob\"", "\"\\u0062ob\"")
        .replace("identity/attempt", "identity\\/attempt");
    assert_ne!(respelled, text);
    // when it is verified against the signer's key
    let verified = verify_pack_bytes(respelled.as_bytes(), Some(&key.public_key())).unwrap();
    // then it verifies as the same pack: the same values, so the same proof and signature
    assert_eq!(verified.chain_head(), pack.proof().chain_head());
    let reparsed: Value = serde_json::from_str(&respelled).unwrap();
    assert_eq!(&reparsed, pack.value());
}

#[test]
fn the_documented_recipe_recomputes_every_hash() {
    // The recipe of docs/EVIDENCE.md, written independently of the crate: canonical JSON is
    // serde_json's compact form of a sorted map (equal to RFC 8785 for a pack's content), each
    // link is SHA-256(previous link || canonical event), the first previous link is 32 zero bytes.
    for name in EXAMPLES {
        let pack = build_pack(&rich_or_plain(name)).unwrap();
        let value = pack.value();
        let mut link = [0u8; 32];
        for (index, event) in value["lifecycle_events"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            let mut hasher = Sha256::new();
            hasher.update(link);
            hasher.update(serde_json::to_string(event).unwrap().as_bytes());
            link = hasher.finalize().into();
            assert_eq!(
                value["proof"]["event_hashes"][index],
                hex(&link),
                "{name} {index}"
            );
        }
        assert_eq!(value["proof"]["chain_head"], hex(&link), "{name}");
        for (list, hashes) in [
            ("rail_decisions", "rail_decision_hashes"),
            ("operator_actions", "operator_action_hashes"),
        ] {
            let computed: Vec<Value> = value[list]
                .as_array()
                .unwrap()
                .iter()
                .map(|item| json!(hex(&Sha256::digest(serde_json::to_string(item).unwrap()))))
                .collect();
            assert_eq!(
                value["proof"][hashes],
                Value::Array(computed),
                "{name} {list}"
            );
        }
    }
}

#[test]
fn the_python_snippet_in_the_docs_verifies_packs_and_catches_tampering() {
    let Some(python) = python3() else {
        return;
    };
    let script = std::env::temp_dir().join(format!("npp-evidence-{}.py", std::process::id()));
    std::fs::write(&script, python_snippet()).unwrap();
    let dir = std::env::temp_dir().join(format!("npp-evidence-packs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for name in EXAMPLES {
        // given an exported pack
        let pack = build_pack(&rich_or_plain(name)).unwrap();
        let file = dir.join(format!("{name}.json"));
        std::fs::write(&file, pack.to_file_bytes()).unwrap();
        // when the auditor's snippet runs on it
        let output = std::process::Command::new(&python)
            .arg(&script)
            .arg(&file)
            .output()
            .unwrap();
        // then it agrees with the proof, state hash included
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{name}: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            stdout.contains(&pack.proof().state_hash().to_hex()),
            "{name}: {stdout}"
        );
        // and given the final state tampered with, it fails
        let mut tampered = pack.value().clone();
        tampered["final_state"]["version"] = json!(99);
        std::fs::write(&file, tampered.to_string()).unwrap();
        let output = std::process::Command::new(&python)
            .arg(&script)
            .arg(&file)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{name}: tampering went unnoticed");
        // and given a key written twice (the genuine value last, as Python's json keeps), it
        // refuses the file
        let text = pack.canonical_json();
        let doubled = text.replacen(
            "\"lifecycle_events\":[{",
            "\"lifecycle_events\":[{\"amount\":1,",
            1,
        );
        assert_ne!(doubled, text);
        std::fs::write(&file, doubled).unwrap();
        let output = std::process::Command::new(&python)
            .arg(&script)
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            !output.status.success(),
            "{name}: a duplicate key went unnoticed"
        );
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("duplicate key 'amount'"),
            "{name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_file(&script).unwrap();
}

// ----- tamper detection -----

#[test]
fn a_flip_of_any_byte_of_the_hashed_content_is_detected() {
    // given a small pack: three events, one operator action
    let pack = pack_of_events(example("cancelled.jsonl"));
    let bytes = pack.canonical_json().as_bytes().to_vec();
    // The producer is deliberately outside the proof (see docs/EVIDENCE.md); so is the schema
    // version, which says how to read the rest: relabelling this pack 3 means the same (checked
    // in versions.rs). Every other byte is attested content.
    let producer = producer_span(&bytes);
    let version = schema_version_digit(&bytes);
    let mut flips = 0;
    for position in 0..bytes.len() {
        if producer.contains(&position) || position == version {
            continue;
        }
        for mask in [0x01u8, 0x20, 0x80] {
            // when that one byte is flipped
            let mut flipped = bytes.clone();
            flipped[position] ^= mask;
            // then verification fails (a parse failure is a failure too)
            assert!(
                verify_pack_bytes(&flipped, None).is_err(),
                "flipping byte {position} ({:?}) with {mask:#04x} went unnoticed",
                char::from(bytes[position])
            );
            flips += 1;
        }
    }
    assert!(flips > 3 * 2000, "{flips}");
}

#[test]
fn tampered_proof_links_are_named() {
    let original = example_pack("retried.jsonl");
    let zero = json!("0".repeat(64));
    for (path, expected) in [
        (&["proof", "chain_head"][..], "proof.chain_head"),
        (&["proof", "event_hashes", "2"][..], "proof.event_hashes[2]"),
        (&["proof", "event_hashes", "7"][..], "proof.event_hashes[7]"),
        (
            &["proof", "operator_action_hashes", "0"][..],
            "operator_actions[0]",
        ),
    ] {
        let mut pack = original.clone();
        set(&mut pack, path, zero.clone());
        assert_eq!(failure_path(&pack), expected);
    }
    let mut pack = original.clone();
    set(&mut pack, &["proof", "event_count"], json!(9));
    assert_eq!(failure_path(&pack), "proof.event_count");
    let mut pack = original;
    set(&mut pack, &["proof", "event_hashes", "1"], json!("ABCDEF"));
    assert_eq!(failure_path(&pack), "proof");
}

#[test]
fn tampered_derived_views_are_named() {
    let original = example_pack("retried.jsonl");
    for (path, value, expected) in [
        (&["intent", "amount"][..], json!(1), "intent.amount"),
        (
            &["final_state", "state"][..],
            json!("FAILED"),
            "final_state.state",
        ),
        (
            &["final_state", "attempts", "1", "outcome", "settlement_ref"][..],
            json!("x"),
            "final_state.attempts[1].outcome.settlement_ref",
        ),
        (
            &["final_state", "approvals", "0", "approved_by"][..],
            json!("eve"),
            "final_state.approvals[0].approved_by",
        ),
    ] {
        let mut pack = original.clone();
        set(&mut pack, path, value);
        assert_eq!(failure_path(&pack), expected);
    }
}

#[test]
fn an_operator_action_that_disagrees_with_its_event_is_named() {
    let original = example_pack("retried.jsonl");
    for (path, value, expected) in [
        (
            &[
                "operator_actions",
                "0",
                "decision",
                "approvals",
                "0",
                "approved_by",
            ][..],
            json!("mallory"),
            "operator_actions[0].decision.approvals[0].approved_by",
        ),
        (
            &["operator_actions", "0", "requested_by"][..],
            json!("mallory"),
            "operator_actions[0].requested_by",
        ),
        (
            &["operator_actions", "0", "action"][..],
            json!("cancel"),
            "operator_actions[0].action",
        ),
        (
            &["operator_actions", "0", "attempt_id"][..],
            json!("att_1"),
            "operator_actions[0].attempt_id",
        ),
        (
            &["operator_actions", "0", "payment_intent_id"][..],
            json!("pay_999"),
            "operator_actions[0].payment_intent_id",
        ),
        (
            &["operator_actions", "0", "request_id"][..],
            json!("apr_999"),
            "operator_actions[0]",
        ),
        (
            &["operator_actions", "0", "policy_version"][..],
            json!("v2"),
            "operator_actions[0]",
        ),
    ] {
        let mut pack = original.clone();
        set(&mut pack, path, value);
        assert_eq!(failure_path(&pack), expected);
    }
}

#[test]
fn every_approval_in_the_events_needs_its_operator_action() {
    // given the action removed from a pack, and its hash from the proof, so only the
    // correspondence between actions and events can tell
    let mut pack = example_pack("retried.jsonl");
    pack["operator_actions"] = json!([]);
    pack["proof"]["operator_action_hashes"] = json!([]);
    let error = verify(&pack).unwrap_err();
    assert_eq!(
        error.path().unwrap().as_str(),
        "lifecycle_events[4].approval"
    );
    assert!(matches!(error, ExportError::ApprovalWithoutAction { .. }));
    // and the builder refuses such an input in the first place
    let mut input = EvidenceInput::from_event_history(example("retried.jsonl")).unwrap();
    input.operator_actions.clear();
    assert!(matches!(
        build_pack(&input),
        Err(ExportError::ApprovalWithoutAction { .. })
    ));
}

#[test]
fn a_rejected_action_produced_no_event() {
    // given a rejected request whose id is the approval an event carries
    let mut input = EvidenceInput::from_event_history(example("retried.jsonl")).unwrap();
    let mut rejected_one = unapproved_action("apr_001", "pay_002", rejected());
    rejected_one.action = ActionKind::Retry;
    input.operator_actions = vec![rejected_one];
    // then the builder refuses it, naming the decision
    let error = build_pack(&input).unwrap_err();
    assert_eq!(
        error.path().unwrap().as_str(),
        "operator_actions[0].decision.outcome"
    );
    assert!(
        error.to_string().contains("lifecycle_events[4].approval"),
        "{error}"
    );
}

#[test]
fn mark_failed_and_cancel_actions_match_their_events() {
    // given a payment marked failed by one approved action and retried by another
    let events = marked_failed_then_retried("pay_mf");
    let pack = pack_of_events(events.clone());
    let actions = pack.value()["operator_actions"].as_array().unwrap().clone();
    assert_eq!(actions[0]["action"], "mark-failed");
    assert_eq!(actions[1]["action"], "retry");
    assert!(verify(pack.value()).is_ok());
    // when the mark-failed action claims to be a cancel, then it disagrees with its event
    let mut input = EvidenceInput::from_event_history(events).unwrap();
    input.operator_actions[0].action = ActionKind::Cancel;
    let error = build_pack(&input).unwrap_err();
    assert_eq!(error.path().unwrap().as_str(), "operator_actions[0].action");
    assert!(error.to_string().contains("mark-failed"), "{error}");
    // and the cancelled example's action is a cancel
    let cancelled = example_pack("cancelled.jsonl");
    assert_eq!(cancelled["operator_actions"][0]["action"], "cancel");
}

#[test]
fn the_builder_refuses_inconsistent_operator_actions() {
    let base = || EvidenceInput::from_event_history(example("retried.jsonl")).unwrap();
    // four eyes
    let mut input = base();
    if let Decision::Approved { approvals } = &mut input.operator_actions[0].decision {
        approvals[0].approved_by = op("alice");
    }
    let error = build_pack(&input).unwrap_err();
    assert!(matches!(error, ExportError::SelfApproval { .. }), "{error}");
    // one request id, one action
    let mut input = base();
    input
        .operator_actions
        .push(input.operator_actions[0].clone());
    let error = build_pack(&input).unwrap_err();
    assert_eq!(
        error.path().unwrap().as_str(),
        "operator_actions[1].request_id"
    );
    // an approval before the request
    let mut input = base();
    input.operator_actions[0].requested_at = Some(at(10_000));
    let error = build_pack(&input).unwrap_err();
    assert!(
        matches!(error, ExportError::DecidedBeforeRequest { .. }),
        "{error}"
    );
    // an approved request that produced nothing
    let mut input = base();
    input.operator_actions.push(OperatorAction {
        decision: Decision::Approved { approvals: vec![] },
        ..unapproved_action("req_x", "pay_002", Decision::Pending)
    });
    assert!(matches!(
        build_pack(&input),
        Err(ExportError::NoApprovals { .. })
    ));
    // a request about another payment
    let mut input = base();
    input
        .operator_actions
        .push(unapproved_action("req_y", "pay_other", Decision::Pending));
    let error = build_pack(&input).unwrap_err();
    assert_eq!(
        error.path().unwrap().as_str(),
        "operator_actions[1].payment_intent_id"
    );
}

#[test]
fn a_rail_decision_names_an_attempt_the_payment_had() {
    let mut input = rich_input();
    input
        .rail_decisions
        .insert(0, rail_decision(Some("att_9"), 0));
    let error = build_pack(&input).unwrap_err();
    assert_eq!(
        error.path().unwrap().as_str(),
        "rail_decisions[0].attempt_id"
    );
    // and a tampered decision in a pack is caught by its hash
    let mut pack = build_pack(&rich_input()).unwrap().value().clone();
    set(&mut pack, &["rail_decisions", "1", "rail"], json!("BECS"));
    assert_eq!(failure_path(&pack), "rail_decisions[1]");
}

#[test]
fn an_illegal_history_is_refused_with_the_rule_and_the_event() {
    let error = build_pack(
        &EvidenceInput::from_event_history(example("invalid/settle-after-expiry.jsonl")).unwrap(),
    )
    .unwrap_err();
    assert_eq!(error.path().unwrap().as_str(), "lifecycle_events[2].type");
    assert!(
        error.to_string().contains("lifecycle/terminal-state"),
        "{error}"
    );
    let error = build_pack(&EvidenceInput::from_event_history(vec![]).unwrap()).unwrap_err();
    assert!(matches!(error, ExportError::EmptyHistory { .. }));
}

#[test]
fn numbers_beyond_what_json_carries_exactly_are_refused() {
    let mut big = vec![intent("pay_big", 0)];
    let mut value = serde_json::to_value(&big[0]).unwrap();
    value["amount"] = json!(9_007_199_254_740_993_i64);
    big[0] = serde_json::from_value(value).unwrap();
    // The core refuses an amount over `Money::MAX_PAYMENT` (below 2^53) before any pack exists,
    // so no accepted payment is ever beyond what a pack can carry.
    let error = build_pack(&EvidenceInput::from_event_history(big).unwrap()).unwrap_err();
    assert_eq!(error.path().unwrap().as_str(), "lifecycle_events[0].amount");
    assert!(
        error.to_string().contains("money/amount-within-limit"),
        "{error}"
    );
    // And a pack whose file carries such a number is refused by the canonical form, too.
    let mut pack =
        build_pack(&EvidenceInput::from_event_history(vec![intent("pay_big", 0)]).unwrap())
            .unwrap()
            .value()
            .clone();
    set(
        &mut pack,
        &["lifecycle_events", "0", "amount"],
        json!(9_007_199_254_740_993_i64),
    );
    let bytes = serde_json::to_vec(&pack).unwrap();
    let error = verify_pack_bytes(&bytes, None).unwrap_err();
    assert!(
        matches!(error, ExportError::NumberNotCanonical { .. }),
        "{error:?}"
    );
}

#[test]
fn the_largest_payment_is_exportable() {
    let mut value = serde_json::to_value(intent("pay_max", 0)).unwrap();
    value["amount"] = json!(core_npp::Money::MAX_PAYMENT.minor_units());
    let history = vec![serde_json::from_value(value).unwrap()];
    let pack = build_pack(&EvidenceInput::from_event_history(history).unwrap()).unwrap();
    verify_pack_bytes(&pack.to_file_bytes(), None).unwrap();
}

#[test]
fn content_in_another_spelling_is_refused_even_with_resealed_hashes() {
    // given an event rewritten with an equivalent timestamp and every hash recomputed over it
    let mut pack = example_pack("retried.jsonl");
    set(
        &mut pack,
        &["lifecycle_events", "1", "occurred_at"],
        json!("2025-12-17T10:00:00.100Z"),
    );
    reseal(&mut pack);
    // then the one-form rule names it
    let error = verify(&pack).unwrap_err();
    assert_eq!(
        error.path().unwrap().as_str(),
        "lifecycle_events[1].occurred_at"
    );
    assert!(
        matches!(error, ExportError::NotCanonicalForm { .. }),
        "{error}"
    );
}

#[test]
fn a_consistent_forgery_is_caught_only_by_a_trusted_signature() {
    // given a signed pack, and a forger who changes where the money went and rebuilds the pack
    let key = PackSigningKey::from_seed([11; 32]);
    let genuine = pack_of_events(example("retried.jsonl")).sign(&key).unwrap();
    let mut events = example("retried.jsonl");
    let mut settled = serde_json::to_value(&events[7]).unwrap();
    settled["settlement_ref"] = json!("settle_999");
    events[7] = serde_json::from_value(settled).unwrap();
    let rebuilt = pack_of_events(events);
    // when the forger keeps the genuine signature, then the signature fails
    let mut forged = rebuilt.value().clone();
    forged["signature"] = genuine.value()["signature"].clone();
    let error = verify_pack(&forged, None).unwrap_err();
    assert_eq!(error.path().unwrap().as_str(), "signature.value");
    // when the forger signs with their own key, the pack is consistent on its own...
    let forger = PackSigningKey::from_seed([12; 32]);
    let reforged = rebuilt.sign(&forger).unwrap();
    assert!(matches!(
        verify_pack(reforged.value(), None).unwrap().signature(),
        SignatureStatus::SelfConsistent(_)
    ));
    // ...but not signed by the trusted key
    let error = verify_pack(reforged.value(), Some(&key.public_key())).unwrap_err();
    assert_eq!(error.path().unwrap().as_str(), "signature.public_key");
}

// ----- signatures -----

#[test]
fn a_signature_checks_with_the_right_key_and_fails_with_the_wrong_one() {
    // given a pack signed with one key
    let key = PackSigningKey::from_seed([21; 32]);
    let other = PackSigningKey::from_seed([22; 32]);
    let pack = pack_of_events(example("retried.jsonl")).sign(&key).unwrap();
    // then it verifies against that key
    let verified = verify_pack(pack.value(), Some(&key.public_key())).unwrap();
    assert_eq!(
        verified.signature(),
        SignatureStatus::Trusted(key.public_key())
    );
    assert!(verified.summary().contains("trusted key"));
    // and not against another
    let error = verify_pack(pack.value(), Some(&other.public_key())).unwrap_err();
    assert!(matches!(error, ExportError::SignedByOtherKey { .. }));
    assert_eq!(error.path().unwrap().as_str(), "signature.public_key");
    // and a signature that is not the key's fails
    let mut bent = pack.value().clone();
    let value = bent["signature"]["value"].as_str().unwrap().to_owned();
    let flipped = if value.starts_with('0') { "1" } else { "0" };
    bent["signature"]["value"] = json!(format!("{flipped}{}", &value[1..]));
    let error = verify_pack(&bent, Some(&key.public_key())).unwrap_err();
    assert_eq!(error.path().unwrap().as_str(), "signature.value");
}

#[test]
fn unsigned_packs_verify_their_proof_but_not_a_trusted_key() {
    let key = PackSigningKey::from_seed([31; 32]);
    let pack = pack_of_events(example("settled.jsonl"));
    assert_eq!(
        verify(pack.value()).unwrap().signature(),
        SignatureStatus::Unsigned
    );
    let error = verify_pack(pack.value(), Some(&key.public_key())).unwrap_err();
    assert_eq!(error.path().unwrap().as_str(), "signature");
    assert!(matches!(error, ExportError::SignatureMissing { .. }));
}

#[test]
fn signing_is_deterministic() {
    let key = PackSigningKey::from_seed([41; 32]);
    let first = pack_of_events(example("cancelled.jsonl"))
        .sign(&key)
        .unwrap();
    let second = pack_of_events(example("cancelled.jsonl"))
        .sign(&key)
        .unwrap();
    assert_eq!(first.to_file_bytes(), second.to_file_bytes());
}

// ----- unreadable files -----

#[test]
fn files_that_are_not_packs_are_unreadable_not_invalid() {
    let pack = example_pack("settled.jsonl");
    let mut newer = pack.clone();
    newer["schema_version"] = json!(4);
    let mut older = pack.clone();
    older["schema_version"] = json!(0);
    let mut other_format = pack.clone();
    other_format["format"] = json!("something-else");
    for (bytes, what) in [
        (b"not json".to_vec(), "not JSON"),
        (b"[1,2,3]".to_vec(), "not an object"),
        (b"{\"type\":\"PaymentSettled\"}".to_vec(), "an event"),
        (serde_json::to_vec(&newer).unwrap(), "schema version 4"),
        (serde_json::to_vec(&older).unwrap(), "schema version 0"),
        (serde_json::to_vec(&other_format).unwrap(), "another format"),
    ] {
        let error = verify_pack_bytes(&bytes, None).unwrap_err();
        assert!(error.is_unreadable(), "{what}: {error}");
    }
    let mut missing = pack.clone();
    missing.as_object_mut().unwrap().remove("proof");
    let error = verify(&missing).unwrap_err();
    assert!(!error.is_unreadable());
    assert_eq!(error.path().unwrap().as_str(), "proof");
    let mut extra = pack;
    extra["comment"] = json!("hello");
    assert_eq!(failure_path(&extra), "comment");
}

// ----- the property: any single change is caught where it was made -----

/// One change to a list of the pack (events or operator actions).
#[derive(Clone, Debug)]
enum Change {
    /// Change one leaf value (strings get a character, numbers +1, booleans flip).
    Leaf { element: usize, leaf: usize },
    /// Remove one member of one object inside the element.
    RemoveMember { element: usize, member: usize },
    /// Add a member the format does not define.
    AddMember { element: usize },
    /// Remove the element.
    Remove { element: usize },
    /// Insert a copy of an element.
    InsertCopy { at: usize, of: usize },
    /// Insert a new element (an expiry for events, a pending request for actions).
    InsertNew { at: usize },
    /// Swap two elements.
    Swap { a: usize, b: usize },
}

fn change() -> impl Strategy<Value = Change> {
    let n = 0usize..64;
    prop_oneof![
        (n.clone(), n.clone()).prop_map(|(element, leaf)| Change::Leaf { element, leaf }),
        (n.clone(), n.clone())
            .prop_map(|(element, member)| Change::RemoveMember { element, member }),
        n.clone().prop_map(|element| Change::AddMember { element }),
        n.clone().prop_map(|element| Change::Remove { element }),
        (n.clone(), n.clone()).prop_map(|(at, of)| Change::InsertCopy { at, of }),
        n.clone().prop_map(|at| Change::InsertNew { at }),
        (n.clone(), n).prop_map(|(a, b)| Change::Swap { a, b }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_single_change_to_an_event_or_action_is_caught_where_it_was_made(
        events in any::<bool>(),
        change in change(),
    ) {
        // given a valid pack with every kind of operator action
        let original = build_pack(&rich_input()).unwrap().value().clone();
        let list = if events { "lifecycle_events" } else { "operator_actions" };
        // when one event or action is changed, removed, inserted or moved
        let mut pack = original.clone();
        let items = pack[list].as_array_mut().unwrap();
        apply(items, &change, events);
        let before = original[list].as_array().unwrap();
        let first_changed = (0..before.len().max(items.len())).find(|i| before.get(*i) != items.get(*i));
        prop_assume!(first_changed.is_some());
        let expected = format!("{list}[{}]", first_changed.unwrap());
        // then verification fails, naming that element or a field inside it
        let error = verify(&pack).unwrap_err();
        let path = error.path().map(|p| p.as_str().to_owned()).unwrap_or_default();
        prop_assert!(
            path == expected || path.starts_with(&format!("{expected}.")) || path.starts_with(&format!("{expected}[")),
            "{change:?} expected {expected}, got {path}: {error}"
        );
    }
}

fn apply(items: &mut Vec<Value>, change: &Change, events: bool) {
    let n = items.len();
    match change {
        Change::Leaf { element, leaf } => {
            let item = &mut items[element % n];
            let leaves = leaf_paths(item);
            let leaf = pointer_to(item, &leaves[leaf % leaves.len()]);
            *leaf = match leaf.take() {
                Value::String(text) => Value::String(format!("{text}0")),
                Value::Number(number) => json!(number.as_i64().unwrap() + 1),
                Value::Bool(flag) => Value::Bool(!flag),
                other => panic!("unexpected leaf {other}"),
            };
        }
        Change::RemoveMember { element, member } => {
            let item = &mut items[element % n];
            let members = member_paths(item);
            let (parent, key) = &members[member % members.len()];
            pointer_to(item, parent)
                .as_object_mut()
                .unwrap()
                .remove(key);
        }
        Change::AddMember { element } => {
            items[element % n]["unexpected"] = json!(1);
        }
        Change::Remove { element } => {
            items.remove(element % n);
        }
        Change::InsertCopy { at, of } => {
            let copy = items[of % n].clone();
            items.insert(at % (n + 1), copy);
        }
        Change::InsertNew { at } => {
            let new = if events {
                serde_json::to_value(expired("pay_002", 7200)).unwrap()
            } else {
                serde_json::to_value(unapproved_action("req_new", "pay_002", Decision::Pending))
                    .unwrap()
            };
            items.insert(at % (n + 1), new);
        }
        Change::Swap { a, b } => items.swap(a % n, b % n),
    }
}

// ----- helpers -----

/// A step down into a JSON value.
#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

fn pointer_to<'a>(value: &'a mut Value, path: &[Step]) -> &'a mut Value {
    path.iter().fold(value, |value, step| match step {
        Step::Key(key) => &mut value[key.as_str()],
        Step::Index(index) => &mut value[*index],
    })
}

/// Every path to a string, number or boolean inside `value`.
fn leaf_paths(value: &Value) -> Vec<Vec<Step>> {
    let mut out = Vec::new();
    walk(value, &mut Vec::new(), &mut |path, value| {
        if matches!(value, Value::String(_) | Value::Number(_) | Value::Bool(_)) {
            out.push(path.to_vec());
        }
    });
    out
}

/// Every (object path, key) pair inside `value`.
fn member_paths(value: &Value) -> Vec<(Vec<Step>, String)> {
    let mut out = Vec::new();
    walk(value, &mut Vec::new(), &mut |path, value| {
        if let Value::Object(members) = value {
            out.extend(members.keys().map(|key| (path.to_vec(), key.clone())));
        }
    });
    out
}

fn walk(value: &Value, path: &mut Vec<Step>, visit: &mut dyn FnMut(&[Step], &Value)) {
    visit(path, value);
    match value {
        Value::Object(members) => {
            for (key, member) in members {
                path.push(Step::Key(key.clone()));
                walk(member, path, visit);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                path.push(Step::Index(index));
                walk(item, path, visit);
                path.pop();
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
    }
}

/// JSON text with every object's keys in reverse order and two-space indentation: the same value,
/// spelled differently.
fn reverse_keys_pretty(value: &Value, depth: usize) -> String {
    let indent = "  ".repeat(depth + 1);
    let close = "  ".repeat(depth);
    match value {
        Value::Object(members) => {
            let inner: Vec<String> = members
                .iter()
                .rev()
                .map(|(key, member)| {
                    format!(
                        "{indent}{} :  {}",
                        Value::from(key.as_str()),
                        reverse_keys_pretty(member, depth + 1)
                    )
                })
                .collect();
            format!("{{\n{}\n{close}}}", inner.join(",\n"))
        }
        Value::Array(items) if !items.is_empty() => {
            let inner: Vec<String> = items
                .iter()
                .map(|item| format!("{indent}{}", reverse_keys_pretty(item, depth + 1)))
                .collect();
            format!("[\n{}\n{close}]", inner.join(" ,\n"))
        }
        other => other.to_string(),
    }
}

/// Recomputes every hash of the proof from the content, as a forger (or the docs' recipe) would.
fn reseal(pack: &mut Value) {
    let mut link = [0u8; 32];
    let mut links = Vec::new();
    for event in pack["lifecycle_events"].as_array().unwrap() {
        let mut hasher = Sha256::new();
        hasher.update(link);
        hasher.update(serde_json::to_string(event).unwrap().as_bytes());
        link = hasher.finalize().into();
        links.push(json!(hex(&link)));
    }
    pack["proof"]["event_count"] = json!(links.len());
    pack["proof"]["event_hashes"] = Value::Array(links);
    pack["proof"]["chain_head"] = json!(hex(&link));
    for (list, hashes) in [
        ("rail_decisions", "rail_decision_hashes"),
        ("operator_actions", "operator_action_hashes"),
    ] {
        let computed: Vec<Value> = pack[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| json!(hex(&Sha256::digest(serde_json::to_string(item).unwrap()))))
            .collect();
        pack["proof"][hashes] = Value::Array(computed);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The byte range of the producer object's value in canonical pack bytes.
fn producer_span(bytes: &[u8]) -> std::ops::Range<usize> {
    let text = std::str::from_utf8(bytes).unwrap();
    let start = text.find("\"producer\":{").unwrap() + "\"producer\":".len();
    let end = start + text[start..].find('}').unwrap() + 1;
    start..end
}

/// The position of the one digit of the pack's `schema_version`.
fn schema_version_digit(bytes: &[u8]) -> usize {
    let text = std::str::from_utf8(bytes).unwrap();
    let key = "\"schema_version\":";
    let at = text.find(key).unwrap() + key.len();
    assert!(bytes[at].is_ascii_digit() && !bytes[at + 1].is_ascii_digit());
    at
}

/// The retried example with every kind of element, or any other example as a bare history.
fn rich_or_plain(name: &str) -> EvidenceInput {
    if name == "retried.jsonl" {
        rich_input()
    } else {
        EvidenceInput::from_event_history(example(name)).unwrap()
    }
}

/// The auditor's Python snippet from docs/EVIDENCE.md.
fn python_snippet() -> String {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/EVIDENCE.md"),
    )
    .unwrap();
    let start = doc
        .find("```python\n")
        .expect("docs/EVIDENCE.md has a python block")
        + "```python\n".len();
    let end = start + doc[start..].find("```").unwrap();
    doc[start..end].to_owned()
}

/// `python3`, if this machine has it. Under CI its absence is a failure, elsewhere a loud skip.
fn python3() -> Option<String> {
    let found = std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some("python3".to_owned());
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "python3 is needed to check the auditor's snippet in docs/EVIDENCE.md"
    );
    eprintln!("SKIPPED: python3 not found; the auditor's snippet in docs/EVIDENCE.md was not run");
    None
}
