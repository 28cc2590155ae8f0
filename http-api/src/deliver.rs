//! Sending webhook deliveries: claims the outbox's `webhook` messages, posts each signed to its
//! endpoint, and completes, defers (retries with backoff and jitter) or gives up on it. Runs on
//! its own tasks, apart from commands: a slow or dead receiver holds up only its deliveries.
//! One payment's deliveries to one endpoint go in version order: a delivery waits while an
//! earlier one to the same endpoint is pending.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::Semaphore;
use utoipa::ToSchema;

use app_ops::load_payment_at;
use core_npp::Timestamp;
use event_store::{Attempt, OutboxClaim, OutboxItem, OutboxQuery, OutboxStatus, StoreError};

use crate::state::State;
use crate::views::PaymentView;
use crate::webhooks::{
    DeliveryNote, Endpoint, SIGNATURE_HEADER, delivery_group, delivery_prefix, destination,
    signature,
};

/// The first retry comes this long after a failed attempt, by default (less up to a fifth of
/// jitter), and each later one twice as long after, up to [`DEFAULT_MAX_RETRY_INTERVAL`].
pub const DEFAULT_FIRST_RETRY: Duration = Duration::from_secs(5);
/// The longest wait between attempts, by default.
pub const DEFAULT_MAX_RETRY_INTERVAL: Duration = Duration::from_secs(3_600);
/// How long a delivery is retried before it is given up on (failed), by default: 24 hours.
pub const DEFAULT_RETRY_FOR: Duration = Duration::from_secs(24 * 3_600);
/// How long a receiver has to answer, by default.
pub const DEFAULT_DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// Deliveries to one endpoint claimed per round.
pub const DELIVERY_BATCH: usize = 16;
/// Deliveries to one endpoint in flight at once (each for a different payment): with at most
/// [`crate::webhooks::MAX_WEBHOOK_ENDPOINTS`] endpoints, at most 128 in all.
pub const MAX_CONCURRENT_DELIVERIES: usize = 4;
/// How often the endpoints are read again from the store (another process may change them).
const REFRESH_EVERY: Duration = Duration::from_secs(5);
/// How long the deliverer sleeps when nothing is due.
const IDLE_POLL: Duration = Duration::from_millis(100);

/// The retry schedule and limits of webhook deliveries.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    /// The wait after the first failed attempt.
    pub first_retry: Duration,
    /// The longest wait between attempts.
    pub max_interval: Duration,
    /// Retried this long after the event was committed, then given up on.
    pub retry_for: Duration,
    /// How long a receiver has to answer.
    pub timeout: Duration,
    /// This process's name in the outbox's leases.
    pub owner: String,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            first_retry: DEFAULT_FIRST_RETRY,
            max_interval: DEFAULT_MAX_RETRY_INTERVAL,
            retry_for: DEFAULT_RETRY_FOR,
            timeout: DEFAULT_DELIVERY_TIMEOUT,
            owner: "npp-serve-webhooks".to_owned(),
        }
    }
}

impl WebhookConfig {
    /// The wait after `attempts` failed attempts: `first_retry` doubled `attempts - 1` times, at
    /// most `max_interval`, less `jitter_permille` thousandths of a fifth of it (so the first
    /// retry comes within `first_retry`).
    pub fn backoff(&self, attempts: u32, jitter_permille: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(31);
        let wait = self
            .first_retry
            .saturating_mul(1u32 << doublings)
            .min(self.max_interval);
        // In nanoseconds, so that no product overflows whatever the configured wait.
        let jitter = wait.as_nanos() / 5 * u128::from(jitter_permille.min(1_000)) / 1_000;
        wait.saturating_sub(Duration::from_nanos(
            u64::try_from(jitter).unwrap_or(u64::MAX),
        ))
    }

    /// A lease long enough for one attempt and its bookkeeping.
    fn lease_nanos(&self) -> i64 {
        let lease = self.timeout.saturating_mul(3).max(Duration::from_secs(30));
        i64::try_from(lease.as_nanos()).unwrap_or(i64::MAX)
    }
}

