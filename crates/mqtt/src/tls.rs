//! The client side of MQTTS: TLS 1.3 only, the ring provider (like the rest of the workspace),
//! the broker checked against the configured CA, its CRL (reloaded while in use, revocation
//! failing closed, as on every other hop) and the name dialled, and our client certificate
//! presented for mutual authentication.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::TlsFiles;

/// Why the TLS configuration cannot be built; names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("CA or CRL ({ca}, {crl}): {reason}")]
    Anchors { ca: String, crl: String, reason: gridtrust_pki::PkiError },
}

fn file_error(path: &Path, reason: impl std::fmt::Display) -> TlsSetupError {
    TlsSetupError::File { path: path.display().to_string(), reason: reason.to_string() }
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let certs: Vec<_> =
        CertificateDer::pem_file_iter(path).map_err(|e| file_error(path, e))?.collect::<Result<_, _>>().map_err(|e| file_error(path, e))?;
    if certs.is_empty() {
        return Err(file_error(path, "no certificate in the file"));
    }
    Ok(certs)
}

/// A rustls client configuration from the PEM files of `files`. Built in a tokio runtime, its
/// CRL is re-read while the configuration is in use.
pub fn client_config(files: &TlsFiles) -> Result<Arc<rustls::ClientConfig>, TlsSetupError> {
    let anchors = gridtrust_pki::watched_anchors(&files.ca, &files.crl, gridtrust_pki::CrlWatchConfig::default(), "MQTT broker TLS")
        .map_err(|reason| TlsSetupError::Anchors { ca: files.ca.display().to_string(), crl: files.crl.display().to_string(), reason })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = gridtrust_pki::live_server_verifier(&anchors, provider.clone(), gridtrust_pki::PeerCertificate::Any)
        .map_err(|reason| TlsSetupError::Anchors { ca: files.ca.display().to_string(), crl: files.crl.display().to_string(), reason })?;
    let chain = certificates(&files.certificate)?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| file_error(&files.key, e))?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(chain, key)?;
    Ok(Arc::new(config))
}
