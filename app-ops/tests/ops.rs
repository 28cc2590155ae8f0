//! Operator actions and exactly-once rail callbacks, in given/when/then form. Every scenario
//! runs over the in-memory store and again over SQLite.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod support;

use std::collections::BTreeMap;

use app_ops::*;
use core_npp::*;
use support::*;

fn approve_executes(world: &World, request: &OpsRequest, by: &str) -> Payment {
    let payments = world.payments();
    let ops = OperatorActions::new(&payments, &world.policy);
    match ops.approve(request.request_id, op(by)).unwrap() {
        Approved::Executed(done, outcome) => {
            assert_eq!(done.status, RequestStatus::Executed);
            outcome.payment
        }
        Approved::AwaitingMoreApprovals(r) => panic!("still waiting: {r:?}"),
    }
}

fn request(world: &World, action: OpsAction, id: &str, by: &str) -> Result<OpsRequest, AppError> {
    let payments = world.payments();
    OperatorActions::new(&payments, &world.policy).request(
        action,
        pid(id),
        op(by),
        text("test reason"),
    )
}

fn approve(world: &World, request_id: ApprovalId, by: &str) -> Result<Approved, AppError> {
    let payments = world.payments();
    OperatorActions::new(&payments, &world.policy).approve(request_id, op(by))
}

// ---------------------------------------------------------------- the seed's operator actions

fn retry_of_a_timed_out_payment_runs_to_settlement(world: World) {
    // Given a payment whose first attempt timed out
    world.timed_out("p1");
    // When alice requests a retry and bob approves it
    let req = request(&world, OpsAction::Retry, "p1", "alice").unwrap();
    let payment = approve_executes(&world, &req, "bob");
    // Then a second attempt is open, and the rail can settle it
    assert_eq!(payment.state(), PaymentState::Authorised);
    let attempt = payment.open_attempt().unwrap().attempt_id();
    assert_eq!(attempt.as_str(), "att_2");
    world.payments().record_sent(pid("p1"), attempt).unwrap();
    world.rail("p1", "p1-settle", settled(attempt)).unwrap();
    assert_eq!(world.payment("p1").state(), PaymentState::Settled);
}

fn cancel_before_send_fails_the_payment_as_cancelled(world: World) {
    // Given an authorised payment
    world.authorised("p1");
    // When alice requests a cancel and carol approves
    let req = request(&world, OpsAction::Cancel, "p1", "alice").unwrap();
    let payment = approve_executes(&world, &req, "carol");
    // Then it is FAILED with reason CANCELLED, and the approval names both people
    assert_eq!(payment.state(), PaymentState::Failed);
    assert_eq!(
        payment.last_failure().unwrap().reason(),
        FailureReason::Cancelled
    );
    let approval = &payment.approvals()[0];
    assert_eq!(
        (approval.requested_by(), approval.approved_by()),
        (op("alice"), op("carol"))
    );
    assert_eq!(approval.approval_id(), req.request_id);
}

fn mark_failed_records_an_external_rail_failure(world: World) {
    // Given a payment stuck in SENT
    world.sent("p1");
    // When alice asks to mark it failed and bob approves
    let req = request(&world, OpsAction::MarkFailed, "p1", "alice").unwrap();
    let payment = approve_executes(&world, &req, "bob");
    // Then it is FAILED by the operator, and retryable
    assert_eq!(
        payment.last_failure().unwrap().reason(),
        FailureReason::OperatorMarkedFailed
    );
    assert_eq!(payment.can_retry(), Ok(()));
}

fn a_request_alone_changes_nothing(world: World) {
    // Given a timed-out payment
    world.timed_out("p1");
    let before = world.events("p1");
    // When a retry is only requested
    let req = request(&world, OpsAction::Retry, "p1", "alice").unwrap();
    // Then the payment is unchanged and the request is pending, under the policy's version
    assert_eq!(world.events("p1"), before);
    assert_eq!(req.status, RequestStatus::Pending);
    assert_eq!(req.policy_version, "example-2025-12-01");
    assert_eq!(req.attempt_id, Some(att("att_1")));
}

fn a_rejected_request_executes_nothing(world: World) {
    // Given a pending retry request
    world.timed_out("p1");
    let req = request(&world, OpsAction::Retry, "p1", "alice").unwrap();
    // When bob rejects it
    let payments = world.payments();
    let ops = OperatorActions::new(&payments, &world.policy);
    let rejected = ops
        .reject(
            req.request_id,
            op("bob"),
            text("payee bank says it arrived"),
        )
        .unwrap();
    // Then it is rejected, the payment stays FAILED, and it can no longer be approved
    assert_eq!(rejected.status, RequestStatus::Rejected);
    assert_eq!(world.payment("p1").state(), PaymentState::Failed);
    assert_eq!(
        refusal(approve(&world, req.request_id, "carol")),
        "ops/already-decided"
    );
}

fn retry_of_a_payment_that_has_not_failed_is_refused(world: World) {
    world.sent("p1");
    assert_eq!(
        refusal(request(&world, OpsAction::Retry, "p1", "alice")),
        "lifecycle/legal-transition"
    );
}

fn retry_of_a_rejected_payment_is_refused(world: World) {
    // Given a payment the payee bank rejected (AC04: account closed, not retryable)
    world.sent("p1");
    world
        .rail("p1", "p1-rjct", rejected(att("att_1"), "AC04"))
        .unwrap();
    // When a retry is requested, Then the core's guard refuses it
    assert_eq!(
        refusal(request(&world, OpsAction::Retry, "p1", "alice")),
        "lifecycle/retry-only-retryable"
    );
}

fn mark_failed_before_send_is_refused(world: World) {
    world.authorised("p1");
    assert_eq!(
        refusal(request(&world, OpsAction::MarkFailed, "p1", "alice")),
        "lifecycle/failure-reason-fits-state"
    );
}

fn cancel_after_send_is_refused_with_a_recall_message(world: World) {
    // Given a sent payment
    world.sent("p1");
    // When a cancel is requested
    let result = request(&world, OpsAction::Cancel, "p1", "alice");
    // Then it is refused: NPP payments are irrevocable; a recall is needed
    let message = result
        .as_ref()
        .err()
        .map(ToString::to_string)
        .unwrap_or_default();
    assert_eq!(refusal(result), "lifecycle/cancel-before-send");
    assert!(message.contains("recall"), "{message}");
}

fn an_action_on_an_unknown_payment_is_refused(world: World) {
    assert!(matches!(
        request(&world, OpsAction::Cancel, "nobody", "alice"),
        Err(AppError::UnknownPayment(_))
    ));
}

