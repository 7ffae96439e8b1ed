//! The catalog of metric families: one definition per family (name, type, unit, help, labels,
//! when it is absent). The encoders build their families from these entries, and
//! `docs/metrics.md` is rendered from the same entries (`crate::reference`), so the reference and
//! `/metrics` cannot drift apart. A new family is one more `Def` here plus its line in [`ALL`].
//!
//! A leaf module: it depends on `prometheus-client` types only.

use prometheus_client::encoding::{DescriptorEncoder, MetricEncoder};
use prometheus_client::metrics::MetricType::{self, Counter, Gauge, Histogram, Info};
use prometheus_client::registry::Unit;

/// One metric family as the exposition writes it.
#[derive(Debug)]
pub struct Def {
    /// Name before the unit and `_total` suffixes the encoder appends.
    pub name: &'static str,
    pub kind: MetricType,
    pub unit: Option<Unit>,
    pub help: &'static str,
    /// Label names in output order; `target` families also carry the target's `labels:`.
    pub labels: &'static [&'static str],
    /// When the family (or a target's series of it) is missing; empty when it always appears.
    pub absent_when: &'static str,
}

impl Def {
    /// Starts the family's descriptor (for the histograms, which bypass `Family`).
    pub(crate) fn describe<'e>(
        &'static self,
        enc: &'e mut DescriptorEncoder<'_>,
    ) -> Result<MetricEncoder<'e>, std::fmt::Error> {
        enc.encode_descriptor(self.name, self.help, self.unit.as_ref(), self.kind)
    }

    /// The family name in the Prometheus text format (what `# TYPE` lines show): the unit and,
    /// for counters `_total`, for info families `_info`, appended as `prometheus-client` does.
    pub fn exposed_name(&self) -> String {
        let mut n = self.name.to_string();
        if let Some(u) = &self.unit {
            n.push('_');
            n.push_str(u.as_str());
        }
        match self.kind {
            Counter => n.push_str("_total"),
            Info => n.push_str("_info"),
            _ => {}
        }
        n
    }

    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            Counter => "counter",
            Gauge => "gauge",
            Histogram => "histogram",
            Info => "info",
            _ => "unknown",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The families, in exposition order.

pub const TARGET_UP: Def = Def {
    name: "sidewatch_target_up",
    kind: Gauge,
    unit: None,
    help: "1 if at least one live process of the target was found in the last tick, else 0.",
    labels: &["target"],
    absent_when: "",
};

pub const TARGET_PROCESSES: Def = Def {
    name: "sidewatch_target_processes",
    kind: Gauge,
    unit: None,
    help: "Live processes currently selected by the target.",
    labels: &["target"],
    absent_when: "",
};

pub const TARGET: Def = Def {
    name: "sidewatch_target",
    kind: Info,
    unit: None,
    help: "The target's main (oldest directly selected) process.",
    labels: &["target", "pid", "comm"],
    absent_when: "no live process, or the figure cannot be read (counted in sidewatch_read_errors_total)",
};

pub const PROCESS_CPU: Def = Def {
    name: "sidewatch_process_cpu",
    kind: Counter,
    unit: Some(Unit::Seconds),
    help: "CPU time consumed by the target's processes, cumulative across restarts.",
    labels: &["target", "mode"],
    absent_when: "no live process, or the figure cannot be read (counted in sidewatch_read_errors_total)",
};

pub const PROCESS_RESIDENT_MEMORY: Def = Def {
    name: "sidewatch_process_resident_memory",
    kind: Gauge,
    unit: Some(Unit::Bytes),
    help: "Resident set size of the target's processes (sum of VmRSS).",
    labels: &["target"],
    absent_when: "no live process, or the figure cannot be read (counted in sidewatch_read_errors_total)",
};

pub const PROCESS_VIRTUAL_MEMORY: Def = Def {
    name: "sidewatch_process_virtual_memory",
    kind: Gauge,
    unit: Some(Unit::Bytes),
    help: "Virtual memory size of the target's processes (sum).",
    labels: &["target"],
    absent_when: "no live process, or the figure cannot be read (counted in sidewatch_read_errors_total)",
};

pub const PROCESS_SWAP: Def = Def {
    name: "sidewatch_process_swap",
    kind: Gauge,
    unit: Some(Unit::Bytes),
    help: "Swapped-out memory of the target's processes (sum of VmSwap).",
    labels: &["target"],
    absent_when: "no live process, or the figure cannot be read (counted in sidewatch_read_errors_total)",
};

pub const PROCESS_PROPORTIONAL_MEMORY: Def = Def {
    name: "sidewatch_process_proportional_memory",
    kind: Gauge,
    unit: Some(Unit::Bytes),
    help: "Proportional set size of the target's processes (sum of Pss from smaps_rollup).",
    labels: &["target"],
    absent_when: "no live process, or the figure cannot be read (counted in sidewatch_read_errors_total)",
};

pub const PROCESS_THREADS: Def = Def {
    name: "sidewatch_process_threads",
    kind: Gauge,
    unit: None,
    help: "Threads of the target's processes (sum).",
    labels: &["target"],
    absent_when: "no live process, or the figure cannot be read (counted in sidewatch_read_errors_total)",
};

pub const PROCESS_OPEN_FDS: Def = Def {
    name: "sidewatch_process_open_fds",
    kind: Gauge,
    unit: None,
    help: "Open file descriptors of the target's processes (sum).",
    labels: &["target"],
    absent_when: "no live process, or the figure cannot be read (counted in sidewatch_read_errors_total)",
};

pub const PROCESS_FD_UTILIZATION_RATIO: Def = Def {
    name: "sidewatch_process_fd_utilization_ratio",
    kind: Gauge,
    unit: None,
    help: "Highest ratio of open file descriptors to the soft limit among the target's processes.",
    labels: &["target"],
    absent_when: "no live process, or the figure cannot be read (counted in sidewatch_read_errors_total)",
};

pub const PROCESS_IO_READ: Def = Def {
    name: "sidewatch_process_io_read",
    kind: Counter,
    unit: Some(Unit::Bytes),
    help: "Bytes the target's processes caused to be fetched from storage, cumulative across restarts.",
    labels: &["target"],
    absent_when: "no live process, or the figure cannot be read (counted in sidewatch_read_errors_total)",
};

