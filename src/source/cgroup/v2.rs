//! cgroup v2 files: pure parsers (text in, values out) and the per-resource readers.
//!
//! Memory figures follow cAdvisor on v2: usage from `memory.current`, RSS = `anon`, cache =
//! `file`, working set = usage − `inactive_file` (all `memory.stat`), limit hits from the `max`
//! count of `memory.events`, OOM kills from its `oom_kill` count, swap from `memory.swap.current`.

use std::path::Path;

use super::figures::{CpuFigures, IoFigures, MemoryFigures};
use super::read::{
    CgroupError, FirstError, ParseError, key, parse_flat_keyed, parse_limit, parse_u64,
    read_parsed, read_text,
};

/// The `memory.stat` figures sidewatch uses, bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryStat {
    pub anon: Option<u64>,
    pub file: Option<u64>,
    pub inactive_file: Option<u64>,
}

pub fn parse_memory_stat(text: &str) -> Result<MemoryStat, ParseError> {
    let kv = parse_flat_keyed(text)?;
    Ok(MemoryStat {
        anon: key(&kv, "anon"),
        file: key(&kv, "file"),
        inactive_file: key(&kv, "inactive_file"),
    })
}

/// `memory.events`: (`max` = times usage hit the limit, `oom_kill`).
pub fn parse_memory_events(text: &str) -> Result<(Option<u64>, Option<u64>), ParseError> {
    let kv = parse_flat_keyed(text)?;
    Ok((key(&kv, "max"), key(&kv, "oom_kill")))
}

/// The usage and throttling figures of v2 `cpu.stat` (microseconds).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpuStat {
    pub usage_usec: Option<u64>,
    pub user_usec: Option<u64>,
    pub system_usec: Option<u64>,
    /// Present only where the cpu controller is enabled.
    pub periods: Option<u64>,
    pub throttled_periods: Option<u64>,
    pub throttled_usec: Option<u64>,
}

pub fn parse_cpu_stat(text: &str) -> Result<CpuStat, ParseError> {
    let kv = parse_flat_keyed(text)?;
    Ok(CpuStat {
        usage_usec: key(&kv, "usage_usec"),
        user_usec: key(&kv, "user_usec"),
        system_usec: key(&kv, "system_usec"),
        periods: key(&kv, "nr_periods"),
        throttled_periods: key(&kv, "nr_throttled"),
        throttled_usec: key(&kv, "throttled_usec"),
    })
}

/// `cpu.max` (`$MAX $PERIOD`) → cores; `None` when `$MAX` is `max`.
pub fn parse_cpu_max(text: &str) -> Result<Option<f64>, ParseError> {
    let t = text.trim();
    let mut f = t.split_whitespace();
    let (Some(max), period, None) = (f.next(), f.next(), f.next()) else {
        return Err(ParseError::new(1, t));
    };
    let period: u64 = match period {
        Some(p) => p.parse().map_err(|_| ParseError::new(1, t))?,
        None => 100_000, // the kernel's default period, when only $MAX is shown
    };
    if max == "max" || period == 0 {
        return Ok(None);
    }
    let max: u64 = max.parse().map_err(|_| ParseError::new(1, t))?;
    Ok(Some(max as f64 / period as f64))
}

/// `io.stat`: `MAJ:MIN rbytes=.. wbytes=.. rios=.. wios=.. dbytes=.. dios=..` lines, summed over
/// devices → (rbytes, wbytes, rios, wios). An empty file (no I/O yet) is all zeros.
pub fn parse_io_stat(text: &str) -> Result<(u64, u64, u64, u64), ParseError> {
    let mut s = (0u64, 0u64, 0u64, 0u64);
    for (i, line) in text.lines().enumerate() {
        let mut f = line.split_whitespace();
        let Some(dev) = f.next() else { continue };
        if !dev.contains(':') {
            return Err(ParseError::new(i + 1, line));
        }
        for kv in f {
            let Some((k, v)) = kv.split_once('=') else {
                return Err(ParseError::new(i + 1, line));
            };
            // Other keys (cost.*, wait/merged from io.stat with blk-iocost) are not numbers we use.
            let slot = match k {
                "rbytes" => &mut s.0,
                "wbytes" => &mut s.1,
                "rios" => &mut s.2,
                "wios" => &mut s.3,
                _ => continue,
            };
            let v: u64 = v.parse().map_err(|_| ParseError::new(i + 1, line))?;
            *slot = slot.saturating_add(v);
        }
    }
    Ok(s)
}

// ---------------------------------------------------------------------------------------------
// Readers

pub fn read_memory(dir: &Path, err: &mut FirstError) -> MemoryFigures {
    let mut m = MemoryFigures {
        usage_bytes: err.take(read_parsed(&dir.join("memory.current"), parse_u64)),
        limit_bytes: err
            .take(read_parsed(&dir.join("memory.max"), parse_limit))
            .flatten(),
        ..Default::default()
    };
    if let Some(s) = err.take(read_parsed(&dir.join("memory.stat"), parse_memory_stat)) {
        m.rss_bytes = s.anon;
        m.cache_bytes = s.file;
        m.inactive_file_bytes = s.inactive_file;
    }
    if let Some((hits, kills)) =
        err.take(read_parsed(&dir.join("memory.events"), parse_memory_events))
    {
        m.limit_hits = hits;
        m.oom_kills = kills;
    }
    // Absent without swap accounting (CONFIG_MEMCG_SWAP off or swapaccount=0): not an error.
    let swap = dir.join("memory.swap.current");
    if let Some(t) = err.take(read_text(&swap)).flatten() {
        m.swap_bytes = err.take(parse_u64(&t).map_err(|e| CgroupError::parse(&swap, e)));
    }
    m.derive_working_set();
    m
}

/// CPU time from `cpu.stat` (present in every v2 cgroup, with or without the cpu controller).
pub fn read_cpu_usage(dir: &Path, cpu: &mut CpuFigures, err: &mut FirstError) {
    if let Some(s) = err.take(read_parsed(&dir.join("cpu.stat"), parse_cpu_stat)) {
        let ns = |us: u64| us.saturating_mul(1000);
        cpu.usage_ns = s.usage_usec.map(ns);
        cpu.user_ns = s.user_usec.map(ns);
        cpu.system_ns = s.system_usec.map(ns);
    }
}

/// Throttling (`cpu.stat`) and the quota (`cpu.max`, absent without the cpu controller: then
/// nothing limits the cgroup's CPU and the limit is absent, not an error).
pub fn read_cpu(dir: &Path, cpu: &mut CpuFigures, err: &mut FirstError) {
    if let Some(s) = err.take(read_parsed(&dir.join("cpu.stat"), parse_cpu_stat)) {
        cpu.periods = s.periods;
        cpu.throttled_periods = s.throttled_periods;
        cpu.throttled_ns = s.throttled_usec.map(|us| us.saturating_mul(1000));
    }
    let max = dir.join("cpu.max");
    if let Some(t) = err.take(read_text(&max)).flatten() {
        cpu.limit_cores = err
            .take(parse_cpu_max(&t).map_err(|e| CgroupError::parse(&max, e)))
            .flatten();
    }
}

pub fn read_io(dir: &Path, err: &mut FirstError) -> IoFigures {
    match err.take(read_parsed(&dir.join("io.stat"), parse_io_stat)) {
        Some((rb, wb, r, w)) => IoFigures {
            read_bytes: Some(rb),
            write_bytes: Some(wb),
            reads: Some(r),
            writes: Some(w),
        },
        None => IoFigures::default(),
    }
}
