//! `npp replay`: fold a JSON Lines history through the core and report the state and its hash.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use core_npp::{
    AttemptOutcome, HistoryError, HistoryParser, MAX_LINE_BYTES, Payment, PaymentEvent,
    ReplayError, Timestamp, rebuild_from_events,
};
use serde::Serialize;

/// Exit code when the history breaks a domain rule.
pub const EXIT_RULE_BROKEN: u8 = 1;
/// Exit code when the input cannot be read.
pub const EXIT_UNREADABLE: u8 = 2;

#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// The history: a JSON Lines file, or `-` for standard input. Several files are replayed
    /// one after another, one JSON object per line of output; the exit code is the worst.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Pretty-print the JSON result.
    #[arg(long)]
    pretty: bool,
}

pub fn run(args: &ReplayArgs) -> ExitCode {
    let worst = args
        .files
        .iter()
        .map(|file| replay_file(file, args.pretty))
        .max()
        .unwrap_or(0);
    ExitCode::from(worst)
}

fn replay_file(file: &Path, pretty: bool) -> u8 {
    let history = match read_history(file) {
        Ok(history) => history,
        Err(e) => {
            // `e` reads `line N: message`, or just `message` when it is on no line.
            eprintln!("npp replay: {}: {e}", file.display());
            return EXIT_UNREADABLE;
        }
    };
    let events: Vec<PaymentEvent> = history.iter().map(|(_, e)| e.clone()).collect();
    match rebuild_from_events(&events) {
        Ok(replay) => {
            let report = Report::new(
                replay.payment(),
                replay.event_count(),
                replay.duplicates_ignored(),
            );
            print_report(&report, pretty)
        }
        Err(ReplayError::EmptyHistory) => {
            eprintln!(
                "npp replay: {}: {}",
                file.display(),
                ReplayError::EmptyHistory
            );
            EXIT_RULE_BROKEN
        }
        Err(ReplayError::Rejected {
            index,
            event,
            error,
        }) => {
            let line = history
                .get(index.saturating_sub(1))
                .map_or(0, |(line, _)| *line);
            eprintln!(
                "npp replay: {}: event {index} ({event}, line {line}) breaks rule {} [{}]: {error}",
                file.display(),
                error.rule(),
                error.category(),
            );
            EXIT_RULE_BROKEN
        }
    }
}

fn print_report(report: &Report, pretty: bool) -> u8 {
    let rendered = if pretty {
        serde_json::to_string_pretty(report)
    } else {
        serde_json::to_string(report)
    };
    match rendered {
        Ok(json) => {
            // A reader that closed the pipe ends the command quietly (crate::out).
            outln!("{json}");
            0
        }
        Err(e) => {
            eprintln!("npp replay: cannot render the result: {e}");
            EXIT_UNREADABLE
        }
    }
}

/// The events of a JSON Lines history, or the line (if any) and the reason it cannot be read.
pub(crate) fn read_events(path: &Path) -> Result<Vec<PaymentEvent>, (Option<usize>, String)> {
    read_history(path)
        .map(|history| history.into_iter().map(|(_, event)| event).collect())
        .map_err(|e| (e.line, e.message))
}

/// Reads the file (or standard input for `-`) one line at a time into the core's history parser,
/// which owns the limits, the line numbers and the messages; only opening and reading are here.
fn read_history(path: &Path) -> Result<Vec<(usize, PaymentEvent)>, HistoryError> {
    let reader: Box<dyn Read> = if path.as_os_str() == "-" {
        Box::new(io::stdin().lock())
    } else {
        let file =
            File::open(path).map_err(|e| HistoryError::whole(format!("cannot open: {e}")))?;
        Box::new(file)
    };
    let mut reader = BufReader::new(reader);
    let mut parser = HistoryParser::new(decode_event);
    let mut line = Vec::new();
    loop {
        line.clear();
        // One byte more than a line may hold, so the parser sees (and refuses) a longer one
        // without the whole of it ever being read into memory.
        let read = (&mut reader)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| HistoryError::at_line(parser.next_line(), format!("cannot read: {e}")))?;
        if read == 0 {
            return Ok(parser.finish());
        }
        parser.push_line(&line)?;
    }
}

/// One line's JSON as an event. serde_json reports positions within the line; the parser adds
/// the line number.
fn decode_event(line: &str) -> Result<PaymentEvent, serde_json::Error> {
    serde_json::from_str(line)
}

/// The JSON printed on success.
#[derive(Serialize)]
struct Report {
    payment_intent_id: String,
    state: &'static str,
    event_count: usize,
    attempts: usize,
    duplicates_ignored: usize,
    state_hash: String,
    version: u32,
    amount: i64,
    currency: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure_reason: Option<&'static str>,
    attempt_history: Vec<AttemptReport>,
}

#[derive(Serialize)]
struct AttemptReport {
    attempt_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    sent_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    acknowledged_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    settlement_ref: Option<String>,
}

impl Report {
    fn new(payment: &Payment, event_count: usize, duplicates_ignored: usize) -> Self {
        let failure_reason = match payment.state() {
            core_npp::PaymentState::Failed => payment.last_failure().map(|f| f.reason().name()),
            core_npp::PaymentState::Created
            | core_npp::PaymentState::Authorised
            | core_npp::PaymentState::Sent
            | core_npp::PaymentState::Acknowledged
            | core_npp::PaymentState::Settled
            | core_npp::PaymentState::Expired => None,
        };
        Report {
            payment_intent_id: payment.payment_intent_id().to_string(),
            state: payment.state().name(),
            event_count,
            attempts: payment.attempts().len(),
            duplicates_ignored,
            state_hash: payment.state_hash().to_hex(),
            version: payment.version(),
            amount: payment.amount().minor_units(),
            currency: payment.currency().to_string(),
            failure_reason,
            attempt_history: payment.attempts().iter().map(AttemptReport::new).collect(),
        }
    }
}

impl AttemptReport {
    fn new(attempt: &core_npp::Attempt) -> Self {
        let time = |t: Option<Timestamp>| t.map(Timestamp::to_rfc3339);
        let mut report = AttemptReport {
            attempt_id: attempt.attempt_id().to_string(),
            sent_at: time(attempt.sent_at()),
            acknowledged_at: time(attempt.acknowledged_at()),
            outcome: None,
            reason: None,
            detail: None,
            settlement_ref: None,
        };
        match attempt.outcome() {
            None => {}
            Some(AttemptOutcome::Settled { settlement_ref, .. }) => {
                report.outcome = Some("SETTLED");
                report.settlement_ref = Some(settlement_ref.to_string());
            }
            Some(AttemptOutcome::Failed { reason, detail, .. }) => {
                report.outcome = Some("FAILED");
                report.reason = Some(reason.name());
                report.detail = detail.as_ref().map(ToString::to_string);
            }
        }
        report
    }
}
