//! The four invariant categories, rule by rule, in given/when/then form.
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

// ---------------------------------------------------------------- lifecycle

#[test]
fn lifecycle_history_must_start_with_the_intent() {
    // Given a history that starts with an authorisation
    let history = [authorised(P, 0)];
    // When it is replayed
    let result = rebuild_from_events(&history);
    // Then event 1 is rejected by the starts-with-intent rule
    let Err(ReplayError::Rejected {
        index: 1, error, ..
    }) = result
    else {
        panic!("{result:?}")
    };
    assert_eq!(error.rule(), "lifecycle/starts-with-intent");
}

#[test]
fn lifecycle_a_stream_holds_exactly_one_intent() {
    // Given a created payment
    let payment = given(&[intent(P, 0)]);
    // When the same intent arrives again
    let result = payment.apply(&intent(P, 1));
    // Then it is refused
    assert_eq!(rule_of(result), "lifecycle/one-intent");
}

#[test]
fn lifecycle_settled_is_final() {
    // Given a settled payment
    let payment = given(&happy_path(P));
    // When an expiry arrives
    let result = payment.apply(&expired(P, 10));
    // Then the terminal rule refuses it
    assert_eq!(rule_of(result), "lifecycle/terminal-state");
}

#[test]
fn lifecycle_expired_is_final() {
    // Given an expired payment
    let payment = given(&[intent(P, 0), expired(P, 1)]);
    // When an authorisation arrives
    let result = payment.apply(&authorised(P, 2));
    // Then the terminal rule refuses it
    assert_eq!(rule_of(result), "lifecycle/terminal-state");
}

#[test]
fn lifecycle_failed_is_final_for_rail_events() {
    // Given a payment whose attempt timed out
    let payment = given(&timed_out(P));
    // When a late acknowledgement of that attempt arrives
    let result = payment.apply(&acked(P, 10, "att_1"));
    // Then FAILED refuses it: only an approved retry leaves FAILED
    assert_eq!(rule_of(result), "lifecycle/failed-is-final");
    assert_eq!(payment.state(), PaymentState::Failed);
}

#[test]
fn lifecycle_settling_an_unsent_payment_is_an_illegal_transition() {
    // Given a created payment
    let payment = given(&[intent(P, 0)]);
    // When a settlement arrives
    let result = payment.apply(&settled(P, 1, "att_1"));
    // Then the matrix has no such move
    assert_eq!(rule_of(result), "lifecycle/legal-transition");
}

#[test]
fn lifecycle_cancel_after_send_needs_a_recall() {
    // Given a sent payment
    let payment = given(&happy_path(P)[..3]);
    // When an approved cancellation arrives
    let result = payment.apply(&cancelled(P, 10, approval("apr_1", "alice", "bob", 9)));
    // Then it is refused, and the message says a recall is needed
    let Err(error) = result else {
        panic!("cancel after send was accepted")
    };
    assert_eq!(error.rule(), "lifecycle/cancel-before-send");
    assert!(error.to_string().contains("recall"), "{error}");
}

#[test]
fn lifecycle_expiry_after_send_is_refused() {
    // Given an acknowledged payment
    let payment = given(&happy_path(P)[..4]);
    // When its deadline passes
    let result = payment.apply(&expired(P, 10));
    // Then it is not silently expired: the money may have moved
    assert_eq!(rule_of(result), "lifecycle/expire-before-send");
}

#[test]
fn lifecycle_authorisation_needs_passed_policy_checks() {
    // Given a created payment
    let payment = given(&[intent(P, 0)]);
    // When an authorisation says the policy checks did not pass
    let result = payment.apply(&authorised_with(P, 1, false, AMOUNT));
    // Then it is refused
    assert_eq!(rule_of(result), "lifecycle/policy-checks-passed");
}

#[test]
fn lifecycle_a_rejected_payment_is_not_retryable() {
    // Given a payment the payee bank rejected (AC04, account closed)
    let mut history = timed_out(P);
    history[3] = failed(
        P,
        3,
        Some("att_1"),
        FailureReason::RailRejected,
        Some("AC04"),
    );
    let payment = given(&history);
    // When a retry is approved
    let result = payment.apply(&retry(P, 10, "att_2", approval("apr_1", "alice", "bob", 9)));
    // Then it is refused: the failure is not retryable
    assert_eq!(rule_of(result), "lifecycle/retry-only-retryable");
}

