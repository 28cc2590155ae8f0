//! The driver of `npp simulate`: the seed's load scenario end to end on a durable store. Intents
//! arrive at a steady simulated rate across 20 credit unions, the orchestrator drives them
//! through the simulated participant, an operator bot retries the retryable failures through the
//! real maker-checker path, and at the end every stream is replayed and every hash checked.

use std::collections::BTreeMap;
use std::time::Instant;

use app_ops::{
    Clock, ManualClock, NewIntent, OperatorActions, OpsAction, Payments, PolicyGate, TomlPolicy,
    decode_payment_event, verify_store_with,
};
use core_npp::{
    AccountId, Currency, FailureReason, FreeText, IdempotencyKey, Money, OperatorId, PaymentEvent,
    PaymentIntentId, Timestamp,
};
use event_store::EventStore;
use orchestrator::{Config, Orchestrator, Router};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::SimError;
use crate::participant::Participant;
use crate::plan::FaultProfile;

const MILLI: i64 = 1_000_000;
/// The simulated operators' policy: `sim-alice` requests retries, `sim-bob` approves them. Their
/// names say they are the simulation's own operators, acting only on its own payments.
pub const SIM_POLICY: &str = "version = \"simulation\"\napproval_lapse_minutes = 15\n\
[operators]\nsim-alice = [\"requester\"]\nsim-bob = [\"approver\"]\n\
[roles.requester]\nrequest = [\"retry\"]\n[roles.approver]\napprove = [\"retry\"]\n";

/// The scenario's settings.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Payments to create.
    pub payments: u64,
    /// The seed of every outcome, amount and account.
    pub seed: u64,
    /// Credit unions (one BSB each).
    pub credit_unions: u32,
    /// Member accounts across all of them.
    pub members: u64,
    /// Fault injection.
    pub faults: FaultProfile,
    /// The participant's typical reply latency.
    pub latency_ms: u32,
    /// Intents arriving per simulated second.
    pub rate_per_sec: u64,
    /// The orchestrator's timers.
    pub orchestrator: Config,
    /// Join a run another process started: drive its payments, create none.
    pub workers_only: bool,
    /// Run in a store that holds payments outside this run's namespace, working on its own
    /// payments only. Without it, such a store is refused.
    pub share_store: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            payments: 8_100,
            seed: 42,
            credit_unions: 20,
            members: 658_000,
            faults: FaultProfile::None,
            latency_ms: 300,
            rate_per_sec: 134,
            orchestrator: Config::default(),
            workers_only: false,
            share_store: false,
        }
    }
}

/// Told how the run is going.
pub trait Progress {
    /// `done` of `total` payments are final (or awaiting an operator).
    fn update(&self, done: u64, total: u64);
}

impl Progress for () {
    fn update(&self, _done: u64, _total: u64) {}
}

/// The end-of-run summary; `--json` prints it as one object.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Summary {
    /// Payments in the store.
    pub payments: usize,
    /// Payments by state.
    pub by_state: BTreeMap<String, usize>,
    /// Events in the store.
    pub events: usize,
    /// Attempts over every payment.
    pub attempts: usize,
    /// Status reports suppressed as repeats (this process).
    pub duplicates_suppressed: u64,
    /// Status reports refused and recorded as anomalies (this process).
    pub anomalies: u64,
    /// Enquiries sent (this process).
    pub enquiries: u64,
    /// Payments awaiting an operator (silent past the deadline).
    pub operator_queue: usize,
    /// Retries run by the operator bot through maker-checker (this process).
    pub operator_retries: u64,
    /// The most times any one pacs.008 message id reached the participant.
    pub max_deliveries_per_message: u32,
    /// Payments finished by this process per wall-clock second.
    pub payments_per_sec: f64,
    /// Wall-clock seconds of this process's run.
    pub wall_seconds: f64,
    /// Intent-to-final latency percentiles in simulated milliseconds.
    pub simulated_p50_ms: u64,
    /// The 99th percentile of the same.
    pub simulated_p99_ms: u64,
    /// Intent-to-final latency percentiles in wall-clock milliseconds (this process).
    pub wall_p50_ms: u64,
    /// The 99th percentile of the same.
    pub wall_p99_ms: u64,
    /// Payment streams replayed through the core with every hash checked.
    pub replay_verified: usize,
}

