//! A role's own identity: its certificate, its key (in the HSM, or a development key file), and
//! the trust anchors (operator CA and CRL) it checks every peer against.
//!
//! One key per role serves the TLS handshake and the evidence it signs, so the certificate that
//! authenticates a connection is the same one that vouches for the data and commands on it.
//!
//! ```toml
//! [identity]
//! ca = "pki/ca.crt.pem"
//! certificate = "pki/edge-1.crt.pem"
//! crl = "pki/crl.pem"                       # required: without a CRL nothing is provably unrevoked
//! key = { kind = "pkcs11", module = "/usr/lib/softhsm/libsofthsm2.so", token_label = "edge-1",
//!         key_label = "edge-1", pin_env = "GRIDTRUST_PIN" }
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use gridtrust_keys::KeyConfig;
use gridtrust_pki::{PeerIdentity, Purpose, TrustAnchors, validate};
use gridtrust_trust::Hash;
use gridtrust_trust::signing::Signer;

/// Why a role's identity could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("cannot read certificate {path}: {reason}")]
    Certificate { path: PathBuf, reason: String },
    #[error("key store: {0}")]
    Key(#[from] gridtrust_keys::KeyError),
    #[error("trust anchors: {0}")]
    Anchors(gridtrust_pki::PkiError),
    #[error("this role's own certificate is not valid: {0}")]
    OwnCertificate(gridtrust_pki::PkiError),
    #[error("the key in the key store does not match the certificate {0}")]
    KeyMismatch(PathBuf),
    #[error("TLS configuration: {0}")]
    Tls(gridtrust_pki::PkiError),
}

/// The `[identity]` table of every role's configuration.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    /// The operator CA certificate (PEM).
    pub ca: PathBuf,
    /// This role's certificate chain (PEM), leaf first.
    pub certificate: PathBuf,
    /// The CA's certificate revocation list (PEM). Required: every certificate is checked
    /// against it, and a role without one could not show any certificate is not revoked.
    pub crl: PathBuf,
    /// Where this role's private key lives.
    pub key: KeyConfig,
}

impl IdentityConfig {
    /// Resolves relative paths against the configuration file's folder.
    pub fn resolve(&mut self, base: &Path) {
        gridtrust_config::resolve(base, &mut self.ca);
        gridtrust_config::resolve(base, &mut self.certificate);
        gridtrust_config::resolve(base, &mut self.crl);
        self.key = self.key.resolved(base);
    }
}

/// Whether a role signs (edge) or requires and verifies (hub, cc) batch signatures: always,
/// except in the chain benchmark that measures what they cost. Deliberately not a
/// configuration key (a role's file with `[evidence]` is refused as an unknown key): one line
/// of a file must not be able to turn the chain of trust off. The benchmark sets
/// [`Evidence::UnsignedForBenchmark`] on the loaded configuration in code.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Evidence {
    /// Batches are signed and checked for origin.
    #[default]
    Signed,
    /// Benchmarks only: batches are neither signed nor checked for origin.
    UnsignedForBenchmark,
}

impl Evidence {
    /// Whether batches are signed and checked.
    pub fn signed(self) -> bool {
        self == Self::Signed
    }

    /// Logs the warning a role without signatures must give.
    pub fn warn_if_off(self, role: &str) {
        if !self.signed() {
            tracing::error!(target: "alarm", role, "evidence signatures are OFF: batches are neither signed nor checked for origin; for benchmarks only");
        }
    }
}

/// A loaded identity: everything a role needs to authenticate itself and check others.
pub struct Identity {
    /// This role's certificate chain, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf certificate (DER), carried in signed commands and results.
    pub certificate: Vec<u8>,
    /// SHA-256 of the leaf: the signer id in evidence.
    pub certificate_id: Hash,
    /// What the leaf says about this role (kind, name, roles).
    pub me: PeerIdentity,
    /// The private key.
    pub signer: Arc<dyn Signer>,
    /// CA and CRL, for TLS and for every certificate carried in evidence.
    pub anchors: Arc<TrustAnchors>,
}

impl Identity {
    /// Loads certificate, key and anchors, and checks that the certificate is valid now and
    /// belongs to the key (a role refuses to start with a revoked, expired or mismatched one).
    pub fn load(config: &IdentityConfig) -> Result<Self, IdentityError> {
        let cert_err = |reason: String| IdentityError::Certificate { path: config.certificate.clone(), reason };
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&config.certificate)
            .map_err(|e| cert_err(e.to_string()))?
            .collect::<Result<_, _>>()
            .map_err(|e| cert_err(e.to_string()))?;
        let leaf = chain.first().ok_or_else(|| cert_err("no certificate in the file".into()))?.to_vec();
        let anchors = TrustAnchors::from_pem_files(std::slice::from_ref(&config.ca), std::slice::from_ref(&config.crl))
            .map_err(IdentityError::Anchors)?;
        let me = validate(&anchors, &chain, SystemTime::now(), Purpose::Signing).map_err(IdentityError::OwnCertificate)?;
        // Paths were resolved against the configuration file already.
        let signer = gridtrust_keys::open(&config.key, Path::new(""))?;
        if signer.public_key() != me.public_key {
            return Err(IdentityError::KeyMismatch(config.certificate.clone()));
        }
        Ok(Self {
            certificate_id: gridtrust_trust::signing::certificate_id(&leaf),
            certificate: leaf,
            chain,
            me,
            signer,
            anchors: Arc::new(anchors),
        })
    }

    /// Builds an identity from parts already in memory (tests, the demo).
    pub fn from_parts(chain: Vec<CertificateDer<'static>>, signer: Arc<dyn Signer>, anchors: Arc<TrustAnchors>) -> Result<Self, IdentityError> {
        let leaf = chain.first().map(|c| c.to_vec()).unwrap_or_default();
        let me = validate(&anchors, &chain, SystemTime::now(), Purpose::Signing).map_err(IdentityError::OwnCertificate)?;
        Ok(Self { certificate_id: gridtrust_trust::signing::certificate_id(&leaf), certificate: leaf, chain, me, signer, anchors })
    }

    /// Checks a peer's certificate (carried in evidence or a command) for signing use now.
    pub fn validate(&self, certificate: &[u8]) -> Result<PeerIdentity, gridtrust_pki::PkiError> {
        validate(&self.anchors, &[CertificateDer::from(certificate.to_vec())], SystemTime::now(), Purpose::Signing)
    }

    /// A TLS 1.3 server configuration: client certificate required, CRL honoured.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, IdentityError> {
        gridtrust_pki::server_config(&self.anchors, self.chain.clone(), self.tls_key()?).map_err(IdentityError::Tls)
    }

    /// A TLS 1.3 client configuration presenting this identity, CRL honoured.
    pub fn client_config(&self) -> Result<Arc<rustls::ClientConfig>, IdentityError> {
        gridtrust_pki::client_config(&self.anchors, self.chain.clone(), self.tls_key()?).map_err(IdentityError::Tls)
    }

    fn tls_key(&self) -> Result<Arc<dyn rustls::sign::SigningKey>, IdentityError> {
        Ok(Arc::new(gridtrust_pki::TlsSigningKey::new(self.signer.clone()).map_err(IdentityError::Tls)?))
    }

    /// Reads who is on the other end of an accepted connection.
    pub fn peer(&self, peer_certificates: &[CertificateDer<'static>]) -> Result<PeerIdentity, gridtrust_pki::PkiError> {
        validate(&self.anchors, peer_certificates, SystemTime::now(), Purpose::TlsClient)
    }
}
