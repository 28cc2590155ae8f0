//! `POST /v1/payments`: the body, checked field by field (a refusal names the field), and the
//! intent it becomes. The idempotency key and, unless the channel names one, the payment id are
//! derived from the caller and its `Idempotency-Key`, so the same request sent again is the same
//! intent and two channels' keys never collide.

use serde::Deserialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use app_ops::NewIntent;
use core_npp::{
    AccountId, AttemptLimit, Currency, EndToEndId, FreeText, IdempotencyKey, Money, PartyName,
    Payment, PaymentIntentId,
};

use crate::problem::Problem;

/// The longest `Idempotency-Key` accepted.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;
/// The longest account number (BECS and NPP: nine digits).
pub const MAX_ACCOUNT_DIGITS: usize = 9;

/// A party in a request.
#[derive(Clone, PartialEq, Eq, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartyRequest {
    /// The branch: six digits, written `NNN-NNN` or `NNNNNN`.
    #[schema(example = "062-000", pattern = "^[0-9]{3}-?[0-9]{3}$")]
    pub bsb: String,
    /// The account number: one to nine digits.
    #[schema(example = "12345678", pattern = "^[0-9]{1,9}$")]
    pub account: String,
    /// The account holder's name: 1 to 140 characters.
    #[schema(
        example = "Alice Smith",
        min_length = 1,
        max_length = 140,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f\\ufffe\\uffff]*[^\\u0000-\\u001f\\u007f-\\u009f\\ufffe\\uffff\\s][^\\u0000-\\u001f\\u007f-\\u009f\\ufffe\\uffff]*$"
    )]
    pub name: String,
}

/// A new payment.
#[derive(Clone, PartialEq, Eq, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePayment {
    /// The amount in cents: a positive whole number, at most 10^12.
    #[schema(example = 12550, minimum = 1, maximum = 1_000_000_000_000_i64)]
    pub amount: i64,
    /// `AUD`.
    #[schema(example = "AUD", pattern = "^AUD$")]
    pub currency: String,
    /// The payer.
    pub debtor: PartyRequest,
    /// The payee.
    pub creditor: PartyRequest,
    /// Up to 280 characters for the payee (Osko).
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 280,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f\\ufffe\\uffff]*[^\\u0000-\\u001f\\u007f-\\u009f\\ufffe\\uffff\\s][^\\u0000-\\u001f\\u007f-\\u009f\\ufffe\\uffff]*$"
    )]
    pub remittance_information: Option<String>,
    /// The channel's end-to-end reference (ISO 20022 EndToEndId): 1 to 35 characters.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 35,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f\\ufffe\\uffff]*[^\\u0000-\\u001f\\u007f-\\u009f\\ufffe\\uffff\\s][^\\u0000-\\u001f\\u007f-\\u009f\\ufffe\\uffff]*$"
    )]
    pub end_to_end_id: Option<String>,
    /// The payment's id, if the channel chooses it: 1 to 35 of `A-Z a-z 0-9 . _ : -`. By default
    /// it is derived from the caller and the `Idempotency-Key`.
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9._:-]{1,35}$")]
    pub payment_id: Option<String>,
}

/// The optional texts of a payment, when its intent carries them.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Names {
    /// The payer's name.
    pub debtor: Option<String>,
    /// The payee's name.
    pub creditor: Option<String>,
    /// The remittance text.
    pub remittance: Option<String>,
    /// The channel's end-to-end id.
    pub end_to_end_id: Option<String>,
}

/// The names and references `payment`'s intent carries.
pub fn names(payment: &Payment) -> Names {
    Names {
        debtor: payment.debtor_name().map(|n| n.as_str().to_owned()),
        creditor: payment.creditor_name().map(|n| n.as_str().to_owned()),
        remittance: payment
            .remittance_information()
            .map(|t| t.as_str().to_owned()),
        end_to_end_id: payment.end_to_end_id().map(|e| e.as_str().to_owned()),
    }
}

fn digest_hex(parts: &[&str], chars: usize) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
        .chars()
        .take(chars)
        .collect()
}

