//! Mutual-TLS configurations for every hop (IEC 62351-3 profile): TLS 1.3 only, the ring
//! provider, a client certificate required, peers checked against the operator CA and its CRL
//! on both sides, and the peer's gridtrust identity (kind, name, roles) checked during the
//! handshake, so a certificate that is not an identity never gets a connection.
//!
//! What the peer may *do* is decided after the handshake: read [`peer_identity`] from the
//! connection and pass it to [`crate::authorize`]. A server whose clients are all of one sort
//! (the cc's IEC 104 server: SCADA front-ends) can refuse every other kind or role during the
//! handshake already ([`server_config_admitting`]), so they never get a connection at all.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, OtherError, SignatureScheme};

use crate::error::PkiError;
use crate::identity::{IdentityKind, PeerIdentity, authorize, peer_identity_of};
use crate::live::LiveAnchors;
use crate::role::Role;
use crate::validate::{Purpose, TrustAnchors, validate};

/// Loads a certificate chain (PEM, end-entity first).
pub fn load_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    let read_err = |e: &dyn std::fmt::Display| PkiError::Read { path: path.to_owned(), reason: e.to_string() };
    let chain: Vec<_> =
        CertificateDer::pem_file_iter(path).map_err(|e| read_err(&e))?.collect::<Result<_, _>>().map_err(|e| read_err(&e))?;
    if chain.is_empty() {
        return Err(PkiError::Read { path: path.to_owned(), reason: "no certificate in the file".into() });
    }
    Ok(chain)
}

/// A TLS 1.3 server configuration presenting `chain` (signed with `key`, which may be an
/// HSM key through [`crate::TlsSigningKey`]) and requiring a client certificate that
/// validates against `anchors` (chain, time, clientAuth, CRL) and is a gridtrust identity.
/// The verifier reads `anchors` on every handshake, so a reloaded CRL applies to the next one.
///
/// Our own certificate is validated too (serverAuth, now), so an expired, revoked or
/// foreign certificate is a configuration error at start rather than a handshake failure later.
pub fn server_config(
    anchors: &LiveAnchors,
    chain: Vec<CertificateDer<'static>>,
    key: Arc<dyn rustls::sign::SigningKey>,
) -> Result<Arc<rustls::ServerConfig>, PkiError> {
    build_server_config(anchors, chain, key, None)
}

/// Which clients a server admits during the handshake: the client certificate must be of one
/// of `kinds` and hold one of `roles` ([`authorize`]). Anything else is refused with the TLS
/// alert `access_denied` and never reaches the application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientAdmission {
    /// Certificate kinds admitted.
    pub kinds: Vec<IdentityKind>,
    /// Roles of which the client must hold at least one.
    pub roles: Vec<Role>,
}

/// [`server_config`] that also refuses, during the handshake, every client whose certificate
/// `admission` does not admit.
pub fn server_config_admitting(
    anchors: &LiveAnchors,
    chain: Vec<CertificateDer<'static>>,
    key: Arc<dyn rustls::sign::SigningKey>,
    admission: ClientAdmission,
) -> Result<Arc<rustls::ServerConfig>, PkiError> {
    build_server_config(anchors, chain, key, Some(admission))
}

fn build_server_config(
    anchors: &LiveAnchors,
    chain: Vec<CertificateDer<'static>>,
    key: Arc<dyn rustls::sign::SigningKey>,
    admission: Option<ClientAdmission>,
) -> Result<Arc<rustls::ServerConfig>, PkiError> {
    let own = validate(&anchors.current(), &chain, SystemTime::now(), Purpose::TlsServer)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let inner = Current::new(anchors, provider.clone(), |anchors, provider| {
        let mut builder = WebPkiClientVerifier::builder_with_provider(Arc::new(anchors.root_store()), provider.clone());
        if anchors.checks_revocation() {
            builder = builder.with_crls(anchors.crls().to_vec()).enforce_revocation_expiration();
        }
        builder.build().map_err(|e| PkiError::Tls(e.to_string()))
    })?;
    let hints = inner.get().map_err(|e| PkiError::Tls(e.to_string()))?.root_hint_subjects().to_vec();
    let certified = certified_key(chain, key)?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| PkiError::Tls(e.to_string()))?
        .with_client_cert_verifier(Arc::new(IdentityClientVerifier { inner, hints, admission }))
        .with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(certified)));
    // No resumption: a resumed session skips the client certificate check, so a client revoked
    // since its first handshake would get through it. Every handshake is a full one.
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    tracing::info!(identity = %own, "TLS server configuration ready");
    Ok(Arc::new(config))
}

