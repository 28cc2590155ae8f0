//! Property tests: generated legal histories replay deterministically, hold every invariant after
//! every event, and any single removal, changed duplicate or reordering is rejected or gives a
//! different, documented outcome.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

mod support;

use core_npp::*;
use proptest::prelude::*;
use serde_json::Value;
use support::*;

const P: &str = "pay_prop";

/// The same event at another time (an exact repeat, as a rail resends it).
fn with_time(event: &PaymentEvent, t: i64) -> PaymentEvent {
    let mut value = serde_json::to_value(event).unwrap();
    value["occurred_at"] = Value::String(at(t).to_rfc3339());
    serde_json::from_value(value).unwrap()
}

/// Names for fresh attempt and approval ids.
#[derive(Default)]
struct Counters {
    attempts: u32,
    approvals: u32,
}

impl Counters {
    fn attempt(&mut self) -> String {
        self.attempts += 1;
        format!("att_{}", self.attempts)
    }
    fn approval(&mut self, t: i64) -> Approval {
        self.approvals += 1;
        approval(&format!("apr_{}", self.approvals), "alice", "bob", t)
    }
}

/// Every event that is legal next, built from what the payment says about itself.
fn candidates(
    payment: &Payment,
    last_outcome: Option<&PaymentEvent>,
    t: i64,
    ids: &mut Counters,
) -> Vec<PaymentEvent> {
    let open = payment.open_attempt().map(|a| a.attempt_id().to_string());
    let repeat = last_outcome.map(|e| with_time(e, t));
    let mut out = Vec::new();
    match payment.state() {
        PaymentState::Created => {
            // Weighted towards progress so that most histories get past the first steps.
            out.extend(std::iter::repeat_n(authorised(P, t), 8));
            out.push(failed(
                P,
                t,
                None,
                FailureReason::PolicyDeclined,
                Some("limit"),
            ));
            out.push(expired(P, t));
            out.push(cancelled(P, t, ids.approval(t)));
        }
        PaymentState::Authorised => {
            let attempt = open.clone().unwrap_or_else(|| ids.attempt());
            out.extend(std::iter::repeat_n(sent(P, t, &attempt), 8));
            out.push(failed(
                P,
                t,
                open.as_deref(),
                FailureReason::RailUnavailable,
                None,
            ));
            out.push(expired(P, t));
            out.push(cancelled(P, t, ids.approval(t)));
        }
        PaymentState::Sent | PaymentState::Acknowledged => {
            let current = open.unwrap();
            if payment.state() == PaymentState::Sent {
                out.extend(std::iter::repeat_n(acked(P, t, &current), 4));
            }
            out.push(settled(P, t, &current));
            out.push(settled(P, t, &current));
            out.push(failed(
                P,
                t,
                Some(&current),
                FailureReason::RailRejected,
                Some("AC04"),
            ));
            out.push(failed(
                P,
                t,
                Some(&current),
                FailureReason::RailTimeout,
                Some("AB05"),
            ));
            out.push(failed(
                P,
                t,
                Some(&current),
                FailureReason::RailTimeout,
                Some("AB05"),
            ));
            out.push(marked_failed(P, t, &current, ids.approval(t)));
            out.extend(repeat);
        }
        PaymentState::Failed => {
            let reason = payment.last_failure().unwrap().reason();
            let under_limit = payment.attempts().len() < usize::from(payment.max_attempts().get());
            if reason.is_retryable() && under_limit {
                let attempt = ids.attempt();
                out.extend(std::iter::repeat_n(
                    retry(P, t, &attempt, ids.approval(t)),
                    4,
                ));
            }
            out.extend(repeat);
        }
        PaymentState::Settled => out.extend(repeat),
        PaymentState::Expired => {}
    }
    out
}

/// A legal history driven by `choices`, with the duplicates it contains marked.
fn build_history(choices: &[u8]) -> (Vec<PaymentEvent>, Vec<bool>) {
    let mut ids = Counters::default();
    let mut events = vec![intent_limited(P, 0, 3)];
    let mut duplicate = vec![false];
    let mut payment = Payment::create(&events[0]).unwrap();
    let mut last_outcome: Option<PaymentEvent> = None;
    let mut t = 0i64;
    for &choice in choices {
        t += 1 + i64::from(choice % 3);
        let options = candidates(&payment, last_outcome.as_ref(), t, &mut ids);
        let Some(event) = options
            .get(usize::from(choice) % options.len().max(1))
            .cloned()
        else {
            break;
        };
        let before = payment.clone();
        let applied = payment.apply(&event);
        assert_eq!(payment, before, "apply changed its input");
        match applied {
            Ok(Applied::Changed(next)) => {
                assert_eq!(next.check_invariants(), Ok(()));
                payment = next;
                duplicate.push(false);
            }
            Ok(Applied::Duplicate) => duplicate.push(true),
            Err(e) => panic!(
                "generator produced an illegal {}: {} ({e})",
                event.kind(),
                e.rule()
            ),
        }
        if matches!(
            event.kind(),
            EventKind::PaymentAcknowledged | EventKind::PaymentSettled | EventKind::PaymentFailed
        ) {
            last_outcome = Some(event.clone());
        }
        // A failure that named no attempt repeats only while the payment stands on it: once a
        // retry or a cancellation moves the payment on, the same words are a new fact.
        if matches!(
            event.kind(),
            EventKind::PaymentRetryApproved | EventKind::PaymentCancelled
        ) && last_outcome
            .as_ref()
            .is_some_and(|e| e.attempt_id().is_none())
        {
            last_outcome = None;
        }
        events.push(event);
    }
    (events, duplicate)
}

