//! Runtime tuning advice: the runtime's settings read from outside (its own metrics first, then
//! its environment and arguments at exec, then the runtime's default), set against the
//! container's limits. Pure: figures in, settings with their origin and advice out. Each advice
//! names its rule, the inputs it read (value and origin) and a ready `env:` snippet.
//!
//! - `gomemlimit_unset`: Go under a memory limit without GOMEMLIMIT → 90 % of the limit (the Go
//!   GC guide's 5–10 % headroom; automemlimit's 0.9). Go 1.19 and later (when the version shows).
//! - `gomaxprocs_above_quota`: GOMAXPROCS above the CPU quota while the cgroup throttled at
//!   least 5 % of its CFS periods → the quota rounded down, at least 1 (automaxprocs).
//! - `gogc_raise`: GC at least once a second with the heap under 25 % of its limit (GOMEMLIMIT,
//!   else the memory limit) → the GOGC that lets the heap grow to half the limit (at most 800).
//! - `jvm_heap_default_share`: a JVM on the default `MaxRAMPercentage` (25 %) whose working set
//!   peaked under half the limit over the last 24 h → `-XX:MaxRAMPercentage=75.0`.
//! - `jvm_heap_near_limit`: a JVM max heap above 80 % of the limit leaves too little for
//!   metaspace, threads, code cache and direct buffers (OOM kill) → `-XX:MaxRAMPercentage=75.0`.
//! - `node_heap_above_limit`: `--max-old-space-size` at or above the memory limit → 75 % of it.

use serde::Serialize;

use crate::runtime::{Runtime, RuntimeFigures};
use crate::source::settings::{ExecSettings, Setting};
use crate::units::{go_g4, human_bytes};

const MIB: f64 = 1024.0 * 1024.0;

pub const GOMEMLIMIT_SHARE: f64 = 0.9;
/// Throttling evidence: throttled CFS periods / all periods since sidewatch watches the cgroup.
pub const THROTTLED_EVIDENCE: f64 = 0.05;
pub const GC_OFTEN_PER_SECOND: f64 = 1.0;
pub const HEAP_FAR_BELOW_SHARE: f64 = 0.25;
/// `gogc_raise` lets the heap goal grow to this share of its limit.
pub const GOGC_HEAP_GOAL_SHARE: f64 = 0.5;
pub const GOGC_MAX: f64 = 800.0;
pub const JVM_DEFAULT_RAM_PERCENTAGE: f64 = 25.0;
pub const JVM_LOW_WORKING_SET_SHARE: f64 = 0.5;
pub const JVM_NEAR_LIMIT_SHARE: f64 = 0.8;
pub const JVM_ADVISED_RAM_PERCENTAGE: f64 = 75.0;
pub const NODE_ADVISED_SHARE: f64 = 0.75;

/// What the tuning rules read, gathered by the history view from the tick's sample.
#[derive(Debug, Clone, Copy, Default)]
pub struct TuningInput<'a> {
    pub figures: Option<&'a RuntimeFigures>,
    /// GC cycles per second between the app's last two readings.
    pub gc_per_second: Option<f64>,
    /// `None`: the main process's environment and arguments were not read.
    pub exec: Option<&'a ExecSettings>,
    pub memory_limit_bytes: Option<f64>,
    pub cpu_limit_cores: Option<f64>,
    pub throttled_periods_ratio: Option<f64>,
    /// The highest working set of the last 24 h, once the history has an hour of it.
    pub working_set_peak_bytes: Option<f64>,
}

/// The runtime's settings as sidewatch could read them, each with its origin.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeSettings {
    pub runtime: Option<&'static str>,
    /// False: the environment was unreadable, so settings only it could show are unknown.
    pub environ_readable: Option<bool>,
    pub gomemlimit_bytes: Option<Setting>,
    pub gogc_percent: Option<Setting>,
    pub gomaxprocs: Option<Setting>,
    pub jvm_max_heap_bytes: Option<Setting>,
    pub jvm_max_ram_percentage: Option<Setting>,
    pub node_max_old_space_bytes: Option<Setting>,
}

/// One figure an advice read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Input {
    pub name: &'static str,
    /// `None`: unset (or off).
    pub value: Option<f64>,
    pub from: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tuning {
    pub rule: &'static str,
    pub text: String,
    pub inputs: Vec<Input>,
    /// A container `env:` block that applies the advice.
    pub snippet: String,
}

