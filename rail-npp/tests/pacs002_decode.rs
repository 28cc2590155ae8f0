//! Reading pacs.002 status reports: every status code, what each means to the orchestrator, and
//! every kind of malformed, unknown or contradictory report refused with an error naming where;
//! and no input at all makes the decoder panic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

mod support;

use core_npp::{FailureReason, SettlementRef};
use proptest::prelude::*;
use rail_npp::*;
use support::*;

use TransactionStatus as S;

const TX: &str = "/Document/FIToFIPmtStsRpt/TxInfAndSts";

fn settled_xml() -> String {
    encode_pacs002(&report(S::AcceptedSettlementCompleted))
}

fn rejected_xml() -> String {
    encode_pacs002(&report(S::Rejected))
}

/// A report that is valid except for its status element.
fn with_status(code: &str) -> String {
    encode_pacs002(&report(S::AcceptedTechnicalValidation))
        .replace("<TxSts>ACTC</TxSts>", &format!("<TxSts>{code}</TxSts>"))
}

#[test]
fn every_status_code_parses_to_its_status_and_verdict() {
    let reference = SettlementRef::parse("FSS-20251217-000042").unwrap();
    let expected = [
        (
            "ACTC",
            S::AcceptedTechnicalValidation,
            Verdict::Acknowledged,
        ),
        ("ACCP", S::AcceptedCustomerProfile, Verdict::Acknowledged),
        (
            "ACSP",
            S::AcceptedSettlementInProcess,
            Verdict::Acknowledged,
        ),
        (
            "ACSC",
            S::AcceptedSettlementCompleted,
            Verdict::Settled {
                settlement_ref: reference,
            },
        ),
        (
            "ACCC",
            S::AcceptedCreditSettlementCompleted,
            Verdict::Settled {
                settlement_ref: reference,
            },
        ),
        ("PDNG", S::Pending, Verdict::Acknowledged),
        (
            "RJCT",
            S::Rejected,
            Verdict::Rejected {
                reason: ReasonCode::Ac04,
            },
        ),
        (
            "BLCK",
            S::Blocked,
            Verdict::Rejected {
                reason: ReasonCode::Ac04,
            },
        ),
    ];
    assert_eq!(expected.len(), S::ALL.len());
    for (code, status, verdict) in expected {
        let xml = encode_pacs002(&report(status));
        assert!(xml.contains(&format!("<TxSts>{code}</TxSts>")), "{xml}");
        let decoded = decode_pacs002(&xml).unwrap();
        assert_eq!(decoded.status(), status);
        assert_eq!(decoded.verdict(), verdict, "{code}");
        assert_eq!(S::from_code(code), Some(status));
        assert_eq!(status.to_string(), code);
        assert!(!status.meaning().is_empty());
    }
}

#[test]
fn every_reason_code_parses_and_maps_to_a_core_failure_reason() {
    let expected = [
        ("AC01", FailureReason::RailRejected),
        ("AC04", FailureReason::RailRejected),
        ("AC06", FailureReason::RailRejected),
        ("AG01", FailureReason::RailRejected),
        ("AM04", FailureReason::RailRejected),
        ("AM05", FailureReason::RailRejected),
        ("BE23", FailureReason::RailRejected),
        ("AB05", FailureReason::RailTimeout),
        ("AB06", FailureReason::RailTimeout),
        ("FF01", FailureReason::RailRejected),
    ];
    assert_eq!(expected.len(), ReasonCode::ALL.len());
    for (code, failure) in expected {
        let xml = rejected_xml().replace("<Cd>AC04</Cd>", &format!("<Cd>{code}</Cd>"));
        let reason = decode_pacs002(&xml).unwrap().reason().unwrap();
        assert_eq!(reason.code(), code);
        assert_eq!(ReasonCode::from_code(code), Some(reason));
        assert_eq!(reason.failure_reason(), failure, "{code}");
        assert!(!reason.meaning().is_empty());
    }
    assert_eq!(ReasonCode::Am04.meaning(), "insufficient funds");
}