pub const PROCESS_IO_WRITE: Def = Def {
    name: "sidewatch_process_io_write",
    kind: Counter,
    unit: Some(Unit::Bytes),
    help: "Bytes the target's processes caused to be sent to storage, cumulative across restarts.",
    labels: &["target"],
    absent_when: "no live process, or the figure cannot be read (counted in sidewatch_read_errors_total)",
};

pub const PROCESS_CONTEXT_SWITCHES: Def = Def {
    name: "sidewatch_process_context_switches",
    kind: Counter,
    unit: None,
    help: "Context switches of the target's processes, cumulative across restarts.",
    labels: &["target", "kind"],
    absent_when: "no live process, or the figure cannot be read (counted in sidewatch_read_errors_total)",
};

pub const PROCESS_PAGE_FAULTS: Def = Def {
    name: "sidewatch_process_page_faults",
    kind: Counter,
    unit: None,
    help: "Page faults of the target's processes, cumulative across restarts.",
    labels: &["target", "kind"],
    absent_when: "no live process, or the figure cannot be read (counted in sidewatch_read_errors_total)",
};

pub const PROCESS_CPU_WAIT: Def = Def {
    name: "sidewatch_process_cpu_wait",
    kind: Counter,
    unit: Some(Unit::Seconds),
    help: "Time the target's processes spent runnable but waiting for a CPU (schedstat run delay), cumulative across restarts.",
    labels: &["target"],
    absent_when: "no live process, or the figure cannot be read (counted in sidewatch_read_errors_total)",
};

pub const PROCESS_START_TIME: Def = Def {
    name: "sidewatch_process_start_time",
    kind: Gauge,
    unit: Some(Unit::Seconds),
    help: "Start time of the target's main process since the Unix epoch.",
    labels: &["target"],
    absent_when: "no live process, or the figure cannot be read (counted in sidewatch_read_errors_total)",
};

pub const PROCESS_RESTARTS: Def = Def {
    name: "sidewatch_process_restarts",
    kind: Counter,
    unit: None,
    help: "Times the target's main process was replaced by a new process.",
    labels: &["target"],
    absent_when: "no live process, or the figure cannot be read (counted in sidewatch_read_errors_total)",
};

pub const CGROUP: Def = Def {
    name: "sidewatch_cgroup",
    kind: Info,
    unit: None,
    help: "The cgroup the target's figures come from: its path as /proc/<pid>/cgroup shows it (memory hierarchy on v1) and the cgroup version.",
    labels: &["target", "path", "version"],
    absent_when: "the target has no readable cgroup (or the file is missing on this kernel)",
};

pub const CGROUP_SHARED: Def = Def {
    name: "sidewatch_cgroup_shared",
    kind: Gauge,
    unit: None,
    help: "1 when the target's cgroup also holds processes that are not the target's (cgroup.procs of the memory and CPU hierarchies): the cgroup figures then include them, and the target's memory and CPU signals (rules, SLOs, history) use its processes' own figures. 0 when the cgroup holds only the target.",
    labels: &["target"],
    absent_when: "the target has no readable cgroup (or the file is missing on this kernel)",
};

pub const CGROUP_MEMORY_USAGE: Def = Def {
    name: "sidewatch_cgroup_memory_usage",
    kind: Gauge,
    unit: Some(Unit::Bytes),
    help: "Memory charged to the cgroup, page cache included (memory.current / memory.usage_in_bytes).",
    labels: &["target"],
    absent_when: "the target has no readable cgroup (or the file is missing on this kernel)",
};

pub const CGROUP_MEMORY_WORKING_SET: Def = Def {
    name: "sidewatch_cgroup_memory_working_set",
    kind: Gauge,
    unit: Some(Unit::Bytes),
    help: "Memory usage minus inactive file cache, floored at 0: what the OOM killer and the kubelet look at (cAdvisor's working set).",
    labels: &["target"],
    absent_when: "the target has no readable cgroup (or the file is missing on this kernel)",
};

pub const CGROUP_MEMORY_RSS: Def = Def {
    name: "sidewatch_cgroup_memory_rss",
    kind: Gauge,
    unit: Some(Unit::Bytes),
    help: "Anonymous memory of the cgroup (memory.stat anon / total_rss).",
    labels: &["target"],
    absent_when: "the target has no readable cgroup (or the file is missing on this kernel)",
};

pub const CGROUP_MEMORY_CACHE: Def = Def {
    name: "sidewatch_cgroup_memory_cache",
    kind: Gauge,
    unit: Some(Unit::Bytes),
    help: "Page cache of the cgroup (memory.stat file / total_cache).",
    labels: &["target"],
    absent_when: "the target has no readable cgroup (or the file is missing on this kernel)",
};

pub const CGROUP_MEMORY_SWAP: Def = Def {
    name: "sidewatch_cgroup_memory_swap",
    kind: Gauge,
    unit: Some(Unit::Bytes),
    help: "Swap used by the cgroup (memory.swap.current / memory.stat total_swap), where swap accounting is on.",
    labels: &["target"],
    absent_when: "the target has no readable cgroup (or the file is missing on this kernel)",
};

pub const CGROUP_MEMORY_LIMIT: Def = Def {
    name: "sidewatch_cgroup_memory_limit",
    kind: Gauge,
    unit: Some(Unit::Bytes),
    help: "Memory limit of the cgroup (memory.max / memory.limit_in_bytes); absent when unlimited.",
    labels: &["target"],
    absent_when: "the target has no readable cgroup (or the file is missing on this kernel)",
};

pub const CGROUP_MEMORY_UTILIZATION_RATIO: Def = Def {
    name: "sidewatch_cgroup_memory_utilization_ratio",
    kind: Gauge,
    unit: None,
    help: "Working set divided by the memory limit; absent when unlimited.",
    labels: &["target"],
    absent_when: "the target has no readable cgroup (or the file is missing on this kernel)",
};

