//! The target's network namespace end to end: the golden body of the network fixture tree
//! (real kernel text with IPv6 and an interface name with a dot), its values against the
//! fixture's own files, and live runs in network namespaces this test makes (as root), checked
//! against the kernel's `net/dev` and `net/tcp` read by the test.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn fixture() -> PathBuf {
    manifest().join("tests/fixtures/net/proc")
}

fn once_fixture() -> String {
    let o = Command::new(BIN)
        .args(["once", "--cgroupfs", "/nonexistent", "--procfs"])
        .arg(fixture())
        .arg("--config")
        .arg(manifest().join("tests/golden/net.yml"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn golden_body_of_the_network_fixture() {
    let body = once_fixture();
    let got = mask_varying(&body);
    let path = manifest().join("tests/golden/net.prom");
    if std::env::var_os("SIDEWATCH_BLESS").is_some() {
        std::fs::write(&path, &got).unwrap();
    }
    let want = std::fs::read_to_string(&path).expect("golden file (SIDEWATCH_BLESS=1)");
    assert!(
        got == want,
        "the body differs from tests/golden/net.prom; review, then regenerate with SIDEWATCH_BLESS=1 cargo test --test net golden"
    );
    let promtool = require_tool("promtool", "prometheus");
    let o = run_with_stdin(promtool, &["check", "metrics"], body.as_bytes());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// `net/dev` columns of one interface, parsed here independently of sidewatch.
fn dev_columns(text: &str, iface: &str) -> Vec<u64> {
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{iface}:")))
        .unwrap_or_else(|| panic!("{iface} not in net/dev"));
    let (_, nums) = line.split_once(':').unwrap();
    nums.split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect()
}

#[test]
fn fixture_values_are_the_kernel_files() {
    let m = Metrics::parse(&once_fixture());
    let pid = std::fs::read_dir(fixture())
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().into_string().ok())
        .find(|n| n.parse::<i32>().is_ok())
        .unwrap();
    let dev = std::fs::read_to_string(fixture().join(&pid).join("net/dev")).unwrap();
    for iface in ["lo", "veth0.10", "veth1"] {
        let c = dev_columns(&dev, iface);
        let l = [("target", "server"), ("interface", iface)];
        let got = |n: &str| m.get(n, &l).unwrap() as u64;
        assert_eq!(
            got("sidewatch_network_receive_bytes_total"),
            c[0],
            "{iface}"
        );
        assert_eq!(got("sidewatch_network_receive_packets_total"), c[1]);
        assert_eq!(got("sidewatch_network_receive_errors_total"), c[2]);
        assert_eq!(got("sidewatch_network_receive_dropped_total"), c[3]);
        assert_eq!(got("sidewatch_network_transmit_bytes_total"), c[8]);
        assert_eq!(got("sidewatch_network_transmit_packets_total"), c[9]);
        assert_eq!(got("sidewatch_network_transmit_dropped_total"), c[11]);
    }
    // The listener on 8080 (IPv4) has 3 connections waiting: rx_queue 3 in net/tcp.
    let tcp = std::fs::read_to_string(fixture().join(&pid).join("net/tcp")).unwrap();
    assert!(tcp.contains(":1F90 00000000:0000 0A 00000000:00000003"));
    let q = |port| {
        m.get(
            "sidewatch_tcp_listen_queue",
            &[("target", "server"), ("port", port)],
        )
    };
    assert_eq!(q("8080"), Some(3.0));
    assert_eq!(q("8443"), Some(0.0)); // IPv6 (net/tcp6), all accepted
    let est = m.get(
        "sidewatch_tcp_connections",
        &[("target", "server"), ("state", "established")],
    );
    let tcp6 = std::fs::read_to_string(fixture().join(&pid).join("net/tcp6")).unwrap();
    let established = |t: &str| {
        t.lines()
            .filter(|l| l.split_whitespace().nth(3) == Some("01"))
            .count()
    };
    assert_eq!(est, Some((established(&tcp) + established(&tcp6)) as f64));
    assert_eq!(
        m.get("sidewatch_network_shared", &[("target", "server")]),
        Some(0.0)
    );
}

// --- Live, in namespaces made here.

/// A network namespace deleted (with what runs in it killed by the caller's guards) on drop.
struct NetNs(String);

impl NetNs {
    fn new() -> NetNs {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "swtest{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .unwrap();
        assert!(ok.success(), "ip netns add (run as root)");
        let ns = NetNs(name);
        assert!(
            ns.cmd("ip")
                .args(["link", "set", "lo", "up"])
                .status()
                .unwrap()
                .success()
        );
        ns
    }

    fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0, program]);
        c
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// Starts a Python program in `ns` and waits until it wrote its pid to the returned path.
fn python_in(ns: &NetNs, dir: &Path, code: &str) -> (Proc, i32) {
    python(ns.cmd("python3"), dir, code)
}

/// Runs `code` with `python3` (`cmd`) and waits until it wrote its pid to `$PIDFILE`.
fn python(mut cmd: Command, dir: &Path, code: &str) -> (Proc, i32) {
    let pidfile = dir.join(format!("pid{}", code.len()));
    let p = spawn(
        cmd.args(["-c", code])
            .env("PIDFILE", &pidfile)
            .stdout(Stdio::null()),
    );
    stack::wait_for(Duration::from_secs(20), "python pid file", || {
        std::fs::read_to_string(&pidfile).is_ok_and(|s| !s.is_empty())
    });
    let pid = std::fs::read_to_string(&pidfile).unwrap().parse().unwrap();
    (p, pid)
}

const SERVE: &str = r#"
import http.server, os, threading
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers["Content-Length"]); self.rfile.read(n)
        self.send_response(204); self.end_headers()
    def log_message(self, *a): pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 8080), H)
