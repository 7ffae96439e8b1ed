//! cgroupfs readers: where a process's cgroup is, and what its files say.
//!
//! The layout is decided once, at start, from the mount table (`<procfs>/self/mountinfo`): which
//! cgroup hierarchies are mounted under the configured cgroupfs root (`--cgroupfs`, default
//! `/sys/fs/cgroup`), which controllers each v1 hierarchy holds, and the root each mount shows.
//! A process's cgroup comes from `<procfs>/<pid>/cgroup`, one path per hierarchy, relative to the
//! reader's cgroup namespace; [`resolve`] maps it onto a mount (directly, or by searching the
//! mounted tree when the path climbs out of the namespace, `/../<id>`). The per-file parsers are
//! pure functions in [`v1`], [`v2`] and [`psi`]; this module is the thin file layer on top.
//!
//! A file that does not exist is `Ok(None)` at the file layer; whether that is an error is decided
//! per source (a kernel without PSI is "not available", a cgroup without `memory.current` is a
//! read error). Unlimited limits (`max`, the v1 sentinel) are `None`, never a huge number.

pub mod figures;
pub mod psi;
pub mod read;
pub mod v1;
pub mod v2;

pub use figures::{CpuFigures, Figures, IoFigures, MemoryFigures, PidsFigures};
pub use psi::PressureFigures;
pub use read::*;

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use procfs::FromBufRead as _;
use procfs::process::MountInfo;

use crate::source::proc::{ReadFailure, Source};

/// Default cgroupfs root.
pub const DEFAULT_ROOT: &str = "/sys/fs/cgroup";

/// Directories visited at most by one search of a mounted tree (see [`CgroupReader::locate`]).
const SEARCH_BUDGET: usize = 20_000;

// ---------------------------------------------------------------------------------------------
// Mount table and layout

/// cgroup v1 ("legacy") or v2 ("unified").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Version {
    V1,
    V2,
}

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V1 => "v1",
            Version::V2 => "v2",
        }
    }
}

/// The host's arrangement of cgroup hierarchies, as far as this process can see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Layout {
    /// v1 controllers only.
    Legacy,
    /// v2 only.
    Unified,
    /// v1 controllers plus a v2 mount (pressure and CPU time from v2, limits from v1).
    Hybrid,
    /// No cgroup hierarchy visible under the root.
    Unavailable,
}

impl Layout {
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::Legacy => "legacy",
            Layout::Unified => "unified",
            Layout::Hybrid => "hybrid",
            Layout::Unavailable => "unavailable",
        }
    }
}

/// One cgroup mount from the mount table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupMount {
    pub mount_point: PathBuf,
    /// The mount's root inside the hierarchy, relative to the reader's cgroup namespace (`/`,
    /// `/kubepods/...`, or `/../..` when it lies above the namespace root).
    pub root: String,
    pub version: Version,
    /// v1: the hierarchy's controllers (`cpu`, `cpuacct`, `name=systemd`), sorted. v2: empty.
    pub controllers: Vec<String>,
}

/// Options of a v1 mount that are not controllers.
const V1_NON_CONTROLLER_OPTS: &[&str] = &[
    "rw",
    "ro",
    "noprefix",
    "clone_children",
    "xattr",
    "cpuset_v2_mode",
    "favordynmods",
];

