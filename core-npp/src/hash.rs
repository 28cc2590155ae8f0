//! The canonical state hash: SHA-256 over a documented, stable byte encoding of a payment.
//!
//! The encoding is specified in docs/ARCHITECTURE.md ("State hash encoding") and pinned by
//! golden tests. Changing a version changes every hash recorded in it: add a new version
//! instead. A payment is encoded in the oldest version that can hold it: version 1 unless its
//! intent carries any of the optional payment details, which only version 2 encodes, so every
//! hash recorded before them is unchanged.

use std::fmt;

use serde::{Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::event::Approval;
use crate::ids::FreeText;
use crate::money::Money;
use crate::payment::{Attempt, AttemptOutcome, FailureRecord, Payment};
use crate::timestamp::Timestamp;

/// The magic bytes that open every encoded state, with the encoding version after them.
pub const STATE_ENCODING_MAGIC: &[u8; 8] = b"NPPSTATE";

/// The newest version of the byte encoding: version 1 with the intent's optional payment
/// details (names, remittance text, end-to-end id) after the intent's other fields.
pub const STATE_ENCODING_VERSION: u16 = 2;

/// The oldest version of the byte encoding, still the one of every payment whose intent carries
/// none of the optional payment details.
pub const OLDEST_STATE_ENCODING_VERSION: u16 = 1;

/// A SHA-256 state hash.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StateHash([u8; 32]);

impl StateHash {
    /// The 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// 64 lower-case hex characters.
    pub fn to_hex(&self) -> String {
        let mut out = String::with_capacity(64);
        for byte in self.0 {
            out.push(hex_digit(byte >> 4));
            out.push(hex_digit(byte & 0x0f));
        }
        out
    }
}

fn hex_digit(nibble: u8) -> char {
    char::from_digit(u32::from(nibble), 16).unwrap_or('0')
}

impl fmt::Display for StateHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for StateHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StateHash({})", self.to_hex())
    }
}

impl Serialize for StateHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

/// Appends the canonical encoding pieces to a buffer.
struct Encoder<'a>(&'a mut Vec<u8>);

impl Encoder<'_> {
    fn u8(&mut self, value: u8) {
        self.0.push(value);
    }
    fn u32(&mut self, value: u32) {
        self.0.extend_from_slice(&value.to_be_bytes());
    }
    fn len(&mut self, len: usize) {
        // Every collection in a payment is bounded far below u32::MAX (ids are 35 bytes, text
        // 280 characters, attempts at most 10), so saturating never triggers.
        self.u32(u32::try_from(len).unwrap_or(u32::MAX));
    }
    fn str(&mut self, value: &str) {
        self.bytes(value.as_bytes());
    }
    fn bytes(&mut self, value: &[u8]) {
        self.len(value.len());
        self.0.extend_from_slice(value);
    }
    fn text(&mut self, value: Option<&FreeText>) {
        self.opt(value, |e, t| e.str(t.as_str()));
    }
    fn money(&mut self, value: Money) {
        self.0.extend_from_slice(&value.minor_units().to_be_bytes());
    }
    fn time(&mut self, value: Timestamp) {
        self.0.extend_from_slice(&value.unix_nanos().to_be_bytes());
    }
    fn opt<T>(&mut self, value: Option<T>, write: impl FnOnce(&mut Self, T)) {
        match value {
            None => self.u8(0),
            Some(inner) => {
                self.u8(1);
                write(self, inner);
            }
        }
    }
}

impl Payment {
    /// The version of the byte encoding this payment is encoded in: the oldest that holds it,
    /// [`STATE_ENCODING_VERSION`] (2) when its intent carries any optional payment detail,
    /// [`OLDEST_STATE_ENCODING_VERSION`] (1) otherwise.
    pub fn state_encoding_version(&self) -> u16 {
        if self.intent.has_details() {
            STATE_ENCODING_VERSION
        } else {
            OLDEST_STATE_ENCODING_VERSION
        }
    }

