//! Tests of the cgroup readers on the fixture trees of real kernel text
//! (tests/fixtures/cgroup/MANIFEST.md says what each file is and where it came from).

#![allow(clippy::unwrap_used)]

use super::*;

const APP: i32 = 1509;
const SIDECAR: i32 = 1562;
const UNLIMITED: i32 = 1560;
const SANDBOX: &str = "/process_api/5cb4a8be43bcc2d859b1ea09c2caea4c";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cgroup")
}

fn text(rel: &str) -> String {
    std::fs::read_to_string(fixtures().join(rel)).unwrap()
}

fn reader(fixture: &str, root: &str) -> CgroupReader {
    let f = fixtures().join(fixture);
    CgroupReader::new(&f.join(root), &f.join("proc"))
}

/// Locates and reads `pid`; panics on a failure.
fn read_ok(r: &mut CgroupReader, pid: i32) -> (Located, Figures) {
    let loc = r.locate(pid).unwrap();
    let mut failures = Vec::new();
    let f = r.read(&loc, &mut failures);
    let shown: Vec<String> = failures
        .iter()
        .map(|f| format!("{}: {}", f.source.as_str(), f.error))
        .collect();
    assert!(failures.is_empty(), "{shown:?}");
    (loc, f)
}

fn ends_with(p: &Option<Place>, tail: &str) -> bool {
    p.as_ref().is_some_and(|p| p.dir.ends_with(tail))
}

// ---------------------------------------------------------------------------------------------
// Small parsers

#[test]
fn single_values_and_limits() {
    assert_eq!(parse_u64("20992000\n"), Ok(20992000));
    assert_eq!(parse_u64("x\n"), Err(ParseError::new(1, "x")));
    assert_eq!(parse_limit("max\n"), Ok(None));
    assert_eq!(parse_limit("64\n"), Ok(Some(64)));
    assert!(parse_limit("-1\n").is_err());
}

#[test]
fn flat_keyed_rejects_unknown_shapes() {
    assert_eq!(
        parse_flat_keyed("a 1\n\nb 2\n"),
        Ok(vec![("a", 1), ("b", 2)])
    );
    assert_eq!(
        parse_flat_keyed("a 1\nb two\n"),
        Err(ParseError::new(2, "b two"))
    );
    assert_eq!(
        parse_flat_keyed("a 1 2\n"),
        Err(ParseError::new(1, "a 1 2"))
    );
}

#[test]
fn cpu_lists() {
    assert_eq!(parse_cpu_list("0-1\n"), Ok(2));
    assert_eq!(parse_cpu_list("0-3,8,10-11\n"), Ok(7));
    assert_eq!(parse_cpu_list("\n"), Ok(0));
    assert!(parse_cpu_list("3-1").is_err());
    assert!(parse_cpu_list("a").is_err());
    assert_eq!(
        crate::source::proc::parse_online_cpus(&text("hybrid/proc/stat")),
        Some(2)
    );
    assert_eq!(crate::source::proc::parse_online_cpus("intr 1 2\n"), None);
}

// ---------------------------------------------------------------------------------------------
// v1 parsers on captured files

const HY_MEM: &str =
    "hybrid/sys/fs/cgroup/memory/process_api/5cb4a8be43bcc2d859b1ea09c2caea4c/sidewatch-fixture";

#[test]
fn v1_memory_files() {
    let s = v1::parse_memory_stat(&text(&format!("{HY_MEM}/app/memory.stat"))).unwrap();
    assert_eq!(
        s,
        v1::MemoryStat {
            rss: Some(19644416),
            cache: Some(1048576),
            inactive_file: Some(0),
            swap: Some(0),
        }
    );
    // The sidecar has a little inactive file cache.
    let s = v1::parse_memory_stat(&text(&format!("{HY_MEM}/sidecar/memory.stat"))).unwrap();
    assert_eq!(s.inactive_file, Some(4096));
    // Local keys are the fallback when a kernel has no total_* keys.
    assert_eq!(
        v1::parse_memory_stat("cache 7\nrss 8\ninactive_file 2\n").unwrap(),
        v1::MemoryStat {
            rss: Some(8),
            cache: Some(7),
            inactive_file: Some(2),
            swap: None
        }
    );
    let lim =
        |f: &str| v1::parse_limit_in_bytes(&text(&format!("{HY_MEM}/{f}/memory.limit_in_bytes")));
    assert_eq!(lim("app"), Ok(Some(67108864)));
    assert_eq!(lim("sidecar"), Ok(Some(33554432)));
    assert_eq!(lim("unlimited"), Ok(None)); // 9223372036854771712
    // The sentinel with 64 KiB pages is unlimited too.
    assert_eq!(v1::parse_limit_in_bytes("9223372036854710272\n"), Ok(None));
    assert_eq!(
        v1::parse_oom_control(&text(&format!("{HY_MEM}/app/memory.oom_control"))),
        Ok(Some(1))
    );
    // Kernels before 4.13 have no oom_kill line: unknown, not 0.
    assert_eq!(
        v1::parse_oom_control("oom_kill_disable 0\nunder_oom 0\n"),
        Ok(None)
    );
}

