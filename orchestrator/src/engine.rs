//! The process manager's loop: catch up on the log, move every live payment one step, deliver
//! the outbox, apply the rail's reports. Everything it knows is derived from stored events, so a
//! restarted (or second) process picks up exactly where the log says the work is.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use app_ops::{AppError, Clock, Command, Effect, Payments, decode_payment_event};
use core_npp::{
    AccountId, AttemptId, FreeText, Money, Payment, PaymentEvent, PaymentIntentId, PaymentState,
    Timestamp,
};
use event_store::{EventStore, OutboxClaim, OutboxMessage, RecordedEvent, StreamKind};

use crate::error::OrchestratorError;
use crate::rail::{Delivery, Rail};
use crate::rail_stream::{RailStreamEvent, record, record_all};
use crate::router::{Route, Router};

const SECOND: i64 = 1_000_000_000;
const PAGE: usize = 2_000;

/// Timers and limits; all times in nanoseconds.
#[derive(Clone, Debug)]
pub struct Config {
    /// This process's name in outbox leases.
    pub worker_id: String,
    /// A SENT attempt with no outcome is enquired about after this long, and again each period.
    pub enquiry_after: i64,
    /// Past this long with no outcome, the attempt goes to the operator queue.
    pub escalate_after: i64,
    /// An intent not sent within this long expires.
    pub intent_ttl: i64,
    /// How long an outbox claim is held before another process may take it.
    pub lease: i64,
    /// Outbox messages claimed per tick.
    pub outbox_batch: usize,
    /// The payments this process works on: those whose id starts with this (`""`, the default:
    /// every payment). A process scoped to a namespace (the simulator's) never authorises,
    /// sends, expires or delivers anyone else's payment.
    pub scope: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            worker_id: "orchestrator".to_owned(),
            enquiry_after: 15 * SECOND,
            escalate_after: 60 * SECOND,
            intent_ttl: 600 * SECOND,
            lease: 30 * SECOND,
            outbox_batch: 512,
            scope: String::new(),
        }
    }
}

/// What this process did, counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Authorisations recorded.
    pub authorised: u64,
    /// Sends recorded (each with its outbox message).
    pub sent: u64,
    /// Outbox messages delivered.
    pub delivered: u64,
    /// Re-deliveries avoided because the rail already had the message.
    pub redeliveries_avoided: u64,
    /// Status reports that changed a payment.
    pub reports_applied: u64,
    /// Status reports suppressed as repeats or duplicates.
    pub duplicates_suppressed: u64,
    /// Status reports refused and recorded as anomalies.
    pub anomalies: u64,
    /// Enquiries sent.
    pub enquiries: u64,
    /// Attempts put in the operator queue.
    pub escalated: u64,
    /// Intents expired before sending.
    pub expired: u64,
    /// Payments no rail could take.
    pub declined: u64,
}

/// Where funds availability comes from (the core banking system); a constant in simulations.
pub trait FundsSource: Send + Sync {
    /// The funds available to `account` right now, before our own earmarks.
    fn available(&self, account: AccountId) -> Money;
}

impl FundsSource for Money {
    fn available(&self, _account: AccountId) -> Money {
        *self
    }
}

#[derive(Debug)]
struct Live {
    payment: Payment,
    decided: Option<AttemptId>,
    enquiries: u32,
}

/// One orchestrator process.
pub struct Orchestrator<'a> {
    store: &'a dyn EventStore,
    clock: &'a dyn Clock,
    rail: &'a dyn Rail,
    funds_source: &'a dyn FundsSource,
    router: Router,
    config: Config,
    /// One set of command handlers for the process's life, so their payment cache spares a
    /// read per command (a stale entry costs a version conflict and a reload, never a wrong
    /// decision).
    payments: Payments<'a>,
    position: u64,
    live: BTreeMap<PaymentIntentId, Live>,
    escalated: BTreeSet<PaymentIntentId>,
    stats: Mutex<Stats>,
}

