//! `npp loadtest --http URL`: payments created over HTTP against a running `npp serve`, on
//! keep-alive connections, closed loop or at `--rate`; with `--settle`, then followed until each
//! is final, for the end-to-end figure (created over HTTP, settled by the in-process participant).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use crate::latency::Histogram;

/// The most connections a run may open.
pub const MAX_CONNECTIONS: usize = 4_096;
/// How long a run waits for its payments to be final, at most.
const SETTLE_LIMIT: Duration = Duration::from_secs(600);
/// Payments per page when following them through the list (the API's most).
const LIST_PAGE: usize = 500;
/// Pause between rounds of looking at unsettled payments.
const SETTLE_POLL: Duration = Duration::from_millis(100);

/// What to run.
pub struct HttpRun {
    pub url: String,
    pub token: String,
    pub payments: u64,
    pub connections: usize,
    pub rate: Option<u64>,
    pub settle: bool,
}

/// The figures; `--json` prints them as one object.
#[derive(Serialize)]
pub struct HttpReport {
    pub mode: &'static str,
    pub url: String,
    pub payments: u64,
    pub connections: usize,
    pub rate: Option<u64>,
    /// Creates answered 201.
    pub created: u64,
    /// Answers other than 201, by status (0: the connection failed).
    pub refused: Vec<(u16, u64)>,
    pub seconds: f64,
    pub creates_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    /// With `--settle`: seconds from the first create until every payment was final.
    pub settled_seconds: Option<f64>,
    /// With `--settle`: payments per second, created over HTTP and final.
    pub end_to_end_per_sec: Option<f64>,
    /// With `--settle`: final payments by state.
    pub final_states: Vec<(String, u64)>,
}

fn body(index: u64) -> Value {
    json!({
        "amount": 1_000 + (index % 9_000),
        "currency": "AUD",
        "debtor": {"bsb": "062-000", "account": format!("{:08}", index % 100_000_000), "name": "Load Test Payer"},
        "creditor": {"bsb": "633-000", "account": "0012345", "name": "Load Test Payee"},
        "remittance_information": format!("loadtest {index}")
    })
}

struct Shared {
    run: HttpRun,
    client: reqwest::Client,
    next: AtomicU64,
    started: Instant,
    /// Makes this run's idempotency keys unique across runs.
    nonce: u64,
}

struct TaskResult {
    latencies: Histogram,
    created: Vec<String>,
    refused: std::collections::BTreeMap<u16, u64>,
}

async fn creator(shared: Arc<Shared>) -> TaskResult {
    let mut result = TaskResult {
        latencies: Histogram::default(),
        created: Vec::new(),
        refused: std::collections::BTreeMap::new(),
    };
    let endpoint = format!("{}/v1/payments", shared.run.url);
    loop {
        let index = shared.next.fetch_add(1, Ordering::Relaxed);
        if index >= shared.run.payments {
            return result;
        }
        if let Some(rate) = shared.run.rate {
            let due = Duration::from_nanos(index.saturating_mul(1_000_000_000) / rate.max(1));
            if let Some(wait) = due.checked_sub(shared.started.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
        let started = Instant::now();
        let sent = shared
            .client
            .post(&endpoint)
            .bearer_auth(&shared.run.token)
            .header("Idempotency-Key", format!("lt-{:x}-{index}", shared.nonce))
            .json(&body(index))
            .send()
            .await;
        let status = match sent {
            Ok(response) => {
                let status = response.status().as_u16();
                let text = response.text().await.unwrap_or_default();
                if status == 201
                    && shared.run.settle
                    && let Some(id) = string_field(&text, "payment_id")
                {
                    result.created.push(id);
                }
                status
            }
            Err(_) => 0,
        };
        result
            .latencies
            .record(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
        if status != 201 {
            *result.refused.entry(status).or_default() += 1;
        }
    }
}

fn is_final(state: &str) -> bool {
    matches!(state, "SETTLED" | "FAILED" | "EXPIRED")
}

/// Walks the payments list (pages of [`LIST_PAGE`]) until every payment created is final; the
/// time that took and the final states. Each round starts at the first page that still held a
/// waiting payment, so a round is a few requests however many payments the store holds, and
/// following them takes little from the server that is settling them. A failed request (a 503
/// from a busy server, a dropped connection) is tried again next round, until [`SETTLE_LIMIT`].
async fn settle(
    shared: &Arc<Shared>,
    ids: Vec<String>,
) -> Result<(Instant, Vec<(String, u64)>), String> {
    let mut waiting: std::collections::HashSet<String> = ids.into_iter().collect();
    let mut states: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    let deadline = Instant::now() + SETTLE_LIMIT;
    let mut start: Option<String> = None;
    let mut last_error = String::new();
    loop {
        let mut after = start.clone();
        let mut first_waiting: Option<Option<String>> = None;
        loop {
            let mut url = format!("{}/v1/payments?limit={LIST_PAGE}", shared.run.url);
            if let Some(cursor) = &after {
                url.push_str("&after=");
                url.push_str(cursor);
            }
            let page = match list_page(shared, &url).await {
                Ok(page) => page,
                Err(e) => {
                    last_error = e;
                    break;
                }
            };
            let mut still_here = false;
            for (id, state) in page.payments {
                if !waiting.contains(&id) {
                    continue;
                }
                if is_final(&state) {
                    waiting.remove(&id);
                    *states.entry(state).or_default() += 1;
                } else {
                    still_here = true;
                }
            }
            if still_here && first_waiting.is_none() {
                first_waiting = Some(after.clone());
            }
            match page.next {
                Some(next) if !waiting.is_empty() => after = Some(next),
                _ => break,
            }
        }
        if waiting.is_empty() {
            return Ok((Instant::now(), states.into_iter().collect()));
        }
        if let Some(cursor) = first_waiting {
            start = cursor;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{} payments were not final after {} s{}",
                waiting.len(),
                SETTLE_LIMIT.as_secs(),
                if last_error.is_empty() {
                    String::new()
                } else {
                    format!(" (last failed request: {last_error})")
                }
            ));
        }
        tokio::time::sleep(SETTLE_POLL).await;
    }
}

/// One page of `GET /v1/payments`: (id, state) pairs and the next cursor.
struct ListPage {
    payments: Vec<(String, String)>,
    next: Option<String>,
}

async fn list_page(shared: &Shared, url: &str) -> Result<ListPage, String> {
    let response = shared
        .client
        .get(url)
        .bearer_auth(&shared.run.token)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    if !status.is_success() {
        return Err(format!("GET {url}: {status}: {text}"));
    }
    let value: Value =
        serde_json::from_str(&text).map_err(|e| format!("GET {url}: not JSON: {e}"))?;
    let payments = value
        .get("payments")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("GET {url}: no payments array"))?
        .iter()
        .filter_map(|p| {
            let id = p.get("payment_id")?.as_str()?;
            let state = p.get("state")?.as_str()?;
            Some((id.to_owned(), state.to_owned()))
        })
        .collect();
    let next = value
        .get("next")
        .and_then(Value::as_str)
        .map(ToOwned::to_owned);
    Ok(ListPage { payments, next })
}

