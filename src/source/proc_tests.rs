use super::*;

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The captured procfs tree (see `tests/fixtures/proc/MANIFEST.md`).
const FIXTURE_ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/proc");
/// `btime` of `tests/fixtures/proc/stat`.
const BTIME: u64 = 1_795_460_003;
/// Every process directory of the fixture tree.
const FIXTURE_PIDS: [i32; 9] = [2, 6291, 6293, 6295, 6297, 6298, 6300, 6301, 6305];
/// The directory of the capture run, found in exe links and cmdlines.
const CAPTURE_DIR: &str = "/var/tmp/sidewatch-capture.j33iM6";

fn fixture() -> ProcReader {
    ProcReader::new(FIXTURE_ROOT)
}

fn fixture_path(rel: &str) -> PathBuf {
    Path::new(FIXTURE_ROOT).join(rel)
}

fn kib(n: u64) -> Option<u64> {
    Some(n * 1024)
}

fn assert_close(actual: f64, expected: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= 1e-9,
        "{what}: expected {expected}, got {actual}"
    );
}

/// Everything the reader should produce for one fixture process, transcribed by hand from the
/// captured files (`stat`, `status`, `io`, `schedstat`, `limits`, `smaps_rollup`, `cmdline`,
/// `exe`, `fd/`).
struct Golden {
    stat: StatFigures,
    figures: ProcessFigures,
    /// Sources whose read fails (as "not found") in `figures(true, ..)`, in reading order.
    failed: Vec<Source>,
    cmdline: Vec<String>,
    /// `None`: the `exe` link is absent (kernel thread, zombie).
    exe: Option<String>,
    max_fds_soft: Option<u64>,
    open_fds: u64,
}

