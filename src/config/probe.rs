//! A target's `probe:` section (an HTTP probe of the application), as written and validated. The
//! field names are blackbox_exporter's (`valid_status_codes`, `fail_if_body_not_matches_regexp`,
//! `method`, `headers`, `timeout`).

use std::collections::BTreeMap;
use std::time::Duration;

use hyper::header::{HeaderName, HeaderValue};
use serde::Deserialize;

use super::app::TlsFile;
use crate::source::http::{Client, TlsOptions};
use crate::source::probe::{BodyRegex, ProbeSpec};

/// Timeout when none is given: half the probe interval, at most 5 s, so a failed probe has
/// ended well before the next one is due.
pub const MAX_DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest probe interval (a probe less often than daily tells nothing of availability).
pub const MAX_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// `probe:` as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeFile {
    pub url: String,
    #[serde(default, deserialize_with = "crate::config::yaml::de_opt_duration")]
    pub interval: Option<Duration>,
    #[serde(default, deserialize_with = "crate::config::yaml::de_opt_duration")]
    pub timeout: Option<Duration>,
    pub method: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub valid_status_codes: Vec<u16>,
    pub fail_if_body_not_matches_regexp: Option<String>,
    #[serde(default)]
    pub no_follow_redirects: bool,
    #[serde(default)]
    pub tls: TlsFile,
}

/// Validates `probe:`; errors are `(field under probe, reason)`. `tick` is the sampling
/// interval, the default probe interval.
pub fn validate(p: &ProbeFile, tick: Duration) -> Result<ProbeSpec, (String, String)> {
    let err = |f: &str, r: String| Err((f.to_string(), r));
    let url: hyper::Uri = match p.url.parse() {
        Ok(u) => u,
        Err(e) => return err("url", format!("{:?} is not a URL: {e}", p.url)),
    };
    if !matches!(url.scheme_str(), Some("http" | "https")) || url.host().is_none() {
        return err(
            "url",
            format!(
                "{:?}: give an http:// or https:// URL with a host, e.g. http://127.0.0.1:8080/healthz",
                p.url
            ),
        );
    }
    let interval = p.interval.unwrap_or(tick);
    if interval < Duration::from_millis(100) || interval > MAX_INTERVAL {
        return err(
            "interval",
            format!(
                "{}: give 100ms to 24h",
                humantime::format_duration(interval)
            ),
        );
    }
    let timeout = p
        .timeout
        .unwrap_or_else(|| (interval / 2).min(MAX_DEFAULT_TIMEOUT));
    if timeout.is_zero() {
        return err("timeout", "must be more than 0".into());
    }
    let method = match p.method.as_deref().map(str::to_ascii_uppercase).as_deref() {
        None | Some("GET") => hyper::Method::GET,
        Some("HEAD") => hyper::Method::HEAD,
        Some(other) => return err("method", format!("{other:?}: GET or HEAD")),
    };
    let mut headers = Vec::with_capacity(p.headers.len());
    for (k, v) in &p.headers {
        let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
            (
                format!("headers.{k}"),
                "not a valid header name".to_string(),
            )
        })?;
        let value = HeaderValue::from_str(v).map_err(|_| {
            (
                format!("headers.{k}"),
                "not a valid header value".to_string(),
            )
        })?;
        headers.push((name, value));
    }
    if let Some(c) = p
        .valid_status_codes
        .iter()
        .find(|c| !(100..=599).contains(*c))
    {
        return err(
            "valid_status_codes",
            format!("{c} is not an HTTP status code (100-599)"),
        );
    }
    let body_regex = match &p.fail_if_body_not_matches_regexp {
        None => None,
        Some(r) => match super::yaml::parse_regex(r) {
            Ok(re) => Some(BodyRegex(re)),
            Err(e) => return err("fail_if_body_not_matches_regexp", e),
        },
    };
    if body_regex.is_some() && method == hyper::Method::HEAD {
        return err(
            "fail_if_body_not_matches_regexp",
            "a HEAD answer has no body: use method GET".into(),
        );
    }
    let tls = TlsOptions {
        ca_file: p.tls.ca_file.clone(),
        insecure_skip_verify: p.tls.insecure_skip_verify,
    };
    if url.scheme_str() == Some("https") {
        if let Err(reason) = Client::new(&tls) {
            return err("tls.ca_file", reason);
        }
    } else if tls != TlsOptions::default() {
        return err("tls", "TLS options need an https:// url".into());
    }
    Ok(ProbeSpec {
        url,
        interval,
        timeout,
        method,
        headers,
        valid_status_codes: p.valid_status_codes.clone(),
        fail_if_body_not_matches_regexp: body_regex,
        no_follow_redirects: p.no_follow_redirects,
        tls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(url: &str) -> ProbeFile {
        ProbeFile {
            url: url.into(),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_follow_the_interval() {
        let s = validate(
            &file("http://127.0.0.1:8080/healthz"),
            Duration::from_secs(4),
        )
        .unwrap();
        assert_eq!(s.interval, Duration::from_secs(4));
        assert_eq!(s.timeout, Duration::from_secs(2));
        assert_eq!(s.method, hyper::Method::GET);
        let s = validate(&file("http://h/"), Duration::from_secs(60)).unwrap();
        assert_eq!(s.timeout, MAX_DEFAULT_TIMEOUT);
    }

    #[test]
    fn errors_name_the_field() {
        let tick = Duration::from_secs(5);
        let field = |p: ProbeFile| validate(&p, tick).unwrap_err().0;
        assert_eq!(field(file("ftp://h/")), "url");
        assert_eq!(field(file("not a url")), "url");
        let mut p = file("http://h/");
        p.method = Some("POST".into());
        assert_eq!(field(p), "method");
        let mut p = file("http://h/");
        p.valid_status_codes = vec![200, 999];
        assert_eq!(field(p), "valid_status_codes");
        let mut p = file("http://h/");
        p.fail_if_body_not_matches_regexp = Some("(".into());
        assert_eq!(field(p), "fail_if_body_not_matches_regexp");
        let mut p = file("http://h/");
        p.headers.insert("bad name".into(), "v".into());
        assert_eq!(field(p), "headers.bad name");
        let mut p = file("http://h/");
        p.timeout = Some(Duration::ZERO);
        assert_eq!(field(p), "timeout");
        let mut p = file("http://h/");
        p.tls.insecure_skip_verify = true;
        assert_eq!(field(p), "tls");
    }
}
