//! Discovery and sampling over the captured procfs tree in `tests/fixtures/proc` (see its
//! MANIFEST.md): pids 6291 sleep, 6293 multi-threaded python, 6295 python parent of zombie 6305,
//! 2 kthreadd, 6297 comm `a b) (c`, 6298 sh with children 6300 and 6301 (both sleep).

mod common;

use std::time::Duration;

use regex_lite::Regex;
use sidewatch::sample::TargetSample;
use sidewatch::sampler::Sampler;
use sidewatch::source::proc::{ProcReader, ReadFailure, Source};
use sidewatch::state::Shared;
use sidewatch::target::{Discovery, Member, Selector, TargetSpec};

const FIXTURE_ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/proc");
const BTIME: f64 = 1_795_460_003.0;
const CAPTURE_DIR: &str = "/var/tmp/sidewatch-capture.j33iM6";

fn reader() -> ProcReader {
    ProcReader::new(FIXTURE_ROOT)
}

fn spec(name: &str, selector: Selector, children: bool) -> TargetSpec {
    TargetSpec {
        name: name.to_string(),
        selector,
        children,
        smaps: false,
        thread_totals: true,
        cgroup_labels: false,
        labels: vec![],
        app: None,
        probe: None,
        profiles: None,
    }
}

fn by_comm(comm: &str) -> Selector {
    Selector::Match {
        comm: Some(comm.to_string()),
        exe: None,
        cmdline: None,
    }
}

fn by_exe(exe: &str) -> Selector {
    Selector::Match {
        comm: None,
        exe: Some(exe.to_string()),
        cmdline: None,
    }
}

fn by_cmdline(re: &str) -> Selector {
    Selector::Match {
        comm: None,
        exe: None,
        cmdline: Some(Regex::new(re).expect("regex")),
    }
}

/// (pid, direct) of each member.
fn shape(members: &[Member]) -> Vec<(i32, bool)> {
    members
        .iter()
        .map(|m| (m.stat.identity.pid, m.direct))
        .collect()
}

fn describe(failures: &[ReadFailure]) -> Vec<String> {
    failures
        .iter()
        .map(|f| format!("{}: {}", f.source.as_str(), f.error))
        .collect()
}

/// Runs one discovery of a single target on a fresh `Discovery`; asserts no read failed.
fn discover_one(selector: Selector, children: bool) -> Vec<Member> {
    let reader = reader();
    let mut failures = Vec::new();
    let mut out =
        Discovery::default().discover(&reader, &[spec("t", selector, children)], &mut failures);
    assert!(failures.is_empty(), "{:?}", describe(&failures));
    assert_eq!(out.len(), 1);
    out.remove(0)
}

fn direct(pids: &[i32]) -> Vec<(i32, bool)> {
    pids.iter().map(|p| (*p, true)).collect()
}

fn assert_close(actual: Option<f64>, expected: f64, what: &str) {
    let a = actual.unwrap_or_else(|| panic!("{what}: absent, expected {expected}"));
    assert!(
        (a - expected).abs() <= 1e-9,
        "{what}: expected {expected}, got {a}"
    );
}

// ---- discovery ---------------------------------------------------------------------------

#[test]
fn pid_selector() {
    let m = discover_one(Selector::Pid(6291), false);
    assert_eq!(shape(&m), direct(&[6291]));
    let s = &m[0].stat;
    assert_eq!(s.identity.starttime_ticks, 45995);
    assert_eq!(s.comm, "sleep");
    assert_eq!(s.ppid, 6276);
    assert!(m[0].is_live());
    // The member carries exactly what the reader reads.
    let direct_stat = reader().open(6291).expect("open").stat().expect("stat");
    assert_eq!(*s, direct_stat);
}

#[test]
fn comm_sleep_selects_the_three_sleeps() {
    let m = discover_one(by_comm("sleep"), false);
    assert_eq!(shape(&m), direct(&[6291, 6300, 6301]));
    assert!(m.iter().all(|m| m.is_live() && m.stat.comm == "sleep"));
}

