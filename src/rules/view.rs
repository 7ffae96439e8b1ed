//! Views of the rules state: the metric families of `/metrics` (rendered with the exposition's
//! `Family` helper) and the JSON bodies of `/api/v1/alerts`, `/api/v1/slos` and
//! `/api/v1/rules`, all rendered once per tick.

use std::borrow::Cow;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use prometheus_client::encoding::DescriptorEncoder;
use serde_json::{Value, json};

use super::snapshot::{BurnRate, RulesSnapshot};
use super::spec::{RuleSet, SloKind};
use crate::catalog;
use crate::encode::{Family, Labels, Num};
use crate::{promgen, units};

/// Writes the rules families; nothing when the rules engine does not run (`once`).
pub(crate) fn encode(
    rs: Option<&RulesSnapshot>,
    enc: &mut DescriptorEncoder<'_>,
) -> Result<(), std::fmt::Error> {
    let Some(rs) = rs else { return Ok(()) };
    let mut alert = Family::of(&catalog::ALERT);
    let mut since = Family::of(&catalog::ALERT_ACTIVE_SINCE);
    for a in &rs.alerts {
        let mut l: Labels<'_> = vec![
            ("alertname", Cow::Borrowed(a.alertname.as_str())),
            ("alertstate", Cow::Borrowed(a.state.as_str())),
            ("severity", Cow::Borrowed(a.severity)),
            ("target", Cow::Borrowed(a.target.as_str())),
        ];
        l.extend(
            a.labels
                .iter()
                .map(|(k, v)| (k.as_str(), Cow::Borrowed(v.as_str()))),
        );
        alert.push(l.clone(), Num::U(1));
        l.remove(1);
        since.push(l, Num::F(a.active_at));
    }
    alert.encode(enc)?;
    since.encode(enc)?;

    let mut samples = Family::of(&catalog::SLO_SAMPLES);
    let mut good = Family::of(&catalog::SLO_GOOD_SAMPLES);
    let mut objective = Family::of(&catalog::SLO_OBJECTIVE_RATIO);
    let mut budget = Family::of(&catalog::SLO_ERROR_BUDGET_REMAINING_RATIO);
    let mut burn = Family::of(&catalog::SLO_BURN_RATE);
    for s in &rs.slos {
        let mut l: Labels<'_> = vec![
            ("slo", Cow::Borrowed(s.slo.as_str())),
            ("target", Cow::Borrowed(s.target.as_str())),
        ];
        l.extend(
            s.labels
                .iter()
                .map(|(k, v)| (k.as_str(), Cow::Borrowed(v.as_str()))),
        );
        samples.push(l.clone(), Num::U(s.samples_total));
        good.push(l.clone(), Num::U(s.good_samples_total));
        objective.push(l.clone(), Num::F(s.objective));
        if let Some(b) = s.error_budget_remaining {
            budget.push(l.clone(), Num::F(b));
        }
        for b in &s.burn_rates {
            if let Some(r) = b.rate {
                let mut l = l.clone();
                l.push(("window", Cow::Borrowed(b.window)));
                burn.push(l, Num::F(r));
            }
        }
    }
    for f in [&samples, &good, &objective, &budget, &burn] {
        f.encode(enc)?;
    }
    encode_http(rs, enc)
}

/// The request signals of targets whose app has a known HTTP histogram.
fn encode_http(rs: &RulesSnapshot, enc: &mut DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
    let mut rps = Family::of(&catalog::HTTP_REQUESTS_PER_SECOND);
    let mut errors = Family::of(&catalog::HTTP_ERROR_RATIO);
    let mut p95 = Family::of(&catalog::HTTP_LATENCY_P95_SECONDS);
    for h in &rs.http {
        let mut l: Labels<'_> = vec![("target", Cow::Borrowed(h.target.as_str()))];
        l.extend(
            h.labels
                .iter()
                .map(|(k, v)| (k.as_str(), Cow::Borrowed(v.as_str()))),
        );
        for (f, v) in [
            (&mut rps, h.rates.requests_per_second),
            (&mut errors, h.rates.error_ratio),
            (&mut p95, h.rates.latency_p95_seconds),
        ] {
            if let Some(v) = v.filter(|v| v.is_finite()) {
                f.push(l.clone(), Num::F(v));
            }
        }
    }
    for f in [&rps, &errors, &p95] {
        f.encode(enc)?;
    }
    Ok(())
}

fn rfc3339(t: f64) -> Value {
    match Duration::try_from_secs_f64(t) {
        Ok(d) => Value::String(humantime::format_rfc3339_millis(UNIX_EPOCH + d).to_string()),
        Err(_) => Value::Null,
    }
}

fn labels_json<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Value {
    Value::Object(
        pairs
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect(),
    )
}

fn body(data: Value) -> Bytes {
    let v = json!({ "status": "success", "data": data });
    Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
}

