//! `npp evidence` end to end: the real binary exports the example histories, verifies packs with
//! exit 0, 1 or 2, and makes and uses a signing key pair.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

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

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Exports `examples/<name>` into `dir` and returns the pack's path.
fn exported(dir: &Path, name: &str) -> PathBuf {
    let pack = dir.join(format!("{name}.evidence.json"));
    let output = npp(&[
        "evidence",
        "export",
        "--events",
        &example(name),
        "-o",
        path_str(&pack),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    pack
}

#[test]
fn exit_0_exports_and_verifies_every_example() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "settled.jsonl",
        "retried.jsonl",
        "cancelled.jsonl",
        "late-failure-with-duplicate.jsonl",
    ] {
        // given an exported example
        let pack = exported(dir.path(), name);
        // when it is verified
        let output = npp(&["evidence", "verify", path_str(&pack)]);
        // then it is valid, in one line
        assert_eq!(output.status.code(), Some(0), "{name}: {}", stderr(&output));
        let out = stdout(&output);
        assert_eq!(out.lines().count(), 1, "{out}");
        assert!(out.contains("valid: payment pay_"), "{out}");
        assert!(out.contains("unsigned"), "{out}");
    }
}

#[test]
fn export_without_output_writes_the_same_pack_to_stdout_every_time() {
    let dir = tempfile::tempdir().unwrap();
    let file = std::fs::read(exported(dir.path(), "retried.jsonl")).unwrap();
    let first = npp(&["evidence", "export", "--events", &example("retried.jsonl")]);
    let second = npp(&["evidence", "export", "--events", &example("retried.jsonl")]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert_eq!(first.stdout, second.stdout);
    assert_eq!(first.stdout, file);
    let pack: Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(pack["format"], "npp-evidence-pack");
    assert_eq!(pack["operator_actions"][0]["request_id"], "apr_001");
    assert_eq!(pack["rail_decisions"], json!([]));
}

#[test]
fn exit_1_names_the_first_bad_element() {
    let dir = tempfile::tempdir().unwrap();
    let pack_path = exported(dir.path(), "settled.jsonl");
    let original: Value = serde_json::from_slice(&std::fs::read(&pack_path).unwrap()).unwrap();
    for (field, value, named) in [
        (
            &["lifecycle_events", "4", "funds_transferred"][..],
            json!(1),
            "lifecycle_events[4].funds_transferred",
        ),
        (
            &["lifecycle_events", "4", "settlement_ref"][..],
            json!("other"),
            "lifecycle_events[4]",
        ),
        (
            &["proof", "state_hash"][..],
            json!("0".repeat(64)),
            "proof.state_hash",
        ),
        (
            &["proof", "chain_head"][..],
            json!("0".repeat(64)),
            "proof.chain_head",
        ),
    ] {
        // given a pack with one value changed
        let mut tampered = original.clone();
        let target = field
            .iter()
            .fold(&mut tampered, |v, k| match k.parse::<usize>() {
                Ok(i) => &mut v[i],
                Err(_) => &mut v[*k],
            });
        *target = value;
        let file = dir.path().join("tampered.json");
        std::fs::write(&file, serde_json::to_vec_pretty(&tampered).unwrap()).unwrap();
        // when it is verified
        let output = npp(&["evidence", "verify", path_str(&file)]);
        // then it is invalid, and stderr names the place
        assert_eq!(
            output.status.code(),
            Some(1),
            "{named}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains(&format!("invalid: {named}:")),
            "{}",
            stderr(&output)
        );
        assert!(stdout(&output).is_empty());
    }
}

#[test]
fn exit_2_when_the_file_is_not_a_readable_pack() {
    let dir = tempfile::tempdir().unwrap();
    let mut newer: Value =
        serde_json::from_slice(&std::fs::read(exported(dir.path(), "settled.jsonl")).unwrap())
            .unwrap();
    newer["schema_version"] = json!(99);
    let cases = [
        ("missing.json", None),
        ("not-json.json", Some(b"this is not json".to_vec())),
        ("not-a-pack.json", Some(b"{\"hello\":\"world\"}".to_vec())),
        ("newer.json", Some(serde_json::to_vec(&newer).unwrap())),
    ];
    for (name, content) in cases {
        let file = dir.path().join(name);
        if let Some(content) = content {
            std::fs::write(&file, content).unwrap();
        }
        let output = npp(&["evidence", "verify", path_str(&file)]);
        assert_eq!(output.status.code(), Some(2), "{name}: {}", stderr(&output));
        assert!(stderr(&output).contains(name), "{}", stderr(&output));
    }
}

#[test]
fn export_refuses_an_illegal_history_with_1_and_an_unreadable_one_with_2() {
    let illegal = npp(&[
        "evidence",
        "export",
        "--events",
        &example("invalid/settle-after-expiry.jsonl"),
    ]);
    assert_eq!(illegal.status.code(), Some(1), "{}", stderr(&illegal));
    assert!(
        stderr(&illegal).contains("lifecycle/terminal-state"),
        "{}",
        stderr(&illegal)
    );
    assert!(
        stderr(&illegal).contains("lifecycle_events[2].type"),
        "{}",
        stderr(&illegal)
    );
    assert!(illegal.stdout.is_empty());
    let missing = npp(&[
        "evidence",
        "export",
        "--events",
        "/nonexistent/history.jsonl",
    ]);
    assert_eq!(missing.status.code(), Some(2), "{}", stderr(&missing));
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.jsonl");
    std::fs::write(&garbage, "{\"type\":\"PaymentIntentCreated\"}\n").unwrap();
    let output = npp(&["evidence", "export", "--events", path_str(&garbage)]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("line 1"), "{}", stderr(&output));
}

#[test]
fn keygen_sign_and_verify_with_the_right_and_the_wrong_key() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let other = dir.path().join("other");
    // given two key pairs
    for out in [&keys, &other] {
        let output = npp(&["evidence", "keygen", "--out-dir", path_str(out)]);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    }
    let private = std::fs::read_to_string(keys.join("evidence.key")).unwrap();
    let lines: Vec<&str> = private.lines().collect();
    assert_eq!(lines.len(), 2, "{private}");
    assert_eq!(lines[0], "NPP-EVIDENCE-ED25519-PRIVATE-KEY");
    assert_eq!(lines[1].len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(keys.join("evidence.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o077,
            0,
            "the private key is readable by its owner only"
        );
    }
    // when a pack is exported with the first private key
    let pack = dir.path().join("signed.json");
    let output = npp(&[
        "evidence",
        "export",
        "--events",
        &example("cancelled.jsonl"),
        "--sign-key",
        path_str(&keys.join("evidence.key")),
        "-o",
        path_str(&pack),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    // then it verifies against the first public key
    let right = npp(&[
        "evidence",
        "verify",
        path_str(&pack),
        "--public-key",
        path_str(&keys.join("evidence.pub")),
    ]);
    assert_eq!(right.status.code(), Some(0), "{}", stderr(&right));
    assert!(
        stdout(&right).contains("signed by the trusted key"),
        "{}",
        stdout(&right)
    );
    // and not against the other
    let wrong = npp(&[
        "evidence",
        "verify",
        path_str(&pack),
        "--public-key",
        path_str(&other.join("evidence.pub")),
    ]);
    assert_eq!(wrong.status.code(), Some(1), "{}", stderr(&wrong));
    assert!(
        stderr(&wrong).contains("signature.public_key"),
        "{}",
        stderr(&wrong)
    );
    // and an unsigned pack does not satisfy a required key
    let unsigned = exported(dir.path(), "cancelled.jsonl");
    let output = npp(&[
        "evidence",
        "verify",
        path_str(&unsigned),
        "--public-key",
        path_str(&keys.join("evidence.pub")),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    // and a public key file that is not a key is unreadable
    let junk = dir.path().join("junk.pub");
    std::fs::write(&junk, "not a key\n").unwrap();
    let output = npp(&[
        "evidence",
        "verify",
        path_str(&pack),
        "--public-key",
        path_str(&junk),
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
}

#[test]
fn keygen_refuses_to_overwrite_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let first = npp(&["evidence", "keygen", "--out-dir", path_str(dir.path())]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let key_before = std::fs::read(dir.path().join("evidence.key")).unwrap();
    let second = npp(&["evidence", "keygen", "--out-dir", path_str(dir.path())]);
    assert_eq!(second.status.code(), Some(2), "{}", stderr(&second));
    assert!(
        stderr(&second).contains("refusing to overwrite"),
        "{}",
        stderr(&second)
    );
    assert_eq!(
        std::fs::read(dir.path().join("evidence.key")).unwrap(),
        key_before
    );
    // two key pairs are never the same
    let elsewhere = dir.path().join("elsewhere");
    let third = npp(&["evidence", "keygen", "--out-dir", path_str(&elsewhere)]);
    assert_eq!(third.status.code(), Some(0), "{}", stderr(&third));
    assert_ne!(
        std::fs::read(elsewhere.join("evidence.key")).unwrap(),
        key_before
    );
}

#[test]
fn a_public_key_is_refused_as_a_signing_key() {
    // Given a key pair
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let output = npp(&["evidence", "keygen", "--out-dir", path_str(&keys)]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    // When the public key is given as the signing key
    let output = npp(&[
        "evidence",
        "export",
        "--events",
        &example("cancelled.jsonl"),
        "--sign-key",
        path_str(&keys.join("evidence.pub")),
    ]);
    // Then it is refused, saying which file is which
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("public key file"),
        "{}",
        stderr(&output)
    );
}

#[cfg(unix)]
#[test]
fn keygen_leaves_no_orphan_key_and_a_private_directory() {
    use std::os::unix::fs::PermissionsExt;
    // Given a dangling symbolic link where the public key would go
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    std::os::unix::fs::symlink(dir.path().join("nowhere"), keys.join("evidence.pub")).unwrap();
    // When keygen runs there
    let output = npp(&["evidence", "keygen", "--out-dir", path_str(&keys)]);
    // Then it refuses, and no private key is left behind
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(!keys.join("evidence.key").exists());
    // And a directory keygen makes is its owner's alone, whatever the umask
    let fresh = dir.path().join("fresh");
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "umask 000 && exec {} evidence keygen --out-dir {}",
            env!("CARGO_BIN_EXE_npp"),
            fresh.display()
        ))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let mode = std::fs::metadata(&fresh).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "mode {mode:o}");
}

#[test]
fn export_never_replaces_a_key_and_writes_whole_files() {
    // Given a key pair and an earlier pack
    let dir = tempfile::tempdir().unwrap();
    let output = npp(&["evidence", "keygen", "--out-dir", path_str(dir.path())]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let key = dir.path().join("evidence.key");
    let before = std::fs::read(&key).unwrap();
    // When a pack is exported with -o pointing at the private key
    let output = npp(&[
        "evidence",
        "export",
        "--events",
        &example("cancelled.jsonl"),
        "-o",
        path_str(&key),
    ]);
    // Then it is refused and the key is untouched
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("refusing to replace"),
        "{}",
        stderr(&output)
    );
    assert_eq!(std::fs::read(&key).unwrap(), before);
    // And an earlier pack is replaced whole by the new one, leaving no temporary file behind
    let pack = exported(dir.path(), "cancelled.jsonl");
    let output = npp(&[
        "evidence",
        "export",
        "--events",
        &example("retried.jsonl"),
        "-o",
        path_str(&pack),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let verified = npp(&["evidence", "verify", path_str(&pack)]);
    assert_eq!(verified.status.code(), Some(0), "{}", stderr(&verified));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn exit_1_on_a_duplicate_key_in_a_signed_pack() {
    // Given a key pair and a pack signed with it
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let output = npp(&["evidence", "keygen", "--out-dir", path_str(&keys)]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let pack = dir.path().join("signed.json");
    let output = npp(&[
        "evidence",
        "export",
        "--events",
        &example("settled.jsonl"),
        "--sign-key",
        path_str(&keys.join("evidence.key")),
        "-o",
        path_str(&pack),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    // And the same file with a forged amount written before the genuine one in the first event,
    // which a reader keeping the last value would never see
    let text = std::fs::read_to_string(&pack).unwrap();
    let anchor = "\"lifecycle_events\":[{";
    let at = text.find(anchor).unwrap() + anchor.len();
    let doubled = dir.path().join("doubled.json");
    std::fs::write(
        &doubled,
        format!("{}\"amount\":1,{}", &text[..at], &text[at..]),
    )
    .unwrap();
    let public = keys.join("evidence.pub");
    for args in [
        vec!["evidence", "verify", path_str(&doubled)],
        vec![
            "evidence",
            "verify",
            path_str(&doubled),
            "--public-key",
            path_str(&public),
        ],
    ] {
        // When it is verified, with or without the trusted key
        let output = npp(&args);
        // Then it is invalid (exit 1), naming the repeated key
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        assert!(
            stderr(&output).contains("invalid: lifecycle_events[0].amount: duplicate key"),
            "{}",
            stderr(&output)
        );
        assert!(stdout(&output).is_empty());
    }
    // And the genuine pack still verifies against the key, naming its schema version
    let output = npp(&[
        "evidence",
        "verify",
        path_str(&pack),
        "--public-key",
        path_str(&public),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("schema version 2"),
        "{}",
        stdout(&output)
    );
}
