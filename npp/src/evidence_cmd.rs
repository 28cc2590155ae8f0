//! `npp evidence`: export a payment's evidence pack, verify a pack, make a signing key pair.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use core_npp::PaymentEvent;
use exports::{
    EvidenceInput, ExportError, PackPublicKey, PackSigningKey, build_pack, verify_pack_bytes,
};

use crate::files;

/// Exit code when a pack is invalid, or a history breaks a rule.
const EXIT_INVALID: u8 = 1;
/// Exit code when an input cannot be read (or an output written).
const EXIT_UNREADABLE: u8 = 2;
/// The largest file read: a pack or a history is kilobytes; this only stops a wrong file.
const MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;
/// The private and public key files `keygen` writes.
const PRIVATE_KEY_FILE: &str = "evidence.key";
const PUBLIC_KEY_FILE: &str = "evidence.pub";

#[derive(clap::Subcommand, Debug)]
pub enum EvidenceCommand {
    /// Build the evidence pack of one payment: from the store (`--payment ID`, with its rail
    /// decisions and every operator request), or from an event history (`--events FILE`, no
    /// database needed; operator actions are then derived from the approvals the events carry).
    ///
    /// Exit 0: the pack is written. Exit 1: the history breaks a rule, or there is no such
    /// payment. Exit 2: an input cannot be read or the output cannot be written.
    Export(ExportArgs),
    /// Verify an evidence pack using nothing but the file (and optionally a trusted public key).
    ///
    /// Exit 0: valid; one summary line. Exit 1: invalid; stderr names the first bad element by
    /// its JSON path. Exit 2: the file cannot be read (missing, not JSON, not a pack of a known
    /// schema version) or the public key file is not a key.
    Verify(VerifyArgs),
    /// Write a new Ed25519 key pair for signing packs: DIR/evidence.key (private, mode 0600: a
    /// header line, then the seed as hex) and DIR/evidence.pub (the public key as hex). Refuses
    /// to overwrite either file (exit 2); a new DIR is made readable by its owner only.
    Keygen(KeygenArgs),
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// The payment's history as JSON Lines, one event per line (the `npp replay` format), or `-`
    /// for standard input.
    #[arg(
        long,
        value_name = "FILE.jsonl",
        required_unless_present = "payment",
        conflicts_with = "payment"
    )]
    events: Option<PathBuf>,
    /// The payment to export from the store.
    #[arg(long, value_name = "ID")]
    payment: Option<String>,
    #[command(flatten)]
    target: crate::target::StoreTarget,
    /// Where to write the pack; standard output when absent.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Sign the pack's proof with this private key file (see `npp evidence keygen`).
    #[arg(long, value_name = "FILE")]
    sign_key: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// The pack file.
    file: PathBuf,
    /// Require a signature by this public key (a file of 64 hex characters).
    #[arg(long, value_name = "FILE")]
    public_key: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct KeygenArgs {
    /// The directory to write evidence.key and evidence.pub into (created if missing).
    #[arg(long, value_name = "DIR", default_value = ".")]
    out_dir: PathBuf,
}

pub fn run(command: &EvidenceCommand) -> ExitCode {
    ExitCode::from(match command {
        EvidenceCommand::Export(args) => export(args),
        EvidenceCommand::Verify(args) => verify(args),
        EvidenceCommand::Keygen(args) => keygen(args),
    })
}

/// The evidence input and a name for it in messages, or the exit code and message.
fn export_input(args: &ExportArgs) -> Result<(EvidenceInput, String), (u8, String)> {
    if let Some(path) = &args.events {
        let events = read_history(path)
            .map_err(|m| (EXIT_UNREADABLE, format!("{}: {m}", path.display())))?;
        let input = EvidenceInput::from_event_history(events)
            .map_err(|e| (EXIT_INVALID, format!("{}: {e}", path.display())))?;
        return Ok((input, path.display().to_string()));
    }
    let raw = args.payment.as_deref().unwrap_or_default();
    let id = core_npp::PaymentIntentId::parse(raw)
        .map_err(|e| (EXIT_UNREADABLE, format!("payment {raw:?}: {e}")))?;
    let store = args.target.open(store::OpenMode::ReadOnly).map_err(|e| {
        (
            EXIT_UNREADABLE,
            format!("cannot open {}: {e}", args.target.describe()),
        )
    })?;
    match exports::evidence_from_store(&*store, id) {
        Ok(Some(input)) => Ok((input, format!("payment {id}"))),
        Ok(None) => Err((
            EXIT_INVALID,
            format!("no payment {id} in {}", args.target.describe()),
        )),
        Err(e) => Err((EXIT_UNREADABLE, e.to_string())),
    }
}

fn export(args: &ExportArgs) -> u8 {
    let (input, source) = match export_input(args) {
        Ok(found) => found,
        Err((code, message)) => {
            eprintln!("npp evidence export: {message}");
            return code;
        }
    };
    let key = match args.sign_key.as_deref().map(read_signing_key).transpose() {
        Ok(key) => key,
        Err(message) => {
            eprintln!("npp evidence export: {message}");
            return EXIT_UNREADABLE;
        }
    };
    let pack = build_pack(&input).and_then(|pack| match &key {
        Some(key) => pack.sign(key),
        None => Ok(pack),
    });
    let pack = match pack {
        Ok(pack) => pack,
        Err(error) => {
            eprintln!("npp evidence export: {source}: {error}");
            return EXIT_INVALID;
        }
    };
    let written = match &args.output {
        Some(path) => files::write_atomic(
            path,
            &pack.to_file_bytes(),
            "an evidence pack",
            files::is_evidence_pack,
        ),
        None => io::stdout()
            .lock()
            .write_all(&pack.to_file_bytes())
            .map_err(|e| format!("cannot write the pack: {e}")),
    };
    match written {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("npp evidence export: {message}");
            EXIT_UNREADABLE
        }
    }
}

