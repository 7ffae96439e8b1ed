//! A target's `profiles:` section (pprof captures on triggers), as written and validated. The
//! spike rules use mosn/holmes's vocabulary: a minimum, an absolute level, a rise (`diff`) over
//! the mean of the last ticks, a cooldown.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::profiles::store::Budget;
use crate::profiles::trigger::Spike;
use crate::profiles::{Kind, ProfileSpec};
use crate::rules::signal::Unit;
use crate::rules::spec::Written;

/// Where profiles go without `dir`: the `emptyDir` of the Kubernetes manifests.
pub const DEFAULT_DIR: &str = "/var/lib/sidewatch/profiles";
const DEFAULT_MAX_FILES: usize = 20;
const DEFAULT_MAX_BYTES: u64 = 64 * 1024 * 1024;
const DEFAULT_MAX_PROFILE_BYTES: u64 = 16 * 1024 * 1024;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_COOLDOWN: Duration = Duration::from_secs(600);
const DEFAULT_FOLLOWUP: Duration = Duration::from_secs(300);
/// holmes's default moving window (10 collections).
const DEFAULT_SPIKE_TICKS: usize = 10;
/// Longest CPU profile: it runs in the application for that long.
const MAX_CPU_SECONDS: u64 = 60;

/// `profiles:` as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfilesFile {
    /// The pprof base URL, e.g. `http://127.0.0.1:6060/debug/pprof`.
    pub url: String,
    pub dir: Option<PathBuf>,
    pub max_files: Option<usize>,
    #[serde(default, deserialize_with = "super::app::de_opt_size")]
    pub max_bytes: Option<u64>,
    #[serde(default, deserialize_with = "super::app::de_opt_size")]
    pub max_profile_bytes: Option<u64>,
    #[serde(default, deserialize_with = "crate::config::yaml::de_opt_duration")]
    pub timeout: Option<Duration>,
    /// Seconds of a CPU profile; absent: no CPU profiles.
    pub cpu_seconds: Option<u64>,
    #[serde(default, deserialize_with = "crate::config::yaml::de_opt_duration")]
    pub heap_followup: Option<Duration>,
    #[serde(default)]
    pub on_alerts: Vec<String>,
    pub alert_kinds: Option<Vec<Kind>>,
    #[serde(default, deserialize_with = "crate::config::yaml::de_opt_duration")]
    pub cooldown: Option<Duration>,
    #[serde(default)]
    pub on_leak: bool,
    pub goroutines: Option<SpikeFile>,
    pub heap: Option<SpikeFile>,
    pub cpu: Option<SpikeFile>,
}

/// A spike rule as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpikeFile {
    pub min: Option<Written>,
    pub abs: Option<Written>,
    /// Rise over the mean, e.g. `25%`.
    pub diff: Option<Written>,
    pub ticks: Option<usize>,
    #[serde(default, deserialize_with = "crate::config::yaml::de_opt_duration")]
    pub cooldown: Option<Duration>,
}

type Invalid = (String, String);

/// Validates `profiles:`; errors are `(field under profiles, reason)`.
pub fn validate(p: &ProfilesFile) -> Result<ProfileSpec, Invalid> {
    let err = |f: &str, r: String| Err((f.to_string(), r));
    let url = p.url.trim_end_matches('/').to_string();
    match url.parse::<hyper::Uri>() {
        Ok(u) if u.scheme_str() == Some("http") && u.host().is_some() && u.query().is_none() => {}
        _ => {
            return err(
                "url",
                format!(
                    "{:?}: give the http:// pprof base URL, e.g. http://127.0.0.1:6060/debug/pprof",
                    p.url
                ),
            );
        }
    }
    let budget = Budget {
        max_files: p.max_files.unwrap_or(DEFAULT_MAX_FILES),
        max_bytes: p.max_bytes.unwrap_or(DEFAULT_MAX_BYTES),
    };
    if budget.max_files == 0 {
        return err("max_files", "must be at least 1".into());
    }
    let max_profile_bytes = p.max_profile_bytes.unwrap_or(DEFAULT_MAX_PROFILE_BYTES);
    if max_profile_bytes == 0 || max_profile_bytes > budget.max_bytes {
        return err(
            "max_profile_bytes",
            format!(
                "{max_profile_bytes}: give more than 0 and at most max_bytes ({})",
                budget.max_bytes
            ),
        );
    }
    let timeout = p.timeout.unwrap_or(DEFAULT_TIMEOUT);
    if timeout.is_zero() {
        return err("timeout", "must be more than 0".into());
    }
    if let Some(s) = p.cpu_seconds.filter(|s| *s == 0 || *s > MAX_CPU_SECONDS) {
        return err("cpu_seconds", format!("{s}: give 1 to {MAX_CPU_SECONDS}"));
    }
    let alert_kinds = p
        .alert_kinds
        .clone()
        .unwrap_or_else(|| vec![Kind::Heap, Kind::Goroutine]);
    if alert_kinds.contains(&Kind::Cpu) && p.cpu_seconds.is_none() {
        return err(
            "alert_kinds",
            "cpu needs cpu_seconds (a CPU profile costs the application CPU: opt in)".into(),
        );
    }
    if p.cpu.is_some() && p.cpu_seconds.is_none() {
        return err(
            "cpu",
            "a CPU spike captures a CPU profile: set cpu_seconds to opt in".into(),
        );
    }
    let mut alerts = p.on_alerts.clone();
    alerts.dedup();
    Ok(ProfileSpec {
        url,
        dir: p.dir.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_DIR)),
        budget,
        timeout,
        max_profile_bytes,
        cpu_seconds: p.cpu_seconds,
        heap_followup: p.heap_followup.unwrap_or(DEFAULT_FOLLOWUP),
        alerts,
        alert_kinds,
        cooldown: p.cooldown.unwrap_or(DEFAULT_COOLDOWN),
        leak: p.on_leak,
        goroutines: spike(p.goroutines.as_ref(), "goroutines", Unit::Count)?,
        heap: spike(p.heap.as_ref(), "heap", Unit::Bytes)?,
        cpu: spike(p.cpu.as_ref(), "cpu", Unit::Cores)?,
    })
}

