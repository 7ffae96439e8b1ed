//! The application-metrics source: the exposition parser checked against Python's
//! `prometheus_client` parsers on bodies captured from real applications
//! (tests/fixtures/app/MANIFEST), then the fetch and the tick against hostile endpoints.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::path::PathBuf;

use common::app::{our_samples, python_samples, same_samples, sort};
use sidewatch::source::exposition::{Format, MetricType, parse};

fn fixture(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/app")
        .join(name);
    std::fs::read_to_string(&p).unwrap()
}

const FIXTURES: &[(&str, Format)] = &[
    ("prometheus-2.42.txt", Format::Text004),
    ("python-client-0.16.txt", Format::Text004),
    ("python-client-0.16.om.txt", Format::OpenMetrics),
];

#[test]
fn every_fixture_sample_equals_what_python_reads() {
    for (name, format) in FIXTURES {
        let body = fixture(name);
        let ours = our_samples(&parse(&body, *format).unwrap());
        let mut theirs = python_samples(body.as_bytes(), *format == Format::OpenMetrics).unwrap();
        sort(&mut theirs);
        assert!(theirs.len() > 20, "{name}: only {} samples", theirs.len());
        assert!(
            same_samples(&ours, &theirs),
            "{name}: ours {ours:#?}\npython {theirs:#?}"
        );
    }
}

