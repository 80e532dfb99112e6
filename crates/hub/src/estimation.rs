//! Measurement checks on the live stream: state estimation with the bad-data test, the security
//! index against stealthy false-data injection, and each point's learned profile.
//!
//! With `[estimation]` configured (and a `[model]`, whose points link to CIM measurements), a
//! timer runs [`Checks::run`] every `interval_s` seconds over the latest trusted values (the
//! store holds only values from batches that verified; quarantined ones are not in it):
//!
//! 1. Live topology: switch positions (a point whose model equipment is a switch) and tap
//!    positions (a step point on a transformer) are applied to the CGMES model from
//!    `[estimation] cgmes`, and the bus-branch network is built again (a de-energised feeder
//!    drops out, with its measurements).
//! 2. Measurements: each point whose model point carries a CIM Analog of a type the mapping
//!    knows becomes an estimator measurement at the Analog's terminal, in per unit: P and Q
//!    (`ThreePhaseActivePower`, `ThreePhaseReactivePower`) as the flow into the terminal's
//!    branch at that end, `LineCurrent` per phase as the branch-end current magnitude,
//!    `PhaseVoltage` per phase as the bus's |V| (the network is balanced: three phases are three
//!    measurements of one quantity). Units from the Analog's `unitSymbol` and `unitMultiplier`
//!    (another symbol than the quantity's, or a multiplier other than none, k, M, G, m, leaves the
//!    value out).
//!    `positiveFlowIn` is not read: a positive flow is into the terminal's equipment, the
//!    convention of a feeder-head meter (and of the demo's simulator).
//!    Values whose quality is not good, or marked test, are left out.
//! 3. Pseudo-measurements, as distribution state estimation does where loads are not measured:
//!    at every bus but the slack, P and Q injection from the model's SSH values with a large σ
//!    ([`PSEUDO_RELATIVE`] of the value, at least [`PSEUDO_MIN_MW`]), and at buses with nothing
//!    connected a zero injection with a small σ ([`ZERO_INJECTION_MW`]).
//! 4. [`gridtrust_grid::estimate::estimate_with_bad_data`]: the chi-square test of J(x̂) at
//!    `confidence`, removal of the largest normalised residual until it passes. Each measured
//!    point removed raises a `bad-data` alarm naming it, except in the check right after a switch
//!    or tap position changed (`settling`): the measurements may not have followed yet. How
//!    the value came to fail ([`Onset`], by [`Onsets`]) sets the alarm: a residual that jumped
//!    from one check to the next is a value that changed at once against the others (an
//!    injected or altered value, a broken sensor), a `Major` alarm; one that grew over several
//!    checks is a drifting sensor, a measurement fault, raised as a `Minor` alarm with its own
//!    message. (An attacker who ramps a value slowly is classed with the drifts: still alarmed,
//!    not as an abrupt change.)
//! 5. The security index per bus ([`gridtrust_grid::security`]) on the Jacobian at the estimate:
//!    which measurements an attacker cannot alter is an assumption, made explicit: the points of
//!    `[estimation] protected` (whose source signs at the device; none in the demo, where the
//!    RTU speaks plain IEC 104 to the edge) and the hub's own pseudo and zero-injection values.
//!    Every other measured value was signed at the edge, but is unsigned between device and edge.
//! 6. Profiles ([`Profiles`]): per point, the median and MAD of its values in the same hour of a
//!    weekday or a weekend day (UTC), learned online; a value more than [`PROFILE_SCORE`] robust
//!    standard deviations from the median raises a `profile` alarm, once the bucket holds
//!    [`PROFILE_WARM_UP`] samples (a fresh hub does not alarm), unless the value is failing the
//!    bad-data test as a drift (alarmed as such already). Its onset is judged as for bad data:
//!    a score that grew over several checks is a drift, with its own message. Points behind an open switch
//!    are neither judged nor learned while it is open.
//!
//! The result of the latest run is served at `GET /api/estimation`. Alarm messages carry no
//! numbers, so an alarm that stays true is raised once until acknowledged; the figures are in the
//! report.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::time::Instant;

use serde::Deserialize;

use gridtrust_api::dto::{AttackCost, BusEstimate, EstimatedMeasurement, EstimationReport, MeasurementOrigin, PointProfile};
use gridtrust_api::timefmt::rfc3339;
use gridtrust_cgmes::{CgmesModel, MeasurementKind};
use gridtrust_grid::cgmes::{Built, Untyped, build, import};
use gridtrust_grid::estimate::{End, EstimateOptions, Estimator, Measurement, Quantity, StateVariable, estimate_with_bad_data};
use gridtrust_grid::security::{SecurityIndex, cheapest_attacks};
use gridtrust_grid::{BusKind, GridError};
use gridtrust_gridmodel::GridModel;
use gridtrust_gridmodel::kinds::AnalogType;
use gridtrust_model::{AlarmKind, Record, Severity, Timestamp, Validity, Value};

use crate::grid_model::live_position;

/// `[estimation]`: the measurement checks (absent: off).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EstimationConfig {
    /// The CGMES files (EQ, TP, SSH) of the grid the points measure, relative to the
    /// configuration file; the network and the pseudo-measurements come from them.
    pub cgmes: Vec<PathBuf>,
    /// Seconds between checks.
    #[serde(default = "default_interval")]
    pub interval_s: u64,
    /// Confidence of the chi-square test (0 < p < 1).
    #[serde(default = "default_confidence")]
    pub confidence: f64,
    /// Points (as their data arrive) whose values are signed at the device, so that an attacker
    /// between device and edge cannot alter them. Empty by default.
    #[serde(default)]
    pub protected: Vec<String>,
}

fn default_interval() -> u64 {
    5
}

fn default_confidence() -> f64 {
    0.99
}

/// Why the checks cannot start.
#[derive(Debug, thiserror::Error)]
pub enum EstimationError {
    #[error("estimation.cgmes: {0}")]
    Cgmes(GridError),
    #[error("[estimation] needs [model] file: the points' links to CIM measurements come from it")]
    NoModel,
    #[error("estimation.protected: {0} is not a point of the model linked to a CIM Analog the checks use")]
    Protected(String),
}