#[test]
fn v1_cpu_files() {
    let d = "hybrid/sys/fs/cgroup";
    assert_eq!(
        v1::parse_cpuacct_stat(&text(&format!(
            "{d}/cpuacct/sidewatch-fixture/app/cpuacct.stat"
        ))),
        Ok((Some(33), Some(5)))
    );
    assert_eq!(
        v1::parse_cpu_stat(&text(&format!("{d}/cpu/sidewatch-fixture/app/cpu.stat"))),
        Ok(v1::CpuStat {
            periods: Some(23),
            throttled_periods: Some(20),
            throttled_ns: Some(1271753932),
        })
    );
    let q = |w: &str| {
        v1::parse_quota(
            &text(&format!("{d}/cpu/sidewatch-fixture/{w}/cpu.cfs_quota_us")),
            &text(&format!("{d}/cpu/sidewatch-fixture/{w}/cpu.cfs_period_us")),
        )
    };
    assert_eq!(q("app"), Ok(Some(0.2)));
    assert_eq!(q("sidecar"), Ok(Some(0.1)));
    assert_eq!(q("unlimited"), Ok(None)); // -1
    assert_eq!(v1::parse_quota("50000", "0"), Ok(None));
    assert!(v1::parse_quota("lots", "100000").is_err());
}

#[test]
fn v1_blkio_files() {
    let d = "hybrid/sys/fs/cgroup/blkio/sidewatch-fixture";
    assert_eq!(
        v1::parse_blkio(&text(&format!("{d}/app/blkio.throttle.io_service_bytes"))),
        Ok((8388608, 8400896))
    );
    assert_eq!(
        v1::parse_blkio(&text(&format!(
            "{d}/app/blkio.throttle.io_serviced_recursive"
        ))),
        Ok((16, 6))
    );
    assert_eq!(
        v1::parse_blkio(&text(&format!(
            "{d}/unlimited/blkio.throttle.io_service_bytes"
        ))),
        Ok((0, 0))
    );
    assert_eq!(
        v1::parse_blkio("8:0 Read 1\n8:16 Read 2\n8:16 Write 5\nTotal 8\n"),
        Ok((3, 5))
    );
    assert!(v1::parse_blkio("8:0 Read x\n").is_err());
    assert!(v1::parse_blkio("garbage\n").is_err());
}

// ---------------------------------------------------------------------------------------------
// v2 parsers

const V2_APP: &str = "v2/sys/fs/cgroup/system.slice/app.service";

#[test]
fn v2_files() {
    assert_eq!(
        v2::parse_memory_stat(&text(&format!("{V2_APP}/memory.stat"))),
        Ok(v2::MemoryStat {
            anon: Some(19644416),
            file: Some(1048576),
            inactive_file: Some(0),
        })
    );
    assert_eq!(
        v2::parse_memory_events(&text(&format!("{V2_APP}/memory.events"))),
        Ok((Some(117), Some(1)))
    );
    assert_eq!(
        v2::parse_cpu_stat(&text(&format!("{V2_APP}/cpu.stat"))),
        Ok(v2::CpuStat {
            usage_usec: Some(399170),
            user_usec: Some(339888),
            system_usec: Some(59282),
            periods: Some(23),
            throttled_periods: Some(20),
            throttled_usec: Some(1271753),
        })
    );
    // Without the cpu controller (captured on the hybrid host): usage only.
    let s = v2::parse_cpu_stat(&text(
        "hybrid/sys/fs/cgroup/unified/sidewatch-fixture/sidecar/cpu.stat",
    ))
    .unwrap();
    assert_eq!(
        (s.usage_usec, s.user_usec, s.system_usec, s.periods),
        (Some(42236), Some(12061), Some(30175), None)
    );
    assert_eq!(
        v2::parse_cpu_max(&text(&format!("{V2_APP}/cpu.max"))),
        Ok(Some(0.2))
    );
    assert_eq!(
        v2::parse_cpu_max(&text("v2/sys/fs/cgroup/system.slice/batch.service/cpu.max")),
        Ok(None)
    );
    assert_eq!(v2::parse_cpu_max("150000 100000\n"), Ok(Some(1.5)));
    assert!(v2::parse_cpu_max("\n").is_err());
    assert!(v2::parse_cpu_max("1 2 3\n").is_err());
    assert_eq!(
        v2::parse_io_stat(&text(&format!("{V2_APP}/io.stat"))),
        Ok((8388608, 8400896, 16, 6))
    );
    assert_eq!(v2::parse_io_stat(""), Ok((0, 0, 0, 0)));
    assert_eq!(
        v2::parse_io_stat(
            "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0\n8:16 rbytes=10 wbytes=20 rios=30 wios=40 dbytes=0 dios=0 cost.wait=5\n"
        ),
        Ok((11, 22, 33, 44))
    );
    assert!(v2::parse_io_stat("8:0 rbytes=x\n").is_err());
    assert!(v2::parse_io_stat("rbytes=1\n").is_err());
}

