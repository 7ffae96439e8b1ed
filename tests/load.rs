//! Load, slow clients and churn, bounded in time (the 30-minute version is `scripts/soak`).
//!
//! - Slow clients: 200 connections sending their request head one byte a second do not delay a
//!   normal scrape beyond 100 ms, and the header timeout (2 s here) closes every one of them.
//! - Flood: 1,000 idle and 1,000 half-open connections (default limits: 256 connections, 5 s
//!   header timeout), then 20 scrapes: each is answered, with its body, well within
//!   Prometheus's 10 s scrape timeout (bound 2 s; before slots were taken from the stalest
//!   connection, a scrape waited for a timeout to free one), and the daemon's descriptors stay
//!   under the cap.
//! - Load: `wrk` with 256 connections for 20 s on loopback: no socket errors, no non-2xx
//!   responses, RSS growth ≤ 10 % after a warm-up (three 4 s runs).
//! - Churn: a target restarted every 200 ms (half of the restarts forced onto the same pid
//!   through `ns_last_pid`) while short-lived processes come and go, for 20 s in CI
//!   (`SIDEWATCH_CHURN_SECS` to change; the soak script runs 60 s and more): every counter is
//!   non-decreasing, restarts are counted, the daemon's memory stays bounded.
//!
//! The tests of this file share the two CPUs of a CI machine, so they run one at a time.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::Signal;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn sleeper() -> Proc {
    spawn(
        Command::new("sleep")
            .arg("300")
            .stdin(Stdio::null())
            .stdout(Stdio::null()),
    )
}

/// Time for one complete scrape over a new connection.
fn timed_scrape(d: &Daemon) -> Duration {
    let t0 = Instant::now();
    let r = d.get("/metrics");
    let took = t0.elapsed();
    assert_eq!(r.status, 200);
    assert!(r.text().contains("sidewatch_target_up"));
    took
}

#[test]
fn slow_clients_do_not_delay_scrapes_and_are_closed_by_the_header_timeout() {
    let _serial = serial();
    let app = sleeper();
    let d = Daemon::start(&[
        "--pid",
        &app.pid().to_string(),
        "--interval",
        "1s",
        "--web.header-timeout",
        "2s",
    ]);
    let baseline = (0..10).map(|_| timed_scrape(&d)).max().unwrap();

    let head = b"GET /metrics HTTP/1.1\r\nHost: slow\r\nUser-Agent: one-byte-per-second\r\n";
    let mut slow: Vec<TcpStream> = (0..200)
        .map(|_| TcpStream::connect(d.addr).unwrap())
        .collect();
    let opened = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    // One byte per second on every connection, until the server closes them.
    let writer = {
        let mut socks: Vec<TcpStream> = slow.iter().map(|s| s.try_clone().unwrap()).collect();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut i = 0;
            let mut refused = 0;
            while !stop.load(Ordering::Relaxed) && i < head.len() {
                refused = 0;
                for s in &mut socks {
                    if s.write_all(&head[i..=i]).is_err() {
                        refused += 1;
                    }
                }
                i += 1;
                std::thread::sleep(Duration::from_secs(1));
            }
            refused
        })
    };
    // Normal scrapes while the slow clients hold their connections.
    let mut worst = Duration::ZERO;
    let mut n = 0;
    while opened.elapsed() < Duration::from_millis(1800) {
        worst = worst.max(timed_scrape(&d));
        n += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "slow clients: {n} scrapes during the attack, worst {worst:?} (baseline worst {baseline:?})"
    );
    assert!(n >= 10);
    assert!(
        worst < Duration::from_millis(100),
        "a scrape took {worst:?} with 200 slow clients connected"
    );

    // The header timeout (2 s from the connection's start) closes every slow connection.
    std::thread::sleep(Duration::from_millis(3000).saturating_sub(opened.elapsed()));
    let mut closed = 0;
    for s in &mut slow {
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut buf = [0u8; 256];
        match s.read(&mut buf) {
            Ok(0) => closed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => closed += 1,
            Ok(_) | Err(_) => {}
        }
    }
    let closed_after = opened.elapsed();
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    eprintln!("slow clients: {closed}/200 closed by the server after {closed_after:?}");
    assert_eq!(
        closed, 200,
        "slow connections still open after {closed_after:?}"
    );
    // And the server is fine afterwards.
    assert!(timed_scrape(&d) < Duration::from_millis(100));
}

