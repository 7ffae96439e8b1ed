//! History: per target, fixed-size rings of the signals the trends and the advisor need (raw
//! ticks for an hour, per-minute aggregates for 24 h, per-hour aggregates for 14 days, per-day
//! peaks and CPU histograms for 15 days), updated once per tick; and the views a tick publishes
//! from them (stats, trends, leak verdict, recommendations, sparklines, JSON bodies).
//!
//! Memory is bounded whatever the uptime: every ring has a fixed capacity (see
//! [`max_heap_bytes_per_target`]). The server never reads the rings: a tick publishes an
//! immutable [`HistoryViews`] (rendered JSON fragments, plus shared chunks of the raw ring for
//! `/api/v1/samples`).

pub mod model;
pub mod ring;
pub mod stats;
pub mod trend;
pub mod view;

pub use model::{Sparklines, TargetView, Trends};
pub use view::HistoryViews;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use crate::advisor::{self, AdvisorInput};
use crate::sample::{CgroupSample, TargetSample};
use ring::{
    Accum, DAY_SLOTS, Day, HOUR_SLOTS, MINUTE_SLOTS, OOM_EVENTS, OomEvent, Point, RawRing, Signal,
    Slot, SlotRing,
};
use stats::Summary;
use trend::WindowTrend;

/// Trend windows when the config has none: 15m, 1h, 6h.
pub const DEFAULT_TREND_WINDOWS: [Duration; 3] = [
    Duration::from_secs(15 * 60),
    Duration::from_secs(3600),
    Duration::from_secs(6 * 3600),
];
/// History the recommendations need when the config does not say: 3 h.
pub const DEFAULT_MIN_HISTORY: Duration = Duration::from_secs(3 * 3600);
pub const MAX_TREND_WINDOWS: usize = 4;
/// The per-minute ring holds 24 h: no longer window can be covered.
pub const MAX_TREND_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// The days kept.
pub const MAX_MIN_HISTORY: Duration = Duration::from_secs(14 * 86_400);
/// OOM kills older than this are forgotten (the span of the hourly ring).
const OOM_MEMORY_SECONDS: f64 = 14.0 * 86_400.0;
/// Points per sparkline.
pub const SPARK_POINTS: usize = 120;

/// The `history:` section, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryConfig {
    /// Windows of the growth trends, shortest first (labels `15m`, `1h`, `6h`).
    pub trend_windows: Vec<Duration>,
    /// Sampled time a target needs before it gets recommendations.
    pub min_history: Duration,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            trend_windows: DEFAULT_TREND_WINDOWS.to_vec(),
            min_history: DEFAULT_MIN_HISTORY,
        }
    }
}

/// An upper bound of the heap one target's rings take at `interval`: the raw ring at its
/// capacity plus one chunk a published view may still hold, the preallocated minute and hour
/// rings, 15 days, 16 OOM events, the name (at most 128 bytes) and its place in the store.
/// The views a tick publishes come on top (measured in tests: about 40 KiB a target).
pub fn max_heap_bytes_per_target(interval: Duration) -> usize {
    let raw = RawRing::new(ring::raw_capacity(interval.as_secs_f64())).max_heap_bytes();
    raw + MINUTE_SLOTS * std::mem::size_of::<Slot>()
        + HOUR_SLOTS * std::mem::size_of::<Slot>()
        + DAY_SLOTS * std::mem::size_of::<Day>()
        + OOM_EVENTS * std::mem::size_of::<OomEvent>()
        + 128
        + std::mem::size_of::<TargetHistory>()
}

fn minute_start(t: f64) -> i64 {
    (t / 60.0).floor() as i64 * 60
}

fn hour_start(t: f64) -> i64 {
    (t / 3600.0).floor() as i64 * 3600
}

fn day_of(t: f64) -> u32 {
    u32::try_from(((t / 86_400.0).floor() as i64).max(0)).unwrap_or(u32::MAX)
}

/// The cgroup a target's memory figures come from: the one with the largest working set (a
/// target has one unless it has `cgroup_labels: true`).
fn main_cgroup(s: &TargetSample) -> Option<&CgroupSample> {
    s.cgroups
        .iter()
        .filter(|c| c.live && c.memory_working_set_bytes.is_some())
        .max_by_key(|c| c.memory_working_set_bytes)
        .or_else(|| s.cgroups.first())
}

