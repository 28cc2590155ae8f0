//! A syn-based checker that enforces the workspace's architecture rules.
//!
//! The architecture promises that the core stores nothing and imports nothing of ours, that
//! events never change, that terminal states are guarded and that replay is always tested. This
//! crate turns each promise into a rule ([`rules::RULES`]) checked on every change: it loads a
//! [`Workspace`] (crates, layers, dependency graph, parsed sources) from `cargo metadata` or from a
//! test fixture, runs the rules and reports [`Diagnostic`]s as
//! `path:line:col: error[rule-id]: message` followed by `  = help: ...`.
//!
//! ```no_run
//! let workspace = guardrails::metadata::load(std::path::Path::new("Cargo.toml"))?;
//! for diagnostic in guardrails::check(&workspace, &[]) {
//!     println!("{diagnostic}");
//! }
//! # Ok::<(), guardrails::Error>(())
//! ```

mod checks;
mod diagnostic;
mod error;
pub mod fixture;
pub mod layers;
pub mod metadata;
pub mod rules;
mod source;
mod workspace;

pub use diagnostic::{Diagnostic, sort};
pub use error::Error;
pub use layers::{Layer, LayerKind, LayerTable};
pub use rules::Rule;
pub use source::{ParseFailure, Role, SourceFile};
pub use workspace::{Crate, DepKind, Dependency, Graph, Node, Workspace};

/// Runs the rules in `only` (every rule when it is empty) on `workspace` and returns the
/// violations sorted by path, line, column and rule. Files that do not parse are always
/// reported, whatever `only` says, because no rule could check them.
pub fn check(workspace: &Workspace, only: &[&'static Rule]) -> Vec<Diagnostic> {
    let mut diagnostics = checks::run(workspace, only);
    sort(&mut diagnostics);
    diagnostics
}

/// The rules named by `ids`, or the unknown id.
pub fn select(ids: &[String]) -> Result<Vec<&'static Rule>, Error> {
    ids.iter()
        .map(|id| rules::find(id).ok_or_else(|| Error::UnknownRule(id.clone())))
        .collect()
}
