//! A certificate authority made at test time, and rustls server configs
//! for the fakes signed by it: valid, expired, or for another name. The CA
//! is new for every [`TestCa::new`], so nothing here is trusted by anyone
//! but the test that made it.

use std::path::Path;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;

/// Names a fake's certificate covers by default: it is dialled as
/// `https://127.0.0.1:PORT`.
pub const LOOPBACK_NAMES: &[&str] = &["127.0.0.1", "localhost"];

pub struct TestCa {
    cert: CertificateDer<'static>,
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Default for TestCa {
    fn default() -> Self {
        TestCa::new()
    }
}

impl TestCa {
    /// A fresh CA with its own key.
    pub fn new() -> TestCa {
        let mut params = CertificateParams::new(Vec::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "picoclaw test CA");
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("CA key");
        let cert = params.self_signed(&key).expect("self-signed CA");
        TestCa {
            pem: cert.pem(),
            cert: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    /// The CA certificate as PEM (what `[http] ca_file` points at).
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// Writes the CA certificate to `path`.
    pub fn write_pem(&self, path: &Path) {
        std::fs::write(path, &self.pem).expect("write CA pem");
    }

    /// A server config with a certificate for `names` (DNS names or IP
    /// addresses), valid now.
    pub fn server(&self, names: &[&str]) -> Arc<ServerConfig> {
        self.leaf(names, Validity::Now)
    }

    /// A server config for the loopback names.
    pub fn loopback_server(&self) -> Arc<ServerConfig> {
        self.server(LOOPBACK_NAMES)
    }

    /// A server config whose certificate for `names` expired in 2021.
    pub fn expired_server(&self, names: &[&str]) -> Arc<ServerConfig> {
        self.leaf(names, Validity::Expired)
    }

    fn leaf(&self, names: &[&str], validity: Validity) -> Arc<ServerConfig> {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names.clone()).expect("leaf params");
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().cloned().unwrap_or_default(),
        );
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        if let Validity::Expired = validity {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let key = KeyPair::generate().expect("leaf key");
        let leaf = params.signed_by(&key, &self.issuer).expect("sign leaf");
        server_config(
            vec![leaf.der().clone(), self.cert.clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
    }
}

enum Validity {
    /// rcgen's default: 1975 to 4096.
    Now,
    Expired,
}

/// A self-signed server certificate for `names`: trusted by nobody.
pub fn self_signed_server(names: &[&str]) -> Arc<ServerConfig> {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let key = KeyPair::generate().expect("key");
    let cert = CertificateParams::new(names)
        .expect("params")
        .self_signed(&key)
        .expect("self-signed");
    server_config(
        vec![cert.der().clone()],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
}

fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Arc<ServerConfig> {
    let config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("server certificate");
    Arc::new(config)
}
