//! The rail stream of a payment (`rail-<payment>`): routing decisions, enquiries and operator
//! escalations, so evidence can show which rail was chosen and why, and timers survive restarts.

use core_npp::{AttemptId, PaymentIntentId, Timestamp};
use event_store::{AppendRequest, EventStore, NewEvent, StoreError, StreamId};
use serde::{Deserialize, Serialize};

use crate::error::OrchestratorError;

/// One fact about how a payment met its rail.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum RailStreamEvent {
    /// The rail chosen for an attempt, or the decline.
    RailDecisionRecorded {
        /// The payment.
        payment_intent_id: PaymentIntentId,
        /// The attempt it is for (none when declined).
        attempt_id: Option<AttemptId>,
        /// `NPP`, or `none` when declined.
        rail: String,
        /// Why.
        reason: String,
        /// When.
        decided_at: Timestamp,
    },
    /// The orchestrator asked the rail about a silent attempt.
    RailEnquirySent {
        /// The payment.
        payment_intent_id: PaymentIntentId,
        /// The attempt.
        attempt_id: AttemptId,
        /// When.
        at: Timestamp,
    },
    /// A silent attempt passed its deadline and awaits an operator.
    RailEscalatedToOperator {
        /// The payment.
        payment_intent_id: PaymentIntentId,
        /// The attempt.
        attempt_id: AttemptId,
        /// When.
        at: Timestamp,
        /// Why.
        reason: String,
    },
}

impl RailStreamEvent {
    fn type_name(&self) -> &'static str {
        match self {
            RailStreamEvent::RailDecisionRecorded { .. } => "RailDecisionRecorded",
            RailStreamEvent::RailEnquirySent { .. } => "RailEnquirySent",
            RailStreamEvent::RailEscalatedToOperator { .. } => "RailEscalatedToOperator",
        }
    }

    fn at(&self) -> Timestamp {
        match self {
            RailStreamEvent::RailDecisionRecorded { decided_at: at, .. }
            | RailStreamEvent::RailEnquirySent { at, .. }
            | RailStreamEvent::RailEscalatedToOperator { at, .. } => *at,
        }
    }

    /// Decodes a stored payload.
    pub fn decode(payload: &str) -> Option<Self> {
        serde_json::from_str(payload).ok()
    }
}

/// The stream of a payment's rail facts.
pub fn rail_stream(id: PaymentIntentId) -> Result<StreamId, StoreError> {
    StreamId::parse(&format!("rail-{id}"))
}

/// Appends a rail fact at the stream's current version, retrying on conflicts.
pub(crate) fn record(
    store: &dyn EventStore,
    id: PaymentIntentId,
    event: &RailStreamEvent,
    now: Timestamp,
) -> Result<(), OrchestratorError> {
    let stream = rail_stream(id)?;
    let payload =
        serde_json::to_string(event).map_err(|e| OrchestratorError::Rail(e.to_string()))?;
    for _ in 0..8 {
        let version = u32::try_from(store.read_stream(&stream)?.len()).unwrap_or(u32::MAX);
        let envelope = NewEvent::new(event.type_name(), 1, event.at(), payload.clone())?
            .with_correlation(id.as_str())?;
        match store.append(AppendRequest::new(
            stream.clone(),
            version,
            vec![envelope],
            now,
        )?) {
            Ok(_) => return Ok(()),
            Err(StoreError::Conflict { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(OrchestratorError::Rail(format!(
        "could not record on {stream}: too many conflicts"
    )))
}
