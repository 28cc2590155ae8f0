//! The application layer: command handlers that load a payment from the event store, let the
//! core decide, and append with the expected version; store verification; derived funds; and
//! operator actions under maker-checker approval.

mod codec;
mod error;
mod verify;

pub use codec::{PAYMENT_EVENT_SCHEMA_VERSION, decode_payment_event, encode_payment_event};
pub use error::AppError;
pub use verify::{VerifyFailure, VerifyReport, verify_store};
