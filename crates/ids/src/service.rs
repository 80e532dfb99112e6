//! The detector as a service of a running role: the `[ids]` table, the model it starts from, a
//! tap for every IEC 104 connection, and the alerts and learned model handed to the role. The cc
//! runs one on its SCADA-facing server, the edge one on its links to RTUs; each role only decides
//! what an alert becomes (alarms, reports to the hub).
//!
//! The model is the file `[ids] model` (learned offline with `gridtrust ids learn` from a capture
//! of normal operation), else the one this role learned before (`data_dir/ids-model.json`), else
//! the role learns one from its first `learn_s` seconds of live traffic and keeps it there.
//!
//! A tap only watches: it cannot delay, change or refuse a frame (refusing is the station's
//! allow-list, the command checks, the adapters' mappings).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use gridtrust_config::{ConfigError, resolve};
use gridtrust_iec104::tap::{LinkTap, TapFactory};
use serde::Deserialize;
use tokio::sync::Notify;
use tracing::{info, warn};

use crate::detect::Alert;
use crate::event::{Event, Protocol};
use crate::inline::{AlertQueue, LinkObserver, Monitor};
use crate::model::{Model, ModelFileError};

/// The model a role learned itself, in its data directory.
pub const LEARNED_MODEL_FILE: &str = "ids-model.json";

/// `[ids]`: watch every IEC 104 connection of the role with the protocol intrusion detector.
///
/// ```toml
/// [ids]
/// # model = "ids-model.json"   # learned offline: gridtrust ids learn capture.pcapng --output ...
/// learn_s = 86400              # without a model: learn from this long of live traffic first
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdsConfig {
    /// A model learned offline from normal traffic. Without it the role uses the model it learned
    /// before (`data_dir/ids-model.json`), or learns one.
    #[serde(default)]
    pub model: Option<PathBuf>,
    /// How long to learn from live traffic when there is no model: alerts start after that.
    #[serde(default = "default_learn_s")]
    pub learn_s: u64,
}

impl IdsConfig {
    /// Resolves `model` against `base`, the configuration file's folder.
    pub fn resolve(&mut self, base: &Path) {
        if let Some(model) = self.model.as_mut() {
            resolve(base, model);
        }
    }

    /// Checks what serde cannot, naming the key in the file at `path`.
    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        if self.model.is_none() && self.learn_s == 0 {
            return Err(ConfigError::invalid(path, "ids.learn_s", "must be at least 1 s when no ids.model is given"));
        }
        Ok(())
    }
}

/// A day: daily routines (interrogations, polling, commands) are in the model.
fn default_learn_s() -> u64 {
    86_400
}

/// Counters for metrics and tests.
#[derive(Debug, Default)]
pub struct IdsStats {
    /// Frames and connection changes the detector saw.
    pub events: AtomicU64,
    /// Alerts raised, dropped ones included.
    pub alerts: AtomicU64,
}

/// Which side of its connections the role is: it decides which way a frame travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The role accepts the connections (the cc's IEC 104 server towards SCADA).
    Server,
    /// The role opens them (the edge towards its RTUs).
    Client,
}

/// What the detector found since the role last asked.
#[derive(Debug, Default)]
pub struct Found {
    /// Alerts, oldest first.
    pub alerts: Vec<Alert>,
    /// Alerts dropped because too many came at once ([`crate::inline::MAX_QUEUED_ALERTS`]).
    pub dropped: u64,
}

impl Found {
    /// One alarm text per alert, and one for the dropped ones, each with its time (microseconds
    /// since the Unix epoch): what every role logs, keeps and reports, worded the same.
    pub fn alarms(&self, now_us: i64) -> Vec<(String, i64)> {
        let mut out: Vec<(String, i64)> =
            self.alerts.iter().map(|a| (format!("intrusion detection: {} [{}] {}", a.flow, a.kind.name(), a.kind), a.time_us)).collect();
        if self.dropped > 0 {
            out.push((format!("intrusion detection: {} more alerts dropped (too many at once)", self.dropped), now_us));
        }
        out
    }
}