/// σ of a measured P or Q: this fraction of the reading...
pub const POWER_RELATIVE: f64 = 0.005;
/// ...plus this much, MW or Mvar.
pub const POWER_MIN_MW: f64 = 0.01;
/// σ of a measured current: this fraction of the reading plus [`CURRENT_MIN_A`].
pub const CURRENT_RELATIVE: f64 = 0.005;
pub const CURRENT_MIN_A: f64 = 0.5;
/// σ of a measured phase voltage, as a fraction of the reading.
pub const VOLTAGE_RELATIVE: f64 = 0.002;
/// σ of a load's pseudo-measurement: this fraction of its model value, at least [`PSEUDO_MIN_MW`].
pub const PSEUDO_RELATIVE: f64 = 0.3;
pub const PSEUDO_MIN_MW: f64 = 0.05;
/// σ of a zero injection, MW or Mvar: small, standing in for an equality constraint.
pub const ZERO_INJECTION_MW: f64 = 0.001;
/// Arithmetic (multiply-adds) the security-index search may spend per check before it reports
/// bounds: a few tens of milliseconds.
const SECURITY_WORK: usize = 20_000_000;
/// Above this many state variables the security index is not computed (finding the null space
/// of the protected rows alone grows with m·n²).
pub const SECURITY_MAX_STATES: usize = 300;

/// What a point's value means for the checks.
#[derive(Clone, Debug, PartialEq)]
enum Link {
    /// A CIM Analog at a terminal; `si` turns the value into W, var, A or V.
    Analog { kind: AnalogType, terminal: String, si: f64 },
    /// A switch's position (its mRID).
    Switch(String),
    /// A ratio tap changer's step (its mRID).
    Tap(String),
    /// Nothing the checks use.
    None,
}

/// One estimator measurement and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Mapped {
    pub measurement: Measurement,
    pub origin: MeasurementOrigin,
    /// The point (measured ones).
    pub point: Option<String>,
    /// Per unit per unit of the point's value (measured ones; 0 for the others).
    pub pu_per_unit: f64,
}

/// Something an operator should look at, found by a check.
#[derive(Clone, Debug, PartialEq)]
pub enum Finding {
    /// The bad-data test failed and removed this point's value (normalised residual when
    /// removed), and how the value came to fail.
    BadData { point: String, normalised: f64, onset: Onset },
    /// A value far outside its point's learned distribution for this time of day, and how it
    /// got there (its score jumped, or grew over several checks).
    OutsideProfile { point: String, value: f64, median: f64, score: f64, onset: Onset },
}

impl Finding {
    /// The alarm kind.
    pub fn kind(&self) -> AlarmKind {
        match self {
            Finding::BadData { .. } => AlarmKind::BadData,
            Finding::OutsideProfile { .. } => AlarmKind::Profile,
        }
    }

    /// How urgent: a value that failed the estimator's test at once outranks a drifting one and
    /// one point's profile.
    pub fn severity(&self) -> Severity {
        match self {
            Finding::BadData { onset: Onset::Abrupt, .. } => Severity::Major,
            Finding::BadData { onset: Onset::Gradual, .. } | Finding::OutsideProfile { .. } => Severity::Minor,
        }
    }

    /// The point it names.
    pub fn point(&self) -> &str {
        match self {
            Finding::BadData { point, .. } | Finding::OutsideProfile { point, .. } => point,
        }
    }

    /// The alarm message: without figures, so a finding that persists is one alarm.
    pub fn message(&self) -> String {
        match self {
            Finding::BadData { onset: Onset::Abrupt, .. } => {
                "state estimation: the bad-data test fails and this value has the largest normalised residual (see GET /api/estimation)"
                    .into()
            }
            Finding::BadData { onset: Onset::Gradual, .. } => {
                "state estimation: this value's residual grew over several checks until the bad-data test removed it: a drifting sensor (see GET /api/estimation)"
                    .into()
            }
            Finding::OutsideProfile { onset: Onset::Abrupt, .. } => {
                "value far outside its learned distribution for this hour (see GET /api/estimation)".into()
            }
            Finding::OutsideProfile { onset: Onset::Gradual, .. } => {
                "value drifted, over several checks, far outside its learned distribution for this hour (see GET /api/estimation)".into()
            }
        }
    }
}

/// How a value came to fail the bad-data test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Onset {
    /// Its score rose by more than [`ONSET_JUMP`] since the previous check that passed it (or no
    /// check passed it before): it changed at once against the other values.
    Abrupt,
    /// Its residual grew by less than that per check: a drifting sensor, a measurement fault.
    Gradual,
}

/// The rise of a value's score (normalised residual, profile score) from one check to the next
/// that makes its failure abrupt: with noise at the σ assumed, a score moves between checks by a
/// normal of standard deviation about √2 (above 5 about once in 2,000 checks near the limit); an
/// injected value moves it by tens.
pub const ONSET_JUMP: f64 = 5.0;

/// Per point, its last score in standard deviations while it passed (a normalised residual the
/// estimate kept, a profile score under [`PROFILE_SCORE`]), and the onset of the failure it is
/// in: an onset is decided once, when the value first fails, and holds until it passes again.
#[derive(Clone, Debug, Default)]
pub struct Onsets {
    last: HashMap<String, f64>,
    failing: HashMap<String, Onset>,
}

impl Onsets {
    /// A value that passed, with its score (if it has one).
    pub fn kept(&mut self, point: &str, normalised: Option<f64>) {
        self.failing.remove(point);
        if let Some(r) = normalised {
            self.last.insert(point.to_owned(), r.abs());
        }
    }

    /// The onset of the failure the point's value is in, if it is failing.
    pub fn failing(&self, point: &str) -> Option<Onset> {
        self.failing.get(point).copied()
    }

    /// A value that failed, with its score: its failure's onset.
    pub fn removed(&mut self, point: &str, normalised: f64) -> Onset {
        if let Some(&onset) = self.failing.get(point) {
            return onset;
        }
        let onset = match self.last.get(point) {
            Some(&before) if normalised.abs() - before <= ONSET_JUMP => Onset::Gradual,
            _ => Onset::Abrupt,
        };
        self.failing.insert(point.to_owned(), onset);
        onset
    }
}

/// The cheapest undetectable attack on one state variable at the current estimate, as changes
/// to point values ([`Checks::stealthy_attack`]).
#[derive(Clone, Debug, PartialEq)]
pub struct StealthyAttack {
    /// How many values it alters, as the security index counts them.
    pub index: SecurityIndex,
    /// Per point it alters, what to add to the value (in the point's unit).
    pub changes: Vec<(String, f64)>,
    /// The state variable at the estimate it was planned on (per unit or radians).
    pub at: f64,
}

