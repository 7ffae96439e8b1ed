//! Targets: named groups of processes, and the per-tick discovery that finds their members.
//!
//! A target selects processes by pid, pid file (re-read every tick), or by comm / exe / cmdline
//! (all given conditions must hold), optionally with every descendant. Discovery reads one
//! `stat` per process when a scan is needed, and reads `exe` once per process identity
//! (pid, start time, comm) and `cmdline` every tick (processes retitle themselves).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use regex_lite::Regex;

use crate::source::proc::{
    Identity, ProcReader, ReadFailure, ScanBy, Source, StatFigures, read_pid_file,
};

/// How a target picks its processes.
#[derive(Debug, Clone)]
pub enum Selector {
    Pid(i32),
    PidFile(PathBuf),
    Match {
        comm: Option<String>,
        exe: Option<String>,
        cmdline: Option<Regex>,
    },
}

impl PartialEq for Selector {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Selector::Pid(a), Selector::Pid(b)) => a == b,
            (Selector::PidFile(a), Selector::PidFile(b)) => a == b,
            (
                Selector::Match {
                    comm: c1,
                    exe: e1,
                    cmdline: r1,
                },
                Selector::Match {
                    comm: c2,
                    exe: e2,
                    cmdline: r2,
                },
            ) => {
                c1 == c2
                    && e1 == e2
                    && r1.as_ref().map(Regex::as_str) == r2.as_ref().map(Regex::as_str)
            }
            _ => false,
        }
    }
}

/// A validated target definition.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetSpec {
    pub name: String,
    pub selector: Selector,
    pub children: bool,
    pub smaps: bool,
    /// Sum context switches and CPU wait over every thread (`task/*`), not only the main thread.
    pub thread_totals: bool,
    /// Constant labels, sorted by name.
    pub labels: Vec<(String, String)>,
    /// Report every distinct cgroup of the target's processes with a `cgroup` label, instead of
    /// only the cgroup of its main process.
    pub cgroup_labels: bool,
    /// The application's own metrics endpoint, read every tick.
    pub app: Option<crate::source::app::AppSpec>,
    /// An HTTP probe of the application.
    pub probe: Option<crate::source::probe::ProbeSpec>,
    /// pprof captures on triggers.
    pub profiles: Option<crate::profiles::ProfileSpec>,
}

impl TargetSpec {
    /// A target of just `selector`: no children, no extra readings, no labels, no app.
    pub fn bare(name: impl Into<String>, selector: Selector) -> Self {
        TargetSpec {
            name: name.into(),
            selector,
            children: false,
            smaps: false,
            thread_totals: false,
            labels: Vec::new(),
            cgroup_labels: false,
            app: None,
            probe: None,
            profiles: None,
        }
    }

    fn needs_scan(&self) -> bool {
        self.children || matches!(self.selector, Selector::Match { .. })
    }
}

/// A process found for a target this tick.
#[derive(Debug, Clone)]
pub struct Member {
    pub stat: StatFigures,
    /// Selected directly (not only as a descendant of a selected process).
    pub direct: bool,
}

impl Member {
    /// See [`StatFigures::is_live`]: zombies take part in counter accounting, but are not live
    /// processes of the target.
    pub fn is_live(&self) -> bool {
        self.stat.is_live()
    }
}

/// Finds the members of every target, tick after tick.
#[derive(Debug, Default)]
pub struct Discovery {
    /// `exe` of each process identity and comm, read once: it changes only with `execve`,
    /// which also changes the comm. The command line is not cached: workers retitle themselves
    /// after fork (nginx, postgres, php-fpm), so it is read every tick for each process that
    /// passed the comm and exe conditions.
    exes: HashMap<(Identity, String), Option<String>>,
    /// The procfs root and sidewatch's pid in it, read at the first scan.
    own: Option<(PathBuf, Option<i32>)>,
    /// Processes listed and kept by the last scan.
    listed: usize,
    kept: usize,
}

