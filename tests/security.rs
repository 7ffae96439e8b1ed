//! Security: TLS, client certificates and basic auth from a web config file in the
//! exporter-toolkit format, checked with curl, a real Prometheus and the distribution's
//! node_exporter (which must accept the very same file); rate limiting; reloads of the web
//! config; the server's limits (header timeout, idle keep-alive, head size) and routing errors.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::certs::{Pki, make_pki};
use common::*;
use nix::sys::signal::Signal;

const PASSWORD: &str = "s3cret-pa55";

fn sleeper() -> Proc {
    spawn(
        Command::new("sleep")
            .arg("120")
            .stdin(Stdio::null())
            .stdout(Stdio::null()),
    )
}

/// A bcrypt hash as htpasswd would write it (cost 6 keeps the tests fast).
fn hash(password: &str) -> String {
    bcrypt::hash(password, 6).unwrap()
}

/// The web config shared with node_exporter: TLS with verified client certificates, basic
/// auth, and two security headers. Only keys node_exporter 1.5 (Debian 12) knows.
fn web_config(dir: &Path, pki: &Pki) -> PathBuf {
    let f = dir.join("web.yml");
    std::fs::write(
        &f,
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {}\n  min_version: TLS12\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n    X-Content-Type-Options: nosniff\nbasic_auth_users:\n  prometheus: '{}'\n",
            pki.server_cert.display(),
            pki.server_key.display(),
            pki.ca.display(),
            hash(PASSWORD)
        ),
    )
    .unwrap();
    f
}

struct Curl {
    code: Option<i32>,
    status: Option<u16>,
    head: String,
    body: String,
    stderr: String,
}

