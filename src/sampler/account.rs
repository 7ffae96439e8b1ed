//! Per-process counter accounting of one target: the lifecycle of each process identity, and the
//! one path by which every process counter grows.
//!
//! Lifecycle of an identity (pid, start time): **first seen** (its whole value counts: it counts
//! from its start) → **seen** every tick it is a member (the delta since its last readable value
//! counts) → **missing** when a tick does not select it (a pid file caught mid-rewrite, a failed
//! listing or read, a retitled process): its last values are kept, nothing is added, and when it
//! is selected again only what happened since counts → **gone** once `<procfs>/<pid>` no longer
//! exists or holds another start time (or, when that cannot be told, after [`MISSING_TICKS`]
//! ticks). "First seen" is decided in one place, [`Processes::begin`], from this map alone.
//!
//! Reaped descendants: when a parent reaps a child, the kernel adds the child's I/O to the
//! parent's `io` (CPU and faults go to separate "children" fields that are not read). A child
//! that is gone hands its last I/O reading to its parent's identity as a credit, which moves the
//! parent's previous I/O values forward: only the tail the child did after its last reading
//! counts again, so its I/O is counted once.
//!
//! Per-thread figures (context switches, run delay) are accounted per thread id within the
//! process, by the same path: a thread that exits stops contributing and its counts stay
//! counted; a new thread counts from its start; a value below the previous one is a reused
//! thread id (a new thread).

use std::collections::{HashMap, HashSet};

use crate::source::proc::{
    Identity, ProcReader, ProcessReading, ReadFailure, StatFigures, ThreadFigures,
};
use crate::state::{MonoCounter, TargetCounters};

/// Ticks a missing identity is kept when whether it still exists cannot be read.
pub const MISSING_TICKS: u32 = 30;

/// Missing identities kept per target (bounds memory when many processes stop matching while
/// they run); the longest-missing ones are forgotten first.
const MAX_MISSING: usize = 4096;

/// The counters accounted per process, in the order of [`Values`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ctr {
    CpuUser,
    CpuSystem,
    MinorFaults,
    MajorFaults,
    IoRead,
    IoWrite,
    Voluntary,
    Involuntary,
    WaitNs,
}

const N: usize = 9;

impl Ctr {
    const ALL: [Ctr; N] = [
        Ctr::CpuUser,
        Ctr::CpuSystem,
        Ctr::MinorFaults,
        Ctr::MajorFaults,
        Ctr::IoRead,
        Ctr::IoWrite,
        Ctr::Voluntary,
        Ctr::Involuntary,
        Ctr::WaitNs,
    ];

    fn counter(self, c: &TargetCounters) -> &MonoCounter {
        match self {
            Ctr::CpuUser => &c.cpu_user_ticks,
            Ctr::CpuSystem => &c.cpu_system_ticks,
            Ctr::MinorFaults => &c.minor_faults,
            Ctr::MajorFaults => &c.major_faults,
            Ctr::IoRead => &c.io_read_bytes,
            Ctr::IoWrite => &c.io_write_bytes,
            Ctr::Voluntary => &c.voluntary_context_switches,
            Ctr::Involuntary => &c.involuntary_context_switches,
            Ctr::WaitNs => &c.cpu_wait_nanoseconds,
        }
    }
}

/// One value per counter; `None`: not read (this tick), or never readable (as a previous value).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Values([Option<u64>; N]);

impl Values {
    fn get(&self, c: Ctr) -> Option<u64> {
        self.0[c as usize]
    }

    fn set(&mut self, c: Ctr, v: Option<u64>) {
        self.0[c as usize] = v;
    }

    /// The process-level readings of one tick: `stat` always, the rest when read.
    fn of_process(stat: &StatFigures, r: Option<&ProcessReading>) -> Values {
        let mut v = Values::default();
        v.set(Ctr::CpuUser, Some(stat.cpu_user_ticks));
        v.set(Ctr::CpuSystem, Some(stat.cpu_system_ticks));
        v.set(Ctr::MinorFaults, Some(stat.minor_faults));
        v.set(Ctr::MajorFaults, Some(stat.major_faults));
        if let Some(r) = r {
            let f = &r.figures;
            v.set(Ctr::IoRead, f.io_read_bytes);
            v.set(Ctr::IoWrite, f.io_write_bytes);
            v.set(Ctr::Voluntary, f.voluntary_context_switches);
            v.set(Ctr::Involuntary, f.involuntary_context_switches);
            v.set(Ctr::WaitNs, f.cpu_wait_nanoseconds);
        }
        v
    }

