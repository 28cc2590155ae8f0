//! Replay guarantees: the seed's seven scenarios, every event type through `rebuild_from_events`,
//! and a golden hash that pins the state encoding.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

mod support;

use core_npp::*;
use support::*;

const P: &str = "pay_1";

fn retried_to_settlement() -> Vec<PaymentEvent> {
    let mut history = timed_out(P);
    history.push(retry(P, 10, "att_2", approval("apr_1", "alice", "bob", 9)));
    history.push(sent(P, 11, "att_2"));
    history.push(acked(P, 12, "att_2"));
    history.push(settled(P, 13, "att_2"));
    history
}

#[test]
fn scenario_1_happy_path_replays_to_settled() {
    // Given the happy path
    let history = happy_path(P);
    // When it is replayed
    let replay = rebuild_from_events(&history).unwrap();
    // Then the payment is SETTLED by its one attempt, with the amount transferred
    let payment = replay.payment();
    assert_eq!(payment.state(), PaymentState::Settled);
    assert_eq!(replay.event_count(), 5);
    assert_eq!(payment.version(), 5);
    let attempt = payment.settled_attempt().unwrap();
    assert_eq!(attempt.attempt_id(), att("att_1"));
    assert!(matches!(
        attempt.outcome(),
        Some(AttemptOutcome::Settled { funds_transferred, .. }) if funds_transferred.minor_units() == AMOUNT
    ));
}

#[test]
fn scenario_2_failure_path_replays_to_failed() {
    // Given a payment the payee bank rejected
    let history = vec![
        intent(P, 0),
        authorised(P, 1),
        sent(P, 2, "att_1"),
        failed(
            P,
            3,
            Some("att_1"),
            FailureReason::RailRejected,
            Some("AC01"),
        ),
    ];
    // When it is replayed
    let payment = given(&history);
    // Then it is FAILED with the rail's reason and detail
    assert_eq!(payment.state(), PaymentState::Failed);
    let failure = payment.last_failure().unwrap();
    assert_eq!(failure.reason(), FailureReason::RailRejected);
    assert_eq!(failure.detail().map(FreeText::as_str), Some("AC01"));
}

#[test]
fn scenario_3_retry_after_failure_replays_to_settled() {
    // Given a timed-out payment retried with approval and then settled
    let history = retried_to_settlement();
    // When it is replayed
    let payment = given(&history);
    // Then it is SETTLED on the second attempt, and the first attempt's failure is kept
    assert_eq!(payment.state(), PaymentState::Settled);
    assert_eq!(payment.attempts().len(), 2);
    assert!(matches!(
        payment.attempts()[0].outcome(),
        Some(AttemptOutcome::Failed {
            reason: FailureReason::RailTimeout,
            ..
        })
    ));
    assert_eq!(
        payment.settled_attempt().unwrap().attempt_id(),
        att("att_2")
    );
    assert_eq!(payment.approvals()[0].approved_by().as_str(), "bob");
}

#[test]
fn scenario_4_operator_cancellation_replays_to_failed_cancelled() {
    // Given an authorised payment that alice cancelled with carol's approval
    let history = vec![
        intent(P, 0),
        authorised(P, 1),
        cancelled(P, 5, approval("apr_1", "alice", "carol", 4)),
    ];
    // When it is replayed
    let payment = given(&history);
    // Then it is FAILED with reason CANCELLED, and the approval is on record
    assert_eq!(payment.state(), PaymentState::Failed);
    assert_eq!(
        payment.last_failure().unwrap().reason(),
        FailureReason::Cancelled
    );
    assert_eq!(payment.approvals().len(), 1);
}

#[test]
fn scenario_5_partial_replay_gives_each_intermediate_state() {
    // Given the happy path
    let history = happy_path(P);
    let expected = [
        PaymentState::Created,
        PaymentState::Authorised,
        PaymentState::Sent,
        PaymentState::Acknowledged,
        PaymentState::Settled,
    ];
    for (end, state) in (1..=history.len()).zip(expected) {
        // When only its first `end` events are replayed
        let payment = given(&history[..end]);
        // Then the state is the one those events imply
        assert_eq!(payment.state(), state, "after {end} events");
        assert_eq!(payment.version() as usize, end);
    }
}

#[test]
fn scenario_6_event_order_is_enforced() {
    // Given the happy path with settlement before sending
    let mut history = happy_path(P);
    history.swap(2, 4);
    // When it is replayed
    let result = rebuild_from_events(&history);
    // Then event 3 is named as the one that breaks the rule
    let Err(ReplayError::Rejected {
        index,
        event,
        error,
    }) = result
    else {
        panic!("{result:?}")
    };
    assert_eq!((index, event), (3, EventKind::PaymentSettled));
    assert_eq!(error.category(), InvariantCategory::Lifecycle);
}

#[test]
fn scenario_7_repeated_replays_give_equal_hashes() {
    // Given the retry scenario
    let history = retried_to_settlement();
    // When it is replayed a hundred times
    let first = given(&history).state_hash();
    // Then every replay gives the same payment and hash
    for _ in 0..100 {
        let again = given(&history);
        assert_eq!(again.state_hash(), first);
    }
}

#[test]
fn replay_and_step_by_step_apply_agree() {
    // Given the retry scenario applied one event at a time with `apply`
    let history = retried_to_settlement();
    let mut payment = Payment::create(&history[0]).unwrap();
    for event in &history[1..] {
        payment = changed(payment.apply(event));
    }
    // Then the result equals the replay's
    assert_eq!(payment, given(&history));
}

