//! Helpers shared by the integration tests: start the real binary, talk HTTP to it, parse the
//! exposition, require external tools loudly (a missing tool is a failure, never a skip).

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub mod app;
pub mod certs;
pub mod cgroups;
pub mod stack;

pub const BIN: &str = env!("CARGO_BIN_EXE_sidewatch");

pub fn fixture_proc() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/proc")
}

/// Copies a directory tree, keeping symlinks as symlinks (the fixture's `exe` and `fd/*`).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            copy_tree(&e.path(), &dest);
        } else if ft.is_symlink() {
            let target = std::fs::read_link(e.path()).unwrap();
            let _ = std::fs::remove_file(&dest);
            std::os::unix::fs::symlink(target, &dest).unwrap();
        } else if ft.is_file() {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// A writable copy of the procfs fixture tree: `(guard, <tmp>/proc)`.
pub fn fixture_copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("proc");
    copy_tree(&fixture_proc(), &root);
    (dir, root)
}

/// A sidewatch serving TLS with a test PKI written into `dir` (watching this test process): an
/// https endpoint whose certificate verifies against `pki.ca` only.
pub fn tls_daemon(dir: &Path) -> (certs::Pki, Daemon) {
    let pki = certs::make_pki(dir);
    let web = dir.join("web.yml");
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
            pki.server_cert.display(),
            pki.server_key.display()
        ),
    )
    .unwrap();
    let pid = std::process::id().to_string();
    let d = Daemon::spawn_cmd(Command::new(BIN).args([
        "--pid",
        &pid,
        "--name",
        "app",
        "--web.config.file",
        web.to_str().unwrap(),
    ]));
    (pki, d)
}

/// Panics with install instructions when an external tool is missing.
pub fn require_tool(name: &str, package: &str) -> PathBuf {
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "required tool `{name}` is not installed: run `apt-get install -y {package}` or the README test command (scripts/test), which installs it"
    );
}

/// A child process killed (and reaped) when dropped, so a failing test leaves nothing behind.
pub struct Proc {
    pub child: Child,
}

impl Proc {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), sig);
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn spawn(cmd: &mut Command) -> Proc {
    Proc {
        child: cmd.spawn().expect("spawn"),
    }
}

/// A running sidewatch daemon, with its stderr collected in the background.
pub struct Daemon {
    pub proc: Proc,
    pub addr: SocketAddr,
    pub log: mpsc::Receiver<String>,
}

impl Daemon {
    /// Starts `sidewatch ARGS --web.listen-address 127.0.0.1:0` and waits until it listens and
    /// has published its first tick.
    pub fn start(args: &[&str]) -> Daemon {
        Self::start_cmd(Command::new(BIN).args(args))
    }

    pub fn start_cmd(cmd: &mut Command) -> Daemon {
        let d = Self::spawn_cmd(cmd);
        d.wait_until(Duration::from_secs(20), |d| d.get("/readyz").status == 200);
        d
    }

