//! The HTTP server: hyper 1 over HTTP/1.1 (plain or TLS through rustls) on a current-thread
//! Tokio runtime. It never reads procfs; `/metrics` copies the bodies the last tick published (a
//! reference-count increment), chosen by `Accept` (OpenMetrics 1.0.0 or text 0.0.4) and
//! `Accept-Encoding` (gzip).
//!
//! Every request passes the web config's gate first (rate limit → 429, basic auth → 401, as in
//! the exporter-toolkit), then routing (`--metrics-only`, query validation → 400 JSON, unknown
//! path → 404, other methods → 405). Limits: a header read timeout from the first byte of a
//! request head (TLS handshake included), a keep-alive idle timeout, a cap on the request head
//! size, on a connection's lifetime, and on concurrent connections (beyond it, a new connection
//! takes the slot of the stalest open one: see [`slots`]).

mod slots;

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};

use crate::state::Shared;
use crate::webconfig::{AuthCheck, WebConfig};

pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The web configuration in force; swapped whole on reload.
pub type WebHandle = Arc<ArcSwap<WebConfig>>;

#[derive(Debug, Clone)]
pub struct Limits {
    /// Time a client has to send a complete request head, from its first byte (for a new
    /// connection: from the accept, TLS handshake included).
    pub header_read_timeout: Duration,
    /// Time a keep-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    pub max_connection_lifetime: Duration,
    pub max_connections: usize,
    pub max_head_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(120),
            max_connection_lifetime: Duration::from_secs(600),
            max_connections: 256,
            max_head_bytes: 16 * 1024,
        }
    }
}

/// Server behaviour set at start.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub limits: Limits,
    /// Serve only /metrics, /healthz and /readyz.
    pub metrics_only: bool,
}

/// Exposition format chosen for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    OpenMetrics,
}

/// Picks the format from an `Accept` header: OpenMetrics when the client prefers
/// `application/openmetrics-text` (version 1.0.0, 0.0.1 or unversioned) at least as much as
/// any text/plain or wildcard alternative; text 0.0.4 otherwise (including no header).
pub fn negotiate_format(accept: Option<&str>) -> Format {
    let Some(accept) = accept else {
        return Format::Text;
    };
    let mut best_om: f32 = 0.0;
    let mut best_text: f32 = 0.0;
    for item in accept.split(',').take(32) {
        let mut parts = item.split(';');
        // Compared case-insensitively in place: a scrape allocates nothing here.
        let media = parts.next().unwrap_or("").trim();
        let om = media.eq_ignore_ascii_case("application/openmetrics-text");
        let mut q: f32 = 1.0;
        let mut version_ok = true;
        for p in parts {
            let Some((k, v)) = p.split_once('=') else {
                continue;
            };
            let (k, v) = (k.trim(), v.trim().trim_matches('"'));
            if k.eq_ignore_ascii_case("q") {
                q = v
                    .parse::<f32>()
                    .ok()
                    .filter(|q| (0.0..=1.0).contains(q))
                    .unwrap_or(0.0)
            } else if om && k.eq_ignore_ascii_case("version") {
                version_ok = matches!(v, "1.0.0" | "0.0.1")
            }
        }
        if om && version_ok {
            best_om = best_om.max(q);
        } else if ["text/plain", "text/*", "*/*"]
            .iter()
            .any(|t| media.eq_ignore_ascii_case(t))
        {
            best_text = best_text.max(q);
        }
    }
    if best_om > 0.0 && best_om >= best_text {
        Format::OpenMetrics
    } else {
        Format::Text
    }
}

/// True when `Accept-Encoding` allows gzip (q > 0).
pub fn accepts_gzip(header: Option<&str>) -> bool {
    let Some(h) = header else { return false };
    h.split(',').take(32).any(|item| {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim();
        if !coding.eq_ignore_ascii_case("gzip") {
            return false;
        }
        parts.all(|p| match p.split_once('=') {
            Some((k, v)) if k.trim().eq_ignore_ascii_case("q") => {
                v.trim().parse::<f32>().map(|q| q > 0.0).unwrap_or(false)
            }
            _ => true,
        })
    })
}

fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// The status page loads nothing and runs no script: a policy that forbids everything else.
pub const STATUS_PAGE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The JSON views of the rules engine, which take no query parameters.
const RULES_API: [&str; 4] = [
    "/api/v1/alerts",
    "/api/v1/slos",
    "/api/v1/rules",
    "/api/v1/signals",
];

fn not_ready() -> Response<Full<Bytes>> {
    respond(
        StatusCode::SERVICE_UNAVAILABLE,
        "text/plain; charset=utf-8",
        "not ready: the first sample has not been taken yet\n",
    )
}

