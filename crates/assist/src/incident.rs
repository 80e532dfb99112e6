//! Incidents and their recommended actions.
//!
//! An incident is one group of [`crate::correlate`]. Its severity is the highest of its alarms,
//! raised to critical when alarms that say data failed verification combine with alarms that say
//! the values disagree with the grid (bad data, unusual values): each alone can be a broken
//! device or a noisy meter, together they are what a forged measurement looks like.
//!
//! Recommendations, each proposed when its condition holds, ranked by priority (highest first;
//! equal priorities in this table's order):
//!
//! | action | when | priority |
//! |---|---|---|
//! | block the point, substitute the estimate | a point named by a trust alarm *and* a grid anomaly | 100 |
//! | re-route via a tie switch | a feeder of the incident is without supply, a tie to a supplied feeder exists, and the power flow with the tie closed passes ([`crate::flow`]) | 90 |
//! | isolate an edge | an edge raised trust alarms on two or more points (or batches) | 80 |
//! | second person for commands on a bay | a refused command in the bay | 75 |
//! | block the point, substitute the estimate | a point named by bad data only | 70 |
//! | block the point, substitute the estimate | a point named by a trust alarm only, or an unusual value | 60 |
//! | isolate an edge | an edge raised one trust alarm | 50 |
//! | second person for commands on a bay | trust alarms on a bay with operable points | 45 |
//! | dispatch a crew | a feeder of the incident is without supply | 40 |
//! | dispatch a crew | an edge is silent (its last `stale` alarm is not the all-clear) | 35 |
//! | dispatch a crew | an edge is to be isolated (check the device on site) | 30 |
//!
//! A re-route that fails the power flow is not proposed; the incident's `notes` say why.

use std::collections::{BTreeMap, BTreeSet};

use gridtrust_model::Timestamp;

use crate::area::GridIndex;
use crate::correlate::correlate;
use crate::flow::FlowModel;
use gridtrust_model::{Action, AlarmKind, Severity};

use crate::{AlarmIn, Estimated, HUB, Signal};

/// One ranked recommendation.
#[derive(Clone, Debug, PartialEq)]
pub struct Recommendation {
    pub action: Action,
    /// 1 is the first thing to do.
    pub rank: usize,
    pub priority: u32,
    /// Why, from the data.
    pub reason: String,
    /// What it will do.
    pub effect: String,
}

/// A piece of equipment named by the incident's alarms.
#[derive(Clone, Debug, PartialEq)]
pub struct Affected {
    /// Tree id.
    pub id: String,
    pub name: String,
    pub bay: Option<String>,
    /// Feeder names.
    pub feeders: Vec<String>,
}

/// A load of an affected feeder.
#[derive(Clone, Debug, PartialEq)]
pub struct SuppliedLoad {
    pub id: String,
    pub name: String,
    pub feeder: String,
    /// Its active power in the model, MW.
    pub p_mw: Option<f64>,
    /// How many customers it supplies, when the model says (`EnergyConsumer.customerCount`).
    pub customers: Option<u32>,
    /// Supplied with the live switch positions.
    pub supplied: bool,
}

/// The loads of the incident's feeders.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Supply {
    pub loads: Vec<SuppliedLoad>,
    /// Sum of the loads' model power, MW.
    pub total_mw: f64,
    /// Of that, without supply now.
    pub unsupplied_mw: f64,
    /// Sum of the loads' known customer counts: a load without a count is not in it.
    pub total_customers: u32,
    /// Of that, without supply now (again only the known counts).
    pub unsupplied_customers: u32,
}

