//! Profile captures on triggers: when a named alert fires, the leak verdict turns true, or a
//! runtime figure spikes (holmes-style rules), sidewatch fetches the target's `net/http/pprof`
//! profiles (heap, goroutine, an opt-in CPU profile of bounded seconds) and keeps them in a
//! budgeted directory, with the evidence that triggered them. Triggers are judged on the
//! sampler thread (cheap, pure); captures run on the tokio runtime, one job at a time per
//! target, each fetch under a timeout and a size cap: the tick never waits for them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::history::trend::LeakVerdict;
use crate::rules::{ActiveAlert, Signal, SignalSource, TargetSignals};
use crate::sample::TargetSample;
use crate::source::http::{Client, Get};

pub mod sample;
pub mod store;
pub mod trigger;
pub mod view;

pub use sample::{Kind, ProfilesSample, Trigger};

use store::{Budget, Entry, Store};
use trigger::{Cooldown, Spike, SpikeState};

/// A target's `profiles:` settings, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileSpec {
    /// The pprof base URL without a trailing slash, e.g. `http://127.0.0.1:6060/debug/pprof`.
    pub url: String,
    /// The directory; this target's profiles go to `<dir>/<target>/`.
    pub dir: PathBuf,
    pub budget: Budget,
    /// Time for one fetch (a CPU profile gets its seconds on top).
    pub timeout: Duration,
    pub max_profile_bytes: u64,
    /// Seconds of a CPU profile; `None`: no CPU profiles (they cost the application CPU).
    pub cpu_seconds: Option<u64>,
    /// Delay of the second heap capture after a leak verdict.
    pub heap_followup: Duration,
    /// Alerts whose firing triggers a capture of `alert_kinds`, at most once per `cooldown`.
    pub alerts: Vec<String>,
    pub alert_kinds: Vec<Kind>,
    pub cooldown: Duration,
    pub leak: bool,
    pub goroutines: Option<Spike>,
    pub heap: Option<Spike>,
    pub cpu: Option<Spike>,
}

impl ProfileSpec {
    /// Every (kind, trigger) a capture can have, for counters that start at 0.
    fn combinations(&self) -> Vec<(Kind, Trigger)> {
        let mut v: Vec<(Kind, Trigger)> = Vec::new();
        if !self.alerts.is_empty() {
            v.extend(self.alert_kinds.iter().map(|k| (*k, Trigger::Alert)));
        }
        if self.leak {
            v.extend([
                (Kind::Heap, Trigger::Leak),
                (Kind::Goroutine, Trigger::Leak),
            ]);
        }
        for (rule, kind, trigger) in self.spikes() {
            if rule.is_some() {
                v.push((kind, trigger));
            }
        }
        v
    }

    fn spikes(&self) -> [(Option<&Spike>, Kind, Trigger); 3] {
        [
            (
                self.goroutines.as_ref(),
                Kind::Goroutine,
                Trigger::Goroutines,
            ),
            (self.heap.as_ref(), Kind::Heap, Trigger::Heap),
            (self.cpu.as_ref(), Kind::Cpu, Trigger::Cpu),
        ]
    }
}

/// What the tick knows that triggers look at.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    pub now: f64,
    pub sample: &'a TargetSample,
    /// This tick's alerts (every target's).
    pub alerts: &'a [ActiveAlert],
    pub leak: Option<&'a LeakVerdict>,
    pub tasks_leak: Option<&'a LeakVerdict>,
}

/// State shared with the capture task.
#[derive(Debug)]
struct Inner {
    /// `Err`: the directory cannot be opened; each capture then fails and counts.
    store: Result<Store, String>,
    in_flight: bool,
    captured: BTreeMap<(Kind, Trigger), u64>,
    errors: u64,
    /// The first heap of a leak, once stored: the base of the follow-up capture.
    leak_base: Option<String>,
}

/// A capture the triggers asked for.
#[derive(Debug, Clone)]
struct Job {
    trigger: Trigger,
    kinds: Vec<Kind>,
    evidence: Vec<String>,
    base: Option<String>,
    /// The cooldown key to start, if any.
    cooldown: Option<String>,
}

