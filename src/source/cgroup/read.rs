//! Reading and parsing one cgroupfs file: the errors that name the file, the parsers of the
//! kernel's formats (flat keyed, limits, lists) and the first-error-wins collector a reading of
//! many files reports through.

use std::path::{Path, PathBuf};

use crate::source::proc::{End, ReadError, read_text_with};

// ---------------------------------------------------------------------------------------------
// Errors

/// Why a cgroup figure could not be read. Every variant names the file or directory.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("{0}: no such file")]
    NotFound(PathBuf),
    #[error("{0}: permission denied")]
    PermissionDenied(PathBuf),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: line {line}: cannot parse {item:?}")]
    Parse {
        path: PathBuf,
        line: usize,
        item: String,
    },
    #[error("{path}: no {key:?} in the file")]
    MissingKey { path: PathBuf, key: &'static str },
    #[error("no cgroup hierarchy with the {controller} controller is mounted under {root}")]
    NotMounted {
        controller: &'static str,
        root: PathBuf,
    },
    #[error("{file}: the process's {controller} cgroup was not located")]
    NotLocated {
        controller: &'static str,
        file: PathBuf,
    },
    #[error("{file}: the {hierarchy} cgroup {path:?} is not visible under {mount}")]
    NotVisible {
        file: PathBuf,
        hierarchy: String,
        path: String,
        mount: PathBuf,
    },
}

impl CgroupError {
    pub(super) fn io(path: &Path, e: std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::NotFound => CgroupError::NotFound(path.into()),
            std::io::ErrorKind::PermissionDenied => CgroupError::PermissionDenied(path.into()),
            _ => CgroupError::Io {
                path: path.into(),
                source: e,
            },
        }
    }

    pub(super) fn parse(path: &Path, e: ParseError) -> Self {
        CgroupError::Parse {
            path: path.into(),
            line: e.line,
            item: e.item,
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, CgroupError::NotFound(_))
    }
}

impl From<CgroupError> for ReadError {
    fn from(e: CgroupError) -> Self {
        let (path, reason) = match e {
            CgroupError::NotFound(p) => return ReadError::NotFound(p),
            CgroupError::PermissionDenied(p) => return ReadError::PermissionDenied(p),
            CgroupError::Io { path, source } => (path, source.to_string()),
            CgroupError::Parse { path, line, item } => {
                (path, format!("line {line}: cannot parse {item:?}"))
            }
            CgroupError::MissingKey { path, key } => (path, format!("no {key:?} in the file")),
            e @ CgroupError::NotMounted { .. } => (PathBuf::new(), e.to_string()),
            CgroupError::NotLocated { controller, file } => (
                file,
                format!("the process's {controller} cgroup was not located"),
            ),
            CgroupError::NotVisible {
                file,
                hierarchy,
                path,
                mount,
            } => (
                file,
                format!(
                    "the {hierarchy} cgroup {path:?} is not visible under {}",
                    mount.display()
                ),
            ),
        };
        ReadError::Other { path, reason }
    }
}

/// A line of kernel text that did not parse: 1-based line number and the offending item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub item: String,
}

