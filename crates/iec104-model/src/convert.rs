//! Conversions between IEC 104 information elements and the model, loss-free where both sides
//! can say the same thing.
//!
//! Quality (IEC 61850-80-1 style): IV ↔ validity invalid, NT ↔ old data (and questionable
//! validity, which IEC 104 cannot say otherwise), SB ↔ substituted, BL ↔ operator blocked,
//! OV ↔ overflow. Times: CP56Time2a is read as UTC; IV ↔ time invalid, the substituted bit ↔
//! time substituted.

use gridtrust_iec104::asdu::{Bcr, DoublePointValue, Element, Qds, StepCommand, normalized_from_f32};
use gridtrust_iec104::time::Cp56Time2a;
use gridtrust_model::{Command, CommandAction, CommandValue, DoublePoint, Quality, TimeQuality, Timestamp, Validity, Value};

use crate::mapping::{CommandKind, MonitorKind, PointMap};

/// IEC 104 quality descriptor → IEC 61850 quality.
pub fn quality_from_qds(q: Qds) -> Quality {
    Quality::GOOD
        .with_validity(if q.invalid { Validity::Invalid } else { Validity::Good })
        .with_old_data(q.not_topical)
        .with_substituted(q.substituted)
        .with_operator_blocked(q.blocked)
        .with_overflow(q.overflow)
}

/// IEC 61850 quality → IEC 104 quality descriptor.
pub fn qds_from_quality(q: Quality) -> Qds {
    Qds {
        overflow: q.overflow(),
        blocked: q.operator_blocked(),
        substituted: q.substituted(),
        not_topical: q.old_data() || q.validity() == Validity::Questionable,
        invalid: matches!(q.validity(), Validity::Invalid | Validity::Reserved),
    }
}

/// CP56Time2a (UTC) → timestamp and time quality; a calendar-invalid time becomes an invalid
/// time at the epoch rather than an error, so the value itself is not lost.
pub fn time_from_cp56(t: &Cp56Time2a) -> (Timestamp, TimeQuality) {
    let (ts, calendar_ok) = match t.to_unix_ms() {
        Ok(ms) => (Timestamp::from_unix_millis(ms), true),
        Err(_) => (Timestamp(0), false),
    };
    let q = TimeQuality { invalid: t.invalid || !calendar_ok, substituted: t.substituted, ..TimeQuality::GOOD };
    (ts, q)
}

/// Timestamp → CP56Time2a (UTC); `None` outside 2000..2099.
pub fn cp56_from_time(t: Timestamp, q: TimeQuality) -> Option<Cp56Time2a> {
    let mut c = Cp56Time2a::from_unix_ms(t.unix_millis()).ok()?;
    c.invalid = q.invalid;
    c.substituted = q.substituted;
    Some(c)
}

fn double_from(v: DoublePointValue) -> DoublePoint {
    match v {
        DoublePointValue::Intermediate => DoublePoint::Intermediate,
        DoublePointValue::Off => DoublePoint::Off,
        DoublePointValue::On => DoublePoint::On,
        DoublePointValue::Indeterminate => DoublePoint::Indeterminate,
    }
}

fn double_to(v: DoublePoint) -> DoublePointValue {
    match v {
        DoublePoint::Intermediate => DoublePointValue::Intermediate,
        DoublePoint::Off => DoublePointValue::Off,
        DoublePoint::On => DoublePointValue::On,
        DoublePoint::Indeterminate => DoublePointValue::Indeterminate,
    }
}

/// What a monitored element says, in model terms.
pub type Datum = (Value, Quality, Option<(Timestamp, TimeQuality)>);

