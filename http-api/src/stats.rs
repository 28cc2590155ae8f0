//! What the console plots: every `interval`, one sample of payments by state, the outbox depth
//! and the intent-to-settled latency of the payments that settled since the sample before. The
//! samples are kept in memory, at most [`MAX_SAMPLES`] of them (an hour at the default five
//! seconds), and read with `GET /v1/stats`; a restart starts the pictures afresh (the log, not
//! this, is the record).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use core_npp::{PaymentState, Timestamp};

use crate::problem::Problem;
use crate::state::State;
use crate::views::{StatsSample, StatsView};

/// Samples kept: the oldest goes when a new one comes.
pub const MAX_SAMPLES: usize = 720;
/// How often a sample is taken by default.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// The shortest interval a server accepts (a sample reads the outbox and the whole list).
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// Buckets of the latency histogram: bucket `i` holds latencies up to `BOUNDS[i]` ms.
const BUCKETS: usize = 88;

/// Upper bounds, in milliseconds: 1, 2, 3, ... growing by a quarter each (an answer is at most a
/// quarter above the true value),
/// up to about four days; the last bucket takes everything longer.
fn bounds() -> [u64; BUCKETS] {
    let mut value = 1u64;
    std::array::from_fn(|_| {
        let bound = value;
        value = (value + value / 4).max(value + 1);
        bound
    })
}
static BOUNDS: std::sync::LazyLock<[u64; BUCKETS]> = std::sync::LazyLock::new(bounds);

/// Intent-to-settled latencies of one interval, as a histogram: bounded memory whatever the rate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Latencies {
    counts: Vec<u64>,
    total: u64,
}

impl Latencies {
    /// Counts one latency.
    pub fn record(&mut self, took: Duration) {
        let ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
        let bucket = BOUNDS.iter().position(|b| ms <= *b).unwrap_or(BUCKETS - 1);
        if self.counts.len() < BUCKETS {
            self.counts.resize(BUCKETS, 0);
        }
        if let Some(count) = self.counts.get_mut(bucket) {
            *count = count.saturating_add(1);
        }
        self.total = self.total.saturating_add(1);
    }

    /// How many were recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The `per_mille`-th quantile (500 for the median, 990 for p99), as its bucket's upper
    /// bound in milliseconds; `None` when nothing was recorded.
    pub fn quantile(&self, per_mille: u64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        // The rank of the quantile, 1-based, rounded up: p99 of 100 values is the 99th.
        let rank = (self.total.saturating_mul(per_mille.min(1000)))
            .div_ceil(1000)
            .max(1);
        let mut seen = 0u64;
        for (count, bound) in self.counts.iter().zip(BOUNDS.iter().copied()) {
            seen = seen.saturating_add(*count);
            if seen >= rank {
                return Some(bound);
            }
        }
        BOUNDS.last().copied()
    }
}

/// The samples taken so far.
#[derive(Debug, Default)]
pub struct Samples {
    kept: Mutex<VecDeque<StatsSample>>,
}

impl Samples {
    fn push(&self, sample: StatsSample) {
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        while kept.len() >= MAX_SAMPLES {
            kept.pop_front();
        }
        kept.push_back(sample);
    }

    /// Every sample kept, oldest first.
    pub fn all(&self) -> Vec<StatsSample> {
        let kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        kept.iter().cloned().collect()
    }
}

/// Takes one sample now: the list caught up with the log, the settlements it saw since the last
/// sample, the outbox depth.
pub fn sample(state: &State) -> Result<(), Problem> {
    let (counts, settled) = {
        let mut index = state.caught_up_index()?;
        (index.counts(), index.take_settled())
    };
    let pending = state.store.pending_outbox().map_err(Problem::from)?;
    let payments: BTreeMap<String, u64> = PaymentState::ALL
        .into_iter()
        .map(|s| {
            (
                s.name().to_owned(),
                counts.get(s.name()).copied().unwrap_or(0),
            )
        })
        .collect();
    state.samples.push(StatsSample {
        at: state.payments.clock().now().to_string(),
        payments,
        settled: settled.count(),
        settle_p50_ms: settled.quantile(500),
        settle_p99_ms: settled.quantile(990),
        outbox_pending: u64::try_from(pending).unwrap_or(u64::MAX),
    });
    Ok(())
}