/// One scrape over a new connection, with its body: the time it took, or why it failed.
fn scrape_with_deadline(
    addr: std::net::SocketAddr,
    deadline: Duration,
) -> Result<Duration, String> {
    let t0 = Instant::now();
    let mut s = TcpStream::connect_timeout(&addr, deadline).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(deadline)).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: flood\r\nConnection: close\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .map_err(|e| format!("read after {:?}: {e}", t0.elapsed()))?;
    let text = String::from_utf8_lossy(&raw);
    if !text.starts_with("HTTP/1.1 200") || !text.contains("sidewatch_target_up") {
        return Err(format!(
            "not a full /metrics answer: {:?}",
            &text[..text.len().min(80)]
        ));
    }
    Ok(t0.elapsed())
}

/// Opens `n` connections from 10 threads at once, sending `first` on each (nothing for idle
/// ones). A thread stops at its first connection not accepted within 5 s (the kernel retries a
/// SYN dropped by a full accept queue after 1 s and 3 s; a server that accepts at all takes it
/// by then).
fn flood(addr: std::net::SocketAddr, n: usize, first: &'static [u8]) -> Vec<TcpStream> {
    let threads: Vec<_> = (0..10)
        .map(|_| {
            std::thread::spawn(move || {
                let mut held = Vec::with_capacity(n / 10);
                for _ in 0..n / 10 {
                    match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
                        Ok(mut s) => {
                            let _ = s.write_all(first);
                            held.push(s);
                        }
                        Err(e) => {
                            eprintln!("flood: a connection was not accepted: {e}");
                            break;
                        }
                    }
                }
                held
            })
        })
        .collect();
    threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect()
}

#[test]
fn a_flood_of_idle_and_half_open_connections_does_not_delay_scrapes() {
    let _serial = serial();
    // The test holds 2,000 sockets of its own.
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    if soft < 4096 {
        setrlimit(Resource::RLIMIT_NOFILE, hard.min(4096), hard).unwrap();
    }
    let app = sleeper();
    let d = Daemon::start(&["--pid", &app.pid().to_string(), "--interval", "1s"]);
    let fds_before = fd_count(d.proc.pid());
    let (idle, half_open) = std::thread::scope(|s| {
        let idle = s.spawn(|| flood(d.addr, 1000, b""));
        let half_open = flood(d.addr, 1000, b"GET /metrics HTTP/1.1\r\nHost: fl");
        (idle.join().unwrap(), half_open)
    });
    let opened = (idle.len(), half_open.len());
    // Up to the first failure: a failed scrape has waited the whole 10 s already.
    let mut results = Vec::new();
    while results.len() < 20 && results.last().is_none_or(Result::is_ok) {
        results.push(scrape_with_deadline(d.addr, Duration::from_secs(10)));
    }
    let worst = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .max()
        .copied();
    let fds = fd_count(d.proc.pid());
    eprintln!(
        "flood: {opened:?} idle/half-open connections opened; 20 scrapes, worst {worst:?}; \
         daemon fds {fds_before} before, {fds} during"
    );
    for (i, r) in results.iter().enumerate() {
        let took = r
            .as_ref()
            .unwrap_or_else(|e| panic!("scrape {i} failed: {e}"));
        assert!(
            *took < Duration::from_secs(2),
            "scrape {i} took {took:?} during the flood"
        );
    }
    assert_eq!(
        opened,
        (1000, 1000),
        "the daemon stopped accepting connections"
    );
    // The default cap (256) plus the descriptors the daemon had before.
    assert!(fds <= fds_before + 256, "{fds} descriptors open");
    drop((idle, half_open));
}

struct WrkResult {
    requests_per_second: f64,
    requests: u64,
    errors: Vec<String>,
}

