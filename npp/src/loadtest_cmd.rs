//! `npp loadtest`: the seed's mix (85% settle, 10% fail, 3% fail then retried through an approved
//! operator action, 2% fail late after acknowledgement) through the production command handlers
//! on a chosen store, closed-loop or at a fixed rate, with latency percentiles and peak memory.

// Throughput, latency and memory are measurements, not money: the one module where floats belong.
#![allow(clippy::float_arithmetic, clippy::cast_precision_loss)]

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use app_ops::{
    Command, NewIntent, OperatorActions, OpsAction, OwnedCommand, Payments, RailOutcome,
    SystemClock, TomlPolicy,
};
use core_npp::{
    AccountId, AttemptId, AttemptLimit, Currency, FailureReason, FreeText, IdempotencyKey, Money,
    OperatorId, PaymentIntentId, SettlementRef,
};
use event_store::EventStore;
use serde::Serialize;

use crate::latency::Histogram;
use store::{MemoryStore, OpenMode, PostgresConfig, PostgresStore, SqliteStore};

const POLICY: &str = "version = \"loadtest\"\n[operators]\nalice = [\"requester\"]\nbob = [\"approver\"]\n\
[roles.requester]\nrequest = [\"retry\"]\n[roles.approver]\napprove = [\"retry\"]\n";

/// The most threads replaying payments after the run (as many as the callers, up to this).
const MAX_VERIFIERS: usize = 32;

/// The most callers a run may have (`--concurrency`): each is a task or a thread.
const MAX_CONCURRENCY: u64 = 65_536;

#[derive(clap::Args, Debug)]
pub struct LoadtestArgs {
    /// The store: memory, sqlite (a scratch file unless --db) or postgres (--database-url).
    #[arg(long, value_parser = ["memory", "sqlite", "postgres"], required_unless_present = "http",
          conflicts_with = "http")]
    store: Option<String>,
    /// Instead of a store: create payments over HTTP against a running `npp serve` at this URL
    /// (e.g. http://127.0.0.1:8080), on `--concurrency` keep-alive connections (default 64).
    #[arg(long, value_name = "URL")]
    http: Option<String>,
    /// The channel key's token for `--http`.
    #[arg(long, value_name = "TOKEN", env = "NPP_TOKEN", requires = "http")]
    token: Option<String>,
    /// With `--http`: afterwards, follow every payment until it is final, and report payments
    /// per second end to end (created over HTTP, settled by the server's participant).
    #[arg(long, requires = "http")]
    settle: bool,
    /// Payments to run.
    #[arg(long, default_value_t = 10_000)]
    payments: u64,
    /// Open loop: start this many payments per second, whatever the latency (default: closed loop).
    #[arg(long)]
    rate: Option<u64>,
    /// Callers, each moving one payment at a time through single commands. On SQLite and
    /// PostgreSQL the callers are asynchronous tasks that submit each command and await it, as an
    /// HTTP service's requests do, served by a few threads that run whatever is queued as one
    /// batch (default 512 callers). In memory they are threads calling the handlers directly, as
    /// an embedding application's would (default: the machine's cores; there is no commit to
    /// share).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=MAX_CONCURRENCY))]
    concurrency: Option<u64>,
    /// Threads serving the submitted commands (SQLite and PostgreSQL): while one waits for its
    /// commit, another decides the next round.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=64))]
    servers: u64,
    /// An experiment, not the production path: each worker moves this many payments in lockstep,
    /// their next commands handed to `Payments::run_batch` together. 1 (the default) runs single
    /// commands, which the application layer coalesces by itself.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=512))]
    batch: u64,
    /// The SQLite file (kept afterwards); a scratch file by default.
    #[arg(long, value_name = "PATH")]
    db: Option<std::path::PathBuf>,
    /// The PostgreSQL URL (the run uses, then drops, a schema of its own).
    #[arg(long, value_name = "URL", env = "NPP_DATABASE_URL")]
    database_url: Option<String>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// The figures; `--json` prints them as one object.
