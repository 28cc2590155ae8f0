//! Verifying a pack with nothing but the pack: recompute every hash, replay the events through
//! the core, compare every derived value, check every operator action against its event, and
//! check the signature. The first bad element is named by its JSON path.
//!
//! Packs of every schema version ever written are read: version 1 (which has no policy hashes,
//! approval or rejection policies, or `REFUSED_ON_EXECUTION`; a version-1 pack holding one is
//! refused), version 2 (which has no payment details in its intent; a version-1 or 2 pack
//! holding one is refused) and version 3.

use core_npp::{
    OLDEST_STATE_ENCODING_VERSION, PaymentEvent, PaymentIntentId, PaymentState, Replay,
    STATE_ENCODING_VERSION,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::canonical::{canonical_json, canonical_json_at};
use crate::checks::{
    ActionChecker, actions_path, check_rail_decision, check_schema_version, decisions_path,
    events_path, first_difference, parse_in_normal_form, quote, replay, to_json,
};
use crate::digest::{Sha256Digest, hex_decode};
use crate::error::{ExportError, JsonPath};
use crate::model::{Decision, OperatorAction, RailDecision};
use crate::pack::{
    DETAILS_ADDED_IN, OLDEST_SCHEMA_VERSION, PACK_FORMAT, Producer, Proof, SCHEMA_VERSION,
    SignatureBlock, chain_hashes,
};
use crate::signing::PackPublicKey;
use crate::strict::parse_strict;
use crate::views::{FinalStateView, IntentView};

/// Every top-level member a pack may have (the same in schema versions 1 to 3).
const TOP_LEVEL_KEYS: [&str; 10] = [
    "final_state",
    "format",
    "intent",
    "lifecycle_events",
    "operator_actions",
    "producer",
    "proof",
    "rail_decisions",
    "schema_version",
    "signature",
];

/// What the signature check found.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SignatureStatus {
    /// No signature; the proof still verifies.
    Unsigned,
    /// Signed, and the signature verifies against the public key inside the pack. That proves
    /// integrity only if the reader trusts that key; give a trusted key to check it.
    SelfConsistent(PackPublicKey),
    /// Signed by the trusted key the caller gave.
    Trusted(PackPublicKey),
}

/// One operator policy a pack's actions name: a request's, an approval's or a rejection's.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PolicySeen {
    /// The policy's version as recorded.
    pub version: String,
    /// The SHA-256 of the policy document, when recorded.
    pub sha256: Option<Sha256Digest>,
}

impl std::fmt::Display for PolicySeen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.sha256 {
            Some(sha256) => write!(f, "{:?} (sha256 {sha256})", self.version),
            None => write!(f, "{:?}", self.version),
        }
    }
}

/// A pack that verified, and what it says.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct VerifiedPack {
    schema_version: u32,
    payment_intent_id: PaymentIntentId,
    state: PaymentState,
    event_count: usize,
    rail_decisions: usize,
    operator_actions: usize,
    chain_head: Sha256Digest,
    state_hash: Sha256Digest,
    signature: SignatureStatus,
    producer_version: String,
    policies: Vec<PolicySeen>,
}

impl VerifiedPack {
    /// The schema version the pack declares (1, 2 or 3), whose rules it was checked by.
    pub fn schema_version(&self) -> u32 {
        self.schema_version
    }
    /// Every distinct policy (version and hash) the operator actions name, requests first, in
    /// the order they appear.
    pub fn policies(&self) -> &[PolicySeen] {
        &self.policies
    }
    /// The payment.
    pub fn payment_intent_id(&self) -> PaymentIntentId {
        self.payment_intent_id
    }
    /// Where it ended.
    pub fn state(&self) -> PaymentState {
        self.state
    }
    /// Events in the chain.
    pub fn event_count(&self) -> usize {
        self.event_count
    }
    /// Operator actions in the pack.
    pub fn operator_actions(&self) -> usize {
        self.operator_actions
    }
    /// Rail decisions in the pack.
    pub fn rail_decisions(&self) -> usize {
        self.rail_decisions
    }
    /// The last link of the event chain.
    pub fn chain_head(&self) -> Sha256Digest {
        self.chain_head
    }
    /// The replayed (and recorded) state hash.
    pub fn state_hash(&self) -> Sha256Digest {
        self.state_hash
    }
    /// What the signature check found.
    pub fn signature(&self) -> SignatureStatus {
        self.signature
    }
    /// The producing software's version as the pack records it (not covered by the proof).
    pub fn producer_version(&self) -> &str {
        &self.producer_version
    }

