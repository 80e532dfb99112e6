//! Certificate validation: the one check every role runs on every peer certificate, whether it
//! arrives in a TLS handshake or names the signer of evidence or a command.
//!
//! [`validate`] builds the path to a trusted CA (rustls-webpki: signatures, validity at the
//! given time, basic constraints, path length, critical extensions), checks the extended key
//! usage for the [`Purpose`], checks revocation against the loaded CRLs, and then reads and
//! checks the gridtrust identity (key usage digitalSignature, P-256 key, kind and name, IEC
//! 62351-8 roles).
//!
//! Revocation fails closed: a CA whose CRL is not loaded, or whose CRL is past its
//! nextUpdate, gets no certificate accepted. Running without revocation checks must be asked
//! for by name ([`TrustAnchors::without_revocation`]).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, TrustAnchor, UnixTime};
use webpki::{
    CertRevocationList, EndEntityCert, ExpirationPolicy, KeyUsage, OwnedCertRevocationList, RevocationCheckDepth, RevocationOptionsBuilder,
    UnknownStatusPolicy,
};
use x509_parser::prelude::FromDer;

use crate::ca::{CA_CERT_FILE, CRL_FILE};
use crate::error::PkiError;
use crate::identity::{PeerIdentity, Serial, peer_identity_of};

/// DER contents of id-kp-serverAuth (1.3.6.1.5.5.7.3.1).
const EKU_SERVER_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];
/// DER contents of id-kp-clientAuth (1.3.6.1.5.5.7.3.2).
const EKU_CLIENT_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02];
/// DER contents of id-kp-documentSigning (1.3.6.1.5.5.7.3.36, RFC 9336).
const EKU_DOCUMENT_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x24];

/// What a certificate is being accepted for. Each purpose requires its extended key usage to
/// be present (not merely "allowed if absent"): gridtrust's CA always writes EKUs, so a
/// certificate without them is not one of ours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// The peer is a TLS client (requires clientAuth).
    TlsClient,
    /// The peer is a TLS server (requires serverAuth).
    TlsServer,
    /// The key signs evidence, checkpoints or commands (requires documentSigning).
    Signing,
}

impl Purpose {
    /// A short name for errors and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::TlsClient => "TLS client authentication",
            Purpose::TlsServer => "TLS server authentication",
            Purpose::Signing => "signing",
        }
    }

    fn eku(self) -> &'static [u8] {
        match self {
            Purpose::TlsClient => EKU_CLIENT_AUTH,
            Purpose::TlsServer => EKU_SERVER_AUTH,
            Purpose::Signing => EKU_DOCUMENT_SIGNING,
        }
    }
}

/// The CAs a role trusts and their CRLs, loaded once and shared by [`validate`] and the TLS
/// configurations.
#[derive(Clone)]
pub struct TrustAnchors {
    roots: Vec<CertificateDer<'static>>,
    anchors: Vec<TrustAnchor<'static>>,
    crls: Vec<CertificateRevocationListDer<'static>>,
    parsed_crls: std::sync::Arc<Vec<CertRevocationList<'static>>>,
    /// thisUpdate and nextUpdate of each CRL, in the order of `crls`.
    crl_times: Vec<CrlTimes>,
    check_revocation: bool,
}

/// When a loaded CRL was issued and when the next one is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrlTimes {
    /// thisUpdate.
    pub this_update: SystemTime,
    /// nextUpdate (RFC 5280 requires it; a CRL without one is never "due").
    pub next_update: Option<SystemTime>,
}

impl std::fmt::Debug for TrustAnchors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustAnchors")
            .field("roots", &self.roots.len())
            .field("crls", &self.crls.len())
            .field("check_revocation", &self.check_revocation)
            .finish()
    }
}

impl TrustAnchors {
    /// Trusts `roots` (CA certificates) and honours `crls`. Every CRL must be issued by one of
    /// the roots and carry that root's signature (checked here, so a forged or damaged CRL is
    /// refused when it is loaded, not only when a certificate of its CA is checked); a root
    /// without a CRL gets no certificate accepted (fail closed).
    pub fn new(roots: Vec<CertificateDer<'static>>, crls: Vec<CertificateRevocationListDer<'static>>) -> Result<Self, PkiError> {
        let mut anchors = Vec::with_capacity(roots.len());
        for root in &roots {
            let (_, cert) = x509_parser::parse_x509_certificate(root)
                .map_err(|e| PkiError::Malformed { what: "CA certificate", reason: e.to_string() })?;
            if !cert.is_ca() {
                return Err(PkiError::Malformed { what: "CA certificate", reason: format!("{} is not a CA certificate", cert.subject()) });
            }
            let anchor = webpki::anchor_from_trusted_cert(root)
                .map_err(|e| PkiError::Malformed { what: "CA certificate", reason: format!("{e:?}") })?;
            anchors.push(anchor.to_owned());
        }
        if anchors.is_empty() {
            return Err(PkiError::Malformed { what: "trust anchors", reason: "no CA certificate".into() });
        }
        // CRLs are matched to their CA by name: two CAs of one name would make that ambiguous.
        for (i, a) in anchors.iter().enumerate() {
            if anchors[..i].iter().any(|b| b.subject.as_ref() == a.subject.as_ref()) {
                return Err(PkiError::Malformed { what: "trust anchors", reason: "two trusted CAs have the same name".into() });
            }
        }
        let mut parsed_crls = Vec::with_capacity(crls.len());
        let mut crl_times = Vec::with_capacity(crls.len());
        for crl in &crls {
            let parsed = CertRevocationList::from(
                OwnedCertRevocationList::from_der(crl).map_err(|e| PkiError::Malformed { what: "CRL", reason: format!("{e:?}") })?,
            );
            let issuer = anchors
                .iter()
                .position(|a| a.subject.as_ref() == parsed.issuer())
                .ok_or_else(|| PkiError::Malformed { what: "CRL", reason: "not issued by any of the trusted CAs".into() })?;
            crl_times.push(check_crl_signature(crl, &roots[issuer])?);
            parsed_crls.push(parsed);
        }
        Ok(Self { roots, anchors, crls, parsed_crls: std::sync::Arc::new(parsed_crls), crl_times, check_revocation: true })
    }

