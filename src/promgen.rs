//! `sidewatch rules`: the rules and SLOs in force rendered as Prometheus rule groups (or a
//! prometheus-operator `PrometheusRule`), so Prometheus alerts on the same definitions the
//! daemon evaluates in-process.
//!
//! - Each threshold rule becomes an alert whose expression computes the signal from sidewatch's
//!   metrics ([`crate::rules::Signal::promql`]) with the same operator, threshold, `for`, `keep_firing_for`,
//!   severity, labels and annotations.
//! - Each SLO becomes recording rules for its error ratio over 5m, 30m, 1h, 2h, 6h, 1d and 3d,
//!   computed from the daemon's own good/total sample counters (`1 - rate(good) / rate(total)`,
//!   the same "good sample" the daemon counts), and one multi-window multi-burn-rate alert
//!   with a critical (page) and a warning (ticket) rule, as in the Google SRE workbook.
//! - Always: `SidewatchExporterDown` and `SidewatchExporterAbsent` for the scrape job, and the
//!   predictive `SidewatchMemoryFillingUp` (working set heading for the cgroup limit within 4 h).
//! - Always: the fleet rollup ([`fleet`]), one recommendation per workload from every Pod's.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::rules::{RuleSet, Slo, SloKind, ThresholdRule};
use crate::units::{prom_duration, promql_number};

pub mod fleet;
pub mod rule;

use rule::clean;
pub use rule::{Group, PromRule};

use crate::rules::spec::DEFAULT_RUNBOOK_BASE as RUNBOOK_BASE_URL;

/// The scrape job sidewatch is expected under, unless `--job` says otherwise.
pub const DEFAULT_JOB: &str = "sidewatch";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// A Prometheus rule file (`groups:`).
    #[default]
    Rules,
    /// A prometheus-operator `PrometheusRule` resource.
    PrometheusRule,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub format: Format,
    /// The `job` label of the scrape job that scrapes sidewatch.
    pub job: String,
    /// Replaces the repository path of the runbook links, e.g. with the runbooks' URL on the
    /// forge or wiki the alert receivers can open.
    pub runbook_base: String,
    /// The labels the fleet rollup groups Pods into workloads by.
    pub workload_labels: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            format: Format::Rules,
            job: DEFAULT_JOB.into(),
            runbook_base: RUNBOOK_BASE_URL.into(),
            workload_labels: fleet::DEFAULT_WORKLOAD_LABELS.map(String::from).to_vec(),
        }
    }
}

#[derive(Debug, Serialize)]
struct RuleFile<'a> {
    groups: &'a [Group],
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PrometheusRule<'a> {
    api_version: &'static str,
    kind: &'static str,
    metadata: Metadata,
    spec: RuleFile<'a>,
}

#[derive(Debug, Serialize)]
struct Metadata {
    name: &'static str,
    labels: BTreeMap<&'static str, &'static str>,
}

// ---------------------------------------------------------------------------------------------
// Expressions.

/// Escapes a string for a PromQL double-quoted literal.
fn promql_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Label matchers selecting a rule's targets: none for every target, `target="a"` for one,
/// `target=~"a|b"` (names regex-escaped) for several.
pub fn target_matchers(targets: Option<&[String]>) -> Vec<String> {
    match targets {
        None => Vec::new(),
        Some([one]) => vec![format!("target={}", promql_string(one))],
        Some(many) => {
            let alternatives: Vec<String> = many.iter().map(|t| regex_lite::escape(t)).collect();
            vec![format!(
                "target=~{}",
                promql_string(&alternatives.join("|"))
            )]
        }
    }
}

/// The alert expression of a threshold rule: `<signal> <op> <value>`.
pub fn alert_expr(rule: &ThresholdRule) -> String {
    let m = target_matchers(rule.targets.as_deref());
    format!(
        "{} {} {}",
        rule.signal.promql(&m, rule.window().unwrap_or_default()),
        rule.op.as_str(),
        promql_number(rule.value)
    )
}

