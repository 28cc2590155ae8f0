//! The README's curl walk-through of the HTTP API, run as it is written: the shell block between
//! the `api-walkthrough` markers, in a scratch directory with the examples, with `npp` on the
//! PATH and the server on a free port instead of 8080. Every command whose line ends in a
//! `# VALUE` comment must print that value.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod server;

use std::path::Path;
use std::process::Command;

use server::readme_block;

/// The values the walk-through says its commands print, in order: `cmd   # VALUE`.
fn expected_values(script: &str) -> Vec<String> {
    script
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .filter_map(|line| line.rsplit_once("   # ").map(|(_, v)| v.trim().to_owned()))
        .collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn the_readme_api_walkthrough_runs_as_written() {
    for tool in ["curl", "jq", "bash"] {
        let found = Command::new(tool).arg("--version").output().is_ok();
        assert!(found, "the README's walk-through needs {tool}");
    }
    let script = readme_block("api-walkthrough", "sh");
    let expected = expected_values(&script);
    assert!(
        expected.len() >= 5,
        "the walk-through shows its results: {expected:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let examples = dir.path().join("examples");
    std::fs::create_dir(&examples).unwrap();
    for file in ["timed-out.jsonl", "policy.toml"] {
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../examples")
                .join(file),
            examples.join(file),
        )
        .unwrap();
    }
    let port = free_port();
    let script = script
        .replace(
            "npp serve --db",
            &format!("npp serve --listen 127.0.0.1:{port} --db"),
        )
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"));
    let binary_dir = Path::new(env!("CARGO_BIN_EXE_npp")).parent().unwrap();
    let path = format!(
        "{}:{}",
        binary_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(dir.path())
        .env("PATH", path)
        .env_remove("NPP_DATABASE_URL")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the walk-through failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    let printed: Vec<&str> = stdout
        .lines()
        .filter(|l| {
            !l.starts_with("added ") && !l.starts_with("npp_") && !l.starts_with("npp serve:")
        })
        .filter(|l| !l.starts_with("imported"))
        .collect();
    let printed_values: Vec<&str> = printed
        .iter()
        .copied()
        .filter(|l| expected.iter().any(|e| e == l) || !l.contains(' '))
        .collect();
    assert_eq!(
        printed_values, expected,
        "the walk-through's commands printed other values than it says\nstdout:\n{stdout}"
    );
}
