//! Payment events to and from the store's envelope: the payload is the core's JSON form.
//!
//! Schema versions: 1, the payload as first written; 2, the same with the intent's optional
//! payment details (`debtor_name`, `creditor_name`, `remittance_information`, `end_to_end_id`).
//! Every event is written in version 2; both are read, so old stores and histories replay, and
//! a version-1 intent carrying a detail is refused: version 1 never held one.

use core_npp::PaymentEvent;
use event_store::{NewEvent, RecordedEvent};

use crate::error::AppError;

/// The schema version this software writes payment events in, and the newest it reads.
pub const PAYMENT_EVENT_SCHEMA_VERSION: u16 = 2;

/// The oldest schema version of payment events this software reads: every event ever written.
pub const OLDEST_PAYMENT_EVENT_SCHEMA_VERSION: u16 = 1;

/// The envelope for a payment event: its type name, schema version
/// ([`PAYMENT_EVENT_SCHEMA_VERSION`]), time and JSON payload.
pub fn encode_payment_event(event: &PaymentEvent) -> Result<NewEvent, AppError> {
    let payload = serde_json::to_string(event).map_err(|e| AppError::Unencodable(e.to_string()))?;
    Ok(NewEvent::new(
        event.kind().name(),
        PAYMENT_EVENT_SCHEMA_VERSION,
        event.occurred_at(),
        payload,
    )?)
}

/// The payment event a stored envelope holds, in schema version 1 or 2; its type must agree
/// with the payload's, and a version-1 payload must hold nothing version 2 added.
pub fn decode_payment_event(recorded: &RecordedEvent) -> Result<PaymentEvent, AppError> {
    let undecodable = |why: String| AppError::Undecodable {
        stream: recorded.stream_id().clone(),
        version: recorded.version(),
        why,
    };
    let envelope = recorded.event();
    let schema_version = envelope.schema_version();
    if !(OLDEST_PAYMENT_EVENT_SCHEMA_VERSION..=PAYMENT_EVENT_SCHEMA_VERSION)
        .contains(&schema_version)
    {
        return Err(undecodable(format!(
            "unknown schema version {schema_version} (this software reads \
             {OLDEST_PAYMENT_EVENT_SCHEMA_VERSION} to {PAYMENT_EVENT_SCHEMA_VERSION})"
        )));
    }
    let event: PaymentEvent =
        serde_json::from_str(envelope.payload()).map_err(|e| undecodable(e.to_string()))?;
    if let PaymentEvent::PaymentIntentCreated(intent) = &event
        && schema_version < 2
        && let Some(field) = intent.detail_fields().next()
    {
        return Err(undecodable(format!(
            "{field} is not part of payment event schema version {schema_version}, which the \
             envelope declares (it was added in version 2)"
        )));
    }
    if event.kind().name() != envelope.event_type() {
        return Err(undecodable(format!(
            "envelope says {} but the payload is {}",
            envelope.event_type(),
            event.kind()
        )));
    }
    if event.occurred_at() != envelope.occurred_at() {
        return Err(undecodable(
            "envelope and payload disagree on occurred_at".into(),
        ));
    }
    Ok(event)
}
