//! `npp policy`: the operator policy the store holds. `load` records a policy file as the one in
//! force (its version and SHA-256, and the document whole); `show` prints the one in force.

use std::path::PathBuf;
use std::process::ExitCode;

use app_ops::{Clock, PolicyGate, PolicyLoad, SystemClock, load_policy, policy_in_force};
use store::OpenMode;

use crate::ops_cmd::{Failure, finish, open_read_only, read_policy, unusable};
use crate::target::StoreTarget;

#[derive(clap::Subcommand, Debug)]
pub enum PolicyCommand {
    /// Record a policy file as the store's policy in force. A changed document needs a new
    /// version; loading the document already in force changes nothing.
    Load(LoadArgs),
    /// Print the store's policy in force: its version, SHA-256, when it was loaded, and the
    /// document itself.
    Show(ShowArgs),
}

#[derive(clap::Args, Debug)]
pub struct LoadArgs {
    /// The policy file (TOML).
    file: PathBuf,
    #[command(flatten)]
    target: StoreTarget,
}

#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    #[command(flatten)]
    target: StoreTarget,
}

pub fn run(command: &PolicyCommand) -> ExitCode {
    match command {
        PolicyCommand::Load(args) => finish("policy load", load(args)),
        PolicyCommand::Show(args) => finish("policy show", show(args)),
    }
}

fn load(args: &LoadArgs) -> Result<(), Failure> {
    let policy = read_policy(&args.file)?;
    let store = args
        .target
        .open(OpenMode::CreateIfMissing)
        .map_err(|e| unusable(format!("cannot open {}: {e}", args.target.describe())))?;
    match load_policy(&*store, &policy, SystemClock.now())? {
        PolicyLoad::AlreadyInForce => outln!(
            "policy {} (sha256 {}) is already the one in force; nothing changed",
            policy.version(),
            policy.sha256()
        ),
        PolicyLoad::Loaded { replaced } => {
            let replaced = replaced.map_or_else(
                || "the store held none before".to_owned(),
                |(version, sha256)| format!("replacing {version} (sha256 {sha256})"),
            );
            outln!(
                "policy {} (sha256 {}) is now in force, {replaced}; requests made under \
                 another policy must be made again",
                policy.version(),
                policy.sha256()
            );
        }
    }
    Ok(())
}

fn show(args: &ShowArgs) -> Result<(), Failure> {
    let store = open_read_only(&args.target)?;
    let Some(stored) = policy_in_force(&*store)? else {
        return Err(Failure(
            1,
            format!(
                "{} holds no operator policy yet (`npp policy load FILE`)",
                args.target.describe()
            ),
        ));
    };
    outln!(
        "policy {} (sha256 {}), loaded {} ({} loaded so far)",
        stored.policy.version(),
        stored.policy.sha256(),
        stored.loaded_at,
        stored.stream_version
    );
    out!("{}", stored.policy.text());
    if !stored.policy.text().ends_with('\n') {
        outln!();
    }
    Ok(())
}
