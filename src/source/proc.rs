//! procfs readers: one `ProcReader` per procfs root (`/proc` live, a fixture tree in tests).
//!
//! Parsing is the `procfs` crate's (`Stat`, `Status`, `Io`, `Limits`, `Schedstat`, `SmapsRollup`);
//! this module is the thin file layer that opens `<root>/<pid>`, reads each file once, and turns
//! every outcome into a typed value: a figure that could not be read is `None` plus a
//! [`ReadFailure`] naming the source, never a zero. Units are in the field names.

use std::path::{Path, PathBuf};

use procfs::ProcError;
use procfs::process::{LimitValue, Process};

/// Identity of a process: a reused pid has a different start time, so it is a new process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Identity {
    pub pid: i32,
    pub starttime_ticks: u64,
}

/// The figures of `/proc/<pid>/stat` every tick needs (one read per process).
#[derive(Debug, Clone, PartialEq)]
pub struct StatFigures {
    pub identity: Identity,
    pub ppid: i32,
    pub comm: String,
    pub state: char,
    pub cpu_user_ticks: u64,
    pub cpu_system_ticks: u64,
    pub minor_faults: u64,
    pub major_faults: u64,
    pub threads: u64,
    pub virtual_memory_bytes: u64,
}

/// Everything one tick read about one process. `None` = not readable this tick.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProcessFigures {
    pub resident_memory_bytes: Option<u64>,
    pub swap_bytes: Option<u64>,
    pub voluntary_context_switches: Option<u64>,
    pub involuntary_context_switches: Option<u64>,
    pub io_read_bytes: Option<u64>,
    pub io_write_bytes: Option<u64>,
    pub cpu_wait_nanoseconds: Option<u64>,
    pub open_fds: Option<u64>,
    pub proportional_memory_bytes: Option<u64>,
}

/// Which file a failed read came from: the `source` label of `sidewatch_read_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    Stat,
    Status,
    Io,
    Limits,
    Schedstat,
    Fd,
    SmapsRollup,
    Cmdline,
    Exe,
    PidFile,
    SelfProcess,
    /// `<procfs>/<pid>/cgroup`, or locating that cgroup under the cgroupfs root.
    Cgroup,
    CgroupMemory,
    CgroupCpu,
    CgroupPids,
    CgroupIo,
    CgroupPressure,
}

impl Source {
    pub const ALL: [Source; 17] = [
        Source::Stat,
        Source::Status,
        Source::Io,
        Source::Limits,
        Source::Schedstat,
        Source::Fd,
        Source::SmapsRollup,
        Source::Cmdline,
        Source::Exe,
        Source::PidFile,
        Source::SelfProcess,
        Source::Cgroup,
        Source::CgroupMemory,
        Source::CgroupCpu,
        Source::CgroupPids,
        Source::CgroupIo,
        Source::CgroupPressure,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Stat => "stat",
            Source::Status => "status",
            Source::Io => "io",
            Source::Limits => "limits",
            Source::Schedstat => "schedstat",
            Source::Fd => "fd",
            Source::SmapsRollup => "smaps_rollup",
            Source::Cmdline => "cmdline",
            Source::Exe => "exe",
            Source::PidFile => "pid_file",
            Source::SelfProcess => "self",
            Source::Cgroup => "cgroup",
            Source::CgroupMemory => "cgroup_memory",
            Source::CgroupCpu => "cgroup_cpu",
            Source::CgroupPids => "cgroup_pids",
            Source::CgroupIo => "cgroup_io",
            Source::CgroupPressure => "cgroup_pressure",
        }
    }
}

/// Why a read failed, with the file it concerned.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}: no such file or process")]
    NotFound(PathBuf),
    #[error("{0}: permission denied")]
    PermissionDenied(PathBuf),
    #[error("{path}: {reason}")]
    Other { path: PathBuf, reason: String },
}

impl ReadError {
    fn from_proc(err: ProcError, fallback: &Path) -> Self {
        match err {
            ProcError::NotFound(p) => ReadError::NotFound(p.unwrap_or_else(|| fallback.into())),
            ProcError::PermissionDenied(p) => {
                ReadError::PermissionDenied(p.unwrap_or_else(|| fallback.into()))
            }
            ProcError::Incomplete(p) => ReadError::Other {
                path: p.unwrap_or_else(|| fallback.into()),
                reason: "incomplete contents".into(),
            },
            ProcError::Io(e, p) => ReadError::Other {
                path: p.unwrap_or_else(|| fallback.into()),
                reason: e.to_string(),
            },
            other => ReadError::Other {
                path: fallback.into(),
                reason: other.to_string(),
            },
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::NotFound(_))
    }
}

