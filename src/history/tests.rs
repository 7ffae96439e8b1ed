//! Tests of the per-target history: rolling minutes, hours and days, CPU rates, OOM events,
//! and the views (trends, leak, time to limit, recommendations) over synthetic history.

#![allow(clippy::unwrap_used)]

use super::*;
use crate::sample::CgroupSample;

const MIB: f64 = 1024.0 * 1024.0;
/// 2023-11-14T22:13:20Z; minute- and hour-aligned offsets are added below.
const T0: f64 = 1_700_000_000.0;

fn sample(name: &str, rss: u64, cpu_seconds: f64) -> TargetSample {
    let mut s = TargetSample {
        name: name.into(),
        up: true,
        processes: 1,
        primary_pid: Some(42),
        resident_memory_bytes: Some(rss),
        threads: Some(8),
        open_fds: Some(20),
        ..Default::default()
    };
    s.counters.cpu_user_seconds_total = Some(cpu_seconds * 0.75);
    s.counters.cpu_system_seconds_total = Some(cpu_seconds * 0.25);
    s
}

fn with_cgroup(mut s: TargetSample, ws: u64, limit: Option<u64>, oom: u64) -> TargetSample {
    s.cgroups = vec![CgroupSample {
        path: "/app".into(),
        version: "v2",
        live: true,
        memory_working_set_bytes: Some(ws),
        memory_limit_bytes: limit,
        cpu_limit_cores: Some(2.0),
        oom_kills: Some(oom),
        ..Default::default()
    }];
    s
}

fn point(t: f64, ws: f64, cpu: f64) -> Point {
    Point {
        t,
        cpu_cores: cpu as f32,
        working_set_kib: (ws / 1024.0) as u32,
        rss_kib: (ws / 1024.0) as u32,
        threads: 10,
        open_fds: 30,
        restarts: 0,
        ..Default::default()
    }
}

#[test]
fn cpu_rate_working_set_and_limits_from_samples() {
    let mut h = TargetHistory::new("app", 720);
    h.record(
        T0,
        &with_cgroup(sample("app", 50 << 20, 10.0), 80 << 20, Some(1 << 30), 0),
        5.0,
    );
    h.record(
        T0 + 5.0,
        &with_cgroup(sample("app", 50 << 20, 12.5), 90 << 20, Some(1 << 30), 0),
        5.0,
    );
    let pts: Vec<Point> = h.raw.iter().copied().collect();
    assert_eq!(pts.len(), 2);
    assert!(pts[0].cpu_cores.is_nan(), "no rate at the first tick");
    assert_eq!(pts[1].cpu_cores, 0.5);
    assert_eq!(pts[1].get(Signal::WorkingSet), Some(90.0 * MIB));
    assert_eq!(pts[1].get(Signal::Rss), Some(50.0 * MIB));
    assert_eq!(pts[1].memory_limit_bytes(), Some(1024.0 * MIB));
    assert_eq!(pts[1].cpu_limit(), Some(2.0));
    // Without a cgroup the working set is RSS.
    let mut h = TargetHistory::new("app", 720);
    h.record(T0, &sample("app", 50 << 20, 1.0), 5.0);
    assert_eq!(
        h.raw.newest().unwrap().get(Signal::WorkingSet),
        Some(50.0 * MIB)
    );
    // Down: nothing recorded, and the CPU rate starts afresh.
    let mut down = sample("app", 0, 1.0);
    down.up = false;
    h.record(T0 + 5.0, &down, 5.0);
    h.record(T0 + 10.0, &sample("app", 50 << 20, 9.0), 5.0);
    assert_eq!(h.raw.len(), 2);
    assert!(h.raw.newest().unwrap().cpu_cores.is_nan());
}

#[test]
fn a_shared_cgroup_records_the_processes_own_working_set() {
    let mut h = TargetHistory::new("app", 720);
    let mut s = with_cgroup(sample("app", 30 << 20, 1.0), 540 << 20, Some(1 << 30), 0);
    s.cgroups[0].shared = Some(true);
    h.record(T0, &s, 5.0);
    let p = h.raw.newest().unwrap();
    assert_eq!(p.get(Signal::WorkingSet), Some(30.0 * MIB));
    // The limit is the cgroup's: it still bounds the target.
    assert_eq!(p.memory_limit_bytes(), Some(1024.0 * MIB));
    s.cgroups[0].shared = Some(false);
    h.record(T0 + 5.0, &s, 5.0);
    assert_eq!(
        h.raw.newest().unwrap().get(Signal::WorkingSet),
        Some(540.0 * MIB)
    );
}

