//! Live tests: the daemon against real child processes and real HTTP.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::Signal;

fn sleeper(secs: u32) -> Proc {
    spawn(
        Command::new("sleep")
            .arg(secs.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null()),
    )
}

#[test]
fn figures_of_a_live_process_match_the_kernel() {
    // A child holding ~24 MiB resident and 3 extra threads.
    let mut child = spawn(
        Command::new("python3")
            .args([
                "-c",
                "import threading,time,sys\nb=bytearray(24*1024*1024)\nfor i in range(0,len(b),4096): b[i]=1\nev=threading.Event()\nts=[threading.Thread(target=ev.wait) for _ in range(3)]\n[t.start() for t in ts]\nprint('ready',flush=True)\ntime.sleep(60)\n",
            ])
            .stdout(Stdio::piped()),
    );
    let mut buf = [0u8; 6];
    child
        .child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut buf)
        .unwrap();
    assert_eq!(&buf, b"ready\n");
    let pid = child.pid();
    let d = Daemon::start(&[
        "--pid",
        &pid.to_string(),
        "--name",
        "py",
        "--interval",
        "200ms",
    ]);
    let m = d.metrics();
    let t = [("target", "py")];
    assert_eq!(m.get("sidewatch_target_up", &t), Some(1.0));
    assert_eq!(m.get("sidewatch_target_processes", &t), Some(1.0));
    let rss = m
        .get("sidewatch_process_resident_memory_bytes", &t)
        .unwrap();
    let kernel = vm_rss_bytes(pid) as f64;
    assert!(
        (rss - kernel).abs() <= 0.05 * kernel,
        "rss {rss} vs VmRSS {kernel}"
    );
    assert!(rss > 24.0 * 1024.0 * 1024.0, "{rss}");
    assert_eq!(m.get("sidewatch_process_threads", &t), Some(4.0));
    assert_eq!(
        m.get("sidewatch_process_open_fds", &t),
        Some(fd_count(pid) as f64)
    );
    let info = m
        .samples
        .iter()
        .find(|(n, _, _)| n == "sidewatch_target_info")
        .expect("info");
    assert_eq!(info.1["pid"], pid.to_string());
    assert!(info.1["comm"].starts_with("python3"), "{:?}", info.1);
    assert!(
        m.get(
            "sidewatch_process_cpu_seconds_total",
            &[("target", "py"), ("mode", "user")]
        )
        .unwrap()
            > 0.0
    );
    // The exporter's own figures.
    assert!(m.get("process_resident_memory_bytes", &[]).unwrap() > 0.0);
    assert!(m.get("sidewatch_ticks_total", &[]).unwrap() >= 1.0);
    // The host's CPUs, against the kernel's other list of them (ranges such as `0-3,6`).
    let online = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap();
    let cpus: u32 = online
        .trim()
        .split(',')
        .map(|r| match r.split_once('-') {
            Some((a, b)) => b.parse::<u32>().unwrap() - a.parse::<u32>().unwrap() + 1,
            None => 1,
        })
        .sum();
    assert_eq!(m.get("sidewatch_host_cpus", &[]), Some(f64::from(cpus)));
}