/// Checks an `Idempotency-Key` header value: 1 to 255 visible ASCII characters.
pub fn check_idempotency_key(raw: Option<&str>) -> Result<&str, Problem> {
    let field = "Idempotency-Key";
    let Some(raw) = raw else {
        return Err(Problem::invalid(
            field,
            "the Idempotency-Key header is required: a unique value per payment, sent again \
             unchanged when retrying",
        ));
    };
    if raw.is_empty() || raw.len() > MAX_IDEMPOTENCY_KEY_CHARS {
        return Err(Problem::invalid(
            field,
            format!("the Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} characters"),
        ));
    }
    if !raw.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(Problem::invalid(
            field,
            "the Idempotency-Key must be visible ASCII characters (no spaces)",
        ));
    }
    Ok(raw)
}

/// The idempotency key stored for a channel's key: 35 characters derived from both, so that
/// two channels' keys never meet and any length of header fits the store's ids.
pub fn stored_key(caller: &str, header: &str) -> Result<IdempotencyKey, Problem> {
    let derived = format!("k{}", digest_hex(&["idempotency", caller, header], 34));
    IdempotencyKey::parse(&derived).map_err(|e| Problem::internal(e.to_string()))
}

fn refused(field: &str) -> impl Fn(core_npp::ParseError) -> Problem + '_ {
    move |e| Problem::invalid(field, format!("{field}: {e}"))
}

fn bsb(field: &str, raw: &str) -> Result<String, Problem> {
    let digits: String = match raw.as_bytes() {
        [a, b, c, b'-', d, e, f] => [*a, *b, *c, *d, *e, *f]
            .iter()
            .map(|&x| char::from(x))
            .collect(),
        _ => raw.to_owned(),
    };
    if digits.len() != 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Problem::invalid(
            field,
            format!("{field} {raw:?} is not a BSB: six digits, written NNN-NNN or NNNNNN"),
        ));
    }
    Ok(digits)
}

fn account_number(field: &str, raw: &str) -> Result<String, Problem> {
    if raw.is_empty() || raw.len() > MAX_ACCOUNT_DIGITS || !raw.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(Problem::invalid(
            field,
            format!("{field} {raw:?} is not an account number: 1 to {MAX_ACCOUNT_DIGITS} digits"),
        ));
    }
    Ok(raw.to_owned())
}

/// A checked party: the account id the core knows (`BSB:ACCOUNT`) and the name.
pub struct CheckedParty {
    /// `NNNNNN:ACCOUNT`.
    pub account: AccountId,
    /// The name.
    pub name: PartyName,
}