/// One run's result.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub report: EstimationReport,
    pub findings: Vec<Finding>,
}

/// The checks' state: the grid, the point links, the learned profiles.
#[derive(Clone)]
pub struct Checks {
    cgmes: CgmesModel,
    untyped: Untyped,
    grid: GridModel,
    confidence: f64,
    protected: HashSet<String>,
    links: HashMap<String, Link>,
    profiles: Profiles,
    /// Per point, the receive time of the last value given to its profile.
    profiled: HashMap<String, Timestamp>,
    /// The switch and tap positions of the previous check, to see a change.
    topology: Option<Vec<(String, i64)>>,
    /// Points whose terminal was off the energised network in the last check: their zeros are
    /// an open breaker, not a value for their profile.
    deenergised: HashSet<String>,
    /// How each failing value came to fail the bad-data test, and its profile.
    onsets: Onsets,
    profile_onsets: Onsets,
}

impl Checks {
    /// Reads the CGMES files of `config` (errors name the key).
    pub fn load(config: &EstimationConfig, grid: GridModel) -> Result<Self, EstimationError> {
        let (cgmes, untyped) = import(&config.cgmes).map_err(EstimationError::Cgmes)?;
        build(&cgmes, &untyped).map_err(EstimationError::Cgmes)?;
        let mut checks = Self::new(cgmes, untyped, grid, config.confidence, config.protected.iter().cloned().collect());
        // A typo in `protected` would silently leave a value alterable: refuse it.
        for point in &config.protected {
            if !matches!(checks.link(point), Link::Analog { .. }) {
                return Err(EstimationError::Protected(point.clone()));
            }
        }
        Ok(checks)
    }

    /// From a model already read.
    pub fn new(cgmes: CgmesModel, untyped: Untyped, grid: GridModel, confidence: f64, protected: HashSet<String>) -> Self {
        Self {
            cgmes,
            untyped,
            grid,
            confidence,
            protected,
            links: HashMap::new(),
            profiles: Profiles::default(),
            profiled: HashMap::new(),
            topology: None,
            deenergised: HashSet::new(),
            onsets: Onsets::default(),
            profile_onsets: Onsets::default(),
        }
    }

    /// What a point's value means, from the joined model and the CGMES model (cached).
    fn link(&mut self, point: &str) -> Link {
        if let Some(l) = self.links.get(point) {
            return l.clone();
        }
        let link = self.resolve(point);
        self.links.insert(point.to_owned(), link.clone());
        link
    }

    fn resolve(&self, point: &str) -> Link {
        let Some(info) = self.grid.resolve_point(point).point().cloned() else {
            return Link::None;
        };
        if let Some(mrid) = &info.cim.measurement
            && let Some(m) = self.cgmes.measurements.iter().find(|m| &m.identity.mrid == mrid)
            && m.kind == MeasurementKind::Analog
            && let Some(kind) = m.measurement_type.as_deref().and_then(AnalogType::of)
            && let Some(terminal) = m.terminal.clone()
        {
            // A unit other than the quantity's own, or a multiplier not listed, leaves the value
            // out rather than scaled wrongly.
            let symbol = match kind {
                AnalogType::ActivePower => "W",
                AnalogType::ReactivePower => "VAr",
                AnalogType::LineCurrent => "A",
                AnalogType::PhaseVoltage => "V",
            };
            let multiplier = match m.unit_multiplier.as_deref() {
                None | Some("none") => 1.0,
                Some("k") => 1e3,
                Some("M") => 1e6,
                Some("G") => 1e9,
                Some("m") => 1e-3,
                Some(_) => return Link::None,
            };
            if m.unit_symbol.as_deref().is_some_and(|s| s != symbol) {
                return Link::None;
            }
            return Link::Analog { kind, terminal, si: multiplier };
        }
        let Some(equipment) = info.cim.equipment else { return Link::None };
        if self.cgmes.switches.iter().any(|s| s.equipment.identity.mrid == equipment) {
            return Link::Switch(equipment);
        }
        match self.untyped.ratio_tap_changers(&self.cgmes, &equipment).first() {
            Some(tap) => Link::Tap(tap.mrid.clone()),
            None => Link::None,
        }
    }

    /// The network with the live switch and tap positions of `latest`, and whether they changed
    /// since the previous call.
    fn network(&mut self, latest: &[Record]) -> Result<(Built, bool), GridError> {
        let mut topology = Vec::new();
        for r in latest {
            match self.link(r.point.as_str()) {
                Link::Switch(mrid) => {
                    if let Some(position) = live_position(&r.value)
                        && let Some(s) = self.cgmes.switches.iter_mut().find(|s| s.equipment.identity.mrid == mrid)
                    {
                        let open = position == gridtrust_api::dto::SwitchPosition::Open;
                        s.open = Some(open);
                        topology.push((mrid, i64::from(open)));
                    }
                }
                Link::Tap(mrid) => {
                    if let Value::Step { position, .. } = r.value {
                        // A step outside the tap changer's range keeps the last one; the
                        // voltage measurements then show the mismatch.
                        let _ = self.untyped.set_tap_step(&mrid, i64::from(position));
                        topology.push((mrid, i64::from(position)));
                    }
                }
                Link::Analog { .. } | Link::None => {}
            }
        }
        topology.sort();
        let changed = self.topology.as_ref().is_some_and(|t| *t != topology);
        self.topology = Some(topology);
        Ok((build(&self.cgmes, &self.untyped)?, changed))
    }

