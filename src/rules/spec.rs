//! Rule and SLO definitions: the `rules:` and `slos:` sections of the config file, validated
//! while the YAML is read (so an error carries its line), plus the built-in defaults
//! (`defaults.yml`, parsed by the same code).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::signal::Signal;
use super::template;
use crate::config::labels;
use crate::config::yaml::{ConfigError, parse_yaml};
use crate::request::Selector;
use crate::units;

/// The built-in rules and SLOs, as config text.
pub const DEFAULTS_YAML: &str = include_str!("defaults.yml");

/// The built-in defaults file: the two sections of a config file it fills.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Defaults {
    rules: Vec<ThresholdRule>,
    slos: Vec<Slo>,
}

/// Comparison of a signal with a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Gt,
    Ge,
    Lt,
    Le,
}

impl<'de> Deserialize<'de> for Op {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.trim() {
            ">" | "gt" => Ok(Op::Gt),
            ">=" | "ge" => Ok(Op::Ge),
            "<" | "lt" => Ok(Op::Lt),
            "<=" | "le" => Ok(Op::Le),
            "" => Err(serde::de::Error::custom(
                "empty operator: quote it, as in op: \">\" (a bare > or | starts a YAML block)",
            )),
            other => Err(serde::de::Error::custom(format!(
                "unknown operator {other:?}; expected one of \">\", \">=\", \"<\", \"<=\" (or gt, ge, lt, le)"
            ))),
        }
    }
}

