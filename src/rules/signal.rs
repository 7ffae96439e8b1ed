//! Signals: the quantities a rule can test. Each has a unit (how its `value` is written), a kind
//! (a gauge compared as is, or a counter whose increase over the rule's window is compared), the
//! metric sidewatch exports for it, and the PromQL expression that computes the same quantity
//! from sidewatch's metrics (used by `sidewatch rules`).
//!
//! The evaluator only sees a [`SignalSource`]: anything that answers "what is signal S for this
//! target now". Process and cgroup figures come from [`TargetSignals`]; a later source (an HTTP
//! probe, the application's own `/metrics`) adds variants here and a source that answers them,
//! without touching the evaluator.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::sample::{CgroupSample, TargetSample};
use crate::units;

/// How a signal's threshold is written in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// `500MiB`, `1GB`, plain bytes.
    Bytes,
    /// `80%`, `0.8`.
    Ratio,
    /// `1000`, `10k`.
    Count,
    /// `1.5`, `500m`.
    Cores,
    /// `0.25`, `250ms`, `1s`.
    Seconds,
}

impl Unit {
    pub fn parse(self, text: &str) -> Result<f64, String> {
        match self {
            Unit::Bytes => units::parse_size(text),
            Unit::Ratio => units::parse_ratio(text),
            Unit::Count => units::parse_count(text),
            Unit::Cores => units::parse_cores(text),
            Unit::Seconds => units::parse_seconds(text),
        }
    }

    /// The template that prints a value of this unit in an annotation (same in Prometheus).
    pub fn value_template(self) -> &'static str {
        match self {
            Unit::Bytes => "{{ $value | humanize1024 }}B",
            Unit::Ratio => "{{ $value | humanizePercentage }}",
            Unit::Count | Unit::Cores => "{{ $value }}",
            Unit::Seconds => "{{ $value | humanizeDuration }}",
        }
    }
}

/// The signals a rule or SLO can test. Names are the config spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    CpuUtilizationRatio,
    CpuCores,
    MemoryWorkingSetBytes,
    MemoryRssBytes,
    MemoryUtilizationRatio,
    Threads,
    OpenFds,
    FdUtilizationRatio,
    CpuThrottledRatio,
    PressureCpuRatio,
    PressureMemoryRatio,
    PressureIoRatio,
    Restarts,
    OomKills,
    TargetUp,
    RuntimeHeapBytes,
    RuntimeTasks,
    RuntimeGcPerSecond,
    RuntimeGcPauseRatio,
    EventLoopLagSeconds,
    ProbeSuccessRatio,
    ProbeDurationSeconds,
    HttpRequestsPerSecond,
    HttpErrorRatio,
    HttpLatencyP95Seconds,
    TcpRetransmitRatio,
    ListenOverflows,
    AcceptQueueRatio,
}

/// The window of `irate` in the PromQL of per-tick rates (`cpu_cores`, throttling, pressure):
/// `irate` takes the last two scrapes, the same "rate between the two latest observations" the
/// daemon computes between its two latest ticks; 2m holds two scrapes up to a 1m scrape interval.
pub const IRATE_WINDOW: &str = "2m";

/// The exporter-level gauge of the host's online CPUs (no `target` label): the denominator of
/// `cpu_utilization_ratio` for a target without a cgroup of its own.
pub const HOST_CPUS_METRIC: &str = crate::catalog::HOST_CPUS.name;

