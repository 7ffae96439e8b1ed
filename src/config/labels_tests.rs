//! The reserved list against the label names of a body with every family the daemon produces.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::config::{Overrides, build_settings};

#[test]
fn names_are_checked() {
    assert_eq!(check_name("team"), Ok(()));
    assert_eq!(check_name("_x9"), Ok(()));
    assert_eq!(
        check_name("slo").unwrap_err(),
        "label name \"slo\" is used by sidewatch's own series (family sidewatch_slo_samples_total); pick another name"
    );
    assert_eq!(
        check_name("job").unwrap_err(),
        "label name \"job\" is set by Prometheus on every series it scrapes; pick another name"
    );
    for bad in ["9bad", "a-b", "", "é", "a b"] {
        let e = check_name(bad).unwrap_err();
        assert!(
            e.contains("is not a valid Prometheus label name"),
            "{bad}: {e}"
        );
    }
    assert!(check_name("__meta").unwrap_err().contains("starts with __"));
}

/// (metric name, label names) of every sample line of a text or OpenMetrics body.
fn sample_labels(body: &str) -> Vec<(String, BTreeSet<String>)> {
    let mut out = Vec::new();
    for line in body.lines().filter(|l| !l.starts_with('#')) {
        let Some((name, rest)) = line.split_once('{') else {
            let name = line.split(' ').next().unwrap();
            out.push((name.to_string(), BTreeSet::new()));
            continue;
        };
        let mut names = BTreeSet::new();
        let mut chars = rest.chars();
        'pairs: loop {
            let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
            assert_eq!(chars.next(), Some('"'), "{line}");
            let mut escaped = false;
            for c in chars.by_ref() {
                match (escaped, c) {
                    (false, '\\') => escaped = true,
                    (false, '"') => break,
                    _ => escaped = false,
                }
            }
            assert!(names.insert(key.clone()), "duplicate label {key} in {line}");
            match chars.next() {
                Some(',') => continue,
                Some('}') => break 'pairs,
                c => panic!("unexpected {c:?} in {line}"),
            }
        }
        out.push((name.to_string(), names));
    }
    out
}

const CONFIG: &str = "\
interval: 1m
targets:
  - {name: app, pid: 1509, cgroup_labels: true, labels: {namespace: prod}}
  - {name: sidecar, pid: 1562, labels: {namespace: prod}, probe: {url: 'http://127.0.0.1:9/healthz'}}
rules:
  - {alert: Threads, signal: threads, op: '>', value: 0, labels: {team: pay}}
  - {alert: ThreadsLong, signal: threads, op: '>', value: 0, for: 1d}
slos:
  - {name: no-threads, signal: threads, op: '<', value: 1, objective: 99%, window: 1h}
history:
  min_history: 1h
";

/// Labels the test itself sets (constant and rule labels).
const OWN: &[&str] = &["namespace", "team"];