/// A figure that could not be read: which source, and why.
#[derive(Debug)]
pub struct ReadFailure {
    pub source: Source,
    pub error: ReadError,
}

/// Reads one procfs root. Cheap to clone; holds no open files between ticks.
#[derive(Debug, Clone)]
pub struct ProcReader {
    root: PathBuf,
    ticks_per_second: u64,
    boot_time_seconds: Option<u64>,
    /// A live procfs gives the fd count as the size of `fd/` (Linux ≥ 6.2); a fixture tree on a
    /// normal filesystem does not, so count entries there.
    live_procfs: bool,
}

impl ProcReader {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let boot_time_seconds = std::fs::read_to_string(root.join("stat"))
            .ok()
            .and_then(|t| parse_btime(&t));
        let live_procfs = is_procfs(&root);
        ProcReader {
            root,
            ticks_per_second: procfs::ticks_per_second().max(1),
            boot_time_seconds,
            live_procfs,
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn ticks_per_second(&self) -> u64 {
        self.ticks_per_second
    }

    pub fn boot_time_seconds(&self) -> Option<u64> {
        self.boot_time_seconds
    }

    /// Seconds since the epoch at which a process started, when the boot time is known.
    pub fn start_time_seconds(&self, identity: Identity) -> Option<f64> {
        self.boot_time_seconds
            .map(|bt| bt as f64 + identity.starttime_ticks as f64 / self.ticks_per_second as f64)
    }

    pub fn ticks_to_seconds(&self, ticks: u64) -> f64 {
        ticks as f64 / self.ticks_per_second as f64
    }

    /// Every numeric entry of the root, in ascending order.
    pub fn pids(&self) -> Result<Vec<i32>, ReadError> {
        let dir = std::fs::read_dir(&self.root).map_err(|e| io_error(&self.root, e))?;
        let mut pids: Vec<i32> = dir
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
            .collect();
        pids.sort_unstable();
        Ok(pids)
    }

    /// Opens `<root>/<pid>`; every later read of this handle is relative to that directory, so a
    /// pid reused mid-tick cannot mix two processes' files.
    pub fn open(&self, pid: i32) -> Result<ProcHandle<'_>, ReadError> {
        let path = self.root.join(pid.to_string());
        let process =
            Process::new_with_root(path.clone()).map_err(|e| ReadError::from_proc(e, &path))?;
        Ok(ProcHandle {
            reader: self,
            process,
            path,
        })
    }
}

/// An open `<root>/<pid>` directory.
pub struct ProcHandle<'r> {
    reader: &'r ProcReader,
    process: Process,
    path: PathBuf,
}