    /// Maps the latest values to estimator measurements on `built` and adds the pseudo-measurements.
    pub(crate) fn measurements(&mut self, built: &Built, latest: &[Record]) -> Vec<Mapped> {
        let network = &built.network;
        let mut out = Vec::new();
        self.deenergised.clear();
        for r in latest {
            let Link::Analog { kind, terminal, si } = self.link(r.point.as_str()) else {
                continue;
            };
            if r.quality.validity() != Validity::Good || r.quality.test() {
                continue;
            }
            let Some(t) = self.cgmes.terminals.iter().find(|t| t.identity.mrid == terminal) else {
                continue;
            };
            let node = t.topological_node.as_deref().or_else(|| {
                let cn = t.connectivity_node.as_deref()?;
                self.cgmes.connectivity_nodes.iter().find(|c| c.identity.mrid == cn)?.topological_node.as_deref()
            });
            // A terminal off the energised network (an open breaker) measures nothing we estimate.
            let Some(&bus) = node.and_then(|n| built.bus_of_node.get(n)) else {
                self.deenergised.insert(r.point.to_string());
                continue;
            };
            let base_kv = network.buses[bus].base_kv;
            let s_base = network.base_mva * 1e6;
            let i_base = s_base / (3f64.sqrt() * base_kv * 1e3);
            let branch_end = || {
                let equipment = t.conducting_equipment.as_deref()?;
                let (index, b) = network.branches.iter().enumerate().find(|(_, b)| b.id == equipment && (b.from == bus || b.to == bus))?;
                Some((index, if b.from == bus { End::From } else { End::To }))
            };
            let (quantity, pu_per_unit, relative, floor) = match kind {
                AnalogType::PhaseVoltage => (Quantity::VoltageMagnitude { bus }, si * 3f64.sqrt() / (base_kv * 1e3), VOLTAGE_RELATIVE, 0.0),
                AnalogType::ActivePower | AnalogType::ReactivePower => {
                    let Some((branch, end)) = branch_end() else { continue };
                    let quantity =
                        if kind == AnalogType::ActivePower { Quantity::FlowP { branch, end } } else { Quantity::FlowQ { branch, end } };
                    (quantity, si / s_base, POWER_RELATIVE, POWER_MIN_MW / network.base_mva)
                }
                AnalogType::LineCurrent => {
                    let Some((branch, end)) = branch_end() else { continue };
                    (Quantity::CurrentMagnitude { branch, end }, si / i_base, CURRENT_RELATIVE, CURRENT_MIN_A / i_base)
                }
            };
            let value = r.value.as_f64() * pu_per_unit;
            let sigma = (relative * value.abs() + floor).max(1e-6);
            out.push(Mapped {
                measurement: Measurement { quantity, value, sigma },
                origin: MeasurementOrigin::Measured,
                point: Some(r.point.to_string()),
                pu_per_unit,
            });
        }
        for (bus, b) in network.buses.iter().enumerate() {
            if b.kind == BusKind::Slack {
                continue;
            }
            let loaded = b.p != 0.0 || b.q != 0.0;
            for (quantity, value) in [(Quantity::InjectionP { bus }, b.p), (Quantity::InjectionQ { bus }, b.q)] {
                let (origin, sigma) = if loaded {
                    (MeasurementOrigin::Pseudo, (PSEUDO_RELATIVE * value.abs()).max(PSEUDO_MIN_MW / network.base_mva))
                } else {
                    (MeasurementOrigin::ZeroInjection, ZERO_INJECTION_MW / network.base_mva)
                };
                out.push(Mapped { measurement: Measurement { quantity, value, sigma }, origin, point: None, pu_per_unit: 0.0 });
            }
        }
        out
    }

    /// Whether an attacker is assumed able to alter this measurement (see the module doc).
    fn alterable(&self, m: &Mapped) -> bool {
        m.origin == MeasurementOrigin::Measured && m.point.as_ref().is_some_and(|p| !self.protected.contains(p))
    }

    /// One check over the latest values (`now` for the report and the profiles' clock).
    pub fn run(&mut self, now: Timestamp, latest: &[Record]) -> Outcome {
        let started = Instant::now();
        let mut findings = Vec::new();
        let mut report = EstimationReport {
            ran_at: rfc3339(now.0),
            duration_ms: 0.0,
            error: None,
            passed: false,
            settling: false,
            objective: 0.0,
            threshold: None,
            degrees_of_freedom: 0,
            measurements: Vec::new(),
            buses: Vec::new(),
            profiles: Vec::new(),
        };
        if let Err(e) = self.estimate(latest, &mut report, &mut findings) {
            report.error = Some(e.to_string());
        }
        report.profiles = self.profile(now, latest, &mut findings);
        report.duration_ms = started.elapsed().as_secs_f64() * 1e3;
        Outcome { report, findings }
    }

    fn estimate(&mut self, latest: &[Record], report: &mut EstimationReport, findings: &mut Vec<Finding>) -> Result<(), GridError> {
        let (built, settling) = self.network(latest)?;
        report.settling = settling;
        let mapped = self.measurements(&built, latest);
        let network = &built.network;
        let all: Vec<Measurement> = mapped.iter().map(|m| m.measurement).collect();
        let cleaned = estimate_with_bad_data(network, &all, self.confidence, &EstimateOptions::default())?;
        let estimate = &cleaned.estimate;
        let first = cleaned.removed.first();
        report.passed = cleaned.removed.is_empty() && cleaned.passed;
        report.objective = first.map_or(estimate.objective, |r| r.objective);
        report.threshold = first.map(|r| r.threshold).or(cleaned.threshold);
        report.degrees_of_freedom = all.len().saturating_sub(estimate.states);
        let kept: Vec<Measurement> = cleaned.kept.iter().map(|&i| all[i]).collect();
        let estimator = Estimator::new(network, &kept)?;
        let jacobian = estimator.jacobian(&estimate.v, &estimate.theta)?;
        let alterable: Vec<bool> = cleaned.kept.iter().map(|&i| self.alterable(&mapped[i])).collect();
        let computed = jacobian.columns.len() <= SECURITY_MAX_STATES;
        let attacks = if computed { cheapest_attacks(&jacobian, &alterable, SECURITY_WORK) } else { Vec::new() };
        let name_of = |i: usize| describe(&built, mapped[i].measurement.quantity);
        for (i, m) in mapped.iter().enumerate() {
            let removed = cleaned.removed.iter().find(|r| r.index == i);
            let position = cleaned.kept.iter().position(|&k| k == i);
            report.measurements.push(EstimatedMeasurement {
                point: m.point.clone(),
                origin: m.origin,
                quantity: name_of(i),
                value_pu: m.measurement.value,
                sigma_pu: m.measurement.sigma,
                estimate_pu: position.map(|p| m.measurement.value - estimate.residuals[p]),
                normalised_residual: removed.map(|r| r.normalised).or_else(|| position.and_then(|p| estimate.normalised[p])),
                bad_data: removed.is_some(),
                protected: !self.alterable(m),
            });
        }
        // While settling, values may lag the topology: neither alarmed nor learned from.
        if !settling {
            for (p, &i) in cleaned.kept.iter().enumerate() {
                if let Some(point) = &mapped[i].point {
                    self.onsets.kept(point, estimate.normalised[p]);
                }
            }
            for r in &cleaned.removed {
                if let Some(point) = &mapped[r.index].point {
                    let onset = self.onsets.removed(point, r.normalised);
                    findings.push(Finding::BadData { point: point.clone(), normalised: r.normalised, onset });
                }
            }
        }
        let cost = |state: StateVariable| -> Option<AttackCost> {
            if !computed {
                return jacobian.columns.contains(&state).then_some(AttackCost::NotComputed);
            }
            let (_, attack) = attacks.iter().find(|(s, _)| *s == state)?;
            Some(match attack.as_ref().map(|a| a.index) {
                None | Some(SecurityIndex::Impossible) => AttackCost::Impossible,
                Some(SecurityIndex::Exact(measurements)) => AttackCost::Exact { measurements },
                Some(SecurityIndex::AtMost(measurements)) => AttackCost::AtMost { measurements },
            })
        };
        for (bus, b) in network.buses.iter().enumerate() {
            report.buses.push(BusEstimate {
                bus: b.id.clone(),
                name: self.cgmes.topological_nodes.iter().find(|n| n.identity.mrid == b.id).and_then(|n| n.identity.name.clone()),
                v_pu: estimate.v[bus],
                angle_deg: estimate.theta[bus].to_degrees(),
                angle_attack: cost(StateVariable::Angle { bus }),
                magnitude_attack: cost(StateVariable::Magnitude { bus }).unwrap_or(AttackCost::Impossible),
            });
        }
        Ok(())
    }

