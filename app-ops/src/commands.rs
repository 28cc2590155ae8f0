//! Command handlers: load a payment, let the core decide, append with the expected version, and
//! retry a bounded number of times when another writer got there first.

use core_npp::{
    AccountId, Acknowledged, Applied, AttemptId, AttemptLimit, Authorised, Currency, EndToEndId,
    Expired, Failed, FailureReason, FreeText, IdempotencyKey, IntentCreated, Money, PartyName,
    Payment, PaymentEvent, PaymentIntentId, PaymentState, ReplayError, SentToRail, Settled,
    SettlementRef, Timestamp, rebuild_from_events,
};
use event_store::{
    AppendOutcome, AppendRequest, EventStore, IdempotencyClaim, NewEvent, OutboxMessage,
    StoreError, StreamId, append_at_head,
};
use sha2::{Digest, Sha256};

use crate::announce::{Announce, Announcement};
use crate::clock::Clock;
use crate::coalesce::{Coalescer, CoalescingStats, OwnedCommand};
use crate::codec::encode_payment_event;
use crate::error::AppError;
use crate::funds::LiveFunds;
use crate::load::{Loaded, load_payment, load_payment_at};

/// How many times a command reloads and decides again after losing a version race (the port's
/// bound, shared by every append that retries).
pub use event_store::MAX_CONFLICT_RETRIES;

/// What a command did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Effect {
    /// It appended an event.
    Appended,
    /// The same request or rail message was applied before; this is its original result.
    AlreadyApplied,
    /// The core found an exact repeat of an outcome already applied; nothing was appended.
    Duplicate,
    /// There was nothing to do (for example, an intent not yet due to expire).
    Unchanged,
}

/// A command's result: the payment after it, at which stream version, and what happened.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Outcome {
    /// The payment after the command (or as the original request left it).
    pub payment: Payment,
    /// Its stream version.
    pub version: u32,
    /// What the command did.
    pub effect: Effect,
}

/// A new payment intent, as a caller asks for it.
///
/// Build one with [`NewIntent::new`] and the `with_*` builders for the optional parts; the fields
/// are public so that a caller may also write the struct out (every optional one `None` for an
/// intent without payment details).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NewIntent {
    /// The payment's id.
    pub payment_intent_id: PaymentIntentId,
    /// The amount in cents.
    pub amount: Money,
    /// The currency (AUD).
    pub currency: Currency,
    /// The caller's idempotency key.
    pub idempotency_key: IdempotencyKey,
    /// The payer's account.
    pub from_account_id: AccountId,
    /// The payee's account.
    pub to_account_id: AccountId,
    /// The attempt limit, from the policy in force.
    pub max_attempts: AttemptLimit,
    /// The payer's name, for the payee (`Dbtr/Nm` of the pacs.008).
    pub debtor_name: Option<PartyName>,
    /// The payee's name (`Cdtr/Nm`).
    pub creditor_name: Option<PartyName>,
    /// Text for the payee (`RmtInf/Ustrd`); it must fit a message (see
    /// [`FreeText::parse_remittance`]), or the intent is refused.
    pub remittance_information: Option<FreeText>,
    /// The payer's own reference (`PmtId/EndToEndId`); without it the payment id is sent.
    pub end_to_end_id: Option<EndToEndId>,
    /// The caller's id for the request that asked for the payment (an HTTP request id),
    /// recorded as the intent event's correlation id. Not part of the request itself: the same
    /// request asked again under another correlation id is the same request.
    pub correlation_id: Option<String>,
}

impl NewIntent {
    /// An intent without payment details or correlation id; add them with the `with_*`
    /// builders.
    pub fn new(
        payment_intent_id: PaymentIntentId,
        amount: Money,
        currency: Currency,
        idempotency_key: IdempotencyKey,
        from_account_id: AccountId,
        to_account_id: AccountId,
        max_attempts: AttemptLimit,
    ) -> Self {
        Self {
            payment_intent_id,
            amount,
            currency,
            idempotency_key,
            from_account_id,
            to_account_id,
            max_attempts,
            debtor_name: None,
            creditor_name: None,
            remittance_information: None,
            end_to_end_id: None,
            correlation_id: None,
        }
    }

    /// The same intent with the payer's name.
    #[must_use]
    pub fn with_debtor_name(self, name: PartyName) -> Self {
        Self {
            debtor_name: Some(name),
            ..self
        }
    }

    /// The same intent with the payee's name.
    #[must_use]
    pub fn with_creditor_name(self, name: PartyName) -> Self {
        Self {
            creditor_name: Some(name),
            ..self
        }
    }

    /// The same intent with remittance text.
    #[must_use]
    pub fn with_remittance_information(self, text: FreeText) -> Self {
        Self {
            remittance_information: Some(text),
            ..self
        }
    }

