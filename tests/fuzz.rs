//! Fuzzing (proptest) of every parser that reads outside input: the procfs files as sidewatch
//! reads them (the `procfs` parsers behind `parse_proc_file`, and whole process directories
//! through `ProcReader`), every cgroup file parser (v1, v2, PSI, mountinfo, `/proc/PID/cgroup`),
//! the config file, the web config file, the `Accept` and
//! `Accept-Encoding` headers, basic-auth credentials, query strings, durations, listen addresses
//! and pid files. Property: no panic, and outputs bounded by their inputs. Inputs are mutations
//! of real kernel text and valid files (so the parsers get deep), plus arbitrary bytes.
//!
//! Runs briefly in CI; raise `PROPTEST_CASES` for a longer run.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::path::Path;

use proptest::prelude::*;
use sidewatch::source::exposition::{self, Format};
use sidewatch::source::proc::{
    ProcReader, parse_btime, parse_io, parse_max_open_files_soft, parse_pid, parse_proc_file,
    parse_schedstat_run_delay, parse_stat, parse_status,
};
use sidewatch::{config, server, webconfig};

fn cases(n: u32) -> ProptestConfig {
    let n = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(n);
    ProptestConfig {
        cases: n,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Real kernel text of every fixture process for one file.
fn fixtures(file: &str) -> Vec<Vec<u8>> {
    let root = common::fixture_proc();
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| std::fs::read(e.unwrap().path().join(file)).ok())
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no fixture has {file}");
    out
}

/// Byte-level mutations of one of `bases`: replace, delete, insert, truncate, duplicate a range.
fn mutated(bases: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let edits = proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..6), 0..8);
    (0..bases.len(), edits).prop_map(move |(which, edits)| {
        let mut v = bases[which].clone();
        for (i, byte, op) in edits {
            if v.is_empty() {
                v.push(byte);
                continue;
            }
            let i = i % v.len();
            match op {
                0 => v[i] = byte,
                1 => {
                    v.remove(i);
                }
                2 => v.insert(i, byte),
                3 => v.truncate(i),
                4 => {
                    // Characters the parsers split on, and a multi-byte one.
                    let s: &[u8] = match byte % 6 {
                        0 => b"(",
                        1 => b")",
                        2 => b" ",
                        3 => b"\n",
                        4 => b":",
                        _ => "\u{e9}".as_bytes(),
                    };
                    v.splice(i..i, s.iter().copied());
                }
                _ => {
                    let end = (i + usize::from(byte)).min(v.len());
                    let dup = v[i..end].to_vec();
                    v.splice(i..i, dup);
                }
            }
        }
        v
    })
}

fn text_or_bytes(bases: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => mutated(bases),
        1 => proptest::collection::vec(any::<u8>(), 0..512),
    ]
}

macro_rules! fuzz_proc_file {
    ($name:ident, $ty:ty, $file:expr) => {
        proptest! {
            #![proptest_config(cases(1500))]
            #[test]
            fn $name(b in text_or_bytes(fixtures($file))) {
                let _ = parse_proc_file::<$ty>($file, &b);
            }
        }
    };
}

fuzz_proc_file!(proc_limits, procfs::process::Limits, "limits");
fuzz_proc_file!(
    proc_smaps_rollup,
    procfs::process::SmapsRollup,
    "smaps_rollup"
);

// The per-tick files are parsed by sidewatch's own parsers (src/source/proc.rs).
macro_rules! fuzz_own_parser {
    ($name:ident, $parse:path, $file:expr) => {
        proptest! {
            #![proptest_config(cases(1500))]
            #[test]
            fn $name(b in text_or_bytes(fixtures($file))) {
                let _ = $parse(&b);
            }
        }
    };
}

