//! The operator CA: a directory of files and a signing key that may live elsewhere.
//!
//! # The CA directory
//!
//! | file | what |
//! |---|---|
//! | `ca.crt.pem` | the self-signed CA certificate every role trusts |
//! | `ca.key.pem` | the CA key, **only** for a development CA (the CLI until a key store exists) |
//! | `serial` | the next certificate serial (decimal); serials start at 1 and are never reused |
//! | `crlnumber` | the next CRL number (decimal) |
//! | `index.toml` | one `[[cert]]` per issued certificate: serial, kind, name, roles, validity, SHA-256 id, revocation |
//! | `certs/<serial>.crt.pem` | a copy of every issued certificate (renewal reads it back) |
//! | `crl.pem` | the current CRL, signed by the CA, that every role loads |
//! | `.lock` | present while a command changes the directory |
//!
//! The CA key is any [`rcgen::SigningKey`]: an [`rcgen::KeyPair`] from a PEM file for
//! development, or a [`SignerKey`](crate::SignerKey) over an HSM key in production. Subjects are
//! certified from their public key alone, so their private keys never pass through here either.
//!
//! Renewal issues a new certificate (new serial, new validity) for the same key, kind, name,
//! roles and extra names, and leaves the old certificate valid until it expires: peers roll
//! over without a flag day. Revoke the old serial (reason `superseded`) to retire it early.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CustomExtension, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyIdMethod, KeyUsagePurpose, RevokedCertParams, SanType, SerialNumber,
};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::PkiError;
use crate::identity::{IdentityKind, Serial, check_name, hex, identity_urn, read_identity};
use crate::keys::PublicKey;
use crate::role::{ROLE_EXTENSION_OID, Role, UserRoles};

/// The CA certificate's file name in a CA directory.
pub const CA_CERT_FILE: &str = "ca.crt.pem";
/// The development CA key's file name in a CA directory.
pub const CA_KEY_FILE: &str = "ca.key.pem";
/// The CRL's file name in a CA directory.
pub const CRL_FILE: &str = "crl.pem";
/// The index's file name in a CA directory.
pub const INDEX_FILE: &str = "index.toml";
const SERIAL_FILE: &str = "serial";
const CRL_NUMBER_FILE: &str = "crlnumber";
const CERTS_DIR: &str = "certs";
const LOCK_FILE: &str = ".lock";

/// How long the first CRL, written by [`Ca::init`], stays valid. Validators refuse an expired
/// CRL, so the operator must publish a fresh one ([`Ca::crl`]) within this time.
pub const INITIAL_CRL_VALIDITY: Duration = Duration::from_secs(30 * 24 * 3600);

/// How far certificates are back-dated, so that a peer whose clock is behind the CA's (a field
/// device after a power cut, a role whose clock was stepped back by an hour) does not see a
/// brand-new certificate as not yet valid and lose its link. Back-dating widens no trust: the
/// certificate's key and roles are the same, and revocation works as before.
pub const BACKDATE: Duration = Duration::from_secs(2 * 3600);

/// RFC 9336 `id-kp-documentSigning` (1.3.6.1.5.5.7.3.36): every identity certificate carries it,
/// because every identity signs something (evidence, checkpoints, commands) with the same key.
pub const EKU_DOCUMENT_SIGNING: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 36];

/// Why a certificate was revoked (RFC 5280 reason codes that make sense for this CA).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RevocationReason {
    /// No reason given.
    Unspecified,
    /// The subject's private key is (or may be) known to someone else.
    KeyCompromise,
    /// The CA key is compromised (every certificate must go).
    CaCompromise,
    /// The subject changed role or organisation.
    AffiliationChanged,
    /// Replaced by a renewed certificate.
    Superseded,
    /// The device or person is gone.
    CessationOfOperation,
    /// The roles in the certificate were withdrawn.
    PrivilegeWithdrawn,
}