/// A TLS server configuration for people's browsers (the hub's web UI and API): presents
/// `chain` signed with `key`, asks for no client certificate (people log in with a password),
/// TLS 1.3 and 1.2 (ring provider) and ALPN `http/1.1`. The chain is not checked against the
/// operator CA here: it may come from the hub's identity (checked by the caller) or from a
/// certificate file a public CA issued.
pub fn https_server_config(
    chain: Vec<CertificateDer<'static>>,
    key: Arc<dyn rustls::sign::SigningKey>,
) -> Result<Arc<rustls::ServerConfig>, PkiError> {
    let certified = certified_key(chain, key)?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| PkiError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(certified)));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// [`https_server_config`] from a PEM certificate chain file and a PEM private key file
/// (PKCS#8, SEC1 or PKCS#1; ECDSA, Ed25519 or RSA).
pub fn https_server_config_from_files(certificate: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, PkiError> {
    let chain = load_chain(certificate)?;
    let der =
        rustls::pki_types::PrivateKeyDer::from_pem_file(key).map_err(|e| PkiError::Read { path: key.to_owned(), reason: e.to_string() })?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&der)
        .map_err(|e| PkiError::Read { path: key.to_owned(), reason: format!("not a usable private key: {e}") })?;
    https_server_config(chain, signing)
}

/// A TLS 1.3 client configuration presenting `chain` (signed with `key`) and accepting only a
/// server certificate that validates against `anchors` (chain, time, serverAuth, CRL, the name
/// dialled) and is a gridtrust identity. Our own certificate is validated (clientAuth, now).
/// Like [`server_config`], every handshake uses the anchors in use at that moment.
pub fn client_config(
    anchors: &LiveAnchors,
    chain: Vec<CertificateDer<'static>>,
    key: Arc<dyn rustls::sign::SigningKey>,
) -> Result<Arc<rustls::ClientConfig>, PkiError> {
    let own = validate(&anchors.current(), &chain, SystemTime::now(), Purpose::TlsClient)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = live_server_verifier(anchors, provider.clone(), PeerCertificate::Identity)?;
    let certified = certified_key(chain, key)?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| PkiError::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(certified)));
    tracing::info!(identity = %own, "TLS client configuration ready");
    Ok(Arc::new(config))
}

/// What a server's certificate must be beyond a valid serverAuth path to the anchors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerCertificate {
    /// A gridtrust identity (the hops between roles).
    Identity,
    /// Any certificate of the configured CA carrying the dialled name (field devices, brokers:
    /// their certificates come from a substation or broker PKI).
    Any,
}

/// A server-certificate verifier for clients outside the role hops (MMS, IEC 104 and MQTT
/// over TLS): webpki's checks (path, time, serverAuth, the dialled name, CRL with expiration
/// enforced) against the anchors in use at each handshake, so a reloaded CRL applies there too.
pub fn live_server_verifier(
    anchors: &LiveAnchors,
    provider: Arc<rustls::crypto::CryptoProvider>,
    peer: PeerCertificate,
) -> Result<Arc<dyn ServerCertVerifier>, PkiError> {
    let inner = Current::new(anchors, provider, |anchors, provider| {
        let mut builder = WebPkiServerVerifier::builder_with_provider(Arc::new(anchors.root_store()), provider.clone());
        if anchors.checks_revocation() {
            builder = builder.with_crls(anchors.crls().to_vec()).enforce_revocation_expiration();
        }
        builder.build().map_err(|e| PkiError::Tls(e.to_string()))
    })?;
    Ok(Arc::new(IdentityServerVerifier { inner, peer }))
}

type Build<V> = fn(&TrustAnchors, &Arc<rustls::crypto::CryptoProvider>) -> Result<Arc<V>, PkiError>;

