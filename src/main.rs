//! The `sidewatch` binary: command line, wiring, signals.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use tokio::signal::unix::{SignalKind, signal};

use sidewatch::config::{self, ConfigError, Overrides, Settings, TargetFile};
use sidewatch::sampler::{Control, Sampler};
use sidewatch::source::app::AppSpec;
use sidewatch::source::cgroup::CgroupReader;
use sidewatch::source::probe::ProbeSpec;
use sidewatch::source::proc::ProcReader;
use sidewatch::state::Shared;
use sidewatch::target::{Selector, TargetSpec};
use sidewatch::{expose, server, webconfig};

const EXAMPLES: &str = "\
Examples:
  Watch your own shell, serve on :9858:
      sidewatch --pid $$ --name shell
  Watch every nginx process, sampling each second:
      sidewatch --comm nginx --interval 1s
  Watch a service by its pid file (re-read every tick):
      sidewatch --pid-file /run/api.pid --name api
  Use a config file with several targets, and check it first:
      sidewatch check-config /etc/sidewatch.yml && sidewatch --config /etc/sidewatch.yml
  Wrap a command: start it, watch it and its children, exit with its status:
      sidewatch run --web.listen-address 127.0.0.1:9858 -- ./server --port 8080
  Serve over TLS with basic auth (the web config format of node_exporter), /metrics only:
      sidewatch --pid-file /run/api.pid --web.config.file /etc/sidewatch/web.yml --metrics-only
  Print one sample and exit:
      sidewatch once --comm sshd --json

Every option can also be given as an environment variable (shown as [env: ...]).
A target not found is reported down and logged once per change: a warning with the reason (no
such pid, pid file missing or invalid, no process matching), an info line when it is found.
Signals: SIGTERM/SIGINT shut down gracefully; SIGHUP reloads --config and --web.config.file
(both are also reloaded when their files change).";

/// A Prometheus exporter that runs beside one application: it reads procfs for the processes it
/// watches, keeps counters that survive their restarts, and serves /metrics.
#[derive(Debug, Parser)]
#[command(
    name = "sidewatch",
    version = VERSION_LINE,
    about,
    after_help = EXAMPLES,
    max_term_width = 100,
    // The options of serve mode belong to it: `sidewatch --pid 1 rules` is an error, not a
    // target silently ignored.
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    opts: Opts,
    #[command(flatten)]
    web: WebArgs,
    #[command(flatten)]
    log: LogArgs,
}

impl Cli {
    /// The logging options of the subcommand given (serve mode's without one).
    fn log_args(&self) -> &LogArgs {
        match &self.command {
            Some(
                Command::Run { log, .. }
                | Command::Once { log, .. }
                | Command::Rules { log, .. }
                | Command::CheckConfig { log, .. },
            ) => log,
            Some(Command::Completions { .. } | Command::Man) | None => &self.log,
        }
    }
}

/// `--version`: the revision and build date come from build.rs.
const VERSION_LINE: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (revision ",
    env!("SIDEWATCH_REVISION"),
    ", built ",
    env!("SIDEWATCH_BUILD_DATE"),
    ")"
);

/// The config file of `check-config` and `rules`, taken the same way by both: as an argument
/// or with `--config` (the daemon's flag, and its environment variable).
#[derive(Debug, Clone, Args)]
struct ConfigFileArg {
    /// The YAML config file.
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
    /// The YAML config file (the same as FILE). Example: --config /etc/sidewatch/sidewatch.yml
    #[arg(long = "config", env = "SIDEWATCH_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
}

impl ConfigFileArg {
    fn path(&self) -> Option<&std::path::Path> {
        self.file.as_deref().or(self.config.as_deref())
    }
}