#[test]
fn comm_with_parentheses_and_spaces() {
    let m = discover_one(by_comm("a b) (c"), false);
    assert_eq!(shape(&m), direct(&[6297]));
    assert_eq!(m[0].stat.comm, "a b) (c");
    assert_eq!(m[0].stat.ppid, 6276);
    assert_eq!(m[0].stat.minor_faults, 113);
    // A prefix of the comm is not the comm.
    assert!(discover_one(by_comm("a b"), false).is_empty());
}

#[test]
fn comm_python3_includes_the_zombie_as_not_live() {
    let m = discover_one(by_comm("python3"), false);
    assert_eq!(shape(&m), direct(&[6293, 6295, 6305]));
    let live: Vec<bool> = m.iter().map(Member::is_live).collect();
    assert_eq!(live, vec![true, true, false]);
}

#[test]
fn exe_by_full_path_and_by_base_name() {
    assert_eq!(
        shape(&discover_one(by_exe("/usr/bin/sleep"), false)),
        direct(&[6291, 6300, 6301])
    );
    assert_eq!(
        shape(&discover_one(by_exe("sleep"), false)),
        direct(&[6291, 6300, 6301])
    );
    // The zombie and kthreadd have no exe link: they never match.
    assert_eq!(
        shape(&discover_one(by_exe("/usr/bin/python3.11"), false)),
        direct(&[6293, 6295])
    );
    assert_eq!(
        shape(&discover_one(by_exe("python3.11"), false)),
        direct(&[6293, 6295])
    );
    // The exe is python3.11; `python3` is only the comm.
    assert!(discover_one(by_exe("python3"), false).is_empty());
    assert!(discover_one(by_exe("/usr/bin/python3"), false).is_empty());
    assert_eq!(shape(&discover_one(by_exe("dash"), false)), direct(&[6298]));
    assert!(discover_one(by_exe("sh"), false).is_empty());
    // The weird-comm binary: a path with spaces and parentheses.
    assert_eq!(
        shape(&discover_one(
            by_exe(&format!("{CAPTURE_DIR}/a b) (c")),
            false
        )),
        direct(&[6297])
    );
    assert_eq!(
        shape(&discover_one(by_exe("a b) (c"), false)),
        direct(&[6297])
    );
    assert!(discover_one(by_exe("/usr/bin/a b) (c"), false).is_empty());
}

#[test]
fn cmdline_regex() {
    // Arguments are joined with single spaces.
    assert_eq!(
        shape(&discover_one(by_cmdline("^sleep 1000$"), false)),
        direct(&[6291, 6300, 6301])
    );
    assert_eq!(
        shape(&discover_one(by_cmdline(r"mt\.py"), false)),
        direct(&[6293])
    );
    // Only the parent: the zombie's cmdline is empty.
    assert_eq!(
        shape(&discover_one(by_cmdline(r"zombie\.py"), false)),
        direct(&[6295])
    );
    assert_eq!(
        shape(&discover_one(
            by_cmdline(r"^sh -c sleep 1000 & sleep 1000 & wait$"),
            false
        )),
        direct(&[6298])
    );
    assert_eq!(
        shape(&discover_one(by_cmdline(r"/a b\) \(c 1000$"), false)),
        direct(&[6297])
    );
    // Empty cmdlines (kthreadd, zombie) match an empty-anchored pattern.
    assert_eq!(
        shape(&discover_one(by_cmdline("^$"), false)),
        direct(&[2, 6305])
    );
    assert!(discover_one(by_cmdline("no-such-process"), false).is_empty());
}

#[test]
fn match_conditions_are_all_required() {
    let sel = Selector::Match {
        comm: Some("python3".into()),
        exe: Some("python3.11".into()),
        cmdline: Some(Regex::new(r"\.ready$").expect("regex")),
    };
    assert_eq!(shape(&discover_one(sel, false)), direct(&[6293, 6295]));
    let sel = Selector::Match {
        comm: Some("python3".into()),
        exe: None,
        cmdline: Some(Regex::new("zombie").expect("regex")),
    };
    assert_eq!(shape(&discover_one(sel, false)), direct(&[6295]));
    let sel = Selector::Match {
        comm: Some("sleep".into()),
        exe: Some("/usr/bin/dash".into()),
        cmdline: None,
    };
    assert!(discover_one(sel, false).is_empty());
}

