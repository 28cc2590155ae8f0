//! A payment with every payment detail, end to end: created through the command handlers, driven
//! by the orchestrator through the simulated participant, and settled; the pacs.008 the rail
//! received carries the parties' names, the remittance text, the payment id as `InstrId` and
//! the payer's own `EndToEndId`, and the participant's reports find the payment by instruction
//! id.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::sync::Mutex;

use app_ops::{Clock, ManualClock, NewIntent, Payments, load_payment, verify_store_with};
use core_npp::{
    AccountId, AttemptId, AttemptLimit, Currency, EndToEndId, FreeText, IdempotencyKey, Money,
    PartyName, Payment, PaymentIntentId, PaymentState, Timestamp,
};
use event_store::{EventStore, OutboxItem, StreamId, StreamKind, streams_of};
use orchestrator::{
    Config, Delivery, Orchestrator, OrchestratorError, Rail, RailReport, Router, Submission,
};
use simulator::{FaultProfile, Participant};
use store::MemoryStore;

/// The participant, with every pacs.008 delivered to it kept as the rail received it.
struct Recording<'a> {
    participant: Participant<'a>,
    delivered: Mutex<Vec<String>>,
}

impl Rail for Recording<'_> {
    fn name(&self) -> &str {
        self.participant.name()
    }
    fn submission(
        &self,
        payment: &Payment,
        attempt: AttemptId,
        now: Timestamp,
    ) -> Result<Submission, OrchestratorError> {
        self.participant.submission(payment, attempt, now)
    }
    fn deliver(&self, item: &OutboxItem, now: Timestamp) -> Result<Delivery, OrchestratorError> {
        self.delivered
            .lock()
            .unwrap()
            .push(item.message.payload().to_owned());
        self.participant.deliver(item, now)
    }
    fn enquire(
        &self,
        payment: PaymentIntentId,
        attempt: AttemptId,
        now: Timestamp,
    ) -> Result<(), OrchestratorError> {
        self.participant.enquire(payment, attempt, now)
    }
    fn poll(&self, now: Timestamp) -> Result<Vec<RailReport>, OrchestratorError> {
        self.participant.poll(now)
    }
}

fn detailed_intent(id: PaymentIntentId) -> NewIntent {
    NewIntent::new(
        id,
        Money::from_minor_units(127_550),
        Currency::AUD,
        IdempotencyKey::parse(&format!("idem-{id}")).unwrap(),
        AccountId::parse("062000:12345678").unwrap(),
        AccountId::parse("633000:00123456").unwrap(),
        AttemptLimit::default(),
    )
    .with_debtor_name(PartyName::parse("Zoë Nguyen").unwrap())
    .with_creditor_name(PartyName::parse("O'Brien & Sons Pty Ltd").unwrap())
    .with_remittance_information(
        FreeText::parse_remittance("Invoice 2025-117: kitchen <plumbing> & tiling").unwrap(),
    )
    .with_end_to_end_id(EndToEndId::parse("INV 2025/117").unwrap())
    .with_correlation_id("req-7f3a")
}

/// What one run left: the payment, every pacs.008 delivered, and the store.
struct Run {
    payment: Payment,
    delivered: Vec<String>,
    store: MemoryStore,
}

/// Creates the detailed payment and runs the orchestrator and a participant seeded with `seed`
/// (no faults) until the payment is final or nothing is left to do.
fn run(seed: u64) -> Run {
    let store = MemoryStore::new();
    let clock = ManualClock::new(Timestamp::parse("2025-12-17T15:00:00Z").unwrap());
    let rail = Recording {
        participant: Participant::new(&store, seed, 200, FaultProfile::None),
        delivered: Mutex::new(Vec::new()),
    };
    let funds = Money::from_minor_units(1_000_000_000);
    let id = PaymentIntentId::parse("pay_details").unwrap();
    Payments::new(&store, &clock)
        .create_intent(&detailed_intent(id))
        .unwrap();
    let mut orchestrator = Orchestrator::new(
        &store,
        &clock,
        &rail,
        &funds,
        Router::default(),
        Config::default(),
    );
    for _ in 0..2_000 {
        orchestrator.tick().unwrap();
        let payment = load_payment(&store, id).unwrap().unwrap().payment;
        if payment.state().is_terminal() {
            break;
        }
        // Step to the next reply or timer, a tenth of a second at most, so that each step the
        // orchestrator takes (authorise, then send) has its own tick before any deadline.
        let now = clock.now();
        let floor = now.plus_nanos(1_000_000).unwrap();
        let ceiling = now.plus_nanos(100_000_000).unwrap();
        let next = [orchestrator.next_timer(), rail.participant.next_due()]
            .into_iter()
            .flatten()
            .filter(|t| *t > now)
            .min()
            .map_or(ceiling, |t| t.clamp(floor, ceiling));
        clock.set(next);
    }
    let payment = load_payment(&store, id).unwrap().unwrap().payment;
    let delivered = rail.delivered.into_inner().unwrap();
    Run {
        payment,
        delivered,
        store,
    }
}

