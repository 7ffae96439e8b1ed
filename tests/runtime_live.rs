//! Runtime figures from real applications' own /metrics, watched with `app.metrics_url`: a
//! real Prometheus 2.42 (Go) and a Python app using the distribution's prometheus_client. Each
//! figure sidewatch exports is checked against the same endpoint read directly just before and
//! just after the tick that fetched it.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::stack::{Prometheus, body, free_addr, wait_for};
use common::{Daemon, Metrics, http, promtool_clean, require_tool, spawn};

fn scrape(addr: SocketAddr) -> Metrics {
    let r = http(addr, "GET", "/metrics", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    // Go's server answers chunked.
    Metrics::parse(&String::from_utf8(body(&r)).unwrap())
}

/// Starts sidewatch watching the process `matcher` selects (`pid: 1`) with the app's metrics at
/// `addr`, a tick every 500 ms.
fn sidewatch(dir: &Path, name: &str, matcher: &str, addr: SocketAddr) -> Daemon {
    let cfg = dir.join("sidewatch.yml");
    let yaml = format!(
        "interval: 500ms\ntargets:\n  - name: {name}\n    {matcher}\n    app:\n      metrics_url: http://{addr}/metrics\n      timeout: 400ms\n"
    );
    std::fs::write(&cfg, yaml).unwrap();
    let d = Daemon::start(&["--config", cfg.to_str().unwrap()]);
    d.wait_until(Duration::from_secs(10), |d| {
        d.metrics().has("sidewatch_runtime_info")
    });
    d
}

/// Returns once sidewatch has published a fresh fetch that started after this call: the fetch
/// a tick starts is taken by the next one, so two ticks or more (more when a fetch of a loaded
/// machine missed its tick).
fn fetched_after_now(d: &Daemon) -> Metrics {
    after_ticks(d, |m| m.has("sidewatch_runtime_info"))
}

/// The first published tick at least two ticks after this call for which `ok` holds.
fn after_ticks(d: &Daemon, ok: impl Fn(&Metrics) -> bool) -> Metrics {
    let ticks = |m: &Metrics| m.get("sidewatch_ticks_total", &[]).unwrap();
    let t0 = ticks(&d.metrics());
    let mut found = None;
    d.wait_until(Duration::from_secs(10), |d| {
        let m = d.metrics();
        let done = ticks(&m) >= t0 + 2.0 && ok(&m);
        if done {
            found = Some(m);
        }
        done
    });
    found.unwrap()
}

fn between(what: &str, got: f64, a: f64, b: f64, slack: f64) {
    let (lo, hi) = (a.min(b) - slack, a.max(b) + slack);
    eprintln!("{what}: sidewatch {got}, the app {a} before and {b} after");
    assert!(
        (lo..=hi).contains(&got),
        "{what}: sidewatch {got}, the app {a} before and {b} after (slack {slack})"
    );
}

#[test]
fn a_real_prometheus_goroutines_gc_and_version() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("prometheus.yml"), "scrape_configs: []\n").unwrap();
    let prom = Prometheus::start(dir.path(), &[]);
    let d = sidewatch(
        dir.path(),
        "prom",
        &format!("pid: {}", prom.pid()),
        prom.addr,
    );
    let t = [("target", "prom")];

    let before = scrape(prom.addr);
    let m = fetched_after_now(&d);
    let after = scrape(prom.addr);
    // Goroutines move with the HTTP connections being served at that instant (our direct
    // request and sidewatch's fetch each hold one or two while in flight): 3 either side.
    between(
        "goroutines",
        m.get("sidewatch_runtime_tasks", &t).unwrap(),
        before.get("go_goroutines", &[]).unwrap(),
        after.get("go_goroutines", &[]).unwrap(),
        3.0,
    );
    // The GC counters only grow, and sidewatch's total is the app's own count (no restart, the
    // first reading counts in full): exactly within the two direct readings.
    for (ours, theirs) in [
        (
            "sidewatch_runtime_gc_collections_total",
            "go_gc_duration_seconds_count",
        ),
        (
            "sidewatch_runtime_gc_pause_seconds_total",
            "go_gc_duration_seconds_sum",
        ),
    ] {
        between(
            ours,
            m.get(ours, &t).unwrap(),
            before.get(theirs, &[]).unwrap(),
            after.get(theirs, &[]).unwrap(),
            0.0,
        );
    }
    let version = before
        .samples
        .iter()
        .find(|(n, _, _)| n == "go_info")
        .map(|(_, l, _)| l["version"].clone())
        .unwrap();
    assert_eq!(
        m.get(
            "sidewatch_runtime_info",
            &[("target", "prom"), ("runtime", "go"), ("version", &version)]
        ),
        Some(1.0)
    );
    assert!(m.get("sidewatch_runtime_heap_bytes", &t).unwrap() > 0.0);
    // Prometheus 2.42's client_golang has no go_gc_gomemlimit_bytes: no limit, not 0.
    assert!(!m.has("sidewatch_runtime_heap_limit_bytes"));
    assert!(!m.has("sidewatch_runtime_event_loop_lag_seconds"));
    promtool_clean(&d.get("/metrics").text());
}