impl ProcHandle<'_> {
    /// Reads one file of this process (relative to the open directory) and parses it with the
    /// `procfs` parser, after [`parse_proc_file`]'s checks.
    fn read_parsed<T: procfs::FromRead>(&self, file: &str) -> Result<T, ProcError> {
        use procfs::ProcErrorExt as _;
        use std::io::Read as _;
        let f = self.process.open_relative(file)?;
        let mut buf = Vec::with_capacity(2048);
        f.take(MAX_PROC_FILE_BYTES)
            .read_to_end(&mut buf)
            .map_err(|e| ProcError::from(e).error_path(&self.path.join(file)))?;
        parse_proc_file(file, &buf).map_err(|e| e.error_path(&self.path.join(file)))
    }

    fn failure(&self, source: Source, file: &str, err: ProcError) -> ReadFailure {
        ReadFailure {
            source,
            error: ReadError::from_proc(err, &self.path.join(file)),
        }
    }

    pub fn stat(&self) -> Result<StatFigures, ReadFailure> {
        let s = self
            .read_parsed::<procfs::process::Stat>("stat")
            .map_err(|e| self.failure(Source::Stat, "stat", e))?;
        Ok(StatFigures {
            identity: Identity {
                pid: s.pid,
                starttime_ticks: s.starttime,
            },
            ppid: s.ppid,
            comm: s.comm,
            state: s.state,
            cpu_user_ticks: s.utime,
            cpu_system_ticks: s.stime,
            minor_faults: s.minflt,
            major_faults: s.majflt,
            threads: u64::try_from(s.num_threads).unwrap_or(0),
            virtual_memory_bytes: s.vsize,
        })
    }

    /// `cmdline` arguments; empty for kernel threads and zombies.
    pub fn cmdline(&self) -> Result<Vec<String>, ReadFailure> {
        self.process
            .cmdline()
            .map_err(|e| self.failure(Source::Cmdline, "cmdline", e))
    }

    pub fn exe(&self) -> Result<PathBuf, ReadFailure> {
        self.process
            .exe()
            .map_err(|e| self.failure(Source::Exe, "exe", e))
    }

    /// Soft limit on open files; `None` when unlimited.
    pub fn max_fds_soft(&self) -> Result<Option<u64>, ReadFailure> {
        let limits = self
            .read_parsed::<procfs::process::Limits>("limits")
            .map_err(|e| self.failure(Source::Limits, "limits", e))?;
        Ok(match limits.max_open_files.soft_limit {
            LimitValue::Value(v) => Some(v),
            LimitValue::Unlimited => None,
        })
    }

    pub fn open_fds(&self) -> Result<u64, ReadFailure> {
        let dir = self.path.join("fd");
        let fail = |e| ReadFailure {
            source: Source::Fd,
            error: io_error(&dir, e),
        };
        if self.reader.live_procfs {
            // Linux >= 6.2 reports the number of open fds as the size of `fd/`.
            let size = std::fs::metadata(&dir).map_err(fail)?.len();
            if size > 0 {
                return Ok(size);
            }
        }
        // Count only numeric names: not `.`/`..`, nor a fixture's `.keep` file.
        std::fs::read_dir(&dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| {
                        e.file_name()
                            .to_str()
                            .is_some_and(|n| n.parse::<u32>().is_ok())
                    })
                    .count() as u64
            })
            .map_err(fail)
    }

    /// Reads the per-tick files other than `stat`. Each failure is reported, not fatal.
    pub fn figures(&self, with_smaps: bool, failures: &mut Vec<ReadFailure>) -> ProcessFigures {
        let mut f = ProcessFigures::default();
        match self.read_parsed::<procfs::process::Status>("status") {
            Ok(s) => {
                f.resident_memory_bytes = s.vmrss.map(kib);
                f.swap_bytes = s.vmswap.map(kib);
                f.voluntary_context_switches = s.voluntary_ctxt_switches;
                f.involuntary_context_switches = s.nonvoluntary_ctxt_switches;
            }
            Err(e) => failures.push(self.failure(Source::Status, "status", e)),
        }
        match self.read_parsed::<procfs::process::Io>("io") {
            Ok(io) => {
                f.io_read_bytes = Some(io.read_bytes);
                f.io_write_bytes = Some(io.write_bytes);
            }
            Err(e) => failures.push(self.failure(Source::Io, "io", e)),
        }
        match self.read_parsed::<procfs::process::Schedstat>("schedstat") {
            Ok(s) => f.cpu_wait_nanoseconds = Some(s.run_delay),
            Err(e) => failures.push(self.failure(Source::Schedstat, "schedstat", e)),
        }
        match self.open_fds() {
            Ok(n) => f.open_fds = Some(n),
            Err(e) => failures.push(e),
        }
        if with_smaps {
            match self.read_parsed::<procfs::process::SmapsRollup>("smaps_rollup") {
                Ok(r) => {
                    f.proportional_memory_bytes = r
                        .memory_map_rollup
                        .iter()
                        .filter_map(|m| m.extension.map.get("Pss").copied())
                        .reduce(|a, b| a + b);
                }
                Err(e) => failures.push(self.failure(Source::SmapsRollup, "smaps_rollup", e)),
            }
        }
        f
    }
}

/// Largest per-process file read (smaps_rollup and status are a few KiB).
const MAX_PROC_FILE_BYTES: u64 = 256 * 1024;

/// Parses the text of a per-process file with the `procfs` parser. The kernel always writes
/// well-formed text, but `--procfs` may point at a copy of another host's procfs or a fixture
/// tree, and the `procfs` parsers index without bounds checks on some malformed input (found
/// by `tests/fuzz.rs`): text they would panic on is refused here as incomplete instead.
pub fn parse_proc_file<T: procfs::FromRead>(file: &str, bytes: &[u8]) -> Result<T, ProcError> {
    let sane = match file {
        "stat" => stat_is_parsable(&String::from_utf8_lossy(bytes)),
        "io" => bytes.is_ascii(),
        "limits" => limits_is_parsable(bytes),
        _ => true,
    };
    if !sane {
        return Err(ProcError::Incomplete(None));
    }
    T::from_read(bytes)
}