/// webpki's verifier for the anchors in use now: rebuilt (once) when they were replaced.
/// The CA certificates never change on a reload, only the CRLs, so what is derived from the
/// roots alone (root hints, signature schemes) stays valid.
struct Current<V: ?Sized> {
    anchors: LiveAnchors,
    provider: Arc<rustls::crypto::CryptoProvider>,
    build: Build<V>,
    cache: Mutex<(Arc<TrustAnchors>, Arc<V>)>,
}

impl<V: ?Sized> std::fmt::Debug for Current<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Current").field("anchors", &self.anchors).finish()
    }
}

impl<V: ?Sized> Current<V> {
    fn new(anchors: &LiveAnchors, provider: Arc<rustls::crypto::CryptoProvider>, build: Build<V>) -> Result<Self, PkiError> {
        let now = anchors.current();
        let verifier = build(&now, &provider)?;
        Ok(Self { anchors: anchors.clone(), provider, build, cache: Mutex::new((now, verifier)) })
    }

    fn get(&self) -> Result<Arc<V>, rustls::Error> {
        let now = self.anchors.current();
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if !Arc::ptr_eq(&cache.0, &now) {
            let verifier = (self.build)(&now, &self.provider).map_err(|e| rustls::Error::General(e.to_string()))?;
            *cache = (now, verifier);
        }
        Ok(cache.1.clone())
    }
}

fn certified_key(
    chain: Vec<CertificateDer<'static>>,
    key: Arc<dyn rustls::sign::SigningKey>,
) -> Result<rustls::sign::CertifiedKey, PkiError> {
    let certified = rustls::sign::CertifiedKey::new(chain, key);
    certified.keys_match().map_err(|e| PkiError::Tls(format!("the key does not belong to the certificate: {e}")))?;
    Ok(certified)
}

/// The identity of the peer of an established connection, from the certificates rustls
/// verified (`conn.peer_certificates()`). Only meaningful on a connection made with
/// [`server_config`] or [`client_config`], whose verifiers validated the chain.
pub fn peer_identity(peer_certificates: Option<&[CertificateDer<'_>]>) -> Result<PeerIdentity, PkiError> {
    let end_entity = peer_certificates.and_then(|c| c.first()).ok_or(PkiError::NoCertificate)?;
    peer_identity_of(end_entity)
}

fn identity_error(e: PkiError) -> rustls::Error {
    tracing::warn!(error = %e, "peer certificate is not a gridtrust identity");
    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(e))))
}

/// webpki's client verification, then the gridtrust identity check, then the admission.
#[derive(Debug)]
struct IdentityClientVerifier {
    inner: Current<dyn ClientCertVerifier>,
    hints: Vec<DistinguishedName>,
    admission: Option<ClientAdmission>,
}

impl ClientCertVerifier for IdentityClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self.inner.get()?.verify_client_cert(end_entity, intermediates, now).inspect_err(|e| {
            tracing::warn!(error = %e, "client certificate refused");
        })?;
        let identity = peer_identity_of(end_entity).map_err(identity_error)?;
        if let Some(admission) = &self.admission {
            // authorize logs the refusal with the peer's identity.
            authorize(&identity, &admission.kinds, &admission.roles)
                .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure))?;
        }
        tracing::debug!(peer = %identity, "client certificate accepted");
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.get()?.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.get()?.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// webpki's server verification (including the name dialled), then the identity check when
/// asked for.
#[derive(Debug)]
struct IdentityServerVerifier {
    inner: Current<WebPkiServerVerifier>,
    peer: PeerCertificate,
}

impl ServerCertVerifier for IdentityServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified =
            self.inner.get()?.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now).inspect_err(|e| {
                tracing::warn!(error = %e, server = ?server_name, "server certificate refused");
            })?;
        if self.peer == PeerCertificate::Identity {
            let identity = peer_identity_of(end_entity).map_err(identity_error)?;
            tracing::debug!(peer = %identity, "server certificate accepted");
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.get()?.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.get()?.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.provider.signature_verification_algorithms.supported_schemes()
    }
}
