//! A latency histogram with microsecond resolution and bounded size: log-linear
//! buckets (each power of two split into 32), so any recorded value is known to
//! within 1/32 (about 3 %) and the whole thing is a fixed array, whatever the
//! number of operations. Each client keeps its own; they are merged at the end.

use std::time::Duration;

/// Linear sub-buckets per power of two, as a bit count (32).
const SUB_BITS: u32 = 5;
const SUB: usize = 1 << SUB_BITS;
/// Values below this (64 µs) get a bucket each: exact.
const LINEAR: u64 = 2 << SUB_BITS;
/// The largest power of two kept apart; larger values (over 38 hours) share the
/// last bucket. `max` still records them exactly.
const TOP_BIT: u32 = 36;
const BUCKETS: usize = LINEAR as usize + (TOP_BIT - SUB_BITS) as usize * SUB;

/// Latencies in microseconds.
#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u64; BUCKETS]>,
    total: u64,
    max: u64,
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("total", &self.total)
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram {
            counts: Box::new([0; BUCKETS]),
            total: 0,
            max: 0,
        }
    }
}

/// The bucket holding `micros`.
fn index(micros: u64) -> usize {
    if micros < LINEAR {
        return micros as usize;
    }
    let top_bit = (63 - micros.leading_zeros()).min(TOP_BIT);
    if top_bit == TOP_BIT && micros >> TOP_BIT > 1 {
        return BUCKETS - 1;
    }
    let shift = top_bit - SUB_BITS; // >= 1, as micros >= 64
    let sub = (micros >> shift) as usize - SUB; // 0..32
    LINEAR as usize + (shift as usize - 1) * SUB + sub
}

/// The largest value bucket `i` holds.
fn upper_bound(i: usize) -> u64 {
    if i < LINEAR as usize {
        return i as u64;
    }
    let shift = ((i - LINEAR as usize) / SUB + 1) as u32;
    let sub = ((i - LINEAR as usize) % SUB + SUB) as u64;
    ((sub + 1) << shift) - 1
}

impl Histogram {
    /// Records one latency.
    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.counts[index(micros)] += 1;
        self.total += 1;
        self.max = self.max.max(micros);
    }

    /// Adds another client's latencies to these.
    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts.iter()) {
            *mine += theirs;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    /// How many latencies were recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The largest latency, exact, in microseconds.
    pub fn max_micros(&self) -> u64 {
        self.max
    }

    /// The latency (µs) at quantile `q` (0..=1): the top of the bucket holding
    /// the `ceil(q * count)`-th smallest value, never above the maximum. Zero
    /// when nothing was recorded.
    pub fn quantile_micros(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        // The rank is at least 1 and at most `total`; `as` saturates.
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                // The last bucket is open-ended: its top is the maximum.
                if i == BUCKETS - 1 {
                    return self.max;
                }
                return upper_bound(i).min(self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn micros(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    #[test]
    fn buckets_are_contiguous_and_hold_their_bounds() {
        let mut low = 0u64;
        for i in 0..BUCKETS - 1 {
            let high = upper_bound(i);
            assert!(high >= low, "bucket {i}");
            assert_eq!(index(low), i, "low end of bucket {i}");
            assert_eq!(index(high), i, "high end of bucket {i}");
            low = high + 1;
        }
        assert_eq!(index(low), BUCKETS - 1);
        assert_eq!(index(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn small_values_are_exact_and_large_ones_within_a_thirty_second() {
        for v in 0..LINEAR {
            assert_eq!(upper_bound(index(v)), v);
        }
        for v in [64u64, 65, 100, 999, 1_000, 12_345, 1_000_000, 59_999_999] {
            let top = upper_bound(index(v));
            assert!(
                top >= v && (top - v) as f64 <= v as f64 / 32.0,
                "{v}: {top}"
            );
        }
    }

    #[test]
    fn quantiles_of_one_to_ten_thousand() {
        let mut h = Histogram::default();
        for v in 1..=10_000 {
            h.record(micros(v));
        }
        assert_eq!(h.count(), 10_000);
        assert_eq!(h.max_micros(), 10_000);
        for (q, exact) in [(0.5, 5_000.0), (0.99, 9_900.0), (1.0, 10_000.0)] {
            let got = h.quantile_micros(q) as f64;
            assert!(
                got >= exact && got <= exact * (1.0 + 1.0 / 32.0),
                "{q}: {got}"
            );
        }
        assert_eq!(h.quantile_micros(0.0), 1);
    }

    #[test]
    fn merging_adds_counts_and_keeps_the_larger_max() {
        let mut a = Histogram::default();
        let mut b = Histogram::default();
        for _ in 0..99 {
            a.record(micros(10));
        }
        b.record(micros(5_000_000));
        a.merge(&b);
        assert_eq!(a.count(), 100);
        assert_eq!(a.max_micros(), 5_000_000);
        assert_eq!(a.quantile_micros(0.5), 10);
        assert_eq!(a.quantile_micros(0.99), 10);
        assert_eq!(a.quantile_micros(1.0), 5_000_000);
    }

    #[test]
    fn an_empty_histogram_reports_zero_and_huge_values_are_clamped() {
        let mut h = Histogram::default();
        assert_eq!(h.quantile_micros(0.5), 0);
        h.record(Duration::from_secs(u64::MAX));
        assert_eq!(h.count(), 1);
        assert_eq!(h.quantile_micros(0.5), u64::MAX);
    }
}