/// One incident.
#[derive(Clone, Debug, PartialEq)]
pub struct Incident {
    /// Its first alarm's id: stable while alarms join it.
    pub id: u64,
    pub first_at: Timestamp,
    pub last_at: Timestamp,
    pub severity: Severity,
    /// Raised to critical because trust alarms and grid anomalies combine.
    pub escalated: bool,
    pub title: String,
    /// The member alarms, in time order (the evidence).
    pub alarms: Vec<u64>,
    /// Points named, in order of first mention.
    pub points: Vec<String>,
    pub equipment: Vec<Affected>,
    /// Feeder names.
    pub feeders: Vec<String>,
    pub supply: Supply,
    pub recommendations: Vec<Recommendation>,
    /// What was considered and not proposed, and why.
    pub notes: Vec<String>,
}

/// The assistant: the indexed grid, the power-flow model when there is one, and the window.
pub struct Assistant {
    index: GridIndex,
    flow: Option<FlowModel>,
    window_ns: i64,
}

/// The live state the recommendations depend on.
#[derive(Clone, Debug, Default)]
pub struct Situation<'a> {
    /// Live switch positions: tree id -> open (the model's normal state for the others).
    pub open: BTreeMap<String, bool>,
    /// The latest estimation run's values, by point.
    pub estimates: &'a [Estimated],
    /// Edges the hub refuses now, by an operator's decision to isolate them.
    pub isolated: BTreeSet<String>,
}

/// The default correlation window.
pub const WINDOW_S: i64 = 60;

impl Assistant {
    pub fn new(index: GridIndex, flow: Option<FlowModel>, window_s: i64) -> Self {
        Self { index, flow, window_ns: window_s.saturating_mul(1_000_000_000) }
    }

    pub fn index(&self) -> &GridIndex {
        &self.index
    }

    /// The incidents of `alarms`, newest first.
    pub fn incidents(&self, alarms: &[AlarmIn], situation: &Situation<'_>) -> Vec<Incident> {
        let energised = self.index.energised(&situation.open);
        let mut out: Vec<Incident> = correlate(alarms, &self.index, self.window_ns)
            .into_iter()
            .filter_map(|group| {
                let members: Vec<&AlarmIn> = group.iter().filter_map(|&i| alarms.get(i)).collect();
                self.incident(&members, situation, &energised)
            })
            .collect();
        out.sort_by_key(|i| std::cmp::Reverse((i.last_at.0, i.id)));
        out
    }

    fn incident(&self, members: &[&AlarmIn], situation: &Situation<'_>, energised: &BTreeSet<String>) -> Option<Incident> {
        let first = members.first()?;
        let last = members.last()?;
        let index = &self.index;
        let has = |s: Signal| members.iter().any(|a| a.signal() == s);
        let escalated = has(Signal::Trust) && members.iter().any(|a| a.signal().is_grid_anomaly());
        // The shared severity orders the most urgent first.
        let worst = members.iter().map(|a| a.severity).min().unwrap_or(Severity::Info);
        let severity = if escalated { Severity::Critical } else { worst };

        let mut points: Vec<String> = Vec::new();
        let mut equipment: Vec<Affected> = Vec::new();
        let mut feeders: BTreeSet<usize> = BTreeSet::new();
        for a in members {
            let Some(point) = &a.point else { continue };
            if !points.contains(point) {
                points.push(point.clone());
            }
            let at = index.locate(point);
            feeders.extend(at.feeders.iter().copied());
            if let Some(id) = at.equipment
                && !equipment.iter().any(|e| e.id == id)
            {
                equipment.push(Affected {
                    name: index.equipment_name(&id),
                    id,
                    bay: at.bay.as_deref().map(|b| index.bay_name(b)),
                    feeders: at.feeders.iter().filter_map(|&f| index.feeders.get(f)).map(|f| f.name.clone()).collect(),
                });
            }
        }
        let supply = self.supply(&feeders, energised);
        let mut ranked = Vec::new();
        let mut notes = Vec::new();
        self.recommend_points(members, &points, situation, &mut ranked);
        self.recommend_edges(members, &situation.isolated, &mut ranked);
        self.recommend_silent_edges(members, &mut ranked);
        self.recommend_bays(members, &mut ranked);
        self.recommend_supply(&feeders, &supply, situation, &mut ranked, &mut notes);
        ranked.sort_by(|a: &Recommendation, b| b.priority.cmp(&a.priority).then_with(|| a.action.cmp(&b.action)));
        // One recommendation per action: the reason of the highest priority stands.
        let mut seen = BTreeSet::new();
        ranked.retain(|r| seen.insert(r.action.clone()));
        for (i, r) in ranked.iter_mut().enumerate() {
            r.rank = i + 1;
        }

        let signals: BTreeSet<Signal> = members.iter().map(|a| a.signal()).collect();
        let what = signals.iter().map(|s| s.words()).collect::<Vec<_>>().join(" and ");
        let feeder_names: Vec<String> = feeders.iter().filter_map(|&f| index.feeders.get(f)).map(|f| f.name.clone()).collect();
        let edges: BTreeSet<&str> = members.iter().map(|a| a.source.as_str()).filter(|s| *s != HUB).collect();
        let place = if !feeder_names.is_empty() {
            format!("feeder {}", feeder_names.join(", "))
        } else if !edges.is_empty() {
            edges.into_iter().collect::<Vec<_>>().join(", ")
        } else {
            first.source.clone()
        };
        let mut title = format!("{} on {place}", capitalise(&what));
        if let Some(p) = points.first() {
            title.push_str(&format!(" ({p}{})", if points.len() > 1 { format!(" and {} more", points.len() - 1) } else { String::new() }));
        }
        Some(Incident {
            id: members.iter().map(|a| a.id).min().unwrap_or(first.id),
            first_at: first.at,
            last_at: last.at,
            severity,
            escalated,
            title,
            alarms: members.iter().map(|a| a.id).collect(),
            points,
            equipment,
            feeders: feeder_names,
            supply,
            recommendations: ranked,
            notes,
        })
    }

