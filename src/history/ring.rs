//! The storage of one target's history: fixed-size rings whose memory does not depend on uptime.
//!
//! - [`RawRing`]: every tick's [`Point`] for the last hour (capacity from the interval, at most
//!   [`RAW_MAX_POINTS`]), kept in immutable 64-point chunks so a tick can publish a view of it by
//!   cloning a few `Arc`s instead of copying the samples.
//! - [`SlotRing`]: per-minute (24 h) and per-hour (14 d) aggregates, [`Slot`]: min, max and mean
//!   of each [`Signal`] plus the last limits and counters; preallocated.
//! - [`Day`]: per-day working-set peak, sampled time and a histogram of per-minute CPU usage
//!   (the advisor's inputs), 15 days.
//!
//! Memory figures are kept in KiB as `u32` in points (exact: procfs reports kB, cgroup figures are
//! whole pages) and as `f32` bytes in aggregates (relative precision 6·10⁻⁸).

use std::collections::VecDeque;
use std::sync::Arc;

/// "Not read" in a `u32` field.
pub const ABSENT: u32 = u32::MAX;

/// The raw ring never holds more than this many points (one hour at a 1 s interval).
pub const RAW_MAX_POINTS: usize = 3600;
/// Nor fewer (the trend segments need points at the shortest windows).
pub const RAW_MIN_POINTS: usize = 128;
/// Points per immutable chunk of the raw ring.
pub const CHUNK: usize = 64;
/// 24 hours of minutes.
pub const MINUTE_SLOTS: usize = 24 * 60;
/// 14 days of hours.
pub const HOUR_SLOTS: usize = 14 * 24;
/// The current day and the 14 before it.
pub const DAY_SLOTS: usize = 15;

/// The signals the history keeps, each with min, max and mean per minute and hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    /// Rate of user + system CPU seconds between two ticks, in cores.
    CpuCores,
    /// The cgroup working set (the largest of the target's cgroups), else the sum of RSS.
    WorkingSet,
    Rss,
    Threads,
    OpenFds,
    /// Goroutines, JVM threads or Node.js handles, from the app's own /metrics.
    RuntimeTasks,
    /// Heap in use as the app's runtime reports it.
    RuntimeHeap,
    /// The fullest accept queue of the target's listening sockets, a share of its backlog.
    AcceptQueue,
}

/// How many signals the history keeps.
pub const SIGNALS: usize = 8;

impl Signal {
    pub const ALL: [Signal; SIGNALS] = [
        Signal::CpuCores,
        Signal::WorkingSet,
        Signal::Rss,
        Signal::Threads,
        Signal::OpenFds,
        Signal::RuntimeTasks,
        Signal::RuntimeHeap,
        Signal::AcceptQueue,
    ];

    /// The JSON name, the same as the rule signal of the same quantity.
    pub fn name(self) -> &'static str {
        match self {
            Signal::CpuCores => "cpu_cores",
            Signal::WorkingSet => "memory_working_set_bytes",
            Signal::Rss => "memory_rss_bytes",
            Signal::Threads => "threads",
            Signal::OpenFds => "open_fds",
            Signal::RuntimeTasks => "runtime_tasks",
            Signal::RuntimeHeap => "runtime_heap_bytes",
            Signal::AcceptQueue => "accept_queue_ratio",
        }
    }

    pub fn index(self) -> usize {
        match self {
            Signal::CpuCores => 0,
            Signal::WorkingSet => 1,
            Signal::Rss => 2,
            Signal::Threads => 3,
            Signal::OpenFds => 4,
            Signal::RuntimeTasks => 5,
            Signal::RuntimeHeap => 6,
            Signal::AcceptQueue => 7,
        }
    }
}

/// One tick of one target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Unix seconds.
    pub t: f64,
    /// NaN when unknown (the first tick of a target, or after it was down).
    pub cpu_cores: f32,
    pub working_set_kib: u32,
    pub rss_kib: u32,
    pub threads: u32,
    pub open_fds: u32,
    pub memory_limit_kib: u32,
    /// NaN when unlimited or unknown.
    pub cpu_limit_cores: f32,
    /// Cumulative OOM kills of the target's cgroup(s).
    pub oom_kills: u32,
    /// Cumulative restarts of the main process.
    pub restarts: u32,
    pub runtime_tasks: u32,
    pub runtime_heap_kib: u32,
    /// NaN when unknown (no listening socket, or its backlog unreadable).
    pub accept_queue_ratio: f32,
}

