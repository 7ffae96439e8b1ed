//! `grafana/sidewatch.json` checked without Grafana: it is exactly what `grafana/dashboard.py`
//! prints; one dashboard with a stable uid, the datasource, job, instance and target variables,
//! the rows the issue asks for; every query scoped by the variables and every rate over
//! `$__rate_interval`; units that fit what each panel plots; threshold lines that are the rules
//! and SLOs in force (read by the real config parser here, by the generator's own reader there)
//! and the burn-rate factors of `sidewatch rules`; provisioning examples that Grafana can load.
//! Whether every query parses and returns data against a real Prometheus is `tests/e2e.rs`.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::stack::assert_generated;
use common::*;
use serde_json::Value;
use sidewatch::promgen::BURN_ALERTS;
use sidewatch::rules::{Op, RuleSet, Severity, Signal, SloKind};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn generator(args: &[&str]) -> Output {
    Command::new(require_tool("python3", "python3"))
        .arg(repo("grafana/dashboard.py"))
        .args(args)
        .output()
        .unwrap()
}

fn generate(args: &[&str]) -> String {
    let o = generator(args);
    assert!(
        o.status.success(),
        "grafana/dashboard.py {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn shipped() -> Value {
    serde_json::from_str(&std::fs::read_to_string(repo("grafana/sidewatch.json")).unwrap()).unwrap()
}

/// The panels that show data (rows left out).
fn panels(d: &Value) -> Vec<&Value> {
    d["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["type"] != "row")
        .collect()
}

fn title(p: &Value) -> &str {
    p["title"].as_str().unwrap()
}

fn exprs(p: &Value) -> Vec<&str> {
    p["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["expr"].as_str().unwrap())
        .collect()
}

fn unit(p: &Value) -> &str {
    p["fieldConfig"]["defaults"]["unit"].as_str().unwrap_or("")
}

#[test]
fn shipped_dashboard_is_the_generator_output() {
    assert_generated(
        &generate(&[]),
        &repo("grafana/sidewatch.json"),
        "SIDEWATCH_BLESS=1 cargo test --test grafana shipped (or python3 grafana/dashboard.py > grafana/sidewatch.json)",
    );
}

#[test]
fn generator_refuses_values_it_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.yml");
    std::fs::write(
        &cfg,
        "rules:\n  - alert: Big\n    signal: memory_rss_bytes\n    op: '>'\n    value: 500XB\n",
    )
    .unwrap();
    let o = generator(&["--rules", cfg.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("memory_rss_bytes: unknown unit in '500XB'"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.stdout.is_empty());
}

#[test]
fn one_dashboard_with_variables_rows_and_a_stable_uid() {
    let d = shipped();
    assert_eq!(d["uid"], "sidewatch");
    assert_eq!(d["title"], "sidewatch");
    assert!(d["schemaVersion"].as_u64().unwrap() >= 36);
    let vars = d["templating"]["list"].as_array().unwrap();
    let names: Vec<&str> = vars.iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["datasource", "job", "instance", "target"]);
    assert_eq!(vars[0]["type"], "datasource");
    assert_eq!(vars[0]["query"], "prometheus");
    let query = |i: usize| vars[i]["query"]["query"].as_str().unwrap();
    assert_eq!(query(1), "label_values(sidewatch_build_info, job)");
    assert_eq!(
        query(2),
        "label_values(sidewatch_build_info{job=~\"$job\"}, instance)"
    );
    assert_eq!(
        query(3),
        "label_values(sidewatch_target_up{job=~\"$job\", instance=~\"$instance\"}, target)"
    );
    for v in &vars[1..] {
        assert_eq!(v["datasource"]["uid"], "${datasource}", "{v}");
        assert_eq!(v["multi"], true);
        assert_eq!(v["includeAll"], true);
    }

    let rows: Vec<&str> = d["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["type"] == "row")
        .map(title)
        .collect();
    assert_eq!(
        rows,
        [
            "Overview",
            "CPU",
            "Memory",
            "Threads and file descriptors",
            "I/O and pressure",
            "Runtime",
            "Requests",
            "Probe",
            "Network",
            "SLOs",
            "sidewatch"
        ]
    );
    // Every panel queries the chosen datasource; ids are unique; panels do not overlap.
    let mut ids = BTreeSet::new();
    let mut cells = BTreeSet::new();
    for p in d["panels"].as_array().unwrap() {
        assert!(ids.insert(p["id"].as_u64().unwrap()), "duplicate id: {p}");
        let g = &p["gridPos"];
        let (x, y, w, h) = (
            g["x"].as_u64().unwrap(),
            g["y"].as_u64().unwrap(),
            g["w"].as_u64().unwrap(),
            g["h"].as_u64().unwrap(),
        );
        assert!(x + w <= 24, "{} is wider than the dashboard", title(p));
        for cx in x..x + w {
            for cy in y..y + h {
                assert!(
                    cells.insert((cx, cy)),
                    "{} overlaps another panel",
                    title(p)
                );
            }
        }
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", title(p));
        assert!(!exprs(p).is_empty(), "{} has no query", title(p));
        for t in p["targets"].as_array().unwrap() {
            assert_eq!(t["datasource"]["uid"], "${datasource}", "{}", title(p));
        }
        assert!(
            p["description"].as_str().is_some_and(|s| s.len() > 20),
            "{} explains nothing",
            title(p)
        );
    }
    assert!(panels(&d).len() >= 30, "{}", panels(&d).len());
}

/// `(metric, matchers)` of every selector in `expr`.
fn selectors(expr: &str) -> Vec<(String, String)> {
    let re = regex_lite::Regex::new(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}").unwrap();
    re.captures_iter(expr)
        .map(|c| (c[1].to_string(), c[2].to_string()))
        .collect()
}

#[test]
fn every_query_is_scoped_by_the_variables_and_rates_use_rate_interval() {
    let d = shipped();
    let metric = regex_lite::Regex::new(r"\b(up|sidewatch[_:][a-zA-Z0-9_:]*)\b").unwrap();
    let range = regex_lite::Regex::new(r"\[([^\]]*)\]").unwrap();
    let exporter_only = [
        "up",
        "sidewatch_build_info",
        "sidewatch_tick_duration_seconds_bucket",
        "sidewatch_read_errors_total",
        "sidewatch_host_cpus",
    ];
    let mut checked = 0;
    for p in panels(&d) {
        for t in p["targets"].as_array().unwrap() {
            let e = t["expr"].as_str().unwrap();
            // Every series selector names the variables.
            let sels = selectors(e);
            let named: BTreeSet<&str> = metric.find_iter(e).map(|m| m.as_str()).collect();
            let selected: BTreeSet<&str> = sels.iter().map(|(m, _)| m.as_str()).collect();
            assert_eq!(
                named,
                selected,
                "{}: a metric without a selector in {e}",
                title(p)
            );
            for (m, matchers) in &sels {
                assert!(
                    matchers.starts_with("job=~\"$job\", instance=~\"$instance\""),
                    "{}: {m}{{{matchers}}}",
                    title(p)
                );
                if !exporter_only.contains(&m.as_str()) {
                    assert!(
                        matchers.contains("target=~\"$target\""),
                        "{}: {m}{{{matchers}}}",
                        title(p)
                    );
                }
            }
            // Every range is $__rate_interval; an instant stat of a whole range uses $__range.
            for r in range.captures_iter(e) {
                let ok = &r[1] == "$__rate_interval"
                    || (&r[1] == "$__range" && p["type"] == "stat" && t["instant"] == true);
                assert!(ok, "{}: range [{}] in {e}", title(p), &r[1]);
            }
            for f in ["rate(", "irate(", "increase("] {
                for (i, _) in e.match_indices(f) {
                    let rest = &e[i..];
                    let close = rest.find(')').unwrap();
                    assert!(
                        rest[..close].contains("[$__rate_interval]")
                            || rest[..close].contains("[$__range]"),
                        "{}: {f} without $__rate_interval in {e}",
                        title(p)
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 45, "{checked}");
}

/// The units a query's values can be shown in.
fn units_for(expr: &str) -> &'static [&'static str] {
    let has = |s: &str| expr.contains(s);
    if has("_bytes_per_second") {
        &["binBps", "Bps"]
    } else if has("rate(") && has("_bytes_total") {
        &["Bps", "binBps"]
    } else if has("requests_per_second") {
        &["reqps"]
    } else if has("probe_requests_total") && has(" / ") {
        &["percentunit"] // successes of all probes
    } else if has("slo_burn_rate") || has("slo_error_ratio") {
        &["none"] // a multiple of the budget's rate
    } else if has("pressure_")
        || has("_ratio")
        || has("gc_pause_seconds_total") // seconds of pause per second
        || (has("periods_total") && has(" / "))
        || (has("segments_retransmitted_total") && has(" / "))
        || (has("listen_queue") && has(" / "))
    {
        &["percentunit"]
    } else if has("_bytes{") {
        &["bytes"]
    } else if has("time_to_limit_seconds")
        || has("event_loop_lag_seconds")
        || has("latency_p95_seconds")
        || has("probe_duration_seconds_sum")
        || has("_duration_seconds_bucket")
        || has("throttled_seconds_total")
        || has("wait_seconds_total")
    {
        &["s"]
    } else if has("cpu_seconds_total") || has("cpu_usage_seconds_total") || has("_cores") {
        &["short"] // cores
    } else if has("io_reads_total") || has("io_writes_total") {
        &["iops"]
    } else if has("rate(") {
        &["cps"] // events per second
    } else {
        &["none", "short"] // counts, states
    }
}

/// The CPU utilization panel plots what SidewatchCPUHigh tests: the rule's own PromQL, scoped by
/// the dashboard's variables (the same expression once they are taken out).
#[test]
fn cpu_utilization_panel_is_the_signal_of_the_cpu_alert() {
    let d = shipped();
    let p = panels(&d)
        .into_iter()
        .find(|p| title(p) == panel_of(Signal::CpuUtilizationRatio))
        .unwrap();
    let e = exprs(p);
    assert_eq!(e.len(), 1, "{e:?}");
    let unscoped = e[0]
        .replace(
            "{job=~\"$job\", instance=~\"$instance\", target=~\"$target\"}",
            "",
        )
        .replace("{job=~\"$job\", instance=~\"$instance\"}", "")
        .replace(
            "[$__rate_interval]",
            &format!("[{}]", sidewatch::rules::signal::IRATE_WINDOW),
        );
    let rule = Signal::CpuUtilizationRatio.promql(&[], std::time::Duration::ZERO);
    assert_eq!(unscoped, rule);
    assert!(rule.contains("sidewatch_host_cpus"), "{rule}");
}

#[test]
fn units_fit_what_each_panel_plots() {
    let d = shipped();
    for p in panels(&d) {
        for e in exprs(p) {
            assert!(
                units_for(e).contains(&unit(p)),
                "{}: unit {:?} for {e} (expected one of {:?})",
                title(p),
                unit(p),
                units_for(e)
            );
        }
    }
    // Spot checks of the reasoning above.
    let by_title = |t: &str| {
        panels(&d)
            .into_iter()
            .find(|p| title(p) == t)
            .unwrap_or_else(|| panic!("no panel {t}"))
    };
    assert_eq!(
        unit(by_title(
            "Memory: working set and RSS vs limit and recommendation"
        )),
        "bytes"
    );
    assert_eq!(unit(by_title("CPU utilization")), "percentunit");
    assert_eq!(unit(by_title("Time to memory limit")), "s");
    assert_eq!(unit(by_title("Memory growth")), "binBps");
    assert_eq!(unit(by_title("Disk I/O of the processes")), "Bps");
    assert_eq!(unit(by_title("GC pause share")), "percentunit");
    assert_eq!(unit(by_title("Event-loop lag")), "s");
}

/// The panel that draws each signal's thresholds (a new signal must be placed here).
fn panel_of(s: Signal) -> &'static str {
    match s {
        Signal::CpuUtilizationRatio => "CPU utilization",
        Signal::CpuCores => "CPU usage vs limit vs recommended request",
        Signal::MemoryWorkingSetBytes | Signal::MemoryRssBytes => {
            "Memory: working set and RSS vs limit and recommendation"
        }
        Signal::MemoryUtilizationRatio => "Memory utilization of the limit",
        Signal::Threads => "Threads",
        Signal::OpenFds => "Open file descriptors",
        Signal::FdUtilizationRatio => "File descriptor utilization",
        Signal::CpuThrottledRatio => "CPU throttling",
        Signal::PressureCpuRatio => "CPU pressure",
        Signal::PressureMemoryRatio => "Memory pressure",
        Signal::PressureIoRatio => "I/O pressure",
        Signal::Restarts => "Restarts in range",
        Signal::OomKills => "OOM kills in range",
        Signal::TargetUp => "Target up",
        Signal::RuntimeHeapBytes => "Runtime heap vs limit",
        Signal::RuntimeTasks => "Runtime tasks",
        Signal::RuntimeGcPerSecond => "GC cycles per second",
        Signal::RuntimeGcPauseRatio => "GC pause share",
        Signal::EventLoopLagSeconds => "Event-loop lag",
        Signal::ProbeSuccessRatio => "Probe success",
        Signal::ProbeDurationSeconds => "Probe duration",
        Signal::HttpRequestsPerSecond => "HTTP requests per second",
        Signal::HttpErrorRatio => "HTTP 5xx share",
        Signal::HttpLatencyP95Seconds => "HTTP P95 latency",
        Signal::TcpRetransmitRatio => "TCP retransmitted share",
        Signal::ListenOverflows => "Listen overflows in range",
        Signal::AcceptQueueRatio => "Accept queue use",
    }
}

/// (value, colour) of a panel's threshold steps, base step left out.
fn steps(p: &Value) -> Vec<(f64, String)> {
    p["fieldConfig"]["defaults"]["thresholds"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| !s["value"].is_null())
        .map(|s| {
            (
                s["value"].as_f64().unwrap(),
                s["color"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Checks a dashboard's threshold steps against a rule set read by sidewatch's own parser.
fn assert_thresholds_follow(d: &Value, set: &RuleSet) {
    let color = |s: Severity| match s {
        Severity::Critical => "red",
        Severity::Warning => "orange",
        Severity::Info => "blue",
    };
    let mut want: BTreeMap<&str, BTreeMap<String, String>> = BTreeMap::new();
    let key = |v: f64| format!("{v:.9e}");
    for s in Signal::ALL {
        if s != Signal::TargetUp {
            want.entry(panel_of(s)).or_default();
        }
    }
    for slo in &set.slos {
        let SloKind::Samples {
            signal, op, value, ..
        } = slo.kind
        else {
            continue;
        };
        if matches!(op, Op::Lt | Op::Le) && signal != Signal::TargetUp {
            want.get_mut(panel_of(signal))
                .unwrap()
                .insert(key(value), "yellow".into());
        }
    }
    for r in &set.rules {
        if !matches!(r.op, Op::Gt | Op::Ge) || r.signal == Signal::TargetUp {
            continue;
        }
        // Counters are shown as whole events: `> 0` is a colour from 1 event on.
        let v = match (r.signal, r.op) {
            (Signal::Restarts | Signal::OomKills | Signal::ListenOverflows, Op::Gt) => {
                r.value + 1.0
            }
            _ => r.value,
        };
        want.get_mut(panel_of(r.signal))
            .unwrap()
            .insert(key(v), color(r.severity).into());
    }
    for (panel, levels) in want {
        let p = panels(d)
            .into_iter()
            .find(|p| title(p) == panel)
            .unwrap_or_else(|| panic!("no panel {panel}"));
        let got: BTreeMap<String, String> =
            steps(p).into_iter().map(|(v, c)| (key(v), c)).collect();
        assert_eq!(got, levels, "threshold steps of {panel}");
        if p["type"] == "timeseries" {
            let mode = &p["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"];
            assert_eq!(
                mode,
                if levels.is_empty() { "off" } else { "dashed" },
                "{panel}"
            );
        }
    }
}

#[test]
fn threshold_lines_are_the_rules_and_slos_in_force() {
    let d = shipped();
    let builtin = RuleSet::builtin().unwrap();
    assert_thresholds_follow(&d, &builtin);
    // The defaults' levels, spelled out once.
    let mem = panels(&d)
        .into_iter()
        .find(|p| title(p).starts_with("Memory: working set"))
        .unwrap();
    assert_eq!(
        steps(mem),
        [
            (300.0 * 1048576.0, "yellow".into()),
            (500.0 * 1048576.0, "orange".into()),
            (1073741824.0, "red".into())
        ]
    );
    let by = |t: &str| steps(panels(&d).into_iter().find(|p| title(p) == t).unwrap());
    assert_eq!(
        by("HTTP P95 latency"),
        [(0.2, "orange".into()), (0.5, "red".into())]
    );
    assert_eq!(
        by("HTTP 5xx share"),
        [(0.01, "orange".into()), (0.05, "red".into())]
    );

    // Another config through the generator's --rules: its own reader agrees with sidewatch's
    // parser on other units and layouts (1.5GiB, 95%, 1500m, inline comments).
    let example = repo("alerts/examples/sidewatch.yml");
    let other: Value =
        serde_json::from_str(&generate(&["--rules", example.to_str().unwrap()])).unwrap();
    let file =
        sidewatch::config::parse_file(&std::fs::read_to_string(&example).unwrap(), None).unwrap();
    let set = RuleSet::from_config(file.rules.as_deref(), file.slos.as_deref(), None).unwrap();
    assert_thresholds_follow(&other, &set);
    assert_ne!(other, d);

    // Burn-rate lines: the factors of the generated burn-rate alerts.
    let mut factors: Vec<f64> = BURN_ALERTS
        .iter()
        .flat_map(|(_, conds)| conds.iter().map(|c| c.0))
        .collect();
    factors.sort_by(f64::total_cmp);
    for t in ["Burn rate (sidewatch)", "Burn rate (Prometheus rules)"] {
        let p = panels(&d).into_iter().find(|p| title(p) == t).unwrap();
        let got: Vec<f64> = steps(p).into_iter().map(|(v, _)| v).collect();
        assert_eq!(got, factors, "{t}");
    }
}

#[test]
fn provisioning_examples_point_grafana_at_the_dashboard() {
    let read = |p: &str| -> serde_yaml_ng::Value {
        serde_yaml_ng::from_str(&std::fs::read_to_string(repo(p)).unwrap()).unwrap()
    };
    let ds = read("grafana/provisioning/datasources/prometheus.yml");
    assert_eq!(ds["apiVersion"], 1);
    let list = ds["datasources"].as_sequence().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["type"], "prometheus");
    assert_eq!(list[0]["access"], "proxy");
    assert!(list[0]["url"].as_str().unwrap().starts_with("http"));
    assert!(list[0]["jsonData"]["timeInterval"].as_str().is_some());

    let dash = read("grafana/provisioning/dashboards/sidewatch.yml");
    assert_eq!(dash["apiVersion"], 1);
    let p = &dash["providers"][0];
    assert_eq!(p["type"], "file");
    let path = p["options"]["path"].as_str().unwrap();
    assert!(path.starts_with('/'), "{path}");
    // The README tells where to copy the dashboard: the provider's path.
    let readme = std::fs::read_to_string(repo("README.md")).unwrap();
    assert!(
        readme.contains(&format!("{path}/sidewatch.json")),
        "README does not say to copy the dashboard to {path}"
    );
}

/// `grafana/needs-history.txt` names queries of the dashboard, each with a reason (the e2e test
/// runs them; this catches a renamed panel without Prometheus).
#[test]
fn needs_history_list_names_dashboard_queries() {
    let d = shipped();
    let queries: BTreeSet<(String, String)> = panels(&d)
        .into_iter()
        .flat_map(|p| {
            p["targets"].as_array().unwrap().iter().map(|t| {
                (
                    title(p).to_string(),
                    t["refId"].as_str().unwrap().to_string(),
                )
            })
        })
        .collect();
    let re = regex_lite::Regex::new(r"^(.+) \[([A-Z])\]: (.{20,})$").unwrap();
    let text = std::fs::read_to_string(repo("grafana/needs-history.txt")).unwrap();
    let mut entries = 0;
    for l in text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let c = re
            .captures(l)
            .unwrap_or_else(|| panic!("not `<panel> [<refId>]: <reason>`: {l}"));
        assert!(
            queries.contains(&(c[1].to_string(), c[2].to_string())),
            "no query {} [{}] in the dashboard",
            &c[1],
            &c[2]
        );
        entries += 1;
    }
    assert_eq!(entries, 7);
}

/// The dashboard's Runbooks link has no placeholder host: by default it is the selected
/// instance's own copy, and with `$instance` set to a running daemon it answers with the
/// runbook of every alert the shipped rules define.
#[test]
fn runbooks_link_resolves_on_the_selected_instance() {
    let d = shipped();
    let links = d["links"].as_array().unwrap();
    let url = links
        .iter()
        .find(|l| l["title"] == "Runbooks")
        .and_then(|l| l["url"].as_str())
        .unwrap();
    assert_eq!(url, "http://${instance}/docs/runbooks.md");
    let daemon = Daemon::start(&["--pid", &std::process::id().to_string()]);
    let path = url
        .strip_prefix("http://${instance}")
        .expect("the link is on the instance");
    let r = daemon.get(path);
    assert_eq!(r.status, 200, "{}", r.text());
    let page = r.text();
    let rules = std::fs::read_to_string(repo("alerts/sidewatch.rules.yml")).unwrap();
    for alert in rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
    {
        assert!(
            page.contains(&format!("## {alert}")),
            "no runbook heading for {alert}"
        );
    }
    let custom = generate(&["--runbook-base", "https://wiki.example/runbooks"]);
    assert!(
        custom.contains("\"url\": \"https://wiki.example/runbooks\""),
        "--runbook-base is not the link"
    );
}
