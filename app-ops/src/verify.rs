//! Store verification: walk every stream, check its hash chain, decode every event as its stream
//! kind says it must be, and replay every payment stream through the core, reporting the first
//! corrupt or illegal event by stream and version. A row the store never wrote (a version of -1,
//! a hash of the wrong length, a payload that is not JSON, a type no event has) is corruption:
//! reported, never skipped.

use std::collections::BTreeMap;

use core_npp::{PaymentEvent, ReplayError, rebuild_from_events};
use event_store::{
    EventStore, RecordedEvent, StoreError, StreamId, StreamKind, check_stream_chain,
};

use crate::codec::decode_payment_event;
use crate::error::AppError;

/// How many stream ids to fetch per page while walking the store.
const STREAM_PAGE: usize = 500;

/// A clean store, counted.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct VerifyReport {
    /// Streams walked.
    pub streams: usize,
    /// Events checked.
    pub events: usize,
    /// Payment streams replayed through the core.
    pub payments: usize,
    /// Payments by final state name.
    pub by_state: BTreeMap<&'static str, usize>,
    /// Attempts over every payment.
    pub attempts: usize,
}

/// The first problem found.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum VerifyFailure {
    /// A stored event no longer matches its chain or cannot be read.
    #[error("corrupt: stream {stream} version {version}: {why}")]
    Corrupt {
        /// The stream.
        stream: StreamId,
        /// The first bad version.
        version: u32,
        /// What is wrong.
        why: String,
    },
    /// A stored row holds a value the store never writes; the message names table, column and
    /// row (with its stream and version where it has them).
    #[error("corrupt: {0}")]
    CorruptRow(String),
    /// A payment stream's events break a domain rule.
    #[error("rule broken: stream {stream} version {version} ({event}) breaks {rule}: {why}")]
    RuleBroken {
        /// The stream.
        stream: StreamId,
        /// The version of the rejected event.
        version: u32,
        /// The event type.
        event: String,
        /// The rule id.
        rule: &'static str,
        /// The rule's message.
        why: String,
    },
    /// The store could not be read.
    #[error(transparent)]
    Unreadable(#[from] AppError),
}

impl From<StoreError> for VerifyFailure {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Corrupt {
                stream,
                version,
                what,
            } => VerifyFailure::Corrupt {
                stream,
                version,
                why: what,
            },
            row @ StoreError::CorruptRow { .. } => VerifyFailure::CorruptRow(row.to_string()),
            other => VerifyFailure::Unreadable(AppError::Store(other)),
        }
    }
}

/// What a stream of some kind must hold, beyond a sound chain: each event decoded as this
/// software writes it. Outer layers add checks for the kinds they own (rail facts, what the
/// simulated participant received).
pub trait StreamCheck: Sync {
    /// The kind of stream it checks.
    fn kind(&self) -> StreamKind;
    /// The first event of `events` (one whole stream) that is not what this software writes:
    /// its version and why.
    fn check(&self, events: &[RecordedEvent]) -> Result<(), (u32, String)>;
}

/// Operator requests: every event decodes and the stream folds into one request.
struct OpsCheck;

impl StreamCheck for OpsCheck {
    fn kind(&self) -> StreamKind {
        StreamKind::Ops
    }

    fn check(&self, events: &[RecordedEvent]) -> Result<(), (u32, String)> {
        crate::ops::check_request_stream(events)
    }
}

/// Refused rail messages: every event is a `RailOutcomeRefused`.
struct AnomalyCheck;

impl StreamCheck for AnomalyCheck {
    fn kind(&self) -> StreamKind {
        StreamKind::Anomaly
    }

    fn check(&self, events: &[RecordedEvent]) -> Result<(), (u32, String)> {
        events.iter().try_for_each(|recorded| {
            crate::commands::decode_anomaly(recorded)
                .map(|_| ())
                .map_err(|e| (recorded.version(), e.to_string()))
        })
    }
}

/// The policy stream: every event is a policy as loaded.
struct PolicyCheck;

impl StreamCheck for PolicyCheck {
    fn kind(&self) -> StreamKind {
        StreamKind::Policy
    }

