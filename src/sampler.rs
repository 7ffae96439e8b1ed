//! The tick: discover targets → read procfs → add per-process deltas to the targets' counters →
//! evaluate rules → record history (and compute its views) → build a [`Snapshot`] → render and
//! publish it. Runs on its own blocking thread.
//!
//! Counter accounting: each process is tracked by identity (pid, start time) through a lifecycle
//! (see [`account`]): its first observation contributes its whole value (it counts from its
//! start); later ticks add the delta since the previous readable value; a tick that misses it
//! adds nothing and forgets nothing; a process that is gone stops contributing. No counter ever
//! decreases, whatever the target's processes do.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

mod account;
mod app;
mod cgroup;
mod net;
mod notice;

use crate::expose;
use crate::histogram::HistogramValues;
use crate::sample::{TargetCounterValues, TargetSample};
use crate::snapshot::Snapshot;
use crate::source::cgroup::CgroupReader;
use crate::source::proc::{
    Identity, ProcReader, ProcessReading, ReadFailure, ReadOptions, Source, StatFigures, read_self,
};
use crate::source::settings::ExecSettings;
use crate::state::{Shared, TargetCounters};
use crate::target::{Discovery, Member, TargetSpec};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const REVISION: &str = match option_env!("SIDEWATCH_REVISION") {
    Some(r) => r,
    None => "unknown",
};

/// Upper bounds of `sidewatch_tick_duration_seconds`: 100 µs to ~1.6 s.
const TICK_BUCKETS: [f64; 11] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.4, 1.6,
];

/// Applies a changed `profiles:` to a kept target: counters and trigger state stay.
fn reconfigure_profiles(p: &mut Option<crate::profiles::Profiler>, spec: &TargetSpec) {
    match (p.as_mut(), &spec.profiles) {
        (Some(old), Some(new)) if old.spec() != new => old.reconfigure(new.clone()),
        (Some(_), Some(_)) => {}
        (_, new) => {
            *p = new
                .clone()
                .map(|n| crate::profiles::Profiler::new(&spec.name, n))
        }
    }
}

/// Per-target state kept across ticks.
#[derive(Debug)]
struct Tracker {
    spec: TargetSpec,
    counters: Arc<TargetCounters>,
    processes: account::Processes,
    /// The target's main process; remembered while the target is down, so its return under a
    /// new identity counts as a restart.
    primary: Option<Identity>,
    cgroup: cgroup::CgroupTracker,
    /// Fetches the application's metrics endpoint when the target has `app:`.
    app: Option<crate::source::app::AppPoller>,
    /// The app's GC counters made restart-proof (see [`crate::runtime`]).
    runtime: crate::runtime::RuntimeCounters,
    /// Probes the application when the target has `probe:`.
    probe: Option<crate::source::probe::Prober>,
    /// The target's network namespace.
    net: net::NetTracker,
    /// The main process's settings at exec, kept for its identity.
    exec: Option<(Identity, Arc<ExecSettings>)>,
    /// Captures pprof profiles on triggers when the target has `profiles:`.
    profiles: Option<crate::profiles::Profiler>,
}

impl Tracker {
    fn new(spec: TargetSpec) -> Self {
        Tracker {
            cgroup: cgroup::CgroupTracker::new(spec.cgroup_labels),
            app: spec.app.clone().map(crate::source::app::AppPoller::new),
            runtime: crate::runtime::RuntimeCounters::default(),
            probe: spec.probe.clone().map(crate::source::probe::Prober::new),
            profiles: spec
                .profiles
                .clone()
                .map(|p| crate::profiles::Profiler::new(&spec.name, p)),
            net: net::NetTracker::default(),
            spec,
            counters: Arc::new(TargetCounters::default()),
            processes: account::Processes::default(),
            primary: None,
            exec: None,
        }
    }

    /// The settings of the main process `id`, read once per identity: `environ` and `cmdline`
    /// are fixed at exec.
    fn exec_settings(&mut self, reader: &ProcReader, id: Identity) -> Arc<ExecSettings> {
        match &self.exec {
            Some((known, e)) if *known == id => e.clone(),
            _ => {
                let e = Arc::new(crate::source::settings::read(reader.root(), id.pid));
                self.exec = Some((id, e.clone()));
                e
            }
        }
    }

