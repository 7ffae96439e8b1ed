//! The HTTP server: hyper 1 over HTTP/1.1 on a current-thread Tokio runtime. It never reads
//! procfs; `/metrics` copies the bodies the last tick published (a reference-count increment),
//! chosen by `Accept` (OpenMetrics 1.0.0 or text 0.0.4) and `Accept-Encoding` (gzip).
//!
//! Limits: a header read timeout (slow clients are dropped), a cap on the request head size, a
//! cap on a connection's lifetime, and a cap on concurrent connections (beyond it, new connections
//! wait in the kernel backlog).

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::state::Shared;

pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Clone)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub max_connection_lifetime: Duration,
    pub max_connections: usize,
    pub max_head_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: Duration::from_secs(5),
            max_connection_lifetime: Duration::from_secs(600),
            max_connections: 256,
            max_head_bytes: 16 * 1024,
        }
    }
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
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let mut q: f32 = 1.0;
        let mut version_ok = true;
        for p in parts {
            let Some((k, v)) = p.split_once('=') else {
                continue;
            };
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().trim_matches('"'));
            match k.as_str() {
                "q" => {
                    q = v
                        .parse::<f32>()
                        .ok()
                        .filter(|q| (0.0..=1.0).contains(q))
                        .unwrap_or(0.0)
                }
                "version" if media == "application/openmetrics-text" => {
                    version_ok = matches!(v, "1.0.0" | "0.0.1")
                }
                _ => {}
            }
        }
        match media.as_str() {
            "application/openmetrics-text" if version_ok => best_om = best_om.max(q),
            "text/plain" | "text/*" | "*/*" => best_text = best_text.max(q),
            _ => {}
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

const LANDING: &str = "<!doctype html><html><head><meta charset=\"utf-8\"><title>sidewatch</title></head><body><h1>sidewatch</h1><p>A Prometheus exporter for the processes of one application.</p><ul><li><a href=\"/metrics\">/metrics</a></li><li><a href=\"/healthz\">/healthz</a></li><li><a href=\"/readyz\">/readyz</a></li></ul></body></html>\n";

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
                (Format::Text, true) => (p.text_gzip.clone(), TEXT_CONTENT_TYPE),
                (Format::OpenMetrics, false) => (p.openmetrics.clone(), OPENMETRICS_CONTENT_TYPE),
                (Format::OpenMetrics, true) => {
                    (p.openmetrics_gzip.clone(), OPENMETRICS_CONTENT_TYPE)
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
        "/" => respond(StatusCode::OK, "text/html; charset=utf-8", LANDING),
        api if api.starts_with("/api/") => match shared.published() {
            None => respond(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain; charset=utf-8",
                "not ready: the first sample has not been taken yet\n",
            ),
            Some(p) => match p.api(api) {
                Some(body) => respond(StatusCode::OK, "application/json", body.clone()),
                None => respond(
                    StatusCode::NOT_FOUND,
                    "text/plain; charset=utf-8",
                    "not found; try /api/v1/alerts, /api/v1/slos or /api/v1/rules\n",
                ),
            },
        },
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
/// `grace` to finish.
pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()>,
    grace: Duration,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Some(limits.header_read_timeout))
        .keep_alive(true)
        .max_buf_size(limits.max_head_bytes.max(8192));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = &mut shutdown => break,
        };
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
        let shared = shared.clone();
        let service = service_fn(move |req: Request<Incoming>| {
            let r = handle(&req, &shared);
            async move { Ok::<_, Infallible>(r) }
        });
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        let lifetime = limits.max_connection_lifetime;
        tokio::spawn(async move {
            // Slow or silent clients are cut by the header read timeout; this bound also frees
            // the slot of a client that keeps a connection open forever. Prometheus reconnects.
            let _ = tokio::time::timeout(lifetime, conn).await;
            drop(permit);
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

#[cfg(test)]
mod tests {
    use super::*;

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
            text_gzip: Bytes::from_static(b"tz"),
            openmetrics: Bytes::from_static(b"o"),
            openmetrics_gzip: Bytes::from_static(b"oz"),
            api: vec![("/api/v1/alerts", Bytes::from_static(b"{}"))],
            history: None,
            status_page: Bytes::from_static(b"<!doctype html>"),
            status_page_gzip: Bytes::new(),
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
}
