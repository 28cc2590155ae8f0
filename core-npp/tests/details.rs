//! The intent's optional payment details (names, remittance text, end-to-end id): what the core
//! accepts, how they travel in JSON, and that a payment without them is exactly what it was.
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

const P: &str = "pay_d";

fn detailed_intent(t: i64) -> IntentCreated {
    let PaymentEvent::PaymentIntentCreated(plain) = intent(P, t) else {
        panic!("intent() builds an intent");
    };
    plain
        .with_debtor_name(PartyName::parse("Zoë Nguyen").unwrap())
        .with_creditor_name(PartyName::parse("O'Brien & Sons").unwrap())
        .with_remittance_information(FreeText::parse_remittance("Invoice 117").unwrap())
        .with_end_to_end_id(EndToEndId::parse("INV 2025/117").unwrap())
}

#[test]
fn a_party_name_is_1_to_140_characters_not_blank_without_control_characters() {
    // Given names at and past the limits
    let longest = "é".repeat(MAX_NAME_CHARS);
    let too_long = "é".repeat(MAX_NAME_CHARS + 1);
    // Then the longest is accepted and every other one refused, naming the field
    assert_eq!(PartyName::parse(&longest).unwrap().as_str(), longest);
    assert_eq!(
        PartyName::parse_for("debtor_name", &too_long),
        Err(ParseError::TextTooLong {
            field: "debtor_name",
            chars: 141,
            max: 140
        })
    );
    assert_eq!(
        PartyName::parse_for("creditor_name", " \t"),
        Err(ParseError::EmptyText {
            field: "creditor_name"
        })
    );
    assert_eq!(
        PartyName::parse("Bob\nSmith"),
        Err(ParseError::TextControlCharacter {
            field: "party_name",
            code_point: 0x0a
        })
    );
    assert_eq!(
        PartyName::parse("Bob\u{FFFE}"),
        Err(ParseError::TextNonCharacter {
            field: "party_name",
            code_point: 0xFFFE
        })
    );
    assert!(PartyName::parse("").is_err());
}

#[test]
fn an_end_to_end_id_is_max35text() {
    // Given ids at and past the limit, and ones with characters the core's own ids refuse
    let longest = "x".repeat(MAX_END_TO_END_ID_LEN);
    // Then any character but a control one is accepted, up to 35 characters
    assert_eq!(EndToEndId::parse(&longest).unwrap().as_str(), longest);
    assert_eq!(
        EndToEndId::parse("INV 2025/117 (ü)").unwrap().as_str(),
        "INV 2025/117 (ü)"
    );
    assert_eq!(
        EndToEndId::parse(&"ü".repeat(36)),
        Err(ParseError::TextTooLong {
            field: "end_to_end_id",
            chars: 36,
            max: 35
        })
    );
    assert_eq!(
        EndToEndId::parse("   "),
        Err(ParseError::EmptyText {
            field: "end_to_end_id"
        })
    );
    assert_eq!(
        EndToEndId::parse("a\u{7}b"),
        Err(ParseError::TextControlCharacter {
            field: "end_to_end_id",
            code_point: 7
        })
    );
    // And every payment id is an end-to-end id
    assert_eq!(EndToEndId::from(pid("pay_001")).as_str(), "pay_001");
}

#[test]
fn remittance_text_for_a_message_refuses_what_xml_cannot_carry() {
    assert_eq!(
        FreeText::parse_remittance("rent \u{FFFF}"),
        Err(ParseError::TextNonCharacter {
            field: "remittance_information",
            code_point: 0xFFFF
        })
    );
    assert!(!FreeText::parse("rent \u{FFFF}").unwrap().fits_a_message());
    assert!(FreeText::parse_remittance("rent").unwrap().fits_a_message());
    assert_eq!(
        FreeText::parse_remittance(&"r".repeat(281)),
        Err(ParseError::TextTooLong {
            field: "remittance_information",
            chars: 281,
            max: 280
        })
    );
}

#[test]
fn an_intent_without_details_serialises_exactly_as_before() {
    // Given an intent built without any detail
    let event = intent(P, 0);
    // When it is written as JSON
    let json = serde_json::to_string(&event).unwrap();
    // Then none of the detail fields appears, and nothing says it lacks them
    for field in INTENT_DETAIL_FIELDS {
        assert!(!json.contains(field), "{json}");
    }
    let PaymentEvent::PaymentIntentCreated(plain) = &event else {
        panic!("an intent");
    };
    assert!(!plain.has_details());
    assert_eq!(
        given(std::slice::from_ref(&event)).state_encoding_version(),
        1
    );
}

