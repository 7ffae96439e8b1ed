//! Cgroup accounting of one target: which cgroup(s) to read, their per-tick gauges and ratios,
//! and restart-proof counters.
//!
//! Counter accounting mirrors the process counters. Each cgroup directory is identified by its
//! path and inode (a container restarted under the same path is a new cgroup). A cgroup seen for
//! the first time contributes its whole value, because that value is what happened in it since it
//! was created (an OOM kill that restarted the container in place is counted, as cAdvisor's
//! per-container counters show it); later ticks add the delta since its previous value; a value
//! that went down was reset (by a write to `memory.failcnt`, or a recreated file) and contributes
//! from zero. Previous values are kept for the most recent [`MAX_REMEMBERED`] directories, so a
//! target that moves back and forth between cgroups never counts one twice.
//!
//! When the target is down, the cgroups it was last located in are read once more each tick while
//! they still exist (same inode): the counters then catch the final OOM kill or CPU time of the
//! process that just died. A cgroup the target left while up (a restart into a new cgroup within
//! one tick) is read once more the same way. No gauges are published for a down target.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use crate::sample::{CgroupSample, TargetSample};
use crate::source::cgroup::{CgroupReader, Figures, Located, Place};
use crate::source::proc::ReadFailure;
use crate::state::{CgroupCounters, MonoCounter};

/// Directories (and paths, with `cgroup_labels`) whose previous values are remembered.
const MAX_REMEMBERED: usize = 512;

/// The cumulative quantities of a cgroup, in the order of [`CgroupCounters`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctr {
    OomKills,
    LimitHits,
    CpuUsage,
    CpuUser,
    CpuSystem,
    Periods,
    ThrottledPeriods,
    Throttled,
    IoReadBytes,
    IoWriteBytes,
    IoReads,
    IoWrites,
    CpuSome,
    CpuFull,
    MemorySome,
    MemoryFull,
    IoSome,
    IoFull,
}

const N: usize = 18;

impl Ctr {
    fn counter(self, c: &CgroupCounters) -> &MonoCounter {
        match self {
            Ctr::OomKills => &c.oom_kills,
            Ctr::LimitHits => &c.limit_hits,
            Ctr::CpuUsage => &c.cpu_usage_nanoseconds,
            Ctr::CpuUser => &c.cpu_user_nanoseconds,
            Ctr::CpuSystem => &c.cpu_system_nanoseconds,
            Ctr::Periods => &c.cpu_periods,
            Ctr::ThrottledPeriods => &c.cpu_throttled_periods,
            Ctr::Throttled => &c.cpu_throttled_nanoseconds,
            Ctr::IoReadBytes => &c.io_read_bytes,
            Ctr::IoWriteBytes => &c.io_write_bytes,
            Ctr::IoReads => &c.io_reads,
            Ctr::IoWrites => &c.io_writes,
            Ctr::CpuSome => &c.pressure_cpu_some_microseconds,
            Ctr::CpuFull => &c.pressure_cpu_full_microseconds,
            Ctr::MemorySome => &c.pressure_memory_some_microseconds,
            Ctr::MemoryFull => &c.pressure_memory_full_microseconds,
            Ctr::IoSome => &c.pressure_io_some_microseconds,
            Ctr::IoFull => &c.pressure_io_full_microseconds,
        }
    }
}

/// One counter reading: the value, the directory it came from.
struct Reading<'a> {
    ctr: Ctr,
    place: Option<&'a Place>,
    value: Option<u64>,
}

/// What changed since the previous reading of the same directory: (delta, seconds).
type Change = Option<(u64, f64)>;

#[derive(Debug, Default)]
struct DirPrev {
    values: [Option<(u64, Instant)>; N],
    last_seen: u64,
}

