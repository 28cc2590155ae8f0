//! `terminal-state-enforcement`: matches over the domain enums stay exhaustive, and nothing moves
//! a payment without checking the terminal rule first.
//!
//! Catch-all arms: in every crate's non-test `src/`, a `match` is over a domain enum when any arm
//! pattern, at any depth, is a path `E::X` (or `E::X(..)`, `E::X { .. }`) where `E` is
//! `PaymentState`, `EventKind`, a core `pub enum *Event`, a `use ... as` alias of one of them, or
//! `Self` inside an `impl` of one. Such a match may not have an arm, without a guard, whose
//! pattern is `_` or a lower-case binding (alone, or as one alternative of an `|` pattern).
//!
//! Movers: in a core crate's non-test `src/`, within each function and in source order, a call
//! to `evolve` or an assignment to a `.state` field must come after a call to `decide` or to a
//! function whose name contains `terminal`; a call to `next_state` or `check_transition` must
//! come after a call whose name contains `terminal`; and `decide` must call such a function.
//! `next_state` (the table lookup), `check_transition` (its one caller) and `evolve` (the only
//! writer of `.state`) are the primitives and are exempt for the step they implement.

use std::collections::BTreeMap;

use proc_macro2::Span;
use syn::visit::{self, Visit};
use syn::{Arm, Expr, ExprAssign, ExprCall, ExprMatch, ExprMethodCall, ImplItemFn, ItemFn};
use syn::{ItemImpl, Macro, Member, Pat, Type, Visibility};

use super::{Diagnostic, at};
use crate::rules::TERMINAL_STATE_ENFORCEMENT;
use crate::source::{Imports, SourceFile, macro_exprs, position};
use crate::workspace::Workspace;

/// The enums whose matches must list every variant, besides the core's `*Event` enums.
pub const DOMAIN_ENUMS: &[&str] = &["PaymentState", "EventKind", "PaymentEvent"];

/// Checks every crate for catch-all arms and every core crate for unguarded moves.
pub fn check(workspace: &Workspace, out: &mut Vec<Diagnostic>) {
    let mut domain: Vec<String> = DOMAIN_ENUMS.iter().map(|s| (*s).to_owned()).collect();
    for file in workspace.core_files().filter(|f| f.role().in_src()) {
        if let Some(syntax) = file.non_test_syntax() {
            let mut events = EventEnums(&mut domain);
            events.visit_file(syntax);
        }
    }
    for file in workspace.files().iter().filter(|f| f.role().in_src()) {
        let Some(syntax) = file.non_test_syntax() else {
            continue;
        };
        let imports = Imports::of(syntax);
        let mut names = BTreeMap::new();
        for enum_name in &domain {
            names.insert(enum_name.clone(), enum_name.clone());
            for alias in imports.aliases_of(enum_name) {
                names.insert(alias, enum_name.clone());
            }
        }
        let mut matches = Matches {
            file,
            names,
            out: &mut *out,
        };
        matches.visit_file(syntax);
    }
    for file in workspace.core_files().filter(|f| f.role().in_src()) {
        if let Some(syntax) = file.non_test_syntax() {
            Movers {
                file,
                out: &mut *out,
            }
            .visit_file(syntax);
        }
    }
}

struct EventEnums<'a>(&'a mut Vec<String>);

impl<'ast> Visit<'ast> for EventEnums<'_> {
    fn visit_item_enum(&mut self, item: &'ast syn::ItemEnum) {
        let name = item.ident.to_string();
        if matches!(item.vis, Visibility::Public(_))
            && name.ends_with("Event")
            && !self.0.contains(&name)
        {
            self.0.push(name);
        }
        visit::visit_item_enum(self, item);
    }
}

struct Matches<'a> {
    file: &'a SourceFile,
    /// Name (or alias, or `Self`) -> the domain enum it stands for.
    names: BTreeMap<String, String>,
    out: &'a mut Vec<Diagnostic>,
}

