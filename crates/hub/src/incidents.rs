//! Incidents for the control room: the hub's alarms correlated by [`gridtrust_assist`] with the
//! served grid model, the live switch positions and the latest estimation run, and the
//! operators' acknowledgements of them.
//!
//! Incidents are made from the alarms when asked for (`GET /api/incidents`), so they are always
//! as current as the alarm registry; only the operators' decisions are state, kept in
//! `data_dir/incidents.json` (an incident is named by its first alarm's id, which stays while
//! later alarms join it). Every decision (acknowledge, carry out a recommended action) is signed
//! ([`gridtrust_trust::decision`]) and in the transparency log before it is kept here; the API
//! checks the signature, this desk the rules: an acknowledgement counts the alarms it saw, so
//! alarms that join later are shown as new and the incident can be acknowledged again; an action
//! must be one the incident recommends now; a decision is fresh and its nonce used once.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use gridtrust_api::ApiError;
use gridtrust_api::dto::{
    AckInfo, DecisionStepKind, EstimationReport, IncidentAlarm, IncidentDecision, IncidentEquipment, IncidentItem, IncidentLoad,
    IncidentRecommendation, IncidentSupply, MeasurementOrigin, SwitchPosition,
};
use gridtrust_api::timefmt::rfc3339;
use gridtrust_assist::{AlarmIn, Assistant, Estimated, FlowModel, GridIndex, Incident, Situation, WINDOW_S};
use gridtrust_gridmodel::{EquipmentKind, GridModel};
use gridtrust_model::{Action, Decision, DecisionStep, Record, Timestamp};

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

/// What vouches for the person who decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Proof {
    /// Their own passkey.
    Passkey,
    /// The hub's console key (`[api.console]`), an explicit fallback.
    Console,
    /// The hub's own key: only the hub's word that the logged-in person acknowledged.
    Hub,
}

impl Proof {
    fn name(self) -> &'static str {
        match self {
            Proof::Passkey => "passkey",
            Proof::Console => "console",
            Proof::Hub => "hub",
        }
    }
}

/// A decision as kept, with where it is in the log.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Kept {
    decision: Decision,
    proof: Proof,
    log_index: u64,
}

/// Decisions are refused when their time is further than this from the hub's clock: a signed
/// decision cannot be kept and used much later.
pub(crate) const DECISION_FRESHNESS_NS: i64 = 300 * 1_000_000_000;

/// What is kept in the file.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Book {
    acks: BTreeMap<u64, Ack>,
    decisions: BTreeMap<u64, Vec<Kept>>,
}

/// The assistant and the decisions.
pub(crate) struct Incidents {
    assistant: Assistant,
    book: Mutex<Book>,
    /// Edges isolated by a decision and not readmitted since, with the decision's log index:
    /// what the hub's edge sessions enforce. Follows from the book.
    isolated: Mutex<BTreeMap<String, u64>>,
    file: PathBuf,
}