    fn of_thread(t: &ThreadFigures) -> Values {
        let mut v = Values::default();
        v.set(Ctr::Voluntary, t.voluntary_context_switches);
        v.set(Ctr::Involuntary, t.involuntary_context_switches);
        v.set(Ctr::WaitNs, t.cpu_wait_nanoseconds);
        v
    }
}

/// What a value below the previous one means.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Drop {
    /// Nothing happened (a process identity's counters never go down: keep the maximum).
    Ignore,
    /// A new counter under the same key (a reused thread id): it counts from zero.
    NewCounter,
}

/// The one accounting path: adds to each counter what `cur` adds to `prev` (all of `cur` when
/// there is no previous value), and moves `prev` to `cur`. An unreadable value adds nothing and
/// keeps the previous one.
fn accrue(counters: &TargetCounters, prev: &mut Values, cur: &Values, drop: Drop) {
    for c in Ctr::ALL {
        let Some(now) = cur.get(c) else { continue };
        let (add, keep) = match prev.get(c) {
            Some(p) if now >= p => (now - p, now),
            Some(p) if drop == Drop::Ignore => (0, p),
            _ => (now, now),
        };
        c.counter(counters).add(add);
        prev.set(c, Some(keep));
    }
}

/// The state kept for one process identity.
#[derive(Debug, Default)]
struct Tracked {
    /// Last readable process-level values.
    last: Values,
    /// Last readable per-thread values, by thread id (with thread totals).
    threads: HashMap<i32, Values>,
    /// Parent pid when last seen (its reaper, for the I/O credit).
    ppid: i32,
    /// Consecutive ticks this identity was not selected (0 while seen).
    missing_ticks: u32,
    /// Consecutive missing ticks in which its existence could not be read.
    unknown_ticks: u32,
}

/// The process identities of one target and their last values.
#[derive(Debug, Default)]
pub(crate) struct Processes {
    tracked: HashMap<Identity, Tracked>,
}

impl Processes {
    /// Starts a tick: `members` are the identities selected this tick. Identities not selected
    /// become (or stay) missing; those that are gone are forgotten, handing their I/O to their
    /// parent. Call before [`Processes::account`].
    pub(crate) fn begin(
        &mut self,
        reader: &ProcReader,
        members: &HashSet<Identity>,
        failures: &mut Vec<ReadFailure>,
    ) {
        let mut gone: Vec<Identity> = Vec::new();
        for (id, t) in &mut self.tracked {
            if members.contains(id) {
                t.missing_ticks = 0;
                t.unknown_ticks = 0;
                continue;
            }
            t.missing_ticks += 1;
            match reader.stat(id.pid) {
                Ok(st) if st.identity == *id => t.unknown_ticks = 0,
                Ok(_) => gone.push(*id),
                Err(f) if f.error.is_not_found() => gone.push(*id),
                Err(f) => {
                    failures.push(f);
                    t.unknown_ticks += 1;
                    if t.unknown_ticks > MISSING_TICKS {
                        gone.push(*id);
                    }
                }
            }
        }
        for id in gone {
            let Some(child) = self.tracked.remove(&id) else {
                continue;
            };
            self.credit_parent(&child);
        }
        self.bound_missing();
    }

    /// The kernel added a reaped child's I/O to its parent's: move the parent's previous values
    /// forward by the child's last reading (see the module comment).
    fn credit_parent(&mut self, child: &Tracked) {
        let parent = self
            .tracked
            .iter_mut()
            .find(|(id, _)| id.pid == child.ppid)
            .map(|(_, t)| t);
        let Some(parent) = parent else { return };
        for c in [Ctr::IoRead, Ctr::IoWrite] {
            if let (Some(p), Some(spent)) = (parent.last.get(c), child.last.get(c)) {
                parent.last.set(c, Some(p.saturating_add(spent)));
            }
        }
    }

