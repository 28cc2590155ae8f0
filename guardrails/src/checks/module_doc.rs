//! `module-doc`: every file under a crate's `src/` starts with a `//!` line saying what it is for.

use syn::{AttrStyle, Expr, Lit, Meta};

use super::Diagnostic;
use crate::rules::MODULE_DOC;
use crate::workspace::Workspace;

/// Reports every `src/` file whose first inner attribute is not a non-empty `//!` doc comment.
pub fn check(workspace: &Workspace, out: &mut Vec<Diagnostic>) {
    for file in workspace.files().iter().filter(|f| f.role().in_src()) {
        // A file that does not parse is reported by `parse-error`.
        let Some(syntax) = file.syntax() else {
            continue;
        };
        let documented = syntax.attrs.first().is_some_and(|attr| {
            matches!(attr.style, AttrStyle::Inner(_))
                && attr.path().is_ident("doc")
                && matches!(&attr.meta, Meta::NameValue(nv)
                    if matches!(&nv.value, Expr::Lit(l)
                        if matches!(&l.lit, Lit::Str(s) if !s.value().trim().is_empty())))
        });
        if !documented {
            out.push(Diagnostic::new(
                &MODULE_DOC,
                file.path(),
                1,
                1,
                "this module does not start with a `//!` doc comment",
            ));
        }
    }
}