/// One target's triggers and captures.
#[derive(Debug)]
pub struct Profiler {
    target: String,
    spec: ProfileSpec,
    client: Client,
    inner: Arc<Mutex<Inner>>,
    spikes: [SpikeState; 3],
    cooldowns: BTreeMap<String, Cooldown>,
    /// The leak verdicts were false (or absent) since their last capture: a true one triggers.
    leak_armed: [bool; 2],
    /// (Unix seconds due, base file) of the second heap of a leak.
    followup: Option<(f64, String)>,
    prev_cpu: Option<(f64, f64)>,
}

fn lock(m: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
    // Plain assignments under the lock: a panic cannot leave it inconsistent.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Profiler {
    pub fn new(target: &str, spec: ProfileSpec) -> Profiler {
        let store = open_store(target, &spec);
        let mut p = Profiler {
            target: target.to_string(),
            client: Client::plain(),
            inner: Arc::new(Mutex::new(Inner {
                store,
                in_flight: false,
                captured: BTreeMap::new(),
                errors: 0,
                leak_base: None,
            })),
            spikes: Default::default(),
            cooldowns: BTreeMap::new(),
            leak_armed: [true, true],
            followup: None,
            prev_cpu: None,
            spec: spec.clone(),
        };
        p.reconfigure(spec);
        p
    }

    pub fn spec(&self) -> &ProfileSpec {
        &self.spec
    }

    /// Takes a changed `profiles:`; counters and trigger state stay (counters never reset).
    pub fn reconfigure(&mut self, spec: ProfileSpec) {
        let mut inner = lock(&self.inner);
        if spec.dir != self.spec.dir {
            inner.store = open_store(&self.target, &spec);
        } else if let Ok(s) = &mut inner.store {
            s.set_budget(spec.budget);
        }
        for c in spec.combinations() {
            inner.captured.entry(c).or_insert(0);
        }
        drop(inner);
        self.spec = spec;
    }

    /// Judges the triggers, starts a capture on `rt` when one holds and none is in flight,
    /// and returns the target's profile figures. Never waits.
    pub fn tick(&mut self, rt: Option<&tokio::runtime::Handle>, i: &Inputs<'_>) -> ProfilesSample {
        let jobs = self.judge(i);
        let shared = self.inner.clone();
        let mut inner = lock(&shared);
        if let Some(base) = inner.leak_base.take() {
            self.followup = Some((i.now + self.spec.heap_followup.as_secs_f64(), base));
        }
        if let (Some(rt), false) = (rt, inner.in_flight) {
            // The first job that holds runs; the others hold again at a later tick.
            if let Some(job) = jobs.into_iter().next() {
                inner.in_flight = true;
                self.begin(i.now, &job);
                let task = Capture {
                    target: self.target.clone(),
                    spec: self.spec.clone(),
                    client: self.client.clone(),
                    inner: shared.clone(),
                };
                rt.spawn(task.run(job));
            }
        }
        ProfilesSample {
            captured: inner
                .captured
                .iter()
                .map(|((k, t), n)| (*k, *t, *n))
                .collect(),
            errors: inner.errors,
            in_flight: inner.in_flight,
            dir: match &inner.store {
                Ok(s) => s.dir().to_path_buf(),
                Err(_) => self.spec.dir.join(&self.target),
            },
            entries: Arc::new(
                inner
                    .store
                    .as_ref()
                    .map(|s| s.entries().to_vec())
                    .unwrap_or_default(),
            ),
        }
    }

    /// Marks what a started job consumes: its cooldown, the leak edge, the follow-up.
    fn begin(&mut self, now: f64, job: &Job) {
        if let Some(key) = &job.cooldown {
            self.cooldowns.entry(key.clone()).or_default().start(now);
        }
        if job.trigger == Trigger::Leak {
            if job.base.is_some() {
                self.followup = None;
            } else if job.kinds.contains(&Kind::Heap) {
                self.leak_armed[0] = false;
            } else {
                self.leak_armed[1] = false;
            }
        }
    }

    /// The jobs whose triggers hold now, most specific first. Spike rules see every tick.
    fn judge(&mut self, i: &Inputs<'_>) -> Vec<Job> {
        let mut jobs = Vec::new();
        if let Some((due, base)) = &self.followup {
            if i.now >= *due {
                jobs.push(Job {
                    trigger: Trigger::Leak,
                    kinds: vec![Kind::Heap],
                    evidence: vec![format!(
                        "second heap capture of the leak, {} after the first: compare with go tool pprof -base {base}",
                        humantime::format_duration(self.spec.heap_followup)
                    )],
                    base: Some(base.clone()),
                    cooldown: None,
                });
            }
        }
        if self.spec.leak {
            for (n, verdict, kind) in [(0, i.leak, Kind::Heap), (1, i.tasks_leak, Kind::Goroutine)]
            {
                match verdict.filter(|v| v.suspected) {
                    None => self.leak_armed[n] = true,
                    Some(v) if self.leak_armed[n] => jobs.push(Job {
                        trigger: Trigger::Leak,
                        kinds: vec![kind],
                        evidence: leak_evidence(v, kind),
                        base: None,
                        cooldown: None,
                    }),
                    Some(_) => {}
                }
            }
        }
        for a in i.alerts.iter().filter(|a| {
            a.target == self.target
                && a.state == crate::rules::alert::Phase::Firing
                && self.spec.alerts.contains(&a.alertname)
        }) {
            let key = format!("alert:{}", a.alertname);
            if self.ready(&key, i.now, self.spec.cooldown) {
                jobs.push(Job {
                    trigger: Trigger::Alert,
                    kinds: self.spec.alert_kinds.clone(),
                    evidence: vec![format!(
                        "alert {} firing for target {} (value {})",
                        a.alertname, a.target, a.value
                    )],
                    base: None,
                    cooldown: Some(key),
                });
            }
        }
        let cpu = self.cpu_cores(i);
        let signals = TargetSignals {
            sample: i.sample,
            cpu_cores: cpu,
            online_cpus: None,
            http: None,
        };
        let values = [
            signals.value(Signal::RuntimeTasks),
            signals.value(Signal::RuntimeHeapBytes),
            signals.value(Signal::CpuCores),
        ];
        for (n, (rule, kind, trigger)) in self.spec.spikes().into_iter().enumerate() {
            let (Some(rule), Some(v)) = (rule, values[n]) else {
                continue;
            };
            let Some(why) = self.spikes[n].observe(rule, v) else {
                continue;
            };
            let key = trigger.as_str().to_string();
            if self.ready(&key, i.now, rule.cooldown) {
                jobs.push(Job {
                    trigger,
                    kinds: vec![kind],
                    evidence: vec![format!("{}: {why}", spike_signal(trigger))],
                    base: None,
                    cooldown: Some(key),
                });
            }
        }
        jobs
    }

    fn ready(&self, key: &str, now: f64, cooldown: Duration) -> bool {
        self.cooldowns
            .get(key)
            .is_none_or(|c| c.ready(now, cooldown))
    }

    /// CPU cores used since the previous tick, from the target's CPU seconds.
    fn cpu_cores(&mut self, i: &Inputs<'_>) -> Option<f64> {
        let c = &i.sample.counters;
        let total = c.cpu_user_seconds_total? + c.cpu_system_seconds_total.unwrap_or(0.0);
        let prev = self.prev_cpu.replace((i.now, total));
        let (then, before) = prev?;
        (i.sample.up && i.now > then).then(|| (total - before).max(0.0) / (i.now - then))
    }
}

