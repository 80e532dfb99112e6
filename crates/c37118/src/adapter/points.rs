//! From a configuration frame to point ids, and from data frames to [`Datum`]s.
//!
//! Derived names, for a PMU whose station name sanitises to `LD` (after the configured prefix):
//! - phasor `CH`: `LD/MMXU1.CH.cVal.mag.f` (V or A) and `LD/MMXU1.CH.cVal.ang.f` (degrees, as
//!   IEC 61850 CMV angles are);
//! - frequency `LD/MMXU1.Hz.mag.f`, ROCOF `LD/MMXU1.HzRte.mag.f`;
//! - analog `CH`: `LD/GGIO1.CH.mag.f`;
//! - digital word n (1-based): `LD/GGIO1.DigWordn.stVal` as a 16-bit string.
//!
//! Names are sanitised to ASCII letters, digits and `_`, start with a letter, and are made unique
//! within their station by appending the channel's position. Explicit mappings replace the
//! derived name of their channel; `digital` mappings report one bit as a single point.
//!
//! Quality comes from each PMU's STAT word: PMU error (either code) is invalid + failure, test
//! mode / absent data is invalid + test, lost synchronisation is invalid (a synchrophasor measured
//! against a free-running clock cannot be compared with others), "data modified" is
//! substituted; a missing value (NaN, 0x8000) is invalid on its own. The source time is
//! SOC + FRACSEC/TIME_BASE, with time quality from the message time quality byte and STAT.

use std::collections::HashSet;

use gridtrust_adapter::Datum;
use gridtrust_model::{PointId, Quality, TimeQuality, Timestamp, Validity, Value};

use super::{PmuConfig, Quantity};
use crate::config::{ConfigFrame, StationConfig};
use crate::data::{DataError, DataFrame, Stat};
use crate::frame::{FrameTime, MessageTimeQuality};
use gridtrust_model::num;

/// Point ids for every reported value of one PMU block.
#[derive(Clone, Debug, Default)]
struct StationPoints {
    /// Magnitude and angle per phasor.
    phasors: Vec<[Option<PointId>; 2]>,
    frequency: Option<PointId>,
    rocof: Option<PointId>,
    analogs: Vec<Option<PointId>>,
    words: Vec<Option<PointId>>,
    /// (word, bit, point, bit carries a valid input).
    bits: Vec<(usize, u8, PointId, bool)>,
}

/// The point ids of a stream under one configuration; rebuilt when the configuration changes.
#[derive(Clone, Debug)]
pub struct PointMap {
    time_base: u32,
    stations: Vec<StationPoints>,
}

/// ASCII letters, digits and `_`, starting with a letter, at most 32 characters; `fallback`
/// when nothing is left.
fn sanitise(name: &str, fallback: &str) -> String {
    let mut s: String = name.trim().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    s = s.trim_matches('_').to_owned();
    s.truncate(32);
    if s.is_empty() {
        return fallback.to_owned();
    }
    if !s.starts_with(|c: char| c.is_ascii_alphabetic()) {
        s.insert(0, 'C');
    }
    s
}

fn point(reference: String) -> Option<PointId> {
    PointId::new(reference).ok()
}

/// Unique data-object names for `names` within one logical node.
fn unique_names<'a>(names: impl Iterator<Item = &'a str>, fallback: &str, taken: &mut HashSet<String>) -> Vec<String> {
    names
        .enumerate()
        .map(|(i, n)| {
            let mut s = sanitise(n, &format!("{fallback}{}", i + 1));
            if !taken.insert(s.clone()) {
                s = format!("{s}_{}", i + 1);
                taken.insert(s.clone());
            }
            s
        })
        .collect()
}