#[allow(clippy::float_arithmetic, clippy::cast_precision_loss)]
pub fn run(run: HttpRun) -> Result<HttpReport, String> {
    if run.connections == 0 || run.connections > MAX_CONNECTIONS {
        return Err(format!(
            "--concurrency must be 1 to {MAX_CONNECTIONS} connections"
        ));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(run.connections)
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())?;
    let mut nonce_bytes = [0u8; 8];
    getrandom::fill(&mut nonce_bytes).map_err(|e| e.to_string())?;
    let connections = run.connections;
    let shared = Arc::new(Shared {
        run,
        client,
        next: AtomicU64::new(0),
        started: Instant::now(),
        nonce: u64::from_le_bytes(nonce_bytes),
    });
    runtime.block_on(async move {
        let tasks: Vec<_> = (0..connections)
            .map(|_| tokio::spawn(creator(Arc::clone(&shared))))
            .collect();
        let mut latencies = Histogram::default();
        let mut created = Vec::new();
        let mut refused = std::collections::BTreeMap::new();
        for task in tasks {
            let result = task.await.map_err(|e| e.to_string())?;
            latencies.merge(&result.latencies);
            created.extend(result.created);
            for (status, count) in result.refused {
                *refused.entry(status).or_default() += count;
            }
        }
        let seconds = shared.started.elapsed().as_secs_f64();
        let ok = shared.run.payments - refused.values().sum::<u64>();
        let (settled_seconds, end_to_end, final_states) = if shared.run.settle {
            let count = created.len() as f64;
            let (at, states) = settle(&shared, created).await?;
            let took = at.duration_since(shared.started).as_secs_f64();
            (Some(took), Some(count / took.max(1e-9)), states)
        } else {
            (None, None, Vec::new())
        };
        let pct = |per_mille: u64| f64::from(latencies.quantile(per_mille)) / 1000.0;
        Ok(HttpReport {
            mode: "http",
            url: shared.run.url.clone(),
            payments: shared.run.payments,
            connections,
            rate: shared.run.rate,
            created: ok,
            refused: refused.into_iter().collect(),
            seconds,
            creates_per_sec: ok as f64 / seconds.max(1e-9),
            p50_ms: pct(500),
            p99_ms: pct(990),
            p999_ms: pct(999),
            settled_seconds,
            end_to_end_per_sec: end_to_end,
            final_states,
        })
    })
}

/// The report for people.
pub fn print(report: &HttpReport) {
    outln!("target                {} (HTTP)", report.url);
    outln!(
        "mode                  {}, {} connections",
        report.rate.map_or_else(
            || "closed loop".to_owned(),
            |r| format!("open loop at {r}/s")
        ),
        report.connections
    );
    outln!(
        "payments              {} ({} created)",
        report.payments,
        report.created
    );
    if !report.refused.is_empty() {
        let refused: Vec<String> = report
            .refused
            .iter()
            .map(|(status, count)| {
                format!(
                    "{count} x {}",
                    if *status == 0 {
                        "no answer".to_owned()
                    } else {
                        status.to_string()
                    }
                )
            })
            .collect();
        outln!("not created           {}", refused.join(", "));
    }
    outln!("seconds               {:.2}", report.seconds);
    outln!("creates per second    {:.0}", report.creates_per_sec);
    outln!(
        "create latency        p50 {:.3} ms   p99 {:.3} ms   p999 {:.3} ms",
        report.p50_ms,
        report.p99_ms,
        report.p999_ms
    );
    if let (Some(seconds), Some(rate)) = (report.settled_seconds, report.end_to_end_per_sec) {
        let states: Vec<String> = report
            .final_states
            .iter()
            .map(|(s, n)| format!("{n} {s}"))
            .collect();
        outln!(
            "all final after       {seconds:.2} s ({})",
            states.join(", ")
        );
        outln!("end to end per second {rate:.0}");
    }
}

/// The string `field` of a JSON object answer, if the answer is one and has it.
fn string_field(text: &str, field: &str) -> Option<String> {
    serde_json::from_str::<Value>(text)
        .ok()?
        .get(field)?
        .as_str()
        .map(ToOwned::to_owned)
}
