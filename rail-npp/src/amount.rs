//! Amounts on the wire: ISO 20022 decimals in AUD, read into and checked as whole cents.

use core_npp::Money;

use crate::error::{RailError, excerpt};

/// The largest amount `ActiveCurrencyAndAmount` carries: 18 digits in all, two of them cents.
pub const MAX_AMOUNT: Money = Money::from_minor_units(999_999_999_999_999_999);

/// Refuses an amount of zero or less, or one with more digits than ISO 20022 allows.
pub(crate) fn check_amount(amount: Money, at: &str) -> Result<Money, RailError> {
    if !amount.is_positive() {
        return Err(RailError::AmountNotPositive {
            at: at.to_owned(),
            amount: amount.to_decimal_string(),
        });
    }
    if amount > MAX_AMOUNT {
        return Err(RailError::AmountTooLarge {
            at: at.to_owned(),
            amount: amount.to_decimal_string(),
            max: MAX_AMOUNT.to_decimal_string(),
        });
    }
    Ok(amount)
}

/// Reads an `xs:decimal` as whole cents: `12.34`, `12.3`, `12`, `+12.340` and ` 12.34 ` are all
/// 1234 cents (the schema collapses whitespace and allows any number of trailing zeros); fractions
/// of a cent, exponents and anything else are refused. The result is checked by [`check_amount`].
pub(crate) fn parse_amount(raw: &str, at: &str) -> Result<Money, RailError> {
    let refuse = |problem| RailError::InvalidAmount {
        at: at.to_owned(),
        value: excerpt(raw),
        problem,
    };
    let text = raw.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r'));
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, text.get(1..).unwrap_or_default()),
        Some(b'+') => (false, text.get(1..).unwrap_or_default()),
        _ => (false, text),
    };
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !all_digits(whole) || !all_digits(fraction) {
        return Err(refuse("is not a decimal number"));
    }
    let (cents_text, rest) = fraction.split_at_checked(2).unwrap_or((fraction, ""));
    if rest.bytes().any(|b| b != b'0') {
        return Err(refuse("has fractions of a cent"));
    }
    let whole = whole.trim_start_matches('0');
    // The limit has 16 whole digits; refusing longer ones here keeps the arithmetic below
    // far from i64 overflow.
    if whole.len() > 16 {
        return Err(RailError::AmountTooLarge {
            at: at.to_owned(),
            amount: excerpt(text),
            max: MAX_AMOUNT.to_decimal_string(),
        });
    }
    let digits_value = |s: &str| {
        s.bytes()
            .fold(0i64, |acc, b| acc * 10 + i64::from(b - b'0'))
    };
    let cents = match cents_text.len() {
        0 => 0,
        1 => digits_value(cents_text) * 10,
        _ => digits_value(cents_text),
    };
    let magnitude = digits_value(whole) * 100 + cents;
    let minor_units = if negative { -magnitude } else { magnitude };
    check_amount(Money::from_minor_units(minor_units), at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cents(raw: &str) -> Result<i64, RailError> {
        parse_amount(raw, "amount").map(Money::minor_units)
    }

    #[test]
    fn reads_every_lexical_form_of_whole_cents() {
        for (raw, expected) in [
            ("12.34", 1234),
            ("12.3", 1230),
            ("12", 1200),
            ("12.", 1200),
            (".5", 50),
            ("+12.340", 1234),
            (" 12.34\n", 1234),
            ("0012.34", 1234),
            ("9999999999999999.99", 999_999_999_999_999_999),
        ] {
            assert_eq!(cents(raw), Ok(expected), "{raw:?}");
        }
    }

    #[test]
    fn refuses_malformed_sub_cent_non_positive_and_oversize_amounts() {
        for raw in ["", ".", "1e3", "12,34", "1.2.3", "--1", "abc", "1 2"] {
            assert!(
                matches!(cents(raw), Err(RailError::InvalidAmount { .. })),
                "{raw:?}"
            );
        }
        assert!(matches!(
            cents("0.001"),
            Err(RailError::InvalidAmount {
                problem: "has fractions of a cent",
                ..
            })
        ));
        assert!(matches!(
            cents("0.00"),
            Err(RailError::AmountNotPositive { .. })
        ));
        assert!(matches!(
            cents("-5.00"),
            Err(RailError::AmountNotPositive { .. })
        ));
        for raw in ["10000000000000000.00", "99999999999999999999999"] {
            assert!(
                matches!(cents(raw), Err(RailError::AmountTooLarge { .. })),
                "{raw:?}"
            );
        }
    }
}
