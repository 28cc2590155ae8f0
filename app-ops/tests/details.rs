//! Payment details through the command handlers and the store: an intent's names, remittance text
//! and end-to-end id are recorded in payment event schema version 2, are part of the request's
//! fingerprint, and the intent's envelope carries the caller's correlation id; version-1 events
//! still read. Every scenario runs over the in-memory store and again over SQLite.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod support;

use app_ops::*;
use core_npp::*;
use event_store::{AppendRequest, NewEvent, StoreError, StreamId};
use sha2::{Digest, Sha256};
use support::*;

fn name(text: &str) -> PartyName {
    PartyName::parse(text).unwrap()
}

fn detailed(world: &World, id: &str) -> NewIntent {
    world
        .intent(id, AMOUNT, "062000:12345678")
        .with_debtor_name(name("Zoë Nguyen"))
        .with_creditor_name(name("O'Brien & Sons"))
        .with_remittance_information(FreeText::parse_remittance("Invoice 117").unwrap())
        .with_end_to_end_id(EndToEndId::parse("INV 2025/117").unwrap())
}

fn stored(world: &World, id: &str) -> Vec<event_store::RecordedEvent> {
    world
        .store
        .read_stream(&StreamId::payment(pid(id)))
        .unwrap()
}

/// Appends `payload` as the first event of `stream` in the given schema version, as an older
/// (or hostile) writer would have.
fn append_raw(world: &World, id: &str, schema_version: u16, payload: &str) {
    let at = Timestamp::parse("2025-12-17T15:00:00Z").unwrap();
    let event = NewEvent::new(
        "PaymentIntentCreated",
        schema_version,
        at,
        payload.to_owned(),
    )
    .unwrap();
    world
        .store
        .append(AppendRequest::new(StreamId::payment(pid(id)), 0, vec![event], at).unwrap())
        .unwrap();
}

fn plain_json(id: &str) -> String {
    format!(
        r#"{{"type":"PaymentIntentCreated","payment_intent_id":"{id}","occurred_at":"2025-12-17T15:00:00Z","amount":50000,"currency":"AUD","idempotency_key":"idem-{id}","from_account_id":"payer","to_account_id":"payee"}}"#
    )
}

