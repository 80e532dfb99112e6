//! Data frames: per PMU a STAT word, phasors, frequency, ROCOF, analogs and digital words, laid
//! out as the configuration's FORMAT says. Values come out in engineering units (volts,
//! amperes, radians, hertz, hertz per second); missing values (NaN, or 0x8000 in integer
//! formats) come out as NaN.

use crate::config::{ConfigFrame, StationConfig};
use crate::frame::{DecodeError, EncodeError, FrameTime, FrameType, RawFrame, Reader, VERSION_2011, encode_frame};
use gridtrust_model::num;

/// The 16-bit STAT word of one PMU's data block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Stat(pub u16);

/// STAT bits 15–14.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataError {
    /// 00: good measurement data, no errors.
    Good,
    /// 01: PMU error, no information about the data.
    PmuErrorNoInformation,
    /// 10: PMU in test mode, or absent data tags inserted by a PDC (do not use values).
    TestModeOrAbsent,
    /// 11: PMU error (do not use values).
    PmuError,
}

impl Stat {
    pub const fn data_error(self) -> DataError {
        match self.0 >> 14 {
            0 => DataError::Good,
            1 => DataError::PmuErrorNoInformation,
            2 => DataError::TestModeOrAbsent,
            _ => DataError::PmuError,
        }
    }

    /// Bit 13: the PMU lost time synchronisation.
    pub const fn sync_lost(self) -> bool {
        self.0 & 0x2000 != 0
    }

    /// Bit 12: data sorted by arrival instead of by timestamp (a PDC filled in late data).
    pub const fn sorted_by_arrival(self) -> bool {
        self.0 & 0x1000 != 0
    }

    /// Bit 11: a trigger was detected (reason in bits 3–0).
    pub const fn trigger(self) -> bool {
        self.0 & 0x0800 != 0
    }

    /// Bit 10: the configuration will change within a minute; fetch it again.
    pub const fn config_change_pending(self) -> bool {
        self.0 & 0x0400 != 0
    }

    /// Bit 9 (2011): data were modified by a post-processing device.
    pub const fn data_modified(self) -> bool {
        self.0 & 0x0200 != 0
    }

    /// Bits 8–6 (2011): the PMU's largest time error in seconds, `None` when not stated (000) or
    /// over 10 ms / unknown (111 gives `Some(INFINITY)`).
    pub fn time_error_bound_s(self) -> Option<f64> {
        match (self.0 >> 6) & 0x7 {
            0 => None,
            7 => Some(f64::INFINITY),
            // 001 < 100 ns, 010 < 1 µs, ... 110 < 10 ms.
            code => Some(10f64.powi(i32::from(code) - 8)),
        }
    }

    /// Bits 5–4: time since synchronisation was lost (0: locked or under 10 s).
    pub const fn unlocked_time_code(self) -> u8 {
        ((self.0 >> 4) & 0x3) as u8
    }

    /// Bits 3–0: why the trigger fired.
    pub const fn trigger_reason(self) -> u8 {
        (self.0 & 0xf) as u8
    }
}

/// A phasor in volts or amperes and radians.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Phasor {
    pub magnitude: f32,
    pub angle: f32,
}

impl Phasor {
    /// From real and imaginary parts.
    pub fn from_rectangular(real: f32, imaginary: f32) -> Self {
        Self { magnitude: real.hypot(imaginary), angle: imaginary.atan2(real) }
    }

    /// Real and imaginary parts.
    pub fn rectangular(self) -> (f32, f32) {
        let (sin, cos) = self.angle.sin_cos();
        (self.magnitude * cos, self.magnitude * sin)
    }

    const MISSING: Self = Self { magnitude: f32::NAN, angle: f32::NAN };
}

/// One PMU's measurements in one data frame.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StationData {
    pub stat: Stat,
    pub phasors: Vec<Phasor>,
    /// Hertz.
    pub frequency: f32,
    /// Hertz per second.
    pub rocof: f32,
    pub analogs: Vec<f32>,
    pub digitals: Vec<u16>,
}

/// A decoded data frame.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DataFrame {
    pub idcode: u16,
    pub time: FrameTime,
    /// One block per PMU of the configuration, same order.
    pub stations: Vec<StationData>,
}

