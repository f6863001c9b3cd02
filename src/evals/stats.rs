//! The statistics of an experiment: means with 95 % intervals from a bootstrap over rows, a paired
//! bootstrap for the difference between two columns that share rows, percentiles, and the plain
//! statement a person reads ("better", "worse", "no significant difference"). The resampling is
//! seeded (ChaCha8), so the same experiment gives the same intervals every time.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Resamples drawn for an interval.
pub const RESAMPLES: usize = 2000;

/// A mean and its 95 % interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Estimate {
    pub mean: f64,
    pub low: f64,
    pub high: f64,
    /// Values it was computed from.
    pub n: usize,
}

impl Estimate {
    pub fn contains_zero(&self) -> bool {
        self.low <= 0.0 && self.high >= 0.0
    }
}

fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    }
}

/// The `q` quantile (0–1) of sorted values, interpolating between neighbours.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => 0.0,
        1 => sorted[0],
        n => {
            let pos = q.clamp(0.0, 1.0) * (n - 1) as f64;
            let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
            sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
        }
    }
}

/// The `q` quantile of values in any order.
pub fn quantile(values: &[f64], q: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    quantile_sorted(&v, q)
}

/// The mean of `values` with a 95 % percentile-bootstrap interval (values are rows).
pub fn bootstrap_mean(values: &[f64], seed: u64) -> Estimate {
    bootstrap(values.len(), seed, |idx| mean_of(values, idx), mean(values))
}

/// The mean paired difference `b − a` (row by row) with its 95 % interval.
pub fn paired_difference(a: &[f64], b: &[f64], seed: u64) -> Estimate {
    let diffs: Vec<f64> = a.iter().zip(b).map(|(x, y)| y - x).collect();
    bootstrap_mean(&diffs, seed)
}

/// A statistic's `p` percentile (latency p50/p95) with a 95 % bootstrap interval.
pub fn bootstrap_quantile(values: &[f64], q: f64, seed: u64) -> Estimate {
    let point = quantile(values, q);
    bootstrap(
        values.len(),
        seed,
        |idx| {
            let mut v: Vec<f64> = idx.iter().map(|&i| values[i]).collect();
            v.sort_by(f64::total_cmp);
            quantile_sorted(&v, q)
        },
        point,
    )
}

fn mean_of(values: &[f64], idx: &[usize]) -> f64 {
    idx.iter().map(|&i| values[i]).sum::<f64>() / idx.len() as f64
}

fn bootstrap(n: usize, seed: u64, stat: impl Fn(&[usize]) -> f64, point: f64) -> Estimate {
    if n == 0 {
        return Estimate {
            mean: 0.0,
            low: 0.0,
            high: 0.0,
            n: 0,
        };
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut idx = vec![0usize; n];
    let mut stats = Vec::with_capacity(RESAMPLES);
    for _ in 0..RESAMPLES {
        for slot in idx.iter_mut() {
            // Multiply-shift: uniform enough for resampling, and no division.
            *slot = ((rng.next_u64() as u128 * n as u128) >> 64) as usize;
        }
        stats.push(stat(&idx));
    }
    stats.sort_by(f64::total_cmp);
    Estimate {
        mean: point,
        low: quantile_sorted(&stats, 0.025),
        high: quantile_sorted(&stats, 0.975),
        n,
    }
}

/// What a paired comparison says, in words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum Finding {
    Better,
    Worse,
    NoSignificantDifference,
}

impl Finding {
    /// From the interval of `candidate − baseline` (higher is better).
    pub fn of(diff: &Estimate) -> Finding {
        if diff.n < 2 || diff.contains_zero() {
            Finding::NoSignificantDifference
        } else if diff.low > 0.0 {
            Finding::Better
        } else {
            Finding::Worse
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Finding::Better => "better",
            Finding::Worse => "worse",
            Finding::NoSignificantDifference => "no significant difference",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_are_reproducible_with_a_seed_and_cover_the_mean() {
        let values: Vec<f64> = (0..40)
            .map(|i| if i % 4 == 0 { 0.0 } else { 1.0 })
            .collect();
        let a = bootstrap_mean(&values, 7);
        let b = bootstrap_mean(&values, 7);
        assert_eq!(a, b, "same seed, same interval");
        assert!((a.mean - 0.75).abs() < 1e-9);
        assert!(a.low < 0.75 && a.high > 0.75, "{a:?}");
        assert!(a.low > 0.5 && a.high <= 1.0, "{a:?}");
        let c = bootstrap_mean(&values, 8);
        assert_ne!(
            (a.low, a.high),
            (c.low, c.high),
            "another seed resamples differently"
        );
    }

    #[test]
    fn paired_differences_say_better_worse_or_not_significant() {
        let base: Vec<f64> = (0..30).map(|i| (i % 2) as f64).collect();
        let all_pass = vec![1.0; 30];
        let d = paired_difference(&base, &all_pass, 1);
        assert_eq!(Finding::of(&d), Finding::Better, "{d:?}");
        assert_eq!(
            Finding::of(&paired_difference(&all_pass, &base, 1)),
            Finding::Worse
        );
        let one_flip: Vec<f64> = base
            .iter()
            .enumerate()
            .map(|(i, v)| if i == 0 { 1.0 } else { *v })
            .collect();
        assert_eq!(
            Finding::of(&paired_difference(&base, &one_flip, 1)),
            Finding::NoSignificantDifference
        );
    }

    #[test]
    fn quantiles_interpolate() {
        assert_eq!(quantile(&[4.0, 1.0, 3.0, 2.0], 0.5), 2.5);
        assert_eq!(quantile(&[10.0], 0.95), 10.0);
        let p95 = bootstrap_quantile(&(1..=100).map(f64::from).collect::<Vec<_>>(), 0.95, 3);
        assert!((p95.mean - 95.05).abs() < 1e-9 && p95.low <= p95.mean && p95.high >= p95.mean);
    }
}
