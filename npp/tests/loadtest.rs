//! `npp loadtest` end to end on the memory and SQLite stores: the JSON contract and sane figures.
//! (Speed itself is measured by running it, never asserted in a test.)
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod support;

use std::process::Command;

fn loadtest(args: &[&str]) -> serde_json::Value {
    let output = Command::new(env!("CARGO_BIN_EXE_npp"))
        .args(["loadtest", "--json"])
        .args(args)
        .env_remove("NPP_DATABASE_URL")
        .output()
        .unwrap();
    support::json_of(&output)
}

#[test]
fn memory_and_sqlite_report_the_contract_keys() {
    for store in ["memory", "sqlite"] {
        let report = loadtest(&["--store", store, "--payments", "300", "--concurrency", "4"]);
        for key in [
            "payments_per_sec",
            "events_per_sec",
            "p50_ms",
            "p99_ms",
            "peak_rss_mb",
        ] {
            assert!(
                report[key].as_f64().is_some_and(|v| v > 0.0),
                "{store}: {key} in {report}"
            );
        }
        assert_eq!(report["payments"], 300);
        // The mix: about 5 events a payment, a few more for the retried ones.
        let events = report["events"].as_u64().unwrap();
        assert!((1_400..=1_700).contains(&events), "{store}: {report}");
        assert!(report["p50_ms"].as_f64() <= report["p99_ms"].as_f64());
    }
}

#[test]
fn an_open_loop_run_keeps_its_rate() {
    let report = loadtest(&[
        "--store",
        "memory",
        "--payments",
        "200",
        "--rate",
        "400",
        "--concurrency",
        "8",
    ]);
    let rate = report["payments_per_sec"].as_f64().unwrap();
    assert!(
        rate <= 440.0,
        "the open loop ran faster than asked: {report}"
    );
    assert_eq!(report["rate"], 400);
}

#[test]
fn postgres_without_a_url_is_a_clear_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_npp"))
        .args(["loadtest", "--store", "postgres", "--payments", "10"])
        .env_remove("NPP_DATABASE_URL")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--database-url"));
}

#[test]
fn batched_commands_write_the_same_histories_as_single_ones_on_every_store() {
    let url = support::database_url();
    let mut stores = vec![vec!["--store", "memory"], vec!["--store", "sqlite"]];
    if let Some(url) = &url {
        stores.push(vec!["--store", "postgres", "--database-url", url]);
    }
    for store in stores {
        let run = |extra: &[&str]| {
            let mut args = store.clone();
            args.extend_from_slice(&["--payments", "400"]);
            args.extend_from_slice(extra);
            loadtest(&args)
        };
        let single = run(&["--concurrency", "4"]);
        let batched = run(&["--concurrency", "3", "--batch", "50"]);
        // Every payment's script ran to its end either way: same events, same commands.
        assert_eq!(single["events"], batched["events"], "{store:?}");
        assert_eq!(single["commands"], batched["commands"], "{store:?}");
        assert_eq!(batched["batch"], 50);
    }
}

#[test]
fn a_batch_outside_its_range_is_refused() {
    let output = Command::new(env!("CARGO_BIN_EXE_npp"))
        .args(["loadtest", "--store", "memory", "--batch", "0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--batch"));
}