fuzz_own_parser!(proc_stat, parse_stat, "stat");
fuzz_own_parser!(proc_status, parse_status, "status");
fuzz_own_parser!(proc_io, parse_io, "io");
fuzz_own_parser!(proc_schedstat, parse_schedstat_run_delay, "schedstat");
fuzz_own_parser!(proc_limits_fd_soft, parse_max_open_files_soft, "limits");

proptest! {
    #![proptest_config(cases(1500))]
    /// The fd soft limit read every tick agrees with the `procfs` crate's parser wherever both
    /// read the text.
    #[test]
    fn fd_limit_agrees_with_the_procfs_parser(b in text_or_bytes(fixtures("limits"))) {
        let ours = parse_max_open_files_soft(&b);
        if let (Some(ours), Ok(l)) = (ours, parse_proc_file::<procfs::process::Limits>("limits", &b)) {
            let theirs = match l.max_open_files.soft_limit {
                procfs::process::LimitValue::Value(v) => Some(v),
                procfs::process::LimitValue::Unlimited => None,
            };
            prop_assert_eq!(ours, theirs);
        }
    }
}

#[test]
fn the_parsers_still_read_every_fixture() {
    for b in fixtures("stat") {
        assert!(parse_stat(&b).is_some(), "{}", String::from_utf8_lossy(&b));
    }
    for b in fixtures("status") {
        assert!(
            parse_status(&b).is_some(),
            "{}",
            String::from_utf8_lossy(&b)
        );
    }
    for b in fixtures("io") {
        assert!(parse_io(&b).is_some(), "{}", String::from_utf8_lossy(&b));
    }
    for b in fixtures("limits") {
        assert!(
            parse_max_open_files_soft(&b).is_some(),
            "{}",
            String::from_utf8_lossy(&b)
        );
    }
    for b in fixtures("schedstat") {
        assert!(
            parse_schedstat_run_delay(&b).is_some(),
            "{}",
            String::from_utf8_lossy(&b)
        );
    }
    for (file, n) in [
        ("stat", fixtures("stat").len()),
        ("io", fixtures("io").len()),
        ("limits", fixtures("limits").len()),
    ] {
        for b in fixtures(file) {
            let ok = match file {
                "stat" => parse_proc_file::<procfs::process::Stat>(file, &b).is_ok(),
                "io" => parse_proc_file::<procfs::process::Io>(file, &b).is_ok(),
                _ => parse_proc_file::<procfs::process::Limits>(file, &b).is_ok(),
            };
            assert!(
                ok,
                "{file} of {n} fixtures: {}",
                String::from_utf8_lossy(&b)
            );
        }
    }
    // A comm with spaces, parentheses and non-ASCII text stays parsable.
    let stat = "42 (a (b) \u{e9}) S 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 100 1000 10 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
    let s: procfs::process::Stat = parse_proc_file("stat", stat.as_bytes()).unwrap();
    assert_eq!(s.comm, "a (b) \u{e9}");
}

proptest! {
    #![proptest_config(cases(60))]
    /// A whole process directory with fuzzed files, read the way a tick reads it.
    #[test]
    fn proc_reader_on_a_fuzzed_process_directory(
        stat in text_or_bytes(fixtures("stat")),
        status in text_or_bytes(fixtures("status")),
        io in text_or_bytes(fixtures("io")),
        limits in text_or_bytes(fixtures("limits")),
        schedstat in text_or_bytes(fixtures("schedstat")),
        smaps in text_or_bytes(fixtures("smaps_rollup")),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("4242");
        std::fs::create_dir_all(p.join("fd")).unwrap();
        for (f, b) in [("stat", &stat), ("status", &status), ("io", &io), ("limits", &limits), ("schedstat", &schedstat), ("smaps_rollup", &smaps)] {
            std::fs::write(p.join(f), b).unwrap();
        }
        let reader = ProcReader::new(dir.path());
        let h = reader.open(4242).unwrap();
        let _ = h.stat();
        let _ = h.max_fds_soft();
        let mut failures = Vec::new();
        let _ = h.figures(true, &mut failures);
        prop_assert!(failures.len() <= 6);
    }
}

