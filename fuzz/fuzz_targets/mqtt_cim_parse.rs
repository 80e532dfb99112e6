//! CIM IEC 61968-9 MeterReadings XML: never panics or hangs; readings have finite values and a
//! unit from their ReadingType.
#![no_main]

use gridtrust_mqtt::cim::parse_meter_readings;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse_meter_readings(data) {
        Ok(readings) => {
            for r in readings {
                assert!(r.value.is_finite());
                assert!(r.unit.is_some());
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