#[allow(clippy::too_many_arguments)]
fn stat(
    pid: i32,
    starttime_ticks: u64,
    ppid: i32,
    comm: &str,
    state: char,
    (cpu_user_ticks, cpu_system_ticks): (u64, u64),
    (minor_faults, major_faults): (u64, u64),
    threads: u64,
    virtual_memory_bytes: u64,
) -> StatFigures {
    StatFigures {
        identity: Identity {
            pid,
            starttime_ticks,
        },
        ppid,
        comm: comm.to_string(),
        state,
        cpu_user_ticks,
        cpu_system_ticks,
        minor_faults,
        major_faults,
        threads,
        virtual_memory_bytes,
    }
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

fn golden(pid: i32) -> Golden {
    match pid {
        // kthreadd: no Vm* lines in status, no smaps_rollup, no exe, empty cmdline, no fds.
        2 => Golden {
            stat: stat(2, 24, 0, "kthreadd", 'S', (0, 0), (0, 0), 1, 0),
            figures: ProcessFigures {
                resident_memory_bytes: None,
                swap_bytes: None,
                voluntary_context_switches: Some(59),
                involuntary_context_switches: Some(1),
                io_read_bytes: Some(0),
                io_write_bytes: Some(0),
                cpu_wait_nanoseconds: Some(9_419_193),
                open_fds: Some(0),
                proportional_memory_bytes: None,
            },
            failed: vec![Source::SmapsRollup],
            cmdline: vec![],
            exe: None,
            max_fds_soft: Some(1024),
            open_fds: 0,
        },
        // sleep with `ulimit -Sn 1024` and fds 0..=4.
        6291 => Golden {
            stat: stat(
                6291,
                45995,
                6276,
                "sleep",
                'S',
                (0, 0),
                (240, 0),
                1,
                2_560_000,
            ),
            figures: ProcessFigures {
                resident_memory_bytes: kib(1476),
                swap_bytes: kib(0),
                voluntary_context_switches: Some(1),
                involuntary_context_switches: Some(1),
                io_read_bytes: Some(0),
                io_write_bytes: Some(0),
                cpu_wait_nanoseconds: Some(1_722_401),
                open_fds: Some(5),
                proportional_memory_bytes: kib(252),
            },
            failed: vec![],
            cmdline: args(&["sleep", "1000"]),
            exe: Some("/usr/bin/sleep".into()),
            max_fds_soft: Some(1024),
            open_fds: 5,
        },
        // multi-threaded python that did real disk I/O.
        6293 => Golden {
            stat: stat(
                6293,
                45995,
                6276,
                "python3",
                'S',
                (1, 1),
                (7124, 1),
                5,
                339_451_904,
            ),
            figures: ProcessFigures {
                resident_memory_bytes: kib(32600),
                swap_bytes: kib(0),
                voluntary_context_switches: Some(16),
                involuntary_context_switches: Some(6),
                io_read_bytes: Some(4_325_376),
                io_write_bytes: Some(4_198_400),
                cpu_wait_nanoseconds: Some(5_605_038),
                open_fds: Some(9),
                proportional_memory_bytes: kib(29253),
            },
            failed: vec![],
            cmdline: vec![
                "/usr/bin/python3".into(),
                format!("{CAPTURE_DIR}/mt.py"),
                CAPTURE_DIR.into(),
                format!("{CAPTURE_DIR}/mt.ready"),
            ],
            exe: Some("/usr/bin/python3.11".into()),
            max_fds_soft: Some(20000),
            open_fds: 9,
        },
        // python parent of the zombie.
        6295 => Golden {
            stat: stat(
                6295,
                45996,
                6276,
                "python3",
                'S',
                (0, 0),
                (973, 0),
                1,
                13_910_016,
            ),
            figures: ProcessFigures {
                resident_memory_bytes: kib(8116),
                swap_bytes: kib(0),
                voluntary_context_switches: Some(1),
                involuntary_context_switches: Some(7),
                io_read_bytes: Some(0),
                io_write_bytes: Some(4096),
                cpu_wait_nanoseconds: Some(5_898_857),
                open_fds: Some(3),
                proportional_memory_bytes: kib(4825),
            },
            failed: vec![],
            cmdline: vec![
                "/usr/bin/python3".into(),
                format!("{CAPTURE_DIR}/zombie.py"),
                format!("{CAPTURE_DIR}/zombie.ready"),
            ],
            exe: Some("/usr/bin/python3.11".into()),
            max_fds_soft: Some(20000),
            open_fds: 3,
        },
        // comm `a b) (c`: stat must be split on the last `)`.
        6297 => Golden {
            stat: stat(
                6297,
                45996,
                6276,
                "a b) (c",
                'S',
                (0, 0),
                (113, 0),
                1,
                2_560_000,
            ),
            figures: ProcessFigures {
                resident_memory_bytes: kib(1376),
                swap_bytes: kib(0),
                voluntary_context_switches: Some(1),
                involuntary_context_switches: Some(0),
                io_read_bytes: Some(0),
                io_write_bytes: Some(0),
                cpu_wait_nanoseconds: Some(2_362_441),
                open_fds: Some(3),
                proportional_memory_bytes: kib(245),
            },
            failed: vec![],
            cmdline: vec![format!("{CAPTURE_DIR}/a b) (c"), "1000".into()],
            exe: Some(format!("{CAPTURE_DIR}/a b) (c")),
            max_fds_soft: Some(20000),
            open_fds: 3,
        },
        // dash parent of 6300 and 6301.
        6298 => Golden {
            stat: stat(6298, 45996, 6276, "sh", 'S', (0, 0), (131, 0), 1, 2_654_208),
            figures: ProcessFigures {
                resident_memory_bytes: kib(1688),
                swap_bytes: kib(0),
                voluntary_context_switches: Some(1),
                involuntary_context_switches: Some(0),
                io_read_bytes: Some(0),
                io_write_bytes: Some(0),
                cpu_wait_nanoseconds: Some(2_899_176),
                open_fds: Some(3),
                proportional_memory_bytes: kib(370),
            },
            failed: vec![],
            cmdline: args(&["sh", "-c", "sleep 1000 & sleep 1000 & wait"]),
            exe: Some("/usr/bin/dash".into()),
            max_fds_soft: Some(20000),
            open_fds: 3,
        },
        6300 => Golden {
            stat: stat(
                6300,
                45996,
                6298,
                "sleep",
                'S',
                (0, 0),
                (78, 0),
                1,
                2_560_000,
            ),
            figures: ProcessFigures {
                resident_memory_bytes: kib(1432),
                swap_bytes: kib(0),
                voluntary_context_switches: Some(1),
                involuntary_context_switches: Some(1),
                io_read_bytes: Some(0),
                io_write_bytes: Some(0),
                cpu_wait_nanoseconds: Some(1_399_065),
                open_fds: Some(3),
                proportional_memory_bytes: kib(230),
            },
            failed: vec![],
            cmdline: args(&["sleep", "1000"]),
            exe: Some("/usr/bin/sleep".into()),
            max_fds_soft: Some(20000),
            open_fds: 3,
        },
        6301 => Golden {
            stat: stat(
                6301,
                45996,
                6298,
                "sleep",
                'S',
                (0, 0),
                (80, 0),
                1,
                2_560_000,
            ),
            figures: ProcessFigures {
                resident_memory_bytes: kib(1540),
                swap_bytes: kib(0),
                voluntary_context_switches: Some(1),
                involuntary_context_switches: Some(0),
                io_read_bytes: Some(0),
                io_write_bytes: Some(0),
                cpu_wait_nanoseconds: Some(469_380),
                open_fds: Some(3),
                proportional_memory_bytes: kib(248),
            },
            failed: vec![],
            cmdline: args(&["sleep", "1000"]),
            exe: Some("/usr/bin/sleep".into()),
            max_fds_soft: Some(20000),
            open_fds: 3,
        },
        // zombie: no Vm* lines, no smaps_rollup, no exe, empty cmdline, no fds; io present.
        6305 => Golden {
            stat: stat(6305, 45997, 6295, "python3", 'Z', (0, 0), (61, 0), 1, 0),
            figures: ProcessFigures {
                resident_memory_bytes: None,
                swap_bytes: None,
                voluntary_context_switches: Some(1),
                involuntary_context_switches: Some(0),
                io_read_bytes: Some(0),
                io_write_bytes: Some(0),
                cpu_wait_nanoseconds: Some(463_957),
                open_fds: Some(0),
                proportional_memory_bytes: None,
            },
            failed: vec![Source::SmapsRollup],
            cmdline: vec![],
            exe: None,
            max_fds_soft: Some(20000),
            open_fds: 0,
        },
        other => panic!("no golden values for pid {other}"),
    }
}

/// The file a failed read of `source` names, relative to the process directory.
fn file_of(source: Source) -> &'static str {
    match source {
        Source::SmapsRollup => "smaps_rollup",
        Source::Exe => "exe",
        Source::Fd => "fd",
        other => other.as_str(),
    }
}

