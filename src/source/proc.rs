//! procfs readers: one `ProcReader` per procfs root (`/proc` live, a fixture tree in tests).
//!
//! This module is the file layer and the parsers of the per-tick files. It opens `<root>/<pid>`
//! once, reads each file relative to that directory with one `openat`, reads until a short read
//! into a reused buffer, and parses only the figures sidewatch reports, without allocating
//! (`stat`, `status`, `io`, `schedstat`): these run for every watched process every tick, and for
//! every process on the host when a target matches by comm, exe or cmdline, so their cost is the
//! tick's cost. The files read once per process (`limits`, `smaps_rollup`) are parsed by the
//! `procfs` crate. Every outcome is a typed value: a figure that could not be read is `None` plus
//! a [`ReadFailure`] naming the source, never a zero. Units are in the field names.

use std::cell::RefCell;
use std::io::Read as _;
use std::io::Write as _;
use std::os::fd::{AsFd as _, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::dir::Dir;
use nix::fcntl::{AT_FDCWD, OFlag, openat};
use nix::sys::stat::Mode;
use procfs::ProcError;
use procfs::process::SmapsRollup;

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

/// One thread's per-thread figures (`task/<tid>/status` and `task/<tid>/schedstat`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ThreadFigures {
    pub tid: i32,
    pub voluntary_context_switches: Option<u64>,
    pub involuntary_context_switches: Option<u64>,
    pub cpu_wait_nanoseconds: Option<u64>,
}

/// What to read about a process besides its `stat`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ReadOptions {
    /// Read `smaps_rollup` (proportional memory).
    pub smaps: bool,
    /// Read every thread's context switches and run delay (else the main thread's only).
    pub thread_totals: bool,
}

/// Everything one tick read about one process (see [`ProcHandle::process`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProcessReading {
    /// With thread totals, the per-thread figures are in `threads`, not here.
    pub figures: ProcessFigures,
    /// Every thread's figures, with thread totals; `None` without them, or when `task/` could
    /// not be listed this tick.
    pub threads: Option<Vec<ThreadFigures>>,
    /// Soft limit on open files (`Some(None)`: unlimited); `None` when unreadable.
    pub max_fds_soft: Option<Option<u64>>,
}

impl StatFigures {
    /// The main thread exited while other threads run: the kernel shows the process as a
    /// zombie until its last thread exits, and counts the zombie main thread in `threads`.
    pub fn main_thread_exited(&self) -> bool {
        self.state == 'Z' && self.threads > 1
    }

    /// A process is live while any of its threads is: not a zombie, or a zombie main thread
    /// with live threads. Zombies still hold their final CPU figures (they are accounted), but
    /// are not live processes of a target.
    pub fn is_live(&self) -> bool {
        !matches!(self.state, 'Z' | 'X' | 'x') || self.main_thread_exited()
    }
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
    /// The application's own metrics endpoint (fetch, status or parse failed, or late).
    AppMetrics,
    /// `<procfs>/<pid>/net/*` of the target's network namespace, or the listen backlogs.
    Network,
}

impl Source {
    pub const ALL: [Source; 19] = [
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
        Source::AppMetrics,
        Source::Network,
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
            Source::AppMetrics => "app_metrics",
            Source::Network => "network",
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
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::NotFound(_))
    }

    /// The file the failed read concerned.
    pub fn path(&self) -> &Path {
        match self {
            ReadError::NotFound(p) | ReadError::PermissionDenied(p) => p,
            ReadError::Other { path, .. } => path,
        }
    }
}

/// A figure that could not be read: which source, and why.
#[derive(Debug)]
pub struct ReadFailure {
    pub source: Source,
    pub error: ReadError,
}

/// Which file [`ProcReader::scan_stats`] takes each process's comm from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanBy {
    /// `stat` of every process, parsed further for those wanted.
    Stat,
    /// `comm` of every process (the kernel writes it without the thread walk and the fifty
    /// fields of `stat`), then `stat` of those wanted only: cheaper when few are wanted.
    Comm,
}

/// Reads one procfs root. Cheap to clone; holds no open files between ticks.
#[derive(Debug, Clone)]
pub struct ProcReader {
    root: PathBuf,
    ticks_per_second: u64,
    boot_time_seconds: Option<u64>,
    online_cpus: Option<u32>,
    /// A live procfs gives the fd count as the size of `fd/` (Linux ≥ 6.2); a fixture tree on a
    /// normal filesystem does not, so count entries there.
    live_procfs: bool,
}

