//! Shared state between the sampler thread and the server: monotonic counters (atomics), the
//! published exposition bodies (swapped atomically once per tick), and liveness figures.
//!
//! The scrape path takes no lock: it loads an `Arc` of the last published bodies and clones a
//! `Bytes` (a reference-count increment). `/metrics` is rendered every tick; its gzip, the status
//! page and the JSON views only on the first request after a tick (most ticks have none), then
//! kept.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use bytes::Bytes;

use crate::lazy::Lazy;

/// A cumulative counter in integer base units that never decreases. Absent until the first
/// value is added, so a figure that was never readable is not exported as 0.
#[derive(Debug, Default)]
pub struct MonoCounter {
    value: AtomicU64,
    present: AtomicBool,
}

impl MonoCounter {
    pub fn add(&self, delta: u64) {
        // Saturating on purpose: a counter pinned at u64::MAX is wrong, a wrapped one is worse.
        let _ = self
            .value
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_add(delta))
            });
        self.present.store(true, Ordering::Release);
    }

    pub fn get(&self) -> Option<u64> {
        self.present
            .load(Ordering::Acquire)
            .then(|| self.value.load(Ordering::Relaxed))
    }
}

/// The cumulative counters of one target. They outlive every process of the target and survive
/// a config reload that leaves the target unchanged.
#[derive(Debug, Default)]
pub struct TargetCounters {
    pub cpu_user_ticks: MonoCounter,
    pub cpu_system_ticks: MonoCounter,
    pub io_read_bytes: MonoCounter,
    pub io_write_bytes: MonoCounter,
    pub voluntary_context_switches: MonoCounter,
    pub involuntary_context_switches: MonoCounter,
    pub minor_faults: MonoCounter,
    pub major_faults: MonoCounter,
    pub cpu_wait_nanoseconds: MonoCounter,
    pub restarts: AtomicU64,
    /// The counters of the target's cgroup (without `cgroup_labels`).
    pub cgroup: CgroupCounters,
}

/// Cumulative counters of a target's cgroup(s), integer base units. Each cgroup (path and
/// inode) contributes from its creation; see `sampler::cgroup` for the accounting.
#[derive(Debug, Default)]
pub struct CgroupCounters {
    pub oom_kills: MonoCounter,
    pub limit_hits: MonoCounter,
    pub cpu_usage_nanoseconds: MonoCounter,
    pub cpu_user_nanoseconds: MonoCounter,
    pub cpu_system_nanoseconds: MonoCounter,
    pub cpu_periods: MonoCounter,
    pub cpu_throttled_periods: MonoCounter,
    pub cpu_throttled_nanoseconds: MonoCounter,
    pub io_read_bytes: MonoCounter,
    pub io_write_bytes: MonoCounter,
    pub io_reads: MonoCounter,
    pub io_writes: MonoCounter,
    pub pressure_cpu_some_microseconds: MonoCounter,
    pub pressure_cpu_full_microseconds: MonoCounter,
    pub pressure_memory_some_microseconds: MonoCounter,
    pub pressure_memory_full_microseconds: MonoCounter,
    pub pressure_io_some_microseconds: MonoCounter,
    pub pressure_io_full_microseconds: MonoCounter,
}

