//! `npp ops` and `npp payment`: operator actions under maker-checker, and a payment's record.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use app_ops::{
    AppError, Approved, FundsProjection, OperatorActions, OpsAction, OpsRequest, Payments,
    PolicyGate, SystemClock, TomlPolicy, load_payment,
};
use core_npp::{ApprovalId, AttemptOutcome, FreeText, OperatorId, Payment, PaymentIntentId};
use event_store::EventStore;
use http_api::webhooks::Webhooks;
use store::OpenMode;

use crate::target::StoreTarget;

/// Exit code when a rule refused the command.
const EXIT_REFUSED: u8 = 1;
/// Exit code when the command could not run (store, policy or input unusable).
const EXIT_UNUSABLE: u8 = 2;

#[derive(clap::Subcommand, Debug)]
pub enum OpsCommand {
    /// Ask for an operator action; prints the new request id alone on the last line.
    Request(RequestArgs),
    /// Approve a request (a different operator than the requester); the action then runs.
    Approve(DecideArgs),
    /// Reject a request; nothing runs.
    Reject(RejectArgs),
    /// List requests, newest last.
    List(ListArgs),
}

#[derive(clap::Args, Debug)]
pub struct PolicyArg {
    /// The operator policy (TOML): who may request and approve what. The store's policy decides:
    /// a store that holds none takes this file (default ./policy.toml) the first time; after
    /// that a file that differs from the store's is refused (`npp policy load` changes it).
    #[arg(long, value_name = "FILE", env = "NPP_POLICY")]
    policy: Option<PathBuf>,
}

/// The policy file used when `--policy` is not given, if it exists.
const DEFAULT_POLICY_FILE: &str = "policy.toml";

#[derive(clap::Args, Debug)]
pub struct RequestArgs {
    /// The action.
    #[arg(value_parser = ["retry", "cancel", "mark-failed"])]
    action: String,
    /// The payment.
    #[arg(long, value_name = "ID")]
    payment: String,
    /// The operator asking.
    #[arg(long, value_name = "OPERATOR")]
    by: String,
    /// Why (recorded, and shown to the approver and in evidence).
    #[arg(long, value_name = "TEXT")]
    reason: String,
    #[command(flatten)]
    policy: PolicyArg,
    #[command(flatten)]
    target: StoreTarget,
}

#[derive(clap::Args, Debug)]
pub struct DecideArgs {
    /// The request id printed by `npp ops request`.
    request_id: String,
    /// The operator approving.
    #[arg(long, value_name = "OPERATOR")]
    by: String,
    #[command(flatten)]
    policy: PolicyArg,
    #[command(flatten)]
    target: StoreTarget,
}

#[derive(clap::Args, Debug)]
pub struct RejectArgs {
    /// The request id.
    request_id: String,
    /// The operator rejecting.
    #[arg(long, value_name = "OPERATOR")]
    by: String,
    /// Why.
    #[arg(long, value_name = "TEXT")]
    reason: String,
    #[command(flatten)]
    policy: PolicyArg,
    #[command(flatten)]
    target: StoreTarget,
}

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// Only requests still waiting for approval.
    #[arg(long)]
    pending: bool,
    #[command(flatten)]
    target: StoreTarget,
}

/// A failure to report: refusals exit 1, everything else 2.
pub(crate) struct Failure(pub(crate) u8, pub(crate) String);

impl From<AppError> for Failure {
    fn from(e: AppError) -> Self {
        Failure(
            if e.is_refusal() {
                EXIT_REFUSED
            } else {
                EXIT_UNUSABLE
            },
            e.to_string(),
        )
    }
}

pub(crate) fn unusable(message: impl Into<String>) -> Failure {
    Failure(EXIT_UNUSABLE, message.into())
}

pub(crate) fn finish(command: &str, result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(code, message)) => {
            eprintln!("npp {command}: {message}");
            ExitCode::from(code)
        }
    }
}