fn config_bases() -> Vec<Vec<u8>> {
    let golden =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/fixture.yml"))
            .unwrap();
    vec![
        golden,
        b"interval: 2s\nlisten_address: 127.0.0.1:9999\nprocfs: /host/proc\ntargets:\n  - name: api\n    cmdline: 'api --serve'\n    children: true\n    smaps: true\n    labels: {pod: '${POD}'}\n  - name: db\n    pid_file: /run/db.pid\n  - {name: one, pid: 1}\n".to_vec(),
        b"interval: 1s\ntargets:\n  - name: api\n    pid: 1\n    app:\n      metrics_url: https://127.0.0.1:8443/metrics?x=1\n      timeout: 500ms\n      bearer_token_file: /nonexistent/token\n      tls: {ca_file: /nonexistent/ca.pem, insecure_skip_verify: true}\n      max_body_bytes: 4MiB\n  - {name: b, pid: 2, app: {metrics_url: 'http://[::1]:9/m', max_body_bytes: 1000}}\n".to_vec(),
        b"interval: 1s\ntargets:\n  - name: api\n    pid: 1\n    probe:\n      url: https://127.0.0.1:8443/healthz?x=1\n      interval: 2s\n      timeout: 500ms\n      method: HEAD\n      headers: {X-A: b}\n      valid_status_codes: [200, 301]\n      no_follow_redirects: true\n      tls: {insecure_skip_verify: true}\n  - {name: b, pid: 2, probe: {url: 'http://[::1]:9/m', fail_if_body_not_matches_regexp: 'ok|up'}}\n".to_vec(),
    ]
}

proptest! {
    #![proptest_config(cases(1500))]
    #[test]
    fn config_text(b in text_or_bytes(config_bases())) {
        let text = String::from_utf8_lossy(&b);
        if let Ok(f) = config::parse_file(&text, None) {
            for app in f.targets.iter().filter_map(|t| t.app.as_ref()) {
                let interval = f.interval.unwrap_or(std::time::Duration::from_secs(1));
                let _ = config::app::validate(app, interval);
            }
            for probe in f.targets.iter().filter_map(|t| t.probe.as_ref()) {
                let interval = f.interval.unwrap_or(std::time::Duration::from_secs(1));
                let _ = config::probe::validate(probe, interval);
            }
        }
    }

    #[test]
    fn web_config_text(b in text_or_bytes(web_bases())) {
        let text = String::from_utf8_lossy(&b);
        if let Ok(f) = config::parse_yaml::<webconfig::WebConfigFile>(&text, None) {
            // Validation without bcrypt work: hashes are checked for shape only when users
            // are few, which these inputs are.
            let _ = webconfig::build(f, None, Path::new("/nonexistent"));
        }
    }

    #[test]
    fn accept_headers(s in "\\PC{0,200}", t in "[a-z/*;=., 0-9q-]{0,120}") {
        let _ = server::negotiate_format(Some(&s));
        let _ = server::negotiate_format(Some(&t));
        let _ = server::accepts_gzip(Some(&s));
        let _ = server::accepts_gzip(Some(&t));
    }

    #[test]
    fn basic_auth_headers(b in proptest::collection::vec(any::<u8>(), 0..900), s in "Basic [A-Za-z0-9+/=]{0,700}") {
        let mut buf = [0u8; webconfig::MAX_CREDENTIALS];
        for h in [&b[..], s.as_bytes()] {
            if let Some((u, p)) = webconfig::decode_basic_auth(h, &mut buf) {
                prop_assert!(u.len() + p.len() < webconfig::MAX_CREDENTIALS);
            }
        }
    }

    #[test]
    fn query_strings(s in "[a-z%0-9A-F=&+.~_-]{0,300}", u in "\\PC{0,100}") {
        for q in [&s, &u] {
            if let Ok(pairs) = server::parse_query(q) {
                prop_assert!(pairs.len() <= q.len());
            }
            let _ = server::check_query(Some(q), "/x", &["target", "window"]);
        }
    }

    #[test]
    fn small_values(s in "\\PC{0,40}", d in "[0-9.]{0,6}(ns|us|ms|s|m|h|µs){0,1}[0-9.]{0,4}[a-z]{0,2}") {
        let _ = webconfig::parse_go_duration(&s);
        let _ = webconfig::parse_go_duration(&d);
        let _ = config::parse_duration(&s);
        let _ = config::parse_listen_address(&s);
        let _ = parse_pid(&s);
        let _ = parse_btime(&s);
    }
}