impl ParseError {
    pub(crate) fn new(line: usize, item: &str) -> Self {
        ParseError {
            line,
            item: item.chars().take(80).collect(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Small parsers shared by v1 and v2

/// A file holding one unsigned integer (`memory.current`, `cpuacct.usage`, `pids.current`).
pub fn parse_u64(text: &str) -> Result<u64, ParseError> {
    let t = text.trim();
    t.parse().map_err(|_| ParseError::new(1, t))
}

/// A limit file: a number, or `max` for no limit (`memory.max`, `pids.max`).
pub fn parse_limit(text: &str) -> Result<Option<u64>, ParseError> {
    match text.trim() {
        "max" => Ok(None),
        t => t.parse().map(Some).map_err(|_| ParseError::new(1, t)),
    }
}

/// `key value` lines (`memory.stat`, `cpu.stat`, `memory.events`): every pair, in file order.
/// Lines that are not two fields with a numeric value are errors: a format we do not know must
/// not silently read as zeros.
pub fn parse_flat_keyed(text: &str) -> Result<Vec<(&str, u64)>, ParseError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut f = line.split_whitespace();
        match (f.next(), f.next().map(str::parse::<u64>), f.next()) {
            (Some(k), Some(Ok(v)), None) => out.push((k, v)),
            _ => return Err(ParseError::new(i + 1, line)),
        }
    }
    Ok(out)
}

pub(crate) fn key(pairs: &[(&str, u64)], name: &str) -> Option<u64> {
    pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
}

/// `cgroup.procs`: the process ids of a cgroup, one a line. A process outside the reader's pid
/// namespace shows as 0 (v2) or is left out (v1).
pub fn parse_procs(text: &str) -> Result<Vec<i32>, ParseError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| l.trim().parse().map_err(|_| ParseError::new(i + 1, l)))
        .collect()
}

/// How many of a cgroup's processes (`procs`) are not in `own`. A 0 (a process sidewatch
/// cannot see) is never one of its own.
pub fn foreign_processes(procs: &[i32], own: &[i32]) -> usize {
    procs
        .iter()
        .filter(|p| **p == 0 || !own.contains(p))
        .count()
}

/// A CPU list (`0-3,8,10-11`, as in `cpuset.effective_cpus`): how many CPUs it names.
pub fn parse_cpu_list(text: &str) -> Result<u32, ParseError> {
    let t = text.trim();
    let mut n: u32 = 0;
    if t.is_empty() {
        return Ok(0);
    }
    for part in t.split(',') {
        let bad = || ParseError::new(1, part);
        match part.split_once('-') {
            Some((a, b)) => {
                let a: u32 = a.trim().parse().map_err(|_| bad())?;
                let b: u32 = b.trim().parse().map_err(|_| bad())?;
                if b < a {
                    return Err(bad());
                }
                n = n.saturating_add(b - a + 1);
            }
            None => {
                part.trim().parse::<u32>().map_err(|_| bad())?;
                n = n.saturating_add(1);
            }
        }
    }
    Ok(n)
}

// ---------------------------------------------------------------------------------------------
// The file layer

/// Reads a cgroup file through the tick's one reader (no size query, a reused buffer); a
/// missing file is `Ok(None)`.
pub fn read_text(path: &Path) -> Result<Option<String>, CgroupError> {
    read_with_text(path, str::to_owned)
}

/// Reads a cgroup file and hands its text to `f`; a missing file is `Ok(None)`.
fn read_with_text<T>(path: &Path, f: impl FnOnce(&str) -> T) -> Result<Option<T>, CgroupError> {
    match read_text_with(path, End::Eof, f) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CgroupError::io(path, e)),
    }
}

/// Reads a file that must exist.
pub(crate) fn read_required(path: &Path) -> Result<String, CgroupError> {
    read_text(path)?.ok_or_else(|| CgroupError::NotFound(path.into()))
}

/// Reads and parses a file that must exist (parsed in the read buffer, no copy).
pub(crate) fn read_parsed<T>(
    path: &Path,
    parse: impl FnOnce(&str) -> Result<T, ParseError>,
) -> Result<T, CgroupError> {
    read_with_text(path, parse)?
        .ok_or_else(|| CgroupError::NotFound(path.into()))?
        .map_err(|e| CgroupError::parse(path, e))
}

/// Keeps the first error of one source during one read.
#[derive(Debug, Default)]
pub struct FirstError(pub(super) Option<CgroupError>);

impl FirstError {
    /// The value, or `None` with the error remembered.
    pub fn take<T>(&mut self, r: Result<T, CgroupError>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.get_or_insert(e);
                None
            }
        }
    }

    pub fn set(&mut self, e: CgroupError) {
        self.0.get_or_insert(e);
    }

    pub fn into_inner(self) -> Option<CgroupError> {
        self.0
    }
}
