//! Shared test support: builders for transfers and reports, proptest strategies for both, and
//! schema validation with `xmllint`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs,
    dead_code
)]

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

use core_npp::{AttemptId, EndToEndId, FreeText, Money, PaymentIntentId, SettlementRef, Timestamp};
use proptest::prelude::*;
use rail_npp::*;

pub fn party(name: &str, bsb: &str, account: &str) -> Party {
    Party::new(
        name,
        Bsb::parse(bsb).unwrap(),
        AccountNumber::parse(account).unwrap(),
    )
    .unwrap()
}

pub fn parts() -> CreditTransferParts {
    CreditTransferParts {
        msg_id: MessageId::parse("msg-20251217-0001").unwrap(),
        created_at: Timestamp::parse("2025-12-17T09:30:00Z").unwrap(),
        instruction_id: PaymentIntentId::parse("pay_001").unwrap(),
        end_to_end_id: EndToEndId::parse("pay_001").unwrap(),
        tx_id: AttemptId::parse("att_1").unwrap(),
        amount: Money::from_minor_units(50_000),
        debtor: party("Alice Smith", "062-000", "12345678"),
        creditor: party("Bob Jones", "633000", "0012345"),
        remittance: Some(FreeText::parse("Invoice 42").unwrap()),
    }
}

pub fn transfer() -> CreditTransfer {
    CreditTransfer::new(parts()).unwrap()
}

/// A report parts value for `status`, with a reason or settlement reference exactly when the
/// status needs one.
pub fn report_parts(status: TransactionStatus) -> StatusReportParts {
    StatusReportParts {
        msg_id: MessageId::parse("sts-20251217-0001").unwrap(),
        created_at: Timestamp::parse("2025-12-17T09:30:02.5Z").unwrap(),
        original_msg_id: MessageId::parse("msg-20251217-0001").unwrap(),
        original_instruction_id: PaymentIntentId::parse("pay_001").unwrap(),
        original_end_to_end_id: EndToEndId::parse("pay_001").unwrap(),
        original_tx_id: AttemptId::parse("att_1").unwrap(),
        status,
        reason: status.is_rejection().then_some(ReasonCode::Ac04),
        settlement_ref: status
            .is_settlement()
            .then(|| SettlementRef::parse("FSS-20251217-000042").unwrap()),
    }
}

pub fn report(status: TransactionStatus) -> StatusReport {
    StatusReport::new(report_parts(status)).unwrap()
}

// --- proptest strategies ---

/// Characters a name or remittance text may hold: mostly printable ASCII (the XML specials
/// `&<>"'` included), sometimes anything XML can carry (non-ASCII, astral, private use).
pub fn text_char() -> impl Strategy<Value = char> {
    prop_oneof![
        6 => proptest::char::range(' ', '~'),
        1 => prop::sample::select(vec!['&', '<', '>', '"', '\'', ']', ';']),
        2 => any::<char>().prop_filter("XML-carriable, not control", |c| {
            !c.is_control() && !matches!(c, '\u{FFFE}' | '\u{FFFF}')
        }),
    ]
}

pub fn text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(text_char(), 1..=max)
        .prop_map(|chars| chars.into_iter().collect::<String>())
        .prop_filter("not blank", |s| !s.trim().is_empty())
}

pub fn arb_id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._:-]{1,35}"
}

/// An end-to-end id: the payment id half the time (as when the intent gives none), any
/// Max35Text the core accepts otherwise.
pub fn arb_end_to_end_id(payment: String) -> impl Strategy<Value = EndToEndId> {
    prop_oneof![
        Just(EndToEndId::parse(&payment).unwrap()),
        text(core_npp::MAX_END_TO_END_ID_LEN).prop_map(|t| EndToEndId::parse(&t).unwrap()),
    ]
}

pub fn arb_timestamp() -> impl Strategy<Value = Timestamp> {
    // 1970-01-01 to 9999-12-31, whole seconds half the time, nanoseconds otherwise.
    (
        0i64..253_402_300_800,
        prop_oneof![Just(0u32), 0u32..1_000_000_000],
    )
        .prop_map(|(seconds, nanos)| {
            Timestamp::from_unix_nanos(i128::from(seconds) * 1_000_000_000 + i128::from(nanos))
                .unwrap()
        })
}

pub fn arb_amount() -> impl Strategy<Value = Money> {
    prop_oneof![
        1i64..100_000,
        1i64..=MAX_AMOUNT.minor_units(),
        Just(MAX_AMOUNT.minor_units()),
    ]
    .prop_map(Money::from_minor_units)
}

pub fn arb_party() -> impl Strategy<Value = Party> {
    (text(MAX_NAME_CHARS), "[0-9]{6}", "[0-9]{1,9}").prop_map(|(name, bsb, account)| {
        Party::new(
            &name,
            Bsb::parse(&bsb).unwrap(),
            AccountNumber::parse(&account).unwrap(),
        )
        .unwrap()
    })
}

