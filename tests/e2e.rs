//! End to end, with the real components a user runs: sidewatch watches a python3 child in real
//! cgroups (memory limit, CPU quota, pids limit, a v2 group for PSI); a real Prometheus scrapes it
//! every second and evaluates the rules `sidewatch rules --config` generated from the built-in
//! defaults with the memory alert lowered to 50MiB for 2s; a real Alertmanager, loaded with
//! `alerts/alertmanager.example.yml` (receivers pointed at a webhook receiver written for this
//! test, timings shortened), routes the alerts. The child grows past the threshold: the
//! `ticket` receiver gets the firing SidewatchMemoryHigh with `target`, `severity`, `summary`
//! and `runbook_url`; it frees the memory: the resolved notification follows.
//!
//! The same for an application signal: a Node.js app (prom-client from the npm registry,
//! installed by scripts/test into target/node) is watched with `app.metrics_url`, and
//! SidewatchGoroutinesHigh (on `runtime_tasks`, its active handles) is lowered to 20 for 2s for
//! it. The app opens 40 listening sockets: the firing alert, with the handle count the app itself
//! reports, reaches the `ticket` receiver; it closes them: the resolved notification follows.
//!
//! Then the dashboard check: every query of `grafana/sidewatch.json`, its variables
//! substituted as Grafana would for this run, is run against that Prometheus over the test's
//! time range. Each must parse and return data, unless `grafana/needs-history.txt` names it
//! with a reason; a listed query must still parse, and must not return data (a stale entry
//! fails too, so the list stays true).
//!
//! Runs as root (it creates cgroups), like CI; otherwise it fails, never skips.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::cgroups::*;
use common::stack::*;
use common::*;
use serde_json::Value;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

// ---------------------------------------------------------------------------------------------
// Cgroups for the child (as in tests/cgroup_live.rs).

/// Creates `name` below this process's cgroup in the memory, cpu, cpuacct and pids
/// hierarchies and the v2 one (PSI on a hybrid host), with limits set.
fn child_cgroups(name: &str) -> TestCgroups {
    assert!(
        std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap()) == 0,
        "the end-to-end test creates cgroups for its child and must run as root (CI does): run scripts/test as root or with sudo"
    );
    let hs = hierarchies();
    let find = |c: &str| hs.iter().find(|h| h.controllers.iter().any(|x| x == c));
    let mut wanted: Vec<(&Mounted, &str)> = Vec::new();
    for c in ["memory", "cpu", "cpuacct", "pids"] {
        let h = find(c).unwrap_or_else(|| {
            panic!("no cgroup v1 {c} controller mounted: this test needs a v1 or hybrid host")
        });
        wanted.push((h, c));
    }
    wanted.extend(
        hs.iter()
            .filter(|h| h.controllers.is_empty())
            .map(|h| (h, "")),
    );
    let mut cg = TestCgroups { dirs: Vec::new() };
    for (h, controller) in wanted {
        let d = h.mount_point.join(h.own.trim_start_matches('/')).join(name);
        if !cg.dirs.contains(&d) {
            std::fs::create_dir(&d).unwrap_or_else(|e| panic!("mkdir {}: {e}", d.display()));
            cg.dirs.push(d.clone());
        }
        let set = |file: &str, v: &str| {
            std::fs::write(d.join(file), v)
                .unwrap_or_else(|e| panic!("{}: {e}", d.join(file).display()))
        };
        match controller {
            "memory" => set("memory.limit_in_bytes", &(512u64 << 20).to_string()),
            "cpu" => {
                set("cpu.cfs_period_us", "100000");
                set("cpu.cfs_quota_us", "50000");
            }
            "pids" => set("pids.max", "256"),
            _ => {}
        }
    }
    cg
}

