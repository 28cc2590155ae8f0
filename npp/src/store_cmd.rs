//! `npp store verify`: walk every stream, check every hash chain, replay every payment.

use std::process::ExitCode;

use app_ops::{VerifyFailure, verify_store_with};
use store::OpenMode;

use crate::target::StoreTarget;

/// Exit code when corruption or a broken rule is found.
const EXIT_CORRUPT: u8 = 1;
/// Exit code when the store cannot be opened or read.
const EXIT_CANNOT_OPEN: u8 = 2;

#[derive(clap::Subcommand, Debug)]
pub enum StoreCommand {
    /// Check every stream's hash chain and replay every payment through the domain core.
    ///
    /// Exit 0: clean. Exit 1: a corrupt or illegal event, named by stream and version.
    /// Exit 2: the store cannot be opened.
    Verify(VerifyArgs),
}

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    target: StoreTarget,
}

pub fn run(command: &StoreCommand) -> ExitCode {
    match command {
        StoreCommand::Verify(args) => verify(args),
    }
}

fn verify(args: &VerifyArgs) -> ExitCode {
    let store = match args.target.open(OpenMode::ReadOnly) {
        Ok(store) => store,
        Err(e) => {
            eprintln!(
                "npp store verify: cannot open {}: {e}",
                args.target.describe()
            );
            return ExitCode::from(EXIT_CANNOT_OPEN);
        }
    };
    match verify_store_with(
        &*store,
        &[
            &orchestrator::RailFactsCheck,
            &simulator::SimReceivedCheck,
            &http_api::webhooks::WebhookCheck,
        ],
    ) {
        Ok(report) => {
            let states: Vec<String> = report
                .by_state
                .iter()
                .map(|(state, n)| format!("{state} {n}"))
                .collect();
            outln!(
                "clean: {} streams, {} events, {} payments ({}); every hash chain holds and every payment replays",
                report.streams,
                report.events,
                report.payments,
                if states.is_empty() {
                    "none".to_owned()
                } else {
                    states.join(", ")
                }
            );
            ExitCode::SUCCESS
        }
        Err(VerifyFailure::Unreadable(e)) => {
            eprintln!(
                "npp store verify: cannot read {}: {e}",
                args.target.describe()
            );
            ExitCode::from(EXIT_CANNOT_OPEN)
        }
        Err(failure) => {
            eprintln!("npp store verify: {failure}");
            ExitCode::from(EXIT_CORRUPT)
        }
    }
}
