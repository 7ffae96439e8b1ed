//! The reference pages of `docs/` against what the binary emits and accepts: the committed
//! metrics, config and signal references equal their generators (`UPDATE=1` rewrites them); the
//! config field table lists exactly the fields the parser accepts; every family a daemon with
//! every source on serves is listed in docs/metrics.md; the runbook links of the shipped rules
//! resolve inside the repository.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::Daemon;
use common::stack::{Prometheus, generated_mismatch};
use sidewatch::reference;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn pages() -> [(&'static str, String); 3] {
    [
        ("docs/metrics.md", reference::metrics_markdown()),
        ("docs/signals.md", reference::signals_markdown()),
        (
            "docs/configuration-reference.md",
            reference::config_markdown(),
        ),
    ]
}

#[test]
fn committed_reference_pages_are_generated() {
    for (path, generated) in pages() {
        if std::env::var_os("UPDATE").is_some() {
            std::fs::write(repo(path), &generated).unwrap();
        }
        if let Some(m) = generated_mismatch(&generated, &repo(path)) {
            panic!("{m}; regenerate with UPDATE=1 cargo test --test docs");
        }
    }
}

/// The check above is not vacuous: one stale line of a committed page fails it, naming the line.
#[test]
fn drift_check_fails_on_a_stale_line() {
    let dir = tempfile::tempdir().unwrap();
    let generated = reference::metrics_markdown();
    let copy = dir.path().join("metrics.md");
    std::fs::write(&copy, &generated).unwrap();
    assert_eq!(generated_mismatch(&generated, &copy), None);
    let stale = generated.replacen("Resident set size", "Resident size", 1);
    assert_ne!(stale, generated);
    std::fs::write(&copy, &stale).unwrap();
    let line = 1 + generated
        .lines()
        .position(|l| l.contains("Resident set size"))
        .unwrap();
    let err = generated_mismatch(&generated, &copy).expect("a stale line must fail");
    assert!(err.contains(&format!("line {line}")), "{err}");
}

/// The families listed in docs/metrics.md, by name as the text format shows them.
fn documented() -> BTreeMap<String, BTreeSet<String>> {
    let page = std::fs::read_to_string(repo("docs/metrics.md")).unwrap();
    page.lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split(" | ").collect();
            let name = cells.first()?.strip_prefix("| `")?.strip_suffix('`')?;
            let labels = cells
                .get(3)?
                .split(", ")
                .map(|l| l.trim_matches('`').to_string())
                .filter(|l| !l.is_empty())
                .collect();
            Some((name.to_string(), labels))
        })
        .collect()
}

/// (family, label names) of every sample of a text-format body.
fn served(body: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut types: Vec<String> = Vec::new();
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split(' ').next().unwrap().to_string();
            out.entry(name.clone()).or_default();
            types.push(name);
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let family = types.last().unwrap().clone();
        if let Some((_, labels)) = line.split_once('{') {
            let labels = labels.rsplit_once('}').unwrap().0;
            for pair in labels.split("\",") {
                let name = pair.split('=').next().unwrap().trim_start_matches(',');
                if !name.is_empty() && name != "le" {
                    out.get_mut(&family).unwrap().insert(name.to_string());
                }
            }
        }
    }
    out
}

/// A daemon with every source on (process, cgroup, the app's own metrics with a Go runtime
/// and an HTTP histogram, a probe, profiles, the network namespace, rules, SLOs,
/// history) watching a real Prometheus: every
/// family it serves is in docs/metrics.md, with no label the page does not list.
#[test]
fn every_served_family_is_documented() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("prometheus.yml"), "scrape_configs: []\n").unwrap();
    let prom = Prometheus::start(dir.path(), &[]);
    let config = dir.path().join("sidewatch.yml");
    let app = prom.addr;
    std::fs::write(
        &config,
        format!(
            "interval: 500ms\ntargets:\n  - name: prom\n    pid: {}\n    labels: {{team: docs}}\n    app:\n      metrics_url: http://{app}/metrics\n    probe:\n      url: http://{app}/-/healthy\n    profiles:\n      url: http://{app}/debug/pprof\n      dir: {profiles}\nslos:\n  - name: fast\n    kind: latency\n    threshold: 1s\n    objective: 99%\n  - name: mem\n    signal: memory_rss_bytes\n    op: '<'\n    value: 10GiB\n    objective: 99%\nrules:\n  - {{alert: SidewatchThreadsHigh, signal: threads, op: '>', value: 0, annotations: {{runbook_url: '#sidewatchthreadshigh'}}}}\n",
            prom.pid(),
            profiles = dir.path().join("profiles").display()
        ),
    )
    .unwrap();
    let d = Daemon::start(&["--config", config.to_str().unwrap()]);
    // Two readings of the app make its rates known; generate requests in between.
    d.wait_until(Duration::from_secs(20), |d| {
        common::http(app, "GET", "/-/healthy", &[]);
        d.metrics().has("sidewatch_http_requests_per_second")
    });
    status_page_links_the_runbook(&d);
    let body = d.get("/metrics").text();
    let served = served(&body);
    for family in [
        "sidewatch_process_cpu_seconds_total",
        "sidewatch_cgroup_memory_usage_bytes",
        "sidewatch_app_metrics_up",
        "sidewatch_runtime_tasks",
        "sidewatch_probe_up",
        "sidewatch_profile_capture_errors_total",
        "sidewatch_network_receive_bytes_total",
        "sidewatch_tcp_listen_queue",
        "sidewatch_slo_samples_total",
        "sidewatch_http_requests_per_second",
    ] {
        assert!(
            served.contains_key(family),
            "every source is on, yet {family} is not served"
        );
    }
    let docs = documented();
    let mut missing = Vec::new();
    for (family, labels) in &served {
        let Some(listed) = docs.get(family) else {
            missing.push(format!("{family}: not listed"));
            continue;
        };
        let extra: Vec<_> = labels
            .iter()
            .filter(|l| !(listed.contains(*l) || listed.contains("target") && *l == "team"))
            .collect();
        if !extra.is_empty() {
            missing.push(format!("{family}: labels {extra:?} not listed"));
        }
    }
    assert!(
        missing.is_empty(),
        "docs/metrics.md (src/catalog.rs) lacks what /metrics serves:\n{}",
        missing.join("\n")
    );
}