fn spike(s: Option<&SpikeFile>, field: &str, unit: Unit) -> Result<Option<Spike>, Invalid> {
    let Some(s) = s else { return Ok(None) };
    let parse = |v: &Option<Written>, sub: &str, unit: Unit| {
        v.as_ref()
            .map(|w| unit.parse(&w.0))
            .transpose()
            .map_err(|r| (format!("{field}.{sub}"), r))
    };
    let abs = parse(&s.abs, "abs", unit)?;
    // A rise may exceed 100 %: `diff` is read as a percentage or a plain ratio of any size.
    let rise_ratio = match &s.diff {
        None => None,
        Some(w) => Some(parse_rise(&w.0).map_err(|r| (format!("{field}.diff"), r))?),
    };
    if abs.is_none() && rise_ratio.is_none() {
        return Err((field.into(), "give abs, diff or both".into()));
    }
    let ticks = s.ticks.unwrap_or(DEFAULT_SPIKE_TICKS);
    if ticks == 0 {
        return Err((format!("{field}.ticks"), "must be at least 1".into()));
    }
    Ok(Some(Spike {
        min: parse(&s.min, "min", unit)?.unwrap_or(0.0),
        abs,
        rise_ratio,
        ticks,
        cooldown: s.cooldown.unwrap_or(DEFAULT_COOLDOWN),
    }))
}

fn parse_rise(s: &str) -> Result<f64, String> {
    let bad = || format!("{s:?} is not a rise; examples: 25%, 100%, 0.5");
    let v: f64 = match s.trim().strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map_err(|_| bad())? / 100.0,
        None => s.trim().parse().map_err(|_| bad())?,
    };
    if !v.is_finite() || v < 0.0 {
        return Err(bad());
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<ProfileSpec, Invalid> {
        validate(&serde_yaml_ng::from_str::<ProfilesFile>(yaml).unwrap())
    }

    #[test]
    fn defaults_and_units() {
        let s = parse(
            "url: http://127.0.0.1:6060/debug/pprof/\ngoroutines: {min: 1k, abs: 10k, diff: 150%}\nheap: {abs: 1GiB, cooldown: 1m}\n",
        )
        .unwrap();
        assert_eq!(s.url, "http://127.0.0.1:6060/debug/pprof");
        assert_eq!(s.dir, PathBuf::from(DEFAULT_DIR));
        assert_eq!(s.alert_kinds, [Kind::Heap, Kind::Goroutine]);
        let g = s.goroutines.unwrap();
        assert_eq!(
            (g.min, g.abs, g.rise_ratio),
            (1000.0, Some(10_000.0), Some(1.5))
        );
        assert_eq!(g.ticks, DEFAULT_SPIKE_TICKS);
        let h = s.heap.unwrap();
        assert_eq!(h.abs, Some(1024.0 * 1024.0 * 1024.0));
        assert_eq!(h.cooldown, Duration::from_secs(60));
    }

    #[test]
    fn errors_name_the_field() {
        let field = |y: &str| parse(y).unwrap_err().0;
        assert_eq!(field("url: ftp://h/x"), "url");
        assert_eq!(field("url: http://h/p\ncpu: {abs: 2}"), "cpu");
        assert_eq!(field("url: http://h/p\nalert_kinds: [cpu]"), "alert_kinds");
        assert_eq!(field("url: http://h/p\ncpu_seconds: 0"), "cpu_seconds");
        assert_eq!(field("url: http://h/p\nheap: {min: 1}"), "heap");
        assert_eq!(field("url: http://h/p\nheap: {abs: lots}"), "heap.abs");
        assert_eq!(
            field("url: http://h/p\ngoroutines: {diff: x%}"),
            "goroutines.diff"
        );
        assert_eq!(
            field("url: http://h/p\nmax_bytes: 1MiB\nmax_profile_bytes: 2MiB"),
            "max_profile_bytes"
        );
        assert_eq!(field("url: http://h/p\nmax_files: 0"), "max_files");
    }
}
