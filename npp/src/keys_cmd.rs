//! `npp keys add|list|revoke`: the API keys `npp serve` accepts. The file keeps each key's name,
//! role and the SHA-256 of its token; `add` prints the token once, alone on the last line.

use std::path::PathBuf;
use std::process::ExitCode;

use app_ops::Clock;
use core_npp::OperatorId;
use http_api::{KeyFile, Role, keys};

/// Exit status: the file or an argument is unusable.
const EXIT_UNUSABLE: u8 = 2;
/// Exit status: refused (a name taken, unknown or already revoked).
const EXIT_REFUSED: u8 = 1;

#[derive(clap::Subcommand, Debug)]
pub enum KeysCommand {
    /// Make a key; prints its token alone on the last line (shown once: the file keeps only a
    /// hash). The name is the operator id the maker-checker policy knows.
    Add(AddArgs),
    /// List the keys: name, role, made, revoked (never a token).
    List(FileArg),
    /// Revoke a key; a running server refuses it within a second.
    Revoke(RevokeArgs),
}

#[derive(clap::Args, Debug)]
pub struct FileArg {
    /// The keys file.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "keys.toml",
        env = "NPP_KEYS"
    )]
    keys: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct AddArgs {
    #[command(flatten)]
    file: FileArg,
    /// Who holds the key: an operator id (`[A-Za-z0-9._:-]`, up to 35).
    #[arg(long, value_name = "NAME")]
    name: String,
    /// What it may do.
    #[arg(long, value_parser = ["channel", "operator", "auditor", "admin"])]
    role: String,
}

#[derive(clap::Args, Debug)]
pub struct RevokeArgs {
    #[command(flatten)]
    file: FileArg,
    /// The key's name.
    #[arg(long, value_name = "NAME")]
    name: String,
}

fn fail(code: u8, command: &str, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("npp keys {command}: {message}");
    ExitCode::from(code)
}

fn refusal_code(e: &http_api::KeysError) -> u8 {
    match e {
        http_api::KeysError::NameTaken(_)
        | http_api::KeysError::UnknownName(_)
        | http_api::KeysError::AlreadyRevoked(_) => EXIT_REFUSED,
        http_api::KeysError::File { .. }
        | http_api::KeysError::Malformed(_)
        | http_api::KeysError::NoRandomness(_) => EXIT_UNUSABLE,
    }
}

pub fn run(command: &KeysCommand) -> ExitCode {
    let now = app_ops::SystemClock.now();
    match command {
        KeysCommand::Add(args) => {
            let name = match OperatorId::parse(&args.name) {
                Ok(name) => name,
                Err(e) => return fail(EXIT_UNUSABLE, "add", format!("name {:?}: {e}", args.name)),
            };
            let Some(role) = Role::parse(&args.role) else {
                return fail(EXIT_UNUSABLE, "add", format!("unknown role {}", args.role));
            };
            let mut file = match KeyFile::load(&args.file.keys, true) {
                Ok(file) => file,
                Err(e) => return fail(refusal_code(&e), "add", e),
            };
            let token = match file.add(name, role, now) {
                Ok(token) => token,
                Err(e) => return fail(refusal_code(&e), "add", e),
            };
            if let Err(e) = keys::save(&args.file.keys, &file) {
                return fail(refusal_code(&e), "add", e);
            }
            outln!(
                "added {} key {name} to {} (the token is shown once; the file keeps its hash):",
                role.name(),
                args.file.keys.display()
            );
            outln!("{token}");
            ExitCode::SUCCESS
        }
        KeysCommand::List(args) => {
            let file = match KeyFile::load(&args.keys, false) {
                Ok(file) => file,
                Err(e) => return fail(refusal_code(&e), "list", e),
            };
            outln!("{:<35}  {:<8}  {:<20}  revoked", "name", "role", "made");
            for key in &file.keys {
                outln!(
                    "{:<35}  {:<8}  {:<20}  {}",
                    key.name.to_string(),
                    key.role.name(),
                    key.created_at.to_string(),
                    key.revoked_at
                        .map_or_else(|| "-".to_owned(), |t| t.to_string())
                );
            }
            ExitCode::SUCCESS
        }
        KeysCommand::Revoke(args) => {
            let name = match OperatorId::parse(&args.name) {
                Ok(name) => name,
                Err(e) => {
                    return fail(
                        EXIT_UNUSABLE,
                        "revoke",
                        format!("name {:?}: {e}", args.name),
                    );
                }
            };
            let mut file = match KeyFile::load(&args.file.keys, false) {
                Ok(file) => file,
                Err(e) => return fail(refusal_code(&e), "revoke", e),
            };
            if let Err(e) = file.revoke(&name, now) {
                return fail(refusal_code(&e), "revoke", e);
            }
            if let Err(e) = keys::save(&args.file.keys, &file) {
                return fail(refusal_code(&e), "revoke", e);
            }
            outln!("revoked key {name}");
            ExitCode::SUCCESS
        }
    }
}