fn metric(v: f64, name: &str) -> Setting {
    Setting {
        value: Some(v),
        raw: go_g4(v),
        from: format!("metrics {name}"),
    }
}

/// The settings: the app's metrics where present, else its environment and arguments.
pub fn settings(i: &TuningInput) -> RuntimeSettings {
    let f = i.figures;
    let e = i.exec;
    let runtime = f
        .and_then(|f| f.runtime)
        .or(match e.and_then(|e| e.program) {
            Some("java") => Some(Runtime::Jvm),
            Some("node") => Some(Runtime::Node),
            _ => None,
        });
    let exec = |get: fn(&ExecSettings) -> &Option<Setting>| e.and_then(|e| get(e).clone());
    let from_metrics = |v: Option<f64>, name: &str| v.map(|v| metric(v, name));
    let mut s = RuntimeSettings {
        runtime: runtime.map(Runtime::as_str),
        environ_readable: e.map(|e| e.environ_readable),
        ..Default::default()
    };
    match runtime {
        Some(Runtime::Go) => {
            let f = f.cloned().unwrap_or_default();
            s.gomemlimit_bytes = from_metrics(f.heap_limit_bytes, "go_gc_gomemlimit_bytes")
                .or_else(|| exec(|e| &e.gomemlimit));
            s.gogc_percent =
                from_metrics(f.gogc_percent, "go_gc_gogc_percent").or_else(|| exec(|e| &e.gogc));
            s.gomaxprocs = from_metrics(f.gomaxprocs, "go_sched_gomaxprocs_threads")
                .or_else(|| exec(|e| &e.gomaxprocs))
                .or_else(|| {
                    let n = e.and_then(|e| e.cpus_allowed)?;
                    Some(Setting {
                        value: Some(f64::from(n)),
                        raw: n.to_string(),
                        from: "default: CPUs in the affinity mask".into(),
                    })
                });
        }
        Some(Runtime::Jvm) => {
            s.jvm_max_heap_bytes = from_metrics(
                f.and_then(|f| f.heap_limit_bytes),
                "jvm_memory_max_bytes{area=\"heap\"}",
            )
            .or_else(|| exec(|e| &e.jvm_max_heap));
            s.jvm_max_ram_percentage = exec(|e| &e.jvm_max_ram_percentage);
        }
        Some(Runtime::Node) => s.node_max_old_space_bytes = exec(|e| &e.node_max_old_space),
        _ => {}
    }
    s
}

/// The settings and every tuning advice that applies now.
pub fn tune(i: &TuningInput) -> (RuntimeSettings, Vec<Tuning>) {
    let s = settings(i);
    let mut out = Vec::new();
    match s.runtime {
        Some("go") => {
            out.extend(gomemlimit_unset(i, &s));
            out.extend(gomaxprocs_above_quota(i, &s));
            out.extend(gogc_raise(i, &s));
        }
        Some("jvm") => out.extend(jvm_heap(i, &s)),
        Some("node") => out.extend(node_heap_above_limit(i, &s)),
        _ => {}
    }
    (s, out)
}

fn env_snippet(name: &str, value: &str) -> String {
    format!("env:\n  - name: {name}\n    value: \"{value}\"\n")
}

fn whole_mib(b: f64) -> f64 {
    (b / MIB).floor().max(1.0)
}

fn limit_input(name: &'static str, v: f64) -> Input {
    Input {
        name,
        value: Some(v),
        from: "cgroup".into(),
    }
}

fn setting_input(name: &'static str, s: &Setting) -> Input {
    Input {
        name,
        value: s.value,
        from: s.from.clone(),
    }
}

/// `go1.21.3` → (1, 21).
fn go_version(f: Option<&RuntimeFigures>) -> Option<(u32, u32)> {
    let v = f?.version.as_deref()?.strip_prefix("go")?;
    let mut p = v.split(|c: char| !c.is_ascii_digit());
    Some((p.next()?.parse().ok()?, p.next()?.parse().ok()?))
}