impl Curl {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

/// curl with the test CA; `extra` adds client certificates, credentials, TLS versions.
fn curl(pki: &Pki, url: &str, extra: &[&str]) -> Curl {
    let curl = require_tool("curl", "curl");
    let o: Output = Command::new(curl)
        .args(["-sS", "-i", "--max-time", "10", "--cacert"])
        .arg(&pki.ca)
        .args(extra)
        .arg(url)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let (head, body) = out
        .split_once("\r\n\r\n")
        .map(|(h, b)| (h.to_string(), b.to_string()))
        .unwrap_or((out.clone(), String::new()));
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok());
    Curl {
        code: o.status.code(),
        status,
        head,
        body,
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn client_cert(pki: &Pki) -> Vec<String> {
    vec![
        "--cert".into(),
        pki.client_cert.display().to_string(),
        "--key".into(),
        pki.client_key.display().to_string(),
    ]
}

fn args<'a>(v: &'a [String], more: &[&'a str]) -> Vec<&'a str> {
    v.iter()
        .map(String::as_str)
        .chain(more.iter().copied())
        .collect()
}

fn start_tls(web: &Path, target_pid: i32, extra: &[&str]) -> Daemon {
    Daemon::spawn_cmd(
        Command::new(BIN)
            .args(["--pid", &target_pid.to_string(), "--name", "app"])
            .args(["--interval", "200ms", "--web.config.file"])
            .arg(web)
            .args(extra),
    )
}

fn url(d: &Daemon, path: &str) -> String {
    format!("https://127.0.0.1:{}{path}", d.addr.port())
}

/// Waits until an authenticated TLS scrape succeeds.
fn wait_tls_ready(d: &Daemon, pki: &Pki, user: &str, password: &str) -> Curl {
    let cc = client_cert(pki);
    let cred = format!("{user}:{password}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = curl(pki, &url(d, "/metrics"), &args(&cc, &["-u", &cred]));
        if r.status == Some(200) {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "no TLS scrape: {} {}",
            r.head,
            r.stderr
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn tls_scrape_with_client_certificate_and_basic_auth() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let web = web_config(dir.path(), &pki);
    let app = sleeper();
    let d = start_tls(&web, app.pid(), &["--web.header-timeout", "2s"]);
    let cc = client_cert(&pki);
    let cred = format!("prometheus:{PASSWORD}");

    let ok = wait_tls_ready(&d, &pki, "prometheus", PASSWORD);
    // A client that opens a TLS connection and stalls in the handshake is cut by the header
    // timeout like any slow client.
    let t0 = Instant::now();
    let mut stalled = TcpStream::connect(d.addr).unwrap();
    stalled.write_all(&[0x16, 0x03, 0x01]).unwrap(); // the first bytes of a ClientHello
    assert!(closed_within(&mut stalled, Duration::from_secs(4)));
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(1900), "closed after {took:?}");
    let m = Metrics::parse(&ok.body);
    assert_eq!(
        m.get("sidewatch_target_up", &[("target", "app")]),
        Some(1.0)
    );
    assert_eq!(ok.header("x-frame-options").as_deref(), Some("deny"));
    assert_eq!(
        ok.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
    // A second request hits the cache of successful checks (and still succeeds).
    let again = curl(&pki, &url(&d, "/metrics"), &args(&cc, &["-u", &cred]));
    assert_eq!(again.status, Some(200));

    // TLS 1.2 is accepted (the default min_version), TLS 1.1 is not.
    let r = curl(
        &pki,
        &url(&d, "/healthz"),
        &args(&cc, &["-u", &cred, "--tls-max", "1.2"]),
    );
    assert_eq!(r.status, Some(200), "{}", r.stderr);
    let r = curl(
        &pki,
        &url(&d, "/healthz"),
        &args(&cc, &["-u", &cred, "--tlsv1.1", "--tls-max", "1.1"]),
    );
    assert_ne!(r.code, Some(0), "TLS 1.1 must be refused");

    // Wrong password, unknown user, no credentials: 401 with a Basic challenge and the headers.
    for extra in [
        vec!["-u", "prometheus:wrong"],
        vec!["-u", "mallory:s3cret-pa55"],
        vec![],
    ] {
        let r = curl(&pki, &url(&d, "/metrics"), &args(&cc, &extra));
        assert_eq!(r.status, Some(401), "{extra:?}: {} {}", r.head, r.stderr);
        assert_eq!(r.header("www-authenticate").as_deref(), Some("Basic"));
        assert_eq!(r.header("x-frame-options").as_deref(), Some("deny"));
        assert!(!r.body.contains("sidewatch_"), "no metrics without auth");
    }
    // Auth applies to every path, including unknown ones (no probing of routes).
    let r = curl(
        &pki,
        &url(&d, "/nope"),
        &cc.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert_eq!(r.status, Some(401));
    let r = curl(&pki, &url(&d, "/nope"), &args(&cc, &["-u", &cred]));
    assert_eq!(r.status, Some(404));

    // The client certificate is required, and must come from the configured CA.
    let r = curl(&pki, &url(&d, "/metrics"), &["-u", &cred]);
    assert_ne!(
        r.code,
        Some(0),
        "no client certificate must fail the handshake"
    );
    assert_eq!(r.status, None, "{}", r.head);
    let rogue = [
        "--cert",
        pki.rogue_cert.to_str().unwrap(),
        "--key",
        pki.rogue_key.to_str().unwrap(),
        "-u",
        &cred,
    ];
    let r = curl(&pki, &url(&d, "/metrics"), &rogue);
    assert_ne!(r.code, Some(0), "a certificate from another CA must fail");
    assert_eq!(r.status, None);

    // Plain HTTP on the TLS port gets no metrics.
    let mut s = TcpStream::connect(d.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    assert!(!String::from_utf8_lossy(&buf).contains("sidewatch_target_up"));

    // The daemon is still serving after all of that.
    assert_eq!(
        curl(&pki, &url(&d, "/metrics"), &args(&cc, &["-u", &cred])).status,
        Some(200)
    );
}

#[test]
fn node_exporter_accepts_the_same_web_config_file() {
    let node_exporter = require_tool("prometheus-node-exporter", "prometheus-node-exporter");
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let web = web_config(dir.path(), &pki);
    let port = free_port();
    let mut ne = spawn(
        Command::new(node_exporter)
            .arg(format!("--web.config.file={}", web.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--collector.disable-defaults")
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let app = sleeper();
    let d = start_tls(&web, app.pid(), &[]);
    wait_tls_ready(&d, &pki, "prometheus", PASSWORD);
    let cc = client_cert(&pki);
    let cred = format!("prometheus:{PASSWORD}");
    let ne_url = format!("https://127.0.0.1:{port}/metrics");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = curl(&pki, &ne_url, &args(&cc, &["-u", &cred]));
        if r.status == Some(200) {
            assert!(r.body.contains("go_goroutines"), "{}", r.body);
            break;
        }
        assert!(
            ne.child.try_wait().unwrap().is_none(),
            "node_exporter rejected the file"
        );
        assert!(
            Instant::now() < deadline,
            "node_exporter: {} {}",
            r.head,
            r.stderr
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Both refuse the same requests.
    for u in [ne_url.clone(), url(&d, "/metrics")] {
        let r = curl(&pki, &u, &args(&cc, &["-u", "prometheus:wrong"]));
        assert_eq!(r.status, Some(401), "{u}");
        let r = curl(&pki, &u, &["-u", &cred]);
        assert_eq!(
            r.status, None,
            "{u}: no client certificate must fail the handshake"
        );
        let r = curl(&pki, &u, &args(&cc, &["-u", &cred]));
        assert_eq!(r.status, Some(200), "{u}");
        assert_eq!(r.header("x-frame-options").as_deref(), Some("deny"), "{u}");
    }
    drop(ne);

    // ... and both reject a file with an unknown key.
    let bad = dir.path().join("bad.yml");
    std::fs::write(&bad, "tls_server_config:\n  cert_filse: server.pem\n").unwrap();
    let port = free_port();
    let mut ne = spawn(
        Command::new(require_tool(
            "prometheus-node-exporter",
            "prometheus-node-exporter",
        ))
        .arg(format!("--web.config.file={}", bad.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--collector.disable-defaults")
        .stdout(Stdio::null())
        .stderr(Stdio::null()),
    );
    let status = ne.wait_timeout(Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| !s.success()),
        "node_exporter accepted a bad file"
    );
    let o = Command::new(BIN)
        .args([
            "--pid",
            "1",
            "--web.listen-address",
            "127.0.0.1:0",
            "--web.config.file",
        ])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("unknown field `cert_filse`"), "{e}");
    assert!(e.contains("tls_server_config.cert_filse"), "{e}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn real_prometheus_scrapes_over_https_with_client_certificate_and_basic_auth() {
    let prometheus = require_tool("prometheus", "prometheus");
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let web = web_config(dir.path(), &pki);
    let app = sleeper();
    let d = start_tls(&web, app.pid(), &[]);
    wait_tls_ready(&d, &pki, "prometheus", PASSWORD);
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: sidewatch\n    scheme: https\n    tls_config:\n      ca_file: {}\n      cert_file: {}\n      key_file: {}\n      server_name: localhost\n    basic_auth:\n      username: prometheus\n      password: {PASSWORD}\n    static_configs:\n      - targets: ['{}']\n",
            pki.ca.display(),
            pki.client_cert.display(),
            pki.client_key.display(),
            d.addr
        ),
    )
    .unwrap();
    let prom_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let _prom = spawn(
        Command::new(prometheus)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={prom_addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(
            Instant::now() < deadline,
            "Prometheus did not scrape over TLS in time"
        );
        std::thread::sleep(Duration::from_millis(500));
        if TcpStream::connect(prom_addr).is_err() {
            continue;
        }
        let r = http(
            prom_addr,
            "GET",
            "/api/v1/query?query=sidewatch_target_up",
            &[],
        );
        if r.status != 200 {
            continue;
        }
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        let res = &v["data"]["result"];
        if res.as_array().is_some_and(|a| !a.is_empty()) {
            assert_eq!(res[0]["metric"]["target"], "app");
            assert_eq!(res[0]["value"][1], "1");
            break;
        }
    }
    let r = http(prom_addr, "GET", "/api/v1/query?query=up", &[]);
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["data"]["result"][0]["value"][1], "1");
}

/// Authenticated plain-HTTP GET (basic auth without TLS).
fn get_auth(addr: SocketAddr, path: &str, user: &str, password: &str) -> Response {
    let b64 = base64(&format!("{user}:{password}"));
    http(
        addr,
        "GET",
        path,
        &[("Authorization", &format!("Basic {b64}"))],
    )
}

fn base64(s: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn web_config_reloads_on_sighup_and_on_change_and_keeps_the_old_one_when_bad() {
    let dir = tempfile::tempdir().unwrap();
    let web = dir.path().join("web.yml");
    std::fs::write(
        &web,
        format!("basic_auth_users:\n  alice: '{}'\n", hash("one")),
    )
    .unwrap();
    let app = sleeper();
    let mut d = start_tls(&web, app.pid(), &[]);
    d.wait_until(Duration::from_secs(20), |d| {
        get_auth(d.addr, "/readyz", "alice", "one").status == 200
    });
    assert_eq!(d.get("/metrics").status, 401);

    // SIGHUP with a new password.
    std::fs::write(
        &web,
        format!("basic_auth_users:\n  alice: '{}'\n", hash("two")),
    )
    .unwrap();
    d.proc.signal(Signal::SIGHUP);
    d.wait_until(Duration::from_secs(10), |d| {
        get_auth(d.addr, "/metrics", "alice", "two").status == 200
    });
    assert_eq!(get_auth(d.addr, "/metrics", "alice", "one").status, 401);

    // A broken file: logged, the previous settings stay, the reload metric says so.
    std::fs::write(&web, "basic_auth_users:\n  alice: not-a-hash\n").unwrap();
    d.proc.signal(Signal::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut logged = false;
    while !logged {
        assert!(
            Instant::now() < deadline,
            "bad web config reload was not logged"
        );
        logged = d
            .drain_log()
            .iter()
            .any(|l| l.contains("web config reload failed") && l.contains("not a bcrypt hash"));
        std::thread::sleep(Duration::from_millis(50));
    }
    d.wait_until(Duration::from_secs(5), |d| {
        let r = get_auth(d.addr, "/metrics", "alice", "two");
        r.status == 200
            && Metrics::parse(&r.text()).get("sidewatch_config_last_reload_successful", &[])
                == Some(0.0)
    });
    let ts_failed = Metrics::parse(&get_auth(d.addr, "/metrics", "alice", "two").text())
        .get(
            "sidewatch_config_last_reload_success_timestamp_seconds",
            &[],
        )
        .unwrap();

    // Fixed by editing the file, without a signal: picked up within a few seconds.
    std::thread::sleep(Duration::from_millis(1100)); // a distinct mtime second for coarse clocks
    std::fs::write(
        &web,
        format!("basic_auth_users:\n  alice: '{}'\n", hash("three")),
    )
    .unwrap();
    d.wait_until(Duration::from_secs(10), |d| {
        get_auth(d.addr, "/metrics", "alice", "three").status == 200
    });
    d.wait_until(Duration::from_secs(5), |d| {
        let m = Metrics::parse(&get_auth(d.addr, "/metrics", "alice", "three").text());
        m.get("sidewatch_config_last_reload_successful", &[]) == Some(1.0)
            && m.get(
                "sidewatch_config_last_reload_success_timestamp_seconds",
                &[],
            )
            .unwrap()
                > ts_failed
    });
    assert_eq!(get_auth(d.addr, "/metrics", "alice", "two").status, 401);
    assert!(d.proc.child.try_wait().unwrap().is_none(), "daemon alive");
}

#[test]
fn rate_limit_answers_429_beyond_the_burst() {
    let dir = tempfile::tempdir().unwrap();
    let web = dir.path().join("web.yml");
    // One request per 10 s with a burst of 3: the 4th quick request is refused.
    std::fs::write(&web, "rate_limit:\n  interval: 10s\n  burst: 3\n").unwrap();
    let app = sleeper();
    let d = start_tls(&web, app.pid(), &[]);
    // The readiness probe itself consumes tokens; count from the first 429.
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(d.get("/healthz").status);
    }
    let ok = statuses.iter().filter(|s| **s == 200).count();
    assert!(ok <= 3, "{statuses:?}");
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    let r = d.get("/metrics");
    assert_eq!(r.status, 429);
    assert_eq!(r.text(), "Too Many Requests\n");
}

#[test]
fn missing_web_config_file_is_a_one_line_error() {
    let o = Command::new(BIN)
        .args([
            "--pid",
            "1",
            "--web.listen-address",
            "127.0.0.1:0",
            "--web.config.file",
            "/nonexistent/web.yml",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(e.trim().lines().count(), 1, "{e}");
    assert!(
        e.contains("/nonexistent/web.yml") && e.contains("cannot read"),
        "{e}"
    );
    assert!(e.contains("--web.config.file"), "{e}");
    assert!(!e.contains("panicked"), "{e}");
    // Same through the environment.
    let o = Command::new(BIN)
        .args(["--pid", "1", "--web.listen-address", "127.0.0.1:0"])
        .env("SIDEWATCH_WEB_CONFIG_FILE", "/nonexistent/web.yml")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn routing_errors_and_metrics_only() {
    let app = sleeper();
    let d = Daemon::start(&["--pid", &app.pid().to_string(), "--metrics-only"]);
    assert_eq!(d.get("/metrics").status, 200);
    assert_eq!(d.get("/healthz").status, 200);
    assert_eq!(d.get("/readyz").status, 200);
    assert_eq!(d.get("/").status, 404);
    assert_eq!(d.get("/api/v1/anything").status, 404);
    let r = d.get("/metrics?debug=1");
    assert_eq!(r.status, 400);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["status"], "error");
    assert!(v["error"].as_str().unwrap().contains("\"debug\""), "{v}");
    let r = http(d.addr, "DELETE", "/metrics", &[]);
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    // An oversized request head is refused, and the server goes on.
    let big = "x".repeat(20 * 1024);
    let mut s = TcpStream::connect(d.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ =
        s.write_all(format!("GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n").as_bytes());
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let head = String::from_utf8_lossy(&buf);
    assert!(
        head.is_empty() || head.starts_with("HTTP/1.1 431"),
        "{head}"
    );
    assert_eq!(d.get("/metrics").status, 200);
}

/// Reads until EOF or error; returns whether the server closed within `within`.
fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false, // timed out: still open
        }
    }
}

/// The header timeout is enforced per connection from its first byte (the connection clock in
/// server.rs), with hyper's own header timer, driven by hyper-util's `TokioTimer`, as a
/// backstop.
#[test]
fn header_timeout_and_keep_alive_idle_timeout_are_enforced() {
    let app = sleeper();
    let d = Daemon::start(&[
        "--pid",
        &app.pid().to_string(),
        "--web.header-timeout",
        "1s",
        "--web.idle-timeout",
        "3s",
    ]);
    // A silent connection and a partial head are closed after the header timeout.
    let t0 = Instant::now();
    let mut silent = TcpStream::connect(d.addr).unwrap();
    let mut partial = TcpStream::connect(d.addr).unwrap();
    partial
        .write_all(b"GET /metrics HTTP/1.1\r\nHost:")
        .unwrap();
    assert!(closed_within(&mut silent, Duration::from_secs(3)));
    assert!(closed_within(&mut partial, Duration::from_secs(3)));
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(2500),
        "{took:?}"
    );

    // A keep-alive connection outlives the header timeout while idle, then the idle timeout
    // closes it.
    let mut ka = TcpStream::connect(d.addr).unwrap();
    let req = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    let read_response = |s: &mut TcpStream| {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 1024];
        let n = s.read(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    ka.write_all(req).unwrap();
    assert!(read_response(&mut ka).starts_with("HTTP/1.1 200"));
    std::thread::sleep(Duration::from_millis(1800));
    ka.write_all(req).unwrap();
    assert!(
        read_response(&mut ka).starts_with("HTTP/1.1 200"),
        "idle keep-alive kept"
    );
    let t0 = Instant::now();
    assert!(closed_within(&mut ka, Duration::from_secs(6)));
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(2500),
        "closed too early: {took:?}"
    );
    assert_eq!(d.get("/metrics").status, 200);
}

#[test]
fn idle_keep_alive_connections_make_room_when_the_server_is_full() {
    let app = sleeper();
    let d = Daemon::start(&[
        "--pid",
        &app.pid().to_string(),
        "--web.max-connections",
        "4",
    ]);
    // Four keep-alive connections take every slot, make one request each, then sit idle (the
    // idle timeout is 2 minutes).
    let mut held: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = TcpStream::connect(d.addr).unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = [0u8; 512];
            let n = s.read(&mut buf).unwrap();
            assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1200));
    // A scrape still gets in, at once: idle connections are closed to make room.
    let t0 = Instant::now();
    assert_eq!(d.get("/metrics").status, 200);
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(2), "waited {took:?} for a slot");
    let mut closed = 0;
    for s in &mut held {
        if closed_within(s, Duration::from_millis(200)) {
            closed += 1;
        }
    }
    assert!(closed >= 1, "no idle connection was closed");
}