#[derive(Serialize)]
struct Report {
    store: String,
    payments: u64,
    events: u64,
    commands: u64,
    concurrency: usize,
    /// How the callers ran: `async-tasks` (submitted, served by `servers` threads), `threads`
    /// or `lockstep` (`--batch`).
    callers: &'static str,
    servers: u64,
    batch: u64,
    rate: Option<u64>,
    /// Hand-offs to the store the coalesced single commands shared (0 when commands ran
    /// directly, as in memory).
    rounds: u64,
    seconds: f64,
    payments_per_sec: f64,
    events_per_sec: f64,
    state_hashes_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    peak_rss_mb: f64,
}

struct Scratch {
    sqlite: Option<std::path::PathBuf>,
    postgres: Option<(String, String)>,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(path) = self.sqlite.take() {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
        if let Some((url, schema)) = self.postgres.take()
            && let Ok(mut client) = postgres::Client::connect(&url, postgres::NoTls)
        {
            let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
        }
    }
}

fn open(args: &LoadtestArgs, concurrency: usize) -> Result<(Box<dyn EventStore>, Scratch), String> {
    let mut scratch = Scratch {
        sqlite: None,
        postgres: None,
    };
    let store: Box<dyn EventStore> = match store_name(args) {
        "memory" => Box::new(MemoryStore::new()),
        "sqlite" => {
            let path = match &args.db {
                Some(path) => path.clone(),
                None => {
                    let path = std::env::temp_dir()
                        .join(format!("npp-loadtest-{}.db", std::process::id()));
                    scratch.sqlite = Some(path.clone());
                    path
                }
            };
            Box::new(
                SqliteStore::open(&path, OpenMode::CreateIfMissing).map_err(|e| e.to_string())?,
            )
        }
        _ => {
            let url = args
                .database_url
                .clone()
                .ok_or("--store postgres needs --database-url (or NPP_DATABASE_URL)")?;
            let mut config = PostgresConfig::new(&url);
            config.schema = format!("loadtest_{}", std::process::id());
            config.readers = u32::try_from(concurrency.clamp(2, 32)).unwrap_or(8);
            scratch.postgres = Some((url, config.schema.clone()));
            Box::new(PostgresStore::connect(&config).map_err(|e| e.to_string())?)
        }
    };
    Ok((store, scratch))
}

struct Shared<'a> {
    payments: Payments<'a>,
    policy: TomlPolicy,
    next: AtomicU64,
    done: AtomicU64,
    started: Instant,
}

/// The store asked for (clap makes sure there is one unless `--http`).
fn store_name(args: &LoadtestArgs) -> &str {
    args.store.as_deref().unwrap_or("memory")
}