impl Default for Point {
    fn default() -> Self {
        Point {
            t: 0.0,
            cpu_cores: f32::NAN,
            working_set_kib: ABSENT,
            rss_kib: ABSENT,
            threads: ABSENT,
            open_fds: ABSENT,
            memory_limit_kib: ABSENT,
            cpu_limit_cores: f32::NAN,
            oom_kills: ABSENT,
            restarts: ABSENT,
            runtime_tasks: ABSENT,
            runtime_heap_kib: ABSENT,
            accept_queue_ratio: f32::NAN,
        }
    }
}

/// Bytes to KiB, rounded to the nearest; `None` → [`ABSENT`]; saturates below it (4 TiB).
pub fn to_kib(bytes: Option<u64>) -> u32 {
    match bytes {
        None => ABSENT,
        Some(b) => u32::try_from(b.saturating_add(512) / 1024)
            .unwrap_or(ABSENT - 1)
            .min(ABSENT - 1),
    }
}

/// A count as `u32`; `None` → [`ABSENT`].
pub fn to_u32(v: Option<u64>) -> u32 {
    match v {
        None => ABSENT,
        Some(v) => u32::try_from(v).unwrap_or(ABSENT - 1).min(ABSENT - 1),
    }
}

pub fn to_f32(v: Option<f64>) -> f32 {
    match v {
        Some(v) if v.is_finite() => v as f32,
        _ => f32::NAN,
    }
}

pub fn kib_bytes(v: u32) -> Option<f64> {
    (v != ABSENT).then(|| f64::from(v) * 1024.0)
}

pub fn count(v: u32) -> Option<f64> {
    (v != ABSENT).then(|| f64::from(v))
}

pub fn float(v: f32) -> Option<f64> {
    (!v.is_nan()).then_some(f64::from(v))
}

impl Point {
    /// The signal in base units (cores, bytes, counts).
    pub fn get(&self, s: Signal) -> Option<f64> {
        match s {
            Signal::CpuCores => float(self.cpu_cores),
            Signal::WorkingSet => kib_bytes(self.working_set_kib),
            Signal::Rss => kib_bytes(self.rss_kib),
            Signal::Threads => count(self.threads),
            Signal::OpenFds => count(self.open_fds),
            Signal::RuntimeTasks => count(self.runtime_tasks),
            Signal::RuntimeHeap => kib_bytes(self.runtime_heap_kib),
            Signal::AcceptQueue => float(self.accept_queue_ratio),
        }
    }

    pub fn memory_limit_bytes(&self) -> Option<f64> {
        kib_bytes(self.memory_limit_kib)
    }

    pub fn cpu_limit(&self) -> Option<f64> {
        float(self.cpu_limit_cores)
    }
}

// ---------------------------------------------------------------------------------------------
// Raw points.

/// The last hour of points in immutable chunks: the newest chunk is open (mutable), older ones
/// are shared `Arc<[Point]>`. Holds at least `capacity` points once full, and fewer than
/// `capacity + CHUNK`.
#[derive(Debug)]
pub struct RawRing {
    capacity: usize,
    sealed: VecDeque<Arc<[Point]>>,
    open: Vec<Point>,
}

/// How many points one hour holds at `interval_seconds`, bounded to
/// [`RAW_MIN_POINTS`]..=[`RAW_MAX_POINTS`].
pub fn raw_capacity(interval_seconds: f64) -> usize {
    let n = if interval_seconds > 0.0 {
        (3600.0 / interval_seconds).ceil()
    } else {
        RAW_MAX_POINTS as f64
    };
    // A float in range converts exactly; clamping first keeps it in range.
    (n.clamp(RAW_MIN_POINTS as f64, RAW_MAX_POINTS as f64)) as usize
}