impl RevocationReason {
    const ALL: [(RevocationReason, &'static str); 7] = [
        (RevocationReason::Unspecified, "unspecified"),
        (RevocationReason::KeyCompromise, "key-compromise"),
        (RevocationReason::CaCompromise, "ca-compromise"),
        (RevocationReason::AffiliationChanged, "affiliation-changed"),
        (RevocationReason::Superseded, "superseded"),
        (RevocationReason::CessationOfOperation, "cessation-of-operation"),
        (RevocationReason::PrivilegeWithdrawn, "privilege-withdrawn"),
    ];

    /// The name used in the index and on the command line.
    pub fn as_str(self) -> &'static str {
        Self::ALL.iter().find(|(r, _)| *r == self).map_or("unspecified", |(_, s)| s)
    }

    fn to_rcgen(self) -> rcgen::RevocationReason {
        match self {
            RevocationReason::Unspecified => rcgen::RevocationReason::Unspecified,
            RevocationReason::KeyCompromise => rcgen::RevocationReason::KeyCompromise,
            RevocationReason::CaCompromise => rcgen::RevocationReason::CaCompromise,
            RevocationReason::AffiliationChanged => rcgen::RevocationReason::AffiliationChanged,
            RevocationReason::Superseded => rcgen::RevocationReason::Superseded,
            RevocationReason::CessationOfOperation => rcgen::RevocationReason::CessationOfOperation,
            RevocationReason::PrivilegeWithdrawn => rcgen::RevocationReason::PrivilegeWithdrawn,
        }
    }
}

impl std::fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A revocation reason name that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown revocation reason {0:?} (expected unspecified, key-compromise, ca-compromise, affiliation-changed, superseded, cessation-of-operation or privilege-withdrawn)"
)]
pub struct UnknownReason(pub String);

impl FromStr for RevocationReason {
    type Err = UnknownReason;

    /// Accepts the kebab-case names and the RFC 5280 camelCase ones (`keyCompromise`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted: String = s.trim().chars().filter(|c| *c != '-' && *c != '_').collect();
        Self::ALL
            .iter()
            .find(|(_, name)| name.replace('-', "").eq_ignore_ascii_case(&wanted))
            .map(|(r, _)| *r)
            .ok_or_else(|| UnknownReason(s.to_owned()))
    }
}

/// One issued certificate in the CA's index.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexEntry {
    /// The certificate's serial.
    pub serial: u64,
    /// The identity kind.
    pub kind: IdentityKind,
    /// The identity name.
    pub name: String,
    /// The roles certified.
    pub roles: Vec<Role>,
    /// Start of validity (RFC 3339).
    pub not_before: String,
    /// End of validity (RFC 3339).
    pub not_after: String,
    /// SHA-256 of the certificate (hex): the id evidence refers to.
    pub certificate_id: String,
    /// The serial this certificate renewed, if it is a renewal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renews: Option<u64>,
    /// Set once the certificate is revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<RevocationRecord>,
}

/// When and why a certificate was revoked.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevocationRecord {
    /// When the CA processed the revocation (RFC 3339).
    pub time: String,
    /// Why.
    pub reason: RevocationReason,
}

#[derive(Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct IndexFile {
    #[serde(default, rename = "cert")]
    certs: Vec<IndexEntry>,
}

/// What to certify.
#[derive(Clone, Debug)]
pub struct IssueRequest {
    /// The kind of identity.
    pub kind: IdentityKind,
    /// Its name (see [`crate::identity`] for the rules).
    pub name: String,
    /// Its IEC 62351-8 roles (at least one).
    pub roles: Vec<Role>,
    /// How long the certificate is valid from now.
    pub validity: Duration,
    /// The subject's public key; the private key stays wherever it lives.
    pub public_key: PublicKey,
    /// Extra DNS names or IP addresses the peer is reached by (edge, hub, cc only).
    pub extra_sans: Vec<String>,
}

/// A newly issued certificate.
#[derive(Clone, Debug)]
pub struct Issued {
    /// Its serial.
    pub serial: u64,
    /// The certificate, PEM.
    pub pem: String,
    /// The certificate, DER.
    pub der: CertificateDer<'static>,
    /// The CA's copy, `certs/<serial>.crt.pem`.
    pub path: PathBuf,
    /// When it expires.
    pub not_after: SystemTime,
}

/// Which issued certificate an operation is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertRef {
    /// By serial.
    Serial(u64),
    /// By identity name: the newest certificate of that name that is not revoked.
    Name(String),
}

