//! The small vocabularies of the join, in one place so they can be read and checked:
//!
//! - [`MEASUREMENT_TYPES`]: which CIM `Measurement.measurementType` (and phase) an IEC 61850 data
//!   object of a logical node class corresponds to;
//! - [`equipment_kind_of_cim_class`] / [`equipment_kind_of_scl_type`]: the equipment kind shown to
//!   people (`Breaker`, `Load`, ...);
//! - [`point_kind`] and [`command_kind`]: how the API classifies a point.

/// One row of the data object -> CIM measurement table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeasurementTypeRule {
    /// IEC 61850-7-4 logical node class (`MMXU`).
    pub ln_class: &'static str,
    /// Data object path below the logical node (`TotW`, `A.phsA`).
    pub data_object: &'static str,
    /// IEC 61970-301 / CGMES `Measurement.measurementType`.
    pub measurement_type: &'static str,
    /// `Measurement.phases` the CIM measurement must have, when the data object is per phase.
    pub phases: Option<&'static str>,
}

const fn rule(
    ln_class: &'static str,
    data_object: &'static str,
    measurement_type: &'static str,
    phases: Option<&'static str>,
) -> MeasurementTypeRule {
    MeasurementTypeRule { ln_class, data_object, measurement_type, phases }
}

/// Data objects that have a CIM measurement counterpart. A data object not in this table is not
/// expected to have one (its points still get the equipment), so it is not reported unresolved.
pub const MEASUREMENT_TYPES: &[MeasurementTypeRule] = &[
    rule("MMXU", "TotW", "ThreePhaseActivePower", None),
    rule("MMXU", "TotVAr", "ThreePhaseReactivePower", None),
    rule("MMXU", "TotVA", "ThreePhaseApparentPower", None),
    rule("MMXU", "TotPF", "ThreePhasePowerFactor", None),
    rule("MMXU", "Hz", "Frequency", None),
    rule("MMXU", "A.phsA", "LineCurrent", Some("A")),
    rule("MMXU", "A.phsB", "LineCurrent", Some("B")),
    rule("MMXU", "A.phsC", "LineCurrent", Some("C")),
    rule("MMXU", "PhV.phsA", "PhaseVoltage", Some("A")),
    rule("MMXU", "PhV.phsB", "PhaseVoltage", Some("B")),
    rule("MMXU", "PhV.phsC", "PhaseVoltage", Some("C")),
    rule("MMXU", "PPV.phsAB", "LineToLineVoltage", Some("AB")),
    rule("MMXU", "PPV.phsBC", "LineToLineVoltage", Some("BC")),
    rule("MMXU", "PPV.phsCA", "LineToLineVoltage", Some("CA")),
    rule("XCBR", "Pos", "SwitchPosition", None),
    rule("XSWI", "Pos", "SwitchPosition", None),
    rule("CSWI", "Pos", "SwitchPosition", None),
    rule("YLTC", "TapPos", "TapPosition", None),
    rule("ATCC", "TapChg", "TapPosition", None),
];

/// The rule for a data object path (`TotW`, `A.phsA.cVal` -> `A.phsA`) of a logical node class.
pub fn measurement_rule(ln_class: &str, data_path: &str) -> Option<&'static MeasurementTypeRule> {
    MEASUREMENT_TYPES.iter().find(|r| {
        r.ln_class == ln_class && data_path.strip_prefix(r.data_object).is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
    })
}

/// Whether any row of the table is for this logical node class: such a logical node is expected to
/// be linked, so failing to link it is reported.
pub fn is_measuring_class(ln_class: &str) -> bool {
    MEASUREMENT_TYPES.iter().any(|r| r.ln_class == ln_class)
}

/// The equipment kind of a CIM class (`cim:Breaker` -> `Breaker`).
pub fn equipment_kind_of_cim_class(class: &str) -> String {
    let bare = class.rsplit_once(':').map_or(class, |(_, c)| c);
    match bare {
        "ACLineSegment" => "Line",
        "EnergyConsumer" | "ConformLoad" | "NonConformLoad" => "Load",
        "SynchronousMachine" | "GeneratingUnit" | "ThermalGeneratingUnit" | "HydroGeneratingUnit" | "WindGeneratingUnit" => "Generator",
        "LinearShuntCompensator" | "NonlinearShuntCompensator" => "ShuntCompensator",
        "PhotoVoltaicUnit" | "PowerElectronicsConnection" => "Inverter",
        other => other,
    }
    .to_owned()
}