impl RawRing {
    pub fn new(capacity: usize) -> Self {
        RawRing {
            capacity: capacity.clamp(1, RAW_MAX_POINTS),
            sealed: VecDeque::with_capacity(RAW_MAX_POINTS.div_ceil(CHUNK) + 1),
            open: Vec::with_capacity(CHUNK),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// A new capacity (after the interval changed); the oldest chunks go when it shrinks.
    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity.clamp(1, RAW_MAX_POINTS);
        self.trim();
    }

    fn max_sealed(&self) -> usize {
        self.capacity.div_ceil(CHUNK)
    }

    fn trim(&mut self) {
        while self.sealed.len() > self.max_sealed() {
            self.sealed.pop_front();
        }
    }

    pub fn push(&mut self, p: Point) {
        self.open.push(p);
        if self.open.len() == CHUNK {
            let full = std::mem::replace(&mut self.open, Vec::with_capacity(CHUNK));
            self.sealed.push_back(Arc::from(full));
            self.trim();
        }
    }

    pub fn len(&self) -> usize {
        self.sealed.iter().map(|c| c.len()).sum::<usize>() + self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty() && self.sealed.is_empty()
    }

    /// Oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Point> + '_ {
        self.sealed
            .iter()
            .flat_map(|c| c.iter())
            .chain(self.open.iter())
    }

    pub fn newest(&self) -> Option<&Point> {
        self.iter().next_back()
    }

    pub fn oldest(&self) -> Option<&Point> {
        self.iter().next()
    }

    /// An immutable view for publishing: clones the `Arc`s of the sealed chunks and copies the
    /// open one (at most 63 points).
    pub fn view(&self) -> RawView {
        RawView {
            sealed: self.sealed.iter().cloned().collect(),
            open: Arc::from(&self.open[..]),
        }
    }

    /// Heap bytes this ring can hold at most: its chunks (plus the one a published view may
    /// still share), the open chunk, and the chunk index.
    pub fn max_heap_bytes(&self) -> usize {
        let chunk = CHUNK * std::mem::size_of::<Point>() + 2 * std::mem::size_of::<usize>();
        (self.max_sealed() + 1) * chunk
            + self.open.capacity() * std::mem::size_of::<Point>()
            + self.sealed.capacity() * std::mem::size_of::<Arc<[Point]>>()
    }

    /// Heap bytes in use now (same accounting).
    pub fn heap_bytes(&self) -> usize {
        let chunk = CHUNK * std::mem::size_of::<Point>() + 2 * std::mem::size_of::<usize>();
        self.sealed.len() * chunk
            + self.open.capacity() * std::mem::size_of::<Point>()
            + self.sealed.capacity() * std::mem::size_of::<Arc<[Point]>>()
    }
}

/// What a tick publishes of the raw ring: shared chunks, read at request time.
#[derive(Debug, Clone, Default)]
pub struct RawView {
    sealed: Vec<Arc<[Point]>>,
    open: Arc<[Point]>,
}

impl RawView {
    pub fn newest_first(&self) -> impl Iterator<Item = &Point> + '_ {
        self.open
            .iter()
            .rev()
            .chain(self.sealed.iter().rev().flat_map(|c| c.iter().rev()))
    }

    pub fn len(&self) -> usize {
        self.sealed.iter().map(|c| c.len()).sum::<usize>() + self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

// ---------------------------------------------------------------------------------------------
// Aggregates.

/// Min, max and mean of one signal over a slot; NaN when the signal had no value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stat3 {
    pub min: f32,
    pub max: f32,
    pub mean: f32,
}

impl Default for Stat3 {
    fn default() -> Self {
        Stat3 {
            min: f32::NAN,
            max: f32::NAN,
            mean: f32::NAN,
        }
    }
}

/// One minute or one hour of a target.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Slot {
    /// Start of the slot, Unix seconds (a multiple of 60 or 3600).
    pub start: u32,
    /// Ticks recorded in the slot.
    pub samples: u32,
    /// Indexed by [`Signal::index`], base units.
    pub stats: [Stat3; SIGNALS],
    /// The last value seen in the slot.
    pub memory_limit_kib: u32,
    pub cpu_limit_cores: f32,
    pub oom_kills: u32,
    pub restarts: u32,
}

impl Slot {
    pub fn stat(&self, s: Signal) -> Stat3 {
        self.stats[s.index()]
    }
}

