//! The parsed exposition: families of typed samples, and the lookups the runtime and request
//! figures use.

use std::collections::BTreeMap;

/// A family's type, as its `# TYPE` line says (`Unknown` when there is none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    StateSet,
    Unknown,
}

/// One sample line: its full name (with `_total`, `_bucket`, `_sum`, `_count`, `_created`
/// suffixes as written), its labels in the order written, and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    /// The value of label `name`, if the sample has it.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One metric family: the name of its `# TYPE` line (or of its samples without one), its
/// type, and its samples in the order written.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: String,
    pub kind: MetricType,
    pub samples: Vec<Sample>,
}

/// A whole parsed body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exposition {
    /// By family name.
    pub families: BTreeMap<String, Family>,
}

impl Exposition {
    /// How many samples the body had (exemplars are not samples).
    pub fn sample_count(&self) -> usize {
        self.families.values().map(|f| f.samples.len()).sum()
    }

    pub fn family(&self, name: &str) -> Option<&Family> {
        self.families.get(name)
    }

    /// Every sample named exactly `sample_name`, whatever family it was written under (a
    /// counter `x_total` belongs to family `x` in OpenMetrics and `x_total` in text 0.0.4).
    pub fn samples<'a>(&'a self, sample_name: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.families
            .values()
            .flat_map(|f| f.samples.iter())
            .filter(move |s| s.name == sample_name)
    }

    /// The value of the first sample named `sample_name` whose labels include all of `want`.
    pub fn value(&self, sample_name: &str, want: &[(&str, &str)]) -> Option<f64> {
        self.samples(sample_name)
            .find(|s| want.iter().all(|(k, v)| s.label(k) == Some(*v)))
            .map(|s| s.value)
    }
}