    fn update(
        &mut self,
        reader: &ProcReader,
        members: &[Member],
        failures: &mut Vec<ReadFailure>,
    ) -> TargetSample {
        let mut s = TargetSample {
            name: self.spec.name.clone(),
            labels: self.spec.labels.clone(),
            ..Default::default()
        };
        let present: HashSet<Identity> = members.iter().map(|m| m.stat.identity).collect();
        self.processes.begin(reader, &present, failures);
        let opts = ReadOptions {
            smaps: self.spec.smaps,
            thread_totals: self.spec.thread_totals,
        };
        // Read every member first, parents before their descendants (see `account` on reaped
        // children's I/O).
        let readings: Vec<(&Member, Option<ProcessReading>)> = parents_first(members)
            .into_iter()
            .map(|m| (m, read_member(reader, m, opts, failures)))
            .collect();
        let mut first_seen: HashSet<Identity> = HashSet::new();
        // Gone between discovery and its read: its stat figures still count, then it is gone.
        for (m, _) in readings.iter().filter(|(_, r)| r.is_none()) {
            if self.processes.account(&self.counters, &m.stat, None) {
                first_seen.insert(m.stat.identity);
            }
            self.processes.forget(&m.stat.identity);
        }
        for (m, r) in &readings {
            let Some(r) = r else { continue };
            if self.processes.account(&self.counters, &m.stat, Some(r)) {
                first_seen.insert(m.stat.identity);
            }
            if m.is_live() {
                add_live(&mut s, &m.stat, r);
            }
        }

        // The primary is the oldest live directly selected process.
        let primary = members
            .iter()
            .filter(|m| m.direct && m.is_live())
            .min_by_key(|m| (m.stat.identity.starttime_ticks, m.stat.identity.pid));
        if let Some(m) = primary {
            let id = m.stat.identity;
            if let Some(old) = self.primary {
                if old != id && !present.contains(&old) && first_seen.contains(&id) {
                    self.counters.restarts.fetch_add(1, Ordering::Relaxed);
                }
            }
            self.primary = Some(id);
            s.primary_pid = Some(id.pid);
            s.primary_comm = Some(m.stat.comm.clone());
            s.start_time_seconds = reader.start_time_seconds(id);
            s.exec = Some(self.exec_settings(reader, id));
        }
        s.up = s.processes > 0;
        s.counters = self.counter_values(reader);
        s
    }

    fn counter_values(&self, reader: &ProcReader) -> TargetCounterValues {
        let c = &self.counters;
        let secs = |t: Option<u64>| t.map(|t| reader.ticks_to_seconds(t));
        TargetCounterValues {
            cpu_user_seconds_total: secs(c.cpu_user_ticks.get()),
            cpu_system_seconds_total: secs(c.cpu_system_ticks.get()),
            io_read_bytes_total: c.io_read_bytes.get(),
            io_write_bytes_total: c.io_write_bytes.get(),
            voluntary_context_switches_total: c.voluntary_context_switches.get(),
            involuntary_context_switches_total: c.involuntary_context_switches.get(),
            minor_page_faults_total: c.minor_faults.get(),
            major_page_faults_total: c.major_faults.get(),
            cpu_wait_seconds_total: c.cpu_wait_nanoseconds.get().map(|ns| ns as f64 / 1e9),
            restarts_total: c.restarts.load(Ordering::Relaxed),
        }
    }
}

/// Reads one member's files; `None` when its directory is gone.
fn read_member(
    reader: &ProcReader,
    m: &Member,
    opts: ReadOptions,
    failures: &mut Vec<ReadFailure>,
) -> Option<ProcessReading> {
    match reader.open(m.stat.identity.pid) {
        // A zombie's `io` holds its final I/O (the rest is gone with its memory).
        Ok(h) if !m.is_live() => Some(ProcessReading {
            figures: h.io_figures(failures),
            ..Default::default()
        }),
        Ok(h) => Some(h.process(&m.stat, opts, failures)),
        Err(error) => {
            failures.push(ReadFailure {
                source: Source::Status,
                error,
            });
            None
        }
    }
}

/// The members ordered so that every member comes after its parent when that is a member too
/// (by depth in the member tree, then pid).
fn parents_first(members: &[Member]) -> Vec<&Member> {
    let ppid: HashMap<i32, i32> = members
        .iter()
        .map(|m| (m.stat.identity.pid, m.stat.ppid))
        .collect();
    let depth = |mut pid: i32| {
        let mut d = 0usize;
        // Bounded: a pid table read across ticks could hold a loop.
        while let Some(&parent) = ppid.get(&pid) {
            if !ppid.contains_key(&parent) || d > members.len() {
                break;
            }
            pid = parent;
            d += 1;
        }
        d
    };
    let mut out: Vec<&Member> = members.iter().collect();
    out.sort_by_cached_key(|m| (depth(m.stat.identity.pid), m.stat.identity.pid));
    out
}