impl FromStr for CertRef {
    type Err = std::convert::Infallible;

    /// All digits is a serial, anything else a name.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.parse::<u64>() {
            Ok(n) => CertRef::Serial(n),
            Err(_) => CertRef::Name(s.to_owned()),
        })
    }
}

impl std::fmt::Display for CertRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CertRef::Serial(n) => write!(f, "serial {n}"),
            CertRef::Name(n) => write!(f, "named {n:?}"),
        }
    }
}

/// An operator CA: its directory and its signing key.
pub struct Ca<K> {
    dir: PathBuf,
    key: K,
    cert_der: CertificateDer<'static>,
    cert_pem: String,
    name: String,
    key_id: Vec<u8>,
    not_after: OffsetDateTime,
}

impl<K: rcgen::SigningKey> Ca<K> {
    /// Creates a CA in `dir` (created if missing; refused if it already holds a CA): a
    /// self-signed certificate for `key` named `name`, valid for `validity`, allowed to sign
    /// certificates and CRLs but no intermediate CAs (path length 0), and a first, empty CRL
    /// valid for [`INITIAL_CRL_VALIDITY`].
    pub fn init(dir: &Path, name: &str, validity: Duration, key: K) -> Result<Self, PkiError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 64 {
            return Err(PkiError::InvalidName { name: name.to_owned(), reason: "a CA name must be 1 to 64 characters" });
        }
        check_algorithm(&key)?;
        let cert_path = dir.join(CA_CERT_FILE);
        if cert_path.exists() {
            return Err(PkiError::AlreadyExists { path: cert_path });
        }
        create_dir(dir)?;
        create_dir(&dir.join(CERTS_DIR))?;
        let _lock = DirLock::acquire(dir)?;
        if cert_path.exists() {
            return Err(PkiError::AlreadyExists { path: cert_path });
        }

        let now = SystemTime::now();
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = to_offset(now.checked_sub(BACKDATE).unwrap_or(now))?;
        params.not_after = add_validity(now, validity)?;
        params.serial_number = Some(SerialNumber::from_slice(&random_serial()?));
        let cert = params.self_signed(&key)?;
        write_atomic(&dir.join(SERIAL_FILE), b"1\n")?;
        write_atomic(&dir.join(CRL_NUMBER_FILE), b"1\n")?;
        write_index(dir, &IndexFile::default())?;
        write_atomic(&cert_path, cert.pem().as_bytes())?;
        tracing::info!(dir = %dir.display(), name, "created CA");
        drop(_lock);

