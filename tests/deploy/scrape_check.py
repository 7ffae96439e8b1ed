"""Assertions on what a deployed sidewatch serves, for scripts/test-deploy (Pod and unshare tests).

    scrape_check.py ready URL SNAPSHOT --labels k=v,...       wait until the target is up and
                                                              every EXPECT holds; save a snapshot
    scrape_check.py restarted URL BEFORE AFTER --labels ...   wait until the restart is counted;
                                                              no counter went backwards

Extending: add an entry to EXPECT (for example the cgroup figures once the cgroup readers land:
("sidewatch_cgroup_memory_working_set_bytes", {}, "> 0", lambda v: v > 0)). Every `*_total`
series of the target is checked for monotonicity across the restart without being listed.
"""

import argparse
import json
import sys
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

TARGET = "app"

# (metric, extra label matchers, description, predicate on the value). The target's labels are
# added to the matchers. Each proves a file the sidecar had to read: fd/ and io need the same
# uid as the application and no capability the application holds that sidewatch lacks.
EXPECT = [
    ("sidewatch_target_up", {}, "== 1", lambda v: v == 1),
    ("sidewatch_target_processes", {}, ">= 1", lambda v: v >= 1),
    ("sidewatch_process_resident_memory_bytes", {}, "> 0 (status)", lambda v: v > 0),
    ("sidewatch_process_threads", {}, ">= 1 (status)", lambda v: v >= 1),
    ("sidewatch_process_open_fds", {}, ">= 1 (fd/)", lambda v: v >= 1),
    ("sidewatch_process_fd_utilization_ratio", {}, "> 0 (limits)", lambda v: 0 < v <= 1),
    ("sidewatch_process_io_read_bytes_total", {}, ">= 0 (io)", lambda v: v >= 0),
    ("sidewatch_process_cpu_seconds_total", {"mode": "user"}, ">= 0 (stat)", lambda v: v >= 0),
    ("sidewatch_process_page_faults_total", {"kind": "minor"}, "> 0 (stat)", lambda v: v > 0),
    ("sidewatch_process_context_switches_total", {"kind": "voluntary"}, ">= 0", lambda v: v >= 0),
    ("sidewatch_process_cpu_wait_seconds_total", {}, ">= 0 (schedstat)", lambda v: v >= 0),
    ("sidewatch_process_start_time_seconds", {}, "> 0", lambda v: v > 0),
]
# Sources that must never fail for a same-uid application (read errors are counted, not hidden).
# Checked before any traffic and before the restart: a process that exits while a tick reads it
# (a request's child, the old application) is a legitimate read error.
NO_READ_ERRORS = ["stat", "status", "io", "limits", "schedstat", "fd", "cmdline", "exe"]


def scrape(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        body = r.read().decode()
    samples = {}
    for fam in text_string_to_metric_families(body):
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def find(samples, name, labels):
    for (n, ls), v in samples.items():
        d = dict(ls)
        if n == name and all(d.get(k) == val for k, val in labels.items()):
            return v
    return None


def failures(samples, target_labels, read_errors=True):
    out = []
    for name, extra, desc, pred in EXPECT:
        v = find(samples, name, {**target_labels, **extra})
        if v is None:
            out.append(f"{name}{extra} absent")
        elif not pred(v):
            out.append(f"{name}{extra} = {v}, expected {desc}")
    for src in NO_READ_ERRORS if read_errors else []:
        v = find(samples, "sidewatch_read_errors_total", {"source": src})
        if v is None or v != 0:
            out.append(f'sidewatch_read_errors_total{{source="{src}"}} = {v}, expected 0')
    return out


def wait(url, target_labels, timeout, extra_check=None, read_errors=True):
    deadline = time.monotonic() + timeout
    last = ["no scrape yet"]
    while time.monotonic() < deadline:
        try:
            samples = scrape(url)
            last = failures(samples, target_labels, read_errors)
            if extra_check:
                last += extra_check(samples)
            if not last:
                return samples
        except OSError as e:
            last = [f"scrape failed: {e}"]
        time.sleep(0.3)
    for f in last:
        print(f"  FAIL {f}")
    return None


def target_series(samples, target_labels):
    return {
        f"{n}{dict(ls)}": v
        for (n, ls), v in samples.items()
        if all(dict(ls).get(k) == val for k, val in target_labels.items())
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["ready", "restarted"])
    ap.add_argument("url")
    ap.add_argument("files", nargs="+")
    ap.add_argument("--labels", default="", help="constant labels the target must carry, k=v,...")
    ap.add_argument("--timeout", type=float, default=30)
    a = ap.parse_args()
    target_labels = {"target": TARGET}
    for kv in filter(None, a.labels.split(",")):
        k, v = kv.split("=", 1)
        target_labels[k] = v

    if a.mode == "ready":
        samples = wait(a.url, target_labels, a.timeout)
        if samples is None:
            print(f"ready: 0 passed, 1 failed (target {target_labels} not complete)")
            return 1
        with open(a.files[0], "w") as f:
            json.dump(target_series(samples, target_labels), f, indent=1, sort_keys=True)
        print(f"ready: {len(EXPECT) + len(NO_READ_ERRORS)} checks passed for {target_labels}")
        return 0

    before_file, after_file = a.files
    with open(before_file) as f:
        before = json.load(f)
    restarts_key = next(k for k in before if k.startswith("sidewatch_process_restarts_total"))
    start_key = next(k for k in before if k.startswith("sidewatch_process_start_time_seconds"))

    def restart_seen(samples):
        now = target_series(samples, target_labels)
        if now.get(restarts_key, 0) < before[restarts_key] + 1:
            return [f"restart not counted yet ({restarts_key} = {now.get(restarts_key)})"]
        if now.get(start_key) == before[start_key]:
            return ["main process start time unchanged"]
        return []

    samples = wait(a.url, target_labels, a.timeout, restart_seen, read_errors=False)
    if samples is None:
        print("restarted: 0 passed, 1 failed")
        return 1
    after = target_series(samples, target_labels)
    with open(after_file, "w") as f:
        json.dump(after, f, indent=1, sort_keys=True)
    counters = [k for k in before if k.split("{")[0].endswith("_total")]
    bad = [k for k in counters if k not in after or after[k] < before[k]]
    for k in bad:
        print(f"  FAIL counter went backwards or vanished: {k}: {before[k]} -> {after.get(k)}")
    print(
        f"restarted: restarts {before[restarts_key]:g} -> {after[restarts_key]:g}; "
        f"{len(counters) - len(bad)} counters non-decreasing, {len(bad)} went backwards"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
