//! CIM IEC 61968-9 `MeterReadings` XML messages (the format seed 002 shows for metering data
//! sets), read into readings.
//!
//! Understood structure (namespace prefixes are ignored; the message may sit inside an envelope):
//!
//! ```text
//! MeterReadings
//!   MeterReading*
//!     Meter          mRID | Names/name        -> Reading::meter (mRID preferred)
//!     Readings*      timeStamp? value ReadingQualities/ReadingQualityType@ref* ReadingType@ref
//!     IntervalBlocks* ReadingType@ref  IntervalReadings* (timeStamp? value ReadingQualities*)
//! ```
//!
//! The reading's name is its ReadingType code; its unit comes from the code's last three
//! fields (power-of-ten multiplier, unit symbol, currency), which is where both the 18-field
//! codes of IEC 61968-9:2013 and the 19-field codes in seed 002 keep them. Times are
//! xs:dateTime with a mandatory UTC offset (a time without one is ambiguous and refused).
//! Quality: see [`quality_from_code`].

use std::borrow::Cow;

use gridtrust_model::{Quality, TimeQuality, Timestamp, Validity};
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::reading::{Reading, timestamp_from_rfc3339};
use crate::units::Unit;

/// Why a MeterReadings message yields no readings; `at` is a byte offset in the payload.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CimError {
    #[error("not well-formed XML at byte {at}: {reason}")]
    Xml { at: u64, reason: String },
    #[error("the XML ends inside <{open}>")]
    Truncated { open: String },
    #[error("elements nested deeper than {max} at byte {at}")]
    TooDeep { at: u64, max: usize },
    #[error("no MeterReadings element in the message")]
    NotMeterReadings,
    #[error("<{element}> at byte {at} has no `ref` attribute")]
    MissingRef { at: u64, element: &'static str },
    #[error("reading ending at byte {at} has no value")]
    MissingValue { at: u64 },
    #[error("reading ending at byte {at} has no ReadingType")]
    MissingReadingType { at: u64 },
    #[error("value {text:?} at byte {at} is not a finite number")]
    BadValue { at: u64, text: String },
    #[error("timeStamp {text:?} at byte {at} is not an xs:dateTime with UTC offset")]
    BadTimestamp { at: u64, text: String },
    #[error("ReadingType {code:?} at byte {at} is not a dotted code ending in multiplier.unit.currency")]
    BadReadingType { at: u64, code: String },
    #[error("ReadingQualityType {code:?} at byte {at} is not system.category.subcategory")]
    BadQuality { at: u64, code: String },
}

/// Elements deeper than this are refused, so a hostile message cannot grow the stack unbounded.
const MAX_DEPTH: usize = 64;

/// Reads every reading of a MeterReadings message.
pub fn parse_meter_readings(payload: &[u8]) -> Result<Vec<Reading>, CimError> {
    let mut parser = Parser::default();
    let mut reader = Reader::from_reader(payload);
    loop {
        let at = reader.buffer_position();
        let event = reader.read_event().map_err(|e| CimError::Xml { at: reader.error_position(), reason: e.to_string() })?;
        let xml_err = |e: &dyn std::fmt::Display| CimError::Xml { at, reason: e.to_string() };
        match event {
            Event::Start(e) => parser.open(&e, at)?,
            Event::Empty(e) => {
                parser.open(&e, at)?;
                parser.close(at)?;
            }
            Event::End(_) => parser.close(at)?,
            // Text outside the few elements whose content is read (mostly indentation) is skipped
            // undecoded; entity references are still checked, wherever they are.
            Event::Text(_) | Event::CData(_) if !parser.wants_text() => {}
            Event::Text(t) => parser.text(&t.xml10_content().map_err(|e| xml_err(&e))?),
            Event::CData(t) => parser.text(&t.decode().map_err(|e| xml_err(&e))?),
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().map_err(|e| xml_err(&e))? {
                    Some(c) => Cow::Owned(c.to_string()),
                    None => {
                        let name = r.decode().map_err(|e| xml_err(&e))?;
                        let text = quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| xml_err(&format_args!("unknown entity &{name};")))?;
                        Cow::Borrowed(text)
                    }
                };
                if parser.wants_text() {
                    parser.text(&resolved);
                }
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::DocType(_) | Event::Comment(_) => {}
        }
    }
    if let Some(open) = parser.stack.last() {
        return Err(CimError::Truncated { open: format!("{open:?}") });
    }
    if !parser.seen_root {
        return Err(CimError::NotMeterReadings);
    }
    Ok(parser.readings)
}

