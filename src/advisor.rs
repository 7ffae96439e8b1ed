//! Right-sizing recommendations, VPA-style and explained, and the service guides' plain-language
//! advice. Pure functions of what the history keeps (no I/O, no clock): every figure says which
//! rule produced it and from which numbers.
//!
//! - **CPU request** = p90 of per-minute CPU usage × 1.15, at least 0.025 cores.
//! - **Memory request** = p90 of the daily working-set peaks × 1.15, at least 250 MiB — unless
//!   usage is *far below* that floor: every daily peak under a quarter of it (62.5 MiB); then
//!   the floor would more than quadruple the request of a small process, and p90 × 1.15 stands.
//! - **Memory limit** = the highest peak × 1.2; after an OOM kill, at least the memory in use
//!   then (the limit in force, or the highest peak before it) raised by max(+100 MiB, ×1.2);
//!   never below the memory request.
//! - Nothing until [`AdvisorInput::min_history_seconds`] of samples (3 h by default).
//!
//! Values are rounded up to whole millicores and MiB, as the `resources:` snippet writes them.
//! Runtime tuning advice (GOMEMLIMIT, GOMAXPROCS, GOGC, JVM and Node.js heaps) is [`tuning`].

pub mod tuning;

use serde::Serialize;

use crate::history::ring::{CpuHistogram, OomEvent, Signal, Slot, float};
use crate::history::trend::LeakVerdict;
use crate::units::{date_of_day, go_g4, human_bytes, human_duration, rfc3339, thousands};

const MIB: f64 = 1024.0 * 1024.0;

/// Margin on the CPU and memory request percentiles.
pub const REQUEST_MARGIN: f64 = 1.15;
pub const CPU_FLOOR_CORES: f64 = 0.025;
pub const MEMORY_FLOOR_BYTES: f64 = 250.0 * MIB;
/// Usage is "far below" the memory floor when every daily peak is under this share of it.
pub const FAR_BELOW_SHARE: f64 = 0.25;
pub const LIMIT_MARGIN: f64 = 1.2;
/// After an OOM kill the limit grows by at least this much...
pub const OOM_BUMP_BYTES: f64 = 100.0 * MIB;
/// ... or by this factor, whichever is more.
pub const OOM_BUMP_FACTOR: f64 = 1.2;

/// The service guides' levels the advice compares with.
pub const THREADS_OBJECTIVE: f64 = 1000.0;
pub const MEMORY_OBJECTIVE_BYTES: f64 = 300.0 * MIB;
pub const LIMIT_SHARE: f64 = 0.8;
pub const CPU_LIMIT_SHARE: f64 = 0.8;
/// Advice fires when a level is exceeded in at least this share of the minutes.
pub const ADVICE_SHARE: f64 = 0.2;
/// The advice rules read the last 24 hours.
pub const DAY_SECONDS: f64 = 86_400.0;

/// The last 24 hours as the advice rules read them, from per-minute means.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DayFigures {
    /// The part of the 24 h the history covers (time since the first sample, at most 24 h):
    /// right after start the advice speaks of the span sampled, not of the last 24 h.
    pub covered_seconds: f64,
    pub window_seconds: f64,
    pub threads_minutes: usize,
    pub threads_minutes_over_objective: usize,
    #[serde(serialize_with = "crate::sample::count_as_integer")]
    pub threads_peak: Option<f64>,
    pub memory_minutes: usize,
    pub memory_minutes_over_objective: usize,
    pub memory_peak_bytes: Option<f64>,
    pub cpu_minutes: usize,
    /// Minutes whose mean CPU was above 80 % of the CPU limit in force then.
    pub cpu_minutes_over_limit_share: usize,
    pub restarts: u64,
}

impl DayFigures {
    /// `the last 24 h`, or `the 2m sampled` while the history covers less.
    fn span(&self) -> String {
        if self.covered_seconds >= self.window_seconds {
            "the last 24 h".into()
        } else {
            format!("the {} sampled", human_duration(self.covered_seconds))
        }
    }

    /// `the minutes of the last 24 h`, or `the 3 minutes sampled` (`n` minutes with a value)
    /// while the history covers less.
    fn minutes(&self, n: usize) -> String {
        if self.covered_seconds >= self.window_seconds {
            "the minutes of the last 24 h".into()
        } else {
            format!("the {n} minute{} sampled", if n == 1 { "" } else { "s" })
        }
    }
}