fn derived(prefix: &str, s: &StationConfig, taken_lds: &mut HashSet<String>) -> StationPoints {
    let mut ld = format!("{prefix}{}", sanitise(&s.name, &format!("PMU{}", s.idcode)));
    if !taken_lds.insert(ld.clone()) {
        ld = format!("{ld}_{}", s.idcode);
        taken_lds.insert(ld.clone());
    }
    let mut mmxu = HashSet::from(["Hz".to_owned(), "HzRte".to_owned()]);
    let phasors = unique_names(s.phasors.iter().map(|p| p.name.as_str()), "Ph", &mut mmxu)
        .into_iter()
        .map(|d| [point(format!("{ld}/MMXU1.{d}.cVal.mag.f")), point(format!("{ld}/MMXU1.{d}.cVal.ang.f"))])
        .collect();
    let mut ggio = HashSet::new();
    let analogs = unique_names(s.analogs.iter().map(|a| a.name.as_str()), "An", &mut ggio)
        .into_iter()
        .map(|d| point(format!("{ld}/GGIO1.{d}.mag.f")))
        .collect();
    let words = (1..=s.digitals.len()).map(|n| point(format!("{ld}/GGIO1.DigWord{n}.stVal"))).collect();
    StationPoints {
        phasors,
        frequency: point(format!("{ld}/MMXU1.Hz.mag.f")),
        rocof: point(format!("{ld}/MMXU1.HzRte.mag.f")),
        analogs,
        words,
        bits: Vec::new(),
    }
}

impl PointMap {
    /// Point ids for `frame` under `config`, with a warning for each mapping that matches no
    /// channel.
    pub fn new(config: &PmuConfig, frame: &ConfigFrame) -> (Self, Vec<String>) {
        let mut lds = HashSet::new();
        let mut stations: Vec<StationPoints> = frame
            .stations
            .iter()
            .map(|s| {
                if config.only_mapped {
                    StationPoints {
                        phasors: vec![[None, None]; s.phasors.len()],
                        analogs: vec![None; s.analogs.len()],
                        words: vec![None; s.digitals.len()],
                        ..Default::default()
                    }
                } else {
                    derived(&config.logical_device_prefix, s, &mut lds)
                }
            })
            .collect();
        let mut warnings = Vec::new();
        for (i, m) in config.points.iter().enumerate() {
            let Ok(id) = PointId::new(m.point.as_str()) else { continue };
            let station = match &m.station {
                Some(name) => frame.stations.iter().position(|s| s.name.trim() == name.trim()),
                None if frame.stations.len() == 1 => Some(0),
                None => None,
            };
            let Some(si) = station else {
                warnings.push(format!("points[{i}]: no single station `{}` in the stream", m.station.as_deref().unwrap_or("")));
                continue;
            };
            // One slot per configured station, so both are there.
            let (Some(cfg), Some(slots)) = (frame.stations.get(si), stations.get_mut(si)) else { continue };
            let channel = m.channel.as_deref().map(str::trim).unwrap_or_default();
            let found = match m.quantity {
                Quantity::Magnitude | Quantity::Angle => {
                    cfg.phasors.iter().position(|p| p.name.trim() == channel).and_then(|p| slots.phasors.get_mut(p)).map(
                        |[magnitude, angle]| {
                            *(if m.quantity == Quantity::Angle { angle } else { magnitude }) = Some(id);
                        },
                    )
                }
                Quantity::Frequency => {
                    slots.frequency = Some(id);
                    Some(())
                }
                Quantity::Rocof => {
                    slots.rocof = Some(id);
                    Some(())
                }
                Quantity::Analog => cfg
                    .analogs
                    .iter()
                    .position(|a| a.name.trim() == channel)
                    .and_then(|a| slots.analogs.get_mut(a))
                    .map(|slot| *slot = Some(id)),
                Quantity::Digital => cfg.digitals.iter().enumerate().find_map(|(w, d)| {
                    let bit = d.names.iter().position(|n| n.trim() == channel)?;
                    let bit = u8::try_from(bit).ok()?;
                    let valid = d.valid == 0 || d.valid & (1 << bit) != 0;
                    slots.bits.push((w, bit, id.clone(), valid));
                    Some(())
                }),
            };
            if found.is_none() {
                warnings.push(format!("points[{i}]: station `{}` has no {:?} channel `{channel}`", cfg.name, m.quantity));
            }
        }
        (Self { time_base: frame.time_base, stations }, warnings)
    }