/// Work is spread over this many threads, so that the store's group commit shares each fsync
/// among many payments.
const WORKERS: usize = 8;
/// Authorised payments sent in one batch (one commit of decisions, one of sends).
const SEND_BATCH: usize = 512;

/// The attempt a payment's next send is: its open one, or the next number.
fn next_attempt(payment: &Payment) -> Result<AttemptId, OrchestratorError> {
    match payment.open_attempt() {
        Some(open) => Ok(open.attempt_id()),
        None => AttemptId::parse(&format!("att_{}", payment.attempts().len() + 1))
            .map_err(|e| OrchestratorError::Rail(e.to_string())),
    }
}

/// Runs `work` over `items` on up to `WORKERS` threads; results come back in item order.
pub fn fan_out<T: Send, R: Send>(items: Vec<T>, work: impl Fn(T) -> R + Sync) -> Vec<R> {
    if items.len() <= 1 {
        return items.into_iter().map(work).collect();
    }
    let chunk = items.len().div_ceil(WORKERS);
    let mut chunks: Vec<Vec<T>> = Vec::new();
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        chunks.push(items.by_ref().take(chunk).collect());
    }
    let work = &work;
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| scope.spawn(move || chunk.into_iter().map(work).collect::<Vec<R>>()))
            .collect();
        // A worker that panicked hit a defect; carry its panic on rather than lose its results.
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

impl<'a> Orchestrator<'a> {
    /// An orchestrator over a store, a clock and a rail.
    pub fn new(
        store: &'a dyn EventStore,
        clock: &'a dyn Clock,
        rail: &'a dyn Rail,
        funds_source: &'a dyn FundsSource,
        router: Router,
        config: Config,
    ) -> Self {
        Self {
            store,
            clock,
            rail,
            funds_source,
            router,
            config,
            payments: Payments::new(store, clock),
            position: 0,
            live: BTreeMap::new(),
            escalated: BTreeSet::new(),
            stats: Mutex::new(Stats::default()),
        }
    }

    /// This orchestrator, committing `announce`'s messages (webhooks) with every payment event
    /// it appends.
    pub fn with_announcer(mut self, announce: &'a dyn app_ops::Announce) -> Self {
        self.payments = Payments::new(self.store, self.clock).with_announcer(announce);
        self
    }