#[test]
fn a_payment_with_every_detail_settles_and_its_pacs008_carries_them() {
    // Given a payment created with both names, remittance text and its own end-to-end id, and
    // the first seed whose participant settles it
    let run = (1..=20u64)
        .map(run)
        .find(|run| run.payment.state() == PaymentState::Settled)
        .expect("some seed settles a payment without faults");
    // Then the payment settled through its one attempt, found by the participant's reports
    assert_eq!(run.payment.attempts().len(), 1);
    assert_eq!(
        run.payment.end_to_end_id().map(EndToEndId::as_str),
        Some("INV 2025/117")
    );
    // And the one pacs.008 the rail received carries the payment's details
    assert_eq!(run.delivered.len(), 1, "{:?}", run.delivered);
    let xml = &run.delivered[0];
    for expected in [
        "<InstrId>pay_details</InstrId>",
        "<EndToEndId>INV 2025/117</EndToEndId>",
        "<TxId>att_1</TxId>",
        "<Nm>Zoë Nguyen</Nm>",
        "<Nm>O&apos;Brien &amp; Sons Pty Ltd</Nm>",
        "<Ustrd>Invoice 2025-117: kitchen &lt;plumbing&gt; &amp; tiling</Ustrd>",
    ] {
        assert!(xml.contains(expected), "{expected} not in\n{xml}");
    }
    let instruction = xml.find("<InstrId>").unwrap();
    assert!(instruction < xml.find("<EndToEndId>").unwrap());
    let transfer = rail_npp::decode_pacs008(xml).unwrap();
    assert_eq!(transfer.instruction_id().as_str(), "pay_details");
    assert_eq!(transfer.debtor().name(), "Zoë Nguyen");
    assert_eq!(
        transfer.remittance().map(FreeText::as_str),
        Some("Invoice 2025-117: kitchen <plumbing> & tiling")
    );
    // And the participant's durable record of it keeps the payer's end-to-end id
    let sims = streams_of(&run.store, StreamKind::Sim).unwrap();
    assert_eq!(sims.len(), 1);
    let received = run.store.read_stream(&sims[0]).unwrap();
    let payload: serde_json::Value = serde_json::from_str(received[0].event().payload()).unwrap();
    assert_eq!(payload["payment_intent_id"], "pay_details");
    assert_eq!(payload["end_to_end_id"], "INV 2025/117");
    // And the intent's envelope carries the request id, and the whole store verifies
    let id = PaymentIntentId::parse("pay_details").unwrap();
    let events = run.store.read_stream(&StreamId::payment(id)).unwrap();
    assert_eq!(events[0].event().correlation_id(), Some("req-7f3a"));
    assert_eq!(events[0].event().schema_version(), 2);
    verify_store_with(
        &run.store,
        &[&orchestrator::RailFactsCheck, &simulator::SimReceivedCheck],
    )
    .unwrap();
}

#[test]
fn a_payment_without_details_is_sent_as_before() {
    // Given a payment without any detail, sent through the participant
    let store = MemoryStore::new();
    let clock = ManualClock::new(Timestamp::parse("2025-12-17T15:00:00Z").unwrap());
    let participant = Participant::new(&store, 1, 200, FaultProfile::None);
    let id = PaymentIntentId::parse("pay_plain").unwrap();
    let intent = detailed_intent(id);
    let plain = NewIntent::new(
        intent.payment_intent_id,
        intent.amount,
        intent.currency,
        intent.idempotency_key,
        intent.from_account_id,
        intent.to_account_id,
        intent.max_attempts,
    );
    let payment = Payments::new(&store, &clock)
        .create_intent(&plain)
        .unwrap()
        .payment;
    // When its submission is built
    let submission = participant
        .submission(&payment, AttemptId::parse("att_1").unwrap(), clock.now())
        .unwrap();
    // Then it carries the fabricated names and remittance, and the payment id as both the
    // instruction id and the end-to-end id
    for expected in [
        "<InstrId>pay_plain</InstrId>",
        "<EndToEndId>pay_plain</EndToEndId>",
        "<Nm>Member 062000:12345678</Nm>",
        "<Nm>Payee 633000:00123456</Nm>",
        "<Ustrd>Payment pay_plain</Ustrd>",
    ] {
        assert!(
            submission.payload.contains(expected),
            "{expected} not in\n{}",
            submission.payload
        );
    }
}