    /// The same intent with the payer's end-to-end id.
    #[must_use]
    pub fn with_end_to_end_id(self, id: EndToEndId) -> Self {
        Self {
            end_to_end_id: Some(id),
            ..self
        }
    }

    /// The same intent recorded under the caller's request id.
    #[must_use]
    pub fn with_correlation_id(self, id: impl Into<String>) -> Self {
        Self {
            correlation_id: Some(id.into()),
            ..self
        }
    }

    /// The request an intent event stands for: what a caller would have asked to record it
    /// (with no correlation id, which the event does not hold).
    pub fn of_event(intent: &IntentCreated) -> Self {
        Self {
            payment_intent_id: intent.payment_intent_id(),
            amount: *intent.amount(),
            currency: *intent.currency(),
            idempotency_key: *intent.idempotency_key(),
            from_account_id: *intent.from_account_id(),
            to_account_id: *intent.to_account_id(),
            max_attempts: *intent.max_attempts(),
            debtor_name: intent.debtor_name().cloned(),
            creditor_name: intent.creditor_name().cloned(),
            remittance_information: intent.remittance_information().cloned(),
            end_to_end_id: intent.end_to_end_id().cloned(),
            correlation_id: None,
        }
    }

    /// The intent event this request records, created at `at`.
    pub fn event(&self, at: Timestamp) -> IntentCreated {
        let mut event = IntentCreated::new(
            self.payment_intent_id,
            at,
            self.amount,
            self.currency,
            self.idempotency_key,
            self.from_account_id,
            self.to_account_id,
            self.max_attempts,
        );
        if let Some(name) = &self.debtor_name {
            event = event.with_debtor_name(name.clone());
        }
        if let Some(name) = &self.creditor_name {
            event = event.with_creditor_name(name.clone());
        }
        if let Some(text) = &self.remittance_information {
            event = event.with_remittance_information(text.clone());
        }
        if let Some(id) = &self.end_to_end_id {
            event = event.with_end_to_end_id(id.clone());
        }
        event
    }

    /// SHA-256 of the request's fields, so a key reused for a different request is caught.
    ///
    /// An intent without payment details has the fingerprint it always had (`npp.intent.v1`),
    /// so a request repeated across the upgrade that brought them is still the same request.
    /// With any detail the fingerprint is `npp.intent.v2`: the same fields, then each detail as
    /// `-` when absent or `+`, its length in bytes, `:` and its text, so that no two different
    /// requests share one. The correlation id is not part of it.
    pub fn fingerprint(&self) -> [u8; 32] {
        let base = format!(
            "{}\n{}\n{}\n{}\n{}\n{}",
            self.payment_intent_id,
            self.amount.minor_units(),
            self.currency,
            self.from_account_id,
            self.to_account_id,
            self.max_attempts.get()
        );
        let details = [
            self.debtor_name.as_ref().map(PartyName::as_str),
            self.creditor_name.as_ref().map(PartyName::as_str),
            self.remittance_information.as_ref().map(FreeText::as_str),
            self.end_to_end_id.as_ref().map(EndToEndId::as_str),
        ];
        if details.iter().all(Option::is_none) {
            return Sha256::digest(format!("npp.intent.v1\n{base}").as_bytes()).into();
        }
        let mut canonical = format!("npp.intent.v2\n{base}");
        for detail in details {
            match detail {
                None => canonical.push_str("\n-"),
                Some(text) => {
                    canonical.push_str(&format!("\n+{}:{text}", text.len()));
                }
            }
        }
        Sha256::digest(canonical.as_bytes()).into()
    }

    /// Refuses an intent whose remittance text no ISO 20022 message can carry (U+FFFE or
    /// U+FFFF): it could never be sent, so it is never recorded.
    fn check_sendable(&self) -> Result<(), AppError> {
        match &self.remittance_information {
            Some(text) if !text.fits_a_message() => Err(AppError::refused(
                "intent/remittance-fits-a-message",
                "remittance_information holds U+FFFE or U+FFFF, which no ISO 20022 message \
                 (XML 1.0) can carry",
            )),
            Some(_) | None => Ok(()),
        }
    }
}

/// What the rail said about an attempt.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum RailOutcome {
    /// ACTC / ACSP: accepted, not yet settled.
    Acknowledged {
        /// The attempt.
        attempt_id: AttemptId,
    },
    /// ACSC / ACCC: settled.
    Settled {
        /// The attempt.
        attempt_id: AttemptId,
        /// The settlement reference.
        settlement_ref: SettlementRef,
        /// The amount moved.
        funds_transferred: Money,
    },
    /// RJCT or a timeout.
    Failed {
        /// The attempt.
        attempt_id: AttemptId,
        /// Why.
        reason: FailureReason,
        /// The ISO 20022 reason code or other detail.
        detail: Option<FreeText>,
    },
}

