//! docs/evidence-pack.schema.json against the packs the code writes: every pack validates, and
//! every property the schema declares is written by some pack, so the two cannot drift apart.
//!
//! The validator below implements the JSON Schema 2020-12 keywords the schema uses and fails on
//! any other, so a keyword added to the schema cannot be silently ignored.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

mod support;

use std::collections::{BTreeSet, HashMap};

use exports::*;
use regex::Regex;
use serde_json::{Value, json};
use support::*;

fn schema() -> Value {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/evidence-pack.schema.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Packs with every kind of element the format has, in both schema versions: what the code
/// writes now (version 2, with every optional member and outcome) and the version-1 fixtures
/// the code wrote before.
fn corpus() -> Vec<Value> {
    let mut packs: Vec<Value> = [
        "settled.jsonl",
        "settled-with-details.jsonl",
        "retried.jsonl",
        "cancelled.jsonl",
        "late-failure-with-duplicate.jsonl",
        "authorised.jsonl",
        "stuck-in-sent.jsonl",
        "timed-out.jsonl",
    ]
    .into_iter()
    .map(example_pack)
    .collect();
    let key = PackSigningKey::from_seed([1; 32]);
    packs.push(
        build_pack(&rich_input())
            .unwrap()
            .sign(&key)
            .unwrap()
            .value()
            .clone(),
    );
    packs.push(
        pack_of_events(marked_failed_then_retried("pay_mf"))
            .value()
            .clone(),
    );
    packs.push(
        pack_of_events(vec![
            intent("pay_exp", 0),
            authorised("pay_exp", 1),
            expired("pay_exp", 900),
        ])
        .value()
        .clone(),
    );
    packs.push(
        build_pack(&approved_under_policy_input())
            .unwrap()
            .value()
            .clone(),
    );
    for name in [
        "v1-rich-signed.evidence.json",
        "v1-marked-failed-then-retried.evidence.json",
        "v1-cancelled.evidence.json",
    ] {
        packs.push(serde_json::from_slice(&fixture(name)).unwrap());
    }
    packs
}

#[test]
fn every_pack_the_code_writes_satisfies_the_schema() {
    let schema = schema();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    let validator = Validator::new(&schema);
    for (index, pack) in corpus().iter().enumerate() {
        let mut visited = BTreeSet::new();
        if let Err(error) = validator.validate(&schema, pack, "", "#", &mut visited) {
            panic!("pack {index} breaks the schema: {error}");
        }
    }
}

#[test]
fn every_property_the_schema_declares_is_written_by_some_pack() {
    let schema = schema();
    let validator = Validator::new(&schema);
    let mut visited = BTreeSet::new();
    for pack in corpus() {
        validator
            .validate(&schema, &pack, "", "#", &mut visited)
            .unwrap();
    }
    let mut declared = BTreeSet::new();
    declared_properties(&schema, "#", &mut declared);
    let unwritten: Vec<&String> = declared.difference(&visited).collect();
    assert!(
        unwritten.is_empty(),
        "the schema declares properties no pack writes: {unwritten:?}"
    );
    assert!(declared.len() > 100, "{}", declared.len());
}

#[test]
fn the_schema_refuses_what_the_format_refuses() {
    let schema = schema();
    let validator = Validator::new(&schema);
    let pack = example_pack("retried.jsonl");
    let mut visited = BTreeSet::new();
    let mut check = |pack: &Value| validator.validate(&schema, pack, "", "#", &mut visited);
    let mut extra = pack.clone();
    extra["lifecycle_events"][2]["surprise"] = json!(1);
    assert!(check(&extra).unwrap_err().contains("lifecycle_events[2]"));
    let mut missing = pack.clone();
    missing["proof"]
        .as_object_mut()
        .unwrap()
        .remove("chain_head");
    assert!(check(&missing).unwrap_err().contains("chain_head"));
    let mut wrong_type = pack.clone();
    wrong_type["intent"]["amount"] = json!("125075");
    assert!(check(&wrong_type).is_err());
    let mut upper_hex = pack.clone();
    let head = upper_hex["proof"]["chain_head"]
        .as_str()
        .unwrap()
        .to_uppercase();
    upper_hex["proof"]["chain_head"] = json!(head);
    assert!(check(&upper_hex).is_err());
    let mut padded_time = pack;
    padded_time["lifecycle_events"][1]["occurred_at"] = json!("2025-12-17T10:00:00.100Z");
    assert!(check(&padded_time).is_err());
    // and the members of schema version 2: a policy hash is lower-case hex, a refusal names
    // its rule, and only the two known versions exist
    let rich = build_pack(&rich_input()).unwrap().value().clone();
    assert!(check(&rich).is_ok());
    let mut upper_policy = rich.clone();
    upper_policy["operator_actions"][5]["policy_sha256"] = json!("AB".repeat(32));
    assert!(
        check(&upper_policy)
            .unwrap_err()
            .contains("operator_actions[5].policy_sha256")
    );
    let mut no_rule = rich.clone();
    no_rule["operator_actions"][5]["decision"]
        .as_object_mut()
        .unwrap()
        .remove("rule");
    assert!(check(&no_rule).unwrap_err().contains("operator_actions[5]"));
    let mut version_4 = rich;
    version_4["schema_version"] = json!(4);
    assert!(check(&version_4).unwrap_err().contains("schema_version"));
    // and the members of schema version 3: a name is at most 140 characters, an end-to-end id
    // at most 35, and neither holds a control character
    let detailed = example_pack("settled-with-details.jsonl");
    assert!(check(&detailed).is_ok());
    for (path, value) in [
        ("intent", json!("x".repeat(141))),
        ("lifecycle_events", json!("x".repeat(141))),
    ] {
        let mut long_name = detailed.clone();
        match path {
            "intent" => long_name["intent"]["debtor_name"] = value,
            _ => long_name["lifecycle_events"][0]["creditor_name"] = value,
        }
        assert!(check(&long_name).is_err(), "{path}");
    }
    let mut long_id = detailed.clone();
    long_id["intent"]["end_to_end_id"] = json!("x".repeat(36));
    assert!(
        check(&long_id)
            .unwrap_err()
            .contains("intent.end_to_end_id")
    );
    let mut control = detailed;
    control["intent"]["remittance_information"] = json!("a\u{7}b");
    assert!(
        check(&control)
            .unwrap_err()
            .contains("intent.remittance_information")
    );
}

/// A validator for the subset of JSON Schema 2020-12 the pack schema uses.
struct Validator<'s> {
    root: &'s Value,
    patterns: HashMap<String, Regex>,
}