/// `sh` moves itself into every cgroup, then execs the program (no code of this process runs
/// between fork and exec).
fn in_cgroups(cg: &TestCgroups, program: &[&str]) -> Command {
    let mut script = String::from("for f in \"$@\"; do echo $$ > \"$f\" || exit 97; done; exec");
    for a in program {
        script.push_str(&format!(" '{}'", a.replace('\'', "'\\''")));
    }
    let mut c = Command::new("/bin/sh");
    c.arg("-c").arg(script).arg("sh");
    for d in &cg.dirs {
        c.arg(d.join("cgroup.procs"));
    }
    c.stdin(Stdio::null());
    c
}

// ---------------------------------------------------------------------------------------------
// The child and the configs.

/// Allocates 96 MiB (every page written) while `<dir>/grow` exists and frees it when it is
/// removed; burns a little CPU and writes a little to disk, so the CPU and I/O panels have
/// something to show.
const CHILD: &str = r#"
import os, sys, threading, time
d = sys.argv[1]
def burn():
    while True:
        t = time.monotonic()
        while time.monotonic() - t < 0.005:
            pass
        time.sleep(0.045)
threading.Thread(target=burn, daemon=True).start()
out = open(os.path.join(d, "io.dat"), "wb")
buf = None
last_write = 0.0
open(os.path.join(d, "ready"), "w").close()
while True:
    grow = os.path.exists(os.path.join(d, "grow"))
    if grow and buf is None:
        buf = bytearray(b"x") * (96 << 20)
    elif not grow and buf is not None:
        buf = None                      # glibc unmaps a block this large: the memory is freed
    if time.monotonic() - last_write > 1:
        out.seek(0)
        out.write(os.urandom(1 << 16))
        out.flush()
        os.fsync(out.fileno())
        last_write = time.monotonic()
    time.sleep(0.02)
"#;

/// `defaults` with the first (warning) rule named `alert` edited by `edits` (each must apply)
/// and restricted to `target`.
fn lowered(defaults: &str, alert: &str, target: &str, edits: &[(&str, &str)]) -> String {
    let start = defaults.find(&format!("  - alert: {alert}\n")).unwrap();
    let len = defaults[start + 4..].find("  - alert: ").unwrap() + 4;
    let block = &defaults[start..start + len];
    assert!(block.contains("severity: warning\n"), "{block}");
    let mut new = block.replace(
        "severity: warning\n",
        &format!("severity: warning\n    targets: [{target}]\n"),
    );
    for (from, to) in edits {
        assert!(new.contains(from), "{from} in {new}");
        new = new.replace(from, to);
    }
    defaults.replacen(block, &new, 1)
}

/// The built-in defaults with the warning level of SidewatchMemoryHigh at 50MiB for 2s for hog,
/// and that of SidewatchGoroutinesHigh at 20 for 2s for the Node.js app web (their annotations
/// say so too); everything else as shipped.
fn e2e_config(pid: i32, web_pid: i32, web: std::net::SocketAddr) -> String {
    let defaults = std::fs::read_to_string(repo("src/rules/defaults.yml")).unwrap();
    let two_seconds = [("for: 5m", "for: 2s"), ("for 5 minutes", "for 2 seconds")];
    let mut edits = vec![("500MiB", "50MiB")];
    edits.extend(two_seconds);
    let rules = lowered(&defaults, "SidewatchMemoryHigh", "hog", &edits);
    let mut edits = vec![("value: 10k", "value: 20"), ("above 10000", "above 20")];
    edits.extend(two_seconds);
    let rules = lowered(&rules, "SidewatchGoroutinesHigh", "web", &edits);
    assert_eq!(rules.matches("50MiB").count(), 3, "{rules}");
    assert!(
        rules.contains("above 20\"") && rules.contains("above 20 for 2 seconds"),
        "{rules}"
    );
    format!(
        "interval: 500ms\ntargets:\n  - name: hog\n    pid: {pid}\n  - name: web\n    pid: {web_pid}\n    app:\n      metrics_url: http://{web}/metrics\n      timeout: 400ms\n    probe:\n      url: http://{web}/metrics\n      timeout: 400ms\n{rules}"
    )
}