pub(crate) fn open(target: &StoreTarget) -> Result<Box<dyn EventStore>, Failure> {
    open_as(target, OpenMode::MustExist)
}

/// For commands that only read (list, show): a read-only copy of a store works too.
pub(crate) fn open_read_only(target: &StoreTarget) -> Result<Box<dyn EventStore>, Failure> {
    open_as(target, OpenMode::ReadOnly)
}

fn open_as(target: &StoreTarget, mode: OpenMode) -> Result<Box<dyn EventStore>, Failure> {
    target
        .open(mode)
        .map_err(|e| unusable(format!("cannot open {}: {e}", target.describe())))
}

pub(crate) fn read_policy(path: &Path) -> Result<TomlPolicy, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| unusable(format!("cannot read policy {}: {e}", path.display())))?;
    TomlPolicy::parse(&text).map_err(|e| unusable(format!("{}: {e}", path.display())))
}

/// The policy an ops command runs under: the store's, checked against the file given (which
/// must be the same document); or, for a store that holds none yet, the file (recorded as the
/// store's policy by the action itself).
pub(crate) fn policy(arg: &PolicyArg, store: &dyn EventStore) -> Result<TomlPolicy, Failure> {
    let file = arg.policy.clone().or_else(|| {
        let default = PathBuf::from(DEFAULT_POLICY_FILE);
        default.is_file().then_some(default)
    });
    let stored = app_ops::policy_in_force(store)?;
    match (stored, file) {
        (Some(stored), None) => Ok(stored.policy),
        (Some(stored), Some(path)) => {
            let given = read_policy(&path)?;
            if given.sha256() == stored.policy.sha256() {
                Ok(stored.policy)
            } else {
                Err(app_ops::not_in_force(&stored.policy, &given).into())
            }
        }
        (None, Some(path)) => read_policy(&path),
        (None, None) => Err(unusable(format!(
            "the store holds no operator policy yet and there is no {DEFAULT_POLICY_FILE} here; \
             give one with --policy FILE or load it with `npp policy load FILE`"
        ))),
    }
}

fn parse<T>(
    what: &str,
    raw: &str,
    parse: impl Fn(&str) -> Result<T, core_npp::ParseError>,
) -> Result<T, Failure> {
    parse(raw).map_err(|e| unusable(format!("{what} {raw:?}: {e}")))
}

pub fn run(command: &OpsCommand) -> ExitCode {
    match command {
        OpsCommand::Request(args) => finish("ops request", request(args)),
        OpsCommand::Approve(args) => finish("ops approve", approve(args)),
        OpsCommand::Reject(args) => finish("ops reject", reject(args)),
        OpsCommand::List(args) => finish("ops list", list(args)),
    }
}

fn request(args: &RequestArgs) -> Result<(), Failure> {
    let action = OpsAction::parse(&args.action)
        .ok_or_else(|| unusable(format!("unknown action {}", args.action)))?;
    let payment = parse("payment", &args.payment, PaymentIntentId::parse)?;
    let by = parse("operator", &args.by, OperatorId::parse)?;
    let reason = parse("reason", &args.reason, FreeText::parse)?;
    let store = open(&args.target)?;
    let policy = policy(&args.policy, &*store)?;
    // Webhook endpoints hear of what an operator's action does to a payment, as through the API.
    let webhooks = Webhooks::load(&*store).map_err(app_ops::AppError::from)?;
    let payments = Payments::new(&*store, &SystemClock).with_announcer(&webhooks);
    let request = OperatorActions::new(&payments, &policy).request(action, payment, by, reason)?;
    outln!(
        "requested {} of payment {} by {} (needs {} approval{} under policy {}; lapses after {} minutes)",
        request.action,
        request.payment_intent_id,
        request.requested_by,
        request.approvals_required,
        if request.approvals_required == 1 {
            ""
        } else {
            "s"
        },
        request.policy_version,
        policy.approval_lapse_nanos() / 60_000_000_000
    );
    outln!("{}", request.request_id);
    Ok(())
}

