//! A syn-based checker that enforces the workspace's architecture rules.