/// A rail message as it arrived: its id, claimed so it applies once, and the raw message (for
/// NPP, the pacs.002 document), kept with the claim when the rail gave it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct RailMessage<'m> {
    /// The rail's message id.
    pub(crate) id: &'m str,
    /// The message as received.
    pub(crate) payload: Option<&'m str>,
}

impl RailMessage<'_> {
    /// Claims this message in `request`'s commit, its raw form kept with the claim.
    fn claimed_by(&self, request: AppendRequest) -> Result<AppendRequest, StoreError> {
        request.with_rail_message_payload(self.id, self.payload)
    }
}

/// A rail message the core refused, as the `anomaly-<payment>` stream records it for operators.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RailOutcomeRefused {
    /// The payment the message was about.
    pub payment_intent_id: PaymentIntentId,
    /// The rail's message id.
    pub message_id: String,
    /// The rule that refused it.
    pub rule: String,
    /// What the message said and why it was refused.
    pub why: String,
}

/// Decodes an anomaly event as this software writes it.
pub fn decode_anomaly(
    recorded: &event_store::RecordedEvent,
) -> Result<RailOutcomeRefused, AppError> {
    let undecodable = |why: String| AppError::Undecodable {
        stream: recorded.stream_id().clone(),
        version: recorded.version(),
        why,
    };
    if recorded.event().event_type() != "RailOutcomeRefused" {
        return Err(undecodable(format!(
            "an anomaly stream holds only RailOutcomeRefused, not {}",
            recorded.event().event_type()
        )));
    }
    let anomaly: RailOutcomeRefused = serde_json::from_str(recorded.event().payload())
        .map_err(|e| undecodable(format!("not an anomaly: {e}")))?;
    if Some(anomaly.payment_intent_id) != recorded.stream_id().about_payment() {
        return Err(undecodable(
            "the anomaly is about another payment than its stream".into(),
        ));
    }
    Ok(anomaly)
}

/// The command handlers over one store and one clock.
pub struct Payments<'a> {
    store: &'a dyn EventStore,
    clock: &'a dyn Clock,
    /// Payments this handler appended to, at the version it left them. A cached value is only a
    /// guess at the current one: the append's expected version is checked by the store, and a
    /// conflict drops the entry and loads afresh, so a stale entry costs a retry, never a wrong
    /// decision.
    cache: std::sync::Mutex<std::collections::HashMap<PaymentIntentId, Loaded>>,
    /// The derived funds projection every authorisation of these handlers reads.
    funds: LiveFunds,
    /// Concurrent single commands share one hand-off to the store (see `coalesce`).
    coalescer: Coalescer,
    /// Whether threads' single commands queue to share hand-offs (not for a store whose appends
    /// cost nothing to share, such as the memory store: they run directly).
    share: bool,
    /// Adds notifications to the appends of payment events (webhooks), if anyone listens.
    announce: Option<&'a dyn Announce>,
}

/// Past this many cached payments the cache starts over (an orchestrator keeps every payment in
/// flight here: at tens of thousands in flight a smaller cache would be cleared every tick).
const MAX_CACHED_PAYMENTS: usize = 65_536;

/// The time an event is recorded at: now, but never before the payment's last event, so a clock
/// that lags another process's cannot make a legal command look like time going backwards.
fn event_time(payment: &Payment, now: Timestamp) -> Timestamp {
    now.max(payment.last_occurred_at())
}

impl<'a> Payments<'a> {
    /// Handlers over `store`, taking time from `clock`.
    pub fn new(store: &'a dyn EventStore, clock: &'a dyn Clock) -> Self {
        Self {
            store,
            clock,
            cache: std::sync::Mutex::new(std::collections::HashMap::new()),
            funds: LiveFunds::default(),
            coalescer: Coalescer::default(),
            share: store.batches_pay(),
            announce: None,
        }
    }

    /// These handlers, committing `announce`'s messages with every payment event they append
    /// (imported histories excepted: they are records of the past, not news).
    pub fn with_announcer(mut self, announce: &'a dyn Announce) -> Self {
        self.announce = Some(announce);
        self
    }

    /// Adds the announcer's messages for `event`, recorded at `version` and leaving the payment
    /// in `next`'s state, to `request`.
    fn announced(
        &self,
        mut request: AppendRequest,
        next: &Payment,
        version: u32,
        event: &PaymentEvent,
    ) -> Result<AppendRequest, AppError> {
        let Some(announce) = self.announce else {
            return Ok(request);
        };
        let announcement = Announcement {
            payment: next.payment_intent_id(),
            version,
            kind: event.kind(),
            state: next.state(),
        };
        for message in announce.messages(&announcement)? {
            request = request.with_outbox(message);
        }
        Ok(request)
    }

    /// The funds projection these handlers' authorisations read (derived from events, shared by
    /// every thread using these handlers).
    pub fn funds(&self) -> &LiveFunds {
        &self.funds
    }

