use super::*;
use crate::source::exposition::{Format, parse};

fn body(text: &str) -> Exposition {
    parse(text, Format::Text004).unwrap()
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9 || a == b)
}

/// The cases of Prometheus's promql/testdata/histograms.test (`testhistogram`, at 50m: each
/// bucket 10 × its increment), through our own parsing of its `le` spellings.
#[test]
fn quantiles_match_prometheus_histograms_test() {
    let e = body(
        "# TYPE testhistogram histogram\n\
         testhistogram_bucket{le=\"0.1\",start=\"positive\"} 50\n\
         testhistogram_bucket{le=\".2\",start=\"positive\"} 70\n\
         testhistogram_bucket{le=\"1e0\",start=\"positive\"} 110\n\
         testhistogram_bucket{le=\"+Inf\",start=\"positive\"} 120\n\
         testhistogram_bucket{le=\"-.2\",start=\"negative\"} 10\n\
         testhistogram_bucket{le=\"-0.1\",start=\"negative\"} 20\n\
         testhistogram_bucket{le=\"0.3\",start=\"negative\"} 20\n\
         testhistogram_bucket{le=\"+Inf\",start=\"negative\"} 30\n",
    );
    let buckets = |start: &str| -> Vec<(f64, f64)> {
        e.samples("testhistogram_bucket")
            .filter(|s| s.label("start") == Some(start))
            .map(|s| (le_of(s).unwrap(), s.value))
            .collect()
    };
    let (pos, neg) = (buckets("positive"), buckets("negative"));
    let cases: [(f64, f64, f64); 7] = [
        (-0.1, f64::NEG_INFINITY, f64::NEG_INFINITY),
        (1.01, f64::INFINITY, f64::INFINITY),
        (0.0, 0.0, -0.2),
        (1.0, 1.0, 0.3),
        (0.2, 0.048, -0.2),
        (0.5, 0.15, -0.15),
        (0.8, 0.72, 0.3),
    ];
    for (q, p, n) in cases {
        assert!(close(histogram_quantile(q, &pos), p), "q={q} positive");
        assert!(close(histogram_quantile(q, &neg), n), "q={q} negative");
    }
    // `sum by (le) (rate(request_duration_seconds_bucket[5m]))` of the same file: the four
    // series' increments summed per le (rates scale every bucket alike).
    let agg = [(0.1, 10.0), (0.2, 19.0), (f64::INFINITY, 25.0)];
    assert!(close(histogram_quantile(0.3, &agg), 0.075));
    assert!(close(
        histogram_quantile(0.5, &agg),
        0.127_777_777_777_777_8
    ));
}

#[test]
fn quantile_edge_cases_are_prometheus_nan() {
    // No +Inf bucket, no observations, a single bucket: NaN in Prometheus.
    assert_eq!(histogram_quantile(0.5, &[(0.1, 1.0), (1.0, 2.0)]), None);
    assert_eq!(
        histogram_quantile(0.5, &[(0.1, 0.0), (f64::INFINITY, 0.0)]),
        None
    );
    assert_eq!(histogram_quantile(0.5, &[(f64::INFINITY, 3.0)]), None);
    // A rank in the +Inf bucket gives the largest finite bound.
    assert_eq!(
        histogram_quantile(0.95, &[(0.1, 1.0), (f64::INFINITY, 10.0)]),
        Some(0.1)
    );
    // Non-monotonic counts (buckets read at slightly different moments) are raised.
    assert!(close(
        histogram_quantile(0.5, &[(0.1, 4.0), (0.2, 3.0), (f64::INFINITY, 8.0)]),
        0.1
    ));
}

