//! The values that cross the port: stream ids, new events, append requests and their outcomes,
//! and recorded events with their envelope.

use std::fmt;
use std::sync::Arc;

use core_npp::{ApprovalId, PaymentIntentId, Timestamp};

use crate::error::StoreError;
use crate::hash::{ChainInput, EventHash, chain_hash};

/// The most events one append may carry; a payment's whole life is about a dozen.
pub const MAX_EVENTS_PER_APPEND: usize = 1_000;
/// The largest payload one event may carry.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;
/// The largest raw rail message (a pacs.002 document, say) a rail message claim may keep: as
/// large as any message the NPP adapter reads (`rail_npp::MAX_MESSAGE_BYTES`).
pub const MAX_RAIL_MESSAGE_BYTES: usize = 64 * 1024;
const MAX_STREAM_ID: usize = 100;
const MAX_KEY: usize = 128;
const MAX_EVENT_TYPE: usize = 64;

/// The kinds of stream this system writes, by the prefix of their id. One constructor each
/// (`StreamId::payment`, `StreamId::rail`, ...), so a stream name is never spelt by hand.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum StreamKind {
    /// `payment-<payment_intent_id>`: a payment's lifecycle events (the core's).
    Payment,
    /// `rail-<payment_intent_id>`: routing decisions, enquiries and escalations.
    Rail,
    /// `ops-<request_id>`: one operator request under maker-checker.
    Ops,
    /// `anomaly-<payment_intent_id>`: rail messages refused by the core, for operators.
    Anomaly,
    /// `sim-<message_id>`: what the simulated NPP participant received.
    Sim,
    /// `policy`: the operator policy in force, as loaded.
    Policy,
    /// `webhook-<endpoint_id>`: one webhook endpoint's subscription, its removal, and the
    /// redeliveries operators asked of it.
    Webhook,
}

impl StreamKind {
    /// Every kind.
    pub const ALL: [StreamKind; 7] = [
        StreamKind::Payment,
        StreamKind::Rail,
        StreamKind::Ops,
        StreamKind::Anomaly,
        StreamKind::Sim,
        StreamKind::Policy,
        StreamKind::Webhook,
    ];

    /// The prefix of this kind's stream ids (the whole id for `policy`).
    pub const fn prefix(self) -> &'static str {
        match self {
            StreamKind::Payment => "payment-",
            StreamKind::Rail => "rail-",
            StreamKind::Ops => "ops-",
            StreamKind::Anomaly => "anomaly-",
            StreamKind::Sim => "sim-",
            StreamKind::Policy => "policy",
            StreamKind::Webhook => "webhook-",
        }
    }

    /// The kind's name, for messages.
    pub const fn name(self) -> &'static str {
        match self {
            StreamKind::Payment => "payment",
            StreamKind::Rail => "rail",
            StreamKind::Ops => "ops",
            StreamKind::Anomaly => "anomaly",
            StreamKind::Sim => "sim",
            StreamKind::Policy => "policy",
            StreamKind::Webhook => "webhook",
        }
    }
}

/// A stream's id: 1 to 100 characters from `[A-Za-z0-9._:-]`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId(String);

impl StreamId {
    /// Parses a stream id.
    pub fn parse(raw: &str) -> Result<Self, StoreError> {
        let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-');
        if raw.is_empty() || raw.len() > MAX_STREAM_ID || !raw.chars().all(ok_char) {
            return Err(StoreError::InvalidAppend(format!(
                "stream id {raw:?} must be 1 to {MAX_STREAM_ID} characters of [A-Za-z0-9._:-]"
            )));
        }
        Ok(Self(raw.to_owned()))
    }

    /// `kind`'s stream for `key`. Every key this system uses (a payment, request or message id)
    /// is at most 35 characters of the allowed alphabet, so the id is always valid.
    fn of(kind: StreamKind, key: &str) -> Self {
        Self(format!("{}{key}", kind.prefix()))
    }

    /// The stream of a payment's lifecycle events: `payment-<payment_intent_id>`.
    pub fn payment(id: PaymentIntentId) -> Self {
        Self::of(StreamKind::Payment, id.as_str())
    }

    /// The stream of a payment's rail facts: `rail-<payment_intent_id>`.
    pub fn rail(id: PaymentIntentId) -> Self {
        Self::of(StreamKind::Rail, id.as_str())
    }