/// Adds a live process's gauges of this tick to the target's sums.
fn add_live(s: &mut TargetSample, st: &StatFigures, r: &ProcessReading) {
    let f = &r.figures;
    s.processes += 1;
    s.pids.push(st.identity.pid);
    add(&mut s.resident_memory_bytes, f.resident_memory_bytes);
    add(&mut s.virtual_memory_bytes, Some(st.virtual_memory_bytes));
    add(&mut s.swap_bytes, f.swap_bytes);
    add(
        &mut s.proportional_memory_bytes,
        f.proportional_memory_bytes,
    );
    add(&mut s.threads, Some(st.threads));
    add(&mut s.open_fds, f.open_fds);
    if let (Some(open), Some(Some(limit))) = (f.open_fds, r.max_fds_soft) {
        if limit > 0 {
            let ratio = open as f64 / limit as f64;
            s.fd_utilization_ratio = Some(s.fd_utilization_ratio.map_or(ratio, |x| x.max(ratio)));
        }
    }
}

fn add(sum: &mut Option<u64>, v: Option<u64>) {
    if let Some(v) = v {
        *sum = Some(sum.unwrap_or(0).saturating_add(v));
    }
}

/// Messages to the sampler thread.
#[derive(Debug)]
pub enum Control {
    /// New targets and interval (after a successful reload).
    Reload {
        targets: Vec<TargetSpec>,
        interval: Duration,
        rules: crate::rules::RuleSet,
        history: crate::history::HistoryConfig,
        tcp_states: bool,
    },
    Shutdown,
}

/// Owns all sampling state. `tick` is usable directly (for `once` and tests).
#[derive(Debug)]
pub struct Sampler {
    reader: ProcReader,
    live: ProcReader,
    discovery: Discovery,
    trackers: Vec<Tracker>,
    /// Reads cgroup figures when set (see [`Sampler::with_cgroups`]).
    cgroups: Option<CgroupReader>,
    read_errors: BTreeMap<Source, u64>,
    ticks_total: u64,
    tick_duration: HistogramValues,
    shared: Arc<Shared>,
    /// Evaluates rules and SLOs each tick once [`Sampler::set_rules`] was called.
    rules: Option<crate::rules::RulesEngine>,
    /// Keeps history, trends and recommendations once [`Sampler::set_history`] was called.
    history: Option<crate::history::HistoryStore>,
    /// Logs each target's found / not found state once per change.
    notices: notice::Notices,
    /// Where app-metrics fetches run (see [`Sampler::with_app_runtime`]).
    app_runtime: Option<tokio::runtime::Handle>,
    /// Reads the targets' network namespaces (same procfs root as `reader`).
    net: crate::source::net::NetReader,
    /// Count TCP sockets by state (`network.tcp_states`, `--no-tcp-states`; docs/network.md).
    tcp_states: bool,
    /// Where the host's and sidewatch's own network namespaces are, read at the first tick.
    namespaces: Option<net::Namespaces>,
}

impl Sampler {
    pub fn new(reader: ProcReader, targets: Vec<TargetSpec>, shared: Arc<Shared>) -> Self {
        let live = if reader.root() == std::path::Path::new("/proc") {
            reader.clone()
        } else {
            ProcReader::new("/proc")
        };
        Sampler {
            net: crate::source::net::NetReader::new(reader.root().to_path_buf()),
            reader,
            live,
            discovery: Discovery::default(),
            trackers: targets.into_iter().map(Tracker::new).collect(),
            cgroups: None,
            read_errors: Source::ALL.iter().map(|s| (*s, 0)).collect(),
            ticks_total: 0,
            tick_duration: HistogramValues::new(&TICK_BUCKETS),
            shared,
            rules: None,
            history: None,
            notices: notice::Notices::default(),
            app_runtime: None,
            tcp_states: true,
            namespaces: None,
        }
    }

    /// Whether to count TCP sockets by state (`sidewatch_tcp_connections`): the one network
    /// figure whose cost grows with the namespace's socket count beyond the listeners.
    pub fn with_tcp_states(mut self, on: bool) -> Self {
        self.tcp_states = on;
        self
    }

    /// Runs the targets' app-metrics fetches on `rt`, one per tick and target, taken at the
    /// next tick. Without it, only [`Sampler::fetch_apps_blocking`] fetches.
    pub fn with_app_runtime(mut self, rt: tokio::runtime::Handle) -> Self {
        self.app_runtime = Some(rt);
        self
    }