#[test]
fn lifecycle_a_cancelled_payment_is_never_retryable() {
    // Given a cancelled payment
    let payment = given(&[
        intent(P, 0),
        authorised(P, 1),
        cancelled(P, 3, approval("apr_1", "alice", "bob", 2)),
    ]);
    assert_eq!(
        payment.last_failure().map(FailureRecord::reason),
        Some(FailureReason::Cancelled)
    );
    // When a retry is approved
    let result = payment.apply(&retry(P, 10, "att_1", approval("apr_2", "alice", "bob", 9)));
    // Then it is refused
    assert_eq!(rule_of(result), "lifecycle/retry-only-retryable");
}

#[test]
fn lifecycle_failure_reason_must_fit_the_state() {
    // Given a sent payment
    let payment = given(&happy_path(P)[..3]);
    // When our own policy "declines" it after it was sent
    let result = payment.apply(&failed(
        P,
        10,
        Some("att_1"),
        FailureReason::PolicyDeclined,
        None,
    ));
    // Then it is refused: policy decides before sending
    assert_eq!(rule_of(result), "lifecycle/failure-reason-fits-state");
}

#[test]
fn lifecycle_ack_is_not_settlement_a_late_failure_is_legal() {
    // Given an acknowledged payment
    let payment = given(&happy_path(P)[..4]);
    // When the payee bank later rejects it
    let next = changed(payment.apply(&failed(
        P,
        10,
        Some("att_1"),
        FailureReason::RailRejected,
        Some("AC06"),
    )));
    // Then the payment is FAILED and the earlier value is untouched
    assert_eq!(next.state(), PaymentState::Failed);
    assert_eq!(payment.state(), PaymentState::Acknowledged);
}

// ---------------------------------------------------------------- money

#[test]
fn money_amount_must_be_positive() {
    // Given intents for zero and minus one cent
    for amount in [0, -1] {
        // When each is replayed
        let result = rebuild_from_events(&[intent_with(P, 0, amount, "AUD")]);
        // Then it is rejected by the positive-amount rule
        let Err(ReplayError::Rejected { error, .. }) = result else {
            panic!("{result:?}")
        };
        assert_eq!(error.rule(), "money/positive-amount");
    }
}

#[test]
fn money_amount_must_be_within_the_limit() {
    // Given an intent one cent over the largest payment, and one at it
    let over = Money::MAX_PAYMENT.minor_units() + 1;
    for amount in [over, i64::MAX] {
        // When it is replayed
        let result = rebuild_from_events(&[intent_with(P, 0, amount, "AUD")]);
        // Then it is rejected by the amount-within-limit rule
        let Err(ReplayError::Rejected { error, .. }) = result else {
            panic!("{result:?}")
        };
        assert_eq!(error.rule(), "money/amount-within-limit");
    }
    let at_limit =
        rebuild_from_events(&[intent_with(P, 0, Money::MAX_PAYMENT.minor_units(), "AUD")]);
    assert!(at_limit.is_ok(), "{at_limit:?}");
    // And the limit is an exact JSON number (below 2^53)
    assert!(Money::MAX_PAYMENT.minor_units() < (1i64 << 53));
}

#[test]
fn money_currency_must_be_aud() {
    // Given an intent in New Zealand dollars
    let result = rebuild_from_events(&[intent_with(P, 0, AMOUNT, "NZD")]);
    // Then it is rejected
    let Err(ReplayError::Rejected { error, .. }) = result else {
        panic!("{result:?}")
    };
    assert_eq!(
        error,
        DomainError::UnsupportedCurrency {
            currency: Currency::parse("NZD").unwrap()
        }
    );
}

#[test]
fn money_earmark_must_equal_the_amount() {
    // Given a created payment of 500.00
    let payment = given(&[intent(P, 0)]);
    // When 499.99 is earmarked
    let result = payment.apply(&authorised_with(P, 1, true, AMOUNT - 1));
    // Then it is refused
    assert_eq!(rule_of(result), "money/earmark-equals-amount");
}