    fn supply(&self, feeders: &BTreeSet<usize>, energised: &BTreeSet<String>) -> Supply {
        let mut supply = Supply::default();
        for feeder in feeders.iter().filter_map(|&f| self.index.feeders.get(f)) {
            for id in &feeder.loads {
                let in_model = self.flow.as_ref().zip(self.index.mrid(id));
                let p_mw = in_model.as_ref().and_then(|(flow, mrid)| flow.load_mw(mrid));
                let customers = in_model.as_ref().and_then(|(flow, mrid)| flow.load_customers(mrid));
                let supplied = self.index.load_supplied(id, energised);
                supply.total_mw += p_mw.unwrap_or(0.0);
                supply.total_customers = supply.total_customers.saturating_add(customers.unwrap_or(0));
                if !supplied {
                    supply.unsupplied_mw += p_mw.unwrap_or(0.0);
                    supply.unsupplied_customers = supply.unsupplied_customers.saturating_add(customers.unwrap_or(0));
                }
                supply.loads.push(SuppliedLoad {
                    id: id.clone(),
                    name: self.index.equipment_name(id),
                    feeder: feeder.name.clone(),
                    p_mw,
                    customers,
                    supplied,
                });
            }
        }
        supply
    }

    /// Block-and-substitute for each point named by trust alarms or grid anomalies.
    fn recommend_points(&self, members: &[&AlarmIn], points: &[String], situation: &Situation<'_>, out: &mut Vec<Recommendation>) {
        let first_at = members.first().map_or(0, |a| a.at.0);
        for point in points {
            let on: Vec<&&AlarmIn> = members.iter().filter(|a| a.point.as_ref() == Some(point)).collect();
            let trust: Vec<&&&AlarmIn> = on.iter().filter(|a| a.signal() == Signal::Trust).collect();
            let anomaly: Vec<&&&AlarmIn> = on.iter().filter(|a| a.signal().is_grid_anomaly()).collect();
            let bad_data = anomaly.iter().any(|a| a.signal() == Signal::BadData);
            let priority = match (trust.is_empty(), anomaly.is_empty()) {
                (true, true) => continue,
                (false, false) => 100,
                (true, false) if bad_data => 70,
                _ => 60,
            };
            // One phrase per signal and source, repeated alarms summed up.
            let mut by_origin: Vec<((Signal, &str), Vec<&AlarmIn>)> = Vec::new();
            for a in on.iter().filter(|a| a.signal() == Signal::Trust || a.signal().is_grid_anomaly()) {
                let origin = (a.signal(), a.source.as_str());
                match by_origin.iter_mut().find(|(o, _)| *o == origin) {
                    Some((_, list)) => list.push(a),
                    None => by_origin.push((origin, vec![a])),
                }
            }
            let said: Vec<String> = by_origin
                .iter()
                .map(|((signal, source), list)| match list.as_slice() {
                    [one] => format!("{} from {source} (alarm {}, {})", signal.words(), one.id, when(one.at.0 - first_at)),
                    many => format!(
                        "{} from {source} {} times (alarms {}; {} to {})",
                        signal.words(),
                        many.len(),
                        many.iter().map(|a| a.id.to_string()).collect::<Vec<_>>().join(", "),
                        when(many.first().map_or(0, |a| a.at.0) - first_at),
                        when(many.last().map_or(0, |a| a.at.0) - first_at),
                    ),
                })
                .collect();
            let estimate = situation.estimates.iter().find(|e| &e.point == point);
            let mut reason = format!("{point}{}: {}.", self.where_is(point), said.join("; "));
            if let Some(e) = estimate {
                if let Some(r) = e.normalised_residual {
                    reason.push_str(&format!(" Its normalised residual is {r:.1} (a consistent value stays below about 3)."));
                }
                if let Some(x) = e.estimate_pu.filter(|x| x.abs() > 1e-9) {
                    reason.push_str(&format!(
                        " The estimator puts it at {x:.4} pu against the {:.4} pu received ({:+.0} %).",
                        e.value_pu,
                        (e.value_pu - x) / x.abs() * 100.0
                    ));
                }
            }
            if !trust.is_empty() && !anomaly.is_empty() {
                reason.push_str(
                    " A value that fails verification and disagrees with the rest of the grid is what a forged measurement looks like.",
                );
            }
            let effect = match estimate.and_then(|e| e.estimate_pu) {
                Some(x) => format!(
                    "SCADA and the control room get the estimator's value ({x:.4} pu now) for {point}, marked substituted, instead of the received one, until the point is unblocked."
                ),
                None => format!(
                    "SCADA and the control room stop getting new values of {point}; the last trusted value stays, marked blocked, until the estimator has a value for it or the point is unblocked."
                ),
            };
            out.push(Recommendation { action: Action::BlockPoint { point: point.clone() }, rank: 0, priority, reason, effect });
        }
    }

