//! A sans-IO model of the demo's distribution substation, Northfield ([`crate::grid`]): a 110/20 kV
//! transformer with an on-load tap changer and an energy counter, and feeders with breaker,
//! disconnector and P, Q, I, U per phase. Every value comes from an AC power flow on the shipped
//! CGMES model with the live switch and tap states and loads that follow a daily-like swing, so
//! P, Q, I and U agree with each other and an open breaker de-energises its feeder. Which
//! quantity each RTU point carries, and where, is read from the joined model: the point's CIM
//! measurement (type, phase, terminal) or equipment. Time goes in, changed points come out, so
//! tests and the demo drive it the same way.

use std::f64::consts::PI;

use gridtrust_cgmes::MeasurementKind;
use gridtrust_grid::cgmes::{BASE_MVA, Built, TapChanger, build};
use gridtrust_grid::{BusKind, C64, Options, Solution, solve};
use gridtrust_gridmodel::kinds::AnalogType;
use gridtrust_iec104_model::{CommandKind, CommandMap, MappingFile, MonitorKind, PointMap};
use gridtrust_model::{DoublePoint, PointId, Value};

use crate::grid::DemoGrid;

/// What to simulate.
#[derive(Clone, Debug)]
pub struct SubstationSpec {
    /// Common address of the RTU.
    pub common_address: u16,
}

impl Default for SubstationSpec {
    fn default() -> Self {
        Self { common_address: 1 }
    }
}

/// The demo grid's feeders (`grid/generate.py`), F1 and F2.
pub const FEEDERS: u32 = 2;

/// One simulated point: its identity, IEC 104 address and kind.
#[derive(Clone, Debug, PartialEq)]
pub struct SimPoint {
    pub id: PointId,
    pub ioa: u32,
    pub kind: MonitorKind,
    pub unit: &'static str,
}

/// Address plan: feeder n (1-based) uses IOAs n*1000 + offset; the transformer uses 9000+.
pub mod ioa {
    pub const P: u32 = 1;
    pub const Q: u32 = 2;
    pub const I_A: u32 = 3;
    pub const U_A: u32 = 6;
    pub const BREAKER: u32 = 10;
    pub const DISCONNECTOR: u32 = 11;
    pub const BREAKER_COMMAND: u32 = 100;
    pub const TAP: u32 = 9001;
    pub const ENERGY: u32 = 9002;
    pub const TAP_COMMAND: u32 = 9101;
}

fn pid(s: String) -> PointId {
    // Built from fixed, valid patterns; a failure here is a bug in this file.
    PointId::new(s).unwrap_or_else(|e| panic!("simulator point id: {e}"))
}

const PHASES: [&str; 3] = ["phsA", "phsB", "phsC"];

/// What an RTU point carries, read from the joined model.
#[derive(Clone, Debug, PartialEq)]
enum Source {
    /// A CIM Analog of this type at a terminal (a branch end).
    Measured { quantity: AnalogType, terminal: String },
    /// The position of a switch (its mRID).
    Switch(String),
    /// The transformer's tap position.
    Tap,
    /// Energy taken from the upstream grid (the slack injections), integrated.
    Energy,
}

/// The substation's state: the demo grid with its live switch, tap and load states.
pub struct Substation {
    spec: SubstationSpec,
    grid: DemoGrid,
    /// The source of each RTU point, by IOA.
    sources: Vec<(u32, Source)>,
    tap: TapChanger,
    /// Each load's SSH set point (MW, Mvar), by index in `grid.cgmes.loads`.
    base_loads: Vec<(f64, f64)>,
    energy_kwh: f64,
    last_t: Option<f64>,
    noise: u64,
}

/// Why an RTU point has no source in the demo grid (a bug in the shipped files or the address plan).
#[derive(Debug, thiserror::Error)]
#[error("simulated point {point}: {reason}")]
pub struct UnlinkedPoint {
    pub point: String,
    pub reason: String,
}

impl Substation {
    /// The demo grid in its SSH state: every switch as the model has it, the tap at its SSH step.
    pub fn new(spec: SubstationSpec) -> Self {
        // The grid files are compiled in and checked by this crate's tests; a failure is a bug.
        let grid = DemoGrid::load().unwrap_or_else(|e| panic!("{e}"));
        Self::from_grid(spec, grid).unwrap_or_else(|e| panic!("{e}"))
    }

