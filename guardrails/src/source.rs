//! One Rust source file: where it is, what role it plays in its crate, its text and its syntax
//! tree, with and without test-only code; plus the small syntax helpers the rules share.

use std::collections::BTreeMap;
use std::path::Path;

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::punctuated::Punctuated;
use syn::visit_mut::{self, VisitMut};
use syn::{Attribute, Expr, ImplItem, Item, Macro, Stmt, Token, UseTree};

use crate::error::Error;

/// What a file is for, from where it sits in its crate.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Role {
    /// Under `src/`, part of the library (or of a binary's modules).
    Lib,
    /// `src/main.rs` or under `src/bin/`: a binary's entry point.
    Bin,
    /// Under `tests/`.
    Test,
    /// Under `benches/`.
    Bench,
    /// Under `examples/`.
    Example,
    /// `build.rs`.
    Build,
    /// Anywhere else.
    Other,
}

impl Role {
    fn of(in_crate: &str) -> Role {
        if in_crate == "src/main.rs" || in_crate.starts_with("src/bin/") {
            Role::Bin
        } else if in_crate.starts_with("src/") {
            Role::Lib
        } else if in_crate.starts_with("tests/") {
            Role::Test
        } else if in_crate.starts_with("benches/") {
            Role::Bench
        } else if in_crate.starts_with("examples/") {
            Role::Example
        } else if in_crate == "build.rs" {
            Role::Build
        } else {
            Role::Other
        }
    }

    /// Whether the file is under `src/`.
    pub fn in_src(self) -> bool {
        matches!(self, Role::Lib | Role::Bin)
    }
}

/// Why a file did not parse, and where.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ParseFailure {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The parser's message.
    pub message: String,
}

/// A Rust file of a workspace crate.
#[derive(Debug)]
pub struct SourceFile {
    crate_index: usize,
    path: String,
    in_crate: String,
    role: Role,
    text: String,
    syntax: Result<Parsed, ParseFailure>,
}

struct Parsed {
    full: syn::File,
    non_test: syn::File,
}

// syn's trees implement `Debug` only with its `extra-traits` feature, which costs compile time
// for no use here.
impl std::fmt::Debug for Parsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Parsed({} items)", self.full.items.len())
    }
}

impl SourceFile {
    /// Reads and parses `path`, a file of the crate in `dir` (both relative to `root`).
    pub(crate) fn load(
        root: &Path,
        crate_index: usize,
        dir: &str,
        path: &Path,
    ) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let relative = path.strip_prefix(root).unwrap_or(path);
        let path = slash_path(relative);
        let in_crate = if dir.is_empty() {
            path.clone()
        } else {
            path.strip_prefix(&format!("{dir}/"))
                .unwrap_or(&path)
                .to_owned()
        };
        Ok(Self::from_text(crate_index, path, in_crate, text))
    }

    fn from_text(crate_index: usize, path: String, in_crate: String, text: String) -> Self {
        let syntax = syn::parse_file(&text)
            .map(|full| {
                let mut non_test = full.clone();
                StripTests.visit_file_mut(&mut non_test);
                Parsed { full, non_test }
            })
            .map_err(|e| {
                let (line, column) = position(e.span());
                // The tokenizer's own message says nothing about the cause, which is almost
                // always a delimiter without its partner.
                let message = match e.to_string().as_str() {
                    "cannot parse string into token stream" => {
                        "unbalanced delimiter or invalid token".to_owned()
                    }
                    other => other.to_owned(),
                };
                ParseFailure {
                    line,
                    column,
                    message,
                }
            });
        Self {
            crate_index,
            path,
            role: Role::of(&in_crate),
            in_crate,
            text,
            syntax,
        }
    }

    /// Index of its crate in [`crate::Workspace::crates`].
    pub fn crate_index(&self) -> usize {
        self.crate_index
    }
    /// The path relative to the workspace root, `/`-separated.
    pub fn path(&self) -> &str {
        &self.path
    }
    /// The path relative to its crate's directory (`src/lib.rs`, `tests/replay.rs`).
    pub fn path_in_crate(&self) -> &str {
        &self.in_crate
    }
    /// Its role in the crate.
    pub fn role(&self) -> Role {
        self.role
    }
    /// Its text.
    pub fn text(&self) -> &str {
        &self.text
    }
    /// The whole syntax tree, or `None` if it does not parse.
    pub fn syntax(&self) -> Option<&syn::File> {
        self.syntax.as_ref().ok().map(|p| &p.full)
    }
    /// The syntax tree without `#[cfg(test)]` and `#[test]` items, or `None` if it does not parse.
    pub fn non_test_syntax(&self) -> Option<&syn::File> {
        self.syntax.as_ref().ok().map(|p| &p.non_test)
    }
    /// Why it does not parse, if it does not.
    pub fn parse_failure(&self) -> Option<&ParseFailure> {
        self.syntax.as_ref().err()
    }
}