    /// Isolate each edge that raised trust alarms.
    fn recommend_edges(&self, members: &[&AlarmIn], isolated: &BTreeSet<String>, out: &mut Vec<Recommendation>) {
        let mut by_edge: BTreeMap<&str, Vec<&AlarmIn>> = BTreeMap::new();
        for a in members.iter().filter(|a| a.signal() == Signal::Trust && a.source != HUB) {
            by_edge.entry(a.source.as_str()).or_default().push(a);
        }
        for (edge, alarms) in by_edge {
            if isolated.contains(edge) {
                // Isolated already: what is left is to let it back in once it is checked.
                out.push(Recommendation {
                    action: Action::ReadmitEdge { edge: edge.to_owned() },
                    rank: 0,
                    priority: 20,
                    reason: format!("{edge} is isolated by an operator's decision: the hub refuses its connection, data and commands."),
                    effect: format!(
                        "The hub accepts {edge} again; its queued batches arrive and are verified like any other. Do this once its device and certificate are checked."
                    ),
                });
                continue;
            }
            let points: BTreeSet<&str> = alarms.iter().filter_map(|a| a.point.as_deref()).collect();
            let batches = alarms.iter().filter(|a| a.point.is_none()).count();
            let spread = points.len() + batches;
            let priority = if spread >= 2 { 80 } else { 50 };
            let ids = alarms.iter().map(|a| a.id.to_string()).collect::<Vec<_>>().join(", ");
            let mut what = Vec::new();
            if !points.is_empty() {
                what.push(format!(
                    "{} point{} ({})",
                    points.len(),
                    plural(points.len()),
                    points.iter().copied().collect::<Vec<_>>().join(", ")
                ));
            }
            if batches > 0 {
                what.push(format!("{batches} batch{} without a point", if batches == 1 { "" } else { "es" }));
            }
            let reason = format!(
                "{edge} delivered data that failed verification {} time{} (alarm{} {ids}) on {}. {}",
                alarms.len(),
                plural(alarms.len()),
                plural(alarms.len()),
                what.join(" and "),
                if spread >= 2 {
                    "Failures on more than one point point at the edge or its link, not at one device."
                } else {
                    "One point so far: it may be the device, the edge is a suspect."
                }
            );
            let effect = format!(
                "The hub refuses {edge}'s connection, data and commands; the points it delivers go stale and are shown as not topical; other edges are not affected. The edge is let back in after its device and certificate are checked."
            );
            out.push(Recommendation {
                action: Action::IsolateEdge { edge: edge.to_owned() },
                rank: 0,
                priority,
                reason,
                effect: effect.clone(),
            });
            out.push(Recommendation {
                action: Action::DispatchCrew { to: edge.to_owned() },
                rank: 0,
                priority: 30,
                reason: format!("{edge} is suspected of delivering forged data; whether the device was tampered with can only be seen on site."),
                effect: format!("A crew inspects {edge} and what is connected to it (seals, cabling, configuration) and reports before it is trusted again."),
            });
        }
    }

