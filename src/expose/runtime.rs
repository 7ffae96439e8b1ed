//! The `sidewatch_runtime_*` families: the app's runtime as its own /metrics shows it (see
//! [`crate::runtime`]). Gauges only for this tick's reading; the GC counters also while the
//! app's endpoint is unreadable, as every counter.

use std::borrow::Cow;

use prometheus_client::encoding::DescriptorEncoder;

use crate::catalog;
use crate::encode::{Family, Num, target_labels, with};
use crate::snapshot::Snapshot;

pub(crate) fn encode(s: &Snapshot, enc: &mut DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
    let mut info = Family::of(&catalog::RUNTIME);
    let mut heap = Family::of(&catalog::RUNTIME_HEAP);
    let mut limit = Family::of(&catalog::RUNTIME_HEAP_LIMIT);
    let mut tasks = Family::of(&catalog::RUNTIME_TASKS);
    let mut lag = Family::of(&catalog::RUNTIME_EVENT_LOOP_LAG);
    let mut gcs = Family::of(&catalog::RUNTIME_GC_COLLECTIONS);
    let mut pause = Family::of(&catalog::RUNTIME_GC_PAUSE);
    let f = |v: Option<f64>| v.filter(|v| v.is_finite());
    for t in &s.targets {
        let Some(r) = &t.runtime else { continue };
        let l = target_labels(t);
        if let Some(fig) = &r.figures {
            if let Some(rt) = fig.runtime {
                let mut li = with(&l, "runtime", rt.as_str());
                if let Some(v) = &fig.version {
                    li = with(&li, "version", Cow::Borrowed(v.as_str()));
                }
                info.push(li, Num::U(1));
            }
            for (fam, v) in [
                (&mut heap, fig.heap_bytes),
                (&mut limit, fig.heap_limit_bytes),
                (&mut tasks, fig.tasks),
                (&mut lag, fig.event_loop_lag_seconds),
            ] {
                if let Some(v) = f(v) {
                    fam.push(l.clone(), Num::F(v));
                }
            }
        }
        for (fam, v) in [
            (&mut gcs, r.gc_collections_total),
            (&mut pause, r.gc_pause_seconds_total),
        ] {
            if let Some(v) = f(v) {
                fam.push(l.clone(), Num::F(v));
            }
        }
    }
    for fam in [&info, &heap, &limit, &tasks, &lag, &gcs, &pause] {
        fam.encode(enc)?;
    }
    Ok(())
}
