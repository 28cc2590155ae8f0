//! Stored rows as both SQL adapters read and write them: times as i64 nanoseconds, integers
//! converted with checks, and a raw event row decoded into a `RecordedEvent`. A value the store
//! never writes (a version of 0 or -1, a hash of 31 bytes, a stream id with a space) is
//! corruption, reported by table, column and row; it is never defaulted or clamped.

use core_npp::Timestamp;
use event_store::{
    EventHash, MAX_RAIL_MESSAGE_BYTES, NewEvent, OutboxEntry, OutboxItem, OutboxMessage,
    OutboxStatus, PriorResult, RailMessageRecord, RecordedEvent, StoreError, StreamId,
};

/// A time as the SQL adapters store it; times after 2262 do not fit an i64 of nanoseconds.
pub(crate) fn nanos(t: Timestamp, what: &'static str) -> Result<i64, StoreError> {
    i64::try_from(t.unix_nanos()).map_err(|_| StoreError::Unrepresentable {
        what,
        why: format!("{t} is after 2262"),
    })
}

/// A stream version as PostgreSQL's INTEGER columns hold it (versions past 2^31 - 1 do not fit).
pub(crate) fn int(version: u32, what: &'static str) -> Result<i32, StoreError> {
    i32::try_from(version).map_err(|_| StoreError::Unrepresentable {
        what,
        why: format!("version {version} is over PostgreSQL's INTEGER (2147483647)"),
    })
}

/// "stream S version V": how messages name an event row.
pub(crate) fn at(stream: &StreamId, version: u32) -> String {
    format!("stream {stream} version {version}")
}

/// A value of `table`.`column` in `row` that this software never writes.
pub(crate) fn corrupt_row(
    table: &'static str,
    column: &'static str,
    row: impl Into<String>,
    what: impl Into<String>,
) -> StoreError {
    StoreError::CorruptRow {
        table,
        column,
        row: row.into(),
        what: what.into(),
    }
}

/// A stream version read back: 1 or more and at most `u32::MAX` (0 only where `zero_ok`, for an
/// aggregate over no rows).
pub(crate) fn version_from_db(
    raw: i64,
    zero_ok: bool,
    table: &'static str,
    row: &dyn Fn() -> String,
) -> Result<u32, StoreError> {
    let lowest = if zero_ok { 0 } else { 1 };
    match u32::try_from(raw) {
        Ok(version) if i64::from(version) >= lowest => Ok(version),
        Ok(_) | Err(_) => Err(corrupt_row(
            table,
            "version",
            row(),
            format!(
                "holds {raw}, which is not a stream version ({lowest} to {})",
                u32::MAX
            ),
        )),
    }
}

/// A stream id read back from `table`.
pub(crate) fn stream_from_db(
    raw: &str,
    table: &'static str,
    row: &dyn Fn() -> String,
) -> Result<StreamId, StoreError> {
    StreamId::parse(raw).map_err(|_| {
        corrupt_row(
            table,
            "stream_id",
            row(),
            format!("holds {raw:?}, which is not a stream id"),
        )
    })
}

/// A claim row's (stream, version): what the append that made it did.
pub(crate) fn prior_from_db(
    table: &'static str,
    key: &str,
    stream: &str,
    version: i64,
) -> Result<PriorResult, StoreError> {
    let row = || format!("key {key:?}");
    Ok(PriorResult {
        stream: stream_from_db(stream, table, &row)?,
        version: version_from_db(version, false, table, &row)?,
    })
}

/// The columns of one `rail_messages` row, exactly as read.
pub(crate) struct RailMessageColumns {
    pub(crate) message_id: String,
    pub(crate) stream: String,
    pub(crate) version: i64,
    pub(crate) recorded_at: i64,
    pub(crate) payload: Option<String>,
}

impl RailMessageColumns {
    /// The record, or corruption naming the column that holds what this store never writes (a
    /// version below 1, a stream id it refuses, a time out of range, a payload over
    /// [`MAX_RAIL_MESSAGE_BYTES`]).
    pub(crate) fn record(self) -> Result<RailMessageRecord, StoreError> {
        let table = "rail_messages";
        let prior = prior_from_db(table, &self.message_id, &self.stream, self.version)?;
        let row = format!("key {:?}", self.message_id);
        let recorded_at = timestamp_from_db(self.recorded_at, table, "recorded_at", &row)?;
        if let Some(payload) = &self.payload
            && payload.len() > MAX_RAIL_MESSAGE_BYTES
        {
            return Err(corrupt_row(
                table,
                "payload",
                row,
                format!(
                    "is {} bytes, over the {MAX_RAIL_MESSAGE_BYTES} this store keeps",
                    payload.len()
                ),
            ));
        }
        Ok(RailMessageRecord {
            message_id: self.message_id,
            stream: prior.stream,
            version: prior.version,
            recorded_at,
            payload: self.payload,
        })
    }
}

