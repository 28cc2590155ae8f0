//! pacs.002 status reports as values: the status and reason codes, the report, and the verdict
//! the orchestrator turns into a core event.

use std::fmt;

use core_npp::{AttemptId, EndToEndId, FailureReason, PaymentIntentId, SettlementRef, Timestamp};

use crate::error::RailError;
use crate::ids::MessageId;

/// A transaction status (`TxInfAndSts/TxSts`, ISO external code set).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum TransactionStatus {
    /// ACTC: technical checks passed.
    AcceptedTechnicalValidation,
    /// ACCP: customer profile accepted.
    AcceptedCustomerProfile,
    /// ACSP: accepted, settlement in process.
    AcceptedSettlementInProcess,
    /// ACSC: settlement completed.
    AcceptedSettlementCompleted,
    /// ACCC: creditor account credited.
    AcceptedCreditSettlementCompleted,
    /// PDNG: pending.
    Pending,
    /// RJCT: rejected.
    Rejected,
    /// BLCK: blocked.
    Blocked,
}

impl TransactionStatus {
    /// Every status, in the order of the ISO code list above.
    pub const ALL: [TransactionStatus; 8] = [
        TransactionStatus::AcceptedTechnicalValidation,
        TransactionStatus::AcceptedCustomerProfile,
        TransactionStatus::AcceptedSettlementInProcess,
        TransactionStatus::AcceptedSettlementCompleted,
        TransactionStatus::AcceptedCreditSettlementCompleted,
        TransactionStatus::Pending,
        TransactionStatus::Rejected,
        TransactionStatus::Blocked,
    ];

    /// The four-letter ISO code.
    pub const fn code(self) -> &'static str {
        match self {
            TransactionStatus::AcceptedTechnicalValidation => "ACTC",
            TransactionStatus::AcceptedCustomerProfile => "ACCP",
            TransactionStatus::AcceptedSettlementInProcess => "ACSP",
            TransactionStatus::AcceptedSettlementCompleted => "ACSC",
            TransactionStatus::AcceptedCreditSettlementCompleted => "ACCC",
            TransactionStatus::Pending => "PDNG",
            TransactionStatus::Rejected => "RJCT",
            TransactionStatus::Blocked => "BLCK",
        }
    }

    /// What the code means.
    pub const fn meaning(self) -> &'static str {
        match self {
            TransactionStatus::AcceptedTechnicalValidation => "technical checks passed",
            TransactionStatus::AcceptedCustomerProfile => "customer profile accepted",
            TransactionStatus::AcceptedSettlementInProcess => "accepted, settlement in process",
            TransactionStatus::AcceptedSettlementCompleted => "settlement completed",
            TransactionStatus::AcceptedCreditSettlementCompleted => "creditor account credited",
            TransactionStatus::Pending => "pending",
            TransactionStatus::Rejected => "rejected",
            TransactionStatus::Blocked => "blocked",
        }
    }

    /// The status with this ISO code, if it is one of the eight.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    /// Whether funds moved (ACSC, ACCC): the report must carry a settlement reference.
    pub const fn is_settlement(self) -> bool {
        matches!(
            self,
            TransactionStatus::AcceptedSettlementCompleted
                | TransactionStatus::AcceptedCreditSettlementCompleted
        )
    }

    /// Whether the payment was refused (RJCT, BLCK): the report must carry a reason code.
    pub const fn is_rejection(self) -> bool {
        matches!(
            self,
            TransactionStatus::Rejected | TransactionStatus::Blocked
        )
    }
}

impl fmt::Display for TransactionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A reject or return reason (`StsRsnInf/Rsn/Cd`, ISO external code set).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum ReasonCode {
    /// AC01: account number invalid.
    Ac01,
    /// AC04: account closed.
    Ac04,
    /// AC06: account blocked.
    Ac06,
    /// AG01: transaction forbidden.
    Ag01,
    /// AM04: insufficient funds.
    Am04,
    /// AM05: duplication.
    Am05,
    /// BE23: proxy (PayID) unknown.
    Be23,
    /// AB05: timeout at the creditor agent.
    Ab05,
    /// AB06: timeout at the instructed agent.
    Ab06,
    /// FF01: invalid format.
    Ff01,
}

impl ReasonCode {
    /// Every reason code.
    pub const ALL: [ReasonCode; 10] = [
        ReasonCode::Ac01,
        ReasonCode::Ac04,
        ReasonCode::Ac06,
        ReasonCode::Ag01,
        ReasonCode::Am04,
        ReasonCode::Am05,
        ReasonCode::Be23,
        ReasonCode::Ab05,
        ReasonCode::Ab06,
        ReasonCode::Ff01,
    ];

