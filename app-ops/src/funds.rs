//! Derived funds: per account, what is earmarked, settled out and released, folded from events
//! alone. Nothing is stored; the projection is rebuilt from scratch or caught up from a position.

use std::collections::BTreeMap;

use core_npp::{AccountId, EventKind, Money, PaymentEvent, PaymentIntentId};
use event_store::{EventStore, RecordedEvent};

use crate::codec::decode_payment_event;
use crate::error::AppError;

/// Events read per page while catching up.
const PAGE: usize = 1_000;

/// One account's position, in cents.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct FundsPosition {
    /// Every earmark ever placed (a retry earmarks again).
    pub earmarked: Money,
    /// Earmarks consumed by a settlement: money that left.
    pub settled_out: Money,
    /// Earmarks released by a failure, expiry or cancellation.
    pub released: Money,
}

impl FundsPosition {
    /// What is still earmarked: placed, neither settled nor released.
    pub fn outstanding(&self) -> Result<Money, AppError> {
        self.earmarked
            .checked_sub(self.settled_out)
            .and_then(|m| m.checked_sub(self.released))
            .ok_or(AppError::Overflow("outstanding earmarks"))
    }
}

#[derive(Clone, PartialEq, Eq, Debug)]
struct Tracked {
    from: AccountId,
    amount: Money,
    earmarked: bool,
}

/// Funds positions of every account, as of a global position of the log.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct FundsProjection {
    position: u64,
    accounts: BTreeMap<AccountId, FundsPosition>,
    payments: BTreeMap<PaymentIntentId, Tracked>,
}

impl FundsProjection {
    /// Folds the whole log from the start.
    pub fn rebuild(store: &dyn EventStore) -> Result<Self, AppError> {
        let mut projection = Self::default();
        projection.catch_up(store)?;
        Ok(projection)
    }

    /// Folds every event after the last one seen; returns how many were read.
    pub fn catch_up(&mut self, store: &dyn EventStore) -> Result<usize, AppError> {
        let mut read = 0;
        loop {
            let page = store.read_all(self.position, PAGE)?;
            if page.is_empty() {
                return Ok(read);
            }
            read += page.len();
            for recorded in &page {
                self.apply(recorded)?;
            }
            if page.len() < PAGE {
                return Ok(read);
            }
        }
    }

    /// The global position of the last event folded.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// An account's position (all zero for an account never seen).
    pub fn account(&self, id: AccountId) -> FundsPosition {
        self.accounts.get(&id).copied().unwrap_or_default()
    }

    /// Every account's position.
    pub fn accounts(&self) -> &BTreeMap<AccountId, FundsPosition> {
        &self.accounts
    }

    /// Folds one recorded event; events of other streams only move the position.
    pub fn apply(&mut self, recorded: &RecordedEvent) -> Result<(), AppError> {
        // The position moves only past an event that folded: one that cannot be decoded is
        // reported on every catch-up, never skipped.
        self.fold_recorded(recorded)?;
        self.position = self.position.max(recorded.global_position());
        Ok(())
    }

    fn fold_recorded(&mut self, recorded: &RecordedEvent) -> Result<(), AppError> {
        let Some(id) = recorded.stream_id().payment_id() else {
            return Ok(());
        };
        // Only an intent (payer and amount) and a failure (is it retryable?) carry what the fold
        // needs in their payload; every other event's effect follows from its type and stream,
        // so its payload is not decoded here (replay and `verify_store` check every payload).
        let Some(kind) = EventKind::from_name(recorded.event().event_type()) else {
            let event = decode_payment_event(recorded)?;
            return self.fold(&event);
        };
        match kind {
            EventKind::PaymentIntentCreated | EventKind::PaymentFailed => {
                let event = decode_payment_event(recorded)?;
                self.fold(&event)
            }
            EventKind::PaymentAuthorised
            | EventKind::PaymentRetryApproved
            | EventKind::PaymentSettled
            | EventKind::PaymentExpired
            | EventKind::PaymentCancelled => self.fold_kind(id, kind, false),
            EventKind::PaymentSentToRail | EventKind::PaymentAcknowledged => Ok(()),
        }
    }

    fn fold(&mut self, event: &PaymentEvent) -> Result<(), AppError> {
        let id = event.payment_intent_id();
        match event {
            PaymentEvent::PaymentIntentCreated(intent) => {
                let tracked = Tracked {
                    from: *intent.from_account_id(),
                    amount: *intent.amount(),
                    earmarked: false,
                };
                self.payments.insert(id, tracked);
                Ok(())
            }
            PaymentEvent::PaymentFailed(failed) => {
                self.fold_kind(id, event.kind(), failed.reason().is_retryable())
            }
            PaymentEvent::PaymentAuthorised(_)
            | PaymentEvent::PaymentRetryApproved(_)
            | PaymentEvent::PaymentSentToRail(_)
            | PaymentEvent::PaymentAcknowledged(_)
            | PaymentEvent::PaymentSettled(_)
            | PaymentEvent::PaymentExpired(_)
            | PaymentEvent::PaymentCancelled(_) => self.fold_kind(id, event.kind(), false),
        }
    }

