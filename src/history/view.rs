//! Views of the history: the metric families of `/metrics`, the JSON fragments a tick renders
//! per target, and the request-time selection of the JSON API (an envelope around published
//! fragments, or at most `limit` published raw points).

use std::borrow::Cow;

use bytes::Bytes;
use prometheus_client::encoding::DescriptorEncoder;
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::model::TargetView;
use super::ring::{self, Point, RawView, Signal};
use super::stats::Summary;
use super::trend::WindowTrend;
use crate::catalog;
use crate::encode::{Family, Labels, Num, labels_of};

/// The JSON routes of the history, with the query parameters each takes.
pub const ROUTES: [(&str, &[&str]); 5] = [
    ("/api/v1/targets", &[]),
    ("/api/v1/samples", &["target", "limit"]),
    ("/api/v1/stats", &["target"]),
    ("/api/v1/trends", &["target"]),
    ("/api/v1/recommendations", &["target"]),
];

/// `/api/v1/samples` without `limit`.
pub const DEFAULT_SAMPLES_LIMIT: usize = 60;
/// The largest `limit`: the raw ring never holds more.
pub const MAX_SAMPLES_LIMIT: usize = ring::RAW_MAX_POINTS;

/// The query parameters `path` takes, when it is a history route.
pub fn route_parameters(path: &str) -> Option<&'static [&'static str]> {
    ROUTES.iter().find(|(p, _)| *p == path).map(|(_, a)| *a)
}

// ---------------------------------------------------------------------------------------------
// Metric families.

fn labels(t: &TargetView) -> Labels<'_> {
    labels_of(&t.name, &t.labels)
}

fn push_windows<'a>(f: &mut Family<'a>, l: &Labels<'a>, trends: &'a [WindowTrend]) {
    for t in trends {
        if let Some(g) = t.growth_per_second {
            let mut l = l.clone();
            l.push(("window", Cow::Borrowed(t.window.as_str())));
            f.push(l, Num::F(g));
        }
    }
}