#[test]
fn children_of_the_sh_parent() {
    let want = vec![(6298, true), (6300, false), (6301, false)];
    assert_eq!(shape(&discover_one(Selector::Pid(6298), true)), want);
    assert_eq!(shape(&discover_one(by_comm("sh"), true)), want);
    // Without `children` only the parent.
    assert_eq!(
        shape(&discover_one(Selector::Pid(6298), false)),
        direct(&[6298])
    );
    // A leaf has no descendants.
    assert_eq!(
        shape(&discover_one(Selector::Pid(6300), true)),
        direct(&[6300])
    );
    // The zombie is a descendant of its parent, not live.
    let m = discover_one(Selector::Pid(6295), true);
    assert_eq!(shape(&m), vec![(6295, true), (6305, false)]);
    assert!(m[0].is_live());
    assert!(!m[1].is_live());
}

#[test]
fn children_are_not_duplicated_when_also_selected() {
    // All three sleeps match directly; 6300 and 6301 are also children of nothing selected.
    let m = discover_one(by_comm("sleep"), true);
    assert_eq!(shape(&m), direct(&[6291, 6300, 6301]));
    // Parent and children all match the pattern: each appears once, all direct.
    let m = discover_one(by_cmdline("sleep 1000"), true);
    assert_eq!(shape(&m), direct(&[6291, 6298, 6300, 6301]));
}

#[test]
fn absent_pid_is_no_member_and_no_failure() {
    assert!(discover_one(Selector::Pid(4_000_000), false).is_empty());
    assert!(discover_one(Selector::Pid(4_000_000), true).is_empty());
}

#[test]
fn zombie_by_pid_is_a_member_but_not_live() {
    let m = discover_one(Selector::Pid(6305), false);
    assert_eq!(shape(&m), direct(&[6305]));
    assert_eq!(m[0].stat.state, 'Z');
    assert_eq!(m[0].stat.ppid, 6295);
    assert!(!m[0].is_live());
}

#[test]
fn pid_file_is_followed_every_tick() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.pid");
    let reader = reader();
    let specs = [spec("app", Selector::PidFile(path.clone()), false)];
    let mut discovery = Discovery::default();
    let tick = |discovery: &mut Discovery| {
        let mut failures = Vec::new();
        let out = discovery.discover(&reader, &specs, &mut failures);
        (shape(&out[0]), describe(&failures))
    };

    std::fs::write(&path, "6293\n").expect("write");
    assert_eq!(tick(&mut discovery), (direct(&[6293]), vec![]));

    std::fs::write(&path, "6291").expect("write");
    assert_eq!(tick(&mut discovery), (direct(&[6291]), vec![]));

    // Not started yet / stopped: no members, and not a read failure.
    std::fs::remove_file(&path).expect("remove");
    assert_eq!(tick(&mut discovery), (vec![], vec![]));

    // Back again.
    std::fs::write(&path, "6298\n").expect("write");
    assert_eq!(tick(&mut discovery), (direct(&[6298]), vec![]));
}

#[test]
fn pid_file_with_children() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sh.pid");
    std::fs::write(&path, "6298\n").expect("write");
    assert_eq!(
        shape(&discover_one(Selector::PidFile(path), true)),
        vec![(6298, true), (6300, false), (6301, false)]
    );
}

#[test]
fn garbage_pid_file_is_a_pid_file_failure() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.pid");
    std::fs::write(&path, "not a pid\n").expect("write");
    let mut failures = Vec::new();
    let out = Discovery::default().discover(
        &reader(),
        &[spec("bad", Selector::PidFile(path), false)],
        &mut failures,
    );
    assert!(out[0].is_empty());
    assert_eq!(failures.len(), 1, "{:?}", describe(&failures));
    assert_eq!(failures[0].source, Source::PidFile);
    assert!(!failures[0].error.is_not_found());
}

