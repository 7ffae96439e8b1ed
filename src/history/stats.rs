//! Summary statistics of a signal over a window: current, min, max, mean and the p50, p90 and
//! p99 percentiles. Percentiles interpolate linearly between the two nearest ranks (the default
//! of numpy and of Prometheus's `quantile_over_time`): the `p` quantile of n sorted values is at
//! rank `p·(n−1)`.

use serde::Serialize;

/// The `p` quantile (0..=1) of ascending `sorted` values; `None` when empty.
pub fn quantile_sorted(sorted: &[f64], p: f64) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let rank = p.clamp(0.0, 1.0) * (n - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    let frac = rank - lo as f64;
    Some(sorted[lo] + (sorted[hi.min(n - 1)] - sorted[lo]) * frac)
}

/// The `p` quantile of `values` in any order (sorts them).
pub fn quantile(values: &mut [f64], p: f64) -> Option<f64> {
    values.sort_unstable_by(f64::total_cmp);
    quantile_sorted(values, p)
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    /// Values the summary is made of (ticks for 1 h, minutes for 24 h).
    pub samples: usize,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
}

/// Summary of `values`; `min`, `max` and `mean` may be given from finer data (the minima,
/// maxima and sample-weighted mean of per-minute aggregates) while the percentiles come from
/// `values`. `None` when `values` is empty.
pub fn summarize(
    values: &mut [f64],
    min: Option<f64>,
    max: Option<f64>,
    mean: Option<f64>,
) -> Option<Summary> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable_by(f64::total_cmp);
    let n = values.len();
    let q = |p| quantile_sorted(values, p).unwrap_or(f64::NAN);
    Some(Summary {
        samples: n,
        min: min.unwrap_or(values[0]),
        max: max.unwrap_or(values[n - 1]),
        mean: mean.unwrap_or_else(|| values.iter().sum::<f64>() / n as f64),
        p50: q(0.5),
        p90: q(0.9),
        p99: q(0.99),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_between_ranks() {
        let mut v: Vec<f64> = (1..=10).map(f64::from).collect();
        // rank 0.9 · 9 = 8.1 → 9 + 0.1 · (10 − 9)
        assert!((quantile(&mut v, 0.9).unwrap() - 9.1).abs() < 1e-12);
        assert_eq!(quantile(&mut v, 0.5), Some(5.5));
        assert_eq!(quantile(&mut v, 0.0), Some(1.0));
        assert_eq!(quantile(&mut v, 1.0), Some(10.0));
        assert_eq!(quantile(&mut [7.0], 0.9), Some(7.0));
        assert_eq!(quantile(&mut [], 0.9), None);
        // p90 of three daily peaks 100, 300, 200: rank 1.8 → 200 + 0.8 · 100
        assert!((quantile(&mut [100.0, 300.0, 200.0], 0.9).unwrap() - 280.0).abs() < 1e-9);
    }

    #[test]
    fn summary_of_values() {
        let mut v: Vec<f64> = (0..=100).rev().map(f64::from).collect();
        let s = summarize(&mut v, None, None, None).unwrap();
        assert_eq!(s.samples, 101);
        assert_eq!((s.min, s.max, s.mean), (0.0, 100.0, 50.0));
        assert_eq!((s.p50, s.p90, s.p99), (50.0, 90.0, 99.0));
        let s = summarize(&mut [2.0, 4.0], Some(1.0), Some(9.0), Some(3.5)).unwrap();
        assert_eq!((s.min, s.max, s.mean, s.p50), (1.0, 9.0, 3.5, 3.0));
        assert_eq!(summarize(&mut [], None, None, None), None);
    }
}