/// The status page the last tick rendered, gzipped when the client accepts it.
fn status_page(shared: &Shared, accept_encoding: Option<&str>) -> Response<Full<Bytes>> {
    let Some(p) = shared.published() else {
        return not_ready();
    };
    let gzip = accepts_gzip(accept_encoding);
    let (plain, gzipped) = p.status_page.get();
    let body = if gzip { gzipped } else { plain }.clone();
    let mut r = respond(StatusCode::OK, "text/html; charset=utf-8", body);
    let hs = r.headers_mut();
    hs.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(STATUS_PAGE_CSP),
    );
    hs.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    hs.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if gzip {
        hs.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    r
}

/// The `/api/v1/` routes: the rules engine's bodies as published, or a selection of the
/// history's published views (its query parameters validated; a bad one is a 400).
fn api<B>(req: &Request<B>, path: &str, shared: &Shared) -> Response<Full<Bytes>> {
    let Some(p) = shared.published() else {
        return api_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "not ready: the first sample has not been taken yet",
        );
    };
    if path == crate::profiles::view::PREFIX
        || path.starts_with(&format!("{}/", crate::profiles::view::PREFIX))
    {
        if let Err(e) = check_query(req.uri().query(), path, &[]) {
            return bad_request(&e);
        }
        let (status, content_type, body) =
            crate::profiles::view::answer(path, p.profiles.as_deref());
        if status.is_client_error() || status.is_server_error() {
            // The one error shape of the API, whatever route answered.
            let error_type = match status {
                StatusCode::BAD_REQUEST => "bad_data",
                StatusCode::NOT_FOUND => "not_found",
                _ => "internal",
            };
            return api_error(
                status,
                error_type,
                String::from_utf8_lossy(&body).trim_end(),
            );
        }
        return respond(status, content_type, body);
    }
    if let Some(allowed) = crate::history::view::route_parameters(path) {
        let params = match check_query(req.uri().query(), path, allowed) {
            Ok(params) => params,
            Err(e) => return bad_request(&e),
        };
        let Some(views) = p.history.as_deref() else {
            return api_error(StatusCode::NOT_FOUND, "not_found", "no history is kept");
        };
        return match crate::history::view::select(views, path, &params) {
            Some(Ok(body)) => respond(StatusCode::OK, "application/json", body),
            Some(Err(e)) => bad_request(&e),
            None => api_error(StatusCode::NOT_FOUND, "not_found", "not found"),
        };
    }
    match p.api(path) {
        Some(body) => respond(StatusCode::OK, "application/json", body.clone()),
        None => api_error(
            StatusCode::NOT_FOUND,
            "not_found",
            "not found; try /api/v1/targets, /api/v1/samples, /api/v1/stats, /api/v1/trends, /api/v1/recommendations, /api/v1/alerts, /api/v1/slos, /api/v1/rules or /api/v1/signals",
        ),
    }
}

