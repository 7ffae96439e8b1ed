//! The fleet rollup live: three sidewatch instances stand for three replicas of one workload
//! (`shop/api`), each watching a different real process (its own memory cgroup with the same
//! 256 MiB limit, a different resident size and CPU duty cycle), so each builds a different
//! history and recommends differently. One real Prometheus scrapes them with the relabeling the
//! shipped ServiceMonitor applies (the workload label from the Pod template's
//! `app.kubernetes.io/name`) and evaluates the rules `sidewatch rules` generates. Every workload
//! recommendation it records equals the combination the test computes from the three instances'
//! own scraped samples at that instant. Then every query of the fleet dashboard runs against it.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::cgroups::{TestCgroups, hierarchies};
use common::stack::{Prometheus, assert_generated, wait_for};
use common::*;
use serde_json::Value;
use serde_yaml_ng::Value as Yaml;

const MIB: usize = 1024 * 1024;
const LIMIT_BYTES: usize = 256 * MIB;

/// Holds `mb` MiB written (resident) and spins `duty` of every 100 ms.
const WORKLOAD: &str = "\
import sys, time
mb, duty = int(sys.argv[1]), float(sys.argv[2])
kept = b'x' * (mb * 1024 * 1024)
while True:
    t = time.monotonic()
    while time.monotonic() - t < 0.1 * duty:
        pass
    time.sleep(0.1 * (1 - duty))
";

/// (pod, MiB held, CPU duty): three different histories.
const REPLICAS: [(&str, usize, f64); 3] =
    [("api-0", 20, 0.0), ("api-1", 60, 0.2), ("api-2", 40, 0.05)];

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A memory cgroup below ours with the workload's limit.
fn memory_cgroup(name: &str) -> TestCgroups {
    assert!(
        std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap()) == 0,
        "the fleet test gives each replica a memory cgroup and must run as root (CI does)"
    );
    let hs = hierarchies();
    let h = hs
        .iter()
        .find(|h| h.controllers.iter().any(|c| c == "memory"))
        .expect("no cgroup v1 memory controller mounted: this test needs a v1 or hybrid host");
    let d = h.mount_point.join(h.own.trim_start_matches('/')).join(name);
    std::fs::create_dir(&d).unwrap_or_else(|e| panic!("mkdir {}: {e}", d.display()));
    let cg = TestCgroups { dirs: vec![d] };
    std::fs::write(
        cg.dirs[0].join("memory.limit_in_bytes"),
        LIMIT_BYTES.to_string(),
    )
    .unwrap();
    cg
}

/// The replica's process, started inside `cg` (so its memory is charged there from the start).
fn replica(cg: &TestCgroups, mb: usize, duty: f64) -> Proc {
    let py = require_tool("python3", "python3");
    spawn(
        Command::new("sh")
            .args([
                "-c",
                "echo $$ > \"$1\" && exec \"$2\" -c \"$3\" \"$4\" \"$5\"",
                "sh",
                &cg.procs_files()[0],
                py.to_str().unwrap(),
                WORKLOAD,
                &mb.to_string(),
                &duty.to_string(),
            ])
            .stdin(Stdio::null()),
    )
}

/// The sidecar of one replica: the base's target labels, a short `min_history`.
fn sidecar(dir: &Path, pod: &str, pid: i32) -> Daemon {
    let cfg = dir.join(format!("{pod}.yml"));
    std::fs::write(
        &cfg,
        format!(
            "interval: 500ms
targets:
  - name: app
    pid: {pid}
    labels: {{namespace: shop, pod: {pod}, container: app}}
history:
  min_history: 3s
rules: []
slos: []
"
        ),
    )
    .unwrap();
    Daemon::start(&["--config", cfg.to_str().unwrap()])
}

/// The ServiceMonitor's `relabelings`, as a scrape config's `relabel_configs`.
fn shipped_relabel_configs() -> Yaml {
    let sm: Yaml = serde_yaml_ng::from_str(
        &std::fs::read_to_string(repo("deploy/kubernetes/base/servicemonitor.yaml")).unwrap(),
    )
    .unwrap();
    let mut out = Vec::new();
    for r in sm["spec"]["endpoints"][0]["relabelings"]
        .as_sequence()
        .unwrap()
    {
        let mut m = serde_yaml_ng::Mapping::new();
        m.insert("source_labels".into(), r["sourceLabels"].clone());
        m.insert("target_label".into(), r["targetLabel"].clone());
        out.push(Yaml::Mapping(m));
    }
    assert!(!out.is_empty(), "the ServiceMonitor sets no workload label");
    Yaml::Sequence(out)
}

