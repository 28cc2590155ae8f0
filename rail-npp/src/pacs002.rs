//! pacs.002.001.10, the FI-to-FI payment status report: written by the simulated participant,
//! read by the orchestrator. docs/ISO20022.md lists every element and where it goes.

use crate::error::{RailError, excerpt};
use crate::fields;
use crate::ids::MessageId;
use crate::status::{ReasonCode, StatusReport, StatusReportParts, TransactionStatus};
use crate::xml::{self, Element, XmlWriter};

/// The pacs.002.001.10 namespace.
pub const PACS002_NAMESPACE: &str = "urn:iso:std:iso:20022:tech:xsd:pacs.002.001.10";

/// The message name we answer (`OrgnlGrpInf/OrgnlMsgNmId`).
const ORIGINAL_MESSAGE_NAME: &str = "pacs.008.001.08";

/// Writes a status report as a pacs.002.001.10 document that validates against the ISO schema.
/// Everything about the transaction is in its `TxInfAndSts`, the original message id included,
/// so the report needs no group-level part.
pub fn encode_pacs002(report: &StatusReport) -> String {
    XmlWriter::document("Document", PACS002_NAMESPACE, |w| {
        w.element("FIToFIPmtStsRpt", |w| {
            w.element("GrpHdr", |w| {
                w.leaf("MsgId", report.msg_id().as_str());
                w.leaf("CreDtTm", &report.created_at().to_rfc3339());
            });
            w.element("TxInfAndSts", |w| {
                w.element("OrgnlGrpInf", |w| {
                    w.leaf("OrgnlMsgId", report.original_msg_id().as_str());
                    w.leaf("OrgnlMsgNmId", ORIGINAL_MESSAGE_NAME);
                });
                w.leaf("OrgnlInstrId", report.original_instruction_id().as_str());
                w.leaf("OrgnlEndToEndId", report.original_end_to_end_id().as_str());
                w.leaf("OrgnlTxId", report.original_tx_id().as_str());
                w.leaf("TxSts", report.status().code());
                if let Some(reason) = report.reason() {
                    w.element("StsRsnInf", |w| {
                        w.element("Rsn", |w| w.leaf("Cd", reason.code()));
                    });
                }
                // ClrSysRef: the clearing system's reference for the transaction, which for an
                // NPP settlement is the settlement reference.
                if let Some(settlement_ref) = report.settlement_ref() {
                    w.leaf("ClrSysRef", settlement_ref.as_str());
                }
            });
        });
    })
}

/// Reads a pacs.002.001.10 report on exactly one transaction, refusing anything malformed,
/// unknown or self-contradictory with an error that names the element. Never panics.
/// `OrgnlInstrId` names the payment; a report without it is read as before, its
/// `OrgnlEndToEndId` then being the payment id.
pub fn decode_pacs002(xml: &str) -> Result<StatusReport, RailError> {
    let doc = xml::parse(xml)?;
    let root = Element::root(&doc, "Document", PACS002_NAMESPACE)?;
    let message = root.child("FIToFIPmtStsRpt")?;
    let header = message.child("GrpHdr")?;
    let tx = message.transaction("TxInfAndSts")?;
    let msg_id = header.value("MsgId", MessageId::parse_at)?;
    let created_at = header.value("CreDtTm", fields::timestamp)?;
    let original = tx.child("OrgnlGrpInf")?;
    let original_msg_id = original.value("OrgnlMsgId", MessageId::parse_at)?;
    original.value("OrgnlMsgNmId", original_message_name)?;
    let (original_instruction_id, original_end_to_end_id) =
        fields::instruction_and_end_to_end(&tx, "OrgnlInstrId", "OrgnlEndToEndId")?;
    let parts = StatusReportParts {
        msg_id,
        created_at,
        original_msg_id,
        original_instruction_id,
        original_end_to_end_id,
        original_tx_id: tx.value("OrgnlTxId", fields::attempt_id)?,
        status: tx.value("TxSts", status)?,
        reason: match tx.optional("StsRsnInf")? {
            Some(info) => Some(info.child("Rsn")?.value("Cd", reason)?),
            None => None,
        },
        settlement_ref: match tx.optional("ClrSysRef")? {
            Some(reference) => Some(fields::settlement_ref(
                &reference.text()?,
                reference.path(),
            )?),
            None => None,
        },
    };
    StatusReport::new(parts)
}

/// Like [`decode_pacs002`], from bytes that must be UTF-8.
pub fn decode_pacs002_bytes(bytes: &[u8]) -> Result<StatusReport, RailError> {
    decode_pacs002(xml::utf8(bytes)?)
}

/// A report must answer a pacs.008 (of any version: the ids are what we match on).
fn original_message_name(text: &str, at: &str) -> Result<(), RailError> {
    if text.starts_with("pacs.008.") {
        return Ok(());
    }
    Err(RailError::UnexpectedValue {
        at: at.to_owned(),
        expected: ORIGINAL_MESSAGE_NAME,
        found: excerpt(text),
    })
}

fn status(code: &str, at: &str) -> Result<TransactionStatus, RailError> {
    TransactionStatus::from_code(code).ok_or_else(|| RailError::UnknownStatus {
        at: at.to_owned(),
        code: excerpt(code),
    })
}

fn reason(code: &str, at: &str) -> Result<ReasonCode, RailError> {
    ReasonCode::from_code(code).ok_or_else(|| RailError::UnknownReason {
        at: at.to_owned(),
        code: excerpt(code),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pacs008::PACS008_NAMESPACE;

    #[test]
    fn the_original_message_namespace_matches_the_name_we_answer() {
        assert!(PACS008_NAMESPACE.ends_with(ORIGINAL_MESSAGE_NAME));
    }
}