fn gomemlimit_unset(i: &TuningInput, s: &RuntimeSettings) -> Option<Tuning> {
    let limit = i.memory_limit_bytes.filter(|l| *l > 0.0)?;
    // Set, or unknown (an unreadable environment and no metric): no advice.
    if s.gomemlimit_bytes.is_some() || s.environ_readable != Some(true) {
        return None;
    }
    if go_version(i.figures).is_some_and(|v| v < (1, 19)) {
        return None;
    }
    let mib = whole_mib(GOMEMLIMIT_SHARE * limit);
    Some(Tuning {
        rule: "gomemlimit_unset",
        text: format!(
            "Go runs under a {} memory limit without GOMEMLIMIT: its GC does not know the limit and lets the heap grow to twice the live heap. Set GOMEMLIMIT to about 90 % of the limit ({} MiB) so the GC works harder before the OOM killer does.",
            human_bytes(limit),
            mib
        ),
        inputs: vec![
            limit_input("memory_limit_bytes", limit),
            Input {
                name: "gomemlimit_bytes",
                value: None,
                from: "unset: not in the environment, no go_gc_gomemlimit_bytes".into(),
            },
        ],
        snippet: env_snippet("GOMEMLIMIT", &format!("{mib}MiB")),
    })
}

fn gomaxprocs_above_quota(i: &TuningInput, s: &RuntimeSettings) -> Option<Tuning> {
    let quota = i.cpu_limit_cores.filter(|q| *q > 0.0)?;
    let procs = s.gomaxprocs.as_ref()?;
    let n = procs.value?;
    let throttled = i.throttled_periods_ratio?;
    // Since Go 1.25 the default follows the quota.
    let defaulted = procs.from.starts_with("default");
    if defaulted && go_version(i.figures).is_some_and(|v| v >= (1, 25)) {
        return None;
    }
    let want = quota.floor().max(1.0);
    if n <= quota.ceil() || throttled < THROTTLED_EVIDENCE {
        return None;
    }
    Some(Tuning {
        rule: "gomaxprocs_above_quota",
        text: format!(
            "GOMAXPROCS is {} ({}) but the CPU quota is {} cores, and the cgroup was throttled in {} % of its CFS periods: Go's threads use up the quota early in each period and then wait. Set GOMAXPROCS to {}.",
            go_g4(n),
            procs.from,
            go_g4(quota),
            (throttled * 100.0).round(),
            go_g4(want)
        ),
        inputs: vec![
            setting_input("gomaxprocs", procs),
            limit_input("cpu_limit_cores", quota),
            limit_input("throttled_periods_ratio", throttled),
        ],
        snippet: env_snippet("GOMAXPROCS", &go_g4(want)),
    })
}

fn gogc_raise(i: &TuningInput, s: &RuntimeSettings) -> Option<Tuning> {
    let rate = i.gc_per_second.filter(|r| *r >= GC_OFTEN_PER_SECOND)?;
    let heap = i.figures?.heap_bytes.filter(|h| *h > 0.0)?;
    let (limit, limit_input) = match s
        .gomemlimit_bytes
        .as_ref()
        .and_then(|g| Some((g.value?, g)))
    {
        Some((v, g)) => (v, setting_input("gomemlimit_bytes", g)),
        None => {
            let l = i.memory_limit_bytes.filter(|l| *l > 0.0)?;
            (l, limit_input("memory_limit_bytes", l))
        }
    };
    if heap >= HEAP_FAR_BELOW_SHARE * limit {
        return None;
    }
    let gogc = s.gogc_percent.as_ref();
    // GC off: nothing to raise.
    if gogc.is_some_and(|g| g.value.is_none()) {
        return None;
    }
    let current = gogc.and_then(|g| g.value).unwrap_or(100.0);
    // The heap goal is the live heap × (1 + GOGC/100): grow it to half the limit.
    let want =
        (((GOGC_HEAP_GOAL_SHARE * limit / heap - 1.0) * 100.0 / 50.0).floor() * 50.0).min(GOGC_MAX);
    if want <= current {
        return None;
    }
    let mut snippet = env_snippet("GOGC", &go_g4(want));
    if s.gomemlimit_bytes.is_none() {
        if let Some(l) = i.memory_limit_bytes {
            // A higher GOGC needs the memory limit as a backstop.
            snippet.push_str(&format!(
                "  - name: GOMEMLIMIT\n    value: \"{}MiB\"\n",
                whole_mib(GOMEMLIMIT_SHARE * l)
            ));
        }
    }
    Some(Tuning {
        rule: "gogc_raise",
        text: format!(
            "The GC ran {} times a second while the heap ({}) was under 25 % of its {} limit: with GOGC={} it spends CPU keeping the heap far smaller than it may be. GOGC={} lets the heap grow to about half the limit.",
            go_g4((rate * 10.0).round() / 10.0),
            human_bytes(heap),
            human_bytes(limit),
            go_g4(current),
            go_g4(want)
        ),
        inputs: vec![
            Input {
                name: "gc_per_second",
                value: Some(rate),
                from: "metrics go_gc_duration_seconds_count".into(),
            },
            Input {
                name: "heap_bytes",
                value: Some(heap),
                from: "metrics go_memstats_heap_alloc_bytes".into(),
            },
            limit_input,
            Input {
                name: "gogc_percent",
                value: Some(current),
                from: gogc.map_or("default".into(), |g| g.from.clone()),
            },
        ],
        snippet,
    })
}

