//! The runtime settings a process was started with, read from outside: its environment and
//! arguments at exec (`/proc/<pid>/environ`, `cmdline`) and the CPUs it may run on (`status`).
//! Pure parsers over the kernel's text plus a thin reader. Both files are fixed at exec, so the
//! sampler reads them once per process identity. `environ` is readable only by the process's
//! own uid or with CAP_SYS_PTRACE: unreadable is a known unknown (`environ_readable: false`),
//! never an error.
//!
//! Recognised: Go's `GOMEMLIMIT`, `GOGC`, `GOMAXPROCS`; the JVM's `-Xmx` / `-XX:MaxHeapSize`
//! and `-XX:MaxRAMPercentage` from `JAVA_TOOL_OPTIONS`, `JDK_JAVA_OPTIONS` and its arguments
//! (in that order, the last one wins, as the JVM reads them); Node.js's
//! `--max-old-space-size` from `NODE_OPTIONS` and its arguments (arguments win).

use std::path::Path;

use serde::Serialize;

const MIB: f64 = 1024.0 * 1024.0;

/// One setting as found, with where it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Setting {
    /// In base units (bytes, percent, threads). `None`: "off", or a text the runtime would
    /// not accept either (`raw` says which); the setting is still present.
    pub value: Option<f64>,
    /// The text as written.
    pub raw: String,
    /// `env GOMEMLIMIT`, `args -Xmx`, `env JAVA_TOOL_OPTIONS -XX:MaxRAMPercentage`,
    /// `metrics go_gc_gogc_percent`, ...
    pub from: String,
}

impl Setting {
    fn new(value: Option<f64>, raw: &str, from: String) -> Self {
        Setting {
            value,
            raw: raw.to_string(),
            from,
        }
    }
}

/// What a process's environment and arguments say about its runtime.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecSettings {
    /// False when `environ` could not be read: an absent env setting is then unknown, not unset.
    pub environ_readable: bool,
    /// `java` or `node` from the program name (argv[0]); `None` otherwise (Go binaries have no
    /// telling name: Go is known from the app's metrics).
    pub program: Option<&'static str>,
    /// CPUs in the process's affinity mask (what Go's default GOMAXPROCS counts).
    pub cpus_allowed: Option<u32>,
    pub gomemlimit: Option<Setting>,
    pub gogc: Option<Setting>,
    pub gomaxprocs: Option<Setting>,
    pub jvm_max_heap: Option<Setting>,
    pub jvm_max_ram_percentage: Option<Setting>,
    pub node_max_old_space: Option<Setting>,
}

/// Reads the settings of process `pid` under `proc_root` (normally `/proc`). A file that cannot
/// be read leaves its part unknown.
pub fn read(proc_root: &Path, pid: i32) -> ExecSettings {
    let dir = proc_root.join(pid.to_string());
    let environ = std::fs::read(dir.join("environ")).ok();
    let cmdline = std::fs::read(dir.join("cmdline")).unwrap_or_default();
    let mut s = parse(environ.as_deref(), &cmdline);
    s.cpus_allowed = std::fs::read_to_string(dir.join("status"))
        .ok()
        .and_then(|t| cpus_allowed(&t));
    s
}

