//! `GET /metrics`: Prometheus text. Requests by route and status, request and command latency,
//! payments by state, the outbox's depth and oldest message, the orchestrator's tick lag, and the
//! command queue.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of a request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route's pattern (e.g. `/v1/payments/{id}`), never the raw path.
    pub route: String,
    /// The method.
    pub method: String,
    /// The status answered.
    pub status: u16,
}

/// Labels naming a route.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The route's pattern.
    pub route: String,
}

/// Labels naming a state.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    /// The payment state.
    pub state: String,
}

/// Labels of a webhook delivery attempt's outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    /// `delivered`, `retried` (deferred to a later attempt) or `failed` (given up on).
    pub outcome: String,
}

/// Every metric the server keeps.
pub struct Metrics {
    registry: Registry,
    /// Requests answered.
    pub requests: Family<RequestLabels, Counter>,
    /// Request latency, seconds.
    pub request_seconds: Family<RouteLabels, Histogram>,
    /// Latency of commands handed to the application layer, seconds.
    pub command_seconds: Histogram,
    /// Payments by state (as of the last list catch-up).
    pub payments: Family<StateLabels, Gauge>,
    /// Outbox messages not yet delivered.
    pub outbox_pending: Gauge,
    /// Seconds since the oldest undelivered outbox message was written.
    pub outbox_oldest_seconds: Gauge<f64, AtomicU64>,
    /// How late the orchestrator's last tick started after it fell due, seconds.
    pub tick_lag_seconds: Gauge<f64, AtomicU64>,
    /// Orchestrator ticks run.
    pub ticks: Counter,
    /// Orchestrator ticks that failed (the loop goes on; the log says why).
    pub tick_failures: Counter,
    /// Commands waiting for a serving thread.
    pub commands_queued: Gauge,
    /// Payment commands run since the server started.
    pub commands_run: Gauge,
    /// Store hand-offs they ran in since the server started (commands per round is the
    /// coalescing: how many requests shared one commit).
    pub command_rounds: Gauge,
    /// Requests refused because the server was at its concurrency limit.
    pub overloaded: Counter,
    /// Webhook delivery attempts by outcome.
    pub webhook_deliveries: Family<DeliveryLabels, Counter>,
    /// Webhook deliveries pending (as of the last scrape).
    pub webhook_pending: Gauge,
    /// Seconds since the oldest pending webhook delivery was committed.
    pub webhook_oldest_seconds: Gauge<f64, AtomicU64>,
}

fn latency_buckets() -> impl Iterator<Item = f64> {
    // 0.1 ms to about 3.3 s.
    exponential_buckets(0.0001, 2.0, 16)
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("npp");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route pattern, method and status",
            requests.clone(),
        );
        let request_seconds = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(latency_buckets())
        });
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route pattern",
            request_seconds.clone(),
        );
        let command_seconds = Histogram::new(latency_buckets());
        registry.register(
            "command_duration_seconds",
            "Latency of payment commands, from submission to result",
            command_seconds.clone(),
        );
        let payments = Family::<StateLabels, Gauge>::default();
        registry.register("payments", "Payments by state", payments.clone());
        let outbox_pending = Gauge::default();
        registry.register(
            "outbox_pending",
            "Outbox messages not yet delivered to the rail",
            outbox_pending.clone(),
        );
        let outbox_oldest_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "outbox_oldest_pending_seconds",
            "Age of the oldest undelivered outbox message (0 when none)",
            outbox_oldest_seconds.clone(),
        );
        let tick_lag_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "orchestrator_tick_lag_seconds",
            "How late the orchestrator's last tick started after it fell due",
            tick_lag_seconds.clone(),
        );
        let ticks = Counter::default();
        registry.register(
            "orchestrator_ticks",
            "Orchestrator ticks run",
            ticks.clone(),
        );
        let tick_failures = Counter::default();
        registry.register(
            "orchestrator_tick_failures",
            "Orchestrator ticks that failed",
            tick_failures.clone(),
        );
        let commands_queued = Gauge::default();
        registry.register(
            "commands_queued",
            "Payment commands waiting for a serving thread",
            commands_queued.clone(),
        );
        let commands_run = Gauge::default();
        registry.register(
            "commands_run",
            "Payment commands run since the server started",
            commands_run.clone(),
        );
        let command_rounds = Gauge::default();
        registry.register(
            "command_rounds",
            "Store hand-offs (commits) those commands shared, since the server started",
            command_rounds.clone(),
        );
        let overloaded = Counter::default();
        registry.register(
            "http_overloaded",
            "Requests refused with 503 at the concurrency limit",
            overloaded.clone(),
        );
        let webhook_deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "webhook_deliveries",
            "Webhook delivery attempts by outcome (delivered, retried, failed)",
            webhook_deliveries.clone(),
        );
        let webhook_pending = Gauge::default();
        registry.register(
            "webhook_pending",
            "Webhook deliveries not yet delivered or given up on (counted up to 1,000)",
            webhook_pending.clone(),
        );
        let webhook_oldest_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "webhook_oldest_pending_seconds",
            "Age of the oldest pending webhook delivery (0 when none)",
            webhook_oldest_seconds.clone(),
        );
        Self {
            registry,
            requests,
            request_seconds,
            command_seconds,
            payments,
            outbox_pending,
            outbox_oldest_seconds,
            tick_lag_seconds,
            ticks,
            tick_failures,
            commands_queued,
            commands_run,
            command_rounds,
            overloaded,
            webhook_deliveries,
            webhook_pending,
            webhook_oldest_seconds,
        }
    }
}

impl Metrics {
    /// Counts one answered request.
    pub fn request(&self, route: &str, method: &str, status: u16, took: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                method: method.to_owned(),
                status,
            })
            .inc();
        self.request_seconds
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    /// Counts one webhook delivery attempt's outcome.
    pub fn delivery(&self, outcome: &str) {
        self.webhook_deliveries
            .get_or_create(&DeliveryLabels {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}