fn run_http(args: &LoadtestArgs, url: &str) -> ExitCode {
    let Some(token) = args.token.clone() else {
        eprintln!("npp loadtest: --http needs --token (a channel key's token) or NPP_TOKEN");
        return ExitCode::from(2);
    };
    let run = crate::loadtest_http::HttpRun {
        url: url.trim_end_matches('/').to_owned(),
        token,
        payments: args.payments,
        connections: args
            .concurrency
            .map_or(64, |n| usize::try_from(n).unwrap_or(usize::MAX)),
        rate: args.rate,
        settle: args.settle,
    };
    match crate::loadtest_http::run(run) {
        Ok(report) => {
            if args.json {
                outln!("{}", serde_json::to_string(&report).unwrap_or_default());
            } else {
                crate::loadtest_http::print(&report);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("npp loadtest: {e}");
            ExitCode::from(2)
        }
    }
}

pub fn run(args: &LoadtestArgs) -> ExitCode {
    if let Some(url) = &args.http {
        return run_http(args, url);
    }
    match execute(args) {
        Ok(report) => {
            if args.json {
                outln!("{}", serde_json::to_string(&report).unwrap_or_default());
            } else {
                print_report(&report);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("npp loadtest: {e}");
            ExitCode::from(2)
        }
    }
}

/// The default number of callers for a store (see `--concurrency`).
fn default_concurrency(store: &str) -> usize {
    match store {
        "memory" => std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
        _ => 512,
    }
}

/// Whether the callers are asynchronous tasks submitting to serving threads (the stores whose
/// commits callers share), rather than threads calling the handlers directly (memory) or
/// workers moving payments in lockstep (`--batch`).
fn asynchronous(args: &LoadtestArgs, store: &dyn EventStore) -> bool {
    args.batch == 1 && store.batches_pay()
}

fn execute(args: &LoadtestArgs) -> Result<Report, String> {
    let concurrency = match args.concurrency {
        Some(n) => usize::try_from(n).map_err(|_| format!("--concurrency {n} is too large"))?,
        None => default_concurrency(store_name(args)),
    };
    let (store, _scratch) = open(args, concurrency)?;
    let shared = Shared {
        payments: Payments::new(&*store, &SystemClock),
        policy: TomlPolicy::parse(POLICY).map_err(|e| e.to_string())?,
        next: AtomicU64::new(0),
        done: AtomicU64::new(0),
        started: Instant::now(),
    };
    let terminal = std::io::stderr().is_terminal() && !args.json;
    let workers = concurrency.max(1);
    // A worker's failure fails the run: figures from a partial run would mislead.
    let callers = if asynchronous(args, &*store) {
        "async-tasks"
    } else if args.batch > 1 {
        "lockstep"
    } else {
        "threads"
    };
    let per_worker: Vec<Result<Histogram, String>> = if asynchronous(args, &*store) {
        run_tasks(&shared, args, workers, terminal)
    } else {
        std::thread::scope(|scope| {
            let mut handles = Vec::with_capacity(workers);
            for n in 0..workers {
                let spawned = std::thread::Builder::new()
                    .name(format!("loadtest-{n}"))
                    .spawn_scoped(scope, || worker(&shared, args));
                match spawned {
                    Ok(handle) => handles.push(handle),
                    Err(e) => {
                        // Stop the others: no payment is left to take.
                        shared.next.store(args.payments, Ordering::Relaxed);
                        return vec![Err(format!("cannot start caller thread {n}: {e}"))];
                    }
                }
            }
            while terminal
                && shared.done.load(Ordering::Relaxed) < args.payments
                && handles.iter().any(|h| !h.is_finished())
            {
                let done = shared.done.load(Ordering::Relaxed);
                eprint!("{}", crate::progress::line(done, args.payments, "payments"));
                std::thread::sleep(Duration::from_millis(200));
            }
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err("a worker panicked".into())))
                .collect()
        })
    };
    let mut latencies = Histogram::default();
    for worker in per_worker {
        latencies.merge(&worker?);
    }
    let seconds = shared.started.elapsed().as_secs_f64();
    if terminal {
        eprintln!(
            "{}",
            crate::progress::line(args.payments, args.payments, "payments")
        );
    }
    let (events, hashes_per_sec) = verify(&*store, args.payments, workers.min(MAX_VERIFIERS))?;
    let pct = |per_mille: u64| f64::from(latencies.quantile(per_mille)) / 1000.0;
    Ok(Report {
        store: store_name(args).to_owned(),
        payments: args.payments,
        events,
        commands: latencies.len(),
        concurrency: workers,
        callers,
        servers: if callers == "async-tasks" {
            args.servers
        } else {
            0
        },
        batch: args.batch,
        rounds: shared.payments.coalescing().rounds,
        rate: args.rate,
        seconds,
        payments_per_sec: args.payments as f64 / seconds,
        events_per_sec: events as f64 / seconds,
        state_hashes_per_sec: hashes_per_sec,
        p50_ms: pct(500),
        p99_ms: pct(990),
        p999_ms: pct(999),
        peak_rss_mb: peak_rss_mb(),
    })
}