/// The payment id of scenario payment `index`.
pub fn scenario_payment_id(seed: u64, index: u64) -> Result<PaymentIntentId, SimError> {
    PaymentIntentId::parse(&format!("{}{index:07}", scenario_namespace(seed)))
        .map_err(|e| SimError::Config(e.to_string()))
}

/// The prefix of every payment id a run with `seed` creates: its namespace. The run acts on
/// payments of its namespace only.
pub fn scenario_namespace(seed: u64) -> String {
    format!("s{seed}-")
}

/// Payments in `store` outside `namespace`, up to `limit` of them (to name in a refusal).
pub fn foreign_payments(
    store: &dyn EventStore,
    namespace: &str,
    limit: usize,
) -> Result<Vec<PaymentIntentId>, SimError> {
    Ok(
        event_store::streams_of(store, event_store::StreamKind::Payment)?
            .iter()
            .filter_map(event_store::StreamId::payment_id)
            .filter(|id| !id.as_str().starts_with(namespace))
            .take(limit)
            .collect(),
    )
}

#[derive(Default)]
struct Watch {
    position: u64,
    created_at: BTreeMap<PaymentIntentId, (Timestamp, Instant)>,
    finished: BTreeMap<PaymentIntentId, (i64, u128)>,
    retry_wanted: Vec<PaymentIntentId>,
}

/// One run of the scenario against a store.
pub struct Simulation<'a> {
    store: &'a dyn EventStore,
    config: SimConfig,
}

fn dice(seed: u64, label: &str) -> u64 {
    let digest = Sha256::digest(format!("{seed}|{label}").as_bytes());
    digest
        .iter()
        .take(8)
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}

impl<'a> Simulation<'a> {
    /// A run of `config` on `store` (a fresh one, or one an earlier run was interrupted on).
    pub fn new(store: &'a dyn EventStore, config: SimConfig) -> Self {
        Self { store, config }
    }

    fn epoch() -> Result<Timestamp, SimError> {
        Timestamp::parse("2025-12-17T00:00:00Z").map_err(|e| SimError::Config(e.to_string()))
    }

    fn account(&self, index: u64, role: &str) -> Result<AccountId, SimError> {
        let unions = u64::from(self.config.credit_unions.max(1));
        let union = dice(self.config.seed, &format!("{role}-cu-{index}")) % unions;
        let member = dice(self.config.seed, &format!("{role}-member-{index}"))
            % (self.config.members / unions).max(1);
        let bsb = 802_000 + union * 7;
        AccountId::parse(&format!("{bsb:06}:{member:08}"))
            .map_err(|e| SimError::Config(e.to_string()))
    }

    fn intent(&self, index: u64, limit: core_npp::AttemptLimit) -> Result<NewIntent, SimError> {
        let id = scenario_payment_id(self.config.seed, index)?;
        let amount = 100 + dice(self.config.seed, &format!("amount-{index}")) % 500_000;
        Ok(NewIntent::new(
            id,
            Money::from_minor_units(i64::try_from(amount).unwrap_or(100)),
            Currency::AUD,
            IdempotencyKey::parse(id.as_str()).map_err(|e| SimError::Config(e.to_string()))?,
            self.account(index, "payer")?,
            self.account(index, "payee")?,
            limit,
        ))
    }

    fn arrival(&self, index: u64) -> Result<Timestamp, SimError> {
        let rate = i64::try_from(self.config.rate_per_sec.max(1)).unwrap_or(1);
        let offset = i64::try_from(index)
            .unwrap_or(i64::MAX)
            .saturating_mul(1_000_000_000)
            / rate;
        Self::epoch()?
            .plus_nanos(offset)
            .ok_or_else(|| SimError::Config("arrival out of range".into()))
    }

    /// Runs to the end: every payment final or awaiting an operator, every stream verified.
    pub fn run(&self, progress: &dyn Progress) -> Result<Summary, SimError> {
        self.run_observed(progress, &mut || Ok(()))
    }