fn web_bases() -> Vec<Vec<u8>> {
    let hash = bcrypt::hash("pw", 4).unwrap();
    vec![
        format!("basic_auth_users:\n  alice: '{hash}'\n  bob: '{hash}'\n").into_bytes(),
        b"http_server_config:\n  http2: false\n  headers:\n    X-Frame-Options: deny\n    X-Content-Type-Options: nosniff\n    Strict-Transport-Security: max-age=1\nrate_limit:\n  interval: 1s\n  burst: 10\n".to_vec(),
        b"tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n  min_version: TLS12\n  max_version: TLS13\n  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]\n  curve_preferences: [X25519]\n  client_allowed_sans: [a.example]\n".to_vec(),
    ]
}

/// Every file of the cgroup fixture trees (v1, v2, hybrid) and every `/proc/PID/cgroup`.
fn cgroup_texts() -> Vec<Vec<u8>> {
    fn walk(dir: &Path, out: &mut Vec<Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                walk(&p, out);
            } else if let Ok(b) = std::fs::read(&p) {
                if !b.is_empty() && b.len() < 64 * 1024 {
                    out.push(b);
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cgroup"),
        &mut out,
    );
    out.extend(fixtures("cgroup"));
    out.sort();
    out.dedup();
    out
}

proptest! {
    #![proptest_config(cases(2000))]
    /// Every cgroup parser on every kind of cgroup text, mutated.
    #[test]
    fn cgroup_files(b in text_or_bytes(cgroup_texts()), other in "\\PC{0,30}") {
        use sidewatch::source::cgroup::{self as cg, psi, v1, v2};
        let t = String::from_utf8_lossy(&b);
        let t = t.as_ref();
        let _ = psi::parse_pressure(t);
        let _ = v2::parse_memory_stat(t);
        let _ = v2::parse_memory_events(t);
        let _ = v2::parse_cpu_stat(t);
        let _ = v2::parse_cpu_max(t);
        let _ = v2::parse_io_stat(t);
        let _ = cg::parse_u64(t);
        let _ = cg::parse_limit(t);
        let _ = cg::parse_flat_keyed(t);
        let _ = cg::parse_cpu_list(t);
        let _ = cg::parse_cgroup_mounts(t);
        let _ = cg::parse_proc_cgroup(t);
        let _ = v1::parse_limit_in_bytes(t);
        let _ = v1::parse_memory_stat(t);
        let _ = v1::parse_oom_control(t);
        let _ = v1::parse_cpuacct_stat(t);
        let _ = v1::parse_cpu_stat(t);
        let _ = v1::parse_quota(t, &other);
        let _ = v1::parse_quota(&other, t);
        let _ = v1::parse_blkio(t);
    }
}

/// The exposition bodies captured from real applications (tests/fixtures/app), with the format
/// each was served in.
fn app_bodies() -> Vec<(Vec<u8>, Format)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/app");
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let format = if name.ends_with(".om.txt") {
            Format::OpenMetrics
        } else if name.ends_with(".txt") {
            Format::Text004
        } else {
            continue;
        };
        out.push((std::fs::read(&p).unwrap(), format));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(out.len() >= 3, "exposition fixtures missing");
    out
}