#[test]
fn several_targets_in_order_and_stable_across_ticks() {
    let reader = reader();
    let specs = vec![
        spec("sleeps", by_comm("sleep"), false),
        spec("one", Selector::Pid(6293), false),
        spec("py", by_exe("python3.11"), false),
        spec("tree", Selector::Pid(6298), true),
        spec("gone", Selector::Pid(4_000_000), false),
        spec("weird", by_cmdline(r"\(c"), false),
    ];
    let want = vec![
        direct(&[6291, 6300, 6301]),
        direct(&[6293]),
        direct(&[6293, 6295]),
        vec![(6298, true), (6300, false), (6301, false)],
        vec![],
        direct(&[6297]),
    ];
    let mut discovery = Discovery::default();
    // The second and third runs use the cached exe/cmdline details.
    for round in 0..3 {
        let mut failures = Vec::new();
        let out = discovery.discover(&reader, &specs, &mut failures);
        assert!(
            failures.is_empty(),
            "round {round}: {:?}",
            describe(&failures)
        );
        let got: Vec<Vec<(i32, bool)>> = out.iter().map(|m| shape(m)).collect();
        assert_eq!(got, want, "round {round}");
    }
}

// ---- sampler -------------------------------------------------------------------------------

fn sampler(specs: Vec<TargetSpec>) -> Sampler {
    Sampler::new(reader(), specs, Shared::new(Duration::from_secs(1)))
}

fn target<'a>(targets: &'a [TargetSample], name: &str) -> &'a TargetSample {
    targets
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no target {name}"))
}

/// The values of the three sleeps (6291, 6300, 6301), from their stat/status/io/schedstat/
/// limits/fd/smaps_rollup files.
fn check_sleeps(t: &TargetSample) {
    assert_eq!(t.name, "sleeps");
    assert_eq!(t.labels, vec![("app".to_string(), "sleep".to_string())]);
    assert!(t.up);
    assert_eq!(t.processes, 3);
    assert_eq!(t.pids, vec![6291, 6300, 6301]);
    // Oldest: 6291 (starttime 45995) before 6300/6301 (45996).
    assert_eq!(t.primary_pid, Some(6291));
    assert_eq!(t.primary_comm.as_deref(), Some("sleep"));
    assert_close(t.start_time_seconds, BTIME + 45995.0 / 100.0, "start time");
    assert_eq!(t.resident_memory_bytes, Some((1476 + 1432 + 1540) * 1024));
    assert_eq!(t.virtual_memory_bytes, Some(3 * 2_560_000));
    assert_eq!(t.swap_bytes, Some(0));
    assert_eq!(t.proportional_memory_bytes, Some((252 + 230 + 248) * 1024));
    assert_eq!(t.threads, Some(3));
    assert_eq!(t.open_fds, Some(5 + 3 + 3));
    // Worst: 6291 with 5 fds of a soft limit of 1024 (the others: 3 of 20000).
    assert_close(t.fd_utilization_ratio, 5.0 / 1024.0, "fd utilization");
    let c = &t.counters;
    assert_close(c.cpu_user_seconds_total, 0.0, "cpu user");
    assert_close(c.cpu_system_seconds_total, 0.0, "cpu system");
    assert_eq!(c.minor_page_faults_total, Some(240 + 78 + 80));
    assert_eq!(c.major_page_faults_total, Some(0));
    assert_eq!(c.voluntary_context_switches_total, Some(1 + 1 + 1));
    assert_eq!(c.involuntary_context_switches_total, Some(1 + 1));
    assert_eq!(c.io_read_bytes_total, Some(0));
    assert_eq!(c.io_write_bytes_total, Some(0));
    assert_close(
        c.cpu_wait_seconds_total,
        (1_722_401 + 1_399_065 + 469_380) as f64 / 1e9,
        "cpu wait",
    );
    assert_eq!(c.restarts_total, 0);
}