    fn bound_missing(&mut self) {
        let missing = self
            .tracked
            .values()
            .filter(|t| t.missing_ticks > 0)
            .count();
        if missing <= MAX_MISSING {
            return;
        }
        let mut ticks: Vec<u32> = self
            .tracked
            .values()
            .filter(|t| t.missing_ticks > 0)
            .map(|t| t.missing_ticks)
            .collect();
        ticks.sort_unstable_by(|a, b| b.cmp(a));
        let cut = ticks[missing - MAX_MISSING];
        self.tracked
            .retain(|_, t| t.missing_ticks == 0 || t.missing_ticks < cut);
    }

    /// Accounts one member's readings of this tick (`reading` is `None` when only its `stat`
    /// could be read). Returns true when this identity was seen for the first time.
    pub(crate) fn account(
        &mut self,
        counters: &TargetCounters,
        stat: &StatFigures,
        reading: Option<&ProcessReading>,
    ) -> bool {
        let id = stat.identity;
        let first = !self.tracked.contains_key(&id);
        let t = self.tracked.entry(id).or_default();
        t.ppid = stat.ppid;
        accrue(
            counters,
            &mut t.last,
            &Values::of_process(stat, reading),
            Drop::Ignore,
        );
        if let Some(threads) = reading.and_then(|r| r.threads.as_ref()) {
            let mut next = HashMap::with_capacity(threads.len());
            for th in threads {
                let mut prev = t.threads.remove(&th.tid).unwrap_or_default();
                accrue(
                    counters,
                    &mut prev,
                    &Values::of_thread(th),
                    Drop::NewCounter,
                );
                next.insert(th.tid, prev);
            }
            // Threads not listed have exited: their counts stay counted.
            t.threads = next;
        }
        first
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.tracked.len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::source::proc::{ProcessFigures, ThreadFigures};

    fn stat(pid: i32, ppid: i32, user: u64) -> StatFigures {
        StatFigures {
            identity: Identity {
                pid,
                starttime_ticks: 100 + pid as u64,
            },
            ppid,
            comm: "x".into(),
            state: 'S',
            cpu_user_ticks: user,
            cpu_system_ticks: 0,
            minor_faults: 0,
            major_faults: 0,
            threads: 1,
            virtual_memory_bytes: 0,
        }
    }

    fn reading(write: u64, threads: &[(i32, u64)]) -> ProcessReading {
        ProcessReading {
            figures: ProcessFigures {
                io_read_bytes: Some(0),
                io_write_bytes: Some(write),
                ..Default::default()
            },
            threads: Some(
                threads
                    .iter()
                    .map(|&(tid, v)| ThreadFigures {
                        tid,
                        voluntary_context_switches: Some(v),
                        involuntary_context_switches: Some(v),
                        cpu_wait_nanoseconds: Some(v),
                    })
                    .collect(),
            ),
            max_fds_soft: None,
        }
    }

    /// A procfs root with no processes: every missing identity is gone.
    fn empty_root() -> (tempfile::TempDir, ProcReader) {
        let d = tempfile::tempdir().unwrap();
        let r = ProcReader::new(d.path());
        (d, r)
    }

    /// A procfs root holding `pid`'s stat (so a missing identity is still there).
    fn root_with(st: &StatFigures) -> (tempfile::TempDir, ProcReader) {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join(st.identity.pid.to_string());
        std::fs::create_dir(&dir).unwrap();
        // Fields 3.. of proc(5); starttime is field 22.
        let mut fields = vec!["0"; 21];
        fields[0] = "S";
        let ppid = st.ppid.to_string();
        let start = st.identity.starttime_ticks.to_string();
        fields[1] = &ppid;
        fields[19] = &start;
        let text = format!("{} (x) {}\n", st.identity.pid, fields.join(" "));
        std::fs::write(dir.join("stat"), text).unwrap();
        let r = ProcReader::new(d.path());
        (d, r)
    }

    fn ids(s: &[&StatFigures]) -> HashSet<Identity> {
        s.iter().map(|s| s.identity).collect()
    }

    #[test]
    fn a_process_missing_while_alive_is_not_counted_again() {
        let c = TargetCounters::default();
        let mut p = Processes::default();
        let s = stat(10, 1, 203);
        let (_d, alive) = root_with(&s);
        p.begin(&alive, &ids(&[&s]), &mut vec![]);
        assert!(p.account(&c, &s, None));
        assert_eq!(c.cpu_user_ticks.get(), Some(203));
        // Two ticks without it (an emptied pid file), while /proc/10 still is that process.
        for _ in 0..2 {
            p.begin(&alive, &ids(&[]), &mut vec![]);
        }
        assert_eq!(p.len(), 1);
        let s = stat(10, 1, 210);
        p.begin(&alive, &ids(&[&s]), &mut vec![]);
        assert!(!p.account(&c, &s, None), "not first seen again");
        assert_eq!(c.cpu_user_ticks.get(), Some(210));
    }

    #[test]
    fn a_gone_identity_is_forgotten_and_a_new_one_counts_whole() {
        let c = TargetCounters::default();
        let mut p = Processes::default();
        let (_d, empty) = empty_root();
        let s = stat(10, 1, 50);
        p.begin(&empty, &ids(&[&s]), &mut vec![]);
        p.account(&c, &s, None);
        p.begin(&empty, &ids(&[]), &mut vec![]);
        assert_eq!(p.len(), 0);
        let s2 = stat(11, 1, 7);
        p.begin(&empty, &ids(&[&s2]), &mut vec![]);
        assert!(p.account(&c, &s2, None));
        assert_eq!(c.cpu_user_ticks.get(), Some(57));
    }

    #[test]
    fn a_reaped_childs_io_counts_once() {
        let c = TargetCounters::default();
        let mut p = Processes::default();
        let (_d, empty) = empty_root();
        let parent = stat(10, 1, 0);
        let child = stat(11, 10, 0);
        p.begin(&empty, &ids(&[&parent, &child]), &mut vec![]);
        p.account(&c, &parent, Some(&reading(16 << 10, &[(10, 0)])));
        p.account(&c, &child, Some(&reading(60 << 20, &[(11, 0)])));
        assert_eq!(c.io_write_bytes.get(), Some((16 << 10) + (60 << 20)));
        // The child wrote 4 MiB more, exited and was reaped: the parent's io holds all 64 MiB.
        p.begin(&empty, &ids(&[&parent]), &mut vec![]);
        p.account(
            &c,
            &parent,
            Some(&reading((16 << 10) + (64 << 20), &[(10, 0)])),
        );
        assert_eq!(c.io_write_bytes.get(), Some((16 << 10) + (64 << 20)));
    }

    #[test]
    fn thread_counts_stay_counted_when_threads_exit() {
        let c = TargetCounters::default();
        let mut p = Processes::default();
        let (_d, empty) = empty_root();
        let s = stat(10, 1, 0);
        p.begin(&empty, &ids(&[&s]), &mut vec![]);
        p.account(&c, &s, Some(&reading(0, &[(10, 5), (12, 100), (13, 40)])));
        assert_eq!(c.voluntary_context_switches.get(), Some(145));
        // Thread 12 exited, 14 started, 13 advanced.
        p.begin(&empty, &ids(&[&s]), &mut vec![]);
        p.account(&c, &s, Some(&reading(0, &[(10, 5), (13, 50), (14, 3)])));
        assert_eq!(c.voluntary_context_switches.get(), Some(158));
        // Thread id 13 reused by a new thread (its count starts again).
        p.begin(&empty, &ids(&[&s]), &mut vec![]);
        p.account(&c, &s, Some(&reading(0, &[(10, 5), (13, 2), (14, 3)])));
        assert_eq!(c.voluntary_context_switches.get(), Some(160));
        assert_eq!(c.cpu_wait_nanoseconds.get(), Some(160));
    }

    #[test]
    fn an_unreadable_thread_list_keeps_the_threads() {
        let c = TargetCounters::default();
        let mut p = Processes::default();
        let (_d, empty) = empty_root();
        let s = stat(10, 1, 0);
        p.begin(&empty, &ids(&[&s]), &mut vec![]);
        p.account(&c, &s, Some(&reading(0, &[(10, 5), (12, 100)])));
        let mut blind = reading(0, &[]);
        blind.threads = None;
        p.begin(&empty, &ids(&[&s]), &mut vec![]);
        p.account(&c, &s, Some(&blind));
        p.begin(&empty, &ids(&[&s]), &mut vec![]);
        p.account(&c, &s, Some(&reading(0, &[(10, 6), (12, 101)])));
        assert_eq!(c.voluntary_context_switches.get(), Some(107));
    }
}
