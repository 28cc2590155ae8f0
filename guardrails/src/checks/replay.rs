//! `replay-mandatory`: every event a core crate defines is proven through replay by a test, and
//! the core has its replay test file.
//!
//! Detection: the events are the variants of every `pub enum` named `*Event` in the core's
//! non-test `src/`. A test is a `#[test]` (or `#[...::test]`) function, or a `fn` inside a
//! `proptest!` block, in a file under the core's `tests/` (not `tests/support/`). What a test
//! reaches is every identifier in its body plus, transitively, every identifier in the body of
//! each function it names that is defined in the same file or under `tests/support/`. A variant
//! is covered when one test reaches both its name (as in `PaymentEvent::PaymentSettled(..)`, or
//! through a support builder that writes it) and `rebuild_from_events`.

use std::collections::{BTreeMap, BTreeSet};

use proc_macro2::{Delimiter, Ident, TokenStream, TokenTree};
use quote::ToTokens;
use syn::visit::{self, Visit};
use syn::{ImplItemFn, ItemFn, ItemMacro, Visibility};

use super::{Diagnostic, at, on_manifest};
use crate::rules::REPLAY_MANDATORY;
use crate::source::{Role, SourceFile, idents};
use crate::workspace::{Crate, Workspace};

/// The replay entry point every event must go through in a test.
pub const REPLAY_ENTRY: &str = "rebuild_from_events";

/// The replay test file every core crate must have.
pub const REPLAY_TEST_FILE: &str = "tests/replay.rs";

const SUPPORT_DIR: &str = "tests/support/";

/// Checks every core crate.
pub fn check(workspace: &Workspace, out: &mut Vec<Diagnostic>) {
    for krate in workspace.crates().iter().filter(|c| workspace.is_core(c)) {
        check_crate(workspace, krate, out);
    }
}

fn check_crate(workspace: &Workspace, krate: &Crate, out: &mut Vec<Diagnostic>) {
    let files: Vec<&SourceFile> = workspace
        .files()
        .iter()
        .filter(|f| workspace.crate_of(f).is_some_and(|c| c.name == krate.name))
        .collect();
    if !files.iter().any(|f| f.path_in_crate() == REPLAY_TEST_FILE) {
        let message = format!("core crate `{}` has no {REPLAY_TEST_FILE}", krate.name);
        out.push(on_manifest(
            &REPLAY_MANDATORY,
            workspace,
            krate,
            None,
            message,
        ));
    }
    let mut support = Functions::default();
    for file in files.iter().filter(|f| is_support(f)) {
        if let Some(syntax) = file.syntax() {
            support.visit_file(syntax);
        }
    }
    let mut replayed = BTreeSet::new();
    for file in files
        .iter()
        .filter(|f| f.role() == Role::Test && !is_support(f))
    {
        let Some(syntax) = file.syntax() else {
            continue;
        };
        let mut local = Functions::default();
        local.visit_file(syntax);
        let helpers = local.helpers_with(&support);
        for test in &local.tests {
            let reached = reach(test, &helpers);
            if reached.contains(REPLAY_ENTRY) {
                replayed.extend(reached);
            }
        }
    }
    for file in files.iter().filter(|f| f.role().in_src()) {
        let Some(syntax) = file.non_test_syntax() else {
            continue;
        };
        let mut events = EventEnums(Vec::new());
        events.visit_file(syntax);
        for (enum_name, variant) in events.0 {
            if !replayed.contains(&variant.to_string()) {
                let message = format!(
                    "event `{enum_name}::{variant}` is never replayed: no test in {}/tests/ \
                     both builds it and calls `{REPLAY_ENTRY}`",
                    krate.dir
                );
                out.push(at(&REPLAY_MANDATORY, file, variant.span(), message));
            }
        }
    }
}

fn is_support(file: &SourceFile) -> bool {
    file.path_in_crate().starts_with(SUPPORT_DIR)
}