impl Signal {
    pub const ALL: [Signal; 28] = [
        Signal::CpuUtilizationRatio,
        Signal::CpuCores,
        Signal::MemoryWorkingSetBytes,
        Signal::MemoryRssBytes,
        Signal::MemoryUtilizationRatio,
        Signal::Threads,
        Signal::OpenFds,
        Signal::FdUtilizationRatio,
        Signal::CpuThrottledRatio,
        Signal::PressureCpuRatio,
        Signal::PressureMemoryRatio,
        Signal::PressureIoRatio,
        Signal::Restarts,
        Signal::OomKills,
        Signal::TargetUp,
        Signal::RuntimeHeapBytes,
        Signal::RuntimeTasks,
        Signal::RuntimeGcPerSecond,
        Signal::RuntimeGcPauseRatio,
        Signal::EventLoopLagSeconds,
        Signal::ProbeSuccessRatio,
        Signal::ProbeDurationSeconds,
        Signal::HttpRequestsPerSecond,
        Signal::HttpErrorRatio,
        Signal::HttpLatencyP95Seconds,
        Signal::TcpRetransmitRatio,
        Signal::ListenOverflows,
        Signal::AcceptQueueRatio,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Signal::CpuUtilizationRatio => "cpu_utilization_ratio",
            Signal::CpuCores => "cpu_cores",
            Signal::MemoryWorkingSetBytes => "memory_working_set_bytes",
            Signal::MemoryRssBytes => "memory_rss_bytes",
            Signal::MemoryUtilizationRatio => "memory_utilization_ratio",
            Signal::Threads => "threads",
            Signal::OpenFds => "open_fds",
            Signal::FdUtilizationRatio => "fd_utilization_ratio",
            Signal::CpuThrottledRatio => "cpu_throttled_ratio",
            Signal::PressureCpuRatio => "pressure_cpu_ratio",
            Signal::PressureMemoryRatio => "pressure_memory_ratio",
            Signal::PressureIoRatio => "pressure_io_ratio",
            Signal::Restarts => "restarts",
            Signal::OomKills => "oom_kills",
            Signal::TargetUp => "target_up",
            Signal::RuntimeHeapBytes => "runtime_heap_bytes",
            Signal::RuntimeTasks => "runtime_tasks",
            Signal::RuntimeGcPerSecond => "runtime_gc_per_second",
            Signal::RuntimeGcPauseRatio => "runtime_gc_pause_ratio",
            Signal::EventLoopLagSeconds => "event_loop_lag_seconds",
            Signal::ProbeSuccessRatio => "probe_success_ratio",
            Signal::ProbeDurationSeconds => "probe_duration_seconds",
            Signal::HttpRequestsPerSecond => "http_requests_per_second",
            Signal::HttpErrorRatio => "http_error_ratio",
            Signal::HttpLatencyP95Seconds => "http_latency_p95_seconds",
            Signal::TcpRetransmitRatio => "tcp_retransmit_ratio",
            Signal::ListenOverflows => "listen_overflows",
            Signal::AcceptQueueRatio => "accept_queue_ratio",
        }
    }

    /// A short phrase for default annotations: "memory working set".
    pub fn title(self) -> &'static str {
        match self {
            Signal::CpuUtilizationRatio => "CPU utilization",
            Signal::CpuCores => "CPU usage in cores",
            Signal::MemoryWorkingSetBytes => "memory working set",
            Signal::MemoryRssBytes => "resident memory",
            Signal::MemoryUtilizationRatio => "memory use (share of the limit)",
            Signal::Threads => "thread count",
            Signal::OpenFds => "open file descriptors",
            Signal::FdUtilizationRatio => "file descriptor use (share of the limit)",
            Signal::CpuThrottledRatio => "CPU throttling",
            Signal::PressureCpuRatio => "CPU pressure",
            Signal::PressureMemoryRatio => "memory pressure",
            Signal::PressureIoRatio => "I/O pressure",
            Signal::Restarts => "restarts",
            Signal::OomKills => "OOM kills",
            Signal::TargetUp => "up",
            Signal::RuntimeHeapBytes => "runtime heap in use",
            Signal::RuntimeTasks => "goroutine / thread / handle count",
            Signal::RuntimeGcPerSecond => "GC cycles per second",
            Signal::RuntimeGcPauseRatio => "GC pause share",
            Signal::EventLoopLagSeconds => "event-loop lag",
            Signal::ProbeSuccessRatio => "HTTP probe success",
            Signal::ProbeDurationSeconds => "HTTP probe duration",
            Signal::HttpRequestsPerSecond => "HTTP requests per second",
            Signal::HttpErrorRatio => "HTTP 5xx share",
            Signal::HttpLatencyP95Seconds => "HTTP P95 latency",
            Signal::TcpRetransmitRatio => "TCP retransmitted share of sent segments",
            Signal::ListenOverflows => "listen queue overflows",
            Signal::AcceptQueueRatio => "accept queue use (share of the backlog)",
        }
    }

    pub fn unit(self) -> Unit {
        match self {
            Signal::MemoryWorkingSetBytes | Signal::MemoryRssBytes | Signal::RuntimeHeapBytes => {
                Unit::Bytes
            }
            Signal::EventLoopLagSeconds | Signal::HttpLatencyP95Seconds => Unit::Seconds,
            Signal::CpuUtilizationRatio
            | Signal::MemoryUtilizationRatio
            | Signal::FdUtilizationRatio
            | Signal::CpuThrottledRatio
            | Signal::PressureCpuRatio
            | Signal::PressureMemoryRatio
            | Signal::PressureIoRatio
            | Signal::RuntimeGcPauseRatio
            | Signal::ProbeSuccessRatio
            | Signal::HttpErrorRatio
            | Signal::TcpRetransmitRatio
            | Signal::AcceptQueueRatio => Unit::Ratio,
            Signal::ProbeDurationSeconds => Unit::Seconds,
            Signal::CpuCores => Unit::Cores,
            Signal::Threads
            | Signal::OpenFds
            | Signal::Restarts
            | Signal::OomKills
            | Signal::TargetUp
            | Signal::RuntimeTasks
            | Signal::RuntimeGcPerSecond
            | Signal::HttpRequestsPerSecond
            | Signal::ListenOverflows => Unit::Count,
        }
    }

    /// Counter signals: the rule compares the counter's increase over its `for` window.
    pub fn is_increase(self) -> bool {
        matches!(
            self,
            Signal::Restarts | Signal::OomKills | Signal::ListenOverflows
        )
    }

    /// The exported metric(s) the signal reads, for documentation and `/api/v1/rules`.
    pub fn metric(self) -> &'static str {
        match self {
            Signal::CpuUtilizationRatio => {
                "sidewatch_cgroup_cpu_utilization_ratio where sidewatch_cgroup_shared is not 1, else rate of sidewatch_process_cpu_seconds_total / sidewatch_host_cpus"
            }
            Signal::CpuCores => "rate of sidewatch_process_cpu_seconds_total (user + system)",
            Signal::MemoryWorkingSetBytes => {
                "sidewatch_cgroup_memory_working_set_bytes where sidewatch_cgroup_shared is not 1, else sidewatch_process_resident_memory_bytes"
            }
            Signal::MemoryRssBytes => "sidewatch_process_resident_memory_bytes",
            Signal::MemoryUtilizationRatio => "sidewatch_cgroup_memory_utilization_ratio",
            Signal::Threads => "sidewatch_process_threads",
            Signal::OpenFds => "sidewatch_process_open_fds",
            Signal::FdUtilizationRatio => "sidewatch_process_fd_utilization_ratio",
            Signal::CpuThrottledRatio => {
                "sidewatch_cgroup_cpu_throttled_periods_total / sidewatch_cgroup_cpu_periods_total (rates)"
            }
            Signal::PressureCpuRatio => {
                "rate of sidewatch_cgroup_pressure_waiting_seconds_total{resource=\"cpu\"}"
            }
            Signal::PressureMemoryRatio => {
                "rate of sidewatch_cgroup_pressure_waiting_seconds_total{resource=\"memory\"}"
            }
            Signal::PressureIoRatio => {
                "rate of sidewatch_cgroup_pressure_waiting_seconds_total{resource=\"io\"}"
            }
            Signal::Restarts => "increase of sidewatch_process_restarts_total",
            Signal::OomKills => "increase of sidewatch_cgroup_memory_oom_kills_total",
            Signal::TargetUp => "sidewatch_target_up",
            Signal::RuntimeHeapBytes => "sidewatch_runtime_heap_bytes",
            Signal::RuntimeTasks => "sidewatch_runtime_tasks",
            Signal::RuntimeGcPerSecond => "rate of sidewatch_runtime_gc_collections_total",
            Signal::RuntimeGcPauseRatio => "rate of sidewatch_runtime_gc_pause_seconds_total",
            Signal::EventLoopLagSeconds => "sidewatch_runtime_event_loop_lag_seconds",
            Signal::ProbeSuccessRatio => {
                "rate of sidewatch_probe_requests_total{result=\"success\"} / rate of sidewatch_probe_requests_total"
            }
            Signal::ProbeDurationSeconds => {
                "rate of sidewatch_probe_duration_seconds_sum / rate of sidewatch_probe_duration_seconds_count"
            }
            Signal::HttpRequestsPerSecond => "sidewatch_http_requests_per_second",
            Signal::HttpErrorRatio => "sidewatch_http_error_ratio",
            Signal::HttpLatencyP95Seconds => "sidewatch_http_latency_p95_seconds",
            Signal::TcpRetransmitRatio => {
                "sidewatch_tcp_segments_retransmitted_total / sidewatch_tcp_segments_sent_total (rates) where sidewatch_network_shared is not 1"
            }
            Signal::ListenOverflows => {
                "increase of sidewatch_tcp_listen_overflows_total where sidewatch_network_shared is not 1"
            }
            Signal::AcceptQueueRatio => {
                "sidewatch_tcp_listen_queue / sidewatch_tcp_listen_backlog (highest port)"
            }
        }
    }

    /// PromQL computing the signal from sidewatch's metrics. `matchers` are label matchers
    /// (`target=~"api"`) added to every selector; `window` is the increase window of counter
    /// signals. Every expression keeps exactly the labels of a target's series (target, constant
    /// labels, job, instance), so alert label sets match the daemon's.
    pub fn promql(self, matchers: &[String], window: Duration) -> String {
        let sel = |metric: &str, extra: &[&str]| {
            let all: Vec<&str> = extra
                .iter()
                .copied()
                .chain(matchers.iter().map(String::as_str))
                .collect();
            if all.is_empty() {
                metric.to_string()
            } else {
                format!("{metric}{{{}}}", all.join(", "))
            }
        };
        let w = units::prom_duration(window);
        let pressure = |resource: &str| {
            format!(
                "sum without (resource) (irate({}[{IRATE_WINDOW}]))",
                sel(
                    "sidewatch_cgroup_pressure_waiting_seconds_total",
                    &[&format!("resource=\"{resource}\"")]
                )
            )
        };
        // A cgroup series applies where the cgroup is the target's alone (same labels but the
        // `cgroup` label of `cgroup_labels` targets, so one shared cgroup drops them all);
        // elsewhere the processes' own figure, which carries no `cgroup` label.
        let own_or = |metric: &str, processes: &str| {
            format!(
                "(({} unless ignoring (cgroup) {} == 1) or ignoring (cgroup) {processes})",
                sel(metric, &[]),
                sel("sidewatch_cgroup_shared", &[])
            )
        };
        // Namespace-wide counters of the host's namespace describe the host, not the target.
        let own_ns = |expr: &str| {
            format!(
                "({expr} unless {} == 1)",
                sel("sidewatch_network_shared", &[])
            )
        };
        let cpu_cores = format!(
            "sum without (mode) (irate({}[{IRATE_WINDOW}]))",
            sel("sidewatch_process_cpu_seconds_total", &[])
        );
        match self {
            // The host's CPUs come from the same sidewatch (scrape): job and instance.
            Signal::CpuUtilizationRatio => own_or(
                "sidewatch_cgroup_cpu_utilization_ratio",
                &format!("{cpu_cores} / on (job, instance) group_left () {HOST_CPUS_METRIC}"),
            ),
            Signal::CpuCores => cpu_cores,
            Signal::MemoryWorkingSetBytes => own_or(
                "sidewatch_cgroup_memory_working_set_bytes",
                &sel("sidewatch_process_resident_memory_bytes", &[]),
            ),
            Signal::MemoryRssBytes => sel("sidewatch_process_resident_memory_bytes", &[]),
            Signal::MemoryUtilizationRatio => sel("sidewatch_cgroup_memory_utilization_ratio", &[]),
            Signal::Threads => sel("sidewatch_process_threads", &[]),
            Signal::OpenFds => sel("sidewatch_process_open_fds", &[]),
            Signal::FdUtilizationRatio => sel("sidewatch_process_fd_utilization_ratio", &[]),
            Signal::CpuThrottledRatio => format!(
                "(irate({}[{IRATE_WINDOW}]) / irate({}[{IRATE_WINDOW}]))",
                sel("sidewatch_cgroup_cpu_throttled_periods_total", &[]),
                sel("sidewatch_cgroup_cpu_periods_total", &[])
            ),
            Signal::PressureCpuRatio => pressure("cpu"),
            Signal::PressureMemoryRatio => pressure("memory"),
            Signal::PressureIoRatio => pressure("io"),
            Signal::Restarts => format!(
                "increase({}[{w}])",
                sel("sidewatch_process_restarts_total", &[])
            ),
            Signal::OomKills => format!(
                "increase({}[{w}])",
                sel("sidewatch_cgroup_memory_oom_kills_total", &[])
            ),
            Signal::TargetUp => sel("sidewatch_target_up", &[]),
            Signal::RuntimeHeapBytes => sel("sidewatch_runtime_heap_bytes", &[]),
            Signal::RuntimeTasks => sel("sidewatch_runtime_tasks", &[]),
            Signal::RuntimeGcPerSecond => format!(
                "irate({}[{IRATE_WINDOW}])",
                sel("sidewatch_runtime_gc_collections_total", &[])
            ),
            Signal::RuntimeGcPauseRatio => format!(
                "irate({}[{IRATE_WINDOW}])",
                sel("sidewatch_runtime_gc_pause_seconds_total", &[])
            ),
            Signal::EventLoopLagSeconds => sel("sidewatch_runtime_event_loop_lag_seconds", &[]),
            // Over the probes that ended between the two latest scrapes, as the daemon computes
            // it over those that ended between its two latest ticks.
            Signal::ProbeSuccessRatio => format!(
                "(sum without (result, reason) (irate({}[{IRATE_WINDOW}])) / sum without (result, reason) (irate({}[{IRATE_WINDOW}])))",
                sel("sidewatch_probe_requests_total", &["result=\"success\""]),
                sel("sidewatch_probe_requests_total", &[])
            ),
            Signal::ProbeDurationSeconds => format!(
                "(irate({}[{IRATE_WINDOW}]) / irate({}[{IRATE_WINDOW}]))",
                sel("sidewatch_probe_duration_seconds_sum", &[]),
                sel("sidewatch_probe_duration_seconds_count", &[])
            ),
            // Computed in-process between two ticks (the app need not be scraped by Prometheus).
            Signal::HttpRequestsPerSecond => sel("sidewatch_http_requests_per_second", &[]),
            Signal::HttpErrorRatio => sel("sidewatch_http_error_ratio", &[]),
            Signal::HttpLatencyP95Seconds => sel("sidewatch_http_latency_p95_seconds", &[]),
            Signal::TcpRetransmitRatio => own_ns(&format!(
                "(irate({}[{IRATE_WINDOW}]) / irate({}[{IRATE_WINDOW}]))",
                sel("sidewatch_tcp_segments_retransmitted_total", &[]),
                sel("sidewatch_tcp_segments_sent_total", &[])
            )),
            Signal::ListenOverflows => own_ns(&format!(
                "increase({}[{w}])",
                sel("sidewatch_tcp_listen_overflows_total", &[])
            )),
            // The target's own sockets: figures of a shared namespace still apply.
            Signal::AcceptQueueRatio => format!(
                "max without (port) ({} / {})",
                sel("sidewatch_tcp_listen_queue", &[]),
                sel("sidewatch_tcp_listen_backlog", &[])
            ),
        }
    }
}

