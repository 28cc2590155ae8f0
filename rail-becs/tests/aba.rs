//! The ABA codec: round trips to the byte, every field's limits, every error named by line,
//! column and field, the file's order and totals, short lines, LF and CRLF, returned items.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use proptest::prelude::*;
use rail_becs::*;

fn descriptive() -> Record {
    Record::Descriptive(Descriptive {
        reel_sequence: 1,
        bank: "CBA".into(),
        user_name: "EXAMPLE CREDIT UNION".into(),
        user_id: 301_500,
        description: "PAYROLL".into(),
        processing_date: AbaDate::new(2026, 12, 1).unwrap(),
    })
}

fn detail(amount: u64, code: TransactionCode) -> Record {
    Record::Detail(Detail {
        item: Item {
            bsb: "062-000".into(),
            account: "12345678".into(),
            transaction_code: code,
            amount_cents: amount,
            title: "ALICE SMITH".into(),
            lodgement_reference: "PAY 2026-12-01".into(),
            trace_bsb: "633-000".into(),
            trace_account: "99887766".into(),
            remitter: "EXAMPLE CU".into(),
        },
        indicator: ' ',
        withholding_tax_cents: 0,
    })
}

fn payroll() -> String {
    write_file(&[
        descriptive(),
        detail(250_075, TransactionCode::PAY),
        detail(100_000, TransactionCode::PAY),
        detail(350_075, TransactionCode::DEBIT),
    ])
    .unwrap()
}

/// Replaces `with` at 1-based `column` of 1-based `line`.
fn edit(file: &str, line: usize, column: usize, with: &str) -> String {
    let mut lines: Vec<String> = file.split("\r\n").map(str::to_owned).collect();
    let target = &mut lines[line - 1];
    target.replace_range(column - 1..column - 1 + with.len(), with);
    lines.join("\r\n")
}

#[test]
fn a_written_file_is_120_character_crlf_records_with_its_totals() {
    let file = payroll();
    assert!(file.ends_with("\r\n"));
    let lines: Vec<&str> = file.trim_end_matches("\r\n").split("\r\n").collect();
    assert_eq!(lines.len(), 5);
    assert!(lines.iter().all(|l| l.len() == 120), "{lines:#?}");
    // The banks' own example layout: type, BSB, account right-justified, amount zero-filled.
    assert_eq!(&lines[1][..30], "1062-000 12345678 530000250075");
    assert_eq!(&lines[4][..8], "7999-999");
    let parsed = parse(&file, Strictness::Strict);
    assert!(parsed.is_valid(), "{:?}", parsed.errors);
    assert_eq!(
        parsed.sums(),
        Total {
            net_total_cents: 0,
            credit_total_cents: 350_075,
            debit_total_cents: 350_075,
            record_count: 3
        }
    );
    // Write, parse, write again: identical bytes.
    let records: Vec<Record> = parsed
        .records
        .iter()
        .map(|(_, r)| r.clone())
        .filter(|r| r.kind() != '7')
        .collect();
    assert_eq!(write_file(&records).unwrap(), file);
}

#[test]
fn lf_and_crlf_read_alike_and_short_lines_warn_unless_strict() {
    let file = payroll();
    let lf = file.replace("\r\n", "\n");
    assert_eq!(
        parse(&lf, Strictness::Strict).records,
        parse(&file, Strictness::Strict).records
    );
    // Published samples strip trailing blanks: the descriptive record and the total end in 40.
    let stripped: String = file
        .split("\r\n")
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\r\n");
    let lenient = parse(&stripped, Strictness::Lenient);
    assert!(lenient.is_valid(), "{:?}", lenient.errors);
    assert_eq!(lenient.warnings.len(), 2, "{:?}", lenient.warnings);
    assert_eq!(
        (lenient.warnings[0].line, lenient.warnings[0].column),
        (1, 81)
    );
    let strict = parse(&stripped, Strictness::Strict);
    assert_eq!(strict.errors.len(), 2, "{:?}", strict.errors);
    assert!(strict.errors[0].message.contains("80 characters, not 120"));
}