    /// The stream of one operator request: `ops-<request_id>`.
    pub fn ops(request_id: ApprovalId) -> Self {
        Self::of(StreamKind::Ops, request_id.as_str())
    }

    /// The stream of a payment's refused rail messages: `anomaly-<payment_intent_id>`.
    pub fn anomaly(id: PaymentIntentId) -> Self {
        Self::of(StreamKind::Anomaly, id.as_str())
    }

    /// The stream of what the simulated participant received under one message id.
    pub fn sim(message_id: &str) -> Result<Self, StoreError> {
        Self::parse(&format!("{}{message_id}", StreamKind::Sim.prefix()))
    }

    /// The stream of one webhook endpoint (`endpoint_id` as the API names it).
    pub fn webhook(endpoint_id: &str) -> Result<Self, StoreError> {
        Self::parse(&format!("{}{endpoint_id}", StreamKind::Webhook.prefix()))
    }

    /// The one stream holding the operator policy in force.
    pub fn policy() -> Self {
        Self(StreamKind::Policy.prefix().to_owned())
    }

    /// The kind of stream this is, if it is one this system writes.
    pub fn kind(&self) -> Option<StreamKind> {
        if self.0 == StreamKind::Policy.prefix() {
            return Some(StreamKind::Policy);
        }
        StreamKind::ALL
            .into_iter()
            .filter(|k| *k != StreamKind::Policy)
            .find(|k| self.0.len() > k.prefix().len() && self.0.starts_with(k.prefix()))
    }

    /// The id after the kind's prefix (`pay_1` of `payment-pay_1`).
    pub fn key(&self) -> Option<&str> {
        let kind = self.kind()?;
        self.0.strip_prefix(kind.prefix())
    }

    /// The payment whose lifecycle this stream holds, if it is a payment stream.
    pub fn payment_id(&self) -> Option<PaymentIntentId> {
        self.0
            .strip_prefix(StreamKind::Payment.prefix())
            .and_then(|id| PaymentIntentId::parse(id).ok())
    }

    /// The payment a payment, rail or anomaly stream is about.
    pub fn about_payment(&self) -> Option<PaymentIntentId> {
        match self.kind()? {
            StreamKind::Payment | StreamKind::Rail | StreamKind::Anomaly => {
                PaymentIntentId::parse(self.key()?).ok()
            }
            StreamKind::Ops | StreamKind::Sim | StreamKind::Policy | StreamKind::Webhook => None,
        }
    }

    /// The operator request an ops stream holds.
    pub fn request_id(&self) -> Option<ApprovalId> {
        match self.kind()? {
            StreamKind::Ops => ApprovalId::parse(self.key()?).ok(),
            StreamKind::Payment
            | StreamKind::Rail
            | StreamKind::Anomaly
            | StreamKind::Sim
            | StreamKind::Policy
            | StreamKind::Webhook => None,
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StreamId({})", self.0)
    }
}

fn bounded(what: &str, value: String, max: usize) -> Result<String, StoreError> {
    if value.is_empty() || value.len() > max || value.chars().any(char::is_control) {
        return Err(StoreError::InvalidAppend(format!(
            "{what} must be 1 to {max} bytes without control characters"
        )));
    }
    Ok(value)
}

/// An event to append, before the store gives it a version, a position and a hash.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NewEvent {
    // Shared, so that a store keeping the event (the memory store) or a reader handing it on
    // copies a pointer, not the text.
    event_type: Arc<str>,
    schema_version: u16,
    occurred_at: Timestamp,
    correlation_id: Option<Arc<str>>,
    causation_id: Option<Arc<str>>,
    payload: Arc<str>,
}

