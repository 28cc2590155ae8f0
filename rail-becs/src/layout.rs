//! Where every field of every ABA record lies: position, width, justification, fill and the
//! characters it may hold, as data. Parsing and writing both read these tables, so the two can
//! never disagree about a field.

/// Characters per record.
pub const RECORD_LEN: usize = 120;

/// What a field holds, and so how it is justified and filled.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// Exactly this text (the record type, the file total's `999-999`).
    Literal(&'static str),
    /// Blanks only.
    Blank,
    /// Digits, right-justified and zero-filled (amounts in cents, counts, ids).
    Numeric,
    /// Text left-justified and blank-filled, at least one character unless `optional`.
    Text {
        /// Whether it may be all blanks.
        optional: bool,
    },
    /// Digits, letters and hyphens, right-justified and blank-filled (account numbers).
    Account,
    /// A BSB, `NNN-NNN`.
    Bsb,
    /// One character from a set (the indicator, the return code).
    OneOf(&'static str),
    /// A date, `DDMMYY`.
    Date,
}

/// One field: its name (as `--json` and errors give it), its first column (1-based), its width
/// and its kind.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Field {
    /// Its name.
    pub name: &'static str,
    /// Its first column, counting from 1 as the banks' specifications do.
    pub column: usize,
    /// Its width.
    pub width: usize,
    /// What it holds.
    pub kind: Kind,
}

const fn field(name: &'static str, column: usize, width: usize, kind: Kind) -> Field {
    Field {
        name,
        column,
        width,
        kind,
    }
}

/// The indicators a detail record may carry: blank, N (new or varied BSB or account), W, X, Y
/// (withholding tax: dividend to a resident of a treaty country, dividend to a non-resident,
/// interest to a non-resident).
pub const INDICATORS: &str = " NWXY";
/// The return codes of a returned item: 1 invalid BSB, 2 payment stopped, 3 account closed,
/// 4 customer deceased, 5 no account or incorrect account number, 6 refer to customer, 7 deleted,
/// 8 invalid user id, 9 technically invalid.
pub const RETURN_CODES: &str = "123456789";

/// Record type 0, the descriptive record.
pub const DESCRIPTIVE: &[Field] = &[
    field("record_type", 1, 1, Kind::Literal("0")),
    field("blank_2", 2, 17, Kind::Blank),
    field("reel_sequence", 19, 2, Kind::Numeric),
    field("bank", 21, 3, Kind::Text { optional: false }),
    field("blank_24", 24, 7, Kind::Blank),
    field("user_name", 31, 26, Kind::Text { optional: false }),
    field("user_id", 57, 6, Kind::Numeric),
    field("description", 63, 12, Kind::Text { optional: false }),
    field("processing_date", 75, 6, Kind::Date),
    field("blank_81", 81, 40, Kind::Blank),
];

/// Record type 1, a detail record (one credit or debit).
pub const DETAIL: &[Field] = &[
    field("record_type", 1, 1, Kind::Literal("1")),
    field("bsb", 2, 7, Kind::Bsb),
    field("account", 9, 9, Kind::Account),
    field("indicator", 18, 1, Kind::OneOf(INDICATORS)),
    field("transaction_code", 19, 2, Kind::Numeric),
    field("amount_cents", 21, 10, Kind::Numeric),
    field("title", 31, 32, Kind::Text { optional: false }),
    field(
        "lodgement_reference",
        63,
        18,
        Kind::Text { optional: false },
    ),
    field("trace_bsb", 81, 7, Kind::Bsb),
    field("trace_account", 88, 9, Kind::Account),
    field("remitter", 97, 16, Kind::Text { optional: false }),
    field("withholding_tax_cents", 113, 8, Kind::Numeric),
];