impl Matches<'_> {
    /// The domain enum an arm pattern names at any depth, if any.
    fn domain_enum(&self, pat: &Pat) -> Option<String> {
        let from_path = |path: &syn::Path| {
            let n = path.segments.len();
            let owner = path.segments.iter().nth(n.checked_sub(2)?)?;
            self.names.get(&owner.ident.to_string()).cloned()
        };
        match pat {
            Pat::Path(p) => from_path(&p.path),
            Pat::TupleStruct(p) => {
                from_path(&p.path).or_else(|| p.elems.iter().find_map(|e| self.domain_enum(e)))
            }
            Pat::Struct(p) => from_path(&p.path)
                .or_else(|| p.fields.iter().find_map(|f| self.domain_enum(&f.pat))),
            Pat::Or(p) => p.cases.iter().find_map(|c| self.domain_enum(c)),
            Pat::Tuple(p) => p.elems.iter().find_map(|e| self.domain_enum(e)),
            Pat::Slice(p) => p.elems.iter().find_map(|e| self.domain_enum(e)),
            Pat::Reference(p) => self.domain_enum(&p.pat),
            Pat::Paren(p) => self.domain_enum(&p.pat),
            Pat::Type(p) => self.domain_enum(&p.pat),
            Pat::Ident(p) => p.subpat.as_ref().and_then(|(_, sub)| self.domain_enum(sub)),
            _ => None,
        }
    }
}

/// The catch-all part of an arm pattern: `_` or a lower-case binding, alone or in an `|`.
fn catch_all(pat: &Pat) -> Option<Span> {
    match pat {
        Pat::Wild(w) => Some(w.underscore_token.span),
        Pat::Ident(i)
            if i.subpat.is_none()
                && i.ident
                    .to_string()
                    .starts_with(|c: char| c.is_lowercase() || c == '_') =>
        {
            Some(i.ident.span())
        }
        Pat::Or(p) => p.cases.iter().find_map(catch_all),
        Pat::Paren(p) => catch_all(&p.pat),
        Pat::Reference(p) => catch_all(&p.pat),
        _ => None,
    }
}

impl<'ast> Visit<'ast> for Matches<'_> {
    fn visit_expr_match(&mut self, expr: &'ast ExprMatch) {
        let domain = expr.arms.iter().find_map(|arm| self.domain_enum(&arm.pat));
        if let Some(domain) = domain {
            let catch_alls = expr
                .arms
                .iter()
                .filter(|arm: &&Arm| arm.guard.is_none())
                .filter_map(|arm| catch_all(&arm.pat));
            let found: Vec<Span> = catch_alls.collect();
            for span in found {
                let message =
                    format!("catch-all arm in a match over `{domain}`; list every variant instead");
                self.out
                    .push(at(&TERMINAL_STATE_ENFORCEMENT, self.file, span, message));
            }
        }
        visit::visit_expr_match(self, expr);
    }

    fn visit_item_impl(&mut self, item: &'ast ItemImpl) {
        // Inside `impl PaymentState`, `Self::Settled` is a state.
        let self_name = match &*item.self_ty {
            Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
            _ => None,
        };
        let domain = self_name.and_then(|n| self.names.get(&n).cloned());
        let previous = self.names.get("Self").cloned();
        match &domain {
            Some(d) => self.names.insert("Self".to_owned(), d.clone()),
            None => self.names.remove("Self"),
        };
        visit::visit_item_impl(self, item);
        match previous {
            Some(p) => self.names.insert("Self".to_owned(), p),
            None => self.names.remove("Self"),
        };
    }

    fn visit_macro(&mut self, mac: &'ast Macro) {
        for expr in macro_exprs(mac) {
            self.visit_expr(&expr);
        }
        visit::visit_macro(self, mac);
    }
}

/// What a function body does, in source order, that matters for the terminal rule.
#[derive(Clone, PartialEq, Eq, Debug)]
enum Step {
    Call(String),
    AssignState,
}

struct Movers<'a> {
    file: &'a SourceFile,
    out: &'a mut Vec<Diagnostic>,
}