pub const CGROUP_MEMORY_OOM_KILLS: Def = Def {
    name: "sidewatch_cgroup_memory_oom_kills",
    kind: Counter,
    unit: None,
    help: "Processes of the target's cgroup(s) killed by the OOM killer (memory.events oom_kill / memory.oom_control oom_kill).",
    labels: &["target"],
    absent_when: "the target has no readable cgroup (or the file is missing on this kernel)",
};

pub const CGROUP_MEMORY_LIMIT_HITS: Def = Def {
    name: "sidewatch_cgroup_memory_limit_hits",
    kind: Counter,
    unit: None,
    help: "Times the cgroup's memory usage hit its limit (memory.events max / memory.failcnt).",
    labels: &["target"],
    absent_when: "the target has no readable cgroup (or the file is missing on this kernel)",
};

pub const CGROUP_CPU_USAGE: Def = Def {
    name: "sidewatch_cgroup_cpu_usage",
    kind: Counter,
    unit: Some(Unit::Seconds),
    help: "CPU time of the target's cgroup(s) (cpu.stat user_usec, system_usec / cpuacct.stat).",
    labels: &["target", "mode"],
    absent_when: "the target has no readable cgroup (or the file is missing on this kernel)",
};

pub const CGROUP_CPU_LIMIT_CORES: Def = Def {
    name: "sidewatch_cgroup_cpu_limit_cores",
    kind: Gauge,
    unit: None,
    help: "CPU limit of the cgroup in cores (cpu.max / cpu.cfs_quota_us divided by the period); absent when unlimited.",
    labels: &["target"],
    absent_when: "the target has no readable cgroup (or the file is missing on this kernel)",
};

pub const CGROUP_CPU_UTILIZATION_RATIO: Def = Def {
    name: "sidewatch_cgroup_cpu_utilization_ratio",
    kind: Gauge,
    unit: None,
    help: "CPU usage over the last tick divided by the limit in cores, or by the CPUs the cgroup may run on when unlimited.",
    labels: &["target"],
    absent_when: "the target has no readable cgroup (or the file is missing on this kernel)",
};

pub const CGROUP_CPU_PERIODS: Def = Def {
    name: "sidewatch_cgroup_cpu_periods",
    kind: Counter,
    unit: None,
    help: "CFS enforcement periods in which the cgroup was runnable (cpu.stat nr_periods).",
    labels: &["target"],
    absent_when: "the target has no readable cgroup (or the file is missing on this kernel)",
};

pub const CGROUP_CPU_THROTTLED_PERIODS: Def = Def {
    name: "sidewatch_cgroup_cpu_throttled_periods",
    kind: Counter,
    unit: None,
    help: "Periods in which the cgroup was throttled for exhausting its quota (cpu.stat nr_throttled).",
    labels: &["target"],
    absent_when: "the target has no readable cgroup (or the file is missing on this kernel)",
};

pub const CGROUP_CPU_THROTTLED: Def = Def {
    name: "sidewatch_cgroup_cpu_throttled",
    kind: Counter,
    unit: Some(Unit::Seconds),
    help: "Time the cgroup's tasks were throttled (cpu.stat throttled_usec / throttled_time).",
    labels: &["target"],
    absent_when: "the target has no readable cgroup (or the file is missing on this kernel)",
};

pub const CGROUP_PIDS: Def = Def {
    name: "sidewatch_cgroup_pids",
    kind: Gauge,
    unit: None,
    help: "Tasks in the cgroup (pids.current).",
    labels: &["target"],
    absent_when: "the target has no readable cgroup (or the file is missing on this kernel)",
};

pub const CGROUP_PIDS_LIMIT: Def = Def {
    name: "sidewatch_cgroup_pids_limit",
    kind: Gauge,
    unit: None,
    help: "Task limit of the cgroup (pids.max); absent when unlimited.",
    labels: &["target"],
    absent_when: "the target has no readable cgroup (or the file is missing on this kernel)",
};

pub const CGROUP_IO_READ: Def = Def {
    name: "sidewatch_cgroup_io_read",
    kind: Counter,
    unit: Some(Unit::Bytes),
    help: "Bytes read from block devices by the cgroup (io.stat rbytes / blkio.throttle.io_service_bytes Read).",
    labels: &["target"],
    absent_when: "the target has no readable cgroup (or the file is missing on this kernel)",
};

pub const CGROUP_IO_WRITE: Def = Def {
    name: "sidewatch_cgroup_io_write",
    kind: Counter,
    unit: Some(Unit::Bytes),
    help: "Bytes written to block devices by the cgroup (io.stat wbytes / blkio.throttle.io_service_bytes Write).",
    labels: &["target"],
    absent_when: "the target has no readable cgroup (or the file is missing on this kernel)",
};

pub const CGROUP_IO_READS: Def = Def {
    name: "sidewatch_cgroup_io_reads",
    kind: Counter,
    unit: None,
    help: "Read operations on block devices by the cgroup (io.stat rios / blkio.throttle.io_serviced Read).",
    labels: &["target"],
    absent_when: "the target has no readable cgroup (or the file is missing on this kernel)",
};

pub const CGROUP_IO_WRITES: Def = Def {
    name: "sidewatch_cgroup_io_writes",
    kind: Counter,
    unit: None,
    help: "Write operations on block devices by the cgroup (io.stat wios / blkio.throttle.io_serviced Write).",
    labels: &["target"],
    absent_when: "the target has no readable cgroup (or the file is missing on this kernel)",
};

pub const CGROUP_PRESSURE_WAITING: Def = Def {
    name: "sidewatch_cgroup_pressure_waiting",
    kind: Counter,
    unit: Some(Unit::Seconds),
    help: "Time in which at least one task of the cgroup waited for the resource (PSI some total).",
    labels: &["target", "resource"],
    absent_when: "the target has no readable cgroup (or the file is missing on this kernel)",
};

pub const CGROUP_PRESSURE_STALLED: Def = Def {
    name: "sidewatch_cgroup_pressure_stalled",
    kind: Counter,
    unit: Some(Unit::Seconds),
    help: "Time in which all non-idle tasks of the cgroup were stalled on the resource at once (PSI full total).",
    labels: &["target", "resource"],
    absent_when: "the target has no readable cgroup (or the file is missing on this kernel)",
};

