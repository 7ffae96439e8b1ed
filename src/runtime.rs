//! Runtime figures of the watched application, detected from the series its own `/metrics`
//! has (the app-metrics source's [`Exposition`]): which runtime it is, its version, heap,
//! heap limit, tasks (goroutines, threads, handles), GC cycles and pause time, event-loop lag.
//! Pure: an exposition in, typed figures out; [`RuntimeCounters`] turns the app's own counters
//! (which restart from zero with the app) into restart-proof totals tick to tick.
//!
//! Recognised by (the first runtime whose series are present wins, in this order):
//! - **Go** (client_golang): `go_goroutines` or `go_info`. Heap `go_memstats_heap_alloc_bytes`
//!   (bytes of live and not yet swept objects; else `go_memstats_heap_inuse_bytes`), limit
//!   `go_gc_gomemlimit_bytes` (absent at math.MaxInt64, Go's "no limit"), tasks `go_goroutines`,
//!   GC `go_gc_duration_seconds` summary (`_count` = cycles, `_sum` = stop-the-world pause
//!   seconds), `go_gc_gogc_percent`, `go_sched_gomaxprocs_threads`, version `go_info{version}`.
//! - **JVM**: client_java (`jvm_memory_used_bytes{area="heap"}`, 0.x `jvm_memory_bytes_used`,
//!   `jvm_memory_max_bytes`, `jvm_gc_collection_seconds` summary per `gc`, `jvm_threads_current`,
//!   `jvm_info` / `jvm_runtime_info{version}`) or Micrometer (`jvm_memory_used_bytes{area="heap",
//!   id}` summed over pools, `jvm_gc_pause_seconds` per action/cause/gc, `jvm_threads_live_threads`).
//!   Limit: the sum of the heap pools' non-negative maxima (-1 is "undefined").
//! - **Node.js** (prom-client): `nodejs_version_info` or `nodejs_heap_size_used_bytes`. Heap
//!   `nodejs_heap_size_used_bytes`; no limit (`nodejs_heap_size_total_bytes` is the heap V8 has
//!   committed now, not a ceiling: a ratio against it would read "full" on a healthy app); tasks
//!   `nodejs_active_handles_total` (else the sum of `nodejs_active_handles` by type: sockets,
//!   timers and servers keeping the loop alive, what leaks in Node); GC `nodejs_gc_duration_seconds`
//!   histogram summed over `kind`; lag `nodejs_eventloop_lag_p99_seconds`.
//! - **Python** (prometheus_client): `python_info` or `python_gc_collections_total`. GC cycles
//!   `python_gc_collections_total` summed over `generation`; nothing else (its threads are the
//!   process figures sidewatch reads from procfs).

use serde::Serialize;

use crate::source::exposition::Exposition;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    Go,
    Jvm,
    Node,
    Python,
}

impl Runtime {
    /// The `runtime` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Go => "go",
            Runtime::Jvm => "jvm",
            Runtime::Node => "node",
            Runtime::Python => "python",
        }
    }

    /// What `tasks` counts for this runtime (status page, README).
    pub fn tasks_title(self) -> &'static str {
        match self {
            Runtime::Go => "goroutines",
            Runtime::Jvm => "live threads",
            Runtime::Node => "active handles",
            Runtime::Python => "tasks",
        }
    }
}

/// One exposition's runtime figures, in base units. `None`: the app does not expose it.
/// `gc_collections` and `gc_pause_seconds` are the app's own counters (they restart with it).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeFigures {
    pub runtime: Option<Runtime>,
    pub version: Option<String>,
    pub heap_bytes: Option<f64>,
    pub heap_limit_bytes: Option<f64>,
    pub tasks: Option<f64>,
    pub gc_collections: Option<f64>,
    pub gc_pause_seconds: Option<f64>,
    pub event_loop_lag_seconds: Option<f64>,
    pub gogc_percent: Option<f64>,
    pub gomaxprocs: Option<f64>,
}