/// The cgroup mounts of a mount table (`/proc/self/mountinfo` text) that are visible: a later
/// mount at the same place, or over a parent directory, hides the earlier ones that are not
/// mounted on top of it (a container runtime mounting its own cgroupfs over the inherited one).
pub fn parse_cgroup_mounts(mountinfo: &str) -> Vec<CgroupMount> {
    // (mount id, mount point, the cgroup mount if it is one)
    let mut visible: Vec<(i32, PathBuf, Option<CgroupMount>)> = Vec::new();
    let mut parent: HashMap<i32, i32> = HashMap::new();
    for line in mountinfo.lines() {
        let Ok(m) = MountInfo::from_line(line) else {
            continue;
        };
        parent.insert(m.mnt_id, m.pid);
        let point = PathBuf::from(unescape_mount(&m.mount_point.to_string_lossy()));
        visible.retain(|(id, p, _)| !p.starts_with(&point) || descends(*id, m.mnt_id, &parent));
        let version = match m.fs_type.as_str() {
            "cgroup2" => Version::V2,
            "cgroup" => Version::V1,
            _ => {
                visible.push((m.mnt_id, point, None));
                continue;
            }
        };
        let mut controllers: Vec<String> = match version {
            Version::V2 => Vec::new(),
            Version::V1 => m
                .super_options
                .iter()
                .filter(|(k, _)| !V1_NON_CONTROLLER_OPTS.contains(&k.as_str()))
                .filter(|(k, _)| !k.starts_with("release_agent"))
                .map(|(k, v)| match v {
                    // `name=systemd` is how /proc/<pid>/cgroup names a named hierarchy.
                    Some(v) => format!("{k}={v}"),
                    None => k.clone(),
                })
                .collect(),
        };
        controllers.sort();
        let mount = CgroupMount {
            mount_point: point.clone(),
            root: unescape_mount(&m.root),
            version,
            controllers,
        };
        visible.push((m.mnt_id, point, Some(mount)));
    }
    visible.into_iter().filter_map(|(_, _, m)| m).collect()
}

/// True when mount `id` is mounted (directly or further down) on mount `ancestor`.
fn descends(id: i32, ancestor: i32, parent: &HashMap<i32, i32>) -> bool {
    let mut cur = id;
    // Bounded: a malformed table must not loop.
    for _ in 0..64 {
        match parent.get(&cur) {
            Some(&p) if p == ancestor => return true,
            Some(&p) if p != cur => cur = p,
            _ => return false,
        }
    }
    false
}

/// mountinfo escapes space, tab, newline and backslash as `\040`, `\011`, `\012`, `\134`.
fn unescape_mount(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|o| b[i] == b'\\' && o.iter().all(|c| (b'0'..=b'7').contains(c)))
            .and_then(|o| std::str::from_utf8(o).ok())
            .and_then(|o| u8::from_str_radix(o, 8).ok());
        match octal {
            Some(v) => {
                out.push(v);
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A mounted hierarchy placed under the configured root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    pub version: Version,
    pub controllers: Vec<String>,
    pub mount_root: String,
    /// The mount's directory under the configured root.
    pub dir: PathBuf,
}

impl Hierarchy {
    fn name(&self) -> String {
        match self.version {
            Version::V2 => "v2".into(),
            Version::V1 => self.controllers.join(","),
        }
    }
}

/// Places the visible cgroup mounts under `root`. A mount whose mount point lies under `root` is
/// taken as is. When none does, `root` is taken as a copy of the mounted tree whose path ends with
/// the mounts' parent directory (a fixture `.../sys/fs/cgroup` for mounts at `/sys/fs/cgroup/*`):
/// the mounts with the longest such match are kept. Duplicates of a hierarchy keep the first.
pub fn place_mounts(root: &Path, mounts: &[CgroupMount]) -> Vec<Hierarchy> {
    let mut placed: Vec<(usize, Hierarchy)> = Vec::new();
    for m in mounts {
        if let Ok(rel) = m.mount_point.strip_prefix(root) {
            placed.push((usize::MAX, hierarchy(m, root.join(rel))));
        }
    }
    if placed.is_empty() {
        let rc: Vec<Component<'_>> = root.components().filter(is_normal).collect();
        for m in mounts {
            let mc: Vec<Component<'_>> = m.mount_point.components().filter(is_normal).collect();
            let best = (1..=rc.len().min(mc.len()))
                .rev()
                .find(|k| rc[rc.len() - k..] == mc[..*k]);
            if let Some(k) = best {
                let rel: PathBuf = mc[k..].iter().collect();
                placed.push((k, hierarchy(m, root.join(rel))));
            }
        }
        let best = placed.iter().map(|(k, _)| *k).max().unwrap_or(0);
        placed.retain(|(k, _)| *k == best);
    }
    let mut out: Vec<Hierarchy> = Vec::new();
    for (_, h) in placed {
        if !out
            .iter()
            .any(|o| o.version == h.version && o.controllers == h.controllers)
        {
            out.push(h);
        }
    }
    out
}

fn is_normal(c: &Component<'_>) -> bool {
    matches!(c, Component::Normal(_))
}

fn hierarchy(m: &CgroupMount, dir: PathBuf) -> Hierarchy {
    Hierarchy {
        version: m.version,
        controllers: m.controllers.clone(),
        mount_root: m.root.clone(),
        dir,
    }
}

/// The layout the placed hierarchies make. A v1 hierarchy without a controller (`name=systemd`)
/// does not make a host legacy or hybrid.
pub fn layout_of(hierarchies: &[Hierarchy]) -> Layout {
    let v1 = hierarchies
        .iter()
        .any(|h| h.version == Version::V1 && h.controllers.iter().any(|c| !c.contains('=')));
    let v2 = hierarchies.iter().any(|h| h.version == Version::V2);
    match (v1, v2) {
        (true, true) => Layout::Hybrid,
        (true, false) => Layout::Legacy,
        (false, true) => Layout::Unified,
        (false, false) => Layout::Unavailable,
    }
}

// ---------------------------------------------------------------------------------------------
// Locating a process's cgroup

/// One line of `/proc/<pid>/cgroup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberOf {
    pub hierarchy_id: u32,
    /// Sorted; empty for v2.
    pub controllers: Vec<String>,
    pub path: String,
}