/// Reads the advice figures from the per-minute slots of the last 24 hours (oldest first);
/// `covered_seconds`: the part of the 24 h the history covers.
pub fn day_figures<'a>(
    slots: impl IntoIterator<Item = &'a Slot>,
    covered_seconds: f64,
) -> DayFigures {
    let mut d = DayFigures {
        covered_seconds: covered_seconds.clamp(0.0, DAY_SECONDS),
        window_seconds: DAY_SECONDS,
        ..Default::default()
    };
    let mut first_restarts = None;
    let mut last_restarts = None;
    for s in slots {
        let th = s.stat(Signal::Threads);
        if !th.mean.is_nan() {
            d.threads_minutes += 1;
            if f64::from(th.mean) > THREADS_OBJECTIVE {
                d.threads_minutes_over_objective += 1;
            }
            d.threads_peak = Some(d.threads_peak.unwrap_or(0.0).max(f64::from(th.max)));
        }
        let ws = s.stat(Signal::WorkingSet);
        if !ws.mean.is_nan() {
            d.memory_minutes += 1;
            if f64::from(ws.mean) > MEMORY_OBJECTIVE_BYTES {
                d.memory_minutes_over_objective += 1;
            }
            d.memory_peak_bytes = Some(d.memory_peak_bytes.unwrap_or(0.0).max(f64::from(ws.max)));
        }
        let cpu = s.stat(Signal::CpuCores);
        if !cpu.mean.is_nan() {
            if let Some(limit) = float(s.cpu_limit_cores).filter(|l| *l > 0.0) {
                d.cpu_minutes += 1;
                if f64::from(cpu.mean) > CPU_LIMIT_SHARE * limit {
                    d.cpu_minutes_over_limit_share += 1;
                }
            }
        }
        if s.restarts != crate::history::ring::ABSENT {
            first_restarts.get_or_insert(s.restarts);
            last_restarts = Some(s.restarts);
        }
    }
    if let (Some(a), Some(b)) = (first_restarts, last_restarts) {
        d.restarts = u64::from(b.saturating_sub(a));
    }
    d
}

/// Everything the advisor reads.
#[derive(Debug, Clone, Default)]
pub struct AdvisorInput {
    /// Time covered by samples over the kept days.
    pub sampled_seconds: f64,
    pub min_history_seconds: f64,
    /// Per-minute CPU usage over the kept days (the open minute included).
    pub cpu_minutes: CpuHistogram,
    /// (Unix day, highest working set of the day), oldest first.
    pub daily_peaks: Vec<(u32, f64)>,
    /// OOM kills over the kept days, oldest first.
    pub oom_events: Vec<OomEvent>,
    pub memory_limit_bytes: Option<f64>,
    pub cpu_limit_cores: Option<f64>,
    pub day: DayFigures,
    pub leak: Option<LeakVerdict>,
    pub time_to_limit_seconds: Option<f64>,
}

/// One recommended figure and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Figure {
    /// Rounded up to a whole millicore or MiB: what the YAML snippet says.
    pub value: f64,
    /// Before rounding.
    pub exact: f64,
    /// Which rule applied: `p90_x1.15`, `floor`, `far_below_floor`, `max_peak_x1.2`,
    /// `oom_raised`, `not_below_request`.
    pub rule: &'static str,
    pub explanation: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DailyPeak {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    pub bytes: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OomSeen {
    pub time: String,
    pub kills: u32,
    pub limit_bytes: Option<f64>,
    pub working_set_bytes: Option<f64>,
}

/// The history the figures came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Basis {
    pub cpu_minutes: u64,
    pub cpu_p90_cores: Option<f64>,
    pub daily_peaks: Vec<DailyPeak>,
    pub memory_p90_daily_peak_bytes: Option<f64>,
    pub memory_max_peak_bytes: Option<f64>,
    pub oom_kills: u64,
    pub ooms: Vec<OomSeen>,
}

