//! Trust anchors that change while a role runs: when the operator publishes a new CRL, every
//! check the role makes from then on (TLS handshakes, evidence, commands) uses it, and open
//! sessions can re-check their peer.
//!
//! [`LiveAnchors`] holds the current [`TrustAnchors`]; [`validate()`](crate::validate) callers
//! read [`LiveAnchors::current`], and the TLS verifiers of [`crate::server_config`] and
//! [`crate::client_config`] consult it on every handshake, so a configuration built once honours
//! the newest CRL. [`CrlWatch`] decides when to reload: it re-reads the CRL files every poll,
//! installs a changed CRL only if it parses, is signed by its CA and is not older than the one in
//! use, and otherwise keeps the previous CRL (fail closed: never "no CRL"). It also tells when the
//! CRL's nextUpdate is near or past, so an operator publishes in time.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::pki_types::CertificateRevocationListDer;
use rustls::pki_types::pem::PemObject;
use tokio::sync::watch;

use crate::error::PkiError;
use crate::validate::TrustAnchors;

/// The trust anchors in use now, shared by every verifier of a role. Cloning shares them.
#[derive(Clone)]
pub struct LiveAnchors {
    current: Arc<RwLock<Arc<TrustAnchors>>>,
    /// Bumped on every replacement; sessions wait on it to re-check their peer.
    generation: Arc<watch::Sender<u64>>,
}

impl std::fmt::Debug for LiveAnchors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveAnchors").field("current", &self.current()).field("generation", &*self.generation.borrow()).finish()
    }
}

impl From<TrustAnchors> for LiveAnchors {
    fn from(anchors: TrustAnchors) -> Self {
        Self { current: Arc::new(RwLock::new(Arc::new(anchors))), generation: Arc::new(watch::channel(0).0) }
    }
}

impl LiveAnchors {
    /// The anchors in use now.
    pub fn current(&self) -> Arc<TrustAnchors> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Installs `crls` in place of the loaded CRLs (see [`TrustAnchors::with_crls`] for what
    /// is refused). On refusal the anchors in use stay as they are.
    pub fn replace_crls(&self, crls: Vec<CertificateRevocationListDer<'static>>) -> Result<Arc<TrustAnchors>, PkiError> {
        let next = Arc::new(self.current().with_crls(crls)?);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = next.clone();
        self.generation.send_modify(|g| *g += 1);
        Ok(next)
    }

    /// Changes whenever the anchors are replaced.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// Whether this handle is the only one left (every verifier built on it is gone).
    fn unused(&self) -> bool {
        Arc::strong_count(&self.current) == 1
    }
}

/// Loads `ca` and `crl` and keeps the CRL reloaded while anything built on the returned anchors
/// is in use: the CRL watch of a southbound TLS client (MMS, IEC 104, MQTT). `who` names the
/// client in the alarms. Outside a tokio runtime (configuration checks) nothing is watched.
pub fn watched_anchors(ca: &Path, crl: &Path, config: CrlWatchConfig, who: &str) -> Result<LiveAnchors, PkiError> {
    let anchors = LiveAnchors::from(TrustAnchors::from_pem_files(&[ca.to_owned()], &[crl.to_owned()])?);
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        let who = who.to_owned();
        runtime.spawn(CrlWatch::new(vec![crl.to_owned()], config).run(anchors.clone(), move |event| log_crl_event(&who, event)));
    }
    Ok(anchors)
}

/// The log line of a CRL event for `who`; everything but a reload is an alarm (target `alarm`).
pub fn log_crl_event(who: &str, event: &CrlEvent) {
    match event {
        CrlEvent::Reloaded { next_update } => tracing::info!(who, ?next_update, "CRL reloaded; new handshakes and checks use it"),
        CrlEvent::Refused { path, reason } => {
            tracing::error!(target: "alarm", who, path = %path.display(), %reason, "new CRL refused; the previous CRL stays in use")
        }
        CrlEvent::NextUpdateNear { next_update } => {
            tracing::warn!(target: "alarm", who, ?next_update, "the CRL's nextUpdate is near; publish a new CRL")
        }
        CrlEvent::NextUpdatePassed { next_update } => tracing::error!(
            target: "alarm",
            who,
            ?next_update,
            "the CRL is past its nextUpdate; every peer certificate is refused until a new CRL is published"
        ),
    }
}

/// How a role watches its CRL file (`[identity]` keys `crl_check_interval_ms`, `crl_warn_days`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrlWatchConfig {
    /// How often the file is read again.
    pub interval: Duration,
    /// How long before the CRL's nextUpdate an alarm says a new CRL is due.
    pub warn_before: Duration,
}