const ANNOTATIONS: [&str; 6] = [
    "$schema",
    "$id",
    "title",
    "description",
    "$defs",
    "$comment",
];

impl<'s> Validator<'s> {
    fn new(root: &'s Value) -> Self {
        let mut patterns = HashMap::new();
        collect_patterns(root, &mut patterns);
        Self { root, patterns }
    }

    fn validate(
        &self,
        schema: &Value,
        instance: &Value,
        path: &str,
        location: &str,
        visited: &mut BTreeSet<String>,
    ) -> Result<(), String> {
        let keywords = schema.as_object().expect("a schema is an object");
        let properties = keywords.get("properties").and_then(Value::as_object);
        for (keyword, argument) in keywords {
            let fail = |what: String| Err(format!("{path}: {what}"));
            match keyword.as_str() {
                k if ANNOTATIONS.contains(&k) => {}
                "$ref" => {
                    let target = argument.as_str().unwrap();
                    let name = target.strip_prefix("#/$defs/").expect("a local $ref");
                    self.validate(&self.root["$defs"][name], instance, path, target, visited)?;
                }
                "type" => {
                    if !has_type(instance, argument.as_str().unwrap()) {
                        return fail(format!("{instance} is not of type {argument}"));
                    }
                }
                "const" => {
                    if instance != argument {
                        return fail(format!("{instance} is not {argument}"));
                    }
                }
                "enum" => {
                    if !argument.as_array().unwrap().contains(instance) {
                        return fail(format!("{instance} is not one of {argument}"));
                    }
                }
                "minimum" | "maximum" => {
                    let (value, bound) = (as_i128(instance), as_i128(argument));
                    let broken = match (value, keyword.as_str()) {
                        (Some(v), "minimum") => v < bound.unwrap(),
                        (Some(v), _) => v > bound.unwrap(),
                        (None, _) => false,
                    };
                    if broken {
                        return fail(format!("{instance} breaks {keyword} {argument}"));
                    }
                }
                "minLength" | "maxLength" | "pattern" => {
                    if let Some(text) = instance.as_str() {
                        self.check_string(keyword, argument, text).or_else(fail)?;
                    }
                }
                "minItems" => {
                    if let Some(items) = instance.as_array()
                        && items.len() < usize::try_from(argument.as_u64().unwrap()).unwrap()
                    {
                        return fail(format!("fewer than {argument} items"));
                    }
                }
                "items" => {
                    for (index, item) in instance.as_array().into_iter().flatten().enumerate() {
                        let item_path = format!("{path}[{index}]");
                        let item_location = format!("{location}/items");
                        self.validate(argument, item, &item_path, &item_location, visited)?;
                    }
                }
                "properties" => {
                    for (key, member) in instance.as_object().into_iter().flatten() {
                        if let Some(sub) = argument.get(key) {
                            let member_location = format!("{location}/properties/{key}");
                            visited.insert(member_location.clone());
                            let member_path = join(path, key);
                            self.validate(sub, member, &member_path, &member_location, visited)?;
                        }
                    }
                }
                "required" => {
                    for key in argument.as_array().unwrap() {
                        let key = key.as_str().unwrap();
                        if instance.as_object().is_some_and(|o| !o.contains_key(key)) {
                            return fail(format!("{key} is required"));
                        }
                    }
                }
                "additionalProperties" => {
                    assert_eq!(argument, &json!(false), "only additionalProperties: false");
                    for key in instance.as_object().into_iter().flatten().map(|(k, _)| k) {
                        if !properties.is_some_and(|p| p.contains_key(key)) {
                            return fail(format!("{key} is not declared"));
                        }
                    }
                }
                "oneOf" => self.one_of(argument, instance, path, location, visited)?,
                other => panic!("the schema uses {other:?}, which this validator does not know"),
            }
        }
        Ok(())
    }