fn slash_path(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// The 1-based line and column where `span` starts.
pub fn position(span: Span) -> (usize, usize) {
    let start = span.start();
    (start.line, start.column + 1)
}

/// Whether the attributes mark test-only code: `#[test]` (or `#[tokio::test]`-style), or
/// `#[cfg(test)]` / `#[cfg(all(test, ...))]`.
pub fn is_test_code(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|attr| {
        let path = attr.path();
        if path.segments.last().is_some_and(|s| s.ident == "test") {
            return true;
        }
        path.is_ident("cfg")
            && attr
                .parse_args::<TokenStream>()
                .is_ok_and(cfg_requires_test)
    })
}

/// Whether a `cfg(...)` predicate holds only under `test`: `test` itself, or `all(...)` with a
/// `test` inside. `any(test, x)` and `not(test)` also compile outside tests, so they do not count.
fn cfg_requires_test(tokens: TokenStream) -> bool {
    let mut tokens = tokens.into_iter().peekable();
    while let Some(token) = tokens.next() {
        if let TokenTree::Ident(ident) = &token {
            if ident == "test" && tokens.peek().is_none_or(is_comma) {
                return true;
            }
            if ident == "all"
                && let Some(TokenTree::Group(group)) = tokens.peek()
                && cfg_requires_test(group.stream())
            {
                return true;
            }
        }
    }
    false
}

fn is_comma(token: &TokenTree) -> bool {
    matches!(token, TokenTree::Punct(p) if p.as_char() == ',')
}

/// Removes test-only items (see [`is_test_code`]) at every level.
struct StripTests;

fn item_attrs(item: &Item) -> &[Attribute] {
    match item {
        Item::Const(i) => &i.attrs,
        Item::Enum(i) => &i.attrs,
        Item::ExternCrate(i) => &i.attrs,
        Item::Fn(i) => &i.attrs,
        Item::ForeignMod(i) => &i.attrs,
        Item::Impl(i) => &i.attrs,
        Item::Macro(i) => &i.attrs,
        Item::Mod(i) => &i.attrs,
        Item::Static(i) => &i.attrs,
        Item::Struct(i) => &i.attrs,
        Item::Trait(i) => &i.attrs,
        Item::TraitAlias(i) => &i.attrs,
        Item::Type(i) => &i.attrs,
        Item::Union(i) => &i.attrs,
        Item::Use(i) => &i.attrs,
        _ => &[],
    }
}

fn impl_item_attrs(item: &ImplItem) -> &[Attribute] {
    match item {
        ImplItem::Const(i) => &i.attrs,
        ImplItem::Fn(i) => &i.attrs,
        ImplItem::Type(i) => &i.attrs,
        ImplItem::Macro(i) => &i.attrs,
        _ => &[],
    }
}

impl VisitMut for StripTests {
    fn visit_file_mut(&mut self, file: &mut syn::File) {
        file.items.retain(|i| !is_test_code(item_attrs(i)));
        visit_mut::visit_file_mut(self, file);
    }
    fn visit_item_mod_mut(&mut self, module: &mut syn::ItemMod) {
        if let Some((_, items)) = &mut module.content {
            items.retain(|i| !is_test_code(item_attrs(i)));
        }
        visit_mut::visit_item_mod_mut(self, module);
    }
    fn visit_item_impl_mut(&mut self, block: &mut syn::ItemImpl) {
        block.items.retain(|i| !is_test_code(impl_item_attrs(i)));
        visit_mut::visit_item_impl_mut(self, block);
    }
    fn visit_block_mut(&mut self, block: &mut syn::Block) {
        block
            .stmts
            .retain(|s| !matches!(s, Stmt::Item(i) if is_test_code(item_attrs(i))));
        visit_mut::visit_block_mut(self, block);
    }
}

/// The expressions inside a function-like macro call whose body is a comma-separated list of
/// expressions (`format!`, `vec![..]`, `assert_eq!`, `write!`...); empty for any other shape.
/// Rules visit them so that `format!("{}", x.unwrap())` is not a hiding place.
pub fn macro_exprs(mac: &Macro) -> Vec<Expr> {
    mac.parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated)
        .map(|list| list.into_iter().collect())
        .unwrap_or_default()
}

/// One imported path of a `use` item, flattened: `use std::{fs, io as x}` gives `std::fs` and
/// `std::io` (named `x`).
#[derive(Clone, Debug)]
pub struct UsePath {
    /// The full path, `self` resolved (`use std::fs::{self}` is `std::fs`).
    pub segments: Vec<String>,
    /// The name it is known by in the file (`*` for a glob).
    pub name: String,
    /// Where it is written.
    pub span: Span,
}

/// Flattens a use tree into the paths it imports. Each path's span is where it starts to be
/// written: the first segment of the item (`std` in `use std::fs;`), or the first segment inside
/// its braces (`fs` in `use std::{fs, net};`).
pub fn flatten_use(tree: &UseTree, prefix: &[String], out: &mut Vec<UsePath>) {
    flatten_from(tree, prefix, None, out);
}

