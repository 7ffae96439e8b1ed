//! cgroup v1 files: pure parsers (text in, values out) and the per-resource readers.
//!
//! Memory figures follow cAdvisor on v1: usage from `memory.usage_in_bytes`, RSS and cache from the
//! hierarchical `total_rss` / `total_cache` of `memory.stat`, working set = usage −
//! `total_inactive_file`, limit hits from `memory.failcnt`, OOM kills from `memory.oom_control`.

use std::path::Path;

use super::figures::{CpuFigures, IoFigures, MemoryFigures};
use super::read::{
    FirstError, ParseError, key, parse_flat_keyed, parse_u64, read_parsed, read_text,
};

/// v1 reports "no limit" as the largest page-aligned `i64` (9223372036854771712 with 4 KiB pages,
/// less with bigger pages); no machine has 2^62 bytes, so anything from there on is no limit.
pub const UNLIMITED_FROM: u64 = 1 << 62;

/// `memory.limit_in_bytes` (and `memsw`): `None` when unlimited.
pub fn parse_limit_in_bytes(text: &str) -> Result<Option<u64>, ParseError> {
    let v = parse_u64(text)?;
    Ok((v < UNLIMITED_FROM).then_some(v))
}

/// The `memory.stat` figures sidewatch uses, bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryStat {
    pub rss: Option<u64>,
    pub cache: Option<u64>,
    pub inactive_file: Option<u64>,
    pub swap: Option<u64>,
}

/// `memory.stat`: the hierarchical `total_*` keys (this cgroup and its descendants), falling back
/// to the local ones on kernels that lack them. `swap` exists only with swap accounting.
pub fn parse_memory_stat(text: &str) -> Result<MemoryStat, ParseError> {
    let kv = parse_flat_keyed(text)?;
    let pick = |name: &str| key(&kv, &format!("total_{name}")).or_else(|| key(&kv, name));
    Ok(MemoryStat {
        rss: pick("rss"),
        cache: pick("cache"),
        inactive_file: pick("inactive_file"),
        swap: pick("swap"),
    })
}

/// `memory.oom_control`: the `oom_kill` count (kernel ≥ 4.13; `None` on older kernels).
pub fn parse_oom_control(text: &str) -> Result<Option<u64>, ParseError> {
    Ok(key(&parse_flat_keyed(text)?, "oom_kill"))
}

/// `cpuacct.stat`: (user, system) in USER_HZ ticks.
pub fn parse_cpuacct_stat(text: &str) -> Result<(Option<u64>, Option<u64>), ParseError> {
    let kv = parse_flat_keyed(text)?;
    Ok((key(&kv, "user"), key(&kv, "system")))
}

/// The throttling figures of v1 `cpu.stat`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpuStat {
    pub periods: Option<u64>,
    pub throttled_periods: Option<u64>,
    pub throttled_ns: Option<u64>,
}

/// v1 `cpu.stat`: `nr_periods`, `nr_throttled`, `throttled_time` (nanoseconds).
pub fn parse_cpu_stat(text: &str) -> Result<CpuStat, ParseError> {
    let kv = parse_flat_keyed(text)?;
    Ok(CpuStat {
        periods: key(&kv, "nr_periods"),
        throttled_periods: key(&kv, "nr_throttled"),
        throttled_ns: key(&kv, "throttled_time"),
    })
}

/// `cpu.cfs_quota_us` and `cpu.cfs_period_us` → cores; `None` when the quota is `-1` (no limit).
pub fn parse_quota(quota: &str, period: &str) -> Result<Option<f64>, ParseError> {
    let q = quota.trim();
    let q: i64 = q.parse().map_err(|_| ParseError::new(1, q))?;
    let p = parse_u64(period)?;
    if q < 0 || p == 0 {
        return Ok(None);
    }
    Ok(Some(q as f64 / p as f64))
}

/// `blkio.throttle.io_service_bytes` / `io_serviced` (and `_recursive`): (read, write) summed over
/// devices (`MAJ:MIN Read N` lines; the `Total` lines are skipped).
pub fn parse_blkio(text: &str) -> Result<(u64, u64), ParseError> {
    let (mut read, mut write) = (0u64, 0u64);
    for (i, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f[..] {
            [] => {}
            ["Total", v] => {
                v.parse::<u64>().map_err(|_| ParseError::new(i + 1, line))?;
            }
            [dev, op, v] if dev.contains(':') => {
                let v: u64 = v.parse().map_err(|_| ParseError::new(i + 1, line))?;
                match op {
                    "Read" => read = read.saturating_add(v),
                    "Write" => write = write.saturating_add(v),
                    _ => {}
                }
            }
            _ => return Err(ParseError::new(i + 1, line)),
        }
    }
    Ok((read, write))
}

