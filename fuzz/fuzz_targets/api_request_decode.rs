//! The HTTP API's own decoders of request bytes: a command request body (JSON into the model's
//! command terms) and RFC 3339 times from query strings. Must return errors, never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = gridtrust_api::command::decode_request(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = gridtrust_api::timefmt::parse_rfc3339(s);
    }
});
