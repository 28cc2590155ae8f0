//! The rail port: what the orchestrator needs from a payment rail, in domain terms. The NPP
//! adapter (ISO 20022 XML) and the simulated participant sit behind it.

use app_ops::RailOutcome;
use core_npp::{AttemptId, Payment, PaymentIntentId, Timestamp};
use event_store::OutboxItem;

use crate::error::OrchestratorError;

/// A submission ready for the outbox: the rail message id and its bytes.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Submission {
    /// The rail's message id (unique per attempt; the rail drops duplicates by it).
    pub message_id: String,
    /// The message (for NPP, a pacs.008 document).
    pub payload: String,
}

/// What a delivery did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Delivery {
    /// The rail took the message now.
    Delivered,
    /// The rail already had it (an earlier delivery got through): nothing was sent again.
    AlreadyReceived,
}

/// A status report from the rail, in domain terms.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RailReport {
    /// The report's own message id: the exactly-once key.
    pub message_id: String,
    /// The payment.
    pub payment_intent_id: PaymentIntentId,
    /// What it says about which attempt.
    pub outcome: RailOutcome,
    /// The report as the rail delivered it (for NPP, the pacs.002 document), kept with its
    /// message id's claim for auditors and operators (at most
    /// [`event_store::MAX_RAIL_MESSAGE_BYTES`]); `None` when the rail gives none to keep.
    pub payload: Option<String>,
}

/// A payment rail.
pub trait Rail: Send + Sync {
    /// The rail's name, recorded in routing decisions.
    fn name(&self) -> &str;
    /// Builds the submission for `attempt` of `payment`. Must be deterministic: the same attempt
    /// always gets the same message id.
    fn submission(
        &self,
        payment: &Payment,
        attempt: AttemptId,
        now: Timestamp,
    ) -> Result<Submission, OrchestratorError>;
    /// Delivers a claimed outbox item. When `item.claims > 1` an earlier delivery may have got
    /// through, so the adapter asks the rail first and never sends a message id twice.
    fn deliver(&self, item: &OutboxItem, now: Timestamp) -> Result<Delivery, OrchestratorError>;
    /// Delivers claimed items, one answer each, in order, exactly as [`Rail::deliver`] would
    /// answer each. By default one by one, spread over threads; a rail that can take many at
    /// once (one commit, one request) does better.
    fn deliver_all(
        &self,
        items: &[OutboxItem],
        now: Timestamp,
    ) -> Vec<Result<Delivery, OrchestratorError>> {
        crate::engine::fan_out(items.iter().collect(), |item| self.deliver(item, now))
    }
    /// Asks the rail for the status of `attempt`; the answer arrives later as a report.
    fn enquire(
        &self,
        payment: PaymentIntentId,
        attempt: AttemptId,
        now: Timestamp,
    ) -> Result<(), OrchestratorError>;
    /// Status reports that have arrived by `now`, oldest first; each is handed over once.
    fn poll(&self, now: Timestamp) -> Result<Vec<RailReport>, OrchestratorError>;
}
