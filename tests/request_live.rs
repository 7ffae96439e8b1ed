//! Request SLIs from real applications' own series: a real Prometheus 2.42 as the app (its
//! `prometheus_http_request_duration_seconds{handler}` histogram) with a second real Prometheus
//! computing `histogram_quantile` over the same series, and a Python app (prometheus_client)
//! answering 5 % errors that burns an events SLO and the built-in availability SLO.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::stack::{Prometheus, free_addr, urlencode, wait_for};
use common::{Daemon, http, spawn};

/// Stops a request driver thread when dropped (also when the test fails).
struct Driver {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl Driver {
    fn start(mut request: impl FnMut() + Send + 'static) -> Driver {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut n = 0;
            while !s.load(Ordering::Relaxed) {
                request();
                n += 1;
            }
            n
        });
        Driver {
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Watches the target `matcher` selects with its app metrics at `addr`; the fetch timeout is 40 % of the interval (a
/// busy app on a loaded machine answers late rather than never).
fn sidewatch(
    dir: &Path,
    interval: Duration,
    matcher: &str,
    addr: SocketAddr,
    slos: &str,
) -> Daemon {
    let cfg = dir.join("sidewatch.yml");
    let yaml = format!(
        "interval: {}ms\ntargets:\n  - name: app\n    {matcher}\n    app:\n      metrics_url: http://{addr}/metrics\n      timeout: {}ms\nrules: []\nslos:\n{slos}",
        interval.as_millis(),
        (interval * 2 / 5).as_millis()
    );
    std::fs::write(&cfg, yaml).unwrap();
    Daemon::start(&["--config", cfg.to_str().unwrap()])
}

/// Sidewatch's P95 between two readings of a real Prometheus's request histogram, against a
/// second real Prometheus's `histogram_quantile(0.95, sum by (le) (rate(..[1m])))` over the same
/// minute. A tick every minute makes sidewatch's window that same minute: the value published
/// at a tick is between the fetches started by the two ticks before it.
#[test]
fn p95_agrees_with_histogram_quantile_of_a_real_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let app_dir = dir.path().join("app");
    std::fs::create_dir(&app_dir).unwrap();
    // The app scrapes itself (its address known once started: file service discovery) so that
    // a range query has data to chew on.
    let sd = app_dir.join("self.json");
    std::fs::write(
        app_dir.join("prometheus.yml"),
        format!(
            "global: {{scrape_interval: 1s}}\nscrape_configs:\n  - job_name: self\n    file_sd_configs: [{{files: ['{}']}}]\n",
            sd.display()
        ),
    )
    .unwrap();
    let app = Prometheus::start(&app_dir, &[]);
    let app_addr = app.addr;
    std::fs::write(&sd, format!("[{{\"targets\": [\"{app_addr}\"]}}]")).unwrap();
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!(
            "global: {{scrape_interval: 1s}}\nscrape_configs:\n  - job_name: app\n    static_configs: [{{targets: ['{app_addr}']}}]\n"
        ),
    )
    .unwrap();
    let judge = Prometheus::start(dir.path(), &[]);

    // A steady mix: 4 cheap queries, then one range query of 6,000 steps over the last 30 s
    // (about 0.1 s here, steady once the app has 90 s of its own series), so the P95 falls
    // between buckets instead of at a bucket bound.
    let driver = Driver::start(move || {
        for _ in 0..4 {
            http(app_addr, "GET", "/api/v1/query?query=up", &[]);
        }
        let now = unix_now() as u64;
        let q = format!(
            "/api/v1/query_range?query={}&start={}&end={now}&step=0.005",
            urlencode("count_over_time({__name__=~\".+\"}[1m])"),
            now - 30
        );
        http(app_addr, "GET", &q, &[]);
        std::thread::sleep(Duration::from_millis(20));
    });
    let d = sidewatch(
        dir.path(),
        Duration::from_secs(60),
        &format!("pid: {}", app.pid()),
        app_addr,
        "  - {name: fast, kind: latency, threshold: 150ms, objective: 95%, window: 1h}\n",
    );
    // The first P95 comes at the third tick (two fetches needed, each taken a tick later); the
    // one after covers a minute of steady traffic, well after both Prometheus servers started
    // (rate's extrapolation near a counter's start differs from a plain difference).
    let t = [("target", "app")];
    let ticks = |d: &Daemon| d.metrics().get("sidewatch_ticks_total", &[]).unwrap();
    d.wait_until(Duration::from_secs(200), |d| {
        d.metrics().has("sidewatch_http_latency_p95_seconds")
    });
    let first = ticks(&d);
    let mut seen = None;
    d.wait_until(Duration::from_secs(100), |d| {
        let m = d.metrics();
        seen = m.get("sidewatch_http_latency_p95_seconds", &t);
        let now = m.get("sidewatch_ticks_total", &[]).unwrap();
        assert!(
            now <= first || seen.is_some(),
            "no P95 at the tick after the first: app_metrics_up {:?}, read errors {:?}",
            m.get("sidewatch_app_metrics_up", &t),
            m.get("sidewatch_read_errors_total", &[("source", "app_metrics")])
        );
        now > first
    });
    let published = unix_now();
    let ours = seen.unwrap();
    // The window ended at the previous tick, a minute before this one (polled every 50 ms).
    let end = published - 60.0;
    let q = "histogram_quantile(0.95, sum by (le) (rate(prometheus_http_request_duration_seconds_bucket[1m])))";
    let r = judge.api(&format!(
        "/api/v1/query?query={}&time={end:.3}",
        urlencode(q)
    ));
    let theirs: f64 = r["data"]["result"][0]["value"][1]
        .as_str()
        .unwrap_or_else(|| panic!("{r}"))
        .parse()
        .unwrap();
    let requests = driver.finish();
    let m = d.metrics();
    let rps = m.get("sidewatch_http_requests_per_second", &t).unwrap();
    eprintln!("p95: sidewatch {ours}, Prometheus {theirs}; {rps} req/s; {requests} driver rounds");
    assert!(
        ((ours - theirs) / theirs).abs() <= 0.10,
        "sidewatch P95 {ours} vs histogram_quantile {theirs}"
    );
    // The histogram spans several buckets: the value is interpolated, not a bucket bound.
    assert!(
        theirs > 0.0 && ![0.1, 0.2, 0.4].contains(&theirs),
        "{theirs}"
    );
    // Prometheus 2.42's histogram has no status label: the error ratio is unknown, not 0.
    assert_eq!(m.get("sidewatch_http_error_ratio", &t), None);
    // The latency SLO says which bucket it counts (150ms has none: the 0.1 one).
    let slos: serde_json::Value = serde_json::from_slice(&d.get("/api/v1/slos").body).unwrap();
    assert_eq!(
        slos["data"]["slos"][0]["bucket"],
        serde_json::json!({"histogram": "prometheus_http_request_duration_seconds", "le": "0.1", "exact": false})
    );
}

const ERROR_APP: &str = r#"
import sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from prometheus_client import Counter, Histogram, generate_latest, CONTENT_TYPE_LATEST

REQUESTS = Counter("http_requests", "Requests answered.", ["code"])
# OpenTelemetry's name and status label, as its Prometheus exporter writes them.
DURATION = Histogram("http_server_request_duration_seconds", "Request durations.",
                     ["http_response_status_code"])
lock = threading.Lock()
n = 0

class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        global n
        if self.path == "/metrics":
            body = generate_latest()
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE_LATEST)
        else:
            with lock:
                n += 1
                code = 500 if n % 20 == 0 else 200
            REQUESTS.labels(str(code)).inc()
            DURATION.labels(str(code)).observe(0.001)
            body = b"x"
            self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"#;

