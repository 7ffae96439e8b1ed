//! A small HTTP(S) GET client for the network sources (the application's metrics endpoint;
//! later an HTTP probe). One connection per request, driven inside the request's own future so
//! that dropping it (the deadline) closes the connection and leaves no task behind; a cap on the
//! body as sent and on the body once gunzipped (a gzip bomb is cut off at the cap). Runs on the
//! tokio runtime, never on the sampler thread.

use std::io::Read;
use std::path::PathBuf;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Uri;
use hyper::header::{HeaderName, HeaderValue};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::{AsyncRead, AsyncWrite};

/// Where the system's CA bundle is on Debian/Ubuntu/Alpine and on Fedora/RHEL: the trust roots
/// of an `https` URL without `ca_file`.
const SYSTEM_CA_FILES: [&str; 2] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
];

/// TLS options of an `https` URL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// PEM file of the CAs that may sign the server's certificate (else the system bundle).
    pub ca_file: Option<PathBuf>,
    /// Accept any server certificate (still encrypted, not authenticated).
    pub insecure_skip_verify: bool,
}

/// One GET: where, with which extra headers, within what time and size.
#[derive(Debug, Clone)]
pub struct Get {
    pub uri: Uri,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub timeout: Duration,
    /// Cap on the body, both as received and once decompressed.
    pub max_body_bytes: u64,
}

/// A complete response, its body decompressed.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: Option<String>,
    /// The `Location` header (a redirect's target), as sent.
    pub location: Option<String>,
    pub body: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("URL {0}: {1}")]
    Url(String, &'static str),
    #[error("cannot connect: {0}")]
    Connect(std::io::Error),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    #[error("body larger than {0} bytes")]
    TooLarge(u64),
    #[error("gzip body larger than {0} bytes once decompressed")]
    DecompressedTooLarge(u64),
    #[error("bad gzip body: {0}")]
    Gzip(std::io::Error),
    #[error("unsupported Content-Encoding {0:?}")]
    Encoding(String),
}

/// A client for one set of TLS options; cheap to share.
#[derive(Clone)]
pub struct Client {
    tls: Option<tokio_rustls::TlsConnector>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Client {
    /// A client for plain `http` URLs only.
    pub fn plain() -> Client {
        Client { tls: None }
    }

    /// A client for `http` and `https` URLs; fails when the CA file cannot be read or holds no
    /// certificate.
    pub fn new(opts: &TlsOptions) -> Result<Client, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let config = if opts.insecure_skip_verify {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyServerCert(provider)))
                .with_no_client_auth()
        } else {
            builder
                .with_root_certificates(roots(opts.ca_file.as_deref())?)
                .with_no_client_auth()
        };
        Ok(Client {
            tls: Some(tokio_rustls::TlsConnector::from(Arc::new(config))),
        })
    }

    /// Sends the GET and reads the whole response within `req.timeout`.
    pub async fn get(&self, req: &Get) -> Result<Response, FetchError> {
        self.request(hyper::Method::GET, req).await
    }

    /// The same with another method (the probe's HEAD).
    pub async fn request(&self, method: hyper::Method, req: &Get) -> Result<Response, FetchError> {
        tokio::time::timeout(req.timeout, self.exchange(method, req))
            .await
            .unwrap_or(Err(FetchError::Timeout(req.timeout)))
    }

    async fn exchange(&self, method: hyper::Method, req: &Get) -> Result<Response, FetchError> {
        let url = || req.uri.to_string();
        let https = match req.uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(FetchError::Url(url(), "only http and https are supported")),
        };
        let host = req
            .uri
            .host()
            .ok_or_else(|| FetchError::Url(url(), "no host"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = req.uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tcp = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(FetchError::Connect)?;
        // Small requests and responses: no need to wait for more to fill a segment.
        let _ = tcp.set_nodelay(true);
        if !https {
            return exchange_on(tcp, method, req).await;
        }
        let tls = self
            .tls
            .as_ref()
            .ok_or_else(|| FetchError::Tls("this client has no TLS configuration".into()))?;
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| FetchError::Url(url(), "host is not a valid TLS server name"))?;
        let stream = tls
            .connect(name, tcp)
            .await
            .map_err(|e| FetchError::Tls(e.to_string()))?;
        exchange_on(stream, method, req).await
    }
}