/// A claim's fingerprint: exactly 32 bytes.
pub(crate) fn fingerprint_from_db(key: &str, bytes: &[u8]) -> Result<[u8; 32], StoreError> {
    <[u8; 32]>::try_from(bytes).map_err(|_| {
        corrupt_row(
            "idempotency_keys",
            "fingerprint",
            format!("key {key:?}"),
            format!("is {} bytes, not 32", bytes.len()),
        )
    })
}

/// A time read back from `table`.`column` (Unix nanoseconds this store wrote).
pub(crate) fn timestamp_from_db(
    nanos: i64,
    table: &'static str,
    column: &'static str,
    row: &str,
) -> Result<Timestamp, StoreError> {
    Timestamp::from_unix_nanos(i128::from(nanos))
        .map_err(|e| corrupt_row(table, column, row, format!("{nanos} is not a time: {e}")))
}

/// A count read back (never negative).
pub(crate) fn count_from_db(raw: i64, what: &'static str) -> Result<usize, StoreError> {
    usize::try_from(raw).map_err(|_| {
        StoreError::Unavailable(format!(
            "the database counted {raw} {what}, which is negative"
        ))
    })
}

/// The columns of one stored event, exactly as read.
pub(crate) struct RawRow {
    pub(crate) stream: String,
    pub(crate) version: i64,
    pub(crate) position: i64,
    pub(crate) event_type: String,
    pub(crate) schema_version: i64,
    pub(crate) occurred_at: i64,
    pub(crate) recorded_at: i64,
    pub(crate) correlation: Option<String>,
    pub(crate) causation: Option<String>,
    pub(crate) payload: String,
    pub(crate) prev_hash: Vec<u8>,
    pub(crate) hash: Vec<u8>,
}

/// How messages name an event row before its stream and version are known to be sound.
pub(crate) fn event_row(position: i64, stream: &str, version: i64) -> String {
    format!("global position {position}, stream {stream:?}, version {version}")
}

pub(crate) fn build_recorded(raw: RawRow) -> Result<RecordedEvent, StoreError> {
    let describe = || event_row(raw.position, &raw.stream, raw.version);
    let stream = stream_from_db(&raw.stream, "events", &describe)?;
    let version = version_from_db(raw.version, false, "events", &describe)?;
    let position = u64::try_from(raw.position)
        .ok()
        .filter(|p| *p >= 1)
        .ok_or_else(|| {
            corrupt_row(
                "events",
                "global_position",
                describe(),
                "is not a position (1 or more)",
            )
        })?;
    let bad = |what: String| StoreError::Corrupt {
        stream: stream.clone(),
        version,
        what,
    };
    let time = |column: &str, nanos: i64| {
        Timestamp::from_unix_nanos(i128::from(nanos))
            .map_err(|e| bad(format!("{column} holds {nanos}: {e}")))
    };
    let schema_version = u16::try_from(raw.schema_version).map_err(|_| {
        bad(format!(
            "schema_version holds {}, which is not 0 to 65535",
            raw.schema_version
        ))
    })?;
    let mut event = NewEvent::new(
        &raw.event_type,
        schema_version,
        time("occurred_at", raw.occurred_at)?,
        raw.payload,
    )
    .map_err(|e| bad(e.to_string()))?;
    if let Some(id) = &raw.correlation {
        event = event.with_correlation(id).map_err(|e| bad(e.to_string()))?;
    }
    if let Some(id) = &raw.causation {
        event = event.with_causation(id).map_err(|e| bad(e.to_string()))?;
    }
    let hash_of = |column: &str, bytes: &[u8]| {
        EventHash::from_slice(bytes)
            .ok_or_else(|| bad(format!("{column} is {} bytes, not 32", bytes.len())))
    };
    let prev = hash_of("prev_hash", &raw.prev_hash)?;
    let hash = hash_of("hash", &raw.hash)?;
    Ok(RecordedEvent::from_parts(
        stream.clone(),
        version,
        position,
        event,
        time("recorded_at", raw.recorded_at)?,
        prev,
        hash,
    ))
}

