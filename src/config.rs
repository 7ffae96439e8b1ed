//! Typed configuration: the YAML file, merged with command-line flags and `SIDEWATCH_*`
//! environment variables (flags and env win), validated into [`Settings`].
//!
//! Every error names the file, the field path (`targets[1].cmdline`), the line where the YAML
//! parser knows it, and the reason, because a sidecar that crash-loops on a typo must say
//! exactly where the typo is.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use regex_lite::Regex;
use serde::{Deserialize, Deserializer};

use crate::target::{Selector, TargetSpec};

pub mod app;
pub mod labels;
pub mod probe;
pub mod profiles;
pub mod yaml;

pub use yaml::{ConfigError, parse_duration, parse_regex, parse_yaml};

/// Default listen address: all interfaces, port 9858 (not used by node_exporter 9100,
/// process-exporter 9256, cAdvisor 8080, Prometheus 9090 or Alertmanager 9093).
pub const DEFAULT_LISTEN_ADDRESS: &str = ":9858";
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);

// ---------------------------------------------------------------------------------------------
// The YAML file as written.

/// The config file. Unknown keys are errors: a typo must not silently disable a target.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// How often to sample, e.g. `5s`.
    #[serde(default, deserialize_with = "yaml::de_opt_duration")]
    pub interval: Option<Duration>,
    /// Listen address, e.g. `:9858` or `127.0.0.1:9858`.
    pub listen_address: Option<String>,
    /// procfs root, e.g. `/host/proc`.
    pub procfs: Option<PathBuf>,
    /// cgroupfs root, e.g. `/host/sys/fs/cgroup`.
    pub cgroupfs: Option<PathBuf>,
    #[serde(default)]
    pub targets: Vec<TargetFile>,
    /// Threshold rules; absent: the built-in defaults; `[]`: none.
    #[serde(default)]
    pub rules: Option<Vec<crate::rules::ThresholdRule>>,
    /// SLOs; absent: the built-in defaults; `[]`: none.
    #[serde(default)]
    pub slos: Option<Vec<crate::rules::Slo>>,
    /// Trend windows and the history recommendations need.
    #[serde(default)]
    pub history: Option<HistoryFile>,
    /// What is read of the targets' network namespaces.
    #[serde(default)]
    pub network: Option<NetworkFile>,
}

/// The `network:` section as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkFile {
    /// Count the namespace's TCP sockets by state (`sidewatch_tcp_connections`); default true.
    pub tcp_states: Option<bool>,
}

/// The `history:` section as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryFile {
    /// Windows of the growth trends, e.g. `[15m, 1h, 6h]`.
    #[serde(default)]
    pub trend_windows: Option<Vec<DurationText>>,
    /// Sampled time before a target gets recommendations, e.g. `3h`.
    #[serde(default, deserialize_with = "yaml::de_opt_duration")]
    pub min_history: Option<Duration>,
}

/// A duration written in humantime syntax, for lists (errors point at the element).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationText(pub Duration);

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s)
            .map(DurationText)
            .map_err(serde::de::Error::custom)
    }
}

/// One named target as written in the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetFile {
    pub name: String,
    pub pid: Option<i32>,
    pub pid_file: Option<PathBuf>,
    pub comm: Option<String>,
    pub exe: Option<String>,
    #[serde(default, deserialize_with = "yaml::de_opt_regex")]
    pub cmdline: Option<Regex>,
    #[serde(default)]
    pub children: bool,
    #[serde(default)]
    pub smaps: bool,
    /// Context switches and CPU wait summed over every thread (else the main thread's only).
    #[serde(default = "yes")]
    pub thread_totals: bool,
    #[serde(default, deserialize_with = "labels::deserialize")]
    pub labels: std::collections::BTreeMap<String, String>,
    /// One set of cgroup series per distinct cgroup, with a `cgroup` label.
    #[serde(default)]
    pub cgroup_labels: bool,
    /// The application's own metrics endpoint.
    #[serde(default)]
    pub app: Option<app::AppFile>,
    /// An HTTP probe of the application.
    #[serde(default)]
    pub probe: Option<probe::ProbeFile>,
    /// pprof captures on triggers.
    #[serde(default)]
    pub profiles: Option<profiles::ProfilesFile>,
}

fn yes() -> bool {
    true
}

/// Parses YAML text; `file` is only used in error messages.
pub fn parse_file(text: &str, file: Option<&Path>) -> Result<FileConfig, ConfigError> {
    if text.trim().is_empty() {
        return Ok(FileConfig::default());
    }
    parse_yaml(text, file)
}

