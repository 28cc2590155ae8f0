//! `no-panic-in-library`: product library code returns errors; it never unwraps, expects or
//! panics, so a bad input cannot take a caller down half-way through a payment.

use syn::visit::{self, Visit};
use syn::{Expr, ExprMethodCall, ExprPath, ExprTry, Macro};

use super::{Diagnostic, at};
use crate::rules::NO_PANIC_IN_LIBRARY;
use crate::source::{Role, SourceFile, macro_exprs};
use crate::workspace::Workspace;

/// The panicking methods of `Option` and `Result`, with their number of arguments: a method of
/// the same name and another arity belongs to some other type.
const PANICKING_METHODS: &[(&str, usize)] = &[
    ("unwrap", 0),
    ("expect", 1),
    ("unwrap_err", 0),
    ("expect_err", 1),
];

fn is_panicking_method(name: &str) -> bool {
    PANICKING_METHODS.iter().any(|(method, _)| *method == name)
}
const PANICKING_MACROS: &[&str] = &["panic", "todo", "unimplemented", "unreachable", "dbg"];

/// Checks the non-test library files (`src/` except `main.rs` and `src/bin/`) of product crates.
pub fn check(workspace: &Workspace, out: &mut Vec<Diagnostic>) {
    let library_files = workspace.files().iter().filter(|f| {
        f.role() == Role::Lib
            && workspace
                .crate_of(f)
                .is_some_and(|c| workspace.is_product(c))
    });
    for file in library_files {
        if let Some(syntax) = file.non_test_syntax() {
            Scan { file, out }.visit_file(syntax);
        }
    }
}

struct Scan<'a> {
    file: &'a SourceFile,
    out: &'a mut Vec<Diagnostic>,
}

impl Scan<'_> {
    fn report(&mut self, span: proc_macro2::Span, message: String) {
        self.out
            .push(at(&NO_PANIC_IN_LIBRARY, self.file, span, message));
    }
}

impl<'ast> Visit<'ast> for Scan<'_> {
    fn visit_expr_method_call(&mut self, call: &'ast ExprMethodCall) {
        let name = call.method.to_string();
        let arity = call.args.len();
        if PANICKING_METHODS.contains(&(name.as_str(), arity)) {
            let message = format!("library code calls `.{name}()`, which panics on failure");
            self.report(call.method.span(), message);
        }
        visit::visit_expr_method_call(self, call);
    }

    fn visit_expr_try(&mut self, expr: &'ast ExprTry) {
        // `x.expect(..)?` propagates an error: that `expect` is some other type's method that
        // returns a `Result`, not the panicking one. Its receiver and arguments are still checked.
        if let Expr::MethodCall(call) = &*expr.expr
            && is_panicking_method(&call.method.to_string())
        {
            self.visit_expr(&call.receiver);
            for arg in &call.args {
                self.visit_expr(arg);
            }
            return;
        }
        visit::visit_expr_try(self, expr);
    }

    fn visit_expr_path(&mut self, path: &'ast ExprPath) {
        // `.map(Option::unwrap)` panics just the same as `.unwrap()`.
        let words: Vec<String> = path
            .path
            .segments
            .iter()
            .map(|s| s.ident.to_string())
            .collect();
        if let [.., owner, method] = words.as_slice()
            && matches!(owner.as_str(), "Option" | "Result")
            && is_panicking_method(method)
            && let Some(first) = path.path.segments.first()
        {
            let message = format!("library code uses `{owner}::{method}`, which panics on failure");
            self.report(first.ident.span(), message);
        }
        visit::visit_expr_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast Macro) {
        if let Some(last) = mac.path.segments.last() {
            let name = last.ident.to_string();
            if PANICKING_MACROS.contains(&name.as_str()) {
                let message = format!("library code calls `{name}!`");
                self.report(last.ident.span(), message);
            }
        }
        for expr in macro_exprs(mac) {
            self.visit_expr(&expr);
        }
        visit::visit_macro(self, mac);
    }
}
