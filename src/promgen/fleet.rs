//! The fleet rollup of `sidewatch rules`: recording rules that combine the per-Pod
//! recommendation series of every sidecar into one recommendation per workload (the workload
//! labels, by default `namespace` and `workload`), in the Prometheus users already run.
//!
//! - CPU request: the highest per-Pod recommendation (each is that Pod's p90 × 1.15), so the
//!   busiest replica fits.
//! - Memory request: the highest per-Pod recommendation (from that Pod's daily peaks).
//! - Memory limit: the highest per-Pod recommendation (each already raised after its own OOM
//!   kills), and at least the limit in force at any OOM kill of any replica in the last day
//!   raised by max(+100 MiB, ×1.2), the advisor's bump: a replica that was just killed has no
//!   history of its own yet, but its siblings share its limit.
//! - Current requests per workload from kube-state-metrics, joined to the workload through
//!   `sidewatch_target_info` on the Pod's identity labels, for the fleet dashboard.
//!
//! Per-Pod series are read once per evaluation (instant selectors and a 5m increase); the
//! one-day memory of OOM kills is kept on the few workload series, never on per-Pod ones.

use super::rule::{Group, PromRule, clean};
use crate::advisor::{OOM_BUMP_BYTES, OOM_BUMP_FACTOR};

/// The labels a workload is identified by, unless `--workload-labels` says otherwise: the
/// kustomize base sets `workload` from the Pod template's `app.kubernetes.io/name`.
pub const DEFAULT_WORKLOAD_LABELS: [&str; 2] = ["namespace", "workload"];

/// The labels that name one container of one Pod on both sidewatch's series (the kustomize
/// base's target labels) and kube-state-metrics'.
pub const POD_LABELS: [&str; 3] = ["namespace", "pod", "container"];

/// Range of the per-Pod OOM increase, evaluated every interval (overlapping windows, so no
/// kill is missed), and how long the workload remembers a kill.
pub const OOM_RANGE: &str = "5m";
pub const OOM_MEMORY: &str = "1d";

/// The record names, in the order they are written.
pub const CPU_REQUEST: &str = "workload:sidewatch_recommendation_cpu_request_cores:max";
pub const MEMORY_REQUEST: &str = "workload:sidewatch_recommendation_memory_request_bytes:max";
pub const LIMIT_AT_OOM_5M: &str = "workload:sidewatch_memory_limit_at_oom_bytes:max5m";
pub const LIMIT_AT_OOM_1D: &str = "workload:sidewatch_memory_limit_at_oom_bytes:max1d";
pub const LIMIT_AFTER_OOM: &str = "workload:sidewatch_memory_limit_after_oom_bytes";
pub const MEMORY_LIMIT: &str = "workload:sidewatch_recommendation_memory_limit_bytes:max";
pub const CURRENT_LIMIT: &str = "workload:sidewatch_cgroup_memory_limit_bytes:max";
pub const CURRENT_REQUESTS: &str = "workload:kube_pod_container_resource_requests:max";

/// A workload label as `--workload-labels` gives it: a Prometheus label name.
pub fn label_name(s: &str) -> Result<String, String> {
    let mut chars = s.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') && !s.starts_with("__") {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{s:?} is not a label name: letters, digits and _, not starting with a digit or __"
        ))
    }
}

fn record(name: &str, expr: String) -> PromRule {
    PromRule {
        record: Some(name.into()),
        expr,
        ..Default::default()
    }
}

/// The `sidewatch.fleet` group for workloads identified by `labels`.
pub fn group(labels: &[String]) -> Group {
    let by = labels.join(", ");
    let max = |series: &str| format!("max by ({by}) ({series})");
    let pod_max = max("sidewatch_recommendation_memory_limit_bytes");
    // The workload labels outside the join key ride along from sidewatch_target_info.
    let extra: Vec<&str> = labels
        .iter()
        .map(String::as_str)
        .filter(|l| !POD_LABELS.contains(l))
        .collect();
    let mut info_by: Vec<&str> = POD_LABELS.to_vec();
    info_by.extend(&extra);
    let bump = OOM_BUMP_FACTOR - 1.0;
    Group {
        name: "sidewatch.fleet".into(),
        rules: vec![
            record(
                CPU_REQUEST,
                max("sidewatch_recommendation_cpu_request_cores"),
            ),
            record(
                MEMORY_REQUEST,
                max("sidewatch_recommendation_memory_request_bytes"),
            ),
            record(
                LIMIT_AT_OOM_5M,
                max(&format!(
                    "sidewatch_cgroup_memory_limit_bytes and increase(sidewatch_cgroup_memory_oom_kills_total[{OOM_RANGE}]) > 0"
                )),
            ),
            record(
                LIMIT_AT_OOM_1D,
                format!("max_over_time({LIMIT_AT_OOM_5M}[{OOM_MEMORY}])"),
            ),
            record(
                LIMIT_AFTER_OOM,
                format!(
                    "{LIMIT_AT_OOM_1D} + clamp_min({LIMIT_AT_OOM_1D} * {}, {})",
                    clean(bump),
                    clean(OOM_BUMP_BYTES)
                ),
            ),
            // The larger of the two where both exist, else whichever exists.
            record(
                MEMORY_LIMIT,
                format!("({pod_max} >= {LIMIT_AFTER_OOM})\nor\n{LIMIT_AFTER_OOM}\nor\n{pod_max}"),
            ),
            record(CURRENT_LIMIT, max("sidewatch_cgroup_memory_limit_bytes")),
            record(
                CURRENT_REQUESTS,
                format!(
                    "max by ({by}, resource) (\n  kube_pod_container_resource_requests{{resource=~\"cpu|memory\"}}\n  * on ({}) group_left ({})\n  max by ({}) (sidewatch_target_info)\n)",
                    POD_LABELS.join(", "),
                    extra.join(", "),
                    info_by.join(", ")
                ),
            ),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(l: &[&str]) -> Vec<String> {
        l.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn rollup_groups_by_the_workload_labels() {
        let g = group(&labels(&DEFAULT_WORKLOAD_LABELS));
        assert_eq!(
            g.rules[0].expr,
            "max by (namespace, workload) (sidewatch_recommendation_cpu_request_cores)"
        );
        assert_eq!(
            g.rules[4].expr,
            "workload:sidewatch_memory_limit_at_oom_bytes:max1d + clamp_min(workload:sidewatch_memory_limit_at_oom_bytes:max1d * 0.2, 104857600)"
        );
        assert!(g.rules[7].expr.contains("group_left (workload)"));
        assert!(
            g.rules[7]
                .expr
                .contains("max by (namespace, pod, container, workload) (sidewatch_target_info)")
        );
        let g = group(&labels(&["cluster", "namespace", "app"]));
        assert_eq!(
            g.rules[1].expr,
            "max by (cluster, namespace, app) (sidewatch_recommendation_memory_request_bytes)"
        );
        assert!(g.rules[7].expr.contains("group_left (cluster, app)"));
    }

    #[test]
    fn workload_labels_are_label_names() {
        assert_eq!(
            label_name("app_kubernetes_io_name").unwrap(),
            "app_kubernetes_io_name"
        );
        for bad in ["", "app.kubernetes.io/name", "1st", "__name__", "a-b"] {
            assert!(
                label_name(bad).unwrap_err().contains("is not a label name"),
                "{bad}"
            );
        }
    }
}