#[test]
fn an_oom_kill_is_recorded_with_the_limit_in_force_even_while_down() {
    let mut h = TargetHistory::new("app", 720);
    let limit = Some(512 << 20);
    h.record(
        T0,
        &with_cgroup(sample("app", 1, 1.0), 500 << 20, limit, 3),
        5.0,
    );
    assert!(
        h.ooms.is_empty(),
        "kills before the first sample are not events"
    );
    let mut s = with_cgroup(sample("app", 1, 1.0), 0, limit, 4);
    s.up = false;
    h.record(T0 + 5.0, &s, 5.0);
    assert_eq!(
        h.ooms.iter().copied().collect::<Vec<_>>(),
        vec![OomEvent {
            t: T0 + 5.0,
            kills: 1,
            limit_bytes: Some(512.0 * MIB),
            working_set_bytes: Some(500.0 * MIB),
        }]
    );
    // Without cgroup_labels the counter is the target's: a kill counted as the target moved to
    // a new cgroup (read once more in the old one) is an event.
    let mut moved = with_cgroup(sample("app", 1, 1.0), 0, limit, 5);
    moved.cgroups[0].path = "/app-2".into();
    h.record(T0 + 7.0, &moved, 5.0);
    assert_eq!(h.ooms.back().map(|o| (o.t, o.kills)), Some((T0 + 7.0, 1)));
    assert_eq!(h.ooms.len(), 2);
    // With cgroup_labels, a cgroup joining the sum is a new baseline, not OOM kills.
    let mut s2 = with_cgroup(sample("app", 1, 1.0), 0, limit, 5);
    s2.cgroup_labels = true;
    let mut other = s2.cgroups[0].clone();
    other.path = "/app/other".into();
    other.oom_kills = Some(7);
    s2.cgroups.push(other);
    h.record(T0 + 10.0, &s2, 5.0);
    assert_eq!(h.ooms.len(), 2);
    // Forgotten after 14 days.
    h.record(
        T0 + 15.0 * 86_400.0,
        &with_cgroup(sample("app", 1, 1.0), 0, limit, 5),
        5.0,
    );
    assert!(h.ooms.is_empty());
}

/// Two minutes after the first sample: the advice states the span sampled, not "the last 24 h",
/// and the recommendations JSON says how much of the 24 h the figures cover.
#[test]
fn advice_right_after_start_states_the_span_sampled() {
    let mut h = TargetHistory::new("app", 720);
    let base = T0 + 40.0; // a minute boundary
    // 121 ticks a second apart: minute 0 (threads 1,500), minute 1, and 1 tick of minute 2.
    let mut last = sample("app", 50 << 20, 0.0);
    for i in 0..=120 {
        last = sample("app", 50 << 20, f64::from(i) * 0.01);
        last.threads = Some(if i < 60 { 1500 } else { 8 });
        h.record(base + f64::from(i), &last, 1.0);
    }
    let v = h.view(base + 120.0, &last, &HistoryConfig::default());
    let threads = v
        .recommendation
        .advice
        .iter()
        .find(|a| a.rule == "threads_over_1000")
        .unwrap();
    assert!(
        threads
            .text
            .starts_with("Threads were above 1,000 in 33 % of the 3 minutes sampled (peak 1,500)."),
        "{}",
        threads.text
    );
    let json: serde_json::Value =
        serde_json::from_slice(&view::TargetJson::render(&v).recommendations).unwrap();
    assert_eq!(json["last24h"]["coveredSeconds"], 120.0);
    assert_eq!(json["last24h"]["windowSeconds"], 86_400.0);
    // A day later (one tick a minute), the window is covered: "of the last 24 h".
    for m in 1..=1440 {
        last = sample("app", 50 << 20, 2.0 + f64::from(m));
        last.threads = Some(if m % 2 == 0 { 1500 } else { 8 });
        h.record(base + 120.0 + f64::from(m) * 60.0, &last, 60.0);
    }
    let now = base + 120.0 + 1440.0 * 60.0;
    let v = h.view(now, &last, &HistoryConfig::default());
    let json: serde_json::Value =
        serde_json::from_slice(&view::TargetJson::render(&v).recommendations).unwrap();
    assert_eq!(json["last24h"]["coveredSeconds"], 86_400.0);
    let text = &v.recommendation.advice[0].text;
    assert!(
        text.contains("% of the minutes of the last 24 h (peak 1,500)"),
        "{text}"
    );
}

