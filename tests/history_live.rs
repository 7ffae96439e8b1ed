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

    // The JSON API: the leak's evidence, samples newest first, stats, errors.
    let json = |path: &str| {
        let r = d.get(path);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert_eq!(r.header("content-type"), Some("application/json"));
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["status"], "success");
        v["data"].clone()
    };
    let tr = json("/api/v1/trends?target=leak");
    assert_eq!(tr["leak"]["suspected"], true);
    assert_eq!(tr["leak"]["window"], "9s");
    let evidence: Vec<&str> = tr["leak"]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(evidence.len(), 3);
    assert!(
        evidence.iter().all(|e| e.contains("(holds)")),
        "{evidence:?}"
    );
    let w9 = &tr["memory_working_set_bytes"][2];
    assert_eq!(w9["window"], "9s");
    assert_eq!(w9["source"], "raw");
    assert_eq!(w9["covered"], true);
    // 12 segments; the oldest may be empty while the data reaches back 90 % of the window.
    assert!(w9["floors"].as_array().unwrap().len() >= 9);
    let st = json("/api/v1/trends?target=steady");
    assert_eq!(st["leak"]["suspected"], false);
    let samples = json("/api/v1/samples?target=steady&limit=5");
    let ts: Vec<f64> = samples["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["timestamp"].as_f64().unwrap())
        .collect();
    assert_eq!(ts.len(), 5);
    assert!(ts.windows(2).all(|w| w[0] > w[1]), "newest first: {ts:?}");
    let rss_now = vm_rss_bytes(steady.pid()) as f64;
    assert_eq!(
        samples["samples"][0]["memory_rss_bytes"].as_f64(),
        Some(rss_now)
    );
    let stats = json("/api/v1/stats?target=steady");
    let s1h = &stats["windows"]["1h"]["signals"]["memory_rss_bytes"];
    // A steady process's RSS still moves by a few pages (the interpreter frees and touches
    // memory): the window's max and median are its RSS within 1 %.
    let near = |v: Option<f64>| v.is_some_and(|v| (v - rss_now).abs() <= 0.01 * rss_now);
    assert!(
        s1h["max"].as_f64() >= Some(rss_now) && near(s1h["max"].as_f64()),
        "{s1h}"
    );
    assert!(near(s1h["p50"].as_f64()), "{s1h} vs {rss_now}");
    // A tick every 100 ms for over 8 s (some may be skipped on a busy machine).
    assert!(s1h["samples"].as_u64().unwrap() >= 40, "{s1h}");
    let targets = json("/api/v1/targets");
    assert_eq!(targets[0]["name"], "leak");
    assert_eq!(targets[0]["memoryLeakSuspected"], true);
    assert_eq!(targets[1]["memoryLeakSuspected"], false);
    let recs = json("/api/v1/recommendations?target=steady");
    assert_eq!(recs["status"], "ok");
    assert_eq!(recs["memoryRequest"]["rule"], "far_below_floor");
    assert!(recs["yaml"].as_str().unwrap().starts_with("resources:\n"));
    for (path, error) in [
        (
            "/api/v1/stats?target=nope",
            "unknown target \"nope\"; targets: \"leak\", \"steady\"",
        ),
        (
            "/api/v1/samples?target=leak&limit=99999",
            "limit must be a whole number from 1 to 3600, got \"99999\"",
        ),
        (
            "/api/v1/trends?window=1h",
            "unknown query parameter \"window\" for /api/v1/trends; allowed: target",
        ),
    ] {
        let r = d.get(path);
        assert_eq!(r.status, 400, "{path}");
        assert_eq!(r.header("content-type"), Some("application/json"));
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["error"], error);
    }
}

/// A child with `threads` extra threads holding `mib` MiB, leaking `leak_mib_s` MiB/s.
fn worker(mib: u32, threads: u32, leak_mib_s: f64) -> Proc {
    python(&format!(
        "\
import threading, time
ev = threading.Event()
for _ in range({threads}):
    threading.Thread(target=ev.wait, daemon=True).start()
base = b'z' * ({mib} * 1024 * 1024)
kept = []
t0 = time.monotonic()
print('ready', flush=True)
while True:
    want = int((time.monotonic() - t0) * {leak_mib_s} * 4)
    while len(kept) < want:
        kept.append(b'w' * (256 * 1024))
    time.sleep(0.05)
"
    ))
}

