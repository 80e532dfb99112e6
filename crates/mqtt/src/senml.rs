//! SenML packs (RFC 8428, JSON representation), resolved into readings.
//!
//! Resolution follows RFC 8428 §4.6: base name, base time, base unit, base value and base sum
//! apply to every later record until replaced; the name is base name + name and must use only
//! the characters §4.5.1 allows; the time is base time + time, and a resolved time below 2^28
//! seconds is relative to `now` (§4.5.3), marked as not from a synchronised clock.
//!
//! What is read: the numeric value `v` (plus base value), the boolean `vb` (1 or 0), or, when a
//! record has neither, its sum `s` (plus base sum). Records with only a string or data value
//! (`vs`, `vd`) carry nothing a meter point can hold and are skipped. A record with no value and
//! no sum is an error, except a record made of base fields only. Unknown fields are ignored,
//! except those ending in `_`, which RFC 8428 §4.4 says must be understood: they are refused.

use std::fmt;

use gridtrust_model::{Quality, TimeQuality, Timestamp};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::reading::{Reading, timestamp_from_seconds};
use crate::units::Unit;

/// Why a SenML pack yields no readings.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SenmlError {
    /// Not JSON, not an array of objects, a field of the wrong type, a duplicate field or a
    /// must-understand field (serde's message names it and the position).
    #[error("not a SenML JSON pack: {0}")]
    Syntax(String),
    #[error("record {record}: base version {version} is newer than the 10 this parser understands")]
    UnsupportedVersion { record: usize, version: u64 },
    #[error("record {record}: the resolved name {name:?} is empty or uses characters SenML does not allow")]
    BadName { record: usize, name: String },
    #[error("record {record}: has no value and no sum")]
    NoValue { record: usize },
    #[error("record {record}: has more than one value field (v, vs, vb, vd)")]
    SeveralValues { record: usize },
    #[error("record {record}: the resolved {field} is not a finite number")]
    NotFinite { record: usize, field: &'static str },
    #[error("record {record}: the resolved time {seconds} s is not representable")]
    BadTime { record: usize, seconds: f64 },
}

/// Resolves a SenML JSON pack into readings; `now` anchors relative times.
pub fn parse_senml(payload: &[u8], now: Timestamp) -> Result<Vec<Reading>, SenmlError> {
    let pack: Vec<Record> = serde_json::from_slice(payload).map_err(|e| SenmlError::Syntax(e.to_string()))?;
    let mut base = Base::default();
    let mut readings = Vec::with_capacity(pack.len());
    for (index, record) in pack.into_iter().enumerate() {
        match record.bver {
            Some(version) if version > 10 => return Err(SenmlError::UnsupportedVersion { record: index, version }),
            _ => {}
        }
        base.update(&record);
        if let Some(reading) = resolve(index, record, &base, now)? {
            readings.push(reading);
        }
    }
    Ok(readings)
}

/// Base fields in force (RFC 8428 §4.1): each replaces the previous one when a record sets it.
#[derive(Default)]
struct Base {
    name: String,
    time: f64,
    unit: Option<String>,
    value: f64,
    sum: f64,
}

impl Base {
    fn update(&mut self, r: &Record) {
        if let Some(bn) = &r.bn {
            self.name.clone_from(bn);
        }
        if let Some(bt) = r.bt {
            self.time = bt;
        }
        if let Some(bu) = &r.bu {
            self.unit = Some(bu.clone());
        }
        if let Some(bv) = r.bv {
            self.value = bv;
        }
        if let Some(bs) = r.bs {
            self.sum = bs;
        }
    }
}

fn resolve(index: usize, r: Record, base: &Base, now: Timestamp) -> Result<Option<Reading>, SenmlError> {
    let value_fields = usize::from(r.v.is_some()) + usize::from(r.vs) + usize::from(r.vb.is_some()) + usize::from(r.vd);
    if value_fields > 1 {
        return Err(SenmlError::SeveralValues { record: index });
    }
    let value = match (r.v, r.vb, r.s) {
        (Some(v), _, _) => base.value + v,
        (None, Some(b), _) => f64::from(u8::from(b)),
        (None, None, _) if r.vs || r.vd => return Ok(None),
        (None, None, Some(s)) => base.sum + s,
        (None, None, None) => {
            let base_only = r.n.is_none() && r.u.is_none() && r.t.is_none();
            return if base_only { Ok(None) } else { Err(SenmlError::NoValue { record: index }) };
        }
    };
    if !value.is_finite() {
        return Err(SenmlError::NotFinite { record: index, field: "value" });
    }
    let name = match r.n {
        Some(n) => format!("{}{n}", base.name),
        None => base.name.clone(),
    };
    if !valid_name(&name) {
        return Err(SenmlError::BadName { record: index, name });
    }
    let seconds = base.time + r.t.unwrap_or(0.0);
    let source_time = if seconds < RELATIVE_LIMIT_S {
        let at = timestamp_from_seconds(seconds).and_then(|offset| now.0.checked_add(offset.0)).map(Timestamp);
        at.map(|t| (t, TimeQuality { not_synchronized: true, ..TimeQuality::GOOD }))
    } else {
        timestamp_from_seconds(seconds).map(|t| (t, TimeQuality::GOOD))
    };
    let Some(source_time) = source_time else {
        return Err(SenmlError::BadTime { record: index, seconds });
    };
    let unit = r.u.as_deref().or(base.unit.as_deref()).map(Unit::parse);
    Ok(Some(Reading { name, meter: None, value, unit, source_time: Some(source_time), quality: Quality::GOOD }))
}