/// Answers "what is signal S now" for one target. For increase signals the answer is the
/// counter's cumulative value; the evaluator computes the increase over the rule's window.
/// `None`: unknown this tick (unreadable, target down, no cgroup); a rule neither holds nor
/// fails on it.
pub trait SignalSource {
    fn value(&self, signal: Signal) -> Option<f64>;

    /// The app's own metrics read this tick (events and latency SLOs count from them).
    fn app(&self) -> Option<&crate::source::exposition::Exposition> {
        None
    }

    /// The app's HTTP histogram: the configured one (`app.http`), else a known one it has.
    fn http_histogram(&self) -> Option<crate::request::HttpHistogram> {
        crate::request::HttpHistogram::detect(self.app()?)
    }
}

impl<F: Fn(Signal) -> Option<f64>> SignalSource for F {
    fn value(&self, signal: Signal) -> Option<f64> {
        self(signal)
    }
}

/// Process and cgroup signals of one target, from its [`TargetSample`] plus what needs the
/// previous tick (the CPU rate).
#[derive(Debug, Clone, Copy)]
pub struct TargetSignals<'a> {
    pub sample: &'a TargetSample,
    /// Rate of user + system CPU seconds between the previous tick and this one.
    pub cpu_cores: Option<f64>,
    /// CPUs online on the host (the denominator of `cpu_utilization_ratio` without a cgroup
    /// CPU limit).
    pub online_cpus: Option<f64>,
    /// Request rates of the app's HTTP histogram between its two latest readings.
    pub http: Option<crate::request::HttpRates>,
}