/// The request and its response on one connected stream.
async fn exchange_on<S>(io: S, method: hyper::Method, req: &Get) -> Result<Response, FetchError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    let mut conn = pin!(conn);
    let mut work = pin!(async {
        let mut builder = hyper::Request::builder()
            .method(method)
            .uri(req.uri.path_and_query().map_or("/", |p| p.as_str()))
            .header(hyper::header::ACCEPT_ENCODING, "gzip");
        if let Some(authority) = req.uri.authority() {
            builder = builder.header(hyper::header::HOST, authority.as_str());
        }
        for (k, v) in &req.headers {
            builder = builder.header(k, v);
        }
        // Infallible: the URI's path and the headers are already valid values.
        let request = builder
            .body(Empty::<Bytes>::new())
            .map_err(|_| FetchError::Url(req.uri.to_string(), "cannot form a request"))?;
        let response = sender.send_request(request).await?;
        read_response(response, req.max_body_bytes).await
    });
    // The connection is driven here, not in a spawned task; once it ends, the response's
    // buffered frames are still read.
    tokio::select! {
        biased;
        r = &mut work => return r,
        _ = &mut conn => {}
    }
    work.await
}

async fn read_response(
    response: hyper::Response<hyper::body::Incoming>,
    max: u64,
) -> Result<Response, FetchError> {
    let (parts, mut body) = response.into_parts();
    let header = |name| {
        parts
            .headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .map(str::to_string)
    };
    let declared = header(hyper::header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(FetchError::TooLarge(max));
    }
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            if (buf.len() + data.len()) as u64 > max {
                return Err(FetchError::TooLarge(max));
            }
            buf.extend_from_slice(&data);
        }
    }
    let body = match header(hyper::header::CONTENT_ENCODING).as_deref() {
        None | Some("identity") => buf,
        Some(e) if e.eq_ignore_ascii_case("gzip") => gunzip(&buf, max)?,
        Some(other) => return Err(FetchError::Encoding(other.to_string())),
    };
    Ok(Response {
        status: parts.status.as_u16(),
        content_type: header(hyper::header::CONTENT_TYPE),
        location: header(hyper::header::LOCATION),
        body,
    })
}

/// Decompresses at most `max` bytes; more is an error, whatever the compressed size.
pub fn gunzip(compressed: &[u8], max: u64) -> Result<Vec<u8>, FetchError> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(compressed)
        .take(max.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(FetchError::Gzip)?;
    if out.len() as u64 > max {
        return Err(FetchError::DecompressedTooLarge(max));
    }
    Ok(out)
}

fn roots(ca_file: Option<&std::path::Path>) -> Result<rustls::RootCertStore, String> {
    let (path, pem) = match ca_file {
        Some(p) => (
            p.to_path_buf(),
            std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?,
        ),
        None => {
            let found = SYSTEM_CA_FILES
                .iter()
                .find_map(|p| std::fs::read(p).ok().map(|b| (PathBuf::from(p), b)));
            // No bundle (a FROM scratch image): https then needs ca_file.
            match found {
                Some(f) => f,
                None => return Ok(rustls::RootCertStore::empty()),
            }
        }
    };
    let mut store = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| format!("{}: {e}", path.display()))?;
        store
            .add(cert)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if store.is_empty() {
        return Err(format!("{}: no PEM certificate in it", path.display()));
    }
    Ok(store)
}

/// `insecure_skip_verify`: any certificate, but the handshake signatures are still checked.
#[derive(Debug)]
struct AnyServerCert(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gunzip_keeps_a_body_at_the_cap_and_cuts_one_past_it() {
        let body = vec![b'a'; 1000];
        assert_eq!(gunzip(&gzip(&body), 1000).unwrap(), body);
        assert!(matches!(
            gunzip(&gzip(&body), 999),
            Err(FetchError::DecompressedTooLarge(999))
        ));
        assert!(matches!(
            gunzip(b"not gzip", 1000),
            Err(FetchError::Gzip(_))
        ));
    }
}
