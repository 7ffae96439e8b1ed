//! cgroup figures end to end with the real binary: `sidewatch once` on every cgroup fixture tree
//! (golden bodies, reviewed like code), both formats checked by promtool and the strict
//! OpenMetrics parser, the JSON sample the rules engine reads, and a cgroupfs with nothing in it.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

/// (fixture, cgroupfs root inside it, golden name): tests/golden/cgroup/<name>.{yml,prom}.
const CASES: [(&str, &str, &str); 7] = [
    ("hybrid", "sys/fs/cgroup", "hybrid"),
    ("v1", "sys/fs/cgroup", "v1"),
    ("v2", "sys/fs/cgroup", "v2"),
    ("k8s-systemd", "sys/fs/cgroup", "k8s-systemd"),
    ("k8s-cgroupfs", "host/sys/fs/cgroup", "k8s-cgroupfs"),
    ("container", "host/sys/fs/cgroup", "container-host"),
    ("container", "sys/fs/cgroup", "container-own"),
];

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> PathBuf {
    manifest().join("tests/fixtures/cgroup").join(name)
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("run sidewatch")
}

/// `sidewatch once` on one case, with `extra` arguments; panics unless it succeeds.
fn once(case: (&str, &str, &str), extra: &[&str]) -> String {
    let (fx, root, golden) = case;
    let proc = fixture(fx).join("proc");
    let cgroupfs = fixture(fx).join(root);
    let config = manifest().join(format!("tests/golden/cgroup/{golden}.yml"));
    let mut args = vec![
        "once",
        "--procfs",
        proc.to_str().unwrap(),
        "--cgroupfs",
        cgroupfs.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = run(&args);
    assert!(
        o.status.success(),
        "{golden}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn golden_bodies_of_the_cgroup_fixtures() {
    let mut differ = Vec::new();
    for case in CASES {
        let got = mask_varying(&once(case, &[]));
        let path = manifest().join(format!("tests/golden/cgroup/{}.prom", case.2));
        if std::env::var_os("SIDEWATCH_BLESS").is_some() {
            std::fs::write(&path, &got).unwrap();
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("{} missing (SIDEWATCH_BLESS=1)", path.display()));
        if got != want {
            differ.push(case.2);
        }
    }
    assert!(
        differ.is_empty(),
        "bodies differ from tests/golden/cgroup/{differ:?}.prom; review, then regenerate with SIDEWATCH_BLESS=1 cargo test --test cgroup golden"
    );
}

/// The value of one sample of a body, asserting there is exactly one.
fn value(m: &Metrics, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    m.get(name, labels)
}

#[test]
fn hybrid_values_match_the_kernel_files() {
    let m = Metrics::parse(&once(CASES[0], &[]));
    let app = [("target", "app"), ("namespace", "prod")];
    let v = |n: &str| value(&m, n, &app);
    // Values from tests/fixtures/cgroup/MANIFEST.md (the app cgroup).
    assert_eq!(v("sidewatch_cgroup_memory_usage_bytes"), Some(20992000.0));
    assert_eq!(
        v("sidewatch_cgroup_memory_working_set_bytes"),
        Some(20992000.0)
    );
    assert_eq!(v("sidewatch_cgroup_memory_rss_bytes"), Some(19644416.0));
    assert_eq!(v("sidewatch_cgroup_memory_cache_bytes"), Some(1048576.0));
    assert_eq!(v("sidewatch_cgroup_memory_limit_bytes"), Some(67108864.0));
    assert_eq!(
        v("sidewatch_cgroup_memory_utilization_ratio"),
        Some(20992000.0 / 67108864.0)
    );
    assert_eq!(v("sidewatch_cgroup_memory_oom_kills_total"), Some(1.0));
    assert_eq!(v("sidewatch_cgroup_memory_limit_hits_total"), Some(117.0));
    assert_eq!(v("sidewatch_cgroup_cpu_limit_cores"), Some(0.2));
    assert_eq!(v("sidewatch_cgroup_cpu_periods_total"), Some(23.0));
    assert_eq!(
        v("sidewatch_cgroup_cpu_throttled_periods_total"),
        Some(20.0)
    );
    assert_eq!(
        v("sidewatch_cgroup_cpu_throttled_seconds_total"),
        Some(1.271753932)
    );
    assert_eq!(v("sidewatch_cgroup_pids"), Some(1.0));
    assert_eq!(v("sidewatch_cgroup_pids_limit"), Some(64.0));
    assert_eq!(v("sidewatch_cgroup_io_read_bytes_total"), Some(8388608.0));
    assert_eq!(v("sidewatch_cgroup_io_write_bytes_total"), Some(8400896.0));
    let mode = |mo: &str| {
        value(
            &m,
            "sidewatch_cgroup_cpu_usage_seconds_total",
            &[("target", "app"), ("mode", mo)],
        )
    };
    assert_eq!(mode("user"), Some(0.33));
    assert_eq!(mode("system"), Some(0.05));
    let psi = |n: &str, r: &str| value(&m, n, &[("target", "app"), ("resource", r)]);
    assert_eq!(
        psi("sidewatch_cgroup_pressure_waiting_seconds_total", "cpu"),
        Some(0.757897)
    );
    assert_eq!(
        psi("sidewatch_cgroup_pressure_stalled_seconds_total", "memory"),
        Some(0.014137)
    );
    assert_eq!(
        psi("sidewatch_cgroup_pressure_waiting_seconds_total", "io"),
        Some(0.00691)
    );
    assert_eq!(
        value(
            &m,
            "sidewatch_cgroup_info",
            &[
                ("target", "app"),
                (
                    "path",
                    "/process_api/5cb4a8be43bcc2d859b1ea09c2caea4c/sidewatch-fixture/app"
                ),
                ("version", "v1")
            ]
        ),
        Some(1.0)
    );
    // One tick: no rate yet, so no CPU utilization.
    assert!(!m.has("sidewatch_cgroup_cpu_utilization_ratio"));
    // Unlimited limits are absent, never a huge number.
    let u = [("target", "unlimited")];
    assert_eq!(value(&m, "sidewatch_cgroup_memory_limit_bytes", &u), None);
    assert_eq!(
        value(&m, "sidewatch_cgroup_memory_utilization_ratio", &u),
        None
    );
    assert_eq!(value(&m, "sidewatch_cgroup_cpu_limit_cores", &u), None);
    assert_eq!(value(&m, "sidewatch_cgroup_pids_limit", &u), None);
    assert_eq!(
        value(&m, "sidewatch_cgroup_memory_usage_bytes", &u),
        Some(364544.0)
    );
    // A target that is not there has no cgroup series.
    assert!(
        !m.samples
            .iter()
            .any(|(n, l, _)| n.starts_with("sidewatch_cgroup")
                && l.get("target").map(String::as_str) == Some("later"))
    );
    for s in [
        "cgroup",
        "cgroup_memory",
        "cgroup_cpu",
        "cgroup_pids",
        "cgroup_io",
        "cgroup_pressure",
    ] {
        assert_eq!(
            value(&m, "sidewatch_read_errors_total", &[("source", s)]),
            Some(0.0),
            "{s}"
        );
    }
}

#[test]
fn a_sidecar_sees_its_own_cgroup_and_the_hosts_through_a_mount() {
    // Through the host's cgroupfs: one series set per cgroup, labelled by path.
    let m = Metrics::parse(&once(CASES[5], &[]));
    let usage = |cg: &str| {
        value(
            &m,
            "sidewatch_cgroup_memory_usage_bytes",
            &[("target", "pod"), ("cgroup", cg)],
        )
    };
    assert_eq!(usage("/../app"), Some(20992000.0));
    assert_eq!(usage("/"), Some(565248.0));
    assert_eq!(
        value(
            &m,
            "sidewatch_cgroup_memory_limit_bytes",
            &[("cgroup", "/")]
        ),
        Some(33554432.0)
    );
    // Through its own cgroupfs: the sidecar is there, the application is not visible.
    let m = Metrics::parse(&once(CASES[6], &[]));
    assert_eq!(
        value(
            &m,
            "sidewatch_cgroup_memory_usage_bytes",
            &[("target", "sidecar")]
        ),
        Some(565248.0)
    );
    assert_eq!(
        value(
            &m,
            "sidewatch_cgroup_memory_usage_bytes",
            &[("target", "app")]
        ),
        None
    );
    assert_eq!(
        value(&m, "sidewatch_read_errors_total", &[("source", "cgroup")]),
        Some(1.0)
    );
    // Its process figures are there as before.
    assert_eq!(
        value(&m, "sidewatch_target_up", &[("target", "app")]),
        Some(1.0)
    );
}

#[test]
fn a_kernel_without_psi_has_no_pressure_series_and_no_errors() {
    let m = Metrics::parse(&once(CASES[3], &[]));
    assert!(!m.has("sidewatch_cgroup_pressure_waiting_seconds_total"));
    assert!(!m.has("sidewatch_cgroup_pressure_stalled_seconds_total"));
    assert_eq!(
        value(
            &m,
            "sidewatch_read_errors_total",
            &[("source", "cgroup_pressure")]
        ),
        Some(0.0)
    );
    assert_eq!(
        value(
            &m,
            "sidewatch_cgroup_memory_working_set_bytes",
            &[("target", "app"), ("pod", "api-7d9f")]
        ),
        Some(20992000.0)
    );
}

#[test]
fn an_empty_cgroupfs_adds_one_read_error_per_missing_source() {
    let empty = tempfile::tempdir().unwrap();
    let proc = fixture("hybrid").join("proc");
    let o = run(&[
        "once",
        "--procfs",
        proc.to_str().unwrap(),
        "--cgroupfs",
        empty.path().to_str().unwrap(),
        "--pid",
        "1509",
        "--name",
        "app",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m = Metrics::parse(&String::from_utf8(o.stdout).unwrap());
    // Process metrics as before.
    assert_eq!(
        value(&m, "sidewatch_target_up", &[("target", "app")]),
        Some(1.0)
    );
    assert!(
        value(
            &m,
            "sidewatch_process_resident_memory_bytes",
            &[("target", "app")]
        )
        .unwrap()
            > 0.0
    );
    // No cgroup series, one read error per missing source (this kernel has PSI, so pressure is
    // one of them), none for locating.
    assert!(
        !m.samples
            .iter()
            .any(|(n, _, _)| n.starts_with("sidewatch_cgroup"))
    );
    for (s, n) in [
        ("cgroup", 0.0),
        ("cgroup_memory", 1.0),
        ("cgroup_cpu", 1.0),
        ("cgroup_pids", 1.0),
        ("cgroup_io", 1.0),
        ("cgroup_pressure", 1.0),
    ] {
        assert_eq!(
            value(&m, "sidewatch_read_errors_total", &[("source", s)]),
            Some(n),
            "{s}"
        );
    }
}

#[test]
fn json_carries_the_rule_signals() {
    let out = once(CASES[2], &["--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let c = &v["targets"][0]["cgroups"][0];
    assert_eq!(c["path"], "/system.slice/app.service");
    assert_eq!(c["version"], "v2");
    assert_eq!(c["live"], true);
    assert_eq!(c["memoryWorkingSetBytes"], 20992000);
    assert_eq!(c["memoryUtilizationRatio"], 20992000.0 / 67108864.0);
    assert_eq!(c["oomKills"], 1);
    assert_eq!(c["memoryLimitHits"], 117);
    assert_eq!(c["cpuLimitCores"], 0.2);
    assert_eq!(c["pidsLimit"], 64);
    assert_eq!(c["cpuThrottledPeriods"], 20);
    // Rates need two ticks: null, not 0.
    for k in [
        "cpuUtilizationRatio",
        "cpuThrottledRatio",
        "pressureCpuRatio",
        "pressureMemoryRatio",
        "pressureIoRatio",
    ] {
        assert!(c[k].is_null(), "{k}: {}", c[k]);
    }
    let b = &v["targets"][1]["cgroups"][0];
    assert!(b["memoryLimitBytes"].is_null());
    assert!(b["cpuLimitCores"].is_null());
}

#[test]
fn promtool_and_the_openmetrics_parser_accept_every_cgroup_body() {
    let promtool = require_tool("promtool", "prometheus");
    let python = Path::new("/usr/bin/python3");
    let script = "import sys\nfrom prometheus_client.openmetrics.parser import text_string_to_metric_families as p\nfams = list(p(sys.stdin.read()))\nprint(sum(len(f.samples) for f in fams))\n";
    for case in CASES {
        let text = once(case, &[]);
        let o = run_with_stdin(&promtool, &["check", "metrics"], text.as_bytes());
        assert!(
            o.status.success() && o.stdout.is_empty() && o.stderr.is_empty(),
            "{}: promtool check metrics: {} {}",
            case.2,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        let om = once(case, &["--openmetrics"]);
        let o = run_with_stdin(python, &["-c", script], om.as_bytes());
        assert!(
            o.status.success(),
            "{}: the OpenMetrics parser (python3-prometheus-client) rejected the body: {}",
            case.2,
            String::from_utf8_lossy(&o.stderr)
        );
        let samples = om.lines().filter(|l| !l.starts_with('#')).count();
        assert_eq!(
            String::from_utf8_lossy(&o.stdout).trim(),
            samples.to_string()
        );
        assert_eq!(
            samples,
            text.lines().filter(|l| !l.starts_with('#')).count()
        );
    }
}

#[test]
fn flags_and_config_for_cgroups() {
    let o = run(&["--help"]);
    let h = String::from_utf8_lossy(&o.stdout);
    for s in [
        "--cgroupfs",
        "SIDEWATCH_CGROUPFS",
        "--cgroup-labels",
        "SIDEWATCH_CGROUP_LABELS",
        "/host/sys/fs/cgroup",
    ] {
        assert!(h.contains(s), "--help does not mention {s}:\n{h}");
    }
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("c.yml");
    std::fs::write(
        &f,
        "cgroupfs: /host/sys/fs/cgroup\ntargets:\n  - {name: a, comm: x, cgroup_labels: true}\n",
    )
    .unwrap();
    let o = run(&["check-config", f.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // `cgroup` is a label sidewatch sets itself.
    std::fs::write(
        &f,
        "targets:\n  - {name: a, comm: x, labels: {cgroup: y}}\n",
    )
    .unwrap();
    let o = run(&["check-config", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("targets[0].labels.cgroup"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // SIDEWATCH_CGROUPFS is honoured.
    let proc = fixture("v2").join("proc");
    let o = Command::new(BIN)
        .args(["once", "--procfs", proc.to_str().unwrap(), "--pid", "1509"])
        .env("SIDEWATCH_CGROUPFS", fixture("v2").join("sys/fs/cgroup"))
        .output()
        .unwrap();
    let m = Metrics::parse(&String::from_utf8_lossy(&o.stdout));
    assert_eq!(
        value(&m, "sidewatch_cgroup_memory_limit_bytes", &[]),
        Some(67108864.0)
    );
}