/// Collects 20 times a second, after `argv[2]` collections at start (a long-running process's
/// count, so that a restarted one starts below it).
const PYTHON_APP: &str = "\
import gc, sys, time
from prometheus_client import start_http_server
for _ in range(int(sys.argv[2])):
    gc.collect(0)
start_http_server(int(sys.argv[1]), addr='127.0.0.1')
junk = []
while True:
    junk = [[i] for i in range(20000)]
    gc.collect(0)
    time.sleep(0.05)
";

fn python_app(script: &Path, addr: SocketAddr, collections: u32) -> common::Proc {
    let app = spawn(
        Command::new("/usr/bin/python3")
            .arg(script)
            .arg(addr.port().to_string())
            .arg(collections.to_string())
            .stdin(Stdio::null()),
    );
    wait_for(Duration::from_secs(10), "the python app", || {
        std::net::TcpStream::connect(addr).is_ok()
    });
    app
}

fn python_gcs(m: &Metrics) -> f64 {
    m.samples
        .iter()
        .filter(|(n, _, _)| n == "python_gc_collections_total")
        .map(|(_, _, v)| v)
        .sum()
}

/// A Python app's GC collections are counted, and keep counting across its restart (its own
/// counter drops to a fresh process's count; sidewatch's only grows, by that count).
#[test]
fn a_python_app_gc_collections_are_counted_across_its_restart() {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("rt_gc_{}.py", std::process::id());
    let script = dir.path().join(&name);
    std::fs::write(&script, PYTHON_APP).unwrap();
    let addr = free_addr();
    let app = python_app(&script, addr, 5000);
    let matcher = format!("cmdline: '{}'", name.replace('.', "\\."));
    let d = sidewatch(dir.path(), "py", &matcher, addr);
    let t = [("target", "py")];
    let total = |m: &Metrics| m.get("sidewatch_runtime_gc_collections_total", &t).unwrap();

    let before = scrape(addr);
    let m = fetched_after_now(&d);
    let after = scrape(addr);
    // The app collects 20 times a second: the count moved between the two readings, and
    // sidewatch's total is the app's own count at its fetch.
    assert!(python_gcs(&after) > python_gcs(&before));
    between(
        "gc collections",
        total(&m),
        python_gcs(&before),
        python_gcs(&after),
        0.0,
    );
    let version = before
        .samples
        .iter()
        .find(|(n, _, _)| n == "python_info")
        .map(|(_, l, _)| l["version"].clone())
        .unwrap();
    assert_eq!(
        m.get(
            "sidewatch_runtime_info",
            &[
                ("target", "py"),
                ("runtime", "python"),
                ("version", &version)
            ]
        ),
        Some(1.0)
    );
    // prometheus_client says nothing of heap, tasks or pauses: absent, not 0.
    for absent in [
        "sidewatch_runtime_heap_bytes",
        "sidewatch_runtime_tasks",
        "sidewatch_runtime_gc_pause_seconds_total",
    ] {
        assert!(!m.has(absent), "{absent}");
    }
    promtool_clean(&d.get("/metrics").text());

    // Restart: the old process's last count stays in the total.
    drop(app);
    let stopped = total(&after_ticks(&d, |_| true));
    assert!(stopped >= total(&m));
    let app = python_app(&script, addr, 0);
    let before = scrape(addr);
    let m = fetched_after_now(&d);
    let after = scrape(addr);
    assert!(python_gcs(&after) < 5000.0, "the new process starts lower");
    between(
        "gc collections since the restart",
        total(&m) - stopped,
        python_gcs(&before),
        python_gcs(&after),
        0.0,
    );
    drop(app);
}