    /// Feeds each analog point's new value to its profile and reports its current bucket.
    fn profile(&mut self, now: Timestamp, latest: &[Record], findings: &mut Vec<Finding>) -> Vec<PointProfile> {
        let mut out = Vec::new();
        for r in latest {
            if !matches!(self.link(r.point.as_str()), Link::Analog { .. })
                || r.quality.validity() != Validity::Good
                || self.deenergised.contains(r.point.as_str())
            {
                continue;
            }
            let point = r.point.to_string();
            let value = r.value.as_f64();
            let bucket = Bucket::of(now);
            let fresh = self.profiled.get(&point) != Some(&r.received_at);
            let score = if fresh {
                self.profiled.insert(point.clone(), r.received_at);
                let score = self.profiles.observe(&point, bucket, value);
                // A drifting value is already alarmed as such: its profile says nothing new.
                let drifting = self.onsets.failing(&point) == Some(Onset::Gradual);
                match score {
                    Some(s) if s.score > PROFILE_SCORE => {
                        let onset = self.profile_onsets.removed(&point, s.score);
                        if !drifting {
                            findings.push(Finding::OutsideProfile { point: point.clone(), value, median: s.median, score: s.score, onset });
                        }
                    }
                    Some(s) => self.profile_onsets.kept(&point, Some(s.score)),
                    None => {}
                }
                score
            } else {
                self.profiles.score(&point, bucket, value)
            };
            let samples = self.profiles.samples(&point, bucket);
            out.push(PointProfile {
                point,
                bucket: bucket.name(),
                samples,
                median: score.map(|s| s.median),
                mad: score.map(|s| s.mad),
                last: value,
                score: score.map(|s| s.score),
            });
        }
        out
    }
}

/// What an estimator quantity is, for people.
fn describe(built: &Built, quantity: Quantity) -> String {
    let network = &built.network;
    let bus = |i: usize| network.buses[i].id.clone();
    let at = |branch: usize, end: End| {
        let b = &network.branches[branch];
        format!("{} at {}", b.id, bus(if end == End::From { b.from } else { b.to }))
    };
    match quantity {
        Quantity::VoltageMagnitude { bus: b } => format!("|V| at {}", bus(b)),
        Quantity::InjectionP { bus: b } => format!("P injection at {}", bus(b)),
        Quantity::InjectionQ { bus: b } => format!("Q injection at {}", bus(b)),
        Quantity::FlowP { branch, end } => format!("P flow into {}", at(branch, end)),
        Quantity::FlowQ { branch, end } => format!("Q flow into {}", at(branch, end)),
        Quantity::CurrentMagnitude { branch, end } => format!("|I| into {}", at(branch, end)),
    }
}

impl Checks {
    /// What an attacker who knows the model and the estimate on `latest` would add to the
    /// values to move `state` by `shift` (per unit or radians) without moving a residual: the
    /// cheapest a = Hc of the security index, with the points of `[estimation] protected` out of
    /// the attacker's reach when `respect_protected` (else every measured value, to show what a
    /// protected value would have had to carry). `None` when no such attack exists. For the
    /// evaluation's scenarios and for naming the minimum attacker set; the topology `run` saw
    /// last is kept, so planning does not hide a switch change from the next check.
    pub fn stealthy_attack(
        &mut self,
        latest: &[Record],
        state: StateVariable,
        shift: f64,
        respect_protected: bool,
    ) -> Result<Option<StealthyAttack>, GridError> {
        let seen = self.topology.clone();
        let deenergised = self.deenergised.clone();
        let built = self.network(latest);
        self.topology = seen;
        let built = built?.0;
        let mapped = self.measurements(&built, latest);
        self.deenergised = deenergised;
        let all: Vec<Measurement> = mapped.iter().map(|m| m.measurement).collect();
        let estimator = Estimator::new(&built.network, &all)?;
        let estimate = estimator.estimate(&all, &EstimateOptions::default())?;
        let h = estimator.jacobian(&estimate.v, &estimate.theta)?;
        let alterable: Vec<bool> =
            mapped.iter().map(|m| if respect_protected { self.alterable(m) } else { m.origin == MeasurementOrigin::Measured }).collect();
        let Some(attack) = cheapest_attacks(&h, &alterable, SECURITY_WORK).into_iter().find(|(s, _)| *s == state).and_then(|(_, a)| a)
        else {
            return Ok(None);
        };
        let changes = attack
            .altered
            .iter()
            .filter_map(|&i| {
                let a: f64 = h.rows[i].iter().zip(&attack.change).map(|(x, c)| x * c).sum::<f64>() * shift;
                Some((mapped[i].point.clone()?, a / mapped[i].pu_per_unit))
            })
            .collect();
        let at = match state {
            StateVariable::Magnitude { bus } => estimate.v.get(bus),
            StateVariable::Angle { bus } => estimate.theta.get(bus),
        };
        Ok(Some(StealthyAttack { index: attack.index, changes, at: at.copied().unwrap_or(0.0) }))
    }
}