/// Times below 2^28 s (about 8.5 years after the epoch) are relative to now (RFC 8428 §4.5.3).
const RELATIVE_LIMIT_S: f64 = 268_435_456.0;

/// RFC 8428 §4.5.1: `A-Z a-z 0-9 - : . / _`, starting with a letter or digit.
pub(crate) fn valid_name(name: &str) -> bool {
    name.as_bytes().first().is_some_and(u8::is_ascii_alphanumeric)
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b':' | b'.' | b'/' | b'_'))
}

/// One SenML record as sent. `vs` and `vd` are only noted as present: their content is not used.
#[derive(Default)]
struct Record {
    bn: Option<String>,
    bt: Option<f64>,
    bu: Option<String>,
    bv: Option<f64>,
    bs: Option<f64>,
    bver: Option<u64>,
    n: Option<String>,
    u: Option<String>,
    v: Option<f64>,
    vs: bool,
    vb: Option<bool>,
    vd: bool,
    s: Option<f64>,
    t: Option<f64>,
}

impl<'de> serde::Deserialize<'de> for Record {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(RecordVisitor)
    }
}

struct RecordVisitor;

/// Stores `value` in `slot`, refusing a field that appears twice in one record.
fn once<T>(slot: &mut Option<T>, key: &str, value: T) -> Result<(), String> {
    if slot.replace(value).is_some() { Err(format!("field `{key}` appears twice in one record")) } else { Ok(()) }
}

impl<'de> Visitor<'de> for RecordVisitor {
    type Value = Record;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a SenML record (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Record, A::Error> {
        let mut r = Record::default();
        let mut vs = None;
        let mut vd = None;
        let mut ut = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let stored = match key.as_ref() {
                "bn" => once(&mut r.bn, "bn", map.next_value()?),
                "bt" => once(&mut r.bt, "bt", map.next_value()?),
                "bu" => once(&mut r.bu, "bu", map.next_value()?),
                "bv" => once(&mut r.bv, "bv", map.next_value()?),
                "bs" => once(&mut r.bs, "bs", map.next_value()?),
                "bver" => once(&mut r.bver, "bver", map.next_value()?),
                "n" => once(&mut r.n, "n", map.next_value()?),
                "u" => once(&mut r.u, "u", map.next_value()?),
                "v" => once(&mut r.v, "v", map.next_value()?),
                "vs" => once(&mut vs, "vs", map.next_value::<String>()?),
                "vb" => once(&mut r.vb, "vb", map.next_value()?),
                "vd" => once(&mut vd, "vd", map.next_value::<String>()?),
                "s" => once(&mut r.s, "s", map.next_value()?),
                "t" => once(&mut r.t, "t", map.next_value()?),
                "ut" => once(&mut ut, "ut", map.next_value::<f64>()?),
                other if other.ends_with('_') => Err(format!("field `{other}` must be understood and is not")),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    Ok(())
                }
            };
            stored.map_err(de::Error::custom)?;
        }
        r.vs = vs.is_some();
        r.vd = vd.is_some();
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const NOW: Timestamp = Timestamp(1_700_000_000_000_000_000);

