//! Deterministic replay: fold a history into the payment it describes, or name the first event
//! that breaks a rule.

use crate::error::ReplayError;
use crate::event::PaymentEvent;
use crate::payment::Payment;

/// The result of replaying a history.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Replay {
    payment: Payment,
    event_count: usize,
    duplicates_ignored: usize,
}

impl Replay {
    /// The payment the history describes.
    pub fn payment(&self) -> &Payment {
        &self.payment
    }
    /// Takes the payment out.
    pub fn into_payment(self) -> Payment {
        self.payment
    }
    /// Events read, duplicates included.
    pub fn event_count(&self) -> usize {
        self.event_count
    }
    /// Exact repeats of applied outcomes, which changed nothing.
    pub fn duplicates_ignored(&self) -> usize {
        self.duplicates_ignored
    }
}

/// Folds `events` into a payment. The first must be `PaymentIntentCreated`; an error names the
/// 1-based index of the first event that breaks a rule. Same events, same order: same payment,
/// same state hash, on every machine and every run.
pub fn rebuild_from_events<'a, I>(events: I) -> Result<Replay, ReplayError>
where
    I: IntoIterator<Item = &'a PaymentEvent>,
{
    let mut events = events.into_iter();
    let first = events.next().ok_or(ReplayError::EmptyHistory)?;
    let mut payment = Payment::create(first).map_err(|error| ReplayError::Rejected {
        index: 1,
        event: first.kind(),
        error,
    })?;
    let mut event_count = 1usize;
    let mut duplicates_ignored = 0usize;
    for event in events {
        event_count += 1;
        let (next, duplicate) =
            payment
                .apply_owned(event)
                .map_err(|error| ReplayError::Rejected {
                    index: event_count,
                    event: event.kind(),
                    error,
                })?;
        payment = next;
        if duplicate {
            duplicates_ignored += 1;
        }
    }
    Ok(Replay {
        payment,
        event_count,
        duplicates_ignored,
    })
}