/// Writes the history families; nothing when no history runs (`once`).
pub(crate) fn encode(
    h: Option<&HistoryViews>,
    enc: &mut DescriptorEncoder<'_>,
) -> Result<(), std::fmt::Error> {
    let Some(h) = h else { return Ok(()) };
    let mut mem = Family::of(&catalog::MEMORY_GROWTH_BYTES_PER_SECOND);
    let mut ttl = Family::of(&catalog::MEMORY_TIME_TO_LIMIT);
    let mut leak = Family::of(&catalog::MEMORY_LEAK_SUSPECTED);
    let mut threads = Family::of(&catalog::THREADS_GROWTH_PER_SECOND);
    let mut fds = Family::of(&catalog::OPEN_FDS_GROWTH_PER_SECOND);
    let mut tasks = Family::of(&catalog::RUNTIME_TASKS_GROWTH_PER_SECOND);
    let mut tasks_leak = Family::of(&catalog::RUNTIME_TASKS_LEAK_SUSPECTED);
    let mut cpu_req = Family::of(&catalog::RECOMMENDATION_CPU_REQUEST_CORES);
    let mut mem_req = Family::of(&catalog::RECOMMENDATION_MEMORY_REQUEST);
    let mut mem_lim = Family::of(&catalog::RECOMMENDATION_MEMORY_LIMIT);
    let mut advice = Family::of(&catalog::ADVICE);
    for t in &h.targets {
        let l = labels(t);
        let r = &t.recommendation;
        let rules = r.advice.iter().map(|a| a.rule);
        for rule in rules.chain(r.tuning.iter().map(|t| t.rule)) {
            let mut l = l.clone();
            l.push(("rule", Cow::Borrowed(rule)));
            advice.push(l, Num::U(1));
        }
        push_windows(&mut mem, &l, &t.trends.memory);
        push_windows(&mut threads, &l, &t.trends.threads);
        push_windows(&mut fds, &l, &t.trends.open_fds);
        push_windows(&mut tasks, &l, &t.trends.runtime_tasks);
        if let Some(v) = &t.trends.tasks_leak {
            tasks_leak.push(l.clone(), Num::U(u64::from(v.suspected)));
        }
        if let Some(s) = t.trends.time_to_limit_seconds {
            ttl.push(l.clone(), Num::F(s));
        }
        if let Some(v) = &t.trends.leak {
            leak.push(l.clone(), Num::U(u64::from(v.suspected)));
        }
        let r = &t.recommendation;
        if let Some(f) = &r.cpu_request {
            cpu_req.push(l.clone(), Num::F(f.value));
        }
        if let Some(f) = &r.memory_request {
            mem_req.push(l.clone(), Num::F(f.value));
        }
        if let Some(f) = &r.memory_limit {
            mem_lim.push(l.clone(), Num::F(f.value));
        }
    }
    for f in [
        &mem,
        &ttl,
        &leak,
        &threads,
        &fds,
        &tasks,
        &tasks_leak,
        &cpu_req,
        &mem_req,
        &mem_lim,
        &advice,
    ] {
        f.encode(enc)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// JSON fragments, rendered once per tick.

/// The `data` of each route for one target, rendered by the tick.
#[derive(Debug, Clone, Default)]
pub struct TargetJson {
    pub target: Bytes,
    pub stats: Bytes,
    pub trends: Bytes,
    pub recommendations: Bytes,
}

fn to_bytes(v: &Value) -> Bytes {
    // Serializing a Value cannot fail (no non-string map keys, no failing Serialize impl).
    Bytes::from(serde_json::to_vec(v).unwrap_or_default())
}

fn labels_json(t: &TargetView) -> Value {
    Value::Object(
        t.labels
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// A finite number, or null (JSON has no NaN).
fn num(v: Option<f64>) -> Value {
    match v {
        Some(v) if v.is_finite() => json!(v),
        _ => Value::Null,
    }
}

/// A count (threads, open fds, kills, restarts): an integer, or null. The ring keeps every
/// figure as a float; a count is whole, and JSON readers compare it with integers.
fn count(v: Option<f64>) -> Value {
    match v {
        Some(v) if v.is_finite() && v >= 0.0 => json!(v.round() as u64),
        _ => Value::Null,
    }
}

/// One raw point of `/api/v1/samples`, serialized straight to the body: 3,600 points as
/// `serde_json::Value` maps took ~14 MiB of heap for one request. The fields are in the
/// alphabetical order the `Value` maps had.
#[derive(Serialize)]
struct PointJson {
    accept_queue_ratio: Value,
    cpu_cores: Value,
    cpu_limit_cores: Value,
    memory_limit_bytes: Value,
    memory_rss_bytes: Value,
    memory_working_set_bytes: Value,
    oom_kills_total: Value,
    open_fds: Value,
    restarts_total: Value,
    runtime_heap_bytes: Value,
    runtime_tasks: Value,
    threads: Value,
    timestamp: f64,
}

impl PointJson {
    fn of(p: &Point) -> Self {
        PointJson {
            accept_queue_ratio: num(p.get(Signal::AcceptQueue)),
            cpu_cores: num(p.get(Signal::CpuCores)),
            cpu_limit_cores: num(p.cpu_limit()),
            memory_limit_bytes: num(p.memory_limit_bytes()),
            memory_rss_bytes: num(p.get(Signal::Rss)),
            memory_working_set_bytes: num(p.get(Signal::WorkingSet)),
            oom_kills_total: count(ring::count(p.oom_kills)),
            open_fds: count(p.get(Signal::OpenFds)),
            restarts_total: count(ring::count(p.restarts)),
            runtime_heap_bytes: num(p.get(Signal::RuntimeHeap)),
            runtime_tasks: count(p.get(Signal::RuntimeTasks)),
            threads: count(p.get(Signal::Threads)),
            timestamp: p.t,
        }
    }
}

/// A point as a `Value`, for the one `current` point of `/api/v1/targets`.
fn point_json(p: &Point) -> Value {
    // Serializing a PointJson cannot fail (string keys, no failing Serialize impl).
    serde_json::to_value(PointJson::of(p)).unwrap_or(Value::Null)
}

/// The newest `limit` points of a raw ring, serialized one at a time.
struct Points<'a>(&'a RawView, usize);

impl Serialize for Points<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.newest_first().take(self.1).map(PointJson::of))
    }
}

