//! Scale-out on PostgreSQL: two `npp` processes share one database; one is killed midway; the
//! other finishes every payment, and no attempt ever reaches the rail twice.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

fn simulate(url: &str, schema: &str, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_npp"));
    command
        .args([
            "simulate",
            "--payments",
            "240",
            "--seed",
            "5",
            "--json",
            "--database-url",
            url,
            "--schema",
            schema,
        ])
        .args(extra)
        .env_remove("NPP_DATABASE_URL");
    command
}

#[test]
fn two_processes_share_the_work_and_one_dying_loses_nothing() {
    let Some(url) = support::database_url() else {
        return;
    };
    let schema = format!("scale_{}", std::process::id());
    let first = simulate(&url, &schema, &["--worker-id", "first"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The second process starts as soon as the first has written its first events (its
    // simulated clock among them), not after a fixed pause: the first sends and delivers each
    // tick's payments in a few commits, so on a loaded machine a late second process could find
    // the run already over.
    let mut probe = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let written = format!("SELECT count(*) FROM {schema}.events");
    for _ in 0..200 {
        let events: i64 = probe
            .query_opt(&written, &[])
            .ok()
            .flatten()
            .map_or(0, |row| row.get(0));
        if events > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut second = simulate(&url, &schema, &["--workers-only", "--worker-id", "second"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill the second process midway: once it holds a share of the outbox, not before.
    let mut watcher = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let share = format!("SELECT count(*) FROM {schema}.outbox WHERE lease_owner = 'second'");
    for _ in 0..200 {
        let taken: i64 = watcher
            .query_opt(&share, &[])
            .ok()
            .flatten()
            .map_or(0, |row| row.get(0));
        if taken > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let killed = second.try_wait().unwrap().is_none();
    if killed {
        second.kill().unwrap();
    }
    second.wait().unwrap();
    let output = first.wait_with_output().unwrap();
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let delivered_by_second: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM {schema}.outbox WHERE lease_owner = 'second'"),
            &[],
        )
        .unwrap()
        .get(0);
    client
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["payments"], 240, "{summary}");
    assert_eq!(summary["replay_verified"], 240, "{summary}");
    assert_eq!(
        summary["max_deliveries_per_message"], 1,
        "an attempt reached the rail twice: {summary}"
    );
    let settled = summary["by_state"]["SETTLED"].as_u64().unwrap_or(0);
    let failed = summary["by_state"]["FAILED"].as_u64().unwrap_or(0);
    assert_eq!(settled + failed, 240, "every payment final: {summary}");
    assert!(
        killed,
        "the second process finished before it could be killed midway"
    );
    assert!(
        delivered_by_second > 0,
        "the second process never took a share of the outbox"
    );
}