    fn from_grid(spec: SubstationSpec, grid: DemoGrid) -> Result<Self, UnlinkedPoint> {
        let mut sources = Vec::new();
        for p in points() {
            let source = link(&grid, &p).map_err(|reason| UnlinkedPoint { point: p.id.to_string(), reason })?;
            sources.push((p.ioa, source));
        }
        let transformer = grid.cgmes.power_transformers.first().map(|t| t.equipment.identity.mrid.clone()).unwrap_or_default();
        let tap =
            grid.untyped.ratio_tap_changers(&grid.cgmes, &transformer).into_iter().next().ok_or_else(|| UnlinkedPoint {
                point: "T1/YLTC1.TapPos".into(),
                reason: "the transformer has no ratio tap changer".into(),
            })?;
        let base_loads = grid.cgmes.loads.iter().map(|l| (l.p_mw.unwrap_or(0.0), l.q_mvar.unwrap_or(0.0))).collect();
        Ok(Self { spec, grid, sources, tap, base_loads, energy_kwh: 0.0, last_t: None, noise: 0x9e37_79b9_7f4a_7c15 })
    }

    /// The spec it was built from.
    pub fn spec(&self) -> &SubstationSpec {
        &self.spec
    }

    /// Every monitored point.
    pub fn points(&self) -> Vec<SimPoint> {
        points()
    }

    /// Every controllable point: feeder breakers (double command, SBO) and the tap changer
    /// (regulating step, SBO).
    pub fn commands(&self) -> Vec<CommandMap> {
        let mut v: Vec<CommandMap> = (1..=FEEDERS)
            .map(|f| CommandMap {
                id: pid(format!("F{f}/XCBR1.Pos")),
                ioa: f * 1000 + ioa::BREAKER_COMMAND,
                kind: CommandKind::Double,
                sbo: true,
            })
            .collect();
        v.push(CommandMap { id: pid("T1/YLTC1.TapPos".into()), ioa: ioa::TAP_COMMAND, kind: CommandKind::Step, sbo: true });
        v
    }

    /// The mapping an edge uses to read this RTU (RTU addresses as they are).
    pub fn mapping(&self) -> MappingFile {
        let points = self
            .points()
            .into_iter()
            .map(|p| PointMap {
                id: p.id,
                ioa: p.ioa,
                kind: p.kind,
                unit: Some(p.unit.to_owned()).filter(|u| !u.is_empty()),
                scale: None,
                offset: 0.0,
                group: None,
            })
            .collect();
        // The address plan above has no duplicates, so indexing cannot fail.
        MappingFile::from_entries(points, self.commands()).unwrap_or_else(|e| panic!("simulator mapping: {e}"))
    }

    /// Starts the measurement noise from `seed` (runs with different seeds differ in noise only).
    pub fn seed_noise(&mut self, seed: u64) {
        // xorshift needs a non-zero state.
        self.noise = (seed ^ 0x9e37_79b9_7f4a_7c15).max(1);
    }