impl ProcReader {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let stat = std::fs::read_to_string(root.join("stat")).ok();
        let boot_time_seconds = stat.as_deref().and_then(parse_btime);
        let online_cpus = stat.as_deref().and_then(parse_online_cpus);
        let live_procfs = is_procfs(&root);
        ProcReader {
            root,
            ticks_per_second: procfs::ticks_per_second().max(1),
            boot_time_seconds,
            online_cpus,
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

    /// CPUs online on the host when the reader was made (the `cpuN` lines of `<root>/stat`).
    pub fn online_cpus(&self) -> Option<u32> {
        self.online_cpus
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
        let mut pids = Vec::new();
        self.list(&mut pids)?;
        Ok(pids)
    }

    /// Opens the root and puts its numeric entries, ascending, in `pids` (no allocation per
    /// entry, as `std::fs::read_dir` makes).
    fn list(&self, pids: &mut Vec<i32>) -> Result<Dir, ReadError> {
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let mut dir = Dir::open(&self.root, flags, Mode::empty())
            .map_err(|e| io_error(&self.root, e.into()))?;
        pids.clear();
        for entry in dir.iter() {
            let entry = entry.map_err(|e| io_error(&self.root, e.into()))?;
            let name = entry.file_name().to_bytes();
            if let Some(pid) = parse_u64(name).and_then(|p| i32::try_from(p).ok()) {
                pids.push(pid);
            }
        }
        pids.sort_unstable();
        Ok(dir)
    }

    /// Reads the `stat` of every process of the root, ascending by pid, skipping `skip` (the
    /// caller itself), and hands to `each` those whose comm `wanted` accepts (the others are
    /// not parsed further, and cost no allocation). Each file is opened relative to the listed
    /// directory with one `openat`. With [`ScanBy::Comm`] the comm comes from `<pid>/comm`,
    /// and only the wanted processes' `stat` is read. A process gone since the listing is left
    /// out; other failed reads are pushed to `failures`. Returns how many processes were listed.
    pub fn scan_stats(
        &self,
        skip: Option<i32>,
        by: ScanBy,
        mut wanted: impl FnMut(&[u8]) -> bool,
        mut each: impl FnMut(StatFigures),
        failures: &mut Vec<ReadFailure>,
    ) -> Result<usize, ReadError> {
        let mut pids = Vec::with_capacity(512);
        let dir = self.list(&mut pids)?;
        let listed = pids.len();
        let mut ignored = Vec::new();
        for pid in pids.into_iter().filter(|p| Some(*p) != skip) {
            // The comm file is the comm and a newline. When it cannot be read (a copied procfs
            // without it, the process gone), `stat` decides and reports.
            let comm_wanted = |b: &[u8]| Some(wanted(b.strip_suffix(b"\n").unwrap_or(b)));
            let by_comm = match by {
                ScanBy::Comm => self.read_at(&dir, pid, "comm", &mut ignored, comm_wanted),
                ScanBy::Stat => None,
            };
            if by_comm == Some(false) {
                continue;
            }
            let stat = self.read_at(&dir, pid, "stat", failures, |b| match stat_comm(b) {
                Some(comm) if by_comm.is_none() && !wanted(comm) => Some(None),
                _ => parse_stat(b).map(Some),
            });
            if let Some(Some(s)) = stat {
                each(s);
            }
        }
        Ok(listed)
    }

    /// Reads `<pid>/<file>` relative to the listed root `dir`; `None` when the process is gone,
    /// the read failed or `parse` found the content malformed (the last two are pushed to
    /// `failures` as `stat` failures: discovery reads them).
    fn read_at<T>(
        &self,
        dir: &Dir,
        pid: i32,
        file: &str,
        failures: &mut Vec<ReadFailure>,
        parse: impl FnOnce(&[u8]) -> Option<T>,
    ) -> Option<T> {
        let mut name = [0u8; 32];
        let path = || self.root.join(format!("{pid}/{file}"));
        read_in(dir.as_fd(), pid_file(pid, file, &mut name), path, parse)
            .map_err(|e| push_unless_gone(failures, Source::Stat, e))
            .ok()
    }

    /// Reads `<root>/<pid>/stat` without opening the process directory first.
    pub fn stat(&self, pid: i32) -> Result<StatFigures, ReadFailure> {
        let path = self.root.join(format!("{pid}/stat"));
        read_in(AT_FDCWD, path.as_path(), || path.clone(), parse_stat).map_err(|error| {
            ReadFailure {
                source: Source::Stat,
                error,
            }
        })
    }

    /// Opens `<root>/<pid>`; every later read of this handle is relative to that directory, so a
    /// pid reused mid-tick cannot mix two processes' files.
    pub fn open(&self, pid: i32) -> Result<ProcHandle<'_>, ReadError> {
        let path = self.root.join(pid.to_string());
        let dir = openat(
            nix::fcntl::AT_FDCWD,
            &path,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io_error(&path, e.into()))?;
        Ok(ProcHandle {
            reader: self,
            dir,
            path,
        })
    }
}

