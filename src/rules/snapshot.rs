//! What the rules engine publishes with a tick: active alerts, SLO figures and request signals,
//! as the views (`/metrics`, JSON, the status page) read them.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;

use super::alert::Phase;
use super::signal::Signal;
use crate::lazy::Lazy;
use crate::request::HttpRates;

/// A pending or firing alert, as the tick publishes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveAlert {
    pub alertname: String,
    pub severity: &'static str,
    pub state: Phase,
    pub target: String,
    /// The target's constant labels, then the rule's labels (names not already used).
    #[serde(serialize_with = "crate::sample::pairs_as_object")]
    pub labels: Vec<(String, String)>,
    /// Rendered annotations.
    pub annotations: BTreeMap<String, String>,
    /// When the condition started to hold (Unix seconds).
    pub active_at: f64,
    pub fired_at: Option<f64>,
    /// The last value that held the condition.
    pub value: f64,
}

/// One (SLO, target), as the tick publishes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SloStatus {
    pub slo: String,
    pub target: String,
    /// The target's constant labels.
    #[serde(serialize_with = "crate::sample::pairs_as_object")]
    pub labels: Vec<(String, String)>,
    pub objective: f64,
    pub window_seconds: f64,
    pub samples_total: u64,
    pub good_samples_total: u64,
    /// Good and total samples in the ring (the window).
    pub window_good: u64,
    pub window_total: u64,
    pub error_budget_remaining: Option<f64>,
    /// Time since the first sample, at most the window: the span the figures cover.
    pub covered_seconds: f64,
    /// Whether that span is long enough to show the budget ([`slo::Coverage::budget_meaningful`]).
    pub error_budget_meaningful: bool,
    /// For 5m, 1h, 6h.
    pub burn_rates: Vec<BurnRate>,
    /// `samples`, `events` or `latency`.
    pub kind: &'static str,
    /// Latency SLOs: the bucket counted as good.
    pub bucket: Option<BucketUsed>,
}

/// The histogram bucket a latency SLO counts as good.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BucketUsed {
    pub histogram: String,
    /// The bucket's `le`.
    pub le: f64,
    /// False when no bucket has the threshold as its bound and the largest below it is used.
    pub exact: bool,
}

/// The burn rate over one window.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BurnRate {
    /// `5m`, `1h`, `6h`.
    pub window: &'static str,
    pub rate: Option<f64>,
    /// Whether the covered span holds the whole window.
    pub covered: bool,
}

/// A target's request signals this tick.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetHttp {
    pub target: String,
    #[serde(serialize_with = "crate::sample::pairs_as_object")]
    pub labels: Vec<(String, String)>,
    pub rates: HttpRates,
}

/// The value of every rule signal for one target this tick (`None`: unknown), as the rules saw
/// it: `/api/v1/signals` and the status page show the same figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetSignalValues {
    pub target: String,
    #[serde(serialize_with = "crate::sample::pairs_as_object")]
    pub labels: Vec<(String, String)>,
    /// By the signal's config name.
    #[serde(serialize_with = "crate::sample::pairs_as_object")]
    pub values: Vec<(Signal, Option<f64>)>,
}

impl TargetSignalValues {
    pub fn get(&self, signal: Signal) -> Option<f64> {
        self.values
            .iter()
            .find(|(s, _)| *s == signal)
            .and_then(|(_, v)| *v)
    }
}

/// What the rules engine publishes with a tick.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RulesSnapshot {
    pub alerts: Vec<ActiveAlert>,
    pub slos: Vec<SloStatus>,
    /// Request signals of targets whose app has a known HTTP histogram.
    pub http: Vec<TargetHttp>,
    /// Every target's signal values, in target order.
    pub signals: Vec<TargetSignalValues>,
    /// `/api/v1/rules`: rendered by its first request after the rules were (re)configured,
    /// then kept until the next reconfiguration.
    #[serde(skip)]
    pub rules_json: Arc<Lazy<Bytes>>,
}
