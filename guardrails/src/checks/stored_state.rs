//! `no-stored-state`: a core crate does no I/O, reads no clock and holds no global state, neither
//! in its own source nor through any crate it depends on, however indirectly.

use syn::visit::{self, Visit};
use syn::{ItemStatic, ItemUse, Macro, StaticMutability};

use super::{Diagnostic, at, is_interior_mutable, on_manifest};
use crate::rules::NO_STORED_STATE;
use crate::source::{Imports, SourceFile, flatten_use, idents, macro_exprs, segments};
use crate::workspace::{DepKind, Workspace};

/// Crates that store, talk to the network, run async I/O, touch the filesystem or draw random
/// numbers, with what they are. Matched by package name anywhere in a core crate's normal
/// dependency graph.
const DENYLIST: &[(&str, &str)] = &[
    ("rusqlite", "database"),
    ("libsqlite3-sys", "database"),
    ("postgres", "database"),
    ("tokio-postgres", "database"),
    ("postgres-protocol", "database"),
    ("sqlx", "database"),
    ("sqlx-core", "database"),
    ("diesel", "database"),
    ("redis", "database"),
    ("mysql", "database"),
    ("mongodb", "database"),
    ("sled", "database"),
    ("rocksdb", "database"),
    ("r2d2", "database pool"),
    ("r2d2_postgres", "database pool"),
    ("r2d2_sqlite", "database pool"),
    ("deadpool", "database pool"),
    ("bb8", "database pool"),
    ("reqwest", "network"),
    ("hyper", "network"),
    ("h2", "network"),
    ("ureq", "network"),
    ("curl", "network"),
    ("socket2", "network"),
    ("tonic", "network"),
    ("axum", "network"),
    ("actix-web", "network"),
    ("tokio", "async runtime"),
    ("async-std", "async runtime"),
    ("smol", "async runtime"),
    ("async-io", "async runtime"),
    ("mio", "async runtime"),
    ("actix-rt", "async runtime"),
    ("walkdir", "filesystem"),
    ("tempfile", "filesystem"),
    ("fs_extra", "filesystem"),
    ("glob", "filesystem"),
    ("notify", "filesystem"),
    ("memmap2", "filesystem"),
    ("dirs", "filesystem"),
    ("rand", "randomness"),
    ("getrandom", "randomness"),
    ("fastrand", "randomness"),
];

/// Checks every core crate's dependency graph and its `src/` files.
pub fn check(workspace: &Workspace, out: &mut Vec<Diagnostic>) {
    for krate in workspace.crates().iter().filter(|c| workspace.is_core(c)) {
        for (_, chain) in workspace.graph().normal_closure(&krate.id) {
            let (Some(direct), Some(denied)) = (chain.get(1), chain.last()) else {
                continue;
            };
            let Some((_, what)) = DENYLIST.iter().find(|(name, _)| name == denied) else {
                continue;
            };
            let via = if chain.len() > 2 {
                format!(" through {}", chain.join(" -> "))
            } else {
                String::new()
            };
            let message = format!(
                "core crate `{}` depends on `{denied}` ({what}){via}",
                krate.name
            );
            out.push(on_manifest(
                &NO_STORED_STATE,
                workspace,
                krate,
                Some((direct, DepKind::Normal)),
                message,
            ));
        }
    }
    for file in workspace.core_files().filter(|f| f.role().in_src()) {
        let Some(syntax) = file.non_test_syntax() else {
            continue;
        };
        let mut scan = Scan {
            file,
            imports: Imports::of(syntax),
            out,
        };
        scan.visit_file(syntax);
    }
}

/// Why a (fully expanded) path is forbidden in the core, if it is.
fn forbidden(path: &[String]) -> Option<String> {
    let words: Vec<&str> = path.iter().map(String::as_str).collect();
    if let [root, module, rest @ ..] = words.as_slice()
        && matches!(*root, "std" | "core" | "alloc")
    {
        let what = match *module {
            "fs" => Some("filesystem I/O"),
            "net" => Some("network I/O"),
            "process" => Some("process control"),
            "env" => Some("the process environment"),
            "io" if matches!(rest.first(), Some(&("stdin" | "stdout" | "stderr"))) => {
                Some("console I/O")
            }
            _ => None,
        };
        if let Some(what) = what {
            return Some(format!("uses `{root}::{module}` ({what})"));
        }
    }
    let clock = words.windows(2).find(|pair| {
        matches!(
            pair,
            [
                "SystemTime" | "Instant" | "OffsetDateTime" | "UtcDateTime" | "Utc" | "Local",
                "now" | "now_utc" | "now_local"
            ]
        )
    });
    clock.map(|pair| format!("reads the clock (`{}`)", pair.join("::")))
}

struct Scan<'a> {
    file: &'a SourceFile,
    imports: Imports,
    out: &'a mut Vec<Diagnostic>,
}

impl Scan<'_> {
    fn report(&mut self, span: proc_macro2::Span, message: String) {
        self.out
            .push(at(&NO_STORED_STATE, self.file, span, message));
    }
}

impl<'ast> Visit<'ast> for Scan<'_> {
    fn visit_item_use(&mut self, item: &'ast ItemUse) {
        let mut paths = Vec::new();
        flatten_use(&item.tree, &[], &mut paths);
        for path in paths {
            if let Some(why) = forbidden(&path.segments) {
                self.report(path.span, format!("the core {why}"));
            }
        }
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let written = segments(path);
        let expanded = self.imports.expand(&written);
        // A path through a forbidden import is already reported at the `use`.
        let import_reported = written.first().is_some_and(|first| {
            written.len() > 1
                && forbidden(&self.imports.expand(std::slice::from_ref(first))).is_some()
        });
        if !import_reported && let Some(why) = forbidden(&expanded) {
            let span = path
                .segments
                .first()
                .map_or_else(proc_macro2::Span::call_site, |s| s.ident.span());
            self.report(span, format!("the core {why}"));
        }
        visit::visit_path(self, path);
    }

    fn visit_item_static(&mut self, item: &'ast ItemStatic) {
        if matches!(item.mutability, StaticMutability::Mut(_)) {
            let message = format!("the core holds global state (`static mut {}`)", item.ident);
            self.report(item.ident.span(), message);
        }
        let mut names = Vec::new();
        idents(quote::ToTokens::to_token_stream(&item.ty), &mut names);
        if let Some(cell) = names.iter().find(|i| is_interior_mutable(&i.to_string())) {
            let message = format!(
                "the core holds global state (`static {}` of interior-mutable type `{cell}`)",
                item.ident
            );
            self.report(item.ident.span(), message);
        }
        visit::visit_item_static(self, item);
    }

    fn visit_macro(&mut self, mac: &'ast Macro) {
        if let Some(last) = mac.path.segments.last() {
            let what = match last.ident.to_string().as_str() {
                "thread_local" | "lazy_static" => Some("holds global state"),
                "println" | "print" | "eprintln" | "eprint" => Some("does console I/O"),
                _ => None,
            };
            if let Some(what) = what {
                let message = format!("the core {what} (`{}!`)", last.ident);
                self.report(last.ident.span(), message);
            }
        }
        for expr in macro_exprs(mac) {
            self.visit_expr(&expr);
        }
        visit::visit_macro(self, mac);
    }
}
