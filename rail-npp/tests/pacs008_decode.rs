//! Reading pacs.008 credit transfers (the simulated participant's side): malformed transfers are
//! refused with an error naming the element, and no input makes the decoder panic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

mod support;

use proptest::prelude::*;
use rail_npp::*;
use support::*;

const HDR: &str = "/Document/FIToFICstmrCdtTrf/GrpHdr";
const TX: &str = "/Document/FIToFICstmrCdtTrf/CdtTrfTxInf";

fn xml() -> String {
    encode_pacs008(&transfer())
}

/// Each malformed transfer, and the exact error it must give.
fn malformed_transfers() -> Vec<(&'static str, String, RailError)> {
    let good = xml();
    let tx_start = good.find("    <CdtTrfTxInf>").unwrap();
    let tx_end = good.find("</CdtTrfTxInf>\n").unwrap() + "</CdtTrfTxInf>\n".len();
    let tx = good[tx_start..tx_end].to_owned();
    let missing = |at: String| RailError::MissingElement { at };
    let unexpected = |at: String, expected: &'static str, found: &str| RailError::UnexpectedValue {
        at,
        expected,
        found: found.to_owned(),
    };
    vec![
        (
            "a pacs.002 instead of a pacs.008",
            encode_pacs002(&report(TransactionStatus::Pending)),
            RailError::WrongNamespace {
                expected: PACS008_NAMESPACE,
                found: PACS002_NAMESPACE.to_owned(),
            },
        ),
        (
            "two transactions",
            good.replace(&tx, &tx.repeat(2)),
            RailError::MoreThanOneTransaction {
                at: TX.to_owned(),
                count: 2,
            },
        ),
        (
            "no transaction",
            good.replace(&tx, ""),
            missing(TX.to_owned()),
        ),
        (
            "NbOfTxs says two",
            good.replace("<NbOfTxs>1<", "<NbOfTxs>2<"),
            unexpected(format!("{HDR}/NbOfTxs"), "1", "2"),
        ),
        (
            "another settlement method",
            good.replace(">CLRG<", ">INDA<"),
            unexpected(format!("{HDR}/SttlmInf/SttlmMtd"), "CLRG", "INDA"),
        ),
        (
            "another clearing system",
            good.replace("<Cd>NPP</Cd>", "<Cd>BEC</Cd>"),
            unexpected(format!("{HDR}/SttlmInf/ClrSys/Cd"), "NPP", "BEC"),
        ),
        (
            "a proprietary clearing system",
            good.replace("<Cd>NPP</Cd>", "<Prtry>NPP</Prtry>"),
            missing(format!("{HDR}/SttlmInf/ClrSys/Cd")),
        ),
        (
            "another currency",
            good.replace(r#"Ccy="AUD""#, r#"Ccy="USD""#),
            RailError::UnsupportedCurrency {
                at: format!("{TX}/IntrBkSttlmAmt/@Ccy"),
                found: "USD".to_owned(),
            },
        ),
        (
            "no currency",
            good.replace(r#" Ccy="AUD""#, ""),
            RailError::MissingAttribute {
                at: format!("{TX}/IntrBkSttlmAmt/@Ccy"),
            },
        ),
        (
            "a zero amount",
            good.replace(">500.00<", ">0.00<"),
            RailError::AmountNotPositive {
                at: format!("{TX}/IntrBkSttlmAmt"),
                amount: "0.00".to_owned(),
            },
        ),
        (
            "fractions of a cent",
            good.replace(">500.00<", ">500.001<"),
            RailError::InvalidAmount {
                at: format!("{TX}/IntrBkSttlmAmt"),
                value: "500.001".to_owned(),
                problem: "has fractions of a cent",
            },
        ),
        (
            "another charge bearer",
            good.replace(">SLEV<", ">DEBT<"),
            unexpected(format!("{TX}/ChrgBr"), "SLEV", "DEBT"),
        ),
        (
            "missing TxId",
            good.replace("<TxId>att_1</TxId>", ""),
            missing(format!("{TX}/PmtId/TxId")),
        ),
        (
            "missing debtor account",
            good.replace("<DbtrAcct>", "<DbtrAcctX>")
                .replace("</DbtrAcct>", "</DbtrAcctX>"),
            missing(format!("{TX}/DbtrAcct")),
        ),
        (
            "an IBAN instead of an account number",
            good.replacen(
                "<Othr>\n            <Id>12345678</Id>\n          </Othr>",
                "<IBAN>GB29NWBK60161331926819</IBAN>",
                1,
            ),
            missing(format!("{TX}/DbtrAcct/Id/Othr")),
        ),
        (
            "a letter in the account number",
            good.replace(">0012345<", ">00123X5<"),
            RailError::InvalidAccountNumber {
                at: format!("{TX}/CdtrAcct/Id/Othr/Id"),
                value: "00123X5".to_owned(),
            },
        ),
        (
            "a five-digit BSB",
            good.replace("<MmbId>633000</MmbId>", "<MmbId>63300</MmbId>"),
            RailError::InvalidBsb {
                at: format!("{TX}/CdtrAgt/FinInstnId/ClrSysMmbId/MmbId"),
                value: "63300".to_owned(),
            },
        ),
        (
            "an agent named by another scheme",
            good.replacen("<Cd>AUBSB</Cd>", "<Cd>USABA</Cd>", 1),
            unexpected(
                format!("{TX}/DbtrAgt/FinInstnId/ClrSysMmbId/ClrSysId/Cd"),
                "AUBSB",
                "USABA",
            ),
        ),
        (
            "a debtor name over 140 characters",
            good.replace(
                "<Nm>Alice Smith</Nm>",
                &format!("<Nm>{}</Nm>", "A".repeat(141)),
            ),
            RailError::NameTooLong {
                at: format!("{TX}/Dbtr/Nm"),
                chars: 141,
                max: MAX_NAME_CHARS,
            },
        ),
        (
            "a blank creditor name",
            good.replace("<Nm>Bob Jones</Nm>", "<Nm>   </Nm>"),
            RailError::BlankName {
                at: format!("{TX}/Cdtr/Nm"),
            },
        ),
        (
            "a tab in a name",
            good.replace("<Nm>Bob Jones</Nm>", "<Nm>Bob&#9;Jones</Nm>"),
            RailError::ForbiddenCharacter {
                at: format!("{TX}/Cdtr/Nm"),
                code_point: 9,
            },
        ),
        (
            "a bad instruction id",
            good.replace("<InstrId>pay_001<", "<InstrId>pay 001<"),
            RailError::InvalidId {
                at: format!("{TX}/PmtId/InstrId"),
                source: core_npp::PaymentIntentId::parse("pay 001").unwrap_err(),
            },
        ),
        (
            "two instruction ids",
            good.replace(
                "<InstrId>pay_001</InstrId>",
                "<InstrId>pay_001</InstrId><InstrId>pay_002</InstrId>",
            ),
            RailError::RepeatedElement {
                at: format!("{TX}/PmtId/InstrId"),
                count: 2,
            },
        ),
        (
            "an end-to-end id over 35 characters",
            good.replace(
                "<EndToEndId>pay_001<",
                &format!("<EndToEndId>{}<", "é".repeat(36)),
            ),
            RailError::InvalidText {
                at: format!("{TX}/PmtId/EndToEndId"),
                source: core_npp::EndToEndId::parse(&"é".repeat(36)).unwrap_err(),
            },
        ),
        (
            "a blank end-to-end id",
            good.replace("<EndToEndId>pay_001<", "<EndToEndId>   <"),
            RailError::InvalidText {
                at: format!("{TX}/PmtId/EndToEndId"),
                source: core_npp::EndToEndId::parse("   ").unwrap_err(),
            },
        ),
        (
            "a tab in the end-to-end id",
            good.replace("<EndToEndId>pay_001<", "<EndToEndId>pay&#9;001<"),
            RailError::InvalidText {
                at: format!("{TX}/PmtId/EndToEndId"),
                source: core_npp::EndToEndId::parse("pay\t001").unwrap_err(),
            },
        ),
        (
            "no end-to-end id beside the instruction id",
            good.replace("<EndToEndId>pay_001</EndToEndId>", ""),
            missing(format!("{TX}/PmtId/EndToEndId")),
        ),
        (
            "a bad end-to-end id in a transfer without an instruction id",
            good.replace("<InstrId>pay_001</InstrId>", "")
                .replace(">pay_001<", ">pay 001<"),
            RailError::InvalidId {
                at: format!("{TX}/PmtId/EndToEndId"),
                source: core_npp::PaymentIntentId::parse("pay 001").unwrap_err(),
            },
        ),
        (
            "remittance over 280 characters in three Ustrd",
            good.replace(
                "<Ustrd>Invoice 42</Ustrd>",
                &format!(
                    "<Ustrd>{0}</Ustrd><Ustrd>{0}</Ustrd><Ustrd>x</Ustrd>",
                    "r".repeat(140)
                ),
            ),
            RailError::InvalidText {
                at: format!("{TX}/RmtInf/Ustrd"),
                source: core_npp::FreeText::parse(&"r".repeat(281)).unwrap_err(),
            },
        ),
        (
            "a timestamp without an offset",
            good.replace("2025-12-17T09:30:00Z", "2025-12-17T09:30:00"),
            RailError::InvalidTimestamp {
                at: format!("{HDR}/CreDtTm"),
                source: core_npp::Timestamp::parse("2025-12-17T09:30:00").unwrap_err(),
            },
        ),
    ]
}

#[test]
fn malformed_transfers_are_refused_with_an_error_naming_what_and_where() {
    let cases = malformed_transfers();
    assert!(cases.len() >= 24);
    for (what, xml, expected) in cases {
        assert_eq!(
            decode_pacs008(&xml),
            Err(expected.clone()),
            "{what}:\n{xml}"
        );
        assert_eq!(
            decode_pacs008_bytes(xml.as_bytes()),
            Err(expected),
            "{what}"
        );
    }
}

#[test]
fn a_transfer_without_an_instruction_id_reads_as_before() {
    // Given a transfer as this adapter wrote them before the instruction id: no InstrId, the
    // payment id in EndToEndId
    let old = xml().replace("      <InstrId>pay_001</InstrId>\n", "");
    assert!(!old.contains("InstrId") && old.contains("<EndToEndId>pay_001</EndToEndId>"));
    // When it is decoded
    let transfer = decode_pacs008(&old).unwrap();
    // Then the end-to-end id is the payment, and it is the same transfer as one with InstrId
    assert_eq!(transfer.instruction_id().as_str(), "pay_001");
    assert_eq!(transfer.end_to_end_id().as_str(), "pay_001");
    assert_eq!(transfer, crate::transfer());
}

#[test]
fn the_payers_end_to_end_id_is_carried_beside_the_instruction_id() {
    // Given a transfer whose payer gave an end-to-end id with characters the core's ids refuse
    let mut p = parts();
    p.end_to_end_id = core_npp::EndToEndId::parse("INV 2025/117 & <co>").unwrap();
    let transfer = CreditTransfer::new(p).unwrap();
    // When it is written and read back
    let xml = encode_pacs008(&transfer);
    // Then InstrId (the payment) comes before EndToEndId (the payer's, escaped), then TxId
    let instr = xml.find("<InstrId>pay_001</InstrId>").unwrap();
    let e2e = xml
        .find("<EndToEndId>INV 2025/117 &amp; &lt;co&gt;</EndToEndId>")
        .unwrap();
    let tx = xml.find("<TxId>att_1</TxId>").unwrap();
    assert!(instr < e2e && e2e < tx, "{xml}");
    assert_eq!(decode_pacs008(&xml).unwrap(), transfer);
}

#[test]
fn oversize_and_non_xml_transfers_are_refused() {
    let padded = xml().replace(
        "<GrpHdr>",
        &format!("<GrpHdr>{}", " ".repeat(MAX_MESSAGE_BYTES)),
    );
    assert!(matches!(
        decode_pacs008(&padded),
        Err(RailError::TooLarge {
            max: MAX_MESSAGE_BYTES,
            ..
        })
    ));
    assert!(matches!(
        decode_pacs008_bytes(b"\xC3\x28"),
        Err(RailError::NotUtf8 { valid_up_to: 0 })
    ));
    assert!(matches!(
        decode_pacs008("<Document"),
        Err(RailError::NotXml { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn decoding_arbitrary_text_never_panics(text in any::<String>()) {
        let _ = decode_pacs008(&text);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = decode_pacs008_bytes(&bytes);
    }

    /// A valid transfer with a slice replaced: the decoder answers and never panics.
    #[test]
    fn decoding_damaged_transfers_never_panics(
        start in 0usize..3000,
        len in 0usize..64,
        insert in prop_oneof![Just(String::new()), any::<String>(), "[<>&/;\"' a-zA-Z0-9.]{1,8}"],
    ) {
        let xml = xml();
        let mut start = start.min(xml.len());
        while !xml.is_char_boundary(start) { start -= 1; }
        let mut end = (start + len).min(xml.len());
        while !xml.is_char_boundary(end) { end -= 1; }
        let damaged = format!("{}{}{}", &xml[..start], insert, &xml[end..]);
        let _ = decode_pacs008(&damaged);
    }
}