    #[test]
    fn rfc8428_multiple_datapoints_example_resolves() {
        // RFC 8428 §5.1.2: base name, base time, base unit, then relative t per record.
        let pack = br#"[
            {"bn":"urn:dev:ow:10e2073a01080063:","bt":1.276020076001e+09,"bu":"A","bver":5,"n":"voltage","u":"V","v":120.1},
            {"n":"current","t":-5,"v":1.2},
            {"n":"current","t":-4,"v":1.3}
        ]"#;
        let r = parse_senml(pack, NOW).unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].name, "urn:dev:ow:10e2073a01080063:voltage");
        assert_eq!(r[0].unit, Some(Unit::parse("V")));
        assert_eq!(r[1].name, "urn:dev:ow:10e2073a01080063:current");
        assert_eq!(r[1].unit, Some(Unit::parse("A")), "base unit applies when the record has none");
        assert_eq!(r[1].value, 1.2);
        let (t, q) = r[1].source_time.unwrap();
        assert_eq!(t, Timestamp(1_276_020_071_001_000_000));
        assert_eq!(q, TimeQuality::GOOD);
    }

    #[test]
    fn meter_pack_with_base_value_sum_and_boolean() {
        let pack = br#"[
            {"bn":"urn:dev:mac:0024befffe804ff1:","bt":1714564800,"bv":100000,"n":"energy","u":"kWh","v":23.5},
            {"n":"power","u":"W","v":-100000},
            {"n":"import","u":"Wh","s":42},
            {"n":"relay","vb":false},
            {"n":"firmware","vs":"1.2.3"}
        ]"#;
        let r = parse_senml(pack, NOW).unwrap();
        let got: Vec<_> = r.iter().map(|r| (r.name.rsplit(':').next().unwrap_or(""), r.value)).collect();
        assert_eq!(got, [("energy", 100023.5), ("power", 0.0), ("import", 42.0), ("relay", 0.0)]);
        assert_eq!(r[0].unit, Some(Unit { exponent: 3, symbol: "Wh".into() }));
    }

    #[test]
    fn relative_times_are_anchored_at_now_and_marked_unsynchronised() {
        let r = parse_senml(br#"[{"n":"a","v":1},{"n":"b","v":2,"t":-60}]"#, NOW).unwrap();
        assert_eq!(r[0].source_time.unwrap().0, NOW);
        assert!(r[0].source_time.unwrap().1.not_synchronized);
        assert_eq!(r[1].source_time.unwrap().0, Timestamp(NOW.0 - 60_000_000_000));
    }

    #[test]
    fn base_only_record_sets_bases_for_the_next() {
        let r = parse_senml(br#"[{"bn":"m1/","bt":1714564800},{"n":"e","v":1}]"#, NOW).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].name, "m1/e");
    }

    #[test]
    fn malformed_packs_name_the_record_and_the_problem() {
        let err = |p: &[u8]| parse_senml(p, NOW).unwrap_err();
        assert!(matches!(err(b"{\"n\":\"a\",\"v\":1}"), SenmlError::Syntax(_)), "a record, not a pack");
        assert!(matches!(err(br#"[{"n":"a","v":"12"}]"#), SenmlError::Syntax(_)));
        assert!(matches!(err(br#"[{"n":"a","v":1,"v":2}]"#), SenmlError::Syntax(m) if m.contains("twice")));
        assert!(matches!(err(br#"[{"n":"a","v":1,"crit_":1}]"#), SenmlError::Syntax(m) if m.contains("crit_")));
        assert_eq!(err(br#"[{"n":"ok","v":1},{"n":"a b","v":1}]"#), SenmlError::BadName { record: 1, name: "a b".into() });
        assert_eq!(err(br#"[{"v":1}]"#), SenmlError::BadName { record: 0, name: String::new() });
        assert_eq!(err(br#"[{"n":"a","u":"W"}]"#), SenmlError::NoValue { record: 0 });
        assert_eq!(err(br#"[{"n":"a","v":1,"vb":true}]"#), SenmlError::SeveralValues { record: 0 });
        assert_eq!(err(br#"[{"bver":11,"n":"a","v":1}]"#), SenmlError::UnsupportedVersion { record: 0, version: 11 });
        assert_eq!(err(br#"[{"bv":1e308,"n":"a","v":1e308}]"#), SenmlError::NotFinite { record: 0, field: "value" });
        assert!(matches!(err(br#"[{"n":"a","v":1,"t":1e300}]"#), SenmlError::BadTime { record: 0, .. }));
    }

    #[test]
    fn unknown_fields_without_underscore_are_ignored() {
        let r = parse_senml(br#"[{"n":"a","v":1,"ut":60,"extension":{"x":[1,2]}}]"#, NOW).unwrap();
        assert_eq!(r.len(), 1);
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse_senml(&bytes, NOW);
        }

        #[test]
        fn never_panics_on_pack_shaped_text(text in r#"\[\{("(bn|bt|bv|n|v|t|s|vb|u)":(-?[0-9]{1,12}(\.[0-9])?(e[0-9]{1,3})?|"[a-z:/ ]{0,4}"|true),?){0,6}\}\]"#) {
            let _ = parse_senml(text.as_bytes(), NOW);
        }
    }
}
