//! Runtime detection on bodies captured from real applications (tests/fixtures/app, see its
//! MANIFEST), every figure against the value written in the body.

use std::path::Path;

use super::*;
use crate::source::exposition::{Exposition, Format, parse};

fn exposition(text: &str) -> Exposition {
    parse(text, Format::Text004).unwrap()
}

fn fixture(name: &str) -> Exposition {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/app")
        .join(name);
    exposition(&std::fs::read_to_string(path).unwrap())
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() <= 1e-9 * b.abs().max(1.0))
}

#[test]
fn go_from_prometheus_itself() {
    let f = detect(&fixture("runtime-go-prometheus.txt")).unwrap();
    assert_eq!(f.runtime, Some(Runtime::Go));
    assert_eq!(f.version.as_deref(), Some("go1.19.8"));
    assert_eq!(f.heap_bytes, Some(8.083e6));
    assert_eq!(f.tasks, Some(27.0));
    assert_eq!(f.gc_collections, Some(3.0));
    assert_eq!(f.gc_pause_seconds, Some(0.008781372));
    // client_golang of Prometheus 2.42 predates these series: absent, not 0.
    assert_eq!(f.heap_limit_bytes, None);
    assert_eq!(f.gogc_percent, None);
    assert_eq!(f.gomaxprocs, None);
    assert_eq!(f.event_loop_lag_seconds, None);
}

#[test]
fn go_limits_of_newer_client_golang() {
    // As client_golang ≥ 1.17 writes them: GOMEMLIMIT unset is math.MaxInt64.
    let unset = "go_goroutines 12\ngo_gc_gogc_percent 100\ngo_gc_gomemlimit_bytes 9.223372036854776e+18\ngo_sched_gomaxprocs_threads 80\ngo_memstats_heap_inuse_bytes 4.096e+06\n";
    let f = detect(&exposition(unset)).unwrap();
    assert_eq!(f.heap_limit_bytes, None);
    assert_eq!(f.gogc_percent, Some(100.0));
    assert_eq!(f.gomaxprocs, Some(80.0));
    // Without heap_alloc, heap_inuse.
    assert_eq!(f.heap_bytes, Some(4.096e6));
    let set = unset.replace("9.223372036854776e+18", "5.36870912e+08");
    let f = detect(&exposition(&set)).unwrap();
    assert_eq!(f.heap_limit_bytes, Some(536_870_912.0));
}

#[test]
fn python_gc_collections_over_generations() {
    let f = detect(&fixture("runtime-python-prometheus-client.txt")).unwrap();
    assert_eq!(f.runtime, Some(Runtime::Python));
    assert_eq!(f.version.as_deref(), Some("3.11.2"));
    assert_eq!(f.gc_collections, Some(303.0 + 23.0 + 4.0));
    assert_eq!(f.gc_pause_seconds, None);
    assert_eq!(f.heap_bytes, None);
    assert_eq!(f.tasks, None);
}

#[test]
fn python_from_an_openmetrics_body() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/app/python-client-0.16.om.txt");
    let e = parse(&std::fs::read_to_string(path).unwrap(), Format::OpenMetrics).unwrap();
    let f = detect(&e).unwrap();
    assert_eq!(f.runtime, Some(Runtime::Python));
    assert_eq!(f.version.as_deref(), Some("3.11.2"));
    assert_eq!(f.gc_collections, Some(39.0 + 3.0 + 0.0));
}

#[test]
fn node_from_prom_client() {
    let f = detect(&fixture("runtime-node-promclient.txt")).unwrap();
    assert_eq!(f.runtime, Some(Runtime::Node));
    assert_eq!(f.version.as_deref(), Some("v20.20.2"));
    assert_eq!(f.heap_bytes, Some(15_454_272.0));
    assert_eq!(f.heap_limit_bytes, None);
    assert_eq!(f.tasks, Some(2.0));
    assert_eq!(f.gc_collections, Some(9.0 + 2.0 + 2.0));
    assert!(close(
        f.gc_pause_seconds,
        0.027371865999884906 + 0.0022794099999591706 + 0.008127260999986903
    ));
    assert_eq!(f.event_loop_lag_seconds, Some(0.026066943));
}