#[test]
fn every_bad_field_is_named_with_its_line_and_column() {
    let file = payroll();
    let broken = edit(&file, 2, 2, "062 000");
    let broken = edit(&broken, 2, 18, "Q");
    let broken = edit(&broken, 3, 19, "99");
    let broken = edit(&broken, 3, 21, "00000A0000");
    let broken = edit(&broken, 1, 75, "310226");
    let parsed = parse(&broken, Strictness::Strict);
    let found: Vec<(usize, usize, &str)> = parsed
        .errors
        .iter()
        .map(|e| (e.line, e.column, e.field))
        .collect();
    for expected in [
        (1, 75, "processing_date"),
        (2, 2, "bsb"),
        (2, 18, "indicator"),
        (3, 26, "amount_cents"),
        (3, 19, "transaction_code"),
    ] {
        assert!(found.contains(&expected), "{expected:?} not in {found:?}");
    }
    let date = parsed
        .errors
        .iter()
        .find(|e| e.field == "processing_date")
        .unwrap();
    assert_eq!(
        date.to_string(),
        "line 1, column 75 (processing_date): \"310226\" is not a date written DDMMYY"
    );
}

#[test]
fn totals_that_disagree_with_the_items_are_refused_at_the_total_field() {
    let file = payroll();
    let broken = edit(&file, 5, 31, "0000350076");
    let broken = edit(&broken, 5, 75, "000004");
    let parsed = parse(&broken, Strictness::Strict);
    let found: Vec<(usize, usize, &str)> = parsed
        .errors
        .iter()
        .map(|e| (e.line, e.column, e.field))
        .collect();
    assert_eq!(
        found,
        [(5, 31, "credit_total_cents"), (5, 75, "record_count")]
    );
    assert!(
        parsed.errors[0]
            .message
            .contains("states 350076 but the items sum to 350075")
    );
}

#[test]
fn the_descriptive_record_comes_first_and_the_total_last_once_each() {
    let file = payroll();
    let lines: Vec<&str> = file.trim_end_matches("\r\n").split("\r\n").collect();
    let without_total = lines[..4].join("\r\n");
    let errors = parse(&without_total, Strictness::Strict).errors;
    assert!(
        errors
            .iter()
            .any(|e| e.line == 4 && e.message.contains("last record must be the file total")),
        "{errors:?}"
    );
    let twice = [lines[0], lines[0], lines[1], lines[4]].join("\r\n");
    let errors = parse(&twice, Strictness::Strict).errors;
    assert!(
        errors
            .iter()
            .any(|e| e.line == 2 && e.message.contains("comes only first")),
        "{errors:?}"
    );
    let unknown = edit(&file, 3, 1, "5");
    let errors = parse(&unknown, Strictness::Strict).errors;
    assert!(
        errors
            .iter()
            .any(|e| (e.line, e.field) == (3, "record_type")),
        "{errors:?}"
    );
    let empty = parse("", Strictness::Lenient);
    assert_eq!(empty.errors[0].field, "file");
    let long = format!("{} ", lines[1]);
    let errors = parse(&[lines[0], &long, lines[4]].join("\n"), Strictness::Lenient).errors;
    assert!(
        errors.iter().any(|e| (e.line, e.column) == (2, 121)),
        "{errors:?}"
    );
}