    /// The same CAs with `crls` in place of the loaded CRLs: what a CRL reload builds. Refused
    /// (and `self` stays as it is) when a CRL does not parse, is not signed by its CA, or is
    /// older than the CRL of the same CA in use now (a rollback that could un-revoke).
    pub fn with_crls(&self, crls: Vec<CertificateRevocationListDer<'static>>) -> Result<Self, PkiError> {
        let mut next = Self::new(self.roots.clone(), crls)?;
        for (crl, times) in next.parsed_crls.iter().zip(&next.crl_times) {
            let current = self.parsed_crls.iter().zip(&self.crl_times).find(|(c, _)| c.issuer() == crl.issuer());
            if let Some((_, now)) = current
                && times.this_update < now.this_update
            {
                return Err(PkiError::CrlRollback { current: now.this_update, offered: times.this_update });
            }
        }
        next.check_revocation = self.check_revocation;
        Ok(next)
    }

    /// thisUpdate and nextUpdate of each loaded CRL.
    pub fn crl_times(&self) -> &[CrlTimes] {
        &self.crl_times
    }

    /// Loads CA certificates (PEM files, each may hold several) and CRLs (PEM files).
    pub fn from_pem_files(roots: &[PathBuf], crls: &[PathBuf]) -> Result<Self, PkiError> {
        let mut root_ders = Vec::new();
        for path in roots {
            let before = root_ders.len();
            for cert in CertificateDer::pem_file_iter(path).map_err(|e| read_err(path, e))? {
                root_ders.push(cert.map_err(|e| read_err(path, e))?);
            }
            if root_ders.len() == before {
                return Err(PkiError::Read { path: path.clone(), reason: "no certificate in the file".into() });
            }
        }
        let mut crl_ders = Vec::new();
        for path in crls {
            let before = crl_ders.len();
            for crl in CertificateRevocationListDer::pem_file_iter(path).map_err(|e| read_err(path, e))? {
                crl_ders.push(crl.map_err(|e| read_err(path, e))?);
            }
            if crl_ders.len() == before {
                return Err(PkiError::Read { path: path.clone(), reason: "no CRL in the file".into() });
            }
        }
        Self::new(root_ders, crl_ders)
    }

    /// The CA certificate and CRL of a CA directory (`ca.crt.pem`, `crl.pem`).
    pub fn from_ca_dir(dir: &Path) -> Result<Self, PkiError> {
        Self::from_pem_files(&[dir.join(CA_CERT_FILE)], &[dir.join(CRL_FILE)])
    }

    /// The same anchors with revocation checking switched off, for tools that only explain
    /// certificates. Logged, because no role should run this way.
    pub fn without_revocation(mut self) -> Self {
        tracing::warn!("certificate revocation is not checked");
        self.check_revocation = false;
        self
    }

    /// The trusted CA certificates.
    pub fn roots(&self) -> &[CertificateDer<'static>] {
        &self.roots
    }

    /// The loaded CRLs.
    pub fn crls(&self) -> &[CertificateRevocationListDer<'static>] {
        &self.crls
    }

    /// Whether revocation is checked.
    pub fn checks_revocation(&self) -> bool {
        self.check_revocation
    }

    /// The roots as a rustls root store.
    pub fn root_store(&self) -> rustls::RootCertStore {
        rustls::RootCertStore { roots: self.anchors.clone() }
    }