    /// A crew to each edge that is silent now (its last liveness alarm is not the all-clear).
    fn recommend_silent_edges(&self, members: &[&AlarmIn], out: &mut Vec<Recommendation>) {
        let mut last: BTreeMap<&str, &AlarmIn> = BTreeMap::new();
        for a in members.iter().filter(|a| a.kind == AlarmKind::Stale && a.source != HUB) {
            last.insert(a.source.as_str(), a);
        }
        for (edge, alarm) in last.into_iter().filter(|(_, a)| a.severity != Severity::Info) {
            out.push(Recommendation {
                action: Action::DispatchCrew { to: edge.to_owned() },
                rank: 0,
                priority: 35,
                reason: format!(
                    "{edge} is not heard from (alarm {}: {}): its points are not updated. A cut link, a dead device or someone dropping its traffic look the same from here.",
                    alarm.id, alarm.message
                ),
                effect: format!("A crew checks {edge}'s device, power and link on site and reports what it finds."),
            });
        }
    }

    /// A second person for commands on bays with refused commands or failed verification.
    fn recommend_bays(&self, members: &[&AlarmIn], out: &mut Vec<Recommendation>) {
        let mut by_bay: BTreeMap<String, Vec<&AlarmIn>> = BTreeMap::new();
        for a in members.iter().filter(|a| matches!(a.signal(), Signal::Command | Signal::Trust)) {
            if let Some(bay) = a.point.as_deref().and_then(|p| self.index.locate(p).bay) {
                by_bay.entry(bay).or_default().push(a);
            }
        }
        for (bay, alarms) in by_bay {
            let operable = self.index.operable_points(&bay);
            let name = self.index.bay_name(&bay);
            let commands: Vec<&&AlarmIn> = alarms.iter().filter(|a| a.signal() == Signal::Command).collect();
            let (priority, reason) = if let Some(c) = commands.first() {
                (
                    75,
                    format!(
                        "A command on bay {name} was refused ({} time{}, first alarm {}: {}). Someone is trying to operate it outside the rules.",
                        commands.len(),
                        plural(commands.len()),
                        c.id,
                        c.message
                    ),
                )
            } else if !operable.is_empty() {
                (
                    45,
                    format!(
                        "Values from bay {name} failed verification, so the state operators see there may be forged; a command decided on a forged state does real harm."
                    ),
                )
            } else {
                continue;
            };
            let effect = if operable.is_empty() {
                format!("Commands to bay {name} need a second operator's approval until the incident is closed.")
            } else {
                format!(
                    "Commands to bay {name}'s {} operable point{} ({}) need a second operator's approval until the incident is closed.",
                    operable.len(),
                    plural(operable.len()),
                    operable.join(", ")
                )
            };
            out.push(Recommendation { action: Action::SecondPerson { bay }, rank: 0, priority, reason, effect });
        }
    }

