//! The value types: what each accepts and refuses, and how it displays.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

mod support;

use core_npp::{FreeText, Money};
use rail_npp::*;
use support::*;

#[test]
fn bsb_accepts_six_digits_with_or_without_the_hyphen() {
    let plain = Bsb::parse("062000").unwrap();
    let hyphenated = Bsb::parse("062-000").unwrap();
    assert_eq!(plain, hyphenated);
    assert_eq!(plain.to_string(), "062-000");
    assert_eq!(plain.digits(), "062000");
    assert_eq!(format!("{plain:?}"), "Bsb(062-000)");
    assert_eq!("000000".parse::<Bsb>().unwrap().to_string(), "000-000");
    for bad in [
        "",
        "06200",
        "0620000",
        "06-2000",
        "062 000",
        "062_000",
        "062-00a",
        "٠٦٢٠٠٠",
        "062--00",
    ] {
        assert_eq!(
            Bsb::parse(bad),
            Err(RailError::InvalidBsb {
                at: "bsb".to_owned(),
                value: bad.to_owned()
            }),
            "{bad:?}"
        );
    }
}

#[test]
fn account_number_is_one_to_nine_digits_with_leading_zeros_kept() {
    for good in ["0", "000000001", "123456789", "0012345"] {
        let account = AccountNumber::parse(good).unwrap();
        assert_eq!(account.as_str(), good);
        assert_eq!(account.to_string(), good);
    }
    assert_ne!(
        AccountNumber::parse("012").unwrap(),
        AccountNumber::parse("12").unwrap()
    );
    for bad in ["", "1234567890", "12-34", " 123", "12a", "１２３"] {
        assert!(
            matches!(
                AccountNumber::parse(bad),
                Err(RailError::InvalidAccountNumber { .. })
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn message_id_is_max35_text_from_the_id_alphabet() {
    for good in ["m", "MSG.2025-12-17:0001_a", &"x".repeat(35)] {
        assert_eq!(MessageId::parse(good).unwrap().as_str(), good);
    }
    let problem = |raw: &str| match MessageId::parse(raw) {
        Err(RailError::InvalidMessageId { problem, .. }) => problem,
        other => panic!("{raw:?} gave {other:?}"),
    };
    assert_eq!(problem(""), "is empty");
    assert_eq!(problem(&"x".repeat(36)), "is longer than 35 characters");
    assert_eq!(problem("a b"), "holds a character outside [A-Za-z0-9._:-]");
    assert_eq!(problem("a/b"), "holds a character outside [A-Za-z0-9._:-]");
    assert_eq!(problem("é"), "holds a character outside [A-Za-z0-9._:-]");
    // Counted in characters: 20 non-ASCII characters are refused for what they are, not length.
    assert_eq!(
        problem(&"é".repeat(20)),
        "holds a character outside [A-Za-z0-9._:-]"
    );
}

#[test]
fn party_name_is_1_to_140_characters_without_control_characters() {
    let bsb = Bsb::parse("062000").unwrap();
    let account = AccountNumber::parse("1").unwrap();
    let max = "é".repeat(MAX_NAME_CHARS);
    assert_eq!(Party::new(&max, bsb, account).unwrap().name(), max);
    let party = Party::new("A & B <C>", bsb, account).unwrap();
    assert_eq!(
        (party.name(), party.bsb(), party.account()),
        ("A & B <C>", bsb, account)
    );
    assert_eq!(
        Party::new(&"é".repeat(141), bsb, account),
        Err(RailError::NameTooLong {
            at: "party.name".to_owned(),
            chars: 141,
            max: 140
        })
    );
    for blank in ["", " ", "\u{3000}"] {
        assert_eq!(
            Party::new(blank, bsb, account),
            Err(RailError::BlankName {
                at: "party.name".to_owned()
            })
        );
    }
    for (name, code_point) in [
        ("a\nb", 0x0A),
        ("a\tb", 0x09),
        ("a\u{85}", 0x85),
        ("a\u{FFFE}", 0xFFFE),
    ] {
        assert_eq!(
            Party::new(name, bsb, account),
            Err(RailError::ForbiddenCharacter {
                at: "party.name".to_owned(),
                code_point
            })
        );
    }
}

#[test]
fn a_transfer_needs_a_positive_amount_that_iso_can_carry() {
    for cents in [0, -1, i64::MIN] {
        let mut p = parts();
        p.amount = Money::from_minor_units(cents);
        assert!(
            matches!(
                CreditTransfer::new(p),
                Err(RailError::AmountNotPositive { ref at, .. }) if at == "amount"
            ),
            "{cents}"
        );
    }
    let mut p = parts();
    p.amount = Money::from_minor_units(MAX_AMOUNT.minor_units() + 1);
    assert_eq!(
        CreditTransfer::new(p),
        Err(RailError::AmountTooLarge {
            at: "amount".to_owned(),
            amount: "10000000000000000.00".to_owned(),
            max: "9999999999999999.99".to_owned()
        })
    );
    let mut p = parts();
    p.amount = Money::from_minor_units(1);
    assert_eq!(CreditTransfer::new(p).unwrap().amount().minor_units(), 1);
}

#[test]
fn remittance_text_xml_cannot_carry_is_refused() {
    let mut p = parts();
    p.remittance = Some(FreeText::parse("pay \u{FFFF} me").unwrap());
    assert_eq!(
        CreditTransfer::new(p),
        Err(RailError::ForbiddenCharacter {
            at: "remittance".to_owned(),
            code_point: 0xFFFF
        })
    );
}

#[test]
fn a_transfer_gives_back_its_parts() {
    let t = transfer();
    assert_eq!(t.msg_id().as_str(), "msg-20251217-0001");
    assert_eq!(t.created_at().to_rfc3339(), "2025-12-17T09:30:00Z");
    assert_eq!(t.end_to_end_id().as_str(), "pay_001");
    assert_eq!(t.tx_id().as_str(), "att_1");
    assert_eq!(t.debtor().name(), "Alice Smith");
    assert_eq!(t.creditor().bsb().to_string(), "633-000");
    assert_eq!(t.remittance().unwrap().as_str(), "Invoice 42");
    assert_eq!(t.into_parts(), parts());
    let r = report(TransactionStatus::AcceptedSettlementCompleted);
    assert_eq!(
        r.clone().into_parts(),
        report_parts(TransactionStatus::AcceptedSettlementCompleted)
    );
    assert_eq!(r.original_tx_id().as_str(), "att_1");
    assert_eq!(r.reason(), None);
    assert_eq!(r.settlement_ref().unwrap().as_str(), "FSS-20251217-000042");
}

#[test]
fn status_and_reason_codes_are_the_iso_codes() {
    let codes: Vec<&str> = TransactionStatus::ALL.iter().map(|s| s.code()).collect();
    assert_eq!(
        codes,
        [
            "ACTC", "ACCP", "ACSP", "ACSC", "ACCC", "PDNG", "RJCT", "BLCK"
        ]
    );
    let codes: Vec<&str> = ReasonCode::ALL.iter().map(|r| r.code()).collect();
    assert_eq!(
        codes,
        [
            "AC01", "AC04", "AC06", "AG01", "AM04", "AM05", "BE23", "AB05", "AB06", "FF01"
        ]
    );
    assert_eq!(TransactionStatus::from_code("XXXX"), None);
    assert_eq!(ReasonCode::from_code("ZZ99"), None);
    assert_eq!(ReasonCode::Be23.to_string(), "BE23");
}
