//! Decoding a command request from the API into the model's command terms: the one place the
//! API's command JSON meets `gridtrust_model`, so the hub and the fuzz target share it.

use gridtrust_model::{CommandAction, CommandValue, DoublePoint, PointId};

use crate::ApiError;
use crate::dto::CommandRequest;

/// Parses the request's action and value; errors name the field.
pub fn parse_request(req: &CommandRequest) -> Result<(PointId, CommandAction, CommandValue), ApiError> {
    let point = PointId::new(req.point.as_str()).map_err(|e| ApiError::BadRequest(format!("point: {e}")))?;
    let action = match req.action.as_str() {
        "select" => CommandAction::Select,
        "execute" => CommandAction::Execute,
        "cancel" => CommandAction::Cancel,
        other => return Err(ApiError::BadRequest(format!("action must be select, execute or cancel, got `{other}`"))),
    };
    let v = &req.value.value;
    let bad = |what: &str| ApiError::BadRequest(format!("value.value for kind {}: {what}, got {v}", req.value.kind));
    let value = match req.value.kind.as_str() {
        "single" => CommandValue::Single(v.as_bool().ok_or_else(|| bad("expected true or false"))?),
        "double" => CommandValue::Double(match (v.as_str(), v.as_bool()) {
            (Some("closed" | "close" | "on"), _) | (_, Some(true)) => DoublePoint::On,
            (Some("open" | "off"), _) | (_, Some(false)) => DoublePoint::Off,
            _ => return Err(bad("expected \"open\" or \"closed\"")),
        }),
        "step" => CommandValue::Step {
            raise: match v.as_str() {
                Some("raise") => true,
                Some("lower") => false,
                _ => return Err(bad("expected \"raise\" or \"lower\"")),
            },
        },
        "setpoint" => {
            let x =
                v.as_f64().filter(|x| x.is_finite() && x.abs() <= f64::from(f32::MAX)).ok_or_else(|| bad("expected a finite number"))?;
            #[allow(clippy::cast_possible_truncation)] // range checked above; f32 precision is the protocol's
            CommandValue::SetpointFloat(x as f32)
        }
        other => return Err(ApiError::BadRequest(format!("value.kind must be single, double, step or setpoint, got `{other}`"))),
    };
    Ok((point, action, value))
}

/// Decodes a request body and parses it, as the API does: never panics on any bytes.
pub fn decode_request(body: &[u8]) -> Result<(PointId, CommandAction, CommandValue), ApiError> {
    let req: CommandRequest = serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("request body: {e}")))?;
    parse_request(&req)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dto::CommandValueDto;
    use proptest::prelude::*;

    fn req(kind: &str, value: serde_json::Value, action: &str) -> CommandRequest {
        let value = CommandValueDto { kind: kind.into(), value };
        CommandRequest { point: "F1/XCBR1.Pos".into(), action: action.into(), value, assertion: None }
    }

    #[test]
    fn request_values_parse_or_say_what_is_wrong() {
        let ok = |k, v| parse_request(&req(k, v, "select")).unwrap().2;
        assert_eq!(ok("double", serde_json::json!("closed")), CommandValue::Double(DoublePoint::On));
        assert_eq!(ok("double", serde_json::json!(false)), CommandValue::Double(DoublePoint::Off));
        assert_eq!(ok("single", serde_json::json!(true)), CommandValue::Single(true));
        assert_eq!(ok("step", serde_json::json!("lower")), CommandValue::Step { raise: false });
        assert_eq!(ok("setpoint", serde_json::json!(1.5)), CommandValue::SetpointFloat(1.5));
        let err = |r: CommandRequest| parse_request(&r).unwrap_err().to_string();
        assert!(err(req("double", serde_json::json!("ajar"), "select")).contains("\"open\" or \"closed\""));
        assert!(err(req("setpoint", serde_json::json!(1e300), "select")).contains("finite"));
        assert!(err(req("dial", serde_json::json!(1), "select")).contains("value.kind"));
        assert!(err(req("single", serde_json::json!(true), "jump")).contains("action"));
        let mut bad_point = req("single", serde_json::json!(true), "select");
        bad_point.point = String::new();
        assert!(err(bad_point).starts_with("point:"));
    }

    proptest! {
        #[test]
        fn any_body_is_parsed_or_refused_without_panic(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_request(&body);
        }

        #[test]
        fn json_shaped_bodies_are_parsed_or_refused_without_panic(kind in "[a-z]{0,9}", action in "[a-z]{0,8}", v in any::<f64>(), s in ".{0,12}", point in ".{0,40}") {
            for value in [serde_json::json!(v), serde_json::json!(s), serde_json::json!(v > 0.0), serde_json::Value::Null] {
                let body = serde_json::json!({"point": point, "action": action, "value": {"kind": kind, "value": value}}).to_string();
                let _ = decode_request(body.as_bytes());
            }
        }
    }
}