/// Replays every payment from the store and hashes its state, on `workers` threads (reads are
/// round trips on PostgreSQL): the figure for "state hashes per second".
fn verify(store: &dyn EventStore, payments: u64, workers: usize) -> Result<(u64, f64), String> {
    let started = Instant::now();
    let next = AtomicU64::new(0);
    let per_worker: Vec<Result<u64, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers.max(1))
            .map(|_| {
                scope.spawn(|| {
                    let mut events = 0u64;
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        if index >= payments {
                            return Ok(events);
                        }
                        let loaded = app_ops::load_payment(store, id(index)?)
                            .map_err(|e| e.to_string())?
                            .ok_or("a payment is missing")?;
                        events += u64::from(loaded.version);
                        std::hint::black_box(loaded.payment.state_hash());
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a verifier panicked".into()))
            })
            .collect()
    });
    let mut events = 0;
    for worker in per_worker {
        events += worker?;
    }
    Ok((
        events,
        payments as f64 / started.elapsed().as_secs_f64().max(1e-9),
    ))
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u32>().ok());
    kb.map_or(0.0, |kb| f64::from(kb) / 1024.0)
}

fn id(index: u64) -> Result<PaymentIntentId, String> {
    PaymentIntentId::parse(&format!("lt-{index:08}")).map_err(|e| e.to_string())
}