fn wrk(url: &str, secs: u32) -> WrkResult {
    let wrk = require_tool("wrk", "wrk");
    let o = Command::new(wrk)
        .args([
            "-t2",
            "-c256",
            &format!("-d{secs}s"),
            "--timeout",
            "5s",
            url,
        ])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "wrk failed: {out} {}",
        String::from_utf8_lossy(&o.stderr)
    );
    eprintln!("{out}");
    let requests_per_second = out
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("Requests/sec in wrk output");
    let requests = out
        .lines()
        .find_map(|l| l.trim().split_once(" requests in "))
        .and_then(|(n, _)| n.trim().parse().ok())
        .expect("request count in wrk output");
    let errors = out
        .lines()
        .filter(|l| l.contains("Socket errors") || l.contains("Non-2xx"))
        .map(str::to_string)
        .collect();
    WrkResult {
        requests_per_second,
        requests,
        errors,
    }
}

#[test]
fn wrk_256_connections_for_20s_no_errors_and_bounded_rss() {
    let _serial = serial();
    let app = sleeper();
    let d = Daemon::start(&["--pid", &app.pid().to_string(), "--interval", "1s"]);
    let url = format!("http://{}/metrics", d.addr);
    // Warm-up: the heap reaches its working size after a few generations of 256 connections
    // (measured on a 2-core machine, debug build: anonymous RSS 5.9 → 7.1 → 7.7 MiB over three
    // 4 s runs, then +0.1 MiB per further 20 s run: a plateau, not a leak).
    let mut warm_requests = 0;
    for _ in 0..3 {
        let warm = wrk(&url, 4);
        assert!(warm.errors.is_empty(), "{:?}", warm.errors);
        warm_requests += warm.requests;
    }
    let rss_before = vm_rss_bytes(d.proc.pid());
    let fds_before = fd_count(d.proc.pid());
    let run = wrk(&url, 20);
    let rss_after = vm_rss_bytes(d.proc.pid());
    // Connections are closed by wrk; give the server a moment to drop them.
    d.wait_until(Duration::from_secs(5), |d| {
        fd_count(d.proc.pid()) <= fds_before + 2
    });
    eprintln!(
        "wrk: {:.0} requests/s, {} requests, errors {:?}; RSS {} KiB -> {} KiB ({:+.1} %)",
        run.requests_per_second,
        run.requests,
        run.errors,
        rss_before / 1024,
        rss_after / 1024,
        (rss_after as f64 / rss_before as f64 - 1.0) * 100.0
    );
    assert!(run.errors.is_empty(), "{:?}", run.errors);
    assert!(run.requests > 10_000, "{} requests", run.requests);
    assert!(
        rss_after as f64 <= rss_before as f64 * 1.10,
        "RSS grew from {rss_before} to {rss_after}"
    );
    // Every request was counted as a scrape.
    d.wait_until(Duration::from_secs(5), |d| {
        d.metrics()
            .get("sidewatch_scrapes_total", &[])
            .unwrap_or(0.0)
            >= (warm_requests + run.requests) as f64
    });
}

fn set_last_pid(pid: i32) -> bool {
    std::fs::write("/proc/sys/kernel/ns_last_pid", pid.to_string()).is_ok()
}

/// Every counter sample (`*_total`, histogram counts) of `after` is at least its value in
/// `before`.
fn assert_counters_non_decreasing(before: &Metrics, after: &Metrics) {
    for (name, labels, v) in &before.samples {
        if !(name.ends_with("_total") || name.ends_with("_count") || name.ends_with("_bucket")) {
            continue;
        }
        let want: Vec<(&str, &str)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        if let Some(now) = after.get(name, &want) {
            assert!(now >= *v, "{name}{labels:?} decreased: {v} -> {now}");
        }
    }
}