/// Checks every figure the reader produces for one fixture process against its golden values.
fn check_fixture_process(pid: i32) {
    let reader = fixture();
    let g = golden(pid);
    let h = reader.open(pid).expect("open fixture pid");

    let s = h.stat().expect("stat");
    assert_eq!(s.identity, g.stat.identity, "pid {pid}: identity");
    assert_eq!(s.ppid, g.stat.ppid, "pid {pid}: ppid");
    assert_eq!(s.comm, g.stat.comm, "pid {pid}: comm");
    assert_eq!(s.state, g.stat.state, "pid {pid}: state");
    assert_eq!(s.cpu_user_ticks, g.stat.cpu_user_ticks, "pid {pid}: utime");
    assert_eq!(
        s.cpu_system_ticks, g.stat.cpu_system_ticks,
        "pid {pid}: stime"
    );
    assert_eq!(s.minor_faults, g.stat.minor_faults, "pid {pid}: minflt");
    assert_eq!(s.major_faults, g.stat.major_faults, "pid {pid}: majflt");
    assert_eq!(s.threads, g.stat.threads, "pid {pid}: threads");
    assert_eq!(
        s.virtual_memory_bytes, g.stat.virtual_memory_bytes,
        "pid {pid}: vsize"
    );
    assert_eq!(s, g.stat, "pid {pid}: whole stat");

    let mut failures = Vec::new();
    let f = h.figures(true, &mut failures);
    let e = &g.figures;
    assert_eq!(
        f.resident_memory_bytes, e.resident_memory_bytes,
        "pid {pid}: rss"
    );
    assert_eq!(f.swap_bytes, e.swap_bytes, "pid {pid}: swap");
    assert_eq!(
        f.voluntary_context_switches, e.voluntary_context_switches,
        "pid {pid}: voluntary ctxt"
    );
    assert_eq!(
        f.involuntary_context_switches, e.involuntary_context_switches,
        "pid {pid}: involuntary ctxt"
    );
    assert_eq!(f.io_read_bytes, e.io_read_bytes, "pid {pid}: read_bytes");
    assert_eq!(f.io_write_bytes, e.io_write_bytes, "pid {pid}: write_bytes");
    assert_eq!(
        f.cpu_wait_nanoseconds, e.cpu_wait_nanoseconds,
        "pid {pid}: run_delay"
    );
    assert_eq!(f.open_fds, e.open_fds, "pid {pid}: open fds");
    assert_eq!(
        f.proportional_memory_bytes, e.proportional_memory_bytes,
        "pid {pid}: pss"
    );
    assert_eq!(&f, e, "pid {pid}: whole figures");
    let failed: Vec<Source> = failures.iter().map(|f| f.source).collect();
    assert_eq!(failed, g.failed, "pid {pid}: failed sources: {failures:?}");
    for fl in &failures {
        let want = fixture_path(&format!("{pid}/{}", file_of(fl.source)));
        assert!(
            matches!(&fl.error, ReadError::NotFound(p) if *p == want),
            "pid {pid}: {:?} should be NotFound({}), got {:?}",
            fl.source,
            want.display(),
            fl.error
        );
    }

    // Without smaps the rollup is neither read nor reported.
    let mut failures = Vec::new();
    let f = h.figures(false, &mut failures);
    assert!(failures.is_empty(), "pid {pid}: {failures:?}");
    assert_eq!(
        f,
        ProcessFigures {
            proportional_memory_bytes: None,
            ..g.figures.clone()
        },
        "pid {pid}: figures without smaps"
    );

    assert_eq!(
        h.cmdline().expect("cmdline"),
        g.cmdline,
        "pid {pid}: cmdline"
    );

    match (h.exe(), &g.exe) {
        (Ok(got), Some(want)) => assert_eq!(got, PathBuf::from(want), "pid {pid}: exe"),
        (Err(fl), None) => {
            assert_eq!(fl.source, Source::Exe, "pid {pid}: exe failure source");
            let want = fixture_path(&format!("{pid}/exe"));
            assert!(
                matches!(&fl.error, ReadError::NotFound(p) if *p == want),
                "pid {pid}: exe should be NotFound({}), got {:?}",
                want.display(),
                fl.error
            );
        }
        (got, want) => panic!("pid {pid}: exe: expected {want:?}, got {got:?}"),
    }

    assert_eq!(
        h.max_fds_soft().expect("limits"),
        g.max_fds_soft,
        "pid {pid}: soft fd limit"
    );
    assert_eq!(h.open_fds().expect("fd"), g.open_fds, "pid {pid}: open fds");

    let start = reader
        .start_time_seconds(s.identity)
        .expect("boot time known");
    assert_close(
        start,
        BTIME as f64 + g.stat.identity.starttime_ticks as f64 / 100.0,
        &format!("pid {pid}: start time"),
    );
}