#[test]
fn contradictory_reports_cannot_be_built() {
    let refused = |status, reason, reference: Option<&str>| {
        let mut p = report_parts(status);
        p.reason = reason;
        p.settlement_ref = reference.map(|r| SettlementRef::parse(r).unwrap());
        StatusReport::new(p).unwrap_err()
    };
    assert_eq!(
        refused(S::Rejected, None, None),
        RailError::RejectionWithoutReason {
            status: S::Rejected
        }
    );
    assert_eq!(
        refused(S::Blocked, None, None),
        RailError::RejectionWithoutReason { status: S::Blocked }
    );
    assert_eq!(
        refused(S::AcceptedSettlementInProcess, Some(ReasonCode::Ab05), None),
        RailError::ReasonWithoutRejection {
            status: S::AcceptedSettlementInProcess,
            reason: ReasonCode::Ab05
        }
    );
    assert_eq!(
        refused(S::AcceptedCreditSettlementCompleted, None, None),
        RailError::SettlementWithoutReference {
            status: S::AcceptedCreditSettlementCompleted
        }
    );
    assert_eq!(
        refused(S::AcceptedTechnicalValidation, None, Some("R1")),
        RailError::ReferenceWithoutSettlement {
            status: S::AcceptedTechnicalValidation,
            settlement_ref: SettlementRef::parse("R1").unwrap()
        }
    );
    assert!(matches!(
        refused(S::Rejected, Some(ReasonCode::Ac01), Some("R1")),
        RailError::ReferenceWithoutSettlement { .. }
    ));
}

fn missing(at: &str) -> RailError {
    RailError::MissingElement { at: at.to_owned() }
}

