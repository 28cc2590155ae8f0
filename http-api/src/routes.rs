//! The handlers. Each authenticates first (the caller is the key's holder, never a field of the
//! request), checks its input into domain values (a refusal names the field), then reaches the
//! application layer off the runtime's threads (see `state`).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use app_ops::{Approved, Effect, OpsAction, OwnedCommand, RequestStatus, load_payment};
use core_npp::{ApprovalId, FreeText, OperatorId, PaymentIntentId, PaymentState};
use event_store::StreamId;

use crate::index::DEFAULT_PAGE;
use crate::intent::{CreatePayment, check, check_idempotency_key};
use crate::keys::{Caller, Role};
use crate::problem::{Problem, ProblemBody};
use crate::request_id::RequestId;
use crate::state::{State, blocking, command};
use crate::views::{
    ApprovalResult, OperatorQueue, OperatorRequestList, OperatorRequestView, PaymentPage,
    PaymentSummary, PaymentView, Readiness,
};

type Shared = AxumState<Arc<State>>;
type Answer = Result<Response, Problem>;

/// Media type of a payment's history (`npp replay` reads it).
pub const JSON_LINES: &str = "application/x-ndjson";

/// The caller, if its bearer token is a live key's and its role is among `allowed`.
pub fn authorize(state: &State, headers: &HeaderMap, allowed: &[Role]) -> Result<Caller, Problem> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(Problem::unauthenticated(
            "send `Authorization: Bearer <token>`; `npp keys add` makes a token",
        ));
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| {
            Problem::unauthenticated("the Authorization header is not `Bearer <token>`")
        })?;
    let caller = state.keys.authenticate(token).ok_or_else(|| {
        Problem::unauthenticated("the token is not a live key (unknown or revoked)")
    })?;
    if allowed.iter().any(|role| caller.role.grants(*role)) {
        Ok(caller)
    } else {
        let names: Vec<&str> = allowed.iter().map(|r| r.name()).collect();
        Err(Problem::wrong_role(format!(
            "key {} is a {} key; this needs {}",
            caller.name,
            caller.role.name(),
            names.join(" or ")
        )))
    }
}

const READERS: &[Role] = &[Role::Channel, Role::Operator, Role::Auditor];

pub(crate) fn payment_id(raw: &str) -> Result<PaymentIntentId, Problem> {
    PaymentIntentId::parse(raw)
        .map_err(|e| Problem::invalid("id", format!("payment id {raw:?}: {e}")))
}

fn request_id(raw: &str) -> Result<ApprovalId, Problem> {
    ApprovalId::parse(raw).map_err(|e| Problem::invalid("id", format!("request id {raw:?}: {e}")))
}

pub(crate) fn body_problem(rejection: &BytesRejection) -> Problem {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            "The request body is too large",
            rejection.body_text(),
        )
    } else {
        Problem::invalid("body", rejection.body_text())
    }
}

/// Parses a JSON body into `T`, naming the field at fault.
pub(crate) fn json_body<T: for<'de> Deserialize<'de>>(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<T, Problem> {
    if let Some(kind) = headers.get(header::CONTENT_TYPE) {
        let kind = kind.to_str().unwrap_or_default();
        let essence = kind.split(';').next().unwrap_or_default().trim();
        if !essence.eq_ignore_ascii_case("application/json") {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "The body must be JSON",
                format!("Content-Type is {kind:?}; send application/json"),
            ));
        }
    }
    let body = body.map_err(|r| body_problem(&r))?;
    let mut deserializer = serde_json::Deserializer::from_slice(&body);
    let parsed = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "body".to_owned() } else { path };
        Problem::invalid(&field, format!("{field}: {}", e.inner()))
    })?;
    deserializer
        .end()
        .map_err(|e| Problem::invalid("body", format!("after the JSON value: {e}")))?;
    Ok(parsed)
}

pub(crate) fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Response {
    (status, Json(value)).into_response()
}

// ---------------------------------------------------------------------------------------------
// Payments

