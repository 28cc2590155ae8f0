//! Event store adapters: in-memory, SQLite (embedded default) and PostgreSQL.
