//! Body rendering, once per tick: OpenMetrics via prometheus-client, the derived text 0.0.4
//! body, and gzip of both (`expose::publish`), on a snapshot of the fixture tree.

mod common;

use criterion::{Criterion, criterion_group, criterion_main};
use sidewatch::expose;
use sidewatch::sampler::Sampler;
use sidewatch::source::proc::ProcReader;
use sidewatch::state::Shared;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

fn render(c: &mut Criterion) {
    let shared = Shared::new(Duration::from_secs(5));
    let mut sampler = Sampler::new(
        ProcReader::new(common::fixture_proc()),
        common::golden_targets(),
        shared,
    );
    let snap = Arc::new(sampler.tick());
    let om = expose::render_openmetrics(Arc::clone(&snap));
    let mut g = c.benchmark_group("expose");
    g.bench_function("publish (render, text, gzip x2)", |b| {
        b.iter(|| black_box(expose::publish(black_box(Arc::clone(&snap)))))
    });
    g.bench_function("render_openmetrics", |b| {
        b.iter(|| black_box(expose::render_openmetrics(Arc::clone(&snap))))
    });
    g.bench_function("openmetrics_to_text", |b| {
        b.iter(|| black_box(expose::openmetrics_to_text(black_box(&om))))
    });
    g.bench_function("gzip", |b| {
        b.iter(|| black_box(expose::gzip(black_box(om.as_bytes()))))
    });
    g.finish();
}

criterion_group!(benches, render);
criterion_main!(benches);