open(os.environ["PIDFILE"], "w").write(str(os.getpid()))
s.serve_forever()
"#;

fn lo_rx(pid: i32) -> u64 {
    dev_columns(
        &std::fs::read_to_string(format!("/proc/{pid}/net/dev")).unwrap(),
        "lo",
    )[0]
}

#[test]
fn live_receive_bytes_match_the_kernel_within_5_percent() {
    let ns = NetNs::new();
    let dir = tempfile::tempdir().unwrap();
    let (_server, pid) = python_in(&ns, dir.path(), SERVE);
    let d = Daemon::start(&["--pid", &pid.to_string(), "--interval", "200ms"]);
    // The one target: only the interface label is needed to pick the series.
    let rx = |d: &Daemon| {
        d.metrics().get(
            "sidewatch_network_receive_bytes_total",
            &[("interface", "lo")],
        )
    };
    d.wait_until(Duration::from_secs(10), |d| rx(d).is_some());
    let (v0, k0) = (rx(&d).unwrap(), lo_rx(pid));
    const SENT: usize = 4 << 20;
    let client = format!(
        "import urllib.request\nfor _ in range(4): urllib.request.urlopen(urllib.request.Request('http://127.0.0.1:8080/', data=b'x' * {}, method='POST')).read()",
        SENT / 4
    );
    assert!(
        ns.cmd("python3")
            .args(["-c", &client])
            .status()
            .unwrap()
            .success()
    );
    let k1 = lo_rx(pid);
    d.wait_until(Duration::from_secs(10), |d| {
        rx(d).unwrap() >= v0 + (k1 - k0) as f64 * 0.95
    });
    std::thread::sleep(Duration::from_millis(500));
    let (v1, k1) = (rx(&d).unwrap(), lo_rx(pid));
    let (ours, kernel) = (v1 - v0, (k1 - k0) as f64);
    assert!(
        kernel >= SENT as f64,
        "the kernel counted {kernel} bytes for {SENT} sent"
    );
    assert!(
        (ours - kernel).abs() <= 0.05 * kernel,
        "sidewatch counted {ours} received bytes on lo, the kernel's net/dev {kernel}"
    );
}

const STALLED: &str = r#"
import os, socket, time
s = socket.socket(); s.bind(("127.0.0.1", 8080)); s.listen(4)
open(os.environ["PIDFILE"], "w").write(str(os.getpid()))
time.sleep(120)
"#;

