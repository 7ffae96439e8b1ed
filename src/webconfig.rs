//! The web configuration file (`--web.config.file`): TLS, basic auth, extra response headers and
//! a rate limit, in the format of the Prometheus exporter-toolkit, so the file a user already
//! gives node_exporter or process-exporter works here unchanged. Same keys, same defaults, same
//! allowed headers; unknown keys are errors. Parsing and validation are pure; the server asks a
//! loaded [`WebConfig`] whether a request may pass ([`WebConfig::check_auth`],
//! [`RateLimiter::allow`]) and which headers to add.
//!
//! Differences forced by rustls (documented in docs/security.md): TLS 1.0/1.1 are never offered
//! (`min_version: TLS10|TLS11` serves TLS 1.2+), only AEAD cipher suites with forward secrecy
//! exist, `CurveP521` is not available, `http2` is accepted but HTTP/1.1 is served, and
//! `client_allowed_sans` matches DNS names and IP addresses only.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::header::{HeaderName, HeaderValue};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{VerifierBuilderError, WebPkiClientVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};
use serde::Deserialize;

use crate::config::{ConfigError, parse_yaml};

// ---------------------------------------------------------------------------------------------
// The file as written (exporter-toolkit's `web.Config`).

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfigFile {
    pub tls_server_config: Option<TlsServerConfigFile>,
    pub http_server_config: Option<HttpServerConfigFile>,
    pub basic_auth_users: Option<BTreeMap<String, String>>,
    pub rate_limit: Option<RateLimitFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsServerConfigFile {
    pub cert: Option<String>,
    pub key: Option<String>,
    pub client_ca: Option<String>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub client_auth_type: Option<String>,
    pub client_ca_file: Option<PathBuf>,
    pub cipher_suites: Option<Vec<String>>,
    pub curve_preferences: Option<Vec<String>>,
    pub min_version: Option<String>,
    pub max_version: Option<String>,
    pub prefer_server_cipher_suites: Option<bool>,
    pub client_allowed_sans: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpServerConfigFile {
    pub http2: Option<bool>,
    pub headers: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitFile {
    /// A Go duration (`1s`, `100ms`, `1m30s`); `0` disables the limiter.
    pub interval: Option<String>,
    pub burst: Option<u32>,
}

/// Headers the toolkit lets a user add, with the values it allows (empty: any value).
/// Kept identical to exporter-toolkit's `extraHTTPHeaders` for consistency across exporters.
pub const ALLOWED_HEADERS: [(&str, &[&str]); 5] = [
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

/// Parses a Go `time.ParseDuration` string: `300ms`, `1.5h`, `2h45m`, `0`.
pub fn parse_go_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration {s:?}; examples: 1s, 100ms, 1m30s");
    let t = s.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    if t.is_empty() || t.starts_with('-') {
        return Err(bad());
    }
    let t = t.strip_prefix('+').unwrap_or(t);
    let mut rest = t;
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let (num, after) = rest.split_at(num_len);
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(bad());
        }
        let value: f64 = num.parse().map_err(|_| bad())?;
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += value * scale;
        rest = next;
    }
    // Go's limit is ~292 years; anything beyond is a mistake.
    if !total.is_finite() || total > 9.2e9 {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(total))
}

// ---------------------------------------------------------------------------------------------
// The validated configuration.

/// Which client certificates the server asks for (exporter-toolkit `client_auth_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    NoClientCert,
    RequestClientCert,
    RequireAnyClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

impl ClientAuth {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "" | "NoClientCert" => ClientAuth::NoClientCert,
            "RequestClientCert" => ClientAuth::RequestClientCert,
            // "RequireClientCert" is kept by the toolkit for backwards compatibility.
            "RequireAnyClientCert" | "RequireClientCert" => ClientAuth::RequireAnyClientCert,
            "VerifyClientCertIfGiven" => ClientAuth::VerifyClientCertIfGiven,
            "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerifyClientCert,
            _ => return None,
        })
    }
}