#[test]
fn churn_restarts_and_pid_reuse_keep_counters_monotonic_and_memory_bounded() {
    let _serial = serial();
    let secs: u64 = std::env::var("SIDEWATCH_CHURN_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("app.pid");
    // Short-lived processes get their own comm, so a target can select them.
    let churn_bin = dir.path().join("swchurn");
    std::fs::copy("/bin/sleep", &churn_bin).unwrap();
    let cfg = dir.path().join("sidewatch.yml");
    std::fs::write(
        &cfg,
        format!(
            "interval: 100ms\ntargets:\n  - name: app\n    pid_file: {}\n  - name: shortlived\n    comm: swchurn\n",
            pid_file.display()
        ),
    )
    .unwrap();
    let d = Daemon::start(&["--config", cfg.to_str().unwrap()]);

    let start_app = || {
        let p = spawn(
            Command::new("sh")
                .args([
                    "-c",
                    "i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done; exec sleep 60",
                ])
                .stdin(Stdio::null()),
        );
        // Write-then-rename: a reader never sees a half-written pid file.
        let tmp = pid_file.with_extension("tmp");
        std::fs::write(&tmp, format!("{}\n", p.pid())).unwrap();
        std::fs::rename(&tmp, &pid_file).unwrap();
        p
    };

    let stop = Arc::new(AtomicBool::new(false));
    let spawned = Arc::new(AtomicU64::new(0));
    // Many short-lived processes: pids cycle, discovery sees identities come and go.
    let storm = {
        let stop = stop.clone();
        let spawned = spawned.clone();
        let churn_bin = churn_bin.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let mut c = Command::new(&churn_bin)
                    .arg("0.02")
                    .stdin(Stdio::null())
                    .spawn()
                    .unwrap();
                spawned.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
                if spawned.load(Ordering::Relaxed) % 4 == 0 {
                    let _ = c.wait();
                } else {
                    std::thread::spawn(move || c.wait());
                }
            }
        })
    };

    let mut app = start_app();
    d.wait_until(Duration::from_secs(5), |d| {
        d.metrics().get("sidewatch_target_up", &[("target", "app")]) == Some(1.0)
    });
    let t0 = Instant::now();
    let mut generations = 1u64;
    let mut reused = 0u64;
    let mut prev = d.metrics();
    let mut rss_warm = None;
    let mut scrapes = 0u64;
    while t0.elapsed() < Duration::from_secs(secs) {
        std::thread::sleep(Duration::from_millis(200));
        // Restart: kill, reap, start anew; every other time on the very same pid.
        let old = app.pid();
        app.signal(Signal::SIGKILL);
        app.wait_timeout(Duration::from_secs(5)).unwrap();
        if generations % 2 == 0 {
            set_last_pid(old - 1);
        }
        app = start_app();
        if app.pid() == old {
            reused += 1;
        }
        generations += 1;
        let now = d.metrics();
        assert_counters_non_decreasing(&prev, &now);
        prev = now;
        scrapes += 1;
        if rss_warm.is_none() && t0.elapsed() > Duration::from_secs(3) {
            rss_warm = Some(vm_rss_bytes(d.proc.pid()));
        }
    }
    stop.store(true, Ordering::Relaxed);
    storm.join().unwrap();
    // Let the last generation be seen.
    std::thread::sleep(Duration::from_millis(400));
    let end = d.metrics();
    assert_counters_non_decreasing(&prev, &end);
    let restarts = end
        .get("sidewatch_process_restarts_total", &[("target", "app")])
        .unwrap();
    let rss_end = vm_rss_bytes(d.proc.pid());
    let rss_warm = rss_warm.unwrap_or(rss_end);
    eprintln!(
        "churn: {secs} s, {generations} generations ({reused} on a reused pid), {} short-lived processes, restarts counted {restarts}, {scrapes} scrapes, RSS {} KiB -> {} KiB, fds {}",
        spawned.load(Ordering::Relaxed),
        rss_warm / 1024,
        rss_end / 1024,
        fd_count(d.proc.pid())
    );
    let replaced = (generations - 1) as f64;
    assert!(
        restarts <= replaced,
        "{restarts} restarts for {replaced} replacements"
    );
    assert!(
        restarts >= replaced * 0.8,
        "only {restarts} of {replaced} restarts counted"
    );
    assert!(
        reused * 4 >= generations / 2,
        "pid reuse was not forced often enough: {reused} of {generations}"
    );
    assert!(spawned.load(Ordering::Relaxed) > 100);
    assert!(
        rss_end <= rss_warm + 8 * 1024 * 1024,
        "daemon RSS grew from {rss_warm} to {rss_end}"
    );
    assert!(fd_count(d.proc.pid()) < 64);
    for l in d.drain_log() {
        assert!(!l.contains("panicked"), "{l}");
    }
}
