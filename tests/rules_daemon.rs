//! The rules engine inside the running daemon: alert and SLO families on `/metrics` (valid for
//! promtool), the `/api/v1/*` JSON views, the built-in defaults when the config has none, and a
//! SIGHUP reload that keeps the state of unchanged rules and SLOs.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use nix::sys::signal::Signal;
use serde_json::Value;

fn config(pid: i32, team: &str) -> String {
    format!(
        "interval: 200ms
targets:
  - name: app
    pid: {pid}
    labels: {{pod: web-0}}
rules:
  - alert: KeepsState
    signal: threads
    op: '>'
    value: 0
    for: 1h
  - alert: Changes
    signal: threads
    op: '>'
    value: 0
    for: 1h
    labels: {{team: {team}}}
  - alert: FiresNow
    signal: target_up
    op: '>='
    value: 1
    severity: info
    annotations:
      summary: '{{{{ $labels.target }}}} in {{{{ $labels.pod }}}} is up ({{{{ $value }}}})'
slos:
  - name: few_threads
    signal: threads
    op: '<'
    value: 100
    objective: 99.9%
    window: 1d
"
    )
}

fn json(d: &Daemon, path: &str) -> Value {
    let r = d.get(path);
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["status"], "success");
    v["data"].clone()
}

#[test]
fn rules_run_in_the_daemon_and_survive_a_reload() {
    let app = spawn(Command::new("sleep").arg("120").stdout(Stdio::null()));
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sidewatch.yml");
    std::fs::write(&cfg, config(app.pid(), "a")).unwrap();
    let d = Daemon::start(&["--config", cfg.to_str().unwrap()]);
    d.wait_until(Duration::from_secs(10), |d| {
        d.metrics()
            .get("sidewatch_slo_samples_total", &[("slo", "few_threads")])
            .is_some_and(|n| n >= 3.0)
    });
    let m = d.metrics();
    let alert = |name: &str, state: &str| {
        m.get(
            "sidewatch_alert",
            &[
                ("alertname", name),
                ("alertstate", state),
                ("target", "app"),
                ("pod", "web-0"),
            ],
        )
    };
    assert_eq!(alert("KeepsState", "pending"), Some(1.0));
    assert_eq!(alert("KeepsState", "firing"), None);
    assert_eq!(alert("FiresNow", "firing"), Some(1.0));
    let changes = m
        .samples
        .iter()
        .find(|(n, l, _)| n == "sidewatch_alert" && l["alertname"] == "Changes")
        .unwrap();
    assert_eq!(changes.1["team"], "a", "rule labels are on the series");
    assert_eq!(changes.1["severity"], "warning");
    let since = |m: &Metrics, name: &str| {
        m.get(
            "sidewatch_alert_active_since_seconds",
            &[("alertname", name), ("target", "app")],
        )
        .unwrap()
    };
    let keeps_since = since(&m, "KeepsState");
    let changes_since = since(&m, "Changes");
    let slo = |m: &Metrics, name: &str| m.get(name, &[("slo", "few_threads"), ("target", "app")]);
    assert_eq!(slo(&m, "sidewatch_slo_objective_ratio"), Some(0.999));
    assert_eq!(
        slo(&m, "sidewatch_slo_samples_total"),
        slo(&m, "sidewatch_slo_good_samples_total")
    );
    assert_eq!(
        slo(&m, "sidewatch_slo_error_budget_remaining_ratio"),
        Some(1.0)
    );
    assert_eq!(
        m.get(
            "sidewatch_slo_burn_rate",
            &[("slo", "few_threads"), ("window", "5m")]
        ),
        Some(0.0)
    );

    // promtool accepts the body with alert and SLO families.
    let promtool = require_tool("promtool", "prometheus");
    let out = run_with_stdin(promtool, &["check", "metrics"], &d.get("/metrics").body);
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // JSON views.
    let alerts = json(&d, "/api/v1/alerts");
    let fires = alerts["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["alertname"] == "FiresNow")
        .unwrap()
        .clone();
    assert_eq!(fires["state"], "firing");
    assert_eq!(fires["labels"]["severity"], "info");
    assert_eq!(fires["labels"]["pod"], "web-0");
    assert_eq!(fires["annotations"]["summary"], "app in web-0 is up (1)");
    assert_eq!(fires["value"], "1");
    assert!(fires["activeAt"].as_str().unwrap().ends_with('Z'));
    let slos = json(&d, "/api/v1/slos");
    assert_eq!(slos["slos"][0]["slo"], "few_threads");
    assert_eq!(slos["slos"][0]["objective"], 0.999);
    assert_eq!(slos["slos"][0]["errorBudgetRemaining"], 1.0);
    let rules = json(&d, "/api/v1/rules");
    assert_eq!(rules["defaults"]["rules"], false);
    assert_eq!(rules["rules"][0]["expr"], "sidewatch_process_threads > 0");
    assert_eq!(rules["rules"][0]["for"], "1h");
    assert_eq!(
        rules["slos"][0]["prometheusRules"][0]["record"],
        "sidewatch:slo_error_ratio:rate5m"
    );
    assert_eq!(d.get("/api/v1/nothing").status, 404);

    // Reload with one rule changed: the unchanged rule and SLO keep their state.
    let samples_before = slo(&d.metrics(), "sidewatch_slo_samples_total").unwrap();
    std::fs::write(&cfg, config(app.pid(), "b")).unwrap();
    d.proc.signal(Signal::SIGHUP);
    d.wait_until(Duration::from_secs(10), |d| {
        d.drain_log()
            .iter()
            .any(|l| l.contains("configuration reloaded"))
    });
    d.wait_until(Duration::from_secs(10), |d| {
        let m = d.metrics();
        m.get(
            "sidewatch_alert_active_since_seconds",
            &[("alertname", "Changes"), ("target", "app")],
        )
        .is_some_and(|s| s > changes_since)
    });
    let m = d.metrics();
    assert_eq!(
        since(&m, "KeepsState"),
        keeps_since,
        "unchanged rule lost its state"
    );
    assert!(since(&m, "Changes") > changes_since);
    let samples_after = slo(&m, "sidewatch_slo_samples_total").unwrap();
    assert!(
        samples_after > samples_before,
        "SLO counters were reset: {samples_before} then {samples_after}"
    );
}

#[test]
fn defaults_apply_without_rules_in_the_config() {
    let app = spawn(Command::new("sleep").arg("120").stdout(Stdio::null()));
    let d = Daemon::start(&[
        "--pid",
        &app.pid().to_string(),
        "--name",
        "app",
        "--interval",
        "200ms",
    ]);
    d.wait_until(Duration::from_secs(10), |d| {
        d.metrics()
            .get("sidewatch_slo_samples_total", &[("slo", "threads")])
            .is_some()
    });
    let rules = json(&d, "/api/v1/rules");
    assert_eq!(rules["defaults"]["rules"], true);
    assert_eq!(rules["defaults"]["slos"], true);
    assert_eq!(rules["rules"].as_array().unwrap().len(), 25);
    let m = d.metrics();
    // A sleep process meets the built-in thread objective. (Memory and CPU may come from the
    // cgroup sidewatch shares with the test, whose figures the test does not control.)
    let s = m
        .get("sidewatch_slo_samples_total", &[("slo", "threads")])
        .unwrap();
    let g = m
        .get("sidewatch_slo_good_samples_total", &[("slo", "threads")])
        .unwrap();
    assert!(s >= 1.0 && s == g, "threads: {g}/{s}");
    assert_eq!(
        m.get("sidewatch_slo_objective_ratio", &[("slo", "threads")]),
        Some(0.99)
    );
    // A sleep has no app metrics and no probe: the `tasks`, `availability`, `latency` and
    // `probe` SLOs count no sample for it and export nothing (an unknown signal, not a bad one).
    assert!(!m.samples.iter().any(|(n, l, _)| {
        n.starts_with("sidewatch_slo_")
            && l.get("slo").is_some_and(|s| {
                ["tasks", "availability", "latency", "probe"].contains(&s.as_str())
            })
    }));
    // Every alert is a documented built-in one; none about threads or being down for a sleep.
    let names: Vec<&str> = rules["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["alert"].as_str().unwrap())
        .collect();
    for (n, l, _) in &m.samples {
        if n == "sidewatch_alert" {
            assert!(names.contains(&l["alertname"].as_str()), "{l:?}");
            assert_ne!(l["alertname"], "SidewatchThreadsHigh");
            assert_ne!(l["alertname"], "SidewatchTargetDown");
            assert_ne!(l["alertname"], "SidewatchGoroutinesHigh");
            assert_ne!(l["alertname"], "SidewatchHeapHigh");
            assert_ne!(l["alertname"], "SidewatchLatencyHigh");
            assert_ne!(l["alertname"], "SidewatchErrorRateHigh");
            assert_ne!(l["alertname"], "SidewatchProbeFailing");
            // A sleep listens on nothing, and its namespace is the host's (overflows unknown).
            assert_ne!(l["alertname"], "SidewatchAcceptQueueFull");
            assert_ne!(l["alertname"], "SidewatchListenOverflows");
        }
    }
}