#[derive(Debug, Clone, Args)]
struct Opts {
    /// YAML config file with one or more named targets (see docs/configuration.md).
    /// Example: --config /etc/sidewatch/sidewatch.yml
    #[arg(long, env = "SIDEWATCH_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    /// Watch the process with this pid. Example: --pid 1234
    #[arg(
        long,
        env = "SIDEWATCH_PID",
        value_name = "N",
        help_heading = "Target (from flags)"
    )]
    pid: Option<i32>,

    /// Watch the process whose pid is in this file; re-read every tick, so a restarted service
    /// is followed. A missing, unreadable or invalid pid file is logged once per change (like
    /// any target not found), not every tick. Example: --pid-file /run/nginx.pid
    #[arg(
        long,
        env = "SIDEWATCH_PID_FILE",
        value_name = "FILE",
        help_heading = "Target (from flags)"
    )]
    pid_file: Option<PathBuf>,

    /// Watch every process whose command name (/proc/PID/comm, at most 15 bytes) equals NAME.
    /// Example: --comm nginx
    #[arg(
        long,
        env = "SIDEWATCH_COMM",
        value_name = "NAME",
        help_heading = "Target (from flags)"
    )]
    comm: Option<String>,

    /// Watch every process whose executable is PATH (full path) or has this base name.
    /// Example: --exe /usr/sbin/nginx
    #[arg(
        long,
        env = "SIDEWATCH_EXE",
        value_name = "PATH",
        help_heading = "Target (from flags)"
    )]
    exe: Option<String>,

    /// Watch every process whose command line (arguments joined by spaces) matches REGEX.
    /// Example: --cmdline 'java .*-jar app\.jar'
    #[arg(
        long,
        env = "SIDEWATCH_CMDLINE",
        value_name = "REGEX",
        help_heading = "Target (from flags)"
    )]
    cmdline: Option<String>,

    /// Also watch every descendant of the matched processes.
    #[arg(long, env = "SIDEWATCH_CHILDREN", help_heading = "Target (from flags)")]
    children: bool,

    /// Also read smaps_rollup for proportional memory (PSS). Off by default: it takes the
    /// target's mmap lock.
    #[arg(long, env = "SIDEWATCH_SMAPS", help_heading = "Target (from flags)")]
    smaps: bool,

    /// Read context switches and CPU wait of the main thread only, instead of summing every
    /// thread's `task/<tid>/` files (they are per-thread in the kernel). Saves about 15 µs of CPU
    /// per thread and tick on multi-threaded processes (bench/figures).
    #[arg(
        long,
        env = "SIDEWATCH_NO_THREAD_TOTALS",
        help_heading = "Target (from flags)"
    )]
    no_thread_totals: bool,

    /// The application's own metrics endpoint (Prometheus text or OpenMetrics), fetched every
    /// tick with the default timeout and body cap (a config file's `app:` sets more).
    /// Example: --app-metrics http://127.0.0.1:8080/metrics
    #[arg(
        long,
        env = "SIDEWATCH_APP_METRICS",
        value_name = "URL",
        help_heading = "Target (from flags)"
    )]
    app_metrics: Option<String>,

    /// An HTTP GET of this URL every tick, 2xx counting as success (a config file's `probe:`
    /// sets interval, timeout, method, headers, valid_status_codes, a body regex).
    /// Example: --probe http://127.0.0.1:8080/healthz
    #[arg(
        long,
        env = "SIDEWATCH_PROBE",
        value_name = "URL",
        help_heading = "Target (from flags)"
    )]
    probe: Option<String>,

    /// Report every distinct cgroup of the flag target's processes, with a `cgroup` label
    /// (default: only the cgroup of its main process, without that label).
    #[arg(
        long,
        env = "SIDEWATCH_CGROUP_LABELS",
        help_heading = "Target (from flags)"
    )]
    cgroup_labels: bool,

    /// Name of the target given by flags: the `target` label of its series.
    /// Default: the comm (of --comm, or of the process --pid or --cmdline selects at start),
    /// the exe base name, the command in `run`, or "app".
    #[arg(
        long,
        env = "SIDEWATCH_NAME",
        value_name = "NAME",
        help_heading = "Target (from flags)"
    )]
    name: Option<String>,

    /// Constant label added to the flag target's series; repeatable; ${VAR} is expanded from
    /// the environment (e.g. from the Kubernetes Downward API).
    /// Example: --label pod='${POD_NAME}' --label namespace=prod
    #[arg(
        long = "label",
        env = "SIDEWATCH_LABELS",
        value_name = "KEY=VALUE",
        value_delimiter = ',',
        help_heading = "Target (from flags)"
    )]
    labels: Vec<String>,

    /// Sampling interval (minimum 100ms). Example: --interval 1s   [default: 5s]
    #[arg(long, env = "SIDEWATCH_INTERVAL", value_name = "DURATION", value_parser = config::parse_duration)]
    interval: Option<Duration>,

    /// Root of the procfs to read, e.g. a host's /proc mounted into a container; sidewatch
    /// stops at start when it has no `stat` file or no pid directories.
    /// Example: --procfs /host/proc   [default: /proc]
    #[arg(long, env = "SIDEWATCH_PROCFS", value_name = "DIR")]
    procfs: Option<PathBuf>,

    /// Root of the cgroup filesystem to read; its layout (v1, v2, hybrid) comes from the mount
    /// table. A missing root is a warning at start; the cgroup series are then absent.
    /// Example: --cgroupfs /host/sys/fs/cgroup   [default: /sys/fs/cgroup]
    #[arg(long, env = "SIDEWATCH_CGROUPFS", value_name = "DIR")]
    cgroupfs: Option<PathBuf>,

    /// Don't count the TCP sockets of the targets' network namespaces by state
    /// (`sidewatch_tcp_connections`, a pass over every line of `net/tcp` and `net/tcp6`): with
    /// tens of thousands of sockets that pass is most of the tick (docs/network.md). Accept
    /// queues and counters stay. Config: `network: {tcp_states: false}`.
    #[arg(long, env = "SIDEWATCH_NO_TCP_STATES")]
    no_tcp_states: bool,

    /// The comm of the flag target's process at start (see `name_flag_target`).
    #[arg(skip)]
    default_name: Option<String>,
}

/// The web server's options: `sidewatch` (serve) and `sidewatch run`.
#[derive(Debug, Clone, Args)]
struct WebArgs {
    /// Address to serve /metrics on. ":PORT" listens on every interface.
    /// Example: --web.listen-address 127.0.0.1:9858   [default: :9858]
    #[arg(
        long = "web.listen-address",
        env = "SIDEWATCH_WEB_LISTEN_ADDRESS",
        value_name = "ADDR"
    )]
    listen_address: Option<String>,

    /// Web configuration file in the Prometheus exporter-toolkit format (TLS, basic auth,
    /// response headers, rate limit): the file node_exporter takes works unchanged. Re-read on
    /// SIGHUP and when it (or a certificate it names) changes.
    /// Example: --web.config.file /etc/sidewatch/web.yml
    #[arg(
        long = "web.config.file",
        env = "SIDEWATCH_WEB_CONFIG_FILE",
        value_name = "FILE",
        help_heading = "Web server"
    )]
    web_config_file: Option<PathBuf>,

    /// Serve only /metrics, /healthz and /readyz (no landing page, no other endpoint).
    #[arg(
        long = "metrics-only",
        env = "SIDEWATCH_METRICS_ONLY",
        help_heading = "Web server"
    )]
    metrics_only: bool,

    /// Time a client has to send a request head, counted from its first byte (from the
    /// connection's start for a new connection, TLS handshake included); slower clients are
    /// disconnected. Example: --web.header-timeout 2s
    #[arg(
        long = "web.header-timeout",
        env = "SIDEWATCH_WEB_HEADER_TIMEOUT",
        value_name = "DURATION",
        value_parser = config::parse_duration,
        default_value = "5s",
        help_heading = "Web server"
    )]
    header_timeout: Duration,

    /// Time a keep-alive connection may stay idle between requests. Example: --web.idle-timeout 1m
    #[arg(
        long = "web.idle-timeout",
        env = "SIDEWATCH_WEB_IDLE_TIMEOUT",
        value_name = "DURATION",
        value_parser = config::parse_duration,
        default_value = "2m",
        help_heading = "Web server"
    )]
    idle_timeout: Duration,

    /// Most connections served at once; more wait in the kernel's accept queue.
    /// Example: --web.max-connections 64
    #[arg(
        long = "web.max-connections",
        env = "SIDEWATCH_WEB_MAX_CONNECTIONS",
        value_name = "N",
        default_value_t = 256,
        value_parser = clap::value_parser!(u32).range(1..=65536),
        help_heading = "Web server"
    )]
    max_connections: u32,
}