/// Converts a monitor-direction element as mapped by `map`; `None` when the element is not a
/// monitored value or does not match the mapped kind (a configuration mismatch the caller logs).
pub fn datum_from_element(element: &Element, map: &PointMap) -> Option<Datum> {
    if MonitorKind::of(element.type_id()) != Some(map.kind) {
        return None;
    }
    let scaled = |raw: f64| map.scale.map(|s| Value::Float((raw * s + map.offset) as f32));
    let (value, qds) = match *element {
        Element::SinglePoint { value, quality, .. } => (Value::Single(value), quality),
        Element::DoublePoint { value, quality, .. } => (Value::Double(double_from(value)), quality),
        Element::StepPosition { value, transient, quality, .. } => (Value::Step { position: value, transient }, quality),
        Element::Bitstring { value, quality, .. } => (Value::Bitstring(value), quality),
        Element::Normalized { value, quality, .. } => (scaled(f64::from(value) / 32768.0).unwrap_or(Value::Normalized(value)), quality),
        Element::Scaled { value, quality, .. } => (scaled(f64::from(value)).unwrap_or(Value::Scaled(i32::from(value))), quality),
        Element::ShortFloat { value, quality, .. } => (scaled(f64::from(value)).unwrap_or(Value::Float(value)), quality),
        Element::IntegratedTotals { counter, .. } => (
            Value::Counter { value: counter.value, sequence: counter.sequence, carry: counter.carry, adjusted: counter.adjusted },
            Qds { invalid: counter.invalid, ..Qds::GOOD },
        ),
        _ => return None,
    };
    Some((value, quality_from_qds(qds), element.time().as_ref().map(time_from_cp56)))
}

/// Builds the element a SCADA-facing server sends for a point of `kind`, from model terms.
/// `time` adds a time tag (spontaneous transmission); interrogation answers go without.
/// `map` supplies an optional scale for converting engineering floats back to raw integers.
pub fn element_from_datum(value: &Value, quality: Quality, time: Option<Cp56Time2a>, map: &PointMap) -> Option<Element> {
    let quality_qds = qds_from_quality(quality);
    let eng = value.as_f64();
    let raw = |eng: f64| match map.scale {
        Some(s) => (eng - map.offset) / s,
        None => eng,
    };
    let element = match (map.kind, *value) {
        (MonitorKind::Single, Value::Single(v)) => Element::SinglePoint { value: v, quality: quality_qds, time },
        (MonitorKind::Double, Value::Double(v)) => Element::DoublePoint { value: double_to(v), quality: quality_qds, time },
        (MonitorKind::Step, Value::Step { position, transient }) => {
            Element::StepPosition { value: position, transient, quality: quality_qds, time }
        }
        (MonitorKind::Bitstring, Value::Bitstring(v)) => Element::Bitstring { value: v, quality: quality_qds, time },
        (MonitorKind::Counter, Value::Counter { value, sequence, carry, adjusted }) => {
            Element::IntegratedTotals { counter: Bcr { value, sequence, carry, adjusted, invalid: quality_qds.invalid }, time }
        }
        (MonitorKind::Float, _) => Element::ShortFloat { value: raw(eng) as f32, quality: quality_qds, time },
        (MonitorKind::Normalized, Value::Normalized(v)) if map.scale.is_none() => {
            Element::Normalized { value: v, quality: quality_qds, time }
        }
        (MonitorKind::Normalized, _) => Element::Normalized { value: normalized_from_f32(raw(eng) as f32), quality: quality_qds, time },
        (MonitorKind::Scaled, _) => {
            let r = raw(eng).round();
            let (v, overflow) = if r > f64::from(i16::MAX) {
                (i16::MAX, true)
            } else if r < f64::from(i16::MIN) {
                (i16::MIN, true)
            } else {
                (r as i16, false)
            };
            Element::Scaled { value: v, quality: Qds { overflow: quality_qds.overflow || overflow, ..quality_qds }, time }
        }
        _ => return None,
    };
    Some(element)
}

/// Why a command cannot be expressed for a device.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CommandMismatch {
    #[error("command value {value:?} does not fit a {kind:?} command")]
    WrongValue { value: CommandValue, kind: CommandKind },
}

