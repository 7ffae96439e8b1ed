//! The application-metrics source: the exposition parser checked against Python's
//! `prometheus_client` parsers on bodies captured from real applications
//! (tests/fixtures/app/MANIFEST), then the fetch and the tick against hostile endpoints.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::path::PathBuf;

use common::app::{our_samples, python_samples, same_samples, sort};
use sidewatch::source::exposition::{Format, MetricType, parse};

fn fixture(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/app")
        .join(name);
    std::fs::read_to_string(&p).unwrap()
}

const FIXTURES: &[(&str, Format)] = &[
    ("prometheus-2.42.txt", Format::Text004),
    ("python-client-0.16.txt", Format::Text004),
    ("python-client-0.16.om.txt", Format::OpenMetrics),
];

#[test]
fn every_fixture_sample_equals_what_python_reads() {
    for (name, format) in FIXTURES {
        let body = fixture(name);
        let ours = our_samples(&parse(&body, *format).unwrap());
        let mut theirs = python_samples(body.as_bytes(), *format == Format::OpenMetrics).unwrap();
        sort(&mut theirs);
        assert!(theirs.len() > 20, "{name}: only {} samples", theirs.len());
        assert!(
            same_samples(&ours, &theirs),
            "{name}: ours {ours:#?}\npython {theirs:#?}"
        );
    }
}

