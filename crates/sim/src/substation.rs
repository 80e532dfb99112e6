//! A sans-IO model of a small distribution substation: a transformer with an on-load tap
//! changer and an energy counter, and feeders with breaker, disconnector and P, Q, I, U per
//! phase. Time goes in, changed points come out, so tests and the demo drive it the same way.

use std::f64::consts::PI;

use gridtrust_iec104_model::{CommandKind, CommandMap, MappingFile, MonitorKind, PointMap};
use gridtrust_model::{DoublePoint, PointId, Value};

/// What to simulate.
#[derive(Clone, Debug)]
pub struct SubstationSpec {
    /// Number of feeders (at least 1).
    pub feeders: u32,
    /// Nominal voltage in kV.
    pub nominal_kv: f64,
    /// Common address of the RTU.
    pub common_address: u16,
}

impl Default for SubstationSpec {
    fn default() -> Self {
        Self { feeders: 2, nominal_kv: 20.0, common_address: 1 }
    }
}

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

/// The substation's state.
pub struct Substation {
    spec: SubstationSpec,
    breaker_closed: Vec<bool>,
    tap: i8,
    energy_kwh: f64,
    last_t: Option<f64>,
    noise: u64,
}

impl Substation {
    /// A substation with every breaker closed and the tap at neutral.
    pub fn new(spec: SubstationSpec) -> Self {
        let n = spec.feeders.max(1) as usize;
        Self { spec, breaker_closed: vec![true; n], tap: 0, energy_kwh: 0.0, last_t: None, noise: 0x9e37_79b9_7f4a_7c15 }
    }

    /// The spec it was built from.
    pub fn spec(&self) -> &SubstationSpec {
        &self.spec
    }