#[test]
fn minutes_hours_and_days_roll() {
    let mut h = TargetHistory::new("app", 720);
    // Three hours at 5 s from an hour boundary, working set = minute number (MiB).
    let start = (T0 / 3600.0).ceil() * 3600.0;
    for i in 0..(3 * 720) {
        let t = start + f64::from(i) * 5.0;
        let minute = (f64::from(i) * 5.0 / 60.0).floor();
        h.push(point(t, (minute + 1.0) * MIB, 0.25), 5.0);
    }
    assert_eq!(h.minutes.len(), 179, "the 180th minute is still open");
    assert_eq!(h.hours.len(), 2);
    let m0 = h.minutes.iter().next().unwrap();
    assert_eq!(f64::from(m0.start), start);
    assert_eq!(m0.samples, 12);
    assert_eq!(m0.stat(Signal::WorkingSet).mean, MIB as f32);
    let h0 = h.hours.iter().next().unwrap();
    assert_eq!(h0.samples, 720);
    let ws = h0.stat(Signal::WorkingSet);
    assert_eq!((ws.min, ws.max), (MIB as f32, 60.0 * MIB as f32));
    assert_eq!(ws.mean, 30.5 * MIB as f32);
    // Sampled time: every tick after the first adds 5 s.
    let sampled: f64 = h.days.iter().map(|d| d.sampled_seconds).sum();
    assert_eq!(sampled, (3.0 * 720.0 - 1.0) * 5.0);
    let minutes: u64 = h.days.iter().map(|d| d.cpu_minutes.total()).sum();
    assert_eq!(minutes, 179);
    // A tick 30 s later counts at most two intervals.
    h.push(point(start + 3.0 * 3600.0 + 30.0, MIB, 0.25), 5.0);
    let sampled2: f64 = h.days.iter().map(|d| d.sampled_seconds).sum();
    assert_eq!(sampled2 - sampled, 10.0);
}

/// A target whose working set grows `rate` B/s for `hours` at a 5 s interval, with a cgroup
/// limit of 2 GiB.
fn leaking(rate: f64, hours: f64) -> TargetHistory {
    let mut h = TargetHistory::new("app", 720);
    let n = (hours * 720.0) as usize;
    for i in 0..n {
        let t = T0 + i as f64 * 5.0;
        let mut p = point(t, 300.0 * MIB + rate * (t - T0), 0.2);
        p.memory_limit_kib = 2 * 1024 * 1024;
        h.push(p, 5.0);
    }
    h
}

fn view_of(h: &TargetHistory, config: &HistoryConfig) -> TargetView {
    let now = h.raw.newest().unwrap().t;
    h.view(now, &sample("app", 1, 1.0), config)
}

