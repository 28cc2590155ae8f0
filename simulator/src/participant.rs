//! The simulated NPP participant behind the orchestrator's rail port. It builds and reads real
//! pacs.008/pacs.002 documents, answers each transfer after a latency with the seeded plan, and
//! keeps what it received in its own streams (`sim-<msgid>`), so it survives the orchestrator's
//! crashes the way a remote bank would, and counts deliveries per message id.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use app_ops::RailOutcome;
use core_npp::{
    AttemptId, EndToEndId, Money, PartyName, Payment, PaymentIntentId, SettlementRef, Timestamp,
};
use event_store::{
    AppendRequest, EventStore, NewEvent, OutboxItem, StoreError, StreamId, StreamKind, streams_of,
};
use orchestrator::{Delivery, OrchestratorError, Rail, RailReport, Submission, parse_account};
use rail_npp::{
    AccountNumber, Bsb, CreditTransfer, CreditTransferParts, MessageId, Party, ReasonCode,
    StatusReport, StatusReportParts, TransactionStatus, Verdict,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::plan::{FaultProfile, Plan, plan};

const MILLI: i64 = 1_000_000;

/// The pacs.008 message id of an attempt: the same attempt always gets the same id, so the
/// rail's duplicate check by message id protects every re-delivery.
pub fn submission_message_id(payment: PaymentIntentId, attempt: AttemptId) -> String {
    let digest = Sha256::digest(format!("pacs008|{payment}|{attempt}").as_bytes());
    let hex: String = digest.iter().take(10).map(|b| format!("{b:02x}")).collect();
    format!("M{hex}")
}

#[derive(Clone, Serialize, Deserialize)]
struct Received {
    msg_id: String,
    /// The transfer's instruction id: the payment.
    payment_intent_id: PaymentIntentId,
    /// The transfer's end-to-end id when it is not the payment id (the payer gave their own),
    /// echoed in every report; absent otherwise, as in every transfer received before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    end_to_end_id: Option<String>,
    attempt_id: AttemptId,
    amount: i64,
    received_at: Timestamp,
    plan: Plan,
}

/// A second delivery of a message id, dropped by the scheme and counted.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Dropped {
    msg_id: String,
}

/// Verification of the participant's streams (`npp store verify`): the first event of a
/// `sim-<msgid>` stream is the transfer received under that message id, every later one a
/// dropped duplicate of it.
pub struct SimReceivedCheck;

impl app_ops::StreamCheck for SimReceivedCheck {
    fn kind(&self) -> event_store::StreamKind {
        event_store::StreamKind::Sim
    }

    fn check(&self, events: &[event_store::RecordedEvent]) -> Result<(), (u32, String)> {
        for recorded in events {
            let version = recorded.version();
            let payload = recorded.event().payload();
            let msg_id = match (version, recorded.event().event_type()) {
                (1, "SimTransferReceived") => serde_json::from_str::<Received>(payload)
                    .map(|r| r.msg_id)
                    .map_err(|e| (version, format!("not a received transfer: {e}")))?,
                (2.., "SimDuplicateDropped") => serde_json::from_str::<Dropped>(payload)
                    .map(|d| d.msg_id)
                    .map_err(|e| (version, format!("not a dropped duplicate: {e}")))?,
                (_, other) => {
                    return Err((
                        version,
                        format!("{other} has no place at version {version}"),
                    ));
                }
            };
            if Some(msg_id.as_str()) != recorded.stream_id().key() {
                return Err((
                    version,
                    format!("message {msg_id} in another message's stream"),
                ));
            }
        }
        Ok(())
    }
}

#[derive(Clone)]
struct Pending {
    reply_id: String,
    received: Received,
    status: String,
    reason: Option<String>,
}

#[derive(Default)]
struct State {
    position: u64,
    pending: BTreeMap<(Timestamp, String, u8), Pending>,
    received: HashMap<String, Received>,
    enquiries: u64,
}

/// What receiving a message comes to.
enum Receipt {
    /// Received before: nothing more to record.
    Known(Delivery),
    /// This record, with what it means once committed.
    Record(AppendRequest, Delivery),
}

/// A simulated NPP participant.
pub struct Participant<'a> {
    store: &'a dyn EventStore,
    /// Only transfers of payments whose id starts with this are answered ("" for all).
    scope: String,
    seed: u64,
    latency_ms: u32,
    faults: FaultProfile,
    state: Mutex<State>,
}

fn rail_error(e: impl std::fmt::Display) -> OrchestratorError {
    OrchestratorError::Rail(e.to_string())
}