/// Routes one request. Pure apart from the scrape counter, so it is tested without sockets.
pub fn handle<B>(req: &Request<B>, shared: &Shared) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = respond(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            "method not allowed: use GET or HEAD\n",
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let h = |name: header::HeaderName| req.headers().get(name).and_then(|v| v.to_str().ok());
    match req.uri().path() {
        "/metrics" => {
            let Some(p) = shared.published() else {
                return respond(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain; charset=utf-8",
                    "not ready: the first sample has not been taken yet\n",
                );
            };
            shared.scrapes_total.fetch_add(1, Ordering::Relaxed);
            let format = negotiate_format(h(header::ACCEPT));
            let gzip = accepts_gzip(h(header::ACCEPT_ENCODING));
            let (body, ct) = match (format, gzip) {
                (Format::Text, false) => (p.text.clone(), TEXT_CONTENT_TYPE),
                (Format::Text, true) => (p.text_gzip.get().clone(), TEXT_CONTENT_TYPE),
                (Format::OpenMetrics, false) => (p.openmetrics.clone(), OPENMETRICS_CONTENT_TYPE),
                (Format::OpenMetrics, true) => {
                    (p.openmetrics_gzip.get().clone(), OPENMETRICS_CONTENT_TYPE)
                }
            };
            let mut r = respond(StatusCode::OK, ct, body);
            let hs = r.headers_mut();
            hs.insert(
                header::VARY,
                HeaderValue::from_static("Accept, Accept-Encoding"),
            );
            if gzip {
                hs.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            r
        }
        "/healthz" => {
            if shared.is_healthy() {
                respond(StatusCode::OK, "text/plain; charset=utf-8", "ok\n")
            } else {
                respond(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain; charset=utf-8",
                    "unhealthy: the sampler has not finished a tick for more than three intervals\n",
                )
            }
        }
        "/readyz" => {
            if shared.is_ready() {
                respond(StatusCode::OK, "text/plain; charset=utf-8", "ready\n")
            } else {
                respond(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain; charset=utf-8",
                    "not ready: the first sample has not been taken yet\n",
                )
            }
        }
        "/" => status_page(shared, h(header::ACCEPT_ENCODING)),
        // The shipped runbooks, where the built-in alerts' relative runbook_url resolves.
        RUNBOOKS_PATH => respond(
            StatusCode::OK,
            "text/markdown; charset=utf-8",
            include_str!("../docs/runbooks.md"),
        ),
        path if path.starts_with("/api/") => api(req, path, shared),
        _ => respond(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found; try /metrics\n",
        ),
    }
}

/// Binds a listen address as written by the user (`:9858` = every interface).
pub async fn bind(address: &str) -> anyhow::Result<TcpListener> {
    let (host, port) = crate::config::parse_listen_address(address).map_err(anyhow::Error::msg)?;
    let result = if host.is_empty() {
        // Dual-stack first; hosts without IPv6 fall back to IPv4.
        match TcpListener::bind(("::", port)).await {
            Ok(l) => Ok(l),
            Err(_) => TcpListener::bind(("0.0.0.0", port)).await,
        }
    } else {
        TcpListener::bind((host.as_str(), port)).await
    };
    result.map_err(|e| anyhow::anyhow!("cannot listen on {address}: {e}"))
}

/// Serves until `shutdown` resolves, then stops accepting and gives open connections up to
/// `grace` to finish. `web` (TLS, auth, headers, rate limit) is read for every connection and
/// request, so a reload takes effect without restarting the listener.
pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    options: Options,
    web: WebHandle,
    shutdown: impl std::future::Future<Output = ()>,
    grace: Duration,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let limits = options.limits.clone();
    let options = Arc::new(options);
    let (cap, fd_limit) = slots::fit_to_fd_limit(limits.max_connections);
    if cap < limits.max_connections {
        tracing::warn!(
            wanted = limits.max_connections,
            cap,
            fd_limit,
            "the open-file limit leaves room for fewer connections than --web.max-connections"
        );
    }
    let slots = slots::Slots::new(cap);
    // bcrypt is CPU-heavy: one comparison at a time, on the blocking pool.
    let bcrypt_permits = Arc::new(Semaphore::new(1));
    let mut builder = http1::Builder::new();
    builder
        // Required: hyper arms its header timer on every connection and panics without a timer
        // ("You must supply a timer"), so every HTTP test checks this line.
        .timer(TokioTimer::new())
        // None: the connection clock below enforces the header and idle timeouts; hyper's own
        // timer would box a sleep for every request.
        .header_read_timeout(None)
        .keep_alive(true)
        .max_buf_size(limits.max_head_bytes.max(8192));
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    // EMFILE and friends: back off briefly instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let clock = Arc::new(ConnClock::new(&limits));
        let slot = slots.admit(clock.clone());
        let io = Guarded {
            inner: stream,
            clock: clock.clone(),
        };
        let tls = web.load().tls.clone();
        let conn = Conn {
            shared: shared.clone(),
            web: web.clone(),
            options: options.clone(),
            bcrypt_permits: bcrypt_permits.clone(),
            clock: clock.clone(),
            builder: builder.clone(),
            watcher: graceful.watcher(),
        };
        let lifetime = limits.max_connection_lifetime;
        tokio::spawn(async move {
            let work = async move {
                match tls {
                    Some(cfg) => match tokio_rustls::TlsAcceptor::from(cfg).accept(io).await {
                        Ok(s) => conn.serve(s).await,
                        Err(e) => tracing::debug!(error = %e, "TLS handshake failed"),
                    },
                    None => conn.serve(io).await,
                }
            };
            tokio::select! {
                _ = work => {}
                _ = clock.expired() => {
                    tracing::debug!("closed a connection: timeout, or its slot taken by a new one");
                }
                // Also frees the slot of a client that keeps a connection busy forever.
                _ = tokio::time::sleep(lifetime) => {}
            }
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(grace) => {
            tracing::info!("closing connections still open after the shutdown grace period");
        }
    }
}

/// What one connection needs to serve its requests.
struct Conn {
    shared: Arc<Shared>,
    web: WebHandle,
    options: Arc<Options>,
    bcrypt_permits: Arc<Semaphore>,
    clock: Arc<ConnClock>,
    builder: http1::Builder,
    watcher: hyper_util::server::graceful::Watcher,
}

impl Conn {
    async fn serve<S>(self, io: S)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let Conn {
            shared,
            web,
            options,
            bcrypt_permits,
            clock,
            builder,
            watcher,
        } = self;
        let service = service_fn(move |req: Request<Incoming>| {
            // The head is in: from now on the connection is idle until the next request's
            // first byte.
            clock.request_read();
            let web = web.load_full();
            // Answered here, before the future, whenever no password needs checking: the
            // request (whose header values are slices of hyper's read buffer) is then gone
            // before hyper reads again, so the buffer is reused instead of reallocated.
            let step = match admit(&req, &web) {
                Admit::Pass => Ok(route(&req, &shared, options.metrics_only)),
                Admit::Refuse(r) => Ok(r),
                Admit::Verify(p) => Err((req, p)),
            };
            let shared = shared.clone();
            let metrics_only = options.metrics_only;
            let bcrypt_permits = bcrypt_permits.clone();
            async move {
                let mut r = match step {
                    Ok(r) => r,
                    Err((req, p)) => match verify(p, &web, &bcrypt_permits).await {
                        Some(refused) => refused,
                        None => route(&req, &shared, metrics_only),
                    },
                };
                let hs = r.headers_mut();
                for (name, value) in &web.headers {
                    hs.insert(name.clone(), value.clone());
                }
                Ok::<_, Infallible>(r)
            }
        });
        let conn = builder.serve_connection(TokioIo::new(io), service);
        if let Err(e) = watcher.watch(conn).await {
            tracing::debug!(error = %e, "connection ended with an error");
        }
    }
}