/// The rings of one target.
#[derive(Debug)]
pub struct TargetHistory {
    name: String,
    raw: RawRing,
    minute: Accum,
    minutes: SlotRing,
    hour: Accum,
    hours: SlotRing,
    days: VecDeque<Day>,
    ooms: VecDeque<OomEvent>,
    /// (time, user + system CPU seconds) of the previous tick while up.
    prev_cpu: Option<(f64, f64)>,
    prev_t: Option<f64>,
    /// The first point's time: the start of the span the history covers.
    first_t: Option<f64>,
    /// Last OOM kill counter, limit and working set seen (also while down), and which cgroups
    /// the counter summed (with `cgroup_labels`, a changed set is a new baseline, not kills).
    last_oom: Option<u64>,
    last_oom_paths: u64,
    last_limit: Option<f64>,
    last_working_set: Option<f64>,
}

impl TargetHistory {
    pub fn new(name: &str, raw_capacity: usize) -> Self {
        TargetHistory {
            name: name.to_string(),
            raw: RawRing::new(raw_capacity),
            minute: Accum::new(0),
            minutes: SlotRing::new(MINUTE_SLOTS),
            hour: Accum::new(0),
            hours: SlotRing::new(HOUR_SLOTS),
            days: VecDeque::new(),
            ooms: VecDeque::new(),
            prev_cpu: None,
            prev_t: None,
            first_t: None,
            last_oom: None,
            last_oom_paths: 0,
            last_limit: None,
            last_working_set: None,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Heap bytes held now (capacities: a ring grows to its bound as it fills).
    pub fn heap_bytes(&self) -> usize {
        self.raw.heap_bytes()
            + self.minutes.heap_bytes()
            + self.hours.heap_bytes()
            + self.days.capacity() * std::mem::size_of::<Day>()
            + self.ooms.capacity() * std::mem::size_of::<OomEvent>()
            + self.name.capacity()
    }

    fn day_mut(&mut self, day: u32) -> Option<&mut Day> {
        match self.days.back() {
            Some(last) if last.day > day => {
                // An older day (a minute closing late, or the clock went back).
                self.days.iter_mut().rev().find(|d| d.day == day)
            }
            Some(last) if last.day == day => self.days.back_mut(),
            _ => {
                crate::bounded::push(&mut self.days, DAY_SLOTS, Day::new(day));
                self.days.back_mut()
            }
        }
    }

    /// Closes the minute (and hour) slots that `t` has left.
    fn roll(&mut self, t: f64) {
        let m = minute_start(t);
        if self.minute.start() != m {
            if !self.minute.is_empty() {
                let slot = self.minute.slot();
                self.minutes.push(slot);
                let cpu = slot.stat(Signal::CpuCores).mean;
                if !cpu.is_nan() {
                    if let Some(d) = self.day_mut(day_of(f64::from(slot.start))) {
                        d.cpu_minutes.add(f64::from(cpu));
                    }
                }
                let h = hour_start(f64::from(slot.start));
                if self.hour.start() != h {
                    if !self.hour.is_empty() {
                        self.hours.push(self.hour.slot());
                    }
                    self.hour = Accum::new(h);
                }
                self.hour.add_slot(&slot);
            }
            self.minute = Accum::new(m);
        }
        let h = hour_start(t);
        if self.hour.start() != h && !self.hour.is_empty() && self.minute.start() >= h {
            self.hours.push(self.hour.slot());
            self.hour = Accum::new(h);
        }
    }

    /// Records one tick of the target. `interval` bounds the sampled time a tick adds.
    pub fn record(&mut self, now: f64, s: &TargetSample, interval: f64) {
        let oom = s
            .cgroups
            .iter()
            .filter_map(|c| c.oom_kills)
            .fold(None, |a: Option<u64>, v| Some(a.unwrap_or(0) + v));
        // Without `cgroup_labels` the counter is the target's own, whatever cgroup it moved to.
        let paths = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            let summed = s.cgroups.iter().filter(|c| c.oom_kills.is_some());
            for c in summed.filter(|_| s.cgroup_labels) {
                c.path.hash(&mut h);
            }
            h.finish()
        };
        if let (Some(prev), Some(cur)) = (self.last_oom, oom) {
            if cur > prev && paths == self.last_oom_paths {
                let event = OomEvent {
                    t: now,
                    kills: u32::try_from(cur - prev).unwrap_or(u32::MAX),
                    limit_bytes: self.last_limit,
                    working_set_bytes: self.last_working_set,
                };
                crate::bounded::push(&mut self.ooms, OOM_EVENTS, event);
            }
        }
        if oom.is_some() {
            self.last_oom = oom;
            self.last_oom_paths = paths;
        }
        while self
            .ooms
            .front()
            .is_some_and(|o| o.t < now - OOM_MEMORY_SECONDS)
        {
            self.ooms.pop_front();
        }
        if !s.up {
            self.prev_cpu = None;
            self.prev_t = None;
            return;
        }
        let c = &s.counters;
        let cpu_total = match (c.cpu_user_seconds_total, c.cpu_system_seconds_total) {
            (None, None) => None,
            (u, sy) => Some(u.unwrap_or(0.0) + sy.unwrap_or(0.0)),
        };
        let cpu_rate = match (self.prev_cpu, cpu_total) {
            (Some((pt, pv)), Some(v)) if now > pt && v >= pv => Some((v - pv) / (now - pt)),
            _ => None,
        };
        self.prev_cpu = cpu_total.map(|v| (now, v));
        let cg = main_cgroup(s);
        // A shared cgroup's working set includes other processes: the target's is its RSS.
        let working_set = cg
            .filter(|_| !s.cgroup_shared())
            .and_then(|c| c.memory_working_set_bytes)
            .or(s.resident_memory_bytes);
        let limit = cg.and_then(|c| c.memory_limit_bytes);
        // The app's figures are floats: NaN and negatives are unknown, the rest saturate.
        let rt = |f: fn(&crate::runtime::RuntimeFigures) -> Option<f64>| {
            let figures = s.runtime.as_ref().and_then(|r| r.figures.as_ref());
            figures.and_then(f).filter(|v| *v >= 0.0).map(|v| v as u64)
        };
        let p = Point {
            t: now,
            cpu_cores: ring::to_f32(cpu_rate),
            working_set_kib: ring::to_kib(working_set),
            rss_kib: ring::to_kib(s.resident_memory_bytes),
            threads: ring::to_u32(s.threads),
            open_fds: ring::to_u32(s.open_fds),
            memory_limit_kib: ring::to_kib(limit),
            cpu_limit_cores: ring::to_f32(cg.and_then(|c| c.cpu_limit_cores)),
            oom_kills: ring::to_u32(oom),
            restarts: ring::to_u32(Some(c.restarts_total)),
            runtime_tasks: ring::to_u32(rt(|f| f.tasks)),
            runtime_heap_kib: ring::to_kib(rt(|f| f.heap_bytes)),
            accept_queue_ratio: ring::to_f32(s.network.as_ref().and_then(|n| n.accept_queue_ratio)),
        };
        self.last_limit = p.memory_limit_bytes();
        self.last_working_set = p.get(Signal::WorkingSet);
        self.push(p, interval);
    }

    /// Adds a point (also used to feed synthetic history in tests).
    pub fn push(&mut self, p: Point, interval: f64) {
        self.roll(p.t);
        self.minute.add_point(&p);
        self.raw.push(p);
        let dt = self
            .prev_t
            .map_or(0.0, |prev| (p.t - prev).clamp(0.0, 2.0 * interval));
        self.prev_t = Some(p.t);
        self.first_t.get_or_insert(p.t);
        let ws = p.get(Signal::WorkingSet);
        if let Some(d) = self.day_mut(day_of(p.t)) {
            d.sampled_seconds += dt;
            if let Some(ws) = ws {
                d.working_set_peak = if d.working_set_peak.is_nan() {
                    ws
                } else {
                    d.working_set_peak.max(ws)
                };
            }
        }
    }

    /// Per-minute slots from `since` on, the open minute included (oldest first).
    fn minutes_since(&self, since: f64) -> Vec<Slot> {
        let mut v: Vec<Slot> = self
            .minutes
            .iter()
            .filter(|s| f64::from(s.start) >= since)
            .copied()
            .collect();
        if !self.minute.is_empty() {
            v.push(self.minute.slot());
        }
        v
    }

    fn stats_1h(&self, now: f64) -> Vec<(Signal, Option<Summary>)> {
        Signal::ALL
            .iter()
            .map(|&s| {
                let mut v: Vec<f64> = self
                    .raw
                    .iter()
                    .filter(|p| p.t >= now - 3600.0)
                    .filter_map(|p| p.get(s))
                    .collect();
                (s, stats::summarize(&mut v, None, None, None))
            })
            .collect()
    }

    fn stats_24h(&self, minutes: &[Slot]) -> Vec<(Signal, Option<Summary>)> {
        Signal::ALL
            .iter()
            .map(|&s| {
                let mut means = Vec::with_capacity(minutes.len());
                let (mut lo, mut hi, mut sum, mut n) = (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0.0);
                for m in minutes {
                    let st = m.stat(s);
                    if st.mean.is_nan() {
                        continue;
                    }
                    means.push(f64::from(st.mean));
                    lo = lo.min(f64::from(st.min));
                    hi = hi.max(f64::from(st.max));
                    sum += f64::from(st.mean) * f64::from(m.samples);
                    n += f64::from(m.samples);
                }
                let mean = (n > 0.0).then(|| sum / n);
                (s, stats::summarize(&mut means, Some(lo), Some(hi), mean))
            })
            .collect()
    }

    fn trend(&self, s: Signal, now: f64, window: Duration) -> WindowTrend {
        let w = window.as_secs_f64();
        let raw_oldest = self.raw.oldest().map(|p| p.t);
        if raw_oldest.is_some_and(|o| o <= now - trend::COVERAGE * w) {
            return trend::window_trend(
                self.raw
                    .iter()
                    .filter(|p| p.t >= now - w)
                    .filter_map(|p| p.get(s).map(|v| (p.t, v))),
                now,
                window,
                raw_oldest,
                "raw",
            );
        }
        let minutes = self.minutes_since(now - w);
        let oldest = self
            .minutes
            .iter()
            .next()
            .map(|m| f64::from(m.start))
            .or_else(|| (!self.minute.is_empty()).then(|| self.minute.start() as f64));
        trend::window_trend(
            minutes.iter().filter_map(|m| {
                let st = m.stat(s);
                (!st.min.is_nan()).then(|| (f64::from(m.start), f64::from(st.min)))
            }),
            now,
            window,
            oldest,
            "minutes",
        )
    }

    /// Downsamples the last hour of raw points for the status page's sparklines.
    fn sparklines(&self, now: f64) -> Sparklines {
        let oldest = self.raw.oldest().map_or(now, |p| p.t);
        let span = (now - oldest).clamp(0.0, 3600.0);
        let start = now - span;
        // About two ticks a bucket at most, so a short history still draws a connected line
        // (an empty bucket is a gap: the target was down).
        let points = self.raw.iter().filter(|p| p.t >= start).count();
        let buckets = points.div_ceil(2).clamp(1, SPARK_POINTS);
        let mut out = Sparklines {
            span_seconds: span,
            series: Signal::ALL.map(|_| vec![None; buckets]),
        };
        let mut cpu_sums = vec![(0.0f64, 0u32); buckets];
        for p in self.raw.iter().filter(|p| p.t >= start) {
            let k = if span > 0.0 {
                (((p.t - start) / span * buckets as f64) as usize).min(buckets - 1)
            } else {
                buckets - 1
            };
            for s in Signal::ALL {
                let Some(v) = p.get(s) else { continue };
                if s == Signal::CpuCores {
                    cpu_sums[k].0 += v;
                    cpu_sums[k].1 += 1;
                } else {
                    let cell = &mut out.series[s.index()][k];
                    *cell = Some(cell.map_or(v, |c: f64| c.max(v)));
                }
            }
        }
        let cpu = &mut out.series[Signal::CpuCores.index()];
        for (cell, (sum, n)) in cpu.iter_mut().zip(&cpu_sums) {
            if *n > 0 {
                *cell = Some(sum / f64::from(*n));
            }
        }
        out
    }

    /// The view of this target a tick publishes.
    pub fn view(&self, now: f64, s: &TargetSample, config: &HistoryConfig) -> TargetView {
        let latest = self.raw.newest().copied().filter(|_| s.up);
        let day_minutes = self.minutes_since(now - 86_400.0);
        let mut trends = Trends {
            memory: Vec::new(),
            threads: Vec::new(),
            open_fds: Vec::new(),
            runtime_tasks: Vec::new(),
            runtime_heap: Vec::new(),
            leak: None,
            tasks_leak: None,
            time_to_limit_seconds: None,
            time_to_limit_window: None,
        };
        for &w in &config.trend_windows {
            trends.memory.push(self.trend(Signal::WorkingSet, now, w));
            trends.threads.push(self.trend(Signal::Threads, now, w));
            trends.open_fds.push(self.trend(Signal::OpenFds, now, w));
            trends
                .runtime_tasks
                .push(self.trend(Signal::RuntimeTasks, now, w));
            trends
                .runtime_heap
                .push(self.trend(Signal::RuntimeHeap, now, w));
        }
        trends.leak = trends
            .memory
            .iter()
            .rev()
            .find(|t| t.covered)
            .and_then(trend::leak_verdict);
        // A goroutine (thread, handle) leak: the same rule on the tasks' floor.
        trends.tasks_leak = trends
            .runtime_tasks
            .iter()
            .rev()
            .find(|t| t.covered)
            .and_then(|t| trend::leak_verdict_on(t, &trend::TASKS));
        let ws_now = latest.and_then(|p| p.get(Signal::WorkingSet));
        let limit_now = latest.and_then(|p| p.memory_limit_bytes());
        if let (Some(ws), Some(limit)) = (ws_now, limit_now) {
            let fastest = trends
                .memory
                .iter()
                .filter_map(|t| trend::significant_growth(t, ws).map(|g| (g, &t.window)))
                .max_by(|a, b| a.0.total_cmp(&b.0));
            if let Some((g, w)) = fastest {
                trends.time_to_limit_seconds = trend::time_to_limit(ws, limit, g);
                trends.time_to_limit_window = Some(w.clone());
            }
        }
        let mut cpu_minutes = ring::CpuHistogram::default();
        for d in &self.days {
            cpu_minutes.merge(&d.cpu_minutes);
        }
        if let Some(c) = float_opt(self.minute.slot().stat(Signal::CpuCores).mean) {
            cpu_minutes.add(c);
        }
        let input = AdvisorInput {
            sampled_seconds: self.days.iter().map(|d| d.sampled_seconds).sum(),
            min_history_seconds: config.min_history.as_secs_f64(),
            cpu_minutes,
            daily_peaks: self
                .days
                .iter()
                .filter(|d| !d.working_set_peak.is_nan())
                .map(|d| (d.day, d.working_set_peak))
                .collect(),
            oom_events: self.ooms.iter().copied().collect(),
            memory_limit_bytes: limit_now,
            cpu_limit_cores: latest.and_then(|p| p.cpu_limit()),
            day: advisor::day_figures(&day_minutes, self.first_t.map_or(0.0, |f| now - f)),
            leak: trends.leak.clone(),
            time_to_limit_seconds: trends.time_to_limit_seconds,
        };
        let mut recommendation = advisor::recommend(&input);
        let (settings, tuning) = advisor::tuning::tune(&tuning_input(s, latest, &input.day));
        recommendation.runtime_settings = settings.runtime.is_some().then_some(settings);
        recommendation.tuning = tuning;
        TargetView {
            name: s.name.clone(),
            labels: s.labels.clone(),
            up: s.up,
            pid: s.primary_pid,
            comm: s.primary_comm.clone(),
            processes: s.processes,
            restarts_total: s.counters.restarts_total,
            oom_kills_total: self.last_oom,
            latest,
            raw: self.raw.view(),
            raw_capacity: self.raw.capacity(),
            minutes: self.minutes.len(),
            hours: self.hours.len(),
            days: self.days.len(),
            history_seconds: input.sampled_seconds,
            stats_1h: self.stats_1h(now),
            stats_24h: self.stats_24h(&day_minutes),
            trends,
            recommendation,
            sparklines: self.sparklines(now),
        }
    }
}

/// What the runtime tuning rules read from this tick's sample and the last 24 hours.
fn tuning_input<'a>(
    s: &'a TargetSample,
    latest: Option<Point>,
    day: &advisor::DayFigures,
) -> advisor::tuning::TuningInput<'a> {
    let rt = s.runtime.as_ref();
    // Throttled CFS periods over all periods since sidewatch watches the cgroup.
    let throttled = s.cgroups.iter().filter(|c| c.live).find_map(|c| {
        let periods = c.cpu_periods.filter(|p| *p > 0)?;
        Some(c.cpu_throttled_periods? as f64 / periods as f64)
    });
    advisor::tuning::TuningInput {
        figures: rt.and_then(|r| r.figures.as_ref()),
        gc_per_second: rt.and_then(|r| r.gc_per_second),
        exec: s.exec.as_deref(),
        memory_limit_bytes: latest.and_then(|p| p.memory_limit_bytes()),
        cpu_limit_cores: latest.and_then(|p| p.cpu_limit()),
        throttled_periods_ratio: throttled,
        // "Stays low" needs an hour of minutes at least.
        working_set_peak_bytes: day.memory_peak_bytes.filter(|_| day.memory_minutes >= 60),
    }
}

