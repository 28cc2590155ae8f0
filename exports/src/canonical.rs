//! Canonical JSON: the one byte form of a JSON value that every hash in a pack covers.
//!
//! This is RFC 8785 (JSON Canonicalization Scheme) restricted to what a pack holds: objects with
//! members sorted by the UTF-16 code units of their keys, no insignificant whitespace, strings
//! escaped as ECMAScript's `JSON.stringify` does, and numbers that are integers of magnitude at
//! most 2^53 - 1 (written in plain decimal, which is exactly how RFC 8785 writes them). Any other
//! number is refused rather than approximated, so a pack never depends on floating point.

use serde_json::Value;

use crate::error::{ExportError, JsonPath};

/// The largest integer an IEEE double (and so every JSON implementation) holds exactly.
pub const MAX_SAFE_INTEGER: u64 = 9_007_199_254_740_991;

/// [`MAX_SAFE_INTEGER`] as a double (exactly representable).
const SAFE_AS_F64: f64 = 9_007_199_254_740_991.0;

/// The canonical text of `value`. Fails, naming the place, on a number that is not a safe integer.
pub fn canonical_json(value: &Value) -> Result<String, ExportError> {
    canonical_json_at(value, &JsonPath::root())
}

/// Like [`canonical_json`] for a value found at `base` inside a pack, so that an error names the
/// place in the pack.
pub fn canonical_json_at(value: &Value, base: &JsonPath) -> Result<String, ExportError> {
    let mut out = String::with_capacity(256);
    write_value(&mut out, value).map_err(|fault| fault.into_error(base))?;
    Ok(out)
}

/// A number that cannot be written canonically, with the way down to it (innermost first).
struct NumberFault {
    value: String,
    trail: Vec<Step>,
}

enum Step {
    Key(String),
    Index(usize),
}

impl NumberFault {
    fn into_error(self, base: &JsonPath) -> ExportError {
        let path = self
            .trail
            .iter()
            .rev()
            .fold(base.clone(), |path, step| match step {
                Step::Key(key) => path.key(key),
                Step::Index(index) => path.index(*index),
            });
        ExportError::NumberNotCanonical {
            path,
            value: self.value,
        }
    }
}

fn write_value(out: &mut String, value: &Value) -> Result<(), NumberFault> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(number) => write_integer(out, number)?,
        Value::String(text) => write_string(out, text),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_value(out, item).map_err(|mut fault| {
                    fault.trail.push(Step::Index(index));
                    fault
                })?;
            }
            out.push(']');
        }
        Value::Object(members) => {
            let mut sorted: Vec<(&String, &Value)> = members.iter().collect();
            // RFC 8785 orders by UTF-16 code units, which differs from the map's UTF-8 (code
            // point) order only for keys mixing characters above U+FFFF with U+E000..U+FFFF.
            sorted.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
            out.push('{');
            for (index, (key, item)) in sorted.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_string(out, key);
                out.push(':');
                write_value(out, item).map_err(|mut fault| {
                    fault.trail.push(Step::Key(key.clone()));
                    fault
                })?;
            }
            out.push('}');
        }
    }
    Ok(())
}

fn write_integer(out: &mut String, number: &serde_json::Number) -> Result<(), NumberFault> {
    let safe = if let Some(unsigned) = number.as_u64() {
        (unsigned <= MAX_SAFE_INTEGER).then(|| unsigned.to_string())
    } else if let Some(signed) = number.as_i64() {
        (signed.unsigned_abs() <= MAX_SAFE_INTEGER).then(|| signed.to_string())
    } else {
        // A parser may hand over an integral value as a double (`-0`, `1.0`, `1e2`); RFC 8785
        // writes those as plain integers, so they are accepted in the safe range.
        number
            .as_f64()
            .filter(|x| x.fract() == 0.0 && x.abs() <= SAFE_AS_F64)
            .map(|x| format!("{}", x as i64))
    };
    match safe {
        Some(text) => {
            out.push_str(&text);
            Ok(())
        }
        None => Err(NumberFault {
            value: number.to_string(),
            trail: Vec::new(),
        }),
    }
}

/// Writes a JSON string as RFC 8785 (section 3.2.2.2) does: `"` and `\` escaped, the five
/// short escapes for their control characters, `\u00xx` (lower-case hex) for the other control
/// characters, and every other character as itself in UTF-8.
fn write_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                out.push_str("\\u00");
                out.push(hex_digit(u32::from(c) >> 4));
                out.push(hex_digit(u32::from(c) & 0xf));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn hex_digit(nibble: u32) -> char {
    char::from_digit(nibble, 16).unwrap_or('0')
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn canon(text: &str) -> String {
        canonical_json(&serde_json::from_str(text).unwrap()).unwrap()
    }

    #[test]
    fn rfc8785_literals_and_whitespace() {
        // RFC 8785 section 3.2.2.1.
        assert_eq!(
            canon(r#"{ "literals" : [ null , true , false ] }"#),
            r#"{"literals":[null,true,false]}"#
        );
    }

    #[test]
    fn rfc8785_string_escaping() {
        // RFC 8785 section 3.2.2.2: the example's input and its canonical output.
        let input = r#"{"string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/"}"#;
        assert_eq!(
            canon(input),
            "{\"string\":\"€$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}"
        );
    }

    #[test]
    fn rfc8785_property_sorting_is_by_utf16_code_units() {
        // RFC 8785 section 3.2.3: the emoji (a surrogate pair, D83D) sorts before U+FB33
        // although its code point is larger.
        let input = r#"{
            "\u20ac": "Euro Sign",
            "\r": "Carriage Return",
            "\ufb33": "Hebrew Letter Dalet With Dagesh",
            "1": "One",
            "\ud83d\ude00": "Emoji: Grinning Face",
            "\u0080": "Control",
            "\u00f6": "Latin Small Letter O With Diaeresis"
        }"#;
        let expected = "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\
            \"ö\":\"Latin Small Letter O With Diaeresis\",\"€\":\"Euro Sign\",\
            \"😀\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}";
        assert_eq!(canon(input), expected);
    }

    #[test]
    fn rfc8785_integers_are_plain_decimal() {
        // The integer cases of RFC 8785 appendix B: 0, -0 (written 0), 2^53 - 1 and its negation.
        assert_eq!(
            canon("[0, -0, 9007199254740991, -9007199254740991, 1e2, 10.0]"),
            "[0,0,9007199254740991,-9007199254740991,100,10]"
        );
    }

    #[test]
    fn refuses_numbers_it_cannot_write_exactly() {
        let too_big = json!({"a": [1, {"amount": 9_007_199_254_740_992_u64}]});
        let error = canonical_json(&too_big).unwrap_err();
        assert_eq!(error.path().unwrap().as_str(), "a[1].amount");
        assert!(canonical_json(&json!(1.5)).is_err());
        assert!(canonical_json(&json!(1e300)).is_err());
        assert!(canonical_json(&json!(-9_007_199_254_740_992_i64)).is_err());
    }

    #[test]
    fn nested_objects_sort_at_every_level_and_arrays_keep_their_order() {
        assert_eq!(
            canon(r#"{"b": [3, 1, {"z": 1, "a": 2}], "a": "x"}"#),
            r#"{"a":"x","b":[3,1,{"a":2,"z":1}]}"#
        );
    }

    #[test]
    fn control_characters_use_lower_case_hex_and_del_is_literal() {
        assert_eq!(canon(r#""\u001F\u007f""#), "\"\\u001f\u{7f}\"");
    }
}