/// A body with every family: process and cgroup families from a tick on the hybrid cgroup
/// fixture, rules and SLOs evaluated over an hour, history with a day of growing memory.
fn full_body() -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sidewatch.yml");
    std::fs::write(&path, CONFIG).unwrap();
    let settings = build_settings(Some(&path), &Overrides::default(), &|_| None).unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cgroup/hybrid");
    let procfs = fixture.join("proc");
    let shared = crate::state::Shared::new(settings.interval);
    let mut sampler = crate::sampler::Sampler::new(
        crate::source::proc::ProcReader::new(&procfs),
        settings.targets.clone(),
        shared,
    )
    .with_cgroups(crate::source::cgroup::CgroupReader::new(
        &fixture.join("sys/fs/cgroup"),
        &procfs,
    ));
    let mut snap = sampler.tick();
    assert!(snap.targets.iter().all(|t| t.up && !t.cgroups.is_empty()));
    // Runtime figures as an app's /metrics gives them (every runtime family present).
    for t in &mut snap.targets {
        let figures = crate::runtime::RuntimeFigures {
            runtime: Some(crate::runtime::Runtime::Node),
            version: Some("v20.20.2".into()),
            heap_bytes: Some(1e7),
            heap_limit_bytes: Some(2e7),
            tasks: Some(4.0),
            gc_collections: Some(13.0),
            gc_pause_seconds: Some(0.03),
            event_loop_lag_seconds: Some(0.02),
            ..Default::default()
        };
        let mut c = crate::runtime::RuntimeCounters::default();
        t.runtime = Some(c.update(1_700_000_000.0, Some(figures)));
    }

    let t0 = 1_700_000_000.0;
    let mut rules = crate::rules::RulesEngine::new(settings.rules.clone(), Some(2.0));
    let mut history =
        crate::history::HistoryStore::new(settings.history.clone(), Duration::from_secs(60));
    let mut samples = snap.targets.clone();
    let minutes: u32 = 24 * 60;
    for i in 0..minutes {
        let i: u32 = i;
        let now = t0 + f64::from(i) * 60.0;
        for s in &mut samples {
            for c in &mut s.cgroups {
                // Growing towards the limit: trends, time to limit and a leak verdict.
                c.memory_working_set_bytes = Some((1 << 20) + (u64::from(i) << 14));
            }
        }
        history.record(now, &samples);
        if i + 120 >= minutes {
            snap.rules = Some(rules.evaluate(now, &samples));
        }
    }
    let now = t0 + f64::from(minutes - 1) * 60.0;
    snap.history = Some(Arc::new(history.views(now, &samples)));
    crate::expose::render_openmetrics(Arc::new(snap))
}

#[test]
fn every_label_name_of_every_family_is_reserved() {
    let om = full_body();
    let text = crate::expose::openmetrics_to_text(&om);
    let reserved: BTreeSet<&str> = RESERVED.iter().map(|(n, _)| *n).collect();
    let mut seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for body in [&om, &text] {
        for (metric, names) in sample_labels(body) {
            for n in &names {
                assert!(
                    reserved.contains(n.as_str()) || OWN.contains(&n.as_str()),
                    "label {n:?} of {metric} is missing from config::labels::RESERVED"
                );
            }
            // Rule labels land on the alert families: they must not clash there either.
            if metric.starts_with("sidewatch_alert") {
                for n in &names {
                    assert!(
                        crate::rules::spec::RESERVED_RULE_LABELS.contains(&n.as_str())
                            || OWN.contains(&n.as_str()),
                        "label {n:?} of {metric} is missing from RESERVED_RULE_LABELS"
                    );
                }
            }
            seen.entry(metric).or_default().extend(names);
        }
    }
    // Each family the list names carries the label in this body: the list says no more than
    // the truth, and the body covers every family the list knows.
    for (name, owner) in RESERVED {
        if let Owner::Family(family) = owner {
            let labels = seen.get(*family);
            assert!(
                labels.is_some_and(|l| l.contains(*name)),
                "{family} does not carry {name:?} in the body: {labels:?}"
            );
        }
    }
    // The history and cgroup families are in the body, not only the ones the list names.
    for family in [
        "sidewatch_memory_growth_bytes_per_second",
        "sidewatch_memory_time_to_limit_seconds",
        "sidewatch_memory_leak_suspected",
        "sidewatch_recommendation_memory_limit_bytes",
        "sidewatch_alert_active_since_seconds",
        "sidewatch_slo_error_budget_remaining_ratio",
        "sidewatch_runtime_heap_limit_bytes",
        "sidewatch_runtime_tasks",
        "sidewatch_runtime_event_loop_lag_seconds",
        "sidewatch_runtime_gc_collections_total",
        "sidewatch_runtime_gc_pause_seconds_total",
        "sidewatch_runtime_tasks_growth_per_second",
        "sidewatch_runtime_tasks_leak_suspected",
        "sidewatch_probe_duration_seconds_bucket",
    ] {
        assert!(
            seen.contains_key(family),
            "{family} missing: {:?}",
            seen.keys()
        );
    }
}