    /// One line for a person: the payment, its outcome, what was checked, the policies its
    /// operator actions name and the schema version.
    pub fn summary(&self) -> String {
        let signature = match self.signature {
            SignatureStatus::Unsigned => "unsigned".to_owned(),
            SignatureStatus::SelfConsistent(key) => format!(
                "signed by {key} (checked against the key in the pack only; give a trusted public key to check who signed)"
            ),
            SignatureStatus::Trusted(key) => format!("signed by the trusted key {key}"),
        };
        let policies = if self.policies.is_empty() {
            String::new()
        } else {
            let names: Vec<String> = self.policies.iter().map(ToString::to_string).collect();
            format!(" under policy {}", names.join(", "))
        };
        format!(
            "valid: payment {} {}; {} events, chain head {}; state hash {} replays; {} operator actions{policies}, {} rail decisions; {signature}; schema version {}",
            self.payment_intent_id,
            self.state,
            self.event_count,
            self.chain_head,
            self.state_hash,
            self.operator_actions,
            self.rail_decisions,
            self.schema_version,
        )
    }
}

/// Verifies a pack file's bytes: the strict entry point. `trusted`, when given, must be the key
/// that signed the pack.
///
/// The bytes are parsed with [`parse_strict`](crate::parse_strict), so a key written twice in
/// any object (`"amount":1,"amount":73550`, two `operator_actions`) is refused as
/// [`ExportError::DuplicateKey`] naming its JSON path, signed or not; then the value is verified
/// as [`verify_pack`] does.
pub fn verify_pack_bytes(
    bytes: &[u8],
    trusted: Option<&PackPublicKey>,
) -> Result<VerifiedPack, ExportError> {
    let pack = parse_strict(bytes)?;
    verify_pack(&pack, trusted)
}

/// Verifies a pack already parsed as JSON. Key order and whitespace do not matter: every hash is
/// over canonical JSON, recomputed here.
///
/// A `serde_json::Value` has already lost any duplicate key (serde_json keeps the last value),
/// so this cannot tell whether the file said something twice. To verify a file, give its bytes
/// to [`verify_pack_bytes`], which refuses duplicates.
pub fn verify_pack(
    pack: &Value,
    trusted: Option<&PackPublicKey>,
) -> Result<VerifiedPack, ExportError> {
    let sections = Sections::read(pack)?;
    let schema_version = sections.schema_version;
    canonical_json(pack)?;
    let root = JsonPath::root();
    let proof: Proof = parse_in_normal_form(sections.proof, &root.key("proof"))?;
    let producer: Producer = parse_in_normal_form(sections.producer, &root.key("producer"))?;
    let (events, replayed) = verify_events(sections.lifecycle_events, &proof)?;
    let payment = replayed.payment();
    if schema_version < DETAILS_ADDED_IN
        && let Some(field) = payment.intent().detail_fields().next()
    {
        return Err(ExportError::NotInSchemaVersion {
            path: events_path().index(0).key(field),
            version: schema_version,
            added: DETAILS_ADDED_IN,
        });
    }
    check_state_hash(&replayed, &proof)?;
    check_derived(
        sections.intent,
        &IntentView::of(payment),
        &root.key("intent"),
    )?;
    let final_state = FinalStateView::of(&replayed);
    check_derived(sections.final_state, &final_state, &root.key("final_state"))?;
    let rail_decisions = verify_items::<RailDecision>(
        sections.rail_decisions,
        &proof.rail_decision_hashes,
        &decisions_path(),
        |index, decision| check_rail_decision(index, decision, payment),
    )?;
    let mut checker = ActionChecker::new(&events, payment.payment_intent_id());
    let mut policies = Vec::new();
    let operator_actions = verify_items::<OperatorAction>(
        sections.operator_actions,
        &proof.operator_action_hashes,
        &actions_path(),
        |index, action| {
            check_schema_version(&actions_path().index(index), action, schema_version)?;
            checker.check(index, action)?;
            note_policies(&mut policies, action);
            Ok(())
        },
    )?;
    checker.finish()?;
    let signature = verify_signature(sections.signature, sections.proof, trusted)?;
    Ok(VerifiedPack {
        schema_version,
        payment_intent_id: payment.payment_intent_id(),
        state: payment.state(),
        event_count: events.len(),
        rail_decisions,
        operator_actions,
        chain_head: proof.chain_head,
        state_hash: proof.state_hash,
        signature,
        producer_version: producer.version,
        policies,
    })
}