/// A token bucket with the semantics of Go's `rate.NewLimiter(rate.Every(interval), burst)`:
/// one token every `interval`, at most `burst` saved up; a request takes one token or gets 429.
#[derive(Debug)]
pub struct RateLimiter {
    pub interval: Duration,
    pub burst: u32,
    state: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    pub fn new(interval: Duration, burst: u32) -> Self {
        RateLimiter {
            interval,
            burst,
            state: Mutex::new((f64::from(burst), Instant::now())),
        }
    }

    /// Takes a token if one is available.
    pub fn allow(&self) -> bool {
        self.allow_at(Instant::now())
    }

    pub fn allow_at(&self, now: Instant) -> bool {
        let Ok(mut st) = self.state.lock() else {
            return true; // a poisoned lock must not turn into a denial of service
        };
        let (tokens, last) = *st;
        let elapsed = now.saturating_duration_since(last).as_secs_f64();
        let rate = 1.0 / self.interval.as_secs_f64().max(1e-9);
        let tokens = (tokens + elapsed * rate).min(f64::from(self.burst));
        if tokens >= 1.0 {
            *st = (tokens - 1.0, now.max(last));
            true
        } else {
            *st = (tokens, now.max(last));
            false
        }
    }
}

/// The outcome of checking a request's credentials without hashing.
#[derive(Debug)]
pub enum AuthCheck {
    /// No users configured: everyone may pass.
    Open,
    /// A previous identical check succeeded.
    Cached,
    /// No or malformed credentials.
    Missing,
    /// A bcrypt comparison is needed (run it off the async threads).
    Verify(PendingCheck),
}

/// Everything a blocking bcrypt comparison needs, owned so it can move to another thread.
#[derive(Debug)]
pub struct PendingCheck {
    key: [u8; 32],
    hash: String,
    password: Vec<u8>,
    known_user: bool,
}

impl PendingCheck {
    /// Runs bcrypt. Unknown users are compared with a dummy hash of the same cost, so their
    /// answer takes as long as a wrong password's. Returns whether the credentials are valid.
    pub fn verify(&self) -> bool {
        let ok = bcrypt::verify(&self.password, &self.hash).unwrap_or(false);
        ok && self.known_user
    }
}

/// Successful credential checks, keyed by a salted SHA-256 of user, stored hash and password
/// (never the plaintext). Bounded: when full, an arbitrary entry is dropped.
#[derive(Debug)]
pub struct AuthCache {
    salt: [u8; 32],
    ok: Mutex<HashSet<[u8; 32]>>,
}

const AUTH_CACHE_SIZE: usize = 256;

impl AuthCache {
    fn new() -> Self {
        let mut salt = [0u8; 32];
        // Without randomness the cache keys are still unguessable hashes of the secrets; the
        // salt only stops precomputation, so a failure here is not fatal.
        let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut salt);
        AuthCache {
            salt,
            ok: Mutex::new(HashSet::with_capacity(AUTH_CACHE_SIZE)),
        }
    }

    fn key(&self, user: &[u8], hash: &str, password: &[u8]) -> [u8; 32] {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(&self.salt);
        ctx.update(&(user.len() as u64).to_le_bytes());
        ctx.update(user);
        ctx.update(&(hash.len() as u64).to_le_bytes());
        ctx.update(hash.as_bytes());
        ctx.update(password);
        let d = ctx.finish();
        let mut k = [0u8; 32];
        k.copy_from_slice(d.as_ref());
        k
    }

    fn contains(&self, key: &[u8; 32]) -> bool {
        self.ok.lock().map(|s| s.contains(key)).unwrap_or(false)
    }

    pub fn insert_success(&self, check: &PendingCheck) {
        if let Ok(mut s) = self.ok.lock() {
            if s.len() >= AUTH_CACHE_SIZE {
                if let Some(k) = s.iter().next().copied() {
                    s.remove(&k);
                }
            }
            s.insert(check.key);
        }
    }

    pub fn len(&self) -> usize {
        self.ok.lock().map(|s| s.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A loaded, validated web configuration. The default is plain HTTP without auth.
pub struct WebConfig {
    /// `None`: plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// user → bcrypt hash.
    pub users: BTreeMap<String, String>,
    /// Compared against for unknown users: same cost as the real hashes.
    dummy_hash: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub rate_limit: Option<RateLimiter>,
    pub cache: AuthCache,
    /// Files this configuration was built from (the web config itself, certificates, keys,
    /// CAs): a change to any of them triggers a reload.
    pub files: Vec<PathBuf>,
    /// What is in force, for the log.
    pub summary: String,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("summary", &self.summary)
            .finish_non_exhaustive()
    }
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            tls: None,
            users: BTreeMap::new(),
            dummy_hash: String::new(),
            headers: Vec::new(),
            rate_limit: None,
            cache: AuthCache::new(),
            files: Vec::new(),
            summary: "plain HTTP, no authentication".into(),
        }
    }
}

