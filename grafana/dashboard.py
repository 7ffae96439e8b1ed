#!/usr/bin/env python3
"""Generates grafana/sidewatch.json, the sidewatch Grafana dashboard.

    python3 grafana/dashboard.py > grafana/sidewatch.json

Standard library only. The dashboard is this file: change a panel here, regenerate, commit
both (`cargo test --test grafana` fails when they differ; `SIDEWATCH_BLESS=1 cargo test --test
grafana` regenerates). Threshold lines are not written here: they come from the rules and SLOs
of src/rules/defaults.yml (objective = the SLO's good-sample bound, warning/critical = the alert
levels) and the burn-rate factors of alerts/sidewatch.rules.yml (`sidewatch rules` output), so
the dashboard cannot drift from what alerts. `--rules FILE` reads another sidewatch config's
`rules:`/`slos:` instead (same layout as defaults.yml: one `key: value` per line).
"""

import argparse
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

UID = "sidewatch"
DS = {"type": "prometheus", "uid": "${datasource}"}
# Every target series is selected by the three variables; `up` and the exporter's own series
# have no `target`.
SEL = 'job=~"$job", instance=~"$instance", target=~"$target"'
EXPORTER_SEL = 'job=~"$job", instance=~"$instance"'
RATE = "$__rate_interval"

# ---------------------------------------------------------------------------------------------
# Rules and SLOs: a reader for the layout of src/rules/defaults.yml, and the units of sidewatch's
# config values (src/units.rs).

SIZE = {"": 1, "B": 1, "k": 1e3, "K": 1e3, "kB": 1e3, "KB": 1e3, "M": 1e6, "MB": 1e6,
        "G": 1e9, "GB": 1e9, "T": 1e12, "TB": 1e12, "Ki": 1024, "KiB": 1024,
        "Mi": 1024**2, "MiB": 1024**2, "Gi": 1024**3, "GiB": 1024**3,
        "Ti": 1024**4, "TiB": 1024**4}
COUNT = {"": 1, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9}


def signal_unit(signal):
    if signal.endswith("_bytes"):
        return "bytes"
    if signal.endswith("_ratio"):
        return "ratio"
    if signal == "cpu_cores":
        return "cores"
    if signal.endswith("_seconds"):
        return "seconds"
    return "count"


def parse_value(text, signal):
    m = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z%]*)", text.strip())
    if not m:
        raise SystemExit(f"dashboard.py: {signal}: cannot read value {text!r}")
    number, suffix = float(m.group(1)), m.group(2)
    table = {"bytes": SIZE, "count": COUNT, "ratio": {"": 1, "%": 0.01},
             "cores": {"": 1, "m": 0.001},
             "seconds": {"": 1, "s": 1, "ms": 0.001, "us": 1e-6, "m": 60}}[signal_unit(signal)]
    if suffix not in table:
        raise SystemExit(f"dashboard.py: {signal}: unknown unit in {text!r}")
    value = round(number * table[suffix], 12)
    return int(value) if value == int(value) else value


