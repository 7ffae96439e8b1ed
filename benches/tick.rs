//! The counter update: one `Sampler::tick` (discovery, reads, per-process deltas into the
//! targets' counters, snapshot) on the fixture tree with the golden config's targets.

mod common;

use criterion::{Criterion, criterion_group, criterion_main};
use sidewatch::sampler::Sampler;
use sidewatch::source::proc::ProcReader;
use sidewatch::state::Shared;
use std::hint::black_box;
use std::time::Duration;

fn tick(c: &mut Criterion) {
    let shared = Shared::new(Duration::from_secs(5));
    let mut sampler = Sampler::new(
        ProcReader::new(common::fixture_proc()),
        common::golden_targets(),
        shared,
    );
    // The first tick reads exe/cmdline once per process identity; later ticks are the steady
    // state measured here.
    sampler.tick();
    c.bench_function("sampler tick (fixture tree, golden targets)", |b| {
        b.iter(|| black_box(sampler.tick()))
    });
}

criterion_group!(benches, tick);
criterion_main!(benches);
