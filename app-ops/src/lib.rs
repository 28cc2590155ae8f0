//! The application layer: command handlers that load a payment from the event store, let the
//! core decide, and append with the expected version; derived funds; store verification; and
//! operator actions under maker-checker approval.

mod announce;
mod batch;
mod clock;
mod coalesce;
mod codec;
mod commands;
mod error;
mod funds;
mod load;
mod ops;
mod policy;
mod stored_policy;
mod verify;

pub use announce::{Announce, Announcement};
pub use batch::Command;
pub use clock::{Clock, ManualClock, SystemClock};
pub use coalesce::{
    Callback, CoalescingStats, CommandResult, MAX_COALESCED, MAX_QUEUED_COMMANDS, OwnedCommand,
};
pub use codec::{
    OLDEST_PAYMENT_EVENT_SCHEMA_VERSION, PAYMENT_EVENT_SCHEMA_VERSION, decode_payment_event,
    encode_payment_event,
};
pub use commands::{
    Effect, MAX_CONFLICT_RETRIES, NewIntent, Outcome, Payments, RailOutcome, RailOutcomeRefused,
    decode_anomaly,
};
pub use error::AppError;
pub use funds::{FundsPosition, FundsProjection, LiveFunds};
pub use load::{Loaded, load_payment, load_payment_at};
pub use ops::{
    ApprovalEntry, Approved, OperatorActions, OpsEvent, OpsRequest, RequestStatus, list_requests,
    load_request, requests_for_payment,
};
pub use policy::{MAX_POLICY_VERSION_CHARS, OpsAction, PolicyGate, TomlPolicy};
pub use stored_policy::{
    Loaded as PolicyLoad, PolicyEvent, StoredPolicy, decode_policy_event, ensure_in_force,
    load_policy, not_in_force, policy_in_force,
};
pub use verify::{StreamCheck, VerifyFailure, VerifyReport, verify_store, verify_store_with};
