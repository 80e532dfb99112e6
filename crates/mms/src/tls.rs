//! MMS over TLS as IEC 62351-4 asks, with the TLS profile of IEC 62351-3 (Ed. 2), on rustls.
//!
//! What the profile asks and what this module does:
//! - **Port**: MMS over TLS listens on [`IEC62351_MMS_TLS_PORT`] (3782), not 102.
//! - **Versions**: TLS 1.2 must be supported, TLS 1.3 may be: both are offered, 1.3 preferred.
//! - **Cipher suites**: only ECDHE key exchange with AES-GCM: TLS 1.2
//!   `TLS_ECDHE_{ECDSA,RSA}_WITH_AES_{128,256}_GCM_SHA{256,384}` (the 62351-3 Ed. 2 mandatory
//!   `TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256` among them) and TLS 1.3 `TLS_AES_{128,256}_GCM_*`.
//!   ChaCha20 and everything without forward secrecy are left out.
//! - **Mutual authentication**: the client always presents its X.509 certificate; its key may be
//!   an HSM key ([`gridtrust_keys::KeyConfig`], signed through [`gridtrust_pki::TlsSigningKey`]).
//!   The IED's certificate is validated against the configured CA (chain, validity, serverAuth,
//!   the name dialled) and its CRL; revocation fails closed (an expired CRL refuses every peer).
//! - **Session resumption**: rustls's client session cache (TLS 1.2 session ids and tickets,
//!   TLS 1.3 PSK tickets), used transparently on reconnects to the same server name.
//!
//! What rustls does **not** do of the standard, said plainly:
//! - **TLS 1.2 renegotiation** (62351-3's session key renewal for long-lived TLS 1.2
//!   connections) is not supported: rustls answers a server's HelloRequest with a
//!   `no_renegotiation` warning and never renegotiates. With TLS 1.3 the equivalent, KeyUpdate,
//!   is handled in both directions (rustls also updates its keys on its own before the AEAD
//!   limits). An IED that insists on TLS 1.2 renegotiation will have to drop and re-establish
//!   the connection, which the edge adapter does with its reconnect loop.
//! - **OCSP** and certificate-change notifications (62351-3 §5.6) are not implemented. The CRL
//!   file is re-read every `crl_check_interval_ms` while the configuration is in use, and each new
//!   handshake uses the newest CRL that verified ([`gridtrust_pki::watched_anchors`]); an
//!   association already open when its IED is revoked runs on until it is re-established.
//! - The ACSE authentication of IEC 62351-4 (the "A-profile" certificate in the AARQ) is not
//!   sent: only the transport profile (T-profile) is here.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use gridtrust_keys::KeyConfig;
use gridtrust_pki::{CrlWatchConfig, LiveAnchors, PeerCertificate, PkiError, TlsSigningKey};
use rustls::crypto::ring::cipher_suite as suite;
use rustls::pki_types::{CertificateDer, ServerName};
use serde::Deserialize;

/// The TCP port of MMS over TLS (IEC 62351-4; plain MMS stays on 102).
pub const IEC62351_MMS_TLS_PORT: u16 = 3782;

/// The cipher suites of the profile, strongest first.
const SUITES: [rustls::SupportedCipherSuite; 6] = [
    suite::TLS13_AES_256_GCM_SHA384,
    suite::TLS13_AES_128_GCM_SHA256,
    suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
];

