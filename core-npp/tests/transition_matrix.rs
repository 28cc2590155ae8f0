//! Every state x event pair against the legal-transition matrix, and the documented matrix against
//! the code's.
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

/// A payment in `state`, reached by a legal history; its FAILED is a retryable timeout.
fn payment_in(state: PaymentState) -> Payment {
    let happy = happy_path(P);
    match state {
        PaymentState::Created => given(&happy[..1]),
        PaymentState::Authorised => given(&happy[..2]),
        PaymentState::Sent => given(&happy[..3]),
        PaymentState::Acknowledged => given(&happy[..4]),
        PaymentState::Settled => given(&happy),
        PaymentState::Failed => given(&timed_out(P)),
        PaymentState::Expired => given(&[intent(P, 0), expired(P, 1)]),
    }
}

/// An event of `kind` that would be accepted if the matrix allowed the move from `state`.
fn event_for(state: PaymentState, kind: EventKind) -> PaymentEvent {
    let t = 50;
    let failure_reason = match state {
        PaymentState::Created => FailureReason::PolicyDeclined,
        PaymentState::Authorised => FailureReason::RailUnavailable,
        PaymentState::Sent
        | PaymentState::Acknowledged
        | PaymentState::Settled
        | PaymentState::Failed
        | PaymentState::Expired => FailureReason::RailRejected,
    };
    let attempt = match state {
        PaymentState::Created | PaymentState::Authorised => None,
        PaymentState::Sent
        | PaymentState::Acknowledged
        | PaymentState::Settled
        | PaymentState::Failed
        | PaymentState::Expired => Some("att_1"),
    };
    let approval = approval("apr_t", "alice", "bob", t);
    // Never an exact repeat of what the state already recorded: a repeat is a duplicate, which
    // the matrix does not govern.
    let ack_attempt = if state == PaymentState::Sent {
        "att_1"
    } else {
        "att_9"
    };
    let settlement_ref = if state == PaymentState::Settled {
        "settle_other"
    } else {
        "settle_1"
    };
    match kind {
        EventKind::PaymentIntentCreated => intent(P, t),
        EventKind::PaymentAuthorised => authorised(P, t),
        EventKind::PaymentSentToRail => sent(P, t, "att_1"),
        EventKind::PaymentAcknowledged => acked(P, t, ack_attempt),
        EventKind::PaymentSettled => settled_with(P, t, "att_1", settlement_ref, AMOUNT),
        EventKind::PaymentFailed => failed(P, t, attempt, failure_reason, Some("AC04")),
        EventKind::PaymentExpired => expired(P, t),
        EventKind::PaymentRetryApproved => retry(P, t, "att_2", approval),
        EventKind::PaymentCancelled => cancelled(P, t, approval),
    }
}

#[test]
fn every_state_event_pair_follows_the_matrix() {
    let mut legal = 0;
    for state in PaymentState::ALL {
        let payment = payment_in(state);
        assert_eq!(payment.state(), state);
        for kind in EventKind::ALL {
            let result = payment.apply(&event_for(state, kind));
            match next_state(state, kind) {
                Some(to) => {
                    legal += 1;
                    let next = changed(result);
                    assert_eq!(next.state(), to, "{state} x {kind}");
                }
                None => {
                    let Err(error) = result else {
                        panic!("{state} x {kind} is not in the matrix but was accepted: {result:?}")
                    };
                    assert!(
                        matches!(
                            error.category(),
                            InvariantCategory::Lifecycle | InvariantCategory::AttemptsDuplicates
                        ) || error.rule() == "money/settled-at-most-once",
                        "{state} x {kind}: unexpected rule {}",
                        error.rule()
                    );
                }
            }
        }
    }
    assert_eq!(legal, TRANSITIONS.len());
}

#[test]
fn terminal_states_have_no_exit_but_the_approved_retry() {
    for row in TRANSITIONS {
        assert!(
            !matches!(row.from, PaymentState::Settled | PaymentState::Expired),
            "{row:?}"
        );
        if row.from == PaymentState::Failed {
            assert_eq!(row.event, EventKind::PaymentRetryApproved);
            assert_eq!(row.to, PaymentState::Authorised);
        }
    }
}

/// Reads the matrix table between the `transition-matrix` markers of docs/ARCHITECTURE.md.
fn documented_matrix() -> Vec<(String, String, String)> {
    let doc = include_str!("../../docs/ARCHITECTURE.md");
    let start = doc
        .find("<!-- transition-matrix:start -->")
        .expect("start marker");
    let end = doc
        .find("<!-- transition-matrix:end -->")
        .expect("end marker");
    doc[start..end]
        .lines()
        .filter(|l| l.starts_with('|') && !l.contains("---") && !l.contains("From"))
        .map(|l| {
            let cells: Vec<String> = l
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().trim_matches('`').to_owned())
                .collect();
            assert_eq!(cells.len(), 3, "row {l:?} must have three cells");
            (cells[0].clone(), cells[1].clone(), cells[2].clone())
        })
        .collect()
}

#[test]
fn the_documented_matrix_equals_the_code() {
    let mut documented = documented_matrix();
    let mut code: Vec<(String, String, String)> = TRANSITIONS
        .iter()
        .map(|t| {
            (
                t.from.name().to_owned(),
                t.event.name().to_owned(),
                t.to.name().to_owned(),
            )
        })
        .collect();
    documented.sort();
    code.sort();
    assert_eq!(
        documented, code,
        "docs/ARCHITECTURE.md's transition matrix differs from TRANSITIONS"
    );
}

#[test]
fn the_operator_action_guards_agree_with_apply() {
    for state in PaymentState::ALL {
        let payment = payment_in(state);
        let approval = approval("apr_g", "alice", "bob", 50);
        let retry_applies = payment
            .apply(&retry(P, 50, "att_2", approval.clone()))
            .is_ok();
        let cancel_applies = payment.apply(&cancelled(P, 50, approval.clone())).is_ok();
        let attempt = payment.open_attempt().map(|a| a.attempt_id().to_string());
        let mark_applies = attempt.as_deref().is_some_and(|a| {
            payment
                .apply(&marked_failed(P, 50, a, approval.clone()))
                .is_ok()
        });
        assert_eq!(
            payment.can_retry().is_ok(),
            retry_applies,
            "retry in {state}"
        );
        assert_eq!(
            payment.can_cancel().is_ok(),
            cancel_applies,
            "cancel in {state}"
        );
        assert_eq!(
            payment.can_mark_failed().is_ok(),
            mark_applies,
            "mark failed in {state}"
        );
    }
}
