use super::*;
use crate::source::settings::parse;

const GIB: f64 = 1024.0 * MIB;

fn go(version: &str) -> RuntimeFigures {
    RuntimeFigures {
        runtime: Some(Runtime::Go),
        version: Some(version.into()),
        heap_bytes: Some(20.0 * MIB),
        ..Default::default()
    }
}

fn exec(environ: &[u8], cmdline: &[u8], cpus: u32) -> ExecSettings {
    let mut e = parse(Some(environ), cmdline);
    e.cpus_allowed = Some(cpus);
    e
}

fn rules(t: &[Tuning]) -> Vec<&str> {
    t.iter().map(|t| t.rule).collect()
}

#[test]
fn gomemlimit_unset_under_a_memory_limit_advises_90_percent() {
    let f = go("go1.19.8");
    let e = exec(b"PATH=/bin\0", b"/app\0", 2);
    let i = TuningInput {
        figures: Some(&f),
        exec: Some(&e),
        memory_limit_bytes: Some(256.0 * MIB),
        ..Default::default()
    };
    let (s, t) = tune(&i);
    assert_eq!(s.runtime, Some("go"));
    assert_eq!(s.gomemlimit_bytes, None);
    assert_eq!(rules(&t), ["gomemlimit_unset"]);
    // 0.9 × 256 MiB = 230.4 MiB, rounded down.
    assert_eq!(
        t[0].snippet,
        "env:\n  - name: GOMEMLIMIT\n    value: \"230MiB\"\n"
    );
    assert_eq!(t[0].inputs[0].value, Some(256.0 * MIB));
    assert!(t[0].text.contains("256 MiB memory limit"), "{}", t[0].text);
    // Set in the environment, or reported by the runtime: no advice, and the origin is shown.
    let e = exec(b"GOMEMLIMIT=200MiB\0", b"/app\0", 2);
    let (s, t) = tune(&TuningInput {
        exec: Some(&e),
        ..i
    });
    assert!(t.is_empty());
    assert_eq!(s.gomemlimit_bytes.unwrap().from, "env GOMEMLIMIT");
    let f2 = RuntimeFigures {
        heap_limit_bytes: Some(100.0 * MIB),
        ..f.clone()
    };
    let (s, t) = tune(&TuningInput {
        figures: Some(&f2),
        ..i
    });
    assert!(t.is_empty());
    assert_eq!(
        s.gomemlimit_bytes.unwrap().from,
        "metrics go_gc_gomemlimit_bytes"
    );
    // Unknown (environment unreadable), no limit, or a Go without GOMEMLIMIT: no advice.
    let unreadable = parse(None, b"/app\0");
    assert!(
        tune(&TuningInput {
            exec: Some(&unreadable),
            ..i
        })
        .1
        .is_empty()
    );
    assert!(tune(&TuningInput { exec: None, ..i }).1.is_empty());
    assert!(
        tune(&TuningInput {
            memory_limit_bytes: None,
            ..i
        })
        .1
        .is_empty()
    );
    let old = go("go1.18.10");
    assert!(
        tune(&TuningInput {
            figures: Some(&old),
            ..i
        })
        .1
        .is_empty()
    );
}