fn approve(args: &DecideArgs) -> Result<(), Failure> {
    let request_id = parse("request id", &args.request_id, ApprovalId::parse)?;
    let by = parse("operator", &args.by, OperatorId::parse)?;
    let store = open(&args.target)?;
    let policy = policy(&args.policy, &*store)?;
    // Webhook endpoints hear of what an operator's action does to a payment, as through the API.
    let webhooks = Webhooks::load(&*store).map_err(app_ops::AppError::from)?;
    let payments = Payments::new(&*store, &SystemClock).with_announcer(&webhooks);
    match OperatorActions::new(&payments, &policy).approve(request_id, by)? {
        Approved::AwaitingMoreApprovals(request) => outln!(
            "approved {} by {by}; {} of {} approvals, waiting for another approver",
            request.request_id,
            request.approvals.len(),
            request.approvals_required
        ),
        Approved::Executed(request, outcome) => outln!(
            "approved {} by {by}: {} executed; payment {} is now {}",
            request.request_id,
            request.action,
            request.payment_intent_id,
            describe_state(&outcome.payment)
        ),
    }
    Ok(())
}

fn reject(args: &RejectArgs) -> Result<(), Failure> {
    let request_id = parse("request id", &args.request_id, ApprovalId::parse)?;
    let by = parse("operator", &args.by, OperatorId::parse)?;
    let reason = parse("reason", &args.reason, FreeText::parse)?;
    let store = open(&args.target)?;
    let policy = policy(&args.policy, &*store)?;
    // Webhook endpoints hear of what an operator's action does to a payment, as through the API.
    let webhooks = Webhooks::load(&*store).map_err(app_ops::AppError::from)?;
    let payments = Payments::new(&*store, &SystemClock).with_announcer(&webhooks);
    let request = OperatorActions::new(&payments, &policy).reject(request_id, by, reason)?;
    outln!(
        "rejected {} by {by}; nothing was executed",
        request.request_id
    );
    Ok(())
}

fn list(args: &ListArgs) -> Result<(), Failure> {
    let store = open_read_only(&args.target)?;
    let requests = app_ops::list_requests(&*store, args.pending)?;
    outln!(
        "{:<18} {:<12} {:<20} {:<8} {:<10} {:<32} {:<9} approvals",
        "request",
        "action",
        "payment",
        "attempt",
        "by",
        "requested_at",
        "status"
    );
    for r in &requests {
        print_request(r);
    }
    outln!(
        "{} request{}",
        requests.len(),
        if requests.len() == 1 { "" } else { "s" }
    );
    Ok(())
}

fn print_request(r: &OpsRequest) {
    let approvals: Vec<String> = r
        .approvals
        .iter()
        .map(|a| a.approved_by.to_string())
        .collect();
    outln!(
        "{:<18} {:<12} {:<20} {:<8} {:<10} {:<32} {:<9} {}/{} {}",
        r.request_id.as_str(),
        r.action.name(),
        r.payment_intent_id.as_str(),
        r.attempt_id
            .map_or_else(|| "-".to_owned(), |a| a.to_string()),
        r.requested_by.as_str(),
        r.requested_at.to_rfc3339(),
        r.status.name(),
        r.approvals.len(),
        r.approvals_required,
        approvals.join(",")
    );
}

fn describe_state(payment: &Payment) -> String {
    match payment.open_attempt() {
        Some(attempt) => format!("{} (attempt {})", payment.state(), attempt.attempt_id()),
        None => payment.state().to_string(),
    }
}

#[derive(clap::Subcommand, Debug)]
pub enum PaymentCommand {
    /// A payment's state, attempts, history, operator requests and the payer's funds position.
    Show(ShowArgs),
    /// Load a payment history (JSON Lines, as `npp replay` reads) into the store, after
    /// checking it against every rule. For fixtures, demos and migrations.
    Import(ImportArgs),
}