#[test]
fn node_handles_by_type_without_the_total() {
    let body = "nodejs_version_info{version=\"v18.0.0\"} 1\nnodejs_active_handles{type=\"Server\"} 1\nnodejs_active_handles{type=\"Socket\"} 3\n";
    let f = detect(&exposition(body)).unwrap();
    assert_eq!(f.tasks, Some(4.0));
}

#[test]
fn jvm_client_java() {
    let f = detect(&fixture("runtime-jvm-client-java.txt")).unwrap();
    assert_eq!(f.runtime, Some(Runtime::Jvm));
    assert_eq!(f.version.as_deref(), Some("17.0.9+9"));
    assert_eq!(f.heap_bytes, Some(5.4525952e7));
    assert_eq!(f.heap_limit_bytes, Some(2.093809664e9));
    assert_eq!(f.tasks, Some(23.0));
    assert_eq!(f.gc_collections, Some(15.0));
    assert!(close(f.gc_pause_seconds, 0.087 + 0.031));
}

#[test]
fn jvm_micrometer_sums_heap_pools() {
    let f = detect(&fixture("runtime-jvm-micrometer.txt")).unwrap();
    assert_eq!(f.runtime, Some(Runtime::Jvm));
    assert_eq!(f.version.as_deref(), Some("21.0.2+13-LTS"));
    assert_eq!(f.heap_bytes, Some(4_194_304.0 + 3.145728e7 + 2.5165824e7));
    // Eden and survivor say -1 (undefined): the old gen's maximum is the heap's.
    assert_eq!(f.heap_limit_bytes, Some(4.194304e9));
    assert_eq!(f.tasks, Some(41.0));
    assert_eq!(f.gc_collections, Some(29.0));
    assert!(close(f.gc_pause_seconds, 0.154 + 0.071));
}

#[test]
fn an_app_without_runtime_series_has_none() {
    let body = "http_requests_total{code=\"200\"} 5\nprocess_cpu_seconds_total 1.5\n";
    assert_eq!(detect(&exposition(body)), None);
}

#[test]
fn accumulator_survives_app_restarts() {
    let mut a = Accumulator::default();
    a.observe(0.0, Some(10.0));
    // The first reading is what the app counted since its start.
    assert_eq!((a.total(), a.rate()), (Some(10.0), None));
    a.observe(10.0, Some(30.0));
    assert_eq!((a.total(), a.rate()), (Some(30.0), Some(2.0)));
    // Unread: nothing added, nothing forgotten, no rate.
    a.observe(20.0, None);
    assert_eq!((a.total(), a.rate()), (Some(30.0), None));
    a.observe(30.0, Some(40.0));
    assert_eq!((a.total(), a.rate()), (Some(40.0), Some(0.5)));
    // Restart: 40 → 5 counts 5 (from zero), never a decrease.
    a.observe(40.0, Some(5.0));
    assert_eq!((a.total(), a.rate()), (Some(45.0), Some(0.5)));
    a.observe(50.0, Some(6.0));
    assert_eq!(a.total(), Some(46.0));
}

#[test]
fn runtime_counters_give_rates_and_totals() {
    let mut c = RuntimeCounters::default();
    let figures = |n: f64, pause: f64| RuntimeFigures {
        runtime: Some(Runtime::Go),
        gc_collections: Some(n),
        gc_pause_seconds: Some(pause),
        ..Default::default()
    };
    let s = c.update(100.0, Some(figures(3.0, 0.01)));
    assert_eq!(s.gc_collections_total, Some(3.0));
    assert_eq!(s.gc_per_second, None);
    let s = c.update(105.0, Some(figures(8.0, 0.06)));
    assert_eq!(s.gc_collections_total, Some(8.0));
    assert_eq!(s.gc_per_second, Some(1.0));
    assert!(close(s.gc_pause_ratio, 0.01));
    // The endpoint is down: the totals stay, the figures and rates are unknown.
    let s = c.update(110.0, None);
    assert_eq!(s.figures, None);
    assert_eq!(s.gc_collections_total, Some(8.0));
    assert_eq!(s.gc_per_second, None);
}