#[derive(Debug, Clone, Copy)]
struct SignalAcc {
    min: f64,
    max: f64,
    /// Sum of values (points) or of mean × samples (slots).
    sum: f64,
    /// Points or samples behind `sum`.
    n: f64,
}

impl Default for SignalAcc {
    fn default() -> Self {
        SignalAcc {
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            sum: 0.0,
            n: 0.0,
        }
    }
}

impl SignalAcc {
    fn stat(&self) -> Stat3 {
        if self.n == 0.0 {
            return Stat3::default();
        }
        Stat3 {
            min: self.min as f32,
            max: self.max as f32,
            mean: (self.sum / self.n) as f32,
        }
    }
}

/// The slot being filled: a minute from points, or an hour from minutes.
#[derive(Debug, Clone)]
pub struct Accum {
    start: i64,
    samples: u32,
    acc: [SignalAcc; SIGNALS],
    memory_limit_kib: u32,
    cpu_limit_cores: f32,
    oom_kills: u32,
    restarts: u32,
}

impl Accum {
    pub fn new(start: i64) -> Self {
        Accum {
            start,
            samples: 0,
            acc: [SignalAcc::default(); SIGNALS],
            memory_limit_kib: ABSENT,
            cpu_limit_cores: f32::NAN,
            oom_kills: ABSENT,
            restarts: ABSENT,
        }
    }

    pub fn start(&self) -> i64 {
        self.start
    }

    pub fn is_empty(&self) -> bool {
        self.samples == 0
    }

    pub fn add_point(&mut self, p: &Point) {
        self.samples = self.samples.saturating_add(1);
        for s in Signal::ALL {
            if let Some(v) = p.get(s) {
                let a = &mut self.acc[s.index()];
                a.min = a.min.min(v);
                a.max = a.max.max(v);
                a.sum += v;
                a.n += 1.0;
            }
        }
        self.memory_limit_kib = p.memory_limit_kib;
        self.cpu_limit_cores = p.cpu_limit_cores;
        if p.oom_kills != ABSENT {
            self.oom_kills = p.oom_kills;
        }
        self.restarts = p.restarts;
    }

    /// Merges a finished minute into an hour; the mean is weighted by the minute's samples.
    pub fn add_slot(&mut self, s: &Slot) {
        self.samples = self.samples.saturating_add(s.samples);
        let w = f64::from(s.samples.max(1));
        for sig in Signal::ALL {
            let st = s.stat(sig);
            if st.mean.is_nan() {
                continue;
            }
            let a = &mut self.acc[sig.index()];
            a.min = a.min.min(f64::from(st.min));
            a.max = a.max.max(f64::from(st.max));
            a.sum += f64::from(st.mean) * w;
            a.n += w;
        }
        self.memory_limit_kib = s.memory_limit_kib;
        self.cpu_limit_cores = s.cpu_limit_cores;
        if s.oom_kills != ABSENT {
            self.oom_kills = s.oom_kills;
        }
        self.restarts = s.restarts;
    }

    pub fn slot(&self) -> Slot {
        let mut stats = [Stat3::default(); SIGNALS];
        for (st, a) in stats.iter_mut().zip(&self.acc) {
            *st = a.stat();
        }
        Slot {
            start: u32::try_from(self.start.max(0)).unwrap_or(u32::MAX),
            samples: self.samples,
            stats,
            memory_limit_kib: self.memory_limit_kib,
            cpu_limit_cores: self.cpu_limit_cores,
            oom_kills: self.oom_kills,
            restarts: self.restarts,
        }
    }
}

/// A ring of slots, oldest first, growing with what it holds up to `capacity`; pushing onto a
/// full ring drops the oldest.
#[derive(Debug)]
pub struct SlotRing {
    slots: VecDeque<Slot>,
    capacity: usize,
}

impl SlotRing {
    pub fn new(capacity: usize) -> Self {
        SlotRing {
            slots: VecDeque::new(),
            capacity,
        }
    }

    pub fn push(&mut self, s: Slot) {
        crate::bounded::push(&mut self.slots, self.capacity, s);
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Slot> + '_ {
        self.slots.iter()
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>()
    }
}

// ---------------------------------------------------------------------------------------------
// Days: the advisor's inputs.