        let ca = Self::open(dir, key)?;
        ca.crl(INITIAL_CRL_VALIDITY)?;
        Ok(ca)
    }

    /// Opens the CA in `dir` with its key; refuses a key that is not the CA certificate's.
    pub fn open(dir: &Path, key: K) -> Result<Self, PkiError> {
        check_algorithm(&key)?;
        let cert_path = dir.join(CA_CERT_FILE);
        let cert_pem = read_string(&cert_path)?;
        let cert_der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
            .map_err(|e| PkiError::Read { path: cert_path.clone(), reason: e.to_string() })?;
        let (name, key_id, spki, not_after) = {
            let bad = |reason: String| PkiError::Read { path: cert_path.clone(), reason };
            let (_, cert) = x509_parser::parse_x509_certificate(&cert_der).map_err(|e| bad(e.to_string()))?;
            if !cert.is_ca() {
                return Err(bad("not a CA certificate".into()));
            }
            // rcgen rebuilds the issuer name from this certificate and cannot represent an
            // attribute set with other than one attribute; refuse such a name up front.
            if cert.subject().iter().any(|rdn| rdn.iter().count() != 1) {
                return Err(bad("the CA name has a multi-valued or empty RDN".into()));
            }
            let name = cert.subject().iter_common_name().next().and_then(|cn| cn.as_str().ok()).unwrap_or("").to_owned();
            let key_id = match cert.get_extension_unique(&x509_parser::oid_registry::OID_X509_EXT_SUBJECT_KEY_IDENTIFIER) {
                Ok(Some(ext)) => match ext.parsed_extension() {
                    x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(id) => id.0.to_vec(),
                    _ => return Err(bad("malformed subject key identifier".into())),
                },
                _ => return Err(bad("the CA certificate has no subject key identifier".into())),
            };
            (name, key_id, cert.public_key().raw.to_vec(), cert.validity().not_after.to_datetime())
        };
        if key.subject_public_key_info() != spki {
            return Err(PkiError::KeyMismatch { path: cert_path, key: format!("{:?}", key.algorithm()) });
        }
        Ok(Self { dir: dir.to_owned(), key, cert_der, cert_pem, name, key_id, not_after })
    }

    /// The CA directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The CA's name (its certificate's common name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The CA certificate, DER.
    pub fn certificate_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// The CA certificate, PEM (as in `ca.crt.pem`).
    pub fn certificate_pem(&self) -> &str {
        &self.cert_pem
    }

    fn issuer(&self) -> Result<Issuer<'static, &K>, PkiError> {
        Ok(Issuer::from_ca_cert_der(&self.cert_der, &self.key)?)
    }

    /// Certifies `request.public_key` as `request.kind` `request.name` with `request.roles`.
    ///
    /// Every certificate: a fresh serial, CN = name, the URN and TLS names of
    /// [`crate::identity`], the IEC 62351-8 role extension (non-critical, as the standard
    /// says), key usage digitalSignature, basic constraints CA:false, authority and subject
    /// key identifiers, and extended key usage serverAuth + clientAuth (edge, hub, cc) or
    /// clientAuth (operator, scada), plus documentSigning ([`EKU_DOCUMENT_SIGNING`]).
    pub fn issue(&self, request: &IssueRequest) -> Result<Issued, PkiError> {
        self.issue_inner(request, None)
    }

    fn issue_inner(&self, request: &IssueRequest, renews: Option<u64>) -> Result<Issued, PkiError> {
        check_name(&request.name)?;
        if request.roles.is_empty() {
            return Err(PkiError::NoRoles);
        }
        let extra_sans = parse_extra_sans(request.kind, &request.extra_sans)?;
        let role_ext = UserRoles::standard(&request.roles).encode()?;
        let now = SystemTime::now();
        let not_before = to_offset(now.checked_sub(BACKDATE).unwrap_or(now))?;
        let not_after = add_validity(now, request.validity)?;
        if not_after > self.not_after {
            return Err(PkiError::Validity(format!(
                "the certificate would outlive the CA, which expires at {}",
                rfc3339(self.not_after).unwrap_or_default()
            )));
        }
        let issuer = self.issuer()?;

        let _lock = DirLock::acquire(&self.dir)?;
        let serial = next_counter(&self.dir.join(SERIAL_FILE))?;

        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, request.name.as_str());
        params.serial_number = Some(SerialNumber::from_slice(Serial::from(serial).as_bytes()));
        params.not_before = not_before;
        params.not_after = not_after;
        params.is_ca = IsCa::ExplicitNoCa;
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = if request.kind.is_tls_server() {
            vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth]
        } else {
            vec![ExtendedKeyUsagePurpose::ClientAuth]
        };
        params.extended_key_usages.push(ExtendedKeyUsagePurpose::Other(EKU_DOCUMENT_SIGNING.to_vec()));
        params.subject_alt_names = vec![SanType::URI(ia5(&identity_urn(request.kind, &request.name))?)];
        if request.kind.is_tls_server() {
            params.subject_alt_names.push(SanType::DnsName(ia5(&request.name)?));
            params.subject_alt_names.push(SanType::DnsName(ia5("localhost")?));
            params.subject_alt_names.push(SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
            params.subject_alt_names.extend(extra_sans);
        }
        params.custom_extensions = vec![CustomExtension::from_oid_content(ROLE_EXTENSION_OID, role_ext)];

        let cert = params.signed_by(&request.public_key, &issuer)?;
        let pem = cert.pem();
        let path = self.dir.join(CERTS_DIR).join(format!("{serial}.crt.pem"));
        write_atomic(&path, pem.as_bytes())?;

        let mut roles = request.roles.clone();
        roles.sort_unstable();
        roles.dedup();
        let mut index = read_index(&self.dir)?;
        index.certs.push(IndexEntry {
            serial,
            kind: request.kind,
            name: request.name.clone(),
            roles,
            not_before: rfc3339(not_before)?,
            not_after: rfc3339(not_after)?,
            certificate_id: hex(&gridtrust_trust::signing::certificate_id(cert.der())),
            renews,
            revoked: None,
        });
        write_index(&self.dir, &index)?;
        tracing::info!(serial, kind = %request.kind, name = %request.name, roles = ?request.roles, "issued certificate");
        Ok(Issued { serial, pem, der: cert.der().clone(), path, not_after: not_after.into() })
    }

    /// Issues a new certificate for the same key, kind, name, roles and extra names as the one
    /// `which` names, valid for `validity` from now. The old certificate stays valid until it
    /// expires (see the module documentation); a revoked certificate is not renewed.
    pub fn renew(&self, which: &CertRef, validity: Duration) -> Result<Issued, PkiError> {
        let entry = self.find(which)?;
        if entry.revoked.is_some() {
            return Err(PkiError::AlreadyRevoked(Serial::from(entry.serial)));
        }
        let path = self.dir.join(CERTS_DIR).join(format!("{}.crt.pem", entry.serial));
        let der = CertificateDer::from_pem_file(&path).map_err(|e| PkiError::Read { path: path.clone(), reason: e.to_string() })?;
        let (_, cert) =
            x509_parser::parse_x509_certificate(&der).map_err(|e| PkiError::Read { path: path.clone(), reason: e.to_string() })?;
        let identity = read_identity(&cert)?;
        let request = IssueRequest {
            kind: identity.kind,
            name: identity.name,
            roles: identity.user_roles.roles(),
            validity,
            public_key: PublicKey::from_sec1(&identity.public_key)?,
            extra_sans: identity.extra_sans,
        };
        let issued = self.issue_inner(&request, Some(entry.serial))?;
        tracing::info!(old = entry.serial, new = issued.serial, name = %request.name, "renewed certificate; the old one stays valid until it expires");
        Ok(issued)
    }

    /// Marks the certificate `serial` revoked in the index. Peers see it only in the next CRL:
    /// call [`Ca::crl`] afterwards and distribute `crl.pem`.
    pub fn revoke(&self, serial: u64, reason: RevocationReason) -> Result<IndexEntry, PkiError> {
        let _lock = DirLock::acquire(&self.dir)?;
        let mut index = read_index(&self.dir)?;
        let entry = index.certs.iter_mut().find(|e| e.serial == serial).ok_or_else(|| PkiError::NotFound(format!("serial {serial}")))?;
        if entry.revoked.is_some() {
            return Err(PkiError::AlreadyRevoked(Serial::from(serial)));
        }
        let now = OffsetDateTime::from(SystemTime::now()).replace_nanosecond(0).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        entry.revoked = Some(RevocationRecord { time: rfc3339(now)?, reason });
        let entry = entry.clone();
        write_index(&self.dir, &index)?;
        tracing::warn!(serial, name = %entry.name, %reason, "revoked certificate; publish a new CRL");
        Ok(entry)
    }

    /// Signs a CRL listing every revoked certificate, valid from now until `next_update` from
    /// now, with the next CRL number; writes it to `crl.pem` and returns it (PEM).
    pub fn crl(&self, next_update: Duration) -> Result<String, PkiError> {
        let issuer = self.issuer()?;
        let _lock = DirLock::acquire(&self.dir)?;
        let index = read_index(&self.dir)?;
        let mut revoked = Vec::new();
        for entry in &index.certs {
            if let Some(rev) = &entry.revoked {
                let time = OffsetDateTime::parse(&rev.time, &Rfc3339)
                    .map_err(|e| PkiError::Read { path: self.dir.join(INDEX_FILE), reason: format!("serial {}: {e}", entry.serial) })?;
                revoked.push(RevokedCertParams {
                    serial_number: SerialNumber::from_slice(Serial::from(entry.serial).as_bytes()),
                    revocation_time: time,
                    reason_code: Some(rev.reason.to_rcgen()),
                    invalidity_date: None,
                });
            }
        }
        let number = next_counter(&self.dir.join(CRL_NUMBER_FILE))?;
        let now = SystemTime::now();
        let params = CertificateRevocationListParams {
            this_update: to_offset(now)?,
            next_update: add_validity(now, next_update)?,
            crl_number: SerialNumber::from_slice(Serial::from(number).as_bytes()),
            issuing_distribution_point: None,
            revoked_certs: revoked,
            key_identifier_method: KeyIdMethod::PreSpecified(self.key_id.clone()),
        };
        let crl = params.signed_by(&issuer)?;
        let pem = crl.pem()?;
        write_atomic(&self.dir.join(CRL_FILE), pem.as_bytes())?;
        tracing::info!(number, revoked = params.revoked_certs.len(), "published CRL");
        Ok(pem)
    }

    /// Every certificate this CA issued, in serial order.
    pub fn list(&self) -> Result<Vec<IndexEntry>, PkiError> {
        let mut certs = read_index(&self.dir)?.certs;
        certs.sort_by_key(|e| e.serial);
        Ok(certs)
    }

    fn find(&self, which: &CertRef) -> Result<IndexEntry, PkiError> {
        let index = read_index(&self.dir)?;
        match which {
            CertRef::Serial(n) => index.certs.into_iter().find(|e| e.serial == *n).ok_or_else(|| PkiError::NotFound(which.to_string())),
            CertRef::Name(name) => {
                let live: Vec<IndexEntry> = index.certs.into_iter().filter(|e| &e.name == name && e.revoked.is_none()).collect();
                let Some(first) = live.first() else { return Err(PkiError::NotFound(which.to_string())) };
                if live.iter().any(|e| e.kind != first.kind) {
                    return Err(PkiError::Ambiguous(which.to_string()));
                }
                live.into_iter().max_by_key(|e| e.serial).ok_or_else(|| PkiError::NotFound(which.to_string()))
            }
        }
    }
}

