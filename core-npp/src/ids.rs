//! Identifier and text newtypes: parsing is the only way in, so every id in the core is known valid.

use std::fmt;
use std::sync::Arc;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::error::ParseError;

/// The longest identifier the core accepts. ISO 20022 carries message, end-to-end and transaction
/// ids as Max35Text, so anything longer could not reach the rail unchanged.
pub const MAX_ID_LEN: usize = 35;

/// The longest free text the core accepts: NPP carries up to 280 characters of remittance text.
pub const MAX_TEXT_CHARS: usize = 280;

/// The longest party name the core accepts: ISO 20022 carries a debtor's or creditor's name
/// (`Dbtr/Nm`, `Cdtr/Nm`) as Max140Text.
pub const MAX_NAME_CHARS: usize = 140;

/// The longest end-to-end id the core accepts: ISO 20022 carries `PmtId/EndToEndId` as
/// Max35Text (35 characters, any but control characters).
pub const MAX_END_TO_END_ID_LEN: usize = 35;

/// An inline ASCII identifier of 1 to 35 characters from `[A-Za-z0-9._:-]`.
///
/// Stored inline so that ids are `Copy` and applying an event allocates nothing for them.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct ShortId {
    len: u8,
    bytes: [u8; MAX_ID_LEN],
}

impl ShortId {
    fn parse(field: &'static str, raw: &str) -> Result<Self, ParseError> {
        if raw.is_empty() {
            return Err(ParseError::EmptyId { field });
        }
        if raw.len() > MAX_ID_LEN {
            return Err(ParseError::IdTooLong {
                field,
                len: raw.len(),
                max: MAX_ID_LEN,
            });
        }
        if let Some(bad) = raw.chars().find(|c| !is_id_char(*c)) {
            return Err(ParseError::IdCharacter {
                field,
                character: bad,
            });
        }
        let mut bytes = [0u8; MAX_ID_LEN];
        for (slot, byte) in bytes.iter_mut().zip(raw.bytes()) {
            *slot = byte;
        }
        let len = u8::try_from(raw.len()).map_err(|_| ParseError::IdTooLong {
            field,
            len: raw.len(),
            max: MAX_ID_LEN,
        })?;
        Ok(Self { len, bytes })
    }

    fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }

    fn as_str(&self) -> &str {
        let used = self.as_bytes();
        // Only ASCII bytes are ever stored (checked in `parse`), so this cannot fail; an empty
        // string would be caught by the invariants that compare ids.
        std::str::from_utf8(used).unwrap_or_default()
    }
}

fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')
}

macro_rules! short_id {
    ($(#[$meta:meta])* $name:ident, $field:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(ShortId);

        impl $name {
            /// Parses an identifier: 1 to 35 characters from `[A-Za-z0-9._:-]`.
            pub fn parse(raw: &str) -> Result<Self, ParseError> {
                ShortId::parse($field, raw).map(Self)
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }

            /// The identifier's ASCII bytes, without re-checking them (they were checked once,
            /// when parsed), for encodings on hot paths such as the state hash.
            pub fn as_bytes(&self) -> &[u8] {
                self.0.as_bytes()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = ParseError;
            fn from_str(raw: &str) -> Result<Self, ParseError> {
                Self::parse(raw)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_str(ParseVisitor::new($field, Self::parse))
            }
        }
    };
}

short_id!(
    /// The payment intent's id: the stream id of its events and the ISO 20022 EndToEndId.
    PaymentIntentId,
    "payment_intent_id"
);
short_id!(
    /// One attempt to send the payment on the rail (ISO 20022 TxId); never reused in a stream.
    AttemptId,
    "attempt_id"
);
short_id!(
    /// The caller's idempotency key, fixed by the intent.
    IdempotencyKey,
    "idempotency_key"
);
short_id!(
    /// A member account (payer or payee) as the credit union knows it.
    AccountId,
    "account_id"
);
short_id!(
    /// The settlement reference the rail reports when funds move.
    SettlementRef,
    "settlement_ref"
);
short_id!(
    /// One operator approval; single use within a payment.
    ApprovalId,
    "approval_id"
);
short_id!(
    /// An operator, as named in the policy.
    OperatorId,
    "operator_id"
);

impl OperatorId {
    /// Whether two ids name the same person: operator ids compare without regard to ASCII case,
    /// so `Alice` can never approve `alice`'s request.
    pub fn is_same_operator(&self, other: &OperatorId) -> bool {
        self.as_bytes().eq_ignore_ascii_case(other.as_bytes())
    }
}

/// Free text of 1 to 280 characters without control characters (reasons, details, ISO codes).
///
/// Shared behind an `Arc` so that copying a payment value does not copy its text.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FreeText(Arc<str>);

impl FreeText {
    /// Parses free text: 1 to 280 characters, none of them a control character.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        Self::parse_field("text", raw)
    }

    /// Parses free text as [`FreeText::parse`] does, naming `field` in a refusal.
    pub fn parse_for(field: &'static str, raw: &str) -> Result<Self, ParseError> {
        Self::parse_field(field, raw)
    }

    /// Parses a payment's remittance text (`remittance_information`): free text that an ISO
    /// 20022 message can carry, so also without U+FFFE or U+FFFF, since it goes into the
    /// pacs.008 unchanged. A refusal names `remittance_information`.
    pub fn parse_remittance(raw: &str) -> Result<Self, ParseError> {
        Self::parse_remittance_for("remittance_information", raw)
    }

    /// Parses as [`FreeText::parse_remittance`] does, naming `field` in a refusal.
    pub fn parse_remittance_for(field: &'static str, raw: &str) -> Result<Self, ParseError> {
        let text = Self::parse_field(field, raw)?;
        check_xml_characters(field, raw)?;
        Ok(text)
    }

    /// Whether an ISO 20022 message can carry the text unchanged: it holds neither U+FFFE nor
    /// U+FFFF (free text never holds a control character).
    pub fn fits_a_message(&self) -> bool {
        check_xml_characters("text", &self.0).is_ok()
    }

    fn parse_field(field: &'static str, raw: &str) -> Result<Self, ParseError> {
        if raw.trim().is_empty() {
            return Err(ParseError::EmptyText { field });
        }
        let chars = raw.chars().count();
        if chars > MAX_TEXT_CHARS {
            return Err(ParseError::TextTooLong {
                field,
                chars,
                max: MAX_TEXT_CHARS,
            });
        }
        if let Some(bad) = raw.chars().find(|c| c.is_control()) {
            return Err(ParseError::TextControlCharacter {
                field,
                code_point: u32::from(bad),
            });
        }
        Ok(Self(Arc::from(raw)))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FreeText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for FreeText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FreeText({:?})", &*self.0)
    }
}

impl Serialize for FreeText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for FreeText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(ParseVisitor::new("text", Self::parse))
    }
}

