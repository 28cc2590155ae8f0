//! Payment events to and from the store's envelope: the payload is the core's JSON form.

use core_npp::PaymentEvent;
use event_store::{NewEvent, RecordedEvent};

use crate::error::AppError;

/// The schema version of the payment events' JSON payload.
pub const PAYMENT_EVENT_SCHEMA_VERSION: u16 = 1;

/// The envelope for a payment event: its type name, schema version, time and JSON payload.
pub fn encode_payment_event(event: &PaymentEvent) -> Result<NewEvent, AppError> {
    let payload = serde_json::to_string(event).map_err(|e| AppError::Unencodable(e.to_string()))?;
    Ok(NewEvent::new(
        event.kind().name(),
        PAYMENT_EVENT_SCHEMA_VERSION,
        event.occurred_at(),
        payload,
    )?)
}

/// The payment event a stored envelope holds; its type must agree with the payload's.
pub fn decode_payment_event(recorded: &RecordedEvent) -> Result<PaymentEvent, AppError> {
    let undecodable = |why: String| AppError::Undecodable {
        stream: recorded.stream_id().clone(),
        version: recorded.version(),
        why,
    };
    let envelope = recorded.event();
    if envelope.schema_version() != PAYMENT_EVENT_SCHEMA_VERSION {
        return Err(undecodable(format!(
            "unknown schema version {}",
            envelope.schema_version()
        )));
    }
    let event: PaymentEvent =
        serde_json::from_str(envelope.payload()).map_err(|e| undecodable(e.to_string()))?;
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
