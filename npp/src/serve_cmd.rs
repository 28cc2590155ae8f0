//! `npp serve`: the HTTP API and the orchestrator loop in one process, with the simulated NPP
//! participant in-process. Prints `listening on http://ADDR` once it accepts requests; SIGTERM
//! or Ctrl-C stops it (requests in flight finish) and it exits 0.

use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use http_api::{KeyRing, Limits, OrchestratorSetup, Setup};

use crate::ops_cmd::{PolicyArg, policy};
use crate::target::StoreTarget;

/// Exit status: the server could not start (store, keys, policy, address).
const EXIT_UNUSABLE: u8 = 2;
/// Exit status: it stopped on a failure.
const EXIT_FAILED: u8 = 1;

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// The address to listen on (port 0: any free port, printed at start).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: String,
    #[command(flatten)]
    target: StoreTarget,
    /// The API keys file (`npp keys add` makes it).
    #[arg(
        long,
        value_name = "FILE",
        default_value = "keys.toml",
        env = "NPP_KEYS"
    )]
    keys: PathBuf,
    #[command(flatten)]
    policy: PolicyArg,
    /// Sign evidence packs with this private key file (`npp evidence keygen`).
    #[arg(long, value_name = "FILE")]
    signing_key: Option<PathBuf>,
    /// Do not run the orchestrator (another process does), only the API.
    #[arg(long)]
    no_orchestrator: bool,
    /// This process's name in outbox leases (unique per process sharing a database).
    #[arg(long, value_name = "NAME", default_value = "npp-serve")]
    worker_id: String,
    /// How long this process's claim on an outbox message holds before another process may
    /// deliver it (after a crash, the survivors wait this long).
    #[arg(long, value_name = "SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    outbox_lease_seconds: u64,
    /// The simulated participant answers after about this many milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(0..=60_000))]
    participant_latency_ms: u32,
    /// Seed of the simulated participant's outcomes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The largest request body, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = http_api::state::DEFAULT_MAX_BODY_BYTES,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1024..=16_777_216))]
    max_body_bytes: usize,
    /// Requests handled at once; more get 503 with Retry-After.
    #[arg(long, value_name = "N", default_value_t = http_api::state::DEFAULT_MAX_CONCURRENT_REQUESTS,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=65_536))]
    max_concurrent_requests: usize,
    /// The longest a request may take, in seconds (503 past it).
    #[arg(long, value_name = "SECONDS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    request_timeout: u64,
    /// Webhooks: the wait after a delivery's first failed attempt, in milliseconds (then
    /// doubling, less up to a fifth of jitter).
    #[arg(long, value_name = "MS", default_value_t = 5_000,
          value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    webhook_first_retry_ms: u64,
    /// Webhooks: the longest wait between attempts, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 3_600,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    webhook_max_interval_seconds: u64,
    /// Webhooks: how long a delivery is retried before it is given up on (failed, in the
    /// operator queue), in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 86_400,
          value_parser = clap::value_parser!(u64).range(1..=2_592_000))]
    webhook_retry_for_seconds: u64,
    /// Webhooks: how long a receiver has to answer, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..=300_000))]
    webhook_timeout_ms: u64,
    /// The console's pictures: how often payments by state, settlement latency and the outbox
    /// are sampled (`GET /v1/stats` keeps the last 720 samples), in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 5_000,
          value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    stats_interval_ms: u64,
    /// Print the OpenAPI document and exit (docs/openapi.json is this).
    #[arg(long)]
    print_openapi: bool,
}

fn fail(code: u8, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("npp serve: {message}");
    ExitCode::from(code)
}

pub fn run(args: &ServeArgs) -> ExitCode {
    if args.print_openapi {
        out!("{}", http_api::openapi::document());
        return ExitCode::SUCCESS;
    }
    init_logging();
    let keys = match KeyRing::open(&args.keys) {
        Ok(keys) => keys,
        Err(e) => {
            return fail(
                EXIT_UNUSABLE,
                format!("{e} (make one with `npp keys add --keys FILE --name NAME --role ROLE`)"),
            );
        }
    };
    let signing_key = match args
        .signing_key
        .as_deref()
        .map(crate::evidence_cmd::read_signing_key)
    {
        Some(Err(message)) => return fail(EXIT_UNUSABLE, message),
        Some(Ok(key)) => Some(key),
        None => None,
    };
    let store = match args.target.open(store::OpenMode::CreateIfMissing) {
        Ok(store) => store,
        Err(e) => {
            return fail(
                EXIT_UNUSABLE,
                format!("cannot open {}: {e}", args.target.describe()),
            );
        }
    };
    // The store, the policy and the handlers live as long as the process.
    let store: &'static dyn event_store::EventStore = Box::leak(store);
    let gate = match policy(&args.policy, store) {
        Ok(gate) => gate,
        Err(crate::ops_cmd::Failure(_, message)) => return fail(EXIT_UNUSABLE, message),
    };
    let gate: &'static app_ops::TomlPolicy = Box::leak(Box::new(gate));
    let listener = match TcpListener::bind(&args.listen) {
        Ok(listener) => listener,
        Err(e) => {
            return fail(
                EXIT_UNUSABLE,
                format!("cannot listen on {}: {e}", args.listen),
            );
        }
    };
    let orchestrator = (!args.no_orchestrator).then(|| {
        let mut setup = OrchestratorSetup {
            seed: args.seed,
            participant_latency_ms: args.participant_latency_ms,
            ..OrchestratorSetup::default()
        };
        setup.config.worker_id.clone_from(&args.worker_id);
        setup.config.lease = i64::try_from(args.outbox_lease_seconds)
            .unwrap_or(30)
            .saturating_mul(1_000_000_000);
        setup
    });
    let setup = Setup {
        store,
        describe_store: args.target.describe(),
        policy: gate,
        keys,
        signing_key,
        limits: Limits {
            max_body_bytes: args.max_body_bytes,
            request_timeout: Duration::from_secs(args.request_timeout),
            max_concurrent_requests: args.max_concurrent_requests,
            ..Limits::default()
        },
        orchestrator,
        webhooks: http_api::WebhookConfig {
            first_retry: Duration::from_millis(args.webhook_first_retry_ms),
            max_interval: Duration::from_secs(args.webhook_max_interval_seconds),
            retry_for: Duration::from_secs(args.webhook_retry_for_seconds),
            timeout: Duration::from_millis(args.webhook_timeout_ms),
            owner: format!("{}-webhooks", args.worker_id),
        },
        stats_interval: Duration::from_millis(args.stats_interval_ms),
    };
    let started = http_api::run(setup, listener, |addr| {
        outln!("npp serve: listening on http://{addr}");
        let _ = std::io::stdout().flush();
    });
    match started {
        Ok(()) => {
            eprintln!("npp serve: stopped");
            ExitCode::SUCCESS
        }
        Err(http_api::ServeError::App(e)) => fail(EXIT_UNUSABLE, e),
        Err(e) => fail(EXIT_FAILED, e),
    }
}

/// Logs to stderr: `NPP_LOG` (e.g. `info`, `http_api=debug`) or warnings and above.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("NPP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
