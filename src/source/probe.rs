//! An HTTP probe of a target (blackbox_exporter's `http` prober, with the state it lacks). A task
//! on the tokio runtime sends one request every probe interval; at most one is in flight, a
//! probe due while one is in flight is counted as `skipped` (never queued), and each request is
//! cut off at its timeout. Every outcome lands in cumulative counters and a latency histogram
//! owned by sidewatch (so they never reset while the daemon runs); the tick copies them without
//! waiting.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Uri};

use super::http::{Client, FetchError, Get, Response, TlsOptions};
use crate::histogram::HistogramValues;

/// Upper bounds of `sidewatch_probe_duration_seconds`: OpenTelemetry's advice for
/// `http.client.request.duration` (semantic conventions, HTTP metrics).
pub const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Redirects followed at most, as Go's HTTP client (and so blackbox_exporter) does.
pub const MAX_REDIRECTS: usize = 10;

/// Body cap of a probe answer (before and after gzip); a larger answer fails with `http`.
pub const MAX_BODY_BYTES: u64 = 4 * 1024 * 1024;

/// A body regex, compared by its pattern (a [`ProbeSpec`] is compared on reload).
#[derive(Debug, Clone)]
pub struct BodyRegex(pub regex_lite::Regex);

impl PartialEq for BodyRegex {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

/// A target's `probe:` settings, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeSpec {
    pub url: Uri,
    pub interval: Duration,
    pub timeout: Duration,
    pub method: Method,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Empty: any 2xx.
    pub valid_status_codes: Vec<u16>,
    pub fail_if_body_not_matches_regexp: Option<BodyRegex>,
    /// Judge a 3xx answer itself instead of following its `Location`.
    pub no_follow_redirects: bool,
    pub tls: TlsOptions,
}

/// Why a probe failed: a small closed set, the `reason` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    /// No complete answer within the timeout (connect, TLS, head and body included).
    Timeout,
    /// The TCP connection could not be made (refused, unreachable, name not resolved).
    Connect,
    /// The TLS handshake failed (certificate not trusted, protocol error).
    Tls,
    /// The exchange failed after connecting: malformed or cut answer, body over the cap,
    /// unsupported or broken encoding, a redirect without a usable `Location` or more than
    /// [`MAX_REDIRECTS`] of them.
    Http,
    /// The status code is not in `valid_status_codes` (default: 2xx).
    Status,
    /// The body does not match `fail_if_body_not_matches_regexp`.
    Body,
    /// Due while the previous probe was still in flight: not sent.
    Skipped,
}

impl Reason {
    pub const ALL: [Reason; 7] = [
        Reason::Timeout,
        Reason::Connect,
        Reason::Tls,
        Reason::Http,
        Reason::Status,
        Reason::Body,
        Reason::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Timeout => "timeout",
            Reason::Connect => "connect",
            Reason::Tls => "tls",
            Reason::Http => "http",
            Reason::Status => "status",
            Reason::Body => "body",
            Reason::Skipped => "skipped",
        }
    }

    fn of(e: &FetchError) -> Reason {
        match e {
            FetchError::Timeout(_) => Reason::Timeout,
            FetchError::Connect(_) => Reason::Connect,
            FetchError::Tls(_) => Reason::Tls,
            FetchError::Url(..)
            | FetchError::Http(_)
            | FetchError::TooLarge(_)
            | FetchError::DecompressedTooLarge(_)
            | FetchError::Gzip(_)
            | FetchError::Encoding(_) => Reason::Http,
        }
    }
}

/// The probe's cumulative figures, as the tick copies them.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeTotals {
    pub success: u64,
    /// Failures by reason, every reason present (zeros included), in [`Reason::ALL`] order.
    pub failures: Vec<(Reason, u64)>,
    /// Durations of the probes sent (successes and failures; skipped ones were not sent).
    pub duration: HistogramValues,
    /// The last finished probe: success, and its duration.
    pub last: Option<(bool, Duration)>,
}

impl Default for ProbeTotals {
    fn default() -> Self {
        ProbeTotals {
            success: 0,
            failures: Reason::ALL.iter().map(|r| (*r, 0)).collect(),
            duration: HistogramValues::new(&DURATION_BUCKETS),
            last: None,
        }
    }
}

impl ProbeTotals {
    pub fn failures_total(&self) -> u64 {
        self.failures.iter().map(|(_, n)| n).sum()
    }

    /// Counts a failure that was not timed (`skipped`).
    pub fn fail(&mut self, reason: Reason) {
        if let Some((_, n)) = self.failures.iter_mut().find(|(r, _)| *r == reason) {
            *n += 1;
        }
    }