impl Default for CrlWatchConfig {
    fn default() -> Self {
        Self { interval: Duration::from_secs(5), warn_before: Duration::from_secs(3 * 24 * 3600) }
    }
}

/// What a [`CrlWatch`] poll found. Every variant but `Reloaded` is an alarm.
#[derive(Debug)]
pub enum CrlEvent {
    /// A changed CRL was installed.
    Reloaded {
        /// The earliest nextUpdate of the loaded CRLs.
        next_update: Option<SystemTime>,
    },
    /// A changed CRL file was refused; the previous CRL stays in use.
    Refused {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: PkiError,
    },
    /// The CRL's nextUpdate is within [`CrlWatchConfig::warn_before`]: publish a new one.
    NextUpdateNear {
        /// When it is due.
        next_update: SystemTime,
    },
    /// The CRL's nextUpdate has passed: every peer certificate is refused until a new CRL is
    /// loaded.
    NextUpdatePassed {
        /// When it was due.
        next_update: SystemTime,
    },
}

/// Where the CRL's nextUpdate stands, for raising each alarm once per CRL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Due {
    Fine,
    Near,
    Passed,
}

/// Watches CRL files and reloads [`LiveAnchors`] when they change. The caller runs [`Self::poll`]
/// every [`CrlWatchConfig::interval`] and reports what it returns.
#[derive(Debug)]
pub struct CrlWatch {
    paths: Vec<PathBuf>,
    config: CrlWatchConfig,
    /// SHA-256 of the files' contents last seen (installed or refused), so one change is acted
    /// on once. The contents are compared, not only size and mtime, which a quick rewrite of
    /// the same size can leave unchanged.
    seen: Option<[u8; 32]>,
    /// The nextUpdate alarms already raised, and for which nextUpdate.
    due: (Option<SystemTime>, Due),
}

impl CrlWatch {
    /// Watches `paths` (the CRL files the anchors were loaded from). The files as they are now
    /// are taken as the ones loaded.
    pub fn new(paths: Vec<PathBuf>, config: CrlWatchConfig) -> Self {
        let mut watch = Self { paths, config, seen: None, due: (None, Due::Fine) };
        watch.seen = watch.read().ok().map(|(digest, _)| digest);
        watch
    }

    /// The polling interval.
    pub fn interval(&self) -> Duration {
        self.config.interval
    }

    /// The digest of all files and the CRLs in them.
    fn read(&self) -> Result<([u8; 32], Vec<CertificateRevocationListDer<'static>>), (PathBuf, PkiError)> {
        let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
        let mut crls = Vec::new();
        for path in &self.paths {
            let bytes = std::fs::read(path).map_err(|e| (path.clone(), PkiError::Read { path: path.clone(), reason: e.to_string() }))?;
            digest.update(&bytes);
            let before = crls.len();
            for crl in CertificateRevocationListDer::pem_slice_iter(&bytes) {
                crls.push(crl.map_err(|e| (path.clone(), PkiError::Read { path: path.clone(), reason: e.to_string() }))?);
            }
            if crls.len() == before {
                return Err((path.clone(), PkiError::Read { path: path.clone(), reason: "no CRL in the file".into() }));
            }
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.finish().as_ref());
        Ok((out, crls))
    }

    /// Polls every [`CrlWatchConfig::interval`], handing each event to `on_event`, until no one
    /// but this watch holds `anchors`.
    pub async fn run(mut self, anchors: LiveAnchors, on_event: impl Fn(&CrlEvent) + Send) {
        let mut tick = tokio::time::interval(self.config.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if anchors.unused() {
                return;
            }
            for event in self.poll(&anchors, SystemTime::now()) {
                on_event(&event);
            }
        }
    }

    /// Reads the files; installs a changed CRL into `anchors` or refuses it; then checks
    /// nextUpdate against `now`.
    pub fn poll(&mut self, anchors: &LiveAnchors, now: SystemTime) -> Vec<CrlEvent> {
        let mut events = Vec::new();
        match self.read() {
            Ok((digest, _)) if self.seen == Some(digest) => {}
            Ok((digest, crls)) => {
                self.seen = Some(digest);
                match anchors.replace_crls(crls) {
                    Ok(installed) => events.push(CrlEvent::Reloaded { next_update: earliest_next_update(&installed) }),
                    Err(reason) => events.push(CrlEvent::Refused { path: self.paths.first().cloned().unwrap_or_default(), reason }),
                }
            }
            // A file that vanished or is half written is refused once per state; the next good
            // write is a change again.
            Err((path, reason)) => {
                if self.seen.is_some() {
                    self.seen = None;
                    events.push(CrlEvent::Refused { path, reason });
                }
            }
        }
        if let Some(next_update) = earliest_next_update(&anchors.current()) {
            let due = if now >= next_update {
                Due::Passed
            } else if next_update.duration_since(now).unwrap_or_default() <= self.config.warn_before {
                Due::Near
            } else {
                Due::Fine
            };
            let before = if self.due.0 == Some(next_update) { self.due.1 } else { Due::Fine };
            if due > before {
                events.push(match due {
                    Due::Passed => CrlEvent::NextUpdatePassed { next_update },
                    _ => CrlEvent::NextUpdateNear { next_update },
                });
            }
            self.due = (Some(next_update), due);
        }
        events
    }
}

