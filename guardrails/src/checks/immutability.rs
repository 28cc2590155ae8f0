//! `event-immutability`: events are values that never change, and stores only append.
//!
//! Detection: the event types of a core crate are every `pub enum *Event` in its non-test
//! `src/`, the types its tuple variants wrap, and every struct and enum declared in its event
//! module (`src/event.rs`, `src/events.rs` or under `src/event/`, `src/events/`). For each, a
//! field that is not private, a field whose type holds a `Cell`, `RefCell`, `Mutex`, `RwLock`,
//! `Once*`/`Lazy*` or atomic, or a method in any `impl` of the type that takes `&mut self` is a
//! violation. Event structs that a `macro_rules!` of the event module generates are invisible to
//! the parser, so the event module's macro definitions and calls are scanned as tokens: `&mut
//! self`, a `pub` inside a `struct ... { }` body, or an interior-mutable type name is reported.
//! Separately, every `trait *Store` in any crate may not declare a method whose name contains
//! `update`, `delete`, `remove`, `truncate`, `overwrite` or `replace`.

use std::collections::BTreeSet;

use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::visit::{self, Visit};
use syn::{
    Fields, FnArg, ImplItem, ItemEnum, ItemImpl, ItemMacro, ItemStruct, ItemTrait, TraitItem,
};
use syn::{Type, Visibility};

use super::{Diagnostic, at, is_interior_mutable};
use crate::rules::EVENT_IMMUTABILITY;
use crate::source::{SourceFile, idents};
use crate::workspace::Workspace;

const MUTATING_WORDS: &[&str] = &[
    "update",
    "delete",
    "remove",
    "truncate",
    "overwrite",
    "replace",
];

/// Checks core event types and every store trait.
pub fn check(workspace: &Workspace, out: &mut Vec<Diagnostic>) {
    for krate in workspace.crates().iter().filter(|c| workspace.is_core(c)) {
        let files: Vec<&SourceFile> = workspace
            .files()
            .iter()
            .filter(|f| {
                f.role().in_src() && workspace.crate_of(f).is_some_and(|c| c.name == krate.name)
            })
            .collect();
        let mut names = EventNames::default();
        for file in &files {
            if let Some(syntax) = file.non_test_syntax() {
                names.in_event_module = is_event_module(file);
                names.visit_file(syntax);
            }
        }
        for file in &files {
            if let Some(syntax) = file.non_test_syntax() {
                let event_module = is_event_module(file);
                let mut scan = Scan {
                    file,
                    names: &names.names,
                    event_module,
                    out,
                };
                scan.visit_file(syntax);
            }
        }
    }
    for file in workspace.files().iter().filter(|f| f.role().in_src()) {
        if let Some(syntax) = file.non_test_syntax() {
            StoreTraits { file, out }.visit_file(syntax);
        }
    }
}

fn is_event_module(file: &SourceFile) -> bool {
    let path = file.path_in_crate();
    matches!(path, "src/event.rs" | "src/events.rs")
        || path.starts_with("src/event/")
        || path.starts_with("src/events/")
}

/// The names of the event types, gathered from every `src/` file of a core crate.
#[derive(Default)]
struct EventNames {
    names: BTreeSet<String>,
    in_event_module: bool,
}

impl<'ast> Visit<'ast> for EventNames {
    fn visit_item_enum(&mut self, item: &'ast ItemEnum) {
        let is_event_enum =
            matches!(item.vis, Visibility::Public(_)) && item.ident.to_string().ends_with("Event");
        if is_event_enum || self.in_event_module {
            self.names.insert(item.ident.to_string());
        }
        if is_event_enum {
            for variant in &item.variants {
                if let Fields::Unnamed(fields) = &variant.fields
                    && let [field] = fields.unnamed.iter().collect::<Vec<_>>().as_slice()
                    && let Type::Path(path) = &field.ty
                    && let Some(last) = path.path.segments.last()
                {
                    self.names.insert(last.ident.to_string());
                }
            }
        }
        visit::visit_item_enum(self, item);
    }

    fn visit_item_struct(&mut self, item: &'ast ItemStruct) {
        if self.in_event_module {
            self.names.insert(item.ident.to_string());
        }
        visit::visit_item_struct(self, item);
    }
}

struct Scan<'a> {
    file: &'a SourceFile,
    names: &'a BTreeSet<String>,
    event_module: bool,
    out: &'a mut Vec<Diagnostic>,
}

