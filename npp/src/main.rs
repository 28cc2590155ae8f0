//! `npp`: the command line of the NPP payment orchestrator.

/// Writes a line to standard output; a reader that closed the pipe (`| head`) ends the command
/// quietly instead of a panic.
macro_rules! outln {
    () => {
        $crate::out::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::out::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Writes to standard output, as `outln!` without the newline.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::out::write(format_args!($($arg)*))
    };
}

mod becs_cmd;
mod evidence_cmd;
mod files;
mod keys_cmd;
mod latency;
mod loadtest_cmd;
mod loadtest_http;
mod ops_cmd;
mod out;
mod policy_cmd;
mod progress;
mod replay;
mod serve_cmd;
mod simulate_cmd;
mod store_cmd;
mod target;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Event-sourced NPP (Osko) payment orchestration for Australian credit unions.
#[derive(Parser, Debug)]
#[command(name = "npp", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the seed's scenario end to end on the durable store: 8,100 payments across 20 credit
    /// unions through a simulated NPP participant, then replay every stream and check every hash.
    ///
    /// Exit 0: done and verified. Exit 1: a check failed. Exit 2: the store cannot be opened.
    Simulate(simulate_cmd::SimulateArgs),
    /// Replay a payment history (JSON Lines, one event per line) and print the resulting state.
    ///
    /// Exit 0: the history is legal; stdout is one JSON object.
    /// Exit 1: an event breaks a rule; stderr names the event number, its type and the rule.
    /// Exit 2: the input cannot be read; stderr names the line.
    Replay(replay::ReplayArgs),
    /// Drive the seed's mix through the production command handlers on a store and report
    /// payments/s, events/s, command latency percentiles and peak memory.
    Loadtest(loadtest_cmd::LoadtestArgs),
    /// Operator actions under maker-checker: request, approve, reject, list.
    #[command(subcommand)]
    Ops(ops_cmd::OpsCommand),
    /// Look at one payment, or load a payment history into the store.
    #[command(subcommand)]
    Payment(ops_cmd::PaymentCommand),
    /// The operator policy the store holds: load a policy file as the one in force, or show it.
    #[command(subcommand)]
    Policy(policy_cmd::PolicyCommand),
    /// Inspect and check the event store.
    #[command(subcommand)]
    Store(store_cmd::StoreCommand),
    /// Evidence packs: export one payment's pack with its replay proof, verify a pack offline,
    /// make a signing key pair.
    #[command(subcommand)]
    Evidence(evidence_cmd::EvidenceCommand),
    /// Run the HTTP API (and the orchestrator, with the simulated participant) until SIGTERM.
    ///
    /// Prints `npp serve: listening on http://ADDR` once it accepts requests. Exit 0: stopped
    /// by a signal. Exit 1: stopped on a failure. Exit 2: could not start.
    Serve(serve_cmd::ServeArgs),
    /// The API keys `npp serve` accepts: add (prints the token once), list, revoke.
    #[command(subcommand)]
    Keys(keys_cmd::KeysCommand),
    /// BECS Direct Entry: check an ABA file.
    #[command(subcommand)]
    Becs(becs_cmd::BecsCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Simulate(args) => simulate_cmd::run(&args),
        Command::Replay(args) => replay::run(&args),
        Command::Loadtest(args) => loadtest_cmd::run(&args),
        Command::Store(command) => store_cmd::run(&command),
        Command::Ops(command) => ops_cmd::run(&command),
        Command::Payment(command) => ops_cmd::run_payment(&command),
        Command::Policy(command) => policy_cmd::run(&command),
        Command::Evidence(command) => evidence_cmd::run(&command),
        Command::Serve(args) => serve_cmd::run(&args),
        Command::Keys(command) => keys_cmd::run(&command),
        Command::Becs(command) => becs_cmd::run(&command),
    }
}
