//! Commands for many payments at once: each is decided on its own, and all of them are appended
//! in one hand-off to the store, so a caller moving many payments waits for one commit instead
//! of one per command. Anything but a clean commit (a repeat, a lost version race, a refusal)
//! is run again alone through the single-command path, which owns every such case.

use core_npp::{AccountId, Applied, AttemptId, Money, Payment, PaymentIntentId};
use event_store::{AppendOutcome, AppendRequest, OutboxMessage};

use crate::commands::{
    Effect, NewIntent, Outcome, Payments, RailOutcome, authorisation, rail_decision, sent,
};
use crate::error::AppError;
use crate::funds::LiveFunds;

/// One command of a batch; each names the payment it moves.
#[derive(Clone, Copy)]
pub enum Command<'c> {
    /// [`Payments::create_intent`].
    CreateIntent(&'c NewIntent),
    /// [`Payments::authorise`].
    Authorise {
        /// The payment.
        id: PaymentIntentId,
        /// Whether our policy checks passed.
        policy_checks_passed: bool,
        /// The payer's available funds, from core banking.
        available: Money,
        /// The live funds projection.
        funds: &'c LiveFunds,
    },
    /// [`Payments::record_sent_with`].
    RecordSent {
        /// The payment.
        id: PaymentIntentId,
        /// The attempt handed to the rail.
        attempt_id: AttemptId,
        /// The message to deliver, written to the outbox in the same commit.
        submission: Option<&'c OutboxMessage>,
    },
    /// [`Payments::record_rail_outcome`].
    RailOutcome {
        /// The payment.
        id: PaymentIntentId,
        /// The rail's message id, claimed so the outcome applies once.
        message_id: &'c str,
        /// What the rail said.
        outcome: &'c RailOutcome,
    },
}

impl Command<'_> {
    fn payment_id(&self) -> PaymentIntentId {
        match self {
            Command::CreateIntent(intent) => intent.payment_intent_id,
            Command::Authorise { id, .. }
            | Command::RecordSent { id, .. }
            | Command::RailOutcome { id, .. } => *id,
        }
    }
}

/// A command decided and ready to append, and the payment it leaves.
struct Planned {
    index: usize,
    next: Payment,
}

