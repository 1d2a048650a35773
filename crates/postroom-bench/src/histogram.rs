//! A log-linear latency histogram in microseconds.
//!
//! Values below 128 µs have a bucket each. Above, every power of two is
//! split into 64 equal buckets, so a percentile is off by less than 1/64
//! (1.6 %) of its value, as in HdrHistogram with 64 sub-buckets. Recording
//! is an index computation and an increment, and two histograms merge by
//! adding their counts.

use serde::Serialize;
use std::time::Duration;

/// Values below this have a bucket of their own.
const EXACT_LIMIT: u64 = 128;
/// Linear buckets per power of two above `EXACT_LIMIT`, as a power of two.
const SUB_BUCKET_BITS: u32 = 6;
const SUB_BUCKETS: u64 = 1 << SUB_BUCKET_BITS;
/// log2 of `EXACT_LIMIT`.
const FIRST_EXPONENT: u32 = 7;
const BUCKETS: usize = (EXACT_LIMIT + (64 - FIRST_EXPONENT as u64) * SUB_BUCKETS) as usize;

/// Counts of recorded values, in microseconds.
#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Vec<u64>,
    count: u64,
    min: u64,
    max: u64,
    sum: u128,
}

/// Percentiles of a histogram, in milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LatencySummary {
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self { counts: vec![0; BUCKETS], count: 0, min: u64::MAX, max: 0, sum: 0 }
    }
}

impl Histogram {
    pub fn record(&mut self, value: Duration) {
        self.record_micros(u64::try_from(value.as_micros()).unwrap_or(u64::MAX));
    }

    pub fn record_micros(&mut self, micros: u64) {
        self.counts[bucket_index(micros)] += 1;
        self.count += 1;
        self.min = self.min.min(micros);
        self.max = self.max.max(micros);
        self.sum += u128::from(micros);
    }

    /// Adds every value recorded in `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (count, added) in self.counts.iter_mut().zip(&other.counts) {
            *count += added;
        }
        self.count += other.count;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum += other.sum;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn max_micros(&self) -> u64 {
        self.max
    }

    /// Returns the value at `quantile` (0.0 to 1.0) in microseconds: the
    /// upper bound of the bucket that contains the value of that rank, capped
    /// at the largest value recorded. An empty histogram returns 0.
    pub fn value_at_quantile(&self, quantile: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let quantile = quantile.clamp(0.0, 1.0);
        // Rank of the value, 1-based: the smallest rank whose share of the
        // count reaches the quantile.
        let rank = ((quantile * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (index, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return bucket_upper_bound(index).min(self.max).max(self.min);
            }
        }
        self.max
    }

    pub fn summary(&self) -> LatencySummary {
        let millis = |micros: u64| micros as f64 / 1000.0;
        let mean = if self.count == 0 { 0.0 } else { self.sum as f64 / self.count as f64 / 1000.0 };
        LatencySummary {
            count: self.count,
            mean_ms: mean,
            p50_ms: millis(self.value_at_quantile(0.50)),
            p90_ms: millis(self.value_at_quantile(0.90)),
            p99_ms: millis(self.value_at_quantile(0.99)),
            max_ms: millis(self.max),
        }
    }
}

fn bucket_index(micros: u64) -> usize {
    if micros < EXACT_LIMIT {
        return micros as usize;
    }
    let exponent = 63 - micros.leading_zeros();
    let shift = exponent - SUB_BUCKET_BITS;
    // The top SUB_BUCKET_BITS + 1 bits: 64..=127.
    let mantissa = micros >> shift;
    (EXACT_LIMIT + u64::from(exponent - FIRST_EXPONENT) * SUB_BUCKETS + (mantissa - SUB_BUCKETS)) as usize
}

