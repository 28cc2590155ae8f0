//! An independent reference model of the payment lifecycle, written plainly and separately from
//! the core, that random histories (legal and illegal alike) are checked against: for every event
//! both must agree on whether it applies, is a duplicate, or is refused, and on where the payment
//! ends. The model keeps its own state and reads only the events' fields; it shares no rule code
//! with `core-npp`, so a rule written wrongly in one place shows up as a disagreement.
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
use proptest::strategy::ValueTree;
use support::*;

const P: &str = "pay_model";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum S {
    Created,
    Authorised,
    Sent,
    Acknowledged,
    Settled,
    Failed,
    Expired,
}

#[derive(Clone, PartialEq, Eq, Debug)]
enum End {
    Settled(String),
    Failed(FailureReason, Option<String>),
}

#[derive(Clone, Debug)]
struct Try {
    id: String,
    sent: bool,
    acked: bool,
    end: Option<End>,
}

#[derive(Clone, Debug)]
struct Fail {
    reason: FailureReason,
    attempt: Option<String>,
    detail: Option<String>,
    cancelled: bool,
    approval: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Verdict {
    Applied,
    Duplicate,
    Refused,
}

/// The reference model: the rules of docs/ARCHITECTURE.md, one plain `if` at a time.
#[derive(Clone, Debug)]
struct Model {
    amount: i64,
    limit: usize,
    created: Timestamp,
    state: S,
    last: Timestamp,
    tries: Vec<Try>,
    fails: Vec<Fail>,
    approvals: Vec<Approval>,
}

fn text_of(t: &Option<FreeText>) -> Option<String> {
    t.as_ref().map(|t| t.as_str().to_owned())
}

impl Model {
    fn start(intent: &IntentCreated) -> Option<Model> {
        let amount = intent.amount().minor_units();
        if amount <= 0 || amount > 1_000_000_000_000 || intent.currency().as_str() != "AUD" {
            return None;
        }
        Some(Model {
            amount,
            limit: usize::from(intent.max_attempts().get()),
            created: intent.occurred_at(),
            state: S::Created,
            last: intent.occurred_at(),
            tries: Vec::new(),
            fails: Vec::new(),
            approvals: Vec::new(),
        })
    }

    fn open(&self) -> Option<&Try> {
        self.tries.last().filter(|t| t.end.is_none())
    }

    fn find(&self, id: &str) -> Option<&Try> {
        self.tries.iter().find(|t| t.id == id)
    }

    fn approval_ok(&self, a: &Approval, at: Timestamp) -> bool {
        let maker = a.requested_by().as_str().to_ascii_lowercase();
        let checker = a.approved_by().as_str().to_ascii_lowercase();
        maker != checker
            && !self
                .approvals
                .iter()
                .any(|b| b.approval_id() == a.approval_id())
            && a.approved_at() <= at
            && a.approved_at() >= self.created
    }

    fn is_duplicate(&self, event: &PaymentEvent) -> bool {
        match event {
            PaymentEvent::PaymentAcknowledged(e) => {
                self.find(e.attempt_id().as_str()).is_some_and(|t| t.acked)
            }
            PaymentEvent::PaymentSettled(e) => {
                self.find(e.attempt_id().as_str()).is_some_and(|t| {
                    t.end == Some(End::Settled(e.settlement_ref().as_str().to_owned()))
                        && e.funds_transferred().minor_units() == self.amount
                })
            }
            PaymentEvent::PaymentFailed(e) => {
                let standing = match e.attempt_id() {
                    Some(id) => {
                        let ended_failed = self
                            .find(id.as_str())
                            .is_some_and(|t| matches!(t.end, Some(End::Failed(..))));
                        if ended_failed {
                            self.fails
                                .iter()
                                .find(|f| f.attempt.as_deref() == Some(id.as_str()))
                        } else {
                            None
                        }
                    }
                    None if self.state == S::Failed => self.fails.last(),
                    None => None,
                };
                let Some(f) = standing else { return false };
                let same_approval = match e.approval() {
                    None => f.approval.is_none(),
                    Some(a) => {
                        f.approval.as_deref() == Some(a.approval_id().as_str())
                            && self.approvals.iter().any(|b| b == a)
                    }
                };
                !f.cancelled
                    && f.reason == *e.reason()
                    && f.attempt.as_deref() == (*e.attempt_id()).as_ref().map(AttemptId::as_str)
                    && f.detail == text_of(e.detail())
                    && same_approval
            }
            _ => false,
        }
    }