fn worker(shared: &Shared<'_>, args: &LoadtestArgs) -> Result<Histogram, String> {
    let mut latencies = Histogram::default();
    loop {
        let first = shared.next.fetch_add(args.batch, Ordering::Relaxed);
        if first >= args.payments {
            return Ok(latencies);
        }
        let last = first.saturating_add(args.batch).min(args.payments);
        if let Some(rate) = args.rate {
            let due = Duration::from_nanos(first.saturating_mul(1_000_000_000) / rate.max(1));
            if let Some(wait) = due.checked_sub(shared.started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        let mut group = (first..last)
            .map(Script::for_payment)
            .collect::<Result<Vec<_>, _>>()?;
        if let [one] = group.as_mut_slice() {
            single_commands(shared, one, &mut latencies)?;
        } else {
            lockstep(shared, &mut group, &mut latencies)?;
        }
        shared.done.fetch_add(last - first, Ordering::Relaxed);
    }
}

fn text(s: &str) -> Result<FreeText, String> {
    FreeText::parse(s).map_err(|e| e.to_string())
}

fn parse_err(e: core_npp::ParseError) -> String {
    e.to_string()
}

/// One step of a payment's part of the mix; every step is a production command.
enum Step {
    Create,
    Authorise,
    Send(AttemptId),
    Rail(String, RailOutcome),
    /// A retry requested by one operator and approved by another.
    OperatorRetry,
}

/// A payment and the steps it has left.
struct Script {
    intent: NewIntent,
    steps: std::collections::VecDeque<Step>,
}

impl Script {
    /// The seed's mix: 85% settle, 10% rejected, 3% time out and are retried through an
    /// approved operator request, 2% rejected after acknowledgement.
    fn for_payment(index: u64) -> Result<Self, String> {
        let pid = id(index)?;
        let intent = NewIntent {
            payment_intent_id: pid,
            amount: Money::from_minor_units(i64::try_from(100 + index % 50_000).unwrap_or(100)),
            currency: Currency::AUD,
            idempotency_key: IdempotencyKey::parse(pid.as_str()).map_err(parse_err)?,
            from_account_id: AccountId::parse(&format!("802000:{:08}", index % 32_900))
                .map_err(parse_err)?,
            to_account_id: AccountId::parse(&format!("802007:{:08}", (index * 7) % 32_900))
                .map_err(parse_err)?,
            max_attempts: AttemptLimit::default(),
            debtor_name: None,
            creditor_name: None,
            remittance_information: None,
            end_to_end_id: None,
            correlation_id: None,
        };
        let att1 = AttemptId::parse("att_1").map_err(parse_err)?;
        let msg = |n: &str| format!("{pid}-{n}");
        let settle = |attempt| -> Result<RailOutcome, String> {
            Ok(RailOutcome::Settled {
                attempt_id: attempt,
                settlement_ref: SettlementRef::parse(&format!("S{pid}")).map_err(parse_err)?,
                funds_transferred: intent.amount,
            })
        };
        let fail = |attempt, reason, code: &str| -> Result<RailOutcome, String> {
            Ok(RailOutcome::Failed {
                attempt_id: attempt,
                reason,
                detail: Some(text(code)?),
            })
        };
        let ack = |attempt_id| RailOutcome::Acknowledged { attempt_id };
        let mut steps = vec![Step::Create, Step::Authorise, Step::Send(att1)];
        match index * 2_654_435_761 % 100 {
            0..85 => {
                steps.push(Step::Rail(msg("acsp"), ack(att1)));
                steps.push(Step::Rail(msg("acsc"), settle(att1)?));
            }
            85..95 => {
                let rejected = fail(att1, FailureReason::RailRejected, "AC04")?;
                steps.push(Step::Rail(msg("rjct"), rejected));
            }
            95..98 => {
                let att2 = AttemptId::parse("att_2").map_err(parse_err)?;
                let timeout = fail(att1, FailureReason::RailTimeout, "AB05")?;
                steps.push(Step::Rail(msg("ab05"), timeout));
                steps.push(Step::OperatorRetry);
                steps.push(Step::Send(att2));
                steps.push(Step::Rail(msg("acsp2"), ack(att2)));
                steps.push(Step::Rail(msg("acsc2"), settle(att2)?));
            }
            _ => {
                steps.push(Step::Rail(msg("acsp"), ack(att1)));
                let late = fail(att1, FailureReason::RailRejected, "AC06")?;
                steps.push(Step::Rail(msg("rjct"), late));
            }
        }
        Ok(Self {
            intent,
            steps: steps.into(),
        })
    }
}

/// The asynchronous callers: `workers` tasks on one runtime thread, each submitting its
/// payment's commands one at a time and awaiting each, served by `--servers` threads running
/// `Payments::serve_commands`, as `npp serve` runs them.
fn run_tasks(
    shared: &Shared<'_>,
    args: &LoadtestArgs,
    workers: usize,
    terminal: bool,
) -> Vec<Result<Histogram, String>> {
    std::thread::scope(|scope| {
        let servers = usize::try_from(args.servers).unwrap_or(1);
        for _ in 0..servers {
            scope.spawn(|| shared.payments.serve_commands());
        }
        // Operator actions are rare and are not coalesced: they run on a thread of their own,
        // never on the runtime's thread (the PostgreSQL client blocks).
        if !shared
            .payments
            .wait_for_servers(servers, Duration::from_secs(10))
        {
            shared.payments.stop_serving();
            return vec![Err("the command servers did not start within 10 s".into())];
        }
        let (ops, requests) = std::sync::mpsc::channel::<OpsJob>();
        scope.spawn(move || {
            for (pid, reply) in requests {
                let mut latencies = Histogram::default();
                let result = operator_retry(shared, pid, &mut latencies).map(|()| latencies);
                let _ = reply.send(result);
            }
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build();
        let results = match runtime {
            Ok(runtime) => runtime.block_on(async {
                let progress = async {
                    while terminal && shared.done.load(Ordering::Relaxed) < args.payments {
                        let done = shared.done.load(Ordering::Relaxed);
                        eprint!("{}", crate::progress::line(done, args.payments, "payments"));
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                };
                let tasks = (0..workers).map(|_| task(shared, args, &ops)).collect();
                let (results, ()) = tokio::join!(join_all(tasks), progress);
                results
            }),
            Err(e) => vec![Err(format!("cannot start the async runtime: {e}"))],
        };
        drop(ops);
        shared.payments.stop_serving();
        results
    })
}

/// An operator retry for the ops thread, and where to send the latencies it measured.
type OpsJob = (
    PaymentIntentId,
    tokio::sync::oneshot::Sender<Result<Histogram, String>>,
);

/// Drives every future to completion on the calling task and returns their outputs in order.
async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(move |cx| {
        let mut pending = false;
        for (future, output) in pinned.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(outputs.iter_mut().filter_map(Option::take).collect())
        }
    })
    .await
}

/// One asynchronous caller: payments one after another, each command submitted and awaited.
async fn task(
    shared: &Shared<'_>,
    args: &LoadtestArgs,
    ops: &std::sync::mpsc::Sender<OpsJob>,
) -> Result<Histogram, String> {
    let mut latencies = Histogram::default();
    loop {
        let index = shared.next.fetch_add(1, Ordering::Relaxed);
        if index >= args.payments {
            return Ok(latencies);
        }
        if let Some(rate) = args.rate {
            let due = Duration::from_nanos(index.saturating_mul(1_000_000_000) / rate.max(1));
            if let Some(wait) = due.checked_sub(shared.started.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
        let mut script = Script::for_payment(index)?;
        let pid = script.intent.payment_intent_id;
        while let Some(step) = script.steps.pop_front() {
            let command = match step {
                Step::OperatorRetry => {
                    let (reply, answer) = tokio::sync::oneshot::channel();
                    ops.send((pid, reply))
                        .map_err(|_| "the operator thread stopped".to_owned())?;
                    let measured = answer
                        .await
                        .map_err(|_| "an operator retry was dropped unanswered".to_owned())??;
                    latencies.merge(&measured);
                    continue;
                }
                Step::Create => OwnedCommand::CreateIntent(script.intent.clone()),
                Step::Authorise => OwnedCommand::Authorise {
                    id: pid,
                    policy_checks_passed: true,
                    available: Money::from_minor_units(1_000_000_000_000),
                },
                Step::Send(attempt_id) => OwnedCommand::RecordSent {
                    id: pid,
                    attempt_id,
                    submission: None,
                },
                Step::Rail(message_id, outcome) => OwnedCommand::RailOutcome {
                    id: pid,
                    message_id,
                    payload: None,
                    outcome,
                },
            };
            let started = Instant::now();
            let (reply, answer) = tokio::sync::oneshot::channel();
            shared.payments.submit(command, move |result| {
                let _ = reply.send(result);
            });
            let result = answer
                .await
                .map_err(|_| "a command was dropped unanswered".to_owned())?;
            latencies.record(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
            result.map_err(|e| e.to_string())?;
        }
        shared.done.fetch_add(1, Ordering::Relaxed);
    }
}

/// Moves one payment through its script with single commands, each timed: the production path
/// every caller of the application layer takes.
fn single_commands(
    shared: &Shared<'_>,
    script: &mut Script,
    latencies: &mut Histogram,
) -> Result<(), String> {
    let payments = &shared.payments;
    let pid = script.intent.payment_intent_id;
    while let Some(step) = script.steps.pop_front() {
        match step {
            Step::OperatorRetry => operator_retry(shared, pid, latencies)?,
            Step::Create => {
                timed(latencies, || payments.create_intent(&script.intent))?;
            }
            Step::Authorise => {
                let available = Money::from_minor_units(1_000_000_000_000);
                timed(latencies, || payments.authorise(pid, true, available))?;
            }
            Step::Send(attempt_id) => {
                timed(latencies, || payments.record_sent(pid, attempt_id))?;
            }
            Step::Rail(message_id, outcome) => {
                timed(latencies, || {
                    payments.record_rail_outcome(pid, &message_id, None, &outcome)
                })?;
            }
        }
    }
    Ok(())
}

/// Moves a group of payments through their scripts together: each round sends every payment's
/// next command to the store in one batch. Operator retries run as the operators would, alone.
fn lockstep(
    shared: &Shared<'_>,
    group: &mut [Script],
    latencies: &mut Histogram,
) -> Result<(), String> {
    while group.iter().any(|s| !s.steps.is_empty()) {
        let mut commands = Vec::with_capacity(group.len());
        for script in group.iter() {
            let pid = script.intent.payment_intent_id;
            match script.steps.front() {
                None => {}
                Some(Step::OperatorRetry) => operator_retry(shared, pid, latencies)?,
                Some(Step::Create) => commands.push(Command::CreateIntent(&script.intent)),
                Some(Step::Authorise) => commands.push(Command::Authorise {
                    id: pid,
                    policy_checks_passed: true,
                    available: Money::from_minor_units(1_000_000_000_000),
                }),
                Some(Step::Send(attempt_id)) => commands.push(Command::RecordSent {
                    id: pid,
                    attempt_id: *attempt_id,
                    submission: None,
                }),
                Some(Step::Rail(message_id, outcome)) => commands.push(Command::RailOutcome {
                    id: pid,
                    message_id,
                    payload: None,
                    outcome,
                }),
            }
        }
        let started = Instant::now();
        let results = shared.payments.run_batch(&commands);
        let micros = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
        for result in results {
            latencies.record(micros);
            result.map_err(|e| e.to_string())?;
        }
        for script in group.iter_mut() {
            script.steps.pop_front();
        }
    }
    Ok(())
}

fn operator_retry(
    shared: &Shared<'_>,
    pid: PaymentIntentId,
    latencies: &mut Histogram,
) -> Result<(), String> {
    let ops = OperatorActions::new(&shared.payments, &shared.policy);
    let (alice, bob) = (
        OperatorId::parse("alice").map_err(parse_err)?,
        OperatorId::parse("bob").map_err(parse_err)?,
    );
    let reason = text("rail timed out (AB05); payee bank confirms nothing arrived")?;
    let request = timed(latencies, || {
        ops.request(OpsAction::Retry, pid, alice, reason.clone())
    })?;
    timed(latencies, || ops.approve(request.request_id, bob))?;
    Ok(())
}

fn timed<T>(
    latencies: &mut Histogram,
    command: impl FnOnce() -> Result<T, app_ops::AppError>,
) -> Result<T, String> {
    let started = Instant::now();
    let result = command().map_err(|e| e.to_string());
    latencies.record(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
    result
}

fn print_report(r: &Report) {
    outln!("store                 {}", r.store);
    outln!(
        "payments              {} ({} events, {} commands)",
        r.payments,
        r.events,
        r.commands
    );
    let callers = match r.callers {
        "async-tasks" => format!(
            "{} async callers, {} serving threads",
            r.concurrency, r.servers
        ),
        "lockstep" => format!(
            "{} threads x {} payments in lockstep",
            r.concurrency, r.batch
        ),
        _ => format!("{} caller threads", r.concurrency),
    };
    let lap = r.rate.map_or_else(
        || "closed loop".to_owned(),
        |rate| format!("open loop at {rate}/s"),
    );
    outln!("mode                  {lap}, {callers}");
    if r.rounds > 0 {
        outln!(
            "coalescing            {} commands a store hand-off ({} hand-offs)",
            r.commands / r.rounds.max(1),
            r.rounds
        );
    }
    outln!("seconds               {:.2}", r.seconds);
    outln!("payments per second   {:.0}", r.payments_per_sec);
    outln!("events per second     {:.0}", r.events_per_sec);
    outln!(
        "state hashes/second   {:.0}   (replay from the store and hash, after the run)",
        r.state_hashes_per_sec
    );
    outln!(
        "command latency       p50 {:.3} ms   p99 {:.3} ms   p999 {:.3} ms",
        r.p50_ms,
        r.p99_ms,
        r.p999_ms
    );
    outln!("peak RSS              {:.1} MB", r.peak_rss_mb);
}