#[test]
fn counters_survive_a_restart_under_the_same_pid_file() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("app.pid");
    // Each generation burns some CPU, then sleeps, so its counters are non-zero.
    let start_app = || {
        let p = spawn(Command::new("sh").args([
            "-c",
            "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exec sleep 60",
        ]));
        std::fs::write(&pid_file, format!("{}\n", p.pid())).unwrap();
        p
    };
    let mut first = start_app();
    let d = Daemon::start(&[
        "--pid-file",
        pid_file.to_str().unwrap(),
        "--name",
        "app",
        "--interval",
        "100ms",
    ]);
    let t = [("target", "app")];
    d.wait_until(Duration::from_secs(10), |d| {
        d.metrics().get("sidewatch_target_up", &t) == Some(1.0)
    });
    let counter_names = [
        (
            "sidewatch_process_cpu_seconds_total",
            vec![("mode", "user")],
        ),
        (
            "sidewatch_process_cpu_seconds_total",
            vec![("mode", "system")],
        ),
        (
            "sidewatch_process_context_switches_total",
            vec![("kind", "voluntary")],
        ),
        (
            "sidewatch_process_context_switches_total",
            vec![("kind", "involuntary")],
        ),
        (
            "sidewatch_process_page_faults_total",
            vec![("kind", "minor")],
        ),
        (
            "sidewatch_process_page_faults_total",
            vec![("kind", "major")],
        ),
        ("sidewatch_process_io_read_bytes_total", vec![]),
        ("sidewatch_process_io_write_bytes_total", vec![]),
        ("sidewatch_process_cpu_wait_seconds_total", vec![]),
        ("sidewatch_process_restarts_total", vec![]),
    ];
    let read = |m: &Metrics| -> Vec<f64> {
        counter_names
            .iter()
            .map(|(n, l)| {
                let mut want = vec![("target", "app")];
                want.extend(l.iter().copied());
                m.get(n, &want)
                    .unwrap_or_else(|| panic!("{n} {l:?} missing"))
            })
            .collect()
    };
    let before = read(&d.metrics());
    assert_eq!(before[9], 0.0, "no restart yet");
    let old_pid = first.pid();

    // Restart: the old process dies, a new one writes the pid file.
    first.signal(Signal::SIGKILL);
    first
        .wait_timeout(Duration::from_secs(5))
        .expect("old app exited");
    let second = start_app();
    assert_ne!(second.pid(), old_pid);
    let mut samples = vec![before.clone()];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let m = d.metrics();
        let now = read(&m);
        samples.push(now.clone());
        if now[9] >= 1.0 && m.get("sidewatch_target_up", &t) == Some(1.0) {
            break;
        }
        assert!(Instant::now() < deadline, "restart not seen: {now:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // A few more ticks after the restart.
    std::thread::sleep(Duration::from_millis(300));
    samples.push(read(&d.metrics()));
    for w in samples.windows(2) {
        for (i, (a, b)) in w[0].iter().zip(&w[1]).enumerate() {
            assert!(b >= a, "{} decreased: {a} -> {b}", counter_names[i].0);
        }
    }
    let after = samples.last().unwrap();
    assert_eq!(after[9], 1.0, "exactly one restart counted");
    let user_sys_before = before[0] + before[1];
    let user_sys_after = after[0] + after[1];
    assert!(user_sys_after >= user_sys_before, "cpu went backwards");
    assert!(
        after[4] > before[4],
        "the new process's page faults were added"
    );
    let info = d.metrics();
    let info = info
        .samples
        .iter()
        .find(|(n, _, _)| n == "sidewatch_target_info")
        .cloned()
        .expect("info");
    assert_eq!(info.1["pid"], second.pid().to_string());
}