#[test]
fn replay_covers_expiry_and_operator_marked_failure() {
    // Given an expired intent and a payment an operator marked failed
    let expiry = given(&[intent(P, 0), authorised(P, 1), expired(P, 900)]);
    let mut marked = happy_path(P)[..4].to_vec();
    marked.push(marked_failed(
        P,
        100,
        "att_1",
        approval("apr_1", "alice", "bob", 99),
    ));
    let marked = given(&marked);
    // Then each reaches its state
    assert_eq!(expiry.state(), PaymentState::Expired);
    assert_eq!(expiry.expired_at(), Some(at(900)));
    assert_eq!(marked.state(), PaymentState::Failed);
    assert_eq!(
        marked.last_failure().unwrap().reason(),
        FailureReason::OperatorMarkedFailed
    );
}

#[test]
fn replay_of_an_empty_history_is_an_error() {
    assert_eq!(rebuild_from_events(&[]), Err(ReplayError::EmptyHistory));
}

#[test]
fn a_duplicate_outcome_gives_the_same_hash_as_without_it() {
    // Given the happy path, and the same with the settlement repeated a second later
    let history = happy_path(P);
    let mut with_duplicate = history.clone();
    with_duplicate.push(settled(P, 5, "att_1"));
    // When both are replayed
    let plain = rebuild_from_events(&history).unwrap();
    let duplicated = rebuild_from_events(&with_duplicate).unwrap();
    // Then the hashes are equal and the duplicate is counted
    assert_eq!(
        plain.payment().state_hash(),
        duplicated.payment().state_hash()
    );
    assert_eq!(duplicated.duplicates_ignored(), 1);
    assert_eq!(duplicated.event_count(), 6);
}

fn parse_jsonl(text: &str) -> Vec<PaymentEvent> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The golden history is `examples/settled.jsonl`, the one docs/ARCHITECTURE.md documents. If this
/// hash changes, every recorded state hash changes: add a new encoding version instead.
#[test]
fn golden_state_hash_of_the_documented_history() {
    let history = parse_jsonl(include_str!("../../examples/settled.jsonl"));
    let payment = given(&history);
    assert_eq!(
        payment.state_hash().to_hex(),
        "d3ef3d3ea4d5e9635f4bffd60aef825fd79b830de6fd4b24bf6b143e2a18fbf0"
    );
    let mut bytes = Vec::new();
    payment.encode_state(&mut bytes);
    assert!(bytes.starts_with(b"NPPSTATE\x00\x01"));
}

/// The golden history with payment details is `examples/settled-with-details.jsonl`: its intent
/// carries both names, remittance text and an end-to-end id, so it is encoded in version 2. If
/// this hash changes, every hash recorded for such a payment changes: add a new version instead.
#[test]
fn golden_state_hash_of_a_history_whose_intent_carries_every_detail() {
    // Given the settled example whose intent names both parties, the remittance and its own
    // end-to-end id
    let history = parse_jsonl(include_str!("../../examples/settled-with-details.jsonl"));
    let payment = given(&history);
    assert_eq!(payment.debtor_name().unwrap().as_str(), "Zoë Nguyen");
    assert_eq!(payment.end_to_end_id().unwrap().as_str(), "INV 2025/117");
    // When its state is hashed
    let hash = payment.state_hash().to_hex();
    // Then the hash is the pinned one, in encoding version 2
    assert_eq!(
        hash,
        "b25f7b82c7d051193ee2b15f36048007368ac5b8778f9a99a2004c0bcac46d5e"
    );
    assert_eq!(payment.state_encoding_version(), 2);
    let mut bytes = Vec::new();
    payment.encode_state(&mut bytes);
    assert!(bytes.starts_with(b"NPPSTATE\x00\x02"));
}

#[test]
fn two_intents_differing_only_in_a_name_hash_differently() {
    // Given the detailed example, and the same history with another payee name
    let history = parse_jsonl(include_str!("../../examples/settled-with-details.jsonl"));
    let mut renamed = history.clone();
    let PaymentEvent::PaymentIntentCreated(intent) = &history[0] else {
        panic!("the example starts with its intent");
    };
    renamed[0] = PaymentEvent::PaymentIntentCreated(
        intent
            .clone()
            .with_creditor_name(PartyName::parse("O'Brien and Sons Pty Ltd").unwrap()),
    );
    // When both are replayed
    let (original, other) = (given(&history), given(&renamed));
    // Then they are equal in everything but the name, and their hashes differ
    assert_eq!(original.state(), other.state());
    assert_eq!(original.debtor_name(), other.debtor_name());
    assert_ne!(original.creditor_name(), other.creditor_name());
    assert_ne!(original.state_hash(), other.state_hash());
}

#[test]
fn every_example_history_replays_and_round_trips_through_json() {
    let examples = [
        include_str!("../../examples/settled.jsonl"),
        include_str!("../../examples/settled-with-details.jsonl"),
        include_str!("../../examples/retried.jsonl"),
        include_str!("../../examples/cancelled.jsonl"),
        include_str!("../../examples/late-failure-with-duplicate.jsonl"),
    ];
    for text in examples {
        let history = parse_jsonl(text);
        let hash = given(&history).state_hash();
        // Serialising and parsing again gives the same events, so the same hash.
        let again: Vec<PaymentEvent> = history
            .iter()
            .map(|e| serde_json::from_str(&serde_json::to_string(e).unwrap()).unwrap())
            .collect();
        assert_eq!(again, history);
        assert_eq!(given(&again).state_hash(), hash);
    }
}
