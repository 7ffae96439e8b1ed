//! The target's network namespace end to end: the golden body of the network fixture tree
//! (real kernel text with IPv6 and an interface name with a dot), its values against the
//! fixture's own files, and live runs in network namespaces this test makes (as root), checked
//! against the kernel's `net/dev` and `net/tcp` read by the test.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
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
    let pidfile = dir.join(format!("pid{}", code.len()));
    let p = spawn(
        ns.cmd("python3")
            .args(["-c", code])
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

#[test]
fn live_stalled_listener_fills_its_queue_and_overflows() {
    let ns = NetNs::new();
    let dir = tempfile::tempdir().unwrap();
    let (_server, pid) = python_in(&ns, dir.path(), STALLED);
    // More connections than the backlog; the server never accepts.
    let flood = "import socket\ncs=[]\nfor _ in range(12):\n    c=socket.socket(); c.setblocking(False); c.connect_ex(('127.0.0.1', 8080)); cs.append(c)\nimport time; time.sleep(3)";
    let mut client = spawn(ns.cmd("python3").args(["-c", flood]));
    stack::wait_for(Duration::from_secs(10), "overflows", || {
        listen_overflows(pid) > 0
    });
    // sidewatch in the namespace (a sidecar's view): it reads the backlog over sock_diag.
    let o = ns
        .cmd(BIN)
        .args(["once", "--pid", &pid.to_string()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m = Metrics::parse(&String::from_utf8(o.stdout).unwrap());
    let port = [("port", "8080")];
    assert_eq!(m.get("sidewatch_tcp_listen_backlog", &port), Some(4.0));
    // The kernel admits one more than the backlog (sk_acceptq_is_full is `>`).
    let queue = m.get("sidewatch_tcp_listen_queue", &port).unwrap();
    assert!(queue >= 4.0, "queue {queue}");
    let ours = m.get("sidewatch_tcp_listen_overflows_total", &[]).unwrap();
    assert!(ours > 0.0 && ours <= listen_overflows(pid) as f64, "{ours}");
    assert_eq!(m.get("sidewatch_network_shared", &[]), Some(0.0));
    client.wait_timeout(Duration::from_secs(10));
}

#[test]
fn host_namespace_is_flagged_shared() {
    let me = std::process::id().to_string();
    let o = Command::new(BIN)
        .args(["once", "--pid", &me])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m = Metrics::parse(&String::from_utf8(o.stdout).unwrap());
    // This test runs in the host's namespace (kthreadd's): the figures are the host's.
    let host = std::fs::read_link("/proc/2/ns/net").unwrap();
    assert_eq!(std::fs::read_link("/proc/self/ns/net").unwrap(), host);
    assert_eq!(m.get("sidewatch_network_shared", &[]), Some(1.0));
}
