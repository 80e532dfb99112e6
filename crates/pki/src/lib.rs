//! The operator PKI of gridtrust: who may connect, and as whom.
//!
//! An operator CA ([`Ca`]) certifies every edge, hub, control-centre connector and operator
//! with an X.509 certificate that carries its kind and name ([`IdentityKind`], a
//! `urn:gridtrust:` SAN) and its IEC 62351-8 roles ([`Role`], in the standard's role
//! extension, [`role`]). Certificates are renewed, revoked and published in a CRL that every
//! role loads ([`TrustAnchors`]) and honours: in [`validate()`], which every role runs on every
//! peer certificate, and in the mutual-TLS configurations ([`server_config`],
//! [`client_config`]: TLS 1.3, client certificate required). After a handshake,
//! [`peer_identity`] says who the peer is and [`authorize`] whether it may do what it asks.
//!
//! Keys may live in an HSM: subjects are certified from a public key alone ([`PublicKey`]),
//! the CA signs through any [`rcgen::SigningKey`] ([`SignerKey`] adapts a
//! [`gridtrust_trust::signing::Signer`]), and TLS signs through [`TlsSigningKey`]. Software
//! keys in PEM files exist for development only ([`DevPki`], the `pki` CLI until a key store
//! exists) and say so in the log.
//!
//! [`show()`] explains a certificate or CRL in these terms.
//!
//! Deliberately not here: key storage (HSM, software key store), OCSP, intermediate CAs
//! (the CA's path length is 0), certificate requests (CSRs: the CA certifies public keys the
//! operator hands it), and per-point authorisation policy (the hub's).

#![warn(missing_docs)]

pub mod authority;
pub mod ca;
mod dev;
mod error;
pub mod identity;
mod keys;
mod live;
pub mod role;
mod show;
mod tls;
mod validate;

pub use authority::{REGISTRY_ROLES, RegistryRefusal, verify_registry};
pub use ca::{Ca, CertRef, IndexEntry, IssueRequest, Issued, RevocationReason, RevocationRecord};
pub use dev::{DEV_CA_NAME, DEV_VALIDITY, DevPki, IdentityFiles};
pub use error::{PkiError, Refusal};
pub use identity::{CommandIssuer, IdentityKind, IssuerError, PeerIdentity, Serial, authorize, check_command_issuer, check_result_signer};
pub use keys::{PublicKey, SignerKey, SoftwareKey, TlsSigningKey, generate_software_key, load_software_ca_key, load_software_tls_key};
pub use live::{CrlEvent, CrlWatch, CrlWatchConfig, LiveAnchors, log_crl_event, watched_anchors};
pub use role::{Role, UserRoles};
pub use show::{show, show_at};
pub use tls::{
    ClientAdmission, PeerCertificate, client_config, https_server_config, https_server_config_from_files, live_server_verifier, load_chain,
    peer_identity, server_config, server_config_admitting,
};
pub use validate::{CrlTimes, Purpose, TrustAnchors, validate};