/// Why a TLS configuration could not be built; `key` names the configuration key at fault.
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    /// A certificate, CRL or the CA could not be loaded or does not fit.
    #[error("{key}: {source}")]
    Pki { key: &'static str, source: PkiError },
    /// The private key could not be opened (file missing, HSM not reachable, wrong PIN...).
    #[error("key: {0}")]
    Key(#[from] gridtrust_keys::KeyError),
    /// The key is not one rustls can use or does not belong to the certificate.
    #[error("{key}: {reason}")]
    Mismatch { key: &'static str, reason: String },
    /// `server_name` is neither a DNS name nor an IP address.
    #[error("server_name: `{0}` is neither a DNS name nor an IP address")]
    ServerName(String),
}

impl TlsConfigError {
    /// The configuration key at fault, relative to the `tls` table.
    pub fn key(&self) -> &'static str {
        match self {
            TlsConfigError::Pki { key, .. } | TlsConfigError::Mismatch { key, .. } => key,
            TlsConfigError::Key(_) => "key",
            TlsConfigError::ServerName(_) => "server_name",
        }
    }
}

/// The `[ied.tls]` table: MMS over TLS to this IED. The keys are those of a role's
/// `[identity]` table (so the key can live in the HSM), plus the name to verify.
///
/// ```toml
/// [ied.tls]
/// ca = "pki/substation-ca.crt.pem"   # the CA that issued the IED's certificate
/// crl = "pki/substation-ca.crl.pem"  # required: no CRL, no way to tell a revoked IED
/// certificate = "pki/edge-1.crt.pem" # this edge's client certificate chain, leaf first
/// key = { kind = "pkcs11", module = "/usr/lib/softhsm/libsofthsm2.so", token_label = "edge-1",
///         key_label = "edge-1", pin_env = "GRIDTRUST_PIN" }
/// server_name = "ied1.substation"    # default: the host of the IED's address
/// crl_check_interval_ms = 5000       # how often the CRL is re-read (default 5 s)
/// ```
///
/// The same table configures IEC 104 over TLS to an RTU (`[rtu.tls]`): both follow the
/// IEC 62351-3 profile, so the edge has one southbound TLS client configuration.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IedTlsConfig {
    /// The CA certificate(s) (PEM) the IED's certificate must chain to.
    pub ca: PathBuf,
    /// The CA's CRL (PEM). Required, as IEC 62351-3 requires revocation checks.
    pub crl: PathBuf,
    /// The client certificate chain (PEM, leaf first) presented to the IED.
    pub certificate: PathBuf,
    /// Where the client certificate's private key lives (HSM or development key file).
    pub key: KeyConfig,
    /// The DNS name or IP address the IED's certificate must carry; default: the address's host.
    #[serde(default)]
    pub server_name: Option<String>,
    /// How often the CRL file is read again, in milliseconds.
    #[serde(default = "default_crl_check_interval_ms")]
    pub crl_check_interval_ms: u64,
}

fn default_crl_check_interval_ms() -> u64 {
    CrlWatchConfig::default().interval.as_millis().try_into().unwrap_or(u64::MAX)
}

impl IedTlsConfig {
    /// Makes the file paths relative to `base` (the configuration file's folder).
    pub fn resolve(&mut self, base: &Path) {
        gridtrust_config::resolve(base, &mut self.ca);
        gridtrust_config::resolve(base, &mut self.crl);
        gridtrust_config::resolve(base, &mut self.certificate);
        self.key = self.key.resolved(base);
    }

    /// A table with the default CRL watch.
    pub fn new(ca: PathBuf, crl: PathBuf, certificate: PathBuf, key: KeyConfig, server_name: Option<String>) -> Self {
        Self { ca, crl, certificate, key, server_name, crl_check_interval_ms: default_crl_check_interval_ms() }
    }

    /// Loads CA, CRL, certificate and key (opening the HSM) and builds the client configuration.
    /// The CRL is reloaded while the configuration is in use (when built in a tokio runtime).
    pub fn client_config(&self) -> Result<Arc<rustls::ClientConfig>, TlsConfigError> {
        let watch = CrlWatchConfig { interval: Duration::from_millis(self.crl_check_interval_ms.max(1)), ..CrlWatchConfig::default() };
        let who = format!("TLS client for {}", self.server_name.as_deref().unwrap_or("a field device"));
        let anchors = gridtrust_pki::watched_anchors(&self.ca, &self.crl, watch, &who).map_err(|source| {
            let crl = match &source {
                PkiError::Read { path, .. } => *path == self.crl,
                PkiError::Malformed { what, .. } => *what == "CRL",
                _ => false,
            };
            TlsConfigError::Pki { key: if crl { "crl" } else { "ca" }, source }
        })?;
        let chain = gridtrust_pki::load_chain(&self.certificate).map_err(|source| TlsConfigError::Pki { key: "certificate", source })?;
        let signer = gridtrust_keys::open(&self.key, Path::new(""))?;
        let key = TlsSigningKey::new(signer).map_err(|e| TlsConfigError::Mismatch { key: "key", reason: e.to_string() })?;
        client_config(&anchors, chain, Arc::new(key))
    }

