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
    let o = run(&["once", "--cmdline", "a(b"]);
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
    let out = once_fixture(&[
        "--pid", "6291", "--name", "sleeper", "--label", "team=a", "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let t = &v["targets"][0];
    assert_eq!(t["name"], "sleeper");
    assert_eq!(t["labels"], serde_json::json!({"team": "a"}));
    assert_eq!(t["up"], true);
    assert_eq!(t["processes"], 1);
    assert_eq!(t["primaryPid"], 6291);
    assert_eq!(t["primaryComm"], "sleep");
    assert_eq!(t["threads"], 1);
    assert_eq!(t["openFds"], 5);
    assert_eq!(t["counters"]["restartsTotal"], 0);
    assert!(t["residentMemoryBytes"].as_u64().unwrap() > 0);
    // Read errors by source, an object like labels (the fixture has no smaps_rollup reads).
    assert_eq!(v["readErrors"]["smaps_rollup"], 0);
    assert!(v["timestampSeconds"].as_f64().unwrap() > 0.0);
    // One JSON style: no snake_case key anywhere but the read-error sources (data, not names).
    fn keys(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    out.push(k.clone());
                    keys(v, out);
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| keys(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    let mut top = v.clone();
    top.as_object_mut().unwrap().remove("readErrors");
    keys(&top, &mut all);
    assert!(all.iter().all(|k| !k.contains('_')), "{all:?}");
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
        // `once` serves nothing: only serve mode takes a listen address.
        for mode in [&["once"][..], &["--web.listen-address", "127.0.0.1:0"]] {
            let mut args = mode.to_vec();
            args.extend(["--procfs", root, "--pid", "1"]);
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

// ---------------------------------------------------------------------------------------------
// CLI conventions (issue 16): each test asserts the exit code and the first line of output.

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

fn write_config(dir: &Path, text: &str) -> String {
    let f = dir.join("sidewatch.yml");
    std::fs::write(&f, text).unwrap();
    f.to_str().unwrap().to_string()
}

#[test]
fn each_subcommand_takes_only_its_own_options() {
    let o = run(&["rules", "--web.listen-address", ":1"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        first_line(&stderr(&o)),
        "error: unexpected argument '--web.listen-address' found"
    );
    let o = run(&["--pid", "1", "rules"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        first_line(&stderr(&o)),
        "error: the subcommand 'rules' cannot be used with '--pid <N>'"
    );
    let o = run(&["once", "--web.max-connections", "3", "--pid", "1"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        first_line(&stderr(&o)),
        "error: unexpected argument '--web.max-connections' found"
    );
    // `completions` and `man` log nothing, so they take no logging options.
    let o = run(&["completions", "bash", "--log.level", "debug"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        first_line(&stderr(&o)),
        "error: unexpected argument '--log.level' found"
    );
    for sub in ["rules", "check-config"] {
        let h = stdout(&run(&[sub, "--help"]));
        for foreign in [
            "--pid",
            "--web.listen-address",
            "--interval",
            "--metrics-only",
        ] {
            assert!(!h.contains(foreign), "{sub} --help shows {foreign}:\n{h}");
        }
        assert!(h.contains("[FILE]") && h.contains("--config <FILE>"), "{h}");
    }
}

#[test]
fn check_config_and_rules_take_the_config_file_the_same_way() {
    let dir = tempfile::tempdir().unwrap();
    let f = write_config(
        dir.path(),
        "targets:\n  - {name: web, comm: nginx}\nrules:\n  - {alert: WebThreads, signal: threads, op: '>', value: 5}\nslos: []\n",
    );
    let mut bodies = Vec::new();
    for args in [["rules", f.as_str()], ["rules", "--config"]] {
        let mut a = args.to_vec();
        if args[1] == "--config" {
            a.push(&f);
        }
        let o = run(&a);
        assert_eq!(o.status.code(), Some(0), "{a:?}: {}", stderr(&o));
        assert_eq!(
            first_line(&stdout(&o)),
            "# Prometheus rules for sidewatch, generated by `sidewatch rules` from sidewatch.yml."
        );
        bodies.push(stdout(&o));
    }
    assert_eq!(bodies[0], bodies[1]);
    assert!(bodies[0].contains("alert: WebThreads"));
    let want = format!("{f}: valid; 1 target(s): web; 1 rule(s), 0 SLO(s)");
    for args in [
        vec!["check-config", f.as_str()],
        vec!["check-config", "--config", &f],
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert_eq!(first_line(&stdout(&o)), want);
    }
    let o = Command::new(BIN)
        .args(["check-config"])
        .env("SIDEWATCH_CONFIG", &f)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(first_line(&stdout(&o)), want);
    let o = Command::new(BIN)
        .arg("check-config")
        .env_remove("SIDEWATCH_CONFIG")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        first_line(&stderr(&o)),
        "error: check-config needs the config file: sidewatch check-config FILE (or --config FILE)"
    );
}

#[test]
fn run_exits_127_for_a_command_not_found_and_126_for_one_not_executable() {
    let dir = tempfile::tempdir().unwrap();
    let not_exec = dir.path().join("script.sh");
    std::fs::write(&not_exec, "#!/bin/sh\nexit 0\n").unwrap();
    let not_exec = not_exec.to_str().unwrap();
    for (cmd, code, why) in [
        (
            "/nonexistent/cmd",
            127,
            "No such file or directory (os error 2)",
        ),
        (
            "no-such-command-sidewatch",
            127,
            "No such file or directory (os error 2)",
        ),
        (not_exec, 126, "Permission denied (os error 13)"),
    ] {
        let o = run(&[
            "run",
            "--log.level",
            "error",
            "--web.listen-address",
            "127.0.0.1:0",
            "--",
            cmd,
        ]);
        assert_eq!(o.status.code(), Some(code), "{cmd}: {}", stderr(&o));
        assert_eq!(
            first_line(&stderr(&o)),
            format!("sidewatch: error: cannot start {cmd:?}: {why}")
        );
    }
}

#[test]
fn run_logs_the_commands_exit_status() {
    for (script, code, line) in [
        (
            "exit 3",
            3,
            "level=info message=\"the command exited\" status=3",
        ),
        (
            "kill -9 $$",
            137,
            "level=info message=\"the command was killed by a signal\" signal=SIGKILL status=137",
        ),
    ] {
        let o = run(&[
            "run",
            "--log.format",
            "logfmt",
            "--web.listen-address",
            "127.0.0.1:0",
            "--",
            "sh",
            "-c",
            script,
        ]);
        assert_eq!(o.status.code(), Some(code), "{}", stderr(&o));
        let e = stderr(&o);
        assert!(first_line(&e).starts_with("ts="), "{e}");
        assert!(e.lines().any(|l| l.ends_with(line)), "no {line:?} in:\n{e}");
    }
}

/// As a container's PID 1, `run` reaps the orphans the kernel reparents to it (as tini does),
/// and still exits with the command's status.
#[test]
fn run_as_pid_1_reaps_orphans() {
    let unshare = require_tool("unshare", "util-linux");
    // Five orphans: each `( sleep 0.2 & )` subshell exits at once, so its sleep is reparented
    // to PID 1. Once they have ended, the script counts zombies in its PID namespace.
    let script = "for i in 1 2 3 4 5; do (sleep 0.2 &); done; sleep 1.5; \
        echo zombies: $(grep -l '^State:.*Z' /proc/[0-9]*/status 2>/dev/null | wc -l); \
        echo orphans seen: $(ls -d /proc/[0-9]* | wc -l); exit 7";
    let o = Command::new(unshare)
        .args(["--pid", "--fork", "--mount-proc", BIN])
        .args([
            "run",
            "--web.listen-address",
            "127.0.0.1:0",
            "--",
            "sh",
            "-c",
            script,
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    assert_eq!(first_line(&stdout(&o)), "zombies: 0", "{}", stderr(&o));
}

#[test]
fn version_names_the_revision_and_build_date() {
    let o = run(&["--version"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    let line = first_line(&out);
    // The truth is git's; outside a git checkout (a source tarball) the revision is "unknown".
    let git = |args: &[&str]| {
        let o = Command::new(require_tool("git", "git"))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        o.status
            .success()
            .then(|| String::from_utf8(o.stdout).unwrap().trim().to_string())
    };
    let rev = git(&["rev-parse", "--short=12", "HEAD"]);
    let prefix = format!(
        "sidewatch {} (revision {}, built ",
        env!("CARGO_PKG_VERSION"),
        rev.as_deref().unwrap_or("unknown")
    );
    let date = line
        .strip_prefix(&prefix)
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{line:?} does not start with {prefix:?}"));
    let built = humantime::parse_rfc3339(date).unwrap();
    let committed: u64 = git(&["log", "-1", "--format=%ct"]).map_or(0, |t| t.parse().unwrap());
    let committed = std::time::UNIX_EPOCH + Duration::from_secs(committed);
    // The build script runs again whenever HEAD moves, so the build is no older than the commit.
    assert!(
        built >= committed && built <= std::time::SystemTime::now(),
        "{line}"
    );
}

#[test]
fn log_format_logfmt_and_json() {
    let me = std::process::id().to_string();
    let o = run(&["once", "--log.format", "json", "--pid", &me, "--name", "t"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let e = stderr(&o);
    let v: serde_json::Value = serde_json::from_str(first_line(&e)).unwrap();
    assert_eq!(v["level"], "INFO", "{e}");
    assert!(
        v["message"].is_string() && v["timestamp"].is_string(),
        "{e}"
    );
    let o = run(&[
        "once",
        "--log.format",
        "logfmt",
        "--pid",
        &me,
        "--name",
        "t",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let e = stderr(&o);
    assert!(first_line(&e).starts_with("ts="), "{e}");
    assert!(first_line(&e).contains(" level=info "), "{e}");
    let o = run(&["once", "--log.format", "xml", "--pid", &me]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        first_line(&stderr(&o)),
        "error: invalid value 'xml' for '--log.format <FORMAT>'"
    );
}

#[test]
fn completions_and_man_page() {
    let bash = require_tool("bash", "bash");
    let dir = tempfile::tempdir().unwrap();
    for (shell, first) in [
        ("bash", "_sidewatch() {"),
        ("zsh", "#compdef sidewatch"),
        (
            "fish",
            "# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.",
        ),
    ] {
        let o = run(&["completions", shell]);
        assert_eq!(o.status.code(), Some(0), "{shell}");
        let out = stdout(&o);
        assert_eq!(first_line(&out), first, "{shell}");
        assert!(
            out.contains("check-config") && out.contains("web.listen-address"),
            "{shell}"
        );
        if shell == "bash" {
            let f = dir.path().join("sidewatch.bash");
            std::fs::write(&f, &out).unwrap();
            let syntax = Command::new(&bash).arg("-n").arg(&f).output().unwrap();
            assert!(syntax.status.success(), "{}", stderr(&syntax));
        }
    }
    let o = run(&["man"]);
    assert_eq!(o.status.code(), Some(0));
    let page = stdout(&o);
    assert_eq!(first_line(&page), ".ie \\n(.g .ds Aq \\(aq");
    assert!(page.contains(".TH sidewatch 1"), "{page}");
    assert!(
        page.contains("check\\-config") && page.contains("completions"),
        "{page}"
    );
}

#[test]
fn flag_targets_are_named_after_their_comm() {
    let sleeper = spawn(Command::new("sleep").arg("31.7"));
    let pid = sleeper.pid().to_string();
    // Until its exec, the child still has the test thread's name.
    let cmdline = format!("/proc/{pid}/cmdline");
    while !std::fs::read_to_string(&cmdline).unwrap().contains("31.7") {
        std::thread::sleep(Duration::from_millis(5));
    }
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    let want = format!("sidewatch_target_up{{target=\"{}\"}} 1", comm.trim());
    for args in [["--pid", pid.as_str()], ["--cmdline", "^sleep 31\\.7$"]] {
        let o = run(&["once", args[0], args[1]]);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        let out = stdout(&o);
        assert!(first_line(&out).starts_with("# HELP "), "{out}");
        assert!(
            out.lines().any(|l| l == want),
            "{args:?}: no {want:?} in\n{out}"
        );
    }
}

#[test]
fn check_config_refuses_what_would_watch_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "interval: 5s\n",
            "field `targets`: no targets: give at least one, with a name and one of pid, pid_file, comm, exe or cmdline",
        ),
        (
            "targets:\n  - {name: web, comm: nginx}\nrules:\n  - {alert: A, signal: threads, op: '>', value: 1, targets: [web, wbe]}\n",
            "field `rules[0].targets[1]`: no target is named \"wbe\"; targets: \"web\"",
        ),
        (
            "targets:\n  - {name: web, comm: nginx}\nslos:\n  - {name: s, signal: threads, op: '<', value: 1, objective: 99%, targets: [db]}\n",
            "field `slos[0].targets[0]`: no target is named \"db\"; targets: \"web\"",
        ),
        (
            "targets:\n  - {name: web, comm: nginx, labels: {pod: '${SW_TEST_POD}', ns: '${SW_TEST_NS}-x'}}\n  - {name: db, comm: pg, labels: {zone: '${SW_TEST_ZONE}'}}\n",
            "field `targets[0].labels.ns`: 3 environment variable(s) not set: SW_TEST_NS (in targets[0].labels.ns), SW_TEST_POD (in targets[0].labels.pod), SW_TEST_ZONE (in targets[1].labels.zone)",
        ),
        (
            "hello\n",
            "line 1 column 1: invalid type: string \"hello\", expected a mapping (key: value lines)",
        ),
        (
            "targets:\n  - 5\n",
            "line 2 column 5, field `targets[0]`: invalid type: integer `5`, expected a mapping (key: value lines)",
        ),
    ];
    for (text, want) in cases {
        let f = write_config(dir.path(), text);
        let o = run(&["check-config", &f]);
        assert_eq!(o.status.code(), Some(1), "{text}");
        assert_eq!(
            first_line(&stderr(&o)),
            format!("sidewatch: error: config file {f}, {want}"),
            "{text}"
        );
    }
}

/// A default that would be refused when written explicitly adapts to the interval and says so
/// with the very reason the explicit value is refused with.
#[test]
fn trend_window_defaults_agree_with_their_validation() {
    let dir = tempfile::tempdir().unwrap();
    let reason = "15m is shorter than 12 intervals (12 × 1h = 12h): each of the 12 segments of a window needs a tick";
    let f = write_config(
        dir.path(),
        "interval: 1h\nhistory: {trend_windows: [15m]}\ntargets:\n  - {name: web, comm: nginx}\n",
    );
    let o = run(&["check-config", &f]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        first_line(&stderr(&o)),
        format!("sidewatch: error: config file {f}, field `history.trend_windows[0]`: {reason}")
    );
    let f = write_config(
        dir.path(),
        "interval: 1h\ntargets:\n  - {name: web, comm: nginx}\n",
    );
    let o = run(&["check-config", &f]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        first_line(&out).starts_with(&format!("{f}: valid; 1 target(s): web")),
        "{out}"
    );
    let note = out
        .lines()
        .find(|l| l.starts_with("note: "))
        .unwrap_or_default();
    assert!(
        note.starts_with(
            "note: history.trend_windows: the default windows are adapted to interval 1h: "
        ),
        "{out}"
    );
    assert!(
        note.contains(reason) && note.ends_with("; using 12h instead"),
        "{note}"
    );
    // The adapted window is the one in force: the daemon's trends use it.
    let me = std::process::id().to_string();
    let d = Daemon::start(&["--config", &f, "--pid", &me, "--name", "me"]);
    let body = d.get("/api/v1/trends?target=me").text();
    assert!(body.contains("\"window\":\"12h\""), "{body}");
    assert!(!body.contains("\"window\":\"15m\""), "{body}");
}

/// One JSON style (issue 16): counts are integers, labels an object; `/api/v1/samples` needs no
/// `target` when there is one.
#[test]
fn api_samples_without_target_for_a_single_target() {
    let sleeper = spawn(Command::new("sleep").arg("30"));
    let pid = sleeper.pid().to_string();
    let d = Daemon::start(&[
        "--pid",
        &pid,
        "--name",
        "one",
        "--label",
        "team=a",
        "--interval",
        "100ms",
    ]);
    let r = d.get("/api/v1/samples?limit=1");
    assert_eq!(r.status, 200, "{}", r.text());
    let v: serde_json::Value = serde_json::from_str(&r.text()).unwrap();
    let data = &v["data"];
    assert_eq!(data["target"], "one");
    assert_eq!(data["labels"], serde_json::json!({"team": "a"}));
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let threads: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let s = &data["samples"][0];
    assert_eq!(s["threads"], serde_json::json!(threads), "{s}");
    assert!(
        s["open_fds"].is_u64() && s["restarts_total"].is_u64(),
        "{s}"
    );
    let t: serde_json::Value = serde_json::from_str(&d.get("/api/v1/targets").text()).unwrap();
    assert!(t["data"][0]["current"]["threads"].is_u64(), "{t}");
}