/// What the target runs with now, where the cgroup shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Current {
    pub memory_limit_bytes: Option<f64>,
    pub cpu_limit_cores: Option<f64>,
    /// Requests are not visible in the cgroup limits sidewatch reads: always null.
    pub memory_request_bytes: Option<f64>,
    pub cpu_request_cores: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Advice {
    pub rule: &'static str,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Recommendation {
    /// `ok`, or `not_enough_history` (no figures yet).
    pub status: &'static str,
    pub history_seconds: f64,
    pub required_history_seconds: f64,
    pub cpu_request: Option<Figure>,
    pub memory_request: Option<Figure>,
    pub memory_limit: Option<Figure>,
    pub basis: Basis,
    pub current: Current,
    /// A ready `resources:` block for a container spec.
    pub yaml: Option<String>,
    pub advice: Vec<Advice>,
    /// The advice rules' inputs.
    pub last_24h: DayFigures,
    /// The runtime's settings and where each came from; `None` when the runtime is unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime_settings: Option<tuning::RuntimeSettings>,
    /// Runtime tuning advice that applies now (see [`tuning`]).
    pub tuning: Vec<tuning::Tuning>,
}

fn size(b: f64) -> String {
    human_bytes(b)
}

fn cores(c: f64) -> String {
    format!("{} cores", go_g4(c))
}

fn percent(share: f64) -> String {
    format!("{} %", (share * 100.0).round())
}

fn round_millicores(c: f64) -> f64 {
    (c * 1000.0 - 1e-9).ceil().max(1.0) / 1000.0
}

fn round_mib(b: f64) -> f64 {
    (b / MIB - 1e-9).ceil().max(1.0) * MIB
}

/// The `resources:` snippet (requests for CPU and memory, a memory limit; no CPU limit, which
/// only adds throttling).
pub fn yaml_snippet(cpu: f64, mem_request: f64, mem_limit: f64) -> String {
    format!(
        "resources:\n  requests:\n    cpu: {}m\n    memory: {}Mi\n  limits:\n    memory: {}Mi\n",
        (cpu * 1000.0).round() as u64,
        (mem_request / MIB).round() as u64,
        (mem_limit / MIB).round() as u64
    )
}

fn cpu_request(p90: f64) -> Figure {
    let exact = p90 * REQUEST_MARGIN;
    if exact < CPU_FLOOR_CORES {
        Figure {
            value: CPU_FLOOR_CORES,
            exact: CPU_FLOOR_CORES,
            rule: "floor",
            explanation: format!(
                "p90 of per-minute CPU usage is {}; × 1.15 = {} is under the floor of 0.025 cores, so the floor applies",
                cores(p90),
                cores(exact)
            ),
        }
    } else {
        Figure {
            value: round_millicores(exact),
            exact,
            rule: "p90_x1.15",
            explanation: format!(
                "p90 of per-minute CPU usage ({}) × 1.15 = {}",
                cores(p90),
                cores(exact)
            ),
        }
    }
}

fn memory_request(p90: f64, max_peak: f64) -> Figure {
    let exact = p90 * REQUEST_MARGIN;
    if exact >= MEMORY_FLOOR_BYTES {
        Figure {
            value: round_mib(exact),
            exact,
            rule: "p90_x1.15",
            explanation: format!(
                "p90 of the daily working-set peaks ({}) × 1.15 = {}",
                size(p90),
                size(exact)
            ),
        }
    } else if max_peak < FAR_BELOW_SHARE * MEMORY_FLOOR_BYTES {
        Figure {
            value: round_mib(exact),
            exact,
            rule: "far_below_floor",
            explanation: format!(
                "p90 of the daily peaks ({}) × 1.15 = {}; the 250 MiB floor does not apply because usage is far below it (every daily peak, at most {}, is under a quarter of the floor, 62.5 MiB)",
                size(p90),
                size(exact),
                size(max_peak)
            ),
        }
    } else {
        Figure {
            value: MEMORY_FLOOR_BYTES,
            exact: MEMORY_FLOOR_BYTES,
            rule: "floor",
            explanation: format!(
                "p90 of the daily peaks ({}) × 1.15 = {} is under the floor of 250 MiB, so the floor applies",
                size(p90),
                size(exact)
            ),
        }
    }
}