fn float_opt(v: f32) -> Option<f64> {
    (!v.is_nan()).then_some(f64::from(v))
}

/// The history of every target; owned by the sampler thread.
#[derive(Debug)]
pub struct HistoryStore {
    config: HistoryConfig,
    interval: f64,
    targets: Vec<TargetHistory>,
}

impl HistoryStore {
    pub fn new(config: HistoryConfig, interval: Duration) -> Self {
        HistoryStore {
            config,
            interval: interval.as_secs_f64(),
            targets: Vec::new(),
        }
    }

    pub fn config(&self) -> &HistoryConfig {
        &self.config
    }

    /// A new config or interval; the rings are kept (the raw ring resized).
    pub fn reconfigure(&mut self, config: HistoryConfig, interval: Duration) {
        self.config = config;
        self.interval = interval.as_secs_f64();
        let cap = ring::raw_capacity(self.interval);
        for t in &mut self.targets {
            t.raw.set_capacity(cap);
        }
    }

    /// Keeps one history per target name, in the order of `names`: a target removed from the
    /// config loses its history, a new one starts empty.
    fn align<'a>(&mut self, names: impl Iterator<Item = &'a str>) {
        let cap = ring::raw_capacity(self.interval);
        let mut old = std::mem::take(&mut self.targets);
        self.targets = names
            .map(|n| match old.iter().position(|t| t.name == n) {
                Some(i) => old.swap_remove(i),
                None => TargetHistory::new(n, cap),
            })
            .collect();
    }

    /// Records one tick of every target (the rings only).
    pub fn record(&mut self, now: f64, samples: &[TargetSample]) {
        if self.targets.len() != samples.len()
            || self
                .targets
                .iter()
                .zip(samples)
                .any(|(t, s)| t.name != s.name)
        {
            self.align(samples.iter().map(|s| s.name.as_str()));
        }
        let interval = self.interval;
        for (t, s) in self.targets.iter_mut().zip(samples) {
            t.record(now, s, interval);
        }
    }

    /// The views of this tick (after [`HistoryStore::record`]).
    pub fn views(&self, now: f64, samples: &[TargetSample]) -> HistoryViews {
        let targets: Vec<TargetView> = self
            .targets
            .iter()
            .zip(samples)
            .map(|(t, s)| t.view(now, s, &self.config))
            .collect();
        HistoryViews::new(now, targets)
    }

    /// Records the tick and returns its views.
    pub fn update(&mut self, now: f64, samples: &[TargetSample]) -> Arc<HistoryViews> {
        self.record(now, samples);
        Arc::new(self.views(now, samples))
    }

    pub fn targets(&self) -> &[TargetHistory] {
        &self.targets
    }

    pub fn targets_mut(&mut self) -> &mut Vec<TargetHistory> {
        &mut self.targets
    }

    pub fn heap_bytes(&self) -> usize {
        self.targets
            .iter()
            .map(TargetHistory::heap_bytes)
            .sum::<usize>()
            + self.targets.capacity() * std::mem::size_of::<TargetHistory>()
    }

    pub fn interval_seconds(&self) -> f64 {
        self.interval
    }
}

#[cfg(test)]
mod tests;
