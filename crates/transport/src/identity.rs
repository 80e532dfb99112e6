//! A role's own identity: its certificate, its key (in the HSM, or a development key file), and
//! the trust anchors (operator CA and CRL) it checks every peer against.
//!
//! One key per role serves the TLS handshake and the evidence it signs, so the certificate that
//! authenticates a connection is the same one that vouches for the data and commands on it.
//!
//! The CRL is reloaded while the role runs ([`Identity::watch_crl`]): every check made through
//! the identity (evidence, commands, TLS handshakes with its configurations) uses the newest
//! CRL that verified, and an open session guarded by [`Identity::guard`] is closed when its
//! peer's certificate stops validating.
//!
//! ```toml
//! [identity]
//! ca = "pki/ca.crt.pem"
//! certificate = "pki/edge-1.crt.pem"
//! crl = "pki/crl.pem"                       # required: without a CRL nothing is provably unrevoked
//! crl_check_interval_ms = 5000               # how often the CRL file is re-read (default 5 s)
//! crl_warn_days = 3                          # alarm this long before the CRL's nextUpdate (default 3)
//! key = { kind = "pkcs11", module = "/usr/lib/softhsm/libsofthsm2.so", token_label = "edge-1",
//!         key_label = "edge-1", pin_env = "GRIDTRUST_PIN" }
//! ```

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use gridtrust_keys::KeyConfig;
use gridtrust_pki::{CrlEvent, CrlWatch, CrlWatchConfig, LiveAnchors, PeerIdentity, Purpose, TrustAnchors, log_crl_event, validate};
use tokio::task::JoinHandle;

use crate::Upstream;
use crate::stream::{ClientStream, Closer, FrameError, Split};
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
    /// How often the CRL file is read again for a new CRL, in milliseconds.
    #[serde(default = "default_crl_check_interval_ms")]
    pub crl_check_interval_ms: u64,
    /// How many days before the CRL's nextUpdate an alarm asks for a new CRL.
    #[serde(default = "default_crl_warn_days")]
    pub crl_warn_days: u64,
}

fn default_crl_check_interval_ms() -> u64 {
    5000
}

fn default_crl_warn_days() -> u64 {
    3
}

impl IdentityConfig {
    /// An `[identity]` table with the default CRL watch.
    pub fn new(ca: PathBuf, certificate: PathBuf, crl: PathBuf, key: KeyConfig) -> Self {
        Self { ca, certificate, crl, key, crl_check_interval_ms: default_crl_check_interval_ms(), crl_warn_days: default_crl_warn_days() }
    }

