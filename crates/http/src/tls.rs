//! Which server certificates picoclaw trusts, and TLS failures in words.
//!
//! The built-in webpki roots (Mozilla's list, compiled in) are always
//! trusted: board images often ship without ca-certificates. `[http]
//! ca_file` adds certificates on top (a corporate proxy, a local Bot API
//! server with its own CA). The binary installs that choice once at
//! start-up ([`install`]); every [`crate::Client`] and every other TLS user
//! ([`tls_client_config`], e.g. a WebSocket) then shares one
//! `rustls::ClientConfig`, so the root store is built once per process.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, RwLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{CertificateError, ClientConfig, RootCertStore};

/// Certificates from a PEM file, checked to be usable as trust anchors.
#[derive(Clone)]
pub struct CaFile {
    path: PathBuf,
    certs: Arc<Vec<CertificateDer<'static>>>,
}

impl std::fmt::Debug for CaFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaFile")
            .field("path", &self.path)
            .field("certificates", &self.certs.len())
            .finish()
    }
}

/// Why a CA file cannot be used. A configuration error, never retryable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CaFileError {
    /// The file cannot be read (missing, permissions, a directory).
    #[error("cannot read {}: {reason}", .path.display())]
    Read { path: PathBuf, reason: String },
    /// Readable, but no `-----BEGIN CERTIFICATE-----` block in it.
    #[error("{} holds no PEM certificate (expected -----BEGIN CERTIFICATE----- blocks)", .path.display())]
    NoCertificate { path: PathBuf },
    /// A PEM block is malformed, or a certificate cannot be a trust anchor.
    #[error("{}: certificate {index}: {reason}", .path.display())]
    BadCertificate {
        path: PathBuf,
        /// 1-based, in file order.
        index: usize,
        reason: String,
    },
}