/// The edges the decisions in `book` leave isolated, each with its isolating decision's log
/// index: the last of isolate and readmit, in log order, stands.
fn isolated_by(book: &Book) -> BTreeMap<String, u64> {
    let mut steps: Vec<&Kept> = book.decisions.values().flatten().collect();
    steps.sort_by_key(|k| k.log_index);
    let mut isolated = BTreeMap::new();
    for k in steps {
        match &k.decision.step {
            DecisionStep::Execute(Action::IsolateEdge { edge }) => {
                isolated.insert(edge.clone(), k.log_index);
            }
            DecisionStep::Execute(Action::ReadmitEdge { edge }) => {
                isolated.remove(edge);
            }
            _ => {}
        }
    }
    isolated
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
        let book = match std::fs::read(&file) {
            // The first format held the acknowledgements alone.
            Ok(bytes) => serde_json::from_slice::<Book>(&bytes)
                .or_else(|_| serde_json::from_slice(&bytes).map(|acks| Book { acks, decisions: BTreeMap::new() }))
                .map_err(|e| format!("{}: {e}", file.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Book::default(),
            Err(e) => return Err(format!("{}: {e}", file.display())),
        };
        let isolated = Mutex::new(isolated_by(&book));
        Ok(Self { assistant: Assistant::new(GridIndex::new(grid), flow, WINDOW_S), book: Mutex::new(book), isolated, file })
    }

    /// The log index of the decision that isolated `edge`, while it stands.
    pub(crate) fn isolated(&self, edge: &str) -> Option<u64> {
        self.isolated.lock().unwrap_or_else(|p| p.into_inner()).get(edge).copied()
    }

    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The incidents of `alarms` with the live switch positions of `latest` and the estimation
    /// report, in the API's form, newest first.
    pub(crate) fn list(&self, alarms: &[Alarm], latest: &[Record], estimation: Option<&EstimationReport>) -> Vec<IncidentItem> {
        let by_id: HashMap<u64, &Alarm> = alarms.iter().map(|a| (a.id, a)).collect();
        let book = self.book();
        self.incidents(alarms, latest, estimation).iter().map(|i| self.item(i, &by_id, &book)).collect()
    }

    /// The assistant's incidents of `alarms`, newest first.
    fn incidents(&self, alarms: &[Alarm], latest: &[Record], estimation: Option<&EstimationReport>) -> Vec<Incident> {
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
        let isolated = self.isolated.lock().unwrap_or_else(|p| p.into_inner()).keys().cloned().collect();
        let situation = Situation { open: self.switch_positions(latest), estimates: &estimates, isolated };
        self.assistant.incidents(&inputs, &situation)
    }

    /// What `step` (and `rank`, for an action) means on incident `id` now, and how many alarms
    /// it has: what a decision on it says.
    pub(crate) fn step(
        &self,
        (alarms, latest, estimation): (&[Alarm], &[Record], Option<&EstimationReport>),
        id: u64,
        step: DecisionStepKind,
        rank: Option<usize>,
    ) -> Result<(DecisionStep, u32), ApiError> {
        let incidents = self.incidents(alarms, latest, estimation);
        let incident = incidents.iter().find(|i| i.id == id).ok_or_else(|| ApiError::NotFound(format!("no incident {id}")))?;
        let count = u32::try_from(incident.alarms.len()).unwrap_or(u32::MAX);
        let step = match (step, rank) {
            (DecisionStepKind::Acknowledge, None) => DecisionStep::Acknowledge,
            (DecisionStepKind::Acknowledge, Some(_)) => return Err(ApiError::BadRequest("rank: only an action to execute has one".into())),
            (DecisionStepKind::Execute, None) => return Err(ApiError::BadRequest("rank: which recommendation to execute".into())),
            (DecisionStepKind::Execute, Some(rank)) => DecisionStep::Execute(
                incident
                    .recommendations
                    .iter()
                    .find(|r| r.rank == rank)
                    .map(|r| r.action.clone())
                    .ok_or_else(|| ApiError::NotFound(format!("incident {id} has no recommendation {rank}")))?,
            ),
        };
        Ok((step, count))
    }

    /// Checks that `decision` may be applied now to the incident `current` holds: it is fresh,
    /// new, not an acknowledgement of what was acknowledged, and an action the incident
    /// recommends. Call before logging it.
    pub(crate) fn check(&self, current: &[IncidentItem], decision: &Decision, now: Timestamp) -> Result<(), ApiError> {
        let id = decision.incident;
        let item = current.iter().find(|i| i.id == id).ok_or_else(|| ApiError::NotFound(format!("no incident {id}")))?;
        if decision.at.0.abs_diff(now.0) > DECISION_FRESHNESS_NS.unsigned_abs() {
            return Err(ApiError::BadRequest(format!(
                "the decision was made at {}, more than {} s from now: prepare it again",
                rfc3339(decision.at.0),
                DECISION_FRESHNESS_NS / 1_000_000_000
            )));
        }
        let book = self.book();
        if book.decisions.values().flatten().any(|k| k.decision.nonce == decision.nonce) {
            return Err(ApiError::Conflict("this signed decision was already applied (its nonce is used)".into()));
        }
        match &decision.step {
            DecisionStep::Acknowledge => {
                if let Some(a) = book.acks.get(&id)
                    && a.alarms >= item.alarms.len()
                {
                    return Err(ApiError::Conflict(format!("incident {id} was already acknowledged by {}", a.by)));
                }
            }
            DecisionStep::Execute(action) => {
                if !item.recommendations.iter().any(|r| r.action == action.kind() && r.target == action.target()) {
                    return Err(ApiError::Conflict(format!(
                        "incident {id} does not recommend to {} {} now",
                        action.title(),
                        action.target()
                    )));
                }
            }
        }
        Ok(())
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

    fn item(&self, i: &Incident, alarms: &HashMap<u64, &Alarm>, book: &Book) -> IncidentItem {
        let item = IncidentItem {
            id: i.id,
            title: i.title.clone(),
            severity: i.severity.as_str().into(),
            escalated: i.escalated,
            first_at: rfc3339(i.first_at.0),
            last_at: rfc3339(i.last_at.0),
            acknowledged: None,
            new_since_ack: 0,
            decisions: Vec::new(),
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
                        customers: l.customers,
                        supplied: l.supplied,
                    })
                    .collect(),
                total_mw: i.supply.total_mw,
                unsupplied_mw: i.supply.unsupplied_mw,
                total_customers: i.supply.total_customers,
                unsupplied_customers: i.supply.unsupplied_customers,
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
        };
        Self::with_book(item, book)
    }

    /// Keeps `decision`, checked ([`Incidents::check`]) and at `log_index` in the transparency
    /// log, and returns its incident of `current` as it stands now.
    pub(crate) fn record(
        &self,
        current: Vec<IncidentItem>,
        decision: Decision,
        proof: Proof,
        log_index: u64,
    ) -> Result<IncidentItem, ApiError> {
        let id = decision.incident;
        let item = current.into_iter().find(|i| i.id == id).ok_or_else(|| ApiError::NotFound(format!("no incident {id}")))?;
        let mut book = self.book();
        let mut next = book.clone();
        if decision.step == DecisionStep::Acknowledge {
            next.acks.insert(id, Ack { by: decision.person.clone(), at_ns: decision.at.0, alarms: item.alarms.len() });
        }
        next.decisions.entry(id).or_default().push(Kept { decision, proof, log_index });
        let tmp = self.file.with_extension("json.tmp");
        let stored = serde_json::to_vec_pretty(&next)
            .map_err(|e| e.to_string())
            .and_then(|bytes| std::fs::write(&tmp, bytes).map_err(|e| e.to_string()))
            .and_then(|()| std::fs::rename(&tmp, &self.file).map_err(|e| e.to_string()));
        if let Err(e) = stored {
            return Err(ApiError::Unavailable(format!("the decision is in the log (entry {log_index}) but not kept here: {e}")));
        }
        *book = next;
        *self.isolated.lock().unwrap_or_else(|p| p.into_inner()) = isolated_by(&book);
        Ok(Self::with_book(item, &book))
    }

    /// `item` with the acknowledgement and decisions `book` holds for it.
    fn with_book(mut item: IncidentItem, book: &Book) -> IncidentItem {
        let ack = book.acks.get(&item.id);
        item.acknowledged = ack.map(|a| AckInfo { by: a.by.clone(), at: rfc3339(a.at_ns) });
        item.new_since_ack = ack.map_or(0, |a| item.alarms.len().saturating_sub(a.alarms));
        item.decisions = book.decisions.get(&item.id).map_or_else(Vec::new, |kept| kept.iter().map(decision_item).collect());
        item
    }
}