fn chromium(args: &[&str]) -> std::process::Output {
    let bin = require_tool("chromium", "chromium");
    let profile = tempfile::tempdir().unwrap();
    let mut p = spawn(
        Command::new(bin)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let mut stdout = Vec::new();
    let mut out = p.child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        std::io::Read::read_to_end(&mut out, &mut stdout).unwrap();
        stdout
    });
    let status = p
        .wait_timeout(Duration::from_secs(60))
        .expect("chromium did not finish within 60 s");
    let stdout = reader.join().unwrap();
    let mut stderr = Vec::new();
    std::io::Read::read_to_end(p.child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    std::process::Output {
        status,
        stdout,
        stderr,
    }
}

/// Seconds in a duration as the page writes it: `45s`, `1m 3s`.
fn seconds(text: &str) -> f64 {
    text.split(' ')
        .map(|part| {
            let (n, unit) = part.split_at(part.len() - 1);
            let n: f64 = n
                .parse()
                .unwrap_or_else(|_| panic!("not a duration: {text}"));
            n * match unit {
                "s" => 1.0,
                "m" => 60.0,
                "h" => 3600.0,
                _ => panic!("not a duration: {text}"),
            }
        })
        .sum()
}

/// The text of the first `<dd data-signal="NAME">` after `from` in `dom`.
fn figure<'a>(dom: &'a str, from: usize, name: &str) -> &'a str {
    let key = format!("data-signal=\"{name}\">");
    let at = from + dom[from..].find(&key).unwrap() + key.len();
    &dom[at..at + dom[at..].find('<').unwrap()]
}