/// Changes one leaf field of the event (never a time), keeping it parseable.
fn mutate(event: &PaymentEvent, pick: usize) -> Option<PaymentEvent> {
    let mut value = serde_json::to_value(event).unwrap();
    let mut leaves = Vec::new();
    collect_leaves(&value, String::new(), &mut leaves);
    if leaves.is_empty() {
        return None;
    }
    let path = leaves[pick % leaves.len()].clone();
    let slot = value.pointer_mut(&path).unwrap();
    *slot = match slot.clone() {
        Value::Bool(b) => Value::Bool(!b),
        Value::Number(n) => Value::from(n.as_i64().unwrap() + 1),
        Value::String(s)
            if path.ends_with("/reason")
                && s.chars().all(|c| c.is_ascii_uppercase() || c == '_') =>
        {
            let other = FailureReason::ALL
                .iter()
                .find(|r| r.name() != s && **r != FailureReason::Cancelled)
                .unwrap();
            Value::String(other.name().to_owned())
        }
        Value::String(s) if path == "/currency" => Value::String(if s == "AUD" {
            "NZD".into()
        } else {
            "AUD".into()
        }),
        Value::String(mut s) => {
            if s.len() >= 35 {
                s.pop();
            }
            s.push('X');
            Value::String(s)
        }
        other => other,
    };
    serde_json::from_value(value).ok()
}

fn collect_leaves(value: &Value, path: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                if !matches!(key.as_str(), "type" | "occurred_at" | "approved_at") {
                    collect_leaves(inner, format!("{path}/{key}"), out);
                }
            }
        }
        Value::Bool(_) | Value::Number(_) | Value::String(_) => out.push(path),
        Value::Null | Value::Array(_) => {}
    }
}

fn choices() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..24)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn legal_histories_replay_to_the_same_hash_every_time(choices in choices()) {
        let (history, duplicate) = build_history(&choices);
        let first = rebuild_from_events(&history).unwrap();
        let second = rebuild_from_events(&history).unwrap();
        prop_assert_eq!(first.payment().state_hash(), second.payment().state_hash());
        prop_assert_eq!(first.payment(), second.payment());
        prop_assert_eq!(first.duplicates_ignored(), duplicate.iter().filter(|d| **d).count());
        prop_assert_eq!(first.payment().check_invariants(), Ok(()));
    }

    #[test]
    fn every_prefix_of_a_legal_history_holds_every_invariant(choices in choices()) {
        let (history, _) = build_history(&choices);
        for end in 1..=history.len() {
            let replay = rebuild_from_events(&history[..end]).unwrap();
            prop_assert_eq!(replay.payment().check_invariants(), Ok(()));
        }
    }

    #[test]
    fn removing_one_event_is_rejected_or_changes_the_outcome(choices in choices(), pick in any::<usize>()) {
        let (history, duplicate) = build_history(&choices);
        let original = rebuild_from_events(&history).unwrap();
        let index = pick % history.len();
        let mut shorter = history.clone();
        shorter.remove(index);
        match rebuild_from_events(&shorter) {
            Err(_) => {}
            Ok(replay) if duplicate[index] => {
                // Documented: a duplicate changes nothing, so only the count of duplicates drops.
                prop_assert_eq!(replay.payment().state_hash(), original.payment().state_hash());
                prop_assert_eq!(replay.duplicates_ignored() + 1, original.duplicates_ignored());
            }
            Ok(replay) => prop_assert_ne!(replay.payment().state_hash(), original.payment().state_hash()),
        }
    }

    #[test]
    fn a_changed_copy_of_any_event_is_rejected(choices in choices(), pick in any::<usize>(), field in any::<usize>()) {
        let (history, _) = build_history(&choices);
        let index = pick % history.len();
        let Some(changed_copy) = mutate(&history[index], field) else { return Ok(()) };
        prop_assume!(changed_copy != history[index]);
        let mut longer = history.clone();
        longer.insert(index + 1, changed_copy);
        let result = rebuild_from_events(&longer);
        let rejected_at = match &result {
            Err(ReplayError::Rejected { index, .. }) => *index,
            other => return Err(TestCaseError::fail(format!("accepted: {other:?}"))),
        };
        prop_assert_eq!(rejected_at, index + 2);
    }

    #[test]
    fn swapping_two_adjacent_events_is_rejected_or_changes_the_outcome(choices in choices(), pick in any::<usize>()) {
        let (history, duplicate) = build_history(&choices);
        prop_assume!(history.len() >= 2);
        let i = pick % (history.len() - 1);
        let (a, b) = (&history[i], &history[i + 1]);
        prop_assume!(with_time(a, 0) != with_time(b, 0));
        // Swap what happened, keep when: the times stay in order, so only the order of facts moves.
        let mut swapped = history.clone();
        let (ta, tb) = (a.occurred_at(), b.occurred_at());
        let seconds = |t: Timestamp| i64::try_from((t.unix_nanos() / 1_000_000_000) - BASE_UNIX_SECONDS).unwrap();
        swapped[i] = with_time(b, seconds(ta));
        swapped[i + 1] = with_time(a, seconds(tb));
        let original = rebuild_from_events(&history).unwrap();
        match rebuild_from_events(&swapped) {
            Err(_) => {}
            Ok(replay) if duplicate[i] && duplicate[i + 1] => {
                prop_assert_eq!(replay.payment().state_hash(), original.payment().state_hash());
            }
            Ok(replay) => prop_assert_ne!(replay.payment().state_hash(), original.payment().state_hash()),
        }
    }
}