    fn check(&self, events: &[RecordedEvent]) -> Result<(), (u32, String)> {
        events.iter().try_for_each(|recorded| {
            crate::stored_policy::decode_policy_event(recorded)
                .map(|_| ())
                .map_err(|e| (recorded.version(), e.to_string()))
        })
    }
}

/// Walks every stream of `store` with this layer's checks; `Ok` only when every chain holds,
/// every event decodes as its stream's kind requires, and every payment replays. Streams of
/// kinds owned by outer layers (rail, sim) get their chains checked only; use
/// [`verify_store_with`] to check their contents too.
pub fn verify_store(store: &dyn EventStore) -> Result<VerifyReport, VerifyFailure> {
    verify_store_with(store, &[])
}

/// [`verify_store`] with the checks of outer layers added.
pub fn verify_store_with(
    store: &dyn EventStore,
    extra: &[&dyn StreamCheck],
) -> Result<VerifyReport, VerifyFailure> {
    let own: [&dyn StreamCheck; 3] = [&OpsCheck, &AnomalyCheck, &PolicyCheck];
    let checks: Vec<&dyn StreamCheck> = own.into_iter().chain(extra.iter().copied()).collect();
    let mut report = VerifyReport::default();
    let mut after: Option<StreamId> = None;
    loop {
        let page = store.list_streams(after.as_ref(), STREAM_PAGE)?;
        let Some(last) = page.last().cloned() else {
            return Ok(report);
        };
        for stream in &page {
            verify_stream(store, stream, &checks, &mut report)?;
        }
        after = Some(last);
    }
}

fn verify_stream(
    store: &dyn EventStore,
    stream: &StreamId,
    checks: &[&dyn StreamCheck],
    report: &mut VerifyReport,
) -> Result<(), VerifyFailure> {
    let events = store.read_stream(stream)?;
    let corrupt = |version: u32, why: String| VerifyFailure::Corrupt {
        stream: stream.clone(),
        version,
        why,
    };
    check_stream_chain(&events).map_err(|broken| corrupt(broken.version, broken.why))?;
    report.streams += 1;
    report.events += events.len();
    let Some(kind) = stream.kind() else {
        return Err(corrupt(
            1,
            "a stream of a kind this software never writes".to_owned(),
        ));
    };
    if kind == StreamKind::Payment {
        return verify_payment(stream, &events, report);
    }
    for check in checks.iter().filter(|c| c.kind() == kind) {
        check
            .check(&events)
            .map_err(|(version, why)| corrupt(version, why))?;
    }
    Ok(())
}

fn verify_payment(
    stream: &StreamId,
    events: &[RecordedEvent],
    report: &mut VerifyReport,
) -> Result<(), VerifyFailure> {
    let mut history: Vec<PaymentEvent> = Vec::with_capacity(events.len());
    for recorded in events {
        history.push(
            decode_payment_event(recorded).map_err(|e| VerifyFailure::Corrupt {
                stream: stream.clone(),
                version: recorded.version(),
                why: e.to_string(),
            })?,
        );
    }
    match rebuild_from_events(&history) {
        Ok(replay) if Some(replay.payment().payment_intent_id()) != stream.payment_id() => {
            Err(VerifyFailure::RuleBroken {
                stream: stream.clone(),
                version: 1,
                event: "PaymentIntentCreated".to_owned(),
                rule: "identity/same-payment",
                why: format!(
                    "the stream holds payment {}, not the one its id names",
                    replay.payment().payment_intent_id()
                ),
            })
        }
        Ok(replay) => {
            report.payments += 1;
            report.attempts += replay.payment().attempts().len();
            *report
                .by_state
                .entry(replay.payment().state().name())
                .or_default() += 1;
            Ok(())
        }
        Err(ReplayError::EmptyHistory) => Ok(()),
        Err(ReplayError::Rejected {
            index,
            event,
            error,
        }) => Err(VerifyFailure::RuleBroken {
            stream: stream.clone(),
            // `index` is 1-based and within the stream, which holds at most u32::MAX events.
            version: events
                .get(index.saturating_sub(1))
                .map_or(0, RecordedEvent::version),
            event: event.name().to_owned(),
            rule: error.rule(),
            why: error.to_string(),
        }),
    }
}