/// Adds the policies `action` names (its request's, then each approval's or the rejection's)
/// to `seen`, each once.
fn note_policies(seen: &mut Vec<PolicySeen>, action: &OperatorAction) {
    let mut note = |version: &core_npp::FreeText, sha256: Option<Sha256Digest>| {
        let policy = PolicySeen {
            version: version.as_str().to_owned(),
            sha256,
        };
        if !seen.contains(&policy) {
            seen.push(policy);
        }
    };
    note(&action.policy_version, action.policy_sha256);
    let approvals = match &action.decision {
        Decision::Approved { approvals } | Decision::RefusedOnExecution { approvals, .. } => {
            approvals.as_slice()
        }
        Decision::Rejected {
            policy_version: Some(version),
            policy_sha256,
            ..
        } => {
            note(version, *policy_sha256);
            &[]
        }
        Decision::Rejected { .. } | Decision::Lapsed { .. } | Decision::Pending => &[],
    };
    for approval in approvals {
        if let Some(version) = &approval.policy_version {
            note(version, approval.policy_sha256);
        }
    }
}

/// The pack's top-level members, each of the JSON type the format gives it.
struct Sections<'a> {
    schema_version: u32,
    producer: &'a Value,
    intent: &'a Value,
    rail_decisions: &'a [Value],
    lifecycle_events: &'a [Value],
    operator_actions: &'a [Value],
    final_state: &'a Value,
    proof: &'a Value,
    signature: Option<&'a Value>,
}

impl<'a> Sections<'a> {
    fn read(pack: &'a Value) -> Result<Self, ExportError> {
        let not_a_pack = |reason: String| ExportError::NotAnEvidencePack { reason };
        let Value::Object(members) = pack else {
            return Err(not_a_pack("the top level is not a JSON object".to_owned()));
        };
        match members.get("format") {
            Some(Value::String(format)) if format == PACK_FORMAT => {}
            Some(_) | None => {
                return Err(not_a_pack(format!(
                    "it has no \"format\": \"{PACK_FORMAT}\""
                )));
            }
        }
        let schema_version = match members.get("schema_version") {
            Some(version) => version
                .as_u64()
                .and_then(|v| u32::try_from(v).ok())
                .filter(|v| (OLDEST_SCHEMA_VERSION..=SCHEMA_VERSION).contains(v))
                .ok_or_else(|| ExportError::UnsupportedSchemaVersion {
                    found: quote(Some(version)),
                    oldest: OLDEST_SCHEMA_VERSION,
                    supported: SCHEMA_VERSION,
                })?,
            None => return Err(not_a_pack("it has no \"schema_version\"".to_owned())),
        };
        if let Some(key) = members
            .keys()
            .find(|key| !TOP_LEVEL_KEYS.contains(&key.as_str()))
        {
            return Err(ExportError::UnknownKey {
                path: JsonPath::root().key(key),
            });
        }
        let object = |key: &str| match members.get(key) {
            Some(value @ Value::Object(_)) => Ok(value),
            other => Err(wrong_type(key, other, "a JSON object")),
        };
        let array = |key: &str| match members.get(key) {
            Some(Value::Array(items)) => Ok(items.as_slice()),
            other => Err(wrong_type(key, other, "a JSON array")),
        };
        Ok(Self {
            schema_version,
            producer: object("producer")?,
            intent: object("intent")?,
            rail_decisions: array("rail_decisions")?,
            lifecycle_events: array("lifecycle_events")?,
            operator_actions: array("operator_actions")?,
            final_state: object("final_state")?,
            proof: object("proof")?,
            signature: members
                .get("signature")
                .map(|_| object("signature"))
                .transpose()?,
        })
    }
}

fn wrong_type(key: &str, found: Option<&Value>, expected: &str) -> ExportError {
    let path = JsonPath::root().key(key);
    match found {
        None => ExportError::Missing { path },
        Some(_) => ExportError::Malformed {
            path,
            reason: format!("expected {expected}"),
        },
    }
}