/// Samples a bucket keeps (the newest).
pub const PROFILE_SAMPLES: usize = 500;
/// Samples a bucket needs before it judges a value.
pub const PROFILE_WARM_UP: usize = 60;
/// Robust standard deviations (1.4826 MAD) from the median that make a value an outlier.
pub const PROFILE_SCORE: f64 = 6.0;

/// A time-of-day bucket: the hour (UTC) of a weekday or of a weekend day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Bucket {
    pub weekend: bool,
    pub hour: u8,
}

impl Bucket {
    /// The bucket of a time.
    pub fn of(t: Timestamp) -> Self {
        let seconds = t.0.div_euclid(1_000_000_000);
        let days = seconds.div_euclid(86_400);
        // 1970-01-01 was a Thursday (day 4 with Sunday 0).
        let weekday = (days + 4).rem_euclid(7);
        let hour = u8::try_from(seconds.rem_euclid(86_400) / 3600).unwrap_or(0);
        Self { weekend: weekday == 0 || weekday == 6, hour }
    }

    fn name(self) -> String {
        format!("{}-{:02}", if self.weekend { "weekend" } else { "weekday" }, self.hour)
    }
}

/// A value judged against its bucket.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Score {
    pub median: f64,
    pub mad: f64,
    /// |x - median| / (1.4826 MAD), with the MAD floored at 1e-3 of |median| (and 1e-9) so a
    /// constant signal does not turn every change into an infinite score.
    pub score: f64,
}

/// Per point and bucket, the newest [`PROFILE_SAMPLES`] values: median and MAD are robust to
/// the outliers they are meant to find, and need no threshold per point.
#[derive(Clone, Default)]
pub struct Profiles {
    buckets: HashMap<(String, Bucket), VecDeque<f64>>,
}

impl Profiles {
    /// Judges `value` against what the bucket learned (`None` while warming up), then learns it.
    pub fn observe(&mut self, point: &str, bucket: Bucket, value: f64) -> Option<Score> {
        let score = self.score(point, bucket, value);
        let samples = self.buckets.entry((point.to_owned(), bucket)).or_default();
        if samples.len() == PROFILE_SAMPLES {
            samples.pop_front();
        }
        samples.push_back(value);
        score
    }

    /// Judges `value` without learning it.
    pub fn score(&self, point: &str, bucket: Bucket, value: f64) -> Option<Score> {
        let samples = self.buckets.get(&(point.to_owned(), bucket)).filter(|s| s.len() >= PROFILE_WARM_UP)?;
        let median = median(samples.iter().copied().collect());
        let mad = median_of_deviations(samples, median);
        let spread = 1.4826 * mad.max(1e-3 * median.abs()).max(1e-9);
        Some(Score { median, mad, score: (value - median).abs() / spread })
    }