/// Logging: serve mode and every subcommand that logs (not `completions` and `man`).
#[derive(Debug, Clone, Args)]
struct LogArgs {
    /// Log level of sidewatch's own events (other crates log warnings and errors only). Logs go
    /// to stderr.
    #[arg(
        long = "log.level",
        env = "SIDEWATCH_LOG_LEVEL",
        value_name = "LEVEL",
        value_enum,
        ignore_case = true,
        default_value_t = LogLevel::Info
    )]
    log_level: LogLevel,

    /// Log line format: `logfmt` (key=value pairs, as the Prometheus exporters log) or `json`
    /// (one object a line). Default: human-readable text.
    #[arg(
        long = "log.format",
        env = "SIDEWATCH_LOG_FORMAT",
        value_name = "FORMAT",
        value_enum
    )]
    log_format: Option<LogFormat>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start CMD, watch it and its descendants, forward SIGTERM/SIGINT/SIGHUP/SIGQUIT/SIGUSR1/
    /// SIGUSR2 to it, and exit with its exit status (128+N when killed by signal N).
    /// Example: sidewatch run -- ./server --port 8080
    Run {
        #[command(flatten)]
        log: LogArgs,
        #[command(flatten)]
        opts: Opts,
        #[command(flatten)]
        web: WebArgs,
        /// The command and its arguments, after `--`.
        #[arg(
            required = true,
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "CMD"
        )]
        command: Vec<String>,
    },
    /// Take one sample and print it (Prometheus text format, or JSON with --json), then exit.
    /// Exits 1 when no target is up (the sample is printed all the same; stderr says why each
    /// target was not found), 0 otherwise.
    /// Example: sidewatch once --pid $$
    Once {
        #[command(flatten)]
        log: LogArgs,
        #[command(flatten)]
        opts: Opts,
        /// Print JSON instead of the text exposition.
        #[arg(long)]
        json: bool,
        /// Print OpenMetrics text instead of Prometheus text 0.0.4.
        #[arg(long, conflicts_with = "json")]
        openmetrics: bool,
    },
    /// Print the Prometheus alerting and recording rules generated from the rules and SLOs of
    /// the config file (or the built-in defaults), for Prometheus's rule_files or a PrometheusRule.
    /// Example: sidewatch rules /etc/sidewatch.yml > sidewatch.rules.yml
    Rules {
        #[command(flatten)]
        log: LogArgs,
        #[command(flatten)]
        config: ConfigFileArg,
        /// `rules`: a Prometheus rule file; `prometheusrule`: a prometheus-operator
        /// PrometheusRule resource (monitoring.coreos.com/v1).
        #[arg(long, value_enum, default_value = "rules")]
        format: RulesFormat,
        /// The `job` label of the scrape job that scrapes sidewatch (used by
        /// SidewatchExporterDown and SidewatchExporterAbsent).
        #[arg(long, value_name = "JOB", default_value = sidewatch::promgen::DEFAULT_JOB)]
        job: String,
        /// Where the alerts' runbook_url links point: the runbooks' own URL (on your forge or
        /// wiki) instead of their path in the repository.
        /// Example: --runbook-base https://git.example.com/ops/sidewatch/-/blob/main/docs/runbooks.md
        #[arg(long, value_name = "URL", default_value = sidewatch::rules::DEFAULT_RUNBOOK_BASE)]
        runbook_base: String,
        /// The labels that identify a workload on the scraped series: the fleet recording rules
        /// combine the recommendations of its Pods by these (comma-separated).
        #[arg(
            long,
            value_name = "LABELS",
            value_delimiter = ',',
            default_value = "namespace,workload",
            value_parser = sidewatch::promgen::fleet::label_name
        )]
        workload_labels: Vec<String>,
    },
    /// Validate a config file and exit: 0 when valid, 1 with the file, field and reason when not.
    /// Example: sidewatch check-config /etc/sidewatch.yml
    CheckConfig {
        #[command(flatten)]
        log: LogArgs,
        #[command(flatten)]
        config: ConfigFileArg,
    },
    /// Print a shell completion script. Example: sidewatch completions bash > /etc/bash_completion.d/sidewatch
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff). Example: sidewatch man | man -l -
    Man,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Logfmt,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
    Off,
}

impl From<LogLevel> for tracing_subscriber::filter::LevelFilter {
    fn from(l: LogLevel) -> Self {
        match l {
            LogLevel::Error => Self::ERROR,
            LogLevel::Warn => Self::WARN,
            LogLevel::Info => Self::INFO,
            LogLevel::Debug => Self::DEBUG,
            LogLevel::Trace => Self::TRACE,
            LogLevel::Off => Self::OFF,
        }
    }
}

impl From<RulesFormat> for sidewatch::promgen::Format {
    fn from(f: RulesFormat) -> Self {
        match f {
            RulesFormat::Rules => Self::Rules,
            RulesFormat::PrometheusRule => Self::PrometheusRule,
        }
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum RulesFormat {
    Rules,
    #[value(name = "prometheusrule")]
    PrometheusRule,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_args());
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sidewatch: error: {e:#}");
            // As shells do: 127 for a command not found, 126 for one that cannot be executed.
            match e.downcast_ref::<NotStarted>() {
                Some(n) => ExitCode::from(n.exit_code()),
                None => ExitCode::from(1),
            }
        }
    }
}