/// `/api/v1/samples`'s data, keys in the alphabetical order of `Value` maps.
#[derive(Serialize)]
struct SamplesJson<'a> {
    labels: Value,
    order: &'static str,
    samples: Points<'a>,
    target: &'a str,
}

fn summary_json(s: &Option<Summary>, current: Option<f64>) -> Value {
    match s {
        None => Value::Null,
        Some(s) => json!({
            "current": num(current),
            "min": num(Some(s.min)),
            "max": num(Some(s.max)),
            "mean": num(Some(s.mean)),
            "p50": num(Some(s.p50)),
            "p90": num(Some(s.p90)),
            "p99": num(Some(s.p99)),
            "samples": s.samples,
        }),
    }
}

fn stats_json(t: &TargetView) -> Value {
    let window = |stats: &[(Signal, Option<Summary>)], source: &str, what: &str| {
        let signals: Map<String, Value> = stats
            .iter()
            .map(|(s, sum)| {
                (
                    s.name().to_string(),
                    summary_json(sum, t.latest.and_then(|p| p.get(*s))),
                )
            })
            .collect();
        json!({ "source": source, "percentilesOf": what, "signals": signals })
    };
    json!({
        "target": t.name,
        "labels": labels_json(t),
        "windows": {
            "1h": window(&t.stats_1h, "raw", "ticks"),
            "24h": window(&t.stats_24h, "minutes", "per-minute means"),
        },
    })
}

fn trend_json(t: &WindowTrend) -> Value {
    json!({
        "window": t.window,
        "windowSeconds": t.window_seconds,
        "source": t.source,
        "covered": t.covered,
        "growthPerSecond": num(t.growth_per_second),
        "floors": t.floors.iter().map(|(ts, v)| json!([ts, v])).collect::<Vec<_>>(),
    })
}

fn trends_json(t: &TargetView) -> Value {
    let tr = &t.trends;
    json!({
        "target": t.name,
        "labels": labels_json(t),
        "method": "Theil-Sen slope of the minima of 12 equal segments of each window",
        "memory_working_set_bytes": tr.memory.iter().map(trend_json).collect::<Vec<_>>(),
        "threads": tr.threads.iter().map(trend_json).collect::<Vec<_>>(),
        "open_fds": tr.open_fds.iter().map(trend_json).collect::<Vec<_>>(),
        "leak": tr.leak,
        "runtime_tasks": tr.runtime_tasks.iter().map(trend_json).collect::<Vec<_>>(),
        "runtime_heap_bytes": tr.runtime_heap.iter().map(trend_json).collect::<Vec<_>>(),
        // Counts, not bytes: only the fields that do not name a unit.
        "tasksLeak": tr.tasks_leak.as_ref().map(|l| json!({
            "window": l.window,
            "suspected": l.suspected,
            "growthPerSecond": num(l.growth_bytes_per_second),
            "evidence": l.evidence,
        })),
        "timeToLimitSeconds": num(tr.time_to_limit_seconds),
        "timeToLimitWindow": tr.time_to_limit_window,
        "workingSetBytes": num(t.latest.and_then(|p| p.get(Signal::WorkingSet))),
        "memoryLimitBytes": num(t.latest.and_then(|p| p.memory_limit_bytes())),
    })
}

fn target_json(t: &TargetView) -> Value {
    let current = t.latest.as_ref().map_or(Value::Null, point_json);
    let links: Map<String, Value> = ROUTES
        .iter()
        .skip(1)
        .map(|(p, _)| {
            (
                p.trim_start_matches("/api/v1/").to_string(),
                Value::String(format!("{p}?target={}", percent_encode(&t.name))),
            )
        })
        .collect();
    json!({
        "name": t.name,
        "labels": labels_json(t),
        "up": t.up,
        "pid": t.pid,
        "comm": t.comm,
        "processes": t.processes,
        "restartsTotal": t.restarts_total,
        "oomKillsTotal": t.oom_kills_total,
        "current": current,
        "history": {
            "sampledSeconds": t.history_seconds,
            "rawPoints": t.raw.len(),
            "rawCapacity": t.raw_capacity,
            "minutes": t.minutes,
            "hours": t.hours,
            "days": t.days,
        },
        "memoryLeakSuspected": t.trends.leak.as_ref().map(|l| l.suspected),
        "tasksLeakSuspected": t.trends.tasks_leak.as_ref().map(|l| l.suspected),
        "recommendationStatus": t.recommendation.status,
        "links": links,
    })
}

