//! The records of an ABA file as values: what each field means, by the names the layout gives
//! them. A record is built from the text of its fields (as parsing reads them) and gives them
//! back (as writing needs them), so the layout tables are the one place positions live.

use serde::Serialize;

/// A date as ABA writes it (`DDMMYY`), the year read as 20YY; shown as `YYYY-MM-DD`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub struct AbaDate {
    /// 2000 to 2099.
    pub year: u16,
    /// 1 to 12.
    pub month: u8,
    /// 1 to the month's last day.
    pub day: u8,
}

impl AbaDate {
    /// A date, if it is one (`year` 2000 to 2099).
    pub fn new(year: u16, month: u8, day: u8) -> Option<Self> {
        let leap =
            year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
        let last = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        ((2000..=2099).contains(&year) && (1..=last).contains(&day)).then_some(Self {
            year,
            month,
            day,
        })
    }

    /// Parses `DDMMYY`.
    pub fn parse(text: &str) -> Option<Self> {
        let digits = |range: std::ops::Range<usize>| -> Option<u16> {
            let part = text.get(range)?;
            part.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| part.parse().ok())?
        };
        if text.len() != 6 {
            return None;
        }
        let (day, month, year) = (digits(0..2)?, digits(2..4)?, digits(4..6)?);
        Self::new(
            2000 + year,
            u8::try_from(month).ok()?,
            u8::try_from(day).ok()?,
        )
    }

    /// `DDMMYY`.
    pub fn to_ddmmyy(self) -> String {
        format!("{:02}{:02}{:02}", self.day, self.month, self.year % 100)
    }
}

impl Serialize for AbaDate {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format!(
            "{:04}-{:02}-{:02}",
            self.year, self.month, self.day
        ))
    }
}

/// What a detail record or returned item does: 13 a debit; 50 to 57 credits.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
pub struct TransactionCode(u8);

impl TransactionCode {
    /// An externally initiated debit.
    pub const DEBIT: Self = Self(13);
    /// A general credit.
    pub const CREDIT: Self = Self(50);
    /// Pay (payroll).
    pub const PAY: Self = Self(53);

    /// The code, if BECS knows it (13, 50 to 57).
    pub fn new(code: u8) -> Option<Self> {
        (code == 13 || (50..=57).contains(&code)).then_some(Self(code))
    }

    /// The number.
    pub fn code(self) -> u8 {
        self.0
    }

    /// Whether it debits the account it names.
    pub fn is_debit(self) -> bool {
        self.0 == 13
    }
}

/// Record type 0: who sends the file, for which bank, processed when.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct Descriptive {
    /// The reel sequence number, 1 for a single file.
    pub reel_sequence: u8,
    /// The user's financial institution, as APCA abbreviates it (`CBA`, `WBC`, `NAB`, ...).
    pub bank: String,
    /// The user's name as the bank knows it.
    pub user_name: String,
    /// The APCA user identification number.
    pub user_id: u32,
    /// What the entries are (`PAYROLL`, `CREDITORS`).
    pub description: String,
    /// The day to process them.
    pub processing_date: AbaDate,
}

/// What a detail record and a returned item both say: the account, the money, and how the
/// item is traced back to the user (a returned item repeats what its detail record sent).
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct Item {
    /// The BSB of the account credited or debited, `NNN-NNN`.
    pub bsb: String,
    /// The account number.
    pub account: String,
    /// What it does.
    pub transaction_code: TransactionCode,
    /// How much, in cents.
    pub amount_cents: u64,
    /// The account's title.
    pub title: String,
    /// What the account holder sees on their statement.
    pub lodgement_reference: String,
    /// The BSB of the user's account the item is traced (and returned) to.
    pub trace_bsb: String,
    /// That account's number.
    pub trace_account: String,
    /// The remitter's name.
    pub remitter: String,
}

/// Record type 1: one credit or debit.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct Detail {
    /// The item.
    #[serde(flatten)]
    pub item: Item,
    /// Blank, N (new or varied details), W, X or Y (withholding tax).
    pub indicator: char,
    /// Tax withheld, in cents.
    pub withholding_tax_cents: u64,
}

/// Record type 2: an item the receiving bank returned (a dishonour), with why.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct Returned {
    /// The item as it was sent.
    #[serde(flatten)]
    pub item: Item,
    /// Why it came back: 1 invalid BSB, 2 payment stopped, 3 account closed, 4 customer
    /// deceased, 5 no account or incorrect account number, 6 refer to customer, 7 deleted,
    /// 8 invalid user id, 9 technically invalid.
    pub return_code: char,
    /// The day of the month the item was first processed.
    pub original_processing_day: u8,
    /// The APCA user id that lodged it.
    pub original_user_id: u32,
}

/// Record type 7: the file's totals, which must agree with its items.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct Total {
    /// Credits less debits, as an amount (without sign).
    pub net_total_cents: u64,
    /// The credits' sum.
    pub credit_total_cents: u64,
    /// The debits' sum.
    pub debit_total_cents: u64,
    /// How many detail records (or returned items) the file holds.
    pub record_count: u32,
}

