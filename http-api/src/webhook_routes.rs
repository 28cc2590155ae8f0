//! The webhook endpoints' and deliveries' handlers: admins subscribe and remove endpoints,
//! operators see deliveries and ask for one to be sent again.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State as AxumState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use event_store::{MAX_OUTBOX_PAGE, OutboxEntry, OutboxQuery, OutboxStatus};

use crate::keys::Role;
use crate::problem::{Problem, ProblemBody};
use crate::routes::{authorize, json, json_body};
use crate::state::{State, blocking};
use crate::webhooks::{DeliveryNote, Endpoint, delivery_endpoint, destination};

type Shared = AxumState<Arc<State>>;
type Answer = Result<Response, Problem>;

/// A new webhook endpoint.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpoint {
    /// Where deliveries are posted: an absolute `http://` URL, at most 2,048 bytes.
    #[schema(example = "http://127.0.0.1:9000/npp-events", max_length = 2048)]
    pub url: String,
    /// The payment states to hear of (`CREATED`, `AUTHORISED`, `SENT`, `ACKNOWLEDGED`,
    /// `SETTLED`, `FAILED`, `EXPIRED`), or `["*"]` for every one.
    #[schema(min_items = 1, max_items = 8)]
    pub events: Vec<String>,
}

/// A webhook endpoint.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, ToSchema)]
pub struct EndpointView {
    /// Its id.
    pub id: String,
    /// Where deliveries go.
    pub url: String,
    /// The states it hears of (`*`: all).
    pub events: Vec<String>,
    /// The admin who subscribed it.
    pub created_by: String,
    /// When.
    pub created_at: String,
    /// The signing secret: only in the answer to the request that created the endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl EndpointView {
    fn of(endpoint: &Endpoint, with_secret: bool) -> Self {
        Self {
            id: endpoint.id.clone(),
            url: endpoint.url.clone(),
            events: endpoint.events.clone(),
            created_by: endpoint.created_by.clone(),
            created_at: endpoint.created_at.to_string(),
            secret: with_secret.then(|| endpoint.secret.clone()),
        }
    }
}

/// The webhook endpoints.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, ToSchema)]
pub struct EndpointList {
    /// The endpoints, by id.
    pub endpoints: Vec<EndpointView>,
}

/// Subscribe an endpoint (admin): its secret is in this answer only.
#[utoipa::path(
    post, path = "/v1/webhook-endpoints", tag = "webhooks",
    request_body = CreateEndpoint,
    responses(
        (status = 201, description = "Subscribed; keep the secret, it is not shown again", body = EndpointView),
        (status = 400, description = "A field is invalid", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "No valid key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "At the endpoint limit", body = ProblemBody, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "Body not JSON", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "Store unavailable", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn create_endpoint(
    AxumState(state): Shared,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let caller = authorize(&state, &headers, &[Role::Admin])?;
    let body: CreateEndpoint = json_body(&headers, body)?;
    let endpoint = blocking(&state, move |s| {
        s.webhooks.create(
            s.store,
            s.payments.clock(),
            &body.url,
            body.events,
            &caller.name,
        )
    })
    .await?;
    Ok(json(
        StatusCode::CREATED,
        &EndpointView::of(&endpoint, true),
    ))
}

/// List the endpoints (admin); secrets are never shown.
#[utoipa::path(
    get, path = "/v1/webhook-endpoints", tag = "webhooks",
    responses(
        (status = 200, description = "The endpoints", body = EndpointList),
        (status = 401, description = "No valid key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin key", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list_endpoints(AxumState(state): Shared, headers: HeaderMap) -> Answer {
    authorize(&state, &headers, &[Role::Admin])?;
    let endpoints = state
        .webhooks
        .list()
        .iter()
        .map(|e| EndpointView::of(e, false))
        .collect();
    Ok(json(StatusCode::OK, &EndpointList { endpoints }))
}

/// Remove an endpoint (admin): nothing more is announced to it; its pending deliveries fail.
#[utoipa::path(
    delete, path = "/v1/webhook-endpoints/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "No valid key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such endpoint", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "Changed by another request meanwhile", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "Store unavailable", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn delete_endpoint(
    AxumState(state): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    let caller = authorize(&state, &headers, &[Role::Admin])?;
    let target = id.clone();
    let removed = blocking(&state, move |s| {
        s.webhooks
            .remove(s.store, s.payments.clock(), &target, &caller.name)
    })
    .await?;
    if removed {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(Problem::not_found(format!("no webhook endpoint {id}")))
    }
}

/// Query of `GET /v1/webhook-deliveries`.
#[derive(Debug, Deserialize, IntoParams, ToSchema)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// Only deliveries in this status.
    #[param(pattern = "^(pending|delivered|failed)$")]
    pub status: Option<String>,
    /// Deliveries per page: 1 to 1,000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// The `next` of the previous page.
    #[param(pattern = "^d[0-9]{1,20}$")]
    pub after: Option<String>,
}

/// One webhook delivery: one event for one endpoint.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    /// The delivery's id.
    pub delivery_id: String,
    /// The endpoint.
    pub endpoint_id: String,
    /// The payment.
    pub payment_id: String,
    /// The event's id (`PAYMENT_ID:VERSION`), as the receiver gets it.
    pub event_id: String,
    /// The event's type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The payment's state after the event.
    pub state: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// Attempts that failed so far (a delivery waiting for an earlier one has made none).
    pub attempts: u32,
    /// When the event was committed.
    pub created_at: String,
    /// When it was delivered or given up on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// A pending delivery's next attempt is not before this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
    /// What its last failed attempt said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl DeliveryView {
    fn of(entry: &OutboxEntry) -> Result<Self, Problem> {
        let note: DeliveryNote = serde_json::from_str(entry.message.payload()).map_err(|e| {
            Problem::internal(format!(
                "outbox message {} is not a delivery note: {e}",
                entry.message.id()
            ))
        })?;
        let event_id = note.event_id();
        Ok(Self {
            delivery_id: entry.message.id().to_owned(),
            endpoint_id: note.endpoint_id,
            payment_id: note.payment_id.to_string(),
            event_id,
            kind: note.kind,
            state: note.state,
            status: entry.status.name().to_owned(),
            attempts: entry.attempts,
            created_at: entry.created_at.to_string(),
            finished_at: entry.finished_at.map(|t| t.to_string()),
            next_attempt_at: entry.not_before.map(|t| t.to_string()),
            last_error: entry.last_error.clone(),
        })
    }
}

