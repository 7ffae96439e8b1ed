//! What one tick produced for each target: gauges for this tick, counters so far. Built by the sampler, rendered by `expose`, printed by `once --json`.
//! `None` means "could not be read": it stays absent all the way to the output.

use serde::Serialize;

use crate::source::net::InterfaceCounters;

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TargetSample {
    pub name: String,
    /// Constant labels, sorted by name.
    #[serde(serialize_with = "pairs_as_object")]
    pub labels: Vec<(String, String)>,
    pub up: bool,
    /// Live processes (zombies excluded).
    pub processes: u64,
    pub pids: Vec<i32>,
    /// The oldest directly selected live process.
    pub primary_pid: Option<i32>,
    pub primary_comm: Option<String>,
    pub start_time_seconds: Option<f64>,
    pub resident_memory_bytes: Option<u64>,
    pub virtual_memory_bytes: Option<u64>,
    pub swap_bytes: Option<u64>,
    pub proportional_memory_bytes: Option<u64>,
    pub threads: Option<u64>,
    pub open_fds: Option<u64>,
    /// Worst process: open fds / soft limit.
    pub fd_utilization_ratio: Option<f64>,
    pub counters: TargetCounterValues,
    /// The target's cgroup: one entry (the cgroup of the main process), or one per distinct
    /// cgroup of its processes with `cgroup_labels: true`. Empty when cgroups are not read.
    pub cgroups: Vec<CgroupSample>,
    /// The target's `cgroup_labels` setting: its cgroup series carry a `cgroup` label.
    pub cgroup_labels: bool,
    /// The app's runtime figures (from its own /metrics) and restart-proof GC totals; `None`
    /// when the target has no app metrics.
    pub runtime: Option<crate::runtime::RuntimeSample>,
    /// The application's own metrics, fetched during the last interval; `None` when the target
    /// has no `app:` or this tick has no fresh parsed body.
    #[serde(skip)]
    pub app: Option<std::sync::Arc<crate::source::exposition::Exposition>>,
    /// True when this tick has a fresh parsed body; `None` without `app:` (or before the
    /// first fetch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_up: Option<bool>,
    /// How long the fetch behind `app` took (request to parsed body).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_fetch_duration_seconds: Option<f64>,
    /// The HTTP probe's figures; `None` when the target has no `probe:`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe: Option<crate::source::probe::ProbeSample>,
    /// The main process's runtime settings from its environment and arguments at exec, read
    /// once per process identity; `None` while the target is down.
    #[serde(skip)]
    pub exec: Option<std::sync::Arc<crate::source::settings::ExecSettings>>,
    /// `app.http`: the app's HTTP histogram when configured (else the known ones are detected).
    #[serde(skip)]
    pub app_http: Option<crate::source::app::HttpSpec>,
    /// Profile captures and the stored index; `None` without `profiles:`.
    #[serde(skip)]
    pub profiles: Option<crate::profiles::sample::ProfilesSample>,
    /// The target's network namespace; `None` until it was first read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkSample>,
}

impl TargetSample {
    /// True when a cgroup of the target holds other processes: its figures are not the target's,
    /// so the target's own memory and CPU signals use its processes' figures.
    pub fn cgroup_shared(&self) -> bool {
        self.cgroups
            .iter()
            .any(|c| c.live && c.shared == Some(true))
    }
}