fn memory_limit(max_peak: f64, oom: Option<&OomEvent>, request: f64) -> Figure {
    let exact = max_peak * LIMIT_MARGIN;
    let mut f = Figure {
        value: round_mib(exact),
        exact,
        rule: "max_peak_x1.2",
        explanation: format!(
            "the highest working-set peak ({}) × 1.2 = {}",
            size(max_peak),
            size(exact)
        ),
    };
    if let Some(o) = oom {
        // At an OOM kill the usage hit the limit; the peak we saw may be below it (a tick
        // cannot see the moment of the kill).
        let base = o
            .limit_bytes
            .unwrap_or(0.0)
            .max(o.working_set_bytes.unwrap_or(0.0))
            .max(max_peak);
        let raised = (base + OOM_BUMP_BYTES).max(base * OOM_BUMP_FACTOR);
        if raised > f.exact {
            f = Figure {
                value: round_mib(raised),
                exact: raised,
                rule: "oom_raised",
                explanation: format!(
                    "an OOM kill at {}: the memory in use then ({}, the limit in force or the highest peak) raised by max(+100 MiB, ×1.2) = {}",
                    rfc3339(o.t),
                    size(base),
                    size(raised)
                ),
            };
        }
    }
    if f.value < request {
        f = Figure {
            value: request,
            exact: request,
            rule: "not_below_request",
            explanation: format!(
                "{}, which is below the memory request; a limit is never below the request, so the request ({}) applies",
                f.explanation,
                size(request)
            ),
        };
    }
    f
}

/// Computes the recommendation and the advice.
pub fn recommend(input: &AdvisorInput) -> Recommendation {
    let cpu_p90 = input.cpu_minutes.quantile(0.9);
    let mut peaks: Vec<f64> = input
        .daily_peaks
        .iter()
        .map(|(_, b)| *b)
        .filter(|b| b.is_finite())
        .collect();
    let max_peak = peaks.iter().copied().reduce(f64::max);
    let mem_p90 = crate::history::stats::quantile(&mut peaks, 0.9);
    let oom_kills: u64 = input.oom_events.iter().map(|o| u64::from(o.kills)).sum();
    let basis = Basis {
        cpu_minutes: input.cpu_minutes.total(),
        cpu_p90_cores: cpu_p90,
        daily_peaks: input
            .daily_peaks
            .iter()
            .filter(|(_, b)| b.is_finite())
            .map(|(d, b)| DailyPeak {
                day: date_of_day(*d),
                bytes: *b,
            })
            .collect(),
        memory_p90_daily_peak_bytes: mem_p90,
        memory_max_peak_bytes: max_peak,
        oom_kills,
        ooms: input
            .oom_events
            .iter()
            .map(|o| OomSeen {
                time: rfc3339(o.t),
                kills: o.kills,
                limit_bytes: o.limit_bytes,
                working_set_bytes: o.working_set_bytes,
            })
            .collect(),
    };
    let enough = input.sampled_seconds >= input.min_history_seconds;
    let (cpu, mem_req, mem_lim) = match (enough, cpu_p90, mem_p90, max_peak) {
        (true, Some(c), Some(m), Some(peak)) => {
            let req = memory_request(m, peak);
            let lim = memory_limit(peak, input.oom_events.last(), req.value);
            (Some(cpu_request(c)), Some(req), Some(lim))
        }
        _ => (None, None, None),
    };
    let yaml = match (&cpu, &mem_req, &mem_lim) {
        (Some(c), Some(r), Some(l)) => Some(yaml_snippet(c.value, r.value, l.value)),
        _ => None,
    };
    let mut r = Recommendation {
        status: if yaml.is_some() {
            "ok"
        } else {
            "not_enough_history"
        },
        history_seconds: input.sampled_seconds,
        required_history_seconds: input.min_history_seconds,
        cpu_request: cpu,
        memory_request: mem_req,
        memory_limit: mem_lim,
        basis,
        current: Current {
            memory_limit_bytes: input.memory_limit_bytes,
            cpu_limit_cores: input.cpu_limit_cores,
            memory_request_bytes: None,
            cpu_request_cores: None,
        },
        yaml,
        advice: Vec::new(),
        last_24h: input.day.clone(),
        runtime_settings: None,
        tuning: Vec::new(),
    };
    r.advice = advise(input, &r);
    r
}

fn share(n: usize, of: usize) -> Option<f64> {
    (of > 0).then(|| n as f64 / of as f64)
}

/// The guides' plain-language advice for every rule that fires.
pub fn advise(input: &AdvisorInput, r: &Recommendation) -> Vec<Advice> {
    type Rule = fn(&AdvisorInput, &Recommendation) -> Option<Advice>;
    const RULES: [Rule; 8] = [
        threads_over_objective,
        memory_over_objective,
        memory_near_limit,
        cpu_near_limit,
        oom_kills,
        restarts,
        memory_leak,
        memory_limit_fit,
    ];
    RULES.iter().filter_map(|rule| rule(input, r)).collect()
}

