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
