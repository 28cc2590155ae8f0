//! Evidence packs: one self-contained file per payment that an auditor can check, years later,
//! with nothing but the file.
//!
//! A pack holds the payment intent, the rail decisions, every lifecycle event in order, every
//! operator action with its request, approvals, rejection or refusal and the policy (version and
//! SHA-256) of each, the final state, and a proof: a SHA-256 chain over the events' canonical
//! JSON, the chain head, the event count, the replayed state hash, and one SHA-256 per rail
//! decision and per operator action. It is written as canonical JSON (RFC 8785, integers only),
//! so the same events give the same bytes on every machine, and it may carry an Ed25519
//! signature over the proof. A pack is written in schema version [`SCHEMA_VERSION`] (3) when its
//! payment's intent carries payment details (names, remittance text, end-to-end id) and in
//! [`SCHEMA_VERSION_WITHOUT_DETAILS`] (2) otherwise, and every version from
//! [`OLDEST_SCHEMA_VERSION`] (1) on is read. A file is read strictly
//! ([`parse_strict`]): a key written twice in an object is refused. docs/EVIDENCE.md specifies the
//! format, what a pack proves, and how to verify one without this software.
//!
//! ```
//! use core_npp::PaymentEvent;
//! use exports::{EvidenceInput, build_pack, verify_pack_bytes};
//!
//! let events: Vec<PaymentEvent> = [
//!     r#"{"type":"PaymentIntentCreated","payment_intent_id":"pay_001","occurred_at":"2025-12-17T09:30:00Z","amount":50000,"currency":"AUD","idempotency_key":"idem_001","from_account_id":"acc_from","to_account_id":"acc_to"}"#,
//!     r#"{"type":"PaymentAuthorised","payment_intent_id":"pay_001","occurred_at":"2025-12-17T09:30:01Z","policy_checks_passed":true,"funds_earmarked":50000}"#,
//! ]
//! .iter()
//! .map(|line| serde_json::from_str(line).unwrap())
//! .collect();
//! let pack = build_pack(&EvidenceInput::from_event_history(events).unwrap()).unwrap();
//! let verified = verify_pack_bytes(&pack.to_file_bytes(), None).unwrap();
//! assert_eq!(verified.event_count(), 2);
//! ```

mod canonical;
mod checks;
mod digest;
mod error;
mod model;
mod pack;
mod signing;
mod source;
mod strict;
mod verify;
mod views;

pub use canonical::{MAX_SAFE_INTEGER, canonical_json};
pub use digest::Sha256Digest;
pub use error::{ExportError, JsonPath};
pub use model::{
    ActionKind, ApprovalRecord, Decision, EvidenceInput, OperatorAction, RailDecision,
    UNKNOWN_POLICY_VERSION, operator_actions_from_events,
};
pub use pack::{
    EvidencePack, HashAlgorithm, OLDEST_SCHEMA_VERSION, PACK_FORMAT, PRODUCER_NAME, Proof,
    SCHEMA_VERSION, SCHEMA_VERSION_WITHOUT_DETAILS, SignatureAlgorithm, build_pack,
    schema_version_for,
};
pub use signing::{PackPublicKey, PackSigningKey};
pub use source::evidence_from_store;
pub use strict::parse_strict;
pub use verify::{PolicySeen, SignatureStatus, VerifiedPack, verify_pack, verify_pack_bytes};

/// This software's version, recorded in each pack's `producer.version` (outside the proof).
pub const SOFTWARE_VERSION: &str = env!("CARGO_PKG_VERSION");
