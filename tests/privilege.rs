//! Least privilege: sidewatch as a non-root user without capabilities (`setpriv` from
//! util-linux drops to uid/gid 65534 and clears every capability). A target owned by the same
//! uid gives every figure; a target owned by another uid gives the `stat`/`status` figures,
//! while its `io` is unreadable: absent and counted in `sidewatch_read_errors_total`, and
//! nothing fails. With CAP_DAC_READ_SEARCH + CAP_SYS_PTRACE the other uid's `io` is readable
//! too. Fixture copies with `chmod 000` files show the same for `io` and `fd` on any kernel.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

const NOBODY: &str = "65534";

fn setpriv(caps: &[&str]) -> Command {
    let setpriv = require_tool("setpriv", "util-linux");
    let mut c = Command::new(setpriv);
    c.args(["--reuid", NOBODY, "--regid", NOBODY, "--clear-groups"]);
    if caps.is_empty() {
        c.arg("--inh-caps=-all");
    } else {
        let list = caps
            .iter()
            .map(|c| format!("+{c}"))
            .collect::<Vec<_>>()
            .join(",");
        c.arg(format!("--inh-caps=-all,{list}"));
        c.arg(format!("--ambient-caps={list}"));
    }
    c.arg("--");
    c
}

fn world_readable(dir: &Path) {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// What the kernel lets uid 65534 (without capabilities) see of `pid`'s fd count: Linux ≥ 6.2
/// reports it to anyone as the size of `/proc/PID/fd`, older kernels to the owner only.
fn fd_count_visible_to_nobody(pid: i32) -> bool {
    let o = setpriv(&[])
        .args(["stat", "-c", "%s", &format!("/proc/{pid}/fd")])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout)
        .trim()
        .parse::<u64>()
        .unwrap_or(0)
        > 0
}

