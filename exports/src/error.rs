//! The one error type of this crate, and the JSON path that names where in a pack a fault lies.

use std::fmt;

use core_npp::EventKind;

/// A location inside an evidence pack, written the way a person reads it:
/// `lifecycle_events[3].funds_transferred`, `proof.state_hash`. The pack itself is the empty path.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct JsonPath(String);

impl JsonPath {
    /// The whole pack.
    pub fn root() -> Self {
        Self::default()
    }

    /// The member `key` of the object at this path.
    pub fn key(&self, key: &str) -> Self {
        let plain = !key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        let mut out = self.0.clone();
        if plain {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(key);
        } else {
            // A key a person could misread (spaces, dots, quotes) is shown as a JSON string, so the
            // path stays unambiguous even for keys an attacker chose.
            out.push('[');
            out.push_str(&serde_json::Value::from(key).to_string());
            out.push(']');
        }
        Self(out)
    }

    /// The element `index` (0-based) of the array at this path.
    pub fn index(&self, index: usize) -> Self {
        Self(format!("{}[{index}]", self.0))
    }

    /// The path as text; empty for the whole pack.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this path is `other` or lies inside it.
    pub fn is_within(&self, other: &JsonPath) -> bool {
        self.0 == other.0
            || (self.0.starts_with(&other.0)
                && matches!(self.0.as_bytes().get(other.0.len()), Some(b'.' | b'[')))
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("(the pack)")
        } else {
            f.write_str(&self.0)
        }
    }
}

