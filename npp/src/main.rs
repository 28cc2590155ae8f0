//! `npp`: the command line of the NPP payment orchestrator.

mod replay;
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
    /// Replay a payment history (JSON Lines, one event per line) and print the resulting state.
    ///
    /// Exit 0: the history is legal; stdout is one JSON object.
    /// Exit 1: an event breaks a rule; stderr names the event number, its type and the rule.
    /// Exit 2: the input cannot be read; stderr names the line.
    Replay(replay::ReplayArgs),
    /// Inspect and check the event store.
    #[command(subcommand)]
    Store(store_cmd::StoreCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Replay(args) => replay::run(&args),
        Command::Store(command) => store_cmd::run(&command),
    }
}
