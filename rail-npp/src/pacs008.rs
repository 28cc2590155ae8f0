//! pacs.008.001.08, the FI-to-FI customer credit transfer: written by the orchestrator, read by
//! the simulated participant. docs/ISO20022.md lists every element and where it comes from.

use core_npp::FreeText;

use crate::amount::parse_amount;
use crate::error::{RailError, excerpt};
use crate::fields;
use crate::ids::{AccountNumber, Bsb, MessageId};
use crate::party::Party;
use crate::transfer::{CreditTransfer, CreditTransferParts};
use crate::xml::{self, Element, XmlWriter};

/// The pacs.008.001.08 namespace.
pub const PACS008_NAMESPACE: &str = "urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08";

/// The most characters one `Ustrd` element carries (`Max140Text`); NPP's 280 take two.
const USTRD_MAX_CHARS: usize = 140;

/// The clearing system member id scheme for a BSB.
const BSB_SCHEME: &str = "AUBSB";

/// Writes a transfer as a pacs.008.001.08 document that validates against the ISO schema.
pub fn encode_pacs008(transfer: &CreditTransfer) -> String {
    XmlWriter::document("Document", PACS008_NAMESPACE, |w| {
        w.element("FIToFICstmrCdtTrf", |w| {
            w.element("GrpHdr", |w| {
                w.leaf("MsgId", transfer.msg_id().as_str());
                w.leaf("CreDtTm", &transfer.created_at().to_rfc3339());
                w.leaf("NbOfTxs", "1");
                w.element("SttlmInf", |w| {
                    w.leaf("SttlmMtd", "CLRG");
                    w.element("ClrSys", |w| w.leaf("Cd", "NPP"));
                });
            });
            w.element("CdtTrfTxInf", |w| write_transaction(w, transfer));
        });
    })
}

/// The transaction, its elements in the order the schema's sequence demands (the debtor's
/// agent comes after the debtor and its account, the creditor's agent before the creditor).
fn write_transaction(w: &mut XmlWriter, transfer: &CreditTransfer) {
    w.element("PmtId", |w| {
        w.leaf("InstrId", transfer.instruction_id().as_str());
        w.leaf("EndToEndId", transfer.end_to_end_id().as_str());
        w.leaf("TxId", transfer.tx_id().as_str());
    });
    w.leaf_with_attribute(
        "IntrBkSttlmAmt",
        Some(("Ccy", "AUD")),
        &transfer.amount().to_decimal_string(),
    );
    w.leaf("ChrgBr", "SLEV");
    let (debtor, creditor) = (transfer.debtor(), transfer.creditor());
    w.element("Dbtr", |w| w.leaf("Nm", debtor.name()));
    write_account(w, "DbtrAcct", debtor);
    write_agent(w, "DbtrAgt", debtor);
    write_agent(w, "CdtrAgt", creditor);
    w.element("Cdtr", |w| w.leaf("Nm", creditor.name()));
    write_account(w, "CdtrAcct", creditor);
    if let Some(text) = transfer.remittance() {
        w.element("RmtInf", |w| {
            for part in split_chars(text.as_str(), USTRD_MAX_CHARS) {
                w.leaf("Ustrd", part);
            }
        });
    }
}

fn write_account(w: &mut XmlWriter, element: &str, party: &Party) {
    w.element(element, |w| {
        w.element("Id", |w| {
            w.element("Othr", |w| w.leaf("Id", party.account().as_str()));
        });
    });
}

fn write_agent(w: &mut XmlWriter, element: &str, party: &Party) {
    w.element(element, |w| {
        w.element("FinInstnId", |w| {
            w.element("ClrSysMmbId", |w| {
                w.element("ClrSysId", |w| w.leaf("Cd", BSB_SCHEME));
                w.leaf("MmbId", party.bsb().digits());
            });
        });
    });
}

/// `text` in pieces of at most `max` characters (not bytes: the schema counts characters).
fn split_chars(text: &str, max: usize) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let end = rest.char_indices().nth(max).map_or(rest.len(), |(i, _)| i);
        let (piece, tail) = rest.split_at_checked(end).unwrap_or((rest, ""));
        pieces.push(piece);
        rest = tail;
    }
    pieces
}