/// What the taps share: the monitor, its alerts, a model just learned.
struct Core {
    monitor: Monitor,
    alerts: AlertQueue,
    learned: Option<Model>,
}

struct Shared {
    core: Mutex<Core>,
    /// Wakes [`Service::next`] when there are alerts or a model to keep.
    ready: Notify,
    stats: Arc<IdsStats>,
}

impl Shared {
    fn core(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn handle(&self, events: &mut Vec<Event>) {
        if events.is_empty() {
            return;
        }
        let wake = {
            let mut core = self.core();
            let core = &mut *core;
            for e in events.iter() {
                if let Some(model) = core.monitor.handle(e) {
                    core.learned = Some(model);
                }
            }
            core.alerts.take_from(&mut core.monitor);
            !core.alerts.is_empty() || core.learned.is_some()
        };
        self.stats.events.fetch_add(events.len() as u64, Ordering::Relaxed);
        events.clear();
        if wake {
            self.ready.notify_one();
        }
    }
}

/// Intrusion detection on every IEC 104 connection of one role.
pub struct Service {
    shared: Arc<Shared>,
    side: Side,
    learned_file: PathBuf,
    /// What is watched, for the log ("SCADA traffic", "RTU traffic").
    watched: &'static str,
}

impl Service {
    /// Loads the model (`[ids] model`, else the one learned earlier in `data_dir`), or starts
    /// learning one until `now_us + learn_s` (microseconds since the Unix epoch).
    pub fn new(
        config: &IdsConfig,
        data_dir: &Path,
        now_us: i64,
        side: Side,
        watched: &'static str,
        stats: Arc<IdsStats>,
    ) -> Result<Self, ModelFileError> {
        let learned_file = data_dir.join(LEARNED_MODEL_FILE);
        let monitor = match &config.model {
            Some(path) => {
                let model = Model::read(path)?;
                info!(model = %path.display(), events = model.events, hours = model.hours, "IDS checks {watched} against its model");
                Monitor::detecting(model)
            }
            None if learned_file.exists() => {
                let model = Model::read(&learned_file)?;
                info!(model = %learned_file.display(), hours = model.hours, "IDS checks {watched} against the model it learned before");
                Monitor::detecting(model)
            }
            None => {
                let secs = i64::try_from(config.learn_s).unwrap_or(i64::MAX / 1_000_000);
                info!(learn_s = config.learn_s, "IDS learns normal {watched} first (no model yet): no alerts until then");
                Monitor::learning(now_us.saturating_add(secs.saturating_mul(1_000_000)))
            }
        };
        let core = Core { monitor, alerts: AlertQueue::default(), learned: None };
        Ok(Self { shared: Arc::new(Shared { core: Mutex::new(core), ready: Notify::new(), stats }), side, learned_file, watched })
    }

    /// What the role's IEC 104 server or client taps its connections with.
    pub fn taps(&self) -> Arc<dyn TapFactory> {
        Arc::new(Taps { shared: self.shared.clone(), side: self.side, watched: self.watched })
    }

    /// Waits until the detector has found something and returns it; keeps a model learned
    /// meanwhile in the data directory first (so a restart does not learn again).
    pub async fn next(&self) -> Found {
        loop {
            self.shared.ready.notified().await;
            let (learned, (alerts, dropped)) = {
                let mut core = self.shared.core();
                (core.learned.take(), core.alerts.drain())
            };
            if let Some(model) = learned {
                self.keep(&model);
            }
            if !alerts.is_empty() || dropped > 0 {
                self.shared.stats.alerts.fetch_add(alerts.len() as u64 + dropped, Ordering::Relaxed);
                return Found { alerts, dropped };
            }
        }
    }

