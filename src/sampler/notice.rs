//! Whether each target's processes can be found, said once per change: a warning with the reason
//! when a target is not found (no process for its pid, a pid file that is missing, unreadable or
//! holds no pid, no process matching), an info line when it is found again. A target that stays
//! in one state logs nothing more, whatever the interval.

use std::collections::HashMap;

use crate::sample::TargetSample;
use crate::source::proc::{ReadError, ReadFailure, Source, read_pid_file};
use crate::target::{Selector, TargetSpec};

/// What was last said about a target.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Found,
    /// Not found, and why.
    Missing(String),
}

/// The last state of each target, by name.
#[derive(Debug, Default)]
pub(super) struct Notices {
    last: HashMap<String, State>,
}

impl Notices {
    /// Logs the targets whose state changed this tick. `failures` are the tick's read failures
    /// (a pid file's error is among them).
    pub(super) fn update<'a>(
        &mut self,
        specs: impl Iterator<Item = &'a TargetSpec>,
        samples: &[TargetSample],
        failures: &[ReadFailure],
    ) {
        for (spec, s) in specs.zip(samples) {
            let state = if s.up {
                State::Found
            } else {
                State::Missing(why_missing(spec, failures))
            };
            if self.last.get(&spec.name) == Some(&state) {
                continue;
            }
            match &state {
                State::Found => tracing::info!("target {}: {}", spec.name, found(spec, s)),
                State::Missing(why) => tracing::warn!("target {}: {why}", spec.name),
            }
            self.last.insert(spec.name.clone(), state);
        }
        // Forget targets a reload removed (only then are there more states than targets).
        if self.last.len() > samples.len() {
            self.last
                .retain(|name, _| samples.iter().any(|s| &s.name == name));
        }
    }

    /// Why the target was not found in the last tick, if it was not.
    pub(super) fn missing(&self, name: &str) -> Option<&str> {
        match self.last.get(name)? {
            State::Missing(why) => Some(why),
            State::Found => None,
        }
    }
}

fn found(spec: &TargetSpec, s: &TargetSample) -> String {
    let pid = s.primary_pid.map_or_else(|| "?".into(), |p| p.to_string());
    match (&spec.selector, s.processes) {
        (Selector::PidFile(path), 1) => format!("found pid {pid} (pid file {})", path.display()),
        (_, 1) => format!("found pid {pid}"),
        (_, n) => format!("found {n} processes (main pid {pid})"),
    }
}

fn why_missing(spec: &TargetSpec, failures: &[ReadFailure]) -> String {
    match &spec.selector {
        Selector::Pid(pid) => format!("pid {pid} is not running"),
        Selector::PidFile(path) => {
            let failed = failures
                .iter()
                .find(|f| f.source == Source::PidFile && f.error.path() == path.as_path());
            match failed {
                Some(f) => pid_file_error(&f.error),
                // Discovery reports neither a missing pid file (the normal "not started yet"
                // state) nor a pid that is not running: read the file again to tell which.
                None => match read_pid_file(path) {
                    Ok(pid) => format!(
                        "pid file {} names pid {pid}, which is not running",
                        path.display()
                    ),
                    Err(e) => pid_file_error(&e),
                },
            }
        }
        Selector::Match { comm, exe, cmdline } => {
            let mut conditions = Vec::new();
            if let Some(c) = comm {
                conditions.push(format!("comm {c:?}"));
            }
            if let Some(e) = exe {
                conditions.push(format!("exe {e:?}"));
            }
            if let Some(r) = cmdline {
                conditions.push(format!("cmdline /{}/", r.as_str()));
            }
            format!("no process matches {}", conditions.join(" and "))
        }
    }
}

/// `pid file PATH: REASON` for an unreadable or invalid pid file.
fn pid_file_error(e: &ReadError) -> String {
    match e {
        ReadError::NotFound(p) => format!("pid file {} does not exist", p.display()),
        ReadError::PermissionDenied(p) => format!("pid file {}: permission denied", p.display()),
        ReadError::Other { path, reason } => format!("pid file {}: {reason}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

    use super::*;

    fn spec(selector: Selector) -> TargetSpec {
        TargetSpec {
            name: "api".into(),
            selector,
            children: false,
            smaps: false,
            thread_totals: true,
            labels: Vec::new(),
            cgroup_labels: false,
            app: None,
            probe: None,
            profiles: None,
        }
    }

    fn sample(up: bool) -> TargetSample {
        TargetSample {
            name: "api".into(),
            up,
            processes: u64::from(up),
            primary_pid: up.then_some(7),
            ..Default::default()
        }
    }

    #[test]
    fn reasons_name_the_selector() {
        let m = spec(Selector::Match {
            comm: Some("nginx".into()),
            exe: None,
            cmdline: Some(regex_lite::Regex::new("-c /etc/x").unwrap()),
        });
        assert_eq!(
            why_missing(&m, &[]),
            "no process matches comm \"nginx\" and cmdline /-c /etc/x/"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.pid");
        std::fs::write(&path, "2147483647\n").unwrap();
        assert_eq!(
            why_missing(&spec(Selector::PidFile(path.clone())), &[]),
            format!(
                "pid file {} names pid 2147483647, which is not running",
                path.display()
            )
        );
        // The tick's own failure wins over a second read.
        let failure = ReadFailure {
            source: Source::PidFile,
            error: ReadError::PermissionDenied(path.clone()),
        };
        assert_eq!(
            why_missing(&spec(Selector::PidFile(path.clone())), &[failure]),
            format!("pid file {}: permission denied", path.display())
        );
    }

    #[test]
    fn state_follows_the_last_tick_and_forgets_removed_targets() {
        let s = spec(Selector::Pid(7));
        let mut n = Notices::default();
        n.update([&s].into_iter(), &[sample(false)], &[]);
        assert_eq!(n.missing("api"), Some("pid 7 is not running"));
        n.update([&s].into_iter(), &[sample(true)], &[]);
        assert_eq!(n.missing("api"), None);
        assert_eq!(n.last.get("api"), Some(&State::Found));
        n.update(std::iter::empty(), &[], &[]);
        assert!(n.last.is_empty());
    }
}