/// gridtrust uses one algorithm (ECDSA P-256 / SHA-256, see `gridtrust_trust::signing`), and
/// validators accept only that, so a CA key of another type would issue unusable certificates.
fn check_algorithm(key: &impl rcgen::SigningKey) -> Result<(), PkiError> {
    if key.algorithm() == &rcgen::PKCS_ECDSA_P256_SHA256 {
        Ok(())
    } else {
        Err(PkiError::Malformed { what: "CA key", reason: format!("{:?} is not ECDSA P-256", key.algorithm()) })
    }
}

fn parse_extra_sans(kind: IdentityKind, sans: &[String]) -> Result<Vec<SanType>, PkiError> {
    if !kind.is_tls_server() && !sans.is_empty() {
        return Err(PkiError::InvalidSan(format!("{}: operator certificates carry no host names", sans.join(","))));
    }
    sans.iter()
        .map(|s| {
            let s = s.trim();
            if let Ok(ip) = s.parse::<std::net::IpAddr>() {
                return Ok(SanType::IpAddress(ip));
            }
            match rustls::pki_types::ServerName::try_from(s) {
                Ok(rustls::pki_types::ServerName::DnsName(_)) => Ok(SanType::DnsName(ia5(s)?)),
                _ => Err(PkiError::InvalidSan(s.to_owned())),
            }
        })
        .collect()
}