#[test]
fn gomaxprocs_above_the_quota_with_throttling() {
    let f = go("go1.21.0");
    let e = exec(b"GOMEMLIMIT=1GiB\0", b"/app\0", 8);
    let i = TuningInput {
        figures: Some(&f),
        exec: Some(&e),
        cpu_limit_cores: Some(2.5),
        throttled_periods_ratio: Some(0.3),
        ..Default::default()
    };
    let (s, t) = tune(&i);
    let p = s.gomaxprocs.unwrap();
    assert_eq!(
        (p.value, p.from.as_str()),
        (Some(8.0), "default: CPUs in the affinity mask")
    );
    assert_eq!(rules(&t), ["gomaxprocs_above_quota"]);
    assert_eq!(
        t[0].snippet,
        "env:\n  - name: GOMAXPROCS\n    value: \"2\"\n"
    );
    assert!(t[0].text.contains("throttled in 30 %"), "{}", t[0].text);
    // No throttling evidence, GOMAXPROCS within the quota, or Go 1.25's quota-aware default.
    for (throttled, quota, version) in [
        (0.04, 2.5, "go1.21.0"),
        (0.3, 8.0, "go1.21.0"),
        (0.3, 2.5, "go1.25.1"),
    ] {
        let f = go(version);
        let i = TuningInput {
            figures: Some(&f),
            cpu_limit_cores: Some(quota),
            throttled_periods_ratio: Some(throttled),
            ..i
        };
        assert!(tune(&i).1.is_empty(), "{throttled} {quota} {version}");
    }
    // The runtime's own figure wins over the environment; a quota under one core → 1.
    let f = RuntimeFigures {
        gomaxprocs: Some(4.0),
        ..go("go1.21.0")
    };
    let e = exec(b"GOMEMLIMIT=1GiB\0GOMAXPROCS=16\0", b"/app\0", 8);
    let (s, t) = tune(&TuningInput {
        figures: Some(&f),
        exec: Some(&e),
        cpu_limit_cores: Some(0.5),
        ..i
    });
    assert_eq!(
        s.gomaxprocs.unwrap().from,
        "metrics go_sched_gomaxprocs_threads"
    );
    assert_eq!(
        t[0].snippet,
        "env:\n  - name: GOMAXPROCS\n    value: \"1\"\n"
    );
}

#[test]
fn gogc_when_the_gc_runs_often_with_a_small_heap() {
    // 20 MiB heap, GOMEMLIMIT 400 MiB: goal half the limit = 200 MiB → GOGC (200/20 − 1) × 100
    // = 900, capped at 800.
    let f = go("go1.21.0");
    let e = exec(b"GOMEMLIMIT=400MiB\0", b"/app\0", 2);
    let i = TuningInput {
        figures: Some(&f),
        exec: Some(&e),
        gc_per_second: Some(3.0),
        memory_limit_bytes: Some(512.0 * MIB),
        ..Default::default()
    };
    let (_, t) = tune(&i);
    assert_eq!(rules(&t), ["gogc_raise"]);
    assert_eq!(t[0].snippet, "env:\n  - name: GOGC\n    value: \"800\"\n");
    // 60 MiB heap under a 512 MiB memory limit, GOMEMLIMIT unset, GOGC=100 from env: goal
    // 256 MiB → (256/60 − 1) × 100 = 326 → 300 in steps of 50, with GOMEMLIMIT as backstop.
    let f = RuntimeFigures {
        heap_bytes: Some(60.0 * MIB),
        ..go("go1.21.0")
    };
    let e = exec(b"GOGC=100\0", b"/app\0", 2);
    let (_, t) = tune(&TuningInput {
        figures: Some(&f),
        exec: Some(&e),
        ..i
    });
    assert_eq!(rules(&t), ["gomemlimit_unset", "gogc_raise"]);
    assert_eq!(
        t[1].snippet,
        "env:\n  - name: GOGC\n    value: \"300\"\n  - name: GOMEMLIMIT\n    value: \"460MiB\"\n"
    );
    assert_eq!(t[1].inputs[3].from, "env GOGC");
    // Rare GC, a heap at a quarter of the limit, or GC off: nothing.
    let e = exec(b"GOMEMLIMIT=400MiB\0", b"/app\0", 2);
    let i = TuningInput {
        exec: Some(&e),
        ..i
    };
    assert!(
        tune(&TuningInput {
            gc_per_second: Some(0.5),
            ..i
        })
        .1
        .is_empty()
    );
    let big = RuntimeFigures {
        heap_bytes: Some(100.0 * MIB),
        ..go("go1.21.0")
    };
    assert!(
        tune(&TuningInput {
            figures: Some(&big),
            ..i
        })
        .1
        .is_empty()
    );
    let off = exec(b"GOMEMLIMIT=400MiB\0GOGC=off\0", b"/app\0", 2);
    assert!(
        tune(&TuningInput {
            exec: Some(&off),
            ..i
        })
        .1
        .is_empty()
    );
}

