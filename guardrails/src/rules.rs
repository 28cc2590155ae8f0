//! The rule table: every rule's id, what it protects and how to fix a violation. Rule ids are
//! stable, kebab-case and unique; a diagnostic names its rule by id.

/// One architecture rule.
// Ordered by id first, so diagnostics at the same place sort by rule id.
#[derive(PartialEq, Eq, PartialOrd, Ord, Debug)]
pub struct Rule {
    /// The stable kebab-case id, shown as `error[id]`.
    pub id: &'static str,
    /// One line: what the rule requires.
    pub summary: &'static str,
    /// Why the rule exists and how to fix a violation, shown as `= help:`.
    pub help: &'static str,
}

/// A Rust file that does not parse cannot be checked, so it is an error, never skipped.
pub static PARSE_ERROR: Rule = Rule {
    id: "parse-error",
    summary: "every Rust file of the workspace parses",
    help: "a file that does not parse cannot be checked by any other rule; fix the syntax error \
           (cargo build shows the same error)",
};

/// The core does no I/O and holds no state.
pub static NO_STORED_STATE: Rule = Rule {
    id: "no-stored-state",
    summary: "core crates do no I/O, read no clock, hold no global state and depend on no \
              database, network, async-runtime, filesystem or randomness crate",
    help: "the core is a pure fold over events: time, ids and approvals arrive inside events and \
           storage lives in adapters; move the I/O, clock read or global into an adapter or the \
           application layer and pass the value in",
};

/// The core depends on nothing of ours; layers point inwards.
pub static NO_CROSS_CORE_IMPORTS: Rule = Rule {
    id: "no-cross-core-imports",
    summary: "a core crate depends on and names no other workspace crate; every workspace crate \
              has a layer and depends only on its own or inner layers, never on tooling",
    help: "dependencies point inwards (core < application < adapters < binaries) so the core can \
           be reasoned about and replayed alone; depend on a port in an inner layer instead, or \
           assign the crate its layer in guardrails/layers.toml",
};

/// Every event type goes through replay in a test.
pub static REPLAY_MANDATORY: Rule = Rule {
    id: "replay-mandatory",
    summary: "every variant of every core event enum is built by a test that also calls \
              `rebuild_from_events`, and the core has `tests/replay.rs`",
    help: "a payment is only what replaying its events gives, so every event type must be \
           proven through replay; add a #[test] in the core's tests/ that builds the event (or \
           calls a tests/support helper that does) and replays a history containing it",
};

/// Events never change once built.
pub static EVENT_IMMUTABILITY: Rule = Rule {
    id: "event-immutability",
    summary: "event types have private fields, no `&mut self` method and no interior \
              mutability; store traits have no update/delete/remove/truncate/overwrite/replace \
              method",
    help: "an event is a fact that happened: the history must replay to the same state forever; \
           keep fields private behind a constructor and getters, build a new value instead of \
           mutating, and let stores only append",
};

/// Terminal states stay terminal and matches stay exhaustive.
pub static TERMINAL_STATE_ENFORCEMENT: Rule = Rule {
    id: "terminal-state-enforcement",
    summary: "no catch-all arm in a match over PaymentState, EventKind or an event enum; every \
              state move checks the terminal rule first",
    help: "list every variant so that a new state or event is a compile error everywhere it \
           matters, and call the terminal check (or `decide`) before `next_state`, \
           `check_transition`, `evolve` or an assignment to `.state`",
};

/// Money is integer minor units.
pub static NO_FLOAT_MONEY: Rule = Rule {
    id: "no-float-money",
    summary: "core crates use no f32/f64 type, float literal or `_f32`/`_f64` method",
    help: "floats cannot represent cents exactly and are not bit-for-bit reproducible across \
           machines, which would break the state hash; use `Money` (integer minor units)",
};

/// Library code returns errors instead of panicking.
pub static NO_PANIC_IN_LIBRARY: Rule = Rule {
    id: "no-panic-in-library",
    summary: "non-test library code of product crates has no unwrap, expect, panic!, todo!, \
              unimplemented!, unreachable! or dbg!",
    help: "a panic in a library takes the caller down with it (a payment half-processed); return \
           a typed error, or restructure so that the impossible case cannot be written",
};

/// Values read back from a database are checked, never defaulted.
pub static NO_UNCHECKED_DB_READ: Rule = Rule {
    id: "no-unchecked-db-read",
    summary: "library code that uses a database crate never calls postgres' panicking \
              `Row::get(i)` and never defaults a column read or conversion with `unwrap_or`, \
              `unwrap_or_default` or `unwrap_or_else`",
    help: "a value the store never wrote (a negative version, a NULL, a hash of the wrong length) \
           is corruption: read with `try_get`, convert with `try_from`, and return \
           `StoreError::Corrupt`/`CorruptRow` naming table, column and row instead of carrying \
           on with 0 or u32::MAX",
};

/// Every module says what it is for.
pub static MODULE_DOC: Rule = Rule {
    id: "module-doc",
    summary: "every .rs file under a workspace crate's src/ starts with a `//!` doc comment",
    help: "the first line of a module tells the reader what it is for before they read how; \
           start the file with `//! <what this module is for>`",
};

/// Every rule, in the order the documentation lists them.
pub static RULES: [&Rule; 10] = [
    &PARSE_ERROR,
    &NO_STORED_STATE,
    &NO_CROSS_CORE_IMPORTS,
    &REPLAY_MANDATORY,
    &EVENT_IMMUTABILITY,
    &TERMINAL_STATE_ENFORCEMENT,
    &NO_FLOAT_MONEY,
    &NO_PANIC_IN_LIBRARY,
    &NO_UNCHECKED_DB_READ,
    &MODULE_DOC,
];

/// The rule with this id.
pub fn find(id: &str) -> Option<&'static Rule> {
    RULES.iter().copied().find(|rule| rule.id == id)
}