#[test]
fn money_transfer_must_equal_the_amount() {
    // Given an acknowledged payment of 500.00
    let payment = given(&happy_path(P)[..4]);
    // When the rail reports 5,000.00 transferred
    let result = payment.apply(&settled_with(P, 10, "att_1", "settle_x", AMOUNT * 10));
    // Then it is refused
    assert_eq!(rule_of(result), "money/transfer-equals-amount");
}

#[test]
fn money_settles_at_most_once() {
    // Given a settled payment
    let payment = given(&happy_path(P));
    // When another attempt reports a settlement
    let result = payment.apply(&settled(P, 10, "att_2"));
    // Then it is refused: funds move at most once
    assert_eq!(rule_of(result), "money/settled-at-most-once");
}

// ---------------------------------------------------------------- identity and ordering

#[test]
fn identity_every_event_carries_the_streams_payment_id() {
    // Given a created payment
    let payment = given(&[intent(P, 0)]);
    // When an event for another payment is applied
    let result = payment.apply(&authorised("pay_2", 1));
    // Then it is refused
    assert_eq!(rule_of(result), "identity/same-payment");
}

#[test]
fn identity_time_never_goes_backwards() {
    // Given a payment authorised at t=5
    let payment = given(&[intent(P, 0), authorised(P, 5)]);
    // When an event claims t=4
    let result = payment.apply(&sent(P, 4, "att_1"));
    // Then it is refused
    assert_eq!(rule_of(result), "identity/time-never-goes-backwards");
}

#[test]
fn identity_the_idempotency_key_never_changes() {
    // Given a created payment
    let payment = given(&[intent(P, 0)]);
    // When an intent with another key arrives for the same payment
    let other = PaymentEvent::PaymentIntentCreated(IntentCreated::new(
        pid(P),
        at(1),
        Money::from_minor_units(AMOUNT),
        Currency::AUD,
        IdempotencyKey::parse("another_key").unwrap(),
        AccountId::parse("acc_from").unwrap(),
        AccountId::parse("acc_to").unwrap(),
        AttemptLimit::default(),
    ));
    // Then it is refused for changing the key
    assert_eq!(
        rule_of(payment.apply(&other)),
        "identity/idempotency-key-fixed"
    );
}

#[test]
fn identity_outcomes_name_the_current_attempt() {
    // Given a sent payment on att_1
    let payment = given(&happy_path(P)[..3]);
    // When an acknowledgement for att_9 arrives
    let result = payment.apply(&acked(P, 10, "att_9"));
    // Then it is refused
    assert_eq!(rule_of(result), "identity/current-attempt");
}

#[test]
fn identity_attempt_ids_are_never_reused() {
    // Given a payment whose att_1 timed out
    let payment = given(&timed_out(P));
    // When a retry tries to open att_1 again
    let result = payment.apply(&retry(P, 10, "att_1", approval("apr_1", "alice", "bob", 9)));
    // Then it is refused
    assert_eq!(rule_of(result), "identity/attempt-id-never-reused");
}

#[test]
fn identity_nobody_approves_their_own_request() {
    // Given a payment whose att_1 timed out
    let payment = given(&timed_out(P));
    // When alice approves her own retry
    let result = payment.apply(&retry(
        P,
        10,
        "att_2",
        approval("apr_1", "alice", "alice", 9),
    ));
    // Then it is refused
    assert_eq!(rule_of(result), "identity/four-eyes");
}

#[test]
fn identity_one_operator_in_two_spellings_is_one_person() {
    // Given a payment whose att_1 timed out
    let payment = given(&timed_out(P));
    // When "Alice" approves alice's retry
    let result = payment.apply(&retry(
        P,
        10,
        "att_2",
        approval("apr_1", "alice", "Alice", 9),
    ));
    // Then four eyes refuses it: operator ids compare without regard to case
    assert_eq!(rule_of(result), "identity/four-eyes");
}

#[test]
fn identity_an_approval_never_predates_the_payment() {
    // Given a payment created at t=0 whose att_1 timed out
    let payment = given(&timed_out(P));
    // When a retry arrives carrying an approval dated before the payment existed
    let result = payment.apply(&retry(
        P,
        10,
        "att_2",
        approval("apr_1", "alice", "bob", -5),
    ));
    // Then it is refused
    assert_eq!(rule_of(result), "identity/approval-after-intent");
}