impl SignalSource for TargetSignals<'_> {
    fn app(&self) -> Option<&crate::source::exposition::Exposition> {
        self.sample.app.as_deref()
    }

    fn http_histogram(&self) -> Option<crate::request::HttpHistogram> {
        crate::request::HttpHistogram::resolve(self.app()?, self.sample.app_http.as_ref())
    }

    fn value(&self, signal: Signal) -> Option<f64> {
        let s = self.sample;
        let http = self.http.unwrap_or_default();
        match signal {
            Signal::HttpRequestsPerSecond => return http.requests_per_second,
            Signal::HttpErrorRatio => return http.error_ratio,
            Signal::HttpLatencyP95Seconds => return http.latency_p95_seconds,
            _ => {}
        }
        if let Some(v) = cgroup_signal(s, signal) {
            return Some(v);
        }
        if let Some(v) = runtime_signal(s, signal) {
            return Some(v);
        }
        if let Some(v) = network_signal(s, signal) {
            return Some(v);
        }
        if let Some(p) = &s.probe {
            match signal {
                Signal::ProbeSuccessRatio => return p.success_ratio,
                Signal::ProbeDurationSeconds => return p.mean_duration_seconds,
                _ => {}
            }
        }
        let f = |v: Option<u64>| v.map(|v| v as f64);
        match signal {
            Signal::TargetUp => Some(if s.up { 1.0 } else { 0.0 }),
            Signal::Restarts => Some(s.counters.restarts_total as f64),
            // Without a cgroup the working set falls back to RSS, as documented.
            Signal::MemoryRssBytes | Signal::MemoryWorkingSetBytes => f(s.resident_memory_bytes),
            Signal::Threads => f(s.threads),
            Signal::OpenFds => f(s.open_fds),
            Signal::FdUtilizationRatio => s.fd_utilization_ratio,
            Signal::CpuCores => self.cpu_cores,
            Signal::CpuUtilizationRatio => match (self.cpu_cores, self.online_cpus) {
                (Some(c), Some(n)) if n > 0.0 => Some(c / n),
                _ => None,
            },
            Signal::MemoryUtilizationRatio
            | Signal::CpuThrottledRatio
            | Signal::PressureCpuRatio
            | Signal::PressureMemoryRatio
            | Signal::PressureIoRatio
            | Signal::OomKills
            | Signal::RuntimeHeapBytes
            | Signal::RuntimeTasks
            | Signal::RuntimeGcPerSecond
            | Signal::RuntimeGcPauseRatio
            | Signal::EventLoopLagSeconds
            | Signal::ProbeSuccessRatio
            | Signal::ProbeDurationSeconds
            | Signal::HttpRequestsPerSecond
            | Signal::HttpErrorRatio
            | Signal::HttpLatencyP95Seconds
            | Signal::TcpRetransmitRatio
            | Signal::ListenOverflows
            | Signal::AcceptQueueRatio => None,
        }
    }
}