#[test]
fn pressure_files() {
    let p = psi::parse_pressure(&text(
        "hybrid/sys/fs/cgroup/unified/sidewatch-fixture/sidecar/cpu.pressure",
    ))
    .unwrap();
    assert_eq!(
        p,
        psi::Pressure {
            some_us: 214526,
            full_us: Some(201603)
        }
    );
    // A kernel before 5.13 has no `full` line for cpu.
    assert_eq!(
        psi::parse_pressure("some avg10=0.00 avg60=0.00 avg300=0.00 total=42\n"),
        Ok(psi::Pressure {
            some_us: 42,
            full_us: None
        })
    );
    // Truncated or foreign text is an error, never a panic.
    assert!(psi::parse_pressure("some\n").is_err());
    assert!(psi::parse_pressure("some avg10=0.00\n").is_err());
    assert!(psi::parse_pressure("full avg10=0.00 avg60=0.00 avg300=0.00 total=1\n").is_err());
    assert!(psi::parse_pressure("").is_err());
    assert!(psi::parse_pressure("total=5\n").is_err());
}

// ---------------------------------------------------------------------------------------------
// Mount table, layout, resolution

#[test]
fn hybrid_mount_table() {
    let m = parse_cgroup_mounts(&text("hybrid/proc/self/mountinfo"));
    let got: Vec<(String, &str, Version, String)> = m
        .iter()
        .map(|m| {
            (
                m.mount_point.display().to_string(),
                m.root.as_str(),
                m.version,
                m.controllers.join(","),
            )
        })
        .collect();
    let want = [
        ("cpu", Version::V1, "cpu"),
        ("cpuacct", Version::V1, "cpuacct"),
        ("cpuset", Version::V1, "cpuset"),
        ("memory", Version::V1, "memory"),
        ("devices", Version::V1, "devices"),
        ("freezer", Version::V1, "freezer"),
        ("blkio", Version::V1, "blkio"),
        ("pids", Version::V1, "pids"),
        ("systemd", Version::V1, "name=systemd"),
        ("unified", Version::V2, ""),
    ];
    assert_eq!(got.len(), want.len(), "{got:?}");
    for (g, (dir, v, c)) in got.iter().zip(want) {
        assert_eq!(
            (g.0.as_str(), g.1, g.2, g.3.as_str()),
            (format!("/sys/fs/cgroup/{dir}").as_str(), "/", v, c)
        );
    }
}

#[test]
fn container_mount_table_hides_overmounted_mounts() {
    let m = parse_cgroup_mounts(&text("container/proc/self/mountinfo"));
    // The inherited mounts at /sys/fs/cgroup/* are hidden by the runtime-style ones mounted over
    // /sys/fs/cgroup; the bind of the host's cgroupfs at /host stays.
    assert_eq!(m.len(), 20, "{m:#?}");
    let find = |p: &str| m.iter().find(|m| m.mount_point == Path::new(p)).unwrap();
    assert_eq!(find("/sys/fs/cgroup/memory").root, "/");
    assert_eq!(find("/sys/fs/cgroup/unified").root, "/");
    assert_eq!(find("/host/sys/fs/cgroup/memory").root, "/../../../..");
    assert_eq!(find("/host/sys/fs/cgroup/cpu").root, "/../..");
    assert_eq!(find("/host/sys/fs/cgroup/unified").version, Version::V2);
    assert_eq!(
        m.iter()
            .filter(|m| m.mount_point == Path::new("/sys/fs/cgroup/cpu"))
            .count(),
        1
    );
}

#[test]
fn a_root_mount_listed_after_its_children_hides_nothing() {
    // Real order on the capturing machine: `/` (id 27) comes after /proc and /sys (its children).
    let table = "22 27 0:21 / /proc rw - proc proc rw\n31 27 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n27 1 254:0 / / rw - ext4 /dev/vda rw\n";
    let m = parse_cgroup_mounts(table);
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].controllers, vec!["memory"]);
    // An unrelated mount over the same directory does hide it.
    let over = format!("{table}90 27 0:50 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n");
    assert!(parse_cgroup_mounts(&over).is_empty());
}

#[test]
fn mount_points_with_escapes() {
    let line = "50 31 0:44 / /srv/my\\040cgroups rw,relatime - cgroup2 cgroup2 rw\n";
    let m = parse_cgroup_mounts(line);
    assert_eq!(m[0].mount_point, Path::new("/srv/my cgroups"));
    assert_eq!(unescape_mount("a\\134b\\011c"), "a\\b\tc");
    assert_eq!(unescape_mount("trailing\\04"), "trailing\\04");
    // Lines procfs cannot parse are skipped, not fatal.
    assert!(parse_cgroup_mounts("garbage\n").is_empty());
}