#[test]
fn identity_an_approval_is_single_use() {
    // Given a retried payment whose second attempt also timed out
    let mut history = timed_out(P);
    history.push(retry(P, 10, "att_2", approval("apr_1", "alice", "bob", 9)));
    history.push(sent(P, 11, "att_2"));
    history.push(failed(
        P,
        12,
        Some("att_2"),
        FailureReason::RailTimeout,
        None,
    ));
    let payment = given(&history);
    // When the same approval is presented again
    let result = payment.apply(&retry(P, 20, "att_3", approval("apr_1", "alice", "bob", 9)));
    // Then it is refused
    assert_eq!(rule_of(result), "identity/approval-single-use");
}

#[test]
fn identity_operator_marked_failure_needs_an_approval() {
    // Given a sent payment
    let payment = given(&happy_path(P)[..3]);
    // When it is marked failed by an operator without an approval
    let result = payment.apply(&failed(
        P,
        10,
        Some("att_1"),
        FailureReason::OperatorMarkedFailed,
        None,
    ));
    // Then it is refused
    assert_eq!(rule_of(result), "identity/approval-required");
}

#[test]
fn identity_a_rail_failure_carries_no_approval() {
    // Given a sent payment
    let payment = given(&happy_path(P)[..3]);
    // When a rail rejection arrives carrying an approval
    let event = PaymentEvent::PaymentFailed(Failed::new(
        pid(P),
        at(10),
        Some(att("att_1")),
        FailureReason::RailRejected,
        None,
        Some(approval("apr_1", "alice", "bob", 9)),
    ));
    // Then it is refused
    assert_eq!(
        rule_of(payment.apply(&event)),
        "identity/approval-only-for-operator-actions"
    );
}

#[test]
fn identity_approval_precedes_the_action() {
    // Given a payment whose att_1 timed out
    let payment = given(&timed_out(P));
    // When a retry at t=10 carries an approval dated t=11
    let result = payment.apply(&retry(
        P,
        10,
        "att_2",
        approval("apr_1", "alice", "bob", 11),
    ));
    // Then it is refused
    assert_eq!(rule_of(result), "identity/approval-precedes-action");
}

#[test]
fn identity_a_failure_names_the_open_attempt() {
    // Given a sent payment
    let payment = given(&happy_path(P)[..3]);
    // When a failure without an attempt id arrives
    let result = payment.apply(&failed(P, 10, None, FailureReason::RailTimeout, None));
    // Then it is refused
    assert_eq!(rule_of(result), "identity/attempt-id-required");
}

// ---------------------------------------------------------------- attempts and duplicates

#[test]
fn attempts_an_exact_repeat_of_an_outcome_changes_nothing() {
    // Given a settled payment
    let payment = given(&happy_path(P));
    let hash = payment.state_hash();
    // When the acknowledgement and the settlement arrive again, later
    for repeat in [acked(P, 20, "att_1"), settled(P, 21, "att_1")] {
        // Then each is a duplicate and nothing changes
        assert_eq!(payment.apply(&repeat), Ok(Applied::Duplicate));
    }
    assert_eq!(payment.state_hash(), hash);
}

#[test]
fn attempts_a_repeated_failure_is_a_duplicate_even_after_a_retry() {
    // Given a payment retried after att_1 timed out and now on att_2
    let mut history = timed_out(P);
    history.push(retry(P, 10, "att_2", approval("apr_1", "alice", "bob", 9)));
    history.push(sent(P, 11, "att_2"));
    let payment = given(&history);
    // When att_1's timeout is reported again
    let result = payment.apply(&failed(
        P,
        12,
        Some("att_1"),
        FailureReason::RailTimeout,
        Some("AB05"),
    ));
    // Then it is a duplicate
    assert_eq!(result, Ok(Applied::Duplicate));
}

