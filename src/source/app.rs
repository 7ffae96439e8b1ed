//! The application's own metrics endpoint as a source. Each tick the sampler takes the result
//! of the fetch the previous tick started (if it finished within the last interval) and starts
//! the next one on the tokio runtime; it never waits for a fetch, and at most one is in flight
//! per target. The figures are therefore one interval old at most; a fetch that failed, was
//! late or could not be parsed leaves the tick without app figures (a read error).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::Uri;
use hyper::header::{ACCEPT, AUTHORIZATION, HeaderValue};

use super::exposition::{self, Exposition, Format};
use super::http::{Client, FetchError, Get, TlsOptions};

/// What Prometheus itself asks for, OpenMetrics first; a text 0.0.4 answer is read as well.
const ACCEPT_VALUE: &str =
    "application/openmetrics-text;version=1.0.0;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// Bodies larger than this are parsed on the blocking pool: on the server runtime's one thread
/// they would hold up scrapes (the parser reads about 125 KiB a millisecond, so a 4 MiB body
/// takes tens of milliseconds). Smaller ones are parsed in place, where a thread hop would cost
/// more than the parse.
pub const PARSE_INLINE_MAX_BYTES: usize = 256 * 1024;

/// A target's `app:` settings, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct AppSpec {
    pub metrics_url: Uri,
    pub timeout: Duration,
    pub bearer_token_file: Option<PathBuf>,
    pub tls: TlsOptions,
    pub max_body_bytes: u64,
    /// `app.http`: the app's HTTP server histogram, when it is none of the known ones.
    pub http: Option<HttpSpec>,
}

/// A configured HTTP request-duration histogram (base name) and its status-code label (`None`:
/// the first of `code`, `status`, `status_code` the series carry).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSpec {
    pub histogram: String,
    #[serde(default)]
    pub status_label: Option<String>,
}

/// Why a tick has no app figures.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Fetch(#[from] FetchError),
    #[error("HTTP status {0}")]
    Status(u16),
    #[error("bearer_token_file {0}: {1}")]
    Token(PathBuf, String),
    #[error("TLS settings: {0}")]
    Tls(String),
    #[error("body is not UTF-8")]
    NotUtf8,
    #[error("exposition: {0}")]
    Parse(#[from] exposition::ParseError),
    #[error("parsing the body stopped: {0}")]
    ParseTask(String),
    #[error("still fetching at the tick (timeout {0:?})")]
    Late(Duration),
}

/// One fetch's outcome.
#[derive(Debug)]
pub struct Fetched {
    pub result: Result<Arc<Exposition>, AppError>,
    /// From sending the request to the parsed body (or the failure).
    pub duration: Duration,
    finished: Instant,
}

#[derive(Debug, Default)]
struct Slot {
    in_flight: bool,
    started_any: bool,
    done: Option<Fetched>,
}

/// Fetches one target's endpoint; see the module comment.
#[derive(Debug)]
pub struct AppPoller {
    spec: AppSpec,
    client: Result<Client, String>,
    slot: Arc<Mutex<Slot>>,
}

impl AppPoller {
    pub fn new(spec: AppSpec) -> Self {
        let client = match spec.metrics_url.scheme_str() {
            Some("https") => Client::new(&spec.tls),
            _ => Ok(Client::plain()),
        };
        AppPoller {
            spec,
            client,
            slot: Arc::default(),
        }
    }

    pub fn spec(&self) -> &AppSpec {
        &self.spec
    }

    /// This tick's reading: the result of a fetch finished within `fresh_for` (each result is
    /// taken once). `None` before any fetch was started: nothing to report yet.
    pub fn take(&self, fresh_for: Duration) -> Option<Fetched> {
        let mut slot = lock(&self.slot);
        if !slot.started_any {
            return None;
        }
        let now = Instant::now();
        match slot.done.take() {
            Some(f) if now.saturating_duration_since(f.finished) <= fresh_for => Some(f),
            // Still in flight, or finished too long ago: late either way.
            _ => Some(Fetched {
                result: Err(AppError::Late(self.spec.timeout)),
                duration: Duration::ZERO,
                finished: now,
            }),
        }
    }

    /// Starts a fetch on `rt` unless one is in flight.
    pub fn start(&self, rt: &tokio::runtime::Handle) {
        let Some(get) = self.begin() else { return };
        let slot = self.slot.clone();
        let client = self.client.clone();
        rt.spawn(async move {
            let started = Instant::now();
            let result = fetch(client, get).await;
            finish(&slot, started, result);
        });
    }

    /// Fetches now and waits for it (`sidewatch once`); the next [`take`](Self::take) has it.
    pub fn fetch_blocking(&self, rt: &tokio::runtime::Runtime) {
        let Some(get) = self.begin() else { return };
        let started = Instant::now();
        let result = rt.block_on(fetch(self.client.clone(), get));
        finish(&self.slot, started, result);
    }

    /// Marks a fetch in flight and forms its request (`Err`: the fetch fails at once, e.g. an
    /// unreadable token file); `None` when one is already in flight.
    fn begin(&self) -> Option<Result<Get, AppError>> {
        let mut slot = lock(&self.slot);
        if slot.in_flight {
            return None;
        }
        slot.in_flight = true;
        slot.started_any = true;
        // The token file is read for every fetch, so a rotated token is used at once.
        Some(self.request())
    }

    fn request(&self) -> Result<Get, AppError> {
        let mut headers = vec![(ACCEPT, HeaderValue::from_static(ACCEPT_VALUE))];
        if let Some(path) = &self.spec.bearer_token_file {
            let token = std::fs::read_to_string(path)
                .map_err(|e| AppError::Token(path.clone(), e.to_string()))?;
            let value = HeaderValue::from_str(&format!("Bearer {}", token.trim()))
                .map_err(|_| AppError::Token(path.clone(), "not a valid header value".into()))?;
            headers.push((AUTHORIZATION, value));
        }
        Ok(Get {
            uri: self.spec.metrics_url.clone(),
            headers,
            timeout: self.spec.timeout,
            max_body_bytes: self.spec.max_body_bytes,
        })
    }
}

fn lock(slot: &Mutex<Slot>) -> std::sync::MutexGuard<'_, Slot> {
    // A panic while holding this lock cannot leave the slot inconsistent (plain assignments).
    slot.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn finish(slot: &Mutex<Slot>, started: Instant, result: Result<Arc<Exposition>, AppError>) {
    let mut slot = lock(slot);
    slot.in_flight = false;
    slot.done = Some(Fetched {
        result,
        duration: started.elapsed(),
        finished: Instant::now(),
    });
}

async fn fetch(
    client: Result<Client, String>,
    get: Result<Get, AppError>,
) -> Result<Arc<Exposition>, AppError> {
    let get = get?;
    let client = client.map_err(AppError::Tls)?;
    let response = client.get(&get).await?;
    if response.status != 200 {
        return Err(AppError::Status(response.status));
    }
    let format = Format::from_content_type(response.content_type.as_deref().unwrap_or(""));
    let body = response.body;
    if body.len() <= PARSE_INLINE_MAX_BYTES {
        return parse_body(&body, format);
    }
    tokio::task::spawn_blocking(move || parse_body(&body, format))
        .await
        .map_err(|e| AppError::ParseTask(e.to_string()))?
}

fn parse_body(body: &[u8], format: Format) -> Result<Arc<Exposition>, AppError> {
    let text = std::str::from_utf8(body).map_err(|_| AppError::NotUtf8)?;
    Ok(Arc::new(exposition::parse(text, format)?))
}
