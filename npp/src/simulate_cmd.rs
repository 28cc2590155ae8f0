//! `npp simulate`: the seed's load scenario end to end on the durable store, the main job.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};

use simulator::{FaultProfile, Progress, SimConfig, Simulation, Summary};
use store::OpenMode;

use crate::target::StoreTarget;

/// Exit code when the run's own checks fail (a replay, a hash, a double delivery).
const EXIT_CHECK_FAILED: u8 = 1;
/// Exit code when the run cannot start (store, settings).
const EXIT_CANNOT_RUN: u8 = 2;

#[derive(clap::Args, Debug)]
pub struct SimulateArgs {
    /// Payments to run through.
    #[arg(long, default_value_t = 8_100)]
    payments: u64,
    /// The seed of every outcome, amount and account; the same seed gives the same run.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Fault injection: none, chaos (duplicates, reordering, lost and late replies) or hostile
    /// (chaos, plus attempts the rail never answers, which end in the operator queue).
    #[arg(long, default_value = "none", value_parser = ["none", "chaos", "hostile"])]
    faults: String,
    /// Intents arriving per simulated second (the seed's target is 134).
    #[arg(long, default_value_t = 134)]
    rate: u64,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
    /// Seconds (simulated) before a silent SENT attempt is enquired about, and between enquiries.
    #[arg(long, default_value_t = 15)]
    enquiry_after: u32,
    /// Seconds (simulated) after which a silent attempt goes to the operator queue.
    #[arg(long, default_value_t = 60)]
    escalate_after: u32,
    /// Join a run another process started on the same database (PostgreSQL): drive its
    /// payments, create none. Give each process its own --worker-id.
    #[arg(long)]
    workers_only: bool,
    /// This process's name in outbox leases; distinct for every process sharing a database.
    #[arg(long, default_value = "orchestrator")]
    worker_id: String,
    /// Write an evidence pack for every failed or retried payment into this directory.
    #[arg(long, value_name = "DIR")]
    evidence_dir: Option<std::path::PathBuf>,
    /// Run in a store that also holds payments this simulation did not create (without it, such
    /// a store is refused). The simulation then acts on its own payments (`s<seed>-*`) only; its
    /// simulated operators retry only those, under the store's policy if it is the simulation's.
    #[arg(long)]
    share_store: bool,
    #[command(flatten)]
    target: StoreTarget,
}

struct Bar {
    done: AtomicU64,
    on_terminal: bool,
}

impl Progress for Bar {
    fn update(&self, done: u64, total: u64) {
        let before = self.done.swap(done, Ordering::Relaxed);
        if self.on_terminal && done != before && (done.is_multiple_of(100) || done == total) {
            eprint!("{}", crate::progress::line(done, total, "payments final"));
        }
    }
}

pub fn run(args: &SimulateArgs) -> ExitCode {
    let Some(faults) = FaultProfile::parse(&args.faults) else {
        eprintln!("npp simulate: unknown fault profile {}", args.faults);
        return ExitCode::from(EXIT_CANNOT_RUN);
    };
    // Every argument is checked before the run: a bad evidence directory is found now, not
    // after every payment has been simulated.
    if let Some(dir) = &args.evidence_dir
        && let Err(e) = prepare_evidence_dir(dir)
    {
        eprintln!("npp simulate: --evidence-dir {}: {e}", dir.display());
        return ExitCode::from(EXIT_CANNOT_RUN);
    }
    let store = match args.target.open(OpenMode::CreateIfMissing) {
        Ok(store) => store,
        Err(e) => {
            eprintln!("npp simulate: cannot open {}: {e}", args.target.describe());
            return ExitCode::from(EXIT_CANNOT_RUN);
        }
    };
    let mut config = SimConfig {
        payments: args.payments,
        seed: args.seed,
        faults,
        rate_per_sec: args.rate,
        workers_only: args.workers_only,
        share_store: args.share_store,
        ..SimConfig::default()
    };
    config.orchestrator.worker_id.clone_from(&args.worker_id);
    config.orchestrator.enquiry_after = i64::from(args.enquiry_after.max(1)) * 1_000_000_000;
    config.orchestrator.escalate_after = i64::from(args.escalate_after.max(1)) * 1_000_000_000;
    let bar = Bar {
        done: AtomicU64::new(0),
        on_terminal: std::io::stderr().is_terminal(),
    };
    let result = Simulation::new(&*store, config).run(&bar);
    if bar.on_terminal {
        eprintln!();
    }
    match result {
        Err(simulator::SimError::Config(e)) => {
            eprintln!("npp simulate: {e}");
            ExitCode::from(EXIT_CANNOT_RUN)
        }
        Ok(summary) => {
            if let Some(dir) = &args.evidence_dir {
                match write_evidence(&*store, args, dir) {
                    Ok(count) => eprintln!("wrote {count} evidence packs to {}", dir.display()),
                    Err(e) => {
                        eprintln!("npp simulate: evidence: {e}");
                        return ExitCode::from(EXIT_CHECK_FAILED);
                    }
                }
            }
            report(&summary, args.json)
        }
        Err(e) => {
            eprintln!("npp simulate: {e}");
            ExitCode::from(EXIT_CHECK_FAILED)
        }
    }
}

