//! A debtor or creditor as NPP addresses them: a name, a BSB and an account number.

use std::sync::Arc;

use crate::error::RailError;
use crate::ids::{AccountNumber, Bsb};

/// The longest party name (ISO 20022 `Max140Text`): the core's limit for an intent's names.
pub const MAX_NAME_CHARS: usize = core_npp::MAX_NAME_CHARS;

/// A payer or payee: 1 to 140 characters of name and the BSB and account that receive or send.
///
/// The BSB also names the party's bank (its agent in the message): NPP routes by BSB.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Party {
    name: Arc<str>,
    bsb: Bsb,
    account: AccountNumber,
}

impl Party {
    /// A party, if `name` is 1 to 140 characters, not blank, with no control characters and
    /// none that XML 1.0 cannot carry.
    pub fn new(name: &str, bsb: Bsb, account: AccountNumber) -> Result<Self, RailError> {
        Self::new_at(name, bsb, account, "party.name")
    }

    pub(crate) fn new_at(
        name: &str,
        bsb: Bsb,
        account: AccountNumber,
        at: &str,
    ) -> Result<Self, RailError> {
        if name.trim().is_empty() {
            return Err(RailError::BlankName { at: at.to_owned() });
        }
        let chars = name.chars().count();
        if chars > MAX_NAME_CHARS {
            return Err(RailError::NameTooLong {
                at: at.to_owned(),
                chars,
                max: MAX_NAME_CHARS,
            });
        }
        check_xml_chars(name, at)?;
        Ok(Self {
            name: Arc::from(name),
            bsb,
            account,
        })
    }

    /// The name (`Dbtr/Nm`, `Cdtr/Nm`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The branch, which also identifies the party's bank.
    pub fn bsb(&self) -> Bsb {
        self.bsb
    }

    /// The account within the branch.
    pub fn account(&self) -> AccountNumber {
        self.account
    }
}

/// Refuses control characters (XML 1.0 cannot carry most of them, and a parser rewrites CR and
/// tabs, so they would not survive a round trip) and U+FFFE and U+FFFF, which XML 1.0 forbids.
pub(crate) fn check_xml_chars(text: &str, at: &str) -> Result<(), RailError> {
    match text
        .chars()
        .find(|c| c.is_control() || matches!(c, '\u{FFFE}' | '\u{FFFF}'))
    {
        Some(bad) => Err(RailError::ForbiddenCharacter {
            at: at.to_owned(),
            code_point: u32::from(bad),
        }),
        None => Ok(()),
    }
}