#[test]
fn pid_file_text() {
    assert_eq!(parse_pid("1234\n"), Some(1234));
    assert_eq!(parse_pid("  42 extra"), Some(42));
    assert_eq!(parse_pid(""), None);
    assert_eq!(parse_pid("-5"), None);
    assert_eq!(parse_pid("0"), None);
    assert_eq!(parse_pid("abc"), None);
}

#[test]
fn fixture_kernel_thread_2() {
    check_fixture_process(2);
}

#[test]
fn fixture_sleeping_6291() {
    check_fixture_process(6291);
}

#[test]
fn fixture_multithreaded_6293() {
    check_fixture_process(6293);
}

#[test]
fn fixture_zombie_parent_6295() {
    check_fixture_process(6295);
}

#[test]
fn fixture_weird_comm_6297() {
    check_fixture_process(6297);
}

#[test]
fn fixture_tree_parent_6298() {
    check_fixture_process(6298);
}

#[test]
fn fixture_tree_child_6300() {
    check_fixture_process(6300);
}

#[test]
fn fixture_tree_child_6301() {
    check_fixture_process(6301);
}

#[test]
fn fixture_zombie_6305() {
    check_fixture_process(6305);
}

#[test]
fn fixture_start_times_hard_coded() {
    // btime + starttime / CLK_TCK, from the MANIFEST's derived column.
    let reader = fixture();
    let cases = [
        (2, 24, 1_795_460_003.24),
        (6291, 45995, 1_795_460_462.95),
        (6293, 45995, 1_795_460_462.95),
        (6295, 45996, 1_795_460_462.96),
        (6297, 45996, 1_795_460_462.96),
        (6298, 45996, 1_795_460_462.96),
        (6300, 45996, 1_795_460_462.96),
        (6301, 45996, 1_795_460_462.96),
        (6305, 45997, 1_795_460_462.97),
    ];
    for (pid, ticks, want) in cases {
        let id = reader
            .open(pid)
            .expect("open")
            .stat()
            .expect("stat")
            .identity;
        assert_eq!(
            id,
            Identity {
                pid,
                starttime_ticks: ticks
            }
        );
        let got = reader.start_time_seconds(id).expect("boot time known");
        // Epoch seconds near 1.8e9 have an f64 spacing of ~2.4e-7 s.
        assert!((got - want).abs() < 1e-6, "pid {pid}: {got} vs {want}");
    }
}

