//! The evaluator: every tick, for each (rule, target) the signal's value, the condition and one
//! step of the alert state machine; for each (SLO, target) one sample counted good or bad.
//! State survives a config reload for every rule and SLO whose definition did not change.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;

use super::alert::{AlertState, CounterHistory, Phase, Transition};
use super::signal::{Signal, SignalSource, TargetSignals};
use super::slo::{self, SloState};
use super::snapshot::{
    ActiveAlert, BucketUsed, BurnRate, RulesSnapshot, SloStatus, TargetHttp, TargetSignalValues,
};
use super::spec::{RuleSet, Severity, Slo, SloKind};
use super::{template, view};
use crate::lazy::Lazy;
use crate::request::{self, HttpHistogram, HttpRates, HttpReading, Series};
use crate::sample::TargetSample;
use crate::source::exposition::Exposition;

/// One (SLO, target): its counts, and for events and latency SLOs the app's counters at the
/// previous reading and the bucket in use.
#[derive(Debug, Default)]
struct SloTarget {
    state: Option<SloState>,
    prev: Option<(Series, Series)>,
    bucket: Option<BucketUsed>,
}

#[derive(Debug, Default)]
struct RuleTarget {
    alert: AlertState,
    history: CounterHistory,
}

/// Rules, SLOs and their state per target.
#[derive(Debug)]
pub struct RulesEngine {
    set: RuleSet,
    online_cpus: Option<f64>,
    /// Aligned with `set.rules`: state per target name.
    rules: Vec<HashMap<String, RuleTarget>>,
    /// Aligned with `set.slos`.
    slos: Vec<HashMap<String, SloTarget>>,
    /// (timestamp, user + system CPU seconds) of each target at the previous tick.
    prev_cpu: HashMap<String, (f64, f64)>,
    /// (timestamp, HTTP histogram counters) of each target at its previous app reading.
    prev_http: HashMap<String, (f64, HttpReading)>,
    rules_json: Arc<Lazy<Bytes>>,
}

impl RulesEngine {
    /// `online_cpus`: the denominator of `cpu_utilization_ratio` for targets without a cgroup
    /// CPU limit.
    pub fn new(set: RuleSet, online_cpus: Option<f64>) -> Self {
        let mut e = RulesEngine {
            set: RuleSet::default(),
            online_cpus,
            rules: Vec::new(),
            slos: Vec::new(),
            prev_cpu: HashMap::new(),
            prev_http: HashMap::new(),
            rules_json: Arc::default(),
        };
        e.reconfigure(set);
        e
    }

    pub fn rule_set(&self) -> &RuleSet {
        &self.set
    }

    /// Installs a new rule set. Rules and SLOs whose definition is unchanged keep their alert
    /// states, counters and rings; the others start afresh.
    pub fn reconfigure(&mut self, set: RuleSet) {
        let mut old_rules: Vec<_> = std::mem::take(&mut self.set.rules)
            .into_iter()
            .zip(std::mem::take(&mut self.rules))
            .map(Some)
            .collect();
        self.rules = set
            .rules
            .iter()
            .map(|r| {
                old_rules
                    .iter_mut()
                    .find(|o| o.as_ref().is_some_and(|(def, _)| def == r))
                    .and_then(Option::take)
                    .map(|(_, state)| state)
                    .unwrap_or_default()
            })
            .collect();
        let mut old_slos: Vec<_> = std::mem::take(&mut self.set.slos)
            .into_iter()
            .zip(std::mem::take(&mut self.slos))
            .map(Some)
            .collect();
        self.slos = set
            .slos
            .iter()
            .map(|s| {
                old_slos
                    .iter_mut()
                    .find(|o| o.as_ref().is_some_and(|(def, _)| def == s))
                    .and_then(Option::take)
                    .map(|(_, state)| state)
                    .unwrap_or_default()
            })
            .collect();
        // Rendered on request: the body (the PromQL of every rule and SLO) is large and rarely
        // fetched, and building it at start was the start's largest transient allocation.
        let for_view = set.clone();
        self.rules_json = Arc::new(Lazy::new(move || view::rules_json(&for_view)));
        self.set = set;
    }

    /// Evaluates every rule and SLO for the targets of one tick taken at `now` (Unix seconds).
    pub fn evaluate(&mut self, now: f64, targets: &[TargetSample]) -> RulesSnapshot {
        let mut out = RulesSnapshot {
            rules_json: self.rules_json.clone(),
            ..Default::default()
        };
        for t in targets {
            let src = TargetSignals {
                sample: t,
                cpu_cores: self.cpu_rate(now, t),
                online_cpus: self.online_cpus,
                http: self.http_rates(now, t),
            };
            if let Some(rates) = src.http {
                out.http.push(TargetHttp {
                    target: t.name.clone(),
                    labels: t.labels.clone(),
                    rates,
                });
            }
            out.signals.push(TargetSignalValues {
                target: t.name.clone(),
                labels: t.labels.clone(),
                values: Signal::ALL
                    .iter()
                    .map(|&s| (s, src.value(s).filter(|v| v.is_finite())))
                    .collect(),
            });
            self.evaluate_target(now, &t.name, &t.labels, &src, &mut out);
        }
        // Forget targets that are no longer configured.
        let live: HashSet<&str> = targets.iter().map(|t| t.name.as_str()).collect();
        for m in &mut self.rules {
            m.retain(|k, _| live.contains(k.as_str()));
        }
        for m in &mut self.slos {
            m.retain(|k, _| live.contains(k.as_str()));
        }
        self.prev_cpu.retain(|k, _| live.contains(k.as_str()));
        self.prev_http.retain(|k, _| live.contains(k.as_str()));
        out
    }