/// The PromQL of an SLO's good-sample condition on the live signal (for reference; the SLO
/// rules use the daemon's counters, which count exactly these samples). For events and latency
/// SLOs: the good ratio over the app's own series, for a Prometheus that scrapes the app too.
pub fn slo_condition_expr(slo: &Slo) -> String {
    let m = target_matchers(slo.targets.as_deref());
    match &slo.kind {
        SloKind::Samples {
            signal, op, value, ..
        } => format!(
            "{} {} {}",
            signal.promql(&m, Default::default()),
            op.as_str(),
            promql_number(*value)
        ),
        SloKind::Events { good, total } => format!(
            "sum(rate({}[5m])) / sum(rate({}[5m]))",
            good.text, total.text
        ),
        SloKind::Latency {
            histogram,
            threshold,
            ..
        } => {
            let h = histogram
                .as_deref()
                .unwrap_or(crate::request::KNOWN_HTTP_HISTOGRAMS[0].0);
            format!(
                "sum(rate({h}_bucket{{le={}}}[5m])) / sum(rate({h}_count[5m]))",
                promql_string(&crate::request::le_text(*threshold))
            )
        }
        SloKind::Availability => {
            let (h, code) = crate::request::KNOWN_HTTP_HISTOGRAMS[0];
            format!("sum(rate({h}_count{{{code}!~\"5..\"}}[5m])) / sum(rate({h}_count[5m]))")
        }
    }
}

/// Windows of the SLO error-ratio recording rules.
pub const ERROR_RATIO_WINDOWS: [&str; 7] = ["5m", "30m", "1h", "2h", "6h", "1d", "3d"];

/// Name of the error-ratio recording rule over `window`.
pub fn error_ratio_record(window: &str) -> String {
    format!("sidewatch:slo_error_ratio:rate{window}")
}

/// Two (burn-rate factor, long window, short window) conditions, either of which fires.
pub type BurnConditions = [(f64, &'static str, &'static str); 2];

/// Multi-window multi-burn-rate alert conditions by severity (page, ticket).
pub const BURN_ALERTS: [(&str, BurnConditions); 2] = [
    ("critical", [(14.4, "1h", "5m"), (6.0, "6h", "30m")]),
    ("warning", [(3.0, "1d", "2h"), (1.0, "3d", "6h")]),
];

