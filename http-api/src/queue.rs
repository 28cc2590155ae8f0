//! The operator queue (payments waiting for a person, and why) and the gauges `GET /metrics`
//! reads at each scrape.

use std::collections::BTreeMap;
use std::time::Duration;

use app_ops::RequestStatus;
use core_npp::PaymentState;

use crate::problem::Problem;
use crate::state::State;
use crate::views::{OperatorQueue, QueueItem};

fn seconds_since(then: core_npp::Timestamp, now: core_npp::Timestamp) -> i64 {
    i64::try_from(now.unix_nanos().saturating_sub(then.unix_nanos()) / 1_000_000_000)
        .unwrap_or(i64::MAX)
}

/// Payments a person should look at: a retryable failure (an operator may ask for a retry), an
/// attempt the rail has been silent about past the escalation time, an intent not sent past it,
/// and any payment with a request awaiting a checker.
pub fn queue(state: &State) -> Result<OperatorQueue, Problem> {
    let now = state.payments.clock().now();
    let escalate = i64::try_from(state.escalate_after.as_secs()).unwrap_or(i64::MAX);
    let mut pending: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for request in state.ops().list(true).map_err(Problem::from)? {
        if request.status == RequestStatus::Pending {
            pending
                .entry(request.payment_intent_id.to_string())
                .or_default()
                .push(request.request_id.to_string());
        }
    }
    let index = state.caught_up_index()?;
    let mut items = Vec::new();
    for entry in index.open() {
        let id = entry.id.to_string();
        let quiet = seconds_since(entry.updated_at, now);
        let why = attention(entry, quiet >= escalate, quiet);
        let requests = pending.remove(&id).unwrap_or_default();
        let why = match (why, requests.is_empty()) {
            (Some(why), _) => why,
            (None, false) => "an operator request awaits a checker".to_owned(),
            (None, true) => continue,
        };
        items.push(QueueItem {
            payment_id: id,
            state: entry.state.name().to_owned(),
            amount: entry.amount.minor_units(),
            why,
            pending_requests: requests,
            since: entry.updated_at.to_string(),
            webhook_delivery: None,
        });
    }
    items.extend(failed_deliveries(state, &index)?);
    Ok(OperatorQueue { items })
}

/// The most failed webhook deliveries the queue lists (`GET /v1/webhook-deliveries?status=failed`
/// pages through them all).
const QUEUED_FAILED_DELIVERIES: usize = 100;

/// Webhook deliveries given up on: a channel did not hear of a payment's event (those of a
/// removed endpoint excepted: there is nothing to do about them).
fn failed_deliveries(
    state: &State,
    index: &crate::index::PaymentIndex,
) -> Result<Vec<QueueItem>, Problem> {
    let failed = state
        .webhooks
        .deliveries(
            state.store,
            Some(event_store::OutboxStatus::Failed),
            0,
            QUEUED_FAILED_DELIVERIES,
        )
        .map_err(Problem::from)?;
    let mut items = Vec::new();
    for entry in failed {
        let Ok(note) =
            serde_json::from_str::<crate::webhooks::DeliveryNote>(entry.message.payload())
        else {
            continue;
        };
        if state.webhooks.get(&note.endpoint_id).is_none() {
            // Its endpoint was removed: nobody is left to redeliver it to.
            continue;
        }
        let payment = index.get(note.payment_id);
        items.push(QueueItem {
            payment_id: note.payment_id.to_string(),
            state: payment.map_or(note.state.clone(), |p| p.state.name().to_owned()),
            amount: payment.map_or(0, |p| p.amount.minor_units()),
            why: format!(
                "webhook delivery of {} ({}) to endpoint {} failed after {} attempts: {}; \
                 redeliver it once the receiver is back",
                note.kind,
                note.state,
                note.endpoint_id,
                entry.attempts,
                entry.last_error.as_deref().unwrap_or("no error recorded")
            ),
            pending_requests: Vec::new(),
            since: entry.finished_at.unwrap_or(entry.created_at).to_string(),
            webhook_delivery: Some(entry.message.id().to_owned()),
        });
    }
    Ok(items)
}

/// How long ago `oldest` was, as of `now` (zero when there is none).
fn age_of(oldest: Option<core_npp::Timestamp>, now: core_npp::Timestamp) -> Duration {
    oldest.map_or(Duration::ZERO, |at| {
        let nanos = now.unix_nanos().saturating_sub(at.unix_nanos()).max(0);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    })
}

/// A count as a gauge's value; a count past `i64::MAX` (never, in practice) shows as the most.
fn gauge(count: impl TryInto<i64>) -> i64 {
    count.try_into().unwrap_or(i64::MAX)
}

/// Sets the gauges read at scrape time: payments by state, the outbox, the command queue.
pub fn refresh_gauges(state: &State) -> Result<(), Problem> {
    let counts = state.caught_up_index()?.counts();
    for (name, count) in counts {
        state
            .metrics
            .payments
            .get_or_create(&crate::metrics::StateLabels {
                state: name.to_owned(),
            })
            .set(gauge(count));
    }
    let pending = state.store.pending_outbox().map_err(Problem::from)?;
    state.metrics.outbox_pending.set(gauge(pending));
    let oldest = state.store.oldest_pending_outbox().map_err(Problem::from)?;
    let now = state.payments.clock().now();
    let age = age_of(oldest, now);
    state.metrics.outbox_oldest_seconds.set(age.as_secs_f64());
    let (pending, oldest) = webhook_backlog(state)?;
    state.metrics.webhook_pending.set(gauge(pending));
    let age = age_of(oldest, now);
    state.metrics.webhook_oldest_seconds.set(age.as_secs_f64());
    let coalescing = state.payments.coalescing();
    let metrics = &state.metrics;
    metrics.commands_queued.set(gauge(coalescing.queued));
    metrics.commands_run.set(gauge(coalescing.commands));
    metrics.command_rounds.set(gauge(coalescing.rounds));
    Ok(())
}

/// Pending webhook deliveries (counted up to a page's worth past which the gauge shows the
/// most a page holds) and when the oldest was committed.
fn webhook_backlog(state: &State) -> Result<(usize, Option<core_npp::Timestamp>), Problem> {
    let pending = state
        .webhooks
        .deliveries(
            state.store,
            Some(event_store::OutboxStatus::Pending),
            0,
            event_store::MAX_OUTBOX_PAGE,
        )
        .map_err(Problem::from)?;
    Ok((pending.len(), pending.first().map(|e| e.created_at)))
}

/// Why a payment needs an operator on its own account, if it does: the state decides, and a
/// payment the rail or the orchestrator has been quiet about only counts once `overdue`.
fn attention(entry: &crate::index::Entry, overdue: bool, quiet: i64) -> Option<String> {
    match entry.state {
        PaymentState::Failed => entry.retryable.then(|| {
            format!(
                "failed ({}), which may be retried: an operator can request a retry for a second \
                 operator to approve",
                entry.failure.unwrap_or("a retryable failure")
            )
        }),
        PaymentState::Sent | PaymentState::Acknowledged => overdue.then(|| {
            format!(
                "no outcome from the rail for {quiet} s: enquire with the payee bank, then \
                 request mark-failed if the payment did not arrive"
            )
        }),
        PaymentState::Created | PaymentState::Authorised => overdue.then(|| {
            format!(
                "not sent for {quiet} s: check the orchestrator is running; an operator can \
                 request cancel"
            )
        }),
        PaymentState::Settled | PaymentState::Expired => None,
    }
}