impl WebConfig {
    /// Checks an `Authorization` header value. Allocation-free unless bcrypt is needed.
    pub fn check_auth(&self, authorization: Option<&[u8]>) -> AuthCheck {
        if self.users.is_empty() {
            return AuthCheck::Open;
        }
        let mut buf = [0u8; MAX_CREDENTIALS];
        let Some((user, password)) = authorization.and_then(|h| decode_basic_auth(h, &mut buf))
        else {
            return AuthCheck::Missing;
        };
        let (hash, known_user) = match std::str::from_utf8(user)
            .ok()
            .and_then(|u| self.users.get(u))
        {
            Some(h) => (h.as_str(), true),
            None => (self.dummy_hash.as_str(), false),
        };
        let key = self.cache.key(user, hash, password);
        if known_user && self.cache.contains(&key) {
            return AuthCheck::Cached;
        }
        AuthCheck::Verify(PendingCheck {
            key,
            hash: hash.to_string(),
            password: password.to_vec(),
            known_user,
        })
    }
}

/// Longest decoded `user:password` accepted (bytes).
pub const MAX_CREDENTIALS: usize = 512;

/// Decodes `Basic <base64(user:password)>` into `buf`; `None` when malformed or too long.
pub fn decode_basic_auth<'b>(header: &[u8], buf: &'b mut [u8]) -> Option<(&'b [u8], &'b [u8])> {
    let header = trim_ascii(header);
    if header.len() < 6 || !header[..5].eq_ignore_ascii_case(b"basic") || header[5] != b' ' {
        return None;
    }
    let b64 = trim_ascii(&header[6..]);
    let n = decode_base64(b64, buf)?;
    let decoded = &buf[..n];
    let colon = decoded.iter().position(|b| *b == b':')?;
    Some((&decoded[..colon], &decoded[colon + 1..]))
}

fn trim_ascii(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Standard base64 with padding into `out`; returns the decoded length.
pub fn decode_base64(input: &[u8], out: &mut [u8]) -> Option<usize> {
    if input.len() % 4 != 0 || input.len() / 4 * 3 > out.len() + 2 {
        return None;
    }
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut n = 0;
    let chunks = input.len() / 4;
    for (i, chunk) in input.chunks_exact(4).enumerate() {
        let last = i + 1 == chunks;
        let pad = match (chunk[2], chunk[3]) {
            (b'=', b'=') if last => 2,
            (_, b'=') if last => 1,
            _ => 0,
        };
        let mut acc = 0u32;
        for (j, c) in chunk.iter().enumerate() {
            let v = if j >= 4 - pad { 0 } else { val(*c)? };
            acc = (acc << 6) | v;
        }
        let bytes = [(acc >> 16) as u8, (acc >> 8) as u8, acc as u8];
        let take = 3 - pad;
        if n + take > out.len() {
            return None;
        }
        out[n..n + take].copy_from_slice(&bytes[..take]);
        n += take;
    }
    Some(n)
}

// ---------------------------------------------------------------------------------------------
// Loading.

/// Reads and validates a web config file (certificates and keys included).
pub fn load(path: &Path) -> Result<WebConfig, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(Some(path), "", format!("cannot read: {e}")))?;
    let file: WebConfigFile = if text.trim().is_empty() {
        WebConfigFile::default()
    } else {
        parse_yaml(&text, Some(path))?
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    build(file, Some(path), dir)
}