    fn rand(&mut self) -> f64 {
        // xorshift64*: deterministic, good enough for measurement noise.
        self.noise ^= self.noise >> 12;
        self.noise ^= self.noise << 25;
        self.noise ^= self.noise >> 27;
        let x = self.noise.wrapping_mul(0x2545_f491_4f6c_dd1d);
        (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    }

    /// The power flow of the grid at `t` seconds: each load at its SSH set point times a slow
    /// daily-like swing (a ten-minute period, each load in its own phase).
    fn solve_at(&mut self, t: f64) -> Option<(Built, Solution)> {
        for (i, (load, &(p, q))) in self.grid.cgmes.loads.iter_mut().zip(&self.base_loads).enumerate() {
            let swing = 1.0 + 0.15 * (2.0 * PI * t / 600.0 + i as f64 * 0.7).sin();
            load.p_mw = Some(p * swing);
            load.q_mvar = Some(q * swing);
        }
        let built = build(&self.grid.cgmes, &self.grid.untyped).map_err(|e| tracing::warn!("demo grid: {e}")).ok()?;
        let solution = solve(&built.network, &Options::default()).map_err(|e| tracing::warn!("demo grid power flow: {e}")).ok()?;
        Some((built, solution))
    }

    /// Advances to `t` seconds and returns every measurement's new value (statuses only change
    /// through commands), from the power flow with a little measurement noise. A de-energised
    /// terminal reads zero; energy integrates what the upstream grid supplies.
    pub fn measure(&mut self, t: f64) -> Vec<(u32, Value)> {
        let dt = self.last_t.map_or(0.0, |l| (t - l).max(0.0));
        self.last_t = Some(t);
        let Some((built, solution)) = self.solve_at(t) else { return Vec::new() };
        let supplied_mw: f64 =
            built.network.buses.iter().zip(&solution.s).filter(|(b, _)| b.kind == BusKind::Slack).map(|(_, s)| s.re * BASE_MVA).sum();
        self.energy_kwh += supplied_mw.max(0.0) * 1000.0 * dt / 3600.0;
        let measured: Vec<(u32, AnalogType, String)> = self
            .sources
            .iter()
            .filter_map(|(ioa, s)| match s {
                Source::Measured { quantity, terminal } => Some((*ioa, *quantity, terminal.clone())),
                _ => None,
            })
            .collect();
        let mut out = Vec::with_capacity(measured.len());
        for (ioa, quantity, terminal) in measured {
            let exact = self.at_terminal(&built, &solution, &terminal, quantity);
            let noise = match quantity {
                AnalogType::PhaseVoltage => 0.001,
                _ => 0.004,
            };
            out.push((ioa, Value::Float((exact * (1.0 + noise * self.rand())) as f32)));
        }
        out
    }

    /// A quantity at a branch terminal from the solved flow; zero where the terminal is
    /// de-energised (its branch or bus is not in the energised network).
    fn at_terminal(&self, built: &Built, solution: &Solution, terminal: &str, quantity: AnalogType) -> f64 {
        let cgmes = &self.grid.cgmes;
        let Some(t) = cgmes.terminals.iter().find(|t| t.identity.mrid == terminal) else { return 0.0 };
        let node = t.topological_node.as_deref().or_else(|| {
            let cn = t.connectivity_node.as_deref()?;
            cgmes.connectivity_nodes.iter().find(|c| c.identity.mrid == cn)?.topological_node.as_deref()
        });
        let Some(&bus) = node.and_then(|n| built.bus_of_node.get(n)) else { return 0.0 };
        let base_kv = built.network.buses[bus].base_kv;
        let v = |b: usize| C64::polar(solution.v[b], solution.theta[b]);
        if quantity == AnalogType::PhaseVoltage {
            return solution.v[bus] * base_kv / 3f64.sqrt();
        }
        let equipment = t.conducting_equipment.as_deref().unwrap_or_default();
        let Some(branch) = built.network.branches.iter().find(|b| b.id == equipment && (b.from == bus || b.to == bus)) else { return 0.0 };
        let [yff, yft, ytf, ytt] = branch.admittances();
        let current =
            if branch.from == bus { yff * v(branch.from) + yft * v(branch.to) } else { ytf * v(branch.from) + ytt * v(branch.to) };
        let power = v(bus) * current.conj();
        match quantity {
            AnalogType::ActivePower => power.re * BASE_MVA,
            AnalogType::ReactivePower => power.im * BASE_MVA,
            AnalogType::LineCurrent => current.abs() * BASE_MVA / (3f64.sqrt() * base_kv) * 1000.0,
            AnalogType::PhaseVoltage => unreachable!("handled above"),
        }
    }

    fn switch_open(&self, mrid: &str) -> bool {
        self.grid
            .cgmes
            .switches
            .iter()
            .find(|s| s.equipment.identity.mrid == mrid)
            .is_some_and(|s| s.open.or(s.normal_open).unwrap_or(false))
    }

    /// Every status and counter, for the first transmission after start.
    pub fn statuses(&self) -> Vec<(u32, Value)> {
        self.sources
            .iter()
            .filter_map(|(ioa, s)| match s {
                Source::Switch(mrid) => Some((*ioa, position(!self.switch_open(mrid)))),
                Source::Tap => Some((*ioa, Value::Step { position: self.tap.step as i8, transient: false })),
                Source::Energy => Some((*ioa, self.energy())),
                Source::Measured { .. } => None,
            })
            .collect()
    }

    /// The energy counter's current reading.
    pub fn energy(&self) -> Value {
        Value::Counter { value: self.energy_kwh as i32, sequence: 0, carry: false, adjusted: false }
    }

    /// Operates a feeder breaker; returns the new position's (ioa, value), or `None` when the
    /// command IOA is not a breaker.
    pub fn operate_breaker(&mut self, command_ioa: u32, close: bool) -> Option<(u32, Value)> {
        let f = command_ioa.checked_sub(ioa::BREAKER_COMMAND)? / 1000;
        if command_ioa != f * 1000 + ioa::BREAKER_COMMAND || f == 0 {
            return None;
        }
        let position_ioa = f * 1000 + ioa::BREAKER;
        let Some((_, Source::Switch(mrid))) = self.sources.iter().find(|(i, _)| *i == position_ioa) else { return None };
        let switch = self.grid.cgmes.switches.iter_mut().find(|s| s.equipment.identity.mrid == *mrid)?;
        switch.open = Some(!close);
        Some((position_ioa, position(close)))
    }

    /// Moves the tap one step; `None` at the end of the tap changer's range.
    pub fn step_tap(&mut self, raise: bool) -> Option<(u32, Value)> {
        let next = if raise { self.tap.step + 1 } else { self.tap.step - 1 };
        self.grid.untyped.set_tap_step(&self.tap.mrid, next).ok()?;
        self.tap.step = next;
        Some((ioa::TAP, Value::Step { position: next as i8, transient: false }))
    }

    /// The tap changer's range, lowest and highest step.
    pub fn tap_range(&self) -> (i64, i64) {
        (self.tap.low, self.tap.high)
    }
}

fn position(closed: bool) -> Value {
    Value::Double(if closed { DoublePoint::On } else { DoublePoint::Off })
}

/// Every monitored point of the address plan.
fn points() -> Vec<SimPoint> {
    let mut v = Vec::new();
    for f in 1..=FEEDERS {
        let base = f * 1000;
        let ld = format!("F{f}");
        v.push(SimPoint { id: pid(format!("{ld}/MMXU1.TotW")), ioa: base + ioa::P, kind: MonitorKind::Float, unit: "MW" });
        v.push(SimPoint { id: pid(format!("{ld}/MMXU1.TotVAr")), ioa: base + ioa::Q, kind: MonitorKind::Float, unit: "Mvar" });
        for (i, ph) in PHASES.iter().enumerate() {
            let i = i as u32;
            v.push(SimPoint { id: pid(format!("{ld}/MMXU1.A.{ph}")), ioa: base + ioa::I_A + i, kind: MonitorKind::Float, unit: "A" });
            v.push(SimPoint { id: pid(format!("{ld}/MMXU1.PhV.{ph}")), ioa: base + ioa::U_A + i, kind: MonitorKind::Float, unit: "kV" });
        }
        v.push(SimPoint { id: pid(format!("{ld}/XCBR1.Pos")), ioa: base + ioa::BREAKER, kind: MonitorKind::Double, unit: "" });
        v.push(SimPoint { id: pid(format!("{ld}/XSWI1.Pos")), ioa: base + ioa::DISCONNECTOR, kind: MonitorKind::Double, unit: "" });
    }
    v.push(SimPoint { id: pid("T1/YLTC1.TapPos".into()), ioa: ioa::TAP, kind: MonitorKind::Step, unit: "" });
    v.push(SimPoint { id: pid("T1/MMTR1.SupWh".into()), ioa: ioa::ENERGY, kind: MonitorKind::Counter, unit: "kWh" });
    v
}

/// Where a point's value comes from: its model point's CIM measurement (analogs) or equipment
/// (switch positions); the tap and the energy counter by their logical node classes.
fn link(grid: &DemoGrid, point: &SimPoint) -> Result<Source, String> {
    let info = grid.joined.resolve_point(point.id.as_str()).point().cloned().ok_or("no model point has this data object")?;
    let ln_class = point.id.as_str().split('/').nth(1).and_then(|ln| ln.split('.').next()).unwrap_or("");
    match ln_class.trim_end_matches(|c: char| c.is_ascii_digit()) {
        "YLTC" => return Ok(Source::Tap),
        "MMTR" => return Ok(Source::Energy),
        "XCBR" | "XSWI" => {
            let equipment = info.cim.equipment.ok_or("the model links no equipment")?;
            return grid
                .cgmes
                .switches
                .iter()
                .any(|s| s.equipment.identity.mrid == equipment)
                .then_some(Source::Switch(equipment))
                .ok_or_else(|| "its equipment is not a switch".to_owned());
        }
        _ => {}
    }
    let mrid = info.cim.measurement.ok_or("the model links no CIM measurement")?;
    let m = grid.cgmes.measurements.iter().find(|m| m.identity.mrid == mrid).ok_or("its CIM measurement is not in the CGMES model")?;
    if m.kind != MeasurementKind::Analog {
        return Err(format!("CIM measurement {mrid} is not an Analog"));
    }
    let quantity = m
        .measurement_type
        .as_deref()
        .and_then(AnalogType::of)
        .ok_or_else(|| format!("measurementType {:?} is not simulated", m.measurement_type))?;
    let terminal = m.terminal.clone().ok_or_else(|| format!("CIM measurement {mrid} has no terminal"))?;
    Ok(Source::Measured { quantity, terminal })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(v: &[(u32, Value)], ioa: u32) -> f64 {
        v.iter().find(|(i, _)| *i == ioa).unwrap_or_else(|| panic!("no value at {ioa}")).1.as_f64()
    }

    #[test]
    fn every_point_is_linked_to_the_model() {
        let s = Substation::new(SubstationSpec::default());
        assert_eq!(s.sources.len(), s.points().len());
        let measured = s.sources.iter().filter(|(_, src)| matches!(src, Source::Measured { .. })).count();
        assert_eq!(measured, 16, "P, Q, 3 I and 3 U on each of two feeders");
    }

    #[test]
    fn opening_a_breaker_de_energises_its_feeder_only() {
        let mut s = Substation::new(SubstationSpec::default());
        let before = s.measure(0.0);
        assert!(at(&before, 1001) > 1.0 && at(&before, 2001) > 1.0);
        assert_eq!(s.operate_breaker(1100, false), Some((1010, Value::Double(DoublePoint::Off))));
        let after = s.measure(1.0);
        for ioa in [1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008] {
            assert_eq!(at(&after, ioa), 0.0, "IOA {ioa} of the open feeder");
        }
        assert!(at(&after, 2001) > 1.0);
        assert!(s.operate_breaker(1101, true).is_none());
        assert_eq!(s.statuses().iter().find(|(i, _)| *i == 1010).map(|(_, v)| *v), Some(Value::Double(DoublePoint::Off)));
    }

    #[test]
    fn power_current_and_voltage_agree_like_a_power_flow() {
        let mut s = Substation::new(SubstationSpec::default());
        for t in [0.0, 150.0, 300.0, 450.0] {
            let v = s.measure(t);
            for f in 1..=FEEDERS {
                let base = f * 1000;
                let (p, q) = (at(&v, base + ioa::P), at(&v, base + ioa::Q));
                let u = at(&v, base + ioa::U_A);
                let i = at(&v, base + ioa::I_A);
                // S = 3 · U_phase · I within the measurement noise (0.4 % on P, Q, I; 0.1 % on U).
                let s_mva = (p * p + q * q).sqrt();
                let from_ui = 3.0 * u * i / 1000.0;
                assert!((s_mva / from_ui - 1.0).abs() < 0.015, "feeder {f} at {t}s: S {s_mva} MVA against 3UI {from_ui}");
                assert!((10.5..12.5).contains(&u), "phase voltage {u} kV");
                assert!(p > 0.5 && q > 0.0, "feeder {f} supplies load: P {p}, Q {q}");
            }
        }
    }

    #[test]
    fn energy_accumulates_what_the_grid_supplies() {
        let mut s = Substation::new(SubstationSpec::default());
        let mut feeders_mw = 0.0;
        for t in 0..=60 {
            let v = s.measure(f64::from(t) * 60.0);
            if t > 0 {
                feeders_mw += at(&v, 1001) + at(&v, 2001);
            }
        }
        let Value::Counter { value, .. } = s.energy() else { panic!("the energy point is a counter") };
        // An hour of minute steps: the supplied energy is the feeders' load plus the losses.
        let feeders_kwh = feeders_mw * 1000.0 / 60.0;
        assert!(f64::from(value) > feeders_kwh && f64::from(value) < feeders_kwh * 1.05, "{value} kWh against feeders {feeders_kwh}");
    }

    #[test]
    fn tap_raises_voltage_and_stops_at_the_end_of_its_range() {
        let mut s = Substation::new(SubstationSpec::default());
        let u0 = at(&s.measure(0.0), 1006);
        s.step_tap(true).unwrap();
        let u1 = at(&s.measure(0.0), 1006);
        assert!(u1 > u0 * 1.01, "one step is 1.5 %: {u0} -> {u1}");
        let (_, high) = s.tap_range();
        while s.tap.step < high {
            s.step_tap(true).unwrap();
        }
        assert!(s.step_tap(true).is_none());
        assert!(s.mapping().point_at(ioa::TAP).is_some());
    }
}
