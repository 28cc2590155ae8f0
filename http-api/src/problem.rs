//! RFC 9457 problem details: every refusal and failure the API answers with. `type` is a stable
//! URN per kind of problem (docs/API.md lists them), `rule` the domain or policy rule that refused
//! when one did, `field` the request field at fault when one is.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use app_ops::AppError;
use event_store::StoreError;

/// The media type of a problem.
pub const PROBLEM_JSON: &str = "application/problem+json";
/// Seconds a client is asked to wait before retrying after a 503.
pub const RETRY_AFTER_SECONDS: u32 = 1;

/// A problem: its body boxed, so that `Result<_, Problem>` stays small.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Problem(Box<ProblemBody>);

impl std::ops::Deref for Problem {
    type Target = ProblemBody;
    fn deref(&self) -> &ProblemBody {
        &self.0
    }
}

/// A problem, as the response body.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Problem)]
pub struct ProblemBody {
    /// The kind of problem: `urn:npp:problem:<kind>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What happened to this request, in words an operator or developer can act on.
    pub detail: String,
    /// The rule that refused, when a domain or policy rule did (e.g. `ops/four-eyes`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The request field at fault, when one is (e.g. `debtor.bsb`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The request's id (`X-Request-Id`), to find it in the logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl Problem {
    /// A problem of `kind` (the URN's last part) with `status`.
    pub fn new(status: StatusCode, kind: &str, title: &str, detail: impl Into<String>) -> Self {
        Self(Box::new(ProblemBody {
            kind: format!("urn:npp:problem:{kind}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            rule: None,
            field: None,
            request_id: None,
        }))
    }

    /// The same problem naming the rule that refused.
    pub fn with_rule(mut self, rule: &str) -> Self {
        self.0.rule = Some(rule.to_owned());
        self
    }

    /// The same problem naming the field at fault.
    pub fn with_field(mut self, field: &str) -> Self {
        self.0.field = Some(field.to_owned());
        self
    }

    /// The same problem naming the request it answers.
    pub fn with_request_id(mut self, id: &str) -> Self {
        self.0.request_id = Some(id.to_owned());
        self
    }

    /// 400: the request is malformed; `field` names what.
    pub fn invalid(field: &str, detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            "The request is not valid",
            detail,
        )
        .with_field(field)
    }

    /// 401.
    pub fn unauthenticated(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "No valid API key",
            detail,
        )
    }

    /// 403 for a role that may not call the route.
    pub fn wrong_role(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "The key's role may not do this",
            detail,
        )
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    /// 503 with `Retry-After`.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Try again shortly",
            detail,
        )
    }

    /// 500: a defect or corruption; the detail says which.
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "The server could not complete the request",
            detail,
        )
    }

    /// The status as a code (500 for one out of range, which [`Problem::new`] never makes).
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let body = serde_json::to_vec(&*self.0).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TOO_MANY_REQUESTS {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        }
        response
    }
}

/// The status a refusal by `rule` gets: 403 when the caller may not do it, 404 when the thing
/// is not there, 409 when the state of things forbids it now.
fn refusal_status(rule: &str) -> StatusCode {
    match rule {
        "ops/four-eyes" | "policy/may-approve" | "policy/may-request" => StatusCode::FORBIDDEN,
        "ops/unknown-request" => StatusCode::NOT_FOUND,
        "app/overloaded" | "app/not-serving" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::CONFLICT,
    }
}

/// The request field a refusal by `rule` is about, when it is about one.
fn refusal_field(rule: &str) -> Option<&'static str> {
    match rule {
        "intent/unique-payment-id" => Some("payment_id"),
        "intent/remittance-fits-a-message" => Some("remittance_information"),
        _ => None,
    }
}

impl From<AppError> for Problem {
    fn from(error: AppError) -> Self {
        let detail = error.to_string();
        match &error {
            AppError::Rule(domain) => Problem::new(
                StatusCode::CONFLICT,
                "refused",
                "A payment rule refused the command",
                detail,
            )
            .with_rule(domain.rule()),
            AppError::Refused { rule, .. } => {
                let status = refusal_status(rule);
                let kind = match status {
                    StatusCode::FORBIDDEN => "not-allowed",
                    StatusCode::NOT_FOUND => "not-found",
                    StatusCode::SERVICE_UNAVAILABLE => "unavailable",
                    _ => "refused",
                };
                let problem = Problem::new(status, kind, "A rule refused the command", detail)
                    .with_rule(rule);
                match refusal_field(rule) {
                    Some(field) => problem.with_field(field),
                    None => problem,
                }
            }
            AppError::UnknownPayment(_) => Problem::not_found(detail),
            AppError::Store(store) => Problem::from(store.clone()),
            AppError::Contention { .. } => Problem::unavailable(detail),
            AppError::Policy(_) => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "policy",
                "The operator policy is not usable",
                detail,
            ),
            AppError::Undecodable { .. }
            | AppError::StoredHistoryIllegal { .. }
            | AppError::Unencodable(_)
            | AppError::Overflow(_) => Problem::internal(detail),
        }
    }
}

impl From<StoreError> for Problem {
    fn from(error: StoreError) -> Self {
        let detail = error.to_string();
        if error.is_corruption() {
            return Problem::internal(format!("{detail}; run `npp store verify`"));
        }
        match error {
            StoreError::IdempotencyConflict { .. } => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "The Idempotency-Key was used with a different request",
                detail,
            ),
            StoreError::Conflict { .. } => Problem::new(
                StatusCode::CONFLICT,
                "conflict",
                "Another writer changed it first; try again",
                detail,
            ),
            StoreError::Unavailable(_) => Problem::unavailable(detail),
            _ => Problem::internal(detail),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_map_to_the_status_their_rule_implies() {
        for (rule, status) in [
            ("ops/four-eyes", 403),
            ("policy/may-approve", 403),
            ("ops/already-decided", 409),
            ("ops/approval-lapsed", 409),
            ("ops/unknown-request", 404),
            ("app/overloaded", 503),
        ] {
            let problem = Problem::from(AppError::refused(rule, "why"));
            assert_eq!(problem.status, status, "{rule}");
            assert_eq!(problem.rule.as_deref(), Some(rule));
        }
    }

    #[test]
    fn an_unavailable_problem_asks_to_retry_later() {
        let response = Problem::unavailable("busy").into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
    }
}
