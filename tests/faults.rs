//! Faults: what production does to a sidecar. A target killed with SIGKILL, a target turned
//! zombie, `/proc` entries vanishing and changing while the daemon reads them, unreadable
//! files, a config that turns invalid on reload (by signal and by file change, including a
//! Kubernetes-style `..data` symlink swap). Each gets the documented behaviour and no panic.
//! (A port already in use: `tests/cli.rs`; a missing web config: `tests/security.rs`.)

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::Signal;

fn no_panic(d: &Daemon) {
    for l in d.drain_log() {
        assert!(!l.contains("panicked"), "{l}");
    }
}

/// Every counter sample (`*_total`) of `after` is at least its value in `before`.
fn assert_counters_non_decreasing(before: &Metrics, after: &Metrics) {
    for (name, labels, v) in &before.samples {
        if !name.ends_with("_total") {
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
fn target_killed_with_sigkill_keeps_its_counters_and_goes_down() {
    let mut app = spawn(Command::new("sh").args([
        "-c",
        "i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done; exec sleep 120",
    ]));
    let d = Daemon::start(&[
        "--pid",
        &app.pid().to_string(),
        "--name",
        "app",
        "--interval",
        "100ms",
    ]);
    let t = [("target", "app")];
    d.wait_until(Duration::from_secs(5), |d| {
        d.metrics().get("sidewatch_target_up", &t) == Some(1.0)
    });
    let before = d.metrics();
    let cpu = before
        .get(
            "sidewatch_process_cpu_seconds_total",
            &[("target", "app"), ("mode", "user")],
        )
        .unwrap();
    app.signal(Signal::SIGKILL);
    app.wait_timeout(Duration::from_secs(5)).unwrap();
    d.wait_until(Duration::from_secs(5), |d| {
        d.metrics().get("sidewatch_target_up", &t) == Some(0.0)
    });
    let after = d.metrics();
    assert_eq!(after.get("sidewatch_target_processes", &t), Some(0.0));
    // Gauges go absent; counters stay, never reset, and no longer move (the shell may still
    // have burned CPU between the first scrape and the kill, so compare with a later one).
    assert_eq!(
        after.get("sidewatch_process_resident_memory_bytes", &t),
        None
    );
    let user = |m: &Metrics| {
        m.get(
            "sidewatch_process_cpu_seconds_total",
            &[("target", "app"), ("mode", "user")],
        )
    };
    assert!(user(&after) >= Some(cpu), "{:?} < {cpu}", user(&after));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(user(&d.metrics()), user(&after));
    assert_eq!(after.get("sidewatch_process_restarts_total", &t), Some(0.0));
    assert_counters_non_decreasing(&before, &after);
    no_panic(&d);
}

#[test]
fn target_turned_zombie_is_not_live_and_its_final_figures_stay() {
    // The child exits at once; its parent (exec'd into sleep) never reaps it: a zombie.
    let mut parent = spawn(
        Command::new("sh")
            .args(["-c", "sleep 0.3 & echo $!; exec sleep 120"])
            .stdout(Stdio::piped()),
    );
    let mut line = String::new();
    BufReader::new(parent.child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let zombie: i32 = line.trim().parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yml");
    std::fs::write(
        &cfg,
        format!(
            "interval: 100ms\ntargets:\n  - {{name: z, pid: {zombie}}}\n  - {{name: family, pid: {}, children: true}}\n",
            parent.pid()
        ),
    )
    .unwrap();
    let d = Daemon::start(&["--config", cfg.to_str().unwrap()]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(format!("/proc/{zombie}/stat"))
        .unwrap()
        .contains(") Z ")
    {
        assert!(Instant::now() < deadline, "the child did not turn zombie");
        std::thread::sleep(Duration::from_millis(20));
    }
    d.wait_until(Duration::from_secs(5), |d| {
        let m = d.metrics();
        m.get("sidewatch_target_up", &[("target", "z")]) == Some(0.0)
            && m.get("sidewatch_target_processes", &[("target", "family")]) == Some(1.0)
    });
    let m = d.metrics();
    assert_eq!(
        m.get("sidewatch_target_processes", &[("target", "z")]),
        Some(0.0)
    );
    // The zombie's CPU counters (from its final stat) are still exported.
    assert!(
        m.get(
            "sidewatch_process_cpu_seconds_total",
            &[("target", "z"), ("mode", "user")]
        )
        .is_some()
    );
    assert_eq!(
        m.get(
            "sidewatch_process_resident_memory_bytes",
            &[("target", "z")]
        ),
        None
    );
    assert_eq!(
        m.get("sidewatch_target_up", &[("target", "family")]),
        Some(1.0)
    );
    no_panic(&d);
    drop(parent);
}

fn golden_config() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/fixture.yml")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn proc_entries_vanishing_and_changing_mid_read() {
    let (_dir, root) = fixture_copy();
    let pristine = fixture_proc();
    let mut d = Daemon::start(&[
        "--config",
        &golden_config(),
        "--procfs",
        root.to_str().unwrap(),
        "--interval",
        "100ms",
    ]);

    // A mutator removes, truncates, garbles and restores process entries as fast as it can
    // while the daemon reads them every 100 ms.
    let stop = Arc::new(AtomicBool::new(false));
    let mutator = {
        let stop = stop.clone();
        let root = root.clone();
        let pristine = pristine.clone();
        std::thread::spawn(move || {
            let pids = [
                "6291", "6293", "6295", "6297", "6298", "6300", "6301", "6305", "2",
            ];
            let files = [
                "stat",
                "status",
                "io",
                "schedstat",
                "limits",
                "smaps_rollup",
                "cmdline",
                "comm",
            ];
            let mut i: usize = 0;
            let mut rounds = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let pid = pids[i % pids.len()];
                let file = files[(i / 3) % files.len()];
                let p = root.join(pid).join(file);
                match i % 5 {
                    0 => {
                        let _ = std::fs::remove_dir_all(root.join(pid));
                    }
                    1 => {
                        let _ = std::fs::write(&p, "");
                    }
                    2 => {
                        let _ = std::fs::write(
                            &p,
                            "garbage ) ( \u{0} 1 2 3 -5 999999999999999999999999\n",
                        );
                    }
                    3 => {
                        // Half a file, as a read racing an exit can see.
                        if let Ok(t) = std::fs::read(pristine.join(pid).join(file)) {
                            let _ = std::fs::write(&p, &t[..t.len() / 2]);
                        }
                    }
                    _ => {
                        copy_tree(&pristine.join(pid), &root.join(pid));
                    }
                }
                i += 1;
                rounds += 1;
                if i % 7 == 0 {
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
            rounds
        })
    };
    let mut prev = d.metrics();
    let t0 = Instant::now();
    let mut scrapes = 0;
    while t0.elapsed() < Duration::from_secs(3) {
        let r = d.get("/metrics");
        assert_eq!(r.status, 200);
        let m = Metrics::parse(&r.text());
        assert_counters_non_decreasing(&prev, &m);
        prev = m;
        scrapes += 1;
        std::thread::sleep(Duration::from_millis(30));
    }
    stop.store(true, Ordering::Relaxed);
    let rounds = mutator.join().unwrap();
    assert!(rounds > 100, "mutator ran {rounds} rounds");
    assert!(scrapes > 20);
    // Restore everything: every target is found again and the errors were counted.
    copy_tree(&pristine, &root);
    d.wait_until(Duration::from_secs(5), |d| {
        let m = d.metrics();
        m.get("sidewatch_target_up", &[("target", "sleepers")]) == Some(1.0)
    });
    let m = d.metrics();
    let errors: f64 = ["stat", "status", "io", "schedstat"]
        .iter()
        .map(|s| {
            m.get("sidewatch_read_errors_total", &[("source", s)])
                .unwrap()
        })
        .sum();
    assert!(errors > 0.0, "no read error counted");
    assert!(d.proc.child.try_wait().unwrap().is_none(), "daemon alive");
    no_panic(&d);
}

#[test]
fn config_turning_invalid_on_file_change_keeps_the_old_one_and_says_so() {
    let a = spawn(Command::new("sleep").arg("120"));
    let b = spawn(Command::new("sleep").arg("120"));
    // A Kubernetes ConfigMap mount: config.yml -> ..data/config.yml, ..data -> ..v1.
    let dir = tempfile::tempdir().unwrap();
    let v1 = dir.path().join("..v1");
    std::fs::create_dir(&v1).unwrap();
    std::fs::write(
        v1.join("config.yml"),
        format!(
            "interval: 100ms\ntargets:\n  - {{name: a, pid: {}}}\n",
            a.pid()
        ),
    )
    .unwrap();
    std::os::unix::fs::symlink("..v1", dir.path().join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/config.yml", dir.path().join("config.yml")).unwrap();
    let cfg = dir.path().join("config.yml");
    let d = Daemon::start(&["--config", cfg.to_str().unwrap()]);
    let ta = [("target", "a")];
    let m = d.metrics();
    assert_eq!(m.get("sidewatch_target_up", &ta), Some(1.0));
    assert_eq!(
        m.get("sidewatch_config_last_reload_successful", &[]),
        Some(1.0)
    );
    let faults_before = m
        .get(
            "sidewatch_process_page_faults_total",
            &[("target", "a"), ("kind", "minor")],
        )
        .unwrap();

    // The ConfigMap changes to something invalid: swap ..data atomically, no signal.
    let swap = |name: &str, text: &str| {
        let v = dir.path().join(name);
        std::fs::create_dir(&v).unwrap();
        std::fs::write(v.join("config.yml"), text).unwrap();
        let tmp = dir.path().join("..data_tmp");
        std::os::unix::fs::symlink(name, &tmp).unwrap();
        std::fs::rename(&tmp, dir.path().join("..data")).unwrap();
    };
    swap(
        "..v2",
        "interval: 100ms\ntargets:\n  - {name: a, pid: nope}\n",
    );
    d.wait_until(Duration::from_secs(10), |d| {
        d.metrics()
            .get("sidewatch_config_last_reload_successful", &[])
            == Some(0.0)
    });
    let logged = d.wait_for_log(Duration::from_secs(10), |l| {
        l.contains("reload failed") && l.contains("targets[0].pid")
    });
    assert!(logged, "the reason was not logged");
    assert_eq!(
        d.metrics().get("sidewatch_target_up", &ta),
        Some(1.0),
        "old config kept"
    );

    // A valid new version adds b; a is unchanged and keeps its counters.
    swap(
        "..v3",
        &format!(
            "interval: 100ms\ntargets:\n  - {{name: a, pid: {}}}\n  - {{name: b, pid: {}}}\n",
            a.pid(),
            b.pid()
        ),
    );
    d.wait_until(Duration::from_secs(10), |d| {
        let m = d.metrics();
        m.get("sidewatch_target_up", &[("target", "b")]) == Some(1.0)
            && m.get("sidewatch_config_last_reload_successful", &[]) == Some(1.0)
    });
    let m = d.metrics();
    let faults_after = m
        .get(
            "sidewatch_process_page_faults_total",
            &[("target", "a"), ("kind", "minor")],
        )
        .unwrap();
    assert!(faults_after >= faults_before);
    let ts = m
        .get(
            "sidewatch_config_last_reload_success_timestamp_seconds",
            &[],
        )
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!((now - ts).abs() < 30.0, "{ts} vs {now}");

    // SIGHUP with an invalid file in place: same behaviour.
    std::fs::write(dir.path().join("..v3/config.yml"), "targets: [").unwrap();
    d.proc.signal(Signal::SIGHUP);
    d.wait_until(Duration::from_secs(10), |d| {
        d.metrics()
            .get("sidewatch_config_last_reload_successful", &[])
            == Some(0.0)
    });
    let m = d.metrics();
    assert_eq!(m.get("sidewatch_target_up", &[("target", "b")]), Some(1.0));
    no_panic(&d);
}