/// The elements the parser gives meaning to; everything else is `Other` and only counted for
/// depth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Elem {
    MeterReadings,
    MeterReading,
    Meter,
    MeterMrid,
    MeterNames,
    MeterName,
    Readings,
    IntervalBlocks,
    IntervalReadings,
    ReadingQualities,
    TimeStamp,
    Value,
    Other,
}

/// A reading being assembled from a `Readings` or `IntervalReadings` element.
#[derive(Default)]
struct Pending {
    time: Option<Timestamp>,
    value: Option<f64>,
    reading_type: Option<String>,
    quality: Quality,
}

#[derive(Default)]
struct Parser {
    stack: Vec<Elem>,
    text: String,
    seen_root: bool,
    /// Meter id of the current MeterReading; mRID beats a name.
    meter_mrid: Option<String>,
    meter_name: Option<String>,
    /// Readings of the current MeterReading, completed when it closes (the Meter element may
    /// come after IntervalBlocks).
    in_meter_reading: Vec<Reading>,
    reading: Pending,
    block_type: Option<String>,
    block: Vec<(Pending, u64)>,
    readings: Vec<Reading>,
}

impl Parser {
    fn open(&mut self, e: &BytesStart<'_>, at: u64) -> Result<(), CimError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(CimError::TooDeep { at, max: MAX_DEPTH });
        }
        let parent = self.stack.last().copied();
        let local = e.local_name();
        let elem = match (local.as_ref(), parent) {
            (b"MeterReadings", None | Some(Elem::Other)) => {
                self.seen_root = true;
                Elem::MeterReadings
            }
            (b"MeterReading", Some(Elem::MeterReadings)) => {
                self.meter_mrid = None;
                self.meter_name = None;
                Elem::MeterReading
            }
            (b"Meter", Some(Elem::MeterReading)) => Elem::Meter,
            (b"mRID", Some(Elem::Meter)) => Elem::MeterMrid,
            (b"Names", Some(Elem::Meter)) => Elem::MeterNames,
            (b"name", Some(Elem::MeterNames)) => Elem::MeterName,
            (b"Readings", Some(Elem::MeterReading)) => {
                self.reading = Pending::default();
                Elem::Readings
            }
            (b"IntervalBlocks", Some(Elem::MeterReading)) => {
                self.block_type = None;
                self.block.clear();
                Elem::IntervalBlocks
            }
            (b"IntervalReadings", Some(Elem::IntervalBlocks)) => {
                self.reading = Pending::default();
                Elem::IntervalReadings
            }
            (b"ReadingQualities", Some(Elem::Readings | Elem::IntervalReadings)) => Elem::ReadingQualities,
            (b"timeStamp", Some(Elem::Readings | Elem::IntervalReadings)) => Elem::TimeStamp,
            (b"value", Some(Elem::Readings | Elem::IntervalReadings)) => Elem::Value,
            (b"ReadingType", Some(Elem::Readings | Elem::IntervalBlocks)) => {
                let code = reference(e, at, "ReadingType")?;
                if parent == Some(Elem::Readings) {
                    self.reading.reading_type = Some(code);
                } else {
                    self.block_type = Some(code);
                }
                Elem::Other
            }
            (b"ReadingQualityType", Some(Elem::ReadingQualities)) => {
                let code = reference(e, at, "ReadingQualityType")?;
                let q = quality_from_code(&code).ok_or(CimError::BadQuality { at, code })?;
                self.reading.quality = worse(self.reading.quality, q);
                Elem::Other
            }
            _ => Elem::Other,
        };
        self.text.clear();
        self.stack.push(elem);
        Ok(())
    }

    /// Whether the current element's text is read.
    fn wants_text(&self) -> bool {
        matches!(self.stack.last(), Some(Elem::MeterMrid | Elem::MeterName | Elem::TimeStamp | Elem::Value))
    }

    fn text(&mut self, text: &str) {
        self.text.push_str(text);
    }

    fn close(&mut self, at: u64) -> Result<(), CimError> {
        let Some(elem) = self.stack.pop() else {
            return Err(CimError::Xml { at, reason: "end tag without start tag".into() });
        };
        let text = self.text.trim();
        match elem {
            Elem::MeterMrid => self.meter_mrid = Some(text.to_owned()),
            Elem::MeterName => {
                if self.meter_name.is_none() {
                    self.meter_name = Some(text.to_owned());
                }
            }
            Elem::TimeStamp => {
                let t = timestamp_from_rfc3339(text).ok_or_else(|| CimError::BadTimestamp { at, text: text.to_owned() })?;
                self.reading.time = Some(t);
            }
            Elem::Value => {
                let v = text.parse::<f64>().ok().filter(|v| v.is_finite());
                self.reading.value = Some(v.ok_or_else(|| CimError::BadValue { at, text: text.to_owned() })?);
            }
            Elem::Readings => {
                let pending = std::mem::take(&mut self.reading);
                let reading_type = pending.reading_type.clone().ok_or(CimError::MissingReadingType { at })?;
                self.in_meter_reading.push(finish(pending, reading_type, at)?);
            }
            Elem::IntervalReadings => self.block.push((std::mem::take(&mut self.reading), at)),
            Elem::IntervalBlocks => {
                let reading_type = self.block_type.take().ok_or(CimError::MissingReadingType { at })?;
                for (pending, end) in std::mem::take(&mut self.block) {
                    self.in_meter_reading.push(finish(pending, reading_type.clone(), end)?);
                }
            }
            Elem::MeterReading => {
                let meter = self.meter_mrid.take().or_else(|| self.meter_name.take());
                for mut r in self.in_meter_reading.drain(..) {
                    r.meter.clone_from(&meter);
                    self.readings.push(r);
                }
            }
            Elem::MeterReadings | Elem::Meter | Elem::MeterNames | Elem::ReadingQualities | Elem::Other => {}
        }
        self.text.clear();
        Ok(())
    }
}