/// What a receiver gets: the event, and the payment as `GET /v1/payments/{id}` showed it right
/// after the event.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, ToSchema)]
pub struct WebhookBody {
    /// The event's id, `PAYMENT_ID:VERSION`: the same in every attempt, so a receiver
    /// recognises a duplicate by it.
    pub event_id: String,
    /// The event's type (`PaymentIntentCreated`, `PaymentSettled`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// The payment.
    pub payment_id: String,
    /// Its state after the event.
    pub state: String,
    /// When the event occurred.
    pub occurred_at: String,
    /// The payment as of the event.
    pub payment: PaymentView,
}

/// What became of one attempt.
enum Attempted {
    /// Delivered or given up on: the next delivery of its payment may go.
    Settled,
    /// To be tried again at this time; later deliveries of its payment wait until then.
    Later(Timestamp),
    /// This process no longer holds the delivery's lease: another may be sending it.
    LeaseLost,
}

fn timestamp_after(now: Timestamp, wait: Duration) -> Timestamp {
    let nanos = i64::try_from(wait.as_nanos()).unwrap_or(i64::MAX);
    now.plus_nanos(nanos).unwrap_or(now)
}

fn random_permille() -> u32 {
    let mut bytes = [0u8; 4];
    // Without randomness the retry comes at the top of its window, which is still correct.
    let _ = getrandom::fill(&mut bytes);
    u32::from_le_bytes(bytes) % 1_000
}

/// Runs the deliverer until `stop` says so.
pub async fn run(
    state: Arc<State>,
    config: WebhookConfig,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let client = match reqwest::Client::builder()
        .timeout(config.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("npp-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(error = %e, "webhooks: no HTTP client; deliveries wait for a restart");
            return;
        }
    };
    let config = Arc::new(config);
    let mut workers = tokio::task::JoinSet::new();
    let mut running: std::collections::HashMap<tokio::task::Id, String> =
        std::collections::HashMap::new();
    let mut drained: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    let mut refreshed = tokio::time::Instant::now();
    while !*stop.borrow() {
        if refreshed.elapsed() >= REFRESH_EVERY {
            refreshed = tokio::time::Instant::now();
            let refreshing = crate::state::blocking(&state, |s| {
                s.webhooks
                    .refresh(s.store)
                    .map_err(crate::problem::Problem::from)
            });
            if let Err(e) = refreshing.await {
                tracing::warn!(error = ?e, "webhooks: could not re-read the endpoints");
            }
        }
        // A worker ends when its endpoint is removed and nothing of it is left pending.
        while let Some(done) = workers.try_join_next_with_id() {
            let id = done.map_or_else(|e| e.id(), |(id, ())| id);
            if let Some(endpoint) = running.remove(&id) {
                drained.insert(endpoint);
            }
        }
        for endpoint in state.webhooks.known() {
            let live = state.webhooks.get(&endpoint).is_some();
            if (drained.contains(&endpoint) && !live) || running.values().any(|e| *e == endpoint) {
                continue;
            }
            drained.remove(&endpoint);
            let (state, client, config, stop) = (
                Arc::clone(&state),
                client.clone(),
                Arc::clone(&config),
                stop.clone(),
            );
            let name = endpoint.clone();
            let task = workers.spawn(async move {
                work(&state, &client, &config, &name, stop).await;
            });
            running.insert(task.id(), endpoint);
        }
        tokio::select! {
            () = tokio::time::sleep(IDLE_POLL) => {}
            _ = stop.changed() => {}
        }
    }
}

/// One endpoint's deliveries, round after round: a receiver that is slow holds up only its own.
/// Returns once the endpoint is removed and none of its deliveries is left to give up on.
async fn work(
    state: &Arc<State>,
    client: &reqwest::Client,
    config: &Arc<WebhookConfig>,
    endpoint: &str,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let destination = destination(endpoint);
    while !*stop.borrow() {
        match claim(state, config, &destination).await {
            Ok(items) if items.is_empty() => {
                if state.webhooks.get(endpoint).is_none() {
                    return;
                }
            }
            Ok(items) => {
                deliver_round(state, client, config, items).await;
                continue;
            }
            Err(e) => {
                tracing::warn!(endpoint, error = %e, "webhooks: could not claim deliveries");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(IDLE_POLL) => {}
            _ = stop.changed() => {}
        }
    }
}

async fn store_call<T: Send + 'static>(
    state: &Arc<State>,
    work: impl FnOnce(&State) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    crate::state::off_runtime(state, work, |why| {
        StoreError::Unavailable(format!("a store call stopped: {why}"))
    })
    .await
}