    /// The name to verify the IED's certificate against: `server_name`, or the host of `endpoint`.
    pub fn server_name(&self, endpoint: &str) -> Result<ServerName<'static>, TlsConfigError> {
        let host = match &self.server_name {
            Some(name) => name.as_str(),
            None => endpoint.rsplit_once(':').map_or(endpoint, |(host, _)| host).trim_start_matches('[').trim_end_matches(']'),
        };
        ServerName::try_from(host.to_owned()).map_err(|_| TlsConfigError::ServerName(host.to_owned()))
    }
}

/// The IEC 62351-3 client configuration: TLS 1.3 and 1.2, ECDHE + AES-GCM, `chain` presented
/// with `key` (which may sign in an HSM), the server checked at each handshake against the
/// anchors and CRLs in use then.
///
/// Unlike the hops between gridtrust roles, the IED's certificate is not required to be a
/// gridtrust identity: IEDs carry certificates of the substation PKI, which only needs to chain
/// to the configured CA, allow serverAuth, carry the dialled name and not be revoked.
pub fn client_config(
    anchors: &LiveAnchors,
    chain: Vec<CertificateDer<'static>>,
    key: Arc<dyn rustls::sign::SigningKey>,
) -> Result<Arc<rustls::ClientConfig>, TlsConfigError> {
    let provider = Arc::new(rustls::crypto::CryptoProvider { cipher_suites: SUITES.to_vec(), ..rustls::crypto::ring::default_provider() });
    let verifier = gridtrust_pki::live_server_verifier(anchors, provider.clone(), PeerCertificate::Any)
        .map_err(|e| TlsConfigError::Mismatch { key: "crl", reason: e.to_string() })?;
    let certified = rustls::sign::CertifiedKey::new(chain, key);
    certified
        .keys_match()
        .map_err(|e| TlsConfigError::Mismatch { key: "key", reason: format!("does not belong to the certificate: {e}") })?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsConfigError::Mismatch { key: "certificate", reason: e.to_string() })?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(certified)));
    Ok(Arc::new(config))
}

/// What a TLS association negotiated, for logs and for checking the profile in tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSession {
    /// `TLSv1_2` or `TLSv1_3`.
    pub version: String,
    /// The IANA name of the cipher suite.
    pub cipher_suite: String,
    /// Whether the handshake resumed an earlier session (no full certificate exchange).
    pub resumed: bool,
}

impl TlsSession {
    pub(crate) fn of(connection: &rustls::ClientConnection) -> TlsSession {
        let name = |v: Option<&str>| v.unwrap_or("unknown").to_owned();
        TlsSession {
            version: name(connection.protocol_version().and_then(|v| v.as_str())),
            cipher_suite: name(connection.negotiated_cipher_suite().and_then(|s| s.suite().as_str())),
            resumed: matches!(connection.handshake_kind(), Some(rustls::HandshakeKind::Resumed)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(server_name: Option<&str>) -> IedTlsConfig {
        IedTlsConfig::new(
            "ca".into(),
            "crl".into(),
            "crt".into(),
            KeyConfig::Software { path: "key".into() },
            server_name.map(str::to_owned),
        )
    }

    #[test]
    fn server_name_defaults_to_the_host_of_the_address() {
        let name = |c: &IedTlsConfig, endpoint| c.server_name(endpoint).map(|n| n.to_str().into_owned());
        assert_eq!(name(&config(None), "ied1.substation:3782").unwrap(), "ied1.substation");
        assert_eq!(name(&config(None), "10.0.0.5:3782").unwrap(), "10.0.0.5");
        assert_eq!(name(&config(None), "[::1]:3782").unwrap(), "::1");
        assert_eq!(name(&config(Some("ied-1")), "10.0.0.5:3782").unwrap(), "ied-1");
        assert!(matches!(name(&config(Some("bad name")), "10.0.0.5:3782"), Err(TlsConfigError::ServerName(_))));
    }
}