/// Validates a parsed file. Relative paths are taken from `dir` (the file's directory), as in
/// the toolkit.
pub fn build(
    file: WebConfigFile,
    path: Option<&Path>,
    dir: &Path,
) -> Result<WebConfig, ConfigError> {
    let err = |field: &str, reason: String| ConfigError::new(path, field, reason);
    let mut files: Vec<PathBuf> = path.map(Path::to_path_buf).into_iter().collect();
    let headers = response_headers(&file, &err)?;
    let users = file.basic_auth_users.unwrap_or_default();
    let dummy_hash = dummy_hash(&users, &err)?;
    let rate_limit = match &file.rate_limit {
        Some(r) => rate_limiter(r, &err)?,
        None => None,
    };
    let tls = match file.tls_server_config {
        Some(t) if tls_enabled(&t) => {
            let (cfg, used, desc) = build_tls(t, dir, &err)?;
            files.extend(used);
            Some((Arc::new(cfg), desc))
        }
        _ => None,
    };
    let summary = summary(tls.as_ref().map(|(_, d)| d.as_str()), &users, &rate_limit);
    Ok(WebConfig {
        tls: tls.map(|(cfg, _)| cfg),
        users,
        dummy_hash,
        headers,
        rate_limit,
        cache: AuthCache::new(),
        files,
        summary,
    })
}

/// One line for the startup log: transport, then authentication and rate limit.
fn summary(
    tls: Option<&str>,
    users: &BTreeMap<String, String>,
    rate_limit: &Option<RateLimiter>,
) -> String {
    let mut summary = vec![tls.unwrap_or("plain HTTP").to_string()];
    if !users.is_empty() {
        summary.push(format!("basic auth ({} user(s))", users.len()));
    }
    if let Some(r) = rate_limit {
        summary.push(format!(
            "rate limit 1 per {} (burst {})",
            humantime::format_duration(r.interval),
            r.burst
        ));
    }
    if users.is_empty() {
        summary.push("no authentication".into());
    }
    summary.join(", ")
}

/// `http_server_config.headers`: only the toolkit's allowed headers, with their allowed values.
fn response_headers(
    file: &WebConfigFile,
    err: &ErrFn<'_>,
) -> Result<Vec<(HeaderName, HeaderValue)>, ConfigError> {
    let mut headers = Vec::new();
    let Some(h) = file
        .http_server_config
        .as_ref()
        .and_then(|c| c.headers.as_ref())
    else {
        return Ok(headers);
    };
    for (k, v) in h {
        let field = format!("http_server_config.headers.{k}");
        let Some((_, allowed)) = ALLOWED_HEADERS.iter().find(|(name, _)| name == k) else {
            return Err(err(
                &field,
                format!(
                    "HTTP header {k:?} can not be configured; allowed: {}",
                    ALLOWED_HEADERS.map(|(n, _)| n).join(", ")
                ),
            ));
        };
        if !allowed.is_empty() && !allowed.contains(&v.as_str()) {
            return Err(err(
                &field,
                format!("invalid value for {k}. Expected one of: {allowed:?}, but got: {v:?}"),
            ));
        }
        if v.is_empty() {
            continue; // "Unset if blank."
        }
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|e| err(&field, format!("invalid header name: {e}")))?;
        let value = HeaderValue::from_str(v).map_err(|_| {
            err(
                &field,
                "the value contains characters not allowed in a header".into(),
            )
        })?;
        headers.push((name, value));
    }
    Ok(headers)
}

