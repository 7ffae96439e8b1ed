//! Counter accounting on a writable copy of the procfs fixture tree (real kernel text, changed
//! between ticks the way the kernel changes it): a process hidden for some ticks, a reaped
//! child's I/O, per-thread figures, a raised fd limit, a retitled worker, a main thread that
//! exited while others run. Each case reproduces a defect of issue 13 at the sampler level;
//! tests/trust.rs holds the same cases against live processes.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use regex_lite::Regex;
use sidewatch::sample::TargetSample;
use sidewatch::sampler::Sampler;
use sidewatch::source::proc::ProcReader;
use sidewatch::state::Shared;
use sidewatch::target::{Selector, TargetSpec};

const MIB: u64 = 1024 * 1024;

fn spec(selector: Selector, children: bool) -> TargetSpec {
    TargetSpec {
        name: "t".into(),
        selector,
        children,
        smaps: false,
        thread_totals: true,
        labels: vec![],
        cgroup_labels: false,
        app: None,
        probe: None,
        profiles: None,
    }
}

fn sampler(root: &Path, spec: TargetSpec) -> Sampler {
    Sampler::new(
        ProcReader::new(root),
        vec![spec],
        Shared::new(Duration::from_secs(1)),
    )
}

fn tick(s: &mut Sampler) -> TargetSample {
    s.tick().targets.into_iter().next().unwrap()
}

/// Rewrites field `n` (numbered as in proc(5): 3 is the state) of `<pid>/stat`.
fn set_stat_field(root: &Path, pid: i32, n: usize, value: &str) {
    let path = root.join(format!("{pid}/stat"));
    let text = std::fs::read_to_string(&path).unwrap();
    let close = text.rfind(')').unwrap();
    let mut fields: Vec<String> = text[close + 2..]
        .trim_end()
        .split(' ')
        .map(str::to_string)
        .collect();
    fields[n - 3] = value.to_string();
    std::fs::write(
        &path,
        format!("{} {}\n", &text[..close + 1], fields.join(" ")),
    )
    .unwrap();
}

/// Rewrites the value of `key:` lines in a `status` or `io` file.
fn set_line(path: &Path, key: &str, value: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    let out: Vec<String> = text
        .lines()
        .map(|l| match l.split_once(':') {
            Some((k, _)) if k == key => format!("{k}:\t{value}"),
            _ => l.to_string(),
        })
        .collect();
    std::fs::write(path, out.join("\n") + "\n").unwrap();
}