/// What `GET /v1/stats` answers.
pub fn view(state: &State) -> StatsView {
    StatsView {
        interval_ms: u64::try_from(state.stats_interval.as_millis()).unwrap_or(u64::MAX),
        max_samples: u32::try_from(MAX_SAMPLES).unwrap_or(u32::MAX),
        samples: state.samples.all(),
    }
}

/// Samples every `state.stats_interval` until `stop` turns true; the first straight away.
pub async fn run(state: std::sync::Arc<State>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut every = tokio::time::interval(state.stats_interval);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
        let taken = crate::state::blocking(&state, sample).await;
        if let Err(problem) = taken {
            tracing::warn!(detail = %problem.detail, "a stats sample failed; the next may succeed");
        }
    }
}

/// How long a payment took from its intent to its settlement, if it settled at or after
/// `since` (settlements folded from history at start are not this server's to plot).
pub fn settle_latency(
    created: Timestamp,
    settled: Timestamp,
    since: Timestamp,
) -> Option<Duration> {
    if settled.unix_nanos() < since.unix_nanos() {
        return None;
    }
    let nanos = settled.unix_nanos().checked_sub(created.unix_nanos())?;
    u64::try_from(nanos).ok().map(Duration::from_nanos)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn bounds_grow_by_a_quarter_and_reach_days() {
        assert_eq!(BOUNDS.first(), Some(&1));
        assert!(BOUNDS.windows(2).all(|w| w[1] > w[0]));
        // The buckets reach beyond a day: a stuck payment settling late still has a bucket
        assert!(*BOUNDS.last().unwrap() > 86_400_000, "{:?}", BOUNDS.last());
    }

    #[test]
    fn quantiles_are_the_upper_bound_of_the_bucket_holding_the_rank() {
        // Given 99 payments settling in 10 ms and one in 2 s
        let mut latencies = Latencies::default();
        assert_eq!(latencies.quantile(500), None);
        for _ in 0..99 {
            latencies.record(Duration::from_millis(10));
        }
        latencies.record(Duration::from_secs(2));
        // Then the median and p99 are about 10 ms and the maximum about 2 s
        let bucket_of = |ms: u64| *BOUNDS.iter().find(|b| **b >= ms).unwrap();
        assert_eq!(latencies.count(), 100);
        assert_eq!(latencies.quantile(500), Some(bucket_of(10)));
        assert_eq!(latencies.quantile(990), Some(bucket_of(10)));
        assert_eq!(latencies.quantile(1000), Some(bucket_of(2000)));
        // And each answer is within a quarter above the true value
        assert!(bucket_of(2000) < 2500);
    }

    #[test]
    fn only_settlements_since_the_start_count() {
        let t = |s: &str| Timestamp::parse(s).unwrap();
        let start = t("2026-01-01T00:00:10Z");
        assert_eq!(
            settle_latency(
                t("2026-01-01T00:00:09Z"),
                t("2026-01-01T00:00:09.5Z"),
                start
            ),
            None
        );
        assert_eq!(
            settle_latency(t("2026-01-01T00:00:09Z"), t("2026-01-01T00:00:11Z"), start),
            Some(Duration::from_secs(2))
        );
    }

    #[test]
    fn the_oldest_sample_goes_when_the_limit_is_reached() {
        let samples = Samples::default();
        for n in 0..(MAX_SAMPLES + 3) {
            samples.push(StatsSample {
                at: n.to_string(),
                payments: BTreeMap::new(),
                settled: 0,
                settle_p50_ms: None,
                settle_p99_ms: None,
                outbox_pending: 0,
            });
        }
        let all = samples.all();
        assert_eq!(all.len(), MAX_SAMPLES);
        assert_eq!(all.first().map(|s| s.at.as_str()), Some("3"));
    }
}
