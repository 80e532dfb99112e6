//! From a PUBLISH (topic and payload) to data for the edge, without I/O: the first topic filter
//! that matches picks the payload format and the mapping, the format's parser reads the
//! readings, and the mapping turns each named reading into a [`Datum`] for its point, in the
//! point's unit.

use std::collections::HashMap;

use gridtrust_adapter::Datum;
use gridtrust_model::{PointId, Timestamp, Value};

use crate::cim::{CimError, parse_meter_readings};
use crate::config::{PayloadFormat, TopicConfig};
use crate::json::{JsonError, JsonLayout, parse_json};
use crate::reading::Reading;
use crate::senml::{SenmlError, parse_senml};
use crate::units::Unit;

/// A payload its format's parser refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PayloadError {
    #[error("json: {0}")]
    Json(#[from] JsonError),
    #[error("senml: {0}")]
    Senml(#[from] SenmlError),
    #[error("cim: {0}")]
    Cim(#[from] CimError),
}

/// A reading the mapping names but cannot turn into its point's value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MappingError {
    #[error("reading {name} is in {found}, which does not convert to the point's {expected}")]
    UnitMismatch { name: String, found: String, expected: String },
    #[error("reading {name} = {value} does not fit the point's 32-bit float")]
    OutOfRange { name: String, value: f64 },
}

/// What one message yielded.
#[derive(Debug, Default, PartialEq)]
pub struct Decoded {
    /// Data for mapped readings, in payload order.
    pub data: Vec<Datum>,
    /// Readings no mapping names (a meter may publish more than the edge wants).
    pub unmapped: usize,
    /// Mapped readings that could not be converted.
    pub refused: Vec<MappingError>,
}

/// Where one mapped reading goes.
#[derive(Clone, Debug)]
struct Target {
    meter: Option<String>,
    point: PointId,
    unit: Option<Unit>,
}

/// One `[[topic]]`, ready to decode.
#[derive(Clone, Debug)]
pub struct Route {
    filter: String,
    format: PayloadFormat,
    json: JsonLayout,
    /// By reading name; several targets only when CIM mappings name different meters.
    targets: HashMap<String, Vec<Target>>,
}

/// Every configured topic, in configuration order.
#[derive(Clone, Debug)]
pub struct Router {
    routes: Vec<Route>,
}

impl Router {
    /// Builds the routes of validated topic configurations.
    pub fn new(topics: &[TopicConfig]) -> Self {
        let routes = topics
            .iter()
            .map(|t| {
                let mut targets: HashMap<String, Vec<Target>> = HashMap::new();
                for m in &t.points {
                    let target = Target { meter: m.meter.clone(), point: m.point.clone(), unit: m.unit() };
                    targets.entry(m.name.clone()).or_default().push(target);
                }
                let json = JsonLayout {
                    values: t.points.iter().map(|m| m.name.clone()).collect(),
                    time: Some(t.time.clone().unwrap_or_else(|| "/time".into())),
                };
                Route { filter: t.filter.clone(), format: t.format, json, targets }
            })
            .collect();
        Self { routes }
    }

    /// The first route whose filter matches `topic`.
    pub fn route(&self, topic: &str) -> Option<&Route> {
        self.routes.iter().find(|r| rumqttc::matches(topic, &r.filter))
    }

    /// The filters to subscribe to.
    pub fn filters(&self) -> impl Iterator<Item = &str> {
        self.routes.iter().map(|r| r.filter.as_str())
    }
}

impl Route {
    /// The payload format of this topic.
    pub fn format(&self) -> PayloadFormat {
        self.format
    }

    /// Parses `payload` and maps its readings; `now` is the receive time (and anchors SenML
    /// relative times).
    pub fn decode(&self, payload: &[u8], now: Timestamp) -> Result<Decoded, PayloadError> {
        let readings = match self.format {
            PayloadFormat::Json => parse_json(payload, &self.json)?,
            PayloadFormat::Senml => parse_senml(payload, now)?,
            PayloadFormat::Cim => parse_meter_readings(payload)?,
        };
        let mut out = Decoded { data: Vec::with_capacity(readings.len()), ..Decoded::default() };
        for reading in readings {
            match self.target(&reading) {
                None => out.unmapped += 1,
                Some(target) => match convert(&reading, target) {
                    Ok(value) => out.data.push(Datum {
                        point: target.point.clone(),
                        value,
                        quality: reading.quality,
                        source_time: reading.source_time,
                        received_at: now,
                    }),
                    Err(e) => out.refused.push(e),
                },
            }
        }
        Ok(out)
    }

    /// The mapping for `reading`: one naming its meter first, then one for any meter.
    fn target(&self, reading: &Reading) -> Option<&Target> {
        let targets = self.targets.get(&reading.name)?;
        targets.iter().find(|t| t.meter.is_some() && t.meter == reading.meter).or_else(|| targets.iter().find(|t| t.meter.is_none()))
    }
}

fn convert(reading: &Reading, target: &Target) -> Result<Value, MappingError> {
    let factor = match (&reading.unit, &target.unit) {
        (Some(found), Some(expected)) => found.factor_to(expected).ok_or_else(|| MappingError::UnitMismatch {
            name: reading.name.clone(),
            found: found.to_string(),
            expected: expected.to_string(),
        })?,
        _ => 1.0,
    };
    let value = reading.value * factor;
    if !value.is_finite() || value.abs() > f64::from(f32::MAX) {
        return Err(MappingError::OutOfRange { name: reading.name.clone(), value });
    }
    // In range (checked above): the cast only rounds to the nearest f32.
    #[allow(clippy::cast_possible_truncation)]
    let single = value as f32;
    Ok(Value::Float(single))
}

#[cfg(test)]
mod tests {
    use gridtrust_model::{Quality, TimeQuality};

    use super::*;
    use crate::config::PointMapping;

    fn point(name: &str, meter: Option<&str>, id: &str, unit: Option<&str>) -> PointMapping {
        PointMapping { name: name.into(), meter: meter.map(Into::into), point: PointId::new(id).unwrap(), unit: unit.map(Into::into) }
    }

    fn router() -> Router {
        Router::new(&[
            TopicConfig {
                filter: "meters/+/senml".into(),
                format: PayloadFormat::Senml,
                time: None,
                points: vec![
                    point("m1:energy", None, "MTR1/MMTR1.TotWh.actVal", Some("Wh")),
                    point("m1:power", None, "MTR1/MMXU1.TotW.mag.f", Some("kW")),
                ],
            },
            TopicConfig {
                filter: "meters/#".into(),
                format: PayloadFormat::Json,
                time: Some("/ts".into()),
                points: vec![point("/e", None, "MTR2/MMTR1.TotWh.actVal", Some("Wh"))],
            },
            TopicConfig {
                filter: "ami/#".into(),
                format: PayloadFormat::Cim,
                time: None,
                points: vec![
                    point("0.26.0.0.1.1.12.0.0.0.0.0.0.0.0.224.3.72.0", Some("11111111"), "MTR3/MMTR1.TotWh.actVal", Some("Wh")),
                    point("0.26.0.0.1.1.12.0.0.0.0.0.0.0.0.224.3.72.0", None, "MTRX/MMTR1.TotWh.actVal", Some("Wh")),
                    point("0.26.0.0.1.1.12.0.0.0.0.0.0.0.0.224.3.73.0", None, "MTR3/MMTR1.TotVArh.actVal", Some("Wh")),
                ],
            },
        ])
    }

    const NOW: Timestamp = Timestamp(1_700_000_000_000_000_000);

    #[test]
    fn first_matching_filter_wins_and_wildcards_work() {
        let r = router();
        assert_eq!(r.route("meters/A/senml").map(Route::format), Some(PayloadFormat::Senml));
        assert_eq!(r.route("meters/A/json").map(Route::format), Some(PayloadFormat::Json));
        assert_eq!(r.route("meters").map(Route::format), Some(PayloadFormat::Json), "# matches the parent level");
        assert_eq!(r.route("ami/x/y/z").map(Route::format), Some(PayloadFormat::Cim));
        assert!(r.route("other/topic").is_none());
        assert_eq!(r.filters().collect::<Vec<_>>(), ["meters/+/senml", "meters/#", "ami/#"]);
    }

    #[test]
    fn senml_units_are_scaled_into_the_points_units() {
        let pack = br#"[{"bn":"m1:","bt":1714564800,"n":"energy","u":"kWh","v":1.5},{"n":"power","u":"W","v":1500},{"n":"volts","u":"V","v":230}]"#;
        let d = router().route("meters/m1/senml").unwrap().decode(pack, NOW).unwrap();
        assert_eq!(d.unmapped, 1);
        assert_eq!(d.data.len(), 2);
        assert_eq!(d.data[0].point.as_str(), "MTR1/MMTR1.TotWh.actVal");
        assert_eq!(d.data[0].value, Value::Float(1500.0));
        assert_eq!(d.data[1].value, Value::Float(1.5));
        assert_eq!(d.data[0].source_time, Some((Timestamp::from_unix_millis(1_714_564_800_000), TimeQuality::GOOD)));
        assert_eq!(d.data[0].received_at, NOW);
    }

    #[test]
    fn a_unit_of_another_quantity_is_refused_not_guessed() {
        let d = router().route("meters/m1/senml").unwrap().decode(br#"[{"n":"m1:energy","u":"W","v":1}]"#, NOW).unwrap();
        assert!(d.data.is_empty());
        assert_eq!(d.refused, [MappingError::UnitMismatch { name: "m1:energy".into(), found: "W".into(), expected: "Wh".into() }]);
        let d = router().route("meters/m1/senml").unwrap().decode(br#"[{"n":"m1:energy","u":"Wh","v":1e300}]"#, NOW).unwrap();
        assert!(matches!(d.refused[..], [MappingError::OutOfRange { .. }]));
    }

    #[test]
    fn cim_readings_map_by_meter_first_then_any_meter() {
        let xml = include_str!("../testdata/seed002-repaired.xml");
        let route = router();
        let route = route.route("ami/readings").unwrap();
        let d = route.decode(xml.as_bytes(), NOW).unwrap();
        let got: Vec<_> = d.data.iter().map(|d| (d.point.as_str(), d.value)).collect();
        assert_eq!(got, [("MTR3/MMTR1.TotWh.actVal", Value::Float(1_234_500.0))]);
        assert_eq!(d.refused.len(), 1, "kvarh is not Wh");
        let other_meter = xml.replace("11111111", "22222222");
        let d = route.decode(other_meter.as_bytes(), NOW).unwrap();
        assert_eq!(d.data[0].point.as_str(), "MTRX/MMTR1.TotWh.actVal");
        assert_eq!(d.data[0].quality, Quality::GOOD);
    }

    #[test]
    fn json_values_without_unit_are_taken_in_the_points_unit_and_errors_surface() {
        let route = router();
        let route = route.route("meters/m2/json").unwrap();
        let d = route.decode(br#"{"ts":"2024-05-01T12:00:00Z","e":42}"#, NOW).unwrap();
        assert_eq!(d.data[0].value, Value::Float(42.0));
        assert!(matches!(route.decode(b"{", NOW), Err(PayloadError::Json(JsonError::Syntax(_)))));
    }
}