#[test]
fn the_writer_refuses_what_a_field_cannot_hold_naming_it() {
    let Record::Detail(base) = detail(1, TransactionCode::CREDIT) else {
        unreachable!()
    };
    let with = |change: fn(&mut Detail)| {
        let mut changed = base.clone();
        change(&mut changed);
        changed
    };
    let too_long = Record::Detail(with(|d| d.item.title = "A".repeat(33)));
    assert!(write_record(&too_long).unwrap_err().starts_with("title:"));
    for (record, field) in [
        (
            with(|d| d.item.amount_cents = 10_000_000_000),
            "amount_cents",
        ),
        (with(|d| d.item.bsb = "62-000".into()), "bsb"),
        (with(|d| d.item.account = "12 34".into()), "account"),
        (with(|d| d.indicator = 'Z'), "indicator"),
        (with(|d| d.item.remitter = String::new()), "remitter"),
        (
            with(|d| d.item.lodgement_reference = "caf\u{e9}".into()),
            "lodgement_reference",
        ),
        (with(|d| d.item.amount_cents = 0), "amount_cents"),
    ] {
        let refused = write_record(&Record::Detail(record)).unwrap_err();
        assert!(refused.contains(field), "{field}: {refused}");
    }
    // A file whose totals would not fit their ten digits is refused, naming the total.
    let huge = detail(9_999_999_999, TransactionCode::CREDIT);
    let refused = write_file(&[descriptive(), huge.clone(), huge]).unwrap_err();
    assert!(refused.starts_with("net_total_cents:"), "{refused}");
    assert!(AbaDate::new(2026, 2, 29).is_none());
    assert!(AbaDate::new(2028, 2, 29).is_some());
    assert!(TransactionCode::new(12).is_none() && TransactionCode::new(57).is_some());
}

#[test]
fn a_returns_file_reads_each_returned_item_with_its_code() {
    let Record::Detail(sent) = detail(250_075, TransactionCode::PAY) else {
        unreachable!()
    };
    let returned = Record::Returned(Returned {
        item: sent.item,
        return_code: '6',
        original_processing_day: 1,
        original_user_id: 301_500,
    });
    let file = write_file(&[descriptive(), returned.clone()]).unwrap();
    assert_eq!(&file.split("\r\n").nth(1).unwrap()[17..18], "6");
    let parsed = parse(&file, Strictness::Strict);
    assert!(parsed.is_valid(), "{:?}", parsed.errors);
    assert_eq!(parsed.records[1].1, returned);
    // The writer refuses a file its reader would refuse, and the reader says why.
    let mixed = [descriptive(), returned, detail(5, TransactionCode::CREDIT)];
    assert!(write_file(&mixed).unwrap_err().contains("not both"));
    let lines: Vec<String> = mixed.iter().map(|r| write_record(r).unwrap()).collect();
    let total = file.split("\r\n").nth(2).unwrap();
    let text = format!("{}\r\n{total}", lines.join("\r\n"));
    let errors = parse(&text, Strictness::Strict).errors;
    assert!(
        errors.iter().any(|e| e.message.contains("not both")),
        "{errors:?}"
    );
}

fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[A-Z0-9][A-Za-z0-9 &./-]{{0,{}}}", max - 1))
        .unwrap()
        .prop_map(|s| s.trim_end().to_owned())
}

prop_compose! {
    fn any_detail()(
        bsb in (0u32..1000, 0u32..1000),
        account in "[0-9]{1,9}",
        indicator in proptest::sample::select(vec![' ', 'N', 'W', 'X', 'Y']),
        code in proptest::sample::select(vec![13u8, 50, 51, 52, 53, 54, 55, 56, 57]),
        // At most 40 items of this: every total fits its ten digits.
        amount in 1u64..=249_999_999,
        title in text(32),
        reference in text(18),
        remitter in text(16),
        withholding in 0u64..=99_999_999,
    ) -> Record {
        Record::Detail(Detail {
            item: Item {
                bsb: format!("{:03}-{:03}", bsb.0, bsb.1),
                account,
                transaction_code: TransactionCode::new(code).unwrap(),
                amount_cents: amount,
                title,
                lodgement_reference: reference,
                trace_bsb: "633-000".into(),
                trace_account: "99887766".into(),
                remitter,
            },
            indicator,
            withholding_tax_cents: withholding,
        })
    }
}

proptest! {
    #[test]
    fn any_file_round_trips_to_the_byte(details in proptest::collection::vec(any_detail(), 1..40)) {
        let mut records = vec![descriptive()];
        records.extend(details);
        let file = write_file(&records).unwrap();
        let parsed = parse(&file, Strictness::Strict);
        prop_assert!(parsed.is_valid(), "{:?}", parsed.errors);
        let again: Vec<Record> = parsed.records.iter().map(|(_, r)| r.clone()).filter(|r| r.kind() != '7').collect();
        prop_assert_eq!(&again, &records);
        prop_assert_eq!(write_file(&again).unwrap(), file);
    }
}
