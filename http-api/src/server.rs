//! Running the API: the router with its limits, the threads that serve payment commands, the
//! in-process orchestrator and simulated participant, and a graceful stop on SIGTERM or Ctrl-C
//! (stop accepting, finish requests in flight, let the writer commit, return).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tower::ServiceBuilder;

use app_ops::{Payments, PolicyGate, SystemClock, ensure_in_force};
use core_npp::Money;
use event_store::EventStore;
use exports::PackSigningKey;
use orchestrator::{Config as OrchestratorConfig, Orchestrator, Router as RailRouter};
use simulator::{FaultProfile, Participant};

use crate::console_routes;
use crate::deliver::WebhookConfig;
use crate::error::ServeError;
use crate::index::PaymentIndex;
use crate::keys::KeyRing;
use crate::metrics::Metrics;
use crate::problem::Problem;
use crate::routes;
use crate::state::{Limits, State};
use crate::webhook_routes;
use crate::webhooks::Webhooks;

/// Threads running submitted payment commands: while one waits for its commit, another
/// decides the next round.
pub const COMMAND_SERVERS: usize = 2;
/// The longest the orchestrator sleeps between ticks when nothing falls due sooner.
pub const MAX_TICK_INTERVAL: Duration = Duration::from_millis(20);
/// How long the orchestrator waits after a failed tick before trying again.
const TICK_RETRY: Duration = Duration::from_millis(500);

/// The in-process orchestrator and its simulated NPP participant.
#[derive(Clone, Debug)]
pub struct OrchestratorSetup {
    /// Outcomes of the simulated participant follow from this seed.
    pub seed: u64,
    /// The participant answers after about this many milliseconds.
    pub participant_latency_ms: u32,
    /// The orchestrator's timers and limits.
    pub config: OrchestratorConfig,
    /// Funds the simulated core banking system reports for every payer.
    pub available_funds: Money,
}

impl Default for OrchestratorSetup {
    fn default() -> Self {
        Self {
            seed: 1,
            participant_latency_ms: 5,
            config: OrchestratorConfig {
                worker_id: "npp-serve".to_owned(),
                ..OrchestratorConfig::default()
            },
            available_funds: Money::from_minor_units(1_000_000_000_000),
        }
    }
}

/// What the server runs with.
pub struct Setup {
    /// The store; it lives as long as the process.
    pub store: &'static dyn EventStore,
    /// The store, as described to operators (`/readyz`).
    pub describe_store: String,
    /// The operator policy; loaded into the store if it holds none (else it must be the one it
    /// holds: `npp policy load` changes it).
    pub policy: &'static dyn PolicyGate,
    /// The API keys.
    pub keys: KeyRing,
    /// Signs evidence packs, when given.
    pub signing_key: Option<PackSigningKey>,
    /// The limits.
    pub limits: Limits,
    /// The orchestrator to run in-process, if any.
    pub orchestrator: Option<OrchestratorSetup>,
    /// The webhook deliverer's schedule and limits.
    pub webhooks: WebhookConfig,
    /// How often the console's pictures are sampled (`GET /v1/stats`).
    pub stats_interval: Duration,
}

/// The router over `state`, with every limit layered on.
pub fn router(state: Arc<State>) -> Router {
    let limits = state.limits.clone();
    let overload_state = Arc::clone(&state);
    let api = Router::new()
        .route(
            "/v1/payments",
            post(routes::create_payment).get(routes::list_payments),
        )
        .route("/v1/payments/{id}", get(routes::get_payment))
        .route("/v1/payments/{id}/events", get(routes::payment_events))
        .route("/v1/payments/{id}/evidence", get(routes::payment_evidence))
        .route("/v1/payments/{id}/timeline", get(console_routes::timeline))
        .route("/v1/evidence/verifications", post(console_routes::verify))
        .route("/v1/stats", get(console_routes::stats))
        .route("/v1/me", get(console_routes::me))
        .route("/console", get(console_routes::page))
        .route("/console/", get(console_routes::page))
        .route("/console/app.js", get(console_routes::script))
        .route("/console/app.css", get(console_routes::style))
        .route("/v1/operator-queue", get(routes::operator_queue))
        .route(
            "/v1/operator-requests",
            post(routes::create_request).get(routes::list_requests),
        )
        .route("/v1/operator-requests/{id}", get(routes::get_request))
        .route("/v1/operator-requests/{id}/approve", post(routes::approve))
        .route("/v1/operator-requests/{id}/reject", post(routes::reject))
        .route(
            "/v1/webhook-endpoints",
            post(webhook_routes::create_endpoint).get(webhook_routes::list_endpoints),
        )
        .route(
            "/v1/webhook-endpoints/{id}",
            axum::routing::delete(webhook_routes::delete_endpoint),
        )
        .route(
            "/v1/webhook-deliveries",
            get(webhook_routes::list_deliveries),
        )
        .route(
            "/v1/webhook-deliveries/{id}/redeliver",
            post(webhook_routes::redeliver),
        )
        .route("/healthz", get(routes::healthz))
        .route("/readyz", get(routes::readyz))
        .route("/metrics", get(routes::metrics))
        .route("/openapi.json", get(routes::openapi))
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(move |error: tower::BoxError| {
                    let state = Arc::clone(&overload_state);
                    let timeout = limits.request_timeout;
                    async move { overloaded(&state, &error, timeout) }
                }))
                .load_shed()
                .concurrency_limit(limits.max_concurrent_requests)
                .timeout(limits.request_timeout),
        );
    api.layer(axum::middleware::from_fn_with_state(
        Arc::clone(&state),
        crate::request_id::middleware,
    ))
    .with_state(state)
}