fn verify(args: &VerifyArgs) -> u8 {
    let file = args.file.display();
    let bytes = match read_limited(&args.file) {
        Ok(bytes) => bytes,
        Err(message) => {
            eprintln!("npp evidence verify: {file}: {message}");
            return EXIT_UNREADABLE;
        }
    };
    let trusted = match args.public_key.as_deref().map(read_public_key).transpose() {
        Ok(trusted) => trusted,
        Err(message) => {
            eprintln!("npp evidence verify: {message}");
            return EXIT_UNREADABLE;
        }
    };
    match verify_pack_bytes(&bytes, trusted.as_ref()) {
        Ok(verified) => {
            outln!("{file}: {}", verified.summary());
            0
        }
        Err(error) if error.is_unreadable() => {
            eprintln!("npp evidence verify: {file}: cannot read the pack: {error}");
            EXIT_UNREADABLE
        }
        Err(error) => {
            eprintln!("npp evidence verify: {file}: invalid: {error}");
            EXIT_INVALID
        }
    }
}

fn keygen(args: &KeygenArgs) -> u8 {
    match write_key_pair(&args.out_dir) {
        Ok((private, public)) => {
            outln!(
                "wrote {} (private: keep it secret) and {} (public: give it to auditors)",
                private.display(),
                public.display()
            );
            0
        }
        Err(message) => {
            eprintln!("npp evidence keygen: {message}");
            EXIT_UNREADABLE
        }
    }
}

fn write_key_pair(dir: &Path) -> Result<(PathBuf, PathBuf), String> {
    let private = dir.join(PRIVATE_KEY_FILE);
    let public = dir.join(PUBLIC_KEY_FILE);
    // Check both before writing either (a dangling link counts: something is there), so a
    // refusal leaves the directory as it was.
    if let Some(existing) = [&private, &public].into_iter().find(|p| files::occupied(p)) {
        return Err(format!(
            "{} already exists; refusing to overwrite a key",
            existing.display()
        ));
    }
    files::create_private_dir(dir)?;
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)
        .map_err(|e| format!("cannot get random bytes from the operating system: {e}"))?;
    let key = PackSigningKey::from_seed(seed);
    let secret = format!("{}\n{}\n", files::PRIVATE_KEY_HEADER, key.to_hex());
    files::write_synced(&private, secret.as_bytes(), 0o600)?;
    let public_text = format!("{}\n", key.public_key().to_hex());
    if let Err(e) = files::write_synced(&public, public_text.as_bytes(), 0o644) {
        // Never leave half a pair: a private key without its public key helps nobody.
        let _ = fs::remove_file(&private);
        return Err(e);
    }
    Ok((private, public))
}

pub(crate) fn read_signing_key(path: &Path) -> Result<PackSigningKey, String> {
    let text = read_text(path)?;
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    match (lines.next(), lines.next(), lines.next()) {
        (Some(files::PRIVATE_KEY_HEADER), Some(hex), None) => {
            PackSigningKey::from_hex(hex).map_err(|e| describe_key_error(path, &e))
        }
        (Some(_), None, None) => Err(format!(
            "{}: one line of hex is a public key file (what `npp evidence keygen` writes as \
             evidence.pub); sign with the private key file, whose first line is {}",
            path.display(),
            files::PRIVATE_KEY_HEADER
        )),
        _ => Err(format!(
            "{}: not a private key file (its first line must be {})",
            path.display(),
            files::PRIVATE_KEY_HEADER
        )),
    }
}

fn read_public_key(path: &Path) -> Result<PackPublicKey, String> {
    let text = read_text(path)?;
    PackPublicKey::from_hex(&text).map_err(|e| describe_key_error(path, &e))
}

fn describe_key_error(path: &Path, error: &ExportError) -> String {
    format!("{}: {error}", path.display())
}

fn read_text(path: &Path) -> Result<String, String> {
    let bytes = read_limited(path).map_err(|e| format!("{}: {e}", path.display()))?;
    String::from_utf8(bytes).map_err(|_| format!("{}: not UTF-8 text", path.display()))
}

/// Reads a whole file (or standard input for `-`), refusing anything over [`MAX_INPUT_BYTES`].
fn read_limited(path: &Path) -> Result<Vec<u8>, String> {
    let reader: Box<dyn Read> = if path.as_os_str() == "-" {
        Box::new(io::stdin().lock())
    } else {
        Box::new(File::open(path).map_err(|e| format!("cannot open: {e}"))?)
    };
    let mut bytes = Vec::new();
    reader
        .take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(format!("larger than {MAX_INPUT_BYTES} bytes"));
    }
    Ok(bytes)
}

/// Reads a JSON Lines history with the one history parser (`core_npp::parse_history_with`, as
/// `npp replay` does); an error names the line.
fn read_history(path: &Path) -> Result<Vec<PaymentEvent>, String> {
    let bytes = read_limited(path)?;
    core_npp::parse_history_with(&bytes, |line| serde_json::from_str::<PaymentEvent>(line))
        .map(|history| history.into_iter().map(|(_, event)| event).collect())
        .map_err(|e| e.to_string())
}