#[test]
fn fixture_pids_are_exact_and_sorted() {
    assert_eq!(fixture().pids().expect("pids"), FIXTURE_PIDS.to_vec());
}

#[test]
fn fixture_boot_time_and_clock() {
    let reader = fixture();
    assert_eq!(reader.root(), Path::new(FIXTURE_ROOT));
    assert_eq!(reader.boot_time_seconds(), Some(BTIME));
    // The fixture was captured with CLK_TCK = 100, as on this machine.
    assert_eq!(reader.ticks_per_second(), 100);
    assert_close(reader.ticks_to_seconds(250), 2.5, "250 ticks");
    assert_close(reader.ticks_to_seconds(0), 0.0, "0 ticks");
    let id = Identity {
        pid: 1,
        starttime_ticks: 0,
    };
    assert_close(
        reader.start_time_seconds(id).expect("boot time known"),
        BTIME as f64,
        "start at boot",
    );
}

#[test]
fn root_without_stat_has_no_boot_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reader = ProcReader::new(dir.path());
    assert_eq!(reader.boot_time_seconds(), None);
    let id = Identity {
        pid: 1,
        starttime_ticks: 100,
    };
    assert_eq!(reader.start_time_seconds(id), None);
    assert_eq!(reader.pids().expect("pids of empty dir"), Vec::<i32>::new());
}

#[test]
fn missing_root_is_not_found() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reader = ProcReader::new(dir.path().join("nope"));
    assert!(matches!(reader.pids(), Err(ReadError::NotFound(_))));
}

#[test]
fn btime_parsing() {
    let stat = std::fs::read_to_string(fixture_path("stat")).expect("fixture stat");
    assert_eq!(parse_btime(&stat), Some(BTIME));
    assert_eq!(parse_btime("cpu 1 2 3\nbtime 42\nprocesses 7\n"), Some(42));
    assert_eq!(parse_btime("btime 42"), Some(42));
    assert_eq!(parse_btime("btime  42  \n"), Some(42));
    assert_eq!(parse_btime(""), None);
    assert_eq!(parse_btime("cpu 1 2 3\nprocesses 7\n"), None);
    assert_eq!(parse_btime("btime abc\n"), None);
    assert_eq!(parse_btime("btime -1\n"), None);
    assert_eq!(parse_btime("xbtime 42\n"), None);
}

#[test]
fn open_of_absent_pid_is_not_found() {
    let reader = fixture();
    match reader.open(4_000_000) {
        Err(ReadError::NotFound(p)) => assert_eq!(p, fixture_path("4000000")),
        Err(e) => panic!("expected NotFound, got {e:?}"),
        Ok(_) => panic!("pid 4000000 is not in the fixture"),
    }
    // A pid that exists in /proc but not in the tree is absent too: reads are root-relative.
    assert!(
        reader
            .open(std::process::id() as i32)
            .is_err_and(|e| e.is_not_found())
    );
}

