//! IEC 104 ASDU decoder: never panics, and whatever decodes re-encodes to a canonical form of
//! the same length that decodes to the same header and re-encodes identically.
#![no_main]

use gridtrust_iec104::asdu::{ASDU_MAX_LEN, Asdu, AsduHeader, negative_reply};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match Asdu::decode(data) {
        Ok(asdu) => {
            let canonical = asdu.to_bytes().expect("a decoded ASDU encodes");
            assert_eq!(canonical.len(), data.len());
            let again = Asdu::decode(&canonical).expect("the canonical form decodes");
            assert_eq!(again.header(), asdu.header());
            assert_eq!(again.to_bytes().ok(), Some(canonical));
        }
        Err(e) => {
            let _ = e.to_string();
            if let Some(h) = e.header() {
                assert_eq!(Some(*h), AsduHeader::peek(data).ok());
            }
            if let (Some(cause), true) = (e.negative_cause(), data.len() <= ASDU_MAX_LEN) {
                let mut out = Vec::new();
                negative_reply(data, cause, &mut out).expect("negative reply to a decodable header");
                assert_eq!(out.len(), data.len());
            }
        }
    }
});
