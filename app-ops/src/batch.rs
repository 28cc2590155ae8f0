//! Commands for many payments at once: each is decided on its own, and all of them are appended
//! in one hand-off to the store, so a caller moving many payments waits for one commit instead
//! of one per command. Anything but a clean commit (a repeat, a lost version race, a refusal)
//! is run again alone through the single-command path, which owns every such case.

use core_npp::{AccountId, Applied, AttemptId, Money, Payment, PaymentIntentId};
use event_store::{AppendOutcome, AppendRequest, OutboxMessage};

use crate::commands::{
    Effect, NewIntent, Outcome, Payments, RailMessage, RailOutcome, authorisation, rail_decision,
    sent,
};
use crate::error::AppError;
use crate::funds::LiveFunds;
use crate::load::Loaded;

/// One command of a batch; each names the payment it moves.
#[derive(Clone, Copy)]
pub enum Command<'c> {
    /// [`Payments::create_intent`].
    CreateIntent(&'c NewIntent),
    /// [`Payments::authorise`], against the handlers' own funds projection.
    Authorise {
        /// The payment.
        id: PaymentIntentId,
        /// Whether our policy checks passed.
        policy_checks_passed: bool,
        /// The payer's available funds, from core banking.
        available: Money,
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
        /// The message as the rail delivered it (for NPP, the pacs.002 document), kept with the
        /// claim; `None` when there is none to keep.
        payload: Option<&'c str>,
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
    /// Runs one command alone, now, on this thread: exactly the single-command method it names,
    /// without waiting for other callers.
    pub fn run(&self, command: &Command<'_>) -> Result<Outcome, AppError> {
        match *command {
            Command::CreateIntent(intent) => self.create_intent_now(intent),
            Command::Authorise {
                id,
                policy_checks_passed,
                available,
            } => self.authorise_now(id, policy_checks_passed, available),
            Command::RecordSent {
                id,
                attempt_id,
                submission,
            } => self.record_sent_now(id, attempt_id, submission),
            Command::RailOutcome {
                id,
                message_id,
                payload,
                outcome,
            } => self.record_rail_outcome_now(id, message_id, payload, outcome),
        }
    }

    /// Runs `commands`, one result each, in order, with the same effects as running each alone.
    ///
    /// The first command for each payment is decided on the payment's latest known value and
    /// appended with the others in one [`event_store::EventStore::append_batch`]; a command
    /// that did not commit cleanly, and any later command for a payment already in the batch,
    /// then runs alone, in order. Authorisations in one batch read the funds projection once;
    /// a payer's second authorisation in a batch runs alone after the commit, so that it sees
    /// the first one's earmark exactly as it would one by one.
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
        let candidates = self.candidates(commands);
        let authorises = commands
            .iter()
            .any(|c| matches!(c, Command::Authorise { .. }));
        let funds = authorises.then(|| self.funds());
        let outstanding = self.outstanding(&candidates, funds)?;
        let mut planned = Vec::with_capacity(commands.len());
        let mut requests = Vec::with_capacity(commands.len());
        for (index, (command, loaded)) in commands.iter().zip(candidates).enumerate() {
            let Some(loaded) = loaded else { continue };
            if let Some((next, request)) = self.plan_one(command, loaded, &outstanding, funds) {
                planned.push(Planned { index, next });
                requests.push(request);
            }
        }
        Ok((planned, requests))
    }

    /// Which commands may join the batch, each with its payment's latest known value (a new
    /// intent has none yet): the first command for each payment, and of the authorisations,
    /// the first for each payer. A second authorisation for one payer runs alone after the
    /// commit, so it sees the first one's earmark exactly as it would one by one.
    fn candidates(&self, commands: &[Command<'_>]) -> Vec<Option<Candidate>> {
        let mut payments = std::collections::HashSet::with_capacity(commands.len());
        let mut payers = std::collections::HashSet::new();
        commands
            .iter()
            .map(|command| {
                if !payments.insert(command.payment_id()) {
                    return None;
                }
                if let Command::CreateIntent(_) = command {
                    return Some(Candidate::New);
                }
                let loaded = self.load(command.payment_id()).ok().flatten()?;
                if let Command::Authorise { .. } = command
                    && !payers.insert(loaded.payment.from_account_id())
                {
                    return None;
                }
                Some(Candidate::Known(loaded))
            })
            .collect()
    }

    /// What is outstanding for every payer the batch authorises, from one catch-up.
    fn outstanding(
        &self,
        candidates: &[Option<Candidate>],
        funds: Option<&LiveFunds>,
    ) -> Result<std::collections::HashMap<AccountId, Money>, AppError> {
        let Some(funds) = funds else {
            return Ok(std::collections::HashMap::new());
        };
        let accounts: Vec<AccountId> = candidates
            .iter()
            .filter_map(|c| match c {
                Some(Candidate::Known(loaded)) => Some(loaded.payment.from_account_id()),
                Some(Candidate::New) | None => None,
            })
            .collect();
        let outstanding = funds.outstanding_many(self.store(), &accounts)?;
        Ok(accounts.into_iter().zip(outstanding).collect())
    }

    /// Decides one command on the payment's latest known value; `None` leaves it to run alone.
    fn plan_one(
        &self,
        command: &Command<'_>,
        candidate: Candidate,
        outstanding: &std::collections::HashMap<AccountId, Money>,
        funds: Option<&LiveFunds>,
    ) -> Option<(Payment, AppendRequest)> {
        let loaded = match (command, candidate) {
            (Command::CreateIntent(intent), Candidate::New) => {
                return self.intent_request(intent).ok();
            }
            (_, Candidate::Known(loaded)) => loaded,
            (_, Candidate::New) => return None,
        };
        let payment = &loaded.payment;
        let now = self.clock().now();
        let (event, rail_message, outbox) = match *command {
            Command::CreateIntent(_) => return None,
            Command::Authorise {
                policy_checks_passed,
                available,
                ..
            } => {
                funds?;
                let payer = *outstanding.get(&payment.from_account_id())?;
                let event =
                    authorisation(payment, now, policy_checks_passed, available, |_| Ok(payer))
                        .ok()?;
                (event, None, None)
            }
            Command::RecordSent {
                attempt_id,
                submission,
                ..
            } => (sent(payment, now, attempt_id), None, submission),
            Command::RailOutcome {
                message_id,
                payload,
                outcome,
                ..
            } => (
                rail_decision(payment, now, outcome)?,
                Some(RailMessage {
                    id: message_id,
                    payload,
                }),
                None,
            ),
        };
        let next = match payment.apply(&event) {
            Ok(Applied::Changed(next)) => next,
            // A repeat or a refusal is the single-command path's to answer.
            Ok(Applied::Duplicate) | Err(_) => return None,
        };
        let outbox: Vec<OutboxMessage> = outbox.into_iter().cloned().collect();
        let request = self
            .event_request(&next, loaded.version, &event, rail_message, &outbox)
            .ok()?;
        Some((next, request))
    }
}

/// A command admitted to a batch: a new intent, or a command on a payment as last known.
// Lives for one batch; boxing the payment would add an allocation to every command.
#[allow(clippy::large_enum_variant)]
enum Candidate {
    New,
    Known(Loaded),
}
