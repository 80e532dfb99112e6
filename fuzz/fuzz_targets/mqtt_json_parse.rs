//! MQTT JSON meter payloads: never panics; whatever parses yields only readings the layout
//! selected, with finite values.
#![no_main]

use gridtrust_mqtt::json::{JsonLayout, parse_json};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let layout = JsonLayout {
        values: vec!["/energy/import_wh".into(), "/power_w".into(), "/phases/1".into(), "/a~1b".into()],
        time: Some("/time".into()),
    };
    match parse_json(data, &layout) {
        Ok(readings) => {
            assert!(!readings.is_empty());
            for r in readings {
                assert!(layout.values.contains(&r.name));
                assert!(r.value.is_finite());
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
