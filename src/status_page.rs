//! The status page at `/`: one server-rendered HTML document per tick, no external assets (inline
//! CSS, inline SVG sparklines, no script), a card per target with its current figures, the last
//! hour's sparklines, firing and pending alerts, SLO budgets, trends and recommendations.
//!
//! Everything that comes from configuration or the system (target names, label values, comm,
//! alert annotations) is HTML-escaped: they are user input.

use std::fmt::Write as _;
use std::time::Duration;

use crate::advisor::{rfc3339, thousands};
use crate::history::ring::Signal;
use crate::history::{Sparklines, TargetView};
use crate::rules::slo::BURN_WINDOWS;
use crate::rules::{RulesSnapshot, SloStatus};
use crate::sample::TargetSample;
use crate::snapshot::Snapshot;
use crate::units::{go_g4, human_bytes, human_duration, prom_duration};

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn size(b: f64) -> String {
    human_bytes(b)
}

/// Three significant digits, for the sparklines' captions: `43.9 MiB`, `512 MiB`.
fn size3(b: f64) -> String {
    let mut v = b;
    let mut unit = "B";
    for u in ["KiB", "MiB", "GiB", "TiB"] {
        if v.abs() < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    if v.abs() >= 100.0 || unit == "B" {
        format!("{v:.0} {unit}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1} {unit}")
    } else {
        format!("{v:.2} {unit}")
    }
}

fn cores(c: f64) -> String {
    if c < 1.0 {
        format!("{}m", (c * 1000.0).round())
    } else {
        go_g4(c)
    }
}

fn pct(r: f64) -> String {
    format!("{} %", go_g4((r * 1000.0).round() / 10.0))
}

const CSS: &str = "\
*{box-sizing:border-box}\
body{margin:0;font:14px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;background:#f3f4f6;color:#1f2937}\
header{background:#1f2937;color:#f9fafb;padding:10px 20px;display:flex;gap:16px;align-items:baseline;flex-wrap:wrap}\
header h1{font-size:18px;margin:0}header a{color:#93c5fd}header .meta{color:#d1d5db;font-size:13px}\
main{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:16px;padding:16px 20px}\
.card{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:12px 16px}\
.card h2{font-size:17px;margin:0 0 2px;display:flex;align-items:center;gap:8px}\
.sub,.lbl{color:#6b7280;font-size:12px}.lbl{margin:0 0 8px}\
.badge{font-size:11px;font-weight:600;padding:1px 7px;border-radius:9px;color:#fff}\
.up{background:#16a34a}.down{background:#dc2626}.warn{background:#d97706}.crit{background:#dc2626}.ok{background:#16a34a}\
.figs{display:grid;grid-template-columns:repeat(6,1fr);gap:6px;margin:0 0 8px}\
.figs div{background:#f9fafb;border-radius:6px;padding:5px 7px}\
.figs dt{font-size:11px;color:#6b7280;text-transform:uppercase;letter-spacing:.03em}\
.figs dd{margin:0;font-size:16px;font-weight:600;white-space:nowrap}\
.bar{height:5px;background:#e5e7eb;border-radius:3px;margin-top:3px;overflow:hidden}\
.bar i{display:block;height:100%;background:#2563eb}.bar i.hot{background:#dc2626}\
.sparks{display:grid;grid-template-columns:repeat(4,1fr);gap:8px;margin-bottom:6px}\
.sparks figure{margin:0;min-width:0}.sparks figcaption{font-size:11px;color:#6b7280;display:flex;justify-content:space-between;gap:4px;white-space:nowrap;overflow:hidden}\
svg.spark{width:100%;height:34px;display:block;background:#f9fafb;border-radius:4px}\
svg.spark path{fill:none;stroke:#2563eb;stroke-width:1.5;vector-effect:non-scaling-stroke}\
svg.spark line{stroke:#dc2626;stroke-dasharray:3 2;vector-effect:non-scaling-stroke}\
h3{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:#4b5563;margin:10px 0 4px}\
ul{margin:0;padding-left:18px}li{margin:2px 0}\
table{border-collapse:collapse;width:100%;font-size:13px}td,th{text-align:left;padding:2px 6px 2px 0}th{font-weight:500;color:#6b7280}\
.n{text-align:right;font-variant-numeric:tabular-nums}\
pre{background:#111827;color:#e5e7eb;padding:6px 10px;border-radius:6px;font-size:12px;margin:4px 0;overflow:auto}\
.none{color:#6b7280}\
@media (max-width:640px){main{grid-template-columns:1fr}.figs{grid-template-columns:repeat(3,1fr)}.sparks{grid-template-columns:repeat(2,1fr)}}";

/// Width (points) and height of a sparkline's coordinate space.
const SPARK_W: f64 = 120.0;
const SPARK_H: f64 = 30.0;

/// An inline SVG sparkline of `values` (gaps break the line), scaled from its minimum to its
/// maximum, with an optional dashed reference line (a limit) when it falls inside the range.
pub fn sparkline(values: &[Option<f64>], label: &str, reference: Option<f64>) -> String {
    let present: Vec<f64> = values.iter().flatten().copied().collect();
    let (lo, hi) = match (
        present.iter().copied().reduce(f64::min),
        present.iter().copied().reduce(f64::max),
    ) {
        (Some(lo), Some(hi)) => (lo, hi),
        _ => {
            return format!(
                "<svg class=\"spark\" viewBox=\"0 0 {SPARK_W} {SPARK_H}\" role=\"img\" aria-label=\"{}: no data yet\"></svg>",
                escape(label)
            );
        }
    };
    let hi_scale = match reference {
        Some(r) if r > hi && r <= hi * 1.5 => r,
        _ => hi,
    };
    let span = hi_scale - lo;
    let n = values.len().max(2) as f64;
    let y = |v: f64| {
        if span > 0.0 {
            SPARK_H - 2.0 - (v - lo) / span * (SPARK_H - 4.0)
        } else {
            SPARK_H / 2.0
        }
    };
    let mut d = String::new();
    let mut pen_down = false;
    for (i, v) in values.iter().enumerate() {
        match v {
            Some(v) => {
                let x = i as f64 * SPARK_W / (n - 1.0);
                let _ = write!(
                    d,
                    "{}{:.1},{:.1}",
                    if pen_down { "L" } else { "M" },
                    x,
                    y(*v)
                );
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    let mut out = format!(
        "<svg class=\"spark\" viewBox=\"0 0 {SPARK_W} {SPARK_H}\" preserveAspectRatio=\"none\" role=\"img\" aria-label=\"{}\"><path d=\"{d}\"/>",
        escape(label)
    );
    if let Some(r) = reference.filter(|r| *r >= lo && *r <= hi_scale && span > 0.0) {
        let _ = write!(
            out,
            "<line x1=\"0\" x2=\"{SPARK_W}\" y1=\"{0:.1}\" y2=\"{0:.1}\"/>",
            y(r)
        );
    }
    out.push_str("</svg>");
    out
}

fn spark_figure(
    s: &Sparklines,
    signal: Signal,
    title: &str,
    fmt: fn(f64) -> String,
    reference: Option<f64>,
) -> String {
    let values = s.get(signal);
    let present = values.iter().flatten().copied();
    let range = match (present.clone().reduce(f64::min), present.reduce(f64::max)) {
        (Some(lo), Some(hi)) if lo == hi => fmt(lo),
        (Some(lo), Some(hi)) => {
            let (lo, hi) = (fmt(lo), fmt(hi));
            // "43.4 MiB–57.2 MiB" reads as "43.4–57.2 MiB".
            match (lo.split_once(' '), hi.split_once(' ')) {
                (Some((l, lu)), Some((_, hu))) if lu == hu => format!("{l}–{hi}"),
                _ => format!("{lo}–{hi}"),
            }
        }
        _ => "—".into(),
    };
    let span = human_duration(s.span_seconds);
    let label = format!("{title} over the last {span}: {range}");
    format!(
        "<figure><figcaption><span>{}</span><span>{}</span></figcaption>{}</figure>",
        escape(title),
        escape(&range),
        sparkline(values, &label, reference)
    )
}

fn labels_line(t: &TargetSample) -> String {
    let mut parts: Vec<String> = t
        .labels
        .iter()
        .map(|(k, v)| format!("{}={}", escape(k), escape(v)))
        .collect();
    match (t.primary_pid, &t.primary_comm) {
        (Some(pid), Some(comm)) => parts.push(format!(
            "pid {pid} ({}), {} process{}",
            escape(comm),
            t.processes,
            if t.processes == 1 { "" } else { "es" }
        )),
        _ => parts.push("no process found".into()),
    }
    parts.join(" · ")
}

fn figures(out: &mut String, t: &TargetSample, h: Option<&TargetView>) {
    let latest = h.and_then(|h| h.latest);
    let cg = t.cgroups.iter().find(|c| c.live);
    out.push_str("<dl class=\"figs\">");
    // CPU
    let cpu = latest.and_then(|p| p.get(Signal::CpuCores));
    let cpu_sub = match (cg.and_then(|c| c.cpu_limit_cores), cpu) {
        (Some(l), Some(c)) if l > 0.0 => format!("{} of {} limit", pct(c / l), cores(l)),
        (Some(l), None) => format!("limit {}", cores(l)),
        _ => "no limit".into(),
    };
    let _ = write!(
        out,
        "<div><dt>CPU</dt><dd data-signal=\"cpu_cores\">{}</dd><span class=\"sub\">{}</span></div>",
        cpu.map_or("—".into(), |c| format!("{} cores", go_g4(c))),
        escape(&cpu_sub)
    );
    // Memory vs limit
    let ws = latest.and_then(|p| p.get(Signal::WorkingSet));
    let limit = latest.and_then(|p| p.memory_limit_bytes());
    let _ = write!(
        out,
        "<div style=\"grid-column:span 2\"><dt>Memory{}</dt><dd data-signal=\"memory_working_set_bytes\">{}</dd>",
        if cg.and_then(|c| c.memory_working_set_bytes).is_some() && !t.cgroup_shared() {
            " (working set)"
        } else {
            " (RSS)"
        },
        ws.map_or("—".into(), size)
    );
    if t.cgroup_shared() {
        out.push_str("<span class=\"sub\" data-note=\"cgroup-shared\">cgroup shared with other processes: figures are the processes' own</span>");
    }
    match (ws, limit) {
        (Some(w), Some(l)) if l > 0.0 => {
            let r = w / l;
            let _ = write!(
                out,
                "<span class=\"sub\">{} of {} limit</span><div class=\"bar\"><i{} style=\"width:{:.1}%\"></i></div>",
                pct(r),
                size(l),
                if r >= 0.8 { " class=\"hot\"" } else { "" },
                (r * 100.0).clamp(0.0, 100.0)
            );
        }
        _ => out.push_str("<span class=\"sub\">no limit</span>"),
    }
    out.push_str("</div>");
    let count = |v: Option<f64>| v.map_or("—".into(), thousands);
    let _ = write!(
        out,
        "<div><dt>Threads</dt><dd data-signal=\"threads\">{}</dd></div><div><dt>Open fds</dt><dd data-signal=\"open_fds\">{}</dd></div>",
        count(latest.and_then(|p| p.get(Signal::Threads))),
        count(latest.and_then(|p| p.get(Signal::OpenFds)))
    );
    let ooms = h
        .and_then(|h| h.oom_kills_total)
        .map_or(String::new(), |o| {
            format!(" · {o} OOM kill{}", if o == 1 { "" } else { "s" })
        });
    let _ = write!(
        out,
        "<div><dt>Restarts</dt><dd data-signal=\"restarts\">{}</dd><span class=\"sub\">{}</span></div>",
        t.counters.restarts_total,
        escape(ooms.trim_start_matches(" · "))
    );
    out.push_str("</dl>");
}

/// The runtime the app's own /metrics shows: heap (of its limit), tasks, GC rate and pause
/// share, event-loop lag; nothing when the target has no app metrics or no known runtime.
fn runtime(out: &mut String, t: &TargetSample, h: Option<&TargetView>) {
    let Some(r) = &t.runtime else { return };
    let Some(f) = &r.figures else {
        out.push_str("<p class=\"sub\" data-runtime=\"unknown\">Runtime: the app's metrics were not read this tick.</p>");
        return;
    };
    let Some(rt) = f.runtime else { return };
    let _ = write!(
        out,
        "<h3 data-runtime=\"{}\">Runtime: {}{}</h3><dl class=\"figs\">",
        rt.as_str(),
        rt.as_str(),
        f.version
            .as_deref()
            .map_or(String::new(), |v| format!(" {}", escape(v)))
    );
    let dash = |v: Option<String>| v.unwrap_or_else(|| "—".into());
    let heap_sub = match (f.heap_bytes, f.heap_limit_bytes) {
        (Some(b), Some(l)) if l > 0.0 => format!("{} of {} limit", pct(b / l), size(l)),
        _ => "no limit".into(),
    };
    let leak = h
        .and_then(|h| h.trends.tasks_leak.as_ref())
        .filter(|l| l.suspected)
        .map_or(String::new(), |l| {
            format!(
                "<span class=\"badge crit\">leak suspected</span> rose steadily over {}",
                escape(&l.window)
            )
        });
    let _ = write!(
        out,
        "<div><dt>Heap</dt><dd data-signal=\"runtime_heap_bytes\">{}</dd><span class=\"sub\">{}</span></div>\
         <div><dt>{}</dt><dd data-signal=\"runtime_tasks\">{}</dd><span class=\"sub\">{leak}</span></div>\
         <div><dt>GC</dt><dd data-signal=\"runtime_gc_per_second\">{}</dd><span class=\"sub\">{}</span></div>",
        dash(f.heap_bytes.map(size)),
        escape(&heap_sub),
        escape(rt.tasks_title()),
        dash(f.tasks.map(thousands)),
        dash(r.gc_per_second.map(|g| format!("{}/s", go_g4(g)))),
        escape(&dash(
            r.gc_pause_ratio
                .map(|p| format!("{} of the time in pauses", pct(p)))
        )),
    );
    if let Some(l) = f.event_loop_lag_seconds {
        let _ = write!(
            out,
            "<div><dt>Event-loop lag (p99)</dt><dd data-signal=\"event_loop_lag_seconds\">{} ms</dd></div>",
            go_g4(l * 1000.0)
        );
    }
    if let (Some(g), Some(p)) = (f.gogc_percent, f.gomaxprocs) {
        let _ = write!(
            out,
            "<div><dt>GOGC · GOMAXPROCS</dt><dd>{} · {}</dd></div>",
            go_g4(g),
            go_g4(p)
        );
    }
    out.push_str("</dl>");
}

fn sparks(out: &mut String, h: &TargetView) {
    let s = &h.sparklines;
    let limit = h.latest.and_then(|p| p.memory_limit_bytes());
    let _ = write!(
        out,
        "<h3>Last {}</h3><div class=\"sparks\">",
        escape(&human_duration(s.span_seconds))
    );
    out.push_str(&spark_figure(s, Signal::CpuCores, "CPU", cores, None));
    out.push_str(&spark_figure(s, Signal::WorkingSet, "Memory", size3, limit));
    out.push_str(&spark_figure(
        s,
        Signal::Threads,
        "Threads",
        thousands,
        None,
    ));
    out.push_str(&spark_figure(
        s,
        Signal::OpenFds,
        "Open fds",
        thousands,
        None,
    ));
    out.push_str("</div>");
}

fn trends(out: &mut String, h: &TargetView) {
    let tr = &h.trends;
    out.push_str("<h3>Trends</h3><table><tr><th>growth over</th>");
    for w in &tr.memory {
        let _ = write!(out, "<th class=\"n\">{}</th>", escape(&w.window));
    }
    out.push_str("</tr>");
    let row = |out: &mut String,
               name: &str,
               ws: &[crate::history::trend::WindowTrend],
               f: &dyn Fn(f64) -> String| {
        let _ = write!(out, "<tr><td>{name}</td>");
        for w in ws {
            let cell = w.growth_per_second.map_or("—".into(), f);
            let _ = write!(out, "<td class=\"n\">{}</td>", escape(&cell));
        }
        out.push_str("</tr>");
    };
    row(out, "memory", &tr.memory, &|g| {
        format!(
            "{}{}/h",
            if g >= 0.0 { "+" } else { "−" },
            size((g * 3600.0).abs())
        )
    });
    row(out, "threads", &tr.threads, &|g| {
        format!("{:+.1}/h", g * 3600.0)
    });
    row(out, "open fds", &tr.open_fds, &|g| {
        format!("{:+.1}/h", g * 3600.0)
    });
    if tr
        .runtime_tasks
        .iter()
        .any(|w| w.growth_per_second.is_some())
    {
        row(out, "runtime tasks", &tr.runtime_tasks, &|g| {
            format!("{:+.1}/h", g * 3600.0)
        });
    }
    out.push_str("</table>");
    match &tr.leak {
        Some(l) if l.suspected => {
            let _ = write!(
                out,
                "<p><span class=\"badge crit\">leak suspected</span> the memory floor rose steadily by {} over {}{}</p>",
                escape(&size(l.rise_bytes)),
                escape(&l.window),
                tr.time_to_limit_seconds.map_or(String::new(), |s| format!(
                    "; limit reached in {}",
                    escape(&human_duration(s))
                ))
            );
        }
        Some(l) => {
            let _ = write!(
                out,
                "<p class=\"sub\">No leak: the memory floor did not rise steadily over {}.{}</p>",
                escape(&l.window),
                tr.time_to_limit_seconds.map_or(String::new(), |s| format!(
                    " Limit reached in {} at the current growth.",
                    escape(&human_duration(s))
                ))
            );
        }
        None => out.push_str("<p class=\"sub\">Not enough history for a trend yet.</p>"),
    }
}

fn alerts(out: &mut String, name: &str, rs: Option<&RulesSnapshot>) {
    out.push_str("<h3>Alerts</h3>");
    let list: Vec<_> = rs
        .map(|r| r.alerts.iter().filter(|a| a.target == name).collect())
        .unwrap_or_default();
    if list.is_empty() {
        out.push_str("<p class=\"none\">None firing or pending.</p>");
        return;
    }
    out.push_str("<ul>");
    for a in list {
        let class = match (a.state.as_str(), a.severity) {
            ("firing", "critical") => "crit",
            ("firing", _) => "warn",
            _ => "ok",
        };
        let summary = a.annotations.get("summary").cloned().unwrap_or_default();
        let _ = write!(
            out,
            "<li><span class=\"badge {class}\">{} {}</span> <b>{}</b> {}</li>",
            escape(a.state.as_str()),
            escape(a.severity),
            escape(&a.alertname),
            escape(&summary)
        );
    }
    out.push_str("</ul>");
}

/// Most profiles a card lists (the newest); `/api/v1/profiles` has them all.
const PROFILES_SHOWN: usize = 10;

/// The target's stored profiles, newest first, each linked for download; the evidence is in
/// the title.
fn profiles(out: &mut String, t: &TargetSample) {
    let Some(p) = &t.profiles else { return };
    let _ = write!(
        out,
        "<h3>Profiles</h3><p class=\"lbl\">{} capture error{} · <a href=\"{}\">all profiles (JSON)</a></p>",
        p.errors,
        if p.errors == 1 { "" } else { "s" },
        crate::profiles::view::PREFIX
    );
    if p.entries.is_empty() {
        out.push_str("<p class=\"none\">None captured yet.</p>");
        return;
    }
    out.push_str("<ul>");
    for e in p.entries.iter().rev().take(PROFILES_SHOWN) {
        let _ = write!(
            out,
            "<li><a href=\"{}\" title=\"{}\">{} · {}</a> {} · {} B{}</li>",
            escape(&crate::profiles::view::url(e)),
            escape(&e.evidence.join(" ")),
            escape(&e.kind),
            escape(&e.trigger),
            rfc3339(e.time_seconds),
            e.size_bytes,
            e.base
                .as_ref()
                .map(|b| format!(" · base {}", escape(b)))
                .unwrap_or_default()
        );
    }
    out.push_str("</ul>");
}

/// What the page says instead of a figure whose window the samples do not cover yet.
fn not_enough_data(covered_seconds: f64, window: &str) -> String {
    format!(
        "<span class=\"sub\">not enough data yet ({} of {} sampled)</span>",
        escape(&human_duration(covered_seconds)),
        escape(window)
    )
}

/// The budget cells (figure and bar): withheld until the covered span is meaningful
/// (`slo::Coverage::budget_meaningful`), then labelled with that span.
fn budget_cells(s: &SloStatus) -> String {
    // The window is validated at load (1h..90d); a Duration holds it.
    let window =
        Duration::try_from_secs_f64(s.window_seconds).map_or_else(|_| "?".into(), prom_duration);
    let budget = match s.error_budget_remaining {
        _ if !s.error_budget_meaningful => {
            return format!(
                "<td colspan=\"2\">{}</td>",
                not_enough_data(s.covered_seconds, &window)
            );
        }
        None => return "<td class=\"n\">—</td><td></td>".into(),
        Some(b) => b,
    };
    let span = if s.covered_seconds < s.window_seconds {
        format!("over the {} sampled", human_duration(s.covered_seconds))
    } else {
        format!("over the last {window}")
    };
    format!(
        "<td class=\"n\">{} <span class=\"sub\">{}</span></td><td style=\"width:25%\"><div class=\"bar\"><i{} style=\"width:{:.1}%\"></i></div></td>",
        pct(budget),
        escape(&span),
        if budget < 0.25 { " class=\"hot\"" } else { "" },
        budget.clamp(0.0, 1.0) * 100.0
    )
}

/// Which histogram bucket a latency SLO counts as good, and whether it is the threshold's own.
fn bucket_note(s: &SloStatus) -> String {
    let Some(b) = &s.bucket else {
        return String::new();
    };
    let le = crate::request::le_text(b.le);
    let why = if b.exact {
        ""
    } else {
        ", the largest below the threshold"
    };
    format!(
        " <span class=\"sub\">{}{{le=\"{}\"}}{}</span>",
        escape(&b.histogram),
        escape(&le),
        why
    )
}

fn slos(out: &mut String, name: &str, rs: Option<&RulesSnapshot>) {
    let list: Vec<_> = rs
        .map(|r| r.slos.iter().filter(|s| s.target == name).collect())
        .unwrap_or_default();
    if list.is_empty() {
        return;
    }
    out.push_str("<h3>SLO error budgets</h3><table><tr><th>SLO</th><th>objective</th><th>budget left</th><th></th>");
    for (w, _) in BURN_WINDOWS {
        let _ = write!(out, "<th class=\"n\">burn {w}</th>");
    }
    out.push_str("</tr>");
    for s in list {
        let _ = write!(
            out,
            "<tr><td>{}{}</td><td class=\"n\">{}</td>{}",
            escape(&s.slo),
            bucket_note(s),
            pct(s.objective),
            budget_cells(s)
        );
        for b in &s.burn_rates {
            let cell = match b.rate {
                _ if !b.covered => not_enough_data(s.covered_seconds, b.window),
                Some(r) => format!("{}×", go_g4(r)),
                None => "—".into(),
            };
            let _ = write!(out, "<td class=\"n\">{cell}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
}

fn recommendation(out: &mut String, h: &TargetView) {
    let r = &h.recommendation;
    out.push_str("<h3>Recommendation</h3>");
    match (&r.cpu_request, &r.memory_request, &r.memory_limit) {
        (Some(c), Some(m), Some(l)) => {
            let _ = write!(
                out,
                "<table><tr><td>CPU request</td><td class=\"n\"><b>{}</b></td><td class=\"sub\">{}</td></tr><tr><td>memory request</td><td class=\"n\"><b>{}</b></td><td class=\"sub\">{}</td></tr><tr><td>memory limit</td><td class=\"n\"><b>{}</b></td><td class=\"sub\">{}</td></tr></table>",
                escape(&cores(c.value)),
                escape(c.rule),
                escape(&size(m.value)),
                escape(m.rule),
                escape(&size(l.value)),
                escape(l.rule)
            );
            if let Some(y) = &r.yaml {
                let _ = write!(out, "<pre>{}</pre>", escape(y.trim_end()));
            }
        }
        _ => {
            let _ = write!(
                out,
                "<p class=\"none\">Not enough history yet: {} of {} sampled.</p>",
                escape(&human_duration(r.history_seconds)),
                escape(&human_duration(r.required_history_seconds))
            );
        }
    }
    if !r.advice.is_empty() {
        out.push_str("<ul>");
        for a in &r.advice {
            let _ = write!(out, "<li>{}</li>", escape(&a.text));
        }
        out.push_str("</ul>");
    }
    runtime_tuning(out, r);
}

/// The runtime's settings with their origins, and the tuning advice with its snippet.
fn runtime_tuning(out: &mut String, r: &crate::advisor::Recommendation) {
    let Some(s) = &r.runtime_settings else {
        return;
    };
    out.push_str("<h3>Runtime settings</h3><table class=\"settings\">");
    let rows = [
        ("GOMEMLIMIT", &s.gomemlimit_bytes),
        ("GOGC", &s.gogc_percent),
        ("GOMAXPROCS", &s.gomaxprocs),
        ("JVM max heap", &s.jvm_max_heap_bytes),
        ("MaxRAMPercentage", &s.jvm_max_ram_percentage),
        ("--max-old-space-size", &s.node_max_old_space_bytes),
    ];
    for (name, v) in rows {
        if let Some(v) = v {
            let _ = write!(
                out,
                "<tr><td>{name}</td><td class=\"n\">{}</td><td class=\"sub\">{}</td></tr>",
                escape(&v.raw),
                escape(&v.from)
            );
        }
    }
    out.push_str("</table>");
    if s.environ_readable == Some(false) {
        out.push_str("<p class=\"none\">The environment is not readable (another user; CAP_SYS_PTRACE needed): settings only it could show are unknown.</p>");
    }
    if !r.tuning.is_empty() {
        out.push_str("<ul class=\"tuning\">");
        for t in &r.tuning {
            let _ = write!(
                out,
                "<li data-rule=\"{}\">{}<pre>{}</pre></li>",
                escape(t.rule),
                escape(&t.text),
                escape(t.snippet.trim_end())
            );
        }
        out.push_str("</ul>");
    }
}

fn card(
    out: &mut String,
    i: usize,
    t: &TargetSample,
    h: Option<&TargetView>,
    rs: Option<&RulesSnapshot>,
) {
    let firing = rs.map_or(0, |r| {
        r.alerts
            .iter()
            .filter(|a| a.target == t.name && a.state.as_str() == "firing")
            .count()
    });
    let _ = write!(
        out,
        "<section class=\"card\" id=\"target-{i}\" data-target=\"{}\"><h2><span class=\"badge {}\">{}</span><span class=\"name\">{}</span>{}</h2><p class=\"lbl\">{}</p>",
        escape(&t.name),
        if t.up { "up" } else { "down" },
        if t.up { "up" } else { "down" },
        escape(&t.name),
        if firing > 0 {
            format!(" <span class=\"badge crit\">{firing} firing</span>")
        } else {
            String::new()
        },
        labels_line(t)
    );
    figures(out, t, h);
    runtime(out, t, h);
    match h {
        Some(h) if !h.raw.is_empty() => {
            sparks(out, h);
            trends(out, h);
        }
        _ => out.push_str("<p class=\"none\">No samples yet: the target has not been found.</p>"),
    }
    alerts(out, &t.name, rs);
    profiles(out, t);
    slos(out, &t.name, rs);
    if let Some(h) = h {
        recommendation(out, h);
    }
    out.push_str("</section>");
}

/// Renders the page for one tick.
pub fn render(s: &Snapshot) -> String {
    let rs = s.rules.as_ref();
    let views = s.history.as_deref();
    let firing = rs.map_or(0, |r| {
        r.alerts
            .iter()
            .filter(|a| a.state.as_str() == "firing")
            .count()
    });
    let up = s.targets.iter().filter(|t| t.up).count();
    let mut out = String::with_capacity(4096 + 8192 * s.targets.len());
    let n = s.targets.len();
    let plural = |k: usize| if k == 1 { "" } else { "s" };
    let updated = rfc3339(s.timestamp_seconds);
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><meta http-equiv=\"refresh\" content=\"30\"><title>sidewatch · {up}/{n} up{title_firing}</title><style>{CSS}</style></head><body><header><h1>sidewatch</h1><span class=\"meta\">{up} of {n} target{} up · {firing} alert{} firing · updated <time datetime=\"{updated}\">{updated}</time> · v{}</span><span class=\"meta\"><a href=\"/metrics\">metrics</a> · <a href=\"/api/v1/targets\">targets</a> · <a href=\"/api/v1/alerts\">alerts</a> · <a href=\"/api/v1/recommendations\">recommendations</a>{profiles_link}</span></header><main>",
        plural(n),
        plural(firing),
        escape(s.version),
        profiles_link = if s.targets.iter().any(|t| t.profiles.is_some()) {
            " · <a href=\"/api/v1/profiles\">profiles</a>"
        } else {
            ""
        },
        title_firing = if firing > 0 {
            format!(", {firing} firing")
        } else {
            String::new()
        },
    );
    if s.targets.is_empty() {
        out.push_str("<p>No targets configured.</p>");
    }
    for (i, t) in s.targets.iter().enumerate() {
        let h = views.and_then(|v| v.targets.iter().find(|h| h.name == t.name));
        card(&mut out, i, t, h, rs);
    }
    out.push_str("</main></body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(
            escape("<script>alert('x') & \"y\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
    }

    #[test]
    fn sparkline_paths_scale_and_break_at_gaps() {
        let svg = sparkline(&[Some(0.0), Some(10.0), None, Some(5.0)], "x", None);
        assert!(svg.contains("d=\"M0.0,28.0L40.0,2.0M120.0,15.0\""), "{svg}");
        assert!(!svg.contains("<line"));
        let svg = sparkline(&[Some(0.0), Some(10.0)], "x", Some(12.0));
        assert!(
            svg.contains("<line x1=\"0\" x2=\"120\" y1=\"2.0\""),
            "{svg}"
        );
        let svg = sparkline(&[None, None], "a<b", None);
        assert!(svg.contains("aria-label=\"a&lt;b: no data yet\""), "{svg}");
        let flat = sparkline(&[Some(3.0), Some(3.0)], "x", None);
        assert!(flat.contains("M0.0,15.0L120.0,15.0"), "{flat}");
    }

    /// The SLO row of `slo` in the page.
    fn slo_row<'a>(html: &'a str, slo: &str) -> &'a str {
        let start = html.find(&format!("<tr><td>{slo}</td>")).unwrap();
        &html[start..start + html[start..].find("</tr>").unwrap()]
    }

    fn page(rules: crate::rules::RulesSnapshot, targets: Vec<TargetSample>) -> String {
        render(&Snapshot {
            timestamp_seconds: 1_700_000_000.0,
            targets,
            read_errors: Vec::new(),
            ticks_total: 0,
            host_cpus: Some(2),
            tick_duration_seconds: crate::histogram::HistogramValues::new(&[1.0]),
            scrapes_total: 0,
            config_last_reload_successful: true,
            config_last_reload_success_timestamp_seconds: 0.0,
            exporter: None,
            version: "test",
            revision: "test",
            rules: Some(rules),
            history: None,
        })
    }

    #[test]
    fn the_runtime_card_shows_the_app_figures() {
        let mut c = crate::runtime::RuntimeCounters::default();
        let go = |gcs: f64| crate::runtime::RuntimeFigures {
            runtime: Some(crate::runtime::Runtime::Go),
            version: Some("go1.22<x>".into()),
            heap_bytes: Some(256.0 * 1048576.0),
            heap_limit_bytes: Some(1024.0 * 1048576.0),
            tasks: Some(12_345.0),
            gc_collections: Some(gcs),
            gc_pause_seconds: Some(0.0),
            gogc_percent: Some(100.0),
            gomaxprocs: Some(4.0),
            ..Default::default()
        };
        c.update(0.0, Some(go(10.0)));
        let t = TargetSample {
            name: "api".into(),
            up: true,
            runtime: Some(c.update(10.0, Some(go(15.0)))),
            ..Default::default()
        };
        let html = page(crate::rules::RulesSnapshot::default(), vec![t.clone()]);
        assert!(
            html.contains("data-runtime=\"go\">Runtime: go go1.22&lt;x&gt;</h3>"),
            "{html}"
        );
        assert!(html.contains("<dd data-signal=\"runtime_heap_bytes\">256 MiB</dd><span class=\"sub\">25 % of 1 GiB limit</span>"), "{html}");
        assert!(
            html.contains("<dt>goroutines</dt><dd data-signal=\"runtime_tasks\">12,345</dd>"),
            "{html}"
        );
        assert!(
            html.contains("<dd data-signal=\"runtime_gc_per_second\">0.5/s</dd>"),
            "{html}"
        );
        assert!(html.contains("<dd>100 · 4</dd>"), "{html}");
        // The endpoint unread: said so, no stale figures.
        let mut down = t;
        down.runtime = Some(c.update(20.0, None));
        let html = page(crate::rules::RulesSnapshot::default(), vec![down]);
        assert!(html.contains("data-runtime=\"unknown\""), "{html}");
        assert!(!html.contains("runtime_tasks"), "{html}");
    }

    /// A latency SLO's row names the bucket it counts, and says when it is not the threshold's.
    #[test]
    fn latency_slo_row_names_its_bucket() {
        let f = crate::config::parse_file(
            "rules: []\nslos:\n  - {name: lat, kind: latency, threshold: 300ms, objective: 95%, window: 1h}\n",
            None,
        )
        .unwrap();
        let set = crate::rules::RuleSet::from_config(f.rules.as_deref(), f.slos.as_deref(), None)
            .unwrap();
        let mut e = crate::rules::RulesEngine::new(set, None);
        let body = "# TYPE prometheus_http_request_duration_seconds histogram\n\
            prometheus_http_request_duration_seconds_bucket{handler=\"/\",le=\"0.2\"} 1\n\
            prometheus_http_request_duration_seconds_bucket{handler=\"/\",le=\"0.4\"} 1\n\
            prometheus_http_request_duration_seconds_bucket{handler=\"/\",le=\"+Inf\"} 1\n\
            prometheus_http_request_duration_seconds_count{handler=\"/\"} 1\n";
        let t = TargetSample {
            name: "app".into(),
            up: true,
            app: Some(std::sync::Arc::new(
                crate::source::exposition::parse(body, crate::source::exposition::Format::Text004)
                    .unwrap(),
            )),
            ..Default::default()
        };
        let rs = e.evaluate(1_700_000_040.0, std::slice::from_ref(&t));
        let html = page(rs, vec![t.clone()]);
        assert!(
            html.contains("<tr><td>lat <span class=\"sub\">prometheus_http_request_duration_seconds{le=\"0.2\"}, the largest below the threshold</span></td>"),
            "{html}"
        );
    }

    /// Two minutes after start, a 30-day SLO whose every sample is bad shows no budget
    /// percentage (it would be -9900 %) but the span sampled; a day later, the budget over the
    /// day sampled.
    #[test]
    fn slo_budget_is_withheld_until_the_span_sampled_is_meaningful() {
        let f = crate::config::parse_file(
            "rules: []\nslos:\n  - {name: mem, signal: memory_rss_bytes, op: '<', value: 100MiB, objective: 99%, window: 30d}\n",
            None,
        )
        .unwrap();
        let set = crate::rules::RuleSet::from_config(f.rules.as_deref(), f.slos.as_deref(), None)
            .unwrap();
        let mut e = crate::rules::RulesEngine::new(set, None);
        let t = TargetSample {
            name: "app".into(),
            up: true,
            resident_memory_bytes: Some(150 << 20),
            ..Default::default()
        };
        let base = 1_700_000_040.0;
        let mut rs = Default::default();
        for i in 0..=120 {
            rs = e.evaluate(base + f64::from(i), std::slice::from_ref(&t));
        }
        let html = page(rs, vec![t.clone()]);
        let row = slo_row(&html, "mem");
        assert!(
            row.contains("not enough data yet (2m of 30d sampled)"),
            "{row}"
        );
        assert!(
            row.contains("not enough data yet (2m of 5m sampled)"),
            "{row}"
        );
        assert!(
            row.contains("not enough data yet (2m of 1h sampled)"),
            "{row}"
        );
        assert_eq!(row.matches('%').count(), 1, "only the objective: {row}");
        // Shown from 24 h sampled (10 % of 30 days is more), labelled with its span.
        let mut rs = Default::default();
        for m in 1..=1437 {
            rs = e.evaluate(base + 120.0 + f64::from(m) * 60.0, std::slice::from_ref(&t));
        }
        let html = page(rs, vec![t.clone()]);
        let row = slo_row(&html, "mem");
        assert!(
            row.contains("not enough data yet (23h 59m of 30d sampled)"),
            "{row}"
        );
        let rs = e.evaluate(base + 120.0 + 1438.0 * 60.0, std::slice::from_ref(&t));
        let html = page(rs, vec![t.clone()]);
        let row = slo_row(&html, "mem");
        assert!(row.contains("-9900 %"), "{row}");
        assert!(row.contains("over the 1d sampled"), "{row}");
        assert!(!row.contains("not enough data"), "{row}");
        // Every sample bad at 99 %: 100× the budget rate over 5m, 1h and 6h.
        assert_eq!(row.matches("100×").count(), 3, "{row}");
        // A 1h SLO covered whole: the budget over the last hour; its ring cannot hold 6h.
        let f = crate::config::parse_file(
            "rules: []\nslos:\n  - {name: hour, signal: memory_rss_bytes, op: '<', value: 1GiB, objective: 99%, window: 1h}\n",
            None,
        )
        .unwrap();
        let set = crate::rules::RuleSet::from_config(f.rules.as_deref(), f.slos.as_deref(), None)
            .unwrap();
        let mut e = crate::rules::RulesEngine::new(set, None);
        let mut rs = Default::default();
        for m in 0..=60 {
            rs = e.evaluate(base + f64::from(m) * 60.0, std::slice::from_ref(&t));
        }
        let html = page(rs, vec![t]);
        let row = slo_row(&html, "hour");
        assert!(
            row.contains("100 % <span class=\"sub\">over the last 1h</span>"),
            "{row}"
        );
        assert!(
            row.contains("not enough data yet (1h of 6h sampled)"),
            "{row}"
        );
    }

    #[test]
    fn sizes_and_cores_read_well() {
        assert_eq!(size(512.0 * 1024.0 * 1024.0), "512 MiB");
        assert_eq!(size(1536.0), "1.5 KiB");
        assert_eq!(size(12.0), "12 B");
        assert_eq!(cores(0.1234), "123m");
        assert_eq!(cores(2.5), "2.5");
        assert_eq!(pct(0.4167), "41.7 %");
        assert_eq!(size3(43.894 * 1048576.0), "43.9 MiB");
        assert_eq!(size3(512.0 * 1048576.0), "512 MiB");
        assert_eq!(size3(1.5 * 1073741824.0), "1.50 GiB");
        assert_eq!(size3(900.0), "900 B");
    }
}