    /// Request rates of the target's HTTP histogram between its two latest app readings;
    /// unknown on a tick without a fresh reading.
    fn http_rates(&mut self, now: f64, t: &TargetSample) -> Option<HttpRates> {
        let e = t.app.as_deref()?;
        let reading = HttpHistogram::resolve(e, t.app_http.as_ref())?.read(e);
        let (then, prev) = self.prev_http.insert(t.name.clone(), (now, reading))?;
        let (_, cur) = self.prev_http.get(&t.name)?;
        Some(HttpRates::between(&prev, cur, now - then))
    }

    /// Rate of user + system CPU seconds since the previous tick; unknown while the target is
    /// down, like its other gauges.
    fn cpu_rate(&mut self, now: f64, t: &TargetSample) -> Option<f64> {
        let c = &t.counters;
        let total = match (c.cpu_user_seconds_total, c.cpu_system_seconds_total) {
            (None, None) => None,
            (u, s) => Some(u.unwrap_or(0.0) + s.unwrap_or(0.0)),
        };
        let prev = match total {
            Some(v) => self.prev_cpu.insert(t.name.clone(), (now, v)),
            None => None,
        };
        let ((then, before), cur) = (prev?, total?);
        let dt = now - then;
        (t.up && dt > 0.0).then(|| (cur - before).max(0.0) / dt)
    }