impl Movers<'_> {
    fn check_fn(&mut self, name: &syn::Ident, block: &syn::Block) {
        let mut steps = Steps(Vec::new());
        steps.visit_block(block);
        let mut steps = steps.0;
        steps.sort_by_key(|(pos, _)| *pos);
        let fn_name = name.to_string();
        if let Some((span, message)) = first_unguarded(&fn_name, &steps) {
            self.out
                .push(at(&TERMINAL_STATE_ENFORCEMENT, self.file, span, message));
        }
        let checks_terminal = steps
            .iter()
            .any(|(_, (step, _))| matches!(step, Step::Call(c) if c.contains("terminal")));
        if fn_name == "decide" && !checks_terminal {
            let message = "`decide` never calls the terminal check".to_owned();
            self.out.push(at(
                &TERMINAL_STATE_ENFORCEMENT,
                self.file,
                name.span(),
                message,
            ));
        }
    }
}

type Located = ((usize, usize), (Step, Span));

/// The first step of `fn_name` that moves a payment before the terminal rule was checked.
fn first_unguarded(fn_name: &str, steps: &[Located]) -> Option<(Span, String)> {
    let mut terminal_checked = false;
    let mut decided = false;
    for (_, (step, span)) in steps {
        let problem = match step {
            Step::Call(c) if c.contains("terminal") => {
                terminal_checked = true;
                decided = true;
                None
            }
            Step::Call(c) if c == "decide" => {
                decided = true;
                None
            }
            Step::Call(c) if c == "evolve" && fn_name != "evolve" && !decided => Some(format!(
                "`{fn_name}` calls `evolve` before `decide` or a terminal check"
            )),
            Step::Call(c)
                if (c == "next_state"
                    && fn_name != "check_transition"
                    && fn_name != "next_state")
                    || (c == "check_transition" && fn_name != "check_transition") =>
            {
                (!terminal_checked)
                    .then(|| format!("`{fn_name}` calls `{c}` before checking the terminal rule"))
            }
            Step::AssignState if fn_name != "evolve" && !decided => Some(format!(
                "`{fn_name}` assigns `.state` before `decide` or a terminal check"
            )),
            Step::Call(_) | Step::AssignState => None,
        };
        if let Some(message) = problem {
            return Some((*span, message));
        }
    }
    None
}

impl<'ast> Visit<'ast> for Movers<'_> {
    fn visit_item_fn(&mut self, item: &'ast ItemFn) {
        self.check_fn(&item.sig.ident, &item.block);
        visit::visit_item_fn(self, item);
    }

    fn visit_impl_item_fn(&mut self, item: &'ast ImplItemFn) {
        self.check_fn(&item.sig.ident, &item.block);
        visit::visit_impl_item_fn(self, item);
    }
}

/// The steps of one function body; nested functions are checked on their own.
struct Steps(Vec<Located>);

impl Steps {
    fn push(&mut self, span: Span, step: Step) {
        self.0.push((position(span), (step, span)));
    }
}

impl<'ast> Visit<'ast> for Steps {
    fn visit_item_fn(&mut self, _: &'ast ItemFn) {}

    fn visit_item_impl(&mut self, _: &'ast ItemImpl) {}

    fn visit_expr_call(&mut self, call: &'ast ExprCall) {
        if let Expr::Path(path) = &*call.func
            && let Some(last) = path.path.segments.last()
        {
            self.push(last.ident.span(), Step::Call(last.ident.to_string()));
        }
        visit::visit_expr_call(self, call);
    }

    fn visit_expr_method_call(&mut self, call: &'ast ExprMethodCall) {
        self.push(call.method.span(), Step::Call(call.method.to_string()));
        visit::visit_expr_method_call(self, call);
    }

    fn visit_expr_assign(&mut self, assign: &'ast ExprAssign) {
        if let Expr::Field(field) = &*assign.left
            && let Member::Named(member) = &field.member
            && member == "state"
        {
            self.push(member.span(), Step::AssignState);
        }
        visit::visit_expr_assign(self, assign);
    }

    fn visit_macro(&mut self, mac: &'ast Macro) {
        for expr in macro_exprs(mac) {
            self.visit_expr(&expr);
        }
        visit::visit_macro(self, mac);
    }
}
