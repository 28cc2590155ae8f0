//! Building an evidence pack: replay the events, check the actions and decisions against them,
//! hash everything into the proof, and lay it all out as one canonical JSON object.

use core_npp::{PaymentIntentId, PaymentState};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::canonical::{canonical_json, canonical_json_at};
use crate::checks::{
    ActionChecker, actions_path, check_rail_decision, decisions_path, events_path, replay, to_json,
};
use crate::digest::{Sha256Digest, hex_encode};
use crate::error::{ExportError, JsonPath};
use crate::model::EvidenceInput;
use crate::signing::PackSigningKey;
use crate::views::{FinalStateView, IntentView};

/// The value of every pack's `format` member.
pub const PACK_FORMAT: &str = "npp-evidence-pack";

/// The newest pack schema version this software reads, and the one it writes for a payment whose
/// intent carries payment details (see [`schema_version_for`]).
///
/// Version 2 added the policy hash of a request (`policy_sha256`), the policy of each approval
/// and of a rejection, and the `REFUSED_ON_EXECUTION` outcome. Version 3 added the intent's
/// payment details (`debtor_name`, `creditor_name`, `remittance_information`, `end_to_end_id`,
/// in `intent` and in the first event), and with them state encoding version 2. Everything of an
/// older version means the same in a newer one.
pub const SCHEMA_VERSION: u32 = 3;

/// The pack schema version this software writes for a payment whose intent carries no payment
/// detail: version 3 would say nothing more, and a reader of version 2 reads it.
pub const SCHEMA_VERSION_WITHOUT_DETAILS: u32 = 2;

/// The schema version that added the intent's payment details.
pub(crate) const DETAILS_ADDED_IN: u32 = 3;

/// The schema version a pack of `payment` is written in: [`SCHEMA_VERSION`] when its intent
/// carries payment details, [`SCHEMA_VERSION_WITHOUT_DETAILS`] otherwise.
pub fn schema_version_for(payment: &core_npp::Payment) -> u32 {
    if payment.intent().has_details() {
        SCHEMA_VERSION
    } else {
        SCHEMA_VERSION_WITHOUT_DETAILS
    }
}

/// The oldest pack schema version this software reads: every pack ever written still verifies.
pub const OLDEST_SCHEMA_VERSION: u32 = 1;

/// The name recorded in `producer.name`.
pub const PRODUCER_NAME: &str = "npp-orchestrator exports";

/// The hash algorithm of every digest in a proof.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum HashAlgorithm {
    /// SHA-256 (FIPS 180-4).
    #[serde(rename = "SHA-256")]
    Sha256,
}

/// The signature algorithm of a signed pack.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum SignatureAlgorithm {
    /// Ed25519 (RFC 8032), strict verification.
    Ed25519,
}

/// The replay proof: what an auditor recomputes from the rest of the pack.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proof {
    pub(crate) algorithm: HashAlgorithm,
    pub(crate) event_hashes: Vec<Sha256Digest>,
    pub(crate) chain_head: Sha256Digest,
    pub(crate) event_count: usize,
    pub(crate) state_hash: Sha256Digest,
    pub(crate) state_encoding_version: u16,
    pub(crate) rail_decision_hashes: Vec<Sha256Digest>,
    pub(crate) operator_action_hashes: Vec<Sha256Digest>,
}

impl Proof {
    /// The last link of the event chain.
    pub fn chain_head(&self) -> Sha256Digest {
        self.chain_head
    }
    /// One chained link per event, in order.
    pub fn event_hashes(&self) -> &[Sha256Digest] {
        &self.event_hashes
    }
    /// How many events the chain covers.
    pub fn event_count(&self) -> usize {
        self.event_count
    }
    /// The replayed payment's state hash (core-npp's `Payment::state_hash`).
    pub fn state_hash(&self) -> Sha256Digest {
        self.state_hash
    }
}

/// Which software wrote the pack. Recorded for the reader, but outside the proof and the
/// signature, so that every version of this software writes the same proof for the same events.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Producer {
    pub(crate) name: String,
    pub(crate) version: String,
}

/// An Ed25519 signature over the canonical bytes of the proof.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignatureBlock {
    pub(crate) algorithm: SignatureAlgorithm,
    pub(crate) public_key: String,
    pub(crate) value: String,
}

/// A built evidence pack: one JSON object, written in canonical form.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct EvidencePack {
    value: Value,
    canonical: String,
    proof: Proof,
    payment_intent_id: PaymentIntentId,
    state: PaymentState,
}

