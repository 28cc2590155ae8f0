//! Stored events as both SQL adapters read and write them: times as i64 nanoseconds, and a raw
//! row decoded into a `RecordedEvent` (a row that cannot be decoded is reported as corrupt).

use core_npp::Timestamp;
use event_store::{EventHash, NewEvent, RecordedEvent, StoreError, StreamId};

/// A time as the SQL adapters store it; times after 2262 do not fit an i64 of nanoseconds.
pub(crate) fn nanos(t: Timestamp, what: &'static str) -> Result<i64, StoreError> {
    i64::try_from(t.unix_nanos()).map_err(|_| StoreError::Unrepresentable {
        what,
        why: format!("{t} is after 2262"),
    })
}

/// The columns of one stored event, as both SQL adapters read them.
pub(crate) struct RawRow {
    pub(crate) stream: String,
    pub(crate) version: u32,
    pub(crate) position: i64,
    pub(crate) event_type: String,
    pub(crate) schema_version: u16,
    pub(crate) occurred_at: i64,
    pub(crate) recorded_at: i64,
    pub(crate) correlation: Option<String>,
    pub(crate) causation: Option<String>,
    pub(crate) payload: String,
    pub(crate) prev_hash: Vec<u8>,
    pub(crate) hash: Vec<u8>,
}

pub(crate) fn build_recorded(raw: RawRow) -> Result<RecordedEvent, StoreError> {
    let stream = StreamId::parse(&raw.stream)?;
    let bad = |why: String| StoreError::Corrupt {
        stream: stream.clone(),
        version: raw.version,
        why,
    };
    let time =
        |nanos: i64| Timestamp::from_unix_nanos(i128::from(nanos)).map_err(|e| bad(e.to_string()));
    let mut event = NewEvent::new(
        &raw.event_type,
        raw.schema_version,
        time(raw.occurred_at)?,
        raw.payload,
    )
    .map_err(|e| bad(e.to_string()))?;
    if let Some(id) = &raw.correlation {
        event = event.with_correlation(id).map_err(|e| bad(e.to_string()))?;
    }
    if let Some(id) = &raw.causation {
        event = event.with_causation(id).map_err(|e| bad(e.to_string()))?;
    }
    let prev = EventHash::from_slice(&raw.prev_hash)
        .ok_or_else(|| bad("prev_hash is not 32 bytes".into()))?;
    let hash =
        EventHash::from_slice(&raw.hash).ok_or_else(|| bad("hash is not 32 bytes".into()))?;
    let position =
        u64::try_from(raw.position).map_err(|_| bad("negative global position".into()))?;
    Ok(RecordedEvent::from_parts(
        stream.clone(),
        raw.version,
        position,
        event,
        time(raw.recorded_at)?,
        prev,
        hash,
    ))
}