/// The python3 processes: 6293, 6295 live and the zombie 6305 (stat figures only).
fn check_python(t: &TargetSample) {
    assert!(t.up);
    assert_eq!(t.processes, 2);
    assert_eq!(t.pids, vec![6293, 6295]);
    assert_eq!(t.primary_pid, Some(6293));
    assert_eq!(t.primary_comm.as_deref(), Some("python3"));
    assert_close(t.start_time_seconds, BTIME + 459.95, "start time");
    assert_eq!(t.resident_memory_bytes, Some((32600 + 8116) * 1024));
    assert_eq!(t.virtual_memory_bytes, Some(339_451_904 + 13_910_016));
    assert_eq!(t.swap_bytes, Some(0));
    assert_eq!(t.proportional_memory_bytes, None, "smaps off");
    assert_eq!(t.threads, Some(5 + 1));
    assert_eq!(t.open_fds, Some(9 + 3));
    assert_close(t.fd_utilization_ratio, 9.0 / 20000.0, "fd utilization");
    let c = &t.counters;
    // utime/stime 1 tick each in 6293, 0 elsewhere (zombie included).
    assert_close(c.cpu_user_seconds_total, 0.01, "cpu user");
    assert_close(c.cpu_system_seconds_total, 0.01, "cpu system");
    // The zombie's final stat figures count: minflt 61.
    assert_eq!(c.minor_page_faults_total, Some(7124 + 973 + 61));
    assert_eq!(c.major_page_faults_total, Some(1));
    // status/schedstat are read for live processes only; io also for the zombie (all zeros).
    assert_eq!(c.voluntary_context_switches_total, Some(16 + 1));
    assert_eq!(c.involuntary_context_switches_total, Some(6 + 7));
    assert_eq!(c.io_read_bytes_total, Some(4_325_376));
    assert_eq!(c.io_write_bytes_total, Some(4_198_400 + 4096));
    assert_close(
        c.cpu_wait_seconds_total,
        (5_605_038 + 5_898_857) as f64 / 1e9,
        "cpu wait",
    );
    assert_eq!(c.restarts_total, 0);
}

#[test]
fn sampler_sums_and_counters_do_not_double_count() {
    let mut sleeps = spec("sleeps", by_comm("sleep"), false);
    sleeps.smaps = true;
    sleeps.labels = vec![("app".into(), "sleep".into())];
    let mut s = sampler(vec![sleeps, spec("python", by_comm("python3"), false)]);

    let first = s.tick();
    assert_eq!(first.ticks_total, 1);
    assert_eq!(first.targets.len(), 2);
    check_sleeps(target(&first.targets, "sleeps"));
    check_python(target(&first.targets, "python"));
    // Nothing failed: the zombie's missing smaps_rollup/exe are never read.
    for (source, n) in &first.read_errors {
        assert_eq!(*n, 0, "read errors from {source}");
    }

    // The tree did not change: identical gauges and counters, no restart.
    let second = s.tick();
    assert_eq!(second.ticks_total, 2);
    check_sleeps(target(&second.targets, "sleeps"));
    check_python(target(&second.targets, "python"));
    assert_eq!(second.targets, first.targets);
    for (source, n) in &second.read_errors {
        assert_eq!(*n, 0, "read errors from {source}");
    }
}

#[test]
fn sampler_zombie_only_target_is_down_but_keeps_its_stat_counters() {
    let mut s = sampler(vec![spec("zombie", Selector::Pid(6305), false)]);
    for _ in 0..2 {
        let snap = s.tick();
        let t = target(&snap.targets, "zombie");
        assert!(!t.up);
        assert_eq!(t.processes, 0);
        assert!(t.pids.is_empty());
        assert_eq!(t.primary_pid, None);
        assert_eq!(t.primary_comm, None);
        assert_eq!(t.start_time_seconds, None);
        assert_eq!(t.resident_memory_bytes, None);
        assert_eq!(t.virtual_memory_bytes, None);
        assert_eq!(t.threads, None);
        assert_eq!(t.open_fds, None);
        assert_eq!(t.fd_utilization_ratio, None);
        let c = &t.counters;
        assert_close(c.cpu_user_seconds_total, 0.0, "cpu user");
        assert_close(c.cpu_system_seconds_total, 0.0, "cpu system");
        assert_eq!(c.minor_page_faults_total, Some(61));
        assert_eq!(c.major_page_faults_total, Some(0));
        assert_eq!(c.voluntary_context_switches_total, None);
        // A zombie's io holds its final I/O (6305/io: all zeros); it is read.
        assert_eq!(c.io_read_bytes_total, Some(0));
        assert_eq!(c.cpu_wait_seconds_total, None);
        assert_eq!(c.restarts_total, 0);
    }
}