#[test]
fn an_intent_with_every_detail_round_trips_through_json() {
    // Given an intent with every detail
    let event = PaymentEvent::PaymentIntentCreated(detailed_intent(0));
    // When it is written and read again
    let json = serde_json::to_string(&event).unwrap();
    let again: PaymentEvent = serde_json::from_str(&json).unwrap();
    // Then it is the same event, and the payment exposes each detail
    assert_eq!(again, event);
    let payment = given(&[again]);
    assert_eq!(payment.debtor_name().unwrap().as_str(), "Zoë Nguyen");
    assert_eq!(payment.creditor_name().unwrap().as_str(), "O'Brien & Sons");
    assert_eq!(
        payment.remittance_information().unwrap().as_str(),
        "Invoice 117"
    );
    assert_eq!(payment.end_to_end_id().unwrap().as_str(), "INV 2025/117");
    assert_eq!(payment.state_encoding_version(), 2);
    let PaymentEvent::PaymentIntentCreated(intent) = &event else {
        panic!("an intent");
    };
    assert_eq!(
        intent.detail_fields().collect::<Vec<_>>(),
        INTENT_DETAIL_FIELDS
    );
}

#[test]
fn a_bad_detail_in_json_is_refused_naming_its_field() {
    // Given intents whose details break each rule
    let base = serde_json::to_value(intent(P, 0)).unwrap();
    let with = |field: &str, value: serde_json::Value| {
        let mut json = base.clone();
        json[field] = value;
        serde_json::from_value::<PaymentEvent>(json)
            .unwrap_err()
            .to_string()
    };
    // Then each refusal names the field and the rule
    let cases = [
        (
            "debtor_name",
            serde_json::json!("x".repeat(141)),
            "debtor_name is 141 characters long",
        ),
        (
            "creditor_name",
            serde_json::json!(" "),
            "creditor_name must not be blank",
        ),
        (
            "remittance_information",
            serde_json::json!("a\u{FFFE}"),
            "remittance_information contains U+FFFE",
        ),
        (
            "end_to_end_id",
            serde_json::json!("x".repeat(36)),
            "end_to_end_id is 36 characters long",
        ),
        (
            "end_to_end_id",
            serde_json::json!(null),
            "a string for end_to_end_id",
        ),
        (
            "debtor_name",
            serde_json::json!(7),
            "a string for debtor_name",
        ),
    ];
    for (field, value, expected) in cases {
        let message = with(field, value);
        assert!(message.contains(expected), "{field}: {message}");
    }
    // And an unknown field is still refused
    assert!(with("debtor", serde_json::json!("Zoë")).contains("unknown field"));
}

#[test]
fn each_detail_changes_the_state_hash() {
    // Given a payment with no detail and the same payment with one detail at a time
    let plain = given(&[intent(P, 0), authorised(P, 1)]);
    let PaymentEvent::PaymentIntentCreated(base) = intent(P, 0) else {
        panic!("an intent");
    };
    let variants = [
        base.clone()
            .with_debtor_name(PartyName::parse("Same text").unwrap()),
        base.clone()
            .with_creditor_name(PartyName::parse("Same text").unwrap()),
        base.clone()
            .with_remittance_information(FreeText::parse("Same text").unwrap()),
        base.with_end_to_end_id(EndToEndId::parse("Same text").unwrap()),
    ];
    // When each is replayed
    let hashes: Vec<StateHash> = variants
        .into_iter()
        .map(|intent| {
            given(&[PaymentEvent::PaymentIntentCreated(intent), authorised(P, 1)]).state_hash()
        })
        .collect();
    // Then every hash differs from the plain one and from each other: the same text in
    // another field is another payment
    for (i, hash) in hashes.iter().enumerate() {
        assert_ne!(*hash, plain.state_hash());
        for other in &hashes[i + 1..] {
            assert_ne!(hash, other);
        }
    }
}

#[test]
fn details_do_not_change_how_the_payment_moves() {
    // Given the happy path with and without details
    let mut detailed = happy_path(P);
    detailed[0] = PaymentEvent::PaymentIntentCreated(detailed_intent(0));
    // When both are replayed
    let (plain, detailed) = (given(&happy_path(P)), given(&detailed));
    // Then they reach the same state through the same attempts
    assert_eq!(plain.state(), detailed.state());
    assert_eq!(plain.attempts(), detailed.attempts());
    assert_eq!(plain.version(), detailed.version());
}

proptest::proptest! {
    #[test]
    fn any_detail_the_core_accepts_round_trips_and_hashes_the_same(
        chars in proptest::collection::vec(proptest::prelude::any::<char>(), 0..160)
    ) {
        // Given any text, as a name and as an end-to-end id where the core accepts it
        let raw: String = chars.into_iter().collect();
        let PaymentEvent::PaymentIntentCreated(mut intent) = intent(P, 0) else {
            panic!("an intent");
        };
        if let Ok(name) = PartyName::parse(&raw) {
            intent = intent.with_debtor_name(name);
        }
        if let Ok(id) = EndToEndId::parse(&raw) {
            intent = intent.with_end_to_end_id(id);
        }
        let event = PaymentEvent::PaymentIntentCreated(intent);
        // When it goes through JSON and replay
        let again: PaymentEvent =
            serde_json::from_str(&serde_json::to_string(&event).unwrap()).unwrap();
        // Then it is unchanged and hashes the same
        proptest::prop_assert_eq!(&again, &event);
        proptest::prop_assert_eq!(
            given(&[again]).state_hash(),
            given(&[event]).state_hash()
        );
    }
}