fn spike_signal(t: Trigger) -> &'static str {
    match t {
        Trigger::Goroutines => Signal::RuntimeTasks.name(),
        Trigger::Heap => Signal::RuntimeHeapBytes.name(),
        _ => Signal::CpuCores.name(),
    }
}

fn leak_evidence(v: &LeakVerdict, kind: Kind) -> Vec<String> {
    let what = if kind == Kind::Heap {
        "memory"
    } else {
        "runtime tasks"
    };
    let mut e = vec![format!("{what} leak suspected over {}", v.window)];
    e.extend(v.evidence.iter().cloned());
    e
}

fn open_store(target: &str, spec: &ProfileSpec) -> Result<Store, String> {
    let dir = spec.dir.join(target);
    Store::open(dir.clone(), spec.budget).map_err(|e| {
        tracing::warn!(target, dir = %dir.display(), error = %e, "cannot use the profile directory");
        format!("{}: {e}", dir.display())
    })
}

/// A running capture job (on the tokio runtime).
struct Capture {
    target: String,
    spec: ProfileSpec,
    client: Client,
    inner: Arc<Mutex<Inner>>,
}

impl Capture {
    async fn run(self, job: Job) {
        for kind in &job.kinds {
            let stored = match self.fetch(*kind).await {
                Ok(body) => self.store(&job, *kind, body).await,
                Err(e) => Err(e),
            };
            let mut inner = lock(&self.inner);
            match stored {
                Ok(file) => {
                    *inner.captured.entry((*kind, job.trigger)).or_insert(0) += 1;
                    if job.trigger == Trigger::Leak && *kind == Kind::Heap && job.base.is_none() {
                        inner.leak_base = Some(file);
                    }
                }
                Err(e) => {
                    inner.errors += 1;
                    tracing::warn!(target = %self.target, kind = kind.as_str(), trigger = job.trigger.as_str(), error = %e, "profile capture failed");
                }
            }
        }
        lock(&self.inner).in_flight = false;
    }