/// Checks every `basic_auth_users` hash and returns the hash unknown users are checked against
/// (empty when there are no users).
fn dummy_hash(users: &BTreeMap<String, String>, err: &ErrFn<'_>) -> Result<String, ConfigError> {
    let mut max_cost = 0;
    for (u, h) in users {
        let field = format!("basic_auth_users.{u}");
        let parts: bcrypt::HashParts = h.parse().map_err(|e| {
            err(&field, format!("not a bcrypt hash ({e}); create one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`"))
        })?;
        max_cost = max_cost.max(parts.get_cost());
    }
    if users.is_empty() {
        return Ok(String::new());
    }
    // Unknown users are checked against this, so they cost as much as a wrong password.
    bcrypt::hash("sidewatch: no such user", max_cost).map_err(|e| {
        err(
            "basic_auth_users",
            format!("cannot create the comparison hash: {e}"),
        )
    })
}

/// `rate_limit`: no limiter when the interval is unset or zero.
fn rate_limiter(r: &RateLimitFile, err: &ErrFn<'_>) -> Result<Option<RateLimiter>, ConfigError> {
    let interval = match &r.interval {
        Some(i) => parse_go_duration(i).map_err(|e| err("rate_limit.interval", e))?,
        None => Duration::ZERO,
    };
    let burst = r.burst.unwrap_or(0);
    if interval.is_zero() {
        Ok(None)
    } else if burst == 0 {
        // Go's limiter with burst 0 refuses every request; that is never what was meant.
        Err(err(
            "rate_limit.burst",
            "must be at least 1 when rate_limit.interval is set (a burst of 0 would refuse every request)".into(),
        ))
    } else {
        Ok(Some(RateLimiter::new(interval, burst)))
    }
}

/// As the toolkit's `TLSConfig.IsEnabled`: any TLS field set turns TLS on.
fn tls_enabled(t: &TlsServerConfigFile) -> bool {
    t.cert.is_some()
        || t.key.is_some()
        || t.client_ca.is_some()
        || t.cert_file.is_some()
        || t.key_file.is_some()
        || t.client_ca_file.is_some()
        || t.client_auth_type.as_deref().is_some_and(|s| !s.is_empty())
}

fn join_dir(dir: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() || p.as_os_str().is_empty() {
        p.to_path_buf()
    } else {
        dir.join(p)
    }
}

type ErrFn<'a> = dyn Fn(&str, String) -> ConfigError + 'a;

/// rustls's ring provider offers these TLS 1.2 suites (Go names, with Go's aliases).
fn tls12_suite(name: &str) -> Option<rustls::SupportedCipherSuite> {
    use rustls::crypto::ring::cipher_suite as cs;
    Some(match name {
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" => cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" => cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
        | "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305" => {
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        }
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" => cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" => cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" | "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305" => {
            cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
        }
        _ => return None,
    })
}

/// Suites Go knows but rustls does not implement (CBC, RSA key exchange, RC4, 3DES).
const GO_ONLY_SUITES: &[&str] = &[
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

fn version_rank(field: &str, v: &str, err: &ErrFn<'_>) -> Result<u8, ConfigError> {
    match v {
        "TLS10" => Ok(10),
        "TLS11" => Ok(11),
        "TLS12" => Ok(12),
        "TLS13" => Ok(13),
        _ => Err(err(field, format!("unknown TLS version: {v}"))),
    }
}

fn read_file(field: &str, path: &Path, err: &ErrFn<'_>) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|e| {
        err(
            field,
            format!("failed to read {} ({}): {e}", field, path.display()),
        )
    })
}