#[test]
fn http_negotiation_gzip_head_and_errors() {
    let s = sleeper(60);
    let d = Daemon::start(&[
        "--pid",
        &s.pid().to_string(),
        "--name",
        "app",
        "--interval",
        "200ms",
    ]);
    let plain = d.get("/metrics");
    assert_eq!(plain.status, 200);
    assert_eq!(
        plain.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert!(!plain.text().contains("# EOF"));

    let om = http(
        d.addr,
        "GET",
        "/metrics",
        &[(
            "Accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )],
    );
    assert_eq!(
        om.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    assert!(om.text().ends_with("# EOF\n"));

    let gz = http(d.addr, "GET", "/metrics", &[("Accept-Encoding", "gzip")]);
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    let mut unzipped = String::new();
    flate2::read::GzDecoder::new(&gz.body[..])
        .read_to_string(&mut unzipped)
        .unwrap();
    assert!(
        unzipped.contains("sidewatch_target_up{target=\"app\"} 1"),
        "{unzipped}"
    );
    assert!(gz.body.len() < unzipped.len() / 3);

    let head = http(d.addr, "HEAD", "/metrics", &[]);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());

    let post = http(d.addr, "POST", "/metrics", &[("Content-Length", "0")]);
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
    assert_eq!(d.get("/nope").status, 404);
    assert_eq!(d.get("/healthz").status, 200);
    assert_eq!(d.get("/readyz").status, 200);
    let landing = d.get("/");
    assert_eq!(landing.status, 200);
    assert!(landing.text().contains("href=\"/metrics\""));

    // Scrapes are counted (as of the tick after them).
    d.wait_until(Duration::from_secs(5), |d| {
        d.metrics()
            .get("sidewatch_scrapes_total", &[])
            .unwrap_or(0.0)
            >= 5.0
    });
}

#[test]
fn a_target_that_appears_later_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("late.pid");
    let d = Daemon::start(&[
        "--pid-file",
        pid_file.to_str().unwrap(),
        "--name",
        "late",
        "--interval",
        "100ms",
    ]);
    let t = [("target", "late")];
    assert_eq!(d.metrics().get("sidewatch_target_up", &t), Some(0.0));
    let s = sleeper(60);
    std::fs::write(&pid_file, s.pid().to_string()).unwrap();
    d.wait_until(Duration::from_secs(10), |d| {
        d.metrics().get("sidewatch_target_up", &t) == Some(1.0)
    });
    assert_eq!(
        d.metrics().get("sidewatch_process_restarts_total", &t),
        Some(0.0),
        "first appearance is not a restart"
    );
    // Garbage in the pid file: target down, counted as a pid_file read error, daemon alive.
    std::fs::write(&pid_file, "not-a-pid").unwrap();
    d.wait_until(Duration::from_secs(10), |d| {
        let m = d.metrics();
        m.get("sidewatch_target_up", &t) == Some(0.0)
            && m.get("sidewatch_read_errors_total", &[("source", "pid_file")])
                .unwrap_or(0.0)
                >= 1.0
    });
}

#[test]
fn sigterm_shuts_down_gracefully() {
    let s = sleeper(60);
    let mut d = Daemon::start(&["--pid", &s.pid().to_string()]);
    let t0 = Instant::now();
    d.proc.signal(Signal::SIGTERM);
    let status = d
        .proc
        .wait_timeout(Duration::from_secs(5))
        .expect("exited after SIGTERM");
    let took = t0.elapsed();
    assert_eq!(status.code(), Some(0));
    eprintln!("shutdown took {took:?}");
    // The watched process is untouched.
    assert!(std::path::Path::new(&format!("/proc/{}", s.pid())).exists());
}

#[test]
fn sighup_reloads_and_keeps_the_old_config_when_the_new_one_is_invalid() {
    let a = sleeper(60);
    let b = sleeper(60);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sidewatch.yml");
    std::fs::write(
        &cfg,
        format!(
            "interval: 100ms\ntargets:\n  - name: a\n    pid: {}\n",
            a.pid()
        ),
    )
    .unwrap();
    let d = Daemon::start(&["--config", cfg.to_str().unwrap()]);
    assert_eq!(
        d.metrics().get("sidewatch_target_up", &[("target", "a")]),
        Some(1.0)
    );
    let ctx_before = d
        .metrics()
        .get(
            "sidewatch_process_page_faults_total",
            &[("target", "a"), ("kind", "minor")],
        )
        .unwrap();

    std::fs::write(
        &cfg,
        format!(
            "interval: 100ms\ntargets:\n  - name: a\n    pid: {}\n  - name: b\n    pid: {}\n",
            a.pid(),
            b.pid()
        ),
    )
    .unwrap();
    d.proc.signal(Signal::SIGHUP);
    d.wait_until(Duration::from_secs(10), |d| {
        d.metrics().get("sidewatch_target_up", &[("target", "b")]) == Some(1.0)
    });
    // Target a was unchanged: its counters continued rather than restarting.
    let ctx_after = d
        .metrics()
        .get(
            "sidewatch_process_page_faults_total",
            &[("target", "a"), ("kind", "minor")],
        )
        .unwrap();
    assert!(ctx_after >= ctx_before);

    std::fs::write(&cfg, "targets:\n  - name: a\n    bogus: 1\n").unwrap();
    d.proc.signal(Signal::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut logged = false;
    while !logged && Instant::now() < deadline {
        logged = d
            .drain_log()
            .iter()
            .any(|l| l.contains("reload failed") && l.contains("bogus"));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(logged, "invalid reload was not logged with its reason");
    let m = d.metrics();
    assert_eq!(m.get("sidewatch_target_up", &[("target", "a")]), Some(1.0));
    assert_eq!(m.get("sidewatch_target_up", &[("target", "b")]), Some(1.0));
}

#[test]
fn wrap_mode_exits_with_the_commands_status() {
    let o = Command::new(BIN)
        .args([
            "run",
            "--web.listen-address",
            "127.0.0.1:0",
            "--",
            "sh",
            "-c",
            "exit 3",
        ])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = Command::new(BIN)
        .args([
            "run",
            "--web.listen-address",
            "127.0.0.1:0",
            "--",
            "sh",
            "-c",
            "kill -9 $$",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(137));
    let o = Command::new(BIN)
        .args([
            "run",
            "--web.listen-address",
            "127.0.0.1:0",
            "--",
            "/nonexistent/cmd",
        ])
        .output()
        .unwrap();
    // As shells do (tests/cli.rs covers 126 too).
    assert_eq!(o.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot start \"/nonexistent/cmd\""));
}

#[test]
fn wrap_mode_watches_the_command_and_forwards_signals() {
    // The command traps USR1 and TERM, so we can see both were forwarded.
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("usr1");
    let script = format!(
        "trap 'touch {}' USR1; trap 'exit 42' TERM; while :; do sleep 0.05; done",
        marker.display()
    );
    let mut d = Daemon::start_cmd(Command::new(BIN).args([
        "run",
        "--interval",
        "100ms",
        "--name",
        "wrapped",
        "--",
        "sh",
        "-c",
        &script,
    ]));
    let t = [("target", "wrapped")];
    let m = d.metrics();
    assert_eq!(m.get("sidewatch_target_up", &t), Some(1.0));
    // sh plus its sleep children: descendants are included.
    d.wait_until(Duration::from_secs(5), |d| {
        d.metrics()
            .get("sidewatch_target_processes", &t)
            .unwrap_or(0.0)
            >= 2.0
    });
    d.proc.signal(Signal::SIGUSR1);
    d.wait_until(Duration::from_secs(5), |_| marker.exists());
    d.proc.signal(Signal::SIGTERM);
    let status = d.proc.wait_timeout(Duration::from_secs(5)).expect("exited");
    assert_eq!(status.code(), Some(42));
}

/// One `Discovery` across ticks on the live /proc: a process that execs (same pid, new comm)
/// leaves the target of its old comm and joins the one of its new comm at the next tick, with
/// the same identity (pid and start time, as the kernel's `stat` gives them); a pid-selected
/// process whose comm no scanning target names is still found (discovery parses only the
/// `stat` of processes whose comm a target names).
#[test]
fn discovery_follows_an_exec_and_keeps_pid_targets_beside_comm_scans() {
    use sidewatch::source::proc::ProcReader;
    use sidewatch::target::{Discovery, Selector, TargetSpec};

    let dir = tempfile::tempdir().unwrap();
    let (before, after) = (
        dir.path().join("swexec-before"),
        dir.path().join("swexec-after"),
    );
    std::fs::copy("/bin/sh", &before).unwrap();
    std::fs::copy("/bin/sleep", &after).unwrap();
    // The shell waits for a line on its stdin (a builtin: no forked child shares its comm),
    // then execs the copy of sleep.
    let script = format!("read go; exec {} 30", after.display());
    let mut child = spawn(
        Command::new(&before)
            .args(["-c", &script])
            .stdin(Stdio::piped()),
    );
    let other = sleeper(30);
    let spec = TargetSpec::bare;
    let by_comm = |c: &str| Selector::Match {
        comm: Some(c.into()),
        exe: None,
        cmdline: None,
    };
    let specs = [
        spec("before", by_comm("swexec-before")),
        spec("after", by_comm("swexec-after")),
        spec("other", Selector::Pid(other.pid())),
    ];
    let reader = ProcReader::new("/proc");
    let mut discovery = Discovery::default();
    let kernel_start = |pid: i32| -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
        after_comm.split(' ').nth(19).unwrap().parse().unwrap()
    };
    let mut tick = || {
        let mut failures = Vec::new();
        let out = discovery.discover(&reader, &specs, &mut failures);
        assert!(failures.is_empty(), "{failures:?}");
        out.iter()
            .map(|m| m.iter().map(|m| m.stat.identity).collect::<Vec<_>>())
            .collect::<Vec<_>>()
    };

    let pid = child.pid();
    let comm = || std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    // Until its exec, the child has the test's comm.
    let deadline = Instant::now() + Duration::from_secs(5);
    while comm().trim() != "swexec-before" {
        assert!(Instant::now() < deadline, "the child did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    let started = kernel_start(pid);
    let first = tick();
    assert_eq!(first[0].len(), 1, "{first:?}");
    assert_eq!(
        (first[0][0].pid, first[0][0].starttime_ticks),
        (pid, started)
    );
    assert!(first[1].is_empty(), "{first:?}");
    assert_eq!(first[2].len(), 1, "{first:?}");
    assert_eq!(first[2][0].pid, other.pid());
    assert_eq!(first[2][0].starttime_ticks, kernel_start(other.pid()));

    {
        use std::io::Write as _;
        writeln!(child.child.stdin.as_mut().unwrap(), "go").unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap()
        .trim()
        != "swexec-after"
    {
        assert!(Instant::now() < deadline, "the child did not exec");
        std::thread::sleep(Duration::from_millis(10));
    }
    let second = tick();
    assert!(second[0].is_empty(), "{second:?}");
    assert_eq!(second[1].len(), 1, "{second:?}");
    // The same process: exec keeps the pid and the start time.
    assert_eq!(
        (second[1][0].pid, second[1][0].starttime_ticks),
        (pid, started)
    );
    assert_eq!(second[2].len(), 1, "{second:?}");
}