/// The exposition bodies of one tick, each ready to be written as-is.
#[derive(Debug)]
pub struct Published {
    pub text: Bytes,
    /// Gzipped by the first request that asks for it.
    pub text_gzip: Lazy<Bytes>,
    pub openmetrics: Bytes,
    pub openmetrics_gzip: Lazy<Bytes>,
    /// JSON views served under `/api/v1/`: (path, body).
    pub api: Lazy<Vec<(&'static str, Bytes)>>,
    /// The history views of the tick, for the history routes of `/api/v1/`.
    pub history: Option<Arc<crate::history::HistoryViews>>,
    /// The stored profiles of the tick, for `/api/v1/profiles`.
    pub profiles: Option<Arc<crate::profiles::view::ProfileIndex>>,
    /// The status page (`/`), plain and gzipped.
    pub status_page: Lazy<(Bytes, Bytes)>,
}

impl Published {
    /// The JSON body published for `path`, if any.
    pub fn api(&self, path: &str) -> Option<&Bytes> {
        self.api
            .get()
            .iter()
            .find(|(p, _)| *p == path)
            .map(|(_, b)| b)
    }
}

/// State the server reads. Written by the sampler thread.
#[derive(Debug)]
pub struct Shared {
    published: ArcSwapOption<Published>,
    pub scrapes_total: AtomicU64,
    started: Instant,
    /// Milliseconds since `started` at the end of the last tick.
    heartbeat_ms: AtomicU64,
    interval_ms: AtomicU64,
    /// Outcome of the last configuration reload (true at start).
    reload_successful: AtomicBool,
    /// Unix time of the last successful reload (or of the start), milliseconds.
    reload_success_unix_ms: AtomicU64,
}

impl Shared {
    pub fn new(interval: Duration) -> Arc<Self> {
        Arc::new(Shared {
            published: ArcSwapOption::empty(),
            scrapes_total: AtomicU64::new(0),
            started: Instant::now(),
            heartbeat_ms: AtomicU64::new(0),
            interval_ms: AtomicU64::new(duration_ms(interval)),
            reload_successful: AtomicBool::new(true),
            reload_success_unix_ms: AtomicU64::new(unix_ms()),
        })
    }

    pub fn publish(&self, p: Published) {
        self.published.store(Some(Arc::new(p)));
        self.heartbeat_ms
            .store(duration_ms(self.started.elapsed()), Ordering::Release);
    }

    /// The sampling interval in force.
    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.interval_ms.load(Ordering::Relaxed))
    }

    pub fn set_interval(&self, interval: Duration) {
        self.interval_ms
            .store(duration_ms(interval), Ordering::Relaxed);
    }

    /// Records the outcome of a configuration reload.
    pub fn record_reload(&self, ok: bool) {
        self.reload_successful.store(ok, Ordering::Relaxed);
        if ok {
            self.reload_success_unix_ms
                .store(unix_ms(), Ordering::Relaxed);
        }
    }

    /// (last reload successful, Unix time in seconds of the last success).
    pub fn last_reload(&self) -> (bool, f64) {
        (
            self.reload_successful.load(Ordering::Relaxed),
            self.reload_success_unix_ms.load(Ordering::Relaxed) as f64 / 1000.0,
        )
    }

    pub fn published(&self) -> Option<Arc<Published>> {
        self.published.load_full()
    }

    /// Ready once the first tick has been published.
    pub fn is_ready(&self) -> bool {
        self.published.load().is_some()
    }

    /// The sampler is alive if a tick finished within three intervals (plus 5 s of slack for a
    /// slow tick); before the first tick, within the first three intervals.
    pub fn is_healthy(&self) -> bool {
        let now = duration_ms(self.started.elapsed());
        let last = self.heartbeat_ms.load(Ordering::Acquire);
        let allowed = self.interval_ms.load(Ordering::Relaxed) * 3 + 5_000;
        now.saturating_sub(last) <= allowed
    }
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(duration_ms)
        .unwrap_or(0)
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_absent_until_added_and_never_decreases() {
        let c = MonoCounter::default();
        assert_eq!(c.get(), None);
        c.add(0);
        assert_eq!(c.get(), Some(0));
        c.add(5);
        c.add(7);
        assert_eq!(c.get(), Some(12));
        c.add(u64::MAX);
        assert_eq!(c.get(), Some(u64::MAX));
    }

    #[test]
    fn readiness_and_health() {
        let s = Shared::new(Duration::from_secs(1));
        assert!(!s.is_ready());
        assert!(s.is_healthy());
        s.publish(Published {
            text: Bytes::new(),
            text_gzip: Lazy::ready(Bytes::new()),
            openmetrics: Bytes::new(),
            openmetrics_gzip: Lazy::ready(Bytes::new()),
            api: Lazy::ready(Vec::new()),
            history: None,
            profiles: None,
            status_page: Lazy::ready(Default::default()),
        });
        assert!(s.is_ready());
        assert!(s.is_healthy());
    }
}
