//! The HTTP probe in a real daemon against a small std::net application on 127.0.0.1 whose
//! behaviour the test switches (200, 500, wrong body, silent). The truth is the application's
//! own count of the probe requests it received and the delay it adds to each answer.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Daemon, Metrics, require_tool, run_with_stdin};

/// What the application does with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Mode {
    /// 200 with a body holding "ok" after `DELAY`.
    Ok = 0,
    /// 500 after `DELAY`.
    Error = 1,
    /// 200 with a body without "ok".
    WrongBody = 2,
    /// Reads the request and never answers (the connection stays open).
    Silent = 3,
}

/// What the application waits before each answer: the probe duration's lower bound.
const DELAY: Duration = Duration::from_millis(60);

struct App {
    addr: SocketAddr,
    mode: Arc<AtomicU8>,
    stop: Arc<AtomicBool>,
    /// Probe requests (path /healthz) received.
    probes: Arc<AtomicUsize>,
    /// Most connections open at once.
    max_open: Arc<AtomicUsize>,
    heads: Arc<Mutex<Vec<String>>>,
}

impl Drop for App {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl App {
    fn start(mode: Mode) -> App {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let app = App {
            addr: listener.local_addr().unwrap(),
            mode: Arc::new(AtomicU8::new(mode as u8)),
            stop: Arc::new(AtomicBool::new(false)),
            probes: Arc::default(),
            max_open: Arc::default(),
            heads: Arc::default(),
        };
        let (mode, stop, probes, max_open, heads) = (
            app.mode.clone(),
            app.stop.clone(),
            app.probes.clone(),
            app.max_open.clone(),
            app.heads.clone(),
        );
        let open = Arc::new(AtomicUsize::new(0));
        std::thread::spawn(move || {
            // Bounded: no test here runs this long.
            let deadline = Instant::now() + Duration::from_secs(120);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                let Ok((conn, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                max_open.fetch_max(open.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                let (mode, stop, probes, open, heads) = (
                    mode.clone(),
                    stop.clone(),
                    probes.clone(),
                    open.clone(),
                    heads.clone(),
                );
                std::thread::spawn(move || {
                    serve(conn, &mode, &stop, &probes, &heads);
                    open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        app
    }

    fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }

    fn url(&self) -> String {
        format!("http://{}/healthz", self.addr)
    }

    /// One request timed by the test (path /measure: not counted as a probe).
    fn measure(&self) -> Duration {
        let started = Instant::now();
        let mut s = TcpStream::connect(self.addr).unwrap();
        s.write_all(b"GET /measure HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        assert!(out.starts_with(b"HTTP/1.1 200"));
        started.elapsed()
    }
}

fn serve(
    mut conn: TcpStream,
    mode: &AtomicU8,
    stop: &AtomicBool,
    probes: &AtomicUsize,
    heads: &Mutex<Vec<String>>,
) {
    let _ = conn.set_nonblocking(false);
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match conn.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    if head.starts_with("GET /old ") {
        let _ = conn.write_all(
            b"HTTP/1.1 302 Found\r\nLocation: /healthz\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        return;
    }
    if head.starts_with("GET /healthz ") || head.starts_with("HEAD /healthz ") {
        probes.fetch_add(1, Ordering::SeqCst);
        heads.lock().unwrap().push(head.clone());
    }
    let mode = mode.load(Ordering::SeqCst);
    if mode == Mode::Silent as u8 && !head.contains("/measure") {
        // Hold the connection until the client gives up.
        conn.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let mut b = [0u8; 64];
        while !stop.load(Ordering::Relaxed) {
            match conn.read(&mut b) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return,
            }
        }
        return;
    }
    std::thread::sleep(DELAY);
    let (status, body) = match mode {
        m if m == Mode::Error as u8 => ("500 Internal Server Error", "failing\n"),
        m if m == Mode::WrongBody as u8 => ("200 OK", "status: degraded\n"),
        _ => ("200 OK", "status: ok\n"),
    };
    let answer = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = conn.write_all(answer.as_bytes());
}

/// A port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn requests(m: &Metrics, target: &str, result: &str, reason: Option<&str>) -> f64 {
    let mut want = vec![("target", target), ("result", result)];
    if let Some(r) = reason {
        want.push(("reason", r));
    }
    m.get("sidewatch_probe_requests_total", &want)
        .unwrap_or_else(|| panic!("no {want:?}"))
}

fn failures(m: &Metrics, target: &str, reason: &str) -> f64 {
    requests(m, target, "failure", Some(reason))
}

fn successes(m: &Metrics, target: &str) -> f64 {
    requests(m, target, "success", None)
}

fn all_failures(m: &Metrics, target: &str) -> f64 {
    m.samples
        .iter()
        .filter(|(n, l, _)| {
            n == "sidewatch_probe_requests_total"
                && l["target"] == target
                && l["result"] == "failure"
        })
        .map(|(_, _, v)| v)
        .sum()
}

fn bucket(m: &Metrics, target: &str, le: &str) -> f64 {
    m.get(
        "sidewatch_probe_duration_seconds_bucket",
        &[("target", target), ("le", le)],
    )
    .unwrap()
}

/// (ticks at or under 100 ms, all ticks).
fn fast_ticks(m: &Metrics) -> (f64, f64) {
    (
        m.get("sidewatch_tick_duration_seconds_bucket", &[("le", "0.1")])
            .unwrap(),
        m.get("sidewatch_tick_duration_seconds_count", &[]).unwrap(),
    )
}

fn alert_state(d: &Daemon, alertname: &str, target: &str) -> Option<String> {
    let r = d.get("/api/v1/alerts");
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    v["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["alertname"] == alertname && a["labels"]["target"] == target)
        .map(|a| a["state"].as_str().unwrap().to_string())
}

fn start(config: &str) -> (tempfile::TempDir, Daemon) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sidewatch.yml");
    std::fs::write(&path, config).unwrap();
    let d = Daemon::start(&["--config", path.to_str().unwrap()]);
    (dir, d)
}

#[test]
fn probe_counts_each_outcome_by_reason_and_never_delays_the_tick() {
    let app = App::start(Mode::Ok);
    let refused = closed_port();
    let me = std::process::id();
    let config = format!(
        "\
interval: 1s
targets:
  - name: app
    pid: {me}
    probe:
      url: '{url}'
      timeout: 500ms
      headers: {{X-Probe: sidewatch}}
      fail_if_body_not_matches_regexp: 'status: ok'
  - name: refused
    pid: {me}
    probe: {{url: 'http://127.0.0.1:{refused}/healthz', timeout: 500ms}}
rules:
  - {{alert: ProbeFailing, signal: probe_success_ratio, op: '<', value: 100%, for: 2s}}
",
        url = app.url()
    );
    let (_dir, d) = start(&config);

    // 200: one success a second, each one a request the application received.
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_millis(4500));
    let m = d.metrics();
    let ok = successes(&m, "app");
    let elapsed = t0.elapsed().as_secs_f64();
    let received = app.probes.load(Ordering::SeqCst) as f64;
    assert!(
        (3.0..=elapsed + 2.0).contains(&ok),
        "{ok} successes in {elapsed:.1} s"
    );
    // The scrape may fall between a request's arrival and its answer.
    assert!(
        received - ok <= 1.0 && received >= ok,
        "app received {received}, sidewatch counted {ok}"
    );
    assert_eq!(all_failures(&m, "app"), 0.0);
    assert_eq!(m.get("sidewatch_probe_up", &[("target", "app")]), Some(1.0));
    let head = app.heads.lock().unwrap()[0].to_ascii_lowercase();
    assert!(head.contains("x-probe: sidewatch\r\n"), "{head}");

    // Durations: the application's delay plus what this test measures itself, per probe.
    // The median of five of the test's own requests (one can be slowed by the shared machine).
    let mut mine: Vec<f64> = (0..5).map(|_| app.measure().as_secs_f64()).collect();
    mine.sort_by(f64::total_cmp);
    let measured = mine[2];
    let count = m
        .get(
            "sidewatch_probe_duration_seconds_count",
            &[("target", "app")],
        )
        .unwrap();
    let sum = m
        .get("sidewatch_probe_duration_seconds_sum", &[("target", "app")])
        .unwrap();
    let mean = sum / count;
    eprintln!(
        "probe duration: mean {mean:.4} s over {count} probes, measured by the test {measured:.4} s"
    );
    assert_eq!(count, ok);
    assert!(
        mean >= DELAY.as_secs_f64() && (mean - measured).abs() < 0.05,
        "mean probe duration {mean:.4} s, measured {measured:.4} s"
    );
    // 60 ms of delay: nothing at or under 50 ms, every probe under 250 ms.
    assert_eq!(bucket(&m, "app", "0.05"), 0.0);
    assert_eq!(bucket(&m, "app", "0.25"), count);

    // Refused: a connect failure every interval from the start, never a success.
    assert!(failures(&m, "refused", "connect") >= 3.0);
    assert_eq!(successes(&m, "refused"), 0.0);
    assert_eq!(
        m.get("sidewatch_probe_up", &[("target", "refused")]),
        Some(0.0)
    );
    assert_eq!(
        alert_state(&d, "ProbeFailing", "refused").as_deref(),
        Some("firing")
    );
    assert_eq!(alert_state(&d, "ProbeFailing", "app"), None);

    // 500: failures with reason status.
    app.set(Mode::Error);
    let before = failures(&m, "app", "status");
    d.wait_until(Duration::from_secs(5), |d| {
        failures(&d.metrics(), "app", "status") >= before + 2.0
    });
    // Wrong body: reason body.
    app.set(Mode::WrongBody);
    let m = d.metrics();
    let before = failures(&m, "app", "body");
    d.wait_until(Duration::from_secs(5), |d| {
        failures(&d.metrics(), "app", "body") >= before + 2.0
    });

    // Back to 200 so that the silent phase starts from a success.
    app.set(Mode::Ok);
    d.wait_until(Duration::from_secs(5), |d| {
        d.metrics().get("sidewatch_probe_up", &[("target", "app")]) == Some(1.0)
    });

    // Silent: a timeout published within one interval plus the timeout (the probe is phased to
    // end just before a tick), probe_up 0, the alert fires.
    app.set(Mode::Silent);
    let silent_at = Instant::now();
    let before = failures(&d.metrics(), "app", "timeout");
    d.wait_until(Duration::from_secs(3), |d| {
        failures(&d.metrics(), "app", "timeout") > before
    });
    let took = silent_at.elapsed();
    eprintln!("first timeout counted {took:?} after the application fell silent");
    assert!(
        took < Duration::from_millis(1000 + 500 + 500),
        "first timeout counted after {took:?}"
    );
    let m = d.metrics();
    assert_eq!(m.get("sidewatch_probe_up", &[("target", "app")]), Some(0.0));
    d.wait_until(Duration::from_secs(6), |d| {
        alert_state(d, "ProbeFailing", "app").as_deref() == Some("firing")
    });
    std::thread::sleep(Duration::from_secs(2));
    let m = d.metrics();
    let t = failures(&m, "app", "timeout");
    assert!(t >= 3.0, "{t} timeouts");
    // A timed-out probe counts its timeout: 500 ms and a little, over 0.25 and 0.5, under 0.75.
    let count = m
        .get(
            "sidewatch_probe_duration_seconds_count",
            &[("target", "app")],
        )
        .unwrap();
    assert!(bucket(&m, "app", "0.5") <= count - t);
    assert_eq!(bucket(&m, "app", "0.75"), count);
    // One connection at a time (timeout < interval: nothing skipped).
    assert_eq!(failures(&m, "app", "skipped"), 0.0);
    assert!(app.max_open.load(Ordering::SeqCst) <= 2);
    // The tick never waited for a probe.
    let (fast, all) = fast_ticks(&m);
    assert_eq!(fast, all, "ticks over 100 ms: {}", all - fast);
    assert!(all >= 10.0);

    // promtool accepts the body with the probe families.
    let promtool = require_tool("promtool", "prometheus");
    let out = run_with_stdin(promtool, &["check", "metrics"], &d.get("/metrics").body);
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A timeout longer than the probe interval: while one probe hangs, the probes due are counted
/// as skipped, and the application never sees more than one connection. A HEAD probe is sent as
/// HEAD and judged on its status; redirects are followed unless `no_follow_redirects`.
#[test]
fn a_hanging_probe_makes_the_next_ones_skipped_not_queued() {
    let silent = App::start(Mode::Silent);
    let ok = App::start(Mode::Ok);
    let moved = App::start(Mode::Ok);
    let old = format!("http://{}/old", moved.addr);
    let me = std::process::id();
    let config = format!(
        "\
interval: 1s
targets:
  - name: hangs
    pid: {me}
    probe: {{url: '{silent}', interval: 200ms, timeout: 1s}}
  - name: head
    pid: {me}
    probe: {{url: '{ok}', method: HEAD, valid_status_codes: [200]}}
  - name: moved
    pid: {me}
    probe: {{url: '{old}', fail_if_body_not_matches_regexp: ok}}
  - name: moved-not-followed
    pid: {me}
    probe: {{url: '{old}', no_follow_redirects: true}}
",
        silent = silent.url(),
        ok = ok.url()
    );
    let (_dir, d) = start(&config);
    std::thread::sleep(Duration::from_millis(3300));
    let m = d.metrics();
    let timeouts = failures(&m, "hangs", "timeout");
    let skipped = failures(&m, "hangs", "skipped");
    let received = silent.probes.load(Ordering::SeqCst) as f64;
    // About 3 s: 3 probes sent (each held 1 s), the 4 due during each one skipped.
    assert!((2.0..=4.0).contains(&timeouts), "{timeouts} timeouts");
    assert!(
        skipped >= 2.0 * timeouts,
        "{skipped} skipped, {timeouts} timeouts"
    );
    assert!(
        received >= timeouts && received <= timeouts + 1.0,
        "app received {received}, {timeouts} timed out"
    );
    assert_eq!(silent.max_open.load(Ordering::SeqCst), 1);
    assert_eq!(successes(&m, "hangs"), 0.0);
    // Skipped probes were not sent: not timed.
    assert_eq!(
        m.get(
            "sidewatch_probe_duration_seconds_count",
            &[("target", "hangs")]
        ),
        Some(timeouts)
    );
    // HEAD
    assert!(successes(&m, "head") >= 2.0);
    assert_eq!(all_failures(&m, "head"), 0.0);
    let heads = ok.heads.lock().unwrap().clone();
    assert!(
        heads
            .iter()
            .all(|h| h.starts_with("HEAD /healthz HTTP/1.1\r\n")),
        "{heads:?}"
    );
    // A redirect is followed to the page that answers; with no_follow_redirects, its 302
    // fails the probe with status.
    let followed = successes(&m, "moved");
    assert!(followed >= 2.0, "{followed}");
    assert_eq!(all_failures(&m, "moved"), 0.0);
    assert!(moved.probes.load(Ordering::SeqCst) as f64 >= followed);
    assert!(failures(&m, "moved-not-followed", "status") >= 2.0);
    assert_eq!(successes(&m, "moved-not-followed"), 0.0);
    let (fast, all) = fast_ticks(&m);
    assert_eq!(fast, all, "ticks over 100 ms: {}", all - fast);

    // A reload that leaves a target's probe as it was keeps its counters going.
    let before = successes(&m, "head");
    d.proc.signal(nix::sys::signal::Signal::SIGHUP);
    assert!(d.wait_for_log(Duration::from_secs(5), |l| {
        l.contains("configuration reloaded")
    }));
    std::thread::sleep(Duration::from_millis(1200));
    let after = successes(&d.metrics(), "head");
    assert!(
        after > before,
        "{before} successes before the reload, {after} after"
    );
}

/// `humanizeDuration` (the annotation template of seconds signals such as
/// `probe_duration_seconds`) renders as Prometheus renders it: checked with `promtool test
/// rules` on an alert per value.
#[test]
fn humanize_duration_renders_as_prometheus_does() {
    let values = [
        0.0, 0.000_25, 0.0123, 0.25, 1.0, 1.5, 59.99, 61.0, 3725.0, 90061.0, -2.5,
    ];
    let mut rules = String::from("groups:\n  - name: d\n    rules:\n");
    let mut tests = String::from(
        "rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series: []\n    alert_rule_test:\n",
    );
    for (i, v) in values.iter().enumerate() {
        rules.push_str(&format!(
            "      - alert: D{i}\n        expr: vector({v:?})\n        annotations: {{summary: '{{{{ $value | humanizeDuration }}}}'}}\n"
        ));
        tests.push_str(&format!(
            "      - eval_time: 0m\n        alertname: D{i}\n        exp_alerts:\n          - exp_labels: {{}}\n            exp_annotations: {{summary: {:?}}}\n",
            sidewatch::units::humanize_duration(*v)
        ));
    }
    promtool_test_rules(&[("rules.yml", &rules), ("tests.yml", &tests)]);
}

/// The PromQL `sidewatch rules` writes for the probe signals computes, from the exported
/// counters, what the daemon computes between two ticks: checked minute by minute with
/// `promtool test rules` on the totals of a run of probes (scrape interval = tick interval).
#[test]
fn probe_signal_promql_agrees_with_the_daemon_minute_by_minute() {
    use sidewatch::rules::{Signal, SignalSource, TargetSignals};
    use sidewatch::sample::TargetSample;
    use sidewatch::source::probe::{ProbeSample, ProbeTotals, Reason};

    let ms = Duration::from_millis;
    // What ended in each minute: (outcome, duration) of the probes sent, and skipped ones.
    type Sent = Vec<(Result<(), Reason>, Duration)>;
    let minutes: Vec<(Sent, u64)> = vec![
        (vec![], 0),
        (vec![(Ok(()), ms(20)), (Ok(()), ms(30))], 0),
        (vec![(Ok(()), ms(40)), (Err(Reason::Status), ms(10))], 0),
        (vec![(Err(Reason::Timeout), ms(500))], 3),
        (vec![(Err(Reason::Connect), ms(1)), (Ok(()), ms(250))], 1),
        (vec![(Ok(()), ms(125)); 4], 0),
        (vec![(Err(Reason::Body), ms(75)), (Ok(()), ms(75))], 0),
    ];
    let mut totals = vec![ProbeTotals::default()];
    for (sent, skipped) in &minutes[1..] {
        let mut t = totals.last().unwrap().clone();
        for (outcome, took) in sent {
            t.record(*outcome, *took);
        }
        for _ in 0..*skipped {
            t.fail(Reason::Skipped);
        }
        totals.push(t);
    }
    let values =
        |f: &dyn Fn(&ProbeTotals) -> String| totals.iter().map(f).collect::<Vec<_>>().join(" ");
    let mut series = vec![(
        "sidewatch_probe_requests_total{target=\"api\",result=\"success\"}".to_string(),
        values(&|t| t.success.to_string()),
    )];
    for (i, r) in Reason::ALL.iter().enumerate() {
        series.push((
            format!(
                "sidewatch_probe_requests_total{{target=\"api\",result=\"failure\",reason=\"{}\"}}",
                r.as_str()
            ),
            values(&|t| t.failures[i].1.to_string()),
        ));
    }
    series.push((
        "sidewatch_probe_duration_seconds_sum{target=\"api\"}".into(),
        values(&|t| format!("{:?}", t.duration.sum)),
    ));
    series.push((
        "sidewatch_probe_duration_seconds_count{target=\"api\"}".into(),
        values(&|t| t.duration.count.to_string()),
    ));
    let mut file = String::from(
        "rule_files: []\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n",
    );
    for (s, v) in &series {
        file.push_str(&format!("      - series: '{s}'\n        values: '{v}'\n"));
    }
    file.push_str("    promql_expr_test:\n");
    let mut checked = 0;
    for i in 1..totals.len() {
        let sample = TargetSample {
            name: "api".into(),
            up: true,
            probe: Some(ProbeSample::between(&totals[i - 1], totals[i].clone())),
            ..Default::default()
        };
        let src = TargetSignals {
            sample: &sample,
            cpu_cores: None,
            online_cpus: None,
            http: None,
        };
        for signal in [Signal::ProbeSuccessRatio, Signal::ProbeDurationSeconds] {
            let Some(v) = src.value(signal) else { continue };
            checked += 1;
            file.push_str(&format!(
                "      - expr: '{}'\n        eval_time: {i}m\n        exp_samples:\n          - labels: '{{target=\"api\"}}'\n            value: {v:?}\n",
                signal.promql(&[], Duration::from_secs(300))
            ));
        }
    }
    assert!(checked >= 10, "{checked} values checked");
    promtool_test_rules(&[("tests.yml", &file)]);
}

/// Writes `files` (name, text) into a scratch directory and runs `promtool test rules tests.yml`
/// there; fails with promtool's output and the tests file.
fn promtool_test_rules(files: &[(&str, &str)]) {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let promtool = require_tool("promtool", "prometheus");
    let out = std::process::Command::new(promtool)
        .args(["test", "rules", "tests.yml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let tests = files
        .iter()
        .find(|(n, _)| *n == "tests.yml")
        .map_or("", |(_, t)| t);
    assert!(
        out.status.success(),
        "{tests}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn sidewatch(args: &[&str]) -> std::process::Output {
    std::process::Command::new(common::BIN)
        .args(args)
        .output()
        .unwrap()
}

/// `--probe` on the flag target probes it in the daemon; without a flag target it is refused,
/// and check-config names the field of a bad `probe:`.
#[test]
fn probe_flag_and_config_errors() {
    let app = App::start(Mode::Ok);
    let me = std::process::id().to_string();
    let d = Daemon::start(&["--pid", &me, "--probe", &app.url(), "--interval", "500ms"]);
    d.wait_until(Duration::from_secs(5), |d| {
        d.metrics()
            .get("sidewatch_probe_requests_total", &[("result", "success")])
            .is_some_and(|n| n >= 3.0)
    });
    drop(d);

    let o = sidewatch(&["once", "--probe", &app.url()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("field `--probe`: belongs to the target given by flags"),
        "{err}"
    );
    let o = sidewatch(&["once", "--pid", &me, "--probe", "ftp://127.0.0.1/"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("field `--probe`: \"ftp://127.0.0.1/\": give an http:// or https:// URL"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "valid_status_codes: [200, 2000]",
            "valid_status_codes`: 2000 is not an HTTP status code",
        ),
        ("method: POST", "method`: \"POST\": GET or HEAD"),
        (
            "fail_if_body_not_matches_regexp: '('",
            "fail_if_body_not_matches_regexp`: invalid regular expression \"(\": found open group",
        ),
        ("timeout: 0s", "timeout`: must be more than 0"),
        ("interval: 10ms", "interval`: 10ms: give 100ms to 24h"),
        ("interval: 2d", "interval`: 2days: give 100ms to 24h"),
        ("follow: true", "probe.follow`: unknown field `follow`"),
    ];
    for (line, want) in cases {
        let path = dir.path().join("sidewatch.yml");
        std::fs::write(
            &path,
            format!("targets:\n  - name: web\n    comm: nginx\n    probe:\n      url: 'http://127.0.0.1:8080/healthz'\n      {line}\n"),
        )
        .unwrap();
        let o = sidewatch(&["check-config", path.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{line}: accepted");
        assert!(
            err.contains("field `targets[0].probe.") && err.contains(want),
            "{line}: {err}"
        );
    }
}

/// The probe families as `once` writes them for a refused probe (the sum and the buckets under
/// the default timeout masked): tests/golden/probe.prom, reviewed like code.
#[test]
fn golden_probe_families() {
    // A refused connect takes well under the default timeout (2.5 s at the default 5 s
    // interval): the buckets from 5 s up hold it whatever the machine's load.
    let varies = |series: &str| {
        series.starts_with("sidewatch_probe_duration_seconds_sum")
            || series
                .split("le=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .and_then(|le| le.parse::<f64>().ok())
                .is_some_and(|le| le < 5.0)
    };
    let fixture = common::fixture_proc();
    let url = format!("http://127.0.0.1:{}/healthz", closed_port());
    let o = sidewatch(&[
        "once",
        "--procfs",
        fixture.to_str().unwrap(),
        "--pid",
        "6291",
        "--name",
        "web",
        "--probe",
        &url,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let body = String::from_utf8(o.stdout).unwrap();
    let got: String = body
        .lines()
        .filter(|l| {
            l.starts_with("sidewatch_probe_")
                || l.starts_with("# HELP sidewatch_probe_")
                || l.starts_with("# TYPE sidewatch_probe_")
        })
        .map(|l| match l.rsplit_once(' ') {
            Some((series, _)) if varies(series) => format!("{series} <varies>\n"),
            _ => format!("{l}\n"),
        })
        .collect();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/probe.prom");
    if std::env::var_os("SIDEWATCH_BLESS").is_some() {
        std::fs::write(&path, &got).unwrap();
    }
    let want =
        std::fs::read_to_string(&path).expect("golden file (regenerate with SIDEWATCH_BLESS=1)");
    assert_eq!(
        got, want,
        "the probe families differ from tests/golden/probe.prom; review, then regenerate with SIDEWATCH_BLESS=1 cargo test --test probe golden"
    );
    // The same figures in JSON.
    let o = sidewatch(&[
        "once",
        "--json",
        "--procfs",
        fixture.to_str().unwrap(),
        "--pid",
        "6291",
        "--probe",
        &url,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let p = &v["targets"][0]["probe"];
    assert_eq!(p["success"], 0);
    assert_eq!(p["failures"]["connect"], 1);
    assert_eq!(p["failures"]["skipped"], 0);
    assert_eq!(p["up"], false);
    assert_eq!(p["successRatio"], 0.0);
    assert_eq!(p["durationSeconds"]["count"], 1);
    assert_eq!(p["durationSeconds"]["buckets"][13][0], 10.0);
}

/// An `https` probe of a sidewatch serving TLS with a test CA: its certificate refused without
/// `ca_file` (reason tls), accepted with it or with `insecure_skip_verify`.
#[test]
fn https_probe_fails_with_tls_unless_the_ca_is_trusted() {
    use sidewatch::source::http::TlsOptions;
    use sidewatch::source::probe::{ProbeSpec, Prober, Reason};
    let dir = tempfile::tempdir().unwrap();
    let (pki, app) = common::tls_daemon(dir.path());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let probe = |tls: TlsOptions| {
        let mut p = Prober::new(ProbeSpec {
            url: format!("https://localhost:{}/healthz", app.addr.port())
                .parse()
                .unwrap(),
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(2),
            method: hyper::Method::GET,
            headers: vec![],
            valid_status_codes: vec![],
            fail_if_body_not_matches_regexp: None,
            no_follow_redirects: false,
            tls,
        });
        p.probe_blocking(&rt);
        let t = p.take().totals;
        let failed: Vec<Reason> = t
            .failures
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(r, _)| *r)
            .collect();
        (t.success, failed)
    };
    let with_ca = TlsOptions {
        ca_file: Some(pki.ca.clone()),
        insecure_skip_verify: false,
    };
    assert_eq!(probe(with_ca), (1, vec![]));
    assert_eq!(probe(TlsOptions::default()), (0, vec![Reason::Tls]));
    let insecure = TlsOptions {
        ca_file: None,
        insecure_skip_verify: true,
    };
    assert_eq!(probe(insecure), (1, vec![]));
}

/// A reload that changes only `probe:` keeps the target's counters (its restart count) and
/// starts the probe afresh; one that changes only `app:` keeps the probe's counts.
#[test]
fn a_reload_changing_only_the_probe_keeps_the_counters() {
    use sidewatch::source::app::AppSpec;
    use sidewatch::source::probe::ProbeSpec;
    use sidewatch::target::{Selector, TargetSpec};
    let (_guard, root) = common::fixture_copy();
    let pid_file = root.parent().unwrap().join("app.pid");
    std::fs::write(&pid_file, "6293\n").unwrap();
    let refused = format!("http://127.0.0.1:{}/healthz", closed_port());
    let spec = |timeout_ms: u64, app_path: &str| TargetSpec {
        name: "t".into(),
        selector: Selector::PidFile(pid_file.clone()),
        children: false,
        smaps: false,
        thread_totals: true,
        labels: vec![],
        cgroup_labels: false,
        app: Some(AppSpec {
            metrics_url: format!("http://127.0.0.1:1/{app_path}").parse().unwrap(),
            timeout: Duration::from_millis(100),
            bearer_token_file: None,
            tls: Default::default(),
            max_body_bytes: 1024,
            http: None,
        }),
        probe: Some(ProbeSpec {
            url: refused.parse().unwrap(),
            interval: Duration::from_secs(1),
            timeout: Duration::from_millis(timeout_ms),
            method: hyper::Method::GET,
            headers: vec![],
            valid_status_codes: vec![],
            fail_if_body_not_matches_regexp: None,
            no_follow_redirects: false,
            tls: Default::default(),
        }),
        profiles: None,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut s = sidewatch::sampler::Sampler::new(
        sidewatch::source::proc::ProcReader::new(&root),
        vec![spec(500, "a")],
        sidewatch::state::Shared::new(Duration::from_secs(1)),
    );
    // (restarts, probes counted) of a tick that follows one probe.
    let tick = |s: &mut sidewatch::sampler::Sampler| {
        s.fetch_apps_blocking(&rt);
        let t = &s.tick().targets[0];
        let p = &t.probe.as_ref().unwrap().totals;
        (t.counters.restarts_total, p.failures_total())
    };
    assert_eq!(tick(&mut s), (0, 1));
    // The process is replaced (same pid, new start time): one restart.
    let stat = root.join("6293/stat");
    let text = std::fs::read_to_string(&stat).unwrap();
    let close = text.rfind(')').unwrap();
    let mut fields: Vec<&str> = text[close + 2..].trim_end().split(' ').collect();
    fields[22 - 3] = "99999";
    std::fs::write(&stat, format!("{} {}\n", &text[..=close], fields.join(" "))).unwrap();
    assert_eq!(tick(&mut s), (1, 2));
    s.set_targets(vec![spec(400, "a")]);
    assert_eq!(
        tick(&mut s),
        (1, 1),
        "counters reset, or the old probe kept"
    );
    s.set_targets(vec![spec(400, "b")]);
    assert_eq!(tick(&mut s), (1, 2), "a change of app: reset the probe");
}