    /// Every monitored point.
    pub fn points(&self) -> Vec<SimPoint> {
        let mut v = Vec::new();
        for f in 1..=self.spec.feeders.max(1) {
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

    /// Every controllable point: feeder breakers (double command, SBO) and the tap changer
    /// (regulating step, SBO).
    pub fn commands(&self) -> Vec<CommandMap> {
        let mut v: Vec<CommandMap> = (1..=self.spec.feeders.max(1))
            .map(|f| CommandMap { id: pid(format!("F{f}/XCBR1.Pos")), ioa: f * 1000 + ioa::BREAKER_COMMAND, kind: CommandKind::Double, sbo: true })
            .collect();
        v.push(CommandMap { id: pid("T1/YLTC1.TapPos".into()), ioa: ioa::TAP_COMMAND, kind: CommandKind::Step, sbo: true });
        v
    }

    /// The mapping an edge uses to read this RTU (RTU addresses as they are).
    pub fn mapping(&self) -> MappingFile {
        let points = self
            .points()
            .into_iter()
            .map(|p| PointMap { id: p.id, ioa: p.ioa, kind: p.kind, unit: Some(p.unit.to_owned()).filter(|u| !u.is_empty()), scale: None, offset: 0.0, group: None })
            .collect();
        // The address plan above has no duplicates, so indexing cannot fail.
        MappingFile::from_entries(points, self.commands()).unwrap_or_else(|e| panic!("simulator mapping: {e}"))
    }

    fn rand(&mut self) -> f64 {
        // xorshift64*: deterministic, good enough for measurement noise.
        self.noise ^= self.noise >> 12;
        self.noise ^= self.noise << 25;
        self.noise ^= self.noise >> 27;
        let x = self.noise.wrapping_mul(0x2545_f491_4f6c_dd1d);
        (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    }

    /// Advances to `t` seconds and returns every measurement's new value (statuses only change
    /// through commands). Loads follow a slow daily-like swing plus noise; an open breaker zeroes
    /// its feeder; the tap moves the voltage by 1.25 % per step.
    pub fn measure(&mut self, t: f64) -> Vec<(u32, Value)> {
        let dt = self.last_t.map_or(0.0, |l| (t - l).max(0.0));
        self.last_t = Some(t);
        let u_ll = self.spec.nominal_kv * (1.0 + 0.0125 * f64::from(self.tap));
        let mut out = Vec::new();
        let mut total_mw = 0.0;
        for f in 0..self.breaker_closed.len() {
            let base = (f as u32 + 1) * 1000;
            let closed = self.breaker_closed[f];
            let nominal_mw = 3.0 + 1.5 * f as f64;
            let swing = 1.0 + 0.15 * (2.0 * PI * t / 600.0 + f as f64).sin();
            let p = if closed { nominal_mw * swing * (1.0 + 0.01 * self.rand()) } else { 0.0 };
            let q = p * 0.33 * (1.0 + 0.02 * self.rand());
            total_mw += p;
            out.push((base + ioa::P, Value::Float(p as f32)));
            out.push((base + ioa::Q, Value::Float(q as f32)));
            let s_mva = (p * p + q * q).sqrt();
            for ph in 0..3u32 {
                let u_phase = u_ll / 3f64.sqrt() * (1.0 + 0.003 * self.rand());
                let i = if closed { s_mva * 1000.0 / (3.0 * u_phase) * (1.0 + 0.02 * self.rand()) } else { 0.0 };
                out.push((base + ioa::I_A + ph, Value::Float(i as f32)));
                out.push((base + ioa::U_A + ph, Value::Float(u_phase as f32)));
            }
        }
        self.energy_kwh += total_mw * 1000.0 * dt / 3600.0;
        out
    }

    /// Every status and counter, for the first transmission after start.
    pub fn statuses(&self) -> Vec<(u32, Value)> {
        let mut out = Vec::new();
        for (f, &closed) in self.breaker_closed.iter().enumerate() {
            let base = (f as u32 + 1) * 1000;
            out.push((base + ioa::BREAKER, Value::Double(if closed { DoublePoint::On } else { DoublePoint::Off })));
            out.push((base + ioa::DISCONNECTOR, Value::Double(DoublePoint::On)));
        }
        out.push((ioa::TAP, Value::Step { position: self.tap, transient: false }));
        out.push((ioa::ENERGY, self.energy()));
        out
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
        let slot = self.breaker_closed.get_mut(f as usize - 1)?;
        *slot = close;
        Some((f * 1000 + ioa::BREAKER, Value::Double(if close { DoublePoint::On } else { DoublePoint::Off })))
    }

    /// Moves the tap one step; `None` at the end of the range (-16..=16).
    pub fn step_tap(&mut self, raise: bool) -> Option<(u32, Value)> {
        let next = if raise { self.tap + 1 } else { self.tap - 1 };
        if !(-16..=16).contains(&next) {
            return None;
        }
        self.tap = next;
        Some((ioa::TAP, Value::Step { position: next, transient: false }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opening_a_breaker_zeroes_its_feeder_only() {
        let mut s = Substation::new(SubstationSpec::default());
        let before = s.measure(0.0);
        let p = |v: &[(u32, Value)], ioa: u32| v.iter().find(|(i, _)| *i == ioa).unwrap().1.as_f64();
        assert!(p(&before, 1001) > 1.0 && p(&before, 2001) > 1.0);
        assert_eq!(s.operate_breaker(1100, false), Some((1010, Value::Double(DoublePoint::Off))));
        let after = s.measure(1.0);
        assert_eq!(p(&after, 1001), 0.0);
        assert_eq!(p(&after, 1003), 0.0);
        assert!(p(&after, 2001) > 1.0);
        assert!(s.operate_breaker(1101, true).is_none());
    }

    #[test]
    fn measurements_are_plausible_and_energy_accumulates() {
        let mut s = Substation::new(SubstationSpec::default());
        for t in 0..3600 {
            for (ioa, v) in s.measure(f64::from(t)) {
                let x = v.as_f64();
                match ioa % 1000 {
                    ioa::P => assert!((2.0..6.0).contains(&x), "P {x}"),
                    6..=8 => assert!((11.0..12.2).contains(&x), "U {x}"),
                    3..=5 => assert!((50.0..250.0).contains(&x), "I {x}"),
                    _ => {}
                }
            }
        }
        let Value::Counter { value, .. } = s.energy() else { panic!() };
        assert!((7000..9000).contains(&value), "about 7.5 MWh in an hour, got {value} kWh");
    }

    #[test]
    fn tap_raises_voltage_and_stops_at_the_end() {
        let mut s = Substation::new(SubstationSpec::default());
        let u0 = s.measure(0.0).iter().find(|(i, _)| *i == 1006).unwrap().1.as_f64();
        s.step_tap(true).unwrap();
        let u1 = s.measure(1.0).iter().find(|(i, _)| *i == 1006).unwrap().1.as_f64();
        assert!(u1 > u0 * 1.005);
        for _ in 0..15 {
            s.step_tap(true).unwrap();
        }
        assert!(s.step_tap(true).is_none());
        assert!(s.mapping().point_at(ioa::TAP).is_some());
    }
}
