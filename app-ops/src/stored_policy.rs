//! The operator policy in force, held in the store (the `policy` stream): each `PolicyLoaded`
//! event records a policy document whole, with its version and SHA-256. From the first one on,
//! the stored policy decides who may request and approve what; a policy file that differs from
//! it is refused, naming both versions, so an approver cannot bring a policy of their own.

use core_npp::Timestamp;
use event_store::{
    AppendOutcome, AppendRequest, EventStore, NewEvent, RecordedEvent, StoreError, StreamId,
};
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::policy::{PolicyGate, TomlPolicy};

/// The schema version of the policy stream's payload.
const POLICY_SCHEMA_VERSION: u16 = 1;

/// The events of the policy stream.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum PolicyEvent {
    /// A policy document became the one in force.
    PolicyLoaded {
        /// The policy's own version string.
        version: String,
        /// SHA-256 of `text`, lower-case hex.
        sha256: String,
        /// The policy document (TOML), whole.
        text: String,
        /// When it was loaded.
        loaded_at: Timestamp,
    },
}

/// The policy in force, as the store holds it.
#[derive(Clone, Debug)]
pub struct StoredPolicy {
    /// The policy itself.
    pub policy: TomlPolicy,
    /// When it was loaded.
    pub loaded_at: Timestamp,
    /// The policy stream's version (how many policies were loaded so far).
    pub stream_version: u32,
}

/// Decodes a policy event, checking that its hash is its text's and that the text is a policy of
/// the version it claims.
pub fn decode_policy_event(
    recorded: &RecordedEvent,
) -> Result<(PolicyEvent, TomlPolicy), AppError> {
    let undecodable = |why: String| AppError::Undecodable {
        stream: recorded.stream_id().clone(),
        version: recorded.version(),
        why,
    };
    let event: PolicyEvent = serde_json::from_str(recorded.event().payload())
        .map_err(|e| undecodable(format!("not a policy event: {e}")))?;
    let PolicyEvent::PolicyLoaded {
        version,
        sha256,
        text,
        ..
    } = &event;
    if recorded.event().event_type() != "PolicyLoaded" {
        return Err(undecodable(format!(
            "the envelope says {}, the payload PolicyLoaded",
            recorded.event().event_type()
        )));
    }
    let policy = TomlPolicy::parse(text).map_err(|e| undecodable(e.to_string()))?;
    if policy.sha256() != sha256 {
        return Err(undecodable(format!(
            "the recorded SHA-256 {sha256} is not the text's {}",
            policy.sha256()
        )));
    }
    if policy.version() != version {
        return Err(undecodable(format!(
            "the recorded version {version:?} is not the text's {:?}",
            policy.version()
        )));
    }
    Ok((event, policy))
}

/// The policy in force, or `None` if the store holds none yet.
pub fn policy_in_force(store: &dyn EventStore) -> Result<Option<StoredPolicy>, AppError> {
    let events = store.read_stream(&StreamId::policy())?;
    let Some(last) = events.last() else {
        return Ok(None);
    };
    let (PolicyEvent::PolicyLoaded { loaded_at, .. }, policy) = decode_policy_event(last)?;
    Ok(Some(StoredPolicy {
        policy,
        loaded_at,
        stream_version: last.version(),
    }))
}

/// What loading a policy did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Loaded {
    /// It is now the policy in force; the one it replaced, if any (version, SHA-256).
    Loaded {
        /// The policy replaced.
        replaced: Option<(String, String)>,
    },
    /// The same document was already in force; nothing was recorded.
    AlreadyInForce,
}

/// Records `policy` as the one in force. Loading the document already in force changes
/// nothing; a different document must carry a different version.
pub fn load_policy(
    store: &dyn EventStore,
    policy: &TomlPolicy,
    now: Timestamp,
) -> Result<Loaded, AppError> {
    let current = policy_in_force(store)?;
    let expected = current.as_ref().map_or(0, |c| c.stream_version);
    if let Some(current) = &current {
        if current.policy.sha256() == policy.sha256() {
            return Ok(Loaded::AlreadyInForce);
        }
        if current.policy.version() == policy.version() {
            return Err(AppError::refused(
                "policy/version-must-change",
                format!(
                    "the store's policy is already version {:?} (sha256 {}), with other content \
                     than this file (sha256 {}); give the changed policy a new version",
                    current.policy.version(),
                    current.policy.sha256(),
                    policy.sha256()
                ),
            ));
        }
    }
    let event = PolicyEvent::PolicyLoaded {
        version: policy.version().to_owned(),
        sha256: policy.sha256().to_owned(),
        text: policy.text().to_owned(),
        loaded_at: now,
    };
    let payload =
        serde_json::to_string(&event).map_err(|e| AppError::Unencodable(e.to_string()))?;
    let envelope = NewEvent::new("PolicyLoaded", POLICY_SCHEMA_VERSION, now, payload)?;
    let request = AppendRequest::new(StreamId::policy(), expected, vec![envelope], now)?;
    match store.append(request) {
        Ok(AppendOutcome::Committed(_)) => Ok(Loaded::Loaded {
            replaced: current
                .map(|c| (c.policy.version().to_owned(), c.policy.sha256().to_owned())),
        }),
        Ok(AppendOutcome::AlreadyApplied(_)) | Err(StoreError::Conflict { .. }) => {
            Err(AppError::refused(
                "policy/changed-meanwhile",
                "another policy was loaded at the same moment; look at it and load again",
            ))
        }
        Err(e) => Err(e.into()),
    }
}

/// Makes sure `gate` is the policy in force: a store that holds none yet takes it (first use);
/// otherwise the stored one must be the same document, or the command is refused naming both.
pub fn ensure_in_force(
    store: &dyn EventStore,
    gate: &dyn PolicyGate,
    now: Timestamp,
) -> Result<(), AppError> {
    match policy_in_force(store)? {
        Some(stored) if stored.policy.sha256() == gate.sha256() => Ok(()),
        Some(stored) => Err(not_in_force(&stored.policy, gate)),
        None => {
            let policy = TomlPolicy::parse(gate.text())?;
            match load_policy(store, &policy, now) {
                Ok(_) => Ok(()),
                // Another process recorded a first policy at the same moment: it must be ours.
                Err(AppError::Refused { .. }) => match policy_in_force(store)? {
                    Some(stored) if stored.policy.sha256() == gate.sha256() => Ok(()),
                    Some(stored) => Err(not_in_force(&stored.policy, gate)),
                    None => Err(AppError::refused(
                        "policy/not-in-force",
                        "the store holds no policy and this one could not be recorded",
                    )),
                },
                Err(e) => Err(e),
            }
        }
    }
}

/// The refusal of a policy that is not the store's.
pub fn not_in_force(stored: &TomlPolicy, given: &dyn PolicyGate) -> AppError {
    AppError::refused(
        "policy/not-in-force",
        format!(
            "the store's policy is version {:?} (sha256 {}), not this policy file's version {:?} \
             (sha256 {}); operator actions follow the store's policy (`npp policy load FILE` to \
             change it)",
            stored.version(),
            stored.sha256(),
            given.version(),
            given.sha256()
        ),
    )
}