fn write(path: PathBuf, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn a_process_hidden_for_some_ticks_is_not_counted_again() {
    let (_guard, root) = common::fixture_copy();
    let pid_file = root.parent().unwrap().join("app.pid");
    write(pid_file.clone(), "6293\n");
    let mut s = sampler(&root, spec(Selector::PidFile(pid_file.clone()), false));
    let first = tick(&mut s).counters;
    assert_eq!(first.cpu_user_seconds_total, Some(0.01));
    assert_eq!(first.minor_page_faults_total, Some(7124));
    for round in 0..3 {
        // The pid file is caught mid-rewrite (empty) for two ticks, then restored.
        write(pid_file.clone(), "");
        assert!(!tick(&mut s).up);
        assert!(!tick(&mut s).up);
        write(pid_file.clone(), "6293\n");
        let t = tick(&mut s);
        assert!(t.up);
        assert_eq!(t.counters, first, "round {round}: counted again");
    }
    // Meanwhile it used 5 more ticks of CPU: they count, once.
    set_stat_field(&root, 6293, 14, "6");
    let t = tick(&mut s);
    assert_eq!(t.counters.cpu_user_seconds_total, Some(0.06));
    assert_eq!(t.counters.restarts_total, 0);

    // The process exits and its pid is reused by another process: that one is new, and a
    // restart (the pid file names it).
    set_stat_field(&root, 6293, 22, "99999");
    let t = tick(&mut s);
    assert_eq!(t.counters.cpu_user_seconds_total, Some(0.12));
    assert_eq!(t.counters.restarts_total, 1);
}

#[test]
fn a_reaped_childs_io_counts_once() {
    let (_guard, root) = common::fixture_copy();
    // sh 6298 with two sleeping children 6300 and 6301; 6300 wrote 60 MiB so far.
    set_line(
        &root.join("6300/io"),
        "write_bytes",
        &(60 * MIB).to_string(),
    );
    let mut s = sampler(&root, spec(Selector::Pid(6298), true));
    let t = tick(&mut s);
    assert_eq!(t.processes, 3);
    assert_eq!(t.counters.io_write_bytes_total, Some(60 * MIB));
    // The child wrote 4 MiB more and was reaped: the kernel added its 64 MiB to the parent's io.
    std::fs::remove_dir_all(root.join("6300")).unwrap();
    set_line(
        &root.join("6298/io"),
        "write_bytes",
        &(64 * MIB).to_string(),
    );
    let t = tick(&mut s);
    assert_eq!(t.processes, 2);
    assert_eq!(t.counters.io_write_bytes_total, Some(64 * MIB));
    let t = tick(&mut s);
    assert_eq!(t.counters.io_write_bytes_total, Some(64 * MIB));
}

/// Gives 6293 (5 threads) a `task/` directory: each thread's status and schedstat, the main
/// thread's being its own files. `(tid, voluntary, involuntary, run delay ns)`.
fn set_threads(root: &Path, threads: &[(i32, u64, u64, u64)]) {
    let task = root.join("6293/task");
    let _ = std::fs::remove_dir_all(&task);
    for &(tid, vol, invol, wait) in threads {
        let dir = task.join(tid.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(root.join("6293/status"), dir.join("status")).unwrap();
        set_line(&dir.join("status"), "Pid", &tid.to_string());
        set_line(
            &dir.join("status"),
            "voluntary_ctxt_switches",
            &vol.to_string(),
        );
        set_line(
            &dir.join("status"),
            "nonvoluntary_ctxt_switches",
            &invol.to_string(),
        );
        write(dir.join("schedstat"), &format!("29397296 {wait} 22\n"));
        common::copy_tree(&root.join("6293/fd"), &dir.join("fd"));
    }
}

#[test]
fn context_switches_and_cpu_wait_are_summed_over_threads() {
    let (_guard, root) = common::fixture_copy();
    set_threads(
        &root,
        &[
            (6293, 16, 6, 5_605_038),
            (6294, 1000, 2000, 1_000_000_000),
            (6296, 10, 20, 30),
            (6299, 1, 1, 1),
            (6302, 0, 0, 0),
        ],
    );
    let mut s = sampler(&root, spec(Selector::Pid(6293), false));
    let c = tick(&mut s).counters;
    assert_eq!(c.voluntary_context_switches_total, Some(16 + 1000 + 10 + 1));
    assert_eq!(
        c.involuntary_context_switches_total,
        Some(6 + 2000 + 20 + 1)
    );
    let wait = c.cpu_wait_seconds_total.unwrap();
    assert!((wait - 1.005_605_069).abs() < 1e-9, "{wait}");

    // Thread 6294 exits; 6296 switched 5 more times; a new thread 6310 started.
    set_threads(
        &root,
        &[
            (6293, 16, 6, 5_605_038),
            (6296, 15, 20, 30),
            (6299, 1, 1, 1),
            (6302, 0, 0, 0),
            (6310, 7, 0, 0),
        ],
    );
    let c = tick(&mut s).counters;
    assert_eq!(c.voluntary_context_switches_total, Some(1027 + 5 + 7));
    assert_eq!(c.involuntary_context_switches_total, Some(2027));

    // Main thread only when thread totals are off.
    let mut only_main = spec(Selector::Pid(6293), false);
    only_main.thread_totals = false;
    let mut s = sampler(&root, only_main);
    let c = tick(&mut s).counters;
    assert_eq!(c.voluntary_context_switches_total, Some(16));
}

#[test]
fn the_fd_soft_limit_is_read_every_tick() {
    let (_guard, root) = common::fixture_copy();
    // 6291: 5 open fds under a soft limit of 1024.
    let mut s = sampler(&root, spec(Selector::Pid(6291), false));
    assert_eq!(tick(&mut s).fd_utilization_ratio, Some(5.0 / 1024.0));
    // The runtime raised its soft limit (Go and the JVM do at start).
    let limits = root.join("6291/limits");
    let text = std::fs::read_to_string(&limits).unwrap().replace(
        "Max open files            1024                 20000",
        "Max open files            20000                20000",
    );
    std::fs::write(&limits, text).unwrap();
    assert_eq!(tick(&mut s).fd_utilization_ratio, Some(5.0 / 20000.0));
}

#[test]
fn a_worker_that_retitles_itself_is_matched_after_the_rename() {
    let (_guard, root) = common::fixture_copy();
    let re = Regex::new("worker process").unwrap();
    let selector = Selector::Match {
        comm: None,
        exe: None,
        cmdline: Some(re),
    };
    let mut s = sampler(&root, spec(selector, false));
    assert!(!tick(&mut s).up);
    // 6300 (forked by the sh 6298) overwrites its argv, as nginx workers do after fork.
    write(root.join("6300/cmdline"), "nginx: worker process\0");
    let t = tick(&mut s);
    assert_eq!(t.pids, vec![6300]);
    // And back: it no longer matches.
    write(root.join("6300/cmdline"), "sleep\x001000\0");
    assert!(!tick(&mut s).up);
}

#[test]
fn a_process_whose_main_thread_exited_is_up() {
    let (_guard, root) = common::fixture_copy();
    set_threads(
        &root,
        &[(6293, 16, 6, 5_605_038), (6294, 3, 4, 5), (6296, 1, 1, 1)],
    );
    // The main thread called pthread_exit: the process shows as a zombie whose `threads`
    // still counts it, its status has no memory lines and its fd/ is empty.
    set_stat_field(&root, 6293, 3, "Z");
    set_stat_field(&root, 6293, 20, "3");
    let status = std::fs::read_to_string(root.join("6293/status")).unwrap();
    let zombie: String = status
        .lines()
        .filter(|l| !l.starts_with("Vm") && !l.starts_with("Rss"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(root.join("6293/task/6293/status"), &zombie).unwrap();
    std::fs::write(root.join("6293/status"), &zombie).unwrap();
    std::fs::remove_dir_all(root.join("6293/fd")).unwrap();
    std::fs::create_dir(root.join("6293/fd")).unwrap();
    let mut s = sampler(&root, spec(Selector::Pid(6293), false));
    let t = tick(&mut s);
    assert!(t.up, "a running process is up");
    assert_eq!(t.processes, 1);
    assert_eq!(t.threads, Some(3));
    assert_eq!(t.primary_pid, Some(6293));
    // Memory and fds from a live thread.
    assert_eq!(t.resident_memory_bytes, Some(32600 * 1024));
    assert_eq!(t.open_fds, Some(9));
    assert_eq!(t.counters.voluntary_context_switches_total, Some(20));
}