    fn one_of(
        &self,
        branches: &Value,
        instance: &Value,
        path: &str,
        location: &str,
        visited: &mut BTreeSet<String>,
    ) -> Result<(), String> {
        let mut matched = Vec::new();
        let mut errors = Vec::new();
        for (index, branch) in branches.as_array().unwrap().iter().enumerate() {
            let mut branch_visited = BTreeSet::new();
            let branch_location = format!("{location}/oneOf/{index}");
            match self.validate(
                branch,
                instance,
                path,
                &branch_location,
                &mut branch_visited,
            ) {
                Ok(()) => matched.push(branch_visited),
                Err(error) => errors.push(error),
            }
        }
        match matched.len() {
            1 => {
                visited.extend(matched.remove(0));
                Ok(())
            }
            0 => Err(format!("{path}: matches no branch of oneOf: {errors:?}")),
            n => Err(format!("{path}: matches {n} branches of oneOf")),
        }
    }

    fn check_string(&self, keyword: &str, argument: &Value, text: &str) -> Result<(), String> {
        let length = text.chars().count();
        let ok = match keyword {
            "minLength" => length >= usize::try_from(argument.as_u64().unwrap()).unwrap(),
            "maxLength" => length <= usize::try_from(argument.as_u64().unwrap()).unwrap(),
            _ => self.patterns[argument.as_str().unwrap()].is_match(text),
        };
        if ok {
            Ok(())
        } else {
            Err(format!("{text:?} breaks {keyword} {argument}"))
        }
    }
}

fn collect_patterns(schema: &Value, out: &mut HashMap<String, Regex>) {
    match schema {
        Value::Object(members) => {
            for (key, value) in members {
                if key == "pattern"
                    && let Some(pattern) = value.as_str()
                {
                    out.insert(pattern.to_owned(), Regex::new(pattern).unwrap());
                } else {
                    collect_patterns(value, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_patterns(item, out)),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
    }
}

/// Every `<location>/properties/<key>` the schema declares, with locations as `validate` names
/// them (`#` for the root, `#/$defs/<name>` for a definition).
fn declared_properties(schema: &Value, location: &str, out: &mut BTreeSet<String>) {
    let Some(keywords) = schema.as_object() else {
        return;
    };
    if let Some(properties) = keywords.get("properties").and_then(Value::as_object) {
        for (key, sub) in properties {
            let member = format!("{location}/properties/{key}");
            out.insert(member.clone());
            declared_properties(sub, &member, out);
        }
    }
    if let Some(items) = keywords.get("items") {
        declared_properties(items, &format!("{location}/items"), out);
    }
    for (index, branch) in keywords
        .get("oneOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        declared_properties(branch, &format!("{location}/oneOf/{index}"), out);
    }
    for (name, definition) in keywords
        .get("$defs")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        declared_properties(definition, &format!("#/$defs/{name}"), out);
    }
}

fn has_type(instance: &Value, expected: &str) -> bool {
    match expected {
        "object" => instance.is_object(),
        "array" => instance.is_array(),
        "string" => instance.is_string(),
        "boolean" => instance.is_boolean(),
        "integer" => instance.is_i64() || instance.is_u64(),
        "number" => instance.is_number(),
        "null" => instance.is_null(),
        other => panic!("unknown type {other}"),
    }
}

fn as_i128(value: &Value) -> Option<i128> {
    value
        .as_i64()
        .map(i128::from)
        .or_else(|| value.as_u64().map(i128::from))
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}