/// An open `<root>/<pid>` directory.
pub struct ProcHandle<'r> {
    reader: &'r ProcReader,
    dir: OwnedFd,
    path: PathBuf,
}

thread_local! {
    /// The read buffer of this thread, reused for every file (only `cmdline` outgrows it).
    static BUFFER: RefCell<Vec<u8>> = RefCell::new(vec![0; 4096]);
}

/// How the end of a kernel-generated file shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// The file is generated whole on the first read (seq_file `single_open`: the per-process
    /// files, or a direct copy for `cmdline`): a read that does not fill the buffer is the end,
    /// so no extra read for end of file. On a regular file (a fixture tree) too.
    ShortRead,
    /// The file is generated record by record (`cgroup.procs`, `net/dev`, the cgroup interface
    /// files read through one helper): a read may stop at a page of records, so read until 0.
    Eof,
}

/// Reads all of `file` into the start of `buf`, growing it as needed; returns the length. No
/// size query first (std's `read_to_string` asks with `statx`, and procfs and cgroupfs files
/// say 0): one `read` per buffer-full, and one more with [`End::Eof`].
fn read_whole(file: &mut std::fs::File, buf: &mut Vec<u8>, end: End) -> std::io::Result<usize> {
    let mut len = 0;
    loop {
        match file.read(&mut buf[len..]) {
            Ok(0) => return Ok(len),
            Ok(n) => {
                len += n;
                if len < buf.len() {
                    if end == End::ShortRead {
                        return Ok(len);
                    }
                    continue;
                }
                let grown = buf.len() * 2;
                buf.resize(grown, 0);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Runs `f` with this thread's read buffer (a fresh one if `f` of an outer call reads too).
fn with_buffer<T>(f: impl FnOnce(&mut Vec<u8>) -> T) -> T {
    BUFFER.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => f(&mut buf),
        Err(_) => f(&mut vec![0; 4096]),
    })
}

/// Reads all of `file` (see [`read_whole`]) into this thread's buffer and hands the bytes to
/// `parse`: the one way sidewatch reads a kernel file on a tick.
pub(crate) fn read_with<T>(
    file: &mut std::fs::File,
    end: End,
    parse: impl FnOnce(&[u8]) -> T,
) -> std::io::Result<T> {
    with_buffer(|buf| read_whole(file, buf, end).map(|n| parse(&buf[..n])))
}

/// Opens `path` and reads it as [`read_with`] does.
pub(crate) fn read_path<T>(
    path: &Path,
    end: End,
    parse: impl FnOnce(&[u8]) -> T,
) -> std::io::Result<T> {
    read_with(&mut std::fs::File::open(path)?, end, parse)
}

/// Reads `path` as UTF-8 text (see [`read_path`]); text that is not UTF-8 is `InvalidData`, as
/// with `std::fs::read_to_string`.
pub(crate) fn read_text_with<T>(
    path: &Path,
    end: End,
    parse: impl FnOnce(&str) -> T,
) -> std::io::Result<T> {
    read_path(path, end, |b| std::str::from_utf8(b).map(parse))?
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// `<pid>/<file>` in `buf`, without allocating (`file` is one of the short names above; 32
/// bytes hold any pid with them).
fn pid_file<'b>(pid: i32, file: &str, buf: &'b mut [u8; 32]) -> &'b [u8] {
    let mut out = std::io::Cursor::new(&mut buf[..]);
    // Writing to a fixed buffer fails only when full; what fits is kept, as with a short name.
    let _ = write!(out, "{pid}/{file}");
    let len = usize::try_from(out.position()).unwrap_or(0);
    &buf[..len]
}

/// Opens `name` relative to `dir` and reads it whole (see [`read_with`]) into `parse`; `None`
/// from `parse` is malformed content. `path` names the file in errors, built only on failure.
fn read_in<T, P: ?Sized + nix::NixPath>(
    dir: BorrowedFd<'_>,
    name: &P,
    path: impl Fn() -> PathBuf,
    parse: impl FnOnce(&[u8]) -> Option<T>,
) -> Result<T, ReadError> {
    let fd = openat(dir, name, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| io_error(&path(), e.into()))?;
    match read_with(&mut std::fs::File::from(fd), End::ShortRead, parse) {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(malformed(path())),
        Err(e) => Err(io_error(&path(), e)),
    }
}

/// A failed read, unless it failed because the process exited (not a failure in a scan).
fn push_unless_gone(failures: &mut Vec<ReadFailure>, source: Source, error: ReadError) {
    if !error.is_not_found() {
        failures.push(ReadFailure { source, error });
    }
}

/// Why a file's content could not be parsed.
fn malformed(path: PathBuf) -> ReadError {
    ReadError::Other {
        path,
        reason: "unexpected content".into(),
    }
}

impl<'r> ProcHandle<'r> {
    /// Reads `<pid>/<file>` and hands its bytes to `parse`; `None` from `parse` is malformed
    /// content. The path is built only when something failed.
    fn read<T>(
        &self,
        source: Source,
        file: &str,
        parse: impl FnOnce(&[u8]) -> Option<T>,
    ) -> Result<T, ReadFailure> {
        read_in(self.dir.as_fd(), file, || self.path.join(file), parse)
            .map_err(|error| ReadFailure { source, error })
    }

    pub fn stat(&self) -> Result<StatFigures, ReadFailure> {
        self.read(Source::Stat, "stat", parse_stat)
    }

    /// `cmdline` arguments; empty for kernel threads and zombies.
    pub fn cmdline(&self) -> Result<Vec<String>, ReadFailure> {
        self.read(Source::Cmdline, "cmdline", |b| {
            let text = std::str::from_utf8(b).ok()?;
            Some(
                text.split('\0')
                    .filter(|a| !a.is_empty())
                    .map(str::to_string)
                    .collect(),
            )
        })
    }

    pub fn exe(&self) -> Result<PathBuf, ReadFailure> {
        nix::fcntl::readlinkat(self.dir.as_fd(), "exe")
            .map(PathBuf::from)
            .map_err(|e| ReadFailure {
                source: Source::Exe,
                error: io_error(&self.path.join("exe"), e.into()),
            })
    }

    /// Soft limit on open files; `None` when unlimited. Read every tick (runtimes such as Go
    /// and the JVM raise it after start), so parsed without allocating.
    pub fn max_fds_soft(&self) -> Result<Option<u64>, ReadFailure> {
        self.read(Source::Limits, "limits", parse_max_open_files_soft)
    }

    pub fn open_fds(&self) -> Result<u64, ReadFailure> {
        let fail = |e| ReadFailure {
            source: Source::Fd,
            error: io_error(&self.path.join("fd"), e),
        };
        if self.reader.live_procfs {
            // Linux >= 6.2 reports the number of open fds as the size of `fd/`.
            let st = nix::sys::stat::fstatat(self.dir.as_fd(), "fd", nix::fcntl::AtFlags::empty())
                .map_err(|e| fail(e.into()))?;
            if st.st_size > 0 {
                return Ok(st.st_size as u64);
            }
        }
        // Count only numeric names: not `.`/`..`, nor a fixture's `.keep` file.
        std::fs::read_dir(self.path.join("fd"))
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

    /// Reads the per-tick files other than `stat` of the main thread. Each failure is reported,
    /// not fatal.
    pub fn figures(&self, with_smaps: bool, failures: &mut Vec<ReadFailure>) -> ProcessFigures {
        let mut f = ProcessFigures::default();
        if let Some(s) = ok_or_push(self.status(), failures) {
            f.set_memory(&s);
            f.voluntary_context_switches = s.voluntary_ctxt_switches;
            f.involuntary_context_switches = s.nonvoluntary_ctxt_switches;
        }
        f.cpu_wait_nanoseconds = ok_or_push(self.schedstat_run_delay(), failures);
        self.read_shared(&mut f, self, with_smaps, failures);
        f
    }

    /// What a tick reads about one process whose `stat` it already has: the figures of
    /// [`ProcHandle::figures`], the soft fd limit, and with `thread_totals` the per-thread
    /// figures of every thread (`task/<tid>/status`, `task/<tid>/schedstat`: context switches
    /// and run delay are per-thread in the kernel). A single-threaded process is read through
    /// its own files (the same text as `task/<pid>/`), so thread totals cost nothing there.
    ///
    /// When the main thread has exited while other threads run (it shows as a zombie with more
    /// than one thread), its `status` has no memory lines and its `fd/` is empty: memory, fds
    /// and limits are read from a live thread instead.
    pub fn process(
        &self,
        stat: &StatFigures,
        opts: ReadOptions,
        failures: &mut Vec<ReadFailure>,
    ) -> ProcessReading {
        let leader_exited = stat.main_thread_exited();
        if stat.threads > 1 && (opts.thread_totals || leader_exited) {
            match self.read_threads(stat.identity.pid, opts, failures) {
                Ok(r) => return r,
                // A procfs copy without `task/` (a fixture tree): the main thread's files.
                Err(f) if f.error.is_not_found() && !self.reader.live_procfs => {}
                Err(f) => failures.push(f),
            }
        }
        let mut f = self.figures(opts.smaps, failures);
        let threads = opts.thread_totals.then(|| {
            vec![ThreadFigures {
                tid: stat.identity.pid,
                voluntary_context_switches: f.voluntary_context_switches.take(),
                involuntary_context_switches: f.involuntary_context_switches.take(),
                cpu_wait_nanoseconds: f.cpu_wait_nanoseconds.take(),
            }]
        });
        ProcessReading {
            figures: f,
            threads,
            max_fds_soft: ok_or_push(self.max_fds_soft(), failures),
        }
    }

    /// Reads every thread of a multi-threaded process (see [`ProcHandle::process`]). Fails only
    /// when `task/` cannot be listed.
    fn read_threads(
        &self,
        pid: i32,
        opts: ReadOptions,
        failures: &mut Vec<ReadFailure>,
    ) -> Result<ProcessReading, ReadFailure> {
        let tids = self.tids()?;
        let mut f = ProcessFigures::default();
        let mut threads = Vec::with_capacity(tids.len());
        // The directory memory, fds and limits are read from: a live thread's.
        let mut body: Option<ProcHandle<'_>> = None;
        for tid in tids {
            let Ok(t) = self.task(tid) else { continue }; // exited since the listing
            let status = match t.status() {
                Ok(s) => Some(s),
                Err(e) if e.error.is_not_found() => continue,
                Err(e) => {
                    failures.push(e);
                    None
                }
            };
            let wait = match t.schedstat_run_delay() {
                Ok(ns) => Some(ns),
                Err(e) if e.error.is_not_found() => continue,
                Err(e) => {
                    failures.push(e);
                    None
                }
            };
            if let Some(s) = status.filter(|s| s.vm_rss_kib.is_some()) {
                if f.resident_memory_bytes.is_none() {
                    f.set_memory(&s);
                    if tid != pid {
                        body = Some(t);
                    }
                }
            }
            let th = ThreadFigures {
                tid,
                voluntary_context_switches: status.and_then(|s| s.voluntary_ctxt_switches),
                involuntary_context_switches: status.and_then(|s| s.nonvoluntary_ctxt_switches),
                cpu_wait_nanoseconds: wait,
            };
            if !opts.thread_totals && tid == pid {
                // Main-thread figures only, as configured.
                f.voluntary_context_switches = th.voluntary_context_switches;
                f.involuntary_context_switches = th.involuntary_context_switches;
                f.cpu_wait_nanoseconds = th.cpu_wait_nanoseconds;
            }
            threads.push(th);
        }
        let body = body.as_ref().unwrap_or(self);
        self.read_shared(&mut f, body, opts.smaps, failures);
        Ok(ProcessReading {
            figures: f,
            threads: opts.thread_totals.then_some(threads),
            max_fds_soft: ok_or_push(body.max_fds_soft(), failures),
        })
    }

    /// The process-wide files: `io` (always the whole process's, from `<pid>/io`), and fds and
    /// smaps from `body` (this directory, or a live thread's).
    fn read_shared(
        &self,
        f: &mut ProcessFigures,
        body: &ProcHandle<'_>,
        with_smaps: bool,
        failures: &mut Vec<ReadFailure>,
    ) {
        let io = self.io_figures(failures);
        f.io_read_bytes = io.io_read_bytes;
        f.io_write_bytes = io.io_write_bytes;
        f.open_fds = ok_or_push(body.open_fds(), failures);
        if with_smaps {
            let rollup = body.read(Source::SmapsRollup, "smaps_rollup", |b| {
                parse_proc_file::<SmapsRollup>("smaps_rollup", b).ok()
            });
            if let Some(r) = ok_or_push(rollup, failures) {
                f.proportional_memory_bytes = r
                    .memory_map_rollup
                    .iter()
                    .filter_map(|m| m.extension.map.get("Pss").copied())
                    .reduce(|a, b| a + b);
            }
        }
    }

    /// The `io` figures only: all that a zombie still has to tell.
    pub fn io_figures(&self, failures: &mut Vec<ReadFailure>) -> ProcessFigures {
        let mut f = ProcessFigures::default();
        if let Some((read, write)) = ok_or_push(self.read(Source::Io, "io", parse_io), failures) {
            f.io_read_bytes = Some(read);
            f.io_write_bytes = Some(write);
        }
        f
    }

    fn status(&self) -> Result<StatusFigures, ReadFailure> {
        self.read(Source::Status, "status", parse_status)
    }

    fn schedstat_run_delay(&self) -> Result<u64, ReadFailure> {
        self.read(Source::Schedstat, "schedstat", parse_schedstat_run_delay)
    }

    /// The thread ids in `task/`, ascending. Reported as a `status` failure (the per-thread
    /// figures come from there).
    pub fn tids(&self) -> Result<Vec<i32>, ReadFailure> {
        let dir = self.path.join("task");
        let entries = std::fs::read_dir(&dir).map_err(|e| ReadFailure {
            source: Source::Status,
            error: io_error(&dir, e),
        })?;
        let mut tids: Vec<i32> = entries
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect();
        tids.sort_unstable();
        Ok(tids)
    }

    /// Opens `task/<tid>` of this process: the same files, one thread's view.
    pub fn task(&self, tid: i32) -> Result<ProcHandle<'r>, ReadError> {
        let rel = format!("task/{tid}");
        let path = self.path.join(&rel);
        let dir = openat(
            self.dir.as_fd(),
            rel.as_str(),
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io_error(&path, e.into()))?;
        Ok(ProcHandle {
            reader: self.reader,
            dir,
            path,
        })
    }
}

fn ok_or_push<T>(r: Result<T, ReadFailure>, failures: &mut Vec<ReadFailure>) -> Option<T> {
    r.map_err(|e| failures.push(e)).ok()
}

impl ProcessFigures {
    fn set_memory(&mut self, s: &StatusFigures) {
        self.resident_memory_bytes = s.vm_rss_kib.map(kib);
        self.swap_bytes = s.vm_swap_kib.map(kib);
    }
}

// ---------------------------------------------------------------------------------------------
// Parsers of the per-tick files: bytes in, figures out, no allocation but `comm`.

/// Parses a decimal `u64` that makes up all of `b`.
fn parse_u64(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(v)
}

fn parse_i64(b: &[u8]) -> Option<i64> {
    match b.split_first() {
        Some((b'-', rest)) => i64::try_from(parse_u64(rest)?).ok().map(|v| -v),
        _ => i64::try_from(parse_u64(b)?).ok(),
    }
}

fn trim(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

/// The comm of `/proc/<pid>/stat` text (between the first `(` and the last `)`), unparsed.
pub fn stat_comm(b: &[u8]) -> Option<&[u8]> {
    let open = b.iter().position(|&c| c == b'(')?;
    let close = b.iter().rposition(|&c| c == b')')?;
    b.get(open + 1..close)
}

/// `/proc/<pid>/stat`: `pid (comm) state ppid ...`. The comm may hold spaces and parentheses, so
/// it ends at the last `)`.
pub fn parse_stat(b: &[u8]) -> Option<StatFigures> {
    let b = trim(b);
    let open = b.iter().position(|&c| c == b'(')?;
    let close = b.iter().rposition(|&c| c == b')')?;
    if close < open {
        return None;
    }
    let pid = i32::try_from(parse_i64(trim(&b[..open]))?).ok()?;
    let comm = String::from_utf8_lossy(&b[open + 1..close]).into_owned();
    // Fields 3 (state) to 23 (vsize), numbered as in proc(5).
    let mut f: [&[u8]; 21] = [&[]; 21];
    let mut rest = b.get(close + 2..)?.split(|&c| c == b' ');
    for slot in &mut f {
        *slot = rest.next()?;
    }
    let field = |n: usize| f[n - 3];
    let state = char::from(*field(3).first()?);
    let ppid = i32::try_from(parse_i64(field(4))?).ok()?;
    let minor_faults = parse_u64(field(10))?;
    let major_faults = parse_u64(field(12))?;
    let cpu_user_ticks = parse_u64(field(14))?;
    let cpu_system_ticks = parse_u64(field(15))?;
    let threads = u64::try_from(parse_i64(field(20))?).unwrap_or(0);
    let starttime_ticks = parse_u64(field(22))?;
    let virtual_memory_bytes = parse_u64(field(23))?;
    Some(StatFigures {
        identity: Identity {
            pid,
            starttime_ticks,
        },
        ppid,
        comm,
        state,
        cpu_user_ticks,
        cpu_system_ticks,
        minor_faults,
        major_faults,
        threads,
        virtual_memory_bytes,
    })
}

/// The figures of `/proc/<pid>/status` sidewatch reports; absent lines stay `None` (kernel
/// threads and zombies have no `VmRSS`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StatusFigures {
    pub vm_rss_kib: Option<u64>,
    pub vm_swap_kib: Option<u64>,
    pub voluntary_ctxt_switches: Option<u64>,
    pub nonvoluntary_ctxt_switches: Option<u64>,
}

/// `/proc/<pid>/status`: `Key:\tvalue[ kB]` lines. A wanted line whose value is not a number is
/// malformed content.
pub fn parse_status(b: &[u8]) -> Option<StatusFigures> {
    let mut s = StatusFigures::default();
    for line in b.split(|&c| c == b'\n') {
        let Some(colon) = line.iter().position(|&c| c == b':') else {
            continue;
        };
        let slot = match &line[..colon] {
            b"VmRSS" => &mut s.vm_rss_kib,
            b"VmSwap" => &mut s.vm_swap_kib,
            b"voluntary_ctxt_switches" => &mut s.voluntary_ctxt_switches,
            b"nonvoluntary_ctxt_switches" => &mut s.nonvoluntary_ctxt_switches,
            _ => continue,
        };
        let v = trim(&line[colon + 1..]);
        let v = v.strip_suffix(b" kB").unwrap_or(v);
        *slot = Some(parse_u64(trim(v))?);
    }
    Some(s)
}

/// `/proc/<pid>/statm`: `size resident shared text lib data dt` in pages; the resident pages.
pub fn parse_statm_resident(b: &[u8]) -> Option<u64> {
    let mut fields = trim(b).split(|&c| c == b' ');
    fields.next()?;
    parse_u64(fields.next()?)
}

/// `/proc/<pid>/io`: (`read_bytes`, `write_bytes`); both must be there.
pub fn parse_io(b: &[u8]) -> Option<(u64, u64)> {
    let (mut read, mut write) = (None, None);
    for line in b.split(|&c| c == b'\n') {
        if let Some(v) = line.strip_prefix(b"read_bytes:") {
            read = Some(parse_u64(trim(v))?);
        } else if let Some(v) = line.strip_prefix(b"write_bytes:") {
            write = Some(parse_u64(trim(v))?);
        }
    }
    Some((read?, write?))
}

/// `/proc/<pid>/schedstat`: `on_cpu_ns run_delay_ns timeslices`; the run delay.
pub fn parse_schedstat_run_delay(b: &[u8]) -> Option<u64> {
    let mut fields = trim(b).split(|&c| c == b' ');
    fields.next()?;
    parse_u64(fields.next()?)
}

/// `/proc/<pid>/limits`: the soft value of the `Max open files` line; `Some(None)` when
/// unlimited. The columns are name, soft, hard, units; the name is the line's start. (Of repeated lines, which the kernel never writes, the last one counts, as in the
/// `procfs` crate.)
pub fn parse_max_open_files_soft(b: &[u8]) -> Option<Option<u64>> {
    let line = b
        .rsplit(|&c| c == b'\n')
        .find_map(|l| l.strip_prefix(b"Max open files"))?;
    // Soft, hard, units: counted from the right, as the `procfs` crate does.
    let soft = line
        .rsplit(|&c| c == b' ')
        .filter(|f| !f.is_empty())
        .nth(2)?;
    match soft {
        b"unlimited" => Some(None),
        v => parse_u64(v).map(Some),
    }
}

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

/// Online CPUs of the whole machine: the `cpuN` lines of `/proc/stat` (it lists online CPUs
/// only); `None` when there are none.
pub fn parse_online_cpus(stat: &str) -> Option<u32> {
    let n = stat
        .lines()
        .filter_map(|l| l.split_whitespace().next()?.strip_prefix("cpu"))
        .filter(|id| id.parse::<u32>().is_ok())
        .count();
    u32::try_from(n).ok().filter(|n| *n > 0)
}

fn kib(v: u64) -> u64 {
    v.saturating_mul(1024)
}

pub(crate) fn io_error(path: &Path, e: std::io::Error) -> ReadError {
    // ESRCH: the process exited between opening its directory and reading this file.
    if e.raw_os_error() == Some(nix::libc::ESRCH) {
        return ReadError::NotFound(path.into());
    }
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

/// Checks that `root` looks like a procfs (a `stat` file and at least one pid directory), so a
/// mistyped `--procfs` stops sidewatch at start instead of reporting every target down.
pub fn check_procfs_root(root: &Path) -> Result<(), String> {
    let entries = std::fs::read_dir(root).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "does not exist".to_string(),
        std::io::ErrorKind::NotADirectory => "is not a directory".to_string(),
        _ => format!("cannot be read: {e}"),
    })?;
    if !root.join("stat").is_file() {
        return Err("has no `stat` file: it is not a procfs".into());
    }
    let has_pid = entries.filter_map(Result::ok).any(|e| {
        e.file_name()
            .to_str()
            .is_some_and(|n| n.parse::<u32>().is_ok())
    });
    if !has_pid {
        return Err("has no process directories (numeric entries): it is not a procfs".into());
    }
    Ok(())
}

