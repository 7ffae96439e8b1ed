//! The generated reference pages of `docs/`: the metrics (from [`crate::catalog`]), the config
//! fields (from [`CONFIG`], which a test holds to what the config parser accepts) and the rule
//! signals (from [`Signal`]). `UPDATE=1 cargo test --test docs` rewrites the committed pages;
//! without it, that test fails when they differ.

use std::fmt::Write as _;

use crate::catalog::{self, Def};
use crate::rules::Signal;

/// One config field: its path (`targets[].app.timeout`), what it takes, its default, and what it
/// does.
#[derive(Debug)]
pub struct Field {
    pub path: &'static str,
    pub kind: &'static str,
    pub default: &'static str,
    pub help: &'static str,
}

const fn f(
    path: &'static str,
    kind: &'static str,
    default: &'static str,
    help: &'static str,
) -> Field {
    Field {
        path,
        kind,
        default,
        help,
    }
}

/// Every field of the config file, parents before children.
pub const CONFIG: &[Field] = &[
    f(
        "interval",
        "duration",
        "5s",
        "How often to sample (humantime: `500ms`, `5s`, `1m`).",
    ),
    f(
        "listen_address",
        "host:port",
        ":9858",
        "Where to serve; a restart is needed to change it.",
    ),
    f(
        "procfs",
        "path",
        "/proc",
        "procfs root, e.g. `/host/proc`; a restart is needed to change it.",
    ),
    f(
        "cgroupfs",
        "path",
        "/sys/fs/cgroup",
        "cgroupfs root, e.g. `/host/sys/fs/cgroup`; a restart is needed to change it.",
    ),
    f(
        "targets",
        "list",
        "",
        "The watched applications; at least one (or a target given by flags).",
    ),
    f(
        "targets[].name",
        "string",
        "",
        "The `target` label; unique.",
    ),
    f(
        "targets[].pid",
        "integer",
        "",
        "One process by pid; not with the other selectors.",
    ),
    f(
        "targets[].pid_file",
        "path",
        "",
        "The pid in this file, re-read every tick (follows restarts).",
    ),
    f(
        "targets[].comm",
        "string",
        "",
        "Processes whose comm is exactly this (at most 15 bytes).",
    ),
    f(
        "targets[].exe",
        "string",
        "",
        "Processes whose executable is this full path or base name.",
    ),
    f(
        "targets[].cmdline",
        "regex",
        "",
        "Processes whose arguments, joined by spaces, match (unanchored).",
    ),
    f(
        "targets[].children",
        "bool",
        "false",
        "Also every descendant of the selected processes.",
    ),
    f(
        "targets[].smaps",
        "bool",
        "false",
        "Also read PSS from smaps_rollup (costs more per tick).",
    ),
    f(
        "targets[].thread_totals",
        "bool",
        "true",
        "Context switches and CPU wait over all threads, else the main thread's.",
    ),
    f(
        "targets[].labels",
        "map",
        "{}",
        "Constant labels on every series of the target; `${VAR}` expands from the environment.",
    ),
    f(
        "targets[].cgroup_labels",
        "bool",
        "false",
        "One set of cgroup series per distinct cgroup, with a `cgroup` label.",
    ),
    f(
        "targets[].app",
        "section",
        "",
        "The application's own /metrics (see sources.md, Application metrics).",
    ),
    f(
        "targets[].app.metrics_url",
        "URL",
        "",
        "http:// or https:// URL of the app's metrics.",
    ),
    f(
        "targets[].app.timeout",
        "duration",
        "half the interval, at most 5s",
        "Fetch deadline; at most 90 % of the interval.",
    ),
    f(
        "targets[].app.bearer_token_file",
        "path",
        "",
        "Bearer token, re-read every fetch.",
    ),
    f(
        "targets[].app.tls",
        "section",
        "",
        "TLS of an https metrics_url.",
    ),
    f(
        "targets[].app.tls.ca_file",
        "path",
        "the system bundle",
        "CA bundle the server certificate must verify against.",
    ),
    f(
        "targets[].app.tls.insecure_skip_verify",
        "bool",
        "false",
        "true: encrypted, not authenticated.",
    ),
    f(
        "targets[].app.max_body_bytes",
        "size",
        "4MiB",
        "Cap on the body as sent and once gunzipped.",
    ),
    f(
        "targets[].app.http",
        "section",
        "auto-detected",
        "The app's HTTP request histogram when it is none of the known ones.",
    ),
    f(
        "targets[].app.http.histogram",
        "string",
        "",
        "Base name of the histogram (`api_request_seconds`).",
    ),
    f(
        "targets[].app.http.status_label",
        "string",
        "",
        "Label holding the response status (for `http_error_ratio`).",
    ),
    f(
        "targets[].probe",
        "section",
        "",
        "An HTTP probe of the application (blackbox_exporter's vocabulary).",
    ),
    f(
        "targets[].probe.url",
        "URL",
        "",
        "http:// or https:// URL to probe.",
    ),
    f(
        "targets[].probe.interval",
        "duration",
        "the sampling interval",
        "How often to probe (100ms to 24h).",
    ),
    f(
        "targets[].probe.timeout",
        "duration",
        "half the probe interval, at most 5s",
        "Probe deadline.",
    ),
    f("targets[].probe.method", "string", "GET", "GET or HEAD."),
    f("targets[].probe.headers", "map", "{}", "Request headers."),
    f(
        "targets[].probe.valid_status_codes",
        "list of integers",
        "any 2xx",
        "Statuses that count as success.",
    ),
    f(
        "targets[].probe.fail_if_body_not_matches_regexp",
        "regex",
        "",
        "Fails a probe whose body does not match (GET only).",
    ),
    f(
        "targets[].probe.no_follow_redirects",
        "bool",
        "false",
        "true: a redirect is the answer; else up to 10 are followed.",
    ),
    f("targets[].probe.tls", "section", "", "TLS of an https url."),
    f(
        "targets[].probe.tls.ca_file",
        "path",
        "the system bundle",
        "CA bundle the server certificate must verify against.",
    ),
    f(
        "targets[].probe.tls.insecure_skip_verify",
        "bool",
        "false",
        "true: encrypted, not authenticated.",
    ),
    f(
        "targets[].profiles",
        "section",
        "",
        "pprof captures on triggers (see profiles.md).",
    ),
    f(
        "targets[].profiles.url",
        "URL",
        "",
        "pprof base URL (http only), e.g. `http://127.0.0.1:6060/debug/pprof`.",
    ),
    f(
        "targets[].profiles.dir",
        "path",
        "/var/lib/sidewatch/profiles",
        "Files go to `<dir>/<target>/`.",
    ),
    f(
        "targets[].profiles.max_files",
        "integer",
        "20",
        "Budget of stored profiles: oldest out first.",
    ),
    f(
        "targets[].profiles.max_bytes",
        "size",
        "64MiB",
        "Budget of stored bytes.",
    ),
    f(
        "targets[].profiles.max_profile_bytes",
        "size",
        "16MiB",
        "Cap of one download (and 32x once gunzipped).",
    ),
    f(
        "targets[].profiles.timeout",
        "duration",
        "10s",
        "Per fetch; a CPU profile gets its seconds on top.",
    ),
    f(
        "targets[].profiles.cpu_seconds",
        "integer",
        "",
        "Length of a CPU profile (at most 60); absent: no CPU profiles.",
    ),
    f(
        "targets[].profiles.heap_followup",
        "duration",
        "5m",
        "Second heap of a leak, this long after the first.",
    ),
    f(
        "targets[].profiles.on_alerts",
        "list of alert names",
        "[]",
        "Firing alerts that capture profiles.",
    ),
    f(
        "targets[].profiles.alert_kinds",
        "list of heap, goroutine, cpu",
        "[heap, goroutine]",
        "What an alert captures.",
    ),
    f(
        "targets[].profiles.cooldown",
        "duration",
        "10m",
        "Cooldown per alert.",
    ),
    f(
        "targets[].profiles.on_leak",
        "bool",
        "false",
        "Capture when the leak verdict turns true.",
    ),
    f(
        "targets[].profiles.goroutines",
        "section",
        "",
        "Spike rule on runtime_tasks (mosn/holmes's min, abs, diff, ticks, cooldown).",
    ),
    f(
        "targets[].profiles.goroutines.min",
        "count",
        "",
        "No capture below this.",
    ),
    f(
        "targets[].profiles.goroutines.abs",
        "count",
        "",
        "Capture above this.",
    ),
    f(
        "targets[].profiles.goroutines.diff",
        "ratio",
        "",
        "Capture at this rise over the mean of the last `ticks`.",
    ),
    f(
        "targets[].profiles.goroutines.ticks",
        "integer",
        "10",
        "Ticks of the moving mean.",
    ),
    f(
        "targets[].profiles.goroutines.cooldown",
        "duration",
        "10m",
        "Time before the rule captures again.",
    ),
    f(
        "targets[].profiles.heap",
        "section",
        "",
        "Spike rule on runtime_heap_bytes (mosn/holmes's min, abs, diff, ticks, cooldown).",
    ),
    f(
        "targets[].profiles.heap.min",
        "size",
        "",
        "No capture below this.",
    ),
    f(
        "targets[].profiles.heap.abs",
        "size",
        "",
        "Capture above this.",
    ),
    f(
        "targets[].profiles.heap.diff",
        "ratio",
        "",
        "Capture at this rise over the mean of the last `ticks`.",
    ),
    f(
        "targets[].profiles.heap.ticks",
        "integer",
        "10",
        "Ticks of the moving mean.",
    ),
    f(
        "targets[].profiles.heap.cooldown",
        "duration",
        "10m",
        "Time before the rule captures again.",
    ),
    f(
        "targets[].profiles.cpu",
        "section",
        "",
        "Spike rule on CPU cores (needs cpu_seconds) (mosn/holmes's min, abs, diff, ticks, cooldown).",
    ),
    f(
        "targets[].profiles.cpu.min",
        "cores",
        "",
        "No capture below this.",
    ),
    f(
        "targets[].profiles.cpu.abs",
        "cores",
        "",
        "Capture above this.",
    ),
    f(
        "targets[].profiles.cpu.diff",
        "ratio",
        "",
        "Capture at this rise over the mean of the last `ticks`.",
    ),
    f(
        "targets[].profiles.cpu.ticks",
        "integer",
        "10",
        "Ticks of the moving mean.",
    ),
    f(
        "targets[].profiles.cpu.cooldown",
        "duration",
        "10m",
        "Time before the rule captures again.",
    ),
    f(
        "rules",
        "list",
        "the built-in rules",
        "Threshold rules; `[]` for none (see rules-and-slos.md).",
    ),
    f(
        "rules[].alert",
        "CamelCase name",
        "",
        "Alert name; one rule per (alert, severity).",
    ),
    f(
        "rules[].signal",
        "signal",
        "",
        "What is tested (see signals.md).",
    ),
    f(
        "rules[].op",
        "`>` `>=` `<` `<=` or gt ge lt le",
        "",
        "Comparison.",
    ),
    f(
        "rules[].value",
        "in the signal's unit",
        "",
        "Threshold: `500MiB`, `80%`, `10k`, `1.5`, `250ms`.",
    ),
    f(
        "rules[].for",
        "duration",
        "0s",
        "How long the condition must hold before the alert fires.",
    ),
    f(
        "rules[].keep_firing_for",
        "duration",
        "0s",
        "How long the alert keeps firing after the condition stops holding.",
    ),
    f(
        "rules[].severity",
        "critical, warning or info",
        "warning",
        "The `severity` label.",
    ),
    f(
        "rules[].targets",
        "list of target names",
        "every target",
        "Targets the rule applies to.",
    ),
    f("rules[].labels", "map", "{}", "Extra alert labels."),
    f(
        "rules[].annotations",
        "section",
        "",
        "Templated with `{{ $value }}` and `{{ $labels.NAME }}`.",
    ),
    f(
        "rules[].annotations.summary",
        "template",
        "from the signal",
        "One-line summary.",
    ),
    f(
        "rules[].annotations.description",
        "template",
        "from the signal",
        "Longer description.",
    ),
    f(
        "rules[].annotations.runbook_url",
        "URL",
        "",
        "Runbook link; a bare anchor (`\"#myalert\"`) is a section of docs/runbooks.md.",
    ),
    f(
        "slos",
        "list",
        "the built-in SLOs",
        "SLOs; `[]` for none (see rules-and-slos.md).",
    ),
    f(
        "slos[].name",
        "string",
        "",
        "The `slo` label (letters, digits, `_ - .`).",
    ),
    f(
        "slos[].kind",
        "samples, events or latency",
        "samples",
        "What is counted: ticks, the app's counter increases, or requests of its histogram.",
    ),
    f(
        "slos[].signal",
        "signal",
        "",
        "`samples`: the signal a good sample satisfies.",
    ),
    f("slos[].op", "comparison", "", "`samples`: as in rules."),
    f(
        "slos[].value",
        "in the signal's unit",
        "",
        "`samples`: the threshold.",
    ),
    f(
        "slos[].good",
        "selector",
        "",
        "`events`: the good events' counter, with PromQL matchers.",
    ),
    f(
        "slos[].total",
        "selector",
        "",
        "`events`: all events' counter.",
    ),
    f(
        "slos[].histogram",
        "string",
        "auto",
        "`latency`: the histogram's base name, or `auto`.",
    ),
    f(
        "slos[].threshold",
        "duration",
        "",
        "`latency`: a request at or under this is good.",
    ),
    f(
        "slos[].objective",
        "ratio",
        "",
        "Share of good over the window, in (0, 100%): `99.5%`.",
    ),
    f("slos[].window", "duration", "30d", "SLO window, 1h to 90d."),
    f(
        "slos[].targets",
        "list of target names",
        "every target",
        "Targets the SLO applies to.",
    ),
    f(
        "slos[].description",
        "string",
        "",
        "Shown in alerts and the API.",
    ),
    f(
        "history",
        "section",
        "",
        "Trend windows and the history recommendations need.",
    ),
    f(
        "history.trend_windows",
        "list of durations",
        "[15m, 1h, 6h]",
        "1 to 4 growth-trend windows, shortest first.",
    ),
    f(
        "history.min_history",
        "duration",
        "3h",
        "Sampled time before a target gets recommendations.",
    ),
    f(
        "network",
        "section",
        "",
        "What is read of the targets' network namespaces (docs/network.md).",
    ),
    f(
        "network.tcp_states",
        "bool",
        "true",
        "Count the namespace's TCP sockets by state (`sidewatch_tcp_connections`); `false` (or `--no-tcp-states`) bounds the read of `net/tcp` to the listeners.",
    ),
];