impl Discovery {
    /// Returns, for each target in order, its members this tick. Reads that fail are pushed to
    /// `failures` (a process that vanished before it was selected is not a failure). Takes the
    /// targets by reference (a slice, or the sampler's trackers' specs) so a tick copies none.
    pub fn discover<'t, I>(
        &mut self,
        reader: &ProcReader,
        targets: I,
        failures: &mut Vec<ReadFailure>,
    ) -> Vec<Vec<Member>>
    where
        I: IntoIterator<Item = &'t TargetSpec>,
        I::IntoIter: Clone,
    {
        let targets = targets.into_iter();
        let self_pid = self.own_pid(reader.root());
        let scan = targets.clone().any(TargetSpec::needs_scan);
        let comms = Comms::of(targets.clone());
        // Processes ascending by pid: every one with a complete scan, else those whose comm
        // some target asks for.
        let mut table: Vec<StatFigures> = Vec::new();
        if scan {
            // Reading every comm first pays while most processes are not wanted (the usual
            // sidecar: one application among the host's or Pod's processes).
            let by = if comms.all || self.kept * 2 > self.listed {
                ScanBy::Stat
            } else {
                ScanBy::Comm
            };
            let listed = reader.scan_stats(
                self_pid,
                by,
                |comm| comms.wanted(comm),
                |s| table.push(s),
                failures,
            );
            match listed {
                Ok(n) => (self.listed, self.kept) = (n, table.len()),
                Err(error) => failures.push(ReadFailure {
                    source: Source::Stat,
                    error,
                }),
            }
        }
        let complete = scan && comms.all;
        let mut out = Vec::with_capacity(targets.size_hint().0);
        let mut seen_ids: HashSet<(Identity, String)> = HashSet::new();
        for t in targets {
            let mut roots: Vec<i32> = Vec::new();
            match &t.selector {
                Selector::Pid(pid) => roots.push(*pid),
                Selector::PidFile(path) => match read_pid_file(path) {
                    Ok(pid) => roots.push(pid),
                    Err(error) => {
                        // A missing pid file is the normal "not started yet" state.
                        if !error.is_not_found() {
                            failures.push(ReadFailure {
                                source: Source::PidFile,
                                error,
                            });
                        }
                    }
                },
                Selector::Match { comm, exe, cmdline } => {
                    for s in &table {
                        let pid = &s.identity.pid;
                        if let Some(c) = comm {
                            if &s.comm != c {
                                continue;
                            }
                        }
                        if let Some(want) = exe {
                            let key = (s.identity, s.comm.clone());
                            seen_ids.insert(key.clone());
                            let got = self
                                .exes
                                .entry(key)
                                .or_insert_with(|| read_exe(reader, *pid));
                            if !exe_matches(want, got.as_deref()) {
                                continue;
                            }
                        }
                        if let Some(re) = cmdline {
                            match read_cmdline(reader, *pid, failures) {
                                Some(line) if re.is_match(&line) => {}
                                _ => continue,
                            }
                        }
                        roots.push(*pid);
                    }
                }
            }
            roots.sort_unstable();
            let mut members: Vec<Member> = Vec::new();
            for pid in roots {
                // The table skips sidewatch itself; a pid selector naming it still works.
                let stat = match find(&table, pid) {
                    Some(s) => Some(s.clone()),
                    // A complete table lists every process but sidewatch: this one is gone.
                    None if complete && Some(pid) != self_pid => None,
                    None => read_stat(reader, pid, failures, false),
                };
                if let Some(stat) = stat {
                    members.push(Member { stat, direct: true });
                }
            }
            if t.children && !members.is_empty() {
                add_descendants(&table, &mut members);
            }
            out.push(members);
        }
        // Forget the exes of identities no longer present (bounded memory under pid churn).
        if scan {
            self.exes.retain(|k, _| seen_ids.contains(k));
        }
        out
    }

    /// sidewatch's own pid as `root` shows it, read once (it never changes).
    fn own_pid(&mut self, root: &Path) -> Option<i32> {
        match &self.own {
            Some((r, pid)) if r == root => *pid,
            _ => {
                let pid = own_pid(root);
                self.own = Some((root.to_path_buf(), pid));
                pid
            }
        }
    }
}

/// Which comms discovery must parse a `stat` for: every one (`all`) when a target selects
/// children (the ppid links of every process) or matches without a comm; else only the comms
/// the targets name, so the other processes' `stat` is read but not parsed.
struct Comms<'t> {
    all: bool,
    names: Vec<&'t [u8]>,
}

impl<'t> Comms<'t> {
    fn of(targets: impl Iterator<Item = &'t TargetSpec>) -> Self {
        let mut c = Comms {
            all: false,
            names: Vec::new(),
        };
        for t in targets.filter(|t| t.needs_scan()) {
            match &t.selector {
                Selector::Match {
                    comm: Some(name), ..
                } if !t.children => c.names.push(name.as_bytes()),
                // Children (of any selector) or a match by exe or cmdline alone.
                _ => c.all = true,
            }
        }
        c
    }