async fn claim(
    state: &Arc<State>,
    config: &Arc<WebhookConfig>,
    destination: &str,
) -> Result<Vec<OutboxItem>, StoreError> {
    let (config, destination) = (Arc::clone(config), destination.to_owned());
    store_call(state, move |s| {
        s.store.claim_outbox(&OutboxClaim {
            owner: &config.owner,
            destination: &destination,
            streams: "",
            now: s.payments.clock().now(),
            lease_nanos: config.lease_nanos(),
            limit: DELIVERY_BATCH,
        })
    })
    .await
}

/// Delivers a claimed round: one task per (endpoint, payment), each in version order.
async fn deliver_round(
    state: &Arc<State>,
    client: &reqwest::Client,
    config: &Arc<WebhookConfig>,
    items: Vec<OutboxItem>,
) {
    let mut groups: BTreeMap<String, Vec<OutboxItem>> = BTreeMap::new();
    for item in items {
        let group = delivery_group(item.message.id()).to_owned();
        groups.entry(group).or_default().push(item);
    }
    let permits = Arc::new(Semaphore::new(MAX_CONCURRENT_DELIVERIES));
    // No attempt starts once half the lease has gone: what is left is claimed again, so a
    // delivery is never sent after another process may have taken it over.
    let deadline = tokio::time::Instant::now()
        + Duration::from_nanos(u64::try_from(config.lease_nanos() / 2).unwrap_or(0));
    let mut tasks = tokio::task::JoinSet::new();
    for (_, mut group) in groups {
        group.sort_by(|a, b| a.message.id().cmp(b.message.id()));
        let (state, client, config, permits) = (
            Arc::clone(state),
            client.clone(),
            Arc::clone(config),
            Arc::clone(&permits),
        );
        tasks.spawn(async move {
            let Ok(_permit) = permits.acquire_owned().await else {
                return;
            };
            deliver_group(&state, &client, &config, group, deadline).await;
        });
    }
    while tasks.join_next().await.is_some() {}
}

async fn deliver_group(
    state: &Arc<State>,
    client: &reqwest::Client,
    config: &Arc<WebhookConfig>,
    group: Vec<OutboxItem>,
    deadline: tokio::time::Instant,
) {
    let mut rest = group.into_iter();
    while let Some(item) = rest.next() {
        if tokio::time::Instant::now() >= deadline {
            return;
        }
        match attempt(state, client, config, &item).await {
            Ok(Attempted::Settled) => {}
            Ok(Attempted::LeaseLost) => return,
            Ok(Attempted::Later(until)) => {
                let why = format!("waits for the earlier delivery {}", item.message.id());
                for later in rest.by_ref() {
                    let (id, owner, why) = (
                        later.message.id().to_owned(),
                        config.owner.clone(),
                        why.clone(),
                    );
                    let delivery = id.clone();
                    let deferred = store_call(state, move |s| {
                        s.store
                            .defer_outbox(&id, &owner, until, &why, Attempt::NotMade)
                    });
                    if let Err(e) = deferred.await {
                        tracing::warn!(delivery = %delivery, error = %e, "webhooks: could not defer a delivery");
                    }
                }
                return;
            }
            Err(e) => {
                // The lease runs out and the delivery is claimed again; nothing is lost.
                tracing::warn!(delivery = item.message.id(), error = %e, "webhooks: store failure");
                return;
            }
        }
    }
}

/// Where a delivery stands before its attempt.
struct Prepared {
    endpoint: Endpoint,
    note: DeliveryNote,
    created_at: Timestamp,
    body: Vec<u8>,
    event_id: String,
}

enum Preparation {
    Ready(Box<Prepared>),
    /// An earlier delivery to the endpoint is pending; try again at this time.
    Wait(Timestamp, String),
    /// It can never be delivered, for this reason.
    Undeliverable(String),
}