fn cell(s: &str) -> String {
    // `|` would end a table cell.
    s.replace('|', "\\|")
}

/// `docs/configuration-reference.md`.
pub fn config_markdown() -> String {
    let mut s = String::from(
        "# Configuration reference\n\n\
         Generated from `src/reference.rs`, whose field table a test holds to what the config \
         parser accepts: do not edit by hand. Regenerate with `UPDATE=1 cargo test --test docs`. \
         Examples and the rules behind the fields: [configuration.md](configuration.md).\n\n\
         | field | takes | default | what it does |\n|---|---|---|---|\n",
    );
    for f in CONFIG {
        let _ = writeln!(
            s,
            "| `{}` | {} | {} | {} |",
            f.path,
            cell(f.kind),
            cell(f.default),
            cell(f.help)
        );
    }
    s
}

/// `docs/signals.md`.
pub fn signals_markdown() -> String {
    let mut s = String::from(
        "# Signals\n\n\
         Generated from `src/rules/signal.rs`: do not edit by hand. Regenerate with \
         `UPDATE=1 cargo test --test docs`. A rule or SLO tests one of these; `sidewatch rules` \
         computes the same quantity in PromQL (shown for a rule with `for: 5m`).\n\n\
         | signal | unit | compared | what | reads | PromQL |\n|---|---|---|---|---|---|\n",
    );
    for sig in Signal::ALL {
        let compared = if sig.is_increase() {
            "increase over `for`"
        } else {
            "value"
        };
        let promql = sig.promql(&[], std::time::Duration::from_secs(300));
        let _ = writeln!(
            s,
            "| `{}` | {} | {compared} | {} | {} | `{}` |",
            sig.name(),
            format!("{:?}", sig.unit()).to_lowercase(),
            cell(sig.title()),
            cell(sig.metric()),
            cell(&promql.replace('\n', " "))
        );
    }
    s
}