fn prometheus(dir: &Path, sidecars: &[(&str, &Daemon)]) -> Prometheus {
    let rules = Command::new(BIN)
        .arg("rules")
        .env_remove("SIDEWATCH_CONFIG")
        .output()
        .unwrap();
    assert!(rules.status.success());
    std::fs::write(dir.join("rules.yml"), &rules.stdout).unwrap();
    // What Kubernetes discovery gives a Pod of the Deployment: its template's labels as meta labels.
    let statics: Vec<Yaml> = sidecars
        .iter()
        .map(|(_, d)| {
            serde_yaml_ng::from_str(&format!(
                "{{targets: ['{}'], labels: {{__meta_kubernetes_pod_label_app_kubernetes_io_name: api}}}}",
                d.addr
            ))
            .unwrap()
        })
        .collect();
    let mut job: Yaml = serde_yaml_ng::from_str(
        "{job_name: sidewatch, scrape_interval: 1s, scrape_timeout: 900ms, honor_labels: true}",
    )
    .unwrap();
    job["static_configs"] = Yaml::Sequence(statics);
    job["relabel_configs"] = shipped_relabel_configs();
    let mut cfg: Yaml =
        serde_yaml_ng::from_str("{global: {evaluation_interval: 1s}, rule_files: [rules.yml]}")
            .unwrap();
    cfg["scrape_configs"] = Yaml::Sequence(vec![job]);
    std::fs::write(
        dir.join("prometheus.yml"),
        serde_yaml_ng::to_string(&cfg).unwrap(),
    )
    .unwrap();
    Prometheus::start(dir, &[])
}

/// Raw samples (time, value) of each series a range selector returns, with its labels.
fn raw(prom: &Prometheus, selector: &str) -> Vec<(Value, Vec<(f64, f64)>)> {
    prom.query(selector)
        .into_iter()
        .map(|s| {
            let points = s["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    (
                        p[0].as_f64().unwrap(),
                        p[1].as_str().unwrap().parse().unwrap(),
                    )
                })
                .collect();
            (s["metric"].clone(), points)
        })
        .collect()
}

/// The value of the sample at or before `t` (`back` = 1: the one before that).
fn at(points: &[(f64, f64)], t: f64, back: usize) -> Option<f64> {
    let i = points.iter().rposition(|(ts, _)| *ts <= t)?;
    i.checked_sub(back).map(|i| points[i].1)
}

/// Every sample Prometheus recorded for `record` over the last 20 s is the highest of the
/// per-Pod series at that instant. A scrape in flight while the rule ran (its sample stamped
/// just before the evaluation but stored after it) makes the rule see that Pod's previous
/// sample: that value is accepted for a Pod whose sample is less than 200 ms older than the
/// evaluation. Returns how many recorded samples were checked.
fn check_max(prom: &Prometheus, record: &str, per_pod: &str) -> usize {
    let pods = raw(prom, &format!("{per_pod}{{namespace=\"shop\"}}[20s]"));
    assert_eq!(pods.len(), REPLICAS.len(), "{per_pod}: {pods:?}");
    for (m, _) in &pods {
        assert_eq!(m["workload"], "api", "{m}");
    }
    let rec = raw(prom, &format!("{record}[20s]"));
    assert_eq!(rec.len(), 1, "{record}: {rec:?}");
    assert_eq!(rec[0].0["namespace"], "shop");
    assert_eq!(rec[0].0["workload"], "api");
    let mut checked = 0;
    for &(t, v) in &rec[0].1 {
        let now: Vec<Option<f64>> = pods.iter().map(|(_, p)| at(p, t, 0)).collect();
        if now.iter().any(Option::is_none) {
            continue; // before every Pod had a sample in the window
        }
        let max = |vals: &[f64]| vals.iter().cloned().fold(f64::MIN, f64::max);
        let expected = max(&now.iter().map(|v| v.unwrap()).collect::<Vec<_>>());
        let in_flight = max(&pods
            .iter()
            .map(|(_, p)| {
                let fresh = p.iter().rev().find(|(ts, _)| *ts <= t).unwrap().0 > t - 0.2;
                at(p, t, usize::from(fresh)).or(at(p, t, 0)).unwrap()
            })
            .collect::<Vec<_>>());
        assert!(
            v == expected || v == in_flight,
            "{record} at {t} is {v}; the highest per-Pod {per_pod} then is {expected} (per Pod: {now:?})"
        );
        checked += 1;
    }
    checked
}

