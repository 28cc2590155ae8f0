//! Test support: terse builders for events and histories, shared by the core's test files.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use core_npp::*;

/// 2025-12-17T09:00:00Z, the base of every test clock.
pub const BASE_UNIX_SECONDS: i128 = 1_765_962_000;

/// The instant `seconds` after the base.
pub fn at(seconds: i64) -> Timestamp {
    Timestamp::from_unix_nanos((BASE_UNIX_SECONDS + i128::from(seconds)) * 1_000_000_000).unwrap()
}

pub fn pid(id: &str) -> PaymentIntentId {
    PaymentIntentId::parse(id).unwrap()
}
pub fn att(id: &str) -> AttemptId {
    AttemptId::parse(id).unwrap()
}
pub fn text(s: &str) -> FreeText {
    FreeText::parse(s).unwrap()
}

pub const AMOUNT: i64 = 50_000;

pub fn intent_with(id: &str, t: i64, amount: i64, currency: &str) -> PaymentEvent {
    PaymentEvent::PaymentIntentCreated(IntentCreated::new(
        pid(id),
        at(t),
        Money::from_minor_units(amount),
        Currency::parse(currency).unwrap(),
        IdempotencyKey::parse(&format!("idem_{id}")).unwrap(),
        AccountId::parse("acc_from").unwrap(),
        AccountId::parse("acc_to").unwrap(),
        AttemptLimit::default(),
    ))
}
pub fn intent(id: &str, t: i64) -> PaymentEvent {
    intent_with(id, t, AMOUNT, "AUD")
}
pub fn intent_limited(id: &str, t: i64, limit: u8) -> PaymentEvent {
    PaymentEvent::PaymentIntentCreated(IntentCreated::new(
        pid(id),
        at(t),
        Money::from_minor_units(AMOUNT),
        Currency::AUD,
        IdempotencyKey::parse(&format!("idem_{id}")).unwrap(),
        AccountId::parse("acc_from").unwrap(),
        AccountId::parse("acc_to").unwrap(),
        AttemptLimit::parse(limit).unwrap(),
    ))
}
pub fn authorised_with(id: &str, t: i64, passed: bool, earmarked: i64) -> PaymentEvent {
    PaymentEvent::PaymentAuthorised(Authorised::new(
        pid(id),
        at(t),
        passed,
        Money::from_minor_units(earmarked),
    ))
}
pub fn authorised(id: &str, t: i64) -> PaymentEvent {
    authorised_with(id, t, true, AMOUNT)
}
pub fn sent(id: &str, t: i64, attempt: &str) -> PaymentEvent {
    PaymentEvent::PaymentSentToRail(SentToRail::new(pid(id), at(t), att(attempt)))
}
pub fn acked(id: &str, t: i64, attempt: &str) -> PaymentEvent {
    PaymentEvent::PaymentAcknowledged(Acknowledged::new(pid(id), at(t), att(attempt)))
}
pub fn settled_with(id: &str, t: i64, attempt: &str, reference: &str, amount: i64) -> PaymentEvent {
    PaymentEvent::PaymentSettled(Settled::new(
        pid(id),
        at(t),
        att(attempt),
        SettlementRef::parse(reference).unwrap(),
        Money::from_minor_units(amount),
    ))
}
pub fn settled(id: &str, t: i64, attempt: &str) -> PaymentEvent {
    settled_with(id, t, attempt, &format!("settle_{attempt}"), AMOUNT)
}
pub fn failed(
    id: &str,
    t: i64,
    attempt: Option<&str>,
    reason: FailureReason,
    detail: Option<&str>,
) -> PaymentEvent {
    PaymentEvent::PaymentFailed(Failed::new(
        pid(id),
        at(t),
        attempt.map(att),
        reason,
        detail.map(text),
        None,
    ))
}
pub fn approval(approval_id: &str, by: &str, approver: &str, t: i64) -> Approval {
    Approval::new(
        ApprovalId::parse(approval_id).unwrap(),
        OperatorId::parse(by).unwrap(),
        OperatorId::parse(approver).unwrap(),
        at(t),
        text("operator action under test"),
    )
}
pub fn marked_failed(id: &str, t: i64, attempt: &str, approval: Approval) -> PaymentEvent {
    PaymentEvent::PaymentFailed(Failed::new(
        pid(id),
        at(t),
        Some(att(attempt)),
        FailureReason::OperatorMarkedFailed,
        Some(text("rail confirmed the payment never arrived")),
        Some(approval),
    ))
}
pub fn expired(id: &str, t: i64) -> PaymentEvent {
    PaymentEvent::PaymentExpired(Expired::new(pid(id), at(t)))
}
pub fn retry(id: &str, t: i64, attempt: &str, approval: Approval) -> PaymentEvent {
    PaymentEvent::PaymentRetryApproved(RetryApproved::new(pid(id), at(t), att(attempt), approval))
}
pub fn cancelled(id: &str, t: i64, approval: Approval) -> PaymentEvent {
    PaymentEvent::PaymentCancelled(Cancelled::new(
        pid(id),
        at(t),
        text("member asked to stop the payment"),
        Some(text("CUST")),
        approval,
    ))
}

/// Intent, authorised, sent, acknowledged, settled: the seed's happy path.
pub fn happy_path(id: &str) -> Vec<PaymentEvent> {
    vec![
        intent(id, 0),
        authorised(id, 1),
        sent(id, 2, "att_1"),
        acked(id, 3, "att_1"),
        settled(id, 4, "att_1"),
    ]
}

/// A payment whose first attempt timed out after sending (retryable).
pub fn timed_out(id: &str) -> Vec<PaymentEvent> {
    vec![
        intent(id, 0),
        authorised(id, 1),
        sent(id, 2, "att_1"),
        failed(
            id,
            3,
            Some("att_1"),
            FailureReason::RailTimeout,
            Some("AB05"),
        ),
    ]
}

/// The payment a history describes; panics with the rejection if it is illegal.
pub fn given(history: &[PaymentEvent]) -> Payment {
    rebuild_from_events(history)
        .expect("the given history is legal")
        .into_payment()
}

/// The rule id an `apply` broke; panics if it was accepted.
pub fn rule_of(result: Result<Applied, DomainError>) -> &'static str {
    match result {
        Ok(applied) => panic!("expected a rule to break, but the event applied: {applied:?}"),
        Err(e) => e.rule(),
    }
}

/// The payment an `apply` produced; panics on a rejection or a duplicate.
pub fn changed(result: Result<Applied, DomainError>) -> Payment {
    match result {
        Ok(Applied::Changed(p)) => p,
        Ok(Applied::Duplicate) => panic!("expected a change, got a duplicate"),
        Err(e) => panic!("expected a change, got {} ({e})", e.rule()),
    }
}