/// Builds the rustls server config, checking fields in the toolkit's order (the first bad field
/// is the one reported). Returns the files read (to watch for changes) and a one-line summary.
fn build_tls(
    t: TlsServerConfigFile,
    dir: &Path,
    err: &ErrFn<'_>,
) -> Result<(rustls::ServerConfig, Vec<PathBuf>, String), ConfigError> {
    let mut pem = PemSources {
        dir,
        err,
        used: Vec::new(),
    };
    let (certs, key) = pem.key_pair(&t)?;
    let range = VersionRange::parse(&t, err)?;
    let provider = Arc::new(crypto_provider(&t, err)?);
    let auth_name = t.client_auth_type.as_deref().unwrap_or("");
    let auth = ClientAuth::parse(auth_name)
        .ok_or_else(|| err(&tls_field("client_auth_type"), format!("invalid ClientAuth: {auth_name}; expected one of NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert")))?;
    let ca_pem = pem.client_ca(&t)?;
    if ca_pem.is_some() && auth == ClientAuth::NoClientCert {
        return Err(err(
            &tls_field("client_auth_type"),
            "client CA's have been configured without a Client Auth Policy".into(),
        ));
    }
    let san_names = allowed_sans(&t, auth, err)?;
    let verifier = client_verifier(auth, auth_name, ca_pem.as_deref(), &provider, err)?
        .map(|inner| with_san_check(inner, san_names));

    let builder = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&range.versions())
        .map_err(|e| {
            err(
                &tls_field("min_version"),
                format!("no usable TLS configuration: {e}"),
            )
        })?;
    let builder = match verifier {
        Some(v) => builder.with_client_cert_verifier(v),
        None => builder.with_no_client_auth(),
    };
    let mut cfg = builder.with_single_cert(certs, key).map_err(|e| {
        err(
            &tls_field("key_file"),
            format!("failed to load X509KeyPair: {e}"),
        )
    })?;
    cfg.ignore_client_order = t.prefer_server_cipher_suites.unwrap_or(true);
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    let desc = format!(
        "TLS ({}..{}, client certificates: {auth:?})",
        if range.min <= 12 { "TLS12" } else { "TLS13" },
        if range.max >= 13 { "TLS13" } else { "TLS12" }
    );
    Ok((cfg, pem.used, desc))
}

fn tls_field(name: &str) -> String {
    format!("tls_server_config.{name}")
}

/// PEM data comes from a file (relative to the config's directory) or inline; the files read are
/// remembered so that a change to them reloads the config.
struct PemSources<'a> {
    dir: &'a Path,
    err: &'a ErrFn<'a>,
    used: Vec<PathBuf>,
}

impl PemSources<'_> {
    fn read(&mut self, field: &str, p: &Path) -> Result<Vec<u8>, ConfigError> {
        let p = join_dir(self.dir, p);
        let b = read_file(&tls_field(field), &p, self.err)?;
        self.used.push(p);
        Ok(b)
    }

    /// The file wins over the inline text, as in the toolkit.
    fn file_or_inline(
        &mut self,
        field: &str,
        file: &Option<PathBuf>,
        inline: &Option<String>,
    ) -> Result<Vec<u8>, ConfigError> {
        match (file, inline) {
            (Some(p), _) => self.read(field, p),
            (None, Some(c)) => Ok(c.as_bytes().to_vec()),
            (None, None) => Ok(Vec::new()),
        }
    }

    fn key_pair(
        &mut self,
        t: &TlsServerConfigFile,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), ConfigError> {
        let err = self.err;
        if t.cert_file.is_none() && t.cert.is_none() {
            return Err(err(
                &tls_field("cert_file"),
                "missing one of cert or cert_file".into(),
            ));
        }
        if t.key_file.is_none() && t.key.is_none() {
            return Err(err(
                &tls_field("key_file"),
                "missing one of key or key_file".into(),
            ));
        }
        let cert_pem = self.file_or_inline("cert_file", &t.cert_file, &t.cert)?;
        let key_pem = self.file_or_inline("key_file", &t.key_file, &t.key)?;
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<_, _>>()
            .map_err(|e| {
                err(
                    &tls_field("cert_file"),
                    format!("failed to load X509KeyPair: {e}"),
                )
            })?;
        if certs.is_empty() {
            return Err(err(
                &tls_field("cert_file"),
                "failed to load X509KeyPair: no certificate found in the PEM data".into(),
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
            err(
                &tls_field("key_file"),
                format!("failed to load X509KeyPair: no private key found ({e})"),
            )
        })?;
        Ok((certs, key))
    }

    /// An empty path or empty text counts as unset.
    fn client_ca(&mut self, t: &TlsServerConfigFile) -> Result<Option<Vec<u8>>, ConfigError> {
        match (&t.client_ca_file, &t.client_ca) {
            (Some(p), _) if !p.as_os_str().is_empty() => self.read("client_ca_file", p).map(Some),
            (_, Some(c)) if !c.is_empty() => Ok(Some(c.as_bytes().to_vec())),
            _ => Ok(None),
        }
    }
}