pub const RUNTIME: Def = Def {
    name: "sidewatch_runtime",
    kind: Info,
    unit: None,
    help: "The application's runtime (go, jvm, node, python) and its version, recognised from the series of its own /metrics.",
    labels: &["target", "runtime", "version"],
    absent_when: "the app's /metrics shows no recognised runtime series (targets without `app:`)",
};

pub const RUNTIME_HEAP: Def = Def {
    name: "sidewatch_runtime_heap",
    kind: Gauge,
    unit: Some(Unit::Bytes),
    help: "Heap in use as the application reports it (Go heap_alloc, JVM heap pools used, Node.js V8 heap used).",
    labels: &["target"],
    absent_when: "the app's /metrics shows no recognised runtime series (targets without `app:`)",
};

pub const RUNTIME_HEAP_LIMIT: Def = Def {
    name: "sidewatch_runtime_heap_limit",
    kind: Gauge,
    unit: Some(Unit::Bytes),
    help: "The runtime's heap ceiling: Go GOMEMLIMIT (absent when unset), JVM maximum heap (-Xmx). Absent for Node.js: its committed heap total is no limit.",
    labels: &["target"],
    absent_when: "the app's /metrics shows no recognised runtime series (targets without `app:`)",
};

pub const RUNTIME_TASKS: Def = Def {
    name: "sidewatch_runtime_tasks",
    kind: Gauge,
    unit: None,
    help: "Concurrent tasks of the runtime: Go goroutines, JVM live threads, Node.js active libuv handles.",
    labels: &["target"],
    absent_when: "the app's /metrics shows no recognised runtime series (targets without `app:`)",
};

pub const RUNTIME_EVENT_LOOP_LAG: Def = Def {
    name: "sidewatch_runtime_event_loop_lag",
    kind: Gauge,
    unit: Some(Unit::Seconds),
    help: "Event-loop delay, 99th percentile as prom-client measures it (Node.js).",
    labels: &["target"],
    absent_when: "the app's /metrics shows no recognised runtime series (targets without `app:`)",
};

pub const RUNTIME_GC_COLLECTIONS: Def = Def {
    name: "sidewatch_runtime_gc_collections",
    kind: Counter,
    unit: None,
    help: "GC cycles of the application, cumulative across its restarts (a drop of its own counter counts from zero).",
    labels: &["target"],
    absent_when: "the app's /metrics shows no recognised runtime series (targets without `app:`)",
};

pub const RUNTIME_GC_PAUSE: Def = Def {
    name: "sidewatch_runtime_gc_pause",
    kind: Counter,
    unit: Some(Unit::Seconds),
    help: "GC time of the application (Go stop-the-world pauses, JVM collection or pause time, Node.js GC duration), cumulative across its restarts.",
    labels: &["target"],
    absent_when: "the app's /metrics shows no recognised runtime series (targets without `app:`)",
};

pub const APP_METRICS_UP: Def = Def {
    name: "sidewatch_app_metrics_up",
    kind: Gauge,
    unit: None,
    help: "1 when this tick has a fresh, parsed body from the target's app.metrics_url (fetched during the last interval), else 0 (failed, late or unparsable: see sidewatch_read_errors_total{source=\"app_metrics\"}).",
    labels: &["target"],
    absent_when: "the target has no `app:`",
};

pub const APP_METRICS_FETCH_DURATION: Def = Def {
    name: "sidewatch_app_metrics_fetch_duration",
    kind: Gauge,
    unit: Some(Unit::Seconds),
    help: "Time the fetch behind this tick's app metrics took, from the request to the parsed body.",
    labels: &["target"],
    absent_when: "the target has no `app:`",
};

pub const APP_METRICS_SAMPLES: Def = Def {
    name: "sidewatch_app_metrics_samples",
    kind: Gauge,
    unit: None,
    help: "Samples in the application's metrics body of this tick.",
    labels: &["target"],
    absent_when: "the target has no `app:`",
};

pub const PROBE_REQUESTS: Def = Def {
    name: "sidewatch_probe_requests",
    kind: Counter,
    unit: None,
    help: "HTTP probes of the target by result; a failure's reason is one of timeout, connect, tls, http, status, body, skipped (due while the previous probe was still in flight: not sent).",
    labels: &["target", "result", "reason"],
    absent_when: "the target has no `probe:`",
};

pub const PROBE_UP: Def = Def {
    name: "sidewatch_probe_up",
    kind: Gauge,
    unit: None,
    help: "1 when the target's last finished HTTP probe succeeded, else 0.",
    labels: &["target"],
    absent_when: "the target has no `probe:`",
};

pub const PROBE_DURATION: Def = Def {
    name: "sidewatch_probe_duration",
    kind: Histogram,
    unit: Some(Unit::Seconds),
    help: "Time each HTTP probe sent took, from connecting to the end of the body or the failure (a timed-out probe counts its timeout), in OpenTelemetry's HTTP duration buckets.",
    labels: &["target"],
    absent_when: "the target has no `probe:`",
};

pub const PROFILES_CAPTURED: Def = Def {
    name: "sidewatch_profiles_captured",
    kind: Counter,
    unit: None,
    help: "pprof profiles of the target captured and stored, by kind (heap, goroutine, cpu) and trigger (alert, leak, goroutines, heap, cpu).",
    labels: &["target", "kind", "trigger"],
    absent_when: "the target has no `profiles:`",
};

pub const PROFILE_CAPTURE_ERRORS: Def = Def {
    name: "sidewatch_profile_capture_errors",
    kind: Counter,
    unit: None,
    help: "pprof captures of the target that failed: no answer within the timeout, an error status, a body over the size cap or not a gzipped profile, or the file could not be written.",
    labels: &["target"],
    absent_when: "the target has no `profiles:`",
};

pub const NETWORK_SHARED: Def = Def {
    name: "sidewatch_network_shared",
    kind: Gauge,
    unit: None,
    help: "1 when the target's network namespace is the host's (or sidewatch's own in host mode): the sidewatch_network_* and sidewatch_tcp_*_total figures then describe the whole host and stay out of the target's signals; the listen queues are still the target's own sockets. 0 for a namespace of its own (a Pod's, a container's).",
    labels: &["target"],
    absent_when: "the target's network namespace cannot be read (counted in sidewatch_read_errors_total)",
};