#[test]
fn trends_use_raw_points_then_minutes_and_find_the_leak() {
    let rate = 10.0 * MIB / 3600.0; // 10 MiB an hour
    let h = leaking(rate, 7.0);
    let v = view_of(&h, &HistoryConfig::default());
    let t = &v.trends;
    let sources: Vec<&str> = t.memory.iter().map(|w| w.source).collect();
    assert_eq!(sources, vec!["raw", "raw", "minutes"]);
    assert!(t.memory.iter().all(|w| w.covered));
    for w in &t.memory {
        let g = w.growth_per_second.unwrap();
        assert!(
            (g - rate).abs() < 0.01 * rate,
            "{}: {g} vs {rate}",
            w.window
        );
    }
    let leak = t.leak.as_ref().unwrap();
    assert_eq!(leak.window, "6h");
    assert!(leak.suspected, "{:#?}", leak.evidence);
    // Time to the 2 GiB limit from the current working set at the fastest window's rate.
    let ws = 300.0 * MIB + rate * (7.0 * 3600.0 - 5.0);
    let ttl = t.time_to_limit_seconds.unwrap();
    let want = (2048.0 * MIB - ws) / rate;
    assert!((ttl - want).abs() < 0.01 * want, "{ttl} vs {want}");
    // Flat threads and fds.
    assert!(t.threads.iter().all(|w| w.growth_per_second == Some(0.0)));
    assert!(t.open_fds.iter().all(|w| w.growth_per_second == Some(0.0)));
    // Recommendations after 7 h, which span midnight UTC (T0 + 6,400 s): two daily peaks.
    let r = &v.recommendation;
    assert_eq!(r.status, "ok");
    let kib = |b: f64| (b / 1024.0).floor() * 1024.0;
    let peak1 = kib(300.0 * MIB + rate * 6395.0);
    let peak2 = kib(ws);
    let peaks: Vec<f64> = r.basis.daily_peaks.iter().map(|d| d.bytes).collect();
    assert_eq!(peaks, vec![peak1, peak2]);
    assert_eq!(r.basis.daily_peaks[0].day, "2023-11-14");
    let p90 = peak1 + 0.9 * (peak2 - peak1);
    let req = r.memory_request.as_ref().unwrap();
    assert!(
        (req.exact - p90 * 1.15).abs() < 1e-3,
        "{} vs {}",
        req.exact,
        p90 * 1.15
    );
    assert_eq!(req.value, (p90 * 1.15 / MIB).ceil() * MIB);
    assert_eq!(
        r.memory_limit.as_ref().unwrap().value,
        (peak2 * 1.2 / MIB).ceil() * MIB
    );
    let cpu = r.cpu_request.as_ref().unwrap();
    assert!(
        (0.2 * 1.15..0.2 * 1.15 * 1.05).contains(&cpu.exact),
        "{}",
        cpu.exact
    );
    assert_eq!(r.current.memory_limit_bytes, Some(2048.0 * MIB));
    assert!(r.advice.iter().any(|a| a.rule == "memory_leak"));
    assert!(r.advice.iter().any(|a| a.rule == "memory_limit_oversized"));
    // 1 h stats from raw ticks, 24 h from minutes.
    let ws1h = v.stats_1h[Signal::WorkingSet.index()].1.unwrap();
    assert_eq!(ws1h.samples, 721);
    assert_eq!(ws1h.max, kib(ws));
    let ws24 = v.stats_24h[Signal::WorkingSet.index()].1.unwrap();
    assert_eq!(ws24.samples, 421, "7 h from :13:20 touch 421 minutes");
    assert_eq!(ws24.min, 300.0 * MIB);
}

#[test]
fn not_enough_history_and_uncovered_windows_before_three_hours() {
    let h = leaking(1000.0, 0.5);
    let v = view_of(&h, &HistoryConfig::default());
    assert_eq!(v.recommendation.status, "not_enough_history");
    let covered: Vec<bool> = v.trends.memory.iter().map(|w| w.covered).collect();
    assert_eq!(covered, vec![true, false, false]);
    assert_eq!(v.trends.leak.as_ref().unwrap().window, "15m");
    // A shorter min_history from the config.
    let config = HistoryConfig {
        min_history: Duration::from_secs(600),
        ..Default::default()
    };
    assert_eq!(view_of(&h, &config).recommendation.status, "ok");
}

#[test]
fn a_flat_target_has_no_leak_and_no_time_to_limit() {
    let h = leaking(0.0, 2.0);
    let v = view_of(&h, &HistoryConfig::default());
    assert_eq!(v.trends.leak.as_ref().map(|l| l.suspected), Some(false));
    assert_eq!(v.trends.time_to_limit_seconds, None);
    assert_eq!(v.trends.memory[0].growth_per_second, Some(0.0));
}

#[test]
fn sparklines_cover_the_last_hour() {
    let h = leaking(1000.0, 2.0);
    let v = view_of(&h, &HistoryConfig::default());
    let s = &v.sparklines;
    assert_eq!(s.span_seconds, 3600.0);
    let ws = s.get(Signal::WorkingSet);
    assert_eq!(ws.len(), SPARK_POINTS);
    assert!(ws.iter().all(Option::is_some));
    assert!(ws.windows(2).all(|w| w[0] <= w[1]));
    assert!(
        s.get(Signal::CpuCores)
            .iter()
            .all(|c| *c == Some(f64::from(0.2_f32)))
    );
}

#[test]
fn the_store_follows_the_target_list() {
    let mut store = HistoryStore::new(HistoryConfig::default(), Duration::from_secs(5));
    store.record(T0, &[sample("a", 1 << 20, 1.0), sample("b", 1 << 20, 1.0)]);
    store.record(
        T0 + 5.0,
        &[sample("b", 1 << 20, 1.0), sample("c", 1 << 20, 1.0)],
    );
    let names: Vec<&str> = store.targets().iter().map(|t| t.name()).collect();
    assert_eq!(names, vec!["b", "c"]);
    assert_eq!(store.targets()[0].raw.len(), 2, "b kept its history");
    assert_eq!(store.targets()[1].raw.len(), 1);
    store.reconfigure(HistoryConfig::default(), Duration::from_secs(60));
    assert_eq!(store.targets()[0].raw.capacity(), ring::RAW_MIN_POINTS);
}

