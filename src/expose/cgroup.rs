//! The `sidewatch_cgroup_*` families: one set of series per target (plus a `cgroup` label per
//! distinct cgroup with `cgroup_labels: true`). Gauges only for a live target; counters also
//! while it is down, as the process counters.

use std::borrow::Cow;

use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType::{Counter, Gauge, Info};
use prometheus_client::registry::Unit;

use crate::encode::{Family, Labels, Num, push_opt, target_labels, with};
use crate::snapshot::Snapshot;

pub(crate) fn encode(s: &Snapshot, enc: &mut DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
    let mut info = Family::new(
        "sidewatch_cgroup",
        "The cgroup the target's figures come from: its path as /proc/<pid>/cgroup shows it (memory hierarchy on v1) and the cgroup version.",
        None,
        Info,
    );
    let mut shared = Family::new(
        "sidewatch_cgroup_shared",
        "1 when the target's cgroup also holds processes that are not the target's (cgroup.procs of the memory and CPU hierarchies): the cgroup figures then include them, and the target's memory and CPU signals (rules, SLOs, history) use its processes' own figures. 0 when the cgroup holds only the target.",
        None,
        Gauge,
    );
    let mut usage = Family::new(
        "sidewatch_cgroup_memory_usage",
        "Memory charged to the cgroup, page cache included (memory.current / memory.usage_in_bytes).",
        Some(Unit::Bytes),
        Gauge,
    );
    let mut ws = Family::new(
        "sidewatch_cgroup_memory_working_set",
        "Memory usage minus inactive file cache, floored at 0: what the OOM killer and the kubelet look at (cAdvisor's working set).",
        Some(Unit::Bytes),
        Gauge,
    );
    let mut rss = Family::new(
        "sidewatch_cgroup_memory_rss",
        "Anonymous memory of the cgroup (memory.stat anon / total_rss).",
        Some(Unit::Bytes),
        Gauge,
    );
    let mut cache = Family::new(
        "sidewatch_cgroup_memory_cache",
        "Page cache of the cgroup (memory.stat file / total_cache).",
        Some(Unit::Bytes),
        Gauge,
    );
    let mut swap = Family::new(
        "sidewatch_cgroup_memory_swap",
        "Swap used by the cgroup (memory.swap.current / memory.stat total_swap), where swap accounting is on.",
        Some(Unit::Bytes),
        Gauge,
    );
    let mut limit = Family::new(
        "sidewatch_cgroup_memory_limit",
        "Memory limit of the cgroup (memory.max / memory.limit_in_bytes); absent when unlimited.",
        Some(Unit::Bytes),
        Gauge,
    );
    let mut mem_ratio = Family::new(
        "sidewatch_cgroup_memory_utilization_ratio",
        "Working set divided by the memory limit; absent when unlimited.",
        None,
        Gauge,
    );
    let mut oom = Family::new(
        "sidewatch_cgroup_memory_oom_kills",
        "Processes of the target's cgroup(s) killed by the OOM killer (memory.events oom_kill / memory.oom_control oom_kill).",
        None,
        Counter,
    );
    let mut hits = Family::new(
        "sidewatch_cgroup_memory_limit_hits",
        "Times the cgroup's memory usage hit its limit (memory.events max / memory.failcnt).",
        None,
        Counter,
    );
    let mut cpu = Family::new(
        "sidewatch_cgroup_cpu_usage",
        "CPU time of the target's cgroup(s) (cpu.stat user_usec, system_usec / cpuacct.stat).",
        Some(Unit::Seconds),
        Counter,
    );
    let mut cores = Family::new(
        "sidewatch_cgroup_cpu_limit_cores",
        "CPU limit of the cgroup in cores (cpu.max / cpu.cfs_quota_us divided by the period); absent when unlimited.",
        None,
        Gauge,
    );
    let mut cpu_ratio = Family::new(
        "sidewatch_cgroup_cpu_utilization_ratio",
        "CPU usage over the last tick divided by the limit in cores, or by the CPUs the cgroup may run on when unlimited.",
        None,
        Gauge,
    );
    let mut periods = Family::new(
        "sidewatch_cgroup_cpu_periods",
        "CFS enforcement periods in which the cgroup was runnable (cpu.stat nr_periods).",
        None,
        Counter,
    );
    let mut throttled_periods = Family::new(
        "sidewatch_cgroup_cpu_throttled_periods",
        "Periods in which the cgroup was throttled for exhausting its quota (cpu.stat nr_throttled).",
        None,
        Counter,
    );
    let mut throttled = Family::new(
        "sidewatch_cgroup_cpu_throttled",
        "Time the cgroup's tasks were throttled (cpu.stat throttled_usec / throttled_time).",
        Some(Unit::Seconds),
        Counter,
    );
    let mut pids = Family::new(
        "sidewatch_cgroup_pids",
        "Tasks in the cgroup (pids.current).",
        None,
        Gauge,
    );
    let mut pids_limit = Family::new(
        "sidewatch_cgroup_pids_limit",
        "Task limit of the cgroup (pids.max); absent when unlimited.",
        None,
        Gauge,
    );
    let mut io_read = Family::new(
        "sidewatch_cgroup_io_read",
        "Bytes read from block devices by the cgroup (io.stat rbytes / blkio.throttle.io_service_bytes Read).",
        Some(Unit::Bytes),
        Counter,
    );
    let mut io_write = Family::new(
        "sidewatch_cgroup_io_write",
        "Bytes written to block devices by the cgroup (io.stat wbytes / blkio.throttle.io_service_bytes Write).",
        Some(Unit::Bytes),
        Counter,
    );
    let mut io_reads = Family::new(
        "sidewatch_cgroup_io_reads",
        "Read operations on block devices by the cgroup (io.stat rios / blkio.throttle.io_serviced Read).",
        None,
        Counter,
    );
    let mut io_writes = Family::new(
        "sidewatch_cgroup_io_writes",
        "Write operations on block devices by the cgroup (io.stat wios / blkio.throttle.io_serviced Write).",
        None,
        Counter,
    );
    let mut waiting = Family::new(
        "sidewatch_cgroup_pressure_waiting",
        "Time in which at least one task of the cgroup waited for the resource (PSI some total).",
        Some(Unit::Seconds),
        Counter,
    );
    let mut stalled = Family::new(
        "sidewatch_cgroup_pressure_stalled",
        "Time in which all non-idle tasks of the cgroup were stalled on the resource at once (PSI full total).",
        Some(Unit::Seconds),
        Counter,
    );

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