/// One record of a file.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
#[serde(tag = "type")]
pub enum Record {
    /// Type 0.
    #[serde(rename = "0")]
    Descriptive(Descriptive),
    /// Type 1.
    #[serde(rename = "1")]
    Detail(Detail),
    /// Type 2.
    #[serde(rename = "2")]
    Returned(Returned),
    /// Type 7.
    #[serde(rename = "7")]
    Total(Total),
}

/// The text of a record's fields by name, as parsing found them (without their fill).
pub(crate) struct Fields<'a> {
    pub(crate) values: Vec<(&'static str, &'a str)>,
}

impl Fields<'_> {
    fn text(&self, name: &str) -> String {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| (*v).to_owned())
            .unwrap_or_default()
    }

    fn number<T: std::str::FromStr + Default>(&self, name: &str) -> T {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or_default()
    }

    fn char(&self, name: &str) -> char {
        self.text(name).chars().next().unwrap_or(' ')
    }
}

impl Item {
    fn from_fields(f: &Fields<'_>) -> Option<Self> {
        Some(Self {
            bsb: f.text("bsb"),
            account: f.text("account"),
            transaction_code: TransactionCode::new(f.number("transaction_code"))?,
            amount_cents: f.number("amount_cents"),
            title: f.text("title"),
            lodgement_reference: f.text("lodgement_reference"),
            trace_bsb: f.text("trace_bsb"),
            trace_account: f.text("trace_account"),
            remitter: f.text("remitter"),
        })
    }

    /// The item's fields' texts, then the record's own.
    fn texts_with<const N: usize>(
        &self,
        own: [(&'static str, String); N],
    ) -> Vec<(&'static str, String)> {
        let mut texts = vec![
            ("bsb", self.bsb.clone()),
            ("account", self.account.clone()),
            ("transaction_code", self.transaction_code.code().to_string()),
            ("amount_cents", self.amount_cents.to_string()),
            ("title", self.title.clone()),
            ("lodgement_reference", self.lodgement_reference.clone()),
            ("trace_bsb", self.trace_bsb.clone()),
            ("trace_account", self.trace_account.clone()),
            ("remitter", self.remitter.clone()),
        ];
        texts.extend(own);
        texts
    }
}

impl Record {
    /// The record of type `kind` from fields every one of which the layout accepted (so every
    /// number parses and every date is one).
    pub(crate) fn from_fields(kind: char, f: &Fields<'_>) -> Option<Self> {
        Some(match kind {
            '0' => Record::Descriptive(Descriptive {
                reel_sequence: f.number("reel_sequence"),
                bank: f.text("bank"),
                user_name: f.text("user_name"),
                user_id: f.number("user_id"),
                description: f.text("description"),
                processing_date: AbaDate::parse(&f.text("processing_date"))?,
            }),
            '1' => Record::Detail(Detail {
                item: Item::from_fields(f)?,
                indicator: f.char("indicator"),
                withholding_tax_cents: f.number("withholding_tax_cents"),
            }),
            '2' => Record::Returned(Returned {
                item: Item::from_fields(f)?,
                return_code: f.char("return_code"),
                original_processing_day: f.number("original_processing_day"),
                original_user_id: f.number("original_user_id"),
            }),
            '7' => Record::Total(Total {
                net_total_cents: f.number("net_total_cents"),
                credit_total_cents: f.number("credit_total_cents"),
                debit_total_cents: f.number("debit_total_cents"),
                record_count: f.number("record_count"),
            }),
            _ => return None,
        })
    }

    /// The item a detail record or returned item carries.
    pub fn item(&self) -> Option<&Item> {
        match self {
            Record::Detail(d) => Some(&d.item),
            Record::Returned(r) => Some(&r.item),
            Record::Descriptive(_) | Record::Total(_) => None,
        }
    }

    /// The record's type character.
    pub fn kind(&self) -> char {
        match self {
            Record::Descriptive(_) => '0',
            Record::Detail(_) => '1',
            Record::Returned(_) => '2',
            Record::Total(_) => '7',
        }
    }

    /// Each field's text by name, for the writer (fields the layout fixes are left out).
    pub(crate) fn texts(&self) -> Vec<(&'static str, String)> {
        match self {
            Record::Descriptive(d) => vec![
                ("reel_sequence", d.reel_sequence.to_string()),
                ("bank", d.bank.clone()),
                ("user_name", d.user_name.clone()),
                ("user_id", d.user_id.to_string()),
                ("description", d.description.clone()),
                ("processing_date", d.processing_date.to_ddmmyy()),
            ],
            Record::Detail(d) => d.item.texts_with([
                ("indicator", d.indicator.to_string()),
                ("withholding_tax_cents", d.withholding_tax_cents.to_string()),
            ]),
            Record::Returned(r) => r.item.texts_with([
                ("return_code", r.return_code.to_string()),
                (
                    "original_processing_day",
                    r.original_processing_day.to_string(),
                ),
                ("original_user_id", r.original_user_id.to_string()),
            ]),
            Record::Total(t) => vec![
                ("net_total_cents", t.net_total_cents.to_string()),
                ("credit_total_cents", t.credit_total_cents.to_string()),
                ("debit_total_cents", t.debit_total_cents.to_string()),
                ("record_count", t.record_count.to_string()),
            ],
        }
    }
}
