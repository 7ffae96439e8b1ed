//! A Prometheus rule file's groups and rules, serialized in the field order of Prometheus's
//! documentation, and the number formatting the generated expressions share.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::units::promql_number;

/// One rule of a rule group, in the field order of Prometheus's documentation.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PromRule {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
    pub expr: String,
    #[serde(rename = "for", skip_serializing_if = "Option::is_none")]
    pub for_: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_firing_for: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        serialize_with = "summary_first"
    )]
    pub annotations: BTreeMap<String, String>,
}

/// Writes annotations in reading order: summary, description, runbook_url, then the rest.
fn summary_first<S: serde::Serializer>(
    map: &BTreeMap<String, String>,
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let rank = |k: &str| match k {
        "summary" => 0,
        "description" => 1,
        "runbook_url" => 2,
        _ => 3,
    };
    let mut entries: Vec<(&String, &String)> = map.iter().collect();
    entries.sort_by_key(|(k, _)| rank(k));
    let mut m = s.serialize_map(Some(entries.len()))?;
    for (k, v) in entries {
        m.serialize_entry(k, v)?;
    }
    m.end()
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    pub name: String,
    pub rules: Vec<PromRule>,
}

/// A ratio printed without float noise (`1 - 0.999` → `0.001`).
pub(crate) fn clean(v: f64) -> String {
    let rounded: f64 = format!("{v:.12e}").parse().unwrap_or(v);
    promql_number(rounded)
}
