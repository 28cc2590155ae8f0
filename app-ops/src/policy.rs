//! The policy gate: who may request and who may approve which operator action, the attempt
//! limit, how long an approval stays valid, and when a mark-failed needs two approvers. The
//! default gate reads a TOML policy file; every decision names the policy version.

use std::collections::{BTreeMap, BTreeSet};

use core_npp::{AttemptLimit, Money, OperatorId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::AppError;

/// The operator actions, by their CLI names.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OpsAction {
    /// Open a new attempt on a retryable FAILED payment.
    Retry,
    /// Cancel a payment not yet sent.
    Cancel,
    /// Mark a SENT or ACKNOWLEDGED payment failed (an external rail failure).
    MarkFailed,
}

impl OpsAction {
    /// The CLI name.
    pub const fn name(self) -> &'static str {
        match self {
            OpsAction::Retry => "retry",
            OpsAction::Cancel => "cancel",
            OpsAction::MarkFailed => "mark-failed",
        }
    }

    /// Parses the CLI name.
    pub fn parse(name: &str) -> Option<Self> {
        [OpsAction::Retry, OpsAction::Cancel, OpsAction::MarkFailed]
            .into_iter()
            .find(|a| a.name() == name)
    }
}

impl std::fmt::Display for OpsAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Decides who may do what. Refusals are `AppError::Refused` naming the rule and the version.
pub trait PolicyGate: Send + Sync {
    /// The version of the policy in force, recorded with every decision.
    fn version(&self) -> &str;
    /// SHA-256 of the policy document (lower-case hex), recorded with every decision.
    fn sha256(&self) -> &str;
    /// The policy document itself, as the store keeps it.
    fn text(&self) -> &str;
    /// Whether `operator` may request `action`.
    fn check_request(&self, operator: OperatorId, action: OpsAction) -> Result<(), AppError>;
    /// Whether `operator` may approve (or reject) a request for `action`.
    fn check_approve(&self, operator: OperatorId, action: OpsAction) -> Result<(), AppError>;
    /// How many distinct approvers `action` on a payment of `amount` needs.
    fn approvals_required(&self, action: OpsAction, amount: Money) -> u8;
    /// How long, in nanoseconds, a request may wait for its approval before it lapses.
    fn approval_lapse_nanos(&self) -> i64;
    /// The attempt limit new intents carry.
    fn attempt_limit(&self) -> AttemptLimit;
}

/// The longest policy version string: it is recorded with every decision and in evidence packs.
pub const MAX_POLICY_VERSION_CHARS: usize = 64;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    version: String,
    #[serde(default = "default_attempt_limit")]
    attempt_limit: u8,
    #[serde(default = "default_lapse_minutes")]
    approval_lapse_minutes: u32,
    #[serde(default)]
    mark_failed_two_approvers_above: Option<i64>,
    operators: BTreeMap<String, Vec<String>>,
    roles: BTreeMap<String, RoleFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleFile {
    #[serde(default)]
    request: Vec<OpsAction>,
    #[serde(default)]
    approve: Vec<OpsAction>,
}

fn default_attempt_limit() -> u8 {
    core_npp::DEFAULT_ATTEMPT_LIMIT
}

fn default_lapse_minutes() -> u32 {
    15
}

/// The default gate: a TOML policy file.
#[derive(Clone, Debug)]
pub struct TomlPolicy {
    version: String,
    text: String,
    sha256: String,
    attempt_limit: AttemptLimit,
    lapse_minutes: u32,
    two_approvers_above: Option<Money>,
    may_request: BTreeMap<OperatorId, BTreeSet<OpsAction>>,
    may_approve: BTreeMap<OperatorId, BTreeSet<OpsAction>>,
}