/// Parses NUL-separated `environ` (`None`: unreadable) and `cmdline`.
pub fn parse(environ: Option<&[u8]>, cmdline: &[u8]) -> ExecSettings {
    let env: Vec<(&str, &str)> = environ
        .map(|e| {
            nul_split(e)
                .filter_map(|kv| kv.split_once('='))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let var = |name: &str| env.iter().rev().find(|(k, _)| *k == name).map(|(_, v)| *v);
    let args: Vec<&str> = nul_split(cmdline).collect();
    let program = args
        .first()
        .and_then(|a| match a.rsplit('/').next().unwrap_or(a) {
            "java" => Some("java"),
            "node" | "nodejs" => Some("node"),
            _ => None,
        });
    let go = |name: &str, parse: fn(&str) -> Option<f64>| {
        var(name).map(|v| Setting::new(parse(v), v, format!("env {name}")))
    };
    let mut s = ExecSettings {
        environ_readable: environ.is_some(),
        program,
        gomemlimit: go("GOMEMLIMIT", go_memlimit),
        gogc: go("GOGC", go_gc),
        gomaxprocs: go("GOMAXPROCS", go_maxprocs),
        ..Default::default()
    };
    match program {
        Some("java") => {
            for name in ["JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS"] {
                let opts = var(name).unwrap_or_default().split_whitespace();
                jvm_options(&mut s, opts, &format!("env {name} "));
            }
            jvm_options(&mut s, jvm_args(args.get(1..).unwrap_or_default()), "args ");
        }
        Some("node") => {
            let opts = var("NODE_OPTIONS").unwrap_or_default().split_whitespace();
            node_options(&mut s, opts, "env NODE_OPTIONS ");
            node_options(
                &mut s,
                node_args(args.get(1..).unwrap_or_default()),
                "args ",
            );
        }
        _ => {}
    }
    s
}

fn nul_split(b: &[u8]) -> impl Iterator<Item = &str> {
    b.split(|c| *c == 0)
        .filter(|p| !p.is_empty())
        .filter_map(|p| std::str::from_utf8(p).ok())
}

/// Go's `GOMEMLIMIT`: an integer with an optional `B`, `KiB`, `MiB`, `GiB` or `TiB`; `off`.
pub fn go_memlimit(v: &str) -> Option<f64> {
    let digits = v.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = match &v[digits.len()..] {
        "" | "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => MIB,
        "GiB" => 1024.0 * MIB,
        "TiB" => 1024.0 * 1024.0 * MIB,
        _ => return None,
    };
    digits.parse::<u64>().ok().map(|n| n as f64 * unit)
}

/// Go's `GOGC`: a percentage; `off` (or a negative number) disables the GC.
pub fn go_gc(v: &str) -> Option<f64> {
    v.parse::<i64>().ok().filter(|n| *n >= 0).map(|n| n as f64)
}

/// Go's `GOMAXPROCS`: a positive integer (anything else leaves Go's default).
pub fn go_maxprocs(v: &str) -> Option<f64> {
    v.parse::<u32>().ok().filter(|n| *n > 0).map(f64::from)
}

/// A JVM size (`512m`, `2G`, `1048576`): k, m, g, t suffixes in either case, powers of 1024.
pub fn jvm_size(v: &str) -> Option<f64> {
    let (digits, unit) = match v.chars().last()?.to_ascii_lowercase() {
        'k' => (&v[..v.len() - 1], 1024.0),
        'm' => (&v[..v.len() - 1], MIB),
        'g' => (&v[..v.len() - 1], 1024.0 * MIB),
        't' => (&v[..v.len() - 1], 1024.0 * 1024.0 * MIB),
        _ => (v, 1.0),
    };
    digits.parse::<u64>().ok().map(|n| n as f64 * unit)
}

/// The JVM options of a `java` command line: those before the main class, `-jar` or `-m`
/// (what follows is the application's). Options taking a separate value skip it.
fn jvm_args<'a>(args: &[&'a str]) -> impl Iterator<Item = &'a str> {
    const WITH_VALUE: [&str; 7] = [
        "-cp",
        "-classpath",
        "--class-path",
        "-p",
        "--module-path",
        "--add-modules",
        "--upgrade-module-path",
    ];
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if !a.starts_with('-') || matches!(*a, "-jar" | "-m" | "--module") {
            break;
        }
        if WITH_VALUE.contains(a) {
            it.next();
        }
        out.push(*a);
    }
    out.into_iter()
}

fn jvm_options<'a>(s: &mut ExecSettings, opts: impl Iterator<Item = &'a str>, from: &str) {
    for o in opts {
        if let Some(v) = o
            .strip_prefix("-Xmx")
            .or_else(|| o.strip_prefix("-XX:MaxHeapSize="))
        {
            let name = if o.starts_with("-Xmx") {
                "-Xmx"
            } else {
                "-XX:MaxHeapSize"
            };
            s.jvm_max_heap = Some(Setting::new(jvm_size(v), v, format!("{from}{name}")));
        } else if let Some(v) = o.strip_prefix("-XX:MaxRAMPercentage=") {
            let pct = v.parse::<f64>().ok().filter(|p| (0.0..=100.0).contains(p));
            s.jvm_max_ram_percentage =
                Some(Setting::new(pct, v, format!("{from}-XX:MaxRAMPercentage")));
        }
    }
}

/// The options of a `node` command line: those before the script (the script's own follow).
fn node_args<'a>(args: &[&'a str]) -> impl Iterator<Item = &'a str> {
    args.iter()
        .copied()
        .take_while(|a| a.starts_with('-'))
        .collect::<Vec<_>>()
        .into_iter()
}

fn node_options<'a>(s: &mut ExecSettings, opts: impl Iterator<Item = &'a str>, from: &str) {
    for o in opts {
        // V8 accepts dashes and underscores alike.
        let o = o.replace('_', "-");
        if let Some(v) = o.strip_prefix("--max-old-space-size=") {
            let mib = v.parse::<f64>().ok().filter(|m| *m > 0.0).map(|m| m * MIB);
            s.node_max_old_space =
                Some(Setting::new(mib, v, format!("{from}--max-old-space-size")));
        }
    }
}

/// The number of CPUs in `Cpus_allowed_list:` of `/proc/<pid>/status` (`0-3,6`).
pub fn cpus_allowed(status: &str) -> Option<u32> {
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))?
        .trim();
    let mut n = 0;
    for part in list.split(',') {
        n += match part.split_once('-') {
            Some((a, b)) => b.parse::<u32>().ok()?.checked_sub(a.parse::<u32>().ok()?)? + 1,
            None => part.parse::<u32>().map(|_| 1).ok()?,
        };
    }
    Some(n)
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
