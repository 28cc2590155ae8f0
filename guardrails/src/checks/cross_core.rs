//! `no-cross-core-imports`: a core crate depends on and names no other crate of the workspace, and
//! every dependency between workspace crates points inwards through the layer table.

use std::collections::BTreeSet;

use syn::visit::{self, Visit};
use syn::{ItemExternCrate, ItemMod, ItemUse};

use super::{Diagnostic, at, on_manifest};
use crate::layers::LayerKind;
use crate::rules::NO_CROSS_CORE_IMPORTS;
use crate::source::{SourceFile, flatten_use, macro_exprs};
use crate::workspace::{Crate, DepKind, Dependency, Workspace};

/// Checks every crate's layer and workspace dependencies, and the sources of core crates.
pub fn check(workspace: &Workspace, out: &mut Vec<Diagnostic>) {
    for krate in workspace.crates() {
        check_manifest(workspace, krate, out);
    }
    for file in workspace.core_files() {
        let Some(krate) = workspace.crate_of(file) else {
            continue;
        };
        let Some(syntax) = file.syntax() else {
            continue;
        };
        let others: BTreeSet<String> = workspace
            .crates()
            .iter()
            .filter(|c| c.name != krate.name)
            .map(Crate::rust_name)
            .collect();
        let mut modules = Modules(BTreeSet::new());
        modules.visit_file(syntax);
        let names = others.difference(&modules.0).cloned().collect();
        let mut scan = Scan {
            file,
            krate,
            names,
            out,
        };
        scan.visit_file(syntax);
    }
}

fn check_manifest(workspace: &Workspace, krate: &Crate, out: &mut Vec<Diagnostic>) {
    let Some(layer) = workspace.layer_of(krate) else {
        let message = format!(
            "crate `{}` is in no layer; assign it one in guardrails/layers.toml",
            krate.name
        );
        out.push(on_manifest(
            &NO_CROSS_CORE_IMPORTS,
            workspace,
            krate,
            None,
            message,
        ));
        return;
    };
    for dep in krate.deps.iter().filter(|d| d.workspace) {
        let Some(target) = workspace.crate_named(&dep.name) else {
            continue;
        };
        let message = match (layer.kind(), workspace.layer_of(target)) {
            (LayerKind::Core, _) => Some(format!(
                "core crate `{}` depends on workspace crate `{}` ([{}])",
                krate.name,
                dep.name,
                dep.kind.table()
            )),
            (LayerKind::Tooling, _) | (_, None) => None,
            (LayerKind::Product, Some(to)) if to.kind() == LayerKind::Tooling => Some(format!(
                "product crate `{}` depends on tooling crate `{}`",
                krate.name, dep.name
            )),
            // Tests may reach outwards (an application test using an in-memory adapter).
            (LayerKind::Product, Some(to)) if to.rank() > layer.rank() && !is_dev(dep) => {
                Some(format!(
                    "`{}` ({}) depends on `{}` ({}), an outer layer; dependencies point inwards",
                    krate.name,
                    layer.name(),
                    dep.name,
                    to.name()
                ))
            }
            (LayerKind::Product, Some(_)) => None,
        };
        if let Some(message) = message {
            let place = Some((dep.name.as_str(), dep.kind));
            out.push(on_manifest(
                &NO_CROSS_CORE_IMPORTS,
                workspace,
                krate,
                place,
                message,
            ));
        }
    }
}

fn is_dev(dep: &Dependency) -> bool {
    dep.kind == DepKind::Dev
}

/// The names of modules a file declares, which shadow crate names in paths.
struct Modules(BTreeSet<String>);

impl<'ast> Visit<'ast> for Modules {
    fn visit_item_mod(&mut self, item: &'ast ItemMod) {
        self.0.insert(item.ident.to_string());
        visit::visit_item_mod(self, item);
    }
}

struct Scan<'a> {
    file: &'a SourceFile,
    krate: &'a Crate,
    names: BTreeSet<String>,
    out: &'a mut Vec<Diagnostic>,
}

impl Scan<'_> {
    fn report(&mut self, ident: &proc_macro2::Ident) {
        let message = format!(
            "core crate `{}` names workspace crate `{ident}`",
            self.krate.name
        );
        self.out
            .push(at(&NO_CROSS_CORE_IMPORTS, self.file, ident.span(), message));
    }
}

impl<'ast> Visit<'ast> for Scan<'_> {
    fn visit_item_use(&mut self, item: &'ast ItemUse) {
        let first = match &item.tree {
            syn::UseTree::Path(p) => Some(&p.ident),
            syn::UseTree::Name(n) => Some(&n.ident),
            syn::UseTree::Rename(r) => Some(&r.ident),
            syn::UseTree::Glob(_) | syn::UseTree::Group(_) => None,
        };
        if let Some(first) = first
            && self.names.contains(&first.to_string())
        {
            self.report(first);
        } else if let syn::UseTree::Group(group) = &item.tree {
            // `use {store::X, app_ops::Y};` names crates inside the group.
            let mut paths = Vec::new();
            for tree in &group.items {
                flatten_use(tree, &[], &mut paths);
            }
            for path in paths {
                if path
                    .segments
                    .first()
                    .is_some_and(|s| self.names.contains(s))
                {
                    let message = format!(
                        "core crate `{}` names workspace crate `{}`",
                        self.krate.name,
                        path.segments.first().map_or("", String::as_str)
                    );
                    self.out
                        .push(at(&NO_CROSS_CORE_IMPORTS, self.file, path.span, message));
                }
            }
        }
    }

    fn visit_item_extern_crate(&mut self, item: &'ast ItemExternCrate) {
        if self.names.contains(&item.ident.to_string()) {
            self.report(&item.ident);
        }
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        // A single-segment path is a local name (`store.append(..)`), not a crate.
        if path.segments.len() > 1
            && let Some(first) = path.segments.first()
            && self.names.contains(&first.ident.to_string())
        {
            self.report(&first.ident);
        }
        visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        for expr in macro_exprs(mac) {
            self.visit_expr(&expr);
        }
        visit::visit_macro(self, mac);
    }
}