/// Reads a pacs.008.001.08 document with exactly one transaction. The fixed values NPP uses
/// (CLRG, NPP, AUBSB, SLEV, AUD) are required; optional ISO elements we do not use are ignored.
/// `PmtId/InstrId` names the payment; a transfer without it (as this adapter wrote them before)
/// is read as before, its `EndToEndId` then being the payment id.
pub fn decode_pacs008(xml: &str) -> Result<CreditTransfer, RailError> {
    let doc = xml::parse(xml)?;
    let root = Element::root(&doc, "Document", PACS008_NAMESPACE)?;
    let message = root.child("FIToFICstmrCdtTrf")?;
    let header = message.child("GrpHdr")?;
    let tx = message.transaction("CdtTrfTxInf")?;
    let msg_id = header.value("MsgId", MessageId::parse_at)?;
    let created_at = header.value("CreDtTm", fields::timestamp)?;
    header.require("NbOfTxs", "1")?;
    let settlement = header.child("SttlmInf")?;
    settlement.require("SttlmMtd", "CLRG")?;
    settlement.child("ClrSys")?.require("Cd", "NPP")?;
    let ids = tx.child("PmtId")?;
    let (instruction_id, end_to_end_id) =
        fields::instruction_and_end_to_end(&ids, "InstrId", "EndToEndId")?;
    let parts = CreditTransferParts {
        msg_id,
        created_at,
        instruction_id,
        end_to_end_id,
        tx_id: ids.value("TxId", fields::attempt_id)?,
        amount: read_amount(&tx)?,
        debtor: read_party(&tx, "Dbtr", "DbtrAcct", "DbtrAgt")?,
        creditor: read_party(&tx, "Cdtr", "CdtrAcct", "CdtrAgt")?,
        remittance: read_remittance(&tx)?,
    };
    tx.require("ChrgBr", "SLEV")?;
    CreditTransfer::new(parts)
}

/// Like [`decode_pacs008`], from bytes that must be UTF-8.
pub fn decode_pacs008_bytes(bytes: &[u8]) -> Result<CreditTransfer, RailError> {
    decode_pacs008(xml::utf8(bytes)?)
}

fn read_amount(tx: &Element<'_, '_>) -> Result<core_npp::Money, RailError> {
    let amount = tx.child("IntrBkSttlmAmt")?;
    let currency = amount.attribute("Ccy")?;
    if currency != "AUD" {
        return Err(RailError::UnsupportedCurrency {
            at: format!("{}/@Ccy", amount.path()),
            found: excerpt(currency),
        });
    }
    parse_amount(&amount.text()?, amount.path())
}

fn read_party(
    tx: &Element<'_, '_>,
    party: &str,
    account: &str,
    agent: &str,
) -> Result<Party, RailError> {
    let name = tx.child(party)?.child("Nm")?;
    let account = tx
        .child(account)?
        .child("Id")?
        .child("Othr")?
        .value("Id", AccountNumber::parse_at)?;
    let member = tx.child(agent)?.child("FinInstnId")?.child("ClrSysMmbId")?;
    member.child("ClrSysId")?.require("Cd", BSB_SCHEME)?;
    let bsb = member.value("MmbId", Bsb::parse_at)?;
    Party::new_at(&name.text()?, bsb, account, name.path())
}

/// The remittance text: every `Ustrd` joined back together, as [`encode_pacs008`] split it.
fn read_remittance(tx: &Element<'_, '_>) -> Result<Option<FreeText>, RailError> {
    let Some(remittance) = tx.optional("RmtInf")? else {
        return Ok(None);
    };
    let pieces = remittance.children("Ustrd");
    if pieces.is_empty() {
        return Ok(None);
    }
    let mut text = String::new();
    for piece in &pieces {
        text.push_str(&piece.text()?);
    }
    fields::free_text(&text, &remittance.path_of("Ustrd")).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_by_characters_not_bytes() {
        let text = "é".repeat(281);
        let pieces = split_chars(&text, 140);
        let counts: Vec<usize> = pieces.iter().map(|p| p.chars().count()).collect();
        assert_eq!(counts, [140, 140, 1]);
        assert_eq!(pieces.concat(), text);
        assert!(split_chars("", 140).is_empty());
        assert_eq!(split_chars("abc", 140), ["abc"]);
    }
}
