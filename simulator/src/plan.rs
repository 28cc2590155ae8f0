//! What the simulated participant will answer to one attempt: decided at receipt from the seed,
//! the payment and the attempt number, so any process (or a restarted one) plans the same.

use rail_npp::{ReasonCode, TransactionStatus};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Fault injection, by name (`--faults`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultProfile {
    /// Replies arrive once, in order, on time.
    None,
    /// Duplicated replies, settlement before acknowledgement, lost replies (found by enquiry),
    /// replies delayed past the enquiry timeout.
    Chaos,
    /// Chaos, plus replies lost for good on a few attempts, which end in the operator queue.
    Hostile,
}

impl FaultProfile {
    /// Parses a profile name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "none" => Some(Self::None),
            "chaos" => Some(Self::Chaos),
            "hostile" => Some(Self::Hostile),
            _ => None,
        }
    }
}

/// One reply the participant will send.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct PlannedReply {
    /// Milliseconds after receipt.
    pub after_ms: u32,
    /// The status.
    pub status: String,
    /// The reason code, for rejections.
    pub reason: Option<String>,
    /// Never sent (the orchestrator must enquire).
    pub lost: bool,
    /// Sent twice with the same message id.
    pub duplicated: bool,
}

/// The participant's plan for one attempt.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Plan {
    /// The replies, in the order they become due.
    pub replies: Vec<PlannedReply>,
    /// Whether an enquiry is answered (false: the participant lost the payment's trail).
    pub answers_enquiries: bool,
}

/// A deterministic stream of numbers from a seed and a label.
struct Dice([u8; 32], usize);

impl Dice {
    fn new(seed: u64, label: &str) -> Self {
        Self(
            Sha256::digest(format!("{seed}|{label}").as_bytes()).into(),
            0,
        )
    }
    fn roll(&mut self, sides: u32) -> u32 {
        let mut value = 0u32;
        for _ in 0..4 {
            let byte = self.0.get(self.1 % 32).copied().unwrap_or(0);
            value = value.wrapping_shl(8) | u32::from(byte);
            self.1 += 1;
        }
        if self.1 >= 32 {
            self.0 = Sha256::digest(self.0).into();
            self.1 = 0;
        }
        value % sides.max(1)
    }
}

fn reply(after_ms: u32, status: TransactionStatus, reason: Option<ReasonCode>) -> PlannedReply {
    PlannedReply {
        after_ms,
        status: status.to_string(),
        reason: reason.map(|r| r.to_string()),
        lost: false,
        duplicated: false,
    }
}

/// The seed's mix: 85% settle, 10% fail, 3% fail retryably (then settle when retried), 2% fail
/// late after an acknowledgement.
pub fn plan(
    seed: u64,
    payment: &str,
    attempt_number: usize,
    latency_ms: u32,
    faults: FaultProfile,
) -> Plan {
    let mut mix = Dice::new(seed, payment);
    let bucket = mix.roll(100);
    let mut dice = Dice::new(seed, &format!("{payment}#{attempt_number}"));
    let first = latency_ms + dice.roll(latency_ms.max(1));
    let second = first + latency_ms + dice.roll(latency_ms.max(1));
    let rejections = [
        ReasonCode::Ac01,
        ReasonCode::Ac04,
        ReasonCode::Am04,
        ReasonCode::Ag01,
        ReasonCode::Be23,
    ];
    let pick = |d: &mut Dice| {
        rejections
            .get(d.roll(5) as usize)
            .copied()
            .unwrap_or(ReasonCode::Ac01)
    };
    let mut replies = match bucket {
        0..85 => vec![
            reply(first, TransactionStatus::AcceptedSettlementInProcess, None),
            reply(second, TransactionStatus::AcceptedSettlementCompleted, None),
        ],
        85..95 => vec![reply(
            first,
            TransactionStatus::Rejected,
            Some(pick(&mut dice)),
        )],
        95..98 if attempt_number == 1 => vec![reply(
            first,
            TransactionStatus::Rejected,
            Some(ReasonCode::Ab05),
        )],
        95..98 => vec![
            reply(first, TransactionStatus::AcceptedSettlementInProcess, None),
            reply(second, TransactionStatus::AcceptedSettlementCompleted, None),
        ],
        _ => vec![
            reply(first, TransactionStatus::AcceptedSettlementInProcess, None),
            reply(
                second * 2,
                TransactionStatus::Rejected,
                Some(ReasonCode::Ac06),
            ),
        ],
    };
    inject(&mut replies, &mut dice, faults);
    let answers_enquiries = !(faults == FaultProfile::Hostile && dice.roll(200) == 0);
    if !answers_enquiries {
        replies.iter_mut().for_each(|r| r.lost = true);
    }
    Plan {
        replies,
        answers_enquiries,
    }
}

fn inject(replies: &mut [PlannedReply], dice: &mut Dice, faults: FaultProfile) {
    if faults == FaultProfile::None {
        return;
    }
    for reply in replies.iter_mut() {
        match dice.roll(20) {
            0 => reply.lost = true,
            1 | 2 => reply.duplicated = true,
            3 => reply.after_ms = reply.after_ms.saturating_add(20_000),
            _ => {}
        }
    }
    // Settlement before acknowledgement: the final status overtakes the acknowledgement.
    if let [ack, fin] = replies
        && ack.status == "ACSP"
        && dice.roll(10) == 0
    {
        std::mem::swap(&mut ack.after_ms, &mut fin.after_ms);
    }
}
