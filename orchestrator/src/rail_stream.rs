//! The rail stream of a payment (`rail-<payment>`): routing decisions, enquiries and operator
//! escalations, so evidence can show which rail was chosen and why, and timers survive restarts.

use core_npp::{AttemptId, PaymentIntentId, Timestamp};
use event_store::{
    AppendRequest, EventStore, NewEvent, RecordedEvent, StoreError, StreamId, append_at_head,
};
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

    /// Decodes a stored rail fact; an event this software did not write is an error naming
    /// its stream and version, never skipped.
    pub fn decode(recorded: &RecordedEvent) -> Result<Self, StoreError> {
        let corrupt = |what: String| StoreError::Corrupt {
            stream: recorded.stream_id().clone(),
            version: recorded.version(),
            what,
        };
        let event: Self = serde_json::from_str(recorded.event().payload())
            .map_err(|e| corrupt(format!("not a rail fact: {e}")))?;
        if event.type_name() != recorded.event().event_type() {
            return Err(corrupt(format!(
                "the envelope says {} but the payload is {}",
                recorded.event().event_type(),
                event.type_name()
            )));
        }
        if Some(event.payment_intent_id()) != recorded.stream_id().about_payment() {
            return Err(corrupt(
                "the fact is about another payment than its stream".into(),
            ));
        }
        Ok(event)
    }

    /// The payment the fact is about.
    pub fn payment_intent_id(&self) -> PaymentIntentId {
        match self {
            RailStreamEvent::RailDecisionRecorded {
                payment_intent_id, ..
            }
            | RailStreamEvent::RailEnquirySent {
                payment_intent_id, ..
            }
            | RailStreamEvent::RailEscalatedToOperator {
                payment_intent_id, ..
            } => *payment_intent_id,
        }
    }
}

/// The stream of a payment's rail facts.
pub fn rail_stream(id: PaymentIntentId) -> StreamId {
    StreamId::rail(id)
}

/// Appends a rail fact at the stream's current version, retrying on conflicts.
pub(crate) fn record(
    store: &dyn EventStore,
    id: PaymentIntentId,
    event: &RailStreamEvent,
    now: Timestamp,
) -> Result<(), OrchestratorError> {
    let stream = rail_stream(id);
    let envelope = envelope(id, event)?;
    append_at_head(store, &stream, |version| {
        AppendRequest::new(stream.clone(), version, vec![envelope.clone()], now)
    })?;
    Ok(())
}

/// A rail fact as the store keeps it: JSON, schema version 1, correlated with its payment.
fn envelope(id: PaymentIntentId, event: &RailStreamEvent) -> Result<NewEvent, OrchestratorError> {
    let payload =
        serde_json::to_string(event).map_err(|e| OrchestratorError::Rail(e.to_string()))?;
    Ok(NewEvent::new(event.type_name(), 1, event.at(), payload)?.with_correlation(id.as_str())?)
}

/// Appends many rail facts in one `append_batch` (one commit), each at its stream's current
/// version; a fact that did not commit so (another writer moved its stream) is appended alone
/// by [`record`], which retries. Facts must be about distinct payments.
pub(crate) fn record_all(
    store: &dyn EventStore,
    facts: &[(PaymentIntentId, RailStreamEvent)],
    now: Timestamp,
) -> Result<(), OrchestratorError> {
    let mut requests = Vec::with_capacity(facts.len());
    for (id, event) in facts {
        let stream = rail_stream(*id);
        let version = store.stream_version(&stream)?;
        requests.push(AppendRequest::new(
            stream,
            version,
            vec![envelope(*id, event)?],
            now,
        )?);
    }
    let appended = store.append_batch(requests);
    for ((id, event), outcome) in facts.iter().zip(appended) {
        if !matches!(outcome, Ok(event_store::AppendOutcome::Committed(_))) {
            record(store, *id, event, now)?;
        }
    }
    Ok(())
}

/// Verification of rail streams (`npp store verify`): every event decodes as a rail fact about
/// its stream's payment.
pub struct RailFactsCheck;

impl app_ops::StreamCheck for RailFactsCheck {
    fn kind(&self) -> event_store::StreamKind {
        event_store::StreamKind::Rail
    }

    fn check(&self, events: &[RecordedEvent]) -> Result<(), (u32, String)> {
        events.iter().try_for_each(|recorded| {
            RailStreamEvent::decode(recorded)
                .map(|_| ())
                .map_err(|e| (recorded.version(), e.to_string()))
        })
    }
}