pub const NETWORK_RECEIVE: Def = Def {
    name: "sidewatch_network_receive",
    kind: Counter,
    unit: Some(Unit::Bytes),
    help: "Bytes received by the interface in the target's network namespace (net/dev; cAdvisor's container_network_receive_bytes_total).",
    labels: &["target", "interface"],
    absent_when: "the target's network namespace cannot be read (counted in sidewatch_read_errors_total)",
};

pub const NETWORK_RECEIVE_PACKETS: Def = Def {
    name: "sidewatch_network_receive_packets",
    kind: Counter,
    unit: None,
    help: "Packets received by the interface in the target's network namespace (net/dev).",
    labels: &["target", "interface"],
    absent_when: "the target's network namespace cannot be read (counted in sidewatch_read_errors_total)",
};

pub const NETWORK_RECEIVE_ERRORS: Def = Def {
    name: "sidewatch_network_receive_errors",
    kind: Counter,
    unit: None,
    help: "Receive errors of the interface in the target's network namespace (net/dev errs).",
    labels: &["target", "interface"],
    absent_when: "the target's network namespace cannot be read (counted in sidewatch_read_errors_total)",
};

pub const NETWORK_RECEIVE_DROPPED: Def = Def {
    name: "sidewatch_network_receive_dropped",
    kind: Counter,
    unit: None,
    help: "Received packets dropped by the interface in the target's network namespace (net/dev drop).",
    labels: &["target", "interface"],
    absent_when: "the target's network namespace cannot be read (counted in sidewatch_read_errors_total)",
};

pub const NETWORK_TRANSMIT: Def = Def {
    name: "sidewatch_network_transmit",
    kind: Counter,
    unit: Some(Unit::Bytes),
    help: "Bytes transmitted by the interface in the target's network namespace (net/dev; cAdvisor's container_network_transmit_bytes_total).",
    labels: &["target", "interface"],
    absent_when: "the target's network namespace cannot be read (counted in sidewatch_read_errors_total)",
};

pub const NETWORK_TRANSMIT_PACKETS: Def = Def {
    name: "sidewatch_network_transmit_packets",
    kind: Counter,
    unit: None,
    help: "Packets transmitted by the interface in the target's network namespace (net/dev).",
    labels: &["target", "interface"],
    absent_when: "the target's network namespace cannot be read (counted in sidewatch_read_errors_total)",
};

pub const NETWORK_TRANSMIT_ERRORS: Def = Def {
    name: "sidewatch_network_transmit_errors",
    kind: Counter,
    unit: None,
    help: "Transmit errors of the interface in the target's network namespace (net/dev errs).",
    labels: &["target", "interface"],
    absent_when: "the target's network namespace cannot be read (counted in sidewatch_read_errors_total)",
};

pub const NETWORK_TRANSMIT_DROPPED: Def = Def {
    name: "sidewatch_network_transmit_dropped",
    kind: Counter,
    unit: None,
    help: "Transmitted packets dropped by the interface in the target's network namespace (net/dev drop).",
    labels: &["target", "interface"],
    absent_when: "the target's network namespace cannot be read (counted in sidewatch_read_errors_total)",
};

pub const TCP_SEGMENTS_SENT: Def = Def {
    name: "sidewatch_tcp_segments_sent",
    kind: Counter,
    unit: None,
    help: "TCP segments sent in the target's network namespace (net/snmp Tcp OutSegs).",
    labels: &["target"],
    absent_when: "the target's network namespace cannot be read (counted in sidewatch_read_errors_total)",
};

pub const TCP_SEGMENTS_RETRANSMITTED: Def = Def {
    name: "sidewatch_tcp_segments_retransmitted",
    kind: Counter,
    unit: None,
    help: "TCP segments retransmitted in the target's network namespace (net/snmp Tcp RetransSegs).",
    labels: &["target"],
    absent_when: "the target's network namespace cannot be read (counted in sidewatch_read_errors_total)",
};

pub const TCP_ACTIVE_OPENS: Def = Def {
    name: "sidewatch_tcp_active_opens",
    kind: Counter,
    unit: None,
    help: "TCP connections the namespace opened (net/snmp Tcp ActiveOpens).",
    labels: &["target"],
    absent_when: "the target's network namespace cannot be read (counted in sidewatch_read_errors_total)",
};

pub const TCP_PASSIVE_OPENS: Def = Def {
    name: "sidewatch_tcp_passive_opens",
    kind: Counter,
    unit: None,
    help: "TCP connections the namespace accepted (net/snmp Tcp PassiveOpens).",
    labels: &["target"],
    absent_when: "the target's network namespace cannot be read (counted in sidewatch_read_errors_total)",
};

pub const TCP_RESETS_SENT: Def = Def {
    name: "sidewatch_tcp_resets_sent",
    kind: Counter,
    unit: None,
    help: "TCP resets sent in the namespace (net/snmp Tcp OutRsts).",
    labels: &["target"],
    absent_when: "the target's network namespace cannot be read (counted in sidewatch_read_errors_total)",
};

pub const TCP_LISTEN_OVERFLOWS: Def = Def {
    name: "sidewatch_tcp_listen_overflows",
    kind: Counter,
    unit: None,
    help: "Connections dropped because a listening socket's accept queue was full (net/netstat TcpExt ListenOverflows).",
    labels: &["target"],
    absent_when: "the target's network namespace cannot be read (counted in sidewatch_read_errors_total)",
};

pub const TCP_LISTEN_DROPS: Def = Def {
    name: "sidewatch_tcp_listen_drops",
    kind: Counter,
    unit: None,
    help: "Connections dropped at a listening socket for any reason, overflows included (net/netstat TcpExt ListenDrops).",
    labels: &["target"],
    absent_when: "the target's network namespace cannot be read (counted in sidewatch_read_errors_total)",
};

pub const TCP_CONNECTIONS: Def = Def {
    name: "sidewatch_tcp_connections",
    kind: Gauge,
    unit: None,
    help: "TCP sockets of the target's network namespace by state (net/tcp and net/tcp6; listeners included as state=\"listen\").",
    labels: &["target", "state"],
    absent_when: "the target's network namespace cannot be read (counted in sidewatch_read_errors_total)",
};

