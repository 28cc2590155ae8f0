//! What a crash, a careless operator or an attacker could do, each reproduced against the real
//! binary: the simulator and foreign payments, a kill between approval and execution, first use
//! of a new store from many processes, imports and idempotency keys, closed pipes, and arguments
//! checked before long work.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

fn example(name: &str) -> String {
    examples().join(name).to_str().unwrap().to_owned()
}

fn npp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_npp"))
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ok(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    text(&output.stdout)
}

fn import(db: &str, name: &str) -> Output {
    npp(&["payment", "import", &example(name), "--db", db])
}

fn state_of(db: &str, id: &str) -> String {
    let shown = ok(&npp(&["payment", "show", id, "--db", db]));
    shown.lines().next().unwrap().to_owned()
}

#[test]
fn simulate_refuses_a_store_holding_payments_it_did_not_create() {
    // Given a store with an imported payment in it (timed out, so retryable)
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let db = db.to_str().unwrap();
    ok(&import(db, "timed-out.jsonl"));
    let before = state_of(db, "pay_006");
    // When a simulation is started on it
    let refused = npp(&["simulate", "--payments", "30", "--db", db]);
    // Then it is refused before doing anything, naming the foreign payment
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stderr));
    assert!(
        text(&refused.stderr).contains("pay_006")
            && text(&refused.stderr).contains("--share-store"),
        "{}",
        text(&refused.stderr)
    );
    // And with --share-store it runs beside it and never touches it: no approval nobody made,
    // no expiry, nothing
    let shared = npp(&[
        "simulate",
        "--payments",
        "30",
        "--share-store",
        "--json",
        "--db",
        db,
    ]);
    ok(&shared);
    assert_eq!(state_of(db, "pay_006"), before);
    let history = ok(&npp(&["payment", "show", "pay_006", "--db", db]));
    assert!(!history.contains("PaymentRetryApproved"), "{history}");
    assert!(!history.contains("PaymentExpired"), "{history}");
    // And its own payments did not all expire (the clock did not jump to the foreign payment's)
    let summary: serde_json::Value = serde_json::from_slice(&shared.stdout).unwrap();
    assert!(
        summary["by_state"]["SETTLED"].as_u64().unwrap_or(0) > 0,
        "{summary}"
    );
}

