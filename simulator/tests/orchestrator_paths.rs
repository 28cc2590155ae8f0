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

/// Runs `count` payments through the orchestrator and the simulated participant over `store`
/// until each is final (a minute of simulated time at most); their ids.
fn run_to_final(store: &dyn EventStore, count: usize) -> Vec<PaymentIntentId> {
    let clock = ManualClock::new(start());
    let participant = Participant::new(store, 11, 200, FaultProfile::None);
    let funds = Money::from_minor_units(1_000_000_000);
    let payments = Payments::new(store, &clock);
    let ids: Vec<PaymentIntentId> = (0..count)
        .map(|n| {
            payments
                .create_intent(&intent(n))
                .unwrap()
                .payment
                .payment_intent_id()
        })
        .collect();
    let mut orchestrator = Orchestrator::new(
        store,
        &clock,
        &participant,
        &funds,
        Router::default(),
        Config::default(),
    );
    for _ in 0..1_200 {
        orchestrator.tick().unwrap();
        let all_final = ids.iter().all(|id| {
            let state = load_payment(store, *id).unwrap().unwrap().payment.state();
            matches!(state, PaymentState::Settled | PaymentState::Failed)
        });
        if all_final {
            break;
        }
        clock.advance(50_000_000);
    }
    ids
}

/// Every status report that changed each payment is kept as the pacs.002 document it arrived
/// as, claimed by the event it caused, and reads back as that report.
fn the_pacs002_documents_that_changed_a_payment_are_kept_with_it(store: &dyn EventStore) {
    // Given payments the orchestrator ran to the end against the simulated participant
    let ids = run_to_final(store, 6);
    let mut settled = 0;
    for id in ids {
        let stream = StreamId::payment(id);
        let events = store.read_stream(&stream).unwrap();
        let payment = load_payment(store, id).unwrap().unwrap().payment;
        // When an auditor reads the rail messages that changed the payment
        let kept = store.rail_messages(&stream).unwrap();
        // Then there is one for every acknowledgement and settlement (only a report causes
        // those) and for nothing but what a report can cause, in version order, and each is a
        // pacs.002 about this payment, under the message id it was claimed by
        let of_types = |types: &[&str]| -> Vec<u32> {
            events
                .iter()
                .filter(|e| types.contains(&e.event().event_type()))
                .map(|e| e.version())
                .collect()
        };
        let only_reports = of_types(&["PaymentAcknowledged", "PaymentSettled"]);
        let reportable = of_types(&["PaymentAcknowledged", "PaymentSettled", "PaymentFailed"]);
        let versions: Vec<u32> = kept.iter().map(|r| r.version).collect();
        assert!(!kept.is_empty(), "{id}: no rail message kept");
        assert!(
            only_reports.iter().all(|v| versions.contains(v))
                && versions.iter().all(|v| reportable.contains(v)),
            "{id}: claims at {versions:?}, report events at {reportable:?}"
        );
        assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
        for record in &kept {
            assert_eq!(record.stream, stream);
            let xml = record.payload.as_deref().expect("the pacs.002 is kept");
            assert!(xml.contains("FIToFIPmtStsRpt"), "{id}: {xml}");
            let report = rail_npp::decode_pacs002(xml).unwrap();
            assert_eq!(report.msg_id().as_str(), record.message_id, "{id}");
            assert_eq!(report.original_instruction_id(), id);
        }
        // And a settled payment's last one is the report that settled it
        if payment.state() == PaymentState::Settled {
            settled += 1;
            let last = kept.last().unwrap();
            assert_eq!(last.version, u32::try_from(events.len()).unwrap());
            let report = rail_npp::decode_pacs002(last.payload.as_deref().unwrap()).unwrap();
            assert!(
                matches!(report.verdict(), rail_npp::Verdict::Settled { .. }),
                "{id}: {:?}",
                report.verdict()
            );
        }
    }
    assert!(settled > 0, "no payment settled");
}

#[test]
fn the_pacs002_documents_that_changed_a_payment_are_kept_with_it_in_memory() {
    the_pacs002_documents_that_changed_a_payment_are_kept_with_it(&MemoryStore::new());
}

#[test]
fn the_pacs002_documents_that_changed_a_payment_are_kept_with_it_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        store::SqliteStore::open(&dir.path().join("npp.db"), store::OpenMode::CreateIfMissing)
            .unwrap();
    the_pacs002_documents_that_changed_a_payment_are_kept_with_it(&store);
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