    /// For feeders without supply: a re-route via a tie when the power flow passes, and a crew.
    fn recommend_supply(
        &self,
        feeders: &BTreeSet<usize>,
        supply: &Supply,
        situation: &Situation<'_>,
        out: &mut Vec<Recommendation>,
        notes: &mut Vec<String>,
    ) {
        let index = &self.index;
        for &f in feeders {
            let Some(feeder) = index.feeders.get(f) else { continue };
            let dark: Vec<&crate::SuppliedLoad> = supply.loads.iter().filter(|l| l.feeder == feeder.name && !l.supplied).collect();
            if dark.is_empty() {
                continue;
            }
            let amount = amount(&dark);
            let names = dark.iter().map(|l| l.name.as_str()).collect::<Vec<_>>().join(", ");
            out.push(Recommendation {
                action: Action::DispatchCrew { to: feeder.bay.clone() },
                rank: 0,
                priority: 40,
                reason: format!("Feeder {} is without supply: {names} ({amount} in the model).", feeder.name),
                effect: format!("A crew finds and isolates the cause on feeder {} so that it can be re-energised.", feeder.name),
            });
            for tie in index.ties.iter().filter(|t| t.feeders.contains(&f)) {
                let Some(other) = tie.feeders.iter().find(|&&o| o != f).and_then(|&o| index.feeders.get(o)) else { continue };
                if let Some(reason) = self.reroute(feeder, other, tie, &dark, situation, notes) {
                    out.push(Recommendation {
                        action: Action::Reroute { tie: tie.switch.clone(), feeder: feeder.bay.clone() },
                        rank: 0,
                        priority: 90,
                        reason,
                        effect: format!(
                            "Closing {} supplies {names} ({amount}) from feeder {} until feeder {} is back; its breaker stays open.",
                            tie.name, other.name, feeder.name
                        ),
                    });
                }
            }
        }
    }