#[test]
fn jvm_default_quarter_heap_with_a_low_working_set_is_raised() {
    let e = exec(b"PATH=/bin\0", b"java\0-jar\0app.jar\0", 2);
    let i = TuningInput {
        exec: Some(&e),
        memory_limit_bytes: Some(2.0 * GIB),
        working_set_peak_bytes: Some(700.0 * MIB),
        ..Default::default()
    };
    let (s, t) = tune(&i);
    assert_eq!(s.runtime, Some("jvm"));
    assert_eq!(rules(&t), ["jvm_heap_default_share"]);
    assert_eq!(t[0].inputs[0].value, Some(512.0 * MIB));
    assert_eq!(t[0].inputs[0].from, "default: MaxRAMPercentage=25");
    assert_eq!(
        t[0].snippet,
        "env:\n  - name: JAVA_TOOL_OPTIONS\n    value: \"-XX:MaxRAMPercentage=75.0\"\n"
    );
    // A working set that reached half the limit, an -Xmx the user chose, or no day of history.
    assert!(
        tune(&TuningInput {
            working_set_peak_bytes: Some(1.1 * GIB),
            ..i
        })
        .1
        .is_empty()
    );
    let xmx = exec(b"\0", b"java\0-Xmx1g\0-jar\0app.jar\0", 2);
    assert!(
        tune(&TuningInput {
            exec: Some(&xmx),
            ..i
        })
        .1
        .is_empty()
    );
    assert!(
        tune(&TuningInput {
            working_set_peak_bytes: None,
            ..i
        })
        .1
        .is_empty()
    );
}

#[test]
fn jvm_heap_near_the_limit_is_lowered() {
    // The runtime's metric wins over -Xmx: 1.8 GiB of 2 GiB = 90 %.
    let f = RuntimeFigures {
        runtime: Some(Runtime::Jvm),
        heap_limit_bytes: Some(1.8 * GIB),
        ..Default::default()
    };
    let e = exec(b"\0", b"java\0-Xmx1g\0Main\0", 2);
    let (s, t) = tune(&TuningInput {
        figures: Some(&f),
        exec: Some(&e),
        memory_limit_bytes: Some(2.0 * GIB),
        ..Default::default()
    });
    assert_eq!(
        s.jvm_max_heap_bytes.unwrap().from,
        "metrics jvm_memory_max_bytes{area=\"heap\"}"
    );
    assert_eq!(rules(&t), ["jvm_heap_near_limit"]);
    assert!(t[0].text.contains("is 90 % of the 2 GiB"), "{}", t[0].text);
    // MaxRAMPercentage=90 from JAVA_TOOL_OPTIONS, without metrics.
    let e = exec(
        b"JAVA_TOOL_OPTIONS=-XX:MaxRAMPercentage=90.0\0",
        b"java\0Main\0",
        2,
    );
    let (_, t) = tune(&TuningInput {
        exec: Some(&e),
        memory_limit_bytes: Some(2.0 * GIB),
        ..Default::default()
    });
    assert_eq!(rules(&t), ["jvm_heap_near_limit"]);
    assert_eq!(
        t[0].inputs[0].from,
        "env JAVA_TOOL_OPTIONS -XX:MaxRAMPercentage"
    );
}

#[test]
fn node_heap_limit_above_the_container_limit() {
    let e = exec(
        b"NODE_OPTIONS=--max-old-space-size=4096\0",
        b"node\0server.js\0",
        2,
    );
    let i = TuningInput {
        exec: Some(&e),
        memory_limit_bytes: Some(2.0 * GIB),
        ..Default::default()
    };
    let (_, t) = tune(&i);
    assert_eq!(rules(&t), ["node_heap_above_limit"]);
    assert_eq!(
        t[0].snippet,
        "env:\n  - name: NODE_OPTIONS\n    value: \"--max-old-space-size=1536\"\n"
    );
    assert!(
        tune(&TuningInput {
            memory_limit_bytes: Some(8.0 * GIB),
            ..i
        })
        .1
        .is_empty()
    );
}
