//! The one error type of the crate.

use std::path::PathBuf;
use std::time::SystemTime;

use crate::identity::{IdentityKind, Serial};
use crate::role::{Role, RoleExtensionError};

/// Why a PKI operation failed or a certificate was refused.
///
/// Refusals of a peer's certificate have their own variants ([`PkiError::Revoked`],
/// [`PkiError::Expired`], [`PkiError::UnknownIssuer`], ...) so callers and tests can tell a
/// revoked peer from a misconfigured one without matching on text.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// A file could not be read or parsed.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `init` was pointed at a directory that already holds a CA.
    #[error("{path} already holds a CA; refusing to overwrite it")]
    AlreadyExists {
        /// The existing CA certificate.
        path: PathBuf,
    },
    /// Another process holds the CA directory's lock.
    #[error("the CA at {dir} is in use (lock file {lock} exists; remove it if no other `pki` command is running)")]
    Locked {
        /// The CA directory.
        dir: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
    /// The key given for the CA is not the key of the CA certificate.
    #[error("the CA key ({key}) does not belong to the CA certificate {path}")]
    KeyMismatch {
        /// The CA certificate.
        path: PathBuf,
        /// A description of the key.
        key: String,
    },
    /// A PEM or DER input that is not what it should be.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// What was being parsed.
        what: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// A public key that is not an uncompressed P-256 point.
    #[error("public key is not an uncompressed P-256 point (SEC1, 65 bytes) or its SubjectPublicKeyInfo")]
    PublicKey,
    /// An identity name that gridtrust cannot carry in a certificate.
    #[error("invalid identity name {name:?}: {reason}")]
    InvalidName {
        /// The name.
        name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// An extra subject alternative name that is neither an IP address nor a DNS name.
    #[error("invalid subject alternative name {0:?} (expected a DNS name or an IP address)")]
    InvalidSan(String),
    /// A certificate was requested without any role.
    #[error("an identity needs at least one IEC 62351-8 role")]
    NoRoles,
    /// A validity period of zero or one that does not fit the calendar.
    #[error("invalid validity period: {0}")]
    Validity(String),
    /// No issued certificate matches the serial or name given.
    #[error("no certificate {0} in this CA's index")]
    NotFound(String),
    /// A name matches several live certificates of different kinds.
    #[error("{0} names certificates of several kinds; use the serial")]
    Ambiguous(String),
    /// The certificate is already revoked.
    #[error("certificate {0} is already revoked")]
    AlreadyRevoked(Serial),
    /// The CA's signing key refused or failed (HSM errors end here).
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    /// The certificate's role extension did not decode.
    #[error(transparent)]
    RoleExtension(#[from] RoleExtensionError),

    /// The peer presented no certificate.
    #[error("no certificate presented")]
    NoCertificate,
    /// The chain does not lead to a trusted CA (wrong CA, or a bad signature).
    #[error("certificate is not issued by a trusted CA")]
    UnknownIssuer,
    /// The certificate's validity has ended.
    #[error("certificate expired at {not_after:?}")]
    Expired {
        /// When it expired (when known).
        not_after: Option<SystemTime>,
    },
    /// The certificate's validity has not begun.
    #[error("certificate is not valid before {not_before:?}")]
    NotYetValid {
        /// When it becomes valid (when known).
        not_before: Option<SystemTime>,
    },
    /// The certificate is on the issuing CA's CRL.
    #[error("certificate {serial} is revoked")]
    Revoked {
        /// The revoked certificate's serial.
        serial: Serial,
    },
    /// No CRL of the issuing CA is loaded, so revocation cannot be checked; refused.
    #[error("no CRL from the issuing CA is loaded; revocation status unknown")]
    RevocationUnknown,
    /// The CRL is past its nextUpdate; refused until a fresh CRL is loaded.
    #[error("the CRL has expired (past its nextUpdate); load a fresh CRL")]
    CrlExpired,
    /// A CRL whose signature does not verify with the key of the CA it names as issuer.
    #[error("the CRL's signature does not verify against its CA's key")]
    CrlSignature,
    /// A CRL older than the one in use was offered: loading it could un-revoke certificates.
    #[error("the CRL was issued at {offered:?}, before the one in use ({current:?}); refused as a rollback")]
    CrlRollback {
        /// thisUpdate of the CRL in use.
        current: SystemTime,
        /// thisUpdate of the CRL offered.
        offered: SystemTime,
    },
    /// The certificate's key usage or extended key usage does not allow this purpose.
    #[error("certificate is not valid for {purpose}: {reason}")]
    WrongPurpose {
        /// The purpose asked for.
        purpose: &'static str,
        /// What is missing.
        reason: String,
    },
    /// The certificate chains to the CA but is not a gridtrust identity certificate.
    #[error("not a gridtrust identity certificate: {0}")]
    NotAnIdentity(String),
    /// Any other certificate-path refusal, with webpki's reason.
    #[error("certificate refused: {0}")]
    Invalid(String),
    /// A TLS configuration could not be built.
    #[error("TLS configuration failed: {0}")]
    Tls(String),
}

/// Why an authenticated peer is not allowed to do what it asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The peer is the wrong kind of identity (an operator where an edge must connect, ...).
    #[error("{name} is a {found} identity; only {allowed:?} may do this")]
    Kind {
        /// The peer's name.
        name: String,
        /// The peer's kind.
        found: IdentityKind,
        /// The kinds allowed.
        allowed: Vec<IdentityKind>,
    },
    /// The peer holds none of the roles that may do this.
    #[error("{name} holds roles {found:?}; one of {required:?} is required")]
    Role {
        /// The peer's name.
        name: String,
        /// The peer's roles.
        found: Vec<Role>,
        /// The roles that would be allowed.
        required: Vec<Role>,
    },
}