    /// How the CRL file is watched.
    pub fn crl_watch(&self) -> CrlWatchConfig {
        CrlWatchConfig {
            interval: Duration::from_millis(self.crl_check_interval_ms.max(1)),
            warn_before: Duration::from_secs(self.crl_warn_days.saturating_mul(24 * 3600)),
        }
    }

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
    /// CA and CRL, for TLS and for every certificate carried in evidence; replaced when the
    /// CRL file changes.
    anchors: LiveAnchors,
    /// Watches the CRL file, until [`Identity::watch_crl`] takes it (none: built in memory).
    crl_watch: Mutex<Option<CrlWatch>>,
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
            anchors: LiveAnchors::from(anchors),
            crl_watch: Mutex::new(Some(CrlWatch::new(vec![config.crl.clone()], config.crl_watch()))),
        })
    }

    /// Builds an identity from parts already in memory (tests, the demo); its CRL is not
    /// watched.
    pub fn from_parts(chain: Vec<CertificateDer<'static>>, signer: Arc<dyn Signer>, anchors: TrustAnchors) -> Result<Self, IdentityError> {
        let leaf = chain.first().map(|c| c.to_vec()).unwrap_or_default();
        let me = validate(&anchors, &chain, SystemTime::now(), Purpose::Signing).map_err(IdentityError::OwnCertificate)?;
        Ok(Self {
            certificate_id: gridtrust_trust::signing::certificate_id(&leaf),
            certificate: leaf,
            chain,
            me,
            signer,
            anchors: LiveAnchors::from(anchors),
            crl_watch: Mutex::new(None),
        })
    }

    /// The trust anchors in use now.
    pub fn anchors(&self) -> Arc<TrustAnchors> {
        self.anchors.current()
    }

    /// The reloadable anchors, for TLS configurations built outside this type.
    pub fn live_anchors(&self) -> &LiveAnchors {
        &self.anchors
    }

    /// Checks a peer's certificate (carried in evidence or a command) for signing use now.
    pub fn validate(&self, certificate: &[u8]) -> Result<PeerIdentity, gridtrust_pki::PkiError> {
        validate(&self.anchors.current(), &[CertificateDer::from(certificate.to_vec())], SystemTime::now(), Purpose::Signing)
    }

    /// A TLS 1.3 server configuration: client certificate required, the CRL in use at each
    /// handshake honoured.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, IdentityError> {
        gridtrust_pki::server_config(&self.anchors, self.chain.clone(), self.tls_key()?).map_err(IdentityError::Tls)
    }

    /// [`Identity::server_config`] that admits only clients whose certificate `admission`
    /// admits (kind and roles), refusing the others during the handshake.
    pub fn server_config_admitting(&self, admission: gridtrust_pki::ClientAdmission) -> Result<Arc<rustls::ServerConfig>, IdentityError> {
        gridtrust_pki::server_config_admitting(&self.anchors, self.chain.clone(), self.tls_key()?, admission).map_err(IdentityError::Tls)
    }

    /// An HTTPS server configuration for people's browsers presenting this identity (no client
    /// certificate asked). The certificate must be valid for serverAuth now.
    pub fn https_server_config(&self) -> Result<Arc<rustls::ServerConfig>, IdentityError> {
        validate(&self.anchors.current(), &self.chain, SystemTime::now(), Purpose::TlsServer).map_err(IdentityError::Tls)?;
        gridtrust_pki::https_server_config(self.chain.clone(), self.tls_key()?).map_err(IdentityError::Tls)
    }

    /// A TLS 1.3 client configuration presenting this identity, the CRL in use at each
    /// handshake honoured.
    pub fn client_config(&self) -> Result<Arc<rustls::ClientConfig>, IdentityError> {
        gridtrust_pki::client_config(&self.anchors, self.chain.clone(), self.tls_key()?).map_err(IdentityError::Tls)
    }

    fn tls_key(&self) -> Result<Arc<dyn rustls::sign::SigningKey>, IdentityError> {
        Ok(Arc::new(gridtrust_pki::TlsSigningKey::new(self.signer.clone()).map_err(IdentityError::Tls)?))
    }

    /// Reads who is on the other end of an accepted connection.
    pub fn peer(&self, peer_certificates: &[CertificateDer<'static>]) -> Result<PeerIdentity, gridtrust_pki::PkiError> {
        validate(&self.anchors.current(), peer_certificates, SystemTime::now(), Purpose::TlsClient)
    }

    /// Starts watching the CRL file (once; later calls and identities built in memory get a
    /// task that ends at once). Every event is logged, alarms with target `alarm`, and handed
    /// to `on_event` so a role can raise it in its own registry.
    pub fn watch_crl(&self, on_event: impl Fn(&CrlEvent) + Send + 'static) -> JoinHandle<()> {
        let watch = self.crl_watch.lock().unwrap_or_else(|p| p.into_inner()).take();
        let anchors = self.anchors.clone();
        let role = self.me.to_string();
        tokio::spawn(async move {
            let Some(watch) = watch else { return };
            watch
                .run(anchors, move |event| {
                    log_crl_event(&role, event);
                    on_event(event);
                })
                .await
        })
    }

    /// Keeps a session only while its peer's certificate (`peer_certificates`, checked for
    /// `purpose`) validates: each time the anchors change (a new CRL) it is checked again, and
    /// when it fails the connection is closed through `closer` and `on_refused` is told why.
    /// Dropping the guard stops the watch; hold it for as long as the session runs.
    pub fn guard(
        &self,
        peer_certificates: Vec<CertificateDer<'static>>,
        purpose: Purpose,
        closer: Closer,
        on_refused: impl FnOnce(gridtrust_pki::PkiError) + Send + 'static,
    ) -> SessionGuard {
        let anchors = self.anchors.clone();
        let mut changed = anchors.subscribe();
        changed.mark_unchanged();
        SessionGuard(tokio::spawn(async move {
            while changed.changed().await.is_ok() {
                if let Err(reason) = validate(&anchors.current(), &peer_certificates, SystemTime::now(), purpose) {
                    closer.close();
                    on_refused(reason);
                    return;
                }
            }
        }))
    }

    /// Dials `upstream` with `tls` (this identity's [`Self::client_config`]) and guards the
    /// link: it is closed when the server's certificate is revoked while connected.
    pub async fn connect(
        &self,
        upstream: &Upstream,
        tls: Arc<rustls::ClientConfig>,
    ) -> Result<(Split<ClientStream>, SessionGuard), FrameError> {
        let connected = crate::stream::connect_closable(&upstream.address, &upstream.server_name, tls).await?;
        let address = upstream.address.clone();
        let guard = self.guard(connected.peer_certificates, Purpose::TlsServer, connected.closer, move |reason| {
            tracing::error!(target: "alarm", server = %address, %reason, "the server's certificate no longer validates; connection closed");
        });
        Ok(((connected.reader, connected.writer), guard))
    }
}

/// Stops watching a session's peer when dropped (see [`Identity::guard`]).
#[derive(Debug)]
pub struct SessionGuard(JoinHandle<()>);

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}