/// `docs/metrics.md`: every family of [`catalog::ALL`].
pub fn metrics_markdown() -> String {
    let mut s = String::from(
        "# Metrics reference\n\n\
         Generated from `src/catalog.rs` (the definitions the encoders use): do not edit by hand. \
         Regenerate with `UPDATE=1 cargo test --test docs`.\n\n\
         Names are as the Prometheus text format shows them (OpenMetrics drops `_total` from \
         counter family names and types `info` families as info, which the text format types as gauge). \
         Series with a `target` label also carry the target's configured `labels:` (and \
         `sidewatch_alert*` series the rule's `labels:`), and the `sidewatch_cgroup_*` series a \
         `cgroup` label with `cgroup_labels: true`. A histogram \
         has `_bucket` (with `le`), `_sum` and `_count` series. How each figure is read: \
         [sources.md](sources.md).\n\n\
         | name | type | unit | labels | help | absent when |\n|---|---|---|---|---|---|\n",
    );
    for d in catalog::ALL {
        metric_row(&mut s, d);
    }
    s
}

fn metric_row(s: &mut String, d: &Def) {
    let unit = d.unit.as_ref().map_or("", |u| u.as_str());
    let labels: Vec<String> = d.labels.iter().map(|l| format!("`{l}`")).collect();
    let _ = writeln!(
        s,
        "| `{}` | {} | {unit} | {} | {} | {} |",
        d.exposed_name(),
        d.kind_name(),
        labels.join(", "),
        cell(d.help),
        d.absent_when
    );
}