    async fn fetch(&self, kind: Kind) -> Result<Vec<u8>, String> {
        let (path, extra) = match kind {
            Kind::Heap => ("heap".to_string(), 0),
            Kind::Goroutine => ("goroutine".to_string(), 0),
            Kind::Cpu => {
                let s = self.spec.cpu_seconds.unwrap_or(1);
                (format!("profile?seconds={s}"), s)
            }
        };
        let url = format!("{}/{path}", self.spec.url);
        let uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
        let get = Get {
            uri,
            headers: Vec::new(),
            timeout: self.spec.timeout + Duration::from_secs(extra),
            max_body_bytes: self.spec.max_profile_bytes,
        };
        let r = self
            .client
            .get(&get)
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        if r.status != 200 {
            return Err(format!("{url}: HTTP status {}", r.status));
        }
        check_profile(
            &r.body,
            self.spec.max_profile_bytes.saturating_mul(MAX_INFLATION),
        )
        .map_err(|e| format!("{url}: {e}"))?;
        Ok(r.body)
    }

    /// Writes the profile on a blocking thread (never under the lock the tick takes), then
    /// indexes it.
    async fn store(&self, job: &Job, kind: Kind, body: Vec<u8>) -> Result<String, String> {
        let dir = lock(&self.inner)
            .store
            .as_ref()
            .map(|s| s.dir().to_path_buf())
            .map_err(Clone::clone)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let file = store::file_name(kind.as_str(), job.trigger.as_str(), now.as_millis());
        let entry = Entry {
            target: self.target.clone(),
            kind: kind.as_str().to_string(),
            trigger: job.trigger.as_str().to_string(),
            file: file.clone(),
            time_seconds: now.as_secs_f64(),
            size_bytes: body.len() as u64,
            evidence: job.evidence.clone(),
            base: job.base.clone(),
        };
        let written = entry.clone();
        tokio::task::spawn_blocking(move || {
            store::write(&dir, &written, &body)
                .map_err(|e| format!("{}: {e}", dir.join(&written.file).display()))
        })
        .await
        .map_err(|e| format!("writing {file}: {e}"))??;
        if let Ok(s) = lock(&self.inner).store.as_mut() {
            s.insert(entry);
        }
        Ok(file)
    }
}

/// How much larger than its gzipped form a profile may be once decompressed (checked while
/// streaming, never held in memory).
const MAX_INFLATION: u64 = 32;