fn finish(p: Pending, reading_type: String, at: u64) -> Result<Reading, CimError> {
    let value = p.value.ok_or(CimError::MissingValue { at })?;
    let unit = unit_of_reading_type(&reading_type).ok_or_else(|| CimError::BadReadingType { at, code: reading_type.clone() })?;
    Ok(Reading {
        name: reading_type,
        meter: None,
        value,
        unit: Some(unit),
        source_time: p.time.map(|t| (t, TimeQuality::GOOD)),
        quality: p.quality,
    })
}

fn reference(e: &BytesStart<'_>, at: u64, element: &'static str) -> Result<String, CimError> {
    let attr = e.try_get_attribute("ref").map_err(|err| CimError::Xml { at, reason: err.to_string() })?;
    let attr = attr.ok_or(CimError::MissingRef { at, element })?;
    let value = attr.normalized_value(quick_xml::XmlVersion::Implicit1_0).map_err(|err| CimError::Xml { at, reason: err.to_string() })?;
    Ok(value.trim().to_owned())
}

/// The unit a ReadingType code names: its last three dot-separated fields are the power-of-ten
/// multiplier, the unit symbol code and the currency. `None` unless every field is a number and
/// there are at least three.
pub fn unit_of_reading_type(code: &str) -> Option<Unit> {
    if !code.split('.').all(|f| f.parse::<i64>().is_ok()) {
        return None;
    }
    let mut last = code.rsplit('.');
    let (Some(_currency), Some(unit), Some(multiplier)) = (last.next(), last.next(), last.next()) else {
        return None;
    };
    let multiplier = multiplier.parse::<i8>().ok().filter(|m| (-24..=24).contains(m))?;
    Some(Unit::from_cim_codes(multiplier, unit.parse::<u16>().ok()?))
}