fn party(party: &PartyRequest, fields: [&'static str; 3]) -> Result<CheckedParty, Problem> {
    let [bsb_field, account_field, name_field] = fields;
    let bsb = bsb(bsb_field, &party.bsb)?;
    let number = account_number(account_field, &party.account)?;
    let name = PartyName::parse_for(name_field, &party.name).map_err(refused(name_field))?;
    let account = AccountId::parse(&format!("{bsb}:{number}"))
        .map_err(|e| Problem::invalid(account_field, e.to_string()))?;
    Ok(CheckedParty { account, name })
}

/// Checks `body` and builds the intent for `caller`'s request with `header` as its key.
pub fn check(
    body: &CreatePayment,
    caller: &str,
    header: &str,
    max_attempts: AttemptLimit,
) -> Result<NewIntent, Problem> {
    if body.amount <= 0 {
        return Err(Problem::invalid(
            "amount",
            format!("amount {} must be a positive number of cents", body.amount),
        ));
    }
    let amount = Money::from_minor_units(body.amount);
    if amount > Money::MAX_PAYMENT {
        return Err(Problem::invalid(
            "amount",
            format!(
                "amount {} is over the largest payment, {} cents",
                body.amount,
                Money::MAX_PAYMENT.minor_units()
            ),
        ));
    }
    let currency = Currency::parse(&body.currency)
        .ok()
        .filter(|c| c.as_str() == "AUD")
        .ok_or_else(|| {
            Problem::invalid(
                "currency",
                format!(
                    "currency {:?} is not supported; NPP pays in AUD",
                    body.currency
                ),
            )
        })?;
    let debtor = party(
        &body.debtor,
        ["debtor.bsb", "debtor.account", "debtor.name"],
    )?;
    let creditor = party(
        &body.creditor,
        ["creditor.bsb", "creditor.account", "creditor.name"],
    )?;
    let payment_intent_id = match body.payment_id.as_deref() {
        Some(raw) => PaymentIntentId::parse(raw)
            .map_err(|e| Problem::invalid("payment_id", format!("payment_id {raw:?}: {e}")))?,
        None => {
            let derived = format!("pay-{}", digest_hex(&["payment", caller, header], 31));
            PaymentIntentId::parse(&derived).map_err(|e| Problem::internal(e.to_string()))?
        }
    };
    let mut intent = NewIntent::new(
        payment_intent_id,
        amount,
        currency,
        stored_key(caller, header)?,
        debtor.account,
        creditor.account,
        max_attempts,
    )
    .with_debtor_name(debtor.name)
    .with_creditor_name(creditor.name);
    if let Some(raw) = body.remittance_information.as_deref() {
        let field = "remittance_information";
        intent = intent.with_remittance_information(
            FreeText::parse_remittance_for(field, raw).map_err(refused(field))?,
        );
    }
    if let Some(raw) = body.end_to_end_id.as_deref() {
        let field = "end_to_end_id";
        intent =
            intent.with_end_to_end_id(EndToEndId::parse_for(field, raw).map_err(refused(field))?);
    }
    Ok(intent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> CreatePayment {
        CreatePayment {
            amount: 12_550,
            currency: "AUD".into(),
            debtor: PartyRequest {
                bsb: "062-000".into(),
                account: "12345678".into(),
                name: "Alice Smith".into(),
            },
            creditor: PartyRequest {
                bsb: "633000".into(),
                account: "0012345".into(),
                name: "Bob & Co".into(),
            },
            remittance_information: Some("Invoice 42".into()),
            end_to_end_id: None,
            payment_id: None,
        }
    }

    fn refused_field(body: &CreatePayment) -> String {
        match check(body, "web", "key-1", AttemptLimit::default()) {
            Err(problem) => problem.field.clone().unwrap_or_default(),
            Ok(_) => "accepted".into(),
        }
    }

    #[test]
    fn a_good_body_becomes_an_intent_whose_ids_follow_from_caller_and_key() {
        let first = check(&body(), "web", "key-1", AttemptLimit::default()).unwrap();
        let again = check(&body(), "web", "key-1", AttemptLimit::default()).unwrap();
        let other_channel = check(&body(), "branch", "key-1", AttemptLimit::default()).unwrap();
        assert_eq!(first, again);
        assert_ne!(first.idempotency_key, other_channel.idempotency_key);
        assert_ne!(first.payment_intent_id, other_channel.payment_intent_id);
        assert_eq!(first.from_account_id.as_str(), "062000:12345678");
        assert_eq!(first.to_account_id.as_str(), "633000:0012345");
        assert_eq!(first.debtor_name.as_ref().unwrap().as_str(), "Alice Smith");
        assert_eq!(
            first.remittance_information.as_ref().unwrap().as_str(),
            "Invoice 42"
        );
    }

    #[test]
    fn every_bad_field_is_named() {
        let mut b = body();
        b.amount = 0;
        assert_eq!(refused_field(&b), "amount");
        let mut b = body();
        b.amount = 1_000_000_000_001;
        assert_eq!(refused_field(&b), "amount");
        let mut b = body();
        b.currency = "USD".into();
        assert_eq!(refused_field(&b), "currency");
        let mut b = body();
        b.debtor.bsb = "06200".into();
        assert_eq!(refused_field(&b), "debtor.bsb");
        let mut b = body();
        b.creditor.account = "12a".into();
        assert_eq!(refused_field(&b), "creditor.account");
        let mut b = body();
        b.creditor.name = " ".into();
        assert_eq!(refused_field(&b), "creditor.name");
        let mut b = body();
        b.remittance_information = Some("x".repeat(281));
        assert_eq!(refused_field(&b), "remittance_information");
        let mut b = body();
        b.end_to_end_id = Some("e".repeat(36));
        assert_eq!(refused_field(&b), "end_to_end_id");
        let mut b = body();
        b.payment_id = Some("has space".into());
        assert_eq!(refused_field(&b), "payment_id");
    }

    #[test]
    fn idempotency_keys_are_checked() {
        assert!(check_idempotency_key(None).is_err());
        assert!(check_idempotency_key(Some("")).is_err());
        assert!(check_idempotency_key(Some("a b")).is_err());
        assert!(check_idempotency_key(Some(&"k".repeat(256))).is_err());
        let uuid = "0b7c56a8-1f0e-4a62-9a1e-6f0f1b2c3d4e";
        assert_eq!(check_idempotency_key(Some(uuid)).unwrap(), uuid);
    }
}
