//! `RailError`: every way a rail message or one of its values is refused, each saying what and where.
//!
//! `at` is an XPath-like location (`/Document/FIToFIPmtStsRpt/TxInfAndSts/TxSts`) when the value
//! came from a message, or the field's name (`debtor.name`) when it came from Rust code.

use core_npp::{ParseError, SettlementRef};

use crate::status::{ReasonCode, TransactionStatus};

/// A rail message or value that was refused. Nothing was decoded.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum RailError {
    // --- the message as a whole ---
    /// The input is longer than [`crate::MAX_MESSAGE_BYTES`].
    #[error("the message is {bytes} bytes long; at most {max} bytes are accepted")]
    TooLarge {
        /// Its length in bytes.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// The input bytes are not UTF-8.
    #[error("the message is not UTF-8: invalid byte sequence at byte {valid_up_to}")]
    NotUtf8 {
        /// The length of the valid UTF-8 prefix.
        valid_up_to: usize,
    },
    /// The input is not well-formed XML (or declares a DTD, which is refused).
    #[error("the message is not well-formed XML: {reason}")]
    NotXml {
        /// What the parser said, with the line and column.
        reason: String,
    },
    /// The root element is not `Document`.
    #[error("the root element is {found:?}; expected {expected:?}")]
    WrongRoot {
        /// The expected local name.
        expected: &'static str,
        /// The local name found.
        found: String,
    },
    /// The root element is in another namespace (another message type or version).
    #[error("the root element's namespace is {found:?}; expected {expected:?}")]
    WrongNamespace {
        /// The expected namespace.
        expected: &'static str,
        /// The namespace found (empty when there is none).
        found: String,
    },

    // --- structure ---
    /// A required element is absent.
    #[error("missing element {at}")]
    MissingElement {
        /// Where it should be.
        at: String,
    },
    /// A required attribute is absent.
    #[error("missing attribute {at}")]
    MissingAttribute {
        /// Where it should be (`.../IntrBkSttlmAmt/@Ccy`).
        at: String,
    },
    /// An element that may appear once appears more often.
    #[error("{at} appears {count} times; at most once is allowed")]
    RepeatedElement {
        /// The element.
        at: String,
        /// How many times it appears.
        count: usize,
    },
    /// A message carries more than one transaction; we send and accept exactly one.
    #[error("{at} appears {count} times; exactly one transaction per message is supported")]
    MoreThanOneTransaction {
        /// The transaction element.
        at: String,
        /// How many there are.
        count: usize,
    },
    /// An element that should hold text holds an element.
    #[error("{at} must hold text, not the element {child:?}")]
    ElementInText {
        /// The element.
        at: String,
        /// The first child element's local name.
        child: String,
    },
    /// A fixed value (a scheme code, a count) is not the one NPP uses.
    #[error("{at} is {found:?}; expected {expected:?}")]
    UnexpectedValue {
        /// The element or attribute.
        at: String,
        /// What we accept.
        expected: &'static str,
        /// What was there (at most 64 characters).
        found: String,
    },

    // --- status reports ---
    /// `TxSts` holds a code outside the eight we know.
    #[error("{at}: unknown transaction status code {code:?}")]
    UnknownStatus {
        /// The element.
        at: String,
        /// The code (at most 64 characters).
        code: String,
    },
    /// `StsRsnInf/Rsn/Cd` holds a code outside the ten we know.
    #[error("{at}: unknown reason code {code:?}")]
    UnknownReason {
        /// The element.
        at: String,
        /// The code (at most 64 characters).
        code: String,
    },
    /// RJCT or BLCK without a reason code: the orchestrator could not say why the payment failed.
    #[error("status {status} needs a reason code (StsRsnInf/Rsn/Cd) and has none")]
    RejectionWithoutReason {
        /// The status.
        status: TransactionStatus,
    },
    /// A reason code on a status that is not a rejection: the report contradicts itself.
    #[error("status {status} is not a rejection and cannot carry reason code {reason}")]
    ReasonWithoutRejection {
        /// The status.
        status: TransactionStatus,
        /// The reason.
        reason: ReasonCode,
    },
    /// ACSC or ACCC without a settlement reference: settlement cannot be recorded without one.
    #[error("status {status} reports settlement and needs a settlement reference (ClrSysRef)")]
    SettlementWithoutReference {
        /// The status.
        status: TransactionStatus,
    },
    /// A settlement reference on a status that is not a settlement.
    #[error(
        "status {status} is not a settlement and cannot carry settlement reference {settlement_ref}"
    )]
    ReferenceWithoutSettlement {
        /// The status.
        status: TransactionStatus,
        /// The reference.
        settlement_ref: SettlementRef,
    },

    // --- values ---
    /// A timestamp that is not RFC 3339 with an offset, or is outside 1970..=9999.
    #[error("{at}: {source}")]
    InvalidTimestamp {
        /// Where.
        at: String,
        /// Why.
        source: ParseError,
    },
    /// An end-to-end id, transaction id or settlement reference the core does not accept.
    #[error("{at}: {source}")]
    InvalidId {
        /// Where.
        at: String,
        /// Why.
        source: ParseError,
    },
    /// Remittance text the core does not accept (blank, over 280 characters, control characters).
    #[error("{at}: {source}")]
    InvalidText {
        /// Where.
        at: String,
        /// Why.
        source: ParseError,
    },
    /// Not a message id: 1 to 35 characters from `[A-Za-z0-9._:-]`.
    #[error("{at}: {value:?} is not a message id: it {problem}")]
    InvalidMessageId {
        /// Where.
        at: String,
        /// The value (at most 64 characters).
        value: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// Not a BSB: six digits, written `062000` or `062-000`.
    #[error("{at}: {value:?} is not a BSB; expected six digits, as 062000 or 062-000")]
    InvalidBsb {
        /// Where.
        at: String,
        /// The value (at most 64 characters).
        value: String,
    },
    /// Not an Australian account number: 1 to 9 digits.
    #[error("{at}: {value:?} is not an account number; expected 1 to 9 digits")]
    InvalidAccountNumber {
        /// Where.
        at: String,
        /// The value (at most 64 characters).
        value: String,
    },
    /// An empty or blank party name.
    #[error("{at}: the name must not be blank")]
    BlankName {
        /// Where.
        at: String,
    },
    /// A party name over 140 characters (ISO Max140Text).
    #[error("{at}: the name is {chars} characters long; at most {max} are allowed")]
    NameTooLong {
        /// Where.
        at: String,
        /// Its length in characters.
        chars: usize,
        /// The limit.
        max: usize,
    },
    /// A control character, or one that XML 1.0 cannot carry (U+FFFE, U+FFFF).
    #[error("{at}: character U+{code_point:04X} is not allowed")]
    ForbiddenCharacter {
        /// Where.
        at: String,
        /// The code point.
        code_point: u32,
    },
    /// An amount that is not a decimal number of whole cents.
    #[error("{at}: {value:?} is not an amount: it {problem}")]
    InvalidAmount {
        /// Where.
        at: String,
        /// The value (at most 64 characters).
        value: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// An amount of zero or less.
    #[error("{at}: the amount must be positive, not {amount}")]
    AmountNotPositive {
        /// Where.
        at: String,
        /// The amount as a decimal.
        amount: String,
    },
    /// An amount over 18 digits, the most ISO 20022 `ActiveCurrencyAndAmount` carries.
    #[error("{at}: the amount {amount} is over the largest amount ISO 20022 carries, {max}")]
    AmountTooLarge {
        /// Where.
        at: String,
        /// The amount as a decimal (at most 64 characters).
        amount: String,
        /// The largest amount.
        max: String,
    },
    /// A currency other than AUD.
    #[error("{at}: currency {found:?} is not AUD, the only currency NPP settles")]
    UnsupportedCurrency {
        /// Where.
        at: String,
        /// The currency found (at most 64 characters).
        found: String,
    },
}

/// The first 64 characters of `raw`, so that an error quoting hostile input stays short.
pub(crate) fn excerpt(raw: &str) -> String {
    raw.chars().take(64).collect()
}