pub const TCP_LISTEN_QUEUE: Def = Def {
    name: "sidewatch_tcp_listen_queue",
    kind: Gauge,
    unit: None,
    help: "Connections waiting in the accept queue of the target's listening sockets on the port (IPv4 and IPv6 summed; net/tcp rx_queue).",
    labels: &["target", "port"],
    absent_when: "the target has no listening socket, or its namespace cannot be read",
};

pub const TCP_LISTEN_BACKLOG: Def = Def {
    name: "sidewatch_tcp_listen_backlog",
    kind: Gauge,
    unit: None,
    help: "Accept queue size of the target's listening sockets on the port (the listen() backlog capped by somaxconn, from sock_diag; only when sidewatch shares the target's network namespace).",
    labels: &["target", "port"],
    absent_when: "sidewatch does not share the target's network namespace, or the target has no listening socket",
};

pub const ALERT: Def = Def {
    name: "sidewatch_alert",
    kind: Gauge,
    unit: None,
    help: "1 for each pending or firing alert evaluated in-process, like Prometheus's ALERTS.",
    labels: &["alertname", "alertstate", "severity", "target"],
    absent_when: "no alert pending or firing; `once`",
};

pub const ALERT_ACTIVE_SINCE: Def = Def {
    name: "sidewatch_alert_active_since",
    kind: Gauge,
    unit: Some(Unit::Seconds),
    help: "When the condition of a pending or firing alert started to hold, since the Unix epoch, like Prometheus's ALERTS_FOR_STATE.",
    labels: &["alertname", "severity", "target"],
    absent_when: "no alert pending or firing; `once`",
};

pub const SLO_SAMPLES: Def = Def {
    name: "sidewatch_slo_samples",
    kind: Counter,
    unit: None,
    help: "Samples (ticks with a known value) counted for the SLO; for events and latency SLOs, the app's events (requests).",
    labels: &["slo", "target"],
    absent_when: "no SLO defined; `once`",
};

pub const SLO_GOOD_SAMPLES: Def = Def {
    name: "sidewatch_slo_good_samples",
    kind: Counter,
    unit: None,
    help: "Samples (events, requests) that met the SLO's condition.",
    labels: &["slo", "target"],
    absent_when: "no SLO defined; `once`",
};

pub const SLO_OBJECTIVE_RATIO: Def = Def {
    name: "sidewatch_slo_objective_ratio",
    kind: Gauge,
    unit: None,
    help: "Target ratio of good samples over the SLO window.",
    labels: &["slo", "target"],
    absent_when: "no SLO defined; `once`",
};

pub const SLO_ERROR_BUDGET_REMAINING_RATIO: Def = Def {
    name: "sidewatch_slo_error_budget_remaining_ratio",
    kind: Gauge,
    unit: None,
    help: "Share of the error budget left over the SLO window (negative when overspent).",
    labels: &["slo", "target"],
    absent_when: "no SLO defined; `once`",
};

pub const SLO_BURN_RATE: Def = Def {
    name: "sidewatch_slo_burn_rate",
    kind: Gauge,
    unit: None,
    help: "Error ratio over the window divided by the error budget (1 spends the budget exactly over the SLO window).",
    labels: &["slo", "target", "window"],
    absent_when: "no SLO defined; `once`",
};

pub const HTTP_REQUESTS_PER_SECOND: Def = Def {
    name: "sidewatch_http_requests_per_second",
    kind: Gauge,
    unit: None,
    help: "Requests per second of the app's HTTP server histogram between the two latest readings.",
    labels: &["target"],
    absent_when: "the app has no recognised HTTP histogram; `once`",
};

pub const HTTP_ERROR_RATIO: Def = Def {
    name: "sidewatch_http_error_ratio",
    kind: Gauge,
    unit: None,
    help: "Share of the app's HTTP requests answered 5xx between the two latest readings.",
    labels: &["target"],
    absent_when: "the app has no recognised HTTP histogram; `once`",
};

pub const HTTP_LATENCY_P95_SECONDS: Def = Def {
    name: "sidewatch_http_latency_p95_seconds",
    kind: Gauge,
    unit: None,
    help: "P95 of the app's HTTP request duration between the two latest readings, as histogram_quantile computes it.",
    labels: &["target"],
    absent_when: "the app has no recognised HTTP histogram; `once`",
};

pub const MEMORY_GROWTH_BYTES_PER_SECOND: Def = Def {
    name: "sidewatch_memory_growth_bytes_per_second",
    kind: Gauge,
    unit: None,
    help: "Robust growth of the working set (cgroup, else RSS) over the window: Theil-Sen slope of the per-segment minima (post-collection floors). Absent until the history covers the window.",
    labels: &["target", "window"],
    absent_when: "the history does not cover the window yet; `once`",
};

pub const MEMORY_TIME_TO_LIMIT: Def = Def {
    name: "sidewatch_memory_time_to_limit",
    kind: Gauge,
    unit: Some(Unit::Seconds),
    help: "Time until the working set reaches the cgroup memory limit at the fastest significant growth among the trend windows. Absent without a limit or without growth.",
    labels: &["target"],
    absent_when: "the history does not cover the window yet; `once`",
};

pub const MEMORY_LEAK_SUSPECTED: Def = Def {
    name: "sidewatch_memory_leak_suspected",
    kind: Gauge,
    unit: None,
    help: "1 when the post-collection memory floor rose steadily across the longest covered trend window (evidence at /api/v1/trends), else 0. Absent until a window is covered.",
    labels: &["target"],
    absent_when: "the history does not cover the window yet; `once`",
};

pub const THREADS_GROWTH_PER_SECOND: Def = Def {
    name: "sidewatch_threads_growth_per_second",
    kind: Gauge,
    unit: None,
    help: "Robust growth of the thread count over the window (Theil-Sen slope of the per-segment minima).",
    labels: &["target", "window"],
    absent_when: "the history does not cover the window yet; `once`",
};

