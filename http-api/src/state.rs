//! What every handler shares, and the two ways a handler reaches the synchronous application
//! layer without blocking the runtime: payment commands are submitted to the coalescing queue
//! (served by dedicated threads), everything else runs on tokio's blocking pool.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use app_ops::{AppError, OperatorActions, Outcome, OwnedCommand, Payments, PolicyGate};
use core_npp::IdempotencyKey;
use event_store::EventStore;
use exports::PackSigningKey;

use crate::index::PaymentIndex;
use crate::keys::KeyRing;
use crate::metrics::Metrics;
use crate::problem::Problem;

/// The server's limits; every one is answered with a clear status when reached.
#[derive(Clone, Debug)]
pub struct Limits {
    /// The largest request body, in bytes (413 past it).
    pub max_body_bytes: usize,
    /// The longest a request may take (503 past it; the command may still complete, and the
    /// same `Idempotency-Key` then returns its result).
    pub request_timeout: Duration,
    /// Requests handled at once; more are refused with 503 and `Retry-After`.
    pub max_concurrent_requests: usize,
    /// How long a shutdown waits for requests in flight.
    pub shutdown_grace: Duration,
}

/// The largest request body by default: 64 KiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;
/// The request timeout by default.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Concurrent requests by default.
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 1024;
/// The shutdown grace by default.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(8);

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        }
    }
}

/// Shared by every handler.
pub struct State {
    /// The store.
    pub store: &'static dyn EventStore,
    /// The store, as described to operators.
    pub describe_store: String,
    /// The command handlers (one per process: their cache and coalescing queue are shared).
    pub payments: &'static Payments<'static>,
    /// The operator policy in force.
    pub policy: &'static dyn PolicyGate,
    /// The API keys.
    pub keys: KeyRing,
    /// Signs evidence packs, when the server has a key.
    pub signing_key: Option<PackSigningKey>,
    /// The limits.
    pub limits: Limits,
    /// The payments list.
    pub index: Mutex<PaymentIndex>,
    /// Idempotency keys whose first request is still running (409 for another meanwhile).
    pub inflight: Mutex<HashSet<IdempotencyKey>>,
    /// The metrics.
    pub metrics: Metrics,
    /// A silent attempt older than this is in the operator queue.
    pub escalate_after: Duration,
    /// The webhook endpoints (their announcer is the handlers').
    pub webhooks: &'static crate::webhooks::Webhooks,
    /// The console's samples.
    pub samples: crate::stats::Samples,
    /// How often they are taken.
    pub stats_interval: Duration,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Holders leave both sets consistent at every step, so a poisoned lock is still sound.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl State {
    /// Operator actions under the policy in force.
    pub fn ops(&self) -> OperatorActions<'static> {
        OperatorActions::new(self.payments, self.policy)
    }

    /// The payments list, caught up with the log.
    pub fn caught_up_index(&self) -> Result<MutexGuard<'_, PaymentIndex>, Problem> {
        let mut index = lock(&self.index);
        index.catch_up(self.store).map_err(Problem::from)?;
        Ok(index)
    }

    /// Marks `key` in flight; `None` when it already is (a concurrent request with that key).
    pub fn start(self: &Arc<Self>, key: IdempotencyKey) -> Option<InFlight> {
        if lock(&self.inflight).insert(key) {
            Some(InFlight {
                state: Arc::clone(self),
                key,
            })
        } else {
            None
        }
    }
}

/// An idempotency key in flight; dropped when its request ends, however it ends.
pub struct InFlight {
    state: Arc<State>,
    key: IdempotencyKey,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        lock(&self.state.inflight).remove(&self.key);
    }
}

/// Runs `work` on the blocking pool.
pub async fn blocking<T, F>(state: &Arc<State>, work: F) -> Result<T, Problem>
where
    T: Send + 'static,
    F: FnOnce(&State) -> Result<T, Problem> + Send + 'static,
{
    off_runtime(state, work, |why| {
        Problem::internal(format!("the request's work stopped: {why}"))
    })
    .await
}

/// Runs `work` on the blocking pool; `stopped` says what it comes to when the work panicked or
/// was cancelled.
pub async fn off_runtime<T, E, F>(
    state: &Arc<State>,
    work: F,
    stopped: impl FnOnce(String) -> E,
) -> Result<T, E>
where
    T: Send + 'static,
    E: Send + 'static,
    F: FnOnce(&State) -> Result<T, E> + Send + 'static,
{
    let state = Arc::clone(state);
    tokio::task::spawn_blocking(move || work(&state))
        .await
        .map_err(|e| stopped(e.to_string()))?
}

/// Submits a payment command to the coalescing queue and awaits its result.
pub async fn command(state: &Arc<State>, command: OwnedCommand) -> Result<Outcome, AppError> {
    let started = Instant::now();
    let (reply, answer) = tokio::sync::oneshot::channel();
    state.payments.submit(command, move |result| {
        let _ = reply.send(result);
    });
    let result = answer.await.unwrap_or_else(|_| {
        Err(AppError::refused(
            "app/command-aborted",
            "the command's server stopped before answering",
        ))
    });
    state
        .metrics
        .command_seconds
        .observe(started.elapsed().as_secs_f64());
    result
}
