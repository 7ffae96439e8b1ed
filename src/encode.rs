//! The encoding primitives every exposition writer shares: one metric family being assembled,
//! its label pairs and values. Publishing (`expose`) and the views (history, rules) build on
//! these; nothing here knows a snapshot.

use std::borrow::Cow;

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;

use crate::histogram::HistogramValues;
use crate::sample::TargetSample;

/// Label pairs of one sample, in output order.
pub(crate) type Labels<'a> = Vec<(&'a str, Cow<'a, str>)>;

/// A number a family can hold: integers stay exact, the rest are floats.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Num {
    U(u64),
    F(f64),
}

/// One metric family being assembled; families without samples are not written.
pub(crate) struct Family<'a> {
    name: &'static str,
    help: &'static str,
    unit: Option<Unit>,
    kind: MetricType,
    samples: Vec<(Labels<'a>, Num)>,
}

impl<'a> Family<'a> {
    pub(crate) fn new(
        name: &'static str,
        help: &'static str,
        unit: Option<Unit>,
        kind: MetricType,
    ) -> Self {
        Family {
            name,
            help,
            unit,
            kind,
            samples: Vec::new(),
        }
    }

    /// An empty family of a catalog entry.
    pub(crate) fn of(def: &'static crate::catalog::Def) -> Self {
        Self::new(def.name, def.help, def.unit.clone(), def.kind)
    }

    pub(crate) fn push(&mut self, labels: Labels<'a>, v: Num) {
        self.samples.push((labels, v));
    }

    pub(crate) fn encode(&self, enc: &mut DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        if self.samples.is_empty() {
            return Ok(());
        }
        let mut m = enc.encode_descriptor(self.name, self.help, self.unit.as_ref(), self.kind)?;
        if let [(labels, v)] = &self.samples[..] {
            if labels.is_empty() {
                // One unlabelled sample: `name 1`, not `name{} 1`.
                return encode_value(self.kind, *v, m);
            }
        }
        for (labels, v) in &self.samples {
            if matches!(self.kind, MetricType::Info) {
                m.encode_info(labels)?;
            } else {
                encode_value(self.kind, *v, m.encode_family(labels)?)?;
            }
        }
        Ok(())
    }
}

fn encode_value(kind: MetricType, v: Num, m: MetricEncoder<'_>) -> Result<(), std::fmt::Error> {
    match (kind, v) {
        (MetricType::Counter, Num::U(x)) => ConstCounter::new(x).encode(m),
        (MetricType::Counter, Num::F(x)) => ConstCounter::new(x).encode(m),
        (_, Num::U(x)) => ConstGauge::new(i64::try_from(x).unwrap_or(i64::MAX)).encode(m),
        (_, Num::F(x)) => ConstGauge::new(x).encode(m),
    }
}

/// prometheus-client takes per-bucket (not cumulative) counts, +Inf as infinity.
pub(crate) fn per_bucket(h: &HistogramValues) -> Vec<(f64, u64)> {
    let mut buckets = Vec::with_capacity(h.buckets.len() + 1);
    let mut below = 0;
    for (bound, cumulative) in &h.buckets {
        buckets.push((*bound, cumulative - below));
        below = *cumulative;
    }
    buckets.push((f64::INFINITY, h.count - below));
    buckets
}

pub(crate) fn target_labels(t: &TargetSample) -> Labels<'_> {
    labels_of(&t.name, &t.labels)
}

/// `target="<name>"`, then the target's constant labels.
pub(crate) fn labels_of<'a>(name: &'a str, labels: &'a [(String, String)]) -> Labels<'a> {
    let mut l: Labels<'a> = Vec::with_capacity(2 + labels.len());
    l.push(("target", Cow::Borrowed(name)));
    l.extend(
        labels
            .iter()
            .map(|(k, v)| (k.as_str(), Cow::Borrowed(v.as_str()))),
    );
    l
}

pub(crate) fn with<'a>(base: &Labels<'a>, k: &'a str, v: impl Into<Cow<'a, str>>) -> Labels<'a> {
    let mut l = base.clone();
    l.push((k, v.into()));
    l
}

pub(crate) fn plain<'a>(pairs: &[(&'a str, &'a str)]) -> Labels<'a> {
    pairs.iter().map(|(k, v)| (*k, Cow::Borrowed(*v))).collect()
}

pub(crate) fn push_opt<'a>(f: &mut Family<'a>, l: &Labels<'a>, v: Option<u64>) {
    if let Some(v) = v {
        f.push(l.clone(), Num::U(v));
    }
}