pub const OPEN_FDS_GROWTH_PER_SECOND: Def = Def {
    name: "sidewatch_open_fds_growth_per_second",
    kind: Gauge,
    unit: None,
    help: "Robust growth of the open file descriptors over the window (Theil-Sen slope of the per-segment minima).",
    labels: &["target", "window"],
    absent_when: "the history does not cover the window yet; `once`",
};

pub const RUNTIME_TASKS_GROWTH_PER_SECOND: Def = Def {
    name: "sidewatch_runtime_tasks_growth_per_second",
    kind: Gauge,
    unit: None,
    help: "Robust growth of the runtime's tasks (goroutines, JVM threads, Node.js handles) over the window (Theil-Sen slope of the per-segment minima).",
    labels: &["target", "window"],
    absent_when: "the history does not cover the window yet; `once`",
};

pub const RUNTIME_TASKS_LEAK_SUSPECTED: Def = Def {
    name: "sidewatch_runtime_tasks_leak_suspected",
    kind: Gauge,
    unit: None,
    help: "1 when the floor of the runtime's tasks rose steadily across the longest covered trend window (the memory leak rule, a rise of at least max(10, 2 %); evidence at /api/v1/trends), else 0. Absent until a window is covered.",
    labels: &["target"],
    absent_when: "the history does not cover the window yet; `once`",
};

pub const RECOMMENDATION_CPU_REQUEST_CORES: Def = Def {
    name: "sidewatch_recommendation_cpu_request_cores",
    kind: Gauge,
    unit: None,
    help: "Recommended CPU request: p90 of per-minute CPU usage x 1.15, at least 0.025 cores. Absent until the history is long enough.",
    labels: &["target"],
    absent_when: "the history does not cover the window yet; `once`",
};

pub const RECOMMENDATION_MEMORY_REQUEST: Def = Def {
    name: "sidewatch_recommendation_memory_request",
    kind: Gauge,
    unit: Some(Unit::Bytes),
    help: "Recommended memory request: p90 of the daily working-set peaks x 1.15, at least 250 MiB unless usage is far below. Absent until the history is long enough.",
    labels: &["target"],
    absent_when: "the history does not cover the window yet; `once`",
};

pub const RECOMMENDATION_MEMORY_LIMIT: Def = Def {
    name: "sidewatch_recommendation_memory_limit",
    kind: Gauge,
    unit: Some(Unit::Bytes),
    help: "Recommended memory limit: the highest peak x 1.2, raised after an OOM kill by max(100 MiB, 20 %). Absent until the history is long enough.",
    labels: &["target"],
    absent_when: "the history does not cover the window yet; `once`",
};

pub const ADVICE: Def = Def {
    name: "sidewatch_advice",
    kind: Gauge,
    unit: None,
    help: "1 for each advice that applies now, by rule: the guides' advice and the runtime tuning advice (text, inputs and a ready snippet at /api/v1/recommendations). Absent when it does not apply.",
    labels: &["target", "rule"],
    absent_when: "the advice does not apply; `once`",
};

pub const HOST_CPUS: Def = Def {
    name: "sidewatch_host_cpus",
    kind: Gauge,
    unit: None,
    help: "CPUs online on the host as sidewatch counted them at start (cpuN lines of /proc/stat): the denominator of a target's CPU utilization where it has no cgroup of its own.",
    labels: &[],
    absent_when: "",
};

pub const BUILD: Def = Def {
    name: "sidewatch_build",
    kind: Info,
    unit: None,
    help: "Version and revision sidewatch was built from.",
    labels: &["version", "revision"],
    absent_when: "",
};

pub const TICKS: Def = Def {
    name: "sidewatch_ticks",
    kind: Counter,
    unit: None,
    help: "Sampling ticks completed.",
    labels: &[],
    absent_when: "",
};

pub const TICK_DURATION: Def = Def {
    name: "sidewatch_tick_duration",
    kind: Histogram,
    unit: Some(Unit::Seconds),
    help: "Time one sampling tick took (discovery, reads and accounting; rendering excluded).",
    labels: &[],
    absent_when: "",
};

pub const READ_ERRORS: Def = Def {
    name: "sidewatch_read_errors",
    kind: Counter,
    unit: None,
    help: "Figures that could not be read (permission, missing file, process gone mid-read), by source file.",
    labels: &["source"],
    absent_when: "",
};

pub const SCRAPES: Def = Def {
    name: "sidewatch_scrapes",
    kind: Counter,
    unit: None,
    help: "Requests to /metrics served, as of the last tick.",
    labels: &[],
    absent_when: "",
};

pub const CONFIG_LAST_RELOAD_SUCCESSFUL: Def = Def {
    name: "sidewatch_config_last_reload_successful",
    kind: Gauge,
    unit: None,
    help: "Whether the last configuration reload (--config and --web.config.file) succeeded.",
    labels: &[],
    absent_when: "",
};

pub const CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP: Def = Def {
    name: "sidewatch_config_last_reload_success_timestamp",
    kind: Gauge,
    unit: Some(Unit::Seconds),
    help: "Time of the last successful configuration reload (or of the start), since the Unix epoch.",
    labels: &[],
    absent_when: "",
};

pub const EXPORTER_PROCESS_CPU: Def = Def {
    name: "process_cpu",
    kind: Counter,
    unit: Some(Unit::Seconds),
    help: "Total user and system CPU time spent in seconds.",
    labels: &[],
    absent_when: "the figure cannot be read for sidewatch itself",
};

pub const EXPORTER_PROCESS_OPEN_FDS: Def = Def {
    name: "process_open_fds",
    kind: Gauge,
    unit: None,
    help: "Number of open file descriptors.",
    labels: &[],
    absent_when: "the figure cannot be read for sidewatch itself",
};

pub const EXPORTER_PROCESS_MAX_FDS: Def = Def {
    name: "process_max_fds",
    kind: Gauge,
    unit: None,
    help: "Maximum number of open file descriptors.",
    labels: &[],
    absent_when: "the figure cannot be read for sidewatch itself",
};

pub const EXPORTER_PROCESS_VIRTUAL_MEMORY: Def = Def {
    name: "process_virtual_memory",
    kind: Gauge,
    unit: Some(Unit::Bytes),
    help: "Virtual memory size in bytes.",
    labels: &[],
    absent_when: "the figure cannot be read for sidewatch itself",
};