fn init_logging(log: &LogArgs) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    // sidewatch's own events at LEVEL, other crates' at warn. A static target filter rather
    // than EnvFilter: EnvFilter compiles regular expressions to parse its directives, which
    // costs a few hundred KiB of resident memory for the life of the daemon.
    let filter = Targets::new()
        .with_target("sidewatch", LevelFilter::from(log.log_level))
        .with_default(LevelFilter::WARN);
    let registry = tracing_subscriber::registry().with(filter);
    match log.log_format {
        None => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                    .with_target(false),
            )
            .init(),
        Some(LogFormat::Logfmt) => registry
            .with(
                tracing_logfmt::builder()
                    .with_target(false)
                    .layer()
                    .with_writer(std::io::stderr),
            )
            .init(),
        Some(LogFormat::Json) => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_writer(std::io::stderr)
                    .with_target(false),
            )
            .init(),
    }
}

/// `sidewatch run`'s command could not be started.
#[derive(Debug, thiserror::Error)]
#[error("cannot start {command:?}")]
struct NotStarted {
    command: String,
    source: std::io::Error,
}

impl NotStarted {
    fn exit_code(&self) -> u8 {
        match self.source.kind() {
            std::io::ErrorKind::NotFound => 127,
            _ => 126,
        }
    }
}

fn env_lookup(k: &str) -> Option<String> {
    std::env::var(k).ok()
}

/// Names the flag target after its process's comm when neither --name nor --comm does, for
/// `--pid` and `--cmdline`. Looked up once at start: a reload or a restart of the process keeps
/// the name (a target's series must not change label).
fn name_flag_target(opts: &mut Opts) {
    if opts.name.is_some() || opts.comm.is_some() {
        return;
    }
    let selector = match (opts.pid, opts.cmdline.as_deref()) {
        (Some(pid), _) => Selector::Pid(pid),
        (None, Some(re)) => match config::parse_regex(re) {
            Ok(re) => Selector::Match {
                comm: None,
                exe: opts.exe.clone(),
                cmdline: Some(re),
            },
            // flag_target reports the bad expression.
            Err(_) => return,
        },
        (None, None) => return,
    };
    let procfs = opts
        .procfs
        .clone()
        .unwrap_or_else(|| PathBuf::from("/proc"));
    opts.default_name = sidewatch::target::first_comm(&ProcReader::new(procfs), selector);
}

/// The target defined by flags, if any flag selects processes.
fn flag_target(o: &Opts) -> Result<Option<TargetFile>, ConfigError> {
    if o.pid.is_none()
        && o.pid_file.is_none()
        && o.comm.is_none()
        && o.exe.is_none()
        && o.cmdline.is_none()
    {
        return Ok(None);
    }
    let cmdline = o
        .cmdline
        .as_deref()
        .map(config::parse_regex)
        .transpose()
        .map_err(|r| ConfigError::new(None, "--cmdline", r))?;
    let name = o
        .name
        .clone()
        .or_else(|| o.default_name.clone())
        .or_else(|| o.comm.clone())
        .or_else(|| {
            o.exe
                .as_deref()
                .and_then(|e| e.rsplit('/').next())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "app".to_string());
    let mut labels = std::collections::BTreeMap::new();
    for l in &o.labels {
        let (k, v) = l
            .split_once('=')
            .ok_or_else(|| ConfigError::new(None, "--label", format!("{l:?} is not KEY=VALUE")))?;
        labels.insert(k.to_string(), v.to_string());
    }
    Ok(Some(TargetFile {
        name,
        pid: o.pid,
        pid_file: o.pid_file.clone(),
        comm: o.comm.clone(),
        exe: o.exe.clone(),
        cmdline,
        children: o.children,
        smaps: o.smaps,
        thread_totals: !o.no_thread_totals,
        labels,
        cgroup_labels: o.cgroup_labels,
        app: o
            .app_metrics
            .clone()
            .map(|metrics_url| config::app::AppFile {
                metrics_url,
                ..Default::default()
            }),
        probe: o.probe.clone().map(|url| config::probe::ProbeFile {
            url,
            ..Default::default()
        }),
        profiles: None,
    }))
}

fn overrides(o: &Opts, listen_address: Option<&str>) -> Result<Overrides, ConfigError> {
    Ok(Overrides {
        interval: o.interval,
        listen_address: listen_address.map(str::to_string),
        procfs: o.procfs.clone(),
        cgroupfs: o.cgroupfs.clone(),
        target: flag_target(o)?,
        tcp_states: o.no_tcp_states.then_some(false),
    })
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Some(Command::CheckConfig { config, .. }) => check_config(&config),
        Some(Command::Rules {
            config,
            format,
            job,
            runbook_base,
            workload_labels,
            ..
        }) => rules(
            &config,
            sidewatch::promgen::Options {
                format: format.into(),
                job,
                runbook_base,
                workload_labels,
            },
        ),
        Some(Command::Once {
            mut opts,
            json,
            openmetrics,
            ..
        }) => {
            name_flag_target(&mut opts);
            once(&opts, json, openmetrics)
        }
        Some(Command::Run {
            mut opts,
            web,
            command,
            ..
        }) => {
            let base = command
                .first()
                .and_then(|c| c.rsplit('/').next())
                .unwrap_or("app")
                .to_string();
            name_flag_target(&mut opts);
            daemon(opts, web, Some((command, base)))
        }
        Some(Command::Completions { shell }) => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "sidewatch", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Man) => {
            let cmd = <Cli as clap::CommandFactory>::command();
            clap_mangen::Man::new(cmd)
                .render(&mut std::io::stdout())
                .context("cannot write the manual page")?;
            Ok(ExitCode::SUCCESS)
        }
        None => {
            let mut opts = cli.opts;
            name_flag_target(&mut opts);
            daemon(opts, cli.web, None)
        }
    }
}

