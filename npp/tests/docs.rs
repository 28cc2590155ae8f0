//! Docs that cannot drift: the `npp --help` shown in the README is the binary's, every crate of
//! the workspace is in the README's crate table and the architecture codemap, and the README's
//! example commands run as it says.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap()
}

fn members() -> Vec<String> {
    let manifest = read("Cargo.toml");
    let line = manifest
        .lines()
        .find(|l| l.trim_start().starts_with("members"))
        .unwrap();
    line.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_help_in_the_readme_is_the_binarys() {
    let readme = read("README.md");
    let start = readme.find("<!-- npp-help:start -->").unwrap();
    let end = readme.find("<!-- npp-help:end -->").unwrap();
    let block = &readme[start..end];
    let shown: String = block
        .lines()
        .skip(2)
        .take_while(|l| !l.starts_with("```"))
        .map(|l| format!("{l}\n"))
        .collect();
    let output = Command::new(env!("CARGO_BIN_EXE_npp"))
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(
        shown.trim_end(),
        String::from_utf8(output.stdout).unwrap().trim_end(),
        "README's npp --help is stale"
    );
}

#[test]
fn every_crate_is_in_the_readme_and_the_codemap() {
    let (readme, architecture) = (read("README.md"), read("docs/ARCHITECTURE.md"));
    let members = members();
    assert!(members.len() >= 10, "{members:?}");
    for member in &members {
        assert!(
            readme.contains(&format!("| `{member}` |")),
            "README's crate table lacks {member}"
        );
        assert!(
            architecture.contains(&format!("### `{member}`")),
            "ARCHITECTURE.md's codemap lacks {member}"
        );
    }
}

#[test]
fn the_readme_names_both_commands_and_its_replay_example_runs() {
    let readme = read("README.md");
    assert!(readme.contains("cargo xtask ci") && readme.contains("-p npp -- simulate"));
    let mut examples: Vec<PathBuf> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    examples.sort();
    let output = Command::new(env!("CARGO_BIN_EXE_npp"))
        .arg("replay")
        .args(&examples)
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8(output.stdout).unwrap().lines().count(),
        examples.len()
    );
    let invalid = Command::new(env!("CARGO_BIN_EXE_npp"))
        .args([
            "replay",
            root()
                .join("examples/invalid/settle-after-expiry.jsonl")
                .to_str()
                .unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(invalid.status.code(), Some(1));
}

#[test]
fn every_domain_rule_id_is_in_the_architecture_invariants_table() {
    // The rule ids are the `=> "category/rule"` arms of `DomainError::rule`.
    let source = read("core-npp/src/error.rs");
    let architecture = read("docs/ARCHITECTURE.md");
    let ids: Vec<&str> = source
        .lines()
        .filter_map(|l| l.split("=> \"").nth(1))
        .filter_map(|rest| rest.split('"').next())
        .filter(|id| id.contains('/') && *id != "state/invariant")
        .collect();
    assert!(ids.len() >= 30, "found only {} rule ids", ids.len());
    for id in ids {
        assert!(
            architecture.contains(&format!("`{id}`")),
            "docs/ARCHITECTURE.md's invariants table lacks `{id}`"
        );
    }
}
