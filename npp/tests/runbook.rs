//! The runbook cannot rot: every `console` block of docs/OPERATOR_RUNBOOK.md runs, in order,
//! against a scratch database, and every command must exit as documented (0 unless the line
//! ends with `# exit N`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::path::Path;
use std::process::Command;

/// The commands of every ```console block: lines starting with `$ `, with their expected exit.
fn runbook_commands(markdown: &str) -> Vec<(String, i32)> {
    let mut commands = Vec::new();
    let mut in_console = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_console = !in_console && line.trim() == "```console";
            continue;
        }
        let Some(command) = line.strip_prefix("$ ").filter(|_| in_console) else {
            continue;
        };
        let (command, expected) = match command.rsplit_once("# exit ") {
            Some((command, code)) => (command.trim_end().to_owned(), code.trim().parse().unwrap()),
            None => (command.to_owned(), 0),
        };
        commands.push((command, expected));
    }
    commands
}

/// One shell script that runs each command and stops at the first unexpected exit code.
fn script(commands: &[(String, i32)]) -> String {
    let mut script = String::from("set -u\n");
    for (n, (command, expected)) in commands.iter().enumerate() {
        script.push_str(&format!(
            "echo '>>> {n}: {quoted}'\n{command}\ncode=$?\nif [ $code -ne {expected} ]; then echo \"runbook command {n} exited $code, documented {expected}: {quoted}\" >&2; exit 99; fi\n",
            quoted = command.replace('\'', "")
        ));
    }
    script
}

#[test]
fn every_runbook_command_runs_with_its_documented_outcome() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let markdown = std::fs::read_to_string(root.join("docs/OPERATOR_RUNBOOK.md")).unwrap();
    let commands = runbook_commands(&markdown);
    assert!(
        commands.len() >= 15,
        "the runbook lost its commands: {commands:?}"
    );
    assert!(
        commands.iter().any(|(_, code)| *code == 1),
        "no documented refusal is exercised"
    );
    let scratch = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        root.join("examples").canonicalize().unwrap(),
        scratch.path().join("examples"),
    )
    .unwrap();
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_npp"))
        .parent()
        .unwrap()
        .to_owned();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = Command::new("sh")
        .arg("-c")
        .arg(script(&commands))
        .current_dir(scratch.path())
        .env("PATH", path)
        .env_remove("NPP_DATABASE_URL")
        .env_remove("NPP_POLICY")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