    /// Like [`Simulation::run`], calling `observe` after every step; an `Err` stops the run and
    /// is reported as a failed check (simulation tests assert their invariants there).
    pub fn run_observed(
        &self,
        progress: &dyn Progress,
        observe: &mut dyn FnMut() -> Result<(), String>,
    ) -> Result<Summary, SimError> {
        let started = Instant::now();
        let namespace = scenario_namespace(self.config.seed);
        let foreign = foreign_payments(self.store, &namespace, 3)?;
        if !foreign.is_empty() && !self.config.share_store {
            let named: Vec<String> = foreign.iter().map(ToString::to_string).collect();
            return Err(SimError::Config(format!(
                "the store holds payments this simulation did not create ({}{}); run it on a \
                 store of its own, or pass --share-store to work alongside them (the simulation \
                 then acts on its own payments, {namespace}*, only)",
                named.join(", "),
                if foreign.len() == 3 { ", ..." } else { "" }
            )));
        }
        let clock = ManualClock::new(self.resume_time(&namespace)?);
        let participant = Participant::new(
            self.store,
            self.config.seed,
            self.config.latency_ms,
            self.config.faults,
        )
        .scoped(&namespace);
        let funds = Money::from_minor_units(1_000_000_000_000);
        let mut orchestrator_config = self.config.orchestrator.clone();
        orchestrator_config.scope.clone_from(&namespace);
        let mut orchestrator = Orchestrator::new(
            self.store,
            &clock,
            &participant,
            &funds,
            Router::default(),
            orchestrator_config,
        );
        let policy = TomlPolicy::parse(SIM_POLICY)?;
        let payments = Payments::new(self.store, &clock);
        let ops = OperatorActions::new(&payments, &policy);
        let mut watch = Watch::default();
        // A joining worker creates nothing: it counts the scenario's intents as they appear.
        let mut next_index = if self.config.workers_only {
            self.config.payments
        } else {
            0
        };
        let mut retries = 0u64;
        loop {
            let now = clock.now();
            let mut due = Vec::new();
            while next_index < self.config.payments && self.arrival(next_index)? <= now {
                due.push(self.intent(next_index, policy.attempt_limit())?);
                next_index += 1;
            }
            for created in orchestrator::fan_out(due, |intent| payments.create_intent(&intent)) {
                created?;
            }
            orchestrator.tick()?;
            self.watch(&mut watch)?;
            retries += self.retry_bot(&ops, &mut watch)?;
            observe().map_err(SimError::Check)?;
            progress.update(
                u64::try_from(watch.finished.len()).unwrap_or(0)
                    + orchestrator.escalated().len() as u64,
                self.config.payments,
            );
            let intake_done = next_index >= self.config.payments
                && watch.created_at.len() as u64 >= self.config.payments;
            if intake_done
                && orchestrator.is_idle()
                && participant.pending() == 0
                && self.store.pending_outbox()? == 0
                && watch.retry_wanted.is_empty()
            {
                break;
            }
            let next = [
                (next_index < self.config.payments)
                    .then(|| self.arrival(next_index))
                    .transpose()?,
                orchestrator.next_timer(),
                participant.next_due(),
            ]
            .into_iter()
            .flatten()
            .filter(|t| *t > now)
            .min();
            // With nothing scheduled, only a lease (another process's claim) or another process's
            // intake can be pending: step a second rather than a millisecond.
            let idle_step = if next.is_none() { 1_000 * MILLI } else { MILLI };
            let floor = now.plus_nanos(idle_step).unwrap_or(now);
            clock.set(next.map_or(floor, |t| t.max(floor)));
        }
        self.summary(&orchestrator, &watch, retries, started)
    }

    /// Where the simulated clock starts: the scenario's epoch, or after the last recorded event
    /// of this run's own payments when resuming an interrupted run.
    fn resume_time(&self, namespace: &str) -> Result<Timestamp, SimError> {
        let mut latest = Self::epoch()?;
        let mut after = 0;
        loop {
            let page = self.store.read_all(after, 5_000)?;
            let Some(last) = page.last() else {
                return Ok(latest);
            };
            after = last.global_position();
            for recorded in page.iter().filter(|r| {
                r.stream_id()
                    .about_payment()
                    .is_some_and(|id| id.as_str().starts_with(namespace))
            }) {
                latest = latest
                    .max(recorded.event().occurred_at())
                    .max(recorded.recorded_at());
            }
        }
    }

