//! Plain JSON meter payloads: one object per message, values picked out by JSON Pointer.
//!
//! The format, as documented for meter integrators:
//!
//! ```json
//! {"time": "2024-05-01T12:00:00Z", "energy": {"import_wh": 123456.7}, "power_w": 1520.5}
//! ```
//!
//! - The payload is one JSON object.
//! - Each mapped value is selected by an RFC 6901 JSON Pointer (`/energy/import_wh`); it must be
//!   a number, or a boolean (read as 1 or 0). `null` and absent members are "not in this
//!   message" and yield nothing, so a meter may send different subsets in different messages;
//!   a message in which no selected member is present is an error.
//! - The optional time member (a pointer, `/time` unless configured otherwise) is an RFC 3339
//!   string with offset or a number of seconds since the Unix epoch; without it the edge's
//!   receive time stands.
//! - JSON carries no quality: readings are good.

use gridtrust_model::{Quality, TimeQuality};
use serde_json::Value as Json;

use crate::reading::{Reading, timestamp_from_rfc3339, timestamp_from_seconds};

/// Which members of the object to read: the layout one topic's mapping asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonLayout {
    /// JSON Pointers of the values.
    pub values: Vec<String>,
    /// JSON Pointer of the timestamp, if the meter sends one.
    pub time: Option<String>,
}

/// Why a JSON payload yields no readings.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JsonError {
    #[error("not JSON: {0}")]
    Syntax(String),
    #[error("the payload is a JSON {0}, not an object")]
    NotAnObject(&'static str),
    #[error("member {pointer} is a {found}, not a number or boolean")]
    NotANumber { pointer: String, found: &'static str },
    #[error("time member {pointer} is neither an RFC 3339 time with offset nor seconds since the epoch: {found}")]
    BadTime { pointer: String, found: String },
    #[error("none of the mapped members ({0}) is in the message")]
    NothingSelected(String),
}

/// Reads the values `layout` selects from one JSON payload.
pub fn parse_json(payload: &[u8], layout: &JsonLayout) -> Result<Vec<Reading>, JsonError> {
    let doc: Json = serde_json::from_slice(payload).map_err(|e| JsonError::Syntax(e.to_string()))?;
    if !doc.is_object() {
        return Err(JsonError::NotAnObject(kind(&doc)));
    }
    let source_time = match layout.time.as_deref().and_then(|p| doc.pointer(p).map(|v| (p, v))) {
        None | Some((_, Json::Null)) => None,
        Some((pointer, found)) => {
            let t = match found {
                Json::String(s) => timestamp_from_rfc3339(s),
                Json::Number(n) => n.as_f64().and_then(timestamp_from_seconds),
                _ => None,
            };
            let t = t.ok_or_else(|| JsonError::BadTime { pointer: pointer.to_owned(), found: found.to_string() })?;
            Some((t, TimeQuality::GOOD))
        }
    };
    let mut readings = Vec::with_capacity(layout.values.len());
    for pointer in &layout.values {
        let value = match doc.pointer(pointer) {
            None | Some(Json::Null) => continue,
            Some(Json::Bool(b)) => f64::from(u8::from(*b)),
            Some(Json::Number(n)) => match n.as_f64() {
                Some(v) => v,
                None => return Err(JsonError::NotANumber { pointer: pointer.clone(), found: "number out of range" }),
            },
            Some(other) => return Err(JsonError::NotANumber { pointer: pointer.clone(), found: kind(other) }),
        };
        readings.push(Reading { name: pointer.clone(), meter: None, value, unit: None, source_time, quality: Quality::GOOD });
    }
    if readings.is_empty() {
        return Err(JsonError::NothingSelected(layout.values.join(", ")));
    }
    Ok(readings)
}

fn kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "boolean",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use gridtrust_model::Timestamp;
    use proptest::prelude::*;

    use super::*;

    fn layout(values: &[&str]) -> JsonLayout {
        JsonLayout { values: values.iter().map(|s| (*s).to_owned()).collect(), time: Some("/time".into()) }
    }

    #[test]
    fn nested_members_are_selected_with_their_time() {
        let payload = br#"{"time":"2024-05-01T12:00:00Z","meter":"MTR1","energy":{"import_wh":123456.5,"export_wh":12},"power_w":1520.25,"relay_closed":true}"#;
        let r = parse_json(payload, &layout(&["/energy/import_wh", "/energy/export_wh", "/power_w", "/relay_closed"])).unwrap();
        let values: Vec<_> = r.iter().map(|r| (r.name.as_str(), r.value)).collect();
        assert_eq!(values, [("/energy/import_wh", 123456.5), ("/energy/export_wh", 12.0), ("/power_w", 1520.25), ("/relay_closed", 1.0)]);
        assert!(r.iter().all(|r| r.source_time == Some((Timestamp::from_unix_millis(1_714_564_800_000), TimeQuality::GOOD))));
    }

    #[test]
    fn epoch_seconds_time_and_array_index_pointers_work() {
        let payload = br#"{"time":1714564800.25,"phases":[230.1,229.8,231.0]}"#;
        let r = parse_json(payload, &layout(&["/phases/1"])).unwrap();
        assert_eq!(r[0].value, 229.8);
        assert_eq!(r[0].source_time.unwrap().0, Timestamp(1_714_564_800_250_000_000));
    }

    #[test]
    fn absent_members_are_skipped_but_a_message_with_none_is_an_error() {
        let r = parse_json(br#"{"power_w":5}"#, &layout(&["/energy", "/power_w"])).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].source_time, None);
        assert!(matches!(parse_json(br#"{"other":5}"#, &layout(&["/power_w"])), Err(JsonError::NothingSelected(_))));
    }

    #[test]
    fn malformed_payloads_name_the_problem() {
        let l = layout(&["/power_w"]);
        assert!(matches!(parse_json(b"{\"power_w\": 5", &l), Err(JsonError::Syntax(_))));
        assert!(matches!(parse_json(b"[1,2]", &l), Err(JsonError::NotAnObject("array"))));
        assert_eq!(parse_json(br#"{"power_w":"5 W"}"#, &l), Err(JsonError::NotANumber { pointer: "/power_w".into(), found: "string" }));
        assert!(matches!(parse_json(br#"{"power_w":5,"time":"13/09/2019"}"#, &l), Err(JsonError::BadTime { .. })));
        assert!(matches!(parse_json(br#"{"power_w":5,"time":1e300}"#, &l), Err(JsonError::BadTime { .. })));
        assert!(matches!(parse_json(b"\xff\xfe", &l), Err(JsonError::Syntax(_))));
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse_json(&bytes, &layout(&["/a", "/a/0", "/time"]));
        }

        #[test]
        fn never_panics_on_arbitrary_json_text(text in r#"[\{\}\[\]":,0-9a-z./eE+-]{0,64}"#) {
            let _ = parse_json(text.as_bytes(), &layout(&["/a", "/a/0"]));
        }
    }
}
