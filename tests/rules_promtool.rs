//! `sidewatch rules` output checked by the real promtool: `check rules` clean for the defaults,
//! the example config and the PrometheusRule form; the shipped `alerts/sidewatch.rules.yml` is
//! exactly what the defaults generate; the shipped `promtool test rules` files pass and cover
//! every alert firing and not firing; and Prometheus's rule evaluation agrees, minute by minute,
//! with the daemon's state machine on the same input.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::stack::{assert_generated, first_difference, generated_mismatch};
use common::*;
use serde_yaml_ng::Value;
use sidewatch::rules::{RuleSet, RulesEngine};
use sidewatch::sample::{CgroupSample, TargetSample};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn sidewatch(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("SIDEWATCH_CONFIG")
        .output()
        .expect("run sidewatch")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn rules_of(args: &[&str]) -> String {
    let mut all = vec!["rules"];
    all.extend_from_slice(args);
    let o = sidewatch(&all);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    stdout(&o)
}

/// Runs promtool with `args`; panics with its output unless it succeeds.
fn promtool(args: &[&str]) -> String {
    let promtool = require_tool("promtool", "prometheus");
    let o = Command::new(promtool)
        .args(args)
        .output()
        .expect("promtool");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "promtool {args:?} failed:\n{all}");
    all
}

fn check_rules_text(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("rules.yml");
    std::fs::write(&f, text).unwrap();
    promtool(&["check", "rules", f.to_str().unwrap()])
}

#[test]
fn shipped_rules_are_the_defaults_regenerated() {
    assert_generated(
        &rules_of(&[]),
        &repo("alerts/sidewatch.rules.yml"),
        "SIDEWATCH_BLESS=1 cargo test --test rules_promtool shipped",
    );
}

/// The regeneration check is not vacuous: it fails on a committed file that differs from the
/// generator by one threshold, and on a generator whose input changed (a config with another
/// threshold), naming the line; it passes on an exact copy.
#[test]
fn regeneration_check_fails_when_generator_and_file_differ() {
    let dir = tempfile::tempdir().unwrap();
    let committed = std::fs::read_to_string(repo("alerts/sidewatch.rules.yml")).unwrap();
    let copy = dir.path().join("sidewatch.rules.yml");
    std::fs::write(&copy, &committed).unwrap();
    // The comparison `assert_generated` makes (without its SIDEWATCH_BLESS rewrite).
    let check = |generated: String| generated_mismatch(&generated, &copy);
    assert_eq!(check(rules_of(&[])), None, "an exact copy must pass");

    // The committed file edited by hand: warning threshold 500MiB -> 500MiB + 1 byte.
    let line = committed
        .lines()
        .position(|l| l.ends_with("> 524288000"))
        .unwrap();
    std::fs::write(&copy, committed.replacen("> 524288000", "> 524288001", 1)).unwrap();
    let err = check(rules_of(&[])).expect("a hand-edited file must fail");
    assert!(err.contains(&format!("line {}:", line + 1)), "{err}");
    assert!(err.contains("524288001"), "{err}");

    // The generator's input changed: the defaults with a 400MiB warning level.
    std::fs::write(&copy, &committed).unwrap();
    let defaults = std::fs::read_to_string(repo("src/rules/defaults.yml")).unwrap();
    // SidewatchMemoryHigh's warning level is the first 500MiB (SidewatchHeapHigh's comes later).
    assert_eq!(defaults.matches("value: 500MiB").count(), 2);
    let cfg = dir.path().join("changed.yml");
    std::fs::write(&cfg, defaults.replacen("value: 500MiB", "value: 400MiB", 1)).unwrap();
    let changed = rules_of(&["--config", cfg.to_str().unwrap()]);
    // Only the threshold differs once the header (which names the config file) is the same.
    let (_, body) = changed.split_once('\n').unwrap();
    let (header, _) = committed.split_once('\n').unwrap();
    let err = check(format!("{header}\n{body}")).expect("a changed generator must fail");
    assert!(err.contains(&format!("line {}:", line + 1)), "{err}");
    assert!(err.contains("> 419430400"), "{err}");
    assert!(check(changed).is_some());
    assert!(first_difference("a\nb\n", "a\nb").is_some());
    assert!(first_difference("a\n", "a\n").is_none());
}