/// The firing alert's runbook link on the status page resolves on the daemon itself.
fn status_page_links_the_runbook(d: &Daemon) {
    d.wait_until(Duration::from_secs(10), |d| {
        d.get("/").text().contains("SidewatchThreadsHigh")
    });
    let page = d.get("/").text();
    let link = "<a href=\"docs/runbooks.md#sidewatchthreadshigh\">runbook</a>";
    assert!(page.contains(link), "no {link} on the status page");
    let runbooks = d.get("/docs/runbooks.md");
    assert_eq!(runbooks.status, 200);
    assert!(runbooks.text().contains("\n## SidewatchThreadsHigh\n"));
}

/// For each section of the config, a file with an unknown field there: the parser's error lists
/// the fields it accepts at that place, which must be exactly the reference table's.
#[test]
fn config_reference_lists_exactly_the_accepted_fields() {
    let contexts: [(&str, &str); 16] = [
        ("", "ZZ"),
        ("history", "history: {ZZ}"),
        ("network", "network: {ZZ}"),
        ("targets[]", "targets: [{name: a, ZZ}]"),
        (
            "targets[].app",
            "targets: [{name: a, app: {metrics_url: 'http://a/', ZZ}}]",
        ),
        (
            "targets[].app.tls",
            "targets: [{name: a, app: {metrics_url: 'http://a/', tls: {ZZ}}}]",
        ),
        (
            "targets[].app.http",
            "targets: [{name: a, app: {metrics_url: 'http://a/', http: {histogram: h, ZZ}}}]",
        ),
        (
            "targets[].probe",
            "targets: [{name: a, probe: {url: 'http://a/', ZZ}}]",
        ),
        (
            "targets[].probe.tls",
            "targets: [{name: a, probe: {url: 'http://a/', tls: {ZZ}}}]",
        ),
        (
            "targets[].profiles",
            "targets: [{name: a, profiles: {url: 'http://a/', ZZ}}]",
        ),
        (
            "targets[].profiles.goroutines",
            "targets: [{name: a, profiles: {url: 'http://a/', goroutines: {ZZ}}}]",
        ),
        (
            "targets[].profiles.heap",
            "targets: [{name: a, profiles: {url: 'http://a/', heap: {ZZ}}}]",
        ),
        (
            "targets[].profiles.cpu",
            "targets: [{name: a, profiles: {url: 'http://a/', cpu: {ZZ}}}]",
        ),
        (
            "rules[]",
            "rules: [{alert: A, signal: threads, op: '>', value: 1, ZZ}]",
        ),
        (
            "rules[].annotations",
            "rules: [{alert: A, signal: threads, op: '>', value: 1, annotations: {ZZ}}]",
        ),
        ("slos[]", "slos: [{name: a, objective: 99%, ZZ}]"),
    ];
    let mut tabled: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in reference::CONFIG {
        let (parent, name) = f.path.rsplit_once('.').unwrap_or(("", f.path));
        tabled
            .entry(parent.to_string())
            .or_default()
            .insert(name.to_string());
    }
    for (parent, yaml) in contexts {
        let text = yaml.replace("ZZ", "zz_unknown: 1");
        let err = sidewatch::config::parse_file(&text, None)
            .expect_err(&format!("{text}: an unknown field must be refused"));
        let reason = err.to_string();
        // serde: "expected `a`", "expected `a` or `b`", "expected one of `a`, `b`, `c`".
        let list = reason
            .split_once("expected ")
            .unwrap_or_else(|| panic!("{text}: {reason}"))
            .1
            .trim_start_matches("one of ");
        let accepted: BTreeSet<String> = list
            .split([',', ' '])
            .filter(|w| w.starts_with('`'))
            .map(|w| w.trim_matches('`').to_string())
            .collect();
        let listed = tabled.remove(parent).unwrap_or_default();
        assert_eq!(
            listed, accepted,
            "src/reference.rs CONFIG under `{parent}` (left) vs what the parser accepts (right)"
        );
    }
    assert!(
        tabled.is_empty(),
        "table sections no test context covers: {tabled:?}"
    );
}

