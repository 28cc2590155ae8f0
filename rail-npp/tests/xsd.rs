//! What we write validates against the ISO 20022 schemas: xmllint checks pacs.008 transfers
//! (varied by hand and generated) and pacs.002 reports for every status and reason.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

mod support;

use core_npp::{FreeText, Money};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use rail_npp::*;
use support::*;

const PACS008_XSD: &str = "pacs.008.001.08.xsd";
const PACS002_XSD: &str = "pacs.002.001.10.xsd";

fn assert_valid(xsd_name: &str, documents: &[(String, String)]) {
    let failures = schema_failures(xsd_name, documents);
    assert!(
        failures.is_empty(),
        "{} of {} documents do not validate against {xsd_name}:\n{}",
        failures.len(),
        documents.len(),
        failures.join("\n\n")
    );
}

fn varied_transfers() -> Vec<(String, CreditTransfer)> {
    let with = |label: &str, change: &dyn Fn(&mut CreditTransferParts)| {
        let mut p = parts();
        change(&mut p);
        (label.to_owned(), CreditTransfer::new(p).unwrap())
    };
    vec![
        with("plain", &|_| {}),
        with("no remittance", &|p| p.remittance = None),
        with("one cent", &|p| p.amount = Money::from_minor_units(1)),
        with("largest amount", &|p| p.amount = MAX_AMOUNT),
        with("max-length names", &|p| {
            p.debtor = party(&"D".repeat(140), "000000", "0");
            p.creditor = party(&"é".repeat(140), "999999", "999999999");
        }),
        with("escaping-worthy characters", &|p| {
            p.debtor = party(r#"O'Brien & Sons <Pty> "Ltd""#, "062-000", "1");
            p.creditor = party("]]> &amp; &#x26; <!-- x -->", "062000", "01");
            p.remittance = Some(FreeText::parse(r#"<Ustrd>&"'</Ustrd> ]]>"#).unwrap());
        }),
        with("280-character remittance in two Ustrd", &|p| {
            p.remittance = Some(FreeText::parse(&"R&".repeat(140)).unwrap());
        }),
        with("141-character remittance", &|p| {
            p.remittance = Some(FreeText::parse(&"x".repeat(141)).unwrap());
        }),
        with("astral characters", &|p| {
            p.debtor = party("😀 Zoë 漢字", "123456", "123");
            p.remittance = Some(FreeText::parse(&"😀".repeat(280)).unwrap());
        }),
        with("max-length ids, fractional time", &|p| {
            p.msg_id = MessageId::parse(&"M".repeat(35)).unwrap();
            p.instruction_id = core_npp::PaymentIntentId::parse(&"E.:-_9".repeat(5)).unwrap();
            p.end_to_end_id = core_npp::EndToEndId::parse(&"E.:-_9".repeat(5)).unwrap();
            p.created_at = core_npp::Timestamp::parse("2025-12-17T09:30:00.123456789Z").unwrap();
        }),
        with(
            "every field: names, remittance, the payer's end-to-end id",
            &|p| {
                p.debtor = party("Zoë Nguyen", "062000", "12345678");
                p.creditor = party("O'Brien & Sons Pty Ltd", "633000", "00123456");
                p.remittance =
                    Some(FreeText::parse("Invoice 2025-117: <plumbing> & tiling").unwrap());
                p.end_to_end_id = core_npp::EndToEndId::parse("INV 2025/117 & <co>").unwrap();
            },
        ),
        with("35-character end-to-end id beyond ASCII", &|p| {
            p.end_to_end_id = core_npp::EndToEndId::parse(&"ü😀 ".repeat(11)).unwrap();
        }),
    ]
}

#[test]
fn varied_pacs008_transfers_validate_against_the_schema() {
    if !xmllint_available() {
        return;
    }
    let documents: Vec<(String, String)> = varied_transfers()
        .into_iter()
        .map(|(label, t)| (label, encode_pacs008(&t)))
        .collect();
    assert_eq!(documents.len(), 12);
    assert_valid(PACS008_XSD, &documents);
}

#[test]
fn generated_pacs008_transfers_validate_against_the_schema() {
    if !xmllint_available() {
        return;
    }
    let documents = generate(arb_transfer(), 64, encode_pacs008);
    assert_valid(PACS008_XSD, &documents);
}

#[test]
fn pacs002_reports_for_every_status_and_reason_validate_against_the_schema() {
    if !xmllint_available() {
        return;
    }
    let mut documents: Vec<(String, String)> = TransactionStatus::ALL
        .into_iter()
        .map(|s| (s.code().to_owned(), encode_pacs002(&report(s))))
        .collect();
    for reason in ReasonCode::ALL {
        let mut p = report_parts(TransactionStatus::Rejected);
        p.reason = Some(reason);
        let xml = encode_pacs002(&StatusReport::new(p).unwrap());
        documents.push((format!("RJCT {reason}"), xml));
    }
    let mut p = report_parts(TransactionStatus::AcceptedSettlementCompleted);
    p.original_end_to_end_id = core_npp::EndToEndId::parse("INV 2025/117 & <co>").unwrap();
    let xml = encode_pacs002(&StatusReport::new(p).unwrap());
    assert!(xml.contains("<OrgnlInstrId>pay_001</OrgnlInstrId>"));
    documents.push(("ACSC with the payer's end-to-end id".to_owned(), xml));
    assert_eq!(documents.len(), 19);
    assert_valid(PACS002_XSD, &documents);
}

#[test]
fn generated_pacs002_reports_validate_against_the_schema() {
    if !xmllint_available() {
        return;
    }
    let documents = generate(arb_report(), 64, encode_pacs002);
    assert_valid(PACS002_XSD, &documents);
}

/// The validation itself can fail: a document that breaks the schema is reported, so the
/// passing tests above mean something.
#[test]
fn xmllint_rejects_documents_that_break_the_schema() {
    if !xmllint_available() {
        return;
    }
    let good = encode_pacs008(&transfer());
    let broken = vec![
        (
            "NbOfTxs missing".to_owned(),
            good.replace("<NbOfTxs>1</NbOfTxs>", ""),
        ),
        (
            "agents out of order".to_owned(),
            swap(&good, "<DbtrAgt>", "</DbtrAgt>", "<CdtrAgt>", "</CdtrAgt>"),
        ),
        (
            "ClrSys code over 3 characters".to_owned(),
            good.replace("<Cd>NPP</Cd>", "<Cd>NPPX</Cd>"),
        ),
        (
            "six fraction digits, over the five allowed".to_owned(),
            good.replace(">500.00<", ">500.000001<"),
        ),
    ];
    let failures = schema_failures(PACS008_XSD, &broken);
    assert_eq!(failures.len(), broken.len(), "{failures:#?}");
    let report = encode_pacs002(&report(TransactionStatus::Rejected));
    let broken = vec![(
        "reason code over 4 characters".to_owned(),
        report.replace("<Cd>AC04</Cd>", "<Cd>AC04X</Cd>"),
    )];
    assert_eq!(schema_failures(PACS002_XSD, &broken).len(), 1);
}

/// The status and reason codes are ISO external code sets, which the schema only limits to 1 to
/// 4 characters: a schema-valid report can carry a code nobody knows, so the decoder must check.
#[test]
fn schema_validity_does_not_make_a_status_code_known() {
    if !xmllint_available() {
        return;
    }
    let unknown = encode_pacs002(&report(TransactionStatus::AcceptedTechnicalValidation))
        .replace("<TxSts>ACTC</TxSts>", "<TxSts>XXXX</TxSts>");
    assert_valid(PACS002_XSD, &[("TxSts XXXX".to_owned(), unknown.clone())]);
    assert!(matches!(
        decode_pacs002(&unknown),
        Err(RailError::UnknownStatus { code, .. }) if code == "XXXX"
    ));
}

/// `count` values drawn deterministically from `strategy`, encoded.
fn generate<T: std::fmt::Debug>(
    strategy: impl Strategy<Value = T>,
    count: usize,
    encode: impl Fn(&T) -> String,
) -> Vec<(String, String)> {
    let mut runner = TestRunner::deterministic();
    (0..count)
        .map(|i| {
            let value = strategy.new_tree(&mut runner).unwrap().current();
            (format!("generated #{i}: {value:?}"), encode(&value))
        })
        .collect()
}

/// `text` with the span `a_open..a_close` and the later span `b_open..b_close` swapped.
fn swap(text: &str, a_open: &str, a_close: &str, b_open: &str, b_close: &str) -> String {
    let a_start = text.find(a_open).unwrap();
    let a_end = text.find(a_close).unwrap() + a_close.len();
    let b_start = text.find(b_open).unwrap();
    let b_end = text.find(b_close).unwrap() + b_close.len();
    assert!(a_end <= b_start);
    format!(
        "{}{}{}{}{}",
        &text[..a_start],
        &text[b_start..b_end],
        &text[a_end..b_start],
        &text[a_start..a_end],
        &text[b_end..]
    )
}
