//! `npp simulate` end to end: the JSON contract, and restart safety — the real binary killed
//! several times mid-run, then run again on the same database, finishes the same work as an
//! uninterrupted run with the same seed, without ever delivering an attempt to the rail twice.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

const PAYMENTS: &str = "400";

fn simulate(db: &Path, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_npp"));
    command.args([
        "simulate",
        "--payments",
        PAYMENTS,
        "--seed",
        "11",
        "--json",
        "--db",
        db.to_str().unwrap(),
    ]);
    command.args(extra).env_remove("NPP_DATABASE_URL");
    command
}

fn summary(db: &Path, extra: &[&str]) -> Value {
    support::json_of(&simulate(db, extra).output().unwrap())
}

#[test]
fn the_summary_has_the_contract_keys_and_every_stream_is_verified() {
    let dir = tempfile::tempdir().unwrap();
    let s = summary(&dir.path().join("npp.db"), &["--faults", "chaos"]);
    for key in [
        "payments",
        "by_state",
        "events",
        "duplicates_suppressed",
        "payments_per_sec",
        "replay_verified",
    ] {
        assert!(s.get(key).is_some(), "missing {key}: {s}");
    }
    assert_eq!(s["payments"], 400);
    assert_eq!(s["replay_verified"], s["payments"]);
    assert_eq!(s["max_deliveries_per_message"], 1);
    let verify = Command::new(env!("CARGO_BIN_EXE_npp"))
        .args([
            "store",
            "verify",
            "--db",
            dir.path().join("npp.db").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
}

#[test]
fn killing_the_run_and_starting_again_finishes_the_same_work() {
    let dir = tempfile::tempdir().unwrap();
    let interrupted = dir.path().join("interrupted.db");
    let mut seed = 0x5EED_u64;
    for round in 0..4 {
        let mut child = simulate(&interrupted, &[])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(300 + seed % 900));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
        }
        child.wait().unwrap();
        eprintln!("round {round}: killed");
    }
    let resumed = summary(&interrupted, &[]);
    let clean = summary(&dir.path().join("clean.db"), &[]);
    for key in ["payments", "by_state", "attempts", "replay_verified"] {
        assert_eq!(
            resumed[key], clean[key],
            "{key}: resumed {resumed} vs uninterrupted {clean}"
        );
    }
    assert_eq!(
        resumed["max_deliveries_per_message"], 1,
        "an attempt reached the rail twice: {resumed}"
    );
    assert_eq!(resumed["operator_queue"], 0);
}