impl Payments<'_> {
    /// Runs one command alone: exactly the single-command method it names.
    pub fn run(&self, command: &Command<'_>) -> Result<Outcome, AppError> {
        match *command {
            Command::CreateIntent(intent) => self.create_intent(intent),
            Command::Authorise {
                id,
                policy_checks_passed,
                available,
                funds,
            } => self.authorise(id, policy_checks_passed, available, funds),
            Command::RecordSent {
                id,
                attempt_id,
                submission,
            } => self.record_sent_with(id, attempt_id, submission.cloned()),
            Command::RailOutcome {
                id,
                message_id,
                outcome,
            } => self.record_rail_outcome(id, message_id, outcome),
        }
    }

    /// Runs `commands`, one result each, in order, with the same effects as running each alone.
    ///
    /// The first command for each payment is decided on the payment's latest known value and
    /// appended with the others in one [`event_store::EventStore::append_batch`]; a command
    /// that did not commit cleanly, and any later command for a payment already in the batch,
    /// then runs alone, in order. Authorisations in one batch read the funds projection once and
    /// also count each other's earmarks.
    pub fn run_batch(&self, commands: &[Command<'_>]) -> Vec<Result<Outcome, AppError>> {
        let mut results: Vec<Option<Result<Outcome, AppError>>> =
            commands.iter().map(|_| None).collect();
        // If the funds projection cannot be read, each command runs alone and says why.
        let (planned, requests) = self.plan(commands).unwrap_or_default();
        let appended = self.store().append_batch(requests);
        for (plan, outcome) in planned.into_iter().zip(appended) {
            if let Ok(AppendOutcome::Committed(c)) = outcome
                && let Some(slot) = results.get_mut(plan.index)
            {
                self.remember(&plan.next, c.last_version);
                *slot = Some(Ok(Outcome {
                    payment: plan.next,
                    version: c.last_version,
                    effect: Effect::Appended,
                }));
            }
        }
        commands
            .iter()
            .zip(results)
            .map(|(command, result)| result.unwrap_or_else(|| self.run(command)))
            .collect()
    }

    /// Decides every command it can on its own; the rest are left to run alone.
    fn plan(
        &self,
        commands: &[Command<'_>],
    ) -> Result<(Vec<Planned>, Vec<AppendRequest>), AppError> {
        let mut seen = std::collections::HashSet::with_capacity(commands.len());
        let firsts: Vec<bool> = commands
            .iter()
            .map(|c| seen.insert(c.payment_id()))
            .collect();
        // Authorisations are batched against one funds projection: the first one named.
        let funds = commands.iter().find_map(|c| match c {
            Command::Authorise { funds, .. } => Some(*funds),
            Command::CreateIntent(_) | Command::RecordSent { .. } | Command::RailOutcome { .. } => {
                None
            }
        });
        let firsts: Vec<bool> = commands
            .iter()
            .zip(firsts)
            .map(|(c, first)| match (c, funds) {
                (Command::Authorise { funds: mine, .. }, Some(shared)) => {
                    first && std::ptr::eq(*mine, shared)
                }
                (Command::Authorise { .. }, None)
                | (
                    Command::CreateIntent(_)
                    | Command::RecordSent { .. }
                    | Command::RailOutcome { .. },
                    _,
                ) => first,
            })
            .collect();
        let mut earmarks = self.earmarks(commands, &firsts, funds)?;
        let mut planned = Vec::with_capacity(commands.len());
        let mut requests = Vec::with_capacity(commands.len());
        for (index, (command, first)) in commands.iter().zip(firsts).enumerate() {
            if !first {
                continue;
            }
            if let Some((next, request)) = self.plan_one(command, &mut earmarks) {
                planned.push(Planned { index, next });
                requests.push(request);
            }
        }
        Ok((planned, requests))
    }

    /// What is outstanding for every payer the batch authorises, from one catch-up.
    fn earmarks(
        &self,
        commands: &[Command<'_>],
        firsts: &[bool],
        funds: Option<&LiveFunds>,
    ) -> Result<std::collections::HashMap<AccountId, Money>, AppError> {
        let Some(funds) = funds else {
            return Ok(std::collections::HashMap::new());
        };
        let mut accounts = Vec::new();
        for (command, first) in commands.iter().zip(firsts) {
            if let (Command::Authorise { id, .. }, true) = (command, first)
                && let Ok(Some(loaded)) = self.load(*id)
            {
                accounts.push(loaded.payment.from_account_id());
            }
        }
        let outstanding = funds.outstanding_many(self.store(), &accounts)?;
        Ok(accounts.into_iter().zip(outstanding).collect())
    }

    /// Decides one command on the payment's latest known value; `None` leaves it to run alone.
    fn plan_one(
        &self,
        command: &Command<'_>,
        earmarks: &mut std::collections::HashMap<AccountId, Money>,
    ) -> Option<(Payment, AppendRequest)> {
        if let Command::CreateIntent(intent) = command {
            return self.intent_request(intent).ok();
        }
        let id = command.payment_id();
        let loaded = self.load(id).ok().flatten()?;
        let payment = &loaded.payment;
        let now = self.clock().now();
        let (event, rail_message, outbox) = match *command {
            Command::CreateIntent(_) => return None,
            Command::Authorise {
                policy_checks_passed,
                available,
                ..
            } => {
                let account = payment.from_account_id();
                let outstanding = *earmarks.get(&account)?;
                let event = authorisation(payment, now, policy_checks_passed, available, |_| {
                    Ok(outstanding)
                })
                .ok()?;
                if let core_npp::PaymentEvent::PaymentAuthorised(_) = event {
                    earmarks.insert(account, outstanding.checked_add(payment.amount())?);
                }
                (event, None, None)
            }
            Command::RecordSent {
                attempt_id,
                submission,
                ..
            } => (sent(payment, now, attempt_id), None, submission),
            Command::RailOutcome {
                message_id,
                outcome,
                ..
            } => (
                rail_decision(payment, now, outcome)?,
                Some(message_id),
                None,
            ),
        };
        let Ok(Applied::Changed(next)) = payment.apply(&event) else {
            return None;
        };
        let outbox: Vec<OutboxMessage> = outbox.into_iter().cloned().collect();
        let request = self
            .event_request(id, loaded.version, &event, rail_message, &outbox)
            .ok()?;
        Some((next, request))
    }
}