#[test]
fn prometheus_body_has_its_go_runtime_and_http_histogram() {
    let body = fixture("prometheus-2.42.txt");
    let e = parse(&body, Format::Text004).unwrap();
    let line_value = |prefix: &str| -> f64 {
        let line = body.lines().find(|l| l.starts_with(prefix)).unwrap();
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert_eq!(
        e.value("go_goroutines", &[]),
        Some(line_value("go_goroutines "))
    );
    assert_eq!(e.family("go_goroutines").unwrap().kind, MetricType::Gauge);
    let gc = e.family("go_gc_duration_seconds").unwrap();
    assert_eq!(gc.kind, MetricType::Summary);
    assert_eq!(
        e.value("go_gc_duration_seconds", &[("quantile", "0.5")]),
        Some(line_value("go_gc_duration_seconds{quantile=\"0.5\"}"))
    );
    let h = e
        .family("prometheus_http_request_duration_seconds")
        .unwrap();
    assert_eq!(h.kind, MetricType::Histogram);
    let buckets = body
        .lines()
        .filter(|l| l.starts_with("prometheus_http_request_duration_seconds_bucket{"))
        .count();
    assert_eq!(
        h.samples
            .iter()
            .filter(|s| s.name.ends_with("_bucket"))
            .count(),
        buckets
    );
}

#[test]
fn python_openmetrics_body_keeps_escapes_specials_and_family_types() {
    let e = parse(&fixture("python-client-0.16.om.txt"), Format::OpenMetrics).unwrap();
    let path = "/a \"quoted\" \\ back\nslash"; // as the capture script set it
    assert_eq!(e.value("app_requests_total", &[("path", path)]), Some(3.0));
    let requests = e.family("app_requests").unwrap();
    assert_eq!(requests.kind, MetricType::Counter);
    assert_eq!(requests.samples.len(), 4, "two _total and two _created");
    let latency = e.family("app_latency_seconds").unwrap();
    assert_eq!(latency.kind, MetricType::Histogram);
    assert_eq!(
        e.value("app_latency_seconds_bucket", &[("le", "+Inf")]),
        Some(4.0)
    );
    assert_eq!(
        e.value("app_latency_seconds_bucket", &[("le", "0.5")]),
        Some(2.0)
    );
    assert_eq!(e.value("app_latency_seconds_sum", &[]), Some(3.95));
    assert!(e.value("app_temperature", &[]).unwrap().is_nan());
    assert_eq!(e.value("app_ceiling", &[]), Some(f64::INFINITY));
    assert_eq!(e.family("app_build").unwrap().kind, MetricType::Info);
    assert_eq!(
        e.value("app_build_info", &[("version", "1.2.3")]),
        Some(1.0)
    );
    assert_eq!(e.family("app_state").unwrap().kind, MetricType::StateSet);
    assert_eq!(
        e.family("app_size_bytes").unwrap().kind,
        MetricType::Summary
    );
}

#[test]
fn text_body_families_follow_type_lines_and_untyped_samples_stand_alone() {
    let e = parse(&fixture("python-client-0.16.txt"), Format::Text004).unwrap();
    // Text 0.0.4 names the counter family with its `_total`; `_created` is its own gauge.
    assert_eq!(
        e.family("app_requests_total").unwrap().kind,
        MetricType::Counter
    );
    assert_eq!(
        e.family("app_requests_created").unwrap().kind,
        MetricType::Gauge
    );
    let e = parse("a 1\nb{x=\"y\"} 2\n", Format::Text004).unwrap();
    assert_eq!(e.family("a").unwrap().kind, MetricType::Unknown);
    assert_eq!(e.value("b", &[("x", "y")]), Some(2.0));
}

/// Edge cases where both parsers must agree: the same samples, or both refuse the body.
#[test]
fn edge_cases_agree_with_python() {
    let cases: &[(&str, Format)] = &[
        ("x{a=\"1\",} 1\n", Format::Text004),
        ("x{ a = \"1\" } 1 1700000000000\n", Format::Text004),
        ("x -Inf\ny +Inf\nz NaN\nw 1e3\n", Format::Text004),
        ("# some comment\nx 1\n\n", Format::Text004),
        ("x{", Format::Text004),
        ("x{a=1} 1\n", Format::Text004),
        ("x abc\n", Format::Text004),
        (
            "# TYPE x counter\nx_total 1\nx_created 2\n# EOF\n",
            Format::OpenMetrics,
        ),
        ("# TYPE x counter\nx_total 1\n", Format::OpenMetrics),
        ("x 1\n# EOF\nx 2\n", Format::OpenMetrics),
        (
            "# TYPE x counter\nx_total 1 # {t=\"a\"} 0.5 1.5\n# EOF\n",
            Format::OpenMetrics,
        ),
        ("x 1\n# EOF", Format::OpenMetrics),
        ("x inf\n# EOF\n", Format::OpenMetrics),
        ("x{a=\"\\q\"} 1\n", Format::Text004),
    ];
    let mut bad = Vec::new();
    for (body, format) in cases {
        let ours = parse(body, *format).map(|e| our_samples(&e));
        let theirs =
            python_samples(body.as_bytes(), *format == Format::OpenMetrics).map(|mut v| {
                sort(&mut v);
                v
            });
        match (&ours, &theirs) {
            (Ok(a), Ok(b)) if same_samples(a, b) => {}
            (Err(_), Err(_)) => {}
            _ => bad.push(format!(
                "{body:?} ({format:?}): ours {ours:?}, python {theirs:?}"
            )),
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
}

/// Python reads `x 1 2 3` as `x 1` (timestamp "2 3"); Prometheus refuses the line, so do we.
#[test]
fn text_after_the_timestamp_is_refused_as_prometheus_does() {
    let err = parse("x 1 2 3\n", Format::Text004).unwrap_err();
    assert_eq!(err.line, 1);
    assert!(err.reason.contains("after the value"), "{err}");
}

#[test]
fn a_truncated_openmetrics_body_is_refused_naming_the_line() {
    let body = fixture("python-client-0.16.om.txt");
    let cut = &body[..body.len() / 2];
    let err = parse(cut, Format::OpenMetrics).unwrap_err();
    assert!(err.to_string().contains("line "), "{err}");
    assert!(
        python_samples(cut.as_bytes(), true).is_err(),
        "python accepted the cut body"
    );
}

#[test]
fn content_type_chooses_the_format() {
    assert_eq!(
        Format::from_content_type("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        Format::OpenMetrics
    );
    assert_eq!(
        Format::from_content_type("text/plain; version=0.0.4"),
        Format::Text004
    );
    assert_eq!(Format::from_content_type(""), Format::Text004);
}
