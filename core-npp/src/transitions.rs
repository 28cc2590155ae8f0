//! The legal-transition matrix as data: the one table the code consults and the docs show.

use crate::event::EventKind;
use crate::state::PaymentState;

/// One legal move: in state `from`, event `event` leads to state `to`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Transition {
    /// The state before the event.
    pub from: PaymentState,
    /// The event.
    pub event: EventKind,
    /// The state after it.
    pub to: PaymentState,
}

const fn t(from: PaymentState, event: EventKind, to: PaymentState) -> Transition {
    Transition { from, event, to }
}

use EventKind as E;
use PaymentState as S;

/// Every legal transition. `PaymentIntentCreated` is absent: it creates a payment rather than
/// moving one. SETTLED and EXPIRED have no row; FAILED has exactly one, the approved retry.
pub const TRANSITIONS: [Transition; 14] = [
    t(S::Created, E::PaymentAuthorised, S::Authorised),
    t(S::Created, E::PaymentFailed, S::Failed),
    t(S::Created, E::PaymentExpired, S::Expired),
    t(S::Created, E::PaymentCancelled, S::Failed),
    t(S::Authorised, E::PaymentSentToRail, S::Sent),
    t(S::Authorised, E::PaymentFailed, S::Failed),
    t(S::Authorised, E::PaymentExpired, S::Expired),
    t(S::Authorised, E::PaymentCancelled, S::Failed),
    t(S::Sent, E::PaymentAcknowledged, S::Acknowledged),
    t(S::Sent, E::PaymentSettled, S::Settled),
    t(S::Sent, E::PaymentFailed, S::Failed),
    t(S::Acknowledged, E::PaymentSettled, S::Settled),
    t(S::Acknowledged, E::PaymentFailed, S::Failed),
    t(S::Failed, E::PaymentRetryApproved, S::Authorised),
];

type Lookup = [[Option<PaymentState>; EventKind::ALL.len()]; PaymentState::ALL.len()];

/// [`TRANSITIONS`] indexed by state and event, built from the table at compile time so the table
/// stays the single source and a lookup costs two array reads.
// Indexing runs in const evaluation: an index out of range fails the build, never a run.
#[allow(clippy::indexing_slicing)]
const LOOKUP: Lookup = {
    let mut lookup: Lookup = [[None; EventKind::ALL.len()]; PaymentState::ALL.len()];
    let mut i = 0;
    while i < TRANSITIONS.len() {
        let row = TRANSITIONS[i];
        lookup[row.from.index()][row.event.index()] = Some(row.to);
        i += 1;
    }
    lookup
};

/// The state that `event` leads to from `from`, or `None` when the matrix has no such move.
pub fn next_state(from: PaymentState, event: EventKind) -> Option<PaymentState> {
    LOOKUP
        .get(from.index())
        .and_then(|row| row.get(event.index()))
        .copied()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_agrees_with_table_for_every_pair() {
        for from in PaymentState::ALL {
            for event in EventKind::ALL {
                let in_table = TRANSITIONS
                    .iter()
                    .find(|row| row.from == from && row.event == event)
                    .map(|row| row.to);
                assert_eq!(next_state(from, event), in_table, "{from} x {event}");
            }
        }
    }

    #[test]
    fn table_has_no_duplicate_rows() {
        for (i, a) in TRANSITIONS.iter().enumerate() {
            for b in TRANSITIONS.iter().skip(i + 1) {
                assert!(!(a.from == b.from && a.event == b.event), "{a:?} and {b:?}");
            }
        }
    }
}