fn threads_over_objective(input: &AdvisorInput, _: &Recommendation) -> Option<Advice> {
    let d = &input.day;
    let s = share(d.threads_minutes_over_objective, d.threads_minutes)
        .filter(|s| *s >= ADVICE_SHARE)?;
    Some(Advice {
        rule: "threads_over_1000",
        text: format!(
            "Threads were above 1,000 in {} of {} (peak {}). The guides' objective is below 1,000: look for a thread leak or an unbounded pool.",
            percent(s),
            d.minutes(d.threads_minutes),
            thousands(d.threads_peak.unwrap_or(0.0))
        ),
    })
}

fn memory_over_objective(input: &AdvisorInput, _: &Recommendation) -> Option<Advice> {
    let d = &input.day;
    let s =
        share(d.memory_minutes_over_objective, d.memory_minutes).filter(|s| *s >= ADVICE_SHARE)?;
    Some(Advice {
        rule: "memory_over_300MiB",
        text: format!(
            "The working set was above 300 MiB in {} of {} (peak {}). The guides' objective is below 300 MiB: check caches and heap sizing, or set a memory SLO that fits this service.",
            percent(s),
            d.minutes(d.memory_minutes),
            size(d.memory_peak_bytes.unwrap_or(0.0))
        ),
    })
}

fn memory_near_limit(input: &AdvisorInput, r: &Recommendation) -> Option<Advice> {
    let d = &input.day;
    let (peak, limit) = (d.memory_peak_bytes?, input.memory_limit_bytes?);
    if !(limit > 0.0 && peak >= LIMIT_SHARE * limit) {
        return None;
    }
    let rec = r
        .memory_limit
        .as_ref()
        .map(|f| format!(" (recommended: {})", size(f.value)))
        .unwrap_or_default();
    Some(Advice {
        rule: "memory_near_limit",
        text: format!(
            "The working set peaked at {} of the {} memory limit in {}; the guides say stay below 80 %. Raise the limit{rec} or reduce memory use.",
            percent(peak / limit),
            size(limit),
            d.span()
        ),
    })
}

fn cpu_near_limit(input: &AdvisorInput, _: &Recommendation) -> Option<Advice> {
    let d = &input.day;
    let s = share(d.cpu_minutes_over_limit_share, d.cpu_minutes).filter(|s| *s >= ADVICE_SHARE)?;
    Some(Advice {
        rule: "cpu_near_limit",
        text: format!(
            "CPU use was above 80 % of the {} limit in {} of {}: the container is likely throttled. Raise the CPU limit or remove it.",
            input.cpu_limit_cores.map_or("CPU".into(), cores),
            percent(s),
            d.minutes(d.cpu_minutes)
        ),
    })
}

fn oom_kills(input: &AdvisorInput, r: &Recommendation) -> Option<Advice> {
    if r.basis.oom_kills == 0 {
        return None;
    }
    let last = input.oom_events.last();
    Some(Advice {
        rule: "oom_kills",
        text: format!(
            "{} OOM kill{} in the kept history (the last at {}{}). The recommended limit adds max(100 MiB, 20 %) to the memory in use then.",
            r.basis.oom_kills,
            if r.basis.oom_kills == 1 { "" } else { "s" },
            last.map_or(String::new(), |o| rfc3339(o.t)),
            last.and_then(|o| o.limit_bytes)
                .map_or(String::new(), |l| format!(", with a {} limit", size(l)))
        ),
    })
}

fn restarts(input: &AdvisorInput, _: &Recommendation) -> Option<Advice> {
    let d = &input.day;
    (d.restarts > 0).then(|| Advice {
        rule: "restarts",
        text: format!(
            "The main process restarted {} time{} in {}: check its exit reason (OOM kills, crashes, failed probes).",
            d.restarts,
            if d.restarts == 1 { "" } else { "s" },
            d.span()
        ),
    })
}

fn memory_leak(input: &AdvisorInput, _: &Recommendation) -> Option<Advice> {
    let l = input.leak.as_ref().filter(|l| l.suspected)?;
    let rate = l
        .growth_bytes_per_second
        .map_or(String::new(), |g| format!(" ({}/h)", size(g * 3600.0)));
    let ttl = input.time_to_limit_seconds.map_or(String::new(), |t| {
        format!(
            "; at this rate it reaches the limit in {}",
            human_duration(t)
        )
    });
    Some(Advice {
        rule: "memory_leak",
        text: format!(
            "The post-collection memory floor rose steadily by {} over the last {}{rate}: a leak is suspected{ttl}.",
            size(l.rise_bytes),
            l.window
        ),
    })
}

