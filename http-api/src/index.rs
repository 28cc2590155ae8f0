//! The payments list: a projection folded from the log (`read_all` from the last position seen),
//! through the core's own `Payment::apply`, so a payment's state here is the state a rebuild from
//! its stream gives (a test checks). Payments are listed in the order their intents were
//! recorded; the cursor is that position.
//!
//! Memory: a final payment keeps a summary (about 100 bytes); a live one its folded value until it
//! is final.

use std::collections::{BTreeMap, HashMap};

use app_ops::{AppError, decode_payment_event};
use core_npp::{Applied, Money, Payment, PaymentEvent, PaymentIntentId, PaymentState, Timestamp};
use event_store::{EventStore, RecordedEvent, StreamKind};

use crate::stats::{Latencies, settle_latency};

/// Events read from the log per page while catching up.
const PAGE: usize = 2_000;
/// The most payments one list page holds.
pub const MAX_PAGE: usize = 500;
/// A list page's size when none is asked for.
pub const DEFAULT_PAGE: usize = 50;

/// One payment as the list knows it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Entry {
    /// The payment.
    pub id: PaymentIntentId,
    /// Its state.
    pub state: PaymentState,
    /// The amount.
    pub amount: Money,
    /// Its stream version (events recorded, a duplicate outcome included), as `GET` shows.
    pub version: u32,
    /// When the intent was recorded.
    pub created_at: Timestamp,
    /// When the last event occurred.
    pub updated_at: Timestamp,
    /// Whether its last failure may be retried (a retryable failure, FAILED).
    pub retryable: bool,
    /// Why it failed, when it is FAILED.
    pub failure: Option<&'static str>,
    /// The global position of its intent: the list order and the cursor.
    pub position: u64,
}

/// The projection.
#[derive(Default)]
pub struct PaymentIndex {
    position: u64,
    /// Settlements at or after this time are timed for the console's pictures.
    timed_since: Option<Timestamp>,
    /// Intent-to-settled latencies since the last [`PaymentIndex::take_settled`].
    settled: Latencies,
    entries: HashMap<PaymentIntentId, Entry>,
    /// Payments not yet final, folded, to apply their next events.
    live: HashMap<PaymentIntentId, Payment>,
    by_position: BTreeMap<u64, PaymentIntentId>,
}

fn is_final(state: PaymentState) -> bool {
    matches!(state, PaymentState::Settled | PaymentState::Expired)
}

fn corrupt(recorded: &RecordedEvent, why: String) -> AppError {
    AppError::Undecodable {
        stream: recorded.stream_id().clone(),
        version: recorded.version(),
        why,
    }
}

impl PaymentIndex {
    /// Folds every event recorded since the last catch-up.
    pub fn catch_up(&mut self, store: &dyn EventStore) -> Result<(), AppError> {
        loop {
            let page = store.read_all(self.position, PAGE)?;
            for recorded in &page {
                self.apply(recorded)?;
                self.position = self.position.max(recorded.global_position());
            }
            if page.len() < PAGE {
                return Ok(());
            }
        }
    }

    fn apply(&mut self, recorded: &RecordedEvent) -> Result<(), AppError> {
        if recorded.stream_id().kind() != Some(StreamKind::Payment) {
            return Ok(());
        }
        let event = decode_payment_event(recorded)?;
        let id = event.payment_intent_id();
        let payment = match (&event, self.live.remove(&id)) {
            (PaymentEvent::PaymentIntentCreated(_), None) if !self.entries.contains_key(&id) => {
                Payment::create(&event).map_err(AppError::Rule)?
            }
            (_, Some(payment)) => match payment.apply(&event) {
                Ok(Applied::Changed(next)) => next,
                Ok(Applied::Duplicate) => payment,
                Err(e) => return Err(corrupt(recorded, format!("the core refuses it: {e}"))),
            },
            (_, None) => {
                // A final payment gains no event the core would accept; one that does is a
                // history `npp store verify` reports.
                return Err(corrupt(
                    recorded,
                    "an event after the payment's final one, or before its intent".into(),
                ));
            }
        };
        let position = match self.entries.get(&id) {
            Some(entry) => entry.position,
            None => {
                self.by_position.insert(recorded.global_position(), id);
                recorded.global_position()
            }
        };
        let newly_settled = payment.state() == PaymentState::Settled
            && self
                .entries
                .get(&id)
                .is_none_or(|e| e.state != PaymentState::Settled);
        if newly_settled
            && let Some(since) = self.timed_since
            && let Some(took) =
                settle_latency(payment.created_at(), payment.last_occurred_at(), since)
        {
            self.settled.record(took);
        }
        let retryable = payment.state() == PaymentState::Failed
            && payment
                .last_failure()
                .is_some_and(|f| f.reason().is_retryable());
        self.entries.insert(
            id,
            Entry {
                id,
                state: payment.state(),
                amount: payment.amount(),
                version: recorded.version(),
                created_at: payment.created_at(),
                updated_at: payment.last_occurred_at(),
                retryable,
                failure: (payment.state() == PaymentState::Failed)
                    .then(|| payment.last_failure().map(|f| f.reason().name()))
                    .flatten(),
                position,
            },
        );
        if !is_final(payment.state()) {
            self.live.insert(id, payment);
        }
        Ok(())
    }

    /// Times settlements that happen at or after `since` (a server's start), from now on.
    pub fn time_settlements_since(&mut self, since: Timestamp) {
        self.timed_since = Some(since);
    }

