//! Runtime tuning advice checked live: a real Go program (standard library only, built here with
//! the distribution's Go toolchain) under a real v1 memory cgroup limit. Without GOMEMLIMIT it
//! gets the `gomemlimit_unset` advice with 90 % of the limit the kernel's own file states; with
//! GOMEMLIMIT set it does not, and sidewatch reports the limit the Go runtime itself says it
//! has, read from the process's environment. As root on a host with cgroup v1 memory (CI); a
//! missing toolchain or controller fails loudly. Cgroups are removed even on failure.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::cgroups::*;
use common::stack::{body, free_addr, wait_for};
use common::{Daemon, http, require_tool, run_with_stdin, spawn};
use serde_json::Value;

/// Serves the go_* series client_golang releases before Go 1.19 support expose (no
/// `go_gc_gomemlimit_bytes`, as Prometheus 2.42's own /metrics), so sidewatch knows a Go
/// runtime but must read GOMEMLIMIT from the environment; `/memlimit` is the limit the Go
/// runtime itself has (the test's truth, not a series sidewatch reads).
const GO_APP: &str = r##"package main

import (
	"fmt"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
)

func main() {
	http.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		fmt.Fprintf(w, "# TYPE go_goroutines gauge\ngo_goroutines %d\n", runtime.NumGoroutine())
		fmt.Fprintf(w, "# TYPE go_info gauge\ngo_info{version=%q} 1\n", runtime.Version())
		fmt.Fprintf(w, "# TYPE go_memstats_heap_alloc_bytes gauge\ngo_memstats_heap_alloc_bytes %d\n", m.HeapAlloc)
	})
	http.HandleFunc("/memlimit", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%d", debug.SetMemoryLimit(-1))
	})
	if err := http.ListenAndServe(os.Args[1], nil); err != nil {
		panic(err)
	}
}
"##;

const MIB: f64 = 1024.0 * 1024.0;

/// Builds the Go program under target/ (its build cache and GOPATH too; no module downloads).
fn build_go_app() -> PathBuf {
    let go = require_tool("go", "golang-go");
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR")).join("advice-go");
    std::fs::create_dir_all(&tmp).unwrap();
    let src = tmp.join("main.go");
    std::fs::write(&src, GO_APP).unwrap();
    let bin = tmp.join("goapp");
    let out = Command::new(go)
        .args(["build", "-o"])
        .arg(&bin)
        .arg(&src)
        .current_dir(&tmp)
        .env("GOCACHE", tmp.join("cache"))
        .env("GOPATH", tmp.join("gopath"))
        .env("GOPROXY", "off")
        .env("GO111MODULE", "off")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "go build: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    bin
}

fn get_text(addr: SocketAddr, path: &str) -> String {
    let r = http(addr, "GET", path, &[]);
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    String::from_utf8(body(&r)).unwrap()
}

/// The app's `recommendations` entry once sidewatch shows its runtime settings.
fn recommendations(d: &Daemon) -> Value {
    let mut found = Value::Null;
    d.wait_until(Duration::from_secs(15), |d| {
        let r = d.get("/api/v1/recommendations?target=app");
        let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        let rec = &v["data"];
        let ready = rec["runtimeSettings"]["runtime"] == "go"
            && rec["current"]["memoryLimitBytes"].is_number();
        if ready {
            found = v;
        }
        ready
    });
    found
}

struct Run {
    rec: Value,
    metrics: common::Metrics,
    metrics_text: String,
    page: String,
    /// What the Go runtime says its memory limit is.
    go_limit: f64,
}

