//! Rail identifiers as newtypes: message ids, BSBs and account numbers, valid by construction.

use std::fmt;

use crate::error::{RailError, excerpt};

/// The longest ISO 20022 `Max35Text` identifier.
const MAX_MESSAGE_ID_LEN: usize = 35;

/// The longest Australian account number (BSB + up to 9 digits).
const MAX_ACCOUNT_DIGITS: usize = 9;

/// An ISO 20022 message id (`GrpHdr/MsgId`): 1 to 35 characters from `[A-Za-z0-9._:-]`.
///
/// ISO allows any `Max35Text`; we restrict it to the characters of the core's ids so that a
/// message id survives every system between us and the scheme unchanged. The scheme drops a
/// second message with the same id, so a new message needs a new id.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageId {
    len: u8,
    bytes: [u8; MAX_MESSAGE_ID_LEN],
}

impl MessageId {
    /// Parses a message id.
    pub fn parse(raw: &str) -> Result<Self, RailError> {
        Self::parse_at(raw, "msg_id")
    }

    pub(crate) fn parse_at(raw: &str, at: &str) -> Result<Self, RailError> {
        let refuse = |problem| RailError::InvalidMessageId {
            at: at.to_owned(),
            value: excerpt(raw),
            problem,
        };
        if raw.is_empty() {
            return Err(refuse("is empty"));
        }
        if raw.chars().count() > MAX_MESSAGE_ID_LEN {
            return Err(refuse("is longer than 35 characters"));
        }
        if !raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'))
        {
            return Err(refuse("holds a character outside [A-Za-z0-9._:-]"));
        }
        let len = u8::try_from(raw.len()).map_err(|_| refuse("is longer than 35 characters"))?;
        let mut bytes = [0u8; MAX_MESSAGE_ID_LEN];
        for (slot, byte) in bytes.iter_mut().zip(raw.bytes()) {
            *slot = byte;
        }
        Ok(Self { len, bytes })
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        ascii(&self.bytes, self.len)
    }
}

/// A Bank-State-Branch number: six digits that name an Australian bank branch.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bsb([u8; 6]);

impl Bsb {
    /// Parses six digits, written `062000` or `062-000`.
    pub fn parse(raw: &str) -> Result<Self, RailError> {
        Self::parse_at(raw, "bsb")
    }

    pub(crate) fn parse_at(raw: &str, at: &str) -> Result<Self, RailError> {
        let digits: Option<[u8; 6]> = match raw.as_bytes() {
            [a, b, c, d, e, f] => Some([*a, *b, *c, *d, *e, *f]),
            [a, b, c, b'-', d, e, f] => Some([*a, *b, *c, *d, *e, *f]),
            _ => None,
        };
        match digits {
            Some(digits) if digits.iter().all(u8::is_ascii_digit) => Ok(Self(digits)),
            _ => Err(RailError::InvalidBsb {
                at: at.to_owned(),
                value: excerpt(raw),
            }),
        }
    }

    /// The six digits without the hyphen, as ISO 20022 carries them (`ClrSysMmbId/MmbId`).
    pub fn digits(&self) -> &str {
        ascii(&self.0, 6usize)
    }
}

impl fmt::Display for Bsb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.digits();
        let (branch_bank, branch) = digits.split_at_checked(3).unwrap_or((digits, ""));
        write!(f, "{branch_bank}-{branch}")
    }
}

impl fmt::Debug for Bsb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bsb({self})")
    }
}

/// An Australian account number within a BSB: 1 to 9 digits, leading zeros significant.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccountNumber {
    len: u8,
    bytes: [u8; MAX_ACCOUNT_DIGITS],
}

impl AccountNumber {
    /// Parses 1 to 9 digits.
    pub fn parse(raw: &str) -> Result<Self, RailError> {
        Self::parse_at(raw, "account")
    }

    pub(crate) fn parse_at(raw: &str, at: &str) -> Result<Self, RailError> {
        let refuse = || RailError::InvalidAccountNumber {
            at: at.to_owned(),
            value: excerpt(raw),
        };
        if raw.is_empty()
            || raw.len() > MAX_ACCOUNT_DIGITS
            || !raw.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(refuse());
        }
        let len = u8::try_from(raw.len()).map_err(|_| refuse())?;
        let mut bytes = [0u8; MAX_ACCOUNT_DIGITS];
        for (slot, byte) in bytes.iter_mut().zip(raw.bytes()) {
            *slot = byte;
        }
        Ok(Self { len, bytes })
    }

    /// The digits, leading zeros kept.
    pub fn as_str(&self) -> &str {
        ascii(&self.bytes, self.len)
    }
}

/// The first `len` bytes as text. Only ASCII is ever stored (checked when parsing), so the
/// conversion cannot fail; the fallback keeps this total without a panic.
fn ascii(bytes: &[u8], len: impl Into<usize>) -> &str {
    let used = bytes.get(..len.into()).unwrap_or_default();
    std::str::from_utf8(used).unwrap_or_default()
}

macro_rules! text_traits {
    ($($name:ident),*) => {$(
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = RailError;
            fn from_str(raw: &str) -> Result<Self, RailError> {
                Self::parse(raw)
            }
        }
    )*};
}

text_traits!(MessageId, AccountNumber);

impl std::str::FromStr for Bsb {
    type Err = RailError;
    fn from_str(raw: &str) -> Result<Self, RailError> {
        Self::parse(raw)
    }
}
