//! `no-float-money`: core crates use no floating point, so amounts stay exact and the state hash
//! is the same on every machine.

use syn::visit::{self, Visit};
use syn::{ExprMethodCall, LitFloat, LitInt, Macro};

use super::{Diagnostic, at};
use crate::rules::NO_FLOAT_MONEY;
use crate::source::{SourceFile, macro_exprs};
use crate::workspace::Workspace;

/// Checks the non-test `src/` files of every core crate.
pub fn check(workspace: &Workspace, out: &mut Vec<Diagnostic>) {
    for file in workspace.core_files().filter(|f| f.role().in_src()) {
        if let Some(syntax) = file.non_test_syntax() {
            Scan { file, out }.visit_file(syntax);
        }
    }
}

struct Scan<'a> {
    file: &'a SourceFile,
    out: &'a mut Vec<Diagnostic>,
}

impl<'ast> Visit<'ast> for Scan<'_> {
    fn visit_path(&mut self, path: &'ast syn::Path) {
        if let Some(float) = path
            .segments
            .iter()
            .find(|s| s.ident == "f32" || s.ident == "f64")
        {
            let message = format!("the core uses the float type `{}`", float.ident);
            self.out
                .push(at(&NO_FLOAT_MONEY, self.file, float.ident.span(), message));
        }
        visit::visit_path(self, path);
    }

    fn visit_lit_float(&mut self, lit: &'ast LitFloat) {
        let message = format!("the core uses the float literal `{lit}`", lit = lit.token());
        self.out
            .push(at(&NO_FLOAT_MONEY, self.file, lit.span(), message));
    }

    fn visit_lit_int(&mut self, lit: &'ast LitInt) {
        // `1f64` is an integer literal with a float suffix, and a float all the same.
        if matches!(lit.suffix(), "f32" | "f64") {
            let message = format!("the core uses the float literal `{lit}`", lit = lit.token());
            self.out
                .push(at(&NO_FLOAT_MONEY, self.file, lit.span(), message));
        }
    }

    fn visit_expr_method_call(&mut self, call: &'ast ExprMethodCall) {
        let name = call.method.to_string();
        if name.ends_with("_f32") || name.ends_with("_f64") {
            let message = format!("the core calls `{name}`, which returns a float");
            self.out
                .push(at(&NO_FLOAT_MONEY, self.file, call.method.span(), message));
        }
        visit::visit_expr_method_call(self, call);
    }

    fn visit_macro(&mut self, mac: &'ast Macro) {
        for expr in macro_exprs(mac) {
            self.visit_expr(&expr);
        }
        visit::visit_macro(self, mac);
    }
}