/// Per-target cgroup state kept across ticks.
#[derive(Debug, Default)]
pub(crate) struct CgroupTracker {
    labels: bool,
    tick: u64,
    prev: HashMap<Place, DirPrev>,
    /// With `cgroup_labels`: counters per cgroup path, and when each was last seen.
    per_path: HashMap<String, (Arc<CgroupCounters>, u64)>,
    /// The cgroups the target was last located in (read again while it is down).
    last: Vec<Located>,
    /// Path and version of the cgroup the unlabelled counters were last read from.
    last_meta: Option<(String, &'static str)>,
    /// Whether the target's cgroup held other processes at the last live tick (logged on change).
    shared: Option<bool>,
}

impl CgroupTracker {
    pub(crate) fn new(labels: bool) -> Self {
        CgroupTracker {
            labels,
            ..Default::default()
        }
    }

    /// Reads the target's cgroup(s) for this tick and returns their samples. `target` is the
    /// sample the process accounting just built (its live pids and main process).
    pub(crate) fn update(
        &mut self,
        reader: &mut CgroupReader,
        target: &TargetSample,
        counters: &CgroupCounters,
        failures: &mut Vec<ReadFailure>,
    ) -> Vec<CgroupSample> {
        self.tick += 1;
        let pids: Vec<i32> = if self.labels {
            target.pids.clone()
        } else {
            target.primary_pid.into_iter().collect()
        };
        let mut located: Vec<Located> = Vec::new();
        for pid in pids {
            match reader.locate(pid) {
                Ok(loc) => {
                    if !located.iter().any(|l| l.path == loc.path) {
                        located.push(loc);
                    }
                }
                // The process exited since discovery: not a failure.
                Err(f) if f.error.is_not_found() && pid != target.primary_pid.unwrap_or(0) => {}
                Err(f) => failures.push(f),
            }
        }
        located.sort_by(|a, b| a.path.cmp(&b.path));

        // Nothing mounted where the process could be found: every resource is a missing source.
        if let Some(i) = located.iter().position(|l| l.version.is_none()) {
            let nothing = located.remove(i);
            reader.read(&nothing, failures);
        }

        let mut out = Vec::new();
        if target.up && !located.is_empty() {
            // Cgroups left since the last tick (a restart into a new cgroup): read once more, so
            // what happened there before the move (an OOM kill, the last CPU time) counts.
            let last = std::mem::take(&mut self.last);
            for loc in last.iter().filter_map(|l| left_behind(l, &located)) {
                out.extend(self.catch_up(reader, &loc, counters));
            }
            // The target's processes and sidewatch itself (the wrapper shares its cgroup).
            let own: Vec<i32> = (target.pids.iter().copied())
                .chain(i32::try_from(std::process::id()).ok())
                .collect();
            let mut foreign = 0;
            for loc in &located {
                let figures = reader.read(loc, failures);
                let now = Instant::now();
                let c = self.counters_for(loc, counters);
                let mut s = self.sample(loc, &figures, &c, now, true);
                match reader.foreign_processes(loc, &own) {
                    Ok(n) => {
                        s.shared = Some(n > 0);
                        foreign += n;
                    }
                    Err(f) => failures.push(f),
                }
                out.push(s);
            }
            self.log_sharing(target, &out, foreign);
            self.last = located;
        } else if !target.up {
            // Catch up on the cgroups the target was in, every tick while they exist.
            self.last.retain(|loc| places(loc).all(Place::still_exists));
            let last = std::mem::take(&mut self.last);
            for loc in &last {
                out.extend(self.catch_up(reader, loc, counters));
            }
            self.last = last;
        }
        if !self.labels && out.is_empty() {
            // Keep the target's counters visible while it is down (they are its history).
            if let Some((path, version)) = &self.last_meta {
                let mut s = CgroupSample {
                    path: path.clone(),
                    version,
                    ..Default::default()
                };
                fill_counters(&mut s, counters);
                out.push(s);
            }
        }
        self.forget_old();
        out
    }

    /// Logs when the target's cgroup starts or stops holding other processes (not every tick).
    fn log_sharing(&mut self, target: &TargetSample, out: &[CgroupSample], foreign: usize) {
        if out.iter().all(|c| c.shared.is_none()) {
            return;
        }
        let shared = out.iter().any(|c| c.shared == Some(true));
        let path = out.first().map_or("", |c| c.path.as_str());
        match (self.shared, shared) {
            (Some(true), true) | (None | Some(false), false) => {}
            (_, true) => tracing::warn!(
                target = %target.name,
                cgroup = path,
                other_processes = foreign,
                "cgroup shared with other processes: the target's memory and CPU signals are its processes' own"
            ),
            (_, false) => tracing::info!(
                target = %target.name,
                cgroup = path,
                "cgroup no longer shared: the target's memory and CPU signals are the cgroup's again"
            ),
        }
        self.shared = Some(shared);
    }

