//! Pressure stall information of a v2 cgroup (`cpu.pressure`, `memory.pressure`, `io.pressure`).
//!
//! Each line is parsed by procfs's PSI record parser. Only the cumulative `total=` (microseconds)
//! is used: `some` = time at least one task waited for the resource, `full` = time all non-idle
//! tasks were stalled at once. The `avg*` figures are the kernel's own moving averages and are
//! left to PromQL (`rate()` over the totals).
//!
//! Kernels before 5.13 print no `full` line in `cpu.pressure`; a kernel without PSI has no such
//! files at all. Both are "not available", not errors (see [`read_pressure`]).

use std::path::Path;

use super::read::{CgroupError, FirstError, ParseError, read_text};

/// The totals of one pressure file, microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pressure {
    pub some_us: u64,
    pub full_us: Option<u64>,
}

/// Parses a `*.pressure` file: a `some` line and, usually, a `full` line.
pub fn parse_pressure(text: &str) -> Result<Pressure, ParseError> {
    let mut some = None;
    let mut full = None;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        // procfs's parser slices off the 5-byte kind prefix: make sure there is one.
        let kind = line.split_whitespace().next().unwrap_or("");
        if !matches!(kind, "some" | "full") || line.len() <= 5 {
            return Err(ParseError::new(i + 1, line));
        }
        let record =
            procfs::parse_pressure_record(line).map_err(|_| ParseError::new(i + 1, line))?;
        match kind {
            "some" => some = Some(record.total),
            _ => full = Some(record.total),
        }
    }
    match some {
        Some(some_us) => Ok(Pressure {
            some_us,
            full_us: full,
        }),
        None => Err(ParseError::new(1, text.lines().next().unwrap_or(""))),
    }
}

/// Reads the three pressure files of `dir`. A missing file is an error only when `expected` (the
/// kernel has PSI and the cgroup is a v2 one that should carry them).
pub fn read_pressure(dir: &Path, expected: bool, err: &mut FirstError) -> PressureFigures {
    let mut one = |name: &str| {
        let path = dir.join(name);
        match read_text(&path) {
            Ok(Some(t)) => err.take(parse_pressure(&t).map_err(|e| CgroupError::parse(&path, e))),
            Ok(None) => {
                if expected {
                    err.set(CgroupError::NotFound(path));
                }
                None
            }
            // Reading fails with EOPNOTSUPP when PSI was disabled at boot (psi=0).
            Err(CgroupError::Io { source, .. })
                if source.raw_os_error() == Some(nix::libc::EOPNOTSUPP) =>
            {
                None
            }
            Err(e) => {
                err.set(e);
                None
            }
        }
    };
    PressureFigures {
        cpu: one("cpu.pressure"),
        memory: one("memory.pressure"),
        io: one("io.pressure"),
    }
}

/// Pressure stall totals in microseconds: `some` (waiting) and `full` (stalled).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PressureFigures {
    pub cpu: Option<Pressure>,
    pub memory: Option<Pressure>,
    pub io: Option<Pressure>,
}
