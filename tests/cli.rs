//! The binary's command line: help, config checking, errors, `once` on the fixture tree, the
//! golden exposition body, and format validation with promtool and a strict OpenMetrics parser.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::*;

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("run sidewatch")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn help_explains_every_option_with_examples() {
    let o = run(&["--help"]);
    assert!(o.status.success());
    let h = stdout(&o);
    for flag in [
        "--config",
        "--pid",
        "--pid-file",
        "--comm",
        "--exe",
        "--cmdline",
        "--children",
        "--name",
        "--label",
        "--web.listen-address",
        "--interval",
        "--procfs",
        "--smaps",
        "--log.level",
        "--web.config.file",
        "SIDEWATCH_WEB_CONFIG_FILE",
        "--metrics-only",
        "--web.header-timeout",
        "--web.idle-timeout",
        "--web.max-connections",
        "--no-tcp-states",
        "SIDEWATCH_NO_TCP_STATES",
        "SIDEWATCH_PID_FILE",
        "SIDEWATCH_WEB_LISTEN_ADDRESS",
        "Examples:",
        "sidewatch run",
        "check-config",
        "once",
    ] {
        assert!(h.contains(flag), "--help does not mention {flag}:\n{h}");
    }
    assert!(h.contains("Example: --interval 1s"), "{h}");
    let o = run(&["run", "--help"]);
    assert!(
        stdout(&o).contains("exit with its exit status"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn check_config_accepts_a_valid_file() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("ok.yml");
    std::fs::write(&f, "interval: 2s\ntargets:\n  - name: web\n    comm: nginx\n  - name: db\n    pid_file: /run/db.pid\n").unwrap();
    let o = run(&["check-config", f.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("valid; 2 target(s): web, db"),
        "{}",
        stdout(&o)
    );
}

/// A latency SLO's bucket depends on the app's buckets: the check says which bucket each known
/// default layout gives (Prometheus's own has 0.2 and 0.4, OpenTelemetry's 0.25 and 0.5).
#[test]
fn check_config_names_the_bucket_of_a_latency_slo() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("ok.yml");
    std::fs::write(&f, "targets:\n  - {name: web, comm: nginx}\nslos:\n  - {name: fast, kind: latency, threshold: 400ms, objective: 95%}\n").unwrap();
    let o = run(&["check-config", f.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("OpenTelemetry http_server_request_duration_seconds: le=\"0.25\" (no 0.4 bucket: the largest below); prometheus_http_request_duration_seconds: le=\"0.4\" (exact)"),
        "{out}"
    );
}

#[test]
fn config_error_names_file_field_and_reason_and_exits_nonzero() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.yml");
    std::fs::write(
        &f,
        "targets:\n  - name: web\n    comm: nginx\n    intervall: 5s\n",
    )
    .unwrap();
    let fs = f.to_str().unwrap();
    for args in [vec!["check-config", fs], vec!["--config", fs]] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(1));
        let e = stderr(&o);
        assert!(e.contains(fs), "{e}");
        assert!(e.contains("line 4"), "{e}");
        assert!(e.contains("targets[0].intervall"), "{e}");
        assert!(e.contains("unknown field `intervall`"), "{e}");
        assert!(!e.contains("panicked"), "{e}");
        assert_eq!(e.trim().lines().count(), 1, "one-line error expected: {e}");
    }
    let o = run(&["check-config", "/nonexistent/sidewatch.yml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("/nonexistent/sidewatch.yml") && stderr(&o).contains("cannot read")
    );
}

#[test]
fn bad_flags_are_clear_errors() {
    let o = run(&["--pid", "1", "--interval", "soon"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("invalid duration"), "{}", stderr(&o));
    let o = run(&["--cmdline", "a(b", "once"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--cmdline"), "{}", stderr(&o));
    let o = run(&[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("nothing to watch"), "{}", stderr(&o));
    let o = run(&["--pid", "1", "--web.header-timeout", "0s"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("--web.header-timeout must be at least 100ms"),
        "{}",
        stderr(&o)
    );
    let o = run(&["--pid", "1", "--web.max-connections", "0"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn port_in_use_is_a_one_line_error() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let o = run(&["--pid", "1", "--web.listen-address", &addr]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    let errors: Vec<&str> = e.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(errors.len(), 1, "{e}");
    assert!(
        errors[0].contains(&format!("cannot listen on {addr}")),
        "{e}"
    );
    assert!(
        errors[0].contains("Address already in use")
            || errors[0].contains("address already in use"),
        "{e}"
    );
    assert!(!e.contains("panicked"), "{e}");
}

fn once_fixture(extra: &[&str]) -> String {
    let root = fixture_proc();
    let mut args = vec!["once", "--procfs", root.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o)
}

fn golden_config() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/fixture.yml")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn golden_exposition_of_the_fixture_tree() {
    let body = once_fixture(&["--config", &golden_config()]);
    let got = mask_varying(&body);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/fixture.prom");
    if std::env::var_os("SIDEWATCH_BLESS").is_some() {
        std::fs::write(&path, &got).unwrap();
    }
    let want =
        std::fs::read_to_string(&path).expect("golden file (regenerate with SIDEWATCH_BLESS=1)");
    assert_eq!(
        got, want,
        "the body differs from tests/golden/fixture.prom; review, then regenerate with SIDEWATCH_BLESS=1 cargo test --test cli golden"
    );
}

#[test]
fn promtool_accepts_the_text_format() {
    let promtool = require_tool("promtool", "prometheus");
    for body in [
        once_fixture(&["--config", &golden_config()]),
        // A live process (the fixture tree does not have this test's pid).
        {
            let o = run(&["once", "--pid", &std::process::id().to_string(), "--smaps"]);
            assert!(o.status.success(), "{}", stderr(&o));
            stdout(&o)
        },
    ] {
        let o = run_with_stdin(&promtool, &["check", "metrics"], body.as_bytes());
        assert!(
            o.status.success() && o.stdout.is_empty() && o.stderr.is_empty(),
            "promtool check metrics: {} {}\n{body}",
            stdout(&o),
            stderr(&o)
        );
    }
}

#[test]
fn strict_openmetrics_parser_accepts_the_openmetrics_format() {
    // Debian's interpreter, which the python3-prometheus-client package installs into.
    let python = "/usr/bin/python3";
    let ok = Command::new(python)
        .args(["-c", "import prometheus_client.openmetrics.parser"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "the strict OpenMetrics parser is missing: apt-get install -y python3-prometheus-client (the README test command does)"
    );
    let body = once_fixture(&["--config", &golden_config(), "--openmetrics"]);
    assert!(body.ends_with("# EOF\n"));
    let script = "import sys\nfrom prometheus_client.openmetrics.parser import text_string_to_metric_families as p\nfams = list(p(sys.stdin.read()))\nprint(len(fams), sum(len(f.samples) for f in fams))\n";
    let o = run_with_stdin(python, &["-c", script], body.as_bytes());
    assert!(
        o.status.success(),
        "the OpenMetrics parser (Debian package python3-prometheus-client) rejected the body: {}\n{body}",
        stderr(&o)
    );
    // Same samples in both formats.
    let text = once_fixture(&["--config", &golden_config()]);
    let om_samples = body.lines().filter(|l| !l.starts_with('#')).count();
    let text_samples = text.lines().filter(|l| !l.starts_with('#')).count();
    assert_eq!(om_samples, text_samples);
    let counted: Vec<usize> = stdout(&o)
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(
        counted[1], om_samples,
        "parser saw a different number of samples"
    );
}

#[test]
fn once_json_reports_the_fixture_values() {
    let out = once_fixture(&["--pid", "6291", "--name", "sleeper", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let t = &v["targets"][0];
    assert_eq!(t["name"], "sleeper");
    assert_eq!(t["up"], true);
    assert_eq!(t["processes"], 1);
    assert_eq!(t["primary_pid"], 6291);
    assert_eq!(t["primary_comm"], "sleep");
    assert_eq!(t["threads"], 1);
    assert_eq!(t["open_fds"], 5);
    assert_eq!(t["counters"]["restarts_total"], 0);
    assert!(t["resident_memory_bytes"].as_u64().unwrap() > 0);
}

#[test]
fn absent_target_is_down_not_an_error() {
    let root = fixture_proc();
    let o = run(&[
        "once",
        "--procfs",
        root.to_str().unwrap(),
        "--pid",
        "999999",
        "--name",
        "later",
    ]);
    // Its sample is printed; the exit status says no target is up (see once_fails_when_...).
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let m = Metrics::parse(&stdout(&o));
    assert_eq!(
        m.get("sidewatch_target_up", &[("target", "later")]),
        Some(0.0)
    );
    assert_eq!(
        m.get("sidewatch_target_processes", &[("target", "later")]),
        Some(0.0)
    );
    // Gauges of a missing process are absent, never 0.
    assert_eq!(
        m.get(
            "sidewatch_process_resident_memory_bytes",
            &[("target", "later")]
        ),
        None
    );
    assert_eq!(
        m.get(
            "sidewatch_process_cpu_seconds_total",
            &[("target", "later"), ("mode", "user")]
        ),
        None
    );
    assert_eq!(
        m.get("sidewatch_process_restarts_total", &[("target", "later")]),
        Some(0.0)
    );
}

#[test]
fn unreadable_figures_are_absent_and_counted() {
    // The kernel thread has no smaps_rollup in the fixture: PSS absent, one read error.
    let out = once_fixture(&["--pid", "2", "--name", "kthreadd", "--smaps"]);
    let m = Metrics::parse(&out);
    assert_eq!(
        m.get("sidewatch_target_up", &[("target", "kthreadd")]),
        Some(1.0)
    );
    assert_eq!(
        m.get(
            "sidewatch_process_proportional_memory_bytes",
            &[("target", "kthreadd")]
        ),
        None
    );
    assert_eq!(
        m.get(
            "sidewatch_process_resident_memory_bytes",
            &[("target", "kthreadd")]
        ),
        None
    );
    assert_eq!(
        m.get("sidewatch_read_errors_total", &[("source", "smaps_rollup")]),
        Some(1.0)
    );
    assert_eq!(
        m.get("sidewatch_read_errors_total", &[("source", "status")]),
        Some(0.0)
    );
}

#[test]
fn log_level_filters_sidewatch_events() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("app.pid");
    // Not a pid: every tick logs a read failure at debug level.
    std::fs::write(&pid_file, "garbage\n").unwrap();
    let pid_file = pid_file.to_str().unwrap();
    let logged = |level: &str| {
        let d = Daemon::start(&[
            "--pid-file",
            pid_file,
            "--interval",
            "100ms",
            "--log.level",
            level,
        ]);
        let mut lines = Vec::new();
        d.wait_until(Duration::from_secs(10), |d| {
            lines.extend(d.drain_log());
            d.metrics().get("sidewatch_ticks_total", &[]).unwrap_or(0.0) >= 3.0
        });
        std::thread::sleep(Duration::from_millis(100));
        lines.extend(d.drain_log());
        lines.join("\n")
    };
    let debug = logged("debug");
    assert!(debug.contains("read failed"), "{debug}");
    assert!(debug.contains("pid_file"), "{debug}");
    let info = logged("info");
    assert!(!info.contains("read failed"), "{info}");
    assert!(!info.contains("DEBUG"), "{info}");
}

// --- Constant labels that clash with sidewatch's own label names (issue 13, defect 4).

#[test]
fn constant_labels_used_by_sidewatch_families_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("slo.yml");
    std::fs::write(
        &f,
        "targets:\n  - name: api\n    comm: api\n    labels:\n      team: pay\n      slo: gold\n",
    )
    .unwrap();
    let fs = f.to_str().unwrap();
    for args in [vec!["check-config", fs], vec!["once", "--config", fs]] {
        let o = run(&args);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {e}");
        assert!(e.contains(fs), "{e}");
        assert!(e.contains("line "), "{e}");
        assert!(e.contains("field `targets[0].labels.slo`"), "{e}");
        assert!(
            e.contains(
                "label name \"slo\" is used by sidewatch's own series (family sidewatch_slo_samples_total)"
            ),
            "{e}"
        );
    }
    // The same from a flag.
    let me = std::process::id().to_string();
    let o = run(&["once", "--pid", &me, "--label", "severity=high"]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(
        e.contains("--label")
            && e.contains(
                "label name \"severity\" is used by sidewatch's own series (family sidewatch_alert)"
            ),
        "{e}"
    );
    let o = run(&["once", "--pid", &me, "--label", "__name=x"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("starts with __"), "{}", stderr(&o));
}

// --- Loud failures when a target cannot be found (issue 13, defect 11).

/// Log lines of a daemon over at least `ticks` ticks.
fn log_over_ticks(d: &Daemon, ticks: f64) -> Vec<String> {
    let mut lines = Vec::new();
    d.wait_until(Duration::from_secs(20), |d| {
        lines.extend(d.drain_log());
        d.metrics().get("sidewatch_ticks_total", &[]).unwrap_or(0.0) >= ticks
    });
    // Lines trail the metrics through a pipe.
    std::thread::sleep(Duration::from_millis(200));
    lines.extend(d.drain_log());
    lines
}

fn count(lines: &[String], level: &str, text: &str) -> usize {
    lines
        .iter()
        .filter(|l| l.contains(level) && l.contains(text))
        .count()
}

#[test]
fn a_missing_pid_is_logged_once() {
    let d = Daemon::start(&["--pid", "99999999", "--interval", "100ms"]);
    let lines = log_over_ticks(&d, 6.0);
    assert_eq!(
        count(&lines, "WARN", "target app: pid 99999999 is not running"),
        1,
        "{lines:#?}"
    );
}

#[test]
fn pid_file_states_are_logged_once_per_change() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("api.pid");
    let shown = pid_file.display().to_string();
    std::fs::write(&pid_file, "abc\n").unwrap();
    let d = Daemon::start(&[
        "--pid-file",
        pid_file.to_str().unwrap(),
        "--name",
        "api",
        "--interval",
        "100ms",
    ]);
    let junk = format!("target api: pid file {shown}: holds \"abc\", expected a pid");
    let lines = log_over_ticks(&d, 5.0);
    assert_eq!(count(&lines, "WARN", &junk), 1, "{lines:#?}");

    // It becomes valid: one "found" line, no more warnings.
    let me = std::process::id();
    std::fs::write(&pid_file, format!("{me}\n")).unwrap();
    let ticks = d.metrics().get("sidewatch_ticks_total", &[]).unwrap();
    let lines = log_over_ticks(&d, ticks + 5.0);
    let found = format!("target api: found pid {me}");
    assert_eq!(count(&lines, "INFO", &found), 1, "{lines:#?}");
    assert_eq!(count(&lines, "WARN", "target api"), 0, "{lines:#?}");

    // A directory where the pid file should be, then nothing at all.
    std::fs::remove_file(&pid_file).unwrap();
    std::fs::create_dir(&pid_file).unwrap();
    let ticks = d.metrics().get("sidewatch_ticks_total", &[]).unwrap();
    let lines = log_over_ticks(&d, ticks + 5.0);
    let is_dir = format!("target api: pid file {shown}: Is a directory");
    assert_eq!(count(&lines, "WARN", &is_dir), 1, "{lines:#?}");
    std::fs::remove_dir(&pid_file).unwrap();
    let ticks = d.metrics().get("sidewatch_ticks_total", &[]).unwrap();
    let lines = log_over_ticks(&d, ticks + 5.0);
    let missing = format!("target api: pid file {shown} does not exist");
    assert_eq!(count(&lines, "WARN", &missing), 1, "{lines:#?}");
    assert_eq!(count(&lines, "WARN", "target api"), 1, "{lines:#?}");
}

#[test]
fn a_procfs_root_that_is_not_a_procfs_is_fatal_at_start() {
    let empty = tempfile::tempdir().unwrap();
    let no_pids = tempfile::tempdir().unwrap();
    std::fs::write(
        no_pids.path().join("stat"),
        "cpu 1 2 3 4\nbtime 1700000000\n",
    )
    .unwrap();
    std::fs::create_dir(no_pids.path().join("self")).unwrap();
    let cases = [
        ("/nonexistent".to_string(), "does not exist"),
        (empty.path().display().to_string(), "has no `stat` file"),
        (
            no_pids.path().display().to_string(),
            "has no process directories",
        ),
    ];
    for (root, why) in &cases {
        for mode in [&["once"][..], &[]] {
            let mut args = mode.to_vec();
            args.extend([
                "--procfs",
                root,
                "--pid",
                "1",
                "--web.listen-address",
                "127.0.0.1:0",
            ]);
            let mut p = spawn(
                Command::new(BIN)
                    .args(&args)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped()),
            );
            let status = p.wait_timeout(Duration::from_secs(10));
            let mut e = String::new();
            if status.is_some() {
                use std::io::Read;
                p.child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut e)
                    .unwrap();
            }
            assert_eq!(
                status.and_then(|s| s.code()),
                Some(1),
                "{args:?} did not fail at start: {e}"
            );
            assert!(
                e.contains(&format!("procfs root {root} {why}")),
                "{args:?}: {e}"
            );
        }
    }
}

#[test]
fn a_missing_cgroupfs_is_one_warning() {
    let me = std::process::id().to_string();
    let o = run(&["once", "--pid", &me, "--cgroupfs", "/nonexistent/cgroup"]);
    let e = stderr(&o);
    assert!(o.status.success(), "{e}");
    let warned = e
        .lines()
        .filter(|l| {
            l.contains("WARN") && l.contains("cgroupfs root /nonexistent/cgroup does not exist")
        })
        .count();
    assert_eq!(warned, 1, "{e}");
    // A directory that holds none of the mounted hierarchies (e.g. /host/sys for /host/sys/fs/cgroup).
    let empty = tempfile::tempdir().unwrap();
    let root = empty.path().display().to_string();
    let o = run(&["once", "--pid", &me, "--cgroupfs", &root]);
    let e = stderr(&o);
    assert!(o.status.success(), "{e}");
    let why = format!("cgroupfs root {root} holds no cgroup hierarchy of the mount table");
    let warned = e
        .lines()
        .filter(|l| l.contains("WARN") && l.contains(&why))
        .count();
    assert_eq!(warned, 1, "{e}");
}

#[test]
fn once_fails_when_no_target_is_up() {
    let root = fixture_proc();
    let o = run(&[
        "once",
        "--procfs",
        root.to_str().unwrap(),
        "--pid",
        "999999",
        "--name",
        "later",
    ]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(
        e.contains("no target is up: later (pid 999999 is not running)"),
        "{e}"
    );
    // One target up is enough.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("two.yml");
    std::fs::write(
        &f,
        "targets:\n  - {name: up, pid: 6291}\n  - {name: down, pid: 999999}\n",
    )
    .unwrap();
    let o = run(&[
        "once",
        "--procfs",
        root.to_str().unwrap(),
        "--config",
        f.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("target down: pid 999999 is not running"),
        "{}",
        stderr(&o)
    );
    // The help says so.
    let h = stdout(&run(&["once", "--help"]));
    let h = h.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(h.contains("Exits 1 when no target is up"), "{h}");
}

#[test]
fn unknown_log_levels_are_refused() {
    let me = std::process::id().to_string();
    let o = run(&["once", "--pid", &me, "--log.level", "verbose"]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains("invalid value 'verbose'"), "{e}");
    assert!(
        e.contains("[possible values: error, warn, info, debug, trace, off]"),
        "{e}"
    );
    let o = Command::new(BIN)
        .args(["once", "--pid", &me])
        .env("SIDEWATCH_LOG_LEVEL", "loud")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = run(&["once", "--pid", &me, "--log.level", "WARN"]);
    assert!(o.status.success(), "{}", stderr(&o));
}
