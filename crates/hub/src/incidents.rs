//! Incidents for the control room: the hub's alarms correlated by [`gridtrust_assist`] with the
//! served grid model, the live switch positions and the latest estimation run, and the
//! operators' acknowledgements of them.
//!
//! Incidents are made from the alarms when asked for (`GET /api/incidents`), so they are always
//! as current as the alarm registry; only the acknowledgements are state, kept in
//! `data_dir/incidents.json` (an incident is named by its first alarm's id, which stays while
//! later alarms join it). An acknowledgement counts the alarms it saw: alarms that join later are
//! shown as new, and the incident can be acknowledged again. The route records each
//! acknowledgement in the audit trail.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use gridtrust_api::ApiError;
use gridtrust_api::dto::{
    AckInfo, EstimationReport, IncidentAlarm, IncidentEquipment, IncidentItem, IncidentLoad, IncidentRecommendation, IncidentSupply,
    MeasurementOrigin, SwitchPosition,
};
use gridtrust_api::timefmt::rfc3339;
use gridtrust_assist::{AlarmIn, Assistant, Estimated, FlowModel, GridIndex, Incident, Situation, WINDOW_S};
use gridtrust_gridmodel::{EquipmentKind, GridModel};
use gridtrust_model::{Record, Timestamp};

use crate::alarms::Alarm;
use crate::grid_model::live_position;

/// An operator's acknowledgement of an incident.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Ack {
    by: String,
    at_ns: i64,
    /// Alarms the incident had when acknowledged.
    alarms: usize,
}

/// The assistant and the acknowledgements.
pub(crate) struct Incidents {
    assistant: Assistant,
    acks: Mutex<BTreeMap<u64, Ack>>,
    file: PathBuf,
}