/// Reads what the delivery needs: its endpoint, the payment as of the event, and whether an
/// earlier delivery of the payment to the endpoint is still pending.
fn prepare(state: &State, item: &OutboxItem) -> Result<Preparation, StoreError> {
    let Ok(note) = serde_json::from_str::<DeliveryNote>(item.message.payload()) else {
        return Ok(Preparation::Undeliverable(
            "the outbox message is not a webhook delivery note".into(),
        ));
    };
    let Some(endpoint) = state.webhooks.find(state.store, &note.endpoint_id)? else {
        return Ok(Preparation::Undeliverable(format!(
            "endpoint {} was removed",
            note.endpoint_id
        )));
    };
    let prefix = delivery_prefix(&endpoint.id, note.payment_id);
    let first = state.store.list_outbox(&OutboxQuery {
        destination: &destination(&endpoint.id),
        id_prefix: &prefix,
        status: Some(OutboxStatus::Pending),
        after: 0,
        limit: 1,
        stream: None,
    })?;
    let now = state.payments.clock().now();
    let created_at = match first.first() {
        Some(earlier) if earlier.message.id() != item.message.id() => {
            let until = earlier.not_before.map_or(now, |t| t.max(now));
            let until = timestamp_after(until, Duration::from_millis(50));
            return Ok(Preparation::Wait(
                until,
                format!("waits for the earlier delivery {}", earlier.message.id()),
            ));
        }
        Some(this) => this.created_at,
        None => now,
    };
    let payment = match load_payment_at(state.store, note.payment_id, note.version) {
        Ok(Some(loaded)) if loaded.version == note.version => loaded.payment,
        Ok(_) => {
            return Ok(Preparation::Undeliverable(format!(
                "payment {} has no version {}",
                note.payment_id, note.version
            )));
        }
        Err(app_ops::AppError::Store(e)) => return Err(e),
        Err(e) => return Ok(Preparation::Undeliverable(e.to_string())),
    };
    let event_id = note.event_id();
    let body = WebhookBody {
        event_id: event_id.clone(),
        kind: note.kind.clone(),
        payment_id: note.payment_id.to_string(),
        state: note.state.clone(),
        occurred_at: payment.last_occurred_at().to_string(),
        payment: PaymentView::of(&payment),
    };
    let body = serde_json::to_vec(&body).map_err(|e| StoreError::Unavailable(e.to_string()))?;
    Ok(Preparation::Ready(Box::new(Prepared {
        endpoint,
        note,
        created_at,
        body,
        event_id,
    })))
}

