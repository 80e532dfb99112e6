//! Certificates and TLS configurations for mutual TLS between the roles (IEC 62351-3 profile:
//! TLS 1.3, client certificate required, peers checked against the operator CA).
//!
//! [`DevPki`] creates a throw-away operator CA and role certificates for the demo and tests; it
//! says so in the CA's name. Production certificates come from the operator's CA; the
//! configuration only names PEM files, so both work the same way.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

/// Why certificates could not be made or loaded.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("{path} holds no certificate")]
    NoCertificate { path: PathBuf },
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("TLS configuration failed: {0}")]
    Tls(String),
}

/// The PEM files one role needs for mutual TLS.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// The operator CA that issued every peer's certificate.
    pub ca: PathBuf,
    /// This role's certificate chain.
    pub cert: PathBuf,
    /// This role's private key (development key store; the trust issue moves it to the HSM).
    pub key: PathBuf,
}

impl TlsFiles {
    /// Where [`DevPki`] writes the files of `name` inside `dir`.
    pub fn in_dir(dir: &Path, name: &str) -> Self {
        Self { ca: dir.join("ca.crt.pem"), cert: dir.join(format!("{name}.crt.pem")), key: dir.join(format!("{name}.key.pem")) }
    }

    fn load(&self) -> Result<(rustls::RootCertStore, Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), PkiError> {
        let read_err = |path: &Path, e: &dyn std::fmt::Display| PkiError::Read { path: path.to_owned(), reason: e.to_string() };
        let mut roots = rustls::RootCertStore::empty();
        let cas: Vec<_> = CertificateDer::pem_file_iter(&self.ca)
            .map_err(|e| read_err(&self.ca, &e))?
            .collect::<Result<_, _>>()
            .map_err(|e| read_err(&self.ca, &e))?;
        if cas.is_empty() {
            return Err(PkiError::NoCertificate { path: self.ca.clone() });
        }
        for ca in cas {
            roots.add(ca).map_err(|e| read_err(&self.ca, &e))?;
        }
        let chain: Vec<_> = CertificateDer::pem_file_iter(&self.cert)
            .map_err(|e| read_err(&self.cert, &e))?
            .collect::<Result<_, _>>()
            .map_err(|e| read_err(&self.cert, &e))?;
        if chain.is_empty() {
            return Err(PkiError::NoCertificate { path: self.cert.clone() });
        }
        let key = PrivateKeyDer::from_pem_file(&self.key).map_err(|e| read_err(&self.key, &e))?;
        Ok((roots, chain, key))
    }

    /// A TLS 1.3 server configuration that requires a client certificate from the same CA.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, PkiError> {
        let (roots, chain, key) = self.load()?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| PkiError::Tls(e.to_string()))?;
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| PkiError::Tls(e.to_string()))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .map_err(|e| PkiError::Tls(e.to_string()))?;
        Ok(Arc::new(config))
    }

    /// A TLS 1.3 client configuration presenting this role's certificate and trusting the CA.
    pub fn client_config(&self) -> Result<Arc<rustls::ClientConfig>, PkiError> {
        let (roots, chain, key) = self.load()?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| PkiError::Tls(e.to_string()))?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|e| PkiError::Tls(e.to_string()))?;
        Ok(Arc::new(config))
    }
}

/// A development PKI: one CA and a certificate per named identity, written as PEM files.
pub struct DevPki;

impl DevPki {
    /// Creates `dir/ca.crt.pem` and, for each name, `NAME.crt.pem` and `NAME.key.pem`. Each
    /// certificate carries the name as its common name and as DNS subject alternative name, plus
    /// `localhost` and 127.0.0.1 so that loopback connections verify.
    pub fn generate(dir: &Path, names: &[&str]) -> Result<(), PkiError> {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType};
        std::fs::create_dir_all(dir).map_err(|source| PkiError::Write { path: dir.to_owned(), source })?;
        let write = |path: PathBuf, text: String| std::fs::write(&path, text).map_err(|source| PkiError::Write { path, source });

        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.distinguished_name.push(DnType::CommonName, "gridtrust DEVELOPMENT CA - not for production");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let ca_cert = ca_params.self_signed(&ca_key)?;
        write(dir.join("ca.crt.pem"), ca_cert.pem())?;
        let issuer = Issuer::new(ca_params, ca_key);

        for name in names {
            let key = KeyPair::generate()?;
            let mut params = CertificateParams::new(vec![(*name).to_owned(), "localhost".to_owned()])?;
            params.subject_alt_names.push(SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
            params.distinguished_name.push(DnType::CommonName, *name);
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            params.extended_key_usages =
                vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth, rcgen::ExtendedKeyUsagePurpose::ClientAuth];
            let cert = params.signed_by(&key, &issuer)?;
            let files = TlsFiles::in_dir(dir, name);
            write(files.cert, cert.pem())?;
            write(files.key, key.serialize_pem())?;
        }
        Ok(())
    }
}
