//! Which event store a command works on: `--db PATH` (SQLite, the default `./npp.db`) or
//! `--database-url URL` (PostgreSQL).

use std::path::PathBuf;

use event_store::{EventStore, StoreError};
use store::{OpenMode, PostgresConfig, PostgresStore, SqliteStore};

/// The store options every store-backed command takes.
#[derive(clap::Args, Debug, Clone)]
pub struct StoreTarget {
    /// The SQLite database file.
    #[arg(
        long,
        value_name = "PATH",
        default_value = "npp.db",
        conflicts_with = "database_url"
    )]
    pub db: PathBuf,
    /// A PostgreSQL URL, e.g. postgres://postgres@127.0.0.1:5432/npp (instead of --db).
    #[arg(long, value_name = "URL", env = "NPP_DATABASE_URL")]
    pub database_url: Option<String>,
    /// The PostgreSQL schema holding the tables.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "npp",
        requires = "database_url"
    )]
    pub schema: String,
}

impl StoreTarget {
    /// Opens the store; `mode` says whether a missing SQLite file may be created.
    pub fn open(&self, mode: OpenMode) -> Result<Box<dyn EventStore>, StoreError> {
        match &self.database_url {
            Some(url) => {
                let mut config = PostgresConfig::new(url);
                config.schema.clone_from(&self.schema);
                if mode == OpenMode::ReadOnly {
                    Ok(Box::new(PostgresStore::connect_read_only(&config)?))
                } else {
                    Ok(Box::new(PostgresStore::connect(&config)?))
                }
            }
            None => Ok(Box::new(SqliteStore::open(&self.db, mode)?)),
        }
    }

    /// Where the store is, for messages.
    pub fn describe(&self) -> String {
        match &self.database_url {
            Some(url) => format!("{url} (schema {})", self.schema),
            None => self.db.display().to_string(),
        }
    }
}