pub fn arb_transfer() -> impl Strategy<Value = CreditTransfer> {
    (
        (arb_id(), arb_timestamp(), arb_id(), arb_id(), arb_amount()),
        arb_party(),
        arb_party(),
        prop::option::of(text(core_npp::MAX_TEXT_CHARS)),
    )
        .prop_flat_map(|(ids, debtor, creditor, remittance)| {
            let e2e = arb_end_to_end_id(ids.2.clone());
            (Just((ids, debtor, creditor, remittance)), e2e)
        })
        .prop_map(
            |(((msg, at, payment, tx, amount), debtor, creditor, remittance), e2e)| {
                CreditTransfer::new(CreditTransferParts {
                    msg_id: MessageId::parse(&msg).unwrap(),
                    created_at: at,
                    instruction_id: PaymentIntentId::parse(&payment).unwrap(),
                    end_to_end_id: e2e,
                    tx_id: AttemptId::parse(&tx).unwrap(),
                    amount,
                    debtor,
                    creditor,
                    remittance: remittance.map(|r| FreeText::parse(&r).unwrap()),
                })
                .unwrap()
            },
        )
}

pub fn arb_report() -> impl Strategy<Value = StatusReport> {
    (
        (arb_id(), arb_timestamp(), arb_id(), arb_id(), arb_id()),
        prop::sample::select(TransactionStatus::ALL.to_vec()),
        prop::sample::select(ReasonCode::ALL.to_vec()),
        arb_id(),
    )
        .prop_flat_map(|(ids, status, reason, reference)| {
            let e2e = arb_end_to_end_id(ids.3.clone());
            (Just((ids, status, reason, reference)), e2e)
        })
        .prop_map(
            |(((msg, at, original, payment, tx), status, reason, reference), e2e)| {
                StatusReport::new(StatusReportParts {
                    msg_id: MessageId::parse(&msg).unwrap(),
                    created_at: at,
                    original_msg_id: MessageId::parse(&original).unwrap(),
                    original_instruction_id: PaymentIntentId::parse(&payment).unwrap(),
                    original_end_to_end_id: e2e,
                    original_tx_id: AttemptId::parse(&tx).unwrap(),
                    status,
                    reason: status.is_rejection().then_some(reason),
                    settlement_ref: status
                        .is_settlement()
                        .then(|| SettlementRef::parse(&reference).unwrap()),
                })
                .unwrap()
            },
        )
}

// --- schema validation ---

/// The ISO schema `name`, from the copies kept with this crate (`rail-npp/schemas/`).
pub fn xsd(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("schemas")
        .join(name);
    assert!(
        path.is_file(),
        "the ISO 20022 schema {} is missing from rail-npp/schemas/",
        path.display()
    );
    path
}

/// Whether `xmllint` can run. When it cannot, says so loudly; under `CI` that is a failure, not
/// a skip, so schema validation cannot silently stop happening.
pub fn xmllint_available() -> bool {
    let found = Command::new("xmllint")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        // Written to the stderr handle, not with eprintln!, which the test harness captures and
        // hides for a passing test: a skipped validation must be seen.
        let _ = writeln!(
            std::io::stderr(),
            "\n========================================================================\n\
             xmllint NOT FOUND: the ISO 20022 schema validation did NOT run.\n\
             Install it with: apt-get install -y libxml2-utils\n\
             ========================================================================\n"
        );
        assert!(
            std::env::var_os("CI").is_none(),
            "xmllint is required under CI (Debian package libxml2-utils)"
        );
    }
    found
}

/// Validates every document against the schema `xsd_name` in one `xmllint` run. Returns the
/// labels of the documents that do not validate, with xmllint's messages.
pub fn schema_failures(xsd_name: &str, documents: &[(String, String)]) -> Vec<String> {
    let schema = xsd(xsd_name);
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for (i, (_, xml)) in documents.iter().enumerate() {
        let path = dir.path().join(format!("doc-{i}.xml"));
        std::fs::write(&path, xml).unwrap();
        paths.push(path);
    }
    let output = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&schema)
        .args(&paths)
        .output()
        .unwrap();
    let messages = String::from_utf8_lossy(&output.stderr).into_owned();
    let mut failures = Vec::new();
    for (path, (label, xml)) in paths.iter().zip(documents) {
        let name = path.display().to_string();
        if !messages.contains(&format!("{name} validates")) {
            let said: Vec<&str> = messages.lines().filter(|l| l.contains(&name)).collect();
            failures.push(format!("{label}: {}\n{xml}", said.join("\n")));
        }
    }
    assert_eq!(
        output.status.success(),
        failures.is_empty(),
        "xmllint's exit status disagrees with its per-file messages:\n{messages}"
    );
    failures
}
