//! Who hears of a payment's events: an [`Announce`] adds outbox messages to the very append that
//! records an event, so a notification is committed with its cause or not at all, and is
//! delivered at least once afterwards by whoever claims its destination (webhooks, in
//! `http-api`).

use core_npp::{EventKind, PaymentIntentId, PaymentState};
use event_store::OutboxMessage;

use crate::error::AppError;

/// A payment event about to be appended, as an [`Announce`] sees it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Announcement {
    /// The payment.
    pub payment: PaymentIntentId,
    /// The event's stream version (the payment's version once it is recorded).
    pub version: u32,
    /// What kind of event it is.
    pub kind: EventKind,
    /// The payment's state after it.
    pub state: PaymentState,
}

/// Adds outbox messages to the appends of payment events.
pub trait Announce: Send + Sync {
    /// The messages to commit with `event` (none when nobody listens for it).
    fn messages(&self, event: &Announcement) -> Result<Vec<OutboxMessage>, AppError>;
}
