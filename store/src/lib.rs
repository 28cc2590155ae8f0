//! Event store adapters behind the `event_store::EventStore` port: in-memory (tests and
//! benchmarks), SQLite (the embedded default) and PostgreSQL (production).
//!
//! All three give the same guarantees, proven by one contract suite (`tests/contract.rs`):
//! atomic appends guarded by expected versions, hash-chained streams, idempotency keys and rail
//! message ids claimed in the same commit, and no way to update or delete an event.

mod append;
mod checkpoint;
mod group_commit;
mod heads;
mod memory;
mod pg_pool;
mod postgres_engine;
mod postgres_store;
mod row;
mod sqlite;

pub use memory::MemoryStore;
pub use postgres_store::{PostgresConfig, PostgresStore, application_name};
pub use sqlite::{OpenMode, SqliteStore};

/// The newest schema version this binary knows (both SQL adapters share the numbering).
pub const SCHEMA_VERSION: u32 = 6;
