//! The workspace model every rule reads: crates with their layer, their direct dependencies and
//! the whole package graph (for transitive dependencies), and every Rust source file, parsed.
//!
//! It is built either from `cargo metadata` ([`crate::metadata`]) or from a fixture description
//! ([`crate::fixture`]), so that the rules never care which.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use crate::error::Error;
use crate::layers::{Layer, LayerKind, LayerTable};
use crate::source::SourceFile;

/// How a dependency is used.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum DepKind {
    /// `[dependencies]`: part of the library or binary.
    Normal,
    /// `[dev-dependencies]`: tests, benches and examples only.
    Dev,
    /// `[build-dependencies]`: the build script only.
    Build,
}

impl DepKind {
    /// The manifest table that declares this kind of dependency.
    pub fn table(self) -> &'static str {
        match self {
            DepKind::Normal => "dependencies",
            DepKind::Dev => "dev-dependencies",
            DepKind::Build => "build-dependencies",
        }
    }
}

/// One package of the dependency graph (a workspace crate or an external one).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Node {
    /// The package name.
    pub name: String,
    /// Its dependencies: package ids and how they are used.
    pub deps: Vec<(String, DepKind)>,
}

/// Every package the workspace resolves to, by package id.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Graph {
    nodes: BTreeMap<String, Node>,
}

impl Graph {
    /// Adds (or replaces) the package with this id.
    pub fn insert(&mut self, id: impl Into<String>, node: Node) {
        self.nodes.insert(id.into(), node);
    }

    /// The package with this id.
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.get(id)
    }

    /// Every package reachable from `start` through normal dependencies, each with the chain of
    /// package names that leads to it (starting with `start`'s own name), shortest first.
    pub fn normal_closure(&self, start: &str) -> Vec<(String, Vec<String>)> {
        let mut seen = BTreeSet::from([start.to_owned()]);
        let mut queue = VecDeque::new();
        let start_name = self.node(start).map_or(start, |n| n.name.as_str());
        queue.push_back((start.to_owned(), vec![start_name.to_owned()]));
        let mut reached = Vec::new();
        while let Some((id, chain)) = queue.pop_front() {
            let Some(node) = self.node(&id) else { continue };
            for (dep, kind) in &node.deps {
                if *kind != DepKind::Normal || !seen.insert(dep.clone()) {
                    continue;
                }
                let name = self.node(dep).map_or(dep.as_str(), |n| n.name.as_str());
                let mut next = chain.clone();
                next.push(name.to_owned());
                reached.push((dep.clone(), next.clone()));
                queue.push_back((dep.clone(), next));
            }
        }
        reached
    }
}

/// A direct dependency of a workspace crate.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Dependency {
    /// The package name.
    pub name: String,
    /// How it is used.
    pub kind: DepKind,
    /// Whether it is a crate of this workspace.
    pub workspace: bool,
}

/// A crate (package) of the workspace.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Crate {
    /// The package name, as in its Cargo.toml.
    pub name: String,
    /// Its id in the [`Graph`].
    pub id: String,
    /// Its directory relative to the workspace root, `/`-separated (`""` for the root).
    pub dir: String,
    /// Its direct dependencies.
    pub deps: Vec<Dependency>,
    /// The names of its integration-test targets (`tests/*.rs`), when known.
    pub test_targets: Vec<String>,
}

impl Crate {
    /// Its Cargo.toml, relative to the workspace root.
    pub fn manifest(&self) -> String {
        join(&self.dir, "Cargo.toml")
    }

    /// The name as Rust code spells it (`core-npp` is `core_npp`).
    pub fn rust_name(&self) -> String {
        self.name.replace('-', "_")
    }
}

/// The workspace: its root, crates, package graph, layer table and source files.
#[derive(Debug)]
pub struct Workspace {
    root: PathBuf,
    crates: Vec<Crate>,
    graph: Graph,
    layers: LayerTable,
    files: Vec<SourceFile>,
}

impl Workspace {
    /// Builds the model and reads and parses every Rust file of every crate.
    pub fn new(
        root: PathBuf,
        crates: Vec<Crate>,
        graph: Graph,
        layers: LayerTable,
    ) -> Result<Self, Error> {
        let mut files = Vec::new();
        for (index, krate) in crates.iter().enumerate() {
            for path in rust_files(&root, &krate.dir, &crates)? {
                files.push(SourceFile::load(&root, index, &krate.dir, &path)?);
            }
        }
        Ok(Self {
            root,
            crates,
            graph,
            layers,
            files,
        })
    }

    /// The directory everything is relative to.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// The crates, in the order they were given.
    pub fn crates(&self) -> &[Crate] {
        &self.crates
    }
    /// The crate with this name.
    pub fn crate_named(&self, name: &str) -> Option<&Crate> {
        self.crates.iter().find(|c| c.name == name)
    }
    /// The package graph.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }
    /// The layer table.
    pub fn layers(&self) -> &LayerTable {
        &self.layers
    }
    /// Every Rust file, sorted by path within each crate.
    pub fn files(&self) -> &[SourceFile] {
        &self.files
    }
    /// The crate a file belongs to.
    pub fn crate_of(&self, file: &SourceFile) -> Option<&Crate> {
        self.crates.get(file.crate_index())
    }
    /// The layer of a crate, if it has one.
    pub fn layer_of(&self, krate: &Crate) -> Option<&Layer> {
        self.layers.layer_of(&krate.name)
    }
    /// Whether the crate is in a core layer.
    pub fn is_core(&self, krate: &Crate) -> bool {
        self.layer_of(krate)
            .is_some_and(|l| l.kind() == LayerKind::Core)
    }
    /// Whether the crate is part of the product (not tooling). An unassigned crate counts as
    /// product, so that a missing layer never switches rules off.
    pub fn is_product(&self, krate: &Crate) -> bool {
        self.layer_of(krate)
            .is_none_or(|l| l.kind() != LayerKind::Tooling)
    }
    /// The files of core crates.
    pub fn core_files(&self) -> impl Iterator<Item = &SourceFile> {
        self.files
            .iter()
            .filter(|f| self.crate_of(f).is_some_and(|c| self.is_core(c)))
    }
}

/// Joins a `/`-separated directory and a name (the root directory is `""`).
pub fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

/// The Rust files of the crate in `dir`, sorted: everything but build output, hidden
/// directories, other crates nested inside it and test fixtures (which break rules on purpose).
fn rust_files(root: &Path, dir: &str, crates: &[Crate]) -> Result<Vec<PathBuf>, Error> {
    let base = root.join(dir);
    let nested: Vec<PathBuf> = crates
        .iter()
        .filter(|c| c.dir != dir && (dir.is_empty() || c.dir.starts_with(&format!("{dir}/"))))
        .map(|c| root.join(&c.dir))
        .collect();
    let walker = WalkDir::new(&base)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|entry| {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy();
            let hidden = entry.depth() > 0 && name.starts_with('.');
            let fixtures =
                name == "fixtures" && path.parent().is_some_and(|p| p.ends_with("tests"));
            !(hidden || name == "target" || fixtures || nested.iter().any(|n| n == path))
        });
    let mut files = Vec::new();
    for entry in walker {
        let entry = entry.map_err(|source| Error::Walk {
            path: base.clone(),
            source,
        })?;
        if entry.file_type().is_file() && entry.path().extension().is_some_and(|e| e == "rs") {
            files.push(entry.into_path());
        }
    }
    Ok(files)
}
