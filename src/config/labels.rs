//! Which names a target's constant labels may take. A constant label is added to every series of
//! its target, so a name that one of sidewatch's own families already uses (`slo`, `severity`,
//! `mode`, ...) gives that family's samples a duplicate label name, and Prometheus then rejects
//! the whole scrape. [`RESERVED`] lists every such name with a family that uses it; a test
//! renders every family the daemon can produce and checks the list against the body.

use std::collections::BTreeMap;

use serde::Deserializer;
use serde::de::{MapAccess, Visitor};

/// Who sets a reserved label name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// A sidewatch family, named as its samples appear in the text format.
    Family(&'static str),
    /// Prometheus itself (scrape-time target labels, summary quantiles).
    Prometheus(&'static str),
}

/// Every label name some sidewatch series or Prometheus sets, with one family that uses it.
pub const RESERVED: &[(&str, Owner)] = &[
    ("target", Owner::Family("sidewatch_target_up")),
    ("pid", Owner::Family("sidewatch_target_info")),
    ("comm", Owner::Family("sidewatch_target_info")),
    ("mode", Owner::Family("sidewatch_process_cpu_seconds_total")),
    (
        "kind",
        Owner::Family("sidewatch_process_context_switches_total"),
    ),
    (
        "cgroup",
        Owner::Family("sidewatch_cgroup_memory_usage_bytes"),
    ),
    ("path", Owner::Family("sidewatch_cgroup_info")),
    ("version", Owner::Family("sidewatch_cgroup_info")),
    ("revision", Owner::Family("sidewatch_build_info")),
    ("runtime", Owner::Family("sidewatch_runtime_info")),
    (
        "resource",
        Owner::Family("sidewatch_cgroup_pressure_waiting_seconds_total"),
    ),
    ("alertname", Owner::Family("sidewatch_alert")),
    ("alertstate", Owner::Family("sidewatch_alert")),
    ("severity", Owner::Family("sidewatch_alert")),
    ("slo", Owner::Family("sidewatch_slo_samples_total")),
    ("window", Owner::Family("sidewatch_slo_burn_rate")),
    ("source", Owner::Family("sidewatch_read_errors_total")),
    ("result", Owner::Family("sidewatch_probe_requests_total")),
    ("reason", Owner::Family("sidewatch_probe_requests_total")),
    ("rule", Owner::Family("sidewatch_advice")),
    (
        "le",
        Owner::Family("sidewatch_tick_duration_seconds_bucket"),
    ),
    (
        "quantile",
        Owner::Prometheus("is reserved for the quantiles of summaries"),
    ),
    (
        "job",
        Owner::Prometheus("is set by Prometheus on every series it scrapes"),
    ),
    (
        "instance",
        Owner::Prometheus("is set by Prometheus on every series it scrapes"),
    ),
];

/// Why `name` cannot be a constant label name, if it cannot.
pub fn check_name(name: &str) -> Result<(), String> {
    check_syntax(name)?;
    match RESERVED.iter().find(|(n, _)| *n == name) {
        Some((_, Owner::Family(family))) => Err(format!(
            "label name {name:?} is used by sidewatch's own series (family {family}); pick another name"
        )),
        Some((_, Owner::Prometheus(why))) => {
            Err(format!("label name {name:?} {why}; pick another name"))
        }
        None => Ok(()),
    }
}

/// Why `name` is not a label name a user may set (invalid, or `__` reserved), if it is not.
pub fn check_syntax(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!(
            "{name:?} is not a valid Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)"
        ));
    }
    if name.starts_with("__") {
        return Err(format!(
            "label name {name:?} starts with __, which Prometheus reserves for internal use"
        ));
    }
    Ok(())
}

/// Deserializes a `labels:` map, refusing a bad name while the YAML parser still knows where the
/// map is (the error's line is the map's first line; its field names the label).
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    d.deserialize_map(LabelsVisitor)
}

struct LabelsVisitor;

impl<'de> Visitor<'de> for LabelsVisitor {
    type Value = BTreeMap<String, String>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a map of label names to values")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut labels = BTreeMap::new();
        while let Some(k) = map.next_key::<String>()? {
            check_name(&k).map_err(|reason| {
                // ".name: reason" makes config::parse_yaml report the field as `labels.name`
                // (it can only do so for a name without spaces or colons).
                let msg = if k.contains([' ', ':']) {
                    reason
                } else {
                    format!(".{k}: {reason}")
                };
                serde::de::Error::custom(msg)
            })?;
            let v: String = map.next_value()?;
            labels.insert(k, v);
        }
        Ok(labels)
    }
}

#[cfg(test)]
#[path = "labels_tests.rs"]
mod tests;