pub fn load_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(Some(path), "", format!("cannot read: {e}")))?;
    parse_file(&text, Some(path))
}

// ---------------------------------------------------------------------------------------------
// Effective settings.

/// Options that may come from flags/env (already parsed by clap) and override the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub interval: Option<Duration>,
    pub listen_address: Option<String>,
    pub procfs: Option<PathBuf>,
    pub cgroupfs: Option<PathBuf>,
    /// A target given by flags (`--pid`, `--comm`, ...), added to the file's targets.
    pub target: Option<TargetFile>,
    /// `--no-tcp-states`: `Some(false)`.
    pub tcp_states: Option<bool>,
}

impl Clone for TargetFile {
    fn clone(&self) -> Self {
        TargetFile {
            name: self.name.clone(),
            pid: self.pid,
            pid_file: self.pid_file.clone(),
            comm: self.comm.clone(),
            exe: self.exe.clone(),
            cmdline: self.cmdline.clone(),
            children: self.children,
            smaps: self.smaps,
            thread_totals: self.thread_totals,
            labels: self.labels.clone(),
            cgroup_labels: self.cgroup_labels,
            app: self.app.clone(),
            probe: self.probe.clone(),
            profiles: self.profiles.clone(),
        }
    }
}

/// The validated, effective configuration of a running daemon.
#[derive(Debug, Clone)]
pub struct Settings {
    pub interval: Duration,
    pub listen_address: String,
    pub procfs: PathBuf,
    pub cgroupfs: PathBuf,
    pub targets: Vec<TargetSpec>,
    pub config_file: Option<PathBuf>,
    /// Rules and SLOs in force (the built-in defaults for a section the file does not have).
    pub rules: crate::rules::RuleSet,
    /// Trend windows and the history recommendations need.
    pub history: crate::history::HistoryConfig,
    /// Count sockets by state (`network.tcp_states`, `--no-tcp-states`).
    pub tcp_states: bool,
    /// Defaults adapted to the interval, one sentence each (logged, and printed by check-config).
    pub notes: Vec<String>,
}

