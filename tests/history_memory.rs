//! Memory of the history after a simulated 14 days (plus one, so every ring has wrapped) for 10
//! targets: the rings are fed directly with a tick every 5 s (no 14-day sleep), then the
//! structure's size and the process's resident memory are measured against the bound that
//! docs/history-and-recommendations.md states. The views a tick publishes (JSON fragments and
//! the status page) are measured too.
//! One test in its own binary, so the resident-memory delta is this test's alone.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::sync::Arc;
use std::time::Duration;

use sidewatch::histogram::HistogramValues;
use sidewatch::history::ring::{self, Point};
use sidewatch::history::{HistoryConfig, HistoryStore, max_heap_bytes_per_target};
use sidewatch::sample::TargetSample;
use sidewatch::snapshot::Snapshot;

const MIB: f64 = 1024.0 * 1024.0;
const TARGETS: usize = 10;
const INTERVAL: f64 = 5.0;
/// The bounds docs/history-and-recommendations.md states (KiB per target), at the default 5 s interval and at ≤ 1 s.
const README_BOUND_5S_KIB: usize = 276;
const README_BOUND_1S_KIB: usize = 434;
/// What one target's published views may take (JSON fragments + its part of the page).
const README_VIEWS_KIB: usize = 32;

fn vm_rss_kib() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn sample(i: usize) -> TargetSample {
    TargetSample {
        name: format!("service-{i}"),
        labels: vec![
            ("namespace".into(), "production".into()),
            ("pod".into(), format!("service-{i}-7d9f8b6c5d-x2x4q")),
        ],
        up: true,
        processes: 1,
        primary_pid: Some(1000 + i as i32),
        primary_comm: Some("server".into()),
        resident_memory_bytes: Some(300 << 20),
        threads: Some(40),
        open_fds: Some(100),
        ..Default::default()
    }
}

#[test]
fn fourteen_days_of_ten_targets_stay_within_the_stated_bound() {
    let per_target_bound = max_heap_bytes_per_target(Duration::from_secs(5));
    assert!(
        per_target_bound <= README_BOUND_5S_KIB * 1024,
        "the computed bound {per_target_bound} B exceeds README's {README_BOUND_5S_KIB} KiB"
    );
    let worst = max_heap_bytes_per_target(Duration::from_secs(1));
    assert!(
        worst <= README_BOUND_1S_KIB * 1024,
        "the computed bound at 1 s {worst} B exceeds README's {README_BOUND_1S_KIB} KiB"
    );
    // Same at the shortest interval: the raw ring is capped.
    assert_eq!(max_heap_bytes_per_target(Duration::from_millis(100)), worst);

    eprintln!(
        "bound per target: {per_target_bound} B at 5 s, {worst} B at 1 s or less (a point is {} B, a slot {} B)",
        std::mem::size_of::<Point>(),
        std::mem::size_of::<ring::Slot>()
    );
    let rss_before = vm_rss_kib();
    let mut store = HistoryStore::new(HistoryConfig::default(), Duration::from_secs(5));
    let samples: Vec<TargetSample> = (0..TARGETS).map(sample).collect();
    let t0 = 1_700_000_000.0;
    store.record(t0, &samples);
    let ticks = 15 * 86_400 / INTERVAL as usize;
    for (k, h) in store.targets_mut().iter_mut().enumerate() {
        for i in 1..ticks {
            let t = t0 + i as f64 * INTERVAL;
            // A daily sawtooth between 200 and 400 MiB with a different phase per target.
            let phase = ((t / 86_400.0) + k as f64 / 10.0).fract();
            let ws = (200.0 + 200.0 * phase) * MIB;
            h.push(
                Point {
                    t,
                    cpu_cores: (0.1 + 0.05 * phase) as f32,
                    working_set_kib: (ws / 1024.0) as u32,
                    rss_kib: (ws / 1024.0) as u32,
                    threads: 40,
                    open_fds: 100,
                    memory_limit_kib: 1024 * 1024,
                    cpu_limit_cores: 1.0,
                    oom_kills: 0,
                    restarts: 0,
                    runtime_tasks: 27,
                    runtime_heap_kib: (ws / 4096.0) as u32,
                    accept_queue_ratio: (0.5 * phase) as f32,
                },
                INTERVAL,
            );
        }
    }
    let heap = store.heap_bytes();
    let rss_after = vm_rss_kib();
    let bound = TARGETS * per_target_bound;
    eprintln!(
        "history of {TARGETS} targets after 15 days: {heap} B in the rings ({} KiB a target; bound {} KiB a target), resident memory +{} KiB",
        heap / TARGETS / 1024,
        per_target_bound / 1024,
        rss_after.saturating_sub(rss_before)
    );
    assert!(heap <= bound, "{heap} B > {bound} B");
    // Every ring is full: the figure is the steady state, not a snapshot of growth.
    for t in store.targets() {
        assert_eq!(t.heap_bytes(), store.targets()[0].heap_bytes());
    }
    // The process grew by the rings plus allocator overhead: within the bound plus 25 %.
    let grown = rss_after.saturating_sub(rss_before) * 1024;
    assert!(
        grown <= bound + bound / 4,
        "resident memory grew by {grown} B, more than the rings' bound {bound} B + 25 %"
    );

    let now = t0 + (ticks - 1) as f64 * INTERVAL;
    let views = Arc::new(store.views(now, &samples));
    // The recommendations see 15 days.
    let r = &views.targets[0].recommendation;
    assert_eq!(r.status, "ok");
    assert_eq!(r.basis.daily_peaks.len(), ring::DAY_SLOTS);

    // The views a tick publishes for these targets.
    let json: usize = views.json().iter().map(|j| j.len()).sum();
    let snapshot = Snapshot {
        timestamp_seconds: now,
        targets: samples.clone(),
        read_errors: vec![],
        ticks_total: ticks as u64,
        host_cpus: Some(2),
        tick_duration_seconds: HistogramValues::new(&[0.1]),
        scrapes_total: 0,
        exporter: None,
        version: "test",
        revision: "test",
        rules: None,
        history: Some(views.clone()),
        config_last_reload_successful: true,
        config_last_reload_success_timestamp_seconds: t0,
    };
    let page = sidewatch::status_page::render(&snapshot);
    let gz = sidewatch::expose::gzip(page.as_bytes()).len();
    eprintln!(
        "published views: JSON {json} B ({} KiB a target), status page {} B ({} KiB a target, {gz} B gzipped)",
        json / TARGETS / 1024,
        page.len(),
        page.len() / TARGETS / 1024
    );
    assert!(
        (json + page.len()) / TARGETS <= README_VIEWS_KIB * 1024,
        "views take {} B a target",
        (json + page.len()) / TARGETS
    );
}