#[test]
fn attempts_a_new_failure_after_an_approved_retry_is_not_a_duplicate() {
    // Given a payment that failed before any attempt (the rail was down) and was retried
    let history = vec![
        intent(P, 0),
        authorised(P, 1),
        failed(P, 2, None, FailureReason::RailUnavailable, Some("down")),
        retry(P, 4, "att_1", approval("apr_1", "alice", "bob", 3)),
    ];
    let payment = given(&history);
    assert_eq!(payment.state(), PaymentState::Authorised);
    // When the rail is down again and the same failure, word for word, arrives
    let result = payment.apply(&failed(
        P,
        5,
        None,
        FailureReason::RailUnavailable,
        Some("down"),
    ));
    // Then it is a new fact: the payment is FAILED again, with two failures on record
    let failed_again = changed(result);
    assert_eq!(failed_again.state(), PaymentState::Failed);
    assert_eq!(failed_again.failures().len(), 2);
    // And the whole history replays to FAILED with no duplicate ignored
    let mut whole = history.clone();
    whole.push(failed(
        P,
        5,
        None,
        FailureReason::RailUnavailable,
        Some("down"),
    ));
    let replay = rebuild_from_events(&whole).unwrap();
    assert_eq!(replay.payment().state(), PaymentState::Failed);
    assert_eq!(replay.duplicates_ignored(), 0);
}

#[test]
fn attempts_a_failure_without_attempt_repeats_only_the_standing_failure() {
    // Given a payment that stands FAILED on a failure that named no attempt
    let payment = given(&[
        intent(P, 0),
        authorised(P, 1),
        failed(P, 2, None, FailureReason::RailUnavailable, Some("down")),
    ]);
    // When the same failure arrives again
    let result = payment.apply(&failed(
        P,
        3,
        None,
        FailureReason::RailUnavailable,
        Some("down"),
    ));
    // Then it is a duplicate: it repeats the failure the payment stands on
    assert_eq!(result, Ok(Applied::Duplicate));
    // And a different detail is a new fact, refused by the terminal rule
    let other = payment.apply(&failed(
        P,
        3,
        None,
        FailureReason::RailUnavailable,
        Some("down again"),
    ));
    assert_eq!(rule_of(other), "lifecycle/failed-is-final");
}

#[test]
fn attempts_an_earlier_failure_repeated_while_the_retry_is_sent_is_refused() {
    // Given a payment that failed with no attempt, was retried and sent on att_1
    let payment = given(&[
        intent(P, 0),
        authorised(P, 1),
        failed(P, 2, None, FailureReason::RailUnavailable, Some("down")),
        retry(P, 4, "att_1", approval("apr_1", "alice", "bob", 3)),
        sent(P, 5, "att_1"),
    ]);
    // When the old attempt-less failure arrives again
    let result = payment.apply(&failed(
        P,
        6,
        None,
        FailureReason::RailUnavailable,
        Some("down"),
    ));
    // Then it is not a duplicate of the old failure: att_1 is in flight, so it must be named
    assert_eq!(rule_of(result), "identity/attempt-id-required");
}

#[test]
fn attempts_a_different_outcome_for_an_attempt_conflicts() {
    // Given a settled payment
    let payment = given(&happy_path(P));
    // When the rail reports a rejection of the same attempt
    let result = payment.apply(&failed(
        P,
        10,
        Some("att_1"),
        FailureReason::RailRejected,
        Some("AC04"),
    ));
    // Then it is a conflict
    assert_eq!(rule_of(result), "attempts/one-outcome-per-attempt");
}

#[test]
fn attempts_a_late_settlement_of_a_failed_attempt_conflicts() {
    // Given a payment retried after att_1 timed out, now sent on att_2
    let mut history = timed_out(P);
    history.push(retry(P, 10, "att_2", approval("apr_1", "alice", "bob", 9)));
    history.push(sent(P, 11, "att_2"));
    let payment = given(&history);
    // When att_1 reports a settlement after all
    let result = payment.apply(&settled(P, 12, "att_1"));
    // Then it conflicts with att_1's recorded failure (an operator must look: money may have moved)
    assert_eq!(rule_of(result), "attempts/one-outcome-per-attempt");
}

#[test]
fn attempts_an_attempt_is_sent_at_most_once() {
    // Given a sent payment
    let payment = given(&happy_path(P)[..3]);
    // When att_1 is sent again
    let result = payment.apply(&sent(P, 10, "att_1"));
    // Then it is refused
    assert_eq!(rule_of(result), "attempts/one-send-per-attempt");
}