fn an_intent_with_every_detail_is_recorded_in_schema_version_2_with_its_correlation(world: World) {
    // Given an intent with both names, remittance text, an end-to-end id and a request id
    let intent = detailed(&world, "p1").with_correlation_id("req-7f3a");
    // When it is created
    let outcome = world.payments().create_intent(&intent).unwrap();
    // Then the payment holds every detail, and the stored event says so in schema version 2,
    // under the request id
    assert_eq!(outcome.effect, Effect::Appended);
    let payment = world.payment("p1");
    assert_eq!(payment.debtor_name(), Some(&name("Zoë Nguyen")));
    assert_eq!(payment.creditor_name(), Some(&name("O'Brien & Sons")));
    assert_eq!(
        payment.remittance_information().map(FreeText::as_str),
        Some("Invoice 117")
    );
    assert_eq!(
        payment.end_to_end_id().map(EndToEndId::as_str),
        Some("INV 2025/117")
    );
    let recorded = stored(&world, "p1");
    assert_eq!(recorded[0].event().schema_version(), 2);
    assert_eq!(recorded[0].event().correlation_id(), Some("req-7f3a"));
    assert!(
        recorded[0]
            .event()
            .payload()
            .contains(r#""end_to_end_id":"INV 2025/117""#)
    );
    // And every later event is written in version 2 too, with no correlation of its own
    world
        .payments()
        .authorise(pid("p1"), true, Money::from_minor_units(AMOUNT))
        .unwrap();
    let recorded = stored(&world, "p1");
    assert_eq!(
        recorded[1].event().schema_version(),
        PAYMENT_EVENT_SCHEMA_VERSION
    );
    assert_eq!(recorded[1].event().correlation_id(), None);
    assert!(verify_store(&*world.store).is_ok());
}

fn an_intent_without_correlation_records_none(world: World) {
    // Given an intent without a request id
    world.created("p1");
    // Then its envelope carries no correlation id
    assert_eq!(stored(&world, "p1")[0].event().correlation_id(), None);
}

fn the_same_request_under_another_correlation_id_is_the_same_payment(world: World) {
    // Given a detailed intent created under one request id
    let first = world
        .payments()
        .create_intent(&detailed(&world, "p1").with_correlation_id("req-1"))
        .unwrap();
    // When the same request arrives again under another request id (a client's retry)
    let again = world
        .payments()
        .create_intent(&detailed(&world, "p1").with_correlation_id("req-2"))
        .unwrap();
    // Then it is the original payment, and nothing was appended
    assert_eq!(again.effect, Effect::AlreadyApplied);
    assert_eq!(again.payment, first.payment);
    assert_eq!(stored(&world, "p1").len(), 1);
    assert_eq!(
        stored(&world, "p1")[0].event().correlation_id(),
        Some("req-1")
    );
}

fn the_same_key_with_another_detail_is_a_conflict(world: World) {
    // Given a detailed intent
    world
        .payments()
        .create_intent(&detailed(&world, "p1"))
        .unwrap();
    // When the same key comes with another name, another remittance, another end-to-end id,
    // or without a detail
    let changes = [
        detailed(&world, "p1").with_creditor_name(name("O'Brien and Sons")),
        detailed(&world, "p1").with_debtor_name(name("Zoe Nguyen")),
        detailed(&world, "p1").with_remittance_information(FreeText::parse("Invoice 118").unwrap()),
        detailed(&world, "p1").with_end_to_end_id(EndToEndId::parse("INV 2025/118").unwrap()),
        NewIntent {
            end_to_end_id: None,
            ..detailed(&world, "p1")
        },
    ];
    // Then each is refused as a different request under the same key, and nothing is appended
    for changed in changes {
        assert!(
            matches!(
                world.payments().create_intent(&changed),
                Err(AppError::Store(StoreError::IdempotencyConflict { .. }))
            ),
            "{changed:?}"
        );
    }
    assert_eq!(stored(&world, "p1").len(), 1);
}

fn remittance_no_message_can_carry_is_refused_before_anything_is_recorded(world: World) {
    // Given remittance text the core accepts as free text but XML cannot carry
    let intent = world
        .intent("p1", AMOUNT, "payer")
        .with_remittance_information(FreeText::parse("rent \u{FFFF}").unwrap());
    // When it is created, Then it is refused naming the rule, and no payment exists
    match world.payments().create_intent(&intent) {
        Err(AppError::Refused { rule, why }) => {
            assert_eq!(rule, "intent/remittance-fits-a-message");
            assert!(why.contains("remittance_information"), "{why}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(stored(&world, "p1").is_empty());
}

fn an_imported_history_with_details_claims_the_same_fingerprint(world: World) {
    // Given the detailed example history, imported
    let history: Vec<PaymentEvent> = include_str!("../../examples/settled-with-details.jsonl")
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    world.payments().import_history(&history).unwrap();
    let PaymentEvent::PaymentIntentCreated(intent) = &history[0] else {
        panic!("the example starts with its intent");
    };
    // When its intent is asked for again as a request
    let again = world
        .payments()
        .create_intent(&NewIntent::of_event(intent))
        .unwrap();
    // Then it is the imported payment, and its details are part of the request
    assert_eq!(again.effect, Effect::AlreadyApplied);
    assert_eq!(
        NewIntent::of_event(intent)
            .end_to_end_id
            .map(|id| id.to_string()),
        Some("INV 2025/117".to_owned())
    );
    let renamed = NewIntent::of_event(intent).with_debtor_name(name("Someone Else"));
    assert!(matches!(
        world.payments().create_intent(&renamed),
        Err(AppError::Store(StoreError::IdempotencyConflict { .. }))
    ));
}

fn a_version_1_event_from_an_older_store_still_reads(world: World) {
    // Given an intent written in schema version 1, as every store before version 2 holds it
    append_raw(&world, "old", 1, &plain_json("old"));
    // When the payment is loaded and the store verified
    let payment = world.payment("old");
    // Then it reads as it always did, and a later event goes on in version 2
    assert_eq!(payment.state(), PaymentState::Created);
    assert_eq!(payment.state_encoding_version(), 1);
    world
        .payments()
        .authorise(pid("old"), true, Money::from_minor_units(AMOUNT))
        .unwrap();
    let versions: Vec<u16> = stored(&world, "old")
        .iter()
        .map(|r| r.event().schema_version())
        .collect();
    assert_eq!(versions, [1, 2]);
    assert!(verify_store(&*world.store).is_ok());
}

fn a_version_1_intent_carrying_a_detail_is_undecodable_naming_it(world: World) {
    // Given a version-1 envelope whose intent holds an end-to-end id, which version 1 never had
    let payload = plain_json("bad").replace(
        r#""to_account_id":"payee""#,
        r#""to_account_id":"payee","end_to_end_id":"INV 1""#,
    );
    append_raw(&world, "bad", 1, &payload);
    // When it is decoded, Then it is refused naming the field and the version
    let recorded = stored(&world, "bad");
    match decode_payment_event(&recorded[0]) {
        Err(AppError::Undecodable { version, why, .. }) => {
            assert_eq!(version, 1);
            assert!(
                why.contains("end_to_end_id") && why.contains("schema version 1"),
                "{why}"
            );
        }
        other => panic!("expected undecodable, got {other:?}"),
    }
    // And store verification reports it
    assert!(verify_store(&*world.store).is_err());
}

fn an_unknown_schema_version_is_undecodable(world: World) {
    // Given an intent written in a schema version this software does not know
    append_raw(&world, "new", 3, &plain_json("new"));
    // Then it is refused saying which versions are read
    let recorded = stored(&world, "new");
    let error = decode_payment_event(&recorded[0]).unwrap_err().to_string();
    assert!(
        error.contains("unknown schema version 3") && error.contains("1 to 2"),
        "{error}"
    );
}

#[test]
fn an_intent_without_details_has_the_fingerprint_it_always_had() {
    // Given an intent without any detail, with or without a correlation id
    let intent = memory_world().intent("p1", AMOUNT, "payer");
    let old = format!(
        "npp.intent.v1\np1\n{AMOUNT}\nAUD\npayer\npayee\n{}",
        intent.max_attempts.get()
    );
    let expected: [u8; 32] = Sha256::digest(old.as_bytes()).into();
    // Then its fingerprint is the version-1 one, byte for byte
    assert_eq!(intent.fingerprint(), expected);
    assert_eq!(
        intent.clone().with_correlation_id("req-1").fingerprint(),
        expected
    );
    // And any detail makes another fingerprint
    assert_ne!(intent.with_debtor_name(name("Zoë")).fingerprint(), expected);
}

#[test]
fn details_in_different_fields_make_different_fingerprints() {
    // Given one text as a debtor name, then as a creditor name
    let base = memory_world().intent("p1", AMOUNT, "payer");
    let as_debtor = base.clone().with_debtor_name(name("Same"));
    let as_creditor = base.with_creditor_name(name("Same"));
    // Then the requests differ
    assert_ne!(as_debtor.fingerprint(), as_creditor.fingerprint());
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
    an_intent_with_every_detail_is_recorded_in_schema_version_2_with_its_correlation,
    an_intent_without_correlation_records_none,
    the_same_request_under_another_correlation_id_is_the_same_payment,
    the_same_key_with_another_detail_is_a_conflict,
    remittance_no_message_can_carry_is_refused_before_anything_is_recorded,
    an_imported_history_with_details_claims_the_same_fingerprint,
    a_version_1_event_from_an_older_store_still_reads,
    a_version_1_intent_carrying_a_detail_is_undecodable_naming_it,
    an_unknown_schema_version_is_undecodable,
);