/// A page of deliveries, in commit order.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, ToSchema)]
pub struct DeliveryPage {
    /// The deliveries.
    pub deliveries: Vec<DeliveryView>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

fn status(raw: Option<&str>) -> Result<Option<OutboxStatus>, Problem> {
    let Some(raw) = raw else { return Ok(None) };
    OutboxStatus::parse(raw).map(Some).ok_or_else(|| {
        Problem::invalid(
            "status",
            format!("status {raw:?} is not pending, delivered or failed"),
        )
    })
}

/// Webhook deliveries (operator), in commit order.
#[utoipa::path(
    get, path = "/v1/webhook-deliveries", tag = "webhooks",
    params(DeliveriesQuery),
    responses(
        (status = 200, description = "A page of deliveries", body = DeliveryPage),
        (status = 400, description = "A query parameter is invalid", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "No valid key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "Not an operator key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "Store unavailable", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list_deliveries(
    AxumState(state): Shared,
    headers: HeaderMap,
    query: Result<Query<DeliveriesQuery>, QueryRejection>,
) -> Answer {
    authorize(&state, &headers, &[Role::Operator])?;
    let Query(query) = query.map_err(|e| Problem::invalid("query", e.body_text()))?;
    let status = status(query.status.as_deref())?;
    let limit = match query.limit {
        None => 100,
        Some(n @ 1..=1000) => n as usize,
        Some(n) => {
            return Err(Problem::invalid(
                "limit",
                format!("limit {n} is not 1 to {MAX_OUTBOX_PAGE}"),
            ));
        }
    };
    let after = match query.after.as_deref() {
        None => 0,
        Some(raw) => raw
            .strip_prefix('d')
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| Problem::invalid("after", format!("after {raw:?} is not a `next`")))?,
    };
    let page = blocking(&state, move |s| {
        let entries = s
            .webhooks
            .deliveries(s.store, status, after, limit)
            .map_err(Problem::from)?;
        let next = (entries.len() == limit)
            .then(|| entries.last().map(|e| format!("d{}", e.position)))
            .flatten();
        let deliveries = entries
            .iter()
            .map(DeliveryView::of)
            .collect::<Result<_, _>>()?;
        Ok(DeliveryPage { deliveries, next })
    })
    .await?;
    Ok(json(StatusCode::OK, &page))
}

/// Send a delivered or failed delivery again (operator); recorded with who asked.
#[utoipa::path(
    post, path = "/v1/webhook-deliveries/{id}/redeliver", tag = "webhooks",
    params(("id" = String, Path, description = "The delivery's id")),
    responses(
        (status = 202, description = "Pending again; the deliverer sends it next", body = DeliveryView),
        (status = 401, description = "No valid key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "Not an operator key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such delivery", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "Still pending, or its endpoint was removed", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "Store unavailable", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn redeliver(
    AxumState(state): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    let caller = authorize(&state, &headers, &[Role::Operator])?;
    let view = blocking(&state, move |s| {
        let entry = find_delivery(s, &id)?;
        let view = DeliveryView::of(&entry)?;
        if entry.status == OutboxStatus::Pending {
            return Err(conflict(format!(
                "delivery {id} is still pending; it is sent without asking"
            )));
        }
        if s.webhooks.get(&view.endpoint_id).is_none() {
            return Err(conflict(format!(
                "delivery {id}'s endpoint {} was removed",
                view.endpoint_id
            )));
        }
        s.webhooks.record_redelivery(
            s.store,
            s.payments.clock(),
            &view.endpoint_id,
            &id,
            &caller.name,
        )?;
        if !s.store.reopen_outbox(&id).map_err(Problem::from)? {
            return Err(conflict(format!("delivery {id} became pending meanwhile")));
        }
        DeliveryView::of(&find_delivery(s, &id)?)
    })
    .await?;
    Ok(json(StatusCode::ACCEPTED, &view))
}

fn conflict(detail: String) -> Problem {
    Problem::new(
        StatusCode::CONFLICT,
        "delivery-not-redeliverable",
        "The delivery cannot be sent again now",
        detail,
    )
}

fn find_delivery(state: &State, id: &str) -> Result<OutboxEntry, Problem> {
    let Some(endpoint) = delivery_endpoint(id) else {
        return Err(Problem::not_found(format!("no webhook delivery {id}")));
    };
    let found = state
        .store
        .list_outbox(&OutboxQuery {
            destination: &destination(endpoint),
            id_prefix: id,
            status: None,
            after: 0,
            limit: MAX_OUTBOX_PAGE,
            stream: None,
        })
        .map_err(Problem::from)?;
    found
        .into_iter()
        .find(|e| e.message.id() == id)
        .ok_or_else(|| Problem::not_found(format!("no webhook delivery {id}")))
}