#[test]
fn pid_file_reading() {
    let dir = tempfile::tempdir().expect("tempdir");

    let good = dir.path().join("good.pid");
    std::fs::write(&good, "6293\n").expect("write");
    assert_eq!(read_pid_file(&good).expect("good pid file"), 6293);

    let mut f = tempfile::NamedTempFile::new_in(dir.path()).expect("tempfile");
    writeln!(f, "  77 trailing words").expect("write");
    assert_eq!(read_pid_file(f.path()).expect("pid with extra text"), 77);

    let empty = dir.path().join("empty.pid");
    std::fs::write(&empty, "").expect("write");
    match read_pid_file(&empty) {
        Err(ReadError::Other { path, .. }) => assert_eq!(path, empty),
        other => panic!("empty pid file: expected Other, got {other:?}"),
    }

    let garbage = dir.path().join("garbage.pid");
    std::fs::write(&garbage, "not-a-pid\n").expect("write");
    match read_pid_file(&garbage) {
        Err(ReadError::Other { path, reason }) => {
            assert_eq!(path, garbage);
            assert!(reason.contains("not-a-pid"), "{reason}");
        }
        other => panic!("garbage pid file: expected Other, got {other:?}"),
    }

    let zero = dir.path().join("zero.pid");
    std::fs::write(&zero, "0\n").expect("write");
    assert!(matches!(read_pid_file(&zero), Err(ReadError::Other { .. })));

    let missing = dir.path().join("missing.pid");
    match read_pid_file(&missing) {
        Err(ReadError::NotFound(p)) => assert_eq!(p, missing),
        other => panic!("missing pid file: expected NotFound, got {other:?}"),
    }
}

#[test]
fn source_names_are_unique() {
    let names: std::collections::BTreeSet<&str> = Source::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(names.len(), Source::ALL.len());
    assert_eq!(Source::SmapsRollup.as_str(), "smaps_rollup");
    assert_eq!(Source::PidFile.as_str(), "pid_file");
    assert_eq!(Source::SelfProcess.as_str(), "self");
}

// ---- live /proc -------------------------------------------------------------------------

/// Kills and reaps the child when dropped, so a failing assertion never leaks a process.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The `State:` letter of a live process, read directly.
fn live_state(pid: u32) -> Option<char> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    s[s.rfind(')')? + 1..].trim_start().chars().next()
}

/// VmRSS of a live process in bytes, read directly from its status file.
fn live_vmrss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .expect("VmRSS line");
    let kb: u64 = line
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .expect("VmRSS value");
    kb * 1024
}

fn live_fd_entries(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fd dir")
        .count() as u64
}

