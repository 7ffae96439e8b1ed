//! The `sidewatch_cgroup_*` families: one set of series per target (plus a `cgroup` label per
//! distinct cgroup with `cgroup_labels: true`). Gauges only for a live target; counters also
//! while it is down, as the process counters.

use std::borrow::Cow;

use prometheus_client::encoding::DescriptorEncoder;

use crate::catalog;
use crate::encode::{Family, Labels, Num, push_opt, target_labels, with};
use crate::snapshot::Snapshot;

pub(crate) fn encode(s: &Snapshot, enc: &mut DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
    let mut info = Family::of(&catalog::CGROUP);
    let mut shared = Family::of(&catalog::CGROUP_SHARED);
    let mut usage = Family::of(&catalog::CGROUP_MEMORY_USAGE);
    let mut ws = Family::of(&catalog::CGROUP_MEMORY_WORKING_SET);
    let mut rss = Family::of(&catalog::CGROUP_MEMORY_RSS);
    let mut cache = Family::of(&catalog::CGROUP_MEMORY_CACHE);
    let mut swap = Family::of(&catalog::CGROUP_MEMORY_SWAP);
    let mut limit = Family::of(&catalog::CGROUP_MEMORY_LIMIT);
    let mut mem_ratio = Family::of(&catalog::CGROUP_MEMORY_UTILIZATION_RATIO);
    let mut oom = Family::of(&catalog::CGROUP_MEMORY_OOM_KILLS);
    let mut hits = Family::of(&catalog::CGROUP_MEMORY_LIMIT_HITS);
    let mut cpu = Family::of(&catalog::CGROUP_CPU_USAGE);
    let mut cores = Family::of(&catalog::CGROUP_CPU_LIMIT_CORES);
    let mut cpu_ratio = Family::of(&catalog::CGROUP_CPU_UTILIZATION_RATIO);
    let mut periods = Family::of(&catalog::CGROUP_CPU_PERIODS);
    let mut throttled_periods = Family::of(&catalog::CGROUP_CPU_THROTTLED_PERIODS);
    let mut throttled = Family::of(&catalog::CGROUP_CPU_THROTTLED);
    let mut pids = Family::of(&catalog::CGROUP_PIDS);
    let mut pids_limit = Family::of(&catalog::CGROUP_PIDS_LIMIT);
    let mut io_read = Family::of(&catalog::CGROUP_IO_READ);
    let mut io_write = Family::of(&catalog::CGROUP_IO_WRITE);
    let mut io_reads = Family::of(&catalog::CGROUP_IO_READS);
    let mut io_writes = Family::of(&catalog::CGROUP_IO_WRITES);
    let mut waiting = Family::of(&catalog::CGROUP_PRESSURE_WAITING);
    let mut stalled = Family::of(&catalog::CGROUP_PRESSURE_STALLED);

    let f = |v: Option<f64>| v.map(Num::F);
    for t in &s.targets {
        let base = target_labels(t);
        for c in &t.cgroups {
            let l: Labels<'_> = if t.cgroup_labels {
                with(&base, "cgroup", Cow::Borrowed(c.path.as_str()))
            } else {
                base.clone()
            };
            if c.live {
                info.push(
                    with(&with(&l, "path", c.path.as_str()), "version", c.version),
                    Num::U(1),
                );
            }
            push_opt(&mut shared, &l, c.shared.map(u64::from));
            push_opt(&mut usage, &l, c.memory_usage_bytes);
            push_opt(&mut ws, &l, c.memory_working_set_bytes);
            push_opt(&mut rss, &l, c.memory_rss_bytes);
            push_opt(&mut cache, &l, c.memory_cache_bytes);
            push_opt(&mut swap, &l, c.swap_bytes);
            push_opt(&mut limit, &l, c.memory_limit_bytes);
            push_f(&mut mem_ratio, &l, f(c.memory_utilization_ratio));
            push_opt(&mut oom, &l, c.oom_kills);
            push_opt(&mut hits, &l, c.memory_limit_hits);
            push_f(&mut cpu, &with(&l, "mode", "user"), f(c.cpu_user_seconds));
            push_f(
                &mut cpu,
                &with(&l, "mode", "system"),
                f(c.cpu_system_seconds),
            );
            push_f(&mut cores, &l, f(c.cpu_limit_cores));
            push_f(&mut cpu_ratio, &l, f(c.cpu_utilization_ratio));
            push_opt(&mut periods, &l, c.cpu_periods);
            push_opt(&mut throttled_periods, &l, c.cpu_throttled_periods);
            push_f(&mut throttled, &l, f(c.cpu_throttled_seconds));
            push_opt(&mut pids, &l, c.pids);
            push_opt(&mut pids_limit, &l, c.pids_limit);
            push_opt(&mut io_read, &l, c.io_read_bytes);
            push_opt(&mut io_write, &l, c.io_write_bytes);
            push_opt(&mut io_reads, &l, c.io_reads);
            push_opt(&mut io_writes, &l, c.io_writes);
            for (resource, some, full) in [
                (
                    "cpu",
                    c.pressure_cpu_waiting_seconds,
                    c.pressure_cpu_stalled_seconds,
                ),
                (
                    "memory",
                    c.pressure_memory_waiting_seconds,
                    c.pressure_memory_stalled_seconds,
                ),
                (
                    "io",
                    c.pressure_io_waiting_seconds,
                    c.pressure_io_stalled_seconds,
                ),
            ] {
                push_f(&mut waiting, &with(&l, "resource", resource), f(some));
                push_f(&mut stalled, &with(&l, "resource", resource), f(full));
            }
        }
    }
    for fam in [
        &info,
        &shared,
        &usage,
        &ws,
        &rss,
        &cache,
        &swap,
        &limit,
        &mem_ratio,
        &oom,
        &hits,
        &cpu,
        &cores,
        &cpu_ratio,
        &periods,
        &throttled_periods,
        &throttled,
        &pids,
        &pids_limit,
        &io_read,
        &io_write,
        &io_reads,
        &io_writes,
        &waiting,
        &stalled,
    ] {
        fam.encode(enc)?;
    }
    Ok(())
}

fn push_f<'a>(fam: &mut Family<'a>, l: &Labels<'a>, v: Option<Num>) {
    if let Some(v) = v {
        fam.push(l.clone(), v);
    }
}