impl<'a> Participant<'a> {
    /// A participant answering after about `latency_ms`, with outcomes from `seed`.
    pub fn new(
        store: &'a dyn EventStore,
        seed: u64,
        latency_ms: u32,
        faults: FaultProfile,
    ) -> Self {
        Self {
            store,
            scope: String::new(),
            seed,
            latency_ms,
            faults,
            state: Mutex::new(State::default()),
        }
    }

    /// The same participant answering only transfers of payments whose id starts with `scope`,
    /// so a simulation sharing a store never answers for anyone else's payment.
    pub fn scoped(mut self, scope: &str) -> Self {
        scope.clone_into(&mut self.scope);
        self
    }

    fn state(&self) -> Result<std::sync::MutexGuard<'_, State>, OrchestratorError> {
        self.state
            .lock()
            .map_err(|_| rail_error("participant state poisoned"))
    }

    /// When the next reply falls due, for a simulation to jump to.
    pub fn next_due(&self) -> Option<Timestamp> {
        self.state
            .lock()
            .ok()
            .and_then(|s| s.pending.keys().next().map(|(at, _, _)| *at))
    }

    /// Replies planned and not yet handed over.
    pub fn pending(&self) -> usize {
        self.state.lock().map_or(0, |s| s.pending.len())
    }

    /// Deliveries per pacs.008 message id, from the participant's own durable record.
    pub fn deliveries(store: &dyn EventStore) -> Result<BTreeMap<String, u32>, StoreError> {
        let mut counts = BTreeMap::new();
        for stream in streams_of(store, StreamKind::Sim)? {
            let deliveries = store.stream_version(&stream)?;
            let id = stream.key().unwrap_or_default().to_owned();
            counts.insert(id, deliveries);
        }
        Ok(counts)
    }

    /// What receiving `item` records (or that it was received before and nothing is recorded).
    fn receive(&self, item: &OutboxItem, now: Timestamp) -> Result<Receipt, OrchestratorError> {
        let transfer = rail_npp::decode_pacs008(item.message.payload()).map_err(rail_error)?;
        let msg_id = transfer.msg_id().as_str().to_owned();
        let stream = StreamId::sim(&msg_id)?;
        let existing = self.store.read_stream(&stream)?;
        if item.claims > 1 && !existing.is_empty() {
            // Asked before re-sending: the earlier delivery got through, so nothing is sent.
            return Ok(Receipt::Known(Delivery::AlreadyReceived));
        }
        let payment_intent_id = transfer.instruction_id();
        let end_to_end_id = transfer.end_to_end_id().as_str();
        let received = Received {
            msg_id: msg_id.clone(),
            payment_intent_id,
            end_to_end_id: (end_to_end_id != payment_intent_id.as_str())
                .then(|| end_to_end_id.to_owned()),
            attempt_id: transfer.tx_id(),
            amount: transfer.amount().minor_units(),
            received_at: now,
            plan: plan(
                self.seed,
                payment_intent_id.as_str(),
                attempt_number(transfer.tx_id()),
                self.latency_ms,
                self.faults,
            ),
        };
        let version = existing
            .last()
            .map_or(0, event_store::RecordedEvent::version);
        let (kind, payload) = if existing.is_empty() {
            (
                "SimTransferReceived",
                serde_json::to_string(&received).map_err(rail_error)?,
            )
        } else {
            // A second delivery of one message id: the scheme drops it, and it is counted.
            (
                "SimDuplicateDropped",
                serde_json::to_string(&Dropped {
                    msg_id: msg_id.clone(),
                })
                .map_err(rail_error)?,
            )
        };
        let event = NewEvent::new(kind, 1, now, payload)?;
        let request = AppendRequest::new(stream, version, vec![event], now)?;
        Ok(Receipt::Record(
            request,
            if existing.is_empty() {
                Delivery::Delivered
            } else {
                Delivery::AlreadyReceived
            },
        ))
    }

    fn catch_up(&self, state: &mut State) -> Result<(), OrchestratorError> {
        loop {
            let page = self.store.read_all(state.position, 2_000)?;
            let Some(last) = page.last().map(event_store::RecordedEvent::global_position) else {
                return Ok(());
            };
            for recorded in page
                .iter()
                .filter(|r| r.event().event_type() == "SimTransferReceived")
            {
                let received = serde_json::from_str::<Received>(recorded.event().payload())
                    .map_err(|e| {
                        OrchestratorError::Store(StoreError::Corrupt {
                            stream: recorded.stream_id().clone(),
                            version: recorded.version(),
                            what: format!("not a transfer the participant received: {e}"),
                        })
                    })?;
                if !received.payment_intent_id.as_str().starts_with(&self.scope) {
                    continue;
                }
                schedule(state, &received);
                state.received.insert(received.msg_id.clone(), received);
            }
            state.position = last;
        }
    }

    /// The party holding `account`: named `name` when the payment gives one, else
    /// `<role> <account>`.
    fn party(
        account: core_npp::AccountId,
        name: Option<&PartyName>,
        role: &str,
    ) -> Result<Party, OrchestratorError> {
        let (bsb, number) = parse_account(account)
            .ok_or_else(|| rail_error(format!("{role} account {account} is not BSB:ACCOUNT")))?;
        let fabricated;
        let name = match name {
            Some(name) => name.as_str(),
            None => {
                fabricated = format!("{role} {account}");
                &fabricated
            }
        };
        Party::new(
            name,
            Bsb::parse(&bsb).map_err(rail_error)?,
            AccountNumber::parse(&number).map_err(rail_error)?,
        )
        .map_err(rail_error)
    }

    fn report(&self, pending: &Pending, now: Timestamp) -> Result<RailReport, OrchestratorError> {
        let received = &pending.received;
        let status = TransactionStatus::from_code(&pending.status)
            .ok_or_else(|| rail_error("bad planned status"))?;
        let reason = pending.reason.as_deref().and_then(ReasonCode::from_code);
        let settlement_ref = matches!(
            status,
            TransactionStatus::AcceptedSettlementCompleted
                | TransactionStatus::AcceptedCreditSettlementCompleted
        )
        .then(|| SettlementRef::parse(&format!("NPP{}", received.msg_id.get(1..13).unwrap_or("0"))))
        .transpose()
        .map_err(rail_error)?;
        let parts = StatusReportParts {
            msg_id: MessageId::parse(&pending.reply_id).map_err(rail_error)?,
            created_at: now,
            original_msg_id: MessageId::parse(&received.msg_id).map_err(rail_error)?,
            original_instruction_id: received.payment_intent_id,
            original_end_to_end_id: match &received.end_to_end_id {
                Some(id) => EndToEndId::parse(id).map_err(rail_error)?,
                None => EndToEndId::from(received.payment_intent_id),
            },
            original_tx_id: received.attempt_id,
            status,
            reason,
            settlement_ref,
        };
        // Through the wire format and back, as a real participant's reply would arrive.
        let xml = rail_npp::encode_pacs002(&StatusReport::new(parts).map_err(rail_error)?);
        let report = rail_npp::decode_pacs002(&xml).map_err(rail_error)?;
        Ok(RailReport {
            message_id: report.msg_id().as_str().to_owned(),
            payment_intent_id: report.original_instruction_id(),
            outcome: outcome(&report, received.amount),
            // Kept as it arrived, for auditors: the document the outcome was read from.
            payload: Some(xml),
        })
    }
}