/// The protocol range asked for, in Go's numbering (12 = TLS 1.2).
struct VersionRange {
    min: u8,
    max: u8,
}

impl VersionRange {
    fn parse(t: &TlsServerConfigFile, err: &ErrFn<'_>) -> Result<Self, ConfigError> {
        let min = version_rank(
            &tls_field("min_version"),
            t.min_version.as_deref().unwrap_or("TLS12"),
            err,
        )?;
        let max = version_rank(
            &tls_field("max_version"),
            t.max_version.as_deref().unwrap_or("TLS13"),
            err,
        )?;
        if max < 12 {
            return Err(err(
                &tls_field("max_version"),
                "TLS10 and TLS11 are not supported (sidewatch serves TLS12 and TLS13 only)".into(),
            ));
        }
        if min > max {
            return Err(err(
                &tls_field("min_version"),
                "min_version is above max_version".into(),
            ));
        }
        if min < 12 {
            tracing::warn!(
                "web config: min_version below TLS12 requested; sidewatch never offers TLS 1.0/1.1, so TLS12 is the minimum"
            );
        }
        Ok(Self { min, max })
    }

    fn versions(&self) -> Vec<&'static rustls::SupportedProtocolVersion> {
        let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
        if self.max >= 13 {
            versions.push(&rustls::version::TLS13);
        }
        if self.min <= 12 {
            versions.push(&rustls::version::TLS12);
        }
        versions
    }
}

/// The ring provider, narrowed to the configured cipher suites and curves (unset or empty: all).
fn crypto_provider(
    t: &TlsServerConfigFile,
    err: &ErrFn<'_>,
) -> Result<CryptoProvider, ConfigError> {
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(names) = t.cipher_suites.as_ref().filter(|n| !n.is_empty()) {
        // TLS 1.3 suites are not configurable, as in Go: they are always kept.
        let mut chosen: Vec<rustls::SupportedCipherSuite> = provider
            .cipher_suites
            .iter()
            .filter(|s| s.tls13().is_some())
            .copied()
            .collect();
        for n in names {
            chosen.push(configured_suite(n, err)?);
        }
        provider.cipher_suites = chosen;
    }
    if let Some(curves) = t.curve_preferences.as_ref().filter(|c| !c.is_empty()) {
        provider.kx_groups = curves
            .iter()
            .map(|c| configured_curve(c, err))
            .collect::<Result<_, _>>()?;
    }
    Ok(provider)
}

fn configured_suite(n: &str, err: &ErrFn<'_>) -> Result<rustls::SupportedCipherSuite, ConfigError> {
    match tls12_suite(n) {
        Some(s) => Ok(s),
        None if GO_ONLY_SUITES.contains(&n) => Err(err(
            &tls_field("cipher_suites"),
            format!(
                "cipher {n} is not supported by sidewatch (only AEAD suites with forward secrecy are; TLS 1.3 suites are not configurable, as in Go)"
            ),
        )),
        None => Err(err(
            &tls_field("cipher_suites"),
            format!("unknown cipher: {n}"),
        )),
    }
}

fn configured_curve(
    c: &str,
    err: &ErrFn<'_>,
) -> Result<&'static dyn rustls::crypto::SupportedKxGroup, ConfigError> {
    use rustls::crypto::ring::kx_group;
    Ok(match c {
        "X25519" => kx_group::X25519,
        "CurveP256" => kx_group::SECP256R1,
        "CurveP384" => kx_group::SECP384R1,
        "CurveP521" => {
            return Err(err(
                &tls_field("curve_preferences"),
                "CurveP521 is not supported by sidewatch; use X25519, CurveP256 or CurveP384"
                    .into(),
            ));
        }
        other => {
            return Err(err(
                &tls_field("curve_preferences"),
                format!("unknown curve: {other}"),
            ));
        }
    })
}