/// Buckets of the CPU histogram: bucket 0 holds usage up to 1 millicore, bucket `i` usage in
/// (0.001·1.05^(i−1), 0.001·1.05^i] cores, the last one everything above ~241 cores, like
/// the Kubernetes VPA recommender's exponential buckets (5 % wide).
pub const CPU_BUCKETS: usize = 256;
const CPU_FIRST_BOUND: f64 = 0.001;
const CPU_GROWTH: f64 = 1.05;

/// Per-minute CPU usage counts in exponential buckets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuHistogram {
    counts: [u32; CPU_BUCKETS],
}

impl Default for CpuHistogram {
    fn default() -> Self {
        CpuHistogram {
            counts: [0; CPU_BUCKETS],
        }
    }
}

impl CpuHistogram {
    pub fn bucket_of(cores: f64) -> usize {
        if cores.is_nan() || cores <= CPU_FIRST_BOUND {
            return 0;
        }
        let i = ((cores / CPU_FIRST_BOUND).ln() / CPU_GROWTH.ln()).ceil();
        // Rounding may put a value a hair above a bound into the bucket below; correct it.
        let mut i = (i.clamp(0.0, (CPU_BUCKETS - 1) as f64)) as usize;
        while i < CPU_BUCKETS - 1 && cores > Self::upper_bound(i) {
            i += 1;
        }
        i
    }

    /// The upper bound of bucket `i` in cores.
    pub fn upper_bound(i: usize) -> f64 {
        CPU_FIRST_BOUND * CPU_GROWTH.powi(i32::try_from(i).unwrap_or(i32::MAX))
    }

    pub fn add(&mut self, cores: f64) {
        let i = Self::bucket_of(cores);
        self.counts[i] = self.counts[i].saturating_add(1);
    }

    pub fn merge(&mut self, other: &CpuHistogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a = a.saturating_add(*b);
        }
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().map(|c| u64::from(*c)).sum()
    }

    /// The nearest-rank `p` quantile, as the upper bound of its bucket (so at most 5 % above
    /// the true value, never below it). `None` when empty.
    pub fn quantile(&self, p: f64) -> Option<f64> {
        let n = self.total();
        if n == 0 {
            return None;
        }
        let rank = ((p.clamp(0.0, 1.0) * n as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, c) in self.counts.iter().enumerate() {
            seen += u64::from(*c);
            if seen >= rank {
                return Some(Self::upper_bound(i));
            }
        }
        Some(Self::upper_bound(CPU_BUCKETS - 1))
    }
}

/// One day (UTC) of a target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Day {
    /// Unix day number (Unix seconds / 86,400).
    pub day: u32,
    /// Time covered by samples (each tick counts the time since the previous one, at most two
    /// intervals).
    pub sampled_seconds: f64,
    /// The highest working set of any tick of the day, bytes; NaN when none was read.
    pub working_set_peak: f64,
    /// Per-minute mean CPU usage of the minutes that ended in this day.
    pub cpu_minutes: CpuHistogram,
}

impl Day {
    pub fn new(day: u32) -> Self {
        Day {
            day,
            sampled_seconds: 0.0,
            working_set_peak: f64::NAN,
            cpu_minutes: CpuHistogram::default(),
        }
    }
}

/// An increase of the OOM kill counter, with what was known just before it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OomEvent {
    pub t: f64,
    pub kills: u32,
    /// The memory limit in force, bytes.
    pub limit_bytes: Option<f64>,
    /// The working set at the last tick before, bytes.
    pub working_set_bytes: Option<f64>,
}