    fn wanted(&self, comm: &[u8]) -> bool {
        self.all || self.names.contains(&comm)
    }
}

/// The process `pid` of a table ascending by pid.
fn find(table: &[StatFigures], pid: i32) -> Option<&StatFigures> {
    table
        .binary_search_by_key(&pid, |s| s.identity.pid)
        .ok()
        .map(|i| &table[i])
}

fn read_stat(
    reader: &ProcReader,
    pid: i32,
    failures: &mut Vec<ReadFailure>,
    report_gone: bool,
) -> Option<StatFigures> {
    match reader.stat(pid) {
        Ok(s) => Some(s),
        Err(f) => {
            if report_gone || !f.error.is_not_found() {
                failures.push(f);
            }
            None
        }
    }
}

fn read_exe(reader: &ProcReader, pid: i32) -> Option<String> {
    // Kernel threads and other users' processes have no readable exe: it simply doesn't match.
    let path = reader.open(pid).ok()?.exe().ok()?;
    let s = path.to_string_lossy();
    Some(s.strip_suffix(" (deleted)").unwrap_or(&s).to_string())
}

fn read_cmdline(reader: &ProcReader, pid: i32, failures: &mut Vec<ReadFailure>) -> Option<String> {
    let handle = reader.open(pid).ok()?;
    match handle.cmdline() {
        Ok(args) => Some(args.join(" ")),
        Err(f) => {
            if !f.error.is_not_found() {
                failures.push(f);
            }
            None
        }
    }
}

/// The comm of the first process (lowest pid) that `selector` selects now: the default name of
/// a target given by `--pid` or `--cmdline`, as `--comm` names its target.
pub fn first_comm(reader: &ProcReader, selector: Selector) -> Option<String> {
    let spec = TargetSpec::bare("", selector);
    let members = Discovery::default().discover(reader, [&spec], &mut Vec::new());
    Some(members.first()?.first()?.stat.comm.clone())
}

/// `exe: /usr/bin/nginx` matches the full path; `exe: nginx` matches the base name.
pub fn exe_matches(want: &str, got: Option<&str>) -> bool {
    let Some(got) = got else { return false };
    if want.contains('/') {
        got == want
    } else {
        Path::new(got).file_name().and_then(|n| n.to_str()) == Some(want)
    }
}

/// Adds every descendant (through ppid links) of the members to the member list.
fn add_descendants(table: &[StatFigures], members: &mut Vec<Member>) {
    let mut children: HashMap<i32, Vec<&StatFigures>> = HashMap::new();
    for s in table {
        children.entry(s.ppid).or_default().push(s);
    }
    let mut included: HashSet<i32> = members.iter().map(|m| m.stat.identity.pid).collect();
    let mut stack: Vec<i32> = included.iter().copied().collect();
    let mut extra = Vec::new();
    while let Some(p) = stack.pop() {
        for k in children.get(&p).into_iter().flatten() {
            if included.insert(k.identity.pid) {
                stack.push(k.identity.pid);
                extra.push(Member {
                    stat: (*k).clone(),
                    direct: false,
                });
            }
        }
    }
    extra.sort_by_key(|m| m.stat.identity.pid);
    members.extend(extra);
}

/// The pid of this process as the procfs root sees it (`<root>/self`), so a cmdline matcher
/// whose pattern appears in sidewatch's own arguments does not select sidewatch.
fn own_pid(root: &Path) -> Option<i32> {
    std::fs::read_link(root.join("self"))
        .ok()?
        .to_str()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exe_matching() {
        assert!(exe_matches("/usr/bin/sleep", Some("/usr/bin/sleep")));
        assert!(!exe_matches("/usr/bin/sleep", Some("/bin/sleep")));
        assert!(exe_matches("sleep", Some("/bin/sleep")));
        assert!(!exe_matches("sleep", Some("/bin/sleeper")));
        assert!(!exe_matches("sleep", None));
    }

    #[test]
    fn selector_equality_compares_regex_text() {
        let a = Selector::Match {
            comm: None,
            exe: None,
            cmdline: Some(Regex::new("a.b").unwrap()),
        };
        let b = a.clone();
        let c = Selector::Match {
            comm: None,
            exe: None,
            cmdline: Some(Regex::new("a.c").unwrap()),
        };
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
