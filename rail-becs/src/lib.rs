//! The BECS Direct Entry rail adapter's codec: ABA ("Cemtex") files, pure (no I/O).
//!
//! An ABA file is a descriptive record (type 0), detail records (type 1) or, in a returns
//! file, returned items (type 2), and a file total (type 7), each 120 characters. [`layout`]
//! holds every field's position, width, justification, fill and characters as data; [`parse`]
//! and [`write_file`] both read it. Parsing lists every error with its line, column and field
//! ([`AbaError`]), checks the order of the records and the totals, reads LF or CRLF, and reads a
//! line short of 120 characters as if blank-filled, with a warning, unless
//! [`Strictness::Strict`]. Writing refuses a value its field cannot hold and writes CRLF.
//! docs/BECS.md describes every field.
//!
//! ```
//! use rail_becs::*;
//!
//! let descriptive = Record::Descriptive(Descriptive {
//!     reel_sequence: 1,
//!     bank: "CBA".into(),
//!     user_name: "CU PAYROLL".into(),
//!     user_id: 301500,
//!     description: "PAYROLL".into(),
//!     processing_date: AbaDate::new(2026, 12, 1).unwrap(),
//! });
//! let pay = Record::Detail(Detail {
//!     item: Item {
//!         bsb: "062-000".into(),
//!         account: "12345678".into(),
//!         transaction_code: TransactionCode::PAY,
//!         amount_cents: 250_075,
//!         title: "ALICE SMITH".into(),
//!         lodgement_reference: "PAY 2026-12-01".into(),
//!         trace_bsb: "633-000".into(),
//!         trace_account: "99887766".into(),
//!         remitter: "EXAMPLE CU".into(),
//!     },
//!     indicator: ' ',
//!     withholding_tax_cents: 0,
//! });
//! let file = write_file(&[descriptive, pay]).unwrap();
//! assert!(file.lines().all(|l| l.len() == 120));
//! let parsed = parse(&file, Strictness::Strict);
//! assert!(parsed.is_valid(), "{:?}", parsed.errors);
//! assert_eq!(parsed.sums().credit_total_cents, 250_075);
//! ```

mod codec;
pub mod layout;
mod record;

pub use codec::{AbaError, Parsed, Strictness, parse, write_file, write_record};
pub use record::{AbaDate, Descriptive, Detail, Item, Record, Returned, Total, TransactionCode};