/// GitHub's anchor of a heading: lower case, punctuation dropped, spaces to `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == ' ' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

#[test]
fn runbook_links_of_the_shipped_rules_resolve_in_the_repository() {
    let mut checked = 0;
    for file in [
        "alerts/sidewatch.rules.yml",
        "deploy/kubernetes/base/prometheusrule.yaml",
    ] {
        let text = std::fs::read_to_string(repo(file)).unwrap();
        for url in text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("runbook_url: "))
        {
            let (path, frag) = url.split_once('#').unwrap_or((url, ""));
            let page = std::fs::read_to_string(repo(path))
                .unwrap_or_else(|e| panic!("{file}: runbook_url {url}: {e}"));
            let anchors: BTreeSet<String> = page
                .lines()
                .filter_map(|l| l.strip_prefix("## "))
                .map(anchor)
                .collect();
            assert!(
                anchors.contains(frag),
                "{file}: runbook_url {url}: no such section"
            );
            checked += 1;
        }
    }
    assert!(checked > 20, "only {checked} runbook links found");
}

/// Every relative link of README.md and docs/*.md names an existing file and, into a Markdown
/// page, an existing heading.
#[test]
fn relative_links_of_readme_and_docs_resolve() {
    let mut pages = vec![repo("README.md")];
    for e in std::fs::read_dir(repo("docs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            pages.push(p);
        }
    }
    let headings = |p: &Path| -> BTreeSet<String> {
        let text = std::fs::read_to_string(p).unwrap();
        text.lines()
            .filter(|l| l.starts_with('#'))
            .map(|l| anchor(l.trim_start_matches('#')))
            .collect()
    };
    let mut broken = Vec::new();
    let mut checked = 0;
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        for link in text.split("](").skip(1).filter_map(|s| s.split(')').next()) {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            let (path, frag) = link.split_once('#').unwrap_or((link, ""));
            let target = if path.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(path)
            };
            checked += 1;
            if !target.exists() {
                broken.push(format!("{}: {link}: no such file", page.display()));
            } else if !frag.is_empty()
                && target.extension().is_some_and(|x| x == "md")
                && !headings(&target).contains(frag)
            {
                broken.push(format!("{}: {link}: no such heading", page.display()));
            }
        }
    }
    assert!(checked > 30, "only {checked} links found");
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

/// Every `sidewatch_*` series name the prose of README.md and docs/ mentions is one the code
/// defines (a family of the catalog, or one of its samples: `_total`, `_bucket`, `_info`, ...),
/// so a renamed or removed family cannot stay documented by hand. Prefixes written as such
/// (`sidewatch_tcp_*`) and recording-rule names (`workload:sidewatch_...`) are not series names.
#[test]
fn series_names_in_the_prose_exist() {
    let mut defined = BTreeSet::new();
    for d in sidewatch::catalog::ALL {
        let base = d.exposed_name();
        for suffix in [
            "", "_total", "_bucket", "_sum", "_count", "_created", "_info",
        ] {
            defined.insert(format!("{base}{suffix}"));
        }
        defined.insert(format!("{}_info", d.name));
    }
    let mut files = vec![repo("README.md")];
    for entry in std::fs::read_dir(repo("docs")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "md") {
            files.push(p);
        }
    }
    let mut unknown = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let bytes = text.as_bytes();
        let mut at = 0;
        while let Some(i) = text[at..].find("sidewatch_") {
            let start = at + i;
            let end = text[start..]
                .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
                .map_or(text.len(), |n| start + n);
            at = end;
            let name = &text[start..end];
            let before = start.checked_sub(1).map(|b| bytes[b]);
            let prefix = name.ends_with('_') || text[end..].starts_with('*');
            let rule_name = matches!(before, Some(b':' | b'_'))
                || before.is_some_and(|b| b.is_ascii_alphanumeric());
            if prefix || rule_name || defined.contains(name) {
                continue;
            }
            unknown.push(format!(
                "{}: {name}",
                f.strip_prefix(repo("")).unwrap().display()
            ));
        }
    }
    unknown.dedup();
    assert!(
        unknown.is_empty(),
        "series names no family defines:\n{}",
        unknown.join("\n")
    );
}