    /// What this process did so far.
    pub fn stats(&self) -> Stats {
        self.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn bump(&self, count: impl FnOnce(&mut Stats)) {
        if let Ok(mut stats) = self.stats.lock() {
            count(&mut stats);
        }
    }

    /// Payments not yet final (as of the last catch-up).
    pub fn live(&self) -> usize {
        self.live.len()
    }

    /// Payments whose silent attempt awaits an operator.
    pub fn escalated(&self) -> &BTreeSet<PaymentIntentId> {
        &self.escalated
    }

    /// Whether every payment it knows of is final or in the operator queue.
    pub fn is_idle(&self) -> bool {
        self.live.keys().all(|id| self.escalated.contains(id))
    }

    /// One step of everything: catch up, move payments, deliver, apply reports.
    pub fn tick(&mut self) -> Result<(), OrchestratorError> {
        self.catch_up()?;
        let now = self.clock.now();
        self.advance(now)?;
        self.deliver(now)?;
        self.apply_reports(now)?;
        self.catch_up()
    }

    /// The earliest time a timer of a live payment falls due, for a simulation to jump to.
    pub fn next_timer(&self) -> Option<Timestamp> {
        self.live
            .iter()
            .filter(|(id, _)| !self.escalated.contains(*id))
            .filter_map(|(_, live)| self.timer(live))
            .min()
    }

    fn timer(&self, live: &Live) -> Option<Timestamp> {
        let payment = &live.payment;
        match payment.state() {
            PaymentState::Sent | PaymentState::Acknowledged => {
                let sent = payment.open_attempt()?.sent_at()?;
                let enquiry = self
                    .config
                    .enquiry_after
                    .saturating_mul(i64::from(live.enquiries) + 1);
                sent.plus_nanos(enquiry.min(self.config.escalate_after))
            }
            PaymentState::Created | PaymentState::Authorised => {
                payment.created_at().plus_nanos(self.config.intent_ttl)
            }
            PaymentState::Settled | PaymentState::Failed | PaymentState::Expired => None,
        }
    }

    fn catch_up(&mut self) -> Result<(), OrchestratorError> {
        loop {
            let page = self.store.read_all(self.position, PAGE)?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            let last = last.global_position();
            for recorded in &page {
                self.fold(recorded)?;
            }
            // The funds projection is caught up where it is read: inside `authorise`.
            self.position = last;
        }
    }

    fn fold(&mut self, recorded: &RecordedEvent) -> Result<(), OrchestratorError> {
        if recorded
            .stream_id()
            .about_payment()
            .is_some_and(|id| !id.as_str().starts_with(&self.config.scope))
        {
            return Ok(());
        }
        match recorded.stream_id().kind() {
            Some(StreamKind::Payment) => {
                let event = decode_payment_event(recorded)?;
                self.fold_payment(&event)
            }
            // A rail fact that cannot be read stops the orchestrator with the stream and
            // version: timers and the operator queue are derived from these facts.
            Some(StreamKind::Rail) => {
                self.fold_rail(RailStreamEvent::decode(recorded)?);
                Ok(())
            }
            Some(
                StreamKind::Ops
                | StreamKind::Anomaly
                | StreamKind::Sim
                | StreamKind::Policy
                | StreamKind::Webhook,
            )
            | None => Ok(()),
        }
    }

    fn fold_rail(&mut self, event: RailStreamEvent) {
        match event {
            RailStreamEvent::RailDecisionRecorded {
                payment_intent_id,
                attempt_id,
                ..
            } => {
                if let Some(live) = self.live.get_mut(&payment_intent_id) {
                    live.decided = attempt_id;
                }
            }
            RailStreamEvent::RailEnquirySent {
                payment_intent_id, ..
            } => {
                if let Some(live) = self.live.get_mut(&payment_intent_id) {
                    live.enquiries = live.enquiries.saturating_add(1);
                }
            }
            RailStreamEvent::RailEscalatedToOperator {
                payment_intent_id, ..
            } => {
                self.escalated.insert(payment_intent_id);
            }
        }
    }

    fn fold_payment(&mut self, event: &PaymentEvent) -> Result<(), OrchestratorError> {
        let id = event.payment_intent_id();
        let current = match self.live.remove(&id) {
            Some(live) => Some(live),
            None if matches!(event, PaymentEvent::PaymentIntentCreated(_)) => {
                Payment::create(event).ok().map(|payment| {
                    // Its authorisation, next, then needs no read of the stream.
                    self.payments.know(&payment, 1);
                    Live {
                        payment,
                        decided: None,
                        enquiries: 0,
                    }
                })
            }
            // A payment that was final came back (an approved retry): reload it whole.
            None => app_ops::load_payment(self.store, id)?.map(|l| Live {
                payment: l.payment,
                decided: None,
                enquiries: 0,
            }),
        };
        let Some(mut live) = current else {
            return Ok(());
        };
        if !matches!(event, PaymentEvent::PaymentIntentCreated(_))
            // A payment loaded whole above already holds this event: the refusal changes nothing.
            && let Ok(core_npp::Applied::Changed(next)) = live.payment.apply(event)
        {
            live.payment = next;
        }
        if matches!(
            event,
            PaymentEvent::PaymentSentToRail(_) | PaymentEvent::PaymentRetryApproved(_)
        ) {
            live.enquiries = 0;
            self.escalated.remove(&id);
        }
        match live.payment.state() {
            PaymentState::Settled | PaymentState::Failed | PaymentState::Expired => {
                self.escalated.remove(&id);
            }
            PaymentState::Created
            | PaymentState::Authorised
            | PaymentState::Sent
            | PaymentState::Acknowledged => {
                self.live.insert(id, live);
            }
        }
        Ok(())
    }

    fn advance(&self, now: Timestamp) -> Result<(), OrchestratorError> {
        // New intents are authorised together, in one batch of commands and one commit; every
        // other step runs per payment, spread over threads.
        let mut to_authorise = Vec::new();
        let mut to_send = Vec::new();
        let mut others = Vec::new();
        for (id, live) in &self.live {
            let payment = &live.payment;
            let fresh = !self.due(payment.created_at(), self.config.intent_ttl, now);
            match payment.state() {
                PaymentState::Created if fresh => to_authorise.push(*id),
                PaymentState::Authorised if fresh => to_send.push(*id),
                PaymentState::Created
                | PaymentState::Authorised
                | PaymentState::Sent
                | PaymentState::Acknowledged => others.push(*id),
                PaymentState::Settled | PaymentState::Failed | PaymentState::Expired => {}
            }
        }
        let authorised = self.authorise_all(&to_authorise);
        let sent = self.send_all(&to_send, now);
        for result in authorised
            .into_iter()
            .chain(sent)
            .chain(fan_out(others, |id| self.advance_one(id, now)))
        {
            match result {
                Ok(()) => {}
                // A refusal means the log moved under us; the next catch-up shows the truth.
                Err(OrchestratorError::App(ref app)) if app.is_refusal() => {}
                Err(OrchestratorError::App(AppError::Contention { .. })) => {}
                Err(other) => return Err(other),
            }
        }
        Ok(())
    }

    fn authorise_all(&self, ids: &[PaymentIntentId]) -> Vec<Result<(), OrchestratorError>> {
        let commands: Vec<Command<'_>> = ids
            .iter()
            .filter_map(|id| self.live.get(id).map(|l| (id, l)))
            .map(|(id, live)| Command::Authorise {
                id: *id,
                policy_checks_passed: true,
                available: self.funds_source.available(live.payment.from_account_id()),
            })
            .collect();
        self.payments
            .run_batch(&commands)
            .into_iter()
            .map(|result| {
                if result?.effect == Effect::Appended {
                    self.bump(|s| s.authorised += 1);
                }
                Ok(())
            })
            .collect()
    }

    /// Sends every authorised payment together: their routing decisions in one commit, then
    /// their `PaymentSent` events and outbox messages in one batch of commands (one commit);
    /// a payment the router declines is recorded as declined, alone.
    fn send_all(
        &self,
        ids: &[PaymentIntentId],
        now: Timestamp,
    ) -> Vec<Result<(), OrchestratorError>> {
        let mut results = Vec::new();
        for chunk in ids.chunks(SEND_BATCH) {
            match self.send_chunk(chunk, now) {
                Ok(mut done) => results.append(&mut done),
                Err(e) => results.push(Err(e)),
            }
        }
        results
    }

    fn send_chunk(
        &self,
        ids: &[PaymentIntentId],
        now: Timestamp,
    ) -> Result<Vec<Result<(), OrchestratorError>>, OrchestratorError> {
        let mut results = Vec::new();
        let mut decisions = Vec::new();
        let mut routed = Vec::new();
        for id in ids {
            let Some(live) = self.live.get(id) else {
                continue;
            };
            let payment = &live.payment;
            // One payment's problem is its own: the others of the chunk are still sent.
            let attempt = match next_attempt(payment) {
                Ok(attempt) => attempt,
                Err(e) => {
                    results.push(Err(e));
                    continue;
                }
            };
            if live.decided == Some(attempt) {
                routed.push((payment, attempt));
                continue;
            }
            match self.router.route(payment) {
                Route::Npp { reason } => {
                    decisions.push((*id, self.decision(*id, Some(attempt), reason, now)));
                    routed.push((payment, attempt));
                }
                // Rare: recorded alone, decision first.
                Route::Declined { reason } => results.push(self.decline(payment, reason, now)),
            }
        }
        record_all(self.store, &decisions, now)?;
        let mut ready = Vec::with_capacity(routed.len());
        for (payment, attempt) in routed {
            let message = self
                .rail
                .submission(payment, attempt, now)
                .and_then(|submission| {
                    Ok(OutboxMessage::new(
                        &submission.message_id,
                        self.rail.name(),
                        submission.payload,
                    )?)
                });
            match message {
                Ok(message) => ready.push((payment, attempt, message)),
                Err(e) => results.push(Err(e)),
            }
        }
        let commands: Vec<Command<'_>> = ready
            .iter()
            .map(|(payment, attempt, message)| Command::RecordSent {
                id: payment.payment_intent_id(),
                attempt_id: *attempt,
                submission: Some(message),
            })
            .collect();
        for result in self.payments.run_batch(&commands) {
            results.push(result.map_err(OrchestratorError::from).map(|outcome| {
                if outcome.effect == Effect::Appended {
                    self.bump(|s| s.sent += 1);
                }
            }));
        }
        Ok(results)
    }

    fn decision(
        &self,
        id: PaymentIntentId,
        attempt_id: Option<AttemptId>,
        reason: String,
        now: Timestamp,
    ) -> RailStreamEvent {
        let rail = match attempt_id {
            Some(_) => self.rail.name().to_owned(),
            None => "none".to_owned(),
        };
        RailStreamEvent::RailDecisionRecorded {
            payment_intent_id: id,
            attempt_id,
            rail,
            reason,
            decided_at: now,
        }
    }

    fn advance_one(&self, id: PaymentIntentId, now: Timestamp) -> Result<(), OrchestratorError> {
        let Some(live) = self.live.get(&id) else {
            return Ok(());
        };
        let payment = live.payment.clone();
        let payments = &self.payments;
        match payment.state() {
            PaymentState::Created | PaymentState::Authorised
                if self.due(payment.created_at(), self.config.intent_ttl, now) =>
            {
                payments.expire_if_due(id, self.config.intent_ttl)?;
                self.bump(|s| s.expired += 1);
            }
            // New intents not yet due to expire are authorised together, by `authorise_all`.
            PaymentState::Created => {}
            // Authorised payments not yet due to expire are sent together, by `send_all`.
            PaymentState::Authorised => {}
            PaymentState::Sent | PaymentState::Acknowledged => self.chase(&payment, now)?,
            PaymentState::Settled | PaymentState::Failed | PaymentState::Expired => {}
        }
        Ok(())
    }

    fn due(&self, since: Timestamp, after: i64, now: Timestamp) -> bool {
        since
            .plus_nanos(after)
            .is_some_and(|deadline| now >= deadline)
    }

    /// Records the router's refusal of a payment: the decision, then the payment declined.
    fn decline(
        &self,
        payment: &Payment,
        reason: String,
        now: Timestamp,
    ) -> Result<(), OrchestratorError> {
        let id = payment.payment_intent_id();
        record(
            self.store,
            id,
            &self.decision(id, None, reason.clone(), now),
            now,
        )?;
        let detail =
            FreeText::parse(&reason).map_err(|e| OrchestratorError::Rail(e.to_string()))?;
        self.payments.record_declined(id, detail)?;
        self.bump(|s| s.declined += 1);
        Ok(())
    }

    fn chase(&self, payment: &Payment, now: Timestamp) -> Result<(), OrchestratorError> {
        let id = payment.payment_intent_id();
        if self.escalated.contains(&id) {
            return Ok(());
        }
        let Some(open) = payment.open_attempt() else {
            return Ok(());
        };
        let Some(sent_at) = open.sent_at() else {
            return Ok(());
        };
        let enquiries = self.live.get(&id).map_or(0, |l| l.enquiries);
        if self.due(sent_at, self.config.escalate_after, now) {
            let reason = format!(
                "no outcome {}s after sending attempt {}, after {enquiries} enquiries; the money may have moved",
                self.config.escalate_after / SECOND,
                open.attempt_id()
            );
            let event = RailStreamEvent::RailEscalatedToOperator {
                payment_intent_id: id,
                attempt_id: open.attempt_id(),
                at: now,
                reason,
            };
            record(self.store, id, &event, now)?;
            // The queue itself is folded back in from the recorded event on catch-up.
            self.bump(|s| s.escalated += 1);
            return Ok(());
        }
        let next_enquiry = self
            .config
            .enquiry_after
            .saturating_mul(i64::from(enquiries) + 1);
        if self.due(sent_at, next_enquiry, now) {
            self.rail.enquire(id, open.attempt_id(), now)?;
            record(
                self.store,
                id,
                &RailStreamEvent::RailEnquirySent {
                    payment_intent_id: id,
                    attempt_id: open.attempt_id(),
                    at: now,
                },
                now,
            )?;
            // The enquiry count moves when the recorded event is folded back in on catch-up.
            self.bump(|s| s.enquiries += 1);
        }
        Ok(())
    }

    fn deliver(&self, now: Timestamp) -> Result<(), OrchestratorError> {
        let worker = &self.config.worker_id;
        let streams = format!("{}{}", StreamKind::Payment.prefix(), self.config.scope);
        let claim = OutboxClaim {
            owner: worker,
            destination: self.rail.name(),
            streams: &streams,
            now,
            lease_nanos: self.config.lease,
            limit: self.config.outbox_batch,
        };
        loop {
            let items = self.store.claim_outbox(&claim)?;
            if items.is_empty() {
                return Ok(());
            }
            // Delivered together, then marked delivered together in one commit. A crash between
            // the two redelivers the batch; the rail knows a message it has seen.
            let results = self.rail.deliver_all(&items, now);
            let mut delivered = Vec::with_capacity(results.len());
            let mut failure = None;
            for (item, result) in items.iter().zip(results) {
                match result {
                    Ok(delivery) => delivered.push((item, delivery)),
                    Err(e) => {
                        failure.get_or_insert(e);
                    }
                }
            }
            let ids: Vec<&str> = delivered
                .iter()
                .map(|(item, _)| item.message.id())
                .collect();
            if !ids.is_empty() {
                let completed = self.store.complete_outbox_batch(&ids, worker, now);
                // A delivery's own failure is the news; the store's, if also, comes next tick.
                if let Err(e) = completed {
                    return Err(failure.unwrap_or_else(|| e.into()));
                }
            }
            for (_, delivery) in &delivered {
                match delivery {
                    Delivery::Delivered => self.bump(|s| s.delivered += 1),
                    Delivery::AlreadyReceived => self.bump(|s| s.redeliveries_avoided += 1),
                }
            }
            if let Some(e) = failure {
                return Err(e);
            }
        }
    }

    /// Applies reports exactly once each, in rounds of one batch of commands (one commit) each:
    /// the k-th report of every payment in round k, so one payment's reports apply in arrival
    /// order and a payment with several reports waiting costs a round, not a commit per report.
    fn apply_reports(&self, now: Timestamp) -> Result<(), OrchestratorError> {
        let reports = self.rail.poll(now)?;
        if reports.is_empty() {
            return Ok(());
        }
        let mut rounds: Vec<Vec<Command<'_>>> = Vec::new();
        let mut seen: BTreeMap<PaymentIntentId, usize> = BTreeMap::new();
        for report in &reports {
            let round = seen.entry(report.payment_intent_id).or_insert(0);
            if rounds.len() <= *round {
                rounds.push(Vec::new());
            }
            if let Some(commands) = rounds.get_mut(*round) {
                commands.push(Command::RailOutcome {
                    id: report.payment_intent_id,
                    message_id: &report.message_id,
                    payload: report.payload.as_deref(),
                    outcome: &report.outcome,
                });
            }
            *round += 1;
        }
        // Every result is counted before the first store error, if any, is reported.
        let mut failure = None;
        let results = rounds
            .iter()
            .flat_map(|commands| self.payments.run_batch(commands));
        for result in results {
            match result {
                Ok(outcome) => match outcome.effect {
                    Effect::Appended => self.bump(|s| s.reports_applied += 1),
                    Effect::AlreadyApplied | Effect::Duplicate | Effect::Unchanged => {
                        self.bump(|s| s.duplicates_suppressed += 1);
                    }
                },
                Err(e) if e.is_refusal() => self.bump(|s| s.anomalies += 1),
                Err(AppError::Contention { .. }) => {}
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        failure.map_or(Ok(()), |e| Err(e.into()))
    }
}
