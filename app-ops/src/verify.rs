//! Store verification: walk every stream, check its hash chain, and replay every payment stream
//! through the core, reporting the first corrupt or illegal event by stream and version.

use std::collections::BTreeMap;

use core_npp::{PaymentEvent, ReplayError, rebuild_from_events};
use event_store::{EventStore, StreamId, check_stream_chain};

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

/// Walks every stream of `store`; `Ok` only when every chain holds and every payment replays.
pub fn verify_store(store: &dyn EventStore) -> Result<VerifyReport, VerifyFailure> {
    let mut report = VerifyReport::default();
    let mut after: Option<StreamId> = None;
    loop {
        let page = store
            .list_streams(after.as_ref(), STREAM_PAGE)
            .map_err(AppError::from)?;
        let Some(last) = page.last().cloned() else {
            return Ok(report);
        };
        for stream in &page {
            verify_stream(store, stream, &mut report)?;
        }
        after = Some(last);
    }
}

fn verify_stream(
    store: &dyn EventStore,
    stream: &StreamId,
    report: &mut VerifyReport,
) -> Result<(), VerifyFailure> {
    let events = store.read_stream(stream).map_err(AppError::from)?;
    check_stream_chain(&events).map_err(|broken| VerifyFailure::Corrupt {
        stream: stream.clone(),
        version: broken.version,
        why: broken.why,
    })?;
    report.streams += 1;
    report.events += events.len();
    if stream.payment_id().is_none() {
        return Ok(());
    }
    let mut history: Vec<PaymentEvent> = Vec::with_capacity(events.len());
    for recorded in &events {
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
            version: u32::try_from(index).unwrap_or(u32::MAX),
            event: event.name().to_owned(),
            rule: error.rule(),
            why: error.to_string(),
        }),
    }
}