/// Each malformed report, and the exact error it must give.
fn malformed_reports() -> Vec<(&'static str, String, RailError)> {
    let settled = settled_xml();
    let rejected = rejected_xml();
    let tx_start = settled.find("    <TxInfAndSts>").unwrap();
    let tx_end = settled.find("</TxInfAndSts>\n").unwrap() + "</TxInfAndSts>\n".len();
    let second_tx = settled[tx_start..tx_end].to_owned();
    vec![
        (
            "truncated XML",
            settled[..settled.len() / 2].to_owned(),
            RailError::NotXml {
                reason: "the root node was opened but never closed".to_owned(),
            },
        ),
        (
            "wrong namespace (another version)",
            settled.replace("pacs.002.001.10", "pacs.002.001.09"),
            RailError::WrongNamespace {
                expected: PACS002_NAMESPACE,
                found: "urn:iso:std:iso:20022:tech:xsd:pacs.002.001.09".to_owned(),
            },
        ),
        (
            "a pacs.008 instead of a pacs.002",
            encode_pacs008(&transfer()),
            RailError::WrongNamespace {
                expected: PACS002_NAMESPACE,
                found: PACS008_NAMESPACE.to_owned(),
            },
        ),
        (
            "no namespace",
            settled.replace(&format!(r#" xmlns="{PACS002_NAMESPACE}""#), ""),
            RailError::WrongNamespace {
                expected: PACS002_NAMESPACE,
                found: String::new(),
            },
        ),
        (
            "wrong root element",
            settled
                .replace("<Document ", "<Report ")
                .replace("</Document>", "</Report>"),
            RailError::WrongRoot {
                expected: "Document",
                found: "Report".to_owned(),
            },
        ),
        (
            "unknown status XXXX",
            with_status("XXXX"),
            RailError::UnknownStatus {
                at: format!("{TX}/TxSts"),
                code: "XXXX".to_owned(),
            },
        ),
        (
            "status in lower case",
            with_status("actc"),
            RailError::UnknownStatus {
                at: format!("{TX}/TxSts"),
                code: "actc".to_owned(),
            },
        ),
        (
            "empty status",
            with_status(""),
            RailError::UnknownStatus {
                at: format!("{TX}/TxSts"),
                code: String::new(),
            },
        ),
        (
            "unknown reason ZZ99",
            rejected.replace("<Cd>AC04</Cd>", "<Cd>ZZ99</Cd>"),
            RailError::UnknownReason {
                at: format!("{TX}/StsRsnInf/Rsn/Cd"),
                code: "ZZ99".to_owned(),
            },
        ),
        (
            "proprietary reason instead of a code",
            rejected.replace("<Cd>AC04</Cd>", "<Prtry>AC04</Prtry>"),
            missing(&format!("{TX}/StsRsnInf/Rsn/Cd")),
        ),
        (
            "missing OrgnlEndToEndId",
            settled.replace("<OrgnlEndToEndId>pay_001</OrgnlEndToEndId>", ""),
            missing(&format!("{TX}/OrgnlEndToEndId")),
        ),
        (
            "a bad OrgnlInstrId",
            settled.replace("<OrgnlInstrId>pay_001<", "<OrgnlInstrId>pay/001<"),
            RailError::InvalidId {
                at: format!("{TX}/OrgnlInstrId"),
                source: core_npp::PaymentIntentId::parse("pay/001").unwrap_err(),
            },
        ),
        (
            "an OrgnlEndToEndId over 35 characters",
            settled.replace(
                "<OrgnlEndToEndId>pay_001<",
                &format!("<OrgnlEndToEndId>{}<", "x".repeat(36)),
            ),
            RailError::InvalidText {
                at: format!("{TX}/OrgnlEndToEndId"),
                source: core_npp::EndToEndId::parse(&"x".repeat(36)).unwrap_err(),
            },
        ),
        (
            "no OrgnlInstrId and an OrgnlEndToEndId that is no payment id",
            settled
                .replace("<OrgnlInstrId>pay_001</OrgnlInstrId>", "")
                .replace("<OrgnlEndToEndId>pay_001<", "<OrgnlEndToEndId>INV 117<"),
            RailError::InvalidId {
                at: format!("{TX}/OrgnlEndToEndId"),
                source: core_npp::PaymentIntentId::parse("INV 117").unwrap_err(),
            },
        ),
        (
            "missing OrgnlTxId",
            settled.replace("<OrgnlTxId>att_1</OrgnlTxId>", ""),
            missing(&format!("{TX}/OrgnlTxId")),
        ),
        (
            "missing TxSts",
            settled.replace("<TxSts>ACSC</TxSts>", ""),
            missing(&format!("{TX}/TxSts")),
        ),
        (
            "missing original message id",
            settled.replace("<OrgnlMsgId>msg-20251217-0001</OrgnlMsgId>", ""),
            missing(&format!("{TX}/OrgnlGrpInf/OrgnlMsgId")),
        ),
        (
            "missing GrpHdr/MsgId",
            settled.replace("<MsgId>sts-20251217-0001</MsgId>", ""),
            missing("/Document/FIToFIPmtStsRpt/GrpHdr/MsgId"),
        ),
        (
            "no transaction at all",
            settled.replace(&second_tx, ""),
            missing(TX),
        ),
        (
            "two transactions",
            settled.replace(&second_tx, &second_tx.repeat(2)),
            RailError::MoreThanOneTransaction {
                at: TX.to_owned(),
                count: 2,
            },
        ),
        (
            "TxSts twice",
            settled.replace("<TxSts>ACSC</TxSts>", "<TxSts>ACSC</TxSts><TxSts>RJCT</TxSts>"),
            RailError::RepeatedElement {
                at: format!("{TX}/TxSts"),
                count: 2,
            },
        ),
        (
            "an element inside TxSts",
            with_status("<b>ACTC</b>"),
            RailError::ElementInText {
                at: format!("{TX}/TxSts"),
                child: "b".to_owned(),
            },
        ),
        (
            "RJCT without a reason",
            rejected.replace("<StsRsnInf>\n        <Rsn>\n          <Cd>AC04</Cd>\n        </Rsn>\n      </StsRsnInf>\n", ""),
            RailError::RejectionWithoutReason { status: S::Rejected },
        ),
        (
            "a reason on an acceptance",
            rejected.replace("<TxSts>RJCT</TxSts>", "<TxSts>ACSP</TxSts>"),
            RailError::ReasonWithoutRejection {
                status: S::AcceptedSettlementInProcess,
                reason: ReasonCode::Ac04,
            },
        ),
        (
            "ACSC without a settlement reference",
            settled.replace("<ClrSysRef>FSS-20251217-000042</ClrSysRef>", ""),
            RailError::SettlementWithoutReference {
                status: S::AcceptedSettlementCompleted,
            },
        ),
        (
            "a settlement reference on PDNG",
            settled.replace("<TxSts>ACSC</TxSts>", "<TxSts>PDNG</TxSts>"),
            RailError::ReferenceWithoutSettlement {
                status: S::Pending,
                settlement_ref: SettlementRef::parse("FSS-20251217-000042").unwrap(),
            },
        ),
        (
            "a report on something other than a pacs.008",
            settled.replace("<OrgnlMsgNmId>pacs.008.001.08<", "<OrgnlMsgNmId>pacs.004.001.09<"),
            RailError::UnexpectedValue {
                at: format!("{TX}/OrgnlGrpInf/OrgnlMsgNmId"),
                expected: "pacs.008.001.08",
                found: "pacs.004.001.09".to_owned(),
            },
        ),
        (
            "a message id over 35 characters",
            settled.replace("sts-20251217-0001", &"M".repeat(36)),
            RailError::InvalidMessageId {
                at: "/Document/FIToFIPmtStsRpt/GrpHdr/MsgId".to_owned(),
                value: "M".repeat(36),
                problem: "is longer than 35 characters",
            },
        ),
    ]
}

#[test]
fn malformed_reports_are_refused_with_an_error_naming_what_and_where() {
    let cases = malformed_reports();
    assert!(cases.len() >= 25);
    for (what, xml, expected) in cases {
        assert_eq!(
            decode_pacs002(&xml),
            Err(expected.clone()),
            "{what}:\n{xml}"
        );
        assert_eq!(
            decode_pacs002_bytes(xml.as_bytes()),
            Err(expected),
            "{what}"
        );
    }
}

#[test]
fn bad_timestamps_and_ids_are_refused_at_their_element() {
    let created = "/Document/FIToFIPmtStsRpt/GrpHdr/CreDtTm";
    for bad in [
        "yesterday",
        "2025-12-17T09:30:02",
        "2025-12-17",
        "2025-13-17T09:30:02Z",
        "1969-12-31T23:59:59Z",
        "",
    ] {
        let xml = settled_xml().replace("2025-12-17T09:30:02.5Z", bad);
        match decode_pacs002(&xml) {
            Err(RailError::InvalidTimestamp { at, .. }) => assert_eq!(at, created, "{bad}"),
            other => panic!("{bad:?} gave {other:?}"),
        }
    }
    let xml = settled_xml().replace(">att_1<", ">att 1<");
    assert!(matches!(
        decode_pacs002(&xml),
        Err(RailError::InvalidId { at, .. }) if at == format!("{TX}/OrgnlTxId")
    ));
    let xml = settled_xml().replace(">FSS-20251217-000042<", "><");
    assert!(matches!(
        decode_pacs002(&xml),
        Err(RailError::InvalidId { at, .. }) if at == format!("{TX}/ClrSysRef")
    ));
}

#[test]
fn huge_input_is_refused_before_parsing() {
    let padding = format!("<!--{}-->", "x".repeat(MAX_MESSAGE_BYTES));
    let xml = settled_xml().replace("<FIToFIPmtStsRpt>", &format!("<FIToFIPmtStsRpt>{padding}"));
    let bytes = xml.len();
    assert_eq!(
        decode_pacs002(&xml),
        Err(RailError::TooLarge {
            bytes,
            max: MAX_MESSAGE_BYTES
        })
    );
    assert_eq!(
        decode_pacs002_bytes(&vec![0xFF; MAX_MESSAGE_BYTES + 1]),
        Err(RailError::TooLarge {
            bytes: MAX_MESSAGE_BYTES + 1,
            max: MAX_MESSAGE_BYTES
        })
    );
    // Exactly at the limit is still read (and here refused for what it is, not for its size).
    let at_limit = " ".repeat(MAX_MESSAGE_BYTES);
    assert!(matches!(
        decode_pacs002(&at_limit),
        Err(RailError::NotXml { .. })
    ));
}

#[test]
fn binary_garbage_and_non_xml_are_refused() {
    let garbage: Vec<u8> = (0u8..=255).cycle().take(4096).collect();
    assert_eq!(
        decode_pacs002_bytes(&garbage),
        Err(RailError::NotUtf8 { valid_up_to: 128 })
    );
    for text in [
        "",
        "   ",
        "\u{0}\u{1}\u{2}",
        "{\"TxSts\":\"ACSC\"}",
        "ACSC",
        "<",
        "<Document>",
    ] {
        assert!(
            matches!(decode_pacs002(text), Err(RailError::NotXml { .. })),
            "{text:?} gave {:?}",
            decode_pacs002(text)
        );
    }
}

#[test]
fn dtds_and_entity_expansion_are_refused() {
    let laughs = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.002.001.10">&lol2;</Document>"#;
    assert!(matches!(
        decode_pacs002(laughs),
        Err(RailError::NotXml { .. })
    ));
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    let depth = 9_000;
    let nested = format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth));
    assert!(nested.len() <= MAX_MESSAGE_BYTES);
    assert_eq!(
        decode_pacs002(&nested),
        Err(RailError::WrongRoot {
            expected: "Document",
            found: "a".to_owned()
        })
    );
    let inside = format!(r#"<Document xmlns="{PACS002_NAMESPACE}">{nested}</Document>"#);
    assert_eq!(
        decode_pacs002(&inside),
        Err(missing("/Document/FIToFIPmtStsRpt"))
    );
}

#[test]
fn a_report_without_an_original_instruction_id_reads_as_before() {
    // Given a report as participants wrote them before OrgnlInstrId: the payment id in
    // OrgnlEndToEndId
    let old = settled_xml().replace("      <OrgnlInstrId>pay_001</OrgnlInstrId>\n", "");
    assert!(!old.contains("OrgnlInstrId"));
    // When it is decoded, Then the payment is its OrgnlEndToEndId, and it equals the new form
    let report = decode_pacs002(&old).unwrap();
    assert_eq!(report.original_instruction_id().as_str(), "pay_001");
    assert_eq!(report.original_end_to_end_id().as_str(), "pay_001");
    assert_eq!(report, crate::report(S::AcceptedSettlementCompleted));
}

#[test]
fn a_report_maps_to_the_payment_by_instruction_id_whatever_the_end_to_end_id() {
    // Given a report on a transfer that carried the payer's own end-to-end id
    let mut parts = report_parts(S::AcceptedSettlementCompleted);
    parts.original_end_to_end_id = core_npp::EndToEndId::parse("INV 2025/117").unwrap();
    let xml = encode_pacs002(&StatusReport::new(parts).unwrap());
    // Then OrgnlInstrId comes between OrgnlGrpInf and OrgnlEndToEndId, and names the payment
    let group = xml.find("</OrgnlGrpInf>").unwrap();
    let instr = xml.find("<OrgnlInstrId>pay_001</OrgnlInstrId>").unwrap();
    let e2e = xml
        .find("<OrgnlEndToEndId>INV 2025/117</OrgnlEndToEndId>")
        .unwrap();
    assert!(group < instr && instr < e2e, "{xml}");
    let report = decode_pacs002(&xml).unwrap();
    assert_eq!(report.original_instruction_id().as_str(), "pay_001");
    assert_eq!(report.original_end_to_end_id().as_str(), "INV 2025/117");
}

#[test]
fn errors_read_as_sentences_that_name_the_element() {
    let err = decode_pacs002(&with_status("XXXX")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "/Document/FIToFIPmtStsRpt/TxInfAndSts/TxSts: unknown transaction status code \"XXXX\""
    );
    let err =
        decode_pacs002(&settled_xml().replace("<OrgnlEndToEndId>pay_001</OrgnlEndToEndId>", ""))
            .unwrap_err();
    assert_eq!(
        err.to_string(),
        "missing element /Document/FIToFIPmtStsRpt/TxInfAndSts/OrgnlEndToEndId"
    );
    // Hostile values are quoted short.
    let err = decode_pacs002(&with_status(&"Z".repeat(1000))).unwrap_err();
    assert!(err.to_string().len() < 200, "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn decoding_arbitrary_text_never_panics(text in any::<String>()) {
        let _ = decode_pacs002(&text);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = decode_pacs002_bytes(&bytes);
    }

    #[test]
    fn decoding_xml_like_text_never_panics(text in r#"(<[A-Za-z:/]{0,12}( [a-z]+="[^"]{0,8}")?>|[^<]{0,8}|&[a-z#0-9]{0,5};?|<!\[CDATA\[|]]>|<\?|<!--){0,40}"#) {
        let _ = decode_pacs002(&text);
    }

    /// A valid report with a slice cut out, replaced, or the whole cut short: the decoder
    /// answers (usually with an error) and never panics; an answer of Ok is a consistent report.
    #[test]
    fn decoding_damaged_reports_never_panics(
        status in prop::sample::select(S::ALL.to_vec()),
        start in 0usize..2000,
        len in 0usize..64,
        insert in prop_oneof![Just(String::new()), any::<String>(), "[<>&/;\"' a-zA-Z0-9]{1,8}"],
    ) {
        let xml = encode_pacs002(&report(status));
        let start = floor_char_boundary(&xml, start.min(xml.len()));
        let end = floor_char_boundary(&xml, (start + len).min(xml.len()));
        let damaged = format!("{}{}{}", &xml[..start], insert, &xml[end..]);
        if let Ok(report) = decode_pacs002(&damaged) {
            // Whatever decodes is consistent: its verdict agrees with its status.
            match report.verdict() {
                Verdict::Settled { .. } => prop_assert!(report.status().is_settlement()),
                Verdict::Rejected { .. } => prop_assert!(report.status().is_rejection()),
                Verdict::Acknowledged => prop_assert!(
                    !report.status().is_settlement() && !report.status().is_rejection()
                ),
            }
        }
        let _ = decode_pacs002(&xml[..start]);
    }
}

fn floor_char_boundary(text: &str, mut index: usize) -> usize {
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}
