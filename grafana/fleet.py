#!/usr/bin/env python3
"""Generates grafana/fleet.json, the sidewatch fleet dashboard: workloads right-sized from the
recording rules of `sidewatch rules` (group sidewatch.fleet), not one Pod at a time.

    python3 grafana/fleet.py > grafana/fleet.json

Standard library only; panels are built with grafana/dashboard.py's helpers. `cargo test --test
fleet` fails when grafana/fleet.json differs from this output (`SIDEWATCH_BLESS=1` regenerates)
and runs every query against a real Prometheus. Current requests come from kube-state-metrics
(`kube_pod_container_resource_requests`, joined to the workload by the rules).
"""

import json
import sys

from dashboard import DS, Layout, q, refs, dashed, timeseries

UID = "sidewatch-fleet"
W = 'namespace=~"$namespace", workload=~"$workload"'
REC_CPU = "workload:sidewatch_recommendation_cpu_request_cores:max"
REC_MEM = "workload:sidewatch_recommendation_memory_request_bytes:max"
REC_LIMIT = "workload:sidewatch_recommendation_memory_limit_bytes:max"
CURRENT_REQ = "workload:kube_pod_container_resource_requests:max"
CURRENT_LIMIT = "workload:sidewatch_cgroup_memory_limit_bytes:max"
AFTER_OOM = "workload:sidewatch_memory_limit_after_oom_bytes"


def table(title, description, expr, unit):
    return {"type": "table", "title": title, "description": description, "datasource": DS,
            "targets": [q(expr, "", "A", instant=True, table=True)],
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "transformations": [{"id": "organize", "options": {
                "excludeByName": {"Time": True},
                "renameByName": {"Value": "difference"}}}],
            "options": {"showHeader": True,
                        "sortBy": [{"displayName": "difference", "desc": True}]}}


def gap(resource, rec, over):
    """Top 10 workloads whose current request exceeds the recommendation (over) or falls short."""
    cur = f'{CURRENT_REQ}{{resource="{resource}", {W}}}'
    recd = f"{rec}{{{W}}}"
    a, b = (cur, recd) if over else (recd, cur)
    return f"topk(10, ({a} - ignoring (resource) {b}) > 0)"


def build():
    L = Layout()
    L.row("Right-sizing: current request vs the workload's recommendation")
    for over, word, why in ((True, "Over-requested", "reserved but not used: capacity to free"),
                            (False, "Under-requested", "used beyond the request: throttling, eviction and noisy neighbours")):
        L.add(table(f"{word} workloads: CPU",
                    f"Current CPU request (kube-state-metrics, highest container of the workload) minus the recommendation (the highest per-Pod p90 x 1.15): {why}.",
                    gap("cpu", REC_CPU, over), "cores"), 12, 8)
        L.add(table(f"{word} workloads: memory",
                    f"Current memory request minus the recommendation (the highest per-Pod daily-peak p90 x 1.15): {why}.",
                    gap("memory", REC_MEM, over), "bytes"), 12, 8)
    L.row("Recommendation vs current")
    L.add(timeseries(
        "CPU request: recommended vs current",
        "The workload's recommended CPU request (dashed: the highest of its Pods' recommendations) and its current request.",
        refs((f"{REC_CPU}{{{W}}}", "{{namespace}}/{{workload}} recommended"),
             (f'{CURRENT_REQ}{{resource="cpu", {W}}}', "{{namespace}}/{{workload}} current")),
        "cores", overrides=[dashed("A", "green")]), 12, 8)
    L.add(timeseries(
        "Memory: recommended vs current",
        "Recommended request and limit (dashed) against the current request and the limit in force (the highest cgroup limit of its Pods).",
        refs((f"{REC_MEM}{{{W}}}", "{{namespace}}/{{workload}} recommended request"),
             (f"{REC_LIMIT}{{{W}}}", "{{namespace}}/{{workload}} recommended limit"),
             (f'{CURRENT_REQ}{{resource="memory", {W}}}', "{{namespace}}/{{workload}} current request"),
             (f"{CURRENT_LIMIT}{{{W}}}", "{{namespace}}/{{workload}} current limit")),
        "bytes", overrides=[dashed("A", "green"), dashed("B", "orange")]), 12, 8)
    L.add(timeseries(
        "Memory limit raised by an OOM kill",
        "Workloads with an OOM kill in any Pod in the last day: the limit in force then, raised by max(+100 MiB, x1.2). The recommended limit is at least this.",
        refs((f"{AFTER_OOM}{{{W}}}", "{{namespace}}/{{workload}}")),
        "bytes"), 12, 8)
    L.add(timeseries(
        "Pods reporting a recommendation",
        "Per-Pod recommendation series per workload: how many replicas the rollup combines.",
        refs((f"count by (namespace, workload) (sidewatch_recommendation_cpu_request_cores{{{W}}})",
              "{{namespace}}/{{workload}}")),
        "short"), 12, 8)
    return L.panels


def variable(name, label, query):
    return {"name": name, "label": label, "type": "query", "datasource": DS,
            "query": {"query": query, "refId": f"{name}-variable"}, "definition": query,
            "refresh": 2, "sort": 1, "multi": True, "includeAll": True, "allValue": ".+",
            "current": {}, "options": [], "hide": 0}


def dashboard():
    return {
        "uid": UID,
        "title": "sidewatch fleet",
        "description": "Workloads right-sized from every Pod's sidewatch: the recording rules of `sidewatch rules` (group sidewatch.fleet) against current requests (kube-state-metrics). Generated by grafana/fleet.py.",
        "tags": ["sidewatch", "prometheus", "fleet"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "5m",
        "time": {"from": "now-7d", "to": "now"},
        "links": [{"title": "sidewatch", "type": "dashboards", "tags": ["sidewatch"]}],
        "annotations": {"list": []},
        "templating": {"list": [
            {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
             "current": {}, "options": [], "refresh": 1, "hide": 0, "regex": ""},
            variable("namespace", "Namespace", f"label_values({REC_CPU}, namespace)"),
            variable("workload", "Workload", f'label_values({REC_CPU}{{namespace=~"$namespace"}}, workload)'),
        ]},
        "panels": build(),
    }


if __name__ == "__main__":
    sys.stdout.write(json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n")