#[test]
fn workload_recommendation_is_the_combination_of_three_replicas() {
    let dir = tempfile::tempdir().unwrap();
    let mut cgroups = Vec::new();
    let mut procs = Vec::new();
    let mut sidecars = Vec::new();
    for (pod, mb, duty) in REPLICAS {
        let cg = memory_cgroup(&format!("sidewatch-fleet-{}-{pod}", std::process::id()));
        let p = replica(&cg, mb, duty);
        sidecars.push((pod, sidecar(dir.path(), pod, p.pid())));
        procs.push(p);
        cgroups.push(cg);
    }
    for (pod, d) in &sidecars {
        d.wait_until(Duration::from_secs(30), |d| {
            d.metrics()
                .has("sidewatch_recommendation_memory_request_bytes")
        });
        eprintln!("{pod}: recommendations published");
    }
    let refs: Vec<(&str, &Daemon)> = sidecars.iter().map(|(p, d)| (*p, d)).collect();
    let prom = prometheus(dir.path(), &refs);
    let records = [
        (
            "workload:sidewatch_recommendation_cpu_request_cores:max",
            "sidewatch_recommendation_cpu_request_cores",
        ),
        (
            "workload:sidewatch_recommendation_memory_request_bytes:max",
            "sidewatch_recommendation_memory_request_bytes",
        ),
        (
            "workload:sidewatch_recommendation_memory_limit_bytes:max",
            "sidewatch_recommendation_memory_limit_bytes",
        ),
    ];
    // 20 s of scrapes and evaluations (about 20 recorded samples each).
    wait_for(Duration::from_secs(60), "20 s of recorded samples", || {
        records.iter().all(|(r, _)| {
            prom.query(&format!("count_over_time({r}[20s])"))
                .first()
                .and_then(|s| s["value"][1].as_str()?.parse::<f64>().ok())
                .is_some_and(|n| n >= 18.0)
        })
    });
    for (record, per_pod) in records {
        let n = check_max(&prom, record, per_pod);
        eprintln!("{record}: {n} recorded samples checked");
        assert!(n >= 10, "{record}: only {n} samples to check");
    }
    // The histories differ: the replicas' memory recommendations are three different values.
    let mut mem: Vec<String> = prom
        .query("sidewatch_recommendation_memory_request_bytes")
        .iter()
        .map(|s| s["value"][1].as_str().unwrap().to_string())
        .collect();
    mem.sort();
    mem.dedup();
    assert_eq!(mem.len(), 3, "{mem:?}");
    check_dashboard(&prom);
    drop(procs);
    drop(cgroups);
}

/// Fleet dashboard queries that return nothing here, with the reason; each must still parse.
const NO_DATA_HERE: [(&str, &str, &str); 7] = [
    ("Over-requested workloads: CPU", "A", "kube-state-metrics"),
    (
        "Over-requested workloads: memory",
        "A",
        "kube-state-metrics",
    ),
    ("Under-requested workloads: CPU", "A", "kube-state-metrics"),
    (
        "Under-requested workloads: memory",
        "A",
        "kube-state-metrics",
    ),
    (
        "CPU request: recommended vs current",
        "B",
        "kube-state-metrics",
    ),
    ("Memory: recommended vs current", "C", "kube-state-metrics"),
    (
        "Memory limit raised by an OOM kill",
        "A",
        "no OOM kill (alerts/tests/fleet.yml has them)",
    ),
];

/// Every query of grafana/fleet.json (variables at "all") parses, and returns data unless
/// NO_DATA_HERE names it.
fn check_dashboard(prom: &Prometheus) {
    let d: Value =
        serde_json::from_str(&std::fs::read_to_string(repo("grafana/fleet.json")).unwrap())
            .unwrap();
    let mut with_data = 0;
    for p in d["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().into_iter().flatten() {
            let (title, r) = (p["title"].as_str().unwrap(), t["refId"].as_str().unwrap());
            let expr = t["expr"]
                .as_str()
                .unwrap()
                .replace("$namespace", ".+")
                .replace("$workload", ".+");
            let v = prom.api(&format!(
                "/api/v1/query?query={}",
                common::stack::urlencode(&expr)
            ));
            assert_eq!(v["status"], "success", "{title} [{r}]: {v}");
            let has = !v["data"]["result"].as_array().unwrap().is_empty();
            let excused = NO_DATA_HERE
                .iter()
                .find(|(t, rr, _)| *t == title && *rr == r);
            match excused {
                Some((_, _, why)) => {
                    assert!(!has, "{title} [{r}] returns data but is excused ({why})")
                }
                None => {
                    assert!(has, "{title} [{r}] returns no data: {expr}");
                    with_data += 1;
                }
            }
        }
    }
    eprintln!("fleet dashboard: {with_data} queries returned data");
    assert!(with_data >= 5, "{with_data}");
}

#[test]
fn shipped_fleet_dashboard_is_the_generator_output() {
    let py = require_tool("python3", "python3");
    let o = Command::new(py)
        .arg(repo("grafana/fleet.py"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_generated(
        &String::from_utf8(o.stdout).unwrap(),
        &repo("grafana/fleet.json"),
        "SIDEWATCH_BLESS=1 cargo test --test fleet shipped (or python3 grafana/fleet.py > grafana/fleet.json)",
    );
}

/// alerts/tests/fleet.yml evaluates every record of the sidewatch.fleet group (the intermediate
/// OOM records through the limit that reads them).
#[test]
fn promtool_tests_cover_every_fleet_record() {
    let rules: Yaml = serde_yaml_ng::from_str(
        &std::fs::read_to_string(repo("alerts/sidewatch.rules.yml")).unwrap(),
    )
    .unwrap();
    let tests = std::fs::read_to_string(repo("alerts/tests/fleet.yml")).unwrap();
    let group = rules["groups"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "sidewatch.fleet")
        .expect("no sidewatch.fleet group in alerts/sidewatch.rules.yml");
    let mut tested = 0;
    for r in group["rules"].as_sequence().unwrap() {
        let name = r["record"].as_str().unwrap();
        if name.contains("_oom_") {
            continue;
        }
        assert!(
            tests.contains(&format!("- expr: {name}")),
            "{name} is not tested in alerts/tests/fleet.yml"
        );
        tested += 1;
    }
    assert_eq!(tested, 5);
}