/// A pprof profile as Go serves it is a gzip stream of a protobuf: a body that is not one
/// (an HTML error page, a text dump, junk) is refused, not stored.
pub fn check_profile(body: &[u8], max_inflated: u64) -> Result<(), String> {
    use std::io::Read;
    if !body.starts_with(&[0x1f, 0x8b]) {
        return Err(format!(
            "not a gzipped pprof profile ({} bytes, starting {:?})",
            body.len(),
            String::from_utf8_lossy(&body[..body.len().min(16)])
        ));
    }
    let mut d = flate2::read::MultiGzDecoder::new(body).take(max_inflated.saturating_add(1));
    let n = std::io::copy(&mut d, &mut std::io::sink())
        .map_err(|e| format!("broken gzip stream: {e}"))?;
    match n {
        0 => Err("empty profile".into()),
        n if n > max_inflated => Err(format!(
            "larger than {max_inflated} bytes once decompressed"
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(dir: &std::path::Path) -> ProfileSpec {
        let file = crate::config::profiles::ProfilesFile {
            url: "http://127.0.0.1:1/debug/pprof".into(),
            dir: Some(dir.to_path_buf()),
            on_leak: true,
            heap_followup: Some(Duration::from_secs(300)),
            ..Default::default()
        };
        crate::config::profiles::validate(&file).unwrap()
    }

    fn verdict(suspected: bool) -> LeakVerdict {
        LeakVerdict {
            window: "1h".into(),
            suspected,
            rise_bytes: 0.0,
            rise_needed_bytes: 0.0,
            rising_steps: 0,
            steps: 0,
            rising_steps_needed: 0,
            largest_fall_bytes: 0.0,
            allowed_fall_bytes: 0.0,
            second_half_share: None,
            growth_bytes_per_second: None,
            evidence: vec!["floors rose".into()],
        }
    }

    /// Runs the triggers at `now` and starts (without fetching) the first job, as `tick` does.
    fn step(p: &mut Profiler, now: f64, leak: &LeakVerdict) -> Option<Job> {
        let sample = TargetSample::default();
        let i = Inputs {
            now,
            sample: &sample,
            alerts: &[],
            leak: Some(leak),
            tasks_leak: None,
        };
        let job = p.judge(&i).into_iter().next();
        if let Some(j) = &job {
            p.begin(now, j);
        }
        if let Some(base) = lock(&p.inner).leak_base.take() {
            p.followup = Some((now + p.spec.heap_followup.as_secs_f64(), base));
        }
        job
    }

    #[test]
    fn leak_captures_on_the_turn_to_true_then_a_second_heap_later() {
        let tmp = tempfile::tempdir().unwrap();
        let mut p = Profiler::new("app", spec(tmp.path()));
        let job = step(&mut p, 100.0, &verdict(true)).unwrap();
        assert_eq!(
            (job.trigger, job.kinds.as_slice()),
            (Trigger::Leak, &[Kind::Heap][..])
        );
        assert!(job.evidence[0].contains("memory leak suspected over 1h"));
        // Still suspected: no new capture until the verdict has been false again.
        assert!(step(&mut p, 101.0, &verdict(true)).is_none());
        // The first heap was stored: the second is due 5 minutes later, with it as base.
        lock(&p.inner).leak_base = Some("heap-leak-1.pb.gz".into());
        assert!(step(&mut p, 102.0, &verdict(true)).is_none());
        assert!(step(&mut p, 401.0, &verdict(true)).is_none());
        let second = step(&mut p, 402.0, &verdict(true)).unwrap();
        assert_eq!(second.base.as_deref(), Some("heap-leak-1.pb.gz"));
        assert!(step(&mut p, 403.0, &verdict(true)).is_none());
        assert!(step(&mut p, 404.0, &verdict(false)).is_none());
        assert!(step(&mut p, 405.0, &verdict(true)).is_some());
    }

    #[test]
    fn check_profile_takes_gzip_only() {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&[0u8; 1000]).unwrap();
        let z = e.finish().unwrap();
        assert_eq!(check_profile(&z, 1000), Ok(()));
        assert!(
            check_profile(&z, 999)
                .unwrap_err()
                .contains("once decompressed")
        );
        assert!(
            check_profile(b"<html>", 1000)
                .unwrap_err()
                .contains("not a gzipped")
        );
        assert!(check_profile(&z[..z.len() / 2], 1000).is_err());
    }
}