def read_rules(path):
    """The `rules:` and `slos:` items of a sidewatch config, as dicts of their scalar keys."""
    sections = {"rules": [], "slos": []}
    section = None
    for raw in open(path, encoding="utf-8"):
        line = raw.rstrip("\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line.startswith(" ") and not line.startswith("-"):
            key = line.split(":", 1)[0]
            section = sections.get(key)
            continue
        if section is None:
            continue
        indent = len(line) - len(line.lstrip(" "))
        body = line.strip()
        if body.startswith("- "):
            section.append({})
            body = body[2:]
            indent += 2
        if indent != 4 or ":" not in body or not section:
            continue  # nested maps (labels, annotations) carry no threshold
        key, value = (s.strip() for s in body.split(":", 1))
        if value and value[0] in "'\"":
            value = value[1:value.index(value[0], 1)]
        else:
            value = value.split(" #", 1)[0].strip()
        section[-1][key] = value
    # Only sample SLOs have a threshold on a signal; events and latency SLOs count the app's
    # requests, which no panel draws as a line.
    sections["slos"] = [s for s in sections["slos"] if "signal" in s]
    for r in sections["rules"] + sections["slos"]:
        r["number"] = parse_value(r["value"], r["signal"])
    return sections


def burn_factors(path):
    """The burn-rate factors of the generated SLO alerts: `> (14.4 * 0.01)` and so on."""
    text = open(path, encoding="utf-8").read()
    factors = sorted({float(f) for f in re.findall(r"> \(([0-9.]+) \* ", text)})
    if not factors:
        raise SystemExit(f"dashboard.py: no burn-rate alert in {path}")
    return [int(f) if f == int(f) else f for f in factors]


def pretty(number, signal):
    unit = signal_unit(signal)
    if unit == "bytes":
        for name, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
            if number >= size and number % size == 0:
                return f"{number / size:g}{name}"
        return f"{number:g}B"
    if unit == "ratio":
        return f"{number * 100:g}%"
    return f"{number:g}"


SEVERITY_COLOR = {"info": "blue", "warning": "orange", "critical": "red"}


def levels(cfg, signals):
    """Threshold steps for panels of these signals: green below the SLO's good-sample bound
    (yellow above it), orange from the warning level, red from the critical level; and the
    sentence saying so."""
    steps, words = {}, []
    for s in cfg["slos"]:
        if s["signal"] in signals and s["op"] in ("<", "<="):
            steps.setdefault(s["number"], "yellow")
            words.append(f"objective of SLO {s['name']} {s['op']} {pretty(s['number'], s['signal'])} (yellow)")
    for r in cfg["rules"]:
        if r["signal"] in signals and r["op"] in (">", ">="):
            sev = r.get("severity", "warning")
            steps[r["number"]] = SEVERITY_COLOR[sev]
            words.append(f"{r['alert']} {sev} {r['op']} {pretty(r['number'], r['signal'])} ({SEVERITY_COLOR[sev]})")
    if not words:
        return None, ""
    thresholds = [{"color": "green", "value": None}]
    thresholds += [{"color": c, "value": v} for v, c in sorted(steps.items())]
    return thresholds, "Dashed lines, from the rules and SLOs in force by default: " + "; ".join(words) + "."


# ---------------------------------------------------------------------------------------------
# Panels.

class Layout:
    """Places panels left to right in rows of 24 grid units."""

    def __init__(self):
        self.panels, self.x, self.y, self.row_h, self.next_id = [], 0, 0, 0, 1

    def add(self, panel, w, h):
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        panel["id"] = self.next_id
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        self.next_id += 1
        self.x += w
        self.row_h = max(self.row_h, h)
        self.panels.append(panel)

    def row(self, title):
        if self.x:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        self.add({"type": "row", "title": title, "collapsed": False, "panels": []}, 24, 1)
        self.x, self.y, self.row_h = 0, self.y + 1, 0


def q(expr, legend, ref, instant=False, table=False):
    t = {"datasource": DS, "refId": ref, "expr": expr, "legendFormat": legend,
         "range": not instant, "instant": instant}
    if table:
        t["format"] = "table"
    return t


def refs(*queries):
    """(expr, legend) pairs → targets with refIds A, B, C, ..."""
    return [q(e, l, chr(ord("A") + i)) for i, (e, l) in enumerate(queries)]


def dashed(ref, color):
    """An override drawing query `ref` (a limit, a recommendation) as a fixed-colour dashed line."""
    return {"matcher": {"id": "byFrameRefID", "options": ref},
            "properties": [
                {"id": "color", "value": {"mode": "fixed", "fixedColor": color}},
                {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}},
                {"id": "custom.fillOpacity", "value": 0}]}