impl NewEvent {
    /// An event of `event_type` whose payload is `payload` (JSON text).
    pub fn new(
        event_type: &str,
        schema_version: u16,
        occurred_at: Timestamp,
        payload: String,
    ) -> Result<Self, StoreError> {
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(StoreError::InvalidAppend(format!(
                "payload of {} bytes exceeds {MAX_PAYLOAD_BYTES}",
                payload.len()
            )));
        }
        Ok(Self {
            event_type: bounded("event type", event_type.to_owned(), MAX_EVENT_TYPE)?.into(),
            schema_version,
            occurred_at,
            correlation_id: None,
            causation_id: None,
            payload: payload.into(),
        })
    }

    /// Tags the event with the id of the flow it belongs to.
    pub fn with_correlation(mut self, id: &str) -> Result<Self, StoreError> {
        self.correlation_id = Some(bounded("correlation id", id.to_owned(), MAX_KEY)?.into());
        Ok(self)
    }

    /// Tags the event with the id of what caused it (a command, a rail message).
    pub fn with_causation(mut self, id: &str) -> Result<Self, StoreError> {
        self.causation_id = Some(bounded("causation id", id.to_owned(), MAX_KEY)?.into());
        Ok(self)
    }

    /// The event type.
    pub fn event_type(&self) -> &str {
        &self.event_type
    }
    /// The payload schema version.
    pub fn schema_version(&self) -> u16 {
        self.schema_version
    }
    /// When it happened.
    pub fn occurred_at(&self) -> Timestamp {
        self.occurred_at
    }
    /// The correlation id.
    pub fn correlation_id(&self) -> Option<&str> {
        self.correlation_id.as_deref()
    }
    /// The causation id.
    pub fn causation_id(&self) -> Option<&str> {
        self.causation_id.as_deref()
    }
    /// The payload (JSON).
    pub fn payload(&self) -> &str {
        &self.payload
    }

    /// The hash this event gets as `version` of `stream` after `prev`, recorded at
    /// `recorded_at`.
    pub fn chain_hash(
        &self,
        stream: &StreamId,
        version: u32,
        recorded_at: Timestamp,
        prev: &EventHash,
    ) -> EventHash {
        chain_hash(
            prev,
            &ChainInput {
                stream_id: stream.as_str(),
                version,
                event_type: &self.event_type,
                schema_version: self.schema_version,
                occurred_at: self.occurred_at,
                recorded_at,
                correlation_id: self.correlation_id.as_deref(),
                causation_id: self.causation_id.as_deref(),
                payload: &self.payload,
            },
        )
    }

    /// Seals the event at `version` after `prev`, as the store records it.
    pub fn seal(
        &self,
        stream: &StreamId,
        version: u32,
        recorded_at: Timestamp,
        prev: &EventHash,
    ) -> (EventHash, RecordedEvent) {
        let hash = self.chain_hash(stream, version, recorded_at, prev);
        let recorded = RecordedEvent {
            stream_id: stream.clone(),
            version,
            global_position: 0,
            event: self.clone(),
            recorded_at,
            prev_hash: *prev,
            hash,
        };
        (hash, recorded)
    }
}

/// An idempotency key with the SHA-256 fingerprint of the request it stands for.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct IdempotencyClaim {
    key: String,
    fingerprint: [u8; 32],
}

impl IdempotencyClaim {
    /// A claim on `key` for the request whose fingerprint is given.
    pub fn new(key: &str, fingerprint: [u8; 32]) -> Result<Self, StoreError> {
        Ok(Self {
            key: bounded("idempotency key", key.to_owned(), MAX_KEY)?,
            fingerprint,
        })
    }
    /// The key.
    pub fn key(&self) -> &str {
        &self.key
    }
    /// The request's fingerprint.
    pub fn fingerprint(&self) -> &[u8; 32] {
        &self.fingerprint
    }
}

/// One atomic append: all of `events` at versions `expected_version + 1 ..`, or nothing.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AppendRequest {
    stream: StreamId,
    expected_version: u32,
    events: Vec<NewEvent>,
    recorded_at: Timestamp,
    idempotency: Option<IdempotencyClaim>,
    rail_message_id: Option<String>,
    rail_message_payload: Option<String>,
    outbox: Vec<OutboxMessage>,
}

impl AppendRequest {
    /// An append of 1 to 1,000 events to `stream`, which must be at `expected_version` (0 for a
    /// new stream). `recorded_at` comes from the caller's clock, so tests stay deterministic.
    pub fn new(
        stream: StreamId,
        expected_version: u32,
        events: Vec<NewEvent>,
        recorded_at: Timestamp,
    ) -> Result<Self, StoreError> {
        if events.is_empty() || events.len() > MAX_EVENTS_PER_APPEND {
            return Err(StoreError::InvalidAppend(format!(
                "an append carries 1 to {MAX_EVENTS_PER_APPEND} events, not {}",
                events.len()
            )));
        }
        // Every adapter stores times as i64 nanoseconds; refusing here keeps them all alike.
        let too_late = |t: Timestamp| i64::try_from(t.unix_nanos()).is_err();
        if too_late(recorded_at) || events.iter().any(|e| too_late(e.occurred_at)) {
            return Err(StoreError::Unrepresentable {
                what: "timestamp",
                why: "the store keeps times up to 2262-04-11".into(),
            });
        }
        let last = u64::from(expected_version) + events.len() as u64;
        if last > u64::from(u32::MAX) {
            return Err(StoreError::InvalidAppend(
                "stream version would overflow".into(),
            ));
        }
        Ok(Self {
            stream,
            expected_version,
            events,
            recorded_at,
            idempotency: None,
            rail_message_id: None,
            rail_message_payload: None,
            outbox: Vec::new(),
        })
    }