impl Op {
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Op::Gt => value > threshold,
            Op::Ge => value >= threshold,
            Op::Lt => value < threshold,
            Op::Le => value <= threshold,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
        }
    }

    fn words(self) -> &'static str {
        match self {
            Op::Gt => "above",
            Op::Ge => "at or above",
            Op::Lt => "below",
            Op::Le => "at or below",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    #[default]
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// A value as written in YAML: a string (`500MiB`) or a number (`1000`, `0.8`).
#[derive(Debug, Clone)]
pub struct Written(pub String);

impl<'de> Deserialize<'de> for Written {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Written;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number or a value with a unit, like 500MiB, 80% or 10k")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Written, E> {
                Ok(Written(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Written, E> {
                Ok(Written(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Written, E> {
                Ok(Written(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Written, E> {
                Ok(Written(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

fn de_opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    s.map(|s| units::parse_duration(&s).map_err(serde::de::Error::custom))
        .transpose()
}

fn de_alert_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    let mut chars = s.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_alphanumeric())
        && s.len() <= 128;
    if ok {
        Ok(s)
    } else {
        Err(serde::de::Error::custom(format!(
            "{s:?} is not a CamelCase alert name (a capital letter, then letters and digits); example: ApiMemoryHigh"
        )))
    }
}

fn de_slo_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    let mut chars = s.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && s.len() <= 64;
    if ok {
        Ok(s)
    } else {
        Err(serde::de::Error::custom(format!(
            "{s:?} is not an SLO name (letters, digits, `_`, `-`, `.`, at most 64); example: api_memory"
        )))
    }
}

/// An error about one field of the entry being converted; `config::parse_file` moves the
/// leading `.field` into the error's field path.
fn at(field: &str, reason: impl fmt::Display) -> String {
    format!(".{field}: {reason}")
}

/// Deserializes a mapping as `Raw`, then validates it into `T` while the mapping is still the
/// node being read, so the YAML error location is the entry's own line (a `try_from` error
/// would be located at the enclosing list).
fn validated<'de, D, Raw, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    Raw: Deserialize<'de>,
    T: TryFrom<Raw, Error = String>,
{
    struct V<Raw, T>(std::marker::PhantomData<(Raw, T)>);
    impl<'de, Raw, T> serde::de::Visitor<'de> for V<Raw, T>
    where
        Raw: Deserialize<'de>,
        T: TryFrom<Raw, Error = String>,
    {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a mapping")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            let raw = Raw::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
            T::try_from(raw).map_err(serde::de::Error::custom)
        }
    }
    d.deserialize_map(V(std::marker::PhantomData))
}

impl<'de> Deserialize<'de> for ThresholdRule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        validated::<D, RuleFile, ThresholdRule>(d)
    }
}

impl<'de> Deserialize<'de> for Slo {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        validated::<D, SloFile, Slo>(d)
    }
}

/// Labels sidewatch or Prometheus set on alerts and SLO series; a rule may not set them.
pub(crate) const RESERVED_RULE_LABELS: &[&str] = &[
    "alertname",
    "alertstate",
    "severity",
    "target",
    "job",
    "instance",
    "slo",
    "window",
];

fn check_targets(targets: &Option<Vec<String>>) -> Result<(), String> {
    if let Some(t) = targets {
        if t.is_empty() {
            return Err(at(
                "targets",
                "an empty list selects no target; omit `targets` to apply to every target",
            ));
        }
        if let Some(i) = t.iter().position(String::is_empty) {
            return Err(at(&format!("targets[{i}]"), "a target name is never empty"));
        }
    }
    Ok(())
}

fn parse_value(signal: Signal, text: &str) -> Result<f64, String> {
    signal.unit().parse(text).map_err(|e| {
        at(
            "value",
            format!("{e} (signal {} is in {})", signal.name(), unit_word(signal)),
        )
    })
}

fn unit_word(signal: Signal) -> &'static str {
    match signal.unit() {
        super::signal::Unit::Bytes => "bytes",
        super::signal::Unit::Ratio => "a ratio",
        super::signal::Unit::Count => "a count",
        super::signal::Unit::Cores => "CPU cores",
        super::signal::Unit::Seconds => "seconds",
    }
}

// ---------------------------------------------------------------------------------------------
// Threshold rules.

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnnotationsFile {
    summary: Option<String>,
    description: Option<String>,
    runbook_url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    #[serde(deserialize_with = "de_alert_name")]
    alert: String,
    signal: Signal,
    op: Op,
    value: Written,
    #[serde(rename = "for", default, deserialize_with = "de_opt_duration")]
    for_: Option<Duration>,
    #[serde(default, deserialize_with = "de_opt_duration")]
    keep_firing_for: Option<Duration>,
    #[serde(default)]
    severity: Severity,
    #[serde(default)]
    targets: Option<Vec<String>>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: AnnotationsFile,
}

/// A threshold rule: alert `alert` on a target while `signal op value` holds for `for`.
/// For counter signals (`restarts`, `oom_kills`) the signal is the counter's increase over the
/// `for` window, and the alert fires as soon as it holds (the window already is the duration).
#[derive(Debug, Clone, PartialEq)]
pub struct ThresholdRule {
    pub alert: String,
    pub signal: Signal,
    pub op: Op,
    pub value: f64,
    /// The threshold as written (`500MiB`).
    pub value_text: String,
    pub for_: Duration,
    pub keep_firing_for: Duration,
    pub severity: Severity,
    /// Target names the rule applies to; `None`: every target.
    pub targets: Option<Vec<String>>,
    pub labels: BTreeMap<String, String>,
    /// `summary`, `description` (defaults filled in) and `runbook_url` when given.
    pub annotations: BTreeMap<String, String>,
}

impl ThresholdRule {
    /// How long the condition must hold before the alert fires.
    pub fn hold(&self) -> Duration {
        if self.signal.is_increase() {
            Duration::ZERO
        } else {
            self.for_
        }
    }

    /// The increase window of a counter signal.
    pub fn window(&self) -> Option<Duration> {
        self.signal.is_increase().then_some(self.for_)
    }

    pub fn applies_to(&self, target: &str) -> bool {
        self.targets
            .as_ref()
            .is_none_or(|t| t.iter().any(|n| n == target))
    }
}

impl TryFrom<RuleFile> for ThresholdRule {
    type Error = String;

    fn try_from(r: RuleFile) -> Result<Self, String> {
        let value = parse_value(r.signal, &r.value.0)?;
        let for_ = match (r.signal.is_increase(), r.for_) {
            (true, None) | (true, Some(Duration::ZERO)) => {
                return Err(at(
                    "for",
                    format!(
                        "signal {} counts increases over the rule's `for` window; give one, e.g. `for: 15m`",
                        r.signal.name()
                    ),
                ));
            }
            (_, f) => f.unwrap_or(Duration::ZERO),
        };
        check_targets(&r.targets)?;
        for (k, v) in &r.labels {
            labels::check_syntax(k).map_err(|e| at(&format!("labels.{k}"), e))?;
            if RESERVED_RULE_LABELS.contains(&k.as_str()) {
                return Err(at(
                    &format!("labels.{k}"),
                    format!(
                        "label {k:?} is set by sidewatch or Prometheus itself (use `severity:` for the severity)"
                    ),
                ));
            }
            if v.contains("{{") {
                return Err(at(
                    &format!("labels.{k}"),
                    "templates are supported in annotations, not in labels",
                ));
            }
        }
        let mut annotations = BTreeMap::new();
        let when = if r.signal.is_increase() {
            format!(" within {}", units::prom_duration(for_))
        } else if for_ > Duration::ZERO {
            format!(" for {}", units::prom_duration(for_))
        } else {
            String::new()
        };
        let shown = r.signal.unit().value_template();
        let summary = r.annotations.summary.unwrap_or_else(|| {
            format!(
                "{} of {{{{ $labels.target }}}} is {} {}",
                capitalize(r.signal.title()),
                r.op.words(),
                r.value.0
            )
        });
        let description = r.annotations.description.unwrap_or_else(|| {
            format!(
                "{} ({}) of target {{{{ $labels.target }}}} is {shown}, {} {}{when}.",
                capitalize(r.signal.title()),
                r.signal.name(),
                r.op.words(),
                r.value.0
            )
        });
        for (k, v) in [
            ("summary", Some(summary)),
            ("description", Some(description)),
            ("runbook_url", r.annotations.runbook_url),
        ] {
            if let Some(v) = v {
                template::validate(&v).map_err(|e| at(&format!("annotations.{k}"), e))?;
                annotations.insert(k.to_string(), v);
            }
        }
        Ok(ThresholdRule {
            alert: r.alert,
            signal: r.signal,
            op: r.op,
            value,
            value_text: r.value.0,
            for_,
            keep_firing_for: r.keep_firing_for.unwrap_or(Duration::ZERO),
            severity: r.severity,
            targets: r.targets,
            labels: r.labels,
            annotations,
        })
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// SLOs.

pub const DEFAULT_SLO_WINDOW: Duration = Duration::from_secs(30 * 86_400);
pub const MIN_SLO_WINDOW: Duration = Duration::from_secs(3600);
pub const MAX_SLO_WINDOW: Duration = Duration::from_secs(90 * 86_400);

#[derive(Debug, Default, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum KindFile {
    #[default]
    Samples,
    Events,
    Latency,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SloFile {
    #[serde(deserialize_with = "de_slo_name")]
    name: String,
    #[serde(default)]
    kind: KindFile,
    signal: Option<Signal>,
    op: Option<Op>,
    value: Option<Written>,
    good: Option<String>,
    total: Option<String>,
    histogram: Option<String>,
    threshold: Option<String>,
    objective: Written,
    #[serde(default, deserialize_with = "de_opt_duration")]
    window: Option<Duration>,
    #[serde(default)]
    targets: Option<Vec<String>>,
    #[serde(default)]
    description: Option<String>,
}

/// What an SLO counts as good and total.
#[derive(Debug, Clone, PartialEq)]
pub enum SloKind {
    /// One sample a tick, good when `signal op value` holds.
    Samples {
        signal: Signal,
        op: Op,
        value: f64,
        /// The threshold as written (`300MiB`).
        value_text: String,
    },
    /// The app's events: the increases of the counters `good` and `total` select.
    Events { good: Selector, total: Selector },
    /// The app's requests at or under `threshold`: the increase of the histogram's bucket at
    /// the threshold (or the largest below it) of the increase of its `_count`. `histogram`
    /// `None`: the first known HTTP histogram the app has.
    Latency {
        histogram: Option<String>,
        threshold: f64,
        threshold_text: String,
    },
}

impl SloKind {
    /// What good/total count: `samples`, `events` or `requests`.
    pub fn counted(&self) -> &'static str {
        match self {
            SloKind::Samples { .. } => "samples",
            SloKind::Events { .. } => "events",
            SloKind::Latency { .. } => "requests",
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            SloKind::Samples { .. } => "samples",
            SloKind::Events { .. } => "events",
            SloKind::Latency { .. } => "latency",
        }
    }
}

/// An SLO: `objective` of the good/total units (samples, or the app's events or requests) over
/// `window` must be good.
#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    pub name: String,
    pub kind: SloKind,
    /// Target ratio of good samples, in (0, 1).
    pub objective: f64,
    pub window: Duration,
    pub targets: Option<Vec<String>>,
    pub description: String,
}

impl Slo {
    pub fn applies_to(&self, target: &str) -> bool {
        self.targets
            .as_ref()
            .is_none_or(|t| t.iter().any(|n| n == target))
    }

    /// The share of samples allowed to be bad.
    pub fn error_budget(&self) -> f64 {
        1.0 - self.objective
    }
}

/// Fields that belong to another kind than the one given.
fn foreign_fields(s: &SloFile) -> Option<&'static str> {
    let samples = s.signal.is_some() || s.op.is_some() || s.value.is_some();
    let events = s.good.is_some() || s.total.is_some();
    let latency = s.histogram.is_some() || s.threshold.is_some();
    match s.kind {
        KindFile::Samples if events || latency => Some("good/total/histogram/threshold"),
        KindFile::Events if samples || latency => Some("signal/op/value/histogram/threshold"),
        KindFile::Latency if samples || events => Some("signal/op/value/good/total"),
        _ => None,
    }
}

fn samples_kind(s: &SloFile) -> Result<SloKind, String> {
    let (Some(signal), Some(op), Some(value)) = (s.signal, s.op, s.value.as_ref()) else {
        return Err(at(
            "signal",
            "a samples SLO needs `signal`, `op` and `value` (or give `kind: events` / `kind: latency`)",
        ));
    };
    if signal.is_increase() {
        return Err(at(
            "signal",
            format!(
                "{} counts events, which an SLO over samples cannot judge; use an alert rule",
                signal.name()
            ),
        ));
    }
    Ok(SloKind::Samples {
        signal,
        op,
        value: parse_value(signal, &value.0)?,
        value_text: value.0.clone(),
    })
}

fn events_kind(s: &SloFile) -> Result<SloKind, String> {
    let sel = |field: &str, v: &Option<String>| {
        let text = v.as_deref().ok_or_else(|| {
            at(
                field,
                "an events SLO needs `good` and `total` selectors, e.g. good: 'http_requests_total{code!~\"5..\"}', total: http_requests_total",
            )
        })?;
        Selector::parse(text).map_err(|e| at(field, e))
    };
    Ok(SloKind::Events {
        good: sel("good", &s.good)?,
        total: sel("total", &s.total)?,
    })
}

fn latency_kind(s: &SloFile) -> Result<SloKind, String> {
    let text = s.threshold.as_deref().ok_or_else(|| {
        at(
            "threshold",
            "a latency SLO needs a `threshold`, e.g. threshold: 200ms",
        )
    })?;
    let threshold = units::parse_seconds(text).map_err(|e| at("threshold", e))?;
    let histogram = match s.histogram.as_deref().map(str::trim) {
        None | Some("auto") => None,
        Some(h) => {
            let base = h.strip_suffix("_bucket").unwrap_or(h);
            if base.contains('{') || Selector::parse(base).is_err() {
                return Err(at(
                    "histogram",
                    format!(
                        "{h:?} is not a histogram name; give its base name, e.g. http_request_duration_seconds (or auto)"
                    ),
                ));
            }
            Some(base.to_string())
        }
    };
    Ok(SloKind::Latency {
        histogram,
        threshold,
        threshold_text: text.to_string(),
    })
}

impl TryFrom<SloFile> for Slo {
    type Error = String;

    fn try_from(s: SloFile) -> Result<Self, String> {
        if let Some(f) = foreign_fields(&s) {
            return Err(at(
                "kind",
                format!(
                    "{f} do not belong to a {} SLO",
                    format!("{:?}", s.kind).to_lowercase()
                ),
            ));
        }
        let kind = match s.kind {
            KindFile::Samples => samples_kind(&s)?,
            KindFile::Events => events_kind(&s)?,
            KindFile::Latency => latency_kind(&s)?,
        };
        let objective = units::parse_ratio(&s.objective.0).map_err(|e| at("objective", e))?;
        if !(objective > 0.0 && objective < 1.0) {
            return Err(at(
                "objective",
                format!(
                    "{} must be above 0% and below 100% (100% leaves no error budget); example: 99.9%",
                    s.objective.0
                ),
            ));
        }
        let window = s.window.unwrap_or(DEFAULT_SLO_WINDOW);
        if !(MIN_SLO_WINDOW..=MAX_SLO_WINDOW).contains(&window) {
            return Err(at(
                "window",
                format!(
                    "{} is outside 1h..90d; the usual window is 30d",
                    units::prom_duration(window)
                ),
            ));
        }
        check_targets(&s.targets)?;
        let description = s.description.unwrap_or_else(|| match &kind {
            SloKind::Samples {
                signal,
                op,
                value_text,
                ..
            } => format!("{} {} {value_text}", signal.name(), op.as_str()),
            SloKind::Events { good, total } => format!("{} / {}", good.text, total.text),
            SloKind::Latency {
                histogram,
                threshold_text,
                ..
            } => format!(
                "requests of {} at or under {threshold_text}",
                histogram
                    .as_deref()
                    .unwrap_or("the detected HTTP histogram")
            ),
        });
        Ok(Slo {
            name: s.name,
            kind,
            objective,
            window,
            targets: s.targets,
            description,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The effective set.

/// The rules and SLOs in force: the config's sections, or the built-in defaults for a section
/// the config does not have (`rules: []` turns the rules off).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RuleSet {
    pub rules: Vec<ThresholdRule>,
    pub slos: Vec<Slo>,
    /// Whether the rules (SLOs) are the built-in defaults.
    pub default_rules: bool,
    pub default_slos: bool,
}

impl RuleSet {
    /// The built-in defaults (both sections).
    pub fn builtin() -> Result<RuleSet, ConfigError> {
        RuleSet::from_config(None, None, None)
    }

    /// Validates the sections read from `file` and fills the missing ones with the defaults.
    pub fn from_config(
        rules: Option<&[ThresholdRule]>,
        slos: Option<&[Slo]>,
        file: Option<&Path>,
    ) -> Result<RuleSet, ConfigError> {
        let defaults = if rules.is_none() || slos.is_none() {
            let d: Defaults = parse_yaml(DEFAULTS_YAML, Some(Path::new("(built-in defaults)")))?;
            Some((d.rules, d.slos))
        } else {
            None
        };
        let (default_rules, default_slos) = defaults.unwrap_or_default();
        let set = RuleSet {
            default_rules: rules.is_none(),
            default_slos: slos.is_none(),
            rules: rules.map_or(default_rules, <[_]>::to_vec),
            slos: slos.map_or(default_slos, <[_]>::to_vec),
        };
        let file = if set.default_rules && set.default_slos {
            Some(Path::new("(built-in defaults)"))
        } else {
            file
        };
        let mut seen = BTreeMap::new();
        for (i, r) in set.rules.iter().enumerate() {
            if let Some(j) = seen.insert((r.alert.as_str(), r.severity), i) {
                return Err(ConfigError::new(
                    file,
                    format!("rules[{i}].severity"),
                    format!(
                        "rules[{j}] already defines alert {} with severity {}; one alert name has at most one rule per severity",
                        r.alert,
                        r.severity.as_str()
                    ),
                ));
            }
        }
        let mut names = BTreeSet::new();
        for (i, s) in set.slos.iter().enumerate() {
            if !names.insert(s.name.as_str()) {
                return Err(ConfigError::new(
                    file,
                    format!("slos[{i}].name"),
                    format!("duplicate SLO name {:?}", s.name),
                ));
            }
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<RuleSet, ConfigError> {
        let f = crate::config::parse_file(yaml, Some(Path::new("c.yml")))?;
        RuleSet::from_config(
            f.rules.as_deref(),
            f.slos.as_deref(),
            Some(Path::new("c.yml")),
        )
    }

    #[test]
    fn builtin_defaults_parse_and_follow_the_design_table() {
        let d = RuleSet::builtin().unwrap();
        assert!(d.default_rules && d.default_slos);
        let rule = |name: &str, sev: Severity| {
            d.rules
                .iter()
                .find(|r| r.alert == name && r.severity == sev)
                .unwrap_or_else(|| panic!("{name} {sev:?}"))
        };
        let m = rule("SidewatchMemoryHigh", Severity::Warning);
        assert_eq!(
            (m.signal, m.op, m.value),
            (
                Signal::MemoryWorkingSetBytes,
                Op::Gt,
                500.0 * 1024.0 * 1024.0
            )
        );
        assert_eq!(rule("SidewatchCPUHigh", Severity::Warning).value, 0.8);
        assert_eq!(
            rule("SidewatchThreadsHigh", Severity::Warning).value,
            10_000.0
        );
        let r = rule("SidewatchTargetRestarts", Severity::Warning);
        assert_eq!((r.op, r.value, r.hold()), (Op::Gt, 0.0, Duration::ZERO));
        assert_eq!(r.window(), Some(Duration::from_secs(900)));
        assert_eq!(rule("SidewatchOOMKills", Severity::Warning).value, 0.0);
        assert_eq!(rule("SidewatchTargetDown", Severity::Critical).op, Op::Lt);
        let g = rule("SidewatchGoroutinesHigh", Severity::Warning);
        assert_eq!(
            (g.signal, g.value, g.for_),
            (Signal::RuntimeTasks, 10_000.0, Duration::from_secs(300))
        );
        assert_eq!(
            rule("SidewatchGoroutinesHigh", Severity::Critical).value,
            20_000.0
        );
        let h = rule("SidewatchHeapHigh", Severity::Warning);
        assert_eq!(
            (h.signal, h.value, h.for_),
            (
                Signal::RuntimeHeapBytes,
                500.0 * 1024.0 * 1024.0,
                Duration::from_secs(300)
            )
        );
        let level = |n: &str, sev| {
            let r = rule(n, sev);
            (r.signal, r.op, r.value, r.for_)
        };
        let m5 = Duration::from_secs(300);
        let m2 = Duration::from_secs(120);
        assert_eq!(
            level("SidewatchLatencyHigh", Severity::Warning),
            (Signal::HttpLatencyP95Seconds, Op::Gt, 0.2, m5)
        );
        assert_eq!(level("SidewatchLatencyHigh", Severity::Critical).2, 0.5);
        assert_eq!(
            level("SidewatchErrorRateHigh", Severity::Warning),
            (Signal::HttpErrorRatio, Op::Gt, 0.01, m5)
        );
        assert_eq!(level("SidewatchErrorRateHigh", Severity::Critical).2, 0.05);
        assert_eq!(
            level("SidewatchProbeFailing", Severity::Warning),
            (Signal::ProbeSuccessRatio, Op::Lt, 0.9, m2)
        );
        assert_eq!(
            level("SidewatchProbeFailing", Severity::Critical),
            (Signal::ProbeSuccessRatio, Op::Le, 0.0, m2)
        );
        // Every condition has its warning and critical level under one name (except target down).
        for r in &d.rules {
            if r.alert != "SidewatchTargetDown" {
                rule(&r.alert, Severity::Warning);
                rule(&r.alert, Severity::Critical);
            }
            assert!(r.annotations["runbook_url"].ends_with(&r.alert.to_lowercase()));
        }
        let slo = |n: &str| {
            let s = d.slos.iter().find(|s| s.name == n).unwrap();
            match s.kind {
                SloKind::Samples { op, value, .. } => (op, value),
                _ => panic!("{n} is not a samples SLO"),
            }
        };
        assert_eq!(slo("memory").1, 300.0 * 1024.0 * 1024.0);
        assert_eq!(slo("cpu").1, 0.5);
        assert_eq!(slo("threads").1, 1000.0);
        assert_eq!(slo("memory_limit").1, 0.8);
        assert_eq!(slo("io_pressure").1, 0.7);
        assert!(
            d.slos
                .iter()
                .filter(|s| !matches!(s.name.as_str(), "latency" | "probe"))
                .all(|s| slo(&s.name).0 == Op::Lt
                    && s.objective == 0.99
                    && s.window == DEFAULT_SLO_WINDOW)
        );
        assert_eq!(slo("probe"), (Op::Ge, 1.0));
        let latency = d.slos.iter().find(|s| s.name == "latency").unwrap();
        assert_eq!(
            (latency.objective, latency.window),
            (0.95, DEFAULT_SLO_WINDOW)
        );
        assert!(matches!(
            latency.kind,
            SloKind::Latency { histogram: None, threshold, .. } if threshold == 0.2
        ));
        assert!(matches!(
            d.slos.iter().find(|s| s.name == "tasks").unwrap().kind,
            SloKind::Samples { signal: Signal::RuntimeTasks, value, .. } if value == 1000.0
        ));
    }

    #[test]
    fn sections_default_independently() {
        let s = parse("rules: []\n").unwrap();
        assert!(s.rules.is_empty() && !s.default_rules);
        assert!(s.default_slos && s.slos.len() == 8);
        let s = parse("slos: []\n").unwrap();
        assert!(s.default_rules && s.slos.is_empty());
    }

    #[test]
    fn a_rule_with_defaults_filled_in() {
        let s = parse(
            "rules:\n  - alert: ApiMemoryHigh\n    signal: memory_rss_bytes\n    op: '>'\n    value: 1.5GiB\n    for: 2m\n    keep_firing_for: 30s\n    targets: [api]\n    labels: {team: pay}\nslos: []\n",
        )
        .unwrap();
        let r = &s.rules[0];
        assert_eq!(r.value, 1_610_612_736.0);
        assert_eq!(r.value_text, "1.5GiB");
        assert_eq!(r.for_, Duration::from_secs(120));
        assert_eq!(r.keep_firing_for, Duration::from_secs(30));
        assert_eq!(r.severity, Severity::Warning);
        assert!(r.applies_to("api") && !r.applies_to("db"));
        assert_eq!(
            r.annotations["summary"],
            "Resident memory of {{ $labels.target }} is above 1.5GiB"
        );
        assert_eq!(
            r.annotations["description"],
            "Resident memory (memory_rss_bytes) of target {{ $labels.target }} is {{ $value | humanize1024 }}B, above 1.5GiB for 2m."
        );
        assert!(!r.annotations.contains_key("runbook_url"));
    }

    #[test]
    fn operators_in_symbols_or_words() {
        let s = parse("rules:\n  - {alert: A, signal: threads, op: ge, value: 10k}\n  - {alert: B, signal: threads, op: '<', value: 1}\nslos: []\n").unwrap();
        assert_eq!((s.rules[0].op, s.rules[0].value), (Op::Ge, 10_000.0));
        assert!(s.rules[0].op.holds(10_000.0, 10_000.0));
        assert!(!Op::Gt.holds(1.0, 1.0) && Op::Lt.holds(0.0, 1.0) && Op::Le.holds(1.0, 1.0));
    }

    #[test]
    fn value_errors_name_the_field_and_line() {
        let e = parse(
            "rules:\n  - alert: A\n    signal: memory_rss_bytes\n    op: '>'\n    value: 500XB\n",
        )
        .unwrap_err();
        assert_eq!(e.field, "rules[0].value");
        assert_eq!(e.line, Some(2));
        assert_eq!(
            e.reason,
            "\"500XB\" is not a size; examples: 500MiB, 1.5GiB, 1GB, 524288000 (signal memory_rss_bytes is in bytes)"
        );
        let e =
            parse("rules:\n  - {alert: A, signal: cpu_utilization_ratio, op: '>', value: 80}\n")
                .unwrap_err();
        assert_eq!(e.field, "rules[0].value");
        assert!(e.reason.contains("did you mean 80%?"), "{}", e.reason);
        // The line is the entry's own, not the list's.
        let e = parse(
            "rules:\n  - {alert: A, signal: threads, op: '>', value: 1}\n  - alert: B\n    signal: threads\n    op: '>'\n    value: 1x\n",
        )
        .unwrap_err();
        assert_eq!((e.field.as_str(), e.line), ("rules[1].value", Some(3)));
    }

    #[test]
    fn field_errors_are_precise() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "rules:\n  - {alert: memory_high, signal: threads, op: '>', value: 1}\n",
                "rules[0].alert",
                "is not a CamelCase alert name",
            ),
            (
                "rules:\n  - {alert: A, signal: thread, op: '>', value: 1}\n",
                "rules[0].signal",
                "unknown variant `thread`",
            ),
            (
                "rules:\n  - {alert: A, signal: threads, op: '=>', value: 1}\n",
                "rules[0].op",
                "unknown operator \"=>\"; expected one of \">\", \">=\", \"<\", \"<=\"",
            ),
            (
                "rules:\n  - alert: A\n    signal: threads\n    op: >\n    value: 1\n",
                "rules[0].op",
                "quote it, as in op: \">\"",
            ),
            (
                "rules:\n  - {alert: A, signal: threads, op: '>', value: 1, severity: page}\n",
                "rules[0].severity",
                "expected one of `critical`, `warning`, `info`",
            ),
            (
                "rules:\n  - {alert: A, signal: threads, op: '>', value: 1, for: soon}\n",
                "rules[0].for",
                "invalid duration",
            ),
            (
                "rules:\n  - {alert: A, signal: restarts, op: '>', value: 0}\n",
                "rules[0].for",
                "give one, e.g. `for: 15m`",
            ),
            (
                "rules:\n  - {alert: A, signal: threads, op: '>', value: 1, labels: {severity: x}}\n",
                "rules[0].labels.severity",
                "set by sidewatch",
            ),
            (
                "rules:\n  - {alert: A, signal: threads, op: '>', value: 1, annotations: {summary: '{{ .Value }}'}}\n",
                "rules[0].annotations.summary",
                "unsupported template",
            ),
            (
                "rules:\n  - {alert: A, signal: threads, op: '>', value: 1, annotations: {sumary: x}}\n",
                "rules[0].annotations.sumary",
                "unknown field `sumary`",
            ),
            (
                "rules:\n  - {alert: A, signal: threads, op: '>', value: 1, targets: []}\n",
                "rules[0].targets",
                "selects no target",
            ),
            (
                "rules:\n  - {alert: A, signal: threads, op: '>', value: 1}\n  - {alert: A, signal: open_fds, op: '>', value: 1}\n",
                "rules[1].severity",
                "rules[0] already defines alert A with severity warning",
            ),
            (
                "slos:\n  - {name: m, signal: threads, op: '<', value: 10, objective: 100%}\n",
                "slos[0].objective",
                "must be above 0% and below 100%",
            ),
            (
                "slos:\n  - {name: m, signal: threads, op: '<', value: 10, objective: 99%, window: 5m}\n",
                "slos[0].window",
                "outside 1h..90d",
            ),
            (
                "slos:\n  - {name: m, signal: restarts, op: '<', value: 1, objective: 99%}\n",
                "slos[0].signal",
                "use an alert rule",
            ),
            (
                "slos:\n  - {name: 'a b', signal: threads, op: '<', value: 1, objective: 99%}\n",
                "slos[0].name",
                "is not an SLO name",
            ),
            (
                "slos:\n  - {name: a, signal: threads, op: '<', value: 1, objective: 99%}\n  - {name: a, signal: threads, op: '<', value: 2, objective: 99%}\n",
                "slos[1].name",
                "duplicate SLO name",
            ),
            (
                "slos:\n  - {name: a, kind: events, good: x_total, objective: 99%}\n",
                "slos[0].total",
                "needs `good` and `total`",
            ),
            (
                "slos:\n  - {name: a, kind: events, good: 'x{code=5}', total: x, objective: 99%}\n",
                "slos[0].good",
                "must be in double quotes",
            ),
            (
                "slos:\n  - {name: a, kind: latency, objective: 99%}\n",
                "slos[0].threshold",
                "needs a `threshold`",
            ),
            (
                "slos:\n  - {name: a, kind: latency, threshold: fast, objective: 99%}\n",
                "slos[0].threshold",
                "fast",
            ),
            (
                "slos:\n  - {name: a, kind: latency, threshold: 1s, histogram: 'h{a=\"b\"}', objective: 99%}\n",
                "slos[0].histogram",
                "is not a histogram name",
            ),
            (
                "slos:\n  - {name: a, kind: events, signal: threads, good: x, total: x, objective: 99%}\n",
                "slos[0].kind",
                "do not belong to a events SLO",
            ),
            (
                "slos:\n  - {name: a, objective: 99%}\n",
                "slos[0].signal",
                "needs `signal`, `op` and `value`",
            ),
        ];
        for (yaml, field, reason) in cases {
            let e = parse(yaml).unwrap_err();
            assert_eq!(&e.field, field, "{yaml}: {e}");
            assert!(e.reason.contains(reason), "{yaml}: {e}");
        }
    }
}