/// The sum of every sample named `name` whose labels include all of `want`; `None` when there
/// is none (a missing series stays missing, never 0).
fn sum(e: &Exposition, name: &str, want: &[(&str, &str)]) -> Option<f64> {
    e.samples(name)
        .filter(|s| want.iter().all(|(k, v)| s.label(k) == Some(*v)))
        .filter(|s| s.value.is_finite())
        .fold(None, |a, s| Some(a.unwrap_or(0.0) + s.value))
}

fn first(e: &Exposition, names: &[&str]) -> Option<f64> {
    names
        .iter()
        .find_map(|n| e.value(n, &[]))
        .filter(|v| v.is_finite())
}

fn label(e: &Exposition, names: &[&str], label: &str) -> Option<String> {
    names.iter().find_map(|n| {
        e.samples(n)
            .find_map(|s| s.label(label))
            .map(str::to_string)
    })
}

fn has(e: &Exposition, names: &[&str]) -> bool {
    names.iter().any(|n| e.samples(n).next().is_some())
}

/// The runtime figures of `e`, or `None` when no known runtime's series are there.
pub fn detect(e: &Exposition) -> Option<RuntimeFigures> {
    if has(e, &["go_goroutines", "go_info"]) {
        Some(go(e))
    } else if has(
        e,
        &[
            "jvm_memory_used_bytes",
            "jvm_memory_bytes_used",
            "jvm_threads_current",
            "jvm_threads_live_threads",
            "jvm_info",
            "jvm_runtime_info",
        ],
    ) {
        Some(jvm(e))
    } else if has(e, &["nodejs_version_info", "nodejs_heap_size_used_bytes"]) {
        Some(node(e))
    } else if has(e, &["python_info", "python_gc_collections_total"]) {
        Some(python(e))
    } else {
        None
    }
}

fn go(e: &Exposition) -> RuntimeFigures {
    // GOMEMLIMIT unset is math.MaxInt64 bytes: no limit.
    let limit = first(e, &["go_gc_gomemlimit_bytes"]).filter(|v| *v < i64::MAX as f64);
    RuntimeFigures {
        runtime: Some(Runtime::Go),
        version: label(e, &["go_info"], "version"),
        heap_bytes: first(
            e,
            &[
                "go_memstats_heap_alloc_bytes",
                "go_memstats_heap_inuse_bytes",
            ],
        ),
        heap_limit_bytes: limit,
        tasks: first(e, &["go_goroutines", "go_sched_goroutines_goroutines"]),
        gc_collections: first(e, &["go_gc_duration_seconds_count"]),
        gc_pause_seconds: first(e, &["go_gc_duration_seconds_sum"]),
        gogc_percent: first(e, &["go_gc_gogc_percent"]),
        gomaxprocs: first(e, &["go_sched_gomaxprocs_threads"]),
        ..Default::default()
    }
}

fn jvm(e: &Exposition) -> RuntimeFigures {
    let heap = [("area", "heap")];
    let used = sum(e, "jvm_memory_used_bytes", &heap).or(sum(e, "jvm_memory_bytes_used", &heap));
    // A pool without a maximum says -1; the heap's limit is what the defined maxima add up to.
    let max_of = |name: &str| {
        e.samples(name)
            .filter(|s| s.label("area") == Some("heap") && s.value >= 0.0)
            .fold(None, |a: Option<f64>, s| Some(a.unwrap_or(0.0) + s.value))
    };
    let limit = max_of("jvm_memory_max_bytes").or(max_of("jvm_memory_bytes_max"));
    // client_java's collector summary first, else Micrometer's pause timer.
    let (count, pause) = match sum(e, "jvm_gc_collection_seconds_count", &[]) {
        Some(c) => (Some(c), sum(e, "jvm_gc_collection_seconds_sum", &[])),
        None => (
            sum(e, "jvm_gc_pause_seconds_count", &[]),
            sum(e, "jvm_gc_pause_seconds_sum", &[]),
        ),
    };
    RuntimeFigures {
        runtime: Some(Runtime::Jvm),
        version: label(e, &["jvm_info", "jvm_runtime_info"], "version"),
        heap_bytes: used,
        heap_limit_bytes: limit,
        tasks: first(e, &["jvm_threads_current", "jvm_threads_live_threads"]),
        gc_collections: count,
        gc_pause_seconds: pause,
        ..Default::default()
    }
}