/// A fixture body with the characters the exposition parser splits on inserted, on top of the
/// byte-level mutations.
fn exposition_mutated() -> impl Strategy<Value = (Vec<u8>, Format)> {
    exposition_edited(true)
}

/// `bytes`: byte-level mutations too; else only the inserts and dropped lines, so that many
/// bodies stay valid and the comparison with Python has something to compare.
fn exposition_edited(bytes: bool) -> impl Strategy<Value = (Vec<u8>, Format)> {
    let bodies = app_bodies();
    let formats: Vec<Format> = bodies.iter().map(|b| b.1).collect();
    let texts: Vec<Vec<u8>> = bodies.into_iter().map(|b| b.0).collect();
    let n = texts.len();
    let inserts = proptest::collection::vec((any::<usize>(), 0usize..12), 0..6);
    let drops = proptest::collection::vec(any::<usize>(), 0..4);
    let base = if bytes {
        text_or_bytes(texts.clone()).boxed()
    } else {
        Just(Vec::new()).boxed()
    };
    (base, 0..n, inserts, drops).prop_map(move |(v, which, inserts, drops)| {
        let mut v = if bytes {
            v
        } else {
            without_lines(&texts[which], &drops)
        };
        for (at, tok) in inserts {
            let s: &[u8] = [
                "{",
                "}",
                "\"",
                "\\",
                "=",
                ",",
                "#",
                " # {a=\"b\"} 1",
                "\n# EOF\n",
                "+Inf",
                "NaN",
                "\u{e9}",
            ][tok]
                .as_bytes();
            let at = if v.is_empty() { 0 } else { at % v.len() };
            v.splice(at..at, s.iter().copied());
        }
        (v, formats[which])
    })
}

proptest! {
    #![proptest_config(cases(3000))]
    /// The app-metrics parser never panics, and never invents samples: at most one a line.
    #[test]
    fn exposition_parser_survives_mutated_bodies((b, format) in exposition_mutated()) {
        let text = String::from_utf8_lossy(&b);
        if let Ok(e) = exposition::parse(&text, format) {
            prop_assert!(e.sample_count() <= text.split('\n').count());
        }
    }
}

/// `body` without the lines at the given positions (modulo its line count).
fn without_lines(body: &[u8], drops: &[usize]) -> Vec<u8> {
    let lines: Vec<&[u8]> = body.split(|&b| b == b'\n').collect();
    let gone: Vec<usize> = drops.iter().map(|d| d % lines.len()).collect();
    let kept: Vec<&[u8]> = (0..lines.len())
        .filter(|i| !gone.contains(i))
        .map(|i| lines[i])
        .collect();
    kept.join(&b'\n')
}

proptest! {
    #![proptest_config(cases(150))]
    /// Wherever both accept a mutated body, Python's `prometheus_client` reads the same samples.
    #[test]
    fn exposition_parser_agrees_with_python((b, format) in exposition_edited(false)) {
        let Ok(text) = std::str::from_utf8(&b) else { return Ok(()) };
        let ours = exposition::parse(text, format);
        let theirs = common::app::python_samples(&b, format == Format::OpenMetrics);
        if let (Ok(ours), Ok(mut theirs)) = (ours, theirs) {
            common::app::sort(&mut theirs);
            let ours = common::app::our_samples(&ours);
            prop_assert!(common::app::same_samples(&ours, &theirs), "ours {} python {}", ours.len(), theirs.len());
        }
    }
}

/// Unmutated, the fixtures give Python's sample counts exactly.
#[test]
fn exposition_fixture_counts_equal_python() {
    for (b, format) in app_bodies() {
        let e = exposition::parse(std::str::from_utf8(&b).unwrap(), format).unwrap();
        let theirs = common::app::python_samples(&b, format == Format::OpenMetrics).unwrap();
        assert_eq!(e.sample_count(), theirs.len());
    }
}
