//! The hub's alarm registry: what went wrong (a batch that failed verification, a gap in an
//! edge's chain, a refused peer or command, a log that cannot be signed), kept in the hub store
//! so acknowledgements survive a restart, and announced on the live stream as it happens.
//!
//! Every alarm is also a `tracing` warning with target `alarm`, as before the registry existed.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tracing::warn;

use gridtrust_api::dto::{AckInfo, AlarmItem, LiveEvent};
use gridtrust_api::timefmt::rfc3339;
use gridtrust_model::Timestamp;
pub use gridtrust_model::{AlarmKind, Severity};
use gridtrust_store::{HubStore, StoreError};

/// One alarm as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alarm {
    pub id: u64,
    pub raised_at: Timestamp,
    pub severity: Severity,
    /// `hub`, an edge id or a connector id.
    pub source: String,
    pub kind: AlarmKind,
    pub message: String,
    pub point: Option<String>,
    /// Who acknowledged it, and when.
    pub acknowledged: Option<(String, Timestamp)>,
}

impl Alarm {
    /// The API's form.
    pub fn to_item(&self) -> AlarmItem {
        AlarmItem {
            id: self.id,
            raised_at: rfc3339(self.raised_at.0),
            severity: self.severity.as_str().into(),
            source: self.source.clone(),
            kind: self.kind.as_str().into(),
            message: self.message.clone(),
            point: self.point.clone(),
            acknowledged: self.acknowledged.as_ref().map(|(by, at)| AckInfo { by: by.clone(), at: rfc3339(at.0) }),
        }
    }
}

/// Why an acknowledgement did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AckError {
    #[error("no alarm {0}")]
    Unknown(u64),
    #[error("alarm {id} was already acknowledged by {by}")]
    Already { id: u64, by: String },
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// The alarms, in memory and in the store.
pub struct Alarms {
    all: Mutex<BTreeMap<u64, Alarm>>,
    live: broadcast::Sender<LiveEvent>,
}

impl Alarms {
    /// Loads the stored alarms (undecodable rows are skipped with a warning).
    pub fn load(store: &HubStore, live: broadcast::Sender<LiveEvent>) -> Result<Self, StoreError> {
        let mut all = BTreeMap::new();
        for (id, bytes) in store.alarms()? {
            match postcard::from_bytes::<Alarm>(&bytes) {
                Ok(a) => {
                    all.insert(id, a);
                }
                Err(e) => warn!(id, error = %e, "stored alarm does not decode; skipped"),
            }
        }
        Ok(Self { all: Mutex::new(all), live })
    }