    /// The legal moves, written out as the table in docs/ARCHITECTURE.md.
    fn target(&self, kind: EventKind) -> Option<S> {
        use EventKind as K;
        match (self.state, kind) {
            (S::Created, K::PaymentAuthorised) => Some(S::Authorised),
            (S::Created | S::Authorised, K::PaymentFailed | K::PaymentCancelled) => Some(S::Failed),
            (S::Created | S::Authorised, K::PaymentExpired) => Some(S::Expired),
            (S::Authorised, K::PaymentSentToRail) => Some(S::Sent),
            (S::Sent, K::PaymentAcknowledged) => Some(S::Acknowledged),
            (S::Sent | S::Acknowledged, K::PaymentSettled) => Some(S::Settled),
            (S::Sent | S::Acknowledged, K::PaymentFailed) => Some(S::Failed),
            (S::Failed, K::PaymentRetryApproved) => Some(S::Authorised),
            _ => None,
        }
    }

    fn reason_fits(&self, reason: FailureReason) -> bool {
        let before = matches!(self.state, S::Created | S::Authorised);
        let after = matches!(self.state, S::Sent | S::Acknowledged);
        match reason {
            FailureReason::PolicyDeclined | FailureReason::InsufficientFunds => before,
            FailureReason::RailUnavailable => self.state != S::Created && (before || after),
            FailureReason::RailRejected
            | FailureReason::RailTimeout
            | FailureReason::OperatorMarkedFailed => after,
            FailureReason::Cancelled => false,
        }
    }

    fn allowed(&self, event: &PaymentEvent) -> bool {
        match event {
            PaymentEvent::PaymentIntentCreated(_) => false,
            PaymentEvent::PaymentAuthorised(e) => {
                *e.policy_checks_passed() && e.funds_earmarked().minor_units() == self.amount
            }
            PaymentEvent::PaymentSentToRail(e) => match self.open() {
                Some(open) => open.id == e.attempt_id().as_str() && !open.sent,
                None => {
                    self.find(e.attempt_id().as_str()).is_none() && self.tries.len() < self.limit
                }
            },
            PaymentEvent::PaymentAcknowledged(e) => self
                .open()
                .is_some_and(|o| o.id == e.attempt_id().as_str() && o.sent),
            PaymentEvent::PaymentSettled(e) => {
                self.open()
                    .is_some_and(|o| o.id == e.attempt_id().as_str() && o.sent)
                    && e.funds_transferred().minor_units() == self.amount
            }
            PaymentEvent::PaymentFailed(e) => {
                let attempt_ok = match (self.open(), e.attempt_id()) {
                    (Some(open), None) => !open.sent,
                    (Some(open), Some(id)) => open.id == id.as_str(),
                    (None, Some(_)) => false,
                    (None, None) => true,
                };
                let approval_ok = match (
                    *e.reason() == FailureReason::OperatorMarkedFailed,
                    e.approval(),
                ) {
                    (true, Some(a)) => self.approval_ok(a, e.occurred_at()),
                    (false, None) => true,
                    (true, None) | (false, Some(_)) => false,
                };
                self.reason_fits(*e.reason()) && attempt_ok && approval_ok
            }
            PaymentEvent::PaymentExpired(_) => true,
            PaymentEvent::PaymentRetryApproved(e) => {
                let retryable = self.fails.last().is_some_and(|f| f.reason.is_retryable());
                retryable
                    && self.tries.len() < self.limit
                    && self.find(e.attempt_id().as_str()).is_none()
                    && self.approval_ok(e.approval(), e.occurred_at())
            }
            PaymentEvent::PaymentCancelled(e) => self.approval_ok(e.approval(), e.occurred_at()),
        }
    }

    fn step(&mut self, event: &PaymentEvent) -> Verdict {
        if event.payment_intent_id().as_str() != P {
            return Verdict::Refused;
        }
        if matches!(event, PaymentEvent::PaymentIntentCreated(_)) {
            return Verdict::Refused;
        }
        if self.is_duplicate(event) {
            return Verdict::Duplicate;
        }
        let Some(to) = self.target(event.kind()) else {
            return Verdict::Refused;
        };
        if event.occurred_at() < self.last || !self.allowed(event) {
            return Verdict::Refused;
        }
        self.record(event);
        self.state = to;
        self.last = event.occurred_at();
        Verdict::Applied
    }