    fn watch(&self, watch: &mut Watch) -> Result<(), SimError> {
        loop {
            let page = self.store.read_all(watch.position, 2_000)?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            watch.position = last.global_position();
            let namespace = scenario_namespace(self.config.seed);
            for recorded in page.iter().filter(|r| {
                r.stream_id()
                    .payment_id()
                    .is_some_and(|id| id.as_str().starts_with(&namespace))
            }) {
                let event = decode_payment_event(recorded)?;
                let id = event.payment_intent_id();
                match &event {
                    PaymentEvent::PaymentIntentCreated(e) => {
                        watch
                            .created_at
                            .entry(id)
                            .or_insert((e.occurred_at(), Instant::now()));
                    }
                    PaymentEvent::PaymentSettled(_)
                    | PaymentEvent::PaymentFailed(_)
                    | PaymentEvent::PaymentExpired(_)
                    | PaymentEvent::PaymentCancelled(_) => {
                        if let Some((created, wall)) = watch.created_at.get(&id) {
                            let simulated = (event.occurred_at().unix_nanos()
                                - created.unix_nanos())
                                / i128::from(MILLI);
                            watch.finished.insert(
                                id,
                                (
                                    i64::try_from(simulated).unwrap_or(i64::MAX),
                                    wall.elapsed().as_millis(),
                                ),
                            );
                        }
                        if let PaymentEvent::PaymentFailed(failed) = &event
                            && *failed.reason() == FailureReason::RailTimeout
                        {
                            watch.retry_wanted.push(id);
                        }
                    }
                    PaymentEvent::PaymentRetryApproved(_) => {
                        watch.finished.remove(&id);
                    }
                    PaymentEvent::PaymentAuthorised(_)
                    | PaymentEvent::PaymentSentToRail(_)
                    | PaymentEvent::PaymentAcknowledged(_) => {}
                }
            }
        }
    }

    /// The operator on duty: alice asks to retry each timed-out payment, bob approves.
    fn retry_bot(&self, ops: &OperatorActions<'_>, watch: &mut Watch) -> Result<u64, SimError> {
        let mut retried = 0;
        let alice = OperatorId::parse("sim-alice").map_err(|e| SimError::Config(e.to_string()))?;
        let bob = OperatorId::parse("sim-bob").map_err(|e| SimError::Config(e.to_string()))?;
        let reason = FreeText::parse("rail timed out (AB05); payee bank confirms nothing arrived")
            .map_err(|e| SimError::Config(e.to_string()))?;
        for id in std::mem::take(&mut watch.retry_wanted) {
            let Ok(request) = ops.request(OpsAction::Retry, id, alice, reason.clone()) else {
                continue;
            };
            if ops.approve(request.request_id, bob).is_ok() {
                retried += 1;
            }
        }
        Ok(retried)
    }

    // Throughput is a measurement, not money: the one place floats belong.
    #[allow(clippy::float_arithmetic)]
    fn summary(
        &self,
        orchestrator: &Orchestrator<'_>,
        watch: &Watch,
        retries: u64,
        started: Instant,
    ) -> Result<Summary, SimError> {
        let report = verify_store_with(
            self.store,
            &[&orchestrator::RailFactsCheck, &crate::SimReceivedCheck],
        )
        .map_err(|e| SimError::Check(e.to_string()))?;
        let deliveries = Participant::deliveries(self.store)?;
        let wall_seconds = started.elapsed().as_secs_f64();
        let stats = orchestrator.stats();
        let mut simulated: Vec<i64> = watch.finished.values().map(|(s, _)| *s).collect();
        let mut wall: Vec<u128> = watch.finished.values().map(|(_, w)| *w).collect();
        simulated.sort_unstable();
        wall.sort_unstable();
        let pct = |n: usize, p: usize| (n * p / 100).min(n.saturating_sub(1));
        let at = |v: &[i64], p| {
            v.get(pct(v.len(), p))
                .copied()
                .map_or(0, |x| u64::try_from(x).unwrap_or(0))
        };
        let at_wall = |v: &[u128], p| {
            v.get(pct(v.len(), p))
                .copied()
                .map_or(0, |x| u64::try_from(x).unwrap_or(u64::MAX))
        };
        let finished = watch.finished.len() as f64;
        Ok(Summary {
            payments: report.payments,
            by_state: report
                .by_state
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect(),
            events: report.events,
            attempts: report.attempts,
            duplicates_suppressed: stats.duplicates_suppressed,
            anomalies: stats.anomalies,
            enquiries: stats.enquiries,
            operator_queue: orchestrator.escalated().len(),
            operator_retries: retries,
            max_deliveries_per_message: deliveries.values().copied().max().unwrap_or(0),
            payments_per_sec: if wall_seconds > 0.0 {
                finished / wall_seconds
            } else {
                0.0
            },
            wall_seconds,
            simulated_p50_ms: at(&simulated, 50),
            simulated_p99_ms: at(&simulated, 99),
            wall_p50_ms: at_wall(&wall, 50),
            wall_p99_ms: at_wall(&wall, 99),
            replay_verified: report.payments,
        })
    }
}