fn outcome(report: &StatusReport, amount: i64) -> RailOutcome {
    let attempt_id = report.original_tx_id();
    match report.verdict() {
        Verdict::Acknowledged => RailOutcome::Acknowledged { attempt_id },
        Verdict::Settled { settlement_ref } => RailOutcome::Settled {
            attempt_id,
            settlement_ref,
            funds_transferred: Money::from_minor_units(amount),
        },
        Verdict::Rejected { reason } => RailOutcome::Failed {
            attempt_id,
            reason: reason.failure_reason(),
            detail: core_npp::FreeText::parse(&reason.to_string()).ok(),
        },
    }
}

fn schedule(state: &mut State, received: &Received) {
    for (k, reply) in received.plan.replies.iter().enumerate() {
        if reply.lost {
            continue;
        }
        let due = received
            .received_at
            .plus_nanos(i64::from(reply.after_ms) * MILLI)
            .unwrap_or(received.received_at);
        let pending = Pending {
            reply_id: format!("{}-R{k}", received.msg_id),
            received: received.clone(),
            status: reply.status.clone(),
            reason: reply.reason.clone(),
        };
        if reply.duplicated {
            let again = due.plus_nanos(MILLI).unwrap_or(due);
            state
                .pending
                .insert((again, pending.reply_id.clone(), 1), pending.clone());
        }
        state
            .pending
            .insert((due, pending.reply_id.clone(), 0), pending);
    }
}

fn attempt_number(attempt: AttemptId) -> usize {
    attempt
        .as_str()
        .rsplit('_')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
}

