//! Intrusion detection on the SCADA-facing IEC 104 server (`[ids]`): the threat of a host on the
//! SCADA LAN that the address allow-list admits (a compromised SCADA front end, a spoofed
//! address) and that then scans objects, floods the station, sends commands it never sent, or
//! breaks the link's sequence numbering.
//!
//! Every connection the server accepts gets a tap ([`gridtrust_iec104::driver::LinkTap`]) that
//! frames its bytes, after TLS, into events for one [`Monitor`] ([`gridtrust_ids::inline`]): the
//! detector of `gridtrust ids`, here on the live link. Its model is the file `[ids] model`
//! (learned offline with `gridtrust ids learn` from a capture of normal operation), or the one
//! this cc learned before (`data_dir/ids-model.json`), or else the cc learns one from its first
//! `learn_s` seconds of traffic and keeps it there. Alerts become alarms (target `alarm` in the
//! log, [`crate::Cc::alarms`], [`crate::CcStats::ids_alerts`]) and are reported to the hub
//! (`CcToHub::Intrusion`), which raises an `intrusion` alarm where incidents are made.
//!
//! The tap only watches: it cannot delay, change or refuse a frame (refusing is the station's
//! allow-list and the command checks). Its cost is measured by `cargo bench -p gridtrust-cc
//! --bench ids_overhead`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use gridtrust_ids::detect::Alert;
use gridtrust_ids::event::{Event, Protocol};
use gridtrust_ids::inline::{AlertQueue, LinkObserver, Monitor};
use gridtrust_ids::model::{Model, ModelFileError};
use gridtrust_iec104::driver::{LinkTap, TapFactory};
use gridtrust_model::Timestamp;
use gridtrust_transport::messages::CcToHub;
use tokio::sync::{Notify, mpsc};
use tracing::{info, warn};

use crate::alarm_list::AlarmList;
use crate::config::IdsConfig;
use crate::runtime::CcStats;
use crate::verify::Alarm;

/// The model the cc learned itself, in its data directory.
pub const LEARNED_MODEL_FILE: &str = "ids-model.json";

/// Why intrusion detection did not start.
#[derive(Debug, thiserror::Error)]
pub enum IdsError {
    /// `[ids] model`, or the learned model in the data directory, could not be used.
    #[error("ids.model: {0}")]
    Model(#[from] ModelFileError),
}

/// What the taps share: the monitor, its alerts, a model just learned.
struct Core {
    monitor: Monitor,
    alerts: AlertQueue,
    learned: Option<Model>,
}

struct Shared {
    core: Mutex<Core>,
    /// Wakes [`Ids::run`] when there are alerts or a model to keep.
    ready: Notify,
    stats: Arc<CcStats>,
}

impl Shared {
    fn core(&self) -> std::sync::MutexGuard<'_, Core> {
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
        self.stats.ids_events.fetch_add(events.len() as u64, Ordering::Relaxed);
        events.clear();
        if wake {
            self.ready.notify_one();
        }
    }
}

/// Intrusion detection for one IEC 104 server.
pub struct Ids {
    shared: Arc<Shared>,
    learned_file: PathBuf,
}

impl Ids {
    /// Loads the model (`[ids] model`, else the one learned earlier in `data_dir`), or starts
    /// learning one until `now + learn_s`.
    pub fn new(config: &IdsConfig, data_dir: &Path, now: Timestamp, stats: Arc<CcStats>) -> Result<Self, IdsError> {
        let learned_file = data_dir.join(LEARNED_MODEL_FILE);
        let monitor = match &config.model {
            Some(path) => {
                let model = Model::read(path)?;
                info!(model = %path.display(), events = model.events, hours = model.hours, "IDS checks SCADA traffic against its model");
                Monitor::detecting(model)
            }
            None if learned_file.exists() => {
                let model = Model::read(&learned_file)?;
                info!(model = %learned_file.display(), hours = model.hours, "IDS checks SCADA traffic against the model it learned before");
                Monitor::detecting(model)
            }
            None => {
                let secs = i64::try_from(config.learn_s).unwrap_or(i64::MAX / 1_000_000);
                info!(learn_s = config.learn_s, "IDS learns normal SCADA traffic first (no model yet): no alerts until then");
                Monitor::learning(now.0 / 1000 + secs.saturating_mul(1_000_000))
            }
        };
        let core = Core { monitor, alerts: AlertQueue::default(), learned: None };
        Ok(Self { shared: Arc::new(Shared { core: Mutex::new(core), ready: Notify::new(), stats }), learned_file })
    }

    /// What the server taps its connections with.
    pub fn taps(&self) -> Arc<dyn TapFactory> {
        Arc::new(Taps { shared: self.shared.clone() })
    }

    /// Turns alerts into alarms, reports them to the hub (`to_hub`, while its link is up; the
    /// cc keeps them either way), and keeps a learned model, as they come, until the cc stops.
    pub async fn run(self, alarms: Arc<Mutex<AlarmList>>, to_hub: mpsc::Sender<CcToHub>) {
        loop {
            self.shared.ready.notified().await;
            let (learned, (alerts, dropped)) = {
                let mut core = self.shared.core();
                (core.learned.take(), core.alerts.drain())
            };
            if let Some(model) = learned {
                match model.write(&self.learned_file) {
                    Ok(()) => {
                        info!(model = %self.learned_file.display(), events = model.events, peers = model.peers.len(), "IDS learned its model and now checks SCADA traffic")
                    }
                    Err(e) => {
                        warn!(target: "alarm", error = %e, "IDS learned its model but cannot keep it: it will learn again after a restart")
                    }
                }
            }
            self.shared.stats.ids_alerts.fetch_add(alerts.len() as u64 + dropped, Ordering::Relaxed);
            let mut raised: Vec<Alarm> = alerts.iter().map(alarm_of).collect();
            if dropped > 0 {
                raised.push(Alarm {
                    edge_id: "scada".into(),
                    batch_seq: 0,
                    reason: format!("intrusion detection: {dropped} more alerts dropped (too many at once)"),
                    at: Timestamp::now(),
                });
            }
            for a in &raised {
                warn!(target: "alarm", reason = %a.reason, "SCADA intrusion detection");
                if to_hub.try_send(CcToHub::Intrusion { alert: a.reason.clone(), seen_at: a.at }).is_err() {
                    warn!("intrusion alert not reported to the hub: its link is down or behind (the alarm is kept here)");
                }
            }
            alarms.lock().unwrap_or_else(|p| p.into_inner()).extend(raised);
        }
    }
}

fn alarm_of(alert: &Alert) -> Alarm {
    Alarm {
        edge_id: "scada".into(),
        batch_seq: 0,
        reason: format!("intrusion detection: {} [{}] {}", alert.flow, alert.kind.name(), alert.kind),
        at: Timestamp(alert.time_us.saturating_mul(1000)),
    }
}

struct Taps {
    shared: Arc<Shared>,
}

impl TapFactory for Taps {
    fn open(&self, peer: SocketAddr, local: SocketAddr) -> Option<Box<dyn LinkTap>> {
        let Some(observer) = LinkObserver::new(Protocol::Iec104, local, peer, true) else {
            warn!(%peer, "IDS cannot watch an IPv6 SCADA connection (its model names IPv4 endpoints); not monitored");
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

fn now_us() -> i64 {
    Timestamp::now().0 / 1000
}
