//! Violations and how they are printed: `path:line:col: error[rule-id]: message` and a help line,
//! in a stable order so that two runs (and an `expected.txt`) compare line by line.

use std::fmt;

use crate::rules::Rule;

/// One violation of one rule at one place.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub struct Diagnostic {
    // Field order is the sort order: path, line, column, rule, message.
    path: String,
    line: usize,
    column: usize,
    rule: &'static Rule,
    message: String,
}

impl Diagnostic {
    /// A violation of `rule` at `path` (relative to the workspace root, `/`-separated), 1-based
    /// `line` and `column`.
    pub fn new(
        rule: &'static Rule,
        path: impl Into<String>,
        line: usize,
        column: usize,
        message: impl Into<String>,
    ) -> Self {
        Self {
            path: path.into(),
            line,
            column,
            rule,
            message: message.into(),
        }
    }

    /// The file, relative to the workspace root.
    pub fn path(&self) -> &str {
        &self.path
    }
    /// 1-based line.
    pub fn line(&self) -> usize {
        self.line
    }
    /// 1-based column.
    pub fn column(&self) -> usize {
        self.column
    }
    /// The rule broken.
    pub fn rule(&self) -> &'static Rule {
        self.rule
    }
    /// What is wrong, at this place.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The first line alone: `path:line:col: error[rule-id]: message`.
    pub fn headline(&self) -> String {
        format!(
            "{}:{}:{}: error[{}]: {}",
            self.path, self.line, self.column, self.rule.id, self.message
        )
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}\n  = help: {}", self.headline(), self.rule.help)
    }
}

/// Sorts by path, line, column and rule, and drops exact repeats.
pub fn sort(diagnostics: &mut Vec<Diagnostic>) {
    diagnostics.sort();
    diagnostics.dedup();
}
