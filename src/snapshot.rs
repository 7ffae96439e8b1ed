//! What one tick publishes: every target's sample with the exporter's own figures, and the
//! rules' and history's views of the same tick.

use serde::Serialize;

use crate::histogram::HistogramValues;
use crate::sample::TargetSample;
use crate::source::proc::SelfFigures;

/// Everything one tick publishes.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// When the tick started, seconds since the Unix epoch.
    pub timestamp_seconds: f64,
    pub targets: Vec<TargetSample>,
    /// (source, count) for every source, zeros included, in a stable order.
    #[serde(serialize_with = "crate::sample::pairs_as_object")]
    pub read_errors: Vec<(&'static str, u64)>,
    pub ticks_total: u64,
    /// CPUs online on the host as the procfs reader counted them at start: the denominator of
    /// `cpu_utilization_ratio` for a target without a cgroup of its own, exported so Prometheus
    /// rules can divide by the same number.
    pub host_cpus: Option<u32>,
    pub tick_duration_seconds: HistogramValues,
    pub scrapes_total: u64,
    pub config_last_reload_successful: bool,
    pub config_last_reload_success_timestamp_seconds: f64,
    #[serde(skip)]
    pub exporter: Option<SelfFigures>,
    pub version: &'static str,
    pub revision: &'static str,
    /// Alert states and SLO figures of this tick; absent when no rules engine runs (`once`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules: Option<crate::rules::RulesSnapshot>,
    /// History views of this tick (trends, recommendations, sparklines, JSON); absent when no
    /// history is kept (`once`).
    #[serde(skip)]
    pub history: Option<std::sync::Arc<crate::history::HistoryViews>>,
}