#[test]
fn mounts_are_placed_under_the_root() {
    let hy = parse_cgroup_mounts(&text("hybrid/proc/self/mountinfo"));
    // Live: the mount points lie under the root.
    let h = place_mounts(Path::new("/sys/fs/cgroup"), &hy);
    assert_eq!(h.len(), 10);
    assert_eq!(h[3].dir, Path::new("/sys/fs/cgroup/memory"));
    assert_eq!(layout_of(&h), Layout::Hybrid);
    // A copy of the tree: the root ends with the mounts' parent.
    let root = Path::new("/x/hybrid/sys/fs/cgroup");
    let h = place_mounts(root, &hy);
    assert_eq!(h[9].dir, root.join("unified"));
    // A root that matches nothing: nothing is visible.
    assert!(place_mounts(Path::new("/tmp/empty"), &hy).is_empty());
    assert_eq!(layout_of(&[]), Layout::Unavailable);

    // The sidecar's view: its own cgroupfs, or the host's bind at /host/sys/fs/cgroup.
    let co = parse_cgroup_mounts(&text("container/proc/self/mountinfo"));
    let own = place_mounts(Path::new("/sys/fs/cgroup"), &co);
    assert_eq!(own.len(), 10);
    assert!(own.iter().all(|h| h.mount_root == "/"));
    let host = place_mounts(Path::new("/host/sys/fs/cgroup"), &co);
    assert_eq!(host.len(), 10);
    assert!(host.iter().all(|h| h.dir.starts_with("/host")));
    let copy = place_mounts(Path::new("/fx/container/host/sys/fs/cgroup"), &co);
    assert_eq!(copy.len(), 10);
    assert!(
        copy.iter()
            .all(|h| h.dir.starts_with("/fx/container/host/sys/fs/cgroup/"))
    );
    assert_eq!(copy[3].mount_root, "/../../../..");

    for (fx, layout) in [
        ("v1", Layout::Legacy),
        ("v2", Layout::Unified),
        ("k8s-systemd", Layout::Unified),
        ("k8s-cgroupfs", Layout::Legacy),
    ] {
        let m = parse_cgroup_mounts(&text(&format!("{fx}/proc/self/mountinfo")));
        let h = place_mounts(&Path::new("/fx").join(fx).join("sys/fs/cgroup"), &m);
        assert_eq!(layout_of(&h), layout, "{fx}");
    }
    // A v1 mount without controllers (name=systemd) next to v2 is still a unified host.
    let only_named = parse_cgroup_mounts(
        "1 0 0:1 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n2 0 0:2 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
    );
    assert_eq!(
        layout_of(&place_mounts(Path::new("/sys/fs/cgroup"), &only_named)),
        Layout::Unified
    );
    assert_eq!(only_named[0].controllers, vec!["name=systemd"]);
}

#[test]
fn paths_resolve_against_mount_roots() {
    use Resolved::*;
    assert_eq!(resolve("/", "/a/b"), Dir("a/b".into()));
    assert_eq!(resolve("/", "/"), Dir("".into()));
    // A container without a cgroup namespace: its mount shows its own cgroup as the root.
    assert_eq!(
        resolve("/kubepods/pod1/c1", "/kubepods/pod1/c1"),
        Dir("".into())
    );
    assert_eq!(
        resolve("/kubepods/pod1/c1", "/kubepods/pod1/c2"),
        NotVisible
    );
    // A private namespace: a sibling is `/../<id>`, invisible through the namespace's own mount.
    assert_eq!(resolve("/", "/../app"), NotVisible);
    // ... but below the host's cgroupfs, whose root climbs out of the namespace.
    assert_eq!(
        resolve("/../../../..", "/../app"),
        Search {
            depth: 4,
            tail: vec!["app".into()]
        }
    );
    assert_eq!(
        resolve("/../..", "/"),
        Search {
            depth: 2,
            tail: vec![]
        }
    );
    assert_eq!(resolve("/../x", "/../y"), NotVisible);
    assert_eq!(resolve("/", "/a/../b/./c"), Dir("b/c".into()));
}

#[test]
fn proc_cgroup_lines() {
    let l = parse_proc_cgroup(&text(&format!("container/proc/{APP}/cgroup"))).unwrap();
    assert_eq!(l.len(), 10);
    assert_eq!(
        l[0],
        MemberOf {
            hierarchy_id: 9,
            controllers: vec!["name=systemd".into()],
            path: "/".into()
        }
    );
    assert_eq!(l[1].path, "/../app"); // pids
    assert_eq!(l[5].path, "/../app"); // memory
    assert_eq!(
        l[9],
        MemberOf {
            hierarchy_id: 0,
            controllers: vec![],
            path: "/../app".into()
        }
    );
    let l = parse_proc_cgroup("1:cpu,cpuacct:/a:b\n").unwrap();
    assert_eq!(l[0].controllers, vec!["cpu", "cpuacct"]);
    assert_eq!(l[0].path, "/a:b");
    assert!(parse_proc_cgroup("nonsense\n").is_err());
}

// ---------------------------------------------------------------------------------------------
// End to end on every fixture tree