    /// Starts the daemon and waits only for its listen address (for TLS or auth setups, where
    /// the plain readiness probe cannot be used).
    pub fn spawn_cmd(cmd: &mut Command) -> Daemon {
        cmd.arg("--web.listen-address")
            .arg("127.0.0.1:0")
            .stdin(Stdio::null())
            .stderr(Stdio::piped());
        let mut proc = spawn(cmd);
        let stderr = proc.child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[sidewatch] {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        let addr = loop {
            let line = rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("sidewatch did not report its listen address in time");
            if let Some(a) = line.split("listening on ").nth(1) {
                break a.trim().parse::<SocketAddr>().expect("address");
            }
        };
        Daemon {
            proc,
            addr,
            log: rx,
        }
    }

    pub fn get(&self, path: &str) -> Response {
        http(self.addr, "GET", path, &[])
    }

    pub fn metrics(&self) -> Metrics {
        let r = self.get("/metrics");
        assert_eq!(r.status, 200, "{}", r.text());
        Metrics::parse(&r.text())
    }

    /// Polls `cond` every 50 ms until it holds, panicking after `timeout`.
    pub fn wait_until(&self, timeout: Duration, mut cond: impl FnMut(&Self) -> bool) {
        let deadline = Instant::now() + timeout;
        while !cond(self) {
            assert!(
                Instant::now() < deadline,
                "condition not met within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits up to `timeout` for a logged line matching `pred` (log lines reach the test through
    /// a pipe and a reader thread, so they can trail the metrics that reflect the same event).
    pub fn wait_for_log(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) if pred(&line) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    }

    /// Lines logged so far (drains the channel).
    pub fn drain_log(&self) -> Vec<String> {
        self.log.try_iter().collect()
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// A minimal HTTP/1.1 client (one request per connection) so tests see raw bytes and headers.
pub fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("write");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Response {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

/// Samples of a text exposition: `name{labels}` (labels as written) → value.
#[derive(Debug, Clone)]
pub struct Metrics {
    pub samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

impl Metrics {
    pub fn parse(body: &str) -> Metrics {
        let mut samples = Vec::new();
        for line in body.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect("sample line");
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v.parse().expect("sample value"),
            };
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => (n.to_string(), parse_labels(rest.trim_end_matches('}'))),
                None => (series.to_string(), BTreeMap::new()),
            };
            samples.push((name, labels, value));
        }
        Metrics { samples }
    }

    /// The value of the one sample with this name whose labels include `want`.
    pub fn get(&self, name: &str, want: &[(&str, &str)]) -> Option<f64> {
        let found: Vec<f64> = self
            .samples
            .iter()
            .filter(|(n, l, _)| {
                n == name
                    && want
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, _, v)| *v)
            .collect();
        assert!(
            found.len() <= 1,
            "{name} {want:?} matches {} samples",
            found.len()
        );
        found.first().copied()
    }

    pub fn has(&self, name: &str) -> bool {
        self.samples.iter().any(|(n, _, _)| n == name)
    }
}

fn parse_labels(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = s;
    while let Some((k, after)) = rest.split_once("=\"") {
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        value.push(match n {
                            'n' => '\n',
                            other => other,
                        });
                    }
                }
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        out.insert(k.trim_start_matches(',').trim().to_string(), value);
        rest = &after[end..];
    }
    out
}

/// VmRSS of a live process in bytes, read directly from the kernel.
pub fn vm_rss_bytes(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmRSS")
        * 1024
}

pub fn fd_count(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fd dir")
        .count()
}

/// A loopback port that was free a moment ago (for tools that cannot report theirs).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An instant query against a Prometheus HTTP API; panics unless it answers 200.
pub fn prom_query(prom: SocketAddr, q: &str) -> serde_json::Value {
    let path = format!("/api/v1/query?query={}", stack::urlencode(q));
    let r = http(prom, "GET", &path, &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    serde_json::from_slice(&r.body).expect("json")
}

/// Runs `cmd ARGS` with `stdin` as its standard input and collects its output (promtool, the
/// OpenMetrics parser).
pub fn run_with_stdin(
    cmd: impl AsRef<std::ffi::OsStr>,
    args: &[&str],
    stdin: &[u8],
) -> std::process::Output {
    let mut child = Command::new(cmd)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

/// Lines about sidewatch itself vary from run to run; golden files hold `<varies>` there.
pub fn mask_varying(body: &str) -> String {
    body.lines()
        .map(|l| {
            let varying = l.starts_with("process_")
                || l.starts_with("sidewatch_tick_duration_seconds")
                || l.starts_with("sidewatch_build_info{")
                || l.starts_with("sidewatch_config_last_reload_success_timestamp_seconds");
            match l.rsplit_once(' ') {
                Some((series, _)) if varying => {
                    let series = if l.starts_with("sidewatch_build_info{") {
                        "sidewatch_build_info{<varies>}"
                    } else {
                        series
                    };
                    format!("{series} <varies>\n")
                }
                _ => format!("{l}\n"),
            }
        })
        .collect()
}

/// `promtool check metrics` accepts `body` without a word.
pub fn promtool_clean(body: &str) {
    let promtool = require_tool("promtool", "prometheus");
    let o = run_with_stdin(&promtool, &["check", "metrics"], body.as_bytes());
    assert!(
        o.status.success() && o.stdout.is_empty() && o.stderr.is_empty(),
        "promtool check metrics: {} {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}
