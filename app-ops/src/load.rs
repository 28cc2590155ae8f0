//! Loading a payment: read its stream, decode each event, fold them through the core.

use core_npp::{Payment, PaymentEvent, PaymentIntentId, ReplayError, rebuild_from_events};
use event_store::{EventStore, StreamId};

use crate::codec::decode_payment_event;
use crate::error::AppError;

/// A payment as stored, with the stream version it reflects (the expected version of the next
/// append).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loaded {
    /// The payment.
    pub payment: Payment,
    /// Its stream's version.
    pub version: u32,
}

/// The payment's current value, or `None` if no such payment exists.
pub fn load_payment(
    store: &dyn EventStore,
    id: PaymentIntentId,
) -> Result<Option<Loaded>, AppError> {
    load_payment_at(store, id, u32::MAX)
}

/// The payment as it was at stream version `version` (used to answer a repeated request with the
/// result it first had).
pub fn load_payment_at(
    store: &dyn EventStore,
    id: PaymentIntentId,
    version: u32,
) -> Result<Option<Loaded>, AppError> {
    let stream = StreamId::payment(id);
    let recorded = store.read_stream(&stream)?;
    let history: Vec<PaymentEvent> = recorded
        .iter()
        .take_while(|r| r.version() <= version)
        .map(decode_payment_event)
        .collect::<Result<_, _>>()?;
    let loaded_version = u32::try_from(history.len()).unwrap_or(u32::MAX);
    match rebuild_from_events(&history) {
        Ok(replay) => Ok(Some(Loaded {
            payment: replay.into_payment(),
            version: loaded_version,
        })),
        Err(ReplayError::EmptyHistory) => Ok(None),
        Err(ReplayError::Rejected { index, error, .. }) => Err(AppError::StoredHistoryIllegal {
            stream,
            version: u32::try_from(index).unwrap_or(u32::MAX),
            rule: error.rule(),
        }),
    }
}