/// Parses `/proc/<pid>/cgroup` with procfs's parser.
pub fn parse_proc_cgroup(text: &str) -> Result<Vec<MemberOf>, ParseError> {
    let groups = procfs::ProcessCGroups::from_buf_read(text.as_bytes())
        .map_err(|e| ParseError::new(1, &e.to_string()))?;
    Ok(groups
        .into_iter()
        .map(|g| {
            let mut controllers = g.controllers;
            controllers.sort();
            MemberOf {
                hierarchy_id: g.hierarchy,
                controllers,
                path: g.pathname,
            }
        })
        .collect())
}

/// Where a cgroup path lies relative to a mount of its hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// Directly below the mount, at this relative path (empty: the mount's root).
    Dir(PathBuf),
    /// Somewhere `depth` levels below the mount, its path ending with `tail`: the path climbs out
    /// of our cgroup namespace (`/../<id>`) and so does the mount's root (`/../..`), so the names
    /// in between are unknown and the tree must be searched.
    Search { depth: usize, tail: Vec<String> },
    /// Not below this mount.
    NotVisible,
}

/// Splits a namespace-relative cgroup path into leading `..` steps and the names after them.
fn split_ns_path(p: &str) -> (usize, Vec<String>) {
    let mut ups = 0;
    let mut names: Vec<String> = Vec::new();
    for c in p.split('/').filter(|c| !c.is_empty() && *c != ".") {
        if c == ".." {
            if names.pop().is_none() {
                ups += 1;
            }
        } else {
            names.push(c.to_string());
        }
    }
    (ups, names)
}

/// Maps the cgroup `path` (from `/proc/<pid>/cgroup`) onto a mount whose root is `mount_root`
/// (both as the reader's cgroup namespace shows them).
pub fn resolve(mount_root: &str, path: &str) -> Resolved {
    let (ur, dr) = split_ns_path(mount_root);
    let (up, dp) = split_ns_path(path);
    if ur == up && dp.starts_with(&dr) {
        return Resolved::Dir(dp[dr.len()..].iter().collect());
    }
    if ur > up && dr.is_empty() {
        return Resolved::Search {
            depth: ur - up + dp.len(),
            tail: dp,
        };
    }
    Resolved::NotVisible
}