/// Starts the Go app in the memory cgroup `cg` (GOMEMLIMIT as given) and sidewatch watching it.
fn run(bin: &Path, cg: &TestCgroups, gomemlimit: Option<&str>) -> Run {
    let app_addr = free_addr();
    let mut cmd = in_cgroups(cg, "", &[bin.to_str().unwrap(), &app_addr.to_string()]);
    cmd.env_remove("GOMEMLIMIT");
    if let Some(v) = gomemlimit {
        cmd.env("GOMEMLIMIT", v);
    }
    let app = spawn(&mut cmd);
    wait_for(Duration::from_secs(10), "the Go app", || {
        std::net::TcpStream::connect(app_addr).is_ok()
    });
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sidewatch.yml");
    std::fs::write(
        &cfg,
        format!(
            "interval: 500ms\ntargets:\n  - name: app\n    pid: {}\n    app:\n      metrics_url: http://{app_addr}/metrics\n      timeout: 400ms\n",
            app.pid()
        ),
    )
    .unwrap();
    let d = Daemon::start(&["--config", cfg.to_str().unwrap()]);
    let v = recommendations(&d);
    let go_limit: f64 = get_text(app_addr, "/memlimit").parse().unwrap();
    Run {
        rec: v["data"].clone(),
        metrics: d.metrics(),
        metrics_text: d.get("/metrics").text(),
        page: d.get("/").text(),
        go_limit,
    }
}

#[test]
fn go_under_a_memory_limit_gets_gomemlimit_advice_only_without_it() {
    let bin = build_go_app();
    let hs = hierarchies();
    let memory = hs
        .iter()
        .find(|h| h.controllers.iter().any(|c| c == "memory"))
        .expect("no cgroup v1 memory controller mounted: this test needs a v1 or hybrid host");
    let name = format!("sidewatch-advice-{}", std::process::id());
    let cg = create_cgroups(&[memory], &name);
    let limit_file = dir_in(memory, &name).join("memory.limit_in_bytes");
    std::fs::write(&limit_file, (256u64 << 20).to_string()).unwrap();
    // The truth: the limit as the kernel states it.
    let limit: f64 = std::fs::read_to_string(&limit_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let want_mib = (0.9 * limit / MIB).floor();

    // Without GOMEMLIMIT: the Go runtime has no limit (math.MaxInt64), sidewatch advises 90 %.
    let r = run(&bin, &cg, None);
    assert_eq!(r.go_limit, i64::MAX as f64);
    assert_eq!(r.rec["current"]["memoryLimitBytes"], limit);
    let tuning = r.rec["tuning"].as_array().unwrap();
    let advice = tuning
        .iter()
        .find(|t| t["rule"] == "gomemlimit_unset")
        .unwrap_or_else(|| panic!("no gomemlimit_unset advice: {}", r.rec));
    assert_eq!(
        advice["snippet"],
        format!("env:\n  - name: GOMEMLIMIT\n    value: \"{want_mib}MiB\"\n")
    );
    let snippet_bytes = want_mib * MIB;
    assert!(
        (0.89..=0.9).contains(&(snippet_bytes / limit)),
        "{snippet_bytes} of {limit}"
    );
    assert_eq!(advice["inputs"][0]["value"], limit);
    assert_eq!(r.rec["runtimeSettings"]["environReadable"], true);
    assert_eq!(
        r.metrics.get(
            "sidewatch_advice",
            &[("target", "app"), ("rule", "gomemlimit_unset")]
        ),
        Some(1.0)
    );
    // The body with the advice series is clean for Prometheus's own checker.
    let promtool = require_tool("promtool", "prometheus");
    let o = run_with_stdin(&promtool, &["check", "metrics"], r.metrics_text.as_bytes());
    assert!(
        o.status.success() && o.stdout.is_empty() && o.stderr.is_empty(),
        "promtool check metrics: {} {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        r.page.contains("data-rule=\"gomemlimit_unset\"")
            && r.page.contains(&format!("{want_mib}MiB")),
        "status page lacks the advice"
    );

    // With GOMEMLIMIT: the runtime has it, sidewatch reads it from the environment, no advice.
    let r = run(&bin, &cg, Some("200MiB"));
    assert_eq!(r.go_limit, 200.0 * MIB);
    let set = &r.rec["runtimeSettings"]["gomemlimitBytes"];
    assert_eq!(set["value"], r.go_limit);
    assert_eq!(set["from"], "env GOMEMLIMIT");
    assert!(
        r.rec["tuning"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["rule"] != "gomemlimit_unset"),
        "{}",
        r.rec
    );
    assert_eq!(
        r.metrics.get(
            "sidewatch_advice",
            &[("target", "app"), ("rule", "gomemlimit_unset")]
        ),
        None
    );
    assert!(
        r.page.contains("env GOMEMLIMIT"),
        "status page lacks the origin"
    );
}