#[test]
fn promtool_accepts_the_generated_rules() {
    let out = check_rules_text(&rules_of(&[]));
    assert!(out.contains("SUCCESS: 104 rules found"), "{out}");
    let out = check_rules_text(&rules_of(&[
        "--config",
        repo("alerts/examples/sidewatch.yml").to_str().unwrap(),
    ]));
    assert!(out.contains("SUCCESS: 36 rules found"), "{out}");
    assert!(!out.contains("lint"), "{out}");
    // The PrometheusRule form carries the same groups under spec.
    let pr: Value = serde_yaml_ng::from_str(&rules_of(&["--format", "prometheusrule"])).unwrap();
    assert_eq!(pr["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(pr["kind"], "PrometheusRule");
    let plain: Value = serde_yaml_ng::from_str(&rules_of(&[])).unwrap();
    assert_eq!(pr["spec"]["groups"], plain["groups"]);
    let spec = serde_yaml_ng::to_string(&pr["spec"]).unwrap();
    assert!(check_rules_text(&spec).contains("SUCCESS: 104 rules found"));
}

#[test]
fn rules_command_options_and_errors() {
    let out = rules_of(&["--job", "sidecars"]);
    assert!(
        out.contains("expr: absent(up{job=\"sidecars\"} == 1)"),
        "{out}"
    );
    assert!(out.starts_with(
        "# Prometheus rules for sidewatch, generated by `sidewatch rules` from the built-in defaults."
    ));
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "rules:\n  - alert: Big\n    signal: memory_rss_bytes\n    op: '>'\n    value: 500XB\n",
    )
    .unwrap();
    let o = sidewatch(&["rules", "--config", bad.to_str().unwrap()]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(
            "line 2 column 5, field `rules[0].value`: \"500XB\" is not a size; examples: 500MiB"
        ),
        "{err}"
    );
    let o = sidewatch(&["check-config", bad.to_str().unwrap()]);
    assert!(!o.status.success());
    // Generating rules needs no environment for the targets' labels.
    let env = dir.path().join("env.yml");
    std::fs::write(
        &env,
        "targets:\n  - {name: a, comm: x, labels: {pod: '${SIDEWATCH_TEST_UNSET}'}}\n",
    )
    .unwrap();
    let o = sidewatch(&["rules", "--config", env.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        stdout(&o),
        rules_of(&[]),
        "a config without rules generates the defaults"
    );
    let o = sidewatch(&[
        "check-config",
        repo("alerts/examples/sidewatch.yml").to_str().unwrap(),
    ]);
    assert!(
        stdout(&o).contains("valid; 2 target(s): api, worker; 7 rule(s), 2 SLO(s)"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn shipped_promtool_tests_pass() {
    let mut args = vec!["test".to_string(), "rules".to_string()];
    for f in test_files() {
        args.push(f.to_string_lossy().into_owned());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = promtool(&args);
    assert_eq!(out.matches("SUCCESS").count(), test_files().len(), "{out}");
}

fn test_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo("alerts/tests"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    files
}

/// (alertname, severity, slo) of an alert, from its labels.
fn key(labels: &Value) -> (String, String, String) {
    let s = |k: &str| labels[k].as_str().unwrap_or("").to_string();
    (s("alertname"), s("severity"), s("slo"))
}

/// Every (alert, severity, slo) the shipped rules define is tested firing and not firing; every
/// one with a `for` is also shown pending, not yet firing: `ALERTS{alertstate="pending"}` has
/// it at a time when the alert_rule_test of the same alert expects it not firing.
#[test]
fn every_shipped_alert_is_tested_firing_pending_and_not_firing() {
    let rules: Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(repo("alerts/sidewatch.rules.yml")).unwrap(),
    )
    .unwrap();
    let mut generated = BTreeSet::new();
    let mut with_for = BTreeSet::new();
    for g in rules["groups"].as_sequence().unwrap() {
        for r in g["rules"].as_sequence().unwrap() {
            if let Some(name) = r["alert"].as_str() {
                let mut labels = r["labels"].clone();
                labels["alertname"] = Value::from(name);
                generated.insert(key(&labels));
                if r.get("for").is_some() {
                    with_for.insert(key(&labels));
                }
            }
        }
    }
    assert_eq!(generated.len(), 40, "{generated:?}");
    assert_eq!(with_for.len(), 20, "{with_for:?}");
    let mut fired = BTreeSet::new();
    let mut quiet = BTreeSet::new();
    // (file, case, alertname, eval_time) -> keys expected firing.
    let mut firing_at = BTreeMap::new();
    let mut pending = Vec::new();
    for f in test_files() {
        let t: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        for (case_no, case) in t["tests"].as_sequence().unwrap().iter().enumerate() {
            let case_id = (f.clone(), case_no);
            // A case of recording rules only (fleet.yml) has no alert_rule_test.
            let alert_tests = case["alert_rule_test"].as_sequence();
            for a in alert_tests.map_or(&[][..], Vec::as_slice) {
                let name = a["alertname"].as_str().unwrap().to_string();
                let at = a["eval_time"].as_str().unwrap().to_string();
                let mut expected = BTreeSet::new();
                for e in a["exp_alerts"].as_sequence().unwrap() {
                    let mut labels = e["exp_labels"].clone();
                    labels["alertname"] = Value::from(name.as_str());
                    expected.insert(key(&labels));
                }
                for k in generated.iter().filter(|k| k.0 == name) {
                    if !expected.contains(k) {
                        quiet.insert(k.clone());
                    }
                }
                fired.extend(expected.iter().cloned());
                firing_at.insert((case_id.clone(), name, at), expected);
            }
            for p in case["promql_expr_test"].as_sequence().into_iter().flatten() {
                let at = p["eval_time"].as_str().unwrap().to_string();
                for s in p["exp_samples"].as_sequence().unwrap() {
                    let m = Metrics::parse(&format!("{} 1", s["labels"].as_str().unwrap()));
                    let (name, labels, _) = &m.samples[0];
                    if name == "ALERTS" && labels["alertstate"] == "pending" {
                        let k = (
                            labels["alertname"].clone(),
                            labels["severity"].clone(),
                            labels.get("slo").cloned().unwrap_or_default(),
                        );
                        pending.push((case_id.clone(), at.clone(), k));
                    }
                }
            }
        }
    }
    let untested: Vec<_> = generated.difference(&fired).collect();
    assert!(untested.is_empty(), "never tested firing: {untested:?}");
    let untested: Vec<_> = generated.difference(&quiet).collect();
    assert!(untested.is_empty(), "never tested not firing: {untested:?}");
    let mut shown_pending = BTreeSet::new();
    for (case_id, at, k) in pending {
        let firing = firing_at
            .get(&(case_id.clone(), k.0.clone(), at.clone()))
            .unwrap_or_else(|| {
                panic!(
                    "{k:?} is pending at {at} in {case_id:?}, but no alert_rule_test checks that it is not firing then"
                )
            });
        assert!(
            !firing.contains(&k),
            "{k:?} both pending and firing at {at}"
        );
        shown_pending.insert(k);
    }
    let untested: Vec<_> = with_for.difference(&shown_pending).collect();
    assert!(
        untested.is_empty(),
        "never shown pending, not yet firing: {untested:?}"
    );
}

#[test]
fn every_runbook_link_has_a_section() {
    let runbooks = std::fs::read_to_string(repo("docs/runbooks.md")).unwrap();
    let anchors: BTreeSet<String> = runbooks
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(|h| h.trim().to_lowercase())
        .collect();
    let rules = std::fs::read_to_string(repo("alerts/sidewatch.rules.yml")).unwrap();
    let mut links = 0;
    for l in rules.lines() {
        if let Some(url) = l.trim().strip_prefix("runbook_url: ") {
            let anchor = url.rsplit_once('#').unwrap().1;
            assert!(
                anchors.contains(anchor),
                "no section for {url} in docs/runbooks.md"
            );
            links += 1;
        }
    }
    assert_eq!(links, 40);
}

/// Feeds the same per-minute values to the daemon's rules engine and, as a `promtool test
/// rules` file, to Prometheus's rule evaluation of the generated rules: at every minute the
/// firing alerts (labels and rendered annotations) must be the same. The CPU rule sees a cgroup
/// shared with other processes (at 99.9 %) for 15 minutes, so the processes' CPU over the host's
/// 2 CPUs decides, then a cgroup of its own, whose figure decides.
#[test]
fn prometheus_agrees_with_the_state_machine_minute_by_minute() {
    let config = "\
rules:
  - alert: MemHigh
    signal: memory_rss_bytes
    op: '>'
    value: 50MiB
    for: 3m
    keep_firing_for: 2m
    annotations:
      summary: '{{ $labels.target }} uses {{ $value | humanize1024 }}B'
  - alert: MemHigh
    signal: memory_rss_bytes
    op: '>='
    value: 100MiB
    severity: critical
  - alert: CpuHigh
    signal: cpu_utilization_ratio
    op: '>'
    value: 80%
    for: 2m
    annotations:
      summary: '{{ $labels.target }} at {{ $value | humanizePercentage }}'
  - alert: Restarted
    signal: restarts
    op: '>'
    value: 0
    for: 5m
    annotations:
      summary: '{{ $labels.target }} restarted'
      description: 'see {{ $labels.target }}'
slos: []
";
    // MiB per minute: flapping, a long breach, a spike, a breach cleared within keep_firing_for.
    let rss: [u64; 30] = [
        10, 60, 60, 20, 60, 60, 60, 60, 10, 10, 10, 10, 150, 10, 60, 60, 60, 60, 10, 60, 10, 10,
        10, 60, 60, 60, 60, 60, 60, 10,
    ];
    let restarts: [u64; 30] = [
        0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    ];
    // CPU seconds per minute of the processes (18: 0.3 cores, 15 %; 108: 1.8 cores, 90 %), and
    // the cgroup's utilization, shared for the first 15 minutes.
    let cpu_per_minute: [u64; 30] = [
        18, 108, 108, 108, 18, 108, 108, 108, 108, 18, 18, 108, 18, 18, 18, 108, 108, 108, 108, 18,
        18, 18, 108, 108, 108, 108, 108, 18, 18, 18,
    ];
    let cgroup_cpu: [f64; 30] = [
        0.999, 0.999, 0.999, 0.999, 0.999, 0.999, 0.999, 0.999, 0.999, 0.999, 0.999, 0.999, 0.999,
        0.999, 0.999, 0.5, 0.5, 0.5, 0.5, 0.9, 0.9, 0.9, 0.9, 0.5, 0.9, 0.5, 0.5, 0.5, 0.9, 0.9,
    ];
    let shared = |i: usize| i < 15;
    let cpu_total: Vec<u64> = cpu_per_minute
        .iter()
        .scan(0, |sum, v| {
            *sum += v;
            Some(*sum)
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sidewatch.yml");
    std::fs::write(&cfg, config).unwrap();
    std::fs::write(
        dir.path().join("rules.yml"),
        rules_of(&["--config", cfg.to_str().unwrap()]),
    )
    .unwrap();

    let file = sidewatch::config::parse_file(config, None).unwrap();
    let set = RuleSet::from_config(file.rules.as_deref(), file.slos.as_deref(), None).unwrap();
    let mut engine = RulesEngine::new(set, Some(2.0));
    const MIB: u64 = 1 << 20;
    let base = 1_700_000_000.0;
    let mut cases = String::new();
    let mut firing_minutes = BTreeMap::new();
    let mut cpu_firing = Vec::new();
    for (i, (r, n)) in rss.iter().zip(restarts).enumerate() {
        let mut t = TargetSample {
            name: "api".into(),
            up: true,
            resident_memory_bytes: Some(r * MIB),
            cgroups: vec![CgroupSample {
                live: true,
                shared: Some(shared(i)),
                cpu_utilization_ratio: Some(cgroup_cpu[i]),
                ..Default::default()
            }],
            ..Default::default()
        };
        t.counters.restarts_total = n;
        t.counters.cpu_user_seconds_total = Some(cpu_total[i] as f64);
        let snap = engine.evaluate(base + 60.0 * i as f64, &[t]);
        for alertname in ["MemHigh", "CpuHigh", "Restarted"] {
            let mut exp = String::new();
            for a in snap
                .alerts
                .iter()
                .filter(|a| a.alertname == alertname && a.state.as_str() == "firing")
            {
                *firing_minutes.entry(alertname).or_insert(0) += 1;
                if alertname == "CpuHigh" {
                    cpu_firing.push(i);
                }
                exp.push_str(&format!(
                    "          - exp_labels: {{severity: {}, target: api, job: sidewatch, instance: 'x:9858'}}\n            exp_annotations:\n",
                    a.severity
                ));
                for (k, v) in &a.annotations {
                    exp.push_str(&format!(
                        "              {k}: {}\n",
                        serde_json::to_string(v).unwrap()
                    ));
                }
            }
            if exp.is_empty() {
                exp = "          []\n".into();
            }
            cases.push_str(&format!(
                "      - eval_time: {i}m\n        alertname: {alertname}\n        exp_alerts:\n{exp}"
            ));
        }
    }
    // The sequence exercises every state: both alerts fire on some minutes and not on others.
    assert!(firing_minutes["MemHigh"] > 5, "{firing_minutes:?}");
    assert!(firing_minutes["Restarted"] > 5, "{firing_minutes:?}");
    // 90 % for 2 minutes after going above: from the processes at 3, 7 and 8 (the cgroup's
    // 99.9 % ignored), from the cgroup at 21 and 22 (the processes' 90 % at 15-18 ignored).
    assert_eq!(cpu_firing, [3, 7, 8, 21, 22]);
    let values = |v: &[u64], scale: u64| {
        v.iter()
            .map(|x| (x * scale).to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let join = |v: Vec<String>| v.join(" ");
    let series = [
        ("sidewatch_process_resident_memory_bytes", values(&rss, MIB)),
        ("sidewatch_process_restarts_total", values(&restarts, 1)),
        ("sidewatch_process_cpu_seconds_total", values(&cpu_total, 1)),
        (
            "sidewatch_cgroup_cpu_utilization_ratio",
            join(cgroup_cpu.iter().map(f64::to_string).collect()),
        ),
        (
            "sidewatch_cgroup_shared",
            join((0..30).map(|i| u8::from(shared(i)).to_string()).collect()),
        ),
    ];
    let mut input = String::new();
    for (metric, v) in series {
        input.push_str(&format!(
            "      - series: '{metric}{{job=\"sidewatch\",instance=\"x:9858\",target=\"api\"}}'\n        values: '{v}'\n"
        ));
    }
    input.push_str(&format!(
        "      - series: 'sidewatch_host_cpus{{job=\"sidewatch\",instance=\"x:9858\"}}'\n        values: '{}'\n",
        values(&[2; 30], 1)
    ));
    let test = format!(
        "rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n{input}    alert_rule_test:\n{cases}"
    );
    let t = dir.path().join("agreement_test.yml");
    std::fs::write(&t, &test).unwrap();
    promtool(&["test", "rules", t.to_str().unwrap()]);
}

/// Request SLOs and the `http_*` signals in Prometheus: `sidewatch rules` for events and
/// latency SLOs and for rules on the request signals passes `promtool check rules`, and
/// `promtool test rules` over sidewatch's own series gives the 5 % error ratio of 95 good
/// requests in 100 and fires the P95 alert after its `for`.
#[test]
fn request_slos_and_http_signals_work_in_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sidewatch.yml");
    std::fs::write(
        &cfg,
        "targets:\n  - {name: api, comm: api}\nrules:\n  - {alert: ApiSlow, signal: http_latency_p95_seconds, op: '>', value: 200ms, for: 5m}\n  - {alert: ApiErrors, signal: http_error_ratio, op: '>', value: 1%, for: 5m}\n  - {alert: ApiIdle, signal: http_requests_per_second, op: '<', value: 1}\nslos:\n  - {name: availability, kind: events, good: 'http_requests_total{code!~\"5..\"}', total: http_requests_total, objective: 99%}\n  - {name: latency, kind: latency, threshold: 300ms, objective: 95%}\n",
    )
    .unwrap();
    let rules = rules_of(&["--config", cfg.to_str().unwrap()]);
    check_rules_text(&rules);
    assert!(
        rules.contains("expr: sidewatch_http_latency_p95_seconds > 0.2"),
        "{rules}"
    );
    std::fs::write(dir.path().join("rules.yml"), &rules).unwrap();
    // 1 - 95/100 as float64 (what Prometheus computes and promtool compares exactly).
    let ratio = 1.0 - 95.0 / 100.0;
    let test = format!(
        "rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n      - series: 'sidewatch_slo_samples_total{{slo=\"availability\",target=\"api\"}}'\n        values: '0+100x120'\n      - series: 'sidewatch_slo_good_samples_total{{slo=\"availability\",target=\"api\"}}'\n        values: '0+95x120'\n      - series: 'sidewatch_http_latency_p95_seconds{{target=\"api\"}}'\n        values: '0.1x10 0.3x20'\n    promql_expr_test:\n      - expr: sidewatch:slo_error_ratio:rate1h{{slo=\"availability\"}}\n        eval_time: 90m\n        exp_samples:\n          - labels: 'sidewatch:slo_error_ratio:rate1h{{slo=\"availability\",target=\"api\"}}'\n            value: {ratio:?}\n      - expr: ALERTS{{alertname=\"ApiSlow\"}}\n        eval_time: 14m\n        exp_samples:\n          - labels: 'ALERTS{{alertname=\"ApiSlow\",alertstate=\"pending\",severity=\"warning\",target=\"api\"}}'\n            value: 1\n      - expr: ALERTS{{alertname=\"ApiSlow\"}}\n        eval_time: 16m\n        exp_samples:\n          - labels: 'ALERTS{{alertname=\"ApiSlow\",alertstate=\"firing\",severity=\"warning\",target=\"api\"}}'\n            value: 1\n"
    );
    let t = dir.path().join("test.yml");
    std::fs::write(&t, test).unwrap();
    promtool(&["test", "rules", t.to_str().unwrap()]);
}