impl Scan<'_> {
    fn report(&mut self, span: Span, message: String) {
        self.out
            .push(at(&EVENT_IMMUTABILITY, self.file, span, message));
    }

    fn check_fields(&mut self, owner: &str, fields: &Fields) {
        for (index, field) in fields.iter().enumerate() {
            let name = field
                .ident
                .as_ref()
                .map_or_else(|| index.to_string(), ToString::to_string);
            if !matches!(field.vis, Visibility::Inherited) {
                let span = field
                    .vis
                    .to_token_stream()
                    .into_iter()
                    .next()
                    .map(|t| t.span());
                let message = format!("field `{name}` of event type `{owner}` is not private");
                self.report(span.unwrap_or_else(Span::call_site), message);
            }
            if let Some(cell) = interior_mutable_in(field.ty.to_token_stream()).first() {
                let message = format!(
                    "field `{name}` of event type `{owner}` has interior-mutable type `{cell}`"
                );
                self.report(cell.span(), message);
            }
        }
    }

    /// Token-level checks of a macro definition or call in the event module.
    fn check_macro(&mut self, tokens: TokenStream) {
        for cell in interior_mutable_in(tokens.clone()) {
            let message =
                format!("a macro in the event module uses interior-mutable type `{cell}`");
            self.report(cell.span(), message);
        }
        self.scan_macro_level(tokens);
    }

    /// Looks for `&mut self` and `struct ... { }` at this level and in every nested group, since
    /// both can sit inside `$( ... )*` repetitions.
    fn scan_macro_level(&mut self, tokens: TokenStream) {
        let list: Vec<TokenTree> = tokens.into_iter().collect();
        for (i, token) in list.iter().enumerate() {
            let next = |n: usize| list.get(i + n);
            match token {
                TokenTree::Punct(amp)
                    if amp.as_char() == '&'
                        && matches!(next(1), Some(TokenTree::Ident(m)) if m == "mut")
                        && matches!(next(2), Some(TokenTree::Ident(s)) if s == "self") =>
                {
                    let message =
                        "a macro in the event module declares a `&mut self` method".to_owned();
                    self.report(amp.span(), message);
                }
                TokenTree::Ident(keyword) if keyword == "struct" => {
                    let body = (1..=3).filter_map(next).find_map(|t| match t {
                        TokenTree::Group(g) if g.delimiter() == Delimiter::Brace => {
                            Some(g.stream())
                        }
                        _ => None,
                    });
                    if let Some(body) = body {
                        self.check_macro_struct_body(body);
                    }
                }
                TokenTree::Group(group) => self.scan_macro_level(group.stream()),
                _ => {}
            }
        }
    }

    /// A `pub` anywhere in a struct body (outside attributes) is a field's visibility.
    fn check_macro_struct_body(&mut self, body: TokenStream) {
        for token in body {
            match token {
                TokenTree::Ident(ident) if ident == "pub" => {
                    let message = "a macro in the event module declares an event field that is \
                                   not private"
                        .to_owned();
                    self.report(ident.span(), message);
                }
                TokenTree::Group(group) if group.delimiter() != Delimiter::Bracket => {
                    self.check_macro_struct_body(group.stream());
                }
                _ => {}
            }
        }
    }
}

impl<'ast> Visit<'ast> for Scan<'_> {
    fn visit_item_struct(&mut self, item: &'ast ItemStruct) {
        if self.names.contains(&item.ident.to_string()) {
            self.check_fields(&item.ident.to_string(), &item.fields);
        }
        visit::visit_item_struct(self, item);
    }

    fn visit_item_enum(&mut self, item: &'ast ItemEnum) {
        if self.names.contains(&item.ident.to_string()) {
            for variant in &item.variants {
                let owner = format!("{}::{}", item.ident, variant.ident);
                self.check_fields(&owner, &variant.fields);
            }
        }
        visit::visit_item_enum(self, item);
    }

    fn visit_item_impl(&mut self, item: &'ast ItemImpl) {
        let self_name = match &*item.self_ty {
            Type::Path(path) => path.path.segments.last().map(|s| s.ident.to_string()),
            _ => None,
        };
        if let Some(owner) = self_name.filter(|n| self.names.contains(n)) {
            for method in item.items.iter().filter_map(|i| match i {
                ImplItem::Fn(f) => Some(f),
                _ => None,
            }) {
                if let Some(FnArg::Receiver(receiver)) = method.sig.inputs.first()
                    && matches!(&*receiver.ty, Type::Reference(r) if r.mutability.is_some())
                {
                    let span = receiver
                        .to_token_stream()
                        .into_iter()
                        .next()
                        .map(|t| t.span());
                    let message = format!(
                        "method `{}` of event type `{owner}` takes `&mut self`",
                        method.sig.ident
                    );
                    self.report(span.unwrap_or_else(Span::call_site), message);
                }
            }
        }
        visit::visit_item_impl(self, item);
    }

    fn visit_item_macro(&mut self, item: &'ast ItemMacro) {
        if self.event_module {
            self.check_macro(item.mac.tokens.clone());
        }
        visit::visit_item_macro(self, item);
    }
}

/// Every interior-mutable type name in `tokens`.
fn interior_mutable_in(tokens: TokenStream) -> Vec<proc_macro2::Ident> {
    let mut all = Vec::new();
    idents(tokens, &mut all);
    all.retain(|i| is_interior_mutable(&i.to_string()));
    all
}

/// Store traits may only add: no method that changes or removes what was stored.
struct StoreTraits<'a> {
    file: &'a SourceFile,
    out: &'a mut Vec<Diagnostic>,
}

impl<'ast> Visit<'ast> for StoreTraits<'_> {
    fn visit_item_trait(&mut self, item: &'ast ItemTrait) {
        if item.ident.to_string().ends_with("Store") {
            for method in item.items.iter().filter_map(|i| match i {
                TraitItem::Fn(f) => Some(f),
                _ => None,
            }) {
                let name = method.sig.ident.to_string();
                let lower = name.to_lowercase();
                if let Some(word) = MUTATING_WORDS.iter().find(|w| lower.contains(*w)) {
                    let message = format!(
                        "store trait `{}` declares `{name}`, which would {word} stored events; \
                         stores only append",
                        item.ident
                    );
                    self.out.push(at(
                        &EVENT_IMMUTABILITY,
                        self.file,
                        method.sig.ident.span(),
                        message,
                    ));
                }
            }
        }
        visit::visit_item_trait(self, item);
    }
}