/// Where each resource of one process's cgroup is read from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Located {
    /// The cgroup's path as `/proc/<pid>/cgroup` shows it for the main hierarchy (memory's, else
    /// cpu's, else v2's): the `cgroup` / `path` label.
    pub path: String,
    pub version: Option<Version>,
    pub memory: Option<Place>,
    /// CPU time (v1 `cpuacct`, else v2 `cpu.stat`).
    pub cpuacct: Option<Place>,
    /// Quota and throttling (v1 `cpu`, else v2).
    pub cpu: Option<Place>,
    pub pids: Option<Place>,
    pub io: Option<Place>,
    /// Pressure stall files (v2 only).
    pub pressure: Option<Place>,
    pub cpuset: Option<Place>,
    /// The `cgroup` file it was located from.
    pub source_file: PathBuf,
}

impl Located {
    /// The directory the `path` comes from (see [`Located::path`]).
    fn main_place(&self) -> Option<&Place> {
        [
            &self.memory,
            &self.cpu,
            &self.cpuacct,
            &self.pressure,
            &self.pids,
            &self.io,
        ]
        .into_iter()
        .find_map(Option::as_ref)
    }
}

/// A cgroup directory of one hierarchy, with its identity (a recreated cgroup at the same path
/// has another inode, so it counts as a new cgroup).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Place {
    pub dir: PathBuf,
    pub version: Version,
    pub inode: u64,
    /// The directory is the mount point of its hierarchy: on the host, the root cgroup, which
    /// has no interface files for several controllers (`pids.current`, v2 `memory.current`).
    /// A file missing there is "not available", not a read error.
    pub at_mount_root: bool,
}

impl Place {
    /// True while the directory is the same cgroup as when it was located.
    pub fn still_exists(&self) -> bool {
        std::fs::metadata(&self.dir).is_ok_and(|m| m.ino() == self.inode)
    }
}

/// Which cgroup source a failure belongs to.
fn failure(source: Source, e: CgroupError) -> ReadFailure {
    ReadFailure {
        source,
        error: e.into(),
    }
}

/// The cgroupfs seen through one mount table. Built once at start; `locate` caches searches.
#[derive(Debug)]
pub struct CgroupReader {
    root: PathBuf,
    procfs: PathBuf,
    layout: Layout,
    hierarchies: Vec<Hierarchy>,
    /// The kernel has PSI (`<procfs>/pressure/cpu` readable).
    psi_kernel: bool,
    /// Online CPUs of the machine (`<procfs>/stat`), when no cpuset says otherwise.
    host_cpus: Option<u32>,
    ticks_per_second: u64,
    /// (hierarchy index, namespace-relative path) → directory found by a search.
    searched: HashMap<(usize, String), PathBuf>,
    /// The last location of each process located, with the `cgroup` text it came from.
    located: HashMap<i32, (String, Located)>,
    /// The last `cgroup.procs` of the directories [`CgroupReader::foreign_processes`] reads.
    procs: HashMap<PathBuf, (Instant, Vec<i32>)>,
}

/// How long a `cgroup.procs` reading stands (see [`CgroupReader::foreign_processes`]).
pub const PROCS_MAX_AGE: Duration = Duration::from_secs(1);

/// Processes whose last location [`CgroupReader::locate`] keeps.
const MAX_LOCATED: usize = 4096;