fn wait_for_state(pid: u32, want: char) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while live_state(pid) != Some(want) {
        assert!(
            Instant::now() < deadline,
            "pid {pid} never reached state {want}: {:?}",
            live_state(pid)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn live_self() {
    let reader = ProcReader::new("/proc");
    assert!(reader.boot_time_seconds().is_some());
    let me = std::process::id();
    let h = reader.open(me as i32).expect("open self");
    let s = h.stat().expect("stat");
    assert_eq!(s.identity.pid, me as i32);
    assert!(s.threads >= 1);
    assert!(matches!(s.state, 'R' | 'S' | 'D'), "state {}", s.state);
    let mut failures = Vec::new();
    let f = h.figures(true, &mut failures);
    assert!(failures.is_empty(), "{failures:?}");
    assert!(f.resident_memory_bytes.is_some_and(|b| b > 0));
    assert!(f.proportional_memory_bytes.is_some_and(|b| b > 0));
    assert!(f.open_fds.is_some_and(|n| n >= 1));
    assert!(h.exe().is_ok());
    assert!(!h.cmdline().expect("cmdline").is_empty());
    let started = reader.start_time_seconds(s.identity).expect("start");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    assert!(
        started <= now + 1.0 && started > now - 3600.0,
        "{started} vs {now}"
    );

    let me_fig = read_self(&reader).expect("read_self");
    assert_eq!(me_fig.start_time_seconds, Some(started));
    assert!(me_fig.virtual_memory_bytes > 0);
    // Against the kernel's own status and limits (resident memory moves with the other tests'
    // threads: within 8 MiB of a reading right after).
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    let rss_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix(" kB")?.trim().parse().ok())
        .expect("VmRSS");
    let rss = me_fig.resident_memory_bytes.expect("resident memory");
    assert!(
        rss.abs_diff(rss_kib * 1024) < 8 << 20,
        "{rss} vs VmRSS {rss_kib} kB"
    );
    let limits = std::fs::read("/proc/self/limits").expect("limits");
    assert_eq!(
        Some(me_fig.max_fds),
        parse_max_open_files_soft(&limits),
        "the soft limit of Max open files"
    );
}

#[test]
fn live_sleep_child() {
    let child = Command::new("sleep")
        .arg("30")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sleep");
    let guard = ChildGuard(child);
    let pid = guard.0.id();
    // Wait until it sleeps in nanosleep, after the loader has finished.
    wait_for_state(pid, 'S');

    let reader = ProcReader::new("/proc");
    let h = reader.open(pid as i32).expect("open child");
    let s = h.stat().expect("stat");
    assert_eq!(s.identity.pid, pid as i32);
    assert_eq!(s.ppid, std::process::id() as i32);
    assert_eq!(s.comm, "sleep");
    assert_eq!(s.state, 'S');
    assert_eq!(s.threads, 1);
    assert!(s.virtual_memory_bytes > 0);

    let mut failures = Vec::new();
    let f = h.figures(true, &mut failures);
    assert!(failures.is_empty(), "{failures:?}");
    let direct = live_vmrss_bytes(pid) as f64;
    let rss = f.resident_memory_bytes.expect("rss") as f64;
    assert!(
        (rss - direct).abs() <= direct * 0.05,
        "rss {rss} vs VmRSS {direct}"
    );
    assert_eq!(f.open_fds, Some(live_fd_entries(pid)));
    // Not a fixed 3: the child inherits whatever non-CLOEXEC fds the harness has (jobserver).
    assert_eq!(h.open_fds().expect("fds"), live_fd_entries(pid));
    assert_eq!(h.cmdline().expect("cmdline"), args(&["sleep", "30"]));
    let exe = h.exe().expect("exe");
    assert_eq!(exe.file_name().and_then(|n| n.to_str()), Some("sleep"));
    assert!(h.max_fds_soft().is_ok());
    drop(guard);
}

#[test]
fn live_zombie_has_no_open_fds() {
    // A child that exits and is not yet reaped is a zombie with an empty fd/ directory.
    let child = Command::new("true")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn true");
    let guard = ChildGuard(child);
    let pid = guard.0.id();
    wait_for_state(pid, 'Z');
    assert_eq!(live_fd_entries(pid), 0);

    let reader = ProcReader::new("/proc");
    let h = reader.open(pid as i32).expect("open zombie");
    assert_eq!(h.stat().expect("stat").state, 'Z');
    assert_eq!(h.open_fds().expect("fds"), 0);
    drop(guard);
}

// --- The hand-written parsers of the per-tick files, on odd and broken content.

#[test]
fn stat_parser_takes_the_comm_up_to_the_last_parenthesis() {
    let line = b"42 (a) b (c)) S 1 42 42 0 -1 4194560 7 8 9 10 11 12 13 14 20 0 3 0 99 1234 100 18446744073709551615\n";
    let s = parse_stat(line).expect("parses");
    assert_eq!(
        s.identity,
        Identity {
            pid: 42,
            starttime_ticks: 99
        }
    );
    assert_eq!(s.comm, "a) b (c)");
    assert_eq!(s.state, 'S');
    assert_eq!(s.ppid, 1);
    assert_eq!((s.minor_faults, s.major_faults), (7, 9));
    assert_eq!((s.cpu_user_ticks, s.cpu_system_ticks), (11, 12));
    assert_eq!(s.threads, 3);
    assert_eq!(s.virtual_memory_bytes, 1234);
}

#[test]
fn stat_parser_rejects_broken_lines() {
    for bad in [
        &b""[..],
        b"42 (sleep S 1",
        b"42 (sleep) S 1 42",
        b"x (sleep) S 1 42 42 0 -1 4194560 7 8 9 10 11 12 13 14 20 0 3 0 99 1234",
        b"42 (sleep) S 1 42 42 0 -1 4194560 7 8 nine 10 11 12 13 14 20 0 3 0 99 1234",
        b"42 (sleep) S 1 42 42 0 -1 4194560 7 8 9 10 11 12 13 14 20 0 3 0 99 99999999999999999999999",
    ] {
        assert_eq!(parse_stat(bad), None, "{:?}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn status_parser_reads_only_the_wanted_lines() {
    let text = b"Name:\tsleep\nVmRSS:\t    1234 kB\nVmSwap:\t       0 kB\nGroups:\t1 2 3\nvoluntary_ctxt_switches:\t5\nnonvoluntary_ctxt_switches:\t6\n";
    assert_eq!(
        parse_status(text),
        Some(StatusFigures {
            vm_rss_kib: Some(1234),
            vm_swap_kib: Some(0),
            voluntary_ctxt_switches: Some(5),
            nonvoluntary_ctxt_switches: Some(6),
        })
    );
    // A kernel thread: no memory lines, which stay absent.
    assert_eq!(
        parse_status(b"Name:\tkthreadd\nvoluntary_ctxt_switches:\t1\n"),
        Some(StatusFigures {
            voluntary_ctxt_switches: Some(1),
            ..Default::default()
        })
    );
    assert_eq!(parse_status(b"VmRSS:\tlots kB\n"), None);
}

#[test]
fn io_and_schedstat_parsers() {
    let io = b"rchar: 1\nwchar: 2\nsyscr: 3\nsyscw: 4\nread_bytes: 4096\nwrite_bytes: 8192\ncancelled_write_bytes: 0\n";
    assert_eq!(parse_io(io), Some((4096, 8192)));
    assert_eq!(parse_io(b"read_bytes: 4096\n"), None);
    assert_eq!(parse_io(b"read_bytes: -1\nwrite_bytes: 0\n"), None);
    assert_eq!(parse_schedstat_run_delay(b"1000 2000 3\n"), Some(2000));
    assert_eq!(parse_schedstat_run_delay(b"1000\n"), None);
}

#[test]
fn broken_and_long_files_of_a_tree() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("7");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::write(dir.join("stat"), "7 (x) S 1").expect("write");
    // Longer than the 4 KiB read buffer: read whole all the same.
    let long: Vec<String> = (0..2000).map(|i| format!("arg{i}")).collect();
    std::fs::write(dir.join("cmdline"), long.join("\0") + "\0").expect("write");
    let reader = ProcReader::new(root.path());
    let h = reader.open(7).expect("open");
    match h.stat() {
        Err(ReadFailure {
            source: Source::Stat,
            error: ReadError::Other { path, reason },
        }) => {
            assert_eq!(path, dir.join("stat"));
            assert_eq!(reason, "unexpected content");
        }
        other => panic!("expected malformed stat, got {other:?}"),
    }
    assert_eq!(h.cmdline().expect("cmdline"), long);
    // The buffer stays usable for short files after growing.
    assert!(h.stat().is_err());
    let mut failures = Vec::new();
    assert_eq!(h.figures(false, &mut failures), ProcessFigures::default());
    let sources: Vec<Source> = failures.iter().map(|f| f.source).collect();
    assert_eq!(
        sources,
        [Source::Status, Source::Schedstat, Source::Io, Source::Fd]
    );
}

#[test]
fn stat_by_pid_equals_stat_through_the_directory() {
    let reader = fixture();
    for pid in FIXTURE_PIDS {
        let direct = reader.stat(pid).expect("stat by pid");
        let via_dir = reader.open(pid).expect("open").stat().expect("stat");
        assert_eq!(direct, via_dir, "pid {pid}");
    }
    match reader.stat(4_000_000) {
        Err(ReadFailure {
            source: Source::Stat,
            error: ReadError::NotFound(p),
        }) => assert_eq!(p, fixture_path("4000000/stat")),
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[test]
fn online_cpus_of_the_fixture_and_odd_stat_text() {
    // Moved from the former source::cpus module, which parsed the same lines a second time.
    assert_eq!(ProcReader::new(FIXTURE_ROOT).online_cpus(), Some(2));
    assert_eq!(parse_online_cpus("cpu  1 2 3\nintr 5\n"), None);
    assert_eq!(
        parse_online_cpus("cpu  1\ncpu0 1\ncpu3 1\ncpufreq x\n"),
        Some(2)
    );
    assert_eq!(ProcReader::new("/nonexistent").online_cpus(), None);
}

#[test]
fn pid_file_names_are_built_in_place() {
    let mut buf = [0u8; 32];
    assert_eq!(pid_file(1, "stat", &mut buf), b"1/stat");
    assert_eq!(pid_file(4_194_304, "comm", &mut buf), b"4194304/comm");
    assert_eq!(
        pid_file(i32::MAX, "schedstat", &mut buf),
        b"2147483647/schedstat"
    );
}