/// `PID (COMM) S ...`: digits, a space, the comm in parentheses (split at the last `)`), a space
/// and at least one more character.
fn stat_is_parsable(text: &str) -> bool {
    let t = text.trim();
    let (Some(open), Some(close)) = (t.find('('), t.rfind(')')) else {
        return false;
    };
    open >= 2
        && t.as_bytes()[open - 1] == b' '
        && t[..open - 1].bytes().all(|b| b.is_ascii_digit())
        && close > open
        && t.as_bytes().get(close + 1) == Some(&b' ')
        && close + 2 < t.len()
}

/// Every limit line has its name, soft and hard values, and units (the two priority limits
/// have no units).
fn limits_is_parsable(bytes: &[u8]) -> bool {
    String::from_utf8_lossy(bytes).lines().all(|l| {
        let l = l.trim();
        let unitless = l.starts_with("Max nice priority") || l.starts_with("Max realtime priority");
        // An empty line would make the parser index below zero.
        l.starts_with("Limit") || l.split_whitespace().count() >= if unitless { 3 } else { 4 }
    })
}

/// The `btime` line of `/proc/stat`: boot time in seconds since the epoch.
pub fn parse_btime(stat: &str) -> Option<u64> {
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

fn kib(v: u64) -> u64 {
    v.saturating_mul(1024)
}

fn io_error(path: &Path, e: std::io::Error) -> ReadError {
    match e.kind() {
        std::io::ErrorKind::NotFound => ReadError::NotFound(path.into()),
        std::io::ErrorKind::PermissionDenied => ReadError::PermissionDenied(path.into()),
        _ => ReadError::Other {
            path: path.into(),
            reason: e.to_string(),
        },
    }
}

/// True when `root` is a mounted procfs (statfs magic), false for a fixture tree.
fn is_procfs(root: &Path) -> bool {
    nix::sys::statfs::statfs(root)
        .map(|s| s.filesystem_type() == nix::sys::statfs::PROC_SUPER_MAGIC)
        .unwrap_or(false)
}

/// Reads a pid file: the first whitespace-separated token must be a positive pid.
pub fn read_pid_file(path: &Path) -> Result<i32, ReadError> {
    let text = std::fs::read_to_string(path).map_err(|e| io_error(path, e))?;
    parse_pid(&text).ok_or_else(|| ReadError::Other {
        path: path.into(),
        reason: format!("expected a pid, found {:?}", truncate(text.trim(), 40)),
    })
}

/// Parses pid-file text: the first token must be a positive decimal integer.
pub fn parse_pid(text: &str) -> Option<i32> {
    text.split_whitespace()
        .next()
        .and_then(|t| t.parse::<i32>().ok())
        .filter(|p| *p > 0)
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// The exporter's own figures for the standard `process_*` metrics (always from the live
/// `/proc/self`, whatever `--procfs` says).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SelfFigures {
    pub cpu_seconds: f64,
    pub resident_memory_bytes: Option<u64>,
    pub virtual_memory_bytes: u64,
    pub open_fds: Option<u64>,
    pub max_fds: Option<u64>,
    pub start_time_seconds: Option<f64>,
}

pub fn read_self(live: &ProcReader) -> Result<SelfFigures, ReadFailure> {
    let h = live
        .open(std::process::id() as i32)
        .map_err(|error| ReadFailure {
            source: Source::SelfProcess,
            error,
        })?;
    let s = h.stat()?;
    let mut failures = Vec::new();
    let f = h.figures(false, &mut failures);
    Ok(SelfFigures {
        cpu_seconds: live.ticks_to_seconds(s.cpu_user_ticks + s.cpu_system_ticks),
        resident_memory_bytes: f.resident_memory_bytes,
        virtual_memory_bytes: s.virtual_memory_bytes,
        open_fds: f.open_fds,
        max_fds: h.max_fds_soft().ok().flatten(),
        start_time_seconds: live.start_time_seconds(s.identity),
    })
}

#[cfg(test)]
#[path = "proc_tests.rs"]
mod tests;