/// A Node.js app with prom-client's default metrics that keeps 40 listening sockets open (40
/// active handles more) while `<dir>/handles` exists, and makes some garbage for its GC. It
/// times the requests it serves (sidewatch's fetches and probes) in OpenTelemetry's HTTP
/// histogram, so the request signals and the Requests panels have data.
const NODE_APP: &str = "\
const fs = require('fs'), http = require('http'), net = require('net'), path = require('path');
const client = require(process.argv[4]);
client.collectDefaultMetrics();
const duration = new client.Histogram({
  name: 'http_server_request_duration_seconds', help: 'Duration of HTTP server requests.',
  labelNames: ['http_response_status_code'],
  buckets: [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10],
});
const flag = path.join(process.argv[3], 'handles');
let servers = [], garbage = [];
setInterval(() => {
  garbage.push(new Array(10000).fill(1));
  if (garbage.length > 50) garbage = [];
  const want = fs.existsSync(flag) ? 40 : 0;
  while (servers.length < want) servers.push(net.createServer().listen(0, '127.0.0.1'));
  while (servers.length > want) servers.pop().close();
}, 50);
http.createServer(async (req, res) => {
  const end = duration.startTimer();
  res.setHeader('Content-Type', client.register.contentType);
  res.end(await client.register.metrics());
  end({ http_response_status_code: res.statusCode });
}).listen(Number(process.argv[2]), '127.0.0.1');
";

/// `alerts/alertmanager.example.yml` as the test runs it: every receiver a webhook to
/// `<webhook>/<receiver name>`, group and resolve timings of a second.
fn e2e_alertmanager_config(webhook: &Webhook) -> (String, Value) {
    let text = std::fs::read_to_string(repo("alerts/alertmanager.example.yml")).unwrap();
    let mut cfg: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    cfg["global"]["resolve_timeout"] = "5s".into();
    fn shorten(route: &mut serde_yaml_ng::Value) {
        for k in ["group_wait", "group_interval"] {
            if route.get(k).is_some() {
                route[k] = "1s".into();
            }
        }
        if let Some(routes) = route.get_mut("routes").and_then(|r| r.as_sequence_mut()) {
            routes.iter_mut().for_each(shorten);
        }
    }
    shorten(&mut cfg["route"]);
    for r in cfg["receivers"].as_sequence_mut().unwrap() {
        let name = r["name"].as_str().unwrap().to_string();
        let hooks = r["webhook_configs"].as_sequence_mut().unwrap();
        assert_eq!(hooks.len(), 1);
        hooks[0]["url"] = webhook.url(&format!("/{name}")).into();
        hooks[0]["send_resolved"] = true.into();
    }
    let json = serde_json::to_value(&cfg).unwrap();
    (serde_yaml_ng::to_string(&cfg).unwrap(), json)
}

// ---------------------------------------------------------------------------------------------
// The test.

fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The SidewatchMemoryHigh alerts of the notifications a receiver got, with the notification's
/// arrival and the alert's status.
fn memory_alerts(hook: &Webhook, receiver: &str) -> Vec<(Instant, Value)> {
    alerts_named(hook, receiver, "SidewatchMemoryHigh")
}

