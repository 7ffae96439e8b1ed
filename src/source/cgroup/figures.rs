//! The figures one reading of a located cgroup produces, the same for v1 and v2.

use super::psi::PressureFigures;

// ---------------------------------------------------------------------------------------------
// Figures of one reading

/// Memory figures, bytes. `None` = not readable (or no limit).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemoryFigures {
    pub usage_bytes: Option<u64>,
    pub working_set_bytes: Option<u64>,
    pub rss_bytes: Option<u64>,
    pub cache_bytes: Option<u64>,
    pub inactive_file_bytes: Option<u64>,
    pub swap_bytes: Option<u64>,
    pub limit_bytes: Option<u64>,
    /// Counters.
    pub oom_kills: Option<u64>,
    pub limit_hits: Option<u64>,
}

impl MemoryFigures {
    /// cAdvisor's working set: usage − inactive file cache, floored at 0.
    pub(crate) fn derive_working_set(&mut self) {
        self.working_set_bytes = match (self.usage_bytes, self.inactive_file_bytes) {
            (Some(u), Some(i)) => Some(u.saturating_sub(i)),
            _ => None,
        };
    }
}

/// CPU figures: counters in nanoseconds / periods, the limit in cores.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CpuFigures {
    pub usage_ns: Option<u64>,
    pub user_ns: Option<u64>,
    pub system_ns: Option<u64>,
    pub periods: Option<u64>,
    pub throttled_periods: Option<u64>,
    pub throttled_ns: Option<u64>,
    /// quota / period; `None` when unlimited.
    pub limit_cores: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PidsFigures {
    pub current: Option<u64>,
    /// `None` when `max`.
    pub limit: Option<u64>,
}

/// I/O counters summed over devices.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IoFigures {
    pub read_bytes: Option<u64>,
    pub write_bytes: Option<u64>,
    pub reads: Option<u64>,
    pub writes: Option<u64>,
}

/// Everything one read of a located cgroup produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    pub memory: MemoryFigures,
    pub cpu: CpuFigures,
    pub pids: PidsFigures,
    pub io: IoFigures,
    pub pressure: PressureFigures,
    /// CPUs the cgroup may run on (cpuset, else the machine's online CPUs).
    pub online_cpus: Option<u32>,
}
