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
    Command, LiveFunds, NewIntent, OperatorActions, OpsAction, Payments, RailOutcome, SystemClock,
    TomlPolicy,
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

#[derive(clap::Args, Debug)]
pub struct LoadtestArgs {
    /// The store: memory, sqlite (a scratch file unless --db) or postgres (--database-url).
    #[arg(long, value_parser = ["memory", "sqlite", "postgres"])]
    store: String,
    /// Payments to run.
    #[arg(long, default_value_t = 10_000)]
    payments: u64,
    /// Open loop: start this many payments per second, whatever the latency (default: closed loop).
    #[arg(long)]
    rate: Option<u64>,
    /// Worker threads.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Payments each worker moves together: their next commands go to the store as one batch
    /// (`Payments::run_batch`), so in-flight payments = concurrency x batch.
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
    batch: u64,
    rate: Option<u64>,
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

fn open(args: &LoadtestArgs) -> Result<(Box<dyn EventStore>, Scratch), String> {
    let mut scratch = Scratch {
        sqlite: None,
        postgres: None,
    };
    let store: Box<dyn EventStore> = match args.store.as_str() {
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
            config.readers = u32::try_from(args.concurrency.clamp(2, 32)).unwrap_or(8);
            scratch.postgres = Some((url, config.schema.clone()));
            Box::new(PostgresStore::connect(&config).map_err(|e| e.to_string())?)
        }
    };
    Ok((store, scratch))
}

struct Shared<'a> {
    payments: Payments<'a>,
    policy: TomlPolicy,
    funds: LiveFunds,
    next: AtomicU64,
    done: AtomicU64,
    started: Instant,
}

pub fn run(args: &LoadtestArgs) -> ExitCode {
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

fn execute(args: &LoadtestArgs) -> Result<Report, String> {
    let (store, _scratch) = open(args)?;
    let shared = Shared {
        payments: Payments::new(&*store, &SystemClock),
        policy: TomlPolicy::parse(POLICY).map_err(|e| e.to_string())?,
        funds: LiveFunds::default(),
        next: AtomicU64::new(0),
        done: AtomicU64::new(0),
        started: Instant::now(),
    };
    let terminal = std::io::stderr().is_terminal() && !args.json;
    let workers = args.concurrency.max(1);
    // A worker's failure fails the run: figures from a partial run would mislead.
    let per_worker: Vec<Result<Histogram, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| scope.spawn(|| worker(&shared, args)))
            .collect();
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
    });
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
    let (events, hashes_per_sec) = verify(&*store, args.payments, workers)?;
    let pct = |per_mille: u64| f64::from(latencies.quantile(per_mille)) / 1000.0;
    Ok(Report {
        store: args.store.clone(),
        payments: args.payments,
        events,
        commands: latencies.len(),
        concurrency: workers,
        batch: args.batch,
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
        lockstep(shared, &mut group, &mut latencies)?;
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
                    funds: &shared.funds,
                }),
                Some(Step::Send(attempt_id)) => commands.push(Command::RecordSent {
                    id: pid,
                    attempt_id: *attempt_id,
                    submission: None,
                }),
                Some(Step::Rail(message_id, outcome)) => commands.push(Command::RailOutcome {
                    id: pid,
                    message_id,
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
    outln!(
        "mode                  {}",
        r.rate.map_or_else(
            || format!(
                "closed loop, {} workers x {} payments",
                r.concurrency, r.batch
            ),
            |rate| format!(
                "open loop at {rate}/s, {} workers x {} payments",
                r.concurrency, r.batch
            )
        )
    );
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
