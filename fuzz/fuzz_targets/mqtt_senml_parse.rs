//! SenML (RFC 8428) packs: never panics; resolved readings have valid names, finite values and
//! a time.
#![no_main]

use gridtrust_mqtt::senml::parse_senml;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse_senml(data, Default::default()) {
        Ok(readings) => {
            for r in readings {
                assert!(!r.name.is_empty());
                assert!(r.value.is_finite());
                assert!(r.source_time.is_some());
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
