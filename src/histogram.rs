//! Cumulative histograms as sidewatch keeps them (tick durations, probe durations): upper
//! bounds with cumulative counts, the way the exposition formats write them.

use serde::Serialize;

/// A cumulative histogram: upper bounds with cumulative counts, plus sum and count.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HistogramValues {
    pub buckets: Vec<(f64, u64)>,
    pub sum: f64,
    pub count: u64,
}

impl HistogramValues {
    pub fn new(bounds: &[f64]) -> Self {
        HistogramValues {
            buckets: bounds.iter().map(|b| (*b, 0)).collect(),
            sum: 0.0,
            count: 0,
        }
    }

    pub fn observe(&mut self, v: f64) {
        for (bound, n) in &mut self.buckets {
            if v <= *bound {
                *n += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative() {
        let mut h = HistogramValues::new(&[0.1, 1.0]);
        h.observe(0.05);
        h.observe(0.5);
        h.observe(5.0);
        assert_eq!(h.buckets, vec![(0.1, 1), (1.0, 2)]);
        assert_eq!(h.count, 3);
        assert!((h.sum - 5.55).abs() < 1e-9);
    }
}
