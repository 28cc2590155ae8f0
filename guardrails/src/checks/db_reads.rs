//! `no-unchecked-db-read`: a value read back from a database is checked, never defaulted. In
//! library code that uses a database crate (`postgres`, `rusqlite`), `Row::get(i)` of the
//! `postgres` crate (which panics on a type mismatch or NULL) and `.unwrap_or(..)`,
//! `.unwrap_or_default()` or `.unwrap_or_else(..)` on a conversion or a column read (`try_from`,
//! `get`, `try_get`) are flagged: an out-of-range version or a NULL is corruption to report with
//! table, column and row, not a value to replace with 0 or `u32::MAX`.

use syn::visit::{self, Visit};
use syn::{Expr, ExprMethodCall, Lit};

use super::{Diagnostic, at};
use crate::rules::NO_UNCHECKED_DB_READ;
use crate::source::{Role, SourceFile, use_paths};
use crate::workspace::Workspace;

/// The database crates whose reads this rule watches.
const DATABASE_CRATES: &[&str] = &["postgres", "rusqlite", "tokio_postgres", "r2d2_postgres"];

/// Methods that replace a failed check with a default.
const DEFAULTING: &[&str] = &["unwrap_or", "unwrap_or_default", "unwrap_or_else"];

/// Checks the non-test library files of product crates that import a database crate.
pub fn check(workspace: &Workspace, out: &mut Vec<Diagnostic>) {
    let library_files = workspace.files().iter().filter(|f| {
        f.role() == Role::Lib
            && workspace
                .crate_of(f)
                .is_some_and(|c| workspace.is_product(c))
    });
    for file in library_files {
        let Some(syntax) = file.non_test_syntax() else {
            continue;
        };
        let imported: Vec<String> = use_paths(syntax)
            .into_iter()
            .filter_map(|u| u.segments.first().cloned())
            .collect();
        let uses = |name: &str| imported.iter().any(|first| first == name);
        if !DATABASE_CRATES.iter().any(|c| uses(c)) {
            continue;
        }
        Scan {
            file,
            postgres: uses("postgres") || uses("tokio_postgres"),
            out,
        }
        .visit_file(syntax);
    }
}

struct Scan<'a> {
    file: &'a SourceFile,
    postgres: bool,
    out: &'a mut Vec<Diagnostic>,
}

/// Whether `expr` is a conversion or a column read: a call of `try_from`, `get` or `try_get`
/// anywhere along its receiver chain.
fn reads_or_converts(expr: &Expr) -> bool {
    match expr {
        Expr::MethodCall(call) => {
            matches!(
                call.method.to_string().as_str(),
                "try_from" | "get" | "try_get"
            ) || reads_or_converts(&call.receiver)
        }
        Expr::Call(call) => match &*call.func {
            Expr::Path(path) => path
                .path
                .segments
                .last()
                .is_some_and(|s| s.ident == "try_from"),
            _ => false,
        },
        Expr::Paren(inner) => reads_or_converts(&inner.expr),
        _ => false,
    }
}

fn is_integer_literal(expr: &Expr) -> bool {
    matches!(expr, Expr::Lit(lit) if matches!(lit.lit, Lit::Int(_)))
}

impl<'ast> Visit<'ast> for Scan<'_> {
    fn visit_expr_method_call(&mut self, call: &'ast ExprMethodCall) {
        let name = call.method.to_string();
        if DEFAULTING.contains(&name.as_str()) && reads_or_converts(&call.receiver) {
            let message = format!(
                "a database value or conversion is defaulted with `.{name}()`; report an \
                 out-of-range or missing value as corruption naming table, column and row"
            );
            self.out.push(at(
                &NO_UNCHECKED_DB_READ,
                self.file,
                call.method.span(),
                message,
            ));
        }
        if self.postgres
            && name == "get"
            && call.args.len() == 1
            && call.args.first().is_some_and(is_integer_literal)
        {
            let message = "`Row::get` panics on a type mismatch or NULL; use `try_get` and \
                           report the failure naming table, column and row"
                .to_owned();
            self.out.push(at(
                &NO_UNCHECKED_DB_READ,
                self.file,
                call.method.span(),
                message,
            ));
        }
        visit::visit_expr_method_call(self, call);
    }
}