impl Rail for Participant<'_> {
    fn name(&self) -> &str {
        rail_npp::RAIL_NAME
    }

    fn submission(
        &self,
        payment: &Payment,
        attempt: AttemptId,
        now: Timestamp,
    ) -> Result<Submission, OrchestratorError> {
        let id = payment.payment_intent_id();
        let msg_id = submission_message_id(id, attempt);
        let remittance = match payment.remittance_information() {
            Some(text) => Some(text.clone()),
            None => core_npp::FreeText::parse(&format!("Payment {id}")).ok(),
        };
        let parts = CreditTransferParts {
            msg_id: MessageId::parse(&msg_id).map_err(rail_error)?,
            created_at: now,
            instruction_id: id,
            end_to_end_id: payment
                .end_to_end_id()
                .cloned()
                .unwrap_or_else(|| EndToEndId::from(id)),
            tx_id: attempt,
            amount: payment.amount(),
            debtor: Self::party(payment.from_account_id(), payment.debtor_name(), "Member")?,
            creditor: Self::party(payment.to_account_id(), payment.creditor_name(), "Payee")?,
            remittance,
        };
        let transfer = CreditTransfer::new(parts).map_err(rail_error)?;
        Ok(Submission {
            message_id: msg_id,
            payload: rail_npp::encode_pacs008(&transfer),
        })
    }

    fn deliver(&self, item: &OutboxItem, now: Timestamp) -> Result<Delivery, OrchestratorError> {
        match self.receive(item, now)? {
            Receipt::Known(delivery) => Ok(delivery),
            Receipt::Record(request, delivery) => {
                self.store.append(request)?;
                Ok(delivery)
            }
        }
    }

    fn deliver_all(
        &self,
        items: &[OutboxItem],
        now: Timestamp,
    ) -> Vec<Result<Delivery, OrchestratorError>> {
        // Every record in one hand-off to the store (one commit); one that lost a race with
        // another delivery of its message id is delivered again alone, reading afresh.
        let receipts: Vec<Result<Receipt, OrchestratorError>> =
            items.iter().map(|item| self.receive(item, now)).collect();
        let mut requests = Vec::new();
        for receipt in &receipts {
            if let Ok(Receipt::Record(request, _)) = receipt {
                requests.push(request.clone());
            }
        }
        let mut appended = self.store.append_batch(requests).into_iter();
        items
            .iter()
            .zip(receipts)
            .map(|(item, receipt)| match receipt? {
                Receipt::Known(delivery) => Ok(delivery),
                Receipt::Record(_, delivery) => match appended.next() {
                    Some(Ok(_)) => Ok(delivery),
                    Some(Err(StoreError::Conflict { .. })) => self.deliver(item, now),
                    Some(Err(e)) => Err(e.into()),
                    None => Err(rail_error("the store answered fewer appends than asked")),
                },
            })
            .collect()
    }

    fn enquire(
        &self,
        payment: PaymentIntentId,
        attempt: AttemptId,
        now: Timestamp,
    ) -> Result<(), OrchestratorError> {
        let msg_id = submission_message_id(payment, attempt);
        let mut state = self.state()?;
        self.catch_up(&mut state)?;
        let Some(received) = state.received.get(&msg_id).cloned() else {
            return Ok(());
        };
        if !received.plan.answers_enquiries {
            return Ok(());
        }
        let elapsed_ms = (now.unix_nanos() - received.received_at.unix_nanos()) / i128::from(MILLI);
        // The participant answers with the most advanced status it has reached: a final one if
        // any is due, whatever order the replies were (or were not) sent in.
        let due: Vec<_> = received
            .plan
            .replies
            .iter()
            .filter(|r| i128::from(r.after_ms) <= elapsed_ms)
            .collect();
        let latest = due
            .iter()
            .copied()
            .find(|r| matches!(r.status.as_str(), "ACSC" | "ACCC" | "RJCT" | "BLCK"))
            .or_else(|| due.iter().copied().max_by_key(|r| r.after_ms));
        let (status, reason) = match latest {
            Some(reply) => (reply.status.clone(), reply.reason.clone()),
            None => (TransactionStatus::Pending.to_string(), None),
        };
        state.enquiries += 1;
        let due = now
            .plus_nanos(i64::from(self.latency_ms) * MILLI)
            .unwrap_or(now);
        let reply_id = format!("{msg_id}-E{}", now.unix_nanos() % 1_000_000_000_000);
        let pending = Pending {
            reply_id: reply_id.clone(),
            received,
            status,
            reason,
        };
        state.pending.insert((due, reply_id, 0), pending);
        Ok(())
    }

    fn poll(&self, now: Timestamp) -> Result<Vec<RailReport>, OrchestratorError> {
        let mut state = self.state()?;
        self.catch_up(&mut state)?;
        let mut reports = Vec::new();
        while let Some(entry) = state.pending.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let pending = entry.remove();
            reports.push(self.report(&pending, now)?);
        }
        Ok(reports)
    }
}
