//! procfs readers on the fixture tree: one file each, as a tick reads them for one process; and
//! the app-metrics exposition parser on real bodies.

#![allow(clippy::unwrap_used)] // benchmark code: a failed unwrap is a broken fixture

mod common;

use criterion::{Criterion, criterion_group, criterion_main};
use sidewatch::source::proc::ProcReader;
use std::hint::black_box;

/// A sleeping process with every file captured (tests/fixtures/proc/MANIFEST.md).
const PID: i32 = 6291;

fn parsers(c: &mut Criterion) {
    let reader = ProcReader::new(common::fixture_proc());
    let mut g = c.benchmark_group("proc");
    g.bench_function("pids", |b| b.iter(|| black_box(reader.pids().unwrap())));
    g.bench_function("open", |b| {
        b.iter(|| black_box(reader.open(black_box(PID)).unwrap()))
    });
    let h = reader.open(PID).unwrap();
    g.bench_function("stat", |b| b.iter(|| black_box(h.stat().unwrap())));
    g.bench_function("figures (status, io, schedstat, fd)", |b| {
        let mut failures = Vec::new();
        b.iter(|| {
            let f = h.figures(false, &mut failures);
            assert!(failures.is_empty());
            black_box(f)
        })
    });
    g.bench_function("limits", |b| {
        b.iter(|| black_box(h.max_fds_soft().unwrap()))
    });
    g.bench_function("one process (open, stat, figures)", |b| {
        let mut failures = Vec::new();
        b.iter(|| {
            let h = reader.open(black_box(PID)).unwrap();
            black_box(h.stat().unwrap());
            black_box(h.figures(false, &mut failures))
        })
    });
    g.finish();
}

/// The app-metrics parser on bodies captured from real applications (tests/fixtures/app).
fn exposition(c: &mut Criterion) {
    use sidewatch::source::exposition::{Format, parse};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/app");
    let mut g = c.benchmark_group("exposition");
    for (file, format) in [
        ("prometheus-2.42.txt", Format::Text004),
        ("python-client-0.16.om.txt", Format::OpenMetrics),
    ] {
        let body = std::fs::read_to_string(dir.join(file)).unwrap();
        g.bench_function(file, |b| {
            b.iter(|| black_box(parse(black_box(&body), format).unwrap()))
        });
    }
}

criterion_group!(benches, parsers, exposition);
criterion_main!(benches);