/// Every identifier a test reaches through the helpers it names, transitively.
fn reach(
    test: &BTreeSet<String>,
    helpers: &BTreeMap<String, BTreeSet<String>>,
) -> BTreeSet<String> {
    let mut reached = test.clone();
    let mut pending: Vec<String> = test.iter().cloned().collect();
    let mut expanded = BTreeSet::new();
    while let Some(name) = pending.pop() {
        if !expanded.insert(name.clone()) {
            continue;
        }
        for ident in helpers.get(&name).into_iter().flatten() {
            reached.insert(ident.clone());
            if !expanded.contains(ident) {
                pending.push(ident.clone());
            }
        }
    }
    reached
}

/// The functions of a file: tests (identifiers of each body) and helpers (by name).
#[derive(Default)]
struct Functions {
    tests: Vec<BTreeSet<String>>,
    helpers: BTreeMap<String, BTreeSet<String>>,
}

impl Functions {
    fn add_helper(&mut self, name: &Ident, body: TokenStream) {
        self.helpers
            .entry(name.to_string())
            .or_default()
            .extend(names(body));
    }

    /// This file's helpers merged with the support helpers.
    fn helpers_with(&self, support: &Functions) -> BTreeMap<String, BTreeSet<String>> {
        let mut all = support.helpers.clone();
        for (name, body) in &self.helpers {
            all.entry(name.clone())
                .or_default()
                .extend(body.iter().cloned());
        }
        all
    }
}

/// `#[test]`, `#[tokio::test]`, `#[proptest]` and the like; `#[cfg(test)]` marks a helper.
fn is_test_fn(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path()
            .segments
            .last()
            .is_some_and(|s| s.ident == "test" || s.ident == "proptest")
    })
}

fn names(tokens: TokenStream) -> BTreeSet<String> {
    let mut found = Vec::new();
    idents(tokens, &mut found);
    found.iter().map(ToString::to_string).collect()
}

impl<'ast> Visit<'ast> for Functions {
    fn visit_item_fn(&mut self, item: &'ast ItemFn) {
        let body = item.block.to_token_stream();
        if is_test_fn(&item.attrs) {
            self.tests.push(names(body));
        } else {
            self.add_helper(&item.sig.ident, body);
        }
        visit::visit_item_fn(self, item);
    }

    fn visit_impl_item_fn(&mut self, item: &'ast ImplItemFn) {
        self.add_helper(&item.sig.ident, item.block.to_token_stream());
        visit::visit_impl_item_fn(self, item);
    }

    fn visit_item_macro(&mut self, item: &'ast ItemMacro) {
        // `proptest! { #[test] fn name(x in strategy) { body } }` is not Rust syntax, so its test
        // functions are found in the tokens: `fn`, a name, the arguments, then the body.
        if item
            .mac
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident == "proptest")
        {
            let tokens: Vec<TokenTree> = item.mac.tokens.clone().into_iter().collect();
            for (i, token) in tokens.iter().enumerate() {
                let is_fn = matches!(token, TokenTree::Ident(id) if id == "fn");
                if !is_fn {
                    continue;
                }
                let body = tokens.iter().skip(i + 1).find_map(|t| match t {
                    TokenTree::Group(g) if g.delimiter() == Delimiter::Brace => Some(g.stream()),
                    _ => None,
                });
                if let Some(body) = body {
                    self.tests.push(names(body));
                }
            }
        }
        visit::visit_item_macro(self, item);
    }
}

/// The variants of every `pub enum *Event`, with the enum's name.
struct EventEnums(Vec<(String, Ident)>);

impl<'ast> Visit<'ast> for EventEnums {
    fn visit_item_enum(&mut self, item: &'ast syn::ItemEnum) {
        if matches!(item.vis, Visibility::Public(_)) && item.ident.to_string().ends_with("Event") {
            for variant in &item.variants {
                self.0.push((item.ident.to_string(), variant.ident.clone()));
            }
        }
        visit::visit_item_enum(self, item);
    }
}