/// The memory limit against the recommended one: far above it, or below it.
fn memory_limit_fit(input: &AdvisorInput, r: &Recommendation) -> Option<Advice> {
    let (rec, limit) = (r.memory_limit.as_ref()?, input.memory_limit_bytes?);
    if limit >= 2.0 * rec.value {
        Some(Advice {
            rule: "memory_limit_oversized",
            text: format!(
                "The memory limit ({}) is {}× the recommended {}: lower it to free capacity on the node.",
                size(limit),
                go_g4((limit / rec.value * 10.0).round() / 10.0),
                size(rec.value)
            ),
        })
    } else if limit < rec.value {
        Some(Advice {
            rule: "memory_limit_too_low",
            text: format!(
                "The memory limit ({}) is below the recommended {}: raise it before the working set reaches it.",
                size(limit),
                size(rec.value)
            ),
        })
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::ring::{ABSENT, Stat3};

    fn hist(values: &[f64]) -> CpuHistogram {
        let mut h = CpuHistogram::default();
        for v in values {
            h.add(*v);
        }
        h
    }

    fn input(cpu: &[f64], peaks_mib: &[f64]) -> AdvisorInput {
        AdvisorInput {
            sampled_seconds: 4.0 * 3600.0,
            min_history_seconds: 3.0 * 3600.0,
            cpu_minutes: hist(cpu),
            daily_peaks: peaks_mib
                .iter()
                .enumerate()
                .map(|(i, m)| (19_000 + i as u32, m * MIB))
                .collect(),
            ..Default::default()
        }
    }

    /// 100 minutes at 0.01 .. 1.00 cores.
    fn ramp() -> Vec<f64> {
        (1..=100).map(|i| f64::from(i) / 100.0).collect()
    }

    #[test]
    fn cpu_request_is_p90_times_1_15_with_a_floor() {
        let r = recommend(&input(&ramp(), &[400.0]));
        let c = r.cpu_request.unwrap();
        assert_eq!(c.rule, "p90_x1.15");
        // p90 = 0.90 cores, read as its 5 % bucket's upper bound: 0.90 ≤ p90 < 0.945.
        assert!(
            (0.9 * 1.15..0.9 * 1.05 * 1.15).contains(&c.exact),
            "{}",
            c.exact
        );
        assert_eq!(c.value, (c.exact * 1000.0).ceil() / 1000.0);
        let r = recommend(&input(&[0.005; 60], &[400.0]));
        let c = r.cpu_request.unwrap();
        assert_eq!((c.rule, c.value), ("floor", 0.025));
        assert!(c.explanation.contains("floor of 0.025 cores"));
    }

    #[test]
    fn memory_request_is_p90_of_daily_peaks_with_a_floor_unless_far_below() {
        // Peaks 300..1200 MiB over ten days: p90 at rank 8.1 = 1100 + 0.1·100 = 1110 MiB.
        let peaks: Vec<f64> = (3..=12).map(|i| f64::from(i) * 100.0).collect();
        let r = recommend(&input(&ramp(), &peaks));
        let m = r.memory_request.as_ref().unwrap();
        assert_eq!(m.rule, "p90_x1.15");
        assert!((m.exact - 1110.0 * MIB * 1.15).abs() < 1.0, "{}", m.exact);
        assert_eq!(m.value, (1110.0_f64 * 1.15).ceil() * MIB);
        assert_eq!(r.basis.memory_p90_daily_peak_bytes, Some(1110.0 * MIB));
        // Under the floor, but not far below: 250 MiB.
        let r = recommend(&input(&ramp(), &[100.0, 150.0, 120.0]));
        let m = r.memory_request.unwrap();
        assert_eq!((m.rule, m.value), ("floor", 250.0 * MIB));
        // Far below: every peak under 62.5 MiB → p90 × 1.15 (p90 of 20, 40, 30 = 38 MiB).
        let r = recommend(&input(&ramp(), &[20.0, 40.0, 30.0]));
        let m = r.memory_request.as_ref().unwrap();
        assert_eq!(m.rule, "far_below_floor");
        assert!((m.exact - 38.0 * MIB * 1.15).abs() < 1.0);
        assert_eq!(m.value, 44.0 * MIB);
        // The limit never goes below the request: 40 MiB × 1.2 = 48 MiB ≥ 44 MiB, kept.
        let l = r.memory_limit.as_ref().unwrap();
        assert_eq!((l.rule, l.value), ("max_peak_x1.2", 48.0 * MIB));
        assert_eq!(
            r.yaml.as_deref().unwrap(),
            format!(
                "resources:\n  requests:\n    cpu: {}m\n    memory: 44Mi\n  limits:\n    memory: 48Mi\n",
                (r.cpu_request.as_ref().unwrap().value * 1000.0).round()
            )
        );
        // Peaks of 100-150 MiB: the request floor (250 MiB) lifts the limit (180 MiB) to it.
        let r = recommend(&input(&ramp(), &[100.0, 150.0, 120.0]));
        let l = r.memory_limit.unwrap();
        assert_eq!((l.rule, l.value), ("not_below_request", 250.0 * MIB));
    }

    #[test]
    fn memory_limit_is_max_peak_times_1_2_raised_after_an_oom_kill() {
        let mut i = input(&ramp(), &[400.0, 500.0, 450.0]);
        let r = recommend(&i);
        let l = r.memory_limit.unwrap();
        assert_eq!((l.rule, l.value), ("max_peak_x1.2", 600.0 * MIB));
        // An OOM kill at a 512 MiB limit: max(512 + 100, 512 × 1.2 = 614.4) MiB = 614.4 MiB,
        // above 600 MiB → 615 MiB.
        i.oom_events = vec![OomEvent {
            t: 1.7e9,
            kills: 1,
            limit_bytes: Some(512.0 * MIB),
            working_set_bytes: Some(505.0 * MIB),
        }];
        let r = recommend(&i);
        let l = r.memory_limit.as_ref().unwrap();
        assert_eq!(l.rule, "oom_raised");
        assert!((l.exact - 614.4 * MIB).abs() < 1.0);
        assert_eq!(l.value, 615.0 * MIB);
        assert_eq!(r.advice.iter().filter(|a| a.rule == "oom_kills").count(), 1);
        // A small limit: +100 MiB wins over ×1.2 (200 → 300 MiB).
        let mut i = input(&ramp(), &[150.0, 180.0]);
        i.oom_events = vec![OomEvent {
            t: 1.7e9,
            kills: 2,
            limit_bytes: Some(200.0 * MIB),
            working_set_bytes: None,
        }];
        let r = recommend(&i);
        let l = r.memory_limit.unwrap();
        assert_eq!((l.rule, l.value), ("oom_raised", 300.0 * MIB));
        assert_eq!(r.basis.oom_kills, 2);
    }

    #[test]
    fn not_enough_history_gives_no_figures() {
        let mut i = input(&ramp(), &[400.0]);
        i.sampled_seconds = 3600.0;
        let r = recommend(&i);
        assert_eq!(r.status, "not_enough_history");
        assert!(r.cpu_request.is_none() && r.memory_request.is_none() && r.yaml.is_none());
        assert_eq!(r.required_history_seconds, 10_800.0);
        // The basis is still shown.
        assert_eq!(r.basis.memory_max_peak_bytes, Some(400.0 * MIB));
        let mut i = input(&[], &[]);
        i.sampled_seconds = 1e6;
        assert_eq!(recommend(&i).status, "not_enough_history");
    }

    fn minute(threads: f32, ws_mib: f32, cpu: f32, cpu_limit: f32, restarts: u32) -> Slot {
        let mut s = Slot {
            samples: 12,
            cpu_limit_cores: cpu_limit,
            restarts,
            oom_kills: ABSENT,
            memory_limit_kib: ABSENT,
            ..Default::default()
        };
        let st = |v: f32| Stat3 {
            min: v,
            max: v,
            mean: v,
        };
        s.stats[Signal::Threads.index()] = st(threads);
        s.stats[Signal::WorkingSet.index()] = st(ws_mib * MIB as f32);
        s.stats[Signal::CpuCores.index()] = st(cpu);
        s
    }

    #[test]
    fn advice_fires_on_the_guides_levels() {
        // 100 minutes: 25 with 1,500 threads, 30 above 300 MiB, 50 at 90 % of a 1-core limit.
        let slots: Vec<Slot> = (0..100)
            .map(|i| {
                minute(
                    if i < 25 { 1500.0 } else { 200.0 },
                    if i < 30 { 400.0 } else { 100.0 },
                    if i < 50 { 0.9 } else { 0.1 },
                    1.0,
                    u32::from(i >= 60) + u32::from(i >= 90),
                )
            })
            .collect();
        let d = day_figures(&slots, DAY_SECONDS);
        assert_eq!(d.threads_minutes_over_objective, 25);
        assert_eq!(d.memory_minutes_over_objective, 30);
        assert_eq!(d.cpu_minutes_over_limit_share, 50);
        assert_eq!(d.restarts, 2);
        let mut i = input(&ramp(), &[400.0]);
        i.day = d;
        i.memory_limit_bytes = Some(450.0 * MIB);
        i.cpu_limit_cores = Some(1.0);
        let r = recommend(&i);
        let rules: Vec<&str> = r.advice.iter().map(|a| a.rule).collect();
        assert_eq!(
            rules,
            vec![
                "threads_over_1000",
                "memory_over_300MiB",
                "memory_near_limit",
                "cpu_near_limit",
                "restarts",
                "memory_limit_too_low"
            ]
        );
        assert!(
            r.advice[0].text.starts_with(
                "Threads were above 1,000 in 25 % of the minutes of the last 24 h (peak 1,500)"
            ),
            "{}",
            r.advice[0].text
        );
        assert!(
            r.advice[2]
                .text
                .contains("peaked at 89 % of the 450 MiB memory limit"),
            "{}",
            r.advice[2].text
        );
        // The same minutes right after start (1h 40m sampled): the advice states that span.
        i.day = day_figures(&slots, 6000.0);
        let texts: Vec<String> = recommend(&i).advice.into_iter().map(|a| a.text).collect();
        for (k, want) in [
            (
                0,
                "Threads were above 1,000 in 25 % of the 100 minutes sampled (peak 1,500).",
            ),
            (
                1,
                "The working set was above 300 MiB in 30 % of the 100 minutes sampled (peak",
            ),
            (
                2,
                "The working set peaked at 89 % of the 450 MiB memory limit in the 1h 40m sampled;",
            ),
            (
                3,
                "CPU use was above 80 % of the 1 cores limit in 50 % of the 100 minutes sampled:",
            ),
            (
                4,
                "The main process restarted 2 times in the 1h 40m sampled:",
            ),
        ] {
            assert!(texts[k].starts_with(want), "{}", texts[k]);
        }
        assert!(texts.iter().all(|t| !t.contains("24 h")), "{texts:?}");
        // Under 20 % of the minutes: no advice.
        let slots: Vec<Slot> = (0..100)
            .map(|i| minute(if i < 19 { 1500.0 } else { 10.0 }, 10.0, 0.0, f32::NAN, 0))
            .collect();
        let mut i = input(&ramp(), &[400.0]);
        i.day = day_figures(&slots, DAY_SECONDS);
        assert_eq!(i.day.cpu_minutes, 0, "no CPU limit: no CPU advice");
        assert!(recommend(&i).advice.is_empty());
    }

    #[test]
    fn oversized_limit_and_leak_advice() {
        let mut i = input(&ramp(), &[400.0]);
        i.memory_limit_bytes = Some(2048.0 * MIB);
        i.time_to_limit_seconds = Some(5.0 * 3600.0 + 120.0);
        i.leak = Some(LeakVerdict {
            window: "6h".into(),
            suspected: true,
            rise_bytes: 120.0 * MIB,
            rise_needed_bytes: MIB,
            rising_steps: 11,
            steps: 11,
            rising_steps_needed: 8,
            largest_fall_bytes: 0.0,
            allowed_fall_bytes: 12.0 * MIB,
            second_half_share: Some(0.5),
            growth_bytes_per_second: Some(20.0 * MIB / 3600.0),
            evidence: vec![],
        });
        let r = recommend(&i);
        let texts: Vec<&str> = r.advice.iter().map(|a| a.text.as_str()).collect();
        assert_eq!(
            texts,
            vec![
                "The post-collection memory floor rose steadily by 120 MiB over the last 6h (20 MiB/h): a leak is suspected; at this rate it reaches the limit in 5h 2m.",
                "The memory limit (2 GiB) is 4.3× the recommended 480 MiB: lower it to free capacity on the node."
            ]
        );
    }

    #[test]
    fn formatting_helpers() {
        assert_eq!(thousands(1512.0), "1,512");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
        assert_eq!(date_of_day(19_000), "2022-01-08");
    }
}
