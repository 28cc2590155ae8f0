//! Loads the [`Workspace`] of a real Cargo workspace from `cargo metadata` (its resolved package
//! graph, so transitive dependencies are seen exactly as cargo builds them).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

use crate::error::Error;
use crate::layers::LayerTable;
use crate::workspace::{Crate, DepKind, Dependency, Graph, Node, Workspace};

#[derive(Deserialize)]
struct Metadata {
    packages: Vec<Package>,
    workspace_members: Vec<String>,
    resolve: Option<Resolve>,
    workspace_root: PathBuf,
}

#[derive(Deserialize)]
struct Package {
    id: String,
    name: String,
    manifest_path: PathBuf,
    targets: Vec<Target>,
}

#[derive(Deserialize)]
struct Target {
    name: String,
    kind: Vec<String>,
}

#[derive(Deserialize)]
struct Resolve {
    nodes: Vec<ResolveNode>,
}

#[derive(Deserialize)]
struct ResolveNode {
    id: String,
    deps: Vec<NodeDep>,
}

#[derive(Deserialize)]
struct NodeDep {
    pkg: String,
    dep_kinds: Vec<DepKindInfo>,
}

#[derive(Deserialize)]
struct DepKindInfo {
    kind: Option<String>,
}

/// Runs `cargo metadata` on the workspace whose root manifest is `manifest` and loads it, with
/// the layer table from `guardrails/layers.toml` when that file exists.
pub fn load(manifest: &Path) -> Result<Workspace, Error> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(manifest)
        .output()
        .map_err(Error::CargoSpawn)?;
    if !output.status.success() {
        return Err(Error::CargoFailed {
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    from_json(&output.stdout)
}

/// Loads a workspace from the JSON that `cargo metadata --format-version 1` printed.
pub fn from_json(json: &[u8]) -> Result<Workspace, Error> {
    let metadata: Metadata = serde_json::from_slice(json)?;
    let names: BTreeMap<&str, &str> = metadata
        .packages
        .iter()
        .map(|p| (p.id.as_str(), p.name.as_str()))
        .collect();
    let resolve = metadata
        .resolve
        .ok_or_else(|| Error::Metadata("no dependency graph (`resolve` is null)".to_owned()))?;
    let mut graph = Graph::default();
    for node in &resolve.nodes {
        let name = names.get(node.id.as_str()).copied().unwrap_or(&node.id);
        let deps = node
            .deps
            .iter()
            .flat_map(|d| d.dep_kinds.iter().map(|k| (d.pkg.clone(), kind(k))))
            .collect();
        graph.insert(
            node.id.clone(),
            Node {
                name: name.to_owned(),
                deps,
            },
        );
    }
    let root = metadata.workspace_root;
    let mut crates = Vec::new();
    for id in &metadata.workspace_members {
        let package = metadata
            .packages
            .iter()
            .find(|p| &p.id == id)
            .ok_or_else(|| Error::Metadata(format!("member {id} is not among the packages")))?;
        crates.push(member(package, &root, &graph, &metadata.workspace_members));
    }
    crates.sort_by(|a, b| a.dir.cmp(&b.dir));
    let layers = LayerTable::for_workspace(&root)?;
    Workspace::new(root, crates, graph, layers)
}

fn kind(info: &DepKindInfo) -> DepKind {
    match info.kind.as_deref() {
        Some("dev") => DepKind::Dev,
        Some("build") => DepKind::Build,
        _ => DepKind::Normal,
    }
}

fn member(package: &Package, root: &Path, graph: &Graph, members: &[String]) -> Crate {
    let dir = package
        .manifest_path
        .parent()
        .and_then(|d| d.strip_prefix(root).ok())
        .map(|d| {
            d.components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/")
        })
        .unwrap_or_default();
    let mut deps: Vec<Dependency> = graph
        .node(&package.id)
        .map(|node| {
            node.deps
                .iter()
                .map(|(id, kind)| Dependency {
                    name: graph.node(id).map_or(id.clone(), |n| n.name.clone()),
                    kind: *kind,
                    workspace: members.contains(id),
                })
                .collect()
        })
        .unwrap_or_default();
    deps.sort_by(|a, b| (&a.name, a.kind).cmp(&(&b.name, b.kind)));
    deps.dedup();
    let test_targets = package
        .targets
        .iter()
        .filter(|t| t.kind.iter().any(|k| k == "test"))
        .map(|t| t.name.clone())
        .collect();
    Crate {
        name: package.name.clone(),
        id: package.id.clone(),
        dir,
        deps,
        test_targets,
    }
}
