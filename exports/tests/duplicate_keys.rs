//! Duplicate keys: a pack file that writes one key twice in an object, at any depth, is refused
//! by `verify_pack_bytes`, signed or not, naming the JSON path of the repeated key, although a
//! reader that keeps the last value (serde_json's `Value`, Python's `json`) would see a valid
//! pack.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

mod support;

use exports::*;
use serde_json::Value;
use support::*;

/// `bytes` with `insert` placed right after the first occurrence of `anchor`.
fn inserted(bytes: &[u8], anchor: &str, insert: &str) -> Vec<u8> {
    let text = std::str::from_utf8(bytes).unwrap();
    let at = text.find(anchor).unwrap_or_else(|| panic!("no {anchor:?}")) + anchor.len();
    format!("{}{insert}{}", &text[..at], &text[at..]).into_bytes()
}

/// Each place a duplicate is written: after which text, what, and the path it must be named by.
/// Every inserted member comes first, so the genuine one is the repetition a last-value reader
/// keeps.
const CASES: [(&str, &str, &str); 8] = [
    (
        "\"lifecycle_events\":[{",
        "\"amount\":1,",
        "lifecycle_events[0].amount",
    ),
    (
        "\"lifecycle_events\":[{",
        "\"\\u0061mount\":1,",
        "lifecycle_events[0].amount",
    ),
    ("{", "\"operator_actions\":[],", "operator_actions"),
    (
        "\"operator_actions\":[{",
        "\"requested_by\":\"mallory\",",
        "operator_actions[0].requested_by",
    ),
    (
        "\"operator_actions\":[{\"action\":\"retry\",\"attempt_id\":\"att_2\",\"decision\":{\"approvals\":[{",
        "\"approved_by\":\"mallory\",",
        "operator_actions[0].decision.approvals[0].approved_by",
    ),
    (
        "\"final_state\":{\"approvals\":[{",
        "\"approved_by\":\"mallory\",",
        "final_state.approvals[0].approved_by",
    ),
    (
        "\"proof\":{",
        "\"state_hash\":\"0000000000000000000000000000000000000000000000000000000000000000\",",
        "proof.state_hash",
    ),
    (
        "\"signature\":{",
        "\"public_key\":\"00\",",
        "signature.public_key",
    ),
];

#[test]
fn a_duplicate_key_is_refused_at_every_depth_signed_or_not() {
    let key = PackSigningKey::from_seed([51; 32]);
    let signed = pack_of_events(example("retried.jsonl"))
        .sign(&key)
        .unwrap()
        .to_file_bytes();
    let unsigned = pack_of_events(example("retried.jsonl")).to_file_bytes();
    for (anchor, insert, named) in CASES {
        for (bytes, trusted) in [
            (&signed, Some(key.public_key())),
            (&signed, None),
            (&unsigned, None),
        ] {
            if bytes == &unsigned && anchor == "\"signature\":{" {
                continue;
            }
            // given a pack file with one key written twice
            let doubled = inserted(bytes, anchor, insert);
            // when its bytes are verified
            let error = verify_pack_bytes(&doubled, trusted.as_ref()).unwrap_err();
            // then it is refused as invalid, naming the repeated key
            assert!(
                matches!(error, ExportError::DuplicateKey { .. }),
                "{named}: {error:?}"
            );
            assert_eq!(error.path().unwrap().as_str(), named);
            assert!(!error.is_unreadable(), "{named}");
            assert!(error.to_string().contains("duplicate key"), "{error}");
        }
    }
}

#[test]
fn a_last_value_reader_would_accept_what_the_strict_reader_refuses() {
    // given the unsigned and signed packs with a first, forged amount before the genuine one,
    // and two operator_actions arrays, the empty one first
    let key = PackSigningKey::from_seed([52; 32]);
    let signed = pack_of_events(example("retried.jsonl"))
        .sign(&key)
        .unwrap()
        .to_file_bytes();
    for (anchor, insert, named) in [CASES[0], CASES[2]] {
        let doubled = inserted(&signed, anchor, insert);
        // when a lenient parser reads it, the genuine last value wins and the pack verifies,
        // signature and all: what another reader sees first is never checked
        let lenient: Value = serde_json::from_slice(&doubled).unwrap();
        verify_pack(&lenient, Some(&key.public_key())).unwrap();
        // but the file, read strictly, is refused
        let error = verify_pack_bytes(&doubled, Some(&key.public_key())).unwrap_err();
        assert_eq!(error.path().unwrap().as_str(), named);
    }
}

#[test]
fn the_strict_parser_reads_a_pack_as_serde_json_does() {
    // given a signed pack written canonically and rewritten with whitespace
    let key = PackSigningKey::from_seed([53; 32]);
    let pack = build_pack(&rich_input()).unwrap().sign(&key).unwrap();
    let pretty = serde_json::to_vec_pretty(pack.value()).unwrap();
    for bytes in [pack.to_file_bytes(), pretty] {
        // when both readers parse it, then they agree, and it verifies from its bytes
        let strict = parse_strict(&bytes).unwrap();
        let lenient: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(strict, lenient);
        verify_pack_bytes(&bytes, Some(&key.public_key())).unwrap();
    }
}

#[test]
fn bytes_that_are_not_one_json_value_stay_unreadable() {
    let pack = pack_of_events(example("settled.jsonl")).to_file_bytes();
    let mut trailing = pack.clone();
    trailing.extend_from_slice(b"{}");
    for bytes in [trailing, b"{\"format\":".to_vec(), vec![0xff, 0xfe]] {
        let error = verify_pack_bytes(&bytes, None).unwrap_err();
        assert!(matches!(error, ExportError::NotJson { .. }), "{error:?}");
        assert!(error.is_unreadable());
    }
}
