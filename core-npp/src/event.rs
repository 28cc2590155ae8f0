//! The nine payment events: immutable values whose JSON form is an external contract.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::ParseError;
use crate::ids::{
    AccountId, ApprovalId, AttemptId, EndToEndId, FreeText, IdempotencyKey, OperatorId,
    ParseVisitor, PartyName, PaymentIntentId, SettlementRef,
};
use crate::money::{Currency, Money};
use crate::state::FailureReason;
use crate::timestamp::Timestamp;

/// The largest attempt limit an intent may carry.
pub const MAX_ATTEMPT_LIMIT: u8 = 10;

/// The attempt limit when an intent names none.
pub const DEFAULT_ATTEMPT_LIMIT: u8 = 3;

/// How many attempts (the first send plus approved retries) a payment may make: 1 to 10.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct AttemptLimit(u8);

impl AttemptLimit {
    /// Parses a limit between 1 and [`MAX_ATTEMPT_LIMIT`].
    pub fn parse(limit: u8) -> Result<Self, ParseError> {
        if (1..=MAX_ATTEMPT_LIMIT).contains(&limit) {
            Ok(Self(limit))
        } else {
            Err(ParseError::AttemptLimit {
                limit,
                max: MAX_ATTEMPT_LIMIT,
            })
        }
    }

    /// The limit as a number.
    pub const fn get(self) -> u8 {
        self.0
    }
}

impl Default for AttemptLimit {
    fn default() -> Self {
        Self(DEFAULT_ATTEMPT_LIMIT)
    }
}

impl TryFrom<u8> for AttemptLimit {
    type Error = ParseError;
    fn try_from(limit: u8) -> Result<Self, ParseError> {
        Self::parse(limit)
    }
}

impl From<AttemptLimit> for u8 {
    fn from(limit: AttemptLimit) -> u8 {
        limit.0
    }
}

/// The nine kinds of event, by their external names.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum EventKind {
    /// `PaymentIntentCreated`
    PaymentIntentCreated,
    /// `PaymentAuthorised`
    PaymentAuthorised,
    /// `PaymentSentToRail`
    PaymentSentToRail,
    /// `PaymentAcknowledged`
    PaymentAcknowledged,
    /// `PaymentSettled`
    PaymentSettled,
    /// `PaymentFailed`
    PaymentFailed,
    /// `PaymentExpired`
    PaymentExpired,
    /// `PaymentRetryApproved`
    PaymentRetryApproved,
    /// `PaymentCancelled`
    PaymentCancelled,
}

impl EventKind {
    /// Every kind, in lifecycle order.
    pub const ALL: [EventKind; 9] = [
        EventKind::PaymentIntentCreated,
        EventKind::PaymentAuthorised,
        EventKind::PaymentSentToRail,
        EventKind::PaymentAcknowledged,
        EventKind::PaymentSettled,
        EventKind::PaymentFailed,
        EventKind::PaymentExpired,
        EventKind::PaymentRetryApproved,
        EventKind::PaymentCancelled,
    ];

    /// The external name, as in the `"type"` field.
    pub const fn name(self) -> &'static str {
        match self {
            EventKind::PaymentIntentCreated => "PaymentIntentCreated",
            EventKind::PaymentAuthorised => "PaymentAuthorised",
            EventKind::PaymentSentToRail => "PaymentSentToRail",
            EventKind::PaymentAcknowledged => "PaymentAcknowledged",
            EventKind::PaymentSettled => "PaymentSettled",
            EventKind::PaymentFailed => "PaymentFailed",
            EventKind::PaymentExpired => "PaymentExpired",
            EventKind::PaymentRetryApproved => "PaymentRetryApproved",
            EventKind::PaymentCancelled => "PaymentCancelled",
        }
    }

    /// Parses the external name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    pub(crate) const fn index(self) -> usize {
        match self {
            EventKind::PaymentIntentCreated => 0,
            EventKind::PaymentAuthorised => 1,
            EventKind::PaymentSentToRail => 2,
            EventKind::PaymentAcknowledged => 3,
            EventKind::PaymentSettled => 4,
            EventKind::PaymentFailed => 5,
            EventKind::PaymentExpired => 6,
            EventKind::PaymentRetryApproved => 7,
            EventKind::PaymentCancelled => 8,
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A second person's approval of an operator action (maker-checker), carried by the event it allowed.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    approval_id: ApprovalId,
    requested_by: OperatorId,
    approved_by: OperatorId,
    approved_at: Timestamp,
    reason: FreeText,
}