    /// Claims an idempotency key in the same commit.
    pub fn with_idempotency(mut self, claim: IdempotencyClaim) -> Self {
        self.idempotency = Some(claim);
        self
    }

    /// Claims a rail message id in the same commit: the message is then applied exactly once.
    pub fn with_rail_message(self, message_id: &str) -> Result<Self, StoreError> {
        self.with_rail_message_payload(message_id, None)
    }

    /// Claims a rail message id in the same commit, as [`Self::with_rail_message`], keeping the
    /// raw message as received with the claim (`None` when the rail gave none), so it can be read
    /// back with [`crate::EventStore::rail_messages`]. A payload over
    /// [`MAX_RAIL_MESSAGE_BYTES`], or holding a NUL character (which no XML document and no
    /// PostgreSQL text can), is refused.
    pub fn with_rail_message_payload(
        mut self,
        message_id: &str,
        payload: Option<&str>,
    ) -> Result<Self, StoreError> {
        let message_id = bounded("rail message id", message_id.to_owned(), MAX_KEY)?;
        if let Some(raw) = payload {
            if raw.len() > MAX_RAIL_MESSAGE_BYTES {
                return Err(StoreError::InvalidAppend(format!(
                    "rail message {message_id} is {} bytes, over MAX_RAIL_MESSAGE_BYTES \
                     ({MAX_RAIL_MESSAGE_BYTES} bytes)",
                    raw.len()
                )));
            }
            if raw.contains('\0') {
                return Err(StoreError::InvalidAppend(format!(
                    "rail message {message_id} holds a NUL character"
                )));
            }
        }
        self.rail_message_id = Some(message_id);
        self.rail_message_payload = payload.map(str::to_owned);
        Ok(self)
    }

    /// Writes `message` to the transactional outbox in the same commit as the events, to be
    /// delivered at least once afterwards.
    pub fn with_outbox(mut self, message: OutboxMessage) -> Self {
        self.outbox.push(message);
        self
    }

    /// The outbox messages committed with the events.
    pub fn outbox(&self) -> &[OutboxMessage] {
        &self.outbox
    }

    /// The stream.
    pub fn stream(&self) -> &StreamId {
        &self.stream
    }
    /// The version the stream must be at.
    pub fn expected_version(&self) -> u32 {
        self.expected_version
    }
    /// The events.
    pub fn events(&self) -> &[NewEvent] {
        &self.events
    }
    /// When the store accepted them (from the caller's clock).
    pub fn recorded_at(&self) -> Timestamp {
        self.recorded_at
    }
    /// The idempotency claim.
    pub fn idempotency(&self) -> Option<&IdempotencyClaim> {
        self.idempotency.as_ref()
    }
    /// The rail message claim.
    pub fn rail_message_id(&self) -> Option<&str> {
        self.rail_message_id.as_deref()
    }
    /// The raw rail message kept with the claim, if one was given.
    pub fn rail_message_payload(&self) -> Option<&str> {
        self.rail_message_payload.as_deref()
    }
    /// The stream version after this append.
    pub fn final_version(&self) -> u32 {
        // `new` refuses requests whose final version would overflow.
        self.expected_version
            .saturating_add(u32::try_from(self.events.len()).unwrap_or(u32::MAX))
    }
}

/// A committed append.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Committed {
    /// The stream.
    pub stream: StreamId,
    /// The first version written.
    pub first_version: u32,
    /// The last version written (the stream's new version).
    pub last_version: u32,
}

/// What an earlier append with the same idempotency key or rail message id did.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PriorResult {
    /// The stream it appended to.
    pub stream: StreamId,
    /// The stream's version right after it.
    pub version: u32,
}