    /// Number of points a data frame yields.
    pub fn len(&self) -> usize {
        self.stations
            .iter()
            .map(|s| {
                s.phasors.iter().flatten().flatten().count()
                    + usize::from(s.frequency.is_some())
                    + usize::from(s.rocof.is_some())
                    + s.analogs.iter().flatten().count()
                    + s.words.iter().flatten().count()
                    + s.bits.len()
            })
            .sum()
    }

    /// True when nothing is reported.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends the datums of `frame` to `out`.
    pub fn datums(&self, frame: &DataFrame, received_at: Timestamp, out: &mut Vec<Datum>) {
        let at = frame.time.to_timestamp(self.time_base);
        for (points, data) in self.stations.iter().zip(&frame.stations) {
            let quality = stat_quality(data.stat);
            let source_time = Some((at, time_quality(frame.time, data.stat)));
            let mut push = |id: &Option<PointId>, value: Value, missing: bool| {
                if let Some(point) = id {
                    let quality = if missing { quality.with_validity(Validity::Invalid) } else { quality };
                    out.push(Datum { point: point.clone(), value, quality, source_time, received_at });
                }
            };
            let float = |v: f32| (Value::Float(v), v.is_nan());
            for ([mag, ang], p) in points.phasors.iter().zip(&data.phasors) {
                let (v, missing) = float(p.magnitude);
                push(mag, v, missing);
                let (v, missing) = float(p.angle.to_degrees());
                push(ang, v, missing);
            }
            let (v, missing) = float(data.frequency);
            push(&points.frequency, v, missing);
            let (v, missing) = float(data.rocof);
            push(&points.rocof, v, missing);
            for (id, a) in points.analogs.iter().zip(&data.analogs) {
                let (v, missing) = float(*a);
                push(id, v, missing);
            }
            for (id, w) in points.words.iter().zip(&data.digitals) {
                push(id, Value::Bitstring(u32::from(*w)), false);
            }
            for (word, bit, id, valid) in &points.bits {
                if let Some(w) = data.digitals.get(*word) {
                    out.push(Datum {
                        point: id.clone(),
                        value: Value::Single(w & (1 << bit) != 0),
                        quality: if *valid { quality } else { quality.with_validity(Validity::Invalid) },
                        source_time,
                        received_at,
                    });
                }
            }
        }
    }
}

/// IEC 61850 quality for every value of a PMU block with this STAT word.
pub fn stat_quality(stat: Stat) -> Quality {
    let q = match stat.data_error() {
        DataError::Good => Quality::GOOD,
        DataError::PmuErrorNoInformation | DataError::PmuError => Quality::GOOD.with_validity(Validity::Invalid).with_failure(true),
        DataError::TestModeOrAbsent => Quality::GOOD.with_validity(Validity::Invalid).with_test(true),
    };
    let q = if stat.sync_lost() { q.with_validity(Validity::Invalid) } else { q };
    q.with_substituted(stat.data_modified())
}

/// Significant bits of a second's fraction for a time error of `error_s` seconds.
fn accuracy_bits(error_s: f64) -> u8 {
    if !error_s.is_finite() || error_s >= 1.0 {
        return 0;
    }
    // Clamped to 0..=24 bits; NaN (a negative error) reads 0 bits as before.
    num::whole((-error_s.log2()).floor().clamp(0.0, 24.0)).and_then(|n| u8::try_from(n).ok()).unwrap_or(0)
}

/// How far to trust the frame time: the message time quality byte (clock failure, unlocked with
/// a bound) joined with the PMU's STAT (sync lost, time error bound).
pub fn time_quality(time: FrameTime, stat: Stat) -> TimeQuality {
    let code = time.quality.code;
    let invalid = code == MessageTimeQuality::CLOCK_FAILURE;
    let not_synchronized = stat.sync_lost() || code != 0;
    let bound = match (time.quality.unlocked_error_bound_s(), stat.time_error_bound_s()) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    TimeQuality {
        invalid,
        not_synchronized,
        substituted: false,
        // SOC is UTC: a clock locked to a UTC-traceable source announces and applies leap seconds.
        leap_seconds_known: !invalid && !not_synchronized,
        accuracy_bits: bound.map_or(TimeQuality::UNSPECIFIED_ACCURACY, accuracy_bits),
    }
}
