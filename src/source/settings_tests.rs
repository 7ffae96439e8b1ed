use super::*;

const MIB: f64 = 1024.0 * 1024.0;

fn fixture(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/settings");
    std::fs::read(p.join(name)).unwrap()
}

fn parsed(name: &str) -> ExecSettings {
    parse(
        Some(&fixture(&format!("{name}.environ"))),
        &fixture(&format!("{name}.cmdline")),
    )
}

fn set(value: Option<f64>, raw: &str, from: &str) -> Option<Setting> {
    Some(Setting {
        value,
        raw: raw.into(),
        from: from.into(),
    })
}

#[test]
fn go_environment_of_a_real_process() {
    // Captured from `env -i ... GOMEMLIMIT=1500MiB GOGC=off GOMAXPROCS=2 sleep 30`.
    let s = parsed("go");
    assert!(s.environ_readable);
    assert_eq!(s.program, None);
    assert_eq!(
        s.gomemlimit,
        set(Some(1500.0 * MIB), "1500MiB", "env GOMEMLIMIT")
    );
    assert_eq!(s.gogc, set(None, "off", "env GOGC"));
    assert_eq!(s.gomaxprocs, set(Some(2.0), "2", "env GOMAXPROCS"));
    assert_eq!(s.jvm_max_heap, None);
    let s = parsed("go-unset");
    assert_eq!((s.gomemlimit, s.gomaxprocs), (None, None));
    assert_eq!(s.gogc, set(Some(200.0), "200", "env GOGC"));
}

#[test]
fn an_unreadable_environ_is_unknown_not_unset() {
    let s = parse(None, &fixture("go.cmdline"));
    assert!(!s.environ_readable);
    assert_eq!(s.gomemlimit, None);
    // The reader: a pid without a directory is all unknown, not a panic or an error.
    let dir = tempfile::tempdir().unwrap();
    let s = read(dir.path(), 4242);
    assert!(!s.environ_readable && s.cpus_allowed.is_none());
}

#[test]
fn jvm_options_in_the_order_the_jvm_reads_them() {
    // JAVA_TOOL_OPTIONS says -Xmx256m and 50 %; the command line's -Xmx1g wins; the -Xmx4g
    // after `-jar app.jar` is the application's argument, and `-cp`'s value is skipped.
    let s = parsed("java");
    assert_eq!(s.program, Some("java"));
    assert_eq!(s.jvm_max_heap, set(Some(1024.0 * MIB), "1g", "args -Xmx"));
    assert_eq!(
        s.jvm_max_ram_percentage,
        set(
            Some(50.0),
            "50.0",
            "env JAVA_TOOL_OPTIONS -XX:MaxRAMPercentage"
        )
    );
    let s = parse(
        Some(b"JDK_JAVA_OPTIONS=-XX:MaxHeapSize=2G\0"),
        b"java\0-XX:MaxRAMPercentage=101\0Main\0",
    );
    assert_eq!(
        s.jvm_max_heap,
        set(
            Some(2048.0 * MIB),
            "2G",
            "env JDK_JAVA_OPTIONS -XX:MaxHeapSize"
        )
    );
    assert_eq!(
        s.jvm_max_ram_percentage,
        set(None, "101", "args -XX:MaxRAMPercentage")
    );
}

#[test]
fn node_heap_limit_from_options_and_arguments() {
    // NODE_OPTIONS says 512; the argument (underscores, as V8 allows) says 2048 and wins; the
    // one after the script is the script's.
    let s = parsed("node");
    assert_eq!(s.program, Some("node"));
    assert_eq!(
        s.node_max_old_space,
        set(Some(2048.0 * MIB), "2048", "args --max-old-space-size")
    );
    let s = parse(
        Some(fixture("node.environ").as_slice()),
        b"/usr/bin/node\0app.js\0",
    );
    assert_eq!(
        s.node_max_old_space,
        set(
            Some(512.0 * MIB),
            "512",
            "env NODE_OPTIONS --max-old-space-size"
        )
    );
    // Node variables mean nothing to a program that is not node.
    let s = parse(Some(fixture("node.environ").as_slice()), b"python3\0x.py\0");
    assert_eq!(s.node_max_old_space, None);
}

#[test]
fn value_syntaxes() {
    assert_eq!(go_memlimit("100"), Some(100.0));
    assert_eq!(go_memlimit("100B"), Some(100.0));
    assert_eq!(go_memlimit("4KiB"), Some(4096.0));
    assert_eq!(go_memlimit("2GiB"), Some(2048.0 * MIB));
    assert_eq!(go_memlimit("1TiB"), Some(1024.0 * 1024.0 * MIB));
    for bad in ["off", "1.5GiB", "2GB", "MiB", "-1", ""] {
        assert_eq!(go_memlimit(bad), None, "{bad}");
    }
    assert_eq!(go_gc("50"), Some(50.0));
    assert_eq!(go_gc("-1"), None);
    assert_eq!(go_maxprocs("0"), None);
    assert_eq!(jvm_size("512m"), Some(512.0 * MIB));
    assert_eq!(jvm_size("1048576"), Some(MIB));
    assert_eq!(jvm_size("64K"), Some(65536.0));
    assert_eq!(jvm_size("1.5g"), None);
    assert_eq!(jvm_size(""), None);
}

#[test]
fn cpus_allowed_counts_the_affinity_list() {
    let status = String::from_utf8(fixture("go.status")).unwrap();
    // Captured on a 2-CPU machine: `Cpus_allowed_list:\t0-1`.
    assert_eq!(cpus_allowed(&status), Some(2));
    assert_eq!(cpus_allowed("Cpus_allowed_list:\t0-3,6,8-9\n"), Some(7));
    assert_eq!(cpus_allowed("Cpus_allowed_list:\t3-1\n"), None);
    assert_eq!(cpus_allowed("Name:\tx\n"), None);
}