/// Builds the command element for a device (edge side). Cancel uses the select form; the
/// caller sends it with cause deactivation.
pub fn element_from_command(cmd: &Command, kind: CommandKind, time: Option<Cp56Time2a>) -> Result<Element, CommandMismatch> {
    let select = matches!(cmd.action, CommandAction::Select | CommandAction::Cancel);
    let qualifier = 0;
    Ok(match (kind, cmd.value) {
        (CommandKind::Single, CommandValue::Single(value)) => Element::SingleCommand { value, qualifier, select, time },
        (CommandKind::Double, CommandValue::Double(v)) => Element::DoubleCommand { value: double_to(v), qualifier, select, time },
        (CommandKind::Step, CommandValue::Step { raise }) => {
            Element::RegulatingStep { value: if raise { StepCommand::Higher } else { StepCommand::Lower }, qualifier, select, time }
        }
        (CommandKind::SetpointNormalized, CommandValue::SetpointNormalized(value)) => {
            Element::SetpointNormalized { value, qualifier, select, time }
        }
        (CommandKind::SetpointScaled, CommandValue::SetpointScaled(value)) => Element::SetpointScaled { value, qualifier, select, time },
        (CommandKind::SetpointFloat, CommandValue::SetpointFloat(value)) => Element::SetpointFloat { value, qualifier, select, time },
        (kind, value) => return Err(CommandMismatch::WrongValue { value, kind }),
    })
}

/// Reads a command element from SCADA (cc side): the value and whether it is a select.
pub fn command_from_element(element: &Element) -> Option<(CommandValue, bool)> {
    Some(match *element {
        Element::SingleCommand { value, select, .. } => (CommandValue::Single(value), select),
        Element::DoubleCommand { value, select, .. } => (CommandValue::Double(double_from(value)), select),
        Element::RegulatingStep { value, select, .. } => match value {
            StepCommand::Higher => (CommandValue::Step { raise: true }, select),
            StepCommand::Lower => (CommandValue::Step { raise: false }, select),
            _ => return None,
        },
        Element::SetpointNormalized { value, select, .. } => (CommandValue::SetpointNormalized(value), select),
        Element::SetpointScaled { value, select, .. } => (CommandValue::SetpointScaled(value), select),
        Element::SetpointFloat { value, select, .. } => (CommandValue::SetpointFloat(value), select),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridtrust_model::PointId;

    fn map(kind: MonitorKind, scale: Option<f64>) -> PointMap {
        PointMap { id: PointId::new("LD0/MMXU1.A.phsA").unwrap(), ioa: 1, kind, unit: None, scale, offset: 0.0, group: None }
    }

    #[test]
    fn quality_survives_the_round_trip() {
        for bits in 0u8..=255 {
            let qds = Qds::from_bits(bits);
            assert_eq!(qds_from_quality(quality_from_qds(qds)), qds);
        }
    }

    #[test]
    fn scaled_measurement_becomes_engineering_float_and_back() {
        let m = map(MonitorKind::Scaled, Some(0.1));
        let e = Element::Scaled { value: 2305, quality: Qds::GOOD, time: None };
        let (v, q, t) = datum_from_element(&e, &m).unwrap();
        assert_eq!((v, q, t), (Value::Float(230.5), Quality::GOOD, None));
        assert_eq!(element_from_datum(&v, q, None, &m), Some(e));
    }

    #[test]
    fn time_tag_and_its_flags_carry_over() {
        let mut c = Cp56Time2a::from_unix_ms(1_700_000_000_123).unwrap();
        c.invalid = true;
        let e = Element::DoublePoint { value: DoublePointValue::On, quality: Qds::GOOD, time: Some(c) };
        let (v, _, t) = datum_from_element(&e, &map(MonitorKind::Double, None)).unwrap();
        assert_eq!(v, Value::Double(DoublePoint::On));
        let (ts, tq) = t.unwrap();
        assert_eq!(ts, Timestamp::from_unix_millis(1_700_000_000_123));
        assert!(tq.invalid);
        assert_eq!(cp56_from_time(ts, tq), Some(c));
    }

    #[test]
    fn a_kind_mismatch_is_not_converted() {
        let e = Element::SinglePoint { value: true, quality: Qds::GOOD, time: None };
        assert!(datum_from_element(&e, &map(MonitorKind::Float, None)).is_none());
    }
}
