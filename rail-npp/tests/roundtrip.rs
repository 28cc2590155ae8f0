//! Round trips: decoding what we encode gives back the same value, for generated transfers and
//! reports; and messages written by other senders in other valid forms decode as they should.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

mod support;

use core_npp::{FreeText, Money, Timestamp};
use proptest::prelude::*;
use rail_npp::*;
use support::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn pacs008_decodes_to_what_was_encoded(transfer in arb_transfer()) {
        let xml = encode_pacs008(&transfer);
        prop_assert_eq!(decode_pacs008(&xml), Ok(transfer.clone()));
        prop_assert_eq!(decode_pacs008_bytes(xml.as_bytes()), Ok(transfer));
    }

    #[test]
    fn pacs002_decodes_to_what_was_encoded(report in arb_report()) {
        let xml = encode_pacs002(&report);
        prop_assert_eq!(decode_pacs002(&xml), Ok(report.clone()));
        prop_assert_eq!(decode_pacs002_bytes(xml.as_bytes()), Ok(report));
    }
}

#[test]
fn remittance_of_280_characters_travels_in_two_ustrd_and_comes_back_whole() {
    let text = format!("{}{}", "a".repeat(139), "&<é>".repeat(35));
    assert_eq!(text.chars().count(), 279);
    let text = format!("{text}Z");
    let mut p = parts();
    p.remittance = Some(FreeText::parse(&text).unwrap());
    let transfer = CreditTransfer::new(p).unwrap();
    let xml = encode_pacs008(&transfer);
    assert_eq!(xml.matches("<Ustrd>").count(), 2, "{xml}");
    assert!(xml.contains(&format!("<Ustrd>{}&amp;</Ustrd>", "a".repeat(139))));
    let decoded = decode_pacs008(&xml).unwrap();
    assert_eq!(decoded.remittance().unwrap().as_str(), text);
    assert_eq!(decoded, transfer);
}

#[test]
fn short_remittance_is_one_ustrd_and_none_is_no_rmtinf() {
    let xml = encode_pacs008(&transfer());
    assert_eq!(xml.matches("<Ustrd>").count(), 1);
    let mut p = parts();
    p.remittance = None;
    let xml = encode_pacs008(&CreditTransfer::new(p).unwrap());
    assert!(!xml.contains("RmtInf"));
    assert_eq!(decode_pacs008(&xml).unwrap().remittance(), None);
}