/// `point` in a query string: unreserved characters and `/` as they are, the rest escaped.
fn query_escape(point: &str) -> String {
    point
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Incidents {
    /// For `grid`, with the power-flow model when the hub has CGMES files (`[estimation]`);
    /// reads the acknowledgements from `file` (absent: none).
    pub(crate) fn open(grid: GridModel, flow: Option<FlowModel>, file: PathBuf) -> Result<Self, String> {
        let acks = match std::fs::read(&file) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", file.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(format!("{}: {e}", file.display())),
        };
        Ok(Self { assistant: Assistant::new(GridIndex::new(grid), flow, WINDOW_S), acks: Mutex::new(acks), file })
    }

    fn acks(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Ack>> {
        self.acks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The incidents of `alarms` with the live switch positions of `latest` and the estimation
    /// report, in the API's form, newest first.
    pub(crate) fn list(&self, alarms: &[Alarm], latest: &[Record], estimation: Option<&EstimationReport>) -> Vec<IncidentItem> {
        let inputs: Vec<AlarmIn> = alarms
            .iter()
            .map(|a| AlarmIn {
                id: a.id,
                at: a.raised_at,
                severity: a.severity,
                source: a.source.clone(),
                kind: a.kind,
                message: a.message.clone(),
                point: a.point.clone(),
            })
            .collect();
        let estimates: Vec<Estimated> = estimation
            .into_iter()
            .flat_map(|r| r.measurements.iter())
            .filter(|m| m.origin == MeasurementOrigin::Measured)
            .filter_map(|m| {
                Some(Estimated {
                    point: m.point.clone()?,
                    value_pu: m.value_pu,
                    estimate_pu: m.estimate_pu,
                    normalised_residual: m.normalised_residual,
                })
            })
            .collect();
        let situation = Situation { open: self.switch_positions(latest), estimates: &estimates };
        let by_id: HashMap<u64, &Alarm> = alarms.iter().map(|a| (a.id, a)).collect();
        let acks = self.acks();
        self.assistant.incidents(&inputs, &situation).iter().map(|i| self.item(i, &by_id, acks.get(&i.id))).collect()
    }

    /// Live switch positions (model tree id -> open) from the latest values of switch points.
    fn switch_positions(&self, latest: &[Record]) -> BTreeMap<String, bool> {
        let model = self.assistant.index().model();
        let mut open = BTreeMap::new();
        for r in latest {
            let resolved = model.resolve_point(r.point.as_str());
            let Some(equipment) = resolved.point().and_then(|p| p.equipment.as_deref()).and_then(|e| model.find_equipment(e)) else {
                continue;
            };
            if EquipmentKind::of(equipment).is_switch()
                && let Some(position) = live_position(&r.value)
            {
                open.insert(equipment.id.clone(), position == SwitchPosition::Open);
            }
        }
        open
    }

    fn item(&self, i: &Incident, alarms: &HashMap<u64, &Alarm>, ack: Option<&Ack>) -> IncidentItem {
        IncidentItem {
            id: i.id,
            title: i.title.clone(),
            severity: i.severity.as_str().into(),
            escalated: i.escalated,
            first_at: rfc3339(i.first_at.0),
            last_at: rfc3339(i.last_at.0),
            acknowledged: ack.map(|a| AckInfo { by: a.by.clone(), at: rfc3339(a.at_ns) }),
            new_since_ack: ack.map_or(0, |a| i.alarms.len().saturating_sub(a.alarms)),
            alarms: i
                .alarms
                .iter()
                .filter_map(|id| alarms.get(id))
                .map(|a| IncidentAlarm {
                    alarm: a.to_item(),
                    evidence: a.point.as_deref().map(|p| format!("/api/evidence?point={}", query_escape(p))),
                })
                .collect(),
            points: i.points.clone(),
            equipment: i
                .equipment
                .iter()
                .map(|e| IncidentEquipment { id: e.id.clone(), name: e.name.clone(), bay: e.bay.clone(), feeders: e.feeders.clone() })
                .collect(),
            feeders: i.feeders.clone(),
            supply: IncidentSupply {
                loads: i
                    .supply
                    .loads
                    .iter()
                    .map(|l| IncidentLoad {
                        id: l.id.clone(),
                        name: l.name.clone(),
                        feeder: l.feeder.clone(),
                        p_mw: l.p_mw,
                        supplied: l.supplied,
                    })
                    .collect(),
                total_mw: i.supply.total_mw,
                unsupplied_mw: i.supply.unsupplied_mw,
            },
            recommendations: i
                .recommendations
                .iter()
                .map(|r| IncidentRecommendation {
                    rank: r.rank,
                    action: r.action.kind().into(),
                    title: r.action.title().into(),
                    target: r.action.target().into(),
                    target_name: self.assistant.target_name(&r.action),
                    priority: r.priority,
                    reason: r.reason.clone(),
                    effect: r.effect.clone(),
                })
                .collect(),
            notes: i.notes.clone(),
        }
    }

    /// Acknowledges incident `id` of `current` for `by` at `now`.
    pub(crate) fn acknowledge(&self, current: Vec<IncidentItem>, id: u64, by: &str, now: Timestamp) -> Result<IncidentItem, ApiError> {
        let mut item = current.into_iter().find(|i| i.id == id).ok_or_else(|| ApiError::NotFound(format!("no incident {id}")))?;
        let mut acks = self.acks();
        if let Some(a) = acks.get(&id)
            && a.alarms >= item.alarms.len()
        {
            return Err(ApiError::Conflict(format!("incident {id} was already acknowledged by {}", a.by)));
        }
        let ack = Ack { by: by.to_owned(), at_ns: now.0, alarms: item.alarms.len() };
        let mut next = acks.clone();
        next.insert(id, ack.clone());
        let tmp = self.file.with_extension("json.tmp");
        let stored = serde_json::to_vec_pretty(&next)
            .map_err(|e| e.to_string())
            .and_then(|bytes| std::fs::write(&tmp, bytes).map_err(|e| e.to_string()))
            .and_then(|()| std::fs::rename(&tmp, &self.file).map_err(|e| e.to_string()));
        if let Err(e) = stored {
            return Err(ApiError::Unavailable(format!("incident acknowledgements not stored: {e}")));
        }
        *acks = next;
        item.acknowledged = Some(AckInfo { by: ack.by, at: rfc3339(ack.at_ns) });
        item.new_since_ack = 0;
        Ok(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridtrust_model::AlarmKind;

    fn alarm(id: u64, at_s: i64) -> Alarm {
        Alarm {
            id,
            raised_at: Timestamp(1_800_000_000_000_000_000 + at_s * 1_000_000_000),
            severity: gridtrust_model::Severity::Critical,
            source: "edge-1".into(),
            kind: AlarmKind::Trust,
            message: "batch failed verification".into(),
            point: Some("F1/MMXU1.TotW".into()),
            acknowledged: None,
        }
    }

    #[test]
    fn an_acknowledgement_survives_a_restart_and_a_joining_alarm_reopens_the_incident() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("incidents.json");
        let desk = Incidents::open(GridModel::default(), None, file.clone()).unwrap();
        let alarms = [alarm(4, 0)];
        let current = desk.list(&alarms, &[], None);
        assert_eq!(current.len(), 1);
        assert_eq!(current[0].alarms[0].evidence.as_deref(), Some("/api/evidence?point=F1/MMXU1.TotW"));
        let acked = desk.acknowledge(current, 4, "ann", Timestamp(1)).unwrap();
        assert_eq!(acked.acknowledged.unwrap().by, "ann");
        assert!(matches!(desk.acknowledge(desk.list(&alarms, &[], None), 4, "bob", Timestamp(2)), Err(ApiError::Conflict(_))));
        assert!(matches!(desk.acknowledge(desk.list(&alarms, &[], None), 5, "bob", Timestamp(2)), Err(ApiError::NotFound(_))));

        let again = Incidents::open(GridModel::default(), None, file).unwrap();
        let more = [alarm(4, 0), alarm(9, 30)];
        let listed = again.list(&more, &[], None);
        assert_eq!(listed[0].acknowledged.as_ref().map(|a| a.by.as_str()), Some("ann"), "kept across the restart");
        assert_eq!(listed[0].new_since_ack, 1, "alarm 9 joined after");
        assert_eq!(again.acknowledge(listed, 4, "bob", Timestamp(3)).unwrap().acknowledged.unwrap().by, "bob");
    }
}