    /// How many single commands shared how many hand-offs to the store (zeros when the store
    /// gains nothing from batches and commands run directly).
    pub fn coalescing(&self) -> CoalescingStats {
        self.coalescer.stats()
    }

    /// Runs a single command: with whatever other callers have queued when the store gains from
    /// batches, else directly.
    fn single(&self, command: OwnedCommand) -> Result<Outcome, AppError> {
        if self.share {
            self.coalescer.run(self, command)
        } else {
            self.run(&command.as_command())
        }
    }

    /// Queues a single command for the threads serving commands ([`Payments::serve_commands`])
    /// and returns at once; `done` is called with the command's result on a serving thread. For
    /// callers that must not block, such as an asynchronous web request: it hands the command
    /// over, awaits `done`'s signal, and never runs the store on its own thread. Without a
    /// serving thread, or with [`MAX_QUEUED_COMMANDS`](crate::MAX_QUEUED_COMMANDS) already waiting, `done` is called at
    /// once with the refusal (`app/not-serving`, `app/overloaded`).
    pub fn submit(
        &self,
        command: OwnedCommand,
        done: impl FnOnce(Result<Outcome, AppError>) + Send + 'static,
    ) {
        self.coalescer.submit(command, Box::new(done));
    }

    /// Runs queued commands on this thread, a round at a time, until [`Payments::stop_serving`];
    /// what is queued when asked to stop still runs. Run it on one or more dedicated threads.
    pub fn serve_commands(&self) {
        self.coalescer.serve(self);
    }

    /// Waits until `count` threads run [`Payments::serve_commands`], or `timeout` passes;
    /// whether they do. Submit only once they serve: without a server a submission is refused.
    pub fn wait_for_servers(&self, count: usize, timeout: std::time::Duration) -> bool {
        self.coalescer.wait_for_servers(count, timeout)
    }

    /// Asks every thread serving commands to finish what is queued and return.
    pub fn stop_serving(&self) {
        self.coalescer.stop();
    }

    pub(crate) fn load(&self, id: PaymentIntentId) -> Result<Option<Loaded>, AppError> {
        if let Some(cached) = self.cache.lock().ok().and_then(|c| c.get(&id).cloned()) {
            return Ok(Some(cached));
        }
        load_payment(self.store, id)
    }

    /// Tells these handlers what a payment is at stream `version`, as a reader folding the log
    /// saw it (an orchestrator catching up on intents the API created), so its next command
    /// need not read the stream. Like every cached value it is a guess: the append's expected
    /// version is checked by the store, and a stale one costs a reload, never a wrong decision.
    pub fn know(&self, payment: &Payment, version: u32) {
        self.remember(payment, version);
    }

    pub(crate) fn remember(&self, payment: &Payment, version: u32) {
        // A payment that can never change again needs no cache entry; dropping it keeps memory
        // flat however many payments pass (an outcome repeated later reads the store once).
        let finished = payment.state().is_terminal() && payment.can_retry().is_err();
        if let Ok(mut cache) = self.cache.lock() {
            if finished {
                cache.remove(&payment.payment_intent_id());
                return;
            }
            if cache.len() >= MAX_CACHED_PAYMENTS {
                cache.clear();
            }
            cache.insert(
                payment.payment_intent_id(),
                Loaded {
                    payment: payment.clone(),
                    version,
                },
            );
        }
    }

    pub(crate) fn forget_payment(&self, id: PaymentIntentId) {
        self.forget(id);
    }