/// `sidewatch check-config`.
fn check_config(arg: &ConfigFileArg) -> anyhow::Result<ExitCode> {
    let Some(file) = arg.path() else {
        <Cli as clap::CommandFactory>::command()
            .error(
                clap::error::ErrorKind::MissingRequiredArgument,
                "check-config needs the config file: sidewatch check-config FILE (or --config FILE)",
            )
            .exit();
    };
    let s = config::build_settings(Some(file), &Overrides::default(), &env_lookup)?;
    if s.targets.is_empty() {
        return Err(ConfigError::new(
            Some(file),
            "targets",
            "no targets: give at least one, with a name and one of pid, pid_file, comm, exe or cmdline",
        )
        .into());
    }
    config::check_rule_targets(&s)?;
    println!(
        "{}: valid; {} target(s): {}; {} rule(s){}, {} SLO(s){}",
        file.display(),
        s.targets.len(),
        s.targets
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        s.rules.rules.len(),
        if s.rules.default_rules {
            " (built-in)"
        } else {
            ""
        },
        s.rules.slos.len(),
        if s.rules.default_slos {
            " (built-in)"
        } else {
            ""
        },
    );
    for slo in &s.rules.slos {
        if let sidewatch::rules::SloKind::Latency { threshold, .. } = slo.kind {
            println!(
                "latency SLO {}: the bucket at the threshold, or the largest below it; with default buckets: {}",
                slo.name,
                sidewatch::request::threshold_buckets(threshold)
            );
        }
    }
    for note in &s.notes {
        println!("note: {note}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `sidewatch rules`.
fn rules(arg: &ConfigFileArg, options: sidewatch::promgen::Options) -> anyhow::Result<ExitCode> {
    // Only the rules matter here: a ${VAR} of a target label need not be set.
    let lenient = |k: &str| Some(env_lookup(k).unwrap_or_default());
    let settings = config::build_settings(arg.path(), &Overrides::default(), &lenient)?;
    let set = &settings.rules;
    let source = match (&settings.config_file, set.default_rules && set.default_slos) {
        (Some(f), false) => f
            .file_name()
            .map_or_else(|| f.display().to_string(), |n| n.to_string_lossy().into()),
        _ => "the built-in defaults".into(),
    };
    let out = sidewatch::promgen::render(set, &options, &source)?;
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// `sidewatch once`.
fn once(opts: &Opts, json: bool, openmetrics: bool) -> anyhow::Result<ExitCode> {
    let settings = load(opts, None)?;
    flag_app(opts, settings.interval, false)?;
    flag_probe(opts, settings.interval, false)?;
    if settings.targets.is_empty() {
        anyhow::bail!(NOTHING_TO_WATCH);
    }
    config::check_rule_targets(&settings)?;
    let (proc, cgroups) = readers(&settings)?;
    let shared = Shared::new(settings.interval);
    let has_app = settings
        .targets
        .iter()
        .any(|t| t.app.is_some() || t.probe.is_some());
    let mut sampler = Sampler::new(proc, settings.targets, shared)
        .with_cgroups(cgroups)
        .with_tcp_states(settings.tcp_states);
    if has_app {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        sampler.fetch_apps_blocking(&rt);
    }
    let snap = sampler.tick();
    let up = snap.targets.iter().any(|t| t.up);
    if json {
        println!("{}", serde_json::to_string_pretty(&snap)?);
    } else {
        let om = expose::render_openmetrics(Arc::new(snap));
        if openmetrics {
            print!("{om}");
        } else {
            print!("{}", expose::openmetrics_to_text(&om));
        }
    }
    if !up {
        let why: Vec<String> = sampler
            .missing_targets()
            .map(|(name, why)| format!("{name} ({why})"))
            .collect();
        eprintln!("sidewatch: error: no target is up: {}", why.join(", "));
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

const NOTHING_TO_WATCH: &str = "nothing to watch: give a target with --pid, --pid-file, --comm, --exe or --cmdline, a --config file with targets, or use `sidewatch run -- CMD` (see --help)";

/// The procfs and cgroupfs readers. A procfs root that is not one is fatal (every target would
/// only ever be down); a missing cgroupfs root is a warning (the cgroup series are absent).
fn readers(s: &Settings) -> anyhow::Result<(ProcReader, CgroupReader)> {
    sidewatch::source::proc::check_procfs_root(&s.procfs).map_err(|why| {
        anyhow::anyhow!(
            "procfs root {} {why}; give the directory where the procfs is mounted (--procfs or `procfs:` in the config)",
            s.procfs.display()
        )
    })?;
    let cgroups = CgroupReader::new(&s.cgroupfs, &s.procfs);
    if let Some(why) = cgroupfs_problem(&s.cgroupfs, &cgroups) {
        tracing::warn!(
            "cgroupfs root {} {why}: no cgroup series",
            s.cgroupfs.display()
        );
    }
    Ok((ProcReader::new(&s.procfs), cgroups))
}

/// Why no cgroup series can come from `root`, if none can.
fn cgroupfs_problem(root: &std::path::Path, reader: &CgroupReader) -> Option<String> {
    match std::fs::metadata(root) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some("does not exist".into()),
        Err(e) => Some(format!("cannot be read: {e}")),
        Ok(m) if !m.is_dir() => Some("is not a directory".into()),
        Ok(_) if reader.hierarchies().is_empty() => {
            Some("holds no cgroup hierarchy of the mount table".into())
        }
        Ok(_) => None,
    }
}

/// The settings from --config and the flags; `listen_address`: `--web.listen-address`.
fn load(opts: &Opts, listen_address: Option<&str>) -> Result<Settings, ConfigError> {
    let ov = overrides(opts, listen_address)?;
    config::build_settings(opts.config.as_deref(), &ov, &env_lookup)
}

/// Serve mode and wrap mode.
fn daemon(
    opts: Opts,
    web_args: WebArgs,
    wrap: Option<(Vec<String>, String)>,
) -> anyhow::Result<ExitCode> {
    let wrap_name = wrap
        .as_ref()
        .map(|(_, n)| opts.name.clone().unwrap_or_else(|| n.clone()));
    let mut settings = load(&opts, web_args.listen_address.as_deref())?;
    flag_app(&opts, settings.interval, wrap.is_some())?;
    flag_probe(&opts, settings.interval, wrap.is_some())?;
    if settings.targets.is_empty() && wrap.is_none() {
        anyhow::bail!(NOTHING_TO_WATCH);
    }
    check_web_timeouts(&web_args)?;
    let web_file = web_args.web_config_file.clone();
    let web = load_web_config(web_file.as_deref())?;
    let (proc, cgroups) = readers(&settings)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        // bcrypt checks run here, one at a time (see server::gate).
        .max_blocking_threads(2)
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let listener = server::bind(&settings.listen_address).await?;
        let child = match &wrap {
            Some((command, _)) => {
                let name = wrap_name.clone().unwrap_or_else(|| "app".into());
                Some(start_wrapped(&opts, &mut settings, command, &name)?)
            }
            None => None,
        };
        config::check_rule_targets(&settings)?;
        log_start(&settings, &listener, &web);
        let shared = Shared::new(settings.interval);
        let (tx, rx) = mpsc::channel();
        let sampler_thread = start_sampler(proc, cgroups, &settings, shared.clone(), rx)?;

        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server_task = tokio::spawn(server::serve(
            listener,
            shared.clone(),
            server_options(&web_args),
            web.clone(),
            async move {
                let _ = stop_rx.await;
            },
            Duration::from_millis(800),
        ));

        let reloader = Reloader::new(
            &opts,
            web_args.listen_address.clone(),
            settings.clone(),
            wrap_name
                .as_deref()
                .zip(child.as_ref().map(|c| c.pid.as_raw())),
            &tx,
            shared.clone(),
            web_file.map(|f| (f, web.clone())),
        );
        let exit = signals_loop(reloader, child).await?;
        let _ = tx.send(Control::Shutdown);
        let _ = stop_tx.send(());
        let _ = server_task.await;
        let _ = sampler_thread.join();
        tracing::info!("sidewatch stopped");
        Ok(exit)
    })
}

fn check_web_timeouts(web_args: &WebArgs) -> anyhow::Result<()> {
    if web_args.header_timeout < Duration::from_millis(100) {
        anyhow::bail!("--web.header-timeout must be at least 100ms");
    }
    if web_args.idle_timeout < Duration::from_secs(1) {
        anyhow::bail!("--web.idle-timeout must be at least 1s");
    }
    Ok(())
}

/// `--web.config.file`, or plain HTTP without authentication; swapped on reload.
fn load_web_config(path: Option<&std::path::Path>) -> anyhow::Result<server::WebHandle> {
    let web = match path {
        Some(path) => {
            webconfig::load(path).map_err(|e| anyhow::anyhow!("--web.config.file: {e}"))?
        }
        None => webconfig::WebConfig::default(),
    };
    Ok(Arc::new(arc_swap::ArcSwap::from_pointee(web)))
}

/// Starts the wrapped command and adds it to the targets under `name`.
fn start_wrapped(
    opts: &Opts,
    settings: &mut Settings,
    command: &[String],
    name: &str,
) -> anyhow::Result<Wrapped> {
    if settings.targets.iter().any(|t| t.name == name) {
        anyhow::bail!(
            "target name {name:?} of the wrapped command is already used; pick another with --name"
        );
    }
    let app = flag_app(opts, settings.interval, true)?;
    let probe = flag_probe(opts, settings.interval, true)?;
    let c = Wrapped::spawn(command)?;
    settings
        .targets
        .push(wrapped_target(name, c.pid.as_raw(), app, probe));
    Ok(c)
}

fn log_start(settings: &Settings, listener: &tokio::net::TcpListener, web: &server::WebHandle) {
    for note in &settings.notes {
        tracing::info!("{note}");
    }
    if let Ok(addr) = listener.local_addr() {
        // Tests read this line to find the port when started with port 0.
        tracing::info!("listening on {addr}");
    }
    tracing::info!(web = %web.load().summary, "web server");
    tracing::info!(
        address = %settings.listen_address,
        interval = %humantime::format_duration(settings.interval),
        targets = settings.targets.len(),
        "sidewatch started"
    );
}

/// The sampler runs on its own thread; app scrapes and probes run on the current runtime.
fn start_sampler(
    proc: ProcReader,
    cgroups: CgroupReader,
    settings: &Settings,
    shared: Arc<Shared>,
    rx: mpsc::Receiver<Control>,
) -> anyhow::Result<std::thread::JoinHandle<()>> {
    let mut sampler = Sampler::new(proc, settings.targets.clone(), shared)
        .with_cgroups(cgroups)
        .with_tcp_states(settings.tcp_states)
        .with_app_runtime(tokio::runtime::Handle::current());
    sampler.set_rules(settings.rules.clone());
    sampler.set_history(settings.history.clone(), settings.interval);
    let interval = settings.interval;
    std::thread::Builder::new()
        .name("sampler".into())
        .spawn(move || sampler.run(interval, rx))
        .context("cannot start the sampler thread")
}

fn server_options(web_args: &WebArgs) -> server::Options {
    server::Options {
        limits: server::Limits {
            header_read_timeout: web_args.header_timeout,
            idle_timeout: web_args.idle_timeout,
            max_connections: web_args.max_connections as usize,
            ..server::Limits::default()
        },
        metrics_only: web_args.metrics_only,
    }
}

fn wrapped_target(
    name: &str,
    pid: i32,
    app: Option<AppSpec>,
    probe: Option<ProbeSpec>,
) -> TargetSpec {
    TargetSpec {
        name: name.to_string(),
        selector: Selector::Pid(pid),
        children: true,
        smaps: false,
        thread_totals: true,
        labels: Vec::new(),
        cgroup_labels: false,
        app,
        probe,
        profiles: None,
    }
}

/// `--probe` for the wrapped command (a flag target has it through `flag_target`); without a
/// target given by flags to attach it to, an error.
fn flag_probe(
    opts: &Opts,
    interval: Duration,
    wrap: bool,
) -> Result<Option<ProbeSpec>, ConfigError> {
    let Some(url) = &opts.probe else {
        return Ok(None);
    };
    if !for_wrapped_command(opts, wrap, "--probe", "probe")? {
        return Ok(None);
    }
    let file = config::probe::ProbeFile {
        url: url.clone(),
        ..Default::default()
    };
    config::probe::validate(&file, interval)
        .map(Some)
        .map_err(|(_, reason)| ConfigError::new(None, "--probe", reason))
}

/// Whether a per-target flag (`flag`: `--probe`, `--app-metrics`) is for the wrapped command of
/// `sidewatch run`. Otherwise the target given by flags carries it (through `flag_target`), and
/// without one it is an error that points to the config file's `section:`.
fn for_wrapped_command(
    opts: &Opts,
    wrap: bool,
    flag: &str,
    section: &str,
) -> Result<bool, ConfigError> {
    if wrap {
        return Ok(true);
    }
    if flag_target(opts)?.is_none() {
        return Err(ConfigError::new(
            None,
            flag,
            format!(
                "belongs to the target given by flags (--pid, --pid-file, --comm, --exe, --cmdline) or to `sidewatch run`; give one, or use `{section}:` in the config file"
            ),
        ));
    }
    Ok(false)
}

/// `--app-metrics` for the wrapped command (a flag target has it through `flag_target`). An
/// `--app-metrics` with no target given by flags to attach it to is an error.
fn flag_app(opts: &Opts, interval: Duration, wrap: bool) -> Result<Option<AppSpec>, ConfigError> {
    let Some(url) = &opts.app_metrics else {
        return Ok(None);
    };
    if !for_wrapped_command(opts, wrap, "--app-metrics", "app")? {
        return Ok(None);
    }
    let file = config::app::AppFile {
        metrics_url: url.clone(),
        ..Default::default()
    };
    config::app::validate(&file, interval)
        .map(Some)
        .map_err(|(_, reason)| ConfigError::new(None, "--app-metrics", reason))
}

/// Waits for a shutdown signal (or the wrapped child's exit), reloading on SIGHUP and when a
/// watched file changes.
async fn signals_loop(
    mut reloader: Reloader<'_>,
    mut child: Option<Wrapped>,
) -> anyhow::Result<ExitCode> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut quit = signal(SignalKind::quit())?;
    let mut usr1 = signal(SignalKind::user_defined1())?;
    let mut usr2 = signal(SignalKind::user_defined2())?;
    let child_pid = child.as_ref().map(|c| c.pid);
    let forward = |sig: nix::sys::signal::Signal| {
        if let Some(pid) = child_pid {
            if let Err(e) = nix::sys::signal::kill(pid, sig) {
                tracing::warn!(signal = ?sig, error = %e, "could not forward signal");
            }
        }
    };
    // Kubernetes updates a mounted ConfigMap or Secret by swapping a `..data` symlink: polling
    // the resolved file's identity once a second catches that, an edit in place, and a
    // replacement by rename, without a filesystem-notification dependency.
    let mut watch = tokio::time::interval(WATCH_INTERVAL);
    watch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    use nix::sys::signal::Signal;
    loop {
        let wait_child = async {
            match child.as_mut() {
                Some(c) => c.wait().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            status = wait_child => return Ok(exit_code_of(status?)),
            _ = term.recv() => {
                if child.is_some() { forward(Signal::SIGTERM); } else { tracing::info!("SIGTERM: shutting down"); return Ok(ExitCode::SUCCESS); }
            }
            _ = int.recv() => {
                if child.is_some() { forward(Signal::SIGINT); } else { tracing::info!("SIGINT: shutting down"); return Ok(ExitCode::SUCCESS); }
            }
            _ = hup.recv() => {
                forward(Signal::SIGHUP);
                tracing::info!("SIGHUP: reloading");
                reloader.reload(true, true).await;
            }
            _ = watch.tick() => {
                let (config, web) = reloader.changed();
                if config || web {
                    tracing::info!(config, web_config = web, "a configuration file changed: reloading");
                    reloader.reload(config, web).await;
                }
            }
            _ = quit.recv() => forward(Signal::SIGQUIT),
            _ = usr1.recv() => forward(Signal::SIGUSR1),
            _ = usr2.recv() => forward(Signal::SIGUSR2),
        }
    }
}

const WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// What identifies a file's content without reading it: the resolved path (a swapped symlink
/// changes it), device, inode, size and modification time. `None`: unreadable or absent.
type Fingerprint = Option<(PathBuf, u64, u64, u64, i64, i64)>;

fn fingerprint(path: &std::path::Path) -> Fingerprint {
    use std::os::unix::fs::MetadataExt as _;
    let resolved = std::fs::canonicalize(path).ok()?;
    let m = std::fs::metadata(&resolved).ok()?;
    Some((
        resolved,
        m.dev(),
        m.ino(),
        m.size(),
        m.mtime(),
        m.mtime_nsec(),
    ))
}

fn fingerprints(paths: &[PathBuf]) -> Vec<Fingerprint> {
    paths.iter().map(|p| fingerprint(p)).collect()
}

/// Reloads the main config and the web config, and records the outcome for
/// `sidewatch_config_last_reload_successful`.
struct Reloader<'a> {
    opts: &'a Opts,
    listen_address: Option<String>,
    current: Settings,
    /// The wrapped command's target name and pid, in `sidewatch run`.
    wrapped: Option<(&'a str, i32)>,
    tx: &'a mpsc::Sender<Control>,
    shared: Arc<Shared>,
    web: Option<(PathBuf, server::WebHandle)>,
    config_seen: Vec<Fingerprint>,
    web_files: Vec<PathBuf>,
    web_seen: Vec<Fingerprint>,
}

impl<'a> Reloader<'a> {
    fn new(
        opts: &'a Opts,
        listen_address: Option<String>,
        current: Settings,
        wrapped: Option<(&'a str, i32)>,
        tx: &'a mpsc::Sender<Control>,
        shared: Arc<Shared>,
        web: Option<(PathBuf, server::WebHandle)>,
    ) -> Self {
        let web_files = web
            .as_ref()
            .map(|(_, h)| h.load().files.clone())
            .unwrap_or_default();
        Reloader {
            config_seen: fingerprints(opts.config.as_slice()),
            web_seen: fingerprints(&web_files),
            opts,
            listen_address,
            current,
            wrapped,
            tx,
            shared,
            web,
            web_files,
        }
    }

    /// Which configurations' files changed since the last look.
    fn changed(&mut self) -> (bool, bool) {
        let config = fingerprints(self.opts.config.as_slice());
        let config_changed = config != self.config_seen;
        self.config_seen = config;
        let web = fingerprints(&self.web_files);
        let web_changed = web != self.web_seen;
        self.web_seen = web;
        (config_changed, web_changed)
    }

    async fn reload(&mut self, config: bool, web: bool) {
        let mut ok = true;
        if config {
            ok &= self.reload_config();
        }
        if web {
            ok &= self.reload_web().await;
        }
        self.shared.record_reload(ok);
    }

    fn reload_config(&mut self) -> bool {
        match load(self.opts, self.listen_address.as_deref()) {
            Ok(mut s) => {
                if s.listen_address != self.current.listen_address
                    || s.procfs != self.current.procfs
                {
                    tracing::warn!(
                        "listen_address and procfs changes take effect only after a restart"
                    );
                }
                if let Some((name, pid)) = self.wrapped {
                    let app = flag_app(self.opts, s.interval, true).ok().flatten();
                    let probe = flag_probe(self.opts, s.interval, true).ok().flatten();
                    s.targets.push(wrapped_target(name, pid, app, probe));
                }
                if let Err(e) = config::check_rule_targets(&s) {
                    tracing::error!("reload failed, keeping the previous configuration: {e}");
                    return false;
                }
                tracing::info!(targets = s.targets.len(), "configuration reloaded");
                let _ = self.tx.send(Control::Reload {
                    targets: s.targets.clone(),
                    interval: s.interval,
                    rules: s.rules.clone(),
                    history: s.history.clone(),
                    tcp_states: s.tcp_states,
                });
                self.current = s;
                true
            }
            Err(e) => {
                tracing::error!("reload failed, keeping the previous configuration: {e}");
                false
            }
        }
    }

    async fn reload_web(&mut self) -> bool {
        let Some((path, handle)) = &self.web else {
            return true;
        };
        let p = path.clone();
        // File reads and a bcrypt hash: off the async thread.
        let loaded = tokio::task::spawn_blocking(move || webconfig::load(&p)).await;
        match loaded {
            Ok(Ok(cfg)) => {
                tracing::info!(web = %cfg.summary, "web configuration reloaded");
                self.web_files = cfg.files.clone();
                self.web_seen = fingerprints(&self.web_files);
                handle.store(Arc::new(cfg));
                true
            }
            Ok(Err(e)) => {
                tracing::error!(
                    "web config reload failed, keeping the previous web configuration: {e}"
                );
                false
            }
            Err(e) => {
                tracing::error!("web config reload failed to run: {e}");
                false
            }
        }
    }
}

/// The exit code of `sidewatch run` for the command's exit status (128+N when killed by signal
/// N, as shells report it), logged.
fn exit_code_of(status: WaitStatus) -> ExitCode {
    let code = match status {
        WaitStatus::Exited(_, code) => {
            tracing::info!(status = code, "the command exited");
            code
        }
        WaitStatus::Signaled(_, sig, _) => {
            let code = 128 + sig as i32;
            tracing::info!(signal = %sig, status = code, "the command was killed by a signal");
            code
        }
        other => {
            tracing::warn!(status = ?other, "the command ended in an unexpected state");
            1
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(255))
}

/// The wrapped command of `sidewatch run`. Its exit status is collected with `waitpid(-1)`,
/// which also reaps every orphan the kernel hands to sidewatch: as a container's PID 1 that is
/// every process whose parent died, and without reaping them (as tini does) they would stay
/// zombies until the pid space runs out.
struct Wrapped {
    pid: Pid,
    sigchld: tokio::signal::unix::Signal,
}

impl Wrapped {
    fn spawn(command: &[String]) -> anyhow::Result<Wrapped> {
        // Registered before the command starts, so its SIGCHLD cannot be missed.
        let sigchld = signal(SignalKind::child())?;
        let child = std::process::Command::new(&command[0])
            .args(&command[1..])
            .spawn()
            .map_err(|source| NotStarted {
                command: command[0].clone(),
                source,
            })?;
        // std's Child is dropped without a wait: `wait` below reaps it.
        let pid = Pid::from_raw(i32::try_from(child.id()).context("pid out of range")?);
        Ok(Wrapped { pid, sigchld })
    }

    /// Waits until the command exits, reaping every other child on the way.
    async fn wait(&mut self) -> anyhow::Result<WaitStatus> {
        loop {
            if let Some(status) = self.reap()? {
                return Ok(status);
            }
            self.sigchld.recv().await;
        }
    }

    /// Reaps every child that has exited; the command's status if it was one of them.
    fn reap(&self) -> anyhow::Result<Option<WaitStatus>> {
        use nix::errno::Errno;
        let mut main = None;
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return Ok(main),
                Ok(status) if status.pid() == Some(self.pid) => main = Some(status),
                Ok(status) => tracing::debug!(pid = ?status.pid(), "reaped an orphaned process"),
                Err(Errno::EINTR) => {}
                Err(e) => return Err(e).context("waiting for the command"),
            }
        }
    }
}