#[test]
fn special_characters_are_escaped_and_come_back() {
    let mut p = parts();
    p.debtor = party(r#"O'Brien & "Sons" <Pty>"#, "062-000", "1");
    let transfer = CreditTransfer::new(p).unwrap();
    let xml = encode_pacs008(&transfer);
    assert!(
        xml.contains("<Nm>O&apos;Brien &amp; &quot;Sons&quot; &lt;Pty&gt;</Nm>"),
        "{xml}"
    );
    assert_eq!(decode_pacs008(&xml).unwrap(), transfer);
}

#[test]
fn amounts_are_written_with_two_decimal_places() {
    for (cents, written) in [
        (1, "0.01"),
        (50_000, "500.00"),
        (123_456_789, "1234567.89"),
        (MAX_AMOUNT.minor_units(), "9999999999999999.99"),
    ] {
        let mut p = parts();
        p.amount = Money::from_minor_units(cents);
        let xml = encode_pacs008(&CreditTransfer::new(p).unwrap());
        assert!(
            xml.contains(&format!(
                r#"<IntrBkSttlmAmt Ccy="AUD">{written}</IntrBkSttlmAmt>"#
            )),
            "{xml}"
        );
    }
}

/// A report written the way another participant might: a prefixed namespace, a local offset,
/// group-level information, a narrative and other optional elements we do not read.
#[test]
fn a_foreign_but_valid_report_decodes() {
    let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- from another participant -->
<ps:Document xmlns:ps="urn:iso:std:iso:20022:tech:xsd:pacs.002.001.10" xmlns:x="urn:example:other">
 <ps:FIToFIPmtStsRpt>
  <ps:GrpHdr><ps:MsgId>REPORT.1</ps:MsgId><ps:CreDtTm>2025-12-17T20:30:02.250+11:00</ps:CreDtTm>
   <ps:InstgAgt><ps:FinInstnId><ps:BICFI>ABCDAU2S</ps:BICFI></ps:FinInstnId></ps:InstgAgt>
  </ps:GrpHdr>
  <ps:OrgnlGrpInfAndSts><ps:OrgnlMsgId>msg-1</ps:OrgnlMsgId><ps:OrgnlMsgNmId>pacs.008.001.08</ps:OrgnlMsgNmId></ps:OrgnlGrpInfAndSts>
  <ps:TxInfAndSts>
   <ps:StsId>S1</ps:StsId>
   <ps:OrgnlGrpInf><ps:OrgnlMsgId>msg-1</ps:OrgnlMsgId><ps:OrgnlMsgNmId>pacs.008.001.09</ps:OrgnlMsgNmId></ps:OrgnlGrpInf>
   <ps:OrgnlEndToEndId>pay_<!-- split -->001</ps:OrgnlEndToEndId>
   <ps:OrgnlTxId><![CDATA[att_2]]></ps:OrgnlTxId>
   <ps:TxSts>RJCT</ps:TxSts>
   <ps:StsRsnInf><ps:Rsn><ps:Cd>AB05</ps:Cd></ps:Rsn><ps:AddtlInf>creditor agent timed out</ps:AddtlInf></ps:StsRsnInf>
   <x:Extra>ignored: another namespace</x:Extra>
  </ps:TxInfAndSts>
 </ps:FIToFIPmtStsRpt>
</ps:Document>"#;
    let report = decode_pacs002(xml).unwrap();
    assert_eq!(report.msg_id().as_str(), "REPORT.1");
    assert_eq!(
        report.created_at(),
        Timestamp::parse("2025-12-17T09:30:02.25Z").unwrap()
    );
    assert_eq!(report.original_msg_id().as_str(), "msg-1");
    assert_eq!(report.original_end_to_end_id().as_str(), "pay_001");
    assert_eq!(report.original_tx_id().as_str(), "att_2");
    assert_eq!(
        report.verdict(),
        Verdict::Rejected {
            reason: ReasonCode::Ab05
        }
    );
    assert_eq!(
        report.reason().unwrap().failure_reason(),
        core_npp::FailureReason::RailTimeout
    );
}

/// Other lexical forms the schema allows for our values decode to the same transfer.
#[test]
fn other_valid_forms_of_a_transfer_decode_to_the_same_value() {
    let xml = encode_pacs008(&transfer());
    let variants = [
        xml.replace(">500.00<", ">500<"),
        xml.replace(">500.00<", "> +0500.000 <"),
        xml.replace("2025-12-17T09:30:00Z", "2025-12-17T09:30:00.000+00:00"),
        xml.replace("2025-12-17T09:30:00Z", "2025-12-17T19:30:00+10:00"),
        xml.replace("<MmbId>062000</MmbId>", "<MmbId>062-000</MmbId>"),
        xml.replace(
            "<Ustrd>Invoice 42</Ustrd>",
            "<Ustrd>Invoice</Ustrd><Ustrd> 42</Ustrd>",
        ),
        xml.replace(
            "</PmtId>",
            "</PmtId><PmtTpInf><SvcLvl><Prtry>X</Prtry></SvcLvl></PmtTpInf>",
        ),
    ];
    for variant in variants {
        assert_eq!(decode_pacs008(&variant), Ok(transfer()), "{variant}");
    }
}

/// The committed fuzz seeds (`fuzz/corpus/pacs00{2,8}/`), old format and new: each decodes, and
/// encoding and decoding it again gives the same value, the property the fuzz targets check.
#[test]
fn every_fuzz_seed_decodes_and_survives_a_round_trip() {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let seeds = |target: &str| {
        let mut paths: Vec<_> = std::fs::read_dir(corpus.join(target))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        paths.sort();
        paths
    };
    let transfers = seeds("pacs008");
    assert!(transfers.len() >= 3);
    let mut with_instruction_id = 0;
    for path in transfers {
        let xml = std::fs::read_to_string(&path).unwrap();
        let transfer = decode_pacs008(&xml).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        assert_eq!(decode_pacs008(&encode_pacs008(&transfer)), Ok(transfer));
        with_instruction_id += usize::from(xml.contains("<InstrId>"));
    }
    let reports = seeds("pacs002");
    assert!(reports.len() >= 5);
    for path in reports {
        let xml = std::fs::read_to_string(&path).unwrap();
        let report = decode_pacs002(&xml).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        assert_eq!(decode_pacs002(&encode_pacs002(&report)), Ok(report.clone()));
        if xml.contains("<OrgnlInstrId>") {
            with_instruction_id += 1;
            assert_eq!(
                report.original_end_to_end_id().as_str(),
                "INV 2025/117 & co"
            );
        } else {
            assert_eq!(
                report.original_end_to_end_id().as_str(),
                report.original_instruction_id().as_str()
            );
        }
    }
    assert_eq!(with_instruction_id, 2, "one new-format seed of each");
}