/// One cgroup of a target in one tick, cAdvisor's meanings. Gauges are `None` when unreadable
/// (or, for limits, unlimited); counters are cumulative in base units and restart-proof like the
/// process counters. These field names are rule signals: keep them stable.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CgroupSample {
    /// The cgroup path as `/proc/<pid>/cgroup` shows it (memory hierarchy on v1/hybrid hosts).
    pub path: String,
    /// "v1" or "v2": the version of the hierarchy `path` belongs to.
    pub version: &'static str,
    /// Read this tick for a live target. False for the entry that keeps a down target's counters.
    pub live: bool,
    /// The cgroup also holds processes that are not the target's (nor sidewatch itself), per
    /// `cgroup.procs` of the memory and CPU hierarchies. `None`: not read (a down target).
    pub shared: Option<bool>,
    pub memory_usage_bytes: Option<u64>,
    /// Usage − inactive file cache, floored at 0 (what the kubelet evicts and OOM decisions see).
    pub memory_working_set_bytes: Option<u64>,
    pub memory_rss_bytes: Option<u64>,
    pub memory_cache_bytes: Option<u64>,
    pub memory_limit_bytes: Option<u64>,
    pub swap_bytes: Option<u64>,
    pub pids: Option<u64>,
    pub pids_limit: Option<u64>,
    pub cpu_limit_cores: Option<f64>,
    /// Working set / limit.
    pub memory_utilization_ratio: Option<f64>,
    /// CPU usage over the last tick / limit cores (or / CPUs the cgroup may use when unlimited).
    pub cpu_utilization_ratio: Option<f64>,
    /// Throttled periods / periods over the last tick.
    pub cpu_throttled_ratio: Option<f64>,
    /// Share of the last tick in which some task waited for the resource (PSI "some").
    pub pressure_cpu_ratio: Option<f64>,
    pub pressure_memory_ratio: Option<f64>,
    pub pressure_io_ratio: Option<f64>,
    // Counters.
    pub oom_kills: Option<u64>,
    pub memory_limit_hits: Option<u64>,
    pub cpu_usage_seconds: Option<f64>,
    pub cpu_user_seconds: Option<f64>,
    pub cpu_system_seconds: Option<f64>,
    pub cpu_periods: Option<u64>,
    pub cpu_throttled_periods: Option<u64>,
    pub cpu_throttled_seconds: Option<f64>,
    pub io_read_bytes: Option<u64>,
    pub io_write_bytes: Option<u64>,
    pub io_reads: Option<u64>,
    pub io_writes: Option<u64>,
    pub pressure_cpu_waiting_seconds: Option<f64>,
    pub pressure_cpu_stalled_seconds: Option<f64>,
    pub pressure_memory_waiting_seconds: Option<f64>,
    pub pressure_memory_stalled_seconds: Option<f64>,
    pub pressure_io_waiting_seconds: Option<f64>,
    pub pressure_io_stalled_seconds: Option<f64>,
}

/// The target's network namespace in one tick (see [`crate::source::net`]). Counters are
/// restart-proof totals across namespaces (a Pod restarted into a new one continues them);
/// gauges are this tick's and absent while the target is down.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NetworkSample {
    /// Read this tick (the target is up and its `net/` files were readable).
    pub live: bool,
    /// The namespace is the host's (or sidewatch's own in host mode): its counters describe the
    /// whole host, not the target, and stay out of its signals.
    pub shared: bool,
    /// Per interface (see [`InterfaceCounters`]).
    #[serde(serialize_with = "pairs_as_object")]
    pub interfaces: Vec<(String, InterfaceCounters)>,
    /// In [`crate::source::net::TCP_COUNTERS`] order.
    pub tcp: [Option<u64>; 7],
    /// Sockets per state (`TCP_STATES` order); `None` when not counted.
    pub connections: Option<[u64; 12]>,
    /// The target's listening sockets by port: (port, accept queue, backlog), summed over the
    /// sockets on one port (IPv4 and IPv6).
    pub listeners: Vec<(u16, u64, Option<u64>)>,
    /// Retransmitted / sent segments over the last tick (same namespace both ticks).
    pub tcp_retransmit_ratio: Option<f64>,
    /// Highest accept queue / backlog of the target's listening sockets.
    pub accept_queue_ratio: Option<f64>,
}

/// Counter values in base units (seconds, bytes, counts).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TargetCounterValues {
    pub cpu_user_seconds_total: Option<f64>,
    pub cpu_system_seconds_total: Option<f64>,
    pub io_read_bytes_total: Option<u64>,
    pub io_write_bytes_total: Option<u64>,
    pub voluntary_context_switches_total: Option<u64>,
    pub involuntary_context_switches_total: Option<u64>,
    pub minor_page_faults_total: Option<u64>,
    pub major_page_faults_total: Option<u64>,
    pub cpu_wait_seconds_total: Option<f64>,
    pub restarts_total: u64,
}

/// Name-value pairs (labels, read errors by source) as a JSON object, as every `/api/v1/` route
/// writes them.
pub fn pairs_as_object<K, V, S>(pairs: &[(K, V)], ser: S) -> Result<S::Ok, S::Error>
where
    K: Serialize,
    V: Serialize,
    S: serde::Serializer,
{
    ser.collect_map(pairs.iter().map(|(k, v)| (k, v)))
}

/// A count kept as a float (a peak of threads) as a JSON integer: counts are integers in every
/// `/api/v1/` route. `None` (and a value that is not finite) is null.
pub fn count_as_integer<S: serde::Serializer>(v: &Option<f64>, ser: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) if v.is_finite() && *v >= 0.0 => ser.serialize_u64(v.round() as u64),
        _ => ser.serialize_none(),
    }
}
