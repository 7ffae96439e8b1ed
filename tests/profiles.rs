//! Profile captures against a real Go application serving `net/http/pprof` (the distribution's
//! Prometheus 2.42, at `/debug/pprof/`): an alert trigger fires, heap and goroutine profiles
//! are captured, listed, downloaded and decoded by Go's own pprof tool (`go tool pprof -raw`),
//! with the sample types Go writes; the cooldown and the directory budget hold over repeated
//! triggers; a pprof endpoint that hangs and one that answers junk are survived and counted;
//! path traversal on the download route is refused.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::stack::Prometheus;
use common::{Daemon, require_tool};

/// A local endpoint that misbehaves as a pprof server: `hang` accepts and never answers,
/// otherwise it answers 200 with a body that is not a profile. Stops (and closes every
/// connection) when dropped.
struct BadPprof {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BadPprof {
    fn start(hang: bool) -> BadPprof {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut held: Vec<TcpStream> = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut s, _)) if !hang => {
                        s.set_nonblocking(false).unwrap();
                        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                        let mut buf = [0u8; 2048];
                        let _ = s.read(&mut buf);
                        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 22\r\nConnection: close\r\n\r\nthis is not a profile\n");
                    }
                    Ok((s, _)) => held.push(s),
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        BadPprof {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for BadPprof {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn list(d: &Daemon) -> Vec<serde_json::Value> {
    let r = d.get("/api/v1/profiles");
    assert_eq!(r.status, 200, "{}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    v["data"].as_array().unwrap().clone()
}

fn counter(d: &Daemon, name: &str, labels: &[(&str, &str)]) -> f64 {
    d.metrics().get(name, labels).unwrap_or(0.0)
}

/// `go tool pprof -raw` of a downloaded profile: Go's own decoder of the gzipped protobuf.
fn pprof_raw(go: &Path, file: &Path) -> String {
    let out = Command::new(go)
        .args(["tool", "pprof", "-raw"])
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "go tool pprof -raw {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The sample-type line of `pprof -raw` (the line after `Samples:`).
fn sample_types(raw: &str) -> String {
    let mut lines = raw.lines().skip_while(|l| *l != "Samples:");
    lines.next();
    lines.next().unwrap_or_default().trim().to_string()
}

#[test]
fn alert_captures_heap_and_goroutine_profiles_of_a_real_go_app() {
    let go = require_tool("go", "golang-go");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("prometheus.yml"), "scrape_configs: []\n").unwrap();
    let prom = Prometheus::start(dir.path(), &[]);
    let hang = BadPprof::start(true);
    let junk = BadPprof::start(false);
    let profiles = dir.path().join("profiles");
    let pid = prom.pid();
    let target = |name: &str, url: String, extra: &str| {
        format!(
            "  - name: {name}\n    pid: {pid}\n    profiles:\n      url: {url}\n      dir: {}\n      on_alerts: [ProfileNow]\n      cooldown: 2s\n      timeout: 1s\n{extra}",
            profiles.display()
        )
    };
    let yaml = format!(
        "interval: 250ms\nslos: []\nrules:\n  - {{alert: ProfileNow, signal: threads, op: '>', value: 0, for: 0s, severity: info}}\ntargets:\n{}{}{}",
        target(
            "prom",
            format!("http://{}/debug/pprof/", prom.addr),
            "      max_files: 3\n"
        ),
        target("hang", format!("http://{}/debug/pprof", hang.addr), ""),
        target("junk", format!("http://{}/debug/pprof", junk.addr), ""),
    ) + &format!(
        "  - name: spike\n    pid: {pid}\n    app: {{metrics_url: 'http://{a}/metrics'}}\n    profiles:\n      url: http://{a}/debug/pprof\n      dir: {}\n      goroutines: {{min: 1, abs: 1, cooldown: 1h}}\n",
        profiles.display(),
        a = prom.addr
    ) + &target(
        "cpu",
        format!("http://{}/debug/pprof", prom.addr),
        "      cpu_seconds: 1\n      alert_kinds: [cpu]\n",
    )
    .replace("cooldown: 2s", "cooldown: 1h");
    let cfg = dir.path().join("sidewatch.yml");
    std::fs::write(&cfg, yaml).unwrap();
    let started = Instant::now();
    let d = Daemon::start(&["--config", cfg.to_str().unwrap()]);

    // The first alert round: a heap and a goroutine profile of the real app, listed.
    d.wait_until(Duration::from_secs(20), |d| {
        let l = list(d);
        ["heap", "goroutine"]
            .iter()
            .all(|k| l.iter().any(|e| e["target"] == "prom" && e["kind"] == *k))
    });
    let want = [
        (
            "heap",
            "alloc_objects/count alloc_space/bytes inuse_objects/count inuse_space/bytes",
        ),
        ("goroutine", "goroutine/count"),
    ];
    for (kind, types) in want {
        let e = list(&d)
            .into_iter()
            .find(|e| e["target"] == "prom" && e["kind"] == kind)
            .unwrap();
        assert_eq!(e["trigger"], "alert");
        // The status page links it.
        let page = d.get("/").text();
        assert!(
            page.contains(&format!("<a href=\"{}\"", e["url"].as_str().unwrap())),
            "status page has no link to {}",
            e["url"]
        );
        let evidence = e["evidence"][0].as_str().unwrap();
        assert!(evidence.contains("alert ProfileNow firing"), "{evidence}");
        let r = d.get(e["url"].as_str().unwrap());
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.body.len() as u64, e["sizeBytes"].as_u64().unwrap());
        let file = dir.path().join(format!("download-{kind}.pb.gz"));
        std::fs::write(&file, &r.body).unwrap();
        let raw = pprof_raw(&go, &file);
        assert_eq!(sample_types(&raw), types, "{kind}: {raw:.400}");
        // The stored file is the one served.
        let stored = profiles.join("prom").join(e["file"].as_str().unwrap());
        assert_eq!(std::fs::read(stored).unwrap(), r.body);
    }

    // Repeated triggers: the alert keeps firing for several cooldowns.
    std::thread::sleep(Duration::from_secs(7));
    let elapsed = started.elapsed().as_secs_f64();
    let heaps = counter(
        &d,
        "sidewatch_profiles_captured_total",
        &[("target", "prom"), ("kind", "heap"), ("trigger", "alert")],
    );
    let goroutines = counter(
        &d,
        "sidewatch_profiles_captured_total",
        &[
            ("target", "prom"),
            ("kind", "goroutine"),
            ("trigger", "alert"),
        ],
    );
    // Cooldown 2 s: at most one round per 2 s since the daemon started; at least three rounds.
    let most = (elapsed / 2.0).floor() + 1.0;
    assert!(
        (3.0..=most).contains(&heaps) && (3.0..=most).contains(&goroutines),
        "heap {heaps}, goroutine {goroutines} captures in {elapsed:.1} s (cooldown 2 s)"
    );
    // Budget: 3 files, the newest kept, whatever was captured.
    let l: Vec<_> = list(&d)
        .into_iter()
        .filter(|e| e["target"] == "prom")
        .collect();
    assert_eq!(l.len(), 3, "{l:?}");
    let on_disk = std::fs::read_dir(profiles.join("prom"))
        .unwrap()
        .filter(|f| {
            f.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".pb.gz")
        })
        .count();
    assert_eq!(on_disk, 3);
    let newest = l.iter().map(|e| e["timeSeconds"].as_f64().unwrap());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(newest.fold(0.0, f64::max) > now - 4.0, "{l:?}");

    // The hanging and the junk endpoints: failures counted, nothing stored, daemon still ticking.
    for t in ["hang", "junk"] {
        let errors = counter(
            &d,
            "sidewatch_profile_capture_errors_total",
            &[("target", t)],
        );
        assert!(errors >= 2.0, "{t}: {errors} errors");
        assert!(list(&d).iter().all(|e| e["target"] != t));
    }
    let ticks = |d: &Daemon| d.metrics().get("sidewatch_ticks_total", &[]).unwrap();
    let before = ticks(&d);
    std::thread::sleep(Duration::from_millis(1200));
    assert!(
        ticks(&d) >= before + 3.0,
        "ticks stalled behind the hanging capture"
    );

    // A goroutine spike (Prometheus runs more than one): one goroutine profile, then the
    // hour-long cooldown holds.
    let spikes: Vec<_> = list(&d)
        .into_iter()
        .filter(|e| e["target"] == "spike")
        .collect();
    assert_eq!(spikes.len(), 1, "{spikes:?}");
    assert_eq!(spikes[0]["kind"], "goroutine");
    assert_eq!(spikes[0]["trigger"], "goroutines");
    let why = spikes[0]["evidence"][0].as_str().unwrap();
    assert!(
        why.starts_with("runtime_tasks: ") && why.contains("above the absolute level 1"),
        "{why}"
    );
    let r = d.get(spikes[0]["url"].as_str().unwrap());
    let file = dir.path().join("spike.pb.gz");
    std::fs::write(&file, &r.body).unwrap();
    assert_eq!(sample_types(&pprof_raw(&go, &file)), "goroutine/count");

    let r = d.get("/metrics");
    common::promtool_clean(&r.text());

    // The opt-in CPU profile: one second of the app's CPU, once (cooldown 1 h).
    let cpu: Vec<_> = list(&d)
        .into_iter()
        .filter(|e| e["target"] == "cpu")
        .collect();
    assert_eq!(cpu.len(), 1, "{cpu:?}");
    assert_eq!(cpu[0]["kind"], "cpu");
    let r = d.get(cpu[0]["url"].as_str().unwrap());
    let file = dir.path().join("cpu.pb.gz");
    std::fs::write(&file, &r.body).unwrap();
    assert_eq!(
        sample_types(&pprof_raw(&go, &file)),
        "samples/count cpu/nanoseconds"
    );

    // Path traversal and names not listed never reach the filesystem.
    std::fs::write(profiles.join("secret.pb.gz"), b"secret").unwrap();
    for path in [
        "/api/v1/profiles/../../../../etc/passwd",
        "/api/v1/profiles/prom/../secret.pb.gz",
        "/api/v1/profiles/prom/..%2fsecret.pb.gz",
        "/api/v1/profiles/prom/%2e%2e/secret.pb.gz",
        "/api/v1/profiles/prom/",
        "/api/v1/profiles/prom/nope.pb.gz",
        "/api/v1/profiles/prom/.tmp-x.pb.gz",
        "/api/v1/profiles/../secret.pb.gz",
    ] {
        let r = d.get(path);
        assert!(
            r.status == 400 || r.status == 404,
            "{path}: {} {}",
            r.status,
            r.text()
        );
        assert!(
            !r.text().contains("secret") || r.text().contains("not found"),
            "{path}"
        );
    }
}