    fn record(&mut self, event: &PaymentEvent) {
        match event {
            PaymentEvent::PaymentSentToRail(e) => match self.tries.last_mut() {
                Some(open) if open.end.is_none() => open.sent = true,
                _ => self.tries.push(Try {
                    id: e.attempt_id().as_str().to_owned(),
                    sent: true,
                    acked: false,
                    end: None,
                }),
            },
            PaymentEvent::PaymentAcknowledged(_) => {
                if let Some(open) = self.tries.last_mut() {
                    open.acked = true;
                }
            }
            PaymentEvent::PaymentSettled(e) => {
                if let Some(open) = self.tries.last_mut() {
                    open.end = Some(End::Settled(e.settlement_ref().as_str().to_owned()));
                }
            }
            PaymentEvent::PaymentFailed(e) => {
                let detail = text_of(e.detail());
                if let Some(open) = self.tries.last_mut().filter(|t| t.end.is_none()) {
                    open.end = Some(End::Failed(*e.reason(), detail.clone()));
                }
                self.fails.push(Fail {
                    reason: *e.reason(),
                    attempt: (*e.attempt_id()).map(|a| a.as_str().to_owned()),
                    detail,
                    cancelled: false,
                    approval: e
                        .approval()
                        .as_ref()
                        .map(|a| a.approval_id().as_str().to_owned()),
                });
                self.approvals.extend(e.approval().as_ref().cloned());
            }
            PaymentEvent::PaymentRetryApproved(e) => {
                self.tries.push(Try {
                    id: e.attempt_id().as_str().to_owned(),
                    sent: false,
                    acked: false,
                    end: None,
                });
                self.approvals.push(e.approval().clone());
            }
            PaymentEvent::PaymentCancelled(e) => {
                let attempt = self.open().map(|t| t.id.clone());
                if let Some(open) = self.tries.last_mut().filter(|t| t.end.is_none()) {
                    open.end = Some(End::Failed(FailureReason::Cancelled, text_of(e.detail())));
                }
                self.fails.push(Fail {
                    reason: FailureReason::Cancelled,
                    attempt,
                    detail: text_of(e.detail()),
                    cancelled: true,
                    approval: Some(e.approval().approval_id().as_str().to_owned()),
                });
                self.approvals.push(e.approval().clone());
            }
            PaymentEvent::PaymentIntentCreated(_)
            | PaymentEvent::PaymentAuthorised(_)
            | PaymentEvent::PaymentExpired(_) => {}
        }
    }

    fn state_name(&self) -> &'static str {
        match self.state {
            S::Created => "CREATED",
            S::Authorised => "AUTHORISED",
            S::Sent => "SENT",
            S::Acknowledged => "ACKNOWLEDGED",
            S::Settled => "SETTLED",
            S::Failed => "FAILED",
            S::Expired => "EXPIRED",
        }
    }
}

/// One generated step: which kind of event, and a few bytes choosing its fields.
type Gene = (u8, u8, u8, u8, u8);

/// Failure reasons, weighted towards the retryable ones so that retries happen often.
const REASONS: [FailureReason; 11] = [
    FailureReason::RailUnavailable,
    FailureReason::RailUnavailable,
    FailureReason::RailUnavailable,
    FailureReason::RailTimeout,
    FailureReason::RailTimeout,
    FailureReason::OperatorMarkedFailed,
    FailureReason::OperatorMarkedFailed,
    FailureReason::RailRejected,
    FailureReason::PolicyDeclined,
    FailureReason::InsufficientFunds,
    FailureReason::Cancelled,
];
const DETAILS: [Option<&str>; 3] = [None, Some("AB05"), Some("down")];

/// Maker and checker: mostly two people, sometimes one person under two spellings.
fn operators(pick: u8) -> (&'static str, &'static str) {
    match pick % 8 {
        0 => ("alice", "alice"),
        1 => ("alice", "Alice"),
        2 => ("bob", "alice"),
        _ => ("alice", "bob"),
    }
}

/// Turns a gene into an event at time `t`: fields are drawn from small pools, so repeats,
/// reused ids and near-misses are common, which is where rules disagree if they ever do.
fn event_from(gene: Gene, t: i64) -> PaymentEvent {
    let (kind, a, b, c, d) = gene;
    let attempt = format!("att_{}", 1 + a % 3);
    let approval_at = t - i64::from(b % 4);
    let approval_of = || {
        let (maker, checker) = operators(d);
        approval(&format!("apr_{}", 1 + c % 4), maker, checker, approval_at)
    };
    match kind % 12 {
        0 => authorised_with(P, t, b % 8 != 0, if c % 8 == 0 { 1 } else { AMOUNT }),
        1 | 2 => sent(P, t, &attempt),
        3 => acked(P, t, &attempt),
        4 => settled_with(
            P,
            t,
            &attempt,
            &format!("ref_{}", b % 2),
            if c % 8 == 0 { 1 } else { AMOUNT },
        ),
        5 | 6 => {
            let reason = REASONS[usize::from(b % 11)];
            let with_attempt = c % 3 != 0;
            let approval = (reason == FailureReason::OperatorMarkedFailed) != (d % 9 == 0);
            PaymentEvent::PaymentFailed(Failed::new(
                pid(P),
                at(t),
                with_attempt.then(|| att(&attempt)),
                reason,
                DETAILS[usize::from(a % 3)].map(text),
                approval.then(approval_of),
            ))
        }
        7 => expired(P, t),
        8..=10 => retry(P, t, &attempt, approval_of()),
        _ => cancelled(P, t, approval_of()),
    }
}