/// IEC 61850 quality for an IEC 61968-9 ReadingQualityType code `system.category.subcategory`
/// (`None` when the code is not three numbers). By category: 0 valid → good; 7 edited and 8
/// estimated → substituted; 12 projected → substituted and questionable; 9 obsolete → old data;
/// 6 failed validation → invalid; 5 reasonability → questionable and out of range; 1
/// diagnostics, 3 tamper, 4 data collection, 10 questionable and any other → questionable;
/// 2 power quality and 11 derived → good (they describe, they do not doubt, the value).
pub fn quality_from_code(code: &str) -> Option<Quality> {
    let mut parts = code.split('.').map(|p| p.trim().parse::<u32>().ok());
    let (Some(Some(_system)), Some(Some(category)), Some(Some(_sub)), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let questionable = Quality::GOOD.with_validity(Validity::Questionable);
    Some(match category {
        0 | 2 | 11 => Quality::GOOD,
        5 => questionable.with_out_of_range(true),
        6 => Quality::GOOD.with_validity(Validity::Invalid),
        7 | 8 => Quality::GOOD.with_substituted(true),
        9 => Quality::GOOD.with_old_data(true),
        12 => questionable.with_substituted(true),
        _ => questionable,
    })
}

/// Combines two qualities of one reading: the flags of both, and the worse validity.
fn worse(a: Quality, b: Quality) -> Quality {
    let rank = |v: Validity| match v {
        Validity::Good => 0,
        Validity::Questionable => 1,
        Validity::Reserved => 2,
        Validity::Invalid => 3,
    };
    let validity = if rank(b.validity()) > rank(a.validity()) { b.validity() } else { a.validity() };
    Quality::from_bits((a.bits() | b.bits()) & !0b11).unwrap_or(a).with_validity(validity)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Seed 002, figure 1, verbatim as the text extraction left it (see testdata/README.md).
    const SEED_002_VERBATIM: &str = include_str!("../testdata/seed002-verbatim.xml");
    /// The same message repaired (see testdata/README.md).
    const SEED_002_REPAIRED: &str = include_str!("../testdata/seed002-repaired.xml");

    #[test]
    fn seed_002_example_yields_its_two_readings() {
        let r = parse_meter_readings(SEED_002_REPAIRED.as_bytes()).unwrap();
        assert_eq!(r.len(), 2);
        let t = Timestamp::from_unix_millis(1_568_377_800_000);
        assert_eq!(r[0].name, "0.26.0.0.1.1.12.0.0.0.0.0.0.0.0.224.3.72.0");
        assert_eq!(r[0].meter.as_deref(), Some("11111111"), "the meter's own name, not the NameType's");
        assert_eq!(r[0].value, 1234.5);
        assert_eq!(r[0].unit.as_ref().map(ToString::to_string).as_deref(), Some("kWh"));
        assert_eq!(r[0].source_time, Some((t, TimeQuality::GOOD)));
        assert_eq!(r[1].unit.as_ref().map(ToString::to_string).as_deref(), Some("kvarh"));
        assert_eq!(r[1].value, 56.25);
        assert!(r.iter().all(|r| r.quality == Quality::GOOD));
    }

    #[test]
    fn seed_002_verbatim_is_refused_with_a_typed_error() {
        let err = parse_meter_readings(SEED_002_VERBATIM.as_bytes()).unwrap_err();
        assert!(matches!(err, CimError::Xml { .. }), "{err}");
    }

    #[test]
    fn interval_blocks_qualities_and_mrid() {
        let xml = br#"<m:MeterReadings xmlns:m="http://iec.ch/TC57/2011/MeterReadings#"><m:MeterReading>
            <m:IntervalBlocks>
              <m:IntervalReadings><m:timeStamp>2024-05-01T12:15:00Z</m:timeStamp><m:value>0.25</m:value></m:IntervalReadings>
              <m:IntervalReadings><m:ReadingQualities><m:ReadingQualityType ref="1.8.0"/></m:ReadingQualities>
                <m:timeStamp>2024-05-01T12:30:00Z</m:timeStamp><m:value>0.30</m:value></m:IntervalReadings>
              <m:ReadingType ref="0.0.2.4.1.1.12.0.0.0.0.0.0.0.0.3.72.0"/>
            </m:IntervalBlocks>
            <m:Meter><m:mRID>a9f3c2d0-0000-4000-8000-000000000001</m:mRID><m:Names><m:name>MTR1</m:name></m:Names></m:Meter>
            <m:Readings><m:ReadingQualities><m:ReadingQualityType ref="1.6.0"/></m:ReadingQualities>
              <m:ReadingQualities><m:ReadingQualityType ref="1.7.0"/></m:ReadingQualities>
              <m:value>230.5</m:value><m:ReadingType ref="0.0.0.6.0.1.54.0.0.0.0.0.0.0.128.0.29.0"/></m:Readings>
          </m:MeterReading></m:MeterReadings>"#;
        let r = parse_meter_readings(xml).unwrap();
        assert_eq!(r.len(), 3);
        assert!(r.iter().all(|r| r.meter.as_deref() == Some("a9f3c2d0-0000-4000-8000-000000000001")));
        assert_eq!((r[0].value, r[1].value), (0.25, 0.30));
        assert_eq!(r[0].name, "0.0.2.4.1.1.12.0.0.0.0.0.0.0.0.3.72.0");
        assert!(r[1].quality.substituted() && r[1].quality.validity() == Validity::Good);
        assert_eq!(r[2].unit, Some(Unit::parse("V")));
        assert_eq!(r[2].source_time, None);
        assert_eq!(r[2].quality.validity(), Validity::Invalid);
        assert!(r[2].quality.substituted());
    }

    #[test]
    fn envelope_entities_and_cdata_are_handled() {
        let xml = br#"<Envelope><Payload><MeterReadings><MeterReading><Meter><Names><name>M&amp;1</name></Names></Meter>
            <Readings><value><![CDATA[ 12.5 ]]></value><ReadingType ref="0.0.0.1.1.1.12.0.0.0.0.0.0.0.0.0.72.0"/></Readings>
            </MeterReading></MeterReadings></Payload></Envelope>"#;
        let r = parse_meter_readings(xml).unwrap();
        assert_eq!(r[0].meter.as_deref(), Some("M&1"));
        assert_eq!(r[0].value, 12.5);
    }

    #[test]
    fn malformed_messages_say_what_and_where() {
        let reading = |inner: &str| format!("<MeterReadings><MeterReading><Readings>{inner}</Readings></MeterReading></MeterReadings>");
        let err = |xml: &str| parse_meter_readings(xml.as_bytes()).unwrap_err();
        let rt = r#"<ReadingType ref="0.0.0.1.1.1.12.0.0.0.0.0.0.0.0.3.72.0"/>"#;
        assert!(matches!(err(&reading(rt)), CimError::MissingValue { .. }));
        assert!(matches!(err(&reading("<value>1</value>")), CimError::MissingReadingType { .. }));
        assert!(matches!(err(&reading(&format!("<value>12,5</value>{rt}"))), CimError::BadValue { text, .. } if text == "12,5"));
        assert!(matches!(err(&reading(&format!("<value>NaN</value>{rt}"))), CimError::BadValue { .. }));
        assert!(matches!(
            err(&reading(&format!("<timeStamp>2019-09-13T15:30:00</timeStamp><value>1</value>{rt}"))),
            CimError::BadTimestamp { .. }
        ));
        assert!(matches!(err(&reading(r#"<value>1</value><ReadingType ref="kWh"/>"#)), CimError::BadReadingType { .. }));
        assert!(matches!(err(&reading(r#"<value>1</value><ReadingType ref="3.72"/>"#)), CimError::BadReadingType { .. }));
        assert!(matches!(err(&reading("<value>1</value><ReadingType/>")), CimError::MissingRef { element: "ReadingType", .. }));
        assert!(matches!(
            err(&reading(&format!(r#"<value>1</value><ReadingQualities><ReadingQualityType ref="x"/></ReadingQualities>{rt}"#))),
            CimError::BadQuality { .. }
        ));
        assert!(matches!(err("<MeterReadings><MeterReading>"), CimError::Truncated { .. }));
        assert!(matches!(err("<Other/>"), CimError::NotMeterReadings));
        assert!(matches!(err(""), CimError::NotMeterReadings));
        assert!(matches!(err("<a>&bogus;</a>"), CimError::Xml { .. }));
        assert!(matches!(err(&"<a>".repeat(100)), CimError::TooDeep { .. }));
        assert!(matches!(err("<MeterReadings></Other>"), CimError::Xml { .. }));
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse_meter_readings(&bytes);
        }

        #[test]
        fn never_panics_on_mutated_seed_message(cut in 0usize..2000, insert in "[<>/&;=\"a-z0-9 .:-]{0,8}") {
            let mut text = SEED_002_REPAIRED.to_owned();
            let at = cut.min(text.len());
            if text.is_char_boundary(at) {
                text.insert_str(at, &insert);
            }
            let _ = parse_meter_readings(text.as_bytes());
        }
    }
}