fn flatten_from(tree: &UseTree, prefix: &[String], start: Option<Span>, out: &mut Vec<UsePath>) {
    let with = |last: String| {
        let mut segments = prefix.to_vec();
        segments.push(last);
        segments
    };
    match tree {
        UseTree::Path(p) => {
            let start = start.unwrap_or_else(|| p.ident.span());
            flatten_from(&p.tree, &with(p.ident.to_string()), Some(start), out);
        }
        UseTree::Name(n) if n.ident == "self" => out.push(UsePath {
            name: prefix.last().cloned().unwrap_or_default(),
            segments: prefix.to_vec(),
            span: start.unwrap_or_else(|| n.ident.span()),
        }),
        UseTree::Name(n) => out.push(UsePath {
            segments: with(n.ident.to_string()),
            name: n.ident.to_string(),
            span: start.unwrap_or_else(|| n.ident.span()),
        }),
        UseTree::Rename(r) => {
            let segments = if r.ident == "self" {
                prefix.to_vec()
            } else {
                with(r.ident.to_string())
            };
            out.push(UsePath {
                segments,
                name: r.rename.to_string(),
                span: start.unwrap_or_else(|| r.ident.span()),
            });
        }
        UseTree::Glob(g) => out.push(UsePath {
            segments: with("*".to_owned()),
            name: "*".to_owned(),
            span: start.unwrap_or(g.star_token.span),
        }),
        UseTree::Group(g) => {
            for tree in &g.items {
                flatten_from(tree, prefix, None, out);
            }
        }
    }
}

/// Every path a file imports, from `use` items at any depth.
pub fn use_paths(file: &syn::File) -> Vec<UsePath> {
    struct Collect(Vec<UsePath>);
    impl<'ast> syn::visit::Visit<'ast> for Collect {
        fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
            flatten_use(&item.tree, &[], &mut self.0);
        }
    }
    let mut collect = Collect(Vec::new());
    syn::visit::Visit::visit_file(&mut collect, file);
    collect.0
}

/// What each imported name of a file stands for, so that `use std::fs; fs::read(..)` can be seen
/// as `std::fs::read` and `use PaymentState as S;` makes `S::Settled` a state.
#[derive(Clone, Default, Debug)]
pub struct Imports {
    names: BTreeMap<String, Vec<String>>,
}

impl Imports {
    /// The imports of `file`.
    pub fn of(file: &syn::File) -> Self {
        let names = use_paths(file)
            .into_iter()
            .filter(|u| u.name != "*" && u.name != "_")
            .map(|u| (u.name, u.segments))
            .collect();
        Self { names }
    }

    /// `segments` with its first segment replaced by what it was imported as.
    pub fn expand(&self, segments: &[String]) -> Vec<String> {
        match segments.split_first() {
            Some((first, rest)) => match self.names.get(first) {
                Some(full) => full.iter().chain(rest).cloned().collect(),
                None => segments.to_vec(),
            },
            None => Vec::new(),
        }
    }

    /// The names under which `target` (matched by its last segment) is imported, renames
    /// included.
    pub fn aliases_of(&self, target: &str) -> Vec<String> {
        self.names
            .iter()
            .filter(|(_, full)| full.last().is_some_and(|l| l == target))
            .map(|(name, _)| name.clone())
            .collect()
    }
}

/// The segments of a path as strings.
pub fn segments(path: &syn::Path) -> Vec<String> {
    path.segments.iter().map(|s| s.ident.to_string()).collect()
}

/// Every identifier in a token stream, at any depth, with its span.
pub fn idents(tokens: TokenStream, out: &mut Vec<proc_macro2::Ident>) {
    for token in tokens {
        match token {
            TokenTree::Ident(ident) => out.push(ident),
            TokenTree::Group(group) => idents(group.stream(), out),
            TokenTree::Punct(_) | TokenTree::Literal(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> SourceFile {
        SourceFile::from_text(0, "x.rs".into(), "src/x.rs".into(), text.into())
    }

    #[test]
    fn test_items_are_stripped_from_the_non_test_tree() {
        let f = file(
            "fn a() {}\n#[cfg(test)] mod tests { fn b() {} }\n#[test] fn c() {}\n\
             #[cfg(all(test, feature = \"x\"))] fn d() {}\n#[cfg(not(test))] fn e() {}",
        );
        let names: Vec<String> = f
            .non_test_syntax()
            .unwrap()
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Fn(f) => Some(f.sig.ident.to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(names, ["a", "e"]);
    }

    #[test]
    fn a_parse_failure_has_a_position() {
        let f = file("fn a() {\n  let = ;\n}");
        let failure = f.parse_failure().unwrap();
        assert_eq!((failure.line, failure.column), (2, 7));
    }

    #[test]
    fn imports_expand_renames_and_self() {
        let f = file(
            "use std::{fs::{self}, time::Instant as I};\nuse crate::state::PaymentState as S;",
        );
        let imports = Imports::of(f.syntax().unwrap());
        assert_eq!(
            imports.expand(&["fs".into(), "read".into()]),
            ["std", "fs", "read"]
        );
        assert_eq!(
            imports.expand(&["I".into(), "now".into()]),
            ["std", "time", "Instant", "now"]
        );
        assert_eq!(imports.aliases_of("PaymentState"), ["S"]);
    }
}