/// Create a payment.
#[utoipa::path(
    post, path = "/v1/payments", tag = "payments",
    request_body = CreatePayment,
    params(
        ("Idempotency-Key" = String, Header, pattern = "^[!-~]{1,255}$",
         description = "Unique per payment (1 to 255 visible ASCII characters); send it again unchanged to retry safely"),
    ),
    responses(
        (status = 201, description = "Created (or, with `Idempotent-Replayed: true`, created before by the same request)", body = PaymentView,
         headers(("Idempotent-Replayed" = String, description = "`true` when this is the original answer to an earlier request with the same key"),
                 ("Location" = String, description = "The payment"))),
        (status = 400, description = "A field is invalid, or the key is missing", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "No valid key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "Not a channel key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "A request with this key is still running, or the payment id is taken", body = ProblemBody, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "Body not JSON", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "The key was used with a different request", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "Overloaded or the store is unavailable; retry after `Retry-After`", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn create_payment(
    AxumState(state): Shared,
    axum::Extension(request): axum::Extension<RequestId>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let caller = authorize(&state, &headers, &[Role::Channel])?;
    let key = check_idempotency_key(
        headers
            .get("idempotency-key")
            .map(|v| v.to_str().unwrap_or("\u{0}")),
    )?;
    let body: CreatePayment = json_body(&headers, body)?;
    let intent = check(
        &body,
        caller.name.as_str(),
        key,
        state.policy.attempt_limit(),
    )?
    .with_correlation_id(request.as_str());
    let Some(_in_flight) = state.start(intent.idempotency_key) else {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "request-in-progress",
            "A request with this Idempotency-Key is still running",
            "wait for the first request's answer, or send this again in a moment",
        ));
    };
    let id = intent.payment_intent_id;
    let outcome = command(&state, OwnedCommand::CreateIntent(intent))
        .await
        .map_err(|e| match e {
            app_ops::AppError::Store(event_store::StoreError::Conflict { .. }) => Problem::new(
                StatusCode::CONFLICT,
                "payment-id-taken",
                "A payment with this id exists",
                format!("payment {id} exists already (created by another request)"),
            )
            .with_field("payment_id"),
            other => Problem::from(other),
        })?;
    let mut response = json(StatusCode::CREATED, &PaymentView::of(&outcome.payment));
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/payments/{id}")) {
        headers.insert(header::LOCATION, location);
    }
    if outcome.effect == Effect::AlreadyApplied {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// A payment.
#[utoipa::path(
    get, path = "/v1/payments/{id}", tag = "payments",
    params(("id" = String, Path, pattern = "^[A-Za-z0-9._:-]{1,35}$", description = "The payment's id")),
    responses(
        (status = 200, description = "The payment", body = PaymentView),
        (status = 400, description = "Not a payment id", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "No valid key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such payment", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "Store unavailable", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_payment(
    AxumState(state): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    authorize(&state, &headers, READERS)?;
    let id = payment_id(&id)?;
    let loaded = blocking(&state, move |s| {
        load_payment(s.store, id).map_err(Problem::from)
    })
    .await?
    .ok_or_else(|| Problem::not_found(format!("no payment {id}")))?;
    Ok(json(StatusCode::OK, &PaymentView::of(&loaded.payment)))
}

/// Query of `GET /v1/payments`.
#[derive(Debug, Deserialize, IntoParams, ToSchema)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only payments in this state (`CREATED`, `AUTHORISED`, `SENT`, `ACKNOWLEDGED`, `SETTLED`,
    /// `FAILED`, `EXPIRED`).
    #[param(pattern = "^(CREATED|AUTHORISED|SENT|ACKNOWLEDGED|SETTLED|FAILED|EXPIRED)$")]
    pub state: Option<String>,
    /// Payments per page: 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// The `next` of the previous page.
    #[param(pattern = "^p[0-9]{1,20}$")]
    pub after: Option<String>,
}

fn query_problem(rejection: &QueryRejection) -> Problem {
    Problem::invalid("query", rejection.body_text())
}

/// Payments, oldest first.
#[utoipa::path(
    get, path = "/v1/payments", tag = "payments",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of payments", body = PaymentPage),
        (status = 400, description = "A bad state, limit or cursor", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "No valid key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "Store unavailable", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list_payments(
    AxumState(state): Shared,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Answer {
    authorize(&state, &headers, READERS)?;
    let Query(query) = query.map_err(|r| query_problem(&r))?;
    let wanted = query
        .state
        .as_deref()
        .map(|raw| {
            PaymentState::ALL
                .into_iter()
                .find(|s| s.name() == raw)
                .ok_or_else(|| {
                    Problem::invalid("state", format!("state {raw:?} is not a payment state"))
                })
        })
        .transpose()?;
    let limit = match query.limit {
        None => DEFAULT_PAGE,
        Some(n @ 1..=500) => n as usize,
        Some(n) => {
            return Err(Problem::invalid(
                "limit",
                format!("limit {n} is not 1 to 500"),
            ));
        }
    };
    let after = match query.after.as_deref() {
        None => 0,
        Some(raw) => raw
            .strip_prefix('p')
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| {
                Problem::invalid("after", format!("cursor {raw:?} is not one this API gave"))
            })?,
    };
    let (entries, next) = blocking(&state, move |s| {
        let index = s.caught_up_index()?;
        Ok(index.page(wanted, after, limit))
    })
    .await?;
    let page = PaymentPage {
        payments: entries
            .iter()
            .map(|e| PaymentSummary {
                payment_id: e.id.to_string(),
                state: e.state.name().to_owned(),
                amount: e.amount.minor_units(),
                version: e.version,
                created_at: e.created_at.to_string(),
                updated_at: e.updated_at.to_string(),
            })
            .collect(),
        next: next.map(|p| format!("p{p}")),
    };
    Ok(json(StatusCode::OK, &page))
}

/// A payment's history, one event per line, as `npp replay` reads it.
#[utoipa::path(
    get, path = "/v1/payments/{id}/events", tag = "payments",
    params(("id" = String, Path, pattern = "^[A-Za-z0-9._:-]{1,35}$", description = "The payment's id")),
    responses(
        (status = 200, description = "JSON Lines: one event per line, oldest first", body = String, content_type = "application/x-ndjson"),
        (status = 400, description = "Not a payment id", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "No valid key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such payment", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "Store unavailable", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn payment_events(
    AxumState(state): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    authorize(&state, &headers, READERS)?;
    let id = payment_id(&id)?;
    let lines = blocking(&state, move |s| {
        let recorded = s
            .store
            .read_stream(&StreamId::payment(id))
            .map_err(Problem::from)?;
        let mut lines = String::new();
        for event in &recorded {
            lines.push_str(event.event().payload());
            lines.push('\n');
        }
        Ok((recorded.is_empty(), lines))
    })
    .await?;
    if lines.0 {
        return Err(Problem::not_found(format!("no payment {id}")));
    }
    Ok(([(header::CONTENT_TYPE, JSON_LINES)], lines.1).into_response())
}

/// A payment's evidence pack (signed when the server has a signing key).
#[utoipa::path(
    get, path = "/v1/payments/{id}/evidence", tag = "payments",
    params(("id" = String, Path, pattern = "^[A-Za-z0-9._:-]{1,35}$", description = "The payment's id")),
    responses(
        (status = 200, description = "The evidence pack (docs/EVIDENCE.md); verify with `npp evidence verify`", body = Object),
        (status = 400, description = "Not a payment id", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "No valid key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "Not an auditor or operator key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such payment", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "Store unavailable", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn payment_evidence(
    AxumState(state): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    authorize(&state, &headers, &[Role::Auditor, Role::Operator])?;
    let id = payment_id(&id)?;
    let bytes = blocking(&state, move |s| {
        let input = exports::evidence_from_store(s.store, id)
            .map_err(|e| Problem::internal(e.to_string()))?
            .ok_or_else(|| Problem::not_found(format!("no payment {id}")))?;
        let pack = exports::build_pack(&input).map_err(|e| Problem::internal(e.to_string()))?;
        let pack = match &s.signing_key {
            Some(key) => pack
                .sign(key)
                .map_err(|e| Problem::internal(e.to_string()))?,
            None => pack,
        };
        Ok(pack.to_file_bytes())
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], bytes).into_response())
}

// ---------------------------------------------------------------------------------------------
// Operators

/// Payments waiting for a person, and why.
#[utoipa::path(
    get, path = "/v1/operator-queue", tag = "operators",
    responses(
        (status = 200, description = "The queue, oldest first", body = OperatorQueue),
        (status = 401, description = "No valid key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "Not an operator key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "Store unavailable", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn operator_queue(AxumState(state): Shared, headers: HeaderMap) -> Answer {
    authorize(&state, &headers, &[Role::Operator])?;
    let queue = blocking(&state, crate::queue::queue).await?;
    Ok(json(StatusCode::OK, &queue))
}

/// A new operator request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    /// `retry`, `cancel` or `mark-failed`.
    #[schema(example = "retry", pattern = "^(retry|cancel|mark-failed)$")]
    pub action: String,
    /// The payment.
    #[schema(pattern = "^[A-Za-z0-9._:-]{1,35}$")]
    pub payment_id: String,
    /// Why: 1 to 280 characters.
    #[schema(
        min_length = 1,
        max_length = 280,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\u0000-\\u001f\\u007f-\\u009f\\s][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub reason: String,
}

/// A rejection.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectRequest {
    /// Why: 1 to 280 characters.
    #[schema(
        min_length = 1,
        max_length = 280,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\u0000-\\u001f\\u007f-\\u009f\\s][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub reason: String,
}

fn free_text(field: &str, raw: &str) -> Result<FreeText, Problem> {
    FreeText::parse(raw).map_err(|e| Problem::invalid(field, format!("{field}: {e}")))
}

fn action(raw: &str) -> Result<OpsAction, Problem> {
    match raw {
        "retry" => Ok(OpsAction::Retry),
        "cancel" => Ok(OpsAction::Cancel),
        "mark-failed" => Ok(OpsAction::MarkFailed),
        _ => Err(Problem::invalid(
            "action",
            format!("action {raw:?} is not retry, cancel or mark-failed"),
        )),
    }
}

/// Ask for an operator action (the maker is the caller).
#[utoipa::path(
    post, path = "/v1/operator-requests", tag = "operators",
    request_body = CreateRequest,
    responses(
        (status = 201, description = "Requested; a second operator must approve", body = OperatorRequestView),
        (status = 400, description = "A field is invalid", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "No valid key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "Not an operator key, or the policy does not let this operator ask", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such payment", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "The payment's state does not allow the action", body = ProblemBody, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "Body not JSON", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "Store unavailable", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn create_request(
    AxumState(state): Shared,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let caller = authorize(&state, &headers, &[Role::Operator])?;
    let body: CreateRequest = json_body(&headers, body)?;
    let action = action(&body.action)?;
    let payment = PaymentIntentId::parse(&body.payment_id)
        .map_err(|e| Problem::invalid("payment_id", format!("payment_id: {e}")))?;
    let reason = free_text("reason", &body.reason)?;
    let by: OperatorId = caller.name;
    let request = blocking(&state, move |s| {
        s.ops()
            .request(action, payment, by, reason)
            .map_err(Problem::from)
    })
    .await?;
    Ok(json(
        StatusCode::CREATED,
        &OperatorRequestView::of(&request),
    ))
}

/// Query of `GET /v1/operator-requests`.
#[derive(Debug, Deserialize, IntoParams, ToSchema)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RequestsQuery {
    /// Only requests in this status (`pending`, `approved`, `executed`, `rejected`, `lapsed`,
    /// `failed`).
    #[param(pattern = "^(pending|approved|executed|rejected|lapsed|failed)$")]
    pub state: Option<String>,
}

/// Operator requests, oldest first.
#[utoipa::path(
    get, path = "/v1/operator-requests", tag = "operators",
    params(RequestsQuery),
    responses(
        (status = 200, description = "The requests", body = OperatorRequestList),
        (status = 400, description = "A bad state", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "No valid key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "Not an operator or auditor key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "Store unavailable", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list_requests(
    AxumState(state): Shared,
    headers: HeaderMap,
    query: Result<Query<RequestsQuery>, QueryRejection>,
) -> Answer {
    authorize(&state, &headers, &[Role::Operator, Role::Auditor])?;
    let Query(query) = query.map_err(|r| query_problem(&r))?;
    let wanted = query
        .state
        .as_deref()
        .map(|raw| {
            [
                RequestStatus::Pending,
                RequestStatus::Approved,
                RequestStatus::Executed,
                RequestStatus::Rejected,
                RequestStatus::Lapsed,
                RequestStatus::Failed,
            ]
            .into_iter()
            .find(|s| s.name() == raw)
            .ok_or_else(|| {
                Problem::invalid("state", format!("state {raw:?} is not a request status"))
            })
        })
        .transpose()?;
    let requests = blocking(&state, move |s| {
        let all = s.ops().list(false).map_err(Problem::from)?;
        Ok(all
            .iter()
            .filter(|r| wanted.as_ref().is_none_or(|w| *w == r.status))
            .map(OperatorRequestView::of)
            .collect())
    })
    .await?;
    Ok(json(StatusCode::OK, &OperatorRequestList { requests }))
}

/// An operator request.
#[utoipa::path(
    get, path = "/v1/operator-requests/{id}", tag = "operators",
    params(("id" = String, Path, pattern = "^[A-Za-z0-9._:-]{1,35}$", description = "The request's id")),
    responses(
        (status = 200, description = "The request", body = OperatorRequestView),
        (status = 400, description = "Not a request id", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "No valid key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "Not an operator or auditor key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such request", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "Store unavailable", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_request(
    AxumState(state): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    authorize(&state, &headers, &[Role::Operator, Role::Auditor])?;
    let id = request_id(&id)?;
    let request = blocking(&state, move |s| s.ops().load(id).map_err(Problem::from)).await?;
    Ok(json(StatusCode::OK, &OperatorRequestView::of(&request)))
}

/// Approve a request (the checker is the caller); the action runs once the policy's approvals
/// are complete, in the same commit.
#[utoipa::path(
    post, path = "/v1/operator-requests/{id}/approve", tag = "operators",
    params(("id" = String, Path, pattern = "^[A-Za-z0-9._:-]{1,35}$", description = "The request's id")),
    responses(
        (status = 200, description = "Approved (and executed, when `executed`)", body = ApprovalResult),
        (status = 400, description = "Not a request id", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "No valid key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "Self-approval (ops/four-eyes), or the policy does not let this operator approve", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such request", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "Already decided, lapsed, a second approval by the same operator, or the payment moved on (rule says which)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "Store unavailable", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn approve(
    AxumState(state): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    let caller = authorize(&state, &headers, &[Role::Operator])?;
    let id = request_id(&id)?;
    let result = blocking(&state, move |s| {
        s.ops().approve(id, caller.name).map_err(Problem::from)
    })
    .await?;
    let view = match result {
        Approved::AwaitingMoreApprovals(request) => ApprovalResult {
            request: OperatorRequestView::of(&request),
            executed: false,
            payment: None,
        },
        Approved::Executed(request, outcome) => ApprovalResult {
            request: OperatorRequestView::of(&request),
            executed: true,
            payment: Some(PaymentView::of(&outcome.payment)),
        },
    };
    Ok(json(StatusCode::OK, &view))
}

/// Reject a request (the checker is the caller); nothing runs.
#[utoipa::path(
    post, path = "/v1/operator-requests/{id}/reject", tag = "operators",
    params(("id" = String, Path, pattern = "^[A-Za-z0-9._:-]{1,35}$", description = "The request's id")),
    request_body = RejectRequest,
    responses(
        (status = 200, description = "Rejected", body = OperatorRequestView),
        (status = 400, description = "Not a request id, or no reason", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "No valid key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "Self-rejection, or the policy does not let this operator decide", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such request", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "Already decided or lapsed", body = ProblemBody, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "Body not JSON", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "Store unavailable", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn reject(
    AxumState(state): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let caller = authorize(&state, &headers, &[Role::Operator])?;
    let id = request_id(&id)?;
    let body: RejectRequest = json_body(&headers, body)?;
    let reason = free_text("reason", &body.reason)?;
    let request = blocking(&state, move |s| {
        s.ops()
            .reject(id, caller.name, reason)
            .map_err(Problem::from)
    })
    .await?;
    Ok(json(StatusCode::OK, &OperatorRequestView::of(&request)))
}

// ---------------------------------------------------------------------------------------------
// Operations

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Alive", body = String, content_type = "text/plain")))]
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// The store is reachable and migrated, and the policy is in force.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready, and why", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn readyz(AxumState(state): Shared) -> Answer {
    let ready = blocking(&state, |s| {
        s.store
            .stream_version(&StreamId::policy())
            .map_err(|e| Problem::unavailable(format!("the store does not answer: {e}")))?;
        Ok(Readiness {
            status: "ready".into(),
            store: s.describe_store.clone(),
            policy_version: s.policy.version().to_owned(),
        })
    })
    .await?;
    Ok(json(StatusCode::OK, &ready))
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses(
        (status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain"),
        (status = 401, description = "No valid key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "Store unavailable", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn metrics(AxumState(state): Shared, headers: HeaderMap) -> Answer {
    authorize(&state, &headers, &[Role::Operator, Role::Auditor])?;
    let text = blocking(&state, |s| {
        crate::queue::refresh_gauges(s)?;
        Ok(s.metrics.encode())
    })
    .await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// The OpenAPI document of this API.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses(
        (status = 200, description = "OpenAPI 3.1", body = Object),
        (status = 401, description = "No valid key", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn openapi(AxumState(state): Shared, headers: HeaderMap) -> Answer {
    authorize(&state, &headers, READERS)?;
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::document(),
    )
        .into_response())
}

/// Anything else.
pub async fn not_found() -> Problem {
    Problem::not_found("no such route; GET /openapi.json lists them")
}

/// A known route with another method.
pub async fn method_not_allowed() -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
        "this route does not take that method; GET /openapi.json lists them",
    )
}