fn ia5(s: &str) -> Result<rcgen::string::Ia5String, PkiError> {
    rcgen::string::Ia5String::try_from(s).map_err(|_| PkiError::InvalidSan(s.to_owned()))
}

fn to_offset(t: SystemTime) -> Result<OffsetDateTime, PkiError> {
    let t = OffsetDateTime::from(t);
    t.replace_nanosecond(0).map_err(|e| PkiError::Validity(e.to_string()))
}

fn add_validity(now: SystemTime, validity: Duration) -> Result<OffsetDateTime, PkiError> {
    if validity.is_zero() {
        return Err(PkiError::Validity("the validity must be longer than zero".into()));
    }
    let end = now.checked_add(validity).ok_or_else(|| PkiError::Validity(format!("{validity:?} from now overflows")))?;
    let end = to_offset(end)?;
    if end.year() > 9999 {
        return Err(PkiError::Validity(format!("{validity:?} from now is past the year 9999")));
    }
    Ok(end)
}

fn rfc3339(t: OffsetDateTime) -> Result<String, PkiError> {
    t.format(&Rfc3339).map_err(|e| PkiError::Validity(e.to_string()))
}

/// A random positive 16-byte serial for the CA certificate itself (leaf serials count).
fn random_serial() -> Result<[u8; 16], PkiError> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new().fill(&mut bytes).map_err(|_| PkiError::Validity("the system RNG failed".into()))?;
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(bytes)
}