fn start_as_nobody(caps: &[&str], root_pid: i32, own_pid: i32) -> (tempfile::TempDir, Daemon) {
    let dir = tempfile::tempdir().unwrap();
    world_readable(dir.path());
    let cfg = dir.path().join("sidewatch.yml");
    std::fs::write(
        &cfg,
        format!(
            "interval: 200ms\ntargets:\n  - {{name: other, pid: {root_pid}}}\n  - {{name: same, pid: {own_pid}}}\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
    let d = Daemon::start_cmd(setpriv(caps).arg(BIN).arg("--config").arg(&cfg));
    (dir, d)
}

#[test]
fn non_root_without_capabilities_reads_what_the_kernel_allows() {
    let root_owned = spawn(Command::new("sleep").arg("120").stdout(Stdio::null()));
    let nobody_owned = spawn(setpriv(&[]).args(["sleep", "120"]).stdout(Stdio::null()));
    let (_dir, mut d) = start_as_nobody(&[], root_owned.pid(), nobody_owned.pid());
    // The daemon really runs as 65534 without capabilities.
    let status = std::fs::read_to_string(format!("/proc/{}/status", d.proc.pid())).unwrap();
    let field = |k: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .unwrap()
            .trim()
            .to_string()
    };
    assert!(field("Uid:").starts_with("65534"), "{status}");
    assert_eq!(field("CapEff:"), "0000000000000000");

    d.wait_until(std::time::Duration::from_secs(10), |d| {
        d.metrics()
            .get("sidewatch_read_errors_total", &[("source", "io")])
            .unwrap_or(0.0)
            >= 2.0
    });
    let m = d.metrics();
    for t in ["other", "same"] {
        let l = [("target", t)];
        assert_eq!(m.get("sidewatch_target_up", &l), Some(1.0), "{t}");
        // stat and status are world-readable.
        assert!(
            m.get("sidewatch_process_resident_memory_bytes", &l)
                .unwrap()
                > 0.0,
            "{t}"
        );
        assert_eq!(m.get("sidewatch_process_threads", &l), Some(1.0), "{t}");
        assert!(
            m.get(
                "sidewatch_process_cpu_seconds_total",
                &[("target", t), ("mode", "user")]
            )
            .is_some(),
            "{t}"
        );
        assert!(
            m.get(
                "sidewatch_process_context_switches_total",
                &[("target", t), ("kind", "voluntary")]
            )
            .is_some(),
            "{t}"
        );
    }
    // Same uid: io and fds too.
    let same = [("target", "same")];
    assert!(
        m.get("sidewatch_process_io_read_bytes_total", &same)
            .is_some()
    );
    assert_eq!(
        m.get("sidewatch_process_open_fds", &same),
        Some(fd_count(nobody_owned.pid()) as f64)
    );
    // Other uid: io is absent (never 0) and counted.
    let other = [("target", "other")];
    assert_eq!(m.get("sidewatch_process_io_read_bytes_total", &other), None);
    assert_eq!(
        m.get("sidewatch_process_io_write_bytes_total", &other),
        None
    );
    assert!(
        m.get("sidewatch_read_errors_total", &[("source", "io")])
            .unwrap()
            >= 1.0
    );
    if fd_count_visible_to_nobody(root_owned.pid()) {
        assert_eq!(
            m.get("sidewatch_process_open_fds", &other),
            Some(fd_count(root_owned.pid()) as f64),
            "the kernel shows the fd count to other users: sidewatch must report it"
        );
    } else {
        assert_eq!(m.get("sidewatch_process_open_fds", &other), None);
        assert!(
            m.get("sidewatch_read_errors_total", &[("source", "fd")])
                .unwrap()
                >= 1.0
        );
    }
    // The exporter's own figures and its server are fine.
    assert!(m.get("process_resident_memory_bytes", &[]).unwrap() > 0.0);
    assert!(d.proc.child.try_wait().unwrap().is_none());
    for l in d.drain_log() {
        assert!(!l.contains("panicked") && !l.contains("ERROR"), "{l}");
    }
}

#[test]
fn non_root_with_dac_read_search_and_sys_ptrace_reads_other_users_io() {
    let root_owned = spawn(Command::new("sleep").arg("120").stdout(Stdio::null()));
    let nobody_owned = spawn(setpriv(&[]).args(["sleep", "120"]).stdout(Stdio::null()));
    let (_dir, d) = start_as_nobody(
        &["dac_read_search", "sys_ptrace"],
        root_owned.pid(),
        nobody_owned.pid(),
    );
    let other = [("target", "other")];
    d.wait_until(std::time::Duration::from_secs(10), |d| {
        d.metrics()
            .get("sidewatch_process_io_read_bytes_total", &other)
            .is_some()
    });
    let m = d.metrics();
    assert_eq!(
        m.get("sidewatch_process_open_fds", &other),
        Some(fd_count(root_owned.pid()) as f64)
    );
    assert_eq!(
        m.get("sidewatch_read_errors_total", &[("source", "io")]),
        Some(0.0)
    );
}

#[test]
fn unreadable_io_and_fd_in_a_fixture_copy_are_absent_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    world_readable(dir.path());
    let root = dir.path().join("proc");
    copy_tree(&fixture_proc(), &root);
    std::fs::set_permissions(root.join("6291/io"), std::fs::Permissions::from_mode(0o000)).unwrap();
    std::fs::set_permissions(root.join("6291/fd"), std::fs::Permissions::from_mode(0o000)).unwrap();
    let o = setpriv(&[])
        .arg(BIN)
        .args([
            "once",
            "--procfs",
            root.to_str().unwrap(),
            "--pid",
            "6291",
            "--name",
            "s",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m = Metrics::parse(&String::from_utf8_lossy(&o.stdout));
    let t = [("target", "s")];
    assert_eq!(m.get("sidewatch_target_up", &t), Some(1.0));
    assert!(
        m.get("sidewatch_process_resident_memory_bytes", &t)
            .unwrap()
            > 0.0
    );
    assert_eq!(m.get("sidewatch_process_io_read_bytes_total", &t), None);
    assert_eq!(m.get("sidewatch_process_open_fds", &t), None);
    assert_eq!(
        m.get("sidewatch_read_errors_total", &[("source", "io")]),
        Some(1.0)
    );
    assert_eq!(
        m.get("sidewatch_read_errors_total", &[("source", "fd")]),
        Some(1.0)
    );
    assert_eq!(
        m.get("sidewatch_read_errors_total", &[("source", "status")]),
        Some(0.0)
    );
    // As root (DAC override) the same copy is fully readable: the difference is privilege.
    let o = Command::new(BIN)
        .args([
            "once",
            "--procfs",
            root.to_str().unwrap(),
            "--pid",
            "6291",
            "--name",
            "s",
        ])
        .output()
        .unwrap();
    let m = Metrics::parse(&String::from_utf8_lossy(&o.stdout));
    assert!(m.get("sidewatch_process_io_read_bytes_total", &t).is_some());
}