fn earliest_next_update(anchors: &TrustAnchors) -> Option<SystemTime> {
    anchors.crl_times().iter().filter_map(|t| t.next_update).min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DevPki, RevocationReason};

    fn setup() -> (tempfile::TempDir, DevPki, LiveAnchors, CrlWatch) {
        let dir = tempfile::tempdir().unwrap();
        let pki = DevPki::generate(dir.path(), &[(crate::IdentityKind::Edge, "edge-1", &[crate::Role::Viewer])]).unwrap();
        let live = LiveAnchors::from(pki.anchors().unwrap());
        let watch = CrlWatch::new(vec![dir.path().join("crl.pem")], CrlWatchConfig::default());
        (dir, pki, live, watch)
    }

    #[test]
    fn a_new_crl_is_installed_once_and_a_forged_one_is_refused_keeping_the_old() {
        let (dir, pki, live, mut watch) = setup();
        assert!(watch.poll(&live, SystemTime::now()).is_empty(), "unchanged file: nothing to do");
        let ca = pki.ca().unwrap();
        let serial = ca.list().unwrap()[0].serial;
        ca.revoke(serial, RevocationReason::KeyCompromise).unwrap();
        ca.crl(Duration::from_secs(30 * 24 * 3600)).unwrap();
        let mut rx = live.subscribe();
        assert!(matches!(watch.poll(&live, SystemTime::now())[..], [CrlEvent::Reloaded { .. }]));
        assert!(rx.has_changed().unwrap());
        rx.mark_unchanged();
        assert!(watch.poll(&live, SystemTime::now()).is_empty());
        let in_use = live.current();

        // A CRL from another CA of the same name (a forgery) does not verify.
        let other = tempfile::tempdir().unwrap();
        DevPki::generate(other.path(), &[]).unwrap();
        std::fs::copy(other.path().join("crl.pem"), dir.path().join("crl.pem")).unwrap();
        let events = watch.poll(&live, SystemTime::now());
        assert!(matches!(&events[..], [CrlEvent::Refused { reason: PkiError::CrlSignature, .. }]), "{events:?}");
        assert!(Arc::ptr_eq(&in_use, &live.current()), "the previous CRL stays in use");
        assert!(!rx.has_changed().unwrap());

        // Garbage, then a missing file: refused, old CRL kept.
        std::fs::write(dir.path().join("crl.pem"), "not a CRL").unwrap();
        assert!(matches!(&watch.poll(&live, SystemTime::now())[..], [CrlEvent::Refused { .. }]));
        assert!(Arc::ptr_eq(&in_use, &live.current()));
    }

    #[test]
    fn an_older_crl_is_refused_as_a_rollback() {
        let (dir, pki, live, mut watch) = setup();
        let old = std::fs::read(dir.path().join("crl.pem")).unwrap();
        std::thread::sleep(Duration::from_millis(1100));
        pki.ca().unwrap().crl(Duration::from_secs(30 * 24 * 3600)).unwrap();
        assert!(matches!(&watch.poll(&live, SystemTime::now())[..], [CrlEvent::Reloaded { .. }]));
        std::fs::write(dir.path().join("crl.pem"), old).unwrap();
        let events = watch.poll(&live, SystemTime::now());
        assert!(matches!(&events[..], [CrlEvent::Refused { reason: PkiError::CrlRollback { .. }, .. }]), "{events:?}");
    }

    #[test]
    fn next_update_alarms_are_raised_once_each() {
        let (_dir, _pki, live, mut watch) = setup();
        let next = earliest_next_update(&live.current()).unwrap();
        let far = next - Duration::from_secs(10 * 24 * 3600);
        assert!(watch.poll(&live, far).is_empty());
        let near = next - Duration::from_secs(24 * 3600);
        assert!(matches!(&watch.poll(&live, near)[..], [CrlEvent::NextUpdateNear { .. }]));
        assert!(watch.poll(&live, near).is_empty());
        let past = next + Duration::from_secs(1);
        assert!(matches!(&watch.poll(&live, past)[..], [CrlEvent::NextUpdatePassed { .. }]));
        assert!(watch.poll(&live, past).is_empty());
    }
}