impl Approval {
    /// An approval as recorded by the policy gate.
    pub fn new(
        approval_id: ApprovalId,
        requested_by: OperatorId,
        approved_by: OperatorId,
        approved_at: Timestamp,
        reason: FreeText,
    ) -> Self {
        Self {
            approval_id,
            requested_by,
            approved_by,
            approved_at,
            reason,
        }
    }

    /// The approval's id; single use within a payment.
    pub fn approval_id(&self) -> ApprovalId {
        self.approval_id
    }
    /// The operator who asked for the action (the maker).
    pub fn requested_by(&self) -> OperatorId {
        self.requested_by
    }
    /// The operator who approved it (the checker); never the maker.
    pub fn approved_by(&self) -> OperatorId {
        self.approved_by
    }
    /// When it was approved.
    pub fn approved_at(&self) -> Timestamp {
        self.approved_at
    }
    /// Why the action was asked for.
    pub fn reason(&self) -> &FreeText {
        &self.reason
    }
}

/// Declares an event struct with private fields, a constructor and getters, so that an event can
/// be built once and never changed afterwards. Fields listed after `optional` are `None` when
/// built, read as `Option<&T>`, absent from the JSON when `None`, and given by a builder
/// (`with_<field>`) that consumes the event and returns a new one.
macro_rules! event_struct {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$fmeta:meta])* $field:ident : $ty:ty ),* $(,)? }
        $( optional { $( $(#[$ometa:meta])* $ofield:ident : $oty:ty => $with:ident ),* $(,)? } )?
    ) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            payment_intent_id: PaymentIntentId,
            occurred_at: Timestamp,
            $( $(#[$fmeta])* $field: $ty, )*
            $($(
                $(#[$ometa])*
                #[serde(default, skip_serializing_if = "Option::is_none")]
                $ofield: Option<$oty>,
            )*)?
        }

        impl $name {
            /// Builds the event.
            #[allow(clippy::too_many_arguments)]
            pub fn new(payment_intent_id: PaymentIntentId, occurred_at: Timestamp, $( $field: $ty ),*) -> Self {
                Self { payment_intent_id, occurred_at, $( $field, )* $($( $ofield: None, )*)? }
            }

            /// The payment (stream) this event belongs to.
            pub fn payment_intent_id(&self) -> PaymentIntentId {
                self.payment_intent_id
            }

            /// When it happened, as reported by whoever produced it.
            pub fn occurred_at(&self) -> Timestamp {
                self.occurred_at
            }

            $(
                #[doc = concat!("The `", stringify!($field), "` field.")]
                pub fn $field(&self) -> &$ty {
                    &self.$field
                }
            )*

            $($(
                #[doc = concat!("The `", stringify!($ofield), "` field, when the event carries it.")]
                pub fn $ofield(&self) -> Option<&$oty> {
                    self.$ofield.as_ref()
                }

                #[doc = concat!("The same event carrying `", stringify!($ofield), "`.")]
                #[must_use]
                pub fn $with(self, $ofield: $oty) -> Self {
                    Self { $ofield: Some($ofield), ..self }
                }
            )*)?
        }
    };
}

event_struct!(
    /// A payer asked to pay `amount` from one member account to another.
    ///
    /// The optional payment details (the parties' names, the remittance text and the payer's
    /// end-to-end id) travel to the payee in the pacs.008; they are part of the state hash when
    /// present (state encoding version 2) and absent from the JSON when not, so an intent
    /// without them is exactly what it always was.
    IntentCreated {
        amount: Money,
        currency: Currency,
        idempotency_key: IdempotencyKey,
        from_account_id: AccountId,
        to_account_id: AccountId,
        #[serde(default)]
        max_attempts: AttemptLimit,
    }
    optional {
        /// The payer's name (`Dbtr/Nm`).
        #[serde(deserialize_with = "debtor_name")]
        debtor_name: PartyName => with_debtor_name,
        /// The payee's name (`Cdtr/Nm`).
        #[serde(deserialize_with = "creditor_name")]
        creditor_name: PartyName => with_creditor_name,
        /// Up to 280 characters for the payee (`RmtInf/Ustrd`).
        #[serde(deserialize_with = "remittance_information")]
        remittance_information: FreeText => with_remittance_information,
        /// The payer's reference (`PmtId/EndToEndId`); without it, the payment id is sent.
        #[serde(deserialize_with = "end_to_end_id")]
        end_to_end_id: EndToEndId => with_end_to_end_id,
    }
);

/// The names of the intent's optional payment details, in the order the state encodes them.
pub const INTENT_DETAIL_FIELDS: [&str; 4] = [
    "debtor_name",
    "creditor_name",
    "remittance_information",
    "end_to_end_id",
];

impl IntentCreated {
    /// The names of the optional payment details this intent carries, in the order of
    /// [`INTENT_DETAIL_FIELDS`]: the fields that came with payment event schema version 2 and
    /// state encoding version 2. Empty for every intent recorded before them.
    pub fn detail_fields(&self) -> impl Iterator<Item = &'static str> + '_ {
        let present = [
            self.debtor_name.is_some(),
            self.creditor_name.is_some(),
            self.remittance_information.is_some(),
            self.end_to_end_id.is_some(),
        ];
        INTENT_DETAIL_FIELDS
            .into_iter()
            .zip(present)
            .filter_map(|(name, present)| present.then_some(name))
    }

    /// Whether the intent carries any of the optional payment details.
    pub fn has_details(&self) -> bool {
        self.detail_fields().next().is_some()
    }
}

/// Reads an optional detail through `parse`, so that a refusal names the field.
fn detail<'de, D, T>(
    deserializer: D,
    field: &'static str,
    parse: fn(&str) -> Result<T, ParseError>,
) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    deserializer
        .deserialize_str(ParseVisitor::new(field, parse))
        .map(Some)
}

fn debtor_name<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<PartyName>, D::Error> {
    detail(d, "debtor_name", |raw| {
        PartyName::parse_for("debtor_name", raw)
    })
}

fn creditor_name<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<PartyName>, D::Error> {
    detail(d, "creditor_name", |raw| {
        PartyName::parse_for("creditor_name", raw)
    })
}

/// Remittance text in an intent: free text that an ISO 20022 message can carry.
fn remittance_information<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<FreeText>, D::Error> {
    detail(d, "remittance_information", FreeText::parse_remittance)
}

fn end_to_end_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<EndToEndId>, D::Error> {
    detail(d, "end_to_end_id", EndToEndId::parse)
}

event_struct!(
    /// Policy checks passed and the amount is earmarked on the payer's account.
    Authorised {
        policy_checks_passed: bool,
        funds_earmarked: Money,
    }
);

event_struct!(
    /// An attempt was handed to the rail; the first one opens the first attempt.
    SentToRail { attempt_id: AttemptId }
);

event_struct!(
    /// The rail acknowledged the attempt (pacs.002 ACTC or ACSP). Not settlement.
    Acknowledged { attempt_id: AttemptId }
);

event_struct!(
    /// Funds moved for the attempt (pacs.002 ACSC or ACCC).
    Settled {
        attempt_id: AttemptId,
        settlement_ref: SettlementRef,
        funds_transferred: Money,
    }
);

event_struct!(
    /// The payment failed, before sending or for the given attempt.
    Failed {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attempt_id: Option<AttemptId>,
        reason: FailureReason,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<FreeText>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        approval: Option<Approval>,
    }
);

event_struct!(
    /// The intent passed its deadline before being sent.
    Expired {}
);

event_struct!(
    /// An approved operator retry opens a new attempt on a retryable failed payment.
    RetryApproved {
        attempt_id: AttemptId,
        approval: Approval,
    }
);

event_struct!(
    /// An approved operator cancellation before sending.
    Cancelled {
        reason: FreeText,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<FreeText>,
        approval: Approval,
    }
);

/// One event in a payment's history. The JSON form is `{"type": "<EventKind>", ...fields}`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum PaymentEvent {
    /// See [`IntentCreated`].
    PaymentIntentCreated(IntentCreated),
    /// See [`Authorised`].
    PaymentAuthorised(Authorised),
    /// See [`SentToRail`].
    PaymentSentToRail(SentToRail),
    /// See [`Acknowledged`].
    PaymentAcknowledged(Acknowledged),
    /// See [`Settled`].
    PaymentSettled(Settled),
    /// See [`Failed`].
    PaymentFailed(Failed),
    /// See [`Expired`].
    PaymentExpired(Expired),
    /// See [`RetryApproved`].
    PaymentRetryApproved(RetryApproved),
    /// See [`Cancelled`].
    PaymentCancelled(Cancelled),
}