#[test]
fn prometheus_body_has_its_go_runtime_and_http_histogram() {
    let body = fixture("prometheus-2.42.txt");
    let e = parse(&body, Format::Text004).unwrap();
    let line_value = |prefix: &str| -> f64 {
        let line = body.lines().find(|l| l.starts_with(prefix)).unwrap();
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert_eq!(
        e.value("go_goroutines", &[]),
        Some(line_value("go_goroutines "))
    );
    assert_eq!(e.family("go_goroutines").unwrap().kind, MetricType::Gauge);
    let gc = e.family("go_gc_duration_seconds").unwrap();
    assert_eq!(gc.kind, MetricType::Summary);
    assert_eq!(
        e.value("go_gc_duration_seconds", &[("quantile", "0.5")]),
        Some(line_value("go_gc_duration_seconds{quantile=\"0.5\"}"))
    );
    let h = e
        .family("prometheus_http_request_duration_seconds")
        .unwrap();
    assert_eq!(h.kind, MetricType::Histogram);
    let buckets = body
        .lines()
        .filter(|l| l.starts_with("prometheus_http_request_duration_seconds_bucket{"))
        .count();
    assert_eq!(
        h.samples
            .iter()
            .filter(|s| s.name.ends_with("_bucket"))
            .count(),
        buckets
    );
}

#[test]
fn python_openmetrics_body_keeps_escapes_specials_and_family_types() {
    let e = parse(&fixture("python-client-0.16.om.txt"), Format::OpenMetrics).unwrap();
    let path = "/a \"quoted\" \\ back\nslash"; // as the capture script set it
    assert_eq!(e.value("app_requests_total", &[("path", path)]), Some(3.0));
    let requests = e.family("app_requests").unwrap();
    assert_eq!(requests.kind, MetricType::Counter);
    assert_eq!(requests.samples.len(), 4, "two _total and two _created");
    let latency = e.family("app_latency_seconds").unwrap();
    assert_eq!(latency.kind, MetricType::Histogram);
    assert_eq!(
        e.value("app_latency_seconds_bucket", &[("le", "+Inf")]),
        Some(4.0)
    );
    assert_eq!(
        e.value("app_latency_seconds_bucket", &[("le", "0.5")]),
        Some(2.0)
    );
    assert_eq!(e.value("app_latency_seconds_sum", &[]), Some(3.95));
    assert!(e.value("app_temperature", &[]).unwrap().is_nan());
    assert_eq!(e.value("app_ceiling", &[]), Some(f64::INFINITY));
    assert_eq!(e.family("app_build").unwrap().kind, MetricType::Info);
    assert_eq!(
        e.value("app_build_info", &[("version", "1.2.3")]),
        Some(1.0)
    );
    assert_eq!(e.family("app_state").unwrap().kind, MetricType::StateSet);
    assert_eq!(
        e.family("app_size_bytes").unwrap().kind,
        MetricType::Summary
    );
}

#[test]
fn text_body_families_follow_type_lines_and_untyped_samples_stand_alone() {
    let e = parse(&fixture("python-client-0.16.txt"), Format::Text004).unwrap();
    // Text 0.0.4 names the counter family with its `_total`; `_created` is its own gauge.
    assert_eq!(
        e.family("app_requests_total").unwrap().kind,
        MetricType::Counter
    );
    assert_eq!(
        e.family("app_requests_created").unwrap().kind,
        MetricType::Gauge
    );
    let e = parse("a 1\nb{x=\"y\"} 2\n", Format::Text004).unwrap();
    assert_eq!(e.family("a").unwrap().kind, MetricType::Unknown);
    assert_eq!(e.value("b", &[("x", "y")]), Some(2.0));
}

/// Edge cases where both parsers must agree: the same samples, or both refuse the body.
#[test]
fn edge_cases_agree_with_python() {
    let cases: &[(&str, Format)] = &[
        ("x{a=\"1\",} 1\n", Format::Text004),
        ("x{ a = \"1\" } 1 1700000000000\n", Format::Text004),
        ("x -Inf\ny +Inf\nz NaN\nw 1e3\n", Format::Text004),
        ("# some comment\nx 1\n\n", Format::Text004),
        ("x{", Format::Text004),
        ("x{a=1} 1\n", Format::Text004),
        ("  x{a=\"1\"} 1\n\t# HELP x help\n", Format::Text004),
        ("x{a=\"1\"}2\n", Format::Text004),
        ("# HELP x} help\nx 1\n", Format::Text004),
        ("# HELP x} help\nx 1\n# EOF\n", Format::OpenMetrics),
        (" x 1\n# EOF\n", Format::OpenMetrics),
        ("x abc\n", Format::Text004),
        (
            "# TYPE x counter\nx_total 1\nx_created 2\n# EOF\n",
            Format::OpenMetrics,
        ),
        ("# TYPE x counter\nx_total 1\n", Format::OpenMetrics),
        ("x 1\n# EOF\nx 2\n", Format::OpenMetrics),
        (
            "# TYPE x counter\nx_total 1 # {t=\"a\"} 0.5 1.5\n# EOF\n",
            Format::OpenMetrics,
        ),
        ("x 1\n# EOF", Format::OpenMetrics),
        ("x inf\n# EOF\n", Format::OpenMetrics),
        ("x{a=\"\\q\"} 1\n", Format::Text004),
    ];
    let mut bad = Vec::new();
    for (body, format) in cases {
        let ours = parse(body, *format).map(|e| our_samples(&e));
        let theirs =
            python_samples(body.as_bytes(), *format == Format::OpenMetrics).map(|mut v| {
                sort(&mut v);
                v
            });
        match (&ours, &theirs) {
            (Ok(a), Ok(b)) if same_samples(a, b) => {}
            (Err(_), Err(_)) => {}
            _ => bad.push(format!(
                "{body:?} ({format:?}): ours {ours:?}, python {theirs:?}"
            )),
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
}

/// Python reads `x 1 2 3` as `x 1` (timestamp "2 3"); Prometheus refuses the line, so do we.
#[test]
fn text_after_the_timestamp_is_refused_as_prometheus_does() {
    let err = parse("x 1 2 3\n", Format::Text004).unwrap_err();
    assert_eq!(err.line, 1);
    assert!(err.reason.contains("after the value"), "{err}");
}

#[test]
fn a_truncated_openmetrics_body_is_refused_naming_the_line() {
    let body = fixture("python-client-0.16.om.txt");
    let cut = &body[..body.len() / 2];
    let err = parse(cut, Format::OpenMetrics).unwrap_err();
    assert!(err.to_string().contains("line "), "{err}");
    assert!(
        python_samples(cut.as_bytes(), true).is_err(),
        "python accepted the cut body"
    );
}

#[test]
fn content_type_chooses_the_format() {
    assert_eq!(
        Format::from_content_type("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        Format::OpenMetrics
    );
    assert_eq!(
        Format::from_content_type("text/plain; version=0.0.4"),
        Format::Text004
    );
    assert_eq!(Format::from_content_type(""), Format::Text004);
}

// ---------------------------------------------------------------------------------------------
// Fetching: a small std::net server on 127.0.0.1 that misbehaves on purpose.

mod hostile {
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    #[derive(Clone)]
    pub enum Behaviour {
        /// 200 with this body; gzipped when asked and `gzip`; 401 without `Bearer <token>`.
        Body {
            content_type: &'static str,
            body: Vec<u8>,
            gzip: bool,
            token: Option<&'static str>,
        },
        /// 200, no Content-Length, this many bytes then close.
        Huge(usize),
        /// 200, Content-Encoding: gzip, this (compressed) body.
        Gzipped(Vec<u8>),
        /// Reads the request, never answers.
        Silent,
        /// Answers one byte a second.
        Trickle,
        Status(u16),
    }

    pub struct Server {
        pub addr: SocketAddr,
        stop: Arc<AtomicBool>,
        pub heads: Arc<Mutex<Vec<String>>>,
        /// Most connections open at once.
        pub max_open: Arc<AtomicUsize>,
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::Relaxed);
        }
    }

    impl Server {
        pub fn url(&self) -> String {
            format!("http://{}/metrics", self.addr)
        }

        pub fn start(b: Behaviour) -> Server {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.set_nonblocking(true).unwrap();
            let addr = listener.local_addr().unwrap();
            let stop = Arc::new(AtomicBool::new(false));
            let heads = Arc::new(Mutex::new(Vec::new()));
            let open = Arc::new(AtomicUsize::new(0));
            let max_open = Arc::new(AtomicUsize::new(0));
            let (s, h, o, m) = (stop.clone(), heads.clone(), open.clone(), max_open.clone());
            std::thread::spawn(move || {
                // Bounded: a test never runs this long.
                let deadline = Instant::now() + Duration::from_secs(120);
                while !s.load(Ordering::Relaxed) && Instant::now() < deadline {
                    match listener.accept() {
                        Ok((conn, _)) => {
                            let n = o.fetch_add(1, Ordering::SeqCst) + 1;
                            m.fetch_max(n, Ordering::SeqCst);
                            let (b, s, h, o) = (b.clone(), s.clone(), h.clone(), o.clone());
                            std::thread::spawn(move || {
                                serve(conn, &b, &s, &h);
                                o.fetch_sub(1, Ordering::SeqCst);
                            });
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            });
            Server {
                addr,
                stop,
                heads,
                max_open,
            }
        }
    }

    fn read_head(conn: &mut TcpStream) -> Option<String> {
        let mut buf = Vec::new();
        let mut byte = [0u8; 1];
        while !buf.ends_with(b"\r\n\r\n") {
            match conn.read(&mut byte) {
                Ok(1) => buf.push(byte[0]),
                _ => return None,
            }
        }
        Some(String::from_utf8_lossy(&buf).into_owned())
    }

    /// Waits until the client closes (or stop), without answering.
    fn hold(conn: &mut TcpStream, stop: &AtomicBool) {
        conn.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let mut b = [0u8; 64];
        while !stop.load(Ordering::Relaxed) {
            match conn.read(&mut b) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => return,
            }
        }
    }

    fn serve(mut conn: TcpStream, b: &Behaviour, stop: &AtomicBool, heads: &Mutex<Vec<String>>) {
        let _ = conn.set_nonblocking(false);
        let Some(head) = read_head(&mut conn) else {
            return;
        };
        heads.lock().unwrap().push(head.clone());
        let lower = head.to_ascii_lowercase();
        let _ = match b {
            Behaviour::Body {
                content_type,
                body,
                gzip,
                token,
            } => {
                if let Some(t) = token {
                    if !lower.contains(&format!(
                        "authorization: bearer {}\r\n",
                        t.to_ascii_lowercase()
                    )) {
                        let _ = conn.write_all(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                        return;
                    }
                }
                let zipped = *gzip && lower.contains("accept-encoding: gzip");
                let body = if zipped {
                    super::gzip(body)
                } else {
                    body.clone()
                };
                let enc = if zipped {
                    "Content-Encoding: gzip\r\n"
                } else {
                    ""
                };
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n{enc}Content-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                conn.write_all(head.as_bytes())
                    .and_then(|_| conn.write_all(&body))
            }
            Behaviour::Huge(n) => {
                let chunk = vec![b'#'; 64 * 1024];
                let mut r = conn.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n",
                );
                let mut sent = 0;
                while r.is_ok() && sent < *n {
                    r = conn.write_all(&chunk);
                    sent += chunk.len();
                }
                r
            }
            Behaviour::Gzipped(z) => {
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    z.len()
                );
                conn.write_all(head.as_bytes())
                    .and_then(|_| conn.write_all(z))
            }
            Behaviour::Silent => {
                hold(&mut conn, stop);
                Ok(())
            }
            Behaviour::Trickle => {
                let answer = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nx 1\n\n\n";
                for byte in answer {
                    if stop.load(Ordering::Relaxed) || conn.write_all(&[*byte]).is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_secs(1));
                }
                Ok(())
            }
            Behaviour::Status(code) => {
                let head = format!(
                    "HTTP/1.1 {code} Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                conn.write_all(head.as_bytes())
            }
        };
    }
}

use std::time::{Duration, Instant};

use hostile::{Behaviour, Server};
use sidewatch::source::http::{Client, FetchError, Get};

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

const MIB: usize = 1024 * 1024;

/// 64 MiB of zeros in about 64 KiB.
fn bomb() -> Vec<u8> {
    gzip(&vec![0u8; 64 * MIB])
}

fn om_body() -> Behaviour {
    Behaviour::Body {
        content_type: "application/openmetrics-text; version=1.0.0; charset=utf-8",
        body: fixture("python-client-0.16.om.txt").into_bytes(),
        gzip: true,
        token: None,
    }
}

fn get(server: &Server, timeout: Duration) -> Get {
    Get {
        uri: server.url().parse().unwrap(),
        headers: vec![],
        timeout,
        max_body_bytes: MIB as u64,
    }
}

/// What a case's outcome must be.
type Expect = fn(&Result<sidewatch::source::http::Response, FetchError>) -> bool;

#[tokio::test]
async fn the_client_cuts_off_every_hostile_endpoint_within_its_timeout() {
    let timeout = Duration::from_millis(400);
    let client = Client::plain();
    let cases: Vec<(&str, Behaviour, Expect)> = vec![
        ("body over the cap", Behaviour::Huge(8 * MIB), |r| {
            matches!(r, Err(FetchError::TooLarge(_)))
        }),
        ("gzip bomb", Behaviour::Gzipped(bomb()), |r| {
            matches!(r, Err(FetchError::DecompressedTooLarge(_)))
        }),
        ("never answers", Behaviour::Silent, |r| {
            matches!(r, Err(FetchError::Timeout(_)))
        }),
        ("a byte a second", Behaviour::Trickle, |r| {
            matches!(r, Err(FetchError::Timeout(_)))
        }),
        (
            "status 500",
            Behaviour::Status(500),
            |r| matches!(r, Ok(resp) if resp.status == 500),
        ),
    ];
    for (what, behaviour, expected) in cases {
        let server = Server::start(behaviour);
        let started = Instant::now();
        let r = client.get(&get(&server, timeout)).await;
        let took = started.elapsed();
        assert!(expected(&r), "{what}: {r:?}");
        assert!(
            took < timeout + Duration::from_millis(200),
            "{what}: took {took:?}"
        );
    }
    // A good gzipped body comes back whole and decompressed.
    let server = Server::start(om_body());
    let r = client.get(&get(&server, timeout)).await.unwrap();
    assert_eq!(r.body, fixture("python-client-0.16.om.txt").into_bytes());
    assert!(
        r.content_type
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    assert!(
        server.heads.lock().unwrap()[0]
            .to_ascii_lowercase()
            .contains("accept-encoding: gzip")
    );
}

/// One target per hostile endpoint (all watching this test process) and one good one, in a
/// real daemon: the good one has its figures every tick, the others count errors every tick,
/// no tick waits for any of them, and the process figures go on.
#[test]
fn hostile_endpoints_never_hold_the_tick_and_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret\n").unwrap();
    let good = Server::start(Behaviour::Body {
        content_type: "application/openmetrics-text; version=1.0.0; charset=utf-8",
        body: fixture("python-client-0.16.om.txt").into_bytes(),
        gzip: true,
        token: Some("s3cret"),
    });
    let malformed = Behaviour::Body {
        content_type: "text/plain; version=0.0.4",
        body: b"ok 1\nbroken{ 2\n".to_vec(),
        gzip: false,
        token: None,
    };
    let hostile: Vec<(&str, Server)> = vec![
        ("huge", Server::start(Behaviour::Huge(8 * MIB))),
        ("bomb", Server::start(Behaviour::Gzipped(bomb()))),
        ("silent", Server::start(Behaviour::Silent)),
        ("trickle", Server::start(Behaviour::Trickle)),
        ("malformed", Server::start(malformed)),
        ("status", Server::start(Behaviour::Status(503))),
    ];
    let pid = std::process::id();
    let mut yaml = format!(
        "interval: 500ms\ntargets:\n  - name: good\n    pid: {pid}\n    app:\n      metrics_url: {}\n      timeout: 300ms\n      bearer_token_file: {}\n",
        good.url(),
        token.display()
    );
    for (name, s) in &hostile {
        yaml.push_str(&format!(
            "  - name: {name}\n    pid: {pid}\n    app:\n      metrics_url: {}\n      timeout: 300ms\n      max_body_bytes: 1MiB\n",
            s.url()
        ));
    }
    let cfg = dir.path().join("sidewatch.yml");
    std::fs::write(&cfg, yaml).unwrap();
    let d = common::Daemon::start(&["--config", cfg.to_str().unwrap()]);
    std::thread::sleep(Duration::from_millis(4200));
    let m = d.metrics();

    let ticks = m.get("sidewatch_ticks_total", &[]).unwrap();
    assert!(ticks >= 7.0, "only {ticks} ticks in 4.2 s at 500ms");
    // Every tick under 100 ms, while each hostile fetch takes 300 ms or more.
    let count = m.get("sidewatch_tick_duration_seconds_count", &[]).unwrap();
    let fast = m
        .get("sidewatch_tick_duration_seconds_bucket", &[("le", "0.1")])
        .unwrap();
    assert_eq!(fast, count, "a tick took 100 ms or more");

    let python = python_samples(fixture("python-client-0.16.om.txt").as_bytes(), true).unwrap();
    assert_eq!(
        m.get("sidewatch_app_metrics_up", &[("target", "good")]),
        Some(1.0)
    );
    assert_eq!(
        m.get("sidewatch_app_metrics_samples", &[("target", "good")]),
        Some(python.len() as f64)
    );
    let took = m
        .get(
            "sidewatch_app_metrics_fetch_duration_seconds",
            &[("target", "good")],
        )
        .unwrap();
    assert!(took > 0.0 && took < 0.3, "{took}");
    let head = good.heads.lock().unwrap()[0].to_ascii_lowercase();
    assert!(
        head.contains("accept: application/openmetrics-text"),
        "{head}"
    );
    for (name, _) in &hostile {
        let t = [("target", *name)];
        assert_eq!(m.get("sidewatch_app_metrics_up", &t), Some(0.0), "{name}");
        assert_eq!(m.get("sidewatch_target_up", &t), Some(1.0), "{name}");
        assert!(
            m.get("sidewatch_process_resident_memory_bytes", &t)
                .unwrap()
                > 0.0,
            "{name}"
        );
    }
    // One error per hostile target per tick after the first (which only starts the fetches).
    let errors = m
        .get("sidewatch_read_errors_total", &[("source", "app_metrics")])
        .unwrap();
    let expected = hostile.len() as f64 * (ticks - 1.0);
    assert!(
        errors >= expected && errors <= expected + ticks,
        "{errors} errors, {ticks} ticks"
    );
    // At most one fetch in flight per target: the silent server never held two connections
    // (one more while it notices a close).
    let silent = &hostile[2].1;
    assert!(silent.max_open.load(std::sync::atomic::Ordering::SeqCst) <= 2);
    let fetches = silent.heads.lock().unwrap().len() as f64;
    assert!(fetches <= ticks + 1.0, "{fetches} fetches in {ticks} ticks");
}

/// `once` fetches synchronously within the timeout: the figures of a good endpoint, a counted
/// error for a silent one, and no wait past its timeout.
#[test]
fn once_fetches_within_the_timeout() {
    let good = Server::start(om_body());
    let silent = Server::start(Behaviour::Silent);
    let dir = tempfile::tempdir().unwrap();
    let pid = std::process::id();
    let cfg = dir.path().join("sidewatch.yml");
    std::fs::write(
        &cfg,
        format!(
            "interval: 2s\ntargets:\n  - name: good\n    pid: {pid}\n    app: {{metrics_url: \"{}\"}}\n  - name: silent\n    pid: {pid}\n    app: {{metrics_url: \"{}\", timeout: 400ms}}\n",
            good.url(),
            silent.url()
        ),
    )
    .unwrap();
    let started = Instant::now();
    let out = std::process::Command::new(common::BIN)
        .args(["once", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(took < Duration::from_millis(1500), "once took {took:?}");
    let m = common::Metrics::parse(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(
        m.get("sidewatch_app_metrics_up", &[("target", "good")]),
        Some(1.0)
    );
    assert_eq!(
        m.get("sidewatch_app_metrics_up", &[("target", "silent")]),
        Some(0.0)
    );
    assert_eq!(
        m.get("sidewatch_read_errors_total", &[("source", "app_metrics")]),
        Some(1.0)
    );
}

/// Config errors name the field; `--app-metrics` needs a target.
#[test]
fn app_config_errors_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "{metrics_url: \"ftp://x/metrics\"}",
            "targets[0].app.metrics_url",
        ),
        (
            "{metrics_url: \"http://127.0.0.1:1/m\", timeout: 5s}",
            "targets[0].app.timeout",
        ),
        (
            "{metrics_url: \"http://127.0.0.1:1/m\", max_body_bytes: lots}",
            "targets[0].app.max_body_bytes",
        ),
        (
            "{metrics_url: \"https://127.0.0.1:1/m\", tls: {ca_file: /nonexistent.pem}}",
            "targets[0].app.tls.ca_file",
        ),
        (
            "{metrics_url: \"http://127.0.0.1:1/m\", bearer_token_file: /nonexistent}",
            "targets[0].app.bearer_token_file",
        ),
        (
            "{metrics_url: \"http://127.0.0.1:1/m\", tls: {insecure_skip_verify: true}}",
            "targets[0].app.tls",
        ),
        (
            "{metrics_url: \"http://127.0.0.1:1/m\", bogus: 1}",
            "targets[0].app",
        ),
        (
            "{metrics_url: \"http://127.0.0.1:1/m\", http: {histogram: 'x{a=\"b\"}'}}",
            "targets[0].app.http.histogram",
        ),
        (
            "{metrics_url: \"http://127.0.0.1:1/m\", http: {histogram: x, status_label: 'a-b'}}",
            "targets[0].app.http.status_label",
        ),
    ];
    for (app, field) in cases {
        let cfg = dir.path().join("c.yml");
        std::fs::write(
            &cfg,
            format!("interval: 5s\ntargets:\n  - name: a\n    pid: 1\n    app: {app}\n"),
        )
        .unwrap();
        let out = std::process::Command::new(common::BIN)
            .args(["check-config", cfg.to_str().unwrap()])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{app}: accepted");
        assert!(err.contains(field), "{app}: {err}");
    }
    let out = std::process::Command::new(common::BIN)
        .args(["once", "--app-metrics", "http://127.0.0.1:1/metrics"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--app-metrics"));
}

/// An `https` endpoint (a sidewatch serving TLS with a test CA): verified with `ca_file`,
/// refused without it, accepted unverified with `insecure_skip_verify`; the body it serves when
/// asked for OpenMetrics (gzipped) is parsed as OpenMetrics.
#[test]
fn https_endpoint_with_ca_file_or_insecure_skip_verify() {
    use sidewatch::source::app::{AppPoller, AppSpec};
    use sidewatch::source::http::TlsOptions;
    let dir = tempfile::tempdir().unwrap();
    let (pki, app) = common::tls_daemon(dir.path());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let fetch = |tls: TlsOptions| {
        let poller = AppPoller::new(AppSpec {
            metrics_url: format!("https://localhost:{}/metrics", app.addr.port())
                .parse()
                .unwrap(),
            timeout: Duration::from_secs(2),
            bearer_token_file: None,
            tls,
            max_body_bytes: MIB as u64,
            http: None,
        });
        poller.fetch_blocking(&rt);
        poller.take(Duration::from_secs(5)).unwrap().result
    };
    let with_ca = TlsOptions {
        ca_file: Some(pki.ca.clone()),
        insecure_skip_verify: false,
    };
    // The app answers 503 until its first tick is published.
    let deadline = Instant::now() + Duration::from_secs(10);
    let body = loop {
        match fetch(with_ca.clone()) {
            Ok(b) => break b,
            Err(e) if Instant::now() < deadline => eprintln!("not yet: {e}"),
            Err(e) => panic!("{e}"),
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        body.value("sidewatch_target_up", &[("target", "app")]),
        Some(1.0)
    );
    // `_created`-free counters keep OpenMetrics names: the body was read as OpenMetrics.
    assert_eq!(
        body.family("sidewatch_ticks").unwrap().kind,
        MetricType::Counter
    );

    let err = fetch(TlsOptions::default()).unwrap_err().to_string();
    assert!(
        err.contains("TLS") && err.to_lowercase().contains("unknown"),
        "{err}"
    );
    let insecure = TlsOptions {
        ca_file: None,
        insecure_skip_verify: true,
    };
    assert!(fetch(insecure).is_ok());
}

/// Real applications: a Prometheus 2.42 (Go, text 0.0.4) and a Python `prometheus_client` app
/// (OpenMetrics), each watched with `app.metrics_url`. Each tick has their body; its sample
/// count equals what Python's parser reads from a body fetched right after.
#[test]
fn real_prometheus_and_python_apps_are_read_every_tick() {
    let dir = tempfile::tempdir().unwrap();
    let prom_bin = common::require_tool("prometheus", "prometheus");
    let prom_port = common::free_port();
    let prom = common::spawn(
        std::process::Command::new(prom_bin)
            .arg("--config.file=/dev/null")
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
    );
    let py_port = common::free_port();
    let py = common::spawn(
        std::process::Command::new("/usr/bin/python3")
            .args([
                "-c",
                "import sys, time\nfrom prometheus_client import start_http_server, Counter\nCounter('app_requests', 'Requests.', ['code']).labels('200').inc(7)\nstart_http_server(int(sys.argv[1]), addr='127.0.0.1')\ntime.sleep(120)\n",
                &py_port.to_string(),
            ])
            .stderr(std::process::Stdio::null()),
    );
    let cfg = dir.path().join("sidewatch.yml");
    std::fs::write(
        &cfg,
        format!(
            "interval: 500ms\ntargets:\n  - name: prometheus\n    pid: {}\n    app: {{metrics_url: \"http://127.0.0.1:{prom_port}/metrics\"}}\n  - name: python\n    pid: {}\n    app: {{metrics_url: \"http://127.0.0.1:{py_port}/metrics\"}}\n",
            prom.pid(),
            py.pid()
        ),
    )
    .unwrap();
    let curl = common::require_tool("curl", "curl");
    let d = common::Daemon::start(&["--config", cfg.to_str().unwrap()]);
    let up = |m: &common::Metrics, t: &str| m.get("sidewatch_app_metrics_up", &[("target", t)]);
    d.wait_until(Duration::from_secs(20), |d| {
        let m = d.metrics();
        up(&m, "prometheus") == Some(1.0) && up(&m, "python") == Some(1.0)
    });
    // Counted while the apps were still starting; none once both answer.
    let errors = |d: &common::Daemon| {
        let m = d.metrics();
        m.get("sidewatch_read_errors_total", &[("source", "app_metrics")])
    };
    let (early, ticks_early) = (errors(&d), d.metrics().get("sidewatch_ticks_total", &[]));
    for (target, port, om) in [("prometheus", prom_port, false), ("python", py_port, true)] {
        // Prometheus adds series as it serves (its own request counters): compare a count read
        // between two fetches of the same body size, retrying a few times.
        let mut last = None;
        for _ in 0..10 {
            let m = d.metrics();
            let ours = m
                .get("sidewatch_app_metrics_samples", &[("target", target)])
                .unwrap();
            let accept = if om {
                "application/openmetrics-text;version=1.0.0"
            } else {
                "text/plain"
            };
            let body = std::process::Command::new(&curl)
                .args(["-sf", "--max-time", "5", "-H", &format!("Accept: {accept}")])
                .arg(format!("http://127.0.0.1:{port}/metrics"))
                .output()
                .unwrap()
                .stdout;
            let theirs = python_samples(&body, om).unwrap().len() as f64;
            last = Some((ours, theirs));
            if ours == theirs {
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        let (ours, theirs) = last.unwrap();
        // The Python app's body is fixed: exact. Prometheus adds and drops series of its own
        // as it serves (request counters per handler): within 5 % when no retry caught two
        // equal bodies.
        let tolerance = if om { 0.0 } else { 0.05 * theirs };
        assert!(
            (ours - theirs).abs() <= tolerance,
            "{target}: sidewatch read {ours} samples, python {theirs}"
        );
    }
    // Once both answer, fetches succeed: at most one late fetch in four ticks (on a busy machine
    // an answer or the fetch's start may slip past the 250 ms timeout or the tick now and then;
    // a broken reader fails every tick, two errors a tick).
    let ticks_now = |d: &common::Daemon| d.metrics().get("sidewatch_ticks_total", &[]).unwrap();
    d.wait_until(Duration::from_secs(10), |d| {
        ticks_now(d) >= ticks_early.unwrap() + 10.0
    });
    let ticks = ticks_now(&d) - ticks_early.unwrap();
    let new_errors = errors(&d).unwrap() - early.unwrap();
    assert!(
        new_errors <= 0.25 * ticks,
        "{new_errors} app_metrics errors in {ticks} ticks"
    );
}

/// A reload that changes only `app:` keeps the target's counters (here its restart count):
/// where the app's metrics come from says nothing about its processes.
#[test]
fn a_reload_changing_only_app_keeps_the_counters() {
    use sidewatch::source::app::AppSpec;
    use sidewatch::target::{Selector, TargetSpec};
    let (_guard, root) = common::fixture_copy();
    let pid_file = root.parent().unwrap().join("app.pid");
    std::fs::write(&pid_file, "6293\n").unwrap();
    let app = |url: &str| AppSpec {
        metrics_url: url.parse().unwrap(),
        timeout: Duration::from_millis(100),
        bearer_token_file: None,
        tls: Default::default(),
        max_body_bytes: 1024,
        http: None,
    };
    let spec = |url: &str| TargetSpec {
        name: "t".into(),
        selector: Selector::PidFile(pid_file.clone()),
        children: false,
        smaps: false,
        thread_totals: true,
        labels: vec![],
        cgroup_labels: false,
        app: Some(app(url)),
        probe: None,
        profiles: None,
    };
    let mut s = sidewatch::sampler::Sampler::new(
        sidewatch::source::proc::ProcReader::new(&root),
        vec![spec("http://127.0.0.1:1/a")],
        sidewatch::state::Shared::new(Duration::from_secs(1)),
    );
    let restarts =
        |s: &mut sidewatch::sampler::Sampler| s.tick().targets[0].counters.restarts_total;
    assert_eq!(restarts(&mut s), 0);
    // The process is replaced (same pid, new start time): one restart.
    let stat = root.join("6293/stat");
    let text = std::fs::read_to_string(&stat).unwrap();
    let close = text.rfind(')').unwrap();
    let mut fields: Vec<&str> = text[close + 2..].trim_end().split(' ').collect();
    fields[22 - 3] = "99999";
    std::fs::write(&stat, format!("{} {}\n", &text[..=close], fields.join(" "))).unwrap();
    assert_eq!(restarts(&mut s), 1);
    s.set_targets(vec![spec("http://127.0.0.1:1/b")]);
    assert_eq!(restarts(&mut s), 1, "the reload reset the counters");
}
