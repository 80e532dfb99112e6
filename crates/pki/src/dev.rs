//! A development PKI for tests and the demo: a CA and identities with software keys in files,
//! in one directory. Every file it writes says, by the CA's name, that it is not for
//! production.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::ca::{CA_CERT_FILE, CA_KEY_FILE, CRL_FILE, Ca, INDEX_FILE, IssueRequest};
use crate::error::PkiError;
use crate::identity::IdentityKind;
use crate::keys::{PublicKey, generate_software_key, load_software_tls_key};
use crate::role::Role;
use crate::tls::load_chain;
use crate::validate::TrustAnchors;

/// The name of every development CA.
pub const DEV_CA_NAME: &str = "gridtrust DEVELOPMENT CA - not for production";

/// How long development certificates and CRLs stay valid: long enough that a demo directory
/// never expires under someone.
pub const DEV_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// A development CA directory with identity certificates and their software keys.
///
/// Layout: the CA directory files of [`crate::ca`] (with the CA key in `ca.key.pem`), plus
/// `NAME.crt.pem` and `NAME.key.pem` (PKCS#8 PEM, as rcgen writes it) per identity.
#[derive(Clone, Debug)]
pub struct DevPki {
    dir: PathBuf,
}

/// The files of one identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityFiles {
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// The private key (PKCS#8 PEM): a development key store.
    pub key: PathBuf,
}

impl DevPki {
    /// Creates a development CA in `dir` and issues one certificate per `(kind, name, roles)`,
    /// valid for [`DEV_VALIDITY`], with a CRL just as long-lived.
    ///
    /// A previous development PKI in `dir` is replaced; a directory that holds any other CA is
    /// refused, so this can never overwrite an operator's CA.
    pub fn generate(dir: &Path, identities: &[(IdentityKind, &str, &[Role])]) -> Result<Self, PkiError> {
        for (_, name, _) in identities {
            if *name == "ca" || *name == "crl" {
                return Err(PkiError::InvalidName { name: (*name).to_owned(), reason: "reserved for the CA's own files" });
            }
        }
        Self::clear_previous(dir)?;
        std::fs::create_dir_all(dir).map_err(|source| PkiError::Write { path: dir.to_owned(), source })?;
        tracing::warn!(dir = %dir.display(), "creating a DEVELOPMENT PKI with software keys in files; not for production");
        let ca_key = generate_software_key(&dir.join(CA_KEY_FILE))?;
        // The CA outlives its certificates by a day: a certificate may not outlive its CA.
        let ca = Ca::init(dir, DEV_CA_NAME, DEV_VALIDITY + Duration::from_secs(24 * 3600), ca_key)?;
        let pki = Self { dir: dir.to_owned() };
        for (kind, name, roles) in identities {
            let files = pki.files(name);
            let key = generate_software_key(&files.key)?;
            let public_key = PublicKey::from_sec1(key.public_key_raw())?;
            let issued = ca.issue(&IssueRequest {
                kind: *kind,
                name: (*name).to_owned(),
                roles: roles.to_vec(),
                validity: DEV_VALIDITY,
                public_key,
                extra_sans: Vec::new(),
            })?;
            crate::ca::write_atomic(&files.cert, issued.pem.as_bytes())?;
        }
        ca.crl(DEV_VALIDITY)?;
        Ok(pki)
    }

    /// The files of identity `name`, issuing its certificate (and a software key) from this CA
    /// first if there is none yet: for tests and the demo that need one more identity.
    pub fn ensure_identity(&self, kind: IdentityKind, name: &str, roles: &[Role]) -> Result<IdentityFiles, PkiError> {
        let files = self.files(name);
        if files.cert.exists() && files.key.exists() {
            return Ok(files);
        }
        let key = generate_software_key(&files.key)?;
        let issued = self.ca()?.issue(&IssueRequest {
            kind,
            name: name.to_owned(),
            roles: roles.to_vec(),
            validity: DEV_VALIDITY,
            public_key: PublicKey::from_sec1(key.public_key_raw())?,
            extra_sans: Vec::new(),
        })?;
        crate::ca::write_atomic(&files.cert, issued.pem.as_bytes())?;
        Ok(files)
    }

    /// An existing development PKI directory.
    pub fn open(dir: &Path) -> Self {
        Self { dir: dir.to_owned() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the files of identity `name` are.
    pub fn files(&self, name: &str) -> IdentityFiles {
        IdentityFiles { cert: self.dir.join(format!("{name}.crt.pem")), key: self.dir.join(format!("{name}.key.pem")) }
    }

    /// The CA certificate file.
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join(CA_CERT_FILE)
    }

    /// The CRL file.
    pub fn crl(&self) -> PathBuf {
        self.dir.join(CRL_FILE)
    }

    /// The CA certificate and CRL, loaded.
    pub fn anchors(&self) -> Result<TrustAnchors, PkiError> {
        TrustAnchors::from_ca_dir(&self.dir)
    }

    /// The CA, opened with its software key (for tests that revoke or renew).
    pub fn ca(&self) -> Result<Ca<crate::keys::SoftwareKey>, PkiError> {
        let key = crate::keys::load_software_ca_key(&self.dir.join(CA_KEY_FILE))?;
        Ca::open(&self.dir, key)
    }

    /// The certificate chain and TLS key of identity `name`.
    pub fn tls_identity(
        &self,
        name: &str,
    ) -> Result<(Vec<rustls::pki_types::CertificateDer<'static>>, Arc<dyn rustls::sign::SigningKey>), PkiError> {
        let files = self.files(name);
        Ok((load_chain(&files.cert)?, load_software_tls_key(&files.key)?))
    }

    /// Removes a previous development PKI, refusing anything that is not one.
    fn clear_previous(dir: &Path) -> Result<(), PkiError> {
        let cert = dir.join(CA_CERT_FILE);
        if !cert.exists() {
            return Ok(());
        }
        let der = load_chain(&cert)?.remove(0);
        let (_, parsed) =
            x509_parser::parse_x509_certificate(&der).map_err(|e| PkiError::Read { path: cert.clone(), reason: e.to_string() })?;
        let is_dev = parsed.subject().iter_common_name().next().and_then(|cn| cn.as_str().ok()) == Some(DEV_CA_NAME);
        if !is_dev {
            return Err(PkiError::AlreadyExists { path: cert });
        }
        tracing::info!(dir = %dir.display(), "replacing the previous development PKI");
        let index = dir.join(INDEX_FILE);
        let mut names: Vec<PathBuf> =
            vec![cert, dir.join(CA_KEY_FILE), dir.join(CRL_FILE), index, dir.join("serial"), dir.join("crlnumber")];
        for entry in std::fs::read_dir(dir).map_err(|e| PkiError::Read { path: dir.to_owned(), reason: e.to_string() })? {
            let path = entry.map_err(|e| PkiError::Read { path: dir.to_owned(), reason: e.to_string() })?.path();
            let file = path.file_name().and_then(|f| f.to_str()).unwrap_or("");
            if file.ends_with(".crt.pem") || file.ends_with(".key.pem") {
                names.push(path);
            }
        }
        for path in names {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(PkiError::Write { path, source }),
            }
        }
        let certs = dir.join("certs");
        if certs.exists() {
            std::fs::remove_dir_all(&certs).map_err(|source| PkiError::Write { path: certs, source })?;
        }
        Ok(())
    }
}
