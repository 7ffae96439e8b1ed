//! A target's `app:` section (the application's own metrics endpoint), as written and validated.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::source::app::{AppSpec, HttpSpec};
use crate::source::http::{Client, TlsOptions};

/// Fetch timeout when none is given: half the interval, at most 5 s (leaves the other half of
/// the interval for a slow runtime before the result counts as late).
pub const MAX_DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Body cap when none is given (before and after gzip).
pub const DEFAULT_MAX_BODY_BYTES: u64 = 4 * 1024 * 1024;

/// `app:` as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppFile {
    pub metrics_url: String,
    #[serde(default, deserialize_with = "crate::config::yaml::de_opt_duration")]
    pub timeout: Option<Duration>,
    pub bearer_token_file: Option<PathBuf>,
    #[serde(default)]
    pub tls: TlsFile,
    #[serde(default, deserialize_with = "de_opt_size")]
    pub max_body_bytes: Option<u64>,
    /// The app's HTTP request histogram when it is none of the known ones.
    #[serde(default)]
    pub http: Option<HttpSpec>,
}

/// `app.tls:` as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFile {
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

pub(super) fn de_opt_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        N(u64),
        S(String),
    }
    let bytes = match Option::<Size>::deserialize(d)? {
        None => return Ok(None),
        Some(Size::N(n)) => n,
        Some(Size::S(s)) => crate::units::parse_size(&s).map_err(serde::de::Error::custom)? as u64,
    };
    Ok(Some(bytes))
}

/// Validates `app:`; errors are `(field under app, reason)`.
pub fn validate(a: &AppFile, interval: Duration) -> Result<AppSpec, (String, String)> {
    let err = |f: &str, r: String| Err((f.to_string(), r));
    let uri: hyper::Uri = match a.metrics_url.parse() {
        Ok(u) => u,
        Err(e) => {
            return err(
                "metrics_url",
                format!("{:?} is not a URL: {e}", a.metrics_url),
            );
        }
    };
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        return err(
            "metrics_url",
            format!(
                "{:?}: give an http:// or https:// URL with a host, e.g. http://127.0.0.1:8080/metrics",
                a.metrics_url
            ),
        );
    }
    let timeout = a
        .timeout
        .unwrap_or_else(|| (interval / 2).min(MAX_DEFAULT_TIMEOUT));
    // The result is taken at the next tick: the fetch must end well before it.
    if timeout.is_zero() || timeout > interval.mul_f64(0.9) {
        return err(
            "timeout",
            format!(
                "{} must be more than 0 and at most 90% of the interval ({})",
                humantime::format_duration(timeout),
                humantime::format_duration(interval)
            ),
        );
    }
    let max_body_bytes = a.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES);
    if max_body_bytes == 0 {
        return err("max_body_bytes", "must be more than 0".into());
    }
    let bearer_token_file = a.bearer_token_file.clone();
    if let Some(p) = &bearer_token_file {
        if let Err(e) = std::fs::metadata(p) {
            return err("bearer_token_file", format!("{}: {e}", p.display()));
        }
    }
    let tls = TlsOptions {
        ca_file: a.tls.ca_file.clone(),
        insecure_skip_verify: a.tls.insecure_skip_verify,
    };
    if uri.scheme_str() == Some("https") {
        if let Err(reason) = Client::new(&tls) {
            return err("tls.ca_file", reason);
        }
    } else if tls != TlsOptions::default() {
        return err("tls", "TLS options need an https:// metrics_url".into());
    }
    if let Some(h) = &a.http {
        let name_ok = |s: &str| crate::request::Selector::parse(s).is_ok_and(|x| x.name == s);
        if !name_ok(&h.histogram) {
            return err(
                "http.histogram",
                format!(
                    "{:?} is not a metric name; give the histogram's base name, e.g. http_request_duration_seconds",
                    h.histogram
                ),
            );
        }
        if let Some(l) = h
            .status_label
            .as_deref()
            .filter(|l| !name_ok(l) || l.contains(':'))
        {
            return err("http.status_label", format!("{l:?} is not a label name"));
        }
    }
    Ok(AppSpec {
        metrics_url: uri,
        timeout,
        bearer_token_file,
        tls,
        max_body_bytes,
        http: a.http.clone(),
    })
}