/// Largest value that `bucket_index` maps to `index`.
fn bucket_upper_bound(index: usize) -> u64 {
    let index = index as u64;
    if index < EXACT_LIMIT {
        return index;
    }
    let exponent = FIRST_EXPONENT + ((index - EXACT_LIMIT) / SUB_BUCKETS) as u32;
    let mantissa = SUB_BUCKETS + (index - EXACT_LIMIT) % SUB_BUCKETS;
    let shift = exponent - SUB_BUCKET_BITS;
    let lower = mantissa << shift;
    lower.saturating_add((1u64 << shift) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uniform(from: u64, to: u64) -> Histogram {
        let mut histogram = Histogram::default();
        for value in from..=to {
            histogram.record_micros(value);
        }
        histogram
    }

    fn assert_within(actual: u64, expected: u64, relative: f64) {
        let error = (actual as f64 - expected as f64).abs() / expected as f64;
        assert!(error <= relative, "{actual} is not within {relative} of {expected}");
    }

    #[test]
    fn small_values_exact() {
        let histogram = uniform(1, 100);
        assert_eq!(histogram.value_at_quantile(0.5), 50);
        assert_eq!(histogram.value_at_quantile(0.9), 90);
        assert_eq!(histogram.value_at_quantile(0.99), 99);
        assert_eq!(histogram.value_at_quantile(1.0), 100);
        assert_eq!(histogram.value_at_quantile(0.0), 1);
    }

    #[test]
    fn large_values_within_precision() {
        let histogram = uniform(1, 1_000_000);
        assert_within(histogram.value_at_quantile(0.5), 500_000, 1.0 / 64.0);
        assert_within(histogram.value_at_quantile(0.9), 900_000, 1.0 / 64.0);
        assert_within(histogram.value_at_quantile(0.99), 990_000, 1.0 / 64.0);
        assert_eq!(histogram.value_at_quantile(1.0), 1_000_000);
        assert_eq!(histogram.max_micros(), 1_000_000);
    }

    #[test]
    fn percentile_never_below_true_value() {
        // Bucket upper bounds make the reported percentile an upper bound.
        let histogram = uniform(1, 50_000);
        for (quantile, exact) in [(0.5, 25_000), (0.9, 45_000), (0.99, 49_500)] {
            let reported = histogram.value_at_quantile(quantile);
            assert!(reported >= exact, "p{quantile}: {reported} < {exact}");
        }
    }

    #[test]
    fn bucket_bounds_round_trip() {
        for value in [0, 1, 127, 128, 129, 255, 256, 1_000, 65_535, 1 << 40, u64::MAX] {
            let index = bucket_index(value);
            assert!(index < BUCKETS, "index {index} of {value} is out of range");
            assert!(bucket_upper_bound(index) >= value, "upper bound of {value}");
            if index > 0 {
                assert!(bucket_upper_bound(index - 1) < value, "previous bucket of {value}");
            }
        }
    }

    #[test]
    fn skewed_distribution_tail() {
        let mut histogram = Histogram::default();
        for _ in 0..990 {
            histogram.record(Duration::from_micros(200));
        }
        for _ in 0..10 {
            histogram.record(Duration::from_millis(50));
        }
        assert_within(histogram.value_at_quantile(0.5), 200, 1.0 / 64.0);
        assert_within(histogram.value_at_quantile(0.99), 200, 1.0 / 64.0);
        assert_eq!(histogram.value_at_quantile(0.995), 50_000);
        let summary = histogram.summary();
        assert_eq!(summary.count, 1000);
        assert!((summary.max_ms - 50.0).abs() < 1e-9, "max {}", summary.max_ms);
        assert!((summary.mean_ms - 0.698).abs() < 1e-9, "mean {}", summary.mean_ms);
    }

    #[test]
    fn merge_adds_counts() {
        let mut low = uniform(1, 500);
        let high = uniform(501, 1000);
        low.merge(&high);
        assert_eq!(low.count(), 1000);
        assert_within(low.value_at_quantile(0.5), 500, 1.0 / 64.0);
        assert_eq!(low.value_at_quantile(1.0), 1000);
        assert_eq!(low.value_at_quantile(0.0), 1);
    }

    #[test]
    fn empty_histogram_zero() {
        let histogram = Histogram::default();
        assert_eq!(histogram.value_at_quantile(0.99), 0);
        assert_eq!(histogram.summary().count, 0);
        assert_eq!(histogram.summary().max_ms, 0.0);
    }
}
