use super::*;

#[path = "../tests/common/certs.rs"]
#[allow(dead_code)]
mod certs;

fn load_text(dir: &Path, yaml: &str) -> Result<WebConfig, ConfigError> {
    let p = dir.join("web.yml");
    std::fs::write(&p, yaml).unwrap();
    load(&p)
}

fn err_of(dir: &Path, yaml: &str) -> ConfigError {
    match load_text(dir, yaml) {
        Ok(c) => panic!("accepted: {c:?}\n{yaml}"),
        Err(e) => e,
    }
}

#[test]
fn go_durations() {
    assert_eq!(parse_go_duration("1s").unwrap(), Duration::from_secs(1));
    assert_eq!(parse_go_duration("0").unwrap(), Duration::ZERO);
    assert_eq!(
        parse_go_duration("100ms").unwrap(),
        Duration::from_millis(100)
    );
    assert_eq!(parse_go_duration("1m30s").unwrap(), Duration::from_secs(90));
    assert_eq!(
        parse_go_duration("1.5h").unwrap(),
        Duration::from_secs(5400)
    );
    assert_eq!(
        parse_go_duration("10us").unwrap(),
        Duration::from_micros(10)
    );
    for bad in ["", "1", "s", "1x", "-1s", "1..5s", ".s", "1s2"] {
        assert!(parse_go_duration(bad).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn basic_auth_decoding() {
    let mut buf = [0u8; MAX_CREDENTIALS];
    // "alice:s3cret:with:colons"
    let (u, p) = decode_basic_auth(b"Basic YWxpY2U6czNjcmV0OndpdGg6Y29sb25z", &mut buf).unwrap();
    assert_eq!((u, p), (&b"alice"[..], &b"s3cret:with:colons"[..]));
    let mut buf = [0u8; MAX_CREDENTIALS];
    let (u, p) = decode_basic_auth(b"basic YTpi", &mut buf).unwrap(); // "a:b"
    assert_eq!((u, p), (&b"a"[..], &b"b"[..]));
    let mut buf = [0u8; MAX_CREDENTIALS];
    let (u, p) = decode_basic_auth(b"Basic Og==", &mut buf).unwrap(); // ":"
    assert_eq!((u, p), (&b""[..], &b""[..]));
    for bad in [
        &b"Bearer abc"[..],
        b"Basic",
        b"Basic !!!!",
        b"Basic YQ==",
        b"Basic YTpi=",
        b"BasicYTpi",
    ] {
        let mut buf = [0u8; MAX_CREDENTIALS];
        assert!(
            decode_basic_auth(bad, &mut buf).is_none(),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    // Too long for the buffer: refused, not truncated.
    let long = format!("Basic {}", "QUFB".repeat(400));
    let mut buf = [0u8; MAX_CREDENTIALS];
    assert!(decode_basic_auth(long.as_bytes(), &mut buf).is_none());
}

#[test]
fn rate_limiter_is_a_token_bucket() {
    let l = RateLimiter::new(Duration::from_millis(100), 3);
    let t0 = Instant::now();
    assert!(l.allow_at(t0));
    assert!(l.allow_at(t0));
    assert!(l.allow_at(t0));
    assert!(!l.allow_at(t0), "burst exhausted");
    assert!(!l.allow_at(t0 + Duration::from_millis(50)));
    assert!(
        l.allow_at(t0 + Duration::from_millis(101)),
        "one token per interval"
    );
    assert!(!l.allow_at(t0 + Duration::from_millis(120)));
    // A long pause refills to the burst, not beyond.
    let t1 = t0 + Duration::from_secs(10);
    assert!(l.allow_at(t1) && l.allow_at(t1) && l.allow_at(t1));
    assert!(!l.allow_at(t1));
}

#[test]
fn empty_file_is_plain_http_without_auth() {
    let d = tempfile::tempdir().unwrap();
    let c = load_text(d.path(), "").unwrap();
    assert!(c.tls.is_none() && c.users.is_empty() && c.headers.is_empty());
    assert!(matches!(c.check_auth(None), AuthCheck::Open));
    let c = load_text(
        d.path(),
        "tls_server_config:\nhttp_server_config:\n  http2: false\n",
    )
    .unwrap();
    assert!(c.tls.is_none());
}

#[test]
fn unknown_keys_are_errors_with_their_field() {
    let d = tempfile::tempdir().unwrap();
    let e = err_of(d.path(), "tls_server_config:\n  cert_filse: server.crt\n");
    assert_eq!(e.field, "tls_server_config.cert_filse");
    assert_eq!(e.line, Some(2));
    assert!(
        e.reason.contains("unknown field `cert_filse`"),
        "{}",
        e.reason
    );
    let e = err_of(d.path(), "basic_auth:\n  a: b\n");
    assert!(
        e.reason.contains("unknown field `basic_auth`"),
        "{}",
        e.reason
    );
    let e = err_of(d.path(), "hWkNKCp3fvIx3jKnsaBI\nTuEjdwNS8A2vYdFbiKqr\n");
    assert!(!e.reason.is_empty());
    let e = err_of(d.path(), "/nonexistent");
    assert!(!e.reason.is_empty());
}

#[test]
fn headers_follow_the_toolkit_allow_list() {
    let d = tempfile::tempdir().unwrap();
    let c = load_text(
        d.path(),
        "http_server_config:\n  headers:\n    X-Frame-Options: deny\n    Strict-Transport-Security: max-age=31536000; includeSubDomains\n    X-Content-Type-Options: nosniff\n    X-XSS-Protection: '1'\n    Content-Security-Policy: \"default-src 'self'\"\n",
    )
    .unwrap();
    assert_eq!(c.headers.len(), 5);
    assert!(
        c.headers
            .iter()
            .any(|(n, v)| n == "x-frame-options" && v == "deny")
    );
    let e = err_of(
        d.path(),
        "http_server_config:\n  headers:\n    Content-Type: foo\n",
    );
    assert_eq!(e.field, "http_server_config.headers.Content-Type");
    assert!(e.reason.contains("can not be configured"), "{}", e.reason);
    let e = err_of(
        d.path(),
        "http_server_config:\n  headers:\n    X-Frame-Options: foo\n",
    );
    assert!(
        e.reason.contains("invalid value for X-Frame-Options"),
        "{}",
        e.reason
    );
    let e = err_of(
        d.path(),
        "http_server_config:\n  headers:\n    X-Content-Type-Options: sniff\n",
    );
    assert!(e.reason.contains("nosniff"), "{}", e.reason);
    // Blank means unset.
    let c = load_text(
        d.path(),
        "http_server_config:\n  headers:\n    X-XSS-Protection: ''\n",
    )
    .unwrap();
    assert!(c.headers.is_empty());
}

#[test]
fn rate_limit_settings() {
    let d = tempfile::tempdir().unwrap();
    let c = load_text(d.path(), "rate_limit:\n  interval: 100ms\n  burst: 5\n").unwrap();
    let r = c.rate_limit.as_ref().unwrap();
    assert_eq!((r.interval, r.burst), (Duration::from_millis(100), 5));
    let c = load_text(d.path(), "rate_limit:\n  interval: 0\n  burst: 5\n").unwrap();
    assert!(c.rate_limit.is_none(), "interval 0 disables the limiter");
    let e = err_of(d.path(), "rate_limit:\n  interval: 1s\n");
    assert_eq!(e.field, "rate_limit.burst");
    let e = err_of(d.path(), "rate_limit:\n  interval: soon\n  burst: 1\n");
    assert_eq!(e.field, "rate_limit.interval");
}

#[test]
fn users_need_bcrypt_hashes_and_unknown_users_cost_the_same() {
    let d = tempfile::tempdir().unwrap();
    let e = err_of(d.path(), "basic_auth_users:\n  john: doe\n");
    assert_eq!(e.field, "basic_auth_users.john");
    assert!(e.reason.contains("not a bcrypt hash"), "{}", e.reason);

    let hash = bcrypt::hash("s3cret", 5).unwrap();
    let c = load_text(d.path(), &format!("basic_auth_users:\n  alice: '{hash}'\n")).unwrap();
    assert_eq!(
        c.dummy_hash
            .parse::<bcrypt::HashParts>()
            .unwrap()
            .get_cost(),
        5
    );
    assert!(matches!(c.check_auth(None), AuthCheck::Missing));
    assert!(matches!(
        c.check_auth(Some(b"Bearer x")),
        AuthCheck::Missing
    ));
    // alice:s3cret
    let good = b"Basic YWxpY2U6czNjcmV0";
    let AuthCheck::Verify(p) = c.check_auth(Some(good)) else {
        panic!("expected a bcrypt check")
    };
    assert!(p.known_user && p.verify());
    c.cache.insert_success(&p);
    assert!(matches!(c.check_auth(Some(good)), AuthCheck::Cached));
    // alice:wrong — not cached, and fails.
    let AuthCheck::Verify(p) = c.check_auth(Some(b"Basic YWxpY2U6d3Jvbmc=")) else {
        panic!()
    };
    assert!(!p.verify());
    // bob:s3cret — unknown user, checked against the dummy hash of the same cost.
    let AuthCheck::Verify(p) = c.check_auth(Some(b"Basic Ym9iOnMzY3JldA==")) else {
        panic!()
    };
    assert!(!p.known_user && !p.verify());
    assert_eq!(p.hash, c.dummy_hash);
    // The cache key is a hash: the plaintext is nowhere in it.
    assert_eq!(c.cache.len(), 1);
}

#[test]
fn cache_is_bounded() {
    let hash = bcrypt::hash("x", 4).unwrap();
    let cache = AuthCache::new();
    for i in 0..(AUTH_CACHE_SIZE + 50) {
        cache.insert_success(&PendingCheck {
            key: cache.key(format!("u{i}").as_bytes(), &hash, b"x"),
            hash: hash.clone(),
            password: b"x".to_vec(),
            known_user: true,
        });
    }
    assert_eq!(cache.len(), AUTH_CACHE_SIZE);
}

#[test]
fn tls_config_validation() {
    let d = tempfile::tempdir().unwrap();
    let pki = certs::make_pki(d.path());
    let base = format!(
        "tls_server_config:\n  cert_file: {}\n  key_file: server.key\n",
        pki.server_cert.display()
    );
    // A relative key_file is read from the web config's directory.
    let c = load_text(d.path(), &base).unwrap();
    assert!(c.tls.is_some());
    assert!(
        c.files.iter().any(|f| f == &pki.server_key),
        "{:?}",
        c.files
    );
    assert!(c.summary.contains("TLS"), "{}", c.summary);

    let e = err_of(d.path(), "tls_server_config:\n  cert_file: server.pem\n");
    assert!(
        e.reason.contains("missing one of key or key_file"),
        "{}",
        e.reason
    );
    let e = err_of(
        d.path(),
        "tls_server_config:\n  client_auth_type: RequireAndVerifyClientCert\n",
    );
    assert!(
        e.reason.contains("missing one of cert or cert_file"),
        "{}",
        e.reason
    );
    let e = err_of(d.path(), &format!("{base}  client_ca_file: ca.pem\n"));
    assert!(
        e.reason.contains("without a Client Auth Policy"),
        "{}",
        e.reason
    );
    let e = err_of(d.path(), &format!("{base}  client_auth_type: Sometimes\n"));
    assert!(
        e.reason.contains("invalid ClientAuth: Sometimes"),
        "{}",
        e.reason
    );
    let e = err_of(
        d.path(),
        &format!("{base}  client_auth_type: RequireAndVerifyClientCert\n"),
    );
    assert_eq!(e.field, "tls_server_config.client_ca_file");
    let e = err_of(
        d.path(),
        &format!(
            "{base}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: missing.pem\n"
        ),
    );
    assert!(e.reason.contains("failed to read"), "{}", e.reason);
    let e = err_of(
        d.path(),
        &format!("{base}  cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA]\n"),
    );
    assert!(
        e.reason.contains("not supported by sidewatch"),
        "{}",
        e.reason
    );
    let e = err_of(d.path(), &format!("{base}  cipher_suites: [NOPE]\n"));
    assert!(e.reason.contains("unknown cipher: NOPE"), "{}", e.reason);
    let e = err_of(
        d.path(),
        &format!("{base}  curve_preferences: [CurveP521]\n"),
    );
    assert!(e.reason.contains("CurveP521"), "{}", e.reason);
    let e = err_of(d.path(), &format!("{base}  min_version: TLS14\n"));
    assert!(
        e.reason.contains("unknown TLS version: TLS14"),
        "{}",
        e.reason
    );
    let e = err_of(
        d.path(),
        &format!("{base}  min_version: TLS13\n  max_version: TLS12\n"),
    );
    assert_eq!(e.field, "tls_server_config.min_version");
    let e = err_of(
        d.path(),
        &format!(
            "{base}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n  client_allowed_sans: ['mailto:a@b']\n"
        ),
    );
    assert_eq!(e.field, "tls_server_config.client_allowed_sans");
    let e = err_of(
        d.path(),
        "tls_server_config:\n  cert_file: ca.pem\n  key_file: client.pem\n",
    );
    assert!(e.reason.contains("X509KeyPair"), "{}", e.reason);

    for ok in [
        format!(
            "{base}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n  min_version: TLS13\n"
        ),
        format!(
            "{base}  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ca.pem\n  client_allowed_sans: [prometheus.example]\n"
        ),
        format!("{base}  client_auth_type: RequireAnyClientCert\n"),
        format!(
            "{base}  client_auth_type: RequestClientCert\n  max_version: TLS12\n  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]\n  curve_preferences: [X25519, CurveP256]\n  prefer_server_cipher_suites: false\n"
        ),
        format!("{base}  min_version: TLS10\n"),
    ] {
        let c = load_text(d.path(), &ok).unwrap_or_else(|e| panic!("{e}\n{ok}"));
        assert!(c.tls.is_some());
    }
    // Inline PEM, as the toolkit allows.
    let cert = std::fs::read_to_string(&pki.server_cert).unwrap();
    let key = std::fs::read_to_string(&pki.server_key).unwrap();
    let indent = |s: &str| s.lines().map(|l| format!("    {l}\n")).collect::<String>();
    let inline = format!(
        "tls_server_config:\n  cert: |\n{}  key: |\n{}",
        indent(&cert),
        indent(&key)
    );
    assert!(load_text(d.path(), &inline).unwrap().tls.is_some());
}
