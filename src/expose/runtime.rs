//! The `sidewatch_runtime_*` families: the app's runtime as its own /metrics shows it (see
//! [`crate::runtime`]). Gauges only for this tick's reading; the GC counters also while the
//! app's endpoint is unreadable, as every counter.

use std::borrow::Cow;

use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType::{Counter, Gauge, Info};
use prometheus_client::registry::Unit;

use crate::encode::{Family, Num, target_labels, with};
use crate::snapshot::Snapshot;

pub(crate) fn encode(s: &Snapshot, enc: &mut DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
    let mut info = Family::new(
        "sidewatch_runtime",
        "The application's runtime (go, jvm, node, python) and its version, recognised from the series of its own /metrics.",
        None,
        Info,
    );
    let mut heap = Family::new(
        "sidewatch_runtime_heap",
        "Heap in use as the application reports it (Go heap_alloc, JVM heap pools used, Node.js V8 heap used).",
        Some(Unit::Bytes),
        Gauge,
    );
    let mut limit = Family::new(
        "sidewatch_runtime_heap_limit",
        "The runtime's heap ceiling: Go GOMEMLIMIT (absent when unset), JVM maximum heap (-Xmx). Absent for Node.js: its committed heap total is no limit.",
        Some(Unit::Bytes),
        Gauge,
    );
    let mut tasks = Family::new(
        "sidewatch_runtime_tasks",
        "Concurrent tasks of the runtime: Go goroutines, JVM live threads, Node.js active libuv handles.",
        None,
        Gauge,
    );
    let mut lag = Family::new(
        "sidewatch_runtime_event_loop_lag",
        "Event-loop delay, 99th percentile as prom-client measures it (Node.js).",
        Some(Unit::Seconds),
        Gauge,
    );
    let mut gcs = Family::new(
        "sidewatch_runtime_gc_collections",
        "GC cycles of the application, cumulative across its restarts (a drop of its own counter counts from zero).",
        None,
        Counter,
    );
    let mut pause = Family::new(
        "sidewatch_runtime_gc_pause",
        "GC time of the application (Go stop-the-world pauses, JVM collection or pause time, Node.js GC duration), cumulative across its restarts.",
        Some(Unit::Seconds),
        Counter,
    );
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