fn node(e: &Exposition) -> RuntimeFigures {
    RuntimeFigures {
        runtime: Some(Runtime::Node),
        version: label(e, &["nodejs_version_info"], "version"),
        heap_bytes: first(e, &["nodejs_heap_size_used_bytes"]),
        tasks: first(e, &["nodejs_active_handles_total"])
            .or_else(|| sum(e, "nodejs_active_handles", &[])),
        gc_collections: sum(e, "nodejs_gc_duration_seconds_count", &[]),
        gc_pause_seconds: sum(e, "nodejs_gc_duration_seconds_sum", &[]),
        event_loop_lag_seconds: first(e, &["nodejs_eventloop_lag_p99_seconds"]),
        ..Default::default()
    }
}

fn python(e: &Exposition) -> RuntimeFigures {
    RuntimeFigures {
        runtime: Some(Runtime::Python),
        version: label(e, &["python_info"], "version"),
        gc_collections: sum(e, "python_gc_collections_total", &[]),
        ..Default::default()
    }
}

/// One of the app's counters made restart-proof: the first reading contributes its whole value
/// (the app counted from its start), later ones the increase; a reading below the previous one
/// is an app restart, and the new value is the increase since it (Prometheus's counter-reset
/// rule). A tick without a reading adds nothing and forgets nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Accumulator {
    total: Option<f64>,
    prev: Option<(f64, f64)>,
    /// Increase per second between the two latest readings.
    rate: Option<f64>,
}

impl Accumulator {
    /// Takes the app's counter at time `now` (seconds); `None`: not read this tick.
    pub fn observe(&mut self, now: f64, value: Option<f64>) {
        let Some(v) = value.filter(|v| v.is_finite() && *v >= 0.0) else {
            self.rate = None;
            return;
        };
        let delta = match self.prev {
            Some((_, p)) if v >= p => v - p,
            _ => v,
        };
        self.rate = match self.prev {
            Some((t, _)) if now > t => Some(delta / (now - t)),
            _ => None,
        };
        self.total = Some(self.total.unwrap_or(0.0) + delta);
        self.prev = Some((now, v));
    }

    pub fn total(&self) -> Option<f64> {
        self.total
    }

    pub fn rate(&self) -> Option<f64> {
        self.rate
    }
}

/// The restart-proof GC counters of one target, kept by the sampler across ticks.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RuntimeCounters {
    pub gc_collections: Accumulator,
    pub gc_pause_seconds: Accumulator,
}

impl RuntimeCounters {
    /// Adds this tick's figures (`None`: the app's metrics were not read) and returns the
    /// target's runtime sample.
    pub fn update(&mut self, now: f64, figures: Option<RuntimeFigures>) -> RuntimeSample {
        let f = figures.as_ref();
        self.gc_collections
            .observe(now, f.and_then(|f| f.gc_collections));
        self.gc_pause_seconds
            .observe(now, f.and_then(|f| f.gc_pause_seconds));
        RuntimeSample {
            figures,
            gc_collections_total: self.gc_collections.total(),
            gc_pause_seconds_total: self.gc_pause_seconds.total(),
            gc_per_second: self.gc_collections.rate(),
            gc_pause_ratio: self.gc_pause_seconds.rate(),
        }
    }
}

/// A target's runtime in one tick: the figures read now (`None` when the app's metrics were
/// not read or show no known runtime) and the restart-proof GC totals (kept while unread).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeSample {
    pub figures: Option<RuntimeFigures>,
    pub gc_collections_total: Option<f64>,
    pub gc_pause_seconds_total: Option<f64>,
    /// GC cycles per second between the last two readings.
    pub gc_per_second: Option<f64>,
    /// GC pause seconds per second between the last two readings.
    pub gc_pause_ratio: Option<f64>,
}

#[cfg(test)]
#[path = "runtime_tests.rs"]
mod tests;
