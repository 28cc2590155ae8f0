//! Loads a [`Workspace`] from a fixture: a directory of Rust files plus a `fixture.toml` that
//! describes its crates and dependency graph, so rule tests need no cargo and no registry.
//!
//! ```toml
//! [[crate]]
//! name = "core-pay"        # directory defaults to the name; `path = "..."` overrides it
//! deps = ["serde", "app"]  # normal dependencies: crates of the fixture or external packages
//! dev-deps = []
//! build-deps = []
//!
//! [external]               # external packages and their own normal dependencies
//! serde = []
//! tokio = ["mio"]
//!
//! [[layer]]                # optional: a layer table replacing the built-in one
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::Error;
use crate::layers::{Layer, LayerTable};
use crate::workspace::{Crate, DepKind, Dependency, Graph, Node, Workspace};

/// The name of the description file in a fixture directory.
pub const FIXTURE_FILE: &str = "fixture.toml";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureFile {
    #[serde(rename = "crate", default)]
    crates: Vec<FixtureCrate>,
    #[serde(default)]
    external: BTreeMap<String, Vec<String>>,
    layer: Option<Vec<Layer>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FixtureCrate {
    name: String,
    path: Option<String>,
    #[serde(default)]
    deps: Vec<String>,
    #[serde(default)]
    dev_deps: Vec<String>,
    #[serde(default)]
    build_deps: Vec<String>,
}

/// Loads the fixture in `dir`. Package ids are package names; a dependency that is neither a
/// crate of the fixture nor listed under `[external]` is an external package with no deps.
pub fn load(dir: &Path) -> Result<Workspace, Error> {
    let path = dir.join(FIXTURE_FILE);
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Read {
        path: path.clone(),
        source,
    })?;
    let file: FixtureFile = toml::from_str(&text).map_err(|source| Error::Toml {
        path: path.clone(),
        source: Box::new(source),
    })?;
    if file.crates.is_empty() {
        return Err(Error::Fixture {
            path,
            reason: "it lists no [[crate]]".to_owned(),
        });
    }
    let mut graph = Graph::default();
    for (name, deps) in &file.external {
        let deps = deps.iter().map(|d| (d.clone(), DepKind::Normal)).collect();
        graph.insert(name.clone(), external(name, deps));
    }
    let mut crates = Vec::new();
    for krate in &file.crates {
        let is_member = |name: &str| file.crates.iter().any(|c| c.name == name);
        let lists = [
            (&krate.deps, DepKind::Normal),
            (&krate.dev_deps, DepKind::Dev),
            (&krate.build_deps, DepKind::Build),
        ];
        let deps: Vec<Dependency> = lists
            .iter()
            .flat_map(|(names, kind)| {
                names.iter().map(|name| Dependency {
                    name: name.clone(),
                    kind: *kind,
                    workspace: is_member(name),
                })
            })
            .collect();
        for dep in &deps {
            if !is_member(&dep.name) && graph.node(&dep.name).is_none() {
                graph.insert(dep.name.clone(), external(&dep.name, Vec::new()));
            }
        }
        let edges = deps.iter().map(|d| (d.name.clone(), d.kind)).collect();
        graph.insert(krate.name.clone(), external(&krate.name, edges));
        crates.push(Crate {
            name: krate.name.clone(),
            id: krate.name.clone(),
            dir: krate.path.clone().unwrap_or_else(|| krate.name.clone()),
            deps,
            test_targets: Vec::new(),
        });
    }
    let layers = match file.layer {
        Some(layers) => LayerTable::from_layers(layers)?,
        None => LayerTable::default(),
    };
    Workspace::new(dir.to_path_buf(), crates, graph, layers)
}

fn external(name: &str, deps: Vec<(String, DepKind)>) -> Node {
    Node {
        name: name.to_owned(),
        deps,
    }
}