    /// Fetches every target's app metrics now, waiting up to each timeout (`sidewatch once`);
    /// the next tick takes the results.
    pub fn fetch_apps_blocking(&self, rt: &tokio::runtime::Runtime) {
        for poller in self.trackers.iter().filter_map(|t| t.app.as_ref()) {
            poller.fetch_blocking(rt);
        }
        for prober in self.trackers.iter().filter_map(|t| t.probe.as_ref()) {
            prober.probe_blocking(rt);
        }
    }

    /// The targets not found in the last tick, with the reason (what `once` reports).
    pub fn missing_targets(&self) -> impl Iterator<Item = (&str, &str)> {
        self.trackers.iter().filter_map(|t| {
            let name = t.spec.name.as_str();
            self.notices.missing(name).map(|why| (name, why))
        })
    }

    /// Starts (or reconfigures) the history; the rings of every kept target stay.
    pub fn set_history(&mut self, config: crate::history::HistoryConfig, interval: Duration) {
        match &mut self.history {
            Some(h) => h.reconfigure(config, interval),
            None => self.history = Some(crate::history::HistoryStore::new(config, interval)),
        }
    }

    /// Starts (or reconfigures) rule evaluation; unchanged rules keep their state.
    pub fn set_rules(&mut self, set: crate::rules::RuleSet) {
        match &mut self.rules {
            Some(engine) => engine.reconfigure(set),
            None => {
                let cpus = self.reader.online_cpus();
                self.rules = Some(crate::rules::RulesEngine::new(set, cpus.map(f64::from)));
            }
        }
    }

    /// Also reads the targets' cgroups through `reader` every tick.
    pub fn with_cgroups(mut self, reader: CgroupReader) -> Self {
        self.cgroups = Some(reader);
        self
    }

    /// Replaces the target list. A target whose definition is unchanged keeps its counters and
    /// process history; a changed or new one starts afresh. A change of `app:` or `probe:`
    /// alone only replaces that source: where the app's metrics come from and how it is probed
    /// say nothing about the processes.
    pub fn set_targets(&mut self, targets: Vec<TargetSpec>) {
        let mut old: Vec<Tracker> = std::mem::take(&mut self.trackers);
        let without_app = |s: &TargetSpec| TargetSpec {
            app: None,
            probe: None,
            profiles: None,
            ..s.clone()
        };
        self.trackers = targets
            .into_iter()
            .map(|spec| {
                if let Some(i) = old.iter().position(|t| t.spec == spec) {
                    return old.swap_remove(i);
                }
                let bare = without_app(&spec);
                match old.iter().position(|t| without_app(&t.spec) == bare) {
                    Some(i) => {
                        let mut t = old.swap_remove(i);
                        if t.spec.app != spec.app {
                            t.app = spec.app.clone().map(crate::source::app::AppPoller::new);
                        }
                        if t.spec.probe != spec.probe {
                            t.probe = spec.probe.clone().map(crate::source::probe::Prober::new);
                        }
                        reconfigure_profiles(&mut t.profiles, &spec);
                        t.spec = spec;
                        t
                    }
                    None => Tracker::new(spec),
                }
            })
            .collect();
    }