/// The SLO's recording rules and its two burn-rate alert rules.
pub fn slo_rules(slo: &Slo) -> Vec<PromRule> {
    let sel = format!("{{slo={}}}", promql_string(&slo.name));
    let mut rules: Vec<PromRule> = ERROR_RATIO_WINDOWS
        .iter()
        .map(|w| PromRule {
            record: Some(error_ratio_record(w)),
            expr: format!(
                "1 - (rate(sidewatch_slo_good_samples_total{sel}[{w}]) / rate(sidewatch_slo_samples_total{sel}[{w}]))"
            ),
            // The series already carry `slo`; the static label keeps rules of different SLOs
            // distinct for promtool's duplicate check.
            labels: [("slo".to_string(), slo.name.clone())].into(),
            ..Default::default()
        })
        .collect();
    let budget = clean(slo.error_budget());
    let budget_percent = clean(slo.error_budget() * 100.0);
    let objective = clean(slo.objective * 100.0);
    let window = prom_duration(slo.window);
    for (severity, windows) in BURN_ALERTS {
        let cond = |(factor, long, short): (f64, &str, &str)| {
            format!(
                "(\n  {long_r}{sel} > ({f} * {budget})\n  and\n  {short_r}{sel} > ({f} * {budget})\n)",
                long_r = error_ratio_record(long),
                short_r = error_ratio_record(short),
                f = clean(factor),
            )
        };
        let [a, b] = windows;
        let (speed, spans) = if severity == "critical" {
            (
                "fast",
                "over 14.4 times as fast as it may over 1h and 5m, or over 6 times over 6h and 30m",
            )
        } else {
            (
                "steadily",
                "over 3 times as fast as it may over 1d and 2h, or faster than it may over 3d and 6h",
            )
        };
        rules.push(PromRule {
            alert: Some("SidewatchErrorBudgetBurn".into()),
            expr: format!("{}\nor\n{}", cond(a), cond(b)),
            labels: [
                ("severity".to_string(), severity.to_string()),
                ("slo".to_string(), slo.name.clone()),
            ]
            .into(),
            annotations: [
                (
                    "summary",
                    format!(
                        "{{{{ $labels.target }}}} is burning the error budget of SLO {} {speed}",
                        slo.name
                    ),
                ),
                (
                    "description",
                    format!(
                        "SLO {} of {{{{ $labels.target }}}} ({}; objective {objective}% of {} over {window}) burns its error budget of {budget_percent}% {spans}: the error ratio is {{{{ $value | humanizePercentage }}}}.",
                        slo.name, slo.description, slo.kind.counted()
                    ),
                ),
                (
                    "runbook_url",
                    format!("{RUNBOOK_BASE_URL}#sidewatcherrorbudgetburn"),
                ),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
            ..Default::default()
        });
    }
    rules
}

fn threshold_rule(rule: &ThresholdRule) -> PromRule {
    let mut labels = rule.labels.clone();
    labels.insert("severity".into(), rule.severity.as_str().into());
    let hold = rule.hold();
    PromRule {
        alert: Some(rule.alert.clone()),
        expr: alert_expr(rule),
        for_: (!hold.is_zero()).then(|| prom_duration(hold)),
        keep_firing_for: (!rule.keep_firing_for.is_zero())
            .then(|| prom_duration(rule.keep_firing_for)),
        labels,
        annotations: rule.annotations.clone(),
        ..Default::default()
    }
}

fn annotations(items: [(&str, String); 3]) -> BTreeMap<String, String> {
    items.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// Alerts about the exporter itself and the predictive memory alert; they have no in-process
/// counterpart.
fn builtin_groups(job: &str) -> Vec<Group> {
    let up = format!("up{{job={}}}", promql_string(job));
    let severity = |s: &str| [("severity".to_string(), s.to_string())].into();
    vec![
        Group {
            name: "sidewatch.exporter".into(),
            rules: vec![
                PromRule {
                    alert: Some("SidewatchExporterDown".into()),
                    expr: format!("{up} == 0"),
                    for_: Some("5m".into()),
                    labels: severity("warning"),
                    annotations: annotations([
                        (
                            "summary",
                            "sidewatch at {{ $labels.instance }} cannot be scraped".into(),
                        ),
                        (
                            "description",
                            format!(
                                "Prometheus has failed to scrape the sidewatch exporter at {{{{ $labels.instance }}}} (job {job}) for 5 minutes: the application it watches is not monitored."
                            ),
                        ),
                        ("runbook_url", format!("{RUNBOOK_BASE_URL}#sidewatchexporterdown")),
                    ]),
                    ..Default::default()
                },
                PromRule {
                    alert: Some("SidewatchExporterAbsent".into()),
                    expr: format!("absent({up} == 1)"),
                    for_: Some("5m".into()),
                    labels: severity("warning"),
                    annotations: annotations([
                        ("summary", format!("No sidewatch exporter of job {job} is up")),
                        (
                            "description",
                            format!(
                                "Prometheus has had no successful scrape of any target of job {job} for 5 minutes: the exporter is gone or no longer discovered, and every sidewatch alert is blind."
                            ),
                        ),
                        ("runbook_url", format!("{RUNBOOK_BASE_URL}#sidewatchexporterabsent")),
                    ]),
                    ..Default::default()
                },
            ],
        },
        Group {
            name: "sidewatch.predictive".into(),
            rules: vec![PromRule {
                alert: Some("SidewatchMemoryFillingUp".into()),
                expr: format!(
                    "sidewatch_cgroup_memory_working_set_bytes / sidewatch_cgroup_memory_limit_bytes > {MEMORY_FORECAST_GUARD}\nand\npredict_linear(sidewatch_cgroup_memory_working_set_bytes[{MEMORY_FORECAST_RANGE}], {MEMORY_FORECAST_HORIZON_SECONDS}) > sidewatch_cgroup_memory_limit_bytes"
                ),
                for_: Some("15m".into()),
                labels: severity("warning"),
                annotations: annotations([
                    (
                        "summary",
                        "{{ $labels.target }} will reach its memory limit within 4 hours".into(),
                    ),
                    (
                        "description",
                        "The memory working set of {{ $labels.target }} is above 80% of its cgroup limit and, at the growth of the last hour, reaches the limit within 4 hours; the kernel will then reclaim hard and OOM-kill it.".into(),
                    ),
                    ("runbook_url", format!("{RUNBOOK_BASE_URL}#sidewatchmemoryfillingup")),
                ]),
                ..Default::default()
            }],
        },
    ]
}

/// Level guard of the predictive alert: it only speaks once the working set is above this share
/// of the limit (the default memory-vs-limit objective), so a small, noisy container does not
/// page on a steep but harmless slope.
pub const MEMORY_FORECAST_GUARD: &str = "0.8";
/// Range the slope is fitted over, and the horizon, in seconds (4 h).
pub const MEMORY_FORECAST_RANGE: &str = "1h";
pub const MEMORY_FORECAST_HORIZON_SECONDS: &str = "4 * 3600";

/// Every group for a rule set.
pub fn groups(set: &RuleSet, job: &str) -> Vec<Group> {
    let mut out = Vec::new();
    if !set.rules.is_empty() {
        out.push(Group {
            name: "sidewatch.rules".into(),
            rules: set.rules.iter().map(threshold_rule).collect(),
        });
    }
    out.extend(builtin_groups(job));
    for slo in &set.slos {
        out.push(Group {
            name: format!("sidewatch.slo.{}", slo.name),
            rules: slo_rules(slo),
        });
    }
    out
}

/// Points the links into the shipped runbooks at `base`; other links stay as written.
fn rebase_runbooks(groups: &mut [Group], base: &str) {
    let annotations = groups
        .iter_mut()
        .flat_map(|g| &mut g.rules)
        .map(|r| &mut r.annotations);
    for url in annotations.filter_map(|a| a.get_mut("runbook_url")) {
        if let Some(anchor) = url
            .strip_prefix(RUNBOOK_BASE_URL)
            .filter(|a| a.starts_with('#'))
        {
            *url = format!("{base}{anchor}");
        }
    }
}

/// The whole output of `sidewatch rules`. `source` names where the definitions came from, for
/// the header comment.
pub fn render(set: &RuleSet, opts: &Options, source: &str) -> Result<String, serde_yaml_ng::Error> {
    let mut groups = groups(set, &opts.job);
    groups.push(fleet::group(&opts.workload_labels));
    rebase_runbooks(&mut groups, &opts.runbook_base);
    let header = format!(
        "# Prometheus rules for sidewatch, generated by `sidewatch rules` from {source}.\n# Do not edit: change the config and regenerate.\n"
    );
    let body = match opts.format {
        Format::Rules => serde_yaml_ng::to_string(&RuleFile { groups: &groups })?,
        Format::PrometheusRule => serde_yaml_ng::to_string(&PrometheusRule {
            api_version: "monitoring.coreos.com/v1",
            kind: "PrometheusRule",
            metadata: Metadata {
                name: "sidewatch-rules",
                labels: [
                    ("app.kubernetes.io/name", "sidewatch"),
                    ("app.kubernetes.io/component", "alert-rules"),
                ]
                .into(),
            },
            spec: RuleFile { groups: &groups },
        })?,
    };
    Ok(header + &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Signal;

    fn set(yaml: &str) -> RuleSet {
        let f = crate::config::parse_file(yaml, None).unwrap();
        RuleSet::from_config(f.rules.as_deref(), f.slos.as_deref(), None).unwrap()
    }

    #[test]
    fn threshold_alert_has_the_same_semantics() {
        let s = set(
            "rules:\n  - alert: ApiMemoryHigh\n    signal: memory_rss_bytes\n    op: '>='\n    value: 50MiB\n    for: 90s\n    keep_firing_for: 1m\n    severity: critical\n    targets: [api, 'db.1']\n    labels: {team: pay}\n  - {alert: Restarted, signal: restarts, op: '>', value: 0, for: 15m}\nslos: []\n",
        );
        let g = groups(&s, "sidewatch");
        assert_eq!(g[0].name, "sidewatch.rules");
        let r = &g[0].rules[0];
        assert_eq!(
            r.expr,
            "sidewatch_process_resident_memory_bytes{target=~\"api|db\\\\.1\"} >= 52428800"
        );
        assert_eq!(r.for_.as_deref(), Some("1m30s"));
        assert_eq!(r.keep_firing_for.as_deref(), Some("1m"));
        assert_eq!(r.labels["severity"], "critical");
        assert_eq!(r.labels["team"], "pay");
        // Counter signals: the window is in the expression, the alert does not pend.
        let r = &g[0].rules[1];
        assert_eq!(
            r.expr,
            "increase(sidewatch_process_restarts_total[15m]) > 0"
        );
        assert_eq!(r.for_, None);
    }

    #[test]
    fn slo_rules_follow_the_workbook() {
        let s = set(
            "rules: []\nslos:\n  - {name: mem, signal: memory_rss_bytes, op: '<', value: 300MiB, objective: 99.9%}\n",
        );
        let rules = slo_rules(&s.slos[0]);
        let records: Vec<&str> = rules.iter().filter_map(|r| r.record.as_deref()).collect();
        assert_eq!(
            records,
            [
                "sidewatch:slo_error_ratio:rate5m",
                "sidewatch:slo_error_ratio:rate30m",
                "sidewatch:slo_error_ratio:rate1h",
                "sidewatch:slo_error_ratio:rate2h",
                "sidewatch:slo_error_ratio:rate6h",
                "sidewatch:slo_error_ratio:rate1d",
                "sidewatch:slo_error_ratio:rate3d"
            ]
        );
        assert_eq!(
            rules[0].expr,
            "1 - (rate(sidewatch_slo_good_samples_total{slo=\"mem\"}[5m]) / rate(sidewatch_slo_samples_total{slo=\"mem\"}[5m]))"
        );
        let page = &rules[7];
        assert_eq!(page.labels["severity"], "critical");
        assert_eq!(
            page.expr,
            "(\n  sidewatch:slo_error_ratio:rate1h{slo=\"mem\"} > (14.4 * 0.001)\n  and\n  sidewatch:slo_error_ratio:rate5m{slo=\"mem\"} > (14.4 * 0.001)\n)\nor\n(\n  sidewatch:slo_error_ratio:rate6h{slo=\"mem\"} > (6 * 0.001)\n  and\n  sidewatch:slo_error_ratio:rate30m{slo=\"mem\"} > (6 * 0.001)\n)"
        );
        let ticket = &rules[8];
        assert_eq!(ticket.labels["severity"], "warning");
        assert!(ticket.expr.contains("rate1d{slo=\"mem\"} > (3 * 0.001)"));
        assert!(ticket.expr.contains("rate6h{slo=\"mem\"} > (1 * 0.001)"));
        assert!(page.annotations["description"].contains("objective 99.9% of samples over 30d"));
    }

    #[test]
    fn builtin_alerts_use_the_job() {
        let g = groups(&RuleSet::default(), "my-job");
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].rules[0].expr, "up{job=\"my-job\"} == 0");
        assert_eq!(g[0].rules[1].expr, "absent(up{job=\"my-job\"} == 1)");
        assert!(g[1].rules[0].expr.contains("predict_linear(sidewatch_cgroup_memory_working_set_bytes[1h], 4 * 3600) > sidewatch_cgroup_memory_limit_bytes"));
    }

    #[test]
    fn prometheusrule_wraps_the_groups() {
        let s = RuleSet::builtin().unwrap();
        let out = render(
            &s,
            &Options {
                format: Format::PrometheusRule,
                job: "sidewatch".into(),
                runbook_base: "https://wiki.example.com/sidewatch".into(),
                ..Options::default()
            },
            "the built-in defaults",
        )
        .unwrap();
        let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(&out).unwrap();
        assert_eq!(v["apiVersion"], "monitoring.coreos.com/v1");
        assert_eq!(v["kind"], "PrometheusRule");
        assert_eq!(v["metadata"]["name"], "sidewatch-rules");
        let names: Vec<&str> = v["spec"]["groups"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "sidewatch.rules",
                "sidewatch.exporter",
                "sidewatch.predictive",
                "sidewatch.slo.memory",
                "sidewatch.slo.cpu",
                "sidewatch.slo.threads",
                "sidewatch.slo.memory_limit",
                "sidewatch.slo.io_pressure",
                "sidewatch.slo.tasks",
                "sidewatch.slo.availability",
                "sidewatch.slo.latency",
                "sidewatch.slo.probe",
                "sidewatch.fleet"
            ]
        );
    }

    #[test]
    fn signal_promql_covers_every_signal() {
        for s in Signal::ALL {
            let e = s.promql(&[], std::time::Duration::from_secs(60));
            assert!(e.contains("sidewatch_"), "{}: {e}", s.name());
        }
    }
}