    /// Accounts the counters of a cgroup the target is no longer in; its sample (no gauges) is
    /// reported only with `cgroup_labels` (else the counters are the target's own).
    fn catch_up(
        &mut self,
        reader: &CgroupReader,
        loc: &Located,
        counters: &CgroupCounters,
    ) -> Option<CgroupSample> {
        let figures = reader.read_counters(loc);
        let now = Instant::now();
        let c = self.counters_for(loc, counters);
        let s = self.sample(loc, &figures, &c, now, false);
        self.labels.then_some(s)
    }

    fn counters_for<'c>(&mut self, loc: &Located, target: &'c CgroupCounters) -> Counters<'c> {
        if !self.labels {
            self.last_meta = Some((loc.path.clone(), version_str(loc)));
            return Counters::Target(target);
        }
        let tick = self.tick;
        let e = self
            .per_path
            .entry(loc.path.clone())
            .or_insert_with(|| (Arc::new(CgroupCounters::default()), tick));
        e.1 = tick;
        Counters::Path(e.0.clone())
    }

    /// Accounts the counters and builds the sample of one located cgroup.
    fn sample(
        &mut self,
        loc: &Located,
        f: &Figures,
        counters: &Counters<'_>,
        now: Instant,
        live: bool,
    ) -> CgroupSample {
        let c = counters.get();
        let mut changes: [Change; N] = [None; N];
        for r in &readings(loc, f) {
            changes[r.ctr as usize] = self.account(r, c, now);
        }
        let mut s = CgroupSample {
            path: loc.path.clone(),
            version: version_str(loc),
            live,
            ..Default::default()
        };
        if live {
            fill_gauges(&mut s, f, &changes);
        }
        fill_counters(&mut s, c);
        s
    }

    /// Adds what happened since the previous reading of the same directory to the counter.
    fn account(&mut self, r: &Reading<'_>, counters: &CgroupCounters, now: Instant) -> Change {
        let (Some(place), Some(cur)) = (r.place, r.value) else {
            return None;
        };
        let tick = self.tick;
        let prev = self.prev.entry(place.clone()).or_default();
        prev.last_seen = tick;
        let slot = &mut prev.values[r.ctr as usize];
        let counter = r.ctr.counter(counters);
        let change = match *slot {
            Some((p, at)) if cur >= p => {
                counter.add(cur - p);
                Some((cur - p, now.saturating_duration_since(at).as_secs_f64()))
            }
            // Reset, or first sighting: everything since then (or since creation) counts.
            _ => {
                counter.add(cur);
                None
            }
        };
        *slot = Some((cur, now));
        change
    }

    /// Bounds memory: forgets the least recently seen directories and paths.
    fn forget_old(&mut self) {
        if self.prev.len() > MAX_REMEMBERED {
            let mut seen: Vec<u64> = self.prev.values().map(|p| p.last_seen).collect();
            seen.sort_unstable();
            let cut = seen[seen.len() - MAX_REMEMBERED];
            self.prev.retain(|_, p| p.last_seen >= cut);
        }
        if self.per_path.len() > MAX_REMEMBERED {
            let mut seen: Vec<u64> = self.per_path.values().map(|p| p.1).collect();
            seen.sort_unstable();
            let cut = seen[seen.len() - MAX_REMEMBERED];
            self.per_path.retain(|_, p| p.1 >= cut);
        }
    }
}

/// The counters a cgroup's deltas go to: the target's, or its path's with `cgroup_labels`.
enum Counters<'c> {
    Target(&'c CgroupCounters),
    Path(Arc<CgroupCounters>),
}

impl Counters<'_> {
    fn get(&self) -> &CgroupCounters {
        match self {
            Counters::Target(c) => c,
            Counters::Path(c) => c,
        }
    }
}

