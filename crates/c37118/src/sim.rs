//! A small PMU simulator for the demo and the tests: a plausible 50 Hz three-phase feeder
//! (20 kV line-to-line, about 150 A at power factor 0.98) whose frequency wanders ±50 mHz over 20 s,
//! so angles rotate and ROCOF is non-zero, with active and reactive power as analogs and a
//! breaker position in a digital word. Several PMUs in one stream make it a PDC.

use std::f64::consts::{PI, TAU};

use gridtrust_model::Timestamp;

use crate::config::{
    AnalogChannel, AnalogUnit, ConfigFrame, ConfigKind, DataFormat, DigitalWord, PhasorChannel, PhasorKind, PhasorUnit, StationConfig,
};
use crate::data::{Phasor, Stat, StationData};
use crate::frame::{FrameTime, VERSION_2011};
use crate::server::{MeasurementSource, PmuServer};
use gridtrust_model::num;

/// One simulated PMU in the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimStation {
    pub name: String,
    pub idcode: u16,
    pub format: DataFormat,
}

/// What the simulator streams.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimSpec {
    /// The stream's IDCODE.
    pub idcode: u16,
    /// Frames per second.
    pub data_rate: i16,
    pub stations: Vec<SimStation>,
}

impl SimSpec {
    /// One PMU named `name` with float polar phasors, at `rate` frames per second.
    pub fn single(idcode: u16, name: &str, rate: i16) -> Self {
        let format = DataFormat { polar: true, phasors_float: true, analogs_float: true, frequency_float: true };
        Self { idcode, data_rate: rate, stations: vec![SimStation { name: name.into(), idcode, format }] }
    }

    /// The CFG-2 this simulator describes itself with (`as_kind` gives CFG-1 and CFG-3).
    pub fn config(&self) -> ConfigFrame {
        let phasor = |name: &str, kind, factor| PhasorChannel { name: name.into(), unit: PhasorUnit::Factor { kind, factor } };
        let stations = self
            .stations
            .iter()
            .map(|s| StationConfig {
                name: s.name.clone(),
                idcode: s.idcode,
                format: s.format,
                phasors: vec![
                    // 1 V per bit for voltages, 0.01 A per bit for currents (integer formats).
                    phasor("VA", PhasorKind::Voltage, 100_000),
                    phasor("VB", PhasorKind::Voltage, 100_000),
                    phasor("VC", PhasorKind::Voltage, 100_000),
                    phasor("IA", PhasorKind::Current, 1_000),
                    phasor("IB", PhasorKind::Current, 1_000),
                    phasor("IC", PhasorKind::Current, 1_000),
                ],
                analogs: vec![
                    AnalogChannel { name: "P_KW".into(), unit: AnalogUnit::Factor { kind: 1, factor: 0 } },
                    AnalogChannel { name: "Q_KVAR".into(), unit: AnalogUnit::Factor { kind: 1, factor: 0 } },
                ],
                digitals: vec![DigitalWord {
                    names: (0..16).map(|i| if i == 0 { "BRK_CLOSED".to_owned() } else { format!("SPARE{i}") }).collect(),
                    normal: 0x0001,
                    valid: 0x0001,
                }],
                nominal_hz: 50,
                cfgcnt: 1,
                extras: None,
            })
            .collect();
        ConfigFrame {
            kind: ConfigKind::Cfg2,
            version: VERSION_2011,
            idcode: self.idcode,
            time: FrameTime::default(),
            time_base: 1_000_000,
            data_rate: self.data_rate,
            stations,
        }
    }

    /// A ready PMU server state machine for one connection.
    pub fn server(&self) -> PmuServer<ThreePhaseSignal> {
        let header =
            format!("gridtrust PMU simulator: {} PMU(s), 50 Hz three-phase feeder, {} frames/s", self.stations.len(), self.data_rate);
        PmuServer::new(self.config(), header, ThreePhaseSignal)
    }
}

/// The simulated feeder; stateless, so every connection sees the same grid at the same instant.
#[derive(Clone, Copy, Debug, Default)]
pub struct ThreePhaseSignal;

/// Line-to-neutral voltage of a 20 kV feeder.
const VOLTAGE_LN: f64 = 20_000.0 / 1.732_050_807_568_877_2;
const FREQUENCY_SWING_HZ: f64 = 0.05;
const SWING_PERIOD_S: f64 = 20.0;
const POWER_FACTOR_ANGLE: f64 = 0.2;

impl ThreePhaseSignal {
    /// Frequency (Hz), ROCOF (Hz/s) and the phase-A voltage angle (rad) at `t` seconds.
    fn frequency(t: f64) -> (f64, f64, f64) {
        let w = TAU / SWING_PERIOD_S;
        let f = 50.0 + FREQUENCY_SWING_HZ * (w * t).sin();
        let rocof = FREQUENCY_SWING_HZ * w * (w * t).cos();
        // The angle against a 50 Hz reference is 2π ∫ (f − 50) dt.
        let angle = -TAU * FREQUENCY_SWING_HZ / w * (w * t).cos();
        (f, rocof, angle)
    }
}

fn wrap(a: f64) -> f32 {
    num::to_f32((a + PI).rem_euclid(TAU) - PI)
}

impl MeasurementSource for ThreePhaseSignal {
    fn measure(&mut self, at: Timestamp, stations: &mut [StationData]) {
        // Seconds within a day keep f64 precision while staying continuous for a long demo.
        let t = (at.unix_nanos().rem_euclid(86_400 * 1_000_000_000)) as f64 * 1e-9;
        let (f, rocof, angle_a) = Self::frequency(t);
        for (i, s) in stations.iter_mut().enumerate() {
            let k = i as f64;
            // Each PMU further down the feeder: a little lower voltage, a little more lag.
            let v = VOLTAGE_LN * (1.0 - 0.005 * k);
            let current = 150.0 + 10.0 * (TAU * t / 60.0).sin() - 5.0 * k;
            let base = angle_a - 0.05 * k;
            for (n, p) in s.phasors.iter_mut().enumerate() {
                let phase = -TAU / 3.0 * (n % 3) as f64;
                *p = if n < 3 {
                    Phasor { magnitude: num::to_f32(v), angle: wrap(base + phase) }
                } else {
                    Phasor { magnitude: num::to_f32(current), angle: wrap(base + phase - POWER_FACTOR_ANGLE) }
                };
            }
            s.frequency = num::to_f32(f);
            s.rocof = num::to_f32(rocof);
            let apparent_kva = 3.0 * v * current / 1000.0;
            if let [p, q, ..] = s.analogs.as_mut_slice() {
                *p = num::to_f32(apparent_kva * POWER_FACTOR_ANGLE.cos());
                *q = num::to_f32(apparent_kva * POWER_FACTOR_ANGLE.sin());
            }
            if let Some(d) = s.digitals.first_mut() {
                *d = 0x0001;
            }
            s.stat = Stat(0);
        }
    }
}