    /// Counts a probe sent, and its duration.
    pub fn record(&mut self, outcome: Result<(), Reason>, took: Duration) {
        match outcome {
            Ok(()) => self.success += 1,
            Err(r) => self.fail(r),
        }
        self.duration.observe(took.as_secs_f64());
        self.last = Some((outcome.is_ok(), took));
    }
}

/// In JSON (`sidewatch once --json`): `{"success": n, "failures": {"timeout": n, ...},
/// "duration_seconds": {histogram}, "up": bool, "last_duration_seconds": s}`.
impl serde::Serialize for ProbeTotals {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let failures: std::collections::BTreeMap<&str, u64> = self
            .failures
            .iter()
            .map(|(r, n)| (r.as_str(), *n))
            .collect();
        let mut m = ser.serialize_map(None)?;
        m.serialize_entry("success", &self.success)?;
        m.serialize_entry("failures", &failures)?;
        m.serialize_entry("durationSeconds", &self.duration)?;
        if let Some((ok, took)) = self.last {
            m.serialize_entry("up", &ok)?;
            m.serialize_entry("lastDurationSeconds", &took.as_secs_f64())?;
        }
        m.end()
    }
}

/// What a tick has of the probe: the totals, and the signals over the probes that ended since
/// the previous tick.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeSample {
    #[serde(flatten)]
    pub totals: ProbeTotals,
    /// Successes / all outcomes (skipped ones included) since the previous tick; `None` when
    /// none ended.
    pub success_ratio: Option<f64>,
    /// Mean duration of the probes sent that ended since the previous tick.
    pub mean_duration_seconds: Option<f64>,
}

impl ProbeSample {
    /// The sample of `now`, its signals over what ended since `previous`.
    pub fn between(previous: &ProbeTotals, now: ProbeTotals) -> ProbeSample {
        let all = |t: &ProbeTotals| t.success + t.failures_total();
        let ended = all(&now).saturating_sub(all(previous));
        let timed = now.duration.count.saturating_sub(previous.duration.count);
        ProbeSample {
            success_ratio: (ended > 0)
                .then(|| now.success.saturating_sub(previous.success) as f64 / ended as f64),
            mean_duration_seconds: (timed > 0)
                .then(|| (now.duration.sum - previous.duration.sum) / timed as f64),
            totals: now,
        }
    }
}

#[derive(Debug, Default)]
struct Slot {
    in_flight: bool,
    totals: ProbeTotals,
}

/// Probes one target; the task stops when this is dropped (a reload that removes the target).
#[derive(Debug)]
pub struct Prober {
    spec: Arc<ProbeSpec>,
    client: Result<Client, String>,
    slot: Arc<Mutex<Slot>>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// The totals the previous tick took (the base of the per-tick signals).
    previous: ProbeTotals,
}

impl Drop for Prober {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

impl Prober {
    pub fn new(spec: ProbeSpec) -> Self {
        // A redirect may lead from http to https: TLS whenever it can be set up.
        let client = match (tls_client(&spec.tls), spec.url.scheme_str()) {
            (Err(e), Some("https")) => Err(e),
            (Err(_), _) => Ok(Client::plain()),
            (ok, _) => ok,
        };
        Prober {
            spec: Arc::new(spec),
            client,
            slot: Arc::default(),
            task: None,
            previous: ProbeTotals::default(),
        }
    }

    pub fn spec(&self) -> &ProbeSpec {
        &self.spec
    }

    /// This tick's figures (never waits for a probe in flight).
    pub fn take(&mut self) -> ProbeSample {
        let totals = lock(&self.slot).totals.clone();
        let sample = ProbeSample::between(&self.previous, totals);
        self.previous = sample.totals.clone();
        sample
    }

    /// Starts the probe loop on `rt` unless it runs already. Called by a tick that runs every
    /// `tick`: a probe on the same interval is phased to end (timeout included) just before the
    /// next tick, which so has its outcome fresh; any other interval starts at once.
    pub fn ensure_started(&mut self, rt: &tokio::runtime::Handle, tick: Duration) {
        if self.task.is_some() {
            return;
        }
        let (spec, client, slot) = (self.spec.clone(), self.client.clone(), self.slot.clone());
        let delay = if spec.interval == tick {
            let margin = (tick / 10).min(Duration::from_millis(200));
            tick.saturating_sub(spec.timeout.saturating_add(margin))
        } else {
            Duration::ZERO
        };
        let inner = rt.clone();
        self.task = Some(rt.spawn(async move {
            let first = tokio::time::Instant::now() + delay;
            let mut every = tokio::time::interval_at(first, spec.interval);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                every.tick().await;
                if !begin(&slot) {
                    continue;
                }
                let (spec, client) = (spec.clone(), client.clone());
                let guard = InFlight(slot.clone());
                inner.spawn(async move {
                    let started = Instant::now();
                    let outcome = probe(&client, &spec).await;
                    finish(&guard.0, outcome, started.elapsed());
                });
            }
        }));
    }