/// The part of `old` the target has left, if any: its directories that are in none of the
/// cgroups it is located in now and still exist (same inode). Directories it is still in are
/// left out, so their per-tick rates are not cut short by a second reading.
fn left_behind(old: &Located, now: &[Located]) -> Option<Located> {
    // The cheap test first: `still_exists` asks the filesystem.
    let gone = |p: &Option<Place>| {
        p.clone()
            .filter(|p| !now.iter().any(|n| places(n).any(|q| q == p)) && p.still_exists())
    };
    let left = Located {
        memory: gone(&old.memory),
        cpuacct: gone(&old.cpuacct),
        cpu: gone(&old.cpu),
        pids: None,
        io: gone(&old.io),
        pressure: gone(&old.pressure),
        cpuset: None,
        ..old.clone()
    };
    let any = places(&left).next().is_some();
    any.then_some(left)
}

fn places(loc: &Located) -> impl Iterator<Item = &Place> {
    [&loc.memory, &loc.cpuacct, &loc.cpu, &loc.io, &loc.pressure]
        .into_iter()
        .flatten()
}

fn version_str(loc: &Located) -> &'static str {
    loc.version.map_or("", |v| v.as_str())
}

/// Every cumulative figure of a cgroup with the directory it was read from.
fn readings<'a>(loc: &'a Located, f: &Figures) -> [Reading<'a>; N] {
    let r = |ctr, place: &'a Option<Place>, value| Reading {
        ctr,
        place: place.as_ref(),
        value,
    };
    let (m, p) = (&f.memory, &f.pressure);
    [
        r(Ctr::OomKills, &loc.memory, m.oom_kills),
        r(Ctr::LimitHits, &loc.memory, m.limit_hits),
        r(Ctr::CpuUsage, &loc.cpuacct, f.cpu.usage_ns),
        r(Ctr::CpuUser, &loc.cpuacct, f.cpu.user_ns),
        r(Ctr::CpuSystem, &loc.cpuacct, f.cpu.system_ns),
        r(Ctr::Periods, &loc.cpu, f.cpu.periods),
        r(Ctr::ThrottledPeriods, &loc.cpu, f.cpu.throttled_periods),
        r(Ctr::Throttled, &loc.cpu, f.cpu.throttled_ns),
        r(Ctr::IoReadBytes, &loc.io, f.io.read_bytes),
        r(Ctr::IoWriteBytes, &loc.io, f.io.write_bytes),
        r(Ctr::IoReads, &loc.io, f.io.reads),
        r(Ctr::IoWrites, &loc.io, f.io.writes),
        r(Ctr::CpuSome, &loc.pressure, p.cpu.map(|x| x.some_us)),
        r(Ctr::CpuFull, &loc.pressure, p.cpu.and_then(|x| x.full_us)),
        r(Ctr::MemorySome, &loc.pressure, p.memory.map(|x| x.some_us)),
        r(
            Ctr::MemoryFull,
            &loc.pressure,
            p.memory.and_then(|x| x.full_us),
        ),
        r(Ctr::IoSome, &loc.pressure, p.io.map(|x| x.some_us)),
        r(Ctr::IoFull, &loc.pressure, p.io.and_then(|x| x.full_us)),
    ]
}

