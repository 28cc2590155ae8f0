//! One payment's whole story, as the console shows it: its events with who and why, how it met
//! its rail, the rail messages themselves, the operator requests about it and the payer's funds
//! position. Every part is read from the store (or derived from its events); nothing here is
//! kept apart.

use std::collections::BTreeMap;

use app_ops::{OpsAction, load_payment};
use core_npp::{OperatorId, PaymentIntentId};
use event_store::{OutboxQuery, RecordedEvent, StreamId};
use orchestrator::{RailStreamEvent, rail_stream};
use serde_json::Value;

use crate::problem::Problem;
use crate::state::State;
use crate::views::{
    FundsView, OperatorRequestView, PaymentView, RailFactView, RailMessageView, TimelineEvent,
    TimelineView,
};

/// The rail messages of one payment the timeline shows at most (each attempt sends one and
/// receives a few; the attempt limit keeps a real payment far below this).
pub const MAX_TIMELINE_MESSAGES: usize = 64;

/// The story of payment `id` as `caller` may act on it, or `None` when there is no such payment.
pub fn timeline(
    state: &State,
    id: PaymentIntentId,
    caller: OperatorId,
) -> Result<Option<TimelineView>, Problem> {
    let Some(loaded) = load_payment(state.store, id).map_err(Problem::from)? else {
        return Ok(None);
    };
    let stream = StreamId::payment(id);
    let recorded = state.store.read_stream(&stream).map_err(Problem::from)?;
    let received = state.store.rail_messages(&stream).map_err(Problem::from)?;
    let applied: BTreeMap<u32, String> = received
        .iter()
        .map(|m| (m.version, m.message_id.clone()))
        .collect();
    let events = recorded
        .iter()
        .map(|r| event(r, applied.get(&r.version()).cloned()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut messages = sent(state, &stream)?;
    messages.extend(received.into_iter().map(|m| RailMessageView {
        message_id: m.message_id,
        direction: "received".to_owned(),
        kind: "pacs.002".to_owned(),
        at: m.recorded_at.to_string(),
        version: m.version,
        status: None,
        xml: m.payload,
    }));
    messages.sort_by_key(|m| m.version);
    messages.truncate(MAX_TIMELINE_MESSAGES);
    let position = state
        .payments
        .funds()
        .position(state.store, loaded.payment.from_account_id())
        .map_err(Problem::from)?;
    let minor = |m: core_npp::Money| m.minor_units();
    let funds = FundsView {
        account: loaded.payment.from_account_id().to_string(),
        earmarked: minor(position.earmarked),
        settled_out: minor(position.settled_out),
        released: minor(position.released),
        outstanding: minor(position.outstanding().map_err(Problem::from)?),
    };
    let ops = state.ops();
    let about = ops.for_payment(id).map_err(Problem::from)?;
    let requests = about.iter().map(OperatorRequestView::of).collect();
    // Asked of the same rules the decision meets, so the page offers only what would pass.
    let decidable = about
        .iter()
        .filter(|r| ops.may_decide(r, caller).is_ok())
        .map(|r| r.request_id.to_string())
        .collect();
    let payment = &loaded.payment;
    let allowed_actions = [
        (OpsAction::Retry, payment.can_retry().is_ok()),
        (OpsAction::Cancel, payment.can_cancel().is_ok()),
        (OpsAction::MarkFailed, payment.can_mark_failed().is_ok()),
    ]
    .into_iter()
    .filter(|(action, allowed)| *allowed && state.policy.check_request(caller, *action).is_ok())
    .map(|(action, _)| action.to_string())
    .collect();
    Ok(Some(TimelineView {
        payment: PaymentView::of(&loaded.payment),
        allowed_actions,
        decidable,
        events,
        rail: rail_facts(state, id)?,
        messages,
        requests,
        funds,
    }))
}

/// The pacs.008 messages committed with the payment's events, through the outbox.
fn sent(state: &State, stream: &StreamId) -> Result<Vec<RailMessageView>, Problem> {
    let entries = state
        .store
        .list_outbox(&OutboxQuery {
            destination: rail_npp::RAIL_NAME,
            id_prefix: "",
            status: None,
            after: 0,
            limit: MAX_TIMELINE_MESSAGES,
            stream: Some(stream),
        })
        .map_err(Problem::from)?;
    Ok(entries
        .into_iter()
        .map(|e| RailMessageView {
            message_id: e.message.id().to_owned(),
            direction: "sent".to_owned(),
            kind: "pacs.008".to_owned(),
            at: e.created_at.to_string(),
            version: e.version,
            status: Some(e.status.name().to_owned()),
            xml: Some(e.message.payload().to_owned()),
        })
        .collect())
}

fn corrupt(recorded: &RecordedEvent, why: &str) -> Problem {
    Problem::internal(format!(
        "{} version {}: {why}",
        recorded.stream_id(),
        recorded.version()
    ))
}

/// One event with who caused it and why, read from what it records.
fn event(recorded: &RecordedEvent, rail_message: Option<String>) -> Result<TimelineEvent, Problem> {
    let envelope = recorded.event();
    let payload: Value = serde_json::from_str(envelope.payload())
        .map_err(|e| corrupt(recorded, &format!("the payload is not JSON: {e}")))?;
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
    let approval = payload.get("approval");
    let who = match (approval, &rail_message) {
        (Some(a), _) => format!(
            "operators: requested by {}, approved by {}",
            text(a, "requested_by").unwrap_or_else(|| "?".into()),
            text(a, "approved_by").unwrap_or_else(|| "?".into())
        ),
        (None, Some(message)) => format!("the rail (message {message})"),
        (None, None) if envelope.event_type() == "PaymentIntentCreated" => "a channel".to_owned(),
        (None, None) => "the orchestrator".to_owned(),
    };
    let why = approval.and_then(|a| text(a, "reason")).or_else(|| {
        match (text(&payload, "reason"), text(&payload, "detail")) {
            (Some(reason), Some(detail)) => Some(format!("{reason}: {detail}")),
            (reason, detail) => reason.or(detail),
        }
    });
    Ok(TimelineEvent {
        version: recorded.version(),
        kind: envelope.event_type().to_owned(),
        occurred_at: envelope.occurred_at().to_string(),
        recorded_at: recorded.recorded_at().to_string(),
        who,
        why,
        correlation_id: envelope.correlation_id().map(str::to_owned),
        rail_message_id: rail_message,
        payload,
    })
}

/// The payment's rail stream: routing decisions, enquiries, escalations.
fn rail_facts(state: &State, id: PaymentIntentId) -> Result<Vec<RailFactView>, Problem> {
    let recorded = state
        .store
        .read_stream(&rail_stream(id))
        .map_err(Problem::from)?;
    recorded
        .iter()
        .map(|r| {
            let fact = RailStreamEvent::decode(r).map_err(Problem::from)?;
            Ok(match fact {
                RailStreamEvent::RailDecisionRecorded {
                    attempt_id,
                    rail,
                    reason,
                    decided_at,
                    ..
                } => RailFactView {
                    kind: "RailDecisionRecorded".to_owned(),
                    at: decided_at.to_string(),
                    attempt_id: attempt_id.map(|a| a.to_string()),
                    detail: format!("rail {rail}: {reason}"),
                },
                RailStreamEvent::RailEnquirySent { attempt_id, at, .. } => RailFactView {
                    kind: "RailEnquirySent".to_owned(),
                    at: at.to_string(),
                    attempt_id: Some(attempt_id.to_string()),
                    detail: "asked the rail about a silent attempt".to_owned(),
                },
                RailStreamEvent::RailEscalatedToOperator {
                    attempt_id,
                    at,
                    reason,
                    ..
                } => RailFactView {
                    kind: "RailEscalatedToOperator".to_owned(),
                    at: at.to_string(),
                    attempt_id: Some(attempt_id.to_string()),
                    detail: reason,
                },
            })
        })
        .collect()
}