    /// One probe now, waited for (`sidewatch once`).
    pub fn probe_blocking(&self, rt: &tokio::runtime::Runtime) {
        if !begin(&self.slot) {
            return;
        }
        let started = Instant::now();
        let outcome = rt.block_on(probe(&self.client, &self.spec));
        finish(&self.slot, outcome, started.elapsed());
    }
}

/// A client for `tls`; the one with default options (the system bundle, about 1 MB once
/// parsed) is built once and shared by every probe.
fn tls_client(tls: &TlsOptions) -> Result<Client, String> {
    static DEFAULT: std::sync::OnceLock<Result<Client, String>> = std::sync::OnceLock::new();
    if *tls == TlsOptions::default() {
        return DEFAULT
            .get_or_init(|| Client::new(&TlsOptions::default()))
            .clone();
    }
    Client::new(tls)
}

fn lock(slot: &Mutex<Slot>) -> std::sync::MutexGuard<'_, Slot> {
    // Plain counters: a panic while holding the lock cannot leave them inconsistent.
    slot.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Marks a probe in flight; false (counted as skipped) when one is in flight already.
fn begin(slot: &Mutex<Slot>) -> bool {
    let mut s = lock(slot);
    if s.in_flight {
        s.totals.fail(Reason::Skipped);
        return false;
    }
    s.in_flight = true;
    true
}

/// Clears the in-flight mark however the probe's task ends (even by a panic or an aborted
/// runtime), so that a lost probe never turns every later one into `skipped`.
struct InFlight(Arc<Mutex<Slot>>);

impl Drop for InFlight {
    fn drop(&mut self) {
        lock(&self.0).in_flight = false;
    }
}

fn finish(slot: &Mutex<Slot>, outcome: Result<(), Reason>, took: Duration) {
    let mut s = lock(slot);
    s.in_flight = false;
    s.totals.record(outcome, took);
}

/// One probe (its redirects included) within the timeout, judged.
async fn probe(client: &Result<Client, String>, spec: &ProbeSpec) -> Result<(), Reason> {
    let client = client.as_ref().map_err(|_| Reason::Tls)?;
    let response = tokio::time::timeout(spec.timeout, follow(client, spec))
        .await
        .unwrap_or(Err(Reason::Timeout))?;
    judge(spec, response.status, &response.body)
}

/// The answer at the end of the redirects (or the first one with `no_follow_redirects`).
async fn follow(client: &Client, spec: &ProbeSpec) -> Result<Response, Reason> {
    let mut get = Get {
        uri: spec.url.clone(),
        headers: spec.headers.clone(),
        timeout: spec.timeout,
        max_body_bytes: MAX_BODY_BYTES,
    };
    for _ in 0..=MAX_REDIRECTS {
        let response = client
            .request(spec.method.clone(), &get)
            .await
            .map_err(|e| {
                tracing::debug!(url = %get.uri, error = %e, "probe failed");
                Reason::of(&e)
            })?;
        let redirect = matches!(response.status, 301 | 302 | 303 | 307 | 308);
        if spec.no_follow_redirects || !redirect {
            return Ok(response);
        }
        let location = response.location.as_deref().ok_or(Reason::Http)?;
        get.uri = resolve(&get.uri, location).ok_or(Reason::Http)?;
    }
    tracing::debug!(url = %spec.url, "probe: more than {MAX_REDIRECTS} redirects");
    Err(Reason::Http)
}

/// A `Location` resolved against the URL that answered with it (RFC 3986 reference forms:
/// absolute, `//host/path`, `/path`, `path`; the query of `base` is not kept).
pub fn resolve(base: &Uri, location: &str) -> Option<Uri> {
    let scheme = base.scheme_str()?;
    let authority = base.authority()?.as_str();
    let joined = if location.contains("://") {
        location.to_string()
    } else if let Some(rest) = location.strip_prefix("//") {
        format!("{scheme}://{rest}")
    } else if location.starts_with('/') {
        format!("{scheme}://{authority}{location}")
    } else {
        let dir = base.path().rsplit_once('/').map_or("", |(d, _)| d);
        format!("{scheme}://{authority}{dir}/{location}")
    };
    let uri: Uri = joined.parse().ok()?;
    matches!(uri.scheme_str(), Some("http" | "https")).then_some(uri)
}

