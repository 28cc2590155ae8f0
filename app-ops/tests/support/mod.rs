//! Test support: a world of one store, a manual clock and the example policy, with terse
//! helpers that drive payments through the real command handlers.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use app_ops::*;
use core_npp::*;
use event_store::EventStore;
use store::{MemoryStore, OpenMode, SqliteStore};

pub const POLICY: &str = include_str!("../../../examples/policy.toml");
pub const MINUTE: i64 = 60 * 1_000_000_000;
pub const AMOUNT: i64 = 50_000;

pub struct World {
    pub store: Box<dyn EventStore>,
    pub clock: ManualClock,
    pub policy: TomlPolicy,
    _dir: Option<tempfile::TempDir>,
}

pub fn memory_world() -> World {
    World::with(Box::new(MemoryStore::new()), None)
}

pub fn sqlite_world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("npp.db"), OpenMode::CreateIfMissing).unwrap();
    World::with(Box::new(store), Some(dir))
}

pub fn pid(id: &str) -> PaymentIntentId {
    PaymentIntentId::parse(id).unwrap()
}
pub fn att(id: &str) -> AttemptId {
    AttemptId::parse(id).unwrap()
}
pub fn op(name: &str) -> OperatorId {
    OperatorId::parse(name).unwrap()
}
pub fn text(s: &str) -> FreeText {
    FreeText::parse(s).unwrap()
}

impl World {
    fn with(store: Box<dyn EventStore>, dir: Option<tempfile::TempDir>) -> Self {
        let clock = ManualClock::new(Timestamp::parse("2025-12-17T09:00:00Z").unwrap());
        Self {
            store,
            clock,
            policy: TomlPolicy::parse(POLICY).unwrap(),
            _dir: dir,
        }
    }

    pub fn payments(&self) -> Payments<'_> {
        Payments::new(&*self.store, &self.clock)
    }

    pub fn intent(&self, id: &str, amount: i64, from: &str) -> NewIntent {
        NewIntent::new(
            pid(id),
            Money::from_minor_units(amount),
            Currency::AUD,
            IdempotencyKey::parse(&format!("idem-{id}")).unwrap(),
            AccountId::parse(from).unwrap(),
            AccountId::parse("payee").unwrap(),
            self.policy.attempt_limit(),
        )
    }

    pub fn created(&self, id: &str) -> Outcome {
        self.payments()
            .create_intent(&self.intent(id, AMOUNT, "payer"))
            .unwrap()
    }

    pub fn authorised(&self, id: &str) -> Outcome {
        self.created(id);
        let available = Money::from_minor_units(1_000_000_000);
        self.payments().authorise(pid(id), true, available).unwrap()
    }

    pub fn sent(&self, id: &str) -> Outcome {
        self.authorised(id);
        self.payments().record_sent(pid(id), att("att_1")).unwrap()
    }

    pub fn rail(&self, id: &str, message: &str, outcome: RailOutcome) -> Result<Outcome, AppError> {
        self.clock.advance(1_000_000);
        self.payments()
            .record_rail_outcome(pid(id), message, None, &outcome)
    }

    pub fn timed_out(&self, id: &str) -> Outcome {
        self.sent(id);
        let attempt = self.payment(id).open_attempt().unwrap().attempt_id();
        self.rail(id, &format!("{id}-timeout-{attempt}"), timeout(attempt))
            .unwrap()
    }

    pub fn payment(&self, id: &str) -> Payment {
        load_payment(&*self.store, pid(id))
            .unwrap()
            .unwrap()
            .payment
    }

    pub fn events(&self, id: &str) -> Vec<PaymentEvent> {
        self.store
            .read_stream(&event_store::StreamId::payment(pid(id)))
            .unwrap()
            .iter()
            .map(|r| decode_payment_event(r).unwrap())
            .collect()
    }
}

pub fn timeout(attempt: AttemptId) -> RailOutcome {
    RailOutcome::Failed {
        attempt_id: attempt,
        reason: FailureReason::RailTimeout,
        detail: Some(text("AB05")),
    }
}

pub fn rejected(attempt: AttemptId, code: &str) -> RailOutcome {
    RailOutcome::Failed {
        attempt_id: attempt,
        reason: FailureReason::RailRejected,
        detail: Some(text(code)),
    }
}

pub fn settled(attempt: AttemptId) -> RailOutcome {
    RailOutcome::Settled {
        attempt_id: attempt,
        settlement_ref: SettlementRef::parse(&format!("settle-{attempt}")).unwrap(),
        funds_transferred: Money::from_minor_units(AMOUNT),
    }
}

pub fn acked(attempt: AttemptId) -> RailOutcome {
    RailOutcome::Acknowledged {
        attempt_id: attempt,
    }
}

/// The rule id of a refusal; panics on success.
pub fn refusal<T: std::fmt::Debug>(result: Result<T, AppError>) -> String {
    match result {
        Ok(value) => panic!("expected a refusal, got {value:?}"),
        Err(AppError::Rule(e)) => e.rule().to_owned(),
        Err(AppError::Refused { rule, .. }) => rule.to_owned(),
        Err(other) => panic!("expected a refusal, got the error {other}"),
    }
}
