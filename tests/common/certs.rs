//! Test certificates, generated at test time (no private key is committed): a CA, a server
//! certificate for 127.0.0.1/localhost, a client certificate signed by the CA, and a client
//! certificate signed by another CA (which must be refused).

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

pub struct Pki {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    pub rogue_cert: PathBuf,
    pub rogue_key: PathBuf,
}

fn ca(name: &str) -> (CertificateParams, KeyPair, String) {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, name);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().unwrap();
    let cert = p.self_signed(&key).unwrap();
    (p, key, cert.pem())
}

fn leaf(
    sans: &[&str],
    cn: &str,
    eku: ExtendedKeyUsagePurpose,
    issuer: &Issuer<'_, KeyPair>,
) -> (String, String) {
    let mut p =
        CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![eku];
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// Writes the PKI into `dir` (keys with mode 0600).
pub fn make_pki(dir: &Path) -> Pki {
    let (ca_params, ca_key, ca_pem) = ca("sidewatch test CA");
    let issuer = Issuer::new(ca_params, ca_key);
    let (server_pem, server_key) = leaf(
        &["127.0.0.1", "localhost"],
        "sidewatch",
        ExtendedKeyUsagePurpose::ServerAuth,
        &issuer,
    );
    let (client_pem, client_key) = leaf(
        &["prometheus.example"],
        "prometheus",
        ExtendedKeyUsagePurpose::ClientAuth,
        &issuer,
    );
    let (rogue_params, rogue_ca_key, _) = ca("rogue CA");
    let rogue_issuer = Issuer::new(rogue_params, rogue_ca_key);
    let (rogue_pem, rogue_key) = leaf(
        &["prometheus.example"],
        "rogue",
        ExtendedKeyUsagePurpose::ClientAuth,
        &rogue_issuer,
    );
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        if name.ends_with(".key") {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        p
    };
    Pki {
        ca: write("ca.pem", &ca_pem),
        server_cert: write("server.pem", &server_pem),
        server_key: write("server.key", &server_key),
        client_cert: write("client.pem", &client_pem),
        client_key: write("client.key", &client_key),
        rogue_cert: write("rogue.pem", &rogue_pem),
        rogue_key: write("rogue.key", &rogue_key),
    }
}