/// A fault found while walking the events, with where it lies: the first event index, then how
/// specific it is (a broken rule names a field, a malformed event the event, a hash the link).
struct EventFault {
    index: usize,
    rank: u8,
    error: ExportError,
}

/// Parses, replays and hashes the events, and names the earliest fault: the first event that
/// is malformed, breaks a rule, or does not match its link in the chain.
fn verify_events(
    items: &[Value],
    proof: &Proof,
) -> Result<(Vec<PaymentEvent>, Replay), ExportError> {
    let mut faults = Vec::new();
    let mut events = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        match parse_in_normal_form::<PaymentEvent>(item, &events_path().index(index)) {
            Ok(event) => events.push(event),
            Err(error) => {
                faults.push(EventFault {
                    index,
                    rank: 1,
                    error,
                });
                break;
            }
        }
    }
    let replayed = replay(&events);
    match &replayed {
        Err(error @ ExportError::RuleBroken { number, .. }) => faults.push(EventFault {
            index: number.saturating_sub(1),
            rank: 0,
            error: error.clone(),
        }),
        // An empty replay of a non-empty list means the first event is malformed, which is
        // already recorded as the fault.
        Err(error) if items.is_empty() => faults.push(EventFault {
            index: 0,
            rank: 0,
            error: error.clone(),
        }),
        Err(_) | Ok(_) => {}
    }
    faults.extend(chain_fault(items, proof)?);
    match faults.into_iter().min_by_key(|f| (f.index, f.rank)) {
        Some(fault) => Err(fault.error),
        None => Ok((events, replayed?)),
    }
}

/// Recomputes the chain and compares it with `proof.event_hashes`, `event_count` and
/// `chain_head`.
fn chain_fault(items: &[Value], proof: &Proof) -> Result<Option<EventFault>, ExportError> {
    let computed = chain_hashes(items, &events_path())?;
    let recorded = &proof.event_hashes;
    let proof_path = JsonPath::root().key("proof");
    let fault = |index: usize, error: ExportError| {
        Ok(Some(EventFault {
            index,
            rank: 2,
            error,
        }))
    };
    for index in 0..computed.len().max(recorded.len()) {
        let error = match (computed.get(index), recorded.get(index)) {
            (Some(mine), Some(theirs)) if mine == theirs => continue,
            (Some(mine), Some(theirs)) => {
                // If the next recorded link (after the last: the head) still follows from the
                // recomputed chain, the event is intact and only this recorded link is wrong.
                let next_follows = match (computed.get(index + 1), recorded.get(index + 1)) {
                    (Some(next_mine), Some(next_theirs)) => next_mine == next_theirs,
                    (None, None) => proof.chain_head == *mine,
                    (Some(_), None) | (None, Some(_)) => false,
                };
                ExportError::HashMismatch {
                    path: if next_follows {
                        proof_path.key("event_hashes").index(index)
                    } else {
                        events_path().index(index)
                    },
                    recorded: theirs.to_hex(),
                    computed: mine.to_hex(),
                }
            }
            (Some(_), None) => ExportError::NotInProof {
                path: events_path().index(index),
                recorded: recorded.len(),
            },
            (None, _) => ExportError::MissingFromPack {
                path: events_path().index(index),
                recorded: recorded.len(),
            },
        };
        return fault(index, error);
    }
    if proof.event_count != computed.len() {
        return fault(
            computed.len(),
            ExportError::CountMismatch {
                path: proof_path.key("event_count"),
                recorded: proof.event_count,
                actual: computed.len(),
            },
        );
    }
    let head = computed.last().copied().unwrap_or(Sha256Digest::GENESIS);
    if proof.chain_head != head {
        return fault(
            computed.len(),
            ExportError::HashMismatch {
                path: proof_path.key("chain_head"),
                recorded: proof.chain_head.to_hex(),
                computed: head.to_hex(),
            },
        );
    }
    Ok(None)
}

