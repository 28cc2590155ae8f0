//! `npp replay` end to end: the real binary, its three exit codes and its JSON contract.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

fn npp(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_npp"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(stdin.unwrap_or_default().as_bytes())
        .unwrap();
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn replay_stdin(history: &str) -> Output {
    npp(&["replay", "-"], Some(history))
}

fn json(output: &Output) -> serde_json::Value {
    let text = String::from_utf8(output.stdout.clone()).unwrap();
    serde_json::from_str(text.trim()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

fn example(name: &str) -> String {
    std::fs::read_to_string(examples().join(name)).unwrap()
}

#[test]
fn exit_0_prints_one_json_object_with_the_contract_keys() {
    let path = examples().join("retried.jsonl");
    let output = npp(&["replay", path.to_str().unwrap()], None);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report = json(&output);
    assert_eq!(report["payment_intent_id"], "pay_002");
    assert_eq!(report["state"], "SETTLED");
    assert_eq!(report["event_count"], 8);
    assert_eq!(report["attempts"], 2);
    assert_eq!(report["duplicates_ignored"], 0);
    let hash = report["state_hash"].as_str().unwrap();
    assert_eq!(hash.len(), 64);
    assert!(
        hash.chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
}

#[test]
fn exit_0_for_every_shipped_example() {
    for name in [
        "settled.jsonl",
        "retried.jsonl",
        "cancelled.jsonl",
        "late-failure-with-duplicate.jsonl",
        "down-again-after-retry.jsonl",
    ] {
        let output = replay_stdin(&example(name));
        assert_eq!(output.status.code(), Some(0), "{name}: {}", stderr(&output));
    }
}

#[test]
fn a_duplicate_outcome_line_gives_the_same_hash_as_without_it() {
    let with_duplicate = example("late-failure-with-duplicate.jsonl");
    let without: String = with_duplicate
        .lines()
        .take(5)
        .map(|l| format!("{l}\n"))
        .collect();
    let a = json(&replay_stdin(&with_duplicate));
    let b = json(&replay_stdin(&without));
    assert_eq!(a["state_hash"], b["state_hash"]);
    assert_eq!(a["duplicates_ignored"], 1);
    assert_eq!(b["duplicates_ignored"], 0);
}

#[test]
fn a_new_failure_after_a_retry_is_a_fact_not_a_duplicate() {
    // The rail was down, an operator retried, the rail was down again: word for word the same
    // failure, but a new fact. The payment ends FAILED and nothing is called a duplicate.
    let report = json(&replay_stdin(&example("down-again-after-retry.jsonl")));
    assert_eq!(report["state"], "FAILED");
    assert_eq!(report["duplicates_ignored"], 0);
}

#[test]
fn exit_1_names_the_event_number_its_type_and_the_rule() {
    let output = replay_stdin(&example("invalid/settle-after-expiry.jsonl"));
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let message = stderr(&output);
    assert!(message.contains("event 3"), "{message}");
    assert!(message.contains("PaymentSettled"), "{message}");
    assert!(message.contains("lifecycle/terminal-state"), "{message}");
}

#[test]
fn exit_1_for_a_cancel_after_send_says_a_recall_is_needed() {
    let mut history: String = example("settled.jsonl")
        .lines()
        .take(3)
        .map(|l| format!("{l}\n"))
        .collect();
    history.push_str(r#"{"type":"PaymentCancelled","payment_intent_id":"pay_001","occurred_at":"2025-12-17T09:31:00Z","reason":"member changed their mind","approval":{"approval_id":"apr_9","requested_by":"alice","approved_by":"bob","approved_at":"2025-12-17T09:30:59Z","reason":"member request"}}"#);
    let output = replay_stdin(&history);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains("event 4 (PaymentCancelled"), "{message}");
    assert!(message.contains("recall"), "{message}");
}

#[test]
fn exit_2_for_bad_json_names_the_line() {
    let history = format!(
        "{}\n{{not json\n",
        example("settled.jsonl").lines().next().unwrap()
    );
    let output = replay_stdin(&history);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("line 2"), "{}", stderr(&output));
}

#[test]
fn exit_2_for_an_unknown_type_names_the_line_and_the_type() {
    let output = replay_stdin(
        r#"{"type":"PaymentTeleported","payment_intent_id":"p","occurred_at":"2025-12-17T09:30:00Z"}"#,
    );
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("line 1") && message.contains("PaymentTeleported"),
        "{message}"
    );
}

#[test]
fn exit_2_for_a_missing_field_names_the_line_and_the_field() {
    let first = example("settled.jsonl")
        .lines()
        .next()
        .unwrap()
        .replace(r#""amount":50000,"#, "");
    let output = replay_stdin(&first);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("line 1") && message.contains("amount"),
        "{message}"
    );
}

#[test]
fn exit_2_for_a_non_utc_time_and_for_a_missing_file() {
    let first = example("settled.jsonl")
        .lines()
        .next()
        .unwrap()
        .replace('Z', "+10:00");
    let output = replay_stdin(&first);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("UTC"), "{}", stderr(&output));
    let missing = npp(&["replay", "/nonexistent/history.jsonl"], None);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn blank_lines_are_skipped_but_counted_in_line_numbers() {
    let history = format!(
        "\n{}\n\n{{\n",
        example("settled.jsonl").lines().next().unwrap()
    );
    let output = replay_stdin(&history);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("line 4"), "{}", stderr(&output));
}

#[test]
fn exit_2_for_a_byte_order_mark_says_so_in_plain_words() {
    // Some editors save "UTF-8" with a byte order mark (EF BB BF) in front of the first line.
    let history = format!("\u{FEFF}{}", example("settled.jsonl"));
    let output = replay_stdin(&history);
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    let message = stderr(&output);
    assert!(
        message.contains("line 1: the file starts with a UTF-8 byte order mark"),
        "{message}"
    );
    assert!(message.contains("without a BOM"), "{message}");
    assert!(!message.contains("expected value"), "{message}");
}
