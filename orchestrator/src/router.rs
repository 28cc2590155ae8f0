//! Routing: which rail takes a payment, and why. NPP if the payee's BSB is NPP-reachable and the
//! amount is under the configured limit; otherwise declined with a clear reason (until BECS).

use std::collections::BTreeSet;

use core_npp::{AccountId, Money, Payment};

/// A routing decision, recorded before anything is sent.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Route {
    /// Send on NPP.
    Npp {
        /// Why.
        reason: String,
    },
    /// No rail can take it.
    Declined {
        /// Why, in words an operator can act on.
        reason: String,
    },
}

/// Routing rules.
#[derive(Clone, Debug)]
pub struct Router {
    /// BSBs known not to be reachable on NPP (six digits).
    pub unreachable_bsbs: BTreeSet<String>,
    /// The largest amount sent on NPP, in cents.
    pub npp_limit: Money,
}

impl Default for Router {
    fn default() -> Self {
        Self {
            unreachable_bsbs: BTreeSet::new(),
            npp_limit: Money::from_minor_units(100_000_000),
        }
    }
}

/// Splits a member account id written `BSB:ACCOUNT` (e.g. `062000:12345678`) into its parts.
pub fn parse_account(account: AccountId) -> Option<(String, String)> {
    let (bsb, number) = account.as_str().split_once(':')?;
    let bsb: String = bsb.chars().filter(|c| *c != '-').collect();
    let digits = |s: &str, max: usize| {
        !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())
    };
    (bsb.len() == 6 && digits(&bsb, 6) && digits(number, 9)).then(|| (bsb, number.to_owned()))
}

impl Router {
    /// Decides the rail for `payment`.
    pub fn route(&self, payment: &Payment) -> Route {
        let Some((bsb, _)) = parse_account(payment.to_account_id()) else {
            return Route::Declined {
                reason: format!(
                    "payee account {} is not written BSB:ACCOUNT",
                    payment.to_account_id()
                ),
            };
        };
        if self.unreachable_bsbs.contains(&bsb) {
            return Route::Declined {
                reason: format!(
                    "payee BSB {bsb} is not reachable on NPP; BECS is not supported yet"
                ),
            };
        }
        if payment.amount() > self.npp_limit {
            return Route::Declined {
                reason: format!(
                    "amount {} is over the NPP limit {}; BECS is not supported yet",
                    payment.amount(),
                    self.npp_limit
                ),
            };
        }
        Route::Npp {
            reason: format!(
                "payee BSB {bsb} is NPP-reachable and {} is within the limit {}",
                payment.amount(),
                self.npp_limit
            ),
        }
    }
}