#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    /// The payment.
    id: String,
    #[command(flatten)]
    target: StoreTarget,
}

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// The history file, or `-` for standard input.
    file: PathBuf,
    #[command(flatten)]
    target: StoreTarget,
}

pub fn run_payment(command: &PaymentCommand) -> ExitCode {
    match command {
        PaymentCommand::Show(args) => finish("payment show", show(args)),
        PaymentCommand::Import(args) => finish("payment import", import(args)),
    }
}

fn show(args: &ShowArgs) -> Result<(), Failure> {
    let id = parse("payment", &args.id, PaymentIntentId::parse)?;
    let store = open_read_only(&args.target)?;
    let loaded = load_payment(&*store, id)?.ok_or(AppError::UnknownPayment(id))?;
    let payment = &loaded.payment;
    outln!(
        "payment {id}: {} (version {})",
        describe_state(payment),
        loaded.version
    );
    outln!(
        "  amount {} {}  from {}  to {}",
        payment.amount(),
        payment.currency(),
        payment.from_account_id(),
        payment.to_account_id()
    );
    outln!(
        "  created {}  last event {}",
        payment.created_at(),
        payment.last_occurred_at()
    );
    if let Some(failure) = payment.last_failure() {
        let detail = failure
            .detail()
            .map(|d| format!(" ({d})"))
            .unwrap_or_default();
        outln!(
            "  last failure: {}{detail} at {}",
            failure.reason(),
            failure.at()
        );
    }
    outln!(
        "  attempts ({} of {} allowed):",
        payment.attempts().len(),
        payment.max_attempts().get()
    );
    for attempt in payment.attempts() {
        let outcome = match attempt.outcome() {
            None if attempt.sent_at().is_none() => "opened, not yet sent".to_owned(),
            None => "sent, no outcome yet".to_owned(),
            Some(AttemptOutcome::Settled {
                settlement_ref, at, ..
            }) => format!("SETTLED {settlement_ref} at {at}"),
            Some(AttemptOutcome::Failed { reason, detail, at }) => {
                format!(
                    "FAILED {reason}{} at {at}",
                    detail
                        .as_ref()
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default()
                )
            }
        };
        outln!("    {}: {outcome}", attempt.attempt_id());
    }
    outln!("  history:");
    for (n, recorded) in store
        .read_stream(&event_store::StreamId::payment(id))
        .map_err(AppError::from)?
        .iter()
        .enumerate()
    {
        outln!(
            "    {:>2}. {} {}",
            n + 1,
            recorded.event().occurred_at(),
            recorded.event().event_type()
        );
    }
    let requests = app_ops::requests_for_payment(&*store, id)?;
    outln!("  operator requests: {}", requests.len());
    for r in &requests {
        print_request(r);
    }
    let funds = FundsProjection::rebuild(&*store)?;
    let position = funds.account(payment.from_account_id());
    outln!(
        "  payer {} funds: earmarked {}, settled out {}, released {}, outstanding {}",
        payment.from_account_id(),
        position.earmarked,
        position.settled_out,
        position.released,
        position.outstanding()?
    );
    Ok(())
}

fn import(args: &ImportArgs) -> Result<(), Failure> {
    let history = crate::replay::read_events(&args.file).map_err(|(line, message)| {
        unusable(format!(
            "{}: {}{message}",
            args.file.display(),
            line.map(|n| format!("line {n}: ")).unwrap_or_default()
        ))
    })?;
    let replay = core_npp::rebuild_from_events(&history)
        .map_err(|e| Failure(EXIT_REFUSED, format!("{}: {e}", args.file.display())))?;
    let store = args
        .target
        .open(OpenMode::CreateIfMissing)
        .map_err(|e| unusable(format!("cannot open {}: {e}", args.target.describe())))?;
    let outcome = Payments::new(&*store, &SystemClock).import_history(&history)?;
    outln!(
        "imported payment {}: {} events, {}",
        replay.payment().payment_intent_id(),
        history.len(),
        outcome.payment.state()
    );
    Ok(())
}