    fn keep(&self, model: &Model) {
        let watched = self.watched;
        match model.write(&self.learned_file) {
            Ok(()) => info!(
                model = %self.learned_file.display(),
                events = model.events,
                peers = model.peers.len(),
                "IDS learned its model and now checks {watched}"
            ),
            Err(e) => warn!(target: "alarm", error = %e, "IDS learned its model but cannot keep it: it will learn again after a restart"),
        }
    }
}

struct Taps {
    shared: Arc<Shared>,
    side: Side,
    watched: &'static str,
}

impl TapFactory for Taps {
    fn open(&self, peer: SocketAddr, local: SocketAddr) -> Option<Box<dyn LinkTap>> {
        let Some(observer) = LinkObserver::new(Protocol::Iec104, local, peer, self.side == Side::Server) else {
            let watched = self.watched;
            warn!(%peer, "IDS cannot watch an IPv6 connection (its model names IPv4 endpoints): {watched} with it is not monitored");
            return None;
        };
        let mut events = vec![observer.opened(now_us())];
        self.shared.handle(&mut events);
        Some(Box::new(Tap { observer, shared: self.shared.clone(), events }))
    }
}

/// One connection's tap: frames its bytes and hands the events to the monitor.
struct Tap {
    observer: LinkObserver,
    shared: Arc<Shared>,
    /// Reused between calls.
    events: Vec<Event>,
}

impl LinkTap for Tap {
    fn received(&mut self, bytes: &[u8]) {
        self.observer.received(now_us(), bytes, &mut self.events);
        self.shared.handle(&mut self.events);
    }

    fn sent(&mut self, bytes: &[u8]) {
        self.observer.sent(now_us(), bytes, &mut self.events);
        self.shared.handle(&mut self.events);
    }

    fn closed(&mut self) {
        self.events.push(self.observer.closed(now_us()));
        self.shared.handle(&mut self.events);
    }
}

/// Microseconds since the Unix epoch (the detector's time base).
pub fn now_us() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RTU: &str = "127.0.0.1:2404";
    const EDGE: &str = "127.0.0.1:40000";

    fn service(dir: &Path, learn_until_us: i64, stats: Arc<IdsStats>) -> Service {
        let config = IdsConfig { model: None, learn_s: 1 };
        Service::new(&config, dir, learn_until_us - 1_000_000, Side::Client, "RTU traffic", stats).unwrap()
    }

    #[tokio::test]
    async fn the_model_learned_is_kept_and_used_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let stats = Arc::new(IdsStats::default());
        // Learning ended a second ago: the first connection ends it with an empty model, and is
        // the first thing checked against it.
        let ids = service(dir.path(), now_us() - 1_000_000, stats.clone());
        let mut tap = ids.taps().open(RTU.parse().unwrap(), EDGE.parse().unwrap()).expect("IPv4 is watched");
        tap.closed();
        let found = tokio::time::timeout(std::time::Duration::from_secs(5), ids.next()).await.expect("an alert");
        assert!(found.alerts.iter().any(|a| a.kind.name() == "unknown-peer"), "{:?}", found.alerts);
        assert!(dir.path().join(LEARNED_MODEL_FILE).exists(), "kept before the alerts are handed out");
        assert_eq!(stats.events.load(Ordering::Relaxed), 2);
        assert_eq!(stats.alerts.load(Ordering::Relaxed), found.alerts.len() as u64);

        // A restart that could still be learning uses the kept model instead: it alerts at once.
        let again = service(dir.path(), now_us() + 3_600_000_000, Arc::default());
        let _tap = again.taps().open(RTU.parse().unwrap(), EDGE.parse().unwrap());
        let found = tokio::time::timeout(std::time::Duration::from_secs(5), again.next()).await.expect("an alert");
        assert!(!found.alerts.is_empty());
    }

    #[test]
    fn alarm_texts_name_the_alert_and_count_the_dropped() {
        let found = Found { alerts: Vec::new(), dropped: 7 };
        assert_eq!(found.alarms(42), [("intrusion detection: 7 more alerts dropped (too many at once)".to_owned(), 42)]);
        assert!(Found::default().alarms(0).is_empty());
    }

    #[test]
    fn learning_needs_a_period_when_there_is_no_model() {
        let path = Path::new("edge.toml");
        assert!(IdsConfig { model: None, learn_s: 0 }.validate(path).unwrap_err().to_string().contains("ids.learn_s"));
        assert!(IdsConfig { model: Some("m.json".into()), learn_s: 0 }.validate(path).is_ok());
    }
}