/// The app cgroup's figures, identical in every fixture (v2 ones carry the v1 capture's values).
fn assert_app_memory(f: &Figures) {
    assert_eq!(
        f.memory,
        MemoryFigures {
            usage_bytes: Some(20992000),
            working_set_bytes: Some(20992000), // inactive_file is 0
            rss_bytes: Some(19644416),
            cache_bytes: Some(1048576),
            inactive_file_bytes: Some(0),
            swap_bytes: Some(0),
            limit_bytes: Some(67108864),
            oom_kills: Some(1),
            limit_hits: Some(117),
        }
    );
    assert_eq!(
        f.pids,
        PidsFigures {
            current: Some(1),
            limit: Some(64)
        }
    );
    assert_eq!(
        f.io,
        IoFigures {
            read_bytes: Some(8388608),
            write_bytes: Some(8400896),
            reads: Some(16),
            writes: Some(6)
        }
    );
    assert_eq!(f.online_cpus, Some(2));
}

fn v1_app_cpu() -> CpuFigures {
    CpuFigures {
        usage_ns: Some(399170861),
        user_ns: Some(330_000_000), // 33 ticks of 10 ms
        system_ns: Some(50_000_000),
        periods: Some(23),
        throttled_periods: Some(20),
        throttled_ns: Some(1271753932),
        limit_cores: Some(0.2),
    }
}

fn app_pressure() -> PressureFigures {
    PressureFigures {
        cpu: Some(psi::Pressure {
            some_us: 757897,
            full_us: Some(757897),
        }),
        memory: Some(psi::Pressure {
            some_us: 14137,
            full_us: Some(14137),
        }),
        io: Some(psi::Pressure {
            some_us: 6910,
            full_us: Some(6910),
        }),
    }
}

#[test]
fn hybrid_host() {
    let mut r = reader("hybrid", "sys/fs/cgroup");
    assert_eq!(r.layout(), Layout::Hybrid);
    assert!(r.pressure_expected());
    let (loc, f) = read_ok(&mut r, APP);
    assert_eq!(loc.path, format!("{SANDBOX}/sidewatch-fixture/app"));
    assert_eq!(loc.version, Some(Version::V1));
    assert!(ends_with(
        &loc.memory,
        &format!("memory{SANDBOX}/sidewatch-fixture/app")
    ));
    assert!(ends_with(&loc.cpuacct, "cpuacct/sidewatch-fixture/app"));
    assert!(ends_with(&loc.cpu, "cpu/sidewatch-fixture/app"));
    assert!(ends_with(&loc.pressure, "unified/sidewatch-fixture/app"));
    assert_eq!(loc.pressure.as_ref().unwrap().version, Version::V2);
    assert_app_memory(&f);
    assert_eq!(f.cpu, v1_app_cpu());
    assert_eq!(f.pressure, app_pressure());

    let (loc, f) = read_ok(&mut r, UNLIMITED);
    assert_eq!(loc.path, format!("{SANDBOX}/sidewatch-fixture/unlimited"));
    assert_eq!(f.memory.limit_bytes, None);
    assert_eq!(f.memory.usage_bytes, Some(364544));
    assert_eq!(f.memory.working_set_bytes, Some(364544));
    assert_eq!(f.cpu.limit_cores, None);
    assert_eq!(f.cpu.usage_ns, Some(2001864));
    assert_eq!(f.cpu.periods, Some(0));
    assert_eq!(f.pids.limit, None);
    assert_eq!(f.pids.current, Some(1));
    assert_eq!(f.io.read_bytes, Some(0));
    assert_eq!(
        f.pressure.cpu,
        Some(psi::Pressure {
            some_us: 3035,
            full_us: Some(3035)
        })
    );
}

#[test]
fn legacy_host_with_combined_cpu_cpuacct() {
    let mut r = reader("v1", "sys/fs/cgroup");
    assert_eq!(r.layout(), Layout::Legacy);
    // The kernel has PSI (proc/pressure), but v1 cgroups carry no pressure files.
    assert!(!r.pressure_expected());
    let (loc, f) = read_ok(&mut r, APP);
    assert!(ends_with(&loc.cpu, "cpu,cpuacct/sidewatch-fixture/app"));
    assert_eq!(loc.cpu, loc.cpuacct);
    assert_eq!(loc.pressure, None);
    assert_app_memory(&f);
    assert_eq!(f.cpu, v1_app_cpu());
    assert_eq!(f.pressure, PressureFigures::default());
    let (_, f) = read_ok(&mut r, UNLIMITED);
    assert_eq!(
        (f.memory.limit_bytes, f.cpu.limit_cores, f.pids.limit),
        (None, None, None)
    );
}

fn v2_app_cpu() -> CpuFigures {
    CpuFigures {
        usage_ns: Some(399_170_000),
        user_ns: Some(339_888_000),
        system_ns: Some(59_282_000),
        periods: Some(23),
        throttled_periods: Some(20),
        throttled_ns: Some(1_271_753_000),
        limit_cores: Some(0.2),
    }
}