/// Drives `/` of the error app until stopped; counts the answers by status.
fn drive_errors(addr: SocketAddr, answers: Arc<[std::sync::atomic::AtomicU64; 2]>) -> Driver {
    Driver::start(move || {
        let r = http(addr, "GET", "/", &[]);
        let i = match r.status {
            200 => 0,
            500 => 1,
            other => panic!("status {other}"),
        };
        answers[i].fetch_add(1, Ordering::Relaxed);
    })
}

fn start_error_app(script: &Path, addr: SocketAddr) -> common::Proc {
    let app = spawn(
        Command::new("/usr/bin/python3")
            .arg(script)
            .arg(addr.port().to_string())
            .stdin(Stdio::null()),
    );
    wait_for(Duration::from_secs(10), "the python app", || {
        std::net::TcpStream::connect(addr).is_ok()
    });
    app
}

/// The built-in `availability` SLO as `src/rules/defaults.yml` defines it, as one YAML list item.
fn builtin_availability_slo() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/rules/defaults.yml");
    let d: serde_json::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let slo = d["slos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "availability")
        .expect("a built-in availability SLO");
    // JSON is YAML's flow style.
    format!("  - {slo}\n")
}

/// One request in 20 answered 500 against a 99 % events SLO over the app's counter and the
/// built-in availability SLO over its OpenTelemetry histogram: each budget burns 5 times as
/// fast as it may (0.05 / 0.01). The app restarts half-way (its counters start again from
/// zero): sidewatch's good/total are exactly the answers the test received, 200 and all.
#[test]
fn five_percent_errors_burn_an_availability_slo_at_five() {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("errors_{}.py", std::process::id());
    let script = dir.path().join(&name);
    std::fs::write(&script, ERROR_APP).unwrap();
    let addr = free_addr();
    let app = start_error_app(&script, addr);
    let d = sidewatch(
        dir.path(),
        Duration::from_secs(1),
        &format!("cmdline: '{}'", name.replace('.', "\\.")),
        addr,
        &format!(
            "  - {{name: events, kind: events, good: 'http_requests_total{{code!~\"5..\"}}', total: http_requests_total, objective: 99%, window: 1h}}\n{}",
            builtin_availability_slo()
        ),
    );
    let slo_named = |name: &str| -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_slice(&d.get("/api/v1/slos").body).unwrap();
        v["data"]["slos"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["slo"] == name)
            .cloned()
            .unwrap_or_default()
    };
    // Both SLOs count every answer (their readings are the same tick's).
    let counted = || {
        ["events", "availability"]
            .map(|n| slo_named(n)["samplesTotal"].as_u64().unwrap_or(0))
            .into_iter()
            .min()
            .unwrap_or(0)
    };
    let answers: Arc<[std::sync::atomic::AtomicU64; 2]> = Arc::default();
    let answered = |a: &[std::sync::atomic::AtomicU64; 2]| {
        let ok = a[0].load(Ordering::Relaxed);
        (ok, ok + a[1].load(Ordering::Relaxed))
    };
    // Until sidewatch has counted every answer (a reading a tick later, polled).
    let settle = |want: u64| {
        d.wait_until(Duration::from_secs(30), |_| counted() >= want);
    };
    let start = Instant::now();
    let driver = drive_errors(addr, answers.clone());
    d.wait_until(Duration::from_secs(120), |_| counted() >= 1500);
    driver.finish();
    settle(answered(&answers).1);
    drop(app);
    let app = start_error_app(&script, addr);
    // Fewer requests than before the restart: a reset shows as a counter lower than the last
    // reading (as for Prometheus, a restarted app that overtakes its old count before the next
    // reading is indistinguishable from growth).
    let driver = drive_errors(addr, answers.clone());
    let restarted_at = answered(&answers).1;
    while answered(&answers).1 < restarted_at + 400 {
        std::thread::sleep(Duration::from_millis(5));
    }
    driver.finish();
    let (ok, all) = answered(&answers);
    settle(all);
    // One more tick: nothing more is counted.
    std::thread::sleep(Duration::from_millis(2500));
    let slos = ["events", "availability"].map(slo_named);
    drop(app);
    let m = d.metrics();
    for (s, kind) in slos.iter().zip(["events", "availability"]) {
        let burn = s["burnRate"]["5m"].as_f64().unwrap();
        eprintln!(
            "{kind}: burn rate 5m {burn}; answered {ok} ok of {all} in {:?}: {s}",
            start.elapsed()
        );
        assert_eq!(s["kind"], kind);
        assert_eq!(
            (s["goodSamplesTotal"].as_u64(), s["samplesTotal"].as_u64()),
            (Some(ok), Some(all)),
            "{kind}: sidewatch's good/total against the answers received"
        );
        assert!((burn - 5.0).abs() <= 0.5, "{kind}: burn rate {burn}");
        // The same counts are exported for the generated Prometheus rules.
        let l = [("slo", s["slo"].as_str().unwrap()), ("target", "app")];
        assert_eq!(m.get("sidewatch_slo_samples_total", &l), Some(all as f64));
        assert_eq!(
            m.get("sidewatch_slo_good_samples_total", &l),
            Some(ok as f64)
        );
    }
}
