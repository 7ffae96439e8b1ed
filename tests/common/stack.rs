//! The real monitoring stack in tests: Prometheus and Alertmanager from the distribution's
//! packages on free loopback ports with their own storage in a temp dir, a webhook receiver
//! that collects what Alertmanager POSTs, the HTTP API calls the tests make, and the check that
//! a committed generated artefact is exactly what its generator prints.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Proc, Response, http, require_tool, spawn};

/// A loopback address with a port that was free a moment ago.
pub fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Polls `cond` every 100 ms until it holds, panicking after `timeout`.
pub fn wait_for(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The Alertmanager binary: upstream calls it `alertmanager`, Debian's package
/// `prometheus-alertmanager` installs it as `/usr/bin/prometheus-alertmanager`.
pub fn alertmanager_bin() -> PathBuf {
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        for name in ["alertmanager", "prometheus-alertmanager"] {
            let p = Path::new(dir).join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    require_tool("alertmanager", "prometheus-alertmanager")
}

/// Percent-encodes a query parameter value.
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// POSTs a JSON body; returns the status and the response body.
pub fn post_json(addr: SocketAddr, path: &str, body: &Value) -> (u16, String) {
    let body = body.to_string();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The body of a response, de-chunked when the server sent `Transfer-Encoding: chunked` (Go's
/// servers do for bodies they do not know the length of in advance).
pub fn body(r: &Response) -> Vec<u8> {
    if r.header("transfer-encoding") != Some("chunked") {
        return r.body.clone();
    }
    let mut out = Vec::new();
    let mut rest = &r.body[..];
    while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&rest[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        let start = eol + 2;
        out.extend_from_slice(&rest[start..start + size]);
        rest = &rest[start + size + 2..];
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Prometheus.

pub struct Prometheus {
    pub addr: SocketAddr,
    _proc: Proc,
}

impl Prometheus {
    /// Starts Prometheus with `prometheus.yml` (and whatever it references) in `dir`, storage
    /// in `dir/data`, plus `extra` flags; waits until it is ready.
    pub fn start(dir: &Path, extra: &[&str]) -> Prometheus {
        let bin = require_tool("prometheus", "prometheus");
        let addr = free_addr();
        let proc = spawn(
            Command::new(bin)
                .arg(format!(
                    "--config.file={}",
                    dir.join("prometheus.yml").display()
                ))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join("data").display()
                ))
                .arg(format!("--web.listen-address={addr}"))
                .args(extra)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(
                    std::fs::File::create(dir.join("prometheus.log"))
                        .map(Stdio::from)
                        .unwrap(),
                ),
        );
        let p = Prometheus { addr, _proc: proc };
        wait_for(Duration::from_secs(30), "Prometheus to be ready", || {
            TcpStream::connect(addr).is_ok() && http(addr, "GET", "/-/ready", &[]).status == 200
        });
        p
    }

    /// The Prometheus process (for tests that watch it as an application).
    pub fn pid(&self) -> i32 {
        self._proc.pid()
    }

    /// An instant query; panics unless Prometheus answers with success.
    pub fn query(&self, q: &str) -> Vec<Value> {
        let v = self.api(&format!("/api/v1/query?query={}", urlencode(q)));
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// GETs an API path; returns the JSON answer, whatever its status (errors are JSON too).
    pub fn api(&self, path_and_query: &str) -> Value {
        let r = http(self.addr, "GET", path_and_query, &[]);
        serde_json::from_slice(&body(&r))
            .unwrap_or_else(|e| panic!("{path_and_query}: {e}: {}", r.text()))
    }
}

// ---------------------------------------------------------------------------------------------
// Alertmanager.

pub struct Alertmanager {
    pub addr: SocketAddr,
    _proc: Proc,
}

impl Alertmanager {
    /// Starts Alertmanager with `config` (written to `dir/alertmanager.yml`), its own storage in
    /// `dir/am-data`, on a free loopback port, clustering off; waits until it is ready.
    pub fn start(dir: &Path, config: &str) -> Alertmanager {
        let bin = alertmanager_bin();
        let cfg = dir.join("alertmanager.yml");
        std::fs::write(&cfg, config).unwrap();
        let addr = free_addr();
        let proc = spawn(
            Command::new(bin)
                .arg(format!("--config.file={}", cfg.display()))
                .arg(format!("--storage.path={}", dir.join("am-data").display()))
                .arg(format!("--web.listen-address={addr}"))
                .arg("--cluster.listen-address=")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(
                    std::fs::File::create(dir.join("alertmanager.log"))
                        .map(Stdio::from)
                        .unwrap(),
                ),
        );
        let am = Alertmanager { addr, _proc: proc };
        wait_for(Duration::from_secs(30), "Alertmanager to be ready", || {
            TcpStream::connect(addr).is_ok() && http(addr, "GET", "/-/ready", &[]).status == 200
        });
        am
    }

    /// The alerts Alertmanager holds, with their status (`state`, `inhibitedBy`, ...).
    pub fn alerts(&self) -> Vec<Value> {
        let r = http(self.addr, "GET", "/api/v2/alerts", &[]);
        assert_eq!(r.status, 200, "{}", r.text());
        serde_json::from_slice::<Value>(&body(&r))
            .unwrap()
            .as_array()
            .cloned()
            .unwrap()
    }
}

// ---------------------------------------------------------------------------------------------
// Webhook receiver.

/// One POST the receiver got.
#[derive(Debug, Clone)]
pub struct Notification {
    pub path: String,
    pub body: Value,
    pub at: Instant,
}

/// A tiny HTTP server that answers every request with 200 and keeps the JSON bodies POSTed to
/// it: the receiver Alertmanager's `webhook_configs` deliver to.
pub struct Webhook {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Notification>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Webhook {
    pub fn start() -> Webhook {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s) = (received.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                if let Some(n) = read_request(conn) {
                    r.lock().unwrap().push(n);
                }
            }
        });
        Webhook {
            addr,
            received,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn received(&self) -> Vec<Notification> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads one HTTP/1.1 request (head, then `Content-Length` bytes), answers 200 and closes.
fn read_request(conn: TcpStream) -> Option<Notification> {
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(conn.try_clone().ok()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    let path = request_line.split_whitespace().nth(1)?.to_string();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let mut conn = conn;
    let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    Some(Notification {
        path,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        at: Instant::now(),
    })
}

// ---------------------------------------------------------------------------------------------
// Generated artefacts.

/// Where `generated` and `committed` first differ (line number and both lines), or None when
/// they are identical.
pub fn first_difference(generated: &str, committed: &str) -> Option<String> {
    if generated == committed {
        return None;
    }
    let (g, c): (Vec<&str>, Vec<&str>) = (generated.lines().collect(), committed.lines().collect());
    for i in 0..g.len().max(c.len()) {
        let (a, b) = (g.get(i), c.get(i));
        if a != b {
            return Some(format!(
                "line {}: generated {:?}, committed {:?}",
                i + 1,
                a.copied().unwrap_or("<end of file>"),
                b.copied().unwrap_or("<end of file>")
            ));
        }
    }
    Some("the files differ in their line endings or final newline".into())
}

/// Checks that the committed file at `path` is exactly `generated`. With `SIDEWATCH_BLESS` set,
/// rewrites the file first (after a reviewed change). `regenerate` says how, for the message.
pub fn assert_generated(generated: &str, path: &Path, regenerate: &str) {
    if std::env::var_os("SIDEWATCH_BLESS").is_some() {
        std::fs::write(path, generated).unwrap();
    }
    if let Some(m) = generated_mismatch(generated, path) {
        panic!("{m}; review, then regenerate with {regenerate}");
    }
}

/// Why the committed file at `path` is not exactly `generated`, or None when it is.
pub fn generated_mismatch(generated: &str, path: &Path) -> Option<String> {
    match std::fs::read_to_string(path) {
        Err(e) => Some(format!("{}: {e}", path.display())),
        Ok(committed) => first_difference(generated, &committed)
            .map(|d| format!("{} differs from its generator ({d})", path.display())),
    }
}