    fn all(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Alarm>> {
        self.all.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Raises an alarm, unless the same one (kind, source, point, message) is still active.
    /// Storing it is a small write: callers on async threads accept that, alarms are rare.
    pub fn raise(&self, store: &HubStore, severity: Severity, source: &str, kind: AlarmKind, message: String, point: Option<String>) {
        warn!(target: "alarm", %source, %kind, ?point, %message, "alarm raised");
        let alarm = {
            let mut all = self.all();
            if all
                .values()
                .any(|a| a.acknowledged.is_none() && a.kind == kind && a.source == source && a.point == point && a.message == message)
            {
                return;
            }
            let id = all.keys().next_back().map_or(1, |k| k + 1);
            let alarm =
                Alarm { id, raised_at: Timestamp::now(), severity, source: source.to_owned(), kind, message, point, acknowledged: None };
            all.insert(id, alarm.clone());
            alarm
        };
        self.persist(store, &alarm);
        let _ = self.live.send(LiveEvent::Alarm(Box::new(alarm.to_item())));
    }

    fn persist(&self, store: &HubStore, alarm: &Alarm) {
        match postcard::to_stdvec(alarm) {
            Ok(bytes) => {
                if let Err(e) = store.put_alarm(alarm.id, &bytes) {
                    warn!(id = alarm.id, error = %e, "alarm not stored (kept in memory)");
                }
            }
            Err(e) => warn!(id = alarm.id, error = %e, "alarm not encodable"),
        }
    }

    /// Acknowledges alarm `id` for `by`.
    pub fn acknowledge(&self, store: &HubStore, id: u64, by: &str) -> Result<Alarm, AckError> {
        let alarm = {
            let mut all = self.all();
            let a = all.get_mut(&id).ok_or(AckError::Unknown(id))?;
            if let Some((who, _)) = &a.acknowledged {
                return Err(AckError::Already { id, by: who.clone() });
            }
            a.acknowledged = Some((by.to_owned(), Timestamp::now()));
            a.clone()
        };
        match postcard::to_stdvec(&alarm) {
            Ok(bytes) => store.put_alarm(id, &bytes)?,
            Err(e) => warn!(id, error = %e, "alarm not encodable"),
        }
        let _ = self.live.send(LiveEvent::Alarm(Box::new(alarm.to_item())));
        Ok(alarm)
    }

    /// Alarms newest first; only unacknowledged ones when `active_only`.
    pub fn list(&self, active_only: bool) -> Vec<Alarm> {
        self.all().values().rev().filter(|a| !active_only || a.acknowledged.is_none()).cloned().collect()
    }

    /// Unacknowledged alarms.
    pub fn active(&self) -> usize {
        self.all().values().filter(|a| a.acknowledged.is_none()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raised_alarms_persist_dedupe_and_acknowledge_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.redb");
        let store = HubStore::open(&path).unwrap();
        let (tx, mut rx) = broadcast::channel(16);
        let alarms = Alarms::load(&store, tx.clone()).unwrap();
        alarms.raise(&store, Severity::Critical, "edge-1", AlarmKind::Trust, "bad root".into(), Some("F1/MMXU1.TotW".into()));
        alarms.raise(&store, Severity::Critical, "edge-1", AlarmKind::Trust, "bad root".into(), Some("F1/MMXU1.TotW".into()));
        alarms.raise(&store, Severity::Major, "edge-1", AlarmKind::Chain, "gap".into(), None);
        assert_eq!(alarms.list(true).iter().map(|a| a.id).collect::<Vec<_>>(), [2, 1]);
        assert!(matches!(rx.try_recv(), Ok(LiveEvent::Alarm(a)) if a.id == 1));
        assert_eq!(alarms.acknowledge(&store, 1, "ann").unwrap().acknowledged.unwrap().0, "ann");
        assert!(matches!(alarms.acknowledge(&store, 1, "bob"), Err(AckError::Already { .. })));
        assert!(matches!(alarms.acknowledge(&store, 9, "bob"), Err(AckError::Unknown(9))));
        drop(store);
        let store = HubStore::open(&path).unwrap();
        let again = Alarms::load(&store, tx).unwrap();
        assert_eq!(again.list(true).len(), 1);
        assert_eq!(again.list(false).len(), 2);
        assert_eq!(again.list(false)[1].acknowledged.as_ref().unwrap().0, "ann");
    }

    /// Alarms stored before kinds were an enum kept the kind as its name: they load unchanged,
    /// and a name this version does not know is skipped, not misread.
    #[test]
    fn alarms_stored_with_the_kind_as_a_name_load_and_unknown_kinds_are_skipped() {
        #[derive(Serialize)]
        struct StoredByName<'a> {
            id: u64,
            raised_at: Timestamp,
            severity: Severity,
            source: &'a str,
            kind: &'a str,
            message: &'a str,
            point: Option<&'a str>,
            acknowledged: Option<(&'a str, Timestamp)>,
        }
        let dir = tempfile::tempdir().unwrap();
        let store = HubStore::open(dir.path().join("h.redb")).unwrap();
        for (id, kind) in [(1, "bad-data"), (2, "tamper")] {
            let old = StoredByName {
                id,
                raised_at: Timestamp(7),
                severity: Severity::Major,
                source: "hub",
                kind,
                message: "m",
                point: Some("F1/MMXU1.TotW"),
                acknowledged: None,
            };
            store.put_alarm(id, &postcard::to_stdvec(&old).unwrap()).unwrap();
        }
        let (tx, _rx) = broadcast::channel(4);
        let loaded = Alarms::load(&store, tx).unwrap().list(false);
        assert_eq!(loaded.len(), 1);
        assert_eq!((loaded[0].id, loaded[0].kind), (1, AlarmKind::BadData));
        assert_eq!(loaded[0].to_item().kind, "bad-data");
    }
}