/// One attempt at one delivery, and what the outbox records of it.
async fn attempt(
    state: &Arc<State>,
    client: &reqwest::Client,
    config: &Arc<WebhookConfig>,
    item: &OutboxItem,
) -> Result<Attempted, StoreError> {
    let id = item.message.id().to_owned();
    let prepared = {
        let item = item.clone();
        store_call(state, move |s| prepare(s, &item)).await?
    };
    let prepared = match prepared {
        Preparation::Ready(prepared) => prepared,
        Preparation::Wait(until, why) => {
            defer(state, config, id, until, why, Attempt::NotMade).await?;
            return Ok(Attempted::Later(until));
        }
        Preparation::Undeliverable(why) => {
            give_up(state, config, id, why, Attempt::NotMade).await?;
            return Ok(Attempted::Settled);
        }
    };
    let now = state.payments.clock().now();
    let unix = i64::try_from(now.unix_nanos() / 1_000_000_000).unwrap_or(i64::MAX);
    let sent = client
        .post(&prepared.endpoint.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(
            SIGNATURE_HEADER,
            signature(&prepared.endpoint.secret, unix, &prepared.body),
        )
        .header("Npp-Event-Id", &prepared.event_id)
        .header("Npp-Delivery-Id", &id)
        .header(
            "Npp-Delivery-Attempt",
            item.attempts.saturating_add(1).to_string(),
        )
        .body(prepared.body.clone())
        .send()
        .await;
    let why = match sent {
        Ok(answer) if answer.status().is_success() => {
            let (owner, done) = (config.owner.clone(), id.clone());
            let completed =
                store_call(state, move |s| s.store.complete_outbox(&done, &owner, now)).await?;
            if !completed {
                // Past the lease (the receiver was slow): the later ones are left alone.
                return Ok(Attempted::LeaseLost);
            }
            state.metrics.delivery("delivered");
            return Ok(Attempted::Settled);
        }
        Ok(answer) if answer.status() == reqwest::StatusCode::GONE => {
            give_up(
                state,
                config,
                id,
                format!(
                    "{} answered 410 Gone: it wants no more deliveries (not retried)",
                    prepared.endpoint.url
                ),
                Attempt::Failed,
            )
            .await?;
            return Ok(Attempted::Settled);
        }
        Ok(answer) => format!("{} answered {}", prepared.endpoint.url, answer.status()),
        Err(e) if e.is_timeout() => format!(
            "{} did not answer within {} ms",
            prepared.endpoint.url,
            config.timeout.as_millis()
        ),
        Err(e) => format!("could not reach {}: {e}", prepared.endpoint.url),
    };
    let age = Duration::from_nanos(
        u64::try_from(
            now.unix_nanos()
                .saturating_sub(prepared.created_at.unix_nanos()),
        )
        .unwrap_or(0),
    );
    if age >= config.retry_for {
        let why = format!(
            "{why}; given up after {} attempts over {} s (the {} s retry window), event {} of {}",
            item.attempts.saturating_add(1),
            age.as_secs(),
            config.retry_for.as_secs(),
            prepared.note.version,
            prepared.note.payment_id
        );
        give_up(state, config, id, why, Attempt::Failed).await?;
        return Ok(Attempted::Settled);
    }
    let attempts = item.attempts.saturating_add(1);
    let until = timestamp_after(now, config.backoff(attempts, random_permille()));
    defer(state, config, id, until, why, Attempt::Failed).await?;
    state.metrics.delivery("retried");
    Ok(Attempted::Later(until))
}

async fn defer(
    state: &Arc<State>,
    config: &Arc<WebhookConfig>,
    id: String,
    until: Timestamp,
    why: String,
    attempt: Attempt,
) -> Result<(), StoreError> {
    let owner = config.owner.clone();
    store_call(state, move |s| {
        s.store.defer_outbox(&id, &owner, until, &why, attempt)
    })
    .await
    .map(|_| ())
}

async fn give_up(
    state: &Arc<State>,
    config: &Arc<WebhookConfig>,
    id: String,
    why: String,
    attempt: Attempt,
) -> Result<(), StoreError> {
    tracing::warn!(delivery = %id, why = %why, "webhooks: delivery failed");
    let owner = config.owner.clone();
    let failed = store_call(state, move |s| {
        let now = s.payments.clock().now();
        s.store.fail_outbox(&id, &owner, now, &why, attempt)
    })
    .await?;
    if failed {
        state.metrics.delivery("failed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_from_the_first_up_to_the_longest_wait() {
        let config = WebhookConfig::default();
        let waits: Vec<u64> = (1..=12).map(|n| config.backoff(n, 0).as_secs()).collect();
        assert_eq!(
            waits,
            [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]
        );
        assert_eq!(config.backoff(u32::MAX, 0), DEFAULT_MAX_RETRY_INTERVAL);
    }

    #[test]
    fn jitter_takes_at_most_a_fifth_so_the_first_retry_comes_within_its_wait() {
        let config = WebhookConfig::default();
        assert_eq!(config.backoff(1, 999), Duration::from_millis(4_001));
        assert_eq!(config.backoff(1, 5_000), Duration::from_secs(4));
        for permille in [0, 1, 500, 999] {
            let wait = config.backoff(1, permille);
            assert!(wait <= DEFAULT_FIRST_RETRY && wait >= DEFAULT_FIRST_RETRY * 4 / 5);
        }
    }

    #[test]
    fn the_default_schedule_retries_for_a_day() {
        // Attempts until the window closes: 5 s doubling to an hour, then hourly.
        let config = WebhookConfig::default();
        let (mut elapsed, mut attempts) = (Duration::ZERO, 1u32);
        while elapsed < config.retry_for {
            elapsed += config.backoff(attempts, 0);
            attempts += 1;
        }
        // 5 s to 2,560 s is 10 retries (85 min), then 23 hourly: 34 attempts in all.
        assert_eq!(attempts, 34, "{elapsed:?}");
    }
}