fn genes() -> impl Strategy<Value = Vec<(Gene, u8)>> {
    prop::collection::vec((any::<Gene>(), any::<u8>()), 0..60)
}

/// Feeds every generated event to both; a refused event is dropped by both, so histories go
/// deep. Returns the accepted history.
fn check_against_model(
    steps: &[(Gene, u8)],
    limit: u8,
) -> Result<Vec<PaymentEvent>, TestCaseError> {
    let first = intent_limited(P, 0, limit);
    let PaymentEvent::PaymentIntentCreated(intent) = &first else {
        unreachable!()
    };
    let mut model = Model::start(intent).unwrap();
    let mut payment = Payment::create(&first).unwrap();
    let mut accepted = vec![first.clone()];
    let mut duplicates = 0usize;
    let mut t = 0i64;
    for (gene, dt) in steps {
        // Mostly forwards, sometimes the same instant, now and then backwards.
        t += [0, 1, 1, 2, 3, -1][usize::from(dt % 6)];
        let event = event_from(*gene, t.max(0));
        let expected = model.clone().step(&event);
        let actual = match payment.apply(&event) {
            Ok(Applied::Changed(_)) => Verdict::Applied,
            Ok(Applied::Duplicate) => Verdict::Duplicate,
            Err(_) => Verdict::Refused,
        };
        prop_assert_eq!(
            actual,
            expected,
            "core and model disagree on {:?} after {} events ({:?})",
            event,
            accepted.len(),
            payment.apply(&event).err().map(|e| e.rule())
        );
        match payment.apply(&event) {
            Ok(Applied::Changed(next)) => {
                payment = next;
                model.step(&event);
                accepted.push(event);
            }
            Ok(Applied::Duplicate) => {
                duplicates += 1;
                accepted.push(event);
            }
            Err(_) => {}
        }
        prop_assert_eq!(payment.state().name(), model.state_name());
        prop_assert_eq!(payment.attempts().len(), model.tries.len());
        prop_assert_eq!(payment.failures().len(), model.fails.len());
    }
    let replay = rebuild_from_events(&accepted).unwrap();
    prop_assert_eq!(replay.payment(), &payment);
    prop_assert_eq!(replay.duplicates_ignored(), duplicates);
    Ok(accepted)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn the_core_agrees_with_the_reference_model_on_random_histories(steps in genes(), limit in 1u8..=3) {
        check_against_model(&steps, limit)?;
    }
}

#[test]
fn the_model_and_the_core_agree_on_the_issue_history() {
    // Given the history from the correctness sweep: a failure with no attempt, an approved retry,
    // and the same failure again once the rail is down again.
    let history = [
        intent(P, 0),
        authorised(P, 1),
        failed(P, 2, None, FailureReason::RailUnavailable, Some("down")),
        retry(P, 4, "att_1", approval("apr_1", "alice", "bob", 3)),
        failed(P, 5, None, FailureReason::RailUnavailable, Some("down")),
    ];
    // When both replay it
    let PaymentEvent::PaymentIntentCreated(intent) = &history[0] else {
        unreachable!()
    };
    let mut model = Model::start(intent).unwrap();
    let verdicts: Vec<Verdict> = history[1..].iter().map(|e| model.step(e)).collect();
    let replay = rebuild_from_events(&history).unwrap();
    // Then both end FAILED and neither calls the second failure a duplicate
    assert_eq!(verdicts, vec![Verdict::Applied; 4]);
    assert_eq!(model.state_name(), "FAILED");
    assert_eq!(replay.payment().state(), PaymentState::Failed);
    assert_eq!(replay.duplicates_ignored(), 0);
}

#[test]
fn the_generator_reaches_every_state_and_every_verdict() {
    // A model check that cannot fail is a defect: make sure the generated histories do reach
    // settlement, failure, retries, expiry and duplicates, so the property above means something.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut seen = std::collections::BTreeSet::new();
    let mut duplicates = 0usize;
    let mut retries = 0usize;
    for _ in 0..400 {
        let steps = genes().new_tree(&mut runner).unwrap().current();
        let accepted = check_against_model(&steps, 3).unwrap();
        let replay = rebuild_from_events(&accepted).unwrap();
        seen.insert(replay.payment().state().name());
        duplicates += replay.duplicates_ignored();
        retries += accepted
            .iter()
            .filter(|e| e.kind() == EventKind::PaymentRetryApproved)
            .count();
    }
    for state in [
        "SETTLED",
        "FAILED",
        "EXPIRED",
        "AUTHORISED",
        "SENT",
        "ACKNOWLEDGED",
    ] {
        assert!(
            seen.contains(state),
            "no generated history ended {state}: {seen:?}"
        );
    }
    assert!(duplicates > 0, "no duplicates generated");
    assert!(retries > 0, "no retries generated");
}