/// `/api/v1/alerts`: the pending and firing alerts, shaped like Prometheus's own endpoint.
pub fn alerts_json(rs: &RulesSnapshot) -> Bytes {
    let alerts: Vec<Value> = rs
        .alerts
        .iter()
        .map(|a| {
            let labels = [
                ("alertname", a.alertname.as_str()),
                ("severity", a.severity),
                ("target", a.target.as_str()),
            ]
            .into_iter()
            .chain(a.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            json!({
                "labels": labels_json(labels),
                "annotations": a.annotations,
                "state": a.state.as_str(),
                "activeAt": rfc3339(a.active_at),
                "firedAt": a.fired_at.map_or(Value::Null, rfc3339),
                "value": units::go_float(a.value),
            })
        })
        .collect();
    body(json!({ "alerts": alerts }))
}

/// `/api/v1/slos`: every (SLO, target) with its counters, budget and burn rates, and the span
/// they cover.
pub fn slos_json(rs: &RulesSnapshot) -> Bytes {
    let slos: Vec<Value> = rs
        .slos
        .iter()
        .map(|s| {
            let by_window = |f: fn(&BurnRate) -> Value| -> serde_json::Map<String, Value> {
                s.burn_rates
                    .iter()
                    .map(|b| (b.window.to_string(), f(b)))
                    .collect()
            };
            json!({
                "slo": s.slo,
                "target": s.target,
                "labels": labels_json(s.labels.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
                "objective": s.objective,
                "windowSeconds": s.window_seconds,
                "samplesTotal": s.samples_total,
                "goodSamplesTotal": s.good_samples_total,
                "windowSamples": s.window_total,
                "windowGoodSamples": s.window_good,
                "errorBudgetRemaining": s.error_budget_remaining,
                "coveredSeconds": s.covered_seconds,
                "errorBudgetMeaningful": s.error_budget_meaningful,
                "burnRate": by_window(|b| json!(b.rate)),
                "burnRateCovered": by_window(|b| json!(b.covered)),
                "kind": s.kind,
                "bucket": s.bucket.as_ref().map(|b| json!({
                    "histogram": b.histogram,
                    "le": crate::request::le_text(b.le),
                    "exact": b.exact,
                })),
            })
        })
        .collect();
    body(json!({ "slos": slos }))
}

/// `/api/v1/rules`: the effective rules and SLOs with the PromQL `sidewatch rules` generates.
pub fn rules_json(set: &RuleSet) -> Bytes {
    let rules: Vec<Value> = set
        .rules
        .iter()
        .map(|r| {
            json!({
                "alert": r.alert,
                "severity": r.severity.as_str(),
                "signal": r.signal.name(),
                "metric": r.signal.metric(),
                "op": r.op.as_str(),
                "value": r.value,
                "valueText": r.value_text,
                "for": units::prom_duration(r.hold()),
                "window": r.window().map(units::prom_duration),
                "keepFiringFor": units::prom_duration(r.keep_firing_for),
                "targets": r.targets,
                "labels": r.labels,
                "annotations": r.annotations,
                "expr": promgen::alert_expr(r),
            })
        })
        .collect();
    let slos: Vec<Value> = set
        .slos
        .iter()
        .map(|s| {
            let mut v = json!({
                "name": s.name,
                "kind": s.kind.as_str(),
                "description": s.description,
                "objective": s.objective,
                "window": units::prom_duration(s.window),
                "targets": s.targets,
                "conditionExpr": promgen::slo_condition_expr(s),
                "prometheusRules": promgen::slo_rules(s),
            });
            if let Value::Object(m) = &mut v {
                m.extend(slo_kind_json(&s.kind));
            }
            v
        })
        .collect();
    body(json!({
        "defaults": { "rules": set.default_rules, "slos": set.default_slos },
        "rules": rules,
        "slos": slos,
    }))
}

/// The fields proper to an SLO's kind.
fn slo_kind_json(k: &SloKind) -> serde_json::Map<String, Value> {
    let v = match k {
        SloKind::Samples {
            signal,
            op,
            value,
            value_text,
        } => json!({
            "signal": signal.name(),
            "metric": signal.metric(),
            "op": op.as_str(),
            "value": value,
            "valueText": value_text,
        }),
        SloKind::Events { good, total } => json!({ "good": good.text, "total": total.text }),
        SloKind::Latency {
            histogram,
            threshold,
            threshold_text,
        } => json!({
            "histogram": histogram.as_deref().unwrap_or("auto"),
            "threshold": threshold,
            "thresholdText": threshold_text,
        }),
        SloKind::Availability => json!({ "histogram": "auto", "good": "status not 5xx" }),
    };
    match v {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

/// `/api/v1/signals`: each target's value of every rule signal this tick, as the rules saw it
/// (`null`: unknown this tick).
pub fn signals_json(rs: &RulesSnapshot) -> Bytes {
    let targets: Vec<Value> = rs
        .signals
        .iter()
        .map(|t| {
            let values: serde_json::Map<String, Value> = t
                .values
                .iter()
                .map(|(s, v)| (s.name().to_string(), json!(v)))
                .collect();
            json!({
                "target": t.target,
                "labels": labels_json(t.labels.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
                "signals": values,
            })
        })
        .collect();
    body(json!({ "targets": targets }))
}

/// The JSON views a tick publishes: (path, body).
pub fn api_bodies(rs: Option<&RulesSnapshot>) -> Vec<(&'static str, Bytes)> {
    match rs {
        None => Vec::new(),
        Some(rs) => vec![
            ("/api/v1/alerts", alerts_json(rs)),
            ("/api/v1/slos", slos_json(rs)),
            ("/api/v1/rules", rs.rules_json.get().clone()),
            ("/api/v1/signals", signals_json(rs)),
        ],
    }
}
