//! The NPP rail adapter's ISO 20022 codec: pacs.008 credit transfers out, pacs.002 status
//! reports in.
//!
//! Values are parsed at the boundary ([`Bsb`], [`AccountNumber`], [`MessageId`], [`Party`],
//! [`CreditTransfer`], [`StatusReport`]), so an invalid one cannot be built; the encoders cannot
//! fail, and what they write validates against the ISO schemas (tests run `xmllint`). The
//! decoders refuse malformed, unknown or self-contradictory messages with a [`RailError`] that
//! says what is wrong and where, and never panic. [`StatusReport::verdict`] and
//! [`ReasonCode::failure_reason`] tell the orchestrator what a report means for the payment.
//! docs/ISO20022.md describes every element.
//!
//! ```
//! use core_npp::{AttemptId, EndToEndId, Money, PaymentIntentId, SettlementRef, Timestamp};
//! use rail_npp::*;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let transfer = CreditTransfer::new(CreditTransferParts {
//!     msg_id: MessageId::parse("msg-0001")?,
//!     created_at: Timestamp::parse("2025-12-17T09:30:00Z")?,
//!     instruction_id: PaymentIntentId::parse("pay_001")?,
//!     end_to_end_id: EndToEndId::parse("INV 2025/117")?,
//!     tx_id: AttemptId::parse("att_1")?,
//!     amount: Money::from_minor_units(50_000),
//!     debtor: Party::new("Alice Smith", Bsb::parse("062-000")?, AccountNumber::parse("12345678")?)?,
//!     creditor: Party::new("Bob & Co", Bsb::parse("633000")?, AccountNumber::parse("0012345")?)?,
//!     remittance: None,
//! })?;
//! let xml = encode_pacs008(&transfer);
//! assert!(xml.contains(r#"<IntrBkSttlmAmt Ccy="AUD">500.00</IntrBkSttlmAmt>"#));
//! assert_eq!(decode_pacs008(&xml)?, transfer);
//!
//! let report = StatusReport::new(StatusReportParts {
//!     msg_id: MessageId::parse("sts-0001")?,
//!     created_at: Timestamp::parse("2025-12-17T09:30:02Z")?,
//!     original_msg_id: transfer.msg_id(),
//!     original_instruction_id: transfer.instruction_id(),
//!     original_end_to_end_id: transfer.end_to_end_id().clone(),
//!     original_tx_id: transfer.tx_id(),
//!     status: TransactionStatus::AcceptedSettlementCompleted,
//!     reason: None,
//!     settlement_ref: Some(SettlementRef::parse("FSS-20251217-000042")?),
//! })?;
//! let decoded = decode_pacs002(&encode_pacs002(&report))?;
//! assert_eq!(decoded.original_instruction_id().as_str(), "pay_001");
//! assert_eq!(
//!     decoded.verdict(),
//!     Verdict::Settled { settlement_ref: SettlementRef::parse("FSS-20251217-000042")? }
//! );
//! # Ok(())
//! # }
//! ```

mod amount;
mod error;
mod fields;
mod ids;
mod pacs002;
mod pacs008;
mod party;
mod status;
mod transfer;
mod xml;

/// The NPP rail's name: in routing decisions, and the outbox destination of its messages.
pub const RAIL_NAME: &str = "NPP";

pub use amount::MAX_AMOUNT;
pub use error::RailError;
pub use ids::{AccountNumber, Bsb, MessageId};
pub use pacs002::{PACS002_NAMESPACE, decode_pacs002, decode_pacs002_bytes, encode_pacs002};
pub use pacs008::{PACS008_NAMESPACE, decode_pacs008, decode_pacs008_bytes, encode_pacs008};
pub use party::{MAX_NAME_CHARS, Party};
pub use status::{ReasonCode, StatusReport, StatusReportParts, TransactionStatus, Verdict};
pub use transfer::{CreditTransfer, CreditTransferParts};
pub use xml::MAX_MESSAGE_BYTES;