/// Reads a pid file: the first whitespace-separated token must be a positive pid.
pub fn read_pid_file(path: &Path) -> Result<i32, ReadError> {
    let text = std::fs::read_to_string(path).map_err(|e| io_error(path, e))?;
    parse_pid(&text).ok_or_else(|| ReadError::Other {
        path: path.into(),
        reason: format!("holds {:?}, expected a pid", truncate(text.trim(), 40)),
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

/// Reads only what the `process_*` series need: `stat`, `statm` (resident pages: the `VmRSS` of
/// `status`, which the kernel makes with forty more lines) and the size of `fd/`; the soft fd
/// limit comes from `getrlimit`, not from parsing `limits`.
pub fn read_self(live: &ProcReader) -> Result<SelfFigures, ReadFailure> {
    let h = live
        .open(std::process::id() as i32)
        .map_err(|error| ReadFailure {
            source: Source::SelfProcess,
            error,
        })?;
    let s = h.stat()?;
    let resident_pages = h
        .read(Source::SelfProcess, "statm", parse_statm_resident)
        .ok();
    let max_fds = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .ok()
        .map(|(soft, _)| soft)
        .filter(|soft| *soft != nix::sys::resource::RLIM_INFINITY);
    Ok(SelfFigures {
        cpu_seconds: live.ticks_to_seconds(s.cpu_user_ticks + s.cpu_system_ticks),
        resident_memory_bytes: resident_pages.map(|p| p.saturating_mul(procfs::page_size())),
        virtual_memory_bytes: s.virtual_memory_bytes,
        open_fds: h.open_fds().ok(),
        max_fds,
        start_time_seconds: live.start_time_seconds(s.identity),
    })
}

#[cfg(test)]
#[path = "proc_tests.rs"]
mod tests;