/// OOM events kept per target (older ones beyond 14 days are dropped too).
pub const OOM_EVENTS: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(t: f64, ws_kib: u32) -> Point {
        Point {
            t,
            working_set_kib: ws_kib,
            ..Default::default()
        }
    }

    #[test]
    fn raw_capacity_follows_the_interval_within_bounds() {
        assert_eq!(raw_capacity(5.0), 720);
        assert_eq!(raw_capacity(1.0), 3600);
        assert_eq!(raw_capacity(0.1), RAW_MAX_POINTS);
        assert_eq!(raw_capacity(60.0), RAW_MIN_POINTS);
        assert_eq!(raw_capacity(0.0), RAW_MAX_POINTS);
    }

    #[test]
    fn raw_ring_keeps_the_newest_points_in_chunks() {
        let mut r = RawRing::new(200);
        for i in 0..1000 {
            r.push(pt(f64::from(i), i as u32));
        }
        // 200 points rounded up to whole chunks (4 × 64 = 256) plus the open chunk (1000 % 64).
        assert_eq!(r.len(), 256 + 1000 % 64);
        assert_eq!(r.newest().unwrap().t, 999.0);
        assert_eq!(r.oldest().unwrap().t, f64::from(1000 - 256 - 1000 % 64));
        let v = r.view();
        let ts: Vec<f64> = v.newest_first().take(3).map(|p| p.t).collect();
        assert_eq!(ts, vec![999.0, 998.0, 997.0]);
        assert_eq!(v.len(), r.len());
        // The view is unaffected by later pushes.
        r.push(pt(1000.0, 0));
        assert_eq!(v.newest_first().next().unwrap().t, 999.0);
        r.set_capacity(64);
        assert!(r.len() <= 64 + CHUNK);
    }

    #[test]
    fn kib_conversions() {
        assert_eq!(to_kib(Some(4096)), 4);
        assert_eq!(to_kib(Some(1536)), 2);
        assert_eq!(to_kib(None), ABSENT);
        assert_eq!(to_kib(Some(u64::MAX)), ABSENT - 1);
        assert_eq!(kib_bytes(4), Some(4096.0));
        assert_eq!(kib_bytes(ABSENT), None);
    }

    #[test]
    fn accumulators_aggregate_minutes_and_hours() {
        let mut m = Accum::new(60);
        for (t, ws) in [(60.0, 10), (61.0, 30), (62.0, 20)] {
            m.add_point(&pt(t, ws));
        }
        let s = m.slot();
        let st = s.stat(Signal::WorkingSet);
        assert_eq!((st.min, st.max, st.mean), (10240.0, 30720.0, 20480.0));
        assert_eq!(s.samples, 3);
        assert!(s.stat(Signal::Threads).mean.is_nan());
        let mut h = Accum::new(0);
        h.add_slot(&s);
        let mut m2 = Accum::new(120);
        m2.add_point(&pt(120.0, 50));
        h.add_slot(&m2.slot());
        let st = h.slot().stat(Signal::WorkingSet);
        assert_eq!((st.min, st.max), (10240.0, 51200.0));
        // (20 KiB × 3 + 50 KiB × 1) / 4 = 27.5 KiB
        assert_eq!(st.mean, 28160.0);
    }

    #[test]
    fn slot_ring_is_bounded() {
        let mut r = SlotRing::new(3);
        for i in 0..5 {
            r.push(Slot {
                start: i,
                ..Default::default()
            });
        }
        let starts: Vec<u32> = r.iter().map(|s| s.start).collect();
        assert_eq!(starts, vec![2, 3, 4]);
        assert_eq!(r.heap_bytes(), 3 * std::mem::size_of::<Slot>());
    }

    #[test]
    fn cpu_histogram_buckets_and_quantiles() {
        assert_eq!(CpuHistogram::bucket_of(0.0), 0);
        assert_eq!(CpuHistogram::bucket_of(0.001), 0);
        assert_eq!(CpuHistogram::bucket_of(0.00105), 1);
        assert_eq!(CpuHistogram::bucket_of(1e9), CPU_BUCKETS - 1);
        for v in [0.0011, 0.025, 0.2, 0.5, 1.0, 3.7, 64.0] {
            let i = CpuHistogram::bucket_of(v);
            assert!(v <= CpuHistogram::upper_bound(i), "{v}");
            assert!(v > CpuHistogram::upper_bound(i - 1), "{v}");
        }
        let mut h = CpuHistogram::default();
        assert_eq!(h.quantile(0.9), None);
        // 100 minutes: 0.01, 0.02, ..., 1.00 cores; p90 is the 90th = 0.90.
        for i in 1..=100 {
            h.add(f64::from(i) / 100.0);
        }
        let p90 = h.quantile(0.9).unwrap();
        assert!((0.9..0.9 * 1.05).contains(&p90), "{p90}");
        let p100 = h.quantile(1.0).unwrap();
        assert!((1.0..1.05).contains(&p100), "{p100}");
    }
}