/// The gauges of a cgroup the target is in now: its figures, and the ratios this tick's
/// changes give.
fn fill_gauges(s: &mut CgroupSample, f: &Figures, changes: &[Change; N]) {
    let m = &f.memory;
    let ch = |ctr: Ctr| changes[ctr as usize];
    s.memory_usage_bytes = m.usage_bytes;
    s.memory_working_set_bytes = m.working_set_bytes;
    s.memory_rss_bytes = m.rss_bytes;
    s.memory_cache_bytes = m.cache_bytes;
    s.memory_limit_bytes = m.limit_bytes;
    s.swap_bytes = m.swap_bytes;
    s.pids = f.pids.current;
    s.pids_limit = f.pids.limit;
    s.cpu_limit_cores = f.cpu.limit_cores;
    s.memory_utilization_ratio = match (m.working_set_bytes, m.limit_bytes) {
        (Some(ws), Some(limit)) if limit > 0 => Some(ws as f64 / limit as f64),
        _ => None,
    };
    let cores = f.cpu.limit_cores.or(f.online_cpus.map(f64::from));
    s.cpu_utilization_ratio = match (ch(Ctr::CpuUsage), cores) {
        (Some((d, secs)), Some(cores)) if secs > 0.0 && cores > 0.0 => {
            Some(d as f64 / 1e9 / secs / cores)
        }
        _ => None,
    };
    s.cpu_throttled_ratio = match (ch(Ctr::Periods), ch(Ctr::ThrottledPeriods)) {
        (Some((0, _)), Some(_)) => Some(0.0),
        (Some((periods, _)), Some((throttled, _))) => {
            Some((throttled as f64 / periods as f64).min(1.0))
        }
        _ => None,
    };
    s.pressure_cpu_ratio = stalled_share(ch(Ctr::CpuSome));
    s.pressure_memory_ratio = stalled_share(ch(Ctr::MemorySome));
    s.pressure_io_ratio = stalled_share(ch(Ctr::IoSome));
}

/// The share of the tick some task was stalled (PSI counts microseconds).
fn stalled_share(c: Change) -> Option<f64> {
    match c {
        Some((d, secs)) if secs > 0.0 => Some((d as f64 / 1e6 / secs).clamp(0.0, 1.0)),
        _ => None,
    }
}