fn overloaded(state: &State, error: &tower::BoxError, timeout: Duration) -> Problem {
    if error.is::<tower::timeout::error::Elapsed>() {
        return Problem::unavailable(format!(
            "the request took longer than {} s; a payment it created is kept, and the same \
             Idempotency-Key returns it",
            timeout.as_secs()
        ));
    }
    state.metrics.overloaded.inc();
    Problem::unavailable(format!(
        "the server is handling {} requests, its limit; retry after the Retry-After seconds",
        state.limits.max_concurrent_requests
    ))
}

/// Builds the shared state: the store's policy made sure of, the handlers, the payments list.
pub fn state(setup: Setup, escalate_after: Duration) -> Result<Arc<State>, ServeError> {
    let clock: &'static SystemClock = &SystemClock;
    let webhooks: &'static Webhooks = Box::leak(Box::new(
        Webhooks::load(setup.store).map_err(|e| ServeError::App(e.into()))?,
    ));
    let payments: &'static Payments<'static> = Box::leak(Box::new(
        Payments::new(setup.store, clock).with_announcer(webhooks),
    ));
    let started = app_ops::Clock::now(clock);
    ensure_in_force(setup.store, setup.policy, started)?;
    let mut index = PaymentIndex::default();
    index.time_settlements_since(started);
    Ok(Arc::new(State {
        store: setup.store,
        describe_store: setup.describe_store,
        payments,
        policy: setup.policy,
        keys: setup.keys,
        signing_key: setup.signing_key,
        limits: setup.limits,
        index: Mutex::new(index),
        inflight: Mutex::new(HashSet::new()),
        metrics: Metrics::default(),
        escalate_after,
        webhooks,
        samples: crate::stats::Samples::default(),
        stats_interval: setup.stats_interval.max(crate::stats::MIN_INTERVAL),
    }))
}

/// Runs the API on `listener` until `stop` resolves (or SIGTERM, or Ctrl-C), with the command
/// servers and, if set up, the orchestrator. `ready` is called with the address once serving.
pub fn run(
    mut setup: Setup,
    listener: std::net::TcpListener,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    let orchestrator = setup.orchestrator.take();
    let escalate_after = orchestrator.as_ref().map_or(Duration::from_secs(60), |o| {
        Duration::from_nanos(u64::try_from(o.config.escalate_after).unwrap_or(60_000_000_000))
    });
    let grace = setup.limits.shutdown_grace;
    let webhook_config = setup.webhooks.clone();
    let state = state(setup, escalate_after)?;
    let addr = listener
        .local_addr()
        .map_err(|e| ServeError::Io(e.to_string()))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| ServeError::Io(e.to_string()))?;
    let stopping = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for n in 0..COMMAND_SERVERS {
            let payments = state.payments;
            std::thread::Builder::new()
                .name(format!("npp-commands-{n}"))
                .spawn_scoped(scope, move || payments.serve_commands())
                .map_err(|e| ServeError::Runtime(e.to_string()))?;
        }
        if !state
            .payments
            .wait_for_servers(COMMAND_SERVERS, Duration::from_secs(10))
        {
            state.payments.stop_serving();
            return Err(ServeError::Runtime(
                "the command servers did not start".into(),
            ));
        }
        let orchestrator_thread = orchestrator
            .map(|setup| {
                let state = Arc::clone(&state);
                let stopping = &stopping;
                std::thread::Builder::new()
                    .name("npp-orchestrator".into())
                    .spawn_scoped(scope, move || orchestrate(&state, &setup, stopping))
                    .map_err(|e| ServeError::Runtime(e.to_string()))
            })
            .transpose()?;
        let served = serve_http(
            Arc::clone(&state),
            listener,
            grace,
            addr,
            webhook_config,
            ready,
        );
        stopping.store(true, Ordering::Relaxed);
        let orchestrated = orchestrator_thread
            .map(|t| {
                t.join()
                    .unwrap_or_else(|_| Err("the orchestrator panicked".into()))
            })
            .transpose();
        state.payments.stop_serving();
        served?;
        orchestrated.map_err(ServeError::Orchestrator)?;
        Ok(())
    })
}