impl PaymentEvent {
    /// The event's kind.
    pub const fn kind(&self) -> EventKind {
        match self {
            PaymentEvent::PaymentIntentCreated(_) => EventKind::PaymentIntentCreated,
            PaymentEvent::PaymentAuthorised(_) => EventKind::PaymentAuthorised,
            PaymentEvent::PaymentSentToRail(_) => EventKind::PaymentSentToRail,
            PaymentEvent::PaymentAcknowledged(_) => EventKind::PaymentAcknowledged,
            PaymentEvent::PaymentSettled(_) => EventKind::PaymentSettled,
            PaymentEvent::PaymentFailed(_) => EventKind::PaymentFailed,
            PaymentEvent::PaymentExpired(_) => EventKind::PaymentExpired,
            PaymentEvent::PaymentRetryApproved(_) => EventKind::PaymentRetryApproved,
            PaymentEvent::PaymentCancelled(_) => EventKind::PaymentCancelled,
        }
    }

    /// The payment the event belongs to.
    pub fn payment_intent_id(&self) -> PaymentIntentId {
        match self {
            PaymentEvent::PaymentIntentCreated(e) => e.payment_intent_id(),
            PaymentEvent::PaymentAuthorised(e) => e.payment_intent_id(),
            PaymentEvent::PaymentSentToRail(e) => e.payment_intent_id(),
            PaymentEvent::PaymentAcknowledged(e) => e.payment_intent_id(),
            PaymentEvent::PaymentSettled(e) => e.payment_intent_id(),
            PaymentEvent::PaymentFailed(e) => e.payment_intent_id(),
            PaymentEvent::PaymentExpired(e) => e.payment_intent_id(),
            PaymentEvent::PaymentRetryApproved(e) => e.payment_intent_id(),
            PaymentEvent::PaymentCancelled(e) => e.payment_intent_id(),
        }
    }

