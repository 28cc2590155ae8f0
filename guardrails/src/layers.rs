//! The layer table: which workspace crate belongs to which layer, as data. Dependencies point
//! inwards (core < application < adapters < binaries); tooling stays out of the product.
//!
//! The table is [`LayerTable::default`] unless the workspace has `guardrails/layers.toml`, which
//! replaces it, so a new crate is assigned a layer by editing data, not code.

use std::path::Path;

use serde::Deserialize;

use crate::error::Error;

/// Where the override file lives, relative to the workspace root.
pub const LAYERS_FILE: &str = "guardrails/layers.toml";

/// What a layer may depend on.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LayerKind {
    /// The domain core: depends on no workspace crate at all, and the core-only rules apply.
    Core,
    /// Application, adapters, binaries: may depend on their own or inner layers.
    Product,
    /// Automation and checkers: may depend on anything; no product crate may depend on them.
    Tooling,
}

/// One layer: a name, a kind and the crate-name patterns (`*` is a wildcard) it holds.
#[derive(Clone, PartialEq, Eq, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    name: String,
    kind: LayerKind,
    crates: Vec<String>,
    // Position in the table, innermost first; set after loading.
    #[serde(skip)]
    rank: usize,
}

impl Layer {
    /// The layer's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The layer's kind.
    pub fn kind(&self) -> LayerKind {
        self.kind
    }
    /// 0 for the innermost layer.
    pub fn rank(&self) -> usize {
        self.rank
    }
    fn holds(&self, crate_name: &str) -> bool {
        self.crates.iter().any(|p| glob_match(p, crate_name))
    }
}

/// The layers, innermost first.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct LayerTable {
    layers: Vec<Layer>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LayerFile {
    layer: Vec<Layer>,
}

/// The built-in table: the project's layers as the architecture describes them.
const DEFAULT_LAYERS: &[(&str, LayerKind, &[&str])] = &[
    ("core", LayerKind::Core, &["core-*"]),
    (
        "application",
        LayerKind::Product,
        &["app-ops", "event-store", "orchestrator"],
    ),
    (
        "adapters",
        LayerKind::Product,
        &[
            "store",
            "rail-npp",
            "rail-becs",
            "exports",
            "simulator",
            "http-api",
        ],
    ),
    ("binaries", LayerKind::Product, &["npp"]),
    ("tooling", LayerKind::Tooling, &["guardrails", "xtask"]),
];

impl Default for LayerTable {
    fn default() -> Self {
        let layers = DEFAULT_LAYERS
            .iter()
            .enumerate()
            .map(|(rank, (name, kind, crates))| Layer {
                name: (*name).to_owned(),
                kind: *kind,
                crates: crates.iter().map(|c| (*c).to_owned()).collect(),
                rank,
            })
            .collect();
        Self { layers }
    }
}

impl LayerTable {
    /// Parses a table from TOML: `[[layer]]` entries with `name`, `kind` and `crates`, innermost
    /// first.
    pub fn parse(text: &str, path: &Path) -> Result<Self, Error> {
        let file: LayerFile = toml::from_str(text).map_err(|source| Error::Toml {
            path: path.to_path_buf(),
            source: Box::new(source),
        })?;
        Self::from_layers(file.layer)
    }

    /// Builds a table from parsed layers, checking that names are unique and the table is not
    /// empty.
    pub(crate) fn from_layers(mut layers: Vec<Layer>) -> Result<Self, Error> {
        if layers.is_empty() {
            return Err(Error::Layers("the table has no layer".to_owned()));
        }
        for (rank, layer) in layers.iter_mut().enumerate() {
            layer.rank = rank;
        }
        for (i, layer) in layers.iter().enumerate() {
            if layers.iter().skip(i + 1).any(|l| l.name == layer.name) {
                return Err(Error::Layers(format!(
                    "layer `{}` is listed twice",
                    layer.name
                )));
            }
        }
        Ok(Self { layers })
    }

    /// The table for the workspace at `root`: `guardrails/layers.toml` if it exists, else the
    /// built-in one.
    pub fn for_workspace(root: &Path) -> Result<Self, Error> {
        let path = root.join(LAYERS_FILE);
        if !path.is_file() {
            return Ok(Self::default());
        }
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Read {
            path: path.clone(),
            source,
        })?;
        Self::parse(&text, &path)
    }

    /// The first layer that holds `crate_name`, or `None` if it is unassigned.
    pub fn layer_of(&self, crate_name: &str) -> Option<&Layer> {
        self.layers.iter().find(|l| l.holds(crate_name))
    }

    /// Every layer, innermost first.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }
}

/// Whether `name` matches `pattern`, where `*` matches any run of characters.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, rest)) => {
            let Some(tail) = name.strip_prefix(head) else {
                return false;
            };
            // Try every split point for the wildcard; names are short, so this stays cheap.
            tail.char_indices()
                .map(|(i, _)| i)
                .chain(std::iter::once(tail.len()))
                .any(|i| tail.get(i..).is_some_and(|t| glob_match(rest, t)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_prefixes_and_exact_names() {
        assert!(glob_match("core-*", "core-npp"));
        assert!(glob_match("core-*", "core-"));
        assert!(!glob_match("core-*", "app-core"));
        assert!(glob_match("npp", "npp"));
        assert!(!glob_match("npp", "npp2"));
        assert!(glob_match("*-store", "event-store"));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxbyy"));
    }

    #[test]
    fn the_default_table_assigns_the_known_crates() {
        let table = LayerTable::default();
        let layer = |name: &str| table.layer_of(name).map(Layer::name);
        assert_eq!(layer("core-npp"), Some("core"));
        assert_eq!(layer("app-ops"), Some("application"));
        assert_eq!(layer("store"), Some("adapters"));
        assert_eq!(layer("npp"), Some("binaries"));
        assert_eq!(layer("xtask"), Some("tooling"));
        assert_eq!(layer("mystery"), None);
    }
}