    fn forget(&self, id: PaymentIntentId) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(&id);
        }
    }

    /// The first event of a new payment and the append that records it with its idempotency
    /// claim.
    pub(crate) fn intent_request(
        &self,
        intent: &NewIntent,
    ) -> Result<(Payment, AppendRequest), AppError> {
        intent.check_sendable()?;
        let event = PaymentEvent::PaymentIntentCreated(intent.event(self.clock.now()));
        let payment = Payment::create(&event).map_err(AppError::Rule)?;
        let claim = IdempotencyClaim::new(intent.idempotency_key.as_str(), intent.fingerprint())?;
        let stream = StreamId::payment(intent.payment_intent_id);
        let mut envelope = encode_payment_event(&event)?;
        if let Some(correlation_id) = &intent.correlation_id {
            envelope = envelope.with_correlation(correlation_id)?;
        }
        let request = AppendRequest::new(stream, 0, vec![envelope], self.clock.now())?
            .with_idempotency(claim);
        let request = self.announced(request, &payment, 1, &event)?;
        Ok((payment, request))
    }

    /// The append recording `event` at `version + 1`, which leaves the payment as `next`, with
    /// its rail message claim, its outbox and the announcer's messages.
    pub(crate) fn event_request(
        &self,
        next: &Payment,
        version: u32,
        event: &PaymentEvent,
        rail_message: Option<RailMessage<'_>>,
        outbox: &[OutboxMessage],
    ) -> Result<AppendRequest, AppError> {
        let mut request = AppendRequest::new(
            StreamId::payment(next.payment_intent_id()),
            version,
            vec![encode_payment_event(event)?],
            self.clock.now(),
        )?;
        if let Some(message) = rail_message {
            request = message.claimed_by(request)?;
        }
        for message in outbox {
            request = request.with_outbox(message.clone());
        }
        self.announced(request, next, version.saturating_add(1), event)
    }

    /// The store these handlers use.
    pub fn store(&self) -> &'a dyn EventStore {
        self.store
    }

    /// The clock these handlers use.
    pub fn clock(&self) -> &'a dyn Clock {
        self.clock
    }

    /// Records a new intent. The same key and request returns the same payment; the same key
    /// with a different request is `IdempotencyConflict`, and nothing is appended.
    pub fn create_intent(&self, intent: &NewIntent) -> Result<Outcome, AppError> {
        self.single(OwnedCommand::CreateIntent(intent.clone()))
    }

    /// [`Payments::create_intent`], run now on this thread.
    pub(crate) fn create_intent_now(&self, intent: &NewIntent) -> Result<Outcome, AppError> {
        let (payment, request) = self.intent_request(intent)?;
        match self.store.append(request) {
            Ok(AppendOutcome::Committed(_)) => {
                self.remember(&payment, 1);
                Ok(Outcome {
                    payment,
                    version: 1,
                    effect: Effect::Appended,
                })
            }
            Ok(AppendOutcome::AlreadyApplied(prior)) => self.original(&prior.stream, prior.version),
            Err(StoreError::Conflict { .. }) => Err(AppError::refused(
                "intent/unique-payment-id",
                format!(
                    "payment {} already exists under another idempotency key",
                    intent.payment_intent_id
                ),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Loads a whole payment history (fixtures, demos, migrations) after checking it against
    /// every rule, claiming its intent's idempotency key exactly as `create_intent` does: a key
    /// already used by another payment refuses the import, so no two payments ever hold one key.
    pub fn import_history(&self, history: &[PaymentEvent]) -> Result<Outcome, AppError> {
        let replay = rebuild_from_events(history).map_err(|e| match e {
            ReplayError::Rejected { error, .. } => AppError::Rule(error),
            ReplayError::EmptyHistory => {
                AppError::refused("import/empty-history", "the history holds no events")
            }
        })?;
        let Some(PaymentEvent::PaymentIntentCreated(intent)) = history.first() else {
            return Err(AppError::refused(
                "import/empty-history",
                "a history starts with PaymentIntentCreated",
            ));
        };
        let id = intent.payment_intent_id();
        let request = NewIntent::of_event(intent);
        request.check_sendable()?;
        let claim =
            IdempotencyClaim::new(intent.idempotency_key().as_str(), request.fingerprint())?;
        let events = history
            .iter()
            .map(encode_payment_event)
            .collect::<Result<Vec<_>, _>>()?;
        let request = AppendRequest::new(StreamId::payment(id), 0, events, self.clock.now())?
            .with_idempotency(claim);
        match self.store.append(request) {
            Ok(AppendOutcome::Committed(c)) => Ok(Outcome {
                payment: replay.into_payment(),
                version: c.last_version,
                effect: Effect::Appended,
            }),
            Ok(AppendOutcome::AlreadyApplied(prior)) => Err(AppError::refused(
                "import/already-imported",
                format!(
                    "the intent's idempotency key {} already belongs to {} (the same request); \
                     nothing imported",
                    intent.idempotency_key(),
                    prior.stream
                ),
            )),
            Err(StoreError::Conflict { .. }) => Err(AppError::refused(
                "intent/unique-payment-id",
                format!("payment {id} already exists; nothing imported"),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Authorises: our policy checks and a funds earmark against `available` funds less what is
    /// already earmarked for the payer (derived from events), or records the failure.
    ///
    /// The projection is caught up before it is read (one read of the log shared by every
    /// authorisation waiting at that moment), and is not locked across the append, so
    /// authorisations share the store's group commit. Two authorisations for one payer racing
    /// within one commit can both see the same earmarks; the member's core banking balance
    /// (`available`) stays the authority, as it is for every debit.
    pub fn authorise(
        &self,
        id: PaymentIntentId,
        policy_checks_passed: bool,
        available: Money,
    ) -> Result<Outcome, AppError> {
        self.single(OwnedCommand::Authorise {
            id,
            policy_checks_passed,
            available,
        })
    }

    /// [`Payments::authorise`], run now on this thread.
    pub(crate) fn authorise_now(
        &self,
        id: PaymentIntentId,
        policy_checks_passed: bool,
        available: Money,
    ) -> Result<Outcome, AppError> {
        self.execute(id, None, |payment, now| {
            authorisation(payment, now, policy_checks_passed, available, |account| {
                self.funds.outstanding(self.store, account)
            })
            .map(Some)
        })
    }

    /// Records that `attempt_id` was handed to the rail.
    pub fn record_sent(
        &self,
        id: PaymentIntentId,
        attempt_id: AttemptId,
    ) -> Result<Outcome, AppError> {
        self.record_sent_with(id, attempt_id, None)
    }

    /// Records that `attempt_id` was handed to the rail, writing `submission` to the outbox in
    /// the same commit: the message is delivered if and only if the send is recorded.
    pub fn record_sent_with(
        &self,
        id: PaymentIntentId,
        attempt_id: AttemptId,
        submission: Option<OutboxMessage>,
    ) -> Result<Outcome, AppError> {
        self.single(OwnedCommand::RecordSent {
            id,
            attempt_id,
            submission,
        })
    }

    /// [`Payments::record_sent_with`], run now on this thread.
    pub(crate) fn record_sent_now(
        &self,
        id: PaymentIntentId,
        attempt_id: AttemptId,
        submission: Option<&OutboxMessage>,
    ) -> Result<Outcome, AppError> {
        let outbox: Vec<OutboxMessage> = submission.into_iter().cloned().collect();
        self.execute_with(id, None, &outbox, |payment, now| {
            Ok(Some(sent(payment, now, attempt_id)))
        })
    }

    /// Records that no rail can take the payment (routing declined it), before anything is sent.
    pub fn record_declined(
        &self,
        id: PaymentIntentId,
        detail: FreeText,
    ) -> Result<Outcome, AppError> {
        self.execute(id, None, |payment, now| {
            let at = event_time(payment, now);
            Ok(Some(failure(
                payment,
                at,
                FailureReason::PolicyDeclined,
                Some(detail.clone()),
            )))
        })
    }

    /// Expires an intent that passed its deadline (`ttl_nanos` after creation) before being sent.
    /// A payment already sent is never expired: the money may have moved.
    pub fn expire_if_due(&self, id: PaymentIntentId, ttl_nanos: i64) -> Result<Outcome, AppError> {
        self.execute(id, None, |payment, now| {
            let due = payment
                .created_at()
                .plus_nanos(ttl_nanos)
                .is_some_and(|deadline| now >= deadline);
            let unsent = matches!(
                payment.state(),
                PaymentState::Created | PaymentState::Authorised
            );
            Ok((due && unsent).then(|| {
                PaymentEvent::PaymentExpired(Expired::new(
                    payment.payment_intent_id(),
                    event_time(payment, now),
                ))
            }))
        })
    }

    /// Applies a rail status report exactly once, keyed by the rail's message id. A repeat of a
    /// message already applied returns the original result and appends nothing. An outcome the
    /// core refuses (it conflicts with what is recorded) is refused and recorded as an anomaly in
    /// the stream `anomaly-<payment>` for operators.
    ///
    /// `payload` is the message as the rail delivered it (for NPP, the pacs.002 document), or
    /// `None` when there is none to keep; it is stored with the message id's claim, in the same
    /// commit as the event it caused (or the anomaly), for auditors and operators to read back
    /// with [`event_store::EventStore::rail_messages`]. A repeat keeps the first one's.
    pub fn record_rail_outcome(
        &self,
        id: PaymentIntentId,
        message_id: &str,
        payload: Option<&str>,
        outcome: &RailOutcome,
    ) -> Result<Outcome, AppError> {
        self.single(OwnedCommand::RailOutcome {
            id,
            message_id: message_id.to_owned(),
            payload: payload.map(str::to_owned),
            outcome: outcome.clone(),
        })
    }

    /// [`Payments::record_rail_outcome`], run now on this thread.
    pub(crate) fn record_rail_outcome_now(
        &self,
        id: PaymentIntentId,
        message_id: &str,
        payload: Option<&str>,
        outcome: &RailOutcome,
    ) -> Result<Outcome, AppError> {
        let message = RailMessage {
            id: message_id,
            payload,
        };
        // No read before deciding: the store's claim on `message_id`, taken in the same commit
        // as the event, catches a repeat; the rail message table is consulted only when the
        // core finds nothing to record, so a first delivery costs no read at all.
        let result = self.execute(id, Some(message), |payment, now| {
            Ok(rail_decision(payment, now, outcome))
        });
        let unrecorded = match result {
            Ok(done) if matches!(done.effect, Effect::Appended | Effect::AlreadyApplied) => {
                return Ok(done);
            }
            Ok(stale) => Ok(Outcome {
                effect: Effect::Duplicate,
                ..stale
            }),
            Err(AppError::Rule(error)) => Err(error),
            other => return other,
        };
        // Nothing was recorded now: a message applied (or refused) before keeps its original
        // result; only a first delivery is a duplicate or an anomaly.
        if let Some(prior) = self.store.find_rail_message(message_id)? {
            return self.original(&prior.stream, prior.version);
        }
        match unrecorded {
            Ok(duplicate) => Ok(duplicate),
            Err(error) => Err(self.record_anomaly(id, message, outcome, &error)?),
        }
    }

    /// The result a request originally had: the payment at that version, or the refusal an
    /// anomaly recorded.
    fn original(&self, stream: &StreamId, version: u32) -> Result<Outcome, AppError> {
        if let Some(id) = stream.payment_id() {
            let loaded =
                load_payment_at(self.store, id, version)?.ok_or(AppError::UnknownPayment(id))?;
            return Ok(Outcome {
                payment: loaded.payment,
                version,
                effect: Effect::AlreadyApplied,
            });
        }
        let recorded = self.store.read_stream(stream)?;
        let why = recorded
            .iter()
            .find(|r| r.version() == version)
            .map_or_else(
                || "an earlier delivery was refused".to_owned(),
                |r| r.event().payload().to_owned(),
            );
        Err(AppError::refused(
            "rail/outcome-refused",
            format!("already refused and recorded as an anomaly: {why}"),
        ))
    }

    fn record_anomaly(
        &self,
        id: PaymentIntentId,
        message: RailMessage<'_>,
        outcome: &RailOutcome,
        error: &core_npp::DomainError,
    ) -> Result<AppError, AppError> {
        let message_id = message.id;
        let stream = StreamId::anomaly(id);
        let why = format!(
            "rail message {message_id} ({outcome:?}) refused by {}: {error}",
            error.rule()
        );
        let payload = serde_json::to_string(&RailOutcomeRefused {
            payment_intent_id: id,
            message_id: message_id.to_owned(),
            rule: error.rule().to_owned(),
            why: why.clone(),
        })
        .map_err(|e| AppError::Unencodable(e.to_string()))?;
        let appended = append_at_head(self.store, &stream, |version| {
            let event = NewEvent::new("RailOutcomeRefused", 1, self.clock.now(), payload.clone())?
                .with_causation(message_id)?;
            message.claimed_by(AppendRequest::new(
                stream.clone(),
                version,
                vec![event],
                self.clock.now(),
            )?)
        });
        match appended {
            Ok(_) => Ok(AppError::refused(
                "rail/outcome-refused",
                format!("{why}; recorded as an anomaly for operators"),
            )),
            Err(StoreError::Conflict { .. }) => Err(AppError::Contention {
                stream,
                attempts: MAX_CONFLICT_RETRIES,
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Load, decide, append with the expected version; on a version conflict, start again.
    /// `decide` returns the event to record, or `None` when there is nothing to do.
    pub(crate) fn execute(
        &self,
        id: PaymentIntentId,
        rail_message: Option<RailMessage<'_>>,
        decide: impl Fn(&Payment, Timestamp) -> Result<Option<PaymentEvent>, AppError>,
    ) -> Result<Outcome, AppError> {
        self.execute_with(id, rail_message, &[], decide)
    }

    fn execute_with(
        &self,
        id: PaymentIntentId,
        rail_message: Option<RailMessage<'_>>,
        outbox: &[OutboxMessage],
        decide: impl Fn(&Payment, Timestamp) -> Result<Option<PaymentEvent>, AppError>,
    ) -> Result<Outcome, AppError> {
        let stream = StreamId::payment(id);
        let mut fresh = false;
        for _ in 0..MAX_CONFLICT_RETRIES {
            // A refusal or "nothing to do" is only trusted on a value read from the store: a
            // cached one may lag what another process appended since.
            let (Loaded { payment, version }, event, applied) =
                match self.decide_on(id, fresh, &decide) {
                    Ok(Decided::Event {
                        loaded,
                        event,
                        applied,
                    }) => (loaded, event, applied),
                    Ok(Decided::Nothing(_)) | Err(_) if !fresh => {
                        fresh = true;
                        continue;
                    }
                    Ok(Decided::Nothing(loaded)) => {
                        return Ok(Outcome {
                            payment: loaded.payment,
                            version: loaded.version,
                            effect: Effect::Unchanged,
                        });
                    }
                    Err(e) => return Err(e),
                };
            let next = match applied {
                Applied::Changed(next) => next,
                Applied::Duplicate => {
                    return Ok(Outcome {
                        payment,
                        version,
                        effect: Effect::Duplicate,
                    });
                }
            };
            let request = self.event_request(&next, version, &event, rail_message, outbox)?;
            match self.store.append(request) {
                Ok(AppendOutcome::Committed(c)) => {
                    self.remember(&next, c.last_version);
                    return Ok(Outcome {
                        payment: next,
                        version: c.last_version,
                        effect: Effect::Appended,
                    });
                }
                Ok(AppendOutcome::AlreadyApplied(prior)) => {
                    self.forget(id);
                    return self.original(&prior.stream, prior.version);
                }
                Err(StoreError::Conflict { .. }) => fresh = true,
                Err(e) => return Err(e.into()),
            }
        }
        Err(AppError::Contention {
            stream,
            attempts: MAX_CONFLICT_RETRIES,
        })
    }

    /// Loads (from the cache unless `fresh`), decides, and lets the core apply the event once;
    /// a core refusal is an error here, so the caller can retry it on a fresh value.
    fn decide_on(
        &self,
        id: PaymentIntentId,
        fresh: bool,
        decide: &impl Fn(&Payment, Timestamp) -> Result<Option<PaymentEvent>, AppError>,
    ) -> Result<Decided, AppError> {
        if fresh {
            self.forget(id);
        }
        let loaded = self.load(id)?.ok_or(AppError::UnknownPayment(id))?;
        let Some(event) = decide(&loaded.payment, self.clock.now())? else {
            return Ok(Decided::Nothing(loaded));
        };
        let applied = loaded.payment.apply(&event).map_err(AppError::Rule)?;
        Ok(Decided::Event {
            loaded,
            event,
            applied,
        })
    }
}

/// What `decide_on` found: nothing to do, or an event with the core's verdict on it.
// Lives for one command on the stack; boxing would add an allocation to every command.
#[allow(clippy::large_enum_variant)]
enum Decided {
    Nothing(Loaded),
    Event {
        loaded: Loaded,
        event: PaymentEvent,
        applied: Applied,
    },
}

/// Authorisation: our policy checks, then the amount against `available` less what is already
/// earmarked for the payer (`outstanding`, read only if the checks passed).
pub(crate) fn authorisation(
    payment: &Payment,
    now: Timestamp,
    policy_checks_passed: bool,
    available: Money,
    outstanding: impl FnOnce(AccountId) -> Result<Money, AppError>,
) -> Result<PaymentEvent, AppError> {
    let at = event_time(payment, now);
    if !policy_checks_passed {
        let detail = FreeText::parse("policy checks did not pass").ok();
        return Ok(failure(payment, at, FailureReason::PolicyDeclined, detail));
    }
    let outstanding = outstanding(payment.from_account_id())?;
    let free = available
        .checked_sub(outstanding)
        .ok_or(AppError::Overflow("available funds"))?;
    if free < payment.amount() {
        let detail = FreeText::parse(&format!(
            "available {available}, already earmarked {outstanding}, needed {}",
            payment.amount()
        ))
        .ok();
        return Ok(failure(
            payment,
            at,
            FailureReason::InsufficientFunds,
            detail,
        ));
    }
    Ok(PaymentEvent::PaymentAuthorised(Authorised::new(
        payment.payment_intent_id(),
        at,
        true,
        payment.amount(),
    )))
}

/// The hand-over of `attempt_id` to the rail.
pub(crate) fn sent(payment: &Payment, now: Timestamp, attempt_id: AttemptId) -> PaymentEvent {
    PaymentEvent::PaymentSentToRail(SentToRail::new(
        payment.payment_intent_id(),
        event_time(payment, now),
        attempt_id,
    ))
}

/// The event a rail outcome records, or `None` for an acknowledgement overtaken by the
/// attempt's final status (settlement before acknowledgement): stale, not a conflict, so
/// nothing to record and nothing to alarm.
pub(crate) fn rail_decision(
    payment: &Payment,
    now: Timestamp,
    outcome: &RailOutcome,
) -> Option<PaymentEvent> {
    if let RailOutcome::Acknowledged { attempt_id } = outcome
        && payment
            .attempts()
            .iter()
            .any(|a| a.attempt_id() == *attempt_id && a.outcome().is_some())
    {
        return None;
    }
    Some(rail_event(payment, event_time(payment, now), outcome))
}

fn failure(
    payment: &Payment,
    at: Timestamp,
    reason: FailureReason,
    detail: Option<FreeText>,
) -> PaymentEvent {
    let attempt_id = payment.open_attempt().map(core_npp::Attempt::attempt_id);
    PaymentEvent::PaymentFailed(Failed::new(
        payment.payment_intent_id(),
        at,
        attempt_id,
        reason,
        detail,
        None,
    ))
}

fn rail_event(payment: &Payment, at: Timestamp, outcome: &RailOutcome) -> PaymentEvent {
    let id = payment.payment_intent_id();
    match outcome {
        RailOutcome::Acknowledged { attempt_id } => {
            PaymentEvent::PaymentAcknowledged(Acknowledged::new(id, at, *attempt_id))
        }
        RailOutcome::Settled {
            attempt_id,
            settlement_ref,
            funds_transferred,
        } => PaymentEvent::PaymentSettled(Settled::new(
            id,
            at,
            *attempt_id,
            *settlement_ref,
            *funds_transferred,
        )),
        RailOutcome::Failed {
            attempt_id,
            reason,
            detail,
        } => PaymentEvent::PaymentFailed(Failed::new(
            id,
            at,
            Some(*attempt_id),
            *reason,
            detail.clone(),
            None,
        )),
    }
}