    /// Appends the canonical byte encoding of this payment to `out`, in the version
    /// [`Payment::state_encoding_version`] names.
    pub fn encode_state(&self, out: &mut Vec<u8>) {
        let version = self.state_encoding_version();
        let mut e = Encoder(out);
        e.0.extend_from_slice(STATE_ENCODING_MAGIC);
        e.0.extend_from_slice(&version.to_be_bytes());
        e.bytes(self.payment_intent_id().as_bytes());
        e.bytes(self.idempotency_key().as_bytes());
        e.bytes(self.from_account_id().as_bytes());
        e.bytes(self.to_account_id().as_bytes());
        e.money(self.amount());
        e.0.extend_from_slice(&self.currency().as_bytes());
        e.u8(self.max_attempts().get());
        e.time(self.created_at());
        if version >= STATE_ENCODING_VERSION {
            e.opt(self.debtor_name(), |e, name| e.str(name.as_str()));
            e.opt(self.creditor_name(), |e, name| e.str(name.as_str()));
            e.text(self.remittance_information());
            e.opt(self.end_to_end_id(), |e, id| e.str(id.as_str()));
        }
        e.u8(self.state.tag());
        e.u32(self.version);
        e.time(self.last_occurred_at);
        e.opt(self.authorisation.as_ref(), |e, a| {
            e.money(a.funds_earmarked);
            e.time(a.at);
        });
        e.len(self.attempts.len());
        for attempt in &self.attempts {
            encode_attempt(&mut e, attempt);
        }
        e.len(self.failures.len());
        for failure in &self.failures {
            encode_failure(&mut e, failure);
        }
        e.opt(self.expired_at, Encoder::time);
        e.len(self.approvals.len());
        for approval in &self.approvals {
            encode_approval(&mut e, approval);
        }
    }

    /// SHA-256 of [`Payment::encode_state`]: equal states give equal hashes, on any machine.
    pub fn state_hash(&self) -> StateHash {
        let mut buffer = Vec::with_capacity(512);
        self.encode_state(&mut buffer);
        StateHash(Sha256::digest(&buffer).into())
    }
}

fn encode_attempt(e: &mut Encoder<'_>, attempt: &Attempt) {
    e.bytes(attempt.attempt_id.as_bytes());
    e.time(attempt.opened_at);
    e.opt(attempt.opened_by, |e, id| e.bytes(id.as_bytes()));
    e.opt(attempt.sent_at, Encoder::time);
    e.opt(attempt.acknowledged_at, Encoder::time);
    e.opt(attempt.outcome.as_ref(), |e, outcome| match outcome {
        AttemptOutcome::Settled {
            settlement_ref,
            funds_transferred,
            at,
        } => {
            e.u8(1);
            e.bytes(settlement_ref.as_bytes());
            e.money(*funds_transferred);
            e.time(*at);
        }
        AttemptOutcome::Failed { reason, detail, at } => {
            e.u8(2);
            e.u8(reason.tag());
            e.text(detail.as_ref());
            e.time(*at);
        }
    });
}

fn encode_failure(e: &mut Encoder<'_>, failure: &FailureRecord) {
    e.u8(failure.reason.tag());
    e.opt(failure.attempt_id, |e, id| e.bytes(id.as_bytes()));
    e.text(failure.cancel_reason.as_ref());
    e.text(failure.detail.as_ref());
    e.opt(failure.approval_id, |e, id| e.bytes(id.as_bytes()));
    e.time(failure.at);
}

fn encode_approval(e: &mut Encoder<'_>, approval: &Approval) {
    e.bytes(approval.approval_id().as_bytes());
    e.bytes(approval.requested_by().as_bytes());
    e.bytes(approval.approved_by().as_bytes());
    e.time(approval.approved_at());
    e.str(approval.reason().as_str());
}