    /// The power-flow check of closing `tie`: the reason when it passes, else a note.
    fn reroute(
        &self,
        feeder: &crate::Feeder,
        other: &crate::Feeder,
        tie: &crate::Tie,
        dark: &[&crate::SuppliedLoad],
        situation: &Situation<'_>,
        notes: &mut Vec<String>,
    ) -> Option<String> {
        let index = &self.index;
        let Some(flow) = &self.flow else {
            notes.push(format!("Re-route via {} not proposed: no power-flow model to check it with.", tie.name));
            return None;
        };
        let energised = index.energised(&situation.open);
        if !other.loads.iter().all(|l| index.load_supplied(l, &energised)) {
            notes.push(format!("Re-route via {} not proposed: feeder {} is not fully supplied itself.", tie.name, other.name));
            return None;
        }
        // The plan: the live positions, the feeder's breaker open (it is the cause or was
        // opened for it), the tie closed.
        let mut plan: BTreeMap<String, bool> = BTreeMap::new();
        for (id, &open) in &situation.open {
            if let Some(m) = index.mrid(id) {
                plan.insert(m, open);
            }
        }
        if let Some(m) = feeder.breaker.as_deref().and_then(|b| index.mrid(b)) {
            plan.insert(m, true);
        }
        let tie_mrid = index.mrid(&tie.switch)?;
        plan.insert(tie_mrid, false);
        let to_supply: Vec<String> = dark.iter().filter_map(|l| index.mrid(&l.id)).collect();
        match flow.check(&plan, &to_supply) {
            Ok(check) if check.passes() => {
                let loading = check.loading.as_ref().map_or_else(
                    || "no segment has a current limit to judge".to_owned(),
                    |l| {
                        format!(
                            "the most loaded segment, {}, would carry {:.0} A, {:.0} % of its {:.0} A limit",
                            l.segment,
                            l.amps,
                            l.ratio() * 100.0,
                            l.limit_amps
                        )
                    },
                );
                Some(format!(
                    "Feeder {} is without supply and {} is a normally open point to feeder {}. A power flow with {} closed converges in {} iterations: the lowest voltage would be {:.3} pu at {}, the highest {:.3} pu at {} (limits {:.2}–{:.2}), and {loading}.",
                    feeder.name,
                    tie.name,
                    other.name,
                    tie.name,
                    check.iterations,
                    check.lowest.1,
                    check.lowest.0,
                    check.highest.1,
                    check.highest.0,
                    1.0 - crate::flow::VOLTAGE_BAND,
                    1.0 + crate::flow::VOLTAGE_BAND,
                ))
            }
            Ok(check) => {
                notes.push(format!("Re-route via {} not proposed: with it closed {}.", tie.name, check.violations().join("; ")));
                None
            }
            Err(e) => {
                notes.push(format!("Re-route via {} not proposed: the power flow with it closed fails ({e}).", tie.name));
                None
            }
        }
    }

    /// What an action acts on, by name (an equipment's or bay's name, an edge's id).
    pub fn target_name(&self, action: &Action) -> String {
        let index = &self.index;
        match action {
            Action::BlockPoint { point } => point.clone(),
            Action::IsolateEdge { edge } | Action::ReadmitEdge { edge } => edge.clone(),
            Action::Reroute { tie, .. } => index.equipment_name(tie),
            Action::SecondPerson { bay } => format!("bay {}", index.bay_name(bay)),
            Action::DispatchCrew { to } => match index.feeders.iter().find(|f| &f.bay == to) {
                Some(f) => format!("feeder {}", f.name),
                None => to.clone(),
            },
        }
    }

    /// ` (equipment, bay F1)` for a point, or nothing when the model does not place it.
    fn where_is(&self, point: &str) -> String {
        let at = self.index.locate(point);
        match (at.equipment, at.bay) {
            (Some(e), Some(b)) => format!(" ({}, bay {})", self.index.equipment_name(&e), self.index.bay_name(&b)),
            (Some(e), None) => format!(" ({})", self.index.equipment_name(&e)),
            (None, Some(b)) => format!(" (bay {})", self.index.bay_name(&b)),
            (None, None) => String::new(),
        }
    }
}

/// How much load: `3.10 MW, 930 customers`. Counts are summed where the model has them; `at
/// least` when some loads have none, and no count at all when none has one.
fn amount(loads: &[&SuppliedLoad]) -> String {
    let mw: f64 = loads.iter().filter_map(|l| l.p_mw).sum();
    let counted: Vec<u32> = loads.iter().filter_map(|l| l.customers).collect();
    let customers = counted.iter().fold(0u32, |sum, &c| sum.saturating_add(c));
    match counted.len() {
        0 => format!("{mw:.2} MW"),
        n if n == loads.len() => format!("{mw:.2} MW, {customers} customer{}", plural(customers as usize)),
        _ => format!("{mw:.2} MW, at least {customers} customer{}", plural(customers as usize)),
    }
}

/// When an alarm came, relative to the incident's first.
fn when(after_ns: i64) -> String {
    let s = after_ns / 1_000_000_000;
    if s == 0 { "at the start".to_owned() } else { format!("{s} s later") }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}
