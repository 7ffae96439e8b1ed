//! A new user's path, scripted from the README itself: the blocks marked `<!-- newuser:NAME -->`
//! are copied out of README.md (never retyped here) and run as a user would. The build block
//! builds; the run block watches a process; a real Prometheus started with the README's
//! `prometheus.yml` scrapes it; the rules block loads the shipped rules into that Prometheus;
//! the first of the README's first queries returns a result. The only edits are where the
//! README names a machine's fixed places: its default ports and `/etc/prometheus` become a
//! free loopback port and the test's directory.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::stack::{Prometheus, free_addr, wait_for};
use common::{Proc, http, require_tool, spawn};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// The fenced block right after `<!-- newuser:NAME -->` in README.md.
fn block(name: &str) -> String {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let marker = format!("<!-- newuser:{name} -->\n");
    let after = readme
        .split_once(&marker)
        .unwrap_or_else(|| panic!("README.md has no {marker:?}"))
        .1;
    let body = after
        .strip_prefix("```")
        .and_then(|b| b.split_once('\n'))
        .unwrap_or_else(|| panic!("README.md: {marker:?} is not followed by a fenced block"))
        .1;
    body.split_once("```").unwrap().0.to_string()
}

/// Runs a README shell block with `bash -e` in the repository.
fn sh(script: &str) {
    let out = Command::new("bash")
        .args(["-ec", script])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "README block failed: {script}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A shell block running in its own process group, killed with everything it started.
struct Background(Proc);

impl Drop for Background {
    fn drop(&mut self) {
        let pgid = nix::unistd::Pid::from_raw(self.0.pid());
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
    }
}

#[test]
fn the_readme_commands_build_run_scrape_load_rules_and_answer_a_query() {
    require_tool("promtool", "prometheus");
    require_tool("curl", "curl");
    sh(&block("build"));

    // The README's run command, on a free port instead of the default 9858 (given through the
    // environment, so the command is the README's own).
    let sidewatch = free_addr();
    let run = block("run");
    let _daemon = Background(spawn(
        Command::new("bash")
            .args(["-c", &run])
            .current_dir(repo())
            .env("SIDEWATCH_WEB_LISTEN_ADDRESS", sidewatch.to_string())
            .process_group(0),
    ));
    wait_for(Duration::from_secs(30), "the README's sidewatch", || {
        std::net::TcpStream::connect(sidewatch).is_ok()
            && http(sidewatch, "GET", "/readyz", &[]).status == 200
    });

    let dir = tempfile::tempdir().unwrap();
    let config = block("prometheus.yml");
    assert!(config.contains("job_name: sidewatch"), "{config}");
    std::fs::write(
        dir.path().join("prometheus.yml"),
        config.replace("localhost:9858", &sidewatch.to_string()),
    )
    .unwrap();
    let prom = Prometheus::start(dir.path(), &["--web.enable-lifecycle"]);

    let rules = block("rules");
    sh(&rules
        .replace("/etc/prometheus", dir.path().to_str().unwrap())
        .replace("localhost:9090", &prom.addr.to_string()));
    let loaded = prom.api("/api/v1/rules");
    let names: Vec<&str> = loaded["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert!(
        names.contains(&"SidewatchMemoryHigh") && names.contains(&"SidewatchExporterDown"),
        "the README's rules are not loaded: {names:?}"
    );

    let queries = block("queries");
    let first = queries.lines().next().unwrap();
    wait_for(
        Duration::from_secs(60),
        &format!("{first} to return a result"),
        || !prom.query(first).is_empty(),
    );
    let result = prom.query(first);
    assert_eq!(result[0]["metric"]["job"], "sidewatch", "{result:?}");
    assert_eq!(result[0]["metric"]["target"], "shell", "{result:?}");
    let bytes: f64 = result[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!(bytes > 0.0, "{result:?}");
}

/// CI runs exactly the README's test command.
#[test]
fn ci_runs_the_readme_test_command() {
    let command = block("test");
    let command = command.trim();
    let ci = std::fs::read_to_string(repo().join(".ci/run")).unwrap();
    let exec = ci
        .lines()
        .find(|l| l.starts_with("exec "))
        .expect(".ci/run has no exec line");
    assert!(
        exec.ends_with(command),
        ".ci/run runs {exec:?}, the README says {command:?}"
    );
}