fn recommendations_json(t: &TargetView) -> Value {
    let mut v = serde_json::to_value(&t.recommendation).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("target".into(), Value::String(t.name.clone()));
        m.insert("labels".into(), labels_json(t));
    }
    v
}

impl TargetJson {
    pub fn render(t: &TargetView) -> TargetJson {
        TargetJson {
            target: to_bytes(&target_json(t)),
            stats: to_bytes(&stats_json(t)),
            trends: to_bytes(&trends_json(t)),
            recommendations: to_bytes(&recommendations_json(t)),
        }
    }

    pub fn len(&self) -> usize {
        self.target.len() + self.stats.len() + self.trends.len() + self.recommendations.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Percent-encodes a query value (RFC 3986 unreserved characters stay).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Request-time selection.

fn envelope(parts: &[&[u8]], array: bool) -> Bytes {
    let len: usize = parts.iter().map(|p| p.len() + 1).sum();
    let mut out = Vec::with_capacity(len + 40);
    out.extend_from_slice(b"{\"status\":\"success\",\"data\":");
    if array {
        out.push(b'[');
    }
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(p);
    }
    if array {
        out.push(b']');
    }
    out.extend_from_slice(b"}\n");
    Bytes::from(out)
}

fn single<'a>(params: &'a [(String, String)], name: &str) -> Result<Option<&'a str>, String> {
    let mut found = params.iter().filter(|(k, _)| k == name);
    let first = found.next();
    if found.next().is_some() {
        return Err(format!("query parameter {name:?} is given more than once"));
    }
    Ok(first.map(|(_, v)| v.as_str()))
}

fn unknown_target(h: &HistoryViews, name: &str) -> String {
    let names: Vec<String> = h
        .targets
        .iter()
        .take(20)
        .map(|t| format!("{:?}", t.name))
        .collect();
    let more = if h.targets.len() > 20 { ", ..." } else { "" };
    format!(
        "unknown target {name:?}; targets: {}{more}",
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    )
}

/// Answers a history route from the published views: `Ok(body)` (a JSON envelope), or the
/// message of a 400 for a bad parameter. `params` are the decoded query pairs, already checked
/// against [`route_parameters`]. `None` when `path` is not a history route.
pub fn select(
    h: &HistoryViews,
    path: &str,
    params: &[(String, String)],
) -> Option<Result<Bytes, String>> {
    route_parameters(path)?;
    Some(select_inner(h, path, params))
}

fn select_inner(
    h: &HistoryViews,
    path: &str,
    params: &[(String, String)],
) -> Result<Bytes, String> {
    let target = single(params, "target")?;
    let chosen: Vec<(&TargetView, &TargetJson)> = match target {
        Some(name) => vec![h.target(name).ok_or_else(|| unknown_target(h, name))?],
        None => h.targets.iter().zip(h.json()).collect(),
    };
    let part = |f: fn(&TargetJson) -> &Bytes| -> Bytes {
        let parts: Vec<&[u8]> = chosen.iter().map(|(_, j)| &f(j)[..]).collect();
        envelope(&parts, target.is_none())
    };
    match path {
        "/api/v1/targets" => Ok(part(|j| &j.target)),
        "/api/v1/stats" => Ok(part(|j| &j.stats)),
        "/api/v1/trends" => Ok(part(|j| &j.trends)),
        "/api/v1/recommendations" => Ok(part(|j| &j.recommendations)),
        "/api/v1/samples" => {
            // Without `target`, the one target there is (like the guides' `?limit=` routes);
            // with several, which one is ambiguous.
            let Some((t, _)) = chosen.first().filter(|_| chosen.len() == 1) else {
                let names: Vec<String> =
                    h.targets.iter().map(|t| format!("{:?}", t.name)).collect();
                return Err(format!(
                    "/api/v1/samples needs a target parameter when there is more than one target, e.g. /api/v1/samples?target={}&limit=60; targets: {}",
                    h.targets.first().map_or("app", |t| t.name.as_str()),
                    names.join(", ")
                ));
            };
            let limit = match single(params, "limit")? {
                None => DEFAULT_SAMPLES_LIMIT,
                Some(v) => v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_SAMPLES_LIMIT).contains(n))
                    .ok_or_else(|| {
                        format!(
                            "limit must be a whole number from 1 to {MAX_SAMPLES_LIMIT}, got {v:?}"
                        )
                    })?,
            };
            let data = SamplesJson {
                labels: labels_json(t),
                order: "newest first",
                samples: Points(&t.raw, limit),
                target: &t.name,
            };
            // Serializing these types cannot fail (string keys, no failing Serialize impl).
            let body = Bytes::from(serde_json::to_vec(&data).unwrap_or_default());
            Ok(envelope(&[&body], false))
        }
        _ => Err(format!("{path} is not a history route")),
    }
}