/// The verdict on a complete answer: status first, then body.
pub fn judge(spec: &ProbeSpec, status: u16, body: &[u8]) -> Result<(), Reason> {
    let valid = if spec.valid_status_codes.is_empty() {
        (200..300).contains(&status)
    } else {
        spec.valid_status_codes.contains(&status)
    };
    if !valid {
        return Err(Reason::Status);
    }
    match &spec.fail_if_body_not_matches_regexp {
        // Invalid UTF-8 reads as U+FFFD, as in Go's regexp, which blackbox_exporter uses.
        Some(re) if !re.0.is_match(&String::from_utf8_lossy(body)) => Err(Reason::Body),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(codes: Vec<u16>, re: Option<&str>) -> ProbeSpec {
        ProbeSpec {
            url: "http://127.0.0.1/".parse().unwrap(),
            interval: Duration::from_secs(1),
            timeout: Duration::from_millis(500),
            method: Method::GET,
            headers: vec![],
            valid_status_codes: codes,
            fail_if_body_not_matches_regexp: re
                .map(|r| BodyRegex(regex_lite::Regex::new(r).unwrap())),
            no_follow_redirects: false,
            tls: TlsOptions::default(),
        }
    }

    #[test]
    fn status_then_body_decide() {
        let s = spec(vec![], Some("ok"));
        assert_eq!(judge(&s, 200, b"all ok"), Ok(()));
        assert_eq!(judge(&s, 204, b"ok"), Ok(()));
        assert_eq!(judge(&s, 301, b"ok"), Err(Reason::Status));
        assert_eq!(judge(&s, 500, b"ok"), Err(Reason::Status));
        assert_eq!(judge(&s, 200, b"fine"), Err(Reason::Body));
        let s = spec(vec![200, 301], None);
        assert_eq!(judge(&s, 301, b""), Ok(()));
        assert_eq!(judge(&s, 204, b""), Err(Reason::Status));
    }

    #[test]
    fn locations_resolve_against_the_url_that_answered() {
        let base: Uri = "http://127.0.0.1:8080/a/b?x=1".parse().unwrap();
        let r = |l: &str| resolve(&base, l).map(|u| u.to_string());
        assert_eq!(r("https://h/x").as_deref(), Some("https://h/x"));
        assert_eq!(r("//other:81/y").as_deref(), Some("http://other:81/y"));
        assert_eq!(
            r("/login?next=1").as_deref(),
            Some("http://127.0.0.1:8080/login?next=1")
        );
        assert_eq!(r("c").as_deref(), Some("http://127.0.0.1:8080/a/c"));
        assert_eq!(r("ftp://h/x"), None);
        assert_eq!(r("http://bad host/"), None);
    }

    #[test]
    fn a_probe_task_that_ends_without_finishing_frees_the_slot() {
        let slot = Arc::new(Mutex::new(Slot::default()));
        assert!(begin(&slot));
        drop(InFlight(slot.clone()));
        assert!(begin(&slot), "still marked in flight");
        assert_eq!(lock(&slot).totals.failures_total(), 0);
    }

    #[test]
    fn totals_count_by_reason_and_skips_are_not_timed() {
        let slot = Mutex::new(Slot::default());
        assert!(begin(&slot));
        assert!(!begin(&slot), "one in flight at most");
        finish(&slot, Err(Reason::Timeout), Duration::from_millis(500));
        assert!(begin(&slot));
        finish(&slot, Ok(()), Duration::from_millis(20));
        let t = lock(&slot).totals.clone();
        assert_eq!(t.success, 1);
        let n = |r: Reason| t.failures.iter().find(|(x, _)| *x == r).unwrap().1;
        assert_eq!(n(Reason::Timeout), 1);
        assert_eq!(n(Reason::Skipped), 1);
        assert_eq!(t.failures_total(), 2);
        assert_eq!(t.duration.count, 2);
        assert_eq!(t.last, Some((true, Duration::from_millis(20))));
        // 20 ms is in the 0.025 bucket, 500 ms in the 0.5 one.
        assert_eq!(t.duration.buckets[1], (0.01, 0));
        assert_eq!(t.duration.buckets[2], (0.025, 1));
        assert_eq!(t.duration.buckets[7], (0.5, 2));
    }
}