#[test]
fn unified_host() {
    let mut r = reader("v2", "sys/fs/cgroup");
    assert_eq!(r.layout(), Layout::Unified);
    let (loc, f) = read_ok(&mut r, APP);
    assert_eq!(loc.path, "/system.slice/app.service");
    assert_eq!(loc.version, Some(Version::V2));
    assert_eq!(loc.memory, loc.pressure);
    assert_app_memory(&f);
    assert_eq!(f.cpu, v2_app_cpu());
    assert_eq!(f.pressure, app_pressure());

    let (loc, f) = read_ok(&mut r, UNLIMITED);
    assert_eq!(loc.path, "/system.slice/batch.service");
    assert_eq!(
        (f.memory.limit_bytes, f.cpu.limit_cores, f.pids.limit),
        (None, None, None)
    );
    // An empty io.stat: no I/O yet.
    assert_eq!(
        f.io,
        IoFigures {
            read_bytes: Some(0),
            write_bytes: Some(0),
            reads: Some(0),
            writes: Some(0)
        }
    );
}

#[test]
fn kubernetes_systemd_driver_without_psi() {
    let mut r = reader("k8s-systemd", "sys/fs/cgroup");
    assert_eq!(r.layout(), Layout::Unified);
    assert!(!r.pressure_expected()); // no proc/pressure: a kernel without PSI
    let (loc, f) = read_ok(&mut r, APP);
    assert_eq!(
        loc.path,
        "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod6c4f3b1e_2f6a_4d7e_9a55_0b8f5e2d1c3a.slice/cri-containerd-8d2f6c1b4e7a9f03c5d8e2b1a6f4c9e07b3d5a8c1e2f4b6d9a0c7e5f3b1d2a48.scope"
    );
    assert_app_memory(&f);
    assert_eq!(f.cpu, v2_app_cpu());
    // No pressure files, and no error for them.
    assert_eq!(f.pressure, PressureFigures::default());
}

#[test]
fn kubernetes_cgroupfs_driver_through_the_hosts_cgroupfs() {
    let mut r = reader("k8s-cgroupfs", "host/sys/fs/cgroup");
    assert_eq!(r.layout(), Layout::Legacy);
    let (loc, f) = read_ok(&mut r, APP);
    assert_eq!(
        loc.path,
        "/kubepods/burstable/pod6c4f3b1e-2f6a-4d7e-9a55-0b8f5e2d1c3a/8d2f6c1b4e7a9f03c5d8e2b1a6f4c9e07b3d5a8c1e2f4b6d9a0c7e5f3b1d2a48"
    );
    assert!(ends_with(
        &loc.memory,
        &format!("host/sys/fs/cgroup/memory{}", loc.path)
    ));
    assert_app_memory(&f);
    assert_eq!(f.cpu, v1_app_cpu());
}

#[test]
fn kubernetes_cgroupfs_driver_through_the_containers_own_mounts() {
    // The sidecar's own mounts show only its own cgroup: the application is not visible there.
    let mut r = reader("k8s-cgroupfs", "sys/fs/cgroup");
    let e = r.locate(APP).unwrap_err();
    assert_eq!(e.source, Source::Cgroup);
    assert!(
        e.error.to_string().contains("is not visible under"),
        "{}",
        e.error
    );
    // The sidecar itself is at the root of its mounts.
    let (loc, f) = read_ok(&mut r, SIDECAR);
    assert!(
        loc.memory
            .as_ref()
            .unwrap()
            .dir
            .ends_with("k8s-cgroupfs/sys/fs/cgroup/memory")
    );
    assert_eq!(f.memory.usage_bytes, Some(565248));
    assert_eq!(f.memory.limit_bytes, Some(33554432));
    assert_eq!(f.cpu.limit_cores, Some(0.1));
}

#[test]
fn private_cgroup_namespace() {
    // Own view: the sidecar is at `/`, the root of the namespace's own mounts.
    let mut r = reader("container", "sys/fs/cgroup");
    assert_eq!(r.layout(), Layout::Hybrid);
    let (loc, f) = read_ok(&mut r, SIDECAR);
    assert_eq!(loc.path, "/");
    assert!(
        loc.memory
            .as_ref()
            .unwrap()
            .dir
            .ends_with("container/sys/fs/cgroup/memory")
    );
    assert_eq!(
        f.memory,
        MemoryFigures {
            usage_bytes: Some(565248),
            working_set_bytes: Some(565248),
            rss_bytes: Some(225280),
            cache_bytes: Some(4096),
            inactive_file_bytes: Some(0),
            swap_bytes: Some(0),
            limit_bytes: Some(33554432),
            oom_kills: Some(0),
            limit_hits: Some(0),
        }
    );
    assert_eq!(
        f.cpu,
        CpuFigures {
            usage_ns: Some(42236924),
            user_ns: Some(10_000_000),
            system_ns: Some(30_000_000),
            periods: Some(8),
            throttled_periods: Some(4),
            throttled_ns: Some(326261970),
            limit_cores: Some(0.1),
        }
    );
    assert_eq!(
        f.pids,
        PidsFigures {
            current: Some(2),
            limit: None
        }
    );
    assert_eq!(f.pressure.cpu.unwrap().full_us, Some(201603));
    // The application, a sibling `/../app`, cannot be seen through the namespace's own mounts.
    let e = r.locate(APP).unwrap_err();
    assert_eq!(e.source, Source::Cgroup);

    // Through the host's cgroupfs mounted at /host/sys/fs/cgroup: found by searching the tree.
    let mut r = reader("container", "host/sys/fs/cgroup");
    let (loc, f) = read_ok(&mut r, APP);
    assert_eq!(loc.path, "/../app");
    assert!(ends_with(
        &loc.memory,
        &format!("memory{SANDBOX}/sidewatch-fixture/app")
    ));
    assert!(ends_with(
        &loc.cpu,
        "host/sys/fs/cgroup/cpu/sidewatch-fixture/app"
    ));
    assert_app_memory(&f);
    assert_eq!(f.cpu, v1_app_cpu());
    assert_eq!(f.pressure, app_pressure());
    // The sidecar (`/`) too: several cgroups sit at that depth, its cgroup.procs decides.
    let (loc, f) = read_ok(&mut r, SIDECAR);
    assert!(ends_with(
        &loc.memory,
        &format!("memory{SANDBOX}/sidewatch-fixture/sidecar")
    ));
    assert_eq!(f.memory.usage_bytes, Some(565248));
    // The search is cached and still right on the next tick.
    let (loc2, _) = read_ok(&mut r, SIDECAR);
    assert_eq!(loc, loc2);
}

