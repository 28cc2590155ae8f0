//! Reading and writing ABA files by the layout tables: every field checked for its width,
//! justification, fill and characters; the file checked for its order (one descriptive record
//! first, one file total last) and its totals. Reading lists every error, not only the first.

use serde::Serialize;

use crate::layout::{Field, Kind, RECORD_LEN, layout};
use crate::record::{AbaDate, Fields, Record, Total};

/// What is wrong, and where: the line (from 1), the column (from 1, as the banks'
/// specifications count), the field, and what was expected.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, thiserror::Error)]
#[error("line {line}, column {column} ({field}): {message}")]
pub struct AbaError {
    /// The line.
    pub line: usize,
    /// The column.
    pub column: usize,
    /// The field's name (`record`, `file` for what concerns more than one field).
    pub field: &'static str,
    /// What was found and what was expected.
    pub message: String,
}

/// A file as read: its records with their lines, every error and warning.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Parsed {
    /// The records that could be read, with their line numbers.
    pub records: Vec<(usize, Record)>,
    /// Everything wrong with the file; empty when it is valid.
    pub errors: Vec<AbaError>,
    /// What was accepted but is not as the specification writes it (short lines).
    pub warnings: Vec<AbaError>,
}

impl Parsed {
    /// Whether the file is valid.
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }

    /// The sums of the file's items, as its total record should state them.
    pub fn sums(&self) -> Total {
        let mut credit = 0u64;
        let mut debit = 0u64;
        let mut count = 0u32;
        for (_, record) in &self.records {
            let Some(item) = record.item() else {
                continue;
            };
            let (code, amount) = (item.transaction_code, item.amount_cents);
            count = count.saturating_add(1);
            if code.is_debit() {
                debit = debit.saturating_add(amount);
            } else {
                credit = credit.saturating_add(amount);
            }
        }
        Total {
            net_total_cents: credit.abs_diff(debit),
            credit_total_cents: credit,
            debit_total_cents: debit,
            record_count: count,
        }
    }
}

/// How strictly lines are read.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Strictness {
    /// A line shorter than 120 characters is read as if blank-filled, with a warning (published
    /// bank samples strip trailing blanks).
    #[default]
    Lenient,
    /// Every line is exactly 120 characters.
    Strict,
}

fn error(line: usize, column: usize, field: &'static str, message: impl Into<String>) -> AbaError {
    AbaError {
        line,
        column,
        field,
        message: message.into(),
    }
}

/// Checks one field's text (exactly its width) and returns it without its fill.
fn read_field<'a>(f: &Field, text: &'a str, line: usize) -> Result<&'a str, AbaError> {
    let fail = |offset: usize, message: String| error(line, f.column + offset, f.name, message);
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    match f.kind {
        Kind::Literal(expected) => {
            if text == expected {
                Ok(text)
            } else {
                Err(fail(0, format!("{text:?} where {expected:?} must be")))
            }
        }
        Kind::Blank => match text.find(|c| c != ' ') {
            None => Ok(""),
            Some(at) => Err(fail(at, format!("{text:?} where blanks must be"))),
        },
        Kind::Numeric => match text.find(|c: char| !c.is_ascii_digit()) {
            None => Ok(text.trim_start_matches('0')),
            Some(at) => Err(fail(
                at,
                format!("{text:?} is not {} digits, zero-filled", f.width),
            )),
        },
        Kind::Text { optional } => {
            if text.starts_with(' ') && !text.trim().is_empty() {
                return Err(fail(0, format!("{text:?} is not left-justified")));
            }
            let value = text.trim_end();
            if value.is_empty() && !optional {
                return Err(fail(0, "is blank; it must be given".to_owned()));
            }
            Ok(value)
        }
        Kind::Account => {
            let value = text.trim_start();
            if text.ends_with(' ') && !value.is_empty() {
                return Err(fail(0, format!("{text:?} is not right-justified")));
            }
            if value.is_empty() {
                return Err(fail(
                    0,
                    "is blank; an account number must be given".to_owned(),
                ));
            }
            match value.find(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
                None => Ok(value),
                Some(at) => Err(fail(
                    f.width - value.len() + at,
                    format!("{value:?} holds a character an account number cannot"),
                )),
            }
        }
        Kind::Bsb => {
            let ok = text.len() == 7
                && text.get(3..4) == Some("-")
                && text.get(..3).is_some_and(digits)
                && text.get(4..).is_some_and(digits);
            if ok {
                Ok(text)
            } else {
                Err(fail(0, format!("{text:?} is not a BSB written NNN-NNN")))
            }
        }
        Kind::OneOf(allowed) => {
            if text.len() == 1 && allowed.contains(text) {
                Ok(text)
            } else {
                let listed: Vec<String> = allowed.chars().map(|c| format!("{c:?}")).collect();
                Err(fail(
                    0,
                    format!("{text:?} is not one of {}", listed.join(", ")),
                ))
            }
        }
        Kind::Date => match AbaDate::parse(text) {
            Some(_) => Ok(text),
            None => Err(fail(0, format!("{text:?} is not a date written DDMMYY"))),
        },
    }
}

