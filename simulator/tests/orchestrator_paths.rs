//! The orchestrator over many payments at once (its batched paths: authorisations, routing
//! decisions and sends, deliveries marked done together, reports), and the orchestrator meeting
//! a rail fact it cannot read: it stops naming the stream, never skips it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use app_ops::{Clock, ManualClock, NewIntent, Payments, load_payment, verify_store_with};
use core_npp::{
    AccountId, AttemptLimit, Currency, IdempotencyKey, Money, PaymentIntentId, PaymentState,
    Timestamp,
};
use event_store::{AppendRequest, EventStore, NewEvent, StreamId};
use orchestrator::{Config, Orchestrator, Router};
use simulator::{FaultProfile, Participant};
use store::MemoryStore;

fn intent(n: usize) -> NewIntent {
    NewIntent::new(
        PaymentIntentId::parse(&format!("pay_many_{n}")).unwrap(),
        Money::from_minor_units(1_000 + i64::try_from(n).unwrap()),
        Currency::AUD,
        IdempotencyKey::parse(&format!("idem-many-{n}")).unwrap(),
        AccountId::parse(&format!("062000:{:08}", n % 7)).unwrap(),
        AccountId::parse("633000:00123456").unwrap(),
        AttemptLimit::default(),
    )
}

fn start() -> Timestamp {
    Timestamp::parse("2025-12-17T15:00:00Z").unwrap()
}

#[test]
fn two_hundred_payments_created_at_once_all_end_final_and_the_store_verifies() {
    // Given 200 payments created in the same instant, and a participant that answers in 200 ms
    let seed = 7;
    println!("participant seed {seed}");
    let store = MemoryStore::new();
    let clock = ManualClock::new(start());
    let participant = Participant::new(&store, seed, 200, FaultProfile::None);
    let funds = Money::from_minor_units(1_000_000_000);
    let payments = Payments::new(&store, &clock);
    let ids: Vec<PaymentIntentId> = (0..200)
        .map(|n| {
            payments
                .create_intent(&intent(n))
                .unwrap()
                .payment
                .payment_intent_id()
        })
        .collect();
    let mut orchestrator = Orchestrator::new(
        &store,
        &clock,
        &participant,
        &funds,
        Router::default(),
        Config::default(),
    );
    // When the orchestrator ticks every 50 ms of simulated time for a minute at most
    for _ in 0..1_200 {
        orchestrator.tick().unwrap();
        let all_final = ids.iter().all(|id| {
            let state = load_payment(&store, *id).unwrap().unwrap().payment.state();
            matches!(state, PaymentState::Settled | PaymentState::Failed)
        });
        if all_final {
            break;
        }
        clock.advance(50_000_000);
    }
    // Then every payment is final, each sent once, and every one was delivered exactly once
    let mut settled = 0;
    for id in &ids {
        let payment = load_payment(&store, *id).unwrap().unwrap().payment;
        assert!(
            matches!(
                payment.state(),
                PaymentState::Settled | PaymentState::Failed
            ),
            "{id}: {:?}",
            payment.state()
        );
        assert_eq!(payment.attempts().len(), 1, "{id}");
        settled += usize::from(payment.state() == PaymentState::Settled);
    }
    assert!(settled > 100, "only {settled} of 200 settled");
    assert_eq!(store.pending_outbox().unwrap(), 0);
    let stats = orchestrator.stats();
    assert_eq!(stats.authorised, 200);
    assert_eq!(stats.sent, 200);
    assert_eq!(stats.delivered, 200);
    // And the whole store, rail facts and the participant's record included, verifies
    verify_store_with(
        &store,
        &[&orchestrator::RailFactsCheck, &simulator::SimReceivedCheck],
    )
    .unwrap();
}

#[test]
fn a_rail_fact_that_cannot_be_read_stops_the_orchestrator_naming_its_stream() {
    // Given a payment, and a rail fact for it that is not JSON (written behind the store's back)
    let store = MemoryStore::new();
    let clock = ManualClock::new(start());
    let participant = Participant::new(&store, 1, 200, FaultProfile::None);
    let funds = Money::from_minor_units(1_000_000_000);
    let id = Payments::new(&store, &clock)
        .create_intent(&intent(1))
        .unwrap()
        .payment
        .payment_intent_id();
    let stream = StreamId::rail(id);
    let event = NewEvent::new("RailDecisionRecorded", 1, clock.now(), "not json".into()).unwrap();
    store
        .append(AppendRequest::new(stream.clone(), 0, vec![event], clock.now()).unwrap())
        .unwrap();
    let mut orchestrator = Orchestrator::new(
        &store,
        &clock,
        &participant,
        &funds,
        Router::default(),
        Config::default(),
    );
    // When it ticks, then it refuses to go on, naming the stream, and has sent nothing
    let error = orchestrator.tick().unwrap_err().to_string();
    assert!(error.contains(stream.as_str()), "{error}");
    assert_eq!(store.pending_outbox().unwrap(), 0);
    assert_eq!(
        load_payment(&store, id).unwrap().unwrap().payment.state(),
        PaymentState::Created
    );
}