/// Everything that can go wrong building, reading, verifying or signing an evidence pack. Every
/// variant about a pack's content carries the [`JsonPath`] of the first bad element.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum ExportError {
    // --- building a pack from a store ---
    /// The store could not give the payment's evidence (unreadable, corrupt, or a value a pack
    /// cannot carry).
    #[error("cannot gather the evidence: {reason}")]
    Source {
        /// What went wrong, naming the stream, version or field.
        reason: String,
    },

    // --- the file is not a pack this software reads ---
    /// The bytes are not JSON.
    #[error("the file is not JSON: {reason}")]
    NotJson {
        /// What the JSON parser said.
        reason: String,
    },
    /// JSON, but not an evidence pack.
    #[error("the file is not an npp evidence pack: {reason}")]
    NotAnEvidencePack {
        /// What is missing.
        reason: String,
    },
    /// A pack of a schema version this software does not know.
    #[error(
        "schema_version {found} is not one this software reads (it reads versions {oldest} to {supported})"
    )]
    UnsupportedSchemaVersion {
        /// The version in the file, as written.
        found: String,
        /// The oldest version this software reads.
        oldest: u32,
        /// The newest version this software reads (and the one it writes).
        supported: u32,
    },

    // --- the pack's shape ---
    /// A required element is absent.
    #[error("{path}: missing")]
    Missing {
        /// Where it should be.
        path: JsonPath,
    },
    /// A key the format does not define.
    #[error("{path}: not part of the evidence pack format")]
    UnknownKey {
        /// The unknown key.
        path: JsonPath,
    },
    /// A key written twice in one JSON object. A JSON reader keeps one of the values (serde_json
    /// and Python the last, others the first), so two readers could see two different packs.
    #[error(
        "{path}: duplicate key; each key may appear once in an object, or readers could disagree about its value"
    )]
    DuplicateKey {
        /// The second occurrence of the key.
        path: JsonPath,
    },
    /// A member or outcome of a later schema version in a pack that declares an earlier one.
    #[error(
        "{path}: not part of schema version {version}, which the pack declares (it was added in schema version {added})"
    )]
    NotInSchemaVersion {
        /// The member (or the decision's `outcome`).
        path: JsonPath,
        /// The schema version the pack declares.
        version: u32,
        /// The schema version that added it.
        added: u32,
    },
    /// An element that cannot be read as what the format says it is.
    #[error("{path}: {reason}")]
    Malformed {
        /// The element.
        path: JsonPath,
        /// What is wrong with it.
        reason: String,
    },
    /// An element that means the right thing but is not written in its one canonical form.
    #[error("{path}: not in canonical form: expected {expected}, found {found}")]
    NotCanonicalForm {
        /// The element.
        path: JsonPath,
        /// The canonical form (JSON), or `(absent)`.
        expected: String,
        /// What the pack holds (JSON), or `(absent)`.
        found: String,
    },
    /// A number canonical JSON cannot carry exactly.
    #[error(
        "{path}: {value} is not an integer between -(2^53-1) and 2^53-1, the only numbers a pack may hold"
    )]
    NumberNotCanonical {
        /// The number's place.
        path: JsonPath,
        /// The number as written.
        value: String,
    },

    // --- the history ---
    /// No events at all.
    #[error("{path}: the history has no events; a payment starts with PaymentIntentCreated")]
    EmptyHistory {
        /// `lifecycle_events`.
        path: JsonPath,
    },
    /// An event breaks a rule of the domain core.
    #[error("{path}: event {number} ({event}) breaks rule {rule}: {message}")]
    RuleBroken {
        /// The event, and the field the rule is about when there is one.
        path: JsonPath,
        /// The event's 1-based number in the history.
        number: usize,
        /// The event's kind.
        event: EventKind,
        /// The core's rule id.
        rule: &'static str,
        /// The core's explanation.
        message: String,
    },

    // --- the proof ---
    /// A recomputed SHA-256 differs from the one recorded.
    #[error("{path}: its SHA-256 is {computed}, but the proof records {recorded}")]
    HashMismatch {
        /// The element whose hash differs (or the recorded hash that is wrong).
        path: JsonPath,
        /// The hash the pack records.
        recorded: String,
        /// The hash recomputed from the pack's content.
        computed: String,
    },
    /// An element the proof does not cover.
    #[error("{path}: not covered by the proof, which records {recorded} such elements")]
    NotInProof {
        /// The extra element.
        path: JsonPath,
        /// How many the proof records.
        recorded: usize,
    },
    /// An element the proof covers is gone.
    #[error("{path}: missing, but the proof records {recorded} such elements")]
    MissingFromPack {
        /// Where the element should be.
        path: JsonPath,
        /// How many the proof records.
        recorded: usize,
    },
    /// A recorded count differs from the pack's content.
    #[error("{path}: records {recorded}, but the pack holds {actual}")]
    CountMismatch {
        /// The recorded count.
        path: JsonPath,
        /// The count recorded.
        recorded: usize,
        /// The count in the pack.
        actual: usize,
    },
    /// The replayed state hash differs from the recorded one.
    #[error(
        "{path}: replaying the events gives state hash {replayed}, not the recorded {recorded}"
    )]
    StateHashMismatch {
        /// `proof.state_hash`.
        path: JsonPath,
        /// The hash the pack records.
        recorded: String,
        /// The hash of the replayed state.
        replayed: String,
    },
    /// A value derived from the events differs from what the pack records.
    #[error("{path}: the events imply {derived}, but the pack records {recorded}")]
    DerivedValueMismatch {
        /// The element.
        path: JsonPath,
        /// What the pack records (JSON), or `(absent)`.
        recorded: String,
        /// What the events imply (JSON), or `(absent)`.
        derived: String,
    },

    // --- operator actions and rail decisions ---
    /// An operator action about another payment.
    #[error("{path}: the action is for payment {found}, but the pack is about {expected}")]
    ActionForOtherPayment {
        /// `operator_actions[k].payment_intent_id`.
        path: JsonPath,
        /// The pack's payment.
        expected: String,
        /// The action's payment.
        found: String,
    },
    /// Two actions with one request id.
    #[error("{path}: request {request_id} is already {first}")]
    DuplicateRequest {
        /// The second action's `request_id`.
        path: JsonPath,
        /// The request id.
        request_id: String,
        /// The first action with that id.
        first: JsonPath,
    },
    /// An approved action with no approval.
    #[error("{path}: an approved action needs at least one approval")]
    NoApprovals {
        /// `operator_actions[k].decision.approvals`.
        path: JsonPath,
    },
    /// Maker and checker are one person.
    #[error("{path}: operator {operator} cannot approve their own request")]
    SelfApproval {
        /// The approval's `approved_by`.
        path: JsonPath,
        /// The operator.
        operator: String,
    },
    /// A decision dated before its request.
    #[error("{path}: {at} is earlier than the request at {requested_at}")]
    DecidedBeforeRequest {
        /// The decision's time.
        path: JsonPath,
        /// The decision's time.
        at: String,
        /// The request's time.
        requested_at: String,
    },
    /// An action refused on execution before it was approved.
    #[error(
        "{path}: {at} is earlier than the last approval at {approved_at}; an approved action is refused when it runs, after its approval"
    )]
    RefusedBeforeApproval {
        /// `operator_actions[k].decision.refused_at`.
        path: JsonPath,
        /// The refusal's time.
        at: String,
        /// The last approval's time.
        approved_at: String,
    },
    /// An approved action that no event carries out.
    #[error("{path}: request {request_id} is approved, but no event carries approval {request_id}")]
    ApprovedActionWithoutEvent {
        /// The action.
        path: JsonPath,
        /// Its request id.
        request_id: String,
    },
    /// A rejected, refused, lapsed or pending action that an event carries out anyway.
    #[error(
        "{path}: request {request_id} is {decision}, yet {event_path} carries its approval; only an APPROVED request produces an event"
    )]
    UnapprovedActionProducedEvent {
        /// `operator_actions[k].decision.outcome`.
        path: JsonPath,
        /// The request id.
        request_id: String,
        /// REJECTED, REFUSED_ON_EXECUTION, LAPSED or PENDING.
        decision: &'static str,
        /// The event that carries it.
        event_path: JsonPath,
    },
    /// An action and the event it produced disagree.
    #[error("{path}: the action records {in_action}, but {event_path} records {in_event}")]
    ActionDisagreesWithEvent {
        /// The action's field.
        path: JsonPath,
        /// The event's field.
        event_path: JsonPath,
        /// The action's value.
        in_action: String,
        /// The event's value.
        in_event: String,
    },
    /// An event carries an approval whose operator action is not in the pack.
    #[error("{path}: approval {approval_id} has no operator action in the pack")]
    ApprovalWithoutAction {
        /// `lifecycle_events[i].approval`.
        path: JsonPath,
        /// The approval id.
        approval_id: String,
    },
    /// A rail decision or action names an attempt the payment never had.
    #[error("{path}: attempt {attempt_id} does not exist in this payment")]
    UnknownAttempt {
        /// The `attempt_id` field.
        path: JsonPath,
        /// The attempt id.
        attempt_id: String,
    },

    // --- the signature and keys ---
    /// A trusted key was given but the pack is unsigned.
    #[error(
        "{path}: missing; the pack is unsigned, but a public key was given to check it against"
    )]
    SignatureMissing {
        /// `signature`.
        path: JsonPath,
    },
    /// Signed, but by another key than the trusted one.
    #[error("{path}: the pack is signed by {found}, not by the trusted key {expected}")]
    SignedByOtherKey {
        /// `signature.public_key`.
        path: JsonPath,
        /// The trusted key (hex).
        expected: String,
        /// The key in the pack (hex).
        found: String,
    },
    /// The Ed25519 signature does not verify.
    #[error("{path}: the Ed25519 signature does not verify over the canonical proof")]
    SignatureInvalid {
        /// `signature.value`.
        path: JsonPath,
    },
    /// Key text that is not a key.
    #[error("not an Ed25519 {what}: {reason}")]
    BadKey {
        /// `private key` or `public key`.
        what: &'static str,
        /// Why.
        reason: String,
    },

    // --- building ---
    /// A value could not be turned into JSON.
    #[error("{path}: cannot be written as JSON: {reason}")]
    Unserialisable {
        /// The value.
        path: JsonPath,
        /// What serde said.
        reason: String,
    },
}