    fn samples(&self, point: &str, bucket: Bucket) -> usize {
        self.buckets.get(&(point.to_owned(), bucket)).map_or(0, VecDeque::len)
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn median_of_deviations(samples: &VecDeque<f64>, m: f64) -> f64 {
    median(samples.iter().map(|x| (x - m).abs()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridtrust_model::{PointId, Quality};
    use gridtrust_sim::SubstationSpec;
    use gridtrust_sim::grid::DemoGrid;
    use gridtrust_sim::substation::Substation;

    /// The demo's simulated substation and the checks on its grid.
    fn demo(protected: &[&str]) -> (Substation, Checks) {
        let grid = DemoGrid::load().unwrap();
        let checks = Checks::new(grid.cgmes, grid.untyped, grid.joined, 0.99, protected.iter().map(|p| p.to_string()).collect());
        (Substation::new(SubstationSpec::default()), checks)
    }

    /// The substation's values at `t` as the hub's store would hold them (statuses included).
    fn records(sub: &mut Substation, t: f64) -> Vec<Record> {
        let names: HashMap<u32, PointId> = sub.points().into_iter().map(|p| (p.ioa, p.id)).collect();
        let mut values = sub.measure(t);
        values.extend(sub.statuses());
        let at = Timestamp(1_800_000_000_000_000_000 + (t * 1e9) as i64);
        values
            .into_iter()
            .enumerate()
            .map(|(seq, (ioa, value))| Record {
                seq: seq as u64,
                point: names[&ioa].clone(),
                value,
                quality: Quality::GOOD,
                source_time: None,
                received_at: at,
            })
            .collect()
    }

    fn set(records: &mut [Record], point: &str, f: impl Fn(f64) -> f64) {
        let r = records.iter_mut().find(|r| r.point.as_str() == point).unwrap();
        r.value = Value::Float(f(r.value.as_f64()) as f32);
    }

    fn now() -> Timestamp {
        Timestamp(1_800_000_000_000_000_000)
    }

    #[test]
    fn the_demo_points_map_to_per_unit_flows_currents_and_voltages_at_the_feeder_heads() {
        let (mut sub, mut checks) = demo(&[]);
        let latest = records(&mut sub, 0.0);
        let (built, _) = checks.network(&latest).unwrap();
        let mapped = checks.measurements(&built, &latest);
        let measured: Vec<&Mapped> = mapped.iter().filter(|m| m.origin == MeasurementOrigin::Measured).collect();
        let count = |f: fn(&Quantity) -> bool| measured.iter().filter(|m| f(&m.measurement.quantity)).count();
        assert_eq!(count(|q| matches!(q, Quantity::FlowP { .. })), 2);
        assert_eq!(count(|q| matches!(q, Quantity::FlowQ { .. })), 2);
        assert_eq!(count(|q| matches!(q, Quantity::CurrentMagnitude { .. })), 6);
        assert_eq!(count(|q| matches!(q, Quantity::VoltageMagnitude { .. })), 6);
        let value = |p: &str| latest.iter().find(|r| r.point.as_str() == p).unwrap().value.as_f64();
        let pu = |p: &str| measured.iter().find(|m| m.point.as_deref() == Some(p)).unwrap().measurement.value;
        // P in MW on a 100 MVA base; a phase voltage in kV on the 20 kV base (line-to-line).
        assert!((pu("F1/MMXU1.TotW") - value("F1/MMXU1.TotW") / 100.0).abs() < 1e-9);
        assert!((pu("F1/MMXU1.PhV.phsA") - value("F1/MMXU1.PhV.phsA") * 3f64.sqrt() / 20.0).abs() < 1e-9);
        // |S| = |V| |I| in per unit at the feeder head, within the simulator's noise.
        let s = pu("F1/MMXU1.TotW").hypot(pu("F1/MMXU1.TotVAr"));
        let vi = pu("F1/MMXU1.PhV.phsA") * pu("F1/MMXU1.A.phsA");
        assert!((s / vi - 1.0).abs() < 0.01, "S {s} against V·I {vi}");
        // Every unmeasured load has its pseudo-measurement pair, every other bus but the slack a zero injection.
        let pseudo = mapped.iter().filter(|m| m.origin == MeasurementOrigin::Pseudo).count();
        let zero = mapped.iter().filter(|m| m.origin == MeasurementOrigin::ZeroInjection).count();
        assert_eq!(pseudo + zero, 2 * (built.network.buses.len() - 1));
        assert!(pseudo >= 2 * 5, "five secondary substations with loads: {pseudo}");
    }

    #[test]
    fn normal_operation_passes_the_bad_data_test() {
        let (mut sub, mut checks) = demo(&[]);
        for t in [0.0, 150.0, 300.0, 450.0] {
            let outcome = checks.run(now(), &records(&mut sub, t));
            let r = &outcome.report;
            assert_eq!(r.error, None);
            assert!(r.passed, "at {t}s: J {} against {:?}", r.objective, r.threshold);
            assert!(outcome.findings.is_empty(), "{:?}", outcome.findings);
            assert_eq!(r.measurements.iter().filter(|m| m.origin == MeasurementOrigin::Measured).count(), 16);
            assert!(r.buses.iter().all(|b| (0.9..1.1).contains(&b.v_pu)), "{:?}", r.buses);
        }
    }

    #[test]
    fn a_crude_injection_on_one_feeders_active_power_is_detected_and_named() {
        let (mut sub, mut checks) = demo(&[]);
        let mut latest = records(&mut sub, 0.0);
        set(&mut latest, "F1/MMXU1.TotW", |p| p * 1.5);
        let outcome = checks.run(now(), &latest);
        assert!(!outcome.report.passed);
        assert!(outcome.report.objective > outcome.report.threshold.unwrap());
        match outcome.findings.first() {
            Some(Finding::BadData { point, normalised, onset }) => {
                assert_eq!(point, "F1/MMXU1.TotW");
                assert_eq!(*onset, Onset::Abrupt, "no check kept it before: abrupt");
                assert!(*normalised > 3.0, "r_N {normalised}");
            }
            other => panic!("expected the tampered point named first, got {other:?}"),
        }
        let bad: Vec<_> = outcome.report.measurements.iter().filter(|m| m.bad_data).collect();
        assert_eq!(bad[0].point.as_deref(), Some("F1/MMXU1.TotW"));
    }

    /// The required scenario: an attacker who knows the model and the estimate adds a = Hc to the
    /// measurements it can alter. The residual test does not see it, the estimate moves by c, and
    /// the attack alters exactly as many measurements as the security index the check reports.
    #[test]
    fn a_stealthy_injection_a_equals_hc_passes_the_test_and_alters_as_many_measurements_as_the_security_index() {
        let (mut sub, mut checks) = demo(&[]);
        let mut latest = records(&mut sub, 0.0);
        let before = checks.run(now(), &latest).report;
        assert!(before.passed);
        // Target: the magnitude of the bus at the end of feeder 2 (the last bus).
        let target = before.buses.len() - 1;
        let shift = 0.02;
        let attack = checks.stealthy_attack(&latest, StateVariable::Magnitude { bus: target }, shift, true).unwrap().unwrap();
        assert_eq!(attack.index, SecurityIndex::Exact(attack.changes.len()));
        let sigma = |point: &str| {
            let m = before.measurements.iter().find(|m| m.point.as_deref() == Some(point)).unwrap();
            m.sigma_pu / (m.value_pu / latest.iter().find(|r| r.point.as_str() == point).unwrap().value.as_f64())
        };
        let changes: Vec<(String, f64, f64)> = attack.changes.iter().map(|(p, d)| (p.clone(), *d, (d / sigma(p)).abs())).collect();
        // One value fewer than the index (the one changed most, in σ): the residual test sees it.
        // (Leaving out one that changes by less than its noise would pass: the index counts
        // perfectly stealthy attacks, see gridtrust_grid::security.)
        let most = changes.iter().enumerate().max_by(|a, b| a.1.2.total_cmp(&b.1.2)).map(|(k, _)| k).unwrap();
        let mut partial = latest.clone();
        for (_, (point, delta, _)) in changes.iter().enumerate().filter(|(k, _)| *k != most) {
            set(&mut partial, point, |x| x + delta);
        }
        assert!(!checks.run(now(), &partial).report.passed, "an attack on {} of {} values must be seen", changes.len() - 1, changes.len());
        for (point, delta, _) in &changes {
            set(&mut latest, point, |x| x + delta);
        }
        let altered_points: Vec<&String> = changes.iter().map(|(p, ..)| p).collect();
        let after = checks.run(now(), &latest);
        assert!(after.report.passed, "J {} against {:?}", after.report.objective, after.report.threshold);
        assert!(after.findings.is_empty(), "{:?}", after.findings);
        let bus = &after.report.buses[target];
        assert!(
            (bus.v_pu - before.buses[target].v_pu - shift).abs() < 2e-3,
            "estimate moved from {} to {}",
            before.buses[target].v_pu,
            bus.v_pu
        );
        // The cost the check reports for that bus is the number of values the attack altered.
        assert_eq!(bus.magnitude_attack, AttackCost::Exact { measurements: altered_points.len() });
        assert!(altered_points.iter().all(|p| !p.contains("/XCBR") && !p.contains("YLTC")), "{altered_points:?}");
    }

    #[test]
    fn a_slowly_drifting_value_fails_as_a_gradual_onset_and_a_sudden_change_as_an_abrupt_one() {
        let (mut sub, mut checks) = demo(&[]);
        let mut failed = Vec::new();
        for k in 0..100 {
            let mut latest = records(&mut sub, f64::from(k) * 2.0);
            // 0.05 % per check, a quarter of the voltage's σ: 5 % after 100 checks.
            set(&mut latest, "F2/MMXU1.PhV.phsB", |v| v * (1.0 + 5e-4 * f64::from(k)));
            failed.extend(checks.run(now(), &latest).findings);
        }
        assert!(!failed.is_empty(), "a 5 % drift fails the test");
        assert!(
            failed.iter().all(|f| matches!(f, Finding::BadData { point, onset: Onset::Gradual, .. } if point == "F2/MMXU1.PhV.phsB")),
            "{failed:?}"
        );
        assert!(failed.iter().all(|f| f.severity() == Severity::Minor));
        let mut latest = records(&mut sub, 200.0);
        set(&mut latest, "F2/MMXU1.PhV.phsB", |v| v * 1.05);
        set(&mut latest, "F1/MMXU1.A.phsA", |i| i * 1.4);
        let findings = checks.run(now(), &latest).findings;
        assert!(
            findings.iter().any(|f| matches!(f, Finding::BadData { point, onset: Onset::Abrupt, .. } if point == "F1/MMXU1.A.phsA")),
            "{findings:?}"
        );
    }

    #[test]
    fn values_signed_at_the_device_make_the_stealthy_injection_impossible() {
        let protected =
            ["F1/MMXU1.PhV.phsA", "F1/MMXU1.PhV.phsB", "F1/MMXU1.PhV.phsC", "F2/MMXU1.PhV.phsA", "F2/MMXU1.PhV.phsB", "F2/MMXU1.PhV.phsC"];
        let (mut sub, mut checks) = demo(&[]);
        let open = checks.run(now(), &records(&mut sub, 0.0)).report;
        assert!(
            open.buses.iter().all(|b| matches!(b.magnitude_attack, AttackCost::Exact { measurements } if measurements > 0)),
            "{:?}",
            open.buses
        );
        let (mut sub, mut checks) = demo(&protected);
        let report = checks.run(now(), &records(&mut sub, 0.0)).report;
        assert!(report.buses.iter().all(|b| b.magnitude_attack == AttackCost::Impossible), "{:?}", report.buses);
        assert_eq!(report.measurements.iter().filter(|m| m.origin == MeasurementOrigin::Measured && m.protected).count(), 6);
    }

    #[test]
    fn an_open_feeder_drops_out_and_a_reclosed_one_is_not_alarmed_before_its_values_follow() {
        let (mut sub, mut checks) = demo(&[]);
        sub.operate_breaker(1100, false).unwrap();
        let open = records(&mut sub, 0.0);
        let outcome = checks.run(now(), &open);
        assert_eq!(outcome.report.error, None);
        assert!(outcome.report.passed, "J {} against {:?}", outcome.report.objective, outcome.report.threshold);
        assert_eq!(outcome.report.measurements.iter().filter(|m| m.origin == MeasurementOrigin::Measured).count(), 8);
        // Reclosed: the position arrives before the feeder's values, which still read zero
        // against its loads' pseudo-measurements.
        let (breaker, position) = sub.operate_breaker(1100, true).unwrap();
        assert_eq!(breaker, 1010);
        let mut stale = open.clone();
        stale.iter_mut().find(|r| r.point.as_str() == "F1/XCBR1.Pos").unwrap().value = position;
        let settling = checks.run(now(), &stale);
        assert!(settling.report.settling);
        assert!(!settling.report.passed, "zero flows into a loaded feeder are bad data");
        assert!(settling.findings.is_empty(), "not alarmed while settling: {:?}", settling.findings);
        let outcome = checks.run(now(), &records(&mut sub, 1.0));
        assert!(!outcome.report.settling);
        assert!(outcome.report.passed, "J {} against {:?}", outcome.report.objective, outcome.report.threshold);
        assert_eq!(outcome.report.measurements.iter().filter(|m| m.origin == MeasurementOrigin::Measured).count(), 16);
    }

    #[test]
    fn a_warm_profile_flags_a_far_value_but_not_the_zeros_of_an_open_feeder() {
        let (mut sub, mut checks) = demo(&[]);
        for k in 0..PROFILE_WARM_UP {
            let outcome = checks.run(now(), &records(&mut sub, k as f64));
            assert!(outcome.findings.is_empty(), "{:?}", outcome.findings);
        }
        let warm = checks.run(now(), &records(&mut sub, 60.0));
        assert!(warm.findings.is_empty(), "{:?}", warm.findings);
        assert!(warm.report.profiles.iter().all(|p| p.score.is_some_and(|s| s < PROFILE_SCORE)), "{:?}", warm.report.profiles);
        let mut far = records(&mut sub, 61.0);
        set(&mut far, "F2/MMXU1.A.phsB", |i| i * 3.0);
        let outcome = checks.run(now(), &far);
        let profile: Vec<&Finding> = outcome.findings.iter().filter(|f| matches!(f, Finding::OutsideProfile { .. })).collect();
        assert_eq!(profile.len(), 1, "{:?}", outcome.findings);
        assert_eq!(profile[0].point(), "F2/MMXU1.A.phsB");
        sub.operate_breaker(1100, false).unwrap();
        let open = checks.run(now(), &records(&mut sub, 62.0));
        assert!(open.findings.is_empty(), "an open feeder reads zero, which is no finding: {:?}", open.findings);
        assert!(open.report.profiles.iter().all(|p| !p.point.starts_with("F1/")), "F1 is not judged while open");
    }

    #[test]
    fn profiles_warm_up_before_judging_and_then_flag_a_far_value() {
        let mut profiles = Profiles::default();
        let bucket = Bucket { weekend: false, hour: 10 };
        for i in 0..PROFILE_WARM_UP {
            let value = 3.0 + 0.01 * ((i * 7 % 11) as f64 - 5.0);
            assert_eq!(profiles.observe("F1/MMXU1.TotW", bucket, value), None, "no judgement during warm-up");
        }
        let normal = profiles.observe("F1/MMXU1.TotW", bucket, 3.02).unwrap();
        assert!(normal.score < PROFILE_SCORE, "{normal:?}");
        let far = profiles.observe("F1/MMXU1.TotW", bucket, 4.5).unwrap();
        assert!(far.score > PROFILE_SCORE, "{far:?}");
        // Another hour has learned nothing yet.
        assert_eq!(profiles.score("F1/MMXU1.TotW", Bucket { weekend: false, hour: 11 }, 4.5), None);
    }

    #[test]
    fn buckets_follow_utc_hours_and_weekends() {
        // 2026-12-05 was a Saturday; 2026-12-07 12:30 UTC a Monday.
        assert_eq!(Bucket::of(Timestamp(1_796_428_800 * 1_000_000_000)), Bucket { weekend: true, hour: 0 });
        assert_eq!(Bucket::of(Timestamp(1_796_646_600 * 1_000_000_000)), Bucket { weekend: false, hour: 12 });
    }
}