fn fill_counters(s: &mut CgroupSample, c: &CgroupCounters) {
    let secs = |c: &MonoCounter, per_second: f64| c.get().map(|v| v as f64 / per_second);
    s.oom_kills = c.oom_kills.get();
    s.memory_limit_hits = c.limit_hits.get();
    s.cpu_usage_seconds = secs(&c.cpu_usage_nanoseconds, 1e9);
    s.cpu_user_seconds = secs(&c.cpu_user_nanoseconds, 1e9);
    s.cpu_system_seconds = secs(&c.cpu_system_nanoseconds, 1e9);
    s.cpu_periods = c.cpu_periods.get();
    s.cpu_throttled_periods = c.cpu_throttled_periods.get();
    s.cpu_throttled_seconds = secs(&c.cpu_throttled_nanoseconds, 1e9);
    s.io_read_bytes = c.io_read_bytes.get();
    s.io_write_bytes = c.io_write_bytes.get();
    s.io_reads = c.io_reads.get();
    s.io_writes = c.io_writes.get();
    s.pressure_cpu_waiting_seconds = secs(&c.pressure_cpu_some_microseconds, 1e6);
    s.pressure_cpu_stalled_seconds = secs(&c.pressure_cpu_full_microseconds, 1e6);
    s.pressure_memory_waiting_seconds = secs(&c.pressure_memory_some_microseconds, 1e6);
    s.pressure_memory_stalled_seconds = secs(&c.pressure_memory_full_microseconds, 1e6);
    s.pressure_io_waiting_seconds = secs(&c.pressure_io_some_microseconds, 1e6);
    s.pressure_io_stalled_seconds = secs(&c.pressure_io_full_microseconds, 1e6);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use super::*;

    const APP: i32 = 1509;
    const OTHER: i32 = 1560;

    /// A writable copy of the v2 fixture tree (tests/fixtures/cgroup/v2).
    struct Tree {
        _dir: tempfile::TempDir,
        root: PathBuf,
    }

    impl Tree {
        fn new() -> Tree {
            let dir = tempfile::tempdir().unwrap();
            let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cgroup/v2");
            copy_tree(&src, dir.path());
            Tree {
                root: dir.path().to_path_buf(),
                _dir: dir,
            }
        }

        fn reader(&self) -> CgroupReader {
            CgroupReader::new(&self.root.join("sys/fs/cgroup"), &self.root.join("proc"))
        }

        fn cg(&self, path: &str) -> PathBuf {
            self.root
                .join("sys/fs/cgroup")
                .join(path.trim_start_matches('/'))
        }

        fn set(&self, cgroup: &str, file: &str, text: &str) {
            std::fs::write(self.cg(cgroup).join(file), text).unwrap();
        }

        fn move_to(&self, pid: i32, cgroup: &str) {
            let f = self.root.join(format!("proc/{pid}/cgroup"));
            std::fs::write(f, format!("0::{cgroup}\n")).unwrap();
        }

        /// A new cgroup with the app's files, `oom_kill` and `usage_usec` replaced.
        fn new_cgroup(&self, path: &str, oom_kills: u64, usage_usec: u64) {
            let dir = self.cg(path);
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            copy_tree(&self.cg("/system.slice/app.service.orig"), &dir);
            self.set(path, "memory.events", &events(oom_kills, 0));
            self.set(path, "cpu.stat", &cpu_stat(usage_usec, 0, 0));
        }
    }

    fn copy_tree(src: &Path, dst: &Path) {
        std::fs::create_dir_all(dst).unwrap();
        for e in std::fs::read_dir(src).unwrap() {
            let e = e.unwrap();
            let t = e.file_type().unwrap();
            if t.is_dir() {
                copy_tree(&e.path(), &dst.join(e.file_name()));
            } else if t.is_file() {
                std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
            }
        }
    }

    fn events(oom_kills: u64, max: u64) -> String {
        format!(
            "low 0\nhigh 0\nmax {max}\noom {oom_kills}\noom_kill {oom_kills}\noom_group_kill 0\n"
        )
    }

    fn cpu_stat(usage_usec: u64, periods: u64, throttled: u64) -> String {
        format!(
            "usage_usec {usage_usec}\nuser_usec {usage_usec}\nsystem_usec 0\nnice_usec 0\nnr_periods {periods}\nnr_throttled {throttled}\nthrottled_usec {}\nnr_bursts 0\nburst_usec 0\n",
            throttled * 1000
        )
    }

    fn up(pids: &[i32]) -> TargetSample {
        TargetSample {
            up: true,
            pids: pids.to_vec(),
            primary_pid: pids.first().copied(),
            ..Default::default()
        }
    }

    fn down() -> TargetSample {
        TargetSample::default()
    }

    fn one(v: Vec<CgroupSample>) -> CgroupSample {
        assert_eq!(v.len(), 1, "{v:#?}");
        v.into_iter().next().unwrap()
    }

    #[test]
    fn counters_are_restart_proof_across_cgroups() {
        let t = Tree::new();
        copy_tree(
            &t.cg("/system.slice/app.service"),
            &t.cg("/system.slice/app.service.orig"),
        );
        let app = "/system.slice/app.service";
        t.set(app, "memory.events", &events(1, 117));
        t.set(app, "cpu.stat", &cpu_stat(400_000, 23, 20));
        let mut r = t.reader();
        let counters = CgroupCounters::default();
        let mut tr = CgroupTracker::new(false);
        let mut failures = Vec::new();

        // First sighting: the cgroup's whole history counts.
        let started = Instant::now();
        let s = one(tr.update(&mut r, &up(&[APP]), &counters, &mut failures));
        assert!(failures.is_empty());
        assert_eq!((s.path.as_str(), s.version, s.live), (app, "v2", true));
        assert_eq!(s.oom_kills, Some(1));
        assert_eq!(s.memory_limit_hits, Some(117));
        assert_eq!(s.cpu_usage_seconds, Some(0.4));
        assert_eq!(s.cpu_periods, Some(23));
        assert_eq!(s.memory_working_set_bytes, Some(20992000));
        assert_eq!(s.memory_utilization_ratio, Some(20992000.0 / 67108864.0));
        assert_eq!(s.cpu_limit_cores, Some(0.2));
        // Rates need two readings.
        assert_eq!(
            (
                s.cpu_utilization_ratio,
                s.cpu_throttled_ratio,
                s.pressure_cpu_ratio
            ),
            (None, None, None)
        );

        // Second tick: deltas, and the ratios over the tick.
        std::thread::sleep(Duration::from_millis(100));
        t.set(app, "memory.events", &events(2, 120));
        t.set(app, "cpu.stat", &cpu_stat(420_000, 33, 25));
        let s = one(tr.update(&mut r, &up(&[APP]), &counters, &mut failures));
        let elapsed = started.elapsed().as_secs_f64();
        assert_eq!(s.oom_kills, Some(2));
        assert_eq!(s.memory_limit_hits, Some(120));
        assert_eq!(s.cpu_usage_seconds, Some(0.42));
        assert_eq!(s.cpu_throttled_periods, Some(25));
        assert_eq!(s.cpu_throttled_seconds, Some(0.025));
        assert_eq!(s.cpu_throttled_ratio, Some(0.5)); // 5 of 10 periods
        // 20 ms of CPU in 0.1-`elapsed` s against a 0.2-core limit.
        let ratio = s.cpu_utilization_ratio.unwrap();
        assert!(
            ratio <= 0.02 / 0.1 / 0.2 && ratio >= 0.02 / elapsed / 0.2,
            "{ratio}"
        );
        // The pressure files did not change: no stall in this tick.
        assert_eq!(s.pressure_cpu_ratio, Some(0.0));
        assert_eq!(s.pressure_memory_ratio, Some(0.0));

        // The container restarts into a new cgroup that already saw an OOM kill: it counts.
        let new = "/system.slice/app-2.service";
        t.new_cgroup(new, 1, 50_000);
        t.move_to(APP, new);
        let s = one(tr.update(&mut r, &up(&[APP]), &counters, &mut failures));
        assert_eq!(s.path, new);
        assert_eq!(s.oom_kills, Some(3));
        assert!((s.cpu_usage_seconds.unwrap() - 0.47).abs() < 1e-9);
        assert_eq!(s.cpu_utilization_ratio, None); // a new cgroup: no rate yet

        // Back in the first cgroup (still the same one): only what happened since counts.
        t.move_to(APP, app);
        t.set(app, "memory.events", &events(2, 120));
        let s = one(tr.update(&mut r, &up(&[APP]), &counters, &mut failures));
        assert_eq!(s.oom_kills, Some(3));
        assert!((s.cpu_usage_seconds.unwrap() - 0.47).abs() < 1e-9);

        // Recreated at the same path (a new inode): a new cgroup, its whole value counts.
        std::fs::rename(t.cg(app), t.cg("/system.slice/gone")).unwrap();
        t.new_cgroup(app, 1, 10_000);
        let s = one(tr.update(&mut r, &up(&[APP]), &counters, &mut failures));
        assert_eq!(s.oom_kills, Some(4));
        assert!((s.cpu_usage_seconds.unwrap() - 0.48).abs() < 1e-9);

        // A counter reset by hand (echo 0 > memory.failcnt on v1) counts from zero.
        t.set(app, "memory.events", &events(1, 3));
        let s = one(tr.update(&mut r, &up(&[APP]), &counters, &mut failures));
        assert_eq!(s.memory_limit_hits, Some(120 + 3));
        assert_eq!(s.oom_kills, Some(4));
        assert!(failures.is_empty(), "{failures:?}");
    }

    #[test]
    fn a_down_target_catches_up_and_keeps_its_counters() {
        let t = Tree::new();
        let app = "/system.slice/app.service";
        let mut r = t.reader();
        let counters = CgroupCounters::default();
        let mut tr = CgroupTracker::new(false);
        let mut failures = Vec::new();
        let s = one(tr.update(&mut r, &up(&[APP]), &counters, &mut failures));
        assert_eq!(s.oom_kills, Some(1));

        // The process was OOM-killed: the target is down, its cgroup still exists for a moment.
        t.set(app, "memory.events", &events(2, 118));
        let s = one(tr.update(&mut r, &down(), &counters, &mut failures));
        assert!(!s.live);
        assert_eq!(s.path, app);
        assert_eq!(s.oom_kills, Some(2));
        assert_eq!(s.memory_limit_hits, Some(118));
        // No gauges for a down target.
        assert_eq!(
            (s.memory_usage_bytes, s.memory_limit_bytes, s.pids),
            (None, None, None)
        );
        assert_eq!(s.cpu_utilization_ratio, None);

        // The cgroup is gone: the counters stay.
        std::fs::remove_dir_all(t.cg(app)).unwrap();
        let s = one(tr.update(&mut r, &down(), &counters, &mut failures));
        assert_eq!(s.oom_kills, Some(2));
        assert!(!s.live);
        assert!(failures.is_empty(), "{failures:?}");
    }

    #[test]
    fn a_cgroup_left_between_ticks_is_read_once_more() {
        let t = Tree::new();
        copy_tree(
            &t.cg("/system.slice/app.service"),
            &t.cg("/system.slice/app.service.orig"),
        );
        let app = "/system.slice/app.service";
        let mut r = t.reader();
        let counters = CgroupCounters::default();
        let mut tr = CgroupTracker::new(false);
        let mut failures = Vec::new();
        let s = one(tr.update(&mut r, &up(&[APP]), &counters, &mut failures));
        assert_eq!(s.oom_kills, Some(1));

        // Within one tick: the process is OOM-killed in its cgroup and the application restarts
        // into a new one. The target is up in the next tick, never seen down.
        t.set(app, "memory.events", &events(2, 118));
        let new = "/system.slice/app-2.service";
        t.new_cgroup(new, 0, 1_000);
        t.move_to(APP, new);
        let s = one(tr.update(&mut r, &up(&[APP]), &counters, &mut failures));
        assert_eq!((s.path.as_str(), s.live), (new, true));
        assert_eq!(s.oom_kills, Some(2));
        assert_eq!(s.memory_limit_hits, Some(118));

        // Read once: later changes of the cgroup left behind are not the target's.
        t.set(app, "memory.events", &events(5, 200));
        let s = one(tr.update(&mut r, &up(&[APP]), &counters, &mut failures));
        assert_eq!(s.oom_kills, Some(2));
        assert!(failures.is_empty(), "{failures:?}");
    }

    #[test]
    fn cgroup_labels_report_each_cgroup() {
        let t = Tree::new();
        let mut r = t.reader();
        let counters = CgroupCounters::default();
        let mut tr = CgroupTracker::new(true);
        let mut failures = Vec::new();
        let v = tr.update(&mut r, &up(&[APP, OTHER]), &counters, &mut failures);
        assert!(failures.is_empty(), "{failures:?}");
        let paths: Vec<&str> = v.iter().map(|s| s.path.as_str()).collect();
        assert_eq!(
            paths,
            ["/system.slice/app.service", "/system.slice/batch.service"]
        );
        assert_eq!(v[0].oom_kills, Some(1));
        assert_eq!(v[1].oom_kills, Some(0));
        assert_eq!(v[0].memory_limit_bytes, Some(67108864));
        assert_eq!(v[1].memory_limit_bytes, None);
        // Per-path counters: the target-level ones are untouched.
        assert_eq!(counters.oom_kills.get(), None);
        // OTHER joins APP's cgroup: the cgroup it left shows its final counters once (no
        // gauges), then two processes in one cgroup make one entry.
        t.move_to(OTHER, "/system.slice/app.service");
        let v = tr.update(&mut r, &up(&[APP, OTHER]), &counters, &mut failures);
        let seen: Vec<(&str, bool)> = v.iter().map(|s| (s.path.as_str(), s.live)).collect();
        assert_eq!(
            seen,
            [
                ("/system.slice/batch.service", false),
                ("/system.slice/app.service", true)
            ]
        );
        let v = tr.update(&mut r, &up(&[APP, OTHER]), &counters, &mut failures);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].oom_kills, Some(1));
    }

    #[test]
    fn a_process_gone_before_its_cgroup_was_read_is_not_an_error() {
        let t = Tree::new();
        let mut r = t.reader();
        let counters = CgroupCounters::default();
        let mut tr = CgroupTracker::new(true);
        let mut failures = Vec::new();
        std::fs::remove_dir_all(t.root.join(format!("proc/{OTHER}"))).unwrap();
        let v = tr.update(&mut r, &up(&[APP, OTHER]), &counters, &mut failures);
        assert_eq!(v.len(), 1);
        assert!(failures.is_empty(), "{failures:?}");
    }
}