/// Network signals of a target (see [`crate::sample::NetworkSample`]). Counters of a namespace
/// shared with the host describe the host: unknown for the target; its own listening sockets'
/// accept queues apply in any namespace.
fn network_signal(sample: &TargetSample, signal: Signal) -> Option<f64> {
    let n = sample.network.as_ref()?;
    match signal {
        Signal::AcceptQueueRatio => n.accept_queue_ratio,
        _ if n.shared => None,
        Signal::TcpRetransmitRatio => n.tcp_retransmit_ratio,
        Signal::ListenOverflows => n.tcp_total("listen_overflows").map(|v| v as f64),
        _ => None,
    }
}

/// Runtime signals of a target, from its app's /metrics (see [`crate::runtime`]); the GC rates
/// are between the two latest readings of the app's counters.
fn runtime_signal(sample: &TargetSample, signal: Signal) -> Option<f64> {
    let r = sample.runtime.as_ref()?;
    let f = r.figures.as_ref();
    match signal {
        Signal::RuntimeHeapBytes => f?.heap_bytes,
        Signal::RuntimeTasks => f?.tasks,
        Signal::EventLoopLagSeconds => f?.event_loop_lag_seconds,
        Signal::RuntimeGcPerSecond => r.gc_per_second,
        Signal::RuntimeGcPauseRatio => r.gc_pause_ratio,
        _ => None,
    }
}