/// A rail message claimed by an event of a stream, as [`crate::EventStore::rail_messages`]
/// returns it: the claim and the raw message kept with it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RailMessageRecord {
    /// The rail's message id (the exactly-once key).
    pub message_id: String,
    /// The stream whose append claimed it.
    pub stream: StreamId,
    /// The stream's version right after that append.
    pub version: u32,
    /// When the store accepted that append.
    pub recorded_at: Timestamp,
    /// The raw message as received (for NPP, the pacs.002 document); `None` when the rail gave
    /// none, and for every claim made before schema version 6.
    pub payload: Option<String>,
}

/// The outcome of an append.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum AppendOutcome {
    /// The events were committed.
    Committed(Committed),
    /// The same key or message was applied before; nothing was appended now.
    AlreadyApplied(PriorResult),
}

/// The outcome of an atomic group of appends ([`crate::EventStore::append_atomic`]).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum GroupOutcome {
    /// Every append of the group was committed, in one commit; one entry per append, in order.
    Committed(Vec<Committed>),
    /// An append of the group carried a claim applied before; nothing of the group was written.
    AlreadyApplied(PriorResult),
}

/// An event as stored: the envelope, its place in the stream and the log, and its chain links.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RecordedEvent {
    stream_id: StreamId,
    version: u32,
    global_position: u64,
    event: NewEvent,
    recorded_at: Timestamp,
    prev_hash: EventHash,
    hash: EventHash,
}

impl RecordedEvent {
    /// Rebuilds a recorded event from stored columns (adapters only).
    #[allow(clippy::too_many_arguments)]
    pub fn from_parts(
        stream_id: StreamId,
        version: u32,
        global_position: u64,
        event: NewEvent,
        recorded_at: Timestamp,
        prev_hash: EventHash,
        hash: EventHash,
    ) -> Self {
        Self {
            stream_id,
            version,
            global_position,
            event,
            recorded_at,
            prev_hash,
            hash,
        }
    }

    /// The same event at the position the database gave it.
    pub fn at_position(mut self, global_position: u64) -> Self {
        self.global_position = global_position;
        self
    }

    /// The stream.
    pub fn stream_id(&self) -> &StreamId {
        &self.stream_id
    }
    /// The 1-based version within the stream.
    pub fn version(&self) -> u32 {
        self.version
    }
    /// The position in the whole log: increasing, with possible gaps.
    pub fn global_position(&self) -> u64 {
        self.global_position
    }
    /// The event as appended.
    pub fn event(&self) -> &NewEvent {
        &self.event
    }
    /// When the store accepted it.
    pub fn recorded_at(&self) -> Timestamp {
        self.recorded_at
    }
    /// The predecessor's hash (zeros for version 1).
    pub fn prev_hash(&self) -> &EventHash {
        &self.prev_hash
    }
    /// This event's hash.
    pub fn hash(&self) -> &EventHash {
        &self.hash
    }

    /// The hash this event should have, recomputed from its stored fields.
    pub fn recompute_hash(&self) -> EventHash {
        self.event
            .seal(
                &self.stream_id,
                self.version,
                self.recorded_at,
                &self.prev_hash,
            )
            .0
    }
}

/// A message to deliver after the commit that recorded why it is sent.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct OutboxMessage {
    id: String,
    destination: String,
    payload: String,
}

impl OutboxMessage {
    /// A message with a unique `id` (for a rail submission, its message id) for `destination`.
    pub fn new(id: &str, destination: &str, payload: String) -> Result<Self, StoreError> {
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(StoreError::InvalidAppend(format!(
                "outbox payload exceeds {MAX_PAYLOAD_BYTES} bytes"
            )));
        }
        Ok(Self {
            id: bounded("outbox id", id.to_owned(), MAX_KEY)?,
            destination: bounded("outbox destination", destination.to_owned(), MAX_EVENT_TYPE)?,
            payload,
        })
    }
    /// The message's unique id.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// Where it goes.
    pub fn destination(&self) -> &str {
        &self.destination
    }
    /// What it says.
    pub fn payload(&self) -> &str {
        &self.payload
    }
}

/// Which outbox messages a claim takes, by whom, and for how long.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct OutboxClaim<'a> {
    /// The claiming process's name (its leases).
    pub owner: &'a str,
    /// Only messages for this destination (a rail's name, say).
    pub destination: &'a str,
    /// Only messages committed with a stream whose id starts with this (`""` for any).
    pub streams: &'a str,
    /// The claimer's now: leases that ended before it are free.
    pub now: Timestamp,
    /// How long the lease lasts.
    pub lease_nanos: i64,
    /// The most messages to claim.
    pub limit: usize,
}

