//! The one error type of the checker: what stops it from checking at all (as opposed to a
//! violation, which is a [`crate::Diagnostic`]).

use std::io;
use std::path::PathBuf;

/// Why the workspace could not be loaded or checked.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `cargo metadata` could not be started.
    #[error("cannot run `cargo metadata`: {0}")]
    CargoSpawn(#[source] io::Error),
    /// `cargo metadata` ran and failed.
    #[error("`cargo metadata` failed: {stderr}")]
    CargoFailed {
        /// What cargo printed on stderr.
        stderr: String,
    },
    /// The output of `cargo metadata` is not the JSON we expect.
    #[error("cannot read the output of `cargo metadata`: {0}")]
    MetadataJson(#[from] serde_json::Error),
    /// The metadata names something it does not describe.
    #[error("inconsistent `cargo metadata` output: {0}")]
    Metadata(String),
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A directory could not be walked.
    #[error("cannot walk {}: {source}", path.display())]
    Walk {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: walkdir::Error,
    },
    /// A TOML file (layer table or fixture description) is malformed.
    #[error("cannot parse {}: {source}", path.display())]
    Toml {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<toml::de::Error>,
    },
    /// A layer table is well-formed TOML but not a usable table.
    #[error("invalid layer table: {0}")]
    Layers(String),
    /// A fixture description is well-formed TOML but describes no usable workspace.
    #[error("invalid fixture {}: {reason}", path.display())]
    Fixture {
        /// The fixture description.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A rule id that no rule has (for example on the command line).
    #[error("unknown rule `{0}`")]
    UnknownRule(String),
}