/// cgroup signals of a target: a target in several cgroups (`cgroup_labels: true`) reports the
/// worst ratio / largest figure, and the sum of OOM kills. None where the process figures apply.
fn cgroup_signal(sample: &TargetSample, signal: Signal) -> Option<f64> {
    let cg = &sample.cgroups;
    let max = |f: fn(&CgroupSample) -> Option<f64>| cg.iter().filter_map(f).reduce(f64::max);
    match signal {
        // A cgroup holding other processes describes them too: use the target's own figures.
        Signal::MemoryWorkingSetBytes | Signal::CpuUtilizationRatio if sample.cgroup_shared() => {
            None
        }
        Signal::MemoryWorkingSetBytes => max(|c| c.memory_working_set_bytes.map(|v| v as f64)),
        Signal::MemoryUtilizationRatio => max(|c| c.memory_utilization_ratio),
        Signal::CpuUtilizationRatio => max(|c| c.cpu_utilization_ratio),
        Signal::CpuThrottledRatio => max(|c| c.cpu_throttled_ratio),
        Signal::PressureCpuRatio => max(|c| c.pressure_cpu_ratio),
        Signal::PressureMemoryRatio => max(|c| c.pressure_memory_ratio),
        Signal::PressureIoRatio => max(|c| c.pressure_io_ratio),
        Signal::OomKills => cg
            .iter()
            .filter_map(|c| c.oom_kills)
            .fold(None, |s, v| Some(s.unwrap_or(0.0) + v as f64)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A signal of a sample alone (no cgroup CPU, no request rates).
    fn value(t: &TargetSample, s: Signal) -> Option<f64> {
        TargetSignals {
            sample: t,
            cpu_cores: None,
            online_cpus: None,
            http: None,
        }
        .value(s)
    }

    #[test]
    fn names_round_trip_through_serde() {
        for s in Signal::ALL {
            let yaml = serde_yaml_ng::to_string(&s).unwrap();
            assert_eq!(yaml.trim(), s.name());
            let back: Signal = serde_yaml_ng::from_str(s.name()).unwrap();
            assert_eq!(back, s);
        }
    }

    #[test]
    fn process_signals_from_a_sample() {
        let mut t = TargetSample {
            up: true,
            resident_memory_bytes: Some(100),
            threads: Some(7),
            open_fds: Some(12),
            fd_utilization_ratio: Some(0.25),
            ..Default::default()
        };
        t.counters.restarts_total = 3;
        let src = TargetSignals {
            sample: &t,
            cpu_cores: Some(0.5),
            online_cpus: Some(4.0),
            http: None,
        };
        assert_eq!(src.value(Signal::MemoryRssBytes), Some(100.0));
        assert_eq!(src.value(Signal::MemoryWorkingSetBytes), Some(100.0));
        assert_eq!(src.value(Signal::Threads), Some(7.0));
        assert_eq!(src.value(Signal::OpenFds), Some(12.0));
        assert_eq!(src.value(Signal::FdUtilizationRatio), Some(0.25));
        assert_eq!(src.value(Signal::Restarts), Some(3.0));
        assert_eq!(src.value(Signal::TargetUp), Some(1.0));
        assert_eq!(src.value(Signal::CpuCores), Some(0.5));
        assert_eq!(src.value(Signal::CpuUtilizationRatio), Some(0.125));
        assert_eq!(src.value(Signal::PressureIoRatio), None);
        assert_eq!(src.value(Signal::OomKills), None);
        let down = TargetSample::default();
        let src = TargetSignals {
            sample: &down,
            cpu_cores: None,
            online_cpus: Some(4.0),
            http: None,
        };
        assert_eq!(src.value(Signal::TargetUp), Some(0.0));
        assert_eq!(src.value(Signal::MemoryRssBytes), None);
        assert_eq!(src.value(Signal::CpuUtilizationRatio), None);
    }

    #[test]
    fn host_namespace_counters_stay_out_of_the_signals_socket_figures_stay() {
        use crate::sample::NetworkSample;
        let mut tcp = [None; 7];
        tcp[5] = Some(42); // ListenOverflows, in TCP_COUNTERS order
        let mut t = TargetSample {
            up: true,
            network: Some(NetworkSample {
                live: true,
                tcp,
                tcp_retransmit_ratio: Some(0.02),
                accept_queue_ratio: Some(0.75),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(value(&t, Signal::ListenOverflows), Some(42.0));
        assert_eq!(value(&t, Signal::TcpRetransmitRatio), Some(0.02));
        assert_eq!(value(&t, Signal::AcceptQueueRatio), Some(0.75));
        if let Some(n) = t.network.as_mut() {
            n.shared = true;
        }
        assert_eq!(value(&t, Signal::ListenOverflows), None);
        assert_eq!(value(&t, Signal::TcpRetransmitRatio), None);
        assert_eq!(value(&t, Signal::AcceptQueueRatio), Some(0.75));
        assert!(Signal::ListenOverflows.is_increase());
        let m = ["target=~\"api\"".to_string()];
        assert_eq!(
            Signal::ListenOverflows.promql(&m, Duration::from_secs(300)),
            "(increase(sidewatch_tcp_listen_overflows_total{target=~\"api\"}[5m]) unless sidewatch_network_shared{target=~\"api\"} == 1)"
        );
        assert_eq!(
            Signal::AcceptQueueRatio.promql(&[], Duration::ZERO),
            "max without (port) (sidewatch_tcp_listen_queue / sidewatch_tcp_listen_backlog)"
        );
    }

    #[test]
    fn a_shared_cgroup_gives_way_to_the_process_figures() {
        let cgroup = CgroupSample {
            live: true,
            shared: Some(false),
            memory_working_set_bytes: Some(540 << 20),
            cpu_utilization_ratio: Some(0.999),
            memory_utilization_ratio: Some(0.5),
            oom_kills: Some(2),
            ..Default::default()
        };
        let mut t = TargetSample {
            up: true,
            resident_memory_bytes: Some(30 << 20),
            cgroups: vec![cgroup],
            ..Default::default()
        };
        let value = |t: &TargetSample, s: Signal| {
            TargetSignals {
                sample: t,
                cpu_cores: Some(0.5),
                online_cpus: Some(4.0),
                http: None,
            }
            .value(s)
        };
        assert_eq!(
            value(&t, Signal::MemoryWorkingSetBytes),
            Some(540.0 * 1048576.0)
        );
        assert_eq!(value(&t, Signal::CpuUtilizationRatio), Some(0.999));
        t.cgroups[0].shared = Some(true);
        assert_eq!(
            value(&t, Signal::MemoryWorkingSetBytes),
            Some(30.0 * 1048576.0)
        );
        assert_eq!(value(&t, Signal::CpuUtilizationRatio), Some(0.125));
        // What describes the cgroup itself stays the cgroup's.
        assert_eq!(value(&t, Signal::MemoryUtilizationRatio), Some(0.5));
        assert_eq!(value(&t, Signal::OomKills), Some(2.0));
    }

    #[test]
    fn runtime_signals_from_the_app_figures() {
        let mut counters = crate::runtime::RuntimeCounters::default();
        let figures = |gcs: f64, pause: f64| crate::runtime::RuntimeFigures {
            runtime: Some(crate::runtime::Runtime::Node),
            heap_bytes: Some(15_454_272.0),
            tasks: Some(2.0),
            gc_collections: Some(gcs),
            gc_pause_seconds: Some(pause),
            event_loop_lag_seconds: Some(0.026),
            ..Default::default()
        };
        counters.update(100.0, Some(figures(13.0, 0.04)));
        let mut t = TargetSample {
            up: true,
            runtime: Some(counters.update(110.0, Some(figures(33.0, 0.09)))),
            ..Default::default()
        };
        assert_eq!(value(&t, Signal::RuntimeHeapBytes), Some(15_454_272.0));
        assert_eq!(value(&t, Signal::RuntimeTasks), Some(2.0));
        assert_eq!(value(&t, Signal::EventLoopLagSeconds), Some(0.026));
        assert_eq!(value(&t, Signal::RuntimeGcPerSecond), Some(2.0));
        let ratio = value(&t, Signal::RuntimeGcPauseRatio).unwrap();
        assert!((ratio - 0.005).abs() < 1e-12, "{ratio}");
        // Unread this tick: every runtime signal unknown.
        t.runtime = Some(counters.update(120.0, None));
        for s in [
            Signal::RuntimeHeapBytes,
            Signal::RuntimeTasks,
            Signal::RuntimeGcPerSecond,
            Signal::RuntimeGcPauseRatio,
            Signal::EventLoopLagSeconds,
        ] {
            assert_eq!(value(&t, s), None, "{}", s.name());
        }
        assert_eq!(Signal::EventLoopLagSeconds.unit().parse("250ms"), Ok(0.25));
        assert_eq!(Signal::EventLoopLagSeconds.unit().parse("0.1"), Ok(0.1));
        assert!(Signal::EventLoopLagSeconds.unit().parse("fast").is_err());
    }

    #[test]
    fn promql_of_signals() {
        let m = vec!["target=~\"api\"".to_string()];
        let w = Duration::from_secs(900);
        assert_eq!(
            Signal::MemoryWorkingSetBytes.promql(&m, w),
            "((sidewatch_cgroup_memory_working_set_bytes{target=~\"api\"} unless ignoring (cgroup) sidewatch_cgroup_shared{target=~\"api\"} == 1) or ignoring (cgroup) sidewatch_process_resident_memory_bytes{target=~\"api\"})"
        );
        // The host's CPUs carry no target: no target matcher, joined on the scrape's labels.
        assert_eq!(
            Signal::CpuUtilizationRatio.promql(&m, w),
            "((sidewatch_cgroup_cpu_utilization_ratio{target=~\"api\"} unless ignoring (cgroup) sidewatch_cgroup_shared{target=~\"api\"} == 1) or ignoring (cgroup) sum without (mode) (irate(sidewatch_process_cpu_seconds_total{target=~\"api\"}[2m])) / on (job, instance) group_left () sidewatch_host_cpus)"
        );
        assert_eq!(
            Signal::Restarts.promql(&[], w),
            "increase(sidewatch_process_restarts_total[15m])"
        );
        assert_eq!(
            Signal::PressureIoRatio.promql(&m, w),
            "sum without (resource) (irate(sidewatch_cgroup_pressure_waiting_seconds_total{resource=\"io\", target=~\"api\"}[2m]))"
        );
        assert_eq!(
            Signal::CpuCores.promql(&[], w),
            "sum without (mode) (irate(sidewatch_process_cpu_seconds_total[2m]))"
        );
        assert_eq!(
            Signal::RuntimeGcPauseRatio.promql(&m, w),
            "irate(sidewatch_runtime_gc_pause_seconds_total{target=~\"api\"}[2m])"
        );
        assert_eq!(
            Signal::RuntimeTasks.promql(&m, w),
            "sidewatch_runtime_tasks{target=~\"api\"}"
        );
    }
}