/// What [`admit`] decided without waiting.
enum Admit {
    Pass,
    Refuse(Response<Full<Bytes>>),
    /// A password to check with bcrypt, off the server's thread.
    Verify(crate::webconfig::PendingCheck),
}

/// Rate limit, then basic auth (the order of the exporter-toolkit), as far as it can be
/// decided at once.
fn admit<B>(req: &Request<B>, web: &WebConfig) -> Admit {
    if let Some(limiter) = &web.rate_limit {
        if !limiter.allow() {
            return Admit::Refuse(respond(
                StatusCode::TOO_MANY_REQUESTS,
                "text/plain; charset=utf-8",
                "Too Many Requests\n",
            ));
        }
    }
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    match web.check_auth(authorization) {
        AuthCheck::Open | AuthCheck::Cached => Admit::Pass,
        AuthCheck::Missing => Admit::Refuse(unauthorized()),
        AuthCheck::Verify(pending) => Admit::Verify(pending),
    }
}

/// Checks a password [`admit`] deferred. `None`: the request may pass; `Some`: the refusal.
async fn verify(
    pending: crate::webconfig::PendingCheck,
    web: &WebConfig,
    bcrypt_permits: &Semaphore,
) -> Option<Response<Full<Bytes>>> {
    let Ok(_permit) = bcrypt_permits.acquire().await else {
        return Some(unauthorized());
    };
    match tokio::task::spawn_blocking(move || (pending.verify(), pending)).await {
        Ok((true, pending)) => {
            web.cache.insert_success(&pending);
            None
        }
        Ok((false, _)) => Some(unauthorized()),
        Err(e) => {
            tracing::warn!(error = %e, "password check failed to run");
            Some(unauthorized())
        }
    }
}

fn unauthorized() -> Response<Full<Bytes>> {
    let mut r = respond(
        StatusCode::UNAUTHORIZED,
        "text/plain; charset=utf-8",
        "Unauthorized\n",
    );
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
    r
}

/// Routes that take no query parameters.
const PARAMETERLESS: [&str; 4] = ["/metrics", "/healthz", "/readyz", "/"];

/// `/` + [`crate::rules::spec::DEFAULT_RUNBOOK_BASE`]: a route, so it is a literal.
const RUNBOOKS_PATH: &str = "/docs/runbooks.md";

/// `--metrics-only` keeps these.
const METRICS_ONLY_PATHS: [&str; 3] = ["/metrics", "/healthz", "/readyz"];

/// Applies `--metrics-only` and query validation, then routes with [`handle`].
pub fn route<B>(req: &Request<B>, shared: &Shared, metrics_only: bool) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    if metrics_only && !METRICS_ONLY_PATHS.contains(&path) {
        return respond(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found (this server runs with --metrics-only: /metrics, /healthz, /readyz)\n",
        );
    }
    let readonly = req.method() == Method::GET || req.method() == Method::HEAD;
    if readonly && (PARAMETERLESS.contains(&path) || RULES_API.contains(&path)) {
        if let Err(e) = check_query(req.uri().query(), path, &[]) {
            return bad_request(&e);
        }
    }
    handle(req, shared)
}

