//! The application layer: ports (event store, clock, policy gate) and command handlers over the core.