/// `client_allowed_sans` as names to match; they need a policy that asks for certificates.
fn allowed_sans(
    t: &TlsServerConfigFile,
    auth: ClientAuth,
    err: &ErrFn<'_>,
) -> Result<Vec<ServerName<'static>>, ConfigError> {
    let sans = t.client_allowed_sans.clone().unwrap_or_default();
    let mut san_names = Vec::new();
    for s in &sans {
        match ServerName::try_from(s.clone()) {
            Ok(n) => san_names.push(n),
            Err(_) => {
                return Err(err(
                    &tls_field("client_allowed_sans"),
                    format!("{s:?}: sidewatch matches DNS names and IP addresses only"),
                ));
            }
        }
    }
    if !san_names.is_empty() && matches!(auth, ClientAuth::NoClientCert) {
        return Err(err(
            &tls_field("client_allowed_sans"),
            "needs a client_auth_type that asks for client certificates".into(),
        ));
    }
    Ok(san_names)
}

/// The verifier for a client-auth policy (none for `NoClientCert`).
fn client_verifier(
    auth: ClientAuth,
    auth_name: &str,
    ca_pem: Option<&[u8]>,
    provider: &Arc<CryptoProvider>,
    err: &ErrFn<'_>,
) -> Result<Option<Arc<dyn ClientCertVerifier>>, ConfigError> {
    Ok(match auth {
        ClientAuth::NoClientCert => None,
        ClientAuth::RequestClientCert | ClientAuth::RequireAnyClientCert => {
            Some(Arc::new(AnyClientCert {
                mandatory: auth == ClientAuth::RequireAnyClientCert,
                provider: provider.clone(),
            }))
        }
        ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert => {
            let Some(pem) = ca_pem else {
                return Err(err(
                    &tls_field("client_ca_file"),
                    format!(
                        "client_auth_type {auth_name} needs client_ca_file (or client_ca) to verify client certificates against"
                    ),
                ));
            };
            let b = WebPkiClientVerifier::builder_with_provider(
                Arc::new(ca_roots(pem, err)?),
                provider.clone(),
            );
            let b = if auth == ClientAuth::VerifyClientCertIfGiven {
                b.allow_unauthenticated()
            } else {
                b
            };
            Some(b.build().map_err(|e: VerifierBuilderError| {
                err(&tls_field("client_ca_file"), e.to_string())
            })?)
        }
    })
}

fn ca_roots(pem: &[u8], err: &ErrFn<'_>) -> Result<RootCertStore, ConfigError> {
    let field = tls_field("client_ca_file");
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(pem) {
        let c = c.map_err(|e| err(&field, format!("invalid PEM: {e}")))?;
        roots
            .add(c)
            .map_err(|e| err(&field, format!("invalid CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(err(
            &field,
            "no CA certificate found in the PEM data".into(),
        ));
    }
    Ok(roots)
}

fn with_san_check(
    inner: Arc<dyn ClientCertVerifier>,
    allowed: Vec<ServerName<'static>>,
) -> Arc<dyn ClientCertVerifier> {
    if allowed.is_empty() {
        inner
    } else {
        Arc::new(SanCheck { inner, allowed })
    }
}

/// `RequestClientCert` / `RequireAnyClientCert`: ask for a certificate, check only that the
/// client holds its key (the chain is not verified, as in Go).
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for AnyClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// `client_allowed_sans`: after the inner verifier, the client certificate must carry one of
/// the allowed DNS names or IP addresses.
#[derive(Debug)]
struct SanCheck {
    inner: Arc<dyn ClientCertVerifier>,
    allowed: Vec<ServerName<'static>>,
}

impl ClientCertVerifier for SanCheck {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let v = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        let cert = webpki::EndEntityCert::try_from(end_entity).map_err(|e| {
            rustls::Error::InvalidCertificate(rustls::CertificateError::Other(rustls::OtherError(
                Arc::new(e),
            )))
        })?;
        if self
            .allowed
            .iter()
            .any(|n| cert.verify_is_valid_for_subject_name(n).is_ok())
        {
            Ok(v)
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
#[path = "webconfig_tests.rs"]
mod tests;