/// A 400 with a JSON body in the shape of the Prometheus HTTP API's errors.
pub fn bad_request(message: &str) -> Response<Full<Bytes>> {
    api_error(StatusCode::BAD_REQUEST, "bad_data", message)
}

/// Every `/api/v1/` error has one shape, Prometheus's: `{"status":"error","errorType","error"}`
/// (`bad_data` 400, `not_found` 404, `unavailable` 503).
fn api_error(status: StatusCode, error_type: &str, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({
        "status": "error",
        "errorType": error_type,
        "error": message,
    });
    respond(status, "application/json", format!("{body}\n"))
}

/// Longest query string accepted.
pub const MAX_QUERY_BYTES: usize = 4096;

/// Splits and percent-decodes a query string (`+` is a space). Errors say what is wrong.
pub fn parse_query(query: &str) -> Result<Vec<(String, String)>, String> {
    if query.len() > MAX_QUERY_BYTES {
        return Err(format!(
            "the query string is longer than {MAX_QUERY_BYTES} bytes"
        ));
    }
    let mut out = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = percent_decode(k)?;
        if k.is_empty() {
            return Err("a query parameter has an empty name".into());
        }
        out.push((k, percent_decode(v)?));
    }
    Ok(out)
}

fn percent_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = b
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("invalid percent-encoding in {s:?}"))?;
                out.push(hex);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| format!("{s:?} is not UTF-8 once decoded"))
}

/// Validates a route's query string against the parameters it takes: the decoded pairs, or
/// the message of a 400 ([`bad_request`]) naming the problem and the allowed parameters.
pub fn check_query(
    query: Option<&str>,
    path: &str,
    allowed: &[&str],
) -> Result<Vec<(String, String)>, String> {
    let Some(q) = query.filter(|q| !q.is_empty()) else {
        return Ok(Vec::new());
    };
    let pairs = parse_query(q)?;
    for (k, _) in &pairs {
        if !allowed.contains(&k.as_str()) {
            let takes = if allowed.is_empty() {
                "it takes none".to_string()
            } else {
                format!("allowed: {}", allowed.join(", "))
            };
            return Err(format!("unknown query parameter {k:?} for {path}; {takes}"));
        }
    }
    Ok(pairs)
}

// ---------------------------------------------------------------------------------------------
// Connection clock: header read timeout and keep-alive idle timeout.

/// Per-connection deadline. A new connection must deliver its first request head within the
/// header timeout (TLS handshake included). After a request head is read, the connection is
/// idle until the next byte arrives (keep-alive idle timeout); that byte starts the header
/// timeout for the next head. A client sending one byte a second therefore never extends its
/// deadline. The clock also keeps when a byte last moved either way, which picks the
/// connection to close when the server is full.
#[derive(Debug)]
pub struct ConnClock {
    base: tokio::time::Instant,
    deadline_ms: AtomicU64,
    idle: AtomicBool,
    progress_ms: AtomicU64,
    evicted: AtomicBool,
    eviction: Notify,
    header_ms: u64,
    idle_ms: u64,
}

impl ConnClock {
    pub fn new(limits: &Limits) -> Self {
        let header_ms = duration_ms(limits.header_read_timeout);
        ConnClock {
            base: tokio::time::Instant::now(),
            deadline_ms: AtomicU64::new(header_ms),
            idle: AtomicBool::new(false),
            progress_ms: AtomicU64::new(0),
            evicted: AtomicBool::new(false),
            eviction: Notify::new(),
            header_ms,
            idle_ms: duration_ms(limits.idle_timeout),
        }
    }

    fn now_ms(&self) -> u64 {
        duration_ms(self.base.elapsed())
    }

    /// Bytes arrived: if the connection was idle, a new head starts now.
    fn bytes_read(&self) {
        let now = self.now_ms();
        self.progress_ms.store(now, Ordering::Release);
        if self.idle.swap(false, Ordering::AcqRel) {
            self.deadline_ms
                .store(now.saturating_add(self.header_ms), Ordering::Release);
        }
    }

    /// Bytes went out.
    fn bytes_written(&self) {
        self.progress_ms.store(self.now_ms(), Ordering::Release);
    }

    #[cfg(test)]
    fn is_evicted(&self) -> bool {
        self.evicted.load(Ordering::Acquire)
    }