fn check_state_hash(replayed: &Replay, proof: &Proof) -> Result<(), ExportError> {
    let proof_path = JsonPath::root().key("proof");
    // The payment's events fix its encoding version (the oldest that holds it), so a pack of a
    // payment without payment details still says 1, as every pack before them did.
    let version = replayed.payment().state_encoding_version();
    if proof.state_encoding_version != version {
        let reason = if (OLDEST_STATE_ENCODING_VERSION..=STATE_ENCODING_VERSION)
            .contains(&proof.state_encoding_version)
        {
            format!(
                "state encoding version {} is not the one this payment is encoded in ({version})",
                proof.state_encoding_version
            )
        } else {
            format!(
                "state encoding version {} is not one this software computes ({OLDEST_STATE_ENCODING_VERSION} to {STATE_ENCODING_VERSION})",
                proof.state_encoding_version
            )
        };
        return Err(ExportError::Malformed {
            path: proof_path.key("state_encoding_version"),
            reason,
        });
    }
    let replayed_hash = Sha256Digest::from_bytes(*replayed.payment().state_hash().as_bytes());
    if replayed_hash != proof.state_hash {
        return Err(ExportError::StateHashMismatch {
            path: proof_path.key("state_hash"),
            recorded: proof.state_hash.to_hex(),
            replayed: replayed_hash.to_hex(),
        });
    }
    Ok(())
}

/// The pack's copy of a derived view must equal the view rebuilt from the events.
fn check_derived<T: Serialize>(
    recorded: &Value,
    derived: &T,
    path: &JsonPath,
) -> Result<(), ExportError> {
    let derived = to_json(derived, path)?;
    match first_difference(&derived, recorded, path) {
        None => Ok(()),
        Some(difference) => Err(ExportError::DerivedValueMismatch {
            path: difference.path,
            recorded: quote(difference.actual),
            derived: quote(difference.expected),
        }),
    }
}

/// Checks each element of a list (parse, one form, `check`, hash) against its recorded hash, in
/// order; returns how many there are.
fn verify_items<T: DeserializeOwned + Serialize>(
    items: &[Value],
    recorded: &[Sha256Digest],
    base: &JsonPath,
    mut check: impl FnMut(usize, &T) -> Result<(), ExportError>,
) -> Result<usize, ExportError> {
    for (index, item) in items.iter().enumerate() {
        let path = base.index(index);
        let parsed: T = parse_in_normal_form(item, &path)?;
        check(index, &parsed)?;
        let computed = Sha256Digest::of(canonical_json_at(item, &path)?.as_bytes());
        match recorded.get(index) {
            None => {
                return Err(ExportError::NotInProof {
                    path,
                    recorded: recorded.len(),
                });
            }
            Some(theirs) if *theirs != computed => {
                return Err(ExportError::HashMismatch {
                    path,
                    recorded: theirs.to_hex(),
                    computed: computed.to_hex(),
                });
            }
            Some(_) => {}
        }
    }
    if recorded.len() > items.len() {
        return Err(ExportError::MissingFromPack {
            path: base.index(items.len()),
            recorded: recorded.len(),
        });
    }
    Ok(items.len())
}

fn verify_signature(
    block: Option<&Value>,
    proof: &Value,
    trusted: Option<&PackPublicKey>,
) -> Result<SignatureStatus, ExportError> {
    let path = JsonPath::root().key("signature");
    let Some(block) = block else {
        return match trusted {
            Some(_) => Err(ExportError::SignatureMissing { path }),
            None => Ok(SignatureStatus::Unsigned),
        };
    };
    let block: SignatureBlock = parse_in_normal_form(block, &path)?;
    let public_key =
        PackPublicKey::from_exact_hex(&block.public_key).map_err(|e| ExportError::Malformed {
            path: path.key("public_key"),
            reason: e.to_string(),
        })?;
    if let Some(trusted) = trusted
        && *trusted != public_key
    {
        return Err(ExportError::SignedByOtherKey {
            path: path.key("public_key"),
            expected: trusted.to_hex(),
            found: public_key.to_hex(),
        });
    }
    let signature = hex_decode::<64>(&block.value).ok_or_else(|| ExportError::Malformed {
        path: path.key("value"),
        reason: "expected an Ed25519 signature as 128 lower-case hex characters".to_owned(),
    })?;
    let message = canonical_json_at(proof, &JsonPath::root().key("proof"))?;
    if !public_key.verifies(message.as_bytes(), &signature) {
        return Err(ExportError::SignatureInvalid {
            path: path.key("value"),
        });
    }
    Ok(match trusted {
        Some(_) => SignatureStatus::Trusted(public_key),
        None => SignatureStatus::SelfConsistent(public_key),
    })
}