// ---------------------------------------------------------------- maker-checker

fn self_approval_is_refused(world: World) {
    world.timed_out("p1");
    let req = request(&world, OpsAction::Retry, "p1", "bob");
    // bob may not request at all under the example policy; give alice both sides instead.
    assert_eq!(refusal(req), "policy/may-request");
    let req = request(&world, OpsAction::Retry, "p1", "alice").unwrap();
    assert_eq!(
        refusal(approve(&world, req.request_id, "alice")),
        "ops/four-eyes"
    );
}

fn an_approval_is_single_use(world: World) {
    // Given an executed retry
    world.timed_out("p1");
    let req = request(&world, OpsAction::Retry, "p1", "alice").unwrap();
    approve_executes(&world, &req, "bob");
    // When carol approves the same request again
    // Then it is refused, and only one retry was recorded
    assert_eq!(
        refusal(approve(&world, req.request_id, "carol")),
        "ops/already-decided"
    );
    let retries = world
        .events("p1")
        .iter()
        .filter(|e| e.kind() == EventKind::PaymentRetryApproved)
        .count();
    assert_eq!(retries, 1);
}

fn an_approval_is_bound_to_its_attempt(world: World) {
    // Given two retry requests for the first failed attempt
    world.timed_out("p1");
    let first = request(&world, OpsAction::Retry, "p1", "alice").unwrap();
    let second = request(&world, OpsAction::Retry, "p1", "alice").unwrap();
    // And the first is approved, and its new attempt times out too
    approve_executes(&world, &first, "bob");
    world
        .payments()
        .record_sent(pid("p1"), att("att_2"))
        .unwrap();
    world
        .rail("p1", "p1-timeout-2", timeout(att("att_2")))
        .unwrap();
    // When the second (bound to att_1) is approved
    // Then it is refused: the payment has moved on to att_2
    assert_eq!(
        refusal(approve(&world, second.request_id, "carol")),
        "ops/bound-to-attempt"
    );
}

fn a_lapsed_approval_is_refused(world: World) {
    // Given a retry requested 16 minutes ago (the policy allows 15)
    world.timed_out("p1");
    let req = request(&world, OpsAction::Retry, "p1", "alice").unwrap();
    world.clock.advance(16 * MINUTE);
    // When bob approves, Then it is refused as lapsed and recorded as such
    assert_eq!(
        refusal(approve(&world, req.request_id, "bob")),
        "ops/approval-lapsed"
    );
    let payments = world.payments();
    let ops = OperatorActions::new(&payments, &world.policy);
    assert_eq!(
        ops.load(req.request_id).unwrap().status,
        RequestStatus::Lapsed
    );
    assert_eq!(world.payment("p1").state(), PaymentState::Failed);
}

fn an_operator_without_the_role_is_refused(world: World) {
    world.timed_out("p1");
    assert_eq!(
        refusal(request(&world, OpsAction::Retry, "p1", "mallory")),
        "policy/may-request"
    );
    let req = request(&world, OpsAction::Retry, "p1", "alice").unwrap();
    assert_eq!(
        refusal(approve(&world, req.request_id, "mallory")),
        "policy/may-approve"
    );
}

fn retry_beyond_the_limit_is_refused(world: World) {
    // Given a payment that failed on all three attempts the policy allows
    world.timed_out("p1");
    for n in 2..=3 {
        let req = request(&world, OpsAction::Retry, "p1", "alice").unwrap();
        approve_executes(&world, &req, "bob");
        let attempt = att(&format!("att_{n}"));
        world.payments().record_sent(pid("p1"), attempt).unwrap();
        world
            .rail("p1", &format!("p1-timeout-{n}"), timeout(attempt))
            .unwrap();
    }
    // When a fourth attempt is requested, Then it is refused
    assert_eq!(
        refusal(request(&world, OpsAction::Retry, "p1", "alice")),
        "attempts/attempt-limit"
    );
}

fn a_large_mark_failed_needs_two_approvers(world: World) {
    // Given a sent payment of $20,000 (the policy wants two approvers above $10,000)
    world
        .payments()
        .create_intent(&world.intent("big", 2_000_000, "payer"))
        .unwrap();
    world
        .payments()
        .authorise(pid("big"), true, Money::from_minor_units(10_000_000))
        .unwrap();
    world
        .payments()
        .record_sent(pid("big"), att("att_1"))
        .unwrap();
    let req = request(&world, OpsAction::MarkFailed, "big", "alice").unwrap();
    assert_eq!(req.approvals_required, 2);
    // When bob approves, Then it waits for a second approver
    assert!(matches!(
        approve(&world, req.request_id, "bob").unwrap(),
        Approved::AwaitingMoreApprovals(_)
    ));
    assert_eq!(
        refusal(approve(&world, req.request_id, "bob")),
        "ops/distinct-approvers"
    );
    assert_eq!(world.payment("big").state(), PaymentState::Sent);
    // And when carol approves too, Then it runs
    let payment = approve_executes(&world, &req, "carol");
    assert_eq!(payment.state(), PaymentState::Failed);
}

