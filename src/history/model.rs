//! What a tick publishes about one target's history: the view the status page, the JSON API
//! and the metrics are rendered from.

use super::ring::{self, Point, RawView, Signal};
use super::stats::Summary;
use super::trend::{LeakVerdict, WindowTrend};
use crate::advisor::Recommendation;

/// Last-hour series for the status page: up to [`super::SPARK_POINTS`] buckets per signal (indexed
/// by [`Signal::index`]), CPU as the bucket's mean, the others as its maximum.
#[derive(Debug, Clone, PartialEq)]
pub struct Sparklines {
    pub span_seconds: f64,
    pub series: [Vec<Option<f64>>; ring::SIGNALS],
}

impl Sparklines {
    pub fn get(&self, s: Signal) -> &[Option<f64>] {
        &self.series[s.index()]
    }
}

/// Growth trends of one target per window, the leak verdict and the time to the limit.
#[derive(Debug, Clone, PartialEq)]
pub struct Trends {
    pub memory: Vec<WindowTrend>,
    pub threads: Vec<WindowTrend>,
    pub open_fds: Vec<WindowTrend>,
    pub runtime_tasks: Vec<WindowTrend>,
    pub runtime_heap: Vec<WindowTrend>,
    /// The leak rule on the longest covered window; `None` while no window is covered.
    pub leak: Option<LeakVerdict>,
    /// The leak rule on runtime tasks (counts, in the `_bytes` fields); `None` while no window
    /// is covered or the app has no tasks figure.
    pub tasks_leak: Option<LeakVerdict>,
    /// At the fastest significant growth among the windows; `None` without a limit or growth.
    pub time_to_limit_seconds: Option<f64>,
    pub time_to_limit_window: Option<String>,
}

/// What a tick publishes about one target.
#[derive(Debug, Clone)]
pub struct TargetView {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub up: bool,
    pub pid: Option<i32>,
    pub comm: Option<String>,
    pub processes: u64,
    pub restarts_total: u64,
    pub oom_kills_total: Option<u64>,
    /// This tick's point; `None` while the target is down.
    pub latest: Option<Point>,
    pub raw: RawView,
    pub raw_capacity: usize,
    pub minutes: usize,
    pub hours: usize,
    pub days: usize,
    pub history_seconds: f64,
    pub stats_1h: Vec<(Signal, Option<Summary>)>,
    pub stats_24h: Vec<(Signal, Option<Summary>)>,
    pub trends: Trends,
    pub recommendation: Recommendation,
    pub sparklines: Sparklines,
}