fn create_dir(dir: &Path) -> Result<(), PkiError> {
    std::fs::create_dir_all(dir).map_err(|source| PkiError::Write { path: dir.to_owned(), source })
}

fn read_string(path: &Path) -> Result<String, PkiError> {
    std::fs::read_to_string(path).map_err(|e| PkiError::Read { path: path.to_owned(), reason: e.to_string() })
}

/// Writes `bytes` to a temporary file beside `path`, syncs it and renames it over `path`, so a
/// crash leaves the old file or the new one, never half of one.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PkiError> {
    use std::io::Write;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let write_err = |source| PkiError::Write { path: path.to_owned(), source };
    let mut file = std::fs::File::create(&tmp).map_err(write_err)?;
    file.write_all(bytes).map_err(write_err)?;
    file.sync_all().map_err(write_err)?;
    std::fs::rename(&tmp, path).map_err(write_err)
}

/// Reads the counter in `path`, writes the next value, returns the one read. The new value is
/// on disk before the old one is used, so a crash can skip a number but never repeat one.
fn next_counter(path: &Path) -> Result<u64, PkiError> {
    let text = read_string(path)?;
    let n: u64 = text.trim().parse().map_err(|e| PkiError::Read { path: path.to_owned(), reason: format!("not a counter: {e}") })?;
    let next = n.checked_add(1).ok_or_else(|| PkiError::Read { path: path.to_owned(), reason: "counter exhausted".into() })?;
    write_atomic(path, format!("{next}\n").as_bytes())?;
    Ok(n)
}

fn read_index(dir: &Path) -> Result<IndexFile, PkiError> {
    let path = dir.join(INDEX_FILE);
    let text = read_string(&path)?;
    toml::from_str(&text).map_err(|e| PkiError::Read { path, reason: e.to_string() })
}

fn write_index(dir: &Path, index: &IndexFile) -> Result<(), PkiError> {
    let path = dir.join(INDEX_FILE);
    let body = toml::to_string(index).map_err(|e| PkiError::Write { path: path.clone(), source: std::io::Error::other(e) })?;
    let text = format!("# gridtrust CA index: one [[cert]] per issued certificate, written by `gridtrust pki`.\n\n{body}");
    write_atomic(&path, text.as_bytes())
}

/// Exclusive use of a CA directory while it changes: a lock file created with `O_EXCL`,
/// removed when dropped. A crash leaves it behind; the error says how to clear it.
struct DirLock {
    path: PathBuf,
}

impl DirLock {
    fn acquire(dir: &Path) -> Result<Self, PkiError> {
        let path = dir.join(LOCK_FILE);
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(_) => Ok(Self { path }),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(PkiError::Locked { dir: dir.to_owned(), lock: path }),
            Err(source) => Err(PkiError::Write { path, source }),
        }
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.path) {
            tracing::error!(path = %self.path.display(), error = %e, "cannot remove the CA lock file");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revocation_reasons_parse_both_spellings() {
        assert_eq!("key-compromise".parse::<RevocationReason>().unwrap(), RevocationReason::KeyCompromise);
        assert_eq!("keyCompromise".parse::<RevocationReason>().unwrap(), RevocationReason::KeyCompromise);
        assert_eq!("superseded".parse::<RevocationReason>().unwrap(), RevocationReason::Superseded);
        assert!("hold".parse::<RevocationReason>().is_err());
        for (r, name) in RevocationReason::ALL {
            assert_eq!(r.to_string(), name);
        }
    }

    #[test]
    fn cert_ref_is_a_serial_when_numeric() {
        assert_eq!("12".parse::<CertRef>().unwrap(), CertRef::Serial(12));
        assert_eq!("edge-1".parse::<CertRef>().unwrap(), CertRef::Name("edge-1".into()));
    }
}