    /// Which certificate of `chain` a loaded CRL lists, if any.
    fn revoked_serial(&self, chain: &[CertificateDer<'_>]) -> Option<Serial> {
        chain.iter().find_map(|der| {
            let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
            let serial = cert.raw_serial();
            self.parsed_crls.iter().any(|crl| matches!(crl.find_serial(serial), Ok(Some(_)))).then(|| Serial::from_be_bytes(serial))
        })
    }
}

/// Checks that `crl` is signed by the key of `issuer` (a trusted root) and reads its times.
fn check_crl_signature(crl: &[u8], issuer: &CertificateDer<'_>) -> Result<CrlTimes, PkiError> {
    let (_, parsed) = x509_parser::revocation_list::CertificateRevocationList::from_der(crl)
        .map_err(|e| PkiError::Malformed { what: "CRL", reason: e.to_string() })?;
    let (_, ca) =
        x509_parser::parse_x509_certificate(issuer).map_err(|e| PkiError::Malformed { what: "CA certificate", reason: e.to_string() })?;
    parsed.verify_signature(ca.public_key()).map_err(|_| PkiError::CrlSignature)?;
    let to_system =
        |t: x509_parser::time::ASN1Time| SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(t.timestamp()).unwrap_or(0));
    Ok(CrlTimes { this_update: to_system(parsed.last_update()), next_update: parsed.next_update().map(to_system) })
}

fn read_err(path: &Path, e: impl std::fmt::Display) -> PkiError {
    PkiError::Read { path: path.to_owned(), reason: e.to_string() }
}

/// Validates `chain` (end-entity certificate first, then any intermediates) at `now` for
/// `purpose`, and returns who it identifies. See the module documentation for every check.
///
/// `now` is the time at which the certificate must be valid: the current time for a
/// connection, and for evidence or a command the time the verifier accepts as its signing
/// time. A certificate on a loaded CRL is refused whatever `now` is, and the CRL itself must not
/// have expired at `now`.
pub fn validate(anchors: &TrustAnchors, chain: &[CertificateDer<'_>], now: SystemTime, purpose: Purpose) -> Result<PeerIdentity, PkiError> {
    let (end_entity, intermediates) = chain.split_first().ok_or(PkiError::NoCertificate)?;
    verify_path(anchors, end_entity, intermediates, now, purpose)?;
    let identity = peer_identity_of(end_entity)?;
    tracing::debug!(peer = %identity, purpose = purpose.as_str(), "certificate validated");
    Ok(identity)
}

/// The path, time, EKU and revocation checks of [`validate`], without reading the identity.
pub(crate) fn verify_path(
    anchors: &TrustAnchors,
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    now: SystemTime,
    purpose: Purpose,
) -> Result<(), PkiError> {
    let cert = EndEntityCert::try_from(end_entity).map_err(|e| PkiError::Malformed { what: "certificate", reason: format!("{e:?}") })?;
    let time = UnixTime::since_unix_epoch(now.duration_since(SystemTime::UNIX_EPOCH).unwrap_or(Duration::ZERO));
    let crl_refs: Vec<&CertRevocationList<'_>> = anchors.parsed_crls.iter().collect();
    let revocation = if anchors.check_revocation {
        match RevocationOptionsBuilder::new(&crl_refs) {
            Ok(builder) => Some(
                builder
                    .with_depth(RevocationCheckDepth::Chain)
                    .with_status_policy(UnknownStatusPolicy::Deny)
                    .with_expiration_policy(ExpirationPolicy::Enforce)
                    .build(),
            ),
            // No CRL at all: nothing can be shown not revoked.
            Err(_) => return Err(PkiError::RevocationUnknown),
        }
    } else {
        None
    };
    cert.verify_for_usage(
        &[webpki::ring::ECDSA_P256_SHA256],
        &anchors.anchors,
        intermediates,
        time,
        KeyUsage::required(purpose.eku()),
        revocation,
        None,
    )
    .map(|_| ())
    .map_err(|e| {
        let mut chain = vec![end_entity.clone()];
        chain.extend(intermediates.iter().cloned());
        map_webpki_error(e, anchors, &chain, purpose)
    })
}

/// Turns webpki's reason into our typed refusal.
pub(crate) fn map_webpki_error(e: webpki::Error, anchors: &TrustAnchors, chain: &[CertificateDer<'_>], purpose: Purpose) -> PkiError {
    use webpki::Error as E;
    #[allow(deprecated)] // webpki still returns the old variant in some paths
    if matches!(e, E::RequiredEkuNotFound) {
        return PkiError::WrongPurpose { purpose: purpose.as_str(), reason: "the extended key usage does not include it".into() };
    }
    let to_system = |t: UnixTime| SystemTime::UNIX_EPOCH + Duration::from_secs(t.as_secs());
    match e {
        E::CertRevoked => match anchors.revoked_serial(chain) {
            Some(serial) => PkiError::Revoked { serial },
            None => PkiError::Invalid("revoked".into()),
        },
        E::CertExpired { not_after, .. } => PkiError::Expired { not_after: Some(to_system(not_after)) },
        E::CertNotValidYet { not_before, .. } => PkiError::NotYetValid { not_before: Some(to_system(not_before)) },
        E::UnknownIssuer | E::InvalidSignatureForPublicKey => PkiError::UnknownIssuer,
        E::RequiredEkuNotFoundContext(_) | E::EmptyEkuExtension => {
            PkiError::WrongPurpose { purpose: purpose.as_str(), reason: "the extended key usage does not include it".into() }
        }
        E::UnknownRevocationStatus => PkiError::RevocationUnknown,
        E::CrlExpired { .. } => PkiError::CrlExpired,
        other => PkiError::Invalid(format!("{other:?}")),
    }
}