pub const EXPORTER_PROCESS_RESIDENT_MEMORY: Def = Def {
    name: "process_resident_memory",
    kind: Gauge,
    unit: Some(Unit::Bytes),
    help: "Resident memory size in bytes.",
    labels: &[],
    absent_when: "the figure cannot be read for sidewatch itself",
};

pub const EXPORTER_PROCESS_START_TIME: Def = Def {
    name: "process_start_time",
    kind: Gauge,
    unit: Some(Unit::Seconds),
    help: "Start time of the process since unix epoch in seconds.",
    labels: &[],
    absent_when: "the figure cannot be read for sidewatch itself",
};

/// Every family, in exposition order.
pub const ALL: &[&Def] = &[
    &TARGET_UP,
    &TARGET_PROCESSES,
    &TARGET,
    &PROCESS_CPU,
    &PROCESS_RESIDENT_MEMORY,
    &PROCESS_VIRTUAL_MEMORY,
    &PROCESS_SWAP,
    &PROCESS_PROPORTIONAL_MEMORY,
    &PROCESS_THREADS,
    &PROCESS_OPEN_FDS,
    &PROCESS_FD_UTILIZATION_RATIO,
    &PROCESS_IO_READ,
    &PROCESS_IO_WRITE,
    &PROCESS_CONTEXT_SWITCHES,
    &PROCESS_PAGE_FAULTS,
    &PROCESS_CPU_WAIT,
    &PROCESS_START_TIME,
    &PROCESS_RESTARTS,
    &CGROUP,
    &CGROUP_SHARED,
    &CGROUP_MEMORY_USAGE,
    &CGROUP_MEMORY_WORKING_SET,
    &CGROUP_MEMORY_RSS,
    &CGROUP_MEMORY_CACHE,
    &CGROUP_MEMORY_SWAP,
    &CGROUP_MEMORY_LIMIT,
    &CGROUP_MEMORY_UTILIZATION_RATIO,
    &CGROUP_MEMORY_OOM_KILLS,
    &CGROUP_MEMORY_LIMIT_HITS,
    &CGROUP_CPU_USAGE,
    &CGROUP_CPU_LIMIT_CORES,
    &CGROUP_CPU_UTILIZATION_RATIO,
    &CGROUP_CPU_PERIODS,
    &CGROUP_CPU_THROTTLED_PERIODS,
    &CGROUP_CPU_THROTTLED,
    &CGROUP_PIDS,
    &CGROUP_PIDS_LIMIT,
    &CGROUP_IO_READ,
    &CGROUP_IO_WRITE,
    &CGROUP_IO_READS,
    &CGROUP_IO_WRITES,
    &CGROUP_PRESSURE_WAITING,
    &CGROUP_PRESSURE_STALLED,
    &RUNTIME,
    &RUNTIME_HEAP,
    &RUNTIME_HEAP_LIMIT,
    &RUNTIME_TASKS,
    &RUNTIME_EVENT_LOOP_LAG,
    &RUNTIME_GC_COLLECTIONS,
    &RUNTIME_GC_PAUSE,
    &APP_METRICS_UP,
    &APP_METRICS_FETCH_DURATION,
    &APP_METRICS_SAMPLES,
    &PROBE_REQUESTS,
    &PROBE_UP,
    &PROBE_DURATION,
    &PROFILES_CAPTURED,
    &PROFILE_CAPTURE_ERRORS,
    &NETWORK_SHARED,
    &NETWORK_RECEIVE,
    &NETWORK_RECEIVE_PACKETS,
    &NETWORK_RECEIVE_ERRORS,
    &NETWORK_RECEIVE_DROPPED,
    &NETWORK_TRANSMIT,
    &NETWORK_TRANSMIT_PACKETS,
    &NETWORK_TRANSMIT_ERRORS,
    &NETWORK_TRANSMIT_DROPPED,
    &TCP_SEGMENTS_SENT,
    &TCP_SEGMENTS_RETRANSMITTED,
    &TCP_ACTIVE_OPENS,
    &TCP_PASSIVE_OPENS,
    &TCP_RESETS_SENT,
    &TCP_LISTEN_OVERFLOWS,
    &TCP_LISTEN_DROPS,
    &TCP_CONNECTIONS,
    &TCP_LISTEN_QUEUE,
    &TCP_LISTEN_BACKLOG,
    &ALERT,
    &ALERT_ACTIVE_SINCE,
    &SLO_SAMPLES,
    &SLO_GOOD_SAMPLES,
    &SLO_OBJECTIVE_RATIO,
    &SLO_ERROR_BUDGET_REMAINING_RATIO,
    &SLO_BURN_RATE,
    &HTTP_REQUESTS_PER_SECOND,
    &HTTP_ERROR_RATIO,
    &HTTP_LATENCY_P95_SECONDS,
    &MEMORY_GROWTH_BYTES_PER_SECOND,
    &MEMORY_TIME_TO_LIMIT,
    &MEMORY_LEAK_SUSPECTED,
    &THREADS_GROWTH_PER_SECOND,
    &OPEN_FDS_GROWTH_PER_SECOND,
    &RUNTIME_TASKS_GROWTH_PER_SECOND,
    &RUNTIME_TASKS_LEAK_SUSPECTED,
    &RECOMMENDATION_CPU_REQUEST_CORES,
    &RECOMMENDATION_MEMORY_REQUEST,
    &RECOMMENDATION_MEMORY_LIMIT,
    &ADVICE,
    &HOST_CPUS,
    &BUILD,
    &TICKS,
    &TICK_DURATION,
    &READ_ERRORS,
    &SCRAPES,
    &CONFIG_LAST_RELOAD_SUCCESSFUL,
    &CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP,
    &EXPORTER_PROCESS_CPU,
    &EXPORTER_PROCESS_OPEN_FDS,
    &EXPORTER_PROCESS_MAX_FDS,
    &EXPORTER_PROCESS_VIRTUAL_MEMORY,
    &EXPORTER_PROCESS_RESIDENT_MEMORY,
    &EXPORTER_PROCESS_START_TIME,
];
