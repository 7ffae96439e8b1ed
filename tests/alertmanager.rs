//! `alerts/alertmanager.example.yml` checked by the real Alertmanager tools (Debian package
//! `prometheus-alertmanager`): `amtool check-config` accepts it, `amtool config routes test`
//! routes each severity to its receiver, and a running Alertmanager loaded with it inhibits
//! exactly the alerts the file says: the warning level of an alert while its critical level
//! fires for the same target, and every other alert of a target that is down.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::stack::*;
use common::*;
use serde_json::{Value, json};

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("alerts/alertmanager.example.yml")
}

fn amtool(args: &[&str]) -> String {
    let o = Command::new(require_tool("amtool", "prometheus-alertmanager"))
        .args(args)
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "amtool {args:?} failed:\n{all}");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn amtool_accepts_the_example_and_routes_by_severity() {
    let file = example();
    let file = file.to_str().unwrap();
    let out = amtool(&["check-config", file]);
    assert!(out.contains("SUCCESS"), "{out}");
    assert!(out.contains(" - 2 inhibit rules"), "{out}");
    assert!(out.contains(" - 4 receivers"), "{out}");

    let cfg = format!("--config.file={file}");
    for (labels, receiver) in [
        (
            &[
                "alertname=SidewatchMemoryHigh",
                "severity=critical",
                "target=api",
            ][..],
            "pager",
        ),
        (
            &[
                "alertname=SidewatchMemoryHigh",
                "severity=warning",
                "target=api",
            ],
            "ticket",
        ),
        (
            &["alertname=ApiBusy", "severity=info", "target=api"],
            "chat",
        ),
        (&["alertname=SomethingElse"], "default"),
    ] {
        let mut args = vec!["config", "routes", "test", cfg.as_str()];
        args.extend_from_slice(labels);
        assert_eq!(amtool(&args).trim(), receiver, "{labels:?}");
    }
}

/// An alert as Prometheus sends it to Alertmanager's API.
fn alert(labels: &[(&str, &str)]) -> Value {
    let mut l: BTreeMap<&str, &str> = [("job", "sidewatch"), ("instance", "10.0.0.1:9858")].into();
    l.extend(labels.iter().copied());
    json!({"labels": l, "annotations": {"summary": "test"}})
}

#[test]
fn a_running_alertmanager_inhibits_as_the_example_says() {
    let dir = tempfile::tempdir().unwrap();
    // The example's receivers point at placeholder hosts: send nothing off this machine (and
    // nothing at all: group_wait is longer than this test).
    let closed = free_addr();
    let config = std::fs::read_to_string(example()).unwrap().replace(
        "http://alert-relay.example.com/",
        &format!("http://{closed}/"),
    );
    assert!(!config.contains("example.com"));
    let am = Alertmanager::start(dir.path(), &config);

    let mem = ("alertname", "SidewatchMemoryHigh");
    let alerts = [
        // api: critical and warning memory; the critical inhibits the warning.
        (
            "api-mem-critical",
            alert(&[mem, ("severity", "critical"), ("target", "api")]),
        ),
        (
            "api-mem-warning",
            alert(&[mem, ("severity", "warning"), ("target", "api")]),
        ),
        // Another alert name of api: not inhibited by the memory critical.
        (
            "api-cpu-warning",
            alert(&[
                ("alertname", "SidewatchCPUHigh"),
                ("severity", "warning"),
                ("target", "api"),
            ]),
        ),
        // The same target name watched by another sidewatch (another Pod): not inhibited.
        (
            "api@other-mem-warning",
            alert(&[
                mem,
                ("severity", "warning"),
                ("target", "api"),
                ("instance", "10.0.0.2:9858"),
            ]),
        ),
        // db: warning only.
        (
            "db-mem-warning",
            alert(&[mem, ("severity", "warning"), ("target", "db")]),
        ),
        // web is down: its other alerts, of any severity, are inhibited.
        (
            "web-down",
            alert(&[
                ("alertname", "SidewatchTargetDown"),
                ("severity", "critical"),
                ("target", "web"),
            ]),
        ),
        (
            "web-threads-warning",
            alert(&[
                ("alertname", "SidewatchThreadsHigh"),
                ("severity", "warning"),
                ("target", "web"),
            ]),
        ),
        (
            "web-restarts-critical",
            alert(&[
                ("alertname", "SidewatchTargetRestarts"),
                ("severity", "critical"),
                ("target", "web"),
            ]),
        ),
        // SLO burn: the page of SLO memory inhibits its ticket, not the ticket of SLO cpu.
        (
            "db-burn-memory-critical",
            alert(&[
                ("alertname", "SidewatchErrorBudgetBurn"),
                ("severity", "critical"),
                ("target", "db"),
                ("slo", "memory"),
            ]),
        ),
        (
            "db-burn-memory-warning",
            alert(&[
                ("alertname", "SidewatchErrorBudgetBurn"),
                ("severity", "warning"),
                ("target", "db"),
                ("slo", "memory"),
            ]),
        ),
        (
            "db-burn-cpu-warning",
            alert(&[
                ("alertname", "SidewatchErrorBudgetBurn"),
                ("severity", "warning"),
                ("target", "db"),
                ("slo", "cpu"),
            ]),
        ),
    ];
    let body = Value::Array(alerts.iter().map(|(_, a)| a.clone()).collect());
    let (status, text) = post_json(am.addr, "/api/v2/alerts", &body);
    assert_eq!(status, 200, "{text}");

    let suppressed = |got: &[Value]| -> BTreeMap<String, bool> {
        got.iter()
            .map(|a| {
                let l = &a["labels"];
                let (name, _) = alerts
                    .iter()
                    .find(|(_, want)| want["labels"] == *l)
                    .unwrap_or_else(|| panic!("unexpected alert {l}"));
                (
                    name.to_string(),
                    a["status"]["state"] == "suppressed"
                        && !a["status"]["inhibitedBy"].as_array().unwrap().is_empty(),
                )
            })
            .collect()
    };
    let want = [
        "api-mem-warning",
        "db-burn-memory-warning",
        "web-restarts-critical",
        "web-threads-warning",
    ];
    let inhibited = |got: &BTreeMap<String, bool>| -> Vec<String> {
        got.iter()
            .filter(|(_, s)| **s)
            .map(|(n, _)| n.clone())
            .collect()
    };
    // The inhibitor learns of new source alerts asynchronously: poll until it has settled.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = suppressed(&am.alerts());
    while (got.len() != alerts.len() || inhibited(&got) != want) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        got = suppressed(&am.alerts());
    }
    assert_eq!(got.len(), alerts.len(), "{got:?}");
    assert_eq!(inhibited(&got), want, "{got:?}");
    // And it stays so: nothing more is inhibited a moment later.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(inhibited(&suppressed(&am.alerts())), want);
}