/// An outbox message claimed for delivery under a lease.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct OutboxItem {
    /// The message.
    pub message: OutboxMessage,
    /// How many times it has been claimed, this claim included. More than one means an earlier
    /// delivery may have happened: ask the receiver before sending again.
    pub claims: u32,
    /// How many attempts to deliver it failed before (see [`Attempt`]).
    pub attempts: u32,
}

/// Whether an attempt to deliver a message was made before it is deferred or given up on: the
/// message's `attempts` count only attempts made, not claims (a deliverer that claims a message
/// only to find it must wait for another does not use up its retries).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Attempt {
    /// It was sent, and the sending failed: counted.
    Failed,
    /// It was not sent (it waits, or can never be sent): not counted.
    NotMade,
}

impl Attempt {
    /// What the attempt adds to the count.
    pub const fn counted(self) -> u8 {
        match self {
            Attempt::Failed => 1,
            Attempt::NotMade => 0,
        }
    }
}

/// Where an outbox message stands.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum OutboxStatus {
    /// Not yet delivered: waiting, leased, or deferred to a later attempt.
    Pending,
    /// Delivered.
    Delivered,
    /// Given up on ([`crate::EventStore::fail_outbox`]); reopened only by a person.
    Failed,
}

impl OutboxStatus {
    /// Every status.
    pub const ALL: [OutboxStatus; 3] = [
        OutboxStatus::Pending,
        OutboxStatus::Delivered,
        OutboxStatus::Failed,
    ];

    /// The status named `name` ([`OutboxStatus::name`]), if one is.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The status's name, as APIs show it.
    pub const fn name(self) -> &'static str {
        match self {
            OutboxStatus::Pending => "pending",
            OutboxStatus::Delivered => "delivered",
            OutboxStatus::Failed => "failed",
        }
    }
}

/// The most entries one [`OutboxQuery`] returns.
pub const MAX_OUTBOX_PAGE: usize = 1_000;

/// Which outbox messages [`crate::EventStore::list_outbox`] returns: those for `destination`
/// whose id starts with `id_prefix`, in the status asked for (any when `None`), after position
/// `after` (exclusive), in the order they were committed, at most `limit` (up to
/// [`MAX_OUTBOX_PAGE`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct OutboxQuery<'a> {
    /// Only messages for this destination.
    pub destination: &'a str,
    /// Only messages whose id starts with this (`""` for any).
    pub id_prefix: &'a str,
    /// Only messages in this status.
    pub status: Option<OutboxStatus>,
    /// Only messages committed after this position (0 for the first page).
    pub after: u64,
    /// The most to return.
    pub limit: usize,
    /// Only messages committed with this stream's events (a payment's rail messages).
    pub stream: Option<&'a StreamId>,
}

/// An outbox message as it stands, for operators and for deliverers that keep an order.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct OutboxEntry {
    /// Its position in commit order (for paging with [`OutboxQuery::after`]).
    pub position: u64,
    /// The message.
    pub message: OutboxMessage,
    /// Where it stands.
    pub status: OutboxStatus,
    /// How many times it has been claimed.
    pub claims: u32,
    /// How many attempts to deliver it failed.
    pub attempts: u32,
    /// The version of its stream after the append that wrote it.
    pub version: u32,
    /// When the append that wrote it was recorded.
    pub created_at: Timestamp,
    /// When it was delivered or given up on.
    pub finished_at: Option<Timestamp>,
    /// A pending message is not claimed before this (its lease, or the time it was deferred to).
    pub not_before: Option<Timestamp>,
    /// What the last failed attempt said, if one did.
    pub last_error: Option<String>,
}

/// The longest `why` an outbox message keeps of its last failed attempt, in bytes; longer ones
/// are cut at a character boundary.
pub const MAX_OUTBOX_ERROR_BYTES: usize = 512;

/// `why`, cut to [`MAX_OUTBOX_ERROR_BYTES`] at a character boundary.
pub fn outbox_error(why: &str) -> &str {
    let mut end = why.len().min(MAX_OUTBOX_ERROR_BYTES);
    while !why.is_char_boundary(end) {
        end -= 1;
    }
    why.get(..end).unwrap_or_default()
}