    /// One tick: read, account, snapshot. Failures are counted, logged at debug level, and
    /// never stop the tick; a target found or not found is logged once per change (`notice`).
    pub fn tick(&mut self) -> Snapshot {
        let started = Instant::now();
        let timestamp_seconds = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let mut failures = Vec::new();
        let specs = self.trackers.iter().map(|t| &t.spec);
        let members = self.discovery.discover(&self.reader, specs, &mut failures);
        let mut targets = Vec::with_capacity(self.trackers.len());
        // The host's namespace and sidewatch's own do not change: read once.
        let namespaces = *self
            .namespaces
            .get_or_insert_with(|| net::Namespaces::read(&self.net));
        let mut net_read = HashMap::new();
        for (tracker, members) in self.trackers.iter_mut().zip(&members) {
            let mut s = tracker.update(&self.reader, members, &mut failures);
            s.network = tracker.net.update(
                &self.net,
                namespaces,
                self.tcp_states,
                &s,
                &mut net_read,
                &mut failures,
            );
            if let Some(cg) = self.cgroups.as_mut() {
                s.cgroup_labels = tracker.spec.cgroup_labels;
                s.cgroups = tracker
                    .cgroup
                    .update(cg, &s, &tracker.counters.cgroup, &mut failures);
            }
            if let Some(poller) = &tracker.app {
                app::take(poller, self.shared.interval(), &mut s, &mut failures);
                let figures = s.app.as_deref().and_then(crate::runtime::detect);
                s.runtime = Some(tracker.runtime.update(timestamp_seconds, figures));
                if let Some(rt) = &self.app_runtime {
                    poller.start(rt);
                }
            }
            if let Some(prober) = &mut tracker.probe {
                if let Some(rt) = &self.app_runtime {
                    prober.ensure_started(rt, self.shared.interval());
                }
                s.probe = Some(prober.take());
            }
            targets.push(s);
        }
        let specs = self.trackers.iter().map(|t| &t.spec);
        self.notices.update(specs, &targets, &failures);
        let rules = self
            .rules
            .as_mut()
            .map(|e| e.evaluate(timestamp_seconds, &targets));
        let history = self
            .history
            .as_mut()
            .map(|h| h.update(timestamp_seconds, &targets));
        self.profile(
            timestamp_seconds,
            &mut targets,
            rules.as_ref(),
            history.as_deref(),
        );
        let exporter = match read_self(&self.live) {
            Ok(f) => Some(f),
            Err(e) => {
                failures.push(e);
                None
            }
        };
        for f in &failures {
            tracing::debug!(source = f.source.as_str(), error = %f.error, "read failed");
            *self.read_errors.entry(f.source).or_insert(0) += 1;
        }
        self.ticks_total += 1;
        self.tick_duration.observe(started.elapsed().as_secs_f64());
        let (reload_ok, reload_ts) = self.shared.last_reload();
        Snapshot {
            timestamp_seconds,
            targets,
            read_errors: self
                .read_errors
                .iter()
                .map(|(s, n)| (s.as_str(), *n))
                .collect(),
            ticks_total: self.ticks_total,
            host_cpus: self.reader.online_cpus(),
            tick_duration_seconds: self.tick_duration.clone(),
            scrapes_total: self.shared.scrapes_total.load(Ordering::Relaxed),
            config_last_reload_successful: reload_ok,
            config_last_reload_success_timestamp_seconds: reload_ts,
            exporter,
            version: VERSION,
            revision: REVISION,
            rules,
            history,
        }
    }

    /// Judges every target's profile triggers on this tick's figures, alerts and leak verdicts;
    /// captures start on the app runtime (none without one, e.g. `sidewatch once`).
    fn profile(
        &mut self,
        now: f64,
        targets: &mut [TargetSample],
        rules: Option<&crate::rules::RulesSnapshot>,
        history: Option<&crate::history::HistoryViews>,
    ) {
        for (tracker, s) in self.trackers.iter_mut().zip(targets.iter_mut()) {
            let Some(p) = &mut tracker.profiles else {
                continue;
            };
            let trends = history
                .and_then(|h| h.target(&s.name))
                .map(|(v, _)| &v.trends);
            let inputs = crate::profiles::Inputs {
                now,
                sample: s,
                alerts: rules.map_or(&[], |r| r.alerts.as_slice()),
                leak: trends.and_then(|t| t.leak.as_ref()),
                tasks_leak: trends.and_then(|t| t.tasks_leak.as_ref()),
            };
            let sample = p.tick(self.app_runtime.as_ref(), &inputs);
            s.profiles = Some(sample);
        }
    }

    /// Tick, render, publish.
    pub fn tick_and_publish(&mut self) {
        let snap = self.tick();
        self.shared.publish(expose::publish(Arc::new(snap)));
    }

    /// Runs ticks every `interval` until told to shut down. Missed ticks are skipped, not
    /// bunched: after a slow tick the next one starts at the next multiple of the interval.
    pub fn run(mut self, mut interval: Duration, control: Receiver<Control>) {
        let mut next = Instant::now();
        loop {
            self.tick_and_publish();
            next += interval;
            let now = Instant::now();
            if next <= now {
                let behind = now - next;
                let skip = behind.as_nanos() / interval.as_nanos().max(1) + 1;
                next += interval * u32::try_from(skip).unwrap_or(u32::MAX);
                tracing::warn!(
                    skipped = skip as u64,
                    "tick took longer than the interval; skipping missed ticks"
                );
            }
            loop {
                let wait = next.saturating_duration_since(Instant::now());
                match control.recv_timeout(wait) {
                    Ok(Control::Reload {
                        targets,
                        interval: i,
                        rules,
                        history,
                        tcp_states,
                    }) => {
                        self.tcp_states = tcp_states;
                        self.set_targets(targets);
                        self.set_rules(rules);
                        self.set_history(history, i);
                        if i != interval {
                            interval = i;
                            self.shared.set_interval(i);
                            next = Instant::now() + i;
                        }
                    }
                    Ok(Control::Shutdown) | Err(RecvTimeoutError::Disconnected) => return,
                    Err(RecvTimeoutError::Timeout) => break,
                }
            }
        }
    }
}
