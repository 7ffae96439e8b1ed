//! The cgroup figures of a live process in real cgroups created by the test (as root, on a host
//! with cgroup v1 controllers, as CI runs): memory usage against the kernel's own file, the
//! memory limit and CPU quota exactly, an OOM kill counted once, CPU throttling rising. The
//! cgroups are removed even when the test fails (a Drop guard kills their processes first).
//! Not root, or no v1 memory/cpu controllers: the test fails loudly; it never skips.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::cgroups::*;
use common::*;

fn read_u64(path: &Path) -> u64 {
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn wait_for_pid_in(path: &Path, pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .any(|l| l.trim() == pid.to_string())
    {
        assert!(
            Instant::now() < deadline,
            "pid {pid} never joined {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

const HOLDER: &str = "import sys, time\nb = bytearray(16 << 20)\nfor i in range(0, len(b), 4096):\n    b[i] = 1\nprint('ready', flush=True)\ntime.sleep(1000)\n";

/// Fails loudly unless the test runs as root (it creates cgroups).
fn require_root() {
    assert!(
        // /proc/self belongs to the effective uid.
        std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap()) == 0,
        "this test creates cgroups and must run as root (CI does): run scripts/test as root or with sudo"
    );
}

/// The v1 hierarchy holding `controller` (root checked first: a failure names the cause).
fn find_v1<'a>(hs: &'a [Mounted], controller: &str) -> &'a Mounted {
    require_root();
    hs.iter()
        .find(|h| h.controllers.iter().any(|x| x == controller))
        .unwrap_or_else(|| {
            panic!(
                "no cgroup v1 {controller} controller mounted: this test needs a v1 or hybrid host"
            )
        })
}

#[test]
fn live_cgroup_v1_memory_and_cpu() {
    let python = require_tool("python3", "python3");
    let python = python.to_str().unwrap();
    let hs = hierarchies();
    let find = |c: &str| find_v1(&hs, c);
    let (memory, cpu, cpuacct) = (find("memory"), find("cpu"), find("cpuacct"));

    // Create one cgroup below our own in each hierarchy we want (cpu and cpuacct may be one).
    let name = format!("sidewatch-live-{}", std::process::id());
    let mut wanted: Vec<&Mounted> = vec![memory, cpu, cpuacct];
    wanted.extend(
        hs.iter()
            .find(|h| h.controllers.iter().any(|x| x == "pids")),
    );
    wanted.extend(hs.iter().filter(|h| h.controllers.is_empty())); // v2 (PSI) on a hybrid host
    let mut cg = create_cgroups(&wanted, &name);
    let dir_of = |h: &Mounted| dir_in(h, &name);
    let mem_dir = dir_of(memory);
    let cpu_dir = dir_of(cpu);
    let cpuacct_dir = dir_of(cpuacct);
    std::fs::write(mem_dir.join("memory.limit_in_bytes"), "67108864").unwrap();
    std::fs::write(cpu_dir.join("cpu.cfs_period_us"), "100000").unwrap();
    std::fs::write(cpu_dir.join("cpu.cfs_quota_us"), "20000").unwrap();
    let mem_path = format!("{}/{name}", memory.own.trim_end_matches('/'));

    // The application: 16 MiB touched, then idle.
    let mut holder = spawn(in_cgroups(&cg, "", &[python, "-c", HOLDER]).stdout(Stdio::piped()));
    {
        use std::io::BufRead;
        let mut line = String::new();
        std::io::BufReader::new(holder.child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready");
    }
    let pid = holder.pid();
    wait_for_pid_in(&mem_dir.join("cgroup.procs"), pid);

    let d = Daemon::start(&[
        "--pid",
        &pid.to_string(),
        "--name",
        "app",
        "--interval",
        "200ms",
    ]);
    let app = [("target", "app")];
    d.wait_until(Duration::from_secs(10), |d| {
        d.metrics().has("sidewatch_cgroup_memory_usage_bytes")
    });

    // Usage within 5 % of the kernel's file (read around the scrape); limits exact.
    let mut best = f64::MAX;
    for _ in 0..10 {
        let before = read_u64(&mem_dir.join("memory.usage_in_bytes")) as f64;
        let m = d.metrics();
        let after = read_u64(&mem_dir.join("memory.usage_in_bytes")) as f64;
        let got = m.get("sidewatch_cgroup_memory_usage_bytes", &app).unwrap();
        let kernel = (before + after) / 2.0;
        best = best.min((got - kernel).abs() / kernel);
        eprintln!("cgroup_live: usage sidewatch {got} kernel {before}..{after}");
        if best <= 0.05 {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        best <= 0.05,
        "memory usage differs from the kernel's by {:.1} %",
        best * 100.0
    );
    let m = d.metrics();
    assert_eq!(
        m.get("sidewatch_cgroup_memory_limit_bytes", &app),
        Some(read_u64(&mem_dir.join("memory.limit_in_bytes")) as f64)
    );
    assert_eq!(
        m.get("sidewatch_cgroup_memory_limit_bytes", &app),
        Some(67108864.0)
    );
    assert_eq!(m.get("sidewatch_cgroup_cpu_limit_cores", &app), Some(0.2));
    assert_eq!(
        m.get(
            "sidewatch_cgroup_info",
            &[("target", "app"), ("path", &mem_path), ("version", "v1")]
        ),
        Some(1.0)
    );
    let ws = m
        .get("sidewatch_cgroup_memory_working_set_bytes", &app)
        .unwrap();
    assert!(ws >= 16.0 * 1048576.0, "working set {ws}");
    let ratio = m
        .get("sidewatch_cgroup_memory_utilization_ratio", &app)
        .unwrap();
    assert!((ratio - ws / 67108864.0).abs() < 0.05, "{ratio}");
    let kernel_cpu = read_u64(&cpuacct_dir.join("cpuacct.usage")) as f64 / 1e9;
    eprintln!("cgroup_live: cpuacct.usage {kernel_cpu} s");

    // An allocator past the limit is OOM-killed (it volunteers, oom_score_adj 1000): one kill.
    let ooms_before = m
        .get("sidewatch_cgroup_memory_oom_kills_total", &app)
        .unwrap();
    let kernel_before: u64 = std::fs::read_to_string(mem_dir.join("memory.oom_control"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("oom_kill ")?.trim().parse().ok())
        .unwrap();
    let mut hog = spawn(&mut in_cgroups(
        &cg,
        "echo 1000 > /proc/self/oom_score_adj;",
        &[python, "-c", "x = b'a' * (256 << 20)"],
    ));
    let status = hog
        .wait_timeout(Duration::from_secs(20))
        .expect("the allocator did not end");
    use std::os::unix::process::ExitStatusExt as _;
    assert_eq!(
        status.signal(),
        Some(9),
        "the allocator was not OOM-killed: {status:?}"
    );
    d.wait_until(Duration::from_secs(5), |d| {
        d.metrics()
            .get("sidewatch_cgroup_memory_oom_kills_total", &app)
            == Some(ooms_before + 1.0)
    });
    let kernel_after: u64 = std::fs::read_to_string(mem_dir.join("memory.oom_control"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("oom_kill ")?.trim().parse().ok())
        .unwrap();
    assert_eq!(kernel_after, kernel_before + 1);
    assert!(
        d.metrics()
            .get("sidewatch_cgroup_memory_limit_hits_total", &app)
            .unwrap()
            > 0.0
    );
    // The holder survived: the target is still up.
    assert_eq!(d.metrics().get("sidewatch_target_up", &app), Some(1.0));
    eprintln!(
        "cgroup_live: oom kills {ooms_before} -> {} (kernel {kernel_before} -> {kernel_after})",
        ooms_before + 1.0
    );

    // A CPU-bound child under the 0.2-core quota: throttled periods rise.
    let m = d.metrics();
    let throttled0 = m
        .get("sidewatch_cgroup_cpu_throttled_periods_total", &app)
        .unwrap();
    let periods0 = m.get("sidewatch_cgroup_cpu_periods_total", &app).unwrap();
    let _burner = spawn(&mut in_cgroups(
        &cg,
        "",
        &[python, "-c", "while True: pass"],
    ));
    // Poll until throttling shows (a busy machine may need longer than a quiet one).
    let started = Instant::now();
    let mut ratios = Vec::new();
    let mut throttled1 = throttled0;
    while started.elapsed() < Duration::from_secs(10)
        && (throttled1 < throttled0 + 5.0 || started.elapsed() < Duration::from_millis(1200))
    {
        std::thread::sleep(Duration::from_millis(200));
        let m = d.metrics();
        throttled1 = m
            .get("sidewatch_cgroup_cpu_throttled_periods_total", &app)
            .unwrap();
        if let Some(r) = m.get("sidewatch_cgroup_cpu_utilization_ratio", &app) {
            ratios.push(r);
        }
    }
    let m = d.metrics();
    let periods1 = m.get("sidewatch_cgroup_cpu_periods_total", &app).unwrap();
    eprintln!(
        "cgroup_live: throttled periods {throttled0} -> {throttled1} (+{}), periods {periods0} -> {periods1}, utilization of the 0.2-core limit {ratios:?}",
        throttled1 - throttled0
    );
    assert!(
        throttled1 >= throttled0 + 5.0,
        "throttled periods did not rise: {throttled0} -> {throttled1}"
    );
    // Busy at the quota: about the whole limit used in a typical tick. The median, not the
    // maximum: CFS lets a fresh busy cgroup run past its quota until the first throttle, so the
    // first tick's rate can read well above 1.
    let mut sorted = ratios.clone();
    sorted.sort_by(f64::total_cmp);
    assert!(!sorted.is_empty(), "no cpu utilization ratio was reported");
    let median = sorted[sorted.len() / 2];
    assert!(
        (0.5..=1.5).contains(&median),
        "cpu utilization ratios {ratios:?}"
    );
    let throttled_s = m
        .get("sidewatch_cgroup_cpu_throttled_seconds_total", &app)
        .unwrap();
    assert!(throttled_s > 0.0);
    // CPU time within the kernel's accounting.
    let user = m
        .get(
            "sidewatch_cgroup_cpu_usage_seconds_total",
            &[("target", "app"), ("mode", "user")],
        )
        .unwrap();
    let kernel_cpu = read_u64(&cpuacct_dir.join("cpuacct.usage")) as f64 / 1e9;
    assert!(
        user > 0.1 && user <= kernel_cpu + 0.05,
        "user {user} s, cpuacct {kernel_cpu} s"
    );
    if hs.iter().any(|h| h.controllers.is_empty()) {
        // Hybrid: pressure comes from the v2 cgroup created beside the v1 ones.
        assert!(
            m.get(
                "sidewatch_cgroup_pressure_waiting_seconds_total",
                &[("target", "app"), ("resource", "cpu")]
            )
            .is_some()
        );
    }
    // The application moves to another memory cgroup (a restarted container): the counters go
    // on from where they were, the limit is the new cgroup's (none).
    let moved = dir_of(memory).with_file_name(format!("{name}-moved"));
    std::fs::create_dir(&moved).unwrap();
    cg.dirs.push(moved.clone());
    let before = d.metrics();
    let counter = |m: &Metrics, n: &str| m.get(n, &app).unwrap();
    std::fs::write(moved.join("cgroup.procs"), pid.to_string()).unwrap();
    let moved_path = format!("{mem_path}-moved");
    d.wait_until(Duration::from_secs(5), |d| {
        d.metrics()
            .get(
                "sidewatch_cgroup_info",
                &[("target", "app"), ("path", &moved_path)],
            )
            .is_some()
    });
    let after = d.metrics();
    for n in [
        "sidewatch_cgroup_memory_oom_kills_total",
        "sidewatch_cgroup_memory_limit_hits_total",
        "sidewatch_cgroup_cpu_throttled_periods_total",
    ] {
        assert!(
            counter(&after, n) >= counter(&before, n),
            "{n} went down across the move: {} -> {}",
            counter(&before, n),
            counter(&after, n)
        );
    }
    assert_eq!(
        counter(&after, "sidewatch_cgroup_memory_oom_kills_total"),
        ooms_before + 1.0
    );
    assert_eq!(after.get("sidewatch_cgroup_memory_limit_bytes", &app), None);
    let m = after;
    for s in ["cgroup", "cgroup_memory", "cgroup_cpu"] {
        assert_eq!(
            m.get("sidewatch_read_errors_total", &[("source", s)]),
            Some(0.0),
            "{s}"
        );
    }
    drop(holder);
}

/// Waits for the next published tick (sidewatch_ticks_total past `after`) and returns it.
fn next_tick(d: &Daemon, after: f64, timeout: Duration) -> (f64, Metrics) {
    let deadline = Instant::now() + timeout;
    loop {
        let m = d.metrics();
        let ticks = m.get("sidewatch_ticks_total", &[]).unwrap();
        if ticks > after {
            return (ticks, m);
        }
        assert!(
            Instant::now() < deadline,
            "no tick after {after} within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn oom_kills_in(mem_dir: &Path) -> u64 {
    std::fs::read_to_string(mem_dir.join("memory.oom_control"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("oom_kill ")?.trim().parse().ok())
        .unwrap()
}

/// Defect 5: the application is OOM-killed in cgroup A and restarted into a new cgroup B within
/// one tick (the pid file names the new process before sidewatch looks again). The kill, in A's
/// memory.oom_control, must reach the target's counter although the target is never seen down.
#[test]
fn live_oom_kill_then_restart_into_a_new_cgroup_within_one_tick() {
    let python = require_tool("python3", "python3");
    let python = python.to_str().unwrap();
    let hs = hierarchies();
    let memory = find_v1(&hs, "memory");
    let name = format!("sidewatch-restart-{}", std::process::id());
    let a = create_cgroups(&[memory], &format!("{name}-a"));
    let b = create_cgroups(&[memory], &format!("{name}-b"));
    let (dir_a, dir_b) = (
        dir_in(memory, &format!("{name}-a")),
        dir_in(memory, &format!("{name}-b")),
    );
    std::fs::write(dir_a.join("memory.limit_in_bytes"), "67108864").unwrap();

    // The first run of the application waits for a line on stdin, then allocates past A's
    // limit; the second run is already waiting in B.
    let mut first = spawn(
        in_cgroups(
            &a,
            "echo 1000 > /proc/self/oom_score_adj;",
            &[
                python,
                "-c",
                "import sys\nsys.stdin.readline()\nx = b'a' * (256 << 20)",
            ],
        )
        .stdin(Stdio::piped()),
    );
    let second = spawn(&mut in_cgroups(
        &b,
        "",
        &[python, "-c", "import time; time.sleep(1000)"],
    ));
    wait_for_pid_in(&dir_a.join("cgroup.procs"), first.pid());
    wait_for_pid_in(&dir_b.join("cgroup.procs"), second.pid());
    let tmp = tempfile::tempdir().unwrap();
    let pid_file = tmp.path().join("app.pid");
    std::fs::write(&pid_file, format!("{}\n", first.pid())).unwrap();

    // A long interval: the kill and the restart both happen between two ticks.
    let d = Daemon::start(&[
        "--pid-file",
        pid_file.to_str().unwrap(),
        "--name",
        "app",
        "--interval",
        "3s",
    ]);
    let app = [("target", "app")];
    let path_a = format!("{}/{name}-a", memory.own.trim_end_matches('/'));
    let path_b = format!("{}/{name}-b", memory.own.trim_end_matches('/'));
    let (ticks, m) = next_tick(&d, 0.0, Duration::from_secs(10));
    assert_eq!(
        m.get(
            "sidewatch_cgroup_info",
            &[("target", "app"), ("path", &path_a)]
        ),
        Some(1.0)
    );
    let before = m
        .get("sidewatch_cgroup_memory_oom_kills_total", &app)
        .unwrap();
    assert_eq!(before, 0.0);
    let kernel_before = oom_kills_in(&dir_a);

    // Right after that tick: the kill, then the restart.
    let (ticks, _) = next_tick(&d, ticks, Duration::from_secs(10));
    let in_tick = Instant::now();
    {
        use std::io::Write as _;
        writeln!(first.child.stdin.as_mut().unwrap()).unwrap();
    }
    let status = first
        .wait_timeout(Duration::from_secs(20))
        .expect("the first run did not end");
    use std::os::unix::process::ExitStatusExt as _;
    assert_eq!(status.signal(), Some(9), "not OOM-killed: {status:?}");
    std::fs::write(&pid_file, format!("{}\n", second.pid())).unwrap();
    let took = in_tick.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "kill and restart took {took:?}: not within one tick"
    );
    let kernel_after = oom_kills_in(&dir_a);
    assert_eq!(kernel_after, kernel_before + 1);

    let (_, m) = next_tick(&d, ticks, Duration::from_secs(10));
    assert_eq!(m.get("sidewatch_target_up", &app), Some(1.0));
    assert_eq!(
        m.get(
            "sidewatch_cgroup_info",
            &[("target", "app"), ("path", &path_b)]
        ),
        Some(1.0)
    );
    let after = m
        .get("sidewatch_cgroup_memory_oom_kills_total", &app)
        .unwrap();
    eprintln!(
        "cgroup_live: restart within one tick ({took:?}): oom kills {before} -> {after} (kernel, cgroup A: {kernel_before} -> {kernel_after}; cgroup B: {})",
        oom_kills_in(&dir_b)
    );
    assert_eq!(
        after,
        before + 1.0,
        "the OOM kill in the cgroup left behind was lost"
    );
    drop(second);
    drop((a, b));
}

/// A process that touches `mib` MiB, says "ready", then sleeps.
fn holding(mib: u32) -> String {
    HOLDER.replace("16 << 20", &format!("{mib} << 20"))
}

/// The newest history sample of `target` (the memory signal rules, trends and advice use).
fn newest_working_set(d: &Daemon, target: &str) -> Option<f64> {
    let r = d.get(&format!("/api/v1/samples?target={target}&limit=1"));
    assert_eq!(r.status, 200, "{}", r.text());
    let v: serde_json::Value = serde_json::from_str(&r.text()).unwrap();
    v["data"]["samples"][0]["memory_working_set_bytes"].as_f64()
}

fn wait_ready(p: &mut Proc) {
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(p.child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
}

/// Defect 9: the target shares a real cgroup (memory + cpuacct) with a 150 MiB hog. The cgroup
/// figures still describe the cgroup, but the target's memory signal is its own RSS, and
/// `sidewatch_cgroup_shared` says why; once the hog is gone the cgroup is the target's again.
#[test]
fn live_shared_cgroup_uses_the_targets_own_figures() {
    let python = require_tool("python3", "python3");
    let python = python.to_str().unwrap();
    let hs = hierarchies();
    let (memory, cpuacct) = (find_v1(&hs, "memory"), find_v1(&hs, "cpuacct"));
    let name = format!("sidewatch-shared-{}", std::process::id());
    let cg = create_cgroups(&[memory, cpuacct], &name);
    let mem_dir = dir_in(memory, &name);

    let mut app = spawn(in_cgroups(&cg, "", &[python, "-c", &holding(30)]).stdout(Stdio::piped()));
    wait_ready(&mut app);
    let mut hog = spawn(in_cgroups(&cg, "", &[python, "-c", &holding(150)]).stdout(Stdio::piped()));
    wait_ready(&mut hog);
    for p in [app.pid(), hog.pid()] {
        wait_for_pid_in(&mem_dir.join("cgroup.procs"), p);
        wait_for_pid_in(&dir_in(cpuacct, &name).join("cgroup.procs"), p);
    }

    let d = Daemon::start(&[
        "--pid",
        &app.pid().to_string(),
        "--name",
        "app",
        "--interval",
        "200ms",
    ]);
    let labels = [("target", "app")];
    d.wait_until(Duration::from_secs(10), |d| {
        d.metrics().has("sidewatch_cgroup_memory_working_set_bytes")
            && newest_working_set(d, "app").is_some()
    });
    // The target's memory signal against its own VmRSS, read around the request.
    let mut worst = 0.0_f64;
    for _ in 0..5 {
        let before = vm_rss_bytes(app.pid()) as f64;
        let signal = newest_working_set(&d, "app").unwrap();
        let after = vm_rss_bytes(app.pid()) as f64;
        let rss = (before + after) / 2.0;
        let cgroup_ws = d
            .metrics()
            .get("sidewatch_cgroup_memory_working_set_bytes", &labels)
            .unwrap();
        eprintln!(
            "cgroup_live: shared: memory signal {signal} B, target VmRSS {rss} B, cgroup working set {cgroup_ws} B"
        );
        // The cgroup figure is the cgroup's: the hog's 150 MiB is in it.
        assert!(
            cgroup_ws > 150.0 * 1048576.0,
            "cgroup working set {cgroup_ws}"
        );
        worst = worst.max((signal - rss).abs() / rss);
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(
        worst <= 0.05,
        "the target's memory signal differs from its own RSS by {:.1} %",
        worst * 100.0
    );
    let m = d.metrics();
    assert_eq!(m.get("sidewatch_cgroup_shared", &labels), Some(1.0));
    let page = d.get("/").text();
    assert!(
        page.contains("cgroup shared with other processes: figures are the processes' own"),
        "the status page does not say why"
    );
    // The note stands on its own line: not run into the limit line ("…own" "no limit" read as
    // "ownno limit").
    let card_text = page
        .split("data-note=\"cgroup-shared\"")
        .nth(1)
        .and_then(|rest| rest.split("</div>").next())
        .unwrap_or_default()
        .replace("<br>", "\n");
    let text: String = card_text
        .split('<')
        .map(|piece| piece.split_once('>').map_or(piece, |(_, t)| t))
        .collect();
    assert!(
        text.contains("figures are the processes' own\n"),
        "the shared note runs into the next line: {text:?}"
    );

    // The hog goes: the cgroup is the target's alone, its working set the signal again.
    drop(hog);
    d.wait_until(Duration::from_secs(10), |d| {
        d.metrics().get("sidewatch_cgroup_shared", &labels) == Some(0.0)
    });
    d.wait_until(Duration::from_secs(5), |d| {
        let ws = d
            .metrics()
            .get("sidewatch_cgroup_memory_working_set_bytes", &labels);
        let signal = newest_working_set(d, "app");
        ws.is_some() && signal == ws.map(|w| (w / 1024.0).floor() * 1024.0)
    });
    assert!(
        !d.get("/")
            .text()
            .contains("cgroup shared with other processes")
    );
    // One log line per change of state, not one per tick.
    std::thread::sleep(Duration::from_millis(600));
    let log = d.drain_log();
    let count = |s: &str| log.iter().filter(|l| l.contains(s)).count();
    assert_eq!(count("cgroup shared with other processes"), 1, "{log:#?}");
    assert_eq!(count("cgroup no longer shared"), 1, "{log:#?}");
    drop(app);
    drop(cg);
}

/// `CgroupReader::locate` across calls on one reader (as the sampler calls it every tick):
/// a process moved to another cgroup is located there at once, and back; and a cgroup
/// removed and made again at the same path while the process was away between two calls is a
/// new cgroup (its inode) when the process returns, though `/proc/<pid>/cgroup` reads as it
/// did at the last call.
#[test]
fn locate_follows_a_migration_and_a_recreated_cgroup() {
    use sidewatch::source::cgroup::CgroupReader;
    use std::os::unix::fs::MetadataExt as _;

    let hs = hierarchies();
    let memory = find_v1(&hs, "memory");
    let mut wanted: Vec<&Mounted> = vec![memory];
    wanted.extend(hs.iter().filter(|h| h.controllers.is_empty())); // v2 on a hybrid host
    let (a, b) = (
        format!("sidewatch-locate-a-{}", std::process::id()),
        format!("sidewatch-locate-b-{}", std::process::id()),
    );
    let cg_b = create_cgroups(&wanted, &b);
    let mut cg_a = create_cgroups(&wanted, &a);
    let sleeper = spawn(&mut in_cgroups(&cg_a, "", &["sleep", "60"]));
    let pid = sleeper.pid();
    wait_for_pid_in(&dir_in(memory, &a).join("cgroup.procs"), pid);
    let move_to = |cg: &TestCgroups| {
        for f in cg.procs_files() {
            std::fs::write(&f, pid.to_string()).unwrap();
        }
    };
    let ino = |name: &str| std::fs::metadata(dir_in(memory, name)).unwrap().ino();

    let mut reader = CgroupReader::new(Path::new("/sys/fs/cgroup"), Path::new("/proc"));
    let memory_dir = |reader: &mut CgroupReader| {
        let loc = reader.locate(pid).unwrap();
        let m = loc.memory.clone().unwrap();
        (loc.path, m.dir, m.inode)
    };
    let mem_path = |name: &str| format!("{}/{name}", memory.own.trim_end_matches('/'));

    let first = memory_dir(&mut reader);
    assert_eq!(first, (mem_path(&a), dir_in(memory, &a), ino(&a)));
    assert_eq!(memory_dir(&mut reader), first);

    move_to(&cg_b);
    assert_eq!(
        memory_dir(&mut reader),
        (mem_path(&b), dir_in(memory, &b), ino(&b))
    );

    move_to(&cg_a);
    assert_eq!(memory_dir(&mut reader), first);

    // Between two calls, the process goes to B, A is removed and made again, and the process
    // returns: `/proc/<pid>/cgroup` reads as at the last call, but A is a new cgroup.
    move_to(&cg_b);
    let old_ino = ino(&a);
    for d in cg_a.dirs.iter().rev() {
        std::fs::remove_dir(d).unwrap();
    }
    for d in &cg_a.dirs {
        std::fs::create_dir(d).unwrap();
    }
    move_to(&cg_a);
    let back = memory_dir(&mut reader);
    assert_eq!((&back.0, &back.1), (&mem_path(&a), &dir_in(memory, &a)));
    assert_eq!(back.2, ino(&a));
    assert_ne!(
        back.2, old_ino,
        "the kernel gave the new cgroup the old inode"
    );
    drop(sleeper);
    cg_a.dirs.retain(|d| d.exists());
    drop(cg_b);
}