/// Record type 2, a returned item (in a returns file): a detail record with the return code in
/// column 18, and the original processing day and user id where the withholding tax was.
pub const RETURNED: &[Field] = &[
    field("record_type", 1, 1, Kind::Literal("2")),
    field("bsb", 2, 7, Kind::Bsb),
    field("account", 9, 9, Kind::Account),
    field("return_code", 18, 1, Kind::OneOf(RETURN_CODES)),
    field("transaction_code", 19, 2, Kind::Numeric),
    field("amount_cents", 21, 10, Kind::Numeric),
    field("title", 31, 32, Kind::Text { optional: false }),
    field(
        "lodgement_reference",
        63,
        18,
        Kind::Text { optional: false },
    ),
    field("trace_bsb", 81, 7, Kind::Bsb),
    field("trace_account", 88, 9, Kind::Account),
    field("remitter", 97, 16, Kind::Text { optional: false }),
    field("original_processing_day", 113, 2, Kind::Numeric),
    field("original_user_id", 115, 6, Kind::Numeric),
];

/// Record type 7, the file total.
pub const TOTAL: &[Field] = &[
    field("record_type", 1, 1, Kind::Literal("7")),
    field("bsb_filler", 2, 7, Kind::Literal("999-999")),
    field("blank_9", 9, 12, Kind::Blank),
    field("net_total_cents", 21, 10, Kind::Numeric),
    field("credit_total_cents", 31, 10, Kind::Numeric),
    field("debit_total_cents", 41, 10, Kind::Numeric),
    field("blank_51", 51, 24, Kind::Blank),
    field("record_count", 75, 6, Kind::Numeric),
    field("blank_81", 81, 40, Kind::Blank),
];

/// The layout of the record whose type is `kind` (the first character), if it is one.
pub fn layout(kind: char) -> Option<&'static [Field]> {
    match kind {
        '0' => Some(DESCRIPTIVE),
        '1' => Some(DETAIL),
        '2' => Some(RETURNED),
        '7' => Some(TOTAL),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_layout_covers_columns_1_to_120_once_in_order() {
        for table in [DESCRIPTIVE, DETAIL, RETURNED, TOTAL] {
            let mut next = 1;
            for f in table {
                assert_eq!(f.column, next, "{} starts at {}", f.name, f.column);
                if let Kind::Literal(text) = f.kind {
                    assert_eq!(text.len(), f.width, "{}", f.name);
                }
                if matches!(f.kind, Kind::Bsb) {
                    assert_eq!(f.width, 7, "{}", f.name);
                }
                next += f.width;
            }
            assert_eq!(next, RECORD_LEN + 1);
        }
    }
}

#[cfg(test)]
mod docs {
    use super::*;

    fn holds(kind: Kind) -> String {
        match kind {
            Kind::Literal(text) => format!("`{text}`"),
            Kind::Blank => "blanks".into(),
            Kind::Numeric => "number".into(),
            Kind::Text { .. } => "text".into(),
            Kind::Account => "account".into(),
            Kind::Bsb => "BSB".into(),
            Kind::OneOf(INDICATORS) => "one of blank, N, W, X, Y".into(),
            Kind::OneOf(RETURN_CODES) => "one of 1 to 9".into(),
            Kind::OneOf(other) => format!("one of {other}"),
            Kind::Date => "date".into(),
        }
    }

    #[test]
    fn docs_tables_are_the_layout() {
        let page = include_str!("../../docs/BECS.md");
        for (heading, table) in [
            ("### Record type 0", DESCRIPTIVE),
            ("### Record type 1", DETAIL),
            ("### Record type 2", RETURNED),
            ("### Record type 7", TOTAL),
        ] {
            let section = page.split(heading).nth(1).unwrap_or_default();
            let section = section.split("\n### ").next().unwrap_or_default();
            let documented: Vec<&str> = section
                .lines()
                .filter(|l| l.starts_with("| ") && !l.starts_with("| field"))
                .collect();
            let expected: Vec<String> = table
                .iter()
                .map(|f| {
                    format!(
                        "| {} | {} | {} | {} |",
                        f.name,
                        f.column,
                        f.width,
                        holds(f.kind)
                    )
                })
                .collect();
            assert_eq!(documented, expected, "{heading} in docs/BECS.md");
        }
    }
}
