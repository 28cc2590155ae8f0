//! Money as integer minor units with checked arithmetic, and the ISO 4217 currency code.

use std::fmt;

use serde::de::Deserializer;
use serde::{Deserialize, Serialize, Serializer};

use crate::error::ParseError;
use crate::ids::ParseVisitor;

/// An amount in minor units (cents for AUD). Signed so that a negative amount in an input reaches
/// the money invariant and is refused by name, rather than vanishing in a parse error.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
#[serde(transparent)]
pub struct Money(i64);

/// Reads an amount: a JSON integer of cents. Anything else (`-0`, `12.5`, `"100"`) is refused with
/// a message saying what an amount is, rather than serde's "expected i64".
struct MoneyVisitor;

impl serde::de::Visitor<'_> for MoneyVisitor {
    type Value = Money;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "an amount as a whole number of cents, written as an integer (not -0, not a decimal, \
             not a string)",
        )
    }

    fn visit_i64<E: serde::de::Error>(self, cents: i64) -> Result<Money, E> {
        Ok(Money(cents))
    }

    fn visit_u64<E: serde::de::Error>(self, cents: u64) -> Result<Money, E> {
        i64::try_from(cents).map(Money).map_err(|_| {
            E::custom(format!(
                "amount {cents} cents is beyond any amount this system can hold"
            ))
        })
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_i64(MoneyVisitor)
    }
}

impl Money {
    /// Zero minor units.
    pub const ZERO: Money = Money(0);

    /// The largest amount one payment may carry: 10^12 cents (A$10 billion). Far above any NPP
    /// payment; below 2^53, so every amount is an exact JSON number in an evidence pack or an API
    /// response; and 9.2 million payments at the limit still sum within an i64, so a payer's
    /// derived funds position stays exact.
    pub const MAX_PAYMENT: Money = Money(1_000_000_000_000);

    /// An amount of `minor_units` cents.
    pub const fn from_minor_units(minor_units: i64) -> Self {
        Self(minor_units)
    }

    /// The amount in minor units.
    pub const fn minor_units(self) -> i64 {
        self.0
    }

    /// Whether the amount is strictly positive.
    pub const fn is_positive(self) -> bool {
        self.0 > 0
    }

    /// `self + other`, or `None` on overflow.
    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    /// `self - other`, or `None` on overflow.
    pub fn checked_sub(self, other: Money) -> Option<Money> {
        self.0.checked_sub(other.0).map(Money)
    }

    /// The amount as a decimal with two places (`1234` -> `"12.34"`), as ISO 20022 writes AUD.
    pub fn to_decimal_string(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        format!("{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Money({} minor units)", self.0)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_decimal_string())
    }
}

/// An ISO 4217 alphabetic currency code: three upper-case ASCII letters.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Currency([u8; 3]);

impl Currency {
    /// The Australian dollar, the only currency NPP settles.
    pub const AUD: Currency = Currency(*b"AUD");

    /// Parses a three-letter upper-case code.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        match raw.as_bytes() {
            [a, b, c] if raw.bytes().all(|x| x.is_ascii_uppercase()) => Ok(Self([*a, *b, *c])),
            _ => Err(ParseError::Currency {
                value: raw.chars().take(16).collect(),
            }),
        }
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("???")
    }

    /// The code's three bytes.
    pub const fn as_bytes(&self) -> [u8; 3] {
        self.0
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.as_str())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(ParseVisitor::new("currency", Self::parse))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_string_has_two_places() {
        assert_eq!(
            Money::from_minor_units(50_000).to_decimal_string(),
            "500.00"
        );
        assert_eq!(Money::from_minor_units(7).to_decimal_string(), "0.07");
        assert_eq!(Money::from_minor_units(-1234).to_decimal_string(), "-12.34");
    }

    #[test]
    fn checked_arithmetic_refuses_overflow() {
        assert_eq!(
            Money::from_minor_units(i64::MAX).checked_add(Money::from_minor_units(1)),
            None
        );
        assert_eq!(
            Money::from_minor_units(i64::MIN).checked_sub(Money::from_minor_units(1)),
            None
        );
        assert_eq!(
            Money::from_minor_units(2).checked_add(Money::from_minor_units(3)),
            Some(Money::from_minor_units(5))
        );
    }

    #[test]
    fn an_amount_is_an_integer_of_cents_and_anything_else_says_so() {
        assert_eq!(
            serde_json::from_str::<Money>("125").unwrap(),
            Money::from_minor_units(125)
        );
        for bad in ["-0", "12.5", "\"100\"", "1e3"] {
            let error = serde_json::from_str::<Money>(bad).unwrap_err().to_string();
            assert!(error.contains("whole number of cents"), "{bad}: {error}");
        }
        let error = serde_json::from_str::<Money>("18446744073709551615")
            .unwrap_err()
            .to_string();
        assert!(error.contains("beyond any amount"), "{error}");
    }

    #[test]
    fn currency_parses_three_upper_case_letters_only() {
        assert_eq!(Currency::parse("AUD"), Ok(Currency::AUD));
        assert!(Currency::parse("aud").is_err());
        assert!(Currency::parse("AUDD").is_err());
        assert!(Currency::parse("").is_err());
    }
}