/// Rules on every runtime signal: `sidewatch rules` writes what `promtool check rules` accepts,
/// with the expressions README states.
#[test]
fn rules_on_runtime_signals_pass_promtool() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sidewatch.yml");
    std::fs::write(
        &cfg,
        "targets:\n  - {name: api, comm: api}\nrules:\n  - {alert: GoroutinesHigh, signal: runtime_tasks, op: '>', value: 10k, for: 5m, severity: warning}\n  - {alert: LagHigh, signal: event_loop_lag_seconds, op: '>', value: 200ms, for: 1m, severity: warning}\n  - {alert: GcPause, signal: runtime_gc_pause_ratio, op: '>', value: 5%, for: 5m, severity: warning}\n  - {alert: GcRate, signal: runtime_gc_per_second, op: '>', value: 50, for: 5m, severity: info}\n  - {alert: HeapHigh, signal: runtime_heap_bytes, op: '>', value: 500MiB, for: 5m, severity: warning}\nslos:\n  - {name: tasks, signal: runtime_tasks, op: '<', value: 1000, objective: 99%, window: 30d}\n",
    )
    .unwrap();
    let out = Command::new(common::BIN)
        .args(["rules", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rules = String::from_utf8(out.stdout).unwrap();
    let file = dir.path().join("rules.yml");
    std::fs::write(&file, &rules).unwrap();
    let promtool = require_tool("promtool", "prometheus");
    let o = Command::new(promtool)
        .args(["check", "rules", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for expr in [
        "expr: sidewatch_runtime_tasks > 10000",
        "expr: sidewatch_runtime_event_loop_lag_seconds > 0.2",
        "expr: irate(sidewatch_runtime_gc_pause_seconds_total[2m]) > 0.05",
        "expr: irate(sidewatch_runtime_gc_collections_total[2m]) > 50",
        "expr: sidewatch_runtime_heap_bytes > 524288000",
        "{{ $value | humanizeDuration }}, above 200ms",
    ] {
        assert!(rules.contains(expr), "{expr} missing from:\n{rules}");
    }
}

/// The runtime families of a Node.js and a Micrometer JVM app (every runtime family, from the
/// fixtures through detection and the restart-proof counters) pass `promtool check metrics`
/// and carry the fixtures' values.
#[test]
fn a_body_with_every_runtime_family_passes_promtool() {
    use sidewatch::histogram::HistogramValues;
    use sidewatch::runtime::{RuntimeCounters, detect};
    use sidewatch::sample::TargetSample;
    use sidewatch::snapshot::Snapshot;
    use sidewatch::source::exposition::{Format, parse};

    let target = |name: &str, fixture: &str| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/app")
            .join(fixture);
        let e = parse(&std::fs::read_to_string(path).unwrap(), Format::Text004).unwrap();
        TargetSample {
            name: name.into(),
            labels: vec![("namespace".into(), "shop".into())],
            up: true,
            runtime: Some(RuntimeCounters::default().update(1.0, detect(&e))),
            ..Default::default()
        }
    };
    let snapshot = Snapshot {
        timestamp_seconds: 1.0,
        targets: vec![
            target("web", "runtime-node-promclient.txt"),
            target("orders", "runtime-jvm-micrometer.txt"),
        ],
        read_errors: vec![],
        ticks_total: 1,
        tick_duration_seconds: HistogramValues::new(&[0.1]),
        scrapes_total: 0,
        exporter: None,
        host_cpus: Some(2),
        version: "test",
        revision: "test",
        rules: None,
        history: None,
        config_last_reload_successful: true,
        config_last_reload_success_timestamp_seconds: 1.0,
    };
    let om = sidewatch::expose::render_openmetrics(std::sync::Arc::new(snapshot));
    let text = sidewatch::expose::openmetrics_to_text(&om);
    promtool_clean(&text);
    let m = Metrics::parse(&text);
    let web = [("target", "web"), ("namespace", "shop")];
    let orders = [("target", "orders"), ("namespace", "shop")];
    assert_eq!(
        m.get("sidewatch_runtime_heap_bytes", &web),
        Some(15_454_272.0)
    );
    assert_eq!(m.get("sidewatch_runtime_tasks", &web), Some(2.0));
    assert_eq!(
        m.get("sidewatch_runtime_event_loop_lag_seconds", &web),
        Some(0.026066943)
    );
    assert_eq!(
        m.get("sidewatch_runtime_gc_collections_total", &web),
        Some(13.0)
    );
    assert_eq!(m.get("sidewatch_runtime_heap_limit_bytes", &web), None);
    assert_eq!(
        m.get("sidewatch_runtime_heap_limit_bytes", &orders),
        Some(4.194304e9)
    );
    assert_eq!(
        m.get(
            "sidewatch_runtime_info",
            &[
                ("target", "orders"),
                ("runtime", "jvm"),
                ("version", "21.0.2+13-LTS")
            ]
        ),
        Some(1.0)
    );
}

const NODE_APP: &str = "\
const http = require('http');
const client = require(process.argv[3]);
client.collectDefaultMetrics();
let keep = [];
setInterval(() => { keep.push(new Array(10000).fill(1)); if (keep.length > 50) keep = []; }, 10);
http.createServer(async (req, res) => {
  res.setHeader('Content-Type', client.register.contentType);
  res.end(await client.register.metrics());
}).listen(Number(process.argv[2]), '127.0.0.1');
";

/// A Node.js app with prom-client from the npm registry (installed by scripts/test into
/// target/node): handles, GC, event-loop lag and version as the app reports them.
#[test]
fn a_node_app_handles_gc_and_lag() {
    let module = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/node/node_modules/prom-client");
    assert!(
        module.is_dir(),
        "prom-client is not installed: run `npm install --prefix target/node prom-client@15` (scripts/test does)"
    );
    let node = require_tool("node", "nodejs");
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("app.js");
    std::fs::write(&script, NODE_APP).unwrap();
    let addr = free_addr();
    let app = spawn(
        Command::new(node)
            .arg(&script)
            .arg(addr.port().to_string())
            .arg(&module)
            .stdin(Stdio::null()),
    );
    wait_for(Duration::from_secs(10), "the node app", || {
        std::net::TcpStream::connect(addr).is_ok()
    });
    let d = sidewatch(dir.path(), "web", &format!("pid: {}", app.pid()), addr);
    let t = [("target", "web")];
    let sum = |m: &Metrics, name: &str| -> f64 {
        m.samples
            .iter()
            .filter(|(n, _, _)| n == name)
            .map(|(_, _, v)| v)
            .sum()
    };
    let before = scrape(addr);
    let m = fetched_after_now(&d);
    let after = scrape(addr);
    // Handles: the server, plus a socket per connection open at that instant (our direct
    // request's, sidewatch's fetch): 2 either side.
    between(
        "active handles",
        m.get("sidewatch_runtime_tasks", &t).unwrap(),
        before.get("nodejs_active_handles_total", &[]).unwrap(),
        after.get("nodejs_active_handles_total", &[]).unwrap(),
        2.0,
    );
    for (ours, theirs) in [
        (
            "sidewatch_runtime_gc_collections_total",
            "nodejs_gc_duration_seconds_count",
        ),
        (
            "sidewatch_runtime_gc_pause_seconds_total",
            "nodejs_gc_duration_seconds_sum",
        ),
    ] {
        between(
            ours,
            m.get(ours, &t).unwrap(),
            sum(&before, theirs),
            sum(&after, theirs),
            1e-9,
        );
    }
    assert!(m.get("sidewatch_runtime_heap_bytes", &t).unwrap() > 0.0);
    assert!(
        m.get("sidewatch_runtime_event_loop_lag_seconds", &t)
            .unwrap()
            > 0.0
    );
    assert!(!m.has("sidewatch_runtime_heap_limit_bytes"));
    let version = before
        .samples
        .iter()
        .find(|(n, _, _)| n == "nodejs_version_info")
        .map(|(_, l, _)| l["version"].clone())
        .unwrap();
    assert_eq!(
        m.get(
            "sidewatch_runtime_info",
            &[
                ("target", "web"),
                ("runtime", "node"),
                ("version", &version)
            ]
        ),
        Some(1.0)
    );
    promtool_clean(&d.get("/metrics").text());
}
