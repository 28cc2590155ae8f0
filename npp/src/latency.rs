//! A fixed-size latency histogram (microseconds, log-linear buckets, under 1.6% relative error),
//! so a load test's memory does not grow with the number of commands it times.

/// Values below this are counted exactly, one bucket per microsecond.
const LINEAR: u32 = 128;
/// Buckets per power of two above `LINEAR`.
const SUB: u32 = 64;
/// Powers of two from 2^7 to 2^31.
const BUCKETS: usize = (LINEAR + (31 - 6) * SUB) as usize;

/// Counts of command latencies.
#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: vec![0; BUCKETS],
            total: 0,
        }
    }
}

fn bucket(micros: u32) -> usize {
    if micros < LINEAR {
        return micros as usize;
    }
    let msb = 31 - micros.leading_zeros(); // 7..=31
    let mantissa = micros >> (msb - 6); // 64..=127
    (LINEAR + (msb - 7) * SUB + (mantissa - SUB)) as usize
}

/// The smallest value that falls in bucket `index`.
fn lower_bound(index: usize) -> u32 {
    let index = u32::try_from(index).unwrap_or(u32::MAX);
    if index < LINEAR {
        return index;
    }
    let msb = (index - LINEAR) / SUB + 7;
    let mantissa = (index - LINEAR) % SUB + SUB;
    mantissa << (msb - 6)
}

impl Histogram {
    /// Counts one latency.
    pub fn record(&mut self, micros: u32) {
        if let Some(count) = self.counts.get_mut(bucket(micros)) {
            *count += 1;
            self.total += 1;
        }
    }

    /// Adds another histogram's counts.
    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
    }

    /// How many latencies were counted.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// The latency at quantile `per_mille / 1000` (lower bound of its bucket), in microseconds.
    pub fn quantile(&self, per_mille: u64) -> u32 {
        if self.total == 0 {
            return 0;
        }
        let rank = (self.total * per_mille.min(1000)).div_ceil(1000).max(1);
        let mut seen = 0;
        for (index, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return lower_bound(index);
            }
        }
        lower_bound(BUCKETS - 1)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn every_value_lands_in_a_bucket_whose_bounds_hold_it_within_two_percent() {
        for micros in (0..5_000).chain([65_535, 1_000_000, u32::MAX - 1, u32::MAX]) {
            let index = bucket(micros);
            assert!(index < BUCKETS, "{micros} -> {index}");
            let low = lower_bound(index);
            assert!(low <= micros, "{micros}: lower bound {low}");
            assert!(
                u64::from(micros - low) * 64 <= u64::from(micros),
                "{micros}: bucket starts at {low}"
            );
        }
    }

    #[test]
    fn quantiles_of_a_known_distribution() {
        let mut h = Histogram::default();
        for micros in 1..=1000 {
            h.record(micros);
        }
        assert_eq!(h.len(), 1000);
        assert_eq!(h.quantile(500), 500);
        assert!(
            (980..=990).contains(&h.quantile(990)),
            "{}",
            h.quantile(990)
        );
        assert_eq!(h.quantile(1), 1);
        let mut other = Histogram::default();
        other.record(5_000_000);
        h.merge(&other);
        assert_eq!(h.len(), 1001);
        assert!(h.quantile(1000) >= 4_900_000);
    }

    #[test]
    fn an_empty_histogram_reports_zero() {
        assert_eq!(Histogram::default().quantile(990), 0);
    }
}