impl CgroupReader {
    /// Reads the mount table `<procfs>/self/mountinfo`, `<procfs>/pressure/cpu` and
    /// `<procfs>/stat` once, and places the hierarchies under `root`.
    pub fn new(root: &Path, procfs: &Path) -> Self {
        let mountinfo = std::fs::read_to_string(procfs.join("self/mountinfo"));
        if let Err(e) = &mountinfo {
            tracing::warn!(
                file = %procfs.join("self/mountinfo").display(),
                error = %e,
                "cannot read the mount table: no cgroup figures"
            );
        }
        let psi_kernel = std::fs::read_to_string(procfs.join("pressure/cpu")).is_ok();
        let host_cpus = std::fs::read_to_string(procfs.join("stat"))
            .ok()
            .and_then(|t| crate::source::proc::parse_online_cpus(&t));
        let r = Self::with_mounts(
            root,
            procfs,
            &parse_cgroup_mounts(mountinfo.as_deref().unwrap_or("")),
            psi_kernel,
            host_cpus,
        );
        tracing::info!(
            root = %root.display(),
            layout = r.layout.as_str(),
            hierarchies = r.hierarchies.len(),
            psi = r.psi_kernel,
            "cgroupfs"
        );
        r
    }

    /// Places `mounts` under `root` (no mount table read).
    pub fn with_mounts(
        root: &Path,
        procfs: &Path,
        mounts: &[CgroupMount],
        psi_kernel: bool,
        host_cpus: Option<u32>,
    ) -> Self {
        let canonical = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        let hierarchies = place_mounts(&canonical, mounts);
        CgroupReader {
            root: canonical,
            procfs: procfs.to_path_buf(),
            layout: layout_of(&hierarchies),
            hierarchies,
            psi_kernel,
            host_cpus,
            ticks_per_second: procfs::ticks_per_second().max(1),
            searched: HashMap::new(),
            located: HashMap::new(),
            procs: HashMap::new(),
        }
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    pub fn hierarchies(&self) -> &[Hierarchy] {
        &self.hierarchies
    }

    /// Pressure files are expected when the kernel has PSI and a v2 hierarchy can hold them (or
    /// nothing is visible at all, in which case their absence is one more missing source).
    pub fn pressure_expected(&self) -> bool {
        self.psi_kernel && self.layout != Layout::Legacy
    }

    fn v1_with(&self, controller: &str) -> Option<usize> {
        self.hierarchies
            .iter()
            .position(|h| h.version == Version::V1 && h.controllers.iter().any(|c| c == controller))
    }

    fn v2(&self) -> Option<usize> {
        self.hierarchies
            .iter()
            .position(|h| h.version == Version::V2)
    }

    /// The hierarchy that serves a v1 controller, else v2.
    fn serving(&self, v1_controller: &str) -> Option<usize> {
        self.v1_with(v1_controller).or_else(|| self.v2())
    }

    /// Locates the cgroup of `pid`. Hierarchies the process is not visible in leave their
    /// resources unset; that is an error (source `cgroup`) only when nothing could be located.
    ///
    /// `<procfs>/<pid>/cgroup` is read every time, so a process moved to another cgroup is
    /// located anew at once; while its text is what it was, the last location is reused (no
    /// parse, no search, one `statx` instead of one per hierarchy). The main directory is
    /// checked to be the same cgroup still (a cgroup removed and recreated at the same path
    /// is a new one).
    pub fn locate(&mut self, pid: i32) -> Result<Located, ReadFailure> {
        let file = self.procfs.join(pid.to_string()).join("cgroup");
        let text = read_required(&file).map_err(|e| failure(Source::Cgroup, e))?;
        if let Some((last, loc)) = self.located.get(&pid) {
            if *last == text && loc.main_place().is_none_or(Place::still_exists) {
                return Ok(loc.clone());
            }
        }
        let lines = parse_proc_cgroup(&text)
            .map_err(|e| failure(Source::Cgroup, CgroupError::parse(&file, e)))?;
        let loc = self.locate_lines(pid, &file, &lines)?;
        // Bounded under pid churn: forget everything now and then rather than track ages.
        if self.located.len() >= MAX_LOCATED {
            self.located.clear();
        }
        self.located.insert(pid, (text, loc.clone()));
        Ok(loc)
    }

    fn locate_lines(
        &mut self,
        pid: i32,
        file: &Path,
        lines: &[MemberOf],
    ) -> Result<Located, ReadFailure> {
        let mut done: HashMap<usize, Option<(Place, String)>> = HashMap::new();
        let mut first_err = None;
        let mut pick = |this: &mut Self, i: Option<usize>| {
            let i = i?;
            if let Some(p) = done.get(&i) {
                return p.clone();
            }
            let p = match this.place_in(i, pid, file, lines) {
                Ok(p) => p,
                Err(e) => {
                    first_err.get_or_insert(e);
                    None
                }
            };
            done.insert(i, p.clone());
            p
        };
        let want = [
            self.serving("memory"),
            self.serving("cpuacct"),
            self.serving("cpu"),
            self.serving("pids"),
            self.serving("blkio"),
            self.v2(),
            self.serving("cpuset"),
        ];
        let [memory, cpuacct, cpu, pids, io, pressure, cpuset] = want.map(|i| pick(self, i));
        let main = [&memory, &cpu, &cpuacct, &pressure, &pids, &io]
            .into_iter()
            .find_map(|p| p.clone());
        let Some((main_place, main_path)) = main else {
            return match first_err {
                Some(e) => Err(failure(Source::Cgroup, e)),
                // Nothing mounted: every resource is a missing source, reported by `read`.
                None => Ok(Located {
                    source_file: file.into(),
                    ..Located::default()
                }),
            };
        };
        Ok(Located {
            path: main_path,
            version: Some(main_place.version),
            memory: memory.map(|p| p.0),
            cpuacct: cpuacct.map(|p| p.0),
            cpu: cpu.map(|p| p.0),
            pids: pids.map(|p| p.0),
            io: io.map(|p| p.0),
            pressure: pressure.map(|p| p.0),
            cpuset: cpuset.map(|p| p.0),
            source_file: file.into(),
        })
    }

    /// The directory of `pid`'s cgroup in hierarchy `i`, with the path `/proc/<pid>/cgroup` gave.
    fn place_in(
        &mut self,
        i: usize,
        pid: i32,
        file: &Path,
        lines: &[MemberOf],
    ) -> Result<Option<(Place, String)>, CgroupError> {
        let h = &self.hierarchies[i];
        let line = lines.iter().find(|l| match h.version {
            Version::V2 => l.hierarchy_id == 0 && l.controllers.is_empty(),
            Version::V1 => l.hierarchy_id != 0 && l.controllers == h.controllers,
        });
        let Some(line) = line else {
            return Ok(None);
        };
        let not_visible = || CgroupError::NotVisible {
            file: file.into(),
            hierarchy: h.name(),
            path: line.path.clone(),
            mount: h.dir.clone(),
        };
        let dir = match resolve(&h.mount_root, &line.path) {
            Resolved::Dir(rel) => h.dir.join(rel),
            Resolved::NotVisible => return Err(not_visible()),
            Resolved::Search { depth, tail } => {
                let key = (i, line.path.clone());
                match self.searched.get(&key) {
                    Some(d) if d.is_dir() => d.clone(),
                    _ => {
                        let d = search(&h.dir, depth, &tail, pid).ok_or_else(not_visible)?;
                        self.searched.insert(key, d.clone());
                        d
                    }
                }
            }
        };
        let h = &self.hierarchies[i];
        let meta = std::fs::metadata(&dir).map_err(|e| CgroupError::io(&dir, e))?;
        let at_mount_root = dir == h.dir;
        Ok(Some((
            Place {
                dir,
                version: h.version,
                inode: meta.ino(),
                at_mount_root,
            },
            line.path.clone(),
        )))
    }

    /// Reads every resource of a located cgroup. Each source that could not be read adds one
    /// failure (its first error); a resource no hierarchy provides is a failure too, except
    /// pressure where the kernel or the layout has none.
    pub fn read(&self, loc: &Located, failures: &mut Vec<ReadFailure>) -> Figures {
        let mut f = Figures::default();
        let missing = |controller: &'static str, v1: &str| {
            if self.serving(v1).is_some() {
                CgroupError::NotLocated {
                    controller,
                    file: loc.source_file.clone(),
                }
            } else {
                CgroupError::NotMounted {
                    controller,
                    root: self.root.clone(),
                }
            }
        };

        let mut err = FirstError::default();
        match &loc.memory {
            Some(p) if p.version == Version::V1 => f.memory = v1::read_memory(&p.dir, &mut err),
            Some(p) => f.memory = v2::read_memory(&p.dir, &mut err),
            None => err.set(missing("memory", "memory")),
        }
        push(failures, Source::CgroupMemory, root_ok(err, &loc.memory));

        let mut err = FirstError::default();
        match &loc.cpuacct {
            Some(p) if p.version == Version::V1 => {
                v1::read_cpuacct(&p.dir, self.ticks_per_second, &mut f.cpu, &mut err)
            }
            Some(p) => v2::read_cpu_usage(&p.dir, &mut f.cpu, &mut err),
            None => err.set(missing("cpu", "cpuacct")),
        }
        match &loc.cpu {
            Some(p) if p.version == Version::V1 => v1::read_cpu(&p.dir, &mut f.cpu, &mut err),
            Some(p) => v2::read_cpu(&p.dir, &mut f.cpu, &mut err),
            None => {}
        }
        let at_root = loc.cpu.as_ref().or(loc.cpuacct.as_ref()).cloned();
        push(failures, Source::CgroupCpu, root_ok(err, &at_root));

        let mut err = FirstError::default();
        match &loc.pids {
            Some(p) => f.pids = read_pids(&p.dir, &mut err),
            None => err.set(missing("pids", "pids")),
        }
        push(failures, Source::CgroupPids, root_ok(err, &loc.pids));

        let mut err = FirstError::default();
        match &loc.io {
            Some(p) if p.version == Version::V1 => f.io = v1::read_io(&p.dir, &mut err),
            Some(p) => f.io = v2::read_io(&p.dir, &mut err),
            None => err.set(missing("io", "blkio")),
        }
        push(failures, Source::CgroupIo, root_ok(err, &loc.io));

        let mut err = FirstError::default();
        let expected = self.pressure_expected();
        match &loc.pressure {
            Some(p) => f.pressure = psi::read_pressure(&p.dir, expected, &mut err),
            None if expected => err.set(if self.v2().is_some() {
                CgroupError::NotLocated {
                    controller: "pressure",
                    file: loc.source_file.clone(),
                }
            } else {
                CgroupError::NotMounted {
                    controller: "pressure",
                    root: self.root.clone(),
                }
            }),
            None => {}
        }
        push(failures, Source::CgroupPressure, err);

        f.online_cpus = loc
            .cpuset
            .as_ref()
            .and_then(read_cpuset)
            .or(self.host_cpus)
            .or_else(|| {
                std::thread::available_parallelism()
                    .ok()
                    .and_then(|n| u32::try_from(n.get()).ok())
            });
        f
    }

