//! The operator console (`/console`: one page, its script and its style sheet, embedded in the
//! binary) and the three JSON routes made for it: a payment's timeline, the samples it plots and
//! the verification of an evidence pack. The page uses nothing but the public API, with the
//! token its user signs in with.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use exports::{SignatureStatus, verify_pack_bytes};

use crate::keys::Role;
use crate::problem::{Problem, ProblemBody};
use crate::routes::{authorize, json};
use crate::state::{State, blocking};
use crate::views::{CallerView, StatsView, TimelineView, VerificationView};

type Shared = AxumState<Arc<State>>;
type Answer = Result<Response, Problem>;

const PAGE: &str = include_str!("../console/index.html");
const SCRIPT: &str = include_str!("../console/app.js");
const STYLE: &str = include_str!("../console/app.css");

/// What the console's documents may load: only this server's own script, style and API; no
/// frames, no inline script, no other origin.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'none'; \
     frame-ancestors 'none'; base-uri 'none'";

fn asset(kind: &'static str, body: &'static str) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// `GET /console`: the page.
pub async fn page() -> Response {
    asset("text/html; charset=utf-8", PAGE)
}

/// `GET /console/app.js`.
pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// `GET /console/app.css`.
pub async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

/// Who the token belongs to, and its role.
#[utoipa::path(
    get, path = "/v1/me", tag = "operations",
    responses(
        (status = 200, description = "The key's name and role", body = CallerView),
        (status = 401, description = "No valid key", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn me(AxumState(state): Shared, headers: HeaderMap) -> Answer {
    let caller = authorize(
        &state,
        &headers,
        &[Role::Channel, Role::Operator, Role::Auditor, Role::Admin],
    )?;
    Ok(json(
        StatusCode::OK,
        &CallerView {
            name: caller.name.to_string(),
            role: caller.role.name().to_owned(),
        },
    ))
}

/// One payment's whole story.
#[utoipa::path(
    get, path = "/v1/payments/{id}/timeline", tag = "payments",
    params(("id" = String, Path, pattern = "^[A-Za-z0-9._:-]{1,35}$", description = "The payment's id")),
    responses(
        (status = 200, description = "Its events with who and why, its rail facts and messages (pacs.008 sent, pacs.002 received), operator requests and the payer's funds", body = TimelineView),
        (status = 400, description = "Not a payment id", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "No valid key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "Not an operator or auditor key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such payment", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "Store unavailable", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn timeline(
    AxumState(state): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    let caller = authorize(&state, &headers, &[Role::Operator, Role::Auditor])?;
    let id = crate::routes::payment_id(&id)?;
    let story = blocking(&state, move |s| {
        crate::timeline::timeline(s, id, caller.name)
    })
    .await?
    .ok_or_else(|| Problem::not_found(format!("no payment {id}")))?;
    Ok(json(StatusCode::OK, &story))
}

/// What the console plots: payments by state, intent-to-settled latency and outbox depth over
/// time, sampled by this server since it started.
#[utoipa::path(
    get, path = "/v1/stats", tag = "operations",
    responses(
        (status = 200, description = "The samples, oldest first", body = StatsView),
        (status = 401, description = "No valid key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "Not an operator or auditor key", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn stats(AxumState(state): Shared, headers: HeaderMap) -> Answer {
    authorize(&state, &headers, &[Role::Operator, Role::Auditor])?;
    Ok(json(StatusCode::OK, &crate::stats::view(&state)))
}

/// Verify an evidence pack: every hash, the replay through the core, the operator actions and
/// the signature (trusted when this server's key made it).
#[utoipa::path(
    post, path = "/v1/evidence/verifications", tag = "payments",
    request_body(content = Object, description = "An evidence pack, as `GET /v1/payments/{id}/evidence` gives it", content_type = "application/json"),
    responses(
        (status = 200, description = "What verifying found (`verified` false names the first element at fault)", body = VerificationView),
        (status = 401, description = "No valid key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "Not an operator or auditor key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn verify(
    AxumState(state): Shared,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    authorize(&state, &headers, &[Role::Operator, Role::Auditor])?;
    let body = body.map_err(|r| crate::routes::body_problem(&r))?;
    let found = blocking(&state, move |s| Ok(verification(s, &body))).await?;
    Ok(json(StatusCode::OK, &found))
}

fn verification(state: &State, bytes: &[u8]) -> VerificationView {
    let ours = state
        .signing_key
        .as_ref()
        .map(exports::PackSigningKey::public_key);
    // Signed by this server's key: verified against it, so the summary says so.
    let found = match verify_pack_bytes(bytes, None) {
        Ok(verified) => match (verified.signature(), ours) {
            (SignatureStatus::SelfConsistent(key), Some(trusted)) if key == trusted => {
                verify_pack_bytes(bytes, Some(&trusted))
            }
            _ => Ok(verified),
        },
        Err(error) => Err(error),
    };
    match found {
        Ok(verified) => {
            let signature = match verified.signature() {
                SignatureStatus::Unsigned => "unsigned",
                SignatureStatus::SelfConsistent(key) | SignatureStatus::Trusted(key)
                    if ours == Some(key) =>
                {
                    "trusted"
                }
                SignatureStatus::SelfConsistent(_) | SignatureStatus::Trusted(_) => {
                    "self-consistent"
                }
            };
            VerificationView {
                verified: true,
                summary: verified.summary(),
                signature: Some(signature.to_owned()),
                path: None,
            }
        }
        Err(error) => VerificationView {
            verified: false,
            summary: error.to_string(),
            signature: None,
            path: error.path().map(|p| p.as_str().to_owned()),
        },
    }
}
