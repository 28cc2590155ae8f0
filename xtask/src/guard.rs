//! The architecture rules (the `guardrails` crate), run in-process: `cargo xtask guardrails`
//! prints every violation, and `cargo xtask ci` shows one row per rule so that each of the
//! seed's static checks is visible by name.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use guardrails::{Diagnostic, Rule, Workspace};

use crate::ci::Outcome;
use crate::run;

/// The five static rules among the seed's nine blocking checks; each is its own CI job.
pub const SEED_RULES: [&Rule; 5] = [
    &guardrails::rules::NO_STORED_STATE,
    &guardrails::rules::NO_CROSS_CORE_IMPORTS,
    &guardrails::rules::REPLAY_MANDATORY,
    &guardrails::rules::EVENT_IMMUTABILITY,
    &guardrails::rules::TERMINAL_STATE_ENFORCEMENT,
];

fn load() -> Result<Workspace> {
    guardrails::metadata::load(&run::root().join("Cargo.toml"))
        .context("cannot load the workspace for guardrails")
}

fn print(diagnostics: &[Diagnostic]) {
    for diagnostic in diagnostics {
        println!("{diagnostic}");
    }
}

/// `cargo xtask guardrails [RULE...]`: every rule, or the named ones.
pub fn run(ids: &[String]) -> Result<Outcome> {
    let only = guardrails::select(ids)?;
    let workspace = load()?;
    let diagnostics = guardrails::check(&workspace, &only);
    print(&diagnostics);
    if !diagnostics.is_empty() {
        bail!(
            "{} violation(s) of the architecture rules",
            diagnostics.len()
        );
    }
    let checked = workspace.files().len();
    eprintln!(
        "guardrails: {checked} files in {} crates, no violation",
        workspace.crates().len()
    );
    Ok(Outcome::Passed)
}

/// One table row per rule (name, result, seconds), after one load of the workspace.
pub fn rows() -> Vec<(String, Result<Outcome>, f64)> {
    let started = Instant::now();
    let loaded = load();
    let mut rows = vec![(
        "guardrails-load".to_owned(),
        loaded
            .as_ref()
            .map(|_| Outcome::Passed)
            .map_err(|e| anyhow::anyhow!("{e:#}")),
        started.elapsed().as_secs_f64(),
    )];
    let Ok(workspace) = loaded else {
        return rows;
    };
    for rule in guardrails::rules::RULES {
        let started = Instant::now();
        let diagnostics: Vec<Diagnostic> = guardrails::check(&workspace, &[rule])
            .into_iter()
            .filter(|d| d.rule() == rule)
            .collect();
        print(&diagnostics);
        rows.push((
            rule.id.to_owned(),
            verdict(rule, &diagnostics),
            started.elapsed().as_secs_f64(),
        ));
    }
    rows
}

fn verdict(rule: &Rule, diagnostics: &[Diagnostic]) -> Result<Outcome> {
    match diagnostics {
        [] => Ok(Outcome::Passed),
        [first, ..] => bail!(
            "{} violation(s) of {}, first at {}:{}",
            diagnostics.len(),
            rule.id,
            first.path(),
            first.line()
        ),
    }
}