    /// A request head was read: idle until the next byte.
    fn request_read(&self) {
        let now = self.now_ms();
        self.progress_ms.store(now, Ordering::Release);
        self.idle.store(true, Ordering::Release);
        self.deadline_ms
            .store(now.saturating_add(self.idle_ms), Ordering::Release);
    }

    /// Resolves once the current deadline has passed, or when a new connection has taken this
    /// one's slot.
    pub async fn expired(&self) {
        loop {
            if self.evicted.load(Ordering::Acquire) {
                return;
            }
            let deadline = self.deadline_ms.load(Ordering::Acquire);
            let now = self.now_ms();
            if now >= deadline {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(deadline - now)) => {}
                _ = self.eviction.notified() => {}
            }
        }
    }
}

impl slots::Connection for ConnClock {
    fn stale_ms(&self) -> u64 {
        self.now_ms()
            .saturating_sub(self.progress_ms.load(Ordering::Acquire))
    }

    /// [`ConnClock::expired`] resolves at once.
    fn evict(&self) {
        self.evicted.store(true, Ordering::Release);
        // A stored permit: the wake-up is not lost if the task is not waiting yet.
        self.eviction.notify_one();
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A socket that tells its [`ConnClock`] when bytes arrive.
struct Guarded<S> {
    inner: S,
    clock: Arc<ConnClock>,
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Guarded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.clock.bytes_read();
        }
        r
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Guarded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.clock.bytes_written();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.clock.bytes_written();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lazy::Lazy;

    #[test]
    fn runbooks_are_served_where_relative_links_resolve() {
        assert_eq!(
            RUNBOOKS_PATH,
            format!("/{}", crate::rules::spec::DEFAULT_RUNBOOK_BASE)
        );
    }

    #[test]
    fn format_negotiation() {
        let prom = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(negotiate_format(Some(prom)), Format::OpenMetrics);
        assert_eq!(negotiate_format(None), Format::Text);
        assert_eq!(negotiate_format(Some("*/*")), Format::Text);
        assert_eq!(
            negotiate_format(Some("text/plain;version=0.0.4")),
            Format::Text
        );
        assert_eq!(
            negotiate_format(Some("application/openmetrics-text")),
            Format::OpenMetrics
        );
        assert_eq!(
            negotiate_format(Some("application/openmetrics-text; version=2.0.0")),
            Format::Text
        );
        assert_eq!(
            negotiate_format(Some("application/openmetrics-text;q=0")),
            Format::Text
        );
        assert_eq!(
            negotiate_format(Some("text/plain;q=0.9, application/openmetrics-text;q=0.5")),
            Format::Text
        );
        assert_eq!(negotiate_format(Some("garbage;;;=,,,")), Format::Text);
    }

    #[test]
    fn gzip_negotiation() {
        assert!(accepts_gzip(Some("gzip")));
        assert!(accepts_gzip(Some("deflate, GZIP;q=0.5")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(Some("br")));
        assert!(!accepts_gzip(None));
    }

    fn req(method: Method, path: &str) -> Request<()> {
        Request::builder()
            .method(method)
            .uri(path)
            .body(())
            .unwrap()
    }

    #[test]
    fn routes() {
        let s = Shared::new(Duration::from_secs(1));
        assert_eq!(
            handle(&req(Method::GET, "/metrics"), &s).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            handle(&req(Method::GET, "/readyz"), &s).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        s.publish(crate::state::Published {
            text: Bytes::from_static(b"t"),
            text_gzip: Lazy::ready(Bytes::from_static(b"tz")),
            openmetrics: Bytes::from_static(b"o"),
            openmetrics_gzip: Lazy::ready(Bytes::from_static(b"oz")),
            api: Lazy::ready(vec![("/api/v1/alerts", Bytes::from_static(b"{}"))]),
            history: None,
            profiles: None,
            status_page: Lazy::ready((Bytes::from_static(b"<!doctype html>"), Bytes::new())),
        });
        let r = handle(&req(Method::GET, "/metrics"), &s);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::CONTENT_TYPE], TEXT_CONTENT_TYPE);
        assert_eq!(s.scrapes_total.load(Ordering::Relaxed), 1);
        let r = handle(
            &Request::builder()
                .uri("/metrics")
                .header("accept", "application/openmetrics-text")
                .header("accept-encoding", "gzip")
                .body(())
                .unwrap(),
            &s,
        );
        assert_eq!(r.headers()[header::CONTENT_TYPE], OPENMETRICS_CONTENT_TYPE);
        assert_eq!(r.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(
            handle(&req(Method::GET, "/readyz"), &s).status(),
            StatusCode::OK
        );
        assert_eq!(
            handle(&req(Method::GET, "/healthz"), &s).status(),
            StatusCode::OK
        );
        assert_eq!(handle(&req(Method::GET, "/"), &s).status(), StatusCode::OK);
        let r = handle(&req(Method::GET, "/api/v1/alerts"), &s);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(
            handle(&req(Method::GET, "/api/v1/nope"), &s).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            handle(&req(Method::GET, "/nope"), &s).status(),
            StatusCode::NOT_FOUND
        );
        let r = handle(&req(Method::POST, "/metrics"), &s);
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(r.headers()[header::ALLOW], "GET, HEAD");
        assert_eq!(
            handle(&req(Method::HEAD, "/metrics"), &s).status(),
            StatusCode::OK
        );
    }
    #[test]
    fn metrics_only_and_query_validation() {
        let s = Shared::new(Duration::from_secs(1));
        let get = |path: &str, metrics_only: bool| route(&req(Method::GET, path), &s, metrics_only);
        assert_eq!(get("/", true).status(), StatusCode::NOT_FOUND);
        // The status page exists (503 until the first tick publishes it).
        assert_eq!(get("/", false).status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(get("/healthz", true).status(), StatusCode::OK);
        assert_eq!(get("/nope", true).status(), StatusCode::NOT_FOUND);
        let r = get("/healthz?verbose=1", false);
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
        let body = futures_body(r);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["status"], "error");
        assert_eq!(v["errorType"], "bad_data");
        assert!(
            v["error"]
                .as_str()
                .unwrap()
                .contains("unknown query parameter \"verbose\" for /healthz; it takes none"),
            "{v}"
        );
        assert_eq!(get("/healthz?", false).status(), StatusCode::OK);
        assert_eq!(
            get("/healthz?a=%zz", false).status(),
            StatusCode::BAD_REQUEST
        );
        // Methods are checked before parameters.
        assert_eq!(
            route(&req(Method::POST, "/metrics?x=1"), &s, false).status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
    }

    #[test]
    fn history_routes_and_status_page() {
        use crate::history::{HistoryConfig, HistoryStore};
        let s = Shared::new(Duration::from_secs(1));
        let get = |path: &str| route(&req(Method::GET, path), &s, false);
        assert_eq!(get("/").status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            get("/api/v1/stats").status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        let mut store = HistoryStore::new(HistoryConfig::default(), Duration::from_secs(1));
        let t = crate::sample::TargetSample {
            name: "app".into(),
            up: true,
            resident_memory_bytes: Some(1 << 20),
            ..Default::default()
        };
        let views = store.update(1.7e9, std::slice::from_ref(&t));
        s.publish(crate::state::Published {
            text: Bytes::new(),
            text_gzip: Lazy::ready(Bytes::new()),
            openmetrics: Bytes::new(),
            openmetrics_gzip: Lazy::ready(Bytes::new()),
            api: Lazy::ready(vec![("/api/v1/alerts", Bytes::from_static(b"{}"))]),
            history: Some(views),
            profiles: None,
            status_page: Lazy::ready((
                Bytes::from_static(b"<!doctype html><p>page</p>"),
                crate::expose::gzip(b"<!doctype html><p>page</p>"),
            )),
        });
        for path in [
            "/api/v1/targets",
            "/api/v1/samples?target=app&limit=5",
            "/api/v1/stats?target=app",
            "/api/v1/trends",
            "/api/v1/recommendations?target=app",
        ] {
            let r = get(path);
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
            let v: serde_json::Value = serde_json::from_slice(&futures_body(r)).unwrap();
            assert_eq!(v["status"], "success", "{path}");
        }
        for (path, error) in [
            (
                "/api/v1/stats?tgt=app",
                "unknown query parameter \"tgt\" for /api/v1/stats; allowed: target",
            ),
            (
                "/api/v1/stats?target=db",
                "unknown target \"db\"; targets: \"app\"",
            ),
            (
                "/api/v1/samples?target=app&limit=0",
                "limit must be a whole number from 1 to 3600, got \"0\"",
            ),
            (
                "/api/v1/targets?target=app",
                "unknown query parameter \"target\" for /api/v1/targets; it takes none",
            ),
            (
                "/api/v1/alerts?state=firing",
                "unknown query parameter \"state\" for /api/v1/alerts; it takes none",
            ),
        ] {
            let r = get(path);
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{path}");
            assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
            let v: serde_json::Value = serde_json::from_slice(&futures_body(r)).unwrap();
            assert_eq!(v["status"], "error");
            assert_eq!(v["errorType"], "bad_data");
            assert_eq!(v["error"], error, "{path}");
        }
        let r = get("/");
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        assert_eq!(
            r.headers()[header::CONTENT_SECURITY_POLICY],
            STATUS_PAGE_CSP
        );
        assert_eq!(r.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(&futures_body(r)[..], b"<!doctype html><p>page</p>");
        let r = handle(
            &Request::builder()
                .uri("/")
                .header("accept-encoding", "gzip")
                .body(())
                .unwrap(),
            &s,
        );
        assert_eq!(r.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(get("/?x=1").status(), StatusCode::BAD_REQUEST);
        assert_eq!(get("/api/v1/nothing").status(), StatusCode::NOT_FOUND);
    }

    /// Every `/api/v1/` error, whatever its cause, is Prometheus's error envelope.
    #[test]
    fn api_errors_share_one_json_shape() {
        let s = Shared::new(std::time::Duration::from_secs(1));
        let check = |path: &str, s: &Shared, status: StatusCode, error_type: &str| {
            let r = handle(&req(Method::GET, path), s);
            assert_eq!(r.status(), status, "{path}");
            assert_eq!(
                r.headers()[header::CONTENT_TYPE],
                "application/json",
                "{path}"
            );
            let v: serde_json::Value = serde_json::from_slice(&futures_body(r)).unwrap();
            assert_eq!(v["status"], "error", "{path}");
            assert_eq!(v["errorType"], error_type, "{path}");
            assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{path}");
        };
        check(
            "/api/v1/alerts",
            &s,
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
        );
        check(
            "/api/v1/stats",
            &s,
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
        );
        s.publish(crate::state::Published {
            text: Bytes::new(),
            text_gzip: Lazy::ready(Bytes::new()),
            openmetrics: Bytes::new(),
            openmetrics_gzip: Lazy::ready(Bytes::new()),
            api: Lazy::ready(vec![("/api/v1/alerts", Bytes::from_static(b"{}"))]),
            history: None,
            status_page: Lazy::ready(Default::default()),
            profiles: None,
        });
        check("/api/v1/nope", &s, StatusCode::NOT_FOUND, "not_found");
        check("/api/v1/stats", &s, StatusCode::NOT_FOUND, "not_found");
        check(
            "/api/v1/stats?tgt=x",
            &s,
            StatusCode::BAD_REQUEST,
            "bad_data",
        );
    }

    fn futures_body(r: Response<Full<Bytes>>) -> Bytes {
        use http_body_util::BodyExt as _;
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(r.into_body().collect()).unwrap().to_bytes()
    }

    #[test]
    fn query_parsing() {
        assert_eq!(
            parse_query("a=1&b=x%20y+z&c&&d=").unwrap(),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y z".into()),
                ("c".into(), "".into()),
                ("d".into(), "".into())
            ]
        );
        assert!(parse_query("=1").is_err());
        assert!(parse_query("a=%").is_err());
        assert!(parse_query("a=%ff").is_err(), "not UTF-8");
        assert!(parse_query(&"a".repeat(MAX_QUERY_BYTES + 1)).is_err());
        assert_eq!(
            check_query(Some("target=x"), "/api", &["target"]).unwrap(),
            vec![("target".into(), "x".into())]
        );
        let e = check_query(Some("tgt=x"), "/api", &["target", "window"]).unwrap_err();
        assert!(e.contains("allowed: target, window"), "{e}");
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn connection_clock_header_and_idle_deadlines() {
        use slots::Connection as _;
        let limits = Limits {
            header_read_timeout: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(60),
            ..Limits::default()
        };
        let c = ConnClock::new(&limits);
        // A new connection has the header timeout, however many bytes trickle in.
        c.bytes_read();
        tokio::time::advance(Duration::from_millis(1500)).await;
        c.bytes_read();
        let t0 = tokio::time::Instant::now();
        c.expired().await;
        assert_eq!(t0.elapsed(), Duration::from_millis(500));
        // After a request: idle timeout until the next byte, then the header timeout again.
        c.request_read();
        let t0 = tokio::time::Instant::now();
        tokio::time::advance(Duration::from_secs(30)).await;
        c.bytes_read();
        c.expired().await;
        assert_eq!(t0.elapsed(), Duration::from_secs(32));
        // Evicted (its slot taken by a new connection): resolves at once, mid-deadline.
        c.request_read();
        assert_eq!(c.stale_ms(), 0);
        tokio::time::advance(Duration::from_millis(500)).await;
        assert_eq!(c.stale_ms(), 500);
        let t0 = tokio::time::Instant::now();
        tokio::join!(c.expired(), async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            c.evict();
        });
        assert_eq!(t0.elapsed(), Duration::from_millis(10));
    }
}