fn report(summary: &Summary, json: bool) -> ExitCode {
    if json {
        match serde_json::to_string(summary) {
            Ok(text) => outln!("{text}"),
            Err(e) => {
                eprintln!("npp simulate: cannot render the summary: {e}");
                return ExitCode::from(EXIT_CHECK_FAILED);
            }
        }
    } else {
        print_table(summary);
    }
    let clean =
        summary.replay_verified == summary.payments && summary.max_deliveries_per_message <= 1;
    if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_CHECK_FAILED)
    }
}

fn print_table(s: &Summary) {
    outln!("payments                  {:>10}", s.payments);
    for (state, count) in &s.by_state {
        outln!("  {state:<23} {count:>10}");
    }
    outln!("events                    {:>10}", s.events);
    outln!("attempts                  {:>10}", s.attempts);
    outln!("duplicates suppressed     {:>10}", s.duplicates_suppressed);
    outln!("anomalies recorded        {:>10}", s.anomalies);
    outln!("enquiries                 {:>10}", s.enquiries);
    outln!("operator retries          {:>10}", s.operator_retries);
    outln!("in the operator queue     {:>10}", s.operator_queue);
    outln!(
        "max deliveries per MsgId  {:>10}",
        s.max_deliveries_per_message
    );
    outln!(
        "payments per second       {:>10.0}   (wall clock, {:.1} s)",
        s.payments_per_sec,
        s.wall_seconds
    );
    outln!(
        "intent to final, p50/p99  {:>6} / {:<6} ms simulated   {} / {} ms wall",
        s.simulated_p50_ms,
        s.simulated_p99_ms,
        s.wall_p50_ms,
        s.wall_p99_ms
    );
    outln!(
        "replay verified           {:>10}   (every stream replayed, every hash checked)",
        s.replay_verified
    );
}

/// Packs for every failed or retried payment of the scenario: the ones an auditor asks about.
fn write_evidence(
    store: &dyn event_store::EventStore,
    args: &SimulateArgs,
    dir: &std::path::Path,
) -> Result<usize, String> {
    let mut written = 0;
    for index in 0..args.payments {
        let id = simulator::scenario_payment_id(args.seed, index).map_err(|e| e.to_string())?;
        let Some(input) = exports::evidence_from_store(store, id).map_err(|e| e.to_string())?
        else {
            continue;
        };
        let pack = exports::build_pack(&input).map_err(|e| format!("payment {id}: {e}"))?;
        if pack.state() != core_npp::PaymentState::Failed && input.operator_actions.is_empty() {
            continue;
        }
        let path = dir.join(format!("{id}.json"));
        crate::files::write_atomic(
            &path,
            &pack.to_file_bytes(),
            "an evidence pack",
            crate::files::is_evidence_pack,
        )?;
        written += 1;
    }
    Ok(written)
}

/// Makes the evidence directory exist, or says why it cannot: a file in the way, no permission.
fn prepare_evidence_dir(dir: &std::path::Path) -> Result<(), String> {
    if dir.exists() && !dir.is_dir() {
        return Err("exists and is not a directory".to_owned());
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create it: {e}"))?;
    let probe = dir.join(".npp-write-check");
    std::fs::write(&probe, b"")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|e| format!("cannot write in it: {e}"))
}