    /// How many processes that are not in `own` the cgroup holds: the most that one of the
    /// directories the memory and CPU-time figures come from holds (one on v2, two on v1).
    /// Each directory's `cgroup.procs` is read at most once per [`PROCS_MAX_AGE`] (the kernel
    /// builds the whole pid list of the cgroup for it, and a v1 CPU hierarchy's root cgroup
    /// holds every process of the host). A directory not read within that time (the target
    /// moved there) is read at once; `own` is always this tick's.
    pub fn foreign_processes(&mut self, loc: &Located, own: &[i32]) -> Result<usize, ReadFailure> {
        let mut dirs: Vec<&Path> = Vec::new();
        for p in [&loc.memory, &loc.cpuacct].into_iter().flatten() {
            if !dirs.contains(&p.dir.as_path()) {
                dirs.push(&p.dir);
            }
        }
        let now = Instant::now();
        self.procs
            .retain(|_, (at, _)| now.duration_since(*at) < PROCS_MAX_AGE);
        let mut n = 0;
        for d in dirs {
            if !self.procs.contains_key(d) {
                let procs = read_parsed(&d.join("cgroup.procs"), parse_procs)
                    .map_err(|e| failure(Source::Cgroup, e))?;
                self.procs.insert(d.to_path_buf(), (now, procs));
            }
            if let Some((_, procs)) = self.procs.get(d) {
                n = n.max(foreign_processes(procs, own));
            }
        }
        Ok(n)
    }