#[test]
fn nothing_visible_counts_one_error_per_source() {
    let dir = tempfile::tempdir().unwrap();
    let proc = fixtures().join("hybrid/proc");
    let mut r = CgroupReader::new(dir.path(), &proc);
    assert_eq!(r.layout(), Layout::Unavailable);
    let loc = r.locate(APP).unwrap();
    let mut failures = Vec::new();
    let f = r.read(&loc, &mut failures);
    assert_eq!(f.memory, MemoryFigures::default());
    assert_eq!(f.cpu, CpuFigures::default());
    let sources: Vec<&str> = failures.iter().map(|f| f.source.as_str()).collect();
    // The kernel has PSI (hybrid/proc/pressure), so pressure is a missing source too.
    assert_eq!(
        sources,
        [
            "cgroup_memory",
            "cgroup_cpu",
            "cgroup_pids",
            "cgroup_io",
            "cgroup_pressure"
        ]
    );
    assert!(
        failures[0]
            .error
            .to_string()
            .contains("no cgroup hierarchy with the memory controller")
    );
    // The procfs root without a mount table: the same.
    let r = CgroupReader::new(&fixtures().join("hybrid/sys/fs/cgroup"), dir.path());
    assert_eq!(r.layout(), Layout::Unavailable);
}

#[test]
fn missing_files_are_one_error_per_source() {
    // A copy of the v2 app cgroup with memory.stat and io.stat removed.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("sys/fs/cgroup");
    let cg = root.join("system.slice/app.service");
    std::fs::create_dir_all(&cg).unwrap();
    for e in std::fs::read_dir(fixtures().join(V2_APP)).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), cg.join(e.file_name())).unwrap();
    }
    std::fs::remove_file(cg.join("memory.stat")).unwrap();
    std::fs::remove_file(cg.join("memory.events")).unwrap();
    std::fs::remove_file(cg.join("io.stat")).unwrap();
    std::fs::write(cg.join("pids.max"), "lots\n").unwrap();
    let mut r = CgroupReader::new(&root, &fixtures().join("v2/proc"));
    let loc = r.locate(APP).unwrap();
    let mut failures = Vec::new();
    let f = r.read(&loc, &mut failures);
    let shown: Vec<(String, String)> = failures
        .iter()
        .map(|f| (f.source.as_str().to_string(), f.error.to_string()))
        .collect();
    assert_eq!(shown.len(), 3, "{shown:?}");
    assert_eq!(shown[0].0, "cgroup_memory");
    assert!(
        shown[0].1.ends_with("memory.stat: no such file or process"),
        "{shown:?}"
    );
    assert_eq!(shown[1].0, "cgroup_pids");
    assert!(
        shown[1]
            .1
            .ends_with("app.service/pids.max: line 1: cannot parse \"lots\""),
        "{shown:?}"
    );
    assert_eq!(shown[2].0, "cgroup_io");
    // What could be read still is; what could not is absent, never 0.
    assert_eq!(f.memory.usage_bytes, Some(20992000));
    assert_eq!(f.memory.working_set_bytes, None);
    assert_eq!(f.memory.rss_bytes, None);
    assert_eq!(f.memory.oom_kills, None);
    assert_eq!(f.memory.limit_bytes, Some(67108864));
    assert_eq!(f.pids.current, Some(1));
    assert_eq!(f.pids.limit, None);
    assert_eq!(f.io, IoFigures::default());
    // A cgroup that vanished: the inode check says so.
    assert!(loc.memory.as_ref().unwrap().still_exists());
    std::fs::remove_dir_all(&cg).unwrap();
    assert!(!loc.memory.as_ref().unwrap().still_exists());
}

