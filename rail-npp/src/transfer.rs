//! A pacs.008 credit transfer as a value: one payment attempt from a debtor to a creditor.

use core_npp::{AttemptId, EndToEndId, FreeText, Money, PaymentIntentId, Timestamp};

use crate::amount::check_amount;
use crate::error::RailError;
use crate::ids::MessageId;
use crate::party::{Party, check_xml_chars};

/// The fields of a [`CreditTransfer`], to build one with [`CreditTransfer::new`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CreditTransferParts {
    /// The message id (`GrpHdr/MsgId`); a new one for every message sent.
    pub msg_id: MessageId,
    /// When the message was created (`GrpHdr/CreDtTm`).
    pub created_at: Timestamp,
    /// The payment (`PmtId/InstrId`), the same on every attempt: what a status report is mapped
    /// back to the payment by.
    pub instruction_id: PaymentIntentId,
    /// The payer's reference (`PmtId/EndToEndId`, Max35Text), carried unchanged to the payee:
    /// the intent's end-to-end id when it gave one, else the payment id.
    pub end_to_end_id: EndToEndId,
    /// The attempt (`PmtId/TxId`).
    pub tx_id: AttemptId,
    /// The amount in AUD (`IntrBkSttlmAmt`): positive, at most [`crate::MAX_AMOUNT`].
    pub amount: Money,
    /// The payer (`Dbtr`, `DbtrAcct`, `DbtrAgt`).
    pub debtor: Party,
    /// The payee (`Cdtr`, `CdtrAcct`, `CdtrAgt`).
    pub creditor: Party,
    /// Up to 280 characters for the payee (`RmtInf/Ustrd`).
    pub remittance: Option<FreeText>,
}

/// One FI-to-FI customer credit transfer (pacs.008) carrying one payment attempt.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CreditTransfer(CreditTransferParts);

impl CreditTransfer {
    /// A transfer, if the amount is positive and fits ISO 20022, and the remittance text holds
    /// no character XML 1.0 cannot carry.
    pub fn new(parts: CreditTransferParts) -> Result<Self, RailError> {
        check_amount(parts.amount, "amount")?;
        if let Some(text) = &parts.remittance {
            check_xml_chars(text.as_str(), "remittance")?;
        }
        Ok(Self(parts))
    }

    /// The transfer's fields.
    pub fn into_parts(self) -> CreditTransferParts {
        self.0
    }

    /// The message id.
    pub fn msg_id(&self) -> MessageId {
        self.0.msg_id
    }
    /// When the message was created.
    pub fn created_at(&self) -> Timestamp {
        self.0.created_at
    }
    /// The payment.
    pub fn instruction_id(&self) -> PaymentIntentId {
        self.0.instruction_id
    }
    /// The payer's end-to-end reference.
    pub fn end_to_end_id(&self) -> &EndToEndId {
        &self.0.end_to_end_id
    }
    /// The attempt.
    pub fn tx_id(&self) -> AttemptId {
        self.0.tx_id
    }
    /// The amount in AUD.
    pub fn amount(&self) -> Money {
        self.0.amount
    }
    /// The payer.
    pub fn debtor(&self) -> &Party {
        &self.0.debtor
    }
    /// The payee.
    pub fn creditor(&self) -> &Party {
        &self.0.creditor
    }
    /// The remittance text, if any.
    pub fn remittance(&self) -> Option<&FreeText> {
        self.0.remittance.as_ref()
    }
}
