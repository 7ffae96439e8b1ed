//! Agreement with a real Prometheus. sidewatch watches a python3 child whose memory crosses a
//! 50MiB threshold on demand; a real Prometheus (Debian package) scrapes sidewatch every second
//! and evaluates the rules `sidewatch rules` generated from the same config every second. Both
//! Prometheus's `ALERTS` and sidewatch's `sidewatch_alert` must go pending, then firing after the
//! rule's `for`, with the same labels and nearly the same active-since time; and both must
//! resolve when the child frees its memory.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const FOR_SECONDS: f64 = 5.0;

fn results(v: &Value) -> Vec<Value> {
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

/// The state of one alert on one side: None, Some("pending") or Some("firing").
type State = Option<String>;

fn prometheus_state(prom: SocketAddr, alertname: &str) -> State {
    let r = results(&prom_query(
        prom,
        &format!("ALERTS{{alertname=\"{alertname}\"}}"),
    ));
    assert!(r.len() <= 1, "{r:?}");
    r.first().map(|s| {
        let m = &s["metric"];
        assert_eq!(m["severity"], "warning", "{m}");
        assert_eq!(m["target"], "hog", "{m}");
        assert_eq!(m["job"], "sidewatch", "{m}");
        assert!(m.get("cgroup").is_none(), "{m}");
        m["alertstate"].as_str().unwrap().to_string()
    })
}

fn sidewatch_state(d: &Daemon, alertname: &str) -> State {
    let m = d.metrics();
    let mut found = None;
    for state in ["pending", "firing"] {
        let v = m.get(
            "sidewatch_alert",
            &[
                ("alertname", alertname),
                ("alertstate", state),
                ("severity", "warning"),
                ("target", "hog"),
            ],
        );
        if v == Some(1.0) {
            assert!(found.is_none(), "both pending and firing");
            found = Some(state.to_string());
        }
    }
    found
}

/// First time (seconds after `t0`) each side was seen in each state.
#[derive(Debug, Default)]
struct Seen {
    pending: Option<f64>,
    firing: Option<f64>,
    resolved: Option<f64>,
}

impl Seen {
    fn observe(&mut self, state: &State, t: f64) {
        match state.as_deref() {
            Some("pending") if self.pending.is_none() => self.pending = Some(t),
            Some("firing") if self.firing.is_none() => self.firing = Some(t),
            _ => {}
        }
    }
}

const CHILD: &str = r#"
import os, sys, time
d = sys.argv[1]
buf = None
open(os.path.join(d, "ready"), "w").close()
while True:
    grow = os.path.exists(os.path.join(d, "grow"))
    if grow and buf is None:
        buf = bytearray(b"x") * (96 << 20)   # 96 MiB, every page written: resident
    elif not grow and buf is not None:
        buf = None                           # freed: glibc unmaps a block this large
    time.sleep(0.02)
"#;

#[test]
fn prometheus_and_sidewatch_agree_on_a_memory_alert() {
    let prometheus = require_tool("prometheus", "prometheus");
    let python = require_tool("python3", "python3");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("child.py"), CHILD).unwrap();
    let child = spawn(
        Command::new(python)
            .arg(d.join("child.py"))
            .arg(d)
            .stdout(Stdio::null()),
    );
    wait_for(Duration::from_secs(10), "the child to start", || {
        d.join("ready").exists()
    });
    let baseline = vm_rss_bytes(child.pid());
    assert!(baseline < 40 << 20, "the child starts too big: {baseline}");

    let config = d.join("sidewatch.yml");
    std::fs::write(
        &config,
        format!(
            "interval: 500ms\ntargets:\n  - name: hog\n    pid: {}\nrules:\n  - alert: HogMemoryHigh\n    signal: memory_rss_bytes\n    op: '>'\n    value: 50MiB\n    for: {FOR_SECONDS}s\n    severity: warning\nslos: []\n",
            child.pid()
        ),
    )
    .unwrap();
    let rules = Command::new(BIN)
        .args(["rules", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(rules.status.success());
    std::fs::write(d.join("rules.yml"), &rules.stdout).unwrap();
    let sw = Daemon::start(&["--config", config.to_str().unwrap()]);

    let prom_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    std::fs::write(
        d.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nrule_files: [rules.yml]\nscrape_configs:\n  - job_name: sidewatch\n    static_configs:\n      - targets: ['{}']\n",
            sw.addr
        ),
    )
    .unwrap();
    let _prom = spawn(
        Command::new(prometheus)
            .arg(format!(
                "--config.file={}",
                d.join("prometheus.yml").display()
            ))
            .arg(format!("--storage.tsdb.path={}", d.join("data").display()))
            .arg(format!("--web.listen-address={prom_addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    // Prometheus is up, has loaded the rule and scraped the child's memory below the threshold.
    wait_for(
        Duration::from_secs(60),
        "Prometheus to scrape sidewatch",
        || {
            if std::net::TcpStream::connect(prom_addr).is_err() {
                return false;
            }
            let r = http(prom_addr, "GET", "/api/v1/rules", &[]);
            r.status == 200
                && r.text().contains("HogMemoryHigh")
                && results(&prom_query(
                    prom_addr,
                    "sidewatch_process_resident_memory_bytes{target=\"hog\"} < 52428800",
                ))
                .len()
                    == 1
        },
    );
    assert_eq!(prometheus_state(prom_addr, "HogMemoryHigh"), None);
    assert_eq!(sidewatch_state(&sw, "HogMemoryHigh"), None);

    // Grow: both sides go pending, then firing after `for`.
    let t0 = Instant::now();
    std::fs::write(d.join("grow"), "").unwrap();
    let (mut on_sw, mut on_prom) = (Seen::default(), Seen::default());
    let mut active_since = (None, None);
    while on_sw.firing.is_none() || on_prom.firing.is_none() {
        let t = t0.elapsed().as_secs_f64();
        assert!(
            t < 40.0,
            "not both firing within 40 s: sidewatch {on_sw:?}, Prometheus {on_prom:?}"
        );
        on_sw.observe(&sidewatch_state(&sw, "HogMemoryHigh"), t);
        on_prom.observe(&prometheus_state(prom_addr, "HogMemoryHigh"), t);
        if active_since.0.is_none() && on_sw.firing.is_some() {
            active_since.0 = sw.metrics().get(
                "sidewatch_alert_active_since_seconds",
                &[("alertname", "HogMemoryHigh"), ("target", "hog")],
            );
        }
        if active_since.1.is_none() && on_prom.firing.is_some() {
            let r = results(&prom_query(
                prom_addr,
                "ALERTS_FOR_STATE{alertname=\"HogMemoryHigh\"}",
            ));
            active_since.1 = r
                .first()
                .and_then(|s| s["value"][1].as_str()?.parse::<f64>().ok());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let json = sw.get("/api/v1/alerts");
    assert_eq!(json.header("content-type"), Some("application/json"));
    let alerts: Value = serde_json::from_slice(&json.body).unwrap();
    let a = &alerts["data"]["alerts"][0];
    assert_eq!(a["state"], "firing", "{alerts}");
    assert_eq!(a["labels"]["alertname"], "HogMemoryHigh");
    assert!(
        a["annotations"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("Resident memory of hog is above 50MiB"),
        "{a}"
    );

    // Free: both resolve.
    let t1 = Instant::now();
    std::fs::remove_file(d.join("grow")).unwrap();
    let (mut sw_state, mut prom_state) = (Some(String::new()), Some(String::new()));
    while sw_state.is_some() || prom_state.is_some() {
        let t = t1.elapsed().as_secs_f64();
        assert!(
            t < 30.0,
            "not both resolved within 30 s: sidewatch {sw_state:?}, Prometheus {prom_state:?}"
        );
        if sw_state.is_some() {
            sw_state = sidewatch_state(&sw, "HogMemoryHigh");
            if sw_state.is_none() {
                on_sw.resolved = Some(t);
            }
        }
        if prom_state.is_some() {
            prom_state = prometheus_state(prom_addr, "HogMemoryHigh");
            if prom_state.is_none() {
                on_prom.resolved = Some(t);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "agreement (seconds after the child grew; resolved: after it freed): sidewatch {on_sw:?}, Prometheus {on_prom:?}, active since: sidewatch {:?} Prometheus {:?}",
        active_since.0, active_since.1
    );

    for (side, seen) in [("sidewatch", &on_sw), ("Prometheus", &on_prom)] {
        let (p, f) = (seen.pending.unwrap_or(f64::NAN), seen.firing.unwrap());
        assert!(
            p < f,
            "{side} was never seen pending before firing: {seen:?}"
        );
        // Pending is observed up to one sampling/evaluation step late.
        assert!(
            f - p >= FOR_SECONDS - 1.5,
            "{side} fired before its `for` elapsed: {seen:?}"
        );
        assert!(f < 20.0, "{side} fired too late: {seen:?}");
    }
    // Prometheus sees the crossing one scrape and one evaluation after sidewatch does.
    let lag = on_prom.firing.unwrap() - on_sw.firing.unwrap();
    assert!(
        (-1.0..=4.0).contains(&lag),
        "firing lag {lag}: {on_sw:?} {on_prom:?}"
    );
    let (a, b) = (active_since.0.unwrap(), active_since.1.unwrap());
    assert!(
        (b - a).abs() <= 4.0,
        "active since: sidewatch {a}, Prometheus {b}"
    );
    assert!(on_sw.resolved.unwrap() < 5.0, "{on_sw:?}");
    assert!(on_prom.resolved.unwrap() < 10.0, "{on_prom:?}");
    drop(child);
}

fn wait_for(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

const SPINNER: &str = r#"
import os, sys, time
d = sys.argv[1]
open(os.path.join(d, "ready"), "w").close()
while True:
    if os.path.exists(os.path.join(d, "spin")):
        end = time.time() + 0.1
        while time.time() < end:
            pass
    else:
        time.sleep(0.05)
"#;

/// The CPU alert where the target's cgroup is not its own: the child inherits this test's cgroup,
/// which also holds the test itself, so sidewatch reports `sidewatch_cgroup_shared` 1 and both
/// sides must compute CPU utilization from the child's own CPU over the host's CPUs. A spinning
/// child (up to 1 core: 50 % of 2 CPUs) crosses 10 %; both go pending, then firing after `for`,
/// and both resolve when it stops.
#[test]
fn prometheus_and_sidewatch_agree_on_a_cpu_alert_in_a_shared_cgroup() {
    let python = require_tool("python3", "python3");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("child.py"), SPINNER).unwrap();
    let child = spawn(
        Command::new(python)
            .arg(d.join("child.py"))
            .arg(d)
            .stdout(Stdio::null()),
    );
    wait_for(Duration::from_secs(10), "the child to start", || {
        d.join("ready").exists()
    });
    let config = d.join("sidewatch.yml");
    std::fs::write(
        &config,
        format!(
            "interval: 500ms\ntargets:\n  - name: hog\n    pid: {}\nrules:\n  - alert: HogCpuHigh\n    signal: cpu_utilization_ratio\n    op: '>'\n    value: 10%\n    for: {FOR_SECONDS}s\n    severity: warning\nslos: []\n",
            child.pid()
        ),
    )
    .unwrap();
    let rules = Command::new(BIN)
        .args(["rules", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(rules.status.success());
    std::fs::write(d.join("rules.yml"), &rules.stdout).unwrap();
    let sw = Daemon::start(&["--config", config.to_str().unwrap()]);
    let hog = [("target", "hog")];
    sw.wait_until(Duration::from_secs(10), |d| {
        d.metrics().get("sidewatch_cgroup_shared", &hog).is_some()
    });
    assert_eq!(sw.metrics().get("sidewatch_cgroup_shared", &hog), Some(1.0));

    std::fs::write(
        d.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nrule_files: [rules.yml]\nscrape_configs:\n  - job_name: sidewatch\n    static_configs:\n      - targets: ['{}']\n",
            sw.addr
        ),
    )
    .unwrap();
    let prom = common::stack::Prometheus::start(d, &[]);
    // The rule's signal, as Prometheus computes it for the idle child: one series with the
    // target's labels (no `cgroup`), well below the threshold.
    let signal = sidewatch::rules::Signal::CpuUtilizationRatio
        .promql(&["target=\"hog\"".into()], Duration::ZERO);
    wait_for(
        Duration::from_secs(60),
        "Prometheus to compute the CPU signal",
        || prom.query(&signal).len() == 1,
    );
    let idle = &prom.query(&signal)[0];
    let labels: Vec<&str> = idle["metric"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(labels, ["instance", "job", "target"], "{idle}");
    let idle: f64 = idle["value"][1].as_str().unwrap().parse().unwrap();
    assert!(idle < 0.05, "idle child at {idle}");
    assert_eq!(prometheus_state(prom.addr, "HogCpuHigh"), None);
    assert_eq!(sidewatch_state(&sw, "HogCpuHigh"), None);

    let t0 = Instant::now();
    std::fs::write(d.join("spin"), "").unwrap();
    let (mut on_sw, mut on_prom) = (Seen::default(), Seen::default());
    while on_sw.firing.is_none() || on_prom.firing.is_none() {
        let t = t0.elapsed().as_secs_f64();
        assert!(
            t < 40.0,
            "not both firing within 40 s: sidewatch {on_sw:?}, Prometheus {on_prom:?}"
        );
        on_sw.observe(&sidewatch_state(&sw, "HogCpuHigh"), t);
        on_prom.observe(&prometheus_state(prom.addr, "HogCpuHigh"), t);
        std::thread::sleep(Duration::from_millis(100));
    }
    // The value Prometheus fires on is the child's CPU over the host's CPUs: at most one core.
    let busy: f64 = prom.query(&signal)[0]["value"][1]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let cpus = sw.metrics().get("sidewatch_host_cpus", &[]).unwrap();
    assert!(
        busy > 0.1 && busy <= 1.05 / cpus,
        "spinning child at {busy}"
    );

    std::fs::remove_file(d.join("spin")).unwrap();
    let t1 = Instant::now();
    wait_for(Duration::from_secs(30), "both sides to resolve", || {
        sidewatch_state(&sw, "HogCpuHigh").is_none()
            && prometheus_state(prom.addr, "HogCpuHigh").is_none()
    });
    eprintln!(
        "CPU agreement (seconds after the child started spinning): sidewatch {on_sw:?}, Prometheus {on_prom:?}; resolved within {:.1} s; Prometheus value {busy:.3} of {cpus} CPUs",
        t1.elapsed().as_secs_f64()
    );
    for (side, seen) in [("sidewatch", &on_sw), ("Prometheus", &on_prom)] {
        let (p, f) = (seen.pending.unwrap_or(f64::NAN), seen.firing.unwrap());
        assert!(
            p < f,
            "{side} was never seen pending before firing: {seen:?}"
        );
        assert!(
            f - p >= FOR_SECONDS - 1.5,
            "{side} fired before its `for` elapsed: {seen:?}"
        );
    }
    let lag = on_prom.firing.unwrap() - on_sw.firing.unwrap();
    assert!(
        (-1.0..=4.0).contains(&lag),
        "firing lag {lag}: {on_sw:?} {on_prom:?}"
    );
    drop(child);
}