/// Loads the file (if any), applies overrides, validates. `env` looks up `${VAR}` in labels.
pub fn build_settings(
    config_file: Option<&Path>,
    overrides: &Overrides,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings, ConfigError> {
    let file_cfg = match config_file {
        Some(p) => load_file(p)?,
        None => FileConfig::default(),
    };
    let interval = interval_in_force(&file_cfg, overrides, config_file)?;
    let listen_address = listen_address_in_force(&file_cfg, overrides, config_file)?;
    let procfs = overrides
        .procfs
        .clone()
        .or(file_cfg.procfs.clone())
        .unwrap_or_else(|| PathBuf::from("/proc"));
    let cgroupfs = overrides
        .cgroupfs
        .clone()
        .or(file_cfg.cgroupfs.clone())
        .unwrap_or_else(|| PathBuf::from(crate::source::cgroup::DEFAULT_ROOT));

    check_env_refs(
        &file_cfg.targets,
        overrides.target.as_ref(),
        config_file,
        env,
    )?;
    let targets = validate_targets(&file_cfg, overrides, config_file, env, interval)?;
    let rules = crate::rules::RuleSet::from_config(
        file_cfg.rules.as_deref(),
        file_cfg.slos.as_deref(),
        config_file,
    )?;
    let (history, notes) = validate_history(file_cfg.history.as_ref(), interval, config_file)?;
    let tcp_states = overrides
        .tcp_states
        .or(file_cfg.network.as_ref().and_then(|n| n.tcp_states))
        .unwrap_or(true);
    Ok(Settings {
        interval,
        listen_address,
        procfs,
        cgroupfs,
        targets,
        config_file: config_file.map(Path::to_path_buf),
        rules,
        history,
        tcp_states,
        notes,
    })
}

/// The sampling interval in force (flag, file, default); an error names where it came from.
fn interval_in_force(
    file_cfg: &FileConfig,
    overrides: &Overrides,
    config_file: Option<&Path>,
) -> Result<Duration, ConfigError> {
    let interval = overrides
        .interval
        .or(file_cfg.interval)
        .unwrap_or(DEFAULT_INTERVAL);
    if interval < MIN_INTERVAL {
        let (file, field) = match overrides.interval {
            Some(_) => (None, "--interval"),
            None => (config_file, "interval"),
        };
        return Err(ConfigError::new(
            file,
            field,
            format!(
                "{} is too short; the minimum is {}",
                humantime::format_duration(interval),
                humantime::format_duration(MIN_INTERVAL)
            ),
        ));
    }
    Ok(interval)
}

/// The listen address in force (flag, file, default); an error names where it came from.
fn listen_address_in_force(
    file_cfg: &FileConfig,
    overrides: &Overrides,
    config_file: Option<&Path>,
) -> Result<String, ConfigError> {
    let listen_address = overrides
        .listen_address
        .clone()
        .or(file_cfg.listen_address.clone())
        .unwrap_or_else(|| DEFAULT_LISTEN_ADDRESS.to_string());
    if let Err(reason) = parse_listen_address(&listen_address) {
        let (file, field) = match overrides.listen_address {
            Some(_) => (None, "--web.listen-address"),
            None => (config_file, "listen_address"),
        };
        return Err(ConfigError::new(file, field, reason));
    }
    Ok(listen_address)
}

/// The file's targets, then the one given by flags; names must be unique.
fn validate_targets(
    file_cfg: &FileConfig,
    overrides: &Overrides,
    config_file: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
    interval: Duration,
) -> Result<Vec<TargetSpec>, ConfigError> {
    let mut targets = Vec::new();
    let mut names = BTreeSet::new();
    for (i, t) in file_cfg.targets.iter().enumerate() {
        let spec = validate_target(t, config_file, &format!("targets[{i}]"), env, interval)?;
        if !names.insert(spec.name.clone()) {
            return Err(ConfigError::new(
                config_file,
                format!("targets[{i}].name"),
                format!("duplicate target name {:?}", spec.name),
            ));
        }
        targets.push(spec);
    }
    if let Some(t) = &overrides.target {
        let spec = validate_target(t, None, "--name", env, interval)?;
        if !names.insert(spec.name.clone()) {
            return Err(ConfigError::new(
                None,
                "--name",
                format!(
                    "target name {:?} is already used in the config file; pick another with --name",
                    spec.name
                ),
            ));
        }
        targets.push(spec);
    }
    Ok(targets)
}

/// Validates the `history:` section against the interval in force. The second value: notes on
/// defaults adapted to the interval (check-config prints them, the daemon logs them).
fn validate_history(
    h: Option<&HistoryFile>,
    interval: Duration,
    file: Option<&Path>,
) -> Result<(crate::history::HistoryConfig, Vec<String>), ConfigError> {
    use crate::history::{MAX_MIN_HISTORY, MAX_TREND_WINDOWS};
    let mut out = crate::history::HistoryConfig::default();
    let mut notes = Vec::new();
    match h.and_then(|h| h.trend_windows.as_ref()) {
        Some(ws) => {
            if ws.is_empty() || ws.len() > MAX_TREND_WINDOWS {
                return Err(ConfigError::new(
                    file,
                    "history.trend_windows",
                    format!(
                        "give 1 to {MAX_TREND_WINDOWS} windows, shortest first, e.g. [15m, 1h, 6h]; got {}",
                        ws.len()
                    ),
                ));
            }
            for (i, DurationText(w)) in ws.iter().enumerate() {
                let prev = i.checked_sub(1).map(|p| ws[p].0);
                if let Some(reason) = window_problem(*w, prev, interval) {
                    let field = format!("history.trend_windows[{i}]");
                    return Err(ConfigError::new(file, field, reason));
                }
            }
            out.trend_windows = ws.iter().map(|d| d.0).collect();
        }
        None => {
            let (windows, note) = default_trend_windows(interval)
                .map_err(|reason| ConfigError::new(file, "history.trend_windows", reason))?;
            out.trend_windows = windows;
            notes.extend(note);
        }
    }
    if let Some(m) = h.and_then(|h| h.min_history) {
        if m.is_zero() || m > MAX_MIN_HISTORY {
            return Err(ConfigError::new(
                file,
                "history.min_history",
                format!(
                    "{} is out of range: give more than 0s and at most {} (the days the history keeps)",
                    fmt_duration(m),
                    fmt_duration(MAX_MIN_HISTORY)
                ),
            ));
        }
        out.min_history = m;
    }
    Ok((out, notes))
}

fn fmt_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// Why trend window `w` (after `prev`) cannot work at `interval`, if it cannot. The one check for
/// windows written in the file and for the defaults.
fn window_problem(w: Duration, prev: Option<Duration>, interval: Duration) -> Option<String> {
    use crate::history::MAX_TREND_WINDOW;
    let fmt = fmt_duration;
    let segments = crate::history::trend::SEGMENTS as u32;
    let raw_span =
        interval.mul_f64(crate::history::ring::raw_capacity(interval.as_secs_f64()) as f64);
    let minutes_needed = Duration::from_secs(60) * segments;
    if let Some(prev) = prev.filter(|p| w <= *p) {
        return Some(format!(
            "{} is not longer than the window before it ({}); list windows shortest first, each once",
            fmt(w),
            fmt(prev)
        ));
    }
    if w > MAX_TREND_WINDOW {
        return Some(format!(
            "{} is longer than {}, the span of the per-minute history",
            fmt(w),
            fmt(MAX_TREND_WINDOW)
        ));
    }
    if w < interval * segments {
        return Some(format!(
            "{} is shorter than {segments} intervals ({segments} × {} = {}): each of the {segments} segments of a window needs a tick",
            fmt(w),
            fmt(interval),
            fmt(interval * segments)
        ));
    }
    if w > raw_span && w < minutes_needed {
        return Some(format!(
            "{} can never be covered: at interval {} the raw ring holds {} of ticks, and per-minute data covers windows from {} on",
            fmt(w),
            fmt(interval),
            fmt(raw_span),
            fmt(minutes_needed)
        ));
    }
    None
}

/// The default trend windows that work at `interval`. Those that would be refused if written
/// are left out, with a note saying which and why; when none is left, one window of 12
/// intervals (the shortest that works) takes their place.
fn default_trend_windows(interval: Duration) -> Result<(Vec<Duration>, Option<String>), String> {
    use crate::history::DEFAULT_TREND_WINDOWS;
    let mut kept: Vec<Duration> = Vec::new();
    let mut dropped = Vec::new();
    for w in DEFAULT_TREND_WINDOWS {
        match window_problem(w, kept.last().copied(), interval) {
            None => kept.push(w),
            Some(reason) => dropped.push(reason),
        }
    }
    if dropped.is_empty() {
        return Ok((kept, None));
    }
    let mut replaced = String::new();
    if kept.is_empty() {
        let w = interval * crate::history::trend::SEGMENTS as u32;
        if let Some(reason) = window_problem(w, None, interval) {
            return Err(format!(
                "no trend window works at interval {}: the defaults are refused ({}), and so is the shortest possible window: {reason}",
                fmt_duration(interval),
                dropped.join("; ")
            ));
        }
        kept.push(w);
        replaced = format!("; using {} instead", fmt_duration(w));
    }
    let note = format!(
        "history.trend_windows: the default windows are adapted to interval {}: {}{replaced}",
        fmt_duration(interval),
        dropped.join("; ")
    );
    Ok((kept, Some(note)))
}

/// `:9858` (all interfaces), `0.0.0.0:9858`, `127.0.0.1:9858`, `[::1]:9858`, `localhost:9858`.
pub fn parse_listen_address(s: &str) -> Result<(String, u16), String> {
    let (host, port) = s.rsplit_once(':').ok_or_else(|| {
        format!("listen address {s:?} has no port; examples: :9858, 127.0.0.1:9858, [::1]:9858")
    })?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("listen address {s:?}: port {port:?} is not a number 0-65535"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok((host.to_string(), port))
}

static ENV_REF: std::sync::LazyLock<Regex> = std::sync::LazyLock::new(|| {
    // A literal pattern known to be valid: compiling it cannot fail.
    Regex::new(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}").expect("valid regex")
});

/// Builds a `ConfigError` for a field of one target (file targets name the field, flag targets
/// the flag).
type TargetErr<'a> = dyn Fn(&str, String) -> ConfigError + 'a;

fn validate_target(
    t: &TargetFile,
    file: Option<&Path>,
    at: &str,
    env: &dyn Fn(&str) -> Option<String>,
    interval: Duration,
) -> Result<TargetSpec, ConfigError> {
    let err = |field: &str, reason: String| {
        let field = if file.is_some() {
            format!("{at}.{field}")
        } else {
            flag_for_field(field)
        };
        ConfigError::new(file, field, reason)
    };
    check_target_name(&t.name, &err)?;
    let selector = selector(t, &err)?;
    let labels = target_labels(t, env, &err)?;
    let app = t
        .app
        .as_ref()
        .map(|a| app::validate(a, interval))
        .transpose()
        .map_err(|(field, reason)| err(&format!("app.{field}"), reason))?;
    let probe = t
        .probe
        .as_ref()
        .map(|p| probe::validate(p, interval))
        .transpose()
        .map_err(|(field, reason)| err(&format!("probe.{field}"), reason))?;
    let profiles = t
        .profiles
        .as_ref()
        .map(profiles::validate)
        .transpose()
        .map_err(|(field, reason)| err(&format!("profiles.{field}"), reason))?;
    Ok(TargetSpec {
        name: t.name.clone(),
        selector,
        children: t.children,
        smaps: t.smaps,
        thread_totals: t.thread_totals,
        labels,
        cgroup_labels: t.cgroup_labels,
        app,
        probe,
        profiles,
    })
}

fn check_target_name(name: &str, err: &TargetErr<'_>) -> Result<(), ConfigError> {
    if name.is_empty() {
        return Err(err("name", "a target needs a non-empty name".into()));
    }
    if name.len() > 128 || name.chars().any(|c| c.is_control()) {
        return Err(err(
            "name",
            "a target name must be at most 128 characters without control characters".into(),
        ));
    }
    Ok(())
}

/// How the target's processes are found: one pid, a pid file, or matching by name.
fn selector(t: &TargetFile, err: &TargetErr<'_>) -> Result<Selector, ConfigError> {
    let by_process = t.comm.is_some() || t.exe.is_some() || t.cmdline.is_some();
    match (t.pid, &t.pid_file, by_process) {
        (Some(_), Some(_), _) => Err(err(
            "pid_file",
            "give either pid or pid_file, not both".into(),
        )),
        (Some(_), _, true) | (_, Some(_), true) => Err(err(
            "pid",
            "pid/pid_file select one process and cannot be combined with comm, exe or cmdline"
                .into(),
        )),
        (Some(pid), None, false) => {
            if pid <= 0 {
                return Err(err("pid", format!("{pid} is not a valid pid")));
            }
            Ok(Selector::Pid(pid))
        }
        (None, Some(path), false) => Ok(Selector::PidFile(path.clone())),
        (None, None, true) => match_selector(t, err),
        (None, None, false) => Err(err(
            "",
            format!(
                "target {:?} has no matcher: give one of pid, pid_file, comm, exe or cmdline",
                t.name
            ),
        )
        .trim_field()),
    }
}

fn match_selector(t: &TargetFile, err: &TargetErr<'_>) -> Result<Selector, ConfigError> {
    if let Some(comm) = &t.comm {
        if comm.is_empty() || comm.len() > 15 {
            return Err(err(
                "comm",
                format!(
                    "{comm:?}: the kernel keeps at most 15 bytes of a command name; use exe or cmdline for longer names"
                ),
            ));
        }
    }
    if let Some(exe) = &t.exe {
        if exe.is_empty() {
            return Err(err("exe", "must not be empty".into()));
        }
    }
    Ok(Selector::Match {
        comm: t.comm.clone(),
        exe: t.exe.clone(),
        cmdline: t.cmdline.clone(),
    })
}

/// The target's `labels`, with `${VAR}` expanded.
fn target_labels(
    t: &TargetFile,
    env: &dyn Fn(&str) -> Option<String>,
    err: &TargetErr<'_>,
) -> Result<Vec<(String, String)>, ConfigError> {
    let mut labels = Vec::new();
    for (k, v) in &t.labels {
        let field = format!("labels.{k}");
        // Flag targets are checked here; file targets already were, with the line.
        labels::check_name(k).map_err(|reason| err(&field, reason))?;
        let value = expand_env(v, env).map_err(|reason| err(&field, reason))?;
        labels.push((k.clone(), value));
    }
    Ok(labels)
}

/// The command-line flag that sets a target field, for errors about flag-defined targets.
fn flag_for_field(field: &str) -> String {
    match field.split('.').next().unwrap_or("") {
        "" => "--name".into(),
        "labels" => "--label".into(),
        "app" => "--app-metrics".into(),
        "probe" => "--probe".into(),
        f => format!("--{}", f.replace('_', "-")),
    }
}

impl ConfigError {
    fn trim_field(mut self) -> Self {
        while self.field.ends_with('.') {
            self.field.pop();
        }
        self
    }
}

/// Every `${VAR}` of the targets' labels whose variable is not set, in one error (fixing one at a
/// time and retrying would take as many runs as there are variables).
fn check_env_refs(
    file_targets: &[TargetFile],
    flag_target: Option<&TargetFile>,
    file: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    let fields = file_targets
        .iter()
        .enumerate()
        .map(|(i, t)| (format!("targets[{i}].labels"), t))
        .chain(flag_target.map(|t| ("--label".to_string(), t)));
    let mut missing: Vec<(String, String)> = Vec::new();
    for (field, t) in fields {
        for (k, v) in &t.labels {
            for c in ENV_REF.captures_iter(v) {
                if env(&c[1]).is_none() {
                    let at = if field == "--label" {
                        format!("--label {k}")
                    } else {
                        format!("{field}.{k}")
                    };
                    missing.push((c[1].to_string(), at));
                }
            }
        }
    }
    let Some((_, first_field)) = missing.first() else {
        return Ok(());
    };
    let list: Vec<String> = missing
        .iter()
        .map(|(v, f)| format!("{v} (in {f})"))
        .collect();
    let (file, field) = match first_field.strip_prefix("--label ") {
        Some(_) => (None, "--label".to_string()),
        None => (file, first_field.clone()),
    };
    Err(ConfigError::new(
        file,
        field,
        format!(
            "{} environment variable(s) not set: {}",
            missing.len(),
            list.join(", ")
        ),
    ))
}

/// Rules and SLOs whose `targets:` name a target that does not exist (a typo would silently
/// leave the target unwatched by that rule): an error naming the first.
pub fn check_rule_targets(s: &Settings) -> Result<(), ConfigError> {
    let known: BTreeSet<&str> = s.targets.iter().map(|t| t.name.as_str()).collect();
    let rules = s.rules.rules.iter().map(|r| ("rules", r.targets.as_ref()));
    let slos = s.rules.slos.iter().map(|r| ("slos", r.targets.as_ref()));
    let mut index = std::collections::BTreeMap::<&str, usize>::new();
    for (section, targets) in rules.chain(slos) {
        let i = index.entry(section).or_default();
        for (j, name) in targets.into_iter().flatten().enumerate() {
            if !known.contains(name.as_str()) {
                let names: Vec<String> = known.iter().map(|n| format!("{n:?}")).collect();
                return Err(ConfigError::new(
                    s.config_file.as_deref(),
                    format!("{section}[{i}].targets[{j}]"),
                    format!(
                        "no target is named {name:?}; targets: {}",
                        if names.is_empty() {
                            "none".to_string()
                        } else {
                            names.join(", ")
                        }
                    ),
                ));
            }
        }
        *i += 1;
    }
    Ok(())
}

/// Replaces `${VAR}` with the variable's value; an unset variable is an error (a label silently
/// empty would merge two pods' series).
pub fn expand_env(value: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut missing = None;
    let out = ENV_REF.replace_all(value, |c: &regex_lite::Captures<'_>| match env(&c[1]) {
        Some(v) => v,
        None => {
            missing.get_or_insert_with(|| c[1].to_string());
            String::new()
        }
    });
    match missing {
        Some(var) => Err(format!(
            "environment variable {var} is not set (referenced as ${{{var}}})"
        )),
        None => Ok(out.into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn settings(yaml: &str) -> Result<Settings, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sidewatch.yml");
        std::fs::write(&path, yaml).unwrap();
        build_settings(Some(&path), &Overrides::default(), &no_env).map_err(|mut e| {
            e.file = e.file.map(|f| f.file_name().unwrap().into());
            e
        })
    }

    #[test]
    fn full_config_parses() {
        let s = settings(
            "interval: 2s\nlisten_address: 127.0.0.1:9999\nprocfs: /host/proc\ncgroupfs: /host/sys/fs/cgroup\ntargets:\n  - name: api\n    cmdline: 'api --serve'\n    children: true\n    smaps: true\n    cgroup_labels: true\n    labels: {pod: p1}\n  - name: db\n    pid_file: /run/db.pid\n",
        )
        .unwrap();
        assert_eq!(s.interval, Duration::from_secs(2));
        assert_eq!(s.listen_address, "127.0.0.1:9999");
        assert_eq!(s.procfs, PathBuf::from("/host/proc"));
        assert_eq!(s.cgroupfs, PathBuf::from("/host/sys/fs/cgroup"));
        assert_eq!(s.targets.len(), 2);
        assert!(s.targets[0].cgroup_labels && !s.targets[1].cgroup_labels);
        assert_eq!(s.targets[0].name, "api");
        assert!(s.targets[0].children && s.targets[0].smaps);
        assert_eq!(s.targets[0].labels, vec![("pod".into(), "p1".into())]);
        assert!(
            matches!(&s.targets[1].selector, Selector::PidFile(p) if p == Path::new("/run/db.pid"))
        );
    }

    #[test]
    fn defaults_apply() {
        let s = settings("targets: []\n").unwrap();
        assert_eq!(s.interval, DEFAULT_INTERVAL);
        assert_eq!(s.listen_address, DEFAULT_LISTEN_ADDRESS);
        assert_eq!(s.procfs, PathBuf::from("/proc"));
        assert_eq!(s.cgroupfs, PathBuf::from("/sys/fs/cgroup"));
    }

    #[test]
    fn unknown_field_names_file_line_and_field() {
        let e = settings("targets:\n  - name: api\n    pidfile: /run/x.pid\n").unwrap_err();
        assert_eq!(e.file, Some(PathBuf::from("sidewatch.yml")));
        assert_eq!(e.line, Some(3));
        assert_eq!(e.field, "targets[0].pidfile");
        assert!(e.reason.contains("unknown field `pidfile`"), "{}", e.reason);
        let shown = e.to_string();
        assert!(shown.starts_with("config file sidewatch.yml, line 3 column 5, field `targets[0].pidfile`: unknown field"), "{shown}");
    }

    #[test]
    fn bad_regex_and_duration_are_located() {
        let e = settings("targets:\n  - name: api\n    cmdline: 'a(b'\n").unwrap_err();
        assert_eq!(e.field, "targets[0].cmdline");
        // Errors raised while converting a value point at its target's entry.
        assert!(matches!(e.line, Some(2..=3)), "{:?}", e.line);
        assert!(
            e.reason.contains("invalid regular expression"),
            "{}",
            e.reason
        );
        let e = settings("interval: fast\n").unwrap_err();
        assert_eq!(e.field, "interval");
        assert!(
            e.reason.contains("invalid duration \"fast\""),
            "{}",
            e.reason
        );
    }

    #[test]
    fn semantic_errors_name_the_field() {
        let e = settings("targets:\n  - name: api\n").unwrap_err();
        assert_eq!(e.field, "targets[0]");
        assert!(e.reason.contains("has no matcher"), "{}", e.reason);
        let e = settings("targets:\n  - {name: a, comm: x}\n  - {name: a, comm: y}\n").unwrap_err();
        assert_eq!(e.field, "targets[1].name");
        assert!(e.reason.contains("duplicate"));
        let e = settings("targets:\n  - {name: a, pid: 1, comm: x}\n").unwrap_err();
        assert_eq!(e.field, "targets[0].pid");
        let e = settings("targets:\n  - {name: a, comm: abcdefghijklmnopq}\n").unwrap_err();
        assert_eq!(e.field, "targets[0].comm");
        let e = settings("targets:\n  - {name: a, comm: x, labels: {target: y}}\n").unwrap_err();
        assert_eq!(e.field, "targets[0].labels.target");
        let e = settings("targets:\n  - {name: a, comm: x, labels: {9bad: y}}\n").unwrap_err();
        assert_eq!(e.field, "targets[0].labels.9bad");
        let e = settings("interval: 1ms\n").unwrap_err();
        assert_eq!(e.field, "interval");
        assert!(e.reason.contains("too short"));
        let e = settings("listen_address: nowhere\n").unwrap_err();
        assert_eq!(e.field, "listen_address");
    }

    #[test]
    fn constant_labels_clashing_with_own_series_are_located() {
        // Both broke every scrape: the rules families carry `slo` and `severity` themselves.
        for (name, family) in [
            ("slo", "sidewatch_slo_samples_total"),
            ("severity", "sidewatch_alert"),
            ("alertname", "sidewatch_alert"),
            ("le", "sidewatch_tick_duration_seconds_bucket"),
        ] {
            let e = settings(&format!(
                "targets:\n  - name: api\n    comm: api\n    labels:\n      team: pay\n      {name}: gold\n"
            ))
            .unwrap_err();
            assert_eq!(e.file, Some(PathBuf::from("sidewatch.yml")));
            assert_eq!(e.field, format!("targets[0].labels.{name}"));
            assert!(matches!(e.line, Some(4..=6)), "{:?}", e.line);
            assert_eq!(
                e.reason,
                format!(
                    "label name \"{name}\" is used by sidewatch's own series (family {family}); pick another name"
                )
            );
        }
        let e = settings("targets:\n  - {name: a, comm: x, labels: {__x: y}}\n").unwrap_err();
        assert_eq!(e.field, "targets[0].labels.__x");
        assert!(e.reason.contains("starts with __"), "{}", e.reason);
        let e = settings("targets:\n  - {name: a, comm: x, labels: {'a b': y}}\n").unwrap_err();
        assert_eq!(e.field, "targets[0].labels");
        assert!(e.reason.contains("not a valid Prometheus label name"));
        // A flag target is checked too, and the error names the flag.
        let o = Overrides {
            target: Some(TargetFile {
                name: "app".into(),
                pid: Some(1),
                labels: [("instance".to_string(), "x".to_string())].into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let e = build_settings(None, &o, &no_env).unwrap_err();
        assert_eq!(e.field, "--label");
        assert_eq!(
            e.reason,
            "label name \"instance\" is set by Prometheus on every series it scrapes; pick another name"
        );
    }

    #[test]
    fn history_section() {
        let s = settings(
            "interval: 1s\nhistory:\n  trend_windows: [30s, 2m, 10m]\n  min_history: 20m\n",
        )
        .unwrap();
        assert_eq!(
            s.history.trend_windows,
            vec![
                Duration::from_secs(30),
                Duration::from_secs(120),
                Duration::from_secs(600)
            ]
        );
        assert_eq!(s.history.min_history, Duration::from_secs(1200));
        let s = settings("targets: []\n").unwrap();
        assert_eq!(s.history, crate::history::HistoryConfig::default());

        let e = settings("history:\n  trend_windows: [15m, fast]\n").unwrap_err();
        assert_eq!(e.field, "history.trend_windows[1]");
        assert_eq!(e.line, Some(2));
        assert!(
            e.reason.contains("invalid duration \"fast\""),
            "{}",
            e.reason
        );
        let e = settings("history:\n  trend_window: [15m]\n").unwrap_err();
        assert_eq!(e.field, "history.trend_window");
        assert!(e.reason.contains("unknown field"), "{}", e.reason);
        let e = settings("history:\n  trend_windows: [1h, 15m]\n").unwrap_err();
        assert_eq!(e.field, "history.trend_windows[1]");
        assert_eq!(
            e.reason,
            "15m is not longer than the window before it (1h); list windows shortest first, each once"
        );
        let e = settings("history:\n  trend_windows: [15m, 2d]\n").unwrap_err();
        assert_eq!(e.field, "history.trend_windows[1]");
        assert_eq!(
            e.reason,
            "2days is longer than 1day, the span of the per-minute history"
        );
        let e = settings("interval: 10s\nhistory:\n  trend_windows: [1m]\n").unwrap_err();
        assert_eq!(e.field, "history.trend_windows[0]");
        assert_eq!(
            e.reason,
            "1m is shorter than 12 intervals (12 × 10s = 2m): each of the 12 segments of a window needs a tick"
        );
        let e = settings("interval: 100ms\nhistory:\n  trend_windows: [10m]\n").unwrap_err();
        assert_eq!(
            e.reason,
            "10m can never be covered: at interval 100ms the raw ring holds 6m of ticks, and per-minute data covers windows from 12m on"
        );
        let e = settings("history:\n  trend_windows: []\n").unwrap_err();
        assert_eq!(e.field, "history.trend_windows");
        let e = settings("history:\n  min_history: 15d\n").unwrap_err();
        assert_eq!(e.field, "history.min_history");
        assert!(
            e.reason.starts_with("15days is out of range"),
            "{}",
            e.reason
        );
        let e = settings("targets:\n  - {name: a, comm: x, labels: {window: y}}\n").unwrap_err();
        assert_eq!(e.field, "targets[0].labels.window");
    }

    #[test]
    fn wrong_type_is_located() {
        let e = settings("targets:\n  - name: api\n    pid: twelve\n").unwrap_err();
        assert_eq!(e.field, "targets[0].pid");
        assert_eq!(e.line, Some(3));
        assert!(e.reason.contains("invalid type"), "{}", e.reason);
    }

    #[test]
    fn env_expansion() {
        let env = |k: &str| (k == "POD").then(|| "web-1".to_string());
        assert_eq!(expand_env("${POD}-x", &env).unwrap(), "web-1-x");
        assert_eq!(expand_env("plain", &env).unwrap(), "plain");
        let e = expand_env("${NOPE}", &env).unwrap_err();
        assert!(e.contains("NOPE is not set"), "{e}");
    }

    #[test]
    fn listen_addresses() {
        assert_eq!(parse_listen_address(":9858").unwrap(), ("".into(), 9858));
        assert_eq!(
            parse_listen_address("[::1]:80").unwrap(),
            ("::1".into(), 80)
        );
        assert!(parse_listen_address("9858").is_err());
        assert!(parse_listen_address(":99999").is_err());
    }

    #[test]
    fn flag_target_conflicting_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yml");
        std::fs::write(&path, "targets:\n  - {name: app, comm: x}\n").unwrap();
        let o = Overrides {
            target: Some(TargetFile {
                name: "app".into(),
                pid: Some(1),
                ..Default::default()
            }),
            ..Default::default()
        };
        let e = build_settings(Some(&path), &o, &no_env).unwrap_err();
        assert_eq!(e.field, "--name");
        assert_eq!(e.file, None);
    }
}