#[test]
fn memory_is_bounded_after_fourteen_days() {
    // One target, 15 days at a 5 s interval: every ring is full and stays at its bound.
    let mut h = TargetHistory::new("app", ring::raw_capacity(5.0));
    // A new target holds the raw ring's first chunk, no more: the rings grow as they fill,
    // not allocated whole up front (which was 240 KiB).
    let before = h.heap_bytes();
    assert!(before < 8192, "a new target takes {before} B");
    h.push(point(T0, 300.0 * MIB, 0.1), 5.0);
    let first = h.heap_bytes();
    assert!(first < 16 * 1024, "one point takes {first} B");
    for i in 1..(15 * 17_280) {
        h.push(point(T0 + f64::from(i) * 5.0, 300.0 * MIB, 0.1), 5.0);
    }
    assert_eq!(h.minutes.len(), MINUTE_SLOTS);
    assert_eq!(h.hours.len(), HOUR_SLOTS);
    assert_eq!(h.days.len(), DAY_SLOTS);
    let after = h.heap_bytes();
    let bound = max_heap_bytes_per_target(Duration::from_secs(5));
    assert!(after <= bound, "{after} > {bound}");
    // Full rings hold exactly their bound: growth by doubling left no slack.
    assert_eq!(
        h.minutes.heap_bytes(),
        MINUTE_SLOTS * std::mem::size_of::<ring::Slot>()
    );
    assert_eq!(
        h.hours.heap_bytes(),
        HOUR_SLOTS * std::mem::size_of::<ring::Slot>()
    );
    assert_eq!(h.days.capacity(), DAY_SLOTS);
}

/// A target whose app reports `base + leak_per_hour × hours` goroutines plus request bursts (up
/// to 40 more for a tick in three), for 7 h at a 5 s interval, recorded from samples.
fn goroutines(leak_per_hour: f64) -> (TargetHistory, TargetSample) {
    let mut h = TargetHistory::new("app", 720);
    let mut s = sample("app", 100 * MIB as u64, 1.0);
    for i in 0..7 * 720 {
        let t = T0 + f64::from(i) * 5.0;
        let burst = if i % 3 == 0 { f64::from(i % 41) } else { 0.0 };
        let tasks = 30.0 + leak_per_hour * (t - T0) / 3600.0 + burst;
        s.runtime = Some(crate::runtime::RuntimeSample {
            figures: Some(crate::runtime::RuntimeFigures {
                runtime: Some(crate::runtime::Runtime::Go),
                tasks: Some(tasks),
                heap_bytes: Some(8e6),
                ..Default::default()
            }),
            ..Default::default()
        });
        s.counters.cpu_user_seconds_total = Some(f64::from(i) * 0.5);
        h.record(t, &s, 5.0);
    }
    (h, s)
}

#[test]
fn a_steady_rise_of_goroutines_is_a_leak_and_bursts_are_not() {
    let config = HistoryConfig::default();
    let (h, s) = goroutines(30.0);
    let now = h.raw.newest().unwrap().t;
    let v = h.view(now, &s, &config);
    let p = v.latest.unwrap();
    // 8e6 B kept in whole KiB: 7812.5 KiB rounds half up to 7813.
    assert_eq!(p.get(Signal::RuntimeHeap), Some(7813.0 * 1024.0));
    let leak = v.trends.tasks_leak.as_ref().unwrap();
    assert_eq!(leak.window, "6h");
    assert!(leak.suspected, "{:#?}", leak.evidence);
    // The floor (the minimum between bursts) grows 30 an hour.
    let g = leak.growth_bytes_per_second.unwrap() * 3600.0;
    assert!((g - 30.0).abs() < 1.0, "{g}");
    assert!(
        leak.evidence[0].contains("needed max(10,"),
        "{}",
        leak.evidence[0]
    );
    // Memory is flat: no memory leak on the same target.
    assert_eq!(v.trends.leak.as_ref().map(|l| l.suspected), Some(false));

    let (h, s) = goroutines(0.0);
    let v = h.view(h.raw.newest().unwrap().t, &s, &config);
    let leak = v.trends.tasks_leak.as_ref().unwrap();
    assert!(!leak.suspected, "{:#?}", leak.evidence);
    assert_eq!(
        v.stats_1h[Signal::RuntimeTasks.index()]
            .1
            .as_ref()
            .unwrap()
            .min,
        30.0
    );
}