// ---------------------------------------------------------------------------------------------
// Readers

/// The memory controller's files of one cgroup.
pub fn read_memory(dir: &Path, err: &mut FirstError) -> MemoryFigures {
    let mut m = MemoryFigures {
        usage_bytes: err.take(read_parsed(&dir.join("memory.usage_in_bytes"), parse_u64)),
        limit_bytes: err
            .take(read_parsed(
                &dir.join("memory.limit_in_bytes"),
                parse_limit_in_bytes,
            ))
            .flatten(),
        oom_kills: err
            .take(read_parsed(
                &dir.join("memory.oom_control"),
                parse_oom_control,
            ))
            .flatten(),
        limit_hits: err.take(read_parsed(&dir.join("memory.failcnt"), parse_u64)),
        ..Default::default()
    };
    if let Some(s) = err.take(read_parsed(&dir.join("memory.stat"), parse_memory_stat)) {
        m.rss_bytes = s.rss;
        m.cache_bytes = s.cache;
        m.inactive_file_bytes = s.inactive_file;
        m.swap_bytes = s.swap;
    }
    m.derive_working_set();
    m
}

/// `cpuacct.usage` (ns) and `cpuacct.stat` (USER_HZ ticks, converted to ns).
pub fn read_cpuacct(dir: &Path, ticks_per_second: u64, cpu: &mut CpuFigures, err: &mut FirstError) {
    cpu.usage_ns = err.take(read_parsed(&dir.join("cpuacct.usage"), parse_u64));
    if let Some((user, system)) =
        err.take(read_parsed(&dir.join("cpuacct.stat"), parse_cpuacct_stat))
    {
        let ns = |t: u64| t.saturating_mul(1_000_000_000 / ticks_per_second.max(1));
        cpu.user_ns = user.map(ns);
        cpu.system_ns = system.map(ns);
    }
}

/// Throttling (`cpu.stat`) and the CFS quota of the `cpu` controller.
pub fn read_cpu(dir: &Path, cpu: &mut CpuFigures, err: &mut FirstError) {
    if let Some(s) = err.take(read_parsed(&dir.join("cpu.stat"), parse_cpu_stat)) {
        cpu.periods = s.periods;
        cpu.throttled_periods = s.throttled_periods;
        cpu.throttled_ns = s.throttled_ns;
    }
    let quota = dir.join("cpu.cfs_quota_us");
    let period = dir.join("cpu.cfs_period_us");
    let q = err.take(super::read::read_required(&quota));
    let p = err.take(super::read::read_required(&period));
    if let (Some(q), Some(p)) = (q, p) {
        cpu.limit_cores = err
            .take(parse_quota(&q, &p).map_err(|e| super::read::CgroupError::parse(&quota, e)))
            .flatten();
    }
}

/// `blkio.throttle.io_service_bytes` and `io_serviced`, the `_recursive` variants when present
/// (they include descendants, as v2's `io.stat` does).
pub fn read_io(dir: &Path, err: &mut FirstError) -> IoFigures {
    let mut io = IoFigures::default();
    let pick = |base: &str| {
        let rec = dir.join(format!("{base}_recursive"));
        match read_text(&rec) {
            Ok(Some(t)) => Ok((rec, t)),
            Ok(None) => {
                let p = dir.join(base);
                super::read::read_required(&p).map(|t| (p, t))
            }
            Err(e) => Err(e),
        }
    };
    if let Some((path, t)) = err.take(pick("blkio.throttle.io_service_bytes")) {
        if let Some((r, w)) =
            err.take(parse_blkio(&t).map_err(|e| super::read::CgroupError::parse(&path, e)))
        {
            io.read_bytes = Some(r);
            io.write_bytes = Some(w);
        }
    }
    if let Some((path, t)) = err.take(pick("blkio.throttle.io_serviced")) {
        if let Some((r, w)) =
            err.take(parse_blkio(&t).map_err(|e| super::read::CgroupError::parse(&path, e)))
        {
            io.reads = Some(r);
            io.writes = Some(w);
        }
    }
    io
}