fn threads_of(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn the_status_page_renders_in_a_real_browser() {
    let api = worker(60, 3, 0.0);
    let batch = worker(30, 12, 2.0);
    let odd = worker(10, 0, 0.0);
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("no-cgroupfs");
    std::fs::create_dir(&empty).unwrap();
    let hostile = "web<b>&\"x\"";
    let cfg = config(
        dir.path(),
        &format!(
            "interval: 200ms
cgroupfs: {}
targets:
  - {{name: api, pid: {}, labels: {{namespace: shop, pod: api-7d9f8-x2x4q}}}}
  - {{name: batch, pid: {}, labels: {{namespace: shop, pod: batch-0}}}}
  - name: '{hostile}'
    pid: {}
    labels: {{note: '<script>alert(1)</script>'}}
  - {{name: gone, pid_file: {}/none.pid}}
history:
  trend_windows: [3s, 6s]
  min_history: 4s
rules:
  - {{alert: BatchThreads, signal: threads, op: '>', value: 10, severity: warning, targets: [batch]}}
  - {{alert: GoneDown, signal: target_up, op: '<', value: 1, severity: critical, targets: [gone]}}
slos:
  - {{name: threads, signal: threads, op: '<', value: 12, objective: 99%, window: 1h}}
",
            empty.display(),
            api.pid(),
            batch.pid(),
            odd.pid(),
            dir.path().display()
        ),
    );
    let started = Instant::now();
    let d = Daemon::start(&["--config", cfg.to_str().unwrap()]);
    // Recommendations after 4 s of history, trends once 90 % of 6 s are covered.
    d.wait_until(Duration::from_secs(30), |d| {
        let m = d.metrics();
        m.get(
            "sidewatch_recommendation_memory_limit_bytes",
            &[("target", "batch")],
        )
        .is_some()
            && m.get(
                "sidewatch_memory_growth_bytes_per_second",
                &[("target", "batch"), ("window", "6s")],
            )
            .is_some()
    });
    let url = format!("http://{}/", d.addr);
    let page = d.get("/");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let size = page.body.len();
    let gz = http(d.addr, "GET", "/", &[("Accept-Encoding", "gzip")])
        .body
        .len();

    let before_dump = started.elapsed().as_secs_f64();
    let out = chromium(&["--dump-dom", &url]);
    let after_dump = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = String::from_utf8(out.stdout).unwrap();
    let m = d.metrics();
    // Every target has its card, its name (escaped: no markup from user input) and its SVGs.
    for name in ["api", "batch", "web&lt;b&gt;&amp;\"x\"", "gone"] {
        assert!(
            dom.contains(&format!("<span class=\"name\">{name}</span>")),
            "{name} missing from the DOM"
        );
    }
    assert!(!dom.contains("<script>alert(1)</script>"));
    assert!(!dom.contains("<b>&amp;"));
    assert!(dom.contains("note=&lt;script&gt;alert(1)&lt;/script&gt;"));
    let cards: Vec<usize> = dom
        .match_indices("<section class=\"card\"")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(cards.len(), 4);
    for (i, w) in cards.iter().enumerate() {
        let end = cards.get(i + 1).copied().unwrap_or(dom.len());
        let card = &dom[*w..end];
        if i < 3 {
            assert_eq!(card.matches("<svg").count(), 4, "card {i}: four sparklines");
            assert!(
                card.contains("<path d=\"M"),
                "card {i} has a drawn sparkline"
            );
        } else {
            assert!(card.contains("badge down"), "gone is down");
        }
    }
    // Values: threads exactly as the kernel counts them, memory as /metrics reports it.
    for (name, p, card) in [("api", &api, cards[0]), ("batch", &batch, cards[1])] {
        assert_eq!(
            figure(&dom, card, "threads"),
            threads_of(p.pid()).to_string(),
            "{name} threads"
        );
        let shown = figure(&dom, card, "memory_working_set_bytes");
        let (num, unit) = shown.split_once(' ').unwrap();
        assert_eq!(unit, "MiB", "{name}: {shown}");
        let shown_bytes: f64 = num.parse::<f64>().unwrap() * 1048576.0;
        let rss = m
            .get(
                "sidewatch_process_resident_memory_bytes",
                &[("target", name)],
            )
            .unwrap();
        assert!(
            (shown_bytes - rss).abs() < 0.05 * rss,
            "{name}: page {shown}, metrics {rss}"
        );
    }
    // Seconds after start, the budget of the 1h SLO (shown from 6 min sampled) is withheld and
    // the page says how long was sampled: within the time this test waited for the page.
    let batch_card = &dom[cards[1]..cards[2]];
    let table = &batch_card[batch_card.find("SLO error budgets").unwrap()..];
    let row = &table[table.find("<tr><td>threads</td>").unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    let key = "not enough data yet (";
    let at = row
        .find(key)
        .unwrap_or_else(|| panic!("budget shown: {row}"))
        + key.len();
    let shown = seconds(&row[at..at + row[at..].find(" of 1h sampled)").unwrap()]);
    assert!(
        (before_dump - 3.0..=after_dump + 0.5).contains(&shown),
        "page: {shown} s sampled; the test waited {before_dump:.1}..{after_dump:.1} s: {row}"
    );
    assert_eq!(row.matches('%').count(), 1, "only the objective: {row}");
    // The JSON gives the figures with the span they cover.
    let slos: serde_json::Value = serde_json::from_str(&d.get("/api/v1/slos").text()).unwrap();
    let batch_slo = slos["data"]["slos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["target"] == "batch")
        .unwrap();
    let covered = batch_slo["coveredSeconds"].as_f64().unwrap();
    assert!(covered >= shown - 0.5 && covered <= started.elapsed().as_secs_f64());
    assert_eq!(batch_slo["errorBudgetMeaningful"], false);
    assert!(batch_slo["errorBudgetRemaining"].is_number(), "{batch_slo}");
    // Firing alerts, SLO budgets and recommendations are on the page.
    assert!(dom.contains("<b>BatchThreads</b>"));
    assert!(dom.contains("<b>GoneDown</b>"));
    assert!(dom.contains("SLO error budgets"));
    assert!(dom.contains("Recommendation</h3><table>"));
    assert!(dom.contains("resources:\n  requests:"));

    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let png = artifacts.join("status-page.png");
    let _ = std::fs::remove_file(&png);
    let out = chromium(&[
        &format!("--screenshot={}", png.display()),
        "--window-size=1280,900",
        &url,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert!(
        bytes.len() > 20_000,
        "a screenshot of a blank page? {} B",
        bytes.len()
    );
    // The whole page too, for people looking at the artefacts.
    let full = artifacts.join("status-page-full.png");
    let out = chromium(&[
        &format!("--screenshot={}", full.display()),
        "--window-size=1280,1700",
        &url,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "status page: {size} B ({gz} B gzipped) for 4 targets; screenshot {} ({} B)",
        png.display(),
        bytes.len()
    );
}

/// A memory cgroup made by the test under its own (v1 `memory` hierarchy, or v2 when its
/// parent delegates `memory`); dropping kills what is in it and removes it.
struct MemoryCgroup {
    dir: PathBuf,
    v2: bool,
}

impl MemoryCgroup {
    fn create(limit_bytes: u64) -> MemoryCgroup {
        assert!(
            std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap()) == 0,
            "this test creates a memory cgroup and must run as root (CI does): run scripts/test as root or with sudo"
        );
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let mut found = None;
        for line in mounts.lines() {
            let (left, right) = line.split_once(" - ").unwrap();
            let l: Vec<&str> = left.split(' ').collect();
            let r: Vec<&str> = right.split(' ').collect();
            let mount = PathBuf::from(l[4]);
            if r[0] == "cgroup" && r[2].split(',').any(|o| o == "memory") {
                let path = own
                    .lines()
                    .find_map(|o| {
                        let mut f = o.splitn(3, ':');
                        let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
                        ctrls
                            .split(',')
                            .any(|c| c == "memory")
                            .then(|| path.to_string())
                    })
                    .unwrap();
                found = Some((mount.join(path.trim_start_matches('/')), false));
                break;
            }
            if r[0] == "cgroup2" {
                let path = own.lines().find_map(|o| o.strip_prefix("0::")).unwrap();
                let parent = mount.join(path.trim_start_matches('/'));
                let delegated = std::fs::read_to_string(parent.join("cgroup.subtree_control"))
                    .unwrap_or_default()
                    .split_whitespace()
                    .any(|c| c == "memory");
                if delegated {
                    found = Some((parent, true));
                }
            }
        }
        let (parent, v2) = found.expect(
            "no memory cgroup hierarchy to create a test cgroup in (a v1 `memory` mount, or a v2 parent delegating `memory`)",
        );
        let dir = parent.join(format!("sidewatch-history-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        let cg = MemoryCgroup { dir, v2 };
        let file = if v2 {
            "memory.max"
        } else {
            "memory.limit_in_bytes"
        };
        std::fs::write(cg.dir.join(file), limit_bytes.to_string()).unwrap();
        cg
    }

    /// `sh` joins the cgroup, then execs the program (no code between fork and exec here).
    fn command(&self, program: &Path, args: &[&str]) -> Command {
        let mut c = Command::new("/bin/sh");
        c.arg("-c")
            .arg("echo $$ > \"$1\" || exit 97; shift; exec \"$@\"")
            .arg("sh")
            .arg(self.dir.join("cgroup.procs"))
            .arg(program)
            .args(args);
        c
    }
}

impl Drop for MemoryCgroup {
    fn drop(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let pids: Vec<i32> = std::fs::read_to_string(self.dir.join("cgroup.procs"))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect();
            if pids.is_empty() || Instant::now() > deadline {
                break;
            }
            for p in pids {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(p),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        while std::fs::remove_dir(&self.dir).is_err()
            && self.dir.exists()
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn check_exposition(d: &Daemon) {
    let promtool = require_tool("promtool", "prometheus");
    let out = run_with_stdin(promtool, &["check", "metrics"], &d.get("/metrics").body);
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let om = http(
        d.addr,
        "GET",
        "/metrics",
        &[("Accept", "application/openmetrics-text; version=1.0.0")],
    );
    let script = "import sys\nfrom prometheus_client.openmetrics.parser import text_string_to_metric_families as p\nnames = {f.name for f in p(sys.stdin.read())}\nprint(' '.join(sorted(n for n in names if 'growth' in n or 'leak' in n or 'limit_seconds' in n or 'time_to' in n or 'recommendation' in n)))\n";
    let out = run_with_stdin("/usr/bin/python3", &["-c", script], &om.body);
    assert!(
        out.status.success(),
        "the OpenMetrics parser (python3-prometheus-client) rejected the body: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "sidewatch_memory_growth_bytes_per_second sidewatch_memory_leak_suspected sidewatch_memory_time_to_limit_seconds sidewatch_open_fds_growth_per_second sidewatch_recommendation_cpu_request_cores sidewatch_recommendation_memory_limit_bytes sidewatch_recommendation_memory_request_bytes sidewatch_threads_growth_per_second"
    );
}

#[test]
fn time_to_the_limit_of_a_real_memory_cgroup() {
    const LIMIT: u64 = 1 << 30;
    let cg = MemoryCgroup::create(LIMIT);
    let py = require_tool("python3", "python3");
    let mut leak = spawn(
        cg.command(&py, &["-c", LEAK])
            .stdin(Stdio::null())
            .stdout(Stdio::piped()),
    );
    let mut line = String::new();
    BufReader::new(leak.child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "ready\n");
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &format!(
            "interval: 100ms
targets:
  - {{name: leak, pid: {}, labels: {{pod: leak-0}}}}
history:
  trend_windows: [3s, 6s, 9s]
  min_history: 5s
",
            leak.pid()
        ),
    );
    let d = Daemon::start(&["--config", cfg.to_str().unwrap()]);
    // Until every window is covered (9 s), the leak rule runs on the longest covered one.
    d.wait_until(Duration::from_secs(30), |d| {
        let m = d.metrics();
        m.get("sidewatch_memory_leak_suspected", &[("target", "leak")]) == Some(1.0)
            && m.get(
                "sidewatch_memory_growth_bytes_per_second",
                &[("target", "leak"), ("window", "9s")],
            )
            .is_some()
    });
    let m = d.metrics();
    let t = [("target", "leak")];
    let ws = m
        .get("sidewatch_cgroup_memory_working_set_bytes", &t)
        .unwrap();
    assert_eq!(
        m.get("sidewatch_cgroup_memory_limit_bytes", &t),
        Some(LIMIT as f64)
    );
    let ttl = m.get("sidewatch_memory_time_to_limit_seconds", &t).unwrap();
    let want = (LIMIT as f64 - ws) / LEAK_BYTES_PER_SECOND;
    eprintln!(
        "time to the 1 GiB limit: reported {ttl:.1} s, expected {want:.1} s at 20 MiB/s from {:.0} MiB",
        ws / 1048576.0
    );
    assert!(
        (ttl - want).abs() <= 0.2 * want,
        "time to the limit {ttl} s; at the true rate {want} s"
    );
    // The working set the trend reads is the cgroup's, whose growth is the leak's.
    let g = m
        .get(
            "sidewatch_memory_growth_bytes_per_second",
            &[("target", "leak"), ("window", "9s")],
        )
        .unwrap();
    assert!(
        (g - LEAK_BYTES_PER_SECOND).abs() <= 0.2 * LEAK_BYTES_PER_SECOND,
        "{g}"
    );
    // The current limit is in the recommendation, and the families pass promtool and the
    // strict OpenMetrics parser with every history family present.
    let r = d.get("/api/v1/recommendations?target=leak");
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["data"]["current"]["memoryLimitBytes"], LIMIT as f64);
    assert_eq!(
        v["data"]["current"]["memoryRequestBytes"],
        serde_json::Value::Null
    );
    check_exposition(&d);
    eprintln!(
        "(cgroup {} v{})",
        cg.dir.display(),
        if cg.v2 { 2 } else { 1 }
    );
}