    /// Evaluates one target from any signal source. This is the evaluator proper: it sees
    /// signals only through `src`.
    pub fn evaluate_target(
        &mut self,
        now: f64,
        target: &str,
        labels: &[(String, String)],
        src: &dyn SignalSource,
        out: &mut RulesSnapshot,
    ) {
        for (rule, states) in self.set.rules.iter().zip(&mut self.rules) {
            if !rule.applies_to(target) {
                continue;
            }
            if !states.contains_key(target) {
                states.insert(target.to_string(), RuleTarget::default());
            }
            let Some(st) = states.get_mut(target) else {
                continue;
            };
            let raw = src.value(rule.signal);
            let value = match (raw, rule.window()) {
                (Some(v), Some(w)) => Some(st.history.increase(now, v, w.as_secs_f64())),
                (v, _) => v,
            };
            let condition = value.map(|v| rule.op.holds(v, rule.value));
            let transition = st.alert.step(
                now,
                condition,
                value.unwrap_or(f64::NAN),
                rule.hold().as_secs_f64(),
                rule.keep_firing_for.as_secs_f64(),
            );
            if let Some(tr) = transition {
                log_transition(tr, &rule.alert, rule.severity, target, value);
            }
            if st.alert.phase == Phase::Inactive {
                continue;
            }
            let mut all: Vec<(String, String)> = labels.to_vec();
            for (k, v) in &rule.labels {
                if !all.iter().any(|(n, _)| n == k) {
                    all.push((k.clone(), v.clone()));
                }
            }
            // $labels in annotations are the series labels: target and constant labels.
            let series: Vec<(&str, &str)> = std::iter::once(("target", target))
                .chain(labels.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .collect();
            let annotations = rule
                .annotations
                .iter()
                .map(|(k, t)| (k.clone(), template::render(t, &series, st.alert.value)))
                .collect();
            out.alerts.push(ActiveAlert {
                alertname: rule.alert.clone(),
                severity: rule.severity.as_str(),
                state: st.alert.phase,
                target: target.to_string(),
                labels: all,
                annotations,
                active_at: st.alert.active_at,
                fired_at: st.alert.fired_at,
                value: st.alert.value,
            });
        }
        for (s, states) in self.set.slos.iter().zip(&mut self.slos) {
            if !s.applies_to(target) {
                continue;
            }
            let st = states.entry(target.to_string()).or_default();
            if !count_slo(now, s, src, st) {
                // Not counted; old minutes still leave the window.
                if let Some(state) = &mut st.state {
                    state.ring.advance(slo::minute_of(now));
                }
            }
            if let Some(status) = slo_status(now, s, target, labels, st) {
                out.slos.push(status);
            }
        }
    }
}

/// Counts one tick of an SLO for a target; false when nothing could be counted (the signal or
/// the app's series unknown this tick).
fn count_slo(now: f64, s: &Slo, src: &dyn SignalSource, st: &mut SloTarget) -> bool {
    let minutes = s.window.as_secs().div_ceil(60) as usize;
    let (good, total) = match &s.kind {
        SloKind::Samples {
            signal, op, value, ..
        } => {
            let Some(v) = src.value(*signal).filter(|v| !v.is_nan()) else {
                return false;
            };
            let state = st.state.get_or_insert_with(|| SloState::new(minutes));
            state.record(now, op.holds(v, *value));
            return true;
        }
        SloKind::Events { good, total } => {
            let Some(e) = src.app() else { return false };
            (good.read(e), total.read(e))
        }
        SloKind::Latency {
            histogram,
            threshold,
            ..
        } => {
            let Some(e) = src.app() else { return false };
            let name = match histogram {
                Some(h) => h.clone(),
                None => match src.http_histogram() {
                    Some(h) => h.name,
                    None => return false,
                },
            };
            let Some((good, total, used)) = latency_series(e, name, *threshold) else {
                return false;
            };
            if st.bucket.as_ref() != Some(&used) {
                let why = if used.exact {
                    "at the threshold"
                } else {
                    "the largest below the threshold"
                };
                tracing::info!(slo = %s.name, histogram = %used.histogram, le = used.le, "latency SLO counts the bucket {why} as good");
            }
            st.bucket = Some(used);
            (good, total)
        }
        SloKind::Availability => {
            let Some(e) = src.app() else { return false };
            // No histogram series yet (a labelled one appears at its first request): an
            // empty reading, the zero baseline below.
            let r = src.http_histogram().map(|h| h.read(e)).unwrap_or_default();
            if !r.count.is_empty() && !r.has_status {
                // Requests without a status: availability unknown, not 100 %.
                return false;
            }
            (r.good(), r.count)
        }
    };
    if total.is_empty() {
        // The app was read but has none of the series yet (client libraries create a labelled
        // series at its first increment): a baseline of zero, so the first events count.
        if st.prev.is_none() {
            st.prev = Some((Series::new(), Series::new()));
        }
        return false;
    }
    let state = st.state.get_or_insert_with(|| SloState::new(minutes));
    let (g, t) = match st.prev.take() {
        Some((pg, pt)) => (
            request::increase(&pg, &good),
            request::increase(&pt, &total),
        ),
        // The first reading only sets the baseline (and starts the covered span).
        None => (0.0, 0.0),
    };
    state.record_events(now, g, t);
    st.prev = Some((good, total));
    true
}

/// A latency SLO's good series (the bucket at the threshold), total series (`_count`) and the
/// bucket used; `None` when the app has no such histogram or every bucket is above the threshold.
fn latency_series(
    e: &Exposition,
    name: String,
    threshold: f64,
) -> Option<(Series, Series, BucketUsed)> {
    let (le, exact) = request::bucket_at(e, &name, threshold)?;
    let good: Series = e
        .samples(&format!("{name}_bucket"))
        .filter(|x| request::le_of(x) == Some(le))
        .map(|x| (request::series_key(x), x.value))
        .collect();
    let total = request::Selector::parse(&format!("{name}_count"))
        .ok()?
        .read(e);
    Some((
        good,
        total,
        BucketUsed {
            histogram: name,
            le,
            exact,
        },
    ))
}

fn slo_status(
    now: f64,
    s: &Slo,
    target: &str,
    labels: &[(String, String)],
    t: &SloTarget,
) -> Option<SloStatus> {
    let st = t.state.as_ref()?;
    let (window_good, window_total) = st.ring.window_counts();
    let coverage = st.coverage(now, s.window.as_secs_f64());
    Some(SloStatus {
        slo: s.name.clone(),
        target: target.to_string(),
        labels: labels.to_vec(),
        objective: s.objective,
        window_seconds: s.window.as_secs_f64(),
        samples_total: st.samples_total,
        good_samples_total: st.good_total,
        window_good,
        window_total,
        error_budget_remaining: slo::budget_remaining(window_good, window_total, s.objective),
        covered_seconds: coverage.covered_seconds,
        error_budget_meaningful: coverage.budget_meaningful(),
        burn_rates: slo::BURN_WINDOWS
            .iter()
            .map(|(label, minutes)| {
                let (g, t) = st.ring.recent_counts(*minutes);
                BurnRate {
                    window: label,
                    rate: slo::burn_rate(g, t, s.objective),
                    covered: coverage.covers_minutes(*minutes),
                }
            })
            .collect(),
        kind: s.kind.as_str(),
        bucket: t.bucket.clone(),
    })
}

fn log_transition(tr: Transition, alert: &str, severity: Severity, target: &str, v: Option<f64>) {
    let severity = severity.as_str();
    let value = v.unwrap_or(f64::NAN);
    match tr {
        Transition::Pending => tracing::debug!(alert, severity, target, value, "alert pending"),
        Transition::Firing => tracing::info!(alert, severity, target, value, "alert firing"),
        Transition::Resolved => tracing::info!(alert, severity, target, value, "alert resolved"),
        Transition::Dropped => tracing::debug!(alert, severity, target, "pending alert cleared"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(yaml: &str) -> RuleSet {
        let f = crate::config::parse_file(yaml, None).unwrap();
        RuleSet::from_config(f.rules.as_deref(), f.slos.as_deref(), None).unwrap()
    }

    fn target(name: &str, rss: Option<u64>) -> TargetSample {
        TargetSample {
            name: name.into(),
            labels: vec![("pod".into(), "p-0".into())],
            up: rss.is_some(),
            resident_memory_bytes: rss,
            ..Default::default()
        }
    }

    const MIB: u64 = 1 << 20;

    #[test]
    fn threshold_rule_goes_pending_firing_resolved_per_target() {
        let mut e = RulesEngine::new(
            set(
                "rules:\n  - alert: Big\n    signal: memory_rss_bytes\n    op: '>'\n    value: 50MiB\n    for: 3s\n    labels: {team: a, pod: ignored}\n    annotations: {summary: '{{ $labels.target }} on {{ $labels.pod }}: {{ $value | humanize1024 }}B'}\nslos: []\n",
            ),
            None,
        );
        let states = |s: &RulesSnapshot| -> Vec<(String, Phase)> {
            s.alerts
                .iter()
                .map(|a| (a.target.clone(), a.state))
                .collect()
        };
        let ts = |rss_a: u64| vec![target("a", Some(rss_a * MIB)), target("b", Some(MIB))];
        assert!(e.evaluate(100.0, &ts(10)).alerts.is_empty());
        let s = e.evaluate(101.0, &ts(60));
        assert_eq!(states(&s), [("a".to_string(), Phase::Pending)]);
        let a = &s.alerts[0];
        assert_eq!(a.annotations["summary"], "a on p-0: 60MiB");
        assert_eq!(a.active_at, 101.0);
        assert_eq!(
            a.labels,
            [("pod".into(), "p-0".into()), ("team".into(), "a".into())]
        );
        assert_eq!(
            states(&e.evaluate(103.0, &ts(70))),
            [("a".into(), Phase::Pending)]
        );
        let s = e.evaluate(104.0, &ts(70));
        assert_eq!(states(&s), [("a".into(), Phase::Firing)]);
        assert_eq!(
            (s.alerts[0].fired_at, s.alerts[0].value),
            (Some(104.0), 70.0 * MIB as f64)
        );
        // The target goes away: unknown value, the alert keeps its state.
        let s = e.evaluate(105.0, &[target("a", None), target("b", Some(MIB))]);
        assert_eq!(states(&s), [("a".into(), Phase::Firing)]);
        assert!(e.evaluate(106.0, &ts(10)).alerts.is_empty());
    }

    #[test]
    fn restarts_fire_at_once_for_the_window() {
        let mut e = RulesEngine::new(
            set(
                "rules:\n  - {alert: Restarted, signal: restarts, op: '>', value: 0, for: 10s}\nslos: []\n",
            ),
            None,
        );
        let mut t = target("a", Some(MIB));
        let mut fired = Vec::new();
        for now in 0..30 {
            if now == 5 {
                t.counters.restarts_total = 1;
            }
            let s = e.evaluate(now as f64, std::slice::from_ref(&t));
            fired.push(s.alerts.first().map(|a| (a.state, a.value)));
        }
        assert!(fired[..5].iter().all(Option::is_none));
        // Firing from the tick that saw the restart until the restart is 10 s old.
        assert!(
            fired[5..15]
                .iter()
                .all(|f| *f == Some((Phase::Firing, 1.0))),
            "{fired:?}"
        );
        assert!(fired[15..].iter().all(Option::is_none), "{fired:?}");
    }

    #[test]
    fn slo_counts_good_samples_and_skips_unknown_ones() {
        let mut e = RulesEngine::new(
            set(
                "rules: []\nslos:\n  - {name: mem, signal: memory_rss_bytes, op: '<', value: 100MiB, objective: 90%, window: 1h}\n",
            ),
            None,
        );
        let base = 1_700_000_040.0; // a minute boundary
        let mut last = RulesSnapshot::default();
        for i in 0..60 {
            let rss = match i % 3 {
                0 => None,            // unknown: not counted
                1 => Some(50 * MIB),  // good
                _ => Some(150 * MIB), // bad
            };
            last = e.evaluate(base + i as f64, &[target("a", rss)]);
        }
        let s = &last.slos[0];
        assert_eq!((s.samples_total, s.good_samples_total), (40, 20));
        assert_eq!((s.window_good, s.window_total), (20, 40));
        // Error ratio 0.5 against a 10 % budget: burning 5×, 4 budgets overspent.
        assert!((s.error_budget_remaining.unwrap() - (1.0 - 5.0)).abs() < 1e-9);
        assert_eq!(s.burn_rates[0].window, "5m");
        assert!((s.burn_rates[0].rate.unwrap() - 5.0).abs() < 1e-9);
        assert_eq!(s.objective, 0.9);
        assert_eq!(s.labels, [("pod".to_string(), "p-0".to_string())]);
    }

    /// `coveredSeconds` is the time since the first sample, capped at the window; the budget is
    /// meaningful from 10 % of a 1h window (6 min), each burn rate once its window is covered.
    #[test]
    fn slo_json_carries_the_covered_span() {
        let mut e = RulesEngine::new(
            set(
                "rules: []\nslos:\n  - {name: mem, signal: memory_rss_bytes, op: '<', value: 100MiB, objective: 99%, window: 1h}\n",
            ),
            None,
        );
        let base = 1_700_000_040.0;
        let slo_at = |e: &mut RulesEngine, t: f64| {
            let rs = e.evaluate(base + t, &[target("a", Some(150 * MIB))]);
            let v: serde_json::Value = serde_json::from_slice(&view::slos_json(&rs)).unwrap();
            v["data"]["slos"][0].clone()
        };
        let mut seen = Vec::new();
        for t in (0..=400).chain((460..=7300).step_by(60)) {
            let s = slo_at(&mut e, f64::from(t));
            // The figures are still given, whatever the span.
            let budget = s["errorBudgetRemaining"].as_f64().unwrap();
            assert!((budget - (1.0 - 100.0)).abs() < 1e-9, "t={t}: {budget}");
            seen.push((
                t,
                s["coveredSeconds"].clone(),
                s["errorBudgetMeaningful"].clone(),
                s["burnRateCovered"].clone(),
            ));
        }
        let at = |t: u32| seen.iter().find(|s| s.0 == t).unwrap().clone();
        let covered =
            |w5: bool, w1h: bool, w6h: bool| serde_json::json!({"5m": w5, "1h": w1h, "6h": w6h});
        assert_eq!(at(0).1, 0.0);
        assert_eq!(at(120).1, 120.0);
        assert_eq!(
            (at(299).2, at(299).3),
            (false.into(), covered(false, false, false))
        );
        assert_eq!(
            (at(300).2, at(300).3),
            (false.into(), covered(true, false, false))
        );
        assert_eq!(at(359).2, false);
        assert_eq!((at(360).1, at(360).2), (360.0.into(), true.into()));
        assert_eq!(
            (at(3580).1, at(3580).3),
            (3580.0.into(), covered(true, false, false))
        );
        // Capped at the window; a 6h burn window never covers more than the 1h SLO window.
        assert_eq!(
            (at(3640).1, at(3640).3),
            (3600.0.into(), covered(true, true, false))
        );
        assert_eq!(at(7300).1, 3600.0);
    }

    fn app_target(body: Option<&str>) -> TargetSample {
        let app = body.map(|b| {
            std::sync::Arc::new(
                crate::source::exposition::parse(b, crate::source::exposition::Format::Text004)
                    .unwrap(),
            )
        });
        TargetSample {
            name: "a".into(),
            up: true,
            app,
            ..Default::default()
        }
    }

    fn requests(ok: u32, err: u32) -> String {
        format!(
            "# TYPE http_requests_total counter\nhttp_requests_total{{code=\"200\"}} {ok}\nhttp_requests_total{{code=\"500\"}} {err}\n"
        )
    }

    /// Good/total are the increases of the app's counters; an app restart counts from zero; a
    /// tick without the app's metrics counts nothing.
    #[test]
    fn events_slo_counts_counter_increases_across_an_app_restart() {
        let mut e = RulesEngine::new(
            set(
                "rules: []\nslos:\n  - {name: availability, kind: events, good: 'http_requests_total{code!~\"5..\"}', total: http_requests_total, objective: 99%, window: 1h}\n",
            ),
            None,
        );
        let base = 1_700_000_040.0;
        let ticks = [
            Some(requests(100, 0)), // baseline
            Some(requests(195, 5)), // +95 good of +100
            None,                   // no fresh reading
            Some(requests(19, 1)),  // restarted: +19 of +20
        ];
        let mut last = RulesSnapshot::default();
        for (i, b) in ticks.iter().enumerate() {
            last = e.evaluate(base + i as f64 * 5.0, &[app_target(b.as_deref())]);
        }
        let s = &last.slos[0];
        assert_eq!(s.kind, "events");
        assert_eq!((s.samples_total, s.good_samples_total), (120, 114));
        assert_eq!((s.window_good, s.window_total), (114, 120));
        // 6 bad of 120 = 5 % against a 1 % budget: burning 5×.
        assert!((s.burn_rates[0].rate.unwrap() - 5.0).abs() < 1e-9);
        assert_eq!(s.covered_seconds, 15.0);
    }

    /// prometheus_client creates a labelled counter's series at its first increment: a reading
    /// of the app without them is a reading of zero, so the first requests count.
    #[test]
    fn events_slo_counts_series_that_appear_after_the_first_reading() {
        let mut e = RulesEngine::new(
            set(
                "rules: []\nslos:\n  - {name: a, kind: events, good: 'http_requests_total{code!~\"5..\"}', total: http_requests_total, objective: 99%, window: 1h}\n",
            ),
            None,
        );
        let base = 1_700_000_040.0;
        let none_yet = "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 1\n";
        assert!(
            e.evaluate(base, &[app_target(Some(none_yet))])
                .slos
                .is_empty()
        );
        let rs = e.evaluate(base + 1.0, &[app_target(Some(&requests(9, 1)))]);
        assert_eq!(
            (rs.slos[0].samples_total, rs.slos[0].good_samples_total),
            (10, 9)
        );
    }

    fn latency(le01: u32, le02: u32, inf: u32) -> String {
        format!(
            "# TYPE http_server_request_duration_seconds histogram\n\
             http_server_request_duration_seconds_bucket{{http_response_status_code=\"200\",le=\"0.1\"}} {le01}\n\
             http_server_request_duration_seconds_bucket{{http_response_status_code=\"200\",le=\"0.2\"}} {le02}\n\
             http_server_request_duration_seconds_bucket{{http_response_status_code=\"200\",le=\"+Inf\"}} {inf}\n\
             http_server_request_duration_seconds_count{{http_response_status_code=\"200\"}} {inf}\n"
        )
    }

    /// The detected OpenTelemetry histogram; 150ms has no bucket of its own, so the 0.1 bucket
    /// counts as good and the JSON says so.
    #[test]
    fn latency_slo_uses_the_bucket_at_or_below_the_threshold() {
        let mut e = RulesEngine::new(
            set(
                "rules: []\nslos:\n  - {name: latency, kind: latency, threshold: 150ms, objective: 95%, window: 1h}\n",
            ),
            None,
        );
        let base = 1_700_000_040.0;
        e.evaluate(base, &[app_target(Some(&latency(10, 20, 30)))]);
        // +90 requests: +80 at or under 0.1 s.
        let rs = e.evaluate(base + 5.0, &[app_target(Some(&latency(90, 110, 120)))]);
        let s = &rs.slos[0];
        assert_eq!((s.samples_total, s.good_samples_total), (90, 80));
        let v: serde_json::Value = serde_json::from_slice(&view::slos_json(&rs)).unwrap();
        assert_eq!(
            v["data"]["slos"][0]["bucket"],
            serde_json::json!({"histogram": "http_server_request_duration_seconds", "le": "0.1", "exact": false})
        );
        // The same tick's request signals: 90 requests in 5 s; P95 rank 85.5 of buckets
        // (0.1: 80, 0.2: 90, +Inf: 90) lies in (0.1, 0.2]: 0.1 + 0.1 × 5.5 / 10.
        let h = &rs.http[0].rates;
        assert_eq!(h.requests_per_second, Some(18.0));
        assert_eq!(h.error_ratio, Some(0.0));
        assert!((h.latency_p95_seconds.unwrap() - 0.155).abs() < 1e-9);
    }

    /// `app.http` names a histogram none of the known ones: its `status_code` label gives the
    /// error ratio, and a latency SLO with `histogram: auto` counts it.
    #[test]
    fn a_configured_histogram_feeds_the_signals_and_auto_latency_slos() {
        let mut e = RulesEngine::new(
            set(
                "rules: []\nslos:\n  - {name: l, kind: latency, histogram: auto, threshold: 1s, objective: 95%, window: 1h}\n",
            ),
            None,
        );
        let body = |ok: u32, bad: u32| {
            format!(
                "# TYPE api_seconds histogram\n\
                 api_seconds_bucket{{status_code=\"200\",le=\"1\"}} {ok}\n\
                 api_seconds_bucket{{status_code=\"200\",le=\"+Inf\"}} {ok}\n\
                 api_seconds_count{{status_code=\"200\"}} {ok}\n\
                 api_seconds_bucket{{status_code=\"502\",le=\"1\"}} 0\n\
                 api_seconds_bucket{{status_code=\"502\",le=\"+Inf\"}} {bad}\n\
                 api_seconds_count{{status_code=\"502\"}} {bad}\n"
            )
        };
        let t = |b: &str| {
            let mut t = app_target(Some(b));
            t.app_http = Some(crate::source::app::HttpSpec {
                histogram: "api_seconds".into(),
                status_label: None,
            });
            t
        };
        // Without app.http nothing is detected.
        assert!(
            e.evaluate(0.0, &[app_target(Some(&body(1, 1)))])
                .http
                .is_empty()
        );
        e.evaluate(60.0, &[t(&body(10, 0))]);
        let rs = e.evaluate(70.0, &[t(&body(28, 2))]);
        // +18 ok, +2 failed in 10 s, the failed ones slower than 1 s.
        let h = rs.http[0].rates;
        assert_eq!(
            (h.requests_per_second, h.error_ratio),
            (Some(2.0), Some(0.1))
        );
        assert_eq!(
            (rs.slos[0].samples_total, rs.slos[0].good_samples_total),
            (20, 18)
        );
    }

    /// The availability SLO counts the detected histogram's `_count` by its status label, from
    /// the first requests on and across an app restart; a histogram without a status label
    /// (Prometheus 2.42's own) and a target without app metrics get no SLO series at all.
    #[test]
    fn availability_slo_counts_non_5xx_requests_only_where_a_status_is_known() {
        let mut e = RulesEngine::new(
            set(
                "rules: []\nslos:\n  - {name: availability, kind: availability, objective: 99%, window: 1h}\n",
            ),
            None,
        );
        let otel = |ok: u32, bad: u32| {
            format!(
                "# TYPE http_server_request_duration_seconds histogram\n\
                 http_server_request_duration_seconds_bucket{{http_response_status_code=\"200\",le=\"+Inf\"}} {ok}\n\
                 http_server_request_duration_seconds_count{{http_response_status_code=\"200\"}} {ok}\n\
                 http_server_request_duration_seconds_bucket{{http_response_status_code=\"503\",le=\"+Inf\"}} {bad}\n\
                 http_server_request_duration_seconds_count{{http_response_status_code=\"503\"}} {bad}\n"
            )
        };
        let prom = |n: u32| {
            format!(
                "# TYPE prometheus_http_request_duration_seconds histogram\n\
                 prometheus_http_request_duration_seconds_bucket{{handler=\"/\",le=\"+Inf\"}} {n}\n\
                 prometheus_http_request_duration_seconds_count{{handler=\"/\"}} {n}\n"
            )
        };
        let named = |name: &str, b: Option<String>| {
            let mut t = app_target(b.as_deref());
            t.name = name.into();
            t
        };
        let none_yet = "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 1\n";
        let ticks = [
            (Some(none_yet.to_string()), 0), // no request yet: a zero baseline
            (Some(otel(95, 5)), 100),
            (None, 300), // no fresh reading
            (Some(otel(285, 15)), 300),
            (Some(otel(19, 1)), 400), // restarted: +19 of +20
        ];
        let mut last = RulesSnapshot::default();
        for (i, (b, n)) in ticks.into_iter().enumerate() {
            last = e.evaluate(
                1_700_000_040.0 + i as f64 * 5.0,
                &[
                    named("web", b),
                    named("prom", Some(prom(n))),
                    named("plain", None),
                ],
            );
        }
        let web: Vec<_> = last.slos.iter().map(|s| s.target.as_str()).collect();
        assert_eq!(web, ["web"], "only the target with a status label");
        let s = &last.slos[0];
        assert_eq!(s.kind, "availability");
        assert_eq!((s.samples_total, s.good_samples_total), (320, 304));
        // 16 bad of 320 = 5 % against a 1 % budget: burning 5×.
        assert!((s.burn_rates[0].rate.unwrap() - 5.0).abs() < 1e-9);
    }

    #[test]
    fn reload_keeps_the_state_of_unchanged_rules_only() {
        let yaml = |v: &str| {
            format!(
                "rules:\n  - {{alert: Keep, signal: threads, op: '>', value: 5, for: 1h}}\n  - {{alert: Change, signal: threads, op: '>', value: {v}, for: 1h}}\nslos:\n  - {{name: s, signal: threads, op: '<', value: 5, objective: 99%}}\n"
            )
        };
        let mut e = RulesEngine::new(set(&yaml("5")), None);
        let t = TargetSample {
            name: "a".into(),
            up: true,
            threads: Some(10),
            ..Default::default()
        };
        e.evaluate(0.0, std::slice::from_ref(&t));
        e.reconfigure(set(&yaml("6")));
        let s = e.evaluate(10.0, std::slice::from_ref(&t));
        let since = |name: &str| {
            s.alerts
                .iter()
                .find(|a| a.alertname == name)
                .map(|a| a.active_at)
        };
        assert_eq!(
            since("Keep"),
            Some(0.0),
            "unchanged rule keeps its pending time"
        );
        assert_eq!(since("Change"), Some(10.0), "changed rule starts over");
        assert_eq!(
            s.slos[0].samples_total, 2,
            "unchanged SLO keeps its counters"
        );
    }

    #[test]
    fn cpu_signals_from_consecutive_ticks() {
        let mut e = RulesEngine::new(
            set(
                "rules:\n  - {alert: Busy, signal: cpu_utilization_ratio, op: '>', value: 40%}\nslos: []\n",
            ),
            Some(2.0),
        );
        let mut t = target("a", Some(MIB));
        t.counters.cpu_user_seconds_total = Some(10.0);
        t.counters.cpu_system_seconds_total = Some(1.0);
        assert!(
            e.evaluate(100.0, std::slice::from_ref(&t))
                .alerts
                .is_empty()
        );
        // 1.6 CPU seconds in 2 s on 2 CPUs: 0.8 cores, 40 %: not above 40 %.
        t.counters.cpu_user_seconds_total = Some(11.5);
        t.counters.cpu_system_seconds_total = Some(1.1);
        assert!(
            e.evaluate(102.0, std::slice::from_ref(&t))
                .alerts
                .is_empty()
        );
        // 2 CPU seconds in 2 s: 1 core, 50 %.
        t.counters.cpu_user_seconds_total = Some(13.5);
        let s = e.evaluate(104.0, std::slice::from_ref(&t));
        assert_eq!(s.alerts.len(), 1);
        assert!((s.alerts[0].value - 0.5).abs() < 1e-9);
    }

    #[test]
    fn any_signal_source_drives_the_evaluator() {
        // A source that is not a TargetSample (a later HTTP probe, say).
        let mut e = RulesEngine::new(
            set("rules:\n  - {alert: Fds, signal: open_fds, op: '>=', value: 3}\nslos: []\n"),
            None,
        );
        let src = |s: Signal| (s == Signal::OpenFds).then_some(3.0);
        let mut out = RulesSnapshot::default();
        e.evaluate_target(1.0, "probe", &[], &src, &mut out);
        assert_eq!(out.alerts[0].state, Phase::Firing);
    }

    /// The built-in runtime rules and the `tasks` SLO speak only for a target whose app exposes
    /// the signals: a target without app metrics gets no alert state and no SLO sample from them.
    #[test]
    fn builtin_runtime_defaults_only_where_the_app_exposes_them() {
        let mut e = RulesEngine::new(RuleSet::builtin().unwrap(), Some(2.0));
        let go = |tasks: f64| {
            let mut t = target("go", Some(MIB));
            t.runtime = Some(crate::runtime::RuntimeSample {
                figures: Some(crate::runtime::RuntimeFigures {
                    tasks: Some(tasks),
                    heap_bytes: Some(600.0 * MIB as f64),
                    ..Default::default()
                }),
                ..Default::default()
            });
            t
        };
        let runtime_alerts = |s: &RulesSnapshot, who: &str| -> Vec<(String, &str, Phase)> {
            s.alerts
                .iter()
                .filter(|a| a.target == who && a.alertname != "SidewatchTargetDown")
                .map(|a| (a.alertname.clone(), a.severity, a.state))
                .collect()
        };
        let mut last = RulesSnapshot::default();
        for minute in 0..=5 {
            last = e.evaluate(
                1000.0 + 60.0 * f64::from(minute),
                &[target("plain", Some(MIB)), go(15_000.0)],
            );
        }
        assert_eq!(runtime_alerts(&last, "plain"), []);
        assert!(
            !last
                .slos
                .iter()
                .any(|s| s.target == "plain" && s.slo == "tasks")
        );
        assert_eq!(
            runtime_alerts(&last, "go"),
            [
                (
                    "SidewatchGoroutinesHigh".to_string(),
                    "warning",
                    Phase::Firing
                ),
                ("SidewatchHeapHigh".to_string(), "warning", Phase::Firing)
            ]
        );
        let tasks = last
            .slos
            .iter()
            .find(|s| s.target == "go" && s.slo == "tasks")
            .unwrap();
        assert_eq!((tasks.good_samples_total, tasks.samples_total), (0, 6));
        // The app's metrics become unreadable: unknown, the alert keeps its state.
        let mut unread = go(0.0);
        unread.runtime = Some(crate::runtime::RuntimeSample::default());
        let s = e.evaluate(1400.0, &[target("plain", Some(MIB)), unread]);
        assert_eq!(runtime_alerts(&s, "go").len(), 2);
    }

    /// The built-in request and probe rules and SLOs speak only for a target with an HTTP
    /// histogram in its /metrics and a `probe:`: a target without them gets no alert state and
    /// no SLO sample from them, and a tick without a reading keeps the alert's state.
    #[test]
    fn builtin_request_and_probe_defaults_only_where_the_signals_exist() {
        let mut e = RulesEngine::new(RuleSet::builtin().unwrap(), Some(2.0));
        // Each minute +100 requests between 0.1 s and 1 s, 10 of them 5xx: P95 0.955 s, 10 % errors.
        let body = |minute: u32| {
            let (ok, bad) = (90 * minute, 10 * minute);
            format!(
                "# TYPE http_server_request_duration_seconds histogram\n\
                 http_server_request_duration_seconds_bucket{{http_response_status_code=\"200\",le=\"0.1\"}} 0\n\
                 http_server_request_duration_seconds_bucket{{http_response_status_code=\"200\",le=\"1\"}} {ok}\n\
                 http_server_request_duration_seconds_bucket{{http_response_status_code=\"200\",le=\"+Inf\"}} {ok}\n\
                 http_server_request_duration_seconds_count{{http_response_status_code=\"200\"}} {ok}\n\
                 http_server_request_duration_seconds_bucket{{http_response_status_code=\"500\",le=\"0.1\"}} 0\n\
                 http_server_request_duration_seconds_bucket{{http_response_status_code=\"500\",le=\"1\"}} {bad}\n\
                 http_server_request_duration_seconds_bucket{{http_response_status_code=\"500\",le=\"+Inf\"}} {bad}\n\
                 http_server_request_duration_seconds_count{{http_response_status_code=\"500\"}} {bad}\n"
            )
        };
        let web = |b: Option<&str>, probe_ratio: Option<f64>| {
            let mut t = app_target(b);
            t.name = "web".into();
            t.resident_memory_bytes = Some(MIB);
            t.probe = probe_ratio.map(|r| crate::source::probe::ProbeSample {
                totals: crate::source::probe::ProbeTotals::default(),
                success_ratio: Some(r),
                mean_duration_seconds: None,
            });
            t
        };
        const NAMES: [&str; 3] = [
            "SidewatchLatencyHigh",
            "SidewatchErrorRateHigh",
            "SidewatchProbeFailing",
        ];
        let ours = |s: &RulesSnapshot, who: &str| -> Vec<(String, &str, Phase)> {
            s.alerts
                .iter()
                .filter(|a| a.target == who && NAMES.contains(&a.alertname.as_str()))
                .map(|a| (a.alertname.clone(), a.severity, a.state))
                .collect()
        };
        let mut last = RulesSnapshot::default();
        for minute in 0..=6 {
            last = e.evaluate(
                1000.0 + 60.0 * f64::from(minute),
                &[
                    target("plain", Some(MIB)),
                    web(Some(&body(minute)), Some(0.0)),
                ],
            );
        }
        assert_eq!(ours(&last, "plain"), []);
        assert!(
            !last
                .slos
                .iter()
                .any(|s| s.target == "plain" && s.kind != "samples")
        );
        let mut firing: Vec<_> = ours(&last, "web");
        firing.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        let both = |n: &str| {
            [
                (n.to_string(), "critical", Phase::Firing),
                (n.to_string(), "warning", Phase::Firing),
            ]
        };
        assert_eq!(
            firing,
            [
                both("SidewatchErrorRateHigh"),
                both("SidewatchLatencyHigh"),
                both("SidewatchProbeFailing")
            ]
            .concat()
        );
        let slo = |n: &str| {
            let s = last
                .slos
                .iter()
                .find(|s| s.target == "web" && s.slo == n)
                .unwrap();
            (s.good_samples_total, s.samples_total)
        };
        // 6 readings after the first, 100 requests each, none at or under 200 ms (bucket 0.1).
        assert_eq!(slo("latency"), (0, 600));
        assert_eq!(slo("probe"), (0, 7));
        // 10 of each 100 answered 5xx.
        assert_eq!(slo("availability"), (540, 600));
        // No fresh reading, no probe ended: unknown, the alerts keep their state.
        let s = e.evaluate(1420.0, &[target("plain", Some(MIB)), web(None, None)]);
        assert_eq!(ours(&s, "web").len(), 6);
    }
}