/// The integer "missing value" marker.
const MISSING_INT: i16 = i16::MIN;

fn int_or_nan(v: i16, f: impl FnOnce(i16) -> f32) -> f32 {
    if v == MISSING_INT { f32::NAN } else { f(v) }
}

impl DataFrame {
    /// Decodes `raw` with `config`, allocating a new frame.
    pub fn decode(raw: &RawFrame<'_>, config: &ConfigFrame) -> Result<Self, DecodeError> {
        let mut frame = Self::default();
        frame.decode_into(raw, config)?;
        Ok(frame)
    }

    /// Decodes `raw` with `config` into `self`, reusing its vectors so that a stream of frames
    /// decodes without allocating.
    pub fn decode_into(&mut self, raw: &RawFrame<'_>, config: &ConfigFrame) -> Result<(), DecodeError> {
        if raw.header.frame_type != FrameType::Data {
            return Err(DecodeError::WrongFrameType { expected: "data", got: raw.header.frame_type });
        }
        if raw.header.idcode != config.idcode {
            return Err(DecodeError::IdcodeMismatch { expected: config.idcode, got: raw.header.idcode });
        }
        let expected = config.data_body_len();
        if raw.body.len() != expected {
            let cfgcnt = config.stations.first().map_or(0, |s| s.cfgcnt);
            return Err(DecodeError::DataSizeMismatch { expected, got: raw.body.len(), cfgcnt });
        }
        self.idcode = raw.header.idcode;
        self.time = raw.header.time;
        self.stations.resize_with(config.stations.len(), StationData::default);
        let mut r = Reader::body(raw);
        for (station, out) in config.stations.iter().zip(self.stations.iter_mut()) {
            decode_block(&mut r, station, out)?;
        }
        r.finish("the last PMU block")
    }

    /// Appends this frame encoded as `config` describes (integer formats are rounded and
    /// saturated; NaN becomes the integer missing-value marker).
    pub fn encode(&self, config: &ConfigFrame, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if self.stations.len() != config.stations.len() {
            return Err(EncodeError::DataShape {
                station: self.stations.len().min(config.stations.len()),
                detail: format!("{} blocks for {} configured PMUs", self.stations.len(), config.stations.len()),
            });
        }
        encode_frame(out, FrameType::Data, VERSION_2011, config.idcode, self.time, |b| {
            for (i, (s, c)) in self.stations.iter().zip(&config.stations).enumerate() {
                encode_block(i, s, c, b)?;
            }
            Ok(())
        })
    }
}

fn decode_block(r: &mut Reader<'_>, c: &StationConfig, out: &mut StationData) -> Result<(), DecodeError> {
    let f = c.format;
    out.stat = Stat(r.u16("STAT")?);
    out.phasors.clear();
    for p in &c.phasors {
        let phasor = if f.phasors_float {
            let (a, b) = (r.f32("PHASORS")?, r.f32("PHASORS")?);
            if f.polar { Phasor { magnitude: a, angle: b } } else { Phasor::from_rectangular(a, b) }
        } else {
            let (a, b) = (r.u16("PHASORS")?, r.i16("PHASORS")?);
            let scale = p.magnitude_scale();
            if f.polar {
                if b == MISSING_INT {
                    Phasor::MISSING
                } else {
                    Phasor { magnitude: f32::from(a) * scale, angle: f32::from(b) * 1e-4 + p.angle_offset() }
                }
            } else {
                let real = i16::from_be_bytes(a.to_be_bytes());
                if real == MISSING_INT || b == MISSING_INT {
                    Phasor::MISSING
                } else {
                    let ph = Phasor::from_rectangular(f32::from(real) * scale, f32::from(b) * scale);
                    Phasor { magnitude: ph.magnitude, angle: ph.angle + p.angle_offset() }
                }
            }
        };
        out.phasors.push(phasor);
    }
    if f.frequency_float {
        out.frequency = r.f32("FREQ")?;
        out.rocof = r.f32("DFREQ")?;
    } else {
        let nominal = f32::from(c.nominal_hz);
        out.frequency = int_or_nan(r.i16("FREQ")?, |v| nominal + f32::from(v) / 1000.0);
        out.rocof = int_or_nan(r.i16("DFREQ")?, |v| f32::from(v) / 100.0);
    }
    out.analogs.clear();
    for a in &c.analogs {
        let v = if f.analogs_float { r.f32("ANALOG")? } else { int_or_nan(r.i16("ANALOG")?, |v| a.scale_integer(v)) };
        out.analogs.push(v);
    }
    out.digitals.clear();
    for _ in &c.digitals {
        out.digitals.push(r.u16("DIGITAL")?);
    }
    Ok(())
}