impl TomlPolicy {
    /// Parses a policy; every operator's roles must exist, limits must be in range.
    pub fn parse(text: &str) -> Result<Self, AppError> {
        let file: PolicyFile = toml::from_str(text).map_err(|e| AppError::Policy(e.to_string()))?;
        if file.version.trim().is_empty() {
            return Err(AppError::Policy("version must not be empty".into()));
        }
        if file.version.chars().count() > MAX_POLICY_VERSION_CHARS
            || file.version.chars().any(char::is_control)
        {
            return Err(AppError::Policy(format!(
                "version must be at most {MAX_POLICY_VERSION_CHARS} characters without control \
                 characters"
            )));
        }
        if !(1..=24 * 60).contains(&file.approval_lapse_minutes) {
            return Err(AppError::Policy(
                "approval_lapse_minutes must be 1 to 1440".into(),
            ));
        }
        let attempt_limit = AttemptLimit::parse(file.attempt_limit).map_err(|_| {
            AppError::Policy(format!(
                "attempt_limit {} must be between 1 and {}",
                file.attempt_limit,
                core_npp::MAX_ATTEMPT_LIMIT
            ))
        })?;
        let sha256: String = Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let mut policy = Self {
            version: file.version,
            text: text.to_owned(),
            sha256,
            attempt_limit,
            lapse_minutes: file.approval_lapse_minutes,
            two_approvers_above: file
                .mark_failed_two_approvers_above
                .map(Money::from_minor_units),
            may_request: BTreeMap::new(),
            may_approve: BTreeMap::new(),
        };
        let mut seen: BTreeMap<String, &str> = BTreeMap::new();
        for (name, roles) in &file.operators {
            let operator = OperatorId::parse(name)
                .map_err(|e| AppError::Policy(format!("operator {name:?}: {e}")))?;
            // Operator ids compare without regard to case (four eyes): two spellings of one
            // name would be one person approving their own request.
            if let Some(other) = seen.insert(name.to_ascii_lowercase(), name) {
                return Err(AppError::Policy(format!(
                    "operators {other:?} and {name:?} differ only in case; operator ids compare \
                     without regard to case, so they would be one person"
                )));
            }
            for role in roles {
                let grants = file.roles.get(role).ok_or_else(|| {
                    AppError::Policy(format!("operator {name} has unknown role {role:?}"))
                })?;
                policy
                    .may_request
                    .entry(operator)
                    .or_default()
                    .extend(grants.request.iter().copied());
                policy
                    .may_approve
                    .entry(operator)
                    .or_default()
                    .extend(grants.approve.iter().copied());
            }
        }
        Ok(policy)
    }

    fn check(
        &self,
        grants: &BTreeMap<OperatorId, BTreeSet<OpsAction>>,
        operator: OperatorId,
        action: OpsAction,
        verb: &str,
        rule: &'static str,
    ) -> Result<(), AppError> {
        if grants
            .get(&operator)
            .is_some_and(|actions| actions.contains(&action))
        {
            return Ok(());
        }
        Err(AppError::refused(
            rule,
            format!(
                "policy {} gives {operator} no role that may {verb} {action}",
                self.version
            ),
        ))
    }
}

impl PolicyGate for TomlPolicy {
    fn version(&self) -> &str {
        &self.version
    }

    fn sha256(&self) -> &str {
        &self.sha256
    }

    fn text(&self) -> &str {
        &self.text
    }

    fn check_request(&self, operator: OperatorId, action: OpsAction) -> Result<(), AppError> {
        self.check(
            &self.may_request,
            operator,
            action,
            "request",
            "policy/may-request",
        )
    }

    fn check_approve(&self, operator: OperatorId, action: OpsAction) -> Result<(), AppError> {
        self.check(
            &self.may_approve,
            operator,
            action,
            "approve",
            "policy/may-approve",
        )
    }

    fn approvals_required(&self, action: OpsAction, amount: Money) -> u8 {
        match (action, self.two_approvers_above) {
            (OpsAction::MarkFailed, Some(threshold)) if amount > threshold => 2,
            (OpsAction::MarkFailed | OpsAction::Retry | OpsAction::Cancel, _) => 1,
        }
    }

    fn approval_lapse_nanos(&self) -> i64 {
        i64::from(self.lapse_minutes) * 60 * 1_000_000_000
    }

    fn attempt_limit(&self) -> AttemptLimit {
        self.attempt_limit
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    const POLICY: &str = include_str!("../../examples/policy.toml");

    fn refusal(text: &str) -> String {
        match TomlPolicy::parse(text) {
            Err(AppError::Policy(why)) => why,
            other => panic!("expected a policy error, got {other:?}"),
        }
    }

    #[test]
    fn a_bad_attempt_limit_is_named_as_the_file_names_it() {
        // Given the example policy with an attempt limit out of range
        for bad in ["attempt_limit = 0", "attempt_limit = 200"] {
            let text = POLICY.replace("attempt_limit = 3", bad);
            // When it is read, then the message names the file's key and its range
            let why = refusal(&text);
            assert!(why.starts_with("attempt_limit "), "{why}");
            assert!(
                why.contains(&format!("between 1 and {}", core_npp::MAX_ATTEMPT_LIMIT)),
                "{why}"
            );
            assert!(!why.contains("max_attempts"), "{why}");
        }
        // And the example itself is accepted
        assert_eq!(TomlPolicy::parse(POLICY).unwrap().attempt_limit().get(), 3);
    }
}