impl CaFile {
    /// Reads and checks `path`. Blocks other than certificates (a private
    /// key, comments) are skipped.
    pub fn load(path: &Path) -> Result<CaFile, CaFileError> {
        let bytes = std::fs::read(path).map_err(|e| CaFileError::Read {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Self::from_pem(path, &bytes)
    }

    /// Parses PEM text as if read from `path` (which is only reported).
    pub fn from_pem(path: &Path, pem: &[u8]) -> Result<CaFile, CaFileError> {
        let mut certs = Vec::new();
        let mut probe = RootCertStore::empty();
        for (i, item) in CertificateDer::pem_slice_iter(pem).enumerate() {
            let bad = |reason: String| CaFileError::BadCertificate {
                path: path.to_path_buf(),
                index: i + 1,
                reason,
            };
            let cert = item.map_err(|e| bad(format!("bad PEM: {e}")))?;
            // Parsed now so a bad file is a config error at start-up, not a
            // handshake failure hours later.
            probe
                .add(cert.clone())
                .map_err(|e| bad(format!("not usable as a CA certificate: {e}")))?;
            certs.push(cert);
        }
        if certs.is_empty() {
            return Err(CaFileError::NoCertificate {
                path: path.to_path_buf(),
            });
        }
        Ok(CaFile {
            path: path.to_path_buf(),
            certs: Arc::new(certs),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many certificates the file holds.
    pub fn len(&self) -> usize {
        self.certs.len()
    }

    /// Never true for a loaded file; here for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }
}

/// The roots to verify servers against: built-in webpki roots, plus an
/// optional [`CaFile`]. Holds the `rustls::ClientConfig` built from them.
pub struct Trust {
    ca_file: Option<CaFile>,
    config: Arc<ClientConfig>,
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Trust {
    /// Built-in webpki roots, plus `ca_file` when given.
    pub fn new(ca_file: Option<CaFile>) -> Trust {
        let mut roots = RootCertStore {
            // Borrowed from the static table: no certificate parsing at
            // start-up, only a vector of ~150 small structs.
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        if let Some(ca) = &ca_file {
            // Already checked by `CaFile::load`.
            let (_added, _ignored) = roots.add_parsable_certificates(ca.certs.iter().cloned());
        }
        let mut config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_protocol_versions(rustls::ALL_VERSIONS)
                // Cannot fail: ring supports every version rustls offers.
                .unwrap_or_else(|_| ClientConfig::builder())
                .with_root_certificates(roots)
                .with_no_client_auth();
        // rustls keeps tickets for 32 servers by default (256 sessions);
        // picoclaw talks to a handful of hosts.
        config.resumption = rustls::client::Resumption::in_memory_sessions(64);
        Trust {
            ca_file,
            config: Arc::new(config),
        }
    }

    /// Built-in webpki roots only (the default).
    pub fn builtin() -> Trust {
        Trust::new(None)
    }

    /// The shared rustls client configuration (ring provider, these roots).
    pub fn client_config(&self) -> Arc<ClientConfig> {
        self.config.clone()
    }

    pub fn ca_file(&self) -> Option<&CaFile> {
        self.ca_file.as_ref()
    }

    /// How many built-in roots there are.
    pub fn builtin_roots() -> usize {
        webpki_roots::TLS_SERVER_ROOTS.len()
    }

    /// For `doctor`: "built-in webpki roots: 146 certificates, plus
    /// ca_file: /etc/picoclaw/ca.pem, 1 certificate".
    pub fn describe(&self) -> String {
        let mut s = format!(
            "built-in webpki roots: {} certificates",
            Self::builtin_roots()
        );
        if let Some(ca) = &self.ca_file {
            let n = ca.len();
            s.push_str(&format!(
                ", plus ca_file: {}, {n} certificate{}",
                ca.path.display(),
                if n == 1 { "" } else { "s" }
            ));
        }
        s
    }
}

fn installed() -> &'static RwLock<Option<Arc<Trust>>> {
    static TRUST: OnceLock<RwLock<Option<Arc<Trust>>>> = OnceLock::new();
    TRUST.get_or_init(|| RwLock::new(None))
}

/// Sets the process-wide trust used by every client created afterwards
/// (the binary calls this once, right after loading the config). Clients
/// already created keep what they had.
pub fn install(trust: Trust) {
    let mut slot = installed().write().unwrap_or_else(|p| p.into_inner());
    *slot = Some(Arc::new(trust));
}

/// The process-wide trust: what [`install`] set, else built-in roots only.
pub fn trust() -> Arc<Trust> {
    if let Some(t) = installed()
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
    {
        return t.clone();
    }
    let mut slot = installed().write().unwrap_or_else(|p| p.into_inner());
    slot.get_or_insert_with(|| Arc::new(Trust::builtin()))
        .clone()
}

/// The process-wide rustls client configuration: ring provider, built-in
/// webpki roots plus `[http] ca_file`. For TLS users that do not go through
/// [`crate::Client`] (the Discord WebSocket). Cheap: one shared `Arc`.
pub fn tls_client_config() -> Arc<ClientConfig> {
    trust().client_config()
}

/// A failed TLS handshake, said so that the user knows what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The chain does not lead to a trusted root: a private CA, a proxy
    /// that intercepts TLS, or a self-signed server certificate.
    #[error("certificate not trusted: unknown issuer — set [http] ca_file to a PEM file with the CA that signed it")]
    UnknownIssuer,
    /// The certificate is valid, but for other names than the one dialled.
    #[error("certificate hostname mismatch: {0}")]
    HostnameMismatch(String),
    /// Past its notAfter date.
    #[error("certificate expired{0}")]
    Expired(String),
    /// Before its notBefore date: usually a board whose clock is not set.
    #[error("certificate not valid yet{0} — is the system clock right?")]
    NotYetValid(String),
    /// Any other certificate problem (revoked, bad signature, wrong use).
    #[error("certificate rejected: {0}")]
    BadCertificate(String),
    /// The handshake itself failed: no TLS on the other side, no common
    /// version or cipher, or the server aborted.
    #[error("TLS handshake failed: {0}")]
    Handshake(String),
}

impl TlsError {
    /// Classifies a rustls error.
    pub fn from_rustls(e: &rustls::Error) -> TlsError {
        match e {
            rustls::Error::InvalidCertificate(c) => from_certificate_error(c),
            rustls::Error::InvalidMessage(_)
            | rustls::Error::InappropriateMessage { .. }
            | rustls::Error::InappropriateHandshakeMessage { .. } => TlsError::Handshake(format!(
                "the server did not speak TLS as expected ({e}); is the URL meant to be http://?"
            )),
            rustls::Error::AlertReceived(alert) => TlsError::Handshake(format!(
                "the server refused the handshake (alert {alert:?})"
            )),
            rustls::Error::PeerIncompatible(_) => TlsError::Handshake(format!(
                "no TLS version or cipher suite in common with the server ({e})"
            )),
            other => TlsError::Handshake(other.to_string()),
        }
    }
}

fn from_certificate_error(c: &CertificateError) -> TlsError {
    match c {
        CertificateError::UnknownIssuer => TlsError::UnknownIssuer,
        CertificateError::NotValidForName => TlsError::HostnameMismatch(String::from(
            "the certificate is not valid for the host name in the URL",
        )),
        CertificateError::NotValidForNameContext {
            expected,
            presented,
        } => TlsError::HostnameMismatch(format!(
            "the URL names {}, the certificate is for {}",
            server_name(expected),
            if presented.is_empty() {
                String::from("no name at all")
            } else {
                presented
                    .iter()
                    .map(|n| bare_name(n))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        )),
        CertificateError::Expired => TlsError::Expired(String::new()),
        CertificateError::ExpiredContext { not_after, .. } => TlsError::Expired(format!(
            " on {}",
            picoclaw_core::log::format_utc(not_after.as_secs() as i64, 0)
        )),
        CertificateError::NotValidYet => TlsError::NotYetValid(String::new()),
        CertificateError::NotValidYetContext { time, not_before } => {
            TlsError::NotYetValid(format!(
                " (valid from {}, the clock says {})",
                picoclaw_core::log::format_utc(not_before.as_secs() as i64, 0),
                picoclaw_core::log::format_utc(time.as_secs() as i64, 0)
            ))
        }
        other => TlsError::BadCertificate(other.to_string()),
    }
}

/// webpki reports names as `DnsName("host")` / `IpAddress(…)`; users
/// want the name.
fn bare_name(presented: &str) -> &str {
    presented
        .split_once('(')
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .map(|inner| inner.trim_matches('"'))
        .unwrap_or(presented)
}

fn server_name(name: &ServerName<'_>) -> String {
    name.to_str().into_owned()
}

/// The rustls error inside an I/O error, if that is what it is (rustls
/// reports handshake failures through `std::io`).
pub(crate) fn rustls_error(e: &std::io::Error) -> Option<&rustls::Error> {
    e.get_ref()?.downcast_ref::<rustls::Error>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_certificates_is_refused_by_name() {
        let err = CaFile::from_pem(Path::new("/x/ca.pem"), b"just text\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "/x/ca.pem holds no PEM certificate (expected -----BEGIN CERTIFICATE----- blocks)"
        );
    }

    #[test]
    fn a_missing_file_is_a_read_error() {
        let err = CaFile::load(Path::new("/nonexistent/picoclaw-ca.pem")).unwrap_err();
        assert!(matches!(err, CaFileError::Read { .. }), "{err:?}");
    }

    #[test]
    fn a_block_that_is_not_a_certificate_is_refused_with_its_index() {
        let pem = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let err = CaFile::from_pem(Path::new("/x/ca.pem"), pem).unwrap_err();
        match err {
            CaFileError::BadCertificate { index, .. } => assert_eq!(index, 1),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn builtin_trust_describes_the_webpki_roots() {
        let t = Trust::builtin();
        assert_eq!(
            t.describe(),
            format!(
                "built-in webpki roots: {} certificates",
                webpki_roots::TLS_SERVER_ROOTS.len()
            )
        );
        assert!(Trust::builtin_roots() > 100);
    }

    #[test]
    fn certificate_errors_are_named_in_words() {
        let e = |c| TlsError::from_rustls(&rustls::Error::InvalidCertificate(c)).to_string();
        assert_eq!(
            e(CertificateError::UnknownIssuer),
            "certificate not trusted: unknown issuer — set [http] ca_file to a PEM file with the CA that signed it"
        );
        assert_eq!(
            e(CertificateError::NotValidForNameContext {
                expected: ServerName::try_from("127.0.0.1").unwrap(),
                presented: vec![
                    String::from("DnsName(\"other.example\")"),
                    String::from("localhost"),
                ],
            }),
            "certificate hostname mismatch: the URL names 127.0.0.1, the certificate is for other.example, localhost"
        );
        assert_eq!(
            e(CertificateError::ExpiredContext {
                time: rustls::pki_types::UnixTime::since_unix_epoch(
                    std::time::Duration::from_secs(1_700_000_000)
                ),
                not_after: rustls::pki_types::UnixTime::since_unix_epoch(
                    std::time::Duration::from_secs(1_600_000_000)
                ),
            }),
            format!(
                "certificate expired on {}",
                picoclaw_core::log::format_utc(1_600_000_000, 0)
            )
        );
        assert!(e(CertificateError::NotValidYet).contains("system clock"));
    }
}