#[test]
fn sampler_tree_target_counts_children() {
    let mut s = sampler(vec![spec("tree", Selector::Pid(6298), true)]);
    for _ in 0..2 {
        let snap = s.tick();
        let t = target(&snap.targets, "tree");
        assert!(t.up);
        assert_eq!(t.processes, 3);
        assert_eq!(t.pids, vec![6298, 6300, 6301]);
        // Children are not directly selected, so the primary is the sh.
        assert_eq!(t.primary_pid, Some(6298));
        assert_eq!(t.primary_comm.as_deref(), Some("sh"));
        assert_close(t.start_time_seconds, BTIME + 459.96, "start time");
        assert_eq!(t.resident_memory_bytes, Some((1688 + 1432 + 1540) * 1024));
        assert_eq!(t.virtual_memory_bytes, Some(2_654_208 + 2 * 2_560_000));
        assert_eq!(t.threads, Some(3));
        assert_eq!(t.open_fds, Some(9));
        assert_close(t.fd_utilization_ratio, 3.0 / 20000.0, "fd utilization");
        let c = &t.counters;
        assert_eq!(c.minor_page_faults_total, Some(131 + 78 + 80));
        assert_eq!(c.voluntary_context_switches_total, Some(3));
        assert_eq!(c.involuntary_context_switches_total, Some(1));
        assert_close(
            c.cpu_wait_seconds_total,
            (2_899_176 + 1_399_065 + 469_380) as f64 / 1e9,
            "cpu wait",
        );
        assert_eq!(c.restarts_total, 0);
    }
}

#[test]
fn sampler_absent_target_is_down_with_no_counters() {
    let mut s = sampler(vec![spec("gone", Selector::Pid(4_000_000), false)]);
    let snap = s.tick();
    let t = target(&snap.targets, "gone");
    assert!(!t.up);
    assert_eq!(t.processes, 0);
    assert_eq!(t.counters.cpu_user_seconds_total, None);
    assert_eq!(t.counters.minor_page_faults_total, None);
    assert_eq!(t.counters.restarts_total, 0);
    for (source, n) in &snap.read_errors {
        assert_eq!(*n, 0, "read errors from {source}");
    }
}

/// Discovery by comm reads each process's `comm` first; a procfs copy without `comm` files (or a
/// process whose `comm` cannot be read) is decided by its `stat`, with the same members.
#[test]
fn comm_match_without_comm_files_reads_stat() {
    let (_guard, root) = common::fixture_copy();
    for e in std::fs::read_dir(&root).unwrap().flatten() {
        let _ = std::fs::remove_file(e.path().join("comm"));
    }
    let reader = ProcReader::new(&root);
    for (comm, want) in [("sleep", vec![6291, 6300, 6301]), ("a b) (c", vec![6297])] {
        let mut failures = Vec::new();
        let out = Discovery::default().discover(
            &reader,
            &[spec("t", by_comm(comm), false)],
            &mut failures,
        );
        assert!(failures.is_empty(), "{:?}", describe(&failures));
        assert_eq!(shape(&out[0]), direct(&want), "{comm}");
        let stats = |m: &[Member]| m.iter().map(|m| m.stat.clone()).collect::<Vec<_>>();
        assert_eq!(
            stats(&out[0]),
            stats(&discover_one(by_comm(comm), false)),
            "{comm}"
        );
    }
}