fn serve_http(
    state: Arc<State>,
    listener: std::net::TcpListener,
    grace: Duration,
    addr: SocketAddr,
    webhooks: WebhookConfig,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("npp-http")
        .build()
        .map_err(|e| ServeError::Runtime(e.to_string()))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)
            .map_err(|e| ServeError::Listen { addr: addr.to_string(), why: e.to_string() })?;
        let app = router(Arc::clone(&state));
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        // Deliveries run apart from requests and commands, and stop with the server.
        let sampler = tokio::spawn(crate::stats::run(Arc::clone(&state), stop_rx.clone()));
        let deliverer = tokio::spawn(crate::deliver::run(state, webhooks, stop_rx.clone()));
        let server = axum::serve(listener, app).with_graceful_shutdown(async move {
            shutdown_signal().await;
            tracing::info!("stopping: no new connections; finishing requests in flight");
            let _ = stop_tx.send(true);
        });
        ready(addr);
        let mut stop_rx = stop_rx;
        let serving = tokio::spawn(async move { server.await });
        // Once asked to stop, requests in flight have `grace` to finish.
        let finished = async {
            let _ = stop_rx.wait_for(|stopped| *stopped).await;
            tokio::time::sleep(grace).await;
        };
        let stopped = tokio::select! {
            done = serving => match done {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(ServeError::Io(e.to_string())),
                Err(e) => Err(ServeError::Io(e.to_string())),
            },
            () = finished => {
                tracing::warn!(seconds = grace.as_secs(), "requests still in flight after the grace period; stopping anyway");
                Ok(())
            }
        };
        // A delivery cut short is claimed again once its lease ends: at least once, never lost.
        deliverer.abort();
        sampler.abort();
        stopped
    })
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}

/// The orchestrator loop: tick, then sleep until the next timer or reply falls due (at most
/// [`MAX_TICK_INTERVAL`]), until asked to stop. A failed tick is logged and retried.
fn orchestrate(
    state: &State,
    setup: &OrchestratorSetup,
    stopping: &AtomicBool,
) -> Result<(), String> {
    let clock = SystemClock;
    let participant = Participant::new(
        state.store,
        setup.seed,
        setup.participant_latency_ms,
        FaultProfile::None,
    );
    let funds = setup.available_funds;
    let mut orchestrator = Orchestrator::new(
        state.store,
        &clock,
        &participant,
        &funds,
        RailRouter::default(),
        setup.config.clone(),
    )
    .with_announcer(state.webhooks);
    let mut due = Instant::now();
    while !stopping.load(Ordering::Relaxed) {
        let started = Instant::now();
        state
            .metrics
            .tick_lag_seconds
            .set(started.saturating_duration_since(due).as_secs_f64());
        state.metrics.ticks.inc();
        if let Err(e) = orchestrator.tick() {
            state.metrics.tick_failures.inc();
            tracing::error!(error = %e, "orchestrator tick failed; trying again shortly");
            std::thread::sleep(TICK_RETRY);
            due = Instant::now();
            continue;
        }
        let now = app_ops::Clock::now(&clock);
        let next = [orchestrator.next_timer(), participant.next_due()]
            .into_iter()
            .flatten()
            .min()
            .map_or(MAX_TICK_INTERVAL, |at| {
                let nanos = at.unix_nanos().saturating_sub(now.unix_nanos()).max(0);
                Duration::from_nanos(u64::try_from(nanos).unwrap_or(0)).min(MAX_TICK_INTERVAL)
            });
        due = Instant::now() + next;
        std::thread::sleep(next);
    }
    Ok(())
}