    /// The latencies timed since the last call, leaving none.
    pub fn take_settled(&mut self) -> Latencies {
        std::mem::take(&mut self.settled)
    }

    /// Up to `limit` payments recorded after position `after`, in `state` if given, oldest first;
    /// and the cursor for the next page when there may be more.
    pub fn page(
        &self,
        state: Option<PaymentState>,
        after: u64,
        limit: usize,
    ) -> (Vec<Entry>, Option<u64>) {
        let limit = limit.clamp(1, MAX_PAGE);
        let mut found = Vec::with_capacity(limit);
        let mut last = None;
        for (position, id) in self.by_position.range(after.saturating_add(1)..) {
            let Some(entry) = self.entries.get(id) else {
                continue;
            };
            if state.is_some_and(|s| s != entry.state) {
                continue;
            }
            if found.len() == limit {
                return (found, last);
            }
            found.push(entry.clone());
            last = Some(*position);
        }
        (found, None)
    }

    /// Every payment not final, for the operator queue.
    pub fn open(&self) -> impl Iterator<Item = &Entry> {
        self.by_position
            .values()
            .filter_map(|id| self.entries.get(id))
            .filter(|e| !is_final(e.state))
    }

    /// Payments by state, for the metrics.
    pub fn counts(&self) -> BTreeMap<&'static str, u64> {
        let mut counts: BTreeMap<&'static str, u64> =
            PaymentState::ALL.iter().map(|s| (s.name(), 0)).collect();
        for entry in self.entries.values() {
            *counts.entry(entry.state.name()).or_default() += 1;
        }
        counts
    }

    /// One payment's entry.
    pub fn get(&self, id: PaymentIntentId) -> Option<&Entry> {
        self.entries.get(&id)
    }

    /// Payments indexed.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no payment is indexed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use app_ops::{ManualClock, Payments, load_payment};
    use store::MemoryStore;

    /// Every shipped example history, imported one by one, with its events as `npp replay` reads.
    fn examples() -> Vec<Vec<PaymentEvent>> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .collect();
        names.sort();
        assert!(names.len() >= 8, "examples missing: {names:?}");
        names
            .iter()
            .map(|path| {
                let bytes = std::fs::read(path).unwrap();
                core_npp::parse_history_with(&bytes, |line| {
                    serde_json::from_str::<PaymentEvent>(line)
                })
                .unwrap()
                .into_iter()
                .map(|(_, event)| event)
                .collect()
            })
            .collect()
    }

    fn store_with_examples() -> (MemoryStore, Vec<PaymentIntentId>, PaymentIndex) {
        let store = MemoryStore::new();
        let clock = ManualClock::new(Timestamp::parse("2026-01-01T00:00:00Z").unwrap());
        let payments = Payments::new(&store, &clock);
        let mut incremental = PaymentIndex::default();
        let mut ids = Vec::new();
        for history in examples() {
            let outcome = payments.import_history(&history).unwrap();
            ids.push(outcome.payment.payment_intent_id());
            // Caught up after every import: the index follows the log as it grows
            incremental.catch_up(&store).unwrap();
        }
        (store, ids, incremental)
    }

    #[test]
    fn the_list_followed_event_by_event_equals_a_rebuild_and_each_streams_own_replay() {
        // Given the shipped histories, imported one at a time with a catch-up after each
        let (store, ids, incremental) = store_with_examples();
        // When the list is rebuilt from the whole log at once
        let mut rebuilt = PaymentIndex::default();
        rebuilt.catch_up(&store).unwrap();
        // Then both hold the same entries, and each entry is what its stream replays to
        assert_eq!(incremental.len(), ids.len());
        assert_eq!(rebuilt.len(), ids.len());
        for id in &ids {
            let entry = incremental.get(*id).unwrap();
            assert_eq!(Some(entry), rebuilt.get(*id), "{id}");
            let loaded = load_payment(&store, *id).unwrap().unwrap();
            assert_eq!(entry.state, loaded.payment.state(), "{id}");
            assert_eq!(entry.version, loaded.version, "{id}");
            assert_eq!(entry.amount, loaded.payment.amount(), "{id}");
            assert_eq!(entry.updated_at, loaded.payment.last_occurred_at(), "{id}");
        }
        let total: u64 = rebuilt.counts().values().sum();
        assert_eq!(total, u64::try_from(ids.len()).unwrap());
    }

    #[test]
    fn pages_walk_every_payment_once_oldest_first_and_filter_by_state() {
        // Given the shipped histories
        let (_store, ids, index) = store_with_examples();
        // When the list is walked two at a time from the start
        let mut walked = Vec::new();
        let mut after = 0;
        loop {
            let (page, next) = index.page(None, after, 2);
            assert!(page.len() <= 2);
            walked.extend(page.iter().map(|e| e.id));
            match next {
                Some(cursor) => after = cursor,
                None => break,
            }
        }
        // Then it holds every payment once, in the order their intents were recorded
        assert_eq!(walked, ids);
        // And a state filter gives exactly the payments in that state
        for state in PaymentState::ALL {
            let (page, _) = index.page(Some(state), 0, MAX_PAGE);
            let expected: Vec<_> = ids
                .iter()
                .filter(|id| index.get(**id).unwrap().state == state)
                .copied()
                .collect();
            assert_eq!(
                page.iter().map(|e| e.id).collect::<Vec<_>>(),
                expected,
                "{state:?}"
            );
        }
        // And a limit past the maximum is held to it, never unbounded
        let (page, _) = index.page(None, 0, usize::MAX);
        assert!(page.len() <= MAX_PAGE);
    }
}