#[test]
fn selectors_parse_and_match_like_promql() {
    let e = body(
        "# TYPE http_requests_total counter\n\
         http_requests_total{code=\"200\",method=\"GET\"} 10\n\
         http_requests_total{code=\"503\",method=\"GET\"} 2\n\
         http_requests_total{code=\"500\",method=\"POST\"} 1\n\
         http_requests_total{method=\"PUT\"} 4\n",
    );
    let sum = |sel: &str| -> f64 { Selector::parse(sel).unwrap().read(&e).values().sum() };
    assert_eq!(sum("http_requests_total"), 17.0);
    assert_eq!(sum("http_requests_total{code!~\"5..\"}"), 14.0); // absent label is ""
    assert_eq!(
        sum("http_requests_total{code=~\"5..\", method=\"GET\"}"),
        2.0
    );
    assert_eq!(sum("http_requests_total{code=~\"5\"}"), 0.0); // anchored
    assert_eq!(sum("http_requests_total{method!=\"GET\",}"), 5.0);
    for bad in [
        "",
        "9lives",
        "x{code=200}",
        "x{code=\"2\"",
        "x{code~\"2\"}",
        "x{code=~\"(\"}",
    ] {
        assert!(Selector::parse(bad).is_err(), "{bad}");
    }
    assert!(
        Selector::parse("x{code=~\"(\"}")
            .unwrap_err()
            .contains("bad regex")
    );
}

#[test]
fn increases_count_a_reset_from_zero() {
    let s = |v: &[(&str, f64)]| -> Series { v.iter().map(|(k, v)| (k.to_string(), *v)).collect() };
    // a: +5; b: restarted (3 < 10) counts 3; c: new since the previous reading, from zero.
    let prev = s(&[("a", 10.0), ("b", 10.0)]);
    let cur = s(&[("a", 15.0), ("b", 3.0), ("c", 2.0)]);
    assert_eq!(increase(&prev, &cur), 10.0);
    assert_eq!(increase(&cur, &cur), 0.0);
}

fn prom_body(ok_01: f64, ok_02: f64, ok_inf: f64, err_inf: f64) -> Exposition {
    // Prometheus's own histogram shape: handler and code labels, one series per code.
    body(&format!(
        "# TYPE prometheus_http_request_duration_seconds histogram\n\
         prometheus_http_request_duration_seconds_bucket{{code=\"200\",handler=\"/q\",le=\"0.1\"}} {ok_01}\n\
         prometheus_http_request_duration_seconds_bucket{{code=\"200\",handler=\"/q\",le=\"0.2\"}} {ok_02}\n\
         prometheus_http_request_duration_seconds_bucket{{code=\"200\",handler=\"/q\",le=\"+Inf\"}} {ok_inf}\n\
         prometheus_http_request_duration_seconds_sum{{code=\"200\",handler=\"/q\"}} 1\n\
         prometheus_http_request_duration_seconds_count{{code=\"200\",handler=\"/q\"}} {ok_inf}\n\
         prometheus_http_request_duration_seconds_bucket{{code=\"503\",handler=\"/q\",le=\"0.1\"}} {err_inf}\n\
         prometheus_http_request_duration_seconds_bucket{{code=\"503\",handler=\"/q\",le=\"0.2\"}} {err_inf}\n\
         prometheus_http_request_duration_seconds_bucket{{code=\"503\",handler=\"/q\",le=\"+Inf\"}} {err_inf}\n\
         prometheus_http_request_duration_seconds_sum{{code=\"503\",handler=\"/q\"}} 1\n\
         prometheus_http_request_duration_seconds_count{{code=\"503\",handler=\"/q\"}} {err_inf}\n"
    ))
}