/// A claimed outbox row read back.
pub(crate) fn outbox_item(
    id: &str,
    destination: &str,
    payload: String,
    claims: i64,
    attempts: i64,
) -> Result<OutboxItem, StoreError> {
    let row = || format!("id {id:?}");
    let claims = u32::try_from(claims)
        .ok()
        .filter(|c| *c >= 1)
        .ok_or_else(|| {
            corrupt_row(
                "outbox",
                "claims",
                row(),
                format!("holds {claims}, not a claim count"),
            )
        })?;
    let message = OutboxMessage::new(id, destination, payload)
        .map_err(|e| corrupt_row("outbox", "payload", row(), e.to_string()))?;
    let attempts = u32::try_from(attempts)
        .map_err(|_| corrupt_row("outbox", "attempts", row(), format!("holds {attempts}")))?;
    Ok(OutboxItem {
        message,
        claims,
        attempts,
    })
}

/// The condition an outbox listing adds for `status`, in SQL both adapters speak: a message is
/// delivered when `delivered_at` is set, failed when `failed_at` is, pending otherwise (written
/// so a pending listing can use the index of undelivered rows).
pub(crate) const fn outbox_status_sql(status: Option<OutboxStatus>) -> &'static str {
    match status {
        None => "TRUE",
        Some(OutboxStatus::Pending) => "delivered_at IS NULL AND failed_at IS NULL",
        Some(OutboxStatus::Delivered) => "delivered_at IS NOT NULL",
        Some(OutboxStatus::Failed) => "failed_at IS NOT NULL",
    }
}

/// The columns an outbox listing reads, in the order [`OutboxColumns`] holds them.
pub(crate) const OUTBOX_ENTRY_COLUMNS: &str = "seq, id, destination, payload, claims, created_at, \
     delivered_at, failed_at, lease_until, last_error, attempts, version";

/// One outbox row as a listing reads it.
pub(crate) struct OutboxColumns {
    pub(crate) seq: i64,
    pub(crate) id: String,
    pub(crate) destination: String,
    pub(crate) payload: String,
    pub(crate) claims: i64,
    pub(crate) created_at: i64,
    pub(crate) delivered_at: Option<i64>,
    pub(crate) failed_at: Option<i64>,
    pub(crate) lease_until: Option<i64>,
    pub(crate) last_error: Option<String>,
    pub(crate) attempts: i64,
    pub(crate) version: i64,
}

impl OutboxColumns {
    /// The entry, or corruption naming the column that holds what this store never writes.
    pub(crate) fn entry(self) -> Result<OutboxEntry, StoreError> {
        let row = format!("id {:?}", self.id);
        let position = u64::try_from(self.seq)
            .ok()
            .filter(|p| *p >= 1)
            .ok_or_else(|| corrupt_row("outbox", "seq", &row, format!("holds {}", self.seq)))?;
        let claims = u32::try_from(self.claims)
            .map_err(|_| corrupt_row("outbox", "claims", &row, format!("holds {}", self.claims)))?;
        let attempts = u32::try_from(self.attempts).map_err(|_| {
            corrupt_row(
                "outbox",
                "attempts",
                &row,
                format!("holds {}", self.attempts),
            )
        })?;
        let version = u32::try_from(self.version)
            .ok()
            .filter(|v| *v >= 1)
            .ok_or_else(|| {
                corrupt_row("outbox", "version", &row, format!("holds {}", self.version))
            })?;
        let time = |nanos: i64, column| timestamp_from_db(nanos, "outbox", column, &row);
        let (status, finished_at) = match (self.delivered_at, self.failed_at) {
            (None, None) => (OutboxStatus::Pending, None),
            (Some(at), None) => (OutboxStatus::Delivered, Some(time(at, "delivered_at")?)),
            (None, Some(at)) => (OutboxStatus::Failed, Some(time(at, "failed_at")?)),
            (Some(_), Some(_)) => {
                return Err(corrupt_row(
                    "outbox",
                    "failed_at",
                    &row,
                    "is set on a delivered message",
                ));
            }
        };
        let message = OutboxMessage::new(&self.id, &self.destination, self.payload)
            .map_err(|e| corrupt_row("outbox", "payload", &row, e.to_string()))?;
        let not_before = match (status, self.lease_until) {
            (OutboxStatus::Pending, Some(until)) => Some(time(until, "lease_until")?),
            _ => None,
        };
        Ok(OutboxEntry {
            position,
            message,
            status,
            claims,
            attempts,
            version,
            created_at: time(self.created_at, "created_at")?,
            finished_at,
            not_before,
            last_error: self.last_error,
        })
    }
}