/// What a tick publishes: one view per target (config order) and their JSON fragments, rendered
/// on the first API request after the tick (most ticks have none).
#[derive(Debug, Clone, Default)]
pub struct HistoryViews {
    pub timestamp_seconds: f64,
    pub targets: Vec<TargetView>,
    json: std::sync::OnceLock<Vec<TargetJson>>,
}

impl HistoryViews {
    pub fn new(timestamp_seconds: f64, targets: Vec<TargetView>) -> Self {
        HistoryViews {
            timestamp_seconds,
            targets,
            json: std::sync::OnceLock::new(),
        }
    }

    /// The targets' JSON fragments, rendered now if no request has asked since the tick.
    pub fn json(&self) -> &[TargetJson] {
        self.json
            .get_or_init(|| self.targets.iter().map(TargetJson::render).collect())
    }

    /// Whether [`HistoryViews::json`] has rendered this tick's fragments.
    pub fn json_rendered(&self) -> bool {
        self.json.get().is_some()
    }

    pub fn target(&self, name: &str) -> Option<(&TargetView, &TargetJson)> {
        self.targets
            .iter()
            .zip(self.json())
            .find(|(t, _)| t.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{HistoryConfig, HistoryStore};
    use crate::sample::TargetSample;
    use std::time::Duration;

    fn views() -> HistoryViews {
        let mut store = HistoryStore::new(HistoryConfig::default(), Duration::from_secs(1));
        let mk = |name: &str, rss: u64| TargetSample {
            name: name.into(),
            labels: vec![("pod".into(), "web-0".into())],
            up: true,
            processes: 1,
            resident_memory_bytes: Some(rss),
            threads: Some(4),
            ..Default::default()
        };
        let mut last = None;
        for i in 0..100 {
            let samples = vec![mk("api", 1 << 20 | (i << 12)), mk("db x", 2 << 20)];
            last = Some(store.update(1_700_000_000.0 + i as f64, &samples));
        }
        (*last.unwrap()).clone()
    }

    fn data(b: &Bytes) -> Value {
        let v: Value = serde_json::from_slice(b).unwrap();
        assert_eq!(v["status"], "success");
        v["data"].clone()
    }

    /// `/api/v1/samples` as it was rendered through `serde_json::Value` maps.
    fn samples_as_values(t: &TargetView, limit: usize) -> Vec<u8> {
        let point = |p: &Point| {
            json!({
                "timestamp": p.t,
                "cpu_cores": num(p.get(Signal::CpuCores)),
                "memory_working_set_bytes": num(p.get(Signal::WorkingSet)),
                "memory_rss_bytes": num(p.get(Signal::Rss)),
                "threads": count(p.get(Signal::Threads)),
                "open_fds": count(p.get(Signal::OpenFds)),
                "runtime_tasks": count(p.get(Signal::RuntimeTasks)),
                "runtime_heap_bytes": num(p.get(Signal::RuntimeHeap)),
                "accept_queue_ratio": num(p.get(Signal::AcceptQueue)),
                "memory_limit_bytes": num(p.memory_limit_bytes()),
                "cpu_limit_cores": num(p.cpu_limit()),
                "oom_kills_total": count(ring::count(p.oom_kills)),
                "restarts_total": count(ring::count(p.restarts)),
            })
        };
        let samples: Vec<Value> = t.raw.newest_first().take(limit).map(point).collect();
        let data = json!({
            "target": t.name,
            "labels": labels_json(t),
            "order": "newest first",
            "samples": samples,
        });
        envelope(&[&to_bytes(&data)], false).to_vec()
    }

    #[test]
    fn samples_stream_the_bytes_the_value_maps_gave() {
        let h = views();
        for limit in [1, 3, 100] {
            let params = [
                ("target".to_string(), "api".to_string()),
                ("limit".to_string(), limit.to_string()),
            ];
            let got = select(&h, "/api/v1/samples", &params).unwrap().unwrap();
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&samples_as_values(&h.targets[0], limit))
            );
        }
    }