/// `TcpExt: ListenOverflows` of the namespace `pid` is in, read here from the kernel's file.
fn listen_overflows(pid: i32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/netstat")).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("TcpExt:")).collect();
    let i = lines[0]
        .split_whitespace()
        .position(|f| f == "ListenOverflows")
        .unwrap();
    lines[1].split_whitespace().nth(i).unwrap().parse().unwrap()
}

/// A sidewatch daemon in `ns` (a sidecar's view), reached with curl from inside the namespace
/// (its loopback is not the test's).
struct NsDaemon<'a> {
    ns: &'a NetNs,
    d: Daemon,
    curl: PathBuf,
}

impl<'a> NsDaemon<'a> {
    fn start(ns: &'a NetNs, config: &Path) -> NsDaemon<'a> {
        let curl = require_tool("curl", "curl");
        let mut cmd = ns.cmd(BIN);
        cmd.args(["--interval", "200ms", "--config"]).arg(config);
        NsDaemon {
            ns,
            d: Daemon::spawn_cmd(&mut cmd),
            curl,
        }
    }

    /// The body of a 2xx answer, else `None`.
    fn try_get(&self, path: &str) -> Option<String> {
        let curl = self.curl.to_str().unwrap();
        let o = self
            .ns
            .cmd(curl)
            .args(["-sf", "--max-time", "5"])
            .arg(format!("http://{}{path}", self.d.addr))
            .output()
            .unwrap();
        o.status
            .success()
            .then(|| String::from_utf8(o.stdout).unwrap())
    }

    fn get(&self, path: &str) -> String {
        self.try_get(path)
            .unwrap_or_else(|| panic!("curl {path} in the namespace failed"))
    }

    fn alerts(&self) -> Vec<serde_json::Value> {
        let v: serde_json::Value = serde_json::from_str(&self.get("/api/v1/alerts")).unwrap();
        v["data"]["alerts"].as_array().unwrap().clone()
    }
}

/// The state (`pending`, `firing`) of alert `name` in an `/api/v1/alerts` list, if active.
fn state_of(alerts: &[serde_json::Value], name: &str) -> Option<String> {
    alerts
        .iter()
        .find(|a| a["labels"]["alertname"] == name)
        .map(|a| a["state"].as_str().unwrap().to_string())
}

#[test]
fn live_stalled_listener_fills_its_queue_and_overflows() {
    let ns = NetNs::new();
    let dir = tempfile::tempdir().unwrap();
    let (_server, pid) = python_in(&ns, dir.path(), STALLED);
    // The test's rules: the defaults' conditions with a `for` short enough to watch.
    let config = dir.path().join("sidewatch.yml");
    std::fs::write(
        &config,
        format!(
            "targets:\n  - {{name: server, pid: {pid}}}\nrules:\n  - {{alert: QueueFull, signal: accept_queue_ratio, op: '>', value: 90%, for: 2s, severity: warning}}\n  - {{alert: Overflows, signal: listen_overflows, op: '>', value: 0, for: 1m, severity: warning}}\n"
        ),
    )
    .unwrap();
    let d = NsDaemon::start(&ns, &config);
    stack::wait_for(Duration::from_secs(20), "the first tick", || {
        d.try_get("/readyz").is_some()
    });
    assert_eq!(state_of(&d.alerts(), "QueueFull"), None);
    // More connections than the backlog, one every 100 ms (a SYN to a full queue overflows,
    // and again at each retransmission); the server never accepts.
    let flood = "import socket, time\ncs=[]\nfor _ in range(150):\n    c=socket.socket(); c.setblocking(False); c.connect_ex(('127.0.0.1', 8080)); cs.append(c); time.sleep(0.1)";
    let mut client = spawn(ns.cmd("python3").args(["-c", flood]));
    let mut seen = Vec::new();
    stack::wait_for(Duration::from_secs(15), "QueueFull firing", || {
        let state = state_of(&d.alerts(), "QueueFull");
        if let Some(s) = &state {
            if seen.last() != Some(s) {
                seen.push(s.clone());
            }
        }
        state.as_deref() == Some("firing")
    });
    assert_eq!(
        seen,
        ["pending", "firing"],
        "QueueFull went through {seen:?}"
    );
    stack::wait_for(Duration::from_secs(10), "Overflows firing", || {
        state_of(&d.alerts(), "Overflows").as_deref() == Some("firing")
    });
    let m = Metrics::parse(&d.get("/metrics"));
    let port = [("port", "8080")];
    assert_eq!(m.get("sidewatch_tcp_listen_backlog", &port), Some(4.0));
    // The kernel admits one more than the backlog (sk_acceptq_is_full is `>`).
    let queue = m.get("sidewatch_tcp_listen_queue", &port).unwrap();
    assert!(queue >= 4.0, "queue {queue}");
    let ours = m.get("sidewatch_tcp_listen_overflows_total", &[]).unwrap();
    assert!(ours > 0.0 && ours <= listen_overflows(pid) as f64, "{ours}");
    assert_eq!(m.get("sidewatch_network_shared", &[]), Some(0.0));
    // In its own namespace the counters are the target's signals.
    let v: serde_json::Value = serde_json::from_str(&d.get("/api/v1/signals")).unwrap();
    let signals = &v["data"]["targets"][0]["signals"];
    assert!(
        signals["listen_overflows"].as_f64().unwrap() > 0.0,
        "{signals}"
    );
    assert!(signals["tcp_retransmit_ratio"].is_f64(), "{signals}");
    // The ratio's history: empty queue before the flood, full since; on the status page.
    let v: serde_json::Value =
        serde_json::from_str(&d.get("/api/v1/samples?target=server&limit=3600")).unwrap();
    let ratios: Vec<f64> = v["data"]["samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["accept_queue_ratio"].as_f64())
        .collect();
    assert_eq!(
        ratios.first(),
        Some(&(queue / 4.0)),
        "newest first: {ratios:?}"
    );
    assert_eq!(ratios.last(), Some(&0.0), "{ratios:?}");
    let page = d.get("/");
    assert!(page.contains("<span>Accept queue</span>"), "{page}");
    // Without state counts net/tcp is read only up to the last listener: the same queue as
    // the kernel's net/tcp rx_queue, the same backlog.
    let kernel_queue = |pid: i32| {
        let tcp = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")).unwrap();
        let line = tcp
            .lines()
            .find(|l| l.contains(":1F90 00000000:0000 0A "))
            .unwrap()
            .to_string();
        let queues = line.split_whitespace().nth(4).unwrap();
        u64::from_str_radix(queues.split_once(':').unwrap().1, 16).unwrap() as f64
    };
    for extra in [&[][..], &["--no-tcp-states"][..]] {
        let o = ns
            .cmd(BIN)
            .args(["once", "--pid", &pid.to_string()])
            .args(extra)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let m = Metrics::parse(&String::from_utf8(o.stdout).unwrap());
        let what = format!("once {extra:?}");
        assert_eq!(
            m.get("sidewatch_tcp_listen_queue", &port),
            Some(kernel_queue(pid)),
            "{what}"
        );
        assert_eq!(
            m.get("sidewatch_tcp_listen_backlog", &port),
            Some(4.0),
            "{what}"
        );
        assert_eq!(
            m.has("sidewatch_tcp_connections"),
            extra.is_empty(),
            "{what}"
        );
    }
    client.wait_timeout(Duration::from_secs(1));
}

const HOST_LISTENER: &str = r#"
import os, socket, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
open(os.environ["PIDFILE"], "w").write(str(os.getpid()))
time.sleep(60)
"#;

#[test]
fn host_namespace_is_flagged_shared() {
    let dir = tempfile::tempdir().unwrap();
    let (_listener, pid) = python(Command::new("python3"), dir.path(), HOST_LISTENER);
    // This test runs in the host's namespace (kthreadd's): the figures are the host's.
    let host = std::fs::read_link("/proc/2/ns/net").unwrap();
    assert_eq!(std::fs::read_link("/proc/self/ns/net").unwrap(), host);
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap(),
        host
    );
    // Rules and SLOs that hold for any known value: only unknown signals stay quiet.
    let config = dir.path().join("sidewatch.yml");
    std::fs::write(
        &config,
        format!(
            "targets:\n  - {{name: app, pid: {pid}}}\nrules:\n  - {{alert: Up, signal: target_up, op: '>=', value: 1, severity: info}}\n  - {{alert: Overflows, signal: listen_overflows, op: '>=', value: 0, for: 1m, severity: info}}\n  - {{alert: Retransmits, signal: tcp_retransmit_ratio, op: '>=', value: 0, severity: info}}\n  - {{alert: Queue, signal: accept_queue_ratio, op: '>=', value: 0, severity: info}}\nslos:\n  - {{name: retransmits, signal: tcp_retransmit_ratio, op: '<', value: 100%, objective: 99%}}\n  - {{name: queue, signal: accept_queue_ratio, op: '<', value: 100%, objective: 99%}}\n"
        ),
    )
    .unwrap();
    let d = Daemon::start(&["--interval", "200ms", "--config", config.to_str().unwrap()]);
    let samples = |m: &Metrics, slo: &str| m.get("sidewatch_slo_samples_total", &[("slo", slo)]);
    // Ten ticks with the listener's own accept queue known (sidewatch shares its namespace).
    d.wait_until(Duration::from_secs(20), |d| {
        samples(&d.metrics(), "queue").is_some_and(|n| n >= 10.0)
    });
    let m = d.metrics();
    assert_eq!(m.get("sidewatch_network_shared", &[]), Some(1.0));
    assert!(m.get("sidewatch_tcp_segments_sent_total", &[]).unwrap() > 0.0);
    assert!(m.has("sidewatch_tcp_listen_overflows_total"));
    // Host-wide counters are exported, but never a signal of the target.
    assert_eq!(samples(&m, "retransmits").unwrap_or(0.0), 0.0);
    let v: serde_json::Value = serde_json::from_str(&d.get("/api/v1/alerts").text()).unwrap();
    let alerts = v["data"]["alerts"].as_array().unwrap();
    assert_eq!(state_of(alerts, "Up").as_deref(), Some("firing"));
    assert_eq!(state_of(alerts, "Queue").as_deref(), Some("firing"));
    assert_eq!(state_of(alerts, "Overflows"), None, "{alerts:?}");
    assert_eq!(state_of(alerts, "Retransmits"), None, "{alerts:?}");
    // The tick's signal values: the host's counters unknown, the target's own queue known.
    let v: serde_json::Value = serde_json::from_str(&d.get("/api/v1/signals").text()).unwrap();
    let signals = &v["data"]["targets"][0]["signals"];
    assert!(signals["listen_overflows"].is_null(), "{signals}");
    assert!(signals["tcp_retransmit_ratio"].is_null(), "{signals}");
    assert!(signals["accept_queue_ratio"].is_f64(), "{signals}");
}

/// The same counters as node_exporter on the same namespace: node_exporter runs inside it
/// (`ip netns exec`, so its `/proc/net` is the namespace's) and is scraped from inside it.
#[test]
fn live_counters_match_node_exporter_in_the_namespace() {
    let ns = NetNs::new();
    let dir = tempfile::tempdir().unwrap();
    let (_server, pid) = python_in(&ns, dir.path(), SERVE);
    // Traffic: requests to the server, and a flood of a stalled listener (overflows, resets).
    let client = "import socket, urllib.request\nfor _ in range(200): urllib.request.urlopen(urllib.request.Request('http://127.0.0.1:8080/', data=b'x' * 100000, method='POST')).read()\nl=socket.socket(); l.bind(('127.0.0.1', 8081)); l.listen(1)\ncs=[socket.create_connection(('127.0.0.1', 8081), timeout=0.2) for _ in range(2)]\nfor _ in range(6):\n    c=socket.socket(); c.setblocking(False); c.connect_ex(('127.0.0.1', 8081)); cs.append(c)\nimport time; time.sleep(1.5)\ntry: socket.create_connection(('127.0.0.1', 8099))\nexcept OSError: pass";
    let o = ns.cmd("python3").args(["-c", client]).output().unwrap();
    assert!(o.status.success(), "{o:?}");
    let node = require_tool("prometheus-node-exporter", "prometheus-node-exporter");
    let curl = require_tool("curl", "curl");
    let port = free_port();
    let _ne = spawn(
        ns.cmd(node.to_str().unwrap())
            .args([
                "--collector.disable-defaults",
                "--collector.netstat",
                "--collector.netdev",
                "--collector.netdev.device-exclude=^$", // keep lo (excluded by default)
            ])
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stderr(Stdio::null()),
    );
    let scrape_node = || {
        let o = ns
            .cmd(curl.to_str().unwrap())
            .args(["-sf", "--max-time", "5"])
            .arg(format!("http://127.0.0.1:{port}/metrics"))
            .output()
            .unwrap();
        o.status
            .success()
            .then(|| Metrics::parse(&String::from_utf8(o.stdout).unwrap()))
    };
    stack::wait_for(Duration::from_secs(20), "node_exporter", || {
        scrape_node().is_some()
    });
    let ours = || {
        let o = ns
            .cmd(BIN)
            .args(["once", "--pid", &pid.to_string()])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        Metrics::parse(&String::from_utf8(o.stdout).unwrap())
    };
    // node_exporter's own scrape is TCP traffic of the namespace: read sidewatch before and after.
    let (sw, ne, after) = (ours(), scrape_node().unwrap(), ours());
    let pairs = [
        (
            "sidewatch_tcp_segments_sent_total",
            "node_netstat_Tcp_OutSegs",
        ),
        (
            "sidewatch_tcp_segments_retransmitted_total",
            "node_netstat_Tcp_RetransSegs",
        ),
        (
            "sidewatch_tcp_active_opens_total",
            "node_netstat_Tcp_ActiveOpens",
        ),
        (
            "sidewatch_tcp_passive_opens_total",
            "node_netstat_Tcp_PassiveOpens",
        ),
        (
            "sidewatch_tcp_resets_sent_total",
            "node_netstat_Tcp_OutRsts",
        ),
        (
            "sidewatch_tcp_listen_overflows_total",
            "node_netstat_TcpExt_ListenOverflows",
        ),
        (
            "sidewatch_tcp_listen_drops_total",
            "node_netstat_TcpExt_ListenDrops",
        ),
    ];
    let mut report = Vec::new();
    for (our_name, node_name) in pairs {
        let a = sw.get(our_name, &[]).unwrap();
        let b = ne.get(node_name, &[]).unwrap();
        let a1 = after.get(our_name, &[]).unwrap();
        report.push(format!("{our_name} {a}..{a1} / {node_name} {b}"));
        assert!(a <= b && b <= a1, "{}", report.join("\n"));
        assert!((a - b).abs() <= 0.01 * b, "{}", report.join("\n"));
    }
    let a = sw
        .get(
            "sidewatch_network_receive_bytes_total",
            &[("interface", "lo")],
        )
        .unwrap();
    let b = ne
        .get("node_network_receive_bytes_total", &[("device", "lo")])
        .unwrap();
    assert!(
        (a - b).abs() <= 0.01 * b,
        "lo receive bytes: ours {a}, node_exporter {b}"
    );
    // The traffic made each of them move (a comparison of zeros shows nothing).
    for n in [
        "node_netstat_Tcp_OutSegs",
        "node_netstat_Tcp_PassiveOpens",
        "node_netstat_Tcp_OutRsts",
        "node_netstat_TcpExt_ListenOverflows",
    ] {
        assert!(ne.get(n, &[]).unwrap() > 0.0, "{n}: {}", report.join("\n"));
    }
    eprintln!("{}", report.join("\n"));
}

/// `sidewatch once` on the fixture tree with `extra` arguments and config `yaml`.
fn once_fixture_with(dir: &Path, yaml: &str, extra: &[&str]) -> Output {
    let config = dir.join("sidewatch.yml");
    std::fs::write(&config, yaml).unwrap();
    Command::new(BIN)
        .args(["once", "--cgroupfs", "/nonexistent", "--procfs"])
        .arg(fixture())
        .arg("--config")
        .arg(&config)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn tcp_states_can_be_turned_off_by_config_or_flag() {
    let dir = tempfile::tempdir().unwrap();
    let golden = std::fs::read_to_string(manifest().join("tests/golden/net.yml")).unwrap();
    let off = format!("{golden}network:\n  tcp_states: false\n");
    let on = format!("{golden}network:\n  tcp_states: true\n");
    for (yaml, extra, counted) in [
        (golden.as_str(), &[][..], true),
        (on.as_str(), &[][..], true),
        (off.as_str(), &[][..], false),
        (golden.as_str(), &["--no-tcp-states"][..], false),
        (on.as_str(), &["--no-tcp-states"][..], false),
    ] {
        let o = once_fixture_with(dir.path(), yaml, extra);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let m = Metrics::parse(&String::from_utf8(o.stdout).unwrap());
        let what = format!("{extra:?} with\n{yaml}");
        assert_eq!(m.has("sidewatch_tcp_connections"), counted, "{what}");
        // The listeners are found either way.
        let q = m.get(
            "sidewatch_tcp_listen_queue",
            &[("target", "server"), ("port", "8080")],
        );
        assert_eq!(q, Some(3.0), "{what}");
    }
    let typo = format!("{golden}network:\n  tcp_state: false\n");
    let o = once_fixture_with(dir.path(), &typo, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("sidewatch.yml") && err.contains("tcp_state") && err.contains("tcp_states"),
        "{err}"
    );
}

/// In sidewatch's own namespace a target that holds no socket skips the listener dump; a second
/// target of the same namespace, listed after it, still gets its listener and backlog (the
/// first one's reading is not shared), and the socketless one has none.
#[test]
fn a_socketless_target_beside_a_listener_in_the_same_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let (listener, pid) = python(Command::new("python3"), dir.path(), HOST_LISTENER);
    let sleeper = spawn(Command::new("sleep").arg("60").stdin(Stdio::null()));
    // The listener's port, from the kernel's socket table (the script bound port 0).
    let port = {
        let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .flatten()
            .filter_map(|e| std::fs::read_link(e.path()).ok())
            .filter_map(|l| {
                let l = l.to_string_lossy().into_owned();
                Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
            })
            .collect();
        let tcp = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")).unwrap();
        let line = tcp
            .lines()
            .find(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.len() > 9 && f[3] == "0A" && inodes.iter().any(|i| i == f[9])
            })
            .expect("the listener in net/tcp");
        let local = line.split_whitespace().nth(1).unwrap();
        u16::from_str_radix(local.split_once(':').unwrap().1, 16).unwrap()
    };
    let config = dir.path().join("sidewatch.yml");
    std::fs::write(
        &config,
        format!(
            "targets:\n  - {{name: quiet, pid: {}}}\n  - {{name: server, pid: {pid}}}\n",
            sleeper.pid()
        ),
    )
    .unwrap();
    let d = Daemon::start(&["--interval", "200ms", "--config", config.to_str().unwrap()]);
    let port = port.to_string();
    let server = [("target", "server"), ("port", port.as_str())];
    d.wait_until(Duration::from_secs(20), |d| {
        d.metrics()
            .get("sidewatch_tcp_listen_backlog", &server)
            .is_some()
    });
    let m = d.metrics();
    assert_eq!(m.get("sidewatch_tcp_listen_backlog", &server), Some(8.0));
    assert_eq!(m.get("sidewatch_tcp_listen_queue", &server), Some(0.0));
    let body = d.get("/metrics").text();
    let quiet_listener = |l: &&str| {
        (l.starts_with("sidewatch_tcp_listen_queue{")
            || l.starts_with("sidewatch_tcp_listen_backlog{"))
            && l.contains("target=\"quiet\"")
    };
    assert_eq!(body.lines().find(quiet_listener), None);
    drop(listener);
}