    /// Folds an event of a tracked payment by its kind; `retryable_failure` says whether a
    /// failure leaves the payment open to an approved retry.
    fn fold_kind(
        &mut self,
        id: PaymentIntentId,
        kind: EventKind,
        retryable_failure: bool,
    ) -> Result<(), AppError> {
        let Some(tracked) = self.payments.get_mut(&id) else {
            return Ok(());
        };
        let account = self.accounts.entry(tracked.from).or_default();
        let add = |total: Money, amount: Money| {
            total
                .checked_add(amount)
                .ok_or(AppError::Overflow("funds position"))
        };
        match kind {
            EventKind::PaymentAuthorised | EventKind::PaymentRetryApproved
                if !tracked.earmarked =>
            {
                account.earmarked = add(account.earmarked, tracked.amount)?;
                tracked.earmarked = true;
            }
            EventKind::PaymentSettled if tracked.earmarked => {
                account.settled_out = add(account.settled_out, tracked.amount)?;
                tracked.earmarked = false;
            }
            EventKind::PaymentFailed | EventKind::PaymentExpired | EventKind::PaymentCancelled
                if tracked.earmarked =>
            {
                account.released = add(account.released, tracked.amount)?;
                tracked.earmarked = false;
            }
            EventKind::PaymentIntentCreated
            | EventKind::PaymentAuthorised
            | EventKind::PaymentRetryApproved
            | EventKind::PaymentSentToRail
            | EventKind::PaymentAcknowledged
            | EventKind::PaymentSettled
            | EventKind::PaymentFailed
            | EventKind::PaymentExpired
            | EventKind::PaymentCancelled => {}
        }
        // A payment that can never earmark again needs no tracking: only a retryable failure can
        // (an approved retry earmarks anew), so memory stays flat however many payments pass.
        let done = match kind {
            EventKind::PaymentSettled | EventKind::PaymentExpired | EventKind::PaymentCancelled => {
                true
            }
            EventKind::PaymentFailed => !retryable_failure,
            EventKind::PaymentIntentCreated
            | EventKind::PaymentAuthorised
            | EventKind::PaymentRetryApproved
            | EventKind::PaymentSentToRail
            | EventKind::PaymentAcknowledged => false,
        };
        if done {
            self.payments.remove(&id);
        }
        Ok(())
    }
}

/// A funds projection shared by many command threads. Reading an account catches the projection
/// up first, single-flight: while one thread reads the log, the others wait for that read instead
/// of each running its own, and nobody holds the lock across the read. Every reader sees at least
/// every event committed before it asked.
#[derive(Default)]
pub struct LiveFunds {
    state: std::sync::Mutex<Live>,
    caught_up: std::sync::Condvar,
}

#[derive(Default)]
struct Live {
    projection: FundsProjection,
    /// Completed catch-ups.
    generation: u64,
    /// Whether a thread is reading the log now.
    reading: bool,
}

impl From<FundsProjection> for LiveFunds {
    fn from(projection: FundsProjection) -> Self {
        Self {
            state: std::sync::Mutex::new(Live {
                projection,
                generation: 0,
                reading: false,
            }),
            caught_up: std::sync::Condvar::new(),
        }
    }
}

impl LiveFunds {
    /// What is still earmarked for `account`, as of a catch-up that began after this call.
    pub fn outstanding(
        &self,
        store: &dyn EventStore,
        account: AccountId,
    ) -> Result<Money, AppError> {
        self.caught_up(store, |projection| {
            projection.account(account).outstanding()
        })?
    }

    /// `account`'s whole position, as of a catch-up that began after this call.
    pub fn position(
        &self,
        store: &dyn EventStore,
        account: AccountId,
    ) -> Result<FundsPosition, AppError> {
        self.caught_up(store, |projection| projection.account(account))
    }

    /// What is still earmarked for each of `accounts`, from one catch-up that began after this
    /// call (a batch of authorisations reads the log once).
    pub fn outstanding_many(
        &self,
        store: &dyn EventStore,
        accounts: &[AccountId],
    ) -> Result<Vec<Money>, AppError> {
        self.caught_up(store, |projection| {
            accounts
                .iter()
                .map(|account| projection.account(*account).outstanding())
                .collect()
        })?
    }

    /// Runs `read` on the projection once a catch-up that began after this call has completed.
    fn caught_up<R>(
        &self,
        store: &dyn EventStore,
        read: impl FnOnce(&FundsProjection) -> R,
    ) -> Result<R, AppError> {
        let poisoned = || AppError::Overflow("funds projection lock");
        let mut live = self.state.lock().map_err(|_| poisoned())?;
        // A catch-up already running may have read the log before our caller's last commit.
        let wanted = live.generation + 1 + u64::from(live.reading);
        loop {
            // While a reader has the projection out, what is in its place is empty: nobody
            // reads it, even one whose catch-up has already completed.
            if live.reading {
                live = self.caught_up.wait(live).map_err(|_| poisoned())?;
                continue;
            }
            if live.generation >= wanted {
                return Ok(read(&live.projection));
            }
            live.reading = true;
            let mut copy = std::mem::take(&mut live.projection);
            drop(live);
            // Should the read panic, the guard ends the reading (the projection starts over
            // from the log) so that waiters are not left waiting for ever.
            let guard = Reading(self);
            let result = copy.catch_up(store);
            std::mem::forget(guard);
            live = self.state.lock().map_err(|_| poisoned())?;
            live.projection = copy;
            live.reading = false;
            // A failed read completes nothing: a waiter takes its turn to read instead.
            if result.is_ok() {
                live.generation += 1;
            }
            self.caught_up.notify_all();
            result?;
        }
    }

    /// A copy of the projection as it stands (without starting a catch-up).
    pub fn snapshot(&self) -> Result<FundsProjection, AppError> {
        let poisoned = || AppError::Overflow("funds projection lock");
        let mut live = self.state.lock().map_err(|_| poisoned())?;
        while live.reading {
            live = self.caught_up.wait(live).map_err(|_| poisoned())?;
        }
        Ok(live.projection.clone())
    }
}

/// Ends a catch-up that unwound: clears `reading` and wakes the waiters.
struct Reading<'a>(&'a LiveFunds);

impl Drop for Reading<'_> {
    fn drop(&mut self) {
        if let Ok(mut live) = self.0.state.lock() {
            live.reading = false;
        }
        self.0.caught_up.notify_all();
    }
}