#[test]
fn attempts_the_retry_must_be_the_next_send() {
    // Given a retried payment with att_2 open
    let mut history = timed_out(P);
    history.push(retry(P, 10, "att_2", approval("apr_1", "alice", "bob", 9)));
    let payment = given(&history);
    // When a send names att_3
    let result = payment.apply(&sent(P, 11, "att_3"));
    // Then it is refused: the send must carry the retry's attempt id
    assert_eq!(rule_of(result), "identity/current-attempt");
    // And with att_2 it is accepted
    assert_eq!(
        changed(payment.apply(&sent(P, 11, "att_2"))).state(),
        PaymentState::Sent
    );
}

#[test]
fn attempts_retries_stop_at_the_attempt_limit() {
    // Given a payment limited to 2 attempts, both timed out
    let payment = given(&[
        intent_limited(P, 0, 2),
        authorised(P, 1),
        sent(P, 2, "att_1"),
        failed(P, 3, Some("att_1"), FailureReason::RailTimeout, None),
        retry(P, 5, "att_2", approval("apr_1", "alice", "bob", 4)),
        sent(P, 6, "att_2"),
        failed(P, 7, Some("att_2"), FailureReason::RailTimeout, None),
    ]);
    // When a third attempt is approved
    let result = payment.apply(&retry(P, 9, "att_3", approval("apr_2", "alice", "bob", 8)));
    // Then it is refused
    assert_eq!(rule_of(result), "attempts/attempt-limit");
}

#[test]
fn attempts_the_default_limit_is_three() {
    // Given a payment whose three attempts all timed out
    let mut history = timed_out(P);
    for (n, t) in [(2, 10), (3, 20)] {
        history.push(retry(
            P,
            t,
            &format!("att_{n}"),
            approval(&format!("apr_{n}"), "alice", "bob", t),
        ));
        history.push(sent(P, t + 1, &format!("att_{n}")));
        history.push(failed(
            P,
            t + 2,
            Some(&format!("att_{n}")),
            FailureReason::RailTimeout,
            None,
        ));
    }
    let payment = given(&history);
    assert_eq!(payment.attempts().len(), 3);
    // When a fourth is approved
    let result = payment.apply(&retry(
        P,
        30,
        "att_4",
        approval("apr_4", "alice", "bob", 30),
    ));
    // Then it is refused
    assert_eq!(rule_of(result), "attempts/attempt-limit");
}

#[test]
fn attempts_operator_marked_failure_is_retryable() {
    // Given a payment stuck in SENT that an operator marked failed with bob's approval
    let mut history = happy_path(P)[..3].to_vec();
    history.push(marked_failed(
        P,
        10,
        "att_1",
        approval("apr_1", "alice", "bob", 9),
    ));
    let payment = given(&history);
    assert_eq!(payment.state(), PaymentState::Failed);
    // When carol approves alice's retry
    let next = changed(payment.apply(&retry(
        P,
        20,
        "att_2",
        approval("apr_2", "alice", "carol", 19),
    )));
    // Then a second attempt is open and the payment is AUTHORISED again
    assert_eq!(next.state(), PaymentState::Authorised);
    assert_eq!(next.attempts().len(), 2);
    assert_eq!(next.approvals().len(), 2);
}

// ---------------------------------------------------------------- every state holds every invariant

#[test]
fn every_state_reached_by_the_examples_holds_all_invariants() {
    // Given every prefix of the seed's scenarios
    let mut retried = timed_out(P);
    retried.push(retry(P, 10, "att_2", approval("apr_1", "alice", "bob", 9)));
    retried.push(sent(P, 11, "att_2"));
    retried.push(acked(P, 12, "att_2"));
    retried.push(settled(P, 13, "att_2"));
    for history in [happy_path(P), retried, vec![intent(P, 0), expired(P, 1)]] {
        for end in 1..=history.len() {
            // When each is replayed, Then the state satisfies every invariant
            let payment = given(&history[..end]);
            assert_eq!(payment.check_invariants(), Ok(()), "prefix of {end} events");
        }
    }
}