    /// When the event happened.
    pub fn occurred_at(&self) -> Timestamp {
        match self {
            PaymentEvent::PaymentIntentCreated(e) => e.occurred_at(),
            PaymentEvent::PaymentAuthorised(e) => e.occurred_at(),
            PaymentEvent::PaymentSentToRail(e) => e.occurred_at(),
            PaymentEvent::PaymentAcknowledged(e) => e.occurred_at(),
            PaymentEvent::PaymentSettled(e) => e.occurred_at(),
            PaymentEvent::PaymentFailed(e) => e.occurred_at(),
            PaymentEvent::PaymentExpired(e) => e.occurred_at(),
            PaymentEvent::PaymentRetryApproved(e) => e.occurred_at(),
            PaymentEvent::PaymentCancelled(e) => e.occurred_at(),
        }
    }

    /// The attempt the event names, if it names one.
    pub fn attempt_id(&self) -> Option<AttemptId> {
        match self {
            PaymentEvent::PaymentSentToRail(e) => Some(*e.attempt_id()),
            PaymentEvent::PaymentAcknowledged(e) => Some(*e.attempt_id()),
            PaymentEvent::PaymentSettled(e) => Some(*e.attempt_id()),
            PaymentEvent::PaymentFailed(e) => *e.attempt_id(),
            PaymentEvent::PaymentRetryApproved(e) => Some(*e.attempt_id()),
            PaymentEvent::PaymentIntentCreated(_)
            | PaymentEvent::PaymentAuthorised(_)
            | PaymentEvent::PaymentExpired(_)
            | PaymentEvent::PaymentCancelled(_) => None,
        }
    }

    /// The operator approval the event carries, if any.
    pub fn approval(&self) -> Option<&Approval> {
        match self {
            PaymentEvent::PaymentFailed(e) => e.approval().as_ref(),
            PaymentEvent::PaymentRetryApproved(e) => Some(e.approval()),
            PaymentEvent::PaymentCancelled(e) => Some(e.approval()),
            PaymentEvent::PaymentIntentCreated(_)
            | PaymentEvent::PaymentAuthorised(_)
            | PaymentEvent::PaymentSentToRail(_)
            | PaymentEvent::PaymentAcknowledged(_)
            | PaymentEvent::PaymentSettled(_)
            | PaymentEvent::PaymentExpired(_) => None,
        }
    }
}
