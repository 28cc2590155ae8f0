//! The rule table itself: ids are unique, kebab-case, and every rule explains itself.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::collections::BTreeSet;

use guardrails::rules::{RULES, find};

fn is_kebab_case(id: &str) -> bool {
    !id.is_empty()
        && id.split('-').all(|word| {
            !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && id.starts_with(|c: char| c.is_ascii_lowercase())
}

#[test]
fn rule_ids_are_unique_and_kebab_case() {
    let mut seen = BTreeSet::new();
    for rule in RULES {
        assert!(is_kebab_case(rule.id), "`{}` is not kebab-case", rule.id);
        assert!(seen.insert(rule.id), "`{}` is used twice", rule.id);
    }
    assert!(!is_kebab_case("Not-Kebab"));
    assert!(!is_kebab_case("double--dash"));
    assert!(!is_kebab_case("snake_case"));
}

#[test]
fn every_rule_has_a_summary_and_a_help_text_and_can_be_found() {
    for rule in RULES {
        assert!(!rule.summary.trim().is_empty(), "{}", rule.id);
        assert!(
            rule.help.len() > 40,
            "{} needs a help text saying why",
            rule.id
        );
        assert_eq!(find(rule.id).map(|r| r.id), Some(rule.id));
    }
    assert!(find("no-such-rule").is_none());
    assert!(guardrails::select(&["no-such-rule".to_owned()]).is_err());
}

#[test]
fn the_five_seed_rules_exist() {
    for id in [
        "no-stored-state",
        "no-cross-core-imports",
        "replay-mandatory",
        "event-immutability",
        "terminal-state-enforcement",
    ] {
        assert!(find(id).is_some(), "{id}");
    }
}