/// Checks text bound for an ISO 20022 message: not blank, at most `max` characters, no control
/// character, and neither U+FFFE nor U+FFFF (which XML 1.0, the messages' syntax, cannot carry).
fn check_message_text(field: &'static str, raw: &str, max: usize) -> Result<(), ParseError> {
    if raw.trim().is_empty() {
        return Err(ParseError::EmptyText { field });
    }
    let chars = raw.chars().count();
    if chars > max {
        return Err(ParseError::TextTooLong { field, chars, max });
    }
    if let Some(bad) = raw.chars().find(|c| c.is_control()) {
        return Err(ParseError::TextControlCharacter {
            field,
            code_point: u32::from(bad),
        });
    }
    check_xml_characters(field, raw)
}

/// Refuses U+FFFE and U+FFFF, the two characters that are not control characters and that
/// XML 1.0 still cannot carry, in text that an ISO 20022 message will hold.
fn check_xml_characters(field: &'static str, raw: &str) -> Result<(), ParseError> {
    match raw.chars().find(|c| matches!(c, '\u{FFFE}' | '\u{FFFF}')) {
        Some(bad) => Err(ParseError::TextNonCharacter {
            field,
            code_point: u32::from(bad),
        }),
        None => Ok(()),
    }
}

/// Declares a text newtype bound for an ISO 20022 message, shared behind an `Arc`.
macro_rules! message_text {
    ($(#[$meta:meta])* $name:ident, $field:literal, $max:path, $limit:literal) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Arc<str>);

        impl $name {
            #[doc = concat!("Parses `", $field, "`: 1 to ", $limit, " characters, not blank, no control")]
            /// character and neither U+FFFE nor U+FFFF (XML cannot carry them).
            pub fn parse(raw: &str) -> Result<Self, ParseError> {
                Self::parse_for($field, raw)
            }

            /// Parses as [`Self::parse`] does, naming `field` in a refusal (for example
            /// `debtor_name`, or a request's `debtor.name`).
            pub fn parse_for(field: &'static str, raw: &str) -> Result<Self, ParseError> {
                check_message_text(field, raw, $max)?;
                Ok(Self(Arc::from(raw)))
            }

            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), &*self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = ParseError;
            fn from_str(raw: &str) -> Result<Self, ParseError> {
                Self::parse(raw)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_str(ParseVisitor::new($field, Self::parse))
            }
        }
    };
}

message_text!(
    /// A debtor's or creditor's name as the payer gave it (ISO 20022 Max140Text): 1 to
    /// [`MAX_NAME_CHARS`] characters, not blank, no control characters.
    ///
    /// Shared behind an `Arc` so that copying a payment value does not copy its text.
    PartyName,
    "party_name",
    MAX_NAME_CHARS,
    "140"
);

message_text!(
    /// The payer's own reference for a payment, carried unchanged to the payee as ISO 20022
    /// `PmtId/EndToEndId` (Max35Text): 1 to [`MAX_END_TO_END_ID_LEN`] characters, not blank, no
    /// control characters. Unlike the core's ids it may hold any other character (spaces, `/`,
    /// letters beyond ASCII), because the payer chose it; a payment without one is sent with its
    /// payment id.
    EndToEndId,
    "end_to_end_id",
    MAX_END_TO_END_ID_LEN,
    "35"
);

impl From<PaymentIntentId> for EndToEndId {
    /// A payment id as an end-to-end id: every payment id is valid Max35Text.
    fn from(id: PaymentIntentId) -> Self {
        Self(Arc::from(id.as_str()))
    }
}

/// A serde visitor that feeds a string to a parser, so deserialising goes through parsing.
pub(crate) struct ParseVisitor<T> {
    field: &'static str,
    parse: fn(&str) -> Result<T, ParseError>,
}

impl<T> ParseVisitor<T> {
    pub(crate) fn new(field: &'static str, parse: fn(&str) -> Result<T, ParseError>) -> Self {
        Self { field, parse }
    }
}

impl<T> Visitor<'_> for ParseVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a string for {}", self.field)
    }

    fn visit_str<E: de::Error>(self, raw: &str) -> Result<T, E> {
        (self.parse)(raw).map_err(E::custom)
    }
}