impl ExportError {
    /// The first bad element, for errors about a pack's content.
    pub fn path(&self) -> Option<&JsonPath> {
        match self {
            ExportError::Source { .. }
            | ExportError::NotJson { .. }
            | ExportError::NotAnEvidencePack { .. }
            | ExportError::UnsupportedSchemaVersion { .. }
            | ExportError::BadKey { .. } => None,
            ExportError::Missing { path }
            | ExportError::UnknownKey { path }
            | ExportError::DuplicateKey { path }
            | ExportError::NotInSchemaVersion { path, .. }
            | ExportError::Malformed { path, .. }
            | ExportError::NotCanonicalForm { path, .. }
            | ExportError::NumberNotCanonical { path, .. }
            | ExportError::EmptyHistory { path }
            | ExportError::RuleBroken { path, .. }
            | ExportError::HashMismatch { path, .. }
            | ExportError::NotInProof { path, .. }
            | ExportError::MissingFromPack { path, .. }
            | ExportError::CountMismatch { path, .. }
            | ExportError::StateHashMismatch { path, .. }
            | ExportError::DerivedValueMismatch { path, .. }
            | ExportError::ActionForOtherPayment { path, .. }
            | ExportError::DuplicateRequest { path, .. }
            | ExportError::NoApprovals { path }
            | ExportError::SelfApproval { path, .. }
            | ExportError::DecidedBeforeRequest { path, .. }
            | ExportError::RefusedBeforeApproval { path, .. }
            | ExportError::ApprovedActionWithoutEvent { path, .. }
            | ExportError::UnapprovedActionProducedEvent { path, .. }
            | ExportError::ActionDisagreesWithEvent { path, .. }
            | ExportError::ApprovalWithoutAction { path, .. }
            | ExportError::UnknownAttempt { path, .. }
            | ExportError::SignatureMissing { path }
            | ExportError::SignedByOtherKey { path, .. }
            | ExportError::SignatureInvalid { path }
            | ExportError::Unserialisable { path, .. } => Some(path),
        }
    }

    /// Whether the file could not be read as a pack at all (not JSON, not a pack, an unknown
    /// schema version), as opposed to a pack that fails verification. A duplicate key is a
    /// failure, not unreadable: the file is a pack, written in a way that lets readers disagree.
    pub fn is_unreadable(&self) -> bool {
        matches!(
            self,
            ExportError::NotJson { .. }
                | ExportError::NotAnEvidencePack { .. }
                | ExportError::UnsupportedSchemaVersion { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_read_like_javascript_member_access() {
        let path = JsonPath::root()
            .key("lifecycle_events")
            .index(3)
            .key("funds_transferred");
        assert_eq!(path.as_str(), "lifecycle_events[3].funds_transferred");
        assert_eq!(
            JsonPath::root().key("a b").as_str(),
            "[\"a b\"]",
            "odd keys are quoted"
        );
        assert_eq!(JsonPath::root().to_string(), "(the pack)");
    }

    #[test]
    fn within_means_the_same_element_or_inside_it() {
        let events = JsonPath::root().key("lifecycle_events");
        assert!(events.index(1).key("type").is_within(&events.index(1)));
        assert!(events.index(1).is_within(&events.index(1)));
        assert!(!events.index(10).is_within(&events.index(1)));
        assert!(
            !JsonPath::root()
                .key("proofx")
                .is_within(&JsonPath::root().key("proof"))
        );
    }
}