/// Rounds to the nearest 16-bit integer, saturating; NaN becomes the missing-value marker.
fn to_i16(v: f32) -> i16 {
    // After the clamp only NaN (which clamp keeps) fails the conversions.
    num::whole(f64::from(v.round().clamp(-32767.0, 32767.0))).and_then(|n| i16::try_from(n).ok()).unwrap_or(MISSING_INT)
}

fn encode_block(i: usize, s: &StationData, c: &StationConfig, b: &mut Vec<u8>) -> Result<(), EncodeError> {
    if s.phasors.len() != c.phasors.len() || s.analogs.len() != c.analogs.len() || s.digitals.len() != c.digitals.len() {
        return Err(EncodeError::DataShape {
            station: i,
            detail: format!(
                "{}/{}/{} phasors/analogs/digitals for {}/{}/{} configured",
                s.phasors.len(),
                s.analogs.len(),
                s.digitals.len(),
                c.phasors.len(),
                c.analogs.len(),
                c.digitals.len()
            ),
        });
    }
    let f = c.format;
    b.extend_from_slice(&s.stat.0.to_be_bytes());
    for (p, pc) in s.phasors.iter().zip(&c.phasors) {
        if f.phasors_float {
            let (x, y) = if f.polar { (p.magnitude, p.angle) } else { p.rectangular() };
            b.extend_from_slice(&x.to_be_bytes());
            b.extend_from_slice(&y.to_be_bytes());
        } else {
            let scale = pc.magnitude_scale();
            let scale = if scale > 0.0 { scale } else { 1.0 };
            let unscaled = Phasor { magnitude: p.magnitude / scale, angle: p.angle - pc.angle_offset() };
            if f.polar {
                // Saturating at the field's range; NaN writes 0.
                let mag =
                    num::whole(f64::from(unscaled.magnitude.round().clamp(0.0, 65535.0))).and_then(|n| u16::try_from(n).ok()).unwrap_or(0);
                b.extend_from_slice(&mag.to_be_bytes());
                b.extend_from_slice(&to_i16(wrap_angle(unscaled.angle) * 1e4).to_be_bytes());
            } else {
                let (x, y) = unscaled.rectangular();
                b.extend_from_slice(&to_i16(x).to_be_bytes());
                b.extend_from_slice(&to_i16(y).to_be_bytes());
            }
        }
    }
    if f.frequency_float {
        b.extend_from_slice(&s.frequency.to_be_bytes());
        b.extend_from_slice(&s.rocof.to_be_bytes());
    } else {
        b.extend_from_slice(&to_i16((s.frequency - f32::from(c.nominal_hz)) * 1000.0).to_be_bytes());
        b.extend_from_slice(&to_i16(s.rocof * 100.0).to_be_bytes());
    }
    for (v, ac) in s.analogs.iter().zip(&c.analogs) {
        if f.analogs_float {
            b.extend_from_slice(&v.to_be_bytes());
        } else {
            let raw = match ac.unit {
                crate::config::AnalogUnit::Factor { factor: 0, .. } => *v,
                crate::config::AnalogUnit::Factor { factor, .. } => *v / factor as f32,
                crate::config::AnalogUnit::Scale { scale, offset } => (*v - offset) / if scale != 0.0 { scale } else { 1.0 },
            };
            b.extend_from_slice(&to_i16(raw).to_be_bytes());
        }
    }
    for d in &s.digitals {
        b.extend_from_slice(&d.to_be_bytes());
    }
    Ok(())
}

/// Brings an angle into (-π, π], the range integer angles can carry.
fn wrap_angle(a: f32) -> f32 {
    use std::f32::consts::{PI, TAU};
    let w = (a + PI).rem_euclid(TAU) - PI;
    if w <= -PI { w + TAU } else { w }
}
