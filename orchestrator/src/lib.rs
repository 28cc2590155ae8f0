//! The orchestrator: a process manager that reacts to stored events and drives each payment to
//! a final state through a rail. It routes each authorised payment (a recorded decision), writes
//! the rail submission to the transactional outbox in the same commit as `PaymentSentToRail`,
//! delivers the outbox at least once (asking the rail before any re-delivery), turns the rail's
//! status reports into app-ops commands, enquires about silent attempts and, past a deadline,
//! puts them in the operator queue (never expiring them: the money may have moved).

mod engine;
mod error;
mod rail;
mod rail_stream;
mod router;

pub use engine::{Config, FundsSource, Orchestrator, Stats, fan_out};
pub use error::OrchestratorError;
pub use rail::{Delivery, Rail, RailReport, Submission};
pub use rail_stream::{RailFactsCheck, RailStreamEvent, rail_stream};
pub use router::{Route, Router, parse_account};
