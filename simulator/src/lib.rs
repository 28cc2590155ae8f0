//! The simulation: a simulated NPP participant behind the orchestrator's rail port, with seeded
//! outcomes and fault injection, and the driver that runs the seed's load scenario end to end on
//! a durable store (`npp simulate`).

mod driver;
mod participant;
mod plan;

pub use driver::{
    Progress, SIM_POLICY, SimConfig, Simulation, Summary, foreign_payments, scenario_namespace,
    scenario_payment_id,
};
pub use participant::{Participant, SimReceivedCheck, submission_message_id};
pub use plan::{FaultProfile, Plan, PlannedReply};

/// The simulation's one error type.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum SimError {
    /// The orchestrator failed.
    #[error(transparent)]
    Orchestrator(#[from] orchestrator::OrchestratorError),
    /// A command failed.
    #[error(transparent)]
    App(#[from] app_ops::AppError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] event_store::StoreError),
    /// The run's own checks failed (a replay, a hash, a double delivery).
    #[error("simulation check failed: {0}")]
    Check(String),
    /// A bad setting.
    #[error("invalid simulation setting: {0}")]
    Config(String),
}
