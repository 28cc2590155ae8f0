//! `X-Request-Id`: taken from the caller when it is a sane id (1 to 64 of `A-Z a-z 0-9 . _ : -`),
//! made otherwise; echoed on the response, logged, and recorded as the correlation id of the
//! events the request causes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

/// The header.
pub const HEADER: &str = "x-request-id";
/// The longest id taken from a caller.
pub const MAX_REQUEST_ID_CHARS: usize = 64;

/// A request's id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn sane(raw: &str) -> bool {
    !raw.is_empty()
        && raw.len() <= MAX_REQUEST_ID_CHARS
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// Makes ids unique to this process: a random prefix fixed at start and a counter.
pub struct IdMaker {
    prefix: String,
    next: AtomicU64,
}

impl IdMaker {
    /// A maker with a fresh random prefix.
    pub fn new() -> Self {
        let mut bytes = [0u8; 4];
        // Without randomness the prefix is the process id: still unique on this machine.
        let prefix = match getrandom::fill(&mut bytes) {
            Ok(()) => bytes.iter().map(|b| format!("{b:02x}")).collect(),
            Err(_) => format!("{:08x}", std::process::id()),
        };
        Self {
            prefix,
            next: AtomicU64::new(1),
        }
    }

    fn make(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!("r{}-{n:x}", self.prefix)
    }
}

impl Default for IdMaker {
    fn default() -> Self {
        Self::new()
    }
}

/// The middleware: sets the id, times the request, counts it in the metrics and logs it.
pub async fn middleware(
    State(state): State<std::sync::Arc<crate::state::State>>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let id = request
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| sane(v))
        .map_or_else(|| state_maker().make(), ToOwned::to_owned);
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    request.extensions_mut().insert(RequestId(id.clone()));
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    let status = response.status().as_u16();
    let took = started.elapsed();
    state.metrics.request(&route, &method, status, took);
    tracing::info!(request_id = %id, %method, %route, status, micros = took.as_micros() as u64, "request");
    response
}

fn state_maker() -> &'static IdMaker {
    static MAKER: std::sync::OnceLock<IdMaker> = std::sync::OnceLock::new();
    MAKER.get_or_init(IdMaker::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sane_ids_are_taken_and_made_ones_differ() {
        assert!(sane("abc-123:x.y_z"));
        assert!(!sane(""));
        assert!(!sane("has space"));
        assert!(!sane(&"a".repeat(65)));
        let maker = IdMaker::new();
        assert_ne!(maker.make(), maker.make());
        assert!(sane(&maker.make()));
    }
}
