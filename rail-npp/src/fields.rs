//! Reading core values (timestamps, ids, text) out of message text, each refusal naming its element.

use core_npp::{
    AttemptId, EndToEndId, FreeText, ParseError, PaymentIntentId, SettlementRef, Timestamp,
};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::RailError;
use crate::party::check_xml_chars;
use crate::xml::Element;

/// Reads an `ISODateTime`. We write UTC (`Z`); other senders may write a local offset such as
/// `+11:00`, which names the same instant and is accepted. A time without an offset is refused:
/// it does not name an instant.
pub(crate) fn timestamp(raw: &str, at: &str) -> Result<Timestamp, RailError> {
    // xs:dateTime collapses whitespace, so surrounding blanks are not part of the value.
    let text = raw.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r'));
    let invalid = |source| RailError::InvalidTimestamp {
        at: at.to_owned(),
        source,
    };
    match Timestamp::parse(text) {
        Err(ParseError::TimestampNotUtc { .. }) => {
            let local = OffsetDateTime::parse(text, &Rfc3339).map_err(|e| {
                invalid(ParseError::Timestamp {
                    value: text.chars().take(40).collect(),
                    reason: e.to_string(),
                })
            })?;
            Timestamp::from_unix_nanos(local.unix_timestamp_nanos()).map_err(invalid)
        }
        other => other.map_err(invalid),
    }
}

/// Reads a payment id (an instruction id, or an end-to-end id in a message without one).
pub(crate) fn payment_intent_id(raw: &str, at: &str) -> Result<PaymentIntentId, RailError> {
    PaymentIntentId::parse(raw).map_err(|source| RailError::InvalidId {
        at: at.to_owned(),
        source,
    })
}

/// Reads an end-to-end id: ISO 20022 Max35Text, any text the core's [`EndToEndId`] accepts.
pub(crate) fn end_to_end_id(raw: &str, at: &str) -> Result<EndToEndId, RailError> {
    EndToEndId::parse(raw).map_err(|source| RailError::InvalidText {
        at: at.to_owned(),
        source,
    })
}

/// Reads the payment's instruction id and the end-to-end id from `ids` (a transfer's `PmtId`,
/// or a report's transaction). With the instruction id (`instruction`), that is the payment id
/// and the end-to-end id (`end_to_end`) any Max35Text; without it (messages written before the
/// instruction id was), the end-to-end id must be the payment id, as it always was, and is both.
pub(crate) fn instruction_and_end_to_end(
    ids: &Element<'_, '_>,
    instruction: &str,
    end_to_end: &str,
) -> Result<(PaymentIntentId, EndToEndId), RailError> {
    match ids.optional(instruction)? {
        Some(element) => {
            let id = payment_intent_id(&element.text()?, element.path())?;
            Ok((id, ids.value(end_to_end, self::end_to_end_id)?))
        }
        None => {
            let id = ids.value(end_to_end, payment_intent_id)?;
            Ok((id, EndToEndId::from(id)))
        }
    }
}

/// Reads a transaction id (the attempt id).
pub(crate) fn attempt_id(raw: &str, at: &str) -> Result<AttemptId, RailError> {
    AttemptId::parse(raw).map_err(|source| RailError::InvalidId {
        at: at.to_owned(),
        source,
    })
}

/// Reads a clearing system reference as the settlement reference.
pub(crate) fn settlement_ref(raw: &str, at: &str) -> Result<SettlementRef, RailError> {
    SettlementRef::parse(raw).map_err(|source| RailError::InvalidId {
        at: at.to_owned(),
        source,
    })
}

/// Reads remittance text.
pub(crate) fn free_text(raw: &str, at: &str) -> Result<FreeText, RailError> {
    let text = FreeText::parse(raw).map_err(|source| RailError::InvalidText {
        at: at.to_owned(),
        source,
    })?;
    check_xml_chars(text.as_str(), at)?;
    Ok(text)
}
