//! The workspace itself keeps every rule: all rules run on the real crates, loaded through
//! `cargo metadata`, and must report nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::path::Path;

fn workspace() -> guardrails::Workspace {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    guardrails::metadata::load(&root.join("Cargo.toml")).expect("cargo metadata loads")
}

#[test]
fn the_workspace_breaks_no_rule() {
    let workspace = workspace();
    let diagnostics = guardrails::check(&workspace, &[]);
    let report: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
    assert!(diagnostics.is_empty(), "{}", report.join("\n"));
}

#[test]
fn the_model_sees_the_core_its_events_and_its_dependencies() {
    // Guards against a check passing because it looked at nothing.
    let workspace = workspace();
    let core = workspace
        .crate_named("core-npp")
        .expect("core-npp is a member");
    assert!(workspace.is_core(core));
    assert!(core.deps.iter().any(|d| d.name == "serde" && !d.workspace));
    assert!(core.test_targets.iter().any(|t| t == "replay"));
    let closure = workspace.graph().normal_closure(&core.id);
    assert!(
        closure
            .iter()
            .any(|(_, chain)| chain.last().is_some_and(|n| n == "serde_core"))
    );
    let files: Vec<&str> = workspace
        .files()
        .iter()
        .filter(|f| workspace.crate_of(f).is_some_and(|c| c.name == "core-npp"))
        .map(guardrails::SourceFile::path)
        .collect();
    assert!(files.contains(&"core-npp/src/event.rs"));
    assert!(files.contains(&"core-npp/tests/replay.rs"));
    assert!(files.contains(&"core-npp/tests/support/mod.rs"));
    assert!(!files.iter().any(|f| f.contains("fixtures")));
    assert!(
        !workspace
            .files()
            .iter()
            .any(|f| f.path().starts_with("guardrails/tests/fixtures/"))
    );
}

#[test]
fn the_layer_override_file_parses_and_assigns_every_member() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let path = root.join(guardrails::layers::LAYERS_FILE);
    let text = std::fs::read_to_string(&path).unwrap();
    let table = guardrails::LayerTable::parse(&text, &path).unwrap();
    for krate in workspace().crates() {
        assert!(
            table.layer_of(&krate.name).is_some(),
            "{} has no layer",
            krate.name
        );
    }
    assert_eq!(
        table.layer_of("core-npp").map(guardrails::Layer::kind),
        Some(guardrails::LayerKind::Core)
    );
}
