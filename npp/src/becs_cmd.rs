//! `npp becs`: BECS Direct Entry files. `validate` checks an ABA file field by field.

use std::path::PathBuf;
use std::process::ExitCode;

use rail_becs::{AbaError, Record, Strictness, parse};
use serde::Serialize;

/// Exit status: the file is not a valid ABA file.
const EXIT_INVALID: u8 = 1;
/// Exit status: the file cannot be read.
const EXIT_UNREADABLE: u8 = 2;
/// The largest file `validate` reads: 64 MiB, over 500,000 records.
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

#[derive(clap::Subcommand, Debug)]
pub enum BecsCommand {
    /// Check an ABA ("Cemtex") file: every field of every record, the order of the records and
    /// the file totals; every error is listed as FILE:LINE:COLUMN: error[aba/FIELD].
    ///
    /// Exit 0: valid. Exit 1: invalid. Exit 2: the file cannot be read.
    Validate(ValidateArgs),
}

#[derive(clap::Args, Debug)]
pub struct ValidateArgs {
    /// The ABA file.
    file: PathBuf,
    /// Print one JSON object: valid, count, the totals, errors, warnings and every record's
    /// fields by name.
    #[arg(long)]
    json: bool,
    /// Refuse records shorter than 120 characters (by default they are read as blank-filled,
    /// with a warning: published samples strip trailing blanks).
    #[arg(long)]
    strict: bool,
}

pub fn run(command: &BecsCommand) -> ExitCode {
    match command {
        BecsCommand::Validate(args) => validate(args),
    }
}

#[derive(Serialize)]
struct LinedRecord<'a> {
    line: usize,
    #[serde(flatten)]
    record: &'a Record,
}

#[derive(Serialize)]
struct Report<'a> {
    valid: bool,
    count: u32,
    credit_total_cents: u64,
    debit_total_cents: u64,
    net_total_cents: u64,
    errors: &'a [AbaError],
    warnings: &'a [AbaError],
    records: Vec<LinedRecord<'a>>,
}

fn read(path: &PathBuf) -> Result<String, String> {
    let metadata = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !metadata.is_file() {
        return Err(format!("{}: not a file", path.display()));
    }
    if metadata.len() > MAX_FILE_BYTES {
        return Err(format!(
            "{}: {} bytes; the most this reads is {MAX_FILE_BYTES}",
            path.display(),
            metadata.len()
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    // A byte that is not ASCII is the file's fault, reported at its line and column.
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn validate(args: &ValidateArgs) -> ExitCode {
    let text = match read(&args.file) {
        Ok(text) => text,
        Err(why) => {
            eprintln!("npp becs validate: {why}");
            return ExitCode::from(EXIT_UNREADABLE);
        }
    };
    let strictness = if args.strict {
        Strictness::Strict
    } else {
        Strictness::Lenient
    };
    let parsed = parse(&text, strictness);
    let sums = parsed.sums();
    if args.json {
        let report = Report {
            valid: parsed.is_valid(),
            count: sums.record_count,
            credit_total_cents: sums.credit_total_cents,
            debit_total_cents: sums.debit_total_cents,
            net_total_cents: sums.net_total_cents,
            errors: &parsed.errors,
            warnings: &parsed.warnings,
            records: parsed
                .records
                .iter()
                .map(|(line, record)| LinedRecord {
                    line: *line,
                    record,
                })
                .collect(),
        };
        match serde_json::to_string_pretty(&report) {
            Ok(json) => outln!("{json}"),
            Err(e) => {
                eprintln!("npp becs validate: cannot write the report: {e}");
                return ExitCode::from(EXIT_UNREADABLE);
            }
        }
    } else {
        let file = args.file.display();
        for (severity, found) in [("error", &parsed.errors), ("warning", &parsed.warnings)] {
            for e in found.iter() {
                outln!(
                    "{file}:{}:{}: {severity}[aba/{}]: {}",
                    e.line,
                    e.column,
                    e.field,
                    e.message
                );
            }
        }
        outln!(
            "{file}: {}: {} items, credits {} cents, debits {} cents, net {} cents; {} errors, {} warnings",
            if parsed.is_valid() {
                "valid"
            } else {
                "INVALID"
            },
            sums.record_count,
            sums.credit_total_cents,
            sums.debit_total_cents,
            sums.net_total_cents,
            parsed.errors.len(),
            parsed.warnings.len()
        );
    }
    if parsed.is_valid() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_INVALID)
    }
}