fn decision_item(k: &Kept) -> IncidentDecision {
    let (step, action, target) = match &k.decision.step {
        DecisionStep::Acknowledge => (DecisionStepKind::Acknowledge, None, None),
        DecisionStep::Execute(a) => (DecisionStepKind::Execute, Some(a.kind().to_owned()), Some(a.target().to_owned())),
    };
    IncidentDecision {
        step,
        action,
        target,
        by: k.decision.person.clone(),
        role: k.decision.role.clone(),
        at: rfc3339(k.decision.at.0),
        proof: k.proof.name().into(),
        log_index: k.log_index,
        summary: k.decision.to_string(),
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

    fn decision(incident: u64, step: DecisionStep, person: &str, at: Timestamp, nonce: u8) -> Decision {
        Decision { incident, alarms: 1, step, person: person.into(), role: "OPERATOR".into(), at, nonce: [nonce; 16] }
    }

    fn apply(desk: &Incidents, alarms: &[Alarm], d: Decision, index: u64) -> Result<IncidentItem, ApiError> {
        let current = desk.list(alarms, &[], None);
        desk.check(&current, &d, d.at)?;
        desk.record(current, d, Proof::Passkey, index)
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
        let now = alarms[0].raised_at;
        let acked = apply(&desk, &alarms, decision(4, DecisionStep::Acknowledge, "ann", now, 1), 10).unwrap();
        assert_eq!(acked.acknowledged.unwrap().by, "ann");
        assert_eq!((acked.decisions.len(), acked.decisions[0].log_index, acked.decisions[0].proof.as_str()), (1, 10, "passkey"));
        let again = decision(4, DecisionStep::Acknowledge, "bob", now, 2);
        assert!(matches!(apply(&desk, &alarms, again, 11), Err(ApiError::Conflict(_))));
        assert!(matches!(apply(&desk, &alarms, decision(5, DecisionStep::Acknowledge, "bob", now, 3), 11), Err(ApiError::NotFound(_))));

        let reopened = Incidents::open(GridModel::default(), None, file).unwrap();
        let more = [alarm(4, 0), alarm(9, 30)];
        let listed = reopened.list(&more, &[], None);
        assert_eq!(listed[0].acknowledged.as_ref().map(|a| a.by.as_str()), Some("ann"), "kept across the restart");
        assert_eq!(listed[0].new_since_ack, 1, "alarm 9 joined after");
        assert_eq!(listed[0].decisions.len(), 1);
        let bob = apply(&reopened, &more, decision(4, DecisionStep::Acknowledge, "bob", now, 4), 12).unwrap();
        assert_eq!(bob.acknowledged.unwrap().by, "bob");
        assert_eq!(bob.decisions.iter().map(|d| d.log_index).collect::<Vec<_>>(), [10, 12]);
    }

    #[test]
    fn a_stale_a_replayed_or_an_unrecommended_decision_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let desk = Incidents::open(GridModel::default(), None, dir.path().join("incidents.json")).unwrap();
        let alarms = [alarm(4, 0)];
        let now = alarms[0].raised_at;
        let current = desk.list(&alarms, &[], None);
        let stale = decision(4, DecisionStep::Acknowledge, "ann", Timestamp(now.0 - DECISION_FRESHNESS_NS - 1), 1);
        assert!(matches!(desk.check(&current, &stale, now), Err(ApiError::BadRequest(_))));
        let block = DecisionStep::Execute(gridtrust_model::Action::IsolateEdge { edge: "edge-9".into() });
        assert!(matches!(desk.check(&current, &decision(4, block, "ann", now, 2), now), Err(ApiError::Conflict(_))), "not recommended");
        apply(&desk, &alarms, decision(4, DecisionStep::Acknowledge, "ann", now, 3), 10).unwrap();
        let more = [alarm(4, 0), alarm(9, 30)];
        let replayed = decision(4, DecisionStep::Acknowledge, "ann", now, 3);
        assert!(matches!(apply(&desk, &more, replayed, 11), Err(ApiError::Conflict(_))), "the nonce is used");
    }

    #[test]
    fn an_isolation_is_kept_across_a_restart_until_a_readmission() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("incidents.json");
        let desk = Incidents::open(GridModel::default(), None, file.clone()).unwrap();
        let alarms = [alarm(4, 0)];
        let now = alarms[0].raised_at;
        let isolate = DecisionStep::Execute(Action::IsolateEdge { edge: "edge-1".into() });
        desk.record(desk.list(&alarms, &[], None), decision(4, isolate, "ann", now, 1), Proof::Passkey, 10).unwrap();
        assert_eq!(desk.isolated("edge-1"), Some(10));
        assert_eq!(desk.isolated("edge-2"), None);
        let reopened = Incidents::open(GridModel::default(), None, file.clone()).unwrap();
        assert_eq!(reopened.isolated("edge-1"), Some(10), "kept across the restart");
        let readmit = DecisionStep::Execute(Action::ReadmitEdge { edge: "edge-1".into() });
        reopened.record(reopened.list(&alarms, &[], None), decision(4, readmit, "ann", now, 2), Proof::Passkey, 11).unwrap();
        assert_eq!(reopened.isolated("edge-1"), None);
        assert_eq!(Incidents::open(GridModel::default(), None, file).unwrap().isolated("edge-1"), None);
    }
}