def timeseries(title, description, targets, unit, thresholds=None, lines="", overrides=(),
               minimum=0, maximum=None, axis_label=""):
    defaults = {
        "unit": unit,
        "min": minimum,
        "color": {"mode": "palette-classic"},
        "thresholds": {"mode": "absolute",
                       "steps": thresholds or [{"color": "green", "value": None}]},
        "custom": {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10,
                   "showPoints": "never", "spanNulls": False, "axisLabel": axis_label,
                   "thresholdsStyle": {"mode": "dashed" if thresholds else "off"}},
    }
    if maximum is not None:
        defaults["max"] = maximum
    if minimum is None:
        del defaults["min"]
    return {"type": "timeseries", "title": title,
            "description": " ".join(x for x in (description, lines) if x),
            "datasource": DS, "targets": targets,
            "fieldConfig": {"defaults": defaults, "overrides": list(overrides)},
            "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                        "tooltip": {"mode": "multi", "sort": "desc"}}}


def stat(title, description, targets, unit, steps, mappings=()):
    return {"type": "stat", "title": title, "description": description, "datasource": DS,
            "targets": targets,
            "fieldConfig": {"defaults": {"unit": unit, "decimals": 0,
                                         "thresholds": {"mode": "absolute", "steps": steps},
                                         "mappings": list(mappings), "color": {"mode": "thresholds"}},
                            "overrides": []},
            "options": {"colorMode": "background", "graphMode": "none", "justifyMode": "auto",
                        "textMode": "value_and_name", "orientation": "auto",
                        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}}


def up_down(one, zero):
    return [{"type": "value", "options": {"1": {"text": one, "color": "green", "index": 0},
                                          "0": {"text": zero, "color": "red", "index": 1}}}]


def counter_steps(cfg, signal):
    """Stat steps for an event counter (restarts, OOM kills, listen overflows): the alert levels; `> 0` on a count
    of events means from the first whole event."""
    steps = {}
    for r in cfg["rules"]:
        if r["signal"] == signal:
            v = r["number"] + (1 if r["op"] == ">" else 0)
            steps[v] = SEVERITY_COLOR[r.get("severity", "warning")]
    return [{"color": "green", "value": None}] + [{"color": c, "value": v} for v, c in sorted(steps.items())]


def build(cfg, factors):
    L = Layout()

    # --- Overview ---------------------------------------------------------------------------
    L.row("Overview")
    L.add(stat("Exporter up", "Prometheus's `up` for each sidewatch instance: 0 when the scrape fails.",
               refs((f"up{{{EXPORTER_SEL}}}", "{{instance}}")), "none",
               [{"color": "red", "value": None}, {"color": "green", "value": 1}], up_down("up", "down")), 4, 4)
    L.add(stat("Target up", "`sidewatch_target_up`: 1 while a live process of the target is found.",
               refs((f"sidewatch_target_up{{{SEL}}}", "{{target}}")), "none",
               [{"color": "red", "value": None}, {"color": "green", "value": 1}], up_down("up", "down")), 4, 4)
    L.add(stat("Processes", "Live processes selected for the target (`sidewatch_target_processes`, zombies excluded).",
               refs((f"sidewatch_target_processes{{{SEL}}}", "{{target}}")), "none",
               [{"color": "red", "value": None}, {"color": "green", "value": 1}]), 4, 4)
    L.add(stat("Restarts in range", "Times the target's main process was replaced by a new one during the dashboard's time range. Colours: the SidewatchTargetRestarts levels.",
               [q(f"increase(sidewatch_process_restarts_total{{{SEL}}}[$__range])", "{{target}}", "A", instant=True)],
               "none", counter_steps(cfg, "restarts")), 4, 4)
    L.add(stat("OOM kills in range", "Processes of the target's cgroup killed by the kernel OOM killer during the dashboard's time range. Colours: the SidewatchOOMKills levels.",
               [q(f"increase(sidewatch_cgroup_memory_oom_kills_total{{{SEL}}}[$__range])", "{{target}}", "A", instant=True)],
               "none", counter_steps(cfg, "oom_kills")), 4, 4)
    L.add(stat("Firing alerts", "Alerts sidewatch evaluates in-process (`sidewatch_alert`) that are firing now, by severity.",
               [q(f'sum by (severity) (sidewatch_alert{{{SEL}, alertstate="firing"}})', "{{severity}}", "A", instant=True)],
               "none", [{"color": "green", "value": None}, {"color": "red", "value": 1}]), 4, 4)
    table = {"type": "table", "title": "Pending and firing alerts",
             "description": "What sidewatch evaluates in-process now (`sidewatch_alert`), with the labels Alertmanager routes on. The same alerts, rendered, are at /api/v1/alerts of each sidewatch.",
             "datasource": DS,
             "targets": [q(f'sidewatch_alert{{{SEL}, alertstate=~"firing|pending"}}', "", "A", instant=True, table=True)],
             "fieldConfig": {"defaults": {"unit": "none"}, "overrides": []},
             "options": {"showHeader": True},
             "transformations": [{"id": "organize", "options": {
                 "excludeByName": {"Time": True, "Value": True, "__name__": True},
                 "indexByName": {"target": 0, "alertname": 1, "severity": 2, "alertstate": 3},
                 "renameByName": {}}}]}
    L.add(table, 16, 7)
    L.add(timeseries("Alerts over time", "Pending and firing in-process alerts (`sidewatch_alert`) per alert, severity and state.",
                     refs((f'sum by (alertname, severity, alertstate) (sidewatch_alert{{{SEL}}})',
                           "{{alertname}} {{severity}} {{alertstate}}")), "none"), 8, 7)

    # --- CPU --------------------------------------------------------------------------------
    L.row("CPU")
    t, words = levels(cfg, {"cpu_cores"})
    L.add(timeseries(
        "CPU usage vs limit vs recommended request",
        "CPU used, in cores: by the target's processes (user + system, `sidewatch_process_cpu_seconds_total`) and by its whole cgroup; the cgroup's CPU limit (quota / period) and sidewatch's recommended CPU request (p90 of usage x 1.15, after 3 hours of history).",
        refs((f"sum without (mode) (rate(sidewatch_process_cpu_seconds_total{{{SEL}}}[{RATE}]))", "{{target}} processes"),
             (f"sum without (mode) (rate(sidewatch_cgroup_cpu_usage_seconds_total{{{SEL}}}[{RATE}]))", "{{target}} cgroup"),
             (f"sidewatch_cgroup_cpu_limit_cores{{{SEL}}}", "{{target}} limit"),
             (f"sidewatch_recommendation_cpu_request_cores{{{SEL}}}", "{{target}} recommended request")),
        "short", t, words, [dashed("C", "red"), dashed("D", "blue")], axis_label="cores"), 12, 8)
    t, words = levels(cfg, {"cpu_utilization_ratio"})
    L.add(timeseries(
        "CPU utilization",
        "The signal of SidewatchCPUHigh, computed as its rule does: where the target has a cgroup of its own, the CPU it used over the last tick as a share of the cgroup's CPU limit (of the CPUs it may run on, without a limit; `sidewatch_cgroup_cpu_utilization_ratio`); where it has none, or shares it with other processes (`sidewatch_cgroup_shared` 1), its processes' CPU (user + system, between the last two scrapes) over the host's online CPUs (`sidewatch_host_cpus`).",
        refs((f"((sidewatch_cgroup_cpu_utilization_ratio{{{SEL}}} unless ignoring (cgroup) sidewatch_cgroup_shared{{{SEL}}} == 1)"
              f" or ignoring (cgroup) sum without (mode) (irate(sidewatch_process_cpu_seconds_total{{{SEL}}}[{RATE}]))"
              f" / on (job, instance) group_left () sidewatch_host_cpus{{{EXPORTER_SEL}}})", "{{target}}")),
        "percentunit", t, words), 12, 8)
    t, words = levels(cfg, {"cpu_throttled_ratio"})
    L.add(timeseries(
        "CPU throttling",
        "Share of CFS periods in which the cgroup was throttled (it had used its quota): latency suffers long before the average usage reaches the limit.",
        refs((f"rate(sidewatch_cgroup_cpu_throttled_periods_total{{{SEL}}}[{RATE}]) / rate(sidewatch_cgroup_cpu_periods_total{{{SEL}}}[{RATE}])",
              "{{target}} throttled periods")),
        "percentunit", t, words, maximum=1), 8, 8)
    L.add(timeseries(
        "Throttled time per second",
        "Time the cgroup's tasks were held back by the CPU quota, per second of wall time (`cpu.stat` throttled time).",
        refs((f"rate(sidewatch_cgroup_cpu_throttled_seconds_total{{{SEL}}}[{RATE}])", "{{target}}")),
        "s"), 8, 8)
    L.add(timeseries(
        "Run-queue wait per second",
        "Time the target's threads were runnable but waiting for a CPU (`schedstat`), per second of wall time: CPU starvation on a busy node, with or without a quota.",
        refs((f"rate(sidewatch_process_cpu_wait_seconds_total{{{SEL}}}[{RATE}])", "{{target}}")),
        "s"), 8, 8)

    # --- Memory -----------------------------------------------------------------------------
    L.row("Memory")
    t, words = levels(cfg, {"memory_working_set_bytes", "memory_rss_bytes"})
    L.add(timeseries(
        "Memory: working set and RSS vs limit and recommendation",
        "The cgroup's working set (usage - inactive file, as cAdvisor and the kubelet count it), the processes' resident memory, the cgroup memory limit, and sidewatch's recommended memory request (p90 of daily peaks x 1.15) and limit (after 3 hours of history).",
        refs((f"sidewatch_cgroup_memory_working_set_bytes{{{SEL}}}", "{{target}} working set"),
             (f"sidewatch_process_resident_memory_bytes{{{SEL}}}", "{{target}} RSS"),
             (f"sidewatch_cgroup_memory_limit_bytes{{{SEL}}}", "{{target}} limit"),
             (f"sidewatch_recommendation_memory_request_bytes{{{SEL}}}", "{{target}} recommended request"),
             (f"sidewatch_recommendation_memory_limit_bytes{{{SEL}}}", "{{target}} recommended limit")),
        "bytes", t, words, [dashed("C", "red"), dashed("D", "blue"), dashed("E", "purple")]), 12, 8)
    t, words = levels(cfg, {"memory_utilization_ratio"})
    L.add(timeseries(
        "Memory utilization of the limit",
        "Working set / cgroup memory limit (`sidewatch_cgroup_memory_utilization_ratio`): near 100 % the kernel reclaims hard, then OOM-kills.",
        refs((f"sidewatch_cgroup_memory_utilization_ratio{{{SEL}}}", "{{target}}")),
        "percentunit", t, words), 12, 8)
    L.add(timeseries(
        "Time to memory limit",
        "At the working set's recent growth, when it reaches the cgroup limit (`sidewatch_memory_time_to_limit_seconds`; absent without a limit or without growth).",
        refs((f"sidewatch_memory_time_to_limit_seconds{{{SEL}}}", "{{target}}")),
        "s"), 8, 8)
    L.add(timeseries(
        "Memory growth",
        "Robust slope of the working set (of RSS without a cgroup) over 15m, 1h and 6h (`sidewatch_memory_growth_bytes_per_second`): a steady positive slope that load does not explain is a leak.",
        refs((f"sidewatch_memory_growth_bytes_per_second{{{SEL}}}", "{{target}} over {{window}}")),
        "binBps", minimum=None), 8, 8)
    L.add(timeseries(
        "Memory limit hits and major page faults",
        "Times the cgroup hit its memory limit (`memory.events` max / `memory.failcnt`) and major page faults (reads from disk) of the target's processes, per second.",
        refs((f"rate(sidewatch_cgroup_memory_limit_hits_total{{{SEL}}}[{RATE}])", "{{target}} limit hits"),
             (f'rate(sidewatch_process_page_faults_total{{{SEL}, kind="major"}}[{RATE}])', "{{target}} major faults")),
        "cps"), 8, 8)

    # --- Threads and file descriptors ---------------------------------------------------------
    L.row("Threads and file descriptors")
    t, words = levels(cfg, {"threads"})
    L.add(timeseries(
        "Threads",
        "Threads of the target's processes (`sidewatch_process_threads`, the goroutine analogue for any runtime), tasks in its cgroup and the cgroup's pids limit.",
        refs((f"sidewatch_process_threads{{{SEL}}}", "{{target}} threads"),
             (f"sidewatch_cgroup_pids{{{SEL}}}", "{{target}} cgroup tasks"),
             (f"sidewatch_cgroup_pids_limit{{{SEL}}}", "{{target}} pids limit")),
        "short", t, words, [dashed("C", "red")]), 8, 8)
    t, words = levels(cfg, {"open_fds"})
    L.add(timeseries(
        "Open file descriptors",
        "Open fds of the target's processes (`sidewatch_process_open_fds`).",
        refs((f"sidewatch_process_open_fds{{{SEL}}}", "{{target}}")),
        "short", t, words), 8, 8)
    t, words = levels(cfg, {"fd_utilization_ratio"})
    L.add(timeseries(
        "File descriptor utilization",
        "Highest open fds / soft RLIMIT_NOFILE among the target's processes: at 100 % `open()` and `accept()` fail.",
        refs((f"sidewatch_process_fd_utilization_ratio{{{SEL}}}", "{{target}}")),
        "percentunit", t, words, maximum=1), 8, 8)

    # --- I/O and pressure ---------------------------------------------------------------------
    L.row("I/O and pressure")
    L.add(timeseries(
        "Disk I/O of the processes",
        "Bytes the target's processes read from and wrote to the storage layer (`/proc/<pid>/io`), per second.",
        refs((f"rate(sidewatch_process_io_read_bytes_total{{{SEL}}}[{RATE}])", "{{target}} read"),
             (f"rate(sidewatch_process_io_write_bytes_total{{{SEL}}}[{RATE}])", "{{target}} write")),
        "Bps"), 8, 8)
    L.add(timeseries(
        "Disk I/O of the cgroup",
        "Bytes read and written by the target's cgroup (v2 `io.stat`, v1 `blkio.throttle.*`), per second.",
        refs((f"rate(sidewatch_cgroup_io_read_bytes_total{{{SEL}}}[{RATE}])", "{{target}} read"),
             (f"rate(sidewatch_cgroup_io_write_bytes_total{{{SEL}}}[{RATE}])", "{{target}} write")),
        "Bps"), 8, 8)
    L.add(timeseries(
        "Disk operations of the cgroup",
        "Read and write operations of the target's cgroup, per second.",
        refs((f"rate(sidewatch_cgroup_io_reads_total{{{SEL}}}[{RATE}])", "{{target}} reads"),
             (f"rate(sidewatch_cgroup_io_writes_total{{{SEL}}}[{RATE}])", "{{target}} writes")),
        "iops"), 8, 8)
    for resource in ("cpu", "memory", "io"):
        t, words = levels(cfg, {f"pressure_{resource}_ratio"})
        L.add(timeseries(
            {"cpu": "CPU pressure", "memory": "Memory pressure", "io": "I/O pressure"}[resource],
            f"Pressure stall information of the target's cgroup (`{resource}.pressure`): share of wall time in which some of its tasks (some) or all of them (full) were stalled waiting for {'a CPU' if resource == 'cpu' else resource if resource == 'memory' else 'I/O'}.",
            refs((f'rate(sidewatch_cgroup_pressure_waiting_seconds_total{{{SEL}, resource="{resource}"}}[{RATE}])', "{{target}} some"),
                 (f'rate(sidewatch_cgroup_pressure_stalled_seconds_total{{{SEL}, resource="{resource}"}}[{RATE}])', "{{target}} full")),
            "percentunit", t, words, maximum=1), 8, 8)

    # --- Runtime (the app's own /metrics) ---------------------------------------------------
    L.row("Runtime")
    app = "from the application's own /metrics (`app.metrics_url`); empty for a target without them."
    t, words = levels(cfg, {"runtime_heap_bytes"})
    L.add(timeseries(
        "Runtime heap vs limit",
        "Heap in use as the runtime reports it (`sidewatch_runtime_heap_bytes`: Go heap, JVM heap pools, V8 heap) and the limit the runtime works to (`sidewatch_runtime_heap_limit_bytes`: GOMEMLIMIT, JVM max heap; absent where there is none), " + app,
        refs((f"sidewatch_runtime_heap_bytes{{{SEL}}}", "{{target}} heap"),
             (f"sidewatch_runtime_heap_limit_bytes{{{SEL}}}", "{{target}} heap limit")),
        "bytes", t, words, [dashed("B", "red")]), 8, 8)
    t, words = levels(cfg, {"runtime_tasks"})
    L.add(timeseries(
        "Runtime tasks",
        "Goroutines (Go), live threads (JVM), active handles (Node.js): what leaks in each runtime (`sidewatch_runtime_tasks`), " + app,
        refs((f"sidewatch_runtime_tasks{{{SEL}}}", "{{target}}")),
        "short", t, words), 8, 8)
    t, words = levels(cfg, {"event_loop_lag_seconds"})
    L.add(timeseries(
        "Event-loop lag",
        "How late the Node.js event loop runs its callbacks (`sidewatch_runtime_event_loop_lag_seconds`, prom-client's p99), " + app,
        refs((f"sidewatch_runtime_event_loop_lag_seconds{{{SEL}}}", "{{target}}")),
        "s", t, words), 8, 8)
    t, words = levels(cfg, {"runtime_gc_per_second"})
    L.add(timeseries(
        "GC cycles per second",
        "Garbage collections per second (`sidewatch_runtime_gc_collections_total`, restart-proof), " + app,
        refs((f"rate(sidewatch_runtime_gc_collections_total{{{SEL}}}[{RATE}])", "{{target}}")),
        "cps", t, words), 12, 8)
    t, words = levels(cfg, {"runtime_gc_pause_ratio"})
    L.add(timeseries(
        "GC pause share",
        "Share of wall time spent in GC pauses (rate of `sidewatch_runtime_gc_pause_seconds_total`, restart-proof), " + app,
        refs((f"rate(sidewatch_runtime_gc_pause_seconds_total{{{SEL}}}[{RATE}])", "{{target}}")),
        "percentunit", t, words), 12, 8)

    # --- Requests (the app's HTTP histogram) -----------------------------------------------
    L.row("Requests")
    http = "from the increases of the app's HTTP histogram between two readings of its /metrics (OpenTelemetry, Micrometer, Prometheus's, or `app.http`); empty for a target without one."
    t, words = levels(cfg, {"http_requests_per_second"})
    L.add(timeseries(
        "HTTP requests per second",
        "Requests the application answered per second (`sidewatch_http_requests_per_second`), " + http,
        refs((f"sidewatch_http_requests_per_second{{{SEL}}}", "{{target}}")),
        "reqps", t, words), 8, 8)
    t, words = levels(cfg, {"http_error_ratio"})
    L.add(timeseries(
        "HTTP 5xx share",
        "Share of the requests answered with a 5xx status (`sidewatch_http_error_ratio`; absent without a status label), " + http,
        refs((f"sidewatch_http_error_ratio{{{SEL}}}", "{{target}}")),
        "percentunit", t, words, maximum=1), 8, 8)
    t, words = levels(cfg, {"http_latency_p95_seconds"})
    L.add(timeseries(
        "HTTP P95 latency",
        "P95 request latency, interpolated in the buckets as histogram_quantile does (`sidewatch_http_latency_p95_seconds`), " + http,
        refs((f"sidewatch_http_latency_p95_seconds{{{SEL}}}", "{{target}}")),
        "s", t, words), 8, 8)

    # --- Probe (sidewatch's HTTP probe) -----------------------------------------------------
    L.row("Probe")
    probe = "of sidewatch's HTTP probe of the application (`probe:`); empty for a target without one."
    t, words = levels(cfg, {"probe_success_ratio"})
    L.add(timeseries(
        "Probe success",
        "Share of the probes that succeeded (`sidewatch_probe_requests_total`, result success of all; the probe_success_ratio signal) " + probe,
        refs((f'sum without (result, reason) (rate(sidewatch_probe_requests_total{{{SEL}, result="success"}}[{RATE}])) / sum without (result, reason) (rate(sidewatch_probe_requests_total{{{SEL}}}[{RATE}]))', "{{target}}")),
        "percentunit", t, words, maximum=1), 12, 8)
    t, words = levels(cfg, {"probe_duration_seconds"})
    L.add(timeseries(
        "Probe duration",
        "Mean duration of the probes sent (`sidewatch_probe_duration_seconds` sum over count; a timed-out probe counts its timeout) " + probe,
        refs((f"rate(sidewatch_probe_duration_seconds_sum{{{SEL}}}[{RATE}]) / rate(sidewatch_probe_duration_seconds_count{{{SEL}}}[{RATE}])", "{{target}}")),
        "s", t, words), 12, 8)

    # --- Network (the target's network namespace) ------------------------------------------
    L.row("Network")
    ns = "of the target's network namespace (`/proc/<pid>/net`); where `sidewatch_network_shared` is 1 the namespace is the host's and these figures are the host's."
    L.add(timeseries(
        "Network traffic",
        "Bytes per second received and transmitted per interface (`sidewatch_network_{receive,transmit}_bytes_total`, cAdvisor's meanings; `lo` is its own interface) " + ns,
        refs((f"rate(sidewatch_network_receive_bytes_total{{{SEL}}}[{RATE}])", "{{target}} {{interface}} receive"),
             (f"rate(sidewatch_network_transmit_bytes_total{{{SEL}}}[{RATE}])", "{{target}} {{interface}} transmit")),
        "Bps"), 8, 8)
    t, words = levels(cfg, {"tcp_retransmit_ratio"})
    L.add(timeseries(
        "TCP retransmitted share",
        "Retransmitted TCP segments over segments sent (rates of `sidewatch_tcp_segments_retransmitted_total` and `sidewatch_tcp_segments_sent_total`; the tcp_retransmit_ratio signal, unknown to the rules where the namespace is the host's) " + ns,
        refs((f"rate(sidewatch_tcp_segments_retransmitted_total{{{SEL}}}[{RATE}]) / rate(sidewatch_tcp_segments_sent_total{{{SEL}}}[{RATE}])", "{{target}}")),
        "percentunit", t, words), 8, 8)
    L.add(timeseries(
        "TCP connections by state",
        "Sockets of the namespace per TCP state (`sidewatch_tcp_connections`, from net/tcp and net/tcp6; absent when `network.tcp_states` is off, and in the host's namespace) " + ns,
        refs((f"sidewatch_tcp_connections{{{SEL}}}", "{{target}} {{state}}")),
        "none"), 8, 8)
    t, words = levels(cfg, {"accept_queue_ratio"})
    L.add(timeseries(
        "Accept queue use",
        "Connections waiting for accept() over the backlog, per port of the target's own listening sockets (`sidewatch_tcp_listen_queue` / `sidewatch_tcp_listen_backlog`; the accept_queue_ratio signal is the fullest port). The backlog is known only where sidewatch shares the target's namespace (sidecar, wrapper).",
        refs((f"sidewatch_tcp_listen_queue{{{SEL}}} / sidewatch_tcp_listen_backlog{{{SEL}}}", "{{target}} :{{port}}")),
        "percentunit", t, words), 12, 8)
    L.add(stat("Listen overflows in range", "Connections the kernel dropped because an accept queue of the namespace was full (`sidewatch_tcp_listen_overflows_total`, TcpExt ListenOverflows) during the dashboard's time range. Colours: the SidewatchListenOverflows levels (which stay silent where the namespace is the host's).",
               [q(f"increase(sidewatch_tcp_listen_overflows_total{{{SEL}}}[$__range])", "{{target}}", "A", instant=True)],
               "none", counter_steps(cfg, "listen_overflows")), 12, 8)

    # --- SLOs -------------------------------------------------------------------------------
    L.row("SLOs")
    L.add(timeseries(
        "Error budget remaining",
        "Per SLO and target, the share of the error budget left over the SLO's window (`sidewatch_slo_error_budget_remaining_ratio`): 100 % untouched, 0 spent, below 0 overspent.",
        refs((f"sidewatch_slo_error_budget_remaining_ratio{{{SEL}}}", "{{target}} {{slo}}")),
        "percentunit", [{"color": "red", "value": None}, {"color": "green", "value": 0}],
        "Dashed line: budget spent (0).", minimum=None), 8, 8)
    burn_steps = [{"color": "green", "value": None}] + [
        {"color": "orange" if f < 6 else "red", "value": f} for f in factors]
    burn_words = ("Dashed lines: the burn rates of SidewatchErrorBudgetBurn (" +
                  ", ".join(f"{f:g}x" for f in factors) +
                  "; orange opens a ticket, red pages, each when its long and short windows both exceed it).")
    L.add(timeseries(
        "Burn rate (sidewatch)",
        "How fast each SLO spends its error budget, as sidewatch computes it in-process over 5m, 1h and 6h (`sidewatch_slo_burn_rate`): 1 spends the budget exactly over the window.",
        refs((f"sidewatch_slo_burn_rate{{{SEL}}}", "{{target}} {{slo}} {{window}}")),
        "none", burn_steps, burn_words), 8, 8)
    L.add(timeseries(
        "Burn rate (Prometheus rules)",
        "The burn rate the alerts see: the recording rules' error ratio over 5m and 1h (`sidewatch:slo_error_ratio:rate5m`, `rate1h`, from `sidewatch rules`) divided by the error budget (1 - objective).",
        refs((f"sidewatch:slo_error_ratio:rate5m{{{SEL}}} / on (job, instance, target, slo) (1 - sidewatch_slo_objective_ratio{{{SEL}}})", "{{target}} {{slo}} 5m"),
             (f"sidewatch:slo_error_ratio:rate1h{{{SEL}}} / on (job, instance, target, slo) (1 - sidewatch_slo_objective_ratio{{{SEL}}})", "{{target}} {{slo}} 1h")),
        "none", burn_steps, burn_words), 8, 8)

    # --- sidewatch itself -------------------------------------------------------------------
    L.row("sidewatch")
    L.add(timeseries(
        "Tick duration (p99)",
        "Time one sampling tick takes (discovery, reads, accounting, rules, rendering): it must stay well below the sampling interval.",
        refs((f"histogram_quantile(0.99, sum by (job, instance, le) (rate(sidewatch_tick_duration_seconds_bucket{{{EXPORTER_SEL}}}[{RATE}])))", "{{instance}}")),
        "s"), 12, 6)
    L.add(timeseries(
        "Read errors",
        "Figures sidewatch could not read, by source file, per second (`sidewatch_read_errors_total`): such a figure is absent from /metrics, never 0.",
        refs((f"sum by (job, instance, source) (rate(sidewatch_read_errors_total{{{EXPORTER_SEL}}}[{RATE}]))", "{{instance}} {{source}}")),
        "cps"), 12, 6)
    return L.panels


# Every sidewatch serves the runbooks its alerts link to (docs/runbooks.md) at this path.
RUNBOOKS = "http://${instance}/docs/runbooks.md"


def variable(name, label, query, multi=True):
    return {"name": name, "label": label, "type": "query", "datasource": DS,
            "query": {"query": query, "refId": f"{name}-variable"}, "definition": query,
            "refresh": 2, "sort": 1, "multi": multi, "includeAll": multi,
            "allValue": ".+" if multi else None, "current": {}, "options": [], "hide": 0}


def dashboard(cfg, factors, runbooks=RUNBOOKS):
    return {
        "uid": UID,
        "title": "sidewatch",
        "description": "One application as sidewatch sees it: processes and cgroup (CPU, memory, threads, fds, I/O, pressure), its runtime (heap, tasks, GC, event-loop lag), its HTTP requests and probe, alerts and SLOs. Generated by grafana/dashboard.py.",
        "tags": ["sidewatch", "prometheus"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "links": [{"title": "Runbooks", "type": "link", "icon": "doc", "targetBlank": True,
                   "url": runbooks,
                   "tooltip": "docs/runbooks.md; by default as the selected sidewatch instance serves it"}],
        "annotations": {"list": [{"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                                  "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
                                  "name": "Annotations & Alerts", "type": "dashboard"}]},
        "templating": {"list": [
            {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
             "current": {}, "options": [], "refresh": 1, "hide": 0, "regex": ""},
            variable("job", "Job", "label_values(sidewatch_build_info, job)"),
            variable("instance", "Instance", 'label_values(sidewatch_build_info{job=~"$job"}, instance)'),
            variable("target", "Target", 'label_values(sidewatch_target_up{job=~"$job", instance=~"$instance"}, target)'),
        ]},
        "panels": build(cfg, factors),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rules", default=os.path.join(ROOT, "src/rules/defaults.yml"),
                   help="sidewatch config whose rules and SLOs give the threshold lines")
    p.add_argument("--rule-file", default=os.path.join(ROOT, "alerts/sidewatch.rules.yml"),
                   help="`sidewatch rules` output whose burn-rate factors give the burn-rate lines")
    p.add_argument("--runbook-base", default=RUNBOOKS,
                   help="where the Runbooks link points (as `sidewatch rules --runbook-base`); by "
                        "default the selected instance's own copy, which every sidewatch serves")
    a = p.parse_args()
    out = dashboard(read_rules(a.rules), burn_factors(a.rule_file), a.runbook_base)
    sys.stdout.write(json.dumps(out, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