/// The alerts named `alertname` of the notifications a receiver got, with the notification's
/// arrival and the alert's status.
fn alerts_named(hook: &Webhook, receiver: &str, alertname: &str) -> Vec<(Instant, Value)> {
    hook.received()
        .into_iter()
        .filter(|n| n.path == format!("/{receiver}"))
        .flat_map(|n| {
            n.body["alerts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(move |a| a["labels"]["alertname"] == alertname)
                .map(move |a| (n.at, a))
        })
        .collect()
}

#[test]
fn memory_alert_reaches_the_webhook_and_every_dashboard_query_returns_data() {
    require_tool("promtool", "prometheus");
    require_tool("amtool", "prometheus-alertmanager");
    alertmanager_bin();
    let python = require_tool("python3", "python3");
    let test_start = now_unix();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    let cg = child_cgroups(&format!("sidewatch-e2e-{}", std::process::id()));
    std::fs::write(d.join("child.py"), CHILD).unwrap();
    let child = spawn(
        in_cgroups(
            &cg,
            &[
                python.to_str().unwrap(),
                d.join("child.py").to_str().unwrap(),
                d.to_str().unwrap(),
            ],
        )
        .stdout(Stdio::null()),
    );
    wait_for(Duration::from_secs(10), "the child to start", || {
        d.join("ready").exists()
    });
    let web = free_addr();
    let node_app = start_node_app(d, web);

    // sidewatch, and the rules it generates from the same config.
    let config = d.join("sidewatch.yml");
    std::fs::write(&config, e2e_config(child.pid(), node_app.pid(), web)).unwrap();
    let rules = Command::new(BIN)
        .args(["rules", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        rules.status.success(),
        "{}",
        String::from_utf8_lossy(&rules.stderr)
    );
    std::fs::write(d.join("rules.yml"), &rules.stdout).unwrap();
    let sw = Daemon::start(&["--config", config.to_str().unwrap()]);

    // Alertmanager with the example's routing and inhibition; the webhook receiver.
    let hook = Webhook::start();
    let (am_config, am_json) = e2e_alertmanager_config(&hook);
    assert_eq!(am_json["route"]["group_wait"], "1s");
    let am = Alertmanager::start(d, &am_config);

    // Prometheus: scrapes and evaluates every second, resends every second.
    std::fs::write(
        d.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nrule_files: [rules.yml]\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{}']\nscrape_configs:\n  - job_name: sidewatch\n    static_configs:\n      - targets: ['{}']\n",
            am.addr, sw.addr
        ),
    )
    .unwrap();
    let prom = Prometheus::start(d, &["--rules.alert.resend-delay=1s"]);
    wait_for(
        Duration::from_secs(30),
        "Prometheus to load the rules, find Alertmanager and scrape the child below the threshold",
        || {
            let rules = prom.api("/api/v1/rules");
            let ams = prom.api("/api/v1/alertmanagers");
            rules.to_string().contains("SidewatchMemoryHigh")
                && ams["data"]["activeAlertmanagers"]
                    .as_array()
                    .is_some_and(|a| !a.is_empty())
                && prom
                    .query("sidewatch_cgroup_memory_working_set_bytes{target=\"hog\"} < 52428800")
                    .len()
                    == 1
        },
    );
    assert!(memory_alerts(&hook, "ticket").is_empty());

    // The child crosses 50MiB: pending, firing after 2s, delivered to the warning receiver.
    let grown = Instant::now();
    std::fs::write(d.join("grow"), "").unwrap();
    wait_for(
        Duration::from_secs(40),
        "the firing SidewatchMemoryHigh at the ticket receiver",
        || {
            memory_alerts(&hook, "ticket")
                .iter()
                .any(|(_, a)| a["status"] == "firing")
        },
    );
    let (fired_at, firing) = memory_alerts(&hook, "ticket")
        .into_iter()
        .find(|(_, a)| a["status"] == "firing")
        .unwrap();
    let to_firing = fired_at - grown;
    let l = &firing["labels"];
    assert_eq!(l["alertname"], "SidewatchMemoryHigh", "{firing}");
    assert_eq!(l["severity"], "warning", "{firing}");
    assert_eq!(l["target"], "hog", "{firing}");
    assert_eq!(l["job"], "sidewatch", "{firing}");
    assert_eq!(l["instance"], sw.addr.to_string(), "{firing}");
    let a = &firing["annotations"];
    let summary = a["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("hog uses ")
            && summary.ends_with("iB of memory (working set), above 50MiB"),
        "{firing}"
    );
    // The working set the alert reports is the child's 96 MiB plus the interpreter.
    let value: f64 = summary
        .trim_start_matches("hog uses ")
        .split("MiB")
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("{summary}"));
    assert!((96.0..200.0).contains(&value), "{summary}");
    assert!(
        a["description"]
            .as_str()
            .unwrap()
            .contains("has been above 50MiB for 2 seconds"),
        "{firing}"
    );
    assert_eq!(a["runbook_url"], "docs/runbooks.md#sidewatchmemoryhigh");
    assert!(
        to_firing >= Duration::from_secs(2),
        "fired before its `for`: {to_firing:?}"
    );
    assert!(
        to_firing < Duration::from_secs(30),
        "fired late: {to_firing:?}"
    );
    // The critical level (1GiB) stays quiet: nothing for SidewatchMemoryHigh at the pager.
    assert!(memory_alerts(&hook, "pager").is_empty());

    // The child frees: the resolved notification follows.
    let freed = Instant::now();
    std::fs::remove_file(d.join("grow")).unwrap();
    wait_for(
        Duration::from_secs(30),
        "the resolved SidewatchMemoryHigh at the ticket receiver",
        || {
            memory_alerts(&hook, "ticket")
                .iter()
                .any(|(at, a)| *at > freed && a["status"] == "resolved")
        },
    );
    let (resolved_at, resolved) = memory_alerts(&hook, "ticket")
        .into_iter()
        .find(|(at, a)| *at > freed && a["status"] == "resolved")
        .unwrap();
    let to_resolved = resolved_at - freed;
    assert_eq!(resolved["labels"], firing["labels"]);
    assert_eq!(resolved["annotations"]["runbook_url"], a["runbook_url"]);
    assert!(resolved["endsAt"].as_str().unwrap() >= resolved["startsAt"].as_str().unwrap());
    assert!(
        to_resolved < Duration::from_secs(20),
        "resolved late: {to_resolved:?}"
    );
    eprintln!(
        "e2e: firing notification {:.1}s after the child crossed 50MiB (for: 2s), resolved notification {:.1}s after it freed",
        to_firing.as_secs_f64(),
        to_resolved.as_secs_f64()
    );
    assert!(memory_alerts(&hook, "pager").is_empty());

    goroutines_alert_round_trip(&hook, &prom, d, web);

    // A few more scrapes after the load, then the dashboard check over the whole run.
    std::thread::sleep(Duration::from_secs(3));
    check_dashboard(&prom, &sw.addr.to_string(), test_start, now_unix());
    drop(child);
    drop(node_app);
    drop(cg);
}

