//! Seeded simulations in the TigerBeetle spirit: for many seeds, run the orchestrator against
//! the faulty participant on a fixed (simulated) clock and check after every step that no state
//! went backwards, no final state changed, every attempt was sent at most once and delivered at
//! most once, and no payment settled twice; at the end every payment is final or awaits an
//! operator. A failure names its seed, so `cargo test` reproduces it exactly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::collections::BTreeMap;

use app_ops::decode_payment_event;
use core_npp::{EventKind, Payment, PaymentEvent, PaymentState, rebuild_from_events};
use event_store::{EventStore, StreamId};
use simulator::{FaultProfile, Participant, SimConfig, Simulation};
use store::MemoryStore;

fn rank(state: PaymentState) -> u8 {
    match state {
        PaymentState::Created => 0,
        PaymentState::Authorised => 1,
        PaymentState::Sent => 2,
        PaymentState::Acknowledged => 3,
        PaymentState::Settled | PaymentState::Failed | PaymentState::Expired => 4,
    }
}

#[derive(Default)]
struct Checker {
    seen: BTreeMap<String, Payment>,
    steps: u64,
}

impl Checker {
    fn check(&mut self, store: &dyn EventStore) -> Result<(), String> {
        self.steps += 1;
        let mut after: Option<StreamId> = None;
        loop {
            let page = store
                .list_streams(after.as_ref(), 500)
                .map_err(|e| e.to_string())?;
            let Some(last) = page.last().cloned() else {
                break;
            };
            for stream in page.iter().filter(|s| s.payment_id().is_some()) {
                self.check_payment(store, stream)?;
            }
            after = Some(last);
        }
        let deliveries = Participant::deliveries(store).map_err(|e| e.to_string())?;
        match deliveries.iter().find(|(_, n)| **n > 1) {
            Some((msg, n)) => Err(format!("message {msg} reached the rail {n} times")),
            None => Ok(()),
        }
    }

    fn check_payment(&mut self, store: &dyn EventStore, stream: &StreamId) -> Result<(), String> {
        let events: Vec<PaymentEvent> = store
            .read_stream(stream)
            .map_err(|e| e.to_string())?
            .iter()
            .map(|r| decode_payment_event(r).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?;
        let payment = rebuild_from_events(&events)
            .map_err(|e| format!("{stream}: {e}"))?
            .into_payment();
        let mut sends = BTreeMap::new();
        for event in events
            .iter()
            .filter(|e| e.kind() == EventKind::PaymentSentToRail)
        {
            *sends.entry(event.attempt_id()).or_insert(0) += 1;
        }
        if let Some((attempt, n)) = sends.iter().find(|(_, n)| **n > 1) {
            return Err(format!("{stream}: attempt {attempt:?} sent {n} times"));
        }
        let settlements = events
            .iter()
            .filter(|e| e.kind() == EventKind::PaymentSettled)
            .count();
        if settlements > 1 {
            return Err(format!("{stream}: settled {settlements} times"));
        }
        if let Some(before) = self.seen.get(stream.as_str()) {
            let (was, now) = (before.state(), payment.state());
            let retried = payment.attempts().len() > before.attempts().len();
            let legal = match was {
                PaymentState::Settled | PaymentState::Expired => payment == *before,
                PaymentState::Failed => {
                    now == PaymentState::Failed && payment == *before || retried
                }
                PaymentState::Created
                | PaymentState::Authorised
                | PaymentState::Sent
                | PaymentState::Acknowledged => rank(now) >= rank(was) || retried,
            };
            if !legal {
                return Err(format!("{stream}: went from {was} to {now}"));
            }
        }
        self.seen.insert(stream.as_str().to_owned(), payment);
        Ok(())
    }
}

#[test]
fn many_seeds_against_a_faulty_participant_keep_every_invariant() {
    let profiles = [
        FaultProfile::None,
        FaultProfile::Chaos,
        FaultProfile::Hostile,
    ];
    for seed in 1..=18u64 {
        let faults = profiles[usize::try_from(seed).unwrap() % profiles.len()];
        let store = MemoryStore::new();
        let config = SimConfig {
            payments: 36,
            seed,
            faults,
            rate_per_sec: 40,
            ..SimConfig::default()
        };
        let mut checker = Checker::default();
        let summary = Simulation::new(&store, config)
            .run_observed(&(), &mut || checker.check(&store))
            .unwrap_or_else(|e| panic!("seed {seed} ({faults:?}): {e}"));
        let finished: usize = ["SETTLED", "FAILED", "EXPIRED"]
            .iter()
            .map(|s| summary.by_state.get(*s).copied().unwrap_or(0))
            .sum();
        assert_eq!(summary.payments, 36, "seed {seed}");
        assert_eq!(
            finished + summary.operator_queue,
            36,
            "seed {seed}: {summary:?}"
        );
        assert_eq!(summary.replay_verified, 36, "seed {seed}");
        assert_eq!(summary.max_deliveries_per_message, 1, "seed {seed}");
        assert!(
            checker.steps > 10,
            "seed {seed}: only {} steps were checked",
            checker.steps
        );
        if faults == FaultProfile::None {
            assert_eq!(
                summary.operator_queue, 0,
                "seed {seed}: nothing should need an operator without faults"
            );
        }
    }
}

#[test]
fn the_same_seed_gives_the_same_outcome_for_every_payment() {
    let run = || {
        let store = MemoryStore::new();
        let config = SimConfig {
            payments: 60,
            seed: 7,
            faults: FaultProfile::Chaos,
            ..SimConfig::default()
        };
        let summary = Simulation::new(&store, config).run(&()).unwrap();
        let states: BTreeMap<String, String> = (0..60)
            .map(|i| {
                let id = simulator::scenario_payment_id(7, i).unwrap();
                let loaded = app_ops::load_payment(&store, id).unwrap().unwrap();
                (
                    id.to_string(),
                    format!(
                        "{} {}",
                        loaded.payment.state(),
                        loaded.payment.attempts().len()
                    ),
                )
            })
            .collect();
        (summary.by_state, summary.attempts, states)
    };
    assert_eq!(run(), run());
}

#[test]
fn the_default_mix_is_the_seeds() {
    let store = MemoryStore::new();
    let summary = Simulation::new(
        &store,
        SimConfig {
            payments: 1_000,
            ..SimConfig::default()
        },
    )
    .run(&())
    .unwrap();
    let settled = summary.by_state.get("SETTLED").copied().unwrap_or(0);
    let failed = summary.by_state.get("FAILED").copied().unwrap_or(0);
    // 85% settle and 3% settle on retry; 10% fail and 2% fail late: about 88 / 12.
    assert!((830..=920).contains(&settled), "{summary:?}");
    assert_eq!(settled + failed, 1_000);
    assert!((15..=45).contains(&summary.operator_retries), "{summary:?}");
    assert_eq!(summary.attempts as u64, 1_000 + summary.operator_retries);
}
