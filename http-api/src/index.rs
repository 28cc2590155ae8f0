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
    /// Events folded.
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
                version: payment.version(),
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