#[test]
fn http_rates_between_two_readings_by_hand() {
    let a = prom_body(100.0, 150.0, 200.0, 10.0);
    let h = HttpHistogram::detect(&a).unwrap();
    assert_eq!(
        (h.name.as_str(), h.status_label.as_str()),
        ("prometheus_http_request_duration_seconds", "code")
    );
    // 10 s later: 200-series +40 (+20 ≤ 0.1, +10 in (0.1, 0.2], +10 above), 503-series +10 ≤ 0.1.
    let b = prom_body(120.0, 160.0, 240.0, 20.0);
    let r = HttpRates::between(&h.read(&a), &h.read(&b), 10.0);
    assert_eq!(r.requests_per_second, Some(5.0));
    assert_eq!(r.error_ratio, Some(0.2));
    // Buckets by le: 0.1 → 30, 0.2 → 40, +Inf → 50; rank 47.5 lies in +Inf: 0.2.
    assert_eq!(r.latency_p95_seconds, Some(0.2));
    // The app restarted: every series lower, counted from zero (as Prometheus's rate does).
    let c = prom_body(8.0, 9.0, 10.0, 0.0);
    let r = HttpRates::between(&h.read(&b), &h.read(&c), 2.0);
    assert_eq!(r.requests_per_second, Some(5.0));
    assert_eq!(r.error_ratio, Some(0.0));
    // Buckets: 0.1 → 8, 0.2 → 9, +Inf → 10: rank 9.5 in +Inf → 0.2. P50: rank 5 → 0.1 × 5/8.
    assert_eq!(r.latency_p95_seconds, Some(0.2));
    let no_requests = HttpRates::between(&h.read(&c), &h.read(&c), 5.0);
    assert_eq!(
        no_requests,
        HttpRates {
            requests_per_second: Some(0.0),
            error_ratio: None,
            latency_p95_seconds: None
        }
    );
}

#[test]
fn known_histograms_are_detected_by_name() {
    let otel = body(
        "# TYPE http_server_request_duration_seconds histogram\n\
         http_server_request_duration_seconds_bucket{http_response_status_code=\"500\",le=\"+Inf\"} 1\n\
         http_server_request_duration_seconds_count{http_response_status_code=\"500\"} 1\n",
    );
    let h = HttpHistogram::detect(&otel).unwrap();
    assert_eq!(h.status_label, "http_response_status_code");
    assert_eq!(h.read(&otel).errors.values().sum::<f64>(), 1.0);
    let micrometer = body(
        "# TYPE http_server_requests_seconds histogram\n\
         http_server_requests_seconds_count{outcome=\"SUCCESS\",status=\"200\",uri=\"/\"} 3\n",
    );
    assert_eq!(
        HttpHistogram::detect(&micrometer).unwrap().status_label,
        "status"
    );
    let other = body(
        "# TYPE api_latency_seconds histogram\n\
         api_latency_seconds_count{status_code=\"502\"} 3\n",
    );
    assert_eq!(HttpHistogram::detect(&other), None);
    // Without the status label the error ratio is unknown, not 0.
    let no_code = prom_body(1.0, 2.0, 3.0, 0.0);
    let h = HttpHistogram {
        name: "prometheus_http_request_duration_seconds".into(),
        status_label: "status".into(),
    };
    let r = HttpRates::between(
        &h.read(&no_code),
        &h.read(&prom_body(1.0, 2.0, 4.0, 0.0)),
        1.0,
    );
    assert_eq!((r.requests_per_second, r.error_ratio), (Some(1.0), None));
    let h = HttpHistogram::named(&other, "api_latency_seconds", None);
    assert_eq!(h.status_label, "status_code");
    assert_eq!(h.read(&other).errors.values().sum::<f64>(), 3.0);
}

#[test]
fn the_bucket_at_a_threshold_is_exact_or_the_largest_below() {
    let e = prom_body(1.0, 2.0, 3.0, 0.0);
    let h = "prometheus_http_request_duration_seconds";
    assert_eq!(bucket_at(&e, h, 0.2), Some((0.2, true)));
    assert_eq!(bucket_at(&e, h, 0.15), Some((0.1, false)));
    assert_eq!(bucket_at(&e, h, 5.0), Some((0.2, false)));
    assert_eq!(bucket_at(&e, h, 0.05), None);
}
