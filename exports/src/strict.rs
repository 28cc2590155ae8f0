//! Strict JSON for reading packs: the bytes parsed into a `serde_json::Value`, refusing a key
//! written twice in one object.
//!
//! RFC 8259 leaves duplicate keys to the reader, and readers differ: serde_json's `Value` and
//! Python's `json` keep the last value, others the first or refuse. A pack with
//! `"amount":1,"amount":73550` would then say one thing to one auditor and another to the next,
//! and a proof recomputed from the parsed value would cover only what this reader saw. So a pack
//! is read with this parser, which names the first repeated key by its JSON path
//! (`lifecycle_events[0].amount`). Keys are compared after unescaping, so `"\u0061mount"` repeats
//! `"amount"`.
//!
//! The parser is a `DeserializeSeed` over serde_json's own deserializer, so the JSON grammar,
//! the numbers and the nesting limit (128 levels) are serde_json's; only the duplicate check and
//! the path are added, and the path is written out only when a duplicate is found.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::error::{ExportError, JsonPath};

/// Parses `bytes` as exactly one JSON value (whitespace around it allowed), as
/// `serde_json::from_slice::<Value>` does, but refuses a key repeated in any object.
///
/// Errors: [`ExportError::DuplicateKey`] naming the JSON path of the second occurrence (for
/// example `lifecycle_events[0].amount`, or `operator_actions` for a repeated top-level member);
/// [`ExportError::NotJson`] for anything that is not one JSON value (syntax, invalid UTF-8, a
/// lone surrogate escape, trailing characters, nesting deeper than 128 levels).
pub fn parse_strict(bytes: &[u8]) -> Result<Value, ExportError> {
    let duplicate = Cell::new(None);
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed = StrictValue {
        at: &Place::Root,
        duplicate: &duplicate,
    }
    .deserialize(&mut deserializer)
    .and_then(|value| deserializer.end().map(|()| value));
    parsed.map_err(|error| match duplicate.take() {
        Some(path) => ExportError::DuplicateKey { path },
        None => ExportError::NotJson {
            reason: error.to_string(),
        },
    })
}

/// Where the value being parsed lies: a chain of borrowed steps up to the root, turned into a
/// [`JsonPath`] only when it is needed for an error.
enum Place<'a> {
    Root,
    Key(&'a Place<'a>, &'a str),
    Index(&'a Place<'a>, usize),
}

impl Place<'_> {
    fn path(&self) -> JsonPath {
        match self {
            Place::Root => JsonPath::root(),
            Place::Key(parent, key) => parent.path().key(key),
            Place::Index(parent, index) => parent.path().index(*index),
        }
    }
}

/// One JSON value at a place; the first duplicate found is left in `duplicate`.
struct StrictValue<'a> {
    at: &'a Place<'a>,
    duplicate: &'a Cell<Option<JsonPath>>,
}

impl<'de> DeserializeSeed<'de> for StrictValue<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Value, E> {
        // As serde_json's own `Value` does; JSON text never holds a NaN or an infinity.
        Ok(Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        loop {
            let place = Place::Index(self.at, items.len());
            let item = seq.next_element_seed(StrictValue {
                at: &place,
                duplicate: self.duplicate,
            })?;
            match item {
                Some(item) => items.push(item),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let place = Place::Key(self.at, &key);
            if members.contains_key(&key) {
                self.duplicate.set(Some(place.path()));
                return Err(de::Error::custom(format_args!("duplicate key {key:?}")));
            }
            let value = map.next_value_seed(StrictValue {
                at: &place,
                duplicate: self.duplicate,
            })?;
            members.insert(key, value);
        }
        Ok(Value::Object(members))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn duplicate_at(text: &str) -> String {
        match parse_strict(text.as_bytes()) {
            Err(ExportError::DuplicateKey { path }) => path.as_str().to_owned(),
            other => format!("not a duplicate: {other:?}"),
        }
    }

    #[test]
    fn it_reads_what_serde_json_reads_as_serde_json_does() {
        // given JSON with every kind of value, nesting and escapes
        let text = r#" {"a": [1, -2, 18446744073709551615, 1.5, -0, 1e2, true, false, null],
            "b": {"c": "\u00e9\ud83d\ude00\n", "d": {}}, "e": [], "f": "x"} "#;
        // when it is parsed strictly, then it is the value serde_json gives
        let expected: Value = serde_json::from_str(text).unwrap();
        assert_eq!(parse_strict(text.as_bytes()).unwrap(), expected);
    }

    #[test]
    fn a_repeated_key_is_named_by_its_path_at_any_depth() {
        assert_eq!(duplicate_at(r#"{"a":1,"a":2}"#), "a");
        assert_eq!(
            duplicate_at(r#"{"x":[{"k":1},{"k":1,"amount":1,"amount":73550}]}"#),
            "x[1].amount"
        );
        assert_eq!(duplicate_at(r#"[[{"b":{"c":0,"c":0}}]]"#), "[0][0].b.c");
        // keys compare after unescaping
        assert_eq!(duplicate_at(r#"{"amount":1,"\u0061mount":2}"#), "amount");
        // a key a person could misread is quoted in the path
        assert_eq!(duplicate_at(r#"{"a b":1,"a b":1}"#), "[\"a b\"]");
    }

    #[test]
    fn equal_keys_in_different_objects_are_not_duplicates() {
        let text = r#"{"a":{"k":1},"b":{"k":1},"c":[{"k":1},{"k":2}]}"#;
        assert!(parse_strict(text.as_bytes()).is_ok());
    }

    #[test]
    fn anything_but_one_json_value_is_not_json() {
        for text in [
            "",
            "{",
            "{} {}",
            "{\"a\":1,}",
            "\"\\ud800\"",
            "[1e400]",
            "nul",
        ] {
            assert!(
                matches!(
                    parse_strict(text.as_bytes()),
                    Err(ExportError::NotJson { .. })
                ),
                "{text:?}"
            );
        }
        assert!(matches!(
            parse_strict(b"\"\xff\""),
            Err(ExportError::NotJson { .. })
        ));
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(matches!(
            parse_strict(deep.as_bytes()),
            Err(ExportError::NotJson { .. })
        ));
    }
}