#[test]
fn first_use_of_a_new_store_by_eight_processes_at_once_never_races() {
    // Given eight histories and no store yet
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fresh.db");
    let db = db.to_str().unwrap().to_owned();
    let names = [
        "authorised.jsonl",
        "cancelled.jsonl",
        "down-again-after-retry.jsonl",
        "late-failure-with-duplicate.jsonl",
        "retried.jsonl",
        "settled.jsonl",
        "stuck-in-sent.jsonl",
        "timed-out.jsonl",
    ];
    // When eight processes import into it at the same moment
    let children: Vec<_> = names
        .iter()
        .map(|name| {
            Command::new(env!("CARGO_BIN_EXE_npp"))
                .args(["payment", "import", &example(name), "--db", &db])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // Then every one succeeds (no "database is locked", no migration run twice)
    for (name, child) in names.iter().zip(children) {
        let output = child.wait_with_output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{name}: {}",
            text(&output.stderr)
        );
    }
    let verified = ok(&npp(&["store", "verify", "--db", &db]));
    assert!(verified.contains("8 payments"), "{verified}");
}

#[test]
fn an_import_claims_the_intents_idempotency_key() {
    // Given an imported payment
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let db = db.to_str().unwrap();
    ok(&import(db, "settled.jsonl"));
    // When another payment with the same idempotency key is imported
    let original = std::fs::read_to_string(example("settled.jsonl")).unwrap();
    let first = original
        .lines()
        .next()
        .unwrap()
        .replace("pay_001", "pay_dup");
    let other = dir.path().join("same-key.jsonl");
    std::fs::write(&other, format!("{first}\n")).unwrap();
    let refused = npp(&["payment", "import", other.to_str().unwrap(), "--db", db]);
    // Then it is refused: two payments never hold one key
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    assert!(
        text(&refused.stderr).contains("idem_001"),
        "{}",
        text(&refused.stderr)
    );
    let shown = npp(&["payment", "show", "pay_dup", "--db", db]);
    assert_eq!(shown.status.code(), Some(1));
    // And the same file again is refused as already imported
    let again = import(db, "settled.jsonl");
    assert_eq!(again.status.code(), Some(1), "{}", text(&again.stderr));
}

/// Runs `npp` with its standard output a pipe whose reader has already gone.
fn with_closed_stdout(args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let child = Command::new(env!("CARGO_BIN_EXE_npp"))
        .args(args)
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn a_closed_pipe_ends_a_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let db = db.to_str().unwrap();
    ok(&import(db, "timed-out.jsonl"));
    ok(&npp(&[
        "ops",
        "request",
        "retry",
        "--payment",
        "pay_006",
        "--by",
        "alice",
        "--reason",
        "rail timed out",
        "--policy",
        &example("policy.toml"),
        "--db",
        db,
    ]));
    for args in [
        vec!["ops", "list", "--db", db],
        vec!["payment", "show", "pay_006", "--db", db],
        vec!["store", "verify", "--db", db],
        vec!["replay", &example("settled.jsonl")],
    ] {
        let output = with_closed_stdout(&args);
        let stderr = text(&output.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(
            matches!(output.status.code(), Some(0 | 141)),
            "{args:?}: {:?} {stderr}",
            output.status
        );
    }
}

#[test]
fn a_directory_given_as_the_store_is_named_as_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    for args in [
        vec!["store", "verify", "--db", path],
        vec!["payment", "show", "pay_001", "--db", path],
        vec!["payment", "import", &example("settled.jsonl"), "--db", path],
    ] {
        let output = npp(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(
            text(&output.stderr).contains("directory"),
            "{args:?}: {}",
            text(&output.stderr)
        );
    }
}

#[test]
fn simulate_checks_its_evidence_directory_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let db = dir.path().join("sim.db");
    let started = std::time::Instant::now();
    let output = npp(&[
        "simulate",
        "--evidence-dir",
        file.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("not a directory"),
        "{}",
        text(&output.stderr)
    );
    // Refused up front: no store was even created.
    assert!(!db.exists());
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}

/// A tiny deterministic generator, so every kill delay is reproducible from the printed seed.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn a_kill_during_approval_never_leaves_an_approved_action_that_did_not_run() {
    let seed: u64 = std::env::var("NPP_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_0A11);
    eprintln!("kill test seed {seed} (NPP_KILL_SEED reproduces it)");
    let mut rng = seed;
    let dir = tempfile::tempdir().unwrap();
    let policy = example("policy.toml");
    for round in 0..40 {
        let db = dir.path().join(format!("k{round}.db"));
        let db = db.to_str().unwrap();
        ok(&import(db, "timed-out.jsonl"));
        let requested = ok(&npp(&[
            "ops",
            "request",
            "retry",
            "--payment",
            "pay_006",
            "--by",
            "alice",
            "--reason",
            "rail timed out",
            "--policy",
            &policy,
            "--db",
            db,
        ]));
        let request = requested.lines().last().unwrap().to_owned();
        // When the approving process is killed 0 to 10 ms after it starts
        let mut child = Command::new(env!("CARGO_BIN_EXE_npp"))
            .args([
                "ops", "approve", &request, "--by", "bob", "--policy", &policy, "--db", db,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let delay = next(&mut rng) % 11;
        std::thread::sleep(std::time::Duration::from_millis(delay));
        let _ = child.kill();
        let _ = child.wait();
        // Then the request is pending (nothing happened) or executed (everything did): never
        // approved-but-not-run, which anyone could have finished
        let listed = ok(&npp(&["ops", "list", "--db", db]));
        let status = listed
            .lines()
            .find(|l| l.starts_with(&request))
            .unwrap()
            .to_owned();
        assert!(
            status.contains(" pending ") || status.contains(" executed "),
            "round {round} (killed after {delay} ms): {status}"
        );
        // And dave, whom the policy does not know, can never run it
        let dave = npp(&[
            "ops", "approve", &request, "--by", "dave", "--policy", &policy, "--db", db,
        ]);
        assert_eq!(
            dave.status.code(),
            Some(1),
            "round {round}: {}",
            text(&dave.stderr)
        );
        ok(&npp(&["store", "verify", "--db", db]));
    }
}

#[test]
fn the_largest_payments_keep_every_derived_figure_exact() {
    // Given three payments at the largest amount from one payer, and one ordinary payment
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("big.db");
    let db = db.to_str().unwrap();
    let original = std::fs::read_to_string(example("settled.jsonl")).unwrap();
    let max = core_npp::Money::MAX_PAYMENT.minor_units().to_string();
    for n in 0..3 {
        let history: String = original
            .lines()
            .map(|l| {
                format!(
                    "{}\n",
                    l.replace("pay_001", &format!("pay_big{n}"))
                        .replace("idem_001", &format!("idem_big{n}"))
                        .replace("50000", &max)
                )
            })
            .collect();
        let file = dir.path().join(format!("big{n}.jsonl"));
        std::fs::write(&file, history).unwrap();
        ok(&npp(&[
            "payment",
            "import",
            file.to_str().unwrap(),
            "--db",
            db,
        ]));
    }
    ok(&import(db, "settled.jsonl"));
    // When the ordinary payment is shown and every big one exported
    let shown = ok(&npp(&["payment", "show", "pay_001", "--db", db]));
    assert!(shown.contains("funds"), "{shown}");
    for n in 0..3 {
        let pack = dir.path().join(format!("big{n}.json"));
        ok(&npp(&[
            "evidence",
            "export",
            "--payment",
            &format!("pay_big{n}"),
            "--db",
            db,
            "-o",
            pack.to_str().unwrap(),
        ]));
        ok(&npp(&["evidence", "verify", pack.to_str().unwrap()]));
    }
    // And an amount over the limit is refused on the way in
    let over = original
        .lines()
        .next()
        .unwrap()
        .replace("pay_001", "pay_over")
        .replace("idem_001", "idem_over")
        .replace("50000", &i64::MAX.to_string());
    let file = dir.path().join("over.jsonl");
    std::fs::write(&file, format!("{over}\n")).unwrap();
    let refused = npp(&["payment", "import", file.to_str().unwrap(), "--db", db]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    assert!(
        text(&refused.stderr).contains("money/amount-within-limit"),
        "{}",
        text(&refused.stderr)
    );
}

#[test]
fn an_approval_dated_before_the_payment_is_refused_everywhere() {
    // Given a retried history whose approval is dated a day before the payment existed
    let dir = tempfile::tempdir().unwrap();
    let history = std::fs::read_to_string(example("retried.jsonl")).unwrap();
    let approved_at = history
        .split("\"approved_at\":\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let forged = history.replace(&approved_at, "2025-12-16T09:00:00Z");
    let file = dir.path().join("forged.jsonl");
    std::fs::write(&file, forged).unwrap();
    let path = file.to_str().unwrap();
    // Then replay, import and export refuse it, naming the rule
    let db = dir.path().join("x.db");
    for args in [
        vec!["replay", path],
        vec!["payment", "import", path, "--db", db.to_str().unwrap()],
        vec!["evidence", "export", "--events", path],
    ] {
        let output = npp(&args);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{args:?}: {}",
            text(&output.stderr)
        );
        assert!(
            text(&output.stderr).contains("identity/approval-after-intent"),
            "{args:?}: {}",
            text(&output.stderr)
        );
    }
}