    #[test]
    fn routes_select_published_fragments() {
        let h = views();
        let p = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
        let all = data(&select(&h, "/api/v1/targets", &[]).unwrap().unwrap());
        assert_eq!(all.as_array().unwrap().len(), 2);
        assert_eq!(all[1]["name"], "db x");
        assert_eq!(all[1]["links"]["stats"], "/api/v1/stats?target=db%20x");
        assert_eq!(all[0]["labels"]["pod"], "web-0");
        let one = data(
            &select(&h, "/api/v1/stats", &p("target", "api"))
                .unwrap()
                .unwrap(),
        );
        let rss = &one["windows"]["1h"]["signals"]["memory_rss_bytes"];
        assert_eq!(rss["samples"], 100);
        assert_eq!(rss["current"], f64::from((1u32 << 20) | (99 << 12)));
        assert_eq!(rss["min"], f64::from(1u32 << 20));
        let s = data(
            &select(
                &h,
                "/api/v1/samples",
                &[
                    ("target".into(), "api".into()),
                    ("limit".into(), "3".into()),
                ],
            )
            .unwrap()
            .unwrap(),
        );
        let ts: Vec<f64> = s["samples"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["timestamp"].as_f64().unwrap())
            .collect();
        assert_eq!(ts, vec![1_700_000_099.0, 1_700_000_098.0, 1_700_000_097.0]);
        assert_eq!(s["samples"][0]["threads"], 4);
        assert_eq!(s["samples"][0]["memory_limit_bytes"], Value::Null);
        let r = data(
            &select(&h, "/api/v1/recommendations", &p("target", "db x"))
                .unwrap()
                .unwrap(),
        );
        assert_eq!(r["status"], "not_enough_history");
        assert_eq!(r["target"], "db x");
        let t = data(&select(&h, "/api/v1/trends", &[]).unwrap().unwrap());
        assert_eq!(t[0]["memory_working_set_bytes"][0]["window"], "15m");
        assert_eq!(t[0]["memory_working_set_bytes"][0]["covered"], false);
        assert!(select(&h, "/api/v1/alerts", &[]).is_none());
    }

    #[test]
    fn bad_parameters_are_errors() {
        let h = views();
        let err = |path: &str, params: &[(&str, &str)]| {
            let params: Vec<(String, String)> = params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            select(&h, path, &params).unwrap().unwrap_err()
        };
        assert_eq!(
            err("/api/v1/stats", &[("target", "nope")]),
            "unknown target \"nope\"; targets: \"api\", \"db x\""
        );
        assert!(err("/api/v1/samples", &[]).contains("needs a target"));
        for bad in ["0", "-1", "3601", "ten", ""] {
            assert_eq!(
                err("/api/v1/samples", &[("target", "api"), ("limit", bad)]),
                format!("limit must be a whole number from 1 to 3600, got {bad:?}")
            );
        }
        assert!(
            err("/api/v1/trends", &[("target", "api"), ("target", "db x")])
                .contains("more than once")
        );
    }

    #[test]
    fn percent_encoding() {
        assert_eq!(percent_encode("a b/ü"), "a%20b%2F%C3%BC");
        assert_eq!(percent_encode("api-1_x.y~"), "api-1_x.y~");
    }
}