/// The equipment kind of an SCL conducting equipment type (IEC 61850-6 `tCommonConductingEquipmentEnum`).
pub fn equipment_kind_of_scl_type(scl_type: &str) -> String {
    match scl_type {
        "CBR" => "Breaker",
        "DIS" => "Disconnector",
        "PTR" => "PowerTransformer",
        "CTR" => "CurrentTransformer",
        "VTR" => "VoltageTransformer",
        "GEN" => "Generator",
        "CAP" => "Capacitor",
        "REA" => "Reactor",
        "LIN" | "CAB" => "Line",
        "BAT" => "Battery",
        "MOT" => "Motor",
        "IFL" => "Infeed",
        "BSH" => "Bushing",
        "SAR" => "SurgeArrester",
        "PSH" => "ShuntCompensator",
        other => other,
    }
    .to_owned()
}

/// The CIM Analog measurement types a power flow or an estimator computes at a terminal: the
/// simulator produces them and the hub's checks read them, from the same `measurementType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnalogType {
    /// `ThreePhaseActivePower`.
    ActivePower,
    /// `ThreePhaseReactivePower`.
    ReactivePower,
    /// `LineCurrent` (per phase).
    LineCurrent,
    /// `PhaseVoltage` (per phase, to neutral).
    PhaseVoltage,
}

impl AnalogType {
    /// The type of a CIM `Measurement.measurementType`, if it is one of these.
    pub fn of(measurement_type: &str) -> Option<Self> {
        Some(match measurement_type {
            "ThreePhaseActivePower" => Self::ActivePower,
            "ThreePhaseReactivePower" => Self::ReactivePower,
            "LineCurrent" => Self::LineCurrent,
            "PhaseVoltage" => Self::PhaseVoltage,
            _ => return None,
        })
    }
}

/// `analog`, `status`, `counter` or `text` for a point: counters are the `actVal` of binary
/// counter readings, measured values (`MX`) are analog, other status (`ST`) values are status.
pub fn point_kind(fc: &str, basic_type: &str, cdc: &str, attribute: &str) -> &'static str {
    if cdc == "BCR" && attribute == "actVal" {
        "counter"
    } else if basic_type.starts_with("VisString") || basic_type.starts_with("Unicode") || basic_type.starts_with("Octet") {
        "text"
    } else if fc == "MX" {
        "analog"
    } else {
        "status"
    }
}

/// The command the control centre sends to a controllable data object of common data class `cdc`.
pub fn command_kind(cdc: &str) -> Option<&'static str> {
    Some(match cdc {
        "SPC" => "single",
        "DPC" => "double",
        "BSC" | "ISC" => "step",
        "INC" | "APC" | "BAC" | "ENC" => "setpoint",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_objects_map_to_measurement_types_with_phases() {
        assert_eq!(measurement_rule("MMXU", "TotW").map(|r| r.measurement_type), Some("ThreePhaseActivePower"));
        let phase_a = measurement_rule("MMXU", "A.phsA.cVal.mag").expect("phase A current");
        assert_eq!((phase_a.measurement_type, phase_a.phases), ("LineCurrent", Some("A")));
        assert_eq!(measurement_rule("XCBR", "Pos").map(|r| r.measurement_type), Some("SwitchPosition"));
        assert!(measurement_rule("MMXU", "TotWh").is_none(), "a prefix of another name must not match");
        assert!(measurement_rule("GGIO", "AnIn1").is_none());
        assert!(is_measuring_class("MMXU") && !is_measuring_class("LLN0"));
    }

    #[test]
    fn kinds_are_named_for_people() {
        assert_eq!(equipment_kind_of_cim_class("cim:Breaker"), "Breaker");
        assert_eq!(equipment_kind_of_cim_class("cim:EnergyConsumer"), "Load");
        assert_eq!(equipment_kind_of_scl_type("CBR"), "Breaker");
        assert_eq!(point_kind("MX", "FLOAT32", "MV", "f"), "analog");
        assert_eq!(point_kind("ST", "Dbpos", "DPC", "stVal"), "status");
        assert_eq!(point_kind("ST", "INT32", "BCR", "actVal"), "counter");
        assert_eq!(command_kind("DPC"), Some("double"));
        assert_eq!(command_kind("MV"), None);
    }
}
