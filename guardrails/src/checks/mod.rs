//! The rules' implementations, one module per rule, and the helpers they share.

use proc_macro2::Span;

use crate::diagnostic::Diagnostic;
use crate::rules::{self, Rule};
use crate::source::{SourceFile, position};
use crate::workspace::{Crate, DepKind, Workspace};

mod cross_core;
mod db_reads;
mod float_money;
mod immutability;
mod module_doc;
mod panics;
mod replay;
mod stored_state;
mod terminal;

type Check = fn(&Workspace, &mut Vec<Diagnostic>);

/// Each rule with the function that checks it.
const CHECKS: [(&Rule, Check); 10] = [
    (&rules::PARSE_ERROR, parse_errors),
    (&rules::NO_STORED_STATE, stored_state::check),
    (&rules::NO_CROSS_CORE_IMPORTS, cross_core::check),
    (&rules::REPLAY_MANDATORY, replay::check),
    (&rules::EVENT_IMMUTABILITY, immutability::check),
    (&rules::TERMINAL_STATE_ENFORCEMENT, terminal::check),
    (&rules::NO_FLOAT_MONEY, float_money::check),
    (&rules::NO_PANIC_IN_LIBRARY, panics::check),
    (&rules::NO_UNCHECKED_DB_READ, db_reads::check),
    (&rules::MODULE_DOC, module_doc::check),
];

/// Runs the selected checks (all when `only` is empty), plus the parse check always.
pub fn run(workspace: &Workspace, only: &[&'static Rule]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (rule, check) in CHECKS {
        let selected = only.is_empty() || only.contains(&rule) || rule == &rules::PARSE_ERROR;
        if selected {
            check(workspace, &mut out);
        }
    }
    out
}

fn parse_errors(workspace: &Workspace, out: &mut Vec<Diagnostic>) {
    for file in workspace.files() {
        if let Some(failure) = file.parse_failure() {
            out.push(Diagnostic::new(
                &rules::PARSE_ERROR,
                file.path(),
                failure.line,
                failure.column,
                format!("cannot parse this file: {}", failure.message),
            ));
        }
    }
}

/// A diagnostic at `span` in `file`.
fn at(rule: &'static Rule, file: &SourceFile, span: Span, message: String) -> Diagnostic {
    let (line, column) = position(span);
    Diagnostic::new(rule, file.path(), line, column, message)
}

/// A diagnostic on a crate's Cargo.toml: on the line that declares `dep` as a `kind`
/// dependency when there is one, else on line 1.
fn on_manifest(
    rule: &'static Rule,
    workspace: &Workspace,
    krate: &Crate,
    dep: Option<(&str, DepKind)>,
    message: String,
) -> Diagnostic {
    let path = krate.manifest();
    let text = std::fs::read_to_string(workspace.root().join(&path)).unwrap_or_default();
    let (line, column) = dep
        .and_then(|(name, kind)| dependency_line(&text, name, kind.table()))
        .unwrap_or((1, 1));
    Diagnostic::new(rule, path, line, column, message)
}

/// The 1-based line and column where a manifest declares `name` in `table` (`dependencies`,
/// `dev-dependencies`...), including `[target.'...'.dependencies]` and `[dependencies.name]`.
fn dependency_line(manifest: &str, name: &str, table: &str) -> Option<(usize, usize)> {
    let mut in_table = false;
    for (index, line) in manifest.lines().enumerate() {
        let trimmed = line.trim();
        let column = line.len() - line.trim_start().len() + 1;
        if let Some(header) = trimmed.strip_prefix('[') {
            let header = header.trim_end_matches(']').trim();
            if header == format!("{table}.{name}") || header.ends_with(&format!(".{table}.{name}"))
            {
                return Some((index + 1, column));
            }
            in_table = header == table || header.ends_with(&format!(".{table}"));
            continue;
        }
        let declares = trimmed
            .strip_prefix(name)
            .and_then(|rest| rest.chars().next())
            .is_some_and(|c| c == '=' || c == '.' || c == ' ');
        if in_table && declares {
            return Some((index + 1, column));
        }
    }
    None
}

/// Types whose values can change behind a shared reference, or hold global state.
fn is_interior_mutable(name: &str) -> bool {
    matches!(
        name,
        "Cell"
            | "RefCell"
            | "UnsafeCell"
            | "OnceCell"
            | "Mutex"
            | "RwLock"
            | "OnceLock"
            | "LazyLock"
            | "LazyCell"
    ) || name.starts_with("Atomic")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependency_lines_are_found_in_their_table() {
        let manifest = "[package]\nname = \"x\"\n\n[dependencies]\nserde.workspace = true\n\
                        tokio = \"1\"\n\n[dev-dependencies]\ntokio = { version = \"1\" }\n\
                        [dependencies.mio]\nversion = \"1\"\n";
        assert_eq!(
            dependency_line(manifest, "tokio", "dependencies"),
            Some((6, 1))
        );
        assert_eq!(
            dependency_line(manifest, "tokio", "dev-dependencies"),
            Some((9, 1))
        );
        assert_eq!(
            dependency_line(manifest, "serde", "dependencies"),
            Some((5, 1))
        );
        assert_eq!(
            dependency_line(manifest, "mio", "dependencies"),
            Some((10, 1))
        );
        assert_eq!(dependency_line(manifest, "tok", "dependencies"), None);
    }
}