#[test]
fn files_missing_in_the_root_cgroup_are_not_errors() {
    // A process in the root cgroup of a v2 host: the kernel has no memory.current, pids.current
    // or cpu.max there. Those figures are absent, and not read errors; a missing file in a
    // non-root cgroup stays an error (missing_files_are_one_error_per_source).
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("sys/fs/cgroup");
    std::fs::create_dir_all(&root).unwrap();
    for e in std::fs::read_dir(fixtures().join(V2_APP)).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), root.join(e.file_name())).unwrap();
    }
    for f in [
        "memory.current",
        "memory.max",
        "pids.current",
        "pids.max",
        "cpu.max",
    ] {
        let _ = std::fs::remove_file(root.join(f));
    }
    let proc_root = dir.path().join("proc");
    copy_tree(&fixtures().join("v2/proc"), &proc_root);
    std::fs::write(proc_root.join(APP.to_string()).join("cgroup"), "0::/\n").unwrap();
    let mut r = CgroupReader::new(&root, &proc_root);
    let loc = r.locate(APP).unwrap();
    assert_eq!(loc.path, "/");
    let mut failures = Vec::new();
    let f = r.read(&loc, &mut failures);
    let shown: Vec<String> = failures.iter().map(|f| f.error.to_string()).collect();
    assert!(shown.is_empty(), "{shown:?}");
    assert_eq!(f.memory.usage_bytes, None);
    assert_eq!(f.pids.current, None);
    assert!(f.memory.rss_bytes.is_some(), "memory.stat is still read");
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let ty = e.file_type().unwrap();
        let dest = to.join(e.file_name());
        if ty.is_dir() {
            copy_tree(&e.path(), &dest);
        } else if ty.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(e.path()).unwrap(), &dest).unwrap();
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

#[test]
fn cgroup_procs_and_foreign_processes() {
    let text = text("hybrid/sys/fs/cgroup/cpuacct/sidewatch-fixture/sidecar/cgroup.procs");
    assert_eq!(parse_procs(&text), Ok(vec![1561, SIDECAR]));
    assert_eq!(parse_procs(""), Ok(vec![]));
    assert_eq!(parse_procs("12\nx1\n"), Err(ParseError::new(2, "x1")));
    assert_eq!(foreign_processes(&[1561, SIDECAR], &[SIDECAR]), 1);
    assert_eq!(
        foreign_processes(&[1561, SIDECAR], &[SIDECAR, 1561, APP]),
        0
    );
    // A process outside our pid namespace (0) is never the target's.
    assert_eq!(foreign_processes(&[0, SIDECAR], &[SIDECAR, 0]), 1);
}

#[test]
fn foreign_processes_of_located_cgroups() {
    let mut r = reader("hybrid", "sys/fs/cgroup");
    let sidecar = r.locate(SIDECAR).unwrap();
    assert_eq!(r.foreign_processes(&sidecar, &[SIDECAR]).unwrap(), 1);
    assert_eq!(r.foreign_processes(&sidecar, &[SIDECAR, 1561]).unwrap(), 0);
    let app = r.locate(APP).unwrap();
    assert_eq!(r.foreign_processes(&app, &[APP]).unwrap(), 0);
    assert_eq!(r.foreign_processes(&app, &[]).unwrap(), 1);
    // v1: memory and cpuacct are two directories; either holding another process counts.
    let tmp = tempfile::tempdir().unwrap();
    let mem = tmp.path().join("memory");
    let cpu = tmp.path().join("cpuacct");
    for (d, procs) in [(&mem, "7\n"), (&cpu, "7\n8\n")] {
        std::fs::create_dir(d).unwrap();
        std::fs::write(d.join("cgroup.procs"), procs).unwrap();
    }
    let place = |dir: &Path| Place {
        dir: dir.into(),
        version: Version::V1,
        inode: 0,
        at_mount_root: false,
    };
    let loc = Located {
        memory: Some(place(&mem)),
        cpuacct: Some(place(&cpu)),
        ..Located::default()
    };
    assert_eq!(r.foreign_processes(&loc, &[7]).unwrap(), 1);
    // A reading stands for PROCS_MAX_AGE (with this tick's own pids), then the file is read
    // again.
    std::fs::write(cpu.join("cgroup.procs"), "7\n8\n9\n").unwrap();
    assert_eq!(r.foreign_processes(&loc, &[7, 8]).unwrap(), 0);
    std::thread::sleep(PROCS_MAX_AGE);
    assert_eq!(r.foreign_processes(&loc, &[7, 8]).unwrap(), 1);
    // Unreadable: a failure naming the file.
    std::fs::remove_file(cpu.join("cgroup.procs")).unwrap();
    let mut r = reader("hybrid", "sys/fs/cgroup");
    let e = r.foreign_processes(&loc, &[7]).unwrap_err();
    assert_eq!(e.source, Source::Cgroup);
    assert!(
        e.error.to_string().contains("cpuacct/cgroup.procs"),
        "{}",
        e.error
    );
}