/// Reads one line (without its line ending): the record, or every error in it.
fn read_line(
    text: &str,
    line: usize,
    strictness: Strictness,
    warnings: &mut Vec<AbaError>,
) -> Result<Record, Vec<AbaError>> {
    if let Some((at, c)) = text.char_indices().find(|(_, c)| !(' '..='~').contains(c)) {
        let column = text.get(..at).map_or(1, |s| s.chars().count() + 1);
        return Err(vec![error(
            line,
            column,
            "record",
            format!("{c:?} is not a character ABA files carry (printable ASCII)"),
        )]);
    }
    let length = text.len();
    if length > RECORD_LEN {
        return Err(vec![error(
            line,
            RECORD_LEN + 1,
            "record",
            format!("the record is {length} characters; ABA records are {RECORD_LEN}"),
        )]);
    }
    let mut padded = text.to_owned();
    if length < RECORD_LEN {
        let short = error(
            line,
            length + 1,
            "record",
            format!(
                "the record is {length} characters, not {RECORD_LEN}; the missing {} are read as blanks",
                RECORD_LEN - length
            ),
        );
        if strictness == Strictness::Strict {
            return Err(vec![short]);
        }
        warnings.push(short);
        padded.push_str(&" ".repeat(RECORD_LEN - length));
    }
    let kind = padded.chars().next().unwrap_or(' ');
    let Some(fields) = layout(kind) else {
        return Err(vec![error(
            line,
            1,
            "record_type",
            format!("{kind:?} is not a record type (0, 1, 2 or 7)"),
        )]);
    };
    let mut values = Vec::with_capacity(fields.len());
    let mut errors = Vec::new();
    for f in fields {
        let text = padded
            .get(f.column - 1..f.column - 1 + f.width)
            .unwrap_or("");
        match read_field(f, text, line) {
            Ok(value) => values.push((f.name, value)),
            Err(e) => errors.push(e),
        }
    }
    if let Some((_, code)) = values.iter().find(|(n, _)| *n == "transaction_code") {
        let known = code
            .parse::<u8>()
            .ok()
            .and_then(crate::record::TransactionCode::new);
        if known.is_none() {
            errors.push(error(
                line,
                19,
                "transaction_code",
                format!("{code:?} is not a BECS transaction code (13 debit, 50 to 57 credits)"),
            ));
        }
    }
    if let Some((_, amount)) = values.iter().find(|(n, _)| *n == "amount_cents")
        && amount.is_empty()
    {
        errors.push(error(
            line,
            21,
            "amount_cents",
            "an item of 0 cents moves nothing",
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Record::from_fields(kind, &Fields { values }).ok_or_else(|| {
        vec![error(
            line,
            1,
            "record",
            "the record's fields do not make a record",
        )]
    })
}

/// Reads an ABA file (lines ending in CRLF or LF): every record it can, every error in it.
pub fn parse(text: &str, strictness: Strictness) -> Parsed {
    let mut parsed = Parsed::default();
    let body = text.strip_suffix('\n').unwrap_or(text);
    if body.is_empty() {
        parsed.errors.push(error(
            1,
            1,
            "file",
            "the file is empty; it needs a descriptive record, items and a file total",
        ));
        return parsed;
    }
    let mut lines = 0;
    for (index, raw) in body.split('\n').enumerate() {
        let line = index + 1;
        lines = line;
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        match read_line(raw, line, strictness, &mut parsed.warnings) {
            Ok(record) => parsed.records.push((line, record)),
            Err(mut errors) => parsed.errors.append(&mut errors),
        }
    }
    check_order(&mut parsed, lines);
    check_totals(&mut parsed, lines);
    parsed
}

fn check_order(parsed: &mut Parsed, lines: usize) {
    let mut errors = Vec::new();
    let (mut details, mut returned) = (0usize, 0usize);
    for (line, record) in &parsed.records {
        let first = *line == 1;
        let last = *line == lines;
        match record {
            Record::Descriptive(_) if !first => errors.push(error(
                *line,
                1,
                "record_type",
                "a descriptive record (0) comes only first, once",
            )),
            Record::Total(_) if !last => errors.push(error(
                *line,
                1,
                "record_type",
                "the file total (7) comes only last, once",
            )),
            Record::Detail(_) => details += 1,
            Record::Returned(_) => returned += 1,
            Record::Descriptive(_) | Record::Total(_) => {}
        }
    }
    let starts = parsed
        .records
        .first()
        .is_some_and(|(l, r)| *l == 1 && r.kind() == '0');
    if !starts && !parsed.errors.iter().any(|e| e.line == 1) {
        errors.push(error(
            1,
            1,
            "record_type",
            "the first record must be the descriptive record (0)",
        ));
    }
    let ends = parsed
        .records
        .last()
        .is_some_and(|(l, r)| *l == lines && r.kind() == '7');
    if !ends && !parsed.errors.iter().any(|e| e.line == lines) {
        errors.push(error(
            lines,
            1,
            "record_type",
            "the last record must be the file total (7)",
        ));
    }
    if details > 0 && returned > 0 {
        errors.push(error(
            1,
            1,
            "file",
            "a file holds detail records (1) or returned items (2), not both",
        ));
    }
    parsed.errors.append(&mut errors);
}

fn check_totals(parsed: &mut Parsed, lines: usize) {
    let Some((_, Record::Total(stated))) = parsed.records.last().cloned() else {
        return;
    };
    let line = lines;
    if parsed.records.len() < lines {
        // Items that could not be read cannot be summed: the totals would only add noise.
        return;
    }
    let sums = parsed.sums();
    let checks = [
        (
            "net_total_cents",
            21,
            stated.net_total_cents,
            sums.net_total_cents,
        ),
        (
            "credit_total_cents",
            31,
            stated.credit_total_cents,
            sums.credit_total_cents,
        ),
        (
            "debit_total_cents",
            41,
            stated.debit_total_cents,
            sums.debit_total_cents,
        ),
        (
            "record_count",
            75,
            u64::from(stated.record_count),
            u64::from(sums.record_count),
        ),
    ];
    for (field, column, stated, summed) in checks {
        if stated != summed {
            parsed.errors.push(error(
                line,
                column,
                field,
                format!("states {stated} but the items sum to {summed}"),
            ));
        }
    }
}

/// Writes one field's text, justified and filled as its kind asks; an error names the field.
fn write_field(f: &Field, value: &str, out: &mut String) -> Result<(), String> {
    if !value.chars().all(|c| (' '..='~').contains(&c)) {
        return Err(format!(
            "{}: {value:?} holds a character ABA files cannot carry",
            f.name
        ));
    }
    if value.len() > f.width {
        return Err(format!(
            "{}: {value:?} is {} characters; the field holds {}",
            f.name,
            value.len(),
            f.width
        ));
    }
    let fill = f.width - value.len();
    match f.kind {
        Kind::Literal(text) => out.push_str(text),
        Kind::Blank => out.push_str(&" ".repeat(f.width)),
        Kind::Numeric => {
            out.push_str(&"0".repeat(fill));
            out.push_str(value);
        }
        Kind::Account => {
            out.push_str(&" ".repeat(fill));
            out.push_str(value);
        }
        Kind::Text { .. } | Kind::Bsb | Kind::OneOf(_) | Kind::Date => {
            out.push_str(value);
            out.push_str(&" ".repeat(fill));
        }
    }
    Ok(())
}

/// One record as 120 characters (without a line ending).
pub fn write_record(record: &Record) -> Result<String, String> {
    let fields = layout(record.kind()).ok_or("not a record type")?;
    let texts = record.texts();
    let mut out = String::with_capacity(RECORD_LEN);
    for f in fields {
        let value = texts
            .iter()
            .find(|(name, _)| *name == f.name)
            .map_or("", |(_, v)| v.as_str());
        write_field(f, value, &mut out)?;
    }
    // What was written must read back as itself: a value the layout would refuse is refused.
    let mut warnings = Vec::new();
    match read_line(&out, 1, Strictness::Strict, &mut warnings) {
        Ok(read) if read == *record => Ok(out),
        Ok(_) => Err("the record does not read back as written".to_owned()),
        Err(errors) => Err(errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ")),
    }
}

/// A whole file: the descriptive record, the items, and the file total computed from them, each
/// record 120 characters and CRLF-terminated, as the banks' specifications ask.
pub fn write_file(records: &[Record]) -> Result<String, String> {
    let parsed = Parsed {
        records: records
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, r)| (i + 1, r))
            .collect(),
        ..Parsed::default()
    };
    let mut out = String::with_capacity((records.len() + 1) * (RECORD_LEN + 2));
    for record in records {
        out.push_str(&write_record(record)?);
        out.push_str("\r\n");
    }
    out.push_str(&write_record(&Record::Total(parsed.sums()))?);
    out.push_str("\r\n");
    // A file is written only if it reads back valid: its records in order, not mixed.
    match parse(&out, Strictness::Strict).errors.first() {
        None => Ok(out),
        Some(e) => Err(format!("{}: {}", e.field, e.message)),
    }
}