fn jvm_heap(i: &TuningInput, s: &RuntimeSettings) -> Option<Tuning> {
    let limit = i.memory_limit_bytes.filter(|l| *l > 0.0)?;
    let pct = s.jvm_max_ram_percentage.as_ref();
    // The max heap: as reported or set, else MaxRAMPercentage (set or the default 25 %) of it.
    let (heap, from) = match s
        .jvm_max_heap_bytes
        .as_ref()
        .and_then(|h| Some((h.value?, h)))
    {
        Some((v, h)) => (v, h.from.clone()),
        None => {
            let p = match pct {
                Some(p) => p.value?,
                None => JVM_DEFAULT_RAM_PERCENTAGE,
            };
            let from = pct.map_or("default: MaxRAMPercentage=25".into(), |p| p.from.clone());
            (p / 100.0 * limit, from)
        }
    };
    let snippet = env_snippet(
        "JAVA_TOOL_OPTIONS",
        &format!("-XX:MaxRAMPercentage={JVM_ADVISED_RAM_PERCENTAGE:.1}"),
    );
    let inputs = vec![
        Input {
            name: "jvm_max_heap_bytes",
            value: Some(heap),
            from,
        },
        limit_input("memory_limit_bytes", limit),
    ];
    let share = heap / limit;
    if share > JVM_NEAR_LIMIT_SHARE {
        return Some(Tuning {
            rule: "jvm_heap_near_limit",
            text: format!(
                "The JVM's max heap ({}) is {} % of the {} memory limit: metaspace, thread stacks, code cache and direct buffers need the rest, and the container is OOM-killed before the heap is full. Lower it to 75 % of the limit.",
                human_bytes(heap),
                (share * 100.0).round(),
                human_bytes(limit)
            ),
            inputs,
            snippet,
        });
    }
    // On the default share only: a heap the user sized stays theirs.
    let defaulted = s.jvm_max_heap_bytes.is_none() && pct.is_none()
        || (share - JVM_DEFAULT_RAM_PERCENTAGE / 100.0).abs() < 0.01;
    let peak = i.working_set_peak_bytes?;
    if defaulted && peak < JVM_LOW_WORKING_SET_SHARE * limit {
        let mut inputs = inputs;
        inputs.push(Input {
            name: "working_set_peak_bytes",
            value: Some(peak),
            from: "history: last 24 h".into(),
        });
        return Some(Tuning {
            rule: "jvm_heap_default_share",
            text: format!(
                "The JVM runs with the default max heap of 25 % of the {} memory limit ({}) and its working set peaked at {} in the last 24 h: three quarters of the limit sit unused while the heap collects early. Raise MaxRAMPercentage to 75.",
                human_bytes(limit),
                human_bytes(heap),
                human_bytes(peak)
            ),
            inputs,
            snippet,
        });
    }
    None
}

fn node_heap_above_limit(i: &TuningInput, s: &RuntimeSettings) -> Option<Tuning> {
    let limit = i.memory_limit_bytes.filter(|l| *l > 0.0)?;
    let set = s.node_max_old_space_bytes.as_ref()?;
    let heap = set.value.filter(|h| *h >= limit)?;
    let mib = whole_mib(NODE_ADVISED_SHARE * limit);
    Some(Tuning {
        rule: "node_heap_above_limit",
        text: format!(
            "Node.js may grow its old space to {} ({}), at or above the {} memory limit: the container is OOM-killed before V8 collects hard or reports a heap out of memory. Set --max-old-space-size to 75 % of the limit ({mib}).",
            human_bytes(heap),
            set.from,
            human_bytes(limit)
        ),
        inputs: vec![
            setting_input("node_max_old_space_bytes", set),
            limit_input("memory_limit_bytes", limit),
        ],
        snippet: env_snippet("NODE_OPTIONS", &format!("--max-old-space-size={mib}")),
    })
}

#[cfg(test)]
#[path = "tuning_tests.rs"]
mod tests;
