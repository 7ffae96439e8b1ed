//! Footprint: nothing rendered unless asked. A tick renders `/metrics` (text and OpenMetrics)
//! and no more; the gzip of each, the status page, the rules' JSON views and the history's JSON
//! fragments are rendered by the first request after the tick that asks for them, and are the
//! same bytes as rendering them at once. (The rings' growth is tested beside them: `bounded`, `history`,
//! `rules::slo`.)

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt as _;
use sidewatch::histogram::HistogramValues;
use sidewatch::history::{HistoryConfig, HistoryStore};
use sidewatch::lazy::Lazy;
use sidewatch::rules::{RuleSet, RulesEngine};
use sidewatch::sample::TargetSample;
use sidewatch::snapshot::Snapshot;
use sidewatch::state::{Published, Shared};

fn sample(name: &str, rss: u64) -> TargetSample {
    TargetSample {
        name: name.into(),
        up: true,
        processes: 1,
        primary_pid: Some(4242),
        resident_memory_bytes: Some(rss),
        threads: Some(12),
        open_fds: Some(30),
        ..Default::default()
    }
}

/// One tick's snapshot of two targets, with the built-in rules and the history on.
struct Ticks {
    rules: RulesEngine,
    history: HistoryStore,
    n: u64,
}

impl Ticks {
    fn new() -> Self {
        Ticks {
            rules: RulesEngine::new(RuleSet::builtin().unwrap(), Some(2.0)),
            history: HistoryStore::new(HistoryConfig::default(), Duration::from_secs(1)),
            n: 0,
        }
    }

    fn next(&mut self) -> Arc<Snapshot> {
        self.n += 1;
        let now = 1_700_000_000.0 + self.n as f64;
        let targets = vec![sample("api", 300 << 20), sample("db", (600 << 20) + self.n)];
        Arc::new(Snapshot {
            timestamp_seconds: now,
            rules: Some(self.rules.evaluate(now, &targets)),
            history: Some(self.history.update(now, &targets)),
            targets,
            read_errors: vec![],
            ticks_total: self.n,
            host_cpus: Some(2),
            tick_duration_seconds: HistogramValues::new(&[0.1]),
            scrapes_total: 0,
            exporter: None,
            version: "test",
            revision: "test",
            config_last_reload_successful: true,
            config_last_reload_success_timestamp_seconds: 1_700_000_000.0,
        })
    }
}

/// (gzipped text, gzipped OpenMetrics) rendered so far for this tick.
fn gzipped(p: &Published) -> (bool, bool) {
    (p.text_gzip.is_rendered(), p.openmetrics_gzip.is_rendered())
}

/// The `/api/v1/rules` body the tick's rules snapshot carries.
fn rules_json(s: &Snapshot) -> &Arc<Lazy<Bytes>> {
    &s.rules.as_ref().unwrap().rules_json
}

/// (status page, rules' JSON, history JSON) rendered so far for this tick.
fn rendered(p: &Published) -> (bool, bool, bool) {
    (
        p.status_page.is_rendered(),
        p.api.is_rendered(),
        p.history.as_ref().unwrap().json_rendered(),
    )
}

fn get(shared: &Shared, path: &str, gzip: bool) -> (u16, Bytes) {
    let mut req = hyper::Request::builder().uri(path);
    if gzip {
        req = req.header("accept-encoding", "gzip");
    }
    let r = sidewatch::server::route(&req.body(()).unwrap(), shared, false);
    let status = r.status().as_u16();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let body = rt.block_on(r.into_body().collect()).unwrap().to_bytes();
    (status, body)
}

#[test]
fn ticks_render_no_view_until_a_request_asks_for_it() {
    let mut ticks = Ticks::new();
    let shared = Shared::new(Duration::from_secs(1));
    // Ticks without requests, scrapes aside: no view is rendered.
    for _ in 0..5 {
        let snapshot = ticks.next();
        shared.publish(sidewatch::expose::publish(snapshot.clone()));
        let p = shared.published().unwrap();
        for _ in 0..3 {
            let (status, body) = get(&shared, "/metrics", false);
            assert_eq!(status, 200);
            assert_eq!(body, p.text);
            assert_eq!(get(&shared, "/healthz", false).0, 200);
        }
        assert_eq!(gzipped(&p), (false, false), "tick {}", ticks.n);
        assert!(!rules_json(&snapshot).is_rendered(), "tick {}", ticks.n);
        assert_eq!(rendered(&p), (false, false, false), "tick {}", ticks.n);
    }

    // A gzip scrape compresses the body it asked for, once, and nothing else.
    let p = shared.published().unwrap();
    let (status, body) = get(&shared, "/metrics", true);
    assert_eq!(status, 200);
    assert_eq!(gzipped(&p), (true, false));
    assert_eq!(body, sidewatch::expose::gzip(&p.text));
    assert_eq!(get(&shared, "/metrics", true).1, body);
    assert_eq!(rendered(&p), (false, false, false));

    // A tick, then one request of each kind: each renders its own view and nothing else, and
    // the lazily rendered body is the one an eager render of the same tick gives.
    let snapshot = ticks.next();
    shared.publish(sidewatch::expose::publish(snapshot.clone()));
    let p = shared.published().unwrap();
    let (status, page) = get(&shared, "/", false);
    assert_eq!(status, 200);
    assert_eq!(rendered(&p), (true, false, false));
    assert_eq!(page, sidewatch::status_page::render(&snapshot).as_bytes());
    assert_eq!(get(&shared, "/", true).1, p.status_page.get().1);

    let (status, alerts) = get(&shared, "/api/v1/alerts", false);
    assert_eq!(status, 200);
    assert_eq!(rendered(&p), (true, true, false));
    // The rules' own body is rendered once per configuration, not per tick.
    assert!(rules_json(&snapshot).is_rendered());
    assert_eq!(
        get(&shared, "/api/v1/rules", false).1,
        sidewatch::rules::view::rules_json(&RuleSet::builtin().unwrap())
    );
    let eager = sidewatch::rules::view::api_bodies(snapshot.rules.as_ref());
    assert_eq!(alerts, eager[0].1);
    assert_eq!(get(&shared, "/api/v1/slos", false).1, eager[1].1);

    let (status, stats) = get(&shared, "/api/v1/stats?target=db", false);
    assert_eq!(status, 200);
    assert_eq!(rendered(&p), (true, true, true));
    let v: serde_json::Value = serde_json::from_slice(&stats).unwrap();
    assert_eq!(v["status"], "success");
    let views = snapshot.history.as_ref().unwrap();
    let eager = sidewatch::history::view::TargetJson::render(&views.targets[1]);
    assert_eq!(views.json()[1].stats, eager.stats);

    // The next tick starts again with nothing rendered, but the rules' body of the same
    // configuration is the one already rendered.
    let next = ticks.next();
    shared.publish(sidewatch::expose::publish(next.clone()));
    assert_eq!(
        rendered(&shared.published().unwrap()),
        (false, false, false)
    );
    assert!(Arc::ptr_eq(rules_json(&next), rules_json(&snapshot)));
}