    /// Reads only the counters of a cgroup whose processes are gone (a target that is down): no
    /// failures are reported, the cgroup may vanish at any moment.
    pub fn read_counters(&self, loc: &Located) -> Figures {
        let mut failures = Vec::new();
        let mut f = self.read(loc, &mut failures);
        f.pids = PidsFigures::default();
        f
    }
}

fn push(failures: &mut Vec<ReadFailure>, source: Source, err: FirstError) {
    if let Some(e) = err.into_inner() {
        failures.push(failure(source, e));
    }
}

/// Searches `dir` for cgroup directories `depth` levels down whose path ends with `tail`; when
/// several match, keeps the one whose `cgroup.procs` lists `pid`.
fn search(dir: &Path, depth: usize, tail: &[String], pid: i32) -> Option<PathBuf> {
    if depth < tail.len() {
        return None;
    }
    let mut level: Vec<PathBuf> = vec![dir.to_path_buf()];
    let mut budget = SEARCH_BUDGET;
    let free = depth - tail.len();
    for d in 0..depth {
        let mut next = Vec::new();
        for p in &level {
            let Ok(entries) = std::fs::read_dir(p) else {
                continue;
            };
            for e in entries.filter_map(Result::ok) {
                if budget == 0 {
                    tracing::warn!(dir = %dir.display(), "cgroup search budget exhausted");
                    return None;
                }
                budget -= 1;
                if !e.file_type().is_ok_and(|t| t.is_dir()) {
                    continue;
                }
                if d >= free && e.file_name().to_str() != Some(tail[d - free].as_str()) {
                    continue;
                }
                next.push(e.path());
            }
        }
        level = next;
    }
    match level.len() {
        0 => None,
        1 => level.pop(),
        _ => {
            let mut holding: Vec<PathBuf> = level
                .into_iter()
                .filter(|p| {
                    std::fs::read_to_string(p.join("cgroup.procs"))
                        .is_ok_and(|t| t.lines().any(|l| l.trim().parse::<i32>().ok() == Some(pid)))
                })
                .collect();
            if holding.len() == 1 {
                holding.pop()
            } else {
                None
            }
        }
    }
}

fn read_cpuset(p: &Place) -> Option<u32> {
    let file = match p.version {
        Version::V1 => "cpuset.effective_cpus",
        Version::V2 => "cpuset.cpus.effective",
    };
    read_text(&p.dir.join(file))
        .ok()
        .flatten()
        .and_then(|t| parse_cpu_list(&t).ok())
        .filter(|n| *n > 0)
}

/// Drops a "file not found" error of a place that is its hierarchy's root (see
/// [`Place::at_mount_root`]); every other error stays.
fn root_ok(err: FirstError, place: &Option<Place>) -> FirstError {
    match (err.into_inner(), place) {
        (Some(CgroupError::NotFound(_)), Some(p)) if p.at_mount_root => FirstError::default(),
        (e, _) => FirstError(e),
    }
}

fn read_pids(dir: &Path, err: &mut FirstError) -> PidsFigures {
    PidsFigures {
        current: err.take(read_parsed(&dir.join("pids.current"), parse_u64)),
        limit: err
            .take(read_parsed(&dir.join("pids.max"), parse_limit))
            .flatten(),
    }
}

#[cfg(test)]
#[path = "mod_tests.rs"]
mod tests;