impl EvidencePack {
    /// The pack as a JSON value.
    pub fn value(&self) -> &Value {
        &self.value
    }
    /// The pack's canonical JSON text: the same bytes for the same input, on any machine.
    pub fn canonical_json(&self) -> &str {
        &self.canonical
    }
    /// The file form: the canonical JSON and one newline.
    pub fn to_file_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.canonical.len() + 1);
        bytes.extend_from_slice(self.canonical.as_bytes());
        bytes.push(b'\n');
        bytes
    }
    /// The proof.
    pub fn proof(&self) -> &Proof {
        &self.proof
    }
    /// The payment the pack is about.
    pub fn payment_intent_id(&self) -> PaymentIntentId {
        self.payment_intent_id
    }
    /// Where the payment ended.
    pub fn state(&self) -> PaymentState {
        self.state
    }

    /// Signs the proof with `key`, replacing any earlier signature. Ed25519 is deterministic, so
    /// the same key and events give the same signed bytes.
    pub fn sign(mut self, key: &PackSigningKey) -> Result<Self, ExportError> {
        let proof_path = JsonPath::root().key("proof");
        let proof_json = canonical_json_at(&to_json(&self.proof, &proof_path)?, &proof_path)?;
        let block = SignatureBlock {
            algorithm: SignatureAlgorithm::Ed25519,
            public_key: key.public_key().to_hex(),
            value: hex_encode(&key.sign(proof_json.as_bytes())),
        };
        let signature_path = JsonPath::root().key("signature");
        if let Value::Object(members) = &mut self.value {
            members.insert("signature".to_owned(), to_json(&block, &signature_path)?);
        }
        self.canonical = canonical_json(&self.value)?;
        Ok(self)
    }
}

/// Builds the evidence pack for one payment. Refuses a history the core refuses, and operator
/// actions or rail decisions that contradict the events, so that every pack built verifies.
pub fn build_pack(input: &EvidenceInput) -> Result<EvidencePack, ExportError> {
    let replayed = replay(&input.lifecycle_events)?;
    let payment = replayed.payment();
    for (index, decision) in input.rail_decisions.iter().enumerate() {
        check_rail_decision(index, decision, payment)?;
    }
    let mut actions = ActionChecker::new(&input.lifecycle_events, payment.payment_intent_id());
    for (index, action) in input.operator_actions.iter().enumerate() {
        actions.check(index, action)?;
    }
    actions.finish()?;

    let events = to_json_list(&input.lifecycle_events, &events_path())?;
    let decisions = to_json_list(&input.rail_decisions, &decisions_path())?;
    let operator_actions = to_json_list(&input.operator_actions, &actions_path())?;
    let event_hashes = chain_hashes(&events, &events_path())?;
    let proof = Proof {
        algorithm: HashAlgorithm::Sha256,
        chain_head: event_hashes
            .last()
            .copied()
            .unwrap_or(Sha256Digest::GENESIS),
        event_count: event_hashes.len(),
        event_hashes,
        state_hash: Sha256Digest::from_bytes(*payment.state_hash().as_bytes()),
        state_encoding_version: payment.state_encoding_version(),
        rail_decision_hashes: item_hashes(&decisions, &decisions_path())?,
        operator_action_hashes: item_hashes(&operator_actions, &actions_path())?,
    };
    let producer = Producer {
        name: PRODUCER_NAME.to_owned(),
        version: input.software_version.clone(),
    };
    let root = JsonPath::root();
    let mut members = Map::new();
    members.insert("format".to_owned(), Value::from(PACK_FORMAT));
    members.insert(
        "schema_version".to_owned(),
        Value::from(schema_version_for(payment)),
    );
    members.insert(
        "producer".to_owned(),
        to_json(&producer, &root.key("producer"))?,
    );
    let intent = IntentView::of(payment);
    members.insert("intent".to_owned(), to_json(&intent, &root.key("intent"))?);
    members.insert("rail_decisions".to_owned(), Value::Array(decisions));
    members.insert("lifecycle_events".to_owned(), Value::Array(events));
    members.insert(
        "operator_actions".to_owned(),
        Value::Array(operator_actions),
    );
    let final_state = FinalStateView::of(&replayed);
    members.insert(
        "final_state".to_owned(),
        to_json(&final_state, &root.key("final_state"))?,
    );
    members.insert("proof".to_owned(), to_json(&proof, &root.key("proof"))?);
    let value = Value::Object(members);
    Ok(EvidencePack {
        canonical: canonical_json(&value)?,
        value,
        proof,
        payment_intent_id: payment.payment_intent_id(),
        state: payment.state(),
    })
}

fn to_json_list<T: Serialize>(items: &[T], path: &JsonPath) -> Result<Vec<Value>, ExportError> {
    items
        .iter()
        .enumerate()
        .map(|(index, item)| to_json(item, &path.index(index)))
        .collect()
}

/// The event chain: link i is SHA-256(link i-1, canonical JSON of event i), starting from 32 zero
/// bytes.
pub(crate) fn chain_hashes(
    events: &[Value],
    path: &JsonPath,
) -> Result<Vec<Sha256Digest>, ExportError> {
    let mut links = Vec::with_capacity(events.len());
    let mut previous = Sha256Digest::GENESIS;
    for (index, event) in events.iter().enumerate() {
        let bytes = canonical_json_at(event, &path.index(index))?;
        previous = Sha256Digest::chained(&previous, bytes.as_bytes());
        links.push(previous);
    }
    Ok(links)
}

/// One SHA-256 per element, of its canonical JSON.
pub(crate) fn item_hashes(
    items: &[Value],
    path: &JsonPath,
) -> Result<Vec<Sha256Digest>, ExportError> {
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            canonical_json_at(item, &path.index(index))
                .map(|bytes| Sha256Digest::of(bytes.as_bytes()))
        })
        .collect()
}