/// Starts the Node.js app of [`NODE_APP`] serving its metrics at `addr`, its flag file in `dir`.
fn start_node_app(dir: &Path, addr: std::net::SocketAddr) -> Proc {
    let module = repo("target/node/node_modules/prom-client");
    assert!(
        module.is_dir(),
        "prom-client is not installed: run `npm install --prefix target/node prom-client@15` (scripts/test does)"
    );
    let node = require_tool("node", "nodejs");
    std::fs::write(dir.join("app.js"), NODE_APP).unwrap();
    let app = spawn(
        Command::new(node)
            .arg(dir.join("app.js"))
            .arg(addr.port().to_string())
            .arg(dir)
            .arg(&module)
            .stdin(Stdio::null())
            .stdout(Stdio::null()),
    );
    wait_for(Duration::from_secs(10), "the node app", || {
        std::net::TcpStream::connect(addr).is_ok()
    });
    app
}

/// The app's own handle count, read from its /metrics.
fn node_handles(addr: std::net::SocketAddr) -> f64 {
    let r = http(addr, "GET", "/metrics", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    Metrics::parse(&String::from_utf8(body(&r)).unwrap())
        .get("nodejs_active_handles_total", &[])
        .unwrap()
}

/// The Node.js app opens 40 sockets: SidewatchGoroutinesHigh (lowered to 20 for 2s) reaches the
/// ticket receiver with the app's handle count; it closes them: the resolved notification.
fn goroutines_alert_round_trip(
    hook: &Webhook,
    prom: &Prometheus,
    dir: &Path,
    web: std::net::SocketAddr,
) {
    let alerts = |receiver: &str| alerts_named(hook, receiver, "SidewatchGoroutinesHigh");
    wait_for(
        Duration::from_secs(20),
        "Prometheus to scrape web's runtime tasks below 20",
        || {
            prom.query("sidewatch_runtime_tasks{target=\"web\"} < 20")
                .len()
                == 1
        },
    );
    assert!(alerts("ticket").is_empty());
    let opened = Instant::now();
    std::fs::write(dir.join("handles"), "").unwrap();
    wait_for(
        Duration::from_secs(40),
        "the firing SidewatchGoroutinesHigh at the ticket receiver",
        || {
            alerts("ticket")
                .iter()
                .any(|(_, a)| a["status"] == "firing")
        },
    );
    let (fired_at, firing) = alerts("ticket")
        .into_iter()
        .find(|(_, a)| a["status"] == "firing")
        .unwrap();
    let now_handles = node_handles(web);
    let l = &firing["labels"];
    assert_eq!(
        (&l["severity"], &l["target"], &l["job"]),
        (&"warning".into(), &"web".into(), &"sidewatch".into()),
        "{firing}"
    );
    let summary = firing["annotations"]["summary"].as_str().unwrap();
    let value: f64 = summary
        .strip_prefix("web runs ")
        .and_then(|s| s.strip_suffix(" goroutines (runtime tasks), above 20"))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{summary}"));
    // The 40 sockets plus the app's server and the connections open at each reading.
    assert!(
        value >= 41.0 && (value - now_handles).abs() <= 3.0,
        "alert says {value} handles, the app says {now_handles}: {firing}"
    );
    assert_eq!(
        firing["annotations"]["runbook_url"],
        "docs/runbooks.md#sidewatchgoroutineshigh"
    );
    let to_firing = fired_at - opened;
    assert!(
        to_firing >= Duration::from_secs(2),
        "fired before its `for`: {to_firing:?}"
    );

    let closed = Instant::now();
    std::fs::remove_file(dir.join("handles")).unwrap();
    wait_for(
        Duration::from_secs(30),
        "the resolved SidewatchGoroutinesHigh at the ticket receiver",
        || {
            alerts("ticket")
                .iter()
                .any(|(at, a)| *at > closed && a["status"] == "resolved")
        },
    );
    let (resolved_at, resolved) = alerts("ticket")
        .into_iter()
        .find(|(at, a)| *at > closed && a["status"] == "resolved")
        .unwrap();
    assert_eq!(resolved["labels"], firing["labels"]);
    assert!(node_handles(web) < 20.0);
    assert!(
        alerts("pager").is_empty(),
        "the 20000 critical level stays quiet"
    );
    eprintln!(
        "e2e: SidewatchGoroutinesHigh firing notification {:.1}s after the app opened 40 handles (for: 2s; {value} handles), resolved {:.1}s after it closed them",
        to_firing.as_secs_f64(),
        (resolved_at - closed).as_secs_f64()
    );
}

// ---------------------------------------------------------------------------------------------
// The dashboard check.

/// `grafana/needs-history.txt`: `<panel title> [<refId>]: <reason>` per line, `#` comments.
fn needs_history() -> BTreeMap<(String, String), String> {
    let re = regex_lite::Regex::new(r"^(.+) \[([A-Z])\]: (.+)$").unwrap();
    std::fs::read_to_string(repo("grafana/needs-history.txt"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let c = re
                .captures(l)
                .unwrap_or_else(|| panic!("grafana/needs-history.txt: cannot read {l:?}"));
            ((c[1].to_string(), c[2].to_string()), c[3].to_string())
        })
        .collect()
}

fn check_dashboard(prom: &Prometheus, instance: &str, start: f64, end: f64) {
    let dash: Value =
        serde_json::from_str(&std::fs::read_to_string(repo("grafana/sidewatch.json")).unwrap())
            .unwrap();
    // Grafana's values for this run: one-second scrapes, a one-second step.
    let range = format!("{}s", (end - start).ceil() as u64);
    // A multi-value variable is a regex inside a PromQL string: Grafana escapes it for both.
    let instance_regex = regex_lite::escape(instance).replace('\\', "\\\\");
    let vars: [(&str, &str); 6] = [
        ("$__rate_interval", "4s"), // max($__interval + scrape interval, 4 x scrape interval)
        ("$__interval", "1s"),
        ("$__range", &range),
        ("$instance", &instance_regex),
        ("$target", "hog|web"),
        ("$job", "sidewatch"),
    ];
    let substitute = |e: &str| {
        let mut out = e.to_string();
        for (k, v) in vars {
            out = out.replace(k, v);
        }
        assert!(!out.contains('$'), "an unknown variable in {e}");
        out
    };

    // The variables' own queries offer this run's job, instance and target.
    for (v, label, want) in [
        ("job", "job", vec!["sidewatch"]),
        ("instance", "instance", vec![instance]),
        ("target", "target", vec!["hog", "web"]),
    ] {
        let def = dash["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == v)
            .unwrap()["query"]["query"]
            .as_str()
            .unwrap()
            .to_string();
        let inner = def
            .strip_prefix("label_values(")
            .and_then(|s| s.strip_suffix(&format!(", {label})")))
            .unwrap_or_else(|| panic!("{def}"));
        let got = prom.api(&format!(
            "/api/v1/label/{label}/values?match[]={}&start={start}&end={end}",
            urlencode(&substitute(inner))
        ));
        assert_eq!(got["status"], "success", "{def}: {got}");
        assert_eq!(got["data"], serde_json::json!(want), "{def}");
    }

    let listed = needs_history();
    let mut seen = BTreeSet::new();
    let mut failures = Vec::new();
    let (mut with_data, mut parsed_only) = (0, 0);
    for p in dash["panels"].as_array().unwrap() {
        if p["type"] == "row" {
            continue;
        }
        let title = p["title"].as_str().unwrap();
        for t in p["targets"].as_array().unwrap() {
            let ref_id = t["refId"].as_str().unwrap();
            let expr = substitute(t["expr"].as_str().unwrap());
            let key = (title.to_string(), ref_id.to_string());
            let answer = prom.api(&format!(
                "/api/v1/query_range?query={}&start={start}&end={end}&step=1",
                urlencode(&expr)
            ));
            let samples: usize = answer["data"]["result"]
                .as_array()
                .map(|r| {
                    r.iter()
                        .map(|s| s["values"].as_array().map_or(0, Vec::len))
                        .sum()
                })
                .unwrap_or(0);
            let on_list = listed.get(&key);
            if on_list.is_some() {
                seen.insert(key.clone());
            }
            match (answer["status"].as_str(), samples, on_list) {
                (Some("success"), n, None) if n > 0 => with_data += 1,
                (Some("success"), 0, Some(_)) => parsed_only += 1,
                (Some("success"), _, Some(reason)) => failures.push(format!(
                    "{title} [{ref_id}] returns data but grafana/needs-history.txt lists it ({reason}): remove it from the list"
                )),
                (Some("success"), _, None) => failures.push(format!(
                    "{title} [{ref_id}] returns no data: {expr}"
                )),
                _ => failures.push(format!(
                    "{title} [{ref_id}] fails: {}: {expr}",
                    answer["error"]
                )),
            }
        }
    }
    for key in listed.keys().filter(|k| !seen.contains(*k)) {
        failures.push(format!(
            "grafana/needs-history.txt lists {} [{}], which is no query of the dashboard",
            key.0, key.1
        ));
    }
    eprintln!(
        "e2e dashboard check: {with_data} queries returned data, {parsed_only} on grafana/needs-history.txt parsed without data"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(with_data >= 40, "{with_data}");
}