    /// The four-character ISO code.
    pub const fn code(self) -> &'static str {
        match self {
            ReasonCode::Ac01 => "AC01",
            ReasonCode::Ac04 => "AC04",
            ReasonCode::Ac06 => "AC06",
            ReasonCode::Ag01 => "AG01",
            ReasonCode::Am04 => "AM04",
            ReasonCode::Am05 => "AM05",
            ReasonCode::Be23 => "BE23",
            ReasonCode::Ab05 => "AB05",
            ReasonCode::Ab06 => "AB06",
            ReasonCode::Ff01 => "FF01",
        }
    }

    /// What the code means.
    pub const fn meaning(self) -> &'static str {
        match self {
            ReasonCode::Ac01 => "account number invalid",
            ReasonCode::Ac04 => "account closed",
            ReasonCode::Ac06 => "account blocked",
            ReasonCode::Ag01 => "transaction forbidden",
            ReasonCode::Am04 => "insufficient funds",
            ReasonCode::Am05 => "duplication",
            ReasonCode::Be23 => "proxy (PayID) unknown",
            ReasonCode::Ab05 => "timeout at creditor agent",
            ReasonCode::Ab06 => "timeout at instructed agent",
            ReasonCode::Ff01 => "invalid format",
        }
    }

    /// The reason with this ISO code, if it is one of the ten.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }

    /// The core failure reason for a payment the rail refused with this code. A timeout (AB05,
    /// AB06) may be retried with approval; every other refusal is final. AM04 is a rail refusal
    /// too, not the core's INSUFFICIENT_FUNDS, which is about our own check before sending.
    pub const fn failure_reason(self) -> FailureReason {
        match self {
            ReasonCode::Ab05 | ReasonCode::Ab06 => FailureReason::RailTimeout,
            ReasonCode::Ac01
            | ReasonCode::Ac04
            | ReasonCode::Ac06
            | ReasonCode::Ag01
            | ReasonCode::Am04
            | ReasonCode::Am05
            | ReasonCode::Be23
            | ReasonCode::Ff01 => FailureReason::RailRejected,
        }
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// What a status report means for the payment, as the orchestrator acts on it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Verdict {
    /// ACTC, ACCP, ACSP, PDNG: accepted so far, not settled (`PaymentAcknowledged`).
    Acknowledged,
    /// ACSC, ACCC: funds moved (`PaymentSettled`).
    Settled {
        /// The clearing system's reference for the settlement.
        settlement_ref: SettlementRef,
    },
    /// RJCT, BLCK: refused (`PaymentFailed` with [`ReasonCode::failure_reason`]).
    Rejected {
        /// Why.
        reason: ReasonCode,
    },
}

/// The fields of a [`StatusReport`], to build one with [`StatusReport::new`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct StatusReportParts {
    /// This report's own message id (`GrpHdr/MsgId`).
    pub msg_id: MessageId,
    /// When the report was created (`GrpHdr/CreDtTm`).
    pub created_at: Timestamp,
    /// The pacs.008 it answers (`OrgnlGrpInf/OrgnlMsgId`).
    pub original_msg_id: MessageId,
    /// The payment (`OrgnlInstrId`): the instruction id of the pacs.008 it answers, which maps
    /// the report back to the payment.
    pub original_instruction_id: PaymentIntentId,
    /// The payer's reference as the pacs.008 carried it (`OrgnlEndToEndId`).
    pub original_end_to_end_id: EndToEndId,
    /// The attempt (`OrgnlTxId`).
    pub original_tx_id: AttemptId,
    /// The status (`TxSts`).
    pub status: TransactionStatus,
    /// Why it was refused (`StsRsnInf/Rsn/Cd`): required for RJCT and BLCK, refused otherwise.
    pub reason: Option<ReasonCode>,
    /// The settlement reference (`ClrSysRef`): required for ACSC and ACCC, refused otherwise.
    pub settlement_ref: Option<SettlementRef>,
}

/// A pacs.002 status report on one transaction, whose status, reason and settlement reference
/// agree with each other (checked by [`StatusReport::new`]).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct StatusReport(StatusReportParts);

impl StatusReport {
    /// A report, if its status, reason and settlement reference agree: RJCT and BLCK carry a
    /// reason and other statuses none; ACSC and ACCC carry a settlement reference and other
    /// statuses none.
    pub fn new(parts: StatusReportParts) -> Result<Self, RailError> {
        let status = parts.status;
        match (status.is_rejection(), parts.reason) {
            (true, None) => return Err(RailError::RejectionWithoutReason { status }),
            (false, Some(reason)) => {
                return Err(RailError::ReasonWithoutRejection { status, reason });
            }
            (true, Some(_)) | (false, None) => {}
        }
        match (status.is_settlement(), parts.settlement_ref) {
            (true, None) => return Err(RailError::SettlementWithoutReference { status }),
            (false, Some(settlement_ref)) => {
                return Err(RailError::ReferenceWithoutSettlement {
                    status,
                    settlement_ref,
                });
            }
            (true, Some(_)) | (false, None) => {}
        }
        Ok(Self(parts))
    }

    /// The report's fields.
    pub fn into_parts(self) -> StatusReportParts {
        self.0
    }

    /// What the report means for the payment. Total: [`StatusReport::new`] guarantees that a
    /// settlement has its reference and a rejection its reason.
    pub fn verdict(&self) -> Verdict {
        match (self.0.settlement_ref, self.0.reason) {
            (Some(settlement_ref), _) => Verdict::Settled { settlement_ref },
            (None, Some(reason)) => Verdict::Rejected { reason },
            (None, None) => Verdict::Acknowledged,
        }
    }

    /// This report's own message id.
    pub fn msg_id(&self) -> MessageId {
        self.0.msg_id
    }
    /// When the report was created.
    pub fn created_at(&self) -> Timestamp {
        self.0.created_at
    }
    /// The message id of the pacs.008 it answers.
    pub fn original_msg_id(&self) -> MessageId {
        self.0.original_msg_id
    }
    /// The payment it is about.
    pub fn original_instruction_id(&self) -> PaymentIntentId {
        self.0.original_instruction_id
    }
    /// The payer's end-to-end reference of the transfer it answers.
    pub fn original_end_to_end_id(&self) -> &EndToEndId {
        &self.0.original_end_to_end_id
    }
    /// The attempt it is about.
    pub fn original_tx_id(&self) -> AttemptId {
        self.0.original_tx_id
    }
    /// The status.
    pub fn status(&self) -> TransactionStatus {
        self.0.status
    }
    /// The reason, present exactly for RJCT and BLCK.
    pub fn reason(&self) -> Option<ReasonCode> {
        self.0.reason
    }
    /// The settlement reference, present exactly for ACSC and ACCC.
    pub fn settlement_ref(&self) -> Option<SettlementRef> {
        self.0.settlement_ref
    }
}