fn two_approvers_at_once_execute_it_once(world: World) {
    // Given a pending retry
    world.timed_out("p1");
    let req = request(&world, OpsAction::Retry, "p1", "alice").unwrap();
    // When bob and carol approve at the same moment
    let results: Vec<Result<Approved, AppError>> = std::thread::scope(|s| {
        let handles: Vec<_> = ["bob", "carol"]
            .into_iter()
            .map(|who| {
                let world = &world;
                s.spawn(move || approve(world, req.request_id, who))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // Then the retry ran exactly once
    let retries = world
        .events("p1")
        .iter()
        .filter(|e| e.kind() == EventKind::PaymentRetryApproved)
        .count();
    assert_eq!(retries, 1, "{results:?}");
    assert!(results.iter().any(Result::is_ok), "{results:?}");
}

// ---------------------------------------------------------------- the policy the store holds

/// The example policy with `edit` applied to its text.
fn policy_with(edit: impl Fn(&str) -> String) -> TomlPolicy {
    TomlPolicy::parse(&edit(POLICY)).unwrap()
}

fn the_first_operator_action_records_the_policy_in_the_store(world: World) {
    // Given a store that holds no policy yet
    world.timed_out("p1");
    assert!(policy_in_force(&*world.store).unwrap().is_none());
    // When alice requests a retry under the example policy
    let req = request(&world, OpsAction::Retry, "p1", "alice").unwrap();
    // Then that policy is the store's, and the request is pinned to its version and hash
    let stored = policy_in_force(&*world.store).unwrap().unwrap();
    assert_eq!(stored.policy.sha256(), world.policy.sha256());
    assert_eq!(req.policy_version, world.policy.version());
    assert_eq!(req.policy_sha256.as_deref(), Some(world.policy.sha256()));
    // And the approval records the same policy
    approve_executes(&world, &req, "bob");
    let done = world_ops_load(&world, req.request_id);
    assert_eq!(
        done.approvals[0].policy_sha256.as_deref(),
        Some(world.policy.sha256())
    );
}

fn world_ops_load(world: &World, id: ApprovalId) -> OpsRequest {
    load_request(&*world.store, id).unwrap()
}

fn an_approver_cannot_bring_a_policy_of_their_own(world: World) {
    // Given a pending retry under the store's policy
    world.timed_out("p1");
    let req = request(&world, OpsAction::Retry, "p1", "alice").unwrap();
    // When mallory approves with a policy file she wrote, which makes her an approver
    let mallorys = policy_with(|text| {
        text.replace(
            "carol = [\"approver\"]",
            "carol = [\"approver\"]\nmallory = [\"approver\"]",
        )
    });
    let payments = world.payments();
    let result = OperatorActions::new(&payments, &mallorys).approve(req.request_id, op("mallory"));
    // Then it is refused: the store's policy decides, and nothing ran
    assert_eq!(refusal(result), "policy/not-in-force");
    assert_eq!(
        world_ops_load(&world, req.request_id).status,
        RequestStatus::Pending
    );
    assert_eq!(world.payment("p1").state(), PaymentState::Failed);
}

fn a_request_is_pinned_to_the_policy_it_was_made_under(world: World) {
    // Given a retry requested under a policy whose approvals lapse after one minute
    let short = policy_with(|text| {
        text.replace("approval_lapse_minutes = 15", "approval_lapse_minutes = 1")
            .replace("example-2025-12-01", "short-lapse")
    });
    world.timed_out("p1");
    let payments = world.payments();
    let req = OperatorActions::new(&payments, &short)
        .request(
            OpsAction::Retry,
            pid("p1"),
            op("alice"),
            text("rail timed out"),
        )
        .unwrap();
    // When, 80 s later, a 15-minute policy is loaded and bob approves under it
    world.clock.advance(80 * 1_000_000_000);
    load_policy(&*world.store, &world.policy, world.clock.now()).unwrap();
    let result = approve(&world, req.request_id, "bob");
    // Then the approval is refused: the request was made under another policy
    assert_eq!(refusal(result), "ops/policy-changed");
    // And under its own policy (no longer in force) nobody can approve it either
    let stale = OperatorActions::new(&payments, &short).approve(req.request_id, op("bob"));
    assert_eq!(refusal(stale), "policy/not-in-force");
    assert_eq!(world.payment("p1").state(), PaymentState::Failed);
}

fn a_changed_policy_needs_a_new_version(world: World) {
    // Given the example policy in force
    load_policy(&*world.store, &world.policy, world.clock.now()).unwrap();
    // When the same version is loaded with other content, Then it is refused
    let changed = policy_with(|text| text.replace("attempt_limit = 3", "attempt_limit = 4"));
    assert_eq!(
        refusal(load_policy(&*world.store, &changed, world.clock.now())),
        "policy/version-must-change"
    );
    // And the same document again changes nothing
    assert_eq!(
        load_policy(&*world.store, &world.policy, world.clock.now()).unwrap(),
        PolicyLoad::AlreadyInForce
    );
}

fn a_policy_naming_one_operator_in_two_spellings_is_refused(_world: World) {
    let twice = POLICY.replace(
        "carol = [\"approver\"]",
        "carol = [\"approver\"]\nAlice = [\"approver\"]",
    );
    let error = TomlPolicy::parse(&twice).unwrap_err().to_string();
    assert!(error.contains("differ only in case"), "{error}");
}

fn an_operator_in_another_spelling_is_still_the_requester(world: World) {
    // Given alice's pending retry, and a policy that lets "Alice" approve (one person, two cases
    // cannot be listed together, so the policy lists only the approver spelling)
    world.timed_out("p1");
    let req = request(&world, OpsAction::Retry, "p1", "alice").unwrap();
    // When "Alice" approves, Then four eyes refuses it
    assert_eq!(
        refusal(approve(&world, req.request_id, "Alice")),
        "ops/four-eyes"
    );
}

/// A store whose atomic appends fail as a crash between the two writes would: nothing commits.
struct CrashOnAtomic<'a>(&'a dyn event_store::EventStore);

impl event_store::EventStore for CrashOnAtomic<'_> {
    fn append(
        &self,
        r: event_store::AppendRequest,
    ) -> Result<event_store::AppendOutcome, event_store::StoreError> {
        self.0.append(r)
    }
    fn append_atomic(
        &self,
        _: Vec<event_store::AppendRequest>,
    ) -> Result<event_store::GroupOutcome, event_store::StoreError> {
        Err(event_store::StoreError::Unavailable(
            "the process died mid-commit".into(),
        ))
    }
    fn stream_version(&self, s: &event_store::StreamId) -> Result<u32, event_store::StoreError> {
        self.0.stream_version(s)
    }
    fn read_stream(
        &self,
        s: &event_store::StreamId,
    ) -> Result<Vec<event_store::RecordedEvent>, event_store::StoreError> {
        self.0.read_stream(s)
    }
    fn read_all(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<event_store::RecordedEvent>, event_store::StoreError> {
        self.0.read_all(after, limit)
    }
    fn list_streams(
        &self,
        after: Option<&event_store::StreamId>,
        limit: usize,
    ) -> Result<Vec<event_store::StreamId>, event_store::StoreError> {
        self.0.list_streams(after, limit)
    }
    fn find_idempotency(
        &self,
        key: &str,
    ) -> Result<Option<(event_store::PriorResult, [u8; 32])>, event_store::StoreError> {
        self.0.find_idempotency(key)
    }
    fn find_rail_message(
        &self,
        id: &str,
    ) -> Result<Option<event_store::PriorResult>, event_store::StoreError> {
        self.0.find_rail_message(id)
    }
    fn rail_messages(
        &self,
        s: &event_store::StreamId,
    ) -> Result<Vec<event_store::RailMessageRecord>, event_store::StoreError> {
        self.0.rail_messages(s)
    }
    fn claim_outbox(
        &self,
        claim: &event_store::OutboxClaim<'_>,
    ) -> Result<Vec<event_store::OutboxItem>, event_store::StoreError> {
        self.0.claim_outbox(claim)
    }
    fn complete_outbox(
        &self,
        id: &str,
        owner: &str,
        now: Timestamp,
    ) -> Result<bool, event_store::StoreError> {
        self.0.complete_outbox(id, owner, now)
    }
    fn defer_outbox(
        &self,
        id: &str,
        owner: &str,
        until: Timestamp,
        why: &str,
        attempt: event_store::Attempt,
    ) -> Result<bool, event_store::StoreError> {
        self.0.defer_outbox(id, owner, until, why, attempt)
    }
    fn fail_outbox(
        &self,
        id: &str,
        owner: &str,
        now: Timestamp,
        why: &str,
        attempt: event_store::Attempt,
    ) -> Result<bool, event_store::StoreError> {
        self.0.fail_outbox(id, owner, now, why, attempt)
    }
    fn reopen_outbox(&self, id: &str) -> Result<bool, event_store::StoreError> {
        self.0.reopen_outbox(id)
    }
    fn list_outbox(
        &self,
        query: &event_store::OutboxQuery<'_>,
    ) -> Result<Vec<event_store::OutboxEntry>, event_store::StoreError> {
        self.0.list_outbox(query)
    }
    fn pending_outbox(&self) -> Result<usize, event_store::StoreError> {
        self.0.pending_outbox()
    }

    fn oldest_pending_outbox(
        &self,
    ) -> Result<Option<core_npp::Timestamp>, event_store::StoreError> {
        self.0.oldest_pending_outbox()
    }
}

fn an_approval_is_never_recorded_without_its_execution(world: World) {
    // Given a pending retry
    world.timed_out("p1");
    let req = request(&world, OpsAction::Retry, "p1", "alice").unwrap();
    // When the approving process dies in the commit that approves and executes
    let crashing = CrashOnAtomic(&*world.store);
    let payments = Payments::new(&crashing, &world.clock);
    let result = OperatorActions::new(&payments, &world.policy).approve(req.request_id, op("bob"));
    assert!(result.is_err());
    // Then neither the approval nor the retry was recorded: the request is still pending, for
    // an allowed approver, and there is no approved-but-not-run request for anyone to finish
    let after = world_ops_load(&world, req.request_id);
    assert_eq!(after.status, RequestStatus::Pending);
    assert!(after.approvals.is_empty());
    assert_eq!(world.payment("p1").state(), PaymentState::Failed);
    // And an operator the policy does not know still cannot run it
    assert_eq!(
        refusal(approve(&world, req.request_id, "dave")),
        "policy/may-approve"
    );
    approve_executes(&world, &req, "bob");
}

fn an_approved_request_left_by_an_older_version_runs_only_for_an_allowed_approver(world: World) {
    // Given a request approved by bob whose execution never ran (an older version crashed in
    // between; written here as that version wrote it)
    world.timed_out("p1");
    let req = request(&world, OpsAction::Retry, "p1", "alice").unwrap();
    let approved = OpsEvent::OperatorActionApproved {
        request_id: req.request_id,
        approved_by: op("bob"),
        approved_at: world.clock.now(),
        policy_version: world.policy.version().to_owned(),
        policy_sha256: None,
    };
    let payload = serde_json::to_string(&approved).unwrap();
    let event = event_store::NewEvent::new("OperatorActionApproved", 1, world.clock.now(), payload)
        .unwrap();
    world
        .store
        .append(
            event_store::AppendRequest::new(
                event_store::StreamId::ops(req.request_id),
                req.version,
                vec![event],
                world.clock.now(),
            )
            .unwrap(),
        )
        .unwrap();
    assert_eq!(
        world_ops_load(&world, req.request_id).status,
        RequestStatus::Approved
    );
    // When dave (in no policy), alice (the requester) or bob (who approved) try to finish it,
    // Then each is refused
    assert_eq!(
        refusal(approve(&world, req.request_id, "dave")),
        "policy/may-approve"
    );
    assert_eq!(
        refusal(approve(&world, req.request_id, "alice")),
        "ops/four-eyes"
    );
    assert_eq!(
        refusal(approve(&world, req.request_id, "bob")),
        "ops/distinct-approvers"
    );
    assert_eq!(world.payment("p1").state(), PaymentState::Failed);
    // And carol, whom the policy allows, approves and it runs, under her recorded approval
    let payment = approve_executes(&world, &req, "carol");
    assert_eq!(
        payment.approvals().last().unwrap().approved_by(),
        op("carol")
    );
}

fn two_approvers_racing_on_a_two_approval_request_both_count(world: World) {
    // Given a large mark-failed that needs two approvers
    world
        .payments()
        .create_intent(&world.intent("big", 2_000_000, "payer"))
        .unwrap();
    world
        .payments()
        .authorise(pid("big"), true, Money::from_minor_units(10_000_000))
        .unwrap();
    world
        .payments()
        .record_sent(pid("big"), att("att_1"))
        .unwrap();
    let req = request(&world, OpsAction::MarkFailed, "big", "alice").unwrap();
    // When bob and carol approve at the same moment
    let results: Vec<Result<Approved, AppError>> = std::thread::scope(|s| {
        let handles: Vec<_> = ["bob", "carol"]
            .into_iter()
            .map(|who| {
                let world = &world;
                s.spawn(move || approve(world, req.request_id, who))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // Then neither is told it was decided by someone else: one approval waits, the other runs
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(
        world_ops_load(&world, req.request_id).status,
        RequestStatus::Executed
    );
    assert_eq!(world.payment("big").state(), PaymentState::Failed);
}

fn requests_are_listed_oldest_first_by_when_they_were_made(world: World) {
    // Given requests made one minute apart on eight payments (their ids are hashes, in no order)
    let mut made = Vec::new();
    for n in 0..8 {
        let id = format!("p{n}");
        world.timed_out(&id);
        world.clock.advance(MINUTE);
        made.push(
            request(&world, OpsAction::Retry, &id, "alice")
                .unwrap()
                .request_id,
        );
    }
    // When they are listed, Then they come in the order they were made
    let listed: Vec<ApprovalId> = list_requests(&*world.store, false)
        .unwrap()
        .iter()
        .map(|r| r.request_id)
        .collect();
    assert_eq!(listed, made);
}

fn a_retry_never_reuses_an_attempt_id_an_imported_history_used(world: World) {
    // Given an imported payment whose only attempt was named att_2, and which timed out
    let id = pid("imp");
    let at = |s: &str| Timestamp::parse(&format!("2025-12-17T08:00:{s}Z")).unwrap();
    let history = vec![
        PaymentEvent::PaymentIntentCreated(IntentCreated::new(
            id,
            at("00"),
            Money::from_minor_units(AMOUNT),
            Currency::AUD,
            IdempotencyKey::parse("idem-imp").unwrap(),
            AccountId::parse("payer").unwrap(),
            AccountId::parse("payee").unwrap(),
            AttemptLimit::default(),
        )),
        PaymentEvent::PaymentAuthorised(Authorised::new(
            id,
            at("01"),
            true,
            Money::from_minor_units(AMOUNT),
        )),
        PaymentEvent::PaymentSentToRail(SentToRail::new(id, at("02"), att("att_2"))),
        PaymentEvent::PaymentFailed(Failed::new(
            id,
            at("17"),
            Some(att("att_2")),
            FailureReason::RailTimeout,
            Some(text("AB05")),
            None,
        )),
    ];
    world.payments().import_history(&history).unwrap();
    // When a retry is requested and approved
    let req = request(&world, OpsAction::Retry, "imp", "alice").unwrap();
    let payment = approve_executes(&world, &req, "bob");
    // Then the new attempt takes the first id not used: att_3
    assert_eq!(payment.open_attempt().unwrap().attempt_id(), att("att_3"));
}

// ---------------------------------------------------------------- commands and funds

fn the_same_intent_twice_is_one_payment_and_a_changed_one_is_refused(world: World) {
    let intent = world.intent("p1", AMOUNT, "payer");
    let first = world.payments().create_intent(&intent).unwrap();
    let again = world.payments().create_intent(&intent).unwrap();
    assert_eq!(
        (first.effect, again.effect),
        (Effect::Appended, Effect::AlreadyApplied)
    );
    assert_eq!(first.payment, again.payment);
    let mut changed = intent.clone();
    changed.amount = Money::from_minor_units(AMOUNT + 1);
    assert!(matches!(
        world.payments().create_intent(&changed),
        Err(AppError::Store(
            event_store::StoreError::IdempotencyConflict { .. }
        ))
    ));
    assert_eq!(world.events("p1").len(), 1);
}

fn authorisation_checks_funds_against_derived_earmarks(world: World) {
    // Given a payer with $1,000 available and two payments of $600
    let available = Money::from_minor_units(100_000);
    let payments = world.payments();
    for id in ["p1", "p2"] {
        world
            .payments()
            .create_intent(&world.intent(id, 60_000, "payer"))
            .unwrap();
    }
    // When both are authorised
    let first = payments.authorise(pid("p1"), true, available).unwrap();
    let second = payments.authorise(pid("p2"), true, available).unwrap();
    // Then the first earmarks $600 and the second fails for insufficient funds
    assert_eq!(first.payment.state(), PaymentState::Authorised);
    assert_eq!(
        second.payment.last_failure().unwrap().reason(),
        FailureReason::InsufficientFunds
    );
    let mut funds = payments.funds().snapshot().unwrap();
    funds.catch_up(&*world.store).unwrap();
    let position = funds.account(AccountId::parse("payer").unwrap());
    assert_eq!(
        position.outstanding().unwrap(),
        Money::from_minor_units(60_000)
    );
}

fn funds_positions_follow_every_kind_of_event(world: World) {
    // Given one payer's payments of $500 ending every way a payment can
    let a = Money::from_minor_units(AMOUNT);
    world.timed_out("retried");
    let req = request(&world, OpsAction::Retry, "retried", "alice").unwrap();
    approve_executes(&world, &req, "bob");
    world
        .payments()
        .record_sent(pid("retried"), att("att_2"))
        .unwrap();
    world
        .rail("retried", "retried-acsc", settled(att("att_2")))
        .unwrap();
    world.authorised("cancelled");
    let req = request(&world, OpsAction::Cancel, "cancelled", "alice").unwrap();
    approve_executes(&world, &req, "carol");
    world.authorised("expired");
    world.clock.advance(60 * MINUTE);
    world
        .payments()
        .expire_if_due(pid("expired"), 30 * MINUTE)
        .unwrap();
    world.sent("rejected");
    world
        .rail("rejected", "rejected-rjct", rejected(att("att_1"), "AC04"))
        .unwrap();
    world.sent("in-flight");
    world.created("unauthorised");
    // When the projection folds the log
    let funds = FundsProjection::rebuild(&*world.store).unwrap();
    let position = funds.account(AccountId::parse("payer").unwrap());
    // Then earmarks were placed six times (five authorisations and an approved retry), one
    // settled out, four released (a timeout, a cancel, an expiry, a rejection), one outstanding
    let times = |n: i64| Money::from_minor_units(n * AMOUNT);
    assert_eq!(position.earmarked, times(6), "{position:?}");
    assert_eq!(position.settled_out, times(1), "{position:?}");
    assert_eq!(position.released, times(4), "{position:?}");
    assert_eq!(position.outstanding().unwrap(), a);
}

fn concurrent_authorisations_share_catch_ups_and_miss_no_commit(world: World) {
    // Given 200 intents of $1 from one payer, and a payer with $150 available
    let available = Money::from_minor_units(15_000);
    for n in 0..200 {
        world
            .payments()
            .create_intent(&world.intent(&format!("c{n}"), 100, "payer"))
            .unwrap();
    }
    // When 8 threads authorise them at once, sharing one live projection
    let payments = world.payments();
    std::thread::scope(|scope| {
        for t in 0..8 {
            let payments = &payments;
            scope.spawn(move || {
                for n in (t..200).step_by(8) {
                    payments
                        .authorise(pid(&format!("c{n}")), true, available)
                        .unwrap();
                }
            });
        }
    });
    // Then the live projection, caught up once more, equals one rebuilt from the log
    let funds = payments.funds();
    let outstanding = funds
        .outstanding(&*world.store, AccountId::parse("payer").unwrap())
        .unwrap();
    let rebuilt = FundsProjection::rebuild(&*world.store).unwrap();
    assert_eq!(funds.snapshot().unwrap(), rebuilt);
    // And at most one commit's worth of racing authorisations overshot the $150: every thread
    // saw every earmark committed before it asked, so the overshoot is bounded by the threads
    let earmarked = rebuilt
        .account(AccountId::parse("payer").unwrap())
        .earmarked;
    assert_eq!(outstanding, earmarked);
    assert!(earmarked >= Money::from_minor_units(15_000 - 100));
    assert!(
        earmarked <= Money::from_minor_units(15_000 + 8 * 100),
        "earmarked {earmarked}"
    );
}

// ---------------------------------------------------------------- batches

fn concurrent_single_commands_share_hand_offs_and_keep_their_own_results(world: World) {
    // Given 16 callers on one set of handlers, each moving its own payments with single commands
    let payments = world.payments();
    let available = Money::from_minor_units(1_000_000_000);
    std::thread::scope(|scope| {
        for t in 0..16 {
            let (payments, world) = (&payments, &world);
            scope.spawn(move || {
                for n in 0..12 {
                    let id = format!("co{t}-{n}");
                    let created = payments
                        .create_intent(&world.intent(&id, AMOUNT, &format!("payer{t}")))
                        .unwrap();
                    assert_eq!(created.payment.payment_intent_id(), pid(&id));
                    let authorised = payments.authorise(pid(&id), true, available).unwrap();
                    assert_eq!(authorised.payment.state(), PaymentState::Authorised);
                    let sent = payments.record_sent(pid(&id), att("att_1")).unwrap();
                    assert_eq!(sent.version, 3);
                    let again =
                        payments.create_intent(&world.intent(&id, AMOUNT, &format!("payer{t}")));
                    assert_eq!(again.unwrap().effect, Effect::AlreadyApplied);
                }
            });
        }
    });
    // Then every caller got its own result and every history is whole
    for t in 0..16 {
        for n in 0..12 {
            assert_eq!(
                world.payment(&format!("co{t}-{n}")).state(),
                PaymentState::Sent
            );
        }
    }
    assert!(verify_store(&*world.store).is_ok());
    // And on a store whose commits are shared, the commands took fewer hand-offs than there were
    // commands (in memory they run directly: nothing to share)
    let stats = payments.coalescing();
    if world.store.batches_pay() {
        assert_eq!(stats.commands, 16 * 12 * 4);
        assert!(stats.rounds < stats.commands, "{stats:?}");
    } else {
        assert_eq!(stats.commands, 0, "{stats:?}");
    }
}

fn submitted_commands_run_on_the_serving_threads_and_call_back(world: World) {
    let payments = world.payments();
    // Given no thread serving commands, When one is submitted, Then it is refused at once
    let (tx, rx) = std::sync::mpsc::channel();
    let intent = world.intent("sub-0", AMOUNT, "payer");
    payments.submit(OwnedCommand::CreateIntent(intent), {
        let tx = tx.clone();
        move |result| tx.send(result).unwrap()
    });
    assert_eq!(refusal(rx.recv().unwrap()), "app/not-serving");
    // Given two serving threads
    std::thread::scope(|scope| {
        for _ in 0..2 {
            let payments = &payments;
            scope.spawn(move || payments.serve_commands());
        }
        // Wait until they serve: a submission is refused until one of them has started.
        loop {
            let (probe, answer) = std::sync::mpsc::channel();
            payments.submit(
                OwnedCommand::CreateIntent(world.intent("sub-probe", AMOUNT, "payer")),
                move |result| probe.send(result).unwrap(),
            );
            if answer.recv().unwrap().is_ok() {
                break;
            }
            std::thread::yield_now();
        }
        // When 300 intents are submitted from one thread without waiting for any
        for n in 0..300 {
            let tx = tx.clone();
            let intent = world.intent(&format!("sub-{n}"), AMOUNT, "payer");
            payments.submit(OwnedCommand::CreateIntent(intent), move |result| {
                tx.send(result).unwrap();
            });
        }
        // Then each is answered with its own payment, once
        let mut ids = std::collections::BTreeSet::new();
        for _ in 0..300 {
            let outcome = rx.recv().unwrap().unwrap();
            assert_eq!(outcome.effect, Effect::Appended);
            assert!(ids.insert(outcome.payment.payment_intent_id()));
        }
        assert_eq!(ids.len(), 300);
        // And asked to stop, the servers return (the scope ends only when they do)
        payments.stop_serving();
    });
    // And the commands shared hand-offs
    let stats = payments.coalescing();
    assert!(stats.commands >= 300, "{stats:?}");
    assert!(stats.rounds < stats.commands, "{stats:?}");
    assert_eq!(stats.queued, 0);
}

fn a_batch_moves_many_payments_and_earmarks_as_if_one_by_one(world: World) {
    // Given 8 intents of $500 from one payer with $2,500 available, created in one batch
    let ids: Vec<String> = (0..8).map(|n| format!("b{n}")).collect();
    let intents: Vec<NewIntent> = ids
        .iter()
        .map(|id| world.intent(id, AMOUNT, "payer"))
        .collect();
    let payments = world.payments();
    let created = payments.run_batch(
        &intents
            .iter()
            .map(Command::CreateIntent)
            .collect::<Vec<_>>(),
    );
    assert!(
        created
            .iter()
            .all(|r| r.as_ref().unwrap().effect == Effect::Appended)
    );
    // When all eight are authorised in one batch
    let available = Money::from_minor_units(5 * AMOUNT);
    let authorise: Vec<Command<'_>> = ids
        .iter()
        .map(|id| Command::Authorise {
            id: pid(id),
            policy_checks_passed: true,
            available,
        })
        .collect();
    let states: Vec<PaymentState> = payments
        .run_batch(&authorise)
        .into_iter()
        .map(|r| r.unwrap().payment.state())
        .collect();
    // Then exactly five are authorised, as one by one: the payer's later authorisations ran
    // after the first one's commit
    assert_eq!(
        states
            .iter()
            .filter(|s| **s == PaymentState::Authorised)
            .count(),
        5
    );
    assert_eq!(
        states
            .iter()
            .filter(|s| **s == PaymentState::Failed)
            .count(),
        3
    );
    // And the stored histories are what the single commands would have written
    for (id, state) in ids.iter().zip(&states) {
        let kinds: Vec<EventKind> = world.events(id).iter().map(PaymentEvent::kind).collect();
        let second = if *state == PaymentState::Authorised {
            EventKind::PaymentAuthorised
        } else {
            EventKind::PaymentFailed
        };
        assert_eq!(kinds, [EventKind::PaymentIntentCreated, second], "{id}");
        assert_eq!(world.payment(id).state(), *state);
    }
    let outstanding = payments
        .funds()
        .outstanding(&*world.store, AccountId::parse("payer").unwrap())
        .unwrap();
    assert_eq!(outstanding, available);
}

fn a_refused_authorisation_in_a_batch_earmarks_nothing_for_its_neighbours(world: World) {
    // Given a payer with room for two payments, one of them already authorised
    let available = Money::from_minor_units(2 * AMOUNT);
    world.created("p1");
    world.created("p2");
    let payments = world.payments();
    payments.authorise(pid("p1"), true, available).unwrap();
    // When one batch authorises p1 again (refused: it is authorised) and p2
    let authorise = |id: &str| Command::Authorise {
        id: pid(id),
        policy_checks_passed: true,
        available,
    };
    let mut results = payments
        .run_batch(&[authorise("p1"), authorise("p2")])
        .into_iter();
    // Then p1's refusal earmarked nothing, and p2 fits beside p1's one earmark
    assert!(results.next().unwrap().is_err());
    assert_eq!(
        results.next().unwrap().unwrap().payment.state(),
        PaymentState::Authorised
    );
}

fn a_batch_applies_commands_for_one_payment_in_order_and_repeats_once(world: World) {
    // Given two sent payments
    world.sent("p1");
    world.sent("p2");
    let (ack, settle) = (acked(att("att_1")), settled(att("att_1")));
    // When one batch carries p1's acknowledgement, its settlement, the settlement again, and
    // p2's rejection
    let rejected = rejected(att("att_1"), "AC04");
    let batch = [
        Command::RailOutcome {
            id: pid("p1"),
            message_id: "m-ack",
            payload: None,
            outcome: &ack,
        },
        Command::RailOutcome {
            id: pid("p1"),
            message_id: "m-acsc",
            payload: None,
            outcome: &settle,
        },
        Command::RailOutcome {
            id: pid("p1"),
            message_id: "m-acsc",
            payload: None,
            outcome: &settle,
        },
        Command::RailOutcome {
            id: pid("p2"),
            message_id: "m-rjct",
            payload: None,
            outcome: &rejected,
        },
    ];
    let results: Vec<Outcome> = world
        .payments()
        .run_batch(&batch)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    // Then p1 is acknowledged then settled, the repeat changes nothing, p2 failed
    let effects: Vec<Effect> = results.iter().map(|o| o.effect).collect();
    assert_eq!(
        effects,
        [
            Effect::Appended,
            Effect::Appended,
            Effect::AlreadyApplied,
            Effect::Appended
        ]
    );
    assert_eq!(world.payment("p1").state(), PaymentState::Settled);
    assert_eq!(world.events("p1").len(), 5);
    assert_eq!(world.payment("p2").state(), PaymentState::Failed);
}

fn a_batch_decided_on_a_stale_value_retries_alone(world: World) {
    // Given a handler that cached p1 as authorised, and another process that sent it since
    let stale = world.payments();
    world.created("p1");
    stale
        .authorise(pid("p1"), true, Money::from_minor_units(AMOUNT * 10))
        .unwrap();
    world
        .payments()
        .record_sent(pid("p1"), att("att_1"))
        .unwrap();
    // When the stale handler sends attempt 2 in a batch, beside a fresh payment
    world.created("p2");
    let intent = world.intent("p3", AMOUNT, "payer");
    let mut results = stale
        .run_batch(&[
            Command::RecordSent {
                id: pid("p1"),
                attempt_id: att("att_2"),
                submission: None,
            },
            Command::CreateIntent(&intent),
        ])
        .into_iter();
    // Then the version race is lost and p1 is refused on its current value, as a single command
    // would be; p3 commits
    let alone = refusal(world.payments().record_sent(pid("p1"), att("att_2")));
    assert_eq!(refusal(results.next().unwrap()), alone);
    assert_eq!(results.next().unwrap().unwrap().effect, Effect::Appended);
    assert_eq!(world.events("p1").len(), 3);
}

fn unsent_intents_expire_and_sent_ones_never_do(world: World) {
    world.authorised("p1");
    world.sent("p2");
    let ttl = 10 * MINUTE;
    assert_eq!(
        world
            .payments()
            .expire_if_due(pid("p1"), ttl)
            .unwrap()
            .effect,
        Effect::Unchanged
    );
    world.clock.advance(11 * MINUTE);
    assert_eq!(
        world
            .payments()
            .expire_if_due(pid("p1"), ttl)
            .unwrap()
            .payment
            .state(),
        PaymentState::Expired
    );
    assert_eq!(
        world
            .payments()
            .expire_if_due(pid("p2"), ttl)
            .unwrap()
            .effect,
        Effect::Unchanged
    );
    assert_eq!(world.payment("p2").state(), PaymentState::Sent);
}

fn a_conflicting_rail_outcome_is_refused_and_recorded_as_an_anomaly(world: World) {
    // Given a settled payment
    world.sent("p1");
    world.rail("p1", "m-settle", settled(att("att_1"))).unwrap();
    // When the rail then reports a rejection of the same attempt, twice
    let first = world.rail("p1", "m-reject", rejected(att("att_1"), "AC04"));
    let again = world.rail("p1", "m-reject", rejected(att("att_1"), "AC04"));
    // Then both are refused, the payment stays SETTLED, and one anomaly is on record
    assert_eq!(refusal(first), "rail/outcome-refused");
    assert_eq!(refusal(again), "rail/outcome-refused");
    assert_eq!(world.payment("p1").state(), PaymentState::Settled);
    let anomalies = world
        .store
        .read_stream(&event_store::StreamId::parse("anomaly-p1").unwrap())
        .unwrap();
    assert_eq!(anomalies.len(), 1);
    assert!(
        anomalies[0]
            .event()
            .payload()
            .contains("attempts/one-outcome-per-attempt")
    );
}

fn a_rail_outcome_keeps_its_raw_message_with_its_claim(world: World) {
    // Given two sent payments
    world.sent("p1");
    world.sent("p2");
    let (ack, settle) = (acked(att("att_1")), settled(att("att_1")));
    // When p1's acknowledgement arrives alone with its document, its settlement in a batch with
    // one, p2's settlement in the same batch without one, and p1's settlement again with another
    let payments = world.payments();
    payments
        .record_rail_outcome(pid("p1"), "m-ack", Some("<ack/>"), &ack)
        .unwrap();
    let batch = [
        Command::RailOutcome {
            id: pid("p1"),
            message_id: "m-acsc",
            payload: Some("<acsc/>"),
            outcome: &settle,
        },
        Command::RailOutcome {
            id: pid("p2"),
            message_id: "m-acsc-2",
            payload: None,
            outcome: &settle,
        },
    ];
    for result in payments.run_batch(&batch) {
        assert_eq!(result.unwrap().effect, Effect::Appended);
    }
    let again = payments
        .record_rail_outcome(pid("p1"), "m-acsc", Some("<other/>"), &settle)
        .unwrap();
    assert_eq!(again.effect, Effect::AlreadyApplied);
    // And a rejection of p1's settled attempt arrives with its document (an anomaly)
    let refused = payments.record_rail_outcome(
        pid("p1"),
        "m-rjct",
        Some("<rjct/>"),
        &rejected(att("att_1"), "AC04"),
    );
    assert_eq!(refusal(refused), "rail/outcome-refused");
    // Then each claim keeps the document it was first given, on the stream it changed
    let kept = |stream: &str| -> Vec<(String, u32, Option<String>)> {
        world
            .store
            .rail_messages(&event_store::StreamId::parse(stream).unwrap())
            .unwrap()
            .into_iter()
            .map(|r| (r.message_id, r.version, r.payload))
            .collect()
    };
    assert_eq!(
        kept("payment-p1"),
        [
            ("m-ack".to_owned(), 4, Some("<ack/>".to_owned())),
            ("m-acsc".to_owned(), 5, Some("<acsc/>".to_owned())),
        ]
    );
    assert_eq!(kept("payment-p2"), [("m-acsc-2".to_owned(), 4, None)]);
    assert_eq!(
        kept("anomaly-p1"),
        [("m-rjct".to_owned(), 1, Some("<rjct/>".to_owned()))]
    );
}

fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// 1,000 unique rail messages over 250 payments, each delivered 1 to 3 times, shuffled.
fn a_thousand_callbacks_delivered_up_to_three_times_apply_exactly_once(world: World) {
    let mut seed = 0x00C0_FFEE_u64;
    let mut deliveries = Vec::new();
    let mut expected = BTreeMap::new();
    for n in 0..250 {
        let id = format!("p{n}");
        world.sent(&id);
        let a = att("att_1");
        let settles = !next(&mut seed).is_multiple_of(4);
        let outcomes = [
            (format!("{id}-ack"), acked(a)),
            (format!("{id}-acsp"), acked(a)),
            (
                format!("{id}-final"),
                if settles {
                    settled(a)
                } else {
                    rejected(a, "AM04")
                },
            ),
            (
                format!("{id}-final-status"),
                if settles {
                    settled(a)
                } else {
                    rejected(a, "AM04")
                },
            ),
        ];
        expected.insert(
            id.clone(),
            if settles {
                PaymentState::Settled
            } else {
                PaymentState::Failed
            },
        );
        for (message, outcome) in outcomes {
            for _ in 0..1 + next(&mut seed) % 3 {
                deliveries.push((id.clone(), message.clone(), outcome.clone()));
            }
        }
    }
    for i in (1..deliveries.len()).rev() {
        let j = usize::try_from(next(&mut seed) % (i as u64 + 1)).unwrap();
        deliveries.swap(i, j);
    }
    let mut incremental = FundsProjection::default();
    for (k, (id, message, outcome)) in deliveries.iter().enumerate() {
        // An acknowledgement arriving after the final status is refused (and recorded); every
        // other delivery applies once or is recognised as a repeat.
        let _ = world.rail(id, message, outcome.clone());
        if k.is_multiple_of(97) {
            incremental.catch_up(&*world.store).unwrap();
        }
    }
    for (id, state) in &expected {
        let events = world.events(id);
        assert_eq!(world.payment(id).state(), *state, "{id}");
        let finals = events
            .iter()
            .filter(|e| {
                matches!(
                    e.kind(),
                    EventKind::PaymentSettled | EventKind::PaymentFailed
                )
            })
            .count();
        let acks = events
            .iter()
            .filter(|e| e.kind() == EventKind::PaymentAcknowledged)
            .count();
        assert_eq!((finals, acks <= 1), (1, true), "{id}: {events:?}");
    }
    incremental.catch_up(&*world.store).unwrap();
    assert_eq!(
        incremental,
        FundsProjection::rebuild(&*world.store).unwrap()
    );
    assert!(verify_store(&*world.store).is_ok());
}

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        mod over_memory {
            $(#[test] fn $name() { super::$name(super::memory_world()); })*
        }
        mod over_sqlite {
            $(#[test] fn $name() { super::$name(super::sqlite_world()); })*
        }
    };
}

scenarios!(
    retry_of_a_timed_out_payment_runs_to_settlement,
    cancel_before_send_fails_the_payment_as_cancelled,
    mark_failed_records_an_external_rail_failure,
    a_request_alone_changes_nothing,
    a_rejected_request_executes_nothing,
    retry_of_a_payment_that_has_not_failed_is_refused,
    retry_of_a_rejected_payment_is_refused,
    mark_failed_before_send_is_refused,
    cancel_after_send_is_refused_with_a_recall_message,
    an_action_on_an_unknown_payment_is_refused,
    self_approval_is_refused,
    an_approval_is_single_use,
    an_approval_is_bound_to_its_attempt,
    a_lapsed_approval_is_refused,
    an_operator_without_the_role_is_refused,
    retry_beyond_the_limit_is_refused,
    a_large_mark_failed_needs_two_approvers,
    two_approvers_at_once_execute_it_once,
    the_same_intent_twice_is_one_payment_and_a_changed_one_is_refused,
    authorisation_checks_funds_against_derived_earmarks,
    funds_positions_follow_every_kind_of_event,
    concurrent_authorisations_share_catch_ups_and_miss_no_commit,
    a_batch_moves_many_payments_and_earmarks_as_if_one_by_one,
    a_refused_authorisation_in_a_batch_earmarks_nothing_for_its_neighbours,
    a_batch_applies_commands_for_one_payment_in_order_and_repeats_once,
    a_batch_decided_on_a_stale_value_retries_alone,
    unsent_intents_expire_and_sent_ones_never_do,
    a_conflicting_rail_outcome_is_refused_and_recorded_as_an_anomaly,
    a_rail_outcome_keeps_its_raw_message_with_its_claim,
    a_thousand_callbacks_delivered_up_to_three_times_apply_exactly_once,
    the_first_operator_action_records_the_policy_in_the_store,
    an_approver_cannot_bring_a_policy_of_their_own,
    a_request_is_pinned_to_the_policy_it_was_made_under,
    a_changed_policy_needs_a_new_version,
    a_policy_naming_one_operator_in_two_spellings_is_refused,
    an_operator_in_another_spelling_is_still_the_requester,
    an_approval_is_never_recorded_without_its_execution,
    an_approved_request_left_by_an_older_version_runs_only_for_an_allowed_approver,
    two_approvers_racing_on_a_two_approval_request_both_count,
    requests_are_listed_oldest_first_by_when_they_were_made,
    a_retry_never_reuses_an_attempt_id_an_imported_history_used,
    concurrent_single_commands_share_hand_offs_and_keep_their_own_results,
    submitted_commands_run_on_the_serving_threads_and_call_back,
);
